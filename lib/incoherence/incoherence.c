/*
 * incoherence.c — the incoherence step of one layer on its own (what
 * qtip-incoherence runs): find the weight, load its Hessian, draw the sign
 * vectors, rotate both, measure mu before and after, and write the result.
 */
#include "incoherence/hadamard_internal.h"
#include "io/weight_lookup_internal.h"

#include <math.h>
#include <string.h>

/* W (m x n, f32) of `tensor` in `path`, with the shape checks of a rotation. */
static qtip_status read_weight(const char *path, const char *tensor, qtip_incoherence *r)
{
    qtip_st_file *f = NULL;
    QTIP_FORWARD_IF_ERROR(qtip_st_open(path, &f));
    const qtip_tensor_view *v = NULL;
    qtip_status s = qtip_st_find_weight_(f, path, tensor, r->tensor, sizeof r->tensor, &v);
    if (s == QTIP_OK && v->ndim != 2)
        s = qtip_error(QTIP_E_SHAPE, "cannot rotate '%s': tensor '%s' has %d dimensions, expected 2",
                       path, r->tensor, v->ndim);
    int64_t bad = 0;
    if (s == QTIP_OK) {
        r->m = v->shape[0];
        r->n = v->shape[1];
        if (!qtip_had_supported(r->m, &r->k_m, NULL)) bad = r->m;
        else if (!qtip_had_supported(r->n, &r->k_n, NULL)) bad = r->n;
    }
    if (bad) {
        qtip_had_unsupported_error_(bad, "hadamard transform");
        qtip_error_prefix("cannot rotate '%s': tensor '%s' has shape [%lld, %lld]", path, r->tensor,
                          (long long)r->m, (long long)r->n);
        s = QTIP_E_SHAPE;
    }
    if (s == QTIP_OK) {
        r->W = qtip_alloc((size_t)r->m * (size_t)r->n, sizeof(float), "the weight");
        s = r->W ? qtip_convert_to_f32(v->dtype, v->data, (size_t)r->m * (size_t)r->n, r->W) : QTIP_E_NOMEM;
        if (s != QTIP_OK && r->W) qtip_error_prefix("cannot read '%s': tensor '%s'", path, r->tensor);
    }
    qtip_st_close(f);
    return s;
}

/* Rotate W and H with the seed's signs, measuring mu on each side of the rotation. */
static qtip_status rotate(qtip_incoherence *r, uint64_t seed)
{
    const int64_t m = r->m, n = r->n;
    r->SU = qtip_alloc((size_t)n, sizeof(float), "the sign vector SU");
    r->SV = qtip_alloc((size_t)m, sizeof(float), "the sign vector SV");
    if (!r->SU || !r->SV) return QTIP_E_NOMEM;
    qtip_rht_signs(seed, r->tensor, "SU", n, r->SU);
    qtip_rht_signs(seed, r->tensor, "SV", m, r->SV);
    QTIP_FORWARD_IF_ERROR(qtip_rht_mu_weight(r->W, m, n, &r->mu_w_before));
    QTIP_FORWARD_IF_ERROR(qtip_rht_weight(r->W, m, n, r->SU, r->SV));
    QTIP_FORWARD_IF_ERROR(qtip_rht_mu_weight(r->W, m, n, &r->mu_w_after));
    if (!r->H) return QTIP_OK;
    QTIP_FORWARD_IF_ERROR(qtip_rht_mu_hessian(r->H, n, &r->mu_h_before));
    QTIP_FORWARD_IF_ERROR(qtip_rht_hessian(r->H, n, r->SU));
    return qtip_rht_mu_hessian(r->H, n, &r->mu_h_after);
}

qtip_status qtip_incoherence_run(const char *weights_path, const char *tensor,
                                 const char *hessian_path, uint64_t seed, qtip_incoherence **out)
{
    *out = NULL;
    QTIP_RETURN_ERROR_IF(!weights_path || !tensor, QTIP_E_PARAM,
                         "qtip_incoherence_run: weights path and tensor are required");
    qtip_incoherence *r = calloc(1, sizeof *r);
    QTIP_RETURN_ERROR_IF(!r, QTIP_E_NOMEM, "cannot allocate an incoherence result");
    r->seed = seed;
    r->mu_h_before = r->mu_h_after = NAN;
    qtip_status s = read_weight(weights_path, tensor, r);
    if (s == QTIP_OK && hessian_path) s = qtip_hessian_load_expectation(hessian_path, r->n, &r->H);
    if (s == QTIP_OK && (s = rotate(r, seed)) != QTIP_OK)
        qtip_error_prefix("cannot rotate tensor '%s' of '%s'", r->tensor, weights_path);
    if (s != QTIP_OK) {
        qtip_incoherence_free(r);
        return s;
    }
    *out = r;
    return QTIP_OK;
}

void qtip_incoherence_free(qtip_incoherence *r)
{
    if (!r) return;
    free(r->W);
    free(r->SU);
    free(r->SV);
    free(r->H);
    free(r);
}

qtip_status qtip_incoherence_save(const qtip_incoherence *r, const char *path)
{
    qtip_st_writer *w = NULL;
    int64_t shW[2] = {r->m, r->n}, shH[2] = {r->n, r->n}, shU[1] = {r->n}, shV[1] = {r->m};
    char seedstr[32];
    snprintf(seedstr, sizeof seedstr, "%llu", (unsigned long long)r->seed);
    qtip_status s = qtip_st_writer_create(&w);
    if (s == QTIP_OK) s = qtip_st_writer_add_ref(w, r->tensor, QTIP_DT_F32, 2, shW, r->W);
    if (s == QTIP_OK) s = qtip_st_writer_add_ref(w, "SU", QTIP_DT_F32, 1, shU, r->SU);
    if (s == QTIP_OK) s = qtip_st_writer_add_ref(w, "SV", QTIP_DT_F32, 1, shV, r->SV);
    if (s == QTIP_OK && r->H) s = qtip_st_writer_add_ref(w, "hessian", QTIP_DT_F64, 2, shH, r->H);
    if (s == QTIP_OK) s = qtip_st_writer_set_metadata(w, "qtip.seed", seedstr);
    if (s == QTIP_OK) s = qtip_st_writer_set_metadata(w, "qtip.tensor", r->tensor);
    if (s == QTIP_OK)
        s = qtip_st_writer_set_metadata(w, "qtip.transform", "W: U_m^T diag(SV) W diag(SU) U_n; "
                                        "hessian: U_n^T diag(SU) H diag(SU) U_n");
    if (s == QTIP_OK) s = qtip_st_writer_write(w, path, 0);
    qtip_st_writer_free(w);
    return s;
}
