"""Bitshift trellis codes in torch, written from docs/formats/packing.md and
docs/algorithms-trellis.md: the canonical packed codes (m, n*K/16) int16 of one
layer -> the rotated, normalized weight Wr (m x n, fp32).

A tile (R, C) of td_x x td_y weights owns rows td_x*R .. +td_x-1 and word
columns wr*C .. +wr-1 (wr = td_y*K/16); those words read in row order are its
circular bitstream (MSB first). Step i reads the L-bit state at bit i*K*V; its V
values are sequence positions i*V .. i*V+V-1, and position j holds tile element
order[j] (row-major, or the tensor-core fragment order of the kernel setting).
"""
import torch

_M32 = 0xFFFFFFFF
MAD_DIV = 147.800537109375  # float32(sqrt(21845)): unit variance for 1MAD/2MAD
CODES = ('1mad', '2mad', '3inst', 'lut', 'quantlut_sym')
ALIASES = {'hyb': 'quantlut_sym'}


def code_name(decode_mode):
    name = ALIASES.get(decode_mode, decode_mode)
    if name not in CODES:
        raise ValueError('unknown trellis decode_mode %r (known: %s, hyb)' % (decode_mode, ', '.join(CODES)))
    return name


def _byte_sum(x):
    return (x & 0xFF) + ((x >> 8) & 0xFF) + ((x >> 16) & 0xFF) + (x >> 24)


def _mad_value(x):
    return (_byte_sum(x) - 510).to(torch.float32) / MAD_DIV


def _fp16_bits_to_float(bits):
    """uint16 bit patterns held in int64 -> their fp16 values as fp32."""
    signed = ((bits + 0x8000) & 0xFFFF) - 0x8000
    return signed.to(torch.int16).view(torch.float16).to(torch.float32)


def state_values(code, s, V, Q, tlut):
    """The values of states s (int64 tensor, any shape) -> s.shape + (V,), fp32."""
    if code == '1mad':
        return _mad_value((s * 34038481 + 76625530) & _M32).unsqueeze(-1)
    if code == '2mad':
        x = (s * 264435761 + 1013904223) & _M32
        x = (((x * 1664525) >> 32) + x) & _M32
        return _mad_value(x).unsqueeze(-1)
    if code == '3inst':
        x = (s * 89226354 + 64248484) & _M32
        r = (x & 0x8FFF8FFF) ^ 0x3B603B60
        # two fp16 halves; their float sum is exact, rounded to fp16 once
        v = _fp16_bits_to_float(r >> 16) + _fp16_bits_to_float(r & 0xFFFF)
        return v.to(torch.float16).to(torch.float32).unsqueeze(-1)
    if code == 'quantlut_sym':
        p = (s * (s + 1)) & _M32
        idx = (p >> (15 - Q)) & ((1 << Q) - 1)
        neg = ((p >> 15) & 1).to(torch.float32)
        pair = tlut[idx]
        return torch.stack([pair[..., 0] * (1 - 2 * neg), pair[..., 1]], dim=-1)
    if code == 'lut':
        return tlut[s]
    raise ValueError('unknown trellis code %r' % code)


def tile_order(td_x, td_y, mma):
    """order[j] = flat tile element (row*td_y + col) of sequence position j."""
    T = td_x * td_y
    if not mma:
        return torch.arange(T)
    if (td_x, td_y) != (16, 16):
        raise ValueError('mma tile order needs 16 x 16 tiles, not %d x %d' % (td_x, td_y))
    j = torch.arange(256)
    b, d, h, a, e = j >> 5, (j >> 3) & 3, (j >> 2) & 1, (j >> 1) & 1, j & 1
    return (a * 8 + b) * 16 + h * 8 + d * 2 + e


def tile_states(words, L, K, V):
    """words: (..., nwords) int64 bitstreams (uint16 values) -> (..., S) L-bit states."""
    nwords = words.shape[-1]
    S = nwords * 16 // (K * V)
    pos = torch.arange(S, device=words.device) * (K * V)
    a = pos >> 4
    b = (a + 1) % nwords
    x = (words[..., a] << 16) | words[..., b]
    return (x >> (32 - (pos & 15) - L)) & ((1 << L) - 1)


def decode(codes, m, n, *, code, L, K, V, Q, td_x, td_y, mma, tlut=None):
    """Packed codes (m, n*K/16) int16 -> Wr (m, n) fp32 in normalized units."""
    code = code_name(code)
    if (td_y * K) % 16 or m % td_x or n % td_y:
        raise ValueError('layer %d x %d does not tile by %d x %d at K=%d' % (m, n, td_x, td_y, K))
    wr = td_y * K // 16
    if tuple(codes.shape) != (m, n * K // 16):
        raise ValueError('codes shape %s, expected (%d, %d)' % (tuple(codes.shape), m, n * K // 16))
    w = codes.to(torch.int64) & 0xFFFF
    tr, tc = m // td_x, n // td_y
    words = w.view(tr, td_x, tc, wr).permute(0, 2, 1, 3).reshape(tr, tc, td_x * wr)
    states = tile_states(words, L, K, V)
    vals = state_values(code, states, V, Q, None if tlut is None else tlut.to(torch.float32))
    seq = vals.reshape(tr, tc, td_x * td_y)
    tiles = torch.empty_like(seq)
    tiles[..., tile_order(td_x, td_y, mma).to(seq.device)] = seq
    return tiles.view(tr, tc, td_x, td_y).permute(0, 2, 1, 3).reshape(m, n)
