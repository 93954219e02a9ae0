"""Signal plans as files: a CSV a planner can edit and read back, and SUMO ``tlLogic`` XML.

The CSV has one row per phase of every junction::

    junction,phase,green_s,cycle_s,offset_s,intergreen_s,approaches
    25291565,1,31.5,75.0,12.0,4.0,25291550-25291565 1371750097-25291565
    25291565,2,35.5,75.0,12.0,4.0,25290968-25291565

``junction`` is the OSM node id of a signalized node, ``phase`` counts from 1 in the order the
junction's plan runs its phases (the default plans' order: ``twin propose-signals --out``
writes it), ``approaches`` the links (``u-v`` OSM node ids) that phase gives green. Read back,
``green_s`` and ``offset_s`` are the timing; ``intergreen_s`` defaults to the limit's;
``cycle_s`` and ``approaches`` may be left out, and where given must agree with the rest.
Junctions the file does not name keep their current plans.

SUMO programs of the same plans: :mod:`twin.sumo`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.traffic.signals import Phase, SignalPlan
from agents.traffic.timing import DEFAULT_LIMITS, SignalPlanError, TimingLimits, check_plans
from cities.errors import file_problem
from cities.network import RoadNetwork
from twin.provenance import write_csv_with_provenance
from twin.specs import SIGNAL_PLAN_NAMES, short_repr

__all__ = [
    "PLAN_COLUMNS",
    "PLAN_DECIMALS",
    "as_written",
    "plan_table",
    "read_plan_file",
    "write_plan_csv",
]

PLAN_COLUMNS = ("junction", "phase", "green_s", "cycle_s", "offset_s", "intergreen_s", "approaches")
MAX_PLAN_FILE_BYTES = 20 * 1024 * 1024


def _edge_name(network: RoadNetwork, edge: int) -> str:
    ids = network.node_osmid
    return f"{int(ids[network.edge_u[edge]])}-{int(ids[network.edge_v[edge]])}"


PLAN_DECIMALS = 2
"""Decimals of a second a plan file keeps (what a controller is set to, and more)."""


def as_written(plans: Mapping[int, SignalPlan]) -> dict[int, SignalPlan]:
    """The plans as a plan file holds them, greens and offsets to :data:`PLAN_DECIMALS`: what
    a proposal checks, so that the file it writes is the plan it checked (the traffic feels
    milliseconds: a plan rounded after its checks drove 5 % more delay than it was checked at)."""
    return {
        node: replace(
            plan,
            phases=tuple(
                replace(phase, green_s=round(phase.green_s, PLAN_DECIMALS)) for phase in plan.phases
            ),
            offset_s=round(plan.offset_s, PLAN_DECIMALS),
        )
        for node, plan in plans.items()
    }


def plan_table(network: RoadNetwork, plans: Mapping[int, SignalPlan]) -> pd.DataFrame:
    """One row per phase of every junction (the CSV's columns), junctions by OSM id."""
    rows = []
    for node, plan in sorted(plans.items(), key=lambda item: int(network.node_osmid[item[0]])):
        for number, phase in enumerate(plan.phases, start=1):
            rows.append(
                {
                    "junction": int(network.node_osmid[node]),
                    "phase": number,
                    "green_s": round(phase.green_s, PLAN_DECIMALS),
                    "cycle_s": round(plan.cycle_s, PLAN_DECIMALS),
                    "offset_s": round(plan.offset_s, PLAN_DECIMALS),
                    "intergreen_s": round(plan.lost_time_s, PLAN_DECIMALS),
                    "approaches": " ".join(_edge_name(network, e) for e in phase.approaches),
                }
            )
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


def write_plan_csv(
    path: Path,
    network: RoadNetwork,
    plans: Mapping[int, SignalPlan],
    *,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write the plans' CSV, atomically; with ``provenance``, headed by its label and record
    (``#`` lines, :func:`twin.provenance.csv_header`)."""
    table = plan_table(network, plans)
    return write_csv_with_provenance(Path(path), table, provenance)


def read_plan_file(
    path: str | Path,
    network: RoadNetwork,
    current: Mapping[int, SignalPlan],
    *,
    limits: TimingLimits = DEFAULT_LIMITS,
) -> dict[int, SignalPlan]:
    """``current`` with the junctions the CSV at ``path`` times replaced by its timing.

    Raises
    ------
    SignalPlanError
        An unreadable file, or junctions the file names wrongly (unknown, not signalized, the
        wrong phases, a green below the minimum, a cycle over the maximum), every one named.
    """
    path = Path(path)
    if problem := file_problem(path, "signal plan file"):
        # `webstr`, `Webster`: a misspelt name reads as a file; say both what names there are
        raise SignalPlanError(
            f"{problem} (a signal plan is one of {', '.join(SIGNAL_PLAN_NAMES)}, or a plan "
            "file's path)."
        )
    if path.stat().st_size > MAX_PLAN_FILE_BYTES:
        raise SignalPlanError(
            f"{path.name}: {path.stat().st_size:,} bytes, more than a plan file of every "
            f"junction needs ({MAX_PLAN_FILE_BYTES:,}): is it the right file?"
        )
    try:
        table = pd.read_csv(path, dtype={"approaches": str}, comment="#")
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise SignalPlanError(
            f"{path.name}: cannot be read as CSV ({short_repr(str(err))}): write one row per "
            "phase with junction, phase, green_s (and offset_s)."
        ) from None
    missing = {"junction", "phase", "green_s"} - set(table.columns)
    if missing:
        raise SignalPlanError(
            f"{path.name}: lacks column(s) {sorted(missing)}; a plan file has one row per phase "
            f"with {', '.join(PLAN_COLUMNS)} (cycle_s and approaches optional)."
        )
    if table.empty:  # a header alone would run the current plans, as if retimed
        raise SignalPlanError(
            f"{path.name}: has no rows: give one row per phase of each junction it retimes."
        )
    problems: list[str] = []
    unnamed = np.flatnonzero(table["junction"].isna().to_numpy())
    if len(unnamed):
        more = f" (and {len(unnamed) - 1} more)" if len(unnamed) > 1 else ""
        problems.append(
            f"{path.name}: row {int(unnamed[0]) + 2}{more} names no junction: give every row "
            "the OSM id of its junction"
        )
    timed: dict[int, SignalPlan] = {}
    for junction, rows in table.groupby("junction", sort=False):
        # a column with a blank cell reads as floats: name 25291550.0 as 25291550
        whole = isinstance(junction, float) and junction.is_integer()
        where = f"{path.name}: junction {int(junction) if whole else short_repr(junction)}"
        node = _signalized_node(network, junction, current)
        if node is None:
            problems.append(
                f"{where}: not a signalized junction of this city (name the OSM id of one: "
                "the plans.csv `twin propose-signals --out` writes lists every one, as "
                "twin.signal_plans(city.network) does)"
            )
            continue
        plan = _timed(rows, current[node], network, limits, where, problems)
        if plan is not None:
            timed[node] = plan
    if not problems:
        try:
            check_plans(timed, network, limits)
        except SignalPlanError as err:
            problems.extend(f"{path.name}: {line}" for line in str(err).splitlines())
    if problems:
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SignalPlanError("\n".join(problems[:20]) + more)
    return {**current, **timed}


def _signalized_node(
    network: RoadNetwork, junction: object, current: Mapping[int, SignalPlan]
) -> int | None:
    try:
        osm_id = int(junction)  # type: ignore[call-overload]
        position = int(network.node_index([osm_id])[0])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return position if position in current else None


def _timed(
    rows: pd.DataFrame,
    plan: SignalPlan,
    network: RoadNetwork,
    limits: TimingLimits,
    where: str,
    problems: list[str],
) -> SignalPlan | None:
    """The junction's plan with the rows' timing, or ``None`` with the problems noted."""
    phases = pd.to_numeric(rows["phase"], errors="coerce").to_numpy(dtype=np.float64)
    expected = np.arange(1, len(plan.phases) + 1)
    if len(phases) != len(expected) or not np.array_equal(np.sort(phases), expected):
        problems.append(
            f"{where}: phases {short_repr(rows['phase'].tolist())} but the junction runs "
            f"{len(plan.phases)} (give one row for each of phases 1–{len(plan.phases)})"
        )
        return None
    rows = rows.iloc[np.argsort(phases)]
    greens = pd.to_numeric(rows["green_s"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(greens)):
        problems.append(f"{where}: green_s must be a number of seconds in every row")
        return None
    offset = _single(rows, "offset_s", 0.0, where, problems)
    intergreen = _single(rows, "intergreen_s", limits.intergreen_s, where, problems)
    if offset is None or intergreen is None:
        return None
    if "approaches" in rows:
        pairs = zip(plan.phases, rows["approaches"], strict=True)
        for number, (phase, given) in enumerate(pairs, start=1):
            if isinstance(given, str) and given.strip():
                have = {_edge_name(network, e) for e in phase.approaches}
                if set(given.split()) != have:
                    problems.append(
                        f"{where}: phase {number} serves {sorted(have)}, not "
                        f"{short_repr(given)} (the phases keep the junction's approaches)"
                    )
                    return None
    timed = SignalPlan(
        plan.node,
        tuple(Phase(p.approaches, float(g)) for p, g in zip(plan.phases, greens, strict=True)),
        offset,
        intergreen,
    )
    cycle = _single(rows, "cycle_s", timed.cycle_s, where, problems)
    if cycle is not None and abs(cycle - timed.cycle_s) > 0.5:
        problems.append(
            f"{where}: cycle_s {cycle:g} s but its greens and intergreens add up to "
            f"{timed.cycle_s:.1f} s (correct one, or leave cycle_s out)"
        )
        return None
    return timed


def _single(
    rows: pd.DataFrame, column: str, default: float, where: str, problems: list[str]
) -> float | None:
    """The one value a junction's rows give for ``column`` (``default`` if absent)."""
    if column not in rows:
        return default
    values = pd.to_numeric(rows[column], errors="coerce").dropna().unique()
    if len(values) == 0:
        return default
    if len(values) > 1 or not math.isfinite(values[0]):
        problems.append(f"{where}: give one {column} for the whole junction")
        return None
    return float(values[0])
