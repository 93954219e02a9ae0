"""What waste collection costs: the one place where the twin's money, fuel and CO2 factors live.

Every figure a waste run reports in euros or CO2, and the ``euros`` and ``hours`` planning
objectives, use a :class:`CostFactors`; :data:`DEFAULT_COSTS` holds the defaults below, and a
scenario may set its own (``waste.costs`` in a scenario file), since a city knows what it pays.
This module imports nothing of the twin, so that parameter specs and the CLI can read the
defaults without loading the model.

Defaults, and where they come from (assumptions of the order of Western European collection;
replace them with a city's own contract figures):

``truck_hour_eur`` = 95 €
    One truck-hour with its crew of two: two loaders at ≈ 32 € an hour each (Eurostat's mean
    hourly labour cost in the EU, 2023: 31.8 €, wages plus employer's charges) ≈ 64 €, plus the
    truck's time-dependent cost — a rear loader of ≈ 250,000 € written off over 8 years of about
    2,000 working hours (≈ 16 €/h), insurance, tax and garaging (≈ 5 €/h) — plus overhead
    (dispatch, supervision, ≈ 10 €/h).
``truck_km_eur`` = 1.20 €
    Distance-dependent cost: diesel at :attr:`~CostFactors.diesel_l_per_km` × ≈ 1.60 €/L
    (EU pump price of diesel in 2024, taxes included, ≈ 0.96 €/km) plus tyres, brakes and
    maintenance (≈ 0.25 €/km).
``diesel_l_per_km`` = 0.60 L
    A diesel refuse truck over a collection round, stops, idling and lifting included: within
    the 0.4–1.0 L/km reported for rear loaders in urban stop-and-go duty (highway driving alone
    is about 0.35 L/km).
``co2_kg_per_diesel_l`` = 2.68 kg
    CO2 from burning one litre of diesel (IPCC 2006 default emission factor, tank to exhaust).
``overflow_eur`` = 100 €
    What one bin overflowing before it is emptied costs the city: a street-cleaning call-out and
    a complaint handled. An assumption, not a market figure (contracts that fine the collector
    per overflowing container are the place to look for a city's own); it is also the price at
    which the ``euros`` plans kept the ``km`` plans' overflows on the tuning days (Andorra, seed
    11: as many; Aguascalientes: one more in 28 days; BENCHMARKS-HISTORY.md, session 22), where
    none cost 2–4 times as many. It steers the plans only: a run's
    euros are what collection costs, its overflows are reported as overflowing bin-days and the
    service level. 0 plans for the collection cost alone.

A truck-hour costs as much as ≈ 80 truck-km: time, not distance, is most of what collection
costs, which is why the ``euros`` objective plans differently from ``km``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["DEFAULT_COSTS", "OBJECTIVES", "CostFactors"]

OBJECTIVES = ("km", "hours", "euros")
"""What a planner minimises: truck-km, truck-hours, or euros (truck-hours and truck-km at their
:class:`CostFactors`)."""


@dataclass(frozen=True)
class CostFactors:
    """Money, fuel and CO2 factors of a city's collection (see the module docstring).

    Attributes
    ----------
    truck_hour_eur
        Cost of one truck-hour with its crew, euros.
    truck_km_eur
        Distance-dependent cost of one truck-km (fuel, tyres, maintenance), euros.
    diesel_l_per_km
        Diesel burned per truck-km over a collection round, litres.
    co2_kg_per_diesel_l
        CO2 per litre of diesel burned, kg.
    overflow_eur
        What one bin overflowing before it is emptied costs the city, euros (the ``euros`` and
        ``hours`` objectives weigh it against collection costs).
    """

    truck_hour_eur: float = 95.0
    truck_km_eur: float = 1.20
    diesel_l_per_km: float = 0.60
    co2_kg_per_diesel_l: float = 2.68
    overflow_eur: float = 100.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"cost factor {name} must be a finite number ≥ 0, got {value!r}")

    def euros(self, *, truck_km: float, truck_hours: float) -> float:
        """What driving ``truck_km`` in ``truck_hours`` costs."""
        return truck_km * self.truck_km_eur + truck_hours * self.truck_hour_eur

    def co2_kg(self, truck_km: float) -> float:
        """CO2 emitted over ``truck_km`` of collection."""
        return truck_km * self.diesel_l_per_km * self.co2_kg_per_diesel_l

    def as_dict(self) -> dict[str, float]:
        """The factors by name (what a run's KPIs report next to its euros and CO2)."""
        return asdict(self)


DEFAULT_COSTS = CostFactors()
"""The twin's default factors (documented above)."""
