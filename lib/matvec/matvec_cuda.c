/*
 * matvec_cuda.c — qtip_cuda_matvec_* (lib/qtip_matvec.h): a packed layer in device
 * memory served by the CUDA plugin's fused decode-GEMV (kernels/bitshift_gemm.cu).
 * libqtip never links CUDA: the entries are the plugin's (core/backend.h), found
 * at the first call; without the plugin or a device the call fails with the
 * reason, and the CPU matvec (matvec.c) is the caller's fallback.
 */
#include "core/backend.h"
#include "matvec/matvec_internal.h"

#include <stddef.h>

struct qtip_cuda_matvec {
    const qtip_cuda_plugin *p;
    qtip_cuda_gemm *g;
};

/* The plugin, checked to have the serving entries and device `device`. */
static qtip_status find_plugin(int device, const qtip_cuda_plugin **out)
{
    const qtip_cuda_plugin *p;
    int ndev = 0;
    QTIP_FORWARD_IF_ERROR(qtip_backend_cuda(&p, &ndev));
    QTIP_RETURN_ERROR_IF(p->size < offsetof(qtip_cuda_plugin, gemm_free) + sizeof p->gemm_free,
                         QTIP_E_UNSUPPORTED,
                         "the CUDA plugin '%s' has no decode-GEMV entries (an older build)",
                         qtip_backend_cuda_path());
    QTIP_RETURN_ERROR_IF(device < 0 || device >= ndev, QTIP_E_PARAM,
                         "no CUDA device cuda:%d: there %s %d device%s", device,
                         ndev == 1 ? "is" : "are", ndev, ndev == 1 ? "" : "s");
    *out = p;
    return QTIP_OK;
}

qtip_status qtip_cuda_matvec_create(int device, const qtip_cuda_matvec_layer *layer,
                                    qtip_cuda_matvec **out)
{
    QTIP_RETURN_ERROR_IF(!layer || !out, QTIP_E_PARAM, "cuda matvec: null argument");
    *out = NULL;
    const qtip_cuda_plugin *p = NULL;
    QTIP_FORWARD_IF_ERROR(find_plugin(device, &p));
    qtip_cuda_matvec *mv = qtip_calloc(1, sizeof *mv, "cuda matvec");
    if (!mv) return QTIP_E_NOMEM;
    mv->p = p;
    qtip_status st = p->gemm_create(device, layer, &mv->g);
    if (st) {
        free(mv);
        return qtip_error(st, "%s", p->last_error());
    }
    *out = mv;
    return QTIP_OK;
}

qtip_status qtip_cuda_matvec_create_flat(int device, const char *code, int L, int K, int V, int Q,
                                         int td_x, int td_y, int64_t m, int64_t n,
                                         const void *codes, int64_t code_cols, const float *SU,
                                         const float *SV, float wscale, const float *tlut,
                                         qtip_cuda_matvec **out)
{
    QTIP_RETURN_ERROR_IF(!code || !out, QTIP_E_PARAM, "cuda matvec: null code name or output");
    qtip_cuda_matvec_layer l = {0};
    QTIP_FORWARD_IF_ERROR(qtip_mv_params_of_code(code, L, K, V, Q, td_x, td_y, &l.params));
    l.m = m;
    l.n = n;
    l.wscale = wscale;
    l.code_cols = code_cols;
    l.codes = codes;
    l.SU = SU;
    l.SV = SV;
    l.tlut = tlut;
    return qtip_cuda_matvec_create(device, &l, out);
}

qtip_status qtip_cuda_matvec_apply(qtip_cuda_matvec *mv, const float *x, float *y, int64_t batch,
                                   void *stream)
{
    QTIP_RETURN_ERROR_IF(!mv, QTIP_E_PARAM, "cuda matvec: null context");
    qtip_status st = mv->p->gemm_apply(mv->g, x, y, batch, stream);
    return st ? qtip_error(st, "%s", mv->p->last_error()) : QTIP_OK;
}

void qtip_cuda_matvec_free(qtip_cuda_matvec *mv)
{
    if (!mv) return;
    mv->p->gemm_free(mv->g);
    free(mv);
}
