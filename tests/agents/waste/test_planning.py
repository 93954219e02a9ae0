"""Collection planning: the route checker, the greedy baseline and the PyVRP planner, on random
asymmetric instances and small hand-made ones; the real solver, no mocks."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest

from agents.waste.planning import (
    DEPOT,
    DISPOSAL,
    GreedyPlanner,
    Plan,
    Planner,
    PyVRPPlanner,
    RoutingProblem,
    check_plan,
    route_stats,
    spread_trips,
)

FAST = 0.5  # seconds per PyVRP search in these tests


def random_problem(
    seed: int,
    *,
    n_bins: int = 40,
    n_trucks: int = 2,
    capacity: float = 800.0,
    shift_s: float = 2 * 3600.0,
    required_share: float = 0.4,
    prize: tuple[float, float] = (3000.0, 8000.0),
    metric: bool = False,
) -> RoutingProblem:
    """Random points on a 6 km square, depot in the middle; road distances are the straight line
    times 1.3 with asymmetric noise, travel at about 8 m/s with more noise. ``metric`` replaces
    distances with shortest paths over the noisy matrix, as a road network's would be."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 6000, size=(n_bins + 2, 2))
    points[DEPOT] = [3000, 3000]
    straight = np.linalg.norm(points[:, None] - points[None], axis=-1) * 1.3
    distance = straight * (1 + 0.15 * rng.random(straight.shape))
    duration = distance / 8.0 * (1 + 0.1 * rng.random(straight.shape))
    if metric:
        distance = np.rint(distance)
        for k in range(len(points)):  # Floyd–Warshall
            distance = np.minimum(distance, distance[:, [k]] + distance[[k], :])
    np.fill_diagonal(distance, 0.0)
    np.fill_diagonal(duration, 0.0)
    required = rng.random(n_bins) < required_share
    return RoutingProblem(
        duration_s=duration,
        distance_m=distance,
        load_kg=rng.uniform(60, 160, n_bins),
        prize=np.where(required, 0.0, rng.uniform(*prize, n_bins)),
        required=required,
        service_s=rng.uniform(60, 120, n_bins),
        n_trucks=n_trucks,
        truck_capacity_kg=capacity,
        shift_s=shift_s,
        unload_s=600.0,
    )


def tiny_problem(**changes) -> RoutingProblem:
    """Depot, disposal site and two bins with hand-picked numbers."""
    duration = np.array(
        [
            [0.0, 100.0, 10.0, 20.0],
            [110.0, 0.0, 30.0, 40.0],
            [12.0, 33.0, 0.0, 5.0],
            [22.0, 44.0, 6.0, 0.0],
        ]
    )
    problem = RoutingProblem(
        duration_s=duration,
        distance_m=duration * 10 + 1,
        load_kg=np.array([600.0, 300.0]),
        prize=np.array([0.0, 50.0]),
        required=np.array([True, False]),
        service_s=np.array([7.0, 8.0]),
        n_trucks=2,
        truck_capacity_kg=1000.0,
        shift_s=3600.0,
        unload_s=60.0,
    )
    return dataclasses.replace(problem, **changes)


def total_distance(problem: RoutingProblem, plan: Plan) -> float:
    return sum(route_stats(problem, route).distance_m for route in plan.routes)


def n_unloads(route: np.ndarray) -> int:
    return int((route == DISPOSAL).sum())


# ---------------------------------------------------------------------------------------------
# Problem, route statistics, checker
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_s", np.zeros((4, 3))),
        ("distance_m", np.zeros((3, 3))),
        ("distance_m", np.full((4, 4), np.nan)),
        ("duration_s", -np.ones((4, 4))),
        ("load_kg", np.array([1.0, -1.0])),
        ("prize", np.array([np.nan, 1.0])),
        ("service_s", np.array([1.0])),
        ("required", np.array([1, 0])),
        ("n_trucks", -1),
        ("truck_capacity_kg", 0.0),
        ("shift_s", np.inf),
        ("unload_s", -5.0),
    ],
)
def test_validate_names_the_bad_field(field, value):
    tiny_problem().validate()
    with pytest.raises(ValueError, match=field):
        tiny_problem(**{field: value}).validate()


def test_route_stats_sums_the_matrix_along_the_route():
    problem = tiny_problem()
    stats = route_stats(problem, [2, 1, 3, 1])
    # legs depot→2→disposal→3→disposal→depot
    assert stats.duration_s == 10 + 33 + 40 + 44 + 110 + 7 + 8 + 2 * 60
    assert stats.distance_m == 101 + 331 + 401 + 441 + 1101
    assert stats.loads_kg == [600.0, 300.0]
    assert route_stats(problem, []).duration_s == 0.0


def test_route_stats_rejects_the_depot_inside_a_route():
    with pytest.raises(ValueError, match="invalid location"):
        route_stats(tiny_problem(), [2, DEPOT, 1])


@pytest.mark.parametrize(
    ("routes", "changes", "expected"),
    [
        ([[2, 1], [2, 3, 1]], {}, "already emptied"),
        ([[2, 3, 1]], {"truck_capacity_kg": 800.0}, "carries 900.0 kg"),
        ([[2, 3]], {}, "does not end with DISPOSAL"),
        ([[2, 1, 3, 1]], {"shift_s": 300.0}, "shift is 300.0 s"),
        ([[2, 1], [3, 1]], {"n_trucks": 1}, "2 routes for 1 trucks"),
        ([[2, 1]], {"distance_m": np.where(np.eye(4) == 0, np.inf, 0.0)}, "unreachable"),
        ([[2, 0, 1]], {}, "invalid location"),
        ([[2, 7, 1]], {}, "invalid location"),
    ],
)
def test_check_plan_flags_each_kind_of_violation(routes, changes, expected):
    problem = tiny_problem(**changes)
    bad = Plan(routes=[np.array(r) for r in routes], planner="hand", solve_s=0.0, info={})
    violations = check_plan(problem, bad)
    assert any(expected in v for v in violations), violations
    good = Plan(routes=[np.array([2, 1]), np.array([3, 1])], planner="hand", solve_s=0.0, info={})
    assert check_plan(tiny_problem(), good) == []


def test_plan_lists_visited_and_unserved_required_bins():
    problem = tiny_problem(required=np.array([True, True]))
    plan = Plan(routes=[np.array([3, 1])], planner="hand", solve_s=0.0, info={})
    assert plan.visited_bins.tolist() == [1]
    assert plan.unserved_required(problem).tolist() == [0]


# ---------------------------------------------------------------------------------------------
# Planners on random instances
# ---------------------------------------------------------------------------------------------

PLANNERS = [GreedyPlanner(), PyVRPPlanner(max_runtime_s=FAST)]


@pytest.fixture(scope="module")
def solved() -> dict[int, tuple[RoutingProblem, Plan, Plan]]:
    """Three random days, each planned by both planners once for the tests below."""
    days = {}
    for seed in (1, 2, 3):
        problem = random_problem(seed)
        days[seed] = (problem, GreedyPlanner().plan(problem), PLANNERS[1].plan(problem, seed=0))
    return days


def test_planners_satisfy_the_protocol():
    for planner in PLANNERS:
        assert isinstance(planner, Planner)
    assert [p.name for p in PLANNERS] == ["greedy", "pyvrp"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plans_are_valid_and_serve_every_required_bin(solved, seed):
    problem, greedy, pyvrp = solved[seed]
    # the day is tight: more waste than the fleet carries without unloading, more worthwhile
    # bins than it can empty in a shift
    assert problem.load_kg.sum() > problem.n_trucks * problem.truck_capacity_kg
    for plan in (greedy, pyvrp):
        assert check_plan(problem, plan) == []
        assert plan.info["violations"] == []
        assert plan.routes and all(route[-1] == DISPOSAL for route in plan.routes)
        assert max(n_unloads(route) for route in plan.routes) >= 2
        assert len(plan.visited_bins) < problem.n_bins
        longest = max(route_stats(problem, route).duration_s for route in plan.routes)
        assert longest > 0.9 * problem.shift_s
    # PyVRP must find a plan that empties every required bin (the greedy baseline may not)
    assert pyvrp.info["feasible"]
    assert pyvrp.unserved_required(problem).size == 0
    if greedy.info["feasible"]:
        assert greedy.unserved_required(problem).size == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pyvrp_objective_is_no_worse_than_greedy(solved, seed):
    problem, greedy, pyvrp = solved[seed]
    # objective: metres driven plus the prizes of the optional bins left full
    assert pyvrp.info["objective"] <= greedy.info["objective"] + 1e-6
    missed = np.setdiff1d(np.flatnonzero(~problem.required), pyvrp.visited_bins)
    expected = total_distance(problem, pyvrp) + problem.prize[missed].sum()
    assert pyvrp.info["objective"] == pytest.approx(expected)


@pytest.mark.parametrize("seed", [4, 5])
def test_pyvrp_drives_no_further_than_greedy_when_every_bin_is_required(seed):
    problem = random_problem(seed, n_bins=30, n_trucks=3, shift_s=4 * 3600.0, required_share=1.0)
    greedy = GreedyPlanner().plan(problem)
    pyvrp = PyVRPPlanner(max_runtime_s=FAST).plan(problem, seed=seed)
    assert greedy.info["feasible"] and pyvrp.info["feasible"]
    assert total_distance(problem, pyvrp) <= total_distance(problem, greedy) + 1e-6


def test_pyvrp_finds_the_optimal_tour_of_a_small_instance():
    problem = random_problem(
        7, n_bins=8, n_trucks=1, capacity=1e6, shift_s=1e6, required_share=1.0, metric=True
    )
    dist = problem.distance_m
    # brute force over all 8! orders: depot → bins → disposal → depot
    orders = np.array(list(itertools.permutations(range(2, 10))))
    lengths = (
        dist[DEPOT, orders[:, 0]]
        + dist[orders[:, :-1], orders[:, 1:]].sum(axis=1)
        + dist[orders[:, -1], DISPOSAL]
        + dist[DISPOSAL, DEPOT]
    )
    plan = PyVRPPlanner(max_runtime_s=FAST).plan(problem, seed=0)
    assert plan.info["feasible"]
    assert len(plan.routes) == 1
    assert total_distance(problem, plan) == pytest.approx(lengths.min())


# ---------------------------------------------------------------------------------------------
# Days that cannot be fully served, edge cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("planner", PLANNERS, ids=lambda p: p.name)
def test_more_required_waste_than_the_fleet_can_carry(planner):
    problem = random_problem(
        8, n_bins=20, n_trucks=1, capacity=1000.0, shift_s=5400.0, required_share=1.0
    )
    problem = dataclasses.replace(problem, load_kg=np.full(20, 400.0), unload_s=1800.0)
    plan = planner.plan(problem, seed=0)
    assert plan.info["feasible"] is False
    assert plan.unserved_required(problem).size > 0
    assert plan.visited_bins.size > 0  # it still empties what it can
    assert check_plan(problem, plan) == []
    if planner.name == "pyvrp":  # the second, soft-required search made this plan
        assert plan.info["pyvrp_feasible"] is False and plan.info["searches"] == 2


@pytest.mark.parametrize("planner", PLANNERS, ids=lambda p: p.name)
def test_an_unreachable_bin_is_reported_not_fatal(planner):
    problem = random_problem(9, n_bins=15, n_trucks=2, shift_s=4 * 3600.0)
    required = problem.required.copy()
    required[[3, 4]] = True
    duration = problem.duration_s.copy()
    duration[3 + 2, :] = np.inf  # bin 3 cannot be left
    duration[:, 3 + 2] = np.inf
    duration[4 + 2, DISPOSAL] = np.inf  # bin 4 can be reached but not driven to the disposal site
    problem = dataclasses.replace(problem, duration_s=duration, required=required)
    plan = planner.plan(problem, seed=0)
    assert plan.info["feasible"] is False
    assert plan.unserved_required(problem).tolist() == [3, 4]
    assert plan.info["unservable_bins"].tolist() == [3, 4]
    assert check_plan(problem, plan) == []


@pytest.mark.parametrize("planner", PLANNERS, ids=lambda p: p.name)
def test_empty_and_truckless_days(planner):
    empty = tiny_problem(
        duration_s=np.array([[0.0, 5.0], [5.0, 0.0]]),
        distance_m=np.array([[0.0, 50.0], [50.0, 0.0]]),
        load_kg=np.zeros(0),
        prize=np.zeros(0),
        required=np.zeros(0, dtype=bool),
        service_s=np.zeros(0),
    )
    started = time.perf_counter()
    plan = planner.plan(empty, seed=0)
    assert time.perf_counter() - started < 0.5
    assert plan.routes == [] and plan.info["feasible"]
    no_trucks = planner.plan(tiny_problem(n_trucks=0), seed=0)
    assert no_trucks.routes == [] and not no_trucks.info["feasible"]
    assert no_trucks.unserved_required(tiny_problem()).tolist() == [0]


@pytest.mark.parametrize("planner", PLANNERS, ids=lambda p: p.name)
def test_a_bin_fuller_than_a_truck_fills_one_truck(planner):
    problem = tiny_problem(load_kg=np.array([1500.0, 300.0]))
    plan = planner.plan(problem, seed=0)
    assert check_plan(problem, plan) == []
    assert plan.info["feasible"] and plan.info["capped_bins"].tolist() == [0]
    loads = [load for route in plan.routes for load in route_stats(problem, route).loads_kg]
    assert max(loads) == problem.truck_capacity_kg


def test_plans_are_reproducible():
    problem = random_problem(10, n_bins=25)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            GreedyPlanner().plan(problem).routes, GreedyPlanner().plan(problem).routes, strict=True
        )
    )
    # an iteration limit makes the search independent of the machine's speed
    planner = PyVRPPlanner(max_runtime_s=30.0, max_iterations=300)
    first, second = planner.plan(problem, seed=3), planner.plan(problem, seed=3)
    assert len(first.routes) == len(second.routes)
    assert all(np.array_equal(a, b) for a, b in zip(first.routes, second.routes, strict=True))


def test_a_search_from_a_given_plan_starts_at_its_local_optimum():
    problem = random_problem(4, n_bins=30, n_trucks=3, shift_s=4 * 3600.0, required_share=1.0)
    greedy = GreedyPlanner().plan(problem)
    # no iteration of the search itself: what comes back is the given plan after the full
    # local search (pyvrp.solve would hand the plan back as it is)
    polished = PyVRPPlanner(max_runtime_s=30.0, max_iterations=0).plan(
        problem, seed=0, initial=greedy
    )
    assert check_plan(problem, polished) == [] and polished.info["feasible"]
    assert polished.info["searches"] == 1 and polished.info["iterations"] == 0
    assert polished.info["objective"] < 0.97 * greedy.info["objective"]
    as_given = PyVRPPlanner(max_runtime_s=30.0, max_iterations=0, settle_start=False).plan(
        problem, seed=0, initial=greedy
    )
    assert as_given.info["objective"] == pytest.approx(greedy.info["objective"])


def test_spread_trips_moves_whole_trips_onto_idle_trucks():
    problem = random_problem(5, n_bins=24, n_trucks=3, capacity=500.0, shift_s=8 * 3600.0)
    one_truck = GreedyPlanner().plan(dataclasses.replace(problem, n_trucks=1))
    (route,) = one_truck.routes
    assert (route == DISPOSAL).sum() >= 3  # the one truck makes several trips
    spread = spread_trips(one_truck.routes, problem.n_trucks)
    assert len(spread) == problem.n_trucks and all(r[-1] == DISPOSAL for r in spread)
    # the same stops in the same order, trip by trip: the first route keeps the trips it had
    # first, the others one of its last trips each, the last trip first
    assert np.array_equal(np.concatenate([spread[0], *spread[:0:-1]]), route)
    assert check_plan(problem, Plan(spread, "spread", 0.0)) == []
    # each moved trip drives from the depot, not the disposal site, and back to the depot
    d = problem.distance_m
    added = sum(d[DEPOT, r[0]] + d[DISPOSAL, DEPOT] - d[DISPOSAL, r[0]] for r in spread[1:])
    total = lambda routes: sum(route_stats(problem, r).distance_m for r in routes)  # noqa: E731
    assert total(spread) == pytest.approx(total(one_truck.routes) + added)
    # no idle truck, or no truck with two trips: nothing moves
    assert all(map(np.array_equal, spread_trips(spread, 3), spread))
    assert all(map(np.array_equal, spread_trips(one_truck.routes, 1), one_truck.routes))
