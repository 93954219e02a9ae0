"""A learned planner's checkpoint checked where it will be used: in the city's waste twin.

A model fine-tuned for a city can gain on the benchmark's days and still do worse in the twin,
whose days are larger and shaped by the model's own earlier choices (in Andorra a tuned model
drove 8 % less than the general one but let ten times as many bins overflow: BENCHMARKS.md,
"Learned planner: any city"). :func:`check_in_twin` runs the twin's waste simulation with the
candidate checkpoint, with the one it would replace and with the PyVRP planner, on the same
seeds, and says whether to adopt the candidate: it must drive fewer truck-km than the reference
in every run (paired by seed: with three seeds a model no better than the reference passes by
chance one time in eight, where a mean below zero would pass half the time) without letting
more bins overflow (mean overflowing bin-days a run, within :data:`OVERFLOW_SLACK`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cities.city import City, load_city
from twin.api import learned_checkpoint, run_waste
from twin.errors import TwinError

__all__ = ["OVERFLOW_SLACK", "TwinCheck", "check_in_twin"]

OVERFLOW_SLACK = 1.0
"""Overflowing bin-days a run by which the candidate may exceed the reference: a bin that
overflows once in a month's run is within what seeds alone move (`general.pt`'s Kotka runs of
seeds 0–2, 3 trucks: 0, 0 and 1)."""

ROLES = ("candidate", "reference", "pyvrp")


@dataclass(frozen=True)
class TwinCheck:
    """The runs of :func:`check_in_twin` and its verdict."""

    city: str
    candidate: str
    reference: str
    runs: pd.DataFrame
    """One row per role (``candidate``, ``reference``, ``pyvrp``) and seed: ``truck_km``,
    ``service_level``, ``overflow_bin_days``, ``days_by_pyvrp`` (days outside the model's
    range, planned by PyVRP), ``wall_s``."""

    def _paired_km_change_pct(self, role: str, against: str) -> np.ndarray:
        km = self.runs.pivot(index="seed", columns="role", values="truck_km")
        return 100.0 * (km[role] / km[against] - 1.0).to_numpy()

    def summary(self) -> dict[str, Any]:
        """Means over the seeds, the paired changes (mean and standard error), the verdict."""
        change = self._paired_km_change_pct("candidate", "reference")
        means = self.runs.groupby("role")[
            ["truck_km", "service_level", "overflow_bin_days", "wall_s"]
        ].mean()
        overflow = {role: float(means.loc[role, "overflow_bin_days"]) for role in ROLES}
        runs_better = int((change < 0.0).sum())
        drives_less = runs_better == len(change)
        overflows_more = overflow["candidate"] > overflow["reference"] + OVERFLOW_SLACK
        if drives_less and not overflows_more:
            reason = "it drives fewer truck-km in every run and lets no more bins overflow"
        elif not drives_less:
            reason = (
                f"it drives fewer truck-km than the reference in {runs_better} of "
                f"{len(change)} runs, not in every one"
            )
        else:
            reason = (
                f"it lets more bins overflow ({overflow['candidate']:.1f} bin-days a run against "
                f"{overflow['reference']:.1f})"
            )
        return {
            "city": self.city,
            "candidate": self.candidate,
            "reference": self.reference,
            "seeds": sorted(int(s) for s in self.runs["seed"].unique()),
            "days": int(self.runs["days"].iloc[0]),
            "truck_km": {role: float(means.loc[role, "truck_km"]) for role in ROLES},
            "service_level": {role: float(means.loc[role, "service_level"]) for role in ROLES},
            "overflow_bin_days": overflow,
            "wall_s": {role: float(means.loc[role, "wall_s"]) for role in ROLES},
            # days outside a model's range, planned by PyVRP: the check says less about it
            "days_by_pyvrp": {
                role: int(self.runs.loc[self.runs["role"] == role, "days_by_pyvrp"].sum())
                for role in ("candidate", "reference")
            },
            "km_change_pct": _mean_se(change),
            "runs_better": runs_better,
            "km_to_pyvrp_pct": {
                role: _mean_se(self._paired_km_change_pct(role, "pyvrp"))
                for role in ("candidate", "reference")
            },
            "adopt": drives_less and not overflows_more,
            "reason": reason,
        }


def _mean_se(values: np.ndarray) -> dict[str, float | None]:
    """Mean and standard error (``None`` for one value: the summary stays valid JSON)."""
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    mean = float(np.mean(values))
    # strict JSON has no NaN
    return {
        "mean": mean if np.isfinite(mean) else None,
        "se": se if se is None or np.isfinite(se) else None,
    }


def check_in_twin(
    city: str | os.PathLike[str] | City,
    candidate: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    days: int = 28,
    seeds: Sequence[int] = (0, 1, 2),
    trucks: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> TwinCheck:
    """Run the city's waste twin with ``candidate``, ``reference`` and PyVRP; see the module.

    Parameters
    ----------
    city
        The city (name, OSM file or loaded).
    candidate
        The checkpoint to check (a fine-tuned one, say).
    reference
        The checkpoint it would replace (default: the one the twin uses for the city now).
    days, seeds, trucks
        Each run's days, the seeds (one run per role and seed), and the fleet (default: sized
        to the city's waste, as the twin sizes it).
    on_progress
        Called with the fraction of runs done.

    Raises
    ------
    twin.errors.TwinError
        No seeds, fewer than one day, a checkpoint that is missing or cannot be used.
    """
    if not seeds or days < 1:
        raise TwinError(f"a check in the twin needs seeds and days ≥ 1, got {list(seeds)}, {days}.")
    loaded = city if isinstance(city, City) else load_city(city)
    reference = reference if reference is not None else learned_checkpoint(
        "collection-routes", loaded
    )  # fmt: skip
    if reference is None:
        raise TwinError("no learned planner is installed to compare with: pass a reference.")
    settings = {
        "candidate": {"planner": "learned", "checkpoint": Path(candidate)},
        "reference": {"planner": "learned", "checkpoint": Path(reference)},
        "pyvrp": {"planner": "pyvrp"},
    }
    rows = []
    for i, seed in enumerate(seeds):
        for j, role in enumerate(ROLES):
            started = time.perf_counter()
            run = run_waste(loaded, days=days, trucks=trucks, seed=int(seed), **settings[role])
            if role == "reference" and run.kpis["truck_km"] == 0:
                # nothing to compare: a change of km from none is no number
                raise TwinError(
                    f"in {days} day{'s' if days > 1 else ''} the trucks drove nothing on seed "
                    f"{seed} (the bins were not yet due): check over more days, a week or more "
                    "(twin finetune --twin-days 7)."
                )
            planned_by = run.result.daily["planned_by"]
            rows.append({
                "role": role, "seed": int(seed), "days": days,
                "checkpoint": str(settings[role].get("checkpoint") or ""),
                "truck_km": run.kpis["truck_km"], "service_level": run.kpis["service_level"],
                "overflow_bin_days": run.kpis["overflow_bin_days"],
                "days_by_pyvrp": int((planned_by == "pyvrp").sum()) if role != "pyvrp" else 0,
                "wall_s": time.perf_counter() - started,
            })  # fmt: skip
            if on_progress:
                on_progress((i * len(ROLES) + j + 1) / (len(seeds) * len(ROLES)))
    return TwinCheck(
        city=loaded.name, candidate=str(candidate), reference=str(reference),
        runs=pd.DataFrame(rows),
    )  # fmt: skip
