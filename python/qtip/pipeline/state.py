"""Step records: what a step's output was made from, written atomically.

A step is fresh when its record exists, the inputs recorded equal the inputs
the step would use now, and its outputs still have the recorded checksums.
Anything else (no record, a different input, a changed or missing output)
makes it stale; file existence alone decides nothing. A record is written only
after its outputs are complete, so a kill -9 at any moment leaves either a
valid record or none."""
import json
import os
import tempfile


def write_text_atomic(path, text):
    """Write text to path through a fsynced temporary (.<name>.<random>.tmp, which
    remove_stale_temporaries clears after a kill) and a rename."""
    d = os.path.dirname(path) or '.'
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + '\n')


def read_json(path):
    """The JSON in path, or None when it is missing or unreadable (a stale step)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_fresh(record, inputs, outputs_now):
    """record: a step record (or None); inputs: the step's inputs now;
    outputs_now: {output name: checksum now, None when missing}."""
    if not record or record.get('inputs') != inputs:
        return False
    recorded = record.get('outputs') or {}
    return set(recorded) == set(outputs_now) and all(
        v is not None and recorded[k] == v for k, v in outputs_now.items())


def remove_stale_temporaries(d, target=''):
    """Temporaries of write_text_atomic left by a killed run (of target only, when given)."""
    if not os.path.isdir(d):
        return
    for name in os.listdir(d):
        if name.startswith('.' + target) and name.endswith('.tmp'):
            os.unlink(os.path.join(d, name))
