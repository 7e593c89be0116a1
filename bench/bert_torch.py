#!/usr/bin/python3
"""PyTorch side of bench/bert: the same BERT encoder forward, timed the way bench/bert times longtail.

Two PyTorch implementations are timed and the faster one is reported, so longtail is compared with
the best PyTorch offers on this machine:
  - "eager": BERT written in plain torch (post-LN, exact GELU), as Hugging Face's BertModel runs;
  - "fastpath": torch.nn.TransformerEncoder in eval/inference mode, which PyTorch >= 1.12 runs through
    its fused native encoder kernel (BetterTransformer).
Each gets PyTorch's fast path: fused attention (F.scaled_dot_product_attention, flash / memory-
efficient, where this torch has it) with no mask at all when no sequence is padded (as in the
benchmark), inference mode, warm-up calls before timing. The math is the same as longtail's:
--dtype bf16 runs bf16 weights and activations (as longtail's bf16 math), --math tf32 allows TF32
GEMMs and fp32 (the default) forbids them (torch.backends.cuda.matmul.allow_tf32).
What the time includes (printed as "includes"): one forward from host token ids to the pooled,
normalised embeddings left on the device; on CUDA the ids and lengths are copied to the GPU inside
the timed region, as lt_bert_forward uploads its host ids.
Prints one JSON object: {"impl": ..., "seq_per_s": ..., "ms_per_batch": ..., "threads": ..., "includes": ...}.

usage: bert_torch.py --layers L --hidden H --heads A --ffn F --seq T --batch B [--reps R] [--device cpu|cuda]
       [--dtype fp32|bf16] [--math fp32|tf32]
Run it with OPENBLAS_CORETYPE set to the machine's fast kernel (bench/bert does): Debian's torch uses
OpenBLAS for its GEMMs, which otherwise picks slow kernels on recent Xeons.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_peer


class Layer(nn.Module):
    def __init__(self, h, a, f):
        super().__init__()
        self.a, self.d = a, h // a
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
        self.f1, self.f2 = nn.Linear(h, f), nn.Linear(f, h)

    def forward(self, x, bias):
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.a, self.d).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0: fused (flash / memory-efficient) attention
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # bias None: the flash kernel
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.d)
            ctx = (s if bias is None else s + bias).softmax(-1) @ v
        ctx = ctx.transpose(1, 2).reshape(b, t, h)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.f2(F.gelu(self.f1(x))))


class Eager(nn.Module):
    def __init__(self, vocab, h, a, f, layers, maxpos):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, h), nn.Embedding(maxpos, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(Layer(h, a, f) for _ in range(layers))

    def forward(self, ids, lens):
        t = ids.shape[1]
        keep = torch.arange(t, device=ids.device)[None, :] < lens[:, None]
        bias = None  # nothing padded: no mask, so fused attention may take its fastest kernel
        if self.padded:
            bias = torch.zeros(keep.shape, dtype=self.ln.weight.dtype, device=ids.device).masked_fill(~keep, -1e4)[:, None, None, :]
        x = self.ln(self.tok(ids) + self.pos(torch.arange(t, device=ids.device))[None])
        for layer in self.layers:
            x = layer(x, bias)
        m = keep[..., None].to(x.dtype)
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)


class FastPath(nn.Module):
    def __init__(self, vocab, h, a, f, layers, maxpos):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, h), nn.Embedding(maxpos, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        layer = nn.TransformerEncoderLayer(h, a, f, dropout=0.0, activation="gelu", batch_first=True,
                                           layer_norm_eps=1e-12)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, ids, lens):
        t = ids.shape[1]
        pad = torch.arange(t, device=ids.device)[None, :] >= lens[:, None]
        x = self.ln(self.tok(ids) + self.pos(torch.arange(t, device=ids.device))[None])
        x = self.enc(x, src_key_padding_mask=pad if self.padded else None)
        m = (~pad)[..., None].to(x.dtype)
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)


SLOW = 5.0  # seconds: a forward this slow (a reference kernel: bf16 on a CPU without bf16 units) is timed less


def timed(model, ids, lens, reps, dev):
    """Best seconds per forward over reps, after three warm-ups; ids and lens are on the host and
    are copied to dev inside the timed region (a no-op on the CPU). When the first call takes more
    than SLOW seconds, that call is the measurement (its one-time set-up is small next to such a
    time, and it counts against PyTorch), so a slow path does not hold the benchmark up for minutes.
    Returns (seconds, slow)."""
    with torch.inference_mode():
        for i in range(3):
            t0 = time.perf_counter()
            model(ids.to(dev), lens.to(dev))
            torch_peer.sync(dev)
            if i == 0 and time.perf_counter() - t0 > SLOW:
                return time.perf_counter() - t0, True
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(ids.to(dev), lens.to(dev))
            torch_peer.sync(dev)
            times.append(time.perf_counter() - t0)
    return min(times), False


def main():
    p = argparse.ArgumentParser()
    for k in ("layers", "hidden", "heads", "ffn", "seq", "batch"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", default="0", help="intra-op threads; a comma list tries each (the best is reported)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--math", default="fp32", choices=("fp32", "tf32"), help="fp32 GEMMs: TF32 allowed or not")
    a = p.parse_args()
    torch.manual_seed(0)
    dev = torch_peer.device(a.device)  # CUDA where torch sees none: {"skipped": why}, exit 0
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    if dev.type == "cuda":  # the same math as longtail's: TF32 only when asked for
        torch_peer.set_tf32(a.math == "tf32")
    ids = torch.randint(1000, a.vocab, (a.batch, a.seq))  # on the host, as longtail gets them
    lens = torch.full((a.batch,), a.seq)
    padded = bool((lens < a.seq).any())
    best, failed = None, []
    # the most threads first: a slow path (see timed) skips the smaller counts, which are slower still there;
    # on the GPU the host's thread count does not matter: one setting
    counts = sorted((int(t) for t in a.threads.split(",")), reverse=True) if dev.type == "cpu" else [0]
    for name, cls in (("eager", Eager), ("fastpath", FastPath)):
        try:  # one implementation failing here (e.g. no fused encoder for this dtype) leaves the other's time
            model = cls(a.vocab, a.hidden, a.heads, a.ffn, a.layers, max(512, a.seq)).to(dev, dt).eval()
            model.padded = padded
            for threads in counts:
                if threads:
                    torch.set_num_threads(threads)
                t, slow = timed(model, ids, lens, a.reps, dev)
                if best is None or t < best[1]:
                    best = (name, t, torch.get_num_threads())
                if slow:
                    break
        except (RuntimeError, NotImplementedError, AssertionError) as e:
            failed.append("%s: %s: %s" % (name, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
        model = None
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    if best is None:
        print(json.dumps({"failed": "; ".join(failed), "torch": torch.__version__}))
        sys.exit(1)
    print(json.dumps({"impl": best[0], "ms_per_batch": best[1] * 1e3, "seq_per_s": a.batch / best[1],
                      "threads": best[2], "torch": torch.__version__, "attention": torch_peer.sdpa_info(dev),
                      "failed": "; ".join(failed),
                      "math": a.dtype if a.dtype == "bf16" else a.math,
                      "includes": "forward from host ids%s to pooled embeddings left on %s; best of %d after 3 warm-ups "
                      "(a first call over %g s is the measurement, alone)"
                      % (" (copied to the GPU in the timed region)" if dev.type == "cuda" else "", dev.type, a.reps,
                         SLOW)}))


if __name__ == "__main__":
    main()
