#!/usr/bin/python3
"""PyTorch side of bench/rec: one training epoch of the same next-item recommender as longtail's
(src/model/rec.c), on the batches bench/rec wrote (the same users, bucketed by length, in the same order).

  item vectors  V = Linear(Dt -> d)(text) + keep[:, None] * Embedding(N, d).weight
                keep: per item, 0 with probability 0.5 each step (id dropout; items never seen in
                training have no id part), no rescaling (as longtail)
  user tower    X = V[inputs] * sqrt(d); LSTM(d, H, batch_first) over pack_padded_sequence
                (enforce_sorted=False); dropout 0.2; Linear(H -> d) at every valid position
  loss          F.cross_entropy(u @ V.T, targets) over the whole catalog, mean over the valid positions
  step          backward, clip_grad_norm_(1.0), torch.optim.AdamW(lr 3e-3, weight decay 0) with 100 linear
                warm-up steps and a cosine decay over 30 epochs (longtail train's defaults)

Differences that do not change the cost: longtail's AdamW updates the id table row-wise (only rows with a
gradient: lazy), torch's AdamW is dense; initialisation and random draws differ.

The files in --dir: batches.i32 (int32: n_batches, then per batch B, T, lens[B], items[B * T]; a row's
inputs are items[0 .. len - 2], its targets items[1 .. len - 1]), text.f32 [N, Dt], seen.u8 [N].
Prints one JSON object: {"seconds": ..., "loss": ..., "threads": ..., "torch": ...}.

usage: rec_torch.py --dir DIR --items N [--text-dim 128] [--dim 64] [--hidden 128] [--epochs 1]
       [--threads 1] [--device cpu|cuda]
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_peer

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--items", type=int, required=True)
ap.add_argument("--text-dim", type=int, default=128)
ap.add_argument("--dim", type=int, default=64)
ap.add_argument("--hidden", type=int, default=128)
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--device", default="cpu")
ap.add_argument("--math", default="fp32", choices=("fp32", "bf16"),
                help="bf16: autocast the forward to bf16 (fp32 weights and optimizer), as longtail's bf16 math")
a = ap.parse_args()

torch.manual_seed(1)
if a.device == "cpu":
    torch.set_num_threads(a.threads)
dev = torch_peer.device(a.device)  # CUDA where torch sees none: {"skipped": why}, exit 0
if dev.type == "cuda":  # longtail's fp32 GEMMs are IEEE fp32: no TF32 on the PyTorch side either
    torch_peer.set_tf32(False)
N, Dt, d, H = a.items, a.text_dim, a.dim, a.hidden

raw = np.fromfile(f"{a.dir}/batches.i32", dtype=np.int32)
nb, at, batches = int(raw[0]), 1, []
for _ in range(nb):
    B, T = int(raw[at]), int(raw[at + 1])
    lens = torch.from_numpy(raw[at + 2 : at + 2 + B].astype(np.int64))
    items = torch.from_numpy(raw[at + 2 + B : at + 2 + B + B * T].astype(np.int64)).view(B, T)
    at += 2 + B + B * T
    Ti = T - 1
    pos = torch.arange(Ti).unsqueeze(0)
    valid = pos < (lens - 1).unsqueeze(1)
    tgt = items[:, 1:][valid]
    batches.append((items[:, :Ti].contiguous().to(dev), lens - 1, valid.to(dev), tgt.to(dev), Ti))
text = torch.from_numpy(np.fromfile(f"{a.dir}/text.f32", dtype=np.float32).reshape(N, Dt)).to(dev)
seen = torch.from_numpy(np.fromfile(f"{a.dir}/seen.u8", dtype=np.uint8).astype(np.bool_)).to(dev)


class Rec(nn.Module):
    def __init__(self):
        super().__init__()
        self.text = nn.Linear(Dt, d)
        self.id = nn.Embedding(N, d)
        nn.init.normal_(self.id.weight, std=0.01)
        self.lstm = nn.LSTM(d, H, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.proj = nn.Linear(H, d)

    def forward(self, inp, lens, valid, tgt, Ti):
        keep = (torch.rand(N, device=dev) >= 0.5) & seen  # id dropout, by row
        V = self.text(text) + keep.unsqueeze(1).to(text.dtype) * self.id.weight
        X = F.embedding(inp, V) * math.sqrt(d)
        packed = nn.utils.rnn.pack_padded_sequence(X, lens, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=Ti)
        u = self.proj(self.drop(y)[valid])  # the valid positions only
        return F.cross_entropy(u @ V.t(), tgt)


model = Rec().to(dev)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
total, warmup = 30 * nb, 100


def lr_at(step):  # step from 1, as longtail's lt_optim_lr: linear warm-up, then cosine to 0
    if step <= warmup:
        return step / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_at(k + 1))


def sync():
    torch_peer.sync(dev)


# warm-up (kernel selection, cuBLAS handles): one forward and backward, no optimizer step, the RNG
# restored, so the timed epochs train exactly as they would without it
rng = torch.get_rng_state(), (torch.cuda.get_rng_state_all() if dev.type == "cuda" else None)
inp, lens, valid, tgt, Ti = batches[0]
model(inp, lens, valid, tgt, Ti).backward()
opt.zero_grad(set_to_none=True)
torch.set_rng_state(rng[0])
if rng[1] is not None:
    torch.cuda.set_rng_state_all(rng[1])
sync()
t0 = time.perf_counter()
loss_sum = 0.0
for _ in range(a.epochs):
    for inp, lens, valid, tgt, Ti in batches:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.math == "bf16"):
            loss = model(inp, lens, valid, tgt, Ti)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_sum += loss.item()
sync()
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "loss": loss_sum / (a.epochs * nb), "threads": a.threads if dev.type == "cpu" else 0,
                  "device": a.device, "torch": torch.__version__, "math": "bf16 autocast" if a.math == "bf16" else "fp32 (no TF32)",
                  "includes": "the training epochs only: every batch already on the device (uploaded before timing), "
                              "after a warm-up forward+backward"}))
