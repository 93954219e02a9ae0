"""Training the planner by policy gradient with a shared multi-start baseline (torch + numpy).

Each step draws a mini-batch of instances, samples ``samples`` plans per instance, and pushes up
the log-probability of the plans cheaper than their instance's mean plan (REINFORCE with the
POMO-style shared baseline: the mean cost of the instance's own samples). No solver labels are
needed, so the model learns on the city's own instances alone.

This first version trains in one process; distributed training, bf16 and checkpoints follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from generative.data import InstanceBatch
from generative.model import PlannerConfig, PlannerNet, rollout

__all__ = ["TrainConfig", "as_tensors", "evaluate", "train"]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    batch_size: int = 16
    samples: int = 8
    lr: float = 1e-3
    seed: int = 0
    grad_clip: float = 1.0


def as_tensors(batch: InstanceBatch, index: np.ndarray | slice | None = None) -> dict:
    """The batch's arrays (or a subset) as torch tensors."""
    picked = batch if index is None else batch.subset(index)
    return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in picked.arrays().items()}


@torch.no_grad()
def evaluate(model: PlannerNet, batch: InstanceBatch, *, samples: int = 16, seed: int = 0):
    """Mean over instances of the best of ``samples`` sampled plans' cost (metres)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    _, cost, _, _ = rollout(model, as_tensors(batch), samples=samples, generator=generator)
    return float(cost.view(len(batch), samples).min(dim=1).values.mean())


def train(
    batch: InstanceBatch,
    config: TrainConfig | None = None,
    *,
    model: PlannerNet | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[PlannerNet, list[float]]:
    """Train on ``batch``; returns the model and the mean sampled cost of every step."""
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    model = model or PlannerNet(PlannerConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for step in range(config.steps):
        model.train()
        index = rng.choice(len(batch), size=min(config.batch_size, len(batch)), replace=False)
        log_prob, cost, _, _ = rollout(
            model, as_tensors(batch, np.sort(index)), samples=config.samples, generator=generator
        )
        cost = cost.view(-1, config.samples)
        advantage = (cost - cost.mean(dim=1, keepdim=True)) / 1000.0
        loss = (advantage.detach().flatten() * log_prob).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        history.append(float(cost.mean()))
        if on_step:
            on_step(step, history[-1])
    return model, history
