/*
 * hadamard_transform_impl.h — the fast transform written once for a real type,
 * included by lib/incoherence/hadamard_transform.c with T (float or double) and SUF (f32, f64)
 * defined. Not installed; no include guard on purpose.
 *
 * Data layout of one block: K*M elements (element (a, b) at index a*M + b), each
 * made of L consecutive lanes (L independent vectors, e.g. L columns of a matrix).
 * A butterfly stage h then pairs contiguous runs of h*L values, and the dense H_K
 * step adds contiguous runs of M*L values: both loops are unit-stride and
 * vectorize. The per-element operation order is the one in hadamard_kernel.h.
 */
#define HAD_CAT_(a, b) a##_##b
#define HAD_CAT(a, b) HAD_CAT_(a, b)
#define HAD_FN(name) HAD_CAT(name, SUF)

/* x: K*M*L values; tmp: K*M*L scratch (unused when K == 1). */
static void HAD_FN(had_block)(T *restrict x, int64_t K, int64_t M, int64_t L, const int8_t *HK,
                              int inverse, T scale, T *restrict tmp)
{
    int64_t n = K * M, h = 1;
    if (L == 1 && M >= 8) {
        /* Stages 1, 2, 4 fused over groups of 8 (same per-element operations). */
        for (int64_t s = 0; s < n; s += 8) {
            T *v = x + s;
            T b0 = v[0] + v[1], b1 = v[0] - v[1], b2 = v[2] + v[3], b3 = v[2] - v[3];
            T b4 = v[4] + v[5], b5 = v[4] - v[5], b6 = v[6] + v[7], b7 = v[6] - v[7];
            T c0 = b0 + b2, c1 = b1 + b3, c2 = b0 - b2, c3 = b1 - b3;
            T c4 = b4 + b6, c5 = b5 + b7, c6 = b4 - b6, c7 = b5 - b7;
            v[0] = c0 + c4; v[1] = c1 + c5; v[2] = c2 + c6; v[3] = c3 + c7;
            v[4] = c0 - c4; v[5] = c1 - c5; v[6] = c2 - c6; v[7] = c3 - c7;
        }
        h = 8;
    }
    for (; h < M; h *= 2) {
        int64_t hl = h * L;
        for (int64_t s = 0; s < n; s += 2 * h) {
            T *restrict p = x + s * L;
            T *restrict q = p + hl;
            for (int64_t t = 0; t < hl; t++) {
                T a = p[t], b = q[t];
                p[t] = a + b;
                q[t] = a - b;
            }
        }
    }
    int64_t all = n * L;
    if (K == 1) {
        for (int64_t t = 0; t < all; t++) x[t] = x[t] * scale;
        return;
    }
    /* Dense step: output block a accumulates the K input blocks with unit-stride
     * adds/subtracts. (Tiling the blocks for L1 was tried and was 3x slower: the K
     * input tiles sit M*L apart, a multiple of 4 KiB, and alias in L1.) */
    int64_t run = M * L;
    for (int64_t a = 0; a < K; a++) {
        T *restrict y = tmp + a * run;
        for (int64_t t = 0; t < run; t++) y[t] = (T)0;
        for (int64_t c = 0; c < K; c++) {
            const T *restrict xc = x + c * run;
            int sg = inverse ? HK[c * K + a] : HK[a * K + c];
            if (sg > 0)
                for (int64_t t = 0; t < run; t++) y[t] = y[t] + xc[t];
            else
                for (int64_t t = 0; t < run; t++) y[t] = y[t] - xc[t];
        }
    }
    for (int64_t t = 0; t < all; t++) x[t] = tmp[t] * scale;
}

/* Rows pass: each of `rows` rows of length N is transformed. If cs (N values) /
 * rs (rows values) are given, element (i, j) is multiplied as (x * cs[j]) * rs[i]
 * before the transform (post = 0) or after it (post = 1). */
static qtip_status HAD_FN(had_rows)(T *x, int64_t rows, int64_t N, int inverse, const float *cs,
                                    const float *rs, int post)
{
    QTIP_RETURN_ERROR_IF(N < 1 || rows < 0, QTIP_E_PARAM,
                         "hadamard transform: bad shape [%lld, %lld]", (long long)rows, (long long)N);
    int64_t K;
    int p;
    if (!qtip_had_supported(N, &K, &p)) return qtip_had_unsupported_error_(N, "hadamard transform");
    const int8_t *HK;
    QTIP_FORWARD_IF_ERROR(qtip_had_special_get_(K, &HK));
    if (rows == 0) return QTIP_OK;
    int nt = qtip_threads();
    if (nt > rows) nt = (int)rows;
    T *tmp = NULL;
    if (K > 1) {
        tmp = (T *)qtip_alloc((size_t)nt * (size_t)N, sizeof(T), "hadamard scratch");
        if (!tmp) return QTIP_E_NOMEM;
    }
    T scale = (T)HAD_FN(qtip_hadk_scale)(N);
    int64_t M = (int64_t)1 << p;
    uint32_t *mk = NULL;
    int fast = HAD_IS_F32 && qtip_had_simd_row_ok_(K, M);
    if (fast && K > 1 && !(mk = qtip_had_simd_masks_(HK, K, inverse))) {
        free(tmp);
        return QTIP_E_NOMEM;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        T *r = x + i * N;
        T *tw = tmp ? tmp + (size_t)omp_get_thread_num() * (size_t)N : NULL;
        T ri = (T)(rs ? rs[i] : 1.0f);
        if (!post && (cs || rs)) {
            if (cs) for (int64_t j = 0; j < N; j++) r[j] = (r[j] * (T)cs[j]) * ri;
            else for (int64_t j = 0; j < N; j++) r[j] = (r[j] * (T)1.0f) * ri;
        }
        if (fast) HAD_FN(had_fast_row)(r, K, M, mk, scale, tw);
        else HAD_FN(had_block)(r, K, M, 1, HK, inverse, scale, tw);
        if (post && (cs || rs)) {
            if (cs) for (int64_t j = 0; j < N; j++) r[j] = (r[j] * (T)cs[j]) * ri;
            else for (int64_t j = 0; j < N; j++) r[j] = (r[j] * (T)1.0f) * ri;
        }
    }
    free(mk);
    free(tmp);
    return QTIP_OK;
}

/* Columns pass over the row-major N x cols matrix: panels of PANEL columns are
 * gathered into a contiguous N x PANEL block (lanes = columns), transformed, and
 * written back. One pass over memory; each panel stays in cache. */
static qtip_status HAD_FN(had_cols)(T *x, int64_t N, int64_t cols, int inverse)
{
    QTIP_RETURN_ERROR_IF(N < 1 || cols < 0, QTIP_E_PARAM,
                         "hadamard transform: bad shape [%lld, %lld]", (long long)N, (long long)cols);
    int64_t K;
    int p;
    if (!qtip_had_supported(N, &K, &p)) return qtip_had_unsupported_error_(N, "hadamard transform");
    const int8_t *HK;
    QTIP_FORWARD_IF_ERROR(qtip_had_special_get_(K, &HK));
    if (cols == 0) return QTIP_OK;
    int64_t M = (int64_t)1 << p;
    /* Panel widths: HAD_SIMD_PANEL for the structured path, two cache lines for
     * the portable one (results do not depend on it: columns are independent). */
    int fast = HAD_IS_F32 && qtip_had_simd_panel_ok_(K, M, HAD_SIMD_PANEL);
    const int64_t W = fast ? HAD_SIMD_PANEL : HAD_PANEL_BYTES / (int64_t)sizeof(T);
    int64_t panels = (cols + W - 1) / W;
    int nt = qtip_threads();
    if (nt > panels) nt = (int)panels;
    /* (the structured path pads each of the K blocks by 16 values: K*16 <= N*W) */
    size_t per = (size_t)N * (size_t)W * (K > 1 ? 2 : 1);
    T *buf = (T *)qtip_alloc((size_t)nt * per, sizeof(T), "hadamard panel");
    if (!buf) return QTIP_E_NOMEM;
    uint32_t *mk = NULL;
    if (fast && K > 1 && !(mk = qtip_had_simd_masks_(HK, K, inverse))) {
        free(buf);
        return QTIP_E_NOMEM;
    }
    T scale = (T)HAD_FN(qtip_hadk_scale)(N);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t pi = 0; pi < panels; pi++) {
        T *restrict b = buf + (size_t)omp_get_thread_num() * per;
        T *tw = K > 1 ? b + (size_t)N * (size_t)W : NULL;
        int64_t j0 = pi * W, w = cols - j0 < W ? cols - j0 : W;
        if (fast && qtip_had_simd_panel_ok_(K, M, w)) {
            HAD_FN(had_fast_panel)(x, cols, j0, w, K, M, mk, scale, b);
            continue;
        }
        for (int64_t i = 0; i < N; i++) {
            const T *restrict src = x + i * cols + j0;
            for (int64_t l = 0; l < w; l++) b[i * w + l] = src[l];
        }
        HAD_FN(had_block)(b, K, M, w, HK, inverse, scale, tw);
        for (int64_t i = 0; i < N; i++) {
            T *restrict dst = x + i * cols + j0;
            for (int64_t l = 0; l < w; l++) dst[l] = b[i * w + l];
        }
    }
    free(mk);
    free(buf);
    return QTIP_OK;
}

#undef HAD_FN
#undef HAD_CAT
#undef HAD_CAT_
