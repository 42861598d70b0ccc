"""One progress line per stage on a terminal (rewritten in place, with an ETA
from the work done so far); nothing when stderr is not a terminal."""
import sys
import time


def _clock(s):
    s = int(round(s))
    return '%d:%02d:%02d' % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else '%d:%02d' % (s // 60, s % 60)


class Stage:
    """A stage of `total` units of work (e.g. weights to quantize)."""

    def __init__(self, name, total, count=None, enabled=None, stream=sys.stderr):
        self.name, self.total, self.count = name, max(total, 1), count
        self.done, self.items = 0, 0
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.t0 = time.monotonic()
        self.note = ''
        self._draw()

    def advance(self, units, note=''):
        self.done += units
        self.items += 1
        self.note = note
        self._draw()

    def _draw(self, final=False):
        if not self.enabled:
            return
        el = time.monotonic() - self.t0
        frac = min(self.done / self.total, 1.0)
        if final:
            tail = 'done in %s' % _clock(el)
        elif self.done:
            tail = 'elapsed %s  ETA %s' % (_clock(el), _clock(el * (1 - frac) / frac))
        else:
            tail = 'elapsed %s' % _clock(el)
        items = ' %d/%d' % (self.items, self.count) if self.count else ''
        line = '%-9s%s %5.1f%%  %s  %s' % (self.name, items, 100 * frac, tail, self.note)
        self.stream.write('\r\033[K' + line[:150] + ('\n' if final else ''))
        self.stream.flush()

    def finish(self, note=''):
        self.done, self.note = self.total, note
        self._draw(final=True)
        return time.monotonic() - self.t0
