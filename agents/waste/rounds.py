"""A city's own collection rounds on the twin's bins: the ``current`` policy's routes.

:func:`twin.rounds.read_rounds` reads a rounds file (ordered stops per truck and weekday, GPS
tracks of the rounds, or collection points with their weekdays) into plain tables;
:func:`match_rounds` puts them on the twin's bins and network and checks them, so that the
twin can drive them as given (:class:`~agents.waste.policies.GivenRounds`):

- a stop naming a bin uses that bin (bins are numbered as in a run's bins table, from 0);
- a stop given by position uses the nearest bin within :data:`SNAP_M`;
- a track collects every bin within :data:`TRACK_M` of it that no earlier row or track of
  that day collects, in the order the track first passes them, and unloads at every pass by
  the disposal site (a track cannot tell the bins a truck emptied from those it drove past:
  its load is not checked, and its truck tips when full);
- collection points with weekdays (no order) are ordered into rounds as a crew draws them,
  street by street (:func:`~agents.waste.policies.draw_rounds`): the points a row gives a truck
  make that truck's round of the day, the points of no truck are shared among as many trucks
  as they need.

Every problem is a :class:`RoundsError` naming the file's row and the fix, raised before any
day is simulated: a bin the city does not have, a position outside the city or far from any
bin, a bin collected twice on one weekday, a stop the trucks cannot reach, a round whose
expected load overfills its truck between unloads, rounds on a day without a shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj

from agents.waste.bins import Bins
from agents.waste.policies import (
    UNLOAD,
    WORKING_DAYS,
    draw_rounds,
    expected_since_last,
    gap_to_previous,
)
from cities.errors import TwinError
from cities.network import RoadNetwork

__all__ = ["SAME_SPOT_M", "SNAP_M", "TRACK_M", "MatchedRounds", "RoundsError", "match_rounds"]

SNAP_M = 50.0
"""A stop given by position is the nearest bin within this many metres (a container stands
within a few metres of the mapped point; 50 m leaves room for GPS and geocoding error)."""

SAME_SPOT_M = 2.0
"""Containers this close to the nearest one stand at the same spot (one collection point)."""

TRACK_M = 25.0
"""A track collects the bins within this many metres of it (the width of a street with its
pavements, plus GPS error)."""

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class RoundsError(TwinError):
    """Rounds the twin cannot drive; the message names the file's row and the fix."""


@dataclass(frozen=True)
class MatchedRounds:
    """A city's rounds on the twin's bins.

    Attributes
    ----------
    rounds
        Per working weekday, one array per truck of bin indices in driving order,
        :data:`~agents.waste.policies.UNLOAD` for a trip to the disposal site.
    trucks
        Per weekday, the truck labels of its rounds (same order).
    n_trucks
        Trucks the rounds need (the most on any weekday).
    form
        How the file gave them: ``stops``, ``tracks``, ``points`` or ``mixed``.
    """

    rounds: dict[int, tuple[np.ndarray, ...]]
    trucks: dict[int, tuple[str, ...]]
    n_trucks: int
    form: str

    @property
    def n_stops(self) -> int:
        """Bin visits a week."""
        return sum(int(np.sum(r >= 0)) for routes in self.rounds.values() for r in routes)


def match_rounds(
    stops: pd.DataFrame,
    tracks: pd.DataFrame,
    *,
    bins: Bins,
    network: RoadNetwork,
    disposal_node: int,
    reachable: np.ndarray,
    street: np.ndarray,
    depot_xy: tuple[float, float],
    service_s: np.ndarray,
    truck_capacity_kg: float,
    shift_s: float,
    n_trucks: int | None = None,
    label: str = "the rounds file",
    form: str = "stops",
) -> MatchedRounds:
    """Put a rounds file's stops and tracks (:func:`twin.rounds.read_rounds`) on the bins.

    Parameters
    ----------
    stops, tracks
        The file's tables (columns ``source, weekday, truck, order, bin, lon, lat, unload`` and
        ``source, weekday, truck, lonlat``).
    bins, network
        The twin's bins and road network.
    disposal_node
        Network node of the disposal site (tracks unload where they pass it).
    reachable
        Per bin: whether the trucks can reach it from the depot and go on to the disposal site.
    street, depot_xy, service_s
        What ordering collection points needs (see :func:`~agents.waste.policies.draw_rounds`).
    truck_capacity_kg, shift_s
        The trucks.
    n_trucks
        Trucks available to order collection points into rounds (default: as many as needed).
    label
        How messages name the file.
    form
        The file's form, as read.

    Raises
    ------
    RoundsError
        Naming the first row the twin cannot use, and the fix.
    """
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    west, south, east, north = network.bbox_lonlat
    margin = 0.01  # degrees (about a kilometre): a depot or tip just outside the streets
    tree_xy = np.column_stack([bins.x, bins.y])

    def fail(source: str, problem: str) -> RoundsError:
        return RoundsError(f"{label}, {source}: {problem}")

    def bin_at(row) -> int:
        if row.bin:
            text = str(row.bin).strip()
            if not (text.isascii() and text.isdigit() and len(text) < 19) or int(text) >= len(bins):
                raise fail(
                    row.source,
                    f"names bin {text[:40]!r}, which the city does not have: bins are numbered "
                    f"0 to {len(bins) - 1}, as in a run's bins table (or give lon, lat).",
                )
            number = int(text)
            if np.isfinite(row.lon) and np.isfinite(row.lat):
                x, y = to_xy.transform(float(row.lon), float(row.lat))
                off = float(np.hypot(bins.x[number] - x, bins.y[number] - y))
                if off > SNAP_M:
                    raise fail(
                        row.source,
                        f"names bin {number}, which stands {off:,.0f} m from the row's position: "
                        "were the rounds numbered for another seed or other bins? Run with the "
                        "seed and bin settings they were written for, or give positions only.",
                    )
            return number
        lon, lat = float(row.lon), float(row.lat)
        if not (west - margin <= lon <= east + margin and south - margin <= lat <= north + margin):
            raise fail(
                row.source,
                f"({lon:.5f}, {lat:.5f}) lies outside the city's network "
                f"({west:.4f}–{east:.4f} E, {south:.4f}–{north:.4f} N): is it a stop of another "
                "city, or lat, lon swapped?",
            )
        x, y = to_xy.transform(lon, lat)
        distance = np.hypot(tree_xy[:, 0] - x, tree_xy[:, 1] - y)
        nearest = int(np.argmin(distance)) if len(distance) else -1
        # several containers may stand at one spot: each row takes the next one of them this
        # weekday's rounds have not taken yet (only at that very spot: a repeated position is
        # otherwise a bin collected twice, refused below)
        same_spot = distance <= distance[nearest] + SAME_SPOT_M if nearest >= 0 else distance < 0
        free = np.flatnonzero(same_spot & ~taken_on[int(row.weekday)])
        if nearest >= 0 and distance[nearest] <= SNAP_M and len(free):
            return int(free[np.argmin(distance[free])])
        if nearest < 0 or distance[nearest] > SNAP_M:
            far = f"the nearest is {distance[nearest]:.0f} m away" if nearest >= 0 else "none"
            raise fail(
                row.source,
                f"no bin within {SNAP_M:.0f} m of ({lon:.5f}, {lat:.5f}) ({far}): give the "
                "bin's number, or a position at a bin of the twin's bins table.",
            )
        at_spot = np.flatnonzero(same_spot)
        numbers = ", ".join(map(str, at_spot[:8].tolist())) + (", …" if len(at_spot) > 8 else "")
        standing = f"{len(at_spot)} bins stand (bins" if len(at_spot) > 1 else "1 bin stands (bin"
        raise fail(
            row.source,
            f"stops at ({lon:.5f}, {lat:.5f}) on {_WEEKDAY_NAMES[int(row.weekday)]}, where "
            f"{standing} {numbers}), every one taken by earlier rows that day: a stop given by "
            "position empties one bin; remove the extra rows, or give bin numbers.",
        )

    def check_day(source: str, weekday: int) -> None:
        if weekday not in WORKING_DAYS:
            working = f"{_WEEKDAY_NAMES[WORKING_DAYS[0]]} to {_WEEKDAY_NAMES[WORKING_DAYS[-1]]}"
            raise fail(
                source,
                f"is on a {_WEEKDAY_NAMES[weekday]}, but the twin's collection shifts run "
                f"{working}: move the round to a working day.",
            )

    sequences: dict[tuple[int, str], list[tuple[int, str]]] = {}
    points: dict[tuple[int, str], list[tuple[int, str]]] = {}
    stops = stops.sort_values(["weekday", "truck", "order"], kind="stable")
    taken_on = np.zeros((7, len(bins)), dtype=bool)
    for row in stops.itertuples(index=False):
        weekday = int(row.weekday)
        check_day(row.source, weekday)
        stop = UNLOAD if bool(row.unload) else bin_at(row)
        if stop >= 0:
            taken_on[weekday][stop] = True
        if int(row.order) < 0:
            points.setdefault((weekday, str(row.truck)), []).append((stop, row.source))
        else:
            sequences.setdefault((weekday, str(row.truck)), []).append((stop, row.source))
    with_stops = set(sequences)
    for (weekday, truck), sequence in points.items():
        if (weekday, truck) in with_stops:
            raise fail(
                sequence[0][1],
                f"gives truck {truck!r} collection points on {_WEEKDAY_NAMES[weekday]}, where "
                "other rows give it stops in order: number all of its stops that day, or give "
                "them all as collection points.",
            )
    for row in tracks.itertuples(index=False):
        weekday = int(row.weekday)
        check_day(row.source, weekday)
        if (weekday, str(row.truck)) in with_stops:
            continue  # the round's own stops say exactly where it stops; its track adds nothing
        visited = _along_track(np.asarray(row.lonlat, dtype=float), to_xy, bins, network,
                               disposal_node)  # fmt: skip
        # driving past is not emptying: a bin that an earlier row collects, or an earlier
        # track passes, that day is left to it
        visited = [b for b in visited if b < 0 or not taken_on[weekday][b]]
        taken_on[weekday][[b for b in visited if b >= 0]] = True
        if not any(stop >= 0 for stop in visited):
            raise fail(
                row.source,
                f"passes no bin within {TRACK_M:.0f} m: is it a track of this city's rounds?",
            )
        sequences.setdefault((weekday, str(row.truck)), []).extend(
            (stop, row.source) for stop in visited
        )

    # every bin at most once a weekday, and reachable
    seen: dict[tuple[int, int], str] = {}
    for (weekday, _), sequence in sorted(sequences.items()):
        _check_stops(sequence, weekday, seen, reachable, fail)
    for (weekday, _), sequence in sorted(points.items()):
        _check_stops(sequence, weekday, seen, reachable, fail)

    collected_on: list[list[int]] = [[] for _ in range(len(bins))]
    for weekday, b in seen:
        collected_on[b].append(weekday)

    def expected_on(weekday: int) -> np.ndarray:
        chosen = np.array([b for (w, b) in seen if w == weekday], dtype=np.int64)
        expected = np.zeros(len(bins))
        gaps = np.array([gap_to_previous(weekday, collected_on[b]) for b in chosen], np.int64)
        expected[chosen] = expected_since_last(bins, chosen, gaps, weekday)
        return expected

    rounds: dict[int, list[np.ndarray]] = {}
    trucks: dict[int, list[str]] = {}
    for (weekday, truck), sequence in sorted(sequences.items()):
        if (weekday, truck) in with_stops:
            # a track does not tell the bins a truck emptied from those it drove past, so its
            # load is not known: its trucks tip when full, as crews do
            _check_capacity(sequence, expected_on(weekday), truck_capacity_kg, truck, weekday, fail)
        route = [stop for stop, _ in sequence]
        rounds.setdefault(weekday, []).append(np.asarray(route, dtype=np.int64))
        trucks.setdefault(weekday, []).append(truck)
    needed = max((len(r) for r in rounds.values()), default=0)
    for (weekday, truck), sequence in sorted(points.items()):
        chosen = np.array([stop for stop, _ in sequence if stop >= 0], dtype=np.int64)
        # a truck's own points: one round (its unloads where a load fills); the rest shared
        drawn = draw_rounds(
            bins, chosen, expected_on(weekday), street=street, depot_xy=depot_xy,
            service_s=service_s, n_trucks=1 if truck else (n_trucks or len(chosen) or 1),
            truck_capacity_kg=truck_capacity_kg, shift_s=shift_s,
        )  # fmt: skip
        rounds.setdefault(weekday, []).extend(drawn)
        labels = [truck] if truck else [f"drawn {k + 1}" for k in range(len(drawn))]
        trucks.setdefault(weekday, []).extend(labels[: len(drawn)])
    needed = max([needed, *(len(r) for r in rounds.values())])
    if not any(np.any(r >= 0) for routes in rounds.values() for r in routes):
        raise RoundsError(f"{label}: holds no bin to collect (only trips to the disposal site).")
    return MatchedRounds(
        rounds={w: tuple(r) for w, r in rounds.items()},
        trucks={w: tuple(t) for w, t in trucks.items()},
        n_trucks=needed,
        form=form,
    )


def _check_stops(sequence, weekday: int, seen: dict, reachable: np.ndarray, fail) -> None:
    for stop, source in sequence:
        if stop < 0:
            continue
        if (weekday, stop) in seen:
            raise fail(
                source,
                f"collects bin {stop} on {_WEEKDAY_NAMES[weekday]}, which "
                f"{seen[(weekday, stop)]} collects that day too: overlapping rounds; keep one.",
            )
        if not reachable[stop]:
            raise fail(
                source,
                f"bin {stop} cannot be reached from the depot, or the disposal site cannot be "
                "reached from it, on the road network (a closed or one-way street?): move "
                "the stop or reopen the road.",
            )
        seen[(weekday, stop)] = source


def _check_capacity(
    sequence: Sequence[tuple[int, str]],
    expected: np.ndarray,
    capacity_kg: float,
    truck: str,
    weekday: int,
    fail,
) -> None:
    carried = 0.0
    for stop, source in sequence:
        if stop < 0:
            carried = 0.0
            continue
        carried += float(expected[stop])
        if carried > capacity_kg * (1 + 1e-9):
            raise fail(
                source,
                f"truck {truck[:20]!r} would carry {carried:,.0f} kg here on "
                f"{_WEEKDAY_NAMES[weekday]} (the bins' mean waste since their last collection), "
                f"over its {capacity_kg:,.0f} kg: add an unload (a stop at the disposal site) "
                "before this stop, or split the round.",
            )


def _along_track(
    lonlat: np.ndarray,
    to_xy: pyproj.Transformer,
    bins: Bins,
    network: RoadNetwork,
    disposal_node: int,
) -> list[int]:
    """Bins within :data:`TRACK_M` of a track, in the order it first passes them (each at its
    closest approach on that pass), with an :data:`UNLOAD` at every pass by the disposal site
    (a track that leaves its reach and comes back has tipped again)."""
    x, y = to_xy.transform(lonlat[:, 0], lonlat[:, 1])
    line = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    if len(line) == 1:
        line = np.vstack([line, line])
    start, end = line[:-1], line[1:]
    segment = end - start
    length = np.sqrt((segment**2).sum(axis=1))
    cumulative = np.concatenate([[0.0], np.cumsum(length)])

    def closest(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per segment and point: distance and position along the track of the closest
        approach (``(n_segments, n_points)`` each)."""
        along = ((points[None] - start[:, None]) * segment[:, None]).sum(axis=2)
        t = np.clip(along / np.maximum(length**2, 1e-12)[:, None], 0.0, 1.0)
        nearest = start[:, None] + t[..., None] * segment[:, None]
        distance = np.hypot(*(points[None] - nearest).transpose(2, 0, 1))
        return distance, cumulative[:-1, None] + t * length[:, None]

    stops: list[tuple[float, int]] = []
    for first in range(0, len(bins), 256):  # bounded memory: segments × a batch of bins
        xy = np.column_stack([bins.x[first : first + 256], bins.y[first : first + 256]])
        distance, position = closest(xy)
        hit = distance <= TRACK_M
        for j in np.flatnonzero(hit.any(axis=0)):
            k = int(np.argmax(hit[:, j]))  # the first segment that passes it
            run = k + int(np.argmin(hit[k:, j])) if not hit[k:, j].all() else len(hit)
            best = k + int(np.argmin(distance[k:run, j]))
            stops.append((float(position[best, j]), first + int(j)))
    tip = np.array([[network.node_x[disposal_node], network.node_y[disposal_node]]])
    distance, position = closest(tip)
    near = distance[:, 0] <= TRACK_M
    # one unload per stretch of the track within reach of the tip
    starts = np.flatnonzero(near & ~np.concatenate([[False], near[:-1]]))
    for k in starts.tolist():
        run = k + int(np.argmin(near[k:])) if not near[k:].all() else len(near)
        best = k + int(np.argmin(distance[k:run, 0]))
        stops.append((float(position[best, 0]), UNLOAD))
    stops.sort(key=lambda stop: stop[0])
    return [stop for _, stop in stops]
