/*
 * verify_export.c — qtip-verify of the two export formats (docs/formats/exports.md):
 * the loader-facing config rebuilt from the layers' settings and compared, and
 * each layer's exported tensors decoded with the format's conventions back into
 * the canonical description, so that the library's one decoder measures it like
 * a canonical layer. The inverse layouts are lib/pack/export_qtip_ref.c's and the
 * E8P kinds table's; the checksums recorded at pack time cover every tensor.
 */
#include "io/io_internal.h"
#include "ldlq/quant_internal.h"
#include "verify/verify_internal.h"

#include <string.h>

/* The first top-level field where `got` differs from `want` (NULL: equal). */
static const char *first_difference(const json_t *want, const json_t *got)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)want, key, val)
        if (!json_equal(val, json_object_get(got, key))) return key;
    json_object_foreach((json_t *)got, key, val)
        if (!json_object_get(want, key)) return key;
    return NULL;
}

/* config.json's loader fields against what qtip-pack writes for the settings of
 * the model's (any) layer: one setting per export (qtip-pack refuses mixed). */
static qtip_status check_loader_config(const vdir *d)
{
    void *it = json_object_iter(d->layers);
    if (!it) return QTIP_OK;
    qtip_layer_info l0;
    memset(&l0, 0, sizeof l0);
    char where[1200];
    snprintf(where, sizeof where, "'%s/quantize_config.json': layer '%s'", d->dir, json_object_iter_key(it));
    QTIP_FORWARD_IF_ERROR(qtip_loader_settings_from_json_(json_object_iter_value(it), where, &l0.params));
    json_t *want = json_deep_copy(d->cfg);
    QTIP_RETURN_ERROR_IF(!want, QTIP_E_NOMEM, "out of memory checking '%s/config.json'", d->dir);
    json_object_del(want, "quip_params");
    json_object_del(want, "quantization_config");
    d->fmt->config(&l0, want, json_object());
    const char *diff = first_difference(want, d->cfg);
    qtip_status s = diff ? qtip_error(QTIP_E_MISMATCH, "'%s/config.json': field '%s' is not what the %s "
                                      "loader needs for the layers' settings (quantize_config.json)",
                                      d->dir, diff, d->fmt->name)
                         : QTIP_OK;
    json_t *copy = NULL;
    if (!s && d->fmt->config_copy) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", d->dir, d->fmt->config_copy);
        s = io_read_json_object(p, &copy);
        if (!s && !json_equal(copy, json_object_get(d->cfg, "quantization_config")))
            s = qtip_error(QTIP_E_MISMATCH, "'%s' differs from config.json's quantization_config", p);
    }
    json_decref(copy);
    json_decref(want);
    return s;
}

qtip_status vexport_check_top(vdir *d)
{
    json_t *lv = json_object_get(d->qc, "layout_version");
    QTIP_RETURN_ERROR_IF(json_integer_value(lv) != QTIP_PACK_LAYOUT_VERSION, QTIP_E_FORMAT,
                         "'%s/quantize_config.json': layout_version %lld, expected %d", d->dir,
                         (long long)json_integer_value(lv), QTIP_PACK_LAYOUT_VERSION);
    QTIP_RETURN_ERROR_IF(!json_is_object(d->layers), QTIP_E_FORMAT,
                         "'%s/quantize_config.json' has no 'layers' object", d->dir);
    d->top = d->qc; /* the model's settings: quantize_config.json keeps ours */
    d->mixed = 0;   /* an export holds one setting per model */
    char where[1100];
    snprintf(where, sizeof where, "'%s/config.json'", d->dir);
    qtip_status s = qtip_export_model_dtype_(d->cfg, where, &d->model_dtype);
    if (s) return s == QTIP_E_UNSUPPORTED ? QTIP_E_FORMAT : s; /* a defect of this directory */
    return check_loader_config(d);
}

void vexport_free(vexport_arrays *a)
{
    free(a->codes);
    free(a->SU);
    free(a->SV);
    free(a->tlut);
    memset(a, 0, sizeof *a);
}

/* A 1-D (or 2-D with rows) float tensor of any float dtype as new F32 floats. */
static qtip_status read_floats(const vdir *d, const char *pre, const char *suf, qtip_dtype dt, int ndim,
                               const int64_t *shape, float **out)
{
    const qtip_tensor_view *v;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, suf, dt, ndim, shape, &v));
    size_t cnt = v->nbytes / qtip_dtype_size(dt);
    *out = qtip_alloc(cnt ? cnt : 1, 4, suf);
    QTIP_RETURN_ERROR_IF(!*out, QTIP_E_NOMEM, "out of memory reading '%s.%s'", pre, suf);
    return qtip_convert_to_f32(dt, v->data, cnt, *out);
}

/* An int64 scalar that must hold `want` (its loader's non-TP mode). */
static qtip_status want_i64(const vdir *d, const char *pre, const char *suf, int64_t want)
{
    const qtip_tensor_view *v;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, suf, QTIP_DT_I64, 0, NULL, &v));
    int64_t x;
    memcpy(&x, v->data, 8);
    QTIP_RETURN_ERROR_IF(x != want, QTIP_E_MISMATCH, "tensor '%s.%s' is %lld, qtip-pack writes %lld", pre,
                         suf, (long long)x, (long long)want);
    return QTIP_OK;
}

/* qtip-reference (qtip.md 6.2, 6.4): the trellis tiles (kernel layout for the
 * configuration its kernels run) back to canonical words; SV carries Wscale. */
static qtip_status read_qtip_ref(const vdir *d, const char *pre, qtip_layer_info *l, vexport_arrays *o)
{
    const qtip_trellis_params *tp = &l->params.trellis;
    int64_t m = l->m, n = l->n, sh[2] = {(m / 16) * (n / 16), 16 * (int64_t)tp->K};
    QTIP_RETURN_ERROR_IF(tp->td_x != 16 || tp->td_y != 16 || tp->L != 16 || m % 16 || n % 16,
                         QTIP_E_FORMAT, "layer '%s': settings or shape the qtip-reference format "
                         "cannot hold (it needs L=16, 16x16 tiles)", pre);
    const qtip_tensor_view *v;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "trellis", QTIP_DT_I16, 2, sh, &v));
    size_t words = (size_t)(sh[0] * sh[1]);
    uint16_t *tiles = qtip_alloc(words, 2, "trellis");
    o->codes = qtip_alloc((size_t)(m * l->code_cols), 2, "codes");
    qtip_status s = tiles && o->codes ? QTIP_OK : QTIP_E_NOMEM;
    if (!s) memcpy(tiles, v->data, words * 2);
    if (!s && qtip_trellis_tile_is_mma(tp)) {
        int16_t *k = qtip_alloc(words, 2, "kernel layout");
        if (k) memcpy(k, tiles, words * 2);
        s = k ? qtip_pack_trellis_kernel_unswizzle(k, m, n, tp->K, tiles) : QTIP_E_NOMEM;
        free(k);
    }
    if (!s) s = qtip_pack_trellis_from_tiles(tiles, m, n, tp->K, o->codes);
    free(tiles);
    if (s) { qtip_error_prefix("tensor '%s.trellis'", pre); return s; }
    l->codes = o->codes;
    QTIP_FORWARD_IF_ERROR(read_floats(d, pre, "SU", d->model_dtype, 1, &n, &o->SU));
    QTIP_FORWARD_IF_ERROR(read_floats(d, pre, "SV", QTIP_DT_F32, 1, &m, &o->SV));
    l->SU = o->SU;
    l->SV = o->SV;
    l->wscale = 1;
    QTIP_FORWARD_IF_ERROR(want_i64(d, pre, "rcp", 0));
    QTIP_FORWARD_IF_ERROR(want_i64(d, pre, "tp_rank", 8));
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.tlut", pre);
    if (!(v = qtip_st_find(d->st, nm))) return QTIP_OK; /* the artifact checks whether one is needed */
    QTIP_RETURN_ERROR_IF(v->ndim != 2, QTIP_E_FORMAT, "tensor '%s' has %d dimensions, expected 2", nm, v->ndim);
    QTIP_FORWARD_IF_ERROR(read_floats(d, pre, "tlut", QTIP_DT_F16, 2, v->shape, &o->tlut));
    l->tlut = o->tlut;
    l->tlut_rows = (size_t)v->shape[0];
    l->tlut_cols = (size_t)v->shape[1];
    return QTIP_OK;
}

/* quip-for-all (quipsharp.md 5.1), use_rand false: Qidxs by kind back to codes; no
 * had_left / had_right (its random mode). */
static qtip_status read_quip_for_all(const vdir *d, const char *pre, qtip_layer_info *l, vexport_arrays *o)
{
    int64_t m = l->m, n = l->n, sh[2];
    qtip_dtype dt;
    QTIP_FORWARD_IF_ERROR(qtip_pack_qidxs_shape(l->params.e8p, m, n, sh, &dt));
    const qtip_tensor_view *v;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "Qidxs", dt, 2, sh, &v));
    size_t cnt = (size_t)(m * n / 8);
    void *q = qtip_alloc(v->nbytes, 1, "Qidxs");
    uint32_t *codes = qtip_alloc(cnt, 4, "E8P codes");
    o->codes = qtip_alloc(cnt, l->code_is_i32 ? 4 : 2, "codes");
    qtip_status s = q && codes && o->codes ? QTIP_OK : QTIP_E_NOMEM;
    if (!s) memcpy(q, v->data, v->nbytes);
    if (!s) s = qtip_e8p_unpack_qidxs(l->params.e8p, q, (size_t)m, (size_t)n, codes);
    for (size_t i = 0; !s && i < cnt; i++) {
        if (l->code_is_i32) ((uint32_t *)o->codes)[i] = codes[i];
        else ((uint16_t *)o->codes)[i] = (uint16_t)codes[i];
    }
    free(q);
    free(codes);
    if (s) { qtip_error_prefix("tensor '%s.Qidxs'", pre); return s; }
    l->codes = o->codes;
    QTIP_FORWARD_IF_ERROR(read_floats(d, pre, "SU", d->model_dtype, 1, &n, &o->SU));
    QTIP_FORWARD_IF_ERROR(read_floats(d, pre, "SV", d->model_dtype, 1, &m, &o->SV));
    l->SU = o->SU;
    l->SV = o->SV;
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "Wscale", QTIP_DT_F32, 0, NULL, &v));
    memcpy(&l->wscale, v->data, 4);
    QTIP_FORWARD_IF_ERROR(vdir_want_tensor(d, pre, "weight", QTIP_DT_F32, 0, NULL, &v));
    static const char *const random_mode[] = {"had_left", "had_right"};
    char nm[1200];
    for (int k = 0; k < 2; k++) {
        snprintf(nm, sizeof nm, "%s.%s", pre, random_mode[k]);
        QTIP_RETURN_ERROR_IF(qtip_st_find(d->st, nm), QTIP_E_FORMAT, "tensor '%s' belongs to quip-for-all's "
                             "random mode; this export is written in use_rand false mode", nm);
    }
    return QTIP_OK;
}

qtip_status vexport_layer_tensors(const vdir *d, const char *pre, qtip_layer_info *l, vexport_arrays *owned)
{
    QTIP_RETURN_ERROR_IF(!(d->fmt->methods & (1u << l->params.method)), QTIP_E_FORMAT,
                         "layer '%s': the %s format holds %s layers only", pre, d->fmt->name, d->fmt->holds);
    return d->fmt->format == QTIP_EXPORT_QTIP_REF ? read_qtip_ref(d, pre, l, owned)
                                                  : read_quip_for_all(d, pre, l, owned);
}
