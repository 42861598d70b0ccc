"""One self-rewriting progress line with ETA on stderr (only when asked: a
terminal by default, never in a pipeline unless --progress)."""
import sys
import time


class Progress:
    def __init__(self, total, enabled, label):
        self.total, self.enabled, self.label = max(total, 1), enabled, label
        self.done_n, self.t0 = 0, time.time()

    def step(self):
        self.done_n += 1
        if not self.enabled:
            return
        el = time.time() - self.t0
        eta = el / self.done_n * (self.total - self.done_n)
        sys.stderr.write('\r%s: %d/%d windows-passes, %.0f s elapsed, ETA %.0f s   '
                         % (self.label, self.done_n, self.total, el, eta))
        sys.stderr.flush()

    def done(self):
        if self.enabled:
            sys.stderr.write('\r%s: %d/%d done in %.1f s%s\n'
                             % (self.label, self.done_n, self.total, time.time() - self.t0,
                                ' ' * 20))
            sys.stderr.flush()
