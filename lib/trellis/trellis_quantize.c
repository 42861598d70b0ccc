/*
 * trellis_quantize.c — search scratch, the tail-biting two-pass quantization of
 * one sequence, and the multithreaded batch over sequences.
 */
#include "trellis/trellis_internal.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void slot_free(qtip_trellis_slot *s)
{
    free(s->rows);
    free(s->path);
    free(s->rot);
    free(s->fwd);
    free(s->bwd);
    free(s->rev);
    free(s->keep);
}

void qtip_trellis_work_free(qtip_trellis_work *w)
{
    if (!w) return;
    for (int i = 0; i < w->nslots; i++) slot_free(&w->slots[i]);
    free(w->slots);
    qtip_trellis_free(w->rev);
    free(w);
}

qtip_status qtip_trellis_work_create(const qtip_trellis *t, int nthreads, qtip_trellis_work **out)
{
    QTIP_RETURN_ERROR_IF(!t || !out, QTIP_E_PARAM, "cannot create trellis work: null argument");
    *out = NULL;
    QTIP_RETURN_ERROR_IF(nthreads < 0, QTIP_E_PARAM,
                         "cannot create trellis work: %d threads, expected 0 or more", nthreads);
    int n = nthreads ? nthreads : qtip_threads();
    qtip_trellis_work *w = qtip_calloc(1, sizeof *w, "trellis work");
    if (!w) return QTIP_E_NOMEM;
    w->p = t->p;
    w->tb_n = 1;
    w->slots = qtip_calloc((size_t)n, sizeof *w->slots, "trellis work slots");
    if (!w->slots) {
        free(w);
        return QTIP_E_NOMEM;
    }
    w->nslots = n;
    for (int i = 0; i < n; i++) {
        qtip_trellis_slot *s = &w->slots[i];
        s->rowlen = (size_t)t->G + 8;
        s->rows = qtip_alloc(((size_t)t->S + 1) * s->rowlen, sizeof(float), "viterbi group minima");
        s->path = qtip_alloc((size_t)t->S, sizeof(uint32_t), "viterbi path");
        s->rot = qtip_alloc((size_t)t->T, sizeof(float), "rotated sequence");
        s->fwd = qtip_alloc((size_t)t->G, sizeof(float), "junction minima");
        s->bwd = qtip_alloc((size_t)t->G, sizeof(float), "junction minima");
        s->rev = qtip_alloc((size_t)t->T, sizeof(float), "reversed sequence");
        s->keep = qtip_alloc((size_t)t->S, sizeof(uint32_t), "viterbi path");
        if (!s->rows || !s->path || !s->rot || !s->fwd ||
            !s->bwd || !s->rev || !s->keep) {
            qtip_trellis_work_free(w);
            return QTIP_E_NOMEM;
        }
    }
    *out = w;
    return QTIP_OK;
}

static qtip_status check_work(const qtip_trellis *t, const qtip_trellis_work *w)
{
    QTIP_RETURN_ERROR_IF(w->p.L != t->p.L || w->p.K != t->p.K || w->p.V != t->p.V ||
                             w->p.td_x != t->p.td_x || w->p.td_y != t->p.td_y,
                         QTIP_E_PARAM,
                         "trellis work was made for L=%d K=%d V=%d %dx%d, codebook has L=%d K=%d V=%d %dx%d",
                         w->p.L, w->p.K, w->p.V, w->p.td_x, w->p.td_y, t->p.L, t->p.K, t->p.V,
                         t->p.td_x, t->p.td_y);
    return QTIP_OK;
}

static qtip_status check_finite(const float *x, size_t n, size_t seq)
{
    for (size_t i = 0; i < n; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(x[i]), QTIP_E_NONFINITE,
                             "cannot quantize sequence %zu: value %zu is %g", seq, i % n,
                             (double)x[i]);
    return QTIP_OK;
}

static qtip_status pass(const qtip_trellis *t, qtip_trellis_slot *slot, qtip_viterbi_impl impl,
                        const float *seq, int32_t overlap, uint32_t *states, float *cost)
{
    if (impl == QTIP_VITERBI_REFERENCE) return qtip_viterbi_reference_(t, seq, overlap, states, cost);
    qtip_viterbi_fast_(t, slot, seq, overlap, states, cost);
    return QTIP_OK;
}

qtip_status qtip_trellis_viterbi(const qtip_trellis *t, qtip_trellis_work *w,
                                 qtip_viterbi_impl impl, const float *seq, int32_t overlap,
                                 uint32_t *states, float *cost)
{
    QTIP_RETURN_ERROR_IF(!t || !w || !seq || !states, QTIP_E_PARAM, "viterbi: null argument");
    QTIP_FORWARD_IF_ERROR(check_work(t, w));
    QTIP_RETURN_ERROR_IF(impl != QTIP_VITERBI_FAST && impl != QTIP_VITERBI_REFERENCE, QTIP_E_PARAM,
                         "viterbi: implementation %d, expected 0 or 1", (int)impl);
    QTIP_RETURN_ERROR_IF(overlap >= 0 && (uint32_t)overlap >= t->G, QTIP_E_PARAM,
                         "viterbi: overlap %d, expected below 2^(L-KV) = %u", overlap, t->G);
    QTIP_FORWARD_IF_ERROR(check_finite(seq, (size_t)t->T, 0));
    return pass(t, &w->slots[0], impl, seq, overlap, states, cost);
}

static uint32_t bitrev(uint32_t x, int bits)
{
    uint32_t r = 0;
    for (int b = 0; b < bits; b++) r |= ((x >> b) & 1u) << (bits - 1 - b);
    return r;
}

qtip_status qtip_trellis_work_set_tail_biting(qtip_trellis_work *w, const qtip_trellis *t, int n)
{
    QTIP_RETURN_ERROR_IF(!w || !t, QTIP_E_PARAM, "cannot set the tail-biting search: null argument");
    QTIP_FORWARD_IF_ERROR(check_work(t, w));
    QTIP_RETURN_ERROR_IF(n < 1 || n > 65536, QTIP_E_PARAM,
                         "cannot set the tail-biting search: best of %d overlaps, expected 1..65536", n);
    if (n >= 2 && !w->rev) {
        /* Read backwards, the bitstream is another bitshift trellis whose state u
         * is the bit reversal of a forward state; its table as a LUT code. */
        const int L = t->p.L, V = t->p.V;
        const uint32_t NS = 1u << L;
        qtip_trellis_params rp = t->p;
        rp.code = QTIP_CODE_LUT;
        rp.Q = L;
        float *lut = qtip_alloc((size_t)NS * V, sizeof(float), "reversed trellis table");
        if (!lut) return QTIP_E_NOMEM;
        for (uint32_t u = 0; u < NS; u++)
            for (int v = 0; v < V; v++) lut[(size_t)u * V + v] = t->vals[((size_t)v << L) + bitrev(u, L)];
        qtip_status st = qtip_trellis_create_with_lut(&rp, lut, &w->rev);
        free(lut);
        if (st != QTIP_OK) {
            qtip_error_prefix("cannot set the tail-biting search");
            return st;
        }
    }
    w->tb_n = n;
    return QTIP_OK;
}

void qtip_trellis_tail_biting_name(int n, char *buf, size_t size)
{
    if (n >= 2) snprintf(buf, size, "best-of-%d", n);
    else snprintf(buf, size, "two-pass");
}

int qtip_trellis_tail_biting_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "two-pass") == 0) return 1;
    if (strncmp(name, "best-of-", 8) != 0) return -1;
    const char *d = name + 8;
    long n = 0;
    if (!*d || *d == '0') return -1;
    for (; *d; d++) {
        if (*d < '0' || *d > '9') return -1;
        n = n * 10 + (*d - '0');
        if (n > 65536) return -1;
    }
    return (int)n;
}

/* Best of n overlaps (qtip_trellis_work_set_tail_biting). On entry slot->rot
 * holds the rotated sequence; pass 1 runs here. Result path in slot->path. */
static qtip_status best_of_n(const qtip_trellis *t, const qtip_trellis *rt, qtip_trellis_slot *slot,
                             qtip_viterbi_impl impl, const float *seq, int n)
{
    const int V = t->p.V, S = t->S, KV = t->KV, GB = t->p.L - KV;
    const int hs = S / 2, tail = S - hs;
    const uint32_t G = t->G;
    /* pass 1, and the forward minima of the rotated sequence at the junction
     * (the group of the state at step hs is o: its predecessor's low bits) */
    if (impl == QTIP_VITERBI_REFERENCE || hs == 0) {
        QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, slot->rot, -1, slot->path, NULL));
        if (impl == QTIP_VITERBI_REFERENCE)
            QTIP_FORWARD_IF_ERROR(qtip_viterbi_reference_minima_(t, slot->rot, hs, slot->fwd));
        else
            for (uint32_t o = 0; o < G; o++) slot->fwd[o] = 0.0f;
    } else {
        qtip_viterbi_fast_snap_(t, slot, slot->rot, -1, slot->path, NULL, hs, slot->fwd);
    }
    const uint32_t o1 = slot->path[hs] >> KV;
    /* backward: steps S-1 .. hs of the rotated sequence on the reversed trellis;
     * its group minima at the end are indexed by the low L-KV bits of the
     * reversed state, the bit reversal of o */
    for (int m = 0; m < tail; m++)
        for (int v = 0; v < V; v++) slot->rev[m * V + v] = slot->rot[(S - 1 - m) * V + v];
    if (impl == QTIP_VITERBI_REFERENCE)
        QTIP_FORWARD_IF_ERROR(qtip_viterbi_reference_minima_(rt, slot->rev, tail, slot->bwd));
    else
        qtip_viterbi_fast_minima_(rt, slot, slot->rev, tail, slot->bwd);
    /* bound[o] (in fwd): best unconstrained cost through junction group o */
    for (uint32_t o = 0; o < G; o++) slot->fwd[o] = slot->fwd[o] + slot->bwd[bitrev(o, GB)];

    float best = 0, c = 0, xx = 0;
    for (int i = 0; i < t->T; i++) xx += seq[i] * seq[i];
    uint32_t bo = o1;
    QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, seq, (int32_t)o1, slot->keep, &best));
    slot->fwd[o1] = INFINITY; /* done */
    for (int r = 1; r < n && (uint32_t)r < G; r++) {
        uint32_t o = 0;
        float lb = INFINITY;
        for (uint32_t g = 0; g < G; g++)
            if (slot->fwd[g] < lb) {
                lb = slot->fwd[g];
                o = g;
            }
        /* the bound is an fp32 sum in another order than the pass's: allow for
         * its rounding (relative to the squared error, best + sum |x|^2: costs
         * leave that constant out) before trusting it to rule the rest out */
        if (!(lb <= best + 1e-4f * (best + xx))) break;
        slot->fwd[o] = INFINITY;
        QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, seq, (int32_t)o, slot->path, &c));
        if (c < best || (c == best && o < bo)) {
            best = c;
            bo = o;
            memcpy(slot->keep, slot->path, (size_t)S * sizeof(uint32_t));
        }
    }
    memcpy(slot->path, slot->keep, (size_t)S * sizeof(uint32_t));
    return QTIP_OK;
}

/* The tail-biting search of w (two passes, or best of n) on one finite sequence in one slot. */
static qtip_status tail_biting(const qtip_trellis *t, const qtip_trellis_work *w,
                               qtip_trellis_slot *slot, qtip_viterbi_impl impl, const float *seq,
                               uint16_t *bits, float *recon, uint32_t *states)
{
    const int T = t->T, V = t->p.V, S = t->S, L = t->p.L;
    const int hs = S / 2, shift = hs * V;
    for (int i = 0; i < T; i++) slot->rot[i] = seq[((i - shift) % T + T) % T];
    if (w->tb_n >= 2 && w->rev) {
        QTIP_FORWARD_IF_ERROR(best_of_n(t, w->rev, slot, impl, seq, w->tb_n));
    } else {
        QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, slot->rot, -1, slot->path, NULL));
        int32_t overlap = (int32_t)(slot->path[hs] >> t->KV);
        QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, seq, overlap, slot->path, NULL));
    }
    qtip_trellis_pack_path_(&t->p, slot->path, bits);
    if (recon)
        for (int i = 0; i < S; i++)
            for (int v = 0; v < V; v++) recon[i * V + v] = t->vals[((size_t)v << L) + slot->path[i]];
    if (states) memcpy(states, slot->path, (size_t)S * sizeof(uint32_t));
    return QTIP_OK;
}

qtip_status qtip_trellis_quantize_seq(const qtip_trellis *t, qtip_trellis_work *w,
                                      qtip_viterbi_impl impl, const float *seq,
                                      uint16_t *bits, float *recon, uint32_t *states)
{
    QTIP_RETURN_ERROR_IF(!t || !w || !seq || !bits, QTIP_E_PARAM, "trellis quantize: null argument");
    QTIP_FORWARD_IF_ERROR(check_work(t, w));
    QTIP_RETURN_ERROR_IF(impl != QTIP_VITERBI_FAST && impl != QTIP_VITERBI_REFERENCE, QTIP_E_PARAM,
                         "trellis quantize: implementation %d, expected 0 or 1", (int)impl);
    QTIP_FORWARD_IF_ERROR(check_finite(seq, (size_t)t->T, 0));
    return tail_biting(t, w, &w->slots[0], impl, seq, bits, recon, states);
}

qtip_status qtip_trellis_quantize_work(const qtip_trellis *t, qtip_trellis_work *w,
                                       const float *seq, size_t nseq, uint16_t *bits,
                                       float *recon)
{
    QTIP_RETURN_ERROR_IF(!t || (nseq && (!seq || !bits)), QTIP_E_PARAM,
                         "trellis quantize: null argument");
    if (nseq == 0) return QTIP_OK;
    const size_t T = (size_t)t->T, nw = qtip_trellis_words_per_tile(&t->p);
    for (size_t q = 0; q < nseq; q++) QTIP_FORWARD_IF_ERROR(check_finite(seq + q * T, T, q));
    qtip_trellis_work *own = NULL;
    if (!w) {
        int n = qtip_threads();
        if ((size_t)n > nseq) n = (int)nseq;
        QTIP_FORWARD_IF_ERROR(qtip_trellis_work_create(t, n, &own));
        w = own;
    }
    QTIP_FORWARD_IF_ERROR(check_work(t, w));
    int nt = w->nslots;
    if ((size_t)nt > nseq) nt = (int)nseq;
    /* Each sequence is independent and the fast pass cannot fail, so the result
     * does not depend on the schedule or the thread count. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (long q = 0; q < (long)nseq; q++) {
        int slot = 0;
#ifdef _OPENMP
        slot = omp_get_thread_num();
#endif
        tail_biting(t, w, &w->slots[slot], QTIP_VITERBI_FAST, seq + (size_t)q * T, bits + (size_t)q * nw,
                    recon ? recon + (size_t)q * T : NULL, NULL);
    }
    qtip_trellis_work_free(own);
    return QTIP_OK;
}
