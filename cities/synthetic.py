"""Synthetic road networks with exactly known properties: validation cases and benchmark grids.

Real cities are the product's subject, but analytic checks (a bottleneck's queue, a corridor's
free-flow time) and the UXsim reference scenario need networks whose every number is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from cities.network import ROAD_CLASS_NAMES, RoadNetwork
from cities.roads import JAM_SPACING_M

__all__ = ["corridor_network", "grid_network", "network_from_links"]

# A metric CRS for synthetic layouts: UTM zone 31N, placed around its central meridian.
SYNTHETIC_CRS = "EPSG:32631"
_ORIGIN_X, _ORIGIN_Y = 500_000.0, 5_000_000.0


def network_from_links(
    xy: np.ndarray,
    links: Sequence[tuple[int, int]],
    *,
    speed_kph: float | Sequence[float],
    capacity_vph: float | Sequence[float],
    lanes: int | Sequence[int] = 1,
    length_m: float | Sequence[float] | None = None,
    storage_veh: float | Sequence[float] | None = None,
    signalized: Sequence[int] = (),
    highway: str = "primary",
) -> RoadNetwork:
    """A network from node coordinates (metres) and directed links ``(from, to)``.

    Per-link values may be scalars or sequences. Lengths default to the straight-line distance;
    storage to length × lanes / 7.5 m.
    """
    xy = np.asarray(xy, dtype=np.float64)
    links_arr = np.asarray(links, dtype=np.int64).reshape(-1, 2)
    m = len(links_arr)

    def column(value, dtype=np.float64) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (m,)).copy()

    u, v = links_arr[:, 0], links_arr[:, 1]
    straight = np.hypot(*(xy[v] - xy[u]).T)
    length = straight if length_m is None else column(length_m)
    lane = column(lanes, np.int16)
    storage = length * lane / JAM_SPACING_M if storage_veh is None else column(storage_veh)
    speed = column(speed_kph)
    order = np.lexsort((v, u))
    x, y = xy[:, 0] + _ORIGIN_X, xy[:, 1] + _ORIGIN_Y
    lon, lat = _to_lonlat(x, y)
    geometry = shapely.linestrings(
        np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1)
    )
    signal_mask = np.zeros(len(xy), dtype=bool)
    signal_mask[list(signalized)] = True
    keys = np.zeros(m, dtype=np.int16)
    pair = u[order] * len(xy) + v[order]
    for i in range(1, m):  # parallel links get keys 0, 1, ...
        if pair[i] == pair[i - 1]:
            keys[i] = keys[i - 1] + 1
    return RoadNetwork(
        crs=SYNTHETIC_CRS,
        node_osmid=np.arange(1, len(xy) + 1, dtype=np.int64),
        node_x=x,
        node_y=y,
        node_lon=lon,
        node_lat=lat,
        node_signalized=signal_mask,
        edge_u=u[order].astype(np.int32),
        edge_v=v[order].astype(np.int32),
        edge_key=keys,
        edge_osmid=np.arange(1, m + 1, dtype=np.int64)[order],
        edge_class=np.full(m, ROAD_CLASS_NAMES.index(highway), dtype=np.int8),
        edge_name=np.array([f"link {i}" for i in order], dtype=object),
        edge_length_m=length[order],
        edge_speed_kph=speed[order],
        edge_speed_tagged=np.ones(m, dtype=bool),
        edge_lanes=lane[order],
        edge_free_flow_s=length[order] / (speed[order] / 3.6),
        edge_capacity_vph=column(capacity_vph)[order],
        edge_storage_veh=np.maximum(storage[order], 1.0),
        edge_geometry=geometry[order],
    )


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pyproj

    transformer = pyproj.Transformer.from_crs(SYNTHETIC_CRS, "EPSG:4326", always_xy=True)
    return transformer.transform(x, y)


def grid_network(
    size: int,
    *,
    spacing_m: float = 1000.0,
    speed_kph: float = 72.0,
    capacity_vph: float = 2880.0,
    jam_density_per_m: float = 0.2,
) -> RoadNetwork:
    """A ``size × size`` grid, every neighbour pair linked both ways (UXsim's demo layout).

    The defaults are UXsim's demo: 1 km links, 20 m/s, jam density 0.2 veh/m, and the capacity
    its Newell model implies for a 1 s reaction time, q = u·w·κ/(u + w) with w = 1/(τκ) = 5 m/s:
    0.8 veh/s = 2,880 veh/h. Node ``i * size + j`` sits at column ``i``, row ``j``.
    """
    xy = np.array([(i * spacing_m, j * spacing_m) for i in range(size) for j in range(size)])
    links = []
    for i in range(size):
        for j in range(size):
            here = i * size + j
            if i + 1 < size:
                links += [(here, here + size), (here + size, here)]
            if j + 1 < size:
                links += [(here, here + 1), (here + 1, here)]
    return network_from_links(
        xy,
        links,
        speed_kph=speed_kph,
        capacity_vph=capacity_vph,
        storage_veh=spacing_m * jam_density_per_m,
    )


def corridor_network(
    lengths_m: Sequence[float],
    *,
    speed_kph: float | Sequence[float] = 50.0,
    capacity_vph: float | Sequence[float] = 1800.0,
    lanes: int | Sequence[int] = 1,
    storage_veh: float | Sequence[float] | None = None,
    signalized: Sequence[int] = (),
) -> RoadNetwork:
    """A straight one-way chain of links, node ``i`` → ``i + 1``, plus a return link.

    The return link (last node back to the first, far away and unused by corridor trips) keeps
    the network strongly connected, as every real network here is. Link ``i`` of the corridor is
    edge position ``i``; the return link is the last edge.
    """
    lengths = np.asarray(lengths_m, dtype=np.float64)
    n = len(lengths)
    xy = np.column_stack([np.concatenate([[0.0], np.cumsum(lengths)]), np.zeros(n + 1)])
    links = [(i, i + 1) for i in range(n)] + [(n, 0)]

    def extend(value, last):
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
        return np.concatenate([arr, [last]])

    return network_from_links(
        xy,
        links,
        speed_kph=extend(speed_kph, 50.0),
        capacity_vph=extend(capacity_vph, 1800.0),
        lanes=extend(lanes, 1).astype(int),
        length_m=np.concatenate([lengths, [lengths.sum()]]),
        storage_veh=None if storage_veh is None else extend(storage_veh, 1e6),
        signalized=signalized,
    )
