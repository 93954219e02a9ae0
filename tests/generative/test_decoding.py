"""The compiled decoder draws from the same policy, under the same rules, as the model's own.

The reference is independent code: :meth:`PlannerNet.forward` (batched torch, the query and
keys multiplied out at every step) and :class:`generative.env.RouteState` (the masks), and
:func:`agents.waste.planning.check_plan` for every plan.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.waste.planning import Plan, check_plan, route_stats
from generative.checkpoint import load_model
from generative.decoding import sample_plans
from generative.env import RouteState, plans_from_actions
from generative.instances import to_problem
from generative.model import PlannerConfig, PlannerNet
from generative.propose import shipped_checkpoint


@pytest.fixture(scope="module")
def trained():
    model, _ = load_model(shipped_checkpoint("helsinki"))
    return model.eval()


@pytest.fixture(scope="module")
def untrained():
    """Random weights, travel counted in shifts: the other unit the tables must fold in."""
    torch.manual_seed(3)
    return PlannerNet(PlannerConfig(dim=32, heads=2, travel_unit="shift")).eval()


def _tensors(days):
    return {name: torch.from_numpy(np.asarray(a)) for name, a in days.arrays().items()}


@pytest.mark.parametrize("which", ["trained", "untrained"])
def test_score_tables_give_the_decoders_logits(request, sampled, which):
    model = request.getfixturevalue(which)
    batch = _tensors(sampled)
    samples = 8
    with torch.no_grad():
        tables = model.score_tables(batch)
        unit = model.travel_unit(batch)
        nodes = model.encode(batch, unit)
        keys = model.keys(nodes)
        state = RouteState.start(batch, samples=samples)
        generator = torch.Generator().manual_seed(0)
        for _ in range(25):  # states along random allowed rollouts
            expected = model.logits(nodes, keys, state, unit)
            i, at = state.instance, state.at
            shares = torch.stack(
                [
                    state.carried / state.capacity,
                    state.clock / state.shift,
                    state.trucks_left.clamp(min=0).float() / 10.0,
                ],
                dim=1,
            )
            score = (
                tables.from_location[i, at]
                + tables.base[i]
                + (shares[:, :, None] * tables.context[i]).sum(dim=1)
                - tables.travel[i, None] * state.here(state.duration)
            )
            got = tables.logit_clip * torch.tanh(score)
            torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)
            allowed = state.mask()
            state.step(torch.multinomial(allowed.float(), 1, generator=generator)[:, 0])


@pytest.mark.parametrize("fixture", ["sampled", "tight"])
def test_every_compiled_plan_is_valid_and_costed_right(request, trained, fixture):
    days = request.getfixturevalue(fixture)
    samples = 32
    plans = sample_plans(trained, _tensors(days), samples=samples, seed=1, greedy_first=True)
    for row, routes in enumerate(plans_from_actions(torch.from_numpy(plans.actions))):
        problem = to_problem(days, row // samples)
        plan = Plan(routes=[np.array(r) for r in routes], planner="compiled", solve_s=0.0)
        assert check_plan(problem, plan) == [], (row, routes)
        served = np.zeros(problem.n_bins, dtype=bool)
        for route in plan.routes:
            served[route[route >= 2] - 2] = True
        missed = ~served
        expected = (
            sum(route_stats(problem, r).distance_m for r in plan.routes)
            + problem.prize[missed & ~problem.required].sum()
            + 50_000.0 * (missed & problem.required).sum()
        )
        assert plans.cost_m[row] == pytest.approx(expected, rel=1e-5, abs=1.0)
    if fixture == "tight":  # the binding limits did bind
        unloads = [sum(r.count(1) for r in routes) for routes in plans_from_actions(
            torch.from_numpy(plans.actions))]  # fmt: skip
        assert max(unloads) >= 3


@pytest.mark.parametrize("fixture", ["sampled", "tight"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_compiled_plans_are_what_the_model_would_draw(request, trained, fixture, temperature):
    """Every action is one the env's masks allow, and each plan's cost and log-probability are
    those the model's own decoder gives the same actions."""
    days = request.getfixturevalue(fixture)
    batch, samples = _tensors(days), 16
    plans = sample_plans(trained, batch, samples=samples, seed=2, temperature=temperature)
    actions = torch.from_numpy(plans.actions)
    state = RouteState.start(batch, samples=samples)
    for t in range(actions.shape[1]):
        allowed = state.mask()
        assert allowed[torch.arange(len(actions)), actions[:, t]].all(), t
        state.step(actions[:, t])
    assert state.done.all()
    with torch.no_grad():
        log_prob, cost, _, _ = trained(
            batch, samples=samples, actions=actions, temperature=temperature
        )
    np.testing.assert_allclose(plans.cost_m, cost.double().numpy(), rtol=1e-5, atol=0.5)
    np.testing.assert_allclose(plans.log_prob, log_prob.double().numpy(), atol=1e-3)


def test_the_greedy_plan_is_the_models_greedy_plan(trained, sampled):
    batch = _tensors(sampled)
    plans = sample_plans(trained, batch, samples=3, seed=4, greedy_first=True)
    with torch.no_grad():
        _, cost, greedy, _ = trained(batch, samples=1, greedy=True)
    first = torch.from_numpy(plans.actions[::3, : greedy.shape[1]])
    assert torch.equal(first, greedy)
    assert (plans.actions[::3, greedy.shape[1] :] == 0).all()  # nothing after the last END
    np.testing.assert_allclose(plans.cost_m[::3], cost.double().numpy(), rtol=1e-5)


def test_first_stops_follow_the_policys_probabilities(trained, sampled):
    """The draws themselves: 6,000 first actions of one day against the model's softmax."""
    batch = {name: tensor[:1] for name, tensor in _tensors(sampled).items()}
    draws = 6000
    plans = sample_plans(trained, batch, samples=draws, seed=5, temperature=0.7)
    with torch.no_grad():
        unit = trained.travel_unit(batch)
        nodes = trained.encode(batch, unit)
        state = RouteState.start(batch)
        scores = trained.logits(nodes, trained.keys(nodes), state, unit) / 0.7
        probability = torch.softmax(scores.masked_fill(~state.mask(), -torch.inf), dim=1)[0]
    counts = np.bincount(plans.actions[:, 0], minlength=len(probability))
    p = probability.double().numpy()
    assert counts[p == 0].sum() == 0
    # every action within 4.5 standard deviations of its expected count
    sigma = np.sqrt(draws * p * (1 - p))
    assert np.all(np.abs(counts - draws * p) <= 4.5 * sigma + 1.0), (counts, draws * p)


def test_plans_are_a_function_of_the_seed(trained, sampled):
    batch = _tensors(sampled)
    first, again, other = (sample_plans(trained, batch, samples=8, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first.actions, again.actions)
    assert not np.array_equal(first.actions, other.actions)


@pytest.mark.parametrize(("options", "message"), [
    ({"samples": 0}, "samples"), ({"samples": 4, "temperature": 0.0}, "temperature"),
])  # fmt: skip
def test_impossible_options_are_refused(trained, sampled, options, message):
    with pytest.raises(ValueError, match=message):
        sample_plans(trained, _tensors(sampled), **options)
