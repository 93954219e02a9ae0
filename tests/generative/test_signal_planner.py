"""The learned signal planner: instances, the delay it lowers, training, checkpoints, proposals."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from agents.traffic.signals import default_plans
from agents.traffic.timing import check_plans
from generative.checkpoint import CheckpointError, save_checkpoint
from generative.signal_data import (
    SignalDataError,
    pad_batch,
    read_signal_file,
    write_signal_file,
)
from generative.signal_instances import SignalDraw, junction_instance, scenario_instance
from generative.signal_model import SignalNet, SignalNetConfig, control_delay, timings
from generative.signal_propose import LearnedSignalPlanner
from generative.signal_train import (
    SignalTrainConfig,
    TrainingError,
    as_batch,
    load_signal_checkpoint,
    train_signals,
    webster_timings,
)


@pytest.fixture(scope="module")
def scenarios():
    """Three small scenarios of the bundled city and a synthetic town (real simulations)."""
    draws = [
        SignalDraw("helsinki", 1.0, 0, 1),
        SignalDraw("helsinki", 1.8, 2, 2),
        SignalDraw("synthetic:5", 1.5, 1, 3),
    ]
    return [scenario_instance(draw) for draw in draws]


@pytest.fixture(scope="module")
def files(scenarios, tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals")
    write_signal_file(folder / "train.npz", scenarios[:2])
    write_signal_file(folder / "val.npz", scenarios[2:])
    return folder


def test_an_instance_describes_each_junction(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    flow = np.full(network.n_edges, 360.0)  # 0.1 veh/s on every link
    instance = junction_instance(network, plans, flow)
    assert instance.n_junctions == len(plans)
    vehicle = instance.kind == 1
    np.testing.assert_allclose(instance.flow_vps[vehicle], 0.1, rtol=1e-6)
    assert np.all(instance.min_green_s[vehicle] >= 7.0)
    # travel times: none to itself, every pair reachable within the cap
    assert np.all(np.diag(instance.travel_s) == 0)
    np.testing.assert_allclose(instance.travel_s, instance.travel_s.T)


def test_instance_files_round_trip_and_refuse_damage(scenarios, files, tmp_path):
    again = read_signal_file(files / "train.npz")
    assert len(again) == 2
    for a, b in zip(again, scenarios[:2], strict=True):
        np.testing.assert_array_equal(a.flow_vps, b.flow_vps)
        np.testing.assert_array_equal(a.travel_s, b.travel_s)
        assert a.meta == b.meta
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SignalDataError, match="not a signal instance file"):
        read_signal_file(tmp_path / "bad.npz")


def test_timings_are_plans_within_the_limits(scenarios):
    batch = as_batch(scenarios, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        cycle_logit = torch.randn(batch["mask"].shape, generator=generator) * 4
        split_logits = torch.randn(batch["kind"].shape, generator=generator) * 4
        cycle, greens = timings(batch, cycle_logit, split_logits)
        real = batch["mask"]
        phases = (batch["kind"] > 0).sum(-1)
        spent = greens.sum(-1) + phases * batch["intergreen_s"]
        torch.testing.assert_close(spent[real], cycle[real])
        assert torch.all(greens[real] >= batch["min_green_s"][real] - 1e-4)
        assert torch.all(cycle[real] <= batch["max_cycle_s"][real] + 1e-4)


def test_control_delay_is_the_highway_capacity_manual_s():
    """One approach: a 90 s cycle, 40 s of green, 900 veh/h arriving at a 1,800 veh/h
    saturation flow: capacity 800 veh/h, X = 1.125; d1 = 0.5·90·(1 − 4/9)² / (1 − 4/9) =
    25.0 s, d2 = 900·[0.125 + √(0.125² + 4·1.125/800)] = 243.7 s."""
    batch = {
        "kind": torch.tensor([[[1, 0, 0, 0]]]),
        "flow_vps": torch.tensor([[[0.25, 0.0, 0.0, 0.0]]]),
        "saturation_vps": torch.tensor([[[0.5, 1.0, 1.0, 1.0]]]),
        "mask": torch.tensor([[True]]),
    }
    delay = control_delay(batch, torch.tensor([[90.0]]), torch.tensor([[[40.0, 0, 0, 0]]]))
    d1 = 0.5 * 90 * (1 - 4 / 9) ** 2 / (1 - 4 / 9)
    d2 = 900 * (0.125 + math.sqrt(0.125**2 + 4 * 1.125 / 800))
    assert float(delay[0]) == pytest.approx(d1 + d2, rel=1e-5)
    assert d1 + d2 == pytest.approx(268.7, abs=0.1)


def test_training_lowers_the_delay_and_resumes_exactly(files, tmp_path):
    config = SignalTrainConfig(steps=30, batch_size=2, lr=3e-3, validate_every=30,
                               checkpoint_every=10)  # fmt: skip
    small = SignalNetConfig(dim=16, heads=2, layers=1)
    val = read_signal_file(files / "val.npz")
    batch = as_batch(val, torch.device("cpu"))
    torch.manual_seed(0)  # what train_signals seeds before it builds its model
    untrained = SignalNet(small)
    with torch.no_grad():
        before = float(control_delay(batch, *timings(batch, *untrained(batch))).mean())
    model, history = train_signals(
        [files / "train.npz"], tmp_path / "run", config=config, model_config=small,
        val_files=[files / "val.npz"], device="cpu",
    )  # fmt: skip
    assert history[-1]["val_delay_s"] < before
    # the log says how fast and against what
    assert {"instances_per_s", "gpu_memory_mb", "val_gap_to_webster_pct"} <= set(history[-1])

    # a run killed after 20 steps and resumed ends where the whole run ended
    class Killed(Exception):
        pass

    def kill_at_20(step: int) -> None:
        if step == 20:
            raise Killed

    with pytest.raises(Killed):
        train_signals([files / "train.npz"], tmp_path / "again", config=config,
                      model_config=small, device="cpu", on_step=kill_at_20)  # fmt: skip
    assert load_signal_checkpoint(tmp_path / "again" / "checkpoint.pt")["step"] == 20
    resumed, _ = train_signals(
        [files / "train.npz"], tmp_path / "again", config=config, model_config=small,
        device="cpu", resume=True,
    )  # fmt: skip
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, msg=name)
    # a resume with more steps would run the cosine past its end, back up: refused
    with pytest.raises(TrainingError, match=r"other training settings \(steps 30 → 60\)"):
        train_signals([files / "train.npz"], tmp_path / "again", model_config=small,
                      config=replace(config, steps=60), device="cpu", resume=True)  # fmt: skip


def test_a_collection_planner_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path / "waste.pt", {"model_state": {}, "model_config": {}})
    with pytest.raises(CheckpointError, match="not a signal planner checkpoint"):
        load_signal_checkpoint(tmp_path / "waste.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_signal_checkpoint(tmp_path / "junk.pt")


def test_webster_timings_match_the_textbook_cycle():
    """Two vehicle phases at flow ratios 0.4 and 0.3 with 6 s intergreens: Webster's cycle
    (1.5 · 12 + 5) / (1 − 0.7) = 76.7 s (the 77 s of the GATE example)."""
    batch = {
        "kind": torch.tensor([[[1, 1, 0, 0]]]),
        "flow_vps": torch.tensor([[[0.2, 0.15, 0.0, 0.0]]]),
        "saturation_vps": torch.tensor([[[0.5, 0.5, 1.0, 1.0]]]),
        "min_green_s": torch.tensor([[[7.0, 7.0, 0.0, 0.0]]]),
        "intergreen_s": torch.tensor([[6.0]]),
        "max_cycle_s": torch.tensor([[120.0]]),
        "mask": torch.tensor([[True]]),
    }
    cycle, greens = webster_timings(batch)
    assert float(cycle[0, 0]) == pytest.approx(23 / 0.3)
    assert float(greens[0, 0, :2].sum()) == pytest.approx(23 / 0.3 - 12)


def test_the_shipped_planner_proposes_plans_within_the_limits(helsinki):
    planner = LearnedSignalPlanner()
    network = helsinki.network
    plans = default_plans(network)
    flow = np.full(network.n_edges, 500.0)
    proposed = planner.propose(network, plans, flow)
    assert set(proposed) == set(plans)
    check_plans(proposed, network)
    assert planner.training_range["places"] and "aguascalientes" not in str(
        planner.training_range["places"]
    )
    instance = planner.instance(network, plans, np.full(network.n_edges, 5000.0))
    assert any("saturation" in note for note in planner.outside_range(instance))


def test_padding_marks_real_junctions(scenarios):
    padded = pad_batch(scenarios)
    sizes = [s.n_junctions for s in scenarios]
    assert padded["mask"].sum(1).tolist() == sizes
    assert not padded["kind"][~padded["mask"]].any()


def test_two_processes_train_under_torchrun(files, tmp_path):
    """``torchrun`` with two CPU processes (gloo): each trains on its share; rank 0 writes."""
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m",
         "generative.signal_train", str(files / "train.npz"), "--out", str(tmp_path / "run"),
         "--steps", "4", "--batch-size", "2", "--device", "cpu", "--dim", "16", "--heads", "2",
         "--layers", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # a rank's own error comes first in torchrun's stderr, its summary last
    assert result.returncode == 0, result.stderr[:3000] + "\n…\n" + result.stderr[-2000:]
    assert result.stderr.count("elapsed_s") == 1  # the last step's figures, said once
    payload = load_signal_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["step"] == 4 and payload["trained_on"]["processes"] == 2
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 1 + 4


def test_a_corpus_is_drawn_in_processes_resumes_and_lists_failures(tmp_path):
    from generative.signal_instances import build_signal_corpus

    plan = [
        SignalDraw("helsinki", 1.0, 0, 7),
        SignalDraw("synthetic:9", 1.2, 1, 8),
        SignalDraw("kotka", 1.0, 0, 9),  # no signals: skipped, listed
    ]
    files = build_signal_corpus(plan, tmp_path / "corpus", workers=2)
    assert [f.name for f in files] == sorted(d.file_name for d in plan[:2])
    failed = json.loads((tmp_path / "corpus" / "failed.json").read_text())
    assert (
        list(failed) == [plan[2].file_name]
        and "no signalized junctions" in failed[plan[2].file_name]
    )
    written = {f: f.stat().st_mtime_ns for f in files}
    again = build_signal_corpus(plan, tmp_path / "corpus", workers=2)  # a rerun draws nothing new
    assert {f: f.stat().st_mtime_ns for f in again} == written
    assert read_signal_file(files[0])[0].meta["place"] == "helsinki"


def test_offsets_are_a_green_wave_from_the_busiest_junction(scenarios):
    from generative.signal_offsets import green_wave_offsets

    instance = scenarios[1]
    cycles = np.full(instance.n_junctions, 60.0)
    offsets = green_wave_offsets(instance, cycles)
    busiest = int(np.argmax((instance.flow_vps * (instance.kind == 1)).sum(axis=1)))
    assert offsets[busiest] == 0.0
    np.testing.assert_allclose(offsets, np.mod(instance.travel_s[busiest], 60.0))
    assert np.all((offsets >= 0) & (offsets < cycles))


def test_the_offset_head_starts_at_the_green_wave(scenarios):
    from generative.signal_offsets import (
        RULE,
        green_wave_offsets,
        offset_features,
        offsets_from,
    )

    instance = scenarios[1]
    rng = np.random.default_rng(0)
    cycles = rng.uniform(40, 120, instance.n_junctions)
    greens = np.column_stack([cycles * 0.4, cycles * 0.4, np.zeros((instance.n_junctions, 2))])
    features = offset_features(instance, cycles, greens)
    np.testing.assert_allclose(
        offsets_from(features, cycles, RULE), green_wave_offsets(instance, cycles), atol=1e-6
    )
    # any head gives offsets within each cycle
    offsets = offsets_from(features, cycles, [0.7, -0.3, 0.5, 0.2])
    assert np.all((offsets >= 0) & (offsets < cycles))


def test_the_offset_head_trained_in_the_twin_is_never_worse_than_the_wave(tmp_path):
    from generative.checkpoint import read_checkpoint_file
    from generative.signal_offsets import RULE, train_offset_head
    from generative.signal_propose import SIGNAL_CHECKPOINT

    planner = LearnedSignalPlanner(SIGNAL_CHECKPOINT)
    draws = [SignalDraw("synthetic:3", 1.2, 0, 11)]
    tuning = train_offset_head(draws, planner, generations=2, population=4, seed=1)
    # one run for the flows, one for the wave, four candidates a round
    assert tuning.simulations == 1 + 1 + 2 * 4
    assert tuning.delay_veh_h[0] <= tuning.rule_delay_veh_h[0]
    assert (tuning.theta == list(RULE)) == (tuning.delay_veh_h == tuning.rule_delay_veh_h)
    # kept in a checkpoint, the planner uses it; a malformed head is refused by name
    payload = read_checkpoint_file(SIGNAL_CHECKPOINT)
    payload.pop("format_version")
    save_checkpoint(tmp_path / "head.pt", {**payload, "offset_head": tuning.as_payload()})
    assert LearnedSignalPlanner(tmp_path / "head.pt").offset_theta == tuple(tuning.theta)
    bad = {**tuning.as_payload(), "features": ["speed"]}
    save_checkpoint(tmp_path / "bad.pt", {**payload, "offset_head": bad})
    with pytest.raises(CheckpointError, match="offset head reads"):
        LearnedSignalPlanner(tmp_path / "bad.pt")


def test_no_windows_are_planned_on_a_network_smaller_than_a_window():
    from generative.signal_instances import signal_places

    # the bundled Helsinki centre has 69 signals but 141 junctions, fewer than a window needs
    assert signal_places(["helsinki"], windows=3, synthetic=1) == ["helsinki", "synthetic:0"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # each once a traceback (np.log of 0; numpy's integers with LOW above HIGH) or a
        # setting quietly replaced (no scenario drawn, "--workers 0" run as 1)
        (lambda m: m.plan_signal_corpus(["helsinki"], draws=2, demand=(0.0, 0.0)),
         r"--demand 0-0: factors of today's demand, 0 < LOW ≤ HIGH"),
        (lambda m: m.plan_signal_corpus(["helsinki"], draws=2, closures=(3, 1)),
         r"--closures 3-1: streets closed, 0 ≤ LOW ≤ HIGH"),
        (lambda m: m.plan_signal_corpus(["helsinki"], draws=0), r"--draws 0: draw at least one"),
        (lambda m: m.plan_signal_corpus([], draws=2), r"no places to draw scenarios from"),
        (lambda m: m.signal_places(["helsinki"], windows=-1), r"--windows -1: a count of places"),
        (lambda m: m.build_signal_corpus([], "never", workers=0), r"--workers 0: processes"),
        (lambda m: m.build_signal_corpus([], "a-file", workers=1), r"a-file is a file: name a"),
    ],
)  # fmt: skip
def test_impossible_corpus_settings_are_named(call, message, tmp_path, monkeypatch):
    import generative.signal_instances as module
    from twin.errors import TwinError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("notes")
    with pytest.raises(TwinError, match=message):
        call(module)
    assert not (tmp_path / "never").exists()  # nothing written


def test_a_range_upside_down_is_refused_by_the_command_line(tmp_path):
    from tests.conftest import run_twin

    done = run_twin("signal-corpus", str(tmp_path / "never"), "--demand", "3-1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'3-1': LOW above HIGH, write it as LOW-HIGH" in done.stderr
    assert not (tmp_path / "never").exists()


def test_a_corpus_of_which_no_scenario_could_be_simulated_is_an_error(tmp_path):
    """Once "0 scenarios in …; 1 failed" and exit 0: a job script went on to train on nothing."""
    from tests.conftest import run_twin

    out = tmp_path / "corpus"
    done = run_twin("signal-corpus", str(out), "--city", "kotka", "--draws", "1",
                    "--windows", "0", "--synthetic", "0", "--workers", "1")  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: no scenario could be simulated (1 failed" in done.stderr
    failed = json.loads((out / "failed.json").read_text())
    assert list(failed.values()) == ["kotka has no signalized junctions"]
