"""The pages' forms read into scenarios, with every bad value named beside its field.

A browser's number box hands the page no value at all (``None``) for text it cannot read, so a
form that skipped ``None`` ran the draft's old value in place of what the planner typed. Here
every field of a form counts: a blank box is a problem unless blank has a meaning (a fleet sized
to the city's waste; no trips when an OD table gives the demand), and every value is checked by
the twin's own parameter objects (:class:`twin.Scenario`, :class:`twin.TrafficSpec`,
:class:`twin.WasteSpec`), so the page says what the command line and a YAML file would say:
``traffic.trips: must be ≥ 0 (got -5)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from dashboards.logic import parse_signals, trucks_streets, with_strategy
from twin import (
    MAX_SEED,
    MAX_SIMULATIONS,
    SIGNAL_METHODS,
    Scenario,
    ScenarioError,
    TrafficSpec,
    WasteSpec,
    error_lines,
    short_repr,
)

__all__ = [
    "FORM_FIELDS",
    "PROPOSAL_METHODS",
    "ROUTE_LIMITS",
    "SIMULATIONS_MAX",
    "FormError",
    "FormField",
    "blank_message",
    "read_form",
    "read_proposal_form",
    "read_routes_form",
]


@dataclass(frozen=True)
class FormField:
    """Where a form field's value goes in a scenario.

    Parameters
    ----------
    section : str or None
        ``"traffic"``, ``"waste"``, or ``None`` for a top-level field.
    locations : tuple of tuple
        Scenario locations whose problems are this field's (minutes set ``duration`` and
        ``window``).
    """

    section: str | None
    locations: tuple[tuple[str, ...], ...]


FORM_FIELDS: dict[str, FormField] = {
    "name": FormField(None, (("name",),)),
    "seed": FormField(None, (("seed",),)),
    "trips": FormField("traffic", (("traffic", "trips"),)),
    "duration_min": FormField("traffic", (("traffic", "duration"), ("traffic", "window"))),
    "demand_scale": FormField("traffic", (("traffic", "demand_scale"),)),
    "signals": FormField("traffic", (("traffic", "signals"),)),
    "days": FormField("waste", (("waste", "days"),)),
    "policy": FormField("waste", (("waste", "policy"), ("waste", "planner"))),
    "trucks": FormField("waste", (("waste", "trucks"),)),
    # PyVRP iterations a day from the learned planner's plans (blank: none)
    "polish_iterations": FormField("waste", (("waste", "polish_iterations"),)),
    # what the city pays (blank: the twin's documented defaults, agents.waste.costs)
    "truck_hour_eur": FormField("waste", (("waste", "costs", "truck_hour_eur"),)),
    "truck_km_eur": FormField("waste", (("waste", "costs", "truck_km_eur"),)),
    # the Waste page's traffic: trips over the shift the trucks drive among (blank: none)
    "shift_trips": FormField("traffic", (("traffic", "trips"),)),
}
"""The form keys the pages use, by :func:`read_form` keyword."""

_MODELS: dict[str | None, type[BaseModel]] = {
    None: Scenario,
    "traffic": TrafficSpec,
    "waste": WasteSpec,
}


class FormError(ScenarioError):
    """Form values the twin refuses.

    Parameters
    ----------
    problems : dict
        One line per field key (``""``: a problem of no single field), in the twin's words.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("\n".join(problems.values()))
        self.problems = dict(problems)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _bounds(model: type[BaseModel], name: str) -> str:
    """``from 0 to 10,000,000`` (or ``≥ 1``, ``> 0``…) from a field's constraints."""
    low = high = None
    for rule in model.model_fields[name].metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">")):
            if getattr(rule, attr, None) is not None:
                low = (sign, getattr(rule, attr))
        for attr, sign in (("le", "≤"), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                high = (sign, getattr(rule, attr))
    if high is not None and abs(high[1]) >= 1e12:
        high = None  # a seed's 2**63 − 1 says nothing a planner needs

    def number(x: float) -> str:
        return f"{x:,}" if float(x).is_integer() else f"{x:g}"

    if low and high and low[0] == "≥" and high[0] == "≤":
        return f"from {number(low[1])} to {number(high[1])}"
    parts = [f"{bound[0]} {number(bound[1])}" for bound in (low, high) if bound]
    return " and ".join(parts)


def blank_message(key: str) -> str:
    """What a blank ``key`` field says: the field, what to give and the allowed range.

    Parameters
    ----------
    key : str
        A key of :data:`FORM_FIELDS`.

    Returns
    -------
    str
        E.g. ``"traffic.trips: give a whole number from 0 to 10,000,000"``.
    """
    if key == "duration_min":
        # the twin's rule, in the minutes the form asks for
        where, _, rule = _spec_line({"duration": "0min"}, "duration").partition(": ")
        return f"{where}: give the simulated minutes ({rule.split(' (got')[0]})"
    if key == "policy":
        return "waste.policy: choose a policy"
    form_field = FORM_FIELDS[key]
    model = _MODELS[form_field.section]
    name = form_field.locations[0][-1]
    whole = "int" in str(model.model_fields[name].annotation)
    kind = "a whole number" if whole else "a number"
    where = ".".join(form_field.locations[0])
    bounds = _bounds(model, name)
    return f"{where}: give {kind}" + (f" {bounds}" if bounds else "")


def _plain(number: float) -> str:
    """A number as a duration's text, never in exponent form (``1e+06min`` reads as nothing)."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def _minutes(value: Any) -> float | None:
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        return None
    return minutes if math.isfinite(minutes) else None


def read_form(
    draft: Mapping[str, Any], values: Mapping[str, Any], *, section: str | None = None
) -> Scenario:
    """The draft with a form's values, validated as a scenario.

    Parameters
    ----------
    draft : mapping
        The draft scenario (JSON form of :class:`twin.Scenario`).
    values : mapping
        Form values by key of :data:`FORM_FIELDS`; every key given is applied, ``None`` and
        blank text included. Blank means: no trips when the draft's traffic reads an OD table,
        a fleet sized to the city's waste for ``trucks``, no polish of the learned planner's
        plans, no signal retimings, no traffic for the trucks (``shift_trips``); elsewhere it
        is a problem. A polish goes with the learned
        planner: with any other policy it is dropped, as the page greys its box out.
    section : str, optional
        ``"traffic"`` or ``"waste"``: the scenario of that section only (what the Traffic,
        Waste and Plans pages run). Waste runs on the draft's streets, its closures and edge
        changes, and among traffic only with ``shift_trips`` (trips over the shift, through
        the draft's signals): :func:`dashboards.logic.trucks_streets`. ``None``: both
        sections; one the draft lacks stays absent while all its fields are blank (the
        Scenarios page).

    Returns
    -------
    twin.Scenario
        The validated scenario.

    Raises
    ------
    FormError
        Every problem, one line each, by field key.
    """
    data = copy.deepcopy(dict(draft))
    parts: dict[str, dict[str, Any]] = {
        name: dict(data.get(name) or {}) for name in ("traffic", "waste")
    }
    # a section the draft lacks and whose fields are all blank stays absent (Scenarios page)
    absent = {
        name
        for name in parts
        if draft.get(name) is None
        and all(_blank(v) for k, v in values.items() if FORM_FIELDS[k].section == name)
    }
    problems: dict[str, str] = {}
    shift_trips = None
    # the policy last: switching it drops what only the learned planner takes, whatever the
    # order of the form's boxes
    for key, value in sorted(values.items(), key=lambda item: item[0] == "policy"):
        form_field = FORM_FIELDS[key]
        if key == "shift_trips":
            shift_trips = None if _blank(value) else value  # the waste section's, below
            continue
        target = data if form_field.section is None else parts[form_field.section]
        if form_field.section in absent:
            continue
        if key == "name":
            target["name"] = "" if value is None else str(value).strip()
        elif key == "signals":
            try:
                target["signals"] = parse_signals(value or "")
            except ScenarioError as err:
                problems[key] = f"traffic.signals: {err}"
        elif form_field.locations[0][1:2] == ("costs",):
            costs, name = dict(target.get("costs") or {}), form_field.locations[0][-1]
            if _blank(value):
                costs.pop(name, None)  # the twin's default
            else:
                costs[name] = value
            target["costs"] = costs
        elif key == "trucks" and _blank(value):
            target["trucks"] = None  # sized to the city's waste
        elif key == "polish_iterations" and _blank(value):
            target["polish_iterations"] = 0  # the learned plans as they are
        elif key == "trips" and _blank(value) and target.get("od"):
            target["trips"] = None  # the OD table is the demand
        elif _blank(value):
            problems[key] = blank_message(key)
        elif key == "policy":
            # a rounds file or an objective the new policy cannot take goes with the old one
            target.update(with_strategy(target, str(value)))
        elif key == "duration_min":
            minutes = _minutes(value)
            if minutes is None:
                problems[key] = f"{blank_message(key)} (got {short_repr(value)})"
            elif minutes < 0:
                # "-5min" is no duration text at all: the twin's message for 0, with the value
                target["duration"] = target["window"] = "0min"
                problems[key] = _spec_line(target, "duration").replace(
                    "'0min'", f"'{_plain(minutes)}min'"
                )
            else:
                target["duration"] = f"{_plain(minutes)}min"
                if target.get("od"):
                    target.pop("window", None)  # the table's rows carry their departures
                else:
                    target["window"] = f"{_plain(minutes / 2)}min"  # departures in the first half
        else:
            target[form_field.locations[0][-1]] = value
    for name, part in parts.items():
        if name in absent:
            data[name] = None
        elif section is None or section == name:
            data[name] = part
        else:
            data[name] = None
    if section == "traffic" and data["traffic"] is not None:
        data["traffic"]["simulate"] = True  # a file's streets-only section runs here too
    if section == "waste" and data["waste"] is not None:
        # the trucks drive the draft's streets, among traffic only where the form gives trips
        data["traffic"] = trucks_streets(parts["traffic"], shift_trips=shift_trips)
        data["waste"]["traffic_coupling"] = shift_trips is not None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        for location, line in error_lines(err):
            key = _field_of(location, values)
            problems.setdefault(key, line)  # the first problem of a field is enough
        raise FormError(problems) from None
    if problems:
        raise FormError(problems)
    return scenario


def _spec_line(traffic: dict[str, Any], name: str) -> str:
    """The twin's message for the traffic section's field ``name``."""
    try:
        TrafficSpec.model_validate(traffic)
    except ValidationError as err:
        for where, line in error_lines(err, prefix=("traffic",)):
            if where[1:] == (name,):
                return line
    return f"traffic.{name}: must be more than 0"


def _field_of(location: tuple[Any, ...], values: Mapping[str, Any]) -> str:
    """The form key whose field a problem at ``location`` belongs to (``""``: none of this
    form's fields)."""
    for key in values:
        for prefix in FORM_FIELDS[key].locations:
            if tuple(location[: len(prefix)]) == prefix:
                return key
    return ""


# ------------------------------------------------------------------ signal-plan proposals
PROPOSAL_METHODS = SIGNAL_METHODS
"""The twin's ways to time the junctions (:func:`twin.propose_signals`'s ``method``), as the
Plans page offers them."""

SIMULATIONS_MAX = MAX_SIMULATIONS
"""The largest search budget the twin takes: the form says so beside the field instead of
after a click."""


def _number(
    value: Any, name: str, low: float, high: float | None, *, whole: bool = True
) -> tuple[Any, str | None]:
    """A form's number, or the line that says what is wrong with it: ``name: give …`` for a
    blank box, ``name: must be … (got value)`` for one outside ``low``–``high`` (``None``: no
    upper bound) or, with ``whole``, not a whole number."""
    kind = "a whole number" if whole else "a number"
    bounds = f"from {low:,} to {high:,}" if high is not None else f"≥ {low:,}"
    rule = f"{kind} {bounds}"
    if _blank(value):
        return None, f"{name}: give {rule}"
    number = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (not whole or float(value).is_integer())
    )
    if not number or value < low or (high is not None and value > high):
        return None, f"{name}: must be {rule} (got {short_repr(value)})"
    return (int(value) if whole else float(value)), None


def _simulations(value: Any) -> tuple[int | None, str | None]:
    """The search's budget from a form value, or the line that says what is wrong with it."""
    return _number(value, "simulations", 1, SIMULATIONS_MAX)


def read_proposal_form(draft: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """What the Plans page asks the twin to propose signal plans for: the draft's traffic and
    seed, and the form's method and search budget.

    Parameters
    ----------
    draft : mapping
        The draft scenario (its ``traffic`` section and ``seed`` are what the plans are
        proposed for and checked on).
    values : mapping
        ``method`` (a key of :data:`PROPOSAL_METHODS`) and ``simulations`` (the search's
        budget; not read for Webster's method).

    Returns
    -------
    dict
        ``spec`` (the traffic section, validated), ``seed``, ``method`` and ``simulations``
        (``None`` for Webster's method): JSON data, the proposal's key in the store.

    Raises
    ------
    FormError
        Every problem, by field key (``""``: the draft's traffic, no field of this form).
    """
    problems: dict[str, str] = {}
    method = values.get("method")
    if method not in PROPOSAL_METHODS:
        problems["method"] = (
            f"method: choose one of {', '.join(PROPOSAL_METHODS)} (got {short_repr(method)})"
        )
    simulations = None
    if method == "search":
        simulations, problem = _simulations(values.get("simulations"))
        if problem:
            problems["simulations"] = problem
    try:
        scenario = read_form(draft, {}, section="traffic")
    except FormError as err:
        problems[""] = next(iter(err.problems.values()))
    if problems:
        raise FormError(problems)
    return {
        "spec": scenario.traffic.model_dump(mode="json"),
        "seed": scenario.seed,
        "method": method,
        "simulations": simulations,
    }


# ------------------------------------------------------------------ collection-route proposals
ROUTE_LIMITS: dict[str, tuple[float, float | None, bool]] = {
    "bins": (1, 1000, True),
    "trucks": (1, 1000, True),
    "seed": (0, MAX_SEED, True),
    "polish_s": (0, 60, False),
}
"""Low, high (``None``: none) and whether whole, of each field of a route proposal's form: a
day the dashboard plans in seconds (the twin says where a city has fewer bins; ``twin
propose`` plans larger days and polishes longer)."""

ROUTE_OUTSIDE_RANGE = "attempt"
"""What the learned planner does with a day outside its training range, on the Plans page: it
plans it, and the proposal says which figures are outside (its notes). The day's checks judge
the plan all the same, so the planner sees both (``twin propose`` refuses such a day unless
asked)."""


def read_routes_form(draft: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """What the Plans page asks the twin to propose a day's collection routes for.

    Parameters
    ----------
    draft : mapping
        The draft scenario (not read: a route proposal is of a day of its own; the argument
        keeps the signature of the form checks, :func:`dashboards.components.register_form_check`).
    values : mapping
        ``bins``, ``trucks``, ``seed`` and ``polish_s`` (PyVRP's polish, seconds).

    Returns
    -------
    dict
        Those values checked, and ``outside_range`` (:data:`ROUTE_OUTSIDE_RANGE`): JSON data,
        the proposal's key in the store.

    Raises
    ------
    FormError
        Every problem, by field key.
    """
    request: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, (low, high, whole) in ROUTE_LIMITS.items():
        request[name], problem = _number(values.get(name), name, low, high, whole=whole)
        if problem:
            problems[name] = problem
    if problems:
        raise FormError(problems)
    return {**request, "outside_range": ROUTE_OUTSIDE_RANGE}
