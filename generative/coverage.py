"""What a planner was trained on, and whether a day lies inside it (numpy only).

A checkpoint is not tied to one city: it carries the range of days it learned from
(:class:`TrainingRange`: the places, and the least and most bins, trucks, shift, truck capacity
and travel-time scale of its training days). A day is inside the range when each of its figures
is; :meth:`TrainingRange.outside` says which are not, in words, so that the planner can refuse
the day, plan it with PyVRP instead, or let the model try and mark the plan
(:class:`generative.propose.LearnedPlanner`'s ``outside_range``).

The travel-time scale of a day is the mean travel time between its locations (depot, disposal
site, bins), the unit the network counts travel in
(:meth:`generative.model.PlannerNet.travel_unit`): a town of short hops and a valley of long
drives differ there first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FIGURES", "TrainingRange", "day_figures", "travel_scale_s"]

FIGURES = {
    "n_bins": ("bins", ""),
    "n_trucks": ("trucks", ""),
    "shift_s": ("shift", " s"),
    "capacity_kg": ("truck capacity", " kg"),
    "travel_scale_s": ("travel-time scale (mean travel time between the day's locations)", " s"),
}
"""The figures a range bounds, with their names in messages and their units."""


def travel_scale_s(duration_s: np.ndarray) -> np.ndarray:
    """(B,) the mean of each day's (B, L, L) travel-time matrix, seconds, with unreachable
    pairs left out: the scale the network counts travel in."""
    duration = np.asarray(duration_s, dtype=np.float64)
    finite = np.isfinite(duration)
    total = np.where(finite, duration, 0.0).sum(axis=(-2, -1))
    return np.maximum(total / np.maximum(finite.sum(axis=(-2, -1)), 1), 1.0)


def day_figures(
    *, n_bins: int, n_trucks: int, shift_s: float, capacity_kg: float, duration_s: np.ndarray
) -> dict[str, float]:
    """One day's figures, as :data:`FIGURES` names them."""
    return {
        "n_bins": float(n_bins),
        "n_trucks": float(n_trucks),
        "shift_s": float(shift_s),
        "capacity_kg": float(capacity_kg),
        "travel_scale_s": float(travel_scale_s(np.asarray(duration_s)[None])[0]),
    }


@dataclass(frozen=True)
class TrainingRange:
    """The days a planner was trained on.

    Attributes
    ----------
    places
        One entry per place days were drawn from: ``name``, ``sha256`` (of the OSM file, or of
        the window or synthetic town) and ``days``.
    bounds
        Least and most of each figure of :data:`FIGURES` over the training days.
    days
        Training days in all (each file's days counted once, however many runs trained on it).
    notes
        Remarks on how the range came about (shown with it).
    only_places
        Days of other places are outside the range too (the first checkpoints were trained for
        one city).
    """

    places: tuple[dict[str, Any], ...]
    bounds: dict[str, tuple[float, float]]
    days: int
    notes: tuple[str, ...] = field(default=())
    only_places: bool = False
    draws: tuple[tuple[str, str, int], ...] = field(default=())
    """Each training file once: (a digest of its place, seed, draw and size; its place's
    ``sha256``; its days), so that ranges of runs on the same files merge without counting
    their days twice."""

    @classmethod
    def from_days(cls, day_sets: Iterable[Any]) -> TrainingRange:
        """The range of training sets (objects with ``meta``, ``n_bins``, ``n_trucks``,
        ``shift_s``, ``capacity_kg`` arrays and :func:`travel_scale_s` of their days as
        ``travel_scale_s()``, as :mod:`generative.data` reads them)."""
        names: dict[str, str] = {}
        draws: dict[str, tuple[str, str, int]] = {}
        lows: dict[str, float] = {}
        highs: dict[str, float] = {}
        for days in day_sets:
            meta = days.meta
            place = str(meta.get("city_sha256"))
            names.setdefault(place, str(meta.get("city")))
            draw = meta.get("draw") or {}
            identity = [place, meta.get("seed"), draw.get("name"), days.n_bins, len(days)]
            key = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:16]
            draws[key] = (key, place, len(days))
            values = {
                "n_bins": np.array([days.n_bins], dtype=np.float64),
                "n_trucks": np.asarray(days.n_trucks, dtype=np.float64),
                "shift_s": np.asarray(days.shift_s, dtype=np.float64),
                "capacity_kg": np.asarray(days.capacity_kg, dtype=np.float64),
                "travel_scale_s": np.asarray(days.travel_scale_s(), dtype=np.float64),
            }
            for name, value in values.items():
                lows[name] = min(lows.get(name, np.inf), float(value.min()))
                highs[name] = max(highs.get(name, -np.inf), float(value.max()))
        if not draws or not sum(d[2] for d in draws.values()):
            raise ValueError("a training range needs at least one day")
        bounds = {name: (lows[name], highs[name]) for name in FIGURES}
        return cls._of_draws(tuple(draws.values()), names, bounds, ())

    @classmethod
    def _of_draws(
        cls, draws: tuple[tuple[str, str, int], ...], names: Mapping[str, str],
        bounds: dict[str, tuple[float, float]], notes: tuple[str, ...],
    ) -> TrainingRange:  # fmt: skip
        places: dict[str, dict[str, Any]] = {}
        for _, place, days in draws:
            entry = places.setdefault(place, {"name": names.get(place), "sha256": place, "days": 0})
            entry["days"] += int(days)
        total = sum(int(d[2]) for d in draws)
        return cls(tuple(places.values()), bounds, total, notes, False, draws)

    def outside(
        self, figures: Mapping[str, float], *, place_sha256: str | None = None
    ) -> list[str]:
        """What of a day (:func:`day_figures`) of the place with content hash ``place_sha256``
        lies outside this range, in words; [] if nothing."""
        reasons = []
        known = {str(p["sha256"]) for p in self.places}
        if self.only_places and place_sha256 is not None and place_sha256 not in known:
            names = ", ".join(str(p["name"]) for p in self.places)
            reasons.append(f"another place (the model was trained for {names} only)")
        for name, (label, unit) in FIGURES.items():
            if name not in self.bounds or name not in figures:
                continue
            low, high = self.bounds[name]
            value = figures[name]
            # a hair of slack: figures stored as float32 in the training files
            if not low * (1 - 1e-4) - 1e-6 <= value <= high * (1 + 1e-4) + 1e-6:
                reasons.append(f"{label} {value:.0f}{unit} (trained on {low:.0f}–{high:.0f}{unit})")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "places": [dict(p) for p in self.places],
            "bounds": {k: [float(lo), float(hi)] for k, (lo, hi) in self.bounds.items()},
            "days": int(self.days),
            "notes": list(self.notes),
            "only_places": bool(self.only_places),
            "draws": [list(d) for d in self.draws],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingRange:
        try:
            bounds = {str(k): (float(v[0]), float(v[1])) for k, v in data["bounds"].items()}
            places = tuple(
                {"name": p.get("name"), "sha256": p.get("sha256"), "days": int(p.get("days", 0))}
                for p in data["places"]
            )
            return cls(
                places=places, bounds=bounds, days=int(data["days"]),
                notes=tuple(str(n) for n in data.get("notes", ())),
                only_places=bool(data.get("only_places", False)),
                draws=tuple((str(k), str(p), int(n)) for k, p, n in data.get("draws", ())),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ValueError(f"not a training range ({type(err).__name__}: {err})") from None

    def describe(self) -> str:
        """One line: places (cities, windows cut from them, synthetic towns), days, bounds."""
        names = [str(p["name"]) for p in self.places]
        towns = sum(name.startswith("synthetic-") for name in names)
        windows = sum("@" in name for name in names)
        cities = sorted({n.split("@")[0] for n in names if not n.startswith("synthetic-")})
        kinds = [", ".join(cities)] if cities else []
        if windows:
            kinds.append(f"{windows} windows of them")
        if towns:
            kinds.append(f"{towns} synthetic towns")
        parts = [f"{self.days} days of {len(names)} places ({'; '.join(kinds)})"]
        for name, (label, unit) in FIGURES.items():
            if name in self.bounds:
                low, high = self.bounds[name]
                parts.append(f"{label.split(' (')[0]} {low:.0f}–{high:.0f}{unit}")
        return "; ".join(parts)

    @staticmethod
    def merge(ranges: Sequence[TrainingRange]) -> TrainingRange:
        """One range covering several (a model fine-tuned from another learned from both); a
        file two runs trained on counts once."""
        names = {str(p["sha256"]): p.get("name") for r in ranges for p in r.places}
        draws = {d[0]: d for r in ranges for d in r.draws}
        for r in ranges:
            if not r.draws:  # a range written before ranges kept their files: by place
                for p in r.places:
                    key = f"place:{p['sha256']}"
                    draws[key] = (key, str(p["sha256"]), int(p.get("days", 0)))
        bounds = {}
        for name in FIGURES:
            values = [r.bounds[name] for r in ranges if name in r.bounds]
            if values:
                bounds[name] = (min(v[0] for v in values), max(v[1] for v in values))
        notes = tuple(dict.fromkeys(n for r in ranges for n in r.notes))
        # a model fine-tuned on other places has learned them too: the union bounds it
        return TrainingRange._of_draws(tuple(draws.values()), names, bounds, notes)
