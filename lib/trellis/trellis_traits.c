/*
 * trellis_traits.c — the code traits table (qtip_trellis.h): one row per
 * bitshift trellis code, and everything derived from it: names, parameter
 * validation, the table shape, the per-code defaults. Adding a code is a row
 * here plus its value function (QTIP_HD in trellis_codes.h for a built-in code,
 * so the CUDA decoder shares it).
 */
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <string.h>

/* Built-in rows evaluate the shared element logic. */
static void builtin_values(uint32_t s, const qtip_trellis_params *p, const float *tlut, float *out)
{
    qtip_code_state_values((int)p->code, s, p->V, p->Q, tlut, out);
}

#define V1 (1u << 1)
#define V2 (1u << 2)
#define MAX_CODES 8 /* built-in rows plus room for codes registered by tests */

static qtip_code_traits rows[MAX_CODES] = {
    [QTIP_CODE_1MAD] = {"1mad", NULL, V1, QTIP_TLUT_NONE, 0, 0, 0, 1.0, builtin_values,
                        "one LCG step, sum of four bytes (V=1, no table)"},
    [QTIP_CODE_2MAD] = {"2mad", NULL, V1, QTIP_TLUT_NONE, 0, 0, 0, 1.0, builtin_values,
                        "two multiply-adds, sum of four bytes (V=1, no table)"},
    [QTIP_CODE_3INST] = {"3inst", NULL, V1, QTIP_TLUT_NONE, 0, 0, 0, 1.2437, builtin_values,
                         "LCG step, mask and xor into two fp16 halves, their sum (V=1, no table)"},
    [QTIP_CODE_LUT] = {"lut", NULL, V1 | V2, QTIP_TLUT_LUT, 0, 0, 0, 1.0, builtin_values,
                       "pure lookup table of 2^L x V fp16 Gaussian values (tlut bits = L)"},
    [QTIP_CODE_HYB] = {"quantlut_sym", "hyb", V2, QTIP_TLUT_HYB, 1, 15, 9, 0.9682458365518543,
                       builtin_values,
                       "2^Q x 2 k-means table with a sign bit (V=2; the released models' code)"},
};
static int nrows = QTIP_CODE_BUILTIN_COUNT;

const qtip_code_traits *qtip_code_get_traits(int c)
{
    return c >= 0 && c < nrows ? &rows[c] : NULL;
}

int qtip_code_register_(const qtip_code_traits *t)
{
    if (!t || !t->name || !t->values || !t->v_mask || nrows == MAX_CODES) return -1;
    if (qtip_code_from_name(t->name) >= 0 || (t->alias && qtip_code_from_name(t->alias) >= 0))
        return -1;
    rows[nrows] = *t;
    return nrows++;
}

const char *qtip_code_name(qtip_code c)
{
    const qtip_code_traits *t = qtip_code_get_traits((int)c);
    return t ? t->name : "unknown";
}

int qtip_code_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < nrows; i++)
        if (strcmp(name, rows[i].name) == 0 || (rows[i].alias && strcmp(name, rows[i].alias) == 0))
            return i;
    return -1;
}

qtip_trellis_params qtip_trellis_default_params(void)
{
    qtip_trellis_params p;
    p.L = 16;
    p.K = 2;
    p.V = 2;
    p.Q = rows[QTIP_CODE_HYB].q_default;
    p.code = QTIP_CODE_HYB;
    p.td_x = 16;
    p.td_y = 16;
    return p;
}

size_t qtip_trellis_tlut_shape(const qtip_trellis_params *p, size_t *rows_out, size_t *cols_out)
{
    const qtip_code_traits *t = qtip_code_get_traits((int)p->code);
    size_t r = 0, c = 0;
    if (t && t->tlut == QTIP_TLUT_HYB && p->Q >= 0 && p->Q < 31) {
        r = (size_t)1 << p->Q;
        c = 2;
    } else if (t && t->tlut == QTIP_TLUT_LUT && p->L >= 0 && p->L < 31 && p->V > 0) {
        r = (size_t)1 << p->L;
        c = (size_t)p->V;
    }
    if (rows_out) *rows_out = r;
    if (cols_out) *cols_out = c;
    return r * c;
}

/* The tlut bits the code takes when none is given. */
static int default_q(const qtip_code_traits *t, const qtip_trellis_params *p)
{
    switch (t->tlut) {
    case QTIP_TLUT_NONE: return 0;
    case QTIP_TLUT_LUT: return p->L;
    case QTIP_TLUT_HYB: break;
    }
    return p->Q;
}

qtip_status qtip_trellis_set_code(qtip_trellis_params *p, int code, int v_given, int q_given)
{
    const qtip_code_traits *t = qtip_code_get_traits(code);
    QTIP_RETURN_ERROR_IF(!t, QTIP_E_PARAM, "unknown trellis code %d", code);
    p->code = (qtip_code)code;
    if (!q_given) p->Q = default_q(t, p);
    if (!v_given && (t->v_mask == V1 || t->v_mask == V2)) p->V = t->v_mask == V1 ? 1 : 2;
    return QTIP_OK;
}

#define BAD(...) qtip_error(QTIP_E_PARAM, "invalid trellis parameters: " __VA_ARGS__)

/* V and Q against the code's row. */
static qtip_status check_code(const qtip_trellis_params *p)
{
    const qtip_code_traits *t = qtip_code_get_traits((int)p->code);
    if (!t) return BAD("code is %d, expected 0..%d", (int)p->code, nrows - 1);
    if (!((t->v_mask >> p->V) & 1u))
        return BAD("V is %d, code '%s' needs V=%s", p->V, t->name,
                   t->v_mask == V1 ? "1" : t->v_mask == V2 ? "2" : "1 or 2");
    switch (t->tlut) {
    case QTIP_TLUT_NONE:
        if (p->Q != 0) return BAD("Q is %d, code '%s' needs Q=0", p->Q, t->name);
        break;
    case QTIP_TLUT_LUT:
        if (p->Q != p->L) return BAD("Q is %d, code '%s' needs Q=L (%d)", p->Q, t->name, p->L);
        break;
    case QTIP_TLUT_HYB:
        if (p->Q < t->q_min || p->Q > t->q_max)
            return BAD("Q is %d, code '%s' needs %d..%d", p->Q, t->name, t->q_min, t->q_max);
        break;
    }
    return QTIP_OK;
}

/* The tile against K, V and L. */
static qtip_status check_tile(const qtip_trellis_params *p)
{
    if (p->td_x < 1 || p->td_x > 65536) return BAD("td_x is %d, expected 1..65536", p->td_x);
    if (p->td_y < 1 || p->td_y > 65536) return BAD("td_y is %d, expected 1..65536", p->td_y);
    long long T = (long long)p->td_x * p->td_y;
    if (T > 65536)
        return BAD("tile %d x %d has %lld values, expected at most 65536", p->td_x, p->td_y, T);
    if (T % p->V)
        return BAD("tile %d x %d has %lld values, not a multiple of V (%d)", p->td_x, p->td_y, T,
                   p->V);
    if ((T * p->K) % 16)
        return BAD("tile %d x %d at K=%d has %lld bits, not a multiple of 16", p->td_x, p->td_y,
                   p->K, T * p->K);
    if (T * p->K < p->L)
        return BAD("tile %d x %d at K=%d has %lld bits, fewer than L (%d)", p->td_x, p->td_y, p->K,
                   T * p->K, p->L);
    return QTIP_OK;
}

qtip_status qtip_trellis_check_params(const qtip_trellis_params *p)
{
    QTIP_RETURN_ERROR_IF(!p, QTIP_E_PARAM, "invalid trellis parameters: none given");
    if (p->L < 8 || p->L > 16) return BAD("L is %d, expected 8..16", p->L);
    if (p->K < 1 || p->K > 4) return BAD("K is %d, expected 1..4", p->K);
    if (p->V != 1 && p->V != 2) return BAD("V is %d, expected 1 or 2", p->V);
    if (p->K * p->V >= p->L)
        return BAD("K*V is %d, expected less than L (%d)", p->K * p->V, p->L);
    QTIP_FORWARD_IF_ERROR(check_code(p));
    return check_tile(p);
}
