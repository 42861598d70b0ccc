/* test_viterbi.c — the fast Viterbi against the reference and against exhaustive
 * search, tail-biting consistency (two-pass and best of n), determinism, and distortion on Gaussians
 * against the digest's figures (qtip.md §2.5). */
#include "check.h"

#include <math.h>
#include <stdlib.h>

static int sanitized(void) { return getenv("QTIP_TEST_SANITIZED") != NULL; }

static qtip_trellis *make(int L, int K, int V, qtip_code c, int tx, int ty, const float *tlut)
{
    qtip_trellis_params p = {L, K, V, 0, c, tx, ty};
    if (c == QTIP_CODE_LUT) p.Q = L;
    if (c == QTIP_CODE_HYB) p.Q = 9;
    qtip_trellis *t = NULL;
    qtip_status s = tlut ? qtip_trellis_create_with_lut(&p, tlut, &t) : qtip_trellis_create(&p, &t);
    CHECK(s == QTIP_OK, "create L=%d K=%d V=%d %s: %s", L, K, V, qtip_code_name(c), qtip_last_error());
    return t;
}

/* fp32 cost of a path, accumulated in the Viterbi's order: the branch cost
 * (squared error less |x|^2) of step i on top of the cost of steps < i, written
 * out here from its definition (trellis_codes.h) rather than called. */
static float path_cost(const qtip_trellis *t, const uint32_t *st, const float *x)
{
    const qtip_trellis_params *p = qtip_trellis_get_params(t);
    int S = p->td_x * p->td_y / p->V;
    float c = 0, v[2] = {0, 0};
    for (int i = 0; i < S; i++) {
        qtip_trellis_state_values(t, st[i], v);
        float n = v[0] * v[0];
        if (p->V == 2) n = n + v[1] * v[1];
        float e = fmaf(v[0], -2.0f * x[i * p->V], n + c);
        if (p->V == 2) e = fmaf(v[1], -2.0f * x[i * p->V + 1], e);
        c = e;
    }
    return c;
}

/* Run fast (AVX2 and portable) and reference on one input: unconstrained,
 * constrained and full two-pass; everything must agree bit for bit. */
static void compare_impls(qtip_trellis *t, const float *x, test_rng *r, const char *what)
{
    const qtip_trellis_params *p = qtip_trellis_get_params(t);
    int S = p->td_x * p->td_y / p->V, KV = p->K * p->V;
    size_t nw = qtip_trellis_words_per_tile(p);
    qtip_trellis_work *w = NULL;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w));
    if (!w) return;
    uint32_t *a = calloc((size_t)S, 4), *b = calloc((size_t)S, 4);
    uint16_t *ba = calloc(nw, 2), *bb = calloc(nw, 2);
    int32_t ovs[2] = {-1, (int32_t)(test_rng_next(r) % (1u << (p->L - KV)))};
    for (int o = 0; o < 2; o++) {
        float ca = -1, cb = -2;
        CHECK_OK(qtip_trellis_viterbi(t, w, QTIP_VITERBI_REFERENCE, x, ovs[o], a, &ca));
        CHECK_OK(qtip_trellis_viterbi(t, w, QTIP_VITERBI_FAST, x, ovs[o], b, &cb));
        CHECK(memcmp(a, b, (size_t)S * 4) == 0 && ca == cb, "%s overlap %d: fast differs (cost %.9g vs %.9g)",
              what, ovs[o], (double)cb, (double)ca);
        CHECK(path_cost(t, a, x) == ca, "%s: reported cost is the path's cost", what);
        setenv("QTIP_NO_AVX2", "1", 1);
        CHECK_OK(qtip_trellis_viterbi(t, w, QTIP_VITERBI_FAST, x, ovs[o], b, &cb));
        unsetenv("QTIP_NO_AVX2");
        CHECK(memcmp(a, b, (size_t)S * 4) == 0 && ca == cb, "%s overlap %d: portable differs", what, ovs[o]);
    }
    CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_REFERENCE, x, ba, NULL, a));
    CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, bb, NULL, b));
    CHECK(memcmp(ba, bb, nw * 2) == 0 && memcmp(a, b, (size_t)S * 4) == 0, "%s: two-pass bits differ", what);
    free(a);
    free(b);
    free(ba);
    free(bb);
    qtip_trellis_work_free(w);
}

TEST(fast_equals_reference)
{
    test_rng r = test_rng_seeded(4242);
    struct {
        int L, K, V;
        qtip_code c;
        int tx, ty;
    } cfg[] = {
        {10, 2, 1, QTIP_CODE_1MAD, 8, 8},  {12, 2, 2, QTIP_CODE_HYB, 16, 16},
        {9, 3, 2, QTIP_CODE_LUT, 4, 4},    {8, 3, 2, QTIP_CODE_LUT, 4, 4}, /* 4 groups: scalar path */
        {11, 4, 1, QTIP_CODE_2MAD, 4, 8},  {12, 1, 1, QTIP_CODE_1MAD, 4, 4}, /* KV = 1 */
        {12, 3, 1, QTIP_CODE_1MAD, 4, 4},  {12, 4, 2, QTIP_CODE_HYB, 4, 4}, /* KV = 3; 8: chunks of 16 */
        {16, 2, 1, QTIP_CODE_3INST, 16, 16},
    };
    int n = (int)(sizeof cfg / sizeof cfg[0]);
    if (sanitized()) n--; /* L=16 reference is slow under ASan */
    float x[256];
    for (int c = 0; c < n; c++) {
        qtip_trellis *t = make(cfg[c].L, cfg[c].K, cfg[c].V, cfg[c].c, cfg[c].tx, cfg[c].ty, NULL);
        if (!t) continue;
        int T = cfg[c].tx * cfg[c].ty;
        for (int trial = 0; trial < 2; trial++) {
            for (int i = 0; i < T; i++) x[i] = (float)test_rng_normal(&r);
            char what[64];
            snprintf(what, sizeof what, "L=%d K=%d V=%d %s", cfg[c].L, cfg[c].K, cfg[c].V,
                     qtip_code_name(cfg[c].c));
            compare_impls(t, x, &r, what);
        }
        qtip_trellis_free(t);
    }
}

/* A LUT with values in {-1, 0, 1} and integer targets: costs are small integers,
 * so most comparisons are ties; both searches must break them the same way. */
TEST(fast_equals_reference_with_ties)
{
    test_rng r = test_rng_seeded(99);
    const int Ls[3] = {10, 9, 12}, Ks[3] = {1, 2, 2}, Vs[3] = {1, 2, 1};
    for (int c = 0; c < 3; c++) {
        size_t n = ((size_t)1 << Ls[c]) * Vs[c];
        float *lut = malloc(n * sizeof(float)), x[64];
        for (size_t i = 0; i < n; i++) lut[i] = (float)((int)(test_rng_next(&r) % 3) - 1);
        qtip_trellis *t = make(Ls[c], Ks[c], Vs[c], QTIP_CODE_LUT, 4, 4, lut);
        free(lut);
        if (!t) continue;
        for (int trial = 0; trial < 3; trial++) {
            for (int i = 0; i < 16; i++) x[i] = (float)((int)(test_rng_next(&r) % 5) - 2);
            compare_impls(t, x, &r, "ties");
        }
        qtip_trellis_free(t);
    }
}

/* Exhaustive search on a tiny trellis: L=8, 8 steps, 16-bit circular stream. */
static void brute_force_case(int K, int V, qtip_code code, int tx, int ty, test_rng *r, int trials,
                             int *tb_optimal, int *bo2_optimal)
{
    qtip_trellis *t = make(8, K, V, code, tx, ty, NULL);
    if (!t) return;
    qtip_trellis_work *w = NULL;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w));
    const int L = 8, KV = K * V, S = tx * ty / V, T = tx * ty;
    const int lin_bits = L + (S - 1) * KV, N = S * KV;
    float x[64];
    uint32_t st[64], vs[64];
    uint16_t bits[4];
    for (int trial = 0; trial < trials && w; trial++) {
        for (int i = 0; i < T; i++) x[i] = (float)test_rng_normal(r);
        /* non-tail-biting optimum over all linear streams */
        float best = INFINITY;
        for (uint32_t z = 0; z < (1u << lin_bits); z++) {
            for (int i = 0; i < S; i++) st[i] = (z >> (lin_bits - L - i * KV)) & 255u;
            float c = path_cost(t, st, x);
            if (c < best) best = c;
        }
        float vc = -1;
        CHECK_OK(qtip_trellis_viterbi(t, w, QTIP_VITERBI_FAST, x, -1, vs, &vc));
        CHECK(vc == best, "K=%d V=%d: viterbi cost %.9g, exhaustive %.9g", K, V, (double)vc, (double)best);
        CHECK(path_cost(t, vs, x) == vc, "path cost");
        /* tail-biting: optimum over all circular streams, and over those that
         * satisfy the two-pass method's own constraint */
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, bits, NULL, vs));
        uint32_t overlap = vs[0] >> KV;
        float tb = path_cost(t, vs, x), gbest = INFINITY, cbest = INFINITY;
        for (uint32_t z = 0; z < (1u << N); z++) {
            for (int i = 0; i < S; i++) {
                uint32_t pos = (uint32_t)(i * KV), two = (z << N) | z; /* circular */
                st[i] = (two >> (2 * N - L - pos)) & 255u;
            }
            float c = path_cost(t, st, x);
            if (c < gbest) gbest = c;
            if ((st[0] >> KV) == overlap && c < cbest) cbest = c;
        }
        CHECK(tb == cbest, "K=%d V=%d: two-pass cost %.9g, best with its overlap %.9g", K, V, (double)tb,
              (double)cbest);
        CHECK(tb >= gbest, "cannot beat the optimum");
        *tb_optimal += tb == gbest;
        /* best of 2 overlaps: never worse; best of all of them, with its early
         * stop on the junction bound, is the circular optimum itself */
        CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 2));
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, bits, NULL, vs));
        float b2 = path_cost(t, vs, x);
        CHECK(b2 <= tb && b2 >= gbest, "K=%d V=%d: best-of-2 cost %.9g, two-pass %.9g, optimum %.9g", K, V,
              (double)b2, (double)tb, (double)gbest);
        *bo2_optimal += b2 == gbest;
        CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 65536));
        CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, bits, NULL, vs));
        float ball = path_cost(t, vs, x);
        CHECK(ball == gbest, "K=%d V=%d: best of all overlaps %.9g, circular optimum %.9g", K, V, (double)ball,
              (double)gbest);
        CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 1));
    }
    qtip_trellis_work_free(w);
    qtip_trellis_free(t);
}

TEST(viterbi_equals_exhaustive_search)
{
    test_rng r = test_rng_seeded(31337);
    int opt = 0, opt2 = 0, trials = sanitized() ? 1 : 3;
    brute_force_case(2, 1, QTIP_CODE_1MAD, 2, 4, &r, trials, &opt, &opt2);
    brute_force_case(1, 2, QTIP_CODE_LUT, 4, 4, &r, trials, &opt, &opt2);
    fprintf(stderr, "tail-biting hit the circular optimum in %d (two-pass), %d (best of 2), %d (best of all) "
            "of %d cases\n", opt, opt2, 2 * trials, 2 * trials);
    CHECK(opt2 >= opt, "best of 2 found the optimum less often (%d) than two-pass (%d)", opt2, opt);
}

TEST(emitted_streams_are_consistent_and_deterministic)
{
    test_rng r = test_rng_seeded(2024);
    qtip_trellis_params p = qtip_trellis_default_params(); /* HYB L=16 K=2 V=2 */
    const int nseq = sanitized() ? 2 : 6, T = 256;
    size_t nw = qtip_trellis_words_per_tile(&p);
    qtip_trellis *t = NULL;
    CHECK_OK(qtip_trellis_create(&p, &t));
    if (!t) return;
    float *x = malloc(sizeof(float) * T * nseq), *rec = malloc(sizeof(float) * T * nseq),
          *dec = malloc(sizeof(float) * T * nseq), rec1[256];
    uint16_t *b1 = malloc(2 * nw * nseq), *b2 = malloc(2 * nw * nseq), back[64];
    uint32_t path[128], st[128];
    for (int i = 0; i < T * nseq; i++) x[i] = (float)test_rng_normal(&r);
    qtip_trellis_work *w1 = NULL, *w2 = NULL;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w1));
    CHECK_OK(qtip_trellis_work_create(t, 2, &w2));
    CHECK_OK(qtip_trellis_quantize_work(t, w1, x, (size_t)nseq, b1, NULL));
    CHECK_OK(qtip_trellis_quantize_work(t, w2, x, (size_t)nseq, b2, rec));
    CHECK(memcmp(b1, b2, 2 * nw * nseq) == 0, "1 and 2 threads differ");
    CHECK_OK(qtip_trellis_decode(t, b2, (size_t)nseq, dec));
    CHECK(memcmp(dec, rec, sizeof(float) * T * nseq) == 0, "decode(bits) != recon");
    for (int q = 0; q < nseq && w1; q++) {
        CHECK_OK(qtip_trellis_quantize_seq(t, w1, QTIP_VITERBI_FAST, x + q * T, back, rec1, path));
        CHECK(memcmp(back, b1 + q * nw, 2 * nw) == 0, "seq %d: single and batch differ", q);
        CHECK(memcmp(rec1, rec + q * T, sizeof rec1) == 0, "seq %d: recon differs", q);
        qtip_trellis_unpack(&p, back, st);
        CHECK(memcmp(st, path, sizeof st) == 0, "seq %d: states read from the bits != viterbi path", q);
        uint16_t again[64];
        CHECK_OK(qtip_trellis_pack(&p, path, again)); /* checks every overlap, wrap included */
    }
    float bad = NAN;
    x[5] = bad;
    CHECK_STATUS(qtip_trellis_quantize_work(t, w1, x, 1, b1, NULL), QTIP_E_NONFINITE);
    qtip_trellis_work_free(w1);
    qtip_trellis_work_free(w2);
    qtip_trellis_free(t);
    free(x);
    free(rec);
    free(dec);
    free(b1);
    free(b2);
}

/* Best of n overlaps: n = 1 is the two-pass search bit for bit; n > 1 is never
 * worse, a valid circular stream, and the same for FAST and REFERENCE. */
TEST(best_of_n_tail_biting)
{
    test_rng r = test_rng_seeded(5150);
    struct {
        int L, K, V;
        qtip_code c;
        int tx, ty;
    } cfg[] = {
        {10, 2, 1, QTIP_CODE_1MAD, 8, 8}, {12, 2, 2, QTIP_CODE_HYB, 16, 16}, {9, 3, 2, QTIP_CODE_LUT, 4, 4},
        {8, 3, 2, QTIP_CODE_LUT, 4, 4}, /* 4 groups: scalar path */
        {12, 1, 1, QTIP_CODE_1MAD, 4, 4}, {12, 4, 2, QTIP_CODE_HYB, 4, 4},
    };
    const int ncfg = (int)(sizeof cfg / sizeof cfg[0]), trials = sanitized() ? 2 : 6;
    int better = 0, total = 0;
    for (int c = 0; c < ncfg; c++) {
        qtip_trellis *t = make(cfg[c].L, cfg[c].K, cfg[c].V, cfg[c].c, cfg[c].tx, cfg[c].ty, NULL);
        if (!t) continue;
        const qtip_trellis_params *p = qtip_trellis_get_params(t);
        const int T = cfg[c].tx * cfg[c].ty, S = T / cfg[c].V;
        const size_t nw = qtip_trellis_words_per_tile(p);
        qtip_trellis_work *w = NULL;
        CHECK_OK(qtip_trellis_work_create(t, 1, &w));
        float x[256], rec[256], dec[256];
        uint32_t a[256], b[256], st[256];
        uint16_t b2p[64], b1[64], bf[64], br[64], again[64];
        for (int trial = 0; trial < trials && w; trial++) {
            for (int i = 0; i < T; i++) x[i] = (float)test_rng_normal(&r);
            CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 1));
            CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, b2p, NULL, a));
            float c2 = path_cost(t, a, x);
            CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 1));
            CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, b1, NULL, NULL));
            CHECK(memcmp(b1, b2p, nw * 2) == 0, "best-of-1 differs from two-pass");
            CHECK_OK(qtip_trellis_work_set_tail_biting(w, t, 4));
            CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, bf, rec, b));
            CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_REFERENCE, x, br, NULL, NULL));
            CHECK(memcmp(bf, br, nw * 2) == 0, "L=%d K=%d V=%d %s: best-of-4 fast and reference differ",
                  cfg[c].L, cfg[c].K, cfg[c].V, qtip_code_name(cfg[c].c));
            setenv("QTIP_NO_AVX2", "1", 1);
            CHECK_OK(qtip_trellis_quantize_seq(t, w, QTIP_VITERBI_FAST, x, br, NULL, NULL));
            unsetenv("QTIP_NO_AVX2");
            CHECK(memcmp(bf, br, nw * 2) == 0, "best-of-4 portable differs");
            float c4 = path_cost(t, b, x);
            CHECK(c4 <= c2, "L=%d K=%d V=%d %s: best-of-4 cost %.9g above two-pass %.9g", cfg[c].L, cfg[c].K,
                  cfg[c].V, qtip_code_name(cfg[c].c), (double)c4, (double)c2);
            better += c4 < c2;
            total++;
            CHECK_OK(qtip_trellis_pack(p, b, again)); /* every overlap, the wrap included */
            CHECK(memcmp(again, bf, nw * 2) == 0, "bits are the packed path");
            qtip_trellis_unpack(p, bf, st);
            CHECK(memcmp(st, b, (size_t)S * 4) == 0, "states read from the bits != path");
            CHECK_OK(qtip_trellis_decode(t, bf, 1, dec));
            CHECK(memcmp(dec, rec, sizeof(float) * T) == 0, "decode(bits) != recon");
        }
        CHECK_STATUS(qtip_trellis_work_set_tail_biting(w, t, 0), QTIP_E_PARAM);
        CHECK_STATUS(qtip_trellis_work_set_tail_biting(w, t, 65537), QTIP_E_PARAM);
        qtip_trellis_work_free(w);
        qtip_trellis_free(t);
    }
    fprintf(stderr, "best-of-4 beat two-pass on %d of %d tiles\n", better, total);
    CHECK(qtip_trellis_tail_biting_from_name("two-pass") == 1 && qtip_trellis_tail_biting_from_name("best-of-1") == 1 &&
              qtip_trellis_tail_biting_from_name("best-of-12") == 12 &&
              qtip_trellis_tail_biting_from_name("best-of-65536") == 65536,
          "mode names parse");
    CHECK(qtip_trellis_tail_biting_from_name("best-of-0") < 0 && qtip_trellis_tail_biting_from_name("best-of-") < 0 &&
              qtip_trellis_tail_biting_from_name("best-of-65537") < 0 &&
              qtip_trellis_tail_biting_from_name("best-of-2x") < 0 && qtip_trellis_tail_biting_from_name("one") < 0,
          "bad mode names are refused");
    char nm[32];
    qtip_trellis_tail_biting_name(0, nm, sizeof nm);
    CHECK(strcmp(nm, "two-pass") == 0, "0 is %s", nm);
    qtip_trellis_tail_biting_name(65536, nm, sizeof nm);
    CHECK(strcmp(nm, "best-of-65536") == 0 && qtip_trellis_tail_biting_from_name(nm) == 65536,
          "65536 is %s", nm);
}

/* Best of n on the released setting (HYB L=16): thread count does not matter,
 * decode == recon, and the batch equals the single-sequence call. */
TEST(best_of_n_batch_is_deterministic)
{
    test_rng r = test_rng_seeded(808);
    qtip_trellis_params p = qtip_trellis_default_params();
    const int nseq = sanitized() ? 2 : 4, T = 256;
    size_t nw = qtip_trellis_words_per_tile(&p);
    qtip_trellis *t = NULL;
    CHECK_OK(qtip_trellis_create(&p, &t));
    if (!t) return;
    float *x = malloc(sizeof(float) * T * nseq), *rec = malloc(sizeof(float) * T * nseq),
          *dec = malloc(sizeof(float) * T * nseq);
    uint16_t *b1 = malloc(2 * nw * nseq), *b2 = malloc(2 * nw * nseq), one[64];
    for (int i = 0; i < T * nseq; i++) x[i] = (float)test_rng_normal(&r);
    qtip_trellis_work *w1 = NULL, *w2 = NULL;
    CHECK_OK(qtip_trellis_work_create(t, 1, &w1));
    CHECK_OK(qtip_trellis_work_create(t, 2, &w2));
    CHECK_OK(qtip_trellis_work_set_tail_biting(w1, t, 3));
    CHECK_OK(qtip_trellis_work_set_tail_biting(w2, t, 3));
    CHECK_OK(qtip_trellis_quantize_work(t, w1, x, (size_t)nseq, b1, NULL));
    CHECK_OK(qtip_trellis_quantize_work(t, w2, x, (size_t)nseq, b2, rec));
    CHECK(memcmp(b1, b2, 2 * nw * nseq) == 0, "1 and 2 threads differ");
    CHECK_OK(qtip_trellis_decode(t, b2, (size_t)nseq, dec));
    CHECK(memcmp(dec, rec, sizeof(float) * T * nseq) == 0, "decode(bits) != recon");
    for (int q = 0; q < nseq && w1; q++) {
        CHECK_OK(qtip_trellis_quantize_seq(t, w1, QTIP_VITERBI_FAST, x + q * T, one, NULL, NULL));
        CHECK(memcmp(one, b1 + q * nw, 2 * nw) == 0, "seq %d: single and batch differ", q);
    }
    qtip_trellis_work_free(w1);
    qtip_trellis_work_free(w2);
    qtip_trellis_free(t);
    free(x);
    free(rec);
    free(dec);
    free(b1);
    free(b2);
}

/* MSE per weight on i.i.d. N(0,1) scaled to rms(codebook) (scale_override 1.0). */
static double distortion(qtip_trellis *t, int nseq, test_rng *r, double *stderr_out)
{
    const int T = 256;
    double rms = qtip_trellis_rms(t), se = 0;
    size_t nw = qtip_trellis_words_per_tile(qtip_trellis_get_params(t));
    float *x = malloc(sizeof(float) * T * nseq), *rec = malloc(sizeof(float) * T * nseq);
    uint16_t *b = malloc(2 * nw * nseq);
    for (int i = 0; i < T * nseq; i++) x[i] = (float)(test_rng_normal(r) * rms);
    CHECK_OK(qtip_trellis_quantize_work(t, NULL, x, (size_t)nseq, b, rec));
    double s2 = 0; /* spread of the per-sequence MSEs gives the standard error */
    for (int q = 0; q < nseq; q++) {
        double sq = 0;
        for (int i = q * T; i < (q + 1) * T; i++) sq += ((double)rec[i] - x[i]) * ((double)rec[i] - x[i]);
        se += sq;
        sq /= T * rms * rms;
        s2 += sq * sq;
    }
    double m = se / ((double)T * nseq * rms * rms);
    *stderr_out = nseq > 1 ? sqrt((s2 / nseq - m * m) / (nseq - 1)) : m;
    free(x);
    free(rec);
    free(b);
    return se / ((double)T * nseq * rms * rms);
}

TEST(distortion_on_gaussians_matches_digest)
{
    test_rng r = test_rng_seeded(7);
    int san = sanitized();
    struct {
        int K, V;
        qtip_code c;
        int nseq;
        double lo, hi;
    } cfg[] = {
        {2, 1, QTIP_CODE_1MAD, 96, 0.0625, 0.0690},  {2, 1, QTIP_CODE_3INST, 96, 0.0625, 0.0690},
        {2, 2, QTIP_CODE_HYB, 96, 0.0625, 0.0705},   {3, 1, QTIP_CODE_1MAD, 32, 0.015625, 0.0178},
        {4, 1, QTIP_CODE_1MAD, 16, 0.00390625, 0.0050},
    };
    for (int c = 0; c < 5; c++) {
        if (san && c != 0 && c != 2) continue;
        int nseq = san ? 12 : cfg[c].nseq;
        qtip_trellis *t = make(16, cfg[c].K, cfg[c].V, cfg[c].c, 16, 16, NULL);
        if (!t) continue;
        double sem = 0, mse = distortion(t, nseq, &r, &sem);
        /* a reduced sample: the bound holds up to two standard errors (the full
         * figure comes from bench_viterbi); below the R(D) bound is always wrong */
        double slack = 2 * sem;
        fprintf(stderr, "K=%d %s: mse %.5f +- %.5f over %d sequences (bound %.4f, above %.5f)\n",
                cfg[c].K, qtip_code_name(cfg[c].c), mse, sem, nseq, cfg[c].hi, cfg[c].lo);
        CHECK(mse > cfg[c].lo && mse <= cfg[c].hi + slack, "K=%d %s: mse %.5f outside (%.5f, %.4f]",
              cfg[c].K, qtip_code_name(cfg[c].c), mse, cfg[c].lo, cfg[c].hi + slack);
        qtip_trellis_free(t);
    }
}

int main(void)
{
    RUN(fast_equals_reference);
    RUN(fast_equals_reference_with_ties);
    RUN(viterbi_equals_exhaustive_search);
    RUN(emitted_streams_are_consistent_and_deterministic);
    RUN(best_of_n_tail_biting);
    RUN(best_of_n_batch_is_deterministic);
    RUN(distortion_on_gaussians_matches_digest);
    return check_summary();
}
