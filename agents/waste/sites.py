"""The two fixed places of a waste round: the truck depot and the disposal site.

Each site is a network node, chosen by the first rule that applies:

Disposal site (where full trucks unload)
    1. configured coordinates, snapped to the nearest node;
    2. from the OSM file, the largest of: ``landuse=landfill`` areas, then
       ``amenity=waste_transfer_station`` (node or area), then recycling centres (areas tagged
       ``amenity=recycling``; nodes with that tag are street containers, see
       :mod:`agents.waste.bins`);
    3. fallback: the largest ``landuse=industrial`` area (waste plants sit in industrial zones;
       commercial areas are shops and offices, so they are not used);
    4. fallback: of the nodes on major roads (:data:`MAJOR_ROADS`), the one farthest from the
       home-weighted centre: waste plants sit at the city's edge on a road trucks can use.
Depot (where trucks start and end)
    1. configured coordinates;
    2. the ``landuse=industrial`` area nearest to the disposal site, among those of at least
       :data:`MIN_DEPOT_AREA_M2` where any is (any size otherwise);
    3. fallback: the disposal site's node (many municipal depots share the waste site).

Every rule is deterministic (ties go to the lowest OSM id or node position), and the network is
one strongly connected component, so both sites reach every node.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cities.context import CityContext
from cities.errors import TwinError
from cities.network import RoadNetwork

__all__ = [
    "MAJOR_ROADS",
    "MAX_SITE_SNAP_M",
    "MIN_DEPOT_AREA_M2",
    "Sites",
    "check_site",
    "locate_sites",
]

MAX_SITE_SNAP_M = 2000.0
"""A configured site farther than this from every network node is outside the modelled city (a
mistyped or swapped coordinate); a real site just outside the extract still snaps to its edge."""

MIN_DEPOT_AREA_M2 = 5000.0
"""Smallest industrial area preferred for a depot: a yard with parking, workshop and washing for
about ten refuse trucks takes about half a hectare (an assumption)."""

MAJOR_ROADS = frozenset({"trunk", "primary", "secondary"})
"""Road classes a fallback disposal site must touch: roads built for heavy goods traffic."""


@dataclass(frozen=True)
class Sites:
    """Depot and disposal site of the waste rounds.

    Attributes
    ----------
    depot_node, disposal_node
        Network node positions.
    depot_source, disposal_source
        Where each came from: ``"osm:<tag>=<value> <osm_id>"``, ``"configured"`` or
        ``"fallback: <rule>"``.
    """

    depot_node: int
    disposal_node: int
    depot_source: str
    disposal_source: str

    def summary(self) -> dict[str, object]:
        """Nodes and sources as plain values (JSON-ready)."""
        return asdict(self)

    def described(self, network: RoadNetwork) -> dict[str, object]:
        """:meth:`summary` and, for someone reading a run's files, each site's OSM node id
        (``depot_osm_node``; ``depot_node`` is the node's position in ``network``'s arrays, as
        a bin's ``node``) and ``[lon, lat]`` (``depot_lonlat``)."""
        described = self.summary()
        for role in ("depot", "disposal"):
            node = int(getattr(self, f"{role}_node"))
            described[f"{role}_osm_node"] = int(network.node_osmid[node])
            described[f"{role}_lonlat"] = [
                round(float(network.node_lon[node]), 7),
                round(float(network.node_lat[node]), 7),
            ]
        return described


def _snap(
    network: RoadNetwork, xy: tuple[float, float], *, crs_lonlat: bool, role: str, city: str
) -> int:
    try:
        a, b = (float(v) for v in xy)
    except (TypeError, ValueError):
        raise TwinError(f"{role}_xy must be a pair of numbers, got {xy!r}.") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise TwinError(f"{role}_xy must be finite numbers, got {xy!r}.")
    if crs_lonlat:
        if not (-180 <= a <= 180 and -90 <= b <= 90):
            raise TwinError(
                f"{role}_xy {xy!r} is not a longitude/latitude pair (lon in [-180, 180], lat in "
                "[-90, 90]); pass crs_lonlat=False for metres in the network's CRS."
            )
        x, y = network.to_lonlat_transformer().transform(a, b, direction="INVERSE")
    else:
        x, y = a, b
    node, distance = network.nearest_nodes(x, y)
    if distance[0] > MAX_SITE_SNAP_M:
        units = "lon/lat" if crs_lonlat else f"m in {network.crs}"
        west, south, east, north = network.bbox_lonlat
        raise TwinError(
            f"The {role} at {a}, {b} ({units}) is {distance[0] / 1000:.1f} km from the nearest "
            f"road of {city} (allowed: {MAX_SITE_SNAP_M / 1000:.0f} km; the network spans lon "
            f"{west:.4f}..{east:.4f}, lat {south:.4f}..{north:.4f}). Check the coordinates' order "
            "(longitude first) and that they are in this city."
        )
    return int(node[0])


def check_site(network: RoadNetwork, lonlat: tuple[float, float], *, role: str, city: str) -> int:
    """The network node a depot or disposal site given as ``(lon, lat)`` stands at.

    Raises
    ------
    TwinError
        Not a longitude/latitude pair, or more than :data:`MAX_SITE_SNAP_M` from a road (the
        coordinates swapped, or another city's); the message names the network's extent.
    """
    return _snap(network, lonlat, crs_lonlat=True, role=role, city=city)


def _largest(features: pd.DataFrame) -> pd.Series:
    return features.sort_values(["area_m2", "osm_id"], ascending=[False, True]).iloc[0]


def _osm_disposal(features: pd.DataFrame) -> tuple[int, str] | None:
    key, value, poi = features["key"], features["value"], features["poi"]
    rules = [
        ("landuse=landfill", (key == "landuse") & (value == "landfill")),
        (
            "amenity=waste_transfer_station",
            ((key == "amenity") & (value == "waste_transfer_station"))
            | (poi == "waste_transfer_station"),
        ),
        ("amenity=recycling", (features["osm_type"] != "node") & (poi == "recycling")),
    ]
    for tag, match in rules:
        if match.any():
            site = _largest(features[match])
            return int(site["node"]), f"osm:{tag} {int(site['osm_id'])}"
    return None


def _fallback_disposal(network: RoadNetwork, context: CityContext) -> tuple[int, str]:
    f = context.features
    industrial = f[(f["key"] == "landuse") & (f["value"] == "industrial")]
    if len(industrial):
        site = _largest(industrial)
        return int(site["node"]), (
            f"fallback: largest landuse=industrial area {int(site['osm_id'])} (no landfill, "
            "transfer station or recycling centre in the file)"
        )
    major = np.isin(network.edge_highway, list(MAJOR_ROADS))
    candidates = np.unique(np.concatenate([network.edge_u[major], network.edge_v[major]]))
    rule = "node on a trunk/primary/secondary road"
    if len(candidates) == 0:
        candidates, rule = np.arange(network.n_nodes), "node"
    cx = float(np.dot(context.home_weight, network.node_x))
    cy = float(np.dot(context.home_weight, network.node_y))
    distance = np.hypot(network.node_x[candidates] - cx, network.node_y[candidates] - cy)
    return int(candidates[np.argmax(distance)]), (
        f"fallback: {rule} farthest from the home-weighted centre (no waste site or industrial "
        "area in the file)"
    )


def _depot(network: RoadNetwork, context: CityContext, disposal: int) -> tuple[int, str]:
    f = context.features
    industrial = f[(f["key"] == "landuse") & (f["value"] == "industrial")]
    large = industrial[industrial["area_m2"] >= MIN_DEPOT_AREA_M2]
    if len(large):
        industrial = large
    if len(industrial) == 0:
        return disposal, "fallback: at the disposal site (no landuse=industrial area in the file)"
    distance = np.hypot(
        industrial["x"].to_numpy() - network.node_x[disposal],
        industrial["y"].to_numpy() - network.node_y[disposal],
    )
    nearest = industrial.assign(_d=distance).sort_values(["_d", "osm_id"]).iloc[0]
    return int(nearest["node"]), f"osm:landuse=industrial {int(nearest['osm_id'])}"


def locate_sites(
    network: RoadNetwork,
    context: CityContext,
    *,
    depot_xy: tuple[float, float] | None = None,
    disposal_xy: tuple[float, float] | None = None,
    crs_lonlat: bool = True,
    city: str = "this city",
) -> Sites:
    """Choose the depot and disposal site (see the module docstring for the rules).

    Parameters
    ----------
    network, context
        The city's road network and its OSM features.
    depot_xy, disposal_xy
        Configured positions; they win over the file. Longitude, latitude unless ``crs_lonlat``
        is false, then metres in the network's CRS.
    crs_lonlat
        Whether configured positions are longitude/latitude.
    city
        The city's name, for error messages.

    Returns
    -------
    Sites

    Raises
    ------
    twin.errors.TwinError
        A configured position that is not a pair of finite numbers (or not a longitude/latitude
        pair), or farther than :data:`MAX_SITE_SNAP_M` from every node.
    """
    if disposal_xy is not None:
        disposal = _snap(network, disposal_xy, crs_lonlat=crs_lonlat, role="disposal", city=city)
        disposal_source = "configured"
    else:
        found = _osm_disposal(context.features)
        disposal, disposal_source = found or _fallback_disposal(network, context)
    if depot_xy is not None:
        depot = _snap(network, depot_xy, crs_lonlat=crs_lonlat, role="depot", city=city)
        depot_source = "configured"
    else:
        depot, depot_source = _depot(network, context, disposal)
    return Sites(
        depot_node=depot,
        disposal_node=disposal,
        depot_source=depot_source,
        disposal_source=disposal_source,
    )
