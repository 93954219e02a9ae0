"""A checkpoint checked in the waste twin: its runs are the twin's own, and the verdict adopts
a model only where it drives less without letting more bins overflow."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from generative.propose import GENERAL_CHECKPOINT
from tests.conftest import run_twin
from twin.api import run_waste
from twin.errors import TwinError
from twin.learned_check import OVERFLOW_SLACK, ROLES, TwinCheck, check_in_twin


def test_the_checks_runs_are_the_twins_and_a_model_is_no_gain_on_itself(helsinki):
    check = check_in_twin(
        helsinki, GENERAL_CHECKPOINT, reference=GENERAL_CHECKPOINT, days=5, seeds=(0, 1),
        trucks=2,
    )  # fmt: skip
    runs = check.runs.set_index(["role", "seed"])
    assert len(runs) == 6
    # the very runs `twin waste` makes with those settings
    alone = run_waste(helsinki, days=5, trucks=2, seed=1, planner="learned",
                      checkpoint=GENERAL_CHECKPOINT)  # fmt: skip
    assert runs.loc[("candidate", 1), "truck_km"] == alone.kpis["truck_km"]
    pyvrp = run_waste(helsinki, days=5, trucks=2, seed=0, planner="pyvrp")
    assert runs.loc[("pyvrp", 0), "truck_km"] == pyvrp.kpis["truck_km"]
    summary = check.summary()
    assert summary["km_change_pct"] == {"mean": 0.0, "se": 0.0}
    assert summary["km_to_pyvrp_pct"]["candidate"] == summary["km_to_pyvrp_pct"]["reference"]
    assert summary["days_by_pyvrp"] == {"candidate": 0, "reference": 0}  # within its range
    assert not summary["adopt"] and "in 0 of 2 runs, not in every one" in summary["reason"]
    with pytest.raises(TwinError, match="needs seeds and days"):
        check_in_twin(helsinki, GENERAL_CHECKPOINT, seeds=())


def _check(candidate_km, candidate_overflow, second_km=None):
    """A check of two seeds: the reference drives 100 and 200 km with 2 overflows a run; the
    candidate ``candidate_km`` times that (``second_km`` times in the second run, if given)."""
    rows = []
    for seed, reference_km in ((0, 100.0), (1, 200.0)):
        factor = second_km if seed == 1 and second_km is not None else candidate_km
        for role, km, overflow in (
            ("candidate", factor * reference_km, candidate_overflow),
            ("reference", reference_km, 2.0),
            ("pyvrp", 0.8 * reference_km, 0.0),
        ):
            rows.append({"role": role, "seed": seed, "days": 28, "truck_km": km,
                         "service_level": 0.999, "overflow_bin_days": overflow,
                         "days_by_pyvrp": 0, "wall_s": 1.0})  # fmt: skip
    return TwinCheck("x", "tuned.pt", "general.pt", pd.DataFrame(rows)).summary()


def test_the_verdict_weighs_km_against_overflows():
    less = _check(0.95, 2.0 + OVERFLOW_SLACK)  # 5 % less, overflows within the slack
    assert less["km_change_pct"]["mean"] == pytest.approx(-5.0)
    assert less["km_to_pyvrp_pct"]["candidate"]["mean"] == pytest.approx(100 * (0.95 / 0.8 - 1))
    assert less["adopt"] and "fewer truck-km in every run" in less["reason"]
    assert less["runs_better"] == 2
    # less on average, but not in every run: not adopted
    mixed = _check(0.90, 2.0, second_km=1.01)
    assert mixed["km_change_pct"]["mean"] == pytest.approx(-4.5)
    assert not mixed["adopt"] and "in 1 of 2 runs" in mixed["reason"]
    overflowing = _check(0.95, 2.0 + OVERFLOW_SLACK + 0.5)
    assert not overflowing["adopt"]
    assert "more bins overflow (3.5 bin-days a run against 2.0)" in overflowing["reason"]
    assert not _check(1.01, 0.0)["adopt"]
    # one run: no standard error, and the summary is still JSON
    one = TwinCheck("x", "a.pt", "b.pt", pd.DataFrame(
        [{"role": role, "seed": 0, "days": 7, "truck_km": km, "service_level": 1.0,
          "overflow_bin_days": 0, "days_by_pyvrp": 0, "wall_s": 1.0}
         for role, km in (("candidate", 90.0), ("reference", 100.0), ("pyvrp", 80.0))]
    )).summary()  # fmt: skip
    assert one["km_change_pct"] == {"mean": pytest.approx(-10.0), "se": None} and one["adopt"]
    json.dumps(one, allow_nan=False)
    # nothing driven (a check too short for any bin to be due): no change, and still JSON
    idle = TwinCheck("x", "a.pt", "b.pt", pd.DataFrame(
        [{"role": role, "seed": 0, "days": 1, "truck_km": 0.0, "service_level": 1.0,
          "overflow_bin_days": 0, "days_by_pyvrp": 0, "wall_s": 1.0} for role in ROLES]
    )).summary()  # fmt: skip
    assert idle["km_change_pct"] == {"mean": None, "se": None} and not idle["adopt"]
    json.dumps(idle, allow_nan=False)


def test_finetune_refuses_an_impossible_check_before_training(tmp_path):
    refused = run_twin("finetune", "helsinki", "--twin-days", "-1", "--out", str(tmp_path / "f"))
    assert refused.returncode == 2 and "--twin-days" in refused.stderr
    assert not (tmp_path / "f").exists()
