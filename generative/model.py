"""The learned planner: an attention encoder over the day's locations and an autoregressive
decoder that builds truck routes step by step, sampling from a masked policy.

torch only. Travel times enter twice, so the model sees the city's asymmetric street network and
not straight lines: as an additive bias of every encoder attention head (``−a_h × t_ij / T``, a
learned ``a_h ≥ 0`` per head) and as a bias on the decoder's choice of the next bin
(``−b × t(here, bin) / T``). ``T``, the travel unit, is the day's mean travel time between its
locations, so that a near and a far bin differ by logits, not hundredths of one; older
checkpoints, whose settings name no unit, count in shifts (:attr:`PlannerConfig.travel_unit`).
The decoder's actions and masks are those of :class:`generative.env.RouteState`, so every
sampled plan is valid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch
from torch import nn

from generative.env import RouteState, action_limit

__all__ = ["PlannerConfig", "PlannerNet", "ScoreTables", "plan_costs", "rollout"]

UNSERVED_REQUIRED_PENALTY_M = 50_000.0
"""Cost of a required bin left unserved, in metres of driving (a detour no plan would trade it
for): learning never prefers an overflow to a drive."""


TRAVEL_UNITS = ("mean", "shift")


@dataclass(frozen=True)
class PlannerConfig:
    """Size of the network, the unit its travel-time biases count in, and what it sees of a day.

    ``travel_unit`` is ``"mean"`` (each day's mean travel time between its locations) or
    ``"shift"`` (the shift's length, as the first checkpoints were trained: a unit so large that
    a bias of one logit per shift barely told a neighbour from a bin across town).
    ``features`` is the feature set of :func:`node_features`: 1, the first models' eight
    figures per location, all in the day's own or fixed units; 2 adds what tells days of
    different cities and fleets apart (see :func:`node_features`).
    """

    dim: int = 64
    heads: int = 4
    layers: int = 2
    logit_clip: float = 10.0
    travel_unit: str = "mean"
    features: int = 2

    def __post_init__(self) -> None:
        if self.travel_unit not in TRAVEL_UNITS:
            raise ValueError(
                f"travel_unit: one of {', '.join(TRAVEL_UNITS)}, got {self.travel_unit!r}"
            )
        if self.features not in FEATURES:
            raise ValueError(f"features: one of {sorted(FEATURES)}, got {self.features!r}")
        if self.dim < 1 or self.heads < 1 or self.layers < 0 or self.dim % self.heads:
            raise ValueError(
                f"dim ({self.dim}) must be a positive multiple of heads ({self.heads}), and "
                f"layers ({self.layers}) at least 0"
            )
        if not (math.isfinite(self.logit_clip) and self.logit_clip > 0):
            # 0 makes every choice equally likely and leaves nothing to learn
            raise ValueError(f"logit_clip must be > 0, got {self.logit_clip}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> PlannerConfig:
        """The settings a checkpoint holds; those written before the travel unit was one of
        them counted in shifts, and those before the feature set saw set 1."""
        return cls(**{"travel_unit": "shift", "features": 1, **settings})


FEATURES = {1: 8, 2: 13}
"""Feature sets of :func:`node_features` and their width."""

_TRAVEL_SCALE_REFERENCE_S = 300.0
"""Travel-time scale the log-scale feature counts from (a small town's mean drive)."""


def node_features(batch: dict[str, torch.Tensor], features: int = 1) -> torch.Tensor:
    """(B, N + 2, width) figures of every location of a day.

    Set 1 (8): position scaled to the instance, load / capacity, prize (km), required,
    service / shift, and depot / disposal flags. Set 2 adds five: the prize in the day's mean
    distance between its locations (a kilometre's prize is worth more detour in a compact
    centre than in a valley), and four figures of the day shared by every location: the log of
    its travel-time scale (mean travel time between locations, over 300 s), the shift in that
    scale / 20, trucks / 8, and the day's load over what the fleet carries in one trip each
    (/ 2, at most 2)."""
    first = _features_v1(batch)
    if features == 1:
        return first
    duration = batch["duration_s"].float()
    distance = batch["distance_m"].float()
    unit = duration.mean(dim=(1, 2)).clamp(min=1.0)
    mean_distance = distance.mean(dim=(1, 2)).clamp(min=1.0)
    b, n = batch["load_kg"].shape
    zeros = torch.zeros(b, 2, device=duration.device)
    prize = torch.cat([zeros, batch["prize"].float() / mean_distance[:, None]], 1)
    trucks = batch["n_trucks"].float()
    fleet_load = batch["load_kg"].float().sum(dim=1) / (trucks * batch["capacity_kg"].float())
    shared = torch.stack(
        [
            torch.log(unit / _TRAVEL_SCALE_REFERENCE_S),
            batch["shift_s"].float() / unit / 20.0,
            trucks / 8.0,
            fleet_load.clamp(max=4.0) / 2.0,
        ],
        dim=-1,
    )
    return torch.cat([first, prize[..., None], shared[:, None].expand(b, n + 2, 4)], dim=-1)


def _features_v1(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    xy = batch["xy_m"].float()
    scale = xy.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1.0)
    b, n = batch["load_kg"].shape
    zeros = torch.zeros(b, 2, device=xy.device)
    load = torch.cat([zeros, batch["load_kg"].float() / batch["capacity_kg"].float()[:, None]], 1)
    prize = torch.cat([zeros, batch["prize"].float() / 1000.0], 1)
    required = torch.cat([zeros, batch["required"].float()], 1)
    service = torch.cat([zeros, batch["service_s"].float() / batch["shift_s"].float()[:, None]], 1)
    kind = torch.zeros(b, n + 2, 2, device=xy.device)
    kind[:, 0, 0] = 1.0
    kind[:, 1, 1] = 1.0
    scalars = torch.stack([load, prize, required, service], dim=-1)
    return torch.cat([xy / scale, scalars, kind], dim=-1)


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.distance_weight = nn.Parameter(torch.ones(heads))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.feed = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, travel: torch.Tensor) -> torch.Tensor:
        # (B, L, L) scaled travel times → (B × heads, L, L) additive attention bias
        weight = nn.functional.softplus(self.distance_weight)
        bias = -(weight[None, :, None, None] * travel[:, None]).flatten(0, 1)
        attended, _ = self.attention(h, h, h, attn_mask=bias.to(h.dtype), need_weights=False)
        h = self.norm1(h + attended)
        return self.norm2(h + self.feed(h))


class ScoreTables(NamedTuple):
    """The decoder's scores of a batch of days as tables, one set per instance (``I`` days of
    ``L`` locations): the score of action ``j`` (END, UNLOAD, bin ``j − 2``) from location ``a``
    with load share ``x0``, clock share ``x1`` and trucks-left share ``x2`` (as
    :meth:`PlannerNet.logits` builds its query) is::

        logit_clip × tanh(from_location[a, j] + base[j] + Σ_c x_c × context[c, j]
                          − travel × duration[a, j])

    with ``duration`` the day's travel times with a zero diagonal. The query is linear in its
    inputs and the keys fixed while a plan is built, so a decoding step needs no matrix
    product at all: :mod:`generative.decoding` samples plans from these tables alone.
    """

    from_location: torch.Tensor  # (I, L, L)
    base: torch.Tensor  # (I, L)
    context: torch.Tensor  # (I, 3, L)
    travel: torch.Tensor  # (I,) scores per second of travel
    logit_clip: float


class PlannerNet(nn.Module):
    """Encoder–decoder policy over a day's routing problem (see the module docstring)."""

    def __init__(self, config: PlannerConfig | None = None) -> None:
        super().__init__()
        self.config = config or PlannerConfig()
        dim = self.config.dim
        self.embed = nn.Linear(FEATURES[self.config.features], dim)
        self.layers = nn.ModuleList(
            _Layer(dim, self.config.heads) for _ in range(self.config.layers)
        )
        # query from: current node, graph mean, load share, clock share, trucks left share
        self.query = nn.Linear(2 * dim + 3, dim)
        self.keys = nn.Linear(dim, dim, bias=False)
        self.travel_bias = nn.Parameter(torch.tensor(1.0))

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        *,
        samples: int,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        greedy_first: bool = False,
        multi_start: bool = False,
        actions: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RouteState]:
        """Build ``samples`` plans per instance; returns (log-probability of each plan, its cost
        in metres, the action log (B × samples, T), the final states).

        Actions are sampled (or taken greedily; with ``greedy_first`` the first plan of every
        instance is the greedy one, the others sampled). With ``multi_start`` the plans of an
        instance start at its ``samples`` likeliest first stops, one each (POMO's multi-start,
        Kwon et al. 2020): more diverse plans, and the start's log-probability is left out of
        the plan's. Sampling divides the scores by ``temperature`` (below 1: nearer the greedy
        plan; log-probabilities are then the tempered policy's). ``actions`` (B × samples, T),
        when given, replaces all that: the plans are replayed and scored (a solver's plans to
        imitate, or plans drawn elsewhere). The whole rollout is this module's forward, so
        that ``DistributedDataParallel`` sees every use of the parameters.

        Cost = distance driven + prizes of optional bins left out + a penalty per required bin
        left out (:data:`UNSERVED_REQUIRED_PENALTY_M`).
        """
        unit = self.travel_unit(batch)
        # per instance: the samples of an instance share its embeddings and keys
        nodes = self.encode(batch, unit)
        keys = self.keys(nodes)
        graph = nodes.mean(dim=1)
        state = RouteState.start(batch, samples=samples)
        log_prob = torch.zeros(len(state.at), device=nodes.device)
        taken = []
        limit = action_limit(state.load.shape[1], int(batch["n_trucks"].max()))
        if actions is not None:
            limit = min(limit, actions.shape[1])
        for t in range(limit):
            allowed = state.mask()
            if actions is not None:
                # a replayed plan may end a truck where the masks would not (a solver's plan
                # leaves a required bin to the next truck): its own actions count as allowed
                allowed[torch.arange(len(allowed), device=allowed.device), actions[:, t]] = True
            scores = self.logits(nodes, keys, state, unit, graph).float() / temperature
            logp = torch.log_softmax(scores.masked_fill(~allowed, float("-inf")), dim=1)
            given_start = t == 0 and multi_start and actions is None
            if given_start:
                action = _distinct_starts(logp, samples)
            elif actions is not None:
                action = actions[:, t]
            elif greedy:
                action = logp.argmax(dim=1)
            else:
                action = _sample(logp, generator)
                if greedy_first:
                    # only each instance's first row is greedy: no argmax over every row
                    action[::samples] = logp[::samples].argmax(dim=1)
            live = ~state.done
            if not given_start:
                # a start given to the plan is not the policy's choice: no credit for it
                chosen = logp.gather(1, action[:, None])[:, 0]
                log_prob = log_prob + torch.where(live, chosen, 0.0)
            state.step(action)
            taken.append(action)
            if bool(state.done.all()):
                break
        return log_prob, plan_costs(batch, state), torch.stack(taken, dim=1), state

    def compile_steps(self) -> PlannerNet:
        """Compile, in place, what runs at every decoding step and every encoder layer
        (``torch.compile``, shapes dynamic, so days of any size share the compiled code). The
        first steps pay for compiling (minutes on a CPU); measured on two CPU cores a training
        step then took 0.6 of the eager one (BENCHMARKS.md). Weights and checkpoints are those
        of the eager network."""
        self.logits = torch.compile(self.logits, dynamic=True)
        for layer in self.layers:
            layer.forward = torch.compile(layer.forward, dynamic=True)
        return self

    def with_features(self, features: int) -> PlannerNet:
        """This network seeing feature set ``features`` (≥ its own): the new figures enter
        with zero weights, so it plans exactly as before until training gives them weight."""
        if features < self.config.features:
            raise ValueError(f"features: {features} drops figures this model uses")
        wider = PlannerNet(replace(self.config, features=features))
        state = self.state_dict()
        width = FEATURES[self.config.features]
        weight = torch.zeros_like(wider.embed.weight)
        weight[:, :width] = state["embed.weight"]
        state["embed.weight"] = weight
        wider.load_state_dict(state)
        return wider.to(self.embed.weight.device)

    def travel_unit(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) seconds of travel that count as one unit in the network's travel biases."""
        if self.config.travel_unit == "shift":
            return batch["shift_s"].float()
        # the diagonal is ~0: the mean over all entries is the pairwise mean × (1 − 1/L)
        return batch["duration_s"].float().mean(dim=(1, 2)).clamp(min=1.0)

    def encode(self, batch: dict[str, torch.Tensor], unit: torch.Tensor) -> torch.Tensor:
        """(B, L, dim) embeddings of the day's locations; ``unit`` as :meth:`travel_unit`."""
        travel = batch["duration_s"].float() / unit[:, None, None]
        h = self.embed(node_features(batch, self.config.features))
        for layer in self.layers:
            h = layer(h, travel)
        return h

    def score_tables(self, batch: dict[str, torch.Tensor]) -> ScoreTables:
        """The decoder's scores for ``batch``'s days as :class:`ScoreTables` (one encoder pass;
        the same scores as :meth:`logits` up to float rounding)."""
        unit = self.travel_unit(batch)
        nodes = self.encode(batch, unit)
        keys = self.keys(nodes).transpose(1, 2) / math.sqrt(nodes.shape[-1])  # (I, dim, L)
        # the query's weights by input, in the order logits() concatenates them
        dim = nodes.shape[-1]
        weight, bias = self.query.weight, self.query.bias
        from_here, from_graph, from_context = (
            weight[:, :dim],
            weight[:, dim : 2 * dim],
            weight[:, 2 * dim :],
        )
        base = nodes.mean(dim=1) @ from_graph.T + bias  # (I, dim)
        return ScoreTables(
            from_location=(nodes @ from_here.T) @ keys,
            base=(base[:, None] @ keys)[:, 0],
            context=from_context.T @ keys,
            travel=nn.functional.softplus(self.travel_bias) / unit,
            logit_clip=float(self.config.logit_clip),
        )

    def logits(
        self,
        nodes: torch.Tensor,
        keys: torch.Tensor,
        state: RouteState,
        unit: torch.Tensor,
        graph: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, N + 2) scores of END, UNLOAD and each bin for the current states of the ``B``
        rows (:class:`~generative.env.RouteState`: ``I`` instances × ``S`` samples).
        ``nodes`` (I, L, dim) are the instances' embeddings and ``keys`` their keys; ``unit``
        (I,) as :meth:`travel_unit`; ``graph`` (I, dim) is the mean of ``nodes`` over
        locations when the caller has it."""
        instance = state.instance
        context = torch.cat(
            [
                nodes[instance, state.at],
                (nodes.mean(dim=1) if graph is None else graph)[instance],
                (state.carried / state.capacity)[:, None],
                (state.clock / state.shift)[:, None],
                state.trucks_left.clamp(min=0).float()[:, None] / 10.0,
            ],
            dim=1,
        )
        q = self.query(context)
        # END is scored by the depot's key, UNLOAD by the disposal site's, bin k by its own;
        # one matrix product per instance for all its samples
        n_instances, length, dim = keys.shape
        scores = torch.bmm(q.view(n_instances, -1, dim), keys.transpose(1, 2))
        scores = scores.view(-1, length) / math.sqrt(dim)
        travel = state.here(state.duration) / unit[instance, None]
        scores = scores - nn.functional.softplus(self.travel_bias) * travel
        return self.config.logit_clip * torch.tanh(scores)


def plan_costs(batch: dict[str, torch.Tensor], state: RouteState) -> torch.Tensor:
    """(B,) cost of each row's plan so far, in metres: distance driven + prizes of the optional
    bins left out + :data:`UNSERVED_REQUIRED_PENALTY_M` per required bin left out."""
    missed = ~state.visited
    missed_prize = (batch["prize"].float()[state.instance] * (missed & ~state.required)).sum(dim=1)
    missed_required = (state.required & missed).sum(dim=1).float()
    return state.travelled_m + missed_prize + UNSERVED_REQUIRED_PENALTY_M * missed_required


def _sample(logp: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One action per row drawn from ``logp`` (B, A), log-probabilities with −inf for the
    actions not allowed.

    By the inverse of the cumulative distribution, ten times faster than
    ``torch.multinomial`` for a few hundred rows, which matters when one day's plans are
    drawn in a fifth of a second."""
    cumulative = logp.exp().double().cumsum(dim=1)
    u = torch.rand(len(logp), 1, generator=generator, dtype=torch.float64, device=logp.device)
    action = torch.searchsorted(cumulative, u * cumulative[:, -1:], right=True)[:, 0]
    action = action.clamp(max=logp.shape[1] - 1)
    # rounding may land a draw at the very end, on an action not allowed: take the likeliest
    allowed = torch.isfinite(logp.gather(1, action[:, None]))[:, 0]
    if bool(allowed.all()):
        return action
    return torch.where(allowed, action, logp.argmax(dim=1))


def _distinct_starts(logp: torch.Tensor, samples: int) -> torch.Tensor:
    """First actions (B × samples,): the ``samples`` likeliest distinct allowed ones of each
    instance, repeated in turn when fewer are allowed."""
    first = logp.view(-1, samples, logp.shape[1])[:, 0]  # every sample of an instance alike
    allowed = torch.isfinite(first)
    k = min(samples, first.shape[1])
    top = first.topk(k, dim=1).indices  # allowed ones first
    count = allowed.sum(dim=1, keepdim=True).clamp(min=1)
    pick = torch.arange(samples, device=logp.device)[None] % count.clamp(max=k)
    return top.gather(1, pick).flatten()


def rollout(
    model: nn.Module, batch: dict[str, torch.Tensor], **options
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RouteState]:
    """Build plans with ``model`` (a :class:`PlannerNet`, or one wrapped in
    ``DistributedDataParallel``); ``options`` as :meth:`PlannerNet.forward` takes them."""
    return model(batch, **options)
