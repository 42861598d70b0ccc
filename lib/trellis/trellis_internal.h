/*
 * trellis_internal.h — private state shared by the trellis files (not installed):
 * trellis_codebook.c (tables), bitstream.c, viterbi.c (reference), viterbi_fast.c.
 */
#ifndef QTIP_TRELLIS_INTERNAL_H
#define QTIP_TRELLIS_INTERNAL_H

#include "core/internal.h"
#include "core/cuda_plugin.h"

struct qtip_trellis {
    qtip_trellis_params p;
    int S;        /* steps per sequence: T / V */
    int T;        /* values per sequence */
    int KV;       /* bits per step */
    uint32_t G;   /* groups (shared predecessor sets): 2^(L-KV) */
    float *vals;  /* V planes of 2^L values: plane v at vals + (v << L) */
    float *norm;  /* 2^L squared norms of the states' values (qtip_trellis_norm),
                   * the branch cost's n */
    float *vals8; /* the search layout of vals and norm (viterbi_fast.c, G >= 8,
                   * else NULL): for each block of 8 groups j (j = s mod G) its 2^KV
                   * candidates k (k = s / G) in order, each as V + 1 runs of 8:
                   * the values, then the norms (run V); state s, run v at
                   * ((((j >> 3) << KV) + k) * (V + 1) + v) * 8 + (j & 7).
                   * One step streams it in order, whole cache lines at a time,
                   * instead of 2^KV * V rows 4*G bytes apart that alias in L1 */
    float *tlut;  /* HYB: 2^Q x 2; LUT: 2^L x V; else NULL */
    size_t tlut_n;
    double rms;
};

/* Register an extra code (tests: a code added through the traits table alone).
 * Its row is copied; the code gets the next free number, returned, or -1 when
 * the row lacks a name, a value function or a V, its name is taken, or the
 * table is full. Host only (the CUDA decoder knows the built-in codes). Not
 * thread-safe: register before any use. */
int qtip_code_register_(const qtip_code_traits *t);

/* One thread's scratch. */
typedef struct {
    float *rows;      /* S + 1 rows of G + 8 floats: row 0 the start row, row i + 1
                       * the group minima after step i (viterbi_fast.c). The
                       * traceback recomputes the few branch costs it needs from
                       * them instead of the sweep keeping back-pointers: the
                       * sweep is then a minimum only. The 8 padding floats of a
                       * row are read by the AVX2 expand_prev */
    size_t rowlen;    /* G + 8 */
    uint32_t *path;   /* S states (pass 1) */
    float *rot;       /* T values: the rotated sequence */
    /* best-of-n tail-biting (trellis_quantize.c) */
    float *fwd;       /* G forward group minima at the junction */
    float *bwd;       /* G backward group minima at the junction (reversed trellis's order) */
    float *rev;       /* T values: the rotated sequence's steps in reverse order */
    uint32_t *keep;   /* S states: the best path so far */
} qtip_trellis_slot;

struct qtip_trellis_work {
    qtip_trellis_params p;
    int nslots;
    qtip_trellis_slot *slots;
    int tb_n;                 /* tail-biting search: 1 two-pass, n >= 2 best of n */
    struct qtip_trellis *rev; /* best-of-n: the same codebook read backwards (state
                               * u holds the values of bit-reversed u), a LUT code */
};

/* HYB k-means table (trellis_codebook.c): Lloyd k-means of n deterministic 2-D
 * standard normal samples into 2^Q centroids, initial guess 2^Q further normal
 * draws, until the mean distance improves by at most 1e-5 or max_iters; then
 * normalized to element std sqrt(15/16) and rounded to fp16 values. out: 2^Q x 2.
 * iters (may be NULL): iterations run. Identical on every machine and thread count. */
qtip_status qtip_trellis_hyb_kmeans_(int Q, size_t n, int max_iters, float *out, int *iters);
/* The reference's normalization of a HYB table: n values divided by their
 * (biased) std, times sqrt(15/16), rounded to fp16 values (also the Lloyd
 * refinement's, bench_viterbi --gen-hyb-table). */
void qtip_trellis_hyb_normalize_(const double *cen, int n, float *out);

/* The Q = 9 table at the reference's size (2^20 samples, run to convergence),
 * precomputed by `bench_viterbi --gen-hyb-table` into trellis_hyb_table.c, as
 * fp16 bits; other Q are computed at run time from 128 * 2^Q samples. */
#define QTIP_HYB_TABLE_Q 9
#define QTIP_HYB_TABLE_SAMPLES ((size_t)1 << 20)
#define QTIP_HYB_TABLE_MAX_ITERS 1000
extern const uint16_t qtip_hyb_table_q9_[1024];

/* The reference pass (viterbi.c): allocates its own full back-pointer table. */
qtip_status qtip_viterbi_reference_(const qtip_trellis *t, const float *seq, int32_t overlap,
                                    uint32_t *states, float *cost);
/* The fast pass (viterbi_fast.c) in one slot's scratch. Never fails. */
void qtip_viterbi_fast_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                        int32_t overlap, uint32_t *states, float *cost);

/* The forward group minima after `nsteps` unconstrained steps of seq
 * (nsteps <= S): out[j] = min over states s with low L-KV bits j of the best cost
 * of a path ending in s at step nsteps-1; all 0 when nsteps == 0. Bit-identical
 * between the two (same fp32 operations in the same order). */
qtip_status qtip_viterbi_reference_minima_(const qtip_trellis *t, const float *seq, int nsteps,
                                           float *out);
void qtip_viterbi_fast_minima_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                               int nsteps, float *out);
/* qtip_viterbi_fast_ that also copies the group minima after `snap_steps` steps
 * (1 <= snap_steps <= S-1, unconstrained) to snap: the same G floats as
 * qtip_viterbi_fast_minima_(seq, snap_steps), for free. */
void qtip_viterbi_fast_snap_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                             int32_t overlap, uint32_t *states, float *cost, int snap_steps,
                             float *snap);

/* The Viterbi search of batches of tiles on a CUDA device (trellis_device.c):
 * two-pass tail-biting, the same states as the CPU path bit for bit. create opens
 * device `index` for batches of up to max_tiles tiles (QTIP_E_UNSUPPORTED /
 * QTIP_E_CUDA with the reason when the plugin, the device or the codebook's size
 * does not allow it); quantize is qtip_trellis_quantize_work for nseq <= max_tiles
 * tiles; label: "cuda:<k> (<name>, ...)". */
typedef struct qtip_trellis_device qtip_trellis_device;
qtip_status qtip_trellis_device_create_(const qtip_trellis *t, int index, size_t max_tiles,
                                        qtip_trellis_device **out);
qtip_status qtip_trellis_device_quantize_(qtip_trellis_device *d, const qtip_trellis *t,
                                          const float *seq, size_t nseq, uint16_t *bits,
                                          float *recon);
const char *qtip_trellis_device_label_(const qtip_trellis_device *d);
void qtip_trellis_device_free_(qtip_trellis_device *d);
/* Whether the plugin also runs whole layers (layer_device_: RHT, LDL, LDLQ). */
int qtip_trellis_device_has_layer_(const qtip_trellis_device *d);
/* One layer on the device (cuda_plugin.h's layer_quantize with this handle's
 * Viterbi): its messages copied into this library's. */
qtip_status qtip_trellis_device_layer_(qtip_trellis_device *d, const qtip_cuda_layer_args *a,
                                       qtip_cuda_layer_io *io);

/* Pack a path known to be consistent (bitstream.c). */
void qtip_trellis_pack_path_(const qtip_trellis_params *p, const uint32_t *states, uint16_t *bits);

#endif /* QTIP_TRELLIS_INTERNAL_H */
