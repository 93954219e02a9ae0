"""The parameter objects of every run: one set of names, bounds, defaults and error messages.

:class:`TrafficSpec`, :class:`WasteSpec` and :class:`Scenario` are what a run takes, whichever
door it comes through: the Python API (``run_traffic(city, spec)``, or its keyword fields), the
``twin`` command's options, a YAML scenario file, a sweep's overrides and the dashboard's forms
all build these objects, and every value is checked here once. A bad value is refused with one
line that names the field, what is allowed and what was given (:func:`spec_error`), before the
city is loaded or anything is written.
"""

from __future__ import annotations

import math
import numbers
import os
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agents.waste.costs import DEFAULT_COSTS, OBJECTIVES
from agents.waste.names import GIVEN_ROUTES, PLAN_TIMES, PLANNERS, POLICIES
from cities.interventions import CloseEdge
from twin.errors import TwinError
from twin.units import parse_duration, read_seconds

__all__ = [
    "MAX_DAYS",
    "MAX_DURATION_S",
    "MAX_SEED",
    "MAX_TRIPS",
    "PLANNERS",
    "POLICIES",
    "SIGNAL_PLAN_NAMES",
    "BinsSpec",
    "CostsSpec",
    "EdgeChange",
    "OutputsSpec",
    "Scenario",
    "ScenarioError",
    "SignalTiming",
    "TrafficSpec",
    "WasteSpec",
    "check_seed",
    "short_repr",
    "spec_error",
    "traffic_spec",
    "waste_spec",
]

LEGACY_POLICIES = {"greedy": "greedy", "pyvrp": "pyvrp", "learned": "learned"}
"""Policy names of files written before ``policy`` and ``planner`` were split: each meant the
forecast policy routed by its namesake."""

MAX_TRIPS = 10_000_000
"""Most generated trips one run takes; far beyond a metropolitan peak hour, and short of what
would exhaust memory before the resource check (:mod:`twin.limits`) could weigh the run."""

MAX_DURATION_S = 48 * 3600.0
"""Longest simulated traffic period: two days."""

MAX_DAYS = 3660
"""Longest waste run: ten years of days."""

MAX_FORECAST_DAYS = 14
"""Most days of traffic a forecast of the trucks' travel times averages (each one more traffic
simulation of the shift): two weeks of working days is what a city's history would give."""

MAX_TRUCKS = 1000
"""Largest fleet a run may have (a city of a few million needs a few hundred trucks)."""

MAX_SEED = 2**63 - 1

_REPR_CHARS = 60


class ScenarioError(TwinError):
    """Parameters that cannot be used; the message names every problem found, one per line."""


def short_repr(value: Any, limit: int = _REPR_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message never quotes a large input (nor
    spends time and memory writing one out, as a YAML file of nested aliases would make it)."""
    if isinstance(value, Mapping):
        small = len(value) <= 4 and all(_scalar(k) and _scalar(v) for k, v in value.items())
        text = repr(dict(value)) if small else f"a mapping of {len(value)} fields"
    elif isinstance(value, list | tuple):
        small = len(value) <= 8 and all(_scalar(v) for v in value)
        text = repr(value) if small else f"a list of {len(value)} items"
    elif _scalar(value):
        text = repr(value[: limit + 1] if isinstance(value, str) else value)
    else:
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None))


def _as_text(value: Any) -> Any:
    """Paths given as ``pathlib.Path`` are taken as their text."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


PathText = Annotated[str, BeforeValidator(_as_text)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="seed of every random choice")]


def _leaf_types(annotation: Any) -> set[Any]:
    """The plain types a field's annotation is made of (through unions, ``Annotated``)."""
    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    if typing.get_origin(annotation) is Literal:
        return {type(arg) for arg in args}
    return set().union(*(_leaf_types(arg) for arg in args))


def _is_number_field(annotation: Any) -> bool:
    """Whether a field holds a number and not ``true``/``false``."""
    leaves = _leaf_types(annotation)
    return bool(leaves & {int, float}) and bool not in leaves


class _RefusedInOneLine(type(BaseModel)):
    """A section built by hand from Python (``TrafficSpec(trips=-3)``) refuses a bad value
    with the same one line per field as a scenario file, not pydantic's report.

    On the class's call, not in ``__init__``: pydantic calls an overridden ``__init__`` for
    every nested section too, which would cut a file's report at its first section."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as err:
            raise spec_error(err, prefix=cls._where) from None


class _Strict(BaseModel, metaclass=_RefusedInOneLine):
    # floats must be finite: inf and nan are never a sensible setting
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    _where: ClassVar[tuple[str, ...]] = ()
    """Where the section sits in a scenario, the head of each field named in an error."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1: `trucks: true` or `trips: yes` would run one truck or trip
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number_field(field.annotation):
            raise PydanticCustomError("bool_for_number", "must be a number, not true or false")
        return value


def _duration(value: str | float, what: str, *, maximum_s: float) -> str | float:
    seconds = read_seconds(value)
    if math.isnan(seconds):
        raise ValueError(
            f"cannot read the {what}: write seconds (5400) or hours, minutes and seconds such "
            "as 2h, 90min, 1h30m"
        )
    if not 0 < seconds <= maximum_s:
        raise ValueError(f"the {what} must be more than 0 and at most {maximum_s / 3600:g} h")
    if seconds < BARE_SECONDS_MINIMUM and _is_bare_number(value):
        # "shift: 8" meant hours; read as 8 seconds it ran trucks that could empty nothing
        n = f"{seconds:g}"
        raise ValueError(
            f"the {what} {n} has no unit, so it reads as {n} seconds: write {n}h for hours or "
            f"{n}min for minutes (or {n}s if you mean seconds)"
        )
    return value


BARE_SECONDS_MINIMUM = 60.0
"""A duration written as a bare number of fewer seconds than this is refused as ambiguous."""


def _is_bare_number(value: str | float) -> bool:
    if isinstance(value, int | float):
        return True
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


class EdgeChange(_Strict):
    """New lanes, capacity or speed limit for an edge (``"u-v"`` OSM node ids) or a way."""

    _where = ("traffic", "change")

    edge: str | None = Field(None, max_length=200, description='"u-v" or "u-v-key" (OSM ids)')
    way: int | None = Field(None, ge=0, description="OSM way id: every edge of the way")
    lanes: int | None = Field(None, ge=1, le=10)
    capacity_vph: float | None = Field(None, gt=0, le=100_000)
    speed_kph: float | None = Field(None, gt=0, le=200)

    @model_validator(mode="after")
    def _one_target(self) -> EdgeChange:
        if (self.edge is None) == (self.way is None):
            raise ValueError("name exactly one of 'edge' or 'way'")
        if self.lanes is None and self.capacity_vph is None and self.speed_kph is None:
            raise ValueError("change at least one of lanes, capacity_vph, speed_kph")
        return self


SIGNAL_PLAN_NAMES = ("default", "webster", "learned")
"""Signal plans a scenario names rather than gives as a file (see ``TrafficSpec.signal_plan``)."""


class SignalTiming(_Strict):
    """New green times (one per phase of the junction's plan) for a signalized OSM node."""

    _where = ("traffic", "signals")

    node: int = Field(ge=0, description="OSM id of a node tagged highway=traffic_signals")
    greens_s: list[float] = Field(
        min_length=1, max_length=16, description="green time of each phase, seconds"
    )
    offset_s: float = Field(0.0, ge=0, le=3600)

    @field_validator("greens_s")
    @classmethod
    def _non_negative(cls, greens: list[float]) -> list[float]:
        if any(not 0 <= g <= 600 for g in greens):
            raise ValueError("green times must be 0–600 s")
        return greens


class TrafficSpec(_Strict):
    """A traffic run: demand, period, route choice and the scenario's edits of the network."""

    _where = ("traffic",)

    trips: int | None = Field(
        None,
        ge=0,
        le=MAX_TRIPS,
        description="generated home → work trips (neither this nor 'od': the city's "
        "peak-hour rate over the departure window)",
    )
    od: PathText | None = Field(
        None, max_length=4096, description="OD table (CSV/Parquet), relative to the file"
    )
    duration: str | float = Field("2h", description="simulated time, e.g. 2h (at most 48 h)")
    window: str | float | None = Field(
        None, description="departures spread over this span (default: half the duration)"
    )
    dt_s: float = Field(2.0, gt=0, le=60, description="time step, seconds")
    reroute_share: float = Field(
        0.2, ge=0, le=1, description="share of drivers re-routing on current travel times"
    )
    route_cost: Literal["instantaneous", "experienced"] = Field(
        "instantaneous",
        description="how re-routing drivers price a link: instantaneous (the mean speed of the "
        "vehicles on it, as UXsim) or experienced (the time vehicles took to leave it)",
    )
    profile: Literal["flat", "peak"] = "flat"
    demand_scale: float = Field(1.0, ge=0, le=100, description="multiply the demand by this")
    close: list[str] = Field(
        default_factory=list, max_length=10_000, description='"u-v" edges or "way:ID"'
    )
    change: list[EdgeChange] = Field(default_factory=list, max_length=10_000)
    signal_plan: PathText = Field(
        "default",
        min_length=1,
        max_length=4096,
        description="signal plans: 'default' (two phases from OSM), 'webster' (Webster's "
        "method from the run's own flows), 'learned' (the shipped learned planner) or a plan "
        "file (CSV, relative to the file; `twin propose-signals --out` writes one); 'signals' "
        "retime junctions on top",
    )
    signals: list[SignalTiming] = Field(default_factory=list, max_length=10_000)
    on_invalid: Literal["skip", "error"] = Field(
        "skip", description="OD rows with unknown nodes and unroutable trips: skip or error"
    )
    simulate: bool = Field(
        True,
        description="false: a scenario runs no traffic of its own; the section only sets the "
        "streets the waste trucks drive (closures, changes) and, with waste.traffic_coupling, "
        "the trips and signals they drive among",
    )

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | float) -> str | float:
        return _duration(value, "duration", maximum_s=MAX_DURATION_S)

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str | float | None) -> str | float | None:
        if value is None:
            return None
        return _duration(value, "departure window", maximum_s=MAX_DURATION_S)

    @field_validator("close")
    @classmethod
    def _check_close(cls, refs: list[str]) -> list[str]:
        for ref in refs:
            try:
                CloseEdge.parse(ref)
            except TwinError as err:
                raise ValueError(str(err).rstrip(".")) from None
        return refs

    @model_validator(mode="after")
    def _demand(self) -> TrafficSpec:
        if self.trips is not None and self.od is not None:
            raise ValueError("give 'trips' (a number) or 'od' (an OD table), not both")
        if self.window is not None and self.window_s > self.duration_s:
            raise ValueError(
                f"traffic.window: departures over {self.window} would go on after the run "
                f"ends at {self.duration}: shorten the window or lengthen the duration"
            )
        return self

    @property
    def duration_s(self) -> float:
        return parse_duration(self.duration)

    @property
    def window_s(self) -> float:
        """The departure window in seconds (half the duration unless set)."""
        if self.window is None:
            return self.duration_s / 2
        return parse_duration(self.window, what="departure window")

    @property
    def closures(self) -> list[CloseEdge]:
        """``close`` as :class:`~cities.interventions.CloseEdge` objects (checked on
        validation)."""
        return [CloseEdge.parse(ref) for ref in self.close]

    def scaled_trips(self) -> int | None:
        """Generated trips after ``demand_scale`` (``None`` for an OD table or the default)."""
        return None if self.trips is None else round(self.trips * self.demand_scale)


class BinsSpec(_Strict):
    """Where bins come from and how many are placed."""

    _where = ("waste", "bins")

    use_osm: bool = Field(True, description="use the file's mapped containers where enough")
    residents_per_bin: float = Field(
        18.0, ge=1, le=10_000, description="residents per placed container"
    )


def _split_legacy_policy(data: Any) -> Any:
    """Files from before the split say ``policy: pyvrp`` (or greedy, learned): the forecast
    policy routed by that planner."""
    if isinstance(data, Mapping) and data.get("policy") in LEGACY_POLICIES:
        if "planner" in data:
            raise ValueError(
                f"policy: {short_repr(data['policy'])} names a planner; set policy to one of "
                f"{', '.join(POLICIES)} and keep planner: {short_repr(data['planner'])}"
            )
        data = {**data, "policy": "forecast", "planner": LEGACY_POLICIES[data["policy"]]}
    return data


class CostsSpec(_Strict):
    """What the city pays, for the euros and CO2 figures and the ``euros`` objective
    (defaults and their sources: :mod:`agents.waste.costs`)."""

    _where = ("waste", "costs")

    truck_hour_eur: float = Field(
        DEFAULT_COSTS.truck_hour_eur, ge=0, le=10_000, description="a truck-hour with its crew, €"
    )
    truck_km_eur: float = Field(
        DEFAULT_COSTS.truck_km_eur,
        ge=0,
        le=1_000,
        description="a truck-km (fuel, tyres, upkeep), €",
    )
    diesel_l_per_km: float = Field(
        DEFAULT_COSTS.diesel_l_per_km, ge=0, le=10, description="diesel per truck-km, litres"
    )
    co2_kg_per_diesel_l: float = Field(
        DEFAULT_COSTS.co2_kg_per_diesel_l, ge=0, le=10, description="CO2 per litre of diesel, kg"
    )
    overflow_eur: float = Field(
        DEFAULT_COSTS.overflow_eur,
        ge=0,
        le=100_000,
        description="a bin overflowing before it is emptied (cleaning, complaints), €; "
        "steers the euros and hours plans",
    )


class WasteSpec(_Strict):
    """A waste-collection run: its days, policy, planner and fleet."""

    _where = ("waste",)

    days: int = Field(28, ge=1, le=MAX_DAYS, description="simulated days; day 0 is a Monday")
    policy: Literal[POLICIES] = Field(
        "forecast",
        description="which bins are emptied when: fixed weekly rounds routed by the planner "
        "(schedule) or drawn by hand street by street (hand-drawn), the city's own rounds from "
        "a file (current, needs rounds), every bin past its fill threshold (threshold), or bins "
        "forecast to overflow plus optional ones worth the detour (forecast)",
    )
    objective: Literal[OBJECTIVES] = Field(
        "km",
        description="what the planner minimises: truck-km, truck-hours or euros (at costs); "
        "hours and euros need planner pyvrp",
    )
    plan_times: Literal[PLAN_TIMES] = Field(
        "time-of-day",
        description="travel times the days are planned on: those of the hours the trucks drive "
        "(time-of-day; from traffic with traffic_coupling) or free-flow times",
    )
    costs: CostsSpec = Field(default_factory=CostsSpec)
    rounds: PathText | None = Field(
        None,
        max_length=4096,
        description="with policy 'current': the city's rounds (CSV of stops per truck and "
        "weekday, GeoJSON or GPX of routes, or collection points with weekdays), relative to "
        "the file",
    )
    planner: Literal[PLANNERS] = Field(
        "pyvrp",
        description="who routes the trucks: PyVRP's solver, nearest neighbour (greedy), or the "
        "trained model (learned; days outside its training range go to PyVRP)",
    )
    trucks: int | None = Field(
        None, ge=1, le=MAX_TRUCKS, description="fleet size (default: sized to the city's waste)"
    )
    truck_capacity_kg: float = Field(10_000.0, gt=0, le=100_000, description="payload, kg")
    shift: str | float = Field("8h", description="longest shift, depot to depot (at most 24 h)")
    solver_time_s: float = Field(
        60.0, gt=0, le=600, description="PyVRP's time limit per day: a safety cap"
    )
    solver_iterations: int | None = Field(
        1000,
        ge=1,
        le=10_000_000,
        description="PyVRP stops after this many iterations a day; this limit, not the time, "
        "makes a run repeat bit for bit (null: the time limit alone)",
    )
    population: float | None = Field(
        None, gt=0, le=50_000_000, description="residents served (default: from the OSM file)"
    )
    bins: BinsSpec = Field(default_factory=BinsSpec)
    depot: tuple[float, float] | None = Field(None, description="lon, lat")
    disposal: tuple[float, float] | None = Field(None, description="lon, lat")
    traffic_coupling: bool = Field(
        False,
        description="time trucks on the traffic section's travel times (needs traffic.trips)",
    )
    forecast_days: int = Field(
        0,
        ge=0,
        le=MAX_FORECAST_DAYS,
        description="with traffic_coupling and time-of-day plans: plan on the mean travel "
        "times of this many other days' traffic (the same trips drawn again), as a city plans "
        "on past days; 0 plans on the very traffic the trucks drive in (a perfect forecast)",
    )
    checkpoint: PathText | None = Field(
        None,
        max_length=4096,
        description="with planner 'learned': a trained planner's checkpoint, relative to the "
        "file (default: the shipped planner); days outside its training range are planned by "
        "PyVRP",
    )
    polish_iterations: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="with planner 'learned': PyVRP iterations a day that polish the model's "
        "plan, starting from it (0: the model's plan as it is); solver_time_s caps their time",
    )

    _legacy = model_validator(mode="before")(_split_legacy_policy)

    @field_validator("shift")
    @classmethod
    def _check_shift(cls, value: str | float) -> str | float:
        return _duration(value, "shift", maximum_s=24 * 3600.0)

    @field_validator("depot", "disposal")
    @classmethod
    def _lonlat(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
            raise ValueError("a position is lon, lat: longitude −180–180, latitude −90–90")
        return value

    @model_validator(mode="after")
    def _rounds_for_current(self) -> WasteSpec:
        if self.policy == "current" and self.rounds is None:
            raise ValueError(
                "waste.rounds: policy 'current' drives the city's own rounds: give their file "
                "(--rounds FILE, or rounds: FILE in a scenario), or choose policy hand-drawn "
                "when the city has none"
            )
        if self.rounds is not None and self.policy != "current":
            raise ValueError(
                f"waste.rounds: a rounds file is driven by policy 'current', not "
                f"{short_repr(self.policy)} (set that policy, or remove the rounds)"
            )
        given = self.policy in GIVEN_ROUTES
        if self.objective != "km" and self.planner != "pyvrp" and not given:
            raise ValueError(
                f"waste.objective: {short_repr(self.objective)} is planned by PyVRP; the "
                f"{short_repr(self.planner)} planner minimises km (set planner pyvrp, or "
                "objective km)"
            )
        return self

    @model_validator(mode="after")
    def _forecast_for_timed_plans(self) -> WasteSpec:
        if self.forecast_days and not self.traffic_coupling:
            raise ValueError(
                "waste.forecast_days: the forecast is other days of the traffic the trucks "
                "drive in: set traffic_coupling (with traffic.trips), or forecast_days 0"
            )
        if self.forecast_days and self.plan_times != "time-of-day":
            raise ValueError(
                f"waste.forecast_days: plans made on {short_repr(self.plan_times)} times use "
                "no forecast: set plan_times time-of-day, or forecast_days 0"
            )
        return self

    @model_validator(mode="after")
    def _checkpoint_for_learned(self) -> WasteSpec:
        if self.checkpoint is not None and self.planner != "learned":
            raise ValueError(
                f"waste.checkpoint: a checkpoint is for planner 'learned', not "
                f"{short_repr(self.planner)} (set that planner, or remove the checkpoint)"
            )
        if self.polish_iterations and self.planner != "learned":
            raise ValueError(
                "waste.polish_iterations: polishing starts from the learned planner's plan, "
                f"and the planner is {short_repr(self.planner)} (set planner learned, or "
                "polish_iterations 0)"
            )
        return self

    @property
    def shift_s(self) -> float:
        return parse_duration(self.shift, what="shift")


class OutputsSpec(_Strict):
    """What a run writes besides KPIs and Parquet tables."""

    _where = ("outputs",)

    formats: list[Literal["geojson", "gpkg", "ngsi-ld"]] = Field(
        default_factory=lambda: ["geojson"],
        max_length=3,
        description="route/bin maps (geojson, gpkg) and FIWARE NGSI-LD entities (ngsi-ld)",
    )


class Scenario(_Strict):
    """A validated scenario (``extends`` already applied)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    city: str = Field(
        min_length=1,
        max_length=4096,
        description="a city name from `twin cities`, or an OSM file path",
    )
    seed: Seed = 0
    traffic: TrafficSpec | None = None
    waste: WasteSpec | None = None
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)

    @model_validator(mode="after")
    def _something_to_run(self) -> Scenario:
        if self.traffic is None and self.waste is None:
            raise ValueError("a scenario needs a 'traffic' or a 'waste' section (or both)")
        if self.traffic is not None and not self.traffic.simulate and self.waste is None:
            raise ValueError(
                "traffic.simulate: false runs no traffic, and there is no waste section whose "
                "streets it would set: nothing would run (set simulate true, or add a waste "
                "section)"
            )
        if self.waste is not None and self.waste.traffic_coupling:
            if self.traffic is None:
                raise ValueError("waste.traffic_coupling: needs a 'traffic' section")
            if self.traffic.trips is None:
                raise ValueError(
                    "waste.traffic_coupling: the trucks drive among generated trips: give "
                    "traffic.trips (an OD table or the default demand cannot be spread over "
                    "the shift)"
                )
        return self

    def to_yaml(self) -> str:
        """The resolved scenario as YAML (what a run writes next to its results)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ------------------------------------------------------------------------------ errors
_PHRASES = {
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must not be empty",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} items",
    "list_type": "must be a list",
    "tuple_type": "must be a pair",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
}


def describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``what is wrong (got value)``, the value cut short."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (remove it, or check its spelling against `twin scenario schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "cross_field":
        return error["msg"]
    context = error.get("ctx") or {}
    if kind == "literal_error":
        message = f"must be one of {context.get('expected', '')}"
    elif kind in _PHRASES:
        message = _PHRASES[kind].format(**{k: _number(v) for k, v in context.items()})
    else:
        message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if "input" not in error or (kind == "value_error" and isinstance(value, Mapping)):
        # a rule across a section's fields: the message names them, the mapping says nothing
        return message
    return f"{message} (got {short_repr(value)})"


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if abs(value) >= 10_000 else value


def error_lines(err: ValidationError, *, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple, str]]:
    """Every problem of a validation error as ``(location, "field: problem")``; a rule across
    fields that names the field at fault (``"traffic.window: …"``) is reported there."""
    lines = []
    for error in err.errors(include_url=False):
        loc = (*prefix, *error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        head, _, rest = message.partition(": ")
        if error["type"] == "value_error" and "." in head and " " not in head and rest:
            # the rule names the field at fault: report it there
            loc = tuple(int(p) if p.isdigit() else p for p in head.split("."))
            error = {"type": "cross_field", "msg": rest}
        field = ".".join(str(p) for p in loc) or "(scenario)"
        if len(field) > 80:  # an unknown key may be as long as the file allows
            field = field[:79] + "…"
        lines.append((loc, f"{field}: {describe(error)}"))
    return lines


def spec_error(err: ValidationError, *, prefix: tuple[Any, ...] = ()) -> ScenarioError:
    """A :class:`ScenarioError` of one line per problem: ``field: problem (got value)``."""
    return ScenarioError("\n".join(line for _, line in error_lines(err, prefix=prefix)))


def _validated(model: type[BaseModel], data: Any, fields: Mapping[str, Any], prefix: tuple):
    if isinstance(data, model) and not fields:
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    merged = {**(data or {}), **fields}
    try:
        return model.model_validate(merged)
    except ValidationError as err:
        raise spec_error(err, prefix=prefix) from None


def traffic_spec(spec: TrafficSpec | Mapping[str, Any] | None = None, **fields: Any) -> TrafficSpec:
    """A validated :class:`TrafficSpec` from a spec or mapping, with ``fields`` on top.

    Raises
    ------
    ScenarioError
        ``traffic.<field>: problem (got value)``, one line per problem.
    """
    return _validated(TrafficSpec, spec, fields, ("traffic",))


def waste_spec(spec: WasteSpec | Mapping[str, Any] | None = None, **fields: Any) -> WasteSpec:
    """A validated :class:`WasteSpec` from a spec or mapping, with ``fields`` on top.

    Raises
    ------
    ScenarioError
        ``waste.<field>: problem (got value)``, one line per problem.
    """
    return _validated(WasteSpec, spec, fields, ("waste",))


_SEED = TypeAdapter(Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)])


def check_seed(seed: Any) -> int:
    """The seed of a run, checked as a scenario's ``seed`` is.

    Raises
    ------
    ScenarioError
        ``seed: problem (got value)``.
    """
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        seed = int(seed)  # numpy's integers too, as from a loop over np.arange
    try:
        return _SEED.validate_python(seed)
    except ValidationError as err:
        raise spec_error(err, prefix=("seed",)) from None
