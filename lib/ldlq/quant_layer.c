/*
 * quant_layer.c — parameters, the quantizer context, and the pipeline of one
 * linear layer: Hessian normalization, RHT, damping + block LDL, Wscale, LDLQ
 * (+ refinement), packing, and the proxy loss in the original space.
 */
#include "ldlq/quant_internal.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

qtip_quant_params qtip_quant_default_params(qtip_quant_method method)
{
    qtip_quant_params p;
    memset(&p, 0, sizeof p);
    p.method = method;
    p.trellis = qtip_trellis_default_params();
    p.e8p = QTIP_E8P12;
    p.sigma_reg = 0.01;
    p.damping_tries = 10;
    p.scale_override = -1;
    p.seed = 0;
    p.refine_passes = method == QTIP_METHOD_E8P ? 10 : 0;
    p.ldlq = 1;
    p.device = QTIP_DEVICE_CPU;
    return p;
}

qtip_status qtip_quant_check_params(const qtip_quant_params *p)
{
    QTIP_RETURN_ERROR_IF(p->method != QTIP_METHOD_TRELLIS && p->method != QTIP_METHOD_E8P,
                         QTIP_E_PARAM, "unknown quantization method %d", (int)p->method);
    if (p->method == QTIP_METHOD_TRELLIS) {
        QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(&p->trellis));
        QTIP_RETURN_ERROR_IF((p->trellis.td_y * p->trellis.K) % 16 != 0, QTIP_E_PARAM,
                             "td_y * K must be a multiple of 16 for the packed code layout, "
                             "found td_y %d, K %d", p->trellis.td_y, p->trellis.K);
        QTIP_RETURN_ERROR_IF(p->trellis.td_y > 64, QTIP_E_PARAM,
                             "td_y must be at most 64 (the LDL block), found %d", p->trellis.td_y);
    } else {
        QTIP_RETURN_ERROR_IF(qtip_e8p_bits(p->e8p) == 0, QTIP_E_PARAM, "unknown E8P codebook %d",
                             (int)p->e8p);
    }
    QTIP_RETURN_ERROR_IF(!(p->sigma_reg >= 0) || !(p->sigma_reg <= 1e6), QTIP_E_PARAM,
                         "sigma_reg must be in 0..1e6, found %g", p->sigma_reg);
    QTIP_RETURN_ERROR_IF(p->tail_biting < 0 || p->tail_biting > 65536, QTIP_E_PARAM,
                         "tail_biting must be in 0..65536 (0 or 1: two-pass), found %d", p->tail_biting);
    QTIP_RETURN_ERROR_IF(p->damping_tries < 1 || p->damping_tries > 1000, QTIP_E_PARAM,
                         "damping tries must be in 1..1000, found %d", p->damping_tries);
    QTIP_RETURN_ERROR_IF(!isfinite(p->scale_override) || p->scale_override > 100, QTIP_E_PARAM,
                         "scale_override must be at most 100 (<= 0: method default), found %g",
                         p->scale_override);
    QTIP_RETURN_ERROR_IF(p->refine_passes < 0 || p->refine_passes > 1000, QTIP_E_PARAM,
                         "refine passes must be in 0..1000, found %d", p->refine_passes);
    QTIP_RETURN_ERROR_IF(p->ldlq != 0 && p->ldlq != 1, QTIP_E_PARAM, "ldlq must be 0 or 1, found %d",
                         p->ldlq);
    QTIP_RETURN_ERROR_IF(p->device < QTIP_DEVICE_CPU || p->device > QTIP_DEVICE_AUTO, QTIP_E_PARAM,
                         "unknown device %d", (int)p->device);
    return QTIP_OK;
}

int qtip_quant_block_cols(const qtip_quant_params *p)
{
    return p->method == QTIP_METHOD_TRELLIS ? p->trellis.td_y : 8;
}

double qtip_quant_effective_scale(const qtip_quant_params *p)
{
    if (p->scale_override > 0) return p->scale_override;
    return p->method == QTIP_METHOD_TRELLIS ? 0.9 : (double)qtip_e8p_opt_scale(p->e8p);
}

/* ---------------------------------------------------------------------------
 * Quantizer context
 * ------------------------------------------------------------------------- */

struct qtip_quantizer {
    qtip_quant_params p;
    qtip_trellis *tr;
    qtip_trellis_work *work;
    qtip_e8p *e8;
    double code_rms; /* RMS of the trellis table (1 for E8P: opt_scale is absolute) */
};

qtip_status qtip_quantizer_create(const qtip_quant_params *p, qtip_quantizer **out)
{
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_quant_check_params(p));
    QTIP_RETURN_ERROR_IF(p->device == QTIP_DEVICE_CUDA, QTIP_E_UNSUPPORTED,
                         "device 'cuda' is not available for quantization yet; use 'cpu' or 'auto'");
    qtip_quantizer *q = qtip_calloc(1, sizeof *q, "quantizer");
    if (!q) return QTIP_E_NOMEM;
    q->p = *p;
    qtip_status st;
    if (p->method == QTIP_METHOD_TRELLIS) {
        st = qtip_trellis_create(&p->trellis, &q->tr);
        if (st == QTIP_OK) st = qtip_trellis_work_create(q->tr, 0, &q->work);
        if (st == QTIP_OK && p->tail_biting >= 2)
            st = qtip_trellis_work_set_tail_biting(q->work, q->tr, p->tail_biting);
        if (st == QTIP_OK) q->code_rms = qtip_trellis_rms(q->tr);
    } else {
        st = qtip_e8p_create(p->e8p, &q->e8);
        q->code_rms = 1.0;
    }
    if (st != QTIP_OK) {
        qtip_quantizer_free(q);
        return st;
    }
    *out = q;
    return QTIP_OK;
}

void qtip_quantizer_free(qtip_quantizer *q)
{
    if (!q) return;
    qtip_trellis_work_free(q->work);
    qtip_trellis_free(q->tr);
    qtip_e8p_free(q->e8);
    free(q);
}

const qtip_quant_params *qtip_quantizer_params(const qtip_quantizer *q) { return &q->p; }

/* ---------------------------------------------------------------------------
 * Block quantizers for LDLQ
 * ------------------------------------------------------------------------- */

typedef struct {
    qtip_quantizer *q;
    qtip_layer_artifact *a;
    int *order;      /* tile element order (trellis) */
    float *seq, *rec; /* nseq x T */
    uint16_t *stage; /* nseq x words per tile */
    uint32_t *stage32; /* E8P: m codes */
} block_ctx;

static qtip_status trellis_quant(void *user, int64_t block, const float *target, int64_t m, int b,
                                 float *recon)
{
    block_ctx *c = user;
    const qtip_trellis_params *tp = &c->q->p.trellis;
    const int T = tp->td_x * tp->td_y;
    const int64_t nseq = m / tp->td_x;
    for (int64_t R = 0; R < nseq; R++)
        for (int j = 0; j < T; j++)
            c->seq[R * T + j] = target[R * T + c->order[j]];
    QTIP_FORWARD_IF_ERROR(qtip_trellis_quantize_work(c->q->tr, c->q->work, c->seq, (size_t)nseq,
                                                     c->stage, c->rec));
    /* Rows R*td_x .. +td_x-1 of the m x td_y block are exactly the T values of
     * tile R in row-major order, so order[j] indexes the block directly. */
    for (int64_t R = 0; R < nseq; R++)
        for (int j = 0; j < T; j++) recon[R * T + c->order[j]] = c->rec[R * T + j];
    (void)block;
    (void)b;
    return QTIP_OK;
}

static void trellis_commit(void *user, int64_t block, const uint8_t *accept)
{
    block_ctx *c = user;
    const qtip_trellis_params *tp = &c->q->p.trellis;
    const int wr = tp->td_y * tp->K / 16, wpt = tp->td_x * wr;
    const int64_t nseq = c->a->m / tp->td_x, cc = c->a->code_cols;
    int16_t *codes = c->a->codes;
    for (int64_t R = 0; R < nseq; R++) {
        if (accept && !accept[R]) continue;
        for (int w = 0; w < wpt; w++)
            codes[(R * tp->td_x + w / wr) * cc + block * wr + w % wr] =
                (int16_t)c->stage[R * wpt + w];
    }
}

static qtip_status e8p_quant(void *user, int64_t block, const float *target, int64_t m, int b,
                             float *recon)
{
    block_ctx *c = user;
    (void)block;
    (void)b;
    return qtip_e8p_quantize(c->q->e8, target, (size_t)m, c->stage32, recon);
}

static void e8p_commit(void *user, int64_t block, const uint8_t *accept)
{
    block_ctx *c = user;
    const int64_t m = c->a->m, cc = c->a->code_cols;
    for (int64_t i = 0; i < m; i++) {
        if (accept && !accept[i]) continue;
        if (c->a->code_is_i32) ((int32_t *)c->a->codes)[i * cc + block] = (int32_t)c->stage32[i];
        else ((int16_t *)c->a->codes)[i * cc + block] = (int16_t)(uint16_t)c->stage32[i];
    }
}

/* Unit callbacks (one unit = one row): called concurrently for disjoint rows by
 * the LDLQ loops; each call searches on the calling thread alone. */
static qtip_status e8p_quant_units(void *user, int64_t block, const int64_t *units, int64_t count,
                                   const float *target, float *recon)
{
    block_ctx *c = user;
    (void)block;
    uint32_t tmp[32];
    for (int64_t i0 = 0; i0 < count; i0 += 32) {
        int64_t cnt = count - i0 < 32 ? count - i0 : 32;
        /* below the library's 64-vector threshold: no parallel region per call */
        QTIP_FORWARD_IF_ERROR(qtip_e8p_quantize(c->q->e8, target + 8 * i0, (size_t)cnt, tmp,
                                                recon + 8 * i0));
        for (int64_t i = 0; i < cnt; i++) c->stage32[units[i0 + i]] = tmp[i];
    }
    return QTIP_OK;
}

static void e8p_commit_units(void *user, int64_t block, const int64_t *units, int64_t count)
{
    block_ctx *c = user;
    const int64_t cc = c->a->code_cols;
    for (int64_t l = 0; l < count; l++) {
        const int64_t i = units[l];
        if (c->a->code_is_i32) ((int32_t *)c->a->codes)[i * cc + block] = (int32_t)c->stage32[i];
        else ((int16_t *)c->a->codes)[i * cc + block] = (int16_t)(uint16_t)c->stage32[i];
    }
}

/* ---------------------------------------------------------------------------
 * One layer
 * ------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static qtip_status check_shape(const qtip_quant_params *p, int64_t m, int64_t n)
{
    if (p->method == QTIP_METHOD_TRELLIS) {
        QTIP_RETURN_ERROR_IF(m % p->trellis.td_x || n % p->trellis.td_y, QTIP_E_SHAPE,
                             "layer shape [%lld, %lld] is not a multiple of the %d x %d tile",
                             (long long)m, (long long)n, p->trellis.td_x, p->trellis.td_y);
    } else {
        QTIP_RETURN_ERROR_IF(n % 8, QTIP_E_SHAPE,
                             "layer shape [%lld, %lld]: in features must be a multiple of 8",
                             (long long)m, (long long)n);
    }
    int64_t below, above;
    if (!qtip_had_supported(m, NULL, NULL)) {
        qtip_had_nearest(m, &below, &above);
        return qtip_error(QTIP_E_SHAPE,
                          "layer shape [%lld, %lld]: no Hadamard transform of order %lld "
                          "(nearest supported: %lld, %lld)",
                          (long long)m, (long long)n, (long long)m, (long long)below, (long long)above);
    }
    if (!qtip_had_supported(n, NULL, NULL)) {
        qtip_had_nearest(n, &below, &above);
        return qtip_error(QTIP_E_SHAPE,
                          "layer shape [%lld, %lld]: no Hadamard transform of order %lld "
                          "(nearest supported: %lld, %lld)",
                          (long long)m, (long long)n, (long long)n, (long long)below, (long long)above);
    }
    return QTIP_OK;
}

qtip_status qtip_quantize_layer(qtip_quantizer *q, const float *W, int64_t m, int64_t n,
                                const double *H, const char *name, qtip_layer_artifact **out)
{
    *out = NULL;
    const double t0 = now_seconds();
    const qtip_quant_params *p = &q->p;
    QTIP_RETURN_ERROR_IF(m <= 0 || n <= 0, QTIP_E_SHAPE, "layer shape [%lld, %lld] is empty",
                         (long long)m, (long long)n);
    QTIP_FORWARD_IF_ERROR(check_shape(p, m, n));
    const size_t mn = (size_t)m * (size_t)n, nn = (size_t)n * (size_t)n;
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(W[i]), QTIP_E_NONFINITE,
                             "weight has a NaN or infinite value at [%lld, %lld]",
                             (long long)(i / (size_t)n), (long long)(i % (size_t)n));

    qtip_layer_artifact *a = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_alloc_(p, m, n, &a));
    const int b = qtip_quant_block_cols(p);
    float *Wr = qtip_alloc(mn, sizeof(float), "rotated weight");
    float *What = qtip_alloc(mn, sizeof(float), "reconstruction");
    double *Hr = qtip_alloc(nn, sizeof(double), "rotated hessian");
    double *Lc = qtip_alloc(nn, sizeof(double), "cholesky factor");
    double *D = qtip_alloc((size_t)n * (size_t)b, sizeof(double), "block diagonal");
    int *order = NULL;
    block_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    qtip_status st = QTIP_OK;
    if (!Wr || !What || !Hr || !Lc || !D) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    free(a->tensor);
    a->tensor = strdup(name ? name : "");
    if (!a->tensor) {
        st = qtip_error(QTIP_E_NOMEM, "out of memory");
        goto done;
    }
    memcpy(Wr, W, mn * sizeof(float));

    /* H / mean(diag): damping is relative to it, and dead inputs (H_ii = 0) get a
     * unit diagonal with their weight column zeroed (they never fire). */
    if (H) {
        for (size_t i = 0; i < nn; i++)
            if (!isfinite(H[i])) {
                st = qtip_error(QTIP_E_NONFINITE, "hessian has a NaN or infinite value at [%lld, %lld]",
                                (long long)(i / (size_t)n), (long long)(i % (size_t)n));
                goto done;
            }
        double mean = 0;
        for (int64_t i = 0; i < n; i++) mean += H[i * n + i];
        mean /= (double)n;
        if (!(mean > 0)) {
            st = qtip_error(QTIP_E_NOT_PD, "hessian is not positive definite: mean of its diagonal is %g",
                            mean);
            goto done;
        }
        for (size_t i = 0; i < nn; i++) Hr[i] = H[i] / mean;
        int64_t dead = 0;
        for (int64_t i = 0; i < n; i++)
            if (Hr[i * n + i] == 0) {
                dead++;
                Hr[i * n + i] = 1;
                for (int64_t r = 0; r < m; r++) Wr[r * n + i] = 0;
            }
        if (dead) qtip_log(QTIP_LOG_INFO, "%lld dead input columns (zero hessian diagonal)", (long long)dead);
    } else {
        memset(Hr, 0, nn * sizeof(double));
        for (int64_t i = 0; i < n; i++) Hr[i * n + i] = 1;
    }

    qtip_rht_signs(p->seed, a->tensor, "SU", n, a->SU);
    qtip_rht_signs(p->seed, a->tensor, "SV", m, a->SV);
    st = qtip_rht_weight(Wr, m, n, a->SU, a->SV);
    if (st == QTIP_OK) st = qtip_rht_hessian(Hr, n, a->SU);
    if (st == QTIP_OK) st = qtip_ldl_regularize(Hr, n, p->sigma_reg, p->damping_tries, Lc, &a->damping);
    if (st != QTIP_OK) goto done;
    /* Lc becomes Lu in place of a second n x n buffer. */
    {
        double *Lu = qtip_alloc(nn, sizeof(double), "LDL factor");
        if (!Lu) {
            st = QTIP_E_NOMEM;
            goto done;
        }
        st = qtip_ldl_block(Lc, n, b, Lu, D);
        free(Lc);
        Lc = Lu;
        if (st != QTIP_OK) goto done;
    }

    /* Wscale: one scalar so that RMS(Wr / Wscale) = code RMS x scale. */
    {
        double ss = 0;
        for (size_t i = 0; i < mn; i++) ss += (double)Wr[i] * (double)Wr[i];
        double rms = sqrt(ss / (double)mn);
        double target = q->code_rms * qtip_quant_effective_scale(p);
        a->wscale = rms > 0 ? (float)(rms / target) : 1.0f;
        for (size_t i = 0; i < mn; i++) Wr[i] /= a->wscale;
    }

    if (p->method == QTIP_METHOD_TRELLIS) {
        const qtip_trellis_params *tp = &p->trellis;
        const int T = tp->td_x * tp->td_y;
        const size_t nseq = (size_t)(m / tp->td_x);
        order = qtip_alloc((size_t)T, sizeof(int), "tile order");
        ctx.seq = qtip_alloc(nseq * (size_t)T, sizeof(float), "tile sequences");
        ctx.rec = qtip_alloc(nseq * (size_t)T, sizeof(float), "tile recon");
        ctx.stage = qtip_alloc(nseq * qtip_trellis_words_per_tile(tp), sizeof(uint16_t), "tile bits");
        if (!order || !ctx.seq || !ctx.rec || !ctx.stage) {
            st = QTIP_E_NOMEM;
            goto done;
        }
        qtip_trellis_tile_order(tp, order);
        size_t cnt = 0;
        const float *lut = qtip_trellis_lut(q->tr, &cnt);
        if (lut && cnt) {
            a->tlut = qtip_alloc(cnt, sizeof(float), "tlut");
            if (!a->tlut) {
                st = QTIP_E_NOMEM;
                goto done;
            }
            memcpy(a->tlut, lut, cnt * sizeof(float));
            a->tlut_cols = tp->code == QTIP_CODE_HYB ? 2 : (size_t)tp->V;
            a->tlut_rows = cnt / a->tlut_cols;
        }
    } else {
        ctx.stage32 = qtip_alloc((size_t)m, sizeof(uint32_t), "E8P codes");
        if (!ctx.stage32) {
            st = QTIP_E_NOMEM;
            goto done;
        }
    }
    ctx.q = q;
    ctx.a = a;
    ctx.order = order;

    {
        qtip_ldlq_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.b = b;
        cfg.group_rows = p->method == QTIP_METHOD_TRELLIS ? p->trellis.td_x : 1;
        cfg.feedback = p->ldlq;
        cfg.refine_passes = p->refine_passes;
        cfg.quant = p->method == QTIP_METHOD_TRELLIS ? trellis_quant : e8p_quant;
        cfg.commit = p->method == QTIP_METHOD_TRELLIS ? trellis_commit : e8p_commit;
        cfg.user = &ctx;
        if (p->method == QTIP_METHOD_E8P) {
            cfg.quant_units = e8p_quant_units;
            cfg.commit_units = e8p_commit_units;
        }
        a->refine_count = p->refine_passes + 1;
        a->refine_losses = qtip_alloc((size_t)a->refine_count, sizeof(double), "refinement losses");
        if (!a->refine_losses) {
            st = QTIP_E_NOMEM;
            goto done;
        }
        st = qtip_ldlq_run(&cfg, Wr, m, n, Lc, Hr, What, a->refine_losses);
        if (st != QTIP_OK) goto done;
        a->proxy_loss_rotated = a->refine_losses[a->refine_count - 1];
    }

    /* The codes alone must give back what LDLQ kept, bit for bit: decode them
     * the way every reader will and compare. */
    {
        float *chk = Wr; /* Wr is no longer needed */
        st = qtip_layer_artifact_decode_rotated(a, chk);
        if (st != QTIP_OK) goto done;
        if (memcmp(chk, What, mn * sizeof(float)) != 0) {
            st = qtip_error(QTIP_E_INTERNAL, "decoded codes differ from the quantizer's reconstruction");
            goto done;
        }
        st = qtip_layer_artifact_decode(a, What);
        if (st != QTIP_OK) goto done;
        double err = 0, ref = 0;
        st = qtip_quant_proxy_terms(W, What, m, n, H, &err, &ref);
        if (st != QTIP_OK) goto done;
        a->proxy_loss = ref > 0 ? err / ref : 0;
    }
    snprintf(a->hessian_checksum, sizeof a->hessian_checksum, "%s", H ? "" : "identity");
    a->seconds = now_seconds() - t0;

done:
    free(Wr);
    free(What);
    free(Hr);
    free(Lc);
    free(D);
    free(order);
    free(ctx.seq);
    free(ctx.rec);
    free(ctx.stage);
    free(ctx.stage32);
    if (st != QTIP_OK) {
        qtip_layer_artifact_free(a);
        return st;
    }
    *out = a;
    return QTIP_OK;
}

/* ---------------------------------------------------------------------------
 * From files
 * ------------------------------------------------------------------------- */

static qtip_status load_hessian(const char *path, int64_t n, double **out)
{
    *out = NULL;
    qtip_hessian *h = NULL;
    qtip_status st = qtip_hessian_load(path, &h);
    if (st == QTIP_E_FORMAT) {
        /* The reference tools' layout (flatH / H, maybe centered with mu). */
        st = qtip_hessian_import(path, NULL, &h);
    }
    QTIP_FORWARD_IF_ERROR(st);
    if (qtip_hessian_dim(h) != n) {
        int64_t d = qtip_hessian_dim(h);
        qtip_hessian_free(h);
        return qtip_error(QTIP_E_SHAPE, "hessian '%s' has dimension %lld, expected %lld (in features)",
                          path, (long long)d, (long long)n);
    }
    double *H = qtip_alloc((size_t)n * (size_t)n, sizeof(double), "hessian");
    if (!H) {
        qtip_hessian_free(h);
        return QTIP_E_NOMEM;
    }
    /* E[x x^T] is the second moment: the mean is already inside, nothing to add. */
    st = qtip_hessian_expectation(h, H, NULL);
    qtip_hessian_free(h);
    if (st != QTIP_OK) {
        free(H);
        qtip_error_prefix("hessian '%s'", path);
        return st;
    }
    *out = H;
    return QTIP_OK;
}

static const qtip_tensor_view *find_weight(qtip_st_file *f, const char *tensor, char *used,
                                           size_t usedsz)
{
    const qtip_tensor_view *t = qtip_st_find(f, tensor);
    snprintf(used, usedsz, "%s", tensor);
    if (t) return t;
    char alt[1024];
    snprintf(alt, sizeof alt, "%s.weight", tensor);
    t = qtip_st_find(f, alt);
    if (t) snprintf(used, usedsz, "%s", alt);
    return t;
}

qtip_status qtip_quantize_layer_file(qtip_quantizer *q, const char *weights_path,
                                     const char *tensor, const char *hessian_path,
                                     qtip_layer_artifact **out)
{
    *out = NULL;
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(weights_path, &f));
    char used[1024];
    const qtip_tensor_view *t = find_weight(f, tensor, used, sizeof used);
    if (!t) {
        qtip_st_close(f);
        return qtip_error(QTIP_E_NOT_FOUND, "cannot read '%s': no tensor '%s' (nor '%s.weight')",
                          weights_path, tensor, tensor);
    }
    if (t->ndim != 2 || !(t->dtype == QTIP_DT_F32 || t->dtype == QTIP_DT_F16 || t->dtype == QTIP_DT_BF16)) {
        qtip_status e = qtip_error(QTIP_E_UNSUPPORTED,
                                   "cannot quantize '%s': tensor '%s' is %s with %d dimensions, "
                                   "expected a 2-D F32, F16 or BF16 weight",
                                   weights_path, used, qtip_dtype_name(t->dtype), t->ndim);
        qtip_st_close(f);
        return e;
    }
    const int64_t m = t->shape[0], n = t->shape[1];
    float *W = qtip_alloc((size_t)m * (size_t)n, sizeof(float), "weight");
    double *H = NULL;
    char wsum[QTIP_CHECKSUM_STRLEN] = "", hsum[QTIP_CHECKSUM_STRLEN] = "";
    qtip_status st = W ? qtip_convert_to_f32(t->dtype, t->data, (size_t)m * (size_t)n, W) : QTIP_E_NOMEM;
    if (st == QTIP_OK) {
        /* Provenance: the file holding the tensor (the path given, or the index's
         * file for a model directory). */
        struct stat sb;
        const char *src = stat(weights_path, &sb) == 0 && S_ISREG(sb.st_mode) ? weights_path
                                                                              : qtip_st_path(f);
        st = qtip_checksum_file(src, wsum);
    }
    qtip_st_close(f);
    if (st == QTIP_OK && hessian_path) {
        st = load_hessian(hessian_path, n, &H);
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
