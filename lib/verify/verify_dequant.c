/*
 * verify_dequant.c — plain weights out of quantized ones: a whole dequantized model
 * directory (qtip-verify --dequantize) or one layer artifact's W_hat
 * (qtip-verify --artifact). Both decode with the artifact's decoder, so both give
 * the same bytes for the same layer.
 */
#include "verify/verify_internal.h"
#include "io/model_dir_internal.h"
#include "pack/pack_internal.h"

#include <string.h>

typedef struct {
    char name[1200]; /* "<prefix>.weight" */
    int64_t shape[2];
    void *data;
} deq_item;

struct deq_set {
    qtip_dtype dt;
    deq_item *items;
    size_t n;
};

deq_set *deq_set_new(qtip_dtype dt)
{
    deq_set *s = qtip_calloc(1, sizeof *s, "dequantized weights");
    if (s) s->dt = dt;
    return s;
}

void deq_set_free(deq_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->items[i].data);
    free(s->items);
    free(s);
}

qtip_status deq_set_add(deq_set *s, const char *pre, const float *W, int64_t m, int64_t n)
{
    size_t cnt = (size_t)(m * n);
    deq_item *it = realloc(s->items, (s->n + 1) * sizeof *it);
    QTIP_RETURN_ERROR_IF(!it, QTIP_E_NOMEM, "out of memory keeping dequantized weights");
    s->items = it;
    void *h = qtip_alloc(cnt, qtip_dtype_size(s->dt), "dequantized weight");
    if (!h) return QTIP_E_NOMEM;
    qtip_status st = qtip_convert_from_f32(s->dt, W, cnt, h);
    if (st) { free(h); return st; }
    it = &s->items[s->n++];
    snprintf(it->name, sizeof it->name, "%s.weight", pre);
    it->shape[0] = m;
    it->shape[1] = n;
    it->data = h;
    return QTIP_OK;
}

/* The weight of the layer whose packed tensor is `name`, once per layer. */
static const deq_item *take_item(const deq_set *s, const char *name, unsigned char *done)
{
    size_t pl = (size_t)(strrchr(name, '.') - name);
    for (size_t k = 0; k < s->n; k++) {
        const deq_item *it = &s->items[k];
        if (done[k] || strlen(it->name) != pl + 7 || strncmp(it->name, name, pl) != 0) continue;
        done[k] = 1;
        return it;
    }
    return NULL;
}

/* The packed file order, a dequantized weight at its layer's first tensor; anything
 * else under a layer's prefix (the linear's bias) is copied like every other tensor. */
static qtip_status deq_tensors(qtip_model_writer *w, const vdir *d, const deq_set *s)
{
    unsigned char *done = qtip_calloc(s->n ? s->n : 1, 1, "flags");
    if (!done) return QTIP_E_NOMEM;
    qtip_status st = QTIP_OK;
    for (size_t i = 0; i < qtip_st_count(d->st) && !st; i++) {
        const qtip_tensor_view *v = qtip_st_tensor(d->st, i);
        if (!vdir_is_packed(d, v->name)) {
            st = qtip_model_writer_tensor(w, v->name, v->dtype, v->ndim, v->shape, v->data, 0);
            continue;
        }
        const deq_item *it = take_item(s, v->name, done);
        if (it) st = qtip_model_writer_tensor(w, it->name, s->dt, 2, it->shape, it->data, 0);
    }
    free(done);
    return st ? st : qtip_model_writer_tensors_done(w);
}

/* Files of the packed directory that the plain model does not take verbatim. */
static int not_copied(const char *nm)
{
    size_t l = strlen(nm);
    return strcmp(nm, "config.json") == 0 || strcmp(nm, "quantize_config.json") == 0 ||
           strcmp(nm, "quantization_config.json") == 0 || strcmp(nm, "model.safetensors.index.json") == 0 ||
           (l > 12 && strcmp(nm + l - 12, ".safetensors") == 0);
}

static qtip_status deq_files(qtip_model_writer *w, const vdir *d)
{
    json_t *c = json_deep_copy(d->cfg);
    json_object_del(c, "quantization_config");
    json_object_del(c, "quip_params");
    qtip_status s = qtip_model_writer_json(w, "config.json", c);
    json_decref(c);
    qtip_copy_item *files = NULL;
    size_t n = 0;
    if (!s) s = qtip_copy_list(d->dir, 0, not_copied, &files, &n);
    for (size_t i = 0; i < n && !s; i++) s = qtip_model_writer_copy(w, files[i].src, files[i].rel);
    qtip_copy_list_free(files, n);
    return s;
}

qtip_status write_dequantized(qtip_model_writer *w, const vdir *d, const deq_set *s)
{
    qtip_status st = deq_tensors(w, d, s);
    if (!st) st = deq_files(w, d);
    if (st) {
        qtip_model_writer_abort(w);
        return st;
    }
    return qtip_model_writer_commit(w);
}

/* --- one artifact ------------------------------------------------------------------ */

static qtip_status write_weight(const qtip_layer_artifact *a, const char *out, qtip_dtype dt)
{
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    size_t mn = (size_t)(l.m * l.n);
    float *Wr = qtip_alloc(mn, 4, "Wr"), *W = qtip_alloc(mn, 4, "W");
    void *h = qtip_alloc(mn, qtip_dtype_size(dt), "dequantized weight");
    qtip_st_writer *w = NULL;
    qtip_status s = Wr && W && h ? decode_layer(a, Wr, W) : QTIP_E_NOMEM;
    if (!s) s = qtip_convert_from_f32(dt, W, mn, h);
    if (!s) s = qtip_st_writer_create(&w);
    char pre[1024], name[1100];
    if (qtip_module_prefix_(l.tensor, pre, sizeof pre) < 0 && !s)
        s = qtip_error(QTIP_E_FORMAT, "layer artifact's tensor name is longer than %zu bytes", sizeof pre);
    snprintf(name, sizeof name, "%s.weight", pre);
    int64_t shape[2] = {l.m, l.n};
    if (!s) s = qtip_st_writer_add_ref(w, name, dt, 2, shape, h);
    if (!s) s = qtip_st_writer_write(w, out, 0);
    qtip_st_writer_free(w);
    free(Wr);
    free(W);
    free(h);
    return s;
}

qtip_status qtip_verify_artifact_dequantize(const char *artifact, const char *out, qtip_dtype dt)
{
    QTIP_RETURN_ERROR_IF(dt != QTIP_DT_F16 && dt != QTIP_DT_BF16 && dt != QTIP_DT_F32, QTIP_E_PARAM,
                         "dequantized weights are F16, BF16 or F32, not %s", qtip_dtype_name(dt));
    qtip_layer_artifact *a = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_load(artifact, &a));
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    qtip_status s = l.tensor[0] ? write_weight(a, out, dt)
                                : qtip_error(QTIP_E_FORMAT, "'%s': layer artifact names no tensor", artifact);
    qtip_layer_artifact_free(a);
    if (s) qtip_error_prefix("cannot dequantize '%s' to '%s'", artifact, out);
    return s;
}
