"""The planner's decisions on proposals: an append-only audit log kept with the scenario.

A scenario ``streets.yaml`` keeps its log in ``streets.audit.jsonl``: one JSON object per line,
one line per decision (approved or rejected, with the planner's comment, who, when, and the
proposal's id, provenance and the hash of the inputs it was checked on). Each line carries
``previous_sha256``, the hash of the line before (the first: 64 zeros), and ``sha256``, the
hash of its own fields, so a changed line no longer matches its hash and a deleted or reordered
line breaks the chain. The last line's hash and the count are also kept in
``streets.audit.head``, so cutting lines off the end shows too.

:func:`read_audit` checks all of it and names the first line that does not hold. This guards
against edits by hand and accidents, not against someone who rewrites both files with this
module (that needs a signature kept elsewhere; see ARCHITECTURE.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.provenance import content_sha256

__all__ = [
    "DECISIONS",
    "AuditError",
    "append_decision",
    "audit_path",
    "check_decision",
    "latest_decision",
    "read_audit",
]

DECISIONS = ("approved", "rejected")
GENESIS = "0" * 64
MAX_COMMENT = 2000


class AuditError(TwinError):
    """An audit log that does not hold, or a decision it cannot take; the message names the
    line and the fix."""


def audit_path(scenario: str | os.PathLike[str]) -> Path:
    """The audit log kept with ``scenario`` (a scenario file, or the folder of one)."""
    scenario = Path(scenario)
    if scenario.suffix == ".jsonl":
        return scenario
    return scenario.with_suffix(".audit.jsonl") if scenario.suffix else scenario / "audit.jsonl"


def _head_path(log: Path) -> Path:
    return log.with_suffix(".head")


def _entry_hash(entry: Mapping[str, Any]) -> str:
    return content_sha256({k: v for k, v in entry.items() if k != "sha256"})


def read_audit(scenario: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every decision in the scenario's log, oldest first, after checking the chain.

    Raises
    ------
    AuditError
        A line that is not JSON, lacks a field, does not match its hash
        (edited), does not follow the line before (deleted or reordered); lines missing at the
        end, or the head that records them missing.
    """
    log = audit_path(scenario)
    head = _head_path(log)
    if not log.is_file():
        if head.is_file():
            raise AuditError(
                f"{log}: missing, but {head.name} says decisions were logged: the log was "
                "deleted; restore it from a backup."
            )
        return []  # no decision yet (the scenario may not even be saved yet)
    entries = _entries(log)
    recorded = _read_head(log)
    if recorded is None:
        if entries:
            raise AuditError(
                f"{log}: its head file {head.name} is missing, so lines cut off its end would "
                "not show: restore both from a backup."
            )
        return entries
    last = entries[-1]["sha256"] if entries else GENESIS
    if (
        recorded["count"] == len(entries) - 1
        and recorded["sha256"] == (entries[-1]["previous_sha256"])
    ):
        # the last decision was written and the process stopped before its head: roll forward
        _write_head(log, len(entries), last)
    elif recorded["count"] != len(entries) or recorded["sha256"] != last:
        raise AuditError(
            f"{log}: has {len(entries)} decisions, but {head.name} records "
            f"{recorded['count']} (lines were removed from its end, or added by hand): restore "
            "it from a backup."
        )
    return entries


def _entries(log: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    previous = GENESIS
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise AuditError(
            f"{log}: not text (bytes that are not UTF-8): it was damaged or edited by hand; "
            "restore it from a backup."
        ) from None
    for number, line in enumerate(lines, start=1):
        where = f"{log}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AuditError(
                f"{where}: not a JSON object (cut off or edited by hand): restore the log "
                "from a backup; decisions cannot be added to a log that does not hold."
            ) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise AuditError(f"{where}: not a decision of this log (no sha256).")
        if entry.get("previous_sha256") != previous:
            raise AuditError(
                f"{where}: does not follow the line before it (a line was deleted, added or "
                "moved): restore the log from a backup."
            )
        if _entry_hash(entry) != entry["sha256"]:
            raise AuditError(
                f"{where}: its contents do not match its hash (the decision was edited after "
                f"it was logged, {entry.get('time', 'time unknown')}): restore the log from a "
                "backup."
            )
        entries.append(entry)
        previous = entry["sha256"]
    return entries


def _read_head(log: Path) -> dict[str, Any] | None:
    head = _head_path(log)
    if not head.is_file():
        return None
    try:
        record = json.loads(head.read_text(encoding="utf-8"))
        return {"count": int(record["count"]), "sha256": str(record["sha256"])}
    except (ValueError, KeyError, TypeError):
        raise AuditError(
            f"{head}: unreadable (edited by hand): restore it with its log from a backup."
        ) from None


def _write_head(log: Path, count: int, sha256: str) -> None:
    head = _head_path(log)
    staging = head.with_name(f".{head.name}.{os.getpid()}")
    with open(staging, "w", encoding="utf-8") as sink:
        sink.write(json.dumps({"count": count, "sha256": sha256}))
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(staging, head)


@contextmanager
def _locked(log: Path) -> Iterator[None]:
    """The log's lock, held while a decision is checked and appended: two planners deciding
    at once would otherwise both write the same line number."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _plain_text(value: str, what: str, limit: int) -> str:
    """``value`` without control characters (a newline would start a line of its own in the
    field documents' CSV headers), at most ``limit`` characters."""
    if len(value) > limit:
        raise AuditError(f"{what}: {len(value)} characters, at most {limit}.")
    bad = sorted({repr(c) for c in value if unicodedata.category(c).startswith("C")})
    if bad:
        raise AuditError(
            f"{what}: holds control characters ({', '.join(bad)}): write it on one line."
        )
    return value


def check_decision(decision: str, *, by: str, comment: str) -> tuple[str, str]:
    """The name and comment of a decision as the log keeps them; refused with the reason
    (:class:`AuditError`) before anything is written: an unknown decision, no name, a
    rejection that does not say why, control characters, over-long text.
    """
    if decision not in DECISIONS:
        raise AuditError(f"decision {decision!r}: use {' or '.join(DECISIONS)}.")
    by = _plain_text(by.strip(), "who decides (--by)", 200)
    if not by:
        raise AuditError("who decides: give a name (--by), the log records who decided.")
    comment = _plain_text(comment, "comment", MAX_COMMENT)
    if decision == "rejected" and not comment.strip():
        # whoever proposes the plans again must learn what to change
        raise AuditError(
            "a rejection says why: give a comment (--comment), which the log keeps for whoever "
            "proposes the plans again."
        )
    return by, comment


def append_decision(
    scenario: str | os.PathLike[str],
    *,
    proposal: Mapping[str, Any],
    decision: str,
    comment: str,
    by: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Log a planner's ``decision`` on ``proposal`` (its ``proposal.json``) and return the
    entry; the log is checked first, and nothing is written to one that does not hold.

    Raises
    ------
    AuditError
        An unknown decision, no name or an over-long comment, or a log that does not hold.
    """
    by, comment = check_decision(decision, by=by, comment=comment)
    log = audit_path(scenario)
    with _locked(log):
        entries = read_audit(scenario)
        entry: dict[str, Any] = {
            "seq": len(entries) + 1,
            "time": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
            "decision": decision,
            "by": by,
            "comment": comment,
            "proposal_id": proposal["proposal_id"],
            "kind": proposal["kind"],
            "provenance": proposal["provenance"],
            "inputs_sha256": proposal["inputs_sha256"],
            "previous_sha256": entries[-1]["sha256"] if entries else GENESIS,
        }
        entry["sha256"] = _entry_hash(entry)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        # one write of one line in append mode: a crash leaves the old log, or the old log and
        # a whole line (rolled forward by read_audit), or a cut last line (named by read_audit)
        with open(log, "a", encoding="utf-8") as sink:
            sink.write(line)
            sink.flush()
            os.fsync(sink.fileno())
        _write_head(log, entry["seq"], entry["sha256"])
    return entry


def latest_decision(entries: list[dict[str, Any]], proposal_id: str) -> dict[str, Any] | None:
    """The last decision logged on ``proposal_id`` (``None``: none yet)."""
    for entry in reversed(entries):
        if entry.get("proposal_id") == proposal_id:
            return entry
    return None
