/*
 * npy.c — .npy files: a streaming reader (file, stdin or zstd, through qtip_reader)
 * and a small writer.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 for 1.x, u32 for 2.x/3.x),
 * then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)},
 * then the elements. The dict is parsed by hand, accepting exactly what numpy
 * writes (and what it reads back); rules in docs/formats/npy.md.
 */
#include "io/io_internal.h"

#include <string.h>

/* numpy itself refuses headers over 10000 bytes unless told otherwise; allow more
 * (very high-dimensional shapes) but keep memory bounded. */
#define NPY_MAX_HEADER (1u << 20)

struct qtip_npy_reader {
    qtip_reader *in;
    int owns_in;     /* opened by qtip_npy_open, rather than lent (npy_open_stream) */
    int tail_checked; /* the end of the data was confirmed */
    qtip_dtype dtype;
    size_t esize;
    int ndim;
    int64_t shape[QTIP_MAX_DIMS];
    uint64_t count, done;
};

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes (numpy never writes any). */
static int parse_str(cursor *c, char *out, size_t size)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= size) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = 0;
    return 1;
}

static int parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* Parse "descr" into a dtype. Returns QTIP_OK or an error naming `name`. */
static qtip_status parse_descr(const char *d, const char *name, qtip_dtype *dt)
{
    char order = d[0];
    QTIP_RETURN_ERROR_IF(order != '<' && order != '>' && order != '|' && order != '=',
                         QTIP_E_UNSUPPORTED, "cannot read '%s': unsupported dtype '%s'", name, d);
    char kind = d[1];
    const char *num = d + 2;
    int size = 0;
    for (; *num; num++) {
        QTIP_RETURN_ERROR_IF(*num < '0' || *num > '9' || size > 1000, QTIP_E_UNSUPPORTED,
                             "cannot read '%s': unsupported dtype '%s'", name, d);
        size = size * 10 + (*num - '0');
    }
    int found = -1;
    switch (kind) {
    case 'f': found = size == 2 ? QTIP_DT_F16 : size == 4 ? QTIP_DT_F32 : size == 8 ? QTIP_DT_F64 : -1; break;
    case 'i': found = size == 1 ? QTIP_DT_I8 : size == 2 ? QTIP_DT_I16 : size == 4 ? QTIP_DT_I32 : size == 8 ? QTIP_DT_I64 : -1; break;
    case 'u': found = size == 1 ? QTIP_DT_U8 : size == 2 ? QTIP_DT_U16 : size == 4 ? QTIP_DT_U32 : size == 8 ? QTIP_DT_U64 : -1; break;
    case 'b': found = size == 1 ? QTIP_DT_BOOL : -1; break;
    default: break;
    }
    QTIP_RETURN_ERROR_IF(found < 0, QTIP_E_UNSUPPORTED,
                         "cannot read '%s': unsupported dtype '%s' (expected f2/f4/f8, i1-i8, "
                         "u1-u8 or b1)", name, d);
    QTIP_RETURN_ERROR_IF(order == '>' && size > 1, QTIP_E_UNSUPPORTED,
                         "cannot read '%s': dtype '%s' is big-endian; convert it with "
                         "a.astype(a.dtype.newbyteorder('<'))", name, d);
    *dt = (qtip_dtype)found;
    return QTIP_OK;
}

static qtip_status parse_header(qtip_npy_reader *r, const char *h, size_t len, const char *name)
{
    cursor c = {h, h + len};
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    char descr[64] = {0};
    QTIP_RETURN_ERROR_IF(!eat(&c, '{'), QTIP_E_FORMAT,
                         "cannot read '%s': header is not a Python dict", name);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        QTIP_RETURN_ERROR_IF(!parse_str(&c, key, sizeof key) || !eat(&c, ':'), QTIP_E_FORMAT,
                             "cannot read '%s': malformed header dict", name);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            skip_ws(&c);
            QTIP_RETURN_ERROR_IF(c.p < c.end && *c.p == '[', QTIP_E_UNSUPPORTED,
                                 "cannot read '%s': structured dtypes are not supported", name);
            QTIP_RETURN_ERROR_IF(!parse_str(&c, descr, sizeof descr) || strlen(descr) < 3,
                                 QTIP_E_FORMAT, "cannot read '%s': malformed 'descr'", name);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(&c, "True")) fortran = 1;
            else QTIP_RETURN_ERROR_IF(!parse_word(&c, "False"), QTIP_E_FORMAT,
                                      "cannot read '%s': 'fortran_order' is not True or False", name);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            QTIP_RETURN_ERROR_IF(!eat(&c, '('), QTIP_E_FORMAT,
                                 "cannot read '%s': 'shape' is not a tuple", name);
            r->ndim = 0;
            for (;;) {
                if (eat(&c, ')')) break;
                skip_ws(&c);
                QTIP_RETURN_ERROR_IF(c.p >= c.end || *c.p < '0' || *c.p > '9', QTIP_E_FORMAT,
                                     "cannot read '%s': 'shape' holds something other than "
                                     "non-negative integers", name);
                uint64_t v = 0;
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
                    QTIP_RETURN_ERROR_IF(v > (UINT64_MAX / 2 - 9) / 10, QTIP_E_FORMAT,
                                         "cannot read '%s': dimension too large", name);
                    v = v * 10 + (uint64_t)(*c.p++ - '0');
                }
                if (c.p < c.end && *c.p == 'L') c.p++; /* Python 2 longs */
                QTIP_RETURN_ERROR_IF(r->ndim >= QTIP_MAX_DIMS, QTIP_E_UNSUPPORTED,
                                     "cannot read '%s': more than %d dimensions", name,
                                     QTIP_MAX_DIMS);
                r->shape[r->ndim++] = (int64_t)v;
                if (eat(&c, ')')) break;
                QTIP_RETURN_ERROR_IF(!eat(&c, ','), QTIP_E_FORMAT,
                                     "cannot read '%s': malformed 'shape'", name);
            }
            have_shape = 1;
        } else {
            return qtip_error(QTIP_E_FORMAT, "cannot read '%s': unexpected or repeated key '%s' "
                              "in the header", name, key);
        }
        if (eat(&c, '}')) break;
        QTIP_RETURN_ERROR_IF(!eat(&c, ','), QTIP_E_FORMAT,
                             "cannot read '%s': malformed header dict", name);
    }
    skip_ws(&c);
    QTIP_RETURN_ERROR_IF(c.p != c.end, QTIP_E_FORMAT,
                         "cannot read '%s': unexpected bytes after the header dict", name);
    QTIP_RETURN_ERROR_IF(!have_descr || !have_order || !have_shape, QTIP_E_FORMAT,
                         "cannot read '%s': header lacks '%s'", name,
                         !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    QTIP_FORWARD_IF_ERROR(parse_descr(descr, name, &r->dtype));
    QTIP_RETURN_ERROR_IF(fortran && r->ndim > 1, QTIP_E_UNSUPPORTED,
                         "cannot read '%s': array is in Fortran order; save it with "
                         "np.ascontiguousarray", name);
    r->esize = qtip_dtype_size(r->dtype);
    uint64_t count = 1, bytes;
    for (int i = 0; i < r->ndim; i++)
        QTIP_RETURN_ERROR_IF(__builtin_mul_overflow(count, (uint64_t)r->shape[i], &count),
                             QTIP_E_FORMAT, "cannot read '%s': shape overflows", name);
    QTIP_RETURN_ERROR_IF(__builtin_mul_overflow(count, (uint64_t)r->esize, &bytes), QTIP_E_FORMAT,
                         "cannot read '%s': shape overflows", name);
    r->count = count;
    return QTIP_OK;
}

/* After the magic and version `pre` (8 bytes): the header length and the dict. */
static qtip_status npy_read_header(qtip_npy_reader *r, const unsigned char pre[8])
{
    const char *name = qtip_reader_name(r->in);
    QTIP_RETURN_ERROR_IF(memcmp(pre, "\x93NUMPY", 6) != 0, QTIP_E_FORMAT,
                         "cannot read '%s': not a .npy file (bad magic)", name);
    unsigned major = pre[6], minor = pre[7];
    QTIP_RETURN_ERROR_IF(major < 1 || major > 3 || minor != 0, QTIP_E_FORMAT,
                         "cannot read '%s': .npy version %u.%u, expected 1.0, 2.0 or 3.0", name,
                         major, minor);
    unsigned char b[4] = {0, 0, 0, 0};
    QTIP_FORWARD_IF_ERROR(qtip_reader_read_exact(r->in, b, major == 1 ? 2 : 4));
    uint32_t hlen = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    QTIP_RETURN_ERROR_IF(hlen > NPY_MAX_HEADER, QTIP_E_FORMAT,
                         "cannot read '%s': header length %u exceeds %u bytes", name, hlen,
                         NPY_MAX_HEADER);
    char *h = (char *)malloc(hlen + 1);
    QTIP_RETURN_ERROR_IF(!h, QTIP_E_NOMEM, "cannot read '%s': out of memory", name);
    qtip_status s = qtip_reader_read_exact(r->in, h, hlen);
    if (s == QTIP_OK) s = parse_header(r, h, hlen, name);
    free(h);
    return s;
}

qtip_status npy_open_stream(qtip_reader *in, const unsigned char pre[8], qtip_npy_reader **out)
{
    *out = NULL;
    qtip_npy_reader *r = (qtip_npy_reader *)calloc(1, sizeof *r);
    QTIP_RETURN_ERROR_IF(!r, QTIP_E_NOMEM, "cannot read '%s': out of memory", qtip_reader_name(in));
    r->in = in;
    qtip_status s = npy_read_header(r, pre);
    if (s != QTIP_OK) {
        qtip_npy_close(r);
        return s;
    }
    *out = r;
    return QTIP_OK;
}

qtip_status qtip_npy_open(const char *path, qtip_npy_reader **out)
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "npy open: path and out are required");
    *out = NULL;
    qtip_reader *in;
    QTIP_FORWARD_IF_ERROR(qtip_reader_open(path, &in));
    unsigned char pre[8];
    qtip_status s = qtip_reader_read_exact(in, pre, 8);
    if (s == QTIP_OK) s = npy_open_stream(in, pre, out);
    if (s != QTIP_OK) {
        qtip_reader_free(in);
        return s;
    }
    (*out)->owns_in = 1;
    return QTIP_OK;
}

qtip_dtype qtip_npy_dtype(const qtip_npy_reader *r) { return r->dtype; }
int qtip_npy_ndim(const qtip_npy_reader *r) { return r->ndim; }
const int64_t *qtip_npy_shape(const qtip_npy_reader *r) { return r->shape; }

/* All elements read: the stream must end here (more bytes mean the shape lies). */
static qtip_status check_tail(qtip_npy_reader *r)
{
    r->tail_checked = 1;
    unsigned char extra;
    size_t n;
    QTIP_FORWARD_IF_ERROR(qtip_reader_read(r->in, &extra, 1, &n));
    QTIP_RETURN_ERROR_IF(n != 0, QTIP_E_FORMAT,
                         "cannot read '%s': data beyond the shape: the shape holds %llu elements "
                         "(%llu bytes), but the file has more bytes after them",
                         qtip_reader_name(r->in), (unsigned long long)r->count,
                         (unsigned long long)(r->count * r->esize));
    return QTIP_OK;
}

qtip_status qtip_npy_read(qtip_npy_reader *r, void *buf, size_t max_elems, size_t *got)
{
    QTIP_RETURN_ERROR_IF(!r || !got, QTIP_E_PARAM, "npy read: no reader");
    *got = 0;
    uint64_t want = r->count - r->done;
    if (want > max_elems) want = max_elems;
    if (want == 0) return r->done == r->count && !r->tail_checked ? check_tail(r) : QTIP_OK;
    QTIP_RETURN_ERROR_IF(!buf, QTIP_E_PARAM, "npy read: NULL buffer");
    const char *name = qtip_reader_name(r->in);
    unsigned char *p = (unsigned char *)buf;
    size_t need = (size_t)want * r->esize, have = 0;
    while (have < need) {
        size_t n;
        QTIP_FORWARD_IF_ERROR(qtip_reader_read(r->in, p + have, need - have, &n));
        QTIP_RETURN_ERROR_IF(n == 0, QTIP_E_FORMAT,
                             "cannot read '%s': truncated: the shape holds %llu elements (%llu "
                             "bytes), the data end after %llu bytes", name,
                             (unsigned long long)r->count,
                             (unsigned long long)(r->count * r->esize),
                             (unsigned long long)(r->done * r->esize + have));
        have += n;
    }
    r->done += want;
    *got = (size_t)want;
    if (r->done == r->count) QTIP_FORWARD_IF_ERROR(check_tail(r));
    return QTIP_OK;
}

void qtip_npy_close(qtip_npy_reader *r)
{
    if (!r) return;
    if (r->owns_in) qtip_reader_free(r->in);
    free(r);
}

static const char *npy_descr(qtip_dtype dt)
{
    switch (dt) {
    case QTIP_DT_F64: return "<f8";
    case QTIP_DT_F32: return "<f4";
    case QTIP_DT_F16: return "<f2";
    case QTIP_DT_I64: return "<i8";
    case QTIP_DT_I32: return "<i4";
    case QTIP_DT_I16: return "<i2";
    case QTIP_DT_I8: return "|i1";
    case QTIP_DT_U8: return "|u1";
    case QTIP_DT_BOOL: return "|b1";
    case QTIP_DT_U16: return "<u2";
    case QTIP_DT_U32: return "<u4";
    case QTIP_DT_U64: return "<u8";
    default: return NULL;
    }
}

qtip_status qtip_npy_write(const char *path, qtip_dtype dt, int ndim, const int64_t *shape,
                           const void *data)
{
    QTIP_RETURN_ERROR_IF(!path, QTIP_E_PARAM, "npy write: no path");
    const char *descr = npy_descr(dt);
    QTIP_RETURN_ERROR_IF(!descr, QTIP_E_UNSUPPORTED, "cannot write '%s': dtype %s has no .npy "
                         "equivalent", path, qtip_dtype_name(dt));
    QTIP_RETURN_ERROR_IF(ndim < 0 || ndim > QTIP_MAX_DIMS || (ndim && !shape), QTIP_E_PARAM,
                         "cannot write '%s': %d dimensions, expected 0 to %d", path, ndim,
                         QTIP_MAX_DIMS);
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        QTIP_RETURN_ERROR_IF(shape[i] < 0 ||
                                 __builtin_mul_overflow(count, (uint64_t)shape[i], &count),
                             QTIP_E_PARAM, "cannot write '%s': bad shape", path);
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "",
                      (long long)shape[i]);
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", ndim == 1 ? "," : "");
    uint64_t bytes;
    QTIP_RETURN_ERROR_IF(__builtin_mul_overflow(count, (uint64_t)qtip_dtype_size(dt), &bytes) ||
                             bytes > (uint64_t)SIZE_MAX,
                         QTIP_E_PARAM, "cannot write '%s': shape overflows", path);
    QTIP_RETURN_ERROR_IF(bytes && !data, QTIP_E_PARAM, "cannot write '%s': NULL data", path);
    /* magic(6) + version(2) + u16 length + dict + spaces + '\n', total a multiple of 64. */
    size_t total = (10 + (size_t)n + 1 + 63) & ~(size_t)63;
    unsigned char head[640];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    size_t hlen = total - 10;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', hlen - (size_t)n - 1);
    head[total - 1] = '\n';
    qtip_atomic_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_atomic_open(path, 0, &f));
    qtip_status s = qtip_atomic_write(f, head, total);
    if (s == QTIP_OK) s = qtip_atomic_write(f, data, (size_t)bytes);
    if (s != QTIP_OK) {
        qtip_atomic_abort(f);
        return s;
    }
    return qtip_atomic_commit(f);
}
