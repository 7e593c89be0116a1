/* Clustering and the long tail: k-means (Lloyd and mini-batch, streaming from embedding shards),
 * PCA, t-SNE, item popularity, per-cluster long-tail statistics, and `longtail cluster`, which
 * ties them together into cluster.h5 and a report.
 *
 * Everything heavy runs through the op table (lt_kmeans_assign, lt_kmeans_update, lt_gemm), so
 * the same code clusters on the CPU or on a GPU. Runs are deterministic for a seed, a backend and
 * a chunk size (chunks add their sums into the f32 totals one at a time). */
#ifndef LONGTAIL_CLUSTER_H
#define LONGTAIL_CLUSTER_H

#include <stdint.h>

#include "longtail/backend.h"
#include "longtail/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- vectors: what to cluster -------------------------------------------------------------- */

/* An n x d matrix of floats read in row ranges: memory, a folder of embedding shards (read a
 * range at a time, never all at once), or a transformed view of another source. */
typedef struct lt_vecs lt_vecs;

/* x is not copied and must outlive the source. */
int lt_vecs_memory(lt_vecs **out, const float *x, int64_t n, int64_t d);
/* DIR/emb-NNNNN.h5 (embeddings.h), checked to form one complete set of equal widths. */
int lt_vecs_shards(lt_vecs **out, const char *emb_dir);
/* y = (x - mean) W when w is given (w [d, q] row-major, mean [d] or NULL), then y / ||y|| when
 * normalize (rows of norm 0 stay 0). mean and w are copied; base must outlive the view. */
int lt_vecs_transform(lt_vecs **out, lt_vecs *base, const float *mean, const float *w, int64_t q, int normalize);
int64_t lt_vecs_count(const lt_vecs *r);
int64_t lt_vecs_dim(const lt_vecs *r);
/* rows [row0, row0 + count) into buf[count, d] */
int lt_vecs_read(lt_vecs *r, int64_t row0, int64_t count, float *buf);
/* rows idx[0..m) (ascending) into out[m, d], reading runs of nearby rows in one go: shards are
 * compressed in chunks, so row-at-a-time reads would decompress a chunk per row. */
int lt_vecs_gather(lt_vecs *r, const int64_t *idx, int64_t m, float *out);
/* The whole matrix when it already is one block of memory (an untransformed memory source), else
 * NULL: callers then read ranges. */
const float *lt_vecs_data(const lt_vecs *r);
/* "emb/ (3 shards)", "memory": names the source in messages */
const char *lt_vecs_name(const lt_vecs *r);
/* LT_EINVAL naming the source, row and column of the first NaN or infinity. */
int lt_vecs_check_finite(lt_vecs *r);
void lt_vecs_free(lt_vecs *r);

/* ---- k-means --------------------------------------------------------------------------------- */

typedef enum { LT_KM_L2 = 0, LT_KM_COSINE } lt_km_metric;
typedef enum {
    LT_KM_INIT_AUTO = 0, /* k-means++ when n*k is small, else k-means|| */
    LT_KM_INIT_PLUSPLUS, /* D^2 sampling, one centroid at a time */
    LT_KM_INIT_PARALLEL, /* k-means|| (Bahmani et al.): 5 rounds of 2k samples, weighted k-means++ on them */
    LT_KM_INIT_RANDOM,   /* k distinct rows */
    LT_KM_INIT_GIVEN,    /* opts.centroids0 */
} lt_km_init;

typedef struct lt_kmeans_opts {
    int64_t k;
    int max_iter;            /* Lloyd iterations, or mini-batch epochs (default 25) */
    double tol;              /* stop when an iteration improves the objective by less than tol
                                relative; 0 runs every iteration (default 1e-4) */
    lt_km_metric metric;     /* cosine: rows and centroids are L2-normalised (spherical k-means) */
    lt_km_init init;
    const float *centroids0; /* [k, d] for LT_KM_INIT_GIVEN */
    uint64_t seed;
    int64_t minibatch;       /* 0: full-batch Lloyd; else rows per mini-batch (sklearn-style
                                per-centroid learning rates), then one full pass to assign */
    int64_t chunk_rows;      /* rows per step of a pass over the data (0: auto) */
    double mem_bytes;        /* data up to this size is loaded once and kept (host or device);
                                larger data is streamed from its source every pass (0: 4 GiB) */
    int final_assign;        /* after the last update, assign once more so that assign and dist
                                belong to the returned centroids (default 1) */
    int prune;               /* Lloyd on the CPU with the rows in memory: skip the rows whose
                                centroid provably cannot change (Hamerly's bounds with a margin for
                                fp32 rounding: the same assignments, less work; default 1) */
    int check_finite;        /* refuse NaN and infinities, naming the row and column (default 1;
                                a caller that checked the source already may skip the pass) */
    int verbose;             /* a line per iteration on stderr */
} lt_kmeans_opts;

void lt_kmeans_opts_init(lt_kmeans_opts *o);

typedef struct lt_kmeans_result {
    int64_t n, k, d;
    float *centroids;  /* [k, d] */
    int32_t *assign;   /* [n] */
    float *dist;       /* [n] squared L2 distance to the centroid (cosine: 2 - 2 cos) */
    int64_t *sizes;    /* [k] */
    double objective;  /* sum of dist */
    int iters;         /* iterations (epochs) run */
    int converged;     /* stopped by tol or because no assignment changed */
    int64_t repaired;  /* empty clusters re-seeded over the run */
    int64_t pruned_rows; /* row x iteration assignments the bounds proved unchanged (not computed) */
    double *history;   /* objective of each iteration's assignment [iters] */
    double seconds_init, seconds_iter, seconds_total;
    char init_used[32];
} lt_kmeans_result;

int lt_kmeans(lt_backend *be, lt_vecs *x, const lt_kmeans_opts *o, lt_kmeans_result *r);
void lt_kmeans_result_free(lt_kmeans_result *r);

/* Adjusted Rand index of two labelings of n items (1: identical up to renaming; ~0: chance). */
double lt_adjusted_rand_index(const int32_t *a, const int32_t *b, int64_t n);

/* ---- PCA --------------------------------------------------------------------------------------- */

typedef struct lt_pca {
    int64_t d, q;
    float *mean;            /* [d] */
    float *components;      /* [q, d]: unit rows, decreasing variance, largest |entry| positive */
    double *variance;       /* [q]: variance along each component */
    double total_variance;  /* trace of the covariance */
} lt_pca;

typedef struct lt_pca_opts {
    int64_t q;         /* components */
    int power_iters;   /* subspace iterations of the randomized solver (default 6) */
    int oversample;    /* extra directions carried by the randomized solver (default 10) */
    int exact;         /* 1: eigen-decompose the whole covariance (Jacobi); 0: randomized;
                          -1 (default): exact when d <= 256 */
    uint64_t seed;
} lt_pca_opts;

void lt_pca_opts_init(lt_pca_opts *o);
/* Two passes over the rows: the mean, then the covariance by GEMMs on the backend; then the
 * randomized range finder (subspace iteration on the d x d covariance with QR) and a Jacobi
 * eigen-solve of the small projected problem. */
int lt_pca_fit(lt_backend *be, lt_vecs *x, const lt_pca_opts *o, lt_pca *p);
/* y[n, q] = (x - mean) components^T for every row of the source */
int lt_pca_project(lt_backend *be, const lt_pca *p, lt_vecs *x, float *y);
void lt_pca_free(lt_pca *p);

/* ---- t-SNE ------------------------------------------------------------------------------------- */

typedef struct lt_tsne_opts {
    double perplexity; /* default 30 */
    int iters;         /* default 750 */
    double theta;      /* Barnes-Hut opening angle; 0 = exact gradient (default 0.5) */
    uint64_t seed;     /* for the PCA start (randomized when d > 256) */
    int verbose;
} lt_tsne_opts;

void lt_tsne_opts_init(lt_tsne_opts *o);
/* y[n, 2] = a t-SNE map of x[n, d] (n <= 50000): sparse input affinities from the 3*perplexity
 * nearest neighbours (GEMM + top-k through the op table, on the CPU backend next to the host data),
 * a start on the first two principal components, Barnes-Hut gradients; deterministic for a seed
 * whatever the thread count. */
int lt_tsne(lt_backend *be, const float *x, int64_t n, int64_t d, const lt_tsne_opts *o, float *y);

/* ---- popularity and the long tail ---------------------------------------------------------------- */

typedef struct lt_popularity {
    int64_t n_items, n_head, total; /* total interactions */
    int64_t *count;                 /* [n_items] interactions per item */
    int64_t *order;                 /* [n_items] items by count, descending (ties: lower index) */
    uint8_t *head;                  /* [n_items] 1 for the head */
    double head_share;              /* share of interactions that go to the head */
} lt_popularity;

/* head = the ceil(head_fraction * n_items) most popular items. */
int lt_popularity_compute(const lt_events *ev, int64_t n_items, double head_fraction, lt_popularity *p);
void lt_popularity_free(lt_popularity *p);

#define LT_CLUSTER_REPS 5

typedef struct lt_cluster_stat {
    int64_t size, interactions, tail_items, head_items;
    double item_share;        /* size / n */
    double interaction_share; /* interactions / all interactions */
    double tail_share;        /* tail_items / size */
    double attention;         /* interaction_share / item_share: 1 = its fair share */
    double mean_dist;         /* mean squared distance to the centroid */
    int long_tail;            /* a long-tail cluster (see lt_cluster_analyze) */
    int64_t reps[LT_CLUSTER_REPS]; /* representative items: nearest the centroid (-1: none) */
    int64_t top_item;         /* its most popular item */
} lt_cluster_stat;

/* Per-cluster statistics. A cluster is long-tail when its attention is below max_attention (its
 * share of interactions is far below its share of items) and it has at least min_size items. */
int lt_cluster_analyze(const lt_kmeans_result *km, const lt_popularity *pop, double max_attention, int64_t min_size,
                       lt_cluster_stat *stats);

/* ---- longtail cluster ------------------------------------------------------------------------------ */

typedef struct lt_cluster_opts {
    const char *data;      /* catalog + events.h5 (longtail import); NULL: embeddings only */
    const char *emb;       /* embedding shards */
    const char *out;       /* output folder: cluster.h5, report.md, *.svg */
    lt_kmeans_opts km;
    int64_t pca_dims;      /* reduce to this many dimensions before clustering (0: no) */
    int64_t tsne_points;   /* t-SNE of a sample of this many items for the map (0: none) */
    double head_fraction;  /* default 0.2 */
    double max_attention;  /* long-tail clusters: attention below this (default 0.6) */
    int64_t min_size;      /* ... and at least this many items (default 10) */
    const char *device;    /* "cpu" (default), "cuda", "auto" */
    int bf16;              /* on CUDA: tensor-core (bf16) assignment (default 1) */
    int quiet;
} lt_cluster_opts;

void lt_cluster_opts_init(lt_cluster_opts *o);
int lt_cluster_run(const lt_cluster_opts *o);

#ifdef __cplusplus
}
#endif
#endif
