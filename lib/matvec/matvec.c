/*
 * matvec.c — the CPU matvec's context and calls (qtip_matvec.h): the layer
 * checked and copied, the input signs and Hadamard, the row blocks of Wr times
 * the rotated inputs over OpenMP threads (each block by one thread: no result
 * depends on the thread count), the output Hadamard, scale and signs.
 */
#include "matvec/matvec_internal.h"
#include "verify/verify_internal.h"

#include <math.h>
#include <string.h>

void qtip_matvec_free(qtip_matvec *mv)
{
    if (!mv) return;
    free(mv->SU);
    free(mv->SV);
    qtip_trellis_free(mv->tr);
    free(mv->words);
    free(mv->state_of);
    free(mv->word_of);
    free(mv->shift_of);
    free(mv->group_base);
    free(mv->rel_of);
    free(mv->hyb_pairs);
    free(mv->hyb_signed);
    free(mv->chunks);
    qtip_e8p_free(mv->cb);
    free(mv->codes_own);
    free(mv);
}

static qtip_status check_finite(const char *tensor, const char *what, const float *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(v[i]), QTIP_E_NONFINITE,
                             "matvec: layer '%s': %s[%zu] is not finite", tensor, what, i);
    return QTIP_OK;
}

/* The signs and scale, checked: a non-finite one would poison every output. */
static qtip_status copy_scales(qtip_matvec *mv, const qtip_layer_info *l)
{
    QTIP_FORWARD_IF_ERROR(check_finite(l->tensor, "Wscale", &l->wscale, 1));
    QTIP_FORWARD_IF_ERROR(check_finite(l->tensor, "SU", l->SU, (size_t)l->n));
    QTIP_FORWARD_IF_ERROR(check_finite(l->tensor, "SV", l->SV, (size_t)l->m));
    mv->wscale = l->wscale;
    mv->SU = qtip_alloc((size_t)l->n, sizeof(float), "SU");
    mv->SV = qtip_alloc((size_t)l->m, sizeof(float), "SV");
    if (!mv->SU || !mv->SV) return QTIP_E_NOMEM;
    memcpy(mv->SU, l->SU, (size_t)l->n * sizeof(float));
    memcpy(mv->SV, l->SV, (size_t)l->m * sizeof(float));
    return QTIP_OK;
}

/* Both Hadamard orders must have a construction before any call needs them. */
static qtip_status check_hadamard(const qtip_layer_info *l)
{
    int64_t k;
    int p;
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(l->n, &k, &p), QTIP_E_UNSUPPORTED,
                         "matvec: layer '%s': no Hadamard matrix of order %lld (in features)",
                         l->tensor, (long long)l->n);
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(l->m, &k, &p), QTIP_E_UNSUPPORTED,
                         "matvec: layer '%s': no Hadamard matrix of order %lld (out features)",
                         l->tensor, (long long)l->m);
    return QTIP_OK;
}

qtip_status qtip_matvec_create(const qtip_layer_info *layer, qtip_matvec **out)
{
    QTIP_RETURN_ERROR_IF(!layer || !out, QTIP_E_PARAM, "matvec: null argument");
    *out = NULL;
    /* the artifact's checks of parameters and shapes; its copies are aligned */
    qtip_layer_artifact *a = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_layer_artifact_from_info(layer, &a));
    qtip_layer_info l;
    qtip_layer_artifact_info(a, &l);
    qtip_matvec *mv = qtip_calloc(1, sizeof *mv, "matvec");
    qtip_status st = mv ? check_hadamard(&l) : QTIP_E_NOMEM;
    if (!st) {
        mv->p = l.params;
        mv->m = l.m;
        mv->n = l.n;
        st = copy_scales(mv, &l);
    }
    if (!st)
        st = l.params.method == QTIP_METHOD_E8P ? qtip_mv_e8p_init(mv, &l) : qtip_mv_trellis_init(mv, &l);
    qtip_layer_artifact_free(a);
    if (st) {
        qtip_matvec_free(mv);
        return st;
    }
    *out = mv;
    return QTIP_OK;
}

qtip_status qtip_matvec_open(const char *dir, const char *layer, qtip_matvec **out)
{
    QTIP_RETURN_ERROR_IF(!dir || !layer || !out, QTIP_E_PARAM, "matvec: null argument");
    *out = NULL;
    vdir d;
    qtip_status st = vdir_open(dir, NULL, &d);
    json_t *o = st ? NULL : json_object_get(d.layers, layer);
    if (!st && !o)
        st = qtip_error(QTIP_E_NOT_FOUND, "matvec: '%s' has no quantized layer '%s'", dir, layer);
    qtip_layer_artifact *a = NULL;
    if (!st) st = vdir_load_layer(&d, layer, o, &a);
    if (!st) {
        qtip_layer_info l;
        qtip_layer_artifact_info(a, &l);
        st = qtip_matvec_create(&l, out);
    }
    qtip_layer_artifact_free(a);
    vdir_close(&d);
    return st;
}

void qtip_matvec_shape(const qtip_matvec *mv, int64_t *m, int64_t *n)
{
    if (m) *m = mv ? mv->m : 0;
    if (n) *n = mv ? mv->n : 0;
}

const char *qtip_matvec_simd(void) { return qtip_mv_have_avx2() ? "avx2" : "portable"; }
