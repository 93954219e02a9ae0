"""Run results as NGSI-LD entities of the FIWARE Smart Data Models, for the EU Local Digital Twin
toolbox and any NGSI-LD context broker.

Bins become ``WasteContainer`` entities (``dataModel.WasteManagement``) and road segments
``TrafficFlowObserved`` entities (``dataModel.Transportation``), in the NGSI-LD *key-values*
form (``options=keyValues``: every attribute a plain JSON value, ``location`` a GeoJSON
geometry), which is the payload the Smart Data Models JSON Schemas describe. Each entity carries
an ``@context``: the subject's Smart Data Models context, then the NGSI-LD core context. Only
attributes the schemas define are written, and an attribute whose value is unknown (not a finite
number) is left out rather than filled with a placeholder. ``tests/twin/test_ngsi.py`` validates
the export against the schemas shipped in ``tests/data/ngsi/`` (see its README for versions).

Identifiers are URNs, ``urn:ngsi-ld:<type>:<city>:<local id>``, with the city name reduced to
``[A-Za-z0-9_.-]``. Times are ISO 8601 in UTC. Positions are transformed from the network's
metric CRS to WGS84 longitude/latitude (GeoJSON order) with pyproj, unrounded.

WasteContainer (one entity per row of ``WasteRun.result.bins``)
----------------------------------------------------------------

=============================  =======================  ============================================
bins column(s)                 attribute                unit, how derived
=============================  =======================  ============================================
row label, ``osm_id``          ``id``                   ``…:osm-node-<osm_id>`` for a mapped OSM
                                                        container, ``…:point-<row label>`` for a
                                                        placed collection point
``x``, ``y`` (m, network CRS)  ``location``             GeoJSON Point, WGS84 lon/lat
``fill_kg / capacity_kg``      ``fillingLevel``         fraction 0–1 (a bin never holds more than
                                                        its capacity: spilled waste is counted in
                                                        ``overflow_kg`` instead)
``fill_kg``                    ``cargoWeight``          kg of waste in the bin
``capacity_kg``                ``binMaxLoad``           kg the bin holds when full
``kind``                       ``category``             ``placed`` (EN 840 wheeled container) →
                                                        ``portable``; ``waste_disposal`` (mostly
                                                        semi-underground) → ``underground``;
                                                        ``recycling`` (igloo bank) → ``ground``;
                                                        ``waste_basket`` (on a post) → ``fixed``
``land_use``, ``kind``         ``storedWasteOrigin``    ``residential`` → ``household``;
                                                        ``mixed``, ``commercial`` and litter
                                                        baskets → ``municipal`` (household waste
                                                        plus similar waste from shops and offices,
                                                        as Eurostat defines municipal waste)
—                              ``storedWasteKind``      not written: the bins hold mixed or
                                                        unspecified waste, which the enumeration
                                                        has no value for
``kind``, row label            ``name``                 e.g. ``Collection point 12``
``containers``,                ``description``          one sentence: size, mean daily input,
``capacity_kg``,                                        emptyings and overflow during the run
``daily_kg``, ``land_use``,
``times_emptied``,
``overflow_days``,
``overflow_kg``
``osm_id``                     ``seeAlso``              the OSM node's URL (mapped bins only)
``observed_at`` argument       ``timeInstant``          when the fill levels hold
—                              ``dataProvider``         ``"CitiVerse Twin"``
=============================  =======================  ============================================

TrafficFlowObserved (one entity per row of ``TrafficRun.edges()``)
-------------------------------------------------------------------

One entity covers every lane of one directed edge, so ``laneId`` and ``laneDirection`` (one lane,
relative to the drawing direction of the OSM way) are not written. ``edge_series`` is the run's
per-interval table (``TrafficRun.result.edge_series``); where it is not given, the whole-run
columns of :func:`twin.results_io.edge_summary` are used as noted.

=============================  =======================  ============================================
edges column(s)                attribute                unit, how derived
=============================  =======================  ============================================
``u``, ``v``, ``key``          ``id``                   ``…:<u>-<v>-<key>`` (OSM node ids)
``geometry`` (network CRS)     ``location``             GeoJSON LineString, WGS84 lon/lat
arguments                      ``dateObservedFrom``,    the simulated period; ``dateObserved`` is
                               ``dateObservedTo``,      the ISO 8601 interval ``<from>/<to>``
                               ``dateObserved``
``edge_series.flow_vph``       ``intensity``            vehicles that left the edge in the period:
                                                        Σ flow × interval / 3600, an integer;
                                                        without ``edge_series``,
                                                        ``mean_flow_vph`` × period in hours
``edge_series.flow_vph``,      ``averageVehicleSpeed``  km/h: space-mean speed of the vehicles
``edge_series.speed_kph``                               that left the edge (their distance over
                                                        their time on it); without
                                                        ``edge_series``, ``mean_speed_kph``; not
                                                        written when no vehicle left the edge
``edge_series.density_vpkm``,  ``occupancy``            fraction 0–1: mean density over the
``storage_veh``, ``length_m``                           recording intervals over the jam density
                                                        ``storage_veh / length_km`` (7.5 m per
                                                        vehicle and lane): the share of the road
                                                        space vehicles take, which is the time
                                                        occupancy a detector of the jam spacing's
                                                        effective length would measure; written
                                                        only with ``edge_series``
``peak_density_vpkm``,         ``congested``            true when some recording interval's
``capacity_vph``,                                       density exceeded the critical density
``speed_kph``                                           ``capacity_vph / speed_kph`` of the edge's
                                                        fundamental diagram (as the KPI
                                                        ``congested_edge_hours_share`` counts)
``name``                       ``name``                 street name (not written when unnamed)
``osmid``                      ``refRoadSegment``       ``urn:ngsi-ld:RoadSegment:<city>:osm-way-``
                                                        ``<osmid>``: the OSM way as the road
                                                        segment (no RoadSegment entities are
                                                        exported)
``osmid``                      ``seeAlso``              the OSM way's URL
—                              ``dataProvider``         ``"CitiVerse Twin"``
=============================  =======================  ============================================
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from twin.specs import short_repr

__all__ = [
    "DATA_PROVIDER",
    "NGSI_LD_CORE_CONTEXT",
    "REFERENCE_START",
    "TRANSPORTATION_CONTEXT",
    "WASTE_MANAGEMENT_CONTEXT",
    "traffic_flow_observed",
    "waste_containers",
    "write_ngsi_ld",
]

NGSI_LD_CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
"""The ETSI NGSI-LD core @context (last in every entity's ``@context``)."""

WASTE_MANAGEMENT_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/"
    "context.jsonld"
)
"""The Smart Data Models @context of the waste management subject (``WasteContainer``)."""

TRANSPORTATION_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/"
    "context.jsonld"
)
"""The Smart Data Models @context of the transportation subject (``TrafficFlowObserved``)."""

DATA_PROVIDER = "CitiVerse Twin"
"""Default ``dataProvider`` of every exported entity."""

REFERENCE_START = datetime(2026, 1, 5, tzinfo=UTC)
"""Calendar time of the simulations' clock zero where a run has no date of its own: Monday
5 January 2026, 00:00 UTC (waste day 0 is a Monday, as in the weekday factors of the bins)."""

_CATEGORY = {
    "placed": "portable",
    "waste_disposal": "underground",
    "recycling": "ground",
    "waste_basket": "fixed",
}
_KIND_NAME = {
    "placed": "Collection point",
    "waste_disposal": "Waste container",
    "recycling": "Recycling container",
    "waste_basket": "Litter basket",
}
_BIN_COLUMNS = (
    "x", "y", "capacity_kg", "daily_kg", "kind", "osm_id", "land_use", "containers", "fill_kg",
    "times_emptied", "overflow_days", "overflow_kg",
)  # fmt: skip
_EDGE_COLUMNS = (
    "u", "v", "key", "geometry", "mean_flow_vph", "mean_speed_kph", "peak_density_vpkm",
    "length_m", "speed_kph", "capacity_vph", "storage_veh",
)  # fmt: skip
_SERIES_COLUMNS = ("interval_start_s", "edge", "flow_vph", "density_vpkm", "speed_kph")


def waste_containers(
    bins: pd.DataFrame,
    *,
    crs: str,
    city: str,
    observed_at: datetime | str,
    context: Sequence[str] = (WASTE_MANAGEMENT_CONTEXT, NGSI_LD_CORE_CONTEXT),
    data_provider: str = DATA_PROVIDER,
) -> list[dict[str, Any]]:
    """Bins and their fill levels as NGSI-LD ``WasteContainer`` entities (key-values form).

    Parameters
    ----------
    bins
        One row per bin, as ``WasteRun.result.bins``: ``x, y`` (metres in ``crs``),
        ``capacity_kg, daily_kg, kind, osm_id, land_use, containers, fill_kg, times_emptied,
        overflow_days, overflow_kg``. Placed bins are named by their row label.
    crs
        CRS of ``x, y`` (the network's, e.g. ``"EPSG:32635"``).
    city
        City name, part of every id.
    observed_at
        When the fill levels hold (``timeInstant``): a datetime (naive means UTC) or an ISO 8601
        string.
    context
        The entities' ``@context``.
    data_provider
        The entities' ``dataProvider``.

    Returns
    -------
    list of dict
        One JSON-ready entity per bin, in the order of ``bins``; the module docstring maps the
        columns to the attributes.

    Raises
    ------
    ValueError
        A column is missing, a bin has no positive capacity, or two bins would share an id.
    """
    _require(bins, _BIN_COLUMNS, "bins")
    capacity = bins["capacity_kg"].to_numpy(dtype=np.float64)
    if not np.all(capacity > 0):
        raise ValueError("every bin needs a positive capacity_kg")
    fill = bins["fill_kg"].to_numpy(dtype=np.float64)
    level = np.clip(fill / capacity, 0.0, 1.0)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        bins["x"].to_numpy(dtype=np.float64), bins["y"].to_numpy(dtype=np.float64)
    )
    prefix = f"urn:ngsi-ld:WasteContainer:{_slug(city)}:"
    when = _iso(observed_at)
    entities = []
    for i, (label, row) in enumerate(bins.iterrows()):
        kind, osm_id = str(row["kind"]), int(row["osm_id"])
        mapped = osm_id >= 0
        local = f"osm-node-{osm_id}" if mapped else f"point-{label}"
        name = f"{_KIND_NAME.get(kind, 'Waste container')} " + (
            f"(OSM node {osm_id})" if mapped else str(label)
        )
        origin = (
            "household" if row["land_use"] == "residential" and kind != "waste_basket"
            else "municipal"
        )  # fmt: skip
        entity: dict[str, Any] = {
            "id": prefix + local,
            "type": "WasteContainer",
            "name": name,
            "description": _bin_description(row),
            "location": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
            "fillingLevel": float(level[i]),
            "cargoWeight": float(max(fill[i], 0.0)),
            "binMaxLoad": float(capacity[i]),
            "category": [_CATEGORY.get(kind, "other")],
            "storedWasteOrigin": origin,
            "timeInstant": when,
            "dataProvider": data_provider,
        }
        if mapped:
            entity["seeAlso"] = f"https://www.openstreetmap.org/node/{osm_id}"
        entity["@context"] = list(context)
        entities.append(_finite(entity))
    _check_unique(entities)
    return entities


def traffic_flow_observed(
    edges: gpd.GeoDataFrame | pd.DataFrame,
    *,
    city: str,
    date_observed_from: datetime | str,
    date_observed_to: datetime | str,
    crs: str | None = None,
    edge_series: pd.DataFrame | None = None,
    interval_s: float | None = None,
    context: Sequence[str] = (TRANSPORTATION_CONTEXT, NGSI_LD_CORE_CONTEXT),
    data_provider: str = DATA_PROVIDER,
) -> list[dict[str, Any]]:
    """Road segments with their traffic KPIs as NGSI-LD ``TrafficFlowObserved`` entities
    (key-values form).

    Parameters
    ----------
    edges
        One row per directed edge, as ``TrafficRun.edges()``: ``u, v, key`` (OSM node ids),
        ``geometry``, ``length_m, speed_kph, capacity_vph, storage_veh``, optional ``name`` and
        ``osmid``, and the :func:`twin.results_io.edge_summary` columns ``mean_flow_vph,
        mean_speed_kph, peak_density_vpkm``. Row labels are the edge numbers of ``edge_series``.
    city
        City name, part of every id.
    date_observed_from, date_observed_to
        The simulated period (datetimes, naive meaning UTC, or ISO 8601 strings).
    crs
        CRS of the geometries; taken from ``edges`` when it is a GeoDataFrame with one.
    edge_series
        The run's per-interval table (``interval_start_s, edge, flow_vph, density_vpkm,
        speed_kph``). With it, ``intensity`` is an exact count, ``averageVehicleSpeed`` the
        space-mean speed of the vehicles, and ``occupancy`` is written.
    interval_s
        Width of ``edge_series``'s recording intervals (the last one may be cut short by the
        end of the run); inferred from the interval starts when not given.
    context
        The entities' ``@context``.
    data_provider
        The entities' ``dataProvider``.

    Returns
    -------
    list of dict
        One JSON-ready entity per edge, in the order of ``edges``; the module docstring maps the
        columns to the attributes.

    Raises
    ------
    ValueError
        A column is missing, there is no CRS, the period is empty, or two edges would share an
        id.
    """
    _require(edges, _EDGE_COLUMNS, "edges")
    if crs is None:
        crs = getattr(edges, "crs", None)
        if crs is None:
            raise ValueError("the edges have no CRS: pass crs=")
    start, end = _as_utc(date_observed_from), _as_utc(date_observed_to)
    period_h = (end - start).total_seconds() / 3600.0
    if not period_h > 0:
        raise ValueError(f"the observed period {start} – {end} is empty")
    when_from, when_to = _iso(start), _iso(end)

    flow = edges["mean_flow_vph"].to_numpy(dtype=np.float64)
    vehicles = flow * period_h
    speed = np.where(flow > 0, edges["mean_speed_kph"].to_numpy(dtype=np.float64), np.nan)
    occupancy = np.full(len(edges), np.nan)
    if edge_series is not None:
        vehicles, speed, density = _series_measures(
            edge_series, edges.index, interval_s=interval_s, period_h=period_h
        )
        length_km = edges["length_m"].to_numpy(dtype=np.float64) / 1000.0
        jam_vpkm = edges["storage_veh"].to_numpy(dtype=np.float64) / length_km
        occupancy = np.clip(density / jam_vpkm, 0.0, 1.0)
    capacity_vph = edges["capacity_vph"].to_numpy(dtype=np.float64)
    critical_vpkm = capacity_vph / edges["speed_kph"].to_numpy(dtype=np.float64)
    peak = edges["peak_density_vpkm"].to_numpy(dtype=np.float64)

    lines = gpd.GeoSeries(np.asarray(edges["geometry"]), crs=crs).to_crs("EPSG:4326")
    slug = _slug(city)
    names = edges["name"] if "name" in edges else pd.Series("", index=edges.index)
    ways = edges["osmid"] if "osmid" in edges else pd.Series(-1, index=edges.index)
    entities = []
    for i, (u, v, key) in enumerate(zip(edges["u"], edges["v"], edges["key"], strict=True)):
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:{slug}:{int(u)}-{int(v)}-{int(key)}",
            "type": "TrafficFlowObserved",
            "location": _line(lines.iloc[i]),
            "dateObserved": f"{when_from}/{when_to}",
            "dateObservedFrom": when_from,
            "dateObservedTo": when_to,
            "intensity": vehicles[i],
            "averageVehicleSpeed": speed[i],
            "occupancy": occupancy[i],
            "dataProvider": data_provider,
        }
        if not math.isnan(peak[i]):
            entity["congested"] = bool(peak[i] > critical_vpkm[i])
        name = names.iloc[i]
        if isinstance(name, str) and name:
            entity["name"] = name
        way = ways.iloc[i]
        if isinstance(way, int | np.integer) and way >= 0:
            entity["refRoadSegment"] = f"urn:ngsi-ld:RoadSegment:{slug}:osm-way-{int(way)}"
            entity["seeAlso"] = f"https://www.openstreetmap.org/way/{int(way)}"
        entity["@context"] = list(context)
        entity = _finite(entity)
        if edge_series is not None and "intensity" in entity:
            entity["intensity"] = int(entity["intensity"])  # a count of vehicles
        entities.append(entity)
    _check_unique(entities)
    return entities


def write_ngsi_ld(entities: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write entities as one JSON array (UTF-8), the body of an NGSI-LD batch upsert
    (``POST /ngsi-ld/v1/entityOperations/upsert?options=keyValues`` with ``Content-Type:
    application/ld+json``).

    Parameters
    ----------
    entities
        Entities from :func:`waste_containers` and/or :func:`traffic_flow_observed`.
    path
        The file to write (replaced if it exists).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        An entity holds a value JSON cannot represent (NaN, infinity).
    """
    path = Path(path)
    text = json.dumps(list(entities), indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ helpers
def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}")


def _slug(city: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", str(city)).strip("-")
    if not slug:
        raise ValueError(f"city name {short_repr(city)} has no character usable in an NGSI-LD id")
    return slug


def _as_utc(value: datetime | str) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(when, datetime):
        raise ValueError(f"expected a datetime or an ISO 8601 string, got {short_repr(value)}")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso(value: datetime | str) -> str:
    return _as_utc(value).isoformat().replace("+00:00", "Z")


def _finite(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity without attributes whose value is not a finite number; numbers as Python
    floats (JSON has no NaN, and NumPy scalars are not JSON)."""
    out = {}
    for name, value in entity.items():
        if isinstance(value, float | np.floating):
            if not math.isfinite(value):
                continue
            value = float(value)
        out[name] = value
    return out


def _check_unique(entities: list[dict[str, Any]]) -> None:
    twice = [i for i, n in Counter(e["id"] for e in entities).items() if n > 1]
    if twice:
        raise ValueError(f"two entities would share the id {twice[0]}")


def _line(geometry: shapely.Geometry) -> dict[str, Any]:
    """A (multi)line as a GeoJSON geometry of plain lists (x, y only)."""
    if geometry.geom_type == "MultiLineString":
        parts = [shapely.get_coordinates(part).tolist() for part in geometry.geoms]
        return {"type": "MultiLineString", "coordinates": parts}
    if geometry.geom_type != "LineString":
        raise ValueError(f"edge geometries must be lines, got a {geometry.geom_type}")
    return {"type": "LineString", "coordinates": shapely.get_coordinates(geometry).tolist()}


def _bin_description(row: pd.Series) -> str:
    containers = int(row["containers"])
    plural = "s" if containers != 1 else ""
    emptied = int(row["times_emptied"])
    return (
        f"{containers} container{plural} holding {row['capacity_kg']:.0f} kg when full, "
        f"{row['daily_kg']:.1f} kg/day put in on average ({row['land_use']} area); emptied "
        f"{emptied} time{'s' if emptied != 1 else ''} and overflowing on "
        f"{int(row['overflow_days'])} day(s) ({row['overflow_kg']:.1f} kg) during the "
        "simulated period."
    )


def _series_measures(
    series: pd.DataFrame, edges: pd.Index, *, interval_s: float | None, period_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per edge (in the order of ``edges``): vehicles that left it, their space-mean speed
    (NaN where none left) and the mean density over the recording intervals."""
    _require(series, _SERIES_COLUMNS, "edge_series")
    if interval_s is None:
        starts = np.unique(series["interval_start_s"].to_numpy(dtype=np.float64))
        interval_s = float(starts[1] - starts[0]) if len(starts) > 1 else period_h * 3600.0
    # rows carry their own width where the run's last interval was cut short
    widths = (
        series["interval_s"].to_numpy(dtype=np.float64) if "interval_s" in series else interval_s
    )
    exits = series["flow_vph"].to_numpy(dtype=np.float64) * widths / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # time on the edge over its length, of the vehicles that left it (speed > 0 there)
        pace = np.where(exits > 0, exits / series["speed_kph"].to_numpy(dtype=np.float64), 0.0)
    frame = pd.DataFrame(
        {"edge": series["edge"].to_numpy(), "exits": exits, "pace": pace,
         "density": series["density_vpkm"].to_numpy(dtype=np.float64)}
    )  # fmt: skip
    grouped = frame.groupby("edge")
    total = grouped["exits"].sum().reindex(edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(total > 0, total / grouped["pace"].sum().reindex(edges), np.nan)
    vehicles = np.rint(total.to_numpy(dtype=np.float64))
    density = grouped["density"].mean().reindex(edges).to_numpy(dtype=np.float64)
    return vehicles, np.asarray(speed, dtype=np.float64), density
