"""Fine-tuning the shipped planner for one city: sample its days, adapt the model, measure.

One call (``twin finetune CITY --out FOLDER``) does what a researcher would do by hand: draw
the city's days (:mod:`generative.corpus`: by default the days its waste twin plans — the city
whole, its depot, disposal site and bins — with the corpus's spread of bins per day and fleets,
capped at the city's own bins; :data:`DAYS_LIKE`), a few
validation days with PyVRP's plans, train from the shipped (or a given) checkpoint
(:func:`generative.train.train`), and compare the model before and after on the validation
days. The folder then holds the corpus (resumable), the run (``checkpoint.pt``, ``log.csv``)
and ``finetune.json`` (the comparison and the wall time); pass the checkpoint to
``--checkpoint`` wherever the planner runs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generative.checkpoint import checkpoint_range, load_checkpoint, load_model
from generative.corpus import CorpusError, build_corpus, plan_corpus
from generative.data import read_days
from generative.train import (
    CHECKPOINT_NAME,
    TrainConfig,
    TrainingError,
    changed_on_resume,
    evaluate,
    gap_pct,
    lineage_of,
    train,
)

__all__ = ["DAYS_LIKE", "finetune"]

DAYS_LIKE: dict[str, dict[str, Any]] = {
    "twin": {"kinds": {"city": 1.0}, "random_sites": 0.0, "city_bins": True},
    "varied": {"kinds": {"city": 0.6, "window": 0.4}, "random_sites": 0.7, "city_bins": False},
}
"""What the fine-tuning days look like (:func:`generative.corpus.plan_corpus`'s settings).
``twin``: the city as its waste twin runs it, whole, with its own depot, disposal site and bins
(its residents estimated from the buildings, OSM containers where mapped), fleets and shifts
drawn as in the corpus. ``varied``: also square windows of the city, depot and disposal site
at random junctions in seven draws of ten, and bins placed for each day's size, as the
general model's corpus draws them. On the held-out Kotka's and Andorra's benchmark days (their
twins' days) the twin's days brought the best of 512 plans 6–7 % nearer PyVRP, the varied ones
−1.6 to +0.4 % (BENCHMARKS.md, "Learned planner: any city"); in Andorra's twin the tuned
model then drove less but let more bins overflow, so a tuned checkpoint is checked there before
it is adopted."""


def _gap(model, days, samples: int, seed: int) -> np.ndarray:
    """Per day: the gap (%) of the model's best of ``samples`` plans to PyVRP's."""
    best = np.concatenate(
        [evaluate(model, d, samples=samples, seed=seed, per_instance=True) for d in days]
    )
    return gap_pct(best, np.concatenate([d.reference_m for d in days]))


def finetune(
    city: str,
    out: str | os.PathLike[str],
    *,
    base: str | os.PathLike[str],
    draws: int = 24,
    days: int = 40,
    bins: tuple[int, int] = (50, 500),
    steps: int = 1000,
    batch_size: int = 32,
    samples: int = 16,
    lr: float = 2e-4,
    seed: int = 0,
    workers: int = 2,
    val_days: int = 16,
    reference_s: float = 1.0,
    days_like: str = "twin",
    on_progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune the model in ``base`` on ``city``'s days; see the module docstring.

    Parameters
    ----------
    city
        A name or OSM file path.
    out
        Folder of the corpus, the run and the report; an interrupted call, made again, goes
        on where it stopped (the corpus and the training resume).
    base
        The checkpoint to start from (the shipped general planner, say).
    draws, days, bins
        Training files, days in each, and the range of bins per day (capped at the city's).
    steps, batch_size, samples, lr, seed
        Training settings (:class:`generative.train.TrainConfig`). 1,000 steps at 2e-4 gained
        on the held-out Kotka's days where 400 at 1e-4 did not (BENCHMARKS.md, "Learned
        planner: any city").
    workers
        Processes drawing the days.
    val_days, reference_s
        Validation days (in four files), and PyVRP's seconds on each (its plans the yardstick).
    days_like
        ``twin`` (the city's own days) or ``varied`` (windows, random sites too): see
        :data:`DAYS_LIKE`.
    on_progress
        Called with a stage name and its completed fraction.

    Returns
    -------
    dict
        Days, steps and wall time, and the validation gap to PyVRP (1 s a day) of the model
        before and after (their mean over the days, and the days better and worse), as also
        written to ``finetune.json``. Both drawn as in training: the greedy plan and 15 sampled.

    Raises
    ------
    generative.corpus.CorpusError, generative.train.TrainingError,
    generative.checkpoint.CheckpointError
        Impossible settings, a city with too few bins, an unusable base checkpoint.
    """
    if days_like not in DAYS_LIKE:
        raise CorpusError(
            f"days like {days_like!r}: choose {' or '.join(DAYS_LIKE)} (--days-like)."
        )
    for option, value in (("--draws", draws), ("--days", days), ("--workers", workers)):
        if not (isinstance(value, int) and value >= 1):
            raise CorpusError(f"{option} {value}: must be a whole number ≥ 1.")
    if Path(out).exists() and not Path(out).is_dir():
        raise CorpusError(f"--out {out} is a file: name a folder for the days, run and report.")
    if not 2 <= bins[0] <= bins[1]:
        raise CorpusError(
            f"--bins {bins[0]}-{bins[1]}: give LOW-HIGH with 2 ≤ LOW ≤ HIGH (bins per day)."
        )
    if draws * days < batch_size:
        raise CorpusError(
            f"{draws} draws of {days} days make {draws * days} training days, fewer than a "
            f"training batch of {batch_size}: raise --draws or --days (draws × days ≥ "
            f"{batch_size})."
        )
    config = TrainConfig(
        steps=steps, batch_size=batch_size, samples=samples, lr=lr, seed=seed,
        validate_every=max(1, steps // 4), checkpoint_every=max(1, min(50, steps)),
    )  # fmt: skip
    config.check()  # before minutes of drawing days, not after
    started = time.perf_counter()
    report = on_progress or (lambda stage, fraction: None)
    folder = Path(out)
    run = folder / "run"
    _same_run(run, config)
    model, payload = load_model(base)
    base_range = checkpoint_range(payload)
    from generative.corpus import _city  # the loaded city, shared with the corpus's planning

    like = DAYS_LIKE[days_like]
    most = _most_bins(_city(city), own=like["city_bins"])
    if most < bins[0]:
        other = " or --days-like varied (bins placed for each day's size)" * like["city_bins"]
        raise CorpusError(
            f"{city} holds {most} bin stops at most, fewer than the {bins[0]} the fine-tuning "
            f"asks for a day: lower --bins{other}."
        )
    span = (bins[0], min(bins[1], most))
    plan = plan_corpus([city], draws=draws, days_per_draw=days, seed=seed, bins=span, **like)
    val_plan = plan_corpus(
        [city], draws=4, days_per_draw=max(1, val_days // 4), seed=seed + 1_000_003, bins=span,
        reference_s=reference_s, **like,
    )  # fmt: skip
    files = build_corpus(
        plan, folder / "corpus", workers=workers,
        on_progress=lambda done, total, _: report("drawing days", done / total),
    )  # fmt: skip
    val_files = build_corpus(
        val_plan, folder / "val", workers=workers,
        on_progress=lambda done, total, _: report("validation days", done / total),
    )  # fmt: skip
    train_sets = [read_days(f) for f in files]
    val_sets = [read_days(f).subset(slice(None)) for f in val_files]
    before = _gap(model, val_sets, 16, seed)
    tuned, _ = train(
        train_sets, config, model=model, val=val_sets, run_dir=run,
        resume=(run / CHECKPOINT_NAME).is_file(), init_range=base_range,
        lineage=lineage_of(payload),
        on_step=lambda step, _: report("training", (step + 1) / steps),
    )  # fmt: skip
    after = _gap(tuned, val_sets, 16, seed)
    result = {
        "city": city,
        "base": str(base),
        "checkpoint": str(run / CHECKPOINT_NAME),
        "training_days": int(sum(len(s) for s in train_sets)),
        "bins": list(span),
        "steps": steps,
        "validation_days": len(before),
        "gap_before_pct": float(before.mean()),
        "gap_after_pct": float(after.mean()),
        "days_better": int((after < before - 1e-9).sum()),
        "days_worse": int((after > before + 1e-9).sum()),
        "wall_s": time.perf_counter() - started,
        "threads": torch.get_num_threads(),
    }
    staging = folder / ".finetune.json.partial"
    staging.write_text(json.dumps(result, indent=1))
    os.replace(staging, folder / "finetune.json")
    return result


def _same_run(run: Path, config: TrainConfig) -> None:
    """Refuse to finish a fine-tuning run in ``run`` with other settings than it was started
    with: a resume repeats a run (:func:`generative.train.changed_on_resume`)."""
    checkpoint = run / CHECKPOINT_NAME
    if not checkpoint.is_file():
        return
    changed = changed_on_resume(load_checkpoint(checkpoint).get("train_config") or {}, config)
    if changed:
        raise TrainingError(
            f"{run.parent} holds a fine-tuning run started with other settings ({changed}): "
            "give the same settings to finish it, or another --out for a new one."
        )


def _most_bins(city, *, own: bool) -> int:
    """About the most bin stops the city's days can have: its own bins (``own``), as its twin
    places them, or else bins placed for many times its population, as a corpus draw places
    them at most (:func:`generative.corpus.draw_days`)."""
    from agents.waste.bins import estimate_population, place_bins

    rng = np.random.default_rng(0)
    if own:
        return len(place_bins(city.network, city.context, rng=rng))
    population = 16 * estimate_population(city.network, city.context)
    return len(
        place_bins(city.network, city.context, rng=rng, population=population, use_osm=False)
    )
