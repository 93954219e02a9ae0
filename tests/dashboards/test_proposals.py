"""Signal plans on the Plans page without a browser: the proposal's form, its run in the
background machinery and its store, the check and timing tables, the delay maps' colour scale,
and a proposal's timings in the draft. Deciding on proposals and applying them:
test_decisions.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboards.forms import (
    PROPOSAL_METHODS,
    SIMULATIONS_MAX,
    FormError,
    read_proposal_form,
)
from dashboards.logic import (
    CheckCell,
    apply_form,
    check_rows,
    default_draft,
    delay_levels,
    format_signals,
    level_of,
    parse_signals,
    set_signal_timing,
    timing_rows,
    with_signals,
)
from dashboards.runner import propose_signal_plans
from dashboards.state import DashboardState
from dashboards.store import RunStore
from twin import ScenarioError, Twin, propose_signals

SMALL = {"traffic": {"trips": 300, "duration": "16min", "window": "8min", "dt_s": 5.0}}
DRAFT = default_draft("helsinki", SMALL)

CHECKS = pd.DataFrame(
    {
        "demand_scale": [1.2, 0.8, 1.0],
        "current_total_delay_veh_h": [5.597547, 3.562747, 4.705304],
        "proposed_total_delay_veh_h": [5.001046, 3.029176, 3.596333],
        "current_trips_unfinished": [1, 0, 0],
        "proposed_trips_unfinished": [2, 0, 0],
        "current_longest_queue_veh": [7, 5, 4],
        "proposed_longest_queue_veh": [7, 6, 6],
        "current_held_at_edge_veh": [0, 0, 3],
        "proposed_held_at_edge_veh": [0, 0, 1],
    }
)
"""A proposal's checks as the twin reports them (values of a Webster proposal for the bundled
city), rows out of order."""


def test_the_check_table_shows_each_demand_now_and_proposed_with_its_verdict():
    rows = check_rows(CHECKS)
    assert [demand for demand, _ in rows] == ["80 %", "100 %", "120 %"]
    cells = dict(rows)
    assert cells["100 %"] == {
        "total_delay_veh_h": CheckCell("4.7 veh·h", "3.6 veh·h", "-24 %", "better"),
        "trips_unfinished": CheckCell("0", "0", "±0", "same"),
        "longest_queue_veh": CheckCell("4 veh", "6 veh", "+50 %", "worse"),
        "held_at_edge_veh": CheckCell("3 veh", "1 veh", "-67 %", "better"),
    }
    assert cells["80 %"]["total_delay_veh_h"].change == "-15 %"
    assert cells["120 %"]["trips_unfinished"] == CheckCell("1", "2", "+100 %", "worse")
    # the same reading is neither better nor worse
    assert cells["80 %"]["trips_unfinished"].verdict == "same"
    assert cells["120 %"]["held_at_edge_veh"].change == "±0"


TIMINGS = [
    {"node": 25291537, "greens_s": [19.3, 20.0], "offset_s": 0.0},
    {"node": 25291550, "greens_s": [19.7, 20.0], "offset_s": 12.5},
]


def test_a_proposal_becomes_the_drafts_signal_plans_and_survives_the_scenarios_form():
    # the draft retimes one junction of the proposal and one other
    draft = with_signals(
        DRAFT,
        [
            {"node": 123, "greens_s": [30.0, 30.0], "offset_s": 0.0},
            {"node": 25291550, "greens_s": [50.0, 10.0], "offset_s": 0.0},
        ],
    )
    updated = with_signals(draft, TIMINGS)
    assert updated["traffic"]["signals"] == [
        {"node": 123, "greens_s": [30.0, 30.0], "offset_s": 0.0},
        {"node": 25291537, "greens_s": [19.3, 20.0], "offset_s": 0.0},
        {"node": 25291550, "greens_s": [19.7, 20.0], "offset_s": 12.5},
    ]
    assert DRAFT["traffic"]["signals"] == []  # the draft given is not changed
    # the Scenarios page's field shows them, offsets included, and saving it keeps them
    text = format_signals(updated["traffic"]["signals"])
    assert text == "123: 30, 30; 25291537: 19.3, 20; 25291550: 19.7, 20 @ 12.5"
    assert parse_signals(text) == updated["traffic"]["signals"]
    assert apply_form(updated, signals=text) == updated
    # retiming one junction's greens there keeps its offset
    edited = set_signal_timing(parse_signals(text), 25291550, [25, 15])
    assert edited[2] == {"node": 25291550, "greens_s": [25.0, 15.0], "offset_s": 12.5}
    with pytest.raises(ScenarioError, match="no traffic section"):
        with_signals({**DRAFT, "traffic": None}, TIMINGS)
    with pytest.raises(ScenarioError, match="green times must be 0–600 s"):
        with_signals(DRAFT, [{"node": 1, "greens_s": [900.0], "offset_s": 0.0}])
    with pytest.raises(ScenarioError, match="signal offset"):
        parse_signals("25291537: 19.3, 20 @ soon")


def _plans(rows: list[tuple[int, int, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["junction", "phase", "green_s", "cycle_s", "offset_s"])


def test_the_timing_table_puts_each_junctions_current_and_proposed_plan_side_by_side():
    current = _plans([(7, 2, 20.0, 90.0, 0.0), (7, 1, 62.0, 90.0, 0.0), (9, 1, 40.0, 44.0, 5.0)])
    proposed = _plans(
        [
            (9, 1, 30.0, 34.0, 0.0),
            (7, 1, 19.3, 47.3, 10.0),
            (7, 2, 20.0, 47.3, 10.0),
            (11, 1, 12.5, 16.5, 0.0),  # a junction without a current plan
        ]
    )
    rows = timing_rows(current, proposed)
    assert rows["junction"].tolist() == [7, 9, 11]
    assert rows["greens_now"].tolist() == ["62, 20", "40", ""]
    assert rows["greens"].tolist() == ["19.3, 20", "30", "12.5"]
    assert rows["cycle_now_s"].tolist()[:2] == [90.0, 44.0] and math.isnan(rows["cycle_now_s"][2])
    assert rows["cycle_s"].tolist() == [47.3, 34.0, 16.5]
    assert rows["offset_now_s"].tolist()[:2] == [0.0, 5.0]
    assert rows["offset_s"].tolist() == [10.0, 0.0, 0.0]


def test_the_delay_maps_share_one_colour_scale_in_round_numbers():
    before = np.array([0.0, 0.01, 0.05, 0.1987, 0.3987])
    after = np.array([0.0, 0.03, 0.09, 0.2116, np.nan])
    levels = delay_levels(before, after)
    assert [bound for bound, _, _ in levels] == [0.02, 0.08, 0.2, 0.3, math.inf]
    assert [label for _, label, _ in levels] == [
        "< 0.02 veh·h",
        "0.02–0.08 veh·h",
        "0.08–0.2 veh·h",
        "0.2–0.3 veh·h",
        "≥ 0.3 veh·h",
    ]
    assert level_of(before, levels).tolist() == [0, 0, 1, 2, 4]
    assert level_of(after, levels).tolist() == [0, 1, 2, 3, 0]  # no value: no delay
    assert delay_levels(np.zeros(3), np.zeros(3)) == [(math.inf, "no delay", "#c8c8c8")]


def test_the_proposal_form_checks_the_search_budget_and_the_drafts_traffic():
    import twin.signal_proposals as proposals

    # the form offers what the twin takes
    assert set(PROPOSAL_METHODS) <= set(proposals.METHODS)
    assert SIMULATIONS_MAX == proposals.MAX_SIMULATIONS
    request = read_proposal_form(DRAFT, {"method": "webster", "simulations": "not read"})
    assert request == {
        "spec": DRAFT["traffic"],
        "seed": DRAFT["seed"],
        "method": "webster",
        "simulations": None,
    }
    assert read_proposal_form(DRAFT, {"method": "search", "simulations": 30.0})["simulations"] == 30
    for value, message in (
        (None, "simulations: give a whole number from 1 to 10,000"),
        (0, "simulations: must be a whole number from 1 to 10,000 (got 0)"),
        (2.5, "simulations: must be a whole number from 1 to 10,000 (got 2.5)"),
        (10_001, "simulations: must be a whole number from 1 to 10,000 (got 10001)"),
        (True, "simulations: must be a whole number from 1 to 10,000 (got True)"),
    ):
        with pytest.raises(FormError) as caught:
            read_proposal_form(DRAFT, {"method": "search", "simulations": value})
        assert caught.value.problems == {"simulations": message}
    with pytest.raises(FormError) as caught:
        read_proposal_form({**DRAFT, "traffic": {**DRAFT["traffic"], "trips": -5}}, {"method": "x"})
    assert caught.value.problems == {
        "method": f"method: choose one of {', '.join(PROPOSAL_METHODS)} (got 'x')",
        "": "traffic.trips: must be ≥ 0 (got -5)",
    }


@pytest.fixture
def state(helsinki, tmp_path):
    return DashboardState(Twin(helsinki), RunStore(tmp_path / "store"), draft_overrides=SMALL)


def test_a_proposal_runs_in_a_child_lands_in_the_store_and_is_not_made_twice(state, helsinki):
    request = read_proposal_form(state.draft(), {"method": "webster"})
    seen: list = []
    key = propose_signal_plans(state, request, lambda f, label: seen.append((f, label)))
    assert len(seen) > 1 and seen[-1] == (1.0, "done")
    assert seen[0][1] == "webster plans, checked at three demands"
    store = state.store
    assert store.has_proposal(key) and not store.has_proposal("0" * 16)
    assert not list((store.root / "proposals").glob(".*"))  # no staging folder left
    # what the twin proposes for the draft's traffic, whole
    expected = propose_signals(helsinki, request["spec"], seed=request["seed"])
    saved = store.proposal(key)
    assert saved["accepted"] == expected.accepted and saved["reasons"] == expected.reasons
    assert saved["timings"] == expected.timings()
    pd.testing.assert_frame_equal(store.proposal_table(key, "checks"), expected.checks)
    pd.testing.assert_frame_equal(store.proposal_table(key, "plans"), expected.table())
    delays = store.proposal_table(key, "edge_delays")
    assert len(delays) == state.basemap.n_edges
    assert len(store.proposal_table(key, "current")) == len(expected.table())
    # the same request again: read from the store, nothing simulated
    again: list = []
    assert propose_signal_plans(state, request, lambda f, label: again.append((f, label))) == key
    assert again == [(1.0, "done")]
    # another method or budget is another proposal
    search = read_proposal_form(state.draft(), {"method": "search", "simulations": 2})
    assert store.proposal_key(search, state.city_sha) != key


def test_cancel_kills_a_proposal_at_once_and_leaves_nothing_behind(state, tmp_path):
    import time

    import diskcache

    from dashboards.components import report
    from dashboards.jobs import ThreadJobManager

    manager = ThreadJobManager(diskcache.Cache(str(tmp_path / "jobs")))
    # a search far longer than the test waits
    request = read_proposal_form(state.draft(), {"method": "search", "simulations": 5000})
    seen: list = []

    def run(set_progress, _):
        def progress(value):
            seen.append(value)
            set_progress(value)

        return propose_signal_plans(
            state, request, lambda f, label: report(progress, f, label), min_interval_s=0
        )

    def wait(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    job = manager.call_job_fn("proposal", manager.make_job_fn(run, progress=True), [0], {})
    wait(lambda: len(seen) >= 3, timeout=60)  # "starting", then the search under way
    manager.terminate_job(str(job))
    started = time.monotonic()
    wait(lambda: manager.running_jobs() == 0, timeout=5)
    assert time.monotonic() - started < 1.0
    assert not any(label == "done" for _, label in seen)
    assert list((state.store.root / "proposals").iterdir()) == []
