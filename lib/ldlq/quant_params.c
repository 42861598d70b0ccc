/*
 * quant_params.c — quantization parameters: defaults, validation, the method
 * table's lookups, and parameters from a quantize_config.json, table driven
 * (one row per field: key, type, range, documentation).
 */
#include "io/io_internal.h"
#include "ldlq/quant_internal.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static const qtip_method_ops *const methods[] = {
    [QTIP_METHOD_TRELLIS] = &qtip_method_trellis_,
    [QTIP_METHOD_E8P] = &qtip_method_e8p_,
};
#define NMETHODS ((int)(sizeof methods / sizeof methods[0]))

const qtip_method_ops *qtip_method_ops_(qtip_quant_method m)
{
    return (unsigned)m < (unsigned)NMETHODS ? methods[m] : NULL;
}

int qtip_quant_method_from_name(const char *name)
{
    for (int m = 0; name && m < NMETHODS; m++) {
        if (!strcasecmp(name, methods[m]->name)) return m;
        for (const char *const *a = methods[m]->aliases; a && *a; a++)
            if (!strcasecmp(name, *a)) return m;
    }
    return -1;
}

json_t *qtip_loader_settings_json_(const qtip_quant_params *p)
{
    const qtip_method_ops *ops = qtip_method_ops_(p->method);
    json_t *o = json_object();
    if (!o || !ops) return o;
    json_object_set_new(o, "quant_method", json_string(ops->loader_name));
    ops->loader_json(p, o);
    qtip_tp_json_(p, o);
    return o;
}

qtip_status qtip_loader_settings_from_json_(json_t *o, const char *where, qtip_quant_params *p)
{
    const char *name = json_string_value(json_object_get(o, "quant_method"));
    int m = 0;
    while (name && m < NMETHODS && strcmp(name, methods[m]->loader_name) != 0) m++;
    QTIP_RETURN_ERROR_IF(!name || m == NMETHODS, QTIP_E_FORMAT, "%s has quant_method '%s', expected "
                         "'%s' or '%s'", where, name ? name : "(none)", methods[0]->loader_name,
                         methods[1]->loader_name);
    *p = qtip_quant_default_params((qtip_quant_method)m);
    QTIP_FORWARD_IF_ERROR(methods[m]->loader_from_json(o, where, p));
    QTIP_FORWARD_IF_ERROR(qtip_tp_from_json_(o, where, p));
    qtip_status s = qtip_quant_check_params(p);
    if (s) qtip_error_prefix("%s", where);
    return s;
}

const char *qtip_quant_method_name(qtip_quant_method m)
{
    const qtip_method_ops *ops = qtip_method_ops_(m);
    return ops ? ops->name : NULL;
}

/* ---------------------------------------------------------------------------
 * The parameters table: one row per field of quantize_config.json (and of the
 * artifact): key, type, place, range, default, doc. The ranges and defaults of
 * the method-independent fields live here (qtip_quant_default_params,
 * qtip_quant_check_params read them); the trellis fields' come from the code
 * traits (qtip_trellis_default_params, qtip_trellis_check_params) and
 * refine_passes' from the method's row: NAN below.
 * ------------------------------------------------------------------------- */

typedef enum { F_INT, F_NUM, F_SEED, F_TAIL, F_CODE, F_CODEBOOK, F_METHOD, F_SPLIT } field_type;

typedef struct {
    const char *key;
    field_type type;
    size_t off;        /* into qtip_quant_params (F_INT, F_NUM, F_SEED, F_TAIL) */
    double lo, hi;     /* checked range (when range is not NULL) */
    const char *range; /* the range in words, for messages */
    double dflt;       /* default (NAN: set elsewhere, see above) */
    const char *doc;
} field_row;

#define P(f) offsetof(qtip_quant_params, f)
#define NOLIMIT 0, 0, NULL
static const field_row fields[] = {
    {"quant_method", F_METHOD, 0, NOLIMIT, NAN, "trellis (qtip, bitshift) or e8p (quip, quip#)"},
    {"codebook", F_CODEBOOK, 0, NOLIMIT, NAN, "an E8P codebook (selects e8p); \"bitshift\" is ignored"},
    {"decode_mode", F_CODE, 0, NOLIMIT, NAN, "trellis code: a code traits row's name"},
    {"L", F_INT, P(trellis.L), NOLIMIT, NAN, "trellis state bits"},
    {"K", F_INT, P(trellis.K), NOLIMIT, NAN, "bits per weight"},
    {"V", F_INT, P(trellis.V), NOLIMIT, NAN, "values per trellis step"},
    {"tlut_bits", F_INT, P(trellis.Q), NOLIMIT, NAN, "HYB table bits"},
    {"td_x", F_INT, P(trellis.td_x), NOLIMIT, NAN, "tile rows"},
    {"td_y", F_INT, P(trellis.td_y), NOLIMIT, NAN, "tile columns"},
    {"refine_passes", F_INT, P(refine_passes), 0, 1000, "in 0..1000", NAN, "greedy passes after LDLQ"},
    {"quip_tune_iters", F_INT, P(refine_passes), NOLIMIT, NAN, "quip-sharp's name of refine_passes"},
    {"ldlq", F_INT, P(ldlq), 0, 1, "0 or 1", 1, "1: error feedback, 0: plain rounding"},
    {"sigma_reg", F_NUM, P(sigma_reg), 0, 1e6, "in 0..1e6", 0.01, "damping in units of mean(diag H)"},
    {"damping_tries", F_INT, P(damping_tries), 1, 1000, "in 1..1000", 10, "Cholesky attempts"},
    {"scale_override", F_NUM, P(scale_override), -HUGE_VAL, 100,
     "at most 100 (<= 0: method default)", -1, "target RMS factor"},
    {"seed", F_SEED, P(seed), NOLIMIT, 0, "seed of the sign vectors (a non-negative integer)"},
    {"tail_biting", F_TAIL, P(tail_biting), 0, 65536, "in 0..65536 (0 or 1: two-pass)", 0,
     "\"two-pass\" or \"best-of-<n>\""},
    {"tp_size", F_INT, P(tp_size), 1, 1024, "in 1..1024", 1,
     "tensor-parallel degree: the sharded side's RHT per shard (1: whole layer)"},
    {"tp_split", F_SPLIT, P(tp_split), 0, 2, "\"auto\", \"input\" or \"output\"", 0,
     "the side tp_size shards: input (row-parallel), output (column-parallel), auto (from the name)"},
};
#undef P
#undef NOLIMIT
#define NFIELDS (sizeof fields / sizeof fields[0])

static double get_value(const qtip_quant_params *p, const field_row *f)
{
    const char *base = (const char *)p;
    if (f->type == F_NUM) return *(const double *)(base + f->off);
    if (f->type == F_SEED) return (double)*(const uint64_t *)(base + f->off);
    return (double)*(const int *)(base + f->off);
}

static void set_value(qtip_quant_params *p, const field_row *f, double v)
{
    char *base = (char *)p;
    if (f->type == F_NUM) *(double *)(base + f->off) = v;
    else if (f->type == F_SEED) *(uint64_t *)(base + f->off) = (uint64_t)v;
    else *(int *)(base + f->off) = (int)v;
}

qtip_quant_params qtip_quant_default_params(qtip_quant_method method)
{
    qtip_quant_params p;
    memset(&p, 0, sizeof p);
    const qtip_method_ops *ops = qtip_method_ops_(method);
    p.method = method;
    p.trellis = qtip_trellis_default_params();
    p.e8p = QTIP_E8P12;
    for (size_t i = 0; i < NFIELDS; i++)
        if (!isnan(fields[i].dflt)) set_value(&p, &fields[i], fields[i].dflt);
    p.refine_passes = ops ? ops->default_refine_passes : 0;
    p.device = QTIP_DEVICE_CPU;
    return p;
}

qtip_status qtip_quant_check_params(const qtip_quant_params *p)
{
    const qtip_method_ops *ops = qtip_method_ops_(p->method);
    QTIP_RETURN_ERROR_IF(!ops, QTIP_E_PARAM, "unknown quantization method %d", (int)p->method);
    QTIP_FORWARD_IF_ERROR(ops->check(p));
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_row *f = &fields[i];
        if (!f->range) continue;
        double v = get_value(p, f); /* NaN and Inf fail the range (Inf: hi is finite) */
        QTIP_RETURN_ERROR_IF(!(v >= f->lo && v <= f->hi) || isinf(v), QTIP_E_PARAM,
                             "%s must be %s, found %g", f->key, f->range, v);
    }
    QTIP_RETURN_ERROR_IF(p->device < QTIP_DEVICE_CPU || p->device > QTIP_DEVICE_AUTO, QTIP_E_PARAM,
                         "unknown device %d", (int)p->device);
    QTIP_RETURN_ERROR_IF(p->device_index < 0 || p->device_index > 1023, QTIP_E_PARAM,
                         "device index must be 0..1023, found %d", p->device_index);
    return QTIP_OK;
}

int qtip_quant_block_cols(const qtip_quant_params *p)
{
    return qtip_method_ops_(p->method)->block_cols(p);
}

double qtip_quant_effective_scale(const qtip_quant_params *p)
{
    if (p->scale_override > 0) return p->scale_override;
    return qtip_method_ops_(p->method)->default_scale(p);
}

qtip_quant_params qtip_quant_switch_method(const qtip_quant_params *p, qtip_quant_method method)
{
    if (p->method == method) return *p;
    qtip_quant_params d = qtip_quant_default_params(method);
    d.sigma_reg = p->sigma_reg;
    d.seed = p->seed;
    return d;
}

static const field_row *find_field(const char *key)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(key, fields[i].key)) return &fields[i];
    return NULL;
}

/* Names: QTIP_E_PARAM (a wrong value, as a bad option); types: QTIP_E_FORMAT. */
static qtip_status set_name_field(const field_row *f, const char *where, const char *s,
                                  qtip_quant_params *p)
{
    if (f->type == F_CODE) {
        int c = qtip_code_from_name(s);
        QTIP_RETURN_ERROR_IF(c < 0, QTIP_E_PARAM, "%s: unknown decode_mode '%s'", where, s);
        p->trellis.code = (qtip_code)c;
    } else if (f->type == F_CODEBOOK && strcasecmp(s, "bitshift") != 0) {
        int k = qtip_e8p_from_name(s);
        QTIP_RETURN_ERROR_IF(k < 0, QTIP_E_PARAM, "%s: unknown codebook '%s'", where, s);
        p->method = QTIP_METHOD_E8P;
        p->e8p = (qtip_e8p_kind)k;
    } else if (f->type == F_SPLIT) {
        int sp = qtip_tp_split_from_name(s);
        QTIP_RETURN_ERROR_IF(sp < 0, QTIP_E_PARAM, "%s: tp_split '%s': expected auto, input or output",
                             where, s);
        p->tp_split = sp;
    } else if (f->type == F_TAIL) {
        int n = qtip_trellis_tail_biting_from_name(s);
        QTIP_RETURN_ERROR_IF(n < 1, QTIP_E_FORMAT,
                             "%s: field 'tail_biting' must be \"two-pass\" or \"best-of-<n>\"", where);
        p->tail_biting = n >= 2 ? n : 0;
    }
    return QTIP_OK;
}

static qtip_status set_field(const field_row *f, const char *where, json_t *v, qtip_quant_params *p)
{
    char *base = (char *)p;
    switch (f->type) {
    case F_INT:
        QTIP_RETURN_ERROR_IF(!json_is_integer(v), QTIP_E_FORMAT, "%s: field '%s' must be an integer",
                             where, f->key);
        *(int *)(base + f->off) = (int)json_integer_value(v);
        return QTIP_OK;
    case F_NUM:
        QTIP_RETURN_ERROR_IF(!json_is_number(v), QTIP_E_FORMAT, "%s: field '%s' must be a number",
                             where, f->key);
        *(double *)(base + f->off) = json_number_value(v);
        return QTIP_OK;
    case F_SEED:
        QTIP_RETURN_ERROR_IF(!json_is_integer(v) || json_integer_value(v) < 0, QTIP_E_FORMAT,
                             "%s: field 'seed' must be a non-negative integer", where);
        p->seed = (uint64_t)json_integer_value(v);
        return QTIP_OK;
    case F_METHOD: /* applied first, by method_of */
        return QTIP_OK;
    case F_TAIL:
    case F_CODE:
    case F_CODEBOOK:
    case F_SPLIT:
        break;
    }
    QTIP_RETURN_ERROR_IF(f->type == F_TAIL && !json_is_string(v), QTIP_E_FORMAT,
                         "%s: field 'tail_biting' must be \"two-pass\" or \"best-of-<n>\"", where);
    QTIP_RETURN_ERROR_IF(!json_is_string(v), QTIP_E_FORMAT, "%s: field '%s' must be a string",
                         where, f->key);
    return set_name_field(f, where, json_string_value(v), p);
}

/* The method the config asks for, before its other fields (which override the
 * method's defaults): an E8P codebook wins, then quant_method; -1: unchanged. */
static qtip_status method_of(json_t *obj, const char *where, int *method)
{
    json_t *cb = json_object_get(obj, "codebook"), *qm = json_object_get(obj, "quant_method");
    *method = -1;
    if (json_is_string(cb) && qtip_e8p_from_name(json_string_value(cb)) >= 0) {
        *method = QTIP_METHOD_E8P;
    } else if (json_is_string(qm)) {
        *method = qtip_quant_method_from_name(json_string_value(qm));
        QTIP_RETURN_ERROR_IF(*method < 0, QTIP_E_PARAM, "%s: unknown method '%s'", where,
                             json_string_value(qm));
    }
    return QTIP_OK;
}

static qtip_status apply_config(json_t *root, const char *where, qtip_quant_params *p)
{
    QTIP_RETURN_ERROR_IF(!json_is_object(root), QTIP_E_FORMAT, "cannot read %s: expected a JSON object",
                         where);
    json_t *qc = json_object_get(root, "quantization_config");
    json_t *obj = json_is_object(qc) ? qc : root;
    int method;
    QTIP_FORWARD_IF_ERROR(method_of(obj, where, &method));
    if (method >= 0) *p = qtip_quant_default_params((qtip_quant_method)method);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const field_row *f = find_field(key);
        if (f) QTIP_FORWARD_IF_ERROR(set_field(f, where, v, p));
        else qtip_log(QTIP_LOG_WARN, "%s: ignoring unknown field '%s'", where, key);
    }
    return QTIP_OK;
}

qtip_status qtip_quant_params_from_json(const char *path, qtip_quant_params *p)
{
    char where[600];
    snprintf(where, sizeof where, "config '%s'", path);
    json_t *root;
    QTIP_FORWARD_IF_ERROR(io_read_json_object(path, &root));
    qtip_status st = apply_config(root, where, p);
    json_decref(root);
    return st;
}
