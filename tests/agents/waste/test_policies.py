"""What the planned policy offers the planner: the load share of an early visit, the chance a
bin left today overflows, and the prizes that follow from them (agents/waste/policies.py)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.waste.bins import WEEKDAY_FACTORS, Bins, daily_generation
from agents.waste.policies import (
    PlannedPolicy,
    days_to_next_shift,
    load_share,
    overflow_probability,
)

MONDAY, FRIDAY = 0, 4


def _bins(daily_kg: list[float], *, capacity_kg: float = 1000.0) -> Bins:
    n = len(daily_kg)
    return Bins(
        node=np.arange(n),
        x=np.zeros(n),
        y=np.zeros(n),
        capacity_kg=np.full(n, capacity_kg),
        daily_kg=np.asarray(daily_kg, dtype=float),
        kind=np.array(["placed"] * n),
        osm_id=np.full(n, -1),
        land_use=np.array(["residential"] * n),
        containers=np.ones(n, dtype=np.int64),
    )


def test_a_bin_due_at_the_next_shift_is_worth_its_fill_over_its_fill_then():
    # 800 kg of 1,000 on Monday, 100 kg a day: Tuesday's fill (800 + Monday's mean input) plus
    # the 95 % bound of Tuesday's input tops the capacity, so the bin is due on Tuesday
    share = load_share(_bins([100.0]), np.array([800.0]), MONDAY)
    assert share[0] == pytest.approx(800.0 / (800.0 + 100.0 * WEEKDAY_FACTORS[MONDAY]))


def test_the_weekend_counts_into_the_fill_at_mondays_shift():
    share = load_share(_bins([100.0]), np.array([600.0]), FRIDAY)
    weekend = 100.0 * WEEKDAY_FACTORS[[4, 5, 6]].sum()  # Friday, Saturday, Sunday
    assert share[0] == pytest.approx(600.0 / (600.0 + weekend))


def test_a_bin_not_due_within_the_horizon_is_worth_its_fill_over_its_fill_at_the_horizon():
    # 1 kg a day never fills 1,000 kg in two weeks: ten shifts from a Monday end 14 days later
    share = load_share(_bins([1.0]), np.array([100.0]), MONDAY, horizon_shifts=10)
    assert share[0] == pytest.approx(100.0 / (100.0 + 1.0 * WEEKDAY_FACTORS.sum() * 2))


def test_a_bin_that_would_overflow_is_worth_its_fill_over_its_capacity():
    share = load_share(_bins([2000.0]), np.array([500.0]), MONDAY)
    assert share[0] == pytest.approx(0.5)


def test_the_share_grows_with_the_fill_and_stays_a_share():
    fills = np.linspace(0.0, 1000.0, 41)
    share = load_share(_bins([150.0] * len(fills)), fills, MONDAY)
    assert share[0] == 0.0 and np.all((share >= 0.0) & (share <= 1.0))
    assert np.all(np.diff(share) >= 0.0)


@pytest.mark.parametrize("objective", ["hours", "euros"])
def test_plans_that_count_time_value_an_early_stop_by_its_load_share(objective):
    rng = np.random.default_rng(5)
    bins = _bins(list(rng.uniform(50.0, 300.0, 60)))
    fill = rng.uniform(0.0, 1000.0, 60)
    by_km = PlannedPolicy(bins).request(MONDAY, fill)
    by_time = PlannedPolicy(bins, objective=objective).request(MONDAY, fill)
    # the same bins are asked for, the same ones required, the same urgency for the drive: only
    # the service time an optional stop stands for is scaled
    np.testing.assert_array_equal(by_time.bins, by_km.bins)
    np.testing.assert_array_equal(by_time.required, by_km.required)
    np.testing.assert_array_equal(by_time.prize, by_km.prize)
    optional = ~by_km.required
    assert optional.sum() >= 5
    share = load_share(bins, fill, MONDAY)[by_km.bins]
    np.testing.assert_allclose(by_time.saves_service, by_km.saves_service * share)
    assert np.all(by_time.saves_service[optional] < by_km.saves_service[optional])
    assert np.all(by_time.saves_service[~optional] == 0.0)
    # and what leaving each optional bin risks, which km plans do not weigh
    assert by_km.overflow_risk is None
    risk = overflow_probability(bins, fill, MONDAY)[by_km.bins]
    np.testing.assert_array_equal(by_time.overflow_risk, np.where(optional, risk, 0.0))


def _simulated_overflow(bins: Bins, fill_kg: np.ndarray, day: int, *, runs: int) -> np.ndarray:
    """Share of ``runs`` simulated days (the simulator's own draws) on which each bin's input
    until the next shift tops the room left."""
    rng = np.random.default_rng(11)
    ahead = days_to_next_shift(day)
    many = bins.subset(np.repeat(np.arange(len(bins)), runs))
    total = sum(daily_generation(many, day + k, rng) for k in range(ahead))
    room = np.repeat(bins.capacity_kg - fill_kg, runs)
    return (total > room).reshape(len(bins), runs).mean(axis=1)


@pytest.mark.parametrize(
    ("day", "rooms"), [(MONDAY, [1.2, 1.4, 1.6, 1.8]), (FRIDAY, [1.1, 1.2, 1.3, 1.4])]
)
def test_the_overflow_chance_is_the_simulators(day, rooms):
    # rooms (in mean inputs until the next shift) from about a 25 % to a 1.5 % chance; one day
    # is one lognormal, exact but for the sampling; a weekend's three are matched by one
    # (Fenton-Wilkinson), within 5 % of the simulated chance there
    daily = 100.0
    ahead = days_to_next_shift(day)
    mean = daily * WEEKDAY_FACTORS[[(day + k) % 7 for k in range(ahead)]].sum()
    bins = _bins([daily] * len(rooms))
    fill = bins.capacity_kg - mean * np.asarray(rooms)
    simulated = _simulated_overflow(bins, fill, day, runs=200_000)
    assert simulated.min() > 0.01
    np.testing.assert_allclose(overflow_probability(bins, fill, day), simulated, rtol=0.05)


def test_a_full_bin_overflows_for_sure_and_an_empty_one_hardly():
    bins = _bins([100.0, 100.0])
    risk = overflow_probability(bins, np.array([1000.0, 0.0]), MONDAY)
    assert risk[0] == 1.0 and risk[1] < 1e-12
