"""A city's baselines: rounds drawn by hand street by street, and given rounds driven as they
are; and plans made on the hours the trucks drive."""

from __future__ import annotations

import numpy as np
import pytest

from agents.waste.bins import Bins, place_bins
from agents.waste.model import LinkTimes, WasteConfig, WasteModel
from agents.waste.policies import UNLOAD, GivenRounds, _with_unloads, street_sweep
from agents.waste.sites import locate_sites


def _bins_at(x, y) -> Bins:
    n = len(x)
    ones = np.ones(n)
    return Bins(
        node=np.zeros(n, dtype=np.int64), x=np.asarray(x, float), y=np.asarray(y, float),
        capacity_kg=1000.0 * ones, daily_kg=50.0 * ones, kind=np.array(["placed"] * n),
        osm_id=-np.ones(n, dtype=np.int64), land_use=np.array(["residential"] * n),
        containers=np.ones(n, dtype=np.int64),
    )  # fmt: skip


def test_a_street_sweep_takes_street_after_street_from_the_nearer_end():
    """Three parallel streets north of the depot, bins shuffled: the sweep runs along the first
    street, comes back along the second (its nearer end), out along the third."""
    xs = np.tile([100.0, 200.0, 300.0, 400.0, 500.0], 3)
    ys = np.repeat([0.0, 100.0, 200.0], 5)
    street = np.repeat(np.array(["A", "B", "C"], dtype=object), 5)
    shuffled = np.random.default_rng(0).permutation(15)
    bins = _bins_at(xs[shuffled], ys[shuffled])
    order = street_sweep(bins, np.arange(15), street=street[shuffled], depot_xy=(0.0, 0.0))
    visited = list(zip(bins.x[order].tolist(), bins.y[order].tolist(), strict=True))
    expected = (
        [(x, 0.0) for x in (100.0, 200.0, 300.0, 400.0, 500.0)]
        + [(x, 100.0) for x in (500.0, 400.0, 300.0, 200.0, 100.0)]
        + [(x, 200.0) for x in (100.0, 200.0, 300.0, 400.0, 500.0)]
    )
    assert visited == expected


def test_hand_drawn_rounds_unload_where_the_expected_load_would_overfill_the_truck():
    loads = np.array([400.0, 400.0, 400.0, 900.0, 100.0])
    route = _with_unloads(np.arange(5), loads, truck_capacity_kg=1000.0)
    # 400 + 400 fit, a third 400 would not; 400 + 900 would not; 900 + 100 fit
    assert route.tolist() == [0, 1, UNLOAD, 2, UNLOAD, 3, 4, UNLOAD]


def _model(
    city, *, seed=0, days=7, trucks=3, link_times=None, forecast_times=None, rounds=None,
    **config,
):  # fmt: skip
    bins = place_bins(city.network, city.context, rng=np.random.default_rng(seed))
    sites = locate_sites(city.network, city.context, city=city.name)
    settings = {"days": days, "n_trucks": trucks, "solver_time_s": 0.3, **config}
    return WasteModel(
        city.network, bins, sites, config=WasteConfig(**settings), link_times=link_times,
        forecast_times=forecast_times, rounds=rounds, seed=seed,
    )  # fmt: skip


@pytest.fixture(scope="module")
def hand_drawn(helsinki):
    model = _model(helsinki, policy="hand-drawn", days=14)
    return model, model.run()


def test_hand_drawn_rounds_keep_the_schedules_districts_and_repeat_every_week(helsinki, hand_drawn):
    model, result = hand_drawn
    schedule = _model(helsinki, policy="schedule").policy
    for weekday, routes in model.fixed_rounds().items():
        stops = np.concatenate(routes)
        # every bin of the weekday's districts, once
        assert sorted(stops[stops >= 0].tolist()) == sorted(schedule.days[weekday].tolist())
    # the same stops in the same order every week (the trucks may tip more often when the bins
    # hold more than expected, so the roads driven may differ)
    emptied = {(t.day, t.truck): t.emptied for t in model.truck_days}
    repeated = [(d, k) for (d, k) in emptied if (d + 7, k) in emptied]
    assert repeated
    for day, truck in repeated:
        assert emptied[(day, truck)] == emptied[(day + 7, truck)]
    assert abs(result.info["mass_balance_error_kg"]) < 1e-6 * result.kpis["generated_t"] * 1e3
    assert result.info["planner"] == "given rounds"


def test_optimized_rounds_drive_less_than_the_same_rounds_drawn_by_hand(helsinki, hand_drawn):
    """Same districts, weekdays and bins: PyVRP's rounds against the street sweep's."""
    _, by_hand = hand_drawn
    optimized = _model(helsinki, policy="schedule", days=14, solver_iterations=200).run()
    assert optimized.kpis["bins_emptied"] == by_hand.kpis["bins_emptied"]
    assert optimized.kpis["truck_km"] < by_hand.kpis["truck_km"]


def test_given_rounds_are_driven_as_given(helsinki, hand_drawn):
    """The hand-drawn rounds handed to policy ``current`` drive the very same days."""
    model, result = hand_drawn
    given = _model(helsinki, policy="current", days=14, rounds=model.fixed_rounds())
    again = given.run()
    assert isinstance(given.policy, GivenRounds)
    for column in ("truck_km", "truck_hours", "collected_kg", "overflow_kg", "unloads"):
        np.testing.assert_array_equal(again.daily[column], result.daily[column])


def test_a_hand_written_round_is_driven_in_its_own_order(helsinki):
    """Bins in an order no planner would pick (far, near, far): the truck empties them just so."""
    rounds = {0: (np.array([40, 3, 41, 2, UNLOAD, 5]),), 2: (np.array([7, 6]),)}
    model = _model(helsinki, policy="current", rounds=rounds, days=3)
    model.run()
    emptied = {t.day: t.emptied for t in model.truck_days}
    assert emptied[0] == [40, 3, 41, 2, 5]
    assert emptied[2] == [7, 6]
    monday = next(t for t in model.truck_days if t.day == 0)
    # the unload the round asks for, after its fourth stop, then the last one
    assert len(monday.unloads_kg) == 2
    assert monday.unloads_kg[0] == pytest.approx(sum(monday.emptied_kg[:4]))


def test_rounds_longer_than_the_shift_are_said_in_hours(helsinki):
    rounds = {0: (np.array([40, 3, 41, 2]),)}
    model = _model(helsinki, policy="current", rounds=rounds, days=1, shift_s=900.0)
    result = model.run()
    note = result.daily.loc[0, "plan_note"]
    # four stops across town and a trip to the tip, by the plan's own clock, in 15 minutes
    assert "truck 1's round takes" in note and "longer than the 0.25 h shift" in note
    assert any("passed over" in warning for warning in result.info["warnings"])


def test_bins_in_no_round_are_named(helsinki):
    bins = place_bins(helsinki.network, helsinki.context, rng=np.random.default_rng(0))
    rounds = {0: (np.array([0, 1, 2, UNLOAD]),)}
    model = _model(helsinki, policy="current", rounds=rounds)
    said = " ".join(model.warnings)
    assert f"{len(bins) - 3} of {len(bins)} bins are in none of the given rounds" in said
    # the missed bins at the spots of bins 0–2 (the same node), counted by hand: a hint
    xy = np.column_stack([bins.x, bins.y])
    beside = sum(
        1 for b in range(3, len(bins)) if np.hypot(*(xy[:3] - xy[b]).T).min() < 1e-6
    )  # fmt: skip
    assert beside > 0 and f"{beside} of them stand at a spot the rounds stop at" in said


# ------------------------------------------------------------------------------ time of day
def _rush_hour(network, *, factor: float) -> LinkTimes:
    """Free flow in the shift's first hour, every link ``factor`` times slower after."""
    rows = [network.edge_free_flow_s] + [network.edge_free_flow_s * factor] * 9
    return LinkTimes(np.array(rows), interval_s=3600.0, start_s=6 * 3600.0)


def test_timed_matrices_hold_each_stops_hour(helsinki):
    model = _model(helsinki, link_times=_rush_hour(helsinki.network, factor=3.0), days=1)
    start = model.config.shift_start_s
    first, later = model.matrices(start), model.matrices(start + 3600.0)
    np.testing.assert_allclose(later[0], 3.0 * first[0])
    # a route that spends its first hour at one bin: the next stop is reached in hour 1
    service = model.service_s.copy()
    model.service_s[:] = 4000.0
    locations = np.arange(6)
    duration, _ = model.timed_matrices([np.array([2, 3, 1])], locations)
    model.service_s[:] = service
    np.testing.assert_allclose(duration[0], first[0][0, :6])  # the depot: at the start
    np.testing.assert_allclose(duration[2], later[0][2, :6])  # bin 0, left after 4,000 s
    # the disposal site: at the times trucks leave it (after two services of 4,000 s and a
    # 900 s unload, in hour 2); a bin off the route: the mean over the hours it spans (0–2)
    np.testing.assert_allclose(duration[1], 3.0 * first[0][1, :6])
    np.testing.assert_allclose(duration[4], (1.0 + 3.0 + 3.0) / 3.0 * first[0][4, :6])


def test_timed_matrices_give_a_location_asked_for_twice_its_row_twice(helsinki):
    model = _model(helsinki, link_times=_rush_hour(helsinki.network, factor=3.0), days=1)
    route = [np.array([6, 1])]
    once = model.timed_matrices(route, np.array([0, 1, 5, 6, 7]))
    twice = model.timed_matrices(route, np.array([0, 1, 5, 6, 7, 5]))
    for single, repeated in zip(once, twice, strict=True):
        np.testing.assert_array_equal(repeated[:5, :5], single)
        np.testing.assert_array_equal(repeated[5], repeated[2])
        np.testing.assert_array_equal(repeated[:, 5], repeated[:, 2])


def test_a_plan_walked_on_its_hours_takes_what_its_trucks_then_drive(helsinki):
    """The hours a time-of-day plan expects (its routes walked leg by leg at the times they are
    driven) are the hours the trucks, driving it in traffic that slows after the first hour,
    take: to the millisecond, where the trucks skip nothing."""
    model = _model(
        helsinki, link_times=_rush_hour(helsinki.network, factor=3.0), days=2, planner="greedy"
    )
    model.step()  # a first day, so that the second starts with bins to empty
    routes, info = model._plan_day(model.day)
    walked = model.walk(routes)
    trucks = model.trucks[: len(routes)]  # one route a truck sent out
    driven = [truck.drive(route, model.day) for truck, route in zip(trucks, routes, strict=True)]
    assert info["requested"] > 0 and not any(day.skipped for day in driven)
    assert walked.duration_s == pytest.approx(sum(day.duration_s for day in driven), abs=1e-3)
    assert walked.distance_m == pytest.approx(sum(day.distance_m for day in driven), abs=1e-3)
    assert walked.duration_s / 3600.0 == pytest.approx(info["planned_hours"], rel=0.011)


def test_where_the_passes_do_not_settle_the_plan_kept_is_one_its_trucks_can_finish(helsinki):
    """Jams that come and go every half hour (4 times slower in every other one), a 4-hour
    shift: the passes do not settle, and the cheaper of them runs past the shift on its own
    times. The plan kept is the cheapest of those whose trucks are back in time, and the
    trucks drive all of it: none skips a stop, and they take the hours the plan expects."""
    network = helsinki.network
    rows = [network.edge_free_flow_s * (4.0 if (k // 2) % 2 else 1.0) for k in range(20)]
    jams = LinkTimes(np.array(rows), interval_s=900.0, start_s=6 * 3600.0)
    model = _model(helsinki, link_times=jams, days=3, trucks=2, planner="greedy",
                   shift_s=4 * 3600.0)  # fmt: skip
    model.step()
    model.step()
    request = model.policy.request(model.day, model.fill_kg.copy())
    problem, chosen = model._problem(request)
    plan, _ = model._plan_fresh(problem, chosen)
    passes = plan.info["timing"]
    (kept,) = [p for p in passes if p["kept"]]
    assert not any(p["settled"] for p in passes)
    assert any(p["overtime_hours"] > 0 and p["cost"] < kept["cost"] for p in passes)
    assert kept["overtime_hours"] == 0.0
    assert kept["cost"] == min(p["cost"] for p in passes if p["overtime_hours"] == 0.0)
    routes = [np.concatenate([[0, 1], chosen + 2])[route] for route in plan.routes]
    walked = model.walk(routes)
    driven = [
        truck.drive(route, model.day)
        for truck, route in zip(model.trucks[: len(routes)], routes, strict=True)
    ]
    assert walked.overtime_s == 0.0 and not any(day.skipped for day in driven)
    assert walked.duration_s == pytest.approx(sum(day.duration_s for day in driven), abs=1e-3)
    assert plan.info["duration_s"] == pytest.approx(walked.duration_s)


def test_a_truck_drives_a_plan_that_fits_even_where_the_straight_way_back_is_jammed(helsinki):
    """Every other quarter hour 8 times slower, a 3-hour shift. Late in the shift, a stop is
    left in a jam: straight back from it to the disposal site and the depot would end past the
    shift, but the planned way (its next legs driven once the jam has cleared) does not. The
    truck drives on as planned instead of skipping the stop."""
    network = helsinki.network
    rows = [network.edge_free_flow_s * (8.0 if k % 2 else 1.0) for k in range(16)]
    jams = LinkTimes(np.array(rows), interval_s=900.0, start_s=6 * 3600.0)
    model = _model(helsinki, link_times=jams, days=3, trucks=2, planner="greedy",
                   shift_s=3 * 3600.0)  # fmt: skip
    model.step()
    model.step()
    routes, _ = model._plan_day(model.day)
    assert model.walk(routes).overtime_s == 0.0
    straight_too_late = 0
    for route in routes:
        clock, at = 0.0, 0
        for stop in route.tolist():
            clock += model.leg(at, stop, clock)[0]
            clock += float(model.service_s[stop - 2]) if stop >= 2 else model.config.unload_s
            at = stop
            if stop >= 2:
                back = clock + model.leg(stop, 1, clock)[0] + model.config.unload_s
                straight_too_late += back + model.leg(1, 0, back)[0] > model.config.shift_s
    assert straight_too_late > 0
    driven = [
        truck.drive(route, model.day)
        for truck, route in zip(model.trucks[: len(routes)], routes, strict=True)
    ]
    assert not any(day.skipped for day in driven)
    assert model.walk(routes).duration_s == pytest.approx(
        sum(day.duration_s for day in driven), abs=1e-3
    )


def test_plans_on_the_hours_driven_hold_in_traffic_where_free_flow_plans_do_not(helsinki):
    """Traffic three times slower after the first hour: a plan made on free-flow times takes
    longer than it planned; one made on the hours it drives takes about what it planned."""
    rush = _rush_hour(helsinki.network, factor=3.0)
    gaps = {}
    for plan_times in ("free-flow", "time-of-day"):
        model = _model(helsinki, link_times=rush, plan_times=plan_times, planner="greedy", days=3)
        gaps[plan_times] = model.run().kpis["planned_hours_gap"]
    assert gaps["free-flow"] > 0.05
    assert abs(gaps["time-of-day"]) < gaps["free-flow"] / 2


def _same_run(first, second) -> None:
    assert first.kpis == second.kpis
    for column in ("planned_hours", "truck_hours", "skipped_bins", "bins_emptied"):
        np.testing.assert_array_equal(first.daily[column], second.daily[column])


def test_plans_on_a_forecast_of_free_flow_are_the_free_flow_plans(helsinki):
    """A forecast that knows no traffic (free flow all shift), trucks driving in a rush hour:
    the time-of-day plans made on it are the plans made on free-flow times, driven alike,
    and lose as those do; a perfect forecast (the traffic itself) is the run without one."""
    network = helsinki.network
    rush = _rush_hour(network, factor=3.0)
    calm = LinkTimes(np.tile(network.edge_free_flow_s, (10, 1)), 3600.0, 6 * 3600.0)
    settings = {"link_times": rush, "planner": "greedy", "days": 3}
    on_calm = _model(helsinki, forecast_times=calm, plan_times="time-of-day", **settings).run()
    free_flow = _model(helsinki, plan_times="free-flow", **settings).run()
    _same_run(on_calm, free_flow)
    assert on_calm.kpis["planned_hours_gap"] > 0.05
    perfect = _model(helsinki, forecast_times=rush, plan_times="time-of-day", **settings).run()
    _same_run(perfect, _model(helsinki, plan_times="time-of-day", **settings).run())
    assert abs(perfect.kpis["planned_hours_gap"]) < on_calm.kpis["planned_hours_gap"] / 2


def test_travel_rows_searched_when_read_give_the_run_that_every_row_gives(liechtenstein):
    """A day planned on the times of the hours its trucks drive reads, for each stop, the row
    of the interval it is left in, and for every interval only the rows of the bins the plan
    left out: the run is the one whose every row of every interval was searched before it
    started, for a fraction of the searches."""
    network = liechtenstein.network
    factors = np.random.default_rng(3).uniform(1.0, 3.0, (10, network.n_edges))
    traffic = LinkTimes(network.edge_free_flow_s * factors, 1800.0, 6 * 3600.0)
    # the iteration limit ends each search, never the clock: both runs plan alike on any machine
    settings = {
        "link_times": traffic, "planner": "pyvrp", "days": 2, "solver_iterations": 50,
        "solver_time_s": 600.0,
    }  # fmt: skip
    on_demand = _model(liechtenstein, **settings)
    up_front = _model(liechtenstein, **settings)
    for k in range(len(traffic.seconds)):
        up_front.driving.matrices(traffic.start_s + k * traffic.interval_s)
    everything = sum(int(rows.found.sum()) for rows in up_front.driving._rows.values())
    on_demand.step(), up_front.step()
    searched = sum(int(rows.found.sum()) for rows in on_demand.driving._rows.values())
    assert everything == len(np.unique(on_demand.location_nodes)) * len(traffic.seconds)
    assert searched < everything / 10
    for _ in range(1, settings["days"]):
        on_demand.step(), up_front.step()
    _same_run(on_demand.result(), up_front.result())


def test_a_forecast_of_another_network_is_refused(helsinki):
    wrong = LinkTimes(np.ones((2, helsinki.network.n_edges + 1)), 3600.0)
    with pytest.raises(ValueError, match=r"links a row where the network has .*: give a forecast"):
        _model(helsinki, forecast_times=wrong)


def test_a_finished_run_lets_go_of_its_travel_times_and_rebuilds_them_on_demand(helsinki):
    """Many runs in one process (sweeps, benchmarks) must not hold every run's matrices: they
    are dropped when the run ends, and a result asked for again is the same."""
    model = _model(helsinki, link_times=_rush_hour(helsinki.network, factor=3.0), days=2)
    first = model.run()
    assert not model.driving.cached and not model.forecast.cached
    again = model.result()
    assert [e.tolist() for e in again.routes["edges"]] == [
        e.tolist() for e in first.routes["edges"]
    ]
    assert again.kpis == first.kpis
