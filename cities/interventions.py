"""Interventions a scenario applies to a city: close a street, change a road, scale demand.

Edges are named by OSM node ids, ``"u-v"`` (or ``"u-v-key"`` for one of several parallel
edges), which stay valid across rebuilds of the same OSM file; ``way=<id>`` names every edge of an
OSM way (both directions of a street).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cities.errors import TwinError

if TYPE_CHECKING:  # the network's module loads geopandas, which a scenario's checks need not
    from cities.network import RoadNetwork

__all__ = ["ChangeEdge", "CloseEdge", "ScaleDemand", "apply_to_network", "resolve_edges"]


@dataclass(frozen=True)
class CloseEdge:
    """Close an edge (``"u-v"``/``"u-v-key"``) or every edge of an OSM way (``way=...``)."""

    edge: str | None = None
    way: int | None = None

    @classmethod
    def parse(cls, ref: str) -> CloseEdge:
        """``"u-v"`` / ``"u-v-key"`` (OSM node ids) or ``"way:<OSM way id>"``, as written in
        scenario files and on the command line."""
        if not ref.startswith("way:"):
            return cls(edge=ref)
        if not ref[4:].isdigit():
            raise TwinError(f"'{ref}': write a way as way:<OSM way id>.")
        return cls(way=int(ref[4:]))


@dataclass(frozen=True)
class ChangeEdge:
    """Change lanes, capacity or speed limit of an edge or way; unset fields stay as they are.

    Changing lanes scales capacity and storage in proportion unless ``capacity_vph`` is given.
    """

    edge: str | None = None
    way: int | None = None
    lanes: int | None = None
    capacity_vph: float | None = None
    speed_kph: float | None = None


@dataclass(frozen=True)
class ScaleDemand:
    """Multiply the number of trips by ``factor``."""

    factor: float


def resolve_edges(
    network: RoadNetwork, *, edge: str | None = None, way: int | None = None
) -> np.ndarray:
    """Edge positions named by ``"u-v[-key]"`` or an OSM way id; a clear error if none match."""
    if (edge is None) == (way is None):
        raise TwinError(
            "Name exactly one of 'edge' (\"u-v\" OSM node ids) or 'way' (an OSM way id)."
        )
    if way is not None:
        found = np.flatnonzero(network.edge_osmid == int(way))
        if len(found) == 0:
            raise TwinError(
                f"OSM way {way} is not part of this city's drivable network: pick a way id from "
                "the edges table (column 'osmid')."
            )
        return found
    parts = str(edge).split("-")
    try:
        u, v, key = (int(p) for p in (parts if len(parts) == 3 else [*parts, "0"]))
        if len(parts) not in (2, 3):
            raise ValueError
    except ValueError:
        raise TwinError(
            f"Cannot read edge id '{edge}': write the OSM node ids of its ends as 'u-v' "
            "(or 'u-v-key' for one of parallel edges)."
        ) from None
    try:
        iu, iv = network.node_index([u, v])
    except KeyError:
        raise TwinError(
            f"Edge '{edge}' names a node that is not in this city's network: take edge ids "
            "from the edges table (columns u, v, key)."
        ) from None
    found = np.flatnonzero(
        (network.edge_u == iu) & (network.edge_v == iv) & (network.edge_key == key)
    )
    if len(found) == 0:
        raise TwinError(
            f"There is no edge '{edge}' (from node {u} to node {v}, key {key}) in this city's "
            "network: check the direction, or use way=<id> for both directions."
        )
    return found


def apply_to_network(network: RoadNetwork, interventions: list) -> tuple[RoadNetwork, np.ndarray]:
    """The network with road changes applied, and a mask of closed edges.

    Demand interventions are ignored here (see :class:`ScaleDemand`).
    """
    closed = np.zeros(network.n_edges, dtype=bool)
    lanes = network.edge_lanes.astype(np.float64)
    capacity = network.edge_capacity_vph.copy()
    storage = network.edge_storage_veh.copy()
    speed = network.edge_speed_kph.copy()
    for item in interventions:
        if isinstance(item, CloseEdge):
            closed[resolve_edges(network, edge=item.edge, way=item.way)] = True
        elif isinstance(item, ChangeEdge):
            edges = resolve_edges(network, edge=item.edge, way=item.way)
            if item.lanes is not None:
                if item.lanes < 1:
                    raise TwinError(
                        f"Lanes must be at least 1 (close the edge instead), got {item.lanes}."
                    )
                ratio = item.lanes / lanes[edges]
                capacity[edges] *= ratio
                storage[edges] = np.maximum(storage[edges] * ratio, 1.0)
                lanes[edges] = item.lanes
            if item.capacity_vph is not None:
                if not item.capacity_vph > 0:
                    raise TwinError(
                        "Capacity must be positive (close the edge instead), "
                        f"got {item.capacity_vph}."
                    )
                capacity[edges] = item.capacity_vph
            if item.speed_kph is not None:
                if not 0 < item.speed_kph <= 200:
                    raise TwinError(f"Speed limit must be in (0, 200] km/h, got {item.speed_kph}.")
                speed[edges] = item.speed_kph
    changed = dataclasses.replace(
        network,
        edge_lanes=lanes.astype(np.int16),
        edge_capacity_vph=capacity,
        edge_storage_veh=np.maximum(storage, 1.0),
        edge_speed_kph=speed,
        edge_free_flow_s=network.edge_length_m / (speed / 3.6),
    )
    return changed, closed
