"""Proposals as records a planner decides on: checked, traceable, approved or rejected.

A proposal folder (``twin propose --out``, ``twin propose-signals --out``, the dashboard) holds
the plan's files and ``proposal.json``: the kind of plan, its :class:`~twin.provenance.Provenance`,
the inputs it was checked on and their hash, the hash of its plan files, the checks it passed or
failed, and whether it is *recommended* (every check passed and it is no worse than the current
plan). The label of every such record says who proposed it (:func:`twin.provenance.model_label`).

:func:`read_proposal` checks a folder before anything uses it: its provenance, and that its plan
files are the ones that were checked. :func:`decide` logs a planner's approval or rejection in
the scenario's audit log (:mod:`twin.audit`); it refuses to approve a proposal that is not
recommended, or whose inputs changed since it was checked. Only an approved proposal becomes a
field document (:mod:`twin.field_docs`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twin.audit import append_decision, latest_decision, read_audit
from twin.errors import TwinError
from twin.provenance import Provenance, ProvenanceError, content_sha256, file_sha256, model_label

__all__ = [
    "PROPOSAL_FORMAT",
    "ProposalError",
    "approved_decision",
    "changed_inputs",
    "decide",
    "proposal_record",
    "read_proposal",
    "scenario_inputs",
    "traffic_inputs",
]

PROPOSAL_FORMAT = "citiverse-proposal/1"
RECORD = "proposal.json"
PLAN_FILES = {"collection-routes": ("routes.json",), "signal-plans": ("plans.csv",)}
"""The files each kind of proposal must cover: what approval and field documents read."""


class ProposalError(TwinError):
    """A proposal folder that cannot be used as it is; the message names the file and the fix."""


def proposal_record(
    *,
    kind: str,
    provenance: Provenance,
    inputs: Mapping[str, Any],
    folder: Path,
    plan_files: Sequence[str],
    checks: list[dict[str, Any]],
    recommended: bool,
    reasons: list[str],
    notes: Sequence[str] = (),
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``proposal.json`` of a proposal whose plan files are already in ``folder``."""
    plan_sha256 = _plan_sha256(folder, plan_files)
    inputs_sha256 = content_sha256(dict(inputs))
    record = {
        "format": PROPOSAL_FORMAT,
        "kind": kind,
        "label": model_label(provenance.to_dict()),
        "recommended": bool(recommended),
        "reasons": list(reasons),
        "notes": list(notes),
        "checks": checks,
        "provenance": provenance.to_dict(),
        "inputs": dict(inputs),
        "inputs_sha256": inputs_sha256,
        "plan_files": list(plan_files),
        "plan_sha256": plan_sha256,
        **dict(details or {}),
    }
    # hashed as JSON gives it back, so that the id read from the file is the id written
    record = json.loads(json.dumps(record, default=_plain))
    record["proposal_id"] = _record_id(record)
    return record


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _record_id(record: Mapping[str, Any]) -> str:
    """The id of a proposal: the hash of everything in its record but the id."""
    return content_sha256({k: v for k, v in record.items() if k != "proposal_id"})


def _plan_sha256(folder: Path, plan_files: Sequence[str]) -> str:
    return content_sha256({name: file_sha256(folder / name) for name in plan_files})


def read_proposal(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A proposal folder's ``proposal.json``, checked: its provenance holds and its plan files
    are those that were checked.

    Raises
    ------
    ProposalError
        Not a proposal folder, a damaged record, or plan files changed since.
    """
    given = Path(folder)
    path = given / RECORD if given.is_dir() else given
    folder = path.parent
    if not path.is_file() or path.name != RECORD:
        raise ProposalError(
            f"{given}: not a proposal folder (no {RECORD}): write one with `twin propose "
            "--out FOLDER` or `twin propose-signals --out FOLDER`."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise ProposalError(f"{path}: unreadable ({type(err).__name__}): propose again.") from None
    if not isinstance(record, dict) or record.get("format") != PROPOSAL_FORMAT:
        raise ProposalError(
            f"{path}: not a proposal of this version (format {record.get('format')!r} where "
            f"{PROPOSAL_FORMAT!r} is read): propose again with this version."
            if isinstance(record, dict)
            else f"{path}: not a proposal record."
        )
    try:
        Provenance.from_dict(record.get("provenance"), where=f"{path}: provenance")
    except ProvenanceError as err:
        raise ProposalError(str(err)) from None
    _check_plan_files(path, record)
    if _plan_sha256(folder, record["plan_files"]) != record.get("plan_sha256"):
        raise ProposalError(
            f"{folder}: its plan files ({', '.join(record['plan_files'])}) changed since the "
            "plan was checked: propose again; a changed plan is not the checked one."
        )
    if record.get("proposal_id") != _record_id(record) or record.get(
        "inputs_sha256"
    ) != content_sha256(record.get("inputs", {})):
        raise ProposalError(
            f"{path}: its id does not match its contents (edited by hand): propose again."
        )
    return record


def _check_plan_files(path: Path, record: Mapping[str, Any]) -> None:
    """The record's plan files: plain names in its folder, present, and among them every file
    its kind is read from (so that no file used is left out of the hash)."""
    files = record.get("plan_files")
    needed = PLAN_FILES.get(str(record.get("kind")))
    if needed is None:
        raise ProposalError(f"{path}: kind {_brief(record.get('kind'), 60)} is not a kind of plan.")
    names_ok = isinstance(files, list) and all(
        isinstance(n, str) and n and Path(n).name == n and n not in (".", "..") for n in files
    )
    if not names_ok or not set(needed) <= set(files):
        raise ProposalError(
            f"{path}: plan_files must list the plan's files by name in its folder, "
            f"{', '.join(needed)} among them: the record was edited; propose again."
        )
    missing = [name for name in files if not (path.parent / name).is_file()]
    if missing:
        raise ProposalError(f"{path.parent}: {', '.join(missing)} missing: propose again.")


def changed_inputs(record: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The inputs of ``record`` that differ in ``current`` (what the scenario now has), named
    with both values; empty: unchanged."""
    return _differences(record.get("inputs", {}), current, "")


def _differences(then: Mapping[str, Any], now: Mapping[str, Any], prefix: str) -> list[str]:
    """``key: was when checked, is now`` for every key that differs, down into sections (a
    traffic section's trips, not the section cut off before it)."""
    lines = []
    for key in sorted(set(then) | set(now)):
        was, is_ = then.get(key), now.get(key)
        if content_sha256(was) == content_sha256(is_):
            continue
        if isinstance(was, Mapping) and isinstance(is_, Mapping):
            lines += _differences(was, is_, f"{prefix}{key}.")
        else:
            lines.append(f"{prefix}{key}: {_brief(was)} when checked, {_brief(is_)} now")
    return lines


def traffic_inputs(spec: Any) -> dict[str, Any]:
    """A traffic section (:class:`~twin.specs.TrafficSpec`) as a proposal's inputs: its fields,
    with an OD table named by its file's name and content (the same trips wherever the file
    lies; edited trips, another input)."""
    # whether a scenario also runs the section on its own changes no trip, street or signal
    fields = spec.model_dump(mode="json", exclude={"simulate"})
    if fields.get("od"):
        od = Path(fields["od"])
        fields["od"] = {"file": od.name, "sha256": file_sha256(od) if od.is_file() else None}
    return fields


def scenario_inputs(record: Mapping[str, Any], scenario: Any, city: Any) -> dict[str, Any]:
    """The inputs of a proposal of ``record``'s kind as ``scenario`` (a
    :class:`~twin.specs.Scenario`) and its loaded ``city`` have them now: what
    :func:`decide` compares with the inputs the proposal was checked on. For signal plans:
    the city's content, the scenario's traffic and seed; for a day's routes (whose day is its
    own): the city's content and the checkpoint's bytes."""
    now: dict[str, Any] = {**record.get("inputs", {}), "city": city.name,
                           "city_sha256": city.source.sha256}  # fmt: skip
    if record.get("kind") == "signal-plans":
        traffic = scenario.traffic
        now["traffic"] = None if traffic is None else traffic_inputs(traffic)
        now["seed"] = scenario.seed
    planner = now.get("planner")
    if isinstance(planner, dict) and planner.get("checkpoint"):
        path = Path(planner["checkpoint"])
        sha256 = file_sha256(path) if path.is_file() else None
        now["planner"] = {**planner, "checkpoint_sha256": sha256}
    return now


def _brief(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decide(
    proposal: str | os.PathLike[str],
    scenario: str | os.PathLike[str],
    *,
    decision: str,
    comment: str,
    by: str,
    current_inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Log a planner's decision on a proposal in ``scenario``'s audit log and return the entry.

    ``current_inputs`` are the inputs as the scenario has them now (the same keys as the
    proposal's ``inputs``); an approval is refused where they differ from those the proposal
    was checked on.

    Raises
    ------
    ProposalError
        The proposal cannot be read, is not recommended (for an approval), or its inputs changed.
    twin.audit.AuditError
        The scenario's audit log does not hold.
    """
    record = read_proposal(proposal)
    if decision == "approved":
        if not record.get("recommended"):
            why = "; ".join(record.get("reasons") or ["it was not checked"])
            raise ProposalError(
                f"{proposal}: not recommended ({why}); only a proposal that passed its checks "
                "can be approved: reject it, or propose again."
            )
        if current_inputs is not None and (changes := changed_inputs(record, current_inputs)):
            raise ProposalError(
                f"{proposal}: its inputs changed since it was checked ({'; '.join(changes)}): "
                "propose again for the scenario as it is now."
            )
    return append_decision(scenario, proposal=record, decision=decision, comment=comment, by=by)


def approved_decision(
    proposal: str | os.PathLike[str], scenario: str | os.PathLike[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proposal's record and its approval, where the scenario's audit log's last decision
    on it approves it.

    Raises
    ------
    ProposalError
        Never decided on, or rejected last.
    twin.audit.AuditError
        The audit log does not hold.
    """
    record = read_proposal(proposal)
    entry = latest_decision(read_audit(scenario), record["proposal_id"])
    if entry is None or entry["decision"] != "approved":
        state = "was rejected" if entry else "has not been approved"
        raise ProposalError(
            f"{proposal}: {state} in {scenario}'s audit log: only an approved plan becomes a "
            "field document (approve it: `twin decide PROPOSAL --scenario SCENARIO --approve`)."
        )
    return record, entry
