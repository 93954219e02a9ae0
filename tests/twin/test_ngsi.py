"""NGSI-LD export (`twin.ngsi`): bins as `WasteContainer` and road segments as
`TrafficFlowObserved` entities that validate against the Smart Data Models JSON Schemas shipped in
tests/data/ngsi (resolved offline), carry the run's numbers unchanged, and a validator that does
reject a broken entity."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import referencing.exceptions
import shapely
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from pyproj import Transformer
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT7, DRAFT202012

from twin.api import run_traffic, run_waste
from twin.ngsi import (
    NGSI_LD_CORE_CONTEXT,
    REFERENCE_START,
    traffic_flow_observed,
    waste_containers,
    write_ngsi_ld,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ngsi"
SDM_COMMON = "https://smart-data-models.github.io/data-models/common-schema.json"
FIWARE_COMMON = "https://fiware.github.io/dataModels/common-schema.json"
GEOJSON_GEOMETRY = "http://json-schema.org/geojson/geometry.json"


def _schema(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# The remote $refs of the shipped schemas, served from the local copies. The registry has no
# `retrieve` function, so a $ref it does not hold raises instead of reaching the network.
REGISTRY = Registry().with_resources(
    [
        (SDM_COMMON, DRAFT202012.create_resource(_schema("common-schema.json"))),
        (FIWARE_COMMON, DRAFT7.create_resource(_schema("fiware-common-schema.json"))),
        (GEOJSON_GEOMETRY, DRAFT4.create_resource(_schema("geojson-geometry-schema.json"))),
    ]
)

# jsonschema checks "date-time" and "uri" only with optional packages installed; these checkers
# make the formats the schemas use assertions here, without them.
FORMATS = FormatChecker(formats=())
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+")


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value)  # a real date and time (no 31 February)
    return RFC3339.fullmatch(value) is not None


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or URI.fullmatch(value) is not None


def _validator(schema: dict, cls: type = Draft202012Validator):
    return cls(schema, registry=REGISTRY, format_checker=FORMATS)


# WasteContainer 0.2.0 declares "http://json-schema.org/schema#" (the latest draft) and refers to
# the 2020-12 common schema. TrafficFlowObserved is the FIWARE-era schema (draft-07 common
# schema, draft-04 GeoJSON geometry, `items` as arrays), so it is checked with draft 7, and
# against the current common definitions (id pattern, GeoJSON) that the current model uses too.
WASTE_CONTAINER = _validator(_schema("WasteContainer.schema.json"))
TRAFFIC_FLOW = _validator(_schema("TrafficFlowObserved.schema.json"), Draft7Validator)
CURRENT_COMMONS = _validator(
    {"allOf": [{"$ref": f"{SDM_COMMON}#/definitions/{name}"} for name in ("GSMA-Commons",
                                                                        "Location-Commons")]}
)  # fmt: skip


def _errors(validator, entity: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(entity)]


def _declared(schema: dict) -> set[str]:
    """Every attribute a Smart Data Models schema defines (its own and its common parts')."""
    resolver = REGISTRY.resolver()
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            part = resolver.lookup(part["$ref"]).contents
        names |= set(part.get("properties", {}))
    return names


@pytest.fixture(scope="module")
def waste(helsinki):
    return run_waste(helsinki, days=3, policy="greedy", trucks=2)


@pytest.fixture(scope="module")
def traffic(helsinki):
    return run_traffic(helsinki, trips=300, duration="20min")


@pytest.fixture(scope="module")
def containers(waste):
    return waste.to_ngsi_ld()


@pytest.fixture(scope="module")
def flows(traffic):
    return traffic.to_ngsi_ld()


# ------------------------------------------------------------------------- WasteContainer
def test_every_waste_container_validates(containers, waste):
    assert len(containers) == len(waste.result.bins) > 0
    for entity in containers:
        assert _errors(WASTE_CONTAINER, entity) == [], entity["id"]
        assert _errors(CURRENT_COMMONS, entity) == [], entity["id"]


def test_waste_containers_use_only_attributes_of_the_model(containers):
    declared = _declared(_schema("WasteContainer.schema.json")) | {"@context"}
    for entity in containers:
        assert set(entity) <= declared, set(entity) - declared
        assert entity["type"] == "WasteContainer"
        assert entity["@context"][-1] == NGSI_LD_CORE_CONTEXT


def test_waste_container_ids_are_unique_urns(containers):
    ids = [e["id"] for e in containers]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("urn:ngsi-ld:WasteContainer:helsinki:") for i in ids)


def test_fill_levels_and_weights_are_the_runs(containers, waste):
    bins = waste.result.bins
    level = np.array([e["fillingLevel"] for e in containers])
    np.testing.assert_allclose(level, bins["fill_kg"] / bins["capacity_kg"], rtol=0, atol=1e-12)
    np.testing.assert_allclose([e["cargoWeight"] for e in containers], bins["fill_kg"])
    np.testing.assert_allclose([e["binMaxLoad"] for e in containers], bins["capacity_kg"])
    assert 0 < level.mean() < 1


def test_bin_positions_round_trip_to_the_network_crs(containers, waste):
    bins = waste.result.bins
    lon, lat = np.array([e["location"]["coordinates"] for e in containers]).T
    back = Transformer.from_crs("EPSG:4326", waste.city.network.crs, always_xy=True)
    x, y = back.transform(lon, lat)
    assert np.abs(x - bins["x"]).max() < 1e-6
    assert np.abs(y - bins["y"]).max() < 1e-6
    assert np.all((lon > 24) & (lon < 26) & (lat > 59) & (lat < 61))  # Helsinki


def test_waste_observation_time_is_the_end_of_the_run(containers):
    assert REFERENCE_START.weekday() == 0  # a Monday, as waste day 0
    assert {e["timeInstant"] for e in containers} == {"2026-01-08T00:00:00Z"}


def test_mapped_containers_keep_their_osm_node(waste):
    bins = waste.result.bins.head(3).copy()
    bins["kind"] = ["waste_disposal", "recycling", "waste_basket"]
    bins["osm_id"] = [101, 102, 103]
    bins["land_use"] = ["residential", "commercial", "residential"]
    entities = waste_containers(
        bins, crs=waste.city.network.crs, city="Hel sinki!", observed_at="2026-01-05T07:30:00+02:00"
    )
    assert [e["id"] for e in entities] == [
        f"urn:ngsi-ld:WasteContainer:Hel-sinki:osm-node-{i}" for i in (101, 102, 103)
    ]
    assert [e["category"] for e in entities] == [["underground"], ["ground"], ["fixed"]]
    assert [e["storedWasteOrigin"] for e in entities] == ["household", "municipal", "municipal"]
    assert entities[0]["seeAlso"] == "https://www.openstreetmap.org/node/101"
    assert entities[0]["timeInstant"] == "2026-01-05T05:30:00Z"
    for entity in entities:
        assert _errors(WASTE_CONTAINER, entity) == []


def test_bins_sharing_an_id_are_refused(waste):
    bins = waste.result.bins.head(2)
    with pytest.raises(ValueError, match="share the id"):
        waste_containers(
            bins.set_axis([7, 7]), crs=waste.city.network.crs, city="x", observed_at=REFERENCE_START
        )


# ---------------------------------------------------------------------- TrafficFlowObserved
def test_every_traffic_flow_observation_validates(flows):
    for entity in flows:
        assert _errors(TRAFFIC_FLOW, entity) == [], entity["id"]
        assert _errors(CURRENT_COMMONS, entity) == [], entity["id"]


def test_traffic_flows_use_only_attributes_of_the_model(flows):
    declared = _declared(_schema("TrafficFlowObserved.schema.json")) | {"@context", "id"}
    for entity in flows:
        assert set(entity) <= declared, set(entity) - declared


def test_one_observation_per_edge_with_unique_ids(flows, traffic):
    edges = traffic.edges()
    assert len(flows) == len(edges) == traffic.city.network.n_edges
    ids = [e["id"] for e in flows]
    assert len(set(ids)) == len(ids)
    assert ids[0] == (
        f"urn:ngsi-ld:TrafficFlowObserved:helsinki:{edges['u'].iloc[0]}-{edges['v'].iloc[0]}-"
        f"{edges['key'].iloc[0]}"
    )


def test_intensity_is_the_vehicles_that_left_each_edge(flows, traffic):
    series = traffic.result.edge_series
    left = series["flow_vph"] * traffic.config.record_interval_s / 3600.0
    vehicles = left.groupby(series["edge"]).sum().reindex(traffic.edges().index)
    assert [e["intensity"] for e in flows] == [round(v) for v in vehicles]
    assert all(isinstance(e["intensity"], int) for e in flows)
    assert sum(e["intensity"] for e in flows) > 0


def test_speed_occupancy_and_congestion_follow_the_run(flows, traffic):
    edges = traffic.edges()
    series = traffic.result.edge_series
    density = series.groupby("edge")["density_vpkm"].mean().reindex(edges.index)
    jam = edges["storage_veh"] / (edges["length_m"] / 1000.0)
    np.testing.assert_allclose([e["occupancy"] for e in flows], np.clip(density / jam, 0, 1))
    critical = edges["capacity_vph"] / edges["speed_kph"]
    assert [e["congested"] for e in flows] == list(edges["peak_density_vpkm"] > critical)
    for entity, flow in zip(flows, edges["mean_flow_vph"], strict=True):
        assert ("averageVehicleSpeed" in entity) == (entity["intensity"] > 0)
        if flow > 0:
            assert 0 < entity["averageVehicleSpeed"] < 200


def test_edge_lines_round_trip_to_the_network_crs(flows, traffic):
    edges = traffic.edges()
    back = Transformer.from_crs("EPSG:4326", traffic.city.network.crs, always_xy=True)
    for entity, geometry in zip(flows, edges.geometry, strict=True):
        lon, lat = np.array(entity["location"]["coordinates"]).T
        x, y = back.transform(lon, lat)
        assert np.abs(np.c_[x, y] - shapely.get_coordinates(geometry)).max() < 1e-6


def test_period_names_and_road_segments(flows, traffic):
    edges = traffic.edges()
    assert {e["dateObserved"] for e in flows} == {"2026-01-05T00:00:00Z/2026-01-05T00:20:00Z"}
    named = [e for e in flows if "name" in e]
    assert len(named) == int((edges["name"] != "").sum())
    assert flows[0]["refRoadSegment"].endswith(f":osm-way-{edges['osmid'].iloc[0]}")


def test_whole_run_columns_alone_give_the_same_counts(flows, traffic):
    """Without the time series, intensity comes from the mean flow (20 min: whole intervals)."""
    summary = traffic_flow_observed(
        traffic.edges(),
        city="helsinki",
        date_observed_from=REFERENCE_START,
        date_observed_to=REFERENCE_START + timedelta(minutes=20),
    )
    np.testing.assert_allclose(
        [e["intensity"] for e in summary], [e["intensity"] for e in flows], atol=1e-9
    )
    assert not any("occupancy" in e for e in summary)
    for entity in summary:
        assert _errors(TRAFFIC_FLOW, entity) == []


def test_an_empty_period_is_refused(traffic):
    with pytest.raises(ValueError, match="empty"):
        traffic_flow_observed(
            traffic.edges(),
            city="helsinki",
            date_observed_from=REFERENCE_START,
            date_observed_to=REFERENCE_START,
        )


# ------------------------------------------------------------------- the validators can fail
def _broken(entity: dict, change) -> dict:
    broken = copy.deepcopy(entity)
    change(broken)
    return broken


WASTE_BREAKS = {
    "filling level above 1": lambda e: e.update(fillingLevel=1.5),
    "negative cargo weight": lambda e: e.update(cargoWeight=-1.0),
    "wrong type": lambda e: e.update(type="WasteBin"),
    "unknown category": lambda e: e.update(category=["bucket"]),
    "unknown waste origin": lambda e: e.update(storedWasteOrigin="space"),
    "no location": lambda e: e.pop("location"),
    "not a date-time": lambda e: e.update(timeInstant="yesterday"),
    "id with a space": lambda e: e.update(id="urn:ngsi-ld:WasteContainer:a b"),
    "point without coordinates": lambda e: e["location"].pop("coordinates"),
}
TRAFFIC_BREAKS = {
    "occupancy above 1": lambda e: e.update(occupancy=1.5),
    "negative intensity": lambda e: e.update(intensity=-3),
    "congested not a boolean": lambda e: e.update(congested="yes"),
    "no dateObserved": lambda e: e.pop("dateObserved"),
    "dateObservedFrom not a date-time": lambda e: e.update(dateObservedFrom="2026-13-01T00:00Z"),
    "wrong type": lambda e: e.update(type="TrafficFlow"),
    "position with three numbers": lambda e: e["location"]["coordinates"][0].append(0.0),
}


@pytest.mark.parametrize("change", WASTE_BREAKS.values(), ids=WASTE_BREAKS.keys())
def test_a_broken_waste_container_fails_validation(containers, change):
    broken = _broken(containers[0], change)
    assert _errors(WASTE_CONTAINER, broken) or _errors(CURRENT_COMMONS, broken)


@pytest.mark.parametrize("change", TRAFFIC_BREAKS.values(), ids=TRAFFIC_BREAKS.keys())
def test_a_broken_traffic_flow_observation_fails_validation(flows, change):
    assert _errors(TRAFFIC_FLOW, _broken(flows[0], change))


def test_references_outside_the_shipped_schemas_are_not_fetched():
    validator = _validator({"$ref": "https://example.org/elsewhere.json"})
    with pytest.raises(referencing.exceptions.Unresolvable):
        validator.validate({})


# ------------------------------------------------------------------------------------- file
def test_write_ngsi_ld_writes_one_json_array(tmp_path, containers, flows):
    path = write_ngsi_ld([*containers[:5], *flows[:5]], tmp_path / "entities.jsonld")
    assert json.loads(path.read_text(encoding="utf-8")) == [*containers[:5], *flows[:5]]
    with pytest.raises(ValueError):
        write_ngsi_ld([{"id": "x", "value": float("nan")}], tmp_path / "nan.json")


def test_scenario_outputs_write_valid_ngsi_ld(helsinki, tmp_path):
    """``outputs.formats: [ngsi-ld]`` writes both entity files next to the tables."""
    from twin.api import run_scenario

    scenario = {
        "name": "ngsi",
        "city": "helsinki",
        "traffic": {"trips": 100, "duration": "10min"},
        "waste": {"days": 2, "policy": "greedy", "trucks": 2},
        "outputs": {"formats": ["ngsi-ld"]},
    }
    out = run_scenario(scenario, city=helsinki).write(tmp_path / "run")
    bins = json.loads((out / "waste" / "WasteContainer.json").read_text())
    roads = json.loads((out / "traffic" / "TrafficFlowObserved.json").read_text())
    assert len(bins) == len(pd.read_parquet(out / "waste" / "bins.parquet"))
    assert len(roads) == helsinki.network.n_edges
    assert all(_errors(WASTE_CONTAINER, entity) == [] for entity in bins)
    assert all(_errors(TRAFFIC_FLOW, entity) == [] for entity in roads)
    assert not (out / "waste" / "bins.geojson").exists()  # only the formats asked for
