"""The Waste page's baseline: policies measured against it (numbers built by hand), the
trade-off picture's content, the objective and rounds in the draft, and a city's rounds file
checked by the twin (a bad one refused with its row, a good one driven)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dashboards.components import baseline_table, shared_fleet
from dashboards.figures import tradeoff_figure
from dashboards.logic import (
    BASELINE_KPIS,
    UploadError,
    against_baseline,
    baselines,
    check_rounds_name,
    default_baseline,
    default_draft,
    objective_applies,
    objective_note,
    percent_change,
    policies,
    policies_to_compare,
    section_only,
    streets_and_traffic,
    timing_contrast,
    with_strategy,
)
from dashboards.pages import waste
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import RunStore, StoreError
from twin.api import Twin
from twin.scenario import ScenarioError

SMALL = {"waste": {"days": 2, "trucks": 2, "solver_iterations": 50, "solver_time_s": 5.0}}

# a baseline and two policies, with round numbers: 200 → 150 km is −25 %
KPIS = {
    "hand-drawn": {
        "truck_km": 200.0,
        "truck_hours": 40.0,
        "cost_eur": 4000.0,
        "cost_per_tonne_eur": 50.0,
        "co2_kg": 320.0,
        "service_level": 0.95,
        "overflow_cost_eur": 7300.0,
    },
    "pyvrp": {
        "truck_km": 150.0,
        "truck_hours": 30.0,
        "cost_eur": 4400.0,
        "cost_per_tonne_eur": 40.0,
        "co2_kg": 240.0,
        "service_level": 0.99,
        "overflow_cost_eur": 0.0,
    },
    "greedy": {
        "truck_km": 220.0,
        "truck_hours": 40.0,
        "cost_eur": 4000.0,
        "cost_per_tonne_eur": 55.0,
        "co2_kg": 352.0,
        "service_level": 0.9,
    },
}


def test_each_policy_is_measured_in_per_cent_of_the_baseline():
    table = against_baseline(KPIS, "hand-drawn").set_index("policy")
    assert list(table.index) == ["hand-drawn", "pyvrp", "greedy"]
    pyvrp, greedy, base = table.loc["pyvrp"], table.loc["greedy"], table.loc["hand-drawn"]
    assert pyvrp["truck_km_pct"] == pytest.approx(-25.0)
    assert pyvrp["truck_hours_pct"] == pytest.approx(-25.0)
    assert pyvrp["cost_eur_pct"] == pytest.approx(10.0)
    assert pyvrp["cost_per_tonne_eur_pct"] == pytest.approx(-20.0)
    assert pyvrp["co2_kg_pct"] == pytest.approx(-25.0)
    assert greedy["truck_km_pct"] == pytest.approx(10.0)
    assert greedy["truck_hours_pct"] == 0.0
    # the values themselves, and the service level as it is, not against the baseline's
    assert pyvrp["truck_km"] == 150.0 and pyvrp["service_level"] == 0.99
    assert greedy["service_level"] == 0.9
    # the overflows' cost as it is too (a baseline's nothing has no per cent); none given: NaN
    assert pyvrp["overflow_cost_eur"] == 0.0 and base["overflow_cost_eur"] == 7300.0
    assert math.isnan(greedy["overflow_cost_eur"])
    assert "overflow_cost_eur_pct" not in table.columns
    # the baseline against itself: nothing
    assert base["baseline"] and not pyvrp["baseline"]
    assert all(base[f"{kpi}_pct"] == 0.0 for kpi in BASELINE_KPIS)


def test_a_change_from_nothing_or_of_a_missing_kpi_is_no_number():
    assert percent_change(150, 200) == pytest.approx(-25.0)
    assert percent_change(-150, -200) == pytest.approx(25.0)  # toward zero is up
    assert math.isnan(percent_change(5.0, 0.0))
    assert math.isnan(percent_change(None, 200.0))
    assert math.isnan(percent_change(5.0, math.nan))
    kpis = {"a": {"truck_km": 0.0}, "b": {"truck_km": 10.0, "co2_kg": 3.0}}
    row = against_baseline(kpis, "a").set_index("policy").loc["b"]
    assert math.isnan(row["truck_km_pct"]) and math.isnan(row["co2_kg_pct"])
    assert row["co2_kg"] == 3.0 and math.isnan(row["service_level"])
    with pytest.raises(KeyError, match="baseline"):
        against_baseline(KPIS, "current")


def test_the_trade_off_picture_shows_every_policy_against_the_baseline():
    table = against_baseline(KPIS, "hand-drawn")
    labels = {"pyvrp": "PyVRP", "greedy": "greedy"}
    figure = tradeoff_figure(table, "hand-drawn", labels=labels)
    # one bar group per policy; the baseline is the zero line, not a bar
    assert [trace.type for trace in figure.data] == ["bar", "bar"]
    pyvrp, greedy = figure.data
    assert pyvrp.name == "PyVRP (service level 99.0 %)"
    assert greedy.name == "greedy (service level 90.0 %)"
    assert list(pyvrp.x) == ["truck-km", "truck-hours", "euros", "CO2"]
    assert list(pyvrp.y) == pytest.approx([-25.0, -25.0, 10.0, -25.0])
    assert list(greedy.y) == pytest.approx([10.0, 0.0, 0.0, 10.0])
    # the hover says what the per cents are of, and the service level
    assert list(pyvrp.customdata[0]) == ["150.0 km", "200.0 km"]
    assert list(pyvrp.customdata[2]) == ["4,400 EUR", "4,000 EUR"]
    assert "service level 99.0 %" in pyvrp.hovertemplate
    assert figure.layout.barmode == "group"
    (line,) = figure.layout.shapes
    assert (line.y0, line.y1) == (0, 0)
    (note,) = figure.layout.annotations
    assert note.text == "baseline: hand-drawn (service level 95.0 %)"
    assert "hand-drawn" in figure.layout.title.text


def test_a_policy_without_a_number_leaves_a_gap_in_the_picture():
    kpis = {"a": {"truck_km": 0.0, "co2_kg": 1.0}, "b": {"truck_km": 5.0, "co2_kg": 2.0}}
    (bars,) = tradeoff_figure(against_baseline(kpis, "a"), "a").data
    assert bars.y[0] is None and bars.y[3] == pytest.approx(100.0)


def test_the_table_marks_the_baseline_and_colours_each_change():
    table = against_baseline(KPIS, "hand-drawn")
    view = baseline_table(table, "hand-drawn", table_id="t", labels={})
    rows = {row.id: row for row in view.children[0].children[1].children}
    base = [cell.children for cell in rows["t-hand-drawn"].children]
    assert base == ["hand-drawn (baseline)", "200.0 km", "40.0 h", "4,000 EUR", "50.00 EUR/t",
                    "320.0 kg", "95.0 %", "7,300 EUR"]  # fmt: skip
    pyvrp = rows["t-pyvrp"].children
    texts = [cell.children for cell in pyvrp]
    assert texts[1] == "150.0 km (-25 %)" and texts[3] == "4,400 EUR (+10 %)"
    assert texts[-2:] == ["99.0 %", "0 EUR"]  # the service level and overflows as they are
    assert pyvrp[-1].style == {} and rows["t-greedy"].children[-1].children == "–"
    assert pyvrp[1].style["color"] == "#1b5e20"  # fewer km: better
    assert pyvrp[3].style["color"] == "#8b1a1a"  # more euros: worse
    assert rows["t-greedy"].children[2].style == {}  # the same hours: neither


def test_baselines_and_policies_come_from_the_twin_and_current_needs_rounds():
    assert baselines() == ("current", "hand-drawn", "schedule")
    assert {"current", "hand-drawn"} <= set(policies())
    assert default_baseline(True) == "current"
    assert default_baseline(False) == "hand-drawn"
    assert "current" in policies_to_compare(True)
    assert "current" not in policies_to_compare(False)
    assert "hand-drawn" in policies_to_compare(False)


def test_the_objective_is_pyvrps_and_given_rounds_take_none():
    assert objective_applies("pyvrp") and objective_applies("schedule")
    assert objective_applies("threshold")
    for name in ("greedy", "learned", "hand-drawn", "current"):
        assert not objective_applies(name)
        assert objective_note(name)
    assert objective_note("pyvrp") == ""
    assert "minimises km only" in objective_note("greedy")
    assert "given, not planned" in objective_note("hand-drawn")


def test_switching_policies_keeps_the_waste_section_valid():
    draft = default_draft("helsinki", SMALL)
    euros = with_strategy(draft["waste"], "pyvrp", objective="euros")
    assert (euros["policy"], euros["planner"], euros["objective"]) == ("forecast", "pyvrp", "euros")
    # greedy and rounds given by hand take km; the objective chosen waits for PyVRP
    assert with_strategy(euros, "greedy")["objective"] == "km"
    assert with_strategy(euros, "hand-drawn")["objective"] == "km"
    assert with_strategy(euros, "schedule")["objective"] == "euros"
    # the rounds go with current only
    current = with_strategy(draft["waste"], "current", rounds="/x/rounds.csv")
    assert current["rounds"] == "/x/rounds.csv" and current["objective"] == "km"
    assert with_strategy(current, "current")["rounds"] == "/x/rounds.csv"
    assert with_strategy(current, "schedule")["rounds"] is None
    scenario = section_only(draft, "waste", policy="current", rounds="/x/rounds.csv")
    assert (scenario.waste.policy, scenario.waste.rounds) == ("current", "/x/rounds.csv")
    other = section_only(scenario.model_dump(mode="json"), "waste", policy="threshold")
    assert other.waste.rounds is None
    with pytest.raises(ScenarioError, match=r"waste\.rounds: policy .current."):
        section_only(draft, "waste", policy="current")
    # a model's checkpoint and polish stay with the learned planner
    learned = {**with_strategy(draft["waste"], "learned"), "checkpoint": "/x/m.pt",
               "polish_iterations": 100}  # fmt: skip
    assert with_strategy(learned, "learned") == learned
    for name in ("pyvrp", "hand-drawn", "schedule", "greedy"):
        other = with_strategy(learned, name)
        assert (other["checkpoint"], other["polish_iterations"]) == (None, 0)
        section_only({**draft, "waste": other}, "waste")  # valid


def test_the_page_writes_its_policy_and_objective_into_the_draft():
    draft = default_draft("helsinki", SMALL)
    updated = waste.waste_choice(draft, "pyvrp", "hours", None)
    assert (updated["waste"]["planner"], updated["waste"]["objective"]) == ("pyvrp", "hours")
    # ignored (km) while greedy plans
    assert waste.waste_choice(updated, "greedy", "hours", None)["waste"]["objective"] == "km"


def test_run_plans_the_policy_then_the_baseline_then_the_others():
    draft = default_draft("helsinki", SMALL)
    values = {"days": 2, "trucks": 2, "seed": 3, "policy": "pyvrp"}
    runs = waste.run_list(
        draft, values, objective="euros", baseline="hand-drawn", compare_all=True, rounds=None
    )
    names = [run.name.removeprefix("helsinki-plan-") for run in runs]
    assert names[:2] == ["pyvrp", "hand-drawn"]
    assert set(names) == set(policies_to_compare(False)) and len(names) == len(set(names))
    by_name = {name: run.waste for name, run in zip(names, runs, strict=True)}
    assert by_name["pyvrp"].objective == "euros" and by_name["schedule"].objective == "euros"
    assert by_name["greedy"].objective == "km" and by_name["hand-drawn"].objective == "km"
    assert all((run.waste.days, run.waste.trucks, run.seed) == (2, 2, 3) for run in runs)
    # the city's own cost of a truck-hour, for every policy run (the others' km at default)
    costly = waste.run_list(
        draft, {**values, "truck_hour_eur": 60.0}, objective="euros", baseline="hand-drawn",
        compare_all=True, rounds=None,
    )  # fmt: skip
    assert [run.waste.costs.truck_hour_eur for run in costly] == [60.0] * len(runs)
    assert {run.waste.costs.truck_km_eur for run in costly} == {runs[0].waste.costs.truck_km_eur}
    only = waste.run_list(
        draft, values, objective="km", baseline="schedule", compare_all=False, rounds=None
    )
    assert [run.waste.policy for run in only] == ["forecast", "schedule"]
    with_rounds = waste.run_list(
        draft, values, objective="km", baseline=None, compare_all=False, rounds="/x/r.csv"
    )
    assert with_rounds[1].waste.policy == "current" and with_rounds[1].waste.rounds == "/x/r.csv"


def test_the_learned_planners_polish_runs_with_it_and_with_no_other_policy():
    draft = default_draft("helsinki", SMALL)
    values = {"days": 2, "trucks": 2, "seed": 3, "policy": "learned", "polish_iterations": 50}
    runs = waste.run_list(
        draft, values, objective="km", baseline="hand-drawn", compare_all=True, rounds=None
    )
    assert (runs[0].waste.planner, runs[0].waste.polish_iterations) == ("learned", 50)
    assert all(run.waste.polish_iterations == 0 for run in runs[1:])
    # the planned policy switched away from the learned planner: its polish is dropped
    switched = waste.run_list(
        draft, {**values, "policy": "pyvrp"}, objective="km", baseline="hand-drawn",
        compare_all=True, rounds=None,
    )  # fmt: skip
    assert all(run.waste.polish_iterations == 0 for run in switched)
    assert "learned" in [run.name.removeprefix("helsinki-plan-") for run in switched]


def test_a_rounds_upload_is_refused_unless_the_twin_reads_its_kind(tmp_path):
    assert check_rounds_name("my rounds.csv") == "my rounds.csv"
    assert check_rounds_name("C:\\Users\\ana\\rounds.gpx") == "rounds.gpx"
    assert check_rounds_name("../../.routes.geojson") == "routes.geojson"
    with pytest.raises(UploadError, match="not a rounds file"):
        check_rounds_name("rounds.xlsx")
    store = RunStore(tmp_path / "store")
    # a name that tries to leave its folder stays in it
    path = store.save_upload(b"weekday,truck,stop,bin\n", "../rounds.csv")
    assert path.parent.parent == store.root / "uploads" and path.name == "_rounds.csv"
    assert store.upload_path(path.parent.name, "../rounds.csv") == path
    for digest, name in (("../../etc", "passwd"), (path.parent.name, "other.csv")):
        with pytest.raises(StoreError):
            store.upload_path(digest, name)
    # a NUL or a name longer than a file system takes is kept under a name it can write (both
    # failed the request with a bare server error), its endings kept
    for sent in ("a\x00b.csv", "C" * 300 + ".osm.pbf"):
        kept = store.save_upload(sent.encode(), sent)
        assert kept.is_file() and len(kept.name.encode()) <= 120 and "\x00" not in kept.name
        assert store.upload_path(kept.parent.name, sent) == kept
    assert kept.name.endswith("CCC.osm.pbf")
    # nothing half-written beside them; a refused extract is removed, with its folder
    assert not list((store.root / "uploads").glob("*/.*partial"))
    store.discard_upload(kept)
    assert not kept.parent.exists()


@pytest.fixture
def state(helsinki, tmp_path):
    return DashboardState(Twin(helsinki), RunStore(tmp_path / "store"), draft_overrides=SMALL)


def test_the_city_rounds_are_checked_by_the_twin_and_drive_the_current_baseline(state, tmp_path):
    draft = state.draft()
    form = {"trucks": 2, "seed": draft["seed"]}
    # a file the reader refuses, and one whose bin the city does not have: the twin's words,
    # naming the file as the planner knows it
    bad = tmp_path / "upload" / "ours.csv"
    bad.parent.mkdir()
    bad.write_text("weekday,truck,stop,bin\nFunday,1,1,5\n")
    problem = waste.check_rounds(state, str(bad), "ours.csv", draft, form)
    assert problem.startswith("ours.csv: line 2: unknown weekday 'Funday'")
    bad.write_text("weekday,truck,stop,bin\nMon,1,1,99999\n")
    problem = waste.check_rounds(state, str(bad), "ours.csv", draft, form)
    assert "names bin '99999', which the city does not have" in problem
    assert str(bad) not in problem

    # the hand-drawn rounds the twin writes for a week are a city's rounds file: they drive
    values = {"days": 7, "trucks": 2, "seed": draft["seed"], "policy": "hand-drawn"}
    runs = waste.run_list(
        draft, values, objective="km", baseline="hand-drawn", compare_all=False, rounds=None
    )
    (drawn,) = run_scenarios(state, runs, isolate=False)
    rounds = Path(state.store.run_dir(drawn)) / "waste" / "rounds.csv"
    assert waste.check_rounds(state, str(rounds), "rounds.csv", draft, form) is None
    # and current is the baseline the others are measured against
    values["policy"] = "schedule"
    runs = waste.run_list(
        draft, values, objective="km", baseline="current", compare_all=False, rounds=str(rounds)
    )
    keys = run_scenarios(state, runs, isolate=False)
    view, figure = waste.comparison(state, {"keys": keys}, "current")
    assert "Policies against the baseline: current" in str(view)
    assert [trace.name.split(" (")[0] for trace in figure.data] == ["schedule"]
    # the same rounds driven as given: what hand-drawn drove
    current = state.store.kpi_dict(keys[1])["waste"]
    assert current["truck_km"] == pytest.approx(state.store.kpi_dict(drawn)["waste"]["truck_km"])

    # a blank fleet: every policy runs with the trucks the rounds send out on their busiest
    # day (counted in the file), the form's own fleet where it gives one
    busiest = int(pd.read_csv(rounds, comment="#").groupby("weekday")["truck"].nunique().max())
    shared = shared_fleet(state, draft, {**values, "trucks": None}, str(rounds))
    assert shared["trucks"] == busiest
    runs = waste.run_list(
        draft, shared, objective="km", baseline="current", compare_all=True, rounds=str(rounds)
    )
    assert len(runs) > 3 and {run.waste.trucks for run in runs} == {busiest}
    assert shared_fleet(state, draft, {**values, "trucks": 3}, str(rounds))["trucks"] == 3
    assert shared_fleet(state, draft, {**values, "trucks": None}, None)["trucks"] is None


def test_the_page_runs_every_policy_on_the_drafts_streets_in_one_traffic(state):
    """With a street closed on the draft and trips over the shift, the planned policy, the
    baseline and the planned policy planned on free-flow times run on that street network among
    the same traffic (one background, the same for all: same trips, same seed), no traffic run
    of their own; the page says so, and what the free-flow plans lost and cost."""
    draft = state.draft()
    network = state.twin.city.network
    closed = f"{network.node_osmid[network.edge_u[0]]}-{network.node_osmid[network.edge_v[0]]}"
    draft = {**draft, "traffic": {**draft["traffic"], "close": [closed]}}
    values = {"days": 2, "trucks": 2, "seed": 3, "policy": "greedy", "shift_trips": 1500}
    runs = waste.run_list(
        draft, values, objective="km", baseline="hand-drawn", compare_all=False, rounds=None
    )
    # the planned policy, the baseline, and the planned policy planned on free-flow times
    assert [run.name for run in runs] == [
        "helsinki-plan-greedy", "helsinki-plan-hand-drawn", "helsinki-plan-greedy-free-flow",
    ]  # fmt: skip
    assert [run.waste.plan_times for run in runs] == ["time-of-day"] * 2 + ["free-flow"]
    assert [run.waste.traffic_coupling for run in runs] == [True] * 3
    assert {
        (run.traffic.trips, tuple(run.traffic.close), run.traffic.simulate) for run in runs
    } == {(1500, (closed,), False)}
    keys = run_scenarios(state, runs, isolate=False)
    infos = [state.store.waste_info(key) for key in keys]
    assert not any(state.store.has_section(key, "traffic") for key in keys)
    assert infos[0]["traffic"]["baseline"] == infos[1]["traffic"]["baseline"]
    assert infos[0]["traffic"]["baseline"] == infos[2]["traffic"]["baseline"]
    assert infos[0]["traffic"]["baseline"]["trips"] > 0
    kpis = state.store.kpi_dict(keys[0])["waste"]
    text, jammed = streets_and_traffic(
        state.store.run_scenario(keys[0]).traffic.model_dump(mode="json"), infos[0], kpis
    )
    delay = infos[0]["traffic"]["baseline"]["total_delay_veh_h"]
    assert text.startswith("On the draft's streets, with its 1 closure. Driven among 1,500 trips")
    assert f"their delay {delay:,.1f} veh·h" in text
    assert f"hours driven {kpis['planned_hours_gap']:+.1%} against the plans' own" in text
    assert jammed is bool(infos[0]["traffic"]["baseline"]["gridlock"])
    # at free flow on the city's own streets there is nothing to say
    assert streets_and_traffic(None, {"warnings": []}, kpis) is None
    # what planning on free-flow times would have lost in this traffic, and cost
    free = state.store.kpi_dict(keys[2])["waste"]
    said = timing_contrast("time-of-day", kpis, "free-flow", free)
    assert said.startswith("Planned on free-flow times instead, the same policy drove ")
    assert f"{free['planned_hours_gap']:+.1%} hours against its plans' own" in said
    assert f"(this run, planned on time-of-day times: {kpis['planned_hours_gap']:+.1%})" in said
    change = free["cost_eur"] / kpis["cost_eur"] - 1
    assert f"cost {abs(change):.1%} {'more' if change >= 0 else 'less'}." in said
    # given rounds are driven as they are: no contrast for them
    drawn = {**values, "policy": "hand-drawn"}
    assert len(waste.run_list(draft, drawn, objective="km", baseline="hand-drawn",
                              compare_all=False, rounds=None)) == 1  # fmt: skip
