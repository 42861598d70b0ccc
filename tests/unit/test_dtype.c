/*
 * test_dtype.c — dtype table and f16/bf16 conversions against known bit patterns
 * and against a second, deliberately naive implementation (search over the sorted
 * finite f16 values, nearest wins, ties to the even pattern).
 */
#include "check.h"

#include <float.h>

static float f_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Value of an f16 pattern from the definition (IEEE 754 binary16). */
static double f16_ref_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Naive rounding: binary search over the 0x7C00 non-negative finite patterns. */
static uint16_t f16_ref_round(float f)
{
    double x = fabs((double)f);
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (x >= 65520.0) return (uint16_t)(sign | 0x7C00);
    int lo = 0, hi = 0x7BFF; /* largest pattern with value <= x */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f16_ref_value((uint16_t)mid) <= x) lo = mid;
        else hi = mid - 1;
    }
    double a = f16_ref_value((uint16_t)lo);
    if (a == x || lo == 0x7BFF) return (uint16_t)(sign | lo);
    double b = f16_ref_value((uint16_t)(lo + 1));
    int pick = (x - a < b - x) ? lo : (x - a > b - x) ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    return (uint16_t)(sign | pick);
}

TEST(test_dtype_table)
{
    static const char *names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16",
                                  "I8",  "U8",  "BOOL", "U16", "U32", "U64"};
    static const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 2, 4, 8};
    for (int i = 0; i < QTIP_DT_COUNT_; i++) {
        CHECK(strcmp(qtip_dtype_name((qtip_dtype)i), names[i]) == 0, "name %d", i);
        CHECK(qtip_dtype_size((qtip_dtype)i) == sizes[i], "size %d", i);
        CHECK(qtip_dtype_from_name(names[i]) == i, "from_name %s", names[i]);
    }
    CHECK(qtip_dtype_from_name("F8_E4M3") == -1, "F8 is not ours");
    CHECK(qtip_dtype_from_name("f32") == -1, "names are case-sensitive");
    CHECK(qtip_dtype_from_name("") == -1, "empty");
    CHECK(qtip_dtype_size((qtip_dtype)99) == 0, "out of range");
}

TEST(test_f16_known_patterns)
{
    CHECK(qtip_f32_to_f16(1.0f) == 0x3C00, "1.0 -> %04x", qtip_f32_to_f16(1.0f));
    CHECK(qtip_f32_to_f16(-2.0f) == 0xC000, "-2");
    CHECK(qtip_f32_to_f16(65504.0f) == 0x7BFF, "max finite");
    CHECK(qtip_f32_to_f16(65519.0f) == 0x7BFF, "below the overflow midpoint");
    CHECK(qtip_f32_to_f16(65520.0f) == 0x7C00, "overflow midpoint ties to even: inf");
    CHECK(qtip_f32_to_f16(1e6f) == 0x7C00 && qtip_f32_to_f16(-1e6f) == 0xFC00, "overflow");
    CHECK(qtip_f32_to_f16(ldexpf(1, -24)) == 0x0001, "smallest subnormal");
    CHECK(qtip_f32_to_f16(ldexpf(1, -25)) == 0x0000, "half the smallest subnormal ties to 0");
    CHECK(qtip_f32_to_f16(ldexpf(3, -26)) == 0x0001, "0.75 ulp rounds up");
    CHECK(qtip_f32_to_f16(ldexpf(3, -25)) == 0x0002, "1.5 ulp ties to even 2");
    CHECK(qtip_f32_to_f16(ldexpf(1, -14)) == 0x0400, "min normal");
    CHECK(qtip_f32_to_f16(ldexpf(1023, -24)) == 0x03FF, "largest subnormal");
    CHECK(qtip_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3C00, "tie to even (down)");
    CHECK(qtip_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3C02, "tie to even (up)");
    CHECK(qtip_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3C01, "above tie");
    CHECK(qtip_f32_to_f16(-0.0f) == 0x8000, "negative zero");
    CHECK(qtip_f32_to_f16(INFINITY) == 0x7C00 && qtip_f32_to_f16(-INFINITY) == 0xFC00, "inf");
    uint16_t n = qtip_f32_to_f16(NAN);
    CHECK((n & 0x7C00) == 0x7C00 && (n & 0x3FF) != 0, "NaN stays NaN: %04x", n);
    /* A NaN whose payload sits only in the low bits must not become Inf. */
    n = qtip_f32_to_f16(f_from_bits(0x7F800001u));
    CHECK((n & 0x3FF) != 0, "low-payload NaN: %04x", n);
    CHECK(qtip_f16_to_f32(0x3C00) == 1.0f, "0x3C00");
    CHECK(qtip_f16_to_f32(0x7BFF) == 65504.0f, "0x7BFF");
    CHECK(qtip_f16_to_f32(0x0001) == ldexpf(1, -24), "0x0001");
    CHECK(qtip_f16_to_f32(0x8000) == 0.0f && signbit(qtip_f16_to_f32(0x8000)), "-0");
    CHECK(isinf(qtip_f16_to_f32(0xFC00)) && qtip_f16_to_f32(0xFC00) < 0, "-inf");
    CHECK(isnan(qtip_f16_to_f32(0x7E00)), "nan");
}

TEST(test_f16_exhaustive)
{
    int bad_decode = 0, bad_round_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtip_f16_to_f32((uint16_t)h);
        int is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (is_nan) {
            bad_decode += !isnan(f);
            continue;
        }
        double want = ((h >> 10) & 31) == 31 ? ((h & 0x8000) ? -INFINITY : INFINITY)
                                               : f16_ref_value((uint16_t)h);
        bad_decode += (double)f != want || !signbit(f) != !signbit(want);
        bad_round_trip += qtip_f32_to_f16(f) != h;
    }
    CHECK(bad_decode == 0, "%d patterns decode wrong", bad_decode);
    CHECK(bad_round_trip == 0, "%d patterns do not round-trip", bad_round_trip);
    /* Every midpoint between neighbouring finite f16 values (exact in f32), and
     * the points just beside it. */
    int bad_mid = 0;
    for (uint32_t h = 0; h < 0x7BFF; h++) {
        float mid = (float)((f16_ref_value((uint16_t)h) + f16_ref_value((uint16_t)(h + 1))) / 2);
        float below = nextafterf(mid, 0), above = nextafterf(mid, INFINITY);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad_mid += qtip_f32_to_f16(mid) != even;
        bad_mid += qtip_f32_to_f16(below) != h;
        bad_mid += qtip_f32_to_f16(above) != h + 1;
        bad_mid += qtip_f32_to_f16(-mid) != (0x8000 | even);
    }
    CHECK(bad_mid == 0, "%d midpoint cases wrong", bad_mid);
}

TEST(test_f16_random_vs_reference)
{
    test_rng r = test_rng_seeded(20240611);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)test_rng_next(&r);
        /* Bias exponents towards the f16 range, where the interesting cases are. */
        if (i & 1) u = (u & 0x807FFFFFu) | ((uint32_t)(96 + test_rng_next(&r) % 48) << 23);
        float f = f_from_bits(u);
        if (isnan(f)) continue;
        uint16_t got = qtip_f32_to_f16(f), want = f16_ref_round(f);
        if (got != want && bad++ < 5)
            fprintf(stderr, "f32 %08x: got %04x want %04x\n", u, got, want);
    }
    CHECK(bad == 0, "%d mismatches", bad);
}

TEST(test_bf16)
{
    CHECK(qtip_f32_to_bf16(1.0f) == 0x3F80, "1.0");
    CHECK(qtip_f32_to_bf16(-2.0f) == 0xC000, "-2.0");
    CHECK(qtip_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3F80, "tie to even (down)");
    CHECK(qtip_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)) == 0x3F82, "tie to even (up)");
    CHECK(qtip_f32_to_bf16(1.0f + ldexpf(1, -8) + ldexpf(1, -20)) == 0x3F81, "above tie");
    CHECK(qtip_f32_to_bf16(FLT_MAX) == 0x7F80, "FLT_MAX rounds to inf");
    CHECK(qtip_f32_to_bf16(INFINITY) == 0x7F80 && qtip_f32_to_bf16(-INFINITY) == 0xFF80, "inf");
    uint16_t n = qtip_f32_to_bf16(f_from_bits(0x7F800001u));
    CHECK((n & 0x7F80) == 0x7F80 && (n & 0x7F), "NaN stays NaN: %04x", n);
    CHECK(qtip_f32_to_bf16(f_from_bits(0x00000001u)) == 0x0000, "tiny subnormal -> 0");
    CHECK(qtip_bf16_to_f32(0x3F80) == 1.0f && qtip_bf16_to_f32(0x4049) == f_from_bits(0x40490000u),
          "decode");
    /* Exhaustive round trip of every non-NaN bf16. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtip_bf16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        bad += qtip_f32_to_bf16(f) != h || bits_of(f) != h << 16;
    }
    CHECK(bad == 0, "%d bf16 round-trip failures", bad);
}

TEST(test_convert)
{
    /* Unaligned sources, every dtype. */
    unsigned char buf[1 + 8 * 4];
    int8_t i8[4] = {-128, -1, 0, 127};
    memcpy(buf + 1, i8, 4);
    float out[4];
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_I8, buf + 1, 4, out));
    CHECK(out[0] == -128 && out[1] == -1 && out[2] == 0 && out[3] == 127, "i8");
    uint16_t h[4] = {0x3C00, 0xC000, 0x7BFF, 0x0001};
    memcpy(buf + 1, h, 8);
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_F16, buf + 1, 4, out));
    CHECK(out[0] == 1 && out[1] == -2 && out[2] == 65504 && out[3] == ldexpf(1, -24), "f16");
    uint16_t b[2] = {0x3F80, 0xBF80};
    memcpy(buf + 1, b, 4);
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_BF16, buf + 1, 2, out));
    CHECK(out[0] == 1 && out[1] == -1, "bf16");
    uint8_t bo[3] = {0, 1, 7};
    memcpy(buf + 1, bo, 3);
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_BOOL, buf + 1, 3, out));
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 1, "bool");
    uint64_t u64 = 1ull << 40;
    memcpy(buf + 1, &u64, 8);
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_U64, buf + 1, 1, out));
    CHECK(out[0] == ldexpf(1, 40), "u64");
    double d = 0.1;
    memcpy(buf + 1, &d, 8);
    CHECK_OK(qtip_convert_to_f32(QTIP_DT_F64, buf + 1, 1, out));
    CHECK(out[0] == 0.1f, "f64 -> f32 rounds like a cast");
    float src[3] = {1.0f, 65520.0f, -0.5f};
    CHECK_OK(qtip_convert_from_f32(QTIP_DT_F16, src, 3, buf + 1));
    memcpy(h, buf + 1, 6);
    CHECK(h[0] == 0x3C00 && h[1] == 0x7C00 && h[2] == 0xB800, "from f32 to f16");
    CHECK_STATUS(qtip_convert_from_f32(QTIP_DT_I32, src, 3, buf), QTIP_E_UNSUPPORTED);
    CHECK_STATUS(qtip_convert_to_f32((qtip_dtype)77, buf, 1, out), QTIP_E_PARAM);
}

int main(void)
{
    RUN(test_dtype_table);
    RUN(test_f16_known_patterns);
    RUN(test_f16_exhaustive);
    RUN(test_f16_random_vs_reference);
    RUN(test_bf16);
    RUN(test_convert);
    return check_summary();
}
