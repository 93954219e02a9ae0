"""A city's current collection rounds read from CSV, GeoJSON and GPX (the twin's own field
documents among them), and every bad file refused with a message naming the row and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twin.errors import TwinError
from twin.field_docs import _route_sheets
from twin.rounds import STOP_COLUMNS, TRACK_COLUMNS, WEEKDAYS, RoundsFileError, read_rounds

GPX11 = "http://www.topografix.com/GPX/1/1"
GPX10 = "http://www.topografix.com/GPX/1/0"


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(RoundsFileError) as caught:
        read_rounds(path)
    message = str(caught.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def _rows(table, *columns):
    return [tuple(row) for row in table.stops[list(columns)].itertuples(index=False)]


def _gpx(body: str, namespace: str | None = GPX11) -> str:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1"{xmlns}>\n{body}\n</gpx>\n'


def _feature(geometry: str, coordinates, **properties) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": geometry, "coordinates": coordinates},
        "properties": properties,
    }


def _collection(*features, **members) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": list(features)})


# --- each format, read to known values --------------------------------------------------------


def test_weekdays_are_numbered_from_monday():
    assert WEEKDAYS == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert issubclass(RoundsFileError, TwinError)


def test_csv_ordered_stops_read_in_round_order(tmp_path):
    path = _write(
        tmp_path,
        "rounds.csv",
        "weekday,truck,stop,bin,lon,lat,unload,notes\n"
        "Mon,1,2,B7,,,,corner shop\n"
        "monday,1,1,,24.9,60.1,,\n"
        "1,2,5,DISPOSAL,,,,\n"
        "TUESDAY,A,0,,24.95,60.2,yes,tip\n"
        "mon,1,3,B8,24.93,60.15,0,a bin with its position: both kept\n"
        "7,10,1,B9,,,,\n"
        "Sun,2,4,B10,,,,\n",
    )
    table = read_rounds(path)
    assert table.path == path and table.form == "stops"
    assert tuple(table.stops.columns) == STOP_COLUMNS
    assert tuple(table.tracks.columns) == TRACK_COLUMNS and table.tracks.empty
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "unload") == [
        ("line 3", 0, "1", 1, "", False),
        ("line 2", 0, "1", 2, "B7", False),
        ("line 6", 0, "1", 3, "B8", False),
        ("line 4", 0, "2", 5, "", True),
        ("line 5", 1, "A", 0, "", True),
        ("line 8", 6, "2", 4, "B10", False),  # trucks in number order: 2 before 10
        ("line 7", 6, "10", 1, "B9", False),
    ]
    lon, lat = table.stops["lon"].to_numpy(), table.stops["lat"].to_numpy()
    assert lon[0] == 24.9 and lat[0] == 60.1 and (lon[4], lat[4]) == (24.95, 60.2)
    assert (lon[2], lat[2]) == (24.93, 60.15)  # the twin checks the bin stands there
    assert np.isnan(lon[[1, 3, 5, 6]]).all() and np.isnan(lat[[1, 3, 5, 6]]).all()
    dtypes = table.stops.dtypes
    assert (dtypes["weekday"], dtypes["order"], dtypes["unload"]) == (np.int64, np.int64, bool)
    # a column the twin does not read is said by a run, not dropped without a word
    assert table.unread == ("notes",)
    assert table.unread_note() == (
        "rounds.csv: column 'notes' is not read; the twin drives weekday (or weekdays), truck, "
        "stop (or order), bin or lon and lat, and unload (or kind) only. Rename a column meant "
        "as one of those."
    )


def test_csv_takes_order_for_stop_a_semicolon_separator_and_leading_comments(tmp_path):
    path = _write(
        tmp_path,
        "rounds.csv",
        "# exported from the depot's planner\n"
        "\n"
        "Weekday;Truck;Order;Lon;Lat\n"
        "Wed;B;7;24.5;60.1\n"
        "Wed;B;-2;25.0;60.0\n"
        "\n"
        "Wed;B;3.0;25.5;60.5\n",
    )
    table = read_rounds(path)
    assert table.unread == () and table.unread_note() is None
    assert _rows(table, "source", "weekday", "truck", "order", "lon", "lat") == [
        ("line 5", 2, "B", -2, 25.0, 60.0),
        ("line 7", 2, "B", 3, 25.5, 60.5),
        ("line 4", 2, "B", 7, 24.5, 60.1),
    ]


def test_csv_collection_points_give_one_row_per_weekday(tmp_path):
    path = _write(
        tmp_path,
        "points.csv",
        "bin,weekdays,lon,lat\nB1,Mon;Thu,,\n,tue / FRIDAY,24.9,60.2\nB2,1+3 7,,\n",
    )
    table = read_rounds(path)
    assert table.form == "points" and table.tracks.empty
    assert _rows(table, "source", "weekday", "truck", "order", "bin") == [
        ("line 2", 0, "", -1, "B1"),
        ("line 4", 0, "", -1, "B2"),
        ("line 3", 1, "", -1, ""),
        ("line 4", 2, "", -1, "B2"),
        ("line 2", 3, "", -1, "B1"),
        ("line 3", 4, "", -1, ""),
        ("line 4", 6, "", -1, "B2"),
    ]
    assert table.stops.loc[table.stops["source"] == "line 3", "lon"].tolist() == [24.9, 24.9]


def test_geojson_stops_points_and_tracks(tmp_path):
    path = _write(
        tmp_path,
        "rounds.geojson",
        _collection(
            _feature("Point", [24.9, 60.1, 12.0], weekday="Mon", truck=1, stop=2),
            _feature("Point", [24.8, 60.0], weekday=1, truck=1, order=1, bin=17),
            _feature("Point", [24.7, 60.3], weekday="mon", truck="1", stop=3, unload=True),
            _feature("Point", [25.0, 61.0], weekdays=["Tue", "Sat"], bin="X9"),
            _feature("LineString", [[24.8, 60.0], [24.9, 60.1, 3.0]], weekday="Mon", truck=1),
            _feature("MultiLineString", [[[1, 2], [3, 4]], [[5, 6]]], weekday=2, truck="A"),
        ),
    )
    table = read_rounds(path)
    assert table.form == "mixed"
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "unload") == [
        ("feature 2", 0, "1", 1, "17", False),
        ("feature 1", 0, "1", 2, "", False),
        ("feature 3", 0, "1", 3, "", True),
        ("feature 4", 1, "", -1, "X9", False),
        ("feature 4", 5, "", -1, "X9", False),
    ]
    stops = table.stops
    assert (stops["lon"][1], stops["lat"][1], stops["lon"][2]) == (24.9, 60.1, 24.7)
    # a bin id with its point: both kept, for the twin to check that the bin stands there
    assert (stops["lon"][0], stops["lat"][0], stops["lon"][3]) == (24.8, 60.0, 25.0)
    assert table.tracks[["source", "weekday", "truck"]].values.tolist() == [
        ["feature 5", 0, "1"],
        ["feature 6", 1, "A"],
    ]
    np.testing.assert_array_equal(table.tracks["lonlat"][0], [[24.8, 60.0], [24.9, 60.1]])
    np.testing.assert_array_equal(table.tracks["lonlat"][1], [[1, 2], [3, 4], [5, 6]])
    assert table.tracks["lonlat"][1].dtype == float


def test_a_file_of_tracks_only(tmp_path):
    path = _write(
        tmp_path,
        "driven.json",
        _collection(_feature("LineString", [[24.8, 60.0], [24.9, 60.1]]), weekday="Fri", truck=3),
    )
    table = read_rounds(path)
    assert table.form == "tracks" and table.stops.empty
    assert tuple(table.stops.columns) == STOP_COLUMNS
    assert table.tracks[["weekday", "truck"]].values.tolist() == [[4, "3"]]


@pytest.mark.parametrize("namespace", [GPX11, GPX10, None])
def test_gpx_routes_are_rounds_and_tracks_joined(tmp_path, namespace):
    body = """
    <rte><name>truck 1 Mon</name>
      <rtept lat="60.1" lon="24.9"><name>first</name></rtept>
      <rtept lat="60.2" lon="24.8"><type>disposal</type></rtept>
      <rtept lat="60.3" lon="24.7"/>
    </rte>
    <rte><name>Truck A, Tuesday</name><rtept lat="-33.9" lon="151.2"/></rte>
    <rte><desc>Monday truck 2</desc><rtept lat="1" lon="2"/></rte>
    <trk><name>Round</name><desc>truck 1 mon</desc>
      <trkseg><trkpt lat="60.1" lon="24.9"/><trkpt lat="60.2" lon="24.8"/></trkseg>
      <trkseg><trkpt lat="60.3" lon="24.7"/></trkseg>
    </trk>"""
    table = read_rounds(_write(tmp_path, "rounds.gpx", _gpx(body, namespace)))
    assert table.form == "stops"
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "lon", "lat", "unload") == [
        ("route 1 ('truck 1 Mon') point 1", 0, "1", 0, "", 24.9, 60.1, False),
        ("route 1 ('truck 1 Mon') point 2", 0, "1", 1, "", 24.8, 60.2, True),
        ("route 1 ('truck 1 Mon') point 3", 0, "1", 2, "", 24.7, 60.3, False),
        ("route 3 point 1", 0, "2", 0, "", 2.0, 1.0, False),
        ("route 2 ('Truck A, Tuesday') point 1", 1, "A", 0, "", 151.2, -33.9, False),
    ]
    assert table.tracks[["source", "weekday", "truck"]].values.tolist() == [
        ["track 1 ('Round')", 0, "1"]
    ]
    np.testing.assert_array_equal(
        table.tracks["lonlat"][0], [[24.9, 60.1], [24.8, 60.2], [24.7, 60.3]]
    )


# --- the twin's own field documents -----------------------------------------------------------


@pytest.fixture
def field_documents(tmp_path):
    """Route sheets of one truck as :mod:`twin.field_docs` writes them: depot, two bins, the
    tip, depot."""
    kinds = [("depot", None), ("bin", 3), ("bin", 5), ("disposal", None), ("depot", None)]
    stops = [
        {"truck": 1, "order": order, "kind": kind, "bin": bin_id, "node": 100 + order,
         "lon": 24.9 + order / 100, "lat": 60.1 + order / 100, "arrive_s": 60.0 * order,
         "load_kg": 10.0 * order, "km": 0.5 * order}
        for order, (kind, bin_id) in enumerate(kinds)
    ]  # fmt: skip
    paths = {"1": [[24.9, 60.1], [24.95, 60.12], [24.94, 60.14]]}
    header = {"label": "Proposed by pyvrp (no model)", "approval": "Approved by ann on today",
              "provenance": {"planner": "pyvrp", "kind": "collection-routes"}}  # fmt: skip
    folder = tmp_path / "docs"
    folder.mkdir()
    _route_sheets(folder, stops, paths, header)
    return folder


def test_field_document_stops_csv_reads_once_it_has_a_weekday(field_documents):
    path = field_documents / "stops.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header_line = next(i for i, line in enumerate(lines, 1) if not line.startswith("#"))
    _refused(path, f"line {header_line}", "missing column weekday", "Mon…Sun")
    lines = [
        line if line.startswith("#") else f"{line},{'weekday' if i == header_line else 'Thu'}"
        for i, line in enumerate(lines, 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_rounds(path)
    first = header_line + 1
    assert table.form == "stops"
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "unload") == [
        (f"line {first + 1}", 3, "1", 1, "3", False),
        (f"line {first + 2}", 3, "1", 2, "5", False),
        (f"line {first + 3}", 3, "1", 3, "", True),  # the tip; the depot rows are left out
    ]
    assert tuple(table.stops.iloc[2][["lon", "lat"]]) == pytest.approx((24.93, 60.13))


def test_field_document_geojson_asks_for_a_weekday_and_then_reads(field_documents):
    path = field_documents / "truck-1.geojson"
    _refused(path, "feature 1", "missing weekday", "add a weekday property")
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "weekday": "Sat"}))
    table = read_rounds(path)
    assert table.form == "stops"
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "unload") == [
        ("feature 3", 5, "1", 1, "3", False),
        ("feature 4", 5, "1", 2, "5", False),
        ("feature 5", 5, "1", 3, "", True),
    ]
    assert table.tracks[["source", "weekday", "truck"]].values.tolist() == [["feature 1", 5, "1"]]
    assert table.tracks["lonlat"][0].shape == (3, 2)


def test_field_document_gpx_asks_for_a_weekday_in_the_name_and_then_reads(field_documents):
    path = field_documents / "truck-1.gpx"
    _refused(path, "route 1 ('Truck 1: stops in driving order')", "missing weekday", "Truck 1 Mon")
    path.write_text(path.read_text(encoding="utf-8").replace("Truck 1:", "Truck 1 Wednesday:"))
    table = read_rounds(path)
    where = "route 1 ('Truck 1 Wednesday: stops in driving order') point"
    assert _rows(table, "source", "weekday", "truck", "order", "bin", "unload") == [
        (f"{where} 2", 2, "1", 1, "", False),
        (f"{where} 3", 2, "1", 2, "", False),
        (f"{where} 4", 2, "1", 3, "", True),
    ]
    assert table.stops["lon"].tolist() == pytest.approx([24.91, 24.92, 24.93])
    assert table.tracks[["weekday", "truck"]].values.tolist() == [[2, "1"]]
    path_driven = [[24.9, 60.1], [24.95, 60.12], [24.94, 60.14]]
    np.testing.assert_allclose(table.tracks["lonlat"][0], path_driven)


# --- bad files --------------------------------------------------------------------------------

HEAD = "weekday,truck,stop,bin,lon,lat\n"

BAD_CSV = {
    "no weekday": (HEAD + "Mon,1,1,B1,,\n,1,2,B2,,\n", ["line 3", "missing weekday"]),
    "unknown weekday": (HEAD + "Funday,1,1,B1,,\n", ["line 2", "unknown weekday", "'Funday'"]),
    "weekday zero": (HEAD + "0,1,1,B1,,\n", ["line 2", "unknown weekday", "'0'"]),
    "weekday eight": (HEAD + "8,1,1,B1,,\n", ["line 2", "unknown weekday"]),
    "lon not a number": (HEAD + "Mon,1,1,,east,60\n", ["line 2", "lon 'east'", "not a number"]),
    "lat out of range": (HEAD + "Mon,1,1,,24.9,95\n", ["line 2", "lat '95'", "out of range"]),
    "lon out of range": (HEAD + "Mon,1,1,,-181,60\n", ["line 2", "lon", "out of range"]),
    "lat NaN": (HEAD + "Mon,1,1,,24.9,nan\n", ["line 2", "lat", "out of range"]),
    "half a position": (HEAD + "Mon,1,1,,24.9,\n", ["line 2", "lon or lat"]),
    "no bin or position": (HEAD + "Mon,1,1,,,\n", ["line 2", "neither a bin nor a position"]),
    "no truck": (HEAD + "Mon,,1,B1,,\n", ["line 2", "missing truck"]),
    "stop not a number": (HEAD + "Mon,1,first,B1,,\n", ["line 2", "'first'", "whole number"]),
    "stop a fraction": (HEAD + "Mon,1,1.5,B1,,\n", ["line 2", "'1.5'", "whole number"]),
    "no stop": (HEAD + "Mon,1,,B1,,\n", ["line 2", "missing stop"]),
    "stop twice": (
        HEAD + "Mon,1,1,B1,,\nMon,2,1,B2,,\nmonday,1,1,B3,,\n",
        ["line 2 and line 4", "stop 1", "'1'", "Mon"],
    ),
    "bin twice a day": (
        HEAD + "Tue,1,1,B1,,\nTue,2,1,B1,,\n",
        ["line 2 and line 3", "bin 'B1'", "Tue", "overlap"],
    ),
    "points bin twice a day": (
        "bin,weekdays\nB1,Mon;Thu\nB1,thursday\n",
        ["line 2 and line 3", "bin 'B1'", "Thu", "overlap"],
    ),
    "day repeated": ("bin,weekdays\nB1,Mon;Fri\nB2,Mon;mon\n", ["line 3", "'Mon;mon'", "twice"]),
    "no weekdays": ("bin,weekdays\nB1, ; \n", ["line 2", "missing weekdays"]),
    "unknown unload": (HEAD[:-1] + ",unload\nMon,1,1,,1,1,maybe\n", ["line 2", "unload"]),
    "bin and unload": (HEAD[:-1] + ",unload\nMon,1,1,B1,,,yes\n", ["line 2", "unload"]),
    "missing columns": ("weekday,truck,bin,colour\nMon,1,B1,red\n", ["line 1", "stop", "'colour'"]),
    "no place": ("weekday,truck,stop,lon\nMon,1,1,24\n", ["line 1", "lat"]),
    "weekday and weekdays": ("weekday,weekdays,bin\nMon,Mon,B1\n", ["line 1", "weekdays"]),
    "weekdays and stop": ("weekdays,truck,stop,bin\nMon,1,1,B1\n", ["line 1", "weekdays"]),
    "stop and order": (HEAD[:-1] + ",order\nMon,1,1,B1,,,1\n", ["line 1", "order"]),
    "column twice": ("weekday,truck,stop,bin,BIN\nMon,1,1,B1,B2\n", ["line 1", "bin"]),
    "too many fields": (HEAD + "Mon,1,1,B1,,,extra\n", ["line 2", "7 fields"]),
    "header only": (HEAD, ["line 1", "no rows"]),
    "comments only": ("# nothing here\n", ["no header"]),
    "depot only": ("weekday,truck,stop,kind,lon,lat\nMon,1,0,depot,1,1\n", ["no stops"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_a_bad_csv_is_refused_naming_the_row(tmp_path, case):
    text, words = BAD_CSV[case]
    _refused(_write(tmp_path, "rounds.csv", text), *words)


STOP = {"weekday": "Mon", "truck": 1, "stop": 1}

BAD_GEOJSON = {
    "not JSON": ('{"type": "FeatureCollection",\n "features": [}', ["line 2", "not valid JSON"]),
    "not a collection": (json.dumps(_feature("Point", [1, 2])), ["'Feature'", "FeatureCollection"]),
    "no features": ('{"type": "FeatureCollection"}', ["list of features"]),
    # once "is a None"
    "an object without a type": ('{"a": 1}', ["is an object without a type", "FeatureCollection"]),
    "a list": ("[1, 2]", ["is a JSON list, not a GeoJSON FeatureCollection"]),
    "empty": (_collection(), ["no stops and no tracks"]),
    "one without a weekday": (
        _collection(_feature("Point", [1, 2], **STOP), _feature("Point", [1, 2], truck=1, stop=2)),
        ["feature 2", "missing weekday"],
    ),
    "lat out of range": (
        _collection(_feature("Point", [24.9, 91], **STOP)),
        ["feature 1", "lat 91", "out of range"],
    ),
    "no coordinates": (_collection(_feature("Point", [], **STOP)), ["feature 1", "[lon, lat]"]),
    "polygon": (
        _collection(_feature("Point", [1, 2], **STOP), _feature("Polygon", [], **STOP)),
        ["feature 2", "'Polygon'"],
    ),
    "no geometry": (
        _collection({"type": "Feature", "properties": STOP, "geometry": None}),
        ["feature 1", "no geometry"],
    ),
    "bool stop": (
        _collection(_feature("Point", [1, 2], **{**STOP, "stop": True})),
        ["feature 1", "whole number"],
    ),
    "stop twice": (
        _collection(
            _feature("Point", [1, 2], **STOP),
            _feature("Point", [1, 3], **{**STOP, "stop": 1, "truck": "1"}),
        ),
        ["feature 1 and feature 2", "stop 1"],
    ),
    "bin twice": (
        _collection(
            _feature("Point", [1, 2], **STOP, bin=4),
            _feature("Point", [1, 3], **{**STOP, "truck": 2}, bin="4"),
        ),
        ["feature 1 and feature 2", "bin '4'", "overlap"],
    ),
    "day repeated": (
        _collection(_feature("Point", [1, 2], weekdays=["Mon", "Tue", "Monday"])),
        ["feature 1", "twice"],
    ),
    "track point out of range": (
        _collection(_feature("LineString", [[1, 2], [200, 2]], weekday=1, truck=1)),
        ["feature 1 point 2", "lon 200", "out of range"],
    ),
    "track without truck": (
        _collection(_feature("LineString", [[1, 2]], weekday=1)),
        ["feature 1", "missing truck"],
    ),
    "empty track": (
        _collection(_feature("LineString", [], weekday=1, truck=1)),
        ["feature 1", "no points"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_GEOJSON))
def test_a_bad_geojson_is_refused_naming_the_feature(tmp_path, case):
    text, words = BAD_GEOJSON[case]
    _refused(_write(tmp_path, "rounds.geojson", text), *words)


ROUTE = '<rte><name>truck 1 Mon</name><rtept lat="60" lon="24"/></rte>'

BAD_GPX = {
    "doctype": (
        '<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY a "aaaa">]>\n<gpx>&a;</gpx>',
        ["line 2", "DOCTYPE", "remove it"],
    ),
    "entity": ('<?xml version="1.0"?>\n\n<!ENTITY a "x">\n<gpx/>', ["line 3", "ENTITY"]),
    "not XML": (_gpx("<rte><name>truck 1 Mon</rte>"), ["line 3", "not well-formed XML"]),
    "not GPX": ('<kml xmlns="http://www.opengis.net/kml/2.2"/>', ["root element", "kml"]),
    "no weekday": (
        _gpx('<rte><name>Truck 1</name><rtept lat="60" lon="24"/></rte>'),
        ["route 1 ('Truck 1')", "missing weekday", "Truck 1 Mon"],
    ),
    "unnamed": (_gpx('<rte><rtept lat="60" lon="24"/></rte>'), ["route 1", "no <name>"]),
    "no truck": (
        _gpx('<rte><name>Mon round</name><rtept lat="60" lon="24"/></rte>'),
        ["route 1 ('Mon round')", "missing truck"],
    ),
    "two weekdays": (
        _gpx('<rte><name>truck 1 Mon and Tue</name><rtept lat="60" lon="24"/></rte>'),
        ["route 1", "2 weekdays"],
    ),
    "lat out of range": (
        _gpx(
            '<rte><name>truck 1 Mon</name><rtept lat="60" lon="24"/>'
            '<rtept lat="-91" lon="24"/></rte>'
        ),
        ["route 1 ('truck 1 Mon') point 2", "lat '-91'", "out of range"],
    ),
    "no lat": (
        _gpx('<rte><name>truck 1 Mon</name><rtept lon="24"/></rte>'),
        ["route 1 ('truck 1 Mon') point 1", "lon or lat"],
    ),
    "no points": (_gpx("<rte><name>truck 1 Mon</name></rte>"), ["route 1", "no <rtept>"]),
    "one truck two routes a day": (
        _gpx(ROUTE + ROUTE.replace("truck 1 Mon", "Monday, Truck 1")),
        ["route 2 ('Monday, Truck 1')", "route 1", "one route a day"],
    ),
    "track without points": (
        _gpx("<trk><name>truck 2 Fri</name><trkseg/></trk>"),
        ["track 1 ('truck 2 Fri')", "no points"],
    ),
    "nothing": (_gpx(""), ["no stops and no tracks"]),
    "waypoints only": (
        _gpx('<wpt lat="60" lon="24"><name>Truck 1 Mon</name></wpt>'),
        ["no stops and no tracks", "waypoints, <wpt>, are not"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_GPX))
def test_a_bad_gpx_is_refused_naming_the_route(tmp_path, case):
    text, words = BAD_GPX[case]
    _refused(_write(tmp_path, "rounds.gpx", text), *words)


def test_a_file_that_cannot_be_read_as_rounds_is_refused(tmp_path):
    _refused(tmp_path / "absent.csv", "no such file")
    (tmp_path / "folder.csv").mkdir()
    _refused(tmp_path / "folder.csv", "folder")
    _refused(_write(tmp_path, "rounds.xlsx", "x"), "'.xlsx'", ".csv", ".geojson", ".gpx")
    _refused(_write(tmp_path, "empty.csv", ""), "empty")
    _refused(_write(tmp_path, "blank.geojson", "\n \n"), "empty")
    latin = (HEAD + "Mon,1,1,Müller,,\n").encode("latin-1")
    offset = latin.index("ü".encode("latin-1"))
    _refused(_write(tmp_path, "latin.csv", latin), "line 2", "not UTF-8", f"byte {offset} ")
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as sink:
        sink.truncate(50 * 2**20 + 1)  # sparse: no time or disk spent
    _refused(huge, "larger than 50 MB")


def test_a_byte_order_mark_and_windows_line_ends_are_read(tmp_path):
    text = (HEAD + "Mon,1,1,B1,,\nMon,1,2,B2,,\n").replace("\n", "\r\n")
    table = read_rounds(_write(tmp_path, "rounds.csv", b"\xef\xbb\xbf" + text.encode()))
    assert _rows(table, "source", "bin") == [("line 2", "B1"), ("line 3", "B2")]


def test_a_long_value_is_quoted_short(tmp_path):
    message = _refused(_write(tmp_path, "rounds.csv", HEAD + f"{'x' * 5000},1,1,B1,,\n"), "line 2")
    assert len(message) < 400 and "…" in message


def test_gpx_is_read_as_utf8_whatever_its_declaration_says(tmp_path):
    body = '<rte><name>Lörry truck Ä Sun</name><rtept lat="60" lon="24"/></rte>'
    text = _gpx(body).replace('encoding="UTF-8"', 'encoding="UT-8"')
    table = read_rounds(_write(tmp_path, "rounds.gpx", b"\xef\xbb\xbf" + text.encode()))
    assert _rows(table, "weekday", "truck") == [(6, "Ä")]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rounds.csv", HEAD + "Mon,1,1,B1,,\nTue,2,3,,24.5,60.1\n"),
        ("points.csv", "bin,weekdays,lon,lat\nB1,Mon;Thu,,\n,tue,24.9,60.2\n"),
        (
            "rounds.geojson",
            _collection(
                _feature("Point", [24.9, 60.1], weekday="Mon", truck=1, stop=2, bin=None),
                _feature("Point", [25.0, 61.0], weekdays=["Tue", "Sat"], bin="X9"),
                _feature("LineString", [[24.8, 60.0], [24.9, 60.1]], weekday="Mon", truck=1),
            ),
        ),
        (
            "rounds.gpx",
            _gpx(
                ROUTE + '<trk><name>truck 1 Mon</name><trkseg><trkpt lat="1" '
                'lon="2"/></trkseg></trk>'
            ),
        ),
    ],
    ids=["csv", "points-csv", "geojson", "gpx"],
)
def test_a_damaged_file_reads_or_is_refused_never_a_traceback(tmp_path, name, text):
    rng = np.random.default_rng(7)
    alphabet = b'\x00\xff,;"\n{}[]<>/:-19.aMonT #&'
    for attempt in range(150):
        data = bytearray(text.encode())
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(len(data)))
            if rng.random() < 0.5:
                data[at] = alphabet[rng.integers(len(alphabet))]
            else:
                del data[at : at + int(rng.integers(1, 5))]
        path = _write(tmp_path, f"{attempt}-{name}", bytes(data))
        try:
            table = read_rounds(path)
        except RoundsFileError as error:
            assert str(path) in str(error)
        else:
            assert tuple(table.stops.columns) == STOP_COLUMNS
