/*
 * viterbi_fast.c — the fast Viterbi pass. Same recursion, same fp32 operations in
 * the same order and the same tie-breaking as viterbi.c, so the same path and cost
 * bit for bit; organized for speed:
 *  - only the 2^(L-KV) group minima survive a step: cost_i[s] = err_i(s) +
 *    best_{i-1}[s >> KV] is formed on the fly and reduced at once to
 *    best_i[j] = min_k cost_i[j + k*G] (first k wins), so a step streams the value
 *    table and touches two small arrays instead of two 2^L cost arrays;
 *  - groups j..j+7 are one vector: their 2^KV candidates cost[j + k*G] are
 *    contiguous states, compared with strict less-than;
 *  - back-pointers as KV bit planes per step (bit j of plane b = bit b of group
 *    j's best k): exactly KV bits per group and step;
 *  - AVX2 when the CPU has it (runtime check, target attribute, one instance per
 *    (KV, V); only sub/mul/add/compare, no FMA), a portable scalar loop otherwise
 *    (and for fewer than 8 groups). QTIP_NO_AVX2=1 forces the portable loop.
 */
#include "trellis_internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define QTIP_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* Sweep i (1 <= i <= S-2): cost_i[s] = err_i(s) + prev[s >> KV] is formed on the
 * fly and reduced at once to next[j] = min_k cost_i[j + k*G] (first k wins), whose
 * arg k is the back-pointer of step i+1. Only the 2^(L-KV) group minima are kept
 * between steps, so a step reads the value table and two small arrays. */
static void sweep_portable(const qtip_trellis *t, const float *prev, float *next, uint8_t *bp,
                           size_t pb, const float *x)
{
    const int L = t->p.L, KV = t->KV, V = t->p.V;
    const uint32_t G = t->G, M = 1u << KV;
    const float *v0 = t->vals, *v1 = t->vals + ((size_t)1 << L);
    memset(bp, 0, pb * (size_t)KV);
    for (uint32_t j = 0; j < G; j++) {
        float b = 0;
        uint32_t arg = 0;
        for (uint32_t k = 0; k < M; k++) {
            uint32_t s = j + k * G;
            float d0 = v0[s] - x[0];
            float e = d0 * d0;
            if (V == 2) {
                float d1 = v1[s] - x[1];
                e = e + d1 * d1;
            }
            float c = e + prev[s >> KV];
            if (k == 0 || c < b) {
                b = c;
                arg = k;
            }
        }
        next[j] = b;
        for (int q = 0; q < KV; q++)
            if ((arg >> q) & 1u) bp[(size_t)q * pb + (j >> 3)] |= (uint8_t)(1u << (j & 7));
    }
}

#ifdef QTIP_HAVE_AVX2_PATH
/* The 8 values prev[(s0 + l) >> KV], l < 8 (s0 a multiple of 8; prev padded by 8). */
__attribute__((target("avx2"), always_inline)) static inline __m256
expand_prev(const float *prev, uint32_t s0, const int KV)
{
    if (KV >= 3) return _mm256_broadcast_ss(prev + (s0 >> KV));
    const __m256i idx = KV == 1 ? _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3)
                                : _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(prev + (s0 >> KV)), idx);
}

__attribute__((target("avx2"), always_inline)) static inline void
sweep_avx2_kv(const qtip_trellis *t, const float *prev, float *next, uint8_t *bp, size_t pb,
              const float *x, const int KV, const int V)
{
    const int L = t->p.L;
    const uint32_t G = t->G, M = 1u << KV;
    const float *v0 = t->vals, *v1 = t->vals + ((size_t)1 << L);
    const __m256 x0 = _mm256_set1_ps(x[0]), x1 = _mm256_set1_ps(V == 2 ? x[1] : 0.0f);
    for (uint32_t j = 0; j < G; j += 8) {
        __m256 b = _mm256_setzero_ps();
        __m256i arg = _mm256_setzero_si256();
        for (uint32_t k = 0; k < M; k++) {
            uint32_t s = j + k * G;
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(v0 + s), x0);
            __m256 e = _mm256_mul_ps(d0, d0);
            if (V == 2) {
                __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(v1 + s), x1);
                e = _mm256_add_ps(e, _mm256_mul_ps(d1, d1));
            }
            __m256 c = _mm256_add_ps(e, expand_prev(prev, s, KV));
            if (k == 0) {
                b = c;
            } else {
                __m256 lt = _mm256_cmp_ps(c, b, _CMP_LT_OQ);
                b = _mm256_blendv_ps(b, c, lt);
                arg = _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(arg), _mm256_castsi256_ps(_mm256_set1_epi32((int)k)), lt));
            }
        }
        _mm256_storeu_ps(next + j, b);
        for (int q = 0; q < KV; q++)
            bp[(size_t)q * pb + (j >> 3)] = (uint8_t)_mm256_movemask_ps(
                _mm256_castsi256_ps(_mm256_slli_epi32(arg, 31 - q)));
    }
}

/* One instance per (KV, V), so the inner loops have constant trip counts. */
__attribute__((target("avx2"))) static void sweep_avx2(const qtip_trellis *t, const float *prev,
                                                      float *next, uint8_t *bp, size_t pb,
                                                      const float *x)
{
#define QTIP_SWEEP_CASE(kv, v)                                                 \
    if (t->KV == kv && t->p.V == v) {                                          \
        sweep_avx2_kv(t, prev, next, bp, pb, x, kv, v);                        \
        return;                                                                \
    }
    QTIP_SWEEP_CASE(1, 1) QTIP_SWEEP_CASE(2, 1) QTIP_SWEEP_CASE(3, 1) QTIP_SWEEP_CASE(4, 1)
    QTIP_SWEEP_CASE(2, 2) QTIP_SWEEP_CASE(4, 2) QTIP_SWEEP_CASE(6, 2) QTIP_SWEEP_CASE(8, 2)
#undef QTIP_SWEEP_CASE
}

static int have_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#endif

const char *qtip_trellis_simd(void)
{
#ifdef QTIP_HAVE_AVX2_PATH
    if (have_avx2() && !getenv("QTIP_NO_AVX2")) return "avx2";
#endif
    return "portable";
}

void qtip_viterbi_fast_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                        int32_t overlap, uint32_t *states, float *cost_out)
{
    const int L = t->p.L, V = t->p.V, KV = t->KV, S = t->S;
    const uint32_t NS = 1u << L, G = t->G, M = 1u << KV;
    const size_t pb = slot->planebytes;
    int use_avx2 = 0;
#ifdef QTIP_HAVE_AVX2_PATH
    use_avx2 = G >= 8 && strcmp(qtip_trellis_simd(), "avx2") == 0;
#endif
    float *prev = slot->cost[0], *next = slot->cost[1];
    const float *v0 = t->vals, *v1 = t->vals + NS;
#define STEP_ERR(s, x)                                                         \
    do {                                                                       \
        float d0_ = v0[s] - (x)[0];                                            \
        e = d0_ * d0_;                                                         \
        if (V == 2) {                                                          \
            float d1_ = v1[s] - (x)[1];                                        \
            e = e + d1_ * d1_;                                                 \
        }                                                                      \
    } while (0)
    /* step 0: cost_0 = err_0 (infinite off the start constraint), reduced to groups */
    uint8_t *bp1 = slot->bp + (size_t)1 * KV * pb;
    memset(bp1, 0, pb * (size_t)KV);
    for (uint32_t j = 0; j < G; j++) {
        float b = 0, e;
        uint32_t arg = 0;
        for (uint32_t k = 0; k < M; k++) {
            uint32_t s = j + k * G;
            STEP_ERR(s, seq);
            float c = (overlap >= 0 && (s >> KV) != (uint32_t)overlap) ? INFINITY : e;
            if (k == 0 || c < b) {
                b = c;
                arg = k;
            }
        }
        prev[j] = b;
        for (int q = 0; q < KV; q++)
            if ((arg >> q) & 1u) bp1[(size_t)q * pb + (j >> 3)] |= (uint8_t)(1u << (j & 7));
    }
    for (int q = 0; q < 8; q++) prev[G + q] = next[G + q] = 0; /* padding read by expand_prev */
    for (int i = 1; i + 1 < S; i++) {
        uint8_t *bp = slot->bp + (size_t)(i + 1) * KV * pb;
#ifdef QTIP_HAVE_AVX2_PATH
        if (use_avx2) sweep_avx2(t, prev, next, bp, pb, seq + (size_t)i * V);
        else
#endif
            sweep_portable(t, prev, next, bp, pb, seq + (size_t)i * V);
        float *tmp = prev;
        prev = next;
        next = tmp;
    }
    /* last step: cost_{S-1}[s] = err + prev[s >> KV] (or err alone when S == 1) */
    const float *xl = seq + (size_t)(S - 1) * V;
    uint32_t fin = 0;
    float fc = 0;
    int found = 0;
    for (uint32_t s = 0; s < NS; s++) {
        if (overlap >= 0 && (s & (G - 1)) != (uint32_t)overlap) continue;
        float e;
        STEP_ERR(s, xl);
        float c = S > 1 ? e + prev[s >> KV] : e;
        if (!found || c < fc) {
            fc = c;
            fin = s;
            found = 1;
        }
    }
#undef STEP_ERR
    states[S - 1] = fin;
    for (int i = S - 1; i > 0; i--) {
        uint32_t j = states[i] >> KV, k = 0;
        const uint8_t *bp = slot->bp + (size_t)i * KV * pb + (j >> 3);
        for (int q = 0; q < KV; q++) k |= (uint32_t)((bp[(size_t)q * pb] >> (j & 7)) & 1u) << q;
        states[i - 1] = j | (k << (L - KV));
    }
    if (cost_out) *cost_out = fc;
}
