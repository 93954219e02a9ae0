"""Runs in a process of their own, so that Cancel stops them at once and frees their memory.

A background job (:mod:`dashboards.jobs`) runs in a thread of the dashboard, and a thread
cannot be stopped from outside: it stops only where it checks a flag, and a large run spends
long stretches where it checks nothing. Generating and routing five million trips takes ten
seconds and 2.6 GB before the simulation reports progress for the first time, and each percent
of a day takes seconds more. So the job's thread hands the simulation to a child process and
watches it: it relays the child's progress, checks the job's cancel flag every
:data:`POLL_S` seconds, and kills the child when the job is cancelled. The operating system
takes back all of the child's memory at once, and nothing it half wrote is kept (runs are
written atomically, and the staging folder of a killed write is removed).

Children come from a *forkserver*: a process started once, fresh (not forked from the
dashboard, whose threads may hold locks that a forked child would inherit held forever, see
:mod:`dashboards.jobs`), with the twin's modules already imported; each run is forked from it
in a few milliseconds. A child loads the city from the city cache (a fraction of a second for a
centre, seconds for a region: much less than importing the twin) and checks that it is the same
content as the session's city. It writes the finished run into the run store itself, so only
progress and errors cross between the processes.

As with any program that starts processes this way, a script that serves the dashboard keeps
its serving code under ``if __name__ == "__main__":`` (``twin dashboard`` and
``python -m dashboards`` do): a child imports the script that started the dashboard.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dashboards.store import RunStore
from twin import USER_ERRORS, City, Scenario, Twin, TwinError

__all__ = [
    "POLL_S",
    "CityRef",
    "RunFailed",
    "city_reference",
    "run_in_process",
    "start_forkserver",
    "warm_up",
]

POLL_S = 0.1
"""How often the watching thread checks the cancel flag and the child, seconds."""

PRELOAD = ("dashboards.worker", "torch")
"""Modules the forkserver imports once, so that no run pays for importing them (two seconds
for the twin and the run store, one more for torch, which the learned planner needs).
Importing them starts no Python thread, so no Python lock is held at a fork (native pools, such
as OpenBLAS's, prepare for forks themselves); a module that is missing is skipped."""

_ENV_PREFIX = "TWIN_"
"""Environment variables passed to every child as the dashboard has them now (the city cache,
the resource budget): the forkserver keeps the environment it started with."""

_context_lock = threading.Lock()


class RunFailed(TwinError):
    """The process running a simulation ended without finishing it (killed for lack of memory,
    or a crash); the message says how it ended."""


@dataclass(frozen=True)
class CityRef:
    """How a child process loads the session's city: by registered name or file path, with the
    content hash it must have."""

    load_as: str
    sha256: str


def city_reference(city: City) -> CityRef | None:
    """How a child loads ``city`` again, or ``None`` when it cannot (a city built in memory,
    or whose file is gone): such a city runs in the job's thread.

    Parameters
    ----------
    city : City
        The session's city.

    Returns
    -------
    CityRef or None
        Its registered name (which also chooses its depot and disposal site) or file path.
    """
    source = getattr(city, "source", None)
    if source is None or not getattr(source, "sha256", None):
        return None
    if source.registered is not None:
        return CityRef(source.registered.name, source.sha256)
    path = getattr(source, "path", None)
    if path is None or not Path(path).is_file():
        return None
    return CityRef(str(path), source.sha256)


def _context() -> Any:
    """The forkserver context (spawn where the platform has no forkserver)."""
    with _context_lock:
        if "forkserver" not in multiprocessing.get_all_start_methods():
            return multiprocessing.get_context("spawn")
        context = multiprocessing.get_context("forkserver")
        # only takes effect before the forkserver starts; later calls change nothing
        context.set_forkserver_preload(list(PRELOAD))
        return context


def start_forkserver() -> None:
    """Start the forkserver now (it then imports :data:`PRELOAD`, in its own process), so that
    the first run does not wait for it; nothing where runs are spawned."""
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


_warming: threading.Thread | None = None


def warm_up() -> threading.Thread:
    """:func:`start_forkserver` in a background thread, once per process (later calls return
    the same thread).

    Returns
    -------
    threading.Thread
        The thread.
    """
    global _warming
    with _context_lock:
        if _warming is None:
            _warming = threading.Thread(
                target=start_forkserver, name="dashboard-forkserver", daemon=True
            )
            _warming.start()
        return _warming


# ----------------------------------------------------------------------------- the child
def _portable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling (to cross to the dashboard), else a TwinError with its
    message."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return TwinError(str(err))
    return err


def _child(
    conn: Connection,
    city: CityRef,
    runs: list[tuple[str, dict[str, Any]]],
    store_root: str,
    env: dict[str, str],
) -> None:
    """Load the city, run each scenario and write it into the store, reporting on ``conn``:
    ``("start", i)``, ``("progress", i, fraction)``, ``("done", i)``, ``("error", i, exc)``,
    then ``("finished",)``; or ``("crash", text)`` on an unexpected error."""
    os.environ.update(env)
    try:
        twin = Twin.load(city.load_as)
        if twin.city.source.sha256 != city.sha256:
            raise TwinError(
                f"{city.load_as}: the city file changed since the dashboard opened it: open it "
                "again."
            )
        store = RunStore(store_root)
        for i, (key, data) in enumerate(runs):
            conn.send(("start", i))
            try:
                scenario = Scenario.model_validate(data)
                run = twin.run(
                    scenario, on_progress=lambda f, i=i: conn.send(("progress", i, float(f)))
                )
                store.write_run(key, run)
                del run  # the next scenario's run does not share memory with this one
            except USER_ERRORS as err:
                conn.send(("error", i, _portable(err)))
                continue
            conn.send(("done", i))
        conn.send(("finished",))
    except USER_ERRORS as err:
        conn.send(("error", None, _portable(err)))
    except BaseException:  # a bug: the dashboard shows its last line and logs the traceback
        conn.send(("crash", traceback.format_exc()))
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the parent
def run_in_process(
    city: CityRef,
    runs: Sequence[tuple[str, Scenario]],
    store_root: str | os.PathLike[str],
    *,
    on_start: Callable[[int], None],
    on_progress: Callable[[int, float], None],
    on_error: Callable[[int, BaseException], None],
    check: Callable[[], None],
) -> None:
    """Run scenarios in a child process and write them into the store, watching it from here.

    Parameters
    ----------
    city : CityRef
        The city, as the child loads it.
    runs : sequence of (str, Scenario)
        Run key and scenario of each run to make, in order.
    store_root : path
        The run store's folder.
    on_start, on_progress, on_error : callable
        Called in this thread as the child starts a run (its index), reports a fraction of it
        done, or is refused by the twin (index and error). An exception raised by one of them,
        or by ``check``, kills the child and propagates.
    check : callable
        Called every :data:`POLL_S` seconds; raises to stop the runs (a cancelled job).

    Raises
    ------
    RunFailed
        The child died or crashed.
    twin.errors.TwinError
        The city could not be loaded in the child.
    """
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIX)}
    payload = [(key, scenario.model_dump(mode="json")) for key, scenario in runs]
    child = context.Process(
        target=_child,
        args=(sender, city, payload, str(store_root), env),
        name="dashboard-run",
        daemon=True,  # never outlives the dashboard
    )
    child.start()
    sender.close()  # the child holds the only writing end: its death reads as end of file
    current: int | None = None
    try:
        while True:
            check()
            if not receiver.poll(POLL_S):
                continue
            try:
                message = receiver.recv()
            except EOFError:
                child.join(timeout=5)
                raise RunFailed(_death(child.exitcode)) from None
            kind = message[0]
            if kind == "finished":
                return
            if kind == "start":
                current = message[1]
                on_start(current)
            elif kind == "progress":
                on_progress(message[1], message[2])
            elif kind == "error":
                if message[1] is None:
                    raise message[2]
                on_error(message[1], message[2])
            elif kind == "crash":
                print(message[1], file=sys.stderr)
                last = message[1].strip().splitlines()[-1]
                raise RunFailed(f"the simulation crashed: {last}")
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
            child.join()
            # a write that the kill interrupted leaves its staging folder (named after the
            # child): nobody else would finish or remove it
            if current is not None:
                _remove_staging(Path(store_root) / "runs", runs[current][0], child.pid)
        else:
            child.join()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        signal = -exitcode
        why = " (out of memory?)" if signal == 9 else ""
        return f"the simulation process was killed by signal {signal}{why}"
    return f"the simulation process ended unexpectedly (exit status {exitcode})"


def _remove_staging(runs_dir: Path, key: str, pid: int | None) -> None:
    for staging in runs_dir.glob(f".{key}.partial-{pid}@*"):
        shutil.rmtree(staging, ignore_errors=True)
