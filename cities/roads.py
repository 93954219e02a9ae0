"""Road classes and the defaults that turn OSM tags into link attributes.

OSM tags are sparse: most streets carry no ``maxspeed`` or ``lanes``. Every default used to fill
them in lives in :data:`ROAD_CLASSES`, one row per drivable ``highway=*`` class, so that a reader
can see (and a scenario can replace) the numbers behind every capacity and travel time.

Sources
-------
- Speed limits: urban statutory limits common in the EU (50 km/h in built-up areas, 30 km/h on
  residential streets, walking pace on living streets); the allowed range per class bounds what a
  tagged ``maxspeed`` may say before it is treated as a tagging error and clipped.
- Capacity per lane (veh/h) and default lanes: MATSim's ``OsmNetworkReader`` highway defaults,
  which are the usual starting point for mesoscopic models of OSM networks.
- Storage: one vehicle per 7.5 m of lane (jam density ≈ 133 veh/km/lane), as in MATSim's QSim.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass

__all__ = [
    "JAM_SPACING_M",
    "ROAD_CLASSES",
    "RoadClass",
    "defaults_fingerprint",
    "lanes_per_direction",
    "parse_maxspeed",
]

JAM_SPACING_M = 7.5
"""Road length one stopped vehicle occupies, metres per vehicle per lane."""

MPH_TO_KPH = 1.609344


@dataclass(frozen=True, slots=True)
class RoadClass:
    """Defaults for one OSM ``highway=*`` class.

    Attributes
    ----------
    name
        The OSM ``highway`` value.
    speed_kph
        Speed limit assumed where the way has no usable ``maxspeed``.
    min_speed_kph, max_speed_kph
        Plausible range for a tagged speed limit on this class; tagged values outside it are
        clipped into it.
    lanes
        Lanes per direction assumed where the way has no usable ``lanes`` tag.
    capacity_per_lane_vph
        Outflow capacity of one lane, vehicles per hour.
    """

    name: str
    speed_kph: float
    min_speed_kph: float
    max_speed_kph: float
    lanes: int
    capacity_per_lane_vph: float


SATURATION_FLOW_VPH_PER_LANE = 1900.0
"""What one lane of road carries at its best, between junctions: the Highway Capacity Manual's
base saturation flow (passenger cars per hour of green per lane). A link's own capacity; its
outflow (``capacity_per_lane_vph``) is what its junction lets through, usually less."""

ROAD_CLASSES: dict[str, RoadClass] = {
    rc.name: rc
    for rc in (
        RoadClass("motorway", 110, 60, 140, 2, 2000),
        RoadClass("motorway_link", 60, 20, 120, 1, 1500),
        RoadClass("trunk", 80, 30, 130, 2, 2000),
        RoadClass("trunk_link", 50, 20, 110, 1, 1500),
        RoadClass("primary", 50, 20, 110, 1, 1500),
        RoadClass("primary_link", 40, 15, 90, 1, 1500),
        RoadClass("secondary", 50, 20, 100, 1, 1000),
        RoadClass("secondary_link", 40, 15, 90, 1, 1000),
        RoadClass("tertiary", 40, 10, 100, 1, 600),
        RoadClass("tertiary_link", 30, 10, 90, 1, 600),
        RoadClass("unclassified", 40, 10, 100, 1, 600),
        RoadClass("residential", 30, 5, 70, 1, 600),
        RoadClass("living_street", 10, 5, 30, 1, 300),
        RoadClass("road", 30, 5, 100, 1, 600),
    )
}
"""Drivable road classes, most important first. Ways of any other class are not loaded."""

# Implicit limits written as "<country>:<zone>"; a country-specific entry wins over the generic one.
_ZONE_SPEEDS_KPH = {
    "urban": 50.0,
    "rural": 90.0,
    "motorway": 120.0,
    "trunk": 100.0,
    "living_street": 10.0,
    "walk": 7.0,
    "bicycle_road": 30.0,
    "school": 30.0,
}
_COUNTRY_ZONE_SPEEDS_KPH = {
    ("RU", "urban"): 60.0,
    ("GB", "nsl_single"): 60 * MPH_TO_KPH,
    ("GB", "nsl_dual"): 70 * MPH_TO_KPH,
    ("GB", "nsl_restricted"): 30 * MPH_TO_KPH,
    ("BR", "urban"): 60.0,
    ("DE", "rural"): 100.0,
    ("AT", "rural"): 100.0,
    ("FR", "rural"): 80.0,
}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
_ZONE_NUMBER = re.compile(r"zone:?(\d+)$", re.IGNORECASE)


def parse_maxspeed(value: str | None) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Parameters
    ----------
    value
        The tag value, e.g. ``"50"``, ``"30 mph"``, ``"DE:urban"``, ``"DE:zone30"``, ``"50;30"``.

    Returns
    -------
    float or None
        The limit in km/h, the lowest of several ``;``-separated values, or ``None`` where the
        value states no usable limit (``"none"``, ``"signals"``, ``"variable"``, junk).
    """
    if not value:
        return None
    speeds = [s for s in (_parse_one_speed(part) for part in value.split(";")) if s is not None]
    return min(speeds) if speeds else None


def _parse_one_speed(text: str) -> float | None:
    text = text.strip()
    if text.lower() == "walk":
        return _ZONE_SPEEDS_KPH["walk"]
    match = _NUMBER.match(text)
    if match:
        speed = float(match.group(1))
        if (match.group(2) or "").lower() == "mph":
            speed *= MPH_TO_KPH
        return speed if speed > 0 else None
    if ":" in text:
        country, zone = text.split(":", 1)
        country, zone = country.upper(), zone.lower()
        if (country, zone) in _COUNTRY_ZONE_SPEEDS_KPH:
            return _COUNTRY_ZONE_SPEEDS_KPH[(country, zone)]
        zone_number = _ZONE_NUMBER.match(zone)
        if zone_number:
            return float(zone_number.group(1))
        return _ZONE_SPEEDS_KPH.get(zone)
    return None


def _parse_lane_count(value: str | None) -> int | None:
    if not value:
        return None
    counts = []
    for part in value.split(";"):
        try:
            number = float(part.strip())
        except ValueError:
            continue
        if math.isfinite(number) and number >= 1:
            counts.append(int(number))
    return min(counts) if counts else None


def lanes_per_direction(
    tags: dict[str, str], *, forward: bool, oneway: bool, road_class: RoadClass
) -> int:
    """Lanes available to traffic in one direction of a way.

    ``lanes:forward`` / ``lanes:backward`` win; otherwise a one-way street gets all ``lanes`` and a
    two-way street half of them (at least one); otherwise the class default.
    """
    directional = _parse_lane_count(tags.get("lanes:forward" if forward else "lanes:backward"))
    if directional:
        return directional
    total = _parse_lane_count(tags.get("lanes"))
    if total:
        return total if oneway else max(1, total // 2)
    return road_class.lanes


def defaults_fingerprint() -> str:
    """A short hash of every default in this module, so cached networks rebuild when one changes."""
    payload = json.dumps(
        {
            "classes": [asdict(rc) for rc in ROAD_CLASSES.values()],
            "jam_spacing": JAM_SPACING_M,
            "zones": _ZONE_SPEEDS_KPH,
            "country_zones": sorted(
                (f"{c}:{z}", v) for (c, z), v in _COUNTRY_ZONE_SPEEDS_KPH.items()
            ),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
