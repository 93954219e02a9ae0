"""A tiny training run on the bundled city's own instances: the sampled plans are valid, the
cost falls, and on held-out days the learned planner beats a random policy and greedy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.waste.planning import GreedyPlanner, Plan, check_plan
from generative.env import RouteState, plans_from_actions
from generative.instances import plan_cost, sample_instances, to_problem
from generative.model import UNSERVED_REQUIRED_PENALTY_M, PlannerNet, rollout
from generative.train import TrainConfig, as_tensors, evaluate, train


@pytest.fixture(scope="module")
def days(helsinki):
    data = sample_instances(helsinki, n_bins=15, n_instances=48, seed=7, n_trucks=2)
    return data.subset(slice(0, 40)), data.subset(slice(40, 48))


@pytest.fixture(scope="module")
def trained(days):
    torch.manual_seed(0)
    config = TrainConfig(steps=120, batch_size=16, samples=16, lr=2e-3, seed=0)
    return train(days[0], config, model=PlannerNet())


def test_training_lowers_the_cost(trained):
    _, history = trained
    # an untrained model already leans to near bins (its travel-time bias), so the mean
    # sampled cost starts near greedy's and has less to lose than from a random policy
    assert np.mean(history[-20:]) < 0.92 * np.mean(history[:20])


def test_learned_plans_beat_random_and_greedy_on_held_out_days(trained, days):
    model, _ = trained
    held = days[1]
    learned = evaluate(model, held, samples=16)
    problems = [to_problem(held, i) for i in range(8)]
    greedy = np.mean([plan_cost(p, GreedyPlanner().plan(p)) for p in problems])
    # a random policy: uniform over the allowed actions, best of the same 16 samples
    state = RouteState.start(as_tensors(held), samples=16)
    generator = torch.Generator().manual_seed(0)
    while not bool(state.done.all()):
        state.step(torch.multinomial(state.mask().float(), 1, generator=generator)[:, 0])
    prize = torch.from_numpy(held.prize).repeat_interleave(16, dim=0)
    missed = (prize * (~state.visited & ~state.required)).sum(dim=1)
    left = (state.required & ~state.visited).sum(dim=1) * UNSERVED_REQUIRED_PENALTY_M
    random_cost = (state.travelled_m + missed + left).view(8, 16).min(dim=1).values.mean()
    assert learned < greedy < float(random_cost)


def test_every_sampled_plan_is_valid_and_costed_right(trained, days):
    model, _ = trained
    held = days[1]
    with torch.no_grad():
        _, cost, actions, _ = rollout(model, as_tensors(held), samples=8)
    for row, routes in enumerate(plans_from_actions(actions)):
        problem = to_problem(held, row // 8)
        plan = Plan(routes=[np.array(r) for r in routes], planner="learned", solve_s=0.0)
        assert check_plan(problem, plan) == []
        assert float(cost[row]) == pytest.approx(plan_cost(problem, plan), rel=1e-4, abs=1.0)


def test_multi_start_plans_start_apart_are_valid_and_leave_the_start_out(trained, days):
    model, _ = trained
    held = days[1]
    tensors = as_tensors(held)
    with torch.no_grad():
        log_prob, _, actions, _ = rollout(model, tensors, samples=8, greedy=True, multi_start=True)
        _, _, greedy_actions, _ = rollout(model, tensors, samples=1, greedy=True)
        first_only, _, _, _ = rollout(model, tensors, samples=8, actions=actions[:, :1])
        whole, _, _, _ = rollout(model, tensors, samples=8, actions=actions)
    starts = actions[:, 0].view(8, 8)
    allowed = RouteState.start(tensors, samples=1).mask()
    for instance in range(8):
        assert len(set(starts[instance].tolist())) == 8  # 15 bins: 8 distinct starts exist
        assert bool(allowed[instance, starts[instance]].all())
        # the likeliest start is the greedy plan's
        assert int(starts[instance, 0]) == int(greedy_actions[instance, 0])
    # the plan's log-probability is that of its replay without the given start
    assert torch.allclose(log_prob, whole - first_only, atol=1e-4)
    for row, routes in enumerate(plans_from_actions(actions)):
        plan = Plan(routes=[np.array(r) for r in routes], planner="learned", solve_s=0.0)
        assert check_plan(to_problem(held, row // 8), plan) == []


def test_multi_start_training_lowers_the_cost(days):
    torch.manual_seed(0)
    config = TrainConfig(steps=60, batch_size=8, samples=8, lr=2e-3, seed=0, multi_start=True)
    _, history = train(days[0], config, model=PlannerNet())
    assert np.mean(history[-15:]) < 0.95 * np.mean(history[:15])


def test_sampling_at_a_temperature_near_zero_takes_the_greedy_plan(trained, days):
    model, _ = trained
    held = as_tensors(days[1])
    with torch.no_grad():
        _, greedy, _, _ = rollout(model, held, samples=1, greedy=True)
        _, cold, _, _ = rollout(
            model, held, samples=6, generator=torch.Generator().manual_seed(1), temperature=1e-4
        )
        _, warm, _, _ = rollout(model, held, samples=6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cold.view(len(greedy), 6), greedy[:, None].expand(-1, 6))
    assert not torch.equal(warm.view(len(greedy), 6), greedy[:, None].expand(-1, 6))
