"""Read an OSM file into the raw material of a city: road ways, signals, buildings, POIs, land use.

One pass with pyosmium (libosmium) reads every supported format (``.osm``, ``.osm.bz2``,
``.osm.gz``, ``.osm.pbf``). Only objects with the keys below reach Python, so a city extract
reads in well under a second.

Extracts clipped at a bounding box contain ways whose nodes lie outside the file. Such a way is
split at the missing nodes and every piece with two or more nodes is kept, so a clipped file
loads what it contains instead of failing (osmnx's XML reader refuses such files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from osmium.filter import KeyFilter

from cities.errors import OSMFileError

__all__ = ["POI_KEYS", "ROAD_TAGS", "OSMExtract", "read_osm"]

ROAD_TAGS = (
    "highway",
    "name",
    "ref",
    "oneway",
    "junction",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
    "lanes",
    "lanes:forward",
    "lanes:backward",
    "access",
    "motor_vehicle",
    "motorcar",
    "vehicle",
    "area",
    "service",
)
"""Way tags kept for road modelling; the rest are dropped while reading."""

POI_KEYS = ("amenity", "shop", "office", "tourism", "craft", "healthcare")
"""Keys that make a node (or a building) a point of interest: a place people travel to."""

_AREA_KEYS = ("building", "landuse")


@dataclass(slots=True)
class OSMExtract:
    """What a city's OSM file holds, before any modelling.

    Road ways are stored flat: way ``i`` spans ``node_ids[way_offsets[i]:way_offsets[i + 1]]``.
    A way cut by clipping appears as several pieces with the same way id.

    Attributes
    ----------
    path
        The file read.
    way_ids
        OSM id of each road way piece (every ``highway=*`` way, drivable or not).
    way_tags
        The :data:`ROAD_TAGS` of each piece.
    way_offsets, node_ids, lon, lat
        The pieces' node sequences with WGS84 coordinates.
    signal_node_ids
        Nodes tagged ``highway=traffic_signals``.
    features
        Buildings and land-use areas (with footprint area and centroid) and POI nodes, one row
        each; columns ``osm_type, osm_id, key, value, poi, levels, area_m2, lon, lat``.
    missing_node_refs
        Road-way node references absent from the file (non-zero for clipped extracts).
    """

    path: Path
    way_ids: np.ndarray
    way_tags: list[dict[str, str]]
    way_offsets: np.ndarray
    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    signal_node_ids: np.ndarray
    features: pd.DataFrame
    missing_node_refs: int = 0

    @property
    def n_ways(self) -> int:
        """Number of road way pieces."""
        return len(self.way_ids)


class _Collector:
    """Accumulates the objects of one pass over a file."""

    def __init__(self) -> None:
        self.way_ids: list[int] = []
        self.way_tags: list[dict[str, str]] = []
        self.way_lengths: list[int] = []
        self.node_ids: list[int] = []
        self.lon: list[float] = []
        self.lat: list[float] = []
        self.missing = 0
        self.signals: list[int] = []
        self.poi_rows: list[tuple] = []
        self.area_rows: list[tuple] = []
        self.area_wkb: list[str] = []
        self.wkb = osmium.geom.WKBFactory()

    def add_node(self, node: osmium.osm.Node) -> None:
        tags = node.tags
        if tags.get("highway") == "traffic_signals":
            self.signals.append(node.id)
        poi_key = next((k for k in POI_KEYS if k in tags), None)
        if poi_key is not None and node.location.valid():
            loc = node.location
            self.poi_rows.append(
                ("node", node.id, poi_key, tags[poi_key], tags[poi_key], np.nan, loc.lon, loc.lat)
            )

    def add_way(self, way: osmium.osm.Way) -> None:
        if "highway" not in way.tags:
            return
        tags = {k: way.tags[k] for k in ROAD_TAGS if k in way.tags}
        piece: list[tuple[int, float, float]] = []
        for ref in way.nodes:
            if ref.location.valid():
                piece.append((ref.ref, ref.lon, ref.lat))
            else:
                self.missing += 1
                self._flush_piece(way.id, tags, piece)
                piece = []
        self._flush_piece(way.id, tags, piece)

    def _flush_piece(self, way_id: int, tags: dict[str, str], piece: list) -> None:
        if len(piece) < 2:
            return
        self.way_ids.append(way_id)
        self.way_tags.append(tags)
        self.way_lengths.append(len(piece))
        for node_id, lon, lat in piece:
            self.node_ids.append(node_id)
            self.lon.append(lon)
            self.lat.append(lat)

    def add_area(self, area: osmium.osm.Area) -> None:
        tags = area.tags
        key = next((k for k in _AREA_KEYS if k in tags), None)
        if key is None:
            return
        try:
            wkb = self.wkb.create_multipolygon(area)
        except RuntimeError:
            return  # an area broken by clipping or bad geometry: it cannot be measured
        poi_key = next((k for k in POI_KEYS if k in tags), None)
        levels = _parse_levels(tags.get("building:levels"))
        osm_type = "way" if area.from_way() else "relation"
        self.area_rows.append(
            (osm_type, area.orig_id(), key, tags[key], tags[poi_key] if poi_key else "", levels)
        )
        self.area_wkb.append(wkb)


def _parse_levels(value: str | None) -> float:
    try:
        levels = float(value) if value else np.nan
    except ValueError:
        return np.nan
    return levels if 0 < levels < 200 else np.nan


_FEATURE_COLUMNS = ["osm_type", "osm_id", "key", "value", "poi", "levels", "area_m2", "lon", "lat"]


def _features_frame(collector: _Collector) -> pd.DataFrame:
    pois = pd.DataFrame(
        collector.poi_rows,
        columns=["osm_type", "osm_id", "key", "value", "poi", "levels", "lon", "lat"],
    )
    pois["area_m2"] = 0.0
    if collector.area_rows:
        areas = pd.DataFrame(
            collector.area_rows, columns=["osm_type", "osm_id", "key", "value", "poi", "levels"]
        )
        shapes = gpd.GeoSeries(shapely.from_wkb(collector.area_wkb), crs="EPSG:4326")
        metric = shapes.to_crs(shapes.estimate_utm_crs())
        centroids = metric.centroid.to_crs("EPSG:4326")
        areas["area_m2"] = metric.area.to_numpy()
        areas["lon"] = centroids.x.to_numpy()
        areas["lat"] = centroids.y.to_numpy()
        frames = [f for f in (areas, pois) if len(f)]
    else:
        frames = [pois]
    features = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return features[_FEATURE_COLUMNS].reset_index(drop=True)


def read_osm(path: str | Path) -> OSMExtract:
    """Read the road ways, signals and city features of an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.

    Returns
    -------
    OSMExtract

    Raises
    ------
    OSMFileError
        The file cannot be parsed (corrupt, truncated, not OSM data), or holds no road ways.
    """
    path = Path(path)
    collector = _Collector()
    keys = ("highway", *_AREA_KEYS, *POI_KEYS)
    try:
        processor = (
            osmium.FileProcessor(osmium.io.File(str(path), _format_of(path)))
            .with_locations()
            .with_areas(KeyFilter(*_AREA_KEYS))
            .with_filter(KeyFilter(*keys))
        )
        for obj in processor:
            if obj.is_node():
                collector.add_node(obj)
            elif obj.is_way():
                collector.add_way(obj)
            elif obj.is_area():
                collector.add_area(obj)
    except (RuntimeError, ValueError, OSError, EOFError) as err:
        raise OSMFileError(
            f"Cannot read {path.name}: the file is corrupt, truncated or not OSM data "
            f"({_first_line(err)}). Download the extract again or check it with `osmium fileinfo`."
        ) from None
    if not collector.way_ids:
        raise OSMFileError(
            f"{path.name} contains no roads (no highway=* ways): give an extract that covers a "
            "street network, not only buildings or points."
        )
    offsets = np.zeros(len(collector.way_lengths) + 1, dtype=np.int64)
    np.cumsum(collector.way_lengths, out=offsets[1:])
    return OSMExtract(
        path=path,
        way_ids=np.asarray(collector.way_ids, dtype=np.int64),
        way_tags=collector.way_tags,
        way_offsets=offsets,
        node_ids=np.asarray(collector.node_ids, dtype=np.int64),
        lon=np.asarray(collector.lon, dtype=np.float64),
        lat=np.asarray(collector.lat, dtype=np.float64),
        signal_node_ids=np.unique(np.asarray(collector.signals, dtype=np.int64)),
        features=_features_frame(collector),
        missing_node_refs=collector.missing,
    )


def _format_of(path: Path) -> str:
    """libosmium's format name from the file ending, whatever its case (``X.OSM.PBF``)."""
    name = path.name.lower()
    for ending, fmt in ((".osm.pbf", "pbf"), (".osm.bz2", "osm.bz2"), (".osm.gz", "osm.gz")):
        if name.endswith(ending):
            return fmt
    return "osm"


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
