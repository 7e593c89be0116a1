#!/usr/bin/python3
"""PyTorch side of bench/lstm: one training step (forward + backward) of torch.nn.LSTM, timed the way
bench/lstm times longtail: the same shapes, full-length sequences, the gradient of every weight and of
the input (a model's embeddings need dx), for a fixed upstream gradient of y.

Every thread count in --threads is tried (torch.set_num_threads) and the fastest is reported.
Prints one JSON object: {"ms_per_step": ..., "threads": ..., "torch": ...}.

usage: lstm_torch.py --input I --hidden H --seq T --batch B [--layers L] [--cell lstm|gru] [--reps R]
       [--threads 1,2] [--device cpu|cuda] [--varlen]
"""
import argparse
import json
import time

import torch

import torch_peer

ap = argparse.ArgumentParser()
ap.add_argument("--input", type=int, default=128)
ap.add_argument("--hidden", type=int, default=256)
ap.add_argument("--seq", type=int, default=50)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--layers", type=int, default=1)
ap.add_argument("--cell", default="lstm")
ap.add_argument("--reps", type=int, default=10)
ap.add_argument("--threads", default="1,2")
ap.add_argument("--device", default="cpu")
ap.add_argument("--varlen", action="store_true", help="lens[b] = 1 + (37 b) mod T, through pack_padded_sequence")
a = ap.parse_args()

torch.manual_seed(0)
dev = torch_peer.device(a.device)  # CUDA where torch sees none: {"skipped": why}, exit 0
if dev.type == "cuda":  # longtail's recurrent layers run fp32: no TF32 in cuDNN or cuBLAS here either
    torch_peer.set_tf32(False)
mod = (torch.nn.LSTM if a.cell == "lstm" else torch.nn.GRU)(a.input, a.hidden, a.layers, batch_first=True).to(dev)
x = torch.randn(a.batch, a.seq, a.input, device=dev, requires_grad=True)
dy = torch.randn(a.batch, a.seq, a.hidden, device=dev)


lens = torch.tensor([1 + (37 * b) % a.seq for b in range(a.batch)]) if a.varlen else None


def step():
    mod.zero_grad(set_to_none=False)
    x.grad = None
    if lens is None:
        y, _ = mod(x)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        y, _ = mod(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=a.seq)
    y.backward(dy)
    torch_peer.sync(dev)


best = (1e30, 0)
for th in ([int(t) for t in a.threads.split(",")] if dev.type == "cpu" else [torch.get_num_threads()]):
    torch.set_num_threads(th)
    step()  # warm-up
    for _ in range(a.reps):
        t = time.perf_counter()
        step()
        t = time.perf_counter() - t
        if t < best[0]:
            best = (t, th)
print(json.dumps({"ms_per_step": best[0] * 1e3, "threads": best[1], "torch": torch.__version__, "math": "fp32 (no TF32)",
                  "includes": "forward + backward of one batch, data already on %s; best of %d after a warm-up"
                              % (dev.type, a.reps)}))
