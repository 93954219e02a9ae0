"""Resource limits from one place: a run is weighed before it allocates, a run past the budget is
refused with both figures through the API and the CLI, and the estimate bounds what a run takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_twin
from twin import run_traffic, run_waste
from twin.limits import Budget, ResourceLimitError, traffic_estimate

# peak memory and wall time of one call in a fresh process, after the city is loaded
_MEASURE = """
import json, re, sys, time
from twin import load_city, run_traffic, TwinError
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
city = load_city("helsinki")
# the peak so far is the city's load (a cold cache builds it): count from here (Linux ≥ 4.0)
open("/proc/self/clear_refs", "w").write("5")
before = peak()
started = time.perf_counter()
try:
    run = run_traffic(city, trips=int(sys.argv[1]), duration="1h", seed=0)
    outcome = {"ok": True, "n_nodes": city.network.n_nodes, "n_edges": city.network.n_edges}
except TwinError as err:
    outcome = {"ok": False, "error": str(err)}
outcome["seconds"] = time.perf_counter() - started
outcome["bytes"] = peak() - before
print(json.dumps(outcome))
"""


def _measure(trips: int, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(trips)],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_past_the_budget_is_refused_before_it_allocates(helsinki):
    # ten million trips on the bundled city would take gigabytes; a 1 GB budget refuses them
    refused = _measure(10_000_000, TWIN_MEMORY_BUDGET_GB="1")
    assert not refused["ok"]
    assert refused["error"].startswith("10,000,000 trips over 1.0 h would need about ")
    assert "of memory; the limit is 1.0 GB" in refused["error"]
    assert "TWIN_MEMORY_BUDGET_GB" in refused["error"]
    # weighed, not built: nothing near the estimate was allocated, and it took no time
    assert refused["bytes"] < 100 * 2**20 and refused["seconds"] < 5


def test_a_billion_trips_are_refused_by_the_spec_before_anything_else(helsinki):
    refused = _measure(10**9)
    assert refused["error"] == "traffic.trips: must be ≤ 10,000,000 (got 1000000000)"
    assert refused["bytes"] < 50 * 2**20 and refused["seconds"] < 2


def test_the_estimate_bounds_the_memory_a_run_takes(helsinki):
    ran = _measure(100_000)
    assert ran["ok"]
    estimate = traffic_estimate(
        trips=100_000, duration_s=3600.0, dt_s=2.0, n_edges=ran["n_edges"], n_nodes=ran["n_nodes"]
    )
    # an upper bound, not a wild one
    assert ran["bytes"] <= estimate.memory_bytes <= 5 * ran["bytes"]


def test_the_command_line_says_both_figures_and_writes_nothing(tmp_path, helsinki):
    out = tmp_path / "out"
    result = run_twin(
        "traffic", "helsinki", "--trips", "5000000", "--out", str(out),
        env={"TWIN_MEMORY_BUDGET_GB": "0.5"},
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: 5,000,000 trips over 2.0 h would need about ")
    assert "the limit is 512 MB" in line
    assert not out.exists()


def test_a_waste_run_past_the_time_budget_is_refused(helsinki):
    budget = Budget(memory_bytes=2**30, time_s=60.0)
    with pytest.raises(ResourceLimitError, match=r"bins over 3,650 days would take about .* 1 min"):
        run_waste(helsinki, days=3650, solver_iterations=None, budget=budget)


def test_rounds_driven_as_given_are_not_weighed_as_searches(helsinki):
    """Four weeks of 20 working days at PyVRP's 60 s are 20 min; rounds drawn by hand run no
    solver, so a budget of a minute fits them (and their truck-km come back)."""
    budget = Budget(memory_bytes=2**30, time_s=60.0)
    fields = {"days": 28, "solver_iterations": None, "trucks": 2}
    with pytest.raises(ResourceLimitError, match="bins over 28 days would take about 20 min"):
        run_waste(helsinki, **fields, policy="schedule", budget=budget)
    run = run_waste(helsinki, **fields, policy="hand-drawn", budget=budget)
    assert run.kpis["truck_km"] > 0


def test_a_budget_set_wrong_is_named(monkeypatch):
    monkeypatch.setenv("TWIN_MEMORY_BUDGET_GB", "lots")
    with pytest.raises(ResourceLimitError, match=r"\$TWIN_MEMORY_BUDGET_GB='lots': set it to a"):
        run_traffic("helsinki", trips=10)


def test_the_budget_reads_the_environment(monkeypatch):
    monkeypatch.setenv("TWIN_MEMORY_BUDGET_GB", "3")
    monkeypatch.setenv("TWIN_TIME_BUDGET_S", "90")
    assert Budget.default() == Budget(memory_bytes=3 * 2**30, time_s=90.0)
    monkeypatch.delenv("TWIN_MEMORY_BUDGET_GB")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert Budget.default().memory_bytes == total / 2


def test_limits_module_is_documented_in_the_benchmark():
    # the figures the estimate is fitted to come from a script that exists
    assert (Path(REPO) / "benchmarks" / "bench_limits.py").is_file()


def test_planning_on_the_traffics_times_is_weighed_as_several_plans_a_day(helsinki):
    # one plan of at most 1 s on each of a week's five working days fits 12 s; planned on the
    # time-of-day times of traffic, a day is planned several times over, and that does not
    fields = {"days": 7, "solver_time_s": 1.0, "solver_iterations": None, "trucks": 2}
    traffic = {"trips": 200}
    budget = Budget(memory_bytes=2**30, time_s=12.0)
    with pytest.raises(ResourceLimitError, match="bins over 7 days would take about"):
        run_waste(helsinki, **fields, traffic=traffic, traffic_coupling=True, budget=budget)
    run = run_waste(
        helsinki, **fields, traffic=traffic, traffic_coupling=True, plan_times="free-flow",
        budget=budget,
    )  # fmt: skip
    assert run.kpis["truck_km"] > 0


def test_a_forecast_is_weighed_as_one_more_traffic_simulation_a_day(helsinki):
    """Three forecast days: four simulations of the shift's traffic, four times one's time; a
    budget one simulation fits refuses them, naming what they are, before any runs."""
    trips = 20_000
    network = helsinki.network
    one = traffic_estimate(
        trips=trips, duration_s=8 * 3600.0, dt_s=5.0, n_edges=network.n_edges,
        n_nodes=network.n_nodes,
    )  # fmt: skip
    budget = Budget(memory_bytes=2**34, time_s=2.0 * one.time_s)
    with pytest.raises(ResourceLimitError) as refused:
        run_waste(helsinki, days=1, solver_iterations=10, traffic={"trips": trips},
                  traffic_coupling=True, forecast_days=3, budget=budget)  # fmt: skip
    said = str(refused.value)
    assert said.startswith("4 simulations of the shift's traffic (the day the trucks drive in, ")
    assert "3 for the forecast) would take about" in said
    # signals timed by Webster's method on the shift's traffic: its rounds are simulations too
    with pytest.raises(ResourceLimitError) as refused:
        run_waste(helsinki, days=1, solver_iterations=10, budget=budget, traffic_coupling=True,
                  traffic={"trips": trips, "signal_plan": "webster"})  # fmt: skip
    assert str(refused.value).startswith(
        "5 simulations of the shift's traffic (the day the trucks drive in, 0 for the forecast, "
        "4 to time the signals by webster) would take about"
    )
