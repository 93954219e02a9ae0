"""`twin finetune`: a city's own days drawn, the model trained from a given checkpoint, and its
gap to PyVRP measured before and after on the same validation days; the new checkpoint's range
covers both what the model knew and the city's days; a second call resumes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from cities.areas import synthetic_city
from generative.checkpoint import checkpoint_range, load_checkpoint
from generative.corpus import MANIFEST
from generative.finetune import finetune
from generative.instances import sample_instances
from generative.model import PlannerConfig, PlannerNet
from generative.train import CHECKPOINT_NAME, TrainConfig, TrainingError, train
from tests.conftest import run_twin


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small model trained on a synthetic town only."""
    town = synthetic_city(8, blocks=(10, 10))
    days = sample_instances(town, n_bins=15, n_instances=8, seed=1, n_trucks=2, population=800)
    run = tmp_path_factory.mktemp("base")
    torch.manual_seed(0)
    train(days, TrainConfig(steps=4, batch_size=4, samples=2), model=PlannerNet(
        PlannerConfig(dim=16, heads=2, layers=1)), run_dir=run)  # fmt: skip
    return run / CHECKPOINT_NAME


def test_finetuning_measures_before_and_after_and_widens_the_range(base, helsinki, tmp_path):
    settings = dict(base=base, draws=2, days=4, bins=(10, 20), steps=4, batch_size=4,
                    samples=2, workers=1, val_days=4, reference_s=0.1)  # fmt: skip
    result = finetune("helsinki", tmp_path, **settings)
    assert result["training_days"] == 8 and result["validation_days"] == 4
    assert np.isfinite(result["gap_before_pct"]) and np.isfinite(result["gap_after_pct"])
    assert result["days_better"] + result["days_worse"] <= 4 and result["wall_s"] > 0
    assert json.loads((tmp_path / "finetune.json").read_text()) == result
    # by default the days are the city's own, as its twin plans them
    for part in ("corpus", "val"):
        draws = json.loads((tmp_path / part / MANIFEST).read_text())["draws"]
        assert {(d["kind"], d["city_bins"], d["random_sites"]) for d in draws} == {
            ("city", True, False)
        }
    tuned = load_checkpoint(result["checkpoint"])
    assert tuned["step"] == 4
    places = {p["name"] for p in checkpoint_range(tuned).places}
    assert "synthetic-8" in places and "helsinki" in places  # what it knew, and the city
    # called again, it finds its days and its run: nothing is drawn or trained twice
    again = finetune("helsinki", tmp_path, **settings)
    assert again["training_days"] == 8
    assert load_checkpoint(result["checkpoint"])["step"] == 4
    with (tmp_path / "run" / "log.csv").open() as handle:
        assert len(handle.readlines()) == 1 + 4
    # called with other settings: the run there is not this one, said before anything runs
    with pytest.raises(TrainingError, match=r"holds a fine-tuning run started with other "
                       r"settings \(lr 0.0002 → 0.5"):  # fmt: skip
        finetune("helsinki", tmp_path, **{**settings, "lr": 0.5})
    # settings that cannot train: refused before a day is drawn
    with pytest.raises(TrainingError, match="steps must be ≥ 1"):
        finetune("helsinki", tmp_path / "never", **{**settings, "steps": 0})
    assert not (tmp_path / "never").exists()


def test_finetune_refuses_what_cannot_work(base, tmp_path):
    missing = run_twin("finetune", "helsinki", "--checkpoint", str(tmp_path / "none.pt"))
    assert missing.returncode == 1 and "no such checkpoint" in missing.stderr
    too_many = run_twin(
        "finetune", "helsinki", "--checkpoint", str(base), "--bins", "5000-6000",
        "--out", str(tmp_path / "f"),
    )  # fmt: skip
    assert too_many.returncode == 1 and "lower --bins" in too_many.stderr
    unknown = run_twin(
        "finetune", "helsinki", "--checkpoint", str(base), "--days-like", "sunny",
        "--out", str(tmp_path / "g"),
    )  # fmt: skip
    assert unknown.returncode == 1 and "choose twin or varied" in unknown.stderr
    assert not (tmp_path / "g").exists()
    # fewer days than one training batch: said before any day is drawn
    few = run_twin(
        "finetune", "helsinki", "--checkpoint", str(base), "--draws", "1", "--days", "2",
        "--out", str(tmp_path / "h"),
    )  # fmt: skip
    assert few.returncode == 1 and few.stderr.startswith("error: 1 draws of 2 days make 2 ")
    assert "raise --draws or --days" in few.stderr and "Traceback" not in few.stderr
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"draws": 0}, "--draws 0: must be a whole number ≥ 1"),
        # negative days once passed as "-72 training days, fewer than a batch"
        ({"days": -3}, "--days -3: must be a whole number ≥ 1"),
        # once refused only after the corpus folder was made
        ({"workers": 0}, "--workers 0: must be a whole number ≥ 1"),
        # once "holds 145 bin stops, fewer than the 500 asked": the range was upside down
        ({"bins": (500, 50)}, r"--bins 500-50: give LOW-HIGH with 2 ≤ LOW ≤ HIGH"),
    ],
)
def test_impossible_settings_are_named_before_anything_is_written(setting, message, tmp_path):
    from generative.corpus import CorpusError

    settings = dict(base="no-such.pt", draws=4, days=10, bins=(10, 20), workers=1)
    with pytest.raises(CorpusError, match=message):
        finetune("helsinki", tmp_path / "never", **{**settings, **setting})
    assert not (tmp_path / "never").exists()


def test_an_out_that_is_a_file_is_named(tmp_path):
    """Once "Not a directory (afile/corpus)", after the base checkpoint was read."""
    from generative.corpus import CorpusError

    (tmp_path / "afile").write_text("notes")
    with pytest.raises(CorpusError, match=r"--out .*afile is a file: name a folder"):
        finetune("helsinki", tmp_path / "afile", base="no-such.pt")
    assert (tmp_path / "afile").read_text() == "notes"


def test_progress_to_a_log_names_each_stage_and_counts_it_from_zero(monkeypatch):
    """Fine-tuning reports its stages one after the other, each from 0 to 1 (days drawn, then
    training for minutes to hours): a log shows every stage's tenths, not one 100 % after the
    first stage and silence through the training."""
    from rich.console import Console

    import twin.cli

    log = io.StringIO()
    monkeypatch.setattr(twin.cli, "stderr", Console(file=log, force_terminal=False, width=200))
    with twin.cli._fraction_progress("Fine-tuning for kotka") as advance:
        for stage in ("drawing days", "validation days", "training"):
            for step in range(1, 5):
                advance(step / 4, stage)
    lines = [line.rsplit(" (", 1)[0] for line in log.getvalue().splitlines()]
    assert lines == [
        f"Fine-tuning for kotka, {stage}: {percent}%"
        for stage in ("drawing days", "validation days", "training")
        for percent in (20, 50, 70, 100)
    ]
