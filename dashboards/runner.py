"""Running scenarios and proposals (signal plans, a day's collection routes) for the pages: into
the store, with progress.

This is what a background callback executes (in a thread, see :mod:`dashboards.jobs`). The
simulations themselves run in a child process (:mod:`dashboards.worker`) that the thread
watches and kills when the job is cancelled; a city that a child cannot load again (one built
in memory) runs in the thread itself. The module only sequences public API calls and reports
progress, so it is also usable from a script or test without Dash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dashboards.jobs import raise_if_cancelled
from dashboards.state import DashboardState
from dashboards.worker import Task, city_reference, run_in_process, run_task
from twin import USER_ERRORS, Scenario, ScenarioError

__all__ = [
    "check_same_city",
    "propose_collection_routes",
    "propose_signal_plans",
    "run_scenarios",
]

Progress = Callable[[float, str], None]


def run_scenarios(
    state: DashboardState,
    scenarios: Sequence[Scenario],
    progress: Progress | None = None,
    *,
    min_interval_s: float = 0.25,
    errors: list[str | None] | None = None,
    isolate: bool = True,
) -> list[str | None]:
    """Run each scenario not yet in the store (same settings, same results: stored runs are
    reused) and return their run keys, in order.

    With an ``errors`` list, a scenario the twin refuses (e.g. the learned policy without a
    checkpoint) gets the key ``None`` and its message is appended there, and the others still
    run; without it, the first such error is raised.

    ``progress(fraction, label)`` is called at most every ``min_interval_s`` seconds (every
    call is a write to the progress cache that the browser polls) and once at the end.

    With ``isolate`` (the default), the runs happen in a child process, which a cancelled job
    (:func:`dashboards.jobs.raise_if_cancelled`) kills within a tenth of a second, whatever
    the simulation is doing; without it, in this thread, which stops at the simulation's next
    progress report.
    """
    # the session's city when the run starts: the planner may open another one meanwhile
    city_sha = state.twin.city.source.sha256
    for scenario in scenarios:
        check_same_city(state, scenario.city)
    tasks = [
        Task("scenario", state.store.run_key(s, city_sha), s.model_dump(mode="json"))
        for s in scenarios
    ]
    labels = [f"{s.name} ({i + 1}/{len(scenarios)})" for i, s in enumerate(scenarios)]
    return _run_tasks(
        state,
        tasks,
        labels,
        progress,
        min_interval_s=min_interval_s,
        errors=errors,
        isolate=isolate,
    )


def check_same_city(state: DashboardState, city: str) -> None:
    """Refuse a run of a draft made for another city than the session's: a page left open in
    one tab while another tab of the same browser opened a city would otherwise run its draft
    (streets, signals) on that city and draw the results on a map they do not belong to."""
    now = state.draft_city()
    if city != now:
        raise ScenarioError(
            f"this page was made for {Path(city).name}, but {Path(now).name} has been opened "
            "in this browser since (in another tab?): reload the page to work on "
            f"{Path(now).name}, or open {Path(city).name} again on the City page."
        )


def propose_signal_plans(
    state: DashboardState,
    request: dict[str, Any],
    progress: Progress | None = None,
    *,
    min_interval_s: float = 0.25,
    isolate: bool = True,
) -> str:
    """Propose signal plans for the session's city and check them in the twin
    (:func:`twin.propose_signals`), unless the store has that proposal, and return its key.

    Parameters
    ----------
    state : DashboardState
        The app's state.
    request : dict
        What to propose for (:func:`dashboards.forms.read_proposal_form`): ``spec`` (the
        draft's traffic), ``seed``, ``method`` and ``simulations`` (the search's budget).
    progress : callable, optional
        ``progress(fraction, label)``, as for :func:`run_scenarios`.
    min_interval_s : float
        Least time between two progress reports.
    isolate : bool
        Propose in a child process (the default: Cancel kills it at once), or in this thread.

    Returns
    -------
    str
        The proposal's key in the store (:meth:`dashboards.store.RunStore.proposal`).

    Raises
    ------
    twin.errors.TwinError
        The twin refused the request (a city without signals, a budget past the limits…).
    """
    label = f"{request['method']} plans, checked at three demands"
    return _propose(state, "signals", request, label, progress, min_interval_s, isolate)


def propose_collection_routes(
    state: DashboardState,
    request: dict[str, Any],
    progress: Progress | None = None,
    *,
    min_interval_s: float = 0.25,
    isolate: bool = True,
) -> str:
    """Propose a day's collection routes for the session's city and check them in the twin
    (:func:`twin.propose_routes`), unless the store has that proposal, and return its key; as
    :func:`propose_signal_plans` (the same parameters, returns and errors) for a ``request``
    of :func:`dashboards.forms.read_routes_form` (``bins``, ``trucks``, ``seed``, ``polish_s``,
    ``outside_range``). The twin refuses, for instance, more bins than the city has.
    """
    label = (
        f"{request['bins']} bins, {request['trucks']} trucks: the learned planner, PyVRP and "
        "greedy, checked"
    )
    return _propose(state, "routes", request, label, progress, min_interval_s, isolate)


def _propose(
    state: DashboardState,
    kind: str,
    request: dict[str, Any],
    label: str,
    progress: Progress | None,
    min_interval_s: float,
    isolate: bool,
) -> str:
    """Make the proposal of ``kind`` (a task kind of :data:`dashboards.worker.TASKS`) for
    ``request`` unless the store has it; its key (the city's hash and the request)."""
    key = state.store.proposal_key(request, state.twin.city.source.sha256)
    _run_tasks(
        state,
        [Task(kind, key, request)],
        [label],
        progress,
        min_interval_s=min_interval_s,
        errors=None,
        isolate=isolate,
    )
    return key


def _run_tasks(
    state: DashboardState,
    tasks: list[Task],
    labels: list[str],
    progress: Progress | None,
    *,
    min_interval_s: float,
    errors: list[str | None] | None,
    isolate: bool,
) -> list[str | None]:
    """Make the tasks whose result the store lacks (see :func:`run_scenarios`); their keys."""
    report = progress or (lambda _f, _l: None)
    last = {"t": 0.0}
    n = max(len(tasks), 1)
    twin = state.twin
    keys: list[str | None] = [task.key for task in tasks]
    problems: list[str | None] = [None] * len(tasks)
    found = {
        "scenario": state.store.has_run,
        "signals": state.store.has_proposal,
        "routes": state.store.has_proposal,
    }
    todo = [i for i, task in enumerate(tasks) if not found[task.kind](task.key)]

    def on_start(j: int) -> None:
        i = todo[j]
        report(i / n, labels[i])

    def on_progress(j: int, fraction: float) -> None:
        now = time.monotonic()
        if now - last["t"] >= min_interval_s:
            last["t"] = now
            i = todo[j]
            report((i + fraction) / n, labels[i])

    def on_error(j: int, err: BaseException) -> None:
        if errors is None:
            raise err
        i = todo[j]
        keys[i], problems[i] = None, str(err)

    where = city_reference(twin.city) if isolate else None
    if todo and where is not None:
        run_in_process(
            where,
            [tasks[i] for i in todo],
            state.store.root,
            on_start=on_start,
            on_progress=on_progress,
            on_error=on_error,
            check=raise_if_cancelled,
        )
    else:
        for j, i in enumerate(todo):
            on_start(j)
            try:
                run_task(twin, state.store, tasks[i], lambda f, j=j: on_progress(j, f))
            except USER_ERRORS as err:
                on_error(j, err)
    if errors is not None:
        errors.extend(problems)
    report(1.0, "done")
    return keys
