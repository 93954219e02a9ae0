"""A sweep survives ``kill -9``: killed at random moments and started again, it ends with one row
per planned run, every finished run whole and nothing half-written left; KPI columns never
overwrite override columns; a start removes the staging folders of dead processes only."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from cities import resolve
from cities.cache import owner_tag
from tests.conftest import twin_command
from twin.errors import TwinError
from twin.sweep import load_sweep, plan_runs, run_id, run_sweep

# the smallest useful runs: tens of trips for two simulated minutes, no waste, no map files
TINY = {
    "name": "tiny",
    "city": "helsinki",
    "seed": 0,
    "traffic": {"trips": 20, "duration": "2min", "window": "1min", "dt_s": 10},
    "outputs": {"formats": []},
}
GRID = {"traffic.trips": [20, 30, 40, 50], "traffic.demand_scale": [1.0, 1.1, 1.2, 1.3, 1.4]}
SEEDS = [0, 1]
N_RUNS = 4 * 5 * 2
KILLS = 6
TEMPORARY = (".partial-", ".staging-", ".old-")


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory, helsinki) -> Path:
    """A 40-run sweep of tiny traffic runs (the ``helsinki`` fixture fills the city cache the
    subprocesses read)."""
    folder = tmp_path_factory.mktemp("tiny-sweep")
    (folder / "base.yaml").write_text(yaml.safe_dump(TINY))
    spec = {"name": "tiny-sweep", "scenario": "base.yaml", "grid": GRID, "seeds": SEEDS}
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    return folder / "sweep.yaml"


@pytest.fixture(scope="module")
def finished(sweep_file, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("tiny-out") / "out"
    return out, run_sweep(sweep_file, out, workers=1)


def _planned_ids(sweep_file: Path) -> list[str]:
    return [run.run_id for run in plan_runs(*load_sweep(sweep_file))]


def _temporary(out: Path) -> list[Path]:
    found = []
    for folder in (out, out / "runs", out / "failed"):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if any(t in p.name for t in TEMPORARY)]
    return found


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the sweep and every process it started (the Dask scheduler, nanny, worker)."""
    try:
        members = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        members = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    psutil.wait_procs(members, timeout=10)


def _check_after_kill(out: Path, context: str) -> None:
    """What a kill at any moment must leave: whole run folders only, and a readable table that
    claims no run without its folder."""
    runs = out / "runs"
    if runs.is_dir():
        for folder in runs.iterdir():
            if folder.name.startswith("."):
                continue  # a staging folder: the next start removes it
            assert (folder / "row.json").is_file(), f"{context}: {folder.name} lacks row.json"
            assert (folder / "run.json").is_file(), f"{context}: {folder.name} lacks run.json"
            assert json.loads((folder / "row.json").read_text())["status"] == "ok", context
    if (out / "results.parquet").exists():
        table = pd.read_parquet(out / "results.parquet")
        assert table["run_id"].is_unique, context
        for run_id in table.loc[table["status"] == "ok", "run_id"]:
            assert (runs / run_id / "row.json").is_file(), f"{context}: row {run_id}, no folder"


def _finished_runs(out: Path) -> int:
    try:
        return sum(1 for p in (out / "runs").iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return 0


def _wait(until, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not until() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_sweep_killed_at_random_moments_loses_nothing_finished(sweep_file, tmp_path):
    out = tmp_path / "killed"
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    command = [*twin_command(), "sweep", str(sweep_file), "--out", str(out), "--workers", "1"]
    moments: list[str] = []
    start_up = None
    for attempt in range(KILLS):
        before = _finished_runs(out)
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the Dask processes die with it
        )
        started = time.monotonic()
        if start_up is not None and attempt % 4 == 3:
            # in start-up: the table being rebuilt, stale folders removed, the cluster starting
            moment = rng.uniform(0.1, 1.0) * start_up
            _wait(lambda: False, process, moment)
            moments.append(f"{moment:.2f} s")
        else:
            # among the runs, wherever the clock falls: a run computing, its folder being
            # written or renamed, the table being rewritten
            target = before + rng.randint(1, 4)
            _wait(lambda target=target: _finished_runs(out) >= target, process, 120)
            if start_up is None:
                start_up = time.monotonic() - started
            pause = rng.uniform(0.0, 0.15)
            time.sleep(pause)
            moments.append(f"run {target} + {pause:.3f} s")
        _kill_group(process)
        _check_after_kill(out, f"kill {attempt} at {moments[-1]} (seed {seed}: {moments})")
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    context = f"seed {seed}, kills at {moments}"
    assert done.returncode == 0, f"{context}: {done.stderr[-2000:]}"
    summary = json.loads(done.stdout)
    assert (summary["runs"], summary["ok"], summary["failed"]) == (N_RUNS, N_RUNS, 0), context
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["run_id"]) == _planned_ids(sweep_file), context
    assert (table["status"] == "ok").all(), context
    for finished in table["run_id"]:
        assert (out / "runs" / finished / "row.json").is_file(), f"{context}: {finished}"
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(table["run_id"]), context
    assert _temporary(out) == [], context


def test_a_rerun_rebuilds_the_table_from_the_run_folders(finished, sweep_file, tmp_path):
    """The table a kill left behind (here: lost outright) is rebuilt from the run folders, and
    the runs are not run again."""
    source, table = finished
    out = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(source), str(out)], check=True)
    (out / "results.parquet").unlink()
    ran: list[int] = []
    again = run_sweep(sweep_file, out, workers=1, on_progress=lambda done, todo: ran.append(todo))
    assert ran == []
    pd.testing.assert_frame_equal(again, table)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)


def test_kpi_columns_never_overwrite_override_columns(finished):
    """``traffic.trips`` is overridden and also a KPI: the override keeps its column, the KPI
    (the trips simulated, after ``demand_scale``) has ``kpi.traffic.trips``."""
    out, table = finished
    assert len(table) == N_RUNS and (table["status"] == "ok").all()
    for _, row in table.iterrows():
        kpis = json.loads((out / "runs" / row["run_id"] / "kpis.json").read_text())
        assert row["kpi.traffic.trips"] == kpis["traffic"]["trips"]
        assert row["kpi.traffic.trips"] == round(row["traffic.trips"] * row["traffic.demand_scale"])
    scaled = table[table["traffic.demand_scale"] > 1]
    assert (scaled["traffic.trips"] != scaled["kpi.traffic.trips"]).all()
    assert sorted(table["traffic.trips"].unique()) == GRID["traffic.trips"]
    assert table["traffic.trips"].dtype.kind == "i"  # the values of the sweep file, as given


def test_seed_and_name_cannot_be_overridden(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    for field in ("seed", "name"):
        spec = {"name": "s", "scenario": "base.yaml", "grid": {field: [1, 2]}}
        (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
        with pytest.raises(TwinError, match=f"'{field}' cannot be overridden"):
            load_sweep(tmp_path / "sweep.yaml")


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plant(folder: Path, name: str, age_s: float = 0.0) -> Path:
    path = folder / name
    path.mkdir()
    (path / "half-written.parquet").write_bytes(b"PAR1")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_a_start_removes_stale_staging_folders_and_keeps_live_ones(finished, sweep_file, tmp_path):
    source, table = finished
    out = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(source), str(out)], check=True)
    runs = out / "runs"
    host = owner_tag().split("@", 1)[1]
    live = subprocess.Popen(["sleep", "120"])
    try:
        dead = _dead_pid()
        stale = [
            _plant(runs, f".r0000-s0.staging-{dead}@{host}-{uuid.uuid4().hex}"),
            _plant(runs, f"..r0001-s0.staging-{dead}@{host}-ab.partial-{dead}@{host}-cd"),
            _plant(runs, f".r0002-s0.old-{dead}@{host}-{uuid.uuid4().hex}"),
            # an older version's name, a day and more old
            _plant(runs, f".r0003-s0.partial-{uuid.uuid4().hex}", age_s=2 * 86400),
            # another machine's worker, silent for two days
            _plant(runs, f".r0004-s0.staging-{dead}@elsewhere-{uuid.uuid4().hex}", 2 * 86400),
        ]
        (out / f".results.parquet.partial-{dead}@{host}-{uuid.uuid4().hex}").write_bytes(b"x")
        kept = [
            _plant(runs, f".r0005-s0.staging-{live.pid}@{host}-{uuid.uuid4().hex}"),
            # another machine's worker may still be writing: its pid means nothing here
            _plant(runs, f".r0006-s0.staging-{dead}@elsewhere-{uuid.uuid4().hex}"),
            _plant(runs, f".r0007-s0.partial-{uuid.uuid4().hex}"),  # recent: maybe live
        ]
        again = run_sweep(sweep_file, out, workers=1)
        assert [p for p in stale if p.exists()] == []
        assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
        assert all(p.exists() for p in kept)
        pd.testing.assert_frame_equal(again, table)
    finally:
        live.kill()
        live.wait()


def test_a_failed_run_is_a_row_and_is_retried(tmp_path):
    """A failed run is recorded (a row, and ``failed/<run id>.json``) but not finished: the next
    start runs it again, and once it succeeds its folder replaces the failure."""
    city = tmp_path / "flaky.osm.pbf"
    city.write_bytes(b"\x00" * 100)  # a damaged download: only reading it finds out
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**TINY, "city": str(city)}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "f", "scenario": "base.yaml"}))
    out = tmp_path / "out"
    only = run_id({}, 0)  # the one run: no overrides, seed 0
    ran: list[int] = []
    for start in (1, 2):
        table = run_sweep(sweep, out, workers=1, on_progress=lambda d, todo: ran.append(todo))
        assert ran == [1] * start  # the second start retries it
        assert list(table["status"]) == ["failed"] and "corrupt" in table["error"].iloc[0]
        assert list(pd.read_parquet(out / "results.parquet")["status"]) == ["failed"]
        assert (out / "failed" / f"{only}.json").is_file()
        assert not (out / "runs" / only).exists()
    city.write_bytes(resolve("helsinki").path.read_bytes())  # the same scenario, now readable
    table = run_sweep(sweep, out, workers=1)
    assert list(table["status"]) == ["ok"] and table["kpi.traffic.trips"].iloc[0] == 20
    assert not (out / "failed" / f"{only}.json").exists()
    assert (out / "runs" / only / "row.json").is_file()


def test_a_terminated_sweep_leaves_a_table_of_every_finished_run(sweep_file, tmp_path):
    """A terminate to the sweep's own process (a scheduler's, `kill PID`): the table lists the
    runs finished by then, not those of its last writing a few seconds before, and the sweep
    says how to go on."""
    out = tmp_path / "terminated"
    process = subprocess.Popen(
        [*twin_command(), "sweep", str(sweep_file), "--out", str(out), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(lambda: _finished_runs(out) >= 3, process, timeout=120)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        _kill_group(process)
    assert process.returncode == 143 and "run the same command again" in " ".join(stderr.split())
    finished = sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith("."))
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table.loc[table["status"] == "ok", "run_id"]) == finished
    assert len(finished) >= 3
