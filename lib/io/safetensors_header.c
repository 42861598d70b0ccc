/*
 * safetensors_header.c — the one parser of safetensors headers: the 8-byte length
 * and the JSON object of tensor entries, every rule checked (docs/formats/
 * safetensors.md). It works on bytes, so the mapped reader (safetensors_read.c)
 * and the streaming activation reader (hessian_input.c) share it; a stream does not
 * know its data size up front, so offsets past the data are then found on reading.
 */
#include "io/io_internal.h"

#include <string.h>

static const char *const known_unsupported[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                                "F6_E2M3", "F6_E3M2", "C64", "I4"};

/* "[4096, 11008]" into buf. */
static const char *fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}


static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = (const st_entry *)a, *y = (const st_entry *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->v.name, y->v.name);
}

static int get_u64(const json_t *j, uint64_t *out)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0) return 0;
    *out = (uint64_t)json_integer_value(j);
    return 1;
}

/* Check one tensor entry; fills t (name not yet owned). */
static qtip_status parse_entry(const char *file, const char *name, json_t *e, uint64_t data_len,
                               st_entry *t)
{
    char sb[256];
    QTIP_RETURN_ERROR_IF(!json_is_object(e), QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': entry is not a JSON object", file, name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    QTIP_RETURN_ERROR_IF(!json_is_string(jd), QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': missing string \"dtype\"", file, name);
    QTIP_RETURN_ERROR_IF(!json_is_array(js), QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': missing array \"shape\"", file, name);
    QTIP_RETURN_ERROR_IF(!json_is_array(jo) || json_array_size(jo) != 2, QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': \"data_offsets\" must be an array "
                         "[begin, end]", file, name);
    const char *dn = json_string_value(jd);
    int dt = qtip_dtype_from_name(dn);
    if (dt < 0) {
        for (size_t i = 0; i < sizeof known_unsupported / sizeof *known_unsupported; i++)
            QTIP_RETURN_ERROR_IF(strcmp(dn, known_unsupported[i]) == 0, QTIP_E_UNSUPPORTED,
                                 "cannot read '%s': tensor '%s' has dtype '%s', which qtip does "
                                 "not support", file, name, dn);
        return qtip_error(QTIP_E_FORMAT, "cannot read '%s': tensor '%s' has unknown dtype '%s'",
                          file, name, dn);
    }
    size_t nd = json_array_size(js);
    QTIP_RETURN_ERROR_IF(nd > QTIP_MAX_DIMS, QTIP_E_UNSUPPORTED,
                         "cannot read '%s': tensor '%s' has %zu dimensions, at most %d supported",
                         file, name, nd, QTIP_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->v.dtype = (qtip_dtype)dt;
    t->v.ndim = (int)nd;
    uint64_t count = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        QTIP_RETURN_ERROR_IF(!get_u64(json_array_get(js, i), &d), QTIP_E_FORMAT,
                             "cannot read '%s': tensor '%s': shape entries must be non-negative "
                             "integers", file, name);
        t->v.shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(count, d, &count)) overflow = 1;
    }
    uint64_t bytes = 0;
    if (overflow || __builtin_mul_overflow(count, (uint64_t)qtip_dtype_size(t->v.dtype), &bytes))
        return qtip_error(QTIP_E_FORMAT, "cannot read '%s': tensor '%s': shape %s overflows", file,
                          name, fmt_shape(sb, sizeof sb, t->v.ndim, t->v.shape));
    QTIP_RETURN_ERROR_IF(!get_u64(json_array_get(jo, 0), &t->begin) ||
                             !get_u64(json_array_get(jo, 1), &t->end),
                         QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': data_offsets must be non-negative integers",
                         file, name);
    QTIP_RETURN_ERROR_IF(t->begin > t->end, QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': data_offsets [%llu, %llu] end before they "
                         "begin", file, name, (unsigned long long)t->begin,
                         (unsigned long long)t->end);
    QTIP_RETURN_ERROR_IF(t->end > data_len, QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s': data_offsets [%llu, %llu] run past the "
                         "data (%llu bytes; truncated file?)", file, name,
                         (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_len);
    QTIP_RETURN_ERROR_IF(t->end - t->begin != bytes, QTIP_E_FORMAT,
                         "cannot read '%s': tensor '%s' has shape %s of %s (%llu bytes), but its "
                         "data_offsets [%llu, %llu] hold %llu bytes", file, name,
                         fmt_shape(sb, sizeof sb, t->v.ndim, t->v.shape), dn,
                         (unsigned long long)bytes, (unsigned long long)t->begin,
                         (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    t->v.nbytes = (size_t)bytes;
    return QTIP_OK;
}


qtip_status st_header_length(const unsigned char len8[8], uint64_t avail, const char *file,
                             uint64_t *out)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | len8[i];
    QTIP_RETURN_ERROR_IF(avail != UINT64_MAX && n > avail, QTIP_E_FORMAT,
                         "cannot read '%s': header length %llu is larger than the file (%llu "
                         "bytes; truncated, or not a safetensors file)", file,
                         (unsigned long long)n, (unsigned long long)avail + 8);
    QTIP_RETURN_ERROR_IF(n > ST_MAX_HEADER, QTIP_E_FORMAT,
                         "cannot read '%s': header length %llu exceeds the limit of %llu bytes",
                         file, (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
    *out = n;
    return QTIP_OK;
}

void st_header_free(st_header *h)
{
    if (!h) return;
    free(h->t);
    json_decref(h->root);
    memset(h, 0, sizeof *h);
}

/* "__metadata__" must be an object of strings. */
static qtip_status check_metadata(const char *file, json_t *val)
{
    QTIP_RETURN_ERROR_IF(!json_is_object(val), QTIP_E_FORMAT,
                         "cannot read '%s': \"__metadata__\" is not a JSON object", file);
    const char *mk;
    json_t *mv;
    json_object_foreach(val, mk, mv) {
        QTIP_RETURN_ERROR_IF(!json_is_string(mv), QTIP_E_FORMAT,
                             "cannot read '%s': \"__metadata__\" value of '%s' is not a string",
                             file, mk);
    }
    return QTIP_OK;
}

/* Sorted by offset: no two non-empty tensors may share bytes. */
static qtip_status check_overlaps(const char *file, st_header *h)
{
    qsort(h->t, h->n, sizeof *h->t, cmp_offsets);
    uint64_t max_end = 0;
    const char *max_name = NULL;
    for (size_t i = 0; i < h->n; i++) {
        /* Empty tensors occupy no bytes and cannot overlap anything. */
        if (h->t[i].begin == h->t[i].end) continue;
        QTIP_RETURN_ERROR_IF(max_name && h->t[i].begin < max_end, QTIP_E_FORMAT,
                             "cannot read '%s': tensor '%s' (bytes %llu-%llu) overlaps tensor '%s' "
                             "(ending at %llu)", file, h->t[i].v.name,
                             (unsigned long long)h->t[i].begin, (unsigned long long)h->t[i].end,
                             max_name, (unsigned long long)max_end);
        max_end = h->t[i].end;
        max_name = h->t[i].v.name;
    }
    h->data_end = max_end;
    return QTIP_OK;
}

static qtip_status parse_root(const char *file, uint64_t data_len, st_header *h)
{
    QTIP_RETURN_ERROR_IF(!json_is_object(h->root), QTIP_E_FORMAT,
                         "cannot read '%s': header is not a JSON object", file);
    h->t = (st_entry *)calloc(json_object_size(h->root) + 1, sizeof *h->t);
    QTIP_RETURN_ERROR_IF(!h->t, QTIP_E_NOMEM, "cannot read '%s': out of memory", file);
    const char *key;
    json_t *val;
    json_object_foreach(h->root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            QTIP_FORWARD_IF_ERROR(check_metadata(file, val));
            continue;
        }
        QTIP_FORWARD_IF_ERROR(parse_entry(file, key, val, data_len, &h->t[h->n]));
        h->t[h->n].v.name = key; /* borrowed from root */
        h->n++;
    }
    return check_overlaps(file, h);
}

qtip_status st_header_parse(const char *file, const char *json, size_t len, uint64_t data_len,
                            st_header *h)
{
    memset(h, 0, sizeof *h);
    QTIP_RETURN_ERROR_IF(len < 2 || json[0] != '{', QTIP_E_FORMAT,
                         "cannot read '%s': header is not a JSON object (does not start with "
                         "'{')", file);
    json_error_t jerr;
    h->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    QTIP_RETURN_ERROR_IF(!h->root, QTIP_E_FORMAT,
                         "cannot read '%s': invalid JSON header: %s (at byte %d)", file, jerr.text,
                         jerr.position);
    qtip_status s = parse_root(file, data_len, h);
    if (s != QTIP_OK) st_header_free(h);
    return s;
}

qtip_status st_header_read(qtip_reader *r, const unsigned char len8[8], const char *file,
                           st_header *h)
{
    memset(h, 0, sizeof *h);
    uint64_t n;
    QTIP_FORWARD_IF_ERROR(st_header_length(len8, UINT64_MAX, file, &n));
    char *txt = (char *)malloc((size_t)n);
    QTIP_RETURN_ERROR_IF(!txt, QTIP_E_NOMEM, "cannot read '%s': cannot allocate a header of %llu "
                         "bytes", file, (unsigned long long)n);
    qtip_status s = qtip_reader_read_exact(r, txt, (size_t)n);
    if (s == QTIP_OK) s = st_header_parse(file, txt, (size_t)n, UINT64_MAX, h);
    free(txt);
    return s;
}
