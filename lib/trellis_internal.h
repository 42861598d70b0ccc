/*
 * trellis_internal.h — private state shared by the trellis files (not installed):
 * trellis_codebook.c (tables), bitstream.c, viterbi.c (reference), viterbi_fast.c.
 */
#ifndef QTIP_TRELLIS_INTERNAL_H
#define QTIP_TRELLIS_INTERNAL_H

#include "internal.h"

struct qtip_trellis {
    qtip_trellis_params p;
    int S;        /* steps per sequence: T / V */
    int T;        /* values per sequence */
    int KV;       /* bits per step */
    uint32_t G;   /* groups (shared predecessor sets): 2^(L-KV) */
    float *vals;  /* V planes of 2^L values: plane v at vals + (v << L) */
    float *tlut;  /* HYB: 2^Q x 2; LUT: 2^L x V; else NULL */
    size_t tlut_n;
    double rms;
};

/* One thread's scratch. */
typedef struct {
    float *cost[2];   /* 2^L each */
    float *best;      /* G (+ 8 padding) group minima of the current step */
    uint8_t *bp;      /* back-pointer bit planes: S steps x KV planes x planebytes */
    size_t planebytes;
    uint32_t *path;   /* S states (pass 1) */
    float *rot;       /* T values: the rotated sequence */
} qtip_trellis_slot;

struct qtip_trellis_work {
    qtip_trellis_params p;
    int nslots;
    qtip_trellis_slot *slots;
};

/* The reference pass (viterbi.c): allocates its own full back-pointer table. */
qtip_status qtip_viterbi_reference_(const qtip_trellis *t, const float *seq, int32_t overlap,
                                    uint32_t *states, float *cost);
/* The fast pass (viterbi_fast.c) in one slot's scratch. Never fails. */
void qtip_viterbi_fast_(const qtip_trellis *t, qtip_trellis_slot *slot, const float *seq,
                        int32_t overlap, uint32_t *states, float *cost);

/* Pack a path known to be consistent (bitstream.c). */
void qtip_trellis_pack_path_(const qtip_trellis_params *p, const uint32_t *states, uint16_t *bits);

#endif /* QTIP_TRELLIS_INTERNAL_H */
