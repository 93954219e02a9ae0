"""Provenance of a proposed plan: who made it, from what, with which model, when.

Every plan the twin proposes (collection routes, signal timings; by a model or by a classical
method) carries a :class:`Provenance`: the planner, the checkpoint's SHA-256 and the version of
its model card where a model made it, the SHA-256 of the instance it was made for (the day's
matrices and loads, or the network's junctions and demand), the seed, the package version and
the time. Its :attr:`Provenance.id` hashes everything but the time, so two runs of the same
inputs give the same id; the time says when this copy was made.

The record is plain JSON (:meth:`Provenance.to_dict`), kept in ``proposal.json``, ``run.json``
and every export; :meth:`Provenance.from_dict` reads it back and refuses a record whose id does
not match its fields (edited by hand).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import TwinError

__all__ = [
    "MODEL_LABEL",
    "PLAN_KINDS",
    "Provenance",
    "ProvenanceError",
    "content_sha256",
    "file_sha256",
    "model_label",
    "read_csv_provenance",
    "write_csv_with_provenance",
]

CSV_PROVENANCE = "# provenance: "
CSV_ROWS = "# rows sha256: "
CSV_LABEL = "# "

PLAN_KINDS = {"collection-routes": "collection routes", "signal-plans": "signal timings"}
"""The kinds of plan the twin proposes, described."""

MODEL_LABEL = "Proposed by a model"
"""The words every view and file showing a model's proposal starts its label with."""

GIVEN_ROUNDS = {
    "current": "the city's own rounds",
    "hand-drawn": "rounds drawn by hand",
}
"""The ``planner`` of a provenance record whose routes nobody proposed, by waste policy: the
rounds a city drives today (a rounds file) and the hand-drawn baseline."""


class ProvenanceError(TwinError):
    """A provenance record that cannot be trusted; the message names the field and the fix."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read afresh (never cached: a verification must see the file
    as it is now)."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(value: Any) -> str:
    """SHA-256 of a value made of mappings, sequences, numbers, text and numpy arrays.

    Arrays hash by dtype, shape and bytes; mappings by sorted key, so the same content always
    gives the same hash, on any machine (little-endian bytes).
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        digest.update(f"array:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
    elif isinstance(value, Mapping):
        digest.update(b"map{")
        for key in sorted(value, key=str):
            digest.update(json.dumps(str(key)).encode() + b":")
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, list | tuple):
        digest.update(b"list[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, np.generic):
        _feed(digest, value.item())
    else:
        digest.update(json.dumps(value, sort_keys=True).encode() + b";")


@dataclass(frozen=True)
class Provenance:
    """Where a proposed plan comes from (see the module's docstring).

    Attributes
    ----------
    kind
        One of :data:`PLAN_KINDS`.
    planner
        The method: ``learned``, ``learned+pyvrp``, ``pyvrp``, ``greedy``, ``webster``,
        ``search``, ``learned+search``, … .
    by_model
        Whether a trained model made the plan (or started it).
    checkpoint, checkpoint_sha256, model_card_version
        The model's file name, its bytes' SHA-256 and its model card's version (``None`` for a
        classical method).
    instance_sha256
        SHA-256 of what the plan was made for.
    seed
        The seed of the instance and the planner.
    software_version
        The package's version.
    created_at
        When the plan was made (UTC, ISO 8601); not part of :attr:`id`.
    """

    kind: str
    planner: str
    by_model: bool
    checkpoint: str | None
    checkpoint_sha256: str | None
    model_card_version: str | None
    instance_sha256: str
    seed: int
    software_version: str
    created_at: str

    @classmethod
    def make(
        cls,
        *,
        kind: str,
        planner: str,
        instance_sha256: str,
        seed: int,
        checkpoint: str | os.PathLike[str] | None = None,
        model_card_version: str | None = None,
        by_model: bool | None = None,
        now: datetime | None = None,
    ) -> Provenance:
        """A record for a plan made now; ``checkpoint`` (a file) marks it as made by a model,
        unless ``by_model`` says otherwise (a day the model passed on to a fallback)."""
        from twin import __version__

        if kind not in PLAN_KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(PLAN_KINDS)}")
        stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        return cls(
            kind=kind,
            planner=planner,
            by_model=checkpoint is not None if by_model is None else by_model,
            checkpoint=None if checkpoint is None else Path(checkpoint).name,
            checkpoint_sha256=None if checkpoint is None else file_sha256(checkpoint),
            model_card_version=model_card_version,
            instance_sha256=instance_sha256,
            seed=int(seed),
            software_version=__version__,
            created_at=stamp.replace("+00:00", "Z"),
        )

    @property
    def id(self) -> str:
        """SHA-256 of every field but :attr:`created_at`: equal for equal inputs."""
        fields = asdict(self)
        fields.pop("created_at")
        return content_sha256(fields)

    def label(self) -> str:
        """One line saying who proposed the plan, for views and files."""
        return model_label(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values, its :attr:`id` included."""
        return {**asdict(self), "id": self.id}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], *, where: str = "provenance") -> Provenance:
        """Read a record back, checking that its id matches its fields.

        Raises
        ------
        ProvenanceError
            Fields missing or unknown, or an id that does not match them (edited by hand).
        """
        if not isinstance(record, Mapping):
            raise ProvenanceError(f"{where}: not a provenance record (expected an object).")
        names = set(cls.__dataclass_fields__)
        missing = sorted(names - set(record))
        if missing:
            raise ProvenanceError(
                f"{where}: lacks {', '.join(missing)}; the file was cut or edited: export the "
                "plan again."
            )
        unknown = sorted(set(record) - names - {"id"})
        if unknown:
            raise ProvenanceError(
                f"{where}: has fields a provenance record does not ({', '.join(unknown)}): "
                "it was edited; export the plan again."
            )
        provenance = cls(**{name: record[name] for name in names})
        if record.get("id") != provenance.id:
            raise ProvenanceError(
                f"{where}: its id does not match its fields (edited after it was written): "
                "export the plan again from its proposal."
            )
        return provenance


def model_label(record: Mapping[str, Any]) -> str:
    """The label of a plan with provenance ``record`` (:meth:`Provenance.to_dict`)."""
    what = PLAN_KINDS.get(str(record.get("kind")), "plan")
    if record.get("planner") in GIVEN_ROUNDS.values():
        return f"Baseline, not a proposal: {record.get('planner')}, driven as given."
    if record.get("by_model"):
        return (
            f"{MODEL_LABEL} ({record.get('planner')}, checkpoint {record.get('checkpoint')} "
            f"sha256 {str(record.get('checkpoint_sha256'))[:12]}, model card "
            f"{record.get('model_card_version')}): {what} for a person to check and decide on."
        )
    return f"Proposed by {record.get('planner')} (no model): {what} for a person to decide on."


def write_csv_with_provenance(
    path: Path, table: Any, provenance: Mapping[str, Any] | None, *, lines: tuple[str, ...] = ()
) -> Path:
    """Write a pandas table as CSV, atomically, headed by ``#`` lines: the plan's label, any
    ``lines`` (each kept on one line), the SHA-256 of the rows and the provenance record as
    JSON (:func:`read_csv_provenance` reads it back and checks the rows against it;
    ``pandas.read_csv(..., comment="#")`` skips them)."""
    from twin.results_io import write_file_atomic

    rows = table.to_csv(index=False, lineterminator="\n")

    def write(staging: Path) -> None:
        with open(staging, "w", encoding="utf-8", newline="") as sink:
            if provenance is not None:
                for line in (model_label(provenance), *lines):
                    sink.write(f"{CSV_LABEL}{' '.join(str(line).split())}\n")
                sink.write(f"{CSV_ROWS}{hashlib.sha256(rows.encode()).hexdigest()}\n")
                sink.write(f"{CSV_PROVENANCE}{json.dumps(dict(provenance), sort_keys=True)}\n")
            sink.write(rows)

    return write_file_atomic(Path(path), write)


def read_csv_provenance(path: str | os.PathLike[str]) -> Provenance | None:
    """The provenance record heading a CSV (:func:`write_csv_with_provenance`), checked, with
    the rows it was written over; ``None`` where it has none.

    Raises
    ------
    ProvenanceError
        A record edited by hand, or rows changed since it was written (an edited plan is no
        longer the plan the record describes).
    """
    header: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as source:
        text = source.read()
    body_at = 0
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        body_at += len(line)
        for key in (CSV_ROWS, CSV_PROVENANCE):
            if line.startswith(key) and key not in header:
                header[key] = line[len(key) :].strip()
    if CSV_PROVENANCE not in header:
        return None
    try:
        record = json.loads(header[CSV_PROVENANCE])
    except ValueError:
        raise ProvenanceError(f"{path}: its provenance line is not JSON.") from None
    provenance = Provenance.from_dict(record, where=f"{path}: provenance")
    if header.get(CSV_ROWS) != hashlib.sha256(text[body_at:].encode()).hexdigest():
        raise ProvenanceError(
            f"{path}: its rows changed since the plan was proposed ({provenance.planner}, "
            f"provenance {provenance.id[:12]}): it is no longer that plan."
        )
    return provenance
