/*
 * verify_layer.c — one layer of a packed directory: decoded with the artifact's
 * decoder, compared with the original weights (relative error) and Hessian (proxy
 * loss), and run forward the way a serving engine does (transforms applied to the
 * activations, never to the weights).
 */
#include "verify/verify_internal.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

qtip_status decode_layer(const qtip_layer_artifact *a, float *Wr, float *W)
{
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    size_t mn = (size_t)(l.m * l.n);
    qtip_status s = qtip_layer_artifact_decode_rotated(a, Wr);
    if (s) { qtip_error_prefix("cannot decode layer '%s'", l.tensor); return s; }
    for (size_t i = 0; i < mn; i++) Wr[i] *= l.wscale;
    memcpy(W, Wr, mn * sizeof(float));
    int64_t out_blocks, in_blocks;
    qtip_tp_blocks(&l.params, &out_blocks, &in_blocks);
    QTIP_FORWARD_IF_ERROR(qtip_rht_weight_inverse_blocks(W, l.m, l.n, l.SU, l.SV, out_blocks, in_blocks));
    /* a finite but huge Wscale (a damaged or hostile file) overflows to Inf, and a
     * NaN error would pass every threshold */
    for (size_t i = 0; i < mn; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(W[i]), QTIP_E_NONFINITE,
                             "layer '%s': decoded weight %zu is not finite (Wscale %g)", l.tensor, i,
                             (double)l.wscale);
    return QTIP_OK;
}

/* max |y_engine - y_dense| / max |y_dense| over a few random inputs. The engine's
 * transforms run per shard on a tensor-parallel layer's sharded side (a B x n
 * row-major batch is B*blocks rows of n/blocks): what each rank computes. */
static qtip_status forward_check(const qtip_layer_info *l, const float *Wr, const float *W, uint64_t seed,
                                 double *err)
{
    int64_t m = l->m, n = l->n;
    const int B = 4;
    float *x = qtip_alloc((size_t)(B * n), 4, "x"), *x2 = qtip_alloc((size_t)(B * n), 4, "x2");
    float *y = qtip_alloc((size_t)(B * m), 4, "y");
    if (!x || !x2 || !y) { free(x); free(x2); free(y); return QTIP_E_NOMEM; }
    uint64_t s = seed; /* the project's one generator: uniform in [-1, 1) */
    for (int64_t i = 0; i < B * n; i++) x[i] = (float)qtip_rng_symmetric(&s);
    for (int b = 0; b < B; b++)
        for (int64_t j = 0; j < n; j++) x2[b * n + j] = l->SU[j] * x[b * n + j];
    int64_t ob, ib;
    qtip_tp_blocks(&l->params, &ob, &ib);
    qtip_status st = qtip_had_transform_f32(x2, B * ib, n / ib, 1);  /* U_n^T (SU x) */
    for (int b = 0; !st && b < B; b++)
        for (int64_t i = 0; i < m; i++) {
            double acc = 0;
            for (int64_t j = 0; j < n; j++) acc += (double)Wr[i * n + j] * x2[b * n + j];
            y[b * m + i] = (float)acc;
        }
    if (!st) st = qtip_had_transform_f32(y, B * ob, m / ob, 0);      /* U_m z */
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

/* The original weight of the layer as floats, and ||W0 - W||_F / ||W0||_F. */
static qtip_status relative_error(const vdir *d, const qtip_layer_info *l, const float *W, float *W0,
                                  double *rel)
{
    char name[1200];
    snprintf(name, sizeof name, "%s.weight", l->tensor);
    const qtip_tensor_view *v = qtip_st_find(d->orig, name);
    QTIP_RETURN_ERROR_IF(!v, QTIP_E_NOT_FOUND, "original model has no tensor '%s'", name);
    QTIP_RETURN_ERROR_IF(v->ndim != 2 || v->shape[0] != l->m || v->shape[1] != l->n, QTIP_E_SHAPE,
                         "original tensor '%s' has another shape than the packed layer", name);
    QTIP_FORWARD_IF_ERROR(qtip_convert_to_f32(v->dtype, v->data, (size_t)(l->m * l->n), W0));
    double num = 0, den = 0;
    for (int64_t i = 0; i < l->m * l->n; i++) {
        double e = (double)W0[i] - W[i];
        num += e * e;
        den += (double)W0[i] * W0[i];
    }
    *rel = den > 0 ? sqrt(num / den) : sqrt(num);
    return QTIP_OK;
}

static qtip_status proxy_from_hessian(const char *dir, const qtip_layer_info *l, const float *W0,
                                      const float *W, double *proxy)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.safetensors", dir, l->tensor);
    if (l->hessian_checksum && l->hessian_checksum[0] && strcmp(l->hessian_checksum, "identity")) {
        char ck[QTIP_CHECKSUM_STRLEN];
        QTIP_FORWARD_IF_ERROR(qtip_checksum_file(p, ck));
        QTIP_RETURN_ERROR_IF(strcmp(ck, l->hessian_checksum), QTIP_E_MISMATCH,
                             "Hessian '%s' has checksum %s, the layer '%s' was quantized with %s", p,
                             ck, l->tensor, l->hessian_checksum);
    }
    double *H = NULL, err = 0, ref = 0;
    QTIP_FORWARD_IF_ERROR(qtip_hessian_load_expectation(p, l->n, &H)); /* as qtip-quantize loads it */
    qtip_status s = qtip_quant_proxy_terms(W0, W, l->m, l->n, H, &err, &ref);
    *proxy = ref > 0 ? err / ref : NAN;
    free(H);
    return s;
}

/* The first threshold the layer violates, counted in the report. */
static void check_thresholds(const qtip_verify_layer *r, const qtip_verify_options *opt,
                             qtip_verify_report *rep)
{
    char why[512] = "";
    const char *pre = r->name;
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
    if (!why[0]) return;
    if (!rep->failures) snprintf(rep->msg, sizeof rep->msg, "%s", why);
    rep->failures++;
}

/* Errors against the original and the Hessian (W0: room for the original). */
static qtip_status compare_original(const vdir *d, const qtip_layer_info *l, const float *W, float *W0,
                                    const qtip_verify_options *opt, qtip_verify_layer *r)
{
    if (d->orig) QTIP_FORWARD_IF_ERROR(relative_error(d, l, W, W0, &r->rel_error));
    if (!opt->hessian_dir) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!d->orig, QTIP_E_PARAM,
                         "--hessians needs --original (the proxy loss compares with the original weights)");
    QTIP_FORWARD_IF_ERROR(proxy_from_hessian(opt->hessian_dir, l, W0, W, &r->proxy_loss));
    if (isfinite(r->recorded_proxy_loss))
        r->proxy_matches = fabs(r->proxy_loss - r->recorded_proxy_loss) <=
                           1e-6 * fabs(r->recorded_proxy_loss) + 1e-12;
    return QTIP_OK;
}

static qtip_status measure(const vdir *d, const qtip_layer_artifact *a, const qtip_verify_options *opt,
                           qtip_verify_report *rep, ck_cache *ck, deq_set *deq)
{
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    qtip_verify_layer *r = &rep->layers[rep->n];
    r->recorded_proxy_loss = l.proxy_loss;
    size_t mn = (size_t)(l.m * l.n);
    float *Wr = qtip_alloc(mn, 4, "Wr"), *W = qtip_alloc(mn, 4, "W");
    float *W0 = d->orig ? qtip_alloc(mn, 4, "original") : NULL;
    qtip_status s = Wr && W && (W0 || !d->orig) ? decode_layer(a, Wr, W) : QTIP_E_NOMEM;
    if (!s) s = check_weights_checksum(opt->original_dir, &l, ck, &r->weights_checksum_ok);
    if (!s) s = forward_check(&l, Wr, W, opt->seed + rep->n, &r->forward_max_error);
    if (!s) s = compare_original(d, &l, W, W0, opt, r);
    if (!s && deq) s = deq_set_add(deq, l.tensor, W, l.m, l.n);
    if (!s) check_thresholds(r, opt, rep);
    free(Wr);
    free(W);
    free(W0);
    return s;
}

qtip_status verify_layer(const vdir *d, const char *pre, json_t *o, const qtip_verify_options *opt,
                         qtip_verify_report *rep, ck_cache *ck, deq_set *deq)
{
    qtip_verify_layer *r = &rep->layers[rep->n];
    snprintf(r->name, sizeof r->name, "%s", pre);
    r->rel_error = r->proxy_loss = r->recorded_proxy_loss = NAN;
    r->proxy_matches = 1;
    r->weights_checksum_ok = -1;
    qtip_layer_artifact *a = NULL;
    qtip_status s = vdir_load_layer(d, pre, o, &a);
    if (!s) {
        qtip_layer_info l;
        qtip_layer_artifact_info(a, &l);
        r->m = l.m;
        r->n = l.n;
        s = measure(d, a, opt, rep, ck, deq);
    }
    qtip_layer_artifact_free(a);
    rep->n++;
    return s;
}
