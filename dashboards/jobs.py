"""Background runs in threads of the dashboard's own process.

Dash's :class:`~dash.DiskcacheManager` forks a child process per run. Forking a process while
other threads run (the server answers requests in threads; the dashboard warms up in one) copies
every lock those threads hold at that instant into the child, held forever: a child that then
needs one hangs, and the parent waits for it at exit. Python 3.11's ``functools.cached_property``
holds a lock shared by every instance of a class while it computes (a city's router, a network's
k-d tree), and libraries hold others; a CI run hung this way. A job here is a thread, which
needs no fork; the simulation it starts runs in a process forked from a forkserver
(:mod:`dashboards.worker`), a fresh process without the dashboard's threads, so no lock is
copied held either.

A thread cannot be killed, so Cancel is cooperative: the job's thread checks
:func:`raise_if_cancelled`, and stops there. The simulation itself runs in a child process
that the thread watches (:mod:`dashboards.worker`): the thread checks the flag every tenth of a
second and kills the child, which frees its memory at once, whatever step it was in. Until the
thread has stopped, a cancelled job still counts as running, so that the page says "cancelled"
only once the work has stopped.

Results, progress and job handles keep DiskcacheManager's cache and protocol; jobs live in this
process only, so the dashboard is served by one process (as ``twin dashboard`` does).
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from dataclasses import dataclass
from typing import Any

from dash import DiskcacheManager

__all__ = ["RunCancelled", "ThreadJobManager", "raise_if_cancelled"]


class RunCancelled(Exception):
    """The planner pressed Cancel; raised inside the run at its next progress report."""


_cancel_event: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "dashboard_run_cancel", default=None
)


def raise_if_cancelled() -> None:
    """Stop the current background run if it was cancelled (no-op outside a run).

    Raises
    ------
    RunCancelled
        The job this thread runs was cancelled.
    """
    event = _cancel_event.get()
    if event is not None and event.is_set():
        raise RunCancelled("the run was cancelled")


@dataclass
class _Job:
    key: str
    thread: threading.Thread
    cancel: threading.Event


class ThreadJobManager(DiskcacheManager):
    """Dash background-callback manager that runs each job in a daemon thread.

    Parameters
    ----------
    cache : diskcache.Cache
        Where results and progress are kept (as for :class:`~dash.DiskcacheManager`).
    """

    def __init__(self, cache: Any) -> None:
        super().__init__(cache)
        self._jobs: dict[int, _Job] = {}
        self._jobs_lock = threading.Lock()
        self._ids = itertools.count(1)
        # keys of cancelled jobs: what such a job writes as it stops (its RunCancelled) is
        # never a result, even to a poll that was on its way when Cancel was pressed
        self._cancelled_keys: set[str] = set()

    def call_job_fn(self, key: str, job_fn: Any, args: Any, context: Any) -> int:
        job_id = next(self._ids)
        cancel = threading.Event()

        def work() -> None:
            _cancel_event.set(cancel)
            try:
                job_fn(key, self._make_progress_key(key), args, context)
            finally:
                if cancel.is_set():
                    # nobody collects a cancelled job: drop what it wrote
                    self.clear_cache_entry(key)
                    self.clear_cache_entry(self._make_progress_key(key))
                    with self._jobs_lock:
                        self._jobs.pop(job_id, None)
                        self._cancelled_keys.discard(key)

        # a fresh context per job: the cancel flag must not leak into the server's thread
        thread = threading.Thread(
            target=contextvars.Context().run,
            args=(work,),
            name=f"dashboard-run-{job_id}",
            daemon=True,  # a run never keeps the server (or a test session) from exiting
        )
        with self._jobs_lock:
            self._jobs[job_id] = _Job(key, thread, cancel)
        thread.start()
        return job_id

    def _job(self, job: Any) -> tuple[int, _Job | None]:
        if job is None:
            return 0, None
        try:
            job_id = int(job)
        except (TypeError, ValueError):
            return 0, None
        with self._jobs_lock:
            return job_id, self._jobs.get(job_id)

    def job_running(self, job: Any) -> bool:
        _, found = self._job(job)
        if found is None:
            return False
        if found.cancel.is_set():
            # cancelled: running until its thread has stopped (and forgotten itself)
            return found.thread.is_alive()
        # A job whose result is written but not yet collected still counts as running: Dash
        # asks after reading no result, and the thread may have finished in between.
        return found.thread.is_alive() or self.result_ready(found.key)

    def terminate_job(self, job: Any) -> None:
        job_id, found = self._job(job)
        if found is None:
            return
        # Dash also "terminates" a job after collecting its result: only a job still
        # working is told to stop (and forgets itself when it has)
        if found.thread.is_alive() and not self.result_ready(found.key):
            with self._jobs_lock:
                self._cancelled_keys.add(found.key)
            found.cancel.set()
        else:
            with self._jobs_lock:
                self._jobs.pop(job_id, None)

    def get_result(self, key: Any, job: Any) -> Any:
        with self._jobs_lock:
            if key in self._cancelled_keys:
                return self.UNDEFINED  # as for a job still working: nothing to show yet
        return super().get_result(key, job)

    def terminate_unhealthy_job(self, job: Any) -> bool:
        # a thread is running or done; it has no zombie state to reap
        return False

    def running_jobs(self) -> int:
        """How many runs are working now (for tests and shutdown)."""
        with self._jobs_lock:
            return sum(job.thread.is_alive() for job in self._jobs.values())
