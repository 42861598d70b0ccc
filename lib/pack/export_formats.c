/*
 * export_formats.c — the formats qtip-pack writes, as a table: our canonical
 * layout (docs/formats/model-dir.md) and the two loaders' layouts
 * (docs/formats/exports.md): per format the methods it holds, how a layer's
 * tensors are written and what the loader reads from config.json.
 */
#include "pack/pack_internal.h"

#include <math.h>
#include <string.h>

/* "<pre>.<suf>" from the caller's array (it lives until the model is written). */
static qtip_status add_ref(qtip_model_writer *w, const char *pre, const char *suf, qtip_dtype dt,
                           int ndim, const int64_t *shape, const void *data)
{
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.%s", pre, suf);
    return qtip_model_writer_tensor(w, nm, dt, ndim, shape, data, 0);
}

/* "<pre>.<suf>" from a new array handed to the writer (NULL: out of memory). */
static qtip_status add_own(qtip_model_writer *w, const char *pre, const char *suf, qtip_dtype dt,
                           int ndim, const int64_t *shape, void *data)
{
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.%s", pre, suf);
    QTIP_RETURN_ERROR_IF(!data, QTIP_E_NOMEM, "out of memory packing '%s'", nm);
    return qtip_model_writer_tensor(w, nm, dt, ndim, shape, data, 1);
}

/* "<pre>.<suf>", `count` floats written in `dt` (F32: the caller's array). A value
 * the narrower dtype cannot hold is refused, naming the tensor. */
static qtip_status add_scales(qtip_model_writer *w, const char *pre, const char *suf, qtip_dtype dt,
                              int64_t count, const float *v)
{
    if (dt == QTIP_DT_F32) return add_ref(w, pre, suf, dt, 1, &count, v);
    uint16_t *h = qtip_alloc((size_t)count, 2, "scales");
    if (!h) return add_own(w, pre, suf, dt, 1, &count, NULL);
    qtip_status s = qtip_convert_from_f32(dt, v, (size_t)count, h);
    for (int64_t i = 0; !s && i < count; i++) {
        float back = dt == QTIP_DT_F16 ? qtip_f16_to_f32(h[i]) : qtip_bf16_to_f32(h[i]);
        if (!isfinite(back))
            s = qtip_error(QTIP_E_UNSUPPORTED, "tensor '%s.%s': value %g at %lld does not fit the "
                           "model's dtype %s", pre, suf, (double)v[i], (long long)i, qtip_dtype_name(dt));
    }
    if (s) { free(h); return s; }
    return add_own(w, pre, suf, dt, 1, &count, h);
}

qtip_status qtip_export_model_dtype_(const json_t *cfg, const char *where, qtip_dtype *dt)
{
    static const struct { const char *name; qtip_dtype dt; } names[] = {
        {"float16", QTIP_DT_F16}, {"half", QTIP_DT_F16}, {"bfloat16", QTIP_DT_BF16},
        {"float32", QTIP_DT_F32}, {"float", QTIP_DT_F32}};
    const json_t *j = json_object_get(cfg, "torch_dtype");
    if (!j || json_is_null(j)) j = json_object_get(cfg, "dtype");
    *dt = QTIP_DT_F16;
    if (!j || json_is_null(j)) return QTIP_OK;
    const char *v = json_string_value(j);
    if (v && strncmp(v, "torch.", 6) == 0) v += 6;
    for (size_t i = 0; v && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0) { *dt = names[i].dt; return QTIP_OK; }
    return qtip_error(QTIP_E_UNSUPPORTED, "%s: torch_dtype %s: the loaders hold float16, bfloat16 or "
                      "float32 scales", where, v ? v : "(not a string)");
}

/* --- qtip (canonical) ---------------------------------------------------------- */

static qtip_status add_canonical(qtip_model_writer *w, const qtip_layer_info *l, const char *pre,
                                 const qtip_export_ctx *cx)
{
    (void)cx; /* our format keeps F32 scales */
    int64_t m = l->m, n = l->n, sh[2] = {m, l->code_cols};
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "qtip_codes", l->code_is_i32 ? QTIP_DT_I32 : QTIP_DT_I16, 2,
                                  sh, l->codes));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "SU", QTIP_DT_F32, 1, &n, l->SU));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "SV", QTIP_DT_F32, 1, &m, l->SV));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "Wscale", QTIP_DT_F32, 0, sh, &l->wscale));
    if (!l->tlut || !l->tlut_rows) return QTIP_OK;
    int64_t ts[2] = {(int64_t)l->tlut_rows, (int64_t)l->tlut_cols};
    return add_ref(w, pre, "tlut", QTIP_DT_F32, 2, ts, l->tlut);
}

static qtip_status check_canonical(const qtip_layer_info *l, const char *pre)
{
    (void)l;
    (void)pre;
    return QTIP_OK;
}

static void config_canonical(const qtip_layer_info *l0, json_t *cfg, json_t *qc)
{
    (void)l0;
    json_object_set_new(cfg, "quantization_config", qc);
}

/* --- qtip-reference ------------------------------------------------------------ */

/* The reference's `trellis` tensor: per-tile streams, swizzled for its kernels
 * when the configuration is the one they run. */
static qtip_status ref_tiles(const qtip_layer_info *l, void **out)
{
    const qtip_trellis_params *tp = &l->params.trellis;
    size_t words = (size_t)(l->m * l->n * tp->K / 16);
    uint16_t *tiles = qtip_alloc(words, 2, "trellis tiles");
    if (!tiles) return QTIP_E_NOMEM;
    qtip_status st = qtip_pack_trellis_to_tiles(l->codes, l->m, l->n, tp->K, tiles);
    if (!st && qtip_trellis_tile_is_mma(tp)) {
        int16_t *k = qtip_alloc(words, 2, "kernel layout");
        st = k ? qtip_pack_trellis_kernel_swizzle(tiles, l->m, l->n, tp->K, k) : QTIP_E_NOMEM;
        free(tiles);
        tiles = (uint16_t *)k;
    }
    if (st) free(tiles);
    *out = st ? NULL : tiles;
    return st;
}

/* SU in the model's dtype, SV (carrying Wscale) in F32: the buffers its
 * QuantizedLinear registers (qtip.md 6.4). */
static qtip_status add_qtip_ref(qtip_model_writer *w, const qtip_layer_info *l, const char *pre,
                                const qtip_export_ctx *cx)
{
    const qtip_trellis_params *tp = &l->params.trellis;
    int64_t m = l->m, n = l->n;
    QTIP_RETURN_ERROR_IF(tp->td_x != 16 || tp->td_y != 16 || tp->L != 16, QTIP_E_UNSUPPORTED,
                         "layer '%s': the qtip-reference loader needs L=16 and 16x16 tiles", pre);
    void *tiles;
    QTIP_FORWARD_IF_ERROR(ref_tiles(l, &tiles));
    int64_t sh[2] = {(m / 16) * (n / 16), 16 * tp->K};
    QTIP_FORWARD_IF_ERROR(add_own(w, pre, "trellis", QTIP_DT_I16, 2, sh, tiles));
    QTIP_FORWARD_IF_ERROR(add_scales(w, pre, "SU", cx->model_dtype, n, l->SU));
    float *sv = qtip_alloc((size_t)m, 4, "SV");
    for (int64_t i = 0; sv && i < m; i++) sv[i] = l->SV[i] * l->wscale; /* SV carries Wscale */
    QTIP_FORWARD_IF_ERROR(add_own(w, pre, "SV", QTIP_DT_F32, 1, &m, sv));
    if (l->tlut && l->tlut_rows) {
        size_t cnt = l->tlut_rows * l->tlut_cols;
        uint16_t *h = qtip_alloc(cnt, 2, "tlut");
        for (size_t i = 0; h && i < cnt; i++) h[i] = qtip_f32_to_f16(l->tlut[i]);
        int64_t ts[2] = {(int64_t)l->tlut_rows, (int64_t)l->tlut_cols};
        QTIP_FORWARD_IF_ERROR(add_own(w, pre, "tlut", QTIP_DT_F16, 2, ts, h));
    }
    int64_t *rcp = qtip_calloc(1, 8, "rcp"), *tp_rank = qtip_calloc(1, 8, "tp_rank");
    if (tp_rank) *tp_rank = 8;
    qtip_status s = add_own(w, pre, "rcp", QTIP_DT_I64, 0, sh, rcp);
    if (s) free(tp_rank);
    return s ? s : add_own(w, pre, "tp_rank", QTIP_DT_I64, 0, sh, tp_rank);
}

/* The QTIP reference reads quip_params only, and its model classes load through
 * transformers' from_pretrained, which raises "Unknown quantization type" for a
 * quantization_config whose quant_method it does not know (at least in its
 * late-2024 releases); that export keeps its settings in quantize_config.json. */
static void config_qtip_ref(const qtip_layer_info *l0, json_t *cfg, json_t *qc)
{
    json_decref(qc);
    if (!l0) return;
    const qtip_trellis_params *tp = &l0->params.trellis;
    json_t *qp = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:b,s:n}", "codebook", "bitshift",
                           "codebook_version", 0, "L", tp->L, "K", tp->K, "V", tp->V, "tlut_bits", tp->Q,
                           "decode_mode", qtip_code_name(tp->code), "td_x", tp->td_x, "td_y", tp->td_y,
                           "split_for_tp", 0, "skip_list");
    json_object_set_new(cfg, "quip_params", qp);
}

/* --- quip-for-all --------------------------------------------------------------- */

/* QuIP-for-all is written in its `use_rand: false` mode: for n = 2^e * b (b odd) it
 * uses M_n = (Had_{4b} (x) H_{2^(e-2)}) / sqrt(n), the 4b matrix from its
 * hadamard.safetensors acting on the slow index (quipsharp.md 2.1, 2.4), which is
 * our U_n exactly when our special factor is that same 4b matrix
 * (qtip_export_check_quip_for_all_). SU and SV in the model's dtype, as its
 * QuantLinear declares them; Wscale stays F32 (registered F32; the loader casts). */
static qtip_status add_quip_for_all(qtip_model_writer *w, const qtip_layer_info *l, const char *pre,
                                    const qtip_export_ctx *cx)
{
    int64_t m = l->m, n = l->n, sh[2];
    qtip_dtype dt;
    QTIP_FORWARD_IF_ERROR(qtip_pack_qidxs_shape(l->params.e8p, m, n, sh, &dt));
    size_t cnt = (size_t)(m * n / 8);
    uint32_t *codes = qtip_alloc(cnt, 4, "E8P codes");
    void *q = qtip_alloc((size_t)(sh[0] * sh[1]), qtip_dtype_size(dt), "Qidxs");
    if (!codes || !q) { free(codes); free(q); return QTIP_E_NOMEM; }
    for (size_t i = 0; i < cnt; i++)
        codes[i] = l->code_is_i32 ? ((const uint32_t *)l->codes)[i] : ((const uint16_t *)l->codes)[i];
    qtip_status st = qtip_e8p_pack_qidxs(l->params.e8p, codes, (size_t)m, (size_t)n, q);
    free(codes);
    if (st) { free(q); return st; }
    QTIP_FORWARD_IF_ERROR(add_own(w, pre, "Qidxs", dt, 2, sh, q));
    QTIP_FORWARD_IF_ERROR(add_scales(w, pre, "SU", cx->model_dtype, n, l->SU));
    QTIP_FORWARD_IF_ERROR(add_scales(w, pre, "SV", cx->model_dtype, m, l->SV));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "Wscale", QTIP_DT_F32, 0, sh, &l->wscale));
    static const float zero = 0;
    return add_ref(w, pre, "weight", QTIP_DT_F32, 0, sh, &zero);
}

static void config_quip_for_all(const qtip_layer_info *l0, json_t *cfg, json_t *qc)
{
    if (l0) {
        qtip_e8p_kind k = l0->params.e8p; /* names and dtypes: the E8P kinds table */
        json_decref(qc);
        /* use_rand false: Hadamard factors from its file (see quip_for_all_dim) */
        qc = json_pack("{s:s,s:b,s:b,s:s,s:i,s:s,s:b,s:b,s:n}", "quant_method", "QUiP", "rescale_WH", 0,
                       "use_rand", 0, "codebook", qtip_e8p_config_name(k), "codesz", 8, "idx_dtype",
                       qtip_e8p_qidxs_elem_size(k) == 2 ? "torch.int16" : "torch.int32", "merge_suv", 0,
                       "per_channel", 0, "modules_to_not_convert");
        /* never its default -1 (quipsharp.md 1.6); a kind without a residual stage has none (0) */
        const double ors = qtip_e8p_opt_resid_scale(k);
        json_object_set_new(qc, "opt_resid_scale", ors == 0 ? json_null() : json_real(ors));
    }
    json_object_set_new(cfg, "quantization_config", qc);
}

/* --- the table ------------------------------------------------------------------- */

#define METHOD(m) (1u << (m))
static const char *const canonical_tensors[] = {"qtip_codes", "SU", "SV", "Wscale", "tlut", NULL};
static const char *const qtip_ref_tensors[] = {"trellis", "SU", "SV", "tlut", "rcp", "tp_rank", NULL};
static const char *const quip_for_all_tensors[] = {"Qidxs", "SU", "SV", "Wscale", "weight", NULL};
static const qtip_export_row formats[] = {
    {QTIP_EXPORT_CANONICAL, "qtip", METHOD(QTIP_METHOD_TRELLIS) | METHOD(QTIP_METHOD_E8P),
     "trellis and E8P", canonical_tensors, check_canonical, add_canonical, config_canonical, NULL},
    {QTIP_EXPORT_QTIP_REF, "qtip-reference", METHOD(QTIP_METHOD_TRELLIS), "trellis", qtip_ref_tensors,
     qtip_export_check_qtip_ref_, add_qtip_ref, config_qtip_ref, NULL},
    {QTIP_EXPORT_QUIP_FOR_ALL, "quip-for-all", METHOD(QTIP_METHOD_E8P), "E8P", quip_for_all_tensors,
     qtip_export_check_quip_for_all_, add_quip_for_all, config_quip_for_all, "quantization_config.json"},
};
#define NFORMATS (sizeof formats / sizeof formats[0])

const qtip_export_row *qtip_export_row_(qtip_export_format f)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].format == f) return &formats[i];
    return NULL;
}

const char *qtip_export_format_name(qtip_export_format f)
{
    const qtip_export_row *r = qtip_export_row_(f);
    return r ? r->name : NULL;
}
