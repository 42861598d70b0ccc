"""Calibration text -> token stream -> deterministic windows.

Each UTF-8 file is read in pieces of about PIECE_BYTES ending at a line break
and each piece is tokenized on its own (the text is never held whole; the
token ids are, at 4 bytes per token). The files' tokens are concatenated in the
order given. Windows are non-overlapping slices of ctx tokens at multiples of
ctx; `count` of them are drawn without replacement by numpy's PCG64 with the
seed, then sorted by position. A shard i/n takes every n-th window from the
i-th, so the shards of one setting are disjoint and together are the whole set.
"""
import hashlib

import numpy as np

from .capture_sites import CaptureError

PIECE_BYTES = 1 << 20


def _last_ascii_end(buf):
    cut = len(buf)
    while cut > 0 and buf[cut - 1] >= 0x80:
        cut -= 1
    return cut or len(buf)


def _pieces(path):
    """(text piece, sha256 of the file) pieces ending at a line break."""
    h = hashlib.sha256()
    rest, offset = b'', 0
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(PIECE_BYTES)
            h.update(chunk)
            buf = rest + chunk
            cut = buf.rfind(b'\n') + 1 if chunk else len(buf)
            if chunk and cut == 0 and len(buf) >= 4 * PIECE_BYTES:
                cut = _last_ascii_end(buf)  # no line break for 4 MiB: cut between characters
            piece, rest = buf[:cut], buf[cut:]
            if piece:
                try:
                    yield piece.decode('utf-8'), None
                except UnicodeDecodeError as e:
                    raise CaptureError('%s: not UTF-8 at byte %d (%s)'
                                       % (path, offset + e.start, e.reason)) from None
                offset += len(piece)
            if not chunk:
                break
    yield None, h.hexdigest()


def read_tokens(tokenizer, paths, add_special_tokens):
    """(int32 token ids of all files, per-file provenance). With
    add_special_tokens the tokenizer's BOS (if it has one) starts each file."""
    parts, files = [], []
    bos = getattr(tokenizer, 'bos_token_id', None)
    for path in paths:
        ntok = 0
        if add_special_tokens and bos is not None:
            parts.append(np.array([bos], np.int32))
            ntok += 1
        for piece, digest in _pieces(path):
            if piece is None:
                files.append({'path': path, 'sha256': digest, 'tokens': ntok})
                break
            ids = tokenizer(piece, add_special_tokens=False)['input_ids']
            parts.append(np.asarray(ids, np.int32))
            ntok += len(ids)
    tokens = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return tokens, files


def choose_windows(total_tokens, count, ctx, seed):
    """Start offsets of `count` windows of ctx tokens, sorted."""
    if count < 1 or ctx < 1:
        raise CaptureError('--windows and --ctx must be at least 1 (got %d, %d)' % (count, ctx))
    avail = total_tokens // ctx
    if count > avail:
        raise CaptureError('the text holds %d tokens: only %d windows of %d tokens, %d asked'
                           % (total_tokens, avail, ctx, count))
    picks = np.random.Generator(np.random.PCG64(seed)).choice(avail, size=count, replace=False)
    return [int(k) * ctx for k in np.sort(picks)]


def parse_shard(text):
    """'i/n' -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(v) for v in text.split('/'))
    except ValueError:
        raise CaptureError("--shard '%s': expected i/n, e.g. 0/4" % text) from None
    if n < 1 or not 0 <= i < n:
        raise CaptureError("--shard '%s': need 0 <= i < n" % text)
    return i, n


def shard_windows(starts, shard):
    i, n = shard
    return starts[i::n]


def window_digest(tokens, start, ctx):
    return hashlib.sha256(np.ascontiguousarray(tokens[start:start + ctx]).tobytes()).hexdigest()[:16]
