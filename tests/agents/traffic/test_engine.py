"""The link engine against queueing theory, conservation and its own stated rules."""

from __future__ import annotations

import numpy as np
import pytest

from agents.traffic.engine import ARRIVED, PLANNED, RUNNING, Engine, LinkParams, Signals
from cities.synthetic import corridor_network, network_from_links


def _links(network, *, saturation_vph: float | None = None) -> LinkParams:
    return LinkParams(
        saturation_vps=None
        if saturation_vph is None
        else np.full(network.n_edges, saturation_vph / 3600),
        length_m=network.edge_length_m,
        free_speed_mps=network.edge_speed_kph / 3.6,
        capacity_vps=network.edge_capacity_vph / 3600.0,
        storage_veh=network.edge_storage_veh,
        from_node=network.edge_u.astype(np.int64),
        to_node=network.edge_v.astype(np.int64),
    )


def _corridor_run(network, n, rate, *, dt, signals=None, stuck=300.0, until=None):
    engine = Engine(_links(network), dt=dt, signals=signals, stuck_time_s=stuck)
    route = np.arange(network.n_edges - 1)  # the corridor, not the return link
    engine.add_vehicles(np.arange(n) / rate, np.tile(route, n), np.arange(n + 1) * len(route))
    limit = until if until is not None else 1e6
    while engine.counts()["arrived"] < n and engine.time < limit:
        engine.step()
    return engine


@pytest.mark.parametrize("dt", [1.0, 2.0, 5.0])
def test_bottleneck_delay_matches_deterministic_queue(dt):
    """Arrivals at λ = 0.8 veh/s for 30 min into a 0.5 veh/s bottleneck.

    Deterministic queueing: total delay = ½ (λ − μ) T · λT/μ = 777,600 vehicle-seconds.
    """
    lam, mu, horizon = 0.8, 0.5, 1800.0
    network = corridor_network(
        [500, 500, 500], capacity_vph=[3600, mu * 3600, 3600], storage_veh=[1e5, 1e5, 1e5]
    )
    n = int(lam * horizon)
    engine = _corridor_run(network, n, lam, dt=dt)
    free_flow = network.edge_free_flow_s[:3].sum()
    delay = (engine.arrive - engine.depart - free_flow).sum()
    expected = 0.5 * (lam - mu) * horizon * (lam * horizon / mu)
    assert delay == pytest.approx(expected, rel=0.05)
    # the queue discharges at capacity: vehicles leave the bottleneck 1/μ apart
    departures = np.sort(engine.arrive)
    gaps = np.diff(departures[n // 4 : 3 * n // 4])
    assert gaps.mean() == pytest.approx(1 / mu, rel=0.02)


def test_free_flow_trip_time_is_exact_at_low_demand():
    network = corridor_network([333.0, 71.0, 1250.0], capacity_vph=1800)
    engine = _corridor_run(network, 20, 0.01, dt=5.0)
    travel = engine.arrive - engine.depart
    np.testing.assert_allclose(travel, network.edge_free_flow_s[:3].sum(), atol=1e-9)


def _ring_engine(stuck):
    """Four one-way links around a block; every driver goes three quarters of the way round.

    Once each link is full of drivers waiting for the next one, no one can move: the textbook
    gridlock of a spatial queue.
    """
    square = np.array([(0, 0), (100, 0), (100, 100), (0, 100)], dtype=float)
    network = network_from_links(
        square, [(0, 1), (1, 2), (2, 3), (3, 0)], speed_kph=36, capacity_vph=3600, storage_veh=10
    )
    engine = Engine(_links(network), dt=1.0, stuck_time_s=stuck)
    n = 400
    start = np.arange(n) % 4
    edges = ((start[:, None] + np.arange(3)[None, :]) % 4).ravel()
    engine.add_vehicles(np.zeros(n), edges, np.arange(n + 1) * 3)  # everyone leaves at once
    return engine, network, n


def test_conservation_under_gridlock():
    engine, network, n = _ring_engine(stuck=None)
    for _ in range(1200):
        engine.step()
        states = np.bincount(engine.state, minlength=3)
        assert states.sum() == n
        running = np.flatnonzero(engine.state == RUNNING)
        # every running vehicle sits on exactly one link, and each link holds what it counts
        np.testing.assert_array_equal(
            np.bincount(engine.link[running], minlength=network.n_edges), engine.occupancy
        )
        np.testing.assert_array_equal(engine.entered - engine.exited, engine.occupancy)
        assert np.all(engine.occupancy <= 10)
        assert np.all(engine.link[engine.state != RUNNING] == -1)
        # the running tallies agree with the vehicles' states
        counts = engine.counts()
        assert counts["running"] == states[RUNNING] and counts["arrived"] == states[ARRIVED]
        assert counts["planned"] + counts["waiting"] == states[PLANNED]
        assert counts["waiting"] == np.count_nonzero(engine.waiting())
        ready = (engine.state == RUNNING) & (engine.ready <= engine.time + 1e-9)
        np.testing.assert_array_equal(
            engine.queued(), np.bincount(engine.link[ready], minlength=network.n_edges)
        )
    counts = engine.counts()
    assert np.all(engine.occupancy == 10), "the ring should be gridlocked"
    assert counts["running"] == 40 and counts["waiting"] == n - 40 and counts["arrived"] == 0
    assert states[PLANNED] + states[ARRIVED] + states[RUNNING] == n


def test_stuck_release_clears_gridlock():
    engine, _, n = _ring_engine(stuck=60.0)
    while engine.counts()["arrived"] < n and engine.time < 20_000:
        engine.step()
    assert engine.counts()["arrived"] == n


def test_spillback_full_link_stops_its_upstream():
    """A link that never discharges fills to its storage, then its upstream link stops."""
    network = corridor_network([150] * 4, capacity_vph=1800, storage_veh=[20] * 4)
    never_green = Signals(
        cycle_s=np.array([0, 0, 60.0, 0, 0]),
        offset_s=np.zeros(5),
        green_start_s=np.zeros(5),
        green_end_s=np.zeros(5),
    )
    engine = _corridor_run(network, 100, 0.5, dt=1.0, signals=never_green, stuck=None, until=900)
    assert engine.occupancy[2] == 20  # the blocked link is full
    assert engine.occupancy[1] == 20  # its upstream link filled behind it
    assert engine.exited[1] == 20  # and passed on no more than the blocked link could take
    assert engine.occupancy[0] == 20 and engine.counts()["waiting"] == 100 - 60


def _two_groups(network, through, parkers, *, signals=None, rate=0.5):
    """Vehicles at ``rate`` a second, alternately: ``through`` cross link 1's end, ``parkers``
    end their trip there (the corridor's first two links)."""
    engine = Engine(
        _links(network, saturation_vph=1900), dt=1.0, signals=signals, stuck_time_s=None
    )
    kinds = np.array([1] * through + [0] * parkers)
    routes = [[0, 1, 2] if kind else [0, 1] for kind in kinds]
    engine.add_vehicles(
        np.arange(len(kinds)) / rate,
        np.concatenate(routes),
        np.concatenate([[0], np.cumsum([len(r) for r in routes])]),
    )
    return engine, kinds


def test_trips_ending_before_a_junction_do_not_queue_for_it():
    """Vehicles ending their trip on a link leave it without its junction's capacity: 0.5 veh/s
    into a 0.1 veh/s junction, all parking before it, arrive at free flow; the same stream
    crossing it queues as the deterministic queue says (last one out at n / μ)."""
    network = corridor_network([200, 200, 200], capacity_vph=[3600, 360, 3600])
    free_flow = network.edge_free_flow_s
    engine, _ = _two_groups(network, 0, 60)
    while engine.counts()["arrived"] < 60:
        engine.step()
    np.testing.assert_allclose(engine.arrive - engine.depart, free_flow[:2].sum(), atol=1e-9)

    engine, _ = _two_groups(network, 60, 0)
    while engine.counts()["arrived"] < 60:
        engine.step()
    # the junction passes one vehicle per 10 s once its rested budget is spent
    assert engine.arrive.max() == pytest.approx(59 / 0.1 + free_flow[:3].sum(), abs=12)


def test_parkers_keep_their_place_in_the_queue():
    """First in, first out holds for vehicles that end their trip: behind a vehicle held at a
    red light, they wait; once it leaves, they follow at the road's headway, not the
    junction's."""
    network = corridor_network([200, 200, 200], capacity_vph=3600)
    red_until_300 = Signals(
        cycle_s=np.array([0, 1e6, 0, 0]),
        offset_s=np.zeros(4),
        green_start_s=np.array([0, 300.0, 0, 0]),
        green_end_s=np.array([0, 1e6, 0, 0]),
    )
    engine = Engine(_links(network), dt=1.0, signals=red_until_300, stuck_time_s=None)
    # one through vehicle first, then five that park at link 1's end
    routes = np.array([0, 1, 2] + [0, 1] * 5)
    engine.add_vehicles(np.arange(6) * 2.0, routes, np.array([0, 3, 5, 7, 9, 11, 13]))
    while engine.time < 600:
        engine.step()
    # held behind the red light's queue leader, who crosses as the light turns green at 300 s
    # (not at the start of the step whose end is green), then gone one a second: the road's
    # discharge (3,600 veh/h here, its saturation flow; a rested road lets one more go at once)
    assert engine.arrive[0] == pytest.approx(300.0 + network.edge_free_flow_s[2])
    np.testing.assert_allclose(engine.arrive[1:], [300.0, 300.0, 301.0, 302.0, 303.0])


def test_links_take_in_their_saturation_flow_whatever_their_junction_passes():
    """A link's own capacity (saturation flow) bounds what enters it, its junction's capacity
    what leaves: 0.4 veh/s into a long link whose junction passes 600 veh/h queue on that link,
    not on the one before it."""
    network = corridor_network(
        [300, 3000, 300], capacity_vph=[3600, 600, 3600], storage_veh=[1e5, 1e5, 1e5]
    )
    params = _links(network)
    with_road = _links(network, saturation_vph=1900)
    for links, first_link_clear in ((with_road, True), (params, False)):
        engine = Engine(links, dt=1.0)
        route = np.arange(3)
        engine.add_vehicles(np.arange(720) / 0.4, np.tile(route, 720), np.arange(721) * 3)
        while engine.time < 1800:
            engine.step()
        # free flow on the first link: every vehicle left it unless it departed in the last
        # link time
        left_first = engine.exited[0]
        assert (left_first >= 720 - 0.4 * network.edge_free_flow_s[0] - 2) == first_link_clear
    # the road's diagram: w = q / (κ − q/u) with the saturation flow, not the junction's
    q = np.maximum(1900, network.edge_capacity_vph) / 3600
    kappa, u = params.storage_veh / params.length_m, params.free_speed_mps
    np.testing.assert_allclose(with_road.backward_wave_mps, q / (kappa - q / u), rtol=1e-12)


def test_merge_shares_follow_upstream_capacities():
    """Two saturated approaches into a bottleneck share it in proportion to their capacities
    (the capacity-proportional merge of first-order node models, Tampère et al. 2011)."""
    network = network_from_links(
        [(0, 0), (0, 200), (300, 100), (800, 100)],
        [(0, 2), (1, 2), (2, 3)],
        speed_kph=50,
        capacity_vph=[1800, 900, 900],
        storage_veh=1e5,
    )
    engine = Engine(_links(network), dt=1.0)
    n = 1500
    routes = np.concatenate([np.tile([0, 2], n), np.tile([1, 2], n)])
    engine.add_vehicles(np.zeros(2 * n), routes, np.arange(2 * n + 1) * 2)
    while engine.time < 600:  # both queues form
        engine.step()
    before = engine.exited[:2].copy()
    while engine.time < 3600:
        engine.step()
    through_a, through_b = engine.exited[:2] - before
    assert through_a + through_b == pytest.approx(750, abs=2)  # the bottleneck ran at capacity
    assert through_a / (through_a + through_b) == pytest.approx(2 / 3, abs=0.04)


def test_diverge_holds_through_traffic_behind_a_blocked_branch():
    """First in, first out at a diverge (Daganzo 1995): half the drivers turn into a branch
    that passes 360 veh/h; the other half queue behind them, so the approach discharges
    360 / 0.5 = 720 veh/h and the free branch gets 360, not the 1,800 it could take."""
    network = network_from_links(
        [(0, 0), (400, 0), (800, 100), (800, -100), (1200, 0)],
        [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)],
        speed_kph=50,
        capacity_vph=[1800, 1800, 360, 3600, 3600],
        storage_veh=[1e5, 1e5, 20, 1e5, 1e5],
    )
    engine = Engine(_links(network, saturation_vph=1900), dt=1.0, stuck_time_s=None)
    n = 3000
    branch = np.arange(n) % 2  # alternately to the free branch (link 1) and the narrow one (2)
    routes = np.column_stack([np.zeros(n, int), 1 + branch, 3 + branch]).ravel()
    engine.add_vehicles(np.arange(n) * 2.0, routes, np.arange(n + 1) * 3)
    while engine.time < 900:  # the narrow branch fills and spills back
        engine.step()
    before = engine.exited[:3].copy()
    while engine.time < 2700:
        engine.step()
    approach, free, narrow = engine.exited[:3] - before
    assert narrow == pytest.approx(180, abs=3)  # 360 veh/h for half an hour
    assert free == pytest.approx(180, abs=6) and approach == pytest.approx(360, abs=6)


@pytest.mark.parametrize("dt", [1.0, 5.0])
def test_a_chain_of_short_links_keeps_the_bottleneck_queue_exact(dt):
    """Ten links of 15 m (two vehicles each) between the origin's link and a 900 veh/h
    bottleneck: the queue spills back through all of them, and still the total delay is the
    deterministic queue's ½ (λ − μ) T · λT/μ, and vehicles leave 1/μ apart (no capacity lost on
    the short links, whatever the step)."""
    lam, mu, horizon = 0.4, 0.25, 1800.0
    lengths = [500] + [15] * 10 + [300, 300]
    capacity = [3600] + [1800] * 10 + [mu * 3600, 3600]
    storage = [1e5] + [2] * 10 + [1e5, 1e5]
    network = corridor_network(lengths, capacity_vph=capacity, storage_veh=storage)
    n = int(lam * horizon)
    engine = Engine(_links(network, saturation_vph=1900), dt=dt)
    route = np.arange(len(lengths))
    engine.add_vehicles(np.arange(n) / lam, np.tile(route, n), np.arange(n + 1) * len(route))
    while engine.counts()["arrived"] < n:
        engine.step()
    assert engine.occupancy.sum() == 0
    delay = (engine.arrive - engine.depart - network.edge_free_flow_s[route].sum()).sum()
    assert delay == pytest.approx(0.5 * (lam - mu) * horizon * (lam * horizon / mu), rel=0.05)
    gaps = np.diff(np.sort(engine.arrive)[n // 4 : 3 * n // 4])
    assert gaps.mean() == pytest.approx(1 / mu, rel=0.02)


def test_a_ring_below_its_storage_never_locks():
    """The gridlock ring with 20 drivers instead of 400: nobody waits; every trip takes its
    free-flow time."""
    square = np.array([(0, 0), (100, 0), (100, 100), (0, 100)], dtype=float)
    network = network_from_links(
        square, [(0, 1), (1, 2), (2, 3), (3, 0)], speed_kph=36, capacity_vph=3600, storage_veh=10
    )
    engine = Engine(_links(network), dt=1.0, stuck_time_s=None)
    start = np.arange(20) % 4
    edges = ((start[:, None] + np.arange(3)[None, :]) % 4).ravel()
    engine.add_vehicles(np.arange(20) * 3.0, edges, np.arange(21) * 3)
    while engine.counts()["arrived"] < 20 and engine.time < 600:
        engine.step()
    np.testing.assert_allclose(engine.arrive - engine.depart, 30.0, atol=1e-9)


def test_signal_throughput_follows_green_share():
    """A saturated approach passes capacity × green / cycle (the HCM's signalized capacity)."""
    capacity, cycle, green = 1800.0, 90.0, 36.0
    network = corridor_network([200, 200], capacity_vph=[capacity, 3600], storage_veh=[1e5, 1e5])
    signals = Signals(
        cycle_s=np.array([cycle, 0, 0]),
        offset_s=np.zeros(3),
        green_start_s=np.zeros(3),
        green_end_s=np.array([green, 0, 0]),
    )
    engine = _corridor_run(network, 3000, 1.0, dt=1.0, signals=signals, until=1800)
    passed = engine.exited[0]
    expected = capacity / 3600 * green / cycle * 1800
    assert passed == pytest.approx(expected, rel=0.05)


def test_a_signal_replaces_the_junction_capacity_with_the_saturation_flow():
    """A signalized approach passes saturation flow × green / cycle, whatever its junction's
    give-way capacity (600 veh/h on a residential street): the signal takes that role."""
    cycle, green = 90.0, 36.0
    network = corridor_network([200, 200], capacity_vph=[600, 3600], storage_veh=[1e5, 1e5])
    signals = Signals(
        cycle_s=np.array([cycle, 0, 0]),
        offset_s=np.zeros(3),
        green_start_s=np.zeros(3),
        green_end_s=np.array([green, 0, 0]),
    )
    engine = Engine(_links(network, saturation_vph=1900), dt=1.0, signals=signals)
    route = np.arange(2)
    engine.add_vehicles(np.arange(3000) / 1.0, np.tile(route, 3000), np.arange(3001) * 2)
    while engine.time < 1800:
        engine.step()
    assert engine.exited[0] == pytest.approx(1900 / 3600 * green / cycle * 1800, rel=0.05)
    # without the signal, the junction's own capacity holds
    engine = Engine(_links(network, saturation_vph=1900), dt=1.0)
    engine.add_vehicles(np.arange(3000) / 1.0, np.tile(route, 3000), np.arange(3001) * 2)
    while engine.time < 1800:
        engine.step()
    assert engine.exited[0] == pytest.approx(600 / 3600 * 1800, rel=0.05)


def test_bad_routes_are_refused():
    network = corridor_network([100, 100])
    engine = Engine(_links(network))
    with pytest.raises(ValueError, match="at least one link"):
        engine.add_vehicles(np.array([0.0]), np.zeros(0, dtype=int), np.array([0, 0]))
    with pytest.raises(ValueError, match="time step"):
        Engine(_links(network), dt=0)


def test_invariants_hold_with_the_stuck_rule_and_vehicles_added_mid_run():
    """Overfilled links (stuck rule), vehicles added while others run: the per-link rings,
    the running tallies and the queue counts agree with the vehicles' own states."""
    engine, network, n = _ring_engine(stuck=60.0)
    for step in range(900):
        if step == 300:  # a second wave, some departing in the past (moved to now)
            late = np.arange(20) * 3.0 + engine.time - 30.0
            engine.add_vehicles(late, np.tile([0, 1], 20), np.arange(21) * 2)
            n += 20
        engine.step()
        states = np.bincount(engine.state, minlength=3)
        assert states.sum() == n == engine.n_vehicles
        counts = engine.counts()
        assert counts["running"] == states[RUNNING] and counts["arrived"] == states[ARRIVED]
        assert counts["waiting"] == np.count_nonzero(engine.waiting())
        running = np.flatnonzero(engine.state == RUNNING)
        np.testing.assert_array_equal(
            np.bincount(engine.link[running], minlength=network.n_edges), engine.occupancy
        )
        ready = running[engine.ready[running] <= engine.time + 1e-9]
        np.testing.assert_array_equal(
            engine.queued(), np.bincount(engine.link[ready], minlength=network.n_edges)
        )
    assert engine.counts()["arrived"] > 0


@pytest.mark.parametrize(
    "depart, edges, offsets, message",
    [
        ([0.0], [99], [0, 1], "link indices"),
        ([0.0], [-1], [0, 1], "link indices"),
        ([np.nan], [0], [0, 1], "finite"),
        ([0.0, 1.0], [0], [0, 1], "route_offsets"),
    ],
)
def test_bad_vehicles_are_refused_before_the_compiled_step_sees_them(
    depart, edges, offsets, message
):
    network = corridor_network([100.0, 100.0])
    engine = Engine(_links(network))
    with pytest.raises(ValueError, match=message):
        engine.add_vehicles(np.array(depart), np.array(edges), np.array(offsets))
    assert engine.n_vehicles == 0


def _adaptive_grid():
    from cities.routing import Router
    from cities.synthetic import grid_network

    network = grid_network(4)
    router = Router(network)
    destinations = np.array([15, 12])
    next_edge, cost_to_go = router.next_hops(destinations)
    engine = Engine(_links(network), dt=1.0)
    return network, router, destinations, next_edge, cost_to_go, engine


def test_adaptive_drivers_follow_the_tables_to_their_destination():
    """Few drivers, free flow: each takes a shortest path to its destination node, so its trip
    time is Dijkstra's free-flow cost (within float rounding)."""
    network, router, destinations, next_edge, cost_to_go, engine = _adaptive_grid()
    origins = np.array([0, 1, 4, 3])
    rows = np.array([0, 0, 1, 1])
    first = next_edge[rows, origins].astype(np.int64)
    engine.add_vehicles(
        np.arange(4) * 200.0, first, np.arange(5), choice_row=rows, destination=destinations[rows]
    )
    engine.push_choice_table(next_edge, cost_to_go, network.edge_free_flow_s)
    while engine.counts()["arrived"] < 4 and engine.time < 3600:
        engine.step()
    assert engine.counts()["arrived"] == 4
    np.testing.assert_allclose(engine.arrive - engine.depart, cost_to_go[rows, origins], rtol=1e-6)
    # and drives a shortest path's length (on this grid every shortest path is as long)
    shortest = router.routes(origins, destinations[rows])
    lengths = [network.edge_length_m[shortest.path(i)].sum() for i in range(len(origins))]
    np.testing.assert_allclose(engine.distance, lengths, rtol=1e-9)


def test_an_adaptive_driver_never_turns_back_where_another_way_exists():
    """A table that sends drivers back where they came from (as a stale table can) is
    overruled by the best other way out of the node."""
    network, _, destinations, next_edge, cost_to_go, engine = _adaptive_grid()
    # from node 1, drive to node 5 first; the table then says "back to node 1" at node 5
    into_5 = int(np.flatnonzero((network.edge_u == 1) & (network.edge_v == 5))[0])
    back = int(np.flatnonzero((network.edge_u == 5) & (network.edge_v == 1))[0])
    bad = next_edge.copy()
    bad[0, 5] = back
    engine.add_vehicles(np.zeros(1), [into_5], [0, 1], choice_row=[0], destination=destinations[:1])
    engine.push_choice_table(bad, cost_to_go, network.edge_free_flow_s)
    while engine.counts()["arrived"] < 1 and engine.time < 3600:
        engine.step()
        assert engine.link[0] != back
    assert engine.counts()["arrived"] == 1


def test_instantaneous_route_cost_counts_standing_vehicles():
    """Ten vehicles stand at a red that never ends and an eleventh still rolls towards them:
    the mean speed on that link is an eleventh of free speed, so the instantaneous cost is
    eleven free-flow times, while the experienced cost (nobody left yet) is the link's length
    over the congested branch's speed at 11 of 20 vehicles, w (20 − 11) / 11, and the empty
    links cost their free-flow time. Once the eleventh
    reaches the back of the queue (10 × 7.5 m from the end), short of the link's end, all
    stand: 100 free-flow times (the speed floor)."""
    network = corridor_network([150.0] * 3, capacity_vph=1800, storage_veh=[20] * 3)
    never_green = Signals(
        cycle_s=np.array([0, 60.0, 0, 0]),
        offset_s=np.zeros(4),
        green_start_s=np.zeros(4),
        green_end_s=np.zeros(4),
    )
    engine = Engine(_links(network), dt=1.0, signals=never_green, stuck_time_s=None)
    depart = np.concatenate([np.arange(10) * 5.0, [200.0]])
    engine.add_vehicles(depart, np.tile([0, 1, 2], 11), np.arange(12) * 3)
    free = network.edge_free_flow_s
    speed = 150.0 / free[1]

    def reached() -> float:  # the last vehicle's free-speed distance into the red link
        return (engine.time - engine.dt - engine.link_entry[10]) * speed

    while engine.link[10] != 1:
        engine.step()
    assert engine.occupancy[1] == 11 and reached() < 150 - 10 * 7.5
    experienced = engine.link_travel_times(method="experienced")
    instantaneous = engine.link_travel_times(method="instantaneous")
    assert instantaneous[1] == pytest.approx(11 * free[1])
    assert experienced[1] == pytest.approx(150 / (engine.wave_speed[1] * (20 - 11) / 11))
    for link in (0, 2):
        assert instantaneous[link] == pytest.approx(free[link])
    while reached() < 150 - 10 * 7.5:
        engine.step()
    assert reached() < 150  # at the back of the queue, not at the link's end
    assert engine.link_travel_times(method="instantaneous")[1] == pytest.approx(100 * free[1])
    with pytest.raises(ValueError, match="route cost"):
        engine.link_travel_times(method="guess")


def test_an_interval_counts_its_queue_at_its_end():
    """A red light held for 1,000 s: the cars at its stop line at 10 s and at 60 s are both in
    the queue the first minute's interval records, whatever the step (it counted the queue at
    the start of the interval's last step and missed the second)."""
    network = corridor_network([100.0, 100.0], speed_kph=36.0, capacity_vph=1800)
    first = np.arange(network.n_edges) == 0
    red = Signals(
        cycle_s=np.where(first, 1000.0, 0.0),
        offset_s=np.zeros(network.n_edges),
        green_start_s=np.where(first, 999.0, 0.0),
        green_end_s=np.where(first, 1000.0, 0.0),
    )
    for dt in (1.0, 5.0, 10.0):
        engine = Engine(_links(network), dt=dt, signals=red, record_interval_s=60.0)
        # at the stop line at 10, 60 and 65 s (10 s of free flow each)
        engine.add_vehicles(np.array([0.0, 50.0, 55.0]), np.tile([0, 1], 3), np.arange(4) * 2)
        while engine.time < 60.0 - 1e-9:
            engine.step()
        assert engine.interval_series()["queued"][0, 0] == engine.queued()[0] == 2, dt


def test_nothing_waits_before_the_first_step():
    """Forty trips due at 0 s: before any step none has been held (the first collected row
    counted all forty as waiting at the network's edge); after the first, those its first
    link could not take are."""
    network = corridor_network([20.0, 500.0], capacity_vph=3600)
    engine = Engine(_links(network), dt=1.0)
    engine.add_vehicles(np.zeros(40), np.tile([0, 1], 40), np.arange(41) * 2)
    assert engine.counts()["waiting"] == 0 and not engine.waiting().any()
    engine.step()
    held = engine.counts()["waiting"]
    assert 0 < held < 40 and held == np.count_nonzero(engine.waiting())
