"""E8P12 codebook and its residual variants in torch, written from
docs/algorithms-e8p.md: codes -> the rotated, normalized weight Wr (m x n).

One code per 8 consecutive input columns, row-major: E8P12 the 16-bit code
(int16 bit pattern), RVQ3 (e8p << 8) | e81b_index, RVQ4 (main << 16) | resid
(int32); recon = q1 + q2 * rs in fp32 (multiply, then add).
"""
import functools
import itertools

import torch

PERM = (0, 2, 1, 3, 4, 6, 5, 7)
# Rows 227..255 of the source set: the 29 norm^2-12 vectors (five 1.5, three 0.5)
# in quip-sharp's get_norm12() order, one hex digit 2|v| per coordinate (the order
# is part of the format, so it is spelled out; rows 0..226 follow from a rule).
_NORM12 = (0x31113333, 0x13113333, 0x11313333, 0x11133333, 0x33313311, 0x33313131, 0x33311331,
           0x33313113, 0x33311313, 0x33311133, 0x33133311, 0x33133131, 0x33131331, 0x33133113,
           0x33131313, 0x33131133, 0x31333311, 0x31333131, 0x31331331, 0x31333113, 0x31331313,
           0x13331133, 0x13333311, 0x13333131, 0x13331331, 0x13333113, 0x13331313, 0x11331333,
           0x33113331)
# float32(1/2.04), float32(1/3.45): QuIP-for-all's opt_resid_scale
KINDS = {'e8p12': None, 'e8p12-rvq3': 2.04, 'e8p12-rvq4': 3.45}


@functools.lru_cache(maxsize=None)
def source_set():
    """S: 256 x 8 absolute vectors, entries in {0.5, 1.5, 2.5}."""
    rows = sorted(v for v in itertools.product((0.5, 1.5, 2.5), repeat=8) if sum(c * c for c in v) <= 10)
    if len(rows) != 227:
        raise AssertionError('E8P source set: %d rows of norm^2 <= 10, expected 227' % len(rows))
    rows += [tuple(((w >> (28 - 4 * i)) & 0xF) / 2 for i in range(8)) for w in _NORM12]
    return torch.tensor(rows, dtype=torch.float32)


@functools.lru_cache(maxsize=None)
def e8p_codebook():
    """65536 x 8 fp32: the codeword of every 16-bit code c = (a << 8) | sb."""
    S = source_set()
    odd = (S.sum(1).round().long() % 2) == 1
    Ahat = S.clone()
    Ahat[odd, 7] = -Ahat[odd, 7]
    sb = torch.arange(256)
    bits = (sb.unsqueeze(1) >> torch.arange(8)) & 1
    p = bits.sum(1) & 1
    s2 = sb ^ p
    flip = torch.stack([(s2 >> (7 - PERM[i])) & 1 for i in range(8)], dim=1)  # (256 sb, 8)
    sign = 1.0 - 2.0 * flip.to(torch.float32)
    shift = torch.where(p == 1, -0.25, 0.25).to(torch.float32)
    book = Ahat.unsqueeze(1) * sign.unsqueeze(0) + shift.view(1, 256, 1)
    return book.reshape(65536, 8)


@functools.lru_cache(maxsize=None)
def e81b_grid():
    """256 x 8 fp32: integer vectors of {-1,0,1}^8 with even sum and norm^2 <= 2 in
    cartesian order, the 128 even-sum {-1/2, 1/2}^8 ones, +2e_0..+2e_7, -2e_0..-2e_6."""
    rows = [v for v in itertools.product((-1, 0, 1), repeat=8) if sum(v) % 2 == 0 and sum(c * c for c in v) <= 2]
    rows += [v for v in itertools.product((-0.5, 0.5), repeat=8) if sum(c < 0 for c in v) % 2 == 0]
    for k in range(15):
        v = [0] * 8
        v[k & 7] = 2 if k < 8 else -2
        rows.append(tuple(v))
    if len(rows) != 256:
        raise AssertionError('E81B grid has %d points, expected 256' % len(rows))
    return torch.tensor(rows, dtype=torch.float32)


def decode(codes, m, n, kind):
    """(m, n/8) codes -> Wr (m, n) fp32."""
    if kind not in KINDS:
        raise ValueError('unknown E8P codebook %r (known: %s)' % (kind, ', '.join(KINDS)))
    if tuple(codes.shape) != (m, n // 8) or n % 8:
        raise ValueError('codes shape %s, expected (%d, %d)' % (tuple(codes.shape), m, n // 8))
    c = codes.to(torch.int64)
    book = e8p_codebook().to(c.device)  # the tables are built on the CPU once
    if kind == 'e8p12':
        return book[c & 0xFFFF].reshape(m, n)
    c = c & 0xFFFFFFFF
    rs = torch.tensor(1.0 / KINDS[kind], dtype=torch.float32)
    if kind == 'e8p12-rvq3':
        q1, q2 = book[(c >> 8) & 0xFFFF], e81b_grid().to(c.device)[c & 0xFF]
    else:
        q1, q2 = book[(c >> 16) & 0xFFFF], book[c & 0xFFFF]
    return (q1 + q2 * rs).reshape(m, n)
