/*
 * trellis_codebook.c — the value tables of all 2^L states (through the code's
 * traits row), the HYB k-means table, and decoding.
 */
#include "core/rng.h"
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

size_t qtip_trellis_words_per_tile(const qtip_trellis_params *p)
{
    return (size_t)p->td_x * (size_t)p->td_y * (size_t)p->K / 16;
}

/* ---------------------------------------------------------------------------
 * HYB table: Lloyd k-means of 2-D standard normal samples. Nearest centroid by
 * a sweep over centroids sorted by x, stopped once dx^2 exceeds the best
 * distance: exact (ties to the lowest index), much faster than all pairs.
 * ------------------------------------------------------------------------- */
#define KMEANS_SEED 0x51749ULL
typedef struct {
    double x, y;
    int idx;
} centroid_;

static int cmp_centroid(const void *a, const void *b)
{
    const centroid_ *p = (const centroid_ *)a, *q = (const centroid_ *)b;
    if (p->x < q->x) return -1;
    if (p->x > q->x) return 1;
    return p->idx - q->idx;
}

/* prev: the point's previous centroid (its current position bounds the search),
 * or -1. */
static int nearest(const centroid_ *c, int n, const double *cen, int prev, double px, double py)
{
    /* start at the first centroid with x >= px (binary search) */
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c[mid].x < px) lo = mid + 1;
        else hi = mid;
    }
    double best = INFINITY;
    int bi = -1;
    if (prev >= 0) {
        double dx = cen[2 * prev] - px, dy = cen[2 * prev + 1] - py;
        best = dx * dx + dy * dy;
        bi = prev;
    }
    for (int dir = 0; dir < 2; dir++) {
        for (int j = dir ? lo - 1 : lo; j >= 0 && j < n; j += dir ? -1 : 1) {
            double dx = c[j].x - px, dy = c[j].y - py, dx2 = dx * dx;
            if (dx2 > best) break;
            double d = dx2 + dy * dy;
            if (d < best || (d == best && (bi < 0 || c[j].idx < bi))) {
                best = d;
                bi = c[j].idx;
            }
        }
    }
    return bi;
}

void qtip_trellis_hyb_normalize_(const double *cen, int n, float *out)
{
    /* tlut / tlut.std(unbiased=False) * sqrt(15/16), over all n entries */
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += cen[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (cen[i] - mean) * (cen[i] - mean);
    double sd = sqrt(var / n);
    for (int i = 0; i < n; i++) out[i] = qtip_round_fp16((float)(cen[i] / sd * QTIP_HYB_STD));
}

qtip_status qtip_trellis_hyb_kmeans_(int Q, size_t n, int max_iters, float *out, int *iters_out)
{
    int C = 1 << Q;
    double *pts = qtip_alloc(n * 2, sizeof(double), "k-means samples");
    double *cen = qtip_alloc((size_t)C * 2, sizeof(double), "k-means centroids");
    double *sum = qtip_alloc((size_t)C * 3, sizeof(double), "k-means sums");
    double *dist = qtip_alloc(n, sizeof(double), "k-means distances");
    centroid_ *sorted = qtip_alloc((size_t)C, sizeof(centroid_), "k-means index");
    int *assign = qtip_alloc(n, sizeof(int), "k-means assignment");
    qtip_status st = QTIP_OK;
    int it = 0;
    if (!pts || !cen || !sum || !dist || !sorted || !assign) {
        st = QTIP_E_NOMEM;
        goto done;
    }
    uint64_t seed = KMEANS_SEED + (uint64_t)Q;
    for (size_t i = 0; i < n; i++) qtip_det_normal_pair(&seed, &pts[2 * i], &pts[2 * i + 1]);
    for (int c = 0; c < C; c++) { /* initial guess: random normal points, as randn(C, 2) */
        qtip_det_normal_pair(&seed, &cen[2 * c], &cen[2 * c + 1]);
    }
    for (size_t i = 0; i < n; i++) assign[i] = -1;
    /* Lloyd iterations until the mean (non-squared) distance to the nearest
     * centroid improves by at most 1e-5, as scipy.cluster.vq.kmeans with an
     * initial code book (the reference's stopping rule) */
    double prev_avg = INFINITY;
    for (it = 0; it < max_iters; it++) {
        for (int c = 0; c < C; c++) {
            sorted[c].x = cen[2 * c];
            sorted[c].y = cen[2 * c + 1];
            sorted[c].idx = c;
        }
        qsort(sorted, (size_t)C, sizeof *sorted, cmp_centroid);
#pragma omp parallel for schedule(static) num_threads(qtip_threads())
        for (long i = 0; i < (long)n; i++) {
            int a = nearest(sorted, C, cen, assign[i], pts[2 * i], pts[2 * i + 1]);
            double dx = cen[2 * a] - pts[2 * i], dy = cen[2 * a + 1] - pts[2 * i + 1];
            dist[i] = sqrt(dx * dx + dy * dy);
            assign[i] = a;
        }
        /* sums in sample order: independent of the thread count */
        double avg = 0;
        for (size_t i = 0; i < n; i++) avg += dist[i];
        avg /= (double)n;
        memset(sum, 0, (size_t)C * 3 * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            double *s = sum + 3 * assign[i];
            s[0] += pts[2 * i];
            s[1] += pts[2 * i + 1];
            s[2] += 1.0;
        }
        for (int c = 0; c < C; c++)
            if (sum[3 * c + 2] > 0) { /* an empty cluster keeps its centroid */
                cen[2 * c] = sum[3 * c] / sum[3 * c + 2];
                cen[2 * c + 1] = sum[3 * c + 1] / sum[3 * c + 2];
            }
        if (prev_avg - avg <= 1e-5) { /* scipy returns the updated code book */
            it++;
            break;
        }
        prev_avg = avg;
    }
    qtip_trellis_hyb_normalize_(cen, 2 * C, out);
done:
    if (iters_out) *iters_out = it;
    free(pts);
    free(cen);
    free(sum);
    free(dist);
    free(sorted);
    free(assign);
    return st;
}

/* The HYB table depends on Q only: build it once per process. */
static pthread_mutex_t hyb_lock = PTHREAD_MUTEX_INITIALIZER;
static float *hyb_cache[16];

static qtip_status hyb_table(int Q, float *out)
{
    qtip_status st = QTIP_OK;
    pthread_mutex_lock(&hyb_lock);
    if (!hyb_cache[Q]) {
        float *tab = qtip_alloc((size_t)2 << Q, sizeof(float), "hyb table");
        if (!tab) st = QTIP_E_NOMEM;
        else if (Q == QTIP_HYB_TABLE_Q) {
            for (int i = 0; i < 2 << Q; i++) tab[i] = qtip_fp16_to_float(qtip_hyb_table_q9_[i]);
            hyb_cache[Q] = tab;
        } else if ((st = qtip_trellis_hyb_kmeans_(Q, (size_t)128 << Q, 60, tab, NULL)) != QTIP_OK)
            free(tab);
        else hyb_cache[Q] = tab;
    }
    if (st == QTIP_OK) memcpy(out, hyb_cache[Q], ((size_t)2 << Q) * sizeof(float));
    pthread_mutex_unlock(&hyb_lock);
    return st;
}

/* ---------------------------------------------------------------------------
 * Codebook objects
 * ------------------------------------------------------------------------- */
/* The table of a new codebook: the given one (checked finite) or the code's
 * own (HYB k-means, LUT fp16 Gaussian values from a fixed seed). */
static qtip_status fill_tlut(qtip_trellis *t, const qtip_code_traits *ct, const float *tlut)
{
    if (tlut) {
        for (size_t i = 0; i < t->tlut_n; i++)
            QTIP_RETURN_ERROR_IF(!isfinite(tlut[i]), QTIP_E_NONFINITE,
                                 "cannot create trellis codebook: tlut entry %zu is %g", i,
                                 (double)tlut[i]);
        memcpy(t->tlut, tlut, t->tlut_n * sizeof(float));
        return QTIP_OK;
    }
    if (ct->tlut == QTIP_TLUT_HYB) return hyb_table(t->p.Q, t->tlut);
    uint64_t seed = 0x1A7ULL + (uint64_t)t->p.L;
    for (size_t i = 0; i < t->tlut_n; i += 2) {
        double a, b;
        qtip_det_normal_pair(&seed, &a, &b);
        t->tlut[i] = qtip_round_fp16((float)a);
        if (i + 1 < t->tlut_n) t->tlut[i + 1] = qtip_round_fp16((float)b);
    }
    return QTIP_OK;
}

/* vals: every state's V values through the code's value function; norm: their
 * squared norms; vals8: the search layout of both (trellis_internal.h); rms over
 * all values. */
static qtip_status fill_values(qtip_trellis *t, const qtip_code_traits *ct)
{
    const qtip_trellis_params *p = &t->p;
    const uint32_t NS = 1u << p->L;
    const size_t runs = (size_t)p->V + 1;
    for (uint32_t s = 0; s < NS; s++) {
        float v2[2] = {0, 0};
        ct->values(s, p, t->tlut, v2);
        for (int v = 0; v < p->V; v++) t->vals[((size_t)v << p->L) + s] = v2[v];
        t->norm[s] = qtip_trellis_norm(v2[0], v2[1], p->V);
    }
    if (t->G >= 8) {
        t->vals8 = qtip_alloc((size_t)NS * runs, sizeof(float), "trellis search table");
        if (!t->vals8) return QTIP_E_NOMEM;
        for (uint32_t s = 0; s < NS; s++) {
            uint32_t j = s & (t->G - 1), k = s >> (p->L - t->KV);
            float *blk = t->vals8 + (((((size_t)(j >> 3) << t->KV) + k) * runs) << 3) + (j & 7);
            for (int v = 0; v < p->V; v++) blk[(size_t)v << 3] = t->vals[((size_t)v << p->L) + s];
            blk[(size_t)p->V << 3] = t->norm[s];
        }
    }
    double ss = 0;
    for (size_t i = 0; i < (size_t)NS * p->V; i++) ss += (double)t->vals[i] * t->vals[i];
    t->rms = sqrt(ss / ((double)NS * p->V));
    return QTIP_OK;
}

static qtip_status build(const qtip_trellis_params *p, const float *tlut, int make_tlut,
                         qtip_trellis **out)
{
    QTIP_RETURN_ERROR_IF(!out, QTIP_E_PARAM, "cannot create trellis codebook: no output pointer");
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    const qtip_code_traits *ct = qtip_code_get_traits((int)p->code);
    const size_t tlut_n = qtip_trellis_tlut_shape(p, NULL, NULL);
    QTIP_RETURN_ERROR_IF(!make_tlut && tlut_n && !tlut, QTIP_E_PARAM,
                         "cannot create trellis codebook: code '%s' needs a tlut", ct->name);
    qtip_trellis *t = qtip_calloc(1, sizeof *t, "trellis codebook");
    if (!t) return QTIP_E_NOMEM;
    t->p = *p;
    t->T = p->td_x * p->td_y;
    t->S = t->T / p->V;
    t->KV = p->K * p->V;
    t->G = 1u << (p->L - t->KV);
    t->tlut_n = tlut_n;
    t->vals = qtip_alloc((size_t)1 << p->L, (size_t)p->V * sizeof(float), "trellis value table");
    t->norm = qtip_alloc((size_t)1 << p->L, sizeof(float), "trellis norm table");
    qtip_status st = t->vals && t->norm ? QTIP_OK : QTIP_E_NOMEM;
    if (st == QTIP_OK && tlut_n) {
        t->tlut = qtip_alloc(tlut_n, sizeof(float), "trellis tlut");
        st = t->tlut ? fill_tlut(t, ct, tlut) : QTIP_E_NOMEM;
    }
    if (st == QTIP_OK) st = fill_values(t, ct);
    if (st != QTIP_OK) {
        qtip_trellis_free(t);
        return st;
    }
    *out = t;
    return QTIP_OK;
}

qtip_status qtip_trellis_create(const qtip_trellis_params *p, qtip_trellis **out)
{
    return build(p, NULL, 1, out);
}

qtip_status qtip_trellis_create_with_lut(const qtip_trellis_params *p, const float *tlut,
                                         qtip_trellis **out)
{
    return build(p, tlut, 0, out);
}

void qtip_trellis_free(qtip_trellis *t)
{
    if (!t) return;
    free(t->vals);
    free(t->norm);
    free(t->vals8);
    free(t->tlut);
    free(t);
}

const qtip_trellis_params *qtip_trellis_get_params(const qtip_trellis *t) { return &t->p; }

void qtip_trellis_state_values(const qtip_trellis *t, uint32_t state, float *out)
{
    state &= (1u << t->p.L) - 1u;
    for (int v = 0; v < t->p.V; v++) out[v] = t->vals[((size_t)v << t->p.L) + state];
}

const float *qtip_trellis_values(const qtip_trellis *t) { return t->vals; }

const float *qtip_trellis_lut(const qtip_trellis *t, size_t *count)
{
    if (count) *count = t->tlut_n;
    return t->tlut;
}

double qtip_trellis_rms(const qtip_trellis *t) { return t->rms; }

qtip_status qtip_trellis_decode(const qtip_trellis *t, const uint16_t *bits, size_t nseq,
                                float *out)
{
    QTIP_RETURN_ERROR_IF(!t || (nseq && (!bits || !out)), QTIP_E_PARAM,
                         "cannot decode trellis bitstreams: null argument");
    const int L = t->p.L, V = t->p.V, S = t->S, KV = t->KV;
    const size_t nw = qtip_trellis_words_per_tile(&t->p), T = (size_t)t->T;
#pragma omp parallel for schedule(static) num_threads(qtip_threads()) if (nseq > 16)
    for (long q = 0; q < (long)nseq; q++) {
        const uint16_t *w = bits + (size_t)q * nw;
        float *o = out + (size_t)q * T;
        for (int i = 0; i < S; i++) {
            uint32_t s = qtip_trellis_window(w, (uint32_t)nw, (uint32_t)(i * KV), L);
            for (int v = 0; v < V; v++) o[i * V + v] = t->vals[((size_t)v << L) + s];
        }
    }
    return QTIP_OK;
}
