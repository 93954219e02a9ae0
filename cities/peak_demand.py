"""A city's default peak-hour demand: car trips per hour from the people who live there.

Planners open a city without an OD survey; the twin then needs a demand that gives a plausible
peak hour rather than an arbitrary number. The rule is the four-step model's trip generation
from residents, with published rates:

``residents × trips per resident a day × car-driver share × peak-hour share``

Residents come from the extract's buildings where it maps them (residential floor area over
the floor area a resident occupies); where it does not (roads-only files), from the area the
road network covers at the density that defines an urban centre. Each figure below names its
source; a modeller with local data passes ``trips`` (or an OD table) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from cities.context import RESIDENTIAL_BUILDINGS, CityContext
from cities.network import RoadNetwork

__all__ = [
    "CAR_DRIVER_SHARE",
    "FLOOR_AREA_PER_RESIDENT_M2",
    "PEAK_HOUR_SHARE",
    "TRIPS_PER_RESIDENT_PER_DAY",
    "URBAN_CENTRE_RESIDENTS_PER_KM2",
    "PeakDemand",
    "peak_hour_demand",
]

TRIPS_PER_RESIDENT_PER_DAY = 3.1
"""Trips a resident makes on an average day, all modes: *Mobilität in Deutschland 2017* (BMVI,
infas), 3.1; national travel surveys elsewhere in Europe report 2.5–3.5."""

CAR_DRIVER_SHARE = 0.43
"""Share of those trips driven as a car's driver (one vehicle trip each): *Mobilität in
Deutschland 2017*, 43 % (city centres lower, car-dependent towns higher)."""

PEAK_HOUR_SHARE = 0.10
"""Share of a day's traffic in its busiest hour: the Highway Capacity Manual's K-factor,
0.09–0.10 on urban roads (HCM 2010, chapter 3)."""

FLOOR_AREA_PER_RESIDENT_M2 = 40.0
"""Residential floor area per resident. Building floor area here is footprint × levels (gross);
European housing statistics give 30–45 m² of dwelling floor per person (Statistics Finland
about 40 m²); an assumption, not a measurement of the city."""

URBAN_CENTRE_RESIDENTS_PER_KM2 = 1500.0
"""Residents per km² where the extract maps no buildings: the lowest density of an urban
centre in the EU's degree of urbanisation (Eurostat DEGURBA, 1,500 inhabitants per km² of
1 km grid cell), so a floor: dense centres (São Paulo's) hold several times more."""


@dataclass(frozen=True)
class PeakDemand:
    """A city's default peak-hour demand and what it came from.

    Attributes
    ----------
    trips_per_hour
        Car trips departing in the peak hour.
    residents
        Estimated residents of the modelled area.
    source
        ``"buildings"`` (residential floor area) or ``"network area"`` (urban-centre density
        over the area the road network covers).
    """

    trips_per_hour: int
    residents: float
    source: str

    def trips(self, window_s: float) -> int:
        """Trips departing within a window of ``window_s`` seconds at the peak-hour rate."""
        return round(self.trips_per_hour * window_s / 3600.0)

    def describe(self) -> str:
        """One line for users: the figure and the rule behind it."""
        return (
            f"{self.trips_per_hour:,} car trips an hour: {self.residents:,.0f} residents (from "
            f"{self.source}) × {TRIPS_PER_RESIDENT_PER_DAY} trips a day × "
            f"{CAR_DRIVER_SHARE:.0%} by car × {PEAK_HOUR_SHARE:.0%} in the peak hour"
        )


def peak_hour_demand(context: CityContext, network: RoadNetwork) -> PeakDemand:
    """The default peak-hour car trips of a city (see the module's text for the rule)."""
    features = context.features
    buildings = features[features["key"] == "building"]
    homes = buildings["value"].isin(RESIDENTIAL_BUILDINGS) | (
        (buildings["value"] == "yes") & (buildings["poi"] == "")
    )
    # the same homes the context weighs trip origins by
    floor_m2 = float((buildings["area_m2"] * buildings["levels"].fillna(1.0))[homes].sum())
    if context.home_source == "buildings" and floor_m2 > 0:
        residents, source = floor_m2 / FLOOR_AREA_PER_RESIDENT_M2, "buildings"
    else:
        hull = shapely.MultiPoint(np.column_stack([network.node_x, network.node_y])).convex_hull
        residents = hull.area / 1e6 * URBAN_CENTRE_RESIDENTS_PER_KM2
        source = "network area"
    per_hour = residents * TRIPS_PER_RESIDENT_PER_DAY * CAR_DRIVER_SHARE * PEAK_HOUR_SHARE
    return PeakDemand(trips_per_hour=round(per_hour), residents=residents, source=source)
