"""Key performance indicators shared by the twins, computed from plain tables.

Traffic KPIs follow the definitions planners use (FHWA / TTI urban mobility measures):

- travel time index: total travel time over total free-flow time of the same trips;
- planning time index: 95th percentile of each trip's travel time over its free-flow time;
- delay: travel time minus free-flow time, summed in vehicle-hours;
- mean network speed: vehicle-km over the vehicle-hours spent on links (the time a trip waits
  to enter a full first street is not on a link: the travel-time KPIs count it, this not);
- congested edge-hours: share of edge-hours whose mean density exceeds the critical density
  of the link's outflow (its junction's capacity / free-flow speed; the road between junctions
  carries more, :class:`agents.traffic.engine.LinkParams`): above it, vehicles arrive faster
  than the junction lets them go, and queue (vehicles ending their trip on the link aside);
- queues, counted at the end of each recording interval: a link's queue is its vehicles that
  have reached its end and wait to leave it. ``longest_link_queue_veh`` is the most vehicles in
  one link's queue at any interval end (where a planner looks for a tailback);
  ``network_queue_veh`` the vehicles queued on all links together, averaged over the interval
  ends (how much of the traffic stands still).

Trips that have not arrived when the run ends are counted (``trips_unfinished``,
``trips_unfinished_share``), never averaged away: travel-time KPIs cover the finished trips
only, so a run that leaves trips on the road understates delay. ``gridlock`` marks a run whose
unfinished trips exceed :data:`UNFINISHED_WARNING_SHARE` of the trips while the network's last
interval saw fewer link exits than :data:`GRIDLOCK_LINKS_PER_VEHICLE` per unfinished trip:
traffic stopped, not a run too short for its demand. :func:`traffic_warnings` words both cases.

CO2 uses two documented factors (state them in reports):

- :data:`CO2_KG_PER_VKM` = 0.150 kg per vehicle-km for a passenger car driving at free-flow
  speed: the EU fleet's real-world figure (type-approval values near 0.11–0.12 kg/km plus the
  ~20–40 % real-world gap reported by the ICCT and the EEA's OBFCM data);
- :data:`CO2_KG_PER_DELAY_HOUR` = 1.85 kg per vehicle-hour of delay: idling/creeping fuel use of
  about 0.8 L/h (US DOE, Argonne idling studies) times 2.31 kg CO2 per litre of petrol (UK
  government GHG conversion factors).

So congestion adds emissions through delay, as average-speed models such as COPERT do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from agents.waste.costs import DEFAULT_COSTS, CostFactors

__all__ = [
    "CO2_KG_PER_DELAY_HOUR",
    "CO2_KG_PER_DIESEL_L",
    "CO2_KG_PER_VKM",
    "DIESEL_L_PER_KM",
    "GRIDLOCK_LINKS_PER_VEHICLE",
    "KPI_NOTES",
    "TRUCK_HOUR_EUR",
    "TRUCK_KM_EUR",
    "UNFINISHED_WARNING_SHARE",
    "edge_time_series",
    "traffic_kpis",
    "traffic_warnings",
    "waste_kpis",
]

CO2_KG_PER_VKM = 0.150
CO2_KG_PER_DELAY_HOUR = 1.85

UNFINISHED_WARNING_SHARE = 0.01
"""Unfinished trips above this share of all trips make a run's KPIs carry a warning."""

GRIDLOCK_LINKS_PER_VEHICLE = 0.5
"""Vehicles on the road at the end that left fewer links than this each, all together, over
the run's last :data:`GRIDLOCK_WINDOW_S`: traffic has stopped (gridlock). Moving traffic leaves
several links a vehicle a minute."""

GRIDLOCK_WINDOW_S = 60.0
"""The shortest end of a run that the gridlock test reads (its last recording intervals that
together span at least this): a shorter one, such as a run of seconds, cannot tell stopped
traffic from traffic that has not yet reached the end of its first link."""


def edge_time_series(
    *,
    exits: np.ndarray,
    time_on_link_s: np.ndarray,
    occupancy: np.ndarray,
    queued: np.ndarray,
    length_m: np.ndarray,
    free_speed_kph: np.ndarray,
    interval_s: float | np.ndarray,
) -> pd.DataFrame:
    """Per interval and edge: flow (veh/h), density (veh/km), space-mean speed (km/h), queue.

    Inputs are ``intervals × edges`` arrays; ``interval_s`` is the intervals' width, or each
    interval's own width (a run's last interval may be shorter). Rows carry their width as
    ``interval_s``, so flow × width gives back the vehicles counted. Speed is the length over
    the mean time on the link of the vehicles that left it. An interval with no vehicle leaving
    has the free-flow speed if no vehicle on the link was held up (it was empty, or every
    vehicle on it was still within its free-flow time at the interval's end, ``queued`` zero:
    a long link just entered, not a jam), else zero.
    """
    n_intervals, n_edges = exits.shape
    width = np.broadcast_to(np.asarray(interval_s, dtype=np.float64), (n_intervals,))
    start = np.concatenate([[0.0], np.cumsum(width)[:-1]])
    length = np.broadcast_to(length_m, exits.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(exits > 0, 3.6 * length * exits / time_on_link_s, np.nan)
    # no vehicle left in the interval, so one held up during it is still queued at its end
    flowing = (occupancy < 1e-9) | (np.asarray(queued) == 0)
    speed = np.where(np.isnan(speed) & flowing, np.broadcast_to(free_speed_kph, exits.shape), speed)
    speed = np.where(np.isnan(speed), 0.0, speed)
    return pd.DataFrame(
        {
            "interval_start_s": np.repeat(start, n_edges),
            "interval_s": np.repeat(width, n_edges),
            "edge": np.tile(np.arange(n_edges), n_intervals),
            "flow_vph": (exits * 3600.0 / width[:, None]).ravel(),
            "density_vpkm": (occupancy / (length / 1000.0)).ravel(),
            "speed_kph": speed.ravel(),
            "queue_veh": queued.ravel(),
        }
    )


def traffic_kpis(
    trips: pd.DataFrame,
    series: pd.DataFrame,
    *,
    length_m: np.ndarray,
    capacity_vph: np.ndarray,
    free_speed_kph: np.ndarray,
    interval_s: float,
) -> dict[str, Any]:
    """Network KPIs from a trip table and the per-edge time series.

    ``trips`` needs ``depart_s, arrive_s, free_flow_s`` (``arrive_s`` NaN for unfinished trips);
    ``series`` is :func:`edge_time_series` output.
    """
    done = trips["arrive_s"].notna().to_numpy()
    travel = (trips["arrive_s"] - trips["depart_s"]).to_numpy()[done]
    free = trips["free_flow_s"].to_numpy()[done]
    edge = series["edge"].to_numpy()
    widths = series["interval_s"].to_numpy() if "interval_s" in series else interval_s
    exits = series["flow_vph"].to_numpy() * widths / 3600.0
    vkm = float((exits * length_m[edge]).sum() / 1000.0)
    # vehicle-hours on links: exits × length / speed, the time the leaving vehicles spent
    with np.errstate(divide="ignore", invalid="ignore"):
        hours = np.where(
            exits > 0, exits * length_m[edge] / 1000.0 / series["speed_kph"].to_numpy(), 0.0
        )
    vehicle_hours = float(np.nansum(hours))
    critical_vpkm = capacity_vph / free_speed_kph
    congested = series["density_vpkm"].to_numpy() > critical_vpkm[edge]
    delay_h = float(np.maximum(travel - free, 0).sum() / 3600.0)
    has_trips = done.any()
    unfinished_share = float((~done).mean()) if len(done) else 0.0
    stalled = _stalled(trips, series, exits, widths, done)
    return {
        "trips": len(trips),
        "trips_completed": int(done.sum()),
        "trips_unfinished": int((~done).sum()),
        "trips_unfinished_share": unfinished_share,
        "gridlock": bool(unfinished_share > UNFINISHED_WARNING_SHARE and stalled),
        "mean_travel_time_s": float(travel.mean()) if has_trips else None,
        "p95_travel_time_s": float(np.percentile(travel, 95)) if has_trips else None,
        "travel_time_index": float(travel.sum() / free.sum()) if has_trips else None,
        "planning_time_index": float(np.percentile(travel / np.maximum(free, 1e-9), 95))
        if has_trips
        else None,
        "total_travel_time_veh_h": float(travel.sum() / 3600.0),
        "total_delay_veh_h": delay_h,
        "vehicle_km": vkm,
        "mean_network_speed_kph": vkm / vehicle_hours if vehicle_hours > 0 else None,
        "congested_edge_hours_share": float(congested.mean()) if len(congested) else 0.0,
        "longest_link_queue_veh": int(series["queue_veh"].max()) if len(series) else 0,
        "network_queue_veh": float(series.groupby("interval_start_s")["queue_veh"].sum().mean())
        if len(series)
        else 0.0,
        "co2_kg": vkm * CO2_KG_PER_VKM + delay_h * CO2_KG_PER_DELAY_HOUR,
        "co2_factors": {"kg_per_vkm": CO2_KG_PER_VKM, "kg_per_delay_hour": CO2_KG_PER_DELAY_HOUR},
    }


def _stalled(
    trips: pd.DataFrame,
    series: pd.DataFrame,
    exits: np.ndarray,
    widths: float | np.ndarray,
    done: np.ndarray,
) -> bool:
    """Whether the vehicles on the road at the end left almost no links over the run's last
    :data:`GRIDLOCK_WINDOW_S` (moving traffic leaves several a vehicle a minute). Trips that
    had not yet departed are not on the road, and a run shorter than the window cannot tell."""
    if not len(series):
        return False
    starts = series["interval_start_s"].to_numpy()
    ends = starts + np.broadcast_to(widths, starts.shape)
    end = float(ends.max())
    on_road = int((~done & (trips["depart_s"].to_numpy() < end)).sum())
    if on_road == 0:
        return False
    exits_by_start = pd.Series(exits).groupby(starts).sum()
    # the last intervals that together span the window (a run's last one may be a short rest)
    opened = exits_by_start.index[exits_by_start.index <= end - GRIDLOCK_WINDOW_S]
    if not len(opened):
        return False
    return bool(exits_by_start.loc[opened[-1] :].sum() < GRIDLOCK_LINKS_PER_VEHICLE * on_road)


def traffic_warnings(kpis: dict[str, Any]) -> list[str]:
    """What a reader of a traffic run's KPIs must not miss, in words (empty when nothing)."""
    said = []
    skipped = int(kpis.get("trips_skipped_unroutable") or 0)
    if skipped:
        # a closure that cuts trips off takes them out of the KPIs: a comparison with a run
        # of the whole demand would compare other trips
        asked = skipped + int(kpis.get("trips", 0))
        said.append(
            f"{skipped:,} of {asked:,} trips have no route (closed roads cut them off) and were "
            "left out of the run and its KPIs; reopen roads to keep them, or compare with a "
            "run of the same trips."
        )
    return _unfinished_warnings(kpis) + said


def _unfinished_warnings(kpis: dict[str, Any]) -> list[str]:
    unfinished, trips = kpis.get("trips_unfinished", 0), kpis.get("trips", 0)
    if not trips or unfinished <= UNFINISHED_WARNING_SHARE * trips:
        return []
    share = f"{unfinished:,} of {trips:,} trips ({unfinished / trips:.0%}) did not finish"
    if kpis.get("gridlock"):
        return [
            f"gridlock: {share}, and traffic had all but stopped when the run ended; travel-time "
            "KPIs cover finished trips only. Lower the demand or reopen roads."
        ]
    return [
        f"{share} by the end of the run; travel-time KPIs cover finished trips only. Run "
        "longer (duration) to see them arrive."
    ]


KPI_NOTES: dict[str, str] = {
    # traffic
    "trips": "trips simulated",
    "trips_completed": "trips arrived by the run's end",
    "trips_unfinished": "trips not arrived by the run's end (on the road, or waiting to enter)",
    "trips_unfinished_share": "trips_unfinished over trips",
    "gridlock": "1 where traffic stopped with many trips unfinished (see agents/kpis.py)",
    "mean_travel_time_s": "mean travel time of the arrived trips, seconds",
    "p95_travel_time_s": "95th percentile of the arrived trips' travel times, seconds",
    "travel_time_index": "arrived trips' travel time over their free-flow time",
    "planning_time_index": "95th percentile of each arrived trip's travel over free-flow time",
    "total_travel_time_veh_h": "travel time of the arrived trips, vehicle-hours",
    "total_delay_veh_h": "travel time less free-flow time of the arrived trips, vehicle-hours",
    "vehicle_km": "km driven by all vehicles (whole links left)",
    "mean_network_speed_kph": "vehicle_km over the vehicle-hours spent on links, km/h",
    "congested_edge_hours_share": "share of edge-intervals above the critical density",
    "longest_link_queue_veh": "most vehicles queued on one link at an interval's end",
    "network_queue_veh": "vehicles queued on all links, mean over the interval ends",
    "co2_kg": "CO2, kg (traffic: vehicle-km and delay; waste: the trucks' diesel)",
    "trips_skipped_unroutable": "trips not simulated: no route (closed roads cut them off)",
    "simulated_s": "simulated time, seconds",
    # waste
    "days": "simulated days",
    "bins": "bins",
    "truck_km": "km the trucks drove",
    "truck_km_per_day": "truck_km over days",
    "truck_hours": "hours the trucks were out, depot to depot",
    "bins_emptied": "bin emptyings",
    "mean_fill_at_emptying": "mean fill share of the bins when emptied (0 to 1)",
    "generated_t": "waste put into the bins, tonnes",
    "collected_t": "waste collected, tonnes",
    "overflow_bin_days": "bin-days a bin overflowed",
    "overflow_t": "waste that did not fit its bin, tonnes",
    "service_level": "share of bin-days without overflow",
    "required_unserved": "due bins the plans left out",
    "bins_skipped_for_time": "stops passed over at the shift's end",
    "unloads": "trips to the disposal site",
    "cost_eur": "collection cost: truck-hours and truck-km at the run's factors, €",
    "cost_per_tonne_eur": "cost_eur per tonne collected",
    "overflow_cost_eur": "overflow_bin_days at the run's price of an overflow (not in cost_eur), €",
    "initial_in_bins_t": "waste in the bins when the run began, tonnes",
    "planned_hours": "truck-hours of the plans on the times they were made on",
    "planned_hours_gap": "truck_hours over planned_hours, less 1 (what traffic added)",
}
"""What each KPI of a run holds, and its unit: written into ``kpis.parquet``'s metadata."""


# ------------------------------------------------------------------------------------ waste
# the defaults of agents.waste.costs, under the names earlier releases exported
DIESEL_L_PER_KM = DEFAULT_COSTS.diesel_l_per_km
CO2_KG_PER_DIESEL_L = DEFAULT_COSTS.co2_kg_per_diesel_l
TRUCK_HOUR_EUR = DEFAULT_COSTS.truck_hour_eur
TRUCK_KM_EUR = DEFAULT_COSTS.truck_km_eur


def waste_kpis(
    daily: pd.DataFrame,
    *,
    n_bins: int,
    initial_kg: float = 0.0,
    costs: CostFactors = DEFAULT_COSTS,
) -> dict[str, Any]:
    """KPIs of a waste run from its daily table (one row per day, see
    :class:`agents.waste.model.WasteResult`).

    ``service_level`` is the share of bin-days without overflow; ``mean_fill_at_emptying`` the
    mean fill share of the bins when emptied; ``cost_per_tonne_eur`` the truck-hour and truck-km
    costs (:data:`TRUCK_HOUR_EUR`, :data:`TRUCK_KM_EUR`) per tonne collected. CO2 is truck-km ×
    :data:`DIESEL_L_PER_KM` × :data:`CO2_KG_PER_DIESEL_L`. ``overflow_cost_eur`` is what the
    overflowing bin-days cost the city at ``costs.overflow_eur`` each (cleaning, complaints): not
    part of ``cost_eur``, which is what collection costs, so that a plan's savings can be set
    against the overflows it lets happen.
    """
    days = len(daily)
    if days == 0:
        return {"days": 0}
    total = lambda column: float(daily[column].sum()) if column in daily else 0.0  # noqa: E731
    truck_km, truck_hours = total("truck_km"), total("truck_hours")
    emptied = total("bins_emptied")
    collected_t = total("collected_kg") / 1000.0
    cost = costs.euros(truck_km=truck_km, truck_hours=truck_hours)
    planned_hours = total("planned_hours")
    bin_days = n_bins * days
    return {
        "days": days,
        "bins": n_bins,
        "truck_km": truck_km,
        "truck_km_per_day": truck_km / days,
        "truck_hours": truck_hours,
        "co2_kg": costs.co2_kg(truck_km),
        "bins_emptied": int(emptied),
        "mean_fill_at_emptying": total("fill_share_emptied_sum") / emptied if emptied else None,
        "generated_t": total("generated_kg") / 1000.0,
        "collected_t": collected_t,
        "overflow_bin_days": int(total("overflowing_bins")),
        "overflow_t": total("overflow_kg") / 1000.0,
        "service_level": 1.0 - total("overflowing_bins") / bin_days if bin_days else None,
        "required_unserved": int(total("unserved_required")),
        "bins_skipped_for_time": int(total("skipped_bins")),
        "unloads": int(total("unloads")),
        "cost_eur": cost,
        "cost_per_tonne_eur": cost / collected_t if collected_t > 0 else None,
        "overflow_cost_eur": total("overflowing_bins") * costs.overflow_eur,
        "initial_in_bins_t": initial_kg / 1000.0,
        "planned_hours": planned_hours,
        "planned_hours_gap": truck_hours / planned_hours - 1.0 if planned_hours > 0 else None,
        "factors": costs.as_dict(),
    }
