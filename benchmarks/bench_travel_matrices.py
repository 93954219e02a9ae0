"""The waste model's travel matrices: driven distances summed over all trees at once, or by blocks.

A waste run with the trucks in traffic needs, for every 5-minute interval of the shift its
trucks drive in, the travel time between all its locations and the distance driven on each
of those fastest paths (:meth:`cities.routing.Router.cost_matrices`): one search per location,
then each path's length summed up its predecessor tree. Until session 31 the sums took every
tree of a search batch at once (the peer below, kept as it was); now blocks of 128 trees,
visiting only the nodes whose sum is not complete. The same matrices, on the same link times
(free-flow times, each edge slowed by a seeded random factor up to 2, 20 edges closed),
medians of ``--repeat``::

    .venv/bin/python benchmarks/bench_travel_matrices.py kotka \\
        ../shared/cities/aguascalientes.osm.pbf ../shared/cities/andorra.osm.pbf \\
        ../shared/cities/liechtenstein.osm.pbf ../shared/cities/sao-paulo-centre.osm.pbf
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cities.city import load_city
from cities.routing import Router


def all_trees_at_once(router: Router, nodes: np.ndarray, along: np.ndarray):
    """The former ``Router.cost_matrices``: the pointer doubling over whole search batches."""
    n = router.network.n_nodes
    cost_rows, summed_rows = [], []
    for start in range(0, len(nodes), router.origin_batch):
        batch = nodes[start : start + router.origin_batch]
        dist, pred = dijkstra(
            router._matrix, directed=True, indices=batch, return_predecessors=True
        )
        rows, cols = np.nonzero(pred >= 0)
        edge = router._pair_edge[np.searchsorted(router._pair_key, pred[rows, cols] * n + cols)]
        acc = np.zeros(pred.shape)
        acc[rows, cols] = along[edge]
        up = np.where(pred >= 0, pred, -1)
        row_index = np.arange(len(batch))[:, None]
        while np.any(up >= 0):
            live = up >= 0
            safe = np.where(live, up, 0)
            acc = np.where(live, acc + acc[row_index, safe], acc)
            up = np.where(live, up[row_index, safe], -1)
        acc[~np.isfinite(dist)] = np.inf
        cost_rows.append(dist[:, nodes])
        summed_rows.append(acc[:, nodes])
    return np.vstack(cost_rows), np.vstack(summed_rows)


def _median_s(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+")
    parser.add_argument("--locations", type=int, default=1466, help="São Paulo's bins and sites")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| city | nodes | locations | all trees at once s | blocks s | ratio | same |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in args.cities:
        city = load_city(name)
        network = city.network
        rng = np.random.default_rng(args.seed)
        nodes = np.unique(
            rng.choice(network.n_nodes, min(args.locations, network.n_nodes), replace=False)
        )
        seconds = network.edge_free_flow_s * (1 + rng.random(network.n_edges))
        seconds[rng.choice(network.n_edges, 20, replace=False)] = np.inf
        router = Router(network, seconds)
        along = network.edge_length_m
        peer = partial(all_trees_at_once, router, nodes, along)
        ours = partial(router.cost_matrices, nodes, along=along)
        before_s, before = _median_s(peer, args.repeat)
        after_s, after = _median_s(ours, args.repeat)
        same = all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        print(
            f"| {city.name} | {network.n_nodes:,} | {len(nodes):,} | {before_s:.3f} | "
            f"{after_s:.3f} | {before_s / after_s:.2f}× | {'yes' if same else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
