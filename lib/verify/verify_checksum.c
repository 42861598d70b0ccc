/*
 * verify_checksum.c — what qtip-verify checks byte for byte: every tensor against
 * the checksum recorded at pack time (no original needed; a layer's packed
 * tensors after their structure, so a message names the real defect), copied
 * tensors against the original, and each layer's recorded weights checksum
 * against the original's files.
 */
#include "io/io_internal.h"
#include "verify/verify_internal.h"
#include "pack/pack_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

qtip_status verify_checksum_table(const vdir *d)
{
    json_t *rec = json_object_get(d->qc, "tensor_checksums");
    QTIP_RETURN_ERROR_IF(!json_is_object(rec), QTIP_E_FORMAT,
                         "'%s/quantize_config.json' has no 'tensor_checksums' object (packed by an "
                         "older qtip? pack it again)", d->dir);
    const char *key;
    json_t *val;
    json_object_foreach(rec, key, val)
        QTIP_RETURN_ERROR_IF(!qtip_st_find(d->st, key), QTIP_E_NOT_FOUND,
                             "'%s': tensor '%s' is missing (recorded in quantize_config.json)", d->dir, key);
    for (size_t i = 0; i < qtip_st_count(d->st); i++) {
        const char *name = qtip_st_tensor(d->st, i)->name;
        QTIP_RETURN_ERROR_IF(!json_is_string(json_object_get(rec, name)), QTIP_E_MISMATCH,
                             "'%s': tensor '%s' has no checksum in quantize_config.json", d->dir, name);
    }
    return QTIP_OK;
}

qtip_status verify_tensor_checksum(const vdir *d, const qtip_tensor_view *v)
{
    json_t *rec = json_object_get(d->qc, "tensor_checksums");
    const char *want = json_string_value(json_object_get(rec, v->name));
    char ck[QTIP_CHECKSUM_STRLEN];
    qtip_checksum_buffer(v->data, v->nbytes, ck);
    QTIP_RETURN_ERROR_IF(!want || strcmp(ck, want) != 0, QTIP_E_MISMATCH,
                         "'%s': tensor '%s': checksum mismatch: %s, recorded at pack time %s",
                         d->dir, v->name, ck, want ? want : "none");
    return QTIP_OK;
}

/* Whether the original's tensor `name` is the weight of a quantized layer. */
static int is_quantized_weight(const vdir *d, const char *name)
{
    char pre[1024];
    return qtip_module_prefix_(name, pre, sizeof pre) == 1 && json_object_get(d->layers, pre) != NULL;
}

qtip_status verify_copied_tensors(const vdir *d)
{
    for (size_t i = 0; i < qtip_st_count(d->st); i++) {
        const qtip_tensor_view *v = qtip_st_tensor(d->st, i);
        if (vdir_is_packed(d, v->name)) continue;
        QTIP_FORWARD_IF_ERROR(verify_tensor_checksum(d, v));
        if (!d->orig) continue;
        const qtip_tensor_view *o = qtip_st_find(d->orig, v->name);
        QTIP_RETURN_ERROR_IF(!o, QTIP_E_MISMATCH, "'%s': tensor '%s' is not in the original model",
                             d->dir, v->name);
        int same = o->dtype == v->dtype && o->ndim == v->ndim && o->nbytes == v->nbytes;
        for (int k = 0; same && k < v->ndim; k++) same = o->shape[k] == v->shape[k];
        QTIP_RETURN_ERROR_IF(!same, QTIP_E_MISMATCH,
                             "'%s': copied tensor '%s' is %s with %d dimensions, the original's is %s "
                             "with %d", d->dir, v->name, qtip_dtype_name(v->dtype), v->ndim,
                             qtip_dtype_name(o->dtype), o->ndim);
        QTIP_RETURN_ERROR_IF(memcmp(o->data, v->data, v->nbytes) != 0, QTIP_E_MISMATCH,
                             "'%s': copied tensor '%s' differs from the original's", d->dir, v->name);
    }
    for (size_t i = 0; d->orig && i < qtip_st_count(d->orig); i++) {
        const char *nm = qtip_st_tensor(d->orig, i)->name;
        QTIP_RETURN_ERROR_IF(!is_quantized_weight(d, nm) && !qtip_st_find(d->st, nm), QTIP_E_MISMATCH,
                             "'%s': tensor '%s' of the original model is missing", d->dir, nm);
    }
    return QTIP_OK;
}

/* --- weights checksum recorded at quantization -------------------------------
 * The artifact records the checksum of the file qtip-quantize read the tensor
 * from: model.safetensors for a single-file model; for a sharded model the shard
 * holding the tensor (quantizing from that shard), or the index file (quantizing
 * from the directory). */
struct ck_cache {
    char (*path)[8192];
    char (*ck)[QTIP_CHECKSUM_STRLEN];
    size_t n;
    json_t *index; /* weight_map of the original's index, when sharded */
};

ck_cache *ck_cache_new(void) { return qtip_calloc(1, sizeof(ck_cache), "checksum cache"); }

void ck_cache_free(ck_cache *c)
{
    if (!c) return;
    free(c->path);
    free(c->ck);
    json_decref(c->index);
    free(c);
}

static qtip_status cached_checksum(ck_cache *c, const char *path, const char **out)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->path[i], path) == 0) { *out = c->ck[i]; return QTIP_OK; }
    char(*p)[8192] = realloc(c->path, (c->n + 1) * sizeof *p);
    if (p) c->path = p;
    char(*k)[QTIP_CHECKSUM_STRLEN] = realloc(c->ck, (c->n + 1) * sizeof *k);
    if (k) c->ck = k;
    QTIP_RETURN_ERROR_IF(!p || !k, QTIP_E_NOMEM, "out of memory checking checksums");
    size_t pl = strlen(path);
    QTIP_RETURN_ERROR_IF(pl >= sizeof c->path[c->n], QTIP_E_PARAM, "path too long: '%s'", path);
    memcpy(c->path[c->n], path, pl + 1);
    QTIP_FORWARD_IF_ERROR(qtip_checksum_file(path, c->ck[c->n]));
    *out = c->ck[c->n++];
    return QTIP_OK;
}

static qtip_status load_index(ck_cache *c, const char *idx)
{
    if (c->index) return QTIP_OK;
    json_t *j;
    QTIP_FORWARD_IF_ERROR(io_read_json_object(idx, &j));
    c->index = json_incref(json_object_get(j, "weight_map"));
    json_decref(j);
    QTIP_RETURN_ERROR_IF(!json_is_object(c->index), QTIP_E_FORMAT, "'%s' has no 'weight_map' object", idx);
    return QTIP_OK;
}

/* The files of the original the weights checksum may have been taken of. */
static qtip_status candidates(const char *orig, const char *wn, ck_cache *c, char cand[2][8192], int *nc)
{
    struct stat sb;
    *nc = 0;
    QTIP_RETURN_ERROR_IF(stat(orig, &sb) != 0, QTIP_E_IO, "cannot read original '%s': %s", orig,
                         strerror(errno));
    if (S_ISREG(sb.st_mode)) {
        snprintf(cand[(*nc)++], 8192, "%s", orig);
        return QTIP_OK;
    }
    char idx[4096];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", orig);
    if (stat(idx, &sb) != 0) {
        snprintf(cand[(*nc)++], 8192, "%s/model.safetensors", orig);
        return QTIP_OK;
    }
    QTIP_FORWARD_IF_ERROR(load_index(c, idx));
    const char *shard = json_string_value(json_object_get(c->index, wn));
    if (shard) snprintf(cand[(*nc)++], 8192, "%s/%s", orig, shard);
    snprintf(cand[(*nc)++], 8192, "%s", idx);
    return QTIP_OK;
}

qtip_status check_weights_checksum(const char *orig, const qtip_layer_info *l, ck_cache *c, int *ok)
{
    *ok = -1;
    if (!orig || !l->weights_checksum || !l->weights_checksum[0]) return QTIP_OK;
    char cand[2][8192], wn[1200];
    int nc;
    snprintf(wn, sizeof wn, "%s.weight", l->tensor);
    QTIP_FORWARD_IF_ERROR(candidates(orig, wn, c, cand, &nc));
    const char *ck = NULL;
    for (int i = 0; i < nc; i++) {
        QTIP_FORWARD_IF_ERROR(cached_checksum(c, cand[i], &ck));
        if (strcmp(ck, l->weights_checksum) == 0) { *ok = 1; return QTIP_OK; }
    }
    return qtip_error(QTIP_E_MISMATCH,
                      "layer '%s' was quantized from weights with checksum %s, but '%s' (holding "
                      "'%s') has %s", l->tensor, l->weights_checksum, cand[0], wn,
                      nc > 0 ? c->ck[c->n - (size_t)nc] : "none");
}
