"""Travel demand: trips generated from the city context, or read from an OD table.

Generated trips go from homes to work and commerce: origins are drawn in proportion to each
node's home weight, destinations to its work weight (see :mod:`cities.context`), departure times
from a time-of-day profile. OD tables (CSV or Parquet) give ``origin, destination, departure``
per trip, with OSM node ids and departure in seconds or ``HH:MM[:SS]``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cities.context import CityContext
from cities.errors import TwinError, file_problem
from cities.network import RoadNetwork

__all__ = [
    "DEPARTURE_PROFILES",
    "Trips",
    "departure_order",
    "generate_trips",
    "read_od_table",
    "scaled_trips",
]

DEPARTURE_PROFILES: dict[str, tuple[float, ...]] = {
    "flat": (1.0,),
    # a peak in the middle of the departure window, e.g. a morning rush hour
    "peak": (1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0),
}
"""Relative departure rates over equal slices of the departure window."""


@dataclass(frozen=True)
class Trips:
    """Trips by node position, sorted by departure time."""

    origin: np.ndarray
    destination: np.ndarray
    depart_s: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)

    def subset(self, keep: np.ndarray) -> Trips:
        return Trips(self.origin[keep], self.destination[keep], self.depart_s[keep])


def departure_order(origin, destination, depart) -> np.ndarray:
    """Trips by departure, those of one second by origin and destination node: an order of
    the trips themselves, not of the rows that list them, so that a table sorted another way
    (an OD table in whole minutes shares each second among hundreds) is the same run."""
    return np.lexsort((np.asarray(destination), np.asarray(origin), np.asarray(depart)))


def _sorted(origin, destination, depart) -> Trips:
    order = departure_order(origin, destination, depart)
    return Trips(
        np.asarray(origin, dtype=np.int64)[order],
        np.asarray(destination, dtype=np.int64)[order],
        np.asarray(depart, dtype=np.float64)[order],
    )


def generate_trips(
    context: CityContext,
    *,
    n_trips: int,
    window_s: float,
    rng: np.random.Generator,
    profile: str | tuple[float, ...] = "flat",
) -> Trips:
    """Home → work trips with departures spread over ``[0, window_s)``.

    Origin and destination differ for every trip (a destination equal to the origin is drawn
    again).
    """
    if n_trips < 0:
        raise TwinError(f"The number of trips must be zero or more, got {n_trips}.")
    if not window_s > 0:
        raise TwinError(f"The departure window must be positive, got {window_s} s.")
    weights = DEPARTURE_PROFILES.get(profile) if isinstance(profile, str) else profile
    if weights is None or len(weights) == 0 or min(weights) < 0 or sum(weights) <= 0:
        raise TwinError(
            f"Unknown departure profile {profile!r}: use one of {sorted(DEPARTURE_PROFILES)} or "
            "a list of non-negative relative rates."
        )
    n_nodes = len(context.home_weight)
    origin = rng.choice(n_nodes, size=n_trips, p=context.home_weight)
    destination = rng.choice(n_nodes, size=n_trips, p=context.work_weight)
    for _ in range(100):
        same = origin == destination
        if not same.any():
            break
        destination[same] = rng.choice(n_nodes, size=int(same.sum()), p=context.work_weight)
    shares = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    slice_of_trip = rng.choice(len(shares), size=n_trips, p=shares)
    width = window_s / len(shares)
    depart = (slice_of_trip + rng.random(n_trips)) * width
    keep = origin != destination
    return _sorted(origin[keep], destination[keep], depart[keep])


def scaled_trips(
    trips: Trips, factor: float, *, rng: np.random.Generator, jitter_s: float = 300.0
) -> Trips:
    """The same trips with ``factor`` times as many: a random share of them kept (factor < 1),
    or all of them and copies of a random share, each departing up to ``jitter_s`` from its
    original (factor > 1), so that plans compared at 80 % or 120 % meet the same kind of trips.
    """
    if not (np.isfinite(factor) and factor >= 0):
        raise TwinError(f"A demand factor must be zero or more, got {factor}.")
    whole, share = int(factor), factor - int(factor)
    n = len(trips)
    pick = np.flatnonzero(rng.random(n) < share)
    copies = [np.arange(n)] * whole + [pick]
    chosen = np.concatenate(copies) if copies else np.zeros(0, dtype=np.int64)
    depart = trips.depart_s[chosen].copy()
    again = np.arange(len(chosen)) >= n  # the copies beyond the first of each trip
    depart[again] = np.maximum(
        depart[again] + rng.uniform(-jitter_s, jitter_s, int(again.sum())), 0.0
    )
    return _sorted(trips.origin[chosen], trips.destination[chosen], depart)


_CLOCK = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d(?:\.\d+)?)\s*$")


def _clock_seconds(text: str) -> float:
    """``HH:MM:SS`` (hours may pass 24 for later days) as seconds; NaN if it is not that."""
    match = _CLOCK.match(text)
    if match is None:
        return math.nan
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds)


def _parse_departure(values: pd.Series, path: Path) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce")
    seconds = np.array(numeric.to_numpy(dtype=np.float64, na_value=np.nan))  # a writable copy
    clock = np.flatnonzero(np.isnan(seconds))
    seconds[clock] = [_clock_seconds(str(values.iloc[i])) for i in clock]
    bad = ~np.isfinite(seconds)
    if bad.any():
        example = str(values[bad].iloc[0])
        example = example if len(example) <= 30 else example[:29] + "…"
        raise TwinError(
            f"{path.name}: {int(bad.sum())} departure times cannot be read (e.g. {example!r}): "
            "write finite seconds since the start, or HH:MM:SS with minutes and seconds below 60."
        )
    return seconds


def _row_name(path: Path, index: int) -> str:
    """A table's row as its reader finds it: a CSV's line (the header is line 1), or a row."""
    return f"row {index + 1}" if path.suffix == ".parquet" else f"line {index + 2}"


def _node_ids(column: pd.Series) -> np.ndarray:
    """OSM node ids as integers; -1 (no node) for what is not a whole number: an id written
    as 25345669.7 names no node, not node 25345669."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
    return np.where(whole, numbers, -1).astype(np.int64)


def read_od_table(
    path: str | Path, network: RoadNetwork, *, on_invalid: str = "skip"
) -> tuple[Trips, dict[str, int]]:
    """Trips from a CSV or Parquet table with columns ``origin, destination, departure``.

    Parameters
    ----------
    path
        The table; origins and destinations are OSM node ids of the network.
    network
        The network the ids refer to.
    on_invalid
        ``"skip"`` drops rows whose nodes are not in the network (counted in the report);
        ``"error"`` refuses the table.

    Returns
    -------
    Trips, dict
        The trips in :func:`departure_order` (the table's row order changes nothing) and a
        report: ``rows``, ``unknown_nodes``, ``same_origin_destination``.
    """
    path = Path(path)
    if on_invalid not in {"skip", "error"}:
        raise TwinError(f"on_invalid must be 'skip' or 'error', got {on_invalid!r}.")
    if problem := file_problem(path, "OD table"):
        raise TwinError(f"{problem}: give a CSV or Parquet file of origin, destination, departure.")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:
        raise TwinError(
            f"Cannot read OD table {path.name}: {err}. Give a CSV or Parquet file."
        ) from None
    missing = {"origin", "destination", "departure"} - set(table.columns)
    if missing:
        header = str(table.columns[0]) if len(table.columns) == 1 else ""
        separator = next((c for c in ";\t|" if c in header), "")
        hint = f" (its columns seem separated by {separator!r}: save it with commas)"
        hint = hint if separator else ""
        raise TwinError(
            f"OD table {path.name} lacks column(s) {sorted(missing)}{hint}: it needs origin, "
            "destination (OSM node ids) and departure (seconds or HH:MM:SS)."
        )
    # a column the twin does not read would be ignored without a word: an aggregated OD
    # matrix's trip counts, say, whose every row would then be one trip
    extra = [str(c) for c in table.columns if c not in {"origin", "destination", "departure"}]
    if extra:
        raise TwinError(
            f"OD table {path.name} has column(s) {', '.join(map(repr, extra))} the twin does not "
            "read: a row is one trip (origin, destination, departure), so repeat a row for each "
            "trip of a count, then remove the other columns."
        )
    if table.empty:  # a header alone: a run of no traffic, as if the city were asleep
        raise TwinError(
            f"OD table {path.name} has no rows: give one row per trip (origin, destination, "
            "departure)."
        )
    depart = _parse_departure(table["departure"], path)
    if (depart < 0).any():
        first = int(np.flatnonzero(depart < 0)[0])
        raise TwinError(
            f"{path.name}: {_row_name(path, first)} departs at "
            f"'{table['departure'].iloc[first]}': "
            "departure times must not be negative (seconds or HH:MM:SS from the start)."
        )
    known = pd.Index(network.node_osmid)
    origin = known.get_indexer(_node_ids(table["origin"]))
    destination = known.get_indexer(_node_ids(table["destination"]))
    unknown = (origin < 0) | (destination < 0)
    same = ~unknown & (origin == destination)
    report = {
        "rows": len(table),
        "unknown_nodes": int(unknown.sum()),
        "same_origin_destination": int(same.sum()),
    }
    if unknown.any() and on_invalid == "error":
        first = table[unknown].iloc[0]
        raise TwinError(
            f"{path.name}: {int(unknown.sum())} of {len(table)} rows name nodes not in the network "
            f"(first: origin {first['origin']}, destination {first['destination']}). Use OSM node "
            "ids of the network's nodes, or skip such rows (--on-invalid skip; on_invalid='skip')."
        )
    if same.any() and on_invalid == "error":
        first = table[same].iloc[0]
        raise TwinError(
            f"{path.name}: {int(same.sum())} of {len(table)} rows start where they end (first: "
            f"node {first['origin']}): such a trip drives nowhere. Remove those rows, or skip "
            "them (--on-invalid skip; on_invalid='skip')."
        )
    keep = ~unknown & ~same
    return _sorted(origin[keep], destination[keep], depart[keep]), report
