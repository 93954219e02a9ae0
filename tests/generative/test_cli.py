"""The researcher's and planner's commands: `twin instances`, `python -m generative.train`
(killed with SIGKILL and resumed: the same numbers as a run left alone; CSV and TensorBoard
logs with the validation gap), `twin propose`, the waste twin's `learned` policy, and clear
refusals of checkpoints and settings that cannot work."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from agents.waste.planning import check_plan
from generative.checkpoint import (
    CheckpointError,
    checkpoint_range,
    load_checkpoint,
    save_checkpoint,
)
from generative.data import read_instances
from generative.instances import plan_cost, sample_instances, to_problem, write_instances
from generative.model import PlannerConfig, PlannerNet
from generative.propose import LearnedPlanner, PlannerRangeError
from generative.train import CHECKPOINT_NAME, TrainConfig, train
from tests.conftest import flat, load, run_twin
from twin.api import run_waste

BINS = 12
TRAIN_ARGS = [
    "--steps", "80", "--batch-size", "4", "--samples", "4", "--checkpoint-every", "5",
    "--validate-every", "10", "--val-samples", "4", "--dim", "16", "--heads", "2",
    "--layers", "1", "--seed", "3",
]  # fmt: skip


@pytest.fixture(scope="module")
def files(helsinki, tmp_path_factory):
    """A training file written by `twin instances`, and a validation file with references."""
    root = tmp_path_factory.mktemp("instances")
    made = run_twin(
        "instances", "helsinki", "--bins", str(BINS), "--count", "24", "--seed", "1",
        "--trucks", "2", "--out", str(root / "train.npz"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = run_twin(
        "instances", "helsinki", "--bins", str(BINS), "--count", "4", "--seed", "2",
        "--trucks", "2", "--reference-s", "0.2", "--out", str(root / "val.npz"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return root / "train.npz", root / "val.npz"


@pytest.fixture(scope="module")
def small_checkpoint(helsinki, tmp_path_factory):
    """A small planner trained for the bundled city on 12-bin days."""
    days = sample_instances(helsinki, n_bins=BINS, n_instances=16, seed=4, n_trucks=2)
    run = tmp_path_factory.mktemp("small-run")
    torch.manual_seed(0)
    config = TrainConfig(steps=30, batch_size=8, samples=8, lr=2e-3, checkpoint_every=30)
    train(days, config, model=PlannerNet(PlannerConfig(dim=32, heads=2, layers=1)), run_dir=run)
    return run / CHECKPOINT_NAME


def test_an_instance_file_is_an_ordinary_file_replaced_only_when_asked(files):
    train_file, _ = files
    umask = os.umask(0)
    os.umask(umask)
    assert train_file.stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temporary file
    before = train_file.read_bytes()
    again = run_twin("instances", "helsinki", "--bins", "3", "--count", "1", "--out",
                     str(train_file))  # fmt: skip
    assert again.returncode == 2 and "exists: choose a new file or pass --overwrite" in flat(
        again.stderr
    )
    assert train_file.read_bytes() == before


def _train(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "generative.train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log(run) -> list[dict]:
    with (run / "log.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_instance_files_hold_the_days_and_their_pyvrp_costs(files):
    train_file, val_file = files
    days, val = read_instances(train_file), read_instances(val_file)
    assert (len(days), days.n_bins, days.reference_m) == (24, BINS, None)
    assert val.reference_m.shape == (4,)
    # the stored reference is the cost of a valid PyVRP plan: never below a lower bound, the
    # prizes and penalties aside, of driving to the farthest bin it must empty and back
    for i in range(len(val)):
        problem = to_problem(val, i)
        assert val.reference_m[i] >= 0
        must = np.flatnonzero(problem.required) + 2
        if must.size:
            bound = max(problem.distance_m[0, k] + problem.distance_m[k, 1] for k in must)
            assert val.reference_m[i] >= bound - 1


def test_killed_training_resumes_to_the_uninterrupted_numbers(files, tmp_path):
    train_file, val_file = files
    alone, killed = tmp_path / "alone", tmp_path / "killed"
    # --resume where no run is yet (a job script's first submission): a run from step 0, said
    whole = _train(
        str(train_file), "--val", str(val_file), "--out", str(alone), "--resume", *TRAIN_ARGS
    )
    victim = _train(str(train_file), "--val", str(val_file), "--out", str(killed), *TRAIN_ARGS)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (killed / CHECKPOINT_NAME).exists() and load_checkpoint(killed / CHECKPOINT_NAME)[
                "step"
            ] >= 20:
                break
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        killed_at = load_checkpoint(killed / CHECKPOINT_NAME)["step"]
        assert 20 <= killed_at < 80

        # while the run left alone goes on, a second run into the same folder without --resume is
        # refused, nothing overwritten, and the killed run resumes
        refused = run_twin("train", str(train_file), "--out", str(killed), *TRAIN_ARGS)
        assert refused.returncode == 1 and "--resume" in refused.stderr
        resumed = run_twin(
            "train", str(train_file), "--val", str(val_file), "--out", str(killed), "--resume",
            *TRAIN_ARGS,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        # it says which steps it took: those past the checkpoint's
        assert f"trained steps {killed_at + 1}–80;" in resumed.stdout
        assert "no checkpoint" not in resumed.stderr
        _, whole_err = whole.communicate(timeout=300)
        assert whole.returncode == 0, whole_err
        assert f"note: no checkpoint in {alone} to resume: training from step 0" in whole_err
    finally:  # a failed check above leaves no training running
        for process in (whole, victim):
            if process.poll() is None:
                process.kill()
                process.communicate()

    expected, got = _log(alone), _log(killed)
    assert [r["step"] for r in got] == [str(s) for s in range(1, 81)]
    for key in ("loss", "cost_m", "val_cost_m", "val_gap_pct", "lr"):
        assert [r[key] for r in got] == [r[key] for r in expected], key
    final = load_checkpoint(killed / CHECKPOINT_NAME)["model_state"]
    for name, value in load_checkpoint(alone / CHECKPOINT_NAME)["model_state"].items():
        torch.testing.assert_close(final[name], value, rtol=0, atol=0)
    gaps = [float(r["val_gap_pct"]) for r in got if r["val_gap_pct"]]
    assert len(gaps) == 8 and all(np.isfinite(gaps))
    # resumed once more, finished: nothing to train, said so (not "trained 80 steps")
    again = run_twin("train", str(train_file), "--val", str(val_file), "--out", str(killed),
                     "--resume", *TRAIN_ARGS)  # fmt: skip
    assert again.returncode == 0 and "had trained its 80 steps already" in again.stdout
    assert list((killed / "tensorboard").glob("events.out.tfevents.*"))


def test_training_refuses_settings_that_cannot_work(files, tmp_path):
    train_file, _ = files
    cases = {
        "gpu": (["--device", "cuda"], "--device cpu"),
        "batch": (["--batch-size", "100"], "exceeds the 24 training instances"),
        "steps": (["--steps", "0"], "steps must be ≥ 1"),
    }
    if torch.cuda.is_available():
        del cases["gpu"]
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not numpy")
    # the commands two at a time (each its own folder; most of their time is imports)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # several files train together, each step's days from one of them
        both = pool.submit(
            run_twin, "train", str(train_file), str(files[1]), "--out", str(tmp_path / "both"),
            "--batch-size", "4", "--samples", "2", "--steps", "2",
        )  # fmt: skip
        refusals = {
            name: pool.submit(
                run_twin, "train", str(train_file), "--out", str(tmp_path / name), *extra
            )
            for name, (extra, _) in cases.items()
        }
        unreadable = pool.submit(run_twin, "train", str(broken), "--out", str(tmp_path / "b"))
    for name, (_, words) in cases.items():
        result = refusals[name].result()
        assert result.returncode == 1, name
        assert words in result.stderr, (name, result.stderr)
    both = both.result()
    assert both.returncode == 0, both.stderr
    assert checkpoint_range(load_checkpoint(tmp_path / "both" / CHECKPOINT_NAME)).days == 28
    result = unreadable.result()
    assert result.returncode == 1 and "not a readable instance file" in result.stderr


def test_learned_plans_are_valid_and_polishing_never_makes_them_worse(small_checkpoint, helsinki):
    days = sample_instances(helsinki, n_bins=BINS, n_instances=6, seed=8, n_trucks=2)
    sha = helsinki.source.sha256
    drawn = LearnedPlanner(small_checkpoint, samples=16, refine=0, place_sha256=sha)
    alone = LearnedPlanner(small_checkpoint, samples=16, place_sha256=sha)
    polished = LearnedPlanner(small_checkpoint, samples=16, polish_s=0.2, place_sha256=sha)
    for i in range(len(days)):
        problem = to_problem(days, i)
        raw, first, better = drawn.plan(problem), alone.plan(problem), polished.plan(problem)
        for plan in (raw, first, better):
            assert check_plan(problem, plan) == []
        # refined by the planner's own search, then by PyVRP: never worse
        assert plan_cost(problem, first) <= plan_cost(problem, raw) + 1e-6
        assert plan_cost(problem, better) <= plan_cost(problem, first) + 1e-6
        for plan in (raw, first):
            assert plan.info["cost_m"] == pytest.approx(plan_cost(problem, plan), rel=1e-4)
        assert first.info["sampled_cost_m"] == raw.info["cost_m"]
    with pytest.raises(ValueError, match="refine: expected ≥ 0"):
        LearnedPlanner(small_checkpoint, refine=-1)
    # a day has 16 plans to refine, not 10**8: what the plan and its provenance say
    many = LearnedPlanner(small_checkpoint, samples=16, refine=10**8, place_sha256=sha)
    assert many.refine == 16 and many.plan(to_problem(days, 0)).info["refined"] == 16


def test_days_outside_the_training_range_are_refused_or_handed_to_pyvrp(small_checkpoint, helsinki):
    bigger = to_problem(sample_instances(helsinki, n_bins=20, n_instances=1, seed=2), 0)
    with pytest.raises(PlannerRangeError, match=r"bins 20 \(trained on 12–12\).*fallback"):
        LearnedPlanner(small_checkpoint).plan(bigger)
    plan = LearnedPlanner(small_checkpoint, outside_range="fallback", fallback_s=0.2).plan(bigger)
    assert plan.planner == "pyvrp" and "bins 20 (trained on 12–12)" in plan.info["fallback"]
    assert check_plan(bigger, plan) == []
    # or the model tries, and its plan says it was outside its range (and is still valid)
    tried = LearnedPlanner(small_checkpoint, outside_range="attempt", samples=4).plan(bigger)
    assert tried.planner == "learned" and "trained on 12–12" in tried.info["outside_range"]
    assert check_plan(bigger, tried) == []
    # a fleet, shift or travel-time scale never seen is outside the range too
    same = to_problem(sample_instances(helsinki, n_bins=12, n_instances=1, seed=2), 0)
    wider = dataclasses.replace(same, n_trucks=5, shift_s=11 * 3600.0)
    reasons = LearnedPlanner(small_checkpoint).outside(wider)
    assert "trucks 5 (trained on 2–2)" in reasons and "shift 39600 s" in reasons
    # the former name of the option still works
    assert LearnedPlanner(small_checkpoint, too_large="attempt").outside_range == "attempt"
    with pytest.raises(ValueError, match="outside_range: one of refuse, fallback, attempt"):
        LearnedPlanner(small_checkpoint, outside_range="sometimes")
    with pytest.raises(ValueError, match="temperature: expected > 0"):
        LearnedPlanner(small_checkpoint, temperature=0)


def test_foreign_and_tampered_checkpoints_are_refused(small_checkpoint, helsinki, tmp_path):
    payload = load_checkpoint(small_checkpoint)
    # a checkpoint of the first format knew one city: days of another are outside its range
    first = tmp_path / "kotka-v1.pt"
    torch.save(
        {**payload, "format_version": 1, "city": "kotka", "city_sha256": "0" * 64,
         "n_bins": BINS},
        first,
    )  # fmt: skip
    result = run_twin("propose", "helsinki", "--checkpoint", str(first), "--bins", "10")
    assert result.returncode == 1
    assert "another place (the model was trained for kotka only)" in flat(result.stderr)
    tampered = tmp_path / "tampered.pt"
    state = dict(payload["model_state"])
    state["embed.weight"] = torch.zeros(3, 3)
    save_checkpoint(tampered, {**payload, "model_state": state})
    with pytest.raises(CheckpointError, match="do not fit the model"):
        LearnedPlanner(tampered)


def test_propose_compares_learned_polished_pyvrp_and_greedy(small_checkpoint):
    with ThreadPoolExecutor(max_workers=2) as pool:  # both commands at once
        compared = pool.submit(
            run_twin, "propose", "helsinki", "--bins", str(BINS), "--checkpoint",
            str(small_checkpoint), "--trucks", "2", "--samples", "8", "--temperature", "0.5",
            "--refine", "4", "--polish", "0.3", "--json",
        )  # fmt: skip
        too_big = pool.submit(
            run_twin, "propose", "helsinki", "--bins", "30", "--trucks", "2", "--checkpoint",
            str(small_checkpoint),
        )  # fmt: skip
        passed_on = pool.submit(
            run_twin, "propose", "helsinki", "--bins", "30", "--trucks", "2", "--checkpoint",
            str(small_checkpoint), "--outside-range", "fallback", "--polish", "0",
        )  # fmt: skip
    result, too_big = compared.result(), too_big.result()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sampling"] == {"samples": 8, "temperature": 0.5, "refine": 4}
    assert report["planner"]["checkpoint"] == str(small_checkpoint)
    assert report["planner"]["outside_range"] is None
    plans = report["plans"]
    assert list(plans) == ["learned", "learned+pyvrp", "pyvrp", "greedy"]
    assert all(row["valid"] and row["unserved_required"] == 0 for row in plans.values())
    assert plans["learned+pyvrp"]["cost_km"] <= plans["learned"]["cost_km"] + 1e-9
    # PyVRP alone gets the wall time that learned + polish took
    assert report["pyvrp_budget_s"] == pytest.approx(plans["learned+pyvrp"]["solve_s"])
    assert too_big.returncode == 1 and "--outside-range fallback" in flat(too_big.stderr)
    assert "bins 30 (trained on 12–12)" in flat(too_big.stderr)
    # the table names the planner that made the plan, not the policy that was asked for
    passed_on = passed_on.result()
    assert passed_on.returncode == 0, passed_on.stderr
    assert "learned: pyvrp (fallback)" in passed_on.stdout
    assert "fallback: the day is" in flat(passed_on.stderr)
    # PyVRP's plan is not judged against another run of PyVRP: no verdict by chance
    assert "recommended: PyVRP's plan (in the model's place) passed every check" in flat(
        passed_on.stderr
    )


def test_the_waste_twin_runs_the_learned_policy(small_checkpoint, helsinki):
    with ThreadPoolExecutor(max_workers=1) as pool:  # the command runs beside the run here
        refused = pool.submit(run_twin, "waste", "helsinki", "--days", "2", "--planner",
                              "learned", "--population", "150", "--depot", "0,0")  # fmt: skip
        # few residents, so that every day's candidate bins fit the 12-bin model
        run = run_waste(
            helsinki, days=5, planner="learned", trucks=2, seed=1, population=150,
            checkpoint=small_checkpoint, solver_time_s=0.2,
        )  # fmt: skip
    assert run.result.info["planner"] == "learned"
    assert run.kpis["bins_emptied"] > 0
    assert abs(run.result.info["mass_balance_error_kg"]) < 1e-6 * run.kpis["generated_t"] * 1000
    assert refused.result().returncode == 1


def test_polished_learned_plans_repeat_and_start_from_the_learned_plan(small_checkpoint, helsinki):
    days = sample_instances(helsinki, n_bins=BINS, n_instances=4, seed=8, n_trucks=2)
    sha = helsinki.source.sha256
    alone = LearnedPlanner(small_checkpoint, samples=16, place_sha256=sha)
    polished = LearnedPlanner(
        small_checkpoint, samples=16, polish_s=60.0, polish_iterations=25, place_sha256=sha
    )
    for i in range(len(days)):
        problem = to_problem(days, i)
        first, better, again = alone.plan(problem), polished.plan(problem), polished.plan(problem)
        assert check_plan(problem, better) == [] and better.planner == "learned+pyvrp"
        assert better.info["learned_objective"] == pytest.approx(first.info["objective"])
        assert plan_cost(problem, better) <= plan_cost(problem, first) + 1e-6
        # an iteration limit, not the clock, ends the polish: the plan repeats
        assert [r.tolist() for r in better.routes] == [r.tolist() for r in again.routes]
    with pytest.raises(ValueError, match="polish_iterations: expected ≥ 1"):
        LearnedPlanner(small_checkpoint, polish_s=1.0, polish_iterations=0)
    # in the twin: each day's plan polished, the run repeating bit for bit
    settings = {
        "days": 5, "planner": "learned", "trucks": 2, "seed": 1, "population": 150,
        "checkpoint": small_checkpoint, "polish_iterations": 25,
    }  # fmt: skip
    runs = [run_waste(helsinki, **settings) for _ in range(2)]
    # the days the 12-bin model takes are polished (the others go to PyVRP, as unpolished)
    planned_by = set(runs[0].result.daily["planned_by"].dropna())
    assert "learned+pyvrp" in planned_by and planned_by <= {"learned+pyvrp", "pyvrp"}
    assert runs[0].kpis == runs[1].kpis
    refused = run_twin("waste", "helsinki", "--planner", "pyvrp", "--polish-iterations", "10")
    assert refused.returncode == 1 and refused.stderr.startswith(
        "error: --polish-iterations (waste.polish_iterations): polishing starts from the "
        "learned planner's plan, and the planner is 'pyvrp'"
    )


def test_the_shipped_planner_plans_a_city_it_never_saw(helsinki):
    from generative.propose import GENERAL_CHECKPOINT, shipped_checkpoint

    kotka = load("kotka")  # bundled, and never a training place
    path = shipped_checkpoint(kotka.name, sha256=kotka.source.sha256)
    assert path == GENERAL_CHECKPOINT and path.stat().st_size < 5 * 2**20
    saved = load_checkpoint(path)  # weights_only inside
    trained = checkpoint_range(saved)
    assert kotka.source.sha256 not in {p["sha256"] for p in trained.places}
    assert trained.bounds["n_bins"][0] <= 60 and trained.bounds["n_bins"][1] >= 450
    assert trained.bounds["n_trucks"] == (1, 8) and len(trained.places) > 10
    assert saved["trained_on"]["device"] in ("cpu", "cuda")
    # the commands run in other processes, one at a time, while the planner plans here (the
    # city is in the cache by now)
    with ThreadPoolExecutor(max_workers=1) as pool:
        proposed = pool.submit(
            run_twin, "propose", "kotka", "--bins", "60", "--polish", "0.2", "--json"
        )
        ran = pool.submit(
            run_twin, "waste", "kotka", "--planner", "learned", "--days", "3", "--json"
        )
        for city in (helsinki, kotka):
            planner = LearnedPlanner(path, place_sha256=city.source.sha256, samples=32)
            problem = to_problem(sample_instances(city, n_bins=100, n_instances=10, seed=5), 9)
            assert planner.outside(problem) is None
            assert check_plan(problem, planner.plan(problem)) == []
    proposed, ran = proposed.result(), ran.result()
    assert proposed.returncode == 0, proposed.stderr
    report = json.loads(proposed.stdout)
    assert report["planner"]["checkpoint"] == str(GENERAL_CHECKPOINT)
    assert report["planner"]["outside_range"] is None
    assert report["plans"]["learned"]["valid"] and report["plans"]["learned"]["fallback"] is None
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["bins_emptied"] > 0


def test_the_bundled_citys_own_model_hands_larger_days_to_the_general_one(helsinki):
    from generative.propose import SHIPPED_CHECKPOINTS, shipped_checkpoint
    from twin.api import learned_planner

    own = shipped_checkpoint("helsinki", sha256=helsinki.source.sha256)
    assert own == SHIPPED_CHECKPOINTS / "helsinki.pt"  # its own model: the best on its days
    planner = learned_planner(helsinki, outside_range="fallback", samples=32)
    problem = to_problem(sample_instances(helsinki, n_bins=150, n_instances=10, seed=5), 9)
    plan = planner.plan(problem, seed=0)
    # beyond the 100 bins the city's own model knows, the general planner plans the day
    assert plan.planner == "learned" and check_plan(problem, plan) == []
    assert "outside the training range of helsinki.pt: bins 150" in plan.info["fallback"]
    # a file of another content under the same name is not the bundled city
    assert shipped_checkpoint("helsinki", sha256="0" * 64).name == "general.pt"


def test_a_checkpoint_is_for_the_learned_planner_only(small_checkpoint):
    refused = run_twin(
        "waste", "helsinki", "--planner", "pyvrp", "--checkpoint", str(small_checkpoint)
    )
    assert refused.returncode == 1 and refused.stderr.startswith(
        "error: --checkpoint (waste.checkpoint): a checkpoint is for planner 'learned', not 'pyvrp'"
    )


def test_instance_files_keep_their_reference_costs(helsinki, tmp_path):
    days = sample_instances(helsinki, n_bins=5, n_instances=2, seed=0)
    days = days.with_reference(np.array([1.0, 2.0]))
    back = read_instances(write_instances(days, tmp_path / "d.npz"))
    np.testing.assert_array_equal(back.reference_m, [1.0, 2.0])
    np.testing.assert_array_equal(back.duration_s, days.duration_s)


def test_fine_tuning_starts_from_a_checkpoints_weights(files, small_checkpoint, tmp_path):
    train_file, _ = files
    result = run_twin(
        "train", str(train_file), "--out", str(tmp_path / "tuned"), "--init",
        str(small_checkpoint), "--steps", "1", "--batch-size", "4", "--samples", "2",
        "--lr", "1e-12",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    start = load_checkpoint(small_checkpoint)
    tuned = load_checkpoint(tmp_path / "tuned" / CHECKPOINT_NAME)
    assert tuned["model_config"] == start["model_config"]  # the settings came with the weights
    # what trained the model before stays with it
    assert [run["steps"] for run in tuned["lineage"]] == [start["step"]]
    assert tuned["lineage"][0]["trained_on"] == start["trained_on"]
    for name, value in start["model_state"].items():
        torch.testing.assert_close(tuned["model_state"][name], value, rtol=0, atol=1e-9)


def test_fine_tuning_may_read_the_travel_biases_in_another_unit(files, small_checkpoint, tmp_path):
    train_file, _ = files
    result = run_twin(
        "train", str(train_file), "--out", str(tmp_path / "shifted"), "--init",
        str(small_checkpoint), "--travel-unit", "shift", "--steps", "1", "--batch-size", "4",
        "--samples", "2", "--lr", "1e-12",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    start = load_checkpoint(small_checkpoint)
    tuned = load_checkpoint(tmp_path / "shifted" / CHECKPOINT_NAME)
    assert start["model_config"]["travel_unit"] == "mean"
    assert tuned["model_config"] == {**start["model_config"], "travel_unit": "shift"}


def test_a_city_with_fewer_bins_than_asked_says_how_many_it_has():
    result = run_twin("propose", "kotka", "--bins", "5000")
    assert result.returncode == 1
    assert re.search(r"kotka has \d+ bins; a day of 5000 cannot be drawn: ask for at most \d+ "
                     r"\(--bins\), or .* \(--population\)", flat(result.stderr))  # fmt: skip


def test_impossible_sampling_settings_are_refused_with_the_rule():
    for option, value, rule in (("--refine", "-1", "refine: must be ≥ 0 (got -1)"),
                                ("--samples", "0", "samples: must be ≥ 1 (got 0)")):  # fmt: skip
        result = run_twin("propose", "helsinki", option, value)
        assert result.returncode == 1 and rule in flat(result.stderr)
        assert "Traceback" not in result.stderr
