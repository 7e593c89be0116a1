#!/usr/bin/python3
"""The reference runs of bench/rank, on exactly the data it wrote.

    rank_ref.py --dir DIR --B B --N N --D D --users U --K K --reps R --threads 1,2 --which xent,faiss [--device cuda]

DIR holds v.f32 (N x D), u.f32 (B x D) and t.i32 (B) for the cross-entropy, q.f32 (U x D),
excl_off.i64 (U + 1) and excl_ids.i32 for top-K. Prints one JSON object.

xent: PyTorch's materialised full softmax, logits = u @ v.T; F.cross_entropy(logits, t,
reduction="sum") and backward to u and v (dloss = 1 per row, as bench/rank gives longtail), at
each thread count in --threads; best time of R runs after a warm-up. Peak extra memory: the
resident-set high-water mark (ru_maxrss) before and after the first run, beside the logits and
their gradient that it must materialise (B * N * 4 * 2 bytes); on CUDA torch.cuda's peak.
faiss: IndexFlatIP over v, search(q, K + the longest exclusion list), then per user the first K
ids that are not excluded (faiss cannot exclude); timed search and filter separately. Its BLAS is
OpenBLAS; bench/rank runs this script with OPENBLAS_CORETYPE set to this CPU's best kernel family.
The filtered ids go to DIR/faiss_idx.i32 for bench/rank to compare.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np


def load(path, dtype, count):
    a = np.fromfile(path, dtype=dtype)
    if a.size != count:
        sys.exit("%s: %d values, expected %d" % (path, a.size, count))
    return a


def run_xent(a, out):
    import torch
    import torch.nn.functional as F

    import torch_peer

    dev = a.device
    if dev == "cuda":  # longtail scores in fp32: no TF32 on the PyTorch side either
        if not torch.cuda.is_available():
            raise RuntimeError("torch %s sees no CUDA device" % torch.__version__)
        torch_peer.set_tf32(False)
    u0 = torch.from_numpy(load(a.dir + "/u.f32", "<f4", a.B * a.D).reshape(a.B, a.D).copy())
    v0 = torch.from_numpy(load(a.dir + "/v.f32", "<f4", a.N * a.D).reshape(a.N, a.D).copy())
    t = torch.from_numpy(load(a.dir + "/t.i32", "<i4", a.B).astype(np.int64))
    u = u0.to(dev).requires_grad_()
    v = v0.to(dev).requires_grad_()
    t = t.to(dev)

    def step():
        u.grad = None
        v.grad = None
        logits = u @ v.T
        loss = F.cross_entropy(logits, t, reduction="sum")
        loss.backward()
        if dev == "cuda":
            torch.cuda.synchronize()
        return loss

    best = None
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if dev == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    loss = step()
    if dev == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    threads = [int(x) for x in a.threads.split(",")] if dev == "cpu" else [0]
    per = {}
    for th in threads:
        if th:
            torch.set_num_threads(th)
        step()  # warm-up at this setting
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t0)
        per[th] = min(ts)
        if best is None or per[th] < best[0]:
            best = (per[th], th)
    out["torch_xent"] = {
        "seconds": best[0], "threads": best[1], "loss_sum": float(loss.item()), "peak_extra_bytes": int(peak),
        "materialised_bytes": a.B * a.N * 4 * 2,
        "note": "torch %s, %s; per thread count: %s" % (torch.__version__, dev,
                                                      ", ".join("%d: %.4f s" % (k, s) for k, s in per.items())),
    }


def run_faiss(a, out):
    import faiss

    v = load(a.dir + "/v.f32", "<f4", a.N * a.D).reshape(a.N, a.D)
    q = load(a.dir + "/q.f32", "<f4", a.users * a.D).reshape(a.users, a.D)
    off = load(a.dir + "/excl_off.i64", "<i8", a.users + 1)
    ex = load(a.dir + "/excl_ids.i32", "<i4", int(off[-1]))
    longest = int(np.max(off[1:] - off[:-1]))
    index = faiss.IndexFlatIP(a.D)
    index.add(v)
    kk = a.K + longest
    excl = [ex[off[b]:off[b + 1]] for b in range(a.users)]

    def search():
        t0 = time.perf_counter()
        _, I = index.search(q, kk)
        t1 = time.perf_counter()
        res = np.full((a.users, a.K), -1, dtype=np.int32)
        for b in range(a.users):
            ids = I[b]
            keep = ids[~np.isin(ids, excl[b])][: a.K]
            res[b, : keep.size] = keep
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, res

    best = None
    per = {}
    for th in [int(x) for x in a.threads.split(",")]:
        faiss.omp_set_num_threads(th)
        search()  # warm-up
        for _ in range(a.reps):
            s, f, res = search()
            if best is None or s + f < best[0] + best[1]:
                best = (s, f, th, res)
            per[th] = min(per.get(th, 1e9), s + f)
    best[3].tofile(a.dir + "/faiss_idx.i32")
    out["faiss_topk"] = {
        "seconds": best[0] + best[1], "search_seconds": best[0], "filter_seconds": best[1], "threads": best[2],
        "k_searched": kk,
        "note": "faiss %s IndexFlatIP, k = %d then filtered; per thread count: %s" % (
            faiss.__version__, kk, ", ".join("%d: %.4f s" % (k, s) for k, s in per.items())),
    }


def main():
    p = argparse.ArgumentParser()
    for k in ("B", "N", "D", "users", "K", "reps"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--which", default="xent,faiss")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    out = {}
    for w in a.which.split(","):
        try:
            {"xent": run_xent, "faiss": run_faiss}[w](a, out)
        except Exception as e:  # report, do not crash the C side's parse
            out[{"xent": "torch_xent", "faiss": "faiss_topk"}[w]] = {"skipped": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
