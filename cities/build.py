"""Build a :class:`~cities.network.RoadNetwork` from the road ways of an OSM extract.

Steps
-----
1. Keep ways of a drivable class (:data:`cities.roads.ROAD_CLASSES`) open to cars.
2. One directed edge per way segment and direction, with speed limit, lanes, capacity and storage
   from tags or the class defaults (oneway rules follow OSM: ``oneway=yes/-1``, roundabouts and
   motorways are one-way).
3. Merge chains of segments between intersections (osmnx's topological simplification) without
   merging across road classes; lengths, travel times and storage add up along a chain, lanes and
   capacity take the chain's bottleneck.
4. Move traffic signals that OSM puts on the approach to a junction onto the junction (the nearest
   remaining node within ``signal_snap_m``).
5. Keep the largest strongly connected component, so every node can reach every other, and
   project to the local UTM zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import networkx as nx
import numpy as np

from cities.errors import NoDrivableRoadsError
from cities.network import ROAD_CLASS_NAMES, RoadNetwork
from cities.osm import OSMExtract
from cities.roads import JAM_SPACING_M, ROAD_CLASSES, RoadClass, lanes_per_direction, parse_maxspeed

__all__ = ["build_network", "drivable", "oneway_direction"]

EARTH_RADIUS_M = 6_371_009.0  # mean radius, as osmnx uses for great-circle lengths
_CLOSED = {"no", "private"}


def drivable(tags: dict[str, str]) -> bool:
    """Whether a way with these tags belongs to the drivable network."""
    if tags.get("highway") not in ROAD_CLASSES or tags.get("area") == "yes":
        return False
    for key in ("motorcar", "motor_vehicle", "vehicle"):
        if key in tags:
            return tags[key] not in _CLOSED
    return tags.get("access", "yes") not in _CLOSED


def oneway_direction(tags: dict[str, str]) -> int:
    """``1`` one-way along the way, ``-1`` one-way against it, ``0`` both ways."""
    value = tags.get("oneway", "").lower()
    if value in {"yes", "true", "1"}:
        return 1
    if value in {"-1", "reverse"}:
        return -1
    if value in {"no", "false", "0"}:
        return 0
    if tags.get("junction") in {"roundabout", "circular"} or tags.get("highway") == "motorway":
        return 1
    return 0


def _segment_lengths(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle distance from each point to the next, metres (haversine)."""
    lam, phi = np.radians(lon), np.radians(lat)
    dphi, dlam = np.diff(phi), np.diff(lam)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi[:-1]) * np.cos(phi[1:]) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _direction_attributes(
    tags: dict[str, str], road_class: RoadClass, *, forward: bool, oneway: bool
) -> dict[str, object]:
    tagged = parse_maxspeed(tags.get("maxspeed:forward" if forward else "maxspeed:backward"))
    if tagged is None:
        tagged = parse_maxspeed(tags.get("maxspeed"))
    if tagged is None:
        speed, speed_tagged = float(road_class.speed_kph), False
    else:
        speed = float(np.clip(tagged, road_class.min_speed_kph, road_class.max_speed_kph))
        speed_tagged = True
    lanes = lanes_per_direction(tags, forward=forward, oneway=oneway, road_class=road_class)
    return {
        "speed_kph": speed,
        "speed_tagged": speed_tagged,
        "lanes": lanes,
        "capacity": lanes * road_class.capacity_per_lane_vph,
    }


def _raw_graph(extract: OSMExtract) -> nx.MultiDiGraph:
    """One edge per OSM segment and direction of travel, nodes in WGS84."""
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    segment_length = _segment_lengths(extract.lon, extract.lat)
    for i, tags in enumerate(extract.way_tags):
        if not drivable(tags):
            continue
        start, stop = extract.way_offsets[i], extract.way_offsets[i + 1]
        nodes = extract.node_ids[start:stop]
        for node, lon, lat in zip(
            nodes, extract.lon[start:stop], extract.lat[start:stop], strict=True
        ):
            graph.add_node(int(node), x=float(lon), y=float(lat))
        lengths = segment_length[start : stop - 1]
        road_class = ROAD_CLASSES[tags["highway"]]
        direction = oneway_direction(tags)
        common = {
            "osmid": int(extract.way_ids[i]),
            "highway": tags["highway"],
            "name": tags.get("name", tags.get("ref", "")),
        }
        for forward in (True, False):
            if (direction == 1 and not forward) or (direction == -1 and forward):
                continue
            attrs = _direction_attributes(tags, road_class, forward=forward, oneway=direction != 0)
            sequence = nodes if forward else nodes[::-1]
            seg_lengths = lengths if forward else lengths[::-1]
            speed_mps = attrs["speed_kph"] / 3.6
            for u, v, length in zip(sequence[:-1], sequence[1:], seg_lengths, strict=True):
                if u == v:
                    continue
                graph.add_edge(
                    int(u),
                    int(v),
                    length=float(length),
                    travel_time=float(length) / speed_mps,
                    storage=float(length) * attrs["lanes"] / JAM_SPACING_M,
                    **common,
                    **attrs,
                )
    return graph


def _first(values: list) -> object:
    return values[0]


def _first_nonempty(values: list) -> str:
    return next((v for v in values if v), "")


_AGGREGATE = {
    "length": sum,
    "travel_time": sum,
    "storage": sum,
    "lanes": min,
    "capacity": min,
    "speed_tagged": all,
    "speed_kph": min,  # replaced by length / travel time afterwards; kept scalar meanwhile
    "osmid": _first,
    "name": _first_nonempty,
}


def _snap_signals(
    raw: nx.MultiDiGraph, simplified: nx.MultiDiGraph, signals: Iterable[int], snap_m: float
) -> set[int]:
    """Junctions controlled by the signal nodes: each signal itself, or the nearest junction."""
    undirected = raw.to_undirected(as_view=True)
    controlled: set[int] = set()
    for node in signals:
        if node in simplified:
            controlled.add(node)
        elif node in raw:
            reach = nx.single_source_dijkstra_path_length(undirected, node, snap_m, weight="length")
            junctions = [(d, n) for n, d in reach.items() if n in simplified]
            if junctions:
                controlled.add(min(junctions)[1])
    return controlled


def build_network(
    extract: OSMExtract,
    *,
    signal_snap_m: float = 50.0,
    on_step: Callable[[str], None] | None = None,
) -> RoadNetwork:
    """Model the drivable road network of an OSM extract.

    Parameters
    ----------
    extract
        The file's road ways (see :func:`cities.read_osm`).
    signal_snap_m
        Farthest distance, along the road, from a ``traffic_signals`` node to the junction it
        controls.
    on_step
        Called with a short label as each step starts (for progress display).

    Returns
    -------
    RoadNetwork

    Raises
    ------
    NoDrivableRoadsError
        No way of the file is a drivable road, or the drivable roads form no connected network.
    """
    import osmnx as ox  # about a second to import; only a cold build needs it

    step = on_step or (lambda _label: None)
    step("graph")
    raw = _raw_graph(extract)
    if raw.number_of_edges() == 0:
        raise NoDrivableRoadsError(
            f"{extract.path.name} has {extract.n_ways} road ways but none drivable by car "
            f"(drivable classes: {', '.join(ROAD_CLASSES)}): give an extract that covers streets."
        )
    step("simplify")
    graph = ox.simplify_graph(raw, edge_attrs_differ=["highway"], edge_attr_aggs=_AGGREGATE)
    graph.remove_edges_from(list(nx.selfloop_edges(graph, keys=True)))
    signalized = _snap_signals(raw, graph, extract.signal_node_ids.tolist(), signal_snap_m)
    nx.set_node_attributes(graph, {n: n in signalized for n in graph.nodes}, "signalized")
    graph = ox.truncate.largest_component(graph, strongly=True)
    if graph.number_of_edges() == 0:
        raise NoDrivableRoadsError(
            f"The drivable roads of {extract.path.name} form no connected network (every road "
            "is a dead end of length zero or isolated): give a larger extract."
        )
    step("project")
    for _node, data in graph.nodes(data=True):
        data["lon"], data["lat"] = data["x"], data["y"]
    graph = ox.project_graph(graph)
    return _to_network(graph)


def _to_network(graph: nx.MultiDiGraph) -> RoadNetwork:
    import osmnx as ox

    nodes, edges = ox.graph_to_gdfs(graph)
    nodes = nodes.sort_index()
    edges = edges.reset_index()
    position = {osmid: i for i, osmid in enumerate(nodes.index)}
    u = edges["u"].map(position).to_numpy(dtype=np.int32)
    v = edges["v"].map(position).to_numpy(dtype=np.int32)
    order = np.lexsort((edges["key"].to_numpy(), v, u))
    edges = edges.iloc[order]
    length = edges["length"].to_numpy(dtype=np.float64)
    travel_time = edges["travel_time"].to_numpy(dtype=np.float64)
    class_code = {name: i for i, name in enumerate(ROAD_CLASS_NAMES)}
    return RoadNetwork(
        crs=nodes.crs.to_string(),
        node_osmid=nodes.index.to_numpy(dtype=np.int64),
        node_x=nodes["x"].to_numpy(dtype=np.float64),
        node_y=nodes["y"].to_numpy(dtype=np.float64),
        node_lon=nodes["lon"].to_numpy(dtype=np.float64),
        node_lat=nodes["lat"].to_numpy(dtype=np.float64),
        node_signalized=nodes["signalized"].to_numpy(dtype=bool),
        edge_u=u[order],
        edge_v=v[order],
        edge_key=edges["key"].to_numpy(dtype=np.int16),
        edge_osmid=edges["osmid"].to_numpy(dtype=np.int64),
        edge_class=np.array([class_code[h] for h in edges["highway"]], dtype=np.int8),
        edge_name=edges["name"].fillna("").to_numpy(dtype=object),
        edge_length_m=length,
        # the speed that reproduces the chain's free-flow time over its length
        edge_speed_kph=3.6 * length / travel_time,
        edge_speed_tagged=edges["speed_tagged"].to_numpy(dtype=bool),
        edge_lanes=edges["lanes"].to_numpy(dtype=np.int16),
        edge_free_flow_s=travel_time,
        edge_capacity_vph=edges["capacity"].to_numpy(dtype=np.float64),
        edge_storage_veh=np.maximum(edges["storage"].to_numpy(dtype=np.float64), 1.0),
        edge_geometry=edges.geometry.to_numpy(),
    )
