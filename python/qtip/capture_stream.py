"""One `qtip-hessian accumulate` process per site of a pass, fed raw f32 rows
on its stdin by a writer thread.

The thread decouples the forward pass from the accumulator: a hook hands over
its activations and returns; at most QUEUE_DEPTH of them wait per site (the
bound on memory held for a slow accumulator), then the hook blocks. The C tool
does all the float64 arithmetic (torch never accumulates a Hessian), and its
peak RSS is taken from the kernel (wait4) when it exits.
"""
import os
import queue
import subprocess
import tempfile
import threading

from .capture_sites import CaptureError

QUEUE_DEPTH = 1


def find_qtip_hessian(bin_dir=None):
    """The qtip-hessian executable: --qtip-bin, $QTIP_BIN, the repo's build/, PATH."""
    import shutil
    here = os.path.dirname(os.path.abspath(__file__))
    tried = []
    for d in (bin_dir, os.environ.get('QTIP_BIN'), os.path.join(here, '..', '..', 'build')):
        if d:
            exe = os.path.join(d, 'qtip-hessian')
            if os.access(exe, os.X_OK):
                return os.path.abspath(exe)
            tried.append(exe)
    exe = shutil.which('qtip-hessian')
    if exe:
        return exe
    raise CaptureError('qtip-hessian not found (tried %s and PATH); build the C tools or '
                       'pass --qtip-bin DIR' % ', '.join(tried))


def _vm_hwm(pid):
    """Peak resident bytes of a live process (Linux /proc; 0 elsewhere). Not
    wait4's ru_maxrss: a child forked from this large process inherits its
    high-water mark across exec."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class SiteStream:
    """Rows of one site into one accumulate process writing `path`."""

    def __init__(self, exe, site, dim, path, device):
        self.site, self.dim, self.path = site, dim, path
        self.err = tempfile.TemporaryFile()
        cmd = [exe, 'accumulate', '-q', '--no-progress', '--threads', '1', '--device', device,
               '--site', site, '--dim', str(dim), '--dtype', 'f32', '-o', path, '-']
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        self.queue = queue.Queue(QUEUE_DEPTH)
        self.write_error = None
        self.thread = threading.Thread(target=self._write, name='qtip-' + site, daemon=True)
        self.thread.start()
        self.max_rss = 0      # VmHWM, sampled when the last rows are written
        self.cpu_seconds = 0.0

    def _write(self):
        while True:
            item = self.queue.get()
            if item is None:
                break
            if self.write_error is None:
                try:
                    self.proc.stdin.write(memoryview(item).cast('B'))
                    self.proc.stdin.flush()
                except OSError as e:  # the accumulator died; its stderr says why
                    self.write_error = e
            del item  # release the window now, not when the next one arrives
            self.queue.task_done()
        try:
            self.proc.stdin.close()
        except OSError as e:
            self.write_error = self.write_error or e

    def put(self, rows):
        """rows: a C-contiguous float32 numpy array (rows x dim), owned by the stream."""
        self.queue.put(rows)

    def finish(self):
        """Close the input, wait for the file; CaptureError with the tool's message."""
        self.queue.join()
        self.max_rss = _vm_hwm(self.proc.pid)
        self.queue.put(None)
        self.thread.join()
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.err.seek(0)
        msg = self.err.read().decode('utf-8', 'replace').strip()
        self.err.close()
        if self.proc.returncode != 0 or self.write_error is not None:
            raise CaptureError('qtip-hessian accumulate for %s failed (exit %s): %s'
                               % (self.site, self.proc.returncode,
                                  msg or self.write_error or 'no message'))

    def abort(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
