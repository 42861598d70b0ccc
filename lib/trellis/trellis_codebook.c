/*
 * trellis_codebook.c — trellis parameters, their validation, the value tables of
 * all 2^L states, the HYB k-means table, and decoding.
 */
#include "core/rng.h"
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static const char *const code_names[] = {"1mad", "2mad", "3inst", "lut", "quantlut_sym"};

const char *qtip_code_name(qtip_code c)
{
    if ((unsigned)c >= sizeof code_names / sizeof code_names[0]) return "unknown";
    return code_names[c];
}

int qtip_code_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < (int)(sizeof code_names / sizeof code_names[0]); i++)
        if (strcmp(name, code_names[i]) == 0) return i;
    if (strcmp(name, "hyb") == 0) return QTIP_CODE_HYB;
    return -1;
}

qtip_trellis_params qtip_trellis_default_params(void)
{
    qtip_trellis_params p;
    p.L = 16;
    p.K = 2;
    p.V = 2;
    p.Q = 9;
    p.code = QTIP_CODE_HYB;
    p.td_x = 16;
    p.td_y = 16;
    return p;
}

#define BAD(...) qtip_error(QTIP_E_PARAM, "invalid trellis parameters: " __VA_ARGS__)

qtip_status qtip_trellis_check_params(const qtip_trellis_params *p)
{
    QTIP_RETURN_ERROR_IF(!p, QTIP_E_PARAM, "invalid trellis parameters: none given");
    if (p->L < 8 || p->L > 16) return BAD("L is %d, expected 8..16", p->L);
    if (p->K < 1 || p->K > 4) return BAD("K is %d, expected 1..4", p->K);
    if (p->V != 1 && p->V != 2) return BAD("V is %d, expected 1 or 2", p->V);
    if (p->K * p->V >= p->L)
        return BAD("K*V is %d, expected less than L (%d)", p->K * p->V, p->L);
    switch (p->code) {
    case QTIP_CODE_1MAD:
    case QTIP_CODE_2MAD:
    case QTIP_CODE_3INST:
        if (p->V != 1) return BAD("V is %d, code '%s' needs V=1", p->V, qtip_code_name(p->code));
        if (p->Q != 0) return BAD("Q is %d, code '%s' needs Q=0", p->Q, qtip_code_name(p->code));
        break;
    case QTIP_CODE_LUT:
        if (p->Q != p->L) return BAD("Q is %d, code 'lut' needs Q=L (%d)", p->Q, p->L);
        break;
    case QTIP_CODE_HYB:
        if (p->V != 2) return BAD("V is %d, code 'quantlut_sym' needs V=2", p->V);
        if (p->Q < 1 || p->Q > 15) return BAD("Q is %d, code 'quantlut_sym' needs 1..15", p->Q);
        break;
    default:
        return BAD("code is %d, expected 0..4", (int)p->code);
    }
    if (p->td_x < 1 || p->td_x > 65536) return BAD("td_x is %d, expected 1..65536", p->td_x);
    if (p->td_y < 1 || p->td_y > 65536) return BAD("td_y is %d, expected 1..65536", p->td_y);
    long long T = (long long)p->td_x * p->td_y;
    if (T > 65536) return BAD("tile %d x %d has %lld values, expected at most 65536", p->td_x, p->td_y, T);
    if (T % p->V) return BAD("tile %d x %d has %lld values, not a multiple of V (%d)", p->td_x, p->td_y, T, p->V);
    if ((T * p->K) % 16)
        return BAD("tile %d x %d at K=%d has %lld bits, not a multiple of 16", p->td_x, p->td_y,
                   p->K, T * p->K);
    if (T * p->K < p->L)
        return BAD("tile %d x %d at K=%d has %lld bits, fewer than L (%d)", p->td_x, p->td_y, p->K,
                   T * p->K, p->L);
    return QTIP_OK;
}

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
    /* tlut / tlut.std(unbiased=False) * sqrt(15/16), over all 2C entries */
    double mean = 0, var = 0;
    for (int i = 0; i < 2 * C; i++) mean += cen[i];
    mean /= 2 * C;
    for (int i = 0; i < 2 * C; i++) var += (cen[i] - mean) * (cen[i] - mean);
    double sd = sqrt(var / (2 * C));
    for (int i = 0; i < 2 * C; i++) out[i] = qtip_round_fp16((float)(cen[i] / sd * QTIP_HYB_STD));
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
static qtip_status build(const qtip_trellis_params *p, const float *tlut, int make_tlut,
                         qtip_trellis **out)
{
    QTIP_RETURN_ERROR_IF(!out, QTIP_E_PARAM, "cannot create trellis codebook: no output pointer");
    *out = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    int needs = p->code == QTIP_CODE_HYB || p->code == QTIP_CODE_LUT;
    QTIP_RETURN_ERROR_IF(!make_tlut && needs && !tlut, QTIP_E_PARAM,
                         "cannot create trellis codebook: code '%s' needs a tlut",
                         qtip_code_name(p->code));
    qtip_trellis *t = qtip_calloc(1, sizeof *t, "trellis codebook");
    if (!t) return QTIP_E_NOMEM;
    t->p = *p;
    t->T = p->td_x * p->td_y;
    t->S = t->T / p->V;
    t->KV = p->K * p->V;
    t->G = 1u << (p->L - t->KV);
    uint32_t NS = 1u << p->L;
    t->vals = qtip_alloc((size_t)NS * p->V, sizeof(float), "trellis value table");
    if (!t->vals) goto nomem;
    if (needs) {
        t->tlut_n = p->code == QTIP_CODE_HYB ? (size_t)2 << p->Q : (size_t)NS * p->V;
        t->tlut = qtip_alloc(t->tlut_n, sizeof(float), "trellis tlut");
        if (!t->tlut) goto nomem;
        if (tlut) {
            for (size_t i = 0; i < t->tlut_n; i++)
                if (!isfinite(tlut[i])) {
                    qtip_trellis_free(t);
                    return qtip_error(QTIP_E_NONFINITE, "cannot create trellis codebook: tlut entry %zu is %g", i,
                                      (double)tlut[i]);
                }
            memcpy(t->tlut, tlut, t->tlut_n * sizeof(float));
        } else if (p->code == QTIP_CODE_HYB) {
            qtip_status st = hyb_table(p->Q, t->tlut);
            if (st != QTIP_OK) {
                qtip_trellis_free(t);
                return st;
            }
        } else {
            uint64_t seed = 0x1A7ULL + (uint64_t)p->L;
            for (size_t i = 0; i < t->tlut_n; i += 2) {
                double a, b;
                qtip_det_normal_pair(&seed, &a, &b);
                t->tlut[i] = qtip_round_fp16((float)a);
                if (i + 1 < t->tlut_n) t->tlut[i + 1] = qtip_round_fp16((float)b);
            }
        }
    }
    for (uint32_t s = 0; s < NS; s++) {
        switch (p->code) {
        case QTIP_CODE_1MAD: t->vals[s] = qtip_code_1mad(s); break;
        case QTIP_CODE_2MAD: t->vals[s] = qtip_code_2mad(s); break;
        case QTIP_CODE_3INST: t->vals[s] = qtip_code_3inst(s); break;
        case QTIP_CODE_LUT:
            for (int v = 0; v < p->V; v++) t->vals[((size_t)v << p->L) + s] = t->tlut[(size_t)s * p->V + v];
            break;
        case QTIP_CODE_HYB: qtip_code_hyb(s, p->Q, t->tlut, &t->vals[s], &t->vals[NS + s]); break;
        }
    }
    if (t->G >= 8) {
        t->vals8 = qtip_alloc((size_t)NS * p->V, sizeof(float), "trellis search table");
        if (!t->vals8) goto nomem;
        for (uint32_t s = 0; s < NS; s++) {
            uint32_t j = s & (t->G - 1), k = s >> (p->L - t->KV);
            for (int v = 0; v < p->V; v++)
                t->vals8[(((((size_t)(j >> 3) << t->KV) + k) * p->V + (size_t)v) << 3) + (j & 7)] =
                    t->vals[((size_t)v << p->L) + s];
        }
    }
    double ss = 0;
    for (size_t i = 0; i < (size_t)NS * p->V; i++) ss += (double)t->vals[i] * t->vals[i];
    t->rms = sqrt(ss / ((double)NS * p->V));
    *out = t;
    return QTIP_OK;
nomem:
    qtip_trellis_free(t);
    return QTIP_E_NOMEM;
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
