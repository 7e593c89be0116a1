#!/usr/bin/python3
"""Golden fixture for tests/test_sasrec.c: the causal self-attention user tower (include/longtail/sasrec.h)
written in plain torch (2 pre-LN blocks, 2 heads, GELU FFN, dropout 0) over a right-padded batch:

    h = x + pos[:T]
    per block:  h = h + out_proj(attn(ln1(h)))    causal: query t sees keys j <= t and j < lens[b]
                h = h + ffn2(gelu(ffn0(ln2(h))))
    out = ln_f(h), rows t >= lens[b] set to 0

The reference runs in float64 on the float32 values that are stored, so the fixture holds the exact math
and the C test's error is its own.

    /usr/bin/python3 tests/golden/make_sasrec_fixture.py      # Debian's python3-torch; writes tests/golden/sasrec/

tests/golden/sasrec/fixture.safetensors:
    tower.<param name>                 every weight, under the names the C module registers with prefix "tower."
    x F32 [B, T, d], lens I32 [B]      the batch (padding holds random values: it must be ignored)
    dout F32 [B, T, d]                 the weights of L = <dout, out>
    out F32 [B, T, d]
    grad.tower.<param name>, grad.x    dL/d of every parameter and of the input
"""
import os

import numpy as np
import torch
from safetensors_out import f32_i32, write_safetensors

torch.manual_seed(2718)
rng = np.random.default_rng(2718)

B, T, d, H, L, F, MAXLEN = 4, 9, 16, 2, 2, 24, 12
EPS = 1e-5
lens = np.array([9, 4, 1, 0], dtype=np.int32)  # full, partial, one item, empty


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def params():
    """name -> float32 array, as the C module names them (prefix "tower.")"""
    p = {"pos.weight": rng.normal(0, 0.3, (MAXLEN, d))}
    for l in range(L):
        pre = f"layers.{l}."
        p[pre + "ln1.weight"] = 1 + rng.normal(0, 0.2, d)
        p[pre + "ln1.bias"] = rng.normal(0, 0.2, d)
        p[pre + "attn.in_proj_weight"] = rng.uniform(-1, 1, (3 * d, d)) / np.sqrt(d)
        p[pre + "attn.in_proj_bias"] = rng.normal(0, 0.1, 3 * d)
        p[pre + "attn.out_proj.weight"] = rng.uniform(-1, 1, (d, d)) / np.sqrt(d)
        p[pre + "attn.out_proj.bias"] = rng.normal(0, 0.1, d)
        p[pre + "ln2.weight"] = 1 + rng.normal(0, 0.2, d)
        p[pre + "ln2.bias"] = rng.normal(0, 0.2, d)
        p[pre + "ffn.0.weight"] = rng.uniform(-1, 1, (F, d)) / np.sqrt(d)
        p[pre + "ffn.0.bias"] = rng.normal(0, 0.1, F)
        p[pre + "ffn.2.weight"] = rng.uniform(-1, 1, (d, F)) / np.sqrt(F)
        p[pre + "ffn.2.bias"] = rng.normal(0, 0.1, d)
    p["ln_f.weight"] = 1 + rng.normal(0, 0.2, d)
    p["ln_f.bias"] = rng.normal(0, 0.2, d)
    return {k: f32(v) for k, v in p.items()}


def layernorm(x, w, b):
    return torch.nn.functional.layer_norm(x, (d,), w, b, EPS)


def tower(p, x, lens_t):
    Dh = d // H
    h = x + p["pos.weight"][:T]
    t = torch.arange(T)
    # allowed[b, t, j]: j <= t and j < lens[b]
    allowed = (t[None, None, :] <= t[None, :, None]) & (t[None, None, :] < lens_t[:, None, None])
    for l in range(L):
        pre = f"layers.{l}."
        a = layernorm(h, p[pre + "ln1.weight"], p[pre + "ln1.bias"])
        qkv = a @ p[pre + "attn.in_proj_weight"].T + p[pre + "attn.in_proj_bias"]
        q, k, v = qkv.view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)  # [B, H, T, Dh] each
        s = q @ k.transpose(-1, -2) / np.sqrt(Dh)
        s = s.masked_fill(~allowed[:, None], -1e30)  # rows with no key (lens 0) are padding: zeroed below
        att = (torch.softmax(s, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        h = h + att @ p[pre + "attn.out_proj.weight"].T + p[pre + "attn.out_proj.bias"]
        a = layernorm(h, p[pre + "ln2.weight"], p[pre + "ln2.bias"])
        g = torch.nn.functional.gelu(a @ p[pre + "ffn.0.weight"].T + p[pre + "ffn.0.bias"])
        h = h + g @ p[pre + "ffn.2.weight"].T + p[pre + "ffn.2.bias"]
    out = layernorm(h, p["ln_f.weight"], p["ln_f.bias"])
    real = (t[None, :] < lens_t[:, None]).to(out.dtype)[:, :, None]
    return out * real


def main():
    p32 = params()
    p = {k: torch.from_numpy(v.astype(np.float64)).requires_grad_(True) for k, v in p32.items()}
    x = f32(rng.standard_normal((B, T, d)))
    for b in range(B):  # padding holds values the module must ignore
        x[b, lens[b]:] = rng.standard_normal((T - lens[b], d)) * 10
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    out = tower(p, xt, torch.from_numpy(lens.astype(np.int64)))
    dout = f32(rng.uniform(-1, 1, out.shape))
    (out * torch.from_numpy(dout.astype(np.float64))).sum().backward()
    tensors = {}
    for k, v in p32.items():
        tensors["tower." + k] = v
        tensors["grad.tower." + k] = f32(p[k].grad.numpy())
    tensors["x"] = x
    tensors["lens"] = lens
    tensors["dout"] = dout
    tensors["out"] = f32(out.detach().numpy())
    tensors["grad.x"] = f32(xt.grad.numpy())
    tensors["config"] = np.array([B, T, d, H, L, F, MAXLEN], dtype=np.int32)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sasrec")
    os.makedirs(path, exist_ok=True)
    write_safetensors(os.path.join(path, "fixture.safetensors"), f32_i32(tensors))
    print(f"wrote {path}/fixture.safetensors: {len(tensors)} tensors, "
          f"{os.path.getsize(os.path.join(path, 'fixture.safetensors'))} bytes")


if __name__ == "__main__":
    main()
