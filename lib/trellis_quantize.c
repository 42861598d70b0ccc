/*
 * trellis_quantize.c — search scratch, the tail-biting two-pass quantization of
 * one sequence, and the multithreaded batch over sequences.
 */
#include "trellis_internal.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void slot_free(qtip_trellis_slot *s)
{
    free(s->cost[0]);
    free(s->cost[1]);
    free(s->best);
    free(s->bp);
    free(s->path);
    free(s->rot);
}

void qtip_trellis_work_free(qtip_trellis_work *w)
{
    if (!w) return;
    for (int i = 0; i < w->nslots; i++) slot_free(&w->slots[i]);
    free(w->slots);
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
    w->slots = qtip_calloc((size_t)n, sizeof *w->slots, "trellis work slots");
    if (!w->slots) {
        free(w);
        return QTIP_E_NOMEM;
    }
    w->nslots = n;
    for (int i = 0; i < n; i++) {
        qtip_trellis_slot *s = &w->slots[i];
        s->planebytes = (t->G + 7) / 8;
        s->cost[0] = qtip_alloc((size_t)t->G + 8, sizeof(float), "viterbi group minima");
        s->cost[1] = qtip_alloc((size_t)t->G + 8, sizeof(float), "viterbi group minima");
        s->best = qtip_alloc((size_t)t->G + 8, sizeof(float), "viterbi group minima");
        s->bp = qtip_alloc((size_t)t->S * t->KV * s->planebytes, 1, "viterbi back-pointers");
        s->path = qtip_alloc((size_t)t->S, sizeof(uint32_t), "viterbi path");
        s->rot = qtip_alloc((size_t)t->T, sizeof(float), "rotated sequence");
        if (!s->cost[0] || !s->cost[1] || !s->best || !s->bp || !s->path || !s->rot) {
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

/* The two passes on one finite sequence in one slot. */
static qtip_status tail_biting(const qtip_trellis *t, qtip_trellis_slot *slot,
                               qtip_viterbi_impl impl, const float *seq, uint16_t *bits,
                               float *recon, uint32_t *states)
{
    const int T = t->T, V = t->p.V, S = t->S, L = t->p.L;
    const int hs = S / 2, shift = hs * V;
    for (int i = 0; i < T; i++) slot->rot[i] = seq[((i - shift) % T + T) % T];
    QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, slot->rot, -1, slot->path, NULL));
    int32_t overlap = (int32_t)(slot->path[hs] >> t->KV);
    QTIP_FORWARD_IF_ERROR(pass(t, slot, impl, seq, overlap, slot->path, NULL));
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
    return tail_biting(t, &w->slots[0], impl, seq, bits, recon, states);
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
        tail_biting(t, &w->slots[slot], QTIP_VITERBI_FAST, seq + (size_t)q * T, bits + (size_t)q * nw,
                    recon ? recon + (size_t)q * T : NULL, NULL);
    }
    qtip_trellis_work_free(own);
    return QTIP_OK;
}

qtip_status qtip_trellis_quantize(const qtip_trellis *t, const float *seq, size_t nseq,
                                  uint16_t *bits, float *recon)
{
    return qtip_trellis_quantize_work(t, NULL, seq, nseq, bits, recon);
}
