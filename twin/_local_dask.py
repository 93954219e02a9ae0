"""The sweep's own Dask cluster on this machine, and quiet at its end.

A ``LocalCluster`` closes its scheduler while worker processes may still be shutting down; a
worker whose heartbeat lands in that gap logs "Failed to communicate with scheduler during
heartbeat" with a full traceback (or "Scheduler was unaware of this worker"), although every run
has finished and been recorded. On a cluster we started, the scheduler lives in our own process,
so a worker can lose it only when we close it (or our process dies, which the user sees anyway):
those two records are teardown noise there, and dropped. A run that fails still fails its future
and lands in the results table; every other worker log line is kept. Workers of a scheduler the
user runs (``--scheduler``) are left alone.
"""

from __future__ import annotations

import logging

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["TEARDOWN_MESSAGES", "local_cluster", "quiet_teardown"]

#: The worker log messages that, on our own cluster, only its closing produces.
TEARDOWN_MESSAGES = (
    "Failed to communicate with scheduler during heartbeat.",
    "Scheduler was unaware of this worker; shutting down.",
)

_WORKER_LOGGER = "distributed.worker"


class _DropTeardownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in TEARDOWN_MESSAGES


class _QuietTeardown(WorkerPlugin):
    """Installs the filter in each worker process (and in workers a nanny restarts)."""

    name = "twin-quiet-teardown"

    def setup(self, worker) -> None:
        logger = logging.getLogger(_WORKER_LOGGER)
        if not any(isinstance(each, _DropTeardownNoise) for each in logger.filters):
            logger.addFilter(_DropTeardownNoise())


def local_cluster(workers: int) -> LocalCluster:
    """A cluster of ``workers`` single-threaded worker processes on this machine."""
    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )


def quiet_teardown(client: Client) -> None:
    """Drop the teardown noise in the workers of ``client``'s cluster (ours only)."""
    client.register_plugin(_QuietTeardown(), name=_QuietTeardown.name)
