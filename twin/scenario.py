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
      policy: forecast      # which bins, when
      planner: pyvrp        # who routes them
      trucks: 3
    outputs:
      formats: [geojson, gpkg]

:func:`scenario_schema` gives the JSON Schema (``twin scenario schema``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.specs import (
    PLANNERS,
    POLICIES,
    SIGNAL_PLAN_NAMES,
    BinsSpec,
    EdgeChange,
    OutputsSpec,
    Scenario,
    ScenarioError,
    SignalTiming,
    TrafficSpec,
    WasteSpec,
    error_lines,
    short_repr,
)
from twin.yamlsafe import read_yaml

__all__ = [
    "PLANNERS",
    "POLICIES",
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
        document = read_yaml(path, error=ScenarioError, what="scenario file")
        self.node, data = document.node, document.data
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
            f"{path}:{doc.line_of(('extends',))}: extends: give one file path, "
            f"got {short_repr(base)}."
        )
    target = path.parent / base
    if not target.is_file():
        raise ScenarioError(
            f"{path}:{doc.line_of(('extends',))}: extends: no such scenario file {target}."
        )
    if target.resolve() in (*seen, path):
        cycle = " → ".join(str(p) for p in (*seen, path, target.resolve()))
        raise ScenarioError(
            f"{path}:{doc.line_of(('extends',))}: extends: the files extend each other in a "
            f"circle ({cycle}): have one of them extend none."
        )
    return [*_chain(target, (*seen, path)), doc]


def load_scenario(path: str | Path) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file.

    Relative paths in the file (``city`` when it names a file, ``traffic.od``,
    ``waste.checkpoint``, ``waste.rounds``) are resolved
    against the folder of the file that sets them.

    Raises
    ------
    ScenarioError
        Every problem found, one line each: ``file:line: field: what is wrong (got value)``.
    """
    docs = _chain(Path(path))
    given = docs[-1]
    if _is_sweep(given.data):
        raise ScenarioError(
            f"{given.path}: a sweep file (it has 'scenario' and "
            f"'{'grid' if 'grid' in given.data else 'runs'}'), not a scenario: run it with "
            f"`twin sweep {given.path} --out FOLDER`"
        )
    merged: dict[str, Any] = {}
    for doc in docs:
        data = {k: v for k, v in doc.data.items() if k != "extends"}
        for key, value in _relative_paths(data, doc.path.parent).items():
            data = merge(data, {key: value})
        merged = merge(merged, data)
    try:
        return Scenario.model_validate(merged)
    except ValidationError as err:
        lines = [f"{_where(docs, loc)}: {line}" for loc, line in error_lines(err)]
        raise ScenarioError("\n".join(lines)) from None


def _is_sweep(data: Any) -> bool:
    """Whether a file's data is a sweep's (:mod:`twin.sweep`): a base scenario and the
    overrides to run it with, and none of a scenario's sections."""
    return (
        isinstance(data, dict)
        and "scenario" in data
        and bool({"grid", "runs"} & set(data))
        and not {"city", "traffic", "waste"} & set(data)
    )


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
    traffic = data.get("traffic") if isinstance(data.get("traffic"), dict) else {}
    for name in ("od", "signal_plan"):
        value = traffic.get(name)
        if name == "signal_plan" and value in SIGNAL_PLAN_NAMES:
            continue
        if isinstance(value, str) and not Path(value).is_absolute():
            fixes.setdefault("traffic", {})[name] = str(folder / value)
    waste = data.get("waste") if isinstance(data.get("waste"), dict) else {}
    for name in ("checkpoint", "rounds"):
        value = waste.get(name)
        if isinstance(value, str) and not Path(value).is_absolute():
            fixes.setdefault("waste", {})[name] = str(folder / value)
    return fixes


def scenario_location(path: str | Path, loc: tuple[Any, ...]) -> str:
    """``file:line`` of the value at ``loc`` in a scenario file or the file it extends."""
    return _where(_chain(Path(path)), loc)


def _where(docs: list[_Document], loc: tuple[Any, ...]) -> str:
    # the value comes from the most specific file that sets it
    doc = next((d for d in reversed(docs) if _has(d.data, loc)), docs[-1])
    line = doc.line_of(loc)
    return f"{doc.path}:{line}" if line else str(doc.path)
