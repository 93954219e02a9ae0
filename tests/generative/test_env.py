"""The routing environment's masks: any sequence of allowed actions is a valid plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.waste.planning import Plan, check_plan, route_stats
from generative.env import RouteState, plans_from_actions
from generative.instances import to_problem


@pytest.fixture(params=["sampled", "tight"])
def batch(request):
    return request.getfixturevalue(request.param)


def _tensors(batch):
    return {name: torch.from_numpy(np.asarray(a)) for name, a in batch.arrays().items()}


def _rollout(state: RouteState, generator: torch.Generator, *, greedy_first_bin: bool = False):
    actions = []
    for _ in range(4 * state.load.shape[1] + 10):
        allowed = state.mask()
        weights = allowed.float()
        if greedy_first_bin:
            weights[:, 2:] *= 50.0  # prefer bins: long routes that press on every limit
        action = torch.multinomial(weights, 1, generator=generator)[:, 0]
        assert allowed[torch.arange(len(action)), action].all()
        state.step(action)
        actions.append(action)
        if state.done.all():
            break
    assert state.done.all()
    return torch.stack(actions, dim=1)


@pytest.mark.parametrize("prefer_bins", [False, True])
def test_random_allowed_actions_make_valid_plans(batch, prefer_bins):
    samples = 16
    state = RouteState.start(_tensors(batch), samples=samples)
    actions = _rollout(state, torch.Generator().manual_seed(1), greedy_first_bin=prefer_bins)
    plans = plans_from_actions(actions)
    for row, routes in enumerate(plans):
        problem = to_problem(batch, row // samples)
        plan = Plan(routes=[np.array(r) for r in routes], planner="random", solve_s=0.0)
        assert check_plan(problem, plan) == [], (row, routes)
        # the environment's own distance count equals the plan's
        distance = sum(route_stats(problem, r).distance_m for r in plan.routes)
        assert float(state.travelled_m[row]) == pytest.approx(distance, rel=1e-4, abs=1.0)


def test_required_bins_are_served_when_the_fleet_can(sampled):
    """Ending a truck is masked while it can still reach a required bin, so a rollout that
    prefers bins leaves no required bin a single truck could have emptied."""
    batch = sampled
    state = RouteState.start(_tensors(batch), samples=8)
    actions = _rollout(state, torch.Generator().manual_seed(2), greedy_first_bin=True)
    for row, routes in enumerate(plans_from_actions(actions)):
        problem = to_problem(batch, row // 8)
        plan = Plan(routes=[np.array(r) for r in routes], planner="random", solve_s=0.0)
        assert plan.unserved_required(problem).size == 0


def test_tight_instances_make_trucks_unload_and_stop_early(tight):
    batch = tight
    state = RouteState.start(_tensors(batch), samples=8)
    actions = _rollout(state, torch.Generator().manual_seed(3), greedy_first_bin=True)
    plans = plans_from_actions(actions)
    unloads = [sum(r.count(1) for r in routes) for routes in plans]
    assert max(unloads) >= 3  # capacity forces unloads mid-route
    assert not state.visited.all()  # the short shift leaves bins for another day
