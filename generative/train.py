"""Training the planner by policy gradient with a shared multi-start baseline (torch + numpy).

Each step draws a mini-batch of instances, samples ``samples`` plans per instance, and pushes up
the log-probability of the plans cheaper than their instance's mean plan (REINFORCE with the
POMO-style shared baseline: the mean cost of the instance's own samples). No solver labels are
needed, so the model learns on the city's own instances alone; PyVRP's costs, when the instance
file carries them, measure the validation gap. Optionally the first ``imitation_steps`` steps
imitate PyVRP's plans (teacher forcing on the file's ``label_actions``). Measured on Helsinki's
100-bin days (BENCHMARKS.md), imitation alone levelled off near a 60 % gap to PyVRP while policy
gradient went on to close it much further, so the default is policy gradient alone.

Many cities and sizes: training takes several instance files at once, each one draw (a place,
a number of bins, a fleet); every step takes its days from one file, chosen in proportion to
its days, so a batch is of one size. A step of ``batch_size`` days of ``batch_bins`` bins takes
proportionally fewer days of larger ones (``batch_size × batch_bins / bins``, at least one per
process), so that a step costs about the same whatever its size. The advantage of a plan is
its cost's difference from its day's mean plan in per cent of that mean, so days of a compact
centre and of a valley weigh alike. The checkpoint carries the range of days the model learned
from (:class:`generative.coverage.TrainingRange`).

Scale-out: under ``torchrun`` (``torchrun --nproc_per_node 4 -m generative.train …``) every
process takes its share of each step's instances and ``DistributedDataParallel`` averages the
gradients (gloo on CPU, nccl on GPU), so a step of ``P`` processes equals one process's step on
the combined batch. bf16 autocast (``--bf16``) runs the network in bfloat16 on GPU; the route
bookkeeping (masks, clocks, costs) stays in float32.

Checkpoints (model, optimizer, learning-rate schedule, step, history and every random state,
each process's own included) are written atomically by the first process, and a run resumes
from them exactly. Logs: ``log.csv`` in the run folder, and TensorBoard event files in
``tensorboard/`` when the ``tensorboard`` package is installed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from generative.checkpoint import (
    CheckpointError,
    checkpoint_range,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from generative.coverage import TrainingRange
from generative.data import (
    CORPUS_MANIFEST,
    InstanceBatch,
    InstanceFileError,
    PooledDays,
    missing_files,
    read_days,
)
from generative.model import FEATURES, TRAVEL_UNITS, PlannerConfig, PlannerNet, rollout
from generative.model_card import ModelCardError, write_model_card

__all__ = [
    "CHECKPOINT_NAME",
    "TrainConfig",
    "TrainingError",
    "Workers",
    "as_tensors",
    "batch_days",
    "changed_on_resume",
    "evaluate",
    "exit_rank",
    "gap_pct",
    "imitation_step",
    "lineage_of",
    "main",
    "policy_gradient_step",
    "resolve_device",
    "train",
    "write_card",
]

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of the checkpoint in a run folder."""

LOG_COLUMNS = (
    "step", "loss", "cost_m", "val_cost_m", "val_gap_pct", "lr", "instances_per_s",
    "elapsed_s", "gpu_memory_mib", "bins",
)  # fmt: skip


class TrainingError(ValueError):
    """Training settings that cannot work here; the message names the fix."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run.

    ``batch_size`` counts the instances of one step across all processes; ``lr`` decays along
    a cosine to ``lr × lr_final`` at the last step. The first ``imitation_steps`` steps imitate
    the reference (PyVRP) plans the instance file carries, the rest learn by policy gradient.
    With ``multi_start`` the ``samples`` plans of an instance start at distinct first stops
    (POMO's shared multi-start baseline) instead of all being sampled from the first step.
    ``batch_size`` counts days of ``batch_bins`` bins: a step on larger days takes fewer
    (:func:`batch_days`). ``compile`` compiles the network's per-step parts
    (:meth:`~generative.model.PlannerNet.compile_steps`).
    """

    steps: int = 200
    batch_size: int = 16
    samples: int = 8
    lr: float = 1e-3
    lr_final: float = 0.1
    seed: int = 0
    grad_clip: float = 1.0
    bf16: bool = False
    validate_every: int = 50
    val_samples: int = 16
    checkpoint_every: int = 50
    imitation_steps: int = 0
    multi_start: bool = False
    batch_bins: int = 100
    compile: bool = False

    def check(self) -> None:
        """Raise :class:`TrainingError` for settings that cannot train."""
        names = ("steps", "batch_size", "samples", "validate_every", "checkpoint_every",
                 "val_samples", "batch_bins")  # fmt: skip
        for name in names:
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be ≥ 1, got {getattr(self, name)}.")
        if self.imitation_steps < 0:
            raise TrainingError(f"imitation_steps must be ≥ 0, got {self.imitation_steps}.")
        if not self.lr > 0 or not 0 <= self.lr_final <= 1:
            raise TrainingError(
                f"need lr > 0 and 0 ≤ lr_final ≤ 1, got {self.lr}, {self.lr_final}."
            )
        if not self.grad_clip > 0:
            # torch scales gradients by clip / norm: a negative clip turns descent into ascent
            raise TrainingError(f"grad_clip must be > 0, got {self.grad_clip}.")
        if self.samples < 2 and self.steps > self.imitation_steps:
            # the policy gradient's baseline is the mean of an instance's own samples: with
            # one, every advantage is 0 and nothing is learned
            raise TrainingError(
                f"samples must be ≥ 2 for policy-gradient steps (each plan is weighed against "
                f"the others of its day), got {self.samples}."
            )


RESUME_FREE = frozenset({"validate_every", "val_samples", "checkpoint_every", "compile"})
"""Training settings a resumed run may change: how often it looks, not what a step does (a
changed learning rate, batch or seed would be recorded but not followed, or followed from the
middle of a run that no longer repeats; other steps would bend the learning rate's cosine, which
runs over the run's steps, in mid-run: from the floor back up)."""


def changed_on_resume(saved: dict[str, Any], config: TrainConfig) -> str:
    """The settings of ``config`` that differ from a checkpoint's, as ``lr 0.001 → 0.5``
    (empty: none)."""
    now = asdict(config)
    return ", ".join(
        f"{name} {saved[name]} → {now[name]}"
        for name in sorted(now)
        if name not in RESUME_FREE and name in saved and saved[name] != now[name]
    )


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``; a GPU asked for
    where none exists is a :class:`TrainingError` naming the fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"device {name!r}: use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device {name!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU: "
            "run on a GPU node with a CUDA build of torch (see the README's researcher section), "
            "or pass --device cpu."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise TrainingError(
            f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s)."
        )
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"device {name!r}: use auto, cpu, cuda or cuda:N.")
    return device


@dataclass(frozen=True)
class Workers:
    """This process's place in a (possibly distributed) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device: str = "auto") -> Workers:
        """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE``,
        ``RANK``, ``LOCAL_RANK``), or run alone when there is none.

        Alone, a GPU asked for where there is none is a :class:`TrainingError`. Under
        ``torchrun`` the processes train on the CPU instead, and the first says so on stderr:
        an error there would reach the user once per process and then as torchrun's traceback.
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=resolve_device(device))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        try:
            chosen = resolve_device(device)
        except TrainingError as err:
            if not str(device).startswith("cuda") or torch.cuda.is_available():
                raise
            if int(os.environ.get("RANK", "0")) == 0:
                print(f"warning: {err} Training on the CPU (gloo) instead.", file=sys.stderr)
            chosen = torch.device("cpu")
        if chosen.type == "cuda":
            chosen = torch.device("cuda", local)
            torch.cuda.set_device(chosen)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), device=chosen)


DaySet = InstanceBatch | PooledDays
"""Days of one training file: read with :func:`generative.data.read_days`."""


def batch_days(config: TrainConfig, n_bins: int, available: int, world_size: int = 1) -> int:
    """Days a step takes from a file of ``n_bins``-bin days holding ``available`` days:
    ``batch_size × batch_bins / n_bins`` (all of ``batch_size`` for smaller days), a multiple
    of the number of processes, at least one per process, at most what the file holds."""
    wanted = _wanted_days(config, n_bins)
    count = max(world_size, round(wanted / world_size) * world_size)
    return min(count, available - available % world_size)


def _wanted_days(config: TrainConfig, n_bins: int) -> float:
    """Days of ``n_bins`` bins a step asks for: ``batch_size`` days of ``batch_bins`` bins."""
    return config.batch_size * min(1.0, config.batch_bins / max(n_bins, 1))


def _capped_sets(config: TrainConfig, sets: Sequence[DaySet], world_size: int) -> str:
    """Which training files hold fewer days than ``batch_size`` asks a step to take from them
    (:func:`batch_days` takes all a file holds then), in words; empty where none."""
    short = []
    for day_set in sets:
        taken = batch_days(config, day_set.n_bins, len(day_set), world_size)
        if taken < round(_wanted_days(config, day_set.n_bins)):
            short.append(taken)
    if not short:
        return ""
    span = f"{min(short)}" if min(short) == max(short) else f"{min(short)}–{max(short)}"
    return (
        f"batch_size {config.batch_size}: {len(short)} of {len(sets)} training files hold fewer "
        f"days than that, so their steps take {span} days: write files of more days (--days of "
        "twin corpus or twin finetune) for the batch asked."
    )


def as_tensors(
    batch: InstanceBatch,
    index: np.ndarray | slice | None = None,
    *,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """The batch's arrays (or a subset) as torch tensors on ``device``."""
    picked = batch if index is None else batch.subset(index)
    return {
        name: torch.from_numpy(np.ascontiguousarray(a)).to(device)
        for name, a in picked.arrays().items()
    }


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate(
    model: PlannerNet,
    batch: InstanceBatch,
    *,
    samples: int = 16,
    seed: int = 0,
    bf16: bool = False,
    per_instance: bool = False,
):
    """Best plan's cost (metres) per instance, or their mean: the greedy plan and
    ``samples − 1`` sampled ones."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    with _autocast(device, bf16):
        _, cost, _, _ = rollout(
            model, as_tensors(batch, device=device), samples=samples, generator=generator,
            greedy_first=True,
        )  # fmt: skip
    best = cost.view(len(batch), samples).min(dim=1).values.cpu().numpy()
    return best if per_instance else float(best.mean())


def policy_gradient_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    *,
    samples: int,
    generator: torch.Generator | None = None,
    actions: torch.Tensor | None = None,
    bf16: bool = False,
    grad_clip: float = 1.0,
    multi_start: bool = False,
) -> tuple[float, torch.Tensor]:
    """One REINFORCE step on ``tensors``' instances; returns (loss, cost of every plan).

    ``model`` may be wrapped in ``DistributedDataParallel``: each process passes its own
    instances and the gradients are averaged. ``actions`` replays given plans instead of
    sampling new ones (the distributed test compares processes on the same plans).
    """
    model.train()
    device = tensors["load_kg"].device
    with _autocast(device, bf16):
        log_prob, cost, _, _ = rollout(
            model, tensors, samples=samples, generator=generator, actions=actions,
            multi_start=multi_start,
        )  # fmt: skip
    cost = cost.view(-1, samples)
    # in per cent of the day's mean plan: the step does not depend on the city's scale
    mean = cost.mean(dim=1, keepdim=True)
    advantage = 100.0 * (cost - mean) / mean.clamp(min=1.0)
    loss = (advantage.detach().flatten() * log_prob.float()).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach()), cost.detach()


def imitation_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    actions: torch.Tensor,
    *,
    bf16: bool = False,
    grad_clip: float = 1.0,
) -> tuple[float, torch.Tensor]:
    """One step of imitation: raise the log-probability of the given plans (a solver's, as
    decoder actions); returns (loss per action, cost of those plans)."""
    model.train()
    device = tensors["load_kg"].device
    with _autocast(device, bf16):
        log_prob, cost, _, _ = rollout(model, tensors, samples=1, actions=actions)
    loss = -(log_prob.float() / actions.shape[1]).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach()), cost.detach()[:, None]


class _Log:
    """CSV rows (always) and TensorBoard scalars (when installed), written by the main process."""

    def __init__(self, folder: Path | None, *, enabled: bool, resume_step: int = 0) -> None:
        self.enabled = enabled and folder is not None
        self.csv_path = None if folder is None else folder / "log.csv"
        self.board = None
        if not self.enabled:
            return
        self._keep_until(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # an optional extra: the CSV log has the same figures
            self.board = None
        else:
            # purge_step: TensorBoard forgets the killed run's steps after the checkpoint too
            self.board = SummaryWriter(str(folder / "tensorboard"), purge_step=resume_step or None)

    def _keep_until(self, step: int) -> None:
        """Drop the rows of steps after ``step``: a killed run logged them, but its resumed run
        repeats those steps from the checkpoint and logs them again."""
        if not self.csv_path.exists():
            return
        with self.csv_path.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= step]
        staging = self.csv_path.with_suffix(".csv.partial")
        with staging.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(staging, self.csv_path)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        new = not self.csv_path.exists()
        with self.csv_path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        if self.board is not None:
            for name, value in row.items():
                if name != "step" and value not in ("", None):
                    self.board.add_scalar(name, value, row["step"])
            self.board.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _gather_states(state: torch.Tensor, workers: Workers) -> list[torch.Tensor]:
    """Every process's generator state, on the main process (the others get [])."""
    if workers.world_size == 1:
        return [state]
    # nccl gathers tensors on the GPU, gloo on the CPU: both take them on the process's device
    mine = state.to(workers.device)
    gathered = [torch.empty_like(mine) for _ in range(workers.world_size)]
    dist.all_gather(gathered, mine)
    return [g.cpu() for g in gathered] if workers.main else []


def train(
    days: DaySet | Sequence[DaySet],
    config: TrainConfig | None = None,
    *,
    model: PlannerNet | None = None,
    val: DaySet | Sequence[DaySet] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    workers: Workers | None = None,
    on_step: Callable[[int, float], None] | None = None,
    init_range: TrainingRange | None = None,
    lineage: Sequence[dict[str, Any]] = (),
) -> tuple[PlannerNet, list[float]]:
    """Train on ``days`` (one set of days, or several: files of other places and sizes);
    returns the model and the mean sampled cost of every step.

    With ``run_dir``, the checkpoint (``checkpoint.pt``: model, optimizer, schedule, step, cost
    history, random states, the training range) is written there every
    ``config.checkpoint_every`` steps and at the end, atomically, and ``log.csv`` (plus
    TensorBoard files) records the loss, cost, learning rate, speed and, every
    ``config.validate_every`` steps, the best-of-``val_samples`` cost on ``val`` and its gap to
    the reference (PyVRP) costs the files carry (the mean of the days' gaps). ``resume``
    continues from the checkpoint; a resumed run repeats the uninterrupted run's numbers exactly
    (same seed, data and number of processes). ``init_range``: the range of the model training
    started from (fine-tuning), merged into the checkpoint's; ``lineage``: the runs that trained
    it before (:func:`lineage_of`), kept in the checkpoint with this run's ``trained_on``.
    """
    config = config or TrainConfig()
    config.check()
    workers = workers or Workers()
    sets = _as_sets(days)
    val_sets = [] if val is None else _as_sets(val)
    for n, day_set in enumerate(sets):
        if batch_days(config, day_set.n_bins, len(day_set), workers.world_size) < 1:
            raise TrainingError(
                f"training set {n + 1} ({day_set.meta.get('city')}, {day_set.n_bins} bins) "
                f"holds {len(day_set)} days, fewer than the {workers.world_size} processes: "
                "generate more days or use fewer processes."
            )
    if workers.main and config.bf16 and workers.device.type != "cuda":
        # allowed (CPU autocast exists) but rarely meant: slower there, and other numbers
        print(
            f"warning: --bf16 on the {workers.device.type}: bfloat16 autocast pays on a GPU; "
            "here it is slower and changes the numbers. Leave --bf16 out on the CPU.",
            file=sys.stderr,
        )
    if workers.main and any(day_set.reference_m is None for day_set in val_sets):
        # said, not refused: the validation cost is still logged; a researcher expects the gap
        print(
            "warning: validation days without reference plans: log.csv gets their cost but no "
            "gap; write them with `twin instances … --reference-s 1` (`twin corpus` does).",
            file=sys.stderr,
        )
    capped = _capped_sets(config, sets, workers.world_size)
    if capped and workers.main and len(sets) > 1:
        # said, not refused: a corpus's files may be short on purpose (the device run's are)
        print(f"warning: {capped}", file=sys.stderr)
    if workers.world_size == 1 and len(sets) == 1 and config.batch_size > len(sets[0]):
        raise TrainingError(
            f"batch_size {config.batch_size} exceeds the {len(sets[0])} training instances: "
            "generate more instances or lower the batch size."
        )
    if config.batch_size % workers.world_size:
        raise TrainingError(
            f"batch_size {config.batch_size} does not split over {workers.world_size} processes:"
            " choose a multiple of the number of processes."
        )
    if config.imitation_steps and any(d.label_actions is None for d in sets):
        raise TrainingError(
            "imitation_steps needs the reference plans in every instance file: write them with "
            "`twin instances --reference-s SECONDS`, or set imitation_steps to 0."
        )
    device = workers.device
    torch.manual_seed(config.seed)
    model = (model or PlannerNet(PlannerConfig())).to(device)
    if config.compile:
        model.compile_steps()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            config.lr_final
            + (1 - config.lr_final) * 0.5 * (1 + math.cos(math.pi * min(step / config.steps, 1.0)))
        ),
    )
    # the same draws in every process; each then takes its own share of the days
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed * 1009 + workers.rank)
    weights = np.array([len(d) for d in sets], dtype=np.float64)
    weights /= weights.sum()
    fingerprint = _fingerprint(sets)
    history: list[float] = []
    start, elapsed_before = 0, 0.0
    # training days seen, for the model card's instances/s (None: resumed from a checkpoint
    # of a version that did not count them)
    seen: int | None = 0
    folder = None if run_dir is None else Path(run_dir)
    checkpoint = None if folder is None else folder / CHECKPOINT_NAME
    if resume and checkpoint is not None and checkpoint.is_file():
        saved = load_checkpoint(checkpoint)
        if saved.get("data_fingerprint") not in (None, fingerprint):
            raise CheckpointError(
                f"{checkpoint}: written by a run on other training files: resume with the "
                "same files (in the same order), or start a new run (--init to fine-tune)."
            )
        if PlannerConfig.from_dict(saved["model_config"]) != model.config:
            raise CheckpointError(
                f"{checkpoint}: model {saved['model_config']} differs from "
                f"{model.config.to_dict()}: resume with the same model settings."
            )
        planned = (saved.get("train_config") or {}).get("steps", config.steps)
        if planned != config.steps:
            raise CheckpointError(
                f"{checkpoint}: a run of {planned} steps (at step {saved.get('step')}), resumed "
                f"with --steps {config.steps}: its learning rate decays over the {planned} steps, "
                f"so a resume keeps them (--steps {planned}); to train on from its model, start "
                "a new run with --init (a fresh schedule)."
            )
        changed = changed_on_resume(saved.get("train_config") or {}, config)
        if changed:
            raise CheckpointError(
                f"{checkpoint}: resumed with other training settings ({changed}): a resumed "
                "run repeats the one it continues, so resume with the same settings, or start "
                "a new run from this one's model (--init)."
            )
        states = saved["torch_generators"]
        if len(states) != workers.world_size:
            raise CheckpointError(
                f"{checkpoint}: written by {len(states)} process(es), resumed by "
                f"{workers.world_size}: resume with the same number of processes."
            )
        model.load_state_dict(saved["model_state"])
        optimizer.load_state_dict(saved["optimizer_state"])
        schedule.load_state_dict(saved["schedule_state"])
        rng.bit_generator.state = saved["numpy_rng"]
        generator.set_state(states[workers.rank])
        torch.set_rng_state(saved["torch_rng"])
        start, history = int(saved["step"]), list(saved["history"])
        elapsed_before = float(saved.get("elapsed_s", 0.0))
        seen = saved.get("instances")
        trained_range = checkpoint_range(saved)
        lineage = saved.get("lineage", lineage)
    else:
        trained_range = _training_range(sets, init_range) if workers.main else None
        if folder is not None and workers.main:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "log.csv").unlink(missing_ok=True)
    net = model if workers.world_size == 1 else DistributedDataParallel(model)
    log = _Log(folder, enabled=workers.main, resume_step=start)
    began = time.perf_counter()

    def save(step: int) -> None:
        states = _gather_states(generator.get_state(), workers)
        if not workers.main:
            return
        save_checkpoint(
            checkpoint,
            {
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "schedule_state": schedule.state_dict(),
                "model_config": model.config.to_dict(),
                "train_config": asdict(config),
                "step": step,
                "history": history,
                "elapsed_s": elapsed_before + time.perf_counter() - began,
                "numpy_rng": rng.bit_generator.state,
                "torch_generators": states,
                "torch_rng": torch.get_rng_state(),
                "training_range": trained_range.to_dict(),
                "data_fingerprint": fingerprint,
                "trained_on": _hardware(device, workers.world_size),
                "lineage": list(lineage),
                **({"instances": seen} if seen is not None else {}),
            },
        )
        write_card(checkpoint)

    try:
        for step in range(start, config.steps):
            tick = time.perf_counter()
            which = int(rng.choice(len(sets), p=weights)) if len(sets) > 1 else 0
            day_set = sets[which]
            count = batch_days(config, day_set.n_bins, len(day_set), workers.world_size)
            share = count // workers.world_size
            index = np.sort(rng.choice(len(day_set), size=count, replace=False))
            mine = index[workers.rank * share : (workers.rank + 1) * share]
            tensors = as_tensors(day_set, mine, device=device)
            lr_used = optimizer.param_groups[0]["lr"]  # the step's own, before the schedule moves
            if step < config.imitation_steps:
                labels = day_set.label_actions[mine].astype(np.int64)
                labels = torch.from_numpy(labels).to(device)
                loss, cost = imitation_step(
                    net, optimizer, tensors, labels, bf16=config.bf16, grad_clip=config.grad_clip
                )
            else:
                loss, cost = policy_gradient_step(
                    net, optimizer, tensors, samples=config.samples, generator=generator,
                    bf16=config.bf16, grad_clip=config.grad_clip, multi_start=config.multi_start,
                )  # fmt: skip
            schedule.step()
            if seen is not None:
                seen += count
            mean_cost = cost.mean()
            if workers.world_size > 1:
                dist.all_reduce(mean_cost)
                mean_cost /= workers.world_size
            history.append(float(mean_cost))
            done = step + 1
            row: dict[str, Any] = {
                "step": done, "loss": loss, "cost_m": history[-1],
                "lr": lr_used,
                "instances_per_s": count / (time.perf_counter() - tick),
                "elapsed_s": elapsed_before + time.perf_counter() - began,
                "bins": day_set.n_bins,
            }  # fmt: skip
            if device.type == "cuda":
                row["gpu_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            if (
                val_sets
                and workers.main
                and (done % config.validate_every == 0 or done == config.steps)
            ):
                row.update(_validate(model, val_sets, config))
            log.write(row)
            if on_step and workers.main:
                on_step(step, history[-1])
            if checkpoint is not None and (done % config.checkpoint_every == 0):
                save(done)
        if (
            checkpoint is not None
            and start < config.steps
            and config.steps % config.checkpoint_every
        ):
            save(config.steps)
    finally:
        log.close()
    return model, history


def write_card(checkpoint: Path) -> None:
    """Write the model card of a checkpoint just saved (:mod:`generative.model_card`, not
    evaluated yet). A card that cannot be written is reported and training goes on: the
    checkpoint is what a run must not lose, and `twin model-card CHECKPOINT --write` makes the
    card later."""
    try:
        write_model_card(checkpoint)
    except ModelCardError as err:
        print(f"warning: no model card for {checkpoint}: {err}", file=sys.stderr)


def _as_sets(days: DaySet | Sequence[DaySet]) -> list[DaySet]:
    sets = [days] if isinstance(days, InstanceBatch | PooledDays) else list(days)
    if not sets or any(len(d) == 0 for d in sets):
        raise TrainingError("no training days: every instance file must hold at least one day.")
    return sets


def _fingerprint(sets: Sequence[DaySet]) -> str:
    """Which days a run trains on (place, size, count and seed of every file, in order): a
    resumed run must see the same."""
    parts = [
        [str(d.meta.get("city_sha256")), d.n_bins, len(d), d.meta.get("seed"),
         d.meta.get("draw")]
        for d in sets
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _training_range(sets: Sequence[DaySet], init_range: TrainingRange | None) -> TrainingRange:
    own = TrainingRange.from_days(sets)
    if init_range is None:
        return own
    if init_range.only_places:
        # a format-1 model knew one city; what it learned there stays, its narrow range does not
        note = f"fine-tuned from a model trained for {init_range.places[0].get('name')}"
        return TrainingRange(own.places, own.bounds, own.days, (*own.notes, note))
    return TrainingRange.merge([init_range, own])


def lineage_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs that trained a checkpoint's model, oldest first, itself included: what trained
    each (device, processes), its steps and wall time. A run that starts from the checkpoint
    (``--init``) carries them on."""
    own = {
        "trained_on": payload.get("trained_on", {"device": "not recorded (format 1)"}),
        "steps": payload.get("step"),
        "elapsed_s": payload.get("elapsed_s"),
    }
    return [*payload.get("lineage", []), own]


def _hardware(device: torch.device, world_size: int) -> dict[str, Any]:
    """What trained the model: device kind and name, processes, torch version."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "device": device.type,
        "name": name or platform.machine(),
        "processes": world_size,
        "torch": str(torch.__version__),
    }


GAP_FLOOR_M = 1000.0
"""A day whose reference plan costs less counts as costing this much in its gap: a day with next
to nothing to collect would otherwise weigh as much as a city's (or divide by zero)."""


def gap_pct(cost_m: np.ndarray, reference_m: np.ndarray) -> np.ndarray:
    """Each day's gap to its reference plan, in per cent (see :data:`GAP_FLOOR_M`)."""
    return 100.0 * (cost_m - reference_m) / np.maximum(reference_m, GAP_FLOOR_M)


def _validate(model: PlannerNet, val_sets: Sequence[DaySet], config: TrainConfig) -> dict:
    """Validation cost (mean of the days' best plans) and gap (mean of the days' gaps to
    their reference, where every file has references)."""
    best, gaps = [], []
    for day_set in val_sets:
        batch = day_set.subset(slice(None)) if isinstance(day_set, PooledDays) else day_set
        found = evaluate(
            model, batch, samples=config.val_samples, seed=config.seed, bf16=config.bf16,
            per_instance=True,
        )  # fmt: skip
        best.append(found)
        if batch.reference_m is not None:
            gaps.append(gap_pct(found, batch.reference_m))
    row: dict[str, Any] = {"val_cost_m": float(np.concatenate(best).mean())}
    if len(gaps) == len(val_sets):
        row["val_gap_pct"] = float(np.concatenate(gaps).mean())
    return row


def _progress(steps: int, start: int) -> Callable[[int, float], None]:
    """A one-line progress report on stderr (the main process only)."""

    def report(step: int, cost: float) -> None:
        done = step + 1
        if sys.stderr.isatty():
            print(f"\rstep {done}/{steps}  mean cost {cost / 1000:.2f} km", end="", file=sys.stderr)
            if done == steps:
                print(file=sys.stderr)
        elif done == steps or (done - start) % max(1, steps // 20) == 0:
            print(f"step {done}/{steps}  mean cost {cost / 1000:.2f} km", file=sys.stderr)

    return report


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m generative.train",
        description="Train the learned collection planner on instance files (torch + numpy "
        "only). Under torchrun, every process trains on its share of each step.",
    )
    parser.add_argument(
        "instances",
        type=Path,
        nargs="+",
        help="training instances (.npz): one file or many (other places, sizes, fleets; "
        "`twin corpus` writes a folder of them)",
    )
    parser.add_argument(
        "--val", type=Path, nargs="+", help="validation instances (.npz, with references)"
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, logs)")
    parser.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--init",
        type=Path,
        help="start from this checkpoint's weights and model settings (fine-tuning; a fresh "
        "optimizer and schedule); --travel-unit and --features, when given, override the "
        "checkpoint's (new features start with zero weight)",
    )
    defaults = TrainConfig()
    for option in fields(TrainConfig):
        flag = "--" + option.name.replace("_", "-")
        if option.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=OPTION_HELP[option.name])
        else:
            kind = int if isinstance(option.default, int) else float
            parser.add_argument(
                flag,
                type=kind,
                default=getattr(defaults, option.name),
                help=OPTION_HELP[option.name] + " (default: %(default)s)",
            )
    for option in fields(PlannerConfig):
        flag = "--" + option.name.replace("_", "-")
        if option.name == "travel_unit":
            parser.add_argument(
                flag,
                choices=TRAVEL_UNITS,
                help=f"unit of the travel-time biases (default: {option.default}, or with "
                "--init the checkpoint's)",
            )
            continue
        if option.name == "features":
            parser.add_argument(
                flag,
                type=int,
                choices=sorted(FEATURES),
                help=f"feature set (default: {option.default}, or with --init the checkpoint's)",
            )
            continue
        kind = int if isinstance(option.default, int) else float
        parser.add_argument(
            flag,
            type=kind,
            default=option.default,
            help=OPTION_HELP[option.name] + " (default: %(default)s)",
        )
    return parser


OPTION_HELP = {
    # TrainConfig
    "steps": "optimizer steps of the whole run (a resumed run goes on to this many)",
    "batch_size": "days of --batch-bins bins in one step, over all processes (larger days "
    "count for more)",
    "samples": "plans sampled per day in a policy-gradient step; each is weighed against the "
    "mean of its day's others, so at least 2",
    "lr": "learning rate at the start (Adam), decaying along a cosine",
    "lr_final": "the learning rate at the last step, as a share of --lr (0–1)",
    "seed": "seed of the model's initial weights, the days' order and the sampling",
    "grad_clip": "gradient norm clipped to this (> 0)",
    "bf16": "bf16 autocast (on a GPU)",
    "validate_every": "steps between validations on --val (the gap to its reference plans "
    "goes into log.csv)",
    "val_samples": "plans sampled per validation day (the cheapest counts)",
    "checkpoint_every": "steps between checkpoints that --resume continues from",
    "imitation_steps": "first steps that imitate the corpus's reference (PyVRP) plans before "
    "policy-gradient steps",
    "multi_start": "start the samples of an instance at distinct first stops (POMO)",
    "batch_bins": "the bin count that --batch-size's days are counted in",
    "compile": "compile the network's per-step parts (torch.compile; pays on long runs)",
    # PlannerConfig
    "dim": "width of the network's embeddings (a multiple of --heads)",
    "heads": "attention heads",
    "layers": "encoder layers",
    "logit_clip": "the decoder's logits are clipped to ± this (> 0) by a tanh",
}
"""Help of ``python -m generative.train``'s (and ``twin train``'s) settings, by field name."""


def instance_files(paths: Sequence[Path]) -> list[Path]:
    """The instance files named: files as given, folders as the ``.npz`` files in them."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.npz"))
            if not found:
                raise TrainingError(f"{path}: a folder without instance files (.npz).")
            absent = missing_files(path)
            if absent:  # a build interrupted, or a file lost: the corpus is not what it says
                listed = ", ".join(absent[:3]) + (", …" if len(absent) > 3 else "")
                raise TrainingError(
                    f"{path}: an unfinished corpus: {len(absent)} of the files its plan "
                    f"({CORPUS_MANIFEST}) names are missing ({listed}); run the `twin corpus` "
                    "command that built it again to draw them."
                )
            files += found
        else:
            files.append(path)
    return files


def _initial_model(
    args: argparse.Namespace,
) -> tuple[PlannerNet, TrainingRange | None, list[dict[str, Any]]]:
    """The model to start from: ``--init``'s (with ``--travel-unit`` and ``--features`` when
    given), its range and lineage, or a new one of the model options."""
    given = {f.name: getattr(args, f.name) for f in fields(PlannerConfig)}
    unit, features = given.pop("travel_unit"), given.pop("features")
    torch.manual_seed(args.seed)
    if args.init is None:
        chosen = {"travel_unit": unit, "features": features}
        try:
            config = PlannerConfig(**given, **{k: v for k, v in chosen.items() if v is not None})
        except ValueError as err:
            raise TrainingError(f"model settings: {err}.") from None
        return PlannerNet(config), None, []
    model, payload = load_model(args.init)
    if unit is not None:
        # the same weights, their travel biases read in another unit: training adapts them
        model.config = replace(model.config, travel_unit=unit)
    if features is not None and features != model.config.features:
        if features < model.config.features:
            raise TrainingError(
                f"--features {features}: {args.init} sees feature set {model.config.features}; "
                "a model cannot forget figures it was trained on (leave --features out)."
            )
        model = model.with_features(features)
    return model, checkpoint_range(payload), lineage_of(payload)


def exit_rank(code: int) -> NoReturn:
    """End a training process with ``code``; one of several under ``torchrun`` skips the
    interpreter's teardown.

    Why: after a successful run (checkpoint written, group destroyed), gloo's threads can
    still be torn down by C++ destructors at interpreter exit, and under load a rank then
    aborts ("terminate called without an active exception", SIGABRT); torchrun reports the
    whole job failed although it finished. Every file is closed by then, so such a rank leaves
    with its output flushed and its code, past those destructors.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Command-line entry point (``python -m generative.train`` and ``twin train``)."""
    args = _parser(prog).parse_args(argv)
    workers = Workers()
    try:
        workers = Workers.start(args.device)
        config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        config.check()
        model, init_range, lineage = _initial_model(args)
        if args.out.exists() and not args.out.is_dir():
            raise TrainingError(f"--out {args.out} is a file: give a folder for the run.")
        if args.out.exists() and not args.resume and (args.out / CHECKPOINT_NAME).exists():
            raise TrainingError(
                f"{args.out} already holds a run: pass --resume to continue it, or another --out."
            )
        sets = [read_days(path) for path in instance_files(args.instances)]
        val = [read_days(path) for path in instance_files(args.val)] if args.val else None
        if args.resume and not (args.out / CHECKPOINT_NAME).exists() and workers.main:
            # a job script resubmitted with --resume starts this way too; a mistyped --out
            # would otherwise start over unnoticed
            print(
                f"note: no checkpoint in {args.out} to resume: training from step 0",
                file=sys.stderr,
            )
        progress = _progress(config.steps, 0)
        trained: list[int] = []  # the steps this start took (a resume begins past step 0)

        def on_step(step: int, cost: float) -> None:
            trained.append(step)
            progress(step, cost)

        train(
            sets, config, model=model, val=val, run_dir=args.out, resume=args.resume,
            workers=workers, on_step=on_step if workers.main else None,
            init_range=init_range, lineage=lineage,
        )  # fmt: skip
        if dist.is_initialized():
            # every rank past its last collective before any tears the group down: a rank
            # that destroys gloo's group while a peer still talks to it aborts at exit
            dist.barrier()
    except (TrainingError, InstanceFileError, CheckpointError) as err:
        # every process finds the same problem: the first says it
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    saved = args.out / CHECKPOINT_NAME
    if workers.main and not trained:
        print(f"the run had trained its {config.steps} steps already; checkpoint {saved}")
    elif workers.main:
        first = trained[0]
        done = f"steps {first + 1}–{config.steps}" if first else f"{config.steps} steps"
        print(f"trained {done}; checkpoint {saved}")
    return 0


if __name__ == "__main__":
    exit_rank(main())
