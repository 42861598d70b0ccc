/*
 * qtip_trellis.h — QTIP's bitshift trellis codes and the tail-biting Viterbi search.
 * Part of the public API; include "qtip.h", not this file.
 * Declarations inside `#ifdef QTIP_EXPERIMENTAL` are building blocks whose
 * signatures may change (qtip.h, "Stable and experimental").
 *
 * A sequence of T values (one td_x x td_y tile, T = td_x * td_y) is coded by a
 * circular bitstream of N = T*K bits. Step i (i = 0 .. S-1, S = T/V) reads the
 * L-bit state at bits i*K*V .. i*K*V+L-1 (MSB first, wrapping around to bit 0),
 * and the code function maps that state to V values: value i*V+v of the sequence.
 * Bitstreams are stored as N/16 uint16 words, word w holding bits 16w .. 16w+15
 * with the lowest-numbered bit as its most significant bit (the reference's
 * pack_trellis: s_0's L bits, then the low K*V bits of s_1 .. s_{S-1}, with the
 * last L-K*V bits dropped because the stream is circular).
 *
 * Algorithms and figures: docs/algorithms-trellis.md.
 */
#ifndef QTIP_TRELLIS_H
#define QTIP_TRELLIS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pinned values. */
typedef enum {
    QTIP_CODE_1MAD = 0,
    QTIP_CODE_2MAD = 1,
    QTIP_CODE_3INST = 2,
    QTIP_CODE_LUT = 3,   /* pure lookup table of 2^L entries */
    QTIP_CODE_HYB = 4,   /* quantlut_sym: Q-bit LUT of V=2 vectors with a sign bit */
} qtip_code;

typedef struct {
    int L;          /* state bits, 8..16 */
    int K;          /* bits per weight, 1..4 */
    int V;          /* values per step: 1 (1MAD, 2MAD, 3INST, LUT) or 2 (HYB, LUT) */
    int Q;          /* tlut_bits: 1..15 for HYB (9 in the reference), L for LUT, 0 otherwise */
    qtip_code code;
    int td_x, td_y; /* tile: rows (output dim) x cols (input dim); T = td_x * td_y */
} qtip_trellis_params;

/* --- Code traits: one row per code --------------------------------------------
 * Everything the library, the kernels' launchers and the commands know about a
 * code comes from its row: names, the V it allows, its table (none; HYB 2^Q x 2
 * with a sign bit; LUT 2^L x V) and tlut-bits rule, its value function, nominal
 * RMS and help text. Adding a code is a row and its value function
 * (lib/trellis/trellis_traits.c; docs/contributing.md). */
typedef enum {
    QTIP_TLUT_NONE = 0, /* pure compute: Q must be 0 */
    QTIP_TLUT_HYB = 1,  /* 2^Q x 2 table, Q in q_min..q_max */
    QTIP_TLUT_LUT = 2,  /* 2^L x V table, Q must equal L */
} qtip_tlut_kind;

/* The V values of `state` into out[0 .. V-1]; tlut is the codebook's table
 * (NULL for QTIP_TLUT_NONE). */
typedef void (*qtip_code_value_fn)(uint32_t state, const qtip_trellis_params *p,
                                   const float *tlut, float *out);

typedef struct {
    const char *name;  /* decode_mode as the reference spells it ("quantlut_sym") */
    const char *alias; /* a second accepted name ("hyb"), or NULL */
    unsigned v_mask;   /* allowed V: bit V set (1u << 1: V = 1, 1u << 2: V = 2) */
    qtip_tlut_kind tlut;
    int q_min, q_max;  /* tlut bits allowed for QTIP_TLUT_HYB */
    int q_default;     /* tlut bits when none is given (HYB 9; LUT: L; none: 0) */
    double rms;        /* nominal RMS of the values over all states (1MAD 1, 3INST
                          1.2437, HYB sqrt(15/16)); qtip_trellis_rms is exact */
    qtip_code_value_fn values;
    const char *doc;   /* one line for help texts */
} qtip_code_traits;

/* The row of code c; NULL if c is not a known code. Codes are numbered from 0
 * without gaps, so a loop up to the first NULL visits every row. */
const qtip_code_traits *qtip_code_get_traits(int c);
/* Name as the reference's decode_mode spells it ("1mad", "2mad", "3inst", "lut",
 * "quantlut_sym"); "unknown" for values out of range. qtip_code_from_name accepts
 * a row's name or alias; returns -1 if unknown. */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
const char *qtip_code_name(qtip_code c);
#endif /* QTIP_EXPERIMENTAL */
int qtip_code_from_name(const char *name);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Defaults: L=16, K=2, V=2, Q=9, HYB, 16 x 16 (the released models' setting). */
qtip_trellis_params qtip_trellis_default_params(void);

/* QTIP_E_PARAM with a message naming the bad field for invalid combinations:
 * L outside 8..16, K outside 1..4, V not 1 or 2, K*V >= L, a code that does not
 * allow this V (1MAD/2MAD/3INST need V=1, HYB needs V=2), Q wrong for the code,
 * td_x or td_y < 1, T*K not a multiple of 16, T not a multiple of V, T*K < L
 * (the circular stream must hold one state), or T > 65536. */
qtip_status qtip_trellis_check_params(const qtip_trellis_params *p);
#endif /* QTIP_EXPERIMENTAL */

typedef struct qtip_trellis qtip_trellis;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Build the codebook: the value table of all 2^L states (and, for HYB and LUT,
 * the table `tlut`). HYB: 2^Q x 2 k-means centroids of 2-D standard normal
 * samples drawn from a fixed seed, scaled to element std sqrt(15/16) (the
 * reference's 0.9682458365518543) and rounded to fp16 values; identical on every
 * machine and thread count. Q = 9 (the released setting) is the reference-size
 * run (2^20 samples, Lloyd to convergence) shipped precomputed; other Q are
 * trained at first use from 128 * 2^Q samples (about a second). LUT: 2^L x V standard normal values from a fixed
 * seed, rounded to fp16. Errors: QTIP_E_PARAM (see check_params), QTIP_E_NOMEM. */
qtip_status qtip_trellis_create(const qtip_trellis_params *p, qtip_trellis **out);
/* Same, with a given tlut (HYB: 2^Q x 2 floats; LUT: 2^L x V; row-major), e.g.
 * read back from a layer. The values are used as given (no rounding); NULL tlut
 * is allowed for the formula codes only. QTIP_E_NONFINITE for NaN/Inf entries. */
qtip_status qtip_trellis_create_with_lut(const qtip_trellis_params *p, const float *tlut,
                                         qtip_trellis **out);
void qtip_trellis_free(qtip_trellis *t);

const qtip_trellis_params *qtip_trellis_get_params(const qtip_trellis *t);
/* The V values of `state` (0 <= state < 2^L) into out[0 .. V-1]. */
void qtip_trellis_state_values(const qtip_trellis *t, uint32_t state, float *out);
/* The value table of all states, V planes of 2^L floats: plane v at [v << L]. */
const float *qtip_trellis_values(const qtip_trellis *t);
/* The tlut (NULL for pure-compute codes); *count = number of floats (may be NULL). */
const float *qtip_trellis_lut(const qtip_trellis *t, size_t *count);
/* Root mean square of all 2^L * V table values (the reference's rms(lut), used to
 * scale weights before the search). */
double qtip_trellis_rms(const qtip_trellis *t);

/* The shape of the code's table for p (rows x cols floats, row-major): HYB
 * 2^Q x 2, LUT 2^L x V; 0 x 0 for a pure-compute code or an unknown one.
 * Returns rows * cols. rows, cols may be NULL. The one place that says whether
 * a code has a table and of what shape. */
size_t qtip_trellis_tlut_shape(const qtip_trellis_params *p, size_t *rows, size_t *cols);
#endif /* QTIP_EXPERIMENTAL */

/* Select `code` in p: sets p->code and, unless given (v_given, q_given), the
 * only V the code allows and its tlut bits rule (LUT: L, none: 0; HYB keeps
 * p->Q). QTIP_E_PARAM for an unknown code. */
qtip_status qtip_trellis_set_code(qtip_trellis_params *p, int code, int v_given, int q_given);

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* Words of one tile's bitstream: T*K/16. */
size_t qtip_trellis_words_per_tile(const qtip_trellis_params *p);

/* --- Layout (trellis_layout.c) ------------------------------------------------ */

/* Whether the tile is coded in the tensor-core fragment order (HYB, L=16, V=2,
 * Q=9, K 2..4, 16 x 16: the reference's kernel layout, qtip.md 3.4), else row-major. */
int qtip_trellis_tile_is_mma(const qtip_trellis_params *p);

/* Element order of a tile: order[j] = r*td_y + c is the tile element
 * (r = output row, c = input column within the tile) coded at sequence position j,
 * j < T = td_x*td_y. `order` holds T ints. */
void qtip_trellis_tile_order(const qtip_trellis_params *p, int *order);

/* The canonical packed code layout of an m x n layer: an m x code_cols int16
 * matrix (code_cols = n*K/16) in which tile (R, C) (rows R*td_x.., columns
 * C*td_y..) keeps its words_per_tile words in its own rows: word w at row
 * R*td_x + w/wr, word column C*wr + w%wr, wr = td_y*K/16 (a whole number).
 * get copies tile (R, C)'s words out, put writes them in. */
void qtip_trellis_get_tile(const qtip_trellis_params *p, const uint16_t *codes, int64_t code_cols,
                           int64_t R, int64_t C, uint16_t *words);
void qtip_trellis_put_tile(const qtip_trellis_params *p, uint16_t *codes, int64_t code_cols,
                           int64_t R, int64_t C, const uint16_t *words);

/* --- Bitstreams (lib/core/bitstream.c) --------------------------------------------- */

/* Pack a state path (S = T/V states) into its circular bitstream (words_per_tile
 * words). QTIP_E_MISMATCH if consecutive states do not overlap or the path does not
 * close into a circle (the last state's low L-KV bits must equal the first
 * state's high L-KV bits). */
qtip_status qtip_trellis_pack(const qtip_trellis_params *p, const uint32_t *states,
                              uint16_t *bits);
/* Read the S states of one circular bitstream (never fails for valid params). */
void qtip_trellis_unpack(const qtip_trellis_params *p, const uint16_t *bits, uint32_t *states);

/* --- Search -------------------------------------------------------------------- */

/* Scratch for the search: per-thread rows of group minima and path buffers, sized
 * for one codebook's parameters: (T/V + 1) x (2^(L-KV) + 8) floats per thread
 * (2.1 MB for HYB K=2 at L=16, V=2, T=256; 33.6 MB at K=1, V=1). Create once, reuse for every call on
 * codebooks with the same params. nthreads 0 = qtip_threads(). Not shareable
 * between concurrent calls. */
typedef struct qtip_trellis_work qtip_trellis_work;
qtip_status qtip_trellis_work_create(const qtip_trellis *t, int nthreads,
                                     qtip_trellis_work **out);
void qtip_trellis_work_free(qtip_trellis_work *w);
#endif /* QTIP_EXPERIMENTAL */

typedef enum {
    QTIP_VITERBI_FAST = 0,      /* group minima, traceback by recomputation, AVX2 when present */
    QTIP_VITERBI_REFERENCE = 1, /* plain loops, full back-pointers (slow; for tests) */
} qtip_viterbi_impl;

#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
/* One Viterbi pass over one sequence `seq` (T floats), minimizing the squared
 * error sum over the S steps, costs in fp32. overlap < 0: unconstrained
 * (not tail-biting). overlap >= 0 (< 2^(L-KV)): the first state's high L-KV bits
 * and the last state's low L-KV bits must both equal `overlap`. Ties go to the
 * lowest predecessor index and the lowest final state, so FAST and REFERENCE give
 * the same path bit for bit. states: S outputs; cost (may be NULL): the path's
 * fp32 cost. Uses slot 0 of `w`. Errors: QTIP_E_PARAM (overlap out of range,
 * params of w differ), QTIP_E_NONFINITE (NaN/Inf in seq), QTIP_E_NOMEM. */
qtip_status qtip_trellis_viterbi(const qtip_trellis *t, qtip_trellis_work *w,
                                 qtip_viterbi_impl impl, const float *seq, int32_t overlap,
                                 uint32_t *states, float *cost);

/* Tail-biting quantization of one sequence by the reference's two passes: pass 1
 * on the sequence rotated by shift = (S/2)*V values, overlap = (state of pass 1
 * covering the original values 0..V-1) >> KV, pass 2 constrained to that overlap.
 * bits: words_per_tile words; recon (may be NULL): T values of the path;
 * states (may be NULL): the S states of the path. Uses slot 0 of `w`, and w's
 * tail-biting search (qtip_trellis_work_set_tail_biting). */
qtip_status qtip_trellis_quantize_seq(const qtip_trellis *t, qtip_trellis_work *w,
                                      qtip_viterbi_impl impl, const float *seq,
                                      uint16_t *bits, float *recon, uint32_t *states);
#endif /* QTIP_EXPERIMENTAL */

/* Tail-biting search of a work object (default 1: the reference's two passes,
 * as qtip_trellis_quantize_seq describes). n >= 2: best of n overlaps, a
 * slower, never worse search: pass 1 as in the two-pass method, plus a backward
 * pass over the rotated sequence, give for every junction group o (the
 * overlap, 2^(L-KV) values) the cost of the best unconstrained path through the
 * junction with that group, a lower bound on the tail-biting cost with overlap
 * o; the constrained pass runs for pass 1's overlap, then for up to n-1 further
 * overlaps in increasing bound order (ties: lowest o), stopping early once the
 * next bound exceeds the best cost found by more than 1e-4 of it (rounding
 * slack), and the cheapest path wins (ties: lowest o). Its cost is never above
 * the two-pass cost; n = 1 is the two-pass search bit for bit. Costs 1.5 + n
 * passes at most instead of 2. n above 2^(L-KV) acts as 2^(L-KV). `t` must be
 * the codebook the work was made for (its values build the table of the
 * backward pass). Errors: QTIP_E_PARAM (n < 1 or above 65536, params of w
 * differ), QTIP_E_NOMEM. */
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
qtip_status qtip_trellis_work_set_tail_biting(qtip_trellis_work *w, const qtip_trellis *t, int n);
#endif /* QTIP_EXPERIMENTAL */
/* Parse "two-pass" (1) or "best-of-<n>" (n, 1..65536); -1 if neither. name
 * writes n's name ("two-pass" for n <= 1) into buf (32 bytes suffice). */
int qtip_trellis_tail_biting_from_name(const char *name);
#ifdef QTIP_EXPERIMENTAL /* building blocks: signatures may change */
void qtip_trellis_tail_biting_name(int n, char *buf, size_t size);

/* Quantize `nseq` sequences of T values each (row-major, nseq x T) with the fast
 * search, tail-biting (w's search), in parallel over sequences (OpenMP, w's thread count).
 * bits: nseq x words_per_tile uint16; recon (may be NULL): nseq x T values of the
 * paths (equal to qtip_trellis_decode(bits) bit for bit). Deterministic: the same
 * result on any thread count. w may be NULL (a temporary one is made). */
qtip_status qtip_trellis_quantize_work(const qtip_trellis *t, qtip_trellis_work *w,
                                       const float *seq, size_t nseq, uint16_t *bits,
                                       float *recon);

/* Decode nseq bitstreams into nseq x T values. */
qtip_status qtip_trellis_decode(const qtip_trellis *t, const uint16_t *bits, size_t nseq,
                                float *out);

/* Which fast kernel this build and CPU use: "avx2" or "portable". */
const char *qtip_trellis_simd(void);
#endif /* QTIP_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif
#endif /* QTIP_TRELLIS_H */
