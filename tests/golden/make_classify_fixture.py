#!/usr/bin/python3
"""Golden fixture for tests/test_classify.c: the long-tail classifier (include/longtail/classify.h) built from
torch modules, and sklearn's logistic regression for the baseline.

The network, as Keras writes it: Embedding(V, E) -> LSTM(H1, return_sequences=True) -> Dropout -> LSTM(H2)
(its last state) -> Dropout -> Dense(1, sigmoid), binary cross-entropy. Here: nn.Embedding, two one-layer
nn.LSTM over pack_padded_sequence (unsorted lengths; the second LSTM's h_n is the state after each item's
last real token), nn.Linear(H2, 1), BCEWithLogitsLoss with per-example weights (mean of w_i * loss_i);
dropout 0, since torch's masks cannot be drawn by the engine's RNG (the C test checks the dropout wiring
against finite differences instead). Small sizes, float64 math on the stored float32 values.

    /usr/bin/python3 tests/golden/make_classify_fixture.py      # python3-torch, python3-sklearn

tests/golden/classify/fixture.safetensors:
    embedding.weight [V, E], lstm1.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0}, lstm2.*,
    dense.weight [1, H2], dense.bias [1]       PyTorch's names, F32
    ids I32 [B, T], lens I32 [B], y F32 [B], w F32 [B]   the batch (padding ids are random: ignored)
    logits F32 [B], loss F32 [1]
    grad.<param name> F32                      d loss / d every parameter
    logreg.x F32 [n, d], logreg.y I32 [n], logreg.w F32 [n]   a small weighted problem
    logreg.coef F64->F32 [d] (on standardised features), logreg.intercept [1]   sklearn's solution, C = 0.5
"""
import os

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors_out import f32_i32, write_safetensors

torch.manual_seed(2024)
rng = np.random.default_rng(2024)

V, E, H1, H2, B, T = 23, 6, 5, 4, 5, 7
lens = np.array([7, 2, 5, 1, 4], dtype=np.int32)


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


emb = torch.nn.Embedding(V, E).double()
lstm1 = torch.nn.LSTM(E, H1, batch_first=True).double()
lstm2 = torch.nn.LSTM(H1, H2, batch_first=True).double()
dense = torch.nn.Linear(H2, 1).double()
mods = {"embedding.": emb, "lstm1.": lstm1, "lstm2.": lstm2, "dense.": dense}
with torch.no_grad():
    for m in mods.values():
        for p in m.parameters():
            p.copy_(torch.from_numpy(f32(p.numpy()).astype(np.float64)))

ids = rng.integers(0, V, size=(B, T)).astype(np.int32)
y = f32(rng.integers(0, 2, size=B))
w = f32(rng.uniform(0.5, 2.0, size=B))
L = torch.from_numpy(lens.astype(np.int64))

x = emb(torch.from_numpy(ids.astype(np.int64)))
y1, _ = lstm1(pack_padded_sequence(x, L, batch_first=True, enforce_sorted=False))
y1, _ = pad_packed_sequence(y1, batch_first=True, total_length=T)
_, (h_n, _) = lstm2(pack_padded_sequence(y1, L, batch_first=True, enforce_sorted=False))
z = dense(h_n[0])[:, 0]
loss_fn = torch.nn.BCEWithLogitsLoss(weight=torch.from_numpy(w.astype(np.float64)))
loss = loss_fn(z, torch.from_numpy(y.astype(np.float64)))
loss.backward()

tensors = {}
for prefix, m in mods.items():
    for n, p in m.named_parameters():
        tensors[prefix + n] = f32(p.detach().numpy())
        tensors["grad." + prefix + n] = f32(p.grad.numpy())
tensors.update({"ids": ids, "lens": lens, "y": y, "w": w, "logits": f32(z.detach().numpy()),
                "loss": f32([loss.item()])})

# the baseline: sklearn's LogisticRegression on standardised features (population std, as StandardScaler)
from sklearn.linear_model import LogisticRegression  # noqa: E402

n, d = 60, 4
lx = f32(rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.2, 1.0]) + np.array([0.0, 1.0, -2.0, 5.0]))
ly = (lx[:, 0] + 0.3 * lx[:, 1] + rng.standard_normal(n) > 0.5).astype(np.int32)
lw = f32(rng.uniform(0.5, 2.0, size=n))
xs = (lx.astype(np.float64) - lx.astype(np.float64).mean(0)) / lx.astype(np.float64).std(0)
lr = LogisticRegression(C=0.5, tol=1e-12, max_iter=10000).fit(xs, ly, sample_weight=lw.astype(np.float64))
tensors.update({"logreg.x": lx, "logreg.y": ly, "logreg.w": lw, "logreg.coef": f32(lr.coef_[0]),
                "logreg.intercept": f32(lr.intercept_)})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classify")
os.makedirs(out, exist_ok=True)
write_safetensors(os.path.join(out, "fixture.safetensors"), f32_i32(tensors))
print(f"wrote {out}/fixture.safetensors: {len(tensors)} tensors, loss {loss.item():.6f}")
