/*
 * viterbi.c — the reference Viterbi pass over the bitshift trellis: plain loops,
 * one full predecessor state per group and step. Slow and memory hungry
 * (4 * 2^(L-KV) * T/V bytes); it is the yardstick the fast pass is tested against.
 *
 * Recursion (qtip.md §2.2): cost_0[s] = err(s, 0); for each step i and group j
 * (the states whose predecessors are j + k * 2^(L-KV), k < 2^KV), the group's
 * best predecessor is the first k of lowest cost; cost_i[s] = err(s, i) +
 * best[s >> KV]; the path ends in the first state of lowest cost. err(s, i) is
 * the squared error less the step's |x|^2, added as trellis_codes.h's branch cost.
 */
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <math.h>

/* The branch cost of state s at a step of targets x after a path of cost prev
 * (trellis_codes.h: the squared error less |x|^2); the fast pass evaluates this
 * same expression. */
static float branch(const qtip_trellis *t, uint32_t s, const float *x, float prev)
{
    const int V = t->p.V;
    const float v1 = V == 2 ? t->vals[((size_t)1 << t->p.L) + s] : 0.0f;
    return qtip_trellis_branch_cost(prev, t->norm[s], t->vals[s], -2.0f * x[0], v1,
                                    V == 2 ? -2.0f * x[1] : 0.0f, V);
}

qtip_status qtip_viterbi_reference_(const qtip_trellis *t, const float *seq, int32_t overlap,
                                    uint32_t *states, float *cost_out)
{
    const int L = t->p.L, V = t->p.V, KV = t->KV, S = t->S;
    const uint32_t NS = 1u << L, G = t->G, M = 1u << KV;
    float *cost = qtip_alloc(NS, sizeof(float), "viterbi costs");
    float *next = qtip_alloc(NS, sizeof(float), "viterbi costs");
    float *best = qtip_alloc(G, sizeof(float), "viterbi group minima");
    uint32_t *from = qtip_alloc((size_t)S * G, sizeof(uint32_t), "viterbi back-pointers");
    if (!cost || !next || !best || !from) {
        free(cost);
        free(next);
        free(best);
        free(from);
        return QTIP_E_NOMEM;
    }

    for (uint32_t s = 0; s < NS; s++) {
        cost[s] = branch(t, s, seq, 0.0f);
        if (overlap >= 0 && (s >> KV) != (uint32_t)overlap) cost[s] = INFINITY;
    }
    for (int i = 1; i < S; i++) {
        for (uint32_t j = 0; j < G; j++) {
            float b = cost[j];
            uint32_t arg = 0;
            for (uint32_t k = 1; k < M; k++) {
                float c = cost[j + k * G];
                if (c < b) {
                    b = c;
                    arg = k;
                }
            }
            best[j] = b;
            from[(size_t)i * G + j] = j + (arg << (L - KV));
        }
        for (uint32_t s = 0; s < NS; s++) next[s] = branch(t, s, seq + (size_t)i * V, best[s >> KV]);
        float *tmp = cost;
        cost = next;
        next = tmp;
    }
    uint32_t fin = 0;
    float fc = INFINITY;
    int found = 0;
    for (uint32_t s = 0; s < NS; s++) {
        if (overlap >= 0 && (s & (G - 1)) != (uint32_t)overlap) continue;
        if (!found || cost[s] < fc) {
            fc = cost[s];
            fin = s;
            found = 1;
        }
    }
    states[S - 1] = fin;
    for (int i = S - 1; i > 0; i--) states[i - 1] = from[(size_t)i * G + (states[i] >> KV)];
    if (cost_out) *cost_out = fc;
    free(cost);
    free(next);
    free(best);
    free(from);
    return QTIP_OK;
}

qtip_status qtip_viterbi_reference_minima_(const qtip_trellis *t, const float *seq, int nsteps,
                                           float *out)
{
    const int L = t->p.L, V = t->p.V, KV = t->KV;
    const uint32_t NS = 1u << L, G = t->G, M = 1u << KV;
    if (nsteps <= 0) {
        for (uint32_t j = 0; j < G; j++) out[j] = 0.0f;
        return QTIP_OK;
    }
    float *cost = qtip_alloc(NS, sizeof(float), "viterbi costs");
    if (!cost) return QTIP_E_NOMEM;
    for (uint32_t s = 0; s < NS; s++) cost[s] = branch(t, s, seq, 0.0f);
    for (int i = 1; i <= nsteps; i++) {
        for (uint32_t j = 0; j < G; j++) {
            float b = cost[j];
            for (uint32_t k = 1; k < M; k++)
                if (cost[j + k * G] < b) b = cost[j + k * G];
            out[j] = b;
        }
        if (i == nsteps) break;
        /* cost_i in place: state s reads out[s >> KV], already final */
        for (uint32_t s = 0; s < NS; s++) cost[s] = branch(t, s, seq + (size_t)i * V, out[s >> KV]);
    }
    free(cost);
    return QTIP_OK;
}
