"""YAML from users is read within bounds: a few hundred bytes of nested aliases ("billion
laughs") are refused at once, by every reader, in one line that quotes none of it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, run_twin
from twin import ScenarioError, load_scenario
from twin.sweep import load_sweep
from twin.yamlsafe import MAX_BYTES, MAX_VALUES, read_yaml


def _laughs() -> str:
    # nine levels of nine references: 9**9 ≈ 387 million strings once the aliases are expanded
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "name: laughs\ncity: helsinki\n" + "\n".join(lines) + "\ntraffic: {trips: *a9}\n"


@pytest.fixture
def laughs(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs())
    assert path.stat().st_size < 1000
    return path


_MEASURE = """
import json, re, sys, time
from twin import load_scenario, TwinError
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
open("/proc/self/clear_refs", "w").write("5")
before, started = peak(), time.perf_counter()
try:
    load_scenario(sys.argv[1])
    message = None
except TwinError as err:
    message = str(err)
print(json.dumps({"seconds": time.perf_counter() - started, "bytes": peak() - before,
                  "message": message}))
"""


def test_billion_laughs_are_refused_in_under_a_second_and_100_mb(laughs):
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(laughs)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["message"] == (
        f"{laughs}: with its aliases (*name) written out this scenario file holds more than "
        f"{MAX_VALUES:,} values: write the values out, or use fewer nested aliases."
    )
    assert outcome["seconds"] < 1.0 and outcome["bytes"] < 100 * 2**20


@pytest.mark.parametrize("command", [("scenario", "check"), ("run",)])
def test_the_command_line_refuses_them_in_one_line_and_writes_nothing(laughs, tmp_path, command):
    out = tmp_path / "out"
    args = [*command, str(laughs)] + (["--out", str(out)] if command == ("run",) else [])
    result = run_twin(*args, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "holds more than" in line and "lol" not in line
    assert not out.exists()


def test_a_sweep_file_of_laughs_is_refused(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(_laughs().replace("traffic: {trips: *a9}", "grid: {traffic.trips: *a9}"))
    with pytest.raises(ScenarioError, match="holds more than"):
        load_sweep(path)


def test_a_few_anchors_still_read(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: anchors\ncity: helsinki\n"
        "traffic: &t {trips: 10, duration: 10min, close: &c [25291550-25291565]}\n"
    )
    assert load_scenario(path).traffic.close == ["25291550-25291565"]


def test_a_file_too_large_or_too_deep_is_refused(tmp_path):
    large = tmp_path / "large.yaml"
    large.write_text("name: large\ncity: helsinki\ndescription: " + "x" * MAX_BYTES + "\n")
    with pytest.raises(ScenarioError, match="is too large to be one"):
        load_scenario(large)
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\ncity: helsinki\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError, match="nested too deeply"):
        load_scenario(deep)


def test_a_long_bad_value_is_quoted_short(tmp_path):
    path = tmp_path / "long.yaml"
    scenario = {
        "name": "long",
        "city": "helsinki",
        "traffic": {"trips": 10, "duration": "9" * 10_000},
    }
    path.write_text(yaml.safe_dump(scenario))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    (line,) = str(err.value).splitlines()
    assert len(line) < 300 + len(str(path)) and "…" in line


def test_a_long_extends_is_quoted_short(tmp_path):
    # 50,000 paths where one is wanted: below the alias bound, yet 600 kB written out
    path = tmp_path / "extends.yaml"
    paths = ", ".join(["base.yaml"] * 50_000)
    path.write_text(f"name: extends\ncity: helsinki\nextends: [{paths}]\n")
    with pytest.raises(ScenarioError, match="give one file path") as err:
        load_scenario(path)
    (line,) = str(err.value).splitlines()
    assert len(line) < 300 + len(str(path)) and "a list of 50000 items" in line


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    # PyYAML keeps the last of two keys silently: the first block's duration would be lost
    twice = tmp_path / "twice.yaml"
    twice.write_text(
        "name: twice\ncity: helsinki\ntraffic: {trips: 100, duration: 10min}\n"
        "waste: {days: 2}\ntraffic: {trips: 5000}\n"
    )
    with pytest.raises(ScenarioError) as refused:
        load_scenario(twice)
    assert str(refused.value) == (
        f"{twice}:5: 'traffic' is given twice (first on line 3): YAML keeps only the last, so "
        "the first would be silently dropped; merge them into one."
    )
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: n\ncity: helsinki\ntraffic:\n  trips: 10\n  trips: 20\n")
    with pytest.raises(ScenarioError, match=r"nested.yaml:5: 'trips' is given twice \(first on"):
        load_scenario(nested)
    # the same key in two mappings, and a merge key beside its own keys, are not twice
    fine = tmp_path / "fine.yaml"
    fine.write_text(
        "name: fine\ncity: helsinki\nbase: &b {days: 2}\n"
        "traffic: {trips: 10, duration: 10min}\nwaste: {<<: *b, days: 3}\n"
    )
    read = read_yaml(fine, error=ScenarioError, what="scenario file")
    assert read.data["waste"] == {"days": 3} and read.data["traffic"]["trips"] == 10
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: fine.yaml\nseeds: [0]\nseeds: [1]\n")
    with pytest.raises(ScenarioError, match=r"sweep.yaml:3: 'seeds' is given twice"):
        load_sweep(sweep)


def test_a_device_or_a_pipe_is_refused_without_reading_it(tmp_path):
    """/dev/zero reports no size and never ends (it read until memory ran out, then advised a
    smaller run); a pipe waits for a writer. Neither is read; a rounds file either."""
    import os
    import time

    from twin.rounds import RoundsFileError, read_rounds

    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    rounds = tmp_path / "pipe.csv"
    os.mkfifo(rounds)
    started = time.monotonic()
    for path in (zero, pipe):
        with pytest.raises(ScenarioError, match="not a regular file"):
            load_scenario(path)
    with pytest.raises(RoundsFileError, match="not a regular file"):
        read_rounds(rounds)
    assert time.monotonic() - started < 5
    refused = run_twin("scenario", "check", "--shallow", str(zero), timeout=60)
    assert refused.returncode == 1 and "not a regular file" in refused.stderr
