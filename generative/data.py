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

Loading never unpickles (``allow_pickle=False``), so a file cannot run code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT_VERSION", "InstanceBatch", "InstanceFileError", "read_instances"]

FORMAT_VERSION = 1
"""Version of the instance file layout; readers refuse other versions."""

ARRAYS = {
    "duration_s": 3, "distance_m": 3, "xy_m": 3, "load_kg": 2, "prize": 2, "required": 2,
    "service_s": 2, "capacity_kg": 1, "shift_s": 1, "unload_s": 1, "n_trucks": 1,
}  # fmt: skip
"""Every array of a file and its number of dimensions."""


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

    def __len__(self) -> int:
        return len(self.load_kg)

    @property
    def n_bins(self) -> int:
        return int(self.load_kg.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}

    def subset(self, index: np.ndarray | slice) -> InstanceBatch:
        return InstanceBatch(**{k: v[index] for k, v in self.arrays().items()}, meta=self.meta)


def read_instances(path: str | Path) -> InstanceBatch:
    """Read an instance file; :class:`InstanceFileError` names what is wrong with it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise InstanceFileError(f"{path}: no such instance file.") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InstanceFileError(
            f"{path}: not a readable instance file ({err}); write it again with "
            "`twin instances` (generative.instances.write_instances)."
        ) from None
    missing = sorted((set(ARRAYS) | {"meta"}) - set(contents))
    if missing:
        raise InstanceFileError(f"{path}: not an instance file, it lacks {missing}.")
    meta = json.loads(str(contents.pop("meta")))
    if meta.get("format_version") != FORMAT_VERSION:
        raise InstanceFileError(
            f"{path}: instance format {meta.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}: generate the instances again."
        )
    b, n = contents["load_kg"].shape
    for name, dims in ARRAYS.items():
        array = contents[name]
        expected = {1: (b,), 2: (b, n), 3: (b, n + 2, n + 2 if name != "xy_m" else 2)}[dims]
        if array.shape != expected:
            raise InstanceFileError(f"{path}: {name} has shape {array.shape}, expected {expected}.")
    return InstanceBatch(**{k: contents[k] for k in ARRAYS}, meta=meta)
