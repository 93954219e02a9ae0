"""Checkpoints: model, optimizer, step and random state, written atomically, read safely.

A checkpoint is a plain dictionary of tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)`` (no code from the file ever runs). It carries its format
version, the model's configuration and the range of days it was trained on
(:class:`generative.coverage.TrainingRange`: places, bins, fleet, shift, capacity, travel-time
scale), and readers refuse a file they cannot use with a message naming the fix.

Format 2 (this version) carries the training range; format 1, the first checkpoints, named one
city (its content hash) and the most bins: it still loads, its range that city alone and at
most those bins.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from generative.atomic import write_atomic
from generative.coverage import TrainingRange
from generative.model import PlannerConfig, PlannerNet

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "checkpoint_range",
    "load_checkpoint",
    "load_model",
    "read_checkpoint_file",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 2
"""Format written by this version."""

READABLE_VERSIONS = (1, 2)
"""Formats :func:`load_checkpoint` reads."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here; the message names the file and the fix."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format version) to ``path`` atomically: a reader, or a run
    killed while writing, sees the previous checkpoint or this one, never half of one."""
    stamped = {**payload, "format_version": CHECKPOINT_VERSION}
    return write_atomic(path, lambda staging: torch.save(stamped, staging))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises
    ------
    CheckpointError
        Missing, corrupt or foreign file, or a format version this one does not read.
    """
    path = Path(path)
    payload = read_checkpoint_file(path)
    if not isinstance(payload, dict) or "model_state" not in payload:
        raise CheckpointError(f"{path}: not a planner checkpoint (no model state).")
    kind = payload.get("kind")
    if kind is not None and kind != "waste-planner":
        raise CheckpointError(
            f"{path}: a {kind} checkpoint, not one of the waste collection planner: pass a "
            "checkpoint `twin train` wrote (the shipped one: generative/checkpoints/general.pt)."
        )
    if payload.get("format_version") is None:
        # torch.save of a model's weights, say: no package wrote it, no version reads it
        raise CheckpointError(
            f"{path}: a torch file, but not a checkpoint of this package (it carries no format "
            "version, training range or model settings): pass a checkpoint `twin train` or "
            "`twin finetune` wrote (the shipped one: generative/checkpoints/general.pt)."
        )
    if payload.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format_version')!r}, this version reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}: train it again with this version, or "
            "use the version of the package that wrote it."
        )
    try:
        checkpoint_range(payload)
    except ValueError as err:
        raise CheckpointError(
            f"{path}: its training range is unreadable ({err}); the file was altered or is "
            "damaged: train again or take it from the repository."
        ) from None
    return payload


def read_checkpoint_file(path: str | os.PathLike[str]) -> Any:
    """What a checkpoint file holds, read with ``weights_only=True`` (no code from the file
    runs); the callers check that it is the kind of checkpoint they read.

    Raises
    ------
    CheckpointError
        A folder, a missing file, or one torch cannot read safely (corrupt, or not written by
        this package).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a folder: name the checkpoint file in it (e.g. {path / 'checkpoint.pt'})."
        )
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint.")
    if not path.is_file():  # a device reads forever, a pipe waits for a writer
        raise CheckpointError(f"{path} is a device or a pipe, not a checkpoint file.")
    try:
        # torch reads a tensor's bytes without their checksum: a flipped byte would plan with
        # damaged weights, silently
        damaged = zipfile.ZipFile(path).testzip() if zipfile.is_zipfile(path) else None
        payload = torch.load(path, map_location="cpu", weights_only=True)
    # what torch raises for a file too short, damaged, foreign or holding code (a text file
    # starting with "h" is read as an old pickle protocol and fails with a KeyError)
    except (
        pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError,
        struct.error, ValueError, IndexError, KeyError, TypeError, AttributeError,
    ) as err:  # fmt: skip
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({_first_line(err)}). It is corrupt, not a "
            "file this package wrote, or a pointer to one (a Git LFS file not fetched: `git "
            "lfs pull`): train again, or use a checkpoint this package wrote."
        ) from None
    if damaged is not None:
        record = damaged.split("/", 1)[-1]  # inside the archive's one top folder
        raise CheckpointError(
            f"{path}: damaged: its record {record} fails its checksum (a broken copy or "
            "download): copy it again, or train again."
        )
    return payload


def _first_line(err: BaseException) -> str:
    """The first line of torch's message, without its advice to load with
    ``weights_only=False``: that runs code from the file, which this package never does."""
    text = "" if isinstance(err, KeyError) else str(err).strip()  # a KeyError says "116"
    first = text.splitlines()[0] if text else type(err).__name__
    if "weights_only" in first:
        return type(err).__name__
    return first


SHIPPED_KEYS = (
    "model_state", "model_config", "train_config", "training_range", "trained_on", "step",
    "elapsed_s", "data_fingerprint", "lineage", "instances",
)  # fmt: skip
"""What a checkpoint keeps when it ships with the package: the model, its settings, its training
range and what trained it; not the optimizer, schedule or random states, which only resuming
that run needs (a third of the file)."""


def checkpoint_range(payload: dict[str, Any]) -> TrainingRange:
    """The range of days the checkpoint's model was trained on (for format 1: its city, at
    most its number of bins).

    Raises
    ------
    ValueError
        A range that is missing or malformed.
    """
    if payload.get("format_version") == 1:
        place = {"name": payload.get("city"), "sha256": payload.get("city_sha256"), "days": 0}
        return TrainingRange(
            places=(place,),
            bounds={"n_bins": (1.0, float(payload.get("n_bins", 0)))},
            days=0,
            notes=("format 1: trained for one city; days of other places are outside its range",),
            only_places=True,
        )
    if "training_range" not in payload:
        raise ValueError("no training_range")
    return TrainingRange.from_dict(payload["training_range"])


def load_model(path: str | os.PathLike[str]) -> tuple[PlannerNet, dict[str, Any]]:
    """The planner a checkpoint holds, built from its own model settings, and the checkpoint
    (as :func:`load_checkpoint` reads it).

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint`, or weights that do not fit the model the file describes.
    """
    payload = load_checkpoint(path)
    try:
        model = PlannerNet(PlannerConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["model_state"])
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: its weights do not fit the model it describes ({first}); the "
            "file was altered or is damaged: train again or take it from the repository."
        ) from None
    return model, payload
