/*
 * hessian_input.c — activation files into an accumulator, streaming: .npy,
 * safetensors (one tensor) or raw rows, any of them zstd-compressed, from a file
 * or stdin. One sequential reader per input, so a pipe works like a file: the
 * format is recognised from the first bytes, the headers are parsed here from the
 * stream, and the data are read a block of rows at a time.
 */
#include "hessian/hessian_internal.h"

#include <inttypes.h>
#include <string.h>

#define ST_HEADER_MAX ((uint64_t)100 << 20)

typedef struct {
    int64_t n;      /* last dimension */
    uint64_t rows;  /* product of the leading dimensions; UINT64_MAX: until EOF (raw) */
    qtip_dtype dt;
} act_layout;

static qtip_status skip_bytes(qtip_reader *r, uint64_t len)
{
    char buf[65536];
    while (len) {
        size_t k = len < sizeof buf ? (size_t)len : sizeof buf;
        QTIP_FORWARD_IF_ERROR(qtip_reader_read_exact(r, buf, k));
        len -= k;
    }
    return QTIP_OK;
}

static qtip_status shape_to_layout(const char *name, const int64_t *shape, int ndim, act_layout *L)
{
    QTIP_RETURN_ERROR_IF(ndim < 1, QTIP_E_SHAPE,
                         "'%s': activations must have shape (..., n), found a scalar", name);
    L->n = shape[ndim - 1];
    QTIP_RETURN_ERROR_IF(L->n <= 0, QTIP_E_SHAPE, "'%s': last dimension is %lld, expected > 0",
                         name, (long long)L->n);
    L->rows = 1;
    for (int d = 0; d < ndim - 1; d++) L->rows *= (uint64_t)shape[d];
    return QTIP_OK;
}

/* After the 8 bytes of magic and version: the npy header dict. */
static qtip_status parse_npy(qtip_reader *r, const char *name, const unsigned char *head, act_layout *L)
{
    int major = head[6];
    unsigned char lb[4] = {0, 0, 0, 0};
    QTIP_RETURN_ERROR_IF(major < 1 || major > 3, QTIP_E_FORMAT,
                         "'%s': npy version %d, expected 1 to 3", name, major);
    QTIP_FORWARD_IF_ERROR(qtip_reader_read_exact(r, lb, major == 1 ? 2 : 4));
    uint32_t hl = (uint32_t)lb[0] | (uint32_t)lb[1] << 8 | (uint32_t)lb[2] << 16 | (uint32_t)lb[3] << 24;
    QTIP_RETURN_ERROR_IF(hl > (1u << 24), QTIP_E_FORMAT, "'%s': npy header of %u bytes", name, hl);
    char *txt = qtip_alloc(hl + 1, 1, "an npy header");
    if (!txt) return QTIP_E_NOMEM;
    qtip_status s = qtip_reader_read_exact(r, txt, hl);
    txt[hl] = 0;
    const char *d = strstr(txt, "'descr'"), *fo = strstr(txt, "'fortran_order'"), *sh = strstr(txt, "'shape'");
    if (s == QTIP_OK && (!d || !fo || !sh))
        s = qtip_error(QTIP_E_FORMAT, "'%s': npy header lacks descr, fortran_order or shape", name);
    if (s == QTIP_OK) {
        const char *q = strchr(d + 7, '\'');
        char descr[16] = "";
        if (q) sscanf(q + 1, "%15[^']", descr);
        if (!strcmp(descr, "<f4") || !strcmp(descr, "=f4")) L->dt = QTIP_DT_F32;
        else if (!strcmp(descr, "<f2") || !strcmp(descr, "=f2")) L->dt = QTIP_DT_F16;
        else if (!strcmp(descr, "<f8") || !strcmp(descr, "=f8")) L->dt = QTIP_DT_F64;
        else
            s = qtip_error(QTIP_E_UNSUPPORTED, "'%s': npy dtype '%s', expected <f4, <f2 or <f8", name, descr);
    }
    const char *comma = strchr(fo, ','), *yes = strstr(fo, "True");
    if (s == QTIP_OK && yes && (!comma || yes < comma))
        s = qtip_error(QTIP_E_UNSUPPORTED, "'%s': fortran_order arrays are not supported", name);
    if (s == QTIP_OK) {
        const char *p = strchr(sh, '(');
        int64_t shape[QTIP_MAX_DIMS];
        int nd = 0;
        while (p && *p && *p != ')') {
            p++;
            while (*p == ' ') p++;
            if (*p == ')') break;
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || nd == QTIP_MAX_DIMS || v < 0) {
                s = qtip_error(QTIP_E_FORMAT, "'%s': bad npy shape", name);
                break;
            }
            shape[nd++] = v;
            p = end;
            while (*p == ' ') p++;
            if (*p != ',' && *p != ')') {
                s = qtip_error(QTIP_E_FORMAT, "'%s': bad npy shape", name);
                break;
            }
        }
        if (s == QTIP_OK && !p) s = qtip_error(QTIP_E_FORMAT, "'%s': bad npy shape", name);
        if (s == QTIP_OK) s = shape_to_layout(name, shape, nd, L);
    }
    free(txt);
    return s;
}

static qtip_status parse_st(qtip_reader *r, const char *name, const unsigned char *head,
                            const char *want, act_layout *L)
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | head[i];
    QTIP_RETURN_ERROR_IF(hl < 2 || hl > ST_HEADER_MAX, QTIP_E_FORMAT,
                         "'%s': not a .npy or safetensors file (header length %" PRIu64
                         "); raw input needs --dim and --dtype",
                         name, hl);
    char *txt = qtip_alloc((size_t)hl + 1, 1, "a safetensors header");
    if (!txt) return QTIP_E_NOMEM;
    qtip_status s = qtip_reader_read_exact(r, txt, (size_t)hl);
    txt[hl] = 0;
    json_error_t jerr;
    json_t *root = s == QTIP_OK ? json_loads(txt, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
    free(txt);
    if (s != QTIP_OK) return s;
    QTIP_RETURN_ERROR_IF(!json_is_object(root), QTIP_E_FORMAT,
                         "'%s': not a .npy or safetensors file (header is not a JSON object); "
                         "raw input needs --dim and --dtype", name);
    json_t *t = NULL;
    const char *key, *tname = want;
    json_t *v;
    size_t ntensors = 0;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        ntensors++;
        if (want ? !strcmp(key, want) : ntensors == 1) {
            t = v;
            tname = key;
        }
    }
    if (!want && ntensors != 1) {
        json_decref(root);
        return qtip_error(QTIP_E_PARAM, "'%s' holds %zu tensors: choose one with --tensor", name, ntensors);
    }
    if (!t) {
        json_decref(root);
        return qtip_error(QTIP_E_NOT_FOUND, "'%s': no tensor '%s'", name, want);
    }
    const char *dts = json_string_value(json_object_get(t, "dtype"));
    json_t *shape = json_object_get(t, "shape"), *offs = json_object_get(t, "data_offsets");
    int64_t sh[QTIP_MAX_DIMS];
    int nd = (int)json_array_size(shape);
    s = QTIP_OK;
    if (!dts || !json_is_array(shape) || nd > QTIP_MAX_DIMS || json_array_size(offs) != 2)
        s = qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' has a malformed header entry", name, tname);
    int dti = dts ? qtip_dtype_from_name(dts) : -1;
    if (s == QTIP_OK && dti != QTIP_DT_F32 && dti != QTIP_DT_F16 && dti != QTIP_DT_BF16 && dti != QTIP_DT_F64)
        s = qtip_error(QTIP_E_UNSUPPORTED, "'%s': tensor '%s' has dtype %s, expected F32, F16, BF16 or F64",
                       name, tname, dts);
    for (int d = 0; s == QTIP_OK && d < nd; d++) sh[d] = json_integer_value(json_array_get(shape, d));
    if (s == QTIP_OK) {
        L->dt = (qtip_dtype)dti;
        s = shape_to_layout(name, sh, nd, L);
    }
    uint64_t b = 0, e = 0;
    if (s == QTIP_OK) {
        b = (uint64_t)json_integer_value(json_array_get(offs, 0));
        e = (uint64_t)json_integer_value(json_array_get(offs, 1));
        if (e < b || e - b != L->rows * (uint64_t)L->n * qtip_dtype_size(L->dt))
            s = qtip_error(QTIP_E_FORMAT, "'%s': tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64
                           "] that disagree with its shape", name, tname, b, e);
    }
    json_decref(root);
    if (s == QTIP_OK) s = skip_bytes(r, b);
    return s;
}

static qtip_status add_stream(qtip_hessian **hp, const char *site, const char *path,
                              const qtip_hessian_source *src, qtip_reader *r)
{
    const char *name = qtip_reader_name(r);
    act_layout L = {0, UINT64_MAX, QTIP_DT_F32};
    if (src && src->raw_dim > 0) {
        L.n = src->raw_dim;
        L.dt = src->raw_dtype;
        QTIP_RETURN_ERROR_IF(L.dt != QTIP_DT_F32 && L.dt != QTIP_DT_F16 && L.dt != QTIP_DT_BF16 &&
                                 L.dt != QTIP_DT_F64,
                             QTIP_E_UNSUPPORTED, "raw dtype %s, expected f32, f16, bf16 or f64",
                             qtip_dtype_name(L.dt));
    } else {
        unsigned char head[8];
        size_t got = 0, k;
        do {
            QTIP_FORWARD_IF_ERROR(qtip_reader_read(r, head + got, 8 - got, &k));
            got += k;
        } while (k && got < 8);
        QTIP_RETURN_ERROR_IF(got < 8, QTIP_E_FORMAT,
                             "'%s': only %zu bytes, not a .npy or safetensors file; raw input "
                             "needs --dim and --dtype", name, got);
        if (!memcmp(head, "\x93NUMPY", 6)) QTIP_FORWARD_IF_ERROR(parse_npy(r, name, head, &L));
        else QTIP_FORWARD_IF_ERROR(parse_st(r, name, head, src ? src->tensor : NULL, &L));
    }
    qtip_hessian *h = *hp;
    if (!h) {
        QTIP_FORWARD_IF_ERROR(qtip_hessian_create(L.n, site, &h));
        if (hessian_default_device()) {
            qtip_status ds = qtip_hessian_set_device(h, hessian_default_device());
            if (ds) {
                qtip_hessian_free(h);
                return ds;
            }
        }
        *hp = h;
    } else if (qtip_hessian_dim(h) != L.n) {
        const char *first = qtip_hessian_input_count(h) ? qtip_hessian_input_name(h, 0) : "the accumulator";
        return qtip_error(QTIP_E_SHAPE, "'%s' has dimension %lld, but '%s' has %lld", name,
                          (long long)L.n, first, (long long)qtip_hessian_dim(h));
    }
    QTIP_FORWARD_IF_ERROR(qtip_hessian_set_source(h, name));
    qtip_hessian_set_nonfinite(h, src ? src->nonfinite : QTIP_NONFINITE_ERROR);
    const size_t rowb = (size_t)L.n * qtip_dtype_size(L.dt);
    const size_t brows = qtip_hessian_block_rows(h);
    unsigned char *buf = qtip_alloc(brows, rowb, "an input block");
    if (!buf) return QTIP_E_NOMEM;
    qtip_status s = QTIP_OK;
    uint64_t done = 0;
    for (;;) {
        size_t want = brows;
        if (L.rows != UINT64_MAX && L.rows - done < want) want = (size_t)(L.rows - done);
        if (want == 0) break;
        size_t have = 0, k = 1;
        while (have < want * rowb && k) {
            s = qtip_reader_read(r, buf + have, want * rowb - have, &k);
            if (s != QTIP_OK) break;
            have += k;
        }
        if (s != QTIP_OK) break;
        if (L.rows != UINT64_MAX && have < want * rowb) {
            s = qtip_error(QTIP_E_FORMAT, "'%s': truncated: %" PRIu64 " whole rows, header says %" PRIu64,
                           name, done + have / rowb, L.rows);
            break;
        }
        if (have % rowb) {
            s = qtip_error(QTIP_E_FORMAT, "'%s': ends inside row %" PRIu64 " (%zu trailing bytes, "
                           "a row is %zu bytes)", name, done + have / rowb, have % rowb, rowb);
            break;
        }
        s = qtip_hessian_add_rows(h, L.dt, buf, have / rowb);
        if (s != QTIP_OK) break;
        done += have / rowb;
        qtip_progress("rows", done, L.rows == UINT64_MAX ? 0 : L.rows);
        if (have < want * rowb) break; /* raw: end of input */
    }
    free(buf);
    QTIP_FORWARD_IF_ERROR(s);
    char sum[QTIP_CHECKSUM_STRLEN];
    if (strcmp(path, "-")) QTIP_FORWARD_IF_ERROR(qtip_checksum_file(path, sum));
    else snprintf(sum, sizeof sum, "stream:%016" PRIx64, qtip_reader_checksum(r));
    return qtip_hessian_add_input(h, path, sum);
}

qtip_status qtip_hessian_add_file(qtip_hessian **hp, const char *site, const char *path,
                                  const qtip_hessian_source *src)
{
    qtip_reader *r = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_reader_open(path, &r));
    qtip_status s = add_stream(hp, site, path, src, r);
    qtip_reader_free(r);
    return s;
}
