"""What the callbacks decide, as plain functions of plain data (testable without a browser).

The dashboard keeps the scenario being edited (the *draft*) in the browser as the JSON form of a
:class:`twin.scenario.Scenario`; these functions edit it, validate it, split it into the
traffic-only and waste-only scenarios the pages run, and turn KPIs and comparisons into what the
pages display. No simulation happens here: runs go through :mod:`twin.api`.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import copy
import hashlib
import itertools
import math
import re
import typing
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from dashboards.store import RunStore
from twin import (
    UNFINISHED_WARNING_SHARE,
    Scenario,
    ScenarioError,
    WasteSpec,
    compare,
    parse_duration,
    short_repr,
)

__all__ = [
    "AS_IS_KPIS",
    "BASELINES",
    "BASELINE_KPIS",
    "DAY_MARK_STEPS",
    "GIVEN_ROUTES",
    "KPI_INFO",
    "ROUNDS_SUFFIXES",
    "TIME_MARK_STEPS_S",
    "TRADEOFF_KPIS",
    "CheckCell",
    "KpiInfo",
    "UploadError",
    "against_baseline",
    "apply_form",
    "baselines",
    "best_of",
    "bins_on_day",
    "check_osm_bytes",
    "check_rounds_name",
    "check_rows",
    "clock",
    "closed_edges",
    "comparison_rows",
    "decode_upload",
    "default_baseline",
    "default_draft",
    "delay_levels",
    "format_kpi",
    "kpi_cards",
    "kpi_change",
    "kpi_difference",
    "level_of",
    "objective_applies",
    "objective_note",
    "objectives",
    "other_version",
    "page_draft",
    "percent_change",
    "policies",
    "policies_to_compare",
    "retimed",
    "rounded_greens",
    "run_warnings",
    "saved_digest",
    "scenario_from_draft",
    "section_only",
    "slider_marks",
    "street_refs",
    "streets_and_traffic",
    "timing_contrast",
    "timing_rows",
    "toggle_closure",
    "traffic_section_note",
    "trip_changes",
    "trucks_streets",
    "unfinished_card",
    "with_signals",
    "with_strategy",
    "yaml_digest",
]


@dataclass(frozen=True)
class KpiInfo:
    """How a KPI is shown: label, unit, which direction is better (+1 higher, −1 lower, 0
    neither), and its number format."""

    label: str
    unit: str
    better: int
    fmt: str = "{:,.1f}"


KPI_INFO: dict[str, KpiInfo] = {
    # traffic
    "trips": KpiInfo("Trips", "", 0, "{:,.0f}"),
    "trips_completed": KpiInfo("Trips completed", "", +1, "{:,.0f}"),
    "trips_unfinished": KpiInfo("Trips unfinished", "", -1, "{:,.0f}"),
    "mean_travel_time_s": KpiInfo("Mean travel time", "s", -1),
    "p95_travel_time_s": KpiInfo("95th pct travel time", "s", -1),
    "travel_time_index": KpiInfo("Travel-time index", "", -1, "{:.3f}"),
    "planning_time_index": KpiInfo("Planning-time index", "", -1, "{:.3f}"),
    "total_delay_veh_h": KpiInfo("Delay", "veh·h", -1),
    "total_travel_time_veh_h": KpiInfo("Travel time", "veh·h", -1),
    "vehicle_km": KpiInfo("Vehicle-km", "km", 0),
    "mean_network_speed_kph": KpiInfo("Mean speed", "km/h", +1),
    "congested_edge_hours_share": KpiInfo("Congested edge-hours", "%", -1, "{:.1%}"),
    "longest_link_queue_veh": KpiInfo("Longest queue on a link", "veh", -1, "{:,.0f}"),
    "held_at_edge_veh": KpiInfo("Held at the network's edge", "veh", -1, "{:,.0f}"),
    # waste
    "truck_km": KpiInfo("Truck-km", "km", -1),
    "truck_hours": KpiInfo("Truck-hours", "h", -1),
    "bins_emptied": KpiInfo("Bins emptied", "", 0, "{:,.0f}"),
    "mean_fill_at_emptying": KpiInfo("Mean fill at emptying", "%", +1, "{:.1%}"),
    "overflow_bin_days": KpiInfo("Overflow bin-days", "", -1, "{:,.0f}"),
    "overflow_t": KpiInfo("Overflow", "t", -1, "{:,.2f}"),
    "service_level": KpiInfo("Service level", "%", +1, "{:.1%}"),
    "cost_eur": KpiInfo("Cost", "EUR", -1, "{:,.0f}"),
    "cost_per_tonne_eur": KpiInfo("Cost per tonne", "EUR/t", -1, "{:,.2f}"),
    "overflow_cost_eur": KpiInfo("Overflows' cost to the city", "EUR", -1, "{:,.0f}"),
    "collected_t": KpiInfo("Collected", "t", 0),
    # both sections
    "co2_kg": KpiInfo("CO2", "kg", -1),
}

TRAFFIC_CARDS = (
    "trips_completed",
    "trips_unfinished",  # travel times cover finished trips only: say how many are missing
    "mean_travel_time_s",
    "travel_time_index",
    "total_delay_veh_h",
    "mean_network_speed_kph",
    "co2_kg",
)
WASTE_CARDS = (
    "truck_km",
    "truck_hours",
    "co2_kg",
    "overflow_t",
    "service_level",
    "cost_per_tonne_eur",
)
PLAN_KPIS = (
    "truck_km",
    "truck_hours",
    "co2_kg",
    "overflow_bin_days",
    "overflow_t",
    "service_level",
    "mean_fill_at_emptying",
    "cost_eur",
)


def strategy_fields(name: str) -> dict[str, str]:
    """A name of :func:`policies` as a waste section's ``policy`` and ``planner``."""
    planners = typing.get_args(WasteSpec.model_fields["planner"].annotation)
    if name in planners:
        return {"policy": "forecast", "planner": name}
    return {"policy": name, "planner": "pyvrp"}


def strategy_of(waste: dict[str, Any]) -> str:
    """The name of :func:`policies` a waste section runs (what the pages' menus show)."""
    policy, planner = waste.get("policy", "forecast"), waste.get("planner", "pyvrp")
    return planner if policy == "forecast" else policy


def policies() -> tuple[str, ...]:
    """The ways to collect a city's waste that the pages compare: each policy (which bins,
    when) routed by PyVRP, and the forecast policy routed by each other planner, named by the
    planner as a scenario's ``policy`` field still reads them (``greedy``: forecast + greedy).
    Read from the scenario model, so that a policy or planner added to the twin appears without
    a dashboard change."""
    policy_names = typing.get_args(WasteSpec.model_fields["policy"].annotation)
    planners = typing.get_args(WasteSpec.model_fields["planner"].annotation)
    routed = tuple(p for p in planners if p != "pyvrp")
    return (*(p for p in policy_names if p != "forecast"), *routed[:1], "pyvrp", *routed[1:])


LEARNED_ONLY = {"checkpoint": None, "polish_iterations": 0}
"""Waste settings of the learned planner only, as they read when another planner runs."""

GIVEN_ROUTES = ("hand-drawn", "current")
"""Policies whose rounds are given (drawn street by street, or the city's own from a file): no
planner routes them, so no planning objective applies to them."""

BASELINES = ("current", "hand-drawn", "schedule")
"""What a city's policies are compared against, in order of preference: its own rounds where it
has them, else rounds drawn by hand, and the same rounds optimized by PyVRP (the waste twin's
``agents.waste.names.BASELINES``, which the dashboard may not import)."""


def baselines() -> tuple[str, ...]:
    """The names of :data:`BASELINES` that the twin offers as policies (:func:`policies`)."""
    offered = set(policies())
    return tuple(name for name in BASELINES if name in offered)


def default_baseline(has_rounds: bool) -> str:
    """The baseline a page starts with: the city's own rounds where it has them, else rounds
    drawn by hand (what a city without its own rounds does today).

    Parameters
    ----------
    has_rounds : bool
        Whether a rounds file of the city is at hand.

    Returns
    -------
    str
        A name of :func:`baselines` (or the first policy, for a twin that offers none).
    """
    usable = [name for name in baselines() if has_rounds or name != "current"]
    return usable[0] if usable else policies()[0]


def policies_to_compare(has_rounds: bool) -> tuple[str, ...]:
    """:func:`policies` that can run now: ``current`` only with a rounds file to drive.

    Parameters
    ----------
    has_rounds : bool
        Whether a rounds file of the city is at hand.

    Returns
    -------
    tuple of str
        The names, in :func:`policies`' order.
    """
    return tuple(name for name in policies() if has_rounds or name != "current")


def objectives() -> tuple[str, ...]:
    """What PyVRP can minimise (``km``, ``hours``, ``euros``), read from the scenario model."""
    return typing.get_args(WasteSpec.model_fields["objective"].annotation)


def objective_applies(name: str) -> bool:
    """Whether the planning objective changes how the name of :func:`policies` plans: only
    PyVRP takes one, and rounds that are given are not planned at all."""
    fields = strategy_fields(name)
    return fields["planner"] == "pyvrp" and fields["policy"] not in GIVEN_ROUTES


def objective_note(name: str) -> str:
    """Why the objective is ignored for the name of :func:`policies` (``""`` where it applies).

    Parameters
    ----------
    name : str
        The policy chosen.

    Returns
    -------
    str
        One sentence for beside the objective's control.
    """
    if objective_applies(name):
        return ""
    fields = strategy_fields(name)
    if fields["policy"] in GIVEN_ROUTES:
        why = f"{name} rounds are given, not planned: no objective applies to them."
    else:
        why = f"The {fields['planner']} planner minimises km only: the objective is PyVRP's."
    return f"{why} In the comparison it still applies to the policies PyVRP plans."


def with_strategy(
    waste: Mapping[str, Any],
    name: str,
    *,
    objective: str | None = None,
    rounds: str | None = None,
) -> dict[str, Any]:
    """A waste section set to run the name of :func:`policies`, its other settings kept.

    The twin refuses a rounds file with any policy but ``current``, an objective other than
    km with any planner but PyVRP, and a checkpoint or a polish with any planner but the
    learned one; all are set here so that switching policies never leaves the section invalid.
    Rounds that are given ignore the objective, and get km: their runs then stay the same (and
    are not run again) whatever objective the others plan for.

    Parameters
    ----------
    waste : mapping
        A waste section (JSON form of :class:`twin.WasteSpec`).
    name : str
        The policy to run.
    objective : str, optional
        What PyVRP minimises where it plans (default: the section's own).
    rounds : str, optional
        The city's rounds file for ``current`` (default: the section's own).

    Returns
    -------
    dict
        The new section (not validated: a ``current`` without rounds is the twin's to refuse,
        in its own words).
    """
    section = {**waste, **strategy_fields(name)}
    if section["policy"] == "current":
        if rounds is not None:
            section["rounds"] = rounds
    elif section.get("rounds") is not None:
        section["rounds"] = None
    chosen = objective or section.get("objective") or "km"
    section["objective"] = chosen if objective_applies(name) else "km"
    if section["planner"] != "learned":
        # a model's checkpoint and its plans' polish go with the learned planner
        section.update({k: v for k, v in LEARNED_ONLY.items() if k in section})
    return section


# ------------------------------------------------------------------ the draft scenario
def draft_name(city: str) -> str:
    """The name a city's first draft is saved under, after the city (``andorra-plan``): saved
    scenarios and their audit logs of different cities do not meet under one name."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "-", Path(city).name.split(".")[0]).strip("-._ ")
    return f"{stem[:48] or 'city'}-plan"


def default_draft(
    city: str,
    overrides: dict[str, Any] | None = None,
    *,
    trips_per_hour: int | None = None,
) -> dict[str, Any]:
    """A small scenario to start editing from: interactive-speed runs on a city centre.

    ``trips_per_hour`` (the city's peak-hour rate, :func:`cities.peak_demand.peak_hour_demand`)
    sets the trips departing in the draft's window; without it, 1,000.
    """
    draft: dict[str, Any] = {
        "name": draft_name(city),
        "description": "",
        "city": city,
        "seed": 1,
        "traffic": {
            "trips": 1000,
            "duration": "30min",
            "window": "15min",
            "dt_s": 5.0,
            "demand_scale": 1.0,
            "close": [],
            "signals": [],
        },
        "waste": {
            "days": 7,
            **strategy_fields("greedy" if "greedy" in policies() else policies()[0]),
            "trucks": 2,
            "solver_iterations": 200,
            "solver_time_s": 10.0,
        },
        "outputs": {"formats": ["geojson"]},
    }
    if trips_per_hour is not None:
        window_s = parse_duration(draft["traffic"]["window"], what="departure window")
        draft["traffic"]["trips"] = max(1, round(trips_per_hour * window_s / 3600))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(draft.get(key), dict):
            draft[key] = {**draft[key], **value}
        else:
            draft[key] = value
    return scenario_from_draft(draft).model_dump(mode="json")


def page_draft(draft: Any, fresh: dict[str, Any]) -> dict[str, Any]:
    """The draft a run page's form starts from: the browser's (what the Scenarios page loaded,
    saved or edited, and what the pages ran), a section it lacks (a waste-only scenario's
    traffic) from ``fresh``, :func:`default_draft`'s.

    A field whose starting value is the draft's keeps what the planner typed only while the
    draft's value stays the one it was typed over (Dash's persistence): a scenario loaded or
    saved since shows its own values.
    """
    if not isinstance(draft, dict):
        return fresh
    shown = dict(draft)
    for key in ("traffic", "waste"):
        if not isinstance(shown.get(key), dict):
            shown[key] = fresh[key]
    return shown


def _problems(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'scenario'}: {e['msg'].removeprefix('Value error, ')}"
        for e in err.errors()
    )


def scenario_from_draft(draft: dict[str, Any]) -> Scenario:
    """Validate a draft; a :class:`~twin.scenario.ScenarioError` names every bad field."""
    try:
        return Scenario.model_validate(draft)
    except ValidationError as err:
        raise ScenarioError(_problems(err)) from None


STREET_FIELDS = ("close", "change")
"""What of the draft's traffic section a waste-only run keeps: the streets the trucks drive."""
TRAFFIC_FIELDS = ("signals", "signal_plan")
"""… and, when its trucks drive among traffic, the signals that traffic is timed by."""


def trucks_streets(
    traffic: dict[str, Any] | None, *, shift_trips: int | None = None
) -> dict[str, Any] | None:
    """The traffic section a waste-only run carries (``simulate: false``: no traffic run of
    its own): the draft's closures and edge changes, which the trucks drive around, and with
    ``shift_trips`` the traffic they drive among, that many generated trips over the shift
    timed by the draft's signals. ``None`` where there is nothing to carry.

    Parameters
    ----------
    traffic : dict or None
        The draft's traffic section.
    shift_trips : int, optional
        Trips over the shift the trucks drive among (``None``: none, free-flow times).

    Returns
    -------
    dict or None
        The section, with ``simulate`` false.
    """
    traffic = traffic or {}
    kept = {name: traffic[name] for name in STREET_FIELDS if traffic.get(name)}
    if shift_trips is not None:
        kept |= {name: traffic[name] for name in TRAFFIC_FIELDS if traffic.get(name)}
        kept["trips"] = shift_trips
    return {**kept, "simulate": False} if kept else None


def traffic_section_note(draft: dict[str, Any]) -> str | None:
    """What the draft's traffic section is for, where it is not a plain traffic run: a section
    that is not simulated (``simulate: false``, a scenario file's) only sets the waste trucks'
    streets and the traffic they drive among; with ``waste.traffic_coupling`` its trips are
    also the trucks' traffic, spread over their shift. ``None`` otherwise (the Scenarios
    page shows it under the traffic fields)."""
    traffic, waste = draft.get("traffic"), draft.get("waste") or {}
    if not traffic:
        return None
    coupled = bool(waste.get("traffic_coupling")) and traffic.get("trips") is not None
    among = (
        f"among its {int(traffic['trips']):,} trips spread over their shift"
        if coupled
        else "at free-flow times"
    )
    if not traffic.get("simulate", True):
        return (
            "This traffic section runs no traffic of its own (simulate: false): its closures "
            f"and street changes are the waste trucks' streets, which they drive {among}. The "
            "Traffic page runs it as traffic all the same."
        )
    if coupled:
        return f"The waste trucks drive {among} (waste.traffic_coupling)."
    return None


def section_only(draft: dict[str, Any], section: str, **changes: Any) -> Scenario:
    """The draft with only its ``traffic`` or ``waste`` section (what the Traffic and Waste
    pages run), with ``changes`` applied to that section.

    A waste-only scenario keeps the streets of the draft's traffic (:func:`trucks_streets`;
    a traffic section that is not simulated is already a waste run's, kept with its traffic).
    A waste ``policy`` (a name of :func:`policies`) is set with :func:`with_strategy`, which
    also takes ``objective`` and ``rounds`` among the changes."""
    data = copy.deepcopy(draft)
    if section == "traffic":
        data["waste"] = None
        # a scenario file's section that only set the trucks' streets runs on the Traffic page
        data["traffic"] = {**(data.get("traffic") or {}), "simulate": True}
    elif (data.get("traffic") or {}).get("simulate", True):
        data["traffic"] = trucks_streets(data.get("traffic"))
    if section == "waste" and "policy" in changes:
        changes = dict(changes)
        name = changes.pop("policy")
        objective, rounds = changes.pop("objective", None), changes.pop("rounds", None)
        data[section] = with_strategy(
            {**(data.get(section) or {}), **changes}, name, objective=objective, rounds=rounds
        )
    else:
        data[section] = {**(data.get(section) or {}), **changes}
    if section == "waste":
        data[section]["traffic_coupling"] = (data.get("traffic") or {}).get("trips") is not None
    return scenario_from_draft(data)


def _number(value: Any, kind: type, what: str) -> Any:
    if value is None or value == "":
        raise ScenarioError(f"{what}: give a number.")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{what}: {short_repr(value)} is not a number.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ScenarioError(f"{what}: {short_repr(value)} is not a finite number.")
    return number


def apply_form(draft: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The draft with form values applied and validated.

    Recognized fields: ``name``, ``seed``, ``trips``, ``duration_min``, ``demand_scale``,
    ``days``, ``policy``, ``trucks``, ``signals`` (text ``"node: g1, g2; node: g1, g2"``).
    Unset (``None``) fields keep their value.
    """
    data = copy.deepcopy(draft)
    traffic = dict(data.get("traffic") or {})
    waste = dict(data.get("waste") or {})
    if fields.get("name") is not None:
        data["name"] = str(fields["name"]).strip()
    if fields.get("seed") is not None:
        data["seed"] = _number(fields["seed"], int, "seed")
    if fields.get("trips") is not None:
        traffic["trips"] = _number(fields["trips"], int, "trips")
    if fields.get("duration_min") is not None:
        minutes = _number(fields["duration_min"], float, "duration (min)")
        if minutes <= 0:
            raise ScenarioError("duration (min): must be more than 0.")
        traffic["duration"] = f"{minutes:g}min"
        traffic["window"] = f"{minutes / 2:g}min"
    if fields.get("demand_scale") is not None:
        traffic["demand_scale"] = _number(fields["demand_scale"], float, "demand scale")
    if fields.get("signals") is not None:
        traffic["signals"] = parse_signals(fields["signals"])
    if fields.get("days") is not None:
        waste["days"] = _number(fields["days"], int, "days")
    if fields.get("policy") is not None:
        waste = with_strategy(waste, fields["policy"])
    if fields.get("trucks") is not None:
        waste["trucks"] = _number(fields["trucks"], int, "trucks")
    data["traffic"] = traffic or None
    data["waste"] = waste or None
    return scenario_from_draft(data).model_dump(mode="json")


def parse_signals(text: str) -> list[dict[str, Any]]:
    """``"25291537: 70, 12 @ 15; 1234: 30, 30"`` → signal timings: OSM node, green seconds per
    phase, and the offset of the junction's cycle after ``@`` (0 s when left out)."""
    timings = []
    for part in filter(None, (p.strip() for p in str(text).split(";"))):
        node, sep, rest = part.partition(":")
        if not sep:
            raise ScenarioError(
                f"signal plan {short_repr(part)}: write 'OSM node id: green s, green s' (one "
                "green time per phase, then '@ offset s' if the cycle has one), several "
                "separated by ';'."
            )
        greens, at, offset = rest.partition("@")
        timings.append(
            {
                "node": _number(node.strip(), int, "signal node"),
                "greens_s": [
                    _number(g.strip(), float, "green time") for g in greens.split(",") if g.strip()
                ],
                "offset_s": _number(offset.strip(), float, "signal offset") if at else 0.0,
            }
        )
    return timings


def format_signals(timings: list[dict[str, Any]]) -> str:
    """The inverse of :func:`parse_signals` (an offset of 0 s is left out)."""
    return "; ".join(
        f"{t['node']}: {', '.join(f'{g:g}' for g in t['greens_s'])}"
        + (f" @ {t['offset_s']:g}" if t.get("offset_s") else "")
        for t in timings or []
    )


def with_signals(draft: dict[str, Any], timings: list[dict[str, Any]]) -> dict[str, Any]:
    """The draft with ``timings`` as the retimings of their junctions (``traffic.signals``),
    validated: the others it retimes keep their place, these replace or follow them.

    Parameters
    ----------
    draft : dict
        The draft scenario.
    timings : list of dict
        ``node``, ``greens_s`` and ``offset_s`` of each junction (what
        :meth:`twin.SignalProposal.timings` gives).

    Returns
    -------
    dict
        The new draft.

    Raises
    ------
    twin.scenario.ScenarioError
        The draft has no traffic section, or a timing the scenario refuses.
    """
    data = copy.deepcopy(draft)
    traffic = data.get("traffic")
    if traffic is None:
        raise ScenarioError("this scenario has no traffic section: signal plans need one.")
    traffic["signals"] = retimed(traffic.get("signals") or [], timings)
    return scenario_from_draft(data).model_dump(mode="json")


def retimed(
    signals: Sequence[Mapping[str, Any]], timings: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``traffic.signals`` with ``timings`` applied (what :func:`with_signals` writes): the
    retimings of other junctions keep their place, these replace or follow them.

    Parameters
    ----------
    signals : sequence of mapping
        The retimings a traffic section has (``node``, ``greens_s``, ``offset_s``).
    timings : sequence of mapping
        The retimings to apply.

    Returns
    -------
    list of dict
        The new retimings, not validated.
    """
    new = {int(t["node"]): dict(t) for t in timings}
    kept = [dict(t) for t in signals if int(t["node"]) not in new]
    return kept + list(new.values())


def clicked_signal(click: dict[str, Any] | None) -> int | None:
    """The OSM node of a signalized junction a map click landed on, else ``None``.

    Junction markers carry their node id as a number; streets carry ``"u-v"`` text, bins a
    list of numbers.

    Parameters
    ----------
    click : dict or None
        A graph's ``clickData``.

    Returns
    -------
    int or None
        The junction's OSM id.
    """
    point = ((click or {}).get("points") or [{}])[0]
    value = point.get("customdata")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def set_signal_timing(
    timings: list[dict[str, Any]], node: int, greens_s: list[Any], offset_s: Any = None
) -> list[dict[str, Any]]:
    """Signal timings with ``node``'s replaced (or added), green times checked.

    Parameters
    ----------
    timings : list of dict
        A scenario's ``traffic.signals``.
    node : int
        OSM id of the junction.
    greens_s : list
        Green time of each phase, seconds (form values: numbers or text).
    offset_s : float, optional
        Offset of the junction's cycle, seconds; by default the one it has in ``timings``
        (a proposal's), else 0.

    Returns
    -------
    list of dict
        The new timings, in their order, ``node``'s at its old place or last.

    Raises
    ------
    twin.scenario.ScenarioError
        A green time that is missing, not a number or negative.
    """
    greens = [_number(g, float, f"green time of phase {i + 1}") for i, g in enumerate(greens_s)]
    if any(g < 0 for g in greens):
        raise ScenarioError("green times: give 0 s or more for every phase.")
    places = [i for i, t in enumerate(timings or []) if int(t["node"]) == int(node)]
    if offset_s is None:
        offset_s = timings[places[0]].get("offset_s", 0.0) if places else 0.0
    offset = _number(offset_s if offset_s != "" else 0.0, float, "offset")
    timing = {"node": int(node), "greens_s": greens, "offset_s": offset}
    out = [t for t in timings or [] if int(t["node"]) != int(node)]
    out.insert(places[0] if places else len(out), timing)
    return out


def signal_cycle(greens_s: list[Any], lost_time_s: float) -> float | None:
    """Cycle time of a plan: every phase's green plus its lost time (``None`` while a green
    time is not a number).

    Parameters
    ----------
    greens_s : list
        Green time of each phase (form values).
    lost_time_s : float
        Lost time after each phase.

    Returns
    -------
    float or None
        Seconds.
    """
    try:
        greens = [float(g) for g in greens_s]
    except (TypeError, ValueError):
        return None
    return sum(greens) + lost_time_s * len(greens)


GREEN_DIGITS = 1
"""Decimals of the green times the signal editor shows (0.1 s: finer than a driver notices)."""


def rounded_greens(greens_s: Sequence[float], digits: int = GREEN_DIGITS) -> list[float]:
    """Green times rounded for the signal editor, keeping their sum (and so the cycle).

    The twin's default plans split a cycle by demand (13.6667 s, 68.3333 s); shown raw they
    neither fit a number field nor read as a plan. Rounding each on its own could move the
    cycle (3 × 26.6667 s → 80.1 s), so the largest remainders take the rounding up.

    Parameters
    ----------
    greens_s : sequence of float
        Green time of each phase, seconds.
    digits : int
        Decimals to keep.

    Returns
    -------
    list of float
        The green times at ``digits`` decimals, summing to the original sum so rounded.
    """
    scale = 10.0**digits
    exact = np.asarray(greens_s, dtype=float) * scale
    # float noise (13.7 * 10 = 136.99999999999997) must not count as a remainder
    units = np.floor(np.round(exact, 6))
    short = int(round(float(exact.sum())) - units.sum())
    units[np.argsort(units - exact, kind="stable")[:short]] += 1
    return [float(u / scale) for u in units]


COMPASS = ("northbound", "north-eastbound", "eastbound", "south-eastbound",
           "southbound", "south-westbound", "westbound", "north-westbound")  # fmt: skip


def approach_labels(
    approaches: tuple[int, ...],
    *,
    names: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
) -> str:
    """The approaches of one phase in words: street name and direction of travel.

    Parameters
    ----------
    approaches : tuple of int
        Edge positions entering the junction.
    names, lon, lat, start, count : numpy.ndarray
        The base map's per-edge names and its flat polyline arrays
        (:class:`dashboards.basemap.Basemap`).

    Returns
    -------
    str
        E.g. ``"Mannerheimintie southbound; (unnamed) eastbound"``; ``"pedestrians"`` for a
        phase without approaches.
    """
    if not approaches:
        return "pedestrians (all traffic stops)"
    labels = []
    for edge in approaches:
        last = int(start[edge] + count[edge] - 1)
        dx = (float(lon[last]) - float(lon[last - 1])) * math.cos(math.radians(float(lat[last])))
        dy = float(lat[last]) - float(lat[last - 1])
        # compass bearing of travel on the edge's last segment, in eighths of a turn
        eighth = round(math.degrees(math.atan2(dx, dy)) % 360 / 45) % 8
        label = f"{names[edge] or '(unnamed)'} {COMPASS[eighth]}"
        if label not in labels:
            labels.append(label)
    return "; ".join(labels)


# ------------------------------------------------------------------ closing streets
def street_refs(
    ref: str, *, mode: str, refs: np.ndarray, ways: np.ndarray, index: dict[str, int]
) -> list[str]:
    """What a click on edge ``ref`` closes: ``"segment"`` (both directions between its two
    junctions), ``"direction"`` (this edge only) or ``"way"`` (the whole OSM way, both ways).

    ``refs`` and ``ways`` are per-edge ``"u-v"`` references and OSM way ids; ``index`` maps a
    reference to its edge position.
    """
    if ref not in index:
        return []
    if mode == "way":
        return [f"way:{int(ways[index[ref]])}"]
    if mode == "direction":
        return [ref]
    u, v, *key = ref.split("-")
    reverse = f"{v}-{u}" + (f"-{key[0]}" if key else "")
    return [ref, reverse] if reverse in index else [ref]


def toggle_closure(draft: dict[str, Any], refs: list[str]) -> dict[str, Any]:
    """Close ``refs`` in the draft's traffic section, or reopen them when all are closed."""
    if not refs:
        return draft
    data = copy.deepcopy(draft)
    traffic = data.get("traffic")
    if traffic is None:
        raise ScenarioError("this scenario has no traffic section: a closure needs one.")
    closed = list(traffic.get("close") or [])
    if all(r in closed for r in refs):
        closed = [c for c in closed if c not in refs]
    else:
        closed += [r for r in refs if r not in closed]
    traffic["close"] = closed
    return scenario_from_draft(data).model_dump(mode="json")


def closed_edges(refs: list[str], *, ways: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Edge positions named by closure references (``"u-v"`` or ``"way:ID"``)."""
    found: list[int] = []
    for ref in refs or []:
        if ref.startswith("way:") and ref[4:].isdigit():
            found += np.flatnonzero(ways == int(ref[4:])).tolist()
        elif ref in index:
            found.append(index[ref])
    return np.unique(np.asarray(found, dtype=np.int64))


# ------------------------------------------------------------------ KPIs
def format_kpi(kpi: str, value: float | None, *, extra_decimals: int = 0) -> str:
    """A KPI value with its unit, e.g. ``"183.2 s"``, ``"97.5 %"`` (``extra_decimals`` more
    than the KPI's own format shows)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    info = KPI_INFO.get(kpi, KpiInfo(kpi, "", 0))
    fmt = info.fmt
    if extra_decimals:
        fmt = re.sub(r"\.(\d+)([f%])", lambda m: f".{int(m[1]) + extra_decimals}{m[2]}", fmt)
    text = fmt.format(value)
    if info.fmt.endswith("%}") and 0 < value < 1:
        # a share that is not whole (or not nothing) never reads as such: 99.97 % of bin-days
        # without overflow is not "100.0 %" beside an overflow
        shown = float(text.rstrip("%")) / 100.0
        step = 10.0 ** -(_decimals(kpi) + extra_decimals + 2)
        if shown >= 1.0:
            text = "> " + fmt.format(1.0 - step)
        elif shown <= 0.0:
            text = "< " + fmt.format(step)
    if info.unit and info.unit != "%":
        text += f" {info.unit}"
    return text.replace("%", " %") if info.fmt.endswith("%}") else text


def kpi_difference(kpi: str, value: float, base: float) -> str:
    """The difference ``value − base`` of a KPI with its sign and unit, as a table's "b − a"
    column shows it: ``"±0"`` where the two values read the same, and otherwise with as many
    more decimals (up to three) as it takes not to read as zero (6.64 → 6.66 veh·h, shown as
    6.6 and 6.7, differ by "+0.02 veh·h", not "+0.0 veh·h")."""
    if format_kpi(kpi, value) == format_kpi(kpi, base):
        return "±0"
    difference = float(value) - float(base)
    for extra in range(4):
        text = format_kpi(kpi, abs(difference), extra_decimals=extra)
        if re.search(r"[1-9]", text.split(" ")[0]):
            break
    return ("+" if difference > 0 else "-") + text


def kpi_cards(kpis: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(kpi, label, formatted value)`` for the given KPIs that the run reports."""
    return [
        (k, KPI_INFO[k].label, format_kpi(k, float(kpis[k])))
        for k in keys
        if k in kpis and isinstance(kpis[k], int | float)
    ]


def unfinished_card(kpis: dict[str, Any]) -> tuple[str, str, str] | None:
    """The card of a traffic run's unfinished trips: label, value and level.

    Travel-time KPIs cover the trips that arrived, so a run that leaves many on the road (too
    short for its demand, or jammed) looks better than it was; this card says how many are
    missing. The level is ``""`` when they are few (at most the twin's
    :data:`~agents.kpis.UNFINISHED_WARNING_SHARE`), ``"warn"`` above that, and ``"alarm"``
    when the twin found the network stalled (gridlock).

    Parameters
    ----------
    kpis : dict
        A traffic run's KPIs (``trips_unfinished``, ``trips``, ``gridlock``).

    Returns
    -------
    tuple of str, or None
        ``(label, value, level)``; ``None`` for a run without the counts.
    """
    unfinished, trips = kpis.get("trips_unfinished"), kpis.get("trips")
    if not isinstance(unfinished, int | float) or not isinstance(trips, int | float):
        return None
    share = unfinished / trips if trips else 0.0
    value = f"{unfinished:,.0f}" + (f" ({_share_text(share)})" if unfinished else "")
    if kpis.get("gridlock"):
        return "Gridlock: trips unfinished", value, "alarm"
    if share > UNFINISHED_WARNING_SHARE:
        return "Trips unfinished", value, "warn"
    return "Trips unfinished", value, ""


def _share_text(share: float) -> str:
    # a share that is not zero never reads as "0 %"
    text = f"{share:.0%}" if share >= 0.1 else f"{share:.1%}"
    if text in ("0.0%", "0%") and share > 0:
        text = "< 0.1%"
    return text.replace("%", " %")


def _decimals(kpi: str) -> int:
    """Decimals a KPI's number format shows (of the percent, for shares)."""
    fmt = KPI_INFO[kpi].fmt if kpi in KPI_INFO else "{:,.1f}"
    found = re.search(r"\.(\d+)[f%]", fmt)
    return int(found.group(1)) if found else 0


def kpi_change(kpi: str, value: float | None, base: float | None) -> tuple[str, int]:
    """The change of a KPI from ``base`` to ``value`` as the tables show it, and its sign at
    that precision.

    Shares (service level, fill) change in percentage points, other KPIs relative to the base
    (in whole percent from 10 % on, else to a tenth), and a KPI whose base is zero by the
    difference in its own unit. A change that rounds to nothing at that precision, or whose two
    values read the same, is ``"±0"`` with sign 0: neither better nor worse.

    Parameters
    ----------
    kpi : str
        The KPI (a key of :data:`KPI_INFO`).
    value, base : float or None
        The value and the one it is compared with.

    Returns
    -------
    tuple of (str, int)
        E.g. ``("+3.2 %", 1)``, ``("-0.4 pp", -1)``, ``("±0 %", 0)``; ``("", 0)`` when either
        value is missing.
    """
    if value is None or base is None or math.isnan(float(value)) or math.isnan(float(base)):
        return "", 0
    value, base = float(value), float(base)
    info = KPI_INFO.get(kpi, KpiInfo(kpi, "", 0))
    share = info.fmt.endswith("%}")
    if format_kpi(kpi, value) == format_kpi(kpi, base):
        return ("±0 pp" if share else "±0" if base == 0.0 else "±0 %"), 0
    if share:
        points = round(100.0 * (value - base), max(_decimals(kpi), 1))
        return (f"{points:+.1f} pp" if points else "±0 pp"), int(np.sign(points))
    if base == 0.0:
        diff = round(value - base, _decimals(kpi))
        text = format_kpi(kpi, abs(diff))
        return (("+" if diff > 0 else "-") + text if diff else "±0"), int(np.sign(diff))
    percent = 100.0 * (value - base) / abs(base)
    shown = round(percent, 0 if abs(percent) >= 10 else 1)
    if not shown:
        return "±0 %", 0
    return f"{shown:+,.{0 if abs(percent) >= 10 else 1}f} %", int(np.sign(shown))


def best_of(values: dict[str, float | None], kpi: str) -> set[str]:
    """The names (policies) with the best value of ``kpi``: ties all win, and nobody when every
    name reads the same or the KPI has no better direction.

    Parameters
    ----------
    values : dict
        Value of the KPI by name (``None`` where a name has none).
    kpi : str
        The KPI (a key of :data:`KPI_INFO`).

    Returns
    -------
    set of str
        The winners.
    """
    better = KPI_INFO[kpi].better if kpi in KPI_INFO else 0
    found = {
        name: float(v)
        for name, v in values.items()
        if isinstance(v, int | float) and not math.isnan(float(v))
    }
    if not better or len(found) < 2:
        return set()
    best = max(found.values()) if better > 0 else min(found.values())
    # a tie is what the table shows: the same text
    shown = format_kpi(kpi, best)
    winners = {name for name, v in found.items() if format_kpi(kpi, v) == shown}
    return set() if len(winners) == len(found) else winners


BASELINE_KPIS = ("truck_km", "truck_hours", "cost_eur", "cost_per_tonne_eur", "co2_kg")
"""What each policy is measured against the baseline on, in per cent of the baseline's value;
the service level beside them is shown as it is (a share: in per cent of itself it would read
as nothing)."""

AS_IS_KPIS = ("service_level", "overflow_cost_eur")
"""Shown beside :data:`BASELINE_KPIS` as they are: the service level (a share: in per cent of
itself it would read as nothing) and what the overflows cost the city (often nothing for the
baseline, of which no per cent can be taken)."""

TRADEOFF_KPIS = (
    ("truck_km", "truck-km"),
    ("truck_hours", "truck-hours"),
    ("cost_eur", "euros"),
    ("co2_kg", "CO2"),
)
"""The measures of the trade-off picture, with their names on its axis."""


def percent_change(value: Any, base: Any) -> float:
    """How far ``value`` lies from ``base``, in per cent of the base (200 → 150: −25).

    Parameters
    ----------
    value, base : float or None
        The value and the one it is measured against.

    Returns
    -------
    float
        The change; NaN where either is missing or the base is zero (no share of nothing).
    """
    if not isinstance(value, int | float) or not isinstance(base, int | float):
        return math.nan
    value, base = float(value), float(base)
    if math.isnan(value) or math.isnan(base) or base == 0.0:
        return math.nan
    return 100.0 * (value - base) / abs(base)


def against_baseline(kpis: Mapping[str, Mapping[str, Any]], baseline: str) -> pd.DataFrame:
    """Every policy's waste KPIs against the baseline's.

    Parameters
    ----------
    kpis : mapping
        The waste KPIs of each policy run with the same settings (days, fleet, seed), by
        policy; the order is kept.
    baseline : str
        The policy the others are measured against (one of ``kpis``).

    Returns
    -------
    pandas.DataFrame
        One row per policy: ``policy``, ``baseline`` (whether it is the baseline), and for each
        KPI of :data:`BASELINE_KPIS` its value and ``<kpi>_pct`` (:func:`percent_change`
        against the baseline's; 0 for the baseline itself), then :data:`AS_IS_KPIS` as they
        are (the service level, what the overflows cost the city; NaN where a run has none).

    Raises
    ------
    KeyError
        The baseline is not among ``kpis``.
    """
    if baseline not in kpis:
        raise KeyError(f"no KPIs of the baseline {short_repr(baseline)}")
    base = kpis[baseline]
    rows = []
    for policy, found in kpis.items():
        row: dict[str, Any] = {"policy": policy, "baseline": policy == baseline}
        for kpi in BASELINE_KPIS:
            value = found.get(kpi)
            row[kpi] = float(value) if isinstance(value, int | float) else math.nan
            row[f"{kpi}_pct"] = percent_change(value, base.get(kpi))
        for kpi in AS_IS_KPIS:
            value = found.get(kpi)
            row[kpi] = float(value) if isinstance(value, int | float) else math.nan
        rows.append(row)
    columns = ["policy", "baseline"]
    for kpi in BASELINE_KPIS:
        columns += [kpi, f"{kpi}_pct"]
    return pd.DataFrame(rows, columns=[*columns, *AS_IS_KPIS])


def slider_marks(
    values: Any, *, label: Any, steps: tuple[float, ...], max_labels: int = 8
) -> dict[int, str]:
    """Labelled marks for a slider over ``values``, few enough not to print over each other.

    Marks go at the values that are multiples of the smallest of ``steps`` that leaves at most
    ``max_labels`` of them (every hour, every week…); values on no such multiple are thinned
    by position instead.

    Parameters
    ----------
    values : sequence of number
        The slider's positions.
    label : callable
        Text of a mark from its value.
    steps : tuple of float
        Nice spacings between marks, in the values' unit, smallest first.
    max_labels : int
        The most marks.

    Returns
    -------
    dict
        Value → text, for ``dcc.Slider``'s ``marks``.
    """
    points = sorted({int(v) for v in values})
    if not points:
        return {}
    for step in steps:
        chosen = [v for v in points if v % step == 0]
        # one mark of many says nothing: those values are off the step's multiples
        if len(chosen) >= min(2, len(points)) and len(chosen) <= max_labels:
            return {v: label(v) for v in chosen}
    stride = math.ceil(len(points) / max_labels)
    return {v: label(v) for v in points[::stride]}


def clock(seconds: float) -> str:
    """Simulated time as a slider shows it: ``25 min`` below two hours, else ``3 h`` or
    ``3 h 30``."""
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest:02d}" if rest else "")


TIME_MARK_STEPS_S = tuple(60 * m for m in (5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880))
"""Spacings of the time slider's marks, seconds."""

DAY_MARK_STEPS = (1, 2, 7, 14, 28, 56, 91, 182, 364, 728, 1456)
"""Spacings of the day sliders' marks: days, then weeks (day 0 is a Monday)."""


def comparison_rows(
    a: pd.DataFrame, b: pd.DataFrame, *, only: tuple[str, ...] | None = None, tolerance=1e-9
) -> pd.DataFrame:
    """KPI differences b − a (``twin.api.compare``) with a verdict per row for highlighting:
    ``better``, ``worse``, ``same`` or ``changed`` (a KPI with no better direction).

    ``a`` and ``b`` are ``section, kpi, value`` tables as ``ScenarioRun.kpis`` (read back from
    the store, where only the KPI table exists; ``compare`` reads nothing else of a run).
    """
    table = compare(SimpleNamespace(kpis=a), SimpleNamespace(kpis=b))
    if only is not None:
        table = table[table["kpi"].isin(only)]
        table = table.set_index("kpi").loc[[k for k in only if k in set(table["kpi"])]]
        table = table.reset_index()
    else:
        table = table[table["kpi"].isin(KPI_INFO)]
    scale = np.maximum(table["a"].abs(), table["b"].abs()).to_numpy()
    same = np.abs(table["difference"].to_numpy()) <= tolerance * np.maximum(scale, 1.0)
    direction = np.array([KPI_INFO[k].better if k in KPI_INFO else 0 for k in table["kpi"]])
    sign = np.sign(table["difference"].to_numpy()) * direction
    verdict = np.where(
        same, "same", np.where(direction == 0, "changed", np.where(sign > 0, "better", "worse"))
    )
    table = table.assign(verdict=verdict)
    table["label"] = [KPI_INFO[k].label if k in KPI_INFO else k for k in table["kpi"]]
    return table.reset_index(drop=True)


def plan_notes(daily: pd.DataFrame) -> str | None:
    """One sentence on the working days a planner passed on or planned outside its range
    (a learned model's days outside its training range), from a waste run's daily table;
    ``None`` when there are none (or the run predates the notes)."""
    if "plan_note" not in daily:
        return None
    notes = daily["plan_note"].fillna("")
    noted = daily[notes != ""]
    if not len(noted):
        return None
    working = int(daily["planned_by"].notna().sum()) if "planned_by" in daily else len(daily)
    planners = ", ".join(sorted(set(noted["planned_by"].dropna())))
    first = noted.iloc[0]
    if planners == "given":  # rounds nobody planned: no range, they do not fit the day
        return (
            f"On {len(noted)} of {working} working days the rounds, driven as given, break "
            f"a plan's rules; day {int(first['day'])}: {first['plan_note']}"
        )
    return (
        f"{len(noted)} of {working} working days were outside the planner's range (planned "
        f"by {planners}); day {int(first['day'])}: {first['plan_note']}"
    )


def streets_and_traffic(
    traffic: dict[str, Any] | None, info: dict[str, Any], kpis: dict[str, Any]
) -> tuple[str, bool] | None:
    """What a waste run's trucks drove on and among, from its scenario's traffic section, its
    ``run.json`` (``info``) and KPIs: the draft's closed and changed streets, the traffic of
    the shift and what the plans lost in it; and whether that needs a warning (gridlock).
    ``None`` for a run at free flow on the city's own streets."""
    traffic = traffic or {}
    said: list[str] = []
    closed, changed = len(traffic.get("close") or []), len(traffic.get("change") or [])
    if closed or changed:
        edits = [
            f"{n:,} {what}{'s' if n > 1 else ''}"
            for n, what in ((closed, "closure"), (changed, "street change"))
            if n
        ]
        said.append(f"On the draft's streets, with its {' and '.join(edits)}.")
    coupled = info.get("traffic") or {}
    base = coupled.get("baseline") or {}
    if not base:
        return (" ".join(said), False) if said else None
    unfinished = int(base.get("trips_unfinished", 0))
    said.append(
        f"Driven among {int(coupled.get('trips', base.get('trips', 0))):,} trips over the "
        f"shift (their delay {float(base.get('total_delay_veh_h', 0.0)):,.1f} veh·h, "
        f"{unfinished:,} unfinished at its end), planned on {info.get('plan_times', '?')} times"
    )
    gap = kpis.get("planned_hours_gap")
    if isinstance(gap, int | float) and math.isfinite(gap):
        said[-1] += f": hours driven {gap:+.1%} against the plans' own."
    else:
        said[-1] += "."
    jammed = bool(base.get("gridlock"))
    warned = [w for w in info.get("warnings") or [] if w.startswith("the traffic the trucks")]
    said += [w[0].upper() + w[1:] for w in warned]
    return " ".join(said), jammed


def run_warnings(info: dict[str, Any]) -> list[str]:
    """A waste run's warnings that its page says nowhere else (a fleet too small for the
    rounds, bins no round empties, stops passed over at the shift's end), each a sentence:
    not the planners' notes (:func:`plan_notes`) nor the traffic's (:func:`streets_and_traffic`)."""
    said = []
    for warning in info.get("warnings") or []:
        if warning.startswith("the traffic the trucks") or "carry a planner's note" in warning:
            continue
        said.append(warning[0].upper() + warning[1:])
    return said


def timing_contrast(
    planned_times: str, planned: dict[str, Any], other_times: str, other: dict[str, Any]
) -> str | None:
    """One sentence on the same policy in the same traffic planned on the other travel times
    (time-of-day or free-flow): the hours its trucks drove against its plans' own, beside this
    run's, and what it cost against this run (from both runs' waste KPIs); ``None`` where a
    figure is missing."""
    gaps = [kpis.get("planned_hours_gap") for kpis in (other, planned)]
    costs = [kpis.get("cost_eur") for kpis in (other, planned)]
    numbers = [*gaps, *costs]
    if not all(isinstance(x, int | float) and math.isfinite(x) for x in numbers) or not costs[1]:
        return None
    change = costs[0] / costs[1] - 1.0
    more = "more" if change >= 0 else "less"
    return (
        f"Planned on {other_times} times instead, the same policy drove {gaps[0]:+.1%} hours "
        f"against its plans' own (this run, planned on {planned_times} times: "
        f"{gaps[1]:+.1%}) and cost {abs(change):.1%} {more}."
    )


def bins_on_day(bins: pd.DataFrame, bin_fill: pd.DataFrame, day: int) -> pd.DataFrame:
    """``bins`` (one row per bin, in bin order) with ``fill_kg`` replaced by each bin's fill at
    the end of ``day`` from a run's ``bin_fill`` table (``day, bin, fill_kg``)."""
    today = bin_fill[bin_fill["day"] == day].sort_values("bin")
    if len(today) != len(bins):
        raise ValueError(f"day {day}: {len(today)} bin fills for {len(bins)} bins")
    shown = bins.copy()
    shown["fill_kg"] = today["fill_kg"].to_numpy()
    return shown


def trip_changes(a: pd.DataFrame, b: pd.DataFrame, *, threshold_s: float = 5.0) -> dict:
    """A/B Street's view of two traffic runs: the trips both made (same vehicle, origin,
    destination and departure), how many got faster, slower or stayed within ``threshold_s``,
    and the time saved (positive) or lost in vehicle-hours."""
    keys = ["vehicle", "origin", "destination", "depart_s"]
    done_a = a[a["status"] == "arrived"]
    done_b = b[b["status"] == "arrived"]
    both = done_a[[*keys, "travel_time_s"]].merge(
        done_b[[*keys, "travel_time_s"]], on=keys, suffixes=("_a", "_b")
    )
    change = (both["travel_time_s_b"] - both["travel_time_s_a"]).to_numpy()
    return {
        "matched": len(both),
        "faster": int(np.sum(change < -threshold_s)),
        "slower": int(np.sum(change > threshold_s)),
        "unchanged": int(np.sum(np.abs(change) <= threshold_s)),
        "saved_veh_h": float(-change.sum() / 3600.0),
        "before_s": both["travel_time_s_a"].to_numpy(),
        "after_s": both["travel_time_s_b"].to_numpy(),
    }


# ------------------------------------------------------------------ signal-plan proposals
CHECK_MEASURES = (
    ("total_delay_veh_h", "total_delay_veh_h"),
    ("trips_unfinished", "trips_unfinished"),
    ("longest_queue_veh", "longest_link_queue_veh"),
    ("held_at_edge_veh", "held_at_edge_veh"),
)
"""Measures of a proposal's checks (``current_<measure>``, ``proposed_<measure>`` columns of
:attr:`twin.SignalProposal.checks`) that the Plans page shows, with the KPI each is shown as."""


@dataclass(frozen=True)
class CheckCell:
    """One measure of a proposal's check at one demand: now and proposed as shown, the change
    (:func:`kpi_change`) and whether the proposal is ``better``, ``worse`` or the ``same``."""

    now: str
    proposed: str
    change: str
    verdict: str


def check_rows(checks: pd.DataFrame) -> list[tuple[str, dict[str, CheckCell]]]:
    """A proposal's checks as the Plans page's table shows them.

    Parameters
    ----------
    checks : pandas.DataFrame
        :attr:`twin.SignalProposal.checks`: one row per demand factor.

    Returns
    -------
    list of (str, dict)
        By demand factor, lowest first: its label (``"120 %"``) and a :class:`CheckCell` per
        measure of :data:`CHECK_MEASURES`.
    """
    rows = []
    for record in checks.sort_values("demand_scale").to_dict("records"):
        cells = {}
        for measure, kpi in CHECK_MEASURES:
            now, proposed = record[f"current_{measure}"], record[f"proposed_{measure}"]
            change, sign = kpi_change(kpi, proposed, now)
            better = sign * KPI_INFO[kpi].better
            verdict = "better" if better > 0 else "worse" if better < 0 else "same"
            cells[measure] = CheckCell(
                format_kpi(kpi, now), format_kpi(kpi, proposed), change, verdict
            )
        rows.append((f"{record['demand_scale']:.0%}".replace("%", " %"), cells))
    return rows


def _junctions(plans: pd.DataFrame) -> pd.DataFrame:
    """Per junction of a plan table: cycle, greens of its phases in order (text), offset."""
    ordered = plans.sort_values(["junction", "phase"])
    grouped = ordered.groupby("junction", sort=True)
    return pd.DataFrame(
        {
            "cycle_s": grouped["cycle_s"].first(),
            "greens": grouped["green_s"].agg(lambda g: ", ".join(f"{x:g}" for x in g)),
            "offset_s": grouped["offset_s"].first(),
        }
    )


def timing_rows(current: pd.DataFrame, proposed: pd.DataFrame) -> pd.DataFrame:
    """Each junction's current and proposed timing side by side.

    Parameters
    ----------
    current, proposed : pandas.DataFrame
        Plan tables (:func:`twin.plan_table`: one row per phase with ``junction``, ``phase``,
        ``green_s``, ``cycle_s``, ``offset_s``).

    Returns
    -------
    pandas.DataFrame
        One row per junction of ``proposed``, by OSM id: ``junction``, ``cycle_now_s``,
        ``cycle_s``, ``greens_now`` and ``greens`` (seconds per phase, as text),
        ``offset_now_s``, ``offset_s``; the current ones missing (NaN, empty) where the
        junction had no plan.
    """
    after = _junctions(proposed)
    before = _junctions(current).reindex(after.index)
    return pd.DataFrame(
        {
            "junction": after.index.astype(np.int64),
            "cycle_now_s": before["cycle_s"].to_numpy(dtype=float),
            "cycle_s": after["cycle_s"].to_numpy(dtype=float),
            "greens_now": before["greens"].fillna("").to_numpy(),
            "greens": after["greens"].to_numpy(),
            "offset_now_s": before["offset_s"].to_numpy(dtype=float),
            "offset_s": after["offset_s"].to_numpy(dtype=float),
        }
    )


DELAY_COLORS = ("#c8c8c8", "#fee08b", "#fdae61", "#f46d43", "#a50026")
"""Link delay from little (grey, a backdrop) to the most (dark red)."""

DELAY_SHARES = (0.05, 0.2, 0.45, 0.7)
"""Bounds between the delay levels, as shares of the largest delay on a link."""


def delay_levels(*delays: np.ndarray) -> list[tuple[float, str, str]]:
    """Colour levels of the delay on every link, one scale for several maps of the network.

    The bounds are round numbers near :data:`DELAY_SHARES` of the largest delay on any link
    of any of the maps, so that a colour means the same delay before and after a change.

    Parameters
    ----------
    *delays : numpy.ndarray
        Delay of every link, vehicle-hours, of each map.

    Returns
    -------
    list of (float, str, str)
        Upper bound (exclusive; the last is infinite), legend label and colour of each level,
        least delay first; one level when no link has any.
    """
    top = max((float(np.nanmax(d)) for d in delays if len(d)), default=0.0)
    if not top > 0:
        return [(math.inf, "no delay", DELAY_COLORS[0])]
    bounds = sorted({float(f"{top * share:.1g}") for share in DELAY_SHARES})
    colors = DELAY_COLORS[: len(bounds)] + DELAY_COLORS[-1:]
    labels = [f"< {bounds[0]:g} veh·h"]
    labels += [f"{a:g}–{b:g} veh·h" for a, b in itertools.pairwise(bounds)]
    labels.append(f"≥ {bounds[-1]:g} veh·h")
    return list(zip([*bounds, math.inf], labels, colors, strict=True))


def level_of(values: np.ndarray, levels: Sequence[tuple[float, str, str]]) -> np.ndarray:
    """Index into ``levels`` of each value: the first level whose upper bound is above it.

    Parameters
    ----------
    values : numpy.ndarray
        One value per link (NaN counts as 0).
    levels : sequence of (float, str, str)
        Upper bound, label and colour of each level, bounds increasing
        (:func:`delay_levels`, :data:`dashboards.basemap.CONGESTION_LEVELS`).

    Returns
    -------
    numpy.ndarray
        Level indices.
    """
    limits = np.array([level[0] for level in levels])
    return np.searchsorted(limits, np.nan_to_num(np.asarray(values, dtype=float)), side="right")


# ------------------------------------------------------------------ uploads
class UploadError(ValueError):
    """An uploaded file the dashboard refuses; the message says why and what to do."""


def decode_upload(contents: str | None, filename: str | None, *, limit_bytes: int) -> bytes:
    """The bytes of a ``dcc.Upload`` (``data:<type>;base64,<data>``), refused over the limit."""
    if not contents:
        raise UploadError("No file received.")
    _, sep, data = contents.partition(",")
    if not sep:
        raise UploadError(f"{filename}: the upload is not base64 data.")
    # base64 is 4/3 of the size: refuse before decoding a huge string
    if len(data) * 3 // 4 > limit_bytes + 3:
        raise UploadError(
            f"{filename}: the file is larger than the limit of {limit_bytes / 2**20:.1f} MiB."
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{filename}: the upload is not valid base64 data.") from None
    if len(raw) > limit_bytes:
        raise UploadError(
            f"{filename}: the file is larger than the limit of {limit_bytes / 2**20:.1f} MiB."
        )
    return raw


OSM_MAGIC = {
    ".osm.pbf": None,  # checked by the 'OSMHeader' block type near the start
    ".osm.bz2": b"BZh",
    ".osm.gz": b"\x1f\x8b",
    ".osm": None,  # XML: checked for '<osm'
}


ROUNDS_SUFFIXES = (".csv", ".geojson", ".json", ".gpx")
"""The rounds files the twin reads (``twin.rounds``): ordered stops or collection points as CSV,
routes or tracks as GeoJSON or GPX."""


def check_rounds_name(filename: str | None) -> str:
    """The base name an uploaded rounds file is kept under, refused unless the twin reads its
    kind (a cheap check before the twin's own, which reports anything in the file).

    Parameters
    ----------
    filename : str or None
        The name the browser sent.

    Returns
    -------
    str
        The name without any folder (the browser's name must not choose one) or leading dots.

    Raises
    ------
    UploadError
        Not a .csv, .geojson, .json or .gpx file.
    """
    name = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1].lstrip(".")
    if not name.lower().endswith(ROUNDS_SUFFIXES):
        raise UploadError(
            f"{filename or 'the file'}: not a rounds file; upload the city's rounds as a CSV of "
            "stops (weekday, truck, stop, bin or lon/lat), a GeoJSON or a GPX file."
        )
    return name


def check_osm_bytes(raw: bytes, filename: str) -> str:
    """The OSM suffix of an uploaded extract whose content looks like that format (a cheap check
    before the real read, which reports anything deeper)."""
    name = (filename or "").lower()
    suffix = next((s for s in OSM_MAGIC if name.endswith(s)), None)
    if suffix is None:
        raise UploadError(
            f"{filename}: not an OSM extract; use a .osm, .osm.bz2, .osm.gz or .osm.pbf file."
        )
    head = raw[:1024]
    ok = {
        ".osm.pbf": b"OSMHeader" in head[:64],
        ".osm.bz2": head.startswith(b"BZh"),
        ".osm.gz": head.startswith(b"\x1f\x8b"),
        ".osm": b"<osm" in head,
    }[suffix]
    if not ok:
        raise UploadError(f"{filename}: the content is not a {suffix} file (damaged or renamed?).")
    if suffix in (".osm.bz2", ".osm.gz"):
        _check_unpacked(raw, suffix, filename)
    return suffix


PACKED_RATIO_LIMIT = 100
"""How many times its size a compressed upload may unpack to: OpenStreetMap XML packs about 10–20
times (bzip2, gzip), while a file of one repeated byte unpacks to millions of times its size,
which the reader unpacks whole before finding no streets in it (17 s of CPU for 1 GiB from an
850-byte file)."""
_PROBE_BYTES = 32 * 2**20
"""Unpacked bytes looked at: an upload larger than this over the ratio is let through to the
reader unchecked (the probe costs at most about a second)."""


def _check_unpacked(raw: bytes, suffix: str, filename: str) -> None:
    """Refuse a compressed upload that unpacks to more than :data:`PACKED_RATIO_LIMIT` times
    its size, or to something other than OSM XML, by unpacking at most :data:`_PROBE_BYTES`
    (every member of a multi-stream file in turn)."""
    limit = PACKED_RATIO_LIMIT * len(raw)
    unpacker, pending = _unpacker(suffix), raw
    head, produced = b"", 0
    try:
        while produced <= min(limit, _PROBE_BYTES):
            piece = unpacker.decompress(pending, max_length=2**20)
            pending = getattr(unpacker, "unconsumed_tail", b"")  # zlib's; bz2 keeps its own
            produced += len(piece)
            head += piece[: max(4096 - len(head), 0)]
            if unpacker.eof:
                if not unpacker.unused_data:
                    break
                unpacker, pending = _unpacker(suffix), unpacker.unused_data
            elif not piece and not pending:
                break  # all of it read: a truncated file, which the reader reports
    except (OSError, EOFError, zlib.error) as err:
        raise UploadError(
            f"{filename}: the file is damaged: its {suffix} data does not unpack ({err})."
        ) from None
    if produced > limit:
        raise UploadError(
            f"{filename}: unpacks to over {PACKED_RATIO_LIMIT} times its size, where "
            "OpenStreetMap extracts pack 10–20 times: not an extract. Export the extract "
            "again, or upload it as .osm.pbf."
        )
    if head and b"<osm" not in head:
        raise UploadError(
            f"{filename}: unpacked, it is not OpenStreetMap XML (no <osm> element at its start)."
        )


def _unpacker(suffix: str):
    """A streaming decompressor of one bzip2 stream or gzip member."""
    return bz2.BZ2Decompressor() if suffix == ".osm.bz2" else zlib.decompressobj(wbits=31)


def saved_digest(path: Path) -> str | None:
    """A digest of the scenario file saved at ``path`` (``None``: none is), by which the
    Scenarios page knows whether it is the version this browser saved or loaded."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def yaml_digest(scenario: Scenario) -> str:
    """The digest :func:`saved_digest` gives once ``scenario`` is saved."""
    return hashlib.sha256(scenario.to_yaml().encode("utf-8")).hexdigest()


def other_version(store: RunStore, scenario: Scenario, known: str | None) -> str | None:
    """The digest of another planner's version of ``scenario`` in ``store``, which saving
    ``scenario`` would replace; ``None`` where there is none.

    Parameters
    ----------
    store : RunStore
        The store the browsers share.
    scenario : Scenario
        The scenario about to be saved under its name.
    known : str or None
        The digest (:func:`saved_digest`) of the version of that name this browser saved or
        loaded last; ``None`` if none.

    Returns
    -------
    str or None
        The saved file's digest, unless no file of that name is saved, or the saved one is the
        version this browser knows, or it already holds ``scenario``.

    Raises
    ------
    StoreError
        The name is refused, or its file holds a scenario of another name
        (:meth:`RunStore.refuse_shared_file`).
    """
    there = saved_digest(store.refuse_shared_file(scenario.name))
    return None if there in (None, known, yaml_digest(scenario)) else there
