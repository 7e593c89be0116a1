#!/usr/bin/python3
"""Golden fixture for tests/test_rnn.c: torch.nn.LSTM and torch.nn.GRU (2 layers, batch_first) over a padded
batch with unsorted variable lengths through pack_padded_sequence (enforce_sorted=False), as the recurrent
module (include/longtail/rnn.h) computes it with dropout 0. The LSTM case adds the module's output
projection, a torch.nn.Linear(H, P) applied to the padded output.

The reference runs in float64 on the float32 values that are stored, so the fixture holds the exact math
and the C test's error is its own.

    /usr/bin/python3 tests/golden/make_rnn_fixture.py      # Debian's python3-torch; writes tests/golden/rnn/

tests/golden/rnn/fixture.safetensors, for each case c in (lstm, gru):
    <c>.weight_ih_l0, <c>.weight_hh_l0, <c>.bias_ih_l0, <c>.bias_hh_l0, ... _l1   PyTorch's names, F32
    lstm.proj.weight [P, H], lstm.proj.bias [P]      the projection (LSTM case only)
    <c>.x F32 [B, T, I], <c>.lens I32 [B]            the batch (padding holds random values: it must be ignored)
    <c>.dout, <c>.dh_n, (lstm) <c>.dc_n              the weights w of L = <dout, out> + <dh_n, h_n> + <dc_n, c_n>
    <c>.out F32 [B, T, P or H], <c>.h_n, <c>.c_n F32 [layers, B, H]
    grad.<param name> F32, <c>.grad.x F32 [B, T, I]  dL/d of every parameter and of the input
"""
import os

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors_out import f32_i32, write_safetensors

torch.manual_seed(4321)
rng = np.random.default_rng(4321)

B, T, I, H, L, P = 5, 7, 6, 8, 2, 5
lens = np.array([7, 3, 5, 1, 6], dtype=np.int32)  # unsorted; one full length, one of a single step


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def case(name, cls, proj):
    mod = cls(I, H, num_layers=L, batch_first=True).double()
    lin = torch.nn.Linear(H, P).double() if proj else None
    # the stored float32 values are what both sides use
    with torch.no_grad():
        for p in list(mod.parameters()) + (list(lin.parameters()) if lin else []):
            p.copy_(torch.from_numpy(f32(p.numpy()).astype(np.float64)))
    x = f32(rng.standard_normal((B, T, I)))
    for b in range(B):  # padding holds values the module must ignore
        x[b, lens[b]:] = rng.standard_normal((T - lens[b], I)) * 10
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    packed = pack_padded_sequence(xt, torch.from_numpy(lens.astype(np.int64)), batch_first=True, enforce_sorted=False)
    y, state = mod(packed)
    y, _ = pad_packed_sequence(y, batch_first=True, total_length=T)
    out = lin(y) if lin else y
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    dout = f32(rng.uniform(-1, 1, out.shape))
    dh = f32(rng.uniform(-1, 1, h_n.shape))
    loss = (out * torch.from_numpy(dout.astype(np.float64))).sum() + (h_n * torch.from_numpy(dh.astype(np.float64))).sum()
    tensors = {}
    if c_n is not None:
        dc = f32(rng.uniform(-1, 1, c_n.shape))
        loss = loss + (c_n * torch.from_numpy(dc.astype(np.float64))).sum()
        tensors[f"{name}.dc_n"] = dc
        tensors[f"{name}.c_n"] = f32(c_n.detach().numpy())
    loss.backward()
    named = [(f"{name}.{n}", p) for n, p in mod.named_parameters()]
    if lin:
        named += [(f"{name}.proj.{n}", p) for n, p in lin.named_parameters()]
    for n, p in named:
        tensors[n] = f32(p.detach().numpy())
        tensors["grad." + n] = f32(p.grad.numpy())
    tensors[f"{name}.x"] = x
    tensors[f"{name}.lens"] = lens
    tensors[f"{name}.dout"] = dout
    tensors[f"{name}.dh_n"] = dh
    tensors[f"{name}.out"] = f32(out.detach().numpy())
    tensors[f"{name}.h_n"] = f32(h_n.detach().numpy())
    tensors[f"{name}.grad.x"] = f32(xt.grad.numpy())
    return tensors


tensors = case("lstm", torch.nn.LSTM, proj=True)
tensors.update(case("gru", torch.nn.GRU, proj=False))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn")
os.makedirs(out, exist_ok=True)
write_safetensors(os.path.join(out, "fixture.safetensors"), f32_i32(tensors))
print(f"wrote {out}/fixture.safetensors: {len(tensors)} tensors, {os.path.getsize(os.path.join(out, 'fixture.safetensors'))} bytes")
