"""Sweeps on a real 2-worker Dask LocalCluster: every run recorded, one failing run recorded with
its error without stopping the others, and a resumed sweep running only what is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, twin_command
from twin.scenario import ScenarioError, load_scenario
from twin.sweep import SweepSpec, load_sweep, plan_runs, run_id, run_sweep

BASE = {
    "name": "tiny",
    "city": "helsinki",
    "seed": 0,
    "traffic": {"trips": 150, "duration": "10min", "window": "5min", "dt_s": 5},
    "waste": {"days": 2, "planner": "greedy", "trucks": 2},
    "outputs": {"formats": []},
}
RUNS = [
    {"traffic.demand_scale": 1.0},
    {"traffic.demand_scale": 1.2},
    {"traffic.demand_scale": 1.4},
    # a street the city does not have: valid as a value, so the sweep starts, and this run
    # must fail and be recorded (an impossible value is refused before the sweep starts)
    {"traffic.close": ["1-2"]},
    {"waste.trucks": 1, "waste.planner": "learned"},  # the shipped learned planner
    {"waste.policy": "threshold", "waste.solver_time_s": 0.2},
    {"traffic.reroute_share": 0.5},
    {"traffic.trips": 300},
    # one field given as text in one run and as a number in another
    {"traffic.duration": "12min"},
    {"traffic.duration": 720},
]
ID = [run_id(overrides, 0) for overrides in RUNS]  # the run ids, in RUNS' order


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory, helsinki):
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    spec = {"name": "test-sweep", "scenario": "base.yaml", "runs": RUNS, "seeds": [0]}
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    return folder / "sweep.yaml"


@pytest.fixture(scope="module")
def swept(sweep_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep-out") / "results"
    return out, run_sweep(sweep_file, out, workers=2)


def test_every_run_is_recorded_and_one_failure_does_not_stop_the_sweep(swept):
    out, table = swept
    assert len(table) == len(RUNS)
    failed = table[table["status"] == "failed"]
    assert list(failed["run_id"]) == [ID[3]]
    assert "not in this city's network" in failed["error"].iloc[0]
    ok = table[table["status"] == "ok"]
    assert len(ok) == len(RUNS) - 1
    # two worker processes shared the work
    assert ok["worker_pid"].nunique() == 2
    # each finished run is a complete folder whose KPIs are the table's
    for _, row in ok.iterrows():
        kpis = json.loads((out / "runs" / row["run_id"] / "kpis.json").read_text())
        assert row["kpi.traffic.trips"] == kpis["traffic"]["trips"]
        assert row["kpi.waste.truck_km"] == pytest.approx(kpis["waste"]["truck_km"])
        assert json.loads((out / "runs" / row["run_id"] / "row.json").read_text())["status"] == "ok"
    # the failed run has no folder, only its record, and runs again next time
    assert not (out / "runs" / ID[3]).exists()
    assert json.loads((out / "failed" / f"{ID[3]}.json").read_text())["status"] == "failed"
    written = pd.read_parquet(out / "results.parquet")
    assert list(written["run_id"]) == list(table["run_id"])


def test_an_override_given_as_text_and_as_a_number_reaches_the_table(swept):
    out, table = swept
    by_id = table.set_index("run_id")
    # both mean 12 minutes, and both runs simulated 12 minutes
    assert list(by_id.loc[[ID[8], ID[9]], "kpi.traffic.simulated_s"]) == [720, 720]
    # Parquet cannot type a column of text and numbers: that column is stored as JSON text
    written = pd.read_parquet(out / "results.parquet").set_index("run_id")
    assert list(written.loc[[ID[8], ID[9]], "traffic.duration"]) == ['"12min"', "720"]
    assert written["traffic.duration"].isna().sum() == len(RUNS) - 2


def test_overrides_reach_the_runs(swept):
    _, table = swept
    by_id = table.set_index("run_id")
    # 20 % and 40 % more demand: 180 and 210 trips of the base's 150
    assert by_id.loc[ID[0], "kpi.traffic.trips"] == 150
    assert by_id.loc[ID[1], "kpi.traffic.trips"] == 180
    assert by_id.loc[ID[2], "kpi.traffic.trips"] == 210
    assert by_id.loc[ID[7], "kpi.traffic.trips"] == 300
    # the override columns hold what the sweep file asked for (NaN where a run left it alone)
    assert by_id.loc[ID[7], "traffic.trips"] == 300
    assert pd.isna(by_id.loc[ID[1], "traffic.trips"])
    assert by_id.loc[ID[4], "waste.planner"] == "learned"
    assert by_id.loc[ID[4], "status"] == "ok"


def test_same_run_same_kpis_as_a_single_run(swept, sweep_file):
    """A sweep run equals the same scenario run on its own (no state leaks between runs)."""
    from twin.api import run_scenario

    _, table = swept
    spec, base = load_sweep(sweep_file)
    run = next(r for r in plan_runs(spec, base) if r.run_id == ID[1])
    alone = run_scenario(run.scenario).kpi_dict()
    row = table.set_index("run_id").loc[ID[1]]
    assert row["kpi.traffic.mean_travel_time_s"] == pytest.approx(
        alone["traffic"]["mean_travel_time_s"], rel=1e-12
    )
    assert row["kpi.waste.truck_km"] == pytest.approx(alone["waste"]["truck_km"], rel=1e-12)


def test_a_resumed_sweep_runs_only_what_is_missing(swept, sweep_file, tmp_path):
    # a copy of the module's finished sweep, as its start left it
    source, first = swept
    out = tmp_path / "resumable"
    shutil.copytree(source, out)
    stamps = {
        finished: (out / "runs" / finished / "run.json").stat().st_mtime_ns
        for finished in first.loc[first["status"] == "ok", "run_id"]
    }
    # lose one finished run, as an interrupted sweep would
    lost = ID[5]
    for path in sorted((out / "runs" / lost).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (out / "runs" / lost).rmdir()
    ran: list[int] = []
    again = run_sweep(sweep_file, out, workers=2, on_progress=lambda done, todo: ran.append(todo))
    # only the lost run and the failed one (retried) ran again
    assert set(ran) == {2}
    assert (out / "runs" / lost / "run.json").is_file()
    for finished, stamp in stamps.items():
        if finished != lost:
            assert (out / "runs" / finished / "run.json").stat().st_mtime_ns == stamp
    assert len(again) == len(RUNS)
    assert list(again["status"]).count("failed") == 1


def test_cli_sweep_json_summary(sweep_file, tmp_path):
    result = subprocess.run(
        [*twin_command(), "sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # one run failed: the summary says which, and the exit status says so to a script
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["runs"] == len(RUNS) and summary["ok"] == len(RUNS) - 1
    assert list(summary["failures"]) == [ID[3]]


def test_example_sweep_runs(tmp_path):
    """The example sweep under examples/ runs whole: 2 demand levels × 2 fleets × 2 seeds."""
    spec, base = load_sweep(REPO / "examples" / "sweep-demand-fleet.yaml")
    assert len(plan_runs(spec, base)) == 2 * 2 * 2
    assert load_scenario(REPO / "examples" / "sweep-base.yaml").name == "sweep-base"
    table = run_sweep(REPO / "examples" / "sweep-demand-fleet.yaml", tmp_path / "out", workers=2)
    assert len(table) == 8 and (table["status"] == "ok").all()
    # 30 % more demand: 30 % more trips, seed by seed
    for seed in (0, 1):
        mine = table[table["seed"] == seed]
        trips = mine.groupby("traffic.demand_scale")["kpi.traffic.trips"].first()
        assert trips[1.3] == round(1.3 * trips[1.0])


def test_a_value_added_to_a_grid_leaves_the_other_runs_finished(sweep_file):
    """A finished run counts where its id and its scenario's hash are those planned now: both
    stay when a value is added in the middle of a grid (the ids were places in the file once,
    and the runs after the new value ran again)."""
    base = {"name": "grid", "scenario": str(sweep_file.parent / "base.yaml"), "seeds": [0, 1]}
    before = SweepSpec.model_validate({**base, "grid": {"traffic.demand_scale": [1.0, 1.3]}})
    after = SweepSpec.model_validate({**base, "grid": {"traffic.demand_scale": [1.0, 1.15, 1.3]}})
    scenario = load_scenario(sweep_file.parent / "base.yaml").model_dump(mode="json")
    planned = {run.run_id: run.scenario_sha256() for run in plan_runs(before, scenario)}
    now = {run.run_id: run.scenario_sha256() for run in plan_runs(after, scenario)}
    assert len(planned) == 4 and len(now) == 6
    assert {run_id: now[run_id] for run_id in planned} == planned
    assert set(now) - set(planned) == {run_id({"traffic.demand_scale": 1.15}, s) for s in (0, 1)}


@pytest.mark.parametrize(
    ("listed", "said"),
    [
        ({"grid": {"waste.trucks": [2, 3, 2]}}, "grid field 'waste.trucks': 2 is listed twice"),
        ({"runs": [{"waste.trucks": 2}, {"waste.trucks": 2}]}, "runs: {'waste.trucks': 2} is"),
        ({"runs": [{"waste.trucks": 2}], "seeds": [0, 1, 0]}, "seeds: 0 is listed twice"),
    ],
)
def test_a_value_listed_twice_is_refused_before_anything_runs(sweep_file, tmp_path, listed, said):
    # the same run twice: twice its rows in the results table, or one run id run twice
    path = tmp_path / "twice.yaml"
    spec = {"name": "twice", "scenario": str(sweep_file.parent / "base.yaml"), **listed}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ScenarioError, match=re.escape(said)):
        load_sweep(path)


def test_a_sweep_and_a_scenario_file_mistaken_for_each_other_say_which_command_runs_them():
    sweep, scenario = (
        REPO / "examples" / "sweep-demand-fleet.yaml",
        REPO / "examples" / "baseline.yaml",
    )
    with pytest.raises(ScenarioError) as refused:
        load_scenario(sweep)
    assert str(refused.value) == (
        f"{sweep}: a sweep file (it has 'scenario' and 'grid'), not a scenario: run it with "
        f"`twin sweep {sweep} --out FOLDER`"
    )
    with pytest.raises(ScenarioError, match=re.escape(f"run it with `twin run {scenario}`")):
        load_sweep(scenario)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        # once a folder of sweep.json, results.parquet and runs/ left by the refusal
        ({"workers": 0}, "--workers 0: worker processes on this machine, 1 to "),
        # once a traceback from Dask's parse of the address
        ({"scheduler": "tcp://127.0.0.1"}, "--scheduler 'tcp://127.0.0.1': not a Dask scheduler"),
        ({"scheduler": "http://127.0.0.1:1"}, "not a Dask scheduler address (unknown address sch"),
        # a valid address where no scheduler listens (port 1: none does)
        ({"scheduler": "tcp://127.0.0.1:1"}, "cannot reach the Dask scheduler 'tcp://127.0.0.1:1'"),
    ],
)
def test_a_sweep_that_cannot_start_its_workers_leaves_no_folder(
    sweep_file, tmp_path, options, said
):
    from twin.errors import TwinError

    out = tmp_path / "never"
    with pytest.raises(TwinError, match=re.escape(said)):
        run_sweep(sweep_file, out, **options)
    assert not out.exists()


def test_a_folder_of_other_files_is_not_a_sweeps_folder(sweep_file, tmp_path):
    """Once accepted, its runs and table mixed in among the user's files."""
    from twin.errors import TwinError

    out = tmp_path / "notes"
    out.mkdir()
    (out / "minutes.txt").write_text("meeting notes")
    with pytest.raises(TwinError, match=re.escape(f"--out {out} holds what no sweep wrote (min")):
        run_sweep(sweep_file, out, workers=1)
    assert sorted(p.name for p in out.iterdir()) == ["minutes.txt"]


def test_a_city_no_run_could_load_is_refused_before_anything_runs(sweep_file, tmp_path):
    """Once the sweep started, and the run of the unknown city failed among the others."""
    path = tmp_path / "cities.yaml"
    spec = {"name": "c", "scenario": str(sweep_file.parent / "base.yaml"),
            "grid": {"city": ["helsinki", "atlantis"]}}  # fmt: skip
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ScenarioError, match=r"\(city='atlantis', seed=0\): city: Unknown city "
                       r"'atlantis'\. Registered cities: "):  # fmt: skip
        load_sweep(path)
