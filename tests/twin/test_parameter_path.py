"""One parameter path: a bad value gives the same one-line message through every door — the
Python API, a YAML scenario file, the `twin` command's options, `twin run` on that file and a
sweep's overrides — and nothing is written. (The dashboard's forms: tests/dashboards/.)"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.conftest import run_twin
from twin import ScenarioError, WasteSpec, load_scenario, run_scenario, run_traffic, run_waste
from twin.sweep import load_sweep

# (section, field, value, CLI options, the message: field and problem)
BAD = [
    ("traffic", "trips", -5, ["--trips", "-5"], "traffic.trips: must be ≥ 0"),
    ("traffic", "trips", 2.5, ["--trips", "2.5"], "traffic.trips: must be a whole number"),
    ("traffic", "trips", 10**10, ["--trips", str(10**10)], "traffic.trips: must be ≤ 10,000,000"),
    (
        "traffic",
        "duration",
        "1e9",
        ["--duration", "1e9"],
        "traffic.duration: the duration must be more than 0 and at most 48 h",
    ),
    (
        "traffic",
        "duration",
        "0",
        ["--duration", "0"],
        "traffic.duration: the duration must be more than 0 and at most 48 h",
    ),
    ("traffic", "demand_scale", -1, ["--demand-scale", "-1"], "traffic.demand_scale: must be ≥ 0"),
    ("traffic", "dt_s", 0, ["--dt", "0"], "traffic.dt_s: must be > 0"),
    ("waste", "days", 0, ["--days", "0"], "waste.days: must be ≥ 1"),
    (
        "waste",
        "shift",
        8,
        ["--shift", "8"],
        "waste.shift: the shift 8 has no unit, so it reads as 8 seconds: write 8h for hours or "
        "8min for minutes (or 8s if you mean seconds)",
    ),
    ("waste", "trucks", 0, ["--trucks", "0"], "waste.trucks: must be ≥ 1"),
    (
        "waste",
        "policy",
        "weekly",
        ["--policy", "weekly"],
        "waste.policy: must be one of 'schedule', 'hand-drawn', 'current', 'threshold' or "
        "'forecast'",
    ),
    ("waste", "solver_time_s", 0, ["--solver-time", "0"], "waste.solver_time_s: must be > 0"),
    (None, "seed", -1, ["--seed", "-1"], "seed: must be ≥ 0"),
]
IDS = [f"{section or 'top'}.{field}={value}" for section, field, value, _, _ in BAD]
GOOD_SECTION = {"traffic": {"trips": 10, "duration": "10min"}, "waste": {"days": 1}}


def _core(message: str) -> str:
    """``field: problem`` without the quoted value (typer reads -1 as -1.0, YAML as -1)."""
    message = message.strip().removeprefix("error: ")
    message = re.sub(r"^\S+\.ya?ml:\d+: ", "", message)
    # the command names its option first: `--dt (traffic.dt_s): …` reads as the field's line
    message = re.sub(r"^--[\w-]+(?: #\d+)? \(([\w.]+)\): ", r"\1: ", message)
    assert "(got " in message, message
    return message[: message.index(" (got ")]


def _scenario(section: str | None, field: str, value: object) -> dict:
    scenario = {"name": "bad", "city": "helsinki", "seed": 0}
    if section is None:
        return {**scenario, field: value, "traffic": dict(GOOD_SECTION["traffic"])}
    return {**scenario, section: {**GOOD_SECTION[section], field: value}}


@pytest.fixture(scope="module")
def doors(tmp_path_factory, helsinki):
    """Every bad value through the two command-line doors at once: each process spends most
    of its time importing."""
    root = tmp_path_factory.mktemp("doors")
    jobs = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for ident, (section, field, value, options, _) in zip(IDS, BAD, strict=True):
            folder = root / ident
            folder.mkdir()
            command = section or "traffic"
            base = ["--trips", "10", "--duration", "10min"] if command == "traffic" else []
            base = [] if field in ("trips", "duration") else base
            cli = pool.submit(
                run_twin, command, "helsinki", *base, *options, "--out", str(folder / "cli")
            )
            path = folder / "bad.yaml"
            path.write_text(yaml.safe_dump(_scenario(section, field, value)))
            run = pool.submit(run_twin, "run", str(path), "--out", str(folder / "run"))
            jobs[ident] = (folder, cli, run)
        return {ident: (folder, cli.result(), run.result()) for ident, (folder, cli, run) in
                jobs.items()}  # fmt: skip


@pytest.mark.parametrize(("section", "field", "value", "options", "expected"), BAD, ids=IDS)
def test_a_bad_value_reads_the_same_through_every_door(
    doors, tmp_path, section, field, value, options, expected
):
    ident = IDS[[b[:3] for b in BAD].index((section, field, value))]
    messages = {}
    # the Python API, before any city is loaded
    runner = run_waste if section == "waste" else run_traffic
    fields = {field: value} if section is not None else {}
    with pytest.raises(ScenarioError) as api:
        if section is None:
            run_traffic("helsinki", seed=value, trips=10)
        else:
            runner("no-such-city-is-loaded", **fields)
    messages["api"] = str(api.value)
    # a YAML file
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_scenario(section, field, value)))
    with pytest.raises(ScenarioError) as loaded:
        load_scenario(path)
    messages["yaml"] = str(loaded.value)
    # the command's options, and `twin run` on the file
    folder, cli, run = doors[ident]
    for door, result in (("cli", cli), ("twin run", run)):
        assert result.returncode == 1 and result.stdout == "", (door, result.stderr)
        assert "Traceback" not in result.stderr
        messages[door] = result.stderr
    # a sweep whose grid (or seeds) holds the value is refused before it starts
    base = _scenario(section or "traffic", "days" if section == "waste" else "trips", 1)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {"name": "bad", "scenario": "base.yaml"}
    if section is None:
        sweep["seeds"] = [value]
    else:
        sweep["grid"] = {f"{section}.{field}": [value]}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    with pytest.raises(ScenarioError) as swept:
        load_sweep(tmp_path / "sweep.yaml")
    # "sweep.yaml: run r…-s0 (traffic.trips=-5): traffic.trips: …"
    messages["sweep"] = str(swept.value).split("): ", 1)[1]
    for door, message in messages.items():
        assert len(message.strip().splitlines()) == 1, (door, message)
        assert _core(message) == expected, (door, message)
    # nothing written by any door
    assert sorted(os.listdir(folder)) == ["bad.yaml"]
    assert sorted(os.listdir(tmp_path)) == ["bad.yaml", "base.yaml", "sweep.yaml"]


def test_a_huge_bad_value_is_never_quoted_whole():
    with pytest.raises(ScenarioError) as err:
        run_traffic("helsinki", duration="9" * 100_000)
    assert len(str(err.value)) < 200 and "…" in str(err.value)


def test_a_window_past_the_run_is_refused_not_left_unfinished():
    with pytest.raises(ScenarioError, match=r"traffic.window: departures over 5h .* 30min"):
        run_traffic("helsinki", trips=200, duration="30min", window="5h")


def test_coupling_with_an_od_table_is_refused_not_dropped():
    scenario = {
        "name": "coupled",
        "city": "helsinki",
        "traffic": {"od": "trips.csv"},
        "waste": {"traffic_coupling": True},
    }
    with pytest.raises(ScenarioError, match=r"^waste.traffic_coupling: .* give traffic.trips"):
        run_scenario(scenario)


def test_policy_and_planner_are_two_settings_and_old_files_still_read():
    assert (WasteSpec().policy, WasteSpec().planner) == ("forecast", "pyvrp")
    assert WasteSpec(policy="schedule", planner="greedy").planner == "greedy"
    # files from before the split: `policy: pyvrp` meant the forecast policy routed by PyVRP
    legacy = WasteSpec.model_validate({"policy": "learned"})
    assert (legacy.policy, legacy.planner) == ("forecast", "learned")
    with pytest.raises(ScenarioError, match="names a planner"):
        run_waste("helsinki", policy="greedy", planner="pyvrp")
