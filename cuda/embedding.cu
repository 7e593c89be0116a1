/* Embedding gather (forward) and scatter-add (backward) on CUDA.
 *
 * Backward is deterministic without float atomics: the (id, position) pairs are radix-sorted by
 * id (a stable sort, so positions stay ascending within an id). A run of equal ids is cut into
 * chunks of LT_EMB_CHUNK occurrences (backend_impl.h): pass 1 sums every chunk but the first on
 * its own, all in parallel; pass 2, at the first position of each run, adds the first chunk to
 * the table row in position order and then the chunk sums in chunk order: the very additions, in
 * the very order, that the CPU makes, and a hot id ([PAD], a best-seller) costs CHUNK + run/CHUNK
 * adds on one warp instead of the whole run. Positions whose id is the skip id add nothing.
 *
 * Both kernels give a warp one (position, chunk of 32 columns) unit; a column is 16 bytes (4
 * floats, 8 bf16) when the row length and pointers allow. An id outside [0, vocab) is never
 * dereferenced: the kernel sets the status word (reported at sync) and skips that position.
 *
 * bf16 tables: the forward copies the bits. The backward sums in fp32 in the same order (the chunk
 * sums of pass 1 are fp32), and pass 2 reads each touched row once, adds in registers and stores
 * it once: one rounding per touched element, as the CPU's widen, add, round. */
#include <cub/device/device_radix_sort.cuh>
#include <type_traits>

#include "cuda_common.cuh"

#define EMB_THREADS 256 /* 8 warps, 8 units per block */

/* The warp's first unit and the stride between its units, for grid-stride loops over units. */
__device__ __forceinline__ int64_t warp_first(void) { return ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; }
__device__ __forceinline__ int64_t warp_step(void) { return ((int64_t)gridDim.x * blockDim.x) >> 5; }

static unsigned unit_blocks(int64_t units) { return lt__blocks(units, EMB_THREADS / 32, LT_MAX_BLOCKS); }

/* Chunks of 32 columns per row; at least one, so bad ids are reported even when dim = 0 (as the
 * CPU does). */
static int64_t unit_chunks(int64_t dim) { return dim > 0 ? (dim + 31) / 32 : 1; }

/* out[N, D] = table[ids[N], :], with D counted in V (any type of the element's size or 16 bytes:
 * a copy of the bits). */
template <typename V>
__global__ void embedding_fwd_kernel(V *out, const V *table, const int32_t *ids, int64_t n, int64_t vocab,
                                     int64_t dim, int64_t chunks, int *status) {
    int lane = threadIdx.x & 31;
    for (int64_t u = warp_first(); u < n * chunks; u += warp_step()) {
        int64_t i = u / chunks, c = u % chunks * 32 + lane;
        int32_t id = ids[i];
        if (id < 0 || id >= vocab) {
            if (c == 0) lt__fault(status, LT_FAULT_EMBEDDING_FWD);
            continue;
        }
        if (c < dim) out[i * dim + c] = table[(int64_t)id * dim + c];
    }
}

/* E: float or lt_bf16, only its size matters; 16-byte words (V4) when the rows are whole words. */
template <typename E>
static int embedding_fwd(lt_backend *be, E *out, const E *table, const int32_t *ids, int64_t n, int64_t vocab,
                         int64_t dim) {
    if (n <= 0) return 0;
    lt_cuda *cu = lt__cu(be);
    typedef typename std::conditional<sizeof(E) == 4, float4, uint4>::type V4;
    constexpr int VW = lt__vw<E>();
    int vec = lt__vec_ok(dim, VW, out, table);
    int64_t dv = vec ? dim / VW : dim, chunks = unit_chunks(dv);
    unsigned blocks = unit_blocks(n * chunks);
    if (vec)
        embedding_fwd_kernel<<<blocks, EMB_THREADS, 0, cu->stream>>>((V4 *)out, (const V4 *)table, ids, n, vocab, dv,
                                                                     chunks, cu->status);
    else
        embedding_fwd_kernel<<<blocks, EMB_THREADS, 0, cu->stream>>>(out, table, ids, n, vocab, dv, chunks,
                                                                     cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

/* keys[N] = ids[N] where valid, `skip_key` where ids[n] == skip (sorts after every id), else `bad`
 * (after that: sorts last); pos[N] = 0, 1, 2, ... */
__global__ void embedding_keys_kernel(uint32_t *keys, int32_t *pos, const int32_t *ids, int64_t n, int64_t vocab,
                                      int32_t skip, uint32_t skip_key, uint32_t bad) {
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int32_t id = ids[i];
        keys[i] = id >= 0 && id < vocab ? (id == skip ? skip_key : (uint32_t)id) : bad; /* bad ids fault, as on the CPU */
        pos[i] = (int32_t)i;
    }
}

/* The first sorted position in [lo, hi) whose key is not below `key` (lower bound), and the first
 * after it whose key is above (upper bound). Every lane computes the same: warp-uniform. */
__device__ __forceinline__ int64_t key_lower(const uint32_t *keys, int64_t lo, int64_t hi, uint32_t key) {
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}
__device__ __forceinline__ int64_t key_upper(const uint32_t *keys, int64_t lo, int64_t hi, uint32_t key) {
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] <= key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Pass 1 (LT_EMB_CHUNK, backend_impl.h): every chunk of a run but the first, summed on its own
 * in position order into part[s / CHUNK] (fp32; s, its first sorted position: unique, since two
 * such starts are at least CHUNK apart). All chunks run in parallel, whatever the run's length.
 * A lane owns W consecutive columns (W = 1, or 16 bytes of E with dim a multiple of W). */
template <int W, typename E>
__global__ void embedding_chunk_kernel(float *part, const E *dout, const uint32_t *keys, const int32_t *pos,
                                       int64_t n, int64_t dim, int64_t chunks, uint32_t vocab) {
    int lane = threadIdx.x & 31;
    for (int64_t u = warp_first(); u < n * chunks; u += warp_step()) {
        int64_t s = u / chunks, c = (u % chunks * 32 + lane) * W;
        uint32_t id = keys[s];
        /* a later chunk's start has its run begin at least CHUNK before it */
        if (id >= vocab || s < LT_EMB_CHUNK || keys[s - LT_EMB_CHUNK] != id) continue;
        int64_t rs = key_lower(keys, 0, s - LT_EMB_CHUNK + 1, id);
        if ((s - rs) % LT_EMB_CHUNK != 0 || c >= dim) continue;
        int64_t e = key_upper(keys, s, s + LT_EMB_CHUNK < n ? s + LT_EMB_CHUNK : n, id);
        float acc[W], v[W];
        lt__load<W>(acc, dout + (int64_t)pos[s] * dim + c);
        for (int64_t q = s + 1; q < e; q++) {
            lt__load<W>(v, dout + (int64_t)pos[q] * dim + c);
#pragma unroll
            for (int k = 0; k < W; k++) acc[k] += v[k];
        }
        lt__store<W>(part + (s / LT_EMB_CHUNK) * dim + c, acc);
    }
}

/* Pass 2: dtable[V, D] += dout[N, D] rows grouped by id: keys[N] (sorted ids) and pos[N] (their
 * positions, ascending within an id). A lane owns W columns, as in pass 1. The unit whose position
 * starts a run adds the run's first chunk in order, then the later chunks' sums from pass 1 in
 * chunk order, all in fp32 registers, and stores the row once; the other units of the run return
 * at once. */
template <int W, typename E>
__global__ void embedding_bwd_kernel(E *dtable, const E *dout, const float *part, const uint32_t *keys,
                                     const int32_t *pos, int64_t n, int64_t dim, int64_t chunks, uint32_t vocab,
                                     uint32_t bad, int *status) {
    int lane = threadIdx.x & 31;
    for (int64_t u = warp_first(); u < n * chunks; u += warp_step()) {
        int64_t s = u / chunks, c = (u % chunks * 32 + lane) * W;
        uint32_t id = keys[s];
        if (s > 0 && keys[s - 1] == id) continue; /* not the start of a run */
        if (id == bad) {
            if (c == 0) lt__fault(status, LT_FAULT_EMBEDDING_BWD);
            continue;
        }
        if (id >= vocab || c >= dim) continue; /* the skipped id's run */
        int64_t e = key_upper(keys, s, n, id); /* the run is [s, e) */
        int64_t ce = e < s + LT_EMB_CHUNK ? e : s + LT_EMB_CHUNK;
        E *dst = dtable + (int64_t)id * dim + c;
        float acc[W], v[W];
        lt__load<W>(acc, dst);
#pragma unroll 4
        for (int64_t q = s; q < ce; q++) {
            lt__load<W>(v, dout + (int64_t)pos[q] * dim + c);
#pragma unroll
            for (int k = 0; k < W; k++) acc[k] += v[k];
        }
        for (int64_t q = s + LT_EMB_CHUNK; q < e; q += LT_EMB_CHUNK) {
            lt__load<W>(v, part + (q / LT_EMB_CHUNK) * dim + c);
#pragma unroll
            for (int k = 0; k < W; k++) acc[k] += v[k];
        }
        lt__store<W>(dst, acc);
    }
}

/* Scratch layout: four arrays of n 32-bit values, the chunk sums, then CUB's temporary storage. */
static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

template <int W, typename E>
static int embedding_bwd_w(lt_cuda *cu, E *dtable, const E *dout, float *part, const uint32_t *keys,
                           const int32_t *pos, int64_t n, int64_t dim, uint32_t skip_key, uint32_t bad) {
    int64_t chunks = unit_chunks(dim / W);
    unsigned blocks = unit_blocks(n * chunks);
    if (n > LT_EMB_CHUNK) {
        embedding_chunk_kernel<W><<<blocks, EMB_THREADS, 0, cu->stream>>>(part, dout, keys, pos, n, dim, chunks,
                                                                          skip_key);
        LT_LAUNCH_CHECK();
    }
    embedding_bwd_kernel<W><<<blocks, EMB_THREADS, 0, cu->stream>>>(dtable, dout, part, keys, pos, n, dim, chunks,
                                                                    skip_key, bad, cu->status);
    LT_LAUNCH_CHECK();
    return 0;
}

template <typename E>
static int embedding_bwd(lt_backend *be, E *dtable, const E *dout, const int32_t *ids, int64_t n, int64_t vocab,
                         int64_t dim, int32_t skip) {
    if (n <= 0) return 0;
    if (n > INT32_MAX)
        return lt_error(LT_ERANGE, "embedding_bwd: %lld ids in one call; the CUDA backend takes up to 2^31-1",
                        (long long)n);
    if (vocab >= (int64_t)UINT32_MAX - 1)
        return lt_error(LT_ERANGE, "embedding_bwd: a vocabulary of %lld rows; the CUDA backend takes up to 2^32-2",
                        (long long)vocab);
    lt_cuda *cu = lt__cu(be);
    /* Sort only the bits a key can have: fewer radix passes for smaller vocabularies. */
    uint32_t skip_key = (uint32_t)vocab, bad = skip_key + 1;
    int end_bit = 1;
    while (end_bit < 32 && (bad >> end_bit) != 0) end_bit++;

    constexpr int VW = lt__vw<E>();
    int vec = lt__vec_ok(dim, VW, dtable, dout);
    size_t temp_bytes = 0, arr = align256((size_t)n * sizeof(uint32_t));
    size_t part_bytes = align256(sizeof(float) * (size_t)(n / LT_EMB_CHUNK + 1) * (size_t)(dim > 0 ? dim : 1));
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                                  (const int32_t *)NULL, (int32_t *)NULL, (int)n, 0, end_bit,
                                                  cu->stream));
    char *base;
    LT_TRY(lt__cuda_scratch(be, 4 * arr + part_bytes + temp_bytes, (void **)&base));
    uint32_t *keys_in = (uint32_t *)base, *keys = (uint32_t *)(base + arr);
    int32_t *pos_in = (int32_t *)(base + 2 * arr), *pos = (int32_t *)(base + 3 * arr);
    float *part = (float *)(base + 4 * arr);
    void *temp = base + 4 * arr + part_bytes;

    embedding_keys_kernel<<<lt__blocks(n, 256, (int64_t)cu->sm_count * 16), 256, 0, cu->stream>>>(
        keys_in, pos_in, ids, n, vocab, skip, skip_key, bad);
    LT_LAUNCH_CHECK();
    LT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys, pos_in, pos, (int)n, 0, end_bit,
                                                  cu->stream));

    if (vec) return embedding_bwd_w<VW>(cu, dtable, dout, part, keys, pos, n, dim, skip_key, bad);
    return embedding_bwd_w<1>(cu, dtable, dout, part, keys, pos, n, dim, skip_key, bad);
}

/* ---- the slots: tables f32 or bf16 ------------------------------------------------------------ */

extern "C" int lt__cuda_embedding_fwd(lt_backend *be, void *out, const void *table, const int32_t *ids, lt_dtype dt,
                                      int64_t n, int64_t vocab, int64_t dim) {
    if (dt == LT_BF16) return embedding_fwd(be, (lt_bf16 *)out, (const lt_bf16 *)table, ids, n, vocab, dim);
    return embedding_fwd(be, (float *)out, (const float *)table, ids, n, vocab, dim);
}

extern "C" int lt__cuda_embedding_bwd(lt_backend *be, void *dtable, const void *dout, const int32_t *ids, lt_dtype dt,
                                      int64_t n, int64_t vocab, int64_t dim, int32_t skip) {
    if (dt == LT_BF16) return embedding_bwd(be, (lt_bf16 *)dtable, (const lt_bf16 *)dout, ids, n, vocab, dim, skip);
    return embedding_bwd(be, (float *)dtable, (const float *)dout, ids, n, vocab, dim, skip);
}
