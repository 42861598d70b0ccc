/*
 * quant_method_e8p.c — the QuIP# E8P method's row of the method operations
 * table: one code per 8 consecutive inputs of a row (16-bit E8P12, or 24/32-bit
 * RVQ codes stored as int32), LDLQ over 8-column blocks, one row per unit.
 */
#include "ldlq/quant_internal.h"

#include <string.h>

static qtip_status e8_check(const qtip_quant_params *p)
{
    QTIP_RETURN_ERROR_IF(qtip_e8p_bits(p->e8p) == 0, QTIP_E_PARAM, "unknown E8P codebook %d",
                         (int)p->e8p);
    return QTIP_OK;
}

static int e8_block_cols(const qtip_quant_params *p) { (void)p; return 8; }
static double e8_default_scale(const qtip_quant_params *p) { return (double)qtip_e8p_opt_scale(p->e8p); }
static double e8_bits(const qtip_quant_params *p) { return (double)qtip_e8p_bits(p->e8p); }

static qtip_status e8_check_shape(const qtip_quant_params *p, int64_t m, int64_t n)
{
    (void)p;
    QTIP_RETURN_ERROR_IF(n % 8, QTIP_E_SHAPE,
                         "layer shape [%lld, %lld]: in features must be a multiple of 8",
                         (long long)m, (long long)n);
    return QTIP_OK;
}

static int64_t e8_code_cols(const qtip_quant_params *p, int64_t n)
{
    (void)p;
    return n % 8 ? 0 : n / 8;
}

static int e8_code_is_i32(const qtip_quant_params *p) { return qtip_e8p_code_bits(p->e8p) > 16; }

/* The E8P tables are fixed (e8p_table.c): nothing travels with the codes. */
static size_t e8_table_shape(const qtip_quant_params *p, size_t *rows, size_t *cols)
{
    (void)p;
    *rows = *cols = 0;
    return 0;
}

/* opt_scale is an absolute RMS: the code RMS factor is 1. */
static qtip_status e8_create(const qtip_quant_params *p, void **state, double *code_rms)
{
    qtip_e8p *cb = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_e8p_create(p->e8p, &cb));
    *state = cb;
    *code_rms = 1.0;
    return QTIP_OK;
}

static void e8_destroy(void *state) { qtip_e8p_free(state); }

/* --- one layer --------------------------------------------------------------- */

typedef struct {
    const qtip_e8p *cb;
    qtip_layer_artifact *a;
    uint32_t *stage; /* m codes of the current block */
} e8_ctx;

static void e8_end(void *ctx)
{
    e8_ctx *c = ctx;
    if (!c) return;
    free(c->stage);
    free(c);
}

static void put_code(qtip_layer_artifact *a, int64_t row, int64_t block, uint32_t code)
{
    const int64_t i = row * a->code_cols + block;
    if (a->code_is_i32) ((int32_t *)a->codes)[i] = (int32_t)code;
    else ((int16_t *)a->codes)[i] = (int16_t)(uint16_t)code;
}

static qtip_status e8_quant(void *user, int64_t block, const float *target, int64_t m, int b,
                            float *recon)
{
    e8_ctx *c = user;
    (void)block;
    (void)b;
    return qtip_e8p_quantize(c->cb, target, (size_t)m, c->stage, recon);
}

static void e8_commit(void *user, int64_t block, const uint8_t *accept)
{
    e8_ctx *c = user;
    for (int64_t i = 0; i < c->a->m; i++)
        if (!accept || accept[i]) put_code(c->a, i, block, c->stage[i]);
}

/* Unit callbacks (one unit = one row): called concurrently for disjoint rows by
 * the LDLQ loops; each call searches on the calling thread alone. */
static qtip_status e8_quant_units(void *user, int64_t block, const int64_t *units, int64_t count,
                                  const float *target, float *recon)
{
    e8_ctx *c = user;
    (void)block;
    uint32_t tmp[32];
    for (int64_t i0 = 0; i0 < count; i0 += 32) {
        int64_t cnt = count - i0 < 32 ? count - i0 : 32;
        /* below the library's 64-vector threshold: no parallel region per call */
        QTIP_FORWARD_IF_ERROR(qtip_e8p_quantize(c->cb, target + 8 * i0, (size_t)cnt, tmp,
                                                recon + 8 * i0));
        for (int64_t i = 0; i < cnt; i++) c->stage[units[i0 + i]] = tmp[i];
    }
    return QTIP_OK;
}

static void e8_commit_units(void *user, int64_t block, const int64_t *units, int64_t count)
{
    e8_ctx *c = user;
    for (int64_t l = 0; l < count; l++) put_code(c->a, units[l], block, c->stage[units[l]]);
}

static qtip_status e8_begin(void *state, qtip_layer_artifact *a, qtip_ldlq_config *cfg, void **out)
{
    e8_ctx *c = qtip_calloc(1, sizeof *c, "E8P layer");
    if (c) c->stage = qtip_alloc((size_t)a->m, sizeof(uint32_t), "E8P codes");
    if (!c || !c->stage) {
        e8_end(c);
        return QTIP_E_NOMEM;
    }
    c->cb = state;
    c->a = a;
    cfg->group_rows = 1;
    cfg->quant = e8_quant;
    cfg->commit = e8_commit;
    cfg->quant_units = e8_quant_units;
    cfg->commit_units = e8_commit_units;
    cfg->user = c;
    *out = c;
    return QTIP_OK;
}

/* --- decoding, fields ----------------------------------------------------------- */

/* (m, n/8) codes decode to m x n/8 x 8 = m x n row-major. */
static qtip_status e8_decode(const qtip_quant_params *p, const float *tlut, const void *codes,
                             int64_t m, int64_t n, float *Wr)
{
    (void)tlut;
    const size_t count = (size_t)m * (size_t)(n / 8);
    const int i32 = e8_code_is_i32(p);
    qtip_e8p *cb = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_e8p_create(p->e8p, &cb));
    uint32_t *c = qtip_alloc(count, sizeof(uint32_t), "E8P codes");
    qtip_status st = QTIP_E_NOMEM;
    if (c) {
        for (size_t i = 0; i < count; i++)
            c[i] = i32 ? (uint32_t)((const int32_t *)codes)[i]
                       : (uint32_t)(uint16_t)((const int16_t *)codes)[i];
        st = qtip_e8p_decode(cb, c, count, Wr);
    }
    free(c);
    qtip_e8p_free(cb);
    return st;
}

static qtip_status e8_write_meta(const qtip_quant_params *p, qtip_st_writer *w)
{
    QTIP_FORWARD_IF_ERROR(qtip_meta_set_(w, "codebook", "%s", qtip_e8p_name(p->e8p)));
    return qtip_meta_set_(w, "resid_scale", "%.9g", (double)qtip_e8p_resid_scale(p->e8p));
}

static qtip_status e8_read_meta(const qtip_st_file *f, const char *path, qtip_quant_params *p)
{
    const char *cb = qtip_st_metadata(f, "codebook");
    int k = cb ? qtip_e8p_from_name(cb) : -1;
    QTIP_RETURN_ERROR_IF(k < 0, QTIP_E_FORMAT, "'%s': unknown codebook '%s'", path,
                         cb ? cb : "(missing)");
    p->e8p = (qtip_e8p_kind)k;
    return QTIP_OK;
}

static void e8_settings_json(const qtip_quant_params *p, json_t *o)
{
    json_object_set_new(o, "codebook", json_string(qtip_e8p_name(p->e8p)));
}

/* The packed config's fields (docs/formats/model-dir.md): what a loader needs. */
static void e8_loader_json(const qtip_quant_params *p, json_t *o)
{
    json_object_set_new(o, "codebook", json_string(qtip_e8p_name(p->e8p)));
    json_object_set_new(o, "K", json_integer(qtip_e8p_bits(p->e8p)));
    json_object_set_new(o, "codesz", json_integer(8));
    json_object_set_new(o, "resid_scale", json_real(qtip_e8p_resid_scale(p->e8p)));
}

static qtip_status e8_loader_from_json(json_t *o, const char *where, qtip_quant_params *p)
{
    const char *cb = json_string_value(json_object_get(o, "codebook"));
    int k = cb ? qtip_e8p_from_name(cb) : -1;
    QTIP_RETURN_ERROR_IF(k < 0, QTIP_E_FORMAT, "%s has codebook '%s'", where, cb ? cb : "(none)");
    p->e8p = (qtip_e8p_kind)k;
    return QTIP_OK;
}

static const char *const e8_aliases[] = {"quip", "quip#", NULL};

const qtip_method_ops qtip_method_e8p_ = {
    "e8p", e8_aliases, "quip#", 10,
    e8_check, e8_block_cols, e8_default_scale, e8_bits,
    e8_check_shape, e8_code_cols, e8_code_is_i32, e8_table_shape,
    e8_create, e8_destroy, e8_begin, e8_end,
    e8_decode, e8_write_meta, e8_read_meta, e8_settings_json, e8_loader_json, e8_loader_from_json,
    NULL, /* no device layer: E8P's search is fast on the CPU */
};
