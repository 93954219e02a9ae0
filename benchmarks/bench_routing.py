"""Benchmark: shortest paths by free-flow time for 10,000 random OD pairs on São Paulo centre.

Measured in one run, on the same network and the same seeded pairs (node positions drawn
uniformly with ``numpy.random.default_rng(--seed)``):

* ours: ``Router(network).routes(origins, destinations)`` for all pairs (median of ``--repeat``;
  the ``Router`` construction is timed separately and included in the total);
* networkx: ``nx.shortest_path(G, o, d, weight="free_flow_s")`` (Dijkstra) on
  ``network.to_networkx()`` for the first ``--sample`` pairs, extrapolated to all pairs;
* scipy, one ``csgraph.dijkstra`` call per trip (single source, with predecessors) on the same
  sparse matrix for the same sample, extrapolated: what grouping trips by origin saves.

The sample's path costs are checked against networkx's (within 1e-6 s) and each of our paths is
checked to be a connected walk from origin to destination whose edge weights sum to its cost.

Usage::

    python benchmarks/bench_routing.py [--city PATH] [--trips 10000] [--repeat 5] [--json-out F]

The network is loaded through the on-disk cache (``--cache-dir``, default the usual one), so
only the first run builds it. Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cities.city import load_city
from cities.routing import Router

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0
TOLERANCE_S = 1e-6


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cheapest_pair_matrix(network) -> csr_matrix:
    """Sparse n×n matrix of the cheapest free-flow time between each directly linked node pair."""
    n, w = network.n_nodes, network.edge_free_flow_s
    order = np.lexsort((w, network.edge_v, network.edge_u))
    u, v = network.edge_u[order], network.edge_v[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return csr_matrix((np.maximum(w[order][first], 1e-9), (u[first], v[first])), shape=(n, n))


def check_paths(network, routes, origins, destinations) -> int:
    """Number of reachable trips whose path is not a connected walk with cost = sum of weights."""
    bad = 0
    w = network.edge_free_flow_s
    for i in np.flatnonzero(routes.reachable):
        path = routes.path(i)
        if len(path) == 0:
            bad += origins[i] != destinations[i]
            continue
        ok = (
            network.edge_u[path[0]] == origins[i]
            and network.edge_v[path[-1]] == destinations[i]
            and np.all(network.edge_v[path[:-1]] == network.edge_u[path[1:]])
            and abs(w[path].sum() - routes.cost[i]) <= TOLERANCE_S
        )
        bad += not ok
    return int(bad)


def time_once(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--city",
        default=str(REPO_ROOT.parent / "shared" / "cities" / "sao-paulo-centre.osm.pbf"),
        help="city name or OSM file (default: ../shared/cities/sao-paulo-centre.osm.pbf)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="twin cache folder")
    parser.add_argument("--trips", type=int, default=10_000, help="OD pairs to route")
    parser.add_argument("--sample", type=int, default=200, help="pairs for the per-trip peers")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()

    city = load_city(args.city, cache_dir=args.cache_dir)
    network = city.network
    log(
        f"loaded {city.name}: {network.n_nodes:,} nodes, {network.n_edges:,} edges in "
        f"{city.load_seconds:.2f} s ({'cache' if city.from_cache else 'built, now cached'})"
    )

    rng = np.random.default_rng(args.seed)
    origins = rng.integers(0, network.n_nodes, args.trips)
    destinations = rng.integers(0, network.n_nodes, args.trips)
    n_sample = min(args.sample, args.trips)

    # --- the three methods, set up once
    log("building the networkx graph …")
    started = time.perf_counter()
    graph = network.to_networkx()
    to_nx_s = time.perf_counter() - started
    osm_o = network.node_osmid[origins[:n_sample]].tolist()
    osm_d = network.node_osmid[destinations[:n_sample]].tolist()
    matrix = cheapest_pair_matrix(network)
    sample_o, sample_d = origins[:n_sample], destinations[:n_sample]

    def nx_sample() -> list:
        out = []
        for o, d in zip(osm_o, osm_d, strict=True):
            try:
                out.append(nx.shortest_path(graph, o, d, weight="free_flow_s"))
            except nx.NetworkXNoPath:
                out.append(None)
        return out

    def scipy_per_trip() -> np.ndarray:
        cost = np.empty(n_sample)
        for i, (o, d) in enumerate(zip(sample_o, sample_d, strict=True)):
            dist, _pred = dijkstra(matrix, directed=True, indices=o, return_predecessors=True)
            cost[i] = dist[d]
        return cost

    # --- timed interleaved, one round of every method per repeat, so that drifting load on a
    # noisy machine hits them alike
    runs: dict[str, list[float]] = {"build": [], "routes": [], "scipy": [], "nx": []}
    for round_ in range(args.repeat):
        log(f"round {round_ + 1}/{args.repeat}: ours, scipy per trip, networkx …")
        build_round, router = time_once(lambda: Router(network))
        runs["build"].append(build_round)
        seconds, routes = time_once(partial(router.routes, origins, destinations))
        runs["routes"].append(seconds)
        seconds, sp_cost = time_once(scipy_per_trip)
        runs["scipy"].append(seconds)
        seconds, nx_paths = time_once(nx_sample)
        runs["nx"].append(seconds)
    build_s, routes_s, sp_s, nx_s = (
        statistics.median(runs[k]) for k in ("build", "routes", "scipy", "nx")
    )
    routes_runs, sp_runs, nx_runs = runs["routes"], runs["scipy"], runs["nx"]
    scale = args.trips / n_sample
    # ratio within each round (same machine state), then the median over rounds
    paired = {
        key: statistics.median(
            t * scale / r for t, r in zip(runs[key], runs["routes"], strict=True)
        )
        for key in ("scipy", "nx")
    }

    # --- checks
    lengths = np.diff(routes.offsets)
    reachable = routes.reachable
    bad_paths = check_paths(network, routes, origins, destinations)

    def nx_path_cost(nodes: list | None) -> float:
        if nodes is None:
            return np.inf
        return sum(
            min(data["free_flow_s"] for data in graph[a][b].values())
            for a, b in itertools.pairwise(nodes)
        )

    nx_cost = np.array([nx_path_cost(p) for p in nx_paths])
    ours_cost = routes.cost[:n_sample]
    both = np.isfinite(nx_cost) & np.isfinite(ours_cost)
    reach_agree = bool(np.array_equal(np.isfinite(nx_cost), np.isfinite(ours_cost)))
    max_diff = float(np.max(np.abs(nx_cost[both] - ours_cost[both]))) if both.any() else 0.0
    costs_match = reach_agree and max_diff <= TOLERANCE_S
    sp_max_diff = float(np.max(np.abs(sp_cost[both] - ours_cost[both]))) if both.any() else 0.0

    total_s = build_s + routes_s
    rows = [
        ("ours: `Router(network)` construction", build_s, None, None),
        (f"ours: `Router.routes`, all {args.trips:,} pairs", routes_s, routes_s, 1.0),
        ("ours: construction + routes", total_s, total_s, total_s / routes_s),
        (
            f"scipy `dijkstra`, one call per trip ({n_sample} pairs, ×{scale:g})",
            sp_s,
            sp_s * scale,
            paired["scipy"],
        ),
        (
            f"networkx `shortest_path` ({n_sample} pairs, ×{scale:g})",
            nx_s,
            nx_s * scale,
            paired["nx"],
        ),
        ("networkx: `network.to_networkx()` (once, not in the above)", to_nx_s, None, None),
    ]
    lines = [
        f"{city.name}: {network.n_nodes:,} nodes, {network.n_edges:,} edges; {args.trips:,} "
        f"random OD pairs (seed {args.seed}), {len(np.unique(origins)):,} distinct origins; "
        f"median of {args.repeat} interleaved rounds.",
        "",
        f"| method | measured s | s for {args.trips:,} trips | trips/s | × ours (paired) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, measured, per_all, ratio in rows:
        if per_all is None:
            lines.append(f"| {label} | {measured:.3f} | – | – | – |")
        else:
            lines.append(
                f"| {label} | {measured:.3f} | {per_all:.2f} | {args.trips / per_all:,.0f} "
                f"| {ratio:.1f}× |"
            )
    lines += [
        "",
        f"- reachable: {reachable.mean():.2%} of trips; mean path length "
        f"{lengths[reachable].mean():.1f} edges (median {np.median(lengths[reachable]):.0f}); "
        f"mean free-flow time {routes.cost[reachable].mean():.1f} s",
        "- × ours (paired): in each round, the method's time for all trips over ours "
        "(`Router.routes`) in that round; median over rounds",
        f"- rounds, s: ours routes {fmt(routes_runs)}; scipy sample {fmt(sp_runs)}; "
        f"networkx sample {fmt(nx_runs)}",
        f"- check: {n_sample} sample costs vs networkx: max |Δ| = {max_diff:.2e} s, "
        f"reachability {'agrees' if reach_agree else 'DIFFERS'} → "
        f"{'OK' if costs_match else 'MISMATCH'} (tolerance {TOLERANCE_S:g} s); "
        f"vs scipy per-trip max |Δ| = {sp_max_diff:.2e} s",
        f"- check: paths that are not connected origin→destination walks summing to their cost: "
        f"{bad_paths} of {int(reachable.sum()):,}",
    ]
    print("\n".join(lines))
    verdict = "PASS" if total_s < TARGET_S else "FAIL"
    print(
        f"\nTarget ({args.trips:,} OD pairs on {city.name} < {TARGET_S:g} s): {verdict}; "
        f"{total_s:.2f} s including Router construction."
    )

    if args.json_out:
        payload = {
            "benchmark": "routing",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "city": city.name,
            "nodes": network.n_nodes,
            "edges": network.n_edges,
            "trips": args.trips,
            "sample": n_sample,
            "seed": args.seed,
            "repeat": args.repeat,
            "distinct_origins": len(np.unique(origins)),
            "router_build_s": build_s,
            "routes_s": routes_s,
            "routes_runs_s": routes_runs,
            "total_s": total_s,
            "trips_per_s": args.trips / routes_s,
            "reachable_share": float(reachable.mean()),
            "mean_path_edges": float(lengths[reachable].mean()),
            "networkx_sample_s": nx_s,
            "networkx_runs_s": nx_runs,
            "networkx_extrapolated_s": nx_s * scale,
            "networkx_graph_build_s": to_nx_s,
            "scipy_per_trip_sample_s": sp_s,
            "scipy_per_trip_runs_s": sp_runs,
            "scipy_per_trip_extrapolated_s": sp_s * scale,
            "ratio_networkx_vs_ours": nx_s * scale / routes_s,
            "ratio_scipy_per_trip_vs_ours": sp_s * scale / routes_s,
            "paired_ratio_networkx_vs_ours": paired["nx"],
            "paired_ratio_scipy_per_trip_vs_ours": paired["scipy"],
            "router_build_runs_s": runs["build"],
            "max_cost_diff_vs_networkx_s": max_diff,
            "costs_match_networkx": costs_match,
            "invalid_paths": bad_paths,
            "target_s": TARGET_S,
            "pass": total_s < TARGET_S,
        }
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
