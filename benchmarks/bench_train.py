"""Training speed and the validation gap over time, on a GPU (bf16) or the CPU.

Trains the planner on an instance file for a fixed wall-time budget and reports instances per
second, peak GPU memory, the device's name and the validation gap to PyVRP at every validation
(from the run's ``log.csv``). Needs only torch + numpy and the instance files, so it runs on a
GPU node as it is::

    python benchmarks/bench_train.py data/train-*.npz --val data/val.npz --minutes 7 \\
        --device cuda --bf16
    .venv/bin/python benchmarks/bench_train.py /work/runs/helsinki-100-train-labelled.npz \\
        --val /work/runs/helsinki-100-val.npz --minutes 1 --device cpu      # the same, slowly

Training files may be many (other places, sizes, fleets: ``twin corpus`` writes a folder of
them); folders stand for the ``.npz`` files in them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generative.checkpoint import checkpoint_range, load_model
from generative.data import read_days
from generative.model import PlannerConfig, PlannerNet
from generative.train import (
    TrainConfig,
    Workers,
    instance_files,
    lineage_of,
    resolve_device,
    train,
)


class _OutOfTime(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", type=Path, nargs="+", help="training files or folders")
    parser.add_argument("--val", type=Path, nargs="+", required=True)
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--imitation-steps", type=int, default=0)
    parser.add_argument("--steps", type=int, default=100_000, help="schedule length")
    parser.add_argument("--validate-every", type=int, default=25)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--multi-start", action="store_true", help="POMO multi-start samples")
    parser.add_argument(
        "--init", type=Path, help="start from this checkpoint (its model settings win)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train"))
    args = parser.parse_args()

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    sets = [read_days(p) for p in instance_files(args.instances)]
    val = [read_days(p) for p in instance_files(args.val)]
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, samples=args.samples, lr=args.lr,
        bf16=args.bf16, validate_every=args.validate_every,
        # the model trained so far stays in out/checkpoint.pt when time runs out
        checkpoint_every=args.validate_every, imitation_steps=args.imitation_steps,
        multi_start=args.multi_start,
    )  # fmt: skip
    deadline = time.perf_counter() + 60.0 * args.minutes

    def stop_when_out_of_time(step: int, cost: float) -> None:
        if time.perf_counter() > deadline:
            raise _OutOfTime

    torch.manual_seed(0)
    init_range, lineage = None, []
    if args.init is not None:
        model, payload = load_model(args.init)
        init_range, lineage = checkpoint_range(payload), lineage_of(payload)
        if model.config.features < 2:
            model = model.with_features(2)
    else:
        model = PlannerNet(PlannerConfig(dim=args.dim, heads=8, layers=args.layers))
    with contextlib.suppress(_OutOfTime):
        train(sets, config, model=model, val=val, run_dir=args.out, init_range=init_range,
              lineage=lineage,
              workers=Workers(device=device), on_step=stop_when_out_of_time)  # fmt: skip
    with (args.out / "log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    speeds = [float(r["instances_per_s"]) for r in rows[1:]] or [0.0]
    report = {
        "device": name,
        "torch": torch.__version__,
        "bf16": args.bf16,
        "steps": len(rows),
        "batch_size": args.batch_size,
        "samples": args.samples,
        "bins": [min(d.n_bins for d in sets), max(d.n_bins for d in sets)],
        "training_days": sum(len(d) for d in sets),
        "multi_start": args.multi_start,
        "init": None if args.init is None else str(args.init),
        "model": model.config.to_dict(),
        "instances_per_s": sum(speeds) / len(speeds),
        "gpu_memory_mib": max((float(r["gpu_memory_mib"] or 0) for r in rows), default=0.0),
        "val_gap_pct_over_time": [
            (round(float(r["elapsed_s"]), 1), round(float(r["val_gap_pct"]), 2))
            for r in rows
            if r["val_gap_pct"]
        ],
    }
    print(json.dumps(report, indent=1))
    (args.out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
