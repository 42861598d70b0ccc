/*
 * e8p_table.c — the E8P12 source set S (256 absolute vectors) and the constant
 * tables QuIP-for-all's kernels derive from it, plus the E81B residual grid.
 * The order of S is part of the file format (codes index it), so it is spelled
 * out rather than recomputed: docs/algorithms-e8p.md explains how it arises.
 */
#include "core/internal.h"

#include <pthread.h>

/* S[a], one hex digit per coordinate (coordinate 0 first), digit = 2 * |v_i|:
 * 1 -> 0.5, 3 -> 1.5, 5 -> 2.5. Rows 0..226: the half-integer vectors of D8 + 1/2
 * with norm^2 <= 10, folded to absolute values, deduplicated, sorted ascending;
 * rows 227..255: the 29 norm^2-12 vectors in quip-sharp's get_norm12() order. */
static const uint32_t e8p_source[256] = {
    /*   0 */ 0x11111111u, 0x11111113u, 0x11111115u, 0x11111131u, 0x11111133u, 0x11111135u, 0x11111151u, 0x11111153u,
    /*   8 */ 0x11111311u, 0x11111313u, 0x11111315u, 0x11111331u, 0x11111333u, 0x11111351u, 0x11111511u, 0x11111513u,
    /*  16 */ 0x11111531u, 0x11113111u, 0x11113113u, 0x11113115u, 0x11113131u, 0x11113133u, 0x11113151u, 0x11113311u,
    /*  24 */ 0x11113313u, 0x11113331u, 0x11113333u, 0x11113511u, 0x11115111u, 0x11115113u, 0x11115131u, 0x11115311u,
    /*  32 */ 0x11131111u, 0x11131113u, 0x11131115u, 0x11131131u, 0x11131133u, 0x11131151u, 0x11131311u, 0x11131313u,
    /*  40 */ 0x11131331u, 0x11131333u, 0x11131511u, 0x11133111u, 0x11133113u, 0x11133131u, 0x11133133u, 0x11133311u,
    /*  48 */ 0x11133313u, 0x11133331u, 0x11135111u, 0x11151111u, 0x11151113u, 0x11151131u, 0x11151311u, 0x11153111u,
    /*  56 */ 0x11311111u, 0x11311113u, 0x11311115u, 0x11311131u, 0x11311133u, 0x11311151u, 0x11311311u, 0x11311313u,
    /*  64 */ 0x11311331u, 0x11311333u, 0x11311511u, 0x11313111u, 0x11313113u, 0x11313131u, 0x11313133u, 0x11313311u,
    /*  72 */ 0x11313313u, 0x11313331u, 0x11315111u, 0x11331111u, 0x11331113u, 0x11331131u, 0x11331133u, 0x11331311u,
    /*  80 */ 0x11331313u, 0x11331331u, 0x11333111u, 0x11333113u, 0x11333131u, 0x11333311u, 0x11351111u, 0x11511111u,
    /*  88 */ 0x11511113u, 0x11511131u, 0x11511311u, 0x11513111u, 0x11531111u, 0x13111111u, 0x13111113u, 0x13111115u,
    /*  96 */ 0x13111131u, 0x13111133u, 0x13111151u, 0x13111311u, 0x13111313u, 0x13111331u, 0x13111333u, 0x13111511u,
    /* 104 */ 0x13113111u, 0x13113113u, 0x13113131u, 0x13113133u, 0x13113311u, 0x13113313u, 0x13113331u, 0x13115111u,
    /* 112 */ 0x13131111u, 0x13131113u, 0x13131131u, 0x13131133u, 0x13131311u, 0x13131313u, 0x13131331u, 0x13133111u,
    /* 120 */ 0x13133113u, 0x13133131u, 0x13133311u, 0x13151111u, 0x13311111u, 0x13311113u, 0x13311131u, 0x13311133u,
    /* 128 */ 0x13311311u, 0x13311313u, 0x13311331u, 0x13313111u, 0x13313113u, 0x13313131u, 0x13313311u, 0x13331111u,
    /* 136 */ 0x13331113u, 0x13331131u, 0x13331311u, 0x13333111u, 0x13511111u, 0x15111111u, 0x15111113u, 0x15111131u,
    /* 144 */ 0x15111311u, 0x15113111u, 0x15131111u, 0x15311111u, 0x31111111u, 0x31111113u, 0x31111115u, 0x31111131u,
    /* 152 */ 0x31111133u, 0x31111151u, 0x31111311u, 0x31111313u, 0x31111331u, 0x31111333u, 0x31111511u, 0x31113111u,
    /* 160 */ 0x31113113u, 0x31113131u, 0x31113133u, 0x31113311u, 0x31113313u, 0x31113331u, 0x31115111u, 0x31131111u,
    /* 168 */ 0x31131113u, 0x31131131u, 0x31131133u, 0x31131311u, 0x31131313u, 0x31131331u, 0x31133111u, 0x31133113u,
    /* 176 */ 0x31133131u, 0x31133311u, 0x31151111u, 0x31311111u, 0x31311113u, 0x31311131u, 0x31311133u, 0x31311311u,
    /* 184 */ 0x31311313u, 0x31311331u, 0x31313111u, 0x31313113u, 0x31313131u, 0x31313311u, 0x31331111u, 0x31331113u,
    /* 192 */ 0x31331131u, 0x31331311u, 0x31333111u, 0x31511111u, 0x33111111u, 0x33111113u, 0x33111131u, 0x33111133u,
    /* 200 */ 0x33111311u, 0x33111313u, 0x33111331u, 0x33113111u, 0x33113113u, 0x33113131u, 0x33113311u, 0x33131111u,
    /* 208 */ 0x33131113u, 0x33131131u, 0x33131311u, 0x33133111u, 0x33311111u, 0x33311113u, 0x33311131u, 0x33311311u,
    /* 216 */ 0x33313111u, 0x33331111u, 0x35111111u, 0x51111111u, 0x51111113u, 0x51111131u, 0x51111311u, 0x51113111u,
    /* 224 */ 0x51131111u, 0x51311111u, 0x53111111u, 0x31113333u, 0x13113333u, 0x11313333u, 0x11133333u, 0x33313311u,
    /* 232 */ 0x33313131u, 0x33311331u, 0x33313113u, 0x33311313u, 0x33311133u, 0x33133311u, 0x33133131u, 0x33131331u,
    /* 240 */ 0x33133113u, 0x33131313u, 0x33131133u, 0x31333311u, 0x31333131u, 0x31331331u, 0x31333113u, 0x31331313u,
    /* 248 */ 0x13331133u, 0x13333311u, 0x13333131u, 0x13331331u, 0x13333113u, 0x13331313u, 0x11331333u, 0x33113331u,
};

/* Coordinate i of Ahat sits in byte PERM[i] of the packed entry and is negated by
 * sign bit 7 - PERM[i]: QuIP-for-all's kernel writes bytes in this order. */
static const int e8p_perm[8] = {0, 2, 1, 3, 4, 6, 5, 7};
/* Nibble k of a packed E81B entry holds coordinate E81B_ORD[k]. */
static const int e81b_ord[8] = {0, 2, 4, 6, 1, 3, 5, 7};

static uint64_t packed_abs[256];
static uint32_t e81b_packed[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static int source_digit(unsigned a, int i) { return (int)((e8p_source[a] >> (28 - 4 * i)) & 0xf); }

/* E81B grid in get_e81bgrid's order, as 2*g (integers -4..4). Enumerating only
 * the coordinates that can occur keeps cartesian_prod's relative order: the first
 * coordinate varies slowest and values ascend. */
static void build_e81b(int8_t g2[256][8])
{
    int n = 0;
    for (int code = 0; code < 6561; code++) { /* {-1,0,1}^8, coordinate 0 slowest */
        int v[8], c = code, nrm = 0, sum = 0;
        for (int i = 7; i >= 0; i--) {
            v[i] = c % 3 - 1;
            c /= 3;
        }
        for (int i = 0; i < 8; i++) {
            nrm += v[i] * v[i];
            sum += v[i];
        }
        if (nrm > 2 || (sum & 1)) continue;
        for (int i = 0; i < 8; i++) g2[n][i] = (int8_t)(2 * v[i]);
        n++;
    }
    for (int code = 0; code < 256; code++) { /* {-1/2, +1/2}^8, even sum = even #negatives */
        int neg = 0;
        for (int i = 0; i < 8; i++) neg += !((code >> (7 - i)) & 1);
        if (neg & 1) continue;
        for (int i = 0; i < 8; i++) g2[n][i] = (int8_t)(((code >> (7 - i)) & 1) ? 1 : -1);
        n++;
    }
    QTIP_ASSERT(n == 241);
    for (int k = 0; k < 15; k++) { /* +2e_0..+2e_7, then -2e_0..-2e_6 (no -2e_7) */
        for (int i = 0; i < 8; i++) g2[n][i] = 0;
        g2[n][k & 7] = (int8_t)(k < 8 ? 4 : -4);
        n++;
    }
    QTIP_ASSERT(n == 256);
}

static void build_tables(void)
{
    for (unsigned a = 0; a < 256; a++) {
        int sum = 0;
        for (int i = 0; i < 8; i++) sum += source_digit(a, i);
        /* sum of S[a] = sum of digits / 2; odd when the digit sum is 2 mod 4 */
        int odd = (sum / 2) & 1;
        uint64_t e = 0;
        for (int i = 0; i < 8; i++) {
            int q = 2 * source_digit(a, i); /* 4 * |v_i| */
            if (i == 7 && odd) q = -q;
            e |= (uint64_t)(uint8_t)(int8_t)q << (8 * e8p_perm[i]);
        }
        packed_abs[a] = e;
    }
    int8_t g2[256][8];
    build_e81b(g2);
    for (int j = 0; j < 256; j++) {
        uint32_t e = 0;
        for (int k = 0; k < 8; k++) e |= (uint32_t)(g2[j][e81b_ord[k]] & 0xf) << (4 * k);
        e81b_packed[j] = e;
    }
}

const uint64_t *qtip_e8p_packed_abs_table(void)
{
    pthread_once(&tables_once, build_tables);
    return packed_abs;
}

const uint32_t *qtip_e8p_e81b_packed_table(void)
{
    pthread_once(&tables_once, build_tables);
    return e81b_packed;
}

void qtip_e8p_source_vector(unsigned a, float out[8])
{
    QTIP_ASSERT(a < 256);
    for (int i = 0; i < 8; i++) out[i] = 0.5f * (float)source_digit(a, i);
}
