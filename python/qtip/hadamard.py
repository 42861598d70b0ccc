"""Orthonormal Hadamard transforms U_N = (H_K kron S_M) / sqrt(N), N = K * M.

Written from docs/algorithms-hadamard.md: element x[a*M + b], H_K on the outer
index a, S_M (Sylvester, natural order) on the inner index b. The special
matrices H_K and the size rule (K = the smallest b * 2^j, j >= 2, with a
construction, b the odd part of N) are the C library's, so the transforms equal
lib/qtip_hadamard.h's to fp32 rounding (the float operation order differs).
"""
import functools
import math

import torch

MAX_K = 1024

# Williamson first rows (symmetric circulants of order K/4), '+' = +1; the same
# rows as the C library's table (docs/algorithms-hadamard.md).
_WILLIAMSON = {
    52: ("+-+--++++--+-", "+---++++++---", "++-+--++--+-+", "+----+--+----"),
    92: ("+++-+++-+------+-+++-++", "+++---++-+-++-+-++---++", "+-++-++--++++++--++-++-",
         "++---+---+-++-+---+---+"),
    100: ("+-++++----++--++----++++-", "+++-+++---+-++-+---+++-++",
          "+-++-+++-++----++-+++-++-", "+--++-+-+--------+-+-++--"),
    116: ("++--+--+-+++-++++-+++-+--+--+", "++++-++-+---++++++---+-++-+++",
          "+-+---++--+-++++++-+--++---+-", "+++---++--+-+----+-+--++---++"),
    124: ("+--+++-+--+----++----+--+-+++--", "+--+++-+--+----++----+--+-+++--",
          "+-----+++-+-+--++--+-+-+++-----", "++++++---+-+-++--++-+-+---+++++"),
    156: ("+++--+-+-----+--++----++--+-----+-+--++", "++++---+--++----+-+--+-+----++--+---+++",
          "+++--++-+---+-+--+----+--+-+---+-++--++", "+---++-+-+-----+++-++-+++-----+-+-++---"),
    172: ("+---++--++++-+-+++-++--++-+++-+-++++--++---",
          "++-++++++----+-+--++-++-++--+-+----++++++-+",
          "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
          "++---++++-+--+--++--------++--+--+-++++---+"),
}
_REFERENCE_PALEY1 = (12, 20, 60, 108, 140)
_REFERENCE_PALEY2 = (28, 36)


def _prime_power(q):
    """(p, e) with q = p^e, p prime, or None."""
    if q < 2:
        return None
    p = next((d for d in range(2, int(math.isqrt(q)) + 1) if q % d == 0), q)
    e = 0
    while q % p == 0:
        q //= p
        e += 1
    return (p, e) if q == 1 else None


class _GF:
    """GF(p^e): elements are the integers sum d_i p^i; chi is the quadratic character."""

    def __init__(self, q):
        self.p, self.e = _prime_power(q)
        self.q = q
        self.chi = [0] * q
        if self.e == 1:
            for i in range(1, q):
                self.chi[i * i % q] = 1
            self.chi = [0] + [1 if c else -1 for c in self.chi[1:]]
            return
        log = self._log_table()
        self.chi = [0] + [1 if log[i] % 2 == 0 else -1 for i in range(1, q)]

    def _digits(self, x):
        return [(x // self.p ** i) % self.p for i in range(self.e)]

    def _undigits(self, d):
        return sum(v * self.p ** i for i, v in enumerate(d))

    def _log_table(self):
        # x^e = -sum f_i x^i with f the first primitive polynomial in the order of
        # its coefficient digits read as a base-p number (the C library's choice)
        p, e, q = self.p, self.e, self.q
        for fc in range(q):
            f = self._digits(fc)
            if f[0] == 0:
                continue
            log, cur, ok = [-1] * q, [1] + [0] * (e - 1), True
            for k in range(q - 1):
                v = self._undigits(cur)
                if v == 0 or log[v] >= 0:
                    ok = False
                    break
                log[v] = k
                top = cur[e - 1]
                cur = [(-top * f[0]) % p] + [(cur[i - 1] - top * f[i]) % p for i in range(1, e)]
            if ok and self._undigits(cur) == 1:
                return log
        raise ValueError('no primitive polynomial for GF(%d)' % q)

    def sub(self, a, c):
        da, dc = self._digits(a), self._digits(c)
        return self._undigits([(x - y) % self.p for x, y in zip(da, dc)])


def _method(K):
    if K == 1:
        return 'one'
    if K & (K - 1) == 0:
        return 'sylvester'
    if K % 4:
        return None
    if K in _REFERENCE_PALEY2:
        return 'paley2'
    if K in _REFERENCE_PALEY1:
        return 'paley1'
    if K in _WILLIAMSON:
        return 'williamson'
    if _prime_power(K - 1) and (K - 1) % 4 == 3:
        return 'paley1'
    if _prime_power(K // 2 - 1) and (K // 2 - 1) % 4 == 1:
        return 'paley2'
    if _kron_split(K):
        return 'kronecker'
    return None


@functools.lru_cache(maxsize=None)
def _kron_split(K):
    for k1 in range(2, math.isqrt(K) + 1):
        if K % k1 == 0 and _method(k1) and _method(K // k1):
            return k1
    return 0


@functools.lru_cache(maxsize=None)
def special_matrix(K):
    """The +-1 matrix H_K (int8 tensor, K x K), checked H H^T = K I."""
    m = _method(K)
    if m is None or K > MAX_K:
        raise ValueError('no special Hadamard matrix of order %d' % K)
    H = [[0] * K for _ in range(K)]
    if m == 'one':
        H[0][0] = 1
    elif m == 'sylvester':
        H = [[-1 if bin(i & j).count('1') & 1 else 1 for j in range(K)] for i in range(K)]
    elif m == 'paley1':
        F = _GF(K - 1)
        H[0] = [1] + [-1] * (K - 1)
        for i in range(K - 1):
            H[i + 1][0] = 1
            for j in range(K - 1):
                H[i + 1][j + 1] = 1 if i == j else F.chi[F.sub(i, j)]
    elif m == 'paley2':
        q = K // 2 - 1
        n, F = q + 1, _GF(q)
        A, B = ((1, 1), (1, -1)), ((1, -1), (-1, -1))
        for s in range(2):
            for t in range(2):
                for i in range(n):
                    for j in range(n):
                        S = 0 if i == j == 0 else 1 if i == 0 or j == 0 else F.chi[F.sub(j - 1, i - 1)]
                        H[s * n + i][t * n + j] = A[s][t] * S + B[s][t] * (i == j)
    elif m == 'williamson':
        rows, k = _WILLIAMSON[K], K // 4
        idx = ((0, 1, 2, 3), (1, 0, 3, 2), (2, 3, 0, 1), (3, 2, 1, 0))
        sgn = ((1, 1, 1, 1), (-1, 1, -1, 1), (-1, 1, 1, -1), (-1, -1, 1, 1))
        for br in range(4):
            for bc in range(4):
                r = rows[idx[br][bc]]
                for i in range(k):
                    for j in range(k):
                        H[br * k + i][bc * k + j] = sgn[br][bc] * (1 if r[(j - i) % k] == '+' else -1)
    else:
        k1 = _kron_split(K)
        return torch.kron(special_matrix(k1), special_matrix(K // k1))
    Ht = torch.tensor(H, dtype=torch.int8)
    Hl = Ht.long()
    if not torch.equal(Hl @ Hl.T, K * torch.eye(K, dtype=torch.long)):
        raise AssertionError('H_%d (%s) is not a Hadamard matrix' % (K, m))
    return Ht


def split_size(N):
    """(K, M) with N = K * M, M a power of two: the C library's size rule."""
    b = N
    while b % 2 == 0 and b > 0:
        b //= 2
    if N < 1:
        raise ValueError('Hadamard size %d' % N)
    if b == 1:
        return 1, N
    K = b * 4
    while K <= MAX_K and N % K == 0:
        if _method(K):
            return K, N // K
        K *= 2
    raise ValueError('no Hadamard transform of size %d (odd part %d): no special matrix '
                     'b * 2^j <= %d divides it' % (N, b, MAX_K))


@functools.lru_cache(maxsize=None)
def _sylvester_matrix(M):
    """S_M (Sylvester, natural order, entries +-1) as an fp32 matrix."""
    S = torch.ones(1, 1)
    while S.shape[0] < M:
        S = torch.cat([torch.cat([S, S], 1), torch.cat([S, -S], 1)], 0)
    return S


def had_transform(x, inverse=False, blocks=1):
    """U_N x (inverse=False, hadU) or U_N^T x (inverse=True, hadUt) over the last
    dimension of x (N = x.shape[-1]); fp32 in, fp32 out, x unchanged. blocks > 1:
    the block-diagonal transform of a tensor-parallel layer's sharded side,
    `blocks` independent U_{N/blocks} on consecutive slices.

    Two GEMMs over all rows at once (S_M is symmetric): (rows*K, M) @ S_M, then
    H_K on the K axis as one (K, K) @ (K, rows*M) product. A packed SmolLM2's
    forward on a 512-token window took 10.6 s with an in-place butterfly and a
    batched K x K matmul, 7.3 s this way (the original model: 5.4 s; 1 thread of
    a busy 2-core machine). Agrees with the butterfly to 3e-7 of max |y|."""
    N = x.shape[-1]
    if blocks > 1:
        if N % blocks:
            raise ValueError('Hadamard size %d does not split into %d blocks' % (N, blocks))
        return had_transform(x.reshape(*x.shape[:-1], blocks, N // blocks), inverse).reshape(x.shape)
    K, M = split_size(N)
    y = x.reshape(-1, M).to(torch.float32)
    y = torch.matmul(y, _sylvester_matrix(M).to(y.device)) if M > 1 else y.clone()
    if K > 1:
        H = special_matrix(K).to(y.device, torch.float32)
        rows = y.shape[0] // K
        y = y.view(rows, K, M).transpose(0, 1).reshape(K, rows * M)
        y = torch.matmul(H.T if inverse else H, y).view(K, rows, M).transpose(0, 1)
    return (y * (1.0 / math.sqrt(N))).reshape(x.shape)
