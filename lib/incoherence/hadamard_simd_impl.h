/*
 * hadamard_simd_impl.h — the structured fp32 fast transform, written once with GCC
 * vector extensions and included twice by lib/incoherence/hadamard_simd.c: with HAD_ATTR =
 * target("avx2") (8 floats per ymm register) and with the default target (the
 * same 32-byte vectors lowered to SSE2 pairs). Not installed; no include guard.
 *
 * Per element it performs exactly the float operations of hadamard_kernel.h, in
 * the same order; only the grouping changes:
 *   - butterfly stages are done three at a time in registers (radix 8): a stage
 *     pair (u, v) -> (u + v, u - v) uses the same operands as the definition;
 *   - stages 1, 2, 4 of a row are done inside one vector with shuffles;
 *   - the dense H_K step keeps 4 outputs x 16 lanes in registers and adds the
 *     sign-flipped input (y - v is y + (-v) in IEEE arithmetic; the flip is an
 *     exact XOR of the sign bit; only the sign of a NaN can differ).
 * HAD_ATTR and HAD_S(name) are defined by the includer.
 */

#define HAD_LD(p) (*(const v8sf_u *)(const void *)(p))
#define HAD_ST(p, v) (*(v8sf_u *)(void *)(p) = (v))
#define HAD_BF(a, b)                                                                               \
    do {                                                                                           \
        v8sf t_ = (a);                                                                             \
        (a) = t_ + (b);                                                                            \
        (b) = t_ - (b);                                                                            \
    } while (0)

/* Stages h, 2h, 4h on 8 partners k = 0..7 (element o + k h) of each run position:
 * src partner k at src + k*ss, dst partner k at dst + k*ds, `run` floats per
 * partner (multiple of 8). Optionally times `scale` (the last step). */
HAD_ATTR static void HAD_S(grp8)(const float *src, int64_t ss, float *dst, int64_t ds, int64_t run,
                                 int scl, float scale)
{
    v8sf sv = {scale, scale, scale, scale, scale, scale, scale, scale};
    for (int64_t t = 0; t < run; t += 8) {
        v8sf v0 = HAD_LD(src + t), v1 = HAD_LD(src + ss + t), v2 = HAD_LD(src + 2 * ss + t);
        v8sf v3 = HAD_LD(src + 3 * ss + t), v4 = HAD_LD(src + 4 * ss + t), v5 = HAD_LD(src + 5 * ss + t);
        v8sf v6 = HAD_LD(src + 6 * ss + t), v7 = HAD_LD(src + 7 * ss + t);
        HAD_BF(v0, v1); HAD_BF(v2, v3); HAD_BF(v4, v5); HAD_BF(v6, v7);
        HAD_BF(v0, v2); HAD_BF(v1, v3); HAD_BF(v4, v6); HAD_BF(v5, v7);
        HAD_BF(v0, v4); HAD_BF(v1, v5); HAD_BF(v2, v6); HAD_BF(v3, v7);
        if (scl) {
            v0 = v0 * sv; v1 = v1 * sv; v2 = v2 * sv; v3 = v3 * sv;
            v4 = v4 * sv; v5 = v5 * sv; v6 = v6 * sv; v7 = v7 * sv;
        }
        HAD_ST(dst + t, v0); HAD_ST(dst + ds + t, v1); HAD_ST(dst + 2 * ds + t, v2);
        HAD_ST(dst + 3 * ds + t, v3); HAD_ST(dst + 4 * ds + t, v4); HAD_ST(dst + 5 * ds + t, v5);
        HAD_ST(dst + 6 * ds + t, v6); HAD_ST(dst + 7 * ds + t, v7);
    }
}

HAD_ATTR static void HAD_S(grp4)(const float *src, int64_t ss, float *dst, int64_t ds, int64_t run,
                                 int scl, float scale)
{
    v8sf sv = {scale, scale, scale, scale, scale, scale, scale, scale};
    for (int64_t t = 0; t < run; t += 8) {
        v8sf v0 = HAD_LD(src + t), v1 = HAD_LD(src + ss + t), v2 = HAD_LD(src + 2 * ss + t);
        v8sf v3 = HAD_LD(src + 3 * ss + t);
        HAD_BF(v0, v1); HAD_BF(v2, v3);
        HAD_BF(v0, v2); HAD_BF(v1, v3);
        if (scl) { v0 = v0 * sv; v1 = v1 * sv; v2 = v2 * sv; v3 = v3 * sv; }
        HAD_ST(dst + t, v0); HAD_ST(dst + ds + t, v1); HAD_ST(dst + 2 * ds + t, v2);
        HAD_ST(dst + 3 * ds + t, v3);
    }
}

HAD_ATTR static void HAD_S(grp2)(const float *src, int64_t ss, float *dst, int64_t ds, int64_t run,
                                 int scl, float scale)
{
    v8sf sv = {scale, scale, scale, scale, scale, scale, scale, scale};
    for (int64_t t = 0; t < run; t += 8) {
        v8sf v0 = HAD_LD(src + t), v1 = HAD_LD(src + ss + t);
        HAD_BF(v0, v1);
        if (scl) { v0 = v0 * sv; v1 = v1 * sv; }
        HAD_ST(dst + t, v0); HAD_ST(dst + ds + t, v1);
    }
}

/* Stages h0, 2 h0, ..., M/2 (h0 >= 1) over `n` = K*M elements of L lanes each,
 * contiguous (element e at x + e*L), h0*L a multiple of 8; the last group times
 * `scale` when scl. */
HAD_ATTR static void HAD_S(stages)(float *x, int64_t n, int64_t M, int64_t L, int64_t h0, int scl,
                                   float scale)
{
    for (int64_t h = h0; h < M;) {
        int r = 0;
        while (r < 3 && (h << r) < M) r++;
        int last = (h << r) >= M;
        int64_t span = (h << r), hl = h * L;
        /* block s: partner k is the run of h*L contiguous floats at (s + k h) L */
        for (int64_t s = 0; s < n; s += span) {
            float *p = x + s * L;
            if (r == 3) HAD_S(grp8)(p, hl, p, hl, hl, last && scl, scale);
            else if (r == 2) HAD_S(grp4)(p, hl, p, hl, hl, last && scl, scale);
            else HAD_S(grp2)(p, hl, p, hl, hl, last && scl, scale);
        }
        h = span;
    }
}

/* Lane shuffles with constant indices: __builtin_shufflevector is clang's and GCC's
 * from 12 on; older GCC has only __builtin_shuffle (an index vector). */
#ifndef HAD_SHUF
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define HAD_SHUF(x, ...) __builtin_shufflevector(x, x, __VA_ARGS__)
#define HAD_MIX(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define HAD_SHUF(x, ...) __builtin_shuffle(x, (v8si){__VA_ARGS__})
#define HAD_MIX(a, b, ...) __builtin_shuffle(a, b, (v8si){__VA_ARGS__})
#endif
#endif

/* Stages 1, 2, 4 inside each 8-float vector (a row, L = 1), times scale if scl. */
HAD_ATTR static void HAD_S(inreg)(float *x, int64_t n, int scl, float scale)
{
    v8sf sv = {scale, scale, scale, scale, scale, scale, scale, scale};
    for (int64_t t = 0; t < n; t += 8) {
        v8sf x0 = HAD_LD(x + t), y;
        /* position i gets x_i + x_{i^h} when bit h of i is clear, x_{i^h} - x_i
         * (the lower minus the upper) when set: the definition's (u+v, u-v). */
        y = HAD_SHUF(x0, 1, 0, 3, 2, 5, 4, 7, 6);
        x0 = HAD_MIX(x0 + y, y - x0, 0, 9, 2, 11, 4, 13, 6, 15);
        y = HAD_SHUF(x0, 2, 3, 0, 1, 6, 7, 4, 5);
        x0 = HAD_MIX(x0 + y, y - x0, 0, 1, 10, 11, 4, 5, 14, 15);
        y = HAD_SHUF(x0, 4, 5, 6, 7, 0, 1, 2, 3);
        x0 = HAD_MIX(x0 + y, y - x0, 0, 1, 2, 3, 12, 13, 14, 15);
        if (scl) x0 = x0 * sv;
        HAD_ST(x + t, x0);
    }
}

/* Dense H_K step: x holds K runs of R floats (input c at x + c*Rs); output a,
 * float t of its run, goes to out + ((a*R + t) / L) * ostride + (a*R + t) % L,
 * times scale. mk[c*K + a] = sign bit to flip (0 or 0x80000000). K % 4 == 0,
 * R % 8 == 0, L % 8 == 0 (or L == 1 with ostride == 1). */
HAD_ATTR static void HAD_S(dense)(const float *x, int64_t K, int64_t R, int64_t Rs, const uint32_t *mk, float *out,
                                  int64_t L, int64_t ostride, float scale)
{
    v8sf sv = {scale, scale, scale, scale, scale, scale, scale, scale};
    const v8sf zero = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t t = 0; t < R; t += 16) {
        int two = t + 8 < R;
        for (int64_t a = 0; a < K; a += 4) {
            v8sf y00 = zero, y01 = zero, y10 = zero, y11 = zero;
            v8sf y20 = zero, y21 = zero, y30 = zero, y31 = zero;
            const float *xc = x + t;
            const uint32_t *m = mk + a;
            if (two) {
                for (int64_t c = 0; c < K; c++, xc += Rs, m += K) {
                    v8si d0 = (v8si)HAD_LD(xc), d1 = (v8si)HAD_LD(xc + 8);
                    v8si s0 = {(int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0]};
                    v8si s1 = {(int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1]};
                    v8si s2 = {(int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2]};
                    v8si s3 = {(int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3]};
                    y00 = y00 + (v8sf)(d0 ^ s0); y01 = y01 + (v8sf)(d1 ^ s0);
                    y10 = y10 + (v8sf)(d0 ^ s1); y11 = y11 + (v8sf)(d1 ^ s1);
                    y20 = y20 + (v8sf)(d0 ^ s2); y21 = y21 + (v8sf)(d1 ^ s2);
                    y30 = y30 + (v8sf)(d0 ^ s3); y31 = y31 + (v8sf)(d1 ^ s3);
                }
            } else {
                for (int64_t c = 0; c < K; c++, xc += Rs, m += K) {
                    v8si d0 = (v8si)HAD_LD(xc);
                    v8si s0 = {(int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0], (int)m[0]};
                    v8si s1 = {(int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1], (int)m[1]};
                    v8si s2 = {(int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2], (int)m[2]};
                    v8si s3 = {(int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3], (int)m[3]};
                    y00 = y00 + (v8sf)(d0 ^ s0); y10 = y10 + (v8sf)(d0 ^ s1);
                    y20 = y20 + (v8sf)(d0 ^ s2); y30 = y30 + (v8sf)(d0 ^ s3);
                }
            }
            v8sf ys[4][2] = {{y00, y01}, {y10, y11}, {y20, y21}, {y30, y31}};
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 1 + two; k++) {
                    int64_t e = (a + i) * R + t + 8 * k;
                    HAD_ST(out + (e / L) * ostride + e % L, ys[i][k] * sv);
                }
        }
    }
}

/* One row of N = K*M floats in place (M >= 8; K == 1 or K % 4 == 0 with M % 8 == 0).
 * tmp: N floats when K > 1. */
HAD_ATTR static void HAD_S(row)(float *r, int64_t K, int64_t M, const uint32_t *mk, float scale,
                                float *tmp)
{
    int64_t n = K * M;
    HAD_S(inreg)(r, n, K == 1 && M == 8, scale);
    if (M > 8) HAD_S(stages)(r, n, M, 1, 8, K == 1, scale);
    if (K > 1) {
        HAD_S(dense)(r, K, M, M, mk, tmp, 1, 1, scale);
        memcpy(r, tmp, (size_t)n * sizeof(float));
    }
}

/* Columns j0 .. j0+L-1 (L % 8 == 0) of the row-major N x cols matrix x, N = K*M:
 * gathered with the first stages into buf, the rest of the stages in buf, then
 * written back (K == 1) or through the dense step (K > 1). Block a of buf starts
 * at a*Rs, Rs = M*L plus one cache line when K > 1: without it the K inputs the
 * dense step reads together sit a power of two apart and share one L1 set.
 * buf: K*(M*L + 16) floats. */
HAD_ATTR static void HAD_S(panel)(float *x, int64_t cols, int64_t j0, int64_t L, int64_t K, int64_t M,
                                  const uint32_t *mk, float scale, float *buf)
{
    int64_t h0 = M >= 8 ? 8 : M, Rs = M * L + (K > 1 ? 16 : 0);
    int one = K == 1 && h0 == M; /* the gather step is also the last */
    for (int64_t a = 0; a < K; a++) {
        const float *src = x + a * M * cols + j0;
        float *dst = buf + a * Rs;
        for (int64_t s = 0; s < M; s += h0) {
            if (h0 == 8) HAD_S(grp8)(src + s * cols, cols, dst + s * L, L, L, one, scale);
            else if (h0 == 4) HAD_S(grp4)(src + s * cols, cols, dst + s * L, L, L, one, scale);
            else if (h0 == 2) HAD_S(grp2)(src + s * cols, cols, dst + s * L, L, L, one, scale);
            else memcpy(dst + s * L, src + s * cols, (size_t)L * sizeof(float));
        }
        if (h0 < M) HAD_S(stages)(dst, M, M, L, h0, K == 1, scale);
    }
    if (K == 1) {
        if (M == 1)
            for (int64_t l = 0; l < L; l++) buf[l] = buf[l] * scale;
        for (int64_t s = 0; s < M; s++) memcpy(x + s * cols + j0, buf + s * L, (size_t)L * sizeof(float));
        return;
    }
    HAD_S(dense)(buf, K, M * L, Rs, mk, x + j0, L, cols, scale);
}

#undef HAD_LD
#undef HAD_ST
#undef HAD_BF
