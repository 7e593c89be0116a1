#!/usr/bin/python3
"""Golden fixture for tests/test_bert.c: a tiny BERT in plain torch, with Hugging Face's parameter names
and exactly BERT's math (BertModel + BertForMaskedLM's head): post-LN, exact erf GELU, LayerNorm eps 1e-12,
padded keys masked out of every softmax, mean pooling over the real tokens + L2 normalisation, and the
masked-LM loss (decoder tied to the word embeddings, mean over the masked rows, -100 ignored).

The reference runs in float64 on the float32 weights that are stored, so the fixture holds the exact math
and the C test's error is its own.

    /usr/bin/python3 tests/golden/make_bert_fixture.py      # Debian's python3-torch; writes tests/golden/bert/

tests/golden/bert/
  config.json            a BertForMaskedLM config
  model.safetensors      the weights as transformers would save BertForMaskedLM ("bert." prefix), with three
                         twists the loader must handle: position embeddings stored as F16, token-type
                         embeddings as BF16, the embedding LayerNorm under the old gamma/beta names; plus a
                         pooler it must ignore
  fixture.safetensors    (safetensors is the fixture format too: tests read it with the engine's reader)
      ids I32 [B, T], lens I32 [B]          the batch (padding holds id 0)
      mlm_pos I64 [M], mlm_target I32 [M]    masked rows as lt_mlm_mask writes them (b * T + t); -100 = ignored
      dpooled F32 [B, H]                     the weights w of the loss term <w, pooled>
      pooled F32 [B, H], hidden F32 [B, T, H], mlm_loss F32 [1]
      grad.<name> F32                        d/d<name> of  L = <w, pooled> + mlm_loss  for every parameter
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors_out import write_safetensors

torch.manual_seed(1234)
rng = np.random.default_rng(1234)

V, H, L, NH, FF, P, TV = 150, 64, 2, 4, 128, 24, 2
EPS = 1e-12
B, T = 4, 12
lens = np.array([12, 3, 8, 1], dtype=np.int32)  # one full, one short, one of a single token
D = H // NH

# ---- weights (stored as float32; F16/BF16 for the twisted tensors) -------------------------------------

def bf16_round(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)

params = {}  # HF BertModel / BertForMaskedLM names -> float32 numpy arrays (the values the model sees)
def mat(name, *shape, std=0.1):
    params[name] = (rng.standard_normal(shape) * std).astype(np.float32)
def ln(prefix):
    params[prefix + ".weight"] = (1 + 0.2 * rng.standard_normal(H)).astype(np.float32)
    params[prefix + ".bias"] = (0.1 * rng.standard_normal(H)).astype(np.float32)

mat("embeddings.word_embeddings.weight", V, H, std=0.2)
mat("embeddings.position_embeddings.weight", P, H, std=0.5)
mat("embeddings.token_type_embeddings.weight", TV, H, std=0.5)
ln("embeddings.LayerNorm")
for l in range(L):
    pre = f"encoder.layer.{l}."
    for name, o, i in [("attention.self.query", H, H), ("attention.self.key", H, H), ("attention.self.value", H, H),
                       ("attention.output.dense", H, H), ("intermediate.dense", FF, H), ("output.dense", H, FF)]:
        mat(pre + name + ".weight", o, i, std=1.0 / math.sqrt(i))
        params[pre + name + ".bias"] = (0.1 * rng.standard_normal(o)).astype(np.float32)
    ln(pre + "attention.output.LayerNorm")
    ln(pre + "output.LayerNorm")
mat("cls.predictions.transform.dense.weight", H, H, std=1.0 / math.sqrt(H))
params["cls.predictions.transform.dense.bias"] = (0.1 * rng.standard_normal(H)).astype(np.float32)
ln("cls.predictions.transform.LayerNorm")
params["cls.predictions.bias"] = (0.1 * rng.standard_normal(V)).astype(np.float32)

# the twisted storage: the model sees the rounded values
params["embeddings.position_embeddings.weight"] = params["embeddings.position_embeddings.weight"].astype(np.float16).astype(np.float32)
tt_bits = bf16_round(params["embeddings.token_type_embeddings.weight"])
params["embeddings.token_type_embeddings.weight"] = (tt_bits.astype(np.uint32) << 16).view(np.float32)

def stored_name(name):
    if name.startswith("cls."):
        return name
    name = "bert." + name
    return name.replace("embeddings.LayerNorm.weight", "embeddings.LayerNorm.gamma").replace(
        "embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta")

# ---- the batch ------------------------------------------------------------------------------------------

ids = np.zeros((B, T), dtype=np.int32)
for b in range(B):
    ids[b, : lens[b]] = rng.integers(5, V, lens[b])
mlm_pos = np.array([0 * T + 1, 0 * T + 5, 0 * T + 11, 1 * T + 2, 2 * T + 0, 2 * T + 7, 3 * T + 0, 2 * T + 3], dtype=np.int64)
mlm_target = rng.integers(5, V, len(mlm_pos)).astype(np.int32)
mlm_target[5] = -100  # an ignored row
dpooled = rng.standard_normal((B, H)).astype(np.float32)

# ---- the model, float64 -------------------------------------------------------------------------------------

w = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}

def linear(x, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]

def layer_norm(x, name):
    return F.layer_norm(x, (H,), w[name + ".weight"], w[name + ".bias"], EPS)

tids = torch.tensor(ids, dtype=torch.long)
tlens = torch.tensor(lens, dtype=torch.long)
keymask = torch.arange(T)[None, :] < tlens[:, None]  # [B, T]: real keys

x = w["embeddings.word_embeddings.weight"][tids] + w["embeddings.position_embeddings.weight"][:T][None] \
    + w["embeddings.token_type_embeddings.weight"][0]
x = layer_norm(x, "embeddings.LayerNorm")
for l in range(L):
    pre = f"encoder.layer.{l}."
    def heads(t):
        return t.view(B, T, NH, D).transpose(1, 2)  # [B, NH, T, D]
    q, k, v = (heads(linear(x, pre + "attention.self." + n)) for n in ("query", "key", "value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    scores = scores.masked_fill(~keymask[:, None, None, :], float("-inf"))
    ctx = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, H)
    x1 = layer_norm(linear(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
    inter = F.gelu(linear(x1, pre + "intermediate.dense"))  # exact erf GELU
    x = layer_norm(linear(inter, pre + "output.dense") + x1, pre + "output.LayerNorm")
hidden = x
m = keymask[:, :, None].to(torch.float64)
pooled = F.normalize((hidden * m).sum(1) / tlens[:, None].to(torch.float64), dim=-1, eps=1e-12)

h = hidden.reshape(B * T, H)[torch.tensor(mlm_pos)]
t = layer_norm(F.gelu(linear(h, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
logits = t @ w["embeddings.word_embeddings.weight"].T + w["cls.predictions.bias"]
mlm_loss = F.cross_entropy(logits, torch.tensor(mlm_target, dtype=torch.long), ignore_index=-100)

loss = (pooled * torch.tensor(dpooled, dtype=torch.float64)).sum() + mlm_loss
loss.backward()

# ---- files ------------------------------------------------------------------------------------------------------


out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert")
os.makedirs(out, exist_ok=True)
config = {
    "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": V, "hidden_size": H,
    "num_hidden_layers": L, "num_attention_heads": NH, "intermediate_size": FF, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": P,
    "type_vocab_size": TV, "initializer_range": 0.02, "layer_norm_eps": EPS, "pad_token_id": 0,
    "position_embedding_type": "absolute",
}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")

model = []
for name, a in params.items():
    if name == "embeddings.position_embeddings.weight":
        model.append((stored_name(name), "F16", a.astype("<f2")))
    elif name == "embeddings.token_type_embeddings.weight":
        model.append((stored_name(name), "BF16", tt_bits.astype("<u2")))
    else:
        model.append((stored_name(name), "F32", a.astype("<f4")))
model.append(("bert.pooler.dense.weight", "F32", (0.1 * rng.standard_normal((H, H))).astype("<f4")))
model.append(("bert.pooler.dense.bias", "F32", np.zeros(H, dtype="<f4")))
write_safetensors(os.path.join(out, "model.safetensors"), model)

f32 = lambda tt: tt.detach().numpy().astype("<f4")
fixture = [
    ("ids", "I32", ids.astype("<i4")), ("lens", "I32", lens.astype("<i4")),
    ("mlm_pos", "I64", mlm_pos.astype("<i8")), ("mlm_target", "I32", mlm_target.astype("<i4")),
    ("dpooled", "F32", dpooled.astype("<f4")),
    ("pooled", "F32", f32(pooled)), ("hidden", "F32", f32(hidden)),
    ("mlm_loss", "F32", np.array([mlm_loss.item()], dtype="<f4")),
]
fixture += [("grad." + name, "F32", f32(w[name].grad)) for name in params]
write_safetensors(os.path.join(out, "fixture.safetensors"), fixture)
print(f"wrote {out}: {len(params)} parameters, loss {loss.item():.6f} (mlm {mlm_loss.item():.6f})")
