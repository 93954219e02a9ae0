"""Proposals as records a planner decides on, for the pages: who proposed a plan and from what,
whether it may be approved or applied, the decisions in the scenario's audit log, and the card
of the model that proposed it.

The twin decides what is recommended and keeps the log (:func:`twin.decide`,
:func:`twin.read_audit`); this module only reads the draft and the run store for it and turns
the records into what the pages show. Plain functions of plain data (no Dash): tested directly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dashboards.logic import scenario_from_draft, strategy_fields, strategy_of, with_signals
from dashboards.store import RunStore, StoreError
from twin import (
    MODEL_LABEL,
    USER_ERRORS,
    City,
    ModelCardError,
    approved_decision,
    decide,
    model_label,
    read_audit,
    read_model_card,
    scenario_inputs,
)

__all__ = [
    "AUDIT_COLUMNS",
    "LEARNED_PLANNER",
    "DecisionError",
    "applied",
    "approved_timings",
    "audit_rows",
    "by_model",
    "card_sections",
    "changed_inputs",
    "decide_on",
    "decisions",
    "latest_decision",
    "learned_checkpoint",
    "model_card",
    "policy_label",
    "proposal_label",
    "provenance_rows",
    "run_by_model",
]

LEARNED_PLANNER = "learned"
"""The waste twin's planner that is a model (a scenario's ``waste.planner``)."""


class DecisionError(ValueError):
    """A decision the page cannot take as asked; the message says what to do."""


# ------------------------------------------------------------------ labels and provenance
def by_model(policy: str) -> bool:
    """Whether a policy of :func:`dashboards.logic.policies` has a model plan the routes."""
    return strategy_fields(policy)["planner"] == LEARNED_PLANNER


def policy_label(policy: str) -> str:
    """A policy's name as tables, legends and menus show it: a model's says so."""
    return f"{policy} — {MODEL_LABEL.lower()}" if by_model(policy) else policy


def run_by_model(store: RunStore, key: str) -> bool:
    """Whether a stored run's collection routes were planned by a model."""
    waste = store.run_scenario(key).waste
    return waste is not None and by_model(strategy_of(waste.model_dump(mode="json")))


def proposal_label(record: Mapping[str, Any]) -> str:
    """The line that says who proposed a proposal (:func:`twin.model_label`)."""
    return model_label(record.get("provenance") or {})


def _short(sha: str | None) -> str:
    return "–" if not sha else f"{sha[:12]}…"


def provenance_rows(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A proposal's provenance (:meth:`twin.Provenance.to_dict`) as label–value rows.

    Parameters
    ----------
    provenance : mapping
        The record.

    Returns
    -------
    list of (str, str)
        Planner, checkpoint with its SHA-256, model card version, instance hash, seed,
        software version, time made and the provenance id; hashes cut to 12 digits.
    """
    model = bool(provenance.get("by_model"))
    checkpoint = (
        f"{provenance.get('checkpoint')} (sha256 {_short(provenance.get('checkpoint_sha256'))})"
        if model
        else "none: no model"
    )
    return [
        ("Planner", f"{provenance.get('planner')} ({'a model' if model else 'no model'})"),
        ("Checkpoint", checkpoint),
        ("Model card", str(provenance.get("model_card_version") or "–")),
        ("Instance (sha256)", _short(provenance.get("instance_sha256"))),
        ("Seed", str(provenance.get("seed"))),
        ("Software", f"citiverse-twin {provenance.get('software_version')}"),
        ("Made", str(provenance.get("created_at"))),
        ("Provenance id", _short(provenance.get("id"))),
    ]


# ------------------------------------------------------------------ decisions
def _inputs_now(record: Mapping[str, Any], draft: Mapping[str, Any], city: City) -> dict:
    return scenario_inputs(record, scenario_from_draft(dict(draft)), city)


def changed_inputs(record: Mapping[str, Any], draft: Mapping[str, Any], city: City) -> list[str]:
    """The inputs of a proposal (``traffic``, ``seed``, ``city``…) that the draft has
    otherwise than when the proposal was checked; empty: unchanged (it may be approved).

    Raises
    ------
    twin.TwinError
        A draft that is not a valid scenario.
    """
    then, now = record.get("inputs", {}), _inputs_now(record, draft, city)
    return [key for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)]


def applied(record: Mapping[str, Any], draft: Mapping[str, Any]) -> bool:
    """Whether the draft is the proposal's inputs with its plans applied (what Apply makes of
    it): changed since the check, but only by the plans themselves."""
    traffic = (record.get("inputs") or {}).get("traffic")
    if traffic is None or draft.get("traffic") is None:
        return False
    try:
        done = with_signals({**draft, "traffic": traffic}, list(record.get("timings") or []))
    except USER_ERRORS:
        return False
    return done["traffic"] == draft["traffic"] and done["seed"] == record["inputs"].get("seed")


def decisions(store: RunStore, name: str) -> list[dict[str, Any]]:
    """Every decision in the audit log of the scenario saved as ``name``, oldest first.

    Raises
    ------
    twin.AuditError
        A log that does not hold (edited by hand): the message names the line.
    StoreError
        A name the store cannot save a scenario as.
    """
    return read_audit(store.scenario_path(name))


def latest_decision(entries: Sequence[Mapping[str, Any]], proposal_id: str) -> dict | None:
    """The last decision logged on ``proposal_id`` (``None``: none yet)."""
    for entry in reversed(entries):
        if entry.get("proposal_id") == proposal_id:
            return dict(entry)
    return None


def decide_on(
    store: RunStore,
    key: str,
    draft: Mapping[str, Any],
    city: City,
    *,
    decision: str,
    comment: str,
    by: str,
) -> dict[str, Any]:
    """Log a planner's decision on the stored proposal ``key`` in the draft's audit log.

    The draft is saved under its name first: the log is kept with the scenario it decides
    for (:func:`twin.audit_path`). The twin refuses to approve a proposal that is not
    recommended, or one whose inputs differ from the draft's now.

    Parameters
    ----------
    store : RunStore
        Where the proposal and the scenario are.
    key : str
        The proposal's key.
    draft : mapping
        The draft scenario (JSON).
    city : City
        The session's city (the proposal's inputs name its content hash).
    decision : str
        ``"approved"`` or ``"rejected"``.
    comment, by : str
        The planner's comment, and name (required).

    Returns
    -------
    dict
        The audit log's new entry.

    Raises
    ------
    DecisionError
        No name given.
    StoreError
        No such proposal, or one that does not verify; a draft name the store refuses.
    twin.TwinError
        The twin's refusal (:class:`twin.ProposalError`, :class:`twin.AuditError`), or a draft
        that is not a valid scenario.
    """
    if not (by or "").strip():
        raise DecisionError("Your name: required, the audit log records who decided.")
    record = store.proposal(key)
    scenario = scenario_from_draft(dict(draft))
    path = store.save_scenario(scenario)
    return decide(
        store.proposal_dir(key),
        path,
        decision=decision,
        comment=comment or "",
        by=by,
        current_inputs=scenario_inputs(record, scenario, city),
    )


def approved_timings(
    store: RunStore, key: str, draft: Mapping[str, Any], city: City
) -> list[dict[str, Any]]:
    """The ``traffic.signals`` of the stored proposal ``key``, where the draft's audit log
    approves it last and the draft still has the inputs it was checked (and approved) on.

    Raises
    ------
    DecisionError
        Approved, but the draft changed since.
    StoreError
        No such proposal, or one that does not verify.
    twin.TwinError
        Not approved (never, or rejected last: :class:`twin.ProposalError`), a log that does
        not hold, a draft that is not a valid scenario.
    """
    record = store.proposal(key)
    scenario = scenario_from_draft(dict(draft))
    approved_decision(store.proposal_dir(key), store.scenario_path(scenario.name))
    changed = changed_inputs(record, draft, city)
    if changed:
        raise DecisionError(
            f"Not applied: the draft's {', '.join(changed)} changed since these plans were "
            "approved: propose them again for the draft as it is now."
        )
    return list(record["timings"])


AUDIT_COLUMNS = ("#", "Time", "Decision", "By", "Plan", "Proposed by", "Comment")
"""The audit view's columns (:func:`audit_rows`)."""

_KINDS = {"signal-plans": "signal timings", "collection-routes": "collection routes"}


def _proposer(provenance: Mapping[str, Any]) -> str:
    planner = str(provenance.get("planner"))
    if provenance.get("by_model"):
        return f"{planner}: a model ({provenance.get('checkpoint')})"
    return f"{planner} (no model)"


def audit_rows(entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """The decisions of an audit log (:func:`twin.read_audit`), newest first, as the cells of
    :data:`AUDIT_COLUMNS`."""
    return [
        (
            str(entry.get("seq")),
            str(entry.get("time")),
            str(entry.get("decision")),
            str(entry.get("by")),
            f"{_KINDS.get(str(entry.get('kind')), entry.get('kind'))} "
            f"{_short(entry.get('proposal_id'))}",
            _proposer(entry.get("provenance") or {}),
            str(entry.get("comment") or "–"),
        )
        for entry in reversed(entries)
    ]


# ------------------------------------------------------------------ model cards
def learned_checkpoint(kind: str, city: City) -> Path | None:
    """The checkpoint the twin's learned planner of ``kind`` (``"collection-routes"``,
    ``"signal-plans"``) uses for ``city``, or ``None`` where the twin does not say.

    The twin's public names do not say it yet (asked for as ``twin.learned_checkpoint``);
    until they do, no card is shown and the page says why.
    """
    import twin

    find = getattr(twin, "learned_checkpoint", None)
    if find is None:
        return None
    try:
        found = find(kind, city)
    except USER_ERRORS:
        return None
    return None if found is None else Path(found)


@lru_cache(maxsize=8)
def _card(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    # the card is checked against its checkpoint (a second): once per file version
    return read_model_card(path)


def model_card(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card of ``checkpoint`` (:func:`twin.read_model_card`), read once per file.

    Raises
    ------
    StoreError
        A checkpoint that is missing, or a card that does not hold (foreign, edited): the
        twin's message.
    """
    path = Path(checkpoint)
    try:
        stat = path.stat()
        return _card(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as err:
        raise StoreError(f"{path}: cannot read the checkpoint ({err.strerror}).") from None
    except (ModelCardError, *USER_ERRORS) as err:
        raise StoreError(str(err)) from None


def _figure(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _training_lines(data: Mapping[str, Any]) -> list[str]:
    places = data.get("places") or []
    if "days" in data:
        total = f"{_figure(data['days'])} days"
    else:
        total = f"{_figure(data.get('scenarios'))} scenarios"
    lines = [f"{total} of {len(places):,} places"]
    for group in data.get("groups") or []:
        if group.get("kind") == "city":
            lines.append(f"{group.get('name')} (sha256 {_short(group.get('sha256'))})")
        elif group.get("kind") == "windows":
            lines.append(f"{group.get('count')} windows of {group.get('of')}")
        else:
            lines.append(f"{group.get('count')} synthetic towns")
    attribution = (data.get("map_data") or {}).get("attribution")
    if attribution:
        lines.append(f"Map data: {attribution}")
    return lines


def _evaluation_lines(evaluation: Mapping[str, Any]) -> list[str]:
    if evaluation.get("status") != "evaluated":
        return [f"Not evaluated: {evaluation.get('note')}."]
    lines = [f"Held-out cities: {', '.join(evaluation.get('held_out') or []) or 'none'}"]
    for row in evaluation.get("results") or []:
        unit = f" {row['unit']}" if row.get("unit") else ""
        held = " (held out)" if row.get("held_out") else ""
        lines.append(
            f"{row.get('city')}{held}, {row.get('method', '')}: {row.get('metric')} "
            f"{_figure(row.get('mean'))}{unit} ± {_figure(row.get('standard_error'))} "
            f"(n {row.get('n')})"
        )
    return lines


def _limit_lines(limits: Mapping[str, Any]) -> list[str]:
    lines = [f"Places: {limits.get('places')}"]
    for bound in limits.get("bounds") or []:
        unit = f" {bound['unit']}" if bound.get("unit") else ""
        lines.append(
            f"{bound.get('label')}: {_figure(bound.get('low'))}–{_figure(bound.get('high'))}{unit}"
        )
    return [*lines, *(limits.get("statements") or []), *(limits.get("notes") or [])]


@dataclass(frozen=True)
class CardSection:
    """One section of a model card as the page shows it: a heading and its lines."""

    heading: str
    lines: tuple[str, ...]


def card_sections(card: Mapping[str, Any]) -> list[CardSection]:
    """A model card (:func:`twin.read_model_card`) as headed lines: the model, its intended
    use, training data, compute, evaluation, known limits and version."""
    model, use = card.get("model") or {}, card.get("intended_use") or {}
    compute = card.get("compute") or {}
    return [
        CardSection(
            "Model",
            (
                f"Kind: {model.get('kind')}",
                f"Architecture: {model.get('architecture')}",
                f"Numbers in its state: {_figure(model.get('parameters'))}; training step "
                f"{model.get('step')}",
            ),
        ),
        CardSection(
            "Intended use",
            (
                f"Use: {use.get('use')}",
                f"Users: {use.get('users')}",
                f"Not for: {use.get('not_for')}",
            ),
        ),
        CardSection("Training data", tuple(_training_lines(card.get("training_data") or {}))),
        CardSection(
            "Compute",
            (
                str(compute.get("statement")),
                f"{compute.get('steps')} steps, {_figure(compute.get('wall_hours'))} h",
            ),
        ),
        CardSection("Evaluation", tuple(_evaluation_lines(card.get("evaluation") or {}))),
        CardSection("Known limits", tuple(_limit_lines(card.get("known_limits") or {}))),
        CardSection(
            "Version",
            (
                f"Card version {card.get('card_version')} (a digest of the card's content)",
                f"Checkpoint sha256 {card.get('checkpoint_sha256')}",
            ),
        ),
    ]
