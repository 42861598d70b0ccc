/*
 * test_hessian_file.c — Hessian files and reference layouts: save/load is
 * bit-exact with provenance; export writes tril order with n, ct, mu; import
 * restores E[x x^T]; bad files fail with messages naming them; activation inputs
 * (.npy, safetensors, raw) give the same sums as add_rows.
 */
#include "check.h"

#include <unistd.h>

static char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmpdir(), name);
    return buf[k];
}

static qtip_hessian *make(int64_t n, size_t T, uint64_t seed, float **Xout)
{
    test_rng r = test_rng_seeded(seed);
    float *X = malloc(sizeof(float) * (size_t)n * T);
    for (size_t i = 0; i < (size_t)n * T; i++)
        X[i] = (float)(test_rng_normal(&r) + (i % (size_t)n == 2 ? 50.0 : 0.25));
    qtip_hessian *h = NULL;
    qtip_hessian_create(n, "layers.1.mlp.down_proj", &h);
    qtip_hessian_add_rows(h, QTIP_DT_F32, X, T);
    if (Xout) *Xout = X;
    else free(X);
    return h;
}

static int same_sums(qtip_hessian *a, qtip_hessian *b)
{
    qtip_hessian_flush(a);
    qtip_hessian_flush(b);
    int64_t n = qtip_hessian_dim(a);
    if (n != qtip_hessian_dim(b) || qtip_hessian_count(a) != qtip_hessian_count(b)) return 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(qtip_hessian_sum_xx(a) + i * n, qtip_hessian_sum_xx(b) + i * n, 8 * (size_t)(i + 1)))
            return 0;
    return !memcmp(qtip_hessian_sum_x(a), qtip_hessian_sum_x(b), 8 * (size_t)n);
}

TEST(save_load_bit_exact)
{
    qtip_hessian *h = make(37, 500, 11, NULL);
    CHECK_OK(qtip_hessian_add_input(h, "acts/part-0.npy", "xxh3-128:00112233445566778899aabbccddeeff"));
    const char *p = path_in("h.qh");
    CHECK_OK(qtip_hessian_save(h, p));
    qtip_hessian *g = NULL;
    CHECK_OK(qtip_hessian_load(p, &g));
    if (g) {
        CHECK(same_sums(h, g), "sums differ after save/load");
        CHECK(!strcmp(qtip_hessian_site(g), "layers.1.mlp.down_proj"), "site '%s'", qtip_hessian_site(g));
        CHECK(qtip_hessian_input_count(g) == 1 && !strcmp(qtip_hessian_input_name(g, 0), "acts/part-0.npy") &&
                  !strcmp(qtip_hessian_input_checksum(g, 0), "xxh3-128:00112233445566778899aabbccddeeff"),
              "inputs lost");
    }
    /* The documented layout, read independently through the safetensors reader. */
    qtip_st_file *f = NULL;
    CHECK_OK(qtip_st_open(p, &f));
    if (f) {
        const qtip_tensor_view *t = qtip_st_find(f, "sum_xxT_tril");
        CHECK(t && t->dtype == QTIP_DT_F64 && t->ndim == 1 && t->shape[0] == 37 * 38 / 2, "tril tensor");
        if (t) {
            double v;
            memcpy(&v, (const char *)t->data + 8 * (size_t)(5 * 6 / 2 + 2), 8); /* (5, 2) */
            CHECK(v == qtip_hessian_sum_xx(h)[5 * 37 + 2], "tril order: %g", v);
        }
        CHECK(qtip_st_metadata(f, "n") && !strcmp(qtip_st_metadata(f, "n"), "37"), "metadata n");
        CHECK(qtip_st_metadata(f, "count") && !strcmp(qtip_st_metadata(f, "count"), "500"), "metadata count");
        CHECK(qtip_st_metadata(f, "format_version") && !strcmp(qtip_st_metadata(f, "format_version"), "1"), "version");
        qtip_st_close(f);
    }
    qtip_hessian_free(g);
    qtip_hessian_free(h);
}

TEST(export_flat_layout_and_import)
{
    /* Two rows (1,2,3) and (3,2,1): E = [[5,4,3],[4,4,4],[3,4,5]], mu = (2,2,2). */
    float X[6] = {1, 2, 3, 3, 2, 1};
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(3, "s", &h));
    CHECK_OK(qtip_hessian_add_rows(h, QTIP_DT_F32, X, 2));
    const char *p = path_in("flat.st");
    qtip_hessian_export_opts o = {QTIP_HESSIAN_FLAT, 0, QTIP_DT_F32};
    CHECK_OK(qtip_hessian_export(h, p, &o));
    qtip_st_file *f = NULL;
    CHECK_OK(qtip_st_open(p, &f));
    if (f) {
        const qtip_tensor_view *t = qtip_st_find(f, "flatH");
        float want[6] = {5, 4, 4, 3, 4, 5}, got[6] = {0};
        CHECK(t && t->dtype == QTIP_DT_F32 && t->nbytes == 24, "flatH");
        if (t) memcpy(got, t->data, 24);
        CHECK(!memcmp(got, want, 24), "flatH = %g %g %g %g %g %g", got[0], got[1], got[2], got[3], got[4], got[5]);
        CHECK(!qtip_st_find(f, "mu"), "mu in an uncentred export");
        qtip_st_close(f);
    }
    o.centered = 1;
    const char *pc = path_in("flatc.st");
    CHECK_OK(qtip_hessian_export(h, pc, &o));
    CHECK_OK(qtip_st_open(pc, &f));
    if (f) {
        const qtip_tensor_view *t = qtip_st_find(f, "flatH"), *mu = qtip_st_find(f, "mu");
        float want[6] = {1, 0, 0, -1, 0, 1}, got[6] = {0}, m[3] = {0};
        if (t) memcpy(got, t->data, 24);
        if (mu) memcpy(m, mu->data, 12);
        CHECK(!memcmp(got, want, 24), "centred flatH = %g %g %g %g %g %g", got[0], got[1], got[2], got[3], got[4], got[5]);
        CHECK(m[0] == 2 && m[1] == 2 && m[2] == 2, "mu");
        qtip_st_close(f);
    }
    qtip_hessian *g = NULL;
    CHECK_OK(qtip_hessian_import_ex(pc, "s", QTIP_HESSIAN_CENTERING_AUTO, &g));
    if (g) CHECK(same_sums(h, g), "centred import differs");
    qtip_hessian_free(g);
    g = NULL;
    CHECK_OK(qtip_hessian_import_ex(p, NULL, QTIP_HESSIAN_CENTERING_AUTO, &g));
    if (g) {
        double E[9];
        CHECK_OK(qtip_hessian_expectation(g, E, NULL));
        CHECK(E[2] == 3 && E[6] == 3 && E[4] == 4 && !qtip_hessian_has_mean(g), "import without mu");
        o.centered = 1;
        CHECK_STATUS(qtip_hessian_export(g, path_in("x.st"), &o), QTIP_E_PARAM);
    }
    qtip_hessian_free(g);
    qtip_hessian_free(h);
}

/* A reference-layout file: flatH of C = [[2, 1], [1, 3]], ct 10, mu = (1, 2),
 * metadata "centered" = meta (NULL: none). */
static const char *write_ref(const char *name, const char *meta, int with_mu)
{
    double flat[3] = {2, 1, 3}, mu[2] = {1, 2};
    int64_t n = 2, ct = 10, s3[1] = {3}, s2[1] = {2};
    qtip_st_writer *w = NULL;
    const char *p = path_in(name);
    CHECK_OK(qtip_st_writer_create(&w));
    CHECK_OK(qtip_st_writer_add_ref(w, "n", QTIP_DT_I64, 0, NULL, &n));
    CHECK_OK(qtip_st_writer_add_ref(w, "ct", QTIP_DT_I64, 0, NULL, &ct));
    CHECK_OK(qtip_st_writer_add_ref(w, "flatH", QTIP_DT_F64, 1, s3, flat));
    if (with_mu) CHECK_OK(qtip_st_writer_add_ref(w, "mu", QTIP_DT_F64, 1, s2, mu));
    if (meta) CHECK_OK(qtip_st_writer_set_metadata(w, "centered", meta));
    CHECK_OK(qtip_st_writer_write(w, p, 0));
    qtip_st_writer_free(w);
    return p;
}

/* E[x x^T] of an import, row-major 2 x 2, or NaNs when it fails. */
static void imported_E(const char *p, qtip_hessian_centering c, double E[4], const char **applied)
{
    qtip_hessian *h = NULL;
    for (int i = 0; i < 4; i++) E[i] = NAN;
    *applied = "";
    if (qtip_hessian_import_ex(p, NULL, c, &h) != QTIP_OK) return;
    CHECK_OK(qtip_hessian_expectation(h, E, NULL));
    static char got[16];
    snprintf(got, sizeof got, "%s", qtip_hessian_import_centering(h));
    *applied = got;
    qtip_hessian_free(h);
}

/* Analytic: centred means E = C + mu mu^T = [[3, 3], [3, 7]]; uncentred E = C. */
TEST(import_centering_conventions)
{
    const char *plain = write_ref("plain.st", NULL, 1), *said = write_ref("said.st", "false", 1);
    const char *nomu = write_ref("nomu.st", NULL, 0), *applied;
    double E[4];
    imported_E(plain, QTIP_HESSIAN_CENTERED, E, &applied);
    CHECK(E[0] == 3 && E[1] == 3 && E[2] == 3 && E[3] == 7 && !strcmp(applied, "centered"),
          "centred: %g %g %g %g (%s)", E[0], E[1], E[2], E[3], applied);
    imported_E(plain, QTIP_HESSIAN_UNCENTERED, E, &applied);
    CHECK(E[0] == 2 && E[1] == 1 && E[3] == 3 && !strcmp(applied, "uncentered"), "uncentred: %g %g %g", E[0], E[1], E[3]);
    imported_E(plain, QTIP_HESSIAN_CENTERING_AUTO, E, &applied);
    CHECK(E[3] == 7 && !strcmp(applied, "centered"), "default: %g (%s)", E[3], applied);
    imported_E(said, QTIP_HESSIAN_CENTERING_AUTO, E, &applied);
    CHECK(E[3] == 3 && !strcmp(applied, "uncentered"), "metadata false: %g (%s)", E[3], applied);
    qtip_hessian *h = NULL;
    CHECK_STATUS(qtip_hessian_import_ex(said, NULL, QTIP_HESSIAN_CENTERED, &h), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "said.st"), "message: %s", qtip_last_error());
    CHECK_STATUS(qtip_hessian_import_ex(nomu, NULL, QTIP_HESSIAN_CENTERED, &h), QTIP_E_FORMAT);
    imported_E(nomu, QTIP_HESSIAN_CENTERING_AUTO, E, &applied);
    CHECK(E[3] == 3 && !strcmp(applied, "uncentered"), "no mu: %g (%s)", E[3], applied);
    /* the convention survives save and load */
    CHECK_OK(qtip_hessian_import_ex(plain, NULL, QTIP_HESSIAN_UNCENTERED, &h));
    const char *saved = path_in("imported.qh");
    if (h) CHECK_OK(qtip_hessian_save(h, saved));
    qtip_hessian_free(h);
    h = NULL;
    CHECK_OK(qtip_hessian_open_any(saved, QTIP_HESSIAN_CENTERING_AUTO, &h));
    CHECK(h && !strcmp(qtip_hessian_import_centering(h), "uncentered"), "not recorded");
    qtip_hessian_free(h);
    h = NULL;
    CHECK_STATUS(qtip_hessian_open_any(saved, QTIP_HESSIAN_CENTERED, &h), QTIP_E_PARAM);
}

TEST(nonfinite_refused_at_the_first_entry)
{
    qtip_hessian *h;
    CHECK_OK(qtip_hessian_create(3, NULL, &h));
    double L[6] = {1, 0, 1, 0, INFINITY, NAN}, sx[3] = {0, 0, 0};
    CHECK_OK(qtip_hessian_set_sums(h, L, sx, 4));
    CHECK_STATUS(qtip_hessian_check_finite(h, "f.qh"), QTIP_E_NONFINITE);
    CHECK(strstr(qtip_last_error(), "'f.qh'") && strstr(qtip_last_error(), "(2, 1)"),
          "message: %s", qtip_last_error());
    qtip_hessian_export_opts o = {QTIP_HESSIAN_FLAT, 0, QTIP_DT_F32};
    CHECK_STATUS(qtip_hessian_export(h, path_in("nf.st"), &o), QTIP_E_NONFINITE);
    CHECK(access(path_in("nf.st"), F_OK) != 0, "export wrote a file");
    L[4] = 2;
    L[5] = 3;
    CHECK_OK(qtip_hessian_set_sums(h, L, sx, 4));
    CHECK_OK(qtip_hessian_check_finite(h, "f.qh"));
    qtip_hessian_free(h);
}

TEST(bad_files)
{
    qtip_hessian *g = NULL;
    CHECK_STATUS(qtip_hessian_load(path_in("absent.qh"), &g), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "absent.qh"), "%s", qtip_last_error());
    /* a valid safetensors that is not a Hessian file */
    qtip_hessian *h = make(4, 10, 3, NULL);
    qtip_hessian_export_opts o = {QTIP_HESSIAN_FLAT, 0, QTIP_DT_F32};
    const char *p = path_in("ref.st");
    CHECK_OK(qtip_hessian_export(h, p, &o));
    CHECK_STATUS(qtip_hessian_load(p, &g), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "ref.st") && strstr(qtip_last_error(), "import"), "%s", qtip_last_error());
    /* truncated Hessian file */
    const char *q = path_in("t.qh");
    CHECK_OK(qtip_hessian_save(h, q));
    FILE *fp = fopen(q, "r+b");
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long len = ftell(fp);
        fclose(fp);
        CHECK(truncate(q, len - 8) == 0, "truncate");
    }
    CHECK(qtip_hessian_load(q, &g) != QTIP_OK && g == NULL, "truncated file loaded");
    CHECK(strstr(qtip_last_error(), "t.qh"), "%s", qtip_last_error());
    qtip_hessian_free(h);
}

TEST(activation_files)
{
    float *X = NULL;
    qtip_hessian *want = make(16, 300, 5, &X);
    /* npy, 3-D (..., n) */
    int64_t shape[3] = {3, 100, 16};
    const char *pn = path_in("acts.npy");
    CHECK_OK(qtip_npy_write(pn, QTIP_DT_F32, 3, shape, X));
    qtip_hessian *h = NULL;
    qtip_hessian_source src = {NULL, 0, QTIP_DT_F32, QTIP_NONFINITE_ERROR};
    CHECK_OK(qtip_hessian_add_file(&h, "layers.1.mlp.down_proj", pn, &src));
    if (h) CHECK(same_sums(h, want), "npy input differs from add_rows");
    CHECK(h && qtip_hessian_input_count(h) == 1 && !strncmp(qtip_hessian_input_checksum(h, 0), "xxh3-128:", 9),
          "checksum not recorded");
    qtip_hessian_free(h);
    /* safetensors, tensor by name, next to another tensor */
    const char *ps = path_in("acts.safetensors");
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_writer_create(&w));
    int64_t s1[1] = {5}, s2[2] = {300, 16};
    double junk[5] = {1, 2, 3, 4, 5};
    CHECK_OK(qtip_st_writer_add(w, "junk", QTIP_DT_F64, 1, s1, junk));
    CHECK_OK(qtip_st_writer_add(w, "x", QTIP_DT_F32, 2, s2, X));
    CHECK_OK(qtip_st_writer_write(w, ps, 0));
    qtip_st_writer_free(w);
    h = NULL;
    CHECK_STATUS(qtip_hessian_add_file(&h, NULL, ps, &src), QTIP_E_PARAM); /* two tensors, none chosen */
    qtip_hessian_free(h);
    h = NULL;
    src.tensor = "x";
    CHECK_OK(qtip_hessian_add_file(&h, "layers.1.mlp.down_proj", ps, &src));
    if (h) CHECK(same_sums(h, want), "safetensors input differs from add_rows");
    /* a second file with another n names both files */
    src.tensor = NULL;
    src.raw_dim = 15;
    CHECK_STATUS(qtip_hessian_add_file(&h, NULL, pn, &src), QTIP_E_SHAPE);
    CHECK(strstr(qtip_last_error(), "acts.npy") && strstr(qtip_last_error(), "acts.safetensors"), "%s",
          qtip_last_error());
    qtip_hessian_free(h);
    qtip_hessian_free(want);
    free(X);
}

/* Write a .npy v1.0 by hand: `dict` as given, padded as numpy pads, then `dlen`
 * bytes of data (zeros, or 1.0f when the dtype is f4 and dlen is a multiple of 4). */
static void write_npy_raw(const char *path, const char *dict, size_t dlen, size_t cut)
{
    size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64, hlen = total - 10;
    unsigned char *b = calloc(1, total + dlen);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hlen & 255);
    b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + 10, dict, dl);
    memset(b + 10 + dl, ' ', hlen - dl - 1);
    b[total - 1] = '\n';
    for (size_t i = 0; i + 4 <= dlen; i += 4) memcpy(b + total + i, &(float){1.0f}, 4);
    test_write_file(path, b, cut ? cut : total + dlen);
    free(b);
}

/* A safetensors file with one tensor "x" whose header JSON is `json`, then `dlen` bytes. */
static void write_st_raw(const char *path, const char *json, size_t dlen)
{
    size_t jl = strlen(json);
    unsigned char *b = calloc(1, 8 + jl + dlen);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(b + 8, json, jl);
    test_write_file(path, b, 8 + jl + dlen);
    free(b);
}

static void expect_refused(const char *path, const qtip_hessian_source *src, qtip_status want,
                           const char *needle)
{
    qtip_hessian *h = NULL;
    qtip_status s = qtip_hessian_add_file(&h, "site", path, src);
    const char *base = strrchr(path, '/') + 1;
    CHECK(s == want, "%s: got %s, want %s: %s", needle, qtip_status_name(s), qtip_status_name(want),
          qtip_last_error());
    CHECK(strstr(qtip_last_error(), base) && strstr(qtip_last_error(), needle),
          "message lacks '%s' or '%s': %s", base, needle, qtip_last_error());
    qtip_hessian_free(h);
}

/* The activation reader goes through the library's .npy and safetensors readers:
 * each defect below was accepted (or was undefined behaviour) with its own parser. */
TEST(activation_hostile)
{
    const char *p = path_in("bad.npy");
    const qtip_hessian_source src = {NULL, 0, QTIP_DT_F32, QTIP_NONFINITE_ERROR};
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }";
    /* cut inside the header: no key after the cut (strchr(NULL) before) */
    for (size_t cut = 11; cut < 60; cut += 7) {
        write_npy_raw(p, good, 32, cut);
        expect_refused(p, &src, QTIP_E_FORMAT, "truncated");
    }
    /* a header without 'shape' */
    write_npy_raw(p, "{'descr': '<f4', 'fortran_order': False, }", 32, 0);
    expect_refused(p, &src, QTIP_E_FORMAT, "lacks 'shape'");
    /* more data than the shape: refused with the byte counts */
    write_npy_raw(p, good, 36, 0);
    expect_refused(p, &src, QTIP_E_FORMAT, "data beyond the shape: the shape holds 8 elements (32 bytes)");
    /* a shape whose product wraps around 2^64 */
    write_npy_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }",
                  32, 0);
    expect_refused(p, &src, QTIP_E_FORMAT, "overflows");
    /* 0 rows */
    write_npy_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", 0, 0);
    expect_refused(p, &src, QTIP_E_FORMAT, "no activation rows");
    /* double-quoted keys, as docs/formats/npy.md promises: accepted, 2 rows of ones */
    write_npy_raw(p, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 4), }", 32, 0);
    qtip_hessian *h = NULL;
    CHECK_OK(qtip_hessian_add_file(&h, "site", p, &src));
    CHECK(h && qtip_hessian_count(h) == 2 && qtip_hessian_dim(h) == 4, "double quotes: 2 rows of 4");
    if (h) {
        qtip_hessian_flush(h);
        CHECK(qtip_hessian_sum_xx(h)[5] == 2.0, "sum of x1*x1 over two rows of ones: %g",
              qtip_hessian_sum_xx(h)[5]);
    }
    qtip_hessian_free(h);
    /* safetensors shapes of floats or negatives */
    const char *q = path_in("bad.safetensors");
    write_st_raw(q, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0,4],\"data_offsets\":[0,32]}}", 32);
    expect_refused(q, &src, QTIP_E_FORMAT, "non-negative integers");
    write_st_raw(q, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2,-4],\"data_offsets\":[0,32]}}", 32);
    expect_refused(q, &src, QTIP_E_FORMAT, "non-negative integers");
    write_st_raw(q, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]}}", 16);
    expect_refused(q, &src, QTIP_E_FORMAT, "truncated");
    /* raw input that ends before any data: an error, not an empty accumulator */
    const char *r = path_in("empty.raw");
    test_write_file(r, "", 0);
    const qtip_hessian_source raw = {NULL, 4, QTIP_DT_F32, QTIP_NONFINITE_ERROR};
    expect_refused(r, &raw, QTIP_E_FORMAT, "ended before any data");
}

/* Rewrite a saved Hessian file with one metadata value replaced (or removed: NULL). */
static void set_meta(const char *src, const char *dst, const char *key, const char *value)
{
    qtip_st_file *f = NULL;
    CHECK_OK(qtip_st_open(src, &f));
    if (!f) return;
    qtip_st_writer *w = NULL;
    CHECK_OK(qtip_st_writer_create(&w));
    static const char *const keys[] = {"format", "format_version", "tool", "site", "n", "count",
                                       "skipped", "has_mean", "layout", "inputs"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = strcmp(keys[i], key) ? qtip_st_metadata(f, keys[i]) : value;
        if (v) CHECK_OK(qtip_st_writer_set_metadata(w, keys[i], v));
    }
    for (size_t i = 0; i < qtip_st_count(f); i++) {
        const qtip_tensor_view *t = qtip_st_tensor(f, i);
        CHECK_OK(qtip_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data));
    }
    CHECK_OK(qtip_st_writer_write(w, dst, 0));
    qtip_st_writer_free(w);
    qtip_st_close(f);
}

/* Each defect of a qtip Hessian file is named by load, and by open_any (what
 * qtip-quantize and qtip-hessian info use), instead of "has neither 'flatH' nor 'H'". */
TEST(hessian_defects_named)
{
    qtip_hessian *h = make(6, 40, 9, NULL);
    const char *good = path_in("good.qh"), *bad = path_in("bad.qh");
    CHECK_OK(qtip_hessian_save(h, good));
    qtip_hessian_free(h);
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"n", "7", "tensor 'sum_x' is F64 with 6 elements in 1 dimensions, expected F64 with 7 (metadata 'n' is 7)"},
        {"n", "-3", "metadata 'n' is '-3', expected an integer in 1..2147483648"},
        {"n", "six", "metadata 'n' is 'six'"},
        {"n", NULL, "metadata 'n' is missing"},
        {"count", "41", "tensor 'count' is 40, but metadata 'count' is 41"},
        {"count", "x", "metadata 'count' is 'x'"},
        {"skipped", "-1", "metadata 'skipped' is '-1'"},
        {"has_mean", "maybe", "metadata 'has_mean' is 'maybe'"},
        {"format_version", "99", "metadata 'format_version' is 99"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qtip_io_forget_inputs();
        set_meta(good, bad, cases[i].key, cases[i].value);
        for (int import = 0; import < 2; import++) {
            qtip_hessian *g = NULL;
            qtip_status s = import ? qtip_hessian_open_any(bad, QTIP_HESSIAN_CENTERING_AUTO, &g)
                                   : qtip_hessian_load(bad, &g);
            CHECK(s != QTIP_OK && g == NULL, "case %zu (%s): accepted", i, import ? "open_any" : "load");
            CHECK(strstr(qtip_last_error(), "bad.qh") && strstr(qtip_last_error(), cases[i].needle),
                  "case %zu (%s): message lacks '%s': %s", i, import ? "open_any" : "load",
                  cases[i].needle, qtip_last_error());
            qtip_hessian_free(g);
        }
    }
}

int main(void)
{
    RUN(save_load_bit_exact);
    RUN(export_flat_layout_and_import);
    RUN(import_centering_conventions);
    RUN(nonfinite_refused_at_the_first_entry);
    RUN(bad_files);
    RUN(activation_files);
    RUN(activation_hostile);
    RUN(hessian_defects_named);
    return check_summary();
}
