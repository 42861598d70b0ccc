/*
 * verify.c — qtip-verify: structural checks of a packed directory, decoding of
 * every layer, errors against the original weights and Hessians, and the forward
 * check computed the way a serving engine does (transforms on activations).
 */
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qtip_verify_report {
    qtip_verify_layer *layers;
    size_t n, failures;
    char msg[1024];
};

void qtip_verify_options_default(qtip_verify_options *o)
{
    memset(o, 0, sizeof *o);
    o->forward_tol = 1e-4;
    o->dequantize_dtype = QTIP_DT_F16;
}

size_t qtip_verify_report_count(const qtip_verify_report *r) { return r->n; }
const qtip_verify_layer *qtip_verify_report_layer(const qtip_verify_report *r, size_t i)
{
    return i < r->n ? &r->layers[i] : NULL;
}
size_t qtip_verify_report_failures(const qtip_verify_report *r, const char **msg)
{
    if (msg) *msg = r->msg;
    return r->failures;
}
void qtip_verify_report_free(qtip_verify_report *r)
{
    if (!r) return;
    free(r->layers);
    free(r);
}

/* A JSON object file of `dir`: QTIP_E_IO when it cannot be read (the directory is
 * not a readable model), QTIP_E_FORMAT when it is not a JSON object. */
static qtip_status load_json(const char *dir, const char *name, json_t **out)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    void *buf;
    size_t len;
    *out = NULL;
    qtip_status s = qtip_read_file(p, &buf, &len);
    if (s) return s == QTIP_E_NOMEM ? s : QTIP_E_IO;
    json_error_t e;
    json_t *j = json_loadb(buf, len, 0, &e);
    free(buf);
    QTIP_RETURN_ERROR_IF(!j, QTIP_E_FORMAT, "cannot parse '%s': %s (line %d)", p, e.text, e.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return qtip_error(QTIP_E_FORMAT, "'%s' is not a JSON object", p);
    }
    *out = j;
    return QTIP_OK;
}

/* A tensor of `st` with the given dtype and shape, or an error naming both. */
static qtip_status want_tensor(qtip_st_file *st, const char *pre, const char *suf, qtip_dtype dt,
                               int ndim, const int64_t *shape, const qtip_tensor_view **out)
{
    char nm[1200];
    snprintf(nm, sizeof nm, "%s.%s", pre, suf);
    const qtip_tensor_view *v = qtip_st_find(st, nm);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOT_FOUND, "tensor '%s' is missing", nm);
    QTIP_RETURN_ERROR_IF(v->dtype != dt, QTIP_E_FORMAT, "tensor '%s' has dtype %s, expected %s",
                         nm, qtip_dtype_name(v->dtype), qtip_dtype_name(dt));
    int ok = v->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = v->shape[i] == shape[i];
    QTIP_RETURN_ERROR_IF(!ok, QTIP_E_SHAPE, "tensor '%s' has shape [%lld%s], expected [%lld%s]", nm,
                         (long long)(v->ndim ? v->shape[0] : 0), v->ndim > 1 ? ", ..." : "",
                         (long long)(ndim ? shape[0] : 0), ndim > 1 ? ", ..." : "");
    *out = v;
    return QTIP_OK;
}

static qtip_status finite_f32(const char *pre, const char *what, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(v[i]), QTIP_E_NONFINITE,
                             "tensor '%s.%s' has a non-finite value at %zu", pre, what, i);
    return QTIP_OK;
}

typedef struct {
    char pre[1024];
    int64_t m, n;
    qtip_family family;
    qtip_trellis_params tp;
    qtip_e8p_kind ek;
    void *codes; /* copied: int16 or int32 */
    int64_t code_cols;
    int i32;
    float *SU, *SV, *tlut, Wscale;
    size_t tlut_count;
    double recorded_proxy;
    const char *hessian_checksum;
    const char *weights_checksum;
} vlayer;

static void vlayer_free(vlayer *l)
{
    free(l->codes);
    free(l->SU);
    free(l->SV);
    free(l->tlut);
}

static qtip_status get_int(json_t *o, const char *key, const char *pre, int *out)
{
    json_t *v = json_object_get(o, key);
    QTIP_RETURN_ERROR_IF(!json_is_integer(v), QTIP_E_FORMAT,
                         "quantize_config.json: layer '%s' lacks integer field '%s'", pre, key);
    *out = (int)json_integer_value(v);
    return QTIP_OK;
}

static qtip_status copy_f32(const qtip_tensor_view *v, float **out)
{
    size_t n = v->nbytes / 4;
    *out = qtip_alloc(n ? n : 1, 4, "scales");
    if (!*out) return QTIP_E_NOMEM;
    memcpy(*out, v->data, v->nbytes);
    return QTIP_OK;
}

/* Read one layer's settings (from its quantize_config.json entry) and tensors. */
static qtip_status load_layer(qtip_st_file *st, const char *pre, json_t *o, json_t *top, int mixed,
                              vlayer *l)
{
    memset(l, 0, sizeof *l);
    snprintf(l->pre, sizeof l->pre, "%s", pre);
    json_t *shape = json_object_get(o, "shape");
    QTIP_RETURN_ERROR_IF(json_array_size(shape) != 2, QTIP_E_FORMAT,
                         "quantize_config.json: layer '%s' lacks 'shape'", pre);
    l->m = json_integer_value(json_array_get(shape, 0));
    l->n = json_integer_value(json_array_get(shape, 1));
    QTIP_RETURN_ERROR_IF(l->m <= 0 || l->n <= 0 || l->m > ((int64_t)1 << 30) || l->n > ((int64_t)1 << 30),
                         QTIP_E_FORMAT, "quantize_config.json: layer '%s' has shape [%lld, %lld]",
                         pre, (long long)l->m, (long long)l->n);
    const char *meth = json_string_value(json_object_get(o, "quant_method"));
    QTIP_RETURN_ERROR_IF(!meth, QTIP_E_FORMAT, "quantize_config.json: layer '%s' lacks 'quant_method'", pre);
    if (!mixed) {
        /* every loader field of the layer must equal the top-level one */
        const char *key;
        json_t *val;
        json_object_foreach(o, key, val) {
            json_t *t = json_object_get(top, key);
            if (!t) continue;
            QTIP_RETURN_ERROR_IF(!json_equal(t, val), QTIP_E_MISMATCH,
                                 "quantize_config.json: layer '%s' has '%s' different from the "
                                 "model's quantization_config", pre, key);
        }
    }
    json_t *pl = json_object_get(o, "proxy_loss");
    l->recorded_proxy = json_is_number(pl) ? json_number_value(pl) : NAN;
    l->hessian_checksum = json_string_value(json_object_get(o, "hessian_checksum"));
    l->weights_checksum = json_string_value(json_object_get(o, "weights_checksum"));
    const qtip_tensor_view *v;
    int64_t m = l->m, n = l->n, sh[2] = {m, 0};
    if (strcmp(meth, "qtip") == 0) {
        l->family = QTIP_FAMILY_TRELLIS;
        QTIP_FORWARD_IF_ERROR(get_int(o, "L", pre, &l->tp.L));
        QTIP_FORWARD_IF_ERROR(get_int(o, "K", pre, &l->tp.K));
        QTIP_FORWARD_IF_ERROR(get_int(o, "V", pre, &l->tp.V));
        QTIP_FORWARD_IF_ERROR(get_int(o, "tlut_bits", pre, &l->tp.Q));
        QTIP_FORWARD_IF_ERROR(get_int(o, "td_x", pre, &l->tp.td_x));
        QTIP_FORWARD_IF_ERROR(get_int(o, "td_y", pre, &l->tp.td_y));
        const char *dm = json_string_value(json_object_get(o, "decode_mode"));
        int c = dm ? qtip_code_from_name(dm) : -1;
        QTIP_RETURN_ERROR_IF(c < 0, QTIP_E_FORMAT, "quantize_config.json: layer '%s' has decode_mode '%s'",
                             pre, dm ? dm : "(none)");
        l->tp.code = (qtip_code)c;
        qtip_status s = qtip_trellis_check_params(&l->tp);
        if (s) { qtip_error_prefix("quantize_config.json: layer '%s'", pre); return s; }
        QTIP_RETURN_ERROR_IF(m % l->tp.td_x || n % l->tp.td_y, QTIP_E_SHAPE,
                             "quantize_config.json: layer '%s' shape [%lld, %lld] is not a multiple "
                             "of the %dx%d tile", pre, (long long)m, (long long)n, l->tp.td_x, l->tp.td_y);
        l->code_cols = n * l->tp.K / 16;
        sh[1] = l->code_cols;
        QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "qtip_codes", QTIP_DT_I16, 2, sh, &v));
    } else {
        l->family = QTIP_FAMILY_E8P;
        const char *cb = json_string_value(json_object_get(o, "codebook"));
        int k = cb ? qtip_e8p_from_name(cb) : -1;
        QTIP_RETURN_ERROR_IF(k < 0, QTIP_E_FORMAT, "quantize_config.json: layer '%s' has codebook '%s'",
                             pre, cb ? cb : "(none)");
        l->ek = (qtip_e8p_kind)k;
        l->i32 = l->ek != QTIP_E8P12;
        QTIP_RETURN_ERROR_IF(n % 8, QTIP_E_SHAPE,
                             "quantize_config.json: layer '%s' has %lld inputs, not a multiple of 8",
                             pre, (long long)n);
        l->code_cols = n / 8;
        sh[1] = l->code_cols;
        QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "qtip_codes", l->i32 ? QTIP_DT_I32 : QTIP_DT_I16, 2, sh, &v));
    }
    l->codes = qtip_alloc(v->nbytes, 1, "codes");
    if (!l->codes) return QTIP_E_NOMEM;
    memcpy(l->codes, v->data, v->nbytes);
    QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "SU", QTIP_DT_F32, 1, &n, &v));
    QTIP_FORWARD_IF_ERROR(copy_f32(v, &l->SU));
    QTIP_FORWARD_IF_ERROR(finite_f32(pre, "SU", l->SU, (size_t)n));
    QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "SV", QTIP_DT_F32, 1, &m, &v));
    QTIP_FORWARD_IF_ERROR(copy_f32(v, &l->SV));
    QTIP_FORWARD_IF_ERROR(finite_f32(pre, "SV", l->SV, (size_t)m));
    QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "Wscale", QTIP_DT_F32, 0, sh, &v));
    memcpy(&l->Wscale, v->data, 4);
    QTIP_FORWARD_IF_ERROR(finite_f32(pre, "Wscale", &l->Wscale, 1));
    if (l->family == QTIP_FAMILY_TRELLIS && (l->tp.code == QTIP_CODE_HYB || l->tp.code == QTIP_CODE_LUT)) {
        int64_t ts[2] = {(int64_t)1 << (l->tp.code == QTIP_CODE_HYB ? l->tp.Q : l->tp.L), l->tp.V};
        QTIP_FORWARD_IF_ERROR(want_tensor(st, pre, "tlut", QTIP_DT_F32, 2, ts, &v));
        QTIP_FORWARD_IF_ERROR(copy_f32(v, &l->tlut));
        l->tlut_count = (size_t)(ts[0] * ts[1]);
        QTIP_FORWARD_IF_ERROR(finite_f32(pre, "tlut", l->tlut, l->tlut_count));
    }
    return QTIP_OK;
}

qtip_status qtip_pack_trellis_decode(const qtip_trellis *t, const uint16_t *codes, int64_t m,
                                     int64_t n, float *Wr)
{
    const qtip_trellis_params *p = qtip_trellis_get_params(t);
    QTIP_RETURN_ERROR_IF(p->td_x != 16 || p->td_y != 16, QTIP_E_UNSUPPORTED,
                         "canonical layout needs 16x16 tiles, found %dx%d", p->td_x, p->td_y);
    size_t words = (size_t)(m * n * p->K / 16), ntiles = (size_t)((m / 16) * (n / 16));
    uint16_t *tiles = qtip_alloc(words, 2, "tiles");
    float *vals = qtip_alloc(ntiles * 256, 4, "tile values");
    qtip_status s = tiles && vals ? qtip_pack_trellis_to_tiles(codes, m, n, p->K, tiles) : QTIP_E_NOMEM;
    if (!s) s = qtip_trellis_decode(t, tiles, ntiles, vals);
    if (!s) {
        int pos[256];
        for (int j = 0; j < 256; j++) {
            int r, c;
            qtip_pack_tile_position(p, j, &r, &c);
            pos[j] = r * 16 + c;
        }
        for (size_t ti = 0; ti < ntiles; ti++) {
            int64_t R = (int64_t)ti / (n / 16), C = (int64_t)ti % (n / 16);
            for (int j = 0; j < 256; j++)
                Wr[(16 * R + pos[j] / 16) * n + 16 * C + pos[j] % 16] = vals[ti * 256 + j];
        }
    }
    free(tiles);
    free(vals);
    return s;
}

/* Wr (transformed, scaled by Wscale) of a layer. */
static qtip_status decode_rotated(const vlayer *l, float *Wr)
{
    int64_t m = l->m, n = l->n;
    qtip_status s;
    if (l->family == QTIP_FAMILY_TRELLIS) {
        qtip_trellis *t = NULL;
        s = l->tlut ? qtip_trellis_create_with_lut(&l->tp, l->tlut, &t) : qtip_trellis_create(&l->tp, &t);
        if (!s) s = qtip_pack_trellis_decode(t, l->codes, m, n, Wr);
        qtip_trellis_free(t);
    } else {
        qtip_e8p *cb = NULL;
        size_t cnt = (size_t)(m * n / 8);
        uint32_t *c = qtip_alloc(cnt, 4, "codes");
        if (!c) return QTIP_E_NOMEM;
        for (size_t i = 0; i < cnt; i++)
            c[i] = l->i32 ? ((const uint32_t *)l->codes)[i] : ((const uint16_t *)l->codes)[i];
        s = qtip_e8p_create(l->ek, &cb);
        if (!s) s = qtip_e8p_decode(cb, c, cnt, Wr);
        qtip_e8p_free(cb);
        free(c);
    }
    if (s) { qtip_error_prefix("cannot decode layer '%s'", l->pre); return s; }
    for (int64_t i = 0; i < m * n; i++) Wr[i] *= l->Wscale;
    return QTIP_OK;
}

/* max |y_engine - y_dense| / max |y_dense| over a few random inputs. */
static qtip_status forward_check(const vlayer *l, const float *Wr, const float *W, uint64_t seed,
                                 double *err)
{
    int64_t m = l->m, n = l->n;
    const int B = 4;
    float *x = qtip_alloc((size_t)(B * n), 4, "x"), *x2 = qtip_alloc((size_t)(B * n), 4, "x2");
    float *y = qtip_alloc((size_t)(B * m), 4, "y");
    if (!x || !x2 || !y) { free(x); free(x2); free(y); return QTIP_E_NOMEM; }
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < B * n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    for (int b = 0; b < B; b++)
        for (int64_t j = 0; j < n; j++) x2[b * n + j] = l->SU[j] * x[b * n + j];
    qtip_status st = qtip_had_transform_f32(x2, B, n, 1);          /* U_n^T (SU x) */
    for (int b = 0; !st && b < B; b++)
        for (int64_t i = 0; i < m; i++) {
            double acc = 0;
            for (int64_t j = 0; j < n; j++) acc += (double)Wr[i * n + j] * x2[b * n + j];
            y[b * m + i] = (float)acc;
        }
    if (!st) st = qtip_had_transform_f32(y, B, m, 0);              /* U_m z */
    double maxd = 0, maxy = 0;
    for (int b = 0; !st && b < B; b++)
        for (int64_t i = 0; i < m; i++) {
            double ref = 0;
            for (int64_t j = 0; j < n; j++) ref += (double)W[i * n + j] * x[b * n + j];
            double d = fabs((double)l->SV[i] * y[b * m + i] - ref);
            if (d > maxd) maxd = d;
            if (fabs(ref) > maxy) maxy = fabs(ref);
        }
    *err = maxy > 0 ? maxd / maxy : maxd;
    free(x); free(x2); free(y);
    return st;
}

static qtip_status read_f32_tensor(qtip_st_file *st, const char *name, int64_t m, int64_t n, float *out)
{
    const qtip_tensor_view *v = qtip_st_find(st, name);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOT_FOUND, "original model has no tensor '%s'", name);
    QTIP_RETURN_ERROR_IF(v->ndim != 2 || v->shape[0] != m || v->shape[1] != n, QTIP_E_SHAPE,
                         "original tensor '%s' has another shape than the packed layer", name);
    return qtip_convert_to_f32(v->dtype, v->data, (size_t)(m * n), out);
}

static qtip_status proxy_from_hessian(const char *dir, const vlayer *l, const float *W0,
                                      const float *W, double *proxy)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.safetensors", dir, l->pre);
    if (l->hessian_checksum && l->hessian_checksum[0] && strcmp(l->hessian_checksum, "identity")) {
        char ck[QTIP_CHECKSUM_STRLEN];
        QTIP_FORWARD_IF_ERROR(qtip_checksum_file(p, ck));
        QTIP_RETURN_ERROR_IF(strcmp(ck, l->hessian_checksum), QTIP_E_MISMATCH,
                             "Hessian '%s' has checksum %s, the layer '%s' was quantized with %s", p,
                             ck, l->pre, l->hessian_checksum);
    }
    qtip_hessian *h = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_load(p, &h));
    double *H = qtip_alloc((size_t)(l->n * l->n), 8, "Hessian");
    qtip_status s = H ? qtip_hessian_expectation(h, H, NULL) : QTIP_E_NOMEM;
    double err = 0, ref = 0;
    if (!s) s = qtip_quant_proxy_terms(W0, W, l->m, l->n, H, &err, &ref);
    *proxy = ref > 0 ? err / ref : NAN;
    free(H);
    qtip_hessian_free(h);
    return s;
}

/* --- weights checksum recorded at quantization -------------------------------
 * The artifact records the checksum of the file qtip-quantize read the tensor
 * from: model.safetensors for a single-file model; for a sharded model the shard
 * holding the tensor (quantizing from that shard), or the index file (quantizing
 * from the directory). */
typedef struct {
    char (*path)[8192];
    char (*ck)[QTIP_CHECKSUM_STRLEN];
    size_t n;
    json_t *index; /* weight_map of the original's index, when sharded */
} ck_cache;

static void ck_cache_free(ck_cache *c)
{
    free(c->path);
    free(c->ck);
    json_decref(c->index);
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

static qtip_status check_weights_checksum(const char *orig, const vlayer *l, ck_cache *c, int *ok)
{
    *ok = -1;
    if (!orig || !l->weights_checksum || !l->weights_checksum[0]) return QTIP_OK;
    char cand[2][8192], wn[1200];
    int nc = 0;
    snprintf(wn, sizeof wn, "%s.weight", l->pre);
    struct stat sb;
    QTIP_RETURN_ERROR_IF(stat(orig, &sb) != 0, QTIP_E_IO, "cannot read original '%s': %s", orig,
                         strerror(errno));
    if (S_ISREG(sb.st_mode)) {
        snprintf(cand[nc++], sizeof cand[0], "%s", orig);
    } else {
        char idx[4096];
        snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", orig);
        if (stat(idx, &sb) == 0) {
            if (!c->index) {
                json_t *j = NULL;
                QTIP_FORWARD_IF_ERROR(load_json(orig, "model.safetensors.index.json", &j));
                c->index = json_incref(json_object_get(j, "weight_map"));
                json_decref(j);
                QTIP_RETURN_ERROR_IF(!json_is_object(c->index), QTIP_E_FORMAT,
                                     "'%s' has no 'weight_map' object", idx);
            }
            const char *shard = json_string_value(json_object_get(c->index, wn));
            if (shard) snprintf(cand[nc++], sizeof cand[0], "%s/%s", orig, shard);
            snprintf(cand[nc++], sizeof cand[0], "%s", idx);
        } else {
            snprintf(cand[nc++], sizeof cand[0], "%s/model.safetensors", orig);
        }
    }
    const char *ck = NULL;
    for (int i = 0; i < nc; i++) {
        QTIP_FORWARD_IF_ERROR(cached_checksum(c, cand[i], &ck));
        if (strcmp(ck, l->weights_checksum) == 0) { *ok = 1; return QTIP_OK; }
    }
    return qtip_error(QTIP_E_MISMATCH,
                      "layer '%s' was quantized from weights with checksum %s, but '%s' (holding "
                      "'%s') has %s", l->pre, l->weights_checksum, cand[0], wn,
                      nc > 0 ? c->ck[c->n - (size_t)nc] : "none");
}

/* Dequantized weights, kept until the plain model is written. */
typedef struct {
    char name[1200];
    int64_t shape[2];
    void *data;
} deq_item;

typedef struct {
    deq_item *items;
    size_t n;
} deq_set;

static void deq_set_free(deq_set *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->items[i].data);
    free(d->items);
}

static qtip_status verify_layers(const char *dir, qtip_st_file *st, json_t *qc, json_t *top,
                                 const qtip_verify_options *opt, qtip_verify_report *rep,
                                 qtip_st_file *orig, deq_set *deq, ck_cache *ckc)
{
    json_t *layers = json_object_get(qc, "layers");
    QTIP_RETURN_ERROR_IF(!json_is_object(layers), QTIP_E_FORMAT,
                         "'%s/quantize_config.json' has no 'layers' object", dir);
    int mixed = json_is_true(json_object_get(top, "mixed"));
    rep->layers = qtip_calloc(json_object_size(layers) + 1, sizeof *rep->layers, "report");
    if (!rep->layers) return QTIP_E_NOMEM;
    const char *pre;
    json_t *o;
    json_object_foreach(layers, pre, o) {
        vlayer l;
        qtip_status s = load_layer(st, pre, o, top, mixed, &l);
        float *Wr = NULL, *W = NULL, *W0 = NULL;
        if (!s) {
            Wr = qtip_alloc((size_t)(l.m * l.n), 4, "Wr");
            W = qtip_alloc((size_t)(l.m * l.n), 4, "W");
            s = Wr && W ? decode_rotated(&l, Wr) : QTIP_E_NOMEM;
        }
        qtip_verify_layer *r = &rep->layers[rep->n];
        snprintf(r->name, sizeof r->name, "%s", pre);
        r->m = l.m;
        r->n = l.n;
        r->rel_error = r->proxy_loss = NAN;
        r->recorded_proxy_loss = l.recorded_proxy;
        r->proxy_matches = 1;
        r->weights_checksum_ok = -1;
        if (!s) s = check_weights_checksum(opt->original_dir, &l, ckc, &r->weights_checksum_ok);
        if (!s) {
            memcpy(W, Wr, (size_t)(l.m * l.n) * 4);
            s = qtip_rht_weight_inverse(W, l.m, l.n, l.SU, l.SV);
        }
        if (!s) s = forward_check(&l, Wr, W, opt->seed + rep->n, &r->forward_max_error);
        if (!s && orig) {
            char wn[1200];
            snprintf(wn, sizeof wn, "%s.weight", pre);
            W0 = qtip_alloc((size_t)(l.m * l.n), 4, "original");
            s = W0 ? read_f32_tensor(orig, wn, l.m, l.n, W0) : QTIP_E_NOMEM;
            double num = 0, den = 0;
            for (int64_t i = 0; !s && i < l.m * l.n; i++) {
                double d = (double)W0[i] - W[i];
                num += d * d;
                den += (double)W0[i] * W0[i];
            }
            if (!s) r->rel_error = den > 0 ? sqrt(num / den) : sqrt(num);
        }
        if (!s && opt->hessian_dir) {
            QTIP_ASSERT(1);
            if (!W0) s = qtip_error(QTIP_E_PARAM, "--hessians needs --original (the proxy loss compares with the original weights)");
            else s = proxy_from_hessian(opt->hessian_dir, &l, W0, W, &r->proxy_loss);
            if (!s && isfinite(r->recorded_proxy_loss))
                r->proxy_matches = fabs(r->proxy_loss - r->recorded_proxy_loss) <=
                                   1e-6 * fabs(r->recorded_proxy_loss) + 1e-12;
        }
        if (!s && deq) {
            char wn[1200];
            snprintf(wn, sizeof wn, "%s.weight", pre);
            size_t cnt = (size_t)(l.m * l.n);
            void *h = qtip_alloc(cnt, qtip_dtype_size(opt->dequantize_dtype), "dequantized weight");
            deq_item *it = realloc(deq->items, (deq->n + 1) * sizeof *it);
            if (it) deq->items = it;
            s = h && it ? qtip_convert_from_f32(opt->dequantize_dtype, W, cnt, h) : QTIP_E_NOMEM;
            if (!s) {
                it = &deq->items[deq->n++];
                snprintf(it->name, sizeof it->name, "%s", wn);
                it->shape[0] = l.m;
                it->shape[1] = l.n;
                it->data = h;
            } else {
                free(h);
            }
        }
        if (!s) {
            char why[512] = "";
            if (!r->proxy_matches)
                snprintf(why, sizeof why, "layer '%s': proxy loss %.9g differs from the recorded %.9g", pre,
                         r->proxy_loss, r->recorded_proxy_loss);
            else if (opt->max_proxy_loss > 0 && r->proxy_loss > opt->max_proxy_loss)
                snprintf(why, sizeof why, "layer '%s': proxy loss %.6g exceeds %.6g", pre, r->proxy_loss,
                         opt->max_proxy_loss);
            else if (opt->max_rel_error > 0 && r->rel_error > opt->max_rel_error)
                snprintf(why, sizeof why, "layer '%s': relative error %.6g exceeds %.6g", pre, r->rel_error,
                         opt->max_rel_error);
            else if (r->forward_max_error > opt->forward_tol)
                snprintf(why, sizeof why, "layer '%s': forward error %.3g exceeds %.3g", pre,
                         r->forward_max_error, opt->forward_tol);
            if (why[0]) {
                if (!rep->failures) snprintf(rep->msg, sizeof rep->msg, "%s", why);
                rep->failures++;
            }
        }
        rep->n++;
        free(Wr); free(W); free(W0);
        vlayer_free(&l);
        if (s) { qtip_error_prefix("'%s'", dir); return s; }
    }
    return QTIP_OK;
}

/* Shards of the plain model: model.safetensors, or model-0000i-of-0000N.safetensors
 * with an index when the tensors exceed max_shard bytes (max_shard 0: one file). */
typedef struct {
    const char *name;
    qtip_dtype dt;
    int ndim;
    const int64_t *shape;
    const void *data;
    uint64_t bytes;
} out_tensor;

static qtip_status write_shards(const char *tmp, const out_tensor *t, size_t nt, uint64_t max_shard)
{
    /* shard of each tensor, greedily in order */
    int *shard = qtip_calloc(nt ? nt : 1, sizeof *shard, "shard map");
    if (!shard) return QTIP_E_NOMEM;
    int ns = 0;
    uint64_t cur = 0, total = 0;
    for (size_t i = 0; i < nt; i++) {
        if (i > 0 && max_shard && cur + t[i].bytes > max_shard) { ns++; cur = 0; }
        shard[i] = ns;
        cur += t[i].bytes;
        total += t[i].bytes;
    }
    ns++;
    char p[4608];
    qtip_status s = QTIP_OK;
    json_t *wmap = json_object();
    for (int k = 0; k < ns && !s; k++) {
        qtip_st_writer *w = NULL;
        s = qtip_st_writer_create(&w);
        for (size_t i = 0; i < nt && !s; i++)
            if (shard[i] == k) {
                s = qtip_st_writer_add_ref(w, t[i].name, t[i].dt, t[i].ndim, t[i].shape, t[i].data);
                char fn[64];
                snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", k + 1, ns);
                json_object_set_new(wmap, t[i].name, json_string(fn));
            }
        if (ns == 1) snprintf(p, sizeof p, "%s/model.safetensors", tmp);
        else snprintf(p, sizeof p, "%s/model-%05d-of-%05d.safetensors", tmp, k + 1, ns);
        if (!s) s = qtip_st_writer_write(w, p, 0);
        qtip_st_writer_free(w);
    }
    free(shard);
    if (!s && ns > 1) {
        json_t *idx = json_pack("{s:{s:I},s:O}", "metadata", "total_size", (json_int_t)total,
                                "weight_map", wmap);
        char *txt = idx ? json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", tmp);
        s = txt ? qtip_write_file_atomic(p, txt, strlen(txt), 0) : QTIP_E_NOMEM;
        free(txt);
        json_decref(idx);
    }
    json_decref(wmap);
    return s;
}

static qtip_status write_dequantized(const char *dir, json_t *cfg, qtip_st_file *st, json_t *layers,
                                     const deq_set *deq, const qtip_verify_options *opt)
{
    const char *out = opt->dequantize_dir;
    struct stat sb;
    QTIP_RETURN_ERROR_IF(stat(out, &sb) == 0, QTIP_E_IO, "output directory '%s' already exists", out);
    /* the packed file order, a dequantized weight at its layer's first tensor */
    size_t cap = qtip_st_count(st) + deq->n, nt = 0;
    out_tensor *t = qtip_calloc(cap ? cap : 1, sizeof *t, "tensor list");
    unsigned char *done = qtip_calloc(deq->n ? deq->n : 1, 1, "flags");
    if (!t || !done) { free(t); free(done); return QTIP_E_NOMEM; }
    for (size_t i = 0; i < qtip_st_count(st); i++) {
        const qtip_tensor_view *v = qtip_st_tensor(st, i);
        const char *dot = strrchr(v->name, '.');
        char pre[1024] = "";
        size_t pl = dot ? (size_t)(dot - v->name) : 0;
        if (pl < sizeof pre) { memcpy(pre, v->name, pl); pre[pl] = 0; }
        /* A quantized layer's packed tensors become its dequantized weight; anything
         * else under its prefix (the linear's bias) is copied like every other tensor. */
        static const char *const packed[] = {"qtip_codes", "SU", "SV", "Wscale", "tlut"};
        int is_packed = 0;
        for (size_t k = 0; dot && k < sizeof packed / sizeof packed[0]; k++)
            if (!strcmp(dot + 1, packed[k])) is_packed = 1;
        if (dot && is_packed && json_object_get(layers, pre)) {
            for (size_t k = 0; k < deq->n; k++) {
                size_t kl = strlen(deq->items[k].name);
                if (done[k] || kl != pl + 7 || strncmp(deq->items[k].name, pre, pl) != 0) continue;
                done[k] = 1;
                const deq_item *it = &deq->items[k];
                t[nt].name = it->name;
                t[nt].dt = opt->dequantize_dtype;
                t[nt].ndim = 2;
                t[nt].shape = it->shape;
                t[nt].data = it->data;
                t[nt++].bytes = (uint64_t)(it->shape[0] * it->shape[1]) * qtip_dtype_size(opt->dequantize_dtype);
            }
            continue;
        }
        t[nt].name = v->name;
        t[nt].dt = v->dtype;
        t[nt].ndim = v->ndim;
        t[nt].shape = v->shape;
        t[nt].data = v->data;
        t[nt++].bytes = v->nbytes;
    }
    free(done);
    char tmp[2048], p[4608], q[4608];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", out);
    if (!mkdtemp(tmp)) {
        free(t);
        return qtip_error(QTIP_E_IO, "cannot create a directory beside '%s': %s", out, strerror(errno));
    }
    qtip_status s = write_shards(tmp, t, nt, opt->dequantize_max_shard_size);
    free(t);
    json_t *c = json_deep_copy(cfg);
    json_object_del(c, "quantization_config");
    json_object_del(c, "quip_params");
    char *txt = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(c);
    snprintf(p, sizeof p, "%s/config.json", tmp);
    if (!s) s = txt ? qtip_write_file_atomic(p, txt, strlen(txt), 0) : QTIP_E_NOMEM;
    free(txt);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (!s && d && (e = readdir(d))) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (nm[0] == '.' || strcmp(nm, "config.json") == 0 || strcmp(nm, "quantize_config.json") == 0 ||
            strcmp(nm, "quantization_config.json") == 0 || (l > 12 && strcmp(nm + l - 12, ".safetensors") == 0) ||
            strcmp(nm, "model.safetensors.index.json") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        snprintf(q, sizeof q, "%s/%s", tmp, nm);
        void *buf;
        size_t len;
        s = qtip_read_file(p, &buf, &len);
        if (!s) { s = qtip_write_file_atomic(q, buf, len, 0); free(buf); }
    }
    if (d) closedir(d);
    if (!s && rename(tmp, out) != 0) s = qtip_error(QTIP_E_IO, "cannot rename '%s': %s", tmp, strerror(errno));
    if (s) {
        d = opendir(tmp);
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
            unlink(p);
        }
        if (d) closedir(d);
        rmdir(tmp);
    }
    return s;
}

qtip_status qtip_verify_model(const char *dir, const qtip_verify_options *opt, qtip_verify_report **out)
{
    *out = NULL;
    qtip_verify_options dflt;
    if (!opt) { qtip_verify_options_default(&dflt); opt = &dflt; }
    json_t *cfg = NULL, *qc = NULL;
    qtip_status s = load_json(dir, "config.json", &cfg);
    if (!s) s = load_json(dir, "quantize_config.json", &qc);
    if (s) {
        json_decref(cfg);
        qtip_error_prefix("cannot verify '%s'", dir);
        return s;
    }
    json_t *top = json_object_get(cfg, "quantization_config");
    /* an export (qtip-reference writes no quantization_config) is named in quantize_config.json */
    const char *qfmt = json_string_value(json_object_get(qc, "format"));
    if (!json_is_object(top) && qfmt && strcmp(qfmt, "qtip"))
        s = qtip_error(QTIP_E_UNSUPPORTED, "'%s' holds format '%s'; qtip-verify checks the canonical "
                       "'qtip' format", dir, qfmt);
    else if (!json_is_object(top))
        s = qtip_error(QTIP_E_FORMAT, "'%s/config.json' has no 'quantization_config'", dir);
    const char *fmt = top ? json_string_value(json_object_get(top, "format")) : NULL;
    if (!s && (!fmt || strcmp(fmt, "qtip")))
        s = qtip_error(QTIP_E_UNSUPPORTED, "'%s' holds format '%s'; qtip-verify checks the canonical "
                       "'qtip' format", dir, fmt ? fmt : "(none)");
    json_t *lv = top ? json_object_get(top, "layout_version") : NULL;
    if (!s && json_integer_value(lv) != QTIP_PACK_LAYOUT_VERSION)
        s = qtip_error(QTIP_E_FORMAT, "'%s/config.json': layout_version %lld, expected %d", dir,
                       (long long)json_integer_value(lv), QTIP_PACK_LAYOUT_VERSION);
    /* the copy in quantize_config.json must agree with config.json */
    const char *key;
    json_t *val;
    if (!s) json_object_foreach(top, key, val) {
        json_t *o = json_object_get(qc, key);
        if (!o || !json_equal(o, val)) {
            s = qtip_error(QTIP_E_MISMATCH, "'%s': config.json's quantization_config field '%s' differs "
                           "from quantize_config.json", dir, key);
            break;
        }
    }
    qtip_st_file *st = NULL, *orig = NULL;
    if (!s) s = qtip_st_open(dir, &st);
    if (!s && opt->original_dir) {
        s = qtip_st_open(opt->original_dir, &orig);
        if (s) qtip_error_prefix("cannot read the original model");
    }
    deq_set deq;
    memset(&deq, 0, sizeof deq);
    ck_cache ckc;
    memset(&ckc, 0, sizeof ckc);
    qtip_verify_report *rep = qtip_calloc(1, sizeof *rep, "report");
    if (!s && !rep) s = QTIP_E_NOMEM;
    if (!s) s = verify_layers(dir, st, qc, top, opt, rep, orig, opt->dequantize_dir ? &deq : NULL, &ckc);
    if (!s && opt->dequantize_dir)
        s = write_dequantized(dir, cfg, st, json_object_get(qc, "layers"), &deq, opt);
    deq_set_free(&deq);
    ck_cache_free(&ckc);
    qtip_st_close(st);
    qtip_st_close(orig);
    json_decref(cfg);
    json_decref(qc);
    if (s) { qtip_verify_report_free(rep); return s; }
    *out = rep;
    return QTIP_OK;
}
