"""Scale-out and precision: a 2-process gloo DDP step equals one process's step on the combined
batch; bf16 autocast trains with exact float32 plan costs; a GPU asked for where none exists is
refused by name."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from agents.waste.planning import Plan, check_plan
from generative.env import plans_from_actions
from generative.instances import plan_cost, sample_instances, to_problem
from generative.model import PlannerConfig, PlannerNet, rollout
from generative.train import TrainingError, as_tensors, policy_gradient_step, resolve_device

SMALL = PlannerConfig(dim=32, heads=2, layers=1)
SAMPLES = 4


@pytest.fixture(scope="module")
def days(helsinki):
    return sample_instances(helsinki, n_bins=10, n_instances=8, seed=3, n_trucks=2)


def _one_rank(rank: int, world: int, init_file: str, shared: str, out: str) -> None:
    """One process of the DDP run: its half of the instances and of the drawn plans."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        data = torch.load(shared, weights_only=True)
        model = PlannerNet(SMALL)
        model.load_state_dict(data["weights"])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        share = len(data["tensors"]["load_kg"]) // world
        mine = slice(rank * share, (rank + 1) * share)
        tensors = {name: value[mine] for name, value in data["tensors"].items()}
        actions = data["actions"][rank * share * SAMPLES : (rank + 1) * share * SAMPLES]
        policy_gradient_step(
            DistributedDataParallel(model), optimizer, tensors, samples=SAMPLES, actions=actions
        )
        torch.save(
            {
                "grads": {n: p.grad for n, p in model.named_parameters()},
                "weights": model.state_dict(),
            },
            f"{out}/rank{rank}.pt",
        )
        dist.barrier()  # both ranks done talking before either tears the group down
    finally:
        dist.destroy_process_group()
    # a finished rank leaves past the interpreter's teardown, where gloo's threads can abort
    # it (SIGABRT under load), as generative.train.exit_rank does under torchrun
    sys.stderr.flush()
    os._exit(0)


def test_two_process_ddp_step_equals_one_process_on_the_combined_batch(days, tmp_path):
    torch.manual_seed(0)
    model = PlannerNet(SMALL)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    tensors = as_tensors(days)
    with torch.no_grad():  # the plans both runs score
        _, _, actions, _ = rollout(
            model, tensors, samples=SAMPLES, generator=torch.Generator().manual_seed(1)
        )
    torch.save({"weights": start, "tensors": tensors, "actions": actions}, tmp_path / "shared.pt")

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    policy_gradient_step(model, optimizer, tensors, samples=SAMPLES, actions=actions)
    alone = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert sum(float(g.abs().sum()) for g in alone.values()) > 0  # a real gradient

    mp.spawn(
        _one_rank,
        args=(2, str(tmp_path / "init"), str(tmp_path / "shared.pt"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    for rank in range(2):
        ranked = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, grad in alone.items():
            torch.testing.assert_close(ranked["grads"][name], grad, rtol=1e-5, atol=1e-7)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(ranked["weights"][name], value, rtol=1e-5, atol=1e-7)


def test_bf16_autocast_trains_and_keeps_plan_costs_exact(days):
    torch.manual_seed(0)
    model = PlannerNet(SMALL)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tensors = as_tensors(days)
    loss, _ = policy_gradient_step(
        model, optimizer, tensors, samples=SAMPLES, bf16=True,
        generator=torch.Generator().manual_seed(2),
    )  # fmt: skip
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, cost, actions, _ = rollout(model, tensors, samples=SAMPLES)
    assert cost.dtype == torch.float32
    for row, routes in enumerate(plans_from_actions(actions)):
        problem = to_problem(days, row // SAMPLES)
        plan = Plan(routes=[np.array(r) for r in routes], planner="learned", solve_s=0.0)
        assert check_plan(problem, plan) == []
        assert float(cost[row]) == pytest.approx(plan_cost(problem, plan), rel=1e-5, abs=1.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_where_none_exists_is_refused():
    with pytest.raises(TrainingError, match="--device cpu"):
        resolve_device("cuda")
    with pytest.raises(TrainingError, match="use auto, cpu"):
        resolve_device("tpu")
    assert resolve_device("auto") == torch.device("cpu")


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
SMALL_RUN = ["--batch-size", "4", "--samples", "2", "--dim", "32", "--heads", "2", "--layers", "1"]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    """``torchrun`` with two processes of ``python -m generative.train ARGS``."""
    command = [*TORCHRUN, "-m", "generative.train", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_torchrun_trains_with_two_processes_and_resumes_only_with_two(days, tmp_path):
    from generative.checkpoint import CheckpointError, load_checkpoint
    from generative.instances import write_instances
    from generative.train import CHECKPOINT_NAME, TrainConfig, train

    data = write_instances(days, tmp_path / "days.npz")
    run = tmp_path / "run"
    result = _torchrun(str(data), "--out", str(run), "--steps", "3", *SMALL_RUN, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    saved = load_checkpoint(run / CHECKPOINT_NAME)
    assert saved["step"] == 3 and len(saved["torch_generators"]) == 2
    # the two processes sampled with their own generators
    assert not torch.equal(*saved["torch_generators"])
    with pytest.raises(CheckpointError, match="same number of processes"):
        train(days, TrainConfig(steps=3, batch_size=4, samples=2), model=PlannerNet(SMALL),
              run_dir=run, resume=True)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_torchrun_asked_for_a_gpu_where_none_exists_says_so_once_and_uses_the_cpu(days, tmp_path):
    from generative.checkpoint import load_checkpoint
    from generative.instances import write_instances
    from generative.train import CHECKPOINT_NAME

    data = write_instances(days, tmp_path / "days.npz")
    run = tmp_path / "run"
    result = _torchrun(
        str(data), "--out", str(run), "--steps", "1", *SMALL_RUN, "--device", "cuda", "--bf16"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("sees no CUDA GPU") == 1
    assert "Training on the CPU (gloo) instead" in result.stderr
    assert "Traceback" not in result.stderr
    assert load_checkpoint(run / CHECKPOINT_NAME)["trained_on"]["device"] == "cpu"
    # a problem every process finds is said once, not once per process
    missing = _torchrun(str(tmp_path / "none.npz"), "--out", str(tmp_path / "other"))
    assert missing.returncode != 0 and missing.stderr.count("no such instance file") == 1
