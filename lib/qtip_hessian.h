/*
 * qtip_hessian.h — Hessians H = E[x x^T] of one linear layer's inputs.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 *
 * An accumulator holds, in float64, S = sum x x^T (lower triangle), the column
 * sums mu_sum = sum x and the row count; partial accumulators from many jobs
 * merge exactly (up to fp64 rounding). The file layout is docs/formats/hessian.md.
 *
 * Determinism: rows are buffered into blocks of a fixed number of rows
 * (qtip_hessian_block_rows(), a function of n only) and each full block is added
 * to S with one dsyrk. The result therefore depends only on the sequence of rows,
 * not on how the caller splits them into add_rows calls, nor on the thread count
 * (OpenBLAS splits syrk over output tiles, never over the row sum; the tests check
 * byte equality for 1 and 2 threads).
 *
 * Memory: S is a full n x n double matrix of which only the lower triangle is
 * meaningful (8 n^2 bytes: 6.6 GB for n = 28672), plus one block buffer of at most
 * 64 MiB. Save, load, export and analyze stream or work in place: none needs a
 * second n x n copy.
 */
#ifndef QTIP_HESSIAN_H
#define QTIP_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qtip_hessian qtip_hessian;

/* Format written by qtip_hessian_save (metadata "format_version"). */
#define QTIP_HESSIAN_FORMAT_VERSION 1

/* New empty accumulator of dimension n for layer input `site` (may be NULL). */
qtip_status qtip_hessian_create(int64_t n, const char *site, qtip_hessian **out);
void qtip_hessian_free(qtip_hessian *h);

int64_t qtip_hessian_dim(const qtip_hessian *h);
uint64_t qtip_hessian_count(const qtip_hessian *h);   /* rows (tokens) accumulated */
const char *qtip_hessian_site(const qtip_hessian *h); /* "" when unnamed */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Rows per internal block (fixed for a given n; at most 4096 rows / 64 MiB). */
size_t qtip_hessian_block_rows(const qtip_hessian *h);
#endif /* QTIP_EXPERIMENTAL */

/* --- Non-finite rows -----------------------------------------------------------
 * ERROR (default): add_rows fails with QTIP_E_NONFINITE naming the source, the
 * row (0-based, counted from the last set_source) and the column. The rows before
 * it in the same call are kept. SKIP: such rows are dropped and counted. */
typedef enum { QTIP_NONFINITE_ERROR = 0, QTIP_NONFINITE_SKIP = 1 } qtip_nonfinite_policy;
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
void qtip_hessian_set_nonfinite(qtip_hessian *h, qtip_nonfinite_policy p);
#endif /* QTIP_EXPERIMENTAL */
uint64_t qtip_hessian_skipped(const qtip_hessian *h); /* rows skipped so far */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Name used in messages for the rows that follow (a file name; copied). Resets the
 * per-source row counter. */
qtip_status qtip_hessian_set_source(qtip_hessian *h, const char *name);
#endif /* QTIP_EXPERIMENTAL */

/* Add `rows` rows of n values (dtype F32, F16, BF16 or F64), row-major. */
qtip_status qtip_hessian_add_rows(qtip_hessian *h, qtip_dtype dt, const void *x, size_t rows);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Add the buffered partial block to S. Called by every function below that reads
 * S; callers need it only before reading qtip_hessian_sum_xx directly. */
qtip_status qtip_hessian_flush(qtip_hessian *h);

/* Raw sums, valid after a flush: S (n x n row-major, lower triangle j <= i only;
 * the upper triangle is scratch) and sum x (n values). Owned by h. */
const double *qtip_hessian_sum_xx(const qtip_hessian *h);
const double *qtip_hessian_sum_x(const qtip_hessian *h);
/* Whether sum_x is known (false after importing a flatH without mu). */
int qtip_hessian_has_mean(const qtip_hessian *h);

/* Replace the sums (for importers and tests): S_lower is the lower triangle in
 * row-major tril order (n(n+1)/2 values, (0,0),(1,0),(1,1),...), sum_x may be NULL
 * (mean unknown), count rows. Pending rows are discarded. */
qtip_status qtip_hessian_set_sums(qtip_hessian *h, const double *S_lower, const double *sum_x,
                                  uint64_t count);
#endif /* QTIP_EXPERIMENTAL */

/* Provenance: input files and their checksums (qtip_checksum_file strings).
 * merge concatenates the lists. */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_hessian_add_input(qtip_hessian *h, const char *name, const char *checksum);
#endif /* QTIP_EXPERIMENTAL */
size_t qtip_hessian_input_count(const qtip_hessian *h);
const char *qtip_hessian_input_name(const qtip_hessian *h, size_t i);
const char *qtip_hessian_input_checksum(const qtip_hessian *h, size_t i);

/* dst += src; refuses a different n or a different non-empty site (unless
 * force_site). src's pending rows are flushed first (src is logically const). */
qtip_status qtip_hessian_merge(qtip_hessian *dst, const qtip_hessian *src, int force_site);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* E[x x^T] as a full symmetric n x n row-major matrix (double). If `mu` is not
 * NULL it receives E[x] (n values; zeros when the mean is unknown). Fails when no
 * rows were added. */
qtip_status qtip_hessian_expectation(const qtip_hessian *h, double *H, double *mu);
#endif /* QTIP_EXPERIMENTAL */

/* --- Device (lib/hessian/hessian_device.c; docs/kernels.md, "GPU backend") ---
 * Where full blocks go: "cpu" (the default: OpenBLAS dsyrk),
 * "cuda" / "cuda:<k>" (cuBLAS dsyrk on GPU k through the plugin libqtip_cuda.so,
 * which keeps a partial sum D on the device and adds it into S whenever S is read),
 * or "auto" (cuda:0 when the plugin loads, a device exists and can hold the n x n
 * sum; else cpu, with a QTIP_LOG_INFO line saying why). The column sums and the
 * row count stay on the host (bit-identical to "cpu"); S matches "cpu" to fp64
 * rounding of a different summation order: |S_gpu - S_cpu| <= 1e-12 *
 * sqrt(S_ii S_jj) element-wise (documented bound, tested where a GPU is present).
 * Pending rows are flushed first. Errors: QTIP_E_PARAM for an unknown name;
 * "cuda" without the plugin QTIP_E_UNSUPPORTED ("libqtip_cuda.so not found ..."),
 * without a device QTIP_E_CUDA ("no CUDA device: ..."); QTIP_E_NOMEM when the
 * device cannot hold the sum. On error the accumulator keeps its device. */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_hessian_set_device(qtip_hessian *h, const char *device);
#endif /* QTIP_EXPERIMENTAL */
/* The device in use: "cpu" or "cuda:<k> (<name>)". Owned by h. */
const char *qtip_hessian_device(const qtip_hessian *h);
/* The device that qtip_hessian_add_file gives the accumulators it creates (NULL
 * or "cpu": none). Process-wide, like qtip_set_threads: call it at start-up. The
 * name is checked when an accumulator is created. QTIP_E_PARAM if too long. */
qtip_status qtip_hessian_set_default_device(const char *device);

/* --- Statistics (lib/hessian/hessian_stats.c) ---------------------------------------------
 * Of E = S / count (uncentred). Damping as the quantizers use it:
 * E + sigma * mean(diag E) * I. Positive definiteness by Cholesky (LAPACKE dpotrf)
 * of the damped matrix; 1-norm condition estimate by dpocon; for n <= 2048 also
 * the extreme eigenvalues of the damped matrix (dsyevd). Works in place in the
 * upper triangle of S (scratch), so needs no second n x n copy (except the
 * eigenvalue path, small n only). */
typedef struct {
    int64_t n;
    uint64_t count, skipped;
    double trace;                /* of E */
    double diag_min, diag_max, diag_mean;
    int64_t zero_diag;           /* dead inputs: E_ii == 0 */
    int finite;                  /* every element of S and sum_x is finite */
    double sigma;                /* damping used */
    int pd;                      /* Cholesky of the damped matrix succeeded */
    double rcond;                /* dpocon reciprocal 1-norm condition (0 if not pd) */
    double cond_est;             /* 1 / rcond to 4 significant digits (INFINITY if not pd) */
    int have_eig;                /* eig_* filled (n <= 2048) */
    double eig_min, eig_max;     /* of the damped matrix */
} qtip_hessian_info;

qtip_status qtip_hessian_analyze(qtip_hessian *h, double sigma, qtip_hessian_info *out);

/* QTIP_E_NONFINITE naming `name` (a file) and the first non-finite entry: "(row,
 * col)" of the lower triangle of S, or an entry of the column sums. merge and
 * export refuse such a hessian (accumulate already refuses non-finite rows). */
qtip_status qtip_hessian_check_finite(qtip_hessian *h, const char *name);

/* --- Files: docs/formats/hessian.md (safetensors, lower triangle only) ----------- */
qtip_status qtip_hessian_save(const qtip_hessian *h, const char *path);
qtip_status qtip_hessian_load(const char *path, qtip_hessian **out);

/* --- Inputs: activation files (lib/hessian/hessian_input.c) --------------------------------
 * Adds every row of one activation tensor of shape (..., n) read from `path`
 * ("-" = stdin), streaming with bounded memory. Formats, detected from the bytes
 * (zstd-compressed input is decompressed transparently): .npy (f2/f4/f8), a
 * safetensors file (tensor `tensor`, or its only tensor; F32/F16/BF16/F64), or raw
 * row-major values when raw_dim > 0 (dtype raw_dtype). If *h is NULL it is created
 * with the file's n and `site`; a different n fails naming both files. The input
 * and its checksum are recorded in h's provenance. */
typedef struct {
    const char *tensor;  /* safetensors tensor name, NULL: the only one */
    int64_t raw_dim;     /* > 0: raw input of this many columns */
    qtip_dtype raw_dtype;
    qtip_nonfinite_policy nonfinite; /* set on h before this file's rows */
} qtip_hessian_source;

qtip_status qtip_hessian_add_file(qtip_hessian **h, const char *site, const char *path,
                                  const qtip_hessian_source *src);

/* --- Export / import of the reference tools' layout (lib/hessian/hessian_export.c)
 * FLAT: safetensors with `flatH` = lower triangle (tril order) of E[x x^T], or of
 * the covariance E[x x^T] - mu mu^T when centered (then also `mu`), plus scalars
 * `n` and `ct` (I64). FULL: `H` = the full n x n matrix, same centering, plus `n`,
 * `ct` (and `mu`). dtype F32 (what the reference tools store) or F64. Metadata
 * "centered" ("true" / "false") records the convention. Streams: no second n x n
 * copy. Written atomically. QTIP_E_NONFINITE for a non-finite hessian. */
typedef enum { QTIP_HESSIAN_FLAT = 0, QTIP_HESSIAN_FULL = 1 } qtip_hessian_layout;
typedef struct {
    qtip_hessian_layout layout;
    int centered;
    qtip_dtype dtype;
} qtip_hessian_export_opts;

qtip_status qtip_hessian_export(const qtip_hessian *h, const char *path,
                                const qtip_hessian_export_opts *o);

/* What the stored matrix of a reference-layout file is, when it holds `mu`:
 * CENTERED: the covariance E[x x^T] - mu mu^T (QuIP#'s hessian_offline layout), so
 * mu mu^T is added back on import; UNCENTERED: E[x x^T] itself, mu only the mean.
 * AUTO: the file's metadata "centered" (written by qtip-hessian export) when
 * present, else CENTERED, QuIP#'s convention, with a QTIP_LOG_WARN line saying
 * so. A file without `mu` is uncentred whatever is asked (CENTERED is refused: mu
 * mu^T cannot be added back); an explicit choice that contradicts the file's
 * metadata is refused (QTIP_E_FORMAT). */
typedef enum {
    QTIP_HESSIAN_CENTERING_AUTO = 0,
    QTIP_HESSIAN_CENTERED = 1,
    QTIP_HESSIAN_UNCENTERED = 2,
} qtip_hessian_centering;

/* Reads either layout (flatH or H; any float dtype; `mu` optional) back into an
 * accumulator with S = ct * E[x x^T]. `site` may be NULL. The convention applied
 * is recorded in the result (qtip_hessian_import_centering) and in the file
 * qtip_hessian_save writes (metadata "import_centering"). */
qtip_status qtip_hessian_import_ex(const char *path, const char *site, qtip_hessian_centering c,
                                   qtip_hessian **out);
/* The convention an import applied: "centered" or "uncentered"; "" when h was
 * not imported. Owned by h. */
const char *qtip_hessian_import_centering(const qtip_hessian *h);

/* A qtip hessian file (metadata format "qtip.hessian": qtip_hessian_load) or else
 * a reference layout (qtip_hessian_import_ex with c), so that an error names the
 * defect of the format the file claims, not the other one's. */
qtip_status qtip_hessian_open_any(const char *path, qtip_hessian_centering c, qtip_hessian **out);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* E[x x^T] as a full n x n matrix (qtip_alloc'd, caller frees) of the Hessian file
 * `path` opened by qtip_hessian_open_any (AUTO), which must have dimension n
 * (QTIP_E_SHAPE naming the file otherwise). What a quantizer or the incoherence
 * step reads. */
qtip_status qtip_hessian_load_expectation(const char *path, int64_t n, double **out);
#endif /* QTIP_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif
#endif /* QTIP_HESSIAN_H */
