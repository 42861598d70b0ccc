/*
 * viterbi_fast.c — the fast Viterbi pass. Same recursion, same fp32 operations in
 * the same order and the same tie-breaking as viterbi.c, so the same path and cost
 * bit for bit; organized for speed:
 *  - only the 2^(L-KV) group minima survive a step: cost_i[s] = err_i(s) +
 *    best_{i-1}[s >> KV] is formed on the fly and reduced at once to
 *    best_i[j] = min_k cost_i[j + k*G], so a step streams the value table and
 *    writes one small row;
 *  - no back-pointers: every row of group minima is kept (S + 1 rows of G + 8
 *    floats per thread: 2.1 MB at L=16, K=2, V=2) and the traceback recomputes
 *    the 2^KV branch costs of the one group it visits per step, the same fp32
 *    operations, so the same first lowest k as the reference's scan. The sweep
 *    is then a minimum only: tracking the arg k through the tournament (KV
 *    blends per merge and a movemask per plane) was a third of its operations;
 *    a 576x576 HYB K=2 layer quantizes about 1.12x faster without it;
 *  - the branch cost is trellis_codes.h's fma(v1, m1, fma(v0, m0, n + prev))
 *    (the squared error less the step's constant |x|^2): three operations per
 *    candidate instead of six; a 576x576 layer quantizes 12% faster than with the
 *    difference-and-square form (2-core development machine, interleaved runs);
 *  - the first step is an ordinary sweep over a start row of 0 (allowed) and +inf
 *    (excluded by the start constraint): n + 0 == n and n + inf == inf exactly;
 *  - groups j..j+7 are one vector whose 2^KV candidates cost[j + k*G] are
 *    contiguous states; their minimum is a tournament (pairs, then pairs of
 *    winners, ...);
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

/* The branch cost of state s of a step with input x after the group minima prev. */
static inline float cost_of(const qtip_trellis *t, const float *prev, uint32_t s, float m0, float m1)
{
    const int V = t->p.V;
    const float *v0 = t->vals, *v1 = t->vals + ((size_t)1 << t->p.L);
    return qtip_trellis_branch_cost(prev[s >> t->KV], t->norm[s], v0[s], m0, V == 2 ? v1[s] : 0.0f,
                                    m1, V);
}

/* The first k of the lowest cost_i[j + k*G] (the reference's scan order): the
 * traceback's back-pointer, recomputed from the step's row prev and input x.
 * The candidates are read from the search layout when there is one (adjacent
 * instead of 4*G bytes apart: fewer cache misses); the same values. */
static uint32_t first_best_k(const qtip_trellis *t, const float *prev, uint32_t j, const float *x)
{
    const int KV = t->KV, V = t->p.V;
    const uint32_t G = t->G, M = 1u << KV;
    const float m0 = -2.0f * x[0], m1 = V == 2 ? -2.0f * x[1] : 0.0f;
    float b = 0;
    uint32_t arg = 0;
    for (uint32_t k = 0; k < M; k++) {
        float c;
        if (t->vals8) {
            const float *a = t->vals8 + ((((size_t)(j >> 3) << KV) + k) * (V + 1)) * 8 + (j & 7);
            c = qtip_trellis_branch_cost(prev[(j + k * G) >> KV], a[8 * V], a[0], m0,
                                         V == 2 ? a[8] : 0.0f, m1, V);
        } else {
            c = cost_of(t, prev, j + k * G, m0, m1);
        }
        if (k == 0 || c < b) {
            b = c;
            arg = k;
        }
    }
    return arg;
}

/* One step (portable): next[j] = min_k (err(j + k*G) + prev[(j + k*G) >> KV]). */
static void sweep_portable(const qtip_trellis *t, const float *prev, float *next, const float *x)
{
    const uint32_t G = t->G, M = 1u << t->KV;
    const float m0 = -2.0f * x[0], m1 = t->p.V == 2 ? -2.0f * x[1] : 0.0f;
    for (uint32_t j = 0; j < G; j++) {
        float b = 0;
        for (uint32_t k = 0; k < M; k++) {
            float c = cost_of(t, prev, j + k * G, m0, m1);
            if (k == 0 || c < b) b = c;
        }
        next[j] = b;
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

typedef struct {
    const float *bv;
    uint32_t j;
    const float *prev;
    __m256 m0, m1;
    uint32_t G;
} sweep_ctx_;

/* The minimum of two sibling subtrees' minima (r < l ? r : l; equal costs are
 * the same value). */
QTIP_AVX2_INLINE __m256 leaf(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    return candidate(x->bv, k, x->prev, x->m0, x->m1, x->j + k * x->G, KV, V);
}
/* Depth first, so few vectors are live at a time: candidates k .. k + 2^n - 1. */
QTIP_AVX2_INLINE __m256 t2(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    return _mm256_min_ps(leaf(x, k + 1, KV, V), leaf(x, k, KV, V));
}
QTIP_AVX2_INLINE __m256 t4(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    return _mm256_min_ps(t2(x, k + 2, KV, V), t2(x, k, KV, V));
}
QTIP_AVX2_INLINE __m256 t8(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    return _mm256_min_ps(t4(x, k + 4, KV, V), t4(x, k, KV, V));
}
QTIP_AVX2_INLINE __m256 t16(const sweep_ctx_ *x, uint32_t k, const int KV, const int V)
{
    return _mm256_min_ps(t8(x, k + 8, KV, V), t8(x, k, KV, V));
}

/* Groups j..j+7 of one step: next[j..j+7], the minimum over all 2^KV candidates
 * (tournaments of at most 16, then their minima in k order). */
QTIP_AVX2_INLINE void block_avx2(const float *bv, const float *prev, float *next, __m256 m0,
                                 __m256 m1, uint32_t j, uint32_t G, const int KV, const int V)
{
    sweep_ctx_ x;
    x.bv = bv;
    x.j = j;
    x.prev = prev;
    x.m0 = m0;
    x.m1 = m1;
    x.G = G;
    __m256 b;
    if (KV == 1) b = t2(&x, 0, KV, V);
    else if (KV == 2) b = t4(&x, 0, KV, V);
    else if (KV == 3) b = t8(&x, 0, KV, V);
    else {
        b = t16(&x, 0, KV, V);
        for (uint32_t c = 1; c < (1u << KV) / 16; c++) b = _mm256_min_ps(t16(&x, 16 * c, KV, V), b);
    }
    _mm256_storeu_ps(next + j, b);
}

QTIP_AVX2_INLINE void sweep_avx2_kv(const qtip_trellis *t, const float *prev, float *next,
                                    const float *x, const int KV, const int V)
{
    const uint32_t G = t->G;
    /* the branch cost's m0, m1: -2 x */
    const __m256 m0 = _mm256_set1_ps(-2.0f * x[0]), m1 = _mm256_set1_ps(V == 2 ? -2.0f * x[1] : 0.0f);
    const size_t blk = (size_t)8 * (V + 1) << KV; /* floats per block of 8 groups */
    for (uint32_t j = 0; j < G; j += 8)
        block_avx2(t->vals8 + (j >> 3) * blk, prev, next, m0, m1, j, G, KV, V);
}

/* One instance per (KV, V), so the loops have constant trip counts. */
QTIP_AVX2 static void sweep_avx2(const qtip_trellis *t, const float *prev, float *next, const float *x)
{
#define QTIP_SWEEP_CASE(kv, v)                                                 \
    if (t->KV == kv && t->p.V == v) {                                          \
        sweep_avx2_kv(t, prev, next, x, kv, v);                                \
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
static void sweep(const qtip_trellis *t, int use_avx2, const float *prev, float *next,
                  const float *x)
{
#ifdef QTIP_HAVE_AVX2_PATH
    if (use_avx2) {
        sweep_avx2(t, prev, next, x);
        return;
    }
#endif
    (void)use_avx2;
    sweep_portable(t, prev, next, x);
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
    /* two rows suffice: no traceback */
    float *prev = slot->rows, *next = slot->rows + slot->rowlen;
    for (uint32_t u = 0; u < G + 8; u++) prev[u] = 0.0f; /* start row, then padding */
    for (int q = 0; q < 8; q++) next[G + q] = 0;
    for (int i = 0; i < nsteps; i++) {
        sweep(t, use_avx2, prev, next, seq + (size_t)i * t->p.V);
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
    const int V = t->p.V, S = t->S;
    const uint32_t G = t->G, M = 1u << t->KV;
    const size_t rl = slot->rowlen;
    const int use_avx2 = want_avx2(t);
    float *const row0 = slot->rows;
#define ROW(i) (row0 + (size_t)(i) * rl)
    /* start row: cost_0[s] = err_0(s) + start[s >> KV] */
    for (uint32_t u = 0; u < G; u++) row0[u] = overlap < 0 || u == (uint32_t)overlap ? 0.0f : INFINITY;
    /* Sweep i (0 <= i <= S-2) reduces cost_i to its group minima, row i + 1. The
     * unconstrained last step is one more sweep (row S). */
    const int last_sweep = overlap < 0 && S > 1;
    const int nsweeps = last_sweep ? S : S - 1;
    for (int i = 0; i <= nsweeps; i++)
        for (int q = 0; q < 8; q++) ROW(i)[G + q] = 0; /* padding read by expand_prev */
    for (int i = 0; i < nsweeps; i++) {
        sweep(t, use_avx2, ROW(i), ROW(i + 1), seq + (size_t)i * V);
        if (snap && i + 1 == snap_steps) memcpy(snap, ROW(i + 1), (size_t)G * sizeof(float));
    }
    uint32_t fin = 0;
    float fc = 0;
    if (last_sweep) {
        /* row S = group minima of the last step; the first state of the lowest
         * cost is the one of smallest k, then smallest j */
        const float *last = ROW(S);
        const float *x = seq + (size_t)(S - 1) * V;
        uint32_t bk = 0;
        int found = 0;
        for (uint32_t j = 0; j < G; j++) {
            float c = last[j];
            if (found && !(c <= fc)) continue;
            uint32_t k = first_best_k(t, ROW(S - 1), j, x);
            if (!found || c < fc || k < bk) {
                fc = c;
                bk = k;
                fin = j + k * G;
                found = 1;
            }
        }
    } else {
        /* constrained (or a single step): the allowed final states; row S-1 is the
         * last sweep's group minima, or the start row when S == 1 */
        const float *prev = ROW(S - 1);
        const float m0 = -2.0f * seq[(size_t)(S - 1) * V];
        const float m1 = V == 2 ? -2.0f * seq[(size_t)(S - 1) * V + 1] : 0.0f;
        uint32_t jlo = overlap < 0 ? 0 : (uint32_t)overlap, jhi = overlap < 0 ? G : jlo + 1;
        int found = 0;
        for (uint32_t k = 0; k < M; k++) {
            for (uint32_t j = jlo; j < jhi; j++) {
                uint32_t s = j + k * G;
                float c = cost_of(t, prev, s, m0, m1);
                if (!found || c < fc || (c == fc && s < fin)) {
                    fc = c;
                    fin = s;
                    found = 1;
                }
            }
        }
    }
    states[S - 1] = fin;
    /* the predecessor of state s at step i has low bits s >> KV (group j) and the
     * first best k of sweep i - 1 */
    for (int i = S - 1; i > 0; i--) {
        uint32_t j = states[i] >> t->KV;
        states[i - 1] = j + first_best_k(t, ROW(i - 1), j, seq + (size_t)(i - 1) * V) * G;
    }
#undef ROW
    if (cost_out) *cost_out = fc;
}
