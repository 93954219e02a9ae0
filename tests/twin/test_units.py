"""Durations as users type them."""

import pytest

from twin.errors import TwinError
from twin.units import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("90min", 5400), ("1h30m", 5400), ("45s", 45), ("5400", 5400), ("1.5h", 5400),
     ("2 hours", 7200), ("1h 15min 30s", 4530), (600, 600)],
)  # fmt: skip
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "two hours", "-5", "0", "1h abc"])
def test_reject(text):
    with pytest.raises(TwinError):
        parse_duration(text)
