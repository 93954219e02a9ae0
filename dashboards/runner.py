"""Running scenarios for the pages: through ``Twin.run`` into the store, with progress.

This is what a background callback executes (in a thread, see :mod:`dashboards.jobs`). The
simulations themselves run in a child process (:mod:`dashboards.worker`) that the thread
watches and kills when the job is cancelled; a city that a child cannot load again (one built
in memory) runs in the thread itself. The module only sequences public API calls and reports
progress, so it is also usable from a script or test without Dash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dashboards.jobs import raise_if_cancelled
from dashboards.state import DashboardState
from dashboards.worker import city_reference, run_in_process
from twin import USER_ERRORS, Scenario

__all__ = ["run_scenarios"]

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
    report = progress or (lambda _f, _l: None)
    last = {"t": 0.0}
    n = max(len(scenarios), 1)
    # the session's city when the run starts: the planner may open another one meanwhile
    twin = state.twin
    city_sha = twin.city.source.sha256
    keys: list[str | None] = [state.store.run_key(s, city_sha) for s in scenarios]
    problems: list[str | None] = [None] * len(scenarios)
    todo = [i for i, key in enumerate(keys) if not state.store.has_run(key)]

    def label(i: int) -> str:
        return f"{scenarios[i].name} ({i + 1}/{len(scenarios)})"

    def on_start(j: int) -> None:
        i = todo[j]
        report(i / n, label(i))

    def on_progress(j: int, fraction: float) -> None:
        now = time.monotonic()
        if now - last["t"] >= min_interval_s:
            last["t"] = now
            i = todo[j]
            report((i + fraction) / n, label(i))

    def on_error(j: int, err: BaseException) -> None:
        if errors is None:
            raise err
        i = todo[j]
        keys[i], problems[i] = None, str(err)

    where = city_reference(twin.city) if isolate else None
    if todo and where is not None:
        run_in_process(
            where,
            [(keys[i], scenarios[i]) for i in todo],
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
                run = twin.run(scenarios[i], on_progress=lambda f, j=j: on_progress(j, f))
                state.store.write_run(keys[i], run)
            except USER_ERRORS as err:
                on_error(j, err)
    if errors is not None:
        errors.extend(problems)
    report(1.0, "done")
    return keys
