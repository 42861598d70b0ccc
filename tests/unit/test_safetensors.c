/*
 * test_safetensors.c — safetensors reading and writing against hand-built bytes:
 * every header rule broken once (each a clear error naming file and tensor),
 * the writer's exact bytes, round trips of every dtype, zstd, sharded models,
 * and the real MiniLM file when QTIP_MINILM_DIR points at it.
 */
#include "check.h"

#include <zstd.h>

#include <sys/stat.h>
#include <unistd.h>

/* u64 LE length + header + data, written to `path` (header taken as given). */
static void write_st(const char *path, const char *hdr, const void *data, size_t dlen)
{
    size_t hl = strlen(hdr);
    unsigned char *b = malloc(8 + hl + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    test_write_file(path, b, 8 + hl + dlen);
    free(b);
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

TEST(test_read_hand_built)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                      "\"e\":{\"dtype\":\"I8\",\"shape\":[0,3],\"data_offsets\":[12,12]}}   ";
    unsigned char data[12];
    float a[2] = {1.5f, -2.0f};
    uint16_t b[2] = {0x3C00, 0x7BFF};
    memcpy(data, a, 8);
    memcpy(data + 8, b, 4);
    const char *p = test_path("hand.safetensors");
    write_st(p, hdr, data, sizeof data);
    qtip_st_file *f;
    CHECK_OK(qtip_st_open(p, &f));
    if (!f) return;
    CHECK(qtip_st_count(f) == 3, "count %zu", qtip_st_count(f));
    const qtip_tensor_view *t0 = qtip_st_tensor(f, 0), *t1 = qtip_st_tensor(f, 1);
    CHECK(strcmp(t0->name, "a") == 0 && strcmp(t1->name, "b") == 0, "file order by offset");
    CHECK(t0->dtype == QTIP_DT_F32 && t0->ndim == 2 && t0->shape[0] == 1 && t0->shape[1] == 2 &&
              t0->nbytes == 8, "a's view");
    float got[2];
    CHECK_OK(qtip_convert_to_f32(t0->dtype, t0->data, 2, got));
    CHECK(got[0] == 1.5f && got[1] == -2.0f, "a's data");
    const qtip_tensor_view *tb = qtip_st_find(f, "b");
    CHECK(tb && tb->dtype == QTIP_DT_F16 && tb->nbytes == 4, "find b");
    if (tb) {
        CHECK_OK(qtip_convert_to_f32(tb->dtype, tb->data, 2, got));
        CHECK(got[0] == 1.0f && got[1] == 65504.0f, "b's data");
    }
    const qtip_tensor_view *te = qtip_st_find(f, "e");
    CHECK(te && te->nbytes == 0 && te->shape[0] == 0, "empty tensor");
    CHECK(qtip_st_find(f, "zz") == NULL, "absent");
    CHECK(strstr(qtip_last_error(), "'zz'") && strstr(qtip_last_error(), "hand.safetensors"),
          "not-found message: %s", qtip_last_error());
    CHECK(qtip_st_metadata(f, "format") && strcmp(qtip_st_metadata(f, "format"), "pt") == 0, "meta");
    CHECK(qtip_st_metadata(f, "nope") == NULL, "absent meta");
    CHECK(strcmp(qtip_st_path(f), p) == 0, "path");
    CHECK(qtip_st_tensor(f, 3) == NULL, "index out of range");
    qtip_st_close(f);
    qtip_st_close(NULL);
}

/* Each malformed file: expected status, and the message must name the file and,
 * where given, the tensor (or another key phrase). */
static void expect_bad(const char *tag, const char *hdr, size_t dlen, qtip_status want,
                       const char *needle)
{
    unsigned char data[64] = {0};
    char name[64];
    snprintf(name, sizeof name, "bad-%s.safetensors", tag);
    const char *p = test_path(name);
    write_st(p, hdr, data, dlen);
    qtip_st_file *f = NULL;
    qtip_status s = qtip_st_open(p, &f);
    CHECK(s == want, "%s: got %s (want %s): %s", tag, qtip_status_name(s), qtip_status_name(want),
          qtip_last_error());
    CHECK(f == NULL, "%s: no handle on failure", tag);
    CHECK(strstr(qtip_last_error(), name) != NULL, "%s: message lacks the file: %s", tag,
          qtip_last_error());
    if (needle)
        CHECK(strstr(qtip_last_error(), needle) != NULL, "%s: message lacks '%s': %s", tag, needle,
              qtip_last_error());
    qtip_st_close(f);
}

#define T1(name, dt, shape, off) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

TEST(test_read_rejects)
{
    expect_bad("out-of-range", "{" T1("w", "F32", "[4]", "[0,16]") "}", 8, QTIP_E_FORMAT, "'w'");
    expect_bad("truncated-data", "{" T1("w", "F32", "[4]", "[0,16]") "}", 15, QTIP_E_FORMAT, "truncated");
    expect_bad("overlap", "{" T1("x", "F32", "[2]", "[0,8]") "," T1("y", "F32", "[2]", "[4,12]") "}",
               12, QTIP_E_FORMAT, "overlaps");
    expect_bad("overlap-same", "{" T1("x", "F32", "[2]", "[0,8]") "," T1("y", "F32", "[2]", "[0,8]") "}",
               8, QTIP_E_FORMAT, "overlaps");
    expect_bad("unknown-dtype", "{" T1("w", "F17", "[1]", "[0,4]") "}", 4, QTIP_E_FORMAT, "'F17'");
    expect_bad("f8-dtype", "{" T1("w", "F8_E4M3", "[1]", "[0,1]") "}", 1, QTIP_E_UNSUPPORTED, "'w'");
    expect_bad("size-lie", "{" T1("w", "F32", "[3]", "[0,8]") "}", 8, QTIP_E_FORMAT, "'w'");
    expect_bad("size-lie-bf16", "{" T1("w", "BF16", "[2,2]", "[0,4]") "}", 8, QTIP_E_FORMAT, "[2, 2]");
    expect_bad("reversed", "{" T1("w", "U8", "[0]", "[4,0]") "}", 8, QTIP_E_FORMAT, "'w'");
    expect_bad("overflow", "{" T1("w", "F32", "[4611686018427387904,8]", "[0,8]") "}", 8,
               QTIP_E_FORMAT, "overflows");
    expect_bad("overflow-bytes", "{" T1("w", "F64", "[2305843009213693952,4]", "[0,8]") "}", 8,
               QTIP_E_FORMAT, "overflows");
    expect_bad("negative-dim", "{" T1("w", "F32", "[-1]", "[0,4]") "}", 4, QTIP_E_FORMAT, "'w'");
    expect_bad("float-dim", "{" T1("w", "F32", "[1.0]", "[0,4]") "}", 4, QTIP_E_FORMAT, "'w'");
    expect_bad("too-many-dims", "{" T1("w", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1,
               QTIP_E_UNSUPPORTED, "'w'");
    expect_bad("duplicate", "{" T1("w", "U8", "[1]", "[0,1]") "," T1("w", "U8", "[1]", "[1,2]") "}", 2,
               QTIP_E_FORMAT, "duplicate");
    expect_bad("not-object", "[1, 2, 3]", 0, QTIP_E_FORMAT, "not a JSON object");
    expect_bad("bad-json", "{\"w\": {\"dtype\": \"F32\",", 0, QTIP_E_FORMAT, "invalid JSON");
    expect_bad("entry-not-object", "{\"w\": 3}", 0, QTIP_E_FORMAT, "'w'");
    expect_bad("no-offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, QTIP_E_FORMAT, "'w'");
    expect_bad("offsets-3", "{" T1("w", "U8", "[1]", "[0,1,2]") "}", 2, QTIP_E_FORMAT, "'w'");
    expect_bad("meta-not-string", "{\"__metadata__\":{\"k\":1}}", 0, QTIP_E_FORMAT, "'k'");
    expect_bad("meta-not-object", "{\"__metadata__\":\"x\"}", 0, QTIP_E_FORMAT, "__metadata__");
    expect_bad("trailing-garbage", "{} x", 0, QTIP_E_FORMAT, "invalid JSON");
    /* Header length larger than the file, and files too short for the length. */
    unsigned char b[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    const char *p = test_path("bad-hdrlen.safetensors");
    test_write_file(p, b, 10);
    qtip_st_file *f = NULL;
    CHECK_STATUS(qtip_st_open(p, &f), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "header length 65535 is larger than the file"), "msg: %s",
          qtip_last_error());
    b[0] = 0xff; memset(b + 1, 0xff, 7); /* 2^64 - 1 */
    test_write_file(p, b, 10);
    CHECK_STATUS(qtip_st_open(p, &f), QTIP_E_FORMAT);
    test_write_file(p, b, 5);
    CHECK_STATUS(qtip_st_open(p, &f), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "truncated"), "msg: %s", qtip_last_error());
    test_write_file(p, "", 0);
    CHECK_STATUS(qtip_st_open(p, &f), QTIP_E_FORMAT);
    CHECK_STATUS(qtip_st_open(test_path("nothing.safetensors"), &f), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "nothing.safetensors"), "msg: %s", qtip_last_error());
    /* Gaps between tensors are tolerated (only overlaps are wrong). */
    const char *gap = "{" T1("x", "U8", "[2]", "[0,2]") "," T1("y", "U8", "[2]", "[6,8]") "}";
    write_st(p, gap, "abcdefgh", 8);
    CHECK_OK(qtip_st_open(p, &f));
    qtip_st_close(f);
}

/* The writer's bytes for a fixed input, spelled out by hand. */
TEST(test_writer_exact_bytes)
{
    qtip_st_writer *w;
    CHECK_OK(qtip_st_writer_create(&w));
    uint16_t h[4] = {0x3C00, 0x4000, 0x4200, 0x4400};
    int8_t i8[3] = {1, -2, 3};
    int64_t s22[2] = {2, 2}, s3[1] = {3};
    CHECK_OK(qtip_st_writer_add(w, "w", QTIP_DT_F16, 2, s22, h));
    CHECK_OK(qtip_st_writer_add_ref(w, "b", QTIP_DT_I8, 1, s3, i8));
    CHECK_OK(qtip_st_writer_set_metadata(w, "k", "old"));
    CHECK_OK(qtip_st_writer_set_metadata(w, "k", "v"));
    CHECK_OK(qtip_st_writer_set_metadata(w, "a", "2"));
    CHECK_STATUS(qtip_st_writer_add(w, "w", QTIP_DT_F16, 2, s22, h), QTIP_E_PARAM);
    CHECK_STATUS(qtip_st_writer_add(w, "__metadata__", QTIP_DT_U8, 1, s3, i8), QTIP_E_PARAM);
    CHECK_STATUS(qtip_st_writer_add(w, "", QTIP_DT_U8, 1, s3, i8), QTIP_E_PARAM);
    CHECK_STATUS(qtip_st_writer_add(w, "n", QTIP_DT_U8, 1, s3, NULL), QTIP_E_PARAM);
    int64_t neg[1] = {-3};
    CHECK_STATUS(qtip_st_writer_add(w, "n", QTIP_DT_U8, 1, neg, i8), QTIP_E_PARAM);
    const char *p1 = test_path("exact.safetensors"), *p2 = test_path("exact2.safetensors");
    CHECK_OK(qtip_st_writer_write(w, p1, 0));
    CHECK_OK(qtip_st_writer_write(w, p2, 0));
    qtip_st_writer_free(w);
    const char *json = "{\"__metadata__\":{\"k\":\"v\",\"a\":\"2\"},"
                       "\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[8,11]}}";
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    size_t n = 8 + padded + 11;
    unsigned char *want = calloc(1, n);
    want[0] = (unsigned char)padded;
    want[1] = (unsigned char)(padded >> 8);
    memcpy(want + 8, json, jl);
    memset(want + 8 + jl, ' ', padded - jl);
    memcpy(want + 8 + padded, h, 8);
    memcpy(want + 8 + padded + 8, i8, 3);
    size_t l1, l2;
    unsigned char *g1 = slurp(p1, &l1), *g2 = slurp(p2, &l2);
    CHECK(l1 == n && memcmp(g1, want, n) == 0, "exact bytes (got %zu, want %zu): %.*s", l1, n,
          (int)(l1 > 8 ? l1 - 8 : 0), g1 + 8);
    CHECK(l1 == l2 && memcmp(g1, g2, l1) == 0, "identical inputs, identical files");
    free(g1);
    free(g2);
    free(want);
}

TEST(test_round_trip_all_dtypes_and_zstd)
{
    test_rng r = test_rng_seeded(99);
    qtip_st_writer *w;
    CHECK_OK(qtip_st_writer_create(&w));
    unsigned char *bufs[QTIP_DT_COUNT_];
    int64_t shape[3] = {3, 5, 7};
    for (int dt = 0; dt < QTIP_DT_COUNT_; dt++) {
        size_t nb = 105 * qtip_dtype_size((qtip_dtype)dt);
        bufs[dt] = malloc(nb);
        for (size_t i = 0; i < nb; i++) bufs[dt][i] = (unsigned char)test_rng_next(&r);
        if (dt == QTIP_DT_BOOL)
            for (size_t i = 0; i < nb; i++) bufs[dt][i] &= 1;
        char name[32];
        snprintf(name, sizeof name, "t.%s", qtip_dtype_name((qtip_dtype)dt));
        CHECK_OK(qtip_st_writer_add(w, name, (qtip_dtype)dt, 3, shape, bufs[dt]));
    }
    CHECK_OK(qtip_st_writer_add(w, "scalar", QTIP_DT_F64, 0, NULL, "\0\0\0\0\0\0\xf0\x3f"));
    for (int z = 0; z < 2; z++) {
        const char *p = test_path(z ? "rt.safetensors.zst" : "rt.safetensors");
        CHECK_OK(qtip_st_writer_write(w, p, z ? 3 : 0));
        qtip_st_file *f;
        CHECK_OK(qtip_st_open(p, &f));
        if (!f) continue;
        CHECK(qtip_st_count(f) == QTIP_DT_COUNT_ + 1, "count");
        for (int dt = 0; dt < QTIP_DT_COUNT_; dt++) {
            char name[32];
            snprintf(name, sizeof name, "t.%s", qtip_dtype_name((qtip_dtype)dt));
            const qtip_tensor_view *t = qtip_st_find(f, name);
            CHECK(t && (int)t->dtype == dt && t->ndim == 3 && t->shape[2] == 7 &&
                      t->nbytes == 105 * qtip_dtype_size((qtip_dtype)dt) &&
                      memcmp(t->data, bufs[dt], t->nbytes) == 0, "%s (zstd %d)", name, z);
            /* Order of addition is file order. */
            CHECK(qtip_st_tensor(f, (size_t)dt) == t, "order of %s", name);
        }
        const qtip_tensor_view *s = qtip_st_find(f, "scalar");
        double one = 0;
        if (s) memcpy(&one, s->data, 8);
        CHECK(s && s->ndim == 0 && s->nbytes == 8 && one == 1.0, "scalar");
        qtip_st_close(f);
    }
    qtip_st_writer_free(w);
    for (int dt = 0; dt < QTIP_DT_COUNT_; dt++) free(bufs[dt]);
}

static void write_one(const char *path, const char *name, float v)
{
    qtip_st_writer *w;
    int64_t s[1] = {1};
    qtip_st_writer_create(&w);
    qtip_st_writer_add(w, name, QTIP_DT_F32, 1, s, &v);
    qtip_io_forget_inputs(); /* shards are rewritten after being opened */
    qtip_st_writer_write(w, path, 0);
    qtip_st_writer_free(w);
}

TEST(test_sharded)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir());
    mkdir(dir, 0777);
    char p[700];
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_one(p, "layer.1", 2.0f);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    qtip_st_writer *w;
    float v[2] = {1.0f, 0.5f};
    int64_t s1[1] = {1};
    qtip_st_writer_create(&w);
    qtip_st_writer_add(w, "layer.0", QTIP_DT_F32, 1, s1, &v[0]);
    qtip_st_writer_add(w, "embed", QTIP_DT_F32, 1, s1, &v[1]);
    qtip_st_writer_set_metadata(w, "format", "pt");
    CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
    char idx[700];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    const char *good = "{\"metadata\": {\"total_size\": 12}, \"weight_map\": {"
                       "\"layer.1\": \"model-00002-of-00002.safetensors\","
                       "\"layer.0\": \"model-00001-of-00002.safetensors\","
                       "\"embed\": \"model-00001-of-00002.safetensors\"}}";
    test_write_file(idx, good, strlen(good));
    qtip_st_file *f;
    CHECK_OK(qtip_st_open(dir, &f)); /* a directory finds the index */
    if (f) {
        CHECK(qtip_st_count(f) == 3, "count");
        CHECK(strcmp(qtip_st_tensor(f, 0)->name, "layer.0") == 0 &&
                  strcmp(qtip_st_tensor(f, 2)->name, "layer.1") == 0, "shard order, file order");
        const qtip_tensor_view *t = qtip_st_find(f, "layer.1");
        float x = 0;
        if (t) memcpy(&x, t->data, 4);
        CHECK(x == 2.0f, "value from shard 2");
        CHECK(qtip_st_metadata(f, "total_size") && strcmp(qtip_st_metadata(f, "total_size"), "12") == 0,
              "index metadata");
        CHECK(qtip_st_metadata(f, "format") && strcmp(qtip_st_metadata(f, "format"), "pt") == 0,
              "shard metadata");
        CHECK(strstr(qtip_st_path(f), "model.safetensors.index.json") != NULL, "path");
        qtip_st_close(f);
    }
    /* Index lies: a tensor that no shard holds; a tensor in the wrong shard; a
     * shard tensor the index omits; a path outside the directory; a duplicate. */
    struct { const char *json, *needle; } bad[] = {
        {"{\"weight_map\": {\"ghost\": \"model-00001-of-00002.safetensors\", \"layer.0\": "
         "\"model-00001-of-00002.safetensors\", \"embed\": \"model-00001-of-00002.safetensors\"}}",
         "'ghost'"},
        {"{\"weight_map\": {\"layer.1\": \"model-00001-of-00002.safetensors\", \"layer.0\": "
         "\"model-00002-of-00002.safetensors\", \"embed\": \"model-00001-of-00002.safetensors\"}}",
         "layer."},
        {"{\"weight_map\": {\"layer.0\": \"model-00001-of-00002.safetensors\"}}", "'embed'"},
        {"{\"weight_map\": {\"layer.0\": \"../x.safetensors\"}}", "'layer.0'"},
        {"{\"weight_map\": {}}", "no tensors"},
        {"{\"weight_map\": [1]}", "weight_map"},
        {"not json", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        test_write_file(idx, bad[i].json, strlen(bad[i].json));
        f = NULL;
        CHECK_STATUS(qtip_st_open(idx, &f), QTIP_E_FORMAT);
        CHECK(strstr(qtip_last_error(), bad[i].needle) && strstr(qtip_last_error(), "index.json"),
              "case %zu: %s", i, qtip_last_error());
        CHECK(f == NULL, "no handle");
    }
    /* The same tensor in two shards. */
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_one(p, "embed", 3.0f);
    test_write_file(idx, good, strlen(good));
    CHECK_STATUS(qtip_st_open(idx, &f), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "'embed' appears twice"), "dup: %s", qtip_last_error());
    /* A directory with model.safetensors prefers it; an empty one is an error. */
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_one(p, "single", 4.0f);
    CHECK_OK(qtip_st_open(dir, &f));
    CHECK(f && qtip_st_count(f) == 1 && qtip_st_find(f, "single"), "model.safetensors first");
    qtip_st_close(f);
    snprintf(p, sizeof p, "%s/empty", test_tmpdir());
    mkdir(p, 0777);
    CHECK_STATUS(qtip_st_open(p, &f), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "neither"), "msg: %s", qtip_last_error());
}

TEST(test_truncations)
{
    const char *hdr = "{" T1("w", "U8", "[3]", "[0,3]") "}";
    size_t hl = strlen(hdr);
    unsigned char b[128] = {0};
    b[0] = (unsigned char)hl;
    memcpy(b + 8, hdr, hl);
    memcpy(b + 8 + hl, "xyz", 3);
    const char *p = test_path("cut.safetensors");
    test_write_file(p, b, 8 + hl + 3);
    qtip_st_file *f;
    CHECK_OK(qtip_st_open(p, &f));
    CHECK(f && qtip_st_count(f) == 1 && memcmp(qtip_st_find(f, "w")->data, "xyz", 3) == 0, "file");
    qtip_st_close(f);
    /* Every truncation of a valid file fails cleanly, naming the file. */
    for (size_t n = 0; n < 8 + hl + 3; n++) {
        test_write_file(p, b, n);
        f = NULL;
        CHECK(qtip_st_open(p, &f) == QTIP_E_FORMAT && f == NULL &&
                  strstr(qtip_last_error(), "cut.safetensors"),
              "cut at %zu: %s", n, qtip_last_error());
    }
}

/* A compressed file is decompressed no further than its header accounts for: a
 * valid 8-byte tensor followed by 64 MiB of zeros (a 2 KB zstd frame) is refused
 * with the limit, instead of expanding in memory; the same file without the tail
 * opens. */
TEST(test_compressed_bound)
{
    const char *hdr = "{" T1("x", "F32", "[2]", "[0,8]") "}";
    size_t hl = strlen(hdr), tail = (size_t)64 << 20, n = 8 + hl + 8 + tail;
    unsigned char *b = calloc(1, n);
    b[0] = (unsigned char)hl;
    memcpy(b + 8, hdr, hl);
    float x[2] = {1.5f, -2.0f};
    memcpy(b + 8 + hl, x, 8);
    size_t cap = ZSTD_compressBound(n);
    unsigned char *z = malloc(cap);
    const char *p = test_path("bomb.safetensors");
    for (int with_tail = 0; with_tail < 2; with_tail++) {
        size_t len = with_tail ? n : n - tail;
        size_t zn = ZSTD_compress(z, cap, b, len, 1);
        CHECK(!ZSTD_isError(zn), "compress");
        test_write_file(p, z, zn);
        qtip_st_file *f = NULL;
        qtip_status s = qtip_st_open(p, &f);
        if (!with_tail) {
            CHECK(s == QTIP_OK && f && qtip_st_find(f, "x") &&
                      memcmp(qtip_st_find(f, "x")->data, x, 8) == 0,
                  "compressed file without a tail: %s", qtip_last_error());
        } else {
            CHECK(s == QTIP_E_FORMAT && !f, "tail accepted");
            CHECK(strstr(qtip_last_error(), "bomb.safetensors") &&
                      strstr(qtip_last_error(), "decompresses to more than 8 bytes"),
                  "message: %s", qtip_last_error());
        }
        qtip_st_close(f);
    }
    free(z);
    free(b);
}

/* The MiniLM wheel's real file, when a path to it is given (not in the repo). */
TEST(test_minilm)
{
    const char *dir = getenv("QTIP_MINILM_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "skip: QTIP_MINILM_DIR not set\n");
        return;
    }
    qtip_st_file *f;
    CHECK_OK(qtip_st_open(dir, &f));
    if (!f) return;
    size_t n = qtip_st_count(f), total = 0;
    CHECK(n > 10, "tensors: %zu", n);
    int found_384 = 0;
    for (size_t i = 0; i < n; i++) {
        const qtip_tensor_view *t = qtip_st_tensor(f, i);
        total += t->nbytes;
        if (t->ndim == 2 && t->shape[1] == 384) found_384 = 1;
        /* Touch every tensor's last byte: the mapping must cover it. */
        if (t->nbytes) {
            volatile unsigned char c = ((const unsigned char *)t->data)[t->nbytes - 1];
            (void)c;
        }
    }
    fprintf(stderr, "MiniLM: %zu tensors, %zu bytes of data\n", n, total);
    CHECK(found_384, "a [*, 384] matrix (MiniLM's hidden size)");
    /* Facts of all-MiniLM-L6-v2: 104 tensors, BERT vocabulary 30522, hidden 384, f32. */
    CHECK(n == 104, "tensor count %zu, expected 104", n);
    const qtip_tensor_view *we = qtip_st_find(f, "embeddings.word_embeddings.weight");
    CHECK(we && we->dtype == QTIP_DT_F32 && we->ndim == 2 && we->shape[0] == 30522 &&
              we->shape[1] == 384, "word embeddings");
    const char *fmt = qtip_st_metadata(f, "format");
    CHECK(fmt && strcmp(fmt, "pt") == 0, "metadata format");
    /* Finite values throughout the embedding matrix. */
    if (we) {
        float *x = malloc(we->nbytes);
        CHECK_OK(qtip_convert_to_f32(we->dtype, we->data, we->nbytes / 4, x));
        size_t bad = 0;
        for (size_t i = 0; i < we->nbytes / 4; i++) bad += !isfinite(x[i]);
        CHECK(bad == 0, "%zu non-finite embedding values", bad);
        free(x);
    }
    qtip_st_close(f);
}

int main(void)
{
    RUN(test_read_hand_built);
    RUN(test_read_rejects);
    RUN(test_writer_exact_bytes);
    RUN(test_round_trip_all_dtypes_and_zstd);
    RUN(test_sharded);
    RUN(test_truncations);
    RUN(test_compressed_bound);
    RUN(test_minilm);
    return check_summary();
}
