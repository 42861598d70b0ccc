/*
 * quant_method_trellis.c — the QTIP bitshift trellis method's row of the method
 * operations table: parameters, the codebook, LDLQ over tiles, the decoder,
 * artifact metadata and settings JSON. Tiles: td_x rows x td_y columns, coded
 * in qtip_trellis_tile_order and stored by qtip_trellis_put_tile.
 */
#include "ldlq/quant_internal.h"
#include "trellis/trellis_internal.h"

#include <string.h>

static qtip_status tr_check(const qtip_quant_params *p)
{
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(&p->trellis));
    QTIP_RETURN_ERROR_IF((p->trellis.td_y * p->trellis.K) % 16 != 0, QTIP_E_PARAM,
                         "td_y * K must be a multiple of 16 for the packed code layout, "
                         "found td_y %d, K %d", p->trellis.td_y, p->trellis.K);
    QTIP_RETURN_ERROR_IF(p->trellis.td_y > 64, QTIP_E_PARAM,
                         "td_y must be at most 64 (the LDL block), found %d", p->trellis.td_y);
    return QTIP_OK;
}

static int tr_block_cols(const qtip_quant_params *p) { return p->trellis.td_y; }
static double tr_default_scale(const qtip_quant_params *p) { (void)p; return 0.9; }
static double tr_bits(const qtip_quant_params *p) { return (double)p->trellis.K; }

static qtip_status tr_check_shape(const qtip_quant_params *p, int64_t m, int64_t n)
{
    QTIP_RETURN_ERROR_IF(m % p->trellis.td_x || n % p->trellis.td_y, QTIP_E_SHAPE,
                         "layer shape [%lld, %lld] is not a multiple of the %d x %d tile",
                         (long long)m, (long long)n, p->trellis.td_x, p->trellis.td_y);
    return QTIP_OK;
}

static int64_t tr_code_cols(const qtip_quant_params *p, int64_t n)
{
    const qtip_trellis_params *t = &p->trellis;
    if (t->td_y < 1 || n % t->td_y || (t->td_y * t->K) % 16) return 0;
    return n * t->K / 16;
}

static int tr_code_is_i32(const qtip_quant_params *p) { (void)p; return 0; }

static size_t tr_table_shape(const qtip_quant_params *p, size_t *rows, size_t *cols)
{
    return qtip_trellis_tlut_shape(&p->trellis, rows, cols);
}

/* --- quantizer ------------------------------------------------------------- */

typedef struct {
    qtip_trellis *tr;
    qtip_trellis_work *work;
    int on_device; /* cuda:<device_index>: each layer there (tr_device_layer), or its Viterbi */
} tr_state;

static void tr_destroy(void *state)
{
    tr_state *s = state;
    if (!s) return;
    qtip_trellis_work_free(s->work);
    qtip_trellis_free(s->tr);
    free(s);
}

/* --device cuda: the Viterbi on the GPU or an error; auto: the GPU when the plugin,
 * a device and this codebook allow it, else the CPU; either way it says which.
 * Best-of-n tail-biting has no device search yet. */
static qtip_status tr_choose_device(const qtip_quant_params *p, tr_state *s)
{
    if (p->device == QTIP_DEVICE_CPU) return QTIP_OK;
    char dev[32];
    snprintf(dev, sizeof dev, p->device == QTIP_DEVICE_AUTO ? "auto" : "cuda:%d", p->device_index);
    qtip_trellis_device *d = NULL;
    qtip_status st = p->tail_biting >= 2
                         ? qtip_error(QTIP_E_UNSUPPORTED, "best-of-%d tail-biting runs on the CPU only",
                                      p->tail_biting)
                         : qtip_trellis_device_create_(s->tr, p->device_index, 1, &d);
    if (st == QTIP_OK) {
        if (qtip_trellis_device_has_layer_(d) && p->refine_passes == 0)
            qtip_log(QTIP_LOG_INFO, "trellis: device %s: each layer (RHT, LDL, LDLQ, Viterbi) on %s",
                     dev, qtip_trellis_device_label_(d));
        else
            qtip_log(QTIP_LOG_INFO, "trellis: device %s: Viterbi on %s, LDLQ on the cpu%s", dev,
                     qtip_trellis_device_label_(d),
                     p->refine_passes > 0 ? " (refinement passes run there)" : "");
        qtip_trellis_device_free_(d);
        s->on_device = 1;
        return QTIP_OK;
    }
    if (p->device == QTIP_DEVICE_CUDA) {
        qtip_error_prefix("device %s", dev);
        return st;
    }
    qtip_log(QTIP_LOG_INFO, "trellis: device auto: using the cpu (%s)", qtip_last_error());
    qtip_clear_error();
    return QTIP_OK;
}

static qtip_status tr_create(const qtip_quant_params *p, void **state, double *code_rms)
{
    tr_state *s = qtip_calloc(1, sizeof *s, "trellis quantizer");
    if (!s) return QTIP_E_NOMEM;
    qtip_status st = qtip_trellis_create(&p->trellis, &s->tr);
    if (st == QTIP_OK) st = qtip_trellis_work_create(s->tr, 0, &s->work);
    if (st == QTIP_OK && p->tail_biting >= 2)
        st = qtip_trellis_work_set_tail_biting(s->work, s->tr, p->tail_biting);
    if (st == QTIP_OK) st = tr_choose_device(p, s);
    if (st != QTIP_OK) {
        tr_destroy(s);
        return st;
    }
    *code_rms = qtip_trellis_rms(s->tr);
    *state = s;
    return QTIP_OK;
}

/* --- one layer --------------------------------------------------------------- */

typedef struct {
    const tr_state *s;
    qtip_layer_artifact *a;
    int *order;       /* tile element order */
    float *seq, *rec; /* nseq x T: tiles as sequences, and their reconstruction */
    uint16_t *stage;  /* nseq x words per tile */
    qtip_trellis_device *dev; /* the layer's device Viterbi, or NULL: the CPU */
} tr_ctx;

static void tr_end(void *ctx)
{
    tr_ctx *c = ctx;
    if (!c) return;
    free(c->order);
    free(c->seq);
    free(c->rec);
    free(c->stage);
    qtip_trellis_device_free_(c->dev);
    free(c);
}

static qtip_status tr_quant(void *user, int64_t block, const float *target, int64_t m, int b,
                            float *recon)
{
    tr_ctx *c = user;
    const qtip_trellis_params *tp = &c->a->params.trellis;
    const int T = tp->td_x * tp->td_y;
    const int64_t nseq = m / tp->td_x;
    /* Rows R*td_x .. +td_x-1 of the m x td_y block are exactly the T values of
     * tile R in row-major order, so order[j] indexes the block directly. */
    for (int64_t R = 0; R < nseq; R++)
        for (int j = 0; j < T; j++) c->seq[R * T + j] = target[R * T + c->order[j]];
    QTIP_FORWARD_IF_ERROR(c->dev ? qtip_trellis_device_quantize_(c->dev, c->s->tr, c->seq, (size_t)nseq,
                                                                 c->stage, c->rec)
                                 : qtip_trellis_quantize_work(c->s->tr, c->s->work, c->seq, (size_t)nseq,
                                                              c->stage, c->rec));
    for (int64_t R = 0; R < nseq; R++)
        for (int j = 0; j < T; j++) recon[R * T + c->order[j]] = c->rec[R * T + j];
    (void)block;
    (void)b;
    return QTIP_OK;
}

static void tr_commit(void *user, int64_t block, const uint8_t *accept)
{
    tr_ctx *c = user;
    const qtip_trellis_params *tp = &c->a->params.trellis;
    const size_t wpt = qtip_trellis_words_per_tile(tp);
    const int64_t nseq = c->a->m / tp->td_x;
    for (int64_t R = 0; R < nseq; R++)
        if (!accept || accept[R])
            qtip_trellis_put_tile(tp, c->a->codes, c->a->code_cols, R, block,
                                  c->stage + (size_t)R * wpt);
}

/* The codebook's table goes into the artifact: decoding needs exactly it. */
static qtip_status keep_tlut(const tr_state *s, qtip_layer_artifact *a)
{
    size_t rows, cols, n = qtip_trellis_tlut_shape(&a->params.trellis, &rows, &cols);
    if (!n) return QTIP_OK;
    a->tlut = qtip_alloc(n, sizeof(float), "tlut");
    if (!a->tlut) return QTIP_E_NOMEM;
    memcpy(a->tlut, qtip_trellis_lut(s->tr, NULL), n * sizeof(float));
    a->tlut_rows = rows;
    a->tlut_cols = cols;
    return QTIP_OK;
}

static qtip_status tr_begin(void *state, qtip_layer_artifact *a, qtip_ldlq_config *cfg, void **out)
{
    const qtip_trellis_params *tp = &a->params.trellis;
    const size_t T = (size_t)tp->td_x * (size_t)tp->td_y, nseq = (size_t)(a->m / tp->td_x);
    tr_ctx *c = qtip_calloc(1, sizeof *c, "trellis layer");
    if (!c) return QTIP_E_NOMEM;
    c->s = state;
    c->a = a;
    c->order = qtip_alloc(T, sizeof(int), "tile order");
    c->seq = qtip_alloc(nseq * T, sizeof(float), "tile sequences");
    c->rec = qtip_alloc(nseq * T, sizeof(float), "tile recon");
    c->stage = qtip_alloc(nseq * qtip_trellis_words_per_tile(tp), sizeof(uint16_t), "tile bits");
    qtip_status st = c->order && c->seq && c->rec && c->stage ? keep_tlut(c->s, a) : QTIP_E_NOMEM;
    if (st == QTIP_OK && c->s->on_device)
        st = qtip_trellis_device_create_(c->s->tr, a->params.device_index, nseq, &c->dev);
    if (st != QTIP_OK) {
        tr_end(c);
        return st;
    }
    qtip_trellis_tile_order(tp, c->order);
    cfg->group_rows = tp->td_x;
    cfg->quant = tr_quant;
    cfg->commit = tr_commit;
    cfg->user = c;
    *out = c;
    return QTIP_OK;
}

/* The whole layer on the device (quant_internal.h's device_layer) when the Viterbi
 * is there, the plugin runs layers and no refinement passes follow; the states of
 * every tile come back and are packed here as tr_commit would. */
static qtip_status tr_device_layer(void *ctx, qtip_layer_artifact *a, double target, float *Wr,
                                   double *Hr, float *What, double *err, double *ref, int *done)
{
    tr_ctx *c = ctx;
    const qtip_quant_params *p = &a->params;
    const qtip_trellis_params *tp = &p->trellis;
    *done = 0;
    if (!c->dev || p->refine_passes > 0 || !qtip_trellis_device_has_layer_(c->dev)) return QTIP_OK;
    const int64_t nseq = a->m / tp->td_x, nb = a->n / tp->td_y;
    const size_t S = (size_t)c->s->tr->S;
    uint32_t *states = qtip_alloc((size_t)(nseq * nb) * S, sizeof(uint32_t), "device layer states");
    if (!states) return QTIP_E_NOMEM;
    qtip_cuda_layer_args args = {a->m, a->n, p->ldlq, p->sigma_reg, p->damping_tries, target};
    qtip_cuda_layer_io io = {Wr, Hr, a->SU, a->SV, c->order, Wr, NULL, What, states, 0.0f, 0.0, 0.0, 0.0};
    qtip_status st = qtip_trellis_device_layer_(c->dev, &args, &io);
    for (int64_t k = 0; st == QTIP_OK && k < nb; k++)
        for (int64_t R = 0; R < nseq; R++) {
            qtip_trellis_pack_path_(tp, states + (size_t)(k * nseq + R) * S, c->stage);
            qtip_trellis_put_tile(tp, a->codes, a->code_cols, R, k, c->stage);
        }
    free(states);
    if (st != QTIP_OK) return st;
    a->wscale = io.wscale;
    a->damping = io.damping;
    *err = io.err;
    *ref = io.ref;
    *done = 1;
    return QTIP_OK;
}

/* --- decoding ------------------------------------------------------------------ */

/* Tile (R, C)'s T values, in sequence order, into their places in Wr. */
static void place_tile(const qtip_trellis_params *tp, const int *order, const float *v, int64_t R,
                       int64_t C, int64_t n, float *Wr)
{
    const int T = tp->td_x * tp->td_y;
    for (int j = 0; j < T; j++) {
        int r = order[j] / tp->td_y, c = order[j] % tp->td_y;
        Wr[(R * tp->td_x + r) * n + C * tp->td_y + c] = v[j];
    }
}

static qtip_status tr_decode(const qtip_quant_params *p, const float *tlut, const void *codes,
                             int64_t m, int64_t n, float *Wr)
{
    const qtip_trellis_params *tp = &p->trellis;
    const int64_t tiles_r = m / tp->td_x, tiles_c = n / tp->td_y, cc = tr_code_cols(p, n);
    const size_t T = (size_t)tp->td_x * (size_t)tp->td_y, wpt = qtip_trellis_words_per_tile(tp);
    const size_t ntiles = (size_t)tiles_r * (size_t)tiles_c;
    qtip_trellis *tr = NULL;
    QTIP_FORWARD_IF_ERROR(tlut ? qtip_trellis_create_with_lut(tp, tlut, &tr)
                               : qtip_trellis_create(tp, &tr));
    uint16_t *bits = qtip_alloc(ntiles, wpt * sizeof(uint16_t), "tile bitstreams");
    float *vals = qtip_alloc(ntiles, T * sizeof(float), "tile values");
    int *order = qtip_alloc(T, sizeof(int), "tile order");
    qtip_status st = bits && vals && order ? QTIP_OK : QTIP_E_NOMEM;
    for (int64_t R = 0; st == QTIP_OK && R < tiles_r; R++)
        for (int64_t C = 0; C < tiles_c; C++)
            qtip_trellis_get_tile(tp, codes, cc, R, C, bits + (size_t)(R * tiles_c + C) * wpt);
    if (st == QTIP_OK) st = qtip_trellis_decode(tr, bits, ntiles, vals);
    if (st == QTIP_OK) {
        qtip_trellis_tile_order(tp, order);
        for (int64_t R = 0; R < tiles_r; R++)
            for (int64_t C = 0; C < tiles_c; C++)
                place_tile(tp, order, vals + (size_t)(R * tiles_c + C) * T, R, C, n, Wr);
    }
    qtip_trellis_free(tr);
    free(bits);
    free(vals);
    free(order);
    return st;
}

/* --- fields -------------------------------------------------------------------- */

/* The integer parameters, in the order every form writes them (artifact metadata,
 * settings JSON, packed config), with the ranges readers accept. */
static const struct {
    const char *key;
    long long lo, hi;
    size_t off;
} tr_ints[] = {
    {"L", 1, 32, offsetof(qtip_trellis_params, L)},
    {"K", 1, 32, offsetof(qtip_trellis_params, K)},
    {"V", 1, 32, offsetof(qtip_trellis_params, V)},
    {"tlut_bits", 0, 32, offsetof(qtip_trellis_params, Q)},
    {"td_x", 1, 65536, offsetof(qtip_trellis_params, td_x)},
    {"td_y", 1, 65536, offsetof(qtip_trellis_params, td_y)},
};
#define N_TR_INTS (sizeof tr_ints / sizeof tr_ints[0])

static int *tr_int(qtip_trellis_params *t, size_t i) { return (int *)((char *)t + tr_ints[i].off); }
static int tr_int_value(const qtip_trellis_params *t, size_t i)
{
    return *(const int *)((const char *)t + tr_ints[i].off);
}

static qtip_status tr_write_meta(const qtip_quant_params *p, qtip_st_writer *w)
{
    const qtip_trellis_params *t = &p->trellis;
    char tb[32];
    qtip_trellis_tail_biting_name(p->tail_biting, tb, sizeof tb);
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "decode_mode", "%s", qtip_code_name(t->code)));
    for (size_t i = 0; i < N_TR_INTS; i++)
        QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, tr_ints[i].key, "%d", tr_int_value(t, i)));
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "tile_order", "%s",
                                         qtip_trellis_tile_is_mma(t) ? "mma16x16" : "row-major"));
    /* the search that made the codes (decoding does not need it) */
    return qtip_meta_set_(w, "tail_biting", "%s", tb);
}

static qtip_status tr_read_meta(const qtip_st_file *f, const char *path, qtip_quant_params *p)
{
    const char *dm = qtip_st_metadata(f, "decode_mode");
    int code = dm ? qtip_code_from_name(dm) : -1;
    QTIP_RETURN_ERROR_IF(code < 0, QTIP_E_FORMAT, "'%s': unknown decode_mode '%s'", path,
                         dm ? dm : "(missing)");
    p->trellis.code = (qtip_code)code;
    for (size_t i = 0; i < N_TR_INTS; i++) {
        long long x;
        QTIP_FORWARD_IF_ERROR(qtip_meta_int_(f, path, tr_ints[i].key, tr_ints[i].lo, tr_ints[i].hi, &x));
        *tr_int(&p->trellis, i) = (int)x;
    }
    /* optional: artifacts written before the option have the two-pass search */
    const char *tb = qtip_st_metadata(f, "tail_biting");
    int tbn = tb ? qtip_trellis_tail_biting_from_name(tb) : 1;
    QTIP_RETURN_ERROR_IF(tbn < 1, QTIP_E_FORMAT,
                         "'%s': metadata 'tail_biting' is '%s', expected two-pass or best-of-<n>",
                         path, tb);
    p->tail_biting = tbn >= 2 ? tbn : 0;
    return QTIP_OK;
}

static void tr_settings_json(const qtip_quant_params *p, json_t *o)
{
    const qtip_trellis_params *t = &p->trellis;
    char tb[32];
    qtip_trellis_tail_biting_name(p->tail_biting, tb, sizeof tb);
    json_object_set_new(o, "decode_mode", json_string(qtip_code_name(t->code)));
    for (size_t i = 0; i < N_TR_INTS; i++) json_object_set_new(o, tr_ints[i].key, json_integer(tr_int_value(t, i)));
    json_object_set_new(o, "tail_biting", json_string(tb));
}

/* The packed config's fields (docs/formats/model-dir.md): what a loader needs. */
static void tr_loader_json(const qtip_quant_params *p, json_t *o)
{
    const qtip_trellis_params *t = &p->trellis;
    json_object_set_new(o, "codebook", json_string("bitshift"));
    json_object_set_new(o, "decode_mode", json_string(qtip_code_name(t->code)));
    for (size_t i = 0; i < N_TR_INTS; i++) json_object_set_new(o, tr_ints[i].key, json_integer(tr_int_value(t, i)));
    json_object_set_new(o, "codesz", json_real(16.0 / t->K));
    json_object_set_new(o, "tile_order", json_string(qtip_trellis_tile_is_mma(t) ? "mma" : "row-major"));
}

static qtip_status tr_loader_from_json(json_t *o, const char *where, qtip_quant_params *p)
{
    const char *dm = json_string_value(json_object_get(o, "decode_mode"));
    int c = dm ? qtip_code_from_name(dm) : -1;
    QTIP_RETURN_ERROR_IF(c < 0, QTIP_E_FORMAT, "%s has decode_mode '%s'", where, dm ? dm : "(none)");
    p->trellis.code = (qtip_code)c;
    for (size_t i = 0; i < N_TR_INTS; i++) {
        json_t *v = json_object_get(o, tr_ints[i].key);
        json_int_t x = json_integer_value(v);
        QTIP_RETURN_ERROR_IF(!json_is_integer(v) || x < tr_ints[i].lo || x > tr_ints[i].hi, QTIP_E_FORMAT,
                             "%s lacks integer field '%s' in %lld..%lld", where, tr_ints[i].key,
                             tr_ints[i].lo, tr_ints[i].hi);
        *tr_int(&p->trellis, i) = (int)x;
    }
    return QTIP_OK;
}

static const char *const tr_aliases[] = {"qtip", "bitshift", NULL};

const qtip_method_ops qtip_method_trellis_ = {
    "trellis", tr_aliases, "qtip", 0,
    tr_check, tr_block_cols, tr_default_scale, tr_bits,
    tr_check_shape, tr_code_cols, tr_code_is_i32, tr_table_shape,
    tr_create, tr_destroy, tr_begin, tr_end,
    tr_decode, tr_write_meta, tr_read_meta, tr_settings_json, tr_loader_json, tr_loader_from_json,
    tr_device_layer,
};
