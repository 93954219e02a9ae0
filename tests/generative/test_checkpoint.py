"""Checkpoints: a killed-and-resumed run repeats the uninterrupted one, files are written whole
and read with weights_only, and foreign, corrupt or mismatched files are refused by name."""

from __future__ import annotations

import pytest
import torch

from generative.checkpoint import (
    CHECKPOINT_VERSION,
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from generative.instances import sample_instances
from generative.model import PlannerConfig, PlannerNet
from generative.train import CHECKPOINT_NAME, TrainConfig, as_tensors, train

CONFIG = TrainConfig(steps=12, batch_size=8, samples=4, lr=1e-3, seed=5, checkpoint_every=4)
SMALL = PlannerConfig(dim=32, heads=2, layers=1)


@pytest.fixture(scope="module")
def days(helsinki):
    return sample_instances(helsinki, n_bins=12, n_instances=16, seed=9, n_trucks=2)


def _fresh() -> PlannerNet:
    torch.manual_seed(11)  # both runs start from the same weights
    return PlannerNet(SMALL)


def test_resume_repeats_the_uninterrupted_run(days, tmp_path):
    whole, history = train(days, CONFIG, model=_fresh())
    # the same run, stopped after 8 steps (as if killed after its step-8 checkpoint)...
    run = tmp_path / "run"
    path = run / CHECKPOINT_NAME
    with pytest.raises(_Killed):
        train(days, CONFIG, model=_fresh(), run_dir=run, on_step=_kill_after(9))
    assert load_checkpoint(path)["step"] == 8
    # ...and resumed from there in a model with other weights, which the checkpoint replaces
    resumed, again = train(days, CONFIG, model=PlannerNet(SMALL), run_dir=run, resume=True)
    assert again == history
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0)
    assert load_checkpoint(path)["step"] == CONFIG.steps


def test_checkpoints_carry_what_reproduces_them(days, tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    train(days, TrainConfig(steps=2, batch_size=4, samples=2), model=PlannerNet(SMALL),
          run_dir=tmp_path)  # fmt: skip
    saved = load_checkpoint(path, city_sha256=days.meta["city_sha256"])
    assert saved["format_version"] == CHECKPOINT_VERSION
    assert saved["model_config"] == SMALL.to_dict() and saved["n_bins"] == 12
    assert saved["city"] == "helsinki"
    assert set(saved) >= {"optimizer_state", "schedule_state", "numpy_rng", "torch_generators"}
    assert not list(tmp_path.glob(".*partial"))  # no staging file left behind


def test_foreign_and_broken_checkpoints_are_refused(days, tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(corrupt)
    # a file that would run code when unpickled is refused, not executed
    evil = tmp_path / "evil.pt"
    torch.save({"model_state": {}, "payload": _Evil()}, evil)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(evil)
    other = tmp_path / "other.pt"
    save_checkpoint(other, {"model_state": {}, "city": "kotka", "city_sha256": "f" * 64})
    with pytest.raises(CheckpointError, match="trained for 'kotka'"):
        load_checkpoint(other, city_sha256=days.meta["city_sha256"])
    old = tmp_path / "old.pt"
    torch.save({"model_state": {}, "format_version": 0}, old)
    with pytest.raises(CheckpointError, match="train again"):
        load_checkpoint(old)


def test_settings_without_a_travel_unit_count_in_shifts(days, tmp_path):
    model = PlannerNet(SMALL)
    settings = SMALL.to_dict()
    del settings["travel_unit"]  # as checkpoints were written before it was a setting
    path = save_checkpoint(
        tmp_path / "older.pt",
        {"model_state": model.state_dict(), "model_config": settings, "n_bins": 12},
    )
    loaded, _ = load_model(path)
    assert loaded.config.travel_unit == "shift"
    tensors = as_tensors(days)
    torch.testing.assert_close(loaded.travel_unit(tensors), tensors["shift_s"].float())
    # a new model counts in each day's mean travel time
    mean = tensors["duration_s"].float().mean(dim=(1, 2))
    torch.testing.assert_close(model.travel_unit(tensors), mean)
    settings["travel_unit"] = "furlongs"
    save_checkpoint(path, {"model_state": model.state_dict(), "model_config": settings})
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_model(path)


def test_resume_with_other_model_settings_is_refused(days, tmp_path):
    train(days, TrainConfig(steps=2, batch_size=4, samples=2), model=PlannerNet(SMALL),
          run_dir=tmp_path)  # fmt: skip
    with pytest.raises(CheckpointError, match="same model settings"):
        train(days, TrainConfig(steps=4, batch_size=4, samples=2), model=PlannerNet(),
              run_dir=tmp_path, resume=True)  # fmt: skip


class _Killed(Exception):
    pass


def _kill_after(steps: int):
    def on_step(step: int, cost: float) -> None:
        if step + 1 == steps:
            raise _Killed

    return on_step


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))
