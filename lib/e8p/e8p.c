/*
 * e8p.c — E8P12 / E8P12RVQ3B / E8P12RVQ4B: names and constants, the exact
 * structured nearest-codeword search, decode, and the Qidxs layouts.
 *
 * Search (docs/algorithms-e8p.md): a codeword is g = s.*S[a] + t, t = +-1/4, with
 * the number of negative signs = sum(S[a]) mod 2. For fixed (t, a) the best signs
 * follow y = x - t, except that a wrong parity costs flipping the cheapest
 * coordinate. Scores ||g||^2 - 2 x.g are evaluated in double, where every term is
 * exact for floats of ordinary range, so ties are real ties and are broken towards
 * the smallest code, exactly as an exhaustive scan in code order would.
 */
#include "core/internal.h"

#include "e8p/e8p_kernel.h"

#include <math.h>
#include <string.h>
#include <strings.h>

struct qtip_e8p {
    double A[8][256];     /* S[a]_i stored by coordinate, so loops over a vectorize */
    double n2[256];       /* ||S[a]||^2 */
    double flip2[2][256]; /* [neg parity of y][a]: 2 when the parity is wrong, else 0 */
    double g81[256][8];   /* E81B grid */
    double g81n2[256];
    uint8_t need[256];    /* sum(S[a]) mod 2 */
    const uint64_t *packed;
    const uint32_t *e81b;
    float rs; /* float(opt_resid_scale) */
    qtip_e8p_kind kind;
};

static const int perm8[8] = {0, 2, 1, 3, 4, 6, 5, 7};

/* ------------------------------------------------------------------------- */

/* The kinds table: one row per codebook, indexed by its pinned enum value.
 * Adding a kind is a row (and its stage functions when the second stage is a
 * new lattice). Qidxs stores each code as code_bits/8 little-endian bytes, the
 * row's bytes read as qidxs_elem-byte elements (quipsharp.md 5.1). */
typedef enum { RESID_NONE, RESID_E81B, RESID_E8P } resid_stage;

typedef struct {
    const char *name;        /* ours */
    const char *config_name; /* QuIP-for-all's `codebook` */
    int bits;                /* per weight */
    int code_bits;           /* per 8-vector code */
    float opt_scale;         /* target RMS of the normalized weights */
    float resid_scale;       /* quip-sharp's view; 0 without a residual stage */
    double opt_resid_scale;  /* 1 / resid_scale as QuIP-for-all writes it; 0 without */
    resid_stage resid;       /* the second stage: stages = 1 + (resid != RESID_NONE) */
    int qidxs_elem;          /* bytes per Qidxs element: 2 (int16) or 4 (int32) */
} e8p_kind_row;

static const e8p_kind_row kinds[] = {
    [QTIP_E8P12] = {"e8p12", "E8P12", 2, 16, 1.03f, 0.0f, 0.0, RESID_NONE, 2},
    [QTIP_E8P12_RVQ3] = {"e8p12-rvq3", "E8P12RVQ3B", 3, 24, 0.98f, 2.04f, 1.0 / 2.04, RESID_E81B, 4},
    [QTIP_E8P12_RVQ4] = {"e8p12-rvq4", "E8P12RVQ4B", 4, 32, 1.03f, 3.45f, 1.0 / 3.45, RESID_E8P, 4},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

static const e8p_kind_row *row_of(qtip_e8p_kind k)
{
    return (unsigned)k < (unsigned)NKINDS ? &kinds[k] : NULL;
}

const char *qtip_e8p_name(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->name : NULL; }
const char *qtip_e8p_config_name(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->config_name : NULL; }

int qtip_e8p_from_name(const char *name)
{
    if (!name) return -1;
    for (int k = 0; k < NKINDS; k++)
        if (!strcasecmp(name, kinds[k].name) || !strcasecmp(name, kinds[k].config_name)) return k;
    return -1;
}

int qtip_e8p_bits(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->bits : 0; }
int qtip_e8p_code_bits(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->code_bits : 0; }
float qtip_e8p_opt_scale(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->opt_scale : 0.0f; }
float qtip_e8p_resid_scale(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->resid_scale : 0.0f; }
double qtip_e8p_opt_resid_scale(qtip_e8p_kind k) { return row_of(k) ? row_of(k)->opt_resid_scale : 0.0; }

/* ------------------------------------------------------------------------- */

qtip_status qtip_e8p_create(qtip_e8p_kind k, qtip_e8p **out)
{
    *out = NULL;
    QTIP_RETURN_ERROR_IF(!row_of(k), QTIP_E_PARAM,
                         "cannot create e8p codebook: unknown kind %d, expected 0..%d", (int)k,
                         NKINDS - 1);
    qtip_e8p *cb = qtip_calloc(1, sizeof *cb, "e8p codebook");
    if (!cb) return QTIP_E_NOMEM;
    cb->kind = k;
    cb->packed = qtip_e8p_packed_abs_table();
    cb->e81b = qtip_e8p_e81b_packed_table();
    cb->rs = (float)qtip_e8p_opt_resid_scale(k);
    for (unsigned a = 0; a < 256; a++) {
        float s[8];
        qtip_e8p_source_vector(a, s);
        double n2 = 0, sum = 0;
        for (int i = 0; i < 8; i++) {
            cb->A[i][a] = s[i];
            n2 += (double)s[i] * s[i];
            sum += s[i];
        }
        cb->n2[a] = n2;
        cb->need[a] = (uint8_t)((long)sum & 1);
        cb->flip2[0][a] = cb->need[a] ? 2.0 : 0.0;
        cb->flip2[1][a] = cb->need[a] ? 0.0 : 2.0;
    }
    for (unsigned j = 0; j < 256; j++) {
        float g[8];
        qtip_e81b_decode8(j, cb->e81b, g);
        double n2 = 0;
        for (int i = 0; i < 8; i++) {
            cb->g81[j][i] = g[i];
            n2 += (double)g[i] * g[i];
        }
        cb->g81n2[j] = n2;
    }
    *out = cb;
    return QTIP_OK;
}

void qtip_e8p_free(qtip_e8p *cb) { free(cb); }

/* ------------------------------------------------------------------------- */

/* sc[a] = ||g||^2 - 2 x.g of the best signs for source vector a at shift t
 * (cp = 8 t^2 - 2 t sum(x), ay = |x - t|, negpar = parity of #(x_i - t < 0)). */
static void score_shift(const qtip_e8p *cb, const double *ay, int negpar, double cp,
                        double *restrict sc)
{
    double dot[256], mn[256];
    for (int a = 0; a < 256; a++) {
        double pr = cb->A[0][a] * ay[0];
        dot[a] = pr;
        mn[a] = pr;
    }
    for (int i = 1; i < 8; i++) {
        const double *Ai = cb->A[i];
        double yi = ay[i];
        for (int a = 0; a < 256; a++) {
            double pr = Ai[a] * yi;
            dot[a] += pr;
            mn[a] = pr < mn[a] ? pr : mn[a];
        }
    }
    const double *fl = cb->flip2[negpar];
    for (int a = 0; a < 256; a++) sc[a] = cp + cb->n2[a] - 2.0 * (dot[a] - fl[a] * mn[a]);
}

/* The smallest sign byte among the optimal sign patterns of (a, p). */
static uint32_t best_code_at(const qtip_e8p *cb, const double *x, int a, int p)
{
    double t = p ? -0.25 : 0.25, cost[8];
    uint32_t s = 0, zbits = 0;
    for (int i = 0; i < 8; i++) {
        double y = x[i] - t;
        uint32_t bit = 1u << (7 - perm8[i]);
        int base_neg = (i == 7) && cb->need[a];
        if (y == 0) zbits |= bit;
        else if ((y < 0) != base_neg) s |= bit;
        cost[i] = cb->A[i][a] * fabs(y);
    }
    if (qtip_e8p_parity8(s)) {
        if (zbits) {
            s |= zbits & (~zbits + 1u); /* a zero coordinate takes either sign for free */
        } else {
            double mn = cost[0];
            for (int i = 1; i < 8; i++) mn = cost[i] < mn ? cost[i] : mn;
            uint32_t best = 0xffffffffu;
            for (int i = 0; i < 8; i++) {
                if (cost[i] != mn) continue;
                uint32_t c = s ^ (1u << (7 - perm8[i]));
                if (c < best) best = c;
            }
            s = best;
        }
    }
    return ((uint32_t)a << 8) | (s ^ (uint32_t)p);
}

static uint32_t e8p_nearest(const qtip_e8p *cb, const float *xf)
{
    double x[8], sumx = 0, sc[2][256];
    for (int i = 0; i < 8; i++) {
        x[i] = xf[i];
        sumx += x[i];
    }
    for (int p = 0; p < 2; p++) {
        double t = p ? -0.25 : 0.25, ay[8];
        int negpar = 0;
        for (int i = 0; i < 8; i++) {
            double y = x[i] - t;
            ay[i] = fabs(y);
            negpar ^= (y < 0);
        }
        score_shift(cb, ay, negpar, 0.5 - 2.0 * t * sumx, sc[p]);
    }
    double best = INFINITY;
    int ba = 0, bp = 0;
    for (int a = 0; a < 256; a++)
        for (int p = 0; p < 2; p++)
            if (sc[p][a] < best) {
                best = sc[p][a];
                ba = a;
                bp = p;
            }
    uint32_t code = best_code_at(cb, x, ba, bp);
    if (bp == 0 && sc[1][ba] == best) {
        uint32_t c1 = best_code_at(cb, x, ba, 1);
        if (c1 < code) code = c1;
    }
    return code;
}

static uint32_t e81b_nearest(const qtip_e8p *cb, const float *rf)
{
    double r[8], best = INFINITY;
    uint32_t bj = 0;
    for (int i = 0; i < 8; i++) r[i] = rf[i];
    for (uint32_t j = 0; j < 256; j++) {
        const double *g = cb->g81[j];
        double d = 0;
        for (int i = 0; i < 8; i++) d += r[i] * g[i];
        double s = cb->g81n2[j] - 2.0 * d;
        if (s < best) {
            best = s;
            bj = j;
        }
    }
    return bj;
}

/* Second stage of code c (its low bits) into q2. */
static void decode_resid(const qtip_e8p *cb, uint32_t c, float *q2)
{
    if (kinds[cb->kind].resid == RESID_E81B) qtip_e81b_decode8(c & 0xffu, cb->e81b, q2);
    else qtip_e8p_decode8(c & 0xffffu, cb->packed, q2);
}

/* Stage one rounds x with E8P12; a second stage rounds the residual / rs, and
 * the code is the first stage's above the second's (resid_bits wide). */
static uint32_t quantize_one(const qtip_e8p *cb, const float *x, float *recon)
{
    const e8p_kind_row *k = &kinds[cb->kind];
    float q1[8], q2[8], r[8];
    uint32_t c1 = e8p_nearest(cb, x);
    qtip_e8p_decode8(c1, cb->packed, q1);
    if (k->resid == RESID_NONE) {
        memcpy(recon, q1, sizeof q1);
        return c1;
    }
    for (int i = 0; i < 8; i++) r[i] = (x[i] - q1[i]) / cb->rs;
    uint32_t c2 = k->resid == RESID_E81B ? e81b_nearest(cb, r) : e8p_nearest(cb, r);
    decode_resid(cb, c2, q2);
    qtip_e8p_rvq_combine8(q1, q2, cb->rs, recon);
    return (c1 << (k->code_bits - 16)) | c2;
}

qtip_status qtip_e8p_quantize(const qtip_e8p *cb, const float *x, size_t count,
                              uint32_t *codes, float *recon)
{
    for (size_t v = 0; v < count; v++)
        for (int i = 0; i < 8; i++)
            QTIP_RETURN_ERROR_IF(!isfinite(x[8 * v + i]), QTIP_E_NONFINITE,
                                 "cannot quantize 8-vector %zu: coordinate %d is %g", v, i,
                                 (double)x[8 * v + i]);
    int nt = qtip_threads();
    long n = (long)count;
#pragma omp parallel for schedule(static) num_threads(nt) if (n >= 64)
    for (long v = 0; v < n; v++) {
        float tmp[8];
        float *rv = recon ? recon + 8 * v : tmp;
        codes[v] = quantize_one(cb, x + 8 * v, rv);
    }
    return QTIP_OK;
}

qtip_status qtip_e8p_decode(const qtip_e8p *cb, const uint32_t *codes, size_t count,
                            float *out)
{
    int cbits = qtip_e8p_code_bits(cb->kind);
    for (size_t v = 0; v < count; v++)
        QTIP_RETURN_ERROR_IF(cbits < 32 && (codes[v] >> cbits) != 0, QTIP_E_PARAM,
                             "cannot decode %s code %zu: 0x%x has more than %d bits",
                             qtip_e8p_name(cb->kind), v, codes[v], cbits);
    const int shift = kinds[cb->kind].code_bits - 16; /* the first stage's position */
    const int e81b = kinds[cb->kind].resid == RESID_E81B;
    for (size_t v = 0; v < count; v++)
        qtip_e8p_decode_code(codes[v], shift, e81b, cb->packed, cb->e81b, cb->rs, out + 8 * v);
    return QTIP_OK;
}

/* ------------------------------------------------------------------------- */

/* Inputs per Qidxs row unit: the smallest multiple of 8 inputs whose codes
 * fill whole elements (8 for E8P12 and RVQ4, 32 for RVQ3). */
static size_t qidxs_unit(const e8p_kind_row *k)
{
    size_t u = 8;
    while ((u / 8) * (size_t)(k->code_bits / 8) % (size_t)k->qidxs_elem) u += 8;
    return u;
}

size_t qtip_e8p_qidxs_cols(qtip_e8p_kind k, size_t n)
{
    const e8p_kind_row *r = row_of(k);
    if (!r || n % qidxs_unit(r)) return 0;
    return n / 8 * (size_t)(r->code_bits / 8) / (size_t)r->qidxs_elem;
}

size_t qtip_e8p_qidxs_elem_size(qtip_e8p_kind k) { return row_of(k) ? (size_t)row_of(k)->qidxs_elem : 0; }

static qtip_status check_qidxs_shape(qtip_e8p_kind k, size_t n, const char *what)
{
    QTIP_RETURN_ERROR_IF(!row_of(k), QTIP_E_PARAM, "cannot %s qidxs: unknown kind %d", what,
                         (int)k);
    QTIP_RETURN_ERROR_IF(n == 0 || qtip_e8p_qidxs_cols(k, n) == 0, QTIP_E_SHAPE,
                         "cannot %s %s qidxs: %zu inputs, expected a positive multiple of %zu",
                         what, qtip_e8p_name(k), n, qidxs_unit(row_of(k)));
    return QTIP_OK;
}

/* Code v's code_bits/8 bytes, little-endian, at byte v * code_bits/8: the same
 * bytes on any host, so Qidxs files are portable. */
qtip_status qtip_e8p_pack_qidxs(qtip_e8p_kind k, const uint32_t *codes, size_t m, size_t n,
                                void *qidxs)
{
    QTIP_FORWARD_IF_ERROR(check_qidxs_shape(k, n, "pack"));
    const size_t total = m * (n / 8);
    const int cbits = kinds[k].code_bits, nb = cbits / 8;
    for (size_t v = 0; v < total; v++)
        QTIP_RETURN_ERROR_IF(cbits < 32 && (codes[v] >> cbits) != 0, QTIP_E_PARAM,
                             "cannot pack %s code %zu: 0x%x has more than %d bits",
                             qtip_e8p_name(k), v, codes[v], cbits);
    uint8_t *q = qidxs;
    for (size_t v = 0; v < total; v++)
        for (int b = 0; b < nb; b++) q[v * (size_t)nb + (size_t)b] = (uint8_t)(codes[v] >> (8 * b));
    return QTIP_OK;
}

qtip_status qtip_e8p_unpack_qidxs(qtip_e8p_kind k, const void *qidxs, size_t m, size_t n,
                                  uint32_t *codes)
{
    QTIP_FORWARD_IF_ERROR(check_qidxs_shape(k, n, "unpack"));
    const size_t total = m * (n / 8);
    const int nb = kinds[k].code_bits / 8;
    const uint8_t *q = qidxs;
    for (size_t v = 0; v < total; v++) {
        uint32_t c = 0;
        for (int b = 0; b < nb; b++) c |= (uint32_t)q[v * (size_t)nb + (size_t)b] << (8 * b);
        codes[v] = c;
    }
    return QTIP_OK;
}
