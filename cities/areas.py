"""Parts of cities and made-up towns: more places to draw a learned planner's training days from.

A model meant for any city learns from many: the bundled and shared extracts whole, square
windows of a few kilometres cut from the large ones (:func:`city_window`: a district, with its
streets, homes and mapped features), and synthetic towns (:func:`synthetic_city`: a street grid
bent, thinned and given arterials, with homes spread unevenly). Each is a
:class:`~cities.city.City` like a loaded one, named after what it was cut or made from, with a
content hash of its own (the source file's hash and the cut, or the town's settings), so days
drawn from it say where they came from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from cities.city import City
from cities.context import CityContext
from cities.errors import TwinError
from cities.network import ROAD_CLASS_NAMES, RoadNetwork
from cities.registry import CitySource
from cities.synthetic import network_from_links

__all__ = ["MIN_WINDOW_NODES", "city_window", "largest_strong_component", "synthetic_city"]

MIN_WINDOW_NODES = 150
"""A window with fewer connected junctions than this is too small to route a day in."""

_FEATURE_COLUMNS = (
    "osm_type", "osm_id", "key", "value", "poi", "levels", "area_m2", "lon", "lat", "x", "y",
    "node", "snap_m",
)  # fmt: skip


def largest_strong_component(network: RoadNetwork, keep: np.ndarray) -> np.ndarray:
    """The nodes (a boolean mask) of the largest strongly connected part of the network
    restricted to ``keep``: where a truck can drive from anywhere to anywhere."""
    inside = keep[network.edge_u] & keep[network.edge_v]
    graph = csr_matrix(
        (np.ones(int(inside.sum())), (network.edge_u[inside], network.edge_v[inside])),
        shape=(network.n_nodes, network.n_nodes),
    )
    _, label = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(label[keep], minlength=label.max() + 1)
    return keep & (label == int(np.argmax(sizes)))


def _subnetwork(network: RoadNetwork, nodes: np.ndarray) -> tuple[RoadNetwork, np.ndarray]:
    """The network on the nodes of mask ``nodes`` and the edges between them, and each old
    node's new position (−1 where dropped)."""
    position = np.full(network.n_nodes, -1, dtype=np.int64)
    position[nodes] = np.arange(int(nodes.sum()))
    edges = np.flatnonzero(nodes[network.edge_u] & nodes[network.edge_v])
    # edges stay sorted by start node: the new positions keep the old order
    columns = {
        name: getattr(network, name)[nodes]
        for name in ("node_osmid", "node_x", "node_y", "node_lon", "node_lat", "node_signalized")
    }
    for name in vars(network):
        if name.startswith("edge_") and name not in ("edge_u", "edge_v"):
            columns[name] = getattr(network, name)[edges]
    sub = RoadNetwork(
        crs=network.crs,
        edge_u=position[network.edge_u[edges]].astype(network.edge_u.dtype),
        edge_v=position[network.edge_v[edges]].astype(network.edge_v.dtype),
        **columns,
    )
    return sub, position


def _subcontext(context: CityContext, nodes: np.ndarray, position: np.ndarray) -> CityContext:
    def share(weight: np.ndarray) -> np.ndarray:
        kept = weight[nodes]
        return kept / kept.sum() if kept.sum() > 0 else np.full(len(kept), 1.0 / len(kept))

    features = context.features
    features = features[nodes[features["node"].to_numpy()]].copy()
    features["node"] = position[features["node"].to_numpy()]
    return CityContext(
        home_weight=share(context.home_weight),
        work_weight=share(context.work_weight),
        home_source=context.home_source,
        work_source=context.work_source,
        features=features.reset_index(drop=True),
    )


def _derived_source(name: str, path: Path, settings: dict) -> CitySource:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return CitySource(name=name, path=path, sha256=digest)


def city_window(
    city: City,
    *,
    centre_xy: tuple[float, float],
    size_m: float,
    min_nodes: int = MIN_WINDOW_NODES,
) -> City:
    """The square of side ``size_m`` around ``centre_xy`` (metres, the city's CRS) cut from
    ``city``: its largest strongly connected street network, homes and OSM features.

    Raises
    ------
    twin.errors.TwinError
        A window with fewer than ``min_nodes`` connected junctions (say, on a mountain side or
        outside the extract): pick another centre or a larger size.
    """
    if not size_m > 0:
        raise TwinError(f"a window's size must be > 0 m, got {size_m}.")
    network = city.network
    cx, cy = (float(v) for v in centre_xy)
    half = size_m / 2
    inside = (np.abs(network.node_x - cx) <= half) & (np.abs(network.node_y - cy) <= half)
    nodes = largest_strong_component(network, inside)
    if int(nodes.sum()) < min_nodes:
        raise TwinError(
            f"the {size_m / 1000:.1f} km window at {cx:.0f}, {cy:.0f} of {city.name} holds "
            f"{int(nodes.sum())} connected junctions (at least {min_nodes} needed): pick another "
            "centre or a larger window."
        )
    sub, position = _subnetwork(network, nodes)
    name = f"{city.name}@{cx:.0f},{cy:.0f}+{size_m / 1000:g}km"
    settings = {"from": city.source.sha256, "centre": [round(cx), round(cy)], "size_m": size_m}
    source = _derived_source(name, city.source.path, settings)
    context = _subcontext(city.context, nodes, position)
    return City(name, source, sub, context, 0.0, False)


def synthetic_city(
    seed: int,
    *,
    blocks: tuple[int, int] = (14, 14),
    spacing_m: tuple[float, float] = (90.0, 220.0),
    removed_share: float = 0.15,
    one_way_share: float = 0.1,
) -> City:
    """A made-up town: a ``blocks`` street grid with random block sizes, bent a little, some
    streets removed and some one-way, every fourth or so street an arterial (50 km/h, the others
    30), and homes spread unevenly (lognormal weights, denser towards one centre). Its largest
    strongly connected part is kept. The same seed gives the same town.
    """
    rng = np.random.default_rng(seed)
    nx, ny = blocks
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(*spacing_m, nx - 1))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(*spacing_m, ny - 1))])
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    jitter = 0.15 * min(spacing_m)
    xy = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, jitter, (nx * ny, 2))
    arterial_x = set(rng.choice(nx, size=max(1, nx // 4), replace=False).tolist())
    arterial_y = set(rng.choice(ny, size=max(1, ny // 4), replace=False).tolist())
    links, speed, road = [], [], []
    for i in range(nx):
        for j in range(ny):
            here = i * ny + j
            for there, main in ((here + ny, j in arterial_y), (here + 1, i in arterial_x)):
                if (there == here + ny and i + 1 >= nx) or (there == here + 1 and j + 1 >= ny):
                    continue
                if not main and rng.random() < removed_share:
                    continue
                pairs = [(here, there), (there, here)]
                if not main and rng.random() < one_way_share:
                    pairs = [pairs[int(rng.integers(2))]]
                for pair in pairs:
                    links.append(pair)
                    speed.append(50.0 if main else 30.0)
                    road.append("secondary" if main else "residential")
    classes = np.array([ROAD_CLASS_NAMES.index(r) for r in road], dtype=np.int8)
    full = network_from_links(
        xy, links, speed_kph=np.array(speed), capacity_vph=900.0, highway="residential"
    )
    # network_from_links sorts the links by start node; give each its class in that order
    order = np.lexsort((np.array(links)[:, 1], np.array(links)[:, 0]))
    full.edge_class[:] = classes[order]
    centre = xy[rng.integers(len(xy))]
    spread = 0.5 * np.hypot(*(xy.max(axis=0) - xy.min(axis=0)))
    home = rng.lognormal(0.0, 0.8, len(xy)) * np.exp(-np.hypot(*(xy - centre).T) / spread)
    nodes = largest_strong_component(full, np.ones(full.n_nodes, dtype=bool))
    network, _ = _subnetwork(full, nodes)
    home = home[nodes] / home[nodes].sum()
    context = CityContext(
        home_weight=home,
        work_weight=home,
        home_source="synthetic",
        work_source="synthetic",
        features=pd.DataFrame({name: [] for name in _FEATURE_COLUMNS}).astype(
            {"node": np.int64, "osm_id": np.int64, "snap_m": float, "x": float, "y": float}
        ),
    )
    settings = {"synthetic": seed, "blocks": list(blocks), "spacing_m": list(spacing_m),
                "removed_share": removed_share, "one_way_share": one_way_share}  # fmt: skip
    name = f"synthetic-{seed}"
    return City(
        name, _derived_source(name, Path("synthetic"), settings), network, context, 0.0, False
    )
