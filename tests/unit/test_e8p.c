/*
 * test_e8p.c — E8P12 / RVQ3 / RVQ4 codebooks against the digest's tables and test
 * vectors, the structured search against exhaustive scans written here, Gaussian
 * MSE against the published figures, and the Qidxs layouts.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

static int sanitized(void) { return getenv("QTIP_TEST_SANITIZED") != NULL; }

static const int PERM[8] = {0, 2, 1, 3, 4, 6, 5, 7};

/* S as 2*|v| (odd integers 1, 3, 5), from the library; checked below. */
static int S2[256][8];

static void load_source(void)
{
    for (unsigned a = 0; a < 256; a++) {
        float v[8];
        qtip_e8p_source_vector(a, v);
        for (int i = 0; i < 8; i++) S2[a][i] = (int)(2.0f * v[i]);
    }
}

/* The digest's decode formula, written plainly (independent of the library's
 * SWAR decoder). Output in units of 1/4 (odd integers). */
static void ref_decode4(uint32_t c, int out4[8])
{
    int a = (int)(c >> 8), sb = (int)(c & 0xff);
    int p = __builtin_popcount((unsigned)sb) & 1;
    int sp = sb ^ p, sum2 = 0;
    for (int i = 0; i < 8; i++) sum2 += S2[a][i];
    int odd = (sum2 / 2) & 1;
    for (int i = 0; i < 8; i++) {
        int ah = 2 * S2[a][i]; /* 4 * |v| */
        if (i == 7 && odd) ah = -ah;
        int bit = 7 - PERM[i];
        int v = ((sp >> bit) & 1) ? -ah : ah;
        out4[i] = v + (p ? -1 : 1);
    }
}

TEST(source_table)
{
    load_source();
    /* rows 0..226: enumerate {-3.5..3.5}^8 (as odd integers u = 2v), keep even sum
     * (sum u = 0 mod 4) and norm^2 <= 10 (sum u^2 <= 40), fold, dedupe, sort */
    static uint8_t seen[65536]; /* index: base-4 digits (|u|-1)/2, coordinate 0 first */
    memset(seen, 0, sizeof seen);
    for (uint32_t code = 0; code < (1u << 24); code++) {
        int sum = 0, n2 = 0, idx = 0;
        for (int i = 0; i < 8; i++) {
            int u = 2 * (int)((code >> (21 - 3 * i)) & 7) - 7;
            sum += u;
            n2 += u * u;
            idx = idx * 4 + (abs(u) - 1) / 2;
        }
        if (n2 <= 40 && (sum & 3) == 0) seen[idx] = 1;
    }
    int n = 0, mism = 0;
    for (int idx = 0; idx < 65536; idx++) {
        if (!seen[idx]) continue;
        if (n < 256)
            for (int i = 0; i < 8; i++)
                if (S2[n][i] != 2 * ((idx >> (2 * (7 - i))) & 3) + 1) mism++;
        n++;
    }
    CHECK(n == 227, "enumeration gives %d vectors, expected 227", n);
    CHECK(mism == 0, "%d coordinates of rows 0..226 differ from the enumeration", mism);

    int hist[16] = {0}, oddsum = 0;
    for (int a = 0; a < 256; a++) {
        int n2 = 0, s = 0;
        for (int i = 0; i < 8; i++) {
            n2 += S2[a][i] * S2[a][i];
            s += S2[a][i];
        }
        CHECK(n2 % 4 == 0 && n2 / 4 <= 12, "row %d norm^2 %d/4", a, n2);
        hist[(n2 / 4) & 15]++;
        oddsum += (s / 2) & 1;
        if (a >= 227) {
            int n3 = 0, n1 = 0;
            for (int i = 0; i < 8; i++) {
                n3 += S2[a][i] == 3;
                n1 += S2[a][i] == 1;
            }
            CHECK(n3 == 5 && n1 == 3, "row %d: %d x 1.5 and %d x 0.5", a, n3, n1);
            for (int b = 227; b < a; b++)
                CHECK(memcmp(S2[a], S2[b], sizeof S2[a]) != 0, "rows %d and %d equal", a, b);
        }
    }
    CHECK(hist[2] == 1 && hist[4] == 8 && hist[6] == 28 && hist[8] == 64 && hist[10] == 126 &&
              hist[12] == 29,
          "norm^2 histogram %d %d %d %d %d %d", hist[2], hist[4], hist[6], hist[8], hist[10],
          hist[12]);
    CHECK(oddsum == 149, "%d rows with odd sum, expected 149", oddsum);

    /* packed abs table checksums of the digest */
    const uint64_t *pk = qtip_e8p_packed_abs_table();
    uint64_t x = 0, s = 0;
    for (int a = 0; a < 256; a++) {
        x ^= pk[a];
        s += pk[a];
    }
    CHECK(x == 0xf804000000040000ull, "xor 0x%016llx", (unsigned long long)x);
    CHECK(s == 0x73a7a3a3abafaba8ull, "sum 0x%016llx", (unsigned long long)s);
    CHECK(pk[0] == 0x0202020202020202ull && pk[1] == 0xfa02020202020202ull &&
              pk[2] == 0x0a02020202020202ull,
          "entries 0..2: %llx %llx %llx", (unsigned long long)pk[0], (unsigned long long)pk[1],
          (unsigned long long)pk[2]);
}

TEST(e81b_grid)
{
    /* get_e81bgrid order by brute enumeration: 2g in {-8..6 step 2}^8 then {-7..7 step 2}^8 */
    static int8_t g[256][8];
    int n = 0;
    for (int half = 0; half < 2; half++)
        for (uint32_t code = 0; code < (1u << 24); code++) {
            int v[8], sum = 0, n2 = 0;
            for (int i = 0; i < 8; i++) {
                int d = (int)((code >> (21 - 3 * i)) & 7) - 4; /* -4..3 */
                v[i] = half ? 2 * d + 1 : 2 * d;               /* 2 * value */
                sum += v[i];
                n2 += v[i] * v[i];
            }
            if (n2 > 8 || (sum & 3) != 0) continue; /* norm^2 <= 2, sum even */
            CHECK(n < 241, "too many grid points");
            if (n >= 241) return;
            for (int i = 0; i < 8; i++) g[n][i] = (int8_t)v[i];
            n++;
        }
    CHECK(n == 241, "%d points, expected 241", n);
    for (int k = 0; k < 15; k++, n++) {
        memset(g[n], 0, 8);
        g[n][k & 7] = (int8_t)(k < 8 ? 4 : -4);
    }
    const uint32_t *pk = qtip_e8p_e81b_packed_table();
    static const int ord[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    uint32_t x = 0, s = 0;
    int mism = 0;
    for (int j = 0; j < 256; j++) {
        uint32_t e = 0;
        for (int k = 0; k < 8; k++) e |= (uint32_t)(g[j][ord[k]] & 0xf) << (4 * k);
        mism += e != pk[j];
        x ^= pk[j];
        s += pk[j];
    }
    CHECK(mism == 0, "%d packed entries differ from the enumeration", mism);
    CHECK(x == 0x48888888u && s == 0x844443f0u, "xor 0x%08x sum 0x%08x", x, s);
    CHECK(pk[240] == 0x11111111u && pk[241] == 0x00000004u, "(1/2)^8 0x%08x, 2e0 0x%08x", pk[240],
          pk[241]);
    CHECK(g[0][0] == -2 && g[0][1] == -2 && g[0][2] == 0, "index 0");
    static const int8_t zero[8] = {0};
    CHECK(memcmp(g[56], zero, 8) == 0, "index 56 is not 0");
    CHECK(g[112][0] == 2 && g[112][1] == 2, "index 112");
    CHECK(g[113][0] == -1 && g[113][7] == -1, "index 113");
    CHECK(g[255][6] == -4, "index 255");
}

TEST(decode_vectors)
{
    load_source();
    qtip_e8p *cb = NULL;
    CHECK_OK(qtip_e8p_create(QTIP_E8P12, &cb));
    if (!cb) return;
    static const struct { uint32_t c; float v[8]; } tv[] = {
        {0x0000, {0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f}},
        {0x0001, {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f}},
        {0x0002, {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, -0.75f, 0.25f, -0.75f}},
        {0x0080, {-0.75f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, -0.75f}},
        {0x00ff, {-0.25f, -0.25f, -0.25f, -0.25f, -0.25f, -0.25f, -0.25f, -0.25f}},
        {0x0100, {0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, -1.25f}},
        {0x1234, {0.25f, -0.75f, 0.25f, -0.75f, 1.25f, 0.25f, -0.75f, -1.75f}},
        {0xabcd, {-1.75f, 0.25f, -0.75f, 1.25f, -0.75f, 1.25f, -0.75f, -0.75f}},
        {0xffff, {-1.25f, -1.25f, -0.25f, -0.25f, -1.25f, -1.25f, -1.25f, 0.75f}},
    };
    for (size_t t = 0; t < sizeof tv / sizeof tv[0]; t++) {
        float out[8];
        CHECK_OK(qtip_e8p_decode(cb, &tv[t].c, 1, out));
        CHECK(memcmp(out, tv[t].v, sizeof out) == 0, "code 0x%04x decodes to %g %g %g %g %g %g %g %g",
              tv[t].c, out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7]);
    }
    /* all 65,536 codes: library decode == plain formula, distinct, in D8^ + 1/4 */
    static uint32_t codes[65536];
    static float out[65536 * 8];
    for (uint32_t c = 0; c < 65536; c++) codes[c] = c;
    CHECK_OK(qtip_e8p_decode(cb, codes, 65536, out));
    int bad = 0, badpar = 0;
    static uint64_t keys[65536];
    for (uint32_t c = 0; c < 65536; c++) {
        int r4[8], t4 = 0;
        ref_decode4(c, r4);
        uint64_t key = 0;
        for (int i = 0; i < 8; i++) {
            bad += out[8 * c + i] != 0.25f * (float)r4[i];
            key = key * 32 + (uint64_t)(r4[i] + 16);
            t4 += r4[i];
        }
        keys[c] = key;
        /* v - t is half-integer with even sum: 4(v-t) = 2 mod 4 each, sum = 0 mod 8 */
        int p = __builtin_popcount(c & 0xff) & 1, sh = p ? -1 : 1;
        if (((t4 - 8 * sh) % 8) != 0) badpar++;
    }
    CHECK(bad == 0, "%d coordinates differ from the digest's decode formula", bad);
    CHECK(badpar == 0, "%d codewords break the parity rule", badpar);
    int dup = 0;
    /* distinctness: sort the keys */
    for (int gap = 65536 / 2; gap > 0; gap /= 2) /* shell sort, deterministic */
        for (int i = gap; i < 65536; i++)
            for (int j = i; j >= gap && keys[j - gap] > keys[j]; j -= gap) {
                uint64_t tmp = keys[j];
                keys[j] = keys[j - gap];
                keys[j - gap] = tmp;
            }
    for (int i = 1; i < 65536; i++) dup += keys[i] == keys[i - 1];
    CHECK(dup == 0, "%d duplicate codewords", dup);
    qtip_e8p_free(cb);
}

/* ---- exhaustive scans (the test's own) ---------------------------------- */

static double CBK[65536][8], CBN2[65536];

static void build_brute(void)
{
    load_source();
    for (uint32_t c = 0; c < 65536; c++) {
        int r4[8];
        ref_decode4(c, r4);
        double n2 = 0;
        for (int i = 0; i < 8; i++) {
            CBK[c][i] = 0.25 * r4[i];
            n2 += CBK[c][i] * CBK[c][i];
        }
        CBN2[c] = n2;
    }
}

static void scan_group(const double *x, uint32_t a, double *best, uint32_t *bc)
{
    for (uint32_t c = a << 8; c < ((a + 1) << 8); c++) {
        double d = 0;
        for (int i = 0; i < 8; i++) d += x[i] * CBK[c][i];
        double s = CBN2[c] - 2.0 * d;
        if (s < *best || (s == *best && c < *bc)) {
            *best = s;
            *bc = c;
        }
    }
}

/* every codeword, in code order */
static uint32_t brute_full(const float *xf)
{
    double x[8], best = INFINITY;
    uint32_t bc = 0;
    for (int i = 0; i < 8; i++) x[i] = xf[i];
    for (uint32_t a = 0; a < 256; a++) scan_group(x, a, &best, &bc);
    return bc;
}

/* every codeword of every group whose sign-relaxed lower bound can reach the best */
static uint32_t brute_pruned(const float *xf)
{
    double x[8], sumx = 0, gb[256];
    for (int i = 0; i < 8; i++) {
        x[i] = xf[i];
        sumx += x[i];
    }
    for (int a = 0; a < 256; a++) gb[a] = INFINITY;
    for (int p = 0; p < 2; p++) {
        double t = p ? -0.25 : 0.25;
        for (int a = 0; a < 256; a++) {
            double n2 = 0, d = 0;
            for (int i = 0; i < 8; i++) {
                double s = 0.5 * S2[a][i];
                n2 += s * s;
                d += s * fabs(x[i] - t);
            }
            double b = n2 + 0.5 - 2.0 * t * sumx - 2.0 * d;
            if (b < gb[a]) gb[a] = b;
        }
    }
    uint32_t a0 = 0;
    for (uint32_t a = 1; a < 256; a++)
        if (gb[a] < gb[a0]) a0 = a;
    double best = INFINITY;
    uint32_t bc = 0;
    scan_group(x, a0, &best, &bc);
    for (uint32_t a = 0; a < 256; a++)
        if (a != a0 && gb[a] <= best + 1e-9) scan_group(x, a, &best, &bc);
    return bc;
}

/* test inputs: Gaussian, grids of 1/8 and 1/4 (exact ties, zero coordinates),
 * near-ties, codeword midpoints, an outer shell */
static void make_inputs(test_rng *r, float *x, size_t count)
{
    for (size_t v = 0; v < count; v++) {
        int type = (int)(v % 6);
        uint32_t c1 = (uint32_t)(test_rng_next(r) & 0xffff);
        uint32_t c2 = c1 ^ (1u << (test_rng_next(r) % 16));
        for (int i = 0; i < 8; i++) {
            double g = test_rng_normal(r) * 1.03, val;
            switch (type) {
            case 0: val = g; break;
            case 1: val = round(g * 8) / 8; break;
            case 2: val = round(g * 8) / 8 + 1e-6 * test_rng_normal(r); break;
            case 3: val = round(g * 4) / 4; break;
            case 4: val = 0.5 * (CBK[c1][i] + CBK[c2][i]); break;
            default: val = g * 2.5; break;
            }
            x[8 * v + i] = (float)val;
        }
    }
}

TEST(structured_equals_brute_force)
{
    build_brute();
    test_rng r = test_rng_seeded(0xe8e8);
    size_t n = sanitized() ? 12000 : 120000, nfull = sanitized() ? 150 : 1500;
    float *x = malloc(n * 8 * sizeof *x);
    uint32_t *codes = malloc(n * sizeof *codes);
    make_inputs(&r, x, n);
    qtip_e8p *cb = NULL;
    CHECK_OK(qtip_e8p_create(QTIP_E8P12, &cb));
    CHECK_OK(qtip_e8p_quantize(cb, x, n, codes, NULL));
    size_t mism = 0, mism_full = 0, pr_full = 0;
    for (size_t v = 0; v < n; v++) {
        uint32_t b = brute_pruned(x + 8 * v);
        if (b != codes[v]) {
            if (mism < 5)
                fprintf(stderr, "vector %zu (type %zu): structured 0x%04x, brute 0x%04x\n", v,
                        v % 6, codes[v], b);
            mism++;
        }
        if (v < nfull) {
            uint32_t f = brute_full(x + 8 * v);
            mism_full += f != codes[v];
            pr_full += f != b;
        }
    }
    fprintf(stderr, "%zu vectors: %zu mismatches (pruned scan); first %zu: %zu (full scan)\n", n,
            mism, nfull, mism_full);
    CHECK(mism == 0, "%zu of %zu codes differ from the exhaustive scan", mism, n);
    CHECK(mism_full == 0 && pr_full == 0, "full scan: %zu / %zu mismatches", mism_full, pr_full);
    qtip_e8p_free(cb);
    free(x);
    free(codes);
}

/* nearest E81B point by the test's own enumeration-free formula: scan decoded table */
static uint32_t e81b_brute(const float *rf)
{
    const uint32_t *pk = qtip_e8p_e81b_packed_table();
    static const int ord[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    double best = INFINITY;
    uint32_t bj = 0;
    for (uint32_t j = 0; j < 256; j++) {
        double d = 0;
        for (int k = 0; k < 8; k++) {
            int nib = (int)((pk[j] >> (4 * k)) & 0xf);
            double g = 0.5 * (nib >= 8 ? nib - 16 : nib), e = rf[ord[k]] - g;
            d += e * e;
        }
        if (d < best) {
            best = d;
            bj = j;
        }
    }
    return bj;
}

TEST(gaussian_mse)
{
    static const double limit[3] = {0.0920, 0.0300, 0.0100};
    test_rng r = test_rng_seeded(1234);
    size_t n = sanitized() ? 40000 : 200000;
    float *x = malloc(n * 8 * sizeof *x), *xs = malloc(n * 8 * sizeof *xs);
    float *rec = malloc(n * 8 * sizeof *rec), *dec = malloc(n * 8 * sizeof *dec);
    uint32_t *codes = malloc(n * sizeof *codes), *c1 = malloc(n * sizeof *c1);
    for (size_t i = 0; i < n * 8; i++) x[i] = (float)test_rng_normal(&r);
    qtip_e8p *base = NULL;
    CHECK_OK(qtip_e8p_create(QTIP_E8P12, &base));
    for (int k = 0; k < 3; k++) {
        qtip_e8p *cb = NULL;
        CHECK_OK(qtip_e8p_create((qtip_e8p_kind)k, &cb));
        float s = qtip_e8p_opt_scale((qtip_e8p_kind)k);
        for (size_t i = 0; i < n * 8; i++) xs[i] = x[i] * s;
        CHECK_OK(qtip_e8p_quantize(cb, xs, n, codes, rec));
        CHECK_OK(qtip_e8p_decode(cb, codes, n, dec));
        CHECK(memcmp(rec, dec, n * 8 * sizeof *rec) == 0, "%s: decode(codes) != recon",
              qtip_e8p_name((qtip_e8p_kind)k));
        double se = 0;
        for (size_t i = 0; i < n * 8; i++) {
            double e = (double)rec[i] / s - x[i];
            se += e * e;
        }
        double mse = se / (double)(n * 8);
        fprintf(stderr, "%s: opt_scale %.2f, mse per coordinate %.5f (limit %.4f)\n",
                qtip_e8p_name((qtip_e8p_kind)k), s, mse, limit[k]);
        CHECK(mse <= limit[k], "%s mse %.5f > %.4f", qtip_e8p_name((qtip_e8p_kind)k), mse,
              limit[k]);
        CHECK(mse > limit[k] * 0.9, "%s mse %.5f implausibly low", qtip_e8p_name((qtip_e8p_kind)k),
              mse);
        if (k == 0) {
            qtip_e8p_free(cb);
            continue;
        }
        /* stages: first is plain E8P12 of x; second is the nearest of (x - q1) / rs */
        CHECK_OK(qtip_e8p_quantize(base, xs, n, c1, NULL));
        float rs = (float)qtip_e8p_opt_resid_scale((qtip_e8p_kind)k);
        size_t bad1 = 0, bad2 = 0, nchk = sanitized() ? 1000 : 20000;
        for (size_t v = 0; v < n; v++) {
            uint32_t first = k == 1 ? codes[v] >> 8 : codes[v] >> 16;
            bad1 += first != c1[v];
            if (v >= nchk) continue;
            float q1[8], res[8];
            CHECK_OK(qtip_e8p_decode(base, &first, 1, q1));
            for (int i = 0; i < 8; i++) res[i] = (xs[8 * v + i] - q1[i]) / rs;
            uint32_t want;
            if (k == 1) want = e81b_brute(res);
            else CHECK_OK(qtip_e8p_quantize(base, res, 1, &want, NULL));
            bad2 += want != (k == 1 ? codes[v] & 0xff : codes[v] & 0xffff);
        }
        CHECK(bad1 == 0 && bad2 == 0, "%s: %zu first-stage, %zu second-stage mismatches",
              qtip_e8p_name((qtip_e8p_kind)k), bad1, bad2);
        qtip_e8p_free(cb);
    }
    qtip_e8p_free(base);
    free(x);
    free(xs);
    free(rec);
    free(dec);
    free(codes);
    free(c1);
}

TEST(thread_count_invariance)
{
    test_rng r = test_rng_seeded(77);
    size_t n = sanitized() ? 3000 : 20000;
    float *x = malloc(n * 8 * sizeof *x);
    uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n * 8; i++) x[i] = (float)test_rng_normal(&r);
    int saved = qtip_get_threads();
    for (int k = 0; k < 3; k++) {
        qtip_e8p *cb = NULL;
        CHECK_OK(qtip_e8p_create((qtip_e8p_kind)k, &cb));
        qtip_set_threads(1);
        CHECK_OK(qtip_e8p_quantize(cb, x, n, a, NULL));
        qtip_set_threads(3);
        CHECK_OK(qtip_e8p_quantize(cb, x, n, b, NULL));
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "%s: codes depend on the thread count",
              qtip_e8p_name((qtip_e8p_kind)k));
        qtip_e8p_free(cb);
    }
    qtip_set_threads(saved);
    free(x);
    free(a);
    free(b);
}

TEST(names_constants_errors)
{
    CHECK(qtip_e8p_from_name("e8p12") == QTIP_E8P12, "e8p12");
    CHECK(qtip_e8p_from_name("E8P12RVQ3B") == QTIP_E8P12_RVQ3, "E8P12RVQ3B");
    CHECK(qtip_e8p_from_name("e8p12-rvq4") == QTIP_E8P12_RVQ4, "e8p12-rvq4");
    CHECK(qtip_e8p_from_name("e8p13") == -1 && qtip_e8p_from_name(NULL) == -1, "unknown");
    CHECK(strcmp(qtip_e8p_config_name(QTIP_E8P12_RVQ4), "E8P12RVQ4B") == 0, "config name");
    CHECK(qtip_e8p_bits(QTIP_E8P12_RVQ3) == 3 && qtip_e8p_code_bits(QTIP_E8P12_RVQ3) == 24, "bits");
    CHECK(qtip_e8p_name((qtip_e8p_kind)3) == NULL && qtip_e8p_bits((qtip_e8p_kind)3) == 0,
          "a kind past the table");
    CHECK(qtip_e8p_opt_scale(QTIP_E8P12) == 1.03f && qtip_e8p_opt_scale(QTIP_E8P12_RVQ3) == 0.98f &&
              qtip_e8p_opt_scale(QTIP_E8P12_RVQ4) == 1.03f,
          "opt_scale");
    CHECK(qtip_e8p_resid_scale(QTIP_E8P12_RVQ3) == 2.04f &&
              qtip_e8p_resid_scale(QTIP_E8P12_RVQ4) == 3.45f,
          "resid scale");
    /* the digest's JSON values, to the last bit */
    CHECK(qtip_e8p_opt_resid_scale(QTIP_E8P12_RVQ3) == 0.49019607843137253, "rvq3 opt_resid_scale");
    CHECK(qtip_e8p_opt_resid_scale(QTIP_E8P12_RVQ4) == 0.2898550724637681, "rvq4 opt_resid_scale");

    qtip_e8p *cb = NULL;
    CHECK_STATUS(qtip_e8p_create((qtip_e8p_kind)7, &cb), QTIP_E_PARAM);
    CHECK_OK(qtip_e8p_create(QTIP_E8P12_RVQ3, &cb));
    float x[16] = {0}, out[16];
    uint32_t codes[2] = {0x1000000u, 0};
    x[13] = NAN;
    CHECK_STATUS(qtip_e8p_quantize(cb, x, 2, codes, NULL), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "8-vector 1") != NULL, "message: %s", qtip_last_error());
    codes[0] = 0x1000000u;
    CHECK_STATUS(qtip_e8p_decode(cb, codes, 1, out), QTIP_E_PARAM);
    qtip_e8p_free(cb);
    qtip_e8p_free(NULL);
}

TEST(qidxs_layouts)
{
    /* RVQ3: one row, 32 inputs = 4 codes -> 12 bytes = 3 int32 */
    uint32_t c3[4] = {0xabcdefu, 0x123456u, 0x000001u, 0xffffffu}, back[8];
    uint8_t q[32];
    CHECK(qtip_e8p_qidxs_cols(QTIP_E8P12_RVQ3, 32) == 3 &&
              qtip_e8p_qidxs_cols(QTIP_E8P12_RVQ3, 40) == 0 &&
              qtip_e8p_qidxs_cols(QTIP_E8P12, 40) == 5 && qtip_e8p_qidxs_elem_size(QTIP_E8P12) == 2,
          "qidxs cols");
    CHECK_OK(qtip_e8p_pack_qidxs(QTIP_E8P12_RVQ3, c3, 1, 32, q));
    static const uint8_t want3[12] = {0xef, 0xcd, 0xab, 0x56, 0x34, 0x12,
                                      0x01, 0x00, 0x00, 0xff, 0xff, 0xff};
    CHECK(memcmp(q, want3, 12) == 0, "rvq3 bytes");
    int32_t w0;
    memcpy(&w0, q, 4);
    CHECK(w0 == 0x56abcdef, "first int32 0x%08x", (unsigned)w0);
    CHECK_OK(qtip_e8p_unpack_qidxs(QTIP_E8P12_RVQ3, q, 1, 32, back));
    CHECK(memcmp(back, c3, sizeof c3) == 0, "rvq3 round trip");
    CHECK_STATUS(qtip_e8p_pack_qidxs(QTIP_E8P12_RVQ3, c3, 1, 24, q), QTIP_E_SHAPE);
    uint32_t wide = 0x1000000u;
    CHECK_STATUS(qtip_e8p_pack_qidxs(QTIP_E8P12_RVQ3, &wide, 1, 8 * 4, q), QTIP_E_PARAM);
    /* E8P12: int16 bit patterns, row-major */
    uint32_t c2[2] = {0xabcdu, 0x0001u};
    CHECK_OK(qtip_e8p_pack_qidxs(QTIP_E8P12, c2, 2, 8, q));
    int16_t h[2];
    memcpy(h, q, 4);
    CHECK(h[0] == (int16_t)-21555 && h[1] == 1, "int16 %d %d", h[0], h[1]);
    CHECK_OK(qtip_e8p_unpack_qidxs(QTIP_E8P12, q, 2, 8, back));
    CHECK(back[0] == 0xabcdu && back[1] == 1u, "e8p12 round trip");
    /* RVQ4: (main << 16) | resid as int32 */
    uint32_t c4 = 0xabcd1234u;
    CHECK_OK(qtip_e8p_pack_qidxs(QTIP_E8P12_RVQ4, &c4, 1, 8, q));
    int32_t i4;
    memcpy(&i4, q, 4);
    CHECK((uint32_t)i4 == 0xabcd1234u, "rvq4 int32");
}

int main(void)
{
    RUN(source_table);
    RUN(e81b_grid);
    RUN(decode_vectors);
    RUN(structured_equals_brute_force);
    RUN(gaussian_mse);
    RUN(thread_count_invariance);
    RUN(names_constants_errors);
    RUN(qidxs_layouts);
    return check_summary();
}
