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
content as the session's city. It writes what it made (a run, a proposal of signal plans or of
a day's collection routes: the kinds of :data:`TASKS`) into the run store itself, so only
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
from twin import USER_ERRORS, City, Scenario, Twin, TwinError, propose_routes, propose_signals

__all__ = [
    "POLL_S",
    "TASKS",
    "CityRef",
    "RunFailed",
    "Task",
    "city_reference",
    "run_in_process",
    "run_task",
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


# ----------------------------------------------------------------------------- the tasks
Progress = Callable[[float], None]


@dataclass(frozen=True)
class Task:
    """One piece of work for a child process: what it makes and where it goes in the store.

    Parameters
    ----------
    kind : str
        A key of :data:`TASKS`.
    key : str
        The store key its result is written under.
    data : dict
        Its input as JSON data (what crosses to the child): a scenario, or a proposal's
        request (:func:`dashboards.forms.read_proposal_form`,
        :func:`dashboards.forms.read_routes_form`).
    """

    kind: str
    key: str
    data: dict[str, Any]


def _run_scenario(twin: Twin, store: RunStore, task: Task, on_progress: Progress) -> None:
    run = twin.run(Scenario.model_validate(task.data), on_progress=on_progress)
    store.write_run(task.key, run)


def _propose_signals(twin: Twin, store: RunStore, task: Task, on_progress: Progress) -> None:
    request = task.data
    # the search's budget only counts for the search: Webster's runs a fixed number
    budget = {"simulations": request["simulations"]} if request.get("simulations") else {}
    proposal = propose_signals(
        twin.city,
        request["spec"],
        method=request["method"],
        seed=request["seed"],
        on_progress=on_progress,
        **budget,
    )
    store.write_proposal(task.key, proposal)


def _propose_routes(twin: Twin, store: RunStore, task: Task, on_progress: Progress) -> None:
    request = task.data
    # one day, planned in seconds: the twin reports no progress on the way
    proposal = propose_routes(
        twin.city,
        bins=request["bins"],
        trucks=request["trucks"],
        seed=request["seed"],
        polish_s=request["polish_s"],
        outside_range=request["outside_range"],
    )
    store.write_route_proposal(task.key, proposal)


TASKS: dict[str, Callable[[Twin, RunStore, Task, Progress], None]] = {
    "scenario": _run_scenario,
    "signals": _propose_signals,
    "routes": _propose_routes,
}
"""What a task of each kind does: make its result and write it into the store under its key."""


def run_task(twin: Twin, store: RunStore, task: Task, on_progress: Progress) -> None:
    """Make a task's result on ``twin``'s city and write it into ``store`` (in a child, or in
    the job's thread for a city a child cannot load).

    Parameters
    ----------
    twin : Twin
        The loaded city.
    store : RunStore
        Where the result goes.
    task : Task
        What to make.
    on_progress : callable
        Called with the fraction done, 0–1.
    """
    TASKS[task.kind](twin, store, task, on_progress)


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
    tasks: list[Task],
    store_root: str,
    env: dict[str, str],
) -> None:
    """Load the city, make each task's result and write it into the store, reporting on
    ``conn``: ``("start", i)``, ``("progress", i, fraction)``, ``("done", i)``,
    ``("error", i, exc)``, then ``("finished",)``; or ``("crash", text)`` on an unexpected
    error."""
    os.environ.update(env)
    try:
        twin = Twin.load(city.load_as)
        if twin.city.source.sha256 != city.sha256:
            raise TwinError(
                f"{city.load_as}: the city file changed since the dashboard opened it: open it "
                "again."
            )
        store = RunStore(store_root)
        for i, task in enumerate(tasks):
            conn.send(("start", i))
            try:
                # a task's result is freed when it returns: the next one starts without it
                run_task(twin, store, task, lambda f, i=i: conn.send(("progress", i, float(f))))
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
    tasks: Sequence[Task],
    store_root: str | os.PathLike[str],
    *,
    on_start: Callable[[int], None],
    on_progress: Callable[[int, float], None],
    on_error: Callable[[int, BaseException], None],
    check: Callable[[], None],
) -> None:
    """Make tasks' results in a child process and write them into the store, watching it from
    here.

    Parameters
    ----------
    city : CityRef
        The city, as the child loads it.
    tasks : sequence of Task
        What to make, in order.
    store_root : path
        The run store's folder.
    on_start, on_progress, on_error : callable
        Called in this thread as the child starts a task (its index), reports a fraction of it
        done, or is refused by the twin (index and error). An exception raised by one of them,
        or by ``check``, kills the child and propagates.
    check : callable
        Called every :data:`POLL_S` seconds; raises to stop the tasks (a cancelled job).

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
    child = context.Process(
        target=_child,
        args=(sender, city, list(tasks), str(store_root), env),
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
                task = tasks[current]
                _remove_staging(RunStore.folder(store_root, task.kind), task.key, child.pid)
        else:
            child.join()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        signal = -exitcode
        why = " (out of memory?)" if signal == 9 else ""
        return f"the simulation process was killed by signal {signal}{why}"
    return f"the simulation process ended unexpectedly (exit status {exitcode})"


def _remove_staging(folder: Path, key: str, pid: int | None) -> None:
    for staging in folder.glob(f".{key}.partial-{pid}@*"):
        shutil.rmtree(staging, ignore_errors=True)
