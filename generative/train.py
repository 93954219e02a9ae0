"""Training the planner by policy gradient with a shared multi-start baseline (torch + numpy).

Each step draws a mini-batch of instances, samples ``samples`` plans per instance, and pushes up
the log-probability of the plans cheaper than their instance's mean plan (REINFORCE with the
POMO-style shared baseline: the mean cost of the instance's own samples). No solver labels are
needed, so the model learns on the city's own instances alone.

Checkpoints (model, optimizer, step, history and every random state) are written atomically and
a run resumes from them exactly. This version trains in one process; distributed training (DDP)
and bf16 on GPU follow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from generative.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
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
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 50,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[PlannerNet, list[float]]:
    """Train on ``batch``; returns the model and the mean sampled cost of every step.

    With ``checkpoint``, the model, optimizer, step, cost history and every random state are
    written there every ``checkpoint_every`` steps and at the end (atomically); ``resume``
    continues from that file, and a resumed run repeats the uninterrupted run's numbers exactly
    (same seed, same data).
    """
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    model = model or PlannerNet(PlannerConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[float] = []
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        saved = load_checkpoint(checkpoint, city_sha256=batch.meta.get("city_sha256"))
        if saved["model_config"] != model.config.to_dict():
            raise CheckpointError(
                f"{checkpoint}: model {saved['model_config']} differs from {model.config.to_dict()}"
                ": resume with the same model settings."
            )
        model.load_state_dict(saved["model_state"])
        optimizer.load_state_dict(saved["optimizer_state"])
        rng.bit_generator.state = saved["numpy_rng"]
        generator.set_state(saved["torch_generator"])
        torch.set_rng_state(saved["torch_rng"])
        start, history = int(saved["step"]), list(saved["history"])

    def save(step: int) -> None:
        save_checkpoint(
            checkpoint,
            {
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "model_config": model.config.to_dict(),
                "train_config": asdict(config),
                "step": step,
                "history": history,
                "numpy_rng": rng.bit_generator.state,
                "torch_generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "city": batch.meta.get("city"),
                "city_sha256": batch.meta.get("city_sha256"),
                "n_bins": batch.n_bins,
            },
        )

    for step in range(start, config.steps):
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
        if checkpoint is not None and (step + 1) % checkpoint_every == 0:
            save(step + 1)
    if checkpoint is not None:
        save(config.steps)
    return model, history
