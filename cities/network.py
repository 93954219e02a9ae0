"""The road network model: a directed, strongly connected, projected drivable network.

Simulations need flat arrays; maps need GeoDataFrames. :class:`RoadNetwork` holds the arrays (one
numpy column per attribute, edges sorted by their start node so that a node's outgoing edges form a
contiguous CSR slice) and converts to and from GeoDataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from cities.roads import ROAD_CLASSES

__all__ = ["EDGE_COLUMNS", "NODE_COLUMNS", "ROAD_CLASS_NAMES", "RoadNetwork"]

ROAD_CLASS_NAMES: tuple[str, ...] = tuple(ROAD_CLASSES)
"""Road class of code ``i`` in :attr:`RoadNetwork.edge_class`."""

NODE_COLUMNS = ("x", "y", "lon", "lat", "signalized")
EDGE_COLUMNS = (
    "u",
    "v",
    "key",
    "osmid",
    "highway",
    "name",
    "length_m",
    "speed_kph",
    "speed_tagged",
    "lanes",
    "free_flow_s",
    "capacity_vph",
    "storage_veh",
)


def _csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers and the order that groups items by ``keys`` (stable)."""
    order = np.argsort(keys, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=indptr[1:])
    return indptr, order


@dataclass(eq=False)
class RoadNetwork:
    """A drivable road network as arrays.

    Node ``i`` and edge ``j`` are positions in these arrays. Edges are sorted by start node, so
    the outgoing edges of node ``i`` are ``out_indptr[i]:out_indptr[i + 1]``; incoming edges are
    ``in_edges[in_indptr[i]:in_indptr[i + 1]]``. Coordinates ``x, y`` and lengths are metres in
    :attr:`crs`, a projected CRS.

    Attributes
    ----------
    crs
        The projected CRS of ``x``, ``y`` and edge geometries (e.g. ``"EPSG:32635"``).
    node_osmid, node_x, node_y, node_lon, node_lat, node_signalized
        Per node: OSM id, metric position, WGS84 position, ``highway=traffic_signals``.
    edge_u, edge_v
        Start and end node of each edge (node positions).
    edge_key
        Distinguishes parallel edges between the same pair of nodes.
    edge_osmid, edge_class, edge_name
        OSM way id, road class code (see :data:`ROAD_CLASS_NAMES`), street name.
    edge_length_m, edge_speed_kph, edge_speed_tagged, edge_lanes
        Length, speed limit, whether the limit came from an OSM tag, lanes in this direction.
    edge_free_flow_s, edge_capacity_vph, edge_storage_veh
        Free-flow travel time, outflow capacity (vehicles per hour), storage (vehicles).
    edge_geometry
        Shapely LineStrings in :attr:`crs`.
    """

    crs: str
    node_osmid: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_signalized: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_key: np.ndarray
    edge_osmid: np.ndarray
    edge_class: np.ndarray
    edge_name: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_kph: np.ndarray
    edge_speed_tagged: np.ndarray
    edge_lanes: np.ndarray
    edge_free_flow_s: np.ndarray
    edge_capacity_vph: np.ndarray
    edge_storage_veh: np.ndarray
    edge_geometry: np.ndarray
    out_indptr: np.ndarray = field(init=False, repr=False)
    in_indptr: np.ndarray = field(init=False, repr=False)
    in_edges: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n, m = len(self.node_osmid), len(self.edge_u)
        for name, value in vars(self).items():
            if name.startswith("node_") and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} nodes")
            if name.startswith("edge_") and len(value) != m:
                raise ValueError(f"{name} has {len(value)} entries for {m} edges")
        if m and np.any(np.diff(self.edge_u) < 0):
            raise ValueError("edges must be sorted by start node (edge_u)")
        self.out_indptr, _ = _csr(self.edge_u, n)
        self.in_indptr, self.in_edges = _csr(self.edge_v, n)

    # ------------------------------------------------------------------ sizes and summaries
    @property
    def n_nodes(self) -> int:
        """Number of nodes (intersections and dead ends)."""
        return len(self.node_osmid)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return len(self.edge_u)

    @property
    def edge_highway(self) -> np.ndarray:
        """OSM ``highway`` class name of each edge."""
        return np.asarray(ROAD_CLASS_NAMES, dtype=object)[self.edge_class]

    @property
    def total_length_km(self) -> float:
        """Length of all directed edges, km (a two-way street counts twice)."""
        return float(self.edge_length_m.sum() / 1000.0)

    @property
    def bbox_lonlat(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the nodes in degrees."""
        return (
            float(self.node_lon.min()),
            float(self.node_lat.min()),
            float(self.node_lon.max()),
            float(self.node_lat.max()),
        )

    def summary(self) -> dict[str, Any]:
        """Counts and extents, as plain Python values (JSON-ready)."""
        classes, counts = np.unique(self.edge_highway, return_counts=True)
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "road_km": round(self.total_length_km, 3),
            "signalized_nodes": int(self.node_signalized.sum()),
            "bbox": [round(v, 6) for v in self.bbox_lonlat],
            "crs": self.crs,
            "edges_by_class": {str(c): int(k) for c, k in zip(classes, counts, strict=True)},
            "speed_limit_tagged_share": round(float(self.edge_speed_tagged.mean()), 4),
        }

    # ------------------------------------------------------------------ adjacency and lookup
    def out_edges(self, node: int) -> np.ndarray:
        """Edge positions leaving node position ``node``."""
        return np.arange(self.out_indptr[node], self.out_indptr[node + 1])

    def in_edges_of(self, node: int) -> np.ndarray:
        """Edge positions entering node position ``node``."""
        return self.in_edges[self.in_indptr[node] : self.in_indptr[node + 1]]

    @cached_property
    def _node_position(self) -> pd.Index:
        return pd.Index(self.node_osmid)

    def node_index(self, osmids: Any) -> np.ndarray:
        """Node positions of OSM node ids; raises ``KeyError`` naming ids not in the network."""
        ids = np.atleast_1d(np.asarray(osmids, dtype=np.int64))
        positions = self._node_position.get_indexer(ids)
        if np.any(positions < 0):
            missing = ids[positions < 0][:5].tolist()
            raise KeyError(f"OSM node ids not in the network: {missing}")
        return positions

    @cached_property
    def _kdtree(self):
        from scipy.spatial import cKDTree  # imported on first use: it slows every CLI start

        return cKDTree(np.column_stack([self.node_x, self.node_y]))

    def nearest_nodes(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node positions to metric points, and their distances in metres."""
        points = np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])
        distance, index = self._kdtree.query(points)
        return index.astype(np.int64), distance

    def to_lonlat_transformer(self) -> pyproj.Transformer:
        """Transformer from this network's CRS to WGS84 longitude/latitude."""
        return pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    # ------------------------------------------------------------------ conversions
    def to_geodataframes(self) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """Nodes (index ``osmid``) and edges as GeoDataFrames in :attr:`crs`."""
        nodes = gpd.GeoDataFrame(
            {
                "x": self.node_x,
                "y": self.node_y,
                "lon": self.node_lon,
                "lat": self.node_lat,
                "signalized": self.node_signalized,
            },
            geometry=gpd.points_from_xy(self.node_x, self.node_y),
            index=pd.Index(self.node_osmid, name="osmid"),
            crs=self.crs,
        )
        edges = gpd.GeoDataFrame(
            {
                "u": self.node_osmid[self.edge_u],
                "v": self.node_osmid[self.edge_v],
                "key": self.edge_key,
                "osmid": self.edge_osmid,
                "highway": self.edge_highway,
                "name": self.edge_name,
                "length_m": self.edge_length_m,
                "speed_kph": self.edge_speed_kph,
                "speed_tagged": self.edge_speed_tagged,
                "lanes": self.edge_lanes,
                "free_flow_s": self.edge_free_flow_s,
                "capacity_vph": self.edge_capacity_vph,
                "storage_veh": self.edge_storage_veh,
            },
            geometry=gpd.GeoSeries(self.edge_geometry, crs=self.crs),
            crs=self.crs,
        )
        return nodes, edges

    @classmethod
    def from_geodataframes(cls, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame) -> RoadNetwork:
        """Rebuild a network from :meth:`to_geodataframes` output (e.g. read back from Parquet)."""
        position = pd.Index(nodes.index.to_numpy(dtype=np.int64))
        u = position.get_indexer(edges["u"].to_numpy(dtype=np.int64))
        v = position.get_indexer(edges["v"].to_numpy(dtype=np.int64))
        if np.any(u < 0) or np.any(v < 0):
            raise ValueError("edges refer to nodes that are not in the node table")
        order = np.lexsort((edges["key"].to_numpy(), v, u))
        class_code = {name: i for i, name in enumerate(ROAD_CLASS_NAMES)}
        edges = edges.iloc[order]
        return cls(
            crs=str(nodes.crs.to_string()),
            node_osmid=position.to_numpy(),
            node_x=nodes["x"].to_numpy(dtype=np.float64),
            node_y=nodes["y"].to_numpy(dtype=np.float64),
            node_lon=nodes["lon"].to_numpy(dtype=np.float64),
            node_lat=nodes["lat"].to_numpy(dtype=np.float64),
            node_signalized=nodes["signalized"].to_numpy(dtype=bool),
            edge_u=u[order].astype(np.int32),
            edge_v=v[order].astype(np.int32),
            edge_key=edges["key"].to_numpy(dtype=np.int16),
            edge_osmid=edges["osmid"].to_numpy(dtype=np.int64),
            edge_class=np.array([class_code[h] for h in edges["highway"]], dtype=np.int8),
            edge_name=edges["name"].to_numpy(dtype=object),
            edge_length_m=edges["length_m"].to_numpy(dtype=np.float64),
            edge_speed_kph=edges["speed_kph"].to_numpy(dtype=np.float64),
            edge_speed_tagged=edges["speed_tagged"].to_numpy(dtype=bool),
            edge_lanes=edges["lanes"].to_numpy(dtype=np.int16),
            edge_free_flow_s=edges["free_flow_s"].to_numpy(dtype=np.float64),
            edge_capacity_vph=edges["capacity_vph"].to_numpy(dtype=np.float64),
            edge_storage_veh=edges["storage_veh"].to_numpy(dtype=np.float64),
            edge_geometry=edges.geometry.to_numpy(),
        )

    def to_networkx(self):
        """An osmnx-style MultiDiGraph keyed by OSM node ids (for analysis with networkx/osmnx)."""
        import networkx as nx

        graph = nx.MultiDiGraph(crs=self.crs)
        nodes, edges = self.to_geodataframes()
        for osmid, row in zip(
            self.node_osmid, nodes.drop(columns="geometry").to_dict("records"), strict=True
        ):
            graph.add_node(int(osmid), **row)
        records = edges.drop(columns=["u", "v", "key"]).to_dict("records")
        for u, v, key, row in zip(edges["u"], edges["v"], edges["key"], records, strict=True):
            graph.add_edge(int(u), int(v), key=int(key), **row)
        return graph
