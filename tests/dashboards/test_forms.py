"""The pages' forms read into scenarios: a bad or blank value is a problem named beside its field,
in the twin's own words, never replaced by the draft's old value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dashboards.forms import FormError, blank_message, read_form
from dashboards.logic import default_draft, section_only
from twin import Scenario, error_lines

DRAFT = default_draft("helsinki", {"traffic": {"trips": 300}}, trips_per_hour=None)
TRAFFIC = {"trips": 300, "duration_min": 30, "demand_scale": 1.0, "seed": 1}
WASTE = {"days": 7, "trucks": 2, "seed": 1, "policy": "greedy"}


def problems(values: dict, *, section: str | None, draft: dict = DRAFT) -> dict[str, str]:
    with pytest.raises(FormError) as caught:
        read_form(draft, values, section=section)
    return caught.value.problems


def twin_says(**changes) -> str:
    """What the twin's own validation says of a scenario with these traffic or waste fields."""
    data = {"name": "x", "city": "helsinki", "traffic": {}, "waste": {}}
    for key, value in changes.items():
        section, field = key.split("__")
        data[section][field] = value
    with pytest.raises(ValidationError) as caught:
        Scenario.model_validate(data)
    ((_, line),) = error_lines(caught.value)
    return line


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"trips": -5}, "trips", twin_says(traffic__trips=-5)),
        ({"trips": 2.5}, "trips", "traffic.trips: must be a whole number (got 2.5)"),
        ({"trips": None}, "trips", "traffic.trips: give a whole number from 0 to 10,000,000"),
        ({"trips": ""}, "trips", "traffic.trips: give a whole number from 0 to 10,000,000"),
        ({"duration_min": 0}, "duration_min", twin_says(traffic__duration="0min")),
        ({"demand_scale": -1}, "demand_scale", "traffic.demand_scale: must be ≥ 0 (got -1)"),
        ({"seed": -1}, "seed", "seed: must be ≥ 0 (got -1)"),
    ],
)
def test_a_bad_traffic_field_is_named_with_the_twins_message(changes, field, message):
    found = problems({**TRAFFIC, **changes}, section="traffic")
    assert found == {field: message}
    assert "\n" not in message  # one line beside the field


def test_negative_or_unreadable_minutes_say_what_was_given():
    found = problems({**TRAFFIC, "duration_min": -5}, section="traffic")
    assert found["duration_min"] == (
        "traffic.duration: the duration must be more than 0 and at most 48 h (got '-5min')"
    )
    found = problems({**TRAFFIC, "duration_min": None}, section="traffic")
    assert found["duration_min"].startswith("traffic.duration: give the simulated minutes (")
    long = problems({**TRAFFIC, "duration_min": 1e6}, section="traffic")["duration_min"]
    assert "at most 48 h (got '1000000min')" in long


def test_several_bad_fields_are_all_named_at_once():
    found = problems(
        {"trips": -5, "duration_min": 0, "demand_scale": -1, "seed": 2.5}, section="traffic"
    )
    assert set(found) == {"trips", "duration_min", "demand_scale", "seed"}


def test_good_values_make_the_scenario_of_that_section_only():
    scenario = read_form(DRAFT, {**TRAFFIC, "trips": 500, "duration_min": 20}, section="traffic")
    assert scenario.waste is None
    assert (scenario.traffic.trips, scenario.traffic.duration) == (500, "20min")
    assert scenario.traffic.window == "10min"
    waste = read_form(DRAFT, WASTE, section="waste")
    assert waste.traffic is None and waste.waste.days == 7 and waste.waste.trucks == 2
    assert (waste.waste.policy, waste.waste.planner) == ("forecast", "greedy")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"days": 0}, "days", "waste.days: must be ≥ 1 (got 0)"),
        ({"days": None}, "days", "waste.days: give a whole number from 1 to 3,660"),
        ({"trucks": 0}, "trucks", "waste.trucks: must be ≥ 1 (got 0)"),
        ({"trucks": 2.5}, "trucks", "waste.trucks: must be a whole number (got 2.5)"),
        ({"policy": None}, "policy", "waste.policy: choose a policy"),
    ],
)
def test_a_bad_waste_field_is_named_with_the_twins_message(changes, field, message):
    assert problems({**WASTE, **changes}, section="waste") == {field: message}


CLOSED = ["25291550-25291565"]
RETIMED = [{"node": 25291537, "greens_s": [40.0, 25.0], "offset_s": 0.0}]


def test_a_waste_run_drives_the_drafts_streets_without_simulating_its_traffic():
    """The Waste page's run keeps the draft's closures and edge changes (what the trucks drive
    around) in a traffic section that is not simulated; the draft's demand and signals stay
    behind while the trucks drive at free flow."""
    change = [{"way": 4279330, "speed_kph": 20.0}]
    draft = {**DRAFT, "traffic": {**DRAFT["traffic"], "close": CLOSED, "change": change,
                                  "signals": RETIMED}}  # fmt: skip
    scenario = read_form(draft, WASTE, section="waste")
    traffic = scenario.traffic.model_dump(exclude_defaults=True)
    assert traffic == {"close": CLOSED, "change": change, "simulate": False}
    assert not scenario.waste.traffic_coupling
    # an untouched network needs no traffic section at all
    assert read_form(DRAFT, WASTE, section="waste").traffic is None


def test_trips_over_the_shift_put_the_trucks_in_traffic():
    """With trips over the shift, the trucks drive among them, through the draft's signals,
    in a section that is still not simulated on its own; blank is free flow; a bad number is
    named beside its field in the twin's words."""
    draft = {**DRAFT, "traffic": {**DRAFT["traffic"], "close": CLOSED, "signals": RETIMED}}
    scenario = read_form(draft, {**WASTE, "shift_trips": 4000}, section="waste")
    assert scenario.waste.traffic_coupling
    traffic = scenario.traffic
    assert (traffic.trips, traffic.close, traffic.simulate) == (4000, CLOSED, False)
    assert [s.node for s in traffic.signals] == [25291537]
    assert traffic.demand_scale == 1.0  # the number given is the number driven among
    blank = read_form(draft, {**WASTE, "shift_trips": None}, section="waste")
    assert not blank.waste.traffic_coupling and blank.traffic.trips is None
    assert problems({**WASTE, "shift_trips": -5}, section="waste") == {
        "shift_trips": twin_says(traffic__trips=-5)
    }
    assert problems({**WASTE, "shift_trips": 2.5}, section="waste") == {
        "shift_trips": "traffic.trips: must be a whole number (got 2.5)"
    }


def test_the_traffic_page_simulates_a_section_a_file_kept_for_the_trucks():
    """A scenario file's traffic section that only set the trucks' streets (``simulate:
    false``) is simulated when the Traffic page runs it, and not when the Waste page does."""
    draft = {**DRAFT, "traffic": {**DRAFT["traffic"], "close": CLOSED, "simulate": False}}
    assert read_form(draft, TRAFFIC, section="traffic").traffic.simulate
    assert section_only(draft, "traffic").traffic.simulate
    assert not read_form(draft, WASTE, section="waste").traffic.simulate


def test_no_trucks_means_a_fleet_sized_to_the_city():
    scenario = read_form(DRAFT, {**WASTE, "trucks": None}, section="waste")
    assert scenario.waste.trucks is None


def test_the_scenarios_form_keeps_an_absent_section_absent_while_its_fields_are_blank():
    draft = {**DRAFT, "waste": None}
    blank_waste = {"days": None, "trucks": None, "policy": None}
    scenario = read_form(draft, {"name": "t", **TRAFFIC, **blank_waste})
    assert scenario.waste is None and scenario.traffic.trips == 300
    # a field of it filled: the section is wanted, and its blank fields are problems
    found = problems({"name": "t", **TRAFFIC, **blank_waste, "days": 3}, section=None, draft=draft)
    assert set(found) == {"policy"}
    # a name is required
    assert problems({"name": " ", **TRAFFIC}, section=None)["name"].startswith("name: must not")


def test_blank_trips_are_no_problem_when_an_od_table_gives_the_demand(tmp_path):
    od = {**DRAFT["traffic"], "trips": None, "od": str(tmp_path / "od.csv")}
    draft = {**DRAFT, "traffic": od}
    scenario = read_form(draft, {**TRAFFIC, "trips": None}, section="traffic")
    assert scenario.traffic.trips is None and scenario.traffic.od == od["od"]
    # both: the twin's rule across fields, a problem of no single field
    found = problems({**TRAFFIC, "trips": 10}, section="traffic", draft=draft)
    assert "" in found and "not both" in found[""]
    # the table's rows carry their departures: no window beside them, even one a file gave
    assert scenario.traffic.window is None
    windowed = {**draft, "traffic": {**od, "window": "5min"}}
    assert read_form(windowed, {**TRAFFIC, "trips": None}, section="traffic").traffic.window is None


def test_blank_messages_name_the_range_the_twin_allows():
    assert blank_message("trucks") == "waste.trucks: give a whole number from 1 to 1,000"
    assert blank_message("demand_scale") == "traffic.demand_scale: give a number from 0 to 100"
    assert blank_message("seed") == "seed: give a whole number ≥ 0"


def test_the_citys_costs_replace_the_defaults_and_a_blank_box_keeps_them():
    """The Waste page asks what a truck-hour and a truck-km cost: a value is the run's cost
    factor, a blank box the twin's documented default, a negative one the twin's message."""
    defaults = Scenario.model_validate({"name": "x", "city": "helsinki", "waste": {}}).waste.costs
    own = read_form(DRAFT, {**WASTE, "truck_hour_eur": 60, "truck_km_eur": None}, section="waste")
    assert own.waste.costs.truck_hour_eur == 60
    assert own.waste.costs.truck_km_eur == defaults.truck_km_eur
    # a draft with a city's own figure: blanking the box goes back to the default
    draft = {**DRAFT, "waste": {**DRAFT["waste"], "costs": {"truck_km_eur": 2.5}}}
    assert read_form(draft, WASTE, section="waste").waste.costs.truck_km_eur == 2.5
    blanked = read_form(draft, {**WASTE, "truck_km_eur": ""}, section="waste")
    assert blanked.waste.costs.truck_km_eur == defaults.truck_km_eur
    found = problems({**WASTE, "truck_hour_eur": -3}, section="waste")
    assert found == {"truck_hour_eur": twin_says(waste__costs={"truck_hour_eur": -3})}


def test_the_polish_goes_with_the_learned_planner_and_a_blank_box_is_none():
    learned = read_form(DRAFT, {**WASTE, "policy": "learned", "polish_iterations": 100},
                        section="waste")  # fmt: skip
    assert (learned.waste.planner, learned.waste.polish_iterations) == ("learned", 100)
    blank = read_form(DRAFT, {**WASTE, "policy": "learned", "polish_iterations": ""},
                      section="waste")  # fmt: skip
    assert blank.waste.polish_iterations == 0
    # another policy drops it (its box is greyed out), before or after the policy's box
    for values in ({**WASTE, "polish_iterations": 100}, {"polish_iterations": 100, **WASTE}):
        other = read_form(DRAFT, values, section="waste")
        assert (other.waste.planner, other.waste.polish_iterations) == ("greedy", 0)
    found = problems({**WASTE, "policy": "learned", "polish_iterations": -1}, section="waste")
    assert found == {"polish_iterations": twin_says(waste__polish_iterations=-1)}
