/*
 * bitstream.c — state paths <-> circular MSB-first bitstreams of uint16 words
 * (the reference's pack_trellis / unpack_trellis, qtip.md §6.1).
 */
#include "trellis/trellis_codes.h"
#include "trellis/trellis_internal.h"

#include <string.h>

/* Write `nb` bits of `v` (MSB first) at bit position `pos`. */
static void put_bits(uint16_t *w, size_t pos, uint32_t v, int nb)
{
    for (int b = nb - 1; b >= 0; b--, pos++)
        if ((v >> b) & 1u) w[pos >> 4] |= (uint16_t)(0x8000u >> (pos & 15));
}

void qtip_trellis_pack_path_(const qtip_trellis_params *p, const uint32_t *states, uint16_t *bits)
{
    const int KV = p->K * p->V, S = p->td_x * p->td_y / p->V;
    const size_t nw = qtip_trellis_words_per_tile(p), N = nw * 16;
    memset(bits, 0, nw * sizeof(uint16_t));
    /* step i's KV new bits (its low KV bits) sit at bits (i-1)*KV + L - KV ... of the
     * linear stream; written modulo N, the first state's L bits come first */
    size_t pos = 0;
    int first = p->L < (int)N ? p->L : (int)N;
    put_bits(bits, 0, states[0] >> (p->L - first), first);
    pos = (size_t)first;
    for (int i = 1; i < S && pos < N; i++) {
        int nb = KV;
        if (pos + (size_t)nb > N) nb = (int)(N - pos);
        put_bits(bits, pos, (states[i] & ((1u << KV) - 1u)) >> (KV - nb), nb);
        pos += (size_t)nb;
    }
}

qtip_status qtip_trellis_pack(const qtip_trellis_params *p, const uint32_t *states,
                              uint16_t *bits)
{
    QTIP_FORWARD_IF_ERROR(qtip_trellis_check_params(p));
    QTIP_RETURN_ERROR_IF(!states || !bits, QTIP_E_PARAM, "cannot pack trellis path: null argument");
    const int KV = p->K * p->V, S = p->td_x * p->td_y / p->V;
    const uint32_t mask = (1u << p->L) - 1u, low = (1u << (p->L - KV)) - 1u;
    for (int i = 0; i < S; i++) {
        QTIP_RETURN_ERROR_IF(states[i] > mask, QTIP_E_PARAM,
                             "cannot pack trellis path: state %d is %u, expected below 2^%d", i,
                             states[i], p->L);
        uint32_t prev = states[i == 0 ? S - 1 : i - 1];
        QTIP_RETURN_ERROR_IF((prev & low) != (states[i] >> KV), QTIP_E_MISMATCH,
                             "cannot pack trellis path: state %d (0x%x) does not follow state %d (0x%x)%s",
                             i, states[i], i == 0 ? S - 1 : i - 1, prev,
                             i == 0 ? ": the path is not circular" : "");
    }
    qtip_trellis_pack_path_(p, states, bits);
    return QTIP_OK;
}

void qtip_trellis_unpack(const qtip_trellis_params *p, const uint16_t *bits, uint32_t *states)
{
    const int KV = p->K * p->V, S = p->td_x * p->td_y / p->V;
    const uint32_t nw = (uint32_t)qtip_trellis_words_per_tile(p);
    for (int i = 0; i < S; i++) states[i] = qtip_trellis_window(bits, nw, (uint32_t)(i * KV), p->L);
}
