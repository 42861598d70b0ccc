#!/usr/bin/env python3
"""Calibration capture (python/qtip/capture.py; docs/cmd/capture.md).

  calib/capture.py capture --model DIR -o OUT [options] TEXT...
  calib/capture.py merge -o OUT SHARD_DIR...

Run with the project's .venv (scripts/setup-python.sh)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from qtip.capture import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
