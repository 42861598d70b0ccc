/*
 * hadamard_special.c — the special +-1 Hadamard matrices H_K by construction:
 * Sylvester, Paley I (q = 3 mod 4), Paley II (q = 1 mod 4) over GF(q) for prime
 * powers q, Williamson arrays from stored first rows, Kronecker products.
 * The orders the reference tools ship are built with exactly their row/column
 * order and signs (qtip.md 4.2), so our transforms equal theirs.
 * Every matrix is checked H H^T = K I in integer arithmetic before first use.
 */
#include "incoherence/hadamard_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum {
    M_NONE = 0, M_ONE, M_SYLVESTER, M_PALEY1, M_PALEY2, M_WILLIAMSON, M_KRONECKER
};

/* Williamson first rows (symmetric circulants of order k = K/4), '+' = +1.
 * 52..172 from QTIP's tables (124 is QTIP's, with A == B); 92 and 100 from
 * QuIP-for-all's hadamard.safetensors (quipsharp.md 2.4). */
typedef struct {
    int K;
    const char *a, *b, *c, *d;
} williamson_rows;

static const williamson_rows WILLIAMSON[] = {
    {52, "+-+--++++--+-", "+---++++++---", "++-+--++--+-+", "+----+--+----"},
    {92, "+++-+++-+------+-+++-++", "+++---++-+-++-+-++---++", "+-++-++--++++++--++-++-",
     "++---+---+-++-+---+---+"},
    {100, "+-++++----++--++----++++-", "+++-+++---+-++-+---+++-++",
     "+-++-+++-++----++-+++-++-", "+--++-+-+--------+-+-++--"},
    {116, "++--+--+-+++-++++-+++-+--+--+", "++++-++-+---++++++---+-++-+++",
     "+-+---++--+-++++++-+--++---+-", "+++---++--+-+----+-+--++---++"},
    {124, "+--+++-+--+----++----+--+-+++--", "+--+++-+--+----++----+--+-+++--",
     "+-----+++-+-+--++--+-+-+++-----", "++++++---+-+-++--++-+-+---+++++"},
    {156, "+++--+-+-----+--++----++--+-----+-+--++", "++++---+--++----+-+--+-+----++--+---+++",
     "+++--++-+---+-+--+----+--+-+---+-++--++", "+---++-+-+-----+++-++-+++-----+-+-++---"},
    {172, "+---++--++++-+-+++-++--++-+++-+-++++--++---",
     "++-++++++----+-+--++-++-++--+-+----++++++-+",
     "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
     "++---++++-+--+--++--------++--+--+-++++---+"},
};
#define N_WILLIAMSON ((int)(sizeof WILLIAMSON / sizeof WILLIAMSON[0]))

/* ---- prime powers and GF(q) ------------------------------------------------ */

/* q = p^k with p prime, k >= 1: returns 1 and sets p, k. */
static int prime_power(int64_t q, int64_t *p, int *k)
{
    if (q < 2) return 0;
    int64_t f = 0;
    for (int64_t d = 2; d * d <= q; d++)
        if (q % d == 0) { f = d; break; }
    if (!f) f = q;
    int e = 0;
    while (q % f == 0) { q /= f; e++; }
    if (q != 1) return 0;
    *p = f;
    *k = e;
    return 1;
}

/* GF(p^k), elements as integers sum d_i p^i (digit i = coefficient of x^i). */
typedef struct {
    int64_t p, q;
    int k;
    int *chi; /* quadratic character of each element: 0, +1, -1 */
} gf;

static void digits(const gf *F, int64_t e, int64_t *d)
{
    for (int i = 0; i < F->k; i++) { d[i] = e % F->p; e /= F->p; }
}
static int64_t undigits(const gf *F, const int64_t *d)
{
    int64_t e = 0;
    for (int i = F->k - 1; i >= 0; i--) e = e * F->p + d[i];
    return e;
}
static int64_t gf_sub(const gf *F, int64_t a, int64_t c)
{
    if (F->k == 1) return ((a - c) % F->p + F->p) % F->p;
    int64_t da[32], dc[32];
    digits(F, a, da);
    digits(F, c, dc);
    for (int i = 0; i < F->k; i++) da[i] = ((da[i] - dc[i]) % F->p + F->p) % F->p;
    return undigits(F, da);
}

/* Builds chi. For k = 1 from the squares mod p; for k > 1 from a primitive
 * polynomial f (the first in lexicographic order of its coefficient digits):
 * the even powers of x are exactly the nonzero squares. */
static qtip_status gf_init(gf *F, int64_t q)
{
    memset(F, 0, sizeof *F);
    QTIP_RETURN_ERROR_IF(!prime_power(q, &F->p, &F->k) || F->k > 30, QTIP_E_INTERNAL,
                         "%lld is not a prime power", (long long)q);
    F->q = q;
    F->chi = (int *)qtip_calloc((size_t)q, sizeof(int), "gf chi table");
    if (!F->chi) return QTIP_E_NOMEM;
    if (F->k == 1) {
        for (int64_t i = 1; i < q; i++) F->chi[(i * i) % q] = 1;
        for (int64_t i = 1; i < q; i++)
            if (!F->chi[i]) F->chi[i] = -1;
        return QTIP_OK;
    }
    int64_t *logt = (int64_t *)qtip_alloc((size_t)q, sizeof(int64_t), "gf log table");
    if (!logt) { free(F->chi); return QTIP_E_NOMEM; }
    int found = 0;
    for (int64_t fc = 0; fc < q && !found; fc++) { /* f = x^k + sum fd[i] x^i */
        int64_t fd[32], cur[32];
        digits(F, fc, fd);
        if (fd[0] == 0) continue;
        for (int64_t i = 0; i < q; i++) logt[i] = -1;
        memset(cur, 0, sizeof cur);
        cur[0] = 1;
        int ok = 1;
        for (int64_t e = 0; e < q - 1; e++) {
            int64_t v = undigits(F, cur);
            if (logt[v] >= 0 || v == 0) { ok = 0; break; }
            logt[v] = e;
            int64_t top = cur[F->k - 1]; /* multiply by x, reduce x^k = -sum fd x^i */
            for (int i = F->k - 1; i > 0; i--) cur[i] = ((cur[i - 1] - top * fd[i]) % F->p + F->p) % F->p;
            cur[0] = ((-top * fd[0]) % F->p + F->p) % F->p;
        }
        if (ok && undigits(F, cur) == 1) found = 1;
    }
    if (found)
        for (int64_t i = 1; i < q; i++) F->chi[i] = (logt[i] % 2 == 0) ? 1 : -1;
    free(logt);
    if (!found) {
        free(F->chi);
        return qtip_error(QTIP_E_INTERNAL, "no primitive polynomial found for GF(%lld)", (long long)q);
    }
    return QTIP_OK;
}

/* ---- which construction reaches K ------------------------------------------ */

static int method_table[QTIP_HAD_MAX_K + 1];
static int kron_k1[QTIP_HAD_MAX_K + 1];
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static int is_pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

static int is_reference_paley1(int64_t K)
{
    return K == 12 || K == 20 || K == 60 || K == 108 || K == 140;
}
static int williamson_index(int64_t K)
{
    for (int i = 0; i < N_WILLIAMSON; i++)
        if (WILLIAMSON[i].K == K) return i;
    return -1;
}

static void method_init(void)
{
    for (int64_t K = 1; K <= QTIP_HAD_MAX_K; K++) {
        int64_t p;
        int k, m = M_NONE;
        if (K == 1) m = M_ONE;
        else if (is_pow2(K)) m = M_SYLVESTER;
        else if (K % 4 != 0) m = M_NONE;
        else if (K == 28 || K == 36) m = M_PALEY2; /* reference: Paley II q = 13, 17 */
        else if (is_reference_paley1(K)) m = M_PALEY1;
        else if (williamson_index(K) >= 0) m = M_WILLIAMSON;
        else if (prime_power(K - 1, &p, &k) && (K - 1) % 4 == 3) m = M_PALEY1;
        else if (prime_power(K / 2 - 1, &p, &k) && (K / 2 - 1) % 4 == 1) m = M_PALEY2;
        else {
            for (int64_t k1 = 2; k1 * k1 <= K; k1++)
                if (K % k1 == 0 && method_table[k1] != M_NONE && method_table[K / k1] != M_NONE &&
                    k1 > 1 && K / k1 > 1) {
                    m = M_KRONECKER;
                    kron_k1[K] = (int)k1;
                    break;
                }
        }
        method_table[K] = m;
    }
}

static int method_of(int64_t K)
{
    if (K < 1 || K > QTIP_HAD_MAX_K) return M_NONE;
    pthread_once(&method_once, method_init);
    return method_table[K];
}

int qtip_had_special_supported(int64_t K)
{
    return method_of(K) != M_NONE;
}

const char *qtip_had_construction(int64_t K)
{
    static _Thread_local char buf[64];
    int64_t p = 0, q;
    int k = 0;
    buf[0] = 0;
    switch (method_of(K)) {
    case M_ONE: snprintf(buf, sizeof buf, "identity"); break;
    case M_SYLVESTER: snprintf(buf, sizeof buf, "sylvester"); break;
    case M_PALEY1:
    case M_PALEY2:
        q = method_of(K) == M_PALEY1 ? K - 1 : K / 2 - 1;
        prime_power(q, &p, &k);
        if (k == 1) snprintf(buf, sizeof buf, "paley%d q=%lld", method_of(K) == M_PALEY1 ? 1 : 2, (long long)q);
        else snprintf(buf, sizeof buf, "paley%d q=%lld^%d", method_of(K) == M_PALEY1 ? 1 : 2, (long long)p, k);
        break;
    case M_WILLIAMSON: snprintf(buf, sizeof buf, "williamson k=%lld", (long long)(K / 4)); break;
    case M_KRONECKER:
        snprintf(buf, sizeof buf, "kronecker %d x %lld", kron_k1[K], (long long)(K / kron_k1[K]));
        break;
    default: break;
    }
    return buf;
}

/* ---- constructions ---------------------------------------------------------- */

static qtip_status special_unsupported(int64_t K)
{
    int64_t lo = 0, hi = 0;
    for (int64_t x = K - 1; x >= 1 && !lo; x--)
        if (method_of(x) != M_NONE) lo = x;
    for (int64_t x = K + 1; x <= QTIP_HAD_MAX_K && !hi; x++)
        if (method_of(x) != M_NONE) hi = x;
    return qtip_error(QTIP_E_UNSUPPORTED,
                      "no special hadamard matrix of order %lld: nearest constructible orders are "
                      "%lld and %lld (at most %d)",
                      (long long)K, (long long)lo, (long long)hi, QTIP_HAD_MAX_K);
}

static qtip_status build(int64_t K, int8_t *H);

static qtip_status build_paley1(int64_t K, int8_t *H)
{
    gf F;
    QTIP_FORWARD_IF_ERROR(gf_init(&F, K - 1));
    int64_t q = K - 1;
    H[0] = 1;
    for (int64_t j = 1; j < K; j++) { H[j] = -1; H[j * K] = 1; }
    for (int64_t i = 0; i < q; i++)
        for (int64_t j = 0; j < q; j++)
            H[(i + 1) * K + j + 1] = (int8_t)(i == j ? 1 : F.chi[gf_sub(&F, i, j)]);
    free(F.chi);
    return QTIP_OK;
}

static qtip_status build_paley2(int64_t K, int8_t *H)
{
    int64_t q = K / 2 - 1, n = q + 1;
    gf F;
    QTIP_FORWARD_IF_ERROR(gf_init(&F, q));
    static const int A[2][2] = {{1, 1}, {1, -1}}, B[2][2] = {{1, -1}, {-1, -1}};
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 2; t++)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    int S;
                    if (i == 0 && j == 0) S = 0;
                    else if (i == 0 || j == 0) S = 1;
                    else S = F.chi[gf_sub(&F, j - 1, i - 1)];
                    H[(s * n + i) * K + t * n + j] = (int8_t)(A[s][t] * S + B[s][t] * (i == j));
                }
    free(F.chi);
    return QTIP_OK;
}

static void build_williamson(int64_t K, int8_t *H)
{
    const williamson_rows *w = &WILLIAMSON[williamson_index(K)];
    const char *rows[4] = {w->a, w->b, w->c, w->d};
    /* block (r, c) = sign * circ(rows[idx]) */
    static const int idx[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
    static const int sgn[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
    int64_t k = K / 4;
    for (int br = 0; br < 4; br++)
        for (int bc = 0; bc < 4; bc++)
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < k; j++) {
                    char ch = rows[idx[br][bc]][(j - i + k) % k];
                    H[(br * k + i) * K + bc * k + j] = (int8_t)(sgn[br][bc] * (ch == '+' ? 1 : -1));
                }
}

static qtip_status build_kronecker(int64_t K, int8_t *H)
{
    int64_t k1 = kron_k1[K], k2 = K / k1;
    int8_t *A = (int8_t *)qtip_alloc((size_t)(k1 * k1 + k2 * k2), 1, "kronecker factors");
    if (!A) return QTIP_E_NOMEM;
    int8_t *B = A + k1 * k1;
    qtip_status s = build(k1, A);
    if (s == QTIP_OK) s = build(k2, B);
    if (s == QTIP_OK)
        for (int64_t a = 0; a < k1; a++)
            for (int64_t b = 0; b < k2; b++)
                for (int64_t c = 0; c < k1; c++)
                    for (int64_t d = 0; d < k2; d++)
                        H[(a * k2 + b) * K + c * k2 + d] = (int8_t)(A[a * k1 + c] * B[b * k2 + d]);
    free(A);
    return s;
}

static qtip_status build(int64_t K, int8_t *H)
{
    switch (method_of(K)) {
    case M_ONE: H[0] = 1; return QTIP_OK;
    case M_SYLVESTER:
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j < K; j++) H[i * K + j] = (int8_t)(__builtin_popcountll((uint64_t)(i & j)) & 1 ? -1 : 1);
        return QTIP_OK;
    case M_PALEY1: return build_paley1(K, H);
    case M_PALEY2: return build_paley2(K, H);
    case M_WILLIAMSON: build_williamson(K, H); return QTIP_OK;
    case M_KRONECKER: return build_kronecker(K, H);
    default: return special_unsupported(K);
    }
}

/* H H^T == K I exactly: rows packed as bits (1 = -1), <r_i, r_j> = K - 2 popcount(r_i ^ r_j). */
static qtip_status verify(int64_t K, const int8_t *H)
{
    int64_t words = (K + 63) / 64;
    uint64_t *bits = (uint64_t *)qtip_calloc((size_t)(K * words), sizeof(uint64_t), "hadamard check");
    if (!bits) return QTIP_E_NOMEM;
    int bad = 0;
    int64_t bi = 0, bj = 0;
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < K; j++) {
            if (H[i * K + j] != 1 && H[i * K + j] != -1) bad = 1;
            if (H[i * K + j] < 0) bits[i * words + j / 64] |= 1ull << (j % 64);
        }
    for (int64_t i = 0; i < K && !bad; i++)
        for (int64_t j = i + 1; j < K; j++) {
            int64_t pc = 0;
            for (int64_t w = 0; w < words; w++) pc += __builtin_popcountll(bits[i * words + w] ^ bits[j * words + w]);
            if (K - 2 * pc != 0) { bad = 1; bi = i; bj = j; break; }
        }
    free(bits);
    QTIP_RETURN_ERROR_IF(bad, QTIP_E_INTERNAL,
                         "constructed hadamard matrix of order %lld (%s) is not orthogonal: rows %lld and %lld",
                         (long long)K, qtip_had_construction(K), (long long)bi, (long long)bj);
    return QTIP_OK;
}

/* ---- cache ------------------------------------------------------------------ */

static int8_t *cache[QTIP_HAD_MAX_K + 1];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

qtip_status qtip_had_special_get_(int64_t K, const int8_t **out)
{
    *out = NULL;
    if (method_of(K) == M_NONE) return special_unsupported(K);
    qtip_status s = QTIP_OK;
    pthread_mutex_lock(&cache_lock);
    int8_t *H = cache[K];
    if (!H) {
        H = (int8_t *)qtip_alloc((size_t)(K * K), 1, "special hadamard matrix");
        s = H ? build(K, H) : QTIP_E_NOMEM;
        if (s == QTIP_OK) s = verify(K, H);
        if (s != QTIP_OK) { free(H); H = NULL; }
        cache[K] = H;
    }
    pthread_mutex_unlock(&cache_lock);
    *out = H;
    return s;
}

qtip_status qtip_had_special(int64_t K, int8_t *out)
{
    QTIP_RETURN_ERROR_IF(!out, QTIP_E_PARAM, "qtip_had_special: output buffer is NULL");
    const int8_t *H;
    QTIP_FORWARD_IF_ERROR(qtip_had_special_get_(K, &H));
    memcpy(out, H, (size_t)(K * K));
    return QTIP_OK;
}
