"""Scenario files (`twin.scenario`, `twin run`, `twin scenario`): every wrong file refused as
``file:line: field: problem (got value)``, ``extends`` merging key by key, a JSON Schema that the
example files pass, the same scenario and seed giving the same KPIs, output folders that appear
whole or not at all, and the example scenarios run end to end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.conftest import flat as _flat
from tests.conftest import run_twin as _twin
from twin import __version__
from twin.api import (
    Twin,
    check_scenario,
    checked_scenario,
    compare,
    run_scenario,
    run_traffic,
)
from twin.errors import TwinError
from twin.results_io import OUTPUT_MARKER, check_output_folder
from twin.scenario import (
    OutputsSpec,
    Scenario,
    ScenarioError,
    TrafficSpec,
    WasteSpec,
    load_scenario,
    merge,
    scenario_location,
    scenario_schema,
)

EXAMPLES = REPO / "examples"
SCENARIO_EXAMPLES = (
    "baseline", "growth-and-closure", "fixed-rounds", "planned-in-euros",
    "collection-around-the-works",
)  # fmt: skip
CLOSED_EDGE = "25291550-25291565"  # an edge of the bundled helsinki extract
SIGNAL_NODE = 25291537  # a signalized junction of helsinki with a two-phase default plan
EXAMPLE_RETIMED = 1371624191  # growth-and-closure.yaml's junction: two roads, two phases
POLICIES = "'schedule', 'hand-drawn', 'current', 'threshold' or 'forecast'"
TRAFFIC_FILES = [
    "edge_timeseries.parquet", "edges.parquet", "kpis.json", "kpis.parquet",
    "model_data.parquet", "run.json", "trips.parquet",
]  # fmt: skip
WASTE_FILES = [
    "bin_fill.parquet", "bins.geojson", "bins.parquet", "daily.parquet", "kpis.json",
    "kpis.parquet",
    "routes.geojson", "routes.parquet", "run.json",
]  # fmt: skip


def _write(path: Path, text: str) -> Path:
    """Write a YAML file whose line 1 is the first line of ``text`` (dedented)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _refusal(path: Path, *, deep: bool = False) -> list[str]:
    """The lines of the error a scenario file is refused with."""
    with pytest.raises(ScenarioError) as info:
        if deep:
            check_scenario(path)
        else:
            load_scenario(path)
    return str(info.value).splitlines()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # messages name files by their resolved path
    return tmp_path.resolve()


# ------------------------------------------------------------------------------ wrong files
# name: (file, [(line or None, field, words the message must hold)]), one entry per message line
WRONG = {
    "unknown-field": (
        """
        name: typo
        city: helsinki
        colour: red
        traffic:
          trips: 10
          speed: 50
        """,
        [
            (3, "colour", ["unknown field", "twin scenario schema"]),
            (6, "traffic.speed", ["unknown field", "twin scenario schema"]),
        ],
    ),
    "wrong-type": (
        """
        name: wrong-type
        city: helsinki
        traffic:
          trips: many
        """,
        [(4, "traffic.trips", ["must be a whole number", "(got 'many')"])],
    ),
    "yes-for-a-number": (
        """
        name: yes-trucks
        city: helsinki
        traffic:
          trips: yes
          simulate: true
        waste:
          trucks: true
          traffic_coupling: false
        """,
        [
            (4, "traffic.trips", ["must be a number, not true or false", "(got True)"]),
            (7, "waste.trucks", ["must be a number, not true or false", "(got True)"]),
        ],
    ),
    "negative-demand": (
        """
        name: negative
        city: helsinki
        traffic:
          trips: -5
          demand_scale: -1
        """,
        [
            (4, "traffic.trips", ["must be ≥ 0", "(got -5)"]),
            (5, "traffic.demand_scale", ["must be ≥ 0", "(got -1)"]),
        ],
    ),
    "zero-time-step": (
        """
        name: frozen
        city: helsinki
        traffic:
          trips: 10
          dt_s: 0
        """,
        [(5, "traffic.dt_s", ["must be > 0", "(got 0)"])],
    ),
    "duration": (
        """
        name: vague
        city: helsinki
        traffic:
          trips: 10
          duration: 1h
          window: soon
        waste:
          shift: soon
        """,
        [
            (6, "traffic.window", ["cannot read the departure window", "90min", "(got 'soon')"]),
            (8, "waste.shift", ["cannot read the shift", "90min", "(got 'soon')"]),
        ],
    ),
    "policy": (
        """
        name: fast
        city: helsinki
        waste:
          days: 3
          policy: fastest
        """,
        [(5, "waste.policy", [POLICIES, "(got 'fastest')"])],
    ),
    "trips-and-od": (
        """
        name: both
        city: helsinki
        traffic:
          trips: 5
          od: trips.csv
        """,
        # a problem of the whole section: the line where the section's fields begin
        [(4, "traffic", ["give 'trips' (a number) or 'od' (an OD table), not both"])],
    ),
    "nothing-to-run": (
        """
        name: idle
        city: helsinki
        seed: 3
        """,
        [(None, "(scenario)", ["needs a 'traffic' or a 'waste' section"])],
    ),
    "section-not-a-mapping": (
        """
        name: lots
        city: helsinki
        traffic: lots
        """,
        [(3, "traffic", ["must be a mapping of fields", "(got 'lots')"])],
    ),
    "interventions": (
        """
        name: odd-interventions
        city: helsinki
        traffic:
          trips: 10
          close: [way:abc]
          change:
            - {edge: 1-2, way: 3, lanes: 2}
            - {edge: 1-2}
          signals:
            - {node: 25291537, greens_s: [-1, 5]}
            - {node: 25291537}
        """,
        [
            (5, "traffic.close", ["'way:abc'", "way:<OSM way id>"]),
            (7, "traffic.change.0", ["exactly one of 'edge' or 'way'"]),
            (8, "traffic.change.1", ["at least one of lanes"]),
            (10, "traffic.signals.0.greens_s", ["green times must be 0–600 s", "(got [-1, 5])"]),
            (11, "traffic.signals.1.greens_s", ["required field is missing"]),
        ],
    ),
    "streets-for-nothing": (
        """
        name: closed-for-whom
        city: helsinki
        traffic:
          close: [way:4279330]
          simulate: false
        """,
        [(5, "traffic.simulate", ["false runs no traffic", "nothing would run", "add a waste"])],
    ),
    "missing-name": (
        """
        city: helsinki
        seed: -1
        waste:
          days: 0
        """,
        [
            (None, "name", ["required field is missing"]),
            (2, "seed", ["must be ≥ 0", "(got -1)"]),
            (4, "waste.days", ["must be ≥ 1", "(got 0)"]),
        ],
    ),
}


@pytest.mark.parametrize("name", WRONG)
def test_wrong_file_names_file_line_field_and_value(folder, name):
    text, expected = WRONG[name]
    path = _write(folder / f"{name}.yaml", text)
    lines = _refusal(path)
    assert len(lines) == len(expected), lines
    for line, field, words in expected:
        prefix = f"{path}:{line}: {field}: " if line else f"{path}: {field}: "
        found = [message for message in lines if message.startswith(prefix)]
        assert len(found) == 1, (prefix, lines)
        for word in words:
            assert word in found[0]


def test_coupling_without_traffic_is_refused(folder):
    path = _write(
        folder / "coupled.yaml",
        """
        name: lonely-trucks
        city: helsinki
        waste:
          traffic_coupling: true
        """,
    )
    [line] = _refusal(path)
    assert (
        line.startswith(str(path)) and "waste.traffic_coupling: needs a 'traffic' section" in line
    )


def test_coupling_without_traffic_names_its_line(folder):
    path = _write(
        folder / "coupled.yaml",
        "name: lonely-trucks\ncity: helsinki\nwaste:\n  traffic_coupling: true\n",
    )
    [line] = _refusal(path)
    assert line.startswith(f"{path}:4: ")


def test_invalid_yaml_names_its_line(folder):
    path = _write(
        folder / "indent.yaml",
        """
        name: bad-indent
        city: helsinki
        traffic:
          trips: 5
           duration: 1h
        """,
    )
    assert _refusal(path) == [f"{path}:5: not valid YAML: mapping values are not allowed here."]


@pytest.mark.parametrize("text", ["- name: a-list\n- city: helsinki\n", "", "just words\n"])
def test_file_that_is_not_a_mapping(folder, text):
    path = folder / "list.yaml"
    path.write_text(text)
    assert _refusal(path) == [f"{path}: a scenario file holds a mapping of fields (name: …)."]


def test_extends_a_missing_file(folder):
    orphan = _write(folder / "orphan.yaml", "name: orphan\nextends: nowhere.yaml\n")
    assert _refusal(orphan) == [
        f"{orphan.resolve()}:2: extends: no such scenario file {folder.resolve() / 'nowhere.yaml'}."
    ]


def test_extends_a_missing_file_names_where_it_is_extended(folder):
    orphan = _write(folder / "orphan.yaml", "name: orphan\nextends: nowhere.yaml\n")
    [line] = _refusal(orphan)
    assert line.startswith(f"{orphan}:2: extends: ")


def test_extends_that_is_not_a_path(folder):
    path = _write(folder / "five.yaml", "name: five\nextends: 5\n")
    assert _refusal(path) == [f"{path}:2: extends: give one file path, got 5."]


def test_files_that_extend_each_other(folder):
    a = _write(folder / "a.yaml", "extends: b.yaml\nname: a\n")
    b = _write(folder / "b.yaml", "extends: a.yaml\nname: b\ncity: helsinki\n")
    # named at the line that closes the circle, with the way round it
    circle = "extends: the files extend each other in a circle ({}): have one of them extend none."
    assert _refusal(a) == [f"{b}:1: " + circle.format(f"{a} → {b} → {a}")]
    assert _refusal(b) == [f"{a}:1: " + circle.format(f"{b} → {a} → {b}")]
    itself = _write(folder / "itself.yaml", "name: me\nextends: itself.yaml\n")
    assert _refusal(itself) == [f"{itself}:2: " + circle.format(f"{itself} → {itself}")]


def test_duplicate_key_points_at_the_value_used(folder):
    path = _write(
        folder / "twice.yaml",
        """
        name: twice
        city: helsinki
        traffic:
          trips: 10
          trips: -5
        """,
    )
    [line] = _refusal(path)
    assert line.startswith(f"{path}:5: ")


def test_unknown_city_names_the_city_field(helsinki, folder):
    path = _write(
        folder / "elsewhere.yaml",
        """
        name: elsewhere
        description: a city that is not registered
        city: atlantis
        waste:
          days: 2
        """,
    )
    [line] = _refusal(path, deep=True)
    assert line.startswith(f"{path}:3: city: Unknown city 'atlantis'")
    assert "helsinki" in line  # the registered cities are listed


def test_edges_ways_and_signals_are_checked_against_the_city(helsinki, folder):
    nodes, _ = helsinki.network.to_geodataframes()
    plain = int(nodes.index[~nodes["signalized"].astype(bool)][0])
    assert bool(nodes.loc[SIGNAL_NODE, "signalized"])
    path = _write(
        folder / "interventions.yaml",
        f"""
        name: interventions
        city: helsinki
        traffic:
          trips: 10
          close:
            - {CLOSED_EDGE}
            - 1-2
            - way:99
          change:
            - {{edge: {CLOSED_EDGE}, lanes: 1}}
            - {{way: 99, speed_kph: 30}}
          signals:
            - {{node: {SIGNAL_NODE}, greens_s: [70, 12]}}
            - {{node: {plain}, greens_s: [30, 30]}}
            - {{node: {SIGNAL_NODE}, greens_s: [30, 30, 30]}}
        """,
    )
    lines = _refusal(path, deep=True)
    expected = [
        (7, "traffic.close.1", ["'1-2'", "not in this city's network"]),
        (8, "traffic.close.2", ["OSM way 99", "osmid"]),
        (11, "traffic.change.1", ["OSM way 99", "osmid"]),
        # held to the limits a plan file is: this junction's phase 2 is its crossing's
        (13, "traffic.signals.0", ["junction 25291537: phase 2", "pedestrian minimum of 20 s"]),
        (14, "traffic.signals.1", [f"node {plain}", "not a signalized junction"]),
        (15, "traffic.signals.2", [f"node {SIGNAL_NODE}", "2 phases"]),
    ]
    assert len(lines) == len(expected), lines
    for (line, field, words), message in zip(expected, lines, strict=True):
        assert message.startswith(f"{path}:{line}: {field}: ")
        for word in words:
            assert word in message
    # a shallow check reads the file only: the ids are not looked up
    assert check_scenario(path, deep=False).traffic.close == [CLOSED_EDGE, "1-2", "way:99"]


def test_the_deep_check_finds_a_depot_off_the_city_without_a_traffic_section(folder, helsinki):
    # (0, 0), and Helsinki's centre written latitude first: what a run refuses only once started
    path = _write(
        folder / "sites.yaml",
        """
        name: sites
        city: helsinki
        waste:
          days: 1
          depot: [0, 0]
          disposal: [60.17, 24.94]
        """,
    )
    lines = _refusal(path, deep=True)
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{path}:5", "waste.depot"],
        [f"{path}:6", "waste.disposal"],
    ]
    assert "The disposal at 60.17, 24.94 (lon/lat) is" in lines[1]
    assert "Check the coordinates' order (longitude first)" in lines[1]
    assert check_scenario(path, deep=False).waste.depot == (0, 0)


def test_examples_pass_the_deep_check(helsinki):
    spec = check_scenario(EXAMPLES / "growth-and-closure.yaml")
    assert spec.traffic.close == [CLOSED_EDGE]
    assert spec.traffic.signals[0].node == EXAMPLE_RETIMED
    for name in ("baseline", "fixed-rounds", "planned-in-euros"):
        assert check_scenario(EXAMPLES / f"{name}.yaml").name == name
    # the deep check hands back the city it loaded, for the run that follows (`twin run`)
    spec, city = checked_scenario(EXAMPLES / "growth-and-closure.yaml")
    assert city.name == spec.city and city.network.n_edges == helsinki.network.n_edges
    assert checked_scenario(EXAMPLES / "growth-and-closure.yaml", deep=False)[1] is None


# ------------------------------------------------------------------------------ extends
BASE = """
name: base
description: a base to extend
city: maps/town.osm
seed: 4
traffic:
  trips: 500
  duration: 30min
  close: ["1-2", "way:3"]
waste:
  days: 5
  policy: greedy
outputs:
  formats: [geojson, gpkg]
"""
CHILD = """
# two traffic fields, one waste field and the formats differ; the rest comes from the base
extends: ../base/base.yaml
name: child
traffic:
  demand_scale: 1.5
  close: ["4-5"]
waste:
  trucks: 4
outputs:
  formats: [gpkg]
"""


def test_extends_merges_mappings_and_replaces_lists(folder):
    base = _write(folder / "base" / "base.yaml", BASE)
    child = _write(folder / "child" / "child.yaml", CHILD)
    assert load_scenario(child) == Scenario(
        name="child",
        description="a base to extend",
        # a relative city path is relative to the file that sets it
        city=str(folder / "base" / "maps" / "town.osm"),
        seed=4,
        traffic=TrafficSpec(trips=500, duration="30min", demand_scale=1.5, close=["4-5"]),
        waste=WasteSpec(days=5, policy="greedy", trucks=4),
        outputs=OutputsSpec(formats=["gpkg"]),
    )
    # the base alone is untouched by its child
    alone = load_scenario(base)
    assert alone.traffic.demand_scale == 1.0 and alone.traffic.close == ["1-2", "way:3"]
    # every value is located in the file that sets it
    assert scenario_location(child, ("traffic", "trips")) == f"{base}:6"
    assert scenario_location(child, ("waste", "days")) == f"{base}:10"
    assert scenario_location(child, ("traffic", "demand_scale")) == f"{child}:5"
    assert scenario_location(child, ("traffic", "close", 0)) == f"{child}:6"
    assert merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}}


def test_od_path_is_relative_to_the_file_that_sets_it(folder):
    _write(folder / "base" / "base.yaml", BASE)
    child = _write(
        folder / "tables" / "od.yaml",
        """
        extends: ../base/base.yaml
        name: from-a-table
        traffic:
          trips: null
          od: demand/od.csv
        """,
    )
    spec = load_scenario(child)
    assert spec.traffic.trips is None
    assert spec.traffic.od == str(folder / "tables" / "demand" / "od.csv")
    assert spec.city == str(folder / "base" / "maps" / "town.osm")
    assert spec.traffic.duration == "30min"


def test_error_in_an_inherited_field_names_the_base_file(folder):
    base = _write(
        folder / "base.yaml",
        """
        name: base
        city: helsinki
        traffic:
          trips: 100
          dt_s: 0
        """,
    )
    child = _write(
        folder / "child.yaml",
        """
        extends: base.yaml
        name: child
        traffic:
          demand_scale: -2
        """,
    )
    lines = _refusal(child)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{base}:5: traffic.dt_s: must be > 0 (got 0)")
    assert lines[1].startswith(f"{child}:4: traffic.demand_scale: ")
    assert lines[1].endswith("(got -2)")


# ------------------------------------------------------------------------------ JSON Schema
def _leaves(errors):
    """Errors inside optional sections: an ``anyOf`` of a section and ``null`` fails as a whole;
    report what is wrong inside the section instead."""
    for error in errors:
        inner = [
            e
            for e in error.context or []
            if not (e.validator == "type" and e.validator_value == "null")
        ]
        if error.validator == "anyOf" and inner:
            yield from _leaves(inner)
        else:
            yield error


def _schema_errors(schema: dict, value: Any, root: dict | None = None) -> list[str]:
    """The places ``value`` breaks ``schema`` under ``jsonschema`` (2020-12), sorted, as
    ``.path.to.field: what``."""
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in _leaves(validator.iter_errors(value)):
        where = "".join(f".{part}" for part in error.absolute_path)
        if error.validator == "required":
            found.append(f"{where}.{error.message.split(chr(39))[1]}: required")
        elif error.validator == "additionalProperties":
            for key in re.findall(r"'([^']+)'", error.message):
                found.append(f"{where}.{key}: not allowed")
        else:
            found.append(f"{where}: {error.validator}")
    return sorted(found)


def _raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_schema_describes_the_file_format():
    schema = scenario_schema()
    assert json.loads(json.dumps(schema)) == schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {*Scenario.model_fields, "extends"}
    defs = schema["$defs"]
    for model in (TrafficSpec, WasteSpec, OutputsSpec):
        assert set(defs[model.__name__]["properties"]) == set(model.model_fields)
        assert defs[model.__name__]["additionalProperties"] is False
    assert defs["WasteSpec"]["properties"]["policy"]["enum"] == [
        "schedule", "hand-drawn", "current", "threshold", "forecast",
    ]  # fmt: skip
    assert defs["WasteSpec"]["properties"]["planner"]["enum"] == ["pyvrp", "greedy", "learned"]
    refs = [v for k, v in _walk(schema) if k == "$ref"]
    assert refs and all(ref.removeprefix("#/$defs/") in defs for ref in refs)


def _walk(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_examples_are_valid_under_the_schema():
    schema = scenario_schema()
    for name in ("baseline", "fixed-rounds", "planned-in-euros"):
        assert _schema_errors(schema, _raw(EXAMPLES / f"{name}.yaml"), schema) == []
    # the child with its base's fields merged in, as the loader sees it
    child = {k: v for k, v in _raw(EXAMPLES / "growth-and-closure.yaml").items() if k != "extends"}
    assert _schema_errors(schema, merge(_raw(EXAMPLES / "baseline.yaml"), child), schema) == []
    # and every resolved scenario, as a run writes it to scenario.yaml
    for name in SCENARIO_EXAMPLES:
        dumped = yaml.safe_load(load_scenario(EXAMPLES / f"{name}.yaml").to_yaml())
        assert _schema_errors(schema, dumped, schema) == [], name


def test_a_file_that_extends_another_is_valid_as_written():
    schema = scenario_schema()
    assert _schema_errors(schema, _raw(EXAMPLES / "growth-and-closure.yaml"), schema) == []


def test_schema_refuses_a_wrong_file():
    schema = scenario_schema()
    wrong = {
        "name": "wrong",
        "city": "helsinki",
        "colour": "red",
        "traffic": {"trips": "many", "dt_s": 0, "signals": [{"node": 1, "greens_s": []}]},
        "waste": {"policy": "fastest", "depot": [24.9]},
    }
    errors = _schema_errors(schema, wrong, schema)
    assert [e.split(":")[0] for e in errors] == sorted(
        [
            ".colour", ".traffic.trips", ".traffic.dt_s", ".traffic.signals.0.greens_s",
            ".waste.policy", ".waste.depot",
        ]
    )  # fmt: skip
    assert _schema_errors(schema, ["name"], schema) != []
    assert _schema_errors(schema, {"city": "helsinki"}, schema) == [".name: required"]


def test_specs_built_in_python_are_refused_as_a_file_is():
    # the same line per field as a scenario file, not pydantic's multi-line report
    with pytest.raises(ScenarioError) as caught:
        TrafficSpec(trips=-3, dt_s=0)
    assert str(caught.value).splitlines() == [
        "traffic.trips: must be ≥ 0 (got -3)",
        "traffic.dt_s: must be > 0 (got 0)",
    ]
    with pytest.raises(ScenarioError, match=r"^waste\.costs\.truck_km_eur: must be ≥ 0"):
        WasteSpec(costs={"truck_km_eur": -1})
    with pytest.raises(ScenarioError, match="needs a 'traffic' or a 'waste' section"):
        Scenario(name="x", city="helsinki")
    assert TrafficSpec(trips=3).trips == 3


# ------------------------------------------------------------------------------ runs
SMALL = """
name: small
description: 300 trips over 20 minutes and three days of greedy collection
city: helsinki
seed: 5
traffic:
  trips: 300
  duration: 20min
waste:
  days: 3
  policy: greedy
  trucks: 2
"""


@pytest.fixture(scope="module")
def small(helsinki, tmp_path_factory):
    """A small scenario run three times: from its file, as a Scenario, and with another seed
    (as a mapping)."""
    path = _write(tmp_path_factory.mktemp("small") / "small.yaml", SMALL)
    twin = Twin.load(helsinki)
    first = twin.run(path)
    again = run_scenario(load_scenario(path), city=helsinki)
    other = twin.run({**yaml.safe_load(SMALL), "seed": 6})
    return first, again, other


def _numeric(kpis: dict[str, dict]) -> dict[tuple[str, str], float]:
    return {
        (section, key): float(value)
        for section, values in kpis.items()
        for key, value in values.items()
        if isinstance(value, int | float)  # gridlock as 1 or 0, as the table has it
    }


def test_same_scenario_same_seed_same_kpis(small):
    first, again, _ = small
    kpis = first.kpi_dict()
    assert kpis == again.kpi_dict()
    assert kpis["traffic"]["trips"] == 300 and kpis["traffic"]["simulated_s"] == 20 * 60
    assert kpis["waste"]["days"] == 3 and kpis["waste"]["truck_km"] > 0
    # the KPI table holds every numeric KPI of both sections
    table = first.kpis
    assert list(table.columns) == ["section", "kpi", "value"]
    rows = dict(zip(zip(table["section"], table["kpi"], strict=True), table["value"], strict=True))
    assert len(rows) == len(table) and rows == _numeric(kpis)
    diff = compare(first, again)
    assert list(diff.columns) == ["section", "kpi", "a", "b", "difference", "relative"]
    assert len(diff) == len(table) and (diff["difference"] == 0).all()
    # relative to |a|, undefined where a is zero
    assert (diff["relative"].isna() == (diff["a"] == 0)).all()
    assert (diff["relative"].dropna() == 0).all()


def test_another_seed_other_kpis(small):
    first, _, other = small
    assert other.run_info()["seed"] == 6 and first.run_info()["seed"] == 5
    diff = compare(first, other)
    for section in ("traffic", "waste"):
        assert (diff.loc[diff["section"] == section, "difference"] != 0).any()
    a, b = _numeric(first.kpi_dict()), _numeric(other.kpi_dict())
    for row in diff.itertuples():
        key = (row.section, row.kpi)
        assert (row.a, row.b) == (a[key], b[key])
        assert row.difference == pytest.approx(b[key] - a[key], rel=1e-12, abs=1e-12)
        if a[key] != 0:
            assert row.relative == pytest.approx((b[key] - a[key]) / abs(a[key]), rel=1e-12)
    # the requested number of trips does not depend on the seed
    assert diff.set_index(["section", "kpi"]).loc[("traffic", "trips"), "difference"] == 0


def test_write_holds_everything_that_reproduces_the_run(small, helsinki, tmp_path):
    run = small[0]
    out = run.write(tmp_path / "run")
    assert out == tmp_path / "run" and os.listdir(tmp_path) == ["run"]
    assert sorted(os.listdir(out)) == [
        OUTPUT_MARKER, "kpis.json", "kpis.parquet", "run.json", "scenario.yaml", "traffic",
        "waste",
    ]  # fmt: skip
    assert sorted(os.listdir(out / "traffic")) == TRAFFIC_FILES
    assert sorted(os.listdir(out / "waste")) == WASTE_FILES
    assert load_scenario(out / "scenario.yaml") == run.scenario
    assert json.loads((out / "run.json").read_text()) == {
        "package_version": __version__,
        "scenario": "small",
        "city": "helsinki",
        "city_sha256": hashlib.sha256(helsinki.source.path.read_bytes()).hexdigest(),
        "seed": 5,
        # the plans the run made and who made them (twin.provenance)
        "plans": {"waste": run.waste.settings["plan_provenance"]},
    }
    kpis = run.kpi_dict()
    assert json.loads((out / "kpis.json").read_text()) == kpis
    pd.testing.assert_frame_equal(pd.read_parquet(out / "kpis.parquet"), run.kpis)
    for section in ("traffic", "waste"):
        assert json.loads((out / section / "kpis.json").read_text()) == kpis[section]
        info = json.loads((out / section / "run.json").read_text())
        assert info["seed"] == 5 and info["city_sha256"] == run.run_info()["city_sha256"]
    assert len(pd.read_parquet(out / "traffic" / "trips.parquet")) == 300
    assert pd.read_parquet(out / "waste" / "daily.parquet")["day"].tolist() == [0, 1, 2]
    # an existing folder is kept unless told to overwrite it
    before = _snapshot(out)
    with pytest.raises(TwinError, match="already exists"):
        run.write(out)
    assert _snapshot(out) == before


def test_interrupted_write_leaves_no_half_written_folder(small, tmp_path):
    run = small[0]
    waste = run.waste
    routes = waste.result.routes
    assert len(routes) > 0
    # the traffic files and the waste KPIs are written before the routes fail: a route along
    # an edge the network does not have
    n_edges = waste.city.network.n_edges
    broken_routes = routes.assign(edges=[np.array([n_edges + 7])] * len(routes))
    broken = replace(run, waste=replace(waste, result=replace(waste.result, routes=broken_routes)))
    with pytest.raises(IndexError):
        broken.write(tmp_path / "out")
    assert os.listdir(tmp_path) == []  # neither the folder nor a staging folder
    # a failed overwrite keeps the folder that was there
    out = run.write(tmp_path / "out")
    before = _snapshot(out)
    with pytest.raises(IndexError):
        broken.write(out, overwrite=True)
    assert _snapshot(out) == before and os.listdir(tmp_path) == ["out"]


def test_a_scenario_run_on_another_city_records_that_city(tmp_path):
    """``Twin.load(kotka).run(a Helsinki file)`` runs on Kotka: what it writes says Kotka, and
    running its scenario.yaml again gives the same KPIs."""
    kotka = Twin.load("kotka")
    text = SMALL.replace("trips: 300", "trips: 50").replace("days: 3", "days: 1")
    path = _write(tmp_path / "helsinki-file.yaml", text)
    run = kotka.run(path)
    assert load_scenario(path).city == "helsinki" and run.scenario.city == "kotka"
    out = run.write(tmp_path / "out")
    assert load_scenario(out / "scenario.yaml").city == "kotka"
    assert json.loads((out / "run.json").read_text())["city"] == "kotka"
    again = run_scenario(out / "scenario.yaml")
    assert again.kpi_dict() == run.kpi_dict()


def test_gridlock_is_a_kpi_of_the_table_and_of_comparisons(small):
    """A gridlocked run must not pass in a comparison for a faster one: ``gridlock`` is in the
    KPI table (1 or 0) that compare, kpis.parquet and sweeps read."""
    first, _, other = small
    table = first.kpis.set_index(["section", "kpi"])["value"]
    assert table[("traffic", "gridlock")] == float(first.traffic.kpis["gridlock"])
    jammed = replace(
        other, traffic=replace(other.traffic, result=replace(other.traffic.result, kpis={
            **other.traffic.kpis, "gridlock": True}))
    )  # fmt: skip
    row = compare(first, jammed).set_index(["section", "kpi"]).loc[("traffic", "gridlock")]
    assert (row["a"], row["b"], row["difference"]) == (0.0, 1.0, 1.0)


def test_overwrite_replaces_only_a_folder_the_twin_wrote(small, tmp_path):
    run = small[0]
    out = run.write(tmp_path / "results" / "run")
    written = json.loads((out / OUTPUT_MARKER).read_text())
    assert written == sorted(p.name for p in out.iterdir() if p.name != OUTPUT_MARKER)
    assert {"run.json", "scenario.yaml", "traffic", "waste"} <= set(written)
    run.write(out, overwrite=True)  # the twin's own folder: replaced
    # a folder that also holds what the planner put there is not the twin's to replace
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(
        TwinError, match=r"holds what no run of the twin wrote there \(notes\.txt\)"
    ):
        run.write(out, overwrite=True)
    assert _snapshot(out) == before
    # nor is the folder above earlier runs (a mistyped --out)
    parent = tmp_path / "results"
    with pytest.raises(TwinError, match=r"\(run\): --overwrite replaces only a folder"):
        run.write(parent, overwrite=True)
    assert _snapshot(out) == before
    # a folder written before the marker (run.json and the twin's files only) is replaced
    (out / "notes.txt").unlink()
    (out / OUTPUT_MARKER).unlink()
    run.write(out, overwrite=True)
    assert (out / OUTPUT_MARKER).is_file()
    # a place that cannot be written is refused before anything is written
    (tmp_path / "a-file").write_text("")
    with pytest.raises(TwinError, match=r"Cannot write under .*a-file: it is a file"):
        check_output_folder(tmp_path / "a-file" / "out")


# ------------------------------------------------------------------------------ examples
@pytest.fixture(scope="module")
def examples(helsinki, cli):
    """The example scenarios with traffic, run once (the command lines of ``cli`` run in other
    processes meanwhile)."""
    return {
        name: run_scenario(EXAMPLES / f"{name}.yaml", city=helsinki)
        for name in ("baseline", "growth-and-closure", "collection-around-the-works")
    }


def test_baseline_example(examples):
    run = examples["baseline"]
    assert run.scenario == load_scenario(EXAMPLES / "baseline.yaml")
    traffic, waste = run.kpi_dict()["traffic"], run.kpi_dict()["waste"]
    assert traffic["trips"] == 2000 and traffic["simulated_s"] == 90 * 60
    assert 0 < traffic["trips_completed"] <= 2000
    settings = run.traffic.settings
    assert settings["window_s"] == 3600 and settings["demand_scale"] == 1.0
    assert settings["interventions"] == [] and settings["signals"] == []
    assert waste["days"] == 7 and waste["bins_emptied"] > 0 and 0 <= waste["service_level"] <= 1
    waste = run.waste.config
    assert (waste.policy, waste.planner, waste.n_trucks) == ("forecast", "pyvrp", 2)
    assert run.waste.traffic is None
    assert run.run_info()["scenario"] == "baseline" and run.run_info()["seed"] == 1


def test_growth_and_closure_example(examples, helsinki):
    base, grown = examples["baseline"], examples["growth-and-closure"]
    spec = grown.scenario
    # inherited from baseline.yaml
    assert (spec.city, spec.seed, spec.traffic.trips, spec.traffic.duration) == (
        "helsinki", 1, 2000, "90min",
    )  # fmt: skip
    waste = spec.waste
    assert (waste.days, waste.policy, waste.planner, waste.traffic_coupling) == (
        7,
        "forecast",
        "pyvrp",
        True,
    )
    assert grown.kpi_dict()["traffic"]["trips"] == round(2000 * 1.15)
    diff = compare(base, grown).set_index(["section", "kpi"])
    assert diff.loc[("traffic", "trips"), "difference"] == round(2000 * 1.15) - 2000

    # what the runs record: the closure, the demand growth and the retimed junction
    info = grown.traffic.run_info()
    assert info["demand_scale"] == 1.15 and info["trips_requested"] == 2000
    assert info["signals"] == [(EXAMPLE_RETIMED, [70.0, 13.0], 0.0)]
    # the retiming is one the traffic feels: the same run with the junction's default plan differs
    untimed = run_traffic(helsinki, spec.traffic.model_copy(update={"signals": []}), seed=1)
    assert untimed.kpis["trips"] == grown.kpi_dict()["traffic"]["trips"]
    assert untimed.kpis["mean_travel_time_s"] != grown.kpi_dict()["traffic"]["mean_travel_time_s"]
    closures = [i for i in info["interventions"] if i.startswith("CloseEdge")]
    assert len(closures) == 1 and f"'{CLOSED_EDGE}'" in closures[0]
    assert [i for i in info["interventions"] if i.startswith("ScaleDemand")] == [
        "ScaleDemand({'factor': 1.15})"
    ]
    waste_info = grown.waste.run_info()
    assert waste_info["interventions"] == closures
    assert {"baseline", "with_trucks"} <= waste_info["traffic"].keys()

    # the closed edge carries no car and no truck (in the baseline it carries both)
    _, edges = helsinki.network.to_geodataframes()
    u, v = (int(node) for node in CLOSED_EDGE.split("-"))
    closed = np.flatnonzero((edges["u"] == u) & (edges["v"] == v))
    assert len(closed) == 1

    def flow(run) -> float:
        series = run.traffic.result.edge_series
        return series.loc[series["edge"].isin(closed), "flow_vph"].sum()

    def trucks(run) -> int:
        return sum(bool(np.isin(closed, e).any()) for e in run.waste.result.routes["edges"])

    assert flow(base) > 0 and trucks(base) > 0
    assert flow(grown) == 0 and trucks(grown) == 0


def test_collection_around_the_works_example(examples):
    """Its traffic section only sets the trucks' streets and traffic: no traffic run, the
    closure applied to the trucks, 12,000 trips over their shift, and nothing of the baseline's
    traffic settings in the way."""
    works = examples["collection-around-the-works"]
    assert works.traffic is None and set(works.kpi_dict()) == {"waste"}
    info = works.waste.run_info()
    assert info["interventions"] == ["CloseEdge({'edge': '25291550-25291565', 'way': None})"]
    assert info["traffic"]["trips"] == 12000 and info["traffic"]["baseline"]["trips"] > 0
    assert not info["traffic"]["baseline"]["gridlock"]
    assert works.waste.kpis["days"] == 7


def test_coupled_traffic_has_the_scenarios_demand(examples):
    grown = examples["growth-and-closure"]
    assert grown.waste.traffic["baseline"]["trips"] == round(2000 * 1.15)


STREETS = {
    "name": "streets", "city": "helsinki", "seed": 3,
    "traffic": {"trips": 300, "duration": "20min"},
    "waste": {"days": 3, "planner": "greedy", "trucks": 2},
}  # fmt: skip


def _driven(run) -> np.ndarray:
    """Truck-days that take each edge of the city, by edge position."""
    counts = np.zeros(run.waste.city.network.n_edges, dtype=int)
    for edges in run.waste.result.routes["edges"]:
        counts[np.unique(np.asarray(edges, dtype=int))] += 1
    return counts


def test_a_traffic_section_not_simulated_only_sets_the_trucks_streets(helsinki, tmp_path):
    """``traffic.simulate: false``: no traffic run, and the waste run is the very one the same
    scenario simulating its traffic holds, closure applied: no truck on the street the trucks
    drove most while it was open."""
    open_streets = run_scenario({**STREETS, "traffic": None}, city=helsinki)
    network = helsinki.network
    busiest = int(np.argmax(_driven(open_streets)))
    osm = network.node_osmid
    closed = f"{osm[network.edge_u[busiest]]}-{osm[network.edge_v[busiest]]}"
    both = run_scenario(
        {**STREETS, "traffic": {**STREETS["traffic"], "close": [closed]}}, city=helsinki
    )
    streets = {**STREETS, "traffic": {**STREETS["traffic"], "close": [closed], "simulate": False}}
    alone = run_scenario(streets, city=helsinki)
    assert alone.traffic is None and both.traffic is not None
    assert alone.kpi_dict() == {"waste": both.waste.kpis}
    assert set(alone.kpis["section"]) == {"waste"}
    assert _driven(open_streets)[busiest] > 0
    assert _driven(alone)[busiest] == _driven(both)[busiest] == 0
    assert alone.waste.kpis != open_streets.waste.kpis
    assert alone.waste.run_info()["interventions"] == both.waste.run_info()["interventions"]
    # what it writes says so: the section is kept, no traffic folder
    out = alone.write(tmp_path / "out")
    assert not (out / "traffic").exists() and (out / "waste" / "kpis.json").is_file()
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["traffic"]["simulate"] is False and written["traffic"]["close"] == [closed]


# ------------------------------------------------------------------------------ command line


BAD_FOR_CLI = """
name: bad
city: helsinki
traffic:
  trips: many
waste:
  policy: fastest
"""


@pytest.fixture(scope="module")
def cli(helsinki, tmp_path_factory):
    """Every command line of this module, started at once in other processes (the ``helsinki``
    fixture has filled the cache they load the city from)."""
    root = tmp_path_factory.mktemp("scenario-cli").resolve()
    bad = _write(root / "bad.yaml", BAD_FOR_CLI)
    occupied = root / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    fixed = EXAMPLES / "fixed-rounds.yaml"
    # a shift too short for the rounds: the waste run warns of bins left to overflow
    short = _write(
        root / "short.yaml",
        f"extends: {fixed}\nname: short\nwaste:\n  days: 2\n  shift: 20min\n",
    )
    commands = {
        "run": ("run", str(fixed), "--out", str(root / "fixed"), "--json"),
        "check-good": ("scenario", "check", str(EXAMPLES / "growth-and-closure.yaml")),
        "check-bad": ("scenario", "check", str(bad)),
        "check-missing": ("scenario", "check", "--shallow", str(root / "nowhere.yaml")),
        "schema": ("scenario", "schema"),
        "run-bad": ("run", str(bad), "--out", str(root / "never"), "--json"),
        "run-occupied": ("run", str(fixed), "--out", str(occupied)),
        "run-warned": ("run", str(short), "--out", str(root / "short"), "--json"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_twin, *args) for name, args in commands.items()}
        yield {"root": root, "bad": bad, "occupied": occupied, "runs": futures}


def _result(cli, name: str) -> subprocess.CompletedProcess:
    result = cli["runs"][name].result()
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_check_accepts_an_example(cli):
    result = _result(cli, "check-good")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "ok (growth-and-closure: traffic, waste on helsinki)" in _flat(result.stderr)


def test_cli_check_refuses_a_wrong_file_with_file_and_line(cli):
    bad = cli["bad"]
    result = _result(cli, "check-bad")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: "), lines
    lines[0] = lines[0].removeprefix("error: ")
    assert lines[0].startswith(f"{bad}:4: traffic.trips: ") and "(got 'many')" in lines[0]
    assert lines[1].startswith(f"{bad}:6: waste.policy: ") and POLICIES in lines[1]

    missing = _result(cli, "check-missing")
    assert missing.returncode == 1 and missing.stdout == ""
    assert (
        missing.stderr.strip() == f"error: {cli['root'] / 'nowhere.yaml'}: no such scenario file."
    )


def test_cli_schema_prints_one_json_object(cli):
    result = _result(cli, "schema")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == scenario_schema()


def test_cli_run_writes_what_it_prints(cli):
    result = _result(cli, "run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    out = cli["root"] / "fixed"
    assert payload.keys() == {"scenario", "seed", "waste", "out", "warnings"}
    assert payload["warnings"] == []  # no traffic section, nothing unfinished to name
    assert (payload["scenario"], payload["seed"], payload["out"]) == ("fixed-rounds", 1, str(out))
    assert payload["waste"] == json.loads((out / "kpis.json").read_text())["waste"]
    assert payload["waste"] == json.loads((out / "waste" / "kpis.json").read_text())
    assert payload["waste"]["days"] == 7 and payload["waste"]["bins_emptied"] > 0
    assert sorted(os.listdir(out)) == [
        OUTPUT_MARKER, "kpis.json", "kpis.parquet", "run.json", "scenario.yaml", "waste",
    ]  # fmt: skip
    # fixed weekly rounds also write their rounds, the file a city edits into its own
    assert sorted(os.listdir(out / "waste")) == sorted([*WASTE_FILES, "rounds.csv"])
    assert load_scenario(out / "scenario.yaml") == load_scenario(EXAMPLES / "fixed-rounds.yaml")
    config = json.loads((out / "waste" / "run.json").read_text())["config"]
    assert (config["policy"], config["n_trucks"], config["days"]) == ("schedule", 2, 7)


def test_cli_run_says_the_waste_runs_warnings(cli):
    warned = _result(cli, "run-warned")
    assert warned.returncode == 0, warned.stderr
    payload = json.loads(warned.stdout)
    written = json.loads((cli["root"] / "short" / "waste" / "run.json").read_text())["warnings"]
    assert any("could not empty" in warning for warning in written)
    assert payload["warnings"] == written
    assert f"warning: {written[0][:40]}" in _flat(warned.stderr)


def test_cli_run_says_what_an_od_table_lost_and_its_unused_window(helsinki, tmp_path):
    """A scenario's OD table that names a node the city lacks, beside a departure window its
    rows make unused: both said on stderr and in the JSON, as `twin traffic` says them."""
    ids = helsinki.network.node_osmid
    (tmp_path / "od.csv").write_text(
        f"origin,destination,departure\n{ids[0]},{ids[5]},60\n12345,{ids[6]},0\n"
    )
    scenario = tmp_path / "od.yaml"
    scenario.write_text(
        "name: od\ncity: helsinki\ntraffic:\n  od: od.csv\n  duration: 10min\n"
        "  window: 5min\n  dt_s: 5\n"
    )
    done = _twin("run", str(scenario), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    said = [
        "traffic.window '5min' is not used: the OD table's rows carry their departures (leave "
        "the window out, or shift the table's departure times).",
        "1 of 2 OD rows name nodes not in the network: they do not run.",
    ]
    assert json.loads(done.stdout)["warnings"][:2] == said
    for line in said:
        assert f"warning: {line}" in _flat(done.stderr)


def test_cli_run_refuses_before_writing(cli):
    result = _result(cli, "run-bad")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {cli['bad']}:4: traffic.trips: ")
    assert not (cli["root"] / "never").exists()

    occupied = _result(cli, "run-occupied")
    assert occupied.returncode == 2 and occupied.stdout == ""
    assert "--out" in _flat(occupied.stderr) and "--overwrite" in _flat(occupied.stderr)
    assert os.listdir(cli["occupied"]) == ["keep.txt"]


def test_pyvrp_scenarios_repeat_bit_for_bit(helsinki):
    """PyVRP stopped by its iteration limit (the scenario default) plans the same routes on
    every run, however fast the machine: same scenario and seed, same KPIs."""
    scenario = {
        "name": "planned",
        "city": "helsinki",
        "seed": 4,
        "waste": {"days": 4, "policy": "pyvrp", "trucks": 2, "solver_iterations": 150},
    }
    first = run_scenario(scenario, city=helsinki).kpi_dict()
    again = run_scenario(scenario, city=helsinki).kpi_dict()
    assert first == again
    assert first["waste"]["bins_emptied"] > 0


def test_bin_settings_reach_the_waste_run(helsinki):
    """``waste.bins`` sets how bins are made: fewer residents per container, more containers."""

    def containers(residents: float) -> int:
        waste = {"days": 1, "policy": "greedy", "trucks": 2, "population": 20_000}
        waste["bins"] = {"use_osm": False, "residents_per_bin": residents}
        run = run_scenario({"name": "bins", "city": "helsinki", "waste": waste}, city=helsinki)
        return int(run.waste.result.bins["containers"].sum())

    few, many = containers(40.0), containers(10.0)
    assert few >= 500 and many >= 2000 and many > 2 * few  # ceil(20,000 / residents) at least


def test_a_learned_planner_checkpoint_is_relative_to_its_file_and_checked(folder):
    from generative.propose import GENERAL_CHECKPOINT

    (folder / "models").mkdir()
    (folder / "models" / "mine.pt").write_bytes(GENERAL_CHECKPOINT.read_bytes())
    good = _write(
        folder / "learned.yaml",
        """
        name: learned
        city: helsinki
        waste:
          policy: learned
          days: 2
          checkpoint: models/mine.pt
        """,
    )
    assert check_scenario(good, deep=False).waste.checkpoint == str(folder / "models" / "mine.pt")
    wrong_policy = _write(
        folder / "pyvrp.yaml",
        """
        name: pyvrp
        city: helsinki
        waste:
          policy: pyvrp
          checkpoint: models/mine.pt
        """,
    )
    assert _refusal(wrong_policy, deep=True) == [
        f"{wrong_policy}:5: waste.checkpoint: a checkpoint is for planner 'learned', not "
        "'pyvrp' (set that planner, or remove the checkpoint)"
    ]
    missing = _write(
        folder / "missing.yaml",
        """
        name: missing
        city: helsinki
        waste:
          policy: learned
          checkpoint: models/none.pt
        """,
    )
    (line,) = _refusal(missing, deep=True)
    assert line.startswith(f"{missing}:5: waste.checkpoint: ") and "no such checkpoint" in line


def test_a_scenarios_progress_runs_through_both_sections_once(helsinki):
    """Traffic, then waste: each reports its share of the whole (the first half, the second),
    never backwards, and the whole ends at 1."""
    seen: list[float] = []
    scenario = {
        "name": "both", "city": "helsinki", "seed": 1,
        "traffic": {"trips": 200, "duration": "30min"},
        "waste": {"days": 3, "planner": "greedy", "trucks": 2},
    }  # fmt: skip
    run_scenario(scenario, city=helsinki, on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    halves = [f for f in seen if f <= 0.5], [f for f in seen if f > 0.5]
    assert len(halves[0]) > 3 and halves[0][-1] == pytest.approx(0.5)  # the traffic's steps
    assert len(halves[1]) == 3  # one report a waste day


def test_check_reads_the_rounds_file_a_scenario_names_and_meets_its_stops_with_the_bins(
    tmp_path, helsinki
):
    from twin.api import check_scenario

    path = _write(
        tmp_path / "own.yaml",
        """
        name: own
        city: helsinki
        waste: {days: 2, policy: current, rounds: own.csv}
        """,
    )
    with pytest.raises(ScenarioError, match=r"own.yaml:3: waste.rounds: .*own.csv: no such file"):
        check_scenario(path)
    (tmp_path / "own.csv").write_text("weekday,truck,stop,bin\nMon,1,1,3\nMon,1,2,3\n")
    with pytest.raises(ScenarioError, match=r"own.yaml:3: waste.rounds: .*line 2 and line 3"):
        check_scenario(path)
    # a stop at a bin the city lacks: found by placing the city's bins, as a run places them
    (tmp_path / "own.csv").write_text("weekday,truck,stop,bin\nMon,1,1,3\nMon,1,2,99999\n")
    with pytest.raises(ScenarioError, match=r"own.yaml:3: waste.rounds: .*line 3: names bin "):
        check_scenario(path)
    assert check_scenario(path, deep=False).waste.rounds.endswith("own.csv")  # the file alone
    (tmp_path / "own.csv").write_text("weekday,truck,stop,bin\nMon,1,1,3\nMon,1,2,4\n")
    assert check_scenario(path).waste.rounds.endswith("own.csv")


def test_check_reads_the_od_table_a_scenario_names(tmp_path, helsinki):
    from twin.api import check_scenario

    path = _write(
        tmp_path / "od.yaml",
        """
        name: od
        city: helsinki
        traffic: {od: trips.csv, duration: 30min}
        """,
    )
    with pytest.raises(ScenarioError, match=r"od.yaml:3: traffic.od: No such OD table"):
        check_scenario(path)
    (tmp_path / "trips.csv").write_text("origin,destination,departure\n1,2,99:00\n")
    with pytest.raises(ScenarioError, match=r"od.yaml:3: traffic.od: .*cannot be read"):
        check_scenario(path)
    nodes = helsinki.network.node_osmid
    (tmp_path / "trips.csv").write_text(
        f"origin,destination,departure\n{nodes[0]},{nodes[5]},00:10:00\n"
    )
    assert check_scenario(path).traffic.od.endswith("trips.csv")
