/*
 * hadamard_simd.c — the structured fp32 fast transform (radix-8 register stages,
 * cache-resident column panels, register-blocked dense H_K step), compiled for
 * AVX2 and for the baseline ISA from one source (hadamard_simd_impl.h), chosen at
 * run time. Every path performs the per-element operation order of
 * hadamard_kernel.h, so all give the same bytes as the portable loops.
 */
#include "incoherence/hadamard_internal.h"
#include "incoherence/hadamard_kernel.h"

#include <stdlib.h>
#include <string.h>

typedef float v8sf __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));
typedef float v8sf_u __attribute__((vector_size(32), aligned(4), may_alias));

#if defined(__x86_64__) || defined(__i386__)
#define HAD_HAVE_AVX2 1
#define HAD_ATTR __attribute__((target("avx2")))
#define HAD_S(name) had_avx2_##name
#include "incoherence/hadamard_simd_impl.h"
#undef HAD_ATTR
#undef HAD_S
#else
#define HAD_HAVE_AVX2 0
#endif

#define HAD_ATTR
#define HAD_S(name) had_base_##name
#include "incoherence/hadamard_simd_impl.h"
#undef HAD_ATTR
#undef HAD_S

static int simd_level = -2; /* -2: not chosen yet */

static int had_best_level(void)
{
#if HAD_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return 2;
#endif
    return 1;
}

int qtip_had_set_simd(int level)
{
    int best = had_best_level();
    if (level < 0) {
        const char *e = getenv("QTIP_NO_SIMD");
        level = e && *e && strcmp(e, "0") != 0 ? 0 : best;
    }
    if (level > best) level = best;
    __atomic_store_n(&simd_level, level, __ATOMIC_RELAXED);
    return level;
}

int qtip_had_simd(void)
{
    int l = __atomic_load_n(&simd_level, __ATOMIC_RELAXED);
    return l == -2 ? qtip_had_set_simd(-1) : l;
}

uint32_t *qtip_had_simd_masks_(const int8_t *HK, int64_t K, int inverse)
{
    uint32_t *mk = (uint32_t *)qtip_alloc((size_t)(K * K), sizeof(uint32_t), "hadamard sign masks");
    if (!mk) return NULL;
    for (int64_t c = 0; c < K; c++)
        for (int64_t a = 0; a < K; a++)
            mk[c * K + a] = qtip_hadk_sign(HK, K, a, c, inverse) > 0 ? 0u : 0x80000000u;
    return mk;
}

int qtip_had_simd_row_ok_(int64_t K, int64_t M)
{
    return qtip_had_simd() > 0 && M >= 8 && (K == 1 || K % 4 == 0);
}

int qtip_had_simd_panel_ok_(int64_t K, int64_t M, int64_t L)
{
    return qtip_had_simd() > 0 && L % 8 == 0 && (K == 1 || K % 4 == 0) && (M * L) % 8 == 0;
}

void qtip_had_simd_row_(float *r, int64_t K, int64_t M, const uint32_t *mk, float scale, float *tmp)
{
#if HAD_HAVE_AVX2
    if (qtip_had_simd() >= 2) {
        had_avx2_row(r, K, M, mk, scale, tmp);
        return;
    }
#endif
    had_base_row(r, K, M, mk, scale, tmp);
}

void qtip_had_simd_panel_(float *x, int64_t cols, int64_t j0, int64_t L, int64_t K, int64_t M,
                          const uint32_t *mk, float scale, float *buf)
{
#if HAD_HAVE_AVX2
    if (qtip_had_simd() >= 2) {
        had_avx2_panel(x, cols, j0, L, K, M, mk, scale, buf);
        return;
    }
#endif
    had_base_panel(x, cols, j0, L, K, M, mk, scale, buf);
}
