/*
 * safetensors_read.c — open .safetensors files (mapped, or decompressed when zstd),
 * and sharded models through their index; every header rule is checked on open so
 * that later code can trust shapes, dtypes and offsets.
 *
 * Layout: u64 little-endian N, N bytes of JSON (an object: tensor name ->
 * {dtype, shape, data_offsets}, plus an optional "__metadata__" of strings), then
 * the data buffer; offsets are relative to the start of the data buffer.
 * What we accept and reject: docs/formats/safetensors.md.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

/* Private to safetensors_read.c and safetensors_index.c (defined in the latter). */
qtip_status qtip_st_index_load_(const char *index_path, json_t **root, char ***files,
                                size_t *count);


typedef struct {
    char *path; /* as opened, for messages */
    qtip_mmap map;
    void *owned; /* decompressed bytes, when the file was zstd */
} st_shard;

struct qtip_st_file {
    char *path;
    st_shard *shards;
    size_t nshards;
    qtip_tensor_view *tensors;
    size_t *shard_of; /* tensors[i] lives in shards[shard_of[i]] */
    size_t ntensors, cap;
    size_t *by_name; /* tensor indices sorted by name, for lookups */
    char **meta; /* key, value, key, value... */
    size_t nmeta, meta_cap;
};

static qtip_status meta_add(qtip_st_file *f, const char *key, const char *val)
{
    if (f->nmeta + 2 > f->meta_cap) {
        size_t nc = f->meta_cap ? 2 * f->meta_cap : 16;
        char **p = (char **)realloc(f->meta, nc * sizeof *p);
        QTIP_RETURN_ERROR_IF(!p, QTIP_E_NOMEM, "cannot read '%s': out of memory", f->path);
        f->meta = p;
        f->meta_cap = nc;
    }
    char *k = strdup(key), *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        return qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", f->path);
    }
    f->meta[f->nmeta++] = k;
    f->meta[f->nmeta++] = v;
    return QTIP_OK;
}

static qtip_status tensor_push(qtip_st_file *f, const qtip_tensor_view *v, size_t shard)
{
    if (f->ntensors == f->cap) {
        size_t nc = f->cap ? 2 * f->cap : 64;
        qtip_tensor_view *t = (qtip_tensor_view *)realloc(f->tensors, nc * sizeof *t);
        if (t) f->tensors = t;
        size_t *s = (size_t *)realloc(f->shard_of, nc * sizeof *s);
        if (s) f->shard_of = s;
        QTIP_RETURN_ERROR_IF(!t || !s, QTIP_E_NOMEM, "cannot read '%s': out of memory", f->path);
        f->cap = nc;
    }
    f->tensors[f->ntensors] = *v;
    f->shard_of[f->ntensors] = shard;
    f->ntensors++;
    return QTIP_OK;
}

/* Parse one file's bytes; appends its tensors (offset order) and metadata to f. */
static qtip_status parse_bytes(qtip_st_file *f, const unsigned char *buf, size_t len,
                               const char *file, size_t shard)
{
    QTIP_RETURN_ERROR_IF(len < 8, QTIP_E_FORMAT,
                         "cannot read '%s': truncated: %zu bytes, shorter than the 8-byte header "
                         "length", file, len);
    uint64_t n;
    QTIP_FORWARD_IF_ERROR(st_header_length(buf, (uint64_t)len - 8, file, &n));
    st_header h;
    QTIP_FORWARD_IF_ERROR(st_header_parse(file, (const char *)buf + 8, (size_t)n,
                                          (uint64_t)len - 8 - n, &h));
    const unsigned char *data = buf + 8 + n;
    qtip_status s = QTIP_OK;
    const char *mk;
    json_t *mv;
    json_object_foreach(json_object_get(h.root, "__metadata__"), mk, mv) {
        if ((s = meta_add(f, mk, json_string_value(mv))) != QTIP_OK) break;
    }
    for (size_t i = 0; s == QTIP_OK && i < h.n; i++) {
        qtip_tensor_view v = h.t[i].v;
        v.data = data + h.t[i].begin;
        v.name = strdup(h.t[i].v.name);
        if (!v.name) {
            s = qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", file);
            break;
        }
        if ((s = tensor_push(f, &v, shard)) != QTIP_OK) free((char *)v.name);
    }
    st_header_free(&h);
    return s;
}

static qtip_status shard_add(qtip_st_file *f, const char *path, size_t *index)
{
    st_shard *p = (st_shard *)realloc(f->shards, (f->nshards + 1) * sizeof *p);
    QTIP_RETURN_ERROR_IF(!p, QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
    f->shards = p;
    st_shard *sh = &f->shards[f->nshards];
    memset(sh, 0, sizeof *sh);
    sh->path = strdup(path);
    QTIP_RETURN_ERROR_IF(!sh->path, QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
    f->nshards++;
    *index = f->nshards - 1;
    return QTIP_OK;
}

/* A zstd-compressed file cannot be mapped: decompress it into memory, but no more
 * than its header accounts for (8 + header + the tensors' bytes), so that a small
 * file that expands to gigabytes is refused instead of filling the memory. */
static qtip_status decompress_shard(st_shard *sh, const char *path, size_t *len)
{
    qtip_reader *r;
    QTIP_FORWARD_IF_ERROR(qtip_reader_open(path, &r));
    unsigned char len8[8];
    uint64_t n = 0;
    char *json = NULL;
    st_header h = {0};
    qtip_status s = qtip_reader_read_exact(r, len8, 8);
    if (s == QTIP_OK) s = st_header_length(len8, UINT64_MAX, path, &n);
    if (s == QTIP_OK && !(json = (char *)malloc((size_t)n + 1)))
        s = qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", path);
    if (s == QTIP_OK) s = qtip_reader_read_exact(r, json, (size_t)n);
    if (s == QTIP_OK) s = st_header_parse(path, json, (size_t)n, UINT64_MAX, &h);
    uint64_t limit = h.data_end;
    st_header_free(&h);
    size_t got = 0;
    if (s == QTIP_OK)
        s = io_read_all(r, 8 + (size_t)n, limit > SIZE_MAX / 4 ? SIZE_MAX / 4 : (size_t)limit,
                        "the tensors its header declares (compressed safetensors are "
                        "decompressed into memory)", &sh->owned, &got);
    qtip_reader_free(r);
    if (s == QTIP_OK) {
        /* The bytes before the data, as they were: parse_bytes checks the whole file. */
        memcpy(sh->owned, len8, 8);
        memcpy((unsigned char *)sh->owned + 8, json, (size_t)n);
        *len = 8 + (size_t)n + got;
    }
    free(json);
    return s;
}

/* Map (or decompress) one file and parse it as shard `f->nshards`. */
static qtip_status open_one(qtip_st_file *f, const char *path)
{
    size_t k = 0;
    QTIP_FORWARD_IF_ERROR(shard_add(f, path, &k));
    st_shard *sh = &f->shards[k];
    QTIP_FORWARD_IF_ERROR(qtip_mmap_open(path, &sh->map));
    const unsigned char *bytes = (const unsigned char *)sh->map.data;
    size_t len = sh->map.size;
    static const unsigned char zmagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    if (len >= 4 && memcmp(bytes, zmagic, 4) == 0) {
        qtip_mmap_close(&sh->map);
        QTIP_FORWARD_IF_ERROR(decompress_shard(sh, path, &len));
        bytes = (const unsigned char *)sh->owned;
    }
    return parse_bytes(f, bytes, len, path, k);
}

typedef struct {
    const char *name;
    size_t idx;
} name_idx;

static int cmp_by_name(const void *a, const void *b)
{
    const name_idx *x = (const name_idx *)a, *y = (const name_idx *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorted name index for qtip_st_find; duplicates (across shards) are errors. */
static qtip_status build_index(qtip_st_file *f)
{
    f->by_name = (size_t *)malloc((f->ntensors + 1) * sizeof *f->by_name);
    name_idx *tmp = (name_idx *)malloc((f->ntensors + 1) * sizeof *tmp);
    if (!f->by_name || !tmp) {
        free(tmp);
        return qtip_error(QTIP_E_NOMEM, "cannot read '%s': out of memory", f->path);
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        tmp[i].name = f->tensors[i].name;
        tmp[i].idx = i;
    }
    qsort(tmp, f->ntensors, sizeof *tmp, cmp_by_name);
    for (size_t i = 0; i < f->ntensors; i++) f->by_name[i] = tmp[i].idx;
    free(tmp);
    for (size_t i = 1; i < f->ntensors; i++) {
        size_t a = f->by_name[i - 1], b = f->by_name[i];
        QTIP_RETURN_ERROR_IF(strcmp(f->tensors[a].name, f->tensors[b].name) == 0, QTIP_E_FORMAT,
                             "cannot read '%s': tensor '%s' appears twice, in '%s' and in '%s'",
                             f->path, f->tensors[a].name, f->shards[f->shard_of[a]].path,
                             f->shards[f->shard_of[b]].path);
    }
    return QTIP_OK;
}

static qtip_st_file *file_new(const char *path)
{
    qtip_st_file *f = (qtip_st_file *)calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static qtip_status meta_from_json(qtip_st_file *f, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (json_is_string(v)) {
            QTIP_FORWARD_IF_ERROR(meta_add(f, k, json_string_value(v)));
        } else {
            char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            QTIP_RETURN_ERROR_IF(!txt, QTIP_E_NOMEM, "cannot read '%s': out of memory", f->path);
            qtip_status s = meta_add(f, k, txt);
            free(txt);
            QTIP_FORWARD_IF_ERROR(s);
        }
    }
    return QTIP_OK;
}

static qtip_status open_sharded(qtip_st_file *f, const char *index_path)
{
    json_t *root = NULL;
    char **files = NULL;
    size_t nfiles = 0;
    QTIP_FORWARD_IF_ERROR(qtip_st_index_load_(index_path, &root, &files, &nfiles));
    qtip_status s = QTIP_OK;
    json_t *meta = json_object_get(root, "metadata");
    if (json_is_object(meta)) s = meta_from_json(f, meta);
    for (size_t i = 0; i < nfiles && s == QTIP_OK; i++) s = open_one(f, files[i]);
    if (s == QTIP_OK) s = build_index(f);
    /* Every tensor the index names must be in the shard it names; shards may not
     * hold tensors the index does not know (the index would lie about the model). */
    json_t *wm = json_object_get(root, "weight_map");
    const char *name;
    json_t *jf;
    if (s == QTIP_OK) {
        json_object_foreach(wm, name, jf) {
            const qtip_tensor_view *v = qtip_st_find(f, name);
            if (!v) {
                s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': index names tensor '%s' in '%s', "
                               "but no shard holds it", index_path, name, json_string_value(jf));
                break;
            }
            size_t t = (size_t)(v - f->tensors);
            if (strcmp(base_name(f->shards[f->shard_of[t]].path), base_name(json_string_value(jf)))) {
                s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': index puts tensor '%s' in '%s', "
                               "but it is in '%s'", index_path, name, json_string_value(jf),
                               f->shards[f->shard_of[t]].path);
                break;
            }
        }
    }
    if (s == QTIP_OK && json_object_size(wm) != f->ntensors) {
        for (size_t i = 0; i < f->ntensors; i++)
            if (!json_object_get(wm, f->tensors[i].name)) {
                s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': shard '%s' holds tensor '%s', "
                               "which the index does not list", index_path,
                               f->shards[f->shard_of[i]].path, f->tensors[i].name);
                break;
            }
    }
    for (size_t i = 0; i < nfiles; i++) free(files[i]);
    free(files);
    json_decref(root);
    return s;
}

qtip_status qtip_st_open(const char *path, qtip_st_file **out)
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "safetensors open: path and out are required");
    *out = NULL;
    struct stat st;
    QTIP_RETURN_ERROR_IF(stat(path, &st) != 0, QTIP_E_IO, "cannot open '%s': %s", path,
                         strerror(errno));
    char *resolved = NULL;
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + 40;
        resolved = (char *)malloc(n);
        QTIP_RETURN_ERROR_IF(!resolved, QTIP_E_NOMEM, "cannot open '%s': out of memory", path);
        snprintf(resolved, n, "%s/model.safetensors", path);
        if (stat(resolved, &st) != 0) {
            snprintf(resolved, n, "%s/model.safetensors.index.json", path);
            if (stat(resolved, &st) != 0) {
                free(resolved);
                return qtip_error(QTIP_E_IO, "cannot open '%s': directory holds neither "
                                  "'model.safetensors' nor 'model.safetensors.index.json'", path);
            }
        }
        path = resolved;
    }
    qtip_st_file *f = file_new(path);
    if (!f) {
        free(resolved);
        return qtip_error(QTIP_E_NOMEM, "cannot open '%s': out of memory", path);
    }
    qtip_status s;
    if (ends_with(path, ".index.json")) {
        s = open_sharded(f, path);
    } else {
        s = open_one(f, path);
        if (s == QTIP_OK) s = build_index(f);
    }
    free(resolved);
    if (s != QTIP_OK) {
        qtip_st_close(f);
        return s;
    }
    *out = f;
    return QTIP_OK;
}

size_t qtip_st_count(const qtip_st_file *f) { return f ? f->ntensors : 0; }

const qtip_tensor_view *qtip_st_tensor(const qtip_st_file *f, size_t i)
{
    return f && i < f->ntensors ? &f->tensors[i] : NULL;
}

const qtip_tensor_view *qtip_st_find(const qtip_st_file *f, const char *name)
{
    if (!f || !name) {
        qtip_error(QTIP_E_NOT_FOUND, "no tensor '%s'", name ? name : "(null)");
        return NULL;
    }
    size_t lo = 0, hi = f->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return &f->tensors[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    qtip_error(QTIP_E_NOT_FOUND, "'%s' has no tensor '%s'", f->path, name);
    return NULL;
}

const char *qtip_st_metadata(const qtip_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (size_t i = 0; i + 1 < f->nmeta; i += 2)
        if (strcmp(f->meta[i], key) == 0) return f->meta[i + 1];
    return NULL;
}

const char *qtip_st_path(const qtip_st_file *f) { return f ? f->path : ""; }

void qtip_st_close(qtip_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->ntensors; i++) free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->nshards; i++) {
        qtip_mmap_close(&f->shards[i].map);
        free(f->shards[i].owned);
        free(f->shards[i].path);
    }
    for (size_t i = 0; i < f->nmeta; i++) free(f->meta[i]);
    free(f->meta);
    free(f->shards);
    free(f->tensors);
    free(f->shard_of);
    free(f->by_name);
    free(f->path);
    free(f);
}
