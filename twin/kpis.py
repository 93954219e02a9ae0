"""Key performance indicators shared by the twins, computed from plain tables.

Traffic KPIs follow the definitions planners use (FHWA / TTI urban mobility measures):

- travel time index: total travel time over total free-flow time of the same trips;
- planning time index: 95th percentile of each trip's travel time over its free-flow time;
- delay: travel time minus free-flow time, summed in vehicle-hours;
- congested edge-hours: share of edge-hours whose mean density exceeds the critical density
  of the link's fundamental diagram (capacity / free-flow speed).

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

__all__ = [
    "CO2_KG_PER_DELAY_HOUR",
    "CO2_KG_PER_VKM",
    "edge_time_series",
    "traffic_kpis",
]

CO2_KG_PER_VKM = 0.150
CO2_KG_PER_DELAY_HOUR = 1.85


def edge_time_series(
    *,
    exits: np.ndarray,
    time_on_link_s: np.ndarray,
    occupancy: np.ndarray,
    queued: np.ndarray,
    length_m: np.ndarray,
    free_speed_kph: np.ndarray,
    interval_s: float,
) -> pd.DataFrame:
    """Per interval and edge: flow (veh/h), density (veh/km), space-mean speed (km/h), queue.

    Inputs are ``intervals × edges`` arrays. Speed is the length over the mean time on the link
    of the vehicles that left it; an interval with no vehicle leaving has the free-flow speed if
    the link was empty, else the speed its density allows at the measured flow (zero if none).
    """
    n_intervals, n_edges = exits.shape
    length = np.broadcast_to(length_m, exits.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(exits > 0, 3.6 * length * exits / time_on_link_s, np.nan)
    empty = occupancy < 1e-9
    speed = np.where(np.isnan(speed) & empty, np.broadcast_to(free_speed_kph, exits.shape), speed)
    speed = np.where(np.isnan(speed), 0.0, speed)
    return pd.DataFrame(
        {
            "interval_start_s": np.repeat(np.arange(n_intervals) * interval_s, n_edges),
            "edge": np.tile(np.arange(n_edges), n_intervals),
            "flow_vph": (exits * 3600.0 / interval_s).ravel(),
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
    exits = series["flow_vph"].to_numpy() * interval_s / 3600.0
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
    return {
        "trips": len(trips),
        "trips_completed": int(done.sum()),
        "trips_unfinished": int((~done).sum()),
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
        "max_queue_veh": int(series["queue_veh"].max()) if len(series) else 0,
        "mean_queue_veh": float(series.groupby("edge")["queue_veh"].mean().sum())
        if len(series)
        else 0.0,
        "co2_kg": vkm * CO2_KG_PER_VKM + delay_h * CO2_KG_PER_DELAY_HOUR,
        "co2_factors": {"kg_per_vkm": CO2_KG_PER_VKM, "kg_per_delay_hour": CO2_KG_PER_DELAY_HOUR},
    }
