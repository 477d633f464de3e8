import os
import sys

from ._bench import main

try:
    try:
        rc = main()
    finally:
        sys.stdout.flush()  # a closed pipe raises here, not in the interpreter's last flush
except BrokenPipeError:
    # The reader went away (`python -m fastconv config | head -1`): stop quietly, with
    # the status of a process SIGPIPE ends in a shell (128 + 13), as coreutils' tools.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    rc = 141
sys.exit(rc)
