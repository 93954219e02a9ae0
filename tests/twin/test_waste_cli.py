"""`twin waste` and `run_waste`: KPIs as JSON that agree with the tables written beside them,
exports that read back, a traffic coupling that counts the trucks it adds, clear refusals, and
output folders that appear whole or not at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from agents.traffic.signals import default_plans
from tests.conftest import flat as _flat
from tests.conftest import run_twin as _twin
from twin._shift_traffic import shift_traffic_memo
from twin.api import run_waste
from twin.errors import TwinError
from twin.signal_files import write_plan_csv
from twin.specs import ScenarioError

SIGNAL_NODE = 25291537  # a signalized junction of helsinki with a two-phase default plan
WEEK = ("waste", "helsinki", "--days", "7", "--planner", "greedy", "--trucks", "2")
# small trucks on short shifts: bins overflow, so the service level falls below 1
TIGHT = (*WEEK, "--capacity", "5000", "--shift", "3h", "--json")
KPI_KEYS = {
    "days", "bins", "truck_km", "truck_hours", "co2_kg", "bins_emptied", "service_level",
    "overflow_bin_days", "collected_t", "generated_t", "overflow_t", "unloads", "cost_eur",
    "cost_per_tonne_eur", "overflow_cost_eur", "initial_in_bins_t", "factors",
}  # fmt: skip
OUT_FILES = [
    ".twin-output.json", "bin_fill.parquet", "bins.geojson", "bins.parquet", "daily.parquet",
    "kpis.json", "kpis.parquet", "routes.geojson", "routes.parquet", "run.json", "waste.gpkg",
]  # fmt: skip

# refused input: (extra arguments, exit status, words the message must hold). Errors of the
# twin's own (TwinError) exit 1 with one `error:` line naming the option as typed and the field
# as a scenario file names it; typer's BadParameter exits 2 with a usage message naming the
# option.
REFUSALS = {
    "policy": (
        ["--policy", "weekly"],
        1,
        ["--policy (waste.policy): must be one of", "forecast", "'weekly'"],
    ),
    "planner": (
        ["--planner", "fast"],
        1,
        ["--planner (waste.planner): must be one of", "'pyvrp'", "'fast'"],
    ),
    "trucks": (["--trucks", "0"], 1, ["--trucks (waste.trucks): must be ≥ 1 (got 0)"]),
    "capacity": (
        ["--capacity", "-1"],
        1,
        ["--capacity (waste.truck_capacity_kg): must be > 0 (got -1)"],
    ),
    # ten meant as tonnes: not a bin's load, where the fleet sized for it would pass 1,000
    "capacity-tonnes": (
        ["--capacity", "10"],
        1,
        [
            "waste.truck_capacity_kg: a truck of 10 kg cannot take one full collection point",
            "(a 10-tonne truck: 10000)",
        ],
    ),
    "days": (["--days", "0"], 1, ["--days (waste.days): must be ≥ 1 (got 0)"]),
    "seed": (["--seed", "-1"], 1, ["seed: must be ≥ 0 (got -1)"]),
    "shift-zero": (["--shift", "0h"], 1, ["--shift (waste.shift): the shift must be more than 0"]),
    "shift-words": (
        ["--shift", "soon"],
        1,
        ["--shift (waste.shift): cannot read the shift", "'soon'"],
    ),
    "depot-text": (["--depot", "abc"], 2, ["--depot", "'abc'", "lon,lat"]),
    "depot-far": (["--depot", "0,0"], 1, ["depot", "km from the nearest road of helsinki"]),
    "export": (["--export", "shp"], 2, ["--export", "shp", "geojson or gpkg"]),
    "forecast": (
        ["--forecast-days", "2"],
        1,
        [
            "--forecast-days (waste.forecast_days): the forecast is other days",
            # the advice in the command's words, not the scenario file's
            "set --traffic-trips, or --forecast-days 0",
        ],
    ),
    "objective": (
        ["--objective", "euros"],
        1,
        ["'greedy' planner minimises km (set --planner pyvrp, or --objective km)"],
    ),
    "occupied": ([], 2, ["--out", "not empty", "--overwrite"]),
}


@pytest.fixture(scope="module")
def cli(helsinki, tmp_path_factory):
    """Every command line run of this module, started at once: each one spends most of its
    time importing and loading the city (the ``helsinki`` fixture has filled the cache)."""
    root = tmp_path_factory.mktemp("waste-cli")
    runs: dict[str, tuple[Future, object]] = {}
    with ThreadPoolExecutor(max_workers=min(8, max(2, os.cpu_count() or 2))) as pool:

        def start(name, *args, out=None):
            runs[name] = (pool.submit(_twin, *args), out)

        exported = root / "exported" / "out"
        start(
            "exported",
            *TIGHT, "--seed", "3", "--out", str(exported), "--export", "gpkg", "--export",
            "geojson",
            out=exported,
        )  # fmt: skip
        start("plain", *WEEK, "--json")
        start("again", *WEEK, "--json")
        for name, (args, _, _) in REFUSALS.items():
            out = root / f"refused-{name}" / "out"
            out.parent.mkdir()
            if name == "occupied":
                out.mkdir()
                (out / "keep.txt").write_text("mine")
            base = ["waste", "helsinki", "--days", "2", "--planner", "greedy"]
            start(name, *base, *args, "--json", "--out", str(out), out=out)
        blocker = root / "out-is-a-file" / "results"
        blocker.parent.mkdir()
        blocker.write_text("mine")
        start("out-is-a-file", *WEEK, "--json", "--out", str(blocker), out=blocker)
        yield {name: (future.result(), out) for name, (future, out) in runs.items()}


def _one_json_object(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


def _check_kpi_formulas(kpis: dict) -> None:
    factors = kpis["factors"]
    assert kpis["co2_kg"] == pytest.approx(
        kpis["truck_km"] * factors["diesel_l_per_km"] * factors["co2_kg_per_diesel_l"], rel=1e-12
    )
    assert kpis["service_level"] == pytest.approx(
        1 - kpis["overflow_bin_days"] / (kpis["bins"] * kpis["days"]), rel=1e-12
    )
    cost = (
        kpis["truck_hours"] * factors["truck_hour_eur"] + kpis["truck_km"] * factors["truck_km_eur"]
    )
    assert kpis["cost_eur"] == pytest.approx(cost, rel=1e-12)
    assert kpis["cost_per_tonne_eur"] == pytest.approx(cost / kpis["collected_t"], rel=1e-12)
    assert kpis["truck_km_per_day"] == pytest.approx(kpis["truck_km"] / kpis["days"], rel=1e-12)
    assert kpis["overflow_cost_eur"] == kpis["overflow_bin_days"] * factors["overflow_eur"]


def test_json_kpis(cli):
    result, _ = cli["plain"]
    kpis = _one_json_object(result)
    assert kpis.keys() >= KPI_KEYS
    assert (kpis["city"], kpis["policy"], kpis["planner"], kpis["seed"]) == (
        "helsinki",
        "forecast",
        "greedy",
        0,
    )
    assert kpis["days"] == 7 and kpis["bins"] > 0 and kpis["warnings"] == []
    assert "out" not in kpis and "traffic" not in kpis
    assert kpis["truck_km"] > 0 and kpis["bins_emptied"] > 0 and kpis["collected_t"] > 0
    assert 0 <= kpis["service_level"] <= 1
    _check_kpi_formulas(kpis)


def test_outputs_read_back_and_agree(cli, helsinki):
    result, out = cli["exported"]
    kpis = _one_json_object(result)
    assert kpis["out"] == str(out) and kpis["seed"] == 3
    # the tight fleet lets bins overflow, so the service level is a real check
    assert kpis["overflow_bin_days"] > 0 and kpis["service_level"] < 1
    _check_kpi_formulas(kpis)
    assert sorted(p.name for p in out.iterdir()) == OUT_FILES
    # the folder is an ordinary one (as mkdir under the user's umask makes), not a private one
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask

    written = json.loads((out / "kpis.json").read_text())
    assert written == {key: kpis[key] for key in written} and written.keys() >= KPI_KEYS
    flat = pd.read_parquet(out / "kpis.parquet")
    assert len(flat) == 1 and "factors" not in flat
    for key in flat:
        assert flat[key].iloc[0] == pytest.approx(kpis[key], rel=1e-12)

    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 3 and run["city_sha256"] == helsinki.source.sha256
    config = run["config"]
    assert (config["days"], config["planner"], config["n_trucks"]) == (7, "greedy", 2)
    assert config["truck_capacity_kg"] == 5000 and config["shift_s"] == 3 * 3600

    # daily table: one row a day, and waste is neither made nor lost
    daily = pd.read_parquet(out / "daily.parquet")
    assert daily["day"].tolist() == list(range(7))
    in_bins = (
        kpis["initial_in_bins_t"] * 1000
        + daily["generated_kg"].cumsum()
        - daily["collected_kg"].cumsum()
        - daily["overflow_kg"].cumsum()
    )
    np.testing.assert_allclose(daily["in_bins_kg"], in_bins, rtol=1e-9)
    assert daily["truck_km"].sum() == pytest.approx(kpis["truck_km"], rel=1e-12)
    assert daily["overflowing_bins"].sum() == kpis["overflow_bin_days"]
    # a weekend asks for and plans nothing: zeros, so that a week's counts stay whole numbers
    # (they read NaN, and turned float in runs that held a weekend)
    weekend = daily["weekday"] >= 5
    assert weekend.sum() == 2 and daily["requested"].dtype == np.int64
    assert (daily.loc[weekend, ["requested", "planned_km", "planned_hours"]] == 0).all().all()
    assert daily.loc[weekend, "planned_by"].isna().all()
    # each bin's fill at the end of each day adds up to the day's waste in bins, and never
    # exceeds the bin (what does not fit overflows)
    fill = pd.read_parquet(out / "bin_fill.parquet")
    assert len(fill) == 7 * fill["bin"].nunique()
    by_day = fill.groupby("day")["fill_kg"].sum()
    np.testing.assert_allclose(by_day, daily["in_bins_kg"], rtol=1e-5)
    assert fill["fill_share"].max() <= 1 + 1e-6

    # routes: one line per truck sent out on a working day, in WGS84, adding up to the KPIs
    routes = gpd.read_parquet(out / "routes.parquet")
    assert routes.crs == "EPSG:4326"
    assert len(routes) == daily["trucks_out"].sum() > 0
    assert not routes.duplicated(["day", "truck"]).any()
    assert (routes["day"] % 7 < 5).all() and routes["truck"].between(0, 1).all()
    assert routes["distance_km"].sum() == pytest.approx(kpis["truck_km"], rel=1e-9)
    assert routes["duration_h"].sum() == pytest.approx(kpis["truck_hours"], rel=1e-9)
    assert routes["collected_kg"].sum() == pytest.approx(kpis["collected_t"] * 1000, rel=1e-9)
    assert routes["bins_emptied"].sum() == kpis["bins_emptied"]
    assert routes["unloads"].sum() == kpis["unloads"]
    assert set(routes.geom_type) <= {"LineString", "MultiLineString"}
    driven = routes["distance_km"] > 0
    assert (routes.is_empty == ~driven).all()
    # the lines are the roads driven: their length in metres (projected back from WGS84)
    # is the distance driven (edge lengths are great-circle ones: within 1 %)
    length_km = routes.to_crs(routes.estimate_utm_crs()).length / 1000
    np.testing.assert_allclose(length_km[driven], routes["distance_km"][driven], rtol=0.01)
    # every table says what each of its columns holds
    for name in (
        "kpis.parquet",
        "daily.parquet",
        "routes.parquet",
        "bins.parquet",
        "bin_fill.parquet",
    ):
        written = pq.read_schema(out / name)
        described = json.loads(written.metadata[b"columns"])
        columns = [c for c in written.names if not c.startswith("__")]
        assert list(described) == columns and all(described.values()), name
    # bins.parquet's bin is the number bin_fill (and rounds files) name a bin by
    last = fill[fill["day"] == fill["day"].max()].set_index("bin")["fill_kg"]
    by_number = gpd.read_parquet(out / "bins.parquet").set_index("bin")["fill_kg"]
    np.testing.assert_allclose(last.sort_index(), by_number.sort_index(), rtol=1e-6)  # float32

    # run.json names the depot by OSM id and lon/lat: where every drawn route, one line in
    # driving order, starts and ends
    sites, network = run["sites"], helsinki.network
    depot_point = shapely.Point(sites["depot_lonlat"])
    assert set(routes.geom_type[driven]) == {"LineString"}
    for line in routes.geometry[driven]:
        for end in (line.coords[0], line.coords[-1]):
            assert depot_point.distance(shapely.Point(end)) < 1e-7
    (depot,) = np.flatnonzero(network.node_osmid == sites["depot_osm_node"])
    assert (
        depot_point.distance(shapely.Point(network.node_lon[depot], network.node_lat[depot])) < 1e-7
    )

    # bins: one point per bin, inside the city
    bins = gpd.read_parquet(out / "bins.parquet")
    assert bins.crs == "EPSG:4326" and len(bins) == kpis["bins"]
    assert bins["times_emptied"].sum() == kpis["bins_emptied"]
    assert bins["overflow_days"].sum() == kpis["overflow_bin_days"]
    west, south, east, north = helsinki.summary()["bbox"]
    assert bins.geometry.x.between(west - 1e-6, east + 1e-6).all()
    assert bins.geometry.y.between(south - 1e-6, north + 1e-6).all()

    # the GeoPackage and GeoJSON files, read back by GDAL, hold the same rows
    assert sorted(gpd.list_layers(out / "waste.gpkg")["name"]) == ["bins", "routes"]
    for lines, points in [
        (
            gpd.read_file(out / "waste.gpkg", layer="routes"),
            gpd.read_file(out / "waste.gpkg", layer="bins"),
        ),
        (gpd.read_file(out / "routes.geojson"), gpd.read_file(out / "bins.geojson")),
    ]:
        assert lines.crs == "EPSG:4326" and points.crs == "EPSG:4326"
        assert lines["day"].tolist() == routes["day"].tolist()
        np.testing.assert_allclose(lines["distance_km"], routes["distance_km"], rtol=1e-12)
        assert lines.geom_equals_exact(routes.geometry, tolerance=1e-7).all()
        assert len(points) == len(bins)
        assert points.geom_equals_exact(bins.geometry, tolerance=1e-7).all()


def test_same_seed_same_kpis(cli, helsinki):
    first = _one_json_object(cli["plain"][0])
    assert _one_json_object(cli["again"][0]) == first
    # the command line's KPIs are the Python API's for the same settings and seed
    exported = _one_json_object(cli["exported"][0])
    settings = {"days": 7, "planner": "greedy", "trucks": 2, "truck_capacity_kg": 5000.0}
    api = run_waste(helsinki, seed=3, shift="3h", **settings).kpis
    assert {key: exported[key] for key in api} == api
    # and another seed draws other bins and waste
    other = run_waste(helsinki, seed=4, shift="3h", **settings).kpis
    assert other["truck_km"] != api["truck_km"] and other["generated_t"] != api["generated_t"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"shift": "25h"}, "waste.shift: the shift must be more than 0 and at most 24 h"),
        ({"solver_time_s": 0.0}, r"waste.solver_time_s: must be > 0 \(got 0.0\)"),
        (
            {"traffic_coupling": True, "traffic": {"trips": -1}},
            r"traffic.trips: must be ≥ 0 \(got -1\)",
        ),
        ({"traffic_coupling": True}, "waste.traffic_coupling: the trucks drive among"),
        ({"forecast_days": 2}, "waste.forecast_days: the forecast is other days of the traffic"),
        (
            {"forecast_days": 1, "plan_times": "free-flow", "traffic_coupling": True},
            "waste.forecast_days: plans made on 'free-flow' times use no forecast",
        ),
        ({"forecast_days": -1}, r"waste.forecast_days: must be ≥ 0 \(got -1\)"),
        ({"forecast_days": 15}, r"waste.forecast_days: must be ≤ 14 \(got 15\)"),
        ({"population": 0.0}, "waste.population: must be > 0"),
        ({"disposal": (0.0, 0.0)}, "disposal"),
        ({"depot": (float("nan"), 60.17)}, "waste.depot.0: must be a finite number"),
        ({"seed": -1}, r"seed: must be ≥ 0 \(got -1\)"),
    ],
)
def test_api_refuses_impossible_settings(helsinki, settings, words):
    with pytest.raises(TwinError, match=words):
        run_waste(helsinki, days=2, planner="greedy", **settings)


@pytest.mark.parametrize("name", REFUSALS)
def test_bad_input_is_refused_before_writing(cli, name):
    result, out = cli[name]
    _, status, words = REFUSALS[name]
    assert result.returncode == status, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    if status == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        message = lines[0]
    else:
        message = _flat(result.stderr)
        option = next(word for word in words if word.startswith("--"))
        assert f"Invalid value for {option}" in message
    for word in words:
        assert word in message
    if name == "occupied":
        assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
        assert os.listdir(out.parent) == ["out"]
    else:
        assert not out.exists() and os.listdir(out.parent) == []


def test_output_path_that_is_a_file_is_refused(cli):
    result, out = cli["out-is-a-file"]
    assert out.read_text() == "mine"
    assert result.returncode in (1, 2) and result.stdout == ""
    assert "Traceback" not in result.stderr and "--out" in _flat(result.stderr)


def _check_coupling(run) -> int:
    """Check a coupled run's traffic KPIs against its busiest day's routes; return the number
    of vehicles the trucks added to the traffic."""
    traffic, routes = run.traffic, run.result.routes
    assert {"baseline", "with_trucks"} <= traffic.keys()
    base, trucks = traffic["baseline"], traffic["with_trucks"]
    assert 0 < base["trips"] <= traffic["trips"] and base["vehicle_km"] > 0
    km_by_day = routes.groupby("day")["distance_km"].sum()
    assert trucks["truck_day"] == km_by_day.idxmax()
    busiest = routes[routes["day"] == trucks["truck_day"]]
    # every leg between two different nodes is one more vehicle; a truck drives at most one leg
    # to each bin it empties, one to the disposal site per unload, and one home
    added = trucks["trips"] - base["trips"]
    assert added == trucks["truck_legs"]
    legs = int((busiest["bins_emptied"] + busiest["unloads"] + 1).sum())
    n_edges = sum(len(edges) for edges in busiest["edges"])
    assert 1 <= added <= min(legs, n_edges)
    assert trucks["trips_completed"] >= base["trips_completed"]
    # the trucks drive their routes' kilometres in the traffic (each leg by the fastest path
    # at free flow there, by the hour's traffic times in the waste twin: a few % apart), on top
    # of the background's, which they may slow or divert a little: the re-routing fifth of
    # drivers price links by the vehicles on them at each update, trucks included
    assert trucks["truck_km"] == pytest.approx(busiest["distance_km"].sum(), rel=0.05, abs=1e-9)
    extra_km = trucks["vehicle_km"] - base["vehicle_km"]
    assert extra_km == pytest.approx(trucks["truck_km"], abs=0.02 * base["vehicle_km"])
    return added


@pytest.fixture(scope="module")
def coupled(helsinki):
    return run_waste(
        helsinki,
        days=3,
        planner="greedy",
        trucks=2,
        traffic_coupling=True,
        traffic={"trips": 300},
    )


def test_coupled_run_reports_both_traffic_runs(coupled):
    assert coupled.traffic["trips"] == 300
    _check_coupling(coupled)


def test_plans_on_a_forecast_of_other_days_drive_in_the_same_traffic(helsinki, coupled):
    """With a forecast the trucks drive in the same day's traffic as without one; the plans
    are made on two other days (other trips of the same number), whose traffic is reported.
    The progress runs through all five simulations: the day's traffic, the two forecast
    days', the waste days and the traffic with the trucks in it (none kept from the run
    before: :mod:`twin._shift_traffic`)."""
    shift_traffic_memo.clear()
    seen: list[float] = []
    forecast = run_waste(
        helsinki, days=3, planner="greedy", trucks=2, traffic_coupling=True,
        traffic={"trips": 300}, forecast_days=2, on_progress=seen.append,
    )  # fmt: skip
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert [any(k / 5 < f <= (k + 1) / 5 for f in seen) for k in range(5)] == [True] * 5
    assert len(seen) > 4 * 100  # each traffic run reports a hundred times
    _check_coupling(forecast)
    assert forecast.traffic["baseline"] == coupled.traffic["baseline"]
    days = forecast.traffic["forecast"]
    assert len(days) == 2 and all(0 < day["trips"] <= 300 for day in days)
    assert days[0] != days[1] and coupled.traffic["baseline"] not in days
    assert forecast.spec.forecast_days == 2 and "forecast" not in coupled.traffic


def test_a_run_in_gridlocked_traffic_says_so(helsinki, coupled):
    """8,000 trips in a one-hour shift stall the bundled city: the trucks' times there are
    those of stopped links, and the run says so; a run in flowing traffic does not."""
    jammed = run_waste(
        helsinki, days=1, planner="greedy", trucks=2, shift="1h", traffic_coupling=True,
        traffic={"trips": 8000}, forecast_days=1,
    )  # fmt: skip
    # its forecast day (other trips, as many) stands still too: the run says what it planned on
    assert jammed.traffic["forecast"][0]["gridlock"]
    assert (
        "1 of the 1 forecast days' traffic gridlocked; the plans are made on the mean of all of "
        "them." in jammed.result.info["warnings"]
    )
    traffic = jammed.traffic["baseline"]
    assert traffic["gridlock"] and traffic["trips_unfinished"] > 0.5 * 8000
    (said,) = [w for w in jammed.result.info["warnings"] if "gridlock:" in w]
    assert said.startswith("the traffic the trucks drive in: gridlock:")
    assert f"{traffic['trips_unfinished']:,} of 8,000 trips" in said
    assert "Lower the demand" in said and "standstill" in said
    assert not coupled.traffic["baseline"]["gridlock"]
    assert not any("gridlock" in w for w in coupled.result.info["warnings"])


def test_coupled_trucks_drive_through_the_scenarios_signal_plans(helsinki, tmp_path):
    """A signal plan file in the traffic section times the traffic the trucks drive in: one
    junction retimed in the file makes the very traffic the same retiming in ``signals`` makes,
    and not the default plans' traffic."""
    network = helsinki.network
    plans = default_plans(network)
    node = int(network.node_index([SIGNAL_NODE])[0])
    plans[node] = plans[node].with_splits([70.0, 25.0], offset_s=0.0)
    plan_file = write_plan_csv(tmp_path / "plans.csv", network, plans)
    retimed = [{"node": SIGNAL_NODE, "greens_s": [70.0, 25.0]}]
    common = {"days": 1, "planner": "greedy", "trucks": 2, "shift": "1h", "traffic_coupling": True}
    by_file = run_waste(helsinki, traffic={"trips": 1500, "signal_plan": str(plan_file)}, **common)
    by_signals = run_waste(helsinki, traffic={"trips": 1500, "signals": retimed}, **common)
    default = run_waste(helsinki, traffic={"trips": 1500}, **common)
    # the file keeps greens to 0.01 s (13.67 for 13.6667): a green's onset moves by as much
    numbers = [
        {k: v for k, v in run.traffic["baseline"].items() if type(v) in (int, float)}
        for run in (by_file, by_signals, default)
    ]
    assert numbers[0] == pytest.approx(numbers[1], rel=1e-6)
    assert numbers[0] != pytest.approx(numbers[2], rel=1e-6)
    assert by_file.traffic["signal_plan"] == str(plan_file)
    assert default.traffic["signal_plan"] == "default"


def test_the_trucks_traffic_has_the_sections_drivers(helsinki):
    """The traffic the trucks drive in re-routes as the traffic section says (its share of
    re-routing drivers and their price of a link): both were the defaults whatever it said."""
    common = {"days": 1, "planner": "greedy", "trucks": 2, "shift": "1h", "traffic_coupling": True}
    drivers = {"trips": 1500, "reroute_share": 1.0, "route_cost": "experienced"}
    said = run_waste(helsinki, traffic=drivers, **common).traffic["baseline"]
    default = run_waste(helsinki, traffic={"trips": 1500}, **common).traffic["baseline"]
    assert said["total_travel_time_veh_h"] != pytest.approx(
        default["total_travel_time_veh_h"], rel=1e-4
    )


def test_coupling_adds_a_full_rounds_trucks_to_traffic(helsinki):
    # a fixed round empties many bins on day 0 (greedy empties only the fullest ones)
    run = run_waste(
        helsinki,
        days=1,
        policy="schedule",
        trucks=2,
        traffic_coupling=True,
        traffic={"trips": 100},
        solver_time_s=0.3,
    )
    added = _check_coupling(run)
    # one day: every bin emptied was emptied that day. Each node a truck stopped at,
    # other than the depot's, was reached by a leg from another node: a vehicle each.
    bins, sites = run.result.bins, run.result.info["sites"]
    stops = set(bins.loc[bins["times_emptied"] > 0, "node"]) | {sites["disposal_node"]}
    assert len(stops) > 10 and len(stops - {sites["depot_node"]}) <= added


def test_failed_writes_leave_no_half_written_folder(coupled, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    with pytest.raises(TwinError, match="Cannot write"):
        coupled.write(blocker / "out")
    with pytest.raises(TwinError, match="unknown export format"):
        coupled.write(tmp_path / "out", formats=("geojson", "shp"))
    assert os.listdir(tmp_path) == ["a-file"]

    # a failure half-way, after the KPI and daily tables are written: a route along an edge
    # the network does not have
    n_edges = coupled.city.network.n_edges
    routes = coupled.result.routes
    broken = replace(
        coupled,
        result=replace(
            coupled.result, routes=routes.assign(edges=[np.array([n_edges + 7])] * len(routes))
        ),
    )
    with pytest.raises(IndexError):
        broken.write(tmp_path / "out")
    assert os.listdir(tmp_path) == ["a-file"]

    # a failed overwrite keeps the folder that was there
    out = coupled.write(tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == [
        ".twin-output.json", "bin_fill.parquet", "bins.geojson", "bins.parquet",
        "daily.parquet", "kpis.json", "kpis.parquet", "routes.geojson", "routes.parquet",
        "run.json",
    ]  # fmt: skip
    assert json.loads(before["run.json"])["traffic"] == json.loads(json.dumps(coupled.traffic))
    with pytest.raises(IndexError):
        broken.write(out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["a-file", "out"]


def test_export_without_out_is_refused():
    result = _twin(*WEEK, "--export", "gpkg")
    assert result.returncode == 2 and result.stdout == ""
    assert "--export" in _flat(result.stderr) and "--out" in _flat(result.stderr)


def test_a_fleet_sized_past_the_largest_is_refused_naming_why(helsinki):
    # a shift of seconds: the city's bins would need more trucks than a run may have
    with pytest.raises(ScenarioError) as refused:
        run_waste(helsinki, days=1, truck_capacity_kg=1100, shift="10s")
    said = str(refused.value)
    assert re.fullmatch(
        r"waste\.trucks: this city's waste would need [\d,]+ trucks of 1100 kg in a shift of "
        r"10s, more than the 1,000 a run may have: check waste\.truck_capacity_kg and "
        r"waste\.shift, or set waste\.trucks",
        said,
    ), said


def test_bins_name_their_stop_by_osm_id_as_the_traffic_tables_do(helsinki, tmp_path):
    run = run_waste(helsinki, days=1, solver_iterations=10, trucks=2)
    bins = gpd.read_parquet(run.write(tmp_path / "out") / "bins.parquet")
    network = helsinki.network
    assert (bins["osm_node"].to_numpy() == network.node_osmid[bins["node"].to_numpy()]).all()
    _, edges = network.to_geodataframes()
    assert set(bins["osm_node"]) <= set(edges["u"]) | set(edges["v"])
