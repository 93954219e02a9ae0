"""Checkpoints: a killed-and-resumed run repeats the uninterrupted one, files are written whole
and read with weights_only, carry the range of days they were trained on, and foreign, corrupt
or mismatched files are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generative.checkpoint import (
    CHECKPOINT_VERSION,
    CheckpointError,
    checkpoint_range,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from generative.coverage import travel_scale_s
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
    saved = load_checkpoint(path)
    assert saved["format_version"] == CHECKPOINT_VERSION == 2
    assert saved["model_config"] == SMALL.to_dict()
    assert set(saved) >= {"optimizer_state", "schedule_state", "numpy_rng", "torch_generators"}
    assert saved["trained_on"]["device"] == "cpu" and saved["trained_on"]["processes"] == 1
    assert not list(tmp_path.glob(".*partial"))  # no staging file left behind
    # the range of the days it learned from, figure by figure, from the days themselves
    trained = checkpoint_range(saved)
    assert trained.days == len(days) == 16
    assert [(p["name"], p["sha256"]) for p in trained.places] == [
        ("helsinki", days.meta["city_sha256"])
    ]
    assert trained.bounds["n_bins"] == (12, 12) and trained.bounds["n_trucks"] == (2, 2)
    scales = travel_scale_s(days.duration_s)
    assert trained.bounds["travel_scale_s"] == pytest.approx((scales.min(), scales.max()))


def test_foreign_and_broken_checkpoints_are_refused(days, tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(corrupt)
    short = tmp_path / "short.pt"  # too short to hold torch's header (struct.error inside)
    short.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(short)
    # a file that would run code when unpickled is refused, not executed
    evil = tmp_path / "evil.pt"
    torch.save({"model_state": {}, "payload": _Evil()}, evil)
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as refused:
        load_checkpoint(evil)
    # never torch's advice to load it without weights_only: that would run the file's code
    assert "weights_only" not in str(refused.value)
    # the signal planner's checkpoint, named as it is, not as a damaged file
    signals = Path(__file__).parents[2] / "generative" / "checkpoints" / "signals.pt"
    with pytest.raises(CheckpointError, match="a signal-planner checkpoint, not one of the waste"):
        load_checkpoint(signals)
    # a text file whose first byte torch reads as an old pickle protocol (a URL, a note)
    url = tmp_path / "url.pt"
    url.write_text("https://example.org/checkpoint.pt\n")
    with pytest.raises(CheckpointError, match=r"url\.pt: not a readable checkpoint \(KeyError\)"):
        load_checkpoint(url)
    old = tmp_path / "old.pt"
    torch.save({"model_state": {}, "format_version": 0}, old)
    with pytest.raises(CheckpointError, match="format 0, this version reads 1, 2: train it again"):
        load_checkpoint(old)
    # a model's weights saved by torch itself: no version of this package wrote it
    plain = tmp_path / "plain.pt"
    torch.save({"model_state": PlannerNet(SMALL).state_dict()}, plain)
    with pytest.raises(CheckpointError, match="a torch file, but not a checkpoint of this package"):
        load_checkpoint(plain)
    future = tmp_path / "future.pt"
    torch.save({"model_state": {}, "format_version": 3}, future)
    with pytest.raises(CheckpointError, match="format 3"):
        load_checkpoint(future)
    # a range altered by hand (or lost) is refused, not guessed
    unranged = tmp_path / "unranged.pt"
    save_checkpoint(unranged, {"model_state": {}, "training_range": {"bounds": "all"}})
    with pytest.raises(CheckpointError, match="training range is unreadable"):
        load_checkpoint(unranged)
    with pytest.raises(CheckpointError, match="is a folder: name the checkpoint file"):
        load_checkpoint(tmp_path)


def test_first_format_checkpoints_load_with_their_city_as_their_range(days, tmp_path):
    # format 1 named one city and the most bins; such a model knows that city only
    path = tmp_path / "v1.pt"
    first = PlannerConfig(dim=32, heads=2, layers=1, features=1)
    settings = {k: v for k, v in first.to_dict().items() if k != "features"}
    torch.save(
        {"model_state": PlannerNet(first).state_dict(), "model_config": settings,
         "format_version": 1, "city": "helsinki", "city_sha256": "a" * 64, "n_bins": 100},
        path,
    )  # fmt: skip
    model, saved = load_model(path)
    assert model.config.features == 1  # it saw the first models' figures
    trained = checkpoint_range(saved)
    inside = {"n_bins": 100.0, "n_trucks": 3.0}
    assert trained.outside(inside, place_sha256="a" * 64) == []
    assert trained.outside({**inside, "n_bins": 101.0}, place_sha256="a" * 64) == [
        "bins 101 (trained on 1–100)"
    ]
    assert "trained for helsinki only" in trained.outside(inside, place_sha256="b" * 64)[0]


def test_settings_without_a_travel_unit_count_in_shifts(days, tmp_path):
    model = PlannerNet(SMALL)
    settings = SMALL.to_dict()
    del settings["travel_unit"]  # as checkpoints were written before it was a setting
    del settings["features"]
    model = PlannerNet(PlannerConfig(**{**settings, "features": 1}))
    path = tmp_path / "older.pt"
    torch.save(
        {"model_state": model.state_dict(), "model_config": settings, "n_bins": 12,
         "format_version": 1, "city": "helsinki", "city_sha256": "a" * 64},
        path,
    )  # fmt: skip
    loaded, _ = load_model(path)
    assert loaded.config.travel_unit == "shift"
    tensors = as_tensors(days)
    torch.testing.assert_close(loaded.travel_unit(tensors), tensors["shift_s"].float())
    # a new model counts in each day's mean travel time
    mean = tensors["duration_s"].float().mean(dim=(1, 2))
    torch.testing.assert_close(model.travel_unit(tensors), mean)
    settings["travel_unit"] = "furlongs"
    torch.save(
        {"model_state": model.state_dict(), "model_config": settings, "format_version": 1},
        path,
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_model(path)


def test_resume_with_other_model_settings_or_days_is_refused(days, tmp_path):
    train(days, TrainConfig(steps=2, batch_size=4, samples=2), model=PlannerNet(SMALL),
          run_dir=tmp_path)  # fmt: skip
    with pytest.raises(CheckpointError, match="same model settings"):
        train(days, TrainConfig(steps=4, batch_size=4, samples=2), model=PlannerNet(),
              run_dir=tmp_path, resume=True)  # fmt: skip
    with pytest.raises(CheckpointError, match="other training files"):
        train(days.subset(slice(0, 8)), TrainConfig(steps=4, batch_size=4, samples=2),
              model=PlannerNet(SMALL), run_dir=tmp_path, resume=True)  # fmt: skip


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


def test_a_checkpoint_with_a_damaged_byte_is_refused_not_planned_with(tmp_path):
    """torch reads a tensor's bytes without their checksum: the shipped model with 16 bytes of
    one weight record flipped (a broken copy) once loaded, and planned, without a word."""
    import struct
    import zipfile

    shipped = Path(__file__).parents[2] / "generative" / "checkpoints" / "general.pt"
    data = bytearray(shipped.read_bytes())
    record = next(i for i in zipfile.ZipFile(shipped).infolist() if i.filename.endswith("data/4"))
    assert record.compress_type == zipfile.ZIP_STORED  # the bytes below are the weights' own
    name_length, extra_length = struct.unpack("<HH", data[record.header_offset + 26 :][:4])
    start = record.header_offset + 30 + name_length + extra_length + 100
    data[start : start + 16] = bytes(b ^ 0xFF for b in data[start : start + 16])
    damaged = tmp_path / "general.pt"
    damaged.write_bytes(bytes(data))
    assert isinstance(torch.load(damaged, weights_only=True), dict)  # torch itself reads it
    with pytest.raises(CheckpointError, match=r"general\.pt: damaged: its record data/4 fails"):
        load_checkpoint(damaged)
    assert load_checkpoint(shipped)["model_state"]  # the intact file loads
