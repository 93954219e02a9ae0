"""A city's own rounds through the command line and scenario files: fixed rounds written as a
rounds file that drives the same collection again as policy ``current``, the objective and the
cost factors in the KPIs, and a rounds file the twin cannot drive refused by its row, with
nothing written."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, flat
from tests.conftest import run_twin as _twin
from twin.api import against_baseline, run_waste
from twin.scenario import load_scenario
from twin.specs import ScenarioError, waste_spec

DAYS = ("--days", "14", "--seed", "3")


@pytest.fixture(scope="module")
def hand_drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("hand") / "run"
    done = _twin("waste", "helsinki", *DAYS, "--policy", "hand-drawn", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def test_fixed_rounds_written_as_a_rounds_file_drive_the_same_collection(hand_drawn, tmp_path):
    out, kpis = hand_drawn
    table = pd.read_csv(out / "rounds.csv", comment="#")
    assert list(table.columns) == ["weekday", "truck", "stop", "bin", "lon", "lat"]
    assert set(table["weekday"]) <= {"Mon", "Tue", "Wed", "Thu", "Fri"}
    done = _twin(
        "waste", "helsinki", *DAYS, "--policy", "current", "--rounds", str(out / "rounds.csv"),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    for key in ("truck_km", "truck_hours", "bins_emptied", "overflow_t", "cost_eur"):
        assert again[key] == kpis[key], key
    assert again["planner"] == "given rounds"


def test_a_citys_truck_labels_come_back_in_the_rounds_it_drove(hand_drawn, tmp_path):
    out, kpis = hand_drawn
    table = pd.read_csv(out / "rounds.csv", comment="#")
    # the hand-drawn run's routes name their trucks as its rounds.csv does (from 1; from 0 in
    # `truck`, with nothing to join on)
    drawn = pd.read_parquet(out / "routes.parquet", columns=["day", "truck", "truck_label"])
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri")
    in_file = set(zip(table["weekday"], table["truck"].astype(str), strict=True))
    days = [weekdays[d % 7] for d in drawn["day"]]
    assert set(zip(days, drawn["truck_label"], strict=True)) == in_file
    assert (drawn["truck_label"] == (drawn["truck"] + 1).astype(str)).all()
    table["truck"] = "north-" + table["truck"].astype(str)
    own = tmp_path / "own.csv"
    table.assign(Street="Mannerheimintie").to_csv(own, index=False)
    done = _twin(
        "waste", "helsinki", *DAYS, "--policy", "current", "--rounds", str(own),
        "--out", str(tmp_path / "run"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["truck_km"] == kpis["truck_km"]
    # a column the city's export carries beside the rounds: said, and the rounds the same
    assert "warning: own.csv: column 'street' is not read;" in flat(done.stderr)
    assert json.loads(done.stdout)["warnings"] == [
        "own.csv: column 'street' is not read; the twin drives weekday (or weekdays), truck, "
        "stop (or order), bin or lon and lat, and unload (or kind) only. Rename a column meant "
        "as one of those."
    ]
    again = pd.read_csv(tmp_path / "run" / "rounds.csv", comment="#")
    columns = ["weekday", "truck", "stop", "bin"]
    assert again[columns].astype(str).equals(table[columns].astype(str))
    # neither the city's rounds nor the hand-drawn ones read as PyVRP's proposal in the files
    for folder, said in ((tmp_path / "run", "the city's own rounds"),
                         (out, "rounds drawn by hand")):  # fmt: skip
        written = pq.read_schema(folder / "routes.parquet").metadata
        assert json.loads(written[b"provenance"])["planner"] == said
        assert (
            json.loads(written[b"label"]) == f"Baseline, not a proposal: {said}, driven as given."
        )
    # the routes drawn on the map name them so too
    routes = pd.read_parquet(tmp_path / "run" / "routes.parquet", columns=["day", "truck_label"])
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri")
    days = [weekdays[d % 7] for d in routes["day"]]
    driven = set(zip(days, routes["truck_label"], strict=True))
    assert driven == set(zip(table["weekday"], table["truck"], strict=True))


def test_a_scenario_names_its_rounds_file_beside_it(hand_drawn, tmp_path):
    out, kpis = hand_drawn
    (tmp_path / "rounds.csv").write_bytes((out / "rounds.csv").read_bytes())
    (tmp_path / "city.yaml").write_text(
        "name: own rounds\ncity: helsinki\nseed: 3\n"
        "waste:\n  days: 14\n  policy: current\n  rounds: rounds.csv\n"
    )
    scenario = load_scenario(tmp_path / "city.yaml")
    assert scenario.waste.rounds == str(tmp_path / "rounds.csv")
    run = run_waste("helsinki", scenario.waste, seed=3)
    assert run.kpis["truck_km"] == kpis["truck_km"]


def test_a_rounds_file_naming_an_unknown_bin_is_refused_by_its_row(hand_drawn, tmp_path):
    out, _ = hand_drawn
    lines = (out / "rounds.csv").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("weekday"))
    row = header + 3
    cells = lines[row].split(",")
    cells[3] = "4711"
    lines[row] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    target = tmp_path / "never"
    done = _twin("waste", "helsinki", *DAYS, "--policy", "current", "--rounds", str(bad),
                 "--out", str(target))  # fmt: skip
    assert done.returncode == 1
    message = flat(done.stderr)
    assert f"line {row + 1}: names bin '4711', which the city does not have" in message
    assert "Traceback" not in done.stderr
    assert not target.exists()


def test_current_without_rounds_is_refused_on_the_command_line():
    done = _twin("waste", "helsinki", "--days", "1", "--policy", "current")
    assert done.returncode == 1
    # the scenario file's key stays as a file writes it (once "--rounds: FILE in a scenario")
    assert "policy 'current' drives the city's own rounds: give their file (--rounds FILE, or " \
        "rounds: FILE in a scenario)" in flat(done.stderr)  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "option", "value"),
    [
        ("hand-drawn", "--planner", "learned"),
        ("hand-drawn", "--polish-iterations", "50"),
        ("current", "--objective", "euros"),
        ("current", "--solver-time", "3"),
        ("hand-drawn", "--solver-iterations", "10"),
    ],
)
def test_options_of_route_planning_are_refused_with_given_rounds(tmp_path, policy, option, value):
    """Rounds drawn by hand or the city's own are driven as given: an option of the planner
    would change nothing, which the modeller learns before the run, not from equal KPIs."""
    rounds = ("--rounds", str(tmp_path / "rounds.csv")) if policy == "current" else ()
    done = _twin("waste", "helsinki", "--days", "1", "--policy", policy, *rounds, option, value)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        f"Invalid value for {option}: policy {policy} drives its rounds as given: no planner "
        f"routes them, so {option} would change nothing. Leave {option} out"
    ) in flat(done.stderr)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"rounds": "x.csv"}, "a rounds file is driven by policy 'current'"),
        ({"objective": "euros", "planner": "greedy"}, "'euros' is planned by PyVRP"),
        ({"objective": "miles"}, "waste.objective"),
        ({"plan_times": "noon"}, "waste.plan_times"),
        ({"costs": {"truck_hour_eur": -5}}, "waste.costs.truck_hour_eur"),
        ({"costs": {"overflow_eur": -1}}, "waste.costs.overflow_eur"),
    ],
)
def test_impossible_baseline_settings_are_named(fields, words):
    with pytest.raises(ScenarioError) as error:
        waste_spec(**fields)
    assert words in str(error.value)


def test_the_kpis_carry_the_objective_and_the_scenarios_own_cost_factors():
    run = run_waste(
        "helsinki", days=3, objective="euros", solver_iterations=50,
        costs={"truck_hour_eur": 60.0, "truck_km_eur": 2.0},
    )  # fmt: skip
    kpis = run.kpis
    assert run.result.info["objective"] == "euros"
    assert kpis["factors"]["truck_hour_eur"] == 60.0
    assert kpis["cost_eur"] == pytest.approx(kpis["truck_hours"] * 60.0 + kpis["truck_km"] * 2.0)


def test_the_price_of_an_overflow_makes_euros_plans_empty_bins_sooner():
    """The overflow price reaches the planner: priced high, every optional bin with a real chance
    of overflowing is worth its stop, so bins are emptied emptier than when overflows cost
    nothing."""
    fill = {}
    for price in (0.0, 10_000.0):
        run = run_waste(
            "helsinki", days=7, objective="euros", solver_iterations=100,
            costs={"overflow_eur": price},
        )  # fmt: skip
        assert run.kpis["factors"]["overflow_eur"] == price
        fill[price] = run.kpis["mean_fill_at_emptying"]
    assert fill[10_000.0] < fill[0.0] - 0.01


def test_every_policy_is_set_against_the_citys_own_rounds(hand_drawn):
    """With a rounds file the baseline is the city's own rounds; here they are the hand-drawn
    rounds, so the hand-drawn policy comes out equal to the baseline."""
    out, kpis = hand_drawn
    table = against_baseline(
        "helsinki", seed=3, days=14, rounds=str(out / "rounds.csv"), solver_iterations=100,
        policies=("hand-drawn", "schedule"),
    )  # fmt: skip
    assert table["label"].tolist() == ["current", "hand-drawn", "schedule"]
    assert table["baseline"].tolist() == [True, False, False]
    assert table.loc[0, "truck_km"] == kpis["truck_km"]
    assert table.loc[1, "truck_km_vs_baseline"] == 0.0
    schedule = table.loc[2]
    assert schedule["truck_km_vs_baseline"] == pytest.approx(
        schedule["truck_km"] / kpis["truck_km"] - 1
    )
    assert schedule["truck_km_vs_baseline"] < 0


def test_waste_compare_prints_every_policy_against_the_baseline(tmp_path):
    # a city's rounds that collect five bins: a baseline every comparison must be warned of
    lines = (REPO / "examples" / "helsinki-rounds.csv").read_text().splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("weekday,"))
    partial = tmp_path / "five-bins.csv"
    partial.write_text("\n".join(lines[header : header + 6]) + "\n")
    done = _twin(
        "waste-compare", "helsinki", "--days", "2", "--solver-iterations", "50", "--rounds",
        str(partial), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["label"] for row in rows] == [
        "current", "hand-drawn", "schedule", "threshold", "forecast", "forecast, euros",
    ]  # fmt: skip
    assert rows[0]["baseline"] and rows[0]["truck_km_vs_baseline"] == 0.0
    left_out = [w for w in rows[0]["warnings"] if "are in none of the given rounds" in w]
    assert left_out and not any("given rounds" in w for row in rows[1:] for w in row["warnings"])
    assert f"warning: current: {left_out[0][:40]}" in " ".join(done.stderr.split())
    # the other policies collect the whole city: many times the baseline's tonnes
    assert min(row["collected_t"] for row in rows[1:]) > 5 * rows[0]["collected_t"]


def test_rounds_of_a_short_run_cover_the_whole_week(tmp_path):
    """Rounds drawn by hand are known for the whole week after two days; planned rounds only
    once every working weekday has been planned, so a short schedule run writes none (part of a
    week would read as bins collected less often than they are)."""
    by_hand = run_waste("helsinki", days=2, seed=4, trucks=2, policy="hand-drawn")
    by_hand.write(tmp_path / "hand")
    table = pd.read_csv(tmp_path / "hand" / "rounds.csv", comment="#")
    assert set(table["weekday"]) == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    again = run_waste(
        "helsinki", days=2, seed=4, policy="current", rounds=str(tmp_path / "hand" / "rounds.csv")
    )
    assert again.kpis["truck_km"] == by_hand.kpis["truck_km"]
    planned = run_waste("helsinki", days=2, seed=4, trucks=2, policy="schedule",
                        solver_iterations=50)  # fmt: skip
    planned.write(tmp_path / "planned")
    assert not (tmp_path / "planned" / "rounds.csv").exists()


def test_the_citys_rounds_run_under_any_objective(hand_drawn):
    """Given rounds are not planned: an objective is moot, and refused by nothing."""
    out, kpis = hand_drawn
    run = run_waste(
        "helsinki", seed=3, days=14, policy="current", rounds=str(out / "rounds.csv"),
        objective="euros", planner="greedy",
    )  # fmt: skip
    assert run.kpis["truck_km"] == kpis["truck_km"]
    assert len(run.run_info()["rounds_sha256"]) == 64
