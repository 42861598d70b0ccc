/*
 * export_formats.c — the formats qtip-pack writes, as a table: our canonical
 * layout (docs/formats/model-dir.md) and the two loaders' layouts
 * (docs/formats/exports.md): per format the methods it holds, how a layer's
 * tensors are written and what the loader reads from config.json.
 */
#include "pack/pack_internal.h"

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

/* --- qtip (canonical) ---------------------------------------------------------- */

static qtip_status add_canonical(qtip_model_writer *w, const qtip_layer_info *l, const char *pre)
{
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

static qtip_status config_canonical(qtip_model_writer *w, const qtip_layer_info *l0, json_t *cfg, json_t *qc)
{
    (void)w;
    (void)l0;
    json_object_set_new(cfg, "quantization_config", qc);
    return QTIP_OK;
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

static qtip_status add_qtip_ref(qtip_model_writer *w, const qtip_layer_info *l, const char *pre)
{
    const qtip_trellis_params *tp = &l->params.trellis;
    int64_t m = l->m, n = l->n;
    QTIP_RETURN_ERROR_IF(tp->td_x != 16 || tp->td_y != 16 || tp->L != 16, QTIP_E_UNSUPPORTED,
                         "layer '%s': the qtip-reference loader needs L=16 and 16x16 tiles", pre);
    void *tiles;
    QTIP_FORWARD_IF_ERROR(ref_tiles(l, &tiles));
    int64_t sh[2] = {(m / 16) * (n / 16), 16 * tp->K};
    QTIP_FORWARD_IF_ERROR(add_own(w, pre, "trellis", QTIP_DT_I16, 2, sh, tiles));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "SU", QTIP_DT_F32, 1, &n, l->SU));
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
static qtip_status config_qtip_ref(qtip_model_writer *w, const qtip_layer_info *l0, json_t *cfg, json_t *qc)
{
    (void)w;
    json_decref(qc);
    if (!l0) return QTIP_OK;
    const qtip_trellis_params *tp = &l0->params.trellis;
    json_t *qp = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:b,s:n}", "codebook", "bitshift",
                           "codebook_version", 0, "L", tp->L, "K", tp->K, "V", tp->V, "tlut_bits", tp->Q,
                           "decode_mode", qtip_code_name(tp->code), "td_x", tp->td_x, "td_y", tp->td_y,
                           "split_for_tp", 0, "skip_list");
    json_object_set_new(cfg, "quip_params", qp);
    return QTIP_OK;
}

/* --- quip-for-all --------------------------------------------------------------- */

/* QuIP-for-all is written in its `use_rand: false` mode: for n = 2^e * b (b odd) it
 * uses M_n = (Had_{4b} (x) H_{2^(e-2)}) / sqrt(n), the 4b matrix from its
 * hadamard.safetensors acting on the slow index (quipsharp.md 2.1, 2.4), which is
 * our U_n exactly when our special factor is that same 4b matrix. The digest
 * verified entry-for-entry equality for these orders (124 differs); for other
 * orders QuIP-for-all would pad to a power of two or use a matrix we have not
 * checked, and its random mode needs a b x b factor (b odd) that cannot express
 * ours. Powers of two are a plain Walsh-Hadamard transform in every mode. */
static qtip_status quip_for_all_dim(const char *pre, const char *side, int64_t N)
{
    static const int64_t same[] = {12, 20, 28, 36, 52, 60, 108, 116, 140, 156, 172};
    if (N > 0 && (N & (N - 1)) == 0) return QTIP_OK;
    int64_t b = N, e = 0;
    while (b > 0 && b % 2 == 0) { b /= 2; e++; }
    int64_t K = 0;
    int p = 0;
    QTIP_RETURN_ERROR_IF(e < 2, QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld = 2^%lld * %lld cannot be exported to "
                         "quip-for-all: its Hadamard mode needs a factor 4 * %lld (it would pad to a "
                         "power of two)", pre, side, (long long)N, (long long)e, (long long)b,
                         (long long)b);
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(N, &K, &p) || K != 4 * b, QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld: our Hadamard factor is %lld, quip-for-all "
                         "uses %lld", pre, side, (long long)N, (long long)K, (long long)(4 * b));
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (same[i] == K) return QTIP_OK;
    return qtip_error(QTIP_E_UNSUPPORTED,
                      "layer '%s': %s dimension %lld needs the %lld x %lld Hadamard matrix, which is "
                      "not known to equal quip-for-all's (equal for 12, 20, 28, 36, 52, 60, 108, 116, "
                      "140, 156, 172; 124 differs)", pre, side, (long long)N, (long long)K, (long long)K);
}

static qtip_status add_quip_for_all(qtip_model_writer *w, const qtip_layer_info *l, const char *pre)
{
    int64_t m = l->m, n = l->n, sh[2];
    QTIP_FORWARD_IF_ERROR(quip_for_all_dim(pre, "output", m));
    QTIP_FORWARD_IF_ERROR(quip_for_all_dim(pre, "input", n));
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
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "SU", QTIP_DT_F32, 1, &n, l->SU));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "SV", QTIP_DT_F32, 1, &m, l->SV));
    QTIP_FORWARD_IF_ERROR(add_ref(w, pre, "Wscale", QTIP_DT_F32, 0, sh, &l->wscale));
    static const float zero = 0;
    return add_ref(w, pre, "weight", QTIP_DT_F32, 0, sh, &zero);
}

static qtip_status config_quip_for_all(qtip_model_writer *w, const qtip_layer_info *l0, json_t *cfg,
                                       json_t *qc)
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
    return l0 ? qtip_model_writer_json(w, "quantization_config.json", qc) : QTIP_OK;
}

/* --- the table ------------------------------------------------------------------- */

#define METHOD(m) (1u << (m))
static const qtip_export_row formats[] = {
    {QTIP_EXPORT_CANONICAL, "qtip", METHOD(QTIP_METHOD_TRELLIS) | METHOD(QTIP_METHOD_E8P),
     "trellis and E8P", add_canonical, config_canonical},
    {QTIP_EXPORT_QTIP_REF, "qtip-reference", METHOD(QTIP_METHOD_TRELLIS), "trellis", add_qtip_ref,
     config_qtip_ref},
    {QTIP_EXPORT_QUIP_FOR_ALL, "quip-for-all", METHOD(QTIP_METHOD_E8P), "E8P", add_quip_for_all,
     config_quip_for_all},
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
