"""Train the learned signal planner on instance files (torch + numpy only).

Each step draws a batch of scenarios (every process of a ``torchrun`` its own share), proposes
their timings in one pass and lowers the log of each scenario's mean control delay
(:func:`generative.signal_model.control_delay`: the log makes a quiet town and a jammed centre
weigh alike). Validation reports that delay against Webster's (his cycle, splits in proportion
to the flow ratios above the least greens) on held-out scenarios. bf16 autocast on GPU, DDP
under ``torchrun``, atomic checkpoints that resume exactly, ``log.csv`` with instances/s and
GPU memory. Run::

    python -m generative.signal_train data/signals --val data/signals-val --out runs/signals
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from generative.checkpoint import save_checkpoint
from generative.signal_data import SignalDataError, SignalInstance, pad_batch, read_signal_file
from generative.signal_model import SignalNet, SignalNetConfig, control_delay, timings
from generative.train import TrainingError, Workers, exit_rank, write_card

__all__ = [
    "CHECKPOINT_KIND",
    "SignalTrainConfig",
    "load_signal_checkpoint",
    "main",
    "train_signals",
    "webster_timings",
]

CHECKPOINT_KIND = "signal-planner"
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class SignalTrainConfig:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    validate_every: int = 100
    checkpoint_every: int = 100
    bf16: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "validate_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"lr must be a positive number, got {self.lr}.")


def as_batch(instances: Sequence[SignalInstance], device: torch.device) -> dict[str, torch.Tensor]:
    """Padded tensors of ``instances`` on ``device``."""
    return {k: torch.from_numpy(v).to(device) for k, v in pad_batch(list(instances)).items()}


def webster_timings(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Webster's cycle ``(1.5 L + 5) / (1 − Y)`` (pedestrian greens counted as lost time,
    the longest cycle where ``Y ≥ 0.9``) with the spare green shared by flow ratio."""
    kind = batch["kind"]
    vehicle = kind == 1
    ratio = torch.where(vehicle, batch["flow_vps"] / batch["saturation_vps"], 0.0)
    total = ratio.sum(-1)
    phases = (kind > 0).sum(-1).float()
    lost = phases * batch["intergreen_s"] + torch.where(kind == 2, batch["min_green_s"], 0).sum(-1)
    shortest = batch["min_green_s"].sum(-1) + phases * batch["intergreen_s"]
    longest = torch.maximum(batch["max_cycle_s"], shortest)
    optimum = (1.5 * lost + 5) / (1 - total.clamp(max=0.9))
    cycle = torch.where(total < 0.9, optimum, longest).clamp(min=shortest).minimum(longest)
    weights = torch.where(vehicle, ratio + 1e-6, 0.0)
    share = weights / weights.sum(-1, keepdim=True).clamp_min(1e-9)
    return cycle, batch["min_green_s"] + (cycle - shortest)[..., None] * share


def _read(paths: Sequence[Path]) -> list[SignalInstance]:
    instances = []
    for path in paths:
        instances += [i for i in read_signal_file(path) if i.n_junctions > 0]
    return instances


def _files(paths: Sequence[Path]) -> list[Path]:
    files = []
    for path in paths:
        if not path.exists():
            raise TrainingError(f"{path}: no such file or folder of instance files.")
        files += sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files:
        raise TrainingError(f"no instance files in {', '.join(map(str, paths))}.")
    return files


def _training_range(instances: Sequence[SignalInstance]) -> dict[str, Any]:
    ratios = [float((i.flow_vps / i.saturation_vps).sum(1).max()) for i in instances]
    return {
        "places": sorted({i.meta.get("city", "?") for i in instances}),
        "place_hashes": sorted({i.meta.get("sha256", "") for i in instances} - {""}),
        "junctions": [min(i.n_junctions for i in instances), max(i.n_junctions for i in instances)],
        "flow_ratio_sum": [min(ratios), max(ratios)],
        "scenarios": len(instances),
    }


def _validate(model: SignalNet, val: dict[str, torch.Tensor] | None) -> dict:
    """The validation scenarios' mean delay under the model and under Webster's timing
    (``val``: their padded batch, made once for the run)."""
    if val is None:
        return {}
    model.eval()
    with torch.no_grad():
        learned = control_delay(val, *timings(val, *model(val)))
        webster = control_delay(val, *webster_timings(val))
    model.train()
    gap = (learned / webster.clamp_min(1e-9) - 1) * 100
    return {"val_delay_s": float(learned.mean()), "val_webster_delay_s": float(webster.mean()),
            "val_gap_to_webster_pct": float(gap.mean())}  # fmt: skip


def train_signals(
    train_files: Sequence[Path],
    out: Path,
    *,
    config: SignalTrainConfig | None = None,
    model_config: SignalNetConfig | None = None,
    val_files: Sequence[Path] = (),
    device: str = "auto",
    resume: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> tuple[SignalNet, list[dict[str, Any]]]:
    """Train (or resume) a signal planner; returns the model and the log's rows.
    ``on_step`` is called with each finished step's number (after its checkpoint)."""
    config = config or SignalTrainConfig()
    model_config = model_config or SignalNetConfig()
    workers = Workers.start(device)
    torch.manual_seed(config.seed)
    train = _read(_files(train_files))
    val = _read(_files(val_files)) if val_files else []
    if not train:
        raise TrainingError("the training files hold no scenario with a signalized junction.")
    val_batch = as_batch(val, workers.device) if val else None
    model = SignalNet(model_config).to(workers.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    history: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    checkpoint = out / CHECKPOINT_NAME
    if resume:
        payload = load_signal_checkpoint(checkpoint)
        # a resume repeats the run: its cosine runs over its steps, and other settings would
        # be recorded in the checkpoint without being followed
        saved = payload.get("train_config") or {}
        now = asdict(config)
        changed = ", ".join(
            f"{name} {saved[name]} → {now[name]}"
            for name in ("steps", "batch_size", "lr", "seed", "bf16")
            if name in saved and saved[name] != now[name]
        )
        if changed:
            raise TrainingError(
                f"{checkpoint}: resumed with other training settings ({changed}): a resume "
                "continues the run as it was started, so give the same settings, or start a "
                "new run."
            )
        model.load_state_dict(payload["model_state"])
        optimizer.load_state_dict(payload["optimizer_state"])
        schedule.load_state_dict(payload["schedule_state"])
        start, elapsed, history = payload["step"], payload["elapsed_s"], payload["history"]
    net = DistributedDataParallel(model) if workers.world_size > 1 else model
    per_process = max(1, config.batch_size // workers.world_size)
    out.mkdir(parents=True, exist_ok=True)
    use_bf16 = config.bf16 and workers.device.type == "cuda"
    began = time.perf_counter() - elapsed
    for step in range(start, config.steps):
        tick = time.perf_counter()
        batch = as_batch(
            [train[i] for i in _draw(config.seed, workers.rank, step, len(train), per_process)],
            workers.device,
        )
        with torch.autocast(workers.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            cycle_logit, split_logits = net(batch)
        delay = control_delay(batch, *timings(batch, cycle_logit, split_logits))
        loss = torch.log(delay.clamp_min(1e-3)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        done = step + 1
        if done % config.validate_every == 0 or done == config.steps:
            rate = per_process * workers.world_size / (time.perf_counter() - tick)
            cuda = workers.device.type == "cuda"
            memory = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
            row = {"step": done, "loss": loss.item(), "train_delay_s": delay.mean().item(),
                   "instances_per_s": rate, "gpu_memory_mb": memory,
                   "elapsed_s": time.perf_counter() - began,
                   **_validate(model, val_batch)}  # fmt: skip
            history.append(row)
            if workers.main:
                _log(out, row)
        if workers.main and (done % config.checkpoint_every == 0 or done == config.steps):
            save_checkpoint(checkpoint, {
                "kind": CHECKPOINT_KIND, "model_state": model.state_dict(),
                "model_config": model_config.as_dict(), "train_config": asdict(config),
                "optimizer_state": optimizer.state_dict(), "schedule_state": schedule.state_dict(),
                "step": done, "elapsed_s": time.perf_counter() - began, "history": history,
                "training_range": _training_range(train),
                "trained_on": {"device": str(workers.device), "processes": workers.world_size,
                               "torch": str(torch.__version__)},
            })  # fmt: skip
            write_card(checkpoint)
        if on_step:
            on_step(done)
    return model, history


def _draw(seed: int, rank: int, step: int, available: int, count: int) -> np.ndarray:
    """The scenarios process ``rank`` trains on at ``step``: drawn from the seed, rank and step
    alone, so that a resumed run (on as many processes) draws what the whole run drew."""
    return np.random.default_rng([seed, rank, step]).integers(available, size=count)


def _log(out: Path, row: dict[str, Any]) -> None:
    path = out / "log.csv"
    new = not path.exists()
    with path.open("a", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def load_signal_checkpoint(path: str | Path) -> dict[str, Any]:
    """A signal planner's checkpoint, read with ``weights_only=True``.

    Raises
    ------
    generative.checkpoint.CheckpointError
        A missing or damaged file, or a checkpoint of another kind (the collection planner's).
    """
    from generative.checkpoint import CheckpointError, read_checkpoint_file

    payload = read_checkpoint_file(path)
    if not isinstance(payload, dict) or payload.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(
            f"{path}: not a signal planner checkpoint (a collection planner's, or another "
            "file): give one written by `python -m generative.signal_train`."
        )
    return payload


def load_signal_model(path: str | Path) -> tuple[SignalNet, dict[str, Any]]:
    """The planner a checkpoint describes, ready to propose (eval mode, CPU)."""
    from generative.checkpoint import CheckpointError

    payload = load_signal_checkpoint(path)
    try:
        model = SignalNet(SignalNetConfig(**payload["model_config"]))
        model.load_state_dict(payload["model_state"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path}: its weights do not fit its settings ({err}).") from None
    return model.eval(), payload


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m generative.signal_train",
        description="Train the learned signal planner on signal instance files (torch + "
        "numpy only). Under torchrun, every process trains on its share of each step.",
    )
    parser.add_argument("instances", type=Path, nargs="+", help="files or folders of .npz")
    parser.add_argument("--val", type=Path, nargs="+", default=[], help="validation files")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    default = " (default: %(default)s)"
    parser.add_argument(
        "--steps", type=int, default=SignalTrainConfig.steps,
        help="optimizer steps of the whole run (a resume keeps them)" + default,
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=SignalTrainConfig.batch_size,
        help="scenarios in one step, over all processes" + default,
    )  # fmt: skip
    parser.add_argument(
        "--lr", type=float, default=SignalTrainConfig.lr,
        help="learning rate at the start (AdamW), decaying along a cosine to 0" + default,
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=SignalTrainConfig.seed,
        help="seed of the initial weights and of the scenarios each step draws" + default,
    )  # fmt: skip
    parser.add_argument(
        "--dim", type=int, default=SignalNetConfig.dim,
        help="width of the network's embeddings (a multiple of --heads)" + default,
    )  # fmt: skip
    parser.add_argument(
        "--heads", type=int, default=SignalNetConfig.heads, help="attention heads" + default
    )
    parser.add_argument(
        "--layers", type=int, default=SignalNetConfig.layers, help="encoder layers" + default
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    args = _parser(prog).parse_args(argv)
    try:
        config = SignalTrainConfig(
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            validate_every=max(1, args.steps // 20), checkpoint_every=max(1, args.steps // 10),
            bf16=args.bf16,
        )  # fmt: skip
        if args.dim < 1 or args.heads < 1 or args.layers < 1 or args.dim % args.heads:
            raise TrainingError(
                f"--dim {args.dim} must be a positive multiple of --heads {args.heads}, and "
                f"--layers ≥ 1."
            )
        _, history = train_signals(
            args.instances, args.out, config=config,
            model_config=SignalNetConfig(dim=args.dim, heads=args.heads, layers=args.layers),
            val_files=args.val, device=args.device, resume=args.resume,
        )  # fmt: skip
        if dist.is_initialized():
            # every rank past its last collective before any tears the group down: a rank
            # that exits while a peer still talks to gloo's group makes that peer abort
            dist.barrier()
    except (TrainingError, SignalDataError) as err:
        # every process finds the same problem: the first says it
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if history and int(os.environ.get("RANK", "0")) == 0:
        print(", ".join(f"{k} {v:.4g}" for k, v in history[-1].items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_rank(main())
