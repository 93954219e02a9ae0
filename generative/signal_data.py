"""Signal-timing instances as arrays: what the learned signal planner reads (numpy only).

An instance is one scenario (a place, its demand, its closures) seen through the flows its
current plans carried in the twin. For each of its ``J`` signalized junctions, up to
:data:`MAX_PHASES` phases, each with:

- ``kind``: 0 no phase (padding), 1 vehicles, 2 pedestrians only;
- ``flow_vps`` and ``saturation_vps``: arrival flow and saturation flow of the phase's critical
  approach (the one with the largest ratio of the two);
- ``min_green_s``: the least green the timing limits allow it.

Per junction: ``intergreen_s`` and ``max_cycle_s``; between junctions, ``travel_s``: free-flow
travel time of the fastest path (``J × J``, for the model's attention and for offsets). Files
are ``.npz`` holding one or more instances of one place (``allow_pickle=False``); the metadata
(JSON text) names the place, its content hash, the demand and the closures.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generative.atomic import write_atomic

__all__ = [
    "FORMAT_VERSION",
    "MAX_PHASES",
    "SignalDataError",
    "SignalInstance",
    "pad_batch",
    "read_signal_file",
    "write_signal_file",
]

FORMAT_VERSION = 1
MAX_PHASES = 4
VEHICLE, PEDESTRIAN = 1, 2
_PHASE_ARRAYS = ("kind", "flow_vps", "saturation_vps", "min_green_s")
_JUNCTION_ARRAYS = ("intergreen_s", "max_cycle_s", "node")


class SignalDataError(ValueError):
    """An instance file that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class SignalInstance:
    """One scenario's junctions (see the module's docstring)."""

    kind: np.ndarray  # [J, P] int8
    flow_vps: np.ndarray  # [J, P] float32
    saturation_vps: np.ndarray  # [J, P] float32
    min_green_s: np.ndarray  # [J, P] float32
    intergreen_s: np.ndarray  # [J] float32
    max_cycle_s: np.ndarray  # [J] float32
    node: np.ndarray  # [J] int64, the junctions' node positions in their network
    travel_s: np.ndarray  # [J, J] float32
    meta: dict[str, Any]

    @property
    def n_junctions(self) -> int:
        return len(self.intergreen_s)

    def shortest_cycle_s(self) -> np.ndarray:
        """Least cycle of each junction: its minimum greens and intergreens."""
        phases = (self.kind > 0).sum(axis=1)
        return self.min_green_s.sum(axis=1) + phases * self.intergreen_s


def write_signal_file(path: str | os.PathLike[str], instances: list[SignalInstance]) -> Path:
    """Write ``instances`` (of one place or several) to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    for i, instance in enumerate(instances):
        for name in (*_PHASE_ARRAYS, *_JUNCTION_ARRAYS, "travel_s"):
            arrays[f"{i}/{name}"] = np.asarray(getattr(instance, name))
    meta = {"format_version": FORMAT_VERSION, "count": len(instances),
            "instances": [inst.meta for inst in instances]}  # fmt: skip
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

    def write(staging: str) -> None:
        with open(staging, "wb") as sink:  # a file object: numpy adds no .npz to the name
            np.savez_compressed(sink, **arrays)

    return write_atomic(path, write)


def read_signal_file(path: str | os.PathLike[str]) -> list[SignalInstance]:
    """The instances in ``path``, their shapes checked.

    Raises
    ------
    SignalDataError
        Not such a file, a damaged one, or another format version.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as contents:
            data = {name: contents[name] for name in contents.files}
        meta = json.loads(bytes(data["meta"]).decode())
    except (OSError, ValueError, KeyError, EOFError) as err:
        raise SignalDataError(
            f"{path}: not a signal instance file ({type(err).__name__}): write it again with "
            "`twin signal-corpus`."
        ) from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise SignalDataError(
            f"{path}: format {meta.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}: write it again with this version."
        )
    instances = []
    for i in range(int(meta["count"])):
        try:
            fields = {name: data[f"{i}/{name}"] for name in (*_PHASE_ARRAYS, *_JUNCTION_ARRAYS)}
            travel = data[f"{i}/travel_s"]
        except KeyError as err:
            raise SignalDataError(f"{path}: instance {i} lacks {err}.") from None
        n = len(fields["intergreen_s"])
        shapes_ok = all(fields[k].shape == (n, MAX_PHASES) for k in _PHASE_ARRAYS) and (
            travel.shape == (n, n)
        )
        if not shapes_ok:
            raise SignalDataError(f"{path}: instance {i} has arrays of mismatched shapes.")
        instances.append(SignalInstance(**fields, travel_s=travel, meta=meta["instances"][i]))
    return instances


def pad_batch(instances: list[SignalInstance]) -> dict[str, np.ndarray]:
    """Instances padded to the largest junction count: arrays ``[B, J, …]`` and ``mask``
    ``[B, J]`` (True for a real junction); padded junctions have no phases."""
    size = max(inst.n_junctions for inst in instances)
    batch = len(instances)
    out = {
        "kind": np.zeros((batch, size, MAX_PHASES), np.int64),
        "flow_vps": np.zeros((batch, size, MAX_PHASES), np.float32),
        "saturation_vps": np.ones((batch, size, MAX_PHASES), np.float32),
        "min_green_s": np.zeros((batch, size, MAX_PHASES), np.float32),
        "intergreen_s": np.full((batch, size), 4.0, np.float32),
        "max_cycle_s": np.full((batch, size), 120.0, np.float32),
        "travel_s": np.full((batch, size, size), 1e4, np.float32),
        "mask": np.zeros((batch, size), bool),
    }
    for b, inst in enumerate(instances):
        n = inst.n_junctions
        for name in ("kind", "flow_vps", "saturation_vps", "min_green_s"):
            out[name][b, :n] = getattr(inst, name)
        out["intergreen_s"][b, :n] = inst.intergreen_s
        out["max_cycle_s"][b, :n] = inst.max_cycle_s
        out["travel_s"][b, :n, :n] = inst.travel_s
        out["mask"][b, :n] = True
    return out
