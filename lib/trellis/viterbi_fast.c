/*
 * viterbi_fast.c — the fast Viterbi pass. Same recursion, same fp32 operations in
 * the same order and the same tie-breaking as viterbi.c, so the same path and cost
 * bit for bit; organized for speed:
 *  - only the 2^(L-KV) group minima survive a step: cost_i[s] = err_i(s) +
 *    best_{i-1}[s >> KV] is formed on the fly and reduced at once to
 *    best_i[j] = min_k cost_i[j + k*G] (first k wins), so a step streams the value
 *    table and touches two small arrays instead of two 2^L cost arrays;
 *  - the branch cost is trellis_codes.h's fma(v1, m1, fma(v0, m0, n + prev))
 *    (the squared error less the step's constant |x|^2): three operations per
 *    candidate instead of six; a 576x576 layer quantizes 12% faster than with the
 *    difference-and-square form (2-core development machine, interleaved runs);
 *  - the first step is an ordinary sweep over a start row of 0 (allowed) and +inf
 *    (excluded by the start constraint): n + 0 == n and n + inf == inf exactly;
 *  - groups j..j+7 are one vector whose 2^KV candidates cost[j + k*G] are
 *    contiguous states; the minimum over k is a tournament (pairs, then pairs of
 *    winners, ...) in which the right side wins only when strictly smaller, which
 *    is the first-lowest-k rule of the sequential scan; the comparison masks of
 *    the tournament are the back-pointer bits, stored as KV bit planes per step
 *    (bit j of plane b = bit b of group j's best k): exactly KV bits per group;
 *  - the value and norm tables are read in a search layout (trellis_internal.h,
 *    vals8): each block of 8 groups streams its 2^KV x (V + 1) vectors in order,
 *    whole cache lines, instead of rows 4*G bytes apart that alias in L1;
 *  - fp32 value tables: an fp16 copy (exact for 3INST/HYB) halves the bytes but
 *    measured slower on the development machine (vcvtph2ps costs more than the
 *    L2 traffic it saves), so it is not used;
 *  - AVX2 + FMA when the CPU has them (runtime check, target attribute, one
 *    instance per (KV, V)), a portable scalar loop otherwise (and for fewer than
 *    8 groups; its fmaf rounds the same). QTIP_NO_AVX2=1 forces the portable loop.
 */
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define QTIP_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* One step (portable): next[j] = min_k (err(j + k*G) + prev[(j + k*G) >> KV]),
 * first k wins; its arg k into the KV bit planes at bp. */
static void sweep_portable(const qtip_trellis *t, const float *prev, float *next, uint8_t *bp,
                           size_t pb, const float *x)
{
    const int L = t->p.L, KV = t->KV, V = t->p.V;
    const uint32_t G = t->G, M = 1u << KV;
    const float *v0 = t->vals, *v1 = t->vals + ((size_t)1 << L);
    const float m0 = -2.0f * x[0], m1 = V == 2 ? -2.0f * x[1] : 0.0f;
    memset(bp, 0, pb * (size_t)KV);
    for (uint32_t j = 0; j < G; j++) {
        float b = 0;
        uint32_t arg = 0;
        for (uint32_t k = 0; k < M; k++) {
            uint32_t s = j + k * G;
            float c = qtip_trellis_branch_cost(prev[s >> KV], t->norm[s], v0[s], m0,
                                               V == 2 ? v1[s] : 0.0f, m1, V);
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
#define QTIP_AVX2 __attribute__((target("avx2,fma")))
#define QTIP_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

/* The 8 values prev[(s0 + l) >> KV], l < 8 (s0 a multiple of 8; prev padded by 8),
 * without cross-lane permutes (slow on cores that split 256-bit operations): two
 * 128-bit broadcasts for KV = 2, an in-lane permute of a 128-bit broadcast for
 * KV = 1, a broadcast for KV >= 3. */
QTIP_AVX2_INLINE __m256 expand_prev(const float *prev, uint32_t s0, const int KV)
{
    const float *p = prev + (s0 >> KV);
    if (KV >= 3) return _mm256_broadcast_ss(p);
    if (KV == 2)
        return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_broadcast_ss(p)), _mm_broadcast_ss(p + 1), 1);
    const __m256 a = _mm256_broadcast_ps((const __m128 *)(const void *)p);
    return _mm256_permutevar_ps(a, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
}

/* Cost vector of candidate k of groups j..j+7: the branch cost (trellis_codes.h)
 * of states s..s+7 after prev[(j + k*G) >> KV], the same operations in the same
 * order: fma(v1, m1, fma(v0, m0, n + prev)). bv: the block in the search layout
 * (trellis_internal.h: vals8), the (V + 1) x 8 values and norms of candidate k at
 * bv + 8*(V+1)*k; s = j + k*G; m0, m1: -2 x. */
QTIP_AVX2_INLINE __m256 candidate(const float *bv, uint32_t k, const float *prev, __m256 m0,
                                  __m256 m1, uint32_t s, const int KV, const int V)
{
    const float *a0 = bv + (size_t)k * 8 * (V + 1);
    __m256 c = _mm256_add_ps(_mm256_load_ps(a0 + 8 * V), expand_prev(prev, s, KV));
    c = _mm256_fmadd_ps(_mm256_load_ps(a0), m0, c);
    if (V == 2) c = _mm256_fmadd_ps(_mm256_load_ps(a0 + 8), m1, c);
    return c;
}

/* A tournament node: the minimum over 2^n candidates and the first k of it, bit
 * b of k in mask b (b < n). */
typedef struct {
    __m256 c, b[4];
} node_;

typedef struct {
    const float *bv;
    uint32_t j;
    const float *prev;
    __m256 m0, m1;
    uint32_t G;
} sweep_ctx_;

/* Merge of two sibling nodes of 2^n candidates each; the right one wins only when
 * strictly smaller, so the first lowest k survives. (Comparing the costs' bit
 * patterns as int32, valid since costs are never negative, measured no faster.) */
QTIP_AVX2_INLINE node_ merge(node_ l, node_ r, const int n)
{
    node_ o;
    __m256 lt = _mm256_cmp_ps(r.c, l.c, _CMP_LT_OQ);
    o.c = _mm256_min_ps(r.c, l.c); /* r < l ? r : l */
    for (int q = 0; q < n; q++) o.b[q] = _mm256_blendv_ps(l.b[q], r.b[q], lt);
    o.b[n] = lt;
    for (int q = n + 1; q < 4; q++) o.b[q] = lt;
    return o;
}

QTIP_AVX2_INLINE node_ leaf(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    node_ o;
    o.c = candidate(x->bv, k, x->prev, x->m0, x->m1, x->j + k * x->G, KV, V);
    for (int q = 0; q < 4; q++) o.b[q] = o.c;
    return o;
}

/* Depth first, so few vectors are live at a time: candidates k .. k + 2^n - 1. */
QTIP_AVX2_INLINE node_ t2(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    node_ l = leaf(x, k, KV, V);
    node_ r = leaf(x, k + 1, KV, V);
    return merge(l, r, 0);
}
QTIP_AVX2_INLINE node_ t4(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    node_ l = t2(x, k, KV, V);
    node_ r = t2(x, k + 2, KV, V);
    return merge(l, r, 1);
}
QTIP_AVX2_INLINE node_ t8(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    node_ l = t4(x, k, KV, V);
    node_ r = t4(x, k + 4, KV, V);
    return merge(l, r, 2);
}
QTIP_AVX2_INLINE node_ t16(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    node_ l = t8(x, k, KV, V);
    node_ r = t8(x, k + 8, KV, V);
    return merge(l, r, 3);
}

/* Candidates k0 .. k0 + 2^NB - 1 (NB <= 4) of groups j..j+7: their minimum, and
 * the first k of it in NB masks (bit b of k - k0). */
QTIP_AVX2_INLINE __m256 tournament(const float *bv, const float *prev, __m256 m0, __m256 m1,
                                   uint32_t j, uint32_t G, uint32_t k0, __m256 *mask,
                                   const int NB, const int KV, const int V)
{
    sweep_ctx_ x;
    x.bv = bv;
    x.j = j;
    x.prev = prev;
    x.m0 = m0;
    x.m1 = m1;
    x.G = G;
    node_ o = NB == 1 ? t2(&x, k0, KV, V)
              : NB == 2 ? t4(&x, k0, KV, V)
              : NB == 3 ? t8(&x, k0, KV, V)
                        : t16(&x, k0, KV, V);
    for (int q = 0; q < NB; q++) mask[q] = o.b[q];
    return o.c;
}

/* Groups j..j+7 of one step: next[j..j+7] and KV bytes of back-pointer bits. */
QTIP_AVX2_INLINE void block_avx2(const float *bv, const float *prev, float *next, uint8_t *bp,
                                 size_t pb, __m256 m0, __m256 m1, uint32_t j, uint32_t G,
                                 const int KV, const int V)
{
    __m256 mask[4];
    if (KV <= 4) {
        __m256 b = tournament(bv, prev, m0, m1, j, G, 0, mask, KV, KV, V);
        _mm256_storeu_ps(next + j, b);
        for (int q = 0; q < KV; q++) bp[(size_t)q * pb + (j >> 3)] = (uint8_t)_mm256_movemask_ps(mask[q]);
        return;
    }
    /* more than 16 candidates: tournaments of 16, merged in k order (a later
     * chunk wins only when strictly smaller) */
    __m256 best = tournament(bv, prev, m0, m1, j, G, 0, mask, 4, KV, V);
    __m256i arg = _mm256_setzero_si256();
    for (int b = 0; b < 4; b++)
        arg = _mm256_or_si256(arg, _mm256_and_si256(_mm256_castps_si256(mask[b]), _mm256_set1_epi32(1 << b)));
    for (uint32_t c = 1; c < (1u << KV) / 16; c++) {
        __m256 m = tournament(bv, prev, m0, m1, j, G, 16 * c, mask, 4, KV, V);
        __m256i a = _mm256_set1_epi32((int)(16 * c));
        for (int b = 0; b < 4; b++)
            a = _mm256_or_si256(a, _mm256_and_si256(_mm256_castps_si256(mask[b]), _mm256_set1_epi32(1 << b)));
        __m256 lt = _mm256_cmp_ps(m, best, _CMP_LT_OQ);
        best = _mm256_min_ps(m, best);
        arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(arg), _mm256_castsi256_ps(a), lt));
    }
    _mm256_storeu_ps(next + j, best);
    for (int q = 0; q < KV; q++)
        bp[(size_t)q * pb + (j >> 3)] =
            (uint8_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(arg, 31 - q)));
}

QTIP_AVX2_INLINE void sweep_avx2_kv(const qtip_trellis *t, const float *prev, float *next, uint8_t *bp,
                                    size_t pb, const float *x, const int KV, const int V)
{
    const uint32_t G = t->G;
    /* the branch cost's m0, m1: -2 x */
    const __m256 m0 = _mm256_set1_ps(-2.0f * x[0]), m1 = _mm256_set1_ps(V == 2 ? -2.0f * x[1] : 0.0f);
    const size_t blk = (size_t)8 * (V + 1) << KV; /* floats per block of 8 groups */
    for (uint32_t j = 0; j < G; j += 8)
        block_avx2(t->vals8 + (j >> 3) * blk, prev, next, bp, pb, m0, m1, j, G, KV, V);
}

/* One instance per (KV, V), so the loops have constant trip counts. */
QTIP_AVX2 static void sweep_avx2(const qtip_trellis *t, const float *prev, float *next, uint8_t *bp,
                                 size_t pb, const float *x)
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
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
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

/* One sweep of either kernel. */
static void sweep(const qtip_trellis *t, int use_avx2, const float *prev, float *next, uint8_t *bp,
                  size_t pb, const float *x)
{
#ifdef QTIP_HAVE_AVX2_PATH
    if (use_avx2) {
        sweep_avx2(t, prev, next, bp, pb, x);
        return;
    }
#endif
    (void)use_avx2;
    sweep_portable(t, prev, next, bp, pb, x);
}

static int want_avx2(const qtip_trellis *t)
{
#ifdef QTIP_HAVE_AVX2_PATH
    return t->G >= 8 && strcmp(qtip_trellis_simd(), "avx2") == 0;
#else
    (void)t;
    return 0;
#endif
}

void qtip_viterbi_fast_minima_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                               int nsteps, float *out)
{
    const uint32_t G = t->G;
    const int use_avx2 = want_avx2(t);
    float *prev = slot->cost[0], *next = slot->cost[1];
    for (uint32_t u = 0; u < G + 8; u++) prev[u] = 0.0f; /* start row, then padding */
    for (int q = 0; q < 8; q++) next[G + q] = 0;
    /* the back-pointers are not wanted: every sweep writes step 0's planes */
    for (int i = 0; i < nsteps; i++) {
        sweep(t, use_avx2, prev, next, slot->bp, slot->planebytes, seq + (size_t)i * t->p.V);
        float *tmp = prev;
        prev = next;
        next = tmp;
    }
    memcpy(out, prev, (size_t)G * sizeof(float));
}

void qtip_viterbi_fast_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                        int32_t overlap, uint32_t *states, float *cost_out)
{
    qtip_viterbi_fast_snap_(t, slot, seq, overlap, states, cost_out, 0, NULL);
}

void qtip_viterbi_fast_snap_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                             int32_t overlap, uint32_t *states, float *cost_out, int snap_steps,
                             float *snap)
{
    const int L = t->p.L, V = t->p.V, KV = t->KV, S = t->S;
    const uint32_t NS = 1u << L, G = t->G, M = 1u << KV;
    const size_t pb = slot->planebytes;
    const int use_avx2 = want_avx2(t);
    float *prev = slot->cost[0], *next = slot->cost[1];
    const float *v0 = t->vals, *v1 = t->vals + NS;
    const float m0 = -2.0f * seq[(size_t)(S - 1) * V], m1 = V == 2 ? -2.0f * seq[(size_t)(S - 1) * V + 1] : 0.0f;
    /* start row: cost_0[s] = err_0(s) + start[s >> KV] */
    for (uint32_t u = 0; u < G; u++) prev[u] = overlap < 0 || u == (uint32_t)overlap ? 0.0f : INFINITY;
    for (int q = 0; q < 8; q++) prev[G + q] = next[G + q] = 0; /* padding read by expand_prev */
    /* Sweep i (0 <= i <= S-2) reduces cost_i to its group minima (next) and writes
     * the back-pointers of step i+1. The unconstrained last step is one more sweep,
     * its bits in plane set 0 (step 0 has no back-pointers). */
    int last_sweep = overlap < 0 && S > 1;
    for (int i = 0; i + 1 < S || (last_sweep && i + 1 == S); i++) {
        uint8_t *bp = slot->bp + (size_t)((i + 1) % S) * KV * pb;
        const float *x = seq + (size_t)i * V;
        sweep(t, use_avx2, prev, next, bp, pb, x);
        float *tmp = prev;
        prev = next;
        next = tmp;
        if (snap && i + 1 == snap_steps) memcpy(snap, prev, (size_t)G * sizeof(float));
    }
    uint32_t fin = 0;
    float fc = 0;
    if (last_sweep) {
        /* prev = group minima of the last step, each with its first best k; the
         * first state of the lowest cost is the one of smallest k, then smallest j */
        uint32_t bk = 0;
        int found = 0;
        for (uint32_t j = 0; j < G; j++) {
            float c = prev[j];
            if (found && !(c <= fc)) continue;
            uint32_t k = 0;
            for (int q = 0; q < KV; q++) k |= (uint32_t)((slot->bp[(size_t)q * pb + (j >> 3)] >> (j & 7)) & 1u) << q;
            if (!found || c < fc || k < bk) {
                fc = c;
                bk = k;
                fin = j + k * G;
                found = 1;
            }
        }
    } else {
        /* constrained (or a single step): the allowed final states; prev is the
         * last sweep's group minima, or the start row when S == 1 */
        uint32_t jlo = overlap < 0 ? 0 : (uint32_t)overlap, jhi = overlap < 0 ? G : jlo + 1;
        int found = 0;
        for (uint32_t k = 0; k < M; k++) {
            for (uint32_t j = jlo; j < jhi; j++) {
                uint32_t s = j + k * G;
                float c = qtip_trellis_branch_cost(prev[s >> KV], t->norm[s], v0[s], m0,
                                                   V == 2 ? v1[s] : 0.0f, m1, V);
                if (!found || c < fc || (c == fc && s < fin)) {
                    fc = c;
                    fin = s;
                    found = 1;
                }
            }
        }
    }
    states[S - 1] = fin;
    for (int i = S - 1; i > 0; i--) {
        uint32_t j = states[i] >> KV, k = 0;
        const uint8_t *bp = slot->bp + (size_t)i * KV * pb + (j >> 3);
        for (int q = 0; q < KV; q++) k |= (uint32_t)((bp[(size_t)q * pb] >> (j & 7)) & 1u) << q;
        states[i - 1] = j | (k << (L - KV));
    }
    if (cost_out) *cost_out = fc;
}
