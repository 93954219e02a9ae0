"""Proposals as records a planner decides on, for the pages: who proposed a plan and from what,
whether it may be approved or applied, the decisions in the scenario's audit log, an approved
plan's field documents, a route proposal's plans side by side, and the card of the model that
proposed it.

The twin decides what is recommended and keeps the log (:func:`twin.decide`,
:func:`twin.read_audit`); this module only reads the draft and the run store for it and turns
the records into what the pages show. Plain functions of plain data (no Dash): tested directly.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dashboards.logic import (
    other_version,
    retimed,
    scenario_from_draft,
    strategy_fields,
    strategy_of,
)
from dashboards.store import RunStore, StoreError
from twin import (
    MODEL_LABEL,
    OUTPUT_MARKER,
    USER_ERRORS,
    AuditError,
    City,
    ModelCardError,
    approved_decision,
    check_decision,
    decide,
    model_card_markdown,
    model_label,
    read_audit,
    read_model_card,
    scenario_inputs,
    traffic_inputs,
    write_field_documents,
)

__all__ = [
    "AUDIT_COLUMNS",
    "LEARNED_PLANNER",
    "REFERENCE_PLAN",
    "DecisionError",
    "PlanRow",
    "applied",
    "approved_timings",
    "audit_rows",
    "by_model",
    "changed_inputs",
    "decide_on",
    "decisions",
    "field_documents",
    "latest_decision",
    "model_card",
    "model_card_text",
    "model_name",
    "plan_rows",
    "policy_label",
    "proposal_label",
    "provenance_rows",
    "run_by_model",
]

LEARNED_PLANNER = "learned"
"""The waste twin's planner that is a model (a scenario's ``waste.planner``)."""

REFERENCE_PLAN = "pyvrp"
"""The plan a route proposal is judged against (:func:`twin.propose_routes`): what the twin
plans for the day without a model, in the same time."""


class DecisionError(ValueError):
    """A decision the page cannot take as asked; the message says what to do."""


# ------------------------------------------------------------------ labels and provenance
def by_model(policy: str) -> bool:
    """Whether a policy of :func:`dashboards.logic.policies` has a model plan the routes."""
    return strategy_fields(policy)["planner"] == LEARNED_PLANNER


def model_name(name: str, model: bool) -> str:
    """A plan's or planner's name as tables, legends and menus show it: a model's (``model``)
    says so."""
    return f"{name} — {MODEL_LABEL.lower()}" if model else name


def policy_label(policy: str) -> str:
    """A policy's name as tables, legends and menus show it: a model's says so."""
    return model_name(policy, by_model(policy))


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
_INPUT_WORDS = {"city": "city data", "city_sha256": "city data",
                "planner": "planner's checkpoint"}  # fmt: skip
_FIELD_WORDS = {"close": "closed streets", "change": "changed streets",
                "signals": "signal timings", "od": "OD table", "dt_s": "time step"}  # fmt: skip
"""How sentences name a proposal's inputs (:func:`twin.scenario_inputs`) and the fields of
its traffic, where their own names would not do."""


def _plans_taken_out(record: Mapping[str, Any], traffic: dict | None) -> dict | None:
    """A draft's traffic inputs (:func:`twin.traffic_inputs`) with the proposal's plans taken
    out, where its signal timings are exactly those it was checked on with the plans applied
    as Apply applies them (:func:`dashboards.logic.retimed`); otherwise as they are."""
    checked, timings = (record.get("inputs") or {}).get("traffic"), record.get("timings")
    if traffic is None or checked is None or not timings:
        return traffic
    then = checked.get("signals") or []
    if traffic.get("signals") != retimed(then, timings):
        return traffic
    return {**traffic, "signals": then}


def applied(record: Mapping[str, Any], draft: Mapping[str, Any]) -> bool:
    """Whether the draft's traffic and seed are the proposal's inputs with its plans applied
    (what Apply makes of them): changed since the check, but only by the plans themselves."""
    inputs = record.get("inputs") or {}
    checked, timings = inputs.get("traffic"), record.get("timings")
    try:
        scenario = scenario_from_draft(dict(draft))
    except USER_ERRORS:
        return False
    if scenario.traffic is None or checked is None or not timings:
        return False
    done = {**checked, "signals": retimed(checked.get("signals") or [], timings)}
    # compared as the proposal records its inputs: an OD table by its content, not its path
    return traffic_inputs(scenario.traffic) == done and scenario.seed == inputs.get("seed")


def _inputs_now(record: Mapping[str, Any], draft: Mapping[str, Any], city: City) -> dict:
    """The proposal's inputs as the draft has them now, its own plans taken out where Apply
    put them in: applying approved plans does not make them plans for another scenario, but
    any other change of the draft does."""
    now = scenario_inputs(record, scenario_from_draft(dict(draft)), city)
    now["traffic"] = _plans_taken_out(record, now.get("traffic"))
    return now


def _changes(record: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    then = record.get("inputs") or {}
    return [key for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)]


def _said(value: Any) -> str | None:
    """A value short and plain enough for a sentence (a number, a word), else ``None``."""
    if value is None:
        return "none"
    if isinstance(value, bool | int | float):
        return str(value)
    # a path or a hash says nothing to a planner, and a server's path is not theirs to see
    if isinstance(value, str) and len(value) <= 24 and "/" not in value and "\\" not in value:
        return value
    return None


def _changed_words(
    record: Mapping[str, Any], now: Mapping[str, Any], keys: list[str], since: str
) -> str:
    """The changed inputs ``keys`` as a planner reads them: ``the draft's traffic changed
    since these plans were <since> (trips 400 → 300; closed streets)``, without hashes,
    paths or JSON."""
    then = record.get("inputs") or {}
    names, details = [], []
    for key in keys:
        names.append(_INPUT_WORDS.get(key, key.replace("_", " ")))
        was, is_ = then.get(key), now.get(key)
        if key == "seed":
            details.append(f"seed {was} → {is_}")
        if not (isinstance(was, dict) and isinstance(is_, dict)):
            continue
        for field in sorted(set(was) | set(is_)):
            if was.get(field) == is_.get(field) or field.endswith("sha256"):
                continue
            word = _FIELD_WORDS.get(field, field.replace("_", " "))
            before, after = _said(was.get(field)), _said(is_.get(field))
            plain = before is not None and after is not None
            details.append(f"{word} {before} → {after}" if plain else word)
    said = " and ".join(dict.fromkeys(names))
    return f"the draft's {said} changed since these plans were {since}" + (
        f" ({'; '.join(details)})" if details else ""
    )


def changed_inputs(record: Mapping[str, Any], draft: Mapping[str, Any], city: City) -> list[str]:
    """The inputs of a proposal (``traffic``, ``seed``, ``city``…) that the draft has
    otherwise than when the proposal was checked; empty: unchanged (it may be approved,
    applied, and its field documents written). The proposal's own plans, applied to the
    draft, are no change (:func:`applied`); any other change of its traffic is.

    Raises
    ------
    twin.TwinError
        A draft that is not a valid scenario.
    """
    return _changes(record, _inputs_now(record, draft, city))


def _refuse_changed(
    record: Mapping[str, Any], now: Mapping[str, Any], refused: str, since: str
) -> None:
    """Raise :class:`DecisionError` (``refused``: what was not done) where the draft's inputs
    ``now`` are not those the proposal was checked on, naming what changed."""
    if keys := _changes(record, now):
        words = _changed_words(record, now, keys, since)
        raise DecisionError(f"{refused}: {words}: propose them again for the draft as it is now.")


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


_PAGE_WORDS = {"who decides (--by)": "Your name", "a comment (--comment)": "a comment"}
"""The command line's words for the decision's fields, as the page names them."""


def _in_page_words(message: str) -> str:
    """The twin's message about a decision's fields, naming them as the page's boxes."""
    for said, shown in _PAGE_WORDS.items():
        message = message.replace(said, shown)
    return message[:1].upper() + message[1:]


def decide_on(
    store: RunStore,
    key: str,
    draft: Mapping[str, Any],
    city: City,
    *,
    decision: str,
    comment: str,
    by: str,
    known: str | None = None,
) -> dict[str, Any]:
    """Log a planner's decision on the stored proposal ``key`` in the draft's audit log.

    The draft is saved under its name first: the log is kept with the scenario it decides
    for (:func:`twin.audit_path`). As Save does, that refuses to replace a version another
    planner saved under the name. The twin refuses to approve a proposal that is not
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
    known : str, optional
        The digest of the version of the draft's name this browser saved or loaded last
        (:func:`dashboards.logic.other_version`).

    Returns
    -------
    dict
        The audit log's new entry.

    Raises
    ------
    DecisionError
        No name given; a name or comment the audit log refuses (too long, control characters,
        a rejection without a comment), in the page's words; another planner's version saved
        under the draft's name; for an approval, a draft whose inputs are not those the
        proposal was checked on (its own plans, applied, aside).
    StoreError
        No such proposal, or one that does not verify; a draft name the store refuses.
    twin.TwinError
        The twin's refusal (:class:`twin.ProposalError`, :class:`twin.AuditError`), or a draft
        that is not a valid scenario.
    """
    if not (by or "").strip():
        raise DecisionError("Your name: required, the audit log records who decided.")
    # before the draft is saved: a refused decision leaves the saved scenario as it was
    try:
        check_decision(decision, by=by, comment=comment or "")
    except AuditError as err:
        raise DecisionError(_in_page_words(str(err))) from None
    record = store.proposal(key)
    scenario = scenario_from_draft(dict(draft))
    now = _inputs_now(record, draft, city)
    if decision == "approved":
        # the twin refuses it too, but names its folder and the inputs' JSON
        _refuse_changed(record, now, "Not approved", "checked")
    if other_version(store, scenario, known):
        raise DecisionError(
            f"Not logged: another version of scenario {scenario.name} is saved (by another "
            "session, or from a file), and the decision would save this draft over it. Save "
            "this draft on the Scenarios page (Save twice replaces that version) or give it "
            "another name, then decide."
        )
    path = store.save_scenario(scenario)
    return decide(
        store.proposal_dir(key),
        path,
        decision=decision,
        comment=comment or "",
        by=by,
        current_inputs=now,
    )


def approved_timings(
    store: RunStore, key: str, draft: Mapping[str, Any], city: City
) -> list[dict[str, Any]]:
    """The ``traffic.signals`` of the stored proposal ``key``, where the draft's audit log
    approves it last and the draft still has the inputs it was checked (and approved) on, or
    those with these plans applied (applying them again changes nothing).

    Raises
    ------
    DecisionError
        Approved, but the draft changed since (otherwise than by these plans).
    StoreError
        No such proposal, or one that does not verify.
    twin.TwinError
        Not approved (never, or rejected last: :class:`twin.ProposalError`), a log that does
        not hold, a draft that is not a valid scenario.
    """
    record = store.proposal(key)
    scenario = scenario_from_draft(dict(draft))
    approved_decision(store.proposal_dir(key), store.scenario_path(scenario.name))
    _refuse_changed(record, _inputs_now(record, draft, city), "Not applied", "approved")
    return list(record["timings"])


AUDIT_COLUMNS = ("#", "Time", "Decision", "By", "Plan", "Proposed by", "Comment")
"""The audit view's columns (:func:`audit_rows`)."""

_KINDS = {"signal-plans": "signal timings", "collection-routes": "collection routes"}


def proposed_name(record: Mapping[str, Any]) -> str:
    """The name of the plan a route proposal proposes among the day's plans (``learned``,
    ``learned+pyvrp``): the record's ``proposed`` (its provenance's planner also says how)."""
    return str(record.get("proposed") or (record.get("provenance") or {}).get("planner"))


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


# ------------------------------------------------------------------ field documents
def field_documents(
    store: RunStore, key: str, draft: Mapping[str, Any], city: City
) -> tuple[str, bytes]:
    """The field documents of the stored proposal ``key`` (:func:`twin.write_field_documents`:
    per-truck route sheets, or signal timing tables), zipped, where the audit log of the draft's
    scenario approves it last.

    Parameters
    ----------
    store : RunStore
        Where the proposal and the scenario are.
    key : str
        The proposal's key.
    draft : mapping
        The draft scenario (JSON): its name says whose audit log holds the approval.
    city : City
        The session's city (the documents are refused for another version of it).

    Returns
    -------
    (str, bytes)
        The archive's file name and its content.

    Raises
    ------
    DecisionError
        A draft whose inputs are not those the plans were checked and approved on (their
        own signal plans, applied, aside).
    StoreError
        No such proposal, one that does not verify, or a draft name the store refuses.
    twin.TwinError
        The twin's refusal: not approved (never, or rejected last), a log that does not hold,
        a proposal of another version of the city.
    """
    record = store.proposal(key)
    scenario = store.scenario_path(str(draft.get("name") or ""))
    # the draft must still have the inputs the approved plan was checked on; the twin checks
    # them again, and the approval in its audit log
    now = _inputs_now(record, draft, city)
    _refuse_changed(record, now, "No field documents", "approved")
    with tempfile.TemporaryDirectory(prefix="field-documents-") as folder:
        out = write_field_documents(
            store.proposal_dir(key), scenario, Path(folder) / "documents", city=city,
            current_inputs=now,
        )  # fmt: skip
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.iterdir()):
                if path.name != OUTPUT_MARKER:  # the twin's own bookkeeping, not a document
                    archive.write(path, path.name)
    return f"field-documents-{record['kind']}-{record['proposal_id'][:12]}.zip", buffer.getvalue()


# ------------------------------------------------------------------ route proposals
@dataclass(frozen=True)
class PlanRow:
    """One plan of a route proposal's day as the comparison table shows it."""

    name: str
    role: str
    km: str
    truck_hours: str
    cost_km: str
    unserved_required: str
    valid: str
    solve_s: str
    verdict: str


def _role(name: str, proposed: str, plan: Mapping[str, Any]) -> str:
    if name == proposed:
        return "proposed"
    if name == REFERENCE_PLAN:
        return "current plan (no model), the same time"
    return "a model's, before the polish" if plan.get("by_model") else "no model"


def plan_rows(record: Mapping[str, Any]) -> list[PlanRow]:
    """The plans of a route proposal's day (its record's ``plans``: learned, learned+pyvrp,
    pyvrp, greedy), each named as a model's where it is one, its role, km, truck-hours, cost
    (km and missed prizes), required bins left, validity and solve time, and whether it costs
    less (``better``) or more (``worse``) than the current plan (:data:`REFERENCE_PLAN`).

    Parameters
    ----------
    record : mapping
        The proposal's record (:meth:`dashboards.store.RunStore.proposal`).

    Returns
    -------
    list of PlanRow
        One per plan, in the record's order.
    """
    plans = record.get("plans") or {}
    proposed = proposed_name(record)
    reference = (plans.get(REFERENCE_PLAN) or {}).get("cost_km")
    rows = []
    for name, plan in plans.items():
        cost = plan.get("cost_km")
        verdict = "same"
        if name != REFERENCE_PLAN and cost is not None and reference is not None:
            change = cost - reference
            if abs(change) > 1e-6 * max(reference, 1.0):
                verdict = "better" if change < 0 else "worse"
        rows.append(
            PlanRow(
                name=model_name(name, bool(plan.get("by_model"))),
                role=_role(name, proposed, plan),
                km=f"{plan.get('km', math.nan):,.2f}",
                truck_hours=f"{plan.get('truck_hours', math.nan):,.2f}",
                cost_km=f"{cost if cost is not None else math.nan:,.2f}",
                unserved_required=str(plan.get("unserved_required")),
                valid="yes" if plan.get("valid") else "no",
                solve_s=f"{plan.get('solve_s', math.nan):.2f}",
                verdict=verdict,
            )
        )
    return rows


# ------------------------------------------------------------------ model cards
@lru_cache(maxsize=8)
def _card(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Any], str]:
    # the card is checked against its checkpoint (a second): once per file version
    return read_model_card(path), model_card_markdown(path)


def _read_card(checkpoint: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    path = Path(checkpoint)
    try:
        stat = path.stat()
        return _card(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as err:
        raise StoreError(f"{path}: cannot read the checkpoint ({err.strerror}).") from None
    except (ModelCardError, *USER_ERRORS) as err:
        raise StoreError(str(err)) from None


def model_card(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card of ``checkpoint`` (:func:`twin.read_model_card`), read once per file.

    Raises
    ------
    StoreError
        A checkpoint that is missing, or a card that does not hold (foreign, edited): the
        twin's message.
    """
    return _read_card(checkpoint)[0]


def model_card_text(checkpoint: str | os.PathLike[str]) -> str:
    """The model card of ``checkpoint`` as the twin writes it in Markdown
    (:func:`twin.model_card_markdown`), read once per file.

    Raises
    ------
    StoreError
        As :func:`model_card`.
    """
    return _read_card(checkpoint)[1]
