"""Checkpoints: model, optimizer, step and random state, written atomically, read safely.

A checkpoint is a plain dictionary of tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)`` (no code from the file ever runs). It carries its format
version, the model's configuration and the city it was trained for (name and content hash), and
readers refuse a file that does not match with a message naming the fix.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from generative.model import PlannerConfig, PlannerNet

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here; the message names the file and the fix."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format version) to ``path`` atomically: a reader, or a run
    killed while writing, sees the previous checkpoint or this one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        torch.save({**payload, "format_version": CHECKPOINT_VERSION}, staging)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, city_sha256: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; with ``city_sha256``, refuse one trained for
    another city.

    Raises
    ------
    CheckpointError
        Missing, corrupt or foreign file, another format version, or another city.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({first}). It is corrupt, or not a file this "
            "package wrote: train again or take the checkpoint from the repository."
        ) from None
    if not isinstance(payload, dict) or "model_state" not in payload:
        raise CheckpointError(f"{path}: not a planner checkpoint (no model state).")
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format_version')!r}, this version reads "
            f"{CHECKPOINT_VERSION}: train again with this version."
        )
    if city_sha256 is not None and payload.get("city_sha256") != city_sha256:
        raise CheckpointError(
            f"{path}: trained for {payload.get('city', 'another city')!r} "
            f"(hash {str(payload.get('city_sha256'))[:12]}…), not this city: train on this "
            "city's instances, or use its own checkpoint."
        )
    return payload


def load_model(
    path: str | os.PathLike[str], *, city_sha256: str | None = None
) -> tuple[PlannerNet, dict[str, Any]]:
    """The planner a checkpoint holds, built from its own model settings, and the checkpoint
    (as :func:`load_checkpoint` reads it).

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint`, or weights that do not fit the model the file describes.
    """
    payload = load_checkpoint(path, city_sha256=city_sha256)
    try:
        model = PlannerNet(PlannerConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["model_state"])
    except (TypeError, KeyError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: its weights do not fit the model it describes ({first}); the "
            "file was altered or is damaged: train again or take it from the repository."
        ) from None
    return model, payload
