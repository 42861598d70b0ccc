/*
 * quant_layer.c — the quantizer context and the method-independent pipeline of
 * one linear layer: Hessian normalization, RHT, damping + block LDL, Wscale,
 * LDLQ (+ refinement) through the method's operations (quant_internal.h), the
 * decode check and the proxy loss in the original space; and the same from files.
 */
#include "ldlq/quant_internal.h"
#include "ldlq/layer_steps.h"
#include "incoherence/hadamard_internal.h"
#include "io/weight_lookup_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------------
 * Quantizer context
 * ------------------------------------------------------------------------- */

struct qtip_quantizer {
    qtip_quant_params p;
    const qtip_method_ops *ops;
    void *state;     /* the method's codebook */
    double code_rms; /* RMS Wscale aims at, times the scale */
};

qtip_status qtip_quantizer_create(const qtip_quant_params *p, qtip_quantizer **out)
{
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_quant_check_params(p));
    /* The trellis method puts its Viterbi search on the device (quant_method_trellis.c);
     * E8P's search is fast on the CPU and stays there. */
    if (p->device != QTIP_DEVICE_CPU && p->method != QTIP_METHOD_TRELLIS)
        qtip_log(QTIP_LOG_INFO, "device %s: the %s method runs on the cpu",
                 p->device == QTIP_DEVICE_AUTO ? "auto" : "cuda", qtip_method_ops_(p->method)->name);
    qtip_quantizer *q = qtip_calloc(1, sizeof *q, "quantizer");
    if (!q) return QTIP_E_NOMEM;
    q->p = *p;
    q->ops = qtip_method_ops_(p->method);
    qtip_status st = q->ops->create(p, &q->state, &q->code_rms);
    if (st != QTIP_OK) {
        free(q);
        return st;
    }
    *out = q;
    return QTIP_OK;
}

void qtip_quantizer_free(qtip_quantizer *q)
{
    if (!q) return;
    if (q->state) q->ops->destroy(q->state);
    free(q);
}

/* ---------------------------------------------------------------------------
 * One layer, step by step
 * ------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Both sides are rotated: each order needs a Hadamard transform (the one wording
 * of an unsupported order, naming the nearest supported ones). */
static qtip_status check_hadamard(int64_t m, int64_t n, int64_t order)
{
    if (qtip_had_supported(order, NULL, NULL)) return QTIP_OK;
    qtip_status s = qtip_had_unsupported_error_(order, "hadamard transform");
    qtip_error_prefix("layer shape [%lld, %lld]", (long long)m, (long long)n);
    return s;
}

/* p: the quantizer's parameters with the layer's tensor-parallel split resolved.
 * The sharded side needs a Hadamard order per shard only (qtip_tp_check_shape_). */
static qtip_status check_inputs(const qtip_quantizer *q, const qtip_quant_params *p, const float *W,
                                int64_t m, int64_t n, const char *name)
{
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0, QTIP_E_SHAPE, "layer shape [%lld, %lld] is empty",
                         (long long)m, (long long)n);
    QTIP_FORWARD_IF_ERROR(q->ops->check_shape(p, m, n));
    int64_t out_blocks, in_blocks;
    qtip_tp_blocks(p, &out_blocks, &in_blocks);
    if (out_blocks == 1) QTIP_FORWARD_IF_ERROR(check_hadamard(m, n, m));
    if (in_blocks == 1) QTIP_FORWARD_IF_ERROR(check_hadamard(m, n, n));
    QTIP_FORWARD_IF_ERROR(qtip_tp_check_shape_(p, m, n, name));
    const size_t mn = (size_t)m * (size_t)n;
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(W[i]), QTIP_E_NONFINITE,
                             "weight has a NaN or infinite value at [%lld, %lld]",
                             (long long)(i / (size_t)n), (long long)(i % (size_t)n));
    return QTIP_OK;
}

/* The work buffers of one layer. */
typedef struct {
    float *Wr, *What;  /* m x n: rotated scaled weight, its reconstruction */
    double *Hr, *L, *D; /* n x n Hessian, factor (Cholesky, then LDL), n x b blocks */
} layer_bufs;

static void bufs_free(layer_bufs *B)
{
    free(B->Wr);
    free(B->What);
    free(B->Hr);
    free(B->L);
    free(B->D);
}

static qtip_status bufs_alloc(layer_bufs *B, int64_t m, int64_t n, int b)
{
    const size_t mn = (size_t)m * (size_t)n, nn = (size_t)n * (size_t)n;
    B->Wr = qtip_alloc(mn, sizeof(float), "rotated weight");
    B->What = qtip_alloc(mn, sizeof(float), "reconstruction");
    B->Hr = qtip_alloc(nn, sizeof(double), "rotated hessian");
    B->L = qtip_alloc(nn, sizeof(double), "cholesky factor");
    B->D = qtip_alloc((size_t)n * (size_t)b, sizeof(double), "block diagonal");
    return B->Wr && B->What && B->Hr && B->L && B->D ? QTIP_OK : QTIP_E_NOMEM;
}

/* Hr = H / mean(diag H) (I when H is NULL): damping is relative to it, and dead
 * inputs (H_ii = 0) get a unit diagonal with their weight column zeroed in Wr
 * (they never fire). */
static qtip_status normalize_hessian(const double *H, int64_t m, int64_t n, float *Wr, double *Hr)
{
    const size_t nn = (size_t)n * (size_t)n;
    if (!H) {
        memset(Hr, 0, nn * sizeof(double));
        for (int64_t i = 0; i < n; i++) Hr[i * n + i] = 1;
        return QTIP_OK;
    }
    for (size_t i = 0; i < nn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(H[i]), QTIP_E_NONFINITE,
                             "hessian has a NaN or infinite value at [%lld, %lld]",
                             (long long)(i / (size_t)n), (long long)(i % (size_t)n));
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += H[i * n + i];
    mean /= (double)n;
    QTIP_RETURN_ERROR_IF(!(mean > 0), QTIP_E_NOT_PD,
                         "hessian is not positive definite: mean of its diagonal is %g", mean);
    for (size_t i = 0; i < nn; i++) Hr[i] = H[i] / mean;
    int64_t dead = 0;
    for (int64_t i = 0; i < n; i++)
        if (Hr[i * n + i] == 0) {
            dead++;
            Hr[i * n + i] = 1;
            for (int64_t r = 0; r < m; r++) Wr[r * n + i] = 0;
        }
    if (dead) qtip_log(QTIP_LOG_INFO, "%lld dead input columns (zero hessian diagonal)", (long long)dead);
    return QTIP_OK;
}

/* Signs from (seed, tensor), RHT of W and H (block diagonal on a tensor-parallel
 * layer's sharded side), damping + Cholesky, block LDL (B->L becomes the unit
 * block-lower factor). */
static qtip_status rotate_and_factor(qtip_layer_artifact *a, layer_bufs *B, int b)
{
    const qtip_quant_params *p = &a->params;
    const int64_t m = a->m, n = a->n;
    qtip_rht_signs(p->seed, a->tensor, "SU", n, a->SU);
    qtip_rht_signs(p->seed, a->tensor, "SV", m, a->SV);
    int64_t out_blocks, in_blocks;
    qtip_tp_blocks(p, &out_blocks, &in_blocks);
    QTIP_FORWARD_IF_ERROR(qtip_rht_weight_blocks(B->Wr, m, n, a->SU, a->SV, out_blocks, in_blocks));
    QTIP_FORWARD_IF_ERROR(qtip_rht_hessian_blocks(B->Hr, n, a->SU, in_blocks));
    QTIP_FORWARD_IF_ERROR(
        qtip_ldl_regularize(B->Hr, n, p->sigma_reg, p->damping_tries, B->L, &a->damping));
    double *Lu = qtip_alloc((size_t)n * (size_t)n, sizeof(double), "LDL factor");
    if (!Lu) return QTIP_E_NOMEM;
    qtip_status st = qtip_ldl_block(B->L, n, b, Lu, B->D);
    free(B->L);
    B->L = Lu;
    return st;
}

float qtip_layer_wscale_(float *Wr, size_t count, double target)
{
    double ss = 0;
    for (size_t i = 0; i < count; i++) ss += (double)Wr[i] * (double)Wr[i];
    double rms = sqrt(ss / (double)count);
    const float wscale = rms > 0 ? (float)(rms / target) : 1.0f;
    for (size_t i = 0; i < count; i++) Wr[i] /= wscale;
    return wscale;
}

static void apply_wscale(const qtip_quantizer *q, qtip_layer_artifact *a, float *Wr)
{
    const double target = q->code_rms * qtip_quant_effective_scale(&q->p);
    a->wscale = qtip_layer_wscale_(Wr, (size_t)a->m * (size_t)a->n, target);
}

/* LDLQ through the method's block callbacks; the codes land in a->codes. */
static qtip_status run_ldlq(const qtip_quantizer *q, qtip_layer_artifact *a, layer_bufs *B, int b)
{
    const qtip_quant_params *p = &q->p;
    qtip_ldlq_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.b = b;
    cfg.feedback = p->ldlq;
    cfg.refine_passes = p->refine_passes;
    void *ctx = NULL;
    QTIP_FORWARD_IF_ERROR(q->ops->begin(q->state, a, &cfg, &ctx));
    a->refine_count = p->refine_passes + 1;
    a->refine_losses = qtip_alloc((size_t)a->refine_count, sizeof(double), "refinement losses");
    qtip_status st = a->refine_losses ? QTIP_OK : QTIP_E_NOMEM;
    if (st == QTIP_OK) st = qtip_ldlq_run(&cfg, B->Wr, a->m, a->n, B->L, B->Hr, B->What, a->refine_losses);
    if (st == QTIP_OK) a->proxy_loss_rotated = a->refine_losses[a->refine_count - 1];
    q->ops->end(ctx);
    return st;
}

/* The codes alone must give back what LDLQ kept, bit for bit: decode them the
 * way every reader will and compare; then the proxy loss in the original space.
 * B->Wr is scratch here. */
static qtip_status check_and_measure(qtip_layer_artifact *a, const float *W, const double *H,
                                     layer_bufs *B)
{
    const size_t mn = (size_t)a->m * (size_t)a->n;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_decode_rotated(a, B->Wr));
    QTIP_RETURN_ERROR_IF(memcmp(B->Wr, B->What, mn * sizeof(float)) != 0, QTIP_E_INTERNAL,
                         "decoded codes differ from the quantizer's reconstruction");
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_decode(a, B->What));
    double err = 0, ref = 0;
    QTIP_FORWARD_IF_ERROR(qtip_quant_proxy_terms(W, B->What, a->m, a->n, H, &err, &ref));
    a->proxy_loss = ref > 0 ? err / ref : 0;
    return QTIP_OK;
}

/* The method's device layer, when it takes this one (*done): RHT, damping + LDL,
 * Wscale, LDLQ and the rotated proxy loss there. */
static qtip_status device_steps(const qtip_quantizer *q, qtip_layer_artifact *a, layer_bufs *B,
                                int b, int *done)
{
    const qtip_quant_params *p = &q->p;
    *done = 0;
    if (!q->ops->device_layer || p->device == QTIP_DEVICE_CPU || p->refine_passes > 0) return QTIP_OK;
    /* the device layer's RHT spans whole dimensions: per-shard transforms stay here
     * (the Viterbi searches still run on the device) */
    if (a->params.tp_size > 1) {
        qtip_log(QTIP_LOG_INFO, "layer '%s': tensor-parallel degree %d: the RHT, LDL and LDLQ run "
                 "on the cpu", a->tensor, a->params.tp_size);
        return QTIP_OK;
    }
    qtip_rht_signs(p->seed, a->tensor, "SU", a->n, a->SU);
    qtip_rht_signs(p->seed, a->tensor, "SV", a->m, a->SV);
    qtip_ldlq_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.b = b;
    cfg.feedback = p->ldlq;
    void *ctx = NULL;
    QTIP_FORWARD_IF_ERROR(q->ops->begin(q->state, a, &cfg, &ctx));
    const double target = q->code_rms * qtip_quant_effective_scale(p);
    double err = 0, ref = 0;
    qtip_status st = q->ops->device_layer(ctx, a, target, B->Wr, B->Hr, B->What, &err, &ref, done);
    q->ops->end(ctx);
    if (st != QTIP_OK || !*done) return st;
    a->refine_count = 1;
    a->refine_losses = qtip_alloc(1, sizeof(double), "refinement losses");
    if (!a->refine_losses) return QTIP_E_NOMEM;
    a->refine_losses[0] = ref > 0 ? err / ref : 0;
    a->proxy_loss_rotated = a->refine_losses[0];
    return QTIP_OK;
}

static qtip_status quantize_steps(const qtip_quantizer *q, qtip_layer_artifact *a, const float *W,
                                  const double *H, layer_bufs *B)
{
    const int b = qtip_quant_block_cols(&q->p);
    QTIP_FORWARD_IF_ERROR(bufs_alloc(B, a->m, a->n, b));
    memcpy(B->Wr, W, (size_t)a->m * (size_t)a->n * sizeof(float));
    QTIP_FORWARD_IF_ERROR(normalize_hessian(H, a->m, a->n, B->Wr, B->Hr));
    int on_device = 0;
    QTIP_FORWARD_IF_ERROR(device_steps(q, a, B, b, &on_device));
    if (!on_device) {
        QTIP_FORWARD_IF_ERROR(rotate_and_factor(a, B, b));
        apply_wscale(q, a, B->Wr);
        QTIP_FORWARD_IF_ERROR(run_ldlq(q, a, B, b));
    }
    return check_and_measure(a, W, H, B);
}

qtip_status qtip_quantize_layer(qtip_quantizer *q, const float *W, int64_t m, int64_t n,
                                const double *H, const char *name, qtip_layer_artifact **out)
{
    *out = NULL;
    const double t0 = now_seconds();
    qtip_quant_params p = q->p;
    QTIP_FORWARD_IF_ERROR(qtip_tp_resolve_(&p, name));
    QTIP_FORWARD_IF_ERROR(check_inputs(q, &p, W, m, n, name));
    qtip_layer_artifact *a = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_alloc_(&p, m, n, &a));
    layer_bufs B;
    memset(&B, 0, sizeof B);
    free(a->tensor);
    a->tensor = strdup(name ? name : "");
    /* OpenBLAS single-threaded while quantizing: the library's own threads
     * parallelize the layer, and OpenBLAS's pool, left at its default (all
     * cores), spins between the small calls and takes a core from parallel layer
     * jobs (11% of a one-thread job's time went to its sched_yield, measured
     * with perf). One thread also fixes BLAS's summation order whatever
     * OPENBLAS_NUM_THREADS says (3 threads on 2 cores changed E8P bytes). */
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    qtip_status st = a->tensor ? quantize_steps(q, a, W, H, &B) : qtip_error(QTIP_E_NOMEM, "out of memory");
    openblas_set_num_threads(blas_threads);
    bufs_free(&B);
    if (st != QTIP_OK) {
        qtip_layer_artifact_free(a);
        return st;
    }
    snprintf(a->hessian_checksum, sizeof a->hessian_checksum, "%s", H ? "" : "identity");
    a->seconds = now_seconds() - t0;
    *out = a;
    return QTIP_OK;
}

/* ---------------------------------------------------------------------------
 * From files
 * ------------------------------------------------------------------------- */

/* The weight `tensor` (or its layer's .weight) as f32, with its name as found and
 * the checksum of the file holding it. */
static qtip_status read_weight(const char *path, const char *tensor, char *used, size_t cap,
                               float **W, int64_t *m, int64_t *n, char *wsum)
{
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    const qtip_tensor_view *t = NULL;
    qtip_status st = qtip_st_find_weight_(f, path, tensor, used, cap, &t);
    if (st == QTIP_OK && (t->ndim != 2 || !(t->dtype == QTIP_DT_F32 || t->dtype == QTIP_DT_F16 ||
                                           t->dtype == QTIP_DT_BF16)))
        st = qtip_error(QTIP_E_UNSUPPORTED,
                        "cannot quantize '%s': tensor '%s' is %s with %d dimensions, "
                        "expected a 2-D F32, F16 or BF16 weight",
                        path, used, qtip_dtype_name(t->dtype), t->ndim);
    if (st == QTIP_OK) {
        *m = t->shape[0];
        *n = t->shape[1];
        *W = qtip_alloc((size_t)*m * (size_t)*n, sizeof(float), "weight");
        st = *W ? qtip_convert_to_f32(t->dtype, t->data, (size_t)*m * (size_t)*n, *W) : QTIP_E_NOMEM;
    }
    if (st == QTIP_OK) {
        /* Provenance: the file holding the tensor (the path given, or the index's
         * file for a model directory). */
        struct stat sb;
        const char *src = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? path : qtip_st_path(f);
        st = qtip_checksum_file(src, wsum);
    }
    qtip_st_close(f);
    return st;
}

qtip_status qtip_quantize_layer_file(qtip_quantizer *q, const char *weights_path,
                                     const char *tensor, const char *hessian_path,
                                     qtip_layer_artifact **out)
{
    *out = NULL;
    char used[1024], wsum[QTIP_CHECKSUM_STRLEN] = "", hsum[QTIP_CHECKSUM_STRLEN] = "";
    float *W = NULL;
    double *H = NULL;
    int64_t m = 0, n = 0;
    qtip_status st = read_weight(weights_path, tensor, used, sizeof used, &W, &m, &n, wsum);
    if (st == QTIP_OK && hessian_path) {
        st = qtip_hessian_load_expectation(hessian_path, n, &H);
        if (st == QTIP_OK) st = qtip_checksum_file(hessian_path, hsum);
    }
    if (st == QTIP_OK) {
        st = qtip_quantize_layer(q, W, m, n, H, used, out);
        if (st != QTIP_OK) qtip_error_prefix("cannot quantize '%s' of '%s'", used, weights_path);
    }
    if (st == QTIP_OK) qtip_layer_artifact_set_source(*out, wsum, hessian_path ? hsum : "identity");
    free(W);
    free(H);
    return st;
}
