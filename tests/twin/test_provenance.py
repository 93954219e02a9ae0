"""Provenance records: equal inputs give equal ids, an edited record is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from twin.provenance import (
    MODEL_LABEL,
    Provenance,
    ProvenanceError,
    content_sha256,
    file_sha256,
    read_csv_provenance,
    write_csv_with_provenance,
)

CHECKPOINT = "generative/checkpoints/helsinki.pt"


def _record(now: datetime, **changes) -> Provenance:
    fields = {"kind": "collection-routes", "planner": "learned", "instance_sha256": "ab" * 32,
              "seed": 3, "checkpoint": CHECKPOINT, "model_card_version": "v1",
              "now": now}  # fmt: skip
    return Provenance.make(**{**fields, **changes})


def test_content_hash_is_the_content():
    a = {"x": np.arange(5, dtype=np.float32), "b": [1, "two"], "c": {"z": 1, "y": 2.5}}
    same = {"c": {"y": 2.5, "z": 1}, "b": [1, "two"], "x": np.arange(5, dtype=np.float32)}
    assert content_sha256(a) == content_sha256(same)
    # dtype and shape are part of an array's content; so is order in a list
    assert content_sha256({**a, "x": np.arange(5, dtype=np.float64)}) != content_sha256(a)
    assert content_sha256({**a, "x": np.arange(5, dtype=np.float32)[::-1]}) != content_sha256(a)
    assert content_sha256({**a, "b": ["two", 1]}) != content_sha256(a)


def test_same_inputs_same_provenance_at_another_time():
    first = _record(datetime(2026, 1, 1, tzinfo=UTC))
    later = _record(datetime(2026, 6, 1, 12, 30, tzinfo=UTC))
    assert first.id == later.id and first.created_at != later.created_at
    assert first.created_at == "2026-01-01T00:00:00Z"
    # the checkpoint is named by its bytes
    assert first.checkpoint_sha256 == file_sha256(CHECKPOINT) and first.by_model
    for change in ({"seed": 4}, {"instance_sha256": "cd" * 32}, {"planner": "learned+pyvrp"},
                   {"model_card_version": "v2"}):  # fmt: skip
        assert _record(datetime(2026, 1, 1, tzinfo=UTC), **change).id != first.id


def test_a_record_round_trips_and_an_edit_is_refused():
    record = _record(datetime(2026, 1, 1, tzinfo=UTC)).to_dict()
    assert Provenance.from_dict(json.loads(json.dumps(record))).id == record["id"]
    with pytest.raises(ProvenanceError, match="does not match its fields"):
        Provenance.from_dict({**record, "seed": 99})
    with pytest.raises(ProvenanceError, match="lacks checkpoint_sha256"):
        Provenance.from_dict({k: v for k, v in record.items() if k != "checkpoint_sha256"})


def test_labels_say_who_proposed():
    by_model = _record(datetime(2026, 1, 1, tzinfo=UTC))
    assert by_model.label().startswith(MODEL_LABEL) and "helsinki.pt" in by_model.label()
    classical = Provenance.make(
        kind="signal-plans", planner="webster", instance_sha256="ef" * 32, seed=0
    )
    assert not classical.by_model and classical.checkpoint_sha256 is None
    assert "webster (no model)" in classical.label() and MODEL_LABEL not in classical.label()


def test_provenance_round_trips_through_a_csv(tmp_path):
    record = _record(datetime(2026, 1, 1, tzinfo=UTC)).to_dict()
    table = pd.DataFrame({"junction": [1, 2], "green_s": [20.0, 30.5]})
    path = write_csv_with_provenance(tmp_path / "t.csv", table, record, lines=("Approved",))
    assert read_csv_provenance(path).to_dict() == record
    assert pd.read_csv(path, comment="#").equals(table)
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"# {MODEL_LABEL}") and lines[1] == "# Approved"
    path.write_text(path.read_text().replace('"seed": 3', '"seed": 4'))
    with pytest.raises(ProvenanceError, match="does not match"):
        read_csv_provenance(path)


def test_a_record_with_fields_of_its_own_is_refused():
    record = _record(datetime(2026, 1, 1, tzinfo=UTC)).to_dict()
    with pytest.raises(ProvenanceError, match="approved_by"):
        Provenance.from_dict({**record, "approved_by": "the mayor"})
