"""The learned signal planner's network and the delay it is trained to lower (torch only).

``SignalNet`` reads every junction of a scenario at once (its phases' flows, saturation flows
and least greens, :mod:`generative.signal_data`) and proposes each junction's cycle and green
split in one pass. Junctions attend to each other with an attention bias of minus their travel
time apart (scaled per head, learned), so a junction's timing can depend on its neighbours'
load, as a corridor's does.

Every output is a plan within the limits by construction (the encoding of the CMA-ES search,
:mod:`agents.traffic.retiming`): cycle = shortest + (longest − shortest)·σ(z), vehicle greens =
least greens + the cycle's spare time shared by a softmax.

Training lowers a smooth, differentiable estimate of the delay a timing causes:
the *Highway Capacity Manual* control delay of each phase's critical approach (HCM 2010,
equations 18-19 to 18-21, pretimed ``k = 0.5``, ``I = 1``, a one-hour period): uniform delay
``d1 = 0.5 C (1 − g/C)² / (1 − min(1, X) g/C)`` plus incremental delay
``d2 = 900 T [(X − 1) + √((X − 1)² + 4X / (c T))]``, weighted by the approach's flow. Unlike
Webster's formula it holds above saturation, where queues grow over the hour.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["SignalNet", "SignalNetConfig", "control_delay", "timings"]

VEHICLE, PEDESTRIAN = 1, 2
PERIOD_H = 1.0


@dataclass(frozen=True)
class SignalNetConfig:
    dim: int = 64
    heads: int = 4
    layers: int = 2

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _features(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per junction: each phase's kind, flow ratio, flow, saturation flow and least green, and
    the junction's intergreen, load and least cycle, in units near one."""
    kind = batch["kind"]
    vehicle = (kind == VEHICLE).float()
    ratio = vehicle * batch["flow_vps"] / batch["saturation_vps"].clamp_min(1e-6)
    phase = torch.stack(
        [
            vehicle,
            (kind == PEDESTRIAN).float(),
            ratio,
            vehicle * batch["flow_vps"] * 3.6,  # thousands of vehicles an hour
            vehicle * batch["saturation_vps"] * 3.6,
            batch["min_green_s"] / 60.0,
        ],
        dim=-1,
    ).flatten(-2)
    phases = (kind > 0).sum(-1).float()
    shortest = batch["min_green_s"].sum(-1) + phases * batch["intergreen_s"]
    junction = torch.stack(
        [
            batch["intergreen_s"] / 10.0,
            shortest / 120.0,
            batch["max_cycle_s"] / 120.0,
            ratio.sum(-1),
            ratio.max(-1).values,
            phases / 4.0,
        ],
        dim=-1,
    )
    return torch.cat([phase, junction], dim=-1)


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        # per head, minutes of travel that halve attention's weight, learned (log scale)
        self.log_reach = nn.Parameter(torch.linspace(0.0, math.log(10.0), heads))

    def forward(self, x: torch.Tensor, travel_min: torch.Tensor, mask: torch.Tensor):
        batch, size, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, size, 3, self.heads, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, J, D/H]
        bias = -travel_min[:, None] / self.log_reach.exp()[None, :, None, None]
        bias = bias.masked_fill(~mask[:, None, None, :], float("-inf")).to(q.dtype)
        attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, size, dim))
        return x + self.ff(self.norm2(x))


class SignalNet(nn.Module):
    """Junction encoder with travel-time-biased attention; heads for cycle and splits."""

    def __init__(self, config: SignalNetConfig | None = None, phases: int = 4) -> None:
        super().__init__()
        config = config or SignalNetConfig()
        if config.dim % config.heads:
            raise ValueError(f"dim {config.dim} must be a multiple of heads {config.heads}")
        self.config, self.phases = config, phases
        self.embed = nn.Linear(6 * phases + 6, config.dim)
        self.layers = nn.ModuleList(_Layer(config.dim, config.heads) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        self.cycle = nn.Linear(config.dim, 1)
        self.split = nn.Linear(config.dim, phases)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cycle logits ``[B, J]`` and split logits ``[B, J, P]``."""
        x = self.embed(_features(batch))
        travel_min = batch["travel_s"] / 60.0
        for layer in self.layers:
            x = layer(x, travel_min, batch["mask"])
        x = self.norm(x)
        return self.cycle(x).squeeze(-1), self.split(x)


def timings(
    batch: dict[str, torch.Tensor], cycle_logit: torch.Tensor, split_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cycles ``[B, J]`` and greens ``[B, J, P]`` within the limits, from the logits."""
    kind = batch["kind"]
    vehicle = kind == VEHICLE
    phases = (kind > 0).sum(-1).float()
    shortest = batch["min_green_s"].sum(-1) + phases * batch["intergreen_s"]
    longest = torch.maximum(batch["max_cycle_s"], shortest)
    cycle = shortest + (longest - shortest) * torch.sigmoid(cycle_logit.float())
    logits = split_logits.float().masked_fill(~vehicle, float("-inf"))
    share = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # a junction of no vehicle phase
    greens = batch["min_green_s"] + (cycle - shortest)[..., None] * share
    return cycle, greens


def control_delay(
    batch: dict[str, torch.Tensor], cycle: torch.Tensor, greens: torch.Tensor
) -> torch.Tensor:
    """Mean HCM control delay per vehicle of each instance (seconds), ``[B]``."""
    vehicle = (batch["kind"] == VEHICLE) & batch["mask"][..., None]
    flow = batch["flow_vps"] * vehicle
    share = greens / cycle[..., None]
    capacity_vph = (share * batch["saturation_vps"] * 3600.0).clamp_min(1.0)
    degree = flow * 3600.0 / capacity_vph
    uniform = 0.5 * cycle[..., None] * (1 - share) ** 2 / (1 - degree.clamp(max=1.0) * share)
    over = degree - 1
    incremental = (
        900
        * PERIOD_H
        * (over + torch.sqrt(over**2 + 4 * degree / (capacity_vph * PERIOD_H) + 1e-12))
    )
    delay = (uniform + incremental) * vehicle
    weighted = (flow * delay).sum((-1, -2))
    return weighted / flow.sum((-1, -2)).clamp_min(1e-9)
