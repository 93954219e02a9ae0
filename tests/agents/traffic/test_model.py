"""TrafficModel on real cities: free flow, determinism, Mesa agents, interventions, demand."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from agents.traffic.agents import SignalAgent, VehicleAgent
from agents.traffic.demand import Trips, generate_trips, read_od_table
from agents.traffic.model import TrafficConfig, TrafficModel
from agents.traffic.signals import INTERNAL_LINK_M, default_plans
from cities.interventions import ChangeEdge, CloseEdge, apply_to_network
from twin.errors import TwinError


def _spaced_trips(network, n, gap_s, seed=0) -> Trips:
    rng = np.random.default_rng(seed)
    origin = rng.integers(0, network.n_nodes, n)
    destination = (origin + 1 + rng.integers(0, network.n_nodes - 1, n)) % network.n_nodes
    return Trips(origin, destination, np.arange(n) * gap_s)


def test_free_flow_travel_times_equal_shortest_paths(helsinki):
    """One car every five minutes, no signals: each trip takes its free-flow shortest-path time."""
    network = helsinki.network
    trips = _spaced_trips(network, 24, 300.0)
    config = TrafficConfig(duration_s=24 * 300 + 1800, dt_s=2.0, reroute_share=0.0)
    result = TrafficModel(network, trips, config=config, signal_plans={}, seed=1).run()
    table = result.trips
    assert (table["status"] == "arrived").all()
    graph = network.to_networkx()
    for row in table.itertuples():
        reference = nx.shortest_path_length(
            graph, row.origin, row.destination, weight="free_flow_s"
        )
        assert row.travel_time_s == pytest.approx(reference, abs=1e-6)


def test_same_seed_same_kpis(helsinki):
    def run(seed):
        trips = generate_trips(
            helsinki.context, n_trips=800, window_s=1800, rng=np.random.default_rng(seed)
        )
        config = TrafficConfig(duration_s=3600, reroute_share=0.5)
        return TrafficModel(helsinki.network, trips, config=config, seed=seed).run().kpis

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other


def test_route_choice_searches_only_towards_drivers_who_may_read_the_table(helsinki, monkeypatch):
    """Trees towards the destinations of drivers on the road or leaving while a table is kept
    give the very run that trees towards every destination give; over a long departure window
    the first table holds far fewer of them."""
    import agents.traffic.model as traffic_model
    from agents.traffic.engine import CHOICE_TABLES_KEPT

    def run():
        trips = generate_trips(
            helsinki.context, n_trips=1500, window_s=4 * 3600, rng=np.random.default_rng(5)
        )
        config = TrafficConfig(duration_s=4 * 3600 + 1800, reroute_share=0.5)
        model = TrafficModel(helsinki.network, trips, config=config, seed=5)
        model.step()
        table = model.engine._tables.next_edge[0]
        filled = set(np.flatnonzero((table >= 0).any(axis=1)).tolist())
        engine = model.engine
        reach = CHOICE_TABLES_KEPT * (config.reroute_interval_s + config.dt_s)
        soon = set(engine.choice_row[(engine.choice_row >= 0) & (engine.depart < reach)].tolist())
        return model.run(), filled, soon, len(model._destinations)

    restricted, filled, soon, destinations = run()
    monkeypatch.setattr(traffic_model, "CHOICE_TABLES_KEPT", 10**6)  # every destination
    everyone, filled_all, _, _ = run()
    pd.testing.assert_frame_equal(restricted.trips, everyone.trips)
    pd.testing.assert_frame_equal(restricted.edge_series, everyone.edge_series)
    assert restricted.kpis == everyone.kpis
    assert len(filled_all) == destinations
    # the first table: rows for the drivers leaving within the kept tables' reach, no others
    assert filled == soon
    assert len(filled) < destinations / 2


def test_default_signal_plans(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    signalized = set(np.flatnonzero(network.node_signalized).tolist())
    assert set(plans) <= signalized and len(plans) > len(signalized) / 2
    for node in signalized - set(plans):  # a junction's inner node: all its approaches inside
        incoming = network.in_edges_of(node)
        assert (network.edge_length_m[incoming] < INTERNAL_LINK_M).all()
    for plan in plans.values():
        assert plan.cycle_s == pytest.approx(90.0)
        approaches = [e for phase in plan.phases for e in phase.approaches]
        incoming = set(network.in_edges_of(plan.node).tolist())
        assert set(approaches) <= incoming
        for edge in incoming - set(approaches):  # only links inside a complex junction go free
            assert network.edge_length_m[edge] < INTERNAL_LINK_M
            assert network.node_signalized[network.edge_u[edge]]
        assert all(network.edge_v[e] == plan.node for e in approaches)
        assert len(approaches) == len(set(approaches))  # each approach in one phase
        assert sum(p.green_s for p in plan.phases) < plan.cycle_s  # lost time is not green


def test_mesa_agents_and_data_collection(helsinki):
    trips = generate_trips(
        helsinki.context, n_trips=300, window_s=900, rng=np.random.default_rng(0)
    )
    model = TrafficModel(helsinki.network, trips, config=TrafficConfig(duration_s=1800), seed=0)
    result = model.run()
    vehicles = model.agents_by_type[VehicleAgent]
    signals = model.agents_by_type[SignalAgent]
    assert len(vehicles) == len(result.trips) and len(signals) == len(
        default_plans(helsinki.network)
    )
    for agent in list(vehicles)[:50]:
        row = result.trips.iloc[agent.vehicle]
        if agent.state == "arrived":
            assert agent.travel_time_s == pytest.approx(row["travel_time_s"])
            assert agent.distance_m == pytest.approx(row["distance_m"])
    data = result.model_data
    # every minute from 0, and the end: the last row counts what the trips table ends with
    assert data["time_s"].tolist() == pytest.approx([60.0 * i for i in range(31)])
    assert (data["arrived"].diff().dropna() >= 0).all()
    status = result.trips["status"].value_counts()
    assert data.iloc[-1][["planned", "waiting", "running", "arrived"]].to_dict() == {
        state: status.get(state, 0) for state in ("planned", "waiting", "running", "arrived")
    }
    # conservation in Mesa's own records: every vehicle is counted exactly once
    states = data["planned"] + data["waiting"] + data["running"] + data["arrived"]
    assert (states == len(result.trips)).all()
    assert data["running"].max() > 0 and data["arrived"].iloc[-1] > 0


def test_retimed_signal_changes_throughput(helsinki):
    network = helsinki.network
    trips = generate_trips(
        helsinki.context, n_trips=1500, window_s=1800, rng=np.random.default_rng(1)
    )
    base = TrafficModel(network, trips, config=TrafficConfig(duration_s=2400), seed=1)
    busiest = max(base.signal_agents, key=lambda agent: len(network.in_edges_of(agent.node)))
    quick = TrafficModel(network, trips, config=TrafficConfig(duration_s=2400), seed=1)
    agent = next(a for a in quick.signal_agents if a.node == busiest.node)
    agent.set_plan(agent.plan.with_splits([5.0] * len(agent.plan.phases)))
    assert agent.plan.cycle_s < busiest.plan.cycle_s
    assert base.run().kpis != quick.run().kpis


def test_closing_a_street_reroutes_and_changes_kpis(helsinki):
    network = helsinki.network
    trips = generate_trips(
        helsinki.context, n_trips=600, window_s=1800, rng=np.random.default_rng(2)
    )
    base = TrafficModel(network, trips, config=TrafficConfig(duration_s=3600), seed=2).run()
    used = np.bincount(
        np.concatenate(
            [
                TrafficModel(network, trips, seed=2)
                .router.routes(trips.origin, trips.destination)
                .edges
            ]
        ),
        minlength=network.n_edges,
    )
    busiest = int(used.argmax())
    u, v = network.node_osmid[network.edge_u[busiest]], network.node_osmid[network.edge_v[busiest]]
    edge_id = f"{u}-{v}"
    changed, closed = apply_to_network(network, [CloseEdge(edge=edge_id)])
    assert closed.sum() == 1 and closed[busiest]
    model = TrafficModel(
        changed, trips, config=TrafficConfig(duration_s=3600), closed=closed, seed=2
    )
    result = model.run()
    assert model.engine.exited[busiest] == 0  # nobody drives the closed street
    assert result.kpis["vehicle_km"] != base.kpis["vehicle_km"]


def test_change_edge_lanes_scales_capacity(helsinki):
    network = helsinki.network
    way = int(network.edge_osmid[0])
    changed, _ = apply_to_network(network, [ChangeEdge(way=way, lanes=3, speed_kph=20)])
    on_way = network.edge_osmid == way
    np.testing.assert_allclose(
        changed.edge_capacity_vph[on_way],
        network.edge_capacity_vph[on_way] * 3 / network.edge_lanes[on_way],
    )
    np.testing.assert_allclose(changed.edge_speed_kph[on_way], 20)
    np.testing.assert_array_equal(
        changed.edge_capacity_vph[~on_way], network.edge_capacity_vph[~on_way]
    )


@pytest.mark.parametrize(
    ("intervention", "message"),
    [
        (CloseEdge(edge="1-2"), "not in this city's network"),
        (CloseEdge(edge="abc"), "Cannot read edge id"),
        (CloseEdge(way=1), "not part of this city's drivable network"),
        (CloseEdge(), "exactly one"),
        (ChangeEdge(way=None, edge=None, lanes=2), "exactly one"),
    ],
)
def test_bad_interventions_name_the_problem(helsinki, intervention, message):
    with pytest.raises(TwinError, match=message):
        apply_to_network(helsinki.network, [intervention])


def test_injected_trucks_travel_with_traffic(helsinki):
    network = helsinki.network
    trips = generate_trips(
        helsinki.context, n_trips=200, window_s=600, rng=np.random.default_rng(5)
    )
    model = TrafficModel(network, trips, config=TrafficConfig(duration_s=1800), seed=5)
    trucks = model.inject_vehicles(np.array([0, 1]), np.array([5, 9]), np.array([60.0, 120.0]))
    model.run()
    assert [t.kind for t in trucks] == ["truck", "truck"]
    assert all(t.state == "arrived" and t.travel_time_s > 0 for t in trucks)


def test_od_table(helsinki, tmp_path):
    network = helsinki.network
    ids = network.node_osmid
    table = pd.DataFrame(
        {
            "origin": [ids[0], ids[1], 12345, ids[2]],
            "destination": [ids[5], ids[6], ids[7], ids[2]],
            "departure": ["00:01:00", "120", "0", "30"],
        }
    )
    path = tmp_path / "od.csv"
    table.to_csv(path, index=False)
    trips, report = read_od_table(path, network)
    assert report == {"rows": 4, "unknown_nodes": 1, "same_origin_destination": 1}
    np.testing.assert_allclose(trips.depart_s, [60.0, 120.0])
    with pytest.raises(TwinError, match="name nodes not in the network"):
        read_od_table(path, network, on_invalid="error")
    (tmp_path / "bad.csv").write_text("origin,destination\n1,2\n")
    with pytest.raises(TwinError, match="lacks column"):
        read_od_table(tmp_path / "bad.csv", network)
    # an aggregated matrix's counts would be read as one trip a row: refused, not ignored
    counted = tmp_path / "counted.csv"
    table.assign(count=[5, 1, 1, 1]).to_csv(counted, index=False)
    with pytest.raises(TwinError, match="has column\\(s\\) 'count' the twin does not read"):
        read_od_table(counted, network)
    # a negative time named by its line
    (tmp_path / "early.csv").write_text(f"origin,destination,departure\n{ids[0]},{ids[5]},60\n"
                                        f"{ids[1]},{ids[6]},-30\n")  # fmt: skip
    with pytest.raises(TwinError, match=r"early\.csv: line 3 departs at '-30'"):
        read_od_table(tmp_path / "early.csv", network)
    # an id with a fraction names no node (once read as the node its whole part names)
    fraction = f"origin,destination,departure\n{ids[0]}.7,{ids[5]},60\n"
    (tmp_path / "fraction.csv").write_text(fraction)
    with pytest.raises(TwinError, match=rf"first: origin {ids[0]}\.7.*\(--on-invalid skip"):
        read_od_table(tmp_path / "fraction.csv", network, on_invalid="error")
    # a header alone: once a run of no traffic, with no word
    (tmp_path / "empty.csv").write_text("origin,destination,departure\n")
    with pytest.raises(TwinError, match=r"OD table empty\.csv has no rows: give one row per trip"):
        read_od_table(tmp_path / "empty.csv", network)
    # a file saved with semicolons: said, not only "lacks columns"
    (tmp_path / "semi.csv").write_text(f"origin;destination;departure\n{ids[0]};{ids[5]};60\n")
    with pytest.raises(TwinError, match="its columns seem separated by ';': save it with commas"):
        read_od_table(tmp_path / "semi.csv", network)


@pytest.mark.parametrize(
    ("departure", "words"),
    [
        ("99:99:99", "minutes and seconds below 60"),
        ("inf", "finite seconds"),
        ("nan", "finite seconds"),
        ("soon", "(e.g. 'soon')"),
    ],
)
def test_od_departures_that_are_no_time_are_refused(helsinki, tmp_path, departure, words):
    ids = helsinki.network.node_osmid
    path = tmp_path / "od.csv"
    pd.DataFrame(
        {
            "origin": [ids[0], ids[1]],
            "destination": [ids[5], ids[6]],
            "departure": ["60", departure],
        }
    ).to_csv(path, index=False)
    with pytest.raises(TwinError, match=re.escape(words)) as err:
        read_od_table(path, helsinki.network)
    assert "1 departure times cannot be read" in str(err.value)


def test_od_rows_going_nowhere_are_refused_when_asked(helsinki, tmp_path):
    ids = helsinki.network.node_osmid
    path = tmp_path / "od.csv"
    pd.DataFrame(
        {"origin": [ids[0], ids[2]], "destination": [ids[5], ids[2]], "departure": [0, 9]}
    ).to_csv(path, index=False)
    assert len(read_od_table(path, helsinki.network)[0]) == 1  # skipped, and counted
    with pytest.raises(TwinError, match="1 of 2 rows start where they end"):
        read_od_table(path, helsinki.network, on_invalid="error")


def test_trips_going_nowhere_given_to_the_model_are_said_not_dropped_unseen(helsinki):
    trips = Trips(np.array([0, 2, 3]), np.array([5, 2, 3]), np.array([0.0, 5.0, 9.0]))
    with pytest.warns(UserWarning, match="2 of 3 trips start and end at the same node"):
        model = TrafficModel(helsinki.network, trips, config=TrafficConfig(duration_s=600))
    assert model.engine.n_vehicles == 1


def test_unreachable_trips_are_skipped_or_refused(helsinki):
    network = helsinki.network
    closed = np.zeros(network.n_edges, dtype=bool)
    closed[network.out_edges(0)] = True  # node 0 cannot be left
    trips = Trips(np.array([0, 1]), np.array([3, 4]), np.array([0.0, 0.0]))
    model = TrafficModel(
        network, trips, config=TrafficConfig(duration_s=600), closed=closed, seed=0
    )
    assert model.skipped_trips == 1 and model.engine.n_vehicles == 1
    with pytest.raises(TwinError, match="have no route"):
        TrafficModel(
            network,
            trips,
            config=TrafficConfig(duration_s=600, on_unreachable="error"),
            closed=closed,
        )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (TrafficConfig(dt_s=0), "dt_s"),
        (TrafficConfig(duration_s=-1), "duration_s"),
        (TrafficConfig(reroute_share=2), "reroute_share"),
        (TrafficConfig(route_cost="uxsim"), "route_cost"),
    ],
)
def test_impossible_settings(helsinki, config, field):
    with pytest.raises(TwinError, match=field):
        TrafficModel(
            helsinki.network, Trips(np.zeros(0, int), np.zeros(0, int), np.zeros(0)), config=config
        )


def test_edge_series_count_every_link_exit_even_in_a_short_last_interval(helsinki):
    """A run of 7 min recorded in 5-min intervals ends with a 2-min interval: flow × each row's
    width gives back exactly the link exits the engine counted, and vehicle-km follow."""
    network = helsinki.network
    trips = generate_trips(
        helsinki.context, n_trips=400, window_s=300.0, rng=np.random.default_rng(2)
    )
    config = TrafficConfig(duration_s=420.0, dt_s=2.0, record_interval_s=300.0)
    model = TrafficModel(network, trips, config=config, seed=2)
    result = model.run()
    series = result.edge_series
    assert sorted(series["interval_s"].unique()) == [120.0, 300.0]
    exits = series["flow_vph"] * series["interval_s"] / 3600.0
    per_edge = exits.groupby(series["edge"]).sum().to_numpy()
    np.testing.assert_allclose(per_edge, model.engine.exited, atol=1e-9)
    vkm = float((model.engine.exited * network.edge_length_m).sum() / 1000.0)
    assert result.kpis["vehicle_km"] == pytest.approx(vkm, rel=1e-12)


def test_a_run_serves_its_whole_duration_whatever_the_step():
    """One car with a free-flow time of 97 s in a run of 100 s arrives at 97 s whatever the
    step, and the collected row at 100 s sees it arrived (a step of 10 s served the run to 90 s
    and read the clock a step ahead)."""
    from cities.synthetic import corridor_network

    network = corridor_network([970.0], speed_kph=36.0)
    one = Trips(np.array([0]), np.array([1]), np.array([0.0]))
    for dt in (1.0, 5.0, 10.0):
        config = TrafficConfig(duration_s=100.0, dt_s=dt, reroute_share=0, collect_interval_s=10.0)
        result = TrafficModel(network, one, config=config, signal_plans={}, seed=1).run()
        assert result.trips["arrive_s"].tolist() == [pytest.approx(97.0)], dt
        assert (result.kpis["trips_unfinished"], result.kpis["simulated_s"]) == (0, 100.0)
        rows = result.model_data.set_index("time_s")["arrived"]
        assert (rows.loc[90.0], rows.loc[100.0]) == (0, 1), dt


def test_a_longer_step_gives_the_same_trips_with_rerouting_drivers(helsinki):
    """Moves are served in slices of 1 s whatever the step, and route tables are priced at the
    clock's instant: a step of 5 s gives the 1 s step's arrivals, re-routing drivers included."""
    trips = generate_trips(
        helsinki.context, n_trips=800, window_s=900.0, rng=np.random.default_rng(5)
    )
    arrivals = {}
    for dt in (1.0, 5.0):
        config = TrafficConfig(duration_s=1800.0, dt_s=dt, reroute_share=0.3)
        result = TrafficModel(helsinki.network, trips, config=config, seed=1).run()
        arrivals[dt] = result.trips["arrive_s"].to_numpy()
    assert np.isfinite(arrivals[1.0]).sum() > 700
    np.testing.assert_array_equal(arrivals[5.0], arrivals[1.0])


def test_no_vehicle_crosses_before_its_green():
    """A two-lane approach whose green runs from 0 to 26 s of a 60 s cycle: every vehicle leaves
    it inside the green, not in the second before (a step whose end is green)."""
    from agents.traffic.signals import Phase, SignalPlan
    from cities.synthetic import corridor_network

    network = corridor_network(
        [300.0, 300.0], speed_kph=50, capacity_vph=[1800, 1800], lanes=[2, 1], signalized=[1]
    )
    plan = SignalPlan(1, (Phase((0,), 26.0), Phase((), 26.0)), offset_s=0.5)
    assert plan.cycle_s == 60.0
    n = 300
    trips = Trips(np.zeros(n, int), np.full(n, 2), np.arange(n) * 4.0 + 0.3)
    config = TrafficConfig(duration_s=2400, dt_s=1.0, reroute_share=0, stuck_time_s=None)
    result = TrafficModel(network, trips, config=config, signal_plans={1: plan}, seed=1).run()
    arrived = result.trips.dropna(subset=["arrive_s"])
    assert len(arrived) > 250
    # the second link ends the trips uncongested: its exit is the arrival less its free flow
    left = arrived["arrive_s"].to_numpy() - network.edge_free_flow_s[1]
    in_cycle = np.mod(left - 0.5 + 1e-6, 60.0) - 1e-6
    assert in_cycle.min() >= -1e-6 and in_cycle.max() <= 26.0 + 1e-6


def test_a_driver_turned_into_a_dead_end_turns_back_out_of_it():
    """A driver may not U-turn where another way on exists, so one whose best way is back the
    way it came takes the other way, here a dead-end spur; at the spur's end every way out turns
    back (two links, as where a loop closes a cul-de-sac): the U-turn must stand there. It was
    refused, and such drivers waited at the end of the spur until the run ended (Andorra at a
    fifth of its gridlock demand: five or six trips a run)."""
    from cities.synthetic import network_from_links

    # 0 → 3 the destination; 0 ⇄ 1; 1 → 2 the spur; 2 → 1 twice (its loop's two halves)
    xy = np.array([[0.0, 0.0], [200.0, 0.0], [400.0, 0.0], [-200.0, 0.0]])
    links = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 1), (0, 3), (3, 0)]
    network = network_from_links(
        xy, links, speed_kph=36.0, capacity_vph=1800.0, length_m=[200, 200, 200, 200, 260, 200, 200]
    )

    def edge(u, v, length=200.0):
        return int(np.flatnonzero(
            (network.edge_u == u) & (network.edge_v == v) & (network.edge_length_m == length)
        )[0])  # fmt: skip

    trips = Trips(np.array([0]), np.array([3]), np.array([10.0]))
    config = TrafficConfig(duration_s=600, dt_s=1.0, reroute_share=1.0, reroute_interval_s=1e6)
    model = TrafficModel(network, trips, config=config, signal_plans={}, seed=0)
    model.step()  # the model's own table, made at 0 s; the vehicle has not left
    # a table that sends the driver the wrong way first (0 → 1), then back (1 → 0: a U-turn,
    # refused, so into the spur), and at the spur's end back again (a U-turn either way)
    next_edge = np.full((1, network.n_nodes), -1)
    next_edge[0, [0, 1, 2]] = [edge(0, 1), edge(1, 0), edge(2, 1)]
    cost_to_go = np.array([[200.0, 400.0, 600.0, 0.0]])
    model.engine.push_choice_table(next_edge, cost_to_go, network.edge_free_flow_s, keep=1)
    while model.engine.time < 600:
        model.step()
    trip = model.trips_frame().iloc[0]
    assert np.isfinite(trip["arrive_s"]), "the driver waited at the dead end until the run ended"
    # in at 0, on to 1, into the spur and back (one U-turn), back to 0, then on to 3
    assert trip["distance_m"] == pytest.approx(200 + 200 + 200 + 200 + 200)


def test_the_stuck_rule_leaves_a_moving_queue_within_its_storage():
    """1,200 veh/h into a 600 veh/h bottleneck: the queue on the bottleneck's link moves, so
    the deadlock release never fires and the link holds at most its storage (it packed 72 of
    66 once its vehicles had queued 300 s, however fast the queue moved)."""
    from cities.synthetic import corridor_network

    network = corridor_network([1000.0, 500.0, 500.0], speed_kph=50, capacity_vph=[1800, 600, 1800])
    n = 600
    trips = Trips(np.zeros(n, int), np.full(n, 3), np.arange(n) * 3.0)
    config = TrafficConfig(duration_s=3600, dt_s=1.0, reroute_share=0, stuck_time_s=300.0)
    model = TrafficModel(network, trips, config=config, signal_plans={}, seed=1)
    most = np.zeros(network.n_edges)
    for _ in range(3600):
        model.step()
        most = np.maximum(most, model.engine.occupancy)
    assert most[1] >= 0.7 * network.edge_storage_veh[1]  # the queue did reach back this far
    assert np.all(most <= np.floor(network.edge_storage_veh))


def test_a_tables_row_order_changes_no_run(helsinki):
    """Trips of an OD table in whole minutes share their departure second by the hundred: the
    run must not depend on which of them the table lists first (an export sorted another way
    is the same demand)."""
    drawn = generate_trips(
        helsinki.context, n_trips=600, window_s=600, rng=np.random.default_rng(3)
    )
    minutes = Trips(drawn.origin, drawn.destination, np.floor(drawn.depart_s / 60) * 60)
    shuffled = minutes.subset(np.random.default_rng(4).permutation(len(minutes.origin)))
    config = TrafficConfig(duration_s=1200, dt_s=5.0)
    runs = [
        TrafficModel(helsinki.network, trips, config=config, seed=1).run()
        for trips in (minutes, shuffled)
    ]
    assert runs[0].kpis == runs[1].kpis
    columns = ["origin", "destination", "depart_s", "arrive_s", "distance_m"]
    frames = [run.trips[columns].sort_values(columns).reset_index(drop=True) for run in runs]
    pd.testing.assert_frame_equal(frames[0], frames[1])
