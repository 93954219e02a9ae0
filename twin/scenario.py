"""Scenario files: what to simulate, as YAML kept under version control.

A scenario names a city, a seed, and a ``traffic`` and/or ``waste`` section; it may ``extends:``
another file (a path relative to its own) and override any of its fields (mappings merge key by
key, lists and values replace). Files are validated with pydantic; every error names the file,
the line, the field, the bad value and what is allowed::

    name: closure-and-growth
    extends: baseline.yaml
    city: helsinki
    seed: 1
    traffic:
      trips: 3000
      duration: 2h
      demand_scale: 1.1
      close: ["25216594-25216595", "way:4242"]
      change: [{way: 1234, lanes: 1}]
      signals: [{node: 29187544, greens_s: [40, 30]}]
    waste:
      days: 28
      policy: pyvrp
      trucks: 3
    outputs:
      formats: [geojson, gpkg]

:func:`scenario_schema` gives the JSON Schema (``twin scenario schema``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import TwinError
from twin.interventions import CloseEdge
from twin.units import parse_duration

__all__ = [
    "BinsSpec",
    "EdgeChange",
    "OutputsSpec",
    "Scenario",
    "ScenarioError",
    "SignalTiming",
    "TrafficSpec",
    "WasteSpec",
    "load_scenario",
    "merge",
    "scenario_location",
    "scenario_schema",
]

POLICIES = ("schedule", "threshold", "greedy", "pyvrp", "learned")


class ScenarioError(TwinError):
    """A scenario file that cannot be used; the message names every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str | float, what: str) -> str | float:
    try:
        parse_duration(value, what=what)
    except TwinError as err:
        raise ValueError(str(err).rstrip(".")) from None
    return value


class EdgeChange(_Strict):
    """New lanes, capacity or speed limit for an edge (``"u-v"`` OSM node ids) or a way."""

    edge: str | None = Field(None, description='"u-v" or "u-v-key" (OSM node ids)')
    way: int | None = Field(None, description="OSM way id: every edge of the way")
    lanes: int | None = Field(None, ge=1, le=10)
    capacity_vph: float | None = Field(None, gt=0)
    speed_kph: float | None = Field(None, gt=0, le=200)

    @model_validator(mode="after")
    def _one_target(self) -> EdgeChange:
        if (self.edge is None) == (self.way is None):
            raise ValueError("name exactly one of 'edge' or 'way'")
        if self.lanes is None and self.capacity_vph is None and self.speed_kph is None:
            raise ValueError("change at least one of lanes, capacity_vph, speed_kph")
        return self


class SignalTiming(_Strict):
    """New green times (one per phase of the junction's plan) for a signalized OSM node."""

    node: int = Field(description="OSM id of a node tagged highway=traffic_signals")
    greens_s: list[float] = Field(min_length=1, description="green time of each phase, seconds")
    offset_s: float = Field(0.0, ge=0)

    @field_validator("greens_s")
    @classmethod
    def _non_negative(cls, greens: list[float]) -> list[float]:
        if any(not (g >= 0 and math.isfinite(g)) for g in greens):
            raise ValueError("green times must be finite and not negative")
        return greens


class TrafficSpec(_Strict):
    """The traffic run of a scenario."""

    trips: int | None = Field(None, ge=0, description="generated home → work trips")
    od: str | None = Field(None, description="OD table (CSV/Parquet), relative to the file")
    duration: str | float = "2h"
    window: str | float | None = Field(None, description="departures spread over this span")
    dt_s: float = Field(2.0, gt=0, le=60)
    reroute_share: float = Field(0.2, ge=0, le=1)
    profile: Literal["flat", "peak"] = "flat"
    demand_scale: float = Field(1.0, ge=0)
    close: list[str] = Field(default_factory=list, description='"u-v" edges or "way:ID"')
    change: list[EdgeChange] = Field(default_factory=list)
    signals: list[SignalTiming] = Field(default_factory=list)
    on_invalid: Literal["skip", "error"] = "skip"

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | float) -> str | float:
        return _duration(value, "duration")

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str | float | None) -> str | float | None:
        return None if value is None else _duration(value, "departure window")

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
        if (self.trips is None) == (self.od is None):
            raise ValueError("give exactly one of 'trips' (a number) or 'od' (an OD table)")
        return self


class BinsSpec(_Strict):
    """Where bins come from and how many are placed."""

    use_osm: bool = Field(True, description="use the file's mapped containers where enough")
    residents_per_bin: float = Field(18.0, gt=0, description="residents per placed container")


class WasteSpec(_Strict):
    """The waste-collection run of a scenario."""

    days: int = Field(28, ge=1, le=3660)
    policy: Literal["schedule", "threshold", "greedy", "pyvrp", "learned"] = "pyvrp"
    trucks: int = Field(3, ge=1, le=1000)
    truck_capacity_kg: float = Field(10_000.0, gt=0)
    shift: str | float = "8h"
    solver_time_s: float = Field(
        60.0, gt=0, le=600, description="PyVRP's time limit per day: a safety cap"
    )
    solver_iterations: int | None = Field(
        1000,
        ge=1,
        description="PyVRP stops after this many iterations a day; this limit, not the time, "
        "makes a run repeat bit for bit (null: the time limit alone)",
    )
    population: float | None = Field(None, gt=0)
    bins: BinsSpec = Field(default_factory=BinsSpec)
    depot: tuple[float, float] | None = Field(None, description="lon, lat")
    disposal: tuple[float, float] | None = Field(None, description="lon, lat")
    traffic_coupling: bool = Field(
        False, description="time trucks on the traffic section's travel times (needs traffic)"
    )
    checkpoint: str | None = Field(
        None,
        max_length=4096,
        description="with policy 'learned': a trained planner's checkpoint, relative to the "
        "file (default: the shipped planner); days outside its training range are planned by "
        "PyVRP",
    )

    @field_validator("shift")
    @classmethod
    def _check_shift(cls, value: str | float) -> str | float:
        return _duration(value, "shift")


class OutputsSpec(_Strict):
    """What a run writes besides KPIs and Parquet tables."""

    formats: list[Literal["geojson", "gpkg", "ngsi-ld"]] = Field(
        default_factory=lambda: ["geojson"],
        description="route/bin maps (geojson, gpkg) and FIWARE NGSI-LD entities (ngsi-ld)",
    )


class Scenario(_Strict):
    """A validated scenario (``extends`` already applied)."""

    name: str = Field(min_length=1)
    description: str = ""
    city: str = Field(description="a city name from `twin cities`, or an OSM file path")
    seed: int = Field(0, ge=0)
    traffic: TrafficSpec | None = None
    waste: WasteSpec | None = None
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)

    @model_validator(mode="after")
    def _something_to_run(self) -> Scenario:
        if self.traffic is None and self.waste is None:
            raise ValueError("a scenario needs a 'traffic' or a 'waste' section (or both)")
        if self.waste is not None and self.waste.traffic_coupling and self.traffic is None:
            raise ValueError("waste.traffic_coupling: needs a 'traffic' section")
        return self

    def to_yaml(self) -> str:
        """The resolved scenario as YAML (what a run writes next to its results)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def scenario_schema() -> dict[str, Any]:
    """JSON Schema of a scenario file (``extends`` allowed at the top level)."""
    schema = Scenario.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "another scenario file (relative to this one) whose fields this one "
        "overrides",
    }
    # a file that extends another may take any field from it: name and city are required
    # only of a file that extends nothing
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": schema.pop("required", [])}
    schema["title"] = "CitiVerse Twin scenario"
    return schema


# ------------------------------------------------------------------------------ loading
def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Document:
    """A parsed YAML file that remembers the line of every value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: no such scenario file.") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ScenarioError(f"{path}: cannot read it ({err}).") from None
        try:
            loader = yaml.SafeLoader(text)
            try:
                self.node = loader.get_single_node()
                data = loader.construct_document(self.node) if self.node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise ScenarioError(f"{path}{where}: not valid YAML: {problem}.") from None
        if not isinstance(data, dict):
            raise ScenarioError(f"{path}: a scenario file holds a mapping of fields (name: …).")
        self.data = data

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """1-based line of the value at ``loc`` (the deepest part of it that exists)."""
        node, line = self.node, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                # with a key given twice YAML keeps the last value: point there
                match = next((v for k, v in reversed(node.value) if k.value == part), None)
                if match is None:
                    key = next((k for k, _ in reversed(node.value) if k.value == part), None)
                    return key.start_mark.line + 1 if key is not None else line
                node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
            else:
                break
            line = node.start_mark.line + 1
        return line


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[_Document]:
    """The file and every file it extends, most basic first."""
    path = path.resolve()
    if path in seen:
        cycle = " → ".join(str(p) for p in (*seen, path))
        raise ScenarioError(f"scenario files extend each other in a circle: {cycle}.")
    doc = _Document(path)
    base = doc.data.get("extends")
    if base is None:
        return [doc]
    if not isinstance(base, str):
        raise ScenarioError(
            f"{path}:{doc.line_of(('extends',))}: extends: give one file path, got {base!r}."
        )
    target = path.parent / base
    if not target.is_file():
        raise ScenarioError(
            f"{path}:{doc.line_of(('extends',))}: extends: no such scenario file {target}."
        )
    return [*_chain(target, (*seen, path)), doc]


def _describe(error: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field (remove it, or check its spelling against `twin scenario schema`)"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "cross_field":
        return message
    return f"{message} (got {error['input']!r})"


def load_scenario(path: str | Path) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file.

    Relative paths in the file (``city`` when it names a file, ``traffic.od``,
    ``waste.checkpoint``) are resolved
    against the folder of the file that sets them.

    Raises
    ------
    ScenarioError
        Every problem found, one line each: ``file:line: field: what is wrong (got value)``.
    """
    docs = _chain(Path(path))
    merged: dict[str, Any] = {}
    for doc in docs:
        data = {k: v for k, v in doc.data.items() if k != "extends"}
        for key, value in _relative_paths(data, doc.path.parent).items():
            data = merge(data, {key: value})
        merged = merge(merged, data)
    try:
        return Scenario.model_validate(merged)
    except ValidationError as err:
        lines = []
        for error in err.errors():
            loc = tuple(error["loc"])
            named = re.match(r"(?:Value error, )?([a-z_]+(?:\.[a-z_]+)+): (.*)", error["msg"])
            if not loc and named:
                # a rule across fields names the field at fault: report it there
                loc = tuple(named.group(1).split("."))
                error = {**error, "msg": f"{named.group(2)}", "type": "cross_field"}
            field = ".".join(str(p) for p in loc) or "(file)"
            lines.append(f"{_where(docs, loc)}: {field}: {_describe(error)}")
        raise ScenarioError("\n".join(lines)) from None


def _has(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            data = data[part]
        else:
            return False
    return True


def _relative_paths(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Overrides that make this file's relative paths absolute."""
    fixes: dict[str, Any] = {}
    city = data.get("city")
    if isinstance(city, str) and ("/" in city or city.endswith((".osm", ".pbf", ".bz2", ".gz"))):
        candidate = folder / city
        fixes["city"] = str(candidate) if not Path(city).is_absolute() else city
    traffic = data.get("traffic")
    od = traffic.get("od") if isinstance(traffic, dict) else None
    if isinstance(od, str) and not Path(od).is_absolute():
        fixes["traffic"] = {"od": str(folder / od)}
    waste = data.get("waste")
    checkpoint = waste.get("checkpoint") if isinstance(waste, dict) else None
    if isinstance(checkpoint, str) and not Path(checkpoint).is_absolute():
        fixes["waste"] = {"checkpoint": str(folder / checkpoint)}
    return fixes


def scenario_location(path: str | Path, loc: tuple[Any, ...]) -> str:
    """``file:line`` of the value at ``loc`` in a scenario file or the file it extends."""
    return _where(_chain(Path(path)), loc)


def _where(docs: list[_Document], loc: tuple[Any, ...]) -> str:
    # the value comes from the most specific file that sets it
    doc = next((d for d in reversed(docs) if _has(d.data, loc)), docs[-1])
    line = doc.line_of(loc)
    return f"{doc.path}:{line}" if line else str(doc.path)
