/*
 * export_hadamard.c — which layer dimensions each loader can transform the way
 * we did. A loader rebuilds the Hadamard matrix of each dimension from its own
 * tables (nothing of it is in the checkpoint), so an export is only right when
 * its matrix is ours entry for entry; every other dimension is refused with the
 * layer, the dimension and the reason.
 */
#include "pack/pack_internal.h"

/* QTIP's get_hadK (lib/utils/matmul_had.py; qtip.md 4.2): the first of these
 * that divides N is taken, then N / K must be a power of two (asserted); no
 * divisor: N must be a power of two. Its tables equal ours for each of them. */
static const int64_t qtip_ref_factors[] = {172, 156, 140, 124, 116, 108, 60, 52, 36, 28, 20, 12};

/* QuIP-for-all in use_rand false mode takes 4b for N = 2^e * b (b odd, e >= 2)
 * from its hadamard.safetensors. The orders whose matrices are checked equal to
 * ours (Paley I, Paley II and Williamson constructions of quipsharp.md 2.4,
 * compared with ours in tests/unit/test_exports.c). 124 differs (its Paley II,
 * QTIP's Williamson); 188, 212 and larger use constructions not reproduced. */
static const int64_t quip_for_all_factors[] = {12,  20,  28,  36,  44,  52,  60,  68,
                                               76,  84,  92,  100, 108, 116, 132, 140,
                                               148, 156, 164, 172, 180, 196, 204, 220};

static int is_pow2(int64_t N) { return N > 0 && (N & (N - 1)) == 0; }

static int listed(const int64_t *list, size_t n, int64_t K)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == K) return 1;
    return 0;
}

/* One dimension against QTIP's rule (and ours giving the same factor). */
static qtip_status qtip_ref_dim(const char *pre, const char *side, int64_t N)
{
    int64_t Kh = 1, ours = 0;
    for (size_t i = 0; i < sizeof qtip_ref_factors / sizeof qtip_ref_factors[0] && Kh == 1; i++)
        if (N % qtip_ref_factors[i] == 0) Kh = qtip_ref_factors[i];
    QTIP_RETURN_ERROR_IF(Kh == 1 && !is_pow2(N), QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld cannot be exported to qtip-reference: its "
                         "loader's Hadamard factors are 172, 156, 140, 124, 116, 108, 60, 52, 36, 28, "
                         "20 and 12 (get_hadK), none divides %lld and it is not a power of two (the "
                         "loader fails an assertion)", pre, side, (long long)N, (long long)N);
    QTIP_RETURN_ERROR_IF(!is_pow2(N / Kh), QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld cannot be exported to qtip-reference: its "
                         "loader takes the Hadamard factor %lld, the first of its list that divides "
                         "it, and %lld / %lld is not a power of two (the loader fails an assertion)",
                         pre, side, (long long)N, (long long)Kh, (long long)N, (long long)Kh);
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(N, &ours, NULL) || ours != Kh, QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld: our Hadamard factor is %lld, the "
                         "qtip-reference loader's %lld", pre, side, (long long)N, (long long)ours,
                         (long long)Kh);
    return QTIP_OK;
}

qtip_status qtip_export_check_qtip_ref_(const qtip_layer_info *l, const char *pre)
{
    QTIP_FORWARD_IF_ERROR(qtip_ref_dim(pre, "output", l->m));
    return qtip_ref_dim(pre, "input", l->n);
}

static qtip_status quip_for_all_dim(const char *pre, const char *side, int64_t N)
{
    if (is_pow2(N)) return QTIP_OK; /* a plain Walsh-Hadamard transform in every mode */
    int64_t b = N, e = 0, K = 0;
    while (b > 0 && b % 2 == 0) { b /= 2; e++; }
    QTIP_RETURN_ERROR_IF(e < 2, QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld = 2^%lld * %lld cannot be exported to "
                         "quip-for-all: its Hadamard mode needs a factor 4 * %lld (it would pad to a "
                         "power of two)", pre, side, (long long)N, (long long)e, (long long)b,
                         (long long)b);
    QTIP_RETURN_ERROR_IF(!qtip_had_supported(N, &K, NULL) || K != 4 * b, QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld: our Hadamard factor is %lld, quip-for-all "
                         "uses %lld", pre, side, (long long)N, (long long)K, (long long)(4 * b));
    QTIP_RETURN_ERROR_IF(!listed(quip_for_all_factors,
                                 sizeof quip_for_all_factors / sizeof quip_for_all_factors[0], K),
                         QTIP_E_UNSUPPORTED,
                         "layer '%s': %s dimension %lld needs the %lld x %lld Hadamard matrix, which is "
                         "not known to equal quip-for-all's (equal for 4b, b odd, 3 <= b <= 55, except "
                         "124 = 4 * 31, which differs, 188 and 212)", pre, side, (long long)N,
                         (long long)K, (long long)K);
    return QTIP_OK;
}

qtip_status qtip_export_check_quip_for_all_(const qtip_layer_info *l, const char *pre)
{
    QTIP_FORWARD_IF_ERROR(quip_for_all_dim(pre, "output", l->m));
    return quip_for_all_dim(pre, "input", l->n);
}
