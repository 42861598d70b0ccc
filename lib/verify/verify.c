/*
 * verify.c — qtip-verify: the report and the order of the checks. Structure
 * (verify_config.c), checksums and copied tensors (verify_checksum.c), each layer
 * (verify_layer.c), then the dequantized model (verify_dequant.c).
 */
#include "io/io_internal.h"
#include "verify/verify_internal.h"
#include "pack/pack_internal.h"

#include <string.h>

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

static qtip_status verify_layers(const vdir *d, const qtip_verify_options *opt, qtip_verify_report *rep,
                                 deq_set *deq)
{
    rep->layers = qtip_calloc(json_object_size(d->layers) + 1, sizeof *rep->layers, "report");
    ck_cache *ck = ck_cache_new();
    qtip_status s = rep->layers && ck ? QTIP_OK : QTIP_E_NOMEM;
    const char *pre;
    json_t *o;
    json_object_foreach(d->layers, pre, o) {
        if (s) break;
        s = verify_layer(d, pre, o, opt, rep, ck, deq);
    }
    ck_cache_free(ck);
    if (s) qtip_error_prefix("'%s'", d->dir);
    return s;
}

static qtip_status verify_all(const vdir *d, const qtip_verify_options *opt, qtip_verify_report *rep)
{
    QTIP_FORWARD_IF_ERROR(verify_checksum_table(d));
    QTIP_FORWARD_IF_ERROR(verify_copied_tensors(d));
    if (!opt->dequantize_dir) return verify_layers(d, opt, rep, NULL);
    /* opened first: an existing output is refused before the long part */
    QTIP_FORWARD_IF_ERROR(io_refuse_inside(opt->dequantize_dir, d->dir));
    QTIP_FORWARD_IF_ERROR(io_refuse_inside(opt->dequantize_dir, opt->original_dir));
    qtip_model_writer *w = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_model_writer_open(opt->dequantize_dir, opt->dequantize_max_shard_size, &w));
    deq_set *deq = deq_set_new(opt->dequantize_dtype);
    qtip_status s = deq ? verify_layers(d, opt, rep, deq) : QTIP_E_NOMEM;
    if (!s) s = write_dequantized(w, d, deq);
    else qtip_model_writer_abort(w);
    deq_set_free(deq);
    return s;
}

qtip_status qtip_verify_model(const char *dir, const qtip_verify_options *opt, qtip_verify_report **out)
{
    *out = NULL;
    qtip_verify_options dflt;
    if (!opt) { qtip_verify_options_default(&dflt); opt = &dflt; }
    vdir d;
    qtip_status s = vdir_open(dir, opt->original_dir, &d);
    qtip_verify_report *rep = s ? NULL : qtip_calloc(1, sizeof *rep, "report");
    if (!s && !rep) s = QTIP_E_NOMEM;
    if (!s) s = verify_all(&d, opt, rep);
    vdir_close(&d);
    if (s) { qtip_verify_report_free(rep); return s; }
    *out = rep;
    return QTIP_OK;
}
