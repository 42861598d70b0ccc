/*
 * hadamard_sizes.c — which orders N = K * 2^p have a Hadamard transform, and the
 * nearest ones for an error message.
 */
#include "incoherence/hadamard_internal.h"

int qtip_had_supported(int64_t N, int64_t *K, int *p)
{
    if (N < 1) return 0;
    int64_t b = N;
    int e = 0;
    while ((b & 1) == 0) { b >>= 1; e++; }
    if (b == 1) {
        if (K) *K = 1;
        if (p) *p = e;
        return 1;
    }
    /* The smallest special factor first: it is the reference tools' choice (4b) for
     * every order they support, and the cheapest dense step. */
    for (int j = 2; j <= e; j++) {
        int64_t k = b << j;
        if (k > QTIP_HAD_MAX_K) break;
        if (qtip_had_special_supported(k)) {
            if (K) *K = k;
            if (p) *p = e - j;
            return 1;
        }
    }
    return 0;
}

void qtip_had_nearest(int64_t N, int64_t *below, int64_t *above)
{
    int64_t lo = 0, hi = 0;
    for (int64_t x = N - 1; x >= 1; x--)
        if (qtip_had_supported(x, NULL, NULL)) { lo = x; break; }
    /* A power of two always lies within 2N, so the search ends. */
    for (int64_t x = N + 1; x <= 4 * N + 4; x++)
        if (qtip_had_supported(x, NULL, NULL)) { hi = x; break; }
    if (below) *below = lo;
    if (above) *above = hi;
}

qtip_status qtip_had_unsupported_error_(int64_t N, const char *what)
{
    if (N < 1)
        return qtip_error(QTIP_E_PARAM, "no %s of order %lld: the order must be at least 1", what,
                          (long long)N);
    int64_t lo, hi;
    qtip_had_nearest(N, &lo, &hi);
    if (lo)
        return qtip_error(QTIP_E_UNSUPPORTED,
                          "no %s of order %lld: nearest supported orders are %lld and %lld", what,
                          (long long)N, (long long)lo, (long long)hi);
    return qtip_error(QTIP_E_UNSUPPORTED, "no %s of order %lld: nearest supported order is %lld",
                      what, (long long)N, (long long)hi);
}
