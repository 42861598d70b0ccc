/*
 * test_exports.c — the export layouts decode, under each loader's own rules written
 * here from the reference digests (qtip.md 6.1/6.2/3.4, quipsharp.md 1.1/1.4/5.1),
 * to exactly the weights our canonical layout decodes to. Nothing here calls our
 * decoders: both sides are decoded by the rules in this file.
 */
#include "check.h"

#include <string.h>

/* --- code functions (qtip.md 1.3) ---------------------------------------------- */
static void hyb_values(uint32_t s, const float *tlut, float *v)
{
    uint32_t p = s * (s + 1u);
    uint32_t idx = (p >> 6) & 511u, neg = (p >> 15) & 1u;
    v[0] = neg ? -tlut[2 * idx] : tlut[2 * idx];
    v[1] = tlut[2 * idx + 1];
}

static float onemad_value(uint32_t s)
{
    uint32_t x = s * 34038481u + 76625530u;
    int y = (int)(x & 255) + (int)((x >> 8) & 255) + (int)((x >> 16) & 255) + (int)(x >> 24) - 510;
    return (float)y / 147.800537109375f;
}

/* 16-bit window at bit `off` of a circular stream given by a bit function. */
typedef int (*bit_fn)(const void *ctx, int64_t b);
static uint32_t window16(bit_fn bit, const void *ctx, int64_t off, int64_t total)
{
    uint32_t s = 0;
    for (int k = 0; k < 16; k++) s = (s << 1) | (uint32_t)bit(ctx, (off + k) % total);
    return s;
}

/* --- canonical rule (docs/formats/model-dir.md) ------------------------------- */
typedef struct { const uint16_t *codes; int64_t rw, R, C; int K; } canon_ctx;
static int canon_bit(const void *vc, int64_t b)
{
    const canon_ctx *c = (const canon_ctx *)vc;
    int64_t w = b / 16;
    uint16_t word = c->codes[(16 * c->R + w / c->K) * c->rw + c->C * c->K + w % c->K];
    return (word >> (15 - b % 16)) & 1;
}

/* Decode canonical trellis codes; fragment = 1 places values in the mma order. */
static void canon_decode(const uint16_t *codes, int64_t m, int64_t n, int K, int V, int fragment,
                         const float *tlut, float *W)
{
    canon_ctx c = {codes, n * K / 16, 0, 0, K};
    int64_t total = 256 * (int64_t)K;
    for (c.R = 0; c.R < m / 16; c.R++)
        for (c.C = 0; c.C < n / 16; c.C++)
            for (int i = 0; i < 256 / V; i++) {
                uint32_t s = window16(canon_bit, &c, (int64_t)i * K * V, total);
                float v[2];
                if (V == 2) hyb_values(s, tlut, v);
                else v[0] = onemad_value(s);
                for (int e = 0; e < V; e++) {
                    int j = i * V + e, row, col;
                    if (fragment) {
                        int b = j / 32, d = (j / 8) % 4, h = (j / 4) % 2, a = (j / 2) % 2, ee = j % 2;
                        row = a * 8 + b;
                        col = h * 8 + d * 2 + ee;
                    } else {
                        row = j / 16;
                        col = j % 16;
                    }
                    W[(16 * c.R + row) * n + 16 * c.C + col] = v[e];
                }
            }
}

/* --- QTIP reference loader, generic layout (qtip.md 6.1) -------------------- */
typedef struct { const uint16_t *tile; } gen_ctx;
static int gen_bit(const void *vc, int64_t b)
{
    const gen_ctx *g = (const gen_ctx *)vc;
    return (g->tile[b / 16] >> (15 - b % 16)) & 1;
}
static void ref_generic_decode(const uint16_t *trellis, int64_t m, int64_t n, int K, int V,
                               const float *tlut, float *W)
{
    int64_t tw = 16 * (int64_t)K, total = 256 * (int64_t)K;
    for (int64_t R = 0; R < m / 16; R++)
        for (int64_t C = 0; C < n / 16; C++) {
            gen_ctx g = {trellis + (R * (n / 16) + C) * tw};
            for (int i = 0; i < 256 / V; i++) {
                uint32_t s = window16(gen_bit, &g, (int64_t)i * K * V, total);
                float v[2];
                if (V == 2) hyb_values(s, tlut, v);
                else v[0] = onemad_value(s);
                for (int e = 0; e < V; e++) {
                    int t = i * V + e;
                    W[(16 * R + t / 16) * n + 16 * C + t % 16] = v[e];
                }
            }
        }
}

/* --- QTIP reference loader, kernel layout (qtip.md 6.2) --------------------- */
typedef struct { const uint8_t *bytes; int64_t R, C, n; int K; } ker_ctx;
static int ker_bit(const void *vc, int64_t b)
{
    const ker_ctx *k = (const ker_ctx *)vc;
    int K = k->K;
    int64_t q = b / (8 * K), j = b % (8 * K);
    int64_t R2 = k->R >> 1, r = k->R & 1, C2 = k->C >> 1, c = k->C & 1;
    int64_t off = (R2 * (k->n / 32) + C2) * (128 * K) + q * (4 * K) + (2 * c + r) * K;
    uint64_t X = 0;
    for (int i = 0; i < K; i++) X |= (uint64_t)k->bytes[off + i] << (8 * i);
    return (int)((X >> (8 * K - 1 - j)) & 1);
}
static void ref_kernel_decode(const int16_t *trellis, int64_t m, int64_t n, int K,
                              const float *tlut, float *W)
{
    ker_ctx k = {(const uint8_t *)trellis, 0, 0, n, K};
    int64_t total = 256 * (int64_t)K;
    for (k.R = 0; k.R < m / 16; k.R++)
        for (k.C = 0; k.C < n / 16; k.C++)
            for (int i = 0; i < 128; i++) {
                uint32_t s = window16(ker_bit, &k, (int64_t)i * 2 * K, total);
                float v[2];
                hyb_values(s, tlut, v);
                int q = i / 4, t = i % 4, b = q >> 2, d = q & 3, h = t >> 1, a = t & 1;
                int64_t row = 16 * k.R + a * 8 + b, col = 16 * k.C + h * 8 + d * 2;
                W[row * n + col] = v[0];
                W[row * n + col + 1] = v[1];
            }
}

static void random_words(test_rng *r, uint16_t *w, size_t count)
{
    for (size_t i = 0; i < count; i++) w[i] = (uint16_t)test_rng_next(r);
}

static void random_tlut(test_rng *r, float *tlut)
{
    for (int i = 0; i < 1024; i++)
        tlut[i] = qtip_f16_to_f32(qtip_f32_to_f16((float)test_rng_normal(r)));
}

TEST(kernel_layout_decodes_like_canonical)
{
    test_rng r = test_rng_seeded(5001);
    float tlut[1024];
    random_tlut(&r, tlut);
    const int64_t shapes[][2] = {{32, 64}, {64, 96}, {96, 32}};
    for (int K = 2; K <= 4; K++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int64_t m = shapes[si][0], n = shapes[si][1], words = m * n * K / 16;
            uint16_t *codes = malloc(words * 2), *tiles = malloc(words * 2), *back = malloc(words * 2);
            int16_t *kern = malloc(words * 2);
            float *Wc = malloc(m * n * 4), *Wk = malloc(m * n * 4);
            random_words(&r, codes, (size_t)words);
            CHECK_OK(qtip_pack_trellis_to_tiles(codes, m, n, K, tiles));
            CHECK_OK(qtip_pack_trellis_kernel_swizzle(tiles, m, n, K, kern));
            canon_decode(codes, m, n, K, 2, 1, tlut, Wc);
            ref_kernel_decode(kern, m, n, K, tlut, Wk);
            CHECK(memcmp(Wc, Wk, m * n * 4) == 0, "K=%d %lldx%lld: kernel layout decodes differently",
                  K, (long long)m, (long long)n);
            /* inverse transforms recover the canonical words */
            memset(back, 0, words * 2);
            CHECK_OK(qtip_pack_trellis_kernel_unswizzle(kern, m, n, K, tiles));
            CHECK_OK(qtip_pack_trellis_from_tiles(tiles, m, n, K, back));
            CHECK(memcmp(back, codes, words * 2) == 0, "K=%d: round trip differs", K);
            free(codes); free(tiles); free(back); free(kern); free(Wc); free(Wk);
        }
}

TEST(kernel_layout_rejects_bad_shapes)
{
    uint16_t t[16 * 2 * 2] = {0};
    int16_t o[16 * 2 * 2];
    CHECK_STATUS(qtip_pack_trellis_kernel_swizzle(t, 16, 32, 2, o), QTIP_E_SHAPE);
    CHECK_STATUS(qtip_pack_trellis_kernel_swizzle(t, 32, 16, 2, o), QTIP_E_SHAPE);
    CHECK_STATUS(qtip_pack_trellis_to_tiles(t, 24, 16, 2, t), QTIP_E_SHAPE);
}

TEST(generic_layout_decodes_like_canonical)
{
    test_rng r = test_rng_seeded(5002);
    float tlut[1024];
    random_tlut(&r, tlut);
    /* 1MAD, V=1 (row-major order) and a HYB that is not the kernel config (row-major) */
    for (int K = 1; K <= 4; K++)
        for (int V = 1; V <= 2; V++) {
            int64_t m = 48, n = 80, words = m * n * K / 16;
            uint16_t *codes = malloc(words * 2), *tiles = malloc(words * 2);
            float *Wc = malloc(m * n * 4), *Wg = malloc(m * n * 4);
            random_words(&r, codes, (size_t)words);
            CHECK_OK(qtip_pack_trellis_to_tiles(codes, m, n, K, tiles));
            canon_decode(codes, m, n, K, V, 0, tlut, Wc);
            ref_generic_decode(tiles, m, n, K, V, tlut, Wg);
            CHECK(memcmp(Wc, Wg, m * n * 4) == 0, "K=%d V=%d: generic layout decodes differently", K, V);
            free(codes); free(tiles); free(Wc); free(Wg);
        }
}

TEST(tile_position_orders)
{
    qtip_trellis_params p = {16, 2, 2, 9, QTIP_CODE_HYB, 16, 16};
    int seen[256] = {0}, row, col;
    CHECK(qtip_pack_is_kernel_config(&p), "HYB/L16/K2/V2/Q9 is the kernel config");
    for (int j = 0; j < 256; j++) {
        qtip_pack_tile_position(&p, j, &row, &col);
        seen[row * 16 + col]++;
    }
    for (int i = 0; i < 256; i++) CHECK(seen[i] == 1, "position %d used %d times", i, seen[i]);
    /* qtip.md 3.4: j = b*32 + d*8 + h*4 + a*2 + e; j = 37 -> b=1 d=0 h=1 a=0 e=1 */
    qtip_pack_tile_position(&p, 37, &row, &col);
    CHECK(row == 1 && col == 9, "j=37 -> (%d, %d), expected (1, 9)", row, col);
    p.code = QTIP_CODE_1MAD; p.V = 1; p.Q = 0;
    CHECK(!qtip_pack_is_kernel_config(&p), "1MAD is not the kernel config");
    qtip_pack_tile_position(&p, 37, &row, &col);
    CHECK(row == 2 && col == 5, "row-major j=37 -> (%d, %d)", row, col);
}

/* --- E8P (quipsharp.md 1.1, 1.4) -------------------------------------------- */
static const char *const e8p_abs_digits =
    "1111111111111113111111151111113111111133111111351111115111111153"
    "1111131111111313111113151111133111111333111113511111151111111513"
    "1111153111113111111131131111311511113131111131331111315111113311"
    "1111331311113331111133331111351111115111111151131111513111115311"
    "1113111111131113111311151113113111131133111311511113131111131313"
    "1113133111131333111315111113311111133113111331311113313311133311"
    "1113331311133331111351111115111111151113111511311115131111153111"
    "1131111111311113113111151131113111311133113111511131131111311313"
    "1131133111311333113115111131311111313113113131311131313311313311"
    "1131331311313331113151111133111111331113113311311133113311331311"
    "1133131311331331113331111133311311333131113333111135111111511111"
    "1151111311511131115113111151311111531111131111111311111313111115"
    "1311113113111133131111511311131113111313131113311311133313111511"
    "1311311113113113131131311311313313113311131133131311333113115111"
    "1313111113131113131311311313113313131311131313131313133113133111"
    "1313311313133131131333111315111113311111133111131331113113311133"
    "1331131113311313133113311331311113313113133131311331331113331111"
    "1333111313331131133313111333311113511111151111111511111315111131"
    "1511131115113111151311111531111131111111311111133111111531111131"
    "3111113331111151311113113111131331111331311113333111151131113111"
    "3111311331113131311131333111331131113313311133313111511131131111"
    "3113111331131131311311333113131131131313311313313113311131133113"
    "3113313131133311311511113131111131311113313111313131113331311311"
    "3131131331311331313131113131311331313131313133113133111131331113"
    "3133113131331311313331113151111133111111331111133311113133111133"
    "3311131133111313331113313311311133113113331131313311331133131111"
    "3313111333131131331313113313311133311111333111133331113133311311"
    "3331311133331111351111115111111151111113511111315111131151113111"
    "5113111151311111531111113111333313113333113133331113333333313311"
    "3331313133311331333131133331131333311133331333113313313133131331"
    "3313311333131313331311333133331131333131313313313133311331331313"
    "1333113313333311133331311333133113333113133313131133133333113331";

static void e8p_decode(uint32_t c, float *v)
{
    static const int PERM[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    int a = (int)((c >> 8) & 0xFF), sb = (int)(c & 0xFF);
    int p = __builtin_popcount((unsigned)sb) & 1, s2 = sb ^ p, sum2 = 0;
    float A[8];
    for (int i = 0; i < 8; i++) {
        int d = e8p_abs_digits[a * 8 + i] - '0';
        A[i] = 0.5f * (float)d;
        sum2 += d;
    }
    if ((sum2 / 2) % 2) A[7] = -A[7];
    for (int i = 0; i < 8; i++) {
        int bit = 7 - PERM[i];
        v[i] = (((s2 >> bit) & 1) ? -A[i] : A[i]) + (p ? -0.25f : 0.25f);
    }
}

static float e81b[256][8];
static void build_e81b(void)
{
    static int built;
    if (built) return;
    built = 1;
    int n = 0;
    for (int half = 0; half < 2; half++)
        for (int idx = 0; idx < 16777216; idx++) {
            /* cartesian product of 8 values in {-4..3} (+1/2 for the second pass), first slowest */
            int t = idx, dig[8];
            for (int i = 7; i >= 0; i--) { dig[i] = t % 8; t /= 8; }
            float x[8], nn = 0, s = 0;
            for (int i = 0; i < 8; i++) {
                x[i] = (float)(dig[i] - 4) + (half ? 0.5f : 0.0f);
                nn += x[i] * x[i];
                s += x[i];
            }
            if (nn > 2.0f || fmodf(s, 2.0f) != 0.0f) continue;
            memcpy(e81b[n++], x, sizeof x);
        }
    for (int i = 0; i < 8; i++) { memset(e81b[n], 0, 32); e81b[n++][i] = 2; }
    for (int i = 0; i < 7; i++) { memset(e81b[n], 0, 32); e81b[n++][i] = -2; }
}

TEST(e8p_independent_decoder_matches_digest_vectors)
{
    const struct { uint32_t c; float v[8]; } tv[] = {
        {0x0000, {.75f, .75f, .75f, .75f, .75f, .75f, .75f, .75f}},
        {0x0002, {.25f, .25f, .25f, .25f, .25f, -.75f, .25f, -.75f}},
        {0x1234, {.25f, -.75f, .25f, -.75f, 1.25f, .25f, -.75f, -1.75f}},
        {0xabcd, {-1.75f, .25f, -.75f, 1.25f, -.75f, 1.25f, -.75f, -.75f}},
        {0xffff, {-1.25f, -1.25f, -.25f, -.25f, -1.25f, -1.25f, -1.25f, .75f}},
    };
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        float v[8];
        e8p_decode(tv[i].c, v);
        CHECK(memcmp(v, tv[i].v, sizeof v) == 0, "code 0x%04x decodes wrong", (unsigned)tv[i].c);
    }
    build_e81b();
    CHECK(e81b[56][0] == 0 && e81b[112][0] == 1 && e81b[113][0] == -0.5f && e81b[241][0] == 2 &&
          e81b[255][6] == -2, "E81B grid order differs from quipsharp.md 1.4");
}

/* QuIP-for-all: value of block b of row r, from Qidxs, its own rules. */
static void qfa_block(qtip_e8p_kind k, const void *qidxs, int64_t n, int64_t r, int64_t b, float s,
                      float *v)
{
    float res[8];
    if (k == QTIP_E8P12) {
        const int16_t *q = (const int16_t *)qidxs;
        e8p_decode((uint16_t)q[r * (n / 8) + b], v);
        return;
    }
    if (k == QTIP_E8P12_RVQ4) {
        uint32_t c = (uint32_t)((const int32_t *)qidxs)[r * (n / 8) + b];
        e8p_decode(c >> 16, v);
        e8p_decode(c & 0xFFFF, res);
    } else {
        const uint8_t *row = (const uint8_t *)((const int32_t *)qidxs + r * (3 * n / 32));
        const uint8_t *p = row + 3 * b;
        e8p_decode((uint32_t)p[1] | ((uint32_t)p[2] << 8), v);
        memcpy(res, e81b[p[0]], sizeof res);
    }
    for (int i = 0; i < 8; i++) v[i] += s * res[i];
}

/* Ours (docs/formats/model-dir.md): RVQ3 = (e8p << 8) | resid, RVQ4 = (main << 16) | resid. */
static void canon_block(qtip_e8p_kind k, uint32_t c, float s, float *v)
{
    float res[8];
    if (k == QTIP_E8P12) { e8p_decode(c & 0xFFFF, v); return; }
    if (k == QTIP_E8P12_RVQ4) { e8p_decode(c >> 16, v); e8p_decode(c & 0xFFFF, res); }
    else { e8p_decode((c >> 8) & 0xFFFF, v); memcpy(res, e81b[c & 0xFF], sizeof res); }
    for (int i = 0; i < 8; i++) v[i] += s * res[i];
}

TEST(quip_for_all_qidxs_decode_like_canonical)
{
    test_rng r = test_rng_seeded(5003);
    build_e81b();
    const qtip_e8p_kind kinds[3] = {QTIP_E8P12, QTIP_E8P12_RVQ3, QTIP_E8P12_RVQ4};
    const float scales[3] = {0, 1.0f / 2.04f, 1.0f / 3.45f};
    for (int ki = 0; ki < 3; ki++) {
        qtip_e8p_kind k = kinds[ki];
        int64_t m = 24, n = 96, shape[2];
        qtip_dtype dt;
        uint32_t *codes = malloc(m * n / 8 * 4);
        for (int64_t i = 0; i < m * n / 8; i++) {
            uint64_t x = test_rng_next(&r);
            codes[i] = k == QTIP_E8P12 ? (uint32_t)(x & 0xFFFF)
                       : k == QTIP_E8P12_RVQ3 ? (uint32_t)(x & 0xFFFFFF) : (uint32_t)x;
        }
        CHECK_OK(qtip_pack_qidxs_shape(k, m, n, shape, &dt));
        CHECK(shape[0] == m && shape[1] == (k == QTIP_E8P12_RVQ3 ? 3 * n / 32 : n / 8),
              "kind %d: Qidxs shape [%lld, %lld]", ki, (long long)shape[0], (long long)shape[1]);
        CHECK(dt == (k == QTIP_E8P12 ? QTIP_DT_I16 : QTIP_DT_I32), "kind %d: dtype", ki);
        void *q = malloc((size_t)(shape[0] * shape[1]) * qtip_dtype_size(dt));
        CHECK_OK(qtip_pack_e8p_to_qidxs(k, codes, m, n, q));
        int bad = 0;
        for (int64_t row = 0; row < m; row++)
            for (int64_t b = 0; b < n / 8; b++) {
                float a[8], c[8];
                qfa_block(k, q, n, row, b, scales[ki], a);
                canon_block(k, codes[row * (n / 8) + b], scales[ki], c);
                bad += memcmp(a, c, sizeof a) != 0;
            }
        CHECK(bad == 0, "kind %d: %d blocks decode differently", ki, bad);
        free(q);
        free(codes);
    }
    int64_t shape[2];
    qtip_dtype dt;
    CHECK_STATUS(qtip_pack_qidxs_shape(QTIP_E8P12_RVQ3, 8, 48, shape, &dt), QTIP_E_SHAPE);
}

int main(void)
{
    RUN(kernel_layout_decodes_like_canonical);
    RUN(kernel_layout_rejects_bad_shapes);
    RUN(generic_layout_decodes_like_canonical);
    RUN(tile_position_orders);
    RUN(e8p_independent_decoder_matches_digest_vectors);
    RUN(quip_for_all_qidxs_decode_like_canonical);
    return check_summary();
}
