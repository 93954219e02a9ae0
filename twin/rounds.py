"""A city's current waste-collection rounds, read for the waste twin to drive as a baseline.

The reader parses a rounds file and checks its own content only: every stop has a weekday, a
truck's stops on a day are numbered once each, no bin is emptied twice a day, positions lie on
the globe. Matching the stops to the twin's bins is the waste model's business.

Formats, chosen by extension:

- ``.csv``, ordered rounds: columns ``weekday``, ``truck``, ``stop`` (or ``order``) and ``bin``
  or ``lon`` + ``lat``; a row whose bin is ``disposal``, or whose ``unload`` column is true, is a
  trip to the tip. The twin's own ``stops.csv`` (:mod:`twin.field_docs`) reads once a
  ``weekday`` column is added: its ``kind`` column marks the tip (``disposal``) and the depot
  (``depot``, left out: every round starts and ends there anyway).
- ``.csv``, collection points: ``weekdays`` (``Mon;Thu``) and ``bin`` or ``lon`` + ``lat``,
  no order; a ``truck`` column, where given, says which truck's round a point is on.
- ``.geojson`` / ``.json``: a FeatureCollection of Point features (ordered stops, or
  collection points with ``weekdays``) and LineString / MultiLineString features (the paths
  trucks drove). A ``weekday`` or ``truck`` member of the collection itself applies to every
  feature that gives none: the twin's ``truck-<n>.geojson`` reads once it has a weekday.
- ``.gpx``: each ``<rte>`` one truck's round on one weekday, each ``<trk>`` a path driven;
  truck and weekday are read from the ``<name>`` (or ``<desc>``), as in ``Truck 1 Mon``.

Every problem is a :class:`RoundsFileError` naming the file, the row and the fix.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from twin.errors import TwinError
from twin.specs import short_repr

__all__ = [
    "MAX_FILE_BYTES",
    "STOP_COLUMNS",
    "TRACK_COLUMNS",
    "WEEKDAYS",
    "RoundsFileError",
    "RoundsTable",
    "read_rounds",
    "write_rounds",
]

WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Weekday names by number, Monday = 0 (as :meth:`datetime.date.weekday`)."""

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest rounds file read: a city's year of GPS tracks fits many times over, and a larger one
would be read into memory whole."""

STOP_COLUMNS = ("source", "weekday", "truck", "order", "bin", "lon", "lat", "unload")
TRACK_COLUMNS = ("source", "weekday", "truck", "lonlat")

SUFFIXES = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpx": "gpx"}
GPX_NAMESPACES = ("http://www.topografix.com/GPX/1/1", "http://www.topografix.com/GPX/1/0")

_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {
    **{name.lower(): day for day, name in enumerate(WEEKDAYS)},
    **{name: day for day, name in enumerate(_FULL_NAMES)},
    **{str(day + 1): day for day in range(7)},
}
_DAY_WORD = re.compile(r"\b(" + "|".join((*_FULL_NAMES, *map(str.lower, WEEKDAYS))) + r")\b", re.I)
# the label is the word after "truck" ("Truck 1: …", "truck-A", "Monday truck 2")
_TRUCK_WORD = re.compile(r"\btruck\b[\s#:._-]*([^\s,;:()\[\]{}]+)", re.I)
_DAYS_SEPARATOR = re.compile(r"[;,/+\s]+")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.I)
# kind: the twin's own stops.csv marks its depot and disposal rows in it
_CSV_COLUMNS = {
    "weekday",
    "weekdays",
    "truck",
    "stop",
    "order",
    "bin",
    "lon",
    "lat",
    "unload",
    "kind",
}
_TRUE = {"1", "true", "yes"}
_FALSE = {"", "0", "false", "no"}
_DAYS_HINT = "give Mon…Sun, Monday…Sunday or 1…7 (1 = Monday)"


class RoundsFileError(TwinError):
    """A rounds file the twin cannot use; the message names the file, the row and the fix."""


@dataclass(frozen=True)
class RoundsTable:
    """The rounds a file describes, checked.

    Attributes
    ----------
    path
        The file read.
    stops
        One row per stop, columns :data:`STOP_COLUMNS`: ``source`` (where in the file:
        ``"line 7"``, ``"feature 3"``, ``"route 2 ('truck 1 Mon') point 4"``; features, routes,
        tracks and points count from 1), ``weekday`` (0…6, Monday = 0), ``truck`` (the label as
        given, ``""`` where the file names none), ``order`` (the stop's place in its truck's
        round that day as the file gives it, ``-1`` for collection points), ``bin`` (the bin id
        as given, ``""`` where the row gives a position), ``lon`` and ``lat`` (WGS84, NaN where
        the row gives none; a row may give a bin and its position both) and ``unload`` (a trip
        to the disposal site, not a bin). Sorted by weekday, truck (numbers numerically) and
        order; collection points in file order.
    tracks
        One row per path a truck drove, columns :data:`TRACK_COLUMNS`: ``source``, ``weekday``,
        ``truck`` and ``lonlat``, an ``(n, 2)`` float array of longitude and latitude.
    form
        What the stops are: ``"stops"`` (ordered rounds), ``"points"`` (collection points with
        their weekdays, no order), ``"mixed"`` (both), or ``"tracks"`` where the file holds
        tracks only. Tracks may come with any of the first three.
    unread
        A CSV's columns the reader does not use, by name as its header gives them (lowercase):
        a street or an address describes a stop, but a count of containers or a time would
        change the rounds, and the twin does not read them (:meth:`unread_note`).
    """

    path: Path
    stops: pd.DataFrame
    tracks: pd.DataFrame
    form: str
    unread: tuple[str, ...] = ()

    def unread_note(self) -> str | None:
        """What a run driving these rounds says of the columns it did not read (``None``:
        it read them all)."""
        if not self.unread:
            return None
        shown = ", ".join(short_repr(name, 24) for name in self.unread[:8])
        shown += f" and {len(self.unread) - 8} more" if len(self.unread) > 8 else ""
        many = len(self.unread) > 1
        return (
            f"{self.path.name}: column{'s' if many else ''} {shown} {'are' if many else 'is'} "
            "not read; the twin drives weekday (or weekdays), truck, stop (or order), bin or "
            "lon and lat, and unload (or kind) only. Rename a column meant as one of those."
        )


def read_rounds(path: str | os.PathLike[str]) -> RoundsTable:
    """Read and check a city's current collection rounds.

    Parameters
    ----------
    path
        A ``.csv``, ``.geojson`` / ``.json`` or ``.gpx`` file (see the module's notes for what
        each holds).

    Returns
    -------
    RoundsTable
        Every stop and track of the file.

    Raises
    ------
    RoundsFileError
        The file cannot be read, or a row is incomplete, out of range or contradicts another;
        nothing is returned in part.
    """
    reader = _Reader(Path(path))
    return reader.read()


def write_rounds(
    path: str | os.PathLike[str],
    rounds: dict[int, tuple[np.ndarray, ...]],
    *,
    lon: np.ndarray,
    lat: np.ndarray,
    comments: tuple[str, ...] = (),
    trucks: Mapping[int, Sequence[str]] | None = None,
) -> None:
    """Write weekly rounds as an ordered-stops CSV that :func:`read_rounds` reads back.

    Parameters
    ----------
    path
        The CSV to write.
    rounds
        Per weekday (Monday = 0), one array per truck of bin numbers in driving order, a
        negative number for a trip to the disposal site (the waste model's fixed rounds).
    lon, lat
        Every bin's position, by bin number (written next to each stop, so that the file can
        be read on a map and its stops matched by position too).
    comments
        Lines written first, after ``#`` (who drew these rounds, for which city and seed).
    trucks
        Per weekday, the trucks' labels in the order of ``rounds`` (a city's own rounds keep
        the labels its file gave them); a weekday without a distinct label for every truck has
        its trucks numbered from 1.

    Notes
    -----
    Columns: ``weekday`` (Mon…Fri), ``truck`` and ``stop`` (from 1), ``bin`` (its number, or
    ``disposal``), ``lon``, ``lat``. A city edits this file into its own rounds and drives them
    as policy ``current``.
    """
    out = io.StringIO()
    for line in comments:
        out.write(f"# {line.replace(chr(10), ' ')}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["weekday", "truck", "stop", "bin", "lon", "lat"])
    for weekday, routes in sorted(rounds.items()):
        labels = [str(label) for label in (trucks or {}).get(weekday, ())]
        if len(labels) != len(routes) or "" in labels or len(set(labels)) < len(labels):
            labels = [str(n) for n in range(1, len(routes) + 1)]
        for truck, route in zip(labels, routes, strict=True):
            for stop, b in enumerate(np.asarray(route).tolist(), start=1):
                if b < 0:
                    writer.writerow([WEEKDAYS[weekday], truck, stop, "disposal", "", ""])
                else:
                    writer.writerow(
                        [WEEKDAYS[weekday], truck, stop, b, f"{lon[b]:.7f}", f"{lat[b]:.7f}"]
                    )
    Path(path).write_text(out.getvalue(), encoding="utf-8")


class _Reader:
    """The rows of one file as they are read, and the errors that name it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stops: list[tuple[Any, ...]] = []
        self.tracks: list[tuple[str, int, str, np.ndarray]] = []
        self.unread: tuple[str, ...] = ()

    def fail(self, where: str | None, problem: str) -> NoReturn:
        at = f"{where}: " if where else ""
        raise RoundsFileError(f"{self.path}: {at}{problem}")

    def read(self) -> RoundsTable:
        kind = SUFFIXES.get(self.path.suffix.lower())
        if not self.path.exists():
            self.fail(None, "no such file: check the path")
        if self.path.is_dir():
            self.fail(None, "is a folder: give a rounds file (.csv, .geojson, .json or .gpx)")
        if not self.path.is_file():  # a pipe waits for a writer, a device never ends
            self.fail(None, "is not a regular file (a device or a pipe): give a rounds file")
        if kind is None:
            self.fail(
                None,
                f"unknown kind of rounds file {short_repr(self.path.suffix or self.path.name)}: "
                "give a .csv, .geojson, .json or .gpx file",
            )
        data = self._bytes()
        text = self._text(data)
        if kind == "gpx":
            self._gpx(data, text)
        elif kind == "geojson":
            self._geojson(text)
        else:
            self._csv(text)
        if not self.stops and not self.tracks:
            read = {
                "gpx": " (a GPX file's routes, <rte> with <rtept>, and tracks, <trk>, are read; "
                "waypoints, <wpt>, are not: they carry no order)",
                "geojson": " (Point features are read as stops, LineString and MultiLineString "
                "features as tracks)",
            }.get(kind, "")
            self.fail(None, f"holds no stops and no tracks{read}: give at least one stop")
        self._check_overlaps()
        return self._table()

    # --- bytes and text ---------------------------------------------------------------------

    def _bytes(self) -> bytes:
        try:
            with open(self.path, "rb") as source:
                # read one byte past the limit rather than trust the size stat gave
                data = source.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            self.fail(None, f"cannot be read ({error.strerror or error}): check its permissions")
        if len(data) > MAX_FILE_BYTES:
            self.fail(
                None,
                f"is larger than {MAX_FILE_BYTES // 2**20} MB: split it (by weekday or truck)",
            )
        if not data.strip():
            self.fail(None, "is empty: give the rounds, one stop a row")
        return data

    def _text(self, data: bytes) -> str:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            self.fail(
                f"line {line}",
                f"not UTF-8 text (byte {error.start} is {data[error.start]:#04x}): "
                "save the file as UTF-8",
            )

    # --- CSV --------------------------------------------------------------------------------

    def _csv(self, text: str) -> None:
        source = io.StringIO(text, newline="")
        skipped = 0
        # the twin's own CSVs open with '#' lines (label, provenance): skipped, counted
        while True:
            start = source.tell()
            line = source.readline()
            if not line:
                self.fail(None, "has no header: give a header line (weekday,truck,stop,bin)")
            if line.strip() and not line.lstrip().startswith("#"):
                source.seek(start)
                break
            skipped += 1
        # spreadsheets set to a decimal comma save with ';'
        delimiter = max(",;\t", key=lambda d: (line.count(d), d == ","))
        rows = csv.reader(source, delimiter=delimiter)
        try:
            header = [name.strip().lower() for name in next(rows)]
            header_line = f"line {skipped + 1}"
            columns = self._csv_columns(header, header_line)
            done = rows.line_num
            body = []
            for row in rows:
                where, done = f"line {skipped + done + 1}", rows.line_num
                if "".join(row).strip():  # blank lines between rows
                    body.append((where, row))
        except csv.Error as error:
            self.fail(f"line {skipped + rows.line_num}", f"not valid CSV ({error})")
        if not body:
            self.fail(header_line, "the header is followed by no rows: give one stop a row")
        for where, row in body:
            if len(row) > len(header):
                self.fail(
                    where,
                    f"has {len(row)} fields but the header has {len(header)}: quote a value "
                    f"that holds the separator {delimiter!r}",
                )
            values = {name: row[at].strip() if at < len(row) else "" for name, at in columns}
            self._stop_row(where, values, kind=values.get("kind", ""))

    def _csv_columns(self, header: list[str], where: str) -> list[tuple[str, int]]:
        """The columns the reader uses, by name: ``[(name, index)]`` (``order`` as ``stop``)."""
        names = set(header)
        shown = ", ".join(short_repr(name, 24) for name in header[:12])
        shown += f" … ({len(header) - 12} more)" if len(header) > 12 else ""
        if "stop" in names and "order" in names:
            self.fail(where, "has both a stop and an order column: keep one (the stop number)")
        if "weekday" in names and "weekdays" in names:
            self.fail(
                where,
                "has both weekday and weekdays: give weekday (one day a row, with truck and stop) "
                "for ordered rounds or weekdays (Mon;Thu) for collection points",
            )
        ordered = "stop" in names or "order" in names
        if "weekdays" in names and ordered:
            self.fail(
                where,
                "has weekdays and a stop column: ordered rounds give one day a row, in a column "
                "named weekday; collection points (weekdays) have no stop",
            )
        place = ["bin"] if "bin" in names else ["lon", "lat"]
        if "weekdays" in names and not ordered:
            needed = ["weekdays", *place]
        else:
            needed = ["weekday", "truck", "order" if "order" in names else "stop", *place]
        missing = [name for name in needed if name not in names]
        if missing:
            self.fail(
                where,
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: ordered "
                "rounds need weekday (Mon…Sun or 1…7), truck, stop and bin or lon and lat; "
                f"collection points need weekdays and bin or lon and lat (the header has {shown})",
            )
        self.unread = tuple(dict.fromkeys(n for n in header if n and n not in _CSV_COLUMNS))
        columns = []
        for name in sorted(names & _CSV_COLUMNS):
            at = [i for i, given in enumerate(header) if given == name]
            if len(at) > 1:
                self.fail(where, f"has {len(at)} columns named {name}: keep one")
            columns.append(("stop" if name == "order" else name, at[0]))
        return columns

    # --- one stop, from any format ----------------------------------------------------------

    def _stop_row(
        self,
        where: str,
        values: dict[str, Any],
        *,
        kind: Any = "",
        lonlat: tuple[Any, Any] | None = None,
        default_day: Any = None,
        default_truck: Any = None,
    ) -> None:
        """Add the stops of one row (a CSV line or a Point feature) to the table.

        ``values`` holds the row's fields by name (``order`` given as ``stop``); ``lonlat`` the
        position of a geometry, where the format has one; the defaults, a collection's own
        weekday and truck.
        """
        if isinstance(kind, str) and kind.strip().lower() == "depot":
            return  # the twin starts and ends every round at its depot itself
        unload = self._flag(where, values.get("unload")) or (
            isinstance(kind, str) and kind.strip().lower() == "disposal"
        )
        bin_id = self._bin(where, values.get("bin"))
        if bin_id.lower() == "disposal":
            unload, bin_id = True, ""
        if unload and bin_id:
            self.fail(
                where,
                f"is both bin {short_repr(bin_id)} and an unload: a row is one or the other",
            )
        if bin_id and lonlat is not None:
            lon, lat = self._position(where, *lonlat)  # checked against the bin by the twin
        elif bin_id and not (_blank(values.get("lon")) and _blank(values.get("lat"))):
            lon, lat = self._position(where, values.get("lon"), values.get("lat"))
        elif bin_id:
            lon = lat = math.nan
        elif lonlat is not None:
            lon, lat = self._position(where, *lonlat)
        elif _blank(values.get("lon")) and _blank(values.get("lat")):
            if not unload:
                self.fail(where, "has neither a bin nor a position: give bin, or lon and lat")
            lon = lat = math.nan  # an unload at the twin's own disposal site
        else:
            lon, lat = self._position(where, values.get("lon"), values.get("lat"))
        if "weekdays" in values and "weekday" not in values:
            if not _blank(values.get("stop")):
                self.fail(where, "has weekdays and a stop: give one weekday for a stop of a round")
            days = self._weekdays(where, values["weekdays"])
            given = _given(values.get("truck"), default_truck)
            truck = "" if _blank(given) else self._label(where, given)
            for day in days:
                self.stops.append((where, day, truck, -1, bin_id, lon, lat, unload))
            return
        day = self._weekday(where, _given(values.get("weekday"), default_day))
        truck_value = _given(values.get("truck"), default_truck)
        if _blank(truck_value):
            self.fail(where, "missing truck: give the truck's label (1, 2, … or A, B, …)")
        if _blank(values.get("stop")):
            self.fail(where, "missing stop: give the stop's number in its truck's round")
        truck = self._label(where, truck_value)
        order = self._whole(where, values["stop"], "stop")
        self.stops.append((where, day, truck, order, bin_id, lon, lat, unload))

    def _weekday(self, where: str, value: Any) -> int:
        if _blank(value):
            self.fail(where, f"missing weekday: {_DAYS_HINT}")
        day = _day(value)
        if day is None:
            self.fail(where, f"unknown weekday {short_repr(value)}: {_DAYS_HINT}")
        return day

    def _weekdays(self, where: str, value: Any) -> list[int]:
        if isinstance(value, list):
            given = value
        elif isinstance(value, str):
            given = [part for part in _DAYS_SEPARATOR.split(value) if part]
        else:
            given = [value]
        if not given or all(_blank(part) for part in given):
            self.fail(where, f"missing weekdays: {_DAYS_HINT}, several as Mon;Thu")
        days: list[int] = []
        for part in given:
            day = self._weekday(where, part)
            if day in days:
                self.fail(
                    where,
                    f"weekdays {short_repr(value)} give {WEEKDAYS[day]} twice: name each day once",
                )
            days.append(day)
        return days

    def _position(self, where: str, lon: Any, lat: Any) -> tuple[float, float]:
        if _blank(lon) or _blank(lat):
            self.fail(where, "gives lon or lat but not both: give both, or a bin")
        return (
            self._coordinate(where, "lon", lon, 180.0),
            self._coordinate(where, "lat", lat, 90.0),
        )

    def _coordinate(self, where: str, name: str, value: Any, limit: float) -> float:
        number = None
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if number is None:
            self.fail(
                where,
                f"{name} {short_repr(value)} is not a number: give decimal degrees (WGS84, "
                "as 24.94)",
            )
        if not -limit <= number <= limit:  # NaN fails this too
            self.fail(
                where,
                f"{name} {short_repr(value)} is out of range: give degrees between -{limit:.0f} "
                f"and {limit:.0f} (WGS84; are lon and lat swapped?)",
            )
        return number

    def _whole(self, where: str, value: Any, name: str) -> int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            number = int(value)
        elif isinstance(value, float | str) and not isinstance(value, bool):
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            # spreadsheets and pandas write whole numbers as 3.0
            if math.isfinite(as_float) and as_float.is_integer():
                number = int(as_float)
        if number is None or abs(number) > 2**62:
            self.fail(
                where,
                f"{name} {short_repr(value)} is not a whole number: number the stops in "
                "driving order (1, 2, 3, …)",
            )
        return int(number)

    def _label(self, where: str, value: Any) -> str:
        text = _as_label(value)
        if text is None:
            self.fail(where, f"truck {short_repr(value)} is not a label: give text or a number")
        return text

    def _bin(self, where: str, value: Any) -> str:
        if _blank(value):
            return ""
        text = _as_label(value)
        if text is None:
            self.fail(
                where, f"bin {short_repr(value)} is not a bin id: give text or a whole number"
            )
        return text

    def _flag(self, where: str, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        self.fail(where, f"unload {short_repr(value)} is not yes or no: give 1/true/yes or 0/no")

    # --- GeoJSON ----------------------------------------------------------------------------

    def _geojson(self, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            self.fail(
                f"line {error.lineno}",
                f"not valid JSON ({error.msg}, column {error.colno}): fix the file or export it "
                "again",
            )
        except (ValueError, RecursionError) as error:
            self.fail(None, f"not valid JSON ({short_repr(str(error))}): export it again")
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            what = (
                (f"a {short_repr(data['type'])}" if "type" in data else "an object without a type")
                if isinstance(data, dict)
                else f"a JSON {type(data).__name__}"
            )
            self.fail(None, f"is {what}, not a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list):
            self.fail(None, "its FeatureCollection has no list of features: add one")
        default_day, default_truck = data.get("weekday"), data.get("truck")
        props = [
            f.get("properties") if isinstance(f, dict) and isinstance(f.get("properties"), dict)
            else {}
            for f in features
        ]  # fmt: skip
        if (
            features
            and _blank(default_day)
            and not any("weekday" in p or "weekdays" in p for p in props)
        ):
            self.fail(
                "feature 1",
                "missing weekday, in every feature (the twin's field documents carry none): add "
                'a weekday property to each feature ("weekday": "Mon"), or one "weekday" member '
                "to the FeatureCollection for all of them",
            )
        for number, (feature, properties) in enumerate(zip(features, props, strict=True), 1):
            where = f"feature {number}"
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                self.fail(where, "is not a GeoJSON Feature: give type Feature and a geometry")
            geometry = feature.get("geometry")
            if not isinstance(geometry, dict):
                self.fail(where, "has no geometry: give a Point (a stop) or a LineString (a path)")
            shape, coordinates = geometry.get("type"), geometry.get("coordinates")
            if shape == "Point":
                if not isinstance(coordinates, list) or len(coordinates) < 2:
                    self.fail(where, "its Point has no [lon, lat] coordinates: give them")
                values = {("stop" if k == "order" else k): v for k, v in properties.items()}
                if "stop" in properties and "order" in properties:
                    self.fail(where, "has both stop and order: keep one (the stop number)")
                if "weekday" in values and "weekdays" in values:
                    self.fail(where, "has both weekday and weekdays: keep one")
                self._stop_row(
                    where,
                    values,
                    kind=properties.get("kind", ""),
                    lonlat=(coordinates[0], coordinates[1]),
                    default_day=default_day,
                    default_truck=default_truck,
                )
            elif shape in ("LineString", "MultiLineString"):
                parts = [coordinates] if shape == "LineString" else coordinates
                if not isinstance(parts, list) or not all(isinstance(p, list) for p in parts):
                    self.fail(where, f"its {shape} has no list of coordinates: give one")
                points = []
                for point in (point for part in parts for point in part):
                    if not isinstance(point, list) or len(point) < 2:
                        self.fail(
                            f"{where} point {len(points) + 1}",
                            f"{short_repr(point)} is not [lon, lat]: give both",
                        )
                    points.append((point[0], point[1]))
                self._track(
                    where,
                    _given(properties.get("weekday"), default_day),
                    _given(properties.get("truck"), default_truck),
                    points,
                )
            else:
                self.fail(
                    where,
                    f"geometry {short_repr(shape)} is not read: give Point features for stops "
                    "and LineString features for paths driven",
                )

    def _track(self, where: str, weekday: Any, truck: Any, points: list[tuple[Any, Any]]) -> None:
        day = self._weekday(where, weekday)
        if _blank(truck):
            self.fail(where, "missing truck: give the label of the truck that drove it")
        label = self._label(where, truck)
        if not points:
            self.fail(where, "the path has no points: give at least one, or leave it out")
        lonlat = np.empty((len(points), 2))
        for i, (lon, lat) in enumerate(points):
            lonlat[i] = self._position(f"{where} point {i + 1}", lon, lat)
        self.tracks.append((where, day, label, lonlat))

    # --- GPX --------------------------------------------------------------------------------

    def _gpx(self, data: bytes, text: str) -> None:
        """The routes and tracks of GPX ``data`` (its ``text``, checked as UTF-8)."""
        if (found := _DECLARATION.search(text)) is not None:
            line = text.count("\n", 0, found.start()) + 1
            self.fail(
                f"line {line}",
                f"holds a <!{found.group(1).upper()} declaration, which GPX never needs and "
                "which can expand to gigabytes: remove it",
            )
        try:
            # UTF-8 whatever the declaration says: the file was checked as UTF-8, and a declared
            # encoding Python does not know would fail outside ParseError
            parser = ElementTree.XMLParser(encoding="utf-8")
            parser.feed(data)
            root = parser.close()
        except ElementTree.ParseError as error:
            line, column = error.position
            reason = str(error).split(":")[0]  # the rest repeats the line and column
            self.fail(
                f"line {line}",
                f"not well-formed XML ({reason}, column {column + 1}): export it again",
            )
        namespace, _, tag = (
            root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
        )
        if tag != "gpx" or (namespace and namespace not in GPX_NAMESPACES):
            self.fail(None, f"its root element is {short_repr(root.tag)}, not a GPX 1.1 <gpx>")

        def q(name: str) -> str:
            return f"{{{namespace}}}{name}" if namespace else name

        rounds: dict[tuple[int, str], str] = {}
        for number, route in enumerate(root.findall(q("rte")), 1):
            where, day, truck = self._named(route, f"route {number}", q)
            if (day, truck) in rounds:
                self.fail(
                    where,
                    f"is truck {short_repr(truck)} on {WEEKDAYS[day]}, as {rounds[day, truck]} "
                    "is: give each truck one route a day",
                )
            rounds[day, truck] = where
            points = route.findall(q("rtept"))
            if not points:
                self.fail(where, "has no <rtept> points: give the stops, or leave it out")
            for order, point in enumerate(points):
                at = f"{where} point {order + 1}"
                kind = (point.findtext(q("type")) or "").strip().lower()
                unload = "1" if kind in ("disposal", "unload") else ""
                self._stop_row(
                    at,
                    {"weekday": WEEKDAYS[day], "truck": truck, "stop": order, "unload": unload},
                    kind=kind,
                    lonlat=(point.get("lon"), point.get("lat")),
                )
        for number, track in enumerate(root.findall(q("trk")), 1):
            where, day, truck = self._named(track, f"track {number}", q)
            points = [
                (point.get("lon"), point.get("lat"))
                for segment in track.findall(q("trkseg"))
                for point in segment.findall(q("trkpt"))
            ]
            self._track(where, WEEKDAYS[day], truck, points)

    def _named(self, element: ElementTree.Element, where: str, q: Any) -> tuple[str, int, str]:
        """The element's label for messages, and the weekday and truck its name gives."""
        name = (element.findtext(q("name")) or "").strip()
        desc = (element.findtext(q("desc")) or "").strip()
        where = f"{where} ({short_repr(name)})" if name else where
        said = f"its <name> {short_repr(name)} names none" if name else "it has no <name>"
        example = "<name>Truck 1 Mon</name> (the truck and the day)"
        days = {d for text in (name, desc) for d in (_day(m) for m in _DAY_WORD.findall(text))}
        if len(days) > 1:
            self.fail(where, f"its name gives {len(days)} weekdays: give one, as {example}")
        if not days:
            self.fail(where, f"missing weekday: {said}; name one, as {example}")
        trucks = [m.rstrip(".") for text in (name, desc) for m in _TRUCK_WORD.findall(text)]
        if not trucks or not trucks[0]:
            self.fail(where, f"missing truck: {said}; name one, as {example}")
        return where, days.pop(), trucks[0]

    # --- checks across rows, and the table --------------------------------------------------

    def _check_overlaps(self) -> None:
        numbered: dict[tuple[int, str, int], str] = {}
        emptied: dict[tuple[int, str], str] = {}
        for where, day, truck, order, bin_id, *_ in self.stops:
            if order >= 0 and (first := numbered.setdefault((day, truck, order), where)) != where:
                self.fail(
                    f"{first} and {where}",
                    f"both are stop {order} of truck {short_repr(truck)} on "
                    f"{WEEKDAYS[day]}: number each stop of a round once",
                )
            if bin_id and (first := emptied.setdefault((day, bin_id), where)) != where:
                self.fail(
                    f"{first} and {where}",
                    f"both collect bin {short_repr(bin_id)} on {WEEKDAYS[day]}: rounds overlap; "
                    "a bin is emptied once a day, so remove one",
                )

    def _table(self) -> RoundsTable:
        rows = sorted(
            enumerate(self.stops),
            key=lambda item: (item[1][1], _truck_key(item[1][2]), item[1][3], item[0]),
        )
        columns = list(zip(*(row for _, row in rows), strict=True)) or [()] * 8
        stops = pd.DataFrame(
            {
                "source": pd.Series(columns[0], dtype=object),
                "weekday": np.asarray(columns[1], dtype=np.int64),
                "truck": pd.Series(columns[2], dtype=object),
                "order": np.asarray(columns[3], dtype=np.int64),
                "bin": pd.Series(columns[4], dtype=object),
                "lon": np.asarray(columns[5], dtype=float),
                "lat": np.asarray(columns[6], dtype=float),
                "unload": np.asarray(columns[7], dtype=bool),
            }
        )
        paths = np.empty(len(self.tracks), dtype=object)
        for i, (*_, lonlat) in enumerate(self.tracks):
            paths[i] = lonlat
        tracks = pd.DataFrame(
            {
                "source": pd.Series([t[0] for t in self.tracks], dtype=object),
                "weekday": np.asarray([t[1] for t in self.tracks], dtype=np.int64),
                "truck": pd.Series([t[2] for t in self.tracks], dtype=object),
                "lonlat": pd.Series(paths, dtype=object),
            }
        )
        forms = {"stops" if order >= 0 else "points" for order in stops["order"]}
        form = forms.pop() if len(forms) == 1 else "mixed" if forms else "tracks"
        return RoundsTable(
            path=self.path, stops=stops, tracks=tracks, form=form, unread=self.unread
        )


def _as_label(value: Any) -> str | None:
    """Text or a whole number as a label (``3.0`` reads ``"3"``); ``None`` for anything else."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _given(value: Any, default: Any) -> Any:
    return default if _blank(value) else value


def _day(value: Any) -> int | None:
    """Weekday number (Monday = 0) of a name or ISO number (1 = Monday); None if it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value - 1 if 1 <= value <= 7 else None
    if isinstance(value, str):
        return _DAY_NUMBERS.get(value.strip().lower())
    return None


def _truck_key(label: str) -> tuple[int, int, str]:
    # trucks 1, 2, …, 10 in that order; int() of a huge or non-ASCII digit string would fail
    if label.isascii() and label.isdigit() and len(label) < 19:
        return (1, int(label), label)
    return (0 if not label else 2, 0, label)
