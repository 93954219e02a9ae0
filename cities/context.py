"""City context: where people live and where they go, as weights on the network's nodes.

Demand generation draws trip origins from home weights and destinations from work weights; waste
bins fill in proportion to the homes and activity around them. Each weight comes from the best
source the OSM file offers, tried in order (a source counts only where it reaches at least
:data:`MIN_NODE_COVERAGE` of the nodes):

``buildings``
    Floor area (footprint × ``building:levels``, one level where untagged) of buildings, attached
    to the nearest node. Residential types (and untyped ``building=yes`` without a POI tag) count
    as homes; commercial, office, retail, industrial, public and POI-bearing buildings as work.
    Work also counts every POI node (shop, amenity, office, tourism, craft, healthcare) as
    :data:`POI_FLOOR_AREA_M2` of floor area.
``landuse``
    Area of ``landuse=residential`` polygons (homes) or commercial/retail/industrial polygons
    (work), attached to the node nearest their centroid.
``roads``
    Fallback for files with roads only (e.g. the São Paulo extract): homes along local streets
    (residential, living street, unclassified), work along arterials (trunk, primary, secondary,
    tertiary), each node weighted by half the length of such edges touching it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cities.network import RoadNetwork
from cities.osm import POI_KEYS, OSMExtract

__all__ = ["MAX_SNAP_M", "POI_FLOOR_AREA_M2", "CityContext", "build_context"]

POI_FLOOR_AREA_M2 = 100.0
"""Work floor area that one POI node stands for."""

MAX_SNAP_M = 500.0
"""Features farther than this from every network node are outside the modelled area and ignored."""

MIN_NODE_COVERAGE = 0.05
"""A source is used only if it gives weight to at least this share of nodes; sparser sources (a
few dozen POIs in a roads-only extract) would pile all demand on a handful of nodes."""

RESIDENTIAL_BUILDINGS = frozenset(
    {
        "residential", "house", "apartments", "detached", "semidetached_house", "terrace",
        "dormitory", "bungalow", "farm", "cabin", "static_caravan", "houseboat",
    }
)  # fmt: skip
WORK_BUILDINGS = frozenset(
    {
        "commercial", "office", "retail", "industrial", "warehouse", "supermarket", "kiosk",
        "school", "university", "college", "kindergarten", "hospital", "public", "civic",
        "government", "hotel", "train_station", "transportation", "manufacture", "service",
        "sports_hall", "stadium", "church", "cathedral", "mosque", "temple", "fire_station",
    }
)  # fmt: skip
RESIDENTIAL_LANDUSE = frozenset({"residential"})
WORK_LANDUSE = frozenset({"commercial", "retail", "industrial"})
LOCAL_STREETS = frozenset({"residential", "living_street", "unclassified"})
ARTERIALS = frozenset(
    {"trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link", "tertiary"}
)


@dataclass(eq=False)
class CityContext:
    """Home and work weights per network node, and the OSM features they came from.

    Attributes
    ----------
    home_weight, work_weight
        Non-negative, one per node, each summing to 1.
    home_source, work_source
        Which source gave each weight: ``"buildings"``, ``"landuse"`` or ``"roads"``.
    features
        The file's buildings, land-use areas and POIs within reach of the network, with their
        metric position ``x, y``, nearest node position ``node`` and distance ``snap_m``.
    """

    home_weight: np.ndarray
    work_weight: np.ndarray
    home_source: str
    work_source: str
    features: pd.DataFrame

    def summary(self) -> dict[str, object]:
        """Sources and feature counts (JSON-ready)."""
        f = self.features
        return {
            "home_source": self.home_source,
            "work_source": self.work_source,
            "buildings": int((f["key"] == "building").sum()),
            "landuse_areas": int((f["key"] == "landuse").sum()),
            "pois": int(f["key"].isin(POI_KEYS).sum()),
        }


def _node_sum(nodes: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(nodes, weights=weights, minlength=n).astype(np.float64)


def _street_weight(network: RoadNetwork, classes: frozenset[str]) -> np.ndarray:
    on_class = np.isin(network.edge_highway, list(classes))
    half = np.where(on_class, network.edge_length_m / 2, 0.0)
    n = network.n_nodes
    return _node_sum(network.edge_u, half, n) + _node_sum(network.edge_v, half, n)


def _first_covering(candidates: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray]:
    """The first candidate weight that reaches enough nodes to describe the whole city."""
    for source, weight in candidates:
        if np.mean(weight > 0) >= MIN_NODE_COVERAGE:
            return source, weight / weight.sum()
    raise ValueError("no candidate weight covers the network")


def build_context(extract: OSMExtract, network: RoadNetwork) -> CityContext:
    """Attach the extract's buildings, land use and POIs to the network's nodes."""
    features = extract.features.copy()
    transformer = network.to_lonlat_transformer()
    x, y = transformer.transform(
        features["lon"].to_numpy(), features["lat"].to_numpy(), direction="INVERSE"
    )
    node, distance = network.nearest_nodes(x, y)
    features["x"], features["y"], features["node"], features["snap_m"] = x, y, node, distance
    features = features[features["snap_m"] <= MAX_SNAP_M].reset_index(drop=True)

    n = network.n_nodes
    nodes = features["node"].to_numpy()
    key, value = features["key"], features["value"]
    has_poi = features["poi"] != ""
    floor_area = features["area_m2"] * features["levels"].fillna(1.0)
    is_building = key == "building"
    home_building = is_building & (
        value.isin(RESIDENTIAL_BUILDINGS) | ((value == "yes") & ~has_poi)
    )
    work_building = is_building & (value.isin(WORK_BUILDINGS) | has_poi)
    poi_node = key.isin(POI_KEYS)

    landuse_area = np.where(key == "landuse", features["area_m2"], 0.0)
    home_source, home = _first_covering(
        [
            ("buildings", _node_sum(nodes, np.where(home_building, floor_area, 0.0), n)),
            ("landuse", _node_sum(nodes, landuse_area * value.isin(RESIDENTIAL_LANDUSE), n)),
            ("roads", _street_weight(network, LOCAL_STREETS)),
            ("roads", np.ones(n)),
        ]
    )
    work_floor = np.where(work_building, floor_area, 0.0) + np.where(poi_node, POI_FLOOR_AREA_M2, 0)
    work_source, work = _first_covering(
        [
            ("buildings", _node_sum(nodes, work_floor, n)),
            ("landuse", _node_sum(nodes, landuse_area * value.isin(WORK_LANDUSE), n)),
            ("roads", _street_weight(network, ARTERIALS)),
            ("roads", np.ones(n)),
        ]
    )
    return CityContext(
        home_weight=home,
        work_weight=work,
        home_source=home_source,
        work_source=work_source,
        features=features,
    )
