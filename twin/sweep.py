"""Sweeps: many runs of one scenario with fields overridden, on Dask (a laptop or a cluster).

A sweep file names a base scenario, the overrides (a ``grid`` whose every combination runs, or a
list of ``runs``) and the seeds::

    name: demand-and-fleet
    scenario: baseline.yaml          # relative to this file
    grid:
      traffic.demand_scale: [1.0, 1.1, 1.2, 1.3]
      waste.trucks: [3, 4, 5]
    seeds: [0, 1, 2, 3, 4]

The output folder ``OUT`` holds:

``runs/<run id>/``
    A finished run: the files of :meth:`twin.api.ScenarioRun.write` plus ``row.json``, the run's
    record (run id, seed, overrides, hash of the resolved scenario, status, wall time, KPIs). The
    folder is written under a hidden staging name and renamed into place whole, record included:
    a folder there *is* a finished run.
``failed/<run id>.json``
    The record of a failed run (``status`` ``failed`` and the error). A failed run does not stop
    the others, and does not count as finished: the next start runs it again.
``results.parquet``
    The results table, one row per planned run that has finished or failed, rebuilt from the
    records above when a sweep starts and after every run it finishes (written to a temporary
    file and renamed, so it is always whole). It is a product of the run folders: a sweep
    killed at any moment loses at most the runs in flight, and the next start into the same
    folder (the same sweep file) runs what is missing and ends with one row per planned run.

Columns of the table: ``run_id``, ``seed``, each override under its name in the sweep file
(``traffic.demand_scale``), ``status``, ``error``, ``wall_s``, ``worker_pid``, and every
numeric KPI (``gridlock`` as 1 or 0) as ``kpi.<section>.<kpi>`` (``kpi.traffic.trips``,
``kpi.waste.truck_km``). The ``kpi.`` prefix keeps a KPI from overwriting an override of the
same name: a sweep over ``traffic.trips`` has the trips asked for in ``traffic.trips`` and the
trips simulated (after ``demand_scale``) in ``kpi.traffic.trips``.

A run counts as finished only if its record's scenario hash is that of the run as planned now:
after an edit of the sweep or its base scenario, the runs it changed run again. A run's id is a
digest of its overrides and seed (:func:`run_id`), not its place in the file: a value added to
a grid, or runs listed in another order, leave the other runs finished.

Staging folders and temporary files are named after the process writing them
(``.<name>.staging-<pid>@<host>-…``); a start removes those whose process has ended (see
:func:`cities.cache.remove_stale`), never a live worker's.

Runs go to a Dask ``distributed`` cluster: a ``LocalCluster`` of worker processes by default, or
an existing scheduler (``scheduler="tcp://host:8786"``) — for Slurm, start one with dask-jobqueue
(see the README). Workers load cities from the shared cache folder (``$TWIN_CACHE_DIR``), and
write into ``OUT``, which must be on a file system they share.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cities.cache import owner_tag, remove_stale
from twin.errors import TwinError
from twin.results_io import replace_dir, write_file_atomic
from twin.scenario import load_scenario, merge
from twin.specs import Scenario, ScenarioError, error_lines, short_repr
from twin.yamlsafe import read_yaml

__all__ = [
    "FAILED_DIR",
    "KPI_PREFIX",
    "RESULTS_FILE",
    "ROW_FILE",
    "RUNS_DIR",
    "RunSpec",
    "SweepSpec",
    "load_sweep",
    "plan_runs",
    "run_id",
    "run_one",
    "run_sweep",
]

RUNS_DIR = "runs"
"""Folder (in the output folder) of the finished runs, one folder each."""

FAILED_DIR = "failed"
"""Folder (in the output folder) of the failed runs' records, one JSON file each."""

ROW_FILE = "row.json"
"""A finished run's record, inside its folder."""

RESULTS_FILE = "results.parquet"
"""The results table, in the output folder."""

KPI_PREFIX = "kpi."
"""Prefix of the KPI columns of the results table (``kpi.traffic.trips``)."""

_RECORD_KEYS = {
    "run_id",
    "seed",
    "overrides",
    "scenario_sha256",
    "status",
    "error",
    "wall_s",
    "worker_pid",
    "kpis",
}

# fields plan_runs sets itself, per run: an override of them would be silently replaced
_PLANNED_FIELDS = {
    "seed": "list the seeds under 'seeds:' instead",
    "name": "each run is named after the sweep and its run id; remove it from the overrides",
}

CONNECT_TIMEOUT_S = 10.0
"""How long a sweep waits for a given scheduler to answer before it says it cannot reach it."""
TABLE_EVERY_S = 2.0
"""How often, at most, the results table is rewritten as runs finish (and once at the end)."""


class SweepSpec(BaseModel):
    """A validated sweep file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    scenario: str = Field(description="base scenario file, relative to the sweep file")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted field → values; every combination runs"
    )
    runs: list[dict[str, Any]] = Field(
        default_factory=list, description="explicit override sets (dotted field → value)"
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> SweepSpec:
        if self.grid and self.runs:
            raise ValueError("give either 'grid' or 'runs', not both")
        for field, values in self.grid.items():
            if not values:
                raise ValueError(f"grid field {short_repr(field)} needs at least one value")
            _refuse_twice(values, f"grid field {short_repr(field)}")
        _refuse_twice(self.runs, "runs")
        _refuse_twice(self.seeds, "seeds")
        for field in [*self.grid, *(f for run in self.runs for f in run)]:
            if field in _PLANNED_FIELDS:
                raise ValueError(
                    f"{short_repr(field)} cannot be overridden: {_PLANNED_FIELDS[field]}"
                )
        return self


def _refuse_twice(values: list[Any], where: str) -> None:
    """A value listed twice would run the same scenario twice under two ids, or (a seed) under
    one id twice, its results counted twice in the table."""
    seen: set[str] = set()
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key in seen:
            raise ValueError(f"{where}: {short_repr(value)} is listed twice; list each once")
        seen.add(key)


class RunSpec(BaseModel):
    """One run of a sweep: the resolved scenario as a mapping, its overrides and seed."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    seed: int
    overrides: dict[str, Any]
    scenario: dict[str, Any]

    def scenario_sha256(self) -> str:
        """Hash of the resolved scenario: a run's record counts for this run only if its hash
        is this one."""
        return _sha256(self.scenario)


def _nested(dotted: dict[str, Any]) -> dict[str, Any]:
    """``{"traffic.trips": 5}`` → ``{"traffic": {"trips": 5}}``."""
    out: dict[str, Any] = {}
    for path, value in dotted.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def load_sweep(path: str | Path) -> tuple[SweepSpec, dict[str, Any]]:
    """Read a sweep file and its base scenario (validated; returned as a plain mapping)."""
    path = Path(path)
    data = read_yaml(path, error=ScenarioError, what="sweep file").data
    if (
        isinstance(data, dict)
        and "scenario" not in data
        and {"city", "traffic", "waste"} & set(data)
    ):
        raise ScenarioError(
            f"{path}: a scenario file, not a sweep: run it with `twin run {path}`, or name it "
            "under 'scenario:' in a sweep file with the 'grid' or 'runs' to vary"
        )
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(line for _, line in error_lines(err))
        raise ScenarioError(f"{path}: {problems}") from None
    base = load_scenario(path.parent / spec.scenario).model_dump(mode="json")
    _check_runs(path, plan_runs(spec, base))
    return spec, base


def _check_runs(path: Path, runs: list[RunSpec]) -> None:
    """Refuse a sweep any of whose runs has a bad value, before anything runs or is written,
    with the message the same value gets in a scenario file (``field: problem (got value)``);
    a city no run could load (an unknown name, a missing file) too."""
    from cities.registry import resolve

    cities_found: set[str] = set()
    for run in runs:
        settings = [f"{key}={short_repr(value)}" for key, value in run.overrides.items()]
        named = f"{path}: run {run.run_id} ({', '.join([*settings, f'seed={run.seed}'])})"
        try:
            Scenario.model_validate(run.scenario)
        except ValidationError as err:
            _, line = error_lines(err)[0]
            raise ScenarioError(f"{named}: {line}") from None
        city = run.scenario.get("city")
        if city is not None and str(city) not in cities_found:
            try:
                resolve(city)
            except TwinError as err:
                raise ScenarioError(f"{named}: city: {err}") from None
            cities_found.add(str(city))


def run_id(overrides: dict[str, Any], seed: int) -> str:
    """The id of the run with these overrides and seed (``r5f3a09c2d41e-s1``): a digest of the
    overrides, not their place in the sweep file, so a value added to a grid, or runs
    reordered, leave every other run its id and its finished folder."""
    return f"r{_sha256(overrides)[:12]}-s{seed}"


def _sha256(value: Any) -> str:
    """Digest of a mapping's canonical JSON (keys sorted): the same content, the same digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_runs(spec: SweepSpec, base: dict[str, Any]) -> list[RunSpec]:
    """Every run of the sweep, in the sweep file's order, with ids of their own
    (:func:`run_id`)."""
    if spec.grid:
        fields = list(spec.grid)
        combos = [
            dict(zip(fields, values, strict=True))
            for values in itertools.product(*spec.grid.values())
        ]
    else:
        combos = [dict(run) for run in spec.runs] or [{}]
    runs = []
    for overrides in combos:
        for seed in spec.seeds:
            identity = run_id(overrides, seed)
            scenario = merge(base, _nested(overrides))
            scenario["seed"] = seed
            scenario["name"] = f"{spec.name}-{identity}"
            runs.append(RunSpec(run_id=identity, seed=seed, overrides=overrides, scenario=scenario))
    seen: dict[str, RunSpec] = {}
    for run in runs:  # two override sets of one 48-bit digest: never seen, not ruled out
        if (other := seen.setdefault(run.run_id, run)) is not run:
            raise ScenarioError(
                f"sweep {spec.name!r}: the runs {short_repr(other.overrides)} and "
                f"{short_repr(run.overrides)} share the id {run.run_id}: write one of their "
                "values another way (1.0 for 1) to tell them apart"
            )
    return runs


def run_one(run: RunSpec, out_dir: str) -> dict[str, Any]:
    """Run one sweep run and write it into ``out_dir/runs/<run id>``; never raises.

    Returns the run's record (what :data:`ROW_FILE` holds): ``run_id``, ``seed``,
    ``overrides``, ``scenario_sha256``, ``status`` (``ok``/``failed``), ``error``, ``wall_s``,
    ``worker_pid`` and ``kpis`` (``{"traffic.trips": 150.0, ...}``). A finished run's folder,
    record included, appears in one rename; a failed run's record goes to
    ``out_dir/failed/<run id>.json`` instead, and its folder is not written.
    """
    from twin.api import run_scenario

    out = Path(out_dir)
    record: dict[str, Any] = {
        "run_id": run.run_id,
        "seed": run.seed,
        "overrides": run.overrides,
        "scenario_sha256": run.scenario_sha256(),
        "worker_pid": os.getpid(),
        "kpis": {},
    }
    started = time.perf_counter()
    try:
        result = run_scenario(run.scenario)
        # the run's KPI table: every numeric KPI, a yes/no one (gridlock) as 1 or 0
        for row in result.kpis.itertuples(index=False):
            record["kpis"][f"{row.section}.{row.kpi}"] = float(row.value)
        record.update(status="ok", error="", wall_s=time.perf_counter() - started)
        _publish_run(out, run.run_id, result.write, record)
        # finished now: a failure recorded by an earlier start no longer applies
        (out / FAILED_DIR / f"{run.run_id}.json").unlink(missing_ok=True)
    except Exception as err:
        if isinstance(err, TwinError | ScenarioError | ValueError):
            error = f"{type(err).__name__}: {err}"
        else:
            error = f"{type(err).__name__}: {traceback.format_exception(err)[-1].strip()}"
        record.update(status="failed", error=error, wall_s=time.perf_counter() - started)
        record["kpis"] = {}
        _record_failure(out, record)
    # what a later start reads back from the file: the same types, whichever way it comes
    return json.loads(json.dumps(record))


def _publish_run(
    out: Path, run_id: str, write: Callable[[Path], Any], record: dict[str, Any]
) -> None:
    """Write a run's files and its record into a staging folder, then rename it into place:
    ``runs/<run id>/`` exists only whole, record included."""
    staging = out / RUNS_DIR / f".{run_id}.staging-{owner_tag()}-{uuid.uuid4().hex}"
    try:
        write(staging)
        (staging / ROW_FILE).write_text(json.dumps(record, indent=1))
        replace_dir(staging, out / RUNS_DIR / run_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _record_failure(out: Path, record: dict[str, Any]) -> None:
    try:
        (out / FAILED_DIR).mkdir(parents=True, exist_ok=True)
        write_file_atomic(
            out / FAILED_DIR / f"{record['run_id']}.json",
            lambda path: path.write_text(json.dumps(record, indent=1)),
        )
    except OSError:  # the row still reaches this start's table; a later start retries the run
        pass


def _read_record(path: Path, run: RunSpec, status: str) -> dict[str, Any] | None:
    """The record at ``path`` if it is one of ``run`` as planned now, with this status."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not record.keys() >= _RECORD_KEYS:
        return None  # not a record this version wrote: the run runs again
    if record.get("status") != status:
        return None
    # a record of an edited sweep or base scenario describes another run: it runs again
    if record.get("scenario_sha256") != run.scenario_sha256():
        return None
    return record


def _records(out: Path, runs: list[RunSpec]) -> dict[str, dict[str, Any]]:
    """Run id → record of every planned run that has finished (its folder) or failed."""
    found = {}
    for run in runs:
        record = _read_record(out / RUNS_DIR / run.run_id / ROW_FILE, run, "ok")
        if record is None:
            record = _read_record(out / FAILED_DIR / f"{run.run_id}.json", run, "failed")
        if record is not None:
            found[run.run_id] = record
    return found


def _table(runs: list[RunSpec], records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The results table: one row per planned run with a record, in the plan's order."""
    rows = []
    for run in runs:
        record = records.get(run.run_id)
        if record is None:
            continue
        rows.append(
            {
                "run_id": record["run_id"],
                "seed": record["seed"],
                **record["overrides"],
                "status": record["status"],
                "error": record["error"],
                "wall_s": record["wall_s"],
                "worker_pid": record["worker_pid"],
                **{KPI_PREFIX + name: value for name, value in record["kpis"].items()},
            }
        )
    if not rows:
        return pd.DataFrame(columns=["run_id", "seed", "status", "error", "wall_s", "worker_pid"])
    return pd.DataFrame(rows)


def _storable(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every column Parquet cannot type (an override given as ``40min`` in one
    run and ``2400`` in another) written as JSON text, value by value."""
    import pyarrow as pa

    mixed = []
    for column in table.columns:
        if table[column].dtype == object:
            try:
                pa.array(table[column], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                mixed.append(column)
    if not mixed:
        return table
    table = table.copy()
    for column in mixed:
        table[column] = [None if _missing(v) else json.dumps(v, default=str) for v in table[column]]
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _write_table(out: Path, table: pd.DataFrame) -> None:
    # replaced in one rename, so a reader (or a kill) never leaves a half-written table
    table = _storable(table)
    write_file_atomic(out / RESULTS_FILE, lambda path: table.to_parquet(path, index=False))


def run_sweep(
    path: str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run a sweep file on Dask; returns (and writes) the results table.

    Parameters
    ----------
    path
        The sweep file.
    out
        Output folder; runs already finished there are skipped, failed ones run again.
    scheduler
        Address of a running Dask scheduler; default: a ``LocalCluster`` of ``workers``
        single-threaded worker processes.
    on_progress
        Called with (runs done, runs to do) as runs finish.

    Returns
    -------
    pandas.DataFrame
        One row per planned run (finished before or now, or failed now), in the plan's order;
        columns as in the module docstring.
    """
    from dask.distributed import Client, as_completed

    from twin._local_dask import local_cluster, quiet_teardown

    spec, base = load_sweep(path)
    out = Path(out)
    runs = plan_runs(spec, base)
    if scheduler is None:
        _check_workers(workers)
    _check_sweep_folder(out)
    # a first start that cannot reach its workers leaves no folder behind
    first_start = not out.exists()
    (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    # what killed runs of an earlier start left half-written; live writers' folders stay
    for folder in (out, out / RUNS_DIR, out / FAILED_DIR):
        remove_stale(folder)
    sweep_info = json.dumps({"sweep": spec.model_dump(mode="json"), "runs": len(runs)}, indent=2)
    write_file_atomic(out / "sweep.json", lambda file: file.write_text(sweep_info))
    records = _records(out, runs)
    _write_table(out, _table(runs, records))  # the folders are the truth; the table follows
    todo = [run for run in runs if records.get(run.run_id, {}).get("status") != "ok"]
    if todo:
        cluster, stopped = None, False
        if scheduler is None:
            cluster = local_cluster(workers)
        try:
            try:
                client = Client(scheduler or cluster, timeout=CONNECT_TIMEOUT_S)
            except OSError as err:
                if first_start:
                    shutil.rmtree(out, ignore_errors=True)
                raise TwinError(
                    f"cannot reach the Dask scheduler {short_repr(scheduler)} ({err}): check the "
                    "address, or leave --scheduler out to run on this machine."
                ) from None
            except (ValueError, TypeError) as err:  # Dask's parse of the address
                if first_start:
                    shutil.rmtree(out, ignore_errors=True)
                raise TwinError(
                    f"--scheduler {short_repr(scheduler)}: not a Dask scheduler address "
                    f"({err}): write it as tcp://HOST:PORT, or leave --scheduler out to run on "
                    "this machine."
                ) from None
            with client:
                if cluster is not None:
                    quiet_teardown(client)
                futures = {client.submit(run_one, run, str(out), pure=False): run for run in todo}
                written = time.monotonic()
                try:
                    for done, future in enumerate(as_completed(futures), start=1):
                        records[futures[future].run_id] = _outcome(future, futures[future], out)
                        # at most every few seconds: rewriting the whole table after each of
                        # thousands of runs would cost time quadratic in the runs, and the run
                        # folders, not the table, are what survive a kill
                        if time.monotonic() - written >= TABLE_EVERY_S:
                            _write_table(out, _table(runs, records))
                            written = time.monotonic()
                        if on_progress:
                            on_progress(done, len(todo))
                except BaseException:
                    stopped = True
                    raise
        finally:
            if cluster is not None:
                cluster.close()
            if stopped:
                # stopped (Ctrl-C, a terminate): the table as the folders have it once the
                # local workers are gone, runs finished since its last writing included
                _write_table(out, _table(runs, _records(out, runs)))
    table = _table(runs, records)
    _write_table(out, table)
    return table


SWEEP_WRITES = frozenset({RUNS_DIR, FAILED_DIR, "sweep.json", RESULTS_FILE})
"""What a sweep's folder holds (with the staging files of killed writes, hidden)."""


def _check_sweep_folder(out: Path) -> None:
    """Refuse an output folder that holds what no sweep wrote: a sweep goes on in its own
    folder, and its runs are not to be mixed into a folder of other results."""
    if out.exists() and not out.is_dir():
        raise TwinError(f"--out {out} is a file: name a folder for the sweep.")
    if not out.is_dir():
        return
    foreign = sorted(
        entry.name
        for entry in out.iterdir()
        if entry.name not in SWEEP_WRITES and not entry.name.startswith(".")
    )
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" * (len(foreign) > 5))
        raise TwinError(
            f"--out {out} holds what no sweep wrote ({shown}): a sweep continues only in its "
            "own folder; choose a new one."
        )


def _check_workers(workers: int) -> None:
    """Refuse a local cluster this machine cannot start: its processes each load a city and
    run a model (a hundred thousand of them once hung the sweep, and its stop, for minutes)."""
    most = 4 * (os.cpu_count() or 1)
    if not (isinstance(workers, int) and 1 <= workers <= most):
        raise TwinError(
            f"--workers {workers}: worker processes on this machine, 1 to {most} (4 per core "
            f"of its {most // 4}); for more, start a Dask cluster and pass --scheduler."
        )


def _outcome(future: Any, run: RunSpec, out: Path) -> dict[str, Any]:
    """The record a finished future returned; a future that failed itself (its worker died,
    the scheduler went away) is recorded as a failed run, to be retried by the next start."""
    try:
        return future.result()
    except Exception as err:
        record = {
            "run_id": run.run_id,
            "seed": run.seed,
            "overrides": run.overrides,
            "scenario_sha256": run.scenario_sha256(),
            "status": "failed",
            "error": f"{type(err).__name__}: {err}",
            "wall_s": None,
            "worker_pid": None,
            "kpis": {},
        }
        _record_failure(out, record)
        return json.loads(json.dumps(record))
