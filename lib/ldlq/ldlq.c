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
#include "core/internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* ---------------------------------------------------------------------------
 * Unit-level paths (cfg->quant_units): one OpenMP loop over units per column
 * block in the sweep, one for the whole refinement; no BLAS call inside them
 * (OpenBLAS's own threads and OpenMP's spinning workers fought for the cores
 * when the two alternated per block: most of the old run time was spin-waiting).
 * ------------------------------------------------------------------------- */

/* Outcome of one OpenMP worker. Error messages are thread-local (core.c), so a
 * worker keeps a copy of its message for the calling thread. */
typedef struct {
    qtip_status st;
    char *msg;
} worker_result;

static void worker_record(worker_result *r, qtip_status st)
{
    r->st = st;
    r->msg = NULL;
    if (st == QTIP_OK) return;
    const char *m = qtip_last_error();
    size_t len = strlen(m);
    r->msg = malloc(len + 1);
    if (r->msg) memcpy(r->msg, m, len + 1);
}

/* First failure in thread order, its message set on the calling thread. Threads
 * own increasing contiguous unit ranges and stop at their first failing unit, so
 * this is the failure of the lowest failing row whatever the thread count. */
static qtip_status worker_collect(worker_result *r, int nt)
{
    qtip_status st = QTIP_OK;
    for (int t = 0; t < nt; t++) {
        if (st == QTIP_OK && r[t].st != QTIP_OK) {
            st = r[t].st;
            if (r[t].msg) qtip_error(st, "%s", r[t].msg);
        }
        free(r[t].msg);
        r[t].msg = NULL;
    }
    return st;
}

/* Contiguous share of `total` items for thread `t` of `nt`. */
static void thread_range(int64_t total, int t, int nt, int64_t *lo, int64_t *hi)
{
    int64_t q = total / nt, r = total % nt;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r ? 1 : 0);
}

/* One OpenMP loop over `units`: each thread runs fn on its contiguous range
 * [lo, hi), stopping at its first failure; the result is worker_collect's (the
 * lowest failing unit's). Serial when units < min_units. */
typedef qtip_status (*unit_range_fn)(void *arg, int64_t lo, int64_t hi);

static qtip_status parallel_units(int64_t units, int64_t min_units, unit_range_fn fn, void *arg)
{
    const int nt = qtip_threads() > 0 ? qtip_threads() : 1;
    worker_result tst[256];
    const int ntt = nt < 256 ? nt : 256;
    for (int t = 0; t < ntt; t++) tst[t] = (worker_result){QTIP_OK, NULL};
#pragma omp parallel num_threads(ntt) if (units >= min_units)
    {
        int t = 0, tn = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        tn = omp_get_num_threads();
#endif
        int64_t lo, hi;
        thread_range(units, t, tn, &lo, &hi);
        worker_record(&tst[t], fn(arg, lo, hi));
    }
    return worker_collect(tst, ntt);
}

/* One column block of the sweep for units [u0, u1): target = W + P + feedback
 * from the finished blocks of this buffer (columns k0+b .. e-1), in a fixed
 * order per row; quantize; record What, E; commit. */
static qtip_status sweep_units(const qtip_ldlq_config *cfg, const float *W, const float *P,
                               const float *Luf, float *E, float *What, int64_t n, int64_t k0,
                               int64_t e, const int64_t *iota, int64_t u0, int64_t u1, float *tgt,
                               float *rec)
{
    const int b = cfg->b, G = cfg->group_rows;
    for (int64_t i = u0 * G; i < u1 * G; i++) {
        float acc[64];
        for (int c = 0; c < b; c++) acc[c] = 0.0f;
        if (Luf)
            for (int64_t j = k0 + b; j < e; j++) {
                const float ej = E[i * n + j], *Lr = Luf + j * n + k0;
                for (int c = 0; c < b; c++) acc[c] += ej * Lr[c];
            }
        for (int c = 0; c < b; c++)
            tgt[i * b + c] = (W[i * n + k0 + c] + (P ? P[i * n + k0 + c] : 0.0f)) + acc[c];
    }
    if (u1 <= u0) return QTIP_OK;
    QTIP_FORWARD_IF_ERROR(cfg->quant_units(cfg->user, k0 / b, iota + u0, u1 - u0, tgt + u0 * G * b,
                                           rec + u0 * G * b));
    for (int64_t i = u0 * G; i < u1 * G; i++)
        for (int c = 0; c < b; c++) {
            What[i * n + k0 + c] = rec[i * b + c];
            E[i * n + k0 + c] = W[i * n + k0 + c] - rec[i * b + c];
        }
    cfg->commit_units(cfg->user, k0 / b, iota + u0, u1 - u0);
    return QTIP_OK;
}

/* Scratch of one refinement range: the units of a block visit (list), each
 * unit's run of quiet visits, targets (double and float) and reconstructions. */
typedef struct {
    int64_t *list, *quiet;
    float *tgtf, *rec;
    double *tgt;
} refine_scratch;

/* target = What_k + (E Hr)_k Hkk^-1 for the nl listed units: the block's
 * optimum with the other blocks fixed. */
static void unit_targets(const qtip_ldlq_config *cfg, int64_t n, int64_t k0, const double *inv,
                         const float *What, const double *Gd, refine_scratch *s, int64_t nl)
{
    const int b = cfg->b, G = cfg->group_rows;
    for (int64_t l = 0; l < nl; l++)
        for (int r = 0; r < G; r++) {
            const int64_t i = s->list[l] * G + r;
            const double *g = Gd + i * n + k0;
            const size_t o = (size_t)(l * G + r) * (size_t)b;
            for (int c = 0; c < b; c++) {
                double v = What[i * n + k0 + c];
                for (int t = 0; t < b; t++) v += g[t] * inv[t * b + c];
                s->tgt[o + (size_t)c] = v;
                s->tgtf[o + (size_t)c] = (float)v;
            }
        }
}

/* Unit u (list entry l) takes its new block codes: What and the rows of Gd
 * (E changes by What_old - What_new on column k0 + t). */
static void take_unit(const qtip_ldlq_config *cfg, int64_t n, int64_t k0, const double *Hr,
                      float *What, double *Gd, const float *rec, int64_t u, int64_t l)
{
    const int b = cfg->b, G = cfg->group_rows;
    for (int r = 0; r < G; r++) {
        const int64_t i = u * G + r;
        const size_t o = (size_t)(l * G + r) * (size_t)b;
        double *g = Gd + i * n;
        for (int t = 0; t < b; t++) {
            const double d = (double)What[i * n + k0 + t] - (double)rec[o + (size_t)t];
            What[i * n + k0 + t] = rec[o + (size_t)t];
            if (d == 0) continue;
            const double *h = Hr + (k0 + t) * n;
            for (int64_t j = 0; j < n; j++) g[j] += d * h[j];
        }
    }
}

/* Keep new codes only where they lower the unit's loss (Euclidean rounding is
 * not Hkk-optimal); the accepted units, in order, reuse the list. Returns
 * their count. */
static int64_t keep_better(const qtip_ldlq_config *cfg, int64_t n, int64_t k0, const double *Hkk,
                           const double *Hr, float *What, double *Gd, refine_scratch *s,
                           int64_t nl, int64_t u0, double *gain)
{
    const int b = cfg->b, G = cfg->group_rows;
    int64_t na = 0;
    for (int64_t l = 0; l < nl; l++) {
        const int64_t u = s->list[l];
        double before = 0, after = 0;
        for (int r = 0; r < G; r++) {
            const int64_t i = u * G + r;
            const size_t o = (size_t)(l * G + r) * (size_t)b;
            before += quad_form(What + i * n + k0, s->tgt + o, Hkk, b);
            after += quad_form(s->rec + o, s->tgt + o, Hkk, b);
        }
        if (!(after < before)) {
            s->quiet[u - u0]++;
            continue;
        }
        s->quiet[u - u0] = 0;
        gain[u] += before - after;
        take_unit(cfg, n, k0, Hr, What, Gd, s->rec, u, l);
        s->list[na++] = u;
    }
    return na;
}

/* Greedy refinement on units [u0, u1), all passes. Gd (m x n, double) holds
 * E Hr for these rows and is kept current by rank-b updates as blocks change.
 * A unit whose other blocks did not change since block k was last visited has
 * the same target for k, hence the same (rejected) outcome: it is skipped, and a
 * unit with nb - 1 quiet visits in a row is converged. gains: passes x units. */
static qtip_status refine_units_range(const qtip_ldlq_config *cfg, int64_t n, const double *Hr,
                                      const double *inv_all, const double *Hkk_all, float *What,
                                      double *Gd, int64_t u0, int64_t u1, double *gains,
                                      int64_t units)
{
    const int b = cfg->b;
    const int64_t nb = n / b, cnt = u1 - u0;
    if (cnt <= 0) return QTIP_OK;
    const size_t vals = (size_t)(cnt * cfg->group_rows) * (size_t)b;
    refine_scratch s;
    s.list = qtip_alloc((size_t)cnt, sizeof(int64_t), "refinement units");
    s.quiet = qtip_calloc((size_t)cnt, sizeof(int64_t), "refinement state");
    s.tgtf = qtip_alloc(vals, sizeof(float), "refinement target");
    s.rec = qtip_alloc(vals, sizeof(float), "refinement recon");
    s.tgt = qtip_alloc(vals, sizeof(double), "refinement target");
    qtip_status st = s.list && s.quiet && s.tgtf && s.rec && s.tgt ? QTIP_OK : QTIP_E_NOMEM;
    for (int pass = 0; st == QTIP_OK && pass < cfg->refine_passes; pass++) {
        double *gain = gains + (size_t)pass * (size_t)units;
        for (int64_t k = nb - 1; st == QTIP_OK && k >= 0; k--) {
            const int64_t k0 = k * b;
            int64_t nl = 0;
            for (int64_t u = u0; u < u1; u++)
                if (pass == 0 || s.quiet[u - u0] < nb - 1) s.list[nl++] = u;
            if (!nl) continue;
            unit_targets(cfg, n, k0, inv_all + (size_t)k * (size_t)(b * b), What, Gd, &s, nl);
            st = cfg->quant_units(cfg->user, k, s.list, nl, s.tgtf, s.rec);
            if (st != QTIP_OK) break;
            int64_t na = keep_better(cfg, n, k0, Hkk_all + (size_t)k * (size_t)(b * b), Hr, What,
                                     Gd, &s, nl, u0, gain);
            if (na) cfg->commit_units(cfg->user, k, s.list, na);
        }
    }
    free(s.list);
    free(s.quiet);
    free(s.tgtf);
    free(s.rec);
    free(s.tgt);
    return st;
}

typedef struct {
    const qtip_ldlq_config *cfg;
    int64_t n;
    const double *Hr, *inv_all, *Hkk_all;
    float *What;
    double *Gd, *gains;
    int64_t units;
} refine_args;

static qtip_status refine_range(void *arg, int64_t lo, int64_t hi)
{
    refine_args *a = arg;
    return refine_units_range(a->cfg, a->n, a->Hr, a->inv_all, a->Hkk_all, a->What, a->Gd, lo, hi,
                              a->gains, a->units);
}

static qtip_status refine_units(const qtip_ldlq_config *cfg, const float *W, int64_t m, int64_t n,
                                const double *Hr, float *What, double *losses, double loss0_err,
                                double *Gd, double ref)
{
    const int b = cfg->b, G = cfg->group_rows;
    const int64_t nb = n / b, units = m / G;
    const int passes = cfg->refine_passes;
    double *blk = qtip_alloc((size_t)nb * 2 * (size_t)(b * b), sizeof(double), "refinement blocks");
    double *work = qtip_alloc((size_t)(b * b), sizeof(double), "refinement scratch");
    double *gains = qtip_calloc((size_t)passes * (size_t)units, sizeof(double), "refinement gains");
    int64_t *iota = qtip_alloc((size_t)units, sizeof(int64_t), "unit indices");
    qtip_status st = QTIP_OK;
    (void)W;
    if (!blk || !work || !gains || !iota) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    for (int64_t u = 0; u < units; u++) iota[u] = u;
    double *Hkk_all = blk, *inv_all = blk + (size_t)nb * (size_t)(b * b);
    for (int64_t k = 0; k < nb; k++) {
        double *Hkk = Hkk_all + (size_t)k * (size_t)(b * b);
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b; c++) Hkk[r * b + c] = Hr[(k * b + r) * n + k * b + c];
        if (!spd_inverse(Hkk, b, inv_all + (size_t)k * (size_t)(b * b), work)) {
            st = qtip_error(QTIP_E_NOT_PD, "refinement: hessian block %lld is not positive definite",
                            (long long)k);
            goto done;
        }
    }
    refine_args ra = {cfg, n, Hr, inv_all, Hkk_all, What, Gd, gains, units};
    st = parallel_units(units, 0, refine_range, &ra);
    if (st != QTIP_OK) goto done;
    if (losses) {
        double loss = loss0_err;
        for (int p = 0; p < passes; p++) {
            double g = 0;
            for (int64_t u = 0; u < units; u++) g += gains[(size_t)p * (size_t)units + (size_t)u];
            loss -= g;
            losses[p + 1] = ref > 0 ? loss / ref : 0;
        }
    }
done:
    free(blk);
    free(work);
    free(gains);
    free(iota);
    return st;
}

/* Gd = (W - What) Hr in double (one dgemm over all rows) and the error term
 * tr((W-What) Hr (W-What)^T), rows summed in order. */
static qtip_status error_products(const float *W, const float *What, int64_t m, int64_t n,
                                  const double *Hr, double *Gd, double *err)
{
    const size_t mn = (size_t)m * (size_t)n;
    double *Ed = qtip_alloc(mn, sizeof(double), "refinement error");
    if (!Ed) return QTIP_E_NOMEM;
    for (size_t i = 0; i < mn; i++) Ed[i] = (double)W[i] - (double)What[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0, Ed, (int)n,
                Hr, (int)n, 0.0, Gd, (int)n);
    double tot = 0;
    for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += Ed[i * n + j] * Gd[i * n + j];
        tot += s;
    }
    free(Ed);
    *err = tot;
    return QTIP_OK;
}

static qtip_status check_config(const qtip_ldlq_config *cfg, int64_t m, int64_t n,
                                const double *Hr, const double *losses)
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
    QTIP_RETURN_ERROR_IF(cfg->refine_passes > 0 && !cfg->commit && !cfg->quant_units,
                         QTIP_E_PARAM, "LDLQ refinement needs a commit callback");
    QTIP_RETURN_ERROR_IF(cfg->quant_units && !cfg->commit_units, QTIP_E_PARAM,
                         "LDLQ unit callbacks need both quant_units and commit_units");
    QTIP_RETURN_ERROR_IF(b > 64, QTIP_E_PARAM, "LDLQ block size must be at most 64, found %d", b);
    return QTIP_OK;
}

/* The sweep's state: E = W - What on finished columns, P the feedback of
 * finished buffers (NULL without feedback), Luf the float factor. */
typedef struct {
    const qtip_ldlq_config *cfg;
    const float *W;
    float *What;
    int64_t m, n, units;
    float *E, *P, *Luf, *tgt, *rec;
    int64_t *iota; /* 0 .. units-1 (unit callbacks) */
    uint64_t blocks_done, blocks_total;
} sweep_state;

static void sweep_free(sweep_state *S)
{
    free(S->iota);
    free(S->E);
    free(S->P);
    free(S->Luf);
    free(S->tgt);
    free(S->rec);
}

static qtip_status sweep_alloc(sweep_state *S, const double *Lu)
{
    const qtip_ldlq_config *cfg = S->cfg;
    const size_t mn = (size_t)S->m * (size_t)S->n, mb = (size_t)S->m * (size_t)cfg->b;
    S->E = qtip_calloc(mn, sizeof(float), "LDLQ error");
    S->P = cfg->feedback ? qtip_calloc(mn, sizeof(float), "LDLQ feedback") : NULL;
    S->Luf = cfg->feedback ? qtip_alloc((size_t)S->n * (size_t)S->n, sizeof(float), "LDLQ factor") : NULL;
    S->tgt = qtip_alloc(mb, sizeof(float), "LDLQ target");
    S->rec = qtip_alloc(mb, sizeof(float), "LDLQ recon");
    if (cfg->quant_units) {
        S->iota = qtip_alloc((size_t)S->units, sizeof(int64_t), "unit indices");
        if (S->iota)
            for (int64_t u = 0; u < S->units; u++) S->iota[u] = u;
    }
    if (!S->E || !S->tgt || !S->rec || (cfg->feedback && (!S->P || !S->Luf)) ||
        (cfg->quant_units && !S->iota))
        return QTIP_E_NOMEM;
    if (cfg->feedback)
        for (size_t i = 0; i < (size_t)S->n * (size_t)S->n; i++) S->Luf[i] = (float)Lu[i];
    return QTIP_OK;
}

/* Column block k0 (buffer ending at e) through the unit callbacks, one OpenMP
 * loop over units. */
typedef struct {
    sweep_state *S;
    int64_t k0, e;
} sweep_args;

static qtip_status sweep_range(void *arg, int64_t lo, int64_t hi)
{
    const sweep_args *a = arg;
    const sweep_state *S = a->S;
    const qtip_ldlq_config *cfg = S->cfg;
    return sweep_units(cfg, S->W, S->P, cfg->feedback ? S->Luf : NULL, S->E, S->What, S->n, a->k0,
                       a->e, S->iota, lo, hi, S->tgt, S->rec);
}

static qtip_status sweep_block_units(sweep_state *S, int64_t k0, int64_t e)
{
    sweep_args a = {S, k0, e};
    return parallel_units(S->units, 16, sweep_range, &a);
}

/* Column block k0 (buffer ending at e) through the block callbacks. */
static qtip_status sweep_block_plain(sweep_state *S, int64_t k0, int64_t e)
{
    const qtip_ldlq_config *cfg = S->cfg;
    const int b = cfg->b;
    const int64_t m = S->m, n = S->n;
    for (int64_t i = 0; i < m; i++)
        for (int c = 0; c < b; c++)
            S->tgt[i * b + c] = S->W[i * n + k0 + c] + (S->P ? S->P[i * n + k0 + c] : 0.0f);
    if (cfg->feedback && k0 + b < e)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, b, (int)(e - k0 - b), 1.0f,
                    S->E + k0 + b, (int)n, S->Luf + (k0 + b) * n + k0, (int)n, 1.0f, S->tgt, b);
    QTIP_FORWARD_IF_ERROR(cfg->quant(cfg->user, k0 / b, S->tgt, m, b, S->rec));
    if (cfg->commit) cfg->commit(cfg->user, k0 / b, NULL);
    for (int64_t i = 0; i < m; i++)
        for (int c = 0; c < b; c++) {
            S->What[i * n + k0 + c] = S->rec[i * b + c];
            S->E[i * n + k0 + c] = S->W[i * n + k0 + c] - S->rec[i * b + c];
        }
    return QTIP_OK;
}

/* Buffers of 128 columns from the last to the first; inside a buffer feedback
 * is direct, finished buffers reach earlier columns through P. */
static qtip_status sweep(sweep_state *S)
{
    const qtip_ldlq_config *cfg = S->cfg;
    const int b = cfg->b;
    const int64_t n = S->n, buf = (int64_t)b * (128 / b > 0 ? 128 / b : 1);
    for (int64_t bi = (n + buf - 1) / buf - 1; bi >= 0; bi--) {
        const int64_t s = bi * buf, e = s + buf < n ? s + buf : n;
        for (int64_t k0 = e - b; k0 >= s; k0 -= b) {
            QTIP_FORWARD_IF_ERROR(cfg->quant_units ? sweep_block_units(S, k0, e)
                                                   : sweep_block_plain(S, k0, e));
            qtip_progress("ldlq", ++S->blocks_done, S->blocks_total);
        }
        if (cfg->feedback && s > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S->m, (int)s, (int)(e - s),
                        1.0f, S->E + s, (int)n, S->Luf + s * n, (int)n, 1.0f, S->P, (int)n);
    }
    return QTIP_OK;
}

/* After the sweep: the losses and the refinement passes. */
static qtip_status finish(sweep_state *S, const double *Hr, double *losses)
{
    const qtip_ldlq_config *cfg = S->cfg;
    const int64_t m = S->m, n = S->n;
    double ref = 0, err = 0;
    if (cfg->quant_units && cfg->refine_passes > 0) {
        free(S->P);
        S->P = NULL;
        free(S->Luf);
        S->Luf = NULL;
        double *Gd = qtip_alloc((size_t)m * (size_t)n, sizeof(double), "refinement gradient");
        if (!Gd) return QTIP_E_NOMEM;
        qtip_status st = error_products(S->W, S->What, m, n, Hr, Gd, &err);
        if (st == QTIP_OK && losses) st = qtip_quant_proxy_terms(S->W, S->W, m, n, Hr, NULL, &ref);
        if (st == QTIP_OK && losses) losses[0] = ref > 0 ? err / ref : 0;
        if (st == QTIP_OK) st = refine_units(cfg, S->W, m, n, Hr, S->What, losses, err, Gd, ref);
        free(Gd);
        return st;
    }
    if (losses) {
        QTIP_FORWARD_IF_ERROR(qtip_quant_proxy_terms(S->W, S->What, m, n, Hr, &err, &ref));
        losses[0] = ref > 0 ? err / ref : 0;
    }
    if (cfg->refine_passes > 0) return refine(cfg, S->W, m, n, Hr, S->What, S->E, losses, ref);
    return QTIP_OK;
}

qtip_status qtip_ldlq_run(const qtip_ldlq_config *cfg, const float *W, int64_t m, int64_t n,
                          const double *Lu, const double *Hr, float *What, double *losses)
{
    QTIP_FORWARD_IF_ERROR(check_config(cfg, m, n, Hr, losses));
    sweep_state S;
    memset(&S, 0, sizeof S);
    S.cfg = cfg;
    S.W = W;
    S.What = What;
    S.m = m;
    S.n = n;
    S.units = m / cfg->group_rows;
    S.blocks_total = (uint64_t)(n / cfg->b);
    qtip_status st = sweep_alloc(&S, Lu);
    if (st == QTIP_OK) st = sweep(&S);
    if (st == QTIP_OK) st = finish(&S, Hr, losses);
    sweep_free(&S);
    return st;
}
