/*
 * safetensors_write.c — build a .safetensors file and write it atomically.
 *
 * Determinism: the header is compact JSON in a fixed order ("__metadata__" first,
 * then tensors in the order added; keys inside an entry in the order dtype, shape,
 * data_offsets), padded with spaces to a multiple of 8, and data are contiguous in
 * the order added. Nothing depends on time, addresses or hash order, so identical
 * inputs give identical bytes. Layout rules: docs/formats/safetensors.md.
 */
#include "io/io_internal.h"

#include <jansson.h>
#include <string.h>

typedef struct {
    char *name;
    qtip_dtype dtype;
    int ndim;
    int64_t shape[QTIP_MAX_DIMS];
    size_t nbytes;
    const void *data;
    void *owned;
    int declared; /* st_writer_declare: the caller streams the bytes */
} st_wtensor;

struct qtip_st_writer {
    st_wtensor *t;
    size_t n, cap;
    char **meta; /* key, value, ... in the order first set */
    size_t nmeta;
};

qtip_status qtip_st_writer_create(qtip_st_writer **out)
{
    QTIP_RETURN_ERROR_IF(!out, QTIP_E_PARAM, "safetensors writer: out is required");
    *out = (qtip_st_writer *)calloc(1, sizeof **out);
    QTIP_RETURN_ERROR_IF(!*out, QTIP_E_NOMEM, "cannot create safetensors writer: out of memory");
    return QTIP_OK;
}

void qtip_st_writer_free(qtip_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    for (size_t i = 0; i < w->nmeta; i++) free(w->meta[i]);
    free(w->meta);
    free(w->t);
    free(w);
}

/* copy: 1 keep a copy, 0 keep the pointer, -1 declared (no data here). */
static qtip_status add(qtip_st_writer *w, const char *name, qtip_dtype dt, int ndim,
                       const int64_t *shape, const void *data, int copy)
{
    QTIP_RETURN_ERROR_IF(!w, QTIP_E_PARAM, "safetensors writer: no writer");
    QTIP_RETURN_ERROR_IF(!name || !name[0], QTIP_E_PARAM, "cannot add tensor: empty name");
    QTIP_RETURN_ERROR_IF(strcmp(name, "__metadata__") == 0, QTIP_E_PARAM,
                         "cannot add tensor '__metadata__': the name is reserved");
    QTIP_RETURN_ERROR_IF((unsigned)dt >= QTIP_DT_COUNT_, QTIP_E_PARAM,
                         "cannot add tensor '%s': unknown dtype %d", name, (int)dt);
    QTIP_RETURN_ERROR_IF(ndim < 0 || ndim > QTIP_MAX_DIMS || (ndim > 0 && !shape), QTIP_E_PARAM,
                         "cannot add tensor '%s': %d dimensions, expected 0 to %d", name, ndim,
                         QTIP_MAX_DIMS);
    /* Linear: writers hold hundreds of tensors at most, and this runs once each. */
    for (size_t i = 0; i < w->n; i++)
        QTIP_RETURN_ERROR_IF(strcmp(w->t[i].name, name) == 0, QTIP_E_PARAM,
                             "cannot add tensor '%s': a tensor of that name was already added",
                             name);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        QTIP_RETURN_ERROR_IF(shape[i] < 0, QTIP_E_PARAM,
                             "cannot add tensor '%s': dimension %d is %lld", name, i,
                             (long long)shape[i]);
        QTIP_RETURN_ERROR_IF(__builtin_mul_overflow(count, (uint64_t)shape[i], &count),
                             QTIP_E_PARAM, "cannot add tensor '%s': shape overflows", name);
    }
    uint64_t bytes;
    QTIP_RETURN_ERROR_IF(__builtin_mul_overflow(count, (uint64_t)qtip_dtype_size(dt), &bytes) ||
                             bytes > (uint64_t)SIZE_MAX / 2,
                         QTIP_E_PARAM, "cannot add tensor '%s': shape overflows", name);
    QTIP_RETURN_ERROR_IF(bytes && !data && copy >= 0, QTIP_E_PARAM,
                         "cannot add tensor '%s': NULL data", name);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        st_wtensor *t = (st_wtensor *)realloc(w->t, nc * sizeof *t);
        QTIP_RETURN_ERROR_IF(!t, QTIP_E_NOMEM, "cannot add tensor '%s': out of memory", name);
        w->t = t;
        w->cap = nc;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    QTIP_RETURN_ERROR_IF(!t->name, QTIP_E_NOMEM, "cannot add tensor '%s': out of memory", name);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = (size_t)bytes;
    t->data = data;
    t->declared = copy < 0;
    if (copy > 0 && bytes) {
        t->owned = malloc((size_t)bytes);
        if (!t->owned) {
            free(t->name);
            return qtip_error(QTIP_E_NOMEM, "cannot add tensor '%s': cannot allocate %llu bytes",
                              name, (unsigned long long)bytes);
        }
        memcpy(t->owned, data, (size_t)bytes);
        t->data = t->owned;
    }
    w->n++;
    return QTIP_OK;
}

qtip_status qtip_st_writer_add(qtip_st_writer *w, const char *name, qtip_dtype dt, int ndim,
                               const int64_t *shape, const void *data)
{
    return add(w, name, dt, ndim, shape, data, 1);
}

qtip_status qtip_st_writer_add_ref(qtip_st_writer *w, const char *name, qtip_dtype dt,
                                   int ndim, const int64_t *shape, const void *data)
{
    return add(w, name, dt, ndim, shape, data, 0);
}

qtip_status st_writer_declare(qtip_st_writer *w, const char *name, qtip_dtype dt, int ndim,
                              const int64_t *shape)
{
    return add(w, name, dt, ndim, shape, NULL, -1);
}

qtip_status qtip_st_writer_set_metadata(qtip_st_writer *w, const char *key, const char *value)
{
    QTIP_RETURN_ERROR_IF(!w || !key || !value, QTIP_E_PARAM, "safetensors metadata: missing argument");
    char *v = strdup(value);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOMEM, "cannot set metadata '%s': out of memory", key);
    for (size_t i = 0; i < w->nmeta; i += 2)
        if (strcmp(w->meta[i], key) == 0) {
            free(w->meta[i + 1]);
            w->meta[i + 1] = v;
            return QTIP_OK;
        }
    char **m = (char **)realloc(w->meta, (w->nmeta + 2) * sizeof *m);
    char *k = strdup(key);
    if (m) w->meta = m;
    if (!m || !k) {
        free(k);
        free(v);
        return qtip_error(QTIP_E_NOMEM, "cannot set metadata '%s': out of memory", key);
    }
    w->meta[w->nmeta++] = k;
    w->meta[w->nmeta++] = v;
    return QTIP_OK;
}

/* The header JSON, compact, before padding. */
static char *build_header(const qtip_st_writer *w)
{
    json_t *root = json_object();
    int bad = !root;
    if (!bad && w->nmeta) {
        json_t *m = json_object();
        bad |= !m;
        for (size_t i = 0; !bad && i < w->nmeta; i += 2)
            bad |= json_object_set_new(m, w->meta[i], json_string(w->meta[i + 1])) != 0;
        if (m) bad |= json_object_set_new(root, "__metadata__", m) != 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; !bad && i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        bad |= !e || !shape || !offs;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0;
        if (!bad) {
            bad |= json_array_append_new(offs, json_integer((json_int_t)off)) != 0;
            bad |= json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes))) != 0;
            bad |= json_object_set_new(e, "dtype", json_string(qtip_dtype_name(t->dtype))) != 0;
        }
        if (shape) bad |= json_object_set_new(e, "shape", shape) != 0;
        if (offs) bad |= json_object_set_new(e, "data_offsets", offs) != 0;
        if (e) bad |= json_object_set_new(root, t->name, e) != 0;
        off += t->nbytes;
    }
    char *txt = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return txt;
}

qtip_status st_writer_begin(const qtip_st_writer *w, const char *path, int compress_level,
                            qtip_atomic_file **out)
{
    *out = NULL;
    char *hdr = build_header(w);
    QTIP_RETURN_ERROR_IF(!hdr, QTIP_E_NOMEM,
                         "cannot write '%s': cannot build the header (out of memory, or a "
                         "name or metadata value that is not UTF-8)", path);
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) & ~(size_t)7;
    unsigned char *head = (unsigned char *)malloc(8 + padded);
    if (!head) {
        free(hdr);
        return qtip_error(QTIP_E_NOMEM, "cannot write '%s': out of memory", path);
    }
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(head + 8, hdr, hl);
    memset(head + 8 + hl, ' ', padded - hl);
    free(hdr);
    qtip_atomic_file *f = NULL;
    qtip_status s = qtip_atomic_open(path, compress_level, &f);
    if (s == QTIP_OK) s = qtip_atomic_write(f, head, 8 + padded);
    free(head);
    if (s != QTIP_OK) {
        qtip_atomic_abort(f);
        return s;
    }
    *out = f;
    return QTIP_OK;
}

qtip_status qtip_st_writer_write(qtip_st_writer *w, const char *path, int compress_level)
{
    QTIP_RETURN_ERROR_IF(!w || !path, QTIP_E_PARAM, "safetensors write: missing argument");
    for (size_t i = 0; i < w->n; i++)
        QTIP_RETURN_ERROR_IF(w->t[i].declared, QTIP_E_PARAM,
                             "cannot write '%s': tensor '%s' was declared without data", path,
                             w->t[i].name);
    qtip_atomic_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(st_writer_begin(w, path, compress_level, &f));
    qtip_status s = QTIP_OK;
    for (size_t i = 0; s == QTIP_OK && i < w->n; i++)
        s = qtip_atomic_write(f, w->t[i].data, w->t[i].nbytes);
    if (s == QTIP_OK) return qtip_atomic_commit(f);
    qtip_atomic_abort(f);
    return s;
}
