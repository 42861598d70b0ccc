/*
 * test_npy.c — .npy reading from hand-built files (v1/v2/v3 headers, every dtype
 * code, zstd, stdin, chunked streaming), clear refusals (Fortran order,
 * big-endian, truncation, trailing bytes, malformed headers), the writer's exact
 * bytes, and a round trip through python3's numpy when it is installed.
 */
#include "check.h"

#include <fcntl.h>
#include <unistd.h>

/* An .npy file as numpy lays it out: magic, version, length, dict padded with
 * spaces and ending in '\n' so the data start at a multiple of 64. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t dlen,
                      int compress)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *b = calloc(1, total + dlen);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[total - 1] = '\n';
    if (dlen) memcpy(b + total, data, dlen);
    qtip_io_forget_inputs(); /* the fixtures are rewritten after being read */
    CHECK_OK(qtip_write_file_atomic(path, b, total + dlen, compress));
    free(b);
}

TEST(test_versions_and_streaming)
{
    float x[6] = {1, 2, 3, 4, 5, 6.5f};
    for (int major = 1; major <= 3; major++) {
        for (int z = 0; z < 2; z++) {
            const char *p = test_path("v.npy");
            write_npy(p, major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x,
                      sizeof x, z ? 3 : 0);
            qtip_npy_reader *r;
            CHECK_OK(qtip_npy_open(p, &r));
            if (!r) continue;
            CHECK(qtip_npy_dtype(r) == QTIP_DT_F32 && qtip_npy_ndim(r) == 2 &&
                      qtip_npy_shape(r)[0] == 2 && qtip_npy_shape(r)[1] == 3,
                  "header v%d", major);
            /* Rows of 4 elements: 4 then 2 then 0. */
            float got[8] = {0};
            size_t g1, g2, g3;
            CHECK_OK(qtip_npy_read(r, got, 4, &g1));
            CHECK_OK(qtip_npy_read(r, got + 4, 4, &g2));
            CHECK_OK(qtip_npy_read(r, got + 6, 4, &g3));
            CHECK(g1 == 4 && g2 == 2 && g3 == 0 && memcmp(got, x, sizeof x) == 0, "data v%d z%d", major, z);
            qtip_npy_close(r);
        }
    }
    qtip_npy_close(NULL);
}

TEST(test_dtypes_and_shapes)
{
    static const struct { const char *descr; qtip_dtype dt; } codes[] = {
        {"<f2", QTIP_DT_F16}, {"<f8", QTIP_DT_F64}, {"|i1", QTIP_DT_I8}, {"<i2", QTIP_DT_I16},
        {"<i4", QTIP_DT_I32}, {"<i8", QTIP_DT_I64}, {"|u1", QTIP_DT_U8}, {"<u2", QTIP_DT_U16},
        {"<u4", QTIP_DT_U32}, {"<u8", QTIP_DT_U64}, {"|b1", QTIP_DT_BOOL}, {"=f4", QTIP_DT_F32},
        {"<u1", QTIP_DT_U8}, {">u1", QTIP_DT_U8},
    };
    unsigned char data[64];
    for (int i = 0; i < 64; i++) data[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (4,), }",
                 codes[i].descr);
        const char *p = test_path("d.npy");
        size_t nb = 4 * qtip_dtype_size(codes[i].dt);
        write_npy(p, 1, dict, data, nb, 0);
        qtip_npy_reader *r;
        CHECK_OK(qtip_npy_open(p, &r));
        if (!r) continue;
        unsigned char got[64];
        size_t g;
        CHECK(qtip_npy_dtype(r) == codes[i].dt && qtip_npy_ndim(r) == 1, "%s", codes[i].descr);
        CHECK_OK(qtip_npy_read(r, got, 100, &g));
        CHECK(g == 4 && memcmp(got, data, nb) == 0, "%s data", codes[i].descr);
        qtip_npy_close(r);
    }
    /* 0-d, empty, Fortran order on 1-d (same bytes as C order), odd spacing,
     * double quotes, keys in another order, Python 2 longs. */
    static const struct { const char *dict; int ndim; uint64_t count; } ok[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, 1},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", 2, 0},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", 1, 3},
        {"{\"shape\":(1,3),\"fortran_order\":False,\"descr\":\"<f4\"}", 2, 3},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 1L), }", 2, 3},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *p = test_path("s.npy");
        write_npy(p, 1, ok[i].dict, data, 4 * ok[i].count, 0);
        qtip_npy_reader *r;
        CHECK_OK(qtip_npy_open(p, &r));
        if (!r) continue;
        uint64_t count = 1;
        for (int d = 0; d < qtip_npy_ndim(r); d++) count *= (uint64_t)qtip_npy_shape(r)[d];
        CHECK(qtip_npy_ndim(r) == ok[i].ndim && count == ok[i].count, "case %zu", i);
        float got[8];
        size_t g, total = 0;
        do {
            CHECK_OK(qtip_npy_read(r, got, 2, &g));
            total += g;
        } while (g);
        CHECK(total == ok[i].count, "case %zu: read %zu", i, total);
        qtip_npy_close(r);
    }
}

static void expect_bad(const char *dict, int major, size_t dlen, qtip_status want, const char *needle,
                       int at_read)
{
    unsigned char data[64] = {0};
    const char *p = test_path("bad.npy");
    write_npy(p, major, dict, data, dlen, 0);
    qtip_npy_reader *r = NULL;
    qtip_status s = qtip_npy_open(p, &r);
    if (at_read && s == QTIP_OK) {
        unsigned char buf[64];
        size_t g;
        do s = qtip_npy_read(r, buf, 3, &g);
        while (s == QTIP_OK && g);
    }
    CHECK(s == want, "%s: got %s (want %s): %s", dict, qtip_status_name(s), qtip_status_name(want),
          qtip_last_error());
    CHECK(strstr(qtip_last_error(), "bad.npy") && strstr(qtip_last_error(), needle),
          "%s: message lacks file or '%s': %s", dict, needle, qtip_last_error());
    qtip_npy_close(r);
}

TEST(test_rejects)
{
    expect_bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, 24,
               QTIP_E_UNSUPPORTED, "Fortran order", 0);
    expect_bad("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 1, 8, QTIP_E_UNSUPPORTED,
               "big-endian", 0);
    expect_bad("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 1, 16,
               QTIP_E_UNSUPPORTED, "'<c8'", 0);
    expect_bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, 8,
               QTIP_E_UNSUPPORTED, "structured", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 20, QTIP_E_FORMAT,
               "truncated", 1);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, 12, QTIP_E_FORMAT,
               "data beyond the shape: the shape holds 2 elements (8 bytes)", 1);
    /* An empty shape with data after it lies too (checked on the first read). */
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", 1, 4, QTIP_E_FORMAT,
               "data beyond the shape: the shape holds 0 elements (0 bytes)", 1);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", 1, 8,
               QTIP_E_FORMAT, "'x'", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, }", 1, 8, QTIP_E_FORMAT, "shape", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 1, 8, QTIP_E_FORMAT,
               "fortran_order", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 1, 8, QTIP_E_FORMAT,
               "shape", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", 1,
               8, QTIP_E_FORMAT, "overflows", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 1, 8, QTIP_E_FORMAT,
               "after the header", 0);
    expect_bad("['descr']", 1, 8, QTIP_E_FORMAT, "dict", 0);
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 4, 8, QTIP_E_FORMAT,
               "version 4.0", 0);
    const char *p = test_path("bad.npy");
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_write_file_atomic(p, "PK\x03\x04 not npy", 12, 0));
    qtip_npy_reader *r;
    CHECK_STATUS(qtip_npy_open(p, &r), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "bad magic"), "msg: %s", qtip_last_error());
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_write_file_atomic(p, "\x93NUMPY\x01\x00\x50", 9, 0));
    CHECK_STATUS(qtip_npy_open(p, &r), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "truncated"), "msg: %s", qtip_last_error());
    CHECK_STATUS(qtip_npy_open(test_path("none.npy"), &r), QTIP_E_IO);
}

TEST(test_stdin)
{
    int16_t x[5] = {-5, 4, -3, 2, -1};
    const char *p = test_path("in.npy.zst");
    write_npy(p, 2, "{'descr': '<i2', 'fortran_order': False, 'shape': (5,), }", x, sizeof x, 1);
    int saved = dup(0), fd = open(p, O_RDONLY);
    dup2(fd, 0);
    close(fd);
    qtip_npy_reader *r;
    CHECK_OK(qtip_npy_open("-", &r));
    if (r) {
        int16_t got[5];
        size_t g;
        CHECK_OK(qtip_npy_read(r, got, 5, &g));
        CHECK(g == 5 && memcmp(got, x, sizeof x) == 0, "stdin data");
        qtip_npy_close(r);
    }
    dup2(saved, 0);
    close(saved);
}

TEST(test_writer_exact)
{
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t shape[2] = {2, 3};
    const char *p = test_path("w.npy");
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_npy_write(p, QTIP_DT_F32, 2, shape, x));
    /* The header numpy 1.x writes for np.zeros((2,3), '<f4'). */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    unsigned char want[128 + 24];
    memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(want + 10, dict, strlen(dict));
    memset(want + 10 + strlen(dict), ' ', 128 - 10 - strlen(dict) - 1);
    want[127] = '\n';
    memcpy(want + 128, x, 24);
    unsigned char got[256];
    FILE *f = fopen(p, "rb");
    size_t n = fread(got, 1, sizeof got, f);
    fclose(f);
    CHECK(n == sizeof want && memcmp(got, want, n) == 0, "bytes (%zu)", n);
    int64_t s1[1] = {3};
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_npy_write(p, QTIP_DT_U8, 1, s1, "abc"));
    qtip_npy_reader *r;
    CHECK_OK(qtip_npy_open(p, &r));
    CHECK(r && qtip_npy_ndim(r) == 1 && qtip_npy_shape(r)[0] == 3 && qtip_npy_dtype(r) == QTIP_DT_U8,
          "1-d round trip");
    qtip_npy_close(r);
    CHECK_STATUS(qtip_npy_write(p, QTIP_DT_BF16, 1, s1, "abcdef"), QTIP_E_UNSUPPORTED);
}

/* numpy reads what we write, and we read what numpy writes (v1 and v3 headers). */
TEST(test_numpy_round_trip)
{
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") != 0) CHECK_SKIP("python3 with numpy not available");
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i * 0.25f - 1.0f;
    int64_t shape[2] = {3, 4};
    char *ours = strdup(test_path("ours.npy")), *theirs = strdup(test_path("theirs.npy"));
    qtip_io_forget_inputs(); /* fixtures are rewritten after being read */
    CHECK_OK(qtip_npy_write(ours, QTIP_DT_F32, 2, shape, x));
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import numpy as np; a = np.load('%s'); "
             "assert a.shape == (3, 4) and a.dtype == np.float32, a; "
             "assert (a.ravel() == np.arange(12, dtype=np.float32) * 0.25 - 1).all(); "
             "np.lib.format.write_array(open('%s', 'wb'), (2 * a).astype(np.float16), version=(3, 0))\"",
             ours, theirs);
    CHECK(system(cmd) == 0, "numpy side failed: %s", cmd);
    qtip_npy_reader *r;
    CHECK_OK(qtip_npy_open(theirs, &r));
    if (r) {
        uint16_t h[12];
        size_t g;
        CHECK(qtip_npy_dtype(r) == QTIP_DT_F16 && qtip_npy_shape(r)[1] == 4, "numpy's header");
        CHECK_OK(qtip_npy_read(r, h, 12, &g));
        int bad = 0;
        for (int i = 0; i < 12; i++) bad += qtip_f16_to_f32(h[i]) != 2 * x[i];
        CHECK(g == 12 && bad == 0, "numpy's data");
        qtip_npy_close(r);
    }
    free(ours);
    free(theirs);
}

int main(void)
{
    RUN(test_versions_and_streaming);
    RUN(test_dtypes_and_shapes);
    RUN(test_rejects);
    RUN(test_stdin);
    RUN(test_writer_exact);
    RUN(test_numpy_round_trip);
    return check_summary();
}
