"""A corpus of training days from many places, drawn in parallel processes, resumable.

A model meant for any city learns from many places and day shapes. :func:`plan_corpus` lays
out *draws*: each one place (a city whole, a square window of a few kilometres cut from a
large one, or a synthetic town: :mod:`cities.areas`), one number of bins, one fleet (trucks,
capacity, shift, unloading time), one depot and disposal site (where the OSM file puts them, or
two random junctions), bins placed for that size (or, for a city whole, its own bins), and a
seed. :func:`build_corpus` turns every draw into an instance file
(:mod:`generative.instances`: a run of the waste twin, its working days; with
``reference_s``, PyVRP's plan of each day too) in a pool of processes, with progress reported
as files finish. Files are written atomically and named by draw, and the plan is kept in the
folder (``corpus.json``), so an interrupted build, started again, draws only what is missing.

Training reads the folder's files as they are (``twin train FOLDER``); this module needs the
GIS stack, training does not.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from cities.errors import TwinError
from generative.atomic import write_atomic
from generative.data import CORPUS_MANIFEST
from generative.processes import end_with_parent, stop_workers

__all__ = [
    "MANIFEST",
    "PLACE_KINDS",
    "CorpusError",
    "Draw",
    "build_corpus",
    "draw_days",
    "plan_corpus",
]

MANIFEST = CORPUS_MANIFEST
"""The plan of a corpus, kept in its folder."""

PLACE_KINDS = ("city", "window", "synthetic")
"""Kinds of places: a city whole, a window cut from one, a synthetic town."""

RESIDENTS_PER_BIN = 18.0
"""Residents per placed container (:data:`agents.waste.bins.RESIDENTS_PER_BIN`); a draw's
population is set from its number of bins with it, so that bins fill as fast as in a city."""


class CorpusError(TwinError):
    """A corpus that cannot be planned or built as asked; the message names the fix."""


@dataclass(frozen=True)
class Draw:
    """One file of a corpus: where its days come from and what they look like."""

    name: str
    kind: str  # one of PLACE_KINDS
    city: str | None  # name or path (city, window)
    centre_xy: tuple[float, float] | None  # window centre, metres in the city's CRS
    size_m: float | None  # window side
    synthetic_seed: int | None
    blocks: tuple[int, int] | None  # synthetic town's grid
    n_bins: int
    n_days: int
    n_trucks: int
    capacity_kg: float
    shift_s: float
    unload_s: float
    random_sites: bool
    seed: int
    reference_s: float = 0.0
    town_km: float | None = None  # synthetic town's side
    city_bins: bool = False  # a city whole with its own bins, as its waste twin places them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draw:
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


@cache
def _city(name: str):
    from cities.city import load_city

    return load_city(name)


def plan_corpus(
    cities: Sequence[str],
    *,
    draws: int,
    days_per_draw: int,
    seed: int = 0,
    bins: tuple[int, int] = (50, 500),
    trucks: tuple[int, int] = (1, 8),
    capacity_kg: tuple[float, float] = (6_000.0, 14_000.0),
    shift_h: tuple[float, float] = (6.0, 10.0),
    unload_min: tuple[float, float] = (10.0, 20.0),
    kinds: dict[str, float] | None = None,
    window_km: tuple[float, float] = (2.0, 8.0),
    town_km: tuple[float, float] = (1.5, 25.0),
    random_sites: float = 0.7,
    city_bins: bool = False,
    reference_s: float = 0.0,
) -> list[Draw]:
    """Lay out ``draws`` draws of ``days_per_draw`` days each over ``cities`` (names or paths),
    windows of them and synthetic towns.

    Parameters
    ----------
    cities
        Real places (whole, and windows of those larger than a window).
    draws, days_per_draw
        Files, and days in each.
    seed
        The same seed, the same plan.
    bins, trucks, capacity_kg, shift_h, unload_min
        Ranges of each draw's figures: bins log-uniform, fleet about one truck per 65 bins
        (× 0.5–2.5, within ``trucks``; in three draws of ten any fleet of the range, as a city's
        quiet days have few bins and all its trucks), the others uniform.
    kinds
        Shares of the place kinds (default: city 0.35, window 0.35, synthetic 0.3).
    window_km
        Range of a window's side.
    town_km
        Range of a synthetic town's side (log-uniform; its blocks sized to fit): from a dense
        centre to a spread-out rural district, so that the travel-time scales of real places,
        from Helsinki's centre to Alpine valleys, lie inside the corpus's.
    random_sites
        Share of draws with depot and disposal site at random junctions (the others where the
        OSM file puts them).
    city_bins
        A city whole gets its own bins, as its waste twin places them (residents estimated from
        its buildings, OSM containers where mapped; a day's bins capped at them), not bins
        placed for the day's size: the days the twin plans (``twin finetune``'s default).
    reference_s
        Seconds of PyVRP per day, for the days' reference costs (validation) and labels.

    Raises
    ------
    CorpusError
        Impossible counts or ranges, or no city given while cities or windows are asked for.
    """
    kinds = dict(kinds or {"city": 0.35, "window": 0.35, "synthetic": 0.3})
    _check_plan(cities, draws, days_per_draw, bins, trucks, capacity_kg, shift_h, kinds)
    rng = np.random.default_rng(seed)
    shares = np.array([kinds.get(k, 0.0) for k in PLACE_KINDS], dtype=np.float64)
    shares /= shares.sum()
    large = [c for c in cities if _spans(c) >= 2 * window_km[0] * 1000]
    plan = []
    for index in range(draws):
        kind = PLACE_KINDS[int(rng.choice(len(PLACE_KINDS), p=shares))]
        if kind == "window" and not large:
            kind = "city" if cities else "synthetic"
        # drawn a little past the top and clipped: the largest size is trained on too
        n_bins = min(bins[1], round(_log_uniform(rng, bins[0], bins[1] * 1.05)))
        fleet = n_bins / 65.0 * rng.uniform(0.5, 2.5)
        if rng.random() < 0.3:
            # a city's fleet does not shrink on a quiet day: any fleet for any size
            fleet = rng.integers(trucks[0], trucks[1] + 1)
        place: dict[str, Any] = {
            "city": None, "centre_xy": None, "size_m": None, "synthetic_seed": None,
            "blocks": None, "town_km": None,
        }  # fmt: skip
        if kind == "city":
            place["city"] = str(cities[int(rng.integers(len(cities)))])
        elif kind == "window":
            place.update(_window(rng, large, window_km))
        else:
            # about 2.5 junctions per bin: room for the bins' stops on local streets
            side = max(8, round(math.sqrt(2.5 * n_bins)))
            place.update(synthetic_seed=int(rng.integers(2**31)), blocks=(side, side))
            place["town_km"] = round(_log_uniform(rng, *town_km), 2)
        label = Path(place["city"]).name.split(".")[0] if place["city"] else "synthetic"
        plan.append(
            Draw(
                name=f"{index:05d}-{label}-{kind}",
                kind=kind,
                **place,
                n_bins=int(n_bins),
                n_days=int(days_per_draw),
                n_trucks=int(np.clip(round(fleet), trucks[0], trucks[1])),
                capacity_kg=round(float(rng.uniform(*capacity_kg)), -2),
                shift_s=round(float(rng.uniform(*shift_h)) * 4) / 4 * 3600.0,
                unload_s=round(float(rng.uniform(*unload_min))) * 60.0,
                random_sites=bool(rng.random() < random_sites),
                seed=int(rng.integers(2**31)),
                reference_s=float(reference_s),
                city_bins=bool(city_bins and kind == "city"),
            )
        )
    return plan


def _check_plan(cities, draws, days_per_draw, bins, trucks, capacity_kg, shift_h, kinds) -> None:
    problems = []
    if draws < 1 or days_per_draw < 1:
        problems.append(f"draws and days per draw must be ≥ 1 (got {draws}, {days_per_draw})")
    if not 2 <= bins[0] <= bins[1]:
        problems.append(f"bins range {bins}: need 2 ≤ least ≤ most")
    if not 1 <= trucks[0] <= trucks[1]:
        problems.append(f"trucks range {trucks}: need 1 ≤ least ≤ most")
    if not 0 < capacity_kg[0] <= capacity_kg[1]:
        problems.append(f"capacity range {capacity_kg}: need 0 < least ≤ most")
    if not 0 < shift_h[0] <= shift_h[1] <= 24:
        problems.append(f"shift range {shift_h} h: need 0 < least ≤ most ≤ 24")
    unknown = sorted(set(kinds) - set(PLACE_KINDS))
    if unknown or not sum(kinds.values()) > 0 or min(kinds.values(), default=0) < 0:
        problems.append(f"place kinds {kinds}: shares ≥ 0 of {', '.join(PLACE_KINDS)}, not all 0")
    if not cities and (kinds.get("city", 0) > 0 or kinds.get("window", 0) > 0):
        problems.append("cities or windows asked for, but no city given (--city)")
    if problems:
        raise CorpusError("; ".join(problems) + ".")


def _spans(city: str) -> float:
    """The shorter side of a city's bounding box, metres."""
    network = _city(city).network
    return min(np.ptp(network.node_x), np.ptp(network.node_y))


def _window(rng: np.random.Generator, large: Sequence[str], window_km) -> dict[str, Any]:
    """A window of one of the ``large`` cities, centred on a junction chosen by home weight,
    with enough streets (tried a few times, then the largest size)."""
    from cities.areas import MIN_WINDOW_NODES, largest_strong_component

    city = str(large[int(rng.integers(len(large)))])
    loaded = _city(city)
    network, weight = loaded.network, loaded.context.home_weight
    size = float(rng.uniform(*window_km)) * 1000
    for attempt in range(20):
        node = int(rng.choice(network.n_nodes, p=weight / weight.sum()))
        cx, cy = float(network.node_x[node]), float(network.node_y[node])
        size = size if attempt < 10 else window_km[1] * 1000
        inside = (np.abs(network.node_x - cx) <= size / 2) & (
            np.abs(network.node_y - cy) <= size / 2
        )
        if largest_strong_component(network, inside).sum() >= MIN_WINDOW_NODES:
            break
    return {"city": city, "centre_xy": (round(cx, 1), round(cy, 1)), "size_m": round(size)}


def _place(draw: Draw):
    """The :class:`~cities.city.City` a draw's days come from."""
    from cities.areas import city_window, synthetic_city

    if draw.kind == "synthetic":
        block = draw.town_km * 1000 / max(draw.blocks) if draw.town_km else 155.0
        return synthetic_city(
            draw.synthetic_seed, blocks=tuple(draw.blocks), spacing_m=(0.6 * block, 1.4 * block)
        )
    city = _city(draw.city)
    if draw.kind == "window":
        return city_window(city, centre_xy=draw.centre_xy, size_m=draw.size_m)
    return city


def draw_days(draw: Draw):
    """The days of one draw (an :class:`~generative.data.InstanceBatch`, with PyVRP's
    references when the draw asks for them).

    A place with fewer bin stops than the draw asks for (a small town, a sparse window) gets
    more residents, up to eight times; failing that, its days have as many bins as it holds.
    """
    from agents.waste.bins import place_bins
    from agents.waste.sites import Sites, locate_sites
    from generative.instances import sample_instances, with_references

    place = _place(draw)
    network = place.network
    rng = np.random.default_rng(draw.seed)
    n_bins = draw.n_bins
    population = n_bins * RESIDENTS_PER_BIN * rng.uniform(1.2, 2.0)
    if draw.city_bins:
        population = None  # the twin's: residents estimated from the buildings
        placed = len(place_bins(network, place.context, rng=np.random.default_rng(draw.seed)))
    else:
        for _ in range(4):
            placed = len(place_bins(network, place.context, rng=np.random.default_rng(draw.seed),
                                    population=population, use_osm=False))  # fmt: skip
            if placed >= n_bins:
                break
            population *= 2.0
    n_bins = min(n_bins, placed)
    if draw.random_sites:
        depot, disposal = (int(v) for v in rng.choice(network.n_nodes, size=2, replace=False))
        sites = Sites(depot, disposal, "random junction", "random junction")
    else:
        sites = locate_sites(network, place.context, city=place.name)
    batch = sample_instances(
        place, n_bins=n_bins, n_instances=draw.n_days, seed=draw.seed, n_trucks=draw.n_trucks,
        population=population, truck_capacity_kg=draw.capacity_kg, shift_s=draw.shift_s,
        unload_s=draw.unload_s, sites=sites, use_osm_bins=draw.city_bins,
        draw={**draw.to_dict(), "n_bins_drawn": n_bins},
    )  # fmt: skip
    if draw.reference_s > 0:
        batch = with_references(batch, time_s=draw.reference_s, seed=draw.seed)
    return batch


def _build_one(draw: Draw, folder: str) -> tuple[str, int]:
    """Worker: draw one file into ``folder`` (atomically); returns its name and days."""
    from generative.instances import write_instances

    batch = draw_days(draw)
    write_instances(batch, Path(folder) / f"{draw.name}.npz")
    return draw.name, len(batch)


def _intact(path: Path) -> bool:
    """Whether ``path`` is an instance file whose archive can be opened (its directory, at the
    end of the file, is what a file cut short lacks); a broken one is removed."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        names = set()
    if "meta" in names:
        return True
    path.unlink(missing_ok=True)
    return False


def _write_manifest(folder: Path, draws: Sequence[Draw], settings: dict[str, Any]) -> None:
    payload = {"settings": settings, "draws": [d.to_dict() for d in draws]}
    # as the corpus's files are written (an ordinary file, not mkstemp's private one): others
    # on a shared file system read the corpus, and may finish it
    write_atomic(
        folder / MANIFEST,
        lambda staging: Path(staging).write_text(json.dumps(payload, indent=1), encoding="utf-8"),
    )


def build_corpus(
    draws: Sequence[Draw],
    folder: str | os.PathLike[str],
    *,
    workers: int = 2,
    settings: dict[str, Any] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Draw every file of ``draws`` into ``folder``, ``workers`` processes at a time.

    Files already there (a build interrupted, and started again) are kept; the folder's plan
    must be the same. ``on_progress(done, total, name)`` is called as files finish. Returns
    every file of the corpus.

    Raises
    ------
    CorpusError
        A folder holding another corpus, or draws that failed (named, with their errors; the
        files that were drawn stay, a rerun retries the others).
    """
    folder = Path(folder)
    if workers < 1:  # before the folder is made: a refused call writes nothing
        raise CorpusError(f"workers must be ≥ 1, got {workers} (--workers).")
    if folder.exists() and not folder.is_dir():
        raise CorpusError(f"{folder} is a file: name a folder for the corpus.")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    wanted = [d.to_dict() for d in draws]
    if manifest.exists():
        try:
            # through Draw: a plan written before a field was added reads with its default
            held = [Draw.from_dict(d).to_dict() for d in json.loads(manifest.read_text())["draws"]]
        except (ValueError, KeyError, TypeError):
            held = None
        if json.loads(json.dumps(held)) != json.loads(json.dumps(wanted)):
            raise CorpusError(
                f"{folder} holds another corpus ({MANIFEST} differs): build into a new folder, "
                "or ask for the same corpus to finish it."
            )
    else:
        _write_manifest(folder, draws, settings or {})
    for stale in folder.glob(".*.npz*"):  # staging files of a build killed while writing
        stale.unlink(missing_ok=True)
    # a file cut short (a full disk, a copy broken off) is drawn again, not kept as done
    missing = [d for d in draws if not _intact(folder / f"{d.name}.npz")]
    total, done = len(draws), len(draws) - len(missing)
    if on_progress is not None:
        on_progress(done, total, "")
    failures: dict[str, str] = {}
    if missing:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"),
            initializer=end_with_parent, initargs=(os.getpid(),),
        ) as pool:  # fmt: skip
            pending: dict[Future, Draw] = {
                pool.submit(_build_one, d, str(folder)): d for d in missing
            }
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        draw = pending.pop(future)
                        error = future.exception()
                        if error is not None:
                            failures[draw.name] = f"{type(error).__name__}: {error}"
                        done += 1
                        if on_progress is not None:
                            on_progress(done, total, draw.name)
            except BaseException:
                stop_workers(pool)
                raise
    if failures:
        listed = "; ".join(f"{name}: {error}" for name, error in sorted(failures.items())[:5])
        raise CorpusError(
            f"{len(failures)} of {total} draws failed ({listed}); the others are in {folder}: "
            "run the same command again to retry them."
        )
    return [folder / f"{d.name}.npz" for d in draws]


def with_days(draws: Sequence[Draw], n_days: int) -> list[Draw]:
    """The same draws with ``n_days`` days each."""
    return [replace(d, n_days=n_days) for d in draws]
