"""Compiled decoding: many plans of a day drawn on the CPU in a fraction of a second.

:meth:`generative.model.PlannerNet.forward` builds plans as batched torch operations, a few
hundred per decoding step whatever the number of plans: on a GPU, or to train, that is the
right shape, but on a CPU a day of 100 bins takes ~108 steps, and at a few hundred plans most
of the time is the fixed cost of those small operations (BENCHMARKS.md, "Learned planner",
session 11). Here the same policy runs as one compiled loop per plan. The network is
evaluated once per day (:meth:`~generative.model.PlannerNet.score_tables`: the encoder, and
the decoder's query folded into tables), so that a decoding step costs a pass over the day's
locations: the masks of :class:`generative.env.RouteState` (the same rules, in float64), the
scores from the tables, and one draw by the inverse of the cumulative distribution.

Inference only (no gradients). Plans are a function of the seed: the uniform draws come from
:func:`numpy.random.default_rng` before decoding starts, one per row and step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from numba import njit

from generative.env import END, UNLOAD, _stay_free, action_limit
from generative.model import UNSERVED_REQUIRED_PENALTY_M, PlannerNet

__all__ = ["SampledPlans", "load", "sample_plans"]

_EPS = 1e-6
"""Slack of the masks' capacity and shift checks, as in :mod:`generative.env`."""


class SampledPlans(NamedTuple):
    """Plans drawn for ``I`` days × ``S`` samples each, in rows (a day's samples together)."""

    actions: np.ndarray  # (I × S, T) int64, END-padded: :func:`generative.env.plans_from_actions`
    cost_m: np.ndarray  # (I × S,) as generative.model.plan_costs
    log_prob: np.ndarray  # (I × S,) of each plan under the (tempered) policy


class _Day(NamedTuple):
    """One batch of days as float64 / int64 / bool arrays, as the kernel reads them."""

    duration: np.ndarray  # (I, L, L), zero diagonal
    distance: np.ndarray  # (I, L, L), zero diagonal
    load: np.ndarray  # (I, N), at most the capacity
    required: np.ndarray  # (I, N)
    service: np.ndarray  # (I, N)
    prize: np.ndarray  # (I, N)
    capacity: np.ndarray  # (I,)
    shift: np.ndarray  # (I,)
    unload: np.ndarray  # (I,)
    n_trucks: np.ndarray  # (I,)


class _Scores(NamedTuple):
    """:class:`~generative.model.ScoreTables` with the parts that do not change while a plan
    is built summed: score = fixed[a, j] + Σ_c x_c × context[c, j]."""

    fixed: np.ndarray  # (I, L, L)
    context: np.ndarray  # (I, 3, L)


def sample_plans(
    model: PlannerNet,
    batch: dict[str, torch.Tensor],
    *,
    samples: int,
    seed: int = 0,
    temperature: float = 1.0,
    greedy_first: bool = False,
) -> SampledPlans:
    """Draw ``samples`` plans for every day of ``batch`` (tensors named as in
    :mod:`generative.data`) from ``model``'s policy.

    Parameters
    ----------
    model
        The planner; evaluated once per day, on whatever device it is.
    batch
        ``I`` days.
    samples
        Plans per day.
    seed
        Seeds the draws: the same seed, the same plans.
    temperature
        Divides the scores before sampling, as :meth:`PlannerNet.forward` does.
    greedy_first
        The first plan of every day takes the likeliest action at every step.

    Returns
    -------
    SampledPlans
        Actions, costs and log-probabilities, the same quantities as
        :meth:`PlannerNet.forward` returns for the same plans (up to float rounding).
    """
    if samples < 1:
        raise ValueError(f"samples: expected ≥ 1, got {samples}")
    if not temperature > 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    with torch.no_grad():
        tables = model.score_tables(batch)
    day = _day_arrays(batch)
    from_location, base, context, travel = (_float64(t) for t in tables[:4])
    fixed = from_location + base[:, None, :] - travel[:, None, None] * day.duration
    scores = _Scores(np.ascontiguousarray(fixed), context)
    n_instances, n_bins = day.load.shape
    rows = n_instances * samples
    steps = action_limit(n_bins, int(day.n_trucks.max()))
    uniforms = np.random.default_rng(seed).random((rows, steps))
    actions = np.full((rows, steps), END, dtype=np.int64)
    cost, log_prob = np.zeros(rows), np.zeros(rows)
    # plain Python scalars: numpy ones would compile another specialisation of the kernel
    _decode(day, scores, float(tables.logit_clip), 1.0 / float(temperature), int(samples),
            bool(greedy_first), uniforms, actions, cost, log_prob)  # fmt: skip
    return SampledPlans(actions, cost, log_prob)


def load() -> None:
    """Load the compiled kernel (from numba's cache; compiled on first use after install),
    so that the first day planned does not pay for it. Decodes nothing: no days."""
    empty = np.zeros((0, 2, 2))
    flat = np.zeros((0, 0))
    day = _Day(empty, empty, flat, np.zeros((0, 0), dtype=np.bool_), flat, flat,
               np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))  # fmt: skip
    scores = _Scores(empty, np.zeros((0, 3, 2)))
    nothing = np.zeros((0, 1), dtype=np.int64)
    _decode(day, scores, 10.0, 1.0, 1, False, np.zeros((0, 1)), nothing, np.zeros(0), np.zeros(0))


def _float64(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float64).numpy())


def _day_arrays(batch: dict[str, torch.Tensor]) -> _Day:
    capacity = _float64(batch["capacity_kg"])
    return _Day(
        duration=_float64(_stay_free(batch["duration_s"])),
        distance=_float64(_stay_free(batch["distance_m"])),
        load=np.minimum(_float64(batch["load_kg"]), capacity[:, None]),
        required=np.ascontiguousarray(batch["required"].cpu().numpy().astype(np.bool_)),
        service=_float64(batch["service_s"]),
        prize=_float64(batch["prize"]),
        capacity=capacity,
        shift=_float64(batch["shift_s"]),
        unload=_float64(batch["unload_s"]),
        n_trucks=np.ascontiguousarray(batch["n_trucks"].cpu().numpy().astype(np.int64)),
    )


# exp(x) = 2^n × exp(r), n = round(x / ln 2), |r| ≤ ln 2 / 2 (Cody and Waite's reduction)
_LN2_HIGH, _LN2_LOW = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_LIMIT = 700.0  # beyond it exp leaves float64; clamped, as tanh there is ±1 to the last bit


@njit(cache=True, nogil=True)
def _exp(x, out, bits, count):
    """``out[:count] = exp(x[:count])`` within 1e-14 relative, for |x| ≤ 700 (clamped beyond).

    libm's ``exp`` is a call per value that the compiler cannot vectorize, and the decoder
    needs two per location per step (tanh, then the weight): most of its time. These two
    loops have no calls and no branches, so they run four or eight values at a time. ``bits``
    (int64, ≥ count) is scratch for building ``2^n`` from its exponent bits.
    """
    for m in range(count):
        value = min(max(x[m], -_EXP_LIMIT), _EXP_LIMIT)
        n = np.floor(value * _INV_LN2 + 0.5)
        r = value - n * _LN2_HIGH - n * _LN2_LOW
        # Taylor to degree 11: the remainder is below 1e-14 on |r| ≤ ln 2 / 2
        out[m] = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (
            1 / 720 + r * (1 / 5040 + r * (1 / 40320 + r * (1 / 362880 + r * (
                1 / 3628800 + r * (1 / 39916800)))))))))))  # fmt: skip
        bits[m] = (np.int64(n) + 1023) << 52
    powers = bits.view(np.float64)
    for m in range(count):
        out[m] *= powers[m]


@njit(cache=True, nogil=True)
def _decode(day, scores, logit_clip, inv_temperature, samples, greedy_first, uniforms,
            actions, cost, log_prob):  # fmt: skip
    """Build every row's plan (see the module docstring); writes ``actions``, ``cost`` and
    ``log_prob`` in place."""
    n_instances, n_locations = day.duration.shape[0], day.duration.shape[1]
    n_bins = n_locations - 2
    steps = actions.shape[1]
    scale = logit_clip * inv_temperature  # logits are scale × tanh(score)
    visited = np.zeros(n_bins, dtype=np.bool_)
    allowed = np.zeros(n_locations, dtype=np.bool_)
    work, logits = np.zeros(n_locations), np.zeros(n_locations)
    weights, bits = np.zeros(n_locations), np.zeros(n_locations, dtype=np.int64)
    to_finish, via_disposal = np.zeros(n_bins), np.zeros(n_bins)
    for i in range(n_instances):
        duration, distance = day.duration[i], day.distance[i]
        load, service, required = day.load[i], day.service[i], day.required[i]
        fixed, context = scores.fixed[i], scores.context[i]
        capacity, unload = day.capacity[i], day.unload[i]
        full, late = capacity + _EPS, day.shift[i] + _EPS
        # fixed while a plan is built: from each bin, empty it, drive to the disposal site,
        # unload, drive home; and the same from the disposal site, after an unload
        for k in range(n_bins):
            to_finish[k] = service[k] + duration[k + 2, 1] + unload + duration[1, 0]
            via_disposal[k] = duration[1, k + 2] + to_finish[k]
        for s in range(samples):
            row = i * samples + s
            greedy = greedy_first and s == 0
            visited[:] = False
            at, trucks_left = 0, day.n_trucks[i] - 1
            clock = carried = travelled = plan_log_prob = 0.0
            for t in range(steps):
                # the masks of RouteState.mask
                here = duration[at]
                unload_first = clock + here[1] + unload
                loaded = carried > 0
                n_fits = n_after_unload = n_required = 0
                # & rather than `and`: no branches, so the loop runs several bins at a time
                for k in range(n_bins):
                    open_ = ~visited[k]
                    fits = (open_ & (carried + load[k] <= full)
                            & (clock + here[k + 2] + to_finish[k] <= late))  # fmt: skip
                    after_unload = open_ & loaded & (unload_first + via_disposal[k] <= late)
                    allowed[k + 2] = fits
                    n_fits += fits
                    n_after_unload += after_unload
                    n_required += required[k] & (fits | after_unload)
                allowed[UNLOAD] = loaded and n_after_unload > 0
                allowed[END] = n_required == 0 or not (allowed[UNLOAD] or n_fits > 0)
                # scores from the tables, for every location at once (masked below)
                shares = (carried / capacity, clock / day.shift[i], max(trucks_left, 0) / 10.0)
                for j in range(n_locations):
                    work[j] = 2.0 * (
                        fixed[at, j]
                        + shares[0] * context[0, j]
                        + shares[1] * context[1, j]
                        + shares[2] * context[2, j]
                    )
                _exp(work, logits, bits, n_locations)
                for j in range(n_locations):
                    logits[j] = scale * (1.0 - 2.0 / (logits[j] + 1.0))  # tanh by exp(2x)
                best, action = -np.inf, END
                for j in range(n_locations):
                    if allowed[j] and logits[j] > best:
                        best, action = logits[j], j
                for j in range(n_locations):
                    work[j] = logits[j] - best
                _exp(work, weights, bits, n_locations)
                # the cumulative distribution over allowed actions
                total = 0.0
                for j in range(n_locations):
                    total += weights[j] * allowed[j]
                    weights[j] = total
                if not greedy:
                    target = uniforms[row, t] * total
                    for j in range(n_locations):
                        if weights[j] > target:  # first crossed where an allowed weight adds
                            action = j
                            break
                    # rounding can leave the target just above the sum: the best action stands
                plan_log_prob += logits[action] - best - math.log(total)
                actions[row, t] = action
                # RouteState.step for one row
                if action >= 2:
                    k = action - 2
                    travelled += distance[at, action]
                    clock += here[action] + service[k]
                    carried += load[k]
                    visited[k] = True
                    at = action
                elif action == UNLOAD:
                    travelled += distance[at, UNLOAD]
                    clock += here[UNLOAD] + unload
                    carried = 0.0
                    at = UNLOAD
                else:
                    via = UNLOAD if loaded else at
                    travelled += distance[at, via] + distance[via, END]
                    at, clock, carried = END, 0.0, 0.0
                    trucks_left -= 1
                    if trucks_left < 0:
                        break
            missed = 0.0
            for k in range(n_bins):
                if not visited[k]:
                    missed += UNSERVED_REQUIRED_PENALTY_M if required[k] else day.prize[i, k]
            cost[row] = travelled + missed
            log_prob[row] = plan_log_prob
