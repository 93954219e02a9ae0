"""Worker processes that end with the process that started them (standard library only).

A ``twin corpus`` or ``twin signal-corpus`` build draws its files in a process pool. Killed by
a signal to itself alone (``kill PID``, a scheduler that signals one process), the parent dies
and its workers, waiting on the pool's queue, would live on as orphans, holding their memory.
:func:`end_with_parent` is the pool's initializer that prevents it where the system allows.
Stopped by Ctrl-C or a terminate the parent unwinds (the ``twin`` command turns SIGTERM into
an exception), and leaving the pool's ``with`` block would wait for every draw queued and
running: :func:`stop_workers` ends them first.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

__all__ = ["end_with_parent", "stop_workers"]

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


def stop_workers(pool: Any) -> None:
    """End ``pool``'s worker processes now, so that a build stopped by Ctrl-C or a terminate
    ends in a moment, not after its queued draws (each draw's file is written atomically: one
    cut short leaves nothing). The pool then reads as broken: its draws not done fail, none
    is cancelled (the executor's thread would set a cancelled one's result and fail)."""
    # the executor keeps no public handle on its processes
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
