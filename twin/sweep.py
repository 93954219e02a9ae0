"""Sweeps: many runs of one scenario with fields overridden, on Dask (a laptop or a cluster).

A sweep file names a base scenario, the overrides (a ``grid`` whose every combination runs, or a
list of ``runs``) and the seeds::

    name: demand-and-fleet
    scenario: baseline.yaml          # relative to this file
    grid:
      traffic.demand_scale: [1.0, 1.1, 1.2, 1.3]
      waste.trucks: [3, 4, 5]
    seeds: [0, 1, 2, 3, 4]

Every run is written by :meth:`twin.api.ScenarioRun.write` into ``OUT/runs/<run id>/``
(atomically: a folder there is a finished run), and one row per run goes into
``OUT/results.parquet``: the run id, seed, overrides, status (``ok`` or ``failed`` with the
error), wall time and every KPI as ``traffic.<kpi>`` / ``waste.<kpi>`` columns. A failed run is
recorded and does not stop the others; running the same sweep again into the same folder skips
the runs already finished (and retries failed ones).

Runs go to a Dask ``distributed`` cluster: a ``LocalCluster`` of worker processes by default, or
an existing scheduler (``scheduler="tcp://host:8786"``) — for Slurm, start one with dask-jobqueue
(see the README). Workers load cities from the shared cache folder (``$TWIN_CACHE_DIR``).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.errors import TwinError
from twin.scenario import ScenarioError, load_scenario, merge

__all__ = ["RunSpec", "SweepSpec", "load_sweep", "plan_runs", "run_one", "run_sweep"]


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
                raise ValueError(f"grid field {field!r} needs at least one value")
        return self


class RunSpec(BaseModel):
    """One run of a sweep: the resolved scenario as a mapping, its overrides and seed."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    seed: int
    overrides: dict[str, Any]
    scenario: dict[str, Any]


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TwinError(f"{path}: no such sweep file.") from None
    except yaml.YAMLError as err:
        raise TwinError(f"{path}: not valid YAML: {err}") from None
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in err.errors()
        )
        raise TwinError(f"{path}: {problems}") from None
    base = load_scenario(path.parent / spec.scenario)
    return spec, base.model_dump(mode="json")


def plan_runs(spec: SweepSpec, base: dict[str, Any]) -> list[RunSpec]:
    """Every run of the sweep, in a stable order with stable ids (``r0003-s1``)."""
    if spec.grid:
        fields = list(spec.grid)
        combos = [
            dict(zip(fields, values, strict=True))
            for values in itertools.product(*spec.grid.values())
        ]
    else:
        combos = [dict(run) for run in spec.runs] or [{}]
    runs = []
    for i, overrides in enumerate(combos):
        for seed in spec.seeds:
            scenario = merge(base, _nested(overrides))
            scenario["seed"] = seed
            scenario["name"] = f"{spec.name}-r{i:04d}-s{seed}"
            runs.append(
                RunSpec(
                    run_id=f"r{i:04d}-s{seed}", seed=seed, overrides=overrides, scenario=scenario
                )
            )
    return runs


def run_one(run: RunSpec, out_dir: str) -> dict[str, Any]:
    """Run one sweep run and write it into ``out_dir/runs/<run id>``; never raises: a failure
    comes back as a row with ``status == "failed"`` and the error."""
    from twin.api import run_scenario

    row: dict[str, Any] = {"run_id": run.run_id, "seed": run.seed, **run.overrides}
    started = time.perf_counter()
    try:
        result = run_scenario(run.scenario)
        result.write(Path(out_dir) / "runs" / run.run_id, overwrite=True)
        for section, kpis in result.kpi_dict().items():
            for key, value in kpis.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    row[f"{section}.{key}"] = float(value)
        row["status"], row["error"] = "ok", ""
    except (TwinError, ScenarioError, ValueError) as err:
        row["status"], row["error"] = "failed", f"{type(err).__name__}: {err}"
    except Exception as err:
        last = traceback.format_exception(err)[-1].strip()
        row["status"], row["error"] = "failed", f"{type(err).__name__}: {last}"
    row["wall_s"] = time.perf_counter() - started
    row["worker_pid"] = os.getpid()
    return row


def _finished(out: Path, run: RunSpec) -> bool:
    return (out / "runs" / run.run_id / "run.json").is_file()


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
        Output folder; runs already finished there are skipped.
    scheduler
        Address of a running Dask scheduler; default: a ``LocalCluster`` of ``workers``
        single-threaded worker processes.
    on_progress
        Called with (runs done, runs to do) as runs finish.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    spec, base = load_sweep(path)
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    runs = plan_runs(spec, base)
    (out / "sweep.json").write_text(
        json.dumps({"sweep": spec.model_dump(mode="json"), "runs": len(runs)}, indent=2)
    )
    previous = _previous_rows(out)
    todo = [run for run in runs if not _finished(out, run)]
    rows = [previous[run.run_id] for run in runs if _finished(out, run) and run.run_id in previous]
    if todo:
        cluster = None
        if scheduler is None:
            if workers < 1:
                raise TwinError(f"workers must be at least 1, got {workers}.")
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        try:
            with Client(scheduler or cluster) as client:
                futures = [client.submit(run_one, run, str(out), pure=False) for run in todo]
                for done, future in enumerate(as_completed(futures), start=1):
                    rows.append(future.result())
                    _write_results(out, rows)
                    if on_progress:
                        on_progress(done, len(todo))
        except OSError as err:
            raise TwinError(
                f"cannot reach the Dask scheduler {scheduler!r} ({err}): check the address, or "
                "leave --scheduler out to run on this machine."
            ) from None
        finally:
            if cluster is not None:
                cluster.close()
    order = {run.run_id: i for i, run in enumerate(runs)}
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)
    _write_results(out, table.to_dict("records"))
    return table


def _previous_rows(out: Path) -> dict[str, dict[str, Any]]:
    path = out / "results.parquet"
    if not path.is_file():
        return {}
    table = pd.read_parquet(path)
    return {row["run_id"]: row for row in table.to_dict("records")}


def _write_results(out: Path, rows: list[dict[str, Any]]) -> None:
    # replaced in one rename, so a reader never sees a half-written table
    staging = out / ".results.parquet.partial"
    pd.DataFrame(rows).to_parquet(staging)
    os.replace(staging, out / "results.parquet")
