"""Instance files for training: numpy arrays only, readable on a GPU node without the GIS stack.

A file (``.npz``, written by :func:`generative.instances.write_instances`) holds a batch of daily
collection problems of one city, all with the same number of candidate bins ``N``:

``duration_s``  (B, N + 2, N + 2) float32  travel times, location 0 the depot, 1 the disposal site
``distance_m``  (B, N + 2, N + 2) float32  metres along the same paths
``xy_m``        (B, N + 2, 2)      float32  positions, metres, relative to the depot
``load_kg``     (B, N)             float32  waste in each bin that day
``prize``       (B, N)             float32  urgency prize of an optional bin, metres of driving
``required``    (B, N)             bool     must be emptied that day
``service_s``   (B, N)             float32  time to empty each bin
``capacity_kg``, ``shift_s``, ``unload_s``, ``n_trucks``  (B,)  per instance
``meta``        a JSON string: format version, city name and content hash, generator settings
``reference_m`` (B,) float32, optional: the cost of PyVRP's plan for each instance (same cost
                as the planner's: metres driven + prizes left + penalties), to measure the gap
``label_actions`` (B, T) int16, optional: PyVRP's plan as decoder actions, to imitate
``locations``   (B, N + 2) int32, optional: each location's number among all the locations of
                the draw the days come from (0 depot, 1 disposal site, then every placed bin)

Days drawn from one placement of bins share one city-wide matrix, so a file of such days
(``locations`` given) stores that matrix once, ``pool_duration_s``, ``pool_distance_m`` (M, M)
and ``pool_xy_m`` (M, 2), instead of a block per day: about 25 times smaller for 100-bin days
of the bundled city, which lets tens of thousands of training days travel to a GPU node.
Reading rebuilds every day's blocks, so readers see the same arrays either way.

Loading never unpickles (``allow_pickle=False``), so a file cannot run code.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CORPUS_MANIFEST",
    "FORMAT_VERSION",
    "InstanceBatch",
    "InstanceFileError",
    "PooledDays",
    "join_instances",
    "missing_files",
    "read_days",
    "read_instances",
    "read_joined",
]

CORPUS_MANIFEST = "corpus.json"
"""The plan a ``twin corpus`` folder keeps beside its files (:mod:`generative.corpus`)."""

FORMAT_VERSION = 2
"""Version of the instance file layout (2: matrices may be pooled); readers refuse versions
they do not know."""

READABLE_VERSIONS = (1, 2)
"""Versions :func:`read_instances` reads (1: every day's matrices stored in full)."""

ARRAYS = {
    "duration_s": 3, "distance_m": 3, "xy_m": 3, "load_kg": 2, "prize": 2, "required": 2,
    "service_s": 2, "capacity_kg": 1, "shift_s": 1, "unload_s": 1, "n_trucks": 1,
}  # fmt: skip
"""Every array of a file and its number of dimensions."""

OPTIONAL_ARRAYS = {"reference_m": 1, "label_actions": 2, "locations": 2}
"""Arrays a file may hold, and their number of dimensions."""


POOLED = {"duration_s": "pool_duration_s", "distance_m": "pool_distance_m", "xy_m": "pool_xy_m"}
"""Arrays a file may store once for all its days, and the names they are stored under."""


class InstanceFileError(ValueError):
    """An instance file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class InstanceBatch:
    """A batch of same-size daily collection problems (see the module docstring)."""

    duration_s: np.ndarray
    distance_m: np.ndarray
    xy_m: np.ndarray
    load_kg: np.ndarray
    prize: np.ndarray
    required: np.ndarray
    service_s: np.ndarray
    capacity_kg: np.ndarray
    shift_s: np.ndarray
    unload_s: np.ndarray
    n_trucks: np.ndarray
    meta: dict[str, Any]
    reference_m: np.ndarray | None = None
    label_actions: np.ndarray | None = None
    locations: np.ndarray | None = None
    nodes: np.ndarray | None = None
    """(B, N + 2) each location's node in the city's road network, in memory only (files do not
    keep it): what a proposal's route sheets are drawn on."""

    def __len__(self) -> int:
        return len(self.load_kg)

    @property
    def n_bins(self) -> int:
        return int(self.load_kg.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}

    def optional_arrays(self) -> dict[str, np.ndarray]:
        """The optional arrays this batch has."""
        return {k: getattr(self, k) for k in OPTIONAL_ARRAYS if getattr(self, k) is not None}

    def subset(self, index: np.ndarray | slice) -> InstanceBatch:
        every = {**self.arrays(), **self.optional_arrays()}
        return InstanceBatch(**{k: v[index] for k, v in every.items()}, meta=self.meta)

    def travel_scale_s(self) -> np.ndarray:
        """(B,) each day's travel-time scale (:func:`generative.coverage.travel_scale_s`)."""
        from generative.coverage import travel_scale_s

        return travel_scale_s(self.duration_s)

    def with_reference(
        self, reference_m: np.ndarray, label_actions: np.ndarray | None = None
    ) -> InstanceBatch:
        """This batch with reference costs (one per instance), and optionally the reference
        plans as actions, attached."""
        reference_m = np.asarray(reference_m, dtype=np.float32)
        if reference_m.shape != (len(self),):
            raise ValueError(f"reference_m: expected shape {(len(self),)}, got {reference_m.shape}")
        if label_actions is not None:
            label_actions = np.asarray(label_actions, dtype=np.int16)
            if label_actions.ndim != 2 or len(label_actions) != len(self):
                raise ValueError(
                    f"label_actions: expected ({len(self)}, T), got {label_actions.shape}"
                )
        return InstanceBatch(
            **self.arrays(), meta=self.meta, reference_m=reference_m,
            label_actions=label_actions, locations=self.locations,
        )  # fmt: skip

    def saved_arrays(self) -> dict[str, np.ndarray]:
        """Every array a file of this batch holds (the optional ones when present), the
        matrices pooled when the days share them (see the module docstring)."""
        saved = {**self.arrays(), **self.optional_arrays()}
        pooled = _pool(self)
        if pooled is not None:
            for name, pool_name in POOLED.items():
                del saved[name]
                saved[pool_name] = pooled[name]
        return saved


def _pool(batch: InstanceBatch) -> dict[str, np.ndarray] | None:
    """The city-wide arrays every day of ``batch`` is a block of, or ``None`` where the days do
    not share them (no ``locations``, or two days disagree about a pair)."""
    if batch.locations is None or len(batch) == 0:
        return None
    where = batch.locations.astype(np.int64)
    size = int(where.max()) + 1
    rows, cols = where[:, :, None], where[:, None, :]
    pools = {}
    for name in ("duration_s", "distance_m"):
        day_blocks = getattr(batch, name)
        pool = np.full((size, size), np.nan, dtype=day_blocks.dtype)
        pool[rows, cols] = day_blocks
        if not np.array_equal(pool[rows, cols], day_blocks):
            return None
        pools[name] = pool
    pool = np.full((size, 2), np.nan, dtype=batch.xy_m.dtype)
    pool[where] = batch.xy_m
    if not np.array_equal(pool[where], batch.xy_m):
        return None
    pools["xy_m"] = pool
    return pools


def _check_pool(contents: dict[str, np.ndarray], path: Path) -> None:
    """Raise :class:`InstanceFileError` unless a pooled file's parts fit together."""
    again = "the file is damaged: write it again with `twin instances`."
    if "locations" not in contents or not all(p in contents for p in POOLED.values()):
        raise InstanceFileError(f"{path}: pooled matrices without every part; {again}")
    where = contents["locations"].astype(np.int64)
    shapes = {p: contents[p].shape for p in POOLED.values()}
    size = shapes["pool_duration_s"][0] if shapes["pool_duration_s"] else 0
    if shapes != {"pool_duration_s": (size, size), "pool_distance_m": (size, size),
                  "pool_xy_m": (size, 2)}:  # fmt: skip
        raise InstanceFileError(f"{path}: pooled matrices of shapes {shapes}; {again}")
    if where.ndim != 2 or (where.size and not 0 <= where.min() <= where.max() < size):
        raise InstanceFileError(f"{path}: locations outside its pooled matrices; {again}")


def _unpool(contents: dict[str, np.ndarray], path: Path) -> None:
    """Rebuild every day's blocks of a pooled file in ``contents``, in place."""
    where = contents["locations"].astype(np.int64)
    rows, cols = where[:, :, None], where[:, None, :]
    contents["duration_s"] = contents.pop("pool_duration_s")[rows, cols]
    contents["distance_m"] = contents.pop("pool_distance_m")[rows, cols]
    contents["xy_m"] = contents.pop("pool_xy_m")[where]


@dataclass(frozen=True, eq=False)
class PooledDays:
    """The days of a pooled file kept pooled: each day's matrices are cut from the city-wide
    ones only when a subset is taken, so thousands of days of 500 bins fit in memory (their
    blocks alone would take gigabytes). Same interface as :class:`InstanceBatch` for training:
    ``len``, ``n_bins``, ``meta``, the per-day arrays, and :meth:`subset`."""

    pools: dict[str, np.ndarray]  # pool_duration_s, pool_distance_m, pool_xy_m
    locations: np.ndarray  # (B, N + 2)
    per_day: dict[str, np.ndarray]  # every array of ARRAYS but the pooled ones
    meta: dict[str, Any]
    reference_m: np.ndarray | None = None
    label_actions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.locations)

    def __getattr__(self, name: str) -> np.ndarray:
        per_day = self.__dict__.get("per_day", {})
        if name in per_day:
            return per_day[name]
        raise AttributeError(name)

    @property
    def n_bins(self) -> int:
        return int(self.locations.shape[1]) - 2

    def subset(self, index: np.ndarray | slice) -> InstanceBatch:
        """The days at ``index`` as an :class:`InstanceBatch` with their blocks cut out."""
        where = self.locations[index].astype(np.int64)
        rows, cols = where[:, :, None], where[:, None, :]
        optional = {
            name: value[index]
            for name, value in (("reference_m", self.reference_m),
                                ("label_actions", self.label_actions))
            if value is not None
        }  # fmt: skip
        return InstanceBatch(
            duration_s=self.pools["pool_duration_s"][rows, cols],
            distance_m=self.pools["pool_distance_m"][rows, cols],
            xy_m=self.pools["pool_xy_m"][where],
            **{name: value[index] for name, value in self.per_day.items()},
            meta=self.meta, locations=self.locations[index], **optional,
        )  # fmt: skip

    def travel_scale_s(self) -> np.ndarray:
        """(B,) each day's travel-time scale, computed a few days at a time."""
        from generative.coverage import travel_scale_s

        parts = [
            travel_scale_s(self.subset(slice(start, start + 64)).duration_s)
            for start in range(0, len(self), 64)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)


def read_days(path: str | Path) -> InstanceBatch | PooledDays:
    """Read an instance file for training: a pooled file stays pooled (:class:`PooledDays`),
    others are read as :func:`read_instances` reads them."""
    return read_instances(path, keep_pooled=True)


def read_instances(path: str | Path, *, keep_pooled: bool = False) -> InstanceBatch | PooledDays:
    """Read an instance file; :class:`InstanceFileError` names what is wrong with it.

    With ``keep_pooled`` a pooled file comes back as :class:`PooledDays` (see
    :func:`read_days`)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise InstanceFileError(f"{path}: no such instance file.") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        # a file of a corpus folder is drawn again by its own command, not by twin instances
        again = (
            "delete it and run the `twin corpus` command that built the folder again (it "
            "draws what is missing)"
            if (path.parent / CORPUS_MANIFEST).is_file()
            else "write it again with `twin instances` (generative.instances.write_instances)"
        )
        # numpy reads a file that is no archive as a pickle, and advises allow_pickle=True,
        # which would run the file's code: never repeated
        said = "not a NumPy .npz archive" if "pickle" in str(err) else err
        raise InstanceFileError(
            f"{path}: not a readable instance file ({said}); {again}."
        ) from None
    stored = set(contents) | (set(POOLED) if "pool_duration_s" in contents else set())
    missing = sorted((set(ARRAYS) | {"meta"}) - stored)
    if missing:
        raise InstanceFileError(f"{path}: not an instance file, it lacks {missing}.")
    meta = json.loads(str(contents.pop("meta")))
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise InstanceFileError(
            f"{path}: instance format {meta.get('format_version')!r}, this version reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}: generate the instances again."
        )
    pooled = "pool_duration_s" in contents
    if pooled:
        _check_pool(contents, path)
        if keep_pooled:
            return _pooled_days(contents, meta, path)
        _unpool(contents, path)
    b, n = contents["load_kg"].shape
    for name, dims in {**ARRAYS, **OPTIONAL_ARRAYS}.items():
        if name not in contents:
            continue
        array = contents[name]
        expected = {1: (b,), 2: (b, n), 3: (b, n + 2, n + 2 if name != "xy_m" else 2)}[dims]
        if name == "locations":
            expected = (b, n + 2)
        if name == "label_actions":
            expected = (b, array.shape[1] if array.ndim == 2 else "T")
        if array.shape != expected:
            raise InstanceFileError(f"{path}: {name} has shape {array.shape}, expected {expected}.")
    optional = {k: contents[k] for k in OPTIONAL_ARRAYS if k in contents}
    return InstanceBatch(**{k: contents[k] for k in ARRAYS}, **optional, meta=meta)


def _pooled_days(contents: dict[str, np.ndarray], meta: dict[str, Any], path: Path) -> PooledDays:
    b, n2 = contents["locations"].shape
    per_day = {name: contents[name] for name in ARRAYS if name not in POOLED}
    for name, array in per_day.items():
        expected = (b,) if ARRAYS[name] == 1 else (b, n2 - 2)
        if array.shape != expected:
            raise InstanceFileError(f"{path}: {name} has shape {array.shape}, expected {expected}.")
    optional = {k: contents[k] for k in ("reference_m", "label_actions") if k in contents}
    if "reference_m" in optional and optional["reference_m"].shape != (b,):
        raise InstanceFileError(f"{path}: reference_m has shape {optional['reference_m'].shape}.")
    if "label_actions" in optional and optional["label_actions"].shape[:1] != (b,):
        raise InstanceFileError(
            f"{path}: label_actions has shape {optional['label_actions'].shape}."
        )
    pools = {p: contents[p] for p in POOLED.values()}
    return PooledDays(pools, contents["locations"], per_day, meta, **optional)


def join_instances(
    batches: Sequence[InstanceBatch], *, names: Sequence[str] | None = None
) -> InstanceBatch:
    """The days of ``batches``, in order, as one batch: files of one city and one size drawn
    with different seeds, so training sees several placements of bins.

    ``locations`` number each draw's own locations, so they are left out of a join of several
    batches; references and labels are kept when every batch has them alike.

    Raises
    ------
    InstanceFileError
        Batches of different cities or numbers of bins (``names`` name them in the message).
    """
    if not batches:
        raise InstanceFileError("no instance files to join.")
    names = list(names) if names is not None else [f"batch {i + 1}" for i in range(len(batches))]
    first = batches[0]
    if len(batches) == 1:
        return first
    for name, other in zip(names[1:], batches[1:], strict=True):
        if other.n_bins != first.n_bins:
            raise InstanceFileError(
                f"{name} holds {other.n_bins}-bin days, {names[0]} {first.n_bins}-bin days: "
                "train on files of one size."
            )
        if other.meta.get("city_sha256") != first.meta.get("city_sha256"):
            raise InstanceFileError(
                f"{name} holds days of {other.meta.get('city')!r}, {names[0]} of "
                f"{first.meta.get('city')!r}: train on files of one city."
            )
    joined = {name: np.concatenate([getattr(b, name) for b in batches]) for name in first.arrays()}
    for name in ("reference_m", "label_actions"):
        parts = [getattr(b, name) for b in batches]
        if all(p is not None for p in parts) and len({p.shape[1:] for p in parts}) == 1:
            joined[name] = np.concatenate(parts)
    meta = {**first.meta, "joined_seeds": [b.meta.get("seed") for b in batches]}
    return InstanceBatch(**joined, meta=meta)


def read_joined(paths: Sequence[str | Path]) -> InstanceBatch:
    """Read instance files and join their days (:func:`join_instances`), in order."""
    return join_instances([read_instances(p) for p in paths], names=[str(p) for p in paths])


def missing_files(folder: str | os.PathLike[str]) -> list[str]:
    """The files a corpus folder's plan (:data:`CORPUS_MANIFEST`) names that it does not hold
    (empty for a folder without a plan)."""
    manifest = Path(folder) / CORPUS_MANIFEST
    try:
        planned = json.loads(manifest.read_text(encoding="utf-8"))["draws"]
        names = [f"{draw['name']}.npz" for draw in planned]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        return []  # not a plan this version reads: the files speak for themselves
    return [name for name in names if not (Path(folder) / name).is_file()]
