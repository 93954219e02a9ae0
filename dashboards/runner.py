"""Running scenarios for the pages: through ``Twin.run`` into the store, with progress.

This is what a background callback executes (in a thread, see :mod:`dashboards.jobs`); it only
sequences public API calls and reports progress, so it is also usable from a script or test
without Dash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dashboards.state import DashboardState
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
) -> list[str | None]:
    """Run each scenario not yet in the store (same settings, same results: stored runs are
    reused) and return their run keys, in order.

    With an ``errors`` list, a scenario the twin refuses (e.g. the learned policy without a
    checkpoint) gets the key ``None`` and its message is appended there, and the others still
    run; without it, the first such error is raised.

    ``progress(fraction, label)`` is called at most every ``min_interval_s`` seconds (every
    call is a write to the progress cache that the browser polls) and once at the end.
    """
    report = progress or (lambda _f, _l: None)
    keys = []
    last = {"t": 0.0}
    n = max(len(scenarios), 1)
    # the session's city when the run starts: the planner may open another one meanwhile
    twin = state.twin
    city_sha = twin.city.source.sha256
    for i, scenario in enumerate(scenarios):
        key = state.store.run_key(scenario, city_sha)
        label = f"{scenario.name} ({i + 1}/{len(scenarios)})"

        def on_progress(fraction: float, i: int = i, label: str = label) -> None:
            now = time.monotonic()
            if now - last["t"] >= min_interval_s:
                last["t"] = now
                report((i + fraction) / n, label)

        problem = None
        if not state.store.has_run(key):
            report(i / n, label)
            try:
                run = twin.run(scenario, on_progress=on_progress)
                state.store.write_run(key, run)
            except USER_ERRORS as err:
                if errors is None:
                    raise
                key, problem = None, str(err)
        if errors is not None:
            errors.append(problem)
        keys.append(key)
    report(1.0, "done")
    return keys
