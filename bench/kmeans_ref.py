#!/usr/bin/python3
"""The reference k-means runs of bench/kmeans, on exactly the data and initial centroids it wrote.

    kmeans_ref.py --dir DIR --n N --d D --k K --iters I --which faiss,sklearn,torch

DIR holds x.f32 (N x D float32) and init.f32 (K x D float32). For each library named in --which,
runs K-means from those initial centroids for exactly I Lloyd iterations, times the training call
only (data already in memory; for torch, already on the GPU), and writes the final centroids to
DIR/<name>.f32. Prints one JSON object: {name: {"seconds", "iters", "objective", "note"}} where
objective is the library's own last reported value (bench/kmeans re-evaluates every result
itself, with one evaluator, for the comparison).

faiss: faiss.Clustering with the given centroids, niter = I, no subsampling. Its BLAS is
OpenBLAS; bench/kmeans runs this script with OPENBLAS_CORETYPE set to the best kernel family the
CPU supports (Debian's OpenBLAS otherwise falls back to slow SSE3 kernels on recent Xeons), so
faiss gets the same GEMM speed as longtail.
sklearn: KMeans(init=centroids, n_init=1, max_iter=I, tol=0, algorithm="lloyd").
torch: a chunked Lloyd on the GPU (||c||^2 - 2 x c^T by addmm, argmin, index_add_), in fp32 and
with TF32 tensor cores, when torch sees a CUDA device.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def load(path, rows, cols):
    a = np.fromfile(path, dtype="<f4")
    if a.size != rows * cols:
        sys.exit("%s: %d floats, expected %d x %d" % (path, a.size, rows, cols))
    return a.reshape(rows, cols)


def run_faiss(x, init, iters):
    import faiss

    n, d = x.shape
    k = init.shape[0]
    cl = faiss.Clustering(d, k)
    cl.niter = iters
    cl.max_points_per_centroid = 1 << 30  # no subsampling: every run sees all rows
    cl.min_points_per_centroid = 1
    cl.nredo = 1
    cl.verbose = False
    faiss.copy_array_to_vector(init.ravel(), cl.centroids)
    index = faiss.IndexFlatL2(d)
    t = time.perf_counter()
    cl.train(x, index)
    t = time.perf_counter() - t
    stats = cl.iteration_stats
    obj = stats.at(stats.size() - 1).obj
    cent = faiss.vector_to_array(cl.centroids).reshape(k, d)
    note = "faiss %s, %d OpenMP threads, OPENBLAS_CORETYPE=%s" % (
        faiss.__version__, faiss.omp_get_max_threads(), os.environ.get("OPENBLAS_CORETYPE", "(unset)"))
    return t, stats.size(), obj, cent, note


def run_sklearn(x, init, iters):
    import sklearn
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=init.shape[0], init=init, n_init=1, max_iter=iters, tol=0, algorithm="lloyd",
                random_state=0)
    t = time.perf_counter()
    km.fit(x)
    t = time.perf_counter() - t
    return t, int(km.n_iter_), float(km.inertia_), km.cluster_centers_.astype(np.float32), "scikit-learn %s" % sklearn.__version__


def run_torch(x, init, iters, tf32):
    import torch

    import torch_peer

    if not torch.cuda.is_available():
        return None
    prec = torch_peer.set_tf32(tf32)  # torch 2.9's fp32_precision, or the allow_tf32 flags before it
    dev = torch.device("cuda")
    X = torch.from_numpy(x).to(dev)
    C = torch.from_numpy(init).to(dev).clone()
    n, d = X.shape
    k = C.shape[0]
    chunk = max(1, (1 << 28) // k)  # 1 GiB of scores per chunk: the n x k matrix would not fit
    assign = torch.empty(n, dtype=torch.int64, device=dev)
    # warm-up (cuBLAS handle and kernel choice, the caching allocator) on the first chunk, untimed
    s = torch.addmm((C * C).sum(1).unsqueeze(0), X[:chunk], C.t(), beta=1, alpha=-2)
    s.min(1)
    torch.zeros_like(C).index_add_(0, assign[:chunk].zero_(), X[:chunk])
    del s
    torch_peer.sync(dev)
    t = time.perf_counter()
    obj = 0.0
    for _ in range(iters):
        cn = (C * C).sum(1)
        objt = torch.zeros((), dtype=torch.float64, device=dev)
        for b in range(0, n, chunk):
            xb = X[b:b + chunk]
            s = torch.addmm(cn.unsqueeze(0), xb, C.t(), beta=1, alpha=-2)  # ||c||^2 - 2 x.c
            v, a = s.min(1)
            assign[b:b + chunk] = a
            objt += (v + (xb * xb).sum(1)).sum().double()
        sums = torch.zeros_like(C).index_add_(0, assign, X)
        cnt = torch.bincount(assign, minlength=k).float()
        nz = cnt > 0
        C[nz] = sums[nz] / cnt[nz].unsqueeze(1)
        obj = objt
    torch_peer.sync(dev)
    t = time.perf_counter() - t
    note = "torch %s, %s, %s matmul; time: the iterations only, data uploaded before timing, after a warm-up" % (
        torch.__version__, torch.cuda.get_device_name(0), prec)
    return t, iters, float(obj), C.cpu().numpy(), note


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--iters", type=int, required=True)
    ap.add_argument("--which", default="faiss,sklearn")
    a = ap.parse_args()
    x = load(os.path.join(a.dir, "x.f32"), a.n, a.d)
    init = load(os.path.join(a.dir, "init.f32"), a.k, a.d)
    out = {}
    for name in a.which.split(","):
        try:
            if name == "faiss":
                r = run_faiss(x, init, a.iters)
            elif name == "sklearn":
                r = run_sklearn(x, init, a.iters)
            elif name in ("torch", "torch_tf32"):
                r = run_torch(x, init, a.iters, name == "torch_tf32")
            else:
                r = None
        except Exception as e:  # a missing library is a skipped column, not a failed benchmark
            out[name] = {"skipped": "%s: %s" % (type(e).__name__, e)}
            continue
        if r is None:
            out[name] = {"skipped": "no CUDA device visible to torch" if name.startswith("torch") else "unknown"}
            continue
        t, it, obj, cent, note = r
        np.ascontiguousarray(cent, dtype="<f4").tofile(os.path.join(a.dir, name + ".f32"))
        out[name] = {"seconds": t, "iters": it, "objective": obj, "note": note}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
