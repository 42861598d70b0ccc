/*
 * qtip_e8p.h — QuIP#'s E8P12 lattice codebook (2 bits/weight) and its residual
 * variants E8P12RVQ3B (3 bits) and E8P12RVQ4B (4 bits), QuIP-for-all bit layouts.
 * Part of the public API; include "qtip.h", not this file.
 */
#ifndef QTIP_E8P_H
#define QTIP_E8P_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum {
    QTIP_E8P12 = 0,      /* 16-bit codes, 2 bits/weight */
    QTIP_E8P12_RVQ3 = 1, /* 24-bit codes (E8P12 + 1-bit E8 residual), 3 bits/weight */
    QTIP_E8P12_RVQ4 = 2, /* 32-bit codes (E8P12 twice), 4 bits/weight */
} qtip_e8p_kind;

/* "e8p12", "e8p12-rvq3", "e8p12-rvq4" (also the QuIP-for-all names "E8P12",
 * "E8P12RVQ3B", "E8P12RVQ4B" when parsing); parse returns -1 if unknown. */
const char *qtip_e8p_name(qtip_e8p_kind k);
int qtip_e8p_from_name(const char *name);
int qtip_e8p_bits(qtip_e8p_kind k);            /* bits per weight: 2, 3, 4 */
float qtip_e8p_opt_scale(qtip_e8p_kind k);     /* 1.03, 0.98, 1.03 */
float qtip_e8p_resid_scale(qtip_e8p_kind k);   /* 0 (none), 2.04, 3.45 */

typedef struct qtip_e8p qtip_e8p;
qtip_status qtip_e8p_create(qtip_e8p_kind k, qtip_e8p **out);
void qtip_e8p_free(qtip_e8p *cb);
qtip_e8p_kind qtip_e8p_get_kind(const qtip_e8p *cb);

/* Nearest codeword of each of `count` 8-vectors (exact structured search).
 * codes: count values (16, 24 or 32 significant bits); recon (may be NULL): count x 8. */
qtip_status qtip_e8p_quantize(const qtip_e8p *cb, const float *x, size_t count,
                              uint32_t *codes, float *recon);
qtip_status qtip_e8p_decode(const qtip_e8p *cb, const uint32_t *codes, size_t count,
                            float *out);

#ifdef __cplusplus
}
#endif
#endif /* QTIP_E8P_H */
