/*
 * ldlq.c — BlockLDLQ: column blocks from the last to the first with linear error
 * feedback through the unit block-lower LDL factor, then optional greedy
 * (block coordinate descent) refinement passes on the proxy loss.
 *
 * Feedback (qtip.md 3.3, quipsharp.md 3), E = W - What on finished columns:
 *   target_k = W[:, k] + E[:, >k] Lu[>k, k]
 * Computed as the reference does: inside a buffer of 128 columns directly, and
 * from finished buffers through a running product P (m x n). Every product is a
 * BLAS call on shapes that depend on (m, n, b) only, so results do not depend on
 * the thread count.
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int qtip_quant_tile_is_mma(const qtip_trellis_params *p)
{
    return p->code == QTIP_CODE_HYB && p->L == 16 && p->V == 2 && p->Q == 9 && p->K >= 2 &&
           p->K <= 4 && p->td_x == 16 && p->td_y == 16;
}

void qtip_quant_tile_order(const qtip_trellis_params *p, int *order)
{
    const int T = p->td_x * p->td_y;
    if (!qtip_quant_tile_is_mma(p)) {
        for (int j = 0; j < T; j++) order[j] = j;
        return;
    }
    /* Tensor-core A-fragment order: j = b*32 + d*8 + h*4 + a*2 + e holds
     * (row a*8 + b, col h*8 + d*2 + e) (qtip.md 3.4). */
    for (int j = 0; j < T; j++) {
        int bb = j >> 5, d = (j >> 3) & 3, h = (j >> 2) & 1, a = (j >> 1) & 1, e = j & 1;
        int row = a * 8 + bb, col = h * 8 + d * 2 + e;
        order[j] = row * 16 + col;
    }
}

qtip_status qtip_quant_proxy_terms(const float *W, const float *What, int64_t m, int64_t n,
                                   const double *H, double *err, double *ref)
{
    if (!H) {
        /* identity: the Frobenius norms, summed per row then over rows */
        double e = 0, r = 0;
        for (int64_t i = 0; i < m; i++) {
            double se = 0, sr = 0;
            for (int64_t j = 0; j < n; j++) {
                double w = W[i * n + j], d = w - (double)What[i * n + j];
                se += d * d;
                sr += w * w;
            }
            e += se;
            r += sr;
        }
        if (err) *err = e;
        if (ref) *ref = r;
        return QTIP_OK;
    }
    const int64_t chunk = 128;
    int64_t rows = m < chunk ? m : chunk;
    double *D = qtip_alloc((size_t)(2 * rows), (size_t)n * sizeof(double), "proxy loss rows");
    double *rowv = qtip_alloc((size_t)m, 2 * sizeof(double), "proxy loss sums");
    if (!D || !rowv) {
        free(D);
        free(rowv);
        return QTIP_E_NOMEM;
    }
    double *G = D + (size_t)rows * (size_t)n;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && !err) continue;
        if (pass == 1 && !ref) continue;
        for (int64_t r0 = 0; r0 < m; r0 += chunk) {
            int64_t r1 = r0 + chunk < m ? r0 + chunk : m, cnt = r1 - r0;
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t j = 0; j < n; j++) {
                    size_t at = (size_t)(r0 + i) * (size_t)n + (size_t)j;
                    D[i * n + j] = pass == 0 ? (double)W[at] - (double)What[at] : (double)W[at];
                }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cnt, (int)n, (int)n, 1.0,
                        D, (int)n, H, (int)n, 0.0, G, (int)n);
            for (int64_t i = 0; i < cnt; i++) {
                double s = 0;
                for (int64_t j = 0; j < n; j++) s += D[i * n + j] * G[i * n + j];
                rowv[2 * (r0 + i) + pass] = s;
            }
        }
        double tot = 0;
        for (int64_t i = 0; i < m; i++) tot += rowv[2 * i + pass];
        if (pass == 0) *err = tot;
        else *ref = tot;
    }
    free(D);
    free(rowv);
    return QTIP_OK;
}

/* Inverse of a b x b symmetric positive definite matrix by Gauss-Jordan (b <= 64). */
static int spd_inverse(const double *A, int b, double *out, double *work)
{
    memcpy(work, A, sizeof(double) * (size_t)b * (size_t)b);
    for (int i = 0; i < b * b; i++) out[i] = 0;
    for (int i = 0; i < b; i++) out[i * b + i] = 1;
    for (int c = 0; c < b; c++) {
        double piv = work[c * b + c];
        if (!(piv > 0)) return 0;
        for (int j = 0; j < b; j++) {
            work[c * b + j] /= piv;
            out[c * b + j] /= piv;
        }
        for (int r = 0; r < b; r++) {
            if (r == c) continue;
            double f = work[r * b + c];
            if (f == 0) continue;
            for (int j = 0; j < b; j++) {
                work[r * b + j] -= f * work[c * b + j];
                out[r * b + j] -= f * out[c * b + j];
            }
        }
    }
    return 1;
}

/* (x - t) A (x - t)^T for b-vectors. */
static double quad_form(const float *x, const double *t, const double *A, int b)
{
    double s = 0;
    for (int r = 0; r < b; r++) {
        double dr = (double)x[r] - t[r], acc = 0;
        for (int c = 0; c < b; c++) acc += A[r * b + c] * ((double)x[c] - t[c]);
        s += dr * acc;
    }
    return s;
}

static qtip_status refine(const qtip_ldlq_config *cfg, const float *W, int64_t m, int64_t n,
                          const double *Hr, float *What, float *E, double *losses, double ref)
{
    const int b = cfg->b, G = cfg->group_rows;
    const int64_t nb = n / b;
    size_t mb = (size_t)m * (size_t)b;
    float *Hf = qtip_alloc((size_t)n * (size_t)n, sizeof(float), "refinement hessian");
    float *grad = qtip_alloc(mb, sizeof(float), "refinement block");
    float *tgtf = qtip_alloc(mb, sizeof(float), "refinement target");
    float *rec = qtip_alloc(mb, sizeof(float), "refinement recon");
    double *tgt = qtip_alloc(mb, sizeof(double), "refinement target");
    double *Hkk = qtip_alloc((size_t)b * (size_t)b * 3, sizeof(double), "refinement block inverse");
    uint8_t *accept = qtip_alloc((size_t)(m / G), 1, "refinement flags");
    qtip_status st = QTIP_OK;
    if (!Hf || !grad || !tgtf || !rec || !tgt || !Hkk || !accept) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    double *inv = Hkk + b * b, *work = inv + b * b;
    for (size_t i = 0; i < (size_t)n * (size_t)n; i++) Hf[i] = (float)Hr[i];
    double loss = losses ? losses[0] * ref : 0;
    for (int pass = 0; pass < cfg->refine_passes; pass++) {
        double gain = 0;
        for (int64_t k = nb - 1; k >= 0; k--) {
            const int64_t k0 = k * b;
            for (int r = 0; r < b; r++)
                for (int c = 0; c < b; c++) Hkk[r * b + c] = Hr[(k0 + r) * n + k0 + c];
            if (!spd_inverse(Hkk, b, inv, work)) {
                st = qtip_error(QTIP_E_NOT_PD, "refinement: hessian block %lld is not positive definite",
                                (long long)k);
                goto done;
            }
            /* grad = E Hr[:, k]; target = What_k + grad Hkk^-1 (the block's optimum
             * with all other blocks fixed). */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, b, (int)n, 1.0f, E,
                        (int)n, Hf + k0, (int)n, 0.0f, grad, b);
            for (int64_t i = 0; i < m; i++)
                for (int c = 0; c < b; c++) {
                    double s = What[i * n + k0 + c];
                    for (int t = 0; t < b; t++) s += (double)grad[i * b + t] * inv[t * b + c];
                    tgt[i * b + c] = s;
                    tgtf[i * b + c] = (float)s;
                }
            st = cfg->quant(cfg->user, k, tgtf, m, b, rec);
            if (st != QTIP_OK) goto done;
            /* Keep a unit's new codes only if they lower its share of the loss:
             * Euclidean rounding is not H_kk-optimal, so an unguarded step can
             * increase the proxy loss. */
            for (int64_t g0 = 0, u = 0; g0 < m; g0 += G, u++) {
                double before = 0, after = 0;
                for (int64_t i = g0; i < g0 + G; i++) {
                    before += quad_form(What + i * n + k0, tgt + i * b, Hkk, b);
                    after += quad_form(rec + i * b, tgt + i * b, Hkk, b);
                }
                accept[u] = after < before;
                if (!accept[u]) continue;
                gain += before - after;
                for (int64_t i = g0; i < g0 + G; i++)
                    for (int c = 0; c < b; c++) {
                        What[i * n + k0 + c] = rec[i * b + c];
                        E[i * n + k0 + c] = W[i * n + k0 + c] - rec[i * b + c];
                    }
            }
            cfg->commit(cfg->user, k, accept);
        }
        loss -= gain;
        if (losses) losses[pass + 1] = ref > 0 ? loss / ref : 0;
    }
done:
    free(Hf);
    free(grad);
    free(tgtf);
    free(rec);
    free(tgt);
    free(Hkk);
    free(accept);
    return st;
}

qtip_status qtip_ldlq_run(const qtip_ldlq_config *cfg, const float *W, int64_t m, int64_t n,
                          const double *Lu, const double *Hr, float *What, double *losses)
{
    const int b = cfg->b;
    QTIP_RETURN_ERROR_IF(b < 1 || n % b != 0 || m < 1, QTIP_E_SHAPE,
                         "LDLQ needs n divisible by the block size %d, found n %lld", b,
                         (long long)n);
    QTIP_RETURN_ERROR_IF(cfg->group_rows < 1 || m % cfg->group_rows != 0, QTIP_E_SHAPE,
                         "LDLQ needs m divisible by %d rows per code unit, found m %lld",
                         cfg->group_rows, (long long)m);
    QTIP_RETURN_ERROR_IF((cfg->refine_passes > 0 || losses) && !Hr, QTIP_E_PARAM,
                         "LDLQ refinement and losses need the hessian");
    QTIP_RETURN_ERROR_IF(cfg->refine_passes > 0 && !cfg->commit, QTIP_E_PARAM,
                         "LDLQ refinement needs a commit callback");
    const int64_t buf = (int64_t)b * (128 / b > 0 ? 128 / b : 1);
    size_t mn = (size_t)m * (size_t)n, mb = (size_t)m * (size_t)b;
    float *E = qtip_calloc(mn, sizeof(float), "LDLQ error");
    float *P = cfg->feedback ? qtip_calloc(mn, sizeof(float), "LDLQ feedback") : NULL;
    float *Luf = cfg->feedback ? qtip_alloc((size_t)n * (size_t)n, sizeof(float), "LDLQ factor") : NULL;
    float *tgt = qtip_alloc(mb, sizeof(float), "LDLQ target");
    float *rec = qtip_alloc(mb, sizeof(float), "LDLQ recon");
    qtip_status st = QTIP_OK;
    if (!E || !tgt || !rec || (cfg->feedback && (!P || !Luf))) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    if (cfg->feedback)
        for (size_t i = 0; i < (size_t)n * (size_t)n; i++) Luf[i] = (float)Lu[i];

    const int64_t nbuf = (n + buf - 1) / buf;
    uint64_t blocks_done = 0, blocks_total = (uint64_t)(n / b);
    for (int64_t bi = nbuf - 1; bi >= 0; bi--) {
        const int64_t s = bi * buf, e = s + buf < n ? s + buf : n;
        for (int64_t k0 = e - b; k0 >= s; k0 -= b) {
            for (int64_t i = 0; i < m; i++)
                for (int c = 0; c < b; c++)
                    tgt[i * b + c] = W[i * n + k0 + c] + (P ? P[i * n + k0 + c] : 0.0f);
            if (cfg->feedback && k0 + b < e)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, b,
                            (int)(e - k0 - b), 1.0f, E + k0 + b, (int)n, Luf + (k0 + b) * n + k0,
                            (int)n, 1.0f, tgt, b);
            st = cfg->quant(cfg->user, k0 / b, tgt, m, b, rec);
            if (st != QTIP_OK) goto done;
            if (cfg->commit) cfg->commit(cfg->user, k0 / b, NULL);
            for (int64_t i = 0; i < m; i++)
                for (int c = 0; c < b; c++) {
                    What[i * n + k0 + c] = rec[i * b + c];
                    E[i * n + k0 + c] = W[i * n + k0 + c] - rec[i * b + c];
                }
            qtip_progress("ldlq", ++blocks_done, blocks_total);
        }
        if (cfg->feedback && s > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)s, (int)(e - s),
                        1.0f, E + s, (int)n, Luf + s * n, (int)n, 1.0f, P, (int)n);
    }

    double ref = 0;
    if (losses) {
        double err = 0;
        st = qtip_quant_proxy_terms(W, What, m, n, Hr, &err, &ref);
        if (st != QTIP_OK) goto done;
        losses[0] = ref > 0 ? err / ref : 0;
    }
    if (cfg->refine_passes > 0) st = refine(cfg, W, m, n, Hr, What, E, losses, ref);
done:
    free(E);
    free(P);
    free(Luf);
    free(tgt);
    free(rec);
    return st;
}
