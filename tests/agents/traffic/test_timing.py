"""Signal timing against worked textbook examples, queueing theory and the simulator itself."""

from __future__ import annotations

import numpy as np
import pytest

from agents.traffic.engine import Engine, Signals
from agents.traffic.signals import Phase, SignalPlan, default_plans
from agents.traffic.timing import (
    SignalPlanError,
    TimingLimits,
    approach_flows_vph,
    check_plans,
    webster_cycle,
    webster_delay,
    webster_greens,
    webster_plan,
)
from cities.synthetic import corridor_network
from tests.agents.traffic.test_engine import _links


# ------------------------------------------------------------------ Webster's worked examples
def test_webster_cycle_of_a_three_stage_junction():
    """Rogers, *Highway Engineering* (2nd ed., 2008), example 5.6: critical ratios 0.25,
    0.25 and 0.22, 12 s lost a cycle: C0 = 23 / 0.28 = 82 s."""
    cycle = webster_cycle([0.25, 0.25, 0.22], 12.0)
    assert round(cycle) == 82
    greens = webster_greens([0.25, 0.25, 0.22], 82.0, 12.0)
    # 70 s of effective green shared 0.25 : 0.25 : 0.22
    np.testing.assert_allclose(greens, [24.31, 24.31, 21.39], atol=0.01)


@pytest.mark.parametrize(
    ("flows", "saturations", "lost", "expected"),
    [
        # two phases, N-S 1000 of 2500 veh/h, E-W 900 of 3000, 12 s lost: 77 s (GATE CE 2014)
        ([1000, 900], [2500, 3000], 12.0, 77),
        # 500 and 300 pcu/h of 1600 each, 16 s lost: 58 s
        ([500, 300], [1600, 1600], 16.0, 58),
    ],
)
def test_webster_cycle_of_two_phase_examples(flows, saturations, lost, expected):
    ratios = np.divide(flows, saturations)
    assert round(webster_cycle(ratios, lost)) == expected


def test_webster_cycle_refuses_a_demand_no_cycle_serves():
    with pytest.raises(ValueError, match="≥ 1"):
        webster_cycle([0.6, 0.45], 8.0)


# ------------------------------------------------------------- the simulator against Webster
def _signal_on_first_link(cycle: float, green: float) -> Signals:
    return Signals(
        cycle_s=np.array([cycle, 0.0, 0.0]),
        offset_s=np.zeros(3),
        green_start_s=np.zeros(3),
        green_end_s=np.array([green, 0.0, 0.0]),
    )


def _approach_delays(departures: np.ndarray, saturation_vph: float, cycle: float, green: float):
    """Mean delay at an isolated signal: vehicles depart onto a 200 m approach whose end the
    signal controls, then drive 200 m on; delay is travel time less free-flow time."""
    network = corridor_network(
        [200, 200], capacity_vph=[saturation_vph, 3600], storage_veh=[1e5, 1e5]
    )
    engine = Engine(
        _links(network), dt=1.0, signals=_signal_on_first_link(cycle, green), stuck_time_s=None
    )
    n = len(departures)
    engine.add_vehicles(departures, np.tile([0, 1], n), np.arange(n + 1) * 2)
    while engine.counts()["arrived"] < n:
        engine.step()
    return engine.arrive - engine.depart - network.edge_free_flow_s[:2].sum()


def test_uniform_arrivals_meet_the_deterministic_queue_delay():
    """The textbook D/D/1 signal (20 arrivals a minute, 50 a minute discharged on 30 s of a 60 s
    cycle): mean delay c(1 − g/c)² / (2(1 − q/s)) = 12.5 s. That fluid figure averages over
    where in the cycle vehicles arrive; arrivals every 3 s exactly would always meet the cycle
    at the same 20 moments, so they come every 3.0137 s here, for four hours."""
    cycle, green, saturation_vph, headway = 60.0, 30.0, 3000.0, 3.0137
    textbook = cycle * (1 - green / cycle) ** 2 / (2 * (1 - (1 / 3.0) / (50 / 60)))
    assert textbook == pytest.approx(12.5)
    departures = np.arange(0.0, 4 * 3600.0, headway)
    delays = _approach_delays(departures, saturation_vph, cycle, green)
    fluid = cycle * (1 - green / cycle) ** 2 / (2 * (1 - (1 / headway) / (saturation_vph / 3600)))
    assert delays.mean() == pytest.approx(fluid, rel=0.03)


@pytest.mark.parametrize("saturation_degree", [0.5, 0.7, 0.85])
def test_random_arrivals_meet_webster_delay(saturation_degree):
    """Poisson arrivals for four hours at degrees of saturation 0.5–0.85: the simulated mean
    delay is within 15 % of Webster's formula (uniform + random − correction)."""
    cycle, green, saturation_vph = 90.0, 40.0, 1800.0
    flow_vps = saturation_degree * saturation_vph / 3600 * green / cycle
    rng = np.random.default_rng(11)
    departures = np.cumsum(rng.exponential(1 / flow_vps, size=int(4 * 3600 * flow_vps)))
    delays = _approach_delays(departures, saturation_vph, cycle, green)
    expected = webster_delay(cycle, green, flow_vps, saturation_vph / 3600)
    assert delays.mean() == pytest.approx(expected, rel=0.15)


def test_webster_delay_is_undefined_at_saturation():
    with pytest.raises(ValueError, match="saturation"):
        webster_delay(90.0, 40.0, 0.25, 0.5)


# --------------------------------------------------------------------------- plans and limits
def _cross(network_plans):
    return next(iter(network_plans.values()))


def test_webster_plan_gives_the_busier_phase_more_green(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    node, plan = next((n, p) for n, p in plans.items() if all(ph.approaches for ph in p.phases))
    flow = np.zeros(network.n_edges)
    saturation = np.full(network.n_edges, 1800.0)
    first, second = plan.phases[0].approaches, plan.phases[1].approaches
    flow[list(first)] = 1080.0  # y = 0.6
    flow[list(second)] = 360.0  # y = 0.2
    timed = webster_plan(plan, flow, saturation, np.ones(network.n_edges))
    lost = 2 * TimingLimits().intergreen_s
    # C0 = (1.5 · 8 + 5) / (1 − 0.8) = 85 s; its 77 s of green shared 3 : 1
    assert timed.cycle_s == pytest.approx(85.0)
    assert timed.cycle_s == pytest.approx(webster_cycle([0.6, 0.2], lost))
    assert timed.phases[0].green_s / timed.phases[1].green_s == pytest.approx(3.0)
    check_plans({node: timed}, network)


def test_webster_plan_keeps_the_minimum_green_and_the_maximum_cycle(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    node, plan = next((n, p) for n, p in plans.items() if all(ph.approaches for ph in p.phases))
    saturation = np.full(network.n_edges, 1800.0)
    light = np.zeros(network.n_edges)
    light[list(plan.phases[0].approaches)] = 900.0  # y = 0.5 against nothing
    lanes = network.edge_lanes
    timed = webster_plan(plan, light, saturation, lanes)
    least = TimingLimits().minimum_greens(plan, lanes)
    assert timed.phases[1].green_s == pytest.approx(least[1])
    heavy = np.full(network.n_edges, 1700.0)  # Y far above 1
    timed = webster_plan(plan, heavy, saturation, lanes)
    assert timed.cycle_s == pytest.approx(TimingLimits().max_cycle_s)
    check_plans({node: timed}, network)


def test_pedestrians_get_time_to_cross_the_other_road():
    """A phase whose pedestrians cross a road of four lanes (14 m) needs a 7 s walk and
    14 / 1.07 = 13.1 s to cross, less the 4 s intergreen they may finish in: 16.1 s."""
    plan = SignalPlan(0, (Phase((0, 1), 30.0), Phase((2, 3), 30.0)))
    lanes = np.array([1, 1, 2, 2])
    least = TimingLimits().minimum_greens(plan, lanes)
    assert least[0] == pytest.approx(7 + 14 / 1.07 - 4)
    assert least[1] == pytest.approx(max(7.0, 7 + 7 / 1.07 - 4))


def test_default_plans_respect_the_limits(helsinki):
    check_plans(default_plans(helsinki.network), helsinki.network)


def test_bad_plans_are_refused_naming_each_junction(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    (a, plan_a), (b, plan_b), (c, plan_c) = list(plans.items())[:3]
    bad = {
        a: plan_a.with_splits([3.0, plan_a.phases[1].green_s]),
        b: plan_b.with_splits([100.0, 60.0]),
        c: SignalPlan(c, (Phase(plan_c.phases[0].approaches, 30.0),)),
    }
    with pytest.raises(SignalPlanError) as caught:
        check_plans(bad, network)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    ids = [int(network.node_osmid[n]) for n in (a, b, c)]
    assert f"junction {ids[0]}: phase 1 has 3 s of green, below the vehicle minimum" in lines[0]
    assert f"junction {ids[1]}: cycle 168.0 s is over the maximum of 120 s" in lines[1]
    assert f"junction {ids[2]}: one phase only" in lines[2]


def test_a_link_with_green_in_two_phases_is_refused(helsinki):
    """The engine gives a link one green window a cycle: an approach named in two phases
    would be simulated with the later one's green alone (half the share its plan says)."""
    from agents.traffic.signals import compile_signals

    network = helsinki.network
    node, plan = next(iter(default_plans(network).items()))
    first, second = plan.phases[:2]
    link = first.approaches[0]
    doubled = SignalPlan(node, (first, Phase((*second.approaches, link), second.green_s)))
    assert doubled.green_share(link) > plan.green_share(link)
    with pytest.raises(SignalPlanError, match=f"link {link} has green in phases 1 and 2"):
        check_plans({node: doubled}, network)
    with pytest.raises(ValueError, match=f"node {node}: link {link} has green in phases 1 and 2"):
        compile_signals({node: doubled}, network.n_edges)


def test_a_plan_for_a_node_without_a_signal_is_refused(helsinki):
    network = helsinki.network
    plain = int(np.flatnonzero(~network.node_signalized)[0])
    plan = _cross(default_plans(network))
    with pytest.raises(SignalPlanError, match="not a signalized junction"):
        check_plans({plain: SignalPlan(plain, plan.phases)}, network)


def test_peak_hour_flow_is_the_busiest_rolling_hour():
    # 12 five-minute intervals of 10, then 12 of 30 vehicles: the busiest hour has 360
    entries = np.concatenate([np.full(12, 10.0), np.full(12, 30.0)])[:, None]
    flows = approach_flows_vph(entries, np.full(24, 300.0))
    assert flows == pytest.approx([360.0])
    # a run shorter than the window: its mean rate
    assert approach_flows_vph(entries[:6], np.full(6, 300.0)) == pytest.approx([120.0])
