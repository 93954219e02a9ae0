"""`twin traffic` and the Python API: KPIs as JSON, results written atomically, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import flat, twin_command
from twin.api import run_traffic
from twin.errors import TwinError


def _twin(*args, cwd=None):
    return subprocess.run(
        [*twin_command(), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


BAD_INPUT = [
    (["--trips", "-3"], "--trips (traffic.trips): must be ≥ 0 (got -3)"),
    (["--trips", "10", "--duration", "two hours"], "--duration (traffic.duration): cannot read"),
    (
        ["--trips", "10", "--duration", "0"],
        "--duration (traffic.duration): the duration must be more",
    ),
    (["--trips", "10", "--duration", "1e9"], "at most 48 h (got '1e9')"),
    (["--trips", "10", "--dt", "0"], "--dt (traffic.dt_s): must be > 0 (got 0)"),
    (["--trips", "10000000000"], "--trips (traffic.trips): must be ≤ 10,000,000"),
    (["--trips", "10", "--seed", "-1"], "seed: must be ≥ 0 (got -1)"),
    (
        ["--trips", "10", "--duration", "30min", "--window", "5h"],
        "--window (traffic.window): departures",
    ),
    (["--trips", "10", "--close", "1-2"], "not in this city's network"),
    (["--trips", "10", "--close", "way:abc"], "way:"),
    (
        ["--trips", "10", "--demand-scale", "-1"],
        "--demand-scale (traffic.demand_scale): must be ≥ 0",
    ),
]


@pytest.fixture(scope="module")
def cli(helsinki, tmp_path_factory):
    """Every command line of this module, started at once and run two at a time in other
    processes (each spends most of its time importing; the ``helsinki`` fixture has filled the
    cache they load the city from). Each test waits for its own."""
    root = tmp_path_factory.mktemp("traffic-cli")
    ids = helsinki.network.node_osmid
    od = root / "od.csv"
    pd.DataFrame(
        {
            "origin": [ids[0], ids[1], 12345, ids[3]],
            "destination": [ids[5], ids[6], ids[7], ids[8]],
            "departure": ["00:01:00", "120", "0", "02:00:00"],
        }
    ).to_csv(od, index=False)
    occupied = root / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    jobs = {
        "json": ["--trips", "400", "--duration", "30min", "--seed", "7", "--json", "--out",
                 str(root / "json" / "run")],
        "webster": ["--trips", "400", "--duration", "30min", "--seed", "7", "--signal-plan",
                    "webster", "--json"],
        "occupied": ["--trips", "10", "--duration", "5min", "--out", str(occupied)],
        "not-ours": ["--trips", "10", "--duration", "5min", "--out", str(occupied), "--overwrite"],
        "unfinished": ["--trips", "400", "--duration", "3min", "--json"],
        "peak": ["--duration", "20min", "--dt", "5", "--json"],
        "od": ["--od", str(od), "--duration", "1h", "--json"],
        "od-refused": ["--od", str(od), "--on-invalid", "error"],
    }  # fmt: skip
    (root / "json").mkdir()
    for i, (args, _) in enumerate(BAD_INPUT):
        (root / f"bad{i}").mkdir()
        jobs[f"bad{i}"] = [*args, "--out", str(root / f"bad{i}" / "out")]
    pool = ThreadPoolExecutor(max_workers=2)
    started = {key: pool.submit(_twin, "traffic", "helsinki", *args) for key, args in jobs.items()}
    yield root, {key: future.result for key, future in started.items()}
    pool.shutdown(wait=True, cancel_futures=True)


def test_json_and_outputs(cli):
    root, ran = cli
    out = root / "json" / "run"
    result = ran["json"]()
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    kpis = json.loads(result.stdout)
    assert kpis["trips"] == 400 and kpis["trips_completed"] + kpis["trips_unfinished"] == 400
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            ".twin-output.json",
            "kpis.json",
            "kpis.parquet",
            "trips.parquet",
            "edge_timeseries.parquet",
            "edges.parquet",
            "model_data.parquet",
            "run.json",
        ]
    )
    trips = pd.read_parquet(out / "trips.parquet")
    assert len(trips) == 400 and (trips["status"] == "arrived").sum() == kpis["trips_completed"]
    edges = gpd.read_parquet(out / "edges.parquet")
    assert edges.crs is not None and "mean_speed_kph" in edges
    # a column to join the time series on, not the pandas index a GIS does not see
    series = pd.read_parquet(out / "edge_timeseries.parquet")
    joined = series.merge(edges[["edge", "u", "v", "length_m"]], on="edge", validate="m:1")
    assert len(joined) == len(series) and edges["edge"].tolist() == list(range(len(edges)))
    exits = joined["flow_vph"] * joined["interval_s"] / 3600.0
    vkm = float((exits * joined["length_m"]).sum() / 1000.0)
    assert vkm == pytest.approx(kpis["vehicle_km"], rel=1e-9)
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 7 and run["city_sha256"]
    # every column of every table says in the file what it holds and in which unit
    for name in ("kpis", "trips", "edge_timeseries", "edges", "model_data"):
        schema = pq.read_schema(out / f"{name}.parquet")
        described = json.loads(schema.metadata[b"columns"])
        columns = [c for c in schema.names if not c.startswith("__index_level")]
        assert list(described) == columns and all(described.values()), name
    # vehicle-km from the trips equals the KPI (each completed link counted once)
    assert trips["distance_m"].sum() / 1000 == pytest.approx(kpis["vehicle_km"], rel=1e-9)


def test_signal_plans_are_an_option_of_the_command_as_of_a_scenario(cli, helsinki):
    """--signal-plan webster: the run the API makes with the same field, not the default's."""
    _, ran = cli
    webster, default = (json.loads(ran[key]().stdout) for key in ("webster", "json"))
    api = run_traffic(helsinki, trips=400, duration="30min", seed=7, signal_plan="webster")
    assert webster["mean_travel_time_s"] == api.kpis["mean_travel_time_s"]
    assert webster["mean_travel_time_s"] != default["mean_travel_time_s"]


def test_the_route_price_is_a_setting_of_every_door(helsinki):
    """`route_cost` reaches the simulation from the API (and so a scenario file and the
    command's --route-cost): re-routing drivers priced by experienced times drive otherwise."""
    runs = {
        cost: run_traffic(
            helsinki, trips=600, duration="20min", seed=3, reroute_share=1.0, route_cost=cost
        )
        for cost in ("instantaneous", "experienced")
    }
    for cost, run in runs.items():
        assert run.run_info()["config"]["route_cost"] == cost
    travel = {cost: run.kpis["total_travel_time_veh_h"] for cost, run in runs.items()}
    assert travel["instantaneous"] != pytest.approx(travel["experienced"], rel=1e-3)
    with pytest.raises(TwinError, match=r"traffic\.route_cost: must be one of"):
        run_traffic(helsinki, trips=10, route_cost="fastest")


def test_same_seed_reproduces(helsinki):
    first = run_traffic(helsinki, trips=300, duration="20min", seed=11).kpis
    again = run_traffic(helsinki, trips=300, duration="20min", seed=11).kpis
    assert first == again
    run = run_traffic(helsinki, trips=300, duration="20min", seed=11)
    edges = run.edges()
    assert len(edges) == helsinki.network.n_edges and edges.crs == helsinki.network.crs
    # no one drives faster than the limit: space-mean speeds stay at or below it
    assert (edges["mean_speed_kph"] <= edges["speed_kph"] + 1e-6).all()
    assert (edges["mean_flow_vph"] > 0).any()


@pytest.mark.parametrize(("args", "words"), BAD_INPUT)
def test_bad_input_is_one_line_and_writes_nothing(cli, args, words):
    root, ran = cli
    case = BAD_INPUT.index((args, words))
    folder = root / f"bad{case}"  # the command's own folder, empty before it ran
    out = folder / "out"
    result = ran[f"bad{case}"]()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert words in result.stderr
    assert not out.exists() and os.listdir(folder) == []


def test_existing_output_is_not_overwritten(cli):
    root, ran = cli
    out = root / "occupied"
    result = ran["occupied"]()
    assert result.returncode != 0 and (out / "keep.txt").read_text() == "mine"
    # --overwrite replaces a folder of the twin's results, not one holding a planner's file
    result = ran["not-ours"]()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no run of the twin wrote there (keep.txt)" in flat(result.stderr)
    assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"


def test_unfinished_trips_are_said_not_averaged_away(cli):
    """A run too short for its trips: the CLI warns on stderr and in the JSON output."""
    result = cli[1]["unfinished"]()
    assert result.returncode == 0, result.stderr
    kpis = json.loads(result.stdout)
    assert kpis["trips_unfinished"] > 4 and not kpis["gridlock"]
    assert kpis["trips_unfinished_share"] == pytest.approx(kpis["trips_unfinished"] / 400)
    (warning,) = kpis["warnings"]
    assert "did not finish" in warning and "did not finish" in result.stderr


def test_without_trips_the_city_peak_hour_rate_is_used_and_said(cli, helsinki):
    from cities.peak_demand import peak_hour_demand

    result = cli[1]["peak"]()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    peak = peak_hour_demand(helsinki.context, helsinki.network)
    assert report["trips"] == peak.trips(600)  # the window: half the duration
    assert report["default_demand"] == peak.describe()
    assert "Demand: " in result.stderr and "--trips N" in result.stderr


def test_what_an_od_table_loses_is_said_without_out(cli):
    # the table (written by ``cli``): one origin not in the network, one departure after the end
    result = cli[1]["od"]()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["od_table"]["unknown_nodes"] == 1
    assert report["od_table"]["departs_after_end"] == 1
    assert "1 of 4 OD rows name nodes not in the network" in result.stderr
    assert "1 of 4 OD rows depart after the run ends" in result.stderr
    # asked to refuse what cannot run, it refuses, in one line
    refused = cli[1]["od-refused"]()
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "rows name nodes not in the network" in refused.stderr


def test_demand_scale_multiplies_an_od_table_up_as_well_as_down(helsinki):
    """Twice an OD table: every trip of it twice (a copy within five minutes of its trip);
    half: about half of them. Above 1 it used to be ignored."""
    od = "examples/helsinki-od.csv"
    runs = {
        s: run_traffic(helsinki, od=od, demand_scale=s, seed=1, duration="2h") for s in (0.5, 1, 2)
    }
    table = runs[1].result.trips
    doubled = runs[2].result.trips
    assert len(doubled) == 2 * len(table)
    pairs = table.groupby(["origin", "destination"]).size()
    assert (doubled.groupby(["origin", "destination"]).size() == 2 * pairs).all()
    # each trip's copy leaves within 300 s of it: matched in order of departure per pair
    for (o, d), group in doubled.groupby(["origin", "destination"]):
        mine = np.sort(table.loc[(table.origin == o) & (table.destination == d), "depart_s"])
        assert len(group) == 2 * len(mine)
        assert np.abs(np.sort(group["depart_s"].to_numpy())[::2] - mine).max() <= 600
    assert 0.35 * len(table) < len(runs[0.5].result.trips) < 0.65 * len(table)


def test_the_written_edges_are_the_streets_the_run_drove(helsinki, tmp_path):
    """A street slowed to 10 km/h and one closed: edges.parquet says so (it used to show the
    city's own limits, so a slowed empty street read as jammed)."""
    changed_ref, closed_ref = "25291550-25291567", "25291550-25291565"
    run = run_traffic(
        helsinki, trips=300, duration="30min", seed=2,
        change=[{"edge": changed_ref, "speed_kph": 10, "lanes": 1}], close=[closed_ref],
    )  # fmt: skip
    edges = gpd.read_parquet(run.write(tmp_path / "out") / "edges.parquet")
    pd.testing.assert_frame_equal(
        edges.drop(columns="geometry"), run.edges().drop(columns="geometry")
    )
    refs = edges.u.astype(str) + "-" + edges.v.astype(str)
    changed = edges[refs == changed_ref].iloc[0]
    assert changed["speed_kph"] == 10 and changed["lanes"] == 1
    assert changed["free_flow_s"] == pytest.approx(changed["length_m"] / (10 / 3.6))
    assert (changed["speed_ratio"] <= 1 + 1e-9) or np.isnan(changed["speed_ratio"])
    closed = edges[refs == closed_ref]
    assert len(closed) and closed["closed"].all() and edges["closed"].sum() == len(closed)
    # no speed on a closed street (it read free flow, green on a speed map); open ones have one
    assert closed[["mean_speed_kph", "speed_ratio"]].isna().all().all()
    assert edges.loc[~edges["closed"], "mean_speed_kph"].notna().all()
    # the city's own network is unchanged
    _, own = helsinki.network.to_geodataframes()
    assert own.loc[refs == changed_ref, "speed_kph"].iloc[0] != 10


@pytest.mark.parametrize("command", ["traffic", "propose-signals"])
def test_a_window_with_an_od_table_is_refused_as_changing_nothing(tmp_path, command):
    """An OD table's rows carry their departures: a window beside it was silently unused."""
    od = tmp_path / "od.csv"
    od.write_text("origin,destination,departure\n25291537,25291537,0\n")
    done = _twin(command, "helsinki", "--od", str(od), "--window", "10min")
    assert done.returncode == 2 and done.stdout == ""
    assert (
        "Invalid value for --window: the window spreads the departures of generated trips; the "
        "OD table gives each trip its own departure, so --window would change nothing."
    ) in flat(done.stderr)
