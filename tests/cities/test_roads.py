"""OSM tag parsing against values from the OSM wiki's maxspeed and lanes pages."""

import math

import pytest

from cities.roads import ROAD_CLASSES, defaults_fingerprint, lanes_per_direction, parse_maxspeed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("50 km/h", 50.0),
        ("30 mph", 30 * 1.609344),
        ("20mph", 20 * 1.609344),
        ("DE:urban", 50.0),
        ("RU:urban", 60.0),
        ("FR:rural", 80.0),
        ("DE:zone30", 30.0),
        ("DE:zone:30", 30.0),
        ("GB:nsl_single", 60 * 1.609344),
        ("DE:living_street", 10.0),
        ("walk", 7.0),
        ("50;30", 30.0),
        ("none", None),
        ("signals", None),
        ("variable", None),
        ("", None),
        (None, None),
        ("0", None),
        ("fast", None),
    ],
)
def test_parse_maxspeed(value, expected):
    result = parse_maxspeed(value)
    if expected is None:
        assert result is None
    else:
        assert math.isclose(result, expected)


@pytest.mark.parametrize(
    ("tags", "forward", "oneway", "expected"),
    [
        ({"lanes": "4"}, True, False, 2),
        ({"lanes": "3"}, True, False, 1),
        ({"lanes": "3"}, True, True, 3),
        ({"lanes": "4", "lanes:forward": "3", "lanes:backward": "1"}, True, False, 3),
        ({"lanes": "4", "lanes:forward": "3", "lanes:backward": "1"}, False, False, 1),
        ({"lanes": "2;3"}, True, True, 2),
        ({"lanes": "lots"}, True, True, None),
        ({}, True, False, None),
    ],
)
def test_lanes_per_direction(tags, forward, oneway, expected):
    road_class = ROAD_CLASSES["primary"]
    lanes = lanes_per_direction(tags, forward=forward, oneway=oneway, road_class=road_class)
    assert lanes == (road_class.lanes if expected is None else expected)


def test_class_defaults_are_consistent():
    for rc in ROAD_CLASSES.values():
        assert rc.min_speed_kph <= rc.speed_kph <= rc.max_speed_kph
        assert rc.lanes >= 1 and rc.capacity_per_lane_vph > 0


def test_fingerprint_is_stable_and_short():
    assert defaults_fingerprint() == defaults_fingerprint()
    assert len(defaults_fingerprint()) == 12
