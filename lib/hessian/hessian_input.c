/*
 * hessian_input.c — activation files into an accumulator, streaming: .npy,
 * safetensors (one tensor) or raw rows, any of them zstd-compressed, from a file
 * or stdin. One sequential reader per input, so a pipe works like a file: the
 * format is recognised from the first 8 bytes, the header is parsed by the
 * library's one reader of that format (lib/io: npy.c, safetensors_header.c), and
 * the data are read a block of rows at a time, so memory stays bounded whatever
 * the file's size.
 */
#include "hessian/hessian_internal.h"
#include "io/io_internal.h"

#include <inttypes.h>
#include <string.h>

/* Where the rows come from. */
typedef struct {
    const char *name;     /* the input, for messages */
    qtip_reader *r;
    qtip_npy_reader *npy; /* .npy: rows through the npy reader (it checks the ends) */
    int raw;              /* raw rows: until the end of the input */
    int64_t n;            /* last dimension */
    uint64_t rows;        /* product of the leading dimensions (raw: unknown) */
    qtip_dtype dt;
} act_source;

static int is_float(qtip_dtype dt)
{
    return dt == QTIP_DT_F32 || dt == QTIP_DT_F16 || dt == QTIP_DT_BF16 || dt == QTIP_DT_F64;
}

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

/* (..., n): n the last dimension, rows the product of the others. The reader has
 * checked that the whole product does not overflow. */
static qtip_status shape_to_layout(act_source *a, const int64_t *shape, int ndim, const char *what)
{
    QTIP_RETURN_ERROR_IF(ndim < 1, QTIP_E_SHAPE,
                         "'%s': %s: activations must have shape (..., n), found a scalar", a->name,
                         what);
    a->n = shape[ndim - 1];
    QTIP_RETURN_ERROR_IF(a->n <= 0, QTIP_E_SHAPE,
                         "'%s': %s: last dimension is %lld, expected > 0", a->name, what,
                         (long long)a->n);
    a->rows = 1;
    for (int d = 0; d < ndim - 1; d++) a->rows *= (uint64_t)shape[d];
    return QTIP_OK;
}

static qtip_status open_npy(act_source *a, const unsigned char head[8])
{
    QTIP_FORWARD_IF_ERROR(npy_open_stream(a->r, head, &a->npy));
    a->dt = qtip_npy_dtype(a->npy);
    QTIP_RETURN_ERROR_IF(!is_float(a->dt), QTIP_E_UNSUPPORTED,
                         "'%s': npy dtype %s, expected float32, float16 or float64", a->name,
                         qtip_dtype_name(a->dt));
    return shape_to_layout(a, qtip_npy_shape(a->npy), qtip_npy_ndim(a->npy), "the npy shape");
}

/* The one tensor to read: `want`, or the file's only tensor. */
static qtip_status pick_tensor(act_source *a, const st_header *h, const char *want,
                               const st_entry **out)
{
    *out = NULL;
    for (size_t i = 0; i < h->n; i++)
        if (!want || strcmp(h->t[i].v.name, want) == 0) *out = &h->t[i];
    QTIP_RETURN_ERROR_IF(!want && h->n != 1, QTIP_E_PARAM,
                         "'%s' holds %zu tensors: choose one with --tensor", a->name, h->n);
    QTIP_RETURN_ERROR_IF(!*out, QTIP_E_NOT_FOUND, "'%s': no tensor '%s'", a->name, want);
    return QTIP_OK;
}

static qtip_status open_st(act_source *a, const unsigned char head[8], const char *want)
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | head[i];
    QTIP_RETURN_ERROR_IF(hl < 2 || hl > ST_MAX_HEADER, QTIP_E_FORMAT,
                         "'%s': not a .npy or safetensors file (header length %" PRIu64
                         "); raw input needs --dim and --dtype", a->name, hl);
    st_header h;
    QTIP_FORWARD_IF_ERROR(st_header_read(a->r, head, a->name, &h));
    const st_entry *t = NULL;
    qtip_status s = pick_tensor(a, &h, want, &t);
    if (s == QTIP_OK && !is_float(t->v.dtype))
        s = qtip_error(QTIP_E_UNSUPPORTED, "'%s': tensor '%s' has dtype %s, expected F32, F16, "
                       "BF16 or F64", a->name, t->v.name, qtip_dtype_name(t->v.dtype));
    char what[300];
    if (s == QTIP_OK) {
        snprintf(what, sizeof what, "tensor '%s'", t->v.name);
        a->dt = t->v.dtype;
        s = shape_to_layout(a, t->v.shape, t->v.ndim, what);
    }
    uint64_t begin = s == QTIP_OK ? t->begin : 0;
    st_header_free(&h);
    QTIP_FORWARD_IF_ERROR(s);
    return skip_bytes(a->r, begin); /* offsets count from the end of the header */
}

static qtip_status open_source(act_source *a, const qtip_hessian_source *src)
{
    if (src && src->raw_dim > 0) {
        a->raw = 1;
        a->n = src->raw_dim;
        a->dt = src->raw_dtype;
        QTIP_RETURN_ERROR_IF(!is_float(a->dt), QTIP_E_UNSUPPORTED,
                             "'%s': raw dtype %s, expected f32, f16, bf16 or f64", a->name,
                             qtip_dtype_name(a->dt));
        return QTIP_OK;
    }
    unsigned char head[8];
    size_t got = 0, k;
    do {
        QTIP_FORWARD_IF_ERROR(qtip_reader_read(a->r, head + got, 8 - got, &k));
        got += k;
    } while (k && got < 8);
    QTIP_RETURN_ERROR_IF(got < 8, QTIP_E_FORMAT,
                         "'%s': only %zu bytes, not a .npy or safetensors file; raw input "
                         "needs --dim and --dtype", a->name, got);
    if (!memcmp(head, "\x93NUMPY", 6)) return open_npy(a, head);
    return open_st(a, head, src ? src->tensor : NULL);
}

/* Up to `want` rows into buf; *rows is what arrived. Header-described inputs must
 * deliver every row they declare; raw input ends where the stream ends. */
static qtip_status read_rows(act_source *a, unsigned char *buf, size_t want, size_t *rows)
{
    const size_t rowb = (size_t)a->n * qtip_dtype_size(a->dt);
    *rows = 0;
    if (a->npy) {
        size_t got;
        QTIP_FORWARD_IF_ERROR(qtip_npy_read(a->npy, buf, want * (size_t)a->n, &got));
        *rows = got / (size_t)a->n; /* whole rows: the shape is (..., n) */
        return QTIP_OK;
    }
    if (!a->raw) {
        QTIP_FORWARD_IF_ERROR(qtip_reader_read_exact(a->r, buf, want * rowb));
        *rows = want;
        return QTIP_OK;
    }
    size_t have = 0, k = 1;
    while (have < want * rowb && k) {
        QTIP_FORWARD_IF_ERROR(qtip_reader_read(a->r, buf + have, want * rowb - have, &k));
        have += k;
    }
    QTIP_RETURN_ERROR_IF(have % rowb, QTIP_E_FORMAT,
                         "'%s': ends inside a row (%zu trailing bytes, a row is %zu bytes)",
                         a->name, have % rowb, rowb);
    *rows = have / rowb;
    return QTIP_OK;
}

/* Create the accumulator on the first input; later inputs must agree on n. */
static qtip_status ensure_accumulator(qtip_hessian **hp, const char *site, const act_source *a)
{
    qtip_hessian *h = *hp;
    if (!h) {
        QTIP_FORWARD_IF_ERROR(qtip_hessian_create(a->n, site, &h));
        qtip_status ds = hessian_default_device() ? qtip_hessian_set_device(h, hessian_default_device())
                                                  : QTIP_OK;
        if (ds) {
            qtip_hessian_free(h);
            return ds;
        }
        *hp = h;
        return QTIP_OK;
    }
    const char *first = qtip_hessian_input_count(h) ? qtip_hessian_input_name(h, 0) : "the accumulator";
    QTIP_RETURN_ERROR_IF(qtip_hessian_dim(h) != a->n, QTIP_E_SHAPE,
                         "'%s' has dimension %lld, but '%s' has %lld", a->name, (long long)a->n,
                         first, (long long)qtip_hessian_dim(h));
    return QTIP_OK;
}

/* Every row, a block at a time. */
static qtip_status accumulate_rows(qtip_hessian *h, act_source *a)
{
    const size_t rowb = (size_t)a->n * qtip_dtype_size(a->dt);
    const size_t brows = qtip_hessian_block_rows(h);
    unsigned char *buf = qtip_alloc(brows, rowb, "an input block");
    if (!buf) return QTIP_E_NOMEM;
    qtip_status s = QTIP_OK;
    uint64_t done = 0;
    for (;;) {
        size_t want = brows, got = 0;
        if (!a->raw && a->rows - done < want) want = (size_t)(a->rows - done);
        if (!a->raw && want == 0 && !a->npy) break;
        s = read_rows(a, buf, want, &got); /* npy: a last call with want 0 checks the end */
        if (s != QTIP_OK || got == 0) break;
        s = qtip_hessian_add_rows(h, a->dt, buf, got);
        if (s != QTIP_OK) break;
        done += got;
        qtip_progress("rows", done, a->raw ? 0 : a->rows);
    }
    free(buf);
    QTIP_FORWARD_IF_ERROR(s);
    QTIP_RETURN_ERROR_IF(done == 0, QTIP_E_FORMAT,
                         "'%s': no activation rows (%s)", a->name,
                         a->raw ? "the input ended before any data" : "its shape holds 0 rows");
    return QTIP_OK;
}

static qtip_status add_stream(qtip_hessian **hp, const char *site, const char *path,
                              const qtip_hessian_source *src, act_source *a)
{
    QTIP_FORWARD_IF_ERROR(open_source(a, src));
    QTIP_FORWARD_IF_ERROR(ensure_accumulator(hp, site, a));
    qtip_hessian *h = *hp;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_set_source(h, a->name));
    qtip_hessian_set_nonfinite(h, src ? src->nonfinite : QTIP_NONFINITE_ERROR);
    QTIP_FORWARD_IF_ERROR(accumulate_rows(h, a));
    char sum[QTIP_CHECKSUM_STRLEN];
    if (strcmp(path, "-")) QTIP_FORWARD_IF_ERROR(qtip_checksum_file(path, sum));
    else snprintf(sum, sizeof sum, "stream:%016" PRIx64, qtip_reader_checksum(a->r));
    return qtip_hessian_add_input(h, path, sum);
}

qtip_status qtip_hessian_add_file(qtip_hessian **hp, const char *site, const char *path,
                                  const qtip_hessian_source *src)
{
    act_source a;
    memset(&a, 0, sizeof a);
    QTIP_FORWARD_IF_ERROR(qtip_reader_open(path, &a.r));
    a.name = qtip_reader_name(a.r);
    qtip_status s = add_stream(hp, site, path, src, &a);
    qtip_npy_close(a.npy);
    qtip_reader_free(a.r);
    return s;
}
