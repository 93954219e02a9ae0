"""Worker processes that end with the process that started them (standard library only).

A ``twin corpus`` or ``twin signal-corpus`` build draws its files in a process pool. Killed by
a signal to itself alone (``kill PID``, a scheduler that signals one process), the parent dies
and its workers, waiting on the pool's queue, would live on as orphans, holding their memory.
:func:`end_with_parent` is the pool's initializer that prevents it where the system allows.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["end_with_parent"]

_PR_SET_PDEATHSIG = 1


def end_with_parent(parent_pid: int) -> None:
    """In a worker: have the kernel send it SIGTERM when its parent dies (Linux), and end now
    if the parent ``parent_pid`` is already gone. Elsewhere a no-op: the pool's own shutdown
    ends the workers when the parent exits normally."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # died before the request took hold
        os._exit(1)
