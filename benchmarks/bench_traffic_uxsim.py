"""Benchmark: the traffic twin side by side with UXsim (Python and C++ modes).

Scenarios (each run in a fresh subprocess; see ``--help``):

a. UXsim's README demo grid: 11 × 11 nodes, neighbours linked both ways, 1 km links, 20 m/s,
   jam density 0.2 veh/m, 0.035 veh/s on each of the 484 edge-to-edge OD pairs for 0–3,600 s,
   simulated to 7,200 s. UXsim runs its README code (``adddemand`` per pair, ``deltan=5``;
   ``--ux-deltan1-seeds N`` adds UXsim C++ with ``deltan=1`` on the same demand as a peer);
   ours runs ``cities.synthetic.grid_network(11)`` with the same number of vehicles per pair as
   UXsim generates (platoons of 5: 125 per pair, 60,500 in all), departures uniform over
   0–3,600 s from a seeded generator, ``dt_s=5`` (= UXsim's deltan × reaction time), all drivers
   adaptive and re-routing every 600 s (= UXsim's DUO update interval). Ours also at dt 2 s.
b. São Paulo centre from ``cities.city.load_city``: the same network built in UXsim from our
   arrays (one node per node, one link per edge: length, free speed, jam density =
   storage / length, one lane, ``capacity_out`` = our capacity), no signals in either.
   Demand from ``generate_trips(city.context, n_trips=N, window_s=3600, rng=default_rng(0))``.
   UXsim moves platoons of ``deltan`` = 5 identical vehicles, so it gets every 5th of those
   trips as one platoon (``addVehicle(orig, dest, departure)``, N vehicles in all) and ours
   gets exactly that demand (each of those trips 5 times); a sensitivity row runs ours on the
   N distinct trips, and one runs UXsim C++ with ``deltan=1`` on them.
c. Scale, ours alone: ``grid_network(40)``, 1,000,000 trips between edge nodes (west ↔ east,
   south ↔ north) on pairs drawn at random, departures uniform over ``--c-window-h`` hours
   (default 8), simulated 2 h longer.

s. Sensitivity of (a) to the route-update interval: ours and UXsim C++, seed 0, re-routing /
   DUO update every 600, 300 and 120 s.

Every run reports wall time measured inside the child with ``perf_counter`` (building the
network and demand in the tool plus the simulation; Python start-up, imports, reading the city
from the cache and drawing the trips are outside), the child's peak resident memory
(``ru_maxrss``, which includes the interpreter and imports: the RSS after imports is reported
too), the child's process time (start to exit as the parent sees it: interpreter, imports,
network, demand and simulation: what a user waits for, the same harness for both tools), and,
computed the same way for both tools:

* total travel time (TTT) over ALL vehicles, vehicle-hours: each completed trip's arrival minus
  its scheduled departure (origin waiting included, as UXsim's ``Vehicle.travel_time``) plus,
  for each unfinished vehicle, the end of the simulation minus its scheduled departure;
* TTT of completed trips only (UXsim's ``analyzer.basic_analysis()`` ``total_travel_time``,
  which ignores unfinished vehicles; checked against it on the grid);
* completed trips (a UXsim platoon counts ``deltan`` vehicles, as in its analyzer).

UXsim runs with ``vehicle_logging_timestep_interval=-1`` (no per-vehicle trajectory log, its
documented fast setting; results are identical, measured) unless the row says "default
logging"; ``print_mode=0``. A cProfile of ours on (b) (top 15 by cumulative time) is printed.

Usage::

    python benchmarks/bench_traffic_uxsim.py [--only a,b,s,c] [--quick] [--json-out F]

Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CITY = REPO_ROOT.parent / "shared" / "cities" / "sao-paulo-centre.osm.pbf"
RESULT_TAG = "BENCH-RESULT "
PROFILE_TAG = "BENCH-PROFILE"

# UXsim README demo (scenario a)
GRID_SIZE = 11
GRID_LINK_M = 1000.0
GRID_SPEED_MPS = 20.0
GRID_JAM_PER_M = 0.2
GRID_FLOW_VPS = 0.035
DEMAND_WINDOW_S = 3600.0
DURATION_S = 7200.0
DELTAN = 5
REACTION_TIME_S = 1.0
DUO_UPDATE_S = 600.0

TARGET_TTT = 0.10
TARGET_SPEEDUP_PY_B = 15.0
TARGET_SCALE_S = 60.0
TARGET_SCALE_GB = 4.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- demand
def edge_pairs(size: int) -> np.ndarray:
    """Edge-node OD pairs of UXsim's demo: west ↔ east and south ↔ north, both directions."""
    west = [j for j in range(size)]
    east = [(size - 1) * size + j for j in range(size)]
    south = [i * size for i in range(size)]
    north = [i * size + size - 1 for i in range(size)]
    pairs = []
    for a in west:
        for b in east:
            pairs += [(b, a), (a, b)]
    for a in south:
        for b in north:
            pairs += [(b, a), (a, b)]
    return np.array(pairs, dtype=np.int64)


def uxsim_vehicles_per_pair(flow: float, window_s: float) -> int:
    """Vehicles UXsim's ``adddemand(o, d, 0, window, flow)`` generates (whole platoons only)."""
    dt = DELTAN * REACTION_TIME_S
    f, count = 0.0, 0
    for _ in range(int(0 / dt), int(window_s / dt)):
        f += flow * dt
        while f >= DELTAN:
            count += 1
            f -= DELTAN
    return count * DELTAN


def grid_trips(size: int, per_pair: int, window_s: float, seed: int, n_total: int | None = None):
    """Trips on the edge pairs: ``per_pair`` each (or ``n_total`` spread at random over pairs)."""
    from agents.traffic.demand import Trips

    pairs = edge_pairs(size)
    rng = np.random.default_rng(seed)
    if n_total is None:
        which = np.repeat(np.arange(len(pairs)), per_pair)
    else:
        which = rng.integers(0, len(pairs), n_total)
    depart = rng.uniform(0.0, window_s, len(which))
    order = np.argsort(depart, kind="stable")
    return Trips(pairs[which, 0][order], pairs[which, 1][order], depart[order])


def city_demand(city, n_trips: int, kind: str):
    """(distinct trips, platoon leaders, ours' platoon-expanded trips) for scenario b."""
    from agents.traffic.demand import Trips, generate_trips

    trips = generate_trips(
        city.context, n_trips=n_trips, window_s=DEMAND_WINDOW_S, rng=np.random.default_rng(0)
    )
    leaders = trips.subset(np.arange(0, len(trips), DELTAN))
    if kind == "distinct":
        return trips
    if kind == "leaders":
        return leaders
    repeat = lambda a: np.repeat(a, DELTAN)  # noqa: E731
    return Trips(repeat(leaders.origin), repeat(leaders.destination), repeat(leaders.depart_s))


# --------------------------------------------------------------------------- children
def load_network(spec: dict):
    if spec["scenario"] == "b":
        from cities.city import load_city

        city = load_city(spec["city"])
        return city.network, city
    from cities.synthetic import grid_network

    return grid_network(spec["grid"]), None


def child_ours(spec: dict) -> dict:
    from agents.traffic.model import TrafficConfig, TrafficModel

    network, city = load_network(spec)
    duration = spec["duration_s"]
    if spec["scenario"] == "b":
        trips = city_demand(city, spec["trips"], spec["demand"])
    else:
        trips = grid_trips(
            spec["grid"], spec.get("per_pair", 0), spec["window_s"], spec["seed"], spec.get("n")
        )
    config = TrafficConfig(
        duration_s=duration,
        dt_s=spec["dt"],
        reroute_share=1.0,
        reroute_interval_s=spec.get("reroute_s", DUO_UPDATE_S),
        route_cost=spec.get("route_cost", "instantaneous"),
    )
    rss_before = rss_mib()

    marks = {}

    def simulate():
        model = TrafficModel(network, trips, config=config, signal_plans={}, seed=spec["seed"])
        marks["setup"] = time.perf_counter()
        return model.run()

    profile_text = None
    start = time.perf_counter()
    if spec.get("profile"):
        profiler = cProfile.Profile()
        result = profiler.runcall(simulate)
        wall = time.perf_counter() - start
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
        profile_text = out.getvalue()
    else:
        result = simulate()
        wall = time.perf_counter() - start
    peak = rss_mib()
    frame = result.trips
    done = frame["arrive_s"].notna().to_numpy()
    depart = frame["depart_s"].to_numpy()
    arrive = frame["arrive_s"].to_numpy()
    travel = np.where(done, arrive - depart, np.maximum(duration - depart, 0.0))
    running = frame["status"].to_numpy() == "running"
    return {
        "wall_s": wall,
        "setup_s": marks["setup"] - start,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "vehicles": int(len(frame) + result.skipped_trips),
        "completed": int(done.sum()),
        "unfinished": int((~done).sum()),
        "unfinished_running": int(running.sum()),
        "unfinished_not_started": int((~done & ~running).sum()),
        "skipped": int(result.skipped_trips),
        "ttt_all_h": float(travel.sum() / 3600.0),
        "ttt_completed_h": float(travel[done].sum() / 3600.0),
        "mean_tt_completed_s": float(travel[done].mean()) if done.any() else None,
        "vkm": float(frame["distance_m"].sum() / 1000.0),
        "steps": round(duration / spec["dt"]),
        "profile": profile_text,
    }


def _uxsim_grid(W) -> dict:
    """UXsim's README demo network and demand, verbatim but for names."""
    nodes = {}
    for i in range(GRID_SIZE):
        for j in range(GRID_SIZE):
            nodes[i, j] = W.addNode(f"n{i * GRID_SIZE + j}", i, j)
    link = dict(length=GRID_LINK_M, free_flow_speed=GRID_SPEED_MPS, jam_density=GRID_JAM_PER_M)
    for i in range(GRID_SIZE):
        for j in range(GRID_SIZE):
            if i != GRID_SIZE - 1:
                W.addLink(f"l{i}_{j}_{i + 1}_{j}", nodes[i, j], nodes[i + 1, j], **link)
            if i != 0:
                W.addLink(f"l{i}_{j}_{i - 1}_{j}", nodes[i, j], nodes[i - 1, j], **link)
            if j != GRID_SIZE - 1:
                W.addLink(f"l{i}_{j}_{i}_{j + 1}", nodes[i, j], nodes[i, j + 1], **link)
            if j != 0:
                W.addLink(f"l{i}_{j}_{i}_{j - 1}", nodes[i, j], nodes[i, j - 1], **link)
    return nodes


def child_uxsim(spec: dict) -> dict:
    from uxsim import World

    cpp = spec["tool"] == "uxsim_cpp"
    deltan = spec.get("deltan", DELTAN)
    duration = spec["duration_s"]
    if spec["scenario"] == "b":
        network, city = load_network(spec)
        # UXsim moves platoons of deltan: with deltan 5 it gets the platoon leaders; with
        # deltan 1 the distinct trips, or the platoon demand's every vehicle when asked
        kind = spec.get("demand", "distinct") if deltan == 1 else "leaders"
        trips = city_demand(city, spec["trips"], kind)
        xs, ys = network.node_x.tolist(), network.node_y.tolist()
        u, v = network.edge_u.tolist(), network.edge_v.tolist()
        length = network.edge_length_m
        speed = (network.edge_speed_kph / 3.6).tolist()
        jam = (network.edge_storage_veh / length).tolist()
        capacity = (network.edge_capacity_vph / 3600.0).tolist()
        length = length.tolist()
        od = list(
            zip(
                trips.origin.tolist(),
                trips.destination.tolist(),
                trips.depart_s.tolist(),
                strict=True,
            )
        )
    rss_before = rss_mib()
    start = time.perf_counter()
    W = World(
        name="",
        deltan=deltan,
        reaction_time=REACTION_TIME_S,
        tmax=duration,
        duo_update_time=spec.get("reroute_s", DUO_UPDATE_S),
        print_mode=0,
        save_mode=0,
        show_mode=0,
        random_seed=spec["seed"],
        vehicle_logging_timestep_interval=1 if spec.get("logging") else -1,
        cpp=cpp,
    )
    if spec["scenario"] == "a":
        nodes = _uxsim_grid(W)
        for o, d in edge_pairs(GRID_SIZE).tolist():
            W.adddemand(
                nodes[divmod(o, GRID_SIZE)],
                nodes[divmod(d, GRID_SIZE)],
                0,
                spec["window_s"],
                GRID_FLOW_VPS,
            )
    else:
        for i in range(len(xs)):
            W.addNode(str(i), xs[i], ys[i])
        for e in range(len(u)):
            W.addLink(
                f"e{e}",
                str(u[e]),
                str(v[e]),
                length=length[e],
                free_flow_speed=speed[e],
                jam_density=jam[e],
                number_of_lanes=1,
                capacity_out=capacity[e],
            )
        for o, d, t in od:
            W.addVehicle(str(o), str(d), t)
    setup = time.perf_counter() - start
    W.exec_simulation()
    wall = time.perf_counter() - start
    peak = rss_mib()

    dn, step = W.DELTAN, W.DELTAT
    states: dict[str, int] = {}
    travel_done, travel_open, dist = 0.0, 0.0, 0.0
    for veh in W.VEHICLES.values():
        state = veh.state
        states[state] = states.get(state, 0) + 1
        dist += veh.distance_traveled * dn
        depart = veh.departure_time * step  # departure_time is a time step in both modes
        if state == "end":
            travel_done += veh.travel_time * dn
        elif depart < duration:
            travel_open += (duration - depart) * dn
    completed = states.get("end", 0) * dn
    vehicles = len(W.VEHICLES) * dn
    out = {
        "wall_s": wall,
        "setup_s": setup,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "vehicles": vehicles,
        "completed": completed,
        "unfinished": vehicles - completed,
        "unfinished_running": states.get("run", 0) * dn,
        "unfinished_not_started": (states.get("wait", 0) + states.get("home", 0)) * dn,
        "aborted": states.get("abort", 0) * dn,
        "states": states,
        "skipped": 0,
        "ttt_all_h": (travel_done + travel_open) / 3600.0,
        "ttt_completed_h": travel_done / 3600.0,
        "mean_tt_completed_s": travel_done / completed if completed else None,
        "vkm": dist / 1000.0,
        "steps": round(duration / step),
    }
    if len(W.NODES) <= 500:  # basic_analysis runs Floyd–Warshall on all nodes: small nets only
        W.analyzer.basic_analysis()
        out["uxsim_trip_all"] = int(W.analyzer.trip_all)
        out["uxsim_trip_completed"] = int(W.analyzer.trip_completed)
        out["uxsim_total_travel_time_h"] = float(W.analyzer.total_travel_time) / 3600.0
    return out


def child_main(spec: dict) -> None:
    result = child_ours(spec) if spec["tool"] == "ours" else child_uxsim(spec)
    profile = result.pop("profile", None)
    if profile:
        print(PROFILE_TAG)
        print(profile)
        print(PROFILE_TAG)
    print(RESULT_TAG + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent
def run_child(spec: dict, timeout_s: float) -> dict:
    """Run one measurement in a fresh interpreter; returns its result (or an ``error``)."""
    label = spec["label"]
    log(f"[{datetime.now():%H:%M:%S}] {spec['scenario']}: {label} ...")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:  # UXsim may create output folders
        try:
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=scratch,
            )
        except subprocess.TimeoutExpired:
            log(f"    timed out after {timeout_s:.0f} s")
            return {**spec, "error": f"timed out after {timeout_s:.0f} s"}
    elapsed = time.perf_counter() - started
    lines = proc.stdout.splitlines()
    found = [line for line in lines if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        log("    FAILED:\n      " + "\n      ".join(tail))
        return {**spec, "error": f"exit {proc.returncode}: {tail[-1] if tail else ''}"}
    result = {**spec, **json.loads(found[-1][len(RESULT_TAG) :]), "process_s": elapsed}
    if PROFILE_TAG in lines:
        first = lines.index(PROFILE_TAG)
        last = lines.index(PROFILE_TAG, first + 1)
        result["profile"] = "\n".join(lines[first + 1 : last])
    log(
        f"    {result['wall_s']:.2f} s, peak {result['peak_rss_mib']:.0f} MiB, "
        f"completed {result['completed']:,}/{result['vehicles']:,}, "
        f"TTT {result['ttt_all_h']:,.0f} veh-h (process {elapsed:.1f} s)"
    )
    return result


def fmt(value, digits=2, pct=False) -> str:
    if value is None:
        return "–"
    if pct:
        return f"{value * 100:+.1f} %"
    return f"{value:,.{digits}f}"


def run_table(rows: list[dict]) -> list[str]:
    out = [
        "| run | wall s (setup) | peak MiB (after imports) | vehicles | completed | unfinished "
        "(running / not started) | TTT all veh-h | TTT completed veh-h | mean TT completed s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        setup = r.get("setup_s")
        if "error" in r:
            out.append(f"| {r['label']} | {r['error']} | | | | | | | |")
            continue
        out.append(
            f"| {r['label']} | {r['wall_s']:.2f} ({fmt(setup)}) | {r['peak_rss_mib']:,.0f} "
            f"({r['rss_before_mib']:,.0f}) | {r['vehicles']:,} | {r['completed']:,} | "
            f"{r['unfinished']:,} ({r['unfinished_running']:,} / "
            f"{r['unfinished_not_started']:,}) | {r['ttt_all_h']:,.0f} | "
            f"{r['ttt_completed_h']:,.0f} | {fmt(r['mean_tt_completed_s'], 0)} |"
        )
    return out


def summary(rows: list[dict]) -> dict | None:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return None
    ttt = [r["ttt_all_h"] for r in ok]
    return {
        "n": len(ok),
        "wall_s": statistics.median(r["wall_s"] for r in ok),
        "process_s": statistics.median(r["process_s"] for r in ok),
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in ok),
        "ttt_min": min(ttt),
        "ttt_median": statistics.median(ttt),
        "ttt_max": max(ttt),
        "ttt_completed_median": statistics.median(r["ttt_completed_h"] for r in ok),
        "completed_median": statistics.median(r["completed"] for r in ok),
        "vehicles": ok[0]["vehicles"],
    }


def summary_table(groups: dict[str, list[dict]]) -> list[str]:
    out = [
        "| tool | runs | median wall s | median process s | median peak MiB | "
        "TTT all veh-h min / median / max | median completed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in groups.items():
        s = summary(rows)
        if s is None:
            out.append(f"| {name} | 0 | failed | | | | |")
            continue
        out.append(
            f"| {name} | {s['n']} | {s['wall_s']:.2f} | {s['process_s']:.2f} | "
            f"{s['peak_rss_mib']:,.0f} | "
            f"{s['ttt_min']:,.0f} / {s['ttt_median']:,.0f} / {s['ttt_max']:,.0f} | "
            f"{s['completed_median']:,.0f} of {s['vehicles']:,} |"
        )
    return out


def ratio_table(ours: list[dict], peers: dict[str, list[dict]]) -> list[str]:
    mine = summary(ours)
    out = [
        "| ours vs | peer wall / ours wall (× faster) | end to end: peer process / ours process "
        "| ours peak / peer peak | TTT all: ours / peer − 1 | TTT completed: ours / peer − 1 | "
        "completed: ours − peer |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in peers.items():
        peer = summary(rows)
        if mine is None or peer is None:
            out.append(f"| {name} | – | – | – | – | – | – |")
            continue
        out.append(
            f"| {name} | {peer['wall_s'] / mine['wall_s']:.2f}× | "
            f"{peer['process_s'] / mine['process_s']:.2f}× | "
            f"{mine['peak_rss_mib'] / peer['peak_rss_mib']:.2f} | "
            f"{fmt(mine['ttt_median'] / peer['ttt_median'] - 1, pct=True)} | "
            f"{fmt(mine['ttt_completed_median'] / peer['ttt_completed_median'] - 1, pct=True)} | "
            f"{mine['completed_median'] - peer['completed_median']:+,.0f} |"
        )
    return out


def scenario_a(args, emit) -> dict:
    window = DEMAND_WINDOW_S if not args.quick else 900.0
    duration = DURATION_S if not args.quick else 3600.0
    per_pair = uxsim_vehicles_per_pair(GRID_FLOW_VPS, window)
    base = {"scenario": "a", "grid": GRID_SIZE, "window_s": window, "duration_s": duration}
    seeds = list(range(args.seeds))
    groups: dict[str, list[dict]] = {}

    def run(name, spec):
        groups.setdefault(name, []).append(run_child({**base, **spec}, args.timeout))

    # peers in one script run, interleaved by seed so machine noise spreads over all tools
    for seed in seeds:
        run(
            "ours, dt 5 s",
            {
                "tool": "ours",
                "dt": 5.0,
                "seed": seed,
                "per_pair": per_pair,
                "route_cost": args.route_cost,
                "label": f"ours dt 5 s, seed {seed}",
            },
        )
        run("UXsim C++", {"tool": "uxsim_cpp", "seed": seed, "label": f"UXsim C++, seed {seed}"})
        if seed < args.ux_deltan1_seeds:
            # UXsim's own answer with every vehicle its own (deltan 1, 1 s steps): how much of
            # the README's figure is its platoons of 5
            run(
                "UXsim C++ deltan 1",
                {
                    "tool": "uxsim_cpp",
                    "deltan": 1,
                    "seed": seed,
                    "label": f"UXsim C++ deltan 1, seed {seed}",
                },
            )
        if seed < args.ux_py_seeds:
            run(
                "UXsim Python",
                {"tool": "uxsim_py", "seed": seed, "label": f"UXsim Python, seed {seed}"},
            )
    run(
        "ours, dt 2 s",
        {
            "tool": "ours",
            "dt": 2.0,
            "seed": 0,
            "per_pair": per_pair,
            "label": "ours dt 2 s, seed 0",
        },
    )
    run(
        "UXsim C++, default logging",
        {
            "tool": "uxsim_cpp",
            "seed": 0,
            "logging": True,
            "label": "UXsim C++ default logging, seed 0",
        },
    )
    if args.ux_py_logging:
        run(
            "UXsim Python, default logging",
            {
                "tool": "uxsim_py",
                "seed": 0,
                "logging": True,
                "label": "UXsim Python default logging, seed 0",
            },
        )

    emit(
        f"### (a) UXsim README grid: {GRID_SIZE}×{GRID_SIZE}, {len(edge_pairs(GRID_SIZE))} OD "
        f"pairs, {per_pair} vehicles per pair, demand 0–{window:.0f} s, simulated "
        f"{duration:.0f} s"
    )
    emit()
    emit(*run_table([r for rows in groups.values() for r in rows]))
    emit()
    emit(*summary_table(groups))
    emit()
    peers = {k: v for k, v in groups.items() if k.startswith("UXsim")}
    emit("Ours (dt 5 s, median over seeds) against each peer (median over its seeds):")
    emit()
    emit(*ratio_table(groups["ours, dt 5 s"], peers))
    emit()
    checks = [r for rows in peers.values() for r in rows if "uxsim_total_travel_time_h" in r]
    for r in checks:
        emit(
            f"- check, {r['label']}: UXsim basic_analysis trip_all {r['uxsim_trip_all']:,}, "
            f"trip_completed {r['uxsim_trip_completed']:,}, total_travel_time "
            f"{r['uxsim_total_travel_time_h']:,.1f} veh-h vs ours-computed completed TTT "
            f"{r['ttt_completed_h']:,.1f} veh-h"
        )
    emit()
    return groups


def scenario_s(args, emit) -> dict:
    """Route-update interval sensitivity on grid (a): both tools, seed 0, 600 / 300 / 120 s."""
    window = DEMAND_WINDOW_S if not args.quick else 900.0
    duration = DURATION_S if not args.quick else 3600.0
    per_pair = uxsim_vehicles_per_pair(GRID_FLOW_VPS, window)
    base = {
        "scenario": "a",
        "grid": GRID_SIZE,
        "window_s": window,
        "duration_s": duration,
        "seed": 0,
        "per_pair": per_pair,
    }
    rows = []
    for interval in (600.0, 300.0, 120.0):
        rows.append(
            run_child(
                {
                    **base,
                    "tool": "ours",
                    "dt": 5.0,
                    "reroute_s": interval,
                    "label": f"ours dt 5 s, re-route every {interval:.0f} s",
                },
                args.timeout,
            )
        )
        rows.append(
            run_child(
                {
                    **base,
                    "tool": "uxsim_cpp",
                    "reroute_s": interval,
                    "label": f"UXsim C++, DUO update every {interval:.0f} s",
                },
                args.timeout,
            )
        )
    emit("### (a′) Route-update interval on grid (a), seed 0, both tools")
    emit()
    emit(*run_table(rows))
    emit()
    return {"runs": rows}


def short_link_stats(city_path: str) -> dict:
    from cities.city import load_city

    network = load_city(city_path).network
    length = network.edge_length_m
    speed = network.edge_speed_kph / 3.6
    jam = network.edge_storage_veh / length
    fd_capacity = speed * jam / (speed * jam + REACTION_TIME_S) * 3600.0  # one lane, τ = 1 s
    return {
        "nodes": int(network.n_nodes),
        "edges": int(network.n_edges),
        "shorter_than_platoon_step": int((length < DELTAN * REACTION_TIME_S * speed).sum()),
        "shorter_than_100m": int((length < 100).sum()),
        "shorter_than_dt": int((length / speed < 5.0).sum()),
        "uxsim_fd_capacity_below_ours": int((fd_capacity < network.edge_capacity_vph - 1).sum()),
        "parallel_edges": int((network.edge_key > 0).sum()),
        "signalized_nodes_ignored": int(network.node_signalized.sum()),
    }


def scenario_b(args, emit) -> dict:
    n = args.trips_b if not args.quick else 2000
    base = {
        "scenario": "b",
        "city": str(args.city),
        "trips": n,
        "duration_s": DURATION_S,
        "seed": 0,
    }
    log("(b) warming the city cache ...")
    stats = short_link_stats(str(args.city))
    groups: dict[str, list[dict]] = {}

    def run(name, spec, timeout=args.timeout):
        groups.setdefault(name, []).append(run_child({**base, **spec}, timeout))

    run(
        "ours, dt 5 s",
        {
            "tool": "ours",
            "dt": 5.0,
            "demand": "platoons",
            "label": f"ours dt 5 s, platoon demand ({n:,} veh)",
        },
    )
    run(
        "UXsim C++",
        {"tool": "uxsim_cpp", "label": f"UXsim C++ deltan 5 ({n // DELTAN:,} platoons)"},
    )
    run(
        "UXsim Python",
        {"tool": "uxsim_py", "label": f"UXsim Python deltan 5 ({n // DELTAN:,} platoons)"},
        timeout=args.timeout_py,
    )
    run(
        "ours, dt 5 s, distinct trips",
        {
            "tool": "ours",
            "dt": 5.0,
            "demand": "distinct",
            "label": f"ours dt 5 s, {n:,} distinct trips",
        },
    )
    run(
        "UXsim C++ deltan 1, distinct trips",
        {"tool": "uxsim_cpp", "deltan": 1, "label": f"UXsim C++ deltan 1, {n:,} distinct trips"},
    )
    run(
        "UXsim C++ deltan 1, platoon demand",
        {
            "tool": "uxsim_cpp",
            "deltan": 1,
            "demand": "platoons",
            "label": f"UXsim C++ deltan 1, platoon demand ({n:,} veh)",
        },
    )
    run(
        "ours, dt 2 s",
        {"tool": "ours", "dt": 2.0, "demand": "platoons", "label": "ours dt 2 s, platoon demand"},
    )
    prof = run_child(
        {
            **base,
            "tool": "ours",
            "dt": 5.0,
            "demand": "platoons",
            "profile": True,
            "label": "ours dt 5 s under cProfile (not in the tables)",
        },
        args.timeout,
    )

    emit(
        f"### (b) São Paulo centre ({stats['nodes']:,} nodes, {stats['edges']:,} edges), "
        f"{n:,} trips generated over 0–3,600 s, simulated {DURATION_S:.0f} s, no signals"
    )
    emit()
    emit(
        f"- {stats['shorter_than_platoon_step']:,} of {stats['edges']:,} links are shorter "
        f"than deltan × reaction time × free speed (UXsim issue #203's minimum length); "
        f"{stats['shorter_than_100m']:,} are shorter than 100 m; "
        f"{stats['shorter_than_dt']:,} take less than one 5 s step at free speed"
    )
    emit(
        f"- {stats['uxsim_fd_capacity_below_ours']:,} links have a one-lane UXsim "
        "fundamental-diagram capacity (u·κ/(u·κ + 1/τ)) below our capacity, so UXsim's "
        "`capacity_out` cannot reach ours there"
    )
    emit(
        f"- {stats['parallel_edges']} parallel edges; {stats['signalized_nodes_ignored']} "
        "signalized nodes run without signals in both tools"
    )
    emit()
    emit(*run_table([r for rows in groups.values() for r in rows]))
    emit()
    peers = {k: v for k, v in groups.items() if k in ("UXsim C++", "UXsim Python")}
    emit("Ours (dt 5 s, platoon demand: the same vehicles as UXsim deltan 5) against each peer:")
    emit()
    emit(*ratio_table(groups["ours, dt 5 s"], peers))
    emit()
    emit("Ours on the distinct trips against UXsim C++ deltan 1 on the same distinct trips:")
    emit()
    emit(
        *ratio_table(
            groups["ours, dt 5 s, distinct trips"],
            {"UXsim C++ deltan 1": groups["UXsim C++ deltan 1, distinct trips"]},
        )
    )
    emit()
    emit(
        "The platoon demand's every vehicle (5 identical trips per platoon) against UXsim C++ "
        "with deltan 1 on the same vehicles, clear of its short-link limit:"
    )
    emit()
    emit(
        *ratio_table(
            groups["ours, dt 5 s"],
            {"UXsim C++ deltan 1": groups["UXsim C++ deltan 1, platoon demand"]},
        )
    )
    emit()
    groups["stats"] = stats
    if "profile" in prof:
        emit(
            f"cProfile of ours on (b), dt 5 s (profiled wall {prof['wall_s']:.2f} s), top 15 by "
            "cumulative time:"
        )
        emit()
        emit("```")
        emit(*prof["profile"].strip().splitlines())
        emit("```")
        emit()
    groups["profile"] = prof
    return groups


def scenario_c(args, emit) -> dict:
    size = 40
    window, duration = args.c_window_h * 3600.0, (args.c_window_h + 2) * 3600.0
    counts = args.trips_c if not args.quick else [50_000]
    results = []
    for n in counts:
        spec = {
            "scenario": "c",
            "tool": "ours",
            "grid": size,
            "n": n,
            "window_s": window,
            "duration_s": duration,
            "dt": 5.0,
            "seed": 0,
            "label": f"ours dt 5 s, grid {size}×{size}, {n:,} trips",
        }
        results.append(run_child(spec, args.timeout_c))
    emit(
        f"### (c) Scale, ours alone: grid {size}×{size} ({size * size:,} nodes, "
        f"{4 * size * (size - 1):,} links), trips between edge nodes, departures 0–"
        f"{window / 3600:.0f} h, simulated {duration / 3600:.0f} h"
    )
    emit()
    emit(*run_table(results))
    emit()
    ok = [r for r in results if "error" not in r]
    if ok:
        big = max(ok, key=lambda r: r["n"])
        if big["n"] < 1_000_000 and len(ok) >= 2:
            n = np.array([r["n"] for r in ok], dtype=float)
            wall = np.array([r["wall_s"] for r in ok])
            mem = np.array([r["peak_rss_mib"] for r in ok])
            wall_fit, mem_fit = np.polyfit(n, wall, 1), np.polyfit(n, mem, 1)
            emit(
                f"EXTRAPOLATED (linear fit through the runs above) to 1,000,000 trips: "
                f"{np.polyval(wall_fit, 1e6):.0f} s, {np.polyval(mem_fit, 1e6) / 1024:.2f} GiB"
            )
            emit()
    return {"runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default="a,b,s,c", help="scenarios to run, e.g. a,b (s: re-route sensitivity)"
    )
    parser.add_argument("--quick", action="store_true", help="small demand, for a smoke test")
    parser.add_argument(
        "--route-cost", default="instantaneous",
        help="how ours' re-routing drivers price links on (a): experienced or instantaneous",
    )  # fmt: skip
    parser.add_argument("--city", type=Path, default=DEFAULT_CITY)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of ours and UXsim C++ on (a)")
    parser.add_argument("--ux-py-seeds", type=int, default=1, help="seeds of UXsim Python on (a)")
    parser.add_argument(
        "--ux-deltan1-seeds", type=int, default=0,
        help="seeds of UXsim C++ with deltan 1 (vehicles, not platoons of 5) on (a)",
    )  # fmt: skip
    parser.add_argument(
        "--ux-py-logging",
        action="store_true",
        help="also run UXsim Python with default logging on (a)",
    )
    parser.add_argument("--trips-b", type=int, default=10_000)
    parser.add_argument(
        "--trips-c",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1_000_000],
        help="comma-separated trip counts for (c)",
    )
    parser.add_argument(
        "--c-window-h",
        type=float,
        default=8.0,
        help="departure window of (c), hours (simulated 2 h longer)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    parser.add_argument(
        "--timeout-py", type=float, default=480.0, help="UXsim Python on (b), seconds"
    )
    parser.add_argument("--timeout-c", type=float, default=420.0, help="each (c) run, seconds")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return

    import uxsim

    lines: list[str] = []

    def emit(*text: str) -> None:
        for line in text or ("",):
            print(line, flush=True)
            lines.append(line)

    started = time.perf_counter()
    emit(
        f"<!-- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.python_version()}, "
        f"numpy {np.__version__}, uxsim {uxsim.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start -->"
    )
    emit()
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    only = {s.strip() for s in args.only.split(",")}
    if "a" in only:
        report["a"] = scenario_a(args, emit)
    if "b" in only:
        report["b"] = scenario_b(args, emit)
    if "s" in only:
        report["s"] = scenario_s(args, emit)
    if "c" in only:
        report["c"] = scenario_c(args, emit)
    emit(
        f"<!-- total {time.perf_counter() - started:.0f} s; load average "
        f"{os.getloadavg()[0]:.2f} at end -->"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
