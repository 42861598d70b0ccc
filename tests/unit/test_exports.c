/*
 * test_exports.c — the export layouts decode, under each loader's own rules written
 * here from the reference digests (qtip.md 6.1/6.2/3.4, quipsharp.md 1.1/1.4/5.1),
 * to exactly the weights our canonical layout decodes to. The layout tests decode
 * both sides by rules in this file; the end-to-end tests (real quantizer,
 * qtip_pack_model, exported files) decode the export by the loader's rules here
 * and compare with qtip_layer_artifact_decode, the reconstruction the quantizer made.
 */
#include "check.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

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
            uint16_t *codes = malloc(words * 2), *tiles = malloc(words * 2);
            int16_t *kern = malloc(words * 2);
            float *Wc = malloc(m * n * 4), *Wk = malloc(m * n * 4);
            random_words(&r, codes, (size_t)words);
            CHECK_OK(qtip_pack_trellis_to_tiles(codes, m, n, K, tiles));
            CHECK_OK(qtip_pack_trellis_kernel_swizzle(tiles, m, n, K, kern));
            canon_decode(codes, m, n, K, 2, 1, tlut, Wc);
            ref_kernel_decode(kern, m, n, K, tlut, Wk);
            CHECK(memcmp(Wc, Wk, m * n * 4) == 0, "K=%d %lldx%lld: kernel layout decodes differently",
                  K, (long long)m, (long long)n);
            free(codes); free(tiles); free(kern); free(Wc); free(Wk);
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
    int seen[256] = {0}, order[256], row, col;
    CHECK(qtip_trellis_tile_is_mma(&p), "HYB/L16/K2/V2/Q9 is the kernel config");
    qtip_trellis_tile_order(&p, order);
    for (int j = 0; j < 256; j++) seen[order[j]]++;
    for (int i = 0; i < 256; i++) CHECK(seen[i] == 1, "position %d used %d times", i, seen[i]);
    /* qtip.md 3.4: j = b*32 + d*8 + h*4 + a*2 + e; j = 37 -> b=1 d=0 h=1 a=0 e=1 */
    row = order[37] / 16, col = order[37] % 16;
    CHECK(row == 1 && col == 9, "j=37 -> (%d, %d), expected (1, 9)", row, col);
    p.code = QTIP_CODE_1MAD; p.V = 1; p.Q = 0;
    CHECK(!qtip_trellis_tile_is_mma(&p), "1MAD is not the kernel config");
    qtip_trellis_tile_order(&p, order);
    row = order[37] / 16, col = order[37] % 16;
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
        CHECK_OK(qtip_e8p_pack_qidxs(k, codes, (size_t)m, (size_t)n, q));
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

/* --- quip-for-all through qtip_pack_model, decoded by the loader's rules ----------
 * QuIP-for-all `use_rand: false` (quipsharp.md 2.1, 2.4, 5.2): for N = 2^e * b,
 * M_N = (Had_{4b} (x) H_{2^(e-2)}) / sqrt(N), Had_{4b} (+-1) acting on the slow
 * index, and W = SV . M_m (w Wcode) M_n^T . SU. The 4b matrices are built here
 * from the digest's constructions (Paley I, Paley II, Williamson). */
static int chi(int64_t x, int64_t q)
{
    x = ((x % q) + q) % q;
    if (x == 0) return 0;
    for (int64_t y = 1; y < q; y++)
        if ((y * y) % q == x) return 1;
    return -1;
}

/* The digest's Williamson first rows (quipsharp.md 2.4), A..D. */
static const struct { int K; const char *rows[4]; } digest_williamson[] = {
    {52, {"+-+--++++--+-", "+---++++++---", "++-+--++--+-+", "+----+--+----"}},
    {92, {"+++-+++-+------+-+++-++", "+++---++-+-++-+-++---++", "+-++-++--++++++--++-++-",
          "++---+---+-++-+---+---+"}},
    {100, {"+-++++----++--++----++++-", "+++-+++---+-++-+---+++-++", "+-++-+++-++----++-+++-++-",
           "+--++-+-+--------+-+-++--"}},
    {116, {"++--+--+-+++-++++-+++-+--+--+", "++++-++-+---++++++---+-++-+++",
           "+-+---++--+-++++++-+--++---+-", "+++---++--+-+----+-+--++---++"}},
    {156, {"+++--+-+-----+--++----++--+-----+-+--++", "++++---+--++----+-+--+-+----++--+---+++",
           "+++--++-+---+-+--+----+--+-+---+-++--++", "+---++-+-+-----+++-++-+++-----+-+-++---"}},
    {172, {"+---++--++++-+-+++-++--++-+++-+-++++--++---", "++-++++++----+-+--++-++-++--+-+----++++++-+",
           "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++", "++---++++-+--+--++--------++--+--+-++++---+"}},
};

/* QuIP-for-all's hadamard.safetensors matrix of order K by the digest's
 * construction for it (quipsharp.md 2.4): Paley I for K in {12, 20, 44, 60, 68,
 * 84, 108, 132, 140, 164, 180}, Paley II for {28, 36, 76, 124, 148, 196, 204,
 * 220}, Williamson for {52, 92, 100, 116, 156, 172}. Returns 0 for another K. */
static int digest_had(int64_t K, int *H)
{
    static const int64_t paley1[] = {12, 20, 44, 60, 68, 84, 108, 132, 140, 164, 180};
    static const int64_t paley2[] = {28, 36, 76, 124, 148, 196, 204, 220};
    for (size_t t = 0; t < sizeof paley1 / sizeof paley1[0]; t++) {
        if (paley1[t] != K) continue;
        int64_t q = K - 1;
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j < K; j++)
                H[i * K + j] = i == 0 ? (j == 0 ? 1 : -1) : j == 0 ? 1 : (i == j) + chi(i - j, q);
        return 1;
    }
    for (size_t t = 0; t < sizeof paley2 / sizeof paley2[0]; t++) {
        if (paley2[t] != K) continue;
        int64_t q = K / 2 - 1, h = q + 1;
        for (int64_t u = 0; u < 2; u++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t v = 0; v < 2; v++)
                    for (int64_t j = 0; j < h; j++) {
                        int c = i == 0 && j == 0 ? 0 : i == 0 || j == 0 ? 1 : chi(i - j, q);
                        int d = i == j;
                        int x = u == 0 && v == 0 ? c + d : u == 1 && v == 1 ? -c - d : c - d;
                        H[(u * h + i) * K + v * h + j] = x;
                    }
        return 1;
    }
    for (size_t t = 0; t < sizeof digest_williamson / sizeof digest_williamson[0]; t++) {
        if (digest_williamson[t].K != K) continue;
        /* [[A,B,C,D],[-B,A,-D,C],[-C,D,A,-B],[-D,-C,B,A]]; 1..4 = A..D, sign = sign */
        static const int blk[4][4] = {{1, 2, 3, 4}, {-2, 1, -4, 3}, {-3, 4, 1, -2}, {-4, -3, 2, 1}};
        int64_t k = K / 4;
        for (int bi = 0; bi < 4; bi++)
            for (int bj = 0; bj < 4; bj++) {
                int e = blk[bi][bj], sg = e < 0 ? -1 : 1, w = (e < 0 ? -e : e) - 1;
                const char *row = digest_williamson[t].rows[w];
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < k; j++)
                        H[(bi * k + i) * K + bj * k + j] = sg * (row[(j - i + k) % k] == '+' ? 1 : -1);
            }
        return 1;
    }
    return 0;
}

/* Whether our H_K equals the digest's construction of QuIP-for-all's. */
static int ours_equal_quip_for_all(int64_t K)
{
    int *H = malloc((size_t)(K * K) * sizeof *H);
    int8_t *ours = malloc((size_t)(K * K));
    int same = digest_had(K, H) && qtip_had_special(K, ours) == QTIP_OK;
    for (int64_t i = 0; same && i < K * K; i++) same = ours[i] == H[i];
    free(H);
    free(ours);
    return same;
}

/* dense M_N (double, N x N) by the digest's rule */
static double *digest_M(int64_t N)
{
    int64_t b = N, e = 0;
    while (b % 2 == 0) { b /= 2; e++; }
    (void)e;
    int64_t K = b == 1 ? 1 : 4 * b, P = N / K; /* powers of two: a plain Walsh-Hadamard */
    int *H = malloc((size_t)(K * K) * sizeof *H);
    if (K == 1) H[0] = 1;
    else {
        CHECK(digest_had(K, H), "no digest construction of order %lld", (long long)K);
        CHECK(ours_equal_quip_for_all(K), "our Had_%lld differs from the digest's construction",
              (long long)K);
    }
    double *M = malloc((size_t)(N * N) * sizeof *M), sc = 1.0 / sqrt((double)N);
    for (int64_t t = 0; t < N; t++)
        for (int64_t u = 0; u < N; u++) {
            int64_t th = t / P, tl = t % P, uh = u / P, ul = u % P;
            int w = __builtin_popcountll((unsigned long long)(tl & ul)) & 1 ? -1 : 1;
            M[t * N + u] = H[th * K + uh] * w * sc;
        }
    free(H);
    return M;
}

#define QFA_NL 3
static const char *const qfa_names[QFA_NL] = {"model.layers.0.self_attn.q_proj",
                                              "model.layers.0.mlp.down_proj", "model.layers.1.mlp.up_proj"};
static const int64_t qfa_dims[QFA_NL][2] = {{192, 448}, {688, 320}, {248, 64}};

/* A small HF-style model directory: config.json, model.norm.weight and the
 * given linears' weights (F32). */
static void hf_model_cfg(const char *dir, const char *cfg, int nl, const char *const *names,
                         const int64_t (*dims)[2], float **W)
{
    char p[1024];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK_OK(qtip_write_file_atomic(p, cfg, strlen(cfg), 0));
    qtip_st_writer *w;
    CHECK_OK(qtip_st_writer_create(&w));
    static float norm[64];
    int64_t ns = 64;
    CHECK_OK(qtip_st_writer_add_ref(w, "model.norm.weight", QTIP_DT_F32, 1, &ns, norm));
    for (int l = 0; l < nl; l++) {
        char wn[256];
        snprintf(wn, sizeof wn, "%s.weight", names[l]);
        CHECK_OK(qtip_st_writer_add_ref(w, wn, QTIP_DT_F32, 2, dims[l], W[l]));
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
}

static void hf_model(const char *dir, int nl, const char *const *names, const int64_t (*dims)[2],
                     float **W)
{
    hf_model_cfg(dir, "{\"model_type\": \"llama\", \"torch_dtype\": \"float32\"}\n", nl, names, dims, W);
}

static void qfa_model(const char *dir, int nl, float **W) { hf_model(dir, nl, qfa_names, qfa_dims, W); }

static qtip_status pack_dir(const char *src, const qtip_layer_info *pl, int nl,
                            qtip_export_format fmt, const char *out)
{
    qtip_model_dir *md = NULL;
    qtip_status s0 = qtip_model_dir_open(src, 0, &md);
    if (s0) return s0;
    qtip_pack_options o;
    qtip_pack_options_default(&o);
    o.format = fmt;
    qtip_status s = qtip_pack_model(md, pl, (size_t)nl, &o, out);
    qtip_model_dir_close(md);
    return s;
}

static qtip_status qfa_pack(const char *src, const qtip_layer_info *pl, int nl, const char *out)
{
    return pack_dir(src, pl, nl, QTIP_EXPORT_QUIP_FOR_ALL, out);
}

/* Decode layer `name` of an opened quip-for-all export by the loader's rules
 * (quipsharp.md 5.1, 5.2): Qidxs by kind (RVQ3 from its 3-byte layout), residual
 * scale `rs` as the loader passes it, W = SV . M_m (w Wcode) M_n^T . SU in double;
 * compare with our decode What (m x n). Tolerance 1e-5 of max|W|: float rounding
 * of our RHT (fp32, about 1e-7 relative per butterfly level) against double. */
static void qfa_check_layer(qtip_st_file *st, const char *name, int64_t m, int64_t n,
                            qtip_e8p_kind k, float rs, const float *What)
{
    char nm[300];
    const qtip_tensor_view *tq, *tu, *tv, *tw;
    snprintf(nm, sizeof nm, "%s.Qidxs", name);
    tq = qtip_st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.SU", name);
    tu = qtip_st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.SV", name);
    tv = qtip_st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.Wscale", name);
    tw = qtip_st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.had_left", name);
    CHECK(qtip_st_find(st, nm) == NULL, "no had_left in use_rand false mode");
    int64_t qcols = k == QTIP_E8P12_RVQ3 ? 3 * n / 32 : n / 8;
    CHECK(tq && tu && tv && tw && tq->dtype == (k == QTIP_E8P12 ? QTIP_DT_I16 : QTIP_DT_I32) &&
              tq->ndim == 2 && tq->shape[0] == m && tq->shape[1] == qcols && tw->ndim == 0 &&
              tu->dtype == QTIP_DT_F32 && tu->shape[0] == n && tv->dtype == QTIP_DT_F32 &&
              tv->shape[0] == m,
          "%s: exported tensors (Qidxs [%lld, %lld] %s expected)", name, (long long)m,
          (long long)qcols, k == QTIP_E8P12 ? "int16" : "int32");
    if (!(tq && tu && tv && tw)) return;
    float wsc, *su = malloc((size_t)n * 4), *sv = malloc((size_t)m * 4);
    memcpy(&wsc, tw->data, 4);
    memcpy(su, tu->data, (size_t)n * 4);
    memcpy(sv, tv->data, (size_t)m * 4);
    void *qi = malloc(tq->nbytes);
    memcpy(qi, tq->data, tq->nbytes);
    double *Wc = malloc((size_t)(m * n) * 8), *T = calloc((size_t)(m * n), 8);
    for (int64_t row = 0; row < m; row++)
        for (int64_t b = 0; b < n / 8; b++) {
            float v[8];
            qfa_block(k, qi, n, row, b, rs, v);
            for (int i = 0; i < 8; i++) Wc[row * n + 8 * b + i] = (double)wsc * v[i];
        }
    double *Mm = digest_M(m), *Mn = digest_M(n);
    /* T = Wc M_n^T, then W = M_m T */
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < n; c++) {
            double acc = 0;
            for (int64_t j = 0; j < n; j++) acc += Wc[i * n + j] * Mn[c * n + j];
            T[i * n + c] = acc;
        }
    double maxd = 0, maxw = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < n; c++) {
            double acc = 0;
            for (int64_t j = 0; j < m; j++) acc += Mm[i * m + j] * T[j * n + c];
            double w = sv[i] * acc * su[c];
            maxd = fmax(maxd, fabs(w - What[i * n + c]));
            maxw = fmax(maxw, fabs(What[i * n + c]));
        }
    CHECK(maxw > 0 && maxd <= 1e-5 * maxw, "%s: loader-rule decode differs by %g (max |W| %g)", name,
          maxd, maxw);
    fprintf(stderr, "  quip-for-all %s %s [%lld x %lld]: max diff %.2e of %.3e\n",
            qtip_e8p_config_name(k), name, (long long)m, (long long)n, maxd, maxw);
    free(su); free(sv); free(qi); free(Wc); free(T); free(Mm); free(Mn);
}

TEST(quip_for_all_export_decodes_like_canonical)
{
    test_rng r = test_rng_seeded(5004);
    build_e81b();
    float *W[QFA_NL], *What[QFA_NL];
    qtip_layer_artifact *a[QFA_NL] = {0};
    qtip_layer_info pl[QFA_NL];
    qtip_quant_params qp = qtip_quant_default_params(QTIP_METHOD_E8P);
    qp.refine_passes = 0;
    qtip_quantizer *q = NULL;
    CHECK_OK(qtip_quantizer_create(&qp, &q));
    for (int l = 0; l < QFA_NL; l++) {
        int64_t m = qfa_dims[l][0], n = qfa_dims[l][1];
        W[l] = malloc((size_t)(m * n) * 4);
        What[l] = malloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * n; i++) W[l][i] = (float)test_rng_normal(&r) * 0.02f;
        CHECK_OK(qtip_quantize_layer(q, W[l], m, n, NULL, qfa_names[l], &a[l]));
        if (!a[l]) return;
        CHECK_OK(qtip_layer_artifact_decode(a[l], What[l]));
        qtip_layer_artifact_info(a[l], &pl[l]);
        pl[l].tensor = qfa_names[l]; /* module prefix, as the artifact's tensor minus .weight */
    }
    qtip_quantizer_free(q);
    char good[512], bad[512], out[600];
    snprintf(good, sizeof good, "%s/qfa_model", test_tmpdir());
    snprintf(bad, sizeof bad, "%s/qfa_model124", test_tmpdir());
    qfa_model(good, 2, W);
    qfa_model(bad, 3, W);
    /* 248 = 2 * 124: quip-for-all's Had_124 differs from quip-sharp's (and ours) */
    snprintf(out, sizeof out, "%s/qfa_bad", test_tmpdir());
    CHECK_STATUS(qfa_pack(bad, pl, 3, out), QTIP_E_UNSUPPORTED);
    CHECK(strstr(qtip_last_error(), "model.layers.1.mlp.up_proj") && strstr(qtip_last_error(), "248") &&
              strstr(qtip_last_error(), "124"),
          "message: %s", qtip_last_error());
    fprintf(stderr, "  refused: %s\n", qtip_last_error());
    snprintf(out, sizeof out, "%s/qfa", test_tmpdir());
    CHECK_OK(qfa_pack(good, pl, 2, out));
    /* config: use_rand false (Hadamard factors from its file), no -1 residual scale */
    char p[800];
    snprintf(p, sizeof p, "%s/config.json", out);
    json_t *cfg = json_load_file(p, 0, NULL);
    json_t *qc = json_object_get(cfg, "quantization_config");
    CHECK(qc && json_is_false(json_object_get(qc, "use_rand")) &&
              strcmp(json_string_value(json_object_get(qc, "codebook")), "E8P12") == 0 &&
              strcmp(json_string_value(json_object_get(qc, "quant_method")), "QUiP") == 0 &&
              json_is_null(json_object_get(qc, "opt_resid_scale")) &&
              json_is_false(json_object_get(qc, "merge_suv")),
          "quantization_config of the quip-for-all export");
    json_decref(cfg);
    qtip_st_file *st = NULL;
    CHECK_OK(qtip_st_open(out, &st));
    for (int l = 0; st && l < 2; l++)
        qfa_check_layer(st, qfa_names[l], qfa_dims[l][0], qfa_dims[l][1], QTIP_E8P12, 0, What[l]);
    qtip_st_close(st);
    for (int l = 0; l < QFA_NL; l++) {
        qtip_layer_artifact_free(a[l]);
        free(W[l]);
        free(What[l]);
    }
}

/* --- RVQ3 / RVQ4 through qtip_pack_model's quip-for-all export ---------------- */
#define SM_NL 2
static const char *const sm_names[SM_NL] = {"model.layers.0.self_attn.q_proj",
                                            "model.layers.0.mlp.down_proj"};
/* 96 = 12 * 8: a Hadamard factor of 12 (Paley I) on the input side */
static const int64_t sm_dims[SM_NL][2] = {{32, 64}, {64, 96}};

static json_t *load_json_in(const char *dir, const char *file)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return json_load_file(p, 0, NULL);
}

TEST(quip_for_all_rvq_export_decodes_like_canonical)
{
    build_e81b();
    const qtip_e8p_kind kinds[2] = {QTIP_E8P12_RVQ3, QTIP_E8P12_RVQ4};
    const char *const cbname[2] = {"E8P12RVQ3B", "E8P12RVQ4B"};
    /* quipsharp.md 1.4, 1.5, 1.6: 1/2.04 and 1/3.45, never the tool's default -1 */
    const double want_rs[2] = {1.0 / 2.04, 1.0 / 3.45};
    for (int ki = 0; ki < 2; ki++) {
        test_rng r = test_rng_seeded(5005 + (uint64_t)ki);
        float *W[SM_NL], *What[SM_NL];
        qtip_layer_artifact *a[SM_NL] = {0};
        qtip_layer_info pl[SM_NL];
        qtip_quant_params qp = qtip_quant_default_params(QTIP_METHOD_E8P);
        qp.e8p = kinds[ki];
        qp.refine_passes = 2;
        qtip_quantizer *q = NULL;
        CHECK_OK(qtip_quantizer_create(&qp, &q));
        if (!q) return;
        int ok = 1;
        for (int l = 0; l < SM_NL; l++) {
            int64_t m = sm_dims[l][0], n = sm_dims[l][1];
            W[l] = malloc((size_t)(m * n) * 4);
            What[l] = malloc((size_t)(m * n) * 4);
            for (int64_t i = 0; i < m * n; i++) W[l][i] = (float)test_rng_normal(&r) * 0.02f;
            CHECK_OK(qtip_quantize_layer(q, W[l], m, n, NULL, sm_names[l], &a[l]));
            if (!a[l]) { ok = 0; continue; }
            CHECK_OK(qtip_layer_artifact_decode(a[l], What[l]));
            qtip_layer_artifact_info(a[l], &pl[l]);
            pl[l].tensor = sm_names[l];
        }
        qtip_quantizer_free(q);
        char src[512], out[600];
        snprintf(src, sizeof src, "%s/rvq%d_model", test_tmpdir(), 3 + ki);
        snprintf(out, sizeof out, "%s/rvq%d_qfa", test_tmpdir(), 3 + ki);
        if (ok) {
            hf_model(src, SM_NL, sm_names, sm_dims, W);
            CHECK_OK(pack_dir(src, pl, SM_NL, QTIP_EXPORT_QUIP_FOR_ALL, out));
        }
        json_t *cfg = ok ? load_json_in(out, "config.json") : NULL;
        json_t *qcf = ok ? load_json_in(out, "quantization_config.json") : NULL;
        json_t *qc = json_object_get(cfg, "quantization_config");
        json_t *ors = json_object_get(qc, "opt_resid_scale");
        CHECK(qc && json_is_real(ors), "%s: quantization_config.opt_resid_scale missing", cbname[ki]);
        double rs = json_number_value(ors);
        CHECK(rs == want_rs[ki] && rs != -1.0, "%s: opt_resid_scale %.17g, expected %.17g",
              cbname[ki], rs, want_rs[ki]);
        CHECK(qc && strcmp(json_string_value(json_object_get(qc, "codebook")), cbname[ki]) == 0 &&
                  strcmp(json_string_value(json_object_get(qc, "idx_dtype")), "torch.int32") == 0 &&
                  strcmp(json_string_value(json_object_get(qc, "quant_method")), "QUiP") == 0 &&
                  json_is_false(json_object_get(qc, "per_channel")) &&
                  json_is_false(json_object_get(qc, "merge_suv")),
              "%s: quantization_config fields", cbname[ki]);
        CHECK(qcf && json_equal(qcf, qc), "%s: quantization_config.json differs from config.json's",
              cbname[ki]);
        fprintf(stderr, "  %s: opt_resid_scale %.17g\n", cbname[ki], rs);
        qtip_st_file *st = NULL;
        if (ok) CHECK_OK(qtip_st_open(out, &st));
        for (int l = 0; st && l < SM_NL; l++)
            qfa_check_layer(st, sm_names[l], sm_dims[l][0], sm_dims[l][1], kinds[ki], (float)rs,
                            What[l]);
        qtip_st_close(st);
        json_decref(cfg);
        json_decref(qcf);
        for (int l = 0; l < SM_NL; l++) {
            qtip_layer_artifact_free(a[l]);
            free(W[l]);
            free(What[l]);
        }
    }
}

/* --- qtip-reference through qtip_pack_model, decoded by the reference's rules ---
 * qtip.md 6.2 (kernel layout of `trellis`), 6.4 (the HF checkpoint: SU, SV with
 * Wscale folded, tlut fp16, rcp, tp_rank, quip_params) and 7.1 (BitshiftLinear
 * forward, scale = 32): y = (hadU(Wr (hadUt(x * SU) / 32))) * (SV * 32), with
 * hadU = Had_m / sqrt(m), hadUt = Had_n^T / sqrt(n), Had = HK (x) Sylvester (4.1). */

/* IEEE half -> float, written out here (no library call). */
static float half_to_float(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, f = h & 1023;
    double v;
    if (e == 0) v = ldexp((double)f, -24);
    else if (e == 31) v = f ? NAN : INFINITY;
    else v = ldexp((double)(f | 1024), e - 25);
    return (float)(sign ? -v : v);
}

static int64_t i64_scalar(const qtip_tensor_view *t)
{
    int64_t v;
    memcpy(&v, t->data, 8);
    return v;
}

TEST(qtip_reference_export_decodes_like_canonical)
{
    test_rng r = test_rng_seeded(5007);
    float *W[SM_NL], *What[SM_NL], *Wr[SM_NL];
    qtip_layer_artifact *a[SM_NL] = {0};
    qtip_layer_info pl[SM_NL];
    qtip_quant_params qp = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    const qtip_trellis_params *tp = &qp.trellis;
    CHECK(tp->code == QTIP_CODE_HYB && tp->L == 16 && tp->K == 2 && tp->V == 2 && tp->Q == 9 &&
              tp->td_x == 16 && tp->td_y == 16,
          "default trellis parameters are not HYB L16 K2 V2 Q9 16x16");
    qtip_quantizer *q = NULL;
    CHECK_OK(qtip_quantizer_create(&qp, &q));
    if (!q) return;
    for (int l = 0; l < SM_NL; l++) {
        int64_t m = sm_dims[l][0], n = sm_dims[l][1];
        W[l] = malloc((size_t)(m * n) * 4);
        What[l] = malloc((size_t)(m * n) * 4);
        Wr[l] = malloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * n; i++) W[l][i] = (float)test_rng_normal(&r) * 0.02f;
        CHECK_OK(qtip_quantize_layer(q, W[l], m, n, NULL, sm_names[l], &a[l]));
        if (!a[l]) return;
        CHECK_OK(qtip_layer_artifact_decode(a[l], What[l]));
        CHECK_OK(qtip_layer_artifact_decode_rotated(a[l], Wr[l]));
        qtip_layer_artifact_info(a[l], &pl[l]);
        pl[l].tensor = sm_names[l];
    }
    qtip_quantizer_free(q);
    char src[512], out[600];
    snprintf(src, sizeof src, "%s/qref_model", test_tmpdir());
    snprintf(out, sizeof out, "%s/qref", test_tmpdir());
    hf_model(src, SM_NL, sm_names, sm_dims, W);
    CHECK_OK(pack_dir(src, pl, SM_NL, QTIP_EXPORT_QTIP_REF, out));

    /* config.json: quip_params exactly as hfize writes it (qtip.md 6.4) */
    json_t *cfg = load_json_in(out, "config.json");
    json_t *want = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:b,s:n}", "codebook", "bitshift",
                             "codebook_version", 0, "L", 16, "K", 2, "V", 2, "tlut_bits", 9,
                             "decode_mode", "quantlut_sym", "td_x", 16, "td_y", 16, "split_for_tp", 0,
                             "skip_list");
    json_t *qpj = json_object_get(cfg, "quip_params");
    char *got = qpj ? json_dumps(qpj, JSON_SORT_KEYS) : NULL;
    CHECK(cfg && json_equal(qpj, want), "quip_params: %s", got ? got : "(missing)");
    free(got);
    json_decref(want);
    /* transformers raises "Unknown quantization type" on a quantization_config it
     * does not know; the reference reads quip_params only */
    CHECK(cfg && !json_object_get(cfg, "quantization_config"),
          "config.json of a qtip-reference export has a quantization_config");
    CHECK(cfg && strcmp(json_string_value(json_object_get(cfg, "model_type")), "llama") == 0,
          "config.json keeps the original fields");
    json_decref(cfg);
    json_t *qz = load_json_in(out, "quantize_config.json");
    CHECK(qz && strcmp(json_string_value(json_object_get(qz, "format")), "qtip-reference") == 0,
          "quantize_config.json records the format");
    json_decref(qz);

    qtip_st_file *st = NULL;
    CHECK_OK(qtip_st_open(out, &st));
    CHECK(st && qtip_st_find(st, "model.norm.weight"), "unquantized tensors are copied");
    for (int l = 0; st && l < SM_NL; l++) {
        const char *name = sm_names[l];
        int64_t m = sm_dims[l][0], n = sm_dims[l][1];
        char nm[300];
        const qtip_tensor_view *tt, *tu, *tv, *tl, *trc, *ttp;
        snprintf(nm, sizeof nm, "%s.trellis", name); tt = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.SU", name); tu = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.SV", name); tv = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.tlut", name); tl = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.rcp", name); trc = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.tp_rank", name); ttp = qtip_st_find(st, nm);
        snprintf(nm, sizeof nm, "%s.weight", name);
        CHECK(qtip_st_find(st, nm) == NULL, "%s: the dense weight is replaced", name);
        CHECK(tt && tt->dtype == QTIP_DT_I16 && tt->ndim == 2 && tt->shape[0] == (m / 16) * (n / 16) &&
                  tt->shape[1] == 32,
              "%s: trellis must be int16 [%lld, 32]", name, (long long)((m / 16) * (n / 16)));
        CHECK(tu && tu->dtype == QTIP_DT_F32 && tu->ndim == 1 && tu->shape[0] == n, "%s: SU", name);
        CHECK(tv && tv->dtype == QTIP_DT_F32 && tv->ndim == 1 && tv->shape[0] == m, "%s: SV", name);
        CHECK(tl && tl->dtype == QTIP_DT_F16 && tl->ndim == 2 && tl->shape[0] == 512 && tl->shape[1] == 2,
              "%s: tlut must be fp16 [512, 2]", name);
        CHECK(trc && trc->dtype == QTIP_DT_I64 && trc->ndim == 0 && i64_scalar(trc) == 0, "%s: rcp 0", name);
        CHECK(ttp && ttp->dtype == QTIP_DT_I64 && ttp->ndim == 0 && i64_scalar(ttp) == 8,
              "%s: tp_rank 8", name);
        if (!(tt && tu && tv && tl)) continue;
        float tlut[1024], *su = malloc((size_t)n * 4), *sv = malloc((size_t)m * 4);
        for (int i = 0; i < 1024; i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)tl->data + 2 * i, 2);
            tlut[i] = half_to_float(h);
        }
        memcpy(su, tu->data, (size_t)n * 4);
        memcpy(sv, tv->data, (size_t)m * 4);
        int16_t *tr = malloc(tt->nbytes);
        memcpy(tr, tt->data, tt->nbytes);
        /* the codes: kernel-layout decode of qtip.md 6.2 gives our rotated matrix */
        float *Wk = malloc((size_t)(m * n) * 4);
        ref_kernel_decode(tr, m, n, 2, tlut, Wk);
        int64_t ndiff = 0;
        for (int64_t i = 0; i < m * n; i++) ndiff += Wk[i] != Wr[l][i];
        CHECK(ndiff == 0, "%s: %lld of %lld decoded code values differ from our rotated decode", name,
              (long long)ndiff, (long long)(m * n));
        /* the layer: BitshiftLinear.forward on each basis vector gives a column */
        double *Mm = digest_M(m), *Mn = digest_M(n), *x2 = malloc((size_t)n * 8),
               *y2 = malloc((size_t)m * 8);
        double maxd = 0, maxw = 0;
        for (int64_t j = 0; j < n; j++) {
            for (int64_t c = 0; c < n; c++) x2[c] = Mn[j * n + c] * (double)su[j] / 32.0; /* hadUt */
            for (int64_t i = 0; i < m; i++) {
                double acc = 0;
                for (int64_t c = 0; c < n; c++) acc += (double)Wk[i * n + c] * x2[c];
                y2[i] = acc;
            }
            for (int64_t i = 0; i < m; i++) {
                double acc = 0;
                for (int64_t c = 0; c < m; c++) acc += Mm[i * m + c] * y2[c]; /* hadU */
                double y = acc * ((double)sv[i] * 32.0);
                maxd = fmax(maxd, fabs(y - What[l][i * n + j]));
                maxw = fmax(maxw, fabs(What[l][i * n + j]));
            }
        }
        /* float rounding of our fp32 RHT against this double evaluation */
        CHECK(maxw > 0 && maxd <= 1e-5 * maxw, "%s: reference forward differs by %g (max |W| %g)", name,
              maxd, maxw);
        fprintf(stderr, "  qtip-reference %s [%lld x %lld]: codes equal, max diff %.2e of %.3e\n", name,
                (long long)m, (long long)n, maxd, maxw);
        free(su); free(sv); free(tr); free(Wk); free(Mm); free(Mn); free(x2); free(y2);
    }
    qtip_st_close(st);
    for (int l = 0; l < SM_NL; l++) {
        qtip_layer_artifact_free(a[l]);
        free(W[l]);
        free(What[l]);
        free(Wr[l]);
    }
}


/* --- the loaders' Hadamard orders, the model dtype, verify of exports ------------- */

/* The orders the quip-for-all export accepts (lib/pack/export_hadamard.c): each of
 * our matrices equals the digest's construction of QuIP-for-all's; 124 does not
 * (ours is QTIP's Williamson matrix, its file holds a Paley II one). */
TEST(hadamard_orders_equal_quip_for_all)
{
    static const int64_t accepted[] = {12,  20,  28,  36,  44,  52,  60,  68,  76,  84,  92,  100,
                                       108, 116, 132, 140, 148, 156, 164, 172, 180, 196, 204, 220};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        CHECK(ours_equal_quip_for_all(accepted[i]), "Had_%lld differs from quip-for-all's",
              (long long)accepted[i]);
    CHECK(!ours_equal_quip_for_all(124), "Had_124 should differ from quip-for-all's Paley II matrix");
}

/* Quantize `nl` layers of the given dims with `qp`; info in pl (tensor = names). */
static int quantize_layers(const qtip_quant_params *qp, int nl, const char *const *names,
                           const int64_t (*dims)[2], uint64_t seed, float **W, float **What,
                           qtip_layer_artifact **a, qtip_layer_info *pl)
{
    test_rng r = test_rng_seeded(seed);
    qtip_quantizer *q = NULL;
    CHECK_OK(qtip_quantizer_create(qp, &q));
    if (!q) return 0;
    int ok = 1;
    for (int l = 0; l < nl; l++) {
        int64_t m = dims[l][0], n = dims[l][1];
        W[l] = malloc((size_t)(m * n) * 4);
        What[l] = malloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * n; i++) W[l][i] = (float)test_rng_normal(&r) * 0.02f;
        a[l] = NULL;
        CHECK_OK(qtip_quantize_layer(q, W[l], m, n, NULL, names[l], &a[l]));
        if (!a[l]) { ok = 0; continue; }
        CHECK_OK(qtip_layer_artifact_decode(a[l], What[l]));
        qtip_layer_artifact_info(a[l], &pl[l]);
        pl[l].tensor = names[l];
    }
    qtip_quantizer_free(q);
    return ok;
}

static void free_layers(int nl, float **W, float **What, qtip_layer_artifact **a)
{
    for (int l = 0; l < nl; l++) {
        qtip_layer_artifact_free(a[l]);
        free(W[l]);
        free(What[l]);
    }
}

/* The 13 orders quip-for-all once refused (44 ... 220), through the export and
 * decoded by the loader's rule with the digest's matrices. */
#define O13_NL 7
static const char *const o13_names[O13_NL] = {
    "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj",
    "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
    "model.layers.0.mlp.down_proj"};
/* 88 = 44*2, 136 = 68*2, 152 = 76*2, 168 = 84*2, 184 = 92*2, 200 = 100*2, 264 = 132*2,
 * 296 = 148*2, 328 = 164*2, 360 = 180*2, 392 = 196*2, 408 = 204*2, 440 = 220*2 */
static const int64_t o13_dims[O13_NL][2] = {{88, 136}, {152, 168}, {184, 200}, {264, 296},
                                            {328, 360}, {392, 408}, {440, 64}};

TEST(quip_for_all_accepts_the_13_orders)
{
    build_e81b();
    float *W[O13_NL], *What[O13_NL];
    qtip_layer_artifact *a[O13_NL];
    qtip_layer_info pl[O13_NL];
    qtip_quant_params qp = qtip_quant_default_params(QTIP_METHOD_E8P);
    qp.refine_passes = 0;
    int ok = quantize_layers(&qp, O13_NL, o13_names, o13_dims, 5010, W, What, a, pl);
    char src[512], out[600];
    snprintf(src, sizeof src, "%s/o13_model", test_tmpdir());
    snprintf(out, sizeof out, "%s/o13_qfa", test_tmpdir());
    if (ok) {
        hf_model(src, O13_NL, o13_names, o13_dims, W);
        CHECK_OK(pack_dir(src, pl, O13_NL, QTIP_EXPORT_QUIP_FOR_ALL, out));
    }
    qtip_st_file *st = NULL;
    if (ok) CHECK_OK(qtip_st_open(out, &st));
    for (int l = 0; st && l < O13_NL; l++)
        qfa_check_layer(st, o13_names[l], o13_dims[l][0], o13_dims[l][1], QTIP_E8P12, 0, What[l]);
    qtip_st_close(st);
    free_layers(O13_NL, W, What, a);
}

/* qtip-reference: dimensions without a factor of QTIP's get_hadK are refused,
 * naming the layer, the side, the dimension and the loader's factors; 320 =
 * 20 * 16 is one it has. */
TEST(qtip_reference_refuses_factors_its_loader_lacks)
{
    static const char *const names[2] = {"model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"};
    /* 352 = 44 * 8 (out), 272 = 68 * 4 (in) */
    static const int64_t bad[2][2] = {{352, 64}, {64, 272}};
    static const int64_t good[1][2] = {{64, 320}};
    qtip_quant_params qp = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    for (int c = 0; c < 2; c++) {
        float *W[1], *What[1];
        qtip_layer_artifact *a[1];
        qtip_layer_info pl[1];
        if (!quantize_layers(&qp, 1, &names[c], &bad[c], 5020 + (uint64_t)c, W, What, a, pl)) return;
        char src[512], out[600], dim[32];
        snprintf(src, sizeof src, "%s/qref_bad%d", test_tmpdir(), c);
        snprintf(out, sizeof out, "%s/qref_bad%d_out", test_tmpdir(), c);
        hf_model(src, 1, &names[c], &bad[c], W);
        CHECK_STATUS(pack_dir(src, pl, 1, QTIP_EXPORT_QTIP_REF, out), QTIP_E_UNSUPPORTED);
        snprintf(dim, sizeof dim, "%s dimension %lld", c ? "input" : "output", (long long)bad[c][c]);
        CHECK(strstr(qtip_last_error(), names[c]) && strstr(qtip_last_error(), dim) &&
                  strstr(qtip_last_error(), "get_hadK"),
              "message: %s", qtip_last_error());
        fprintf(stderr, "  refused: %s\n", qtip_last_error());
        struct stat sb;
        CHECK(stat(out, &sb) != 0, "a refused export leaves no directory");
        free_layers(1, W, What, a);
    }
    float *W[1], *What[1];
    qtip_layer_artifact *a[1];
    qtip_layer_info pl[1];
    if (!quantize_layers(&qp, 1, &names[0], good, 5022, W, What, a, pl)) return;
    char src[512], out[600];
    snprintf(src, sizeof src, "%s/qref_good", test_tmpdir());
    snprintf(out, sizeof out, "%s/qref_good_out", test_tmpdir());
    hf_model(src, 1, &names[0], good, W);
    CHECK_OK(pack_dir(src, pl, 1, QTIP_EXPORT_QTIP_REF, out));
    free_layers(1, W, What, a);
}

/* The dtype of tensor `name` in the directory's weights (-1: missing). */
static int tensor_dtype(const char *dir, const char *name)
{
    qtip_st_file *st = NULL;
    if (qtip_st_open(dir, &st)) return -1;
    const qtip_tensor_view *v = qtip_st_find(st, name);
    int dt = v ? (int)v->dtype : -1;
    qtip_st_close(st);
    return dt;
}

/* SU / SV in the dtype each loader declares: the model's (config.json's
 * torch_dtype, float16 when absent), except QTIP's SV buffer (F32); an unknown
 * torch_dtype is refused. Each export then verifies (qtip_verify_model). */
TEST(exports_write_scales_in_the_model_dtype)
{
    build_e81b();
    static const char *const cfgs[4] = {"{\"torch_dtype\": \"float16\"}", "{\"torch_dtype\": \"bfloat16\"}",
                                        "{\"model_type\": \"llama\"}", "{\"dtype\": \"float32\"}"};
    static const qtip_dtype want[4] = {QTIP_DT_F16, QTIP_DT_BF16, QTIP_DT_F16, QTIP_DT_F32};
    const char *name = sm_names[1];
    float *We[1], *Whe[1], *Wt[1], *Wht[1];
    qtip_layer_artifact *ae[1], *at[1];
    qtip_layer_info pe[1], pt[1];
    qtip_quant_params qe = qtip_quant_default_params(QTIP_METHOD_E8P);
    qtip_quant_params qt = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    if (!quantize_layers(&qe, 1, &name, &sm_dims[1], 5030, We, Whe, ae, pe) ||
        !quantize_layers(&qt, 1, &name, &sm_dims[1], 5031, Wt, Wht, at, pt))
        return;
    char su[300], sv[300];
    snprintf(su, sizeof su, "%s.SU", name);
    snprintf(sv, sizeof sv, "%s.SV", name);
    for (int c = 0; c < 5; c++) {
        char src[512], oe[600], ot[600];
        snprintf(src, sizeof src, "%s/dt_model%d", test_tmpdir(), c);
        snprintf(oe, sizeof oe, "%s/dt_qfa%d", test_tmpdir(), c);
        snprintf(ot, sizeof ot, "%s/dt_ref%d", test_tmpdir(), c);
        hf_model_cfg(src, c < 4 ? cfgs[c] : "{\"torch_dtype\": \"float64\"}", 1, &name, &sm_dims[1], We);
        if (c == 4) { /* a hostile torch_dtype */
            CHECK_STATUS(pack_dir(src, pe, 1, QTIP_EXPORT_QUIP_FOR_ALL, oe), QTIP_E_UNSUPPORTED);
            CHECK(strstr(qtip_last_error(), "torch_dtype float64"), "message: %s", qtip_last_error());
            continue;
        }
        CHECK_OK(pack_dir(src, pe, 1, QTIP_EXPORT_QUIP_FOR_ALL, oe));
        CHECK_OK(pack_dir(src, pt, 1, QTIP_EXPORT_QTIP_REF, ot));
        CHECK(tensor_dtype(oe, su) == (int)want[c] && tensor_dtype(oe, sv) == (int)want[c],
              "%s: quip-for-all SU/SV dtype %d/%d, want %d", cfgs[c], tensor_dtype(oe, su),
              tensor_dtype(oe, sv), (int)want[c]);
        CHECK(tensor_dtype(ot, su) == (int)want[c] && tensor_dtype(ot, sv) == QTIP_DT_F32,
              "%s: qtip-reference SU/SV dtype %d/%d, want %d/F32", cfgs[c], tensor_dtype(ot, su),
              tensor_dtype(ot, sv), (int)want[c]);
        const char *outs[2] = {oe, ot};
        for (int f = 0; f < 2; f++) {
            qtip_verify_report *rep = NULL;
            CHECK_OK(qtip_verify_model(outs[f], NULL, &rep));
            CHECK(rep && qtip_verify_report_failures(rep, NULL) == 0, "%s: verify of %s failed", cfgs[c],
                  outs[f]);
            qtip_verify_report_free(rep);
        }
    }
    free_layers(1, We, Whe, ae);
    free_layers(1, Wt, Wht, at);
}


/* Rewrite an exported directory's weights with tensor `name` replaced (dt, ndim,
 * shape, data; added when absent) and its checksum forged in quantize_config.json:
 * what only the format's decoding conventions can catch. */
static void forge_tensor(const char *dir, const char *name, qtip_dtype dt, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes)
{
    qtip_st_file *st = NULL;
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_open(dir, &st));
    CHECK_OK(qtip_st_writer_create(&w));
    if (!st || !w) return;
    for (size_t i = 0; i < qtip_st_count(st); i++) {
        const qtip_tensor_view *v = qtip_st_tensor(st, i);
        if (strcmp(v->name, name)) CHECK_OK(qtip_st_writer_add(w, v->name, v->dtype, v->ndim, v->shape, v->data));
    }
    CHECK_OK(qtip_st_writer_add(w, name, dt, ndim, shape, data));
    qtip_st_close(st);
    char p[800], tmp[800], ck[QTIP_CHECKSUM_STRLEN];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.forged", dir); /* outside: the writer refuses an input's directory */
    CHECK_OK(qtip_st_writer_write(w, tmp, 0));
    qtip_st_writer_free(w);
    CHECK(rename(tmp, p) == 0, "rename %s", tmp);
    qtip_checksum_buffer(data, nbytes, ck);
    json_t *qc = load_json_in(dir, "quantize_config.json");
    json_object_set_new(json_object_get(qc, "tensor_checksums"), name, json_string(ck));
    snprintf(p, sizeof p, "%s/quantize_config.json", dir);
    CHECK(json_dump_file(qc, p, 0) == 0, "rewriting %s", p);
    json_decref(qc);
}

/* Export `fmt` of one layer into `out` (fresh), from artifact info `pl`. */
static void fresh_export(const char *src, const qtip_layer_info *pl, qtip_export_format fmt, const char *out)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK_OK(pack_dir(src, pl, 1, fmt, out));
}

/* Hostile exports whose checksums were forged: exit-3 statuses naming the tensor. */
TEST(forged_exports_fail_naming_the_tensor)
{
    build_e81b();
    const char *name = sm_names[1];
    float *We[1], *Whe[1], *Wt[1], *Wht[1];
    qtip_layer_artifact *ae[1], *at[1];
    qtip_layer_info pe[1], pt[1];
    qtip_quant_params qe = qtip_quant_default_params(QTIP_METHOD_E8P);
    qtip_quant_params qt = qtip_quant_default_params(QTIP_METHOD_TRELLIS);
    if (!quantize_layers(&qe, 1, &name, &sm_dims[1], 5040, We, Whe, ae, pe) ||
        !quantize_layers(&qt, 1, &name, &sm_dims[1], 5041, Wt, Wht, at, pt))
        return;
    char src[512], out[600], tn[300];
    snprintf(src, sizeof src, "%s/forge_model", test_tmpdir());
    snprintf(out, sizeof out, "%s/forged", test_tmpdir());
    hf_model(src, 1, &name, &sm_dims[1], We);
    static const struct { qtip_export_format fmt; const char *suf; int dt, ndim; int64_t s0, s1; qtip_status want; } cases[] = {
        {QTIP_EXPORT_QTIP_REF, "rcp", QTIP_DT_I64, 0, 0, 0, QTIP_E_MISMATCH},      /* tensor-parallel mode */
        {QTIP_EXPORT_QTIP_REF, "SU", QTIP_DT_F16, 1, 96, 0, QTIP_E_FORMAT},       /* not the model dtype */
        {QTIP_EXPORT_QTIP_REF, "trellis", QTIP_DT_I16, 2, 24, 16, QTIP_E_SHAPE},  /* K = 1 rows */
        {QTIP_EXPORT_QUIP_FOR_ALL, "had_left", QTIP_DT_F32, 2, 4, 4, QTIP_E_FORMAT}, /* random mode */
        {QTIP_EXPORT_QUIP_FOR_ALL, "Qidxs", QTIP_DT_I32, 2, 64, 12, QTIP_E_FORMAT}, /* RVQ4's dtype */
        {QTIP_EXPORT_QUIP_FOR_ALL, "weight", QTIP_DT_F16, 0, 0, 0, QTIP_E_FORMAT},
    };
    static int64_t zeros[1024];
    zeros[0] = 1; /* rcp = 1 */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fresh_export(src, cases[c].fmt == QTIP_EXPORT_QTIP_REF ? pt : pe, cases[c].fmt, out);
        snprintf(tn, sizeof tn, "%s.%s", name, cases[c].suf);
        int64_t sh[2] = {cases[c].s0, cases[c].s1};
        size_t cnt = cases[c].ndim == 0 ? 1 : cases[c].ndim == 1 ? (size_t)sh[0] : (size_t)(sh[0] * sh[1]);
        forge_tensor(out, tn, (qtip_dtype)cases[c].dt, cases[c].ndim, sh, zeros,
                     cnt * qtip_dtype_size((qtip_dtype)cases[c].dt));
        qtip_verify_report *rep = NULL;
        CHECK_STATUS(qtip_verify_model(out, NULL, &rep), cases[c].want);
        CHECK(strstr(qtip_last_error(), tn), "case %zu: message does not name '%s': %s", c, tn,
              qtip_last_error());
        fprintf(stderr, "  forged %s: %s\n", cases[c].suf, qtip_last_error());
        qtip_verify_report_free(rep);
    }
    free_layers(1, We, Whe, ae);
    free_layers(1, Wt, Wht, at);
}

int main(void)
{
    RUN(kernel_layout_decodes_like_canonical);
    RUN(kernel_layout_rejects_bad_shapes);
    RUN(generic_layout_decodes_like_canonical);
    RUN(tile_position_orders);
    RUN(e8p_independent_decoder_matches_digest_vectors);
    RUN(quip_for_all_qidxs_decode_like_canonical);
    RUN(quip_for_all_export_decodes_like_canonical);
    RUN(quip_for_all_rvq_export_decodes_like_canonical);
    RUN(qtip_reference_export_decodes_like_canonical);
    RUN(hadamard_orders_equal_quip_for_all);
    RUN(quip_for_all_accepts_the_13_orders);
    RUN(qtip_reference_refuses_factors_its_loader_lacks);
    RUN(exports_write_scales_in_the_model_dtype);
    RUN(forged_exports_fail_naming_the_tensor);
    return check_summary();
}
