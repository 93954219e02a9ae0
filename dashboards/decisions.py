"""A planner's side of a proposal on the Plans page, for signal plans and a day's collection
routes alike: who proposed it (its label and provenance), the card of the model that did, the
decision box (Approve only for a recommended proposal, Reject always, with a name and a
comment), Apply (signal plans), the field documents of an approved plan, and the scenario's
audit log.

A proposal section's ids start with its prefix (:class:`Section`: ``signals-approve``,
``routes-approve``…); the audit log's view is the page's own (``plans-audit``), and a decision
in either section redraws it. The records these views show come from :mod:`dashboards.trust`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.components import field
from dashboards.logic import scenario_from_draft, yaml_digest
from dashboards.state import DashboardState
from dashboards.store import StoreError
from dashboards.trust import (
    AUDIT_COLUMNS,
    DecisionError,
    applied,
    audit_rows,
    changed_inputs,
    decide_on,
    decisions,
    field_documents,
    latest_decision,
    model_card,
    model_card_text,
    proposal_label,
    provenance_rows,
)
from twin import USER_ERRORS, learned_checkpoint

__all__ = [
    "AUDIT_VERSION",
    "ROUTES",
    "SIGNALS",
    "Section",
    "audit_view",
    "card_body",
    "decision_box",
    "decision_state",
    "download_target",
    "label_line",
    "proposal_card",
    "provenance_table",
    "range_notes",
    "register_audit",
    "register_decisions",
    "verdict_view",
]

AUDIT_VERSION = "plans-audit-version"
"""The store a decision writes (the log entry's hash), so that the audit view reads the log."""


@dataclass(frozen=True)
class Section:
    """A kind of proposal as the Plans page shows it.

    Parameters
    ----------
    prefix : str
        Start of its ids, and of its result store (``<prefix>-result``).
    kind : str
        The twin's kind of plan (``signal-plans``, ``collection-routes``): which learned
        planner's card belongs to it.
    what : str
        That learned planner, as sentences name it.
    documents : str
        What its field documents are.
    can_apply : bool
        Whether an approved proposal is applied to the draft (signal plans: the draft's
        timings).
    """

    prefix: str
    kind: str
    what: str
    documents: str
    can_apply: bool


SIGNALS = Section(
    "signals",
    "signal-plans",
    "learned signal planner",
    "the timing tables (CSV, and Markdown to print)",
    can_apply=True,
)
ROUTES = Section(
    "routes",
    "collection-routes",
    "learned planner",
    "each truck's route sheet (GeoJSON and GPX) and every stop in driving order (CSV)",
    can_apply=False,
)


# ------------------------------------------------------------------ who proposed it
def label_line(proposal: dict, *, section: Section = SIGNALS) -> html.P:
    """Who proposed the plans (:func:`twin.model_label`): a model's say so first."""
    return html.P(
        proposal_label(proposal),
        id=f"{section.prefix}-label",
        className="note warn" if proposal["provenance"].get("by_model") else "note",
    )


def range_notes(notes: list[str], *, section: Section = SIGNALS) -> list:
    """The figures outside the model's training range, flagged."""
    if not notes:
        return []
    return [
        html.P("Outside the model's training range:", className="note alarm"),
        html.Ul(
            [html.Li(n) for n in notes],
            id=f"{section.prefix}-range-notes",
            className="note warn",
        ),
    ]


def provenance_table(provenance: dict, *, section: Section = SIGNALS) -> html.Table:
    """Where the plans come from (:func:`dashboards.trust.provenance_rows`), one row a field."""
    prefix = section.prefix
    rows = [
        html.Tr([html.Th(label), html.Td(value)], id=f"{prefix}-provenance-{i}")
        for i, (label, value) in enumerate(provenance_rows(provenance))
    ]
    return html.Table(
        [html.Caption("Provenance"), html.Tbody(rows)],
        id=f"{prefix}-provenance",
        className="kpi-table",
        title=f"provenance id {provenance.get('id')}",
    )


def verdict_view(
    proposal: dict, *, section: Section, recommended: str, refused: str, how: html.P
) -> html.Div:
    """Recommended, saying why (``recommended``); or not, saying what stays (``refused``) and
    every check the proposal failed. Figures outside the model's training range are named,
    then ``how`` the plans were made.

    Parameters
    ----------
    proposal : dict
        The proposal's record.
    section : Section
        Its kind (the ids).
    recommended, refused : str
        The verdict's line, after its first words, for either verdict.
    how : dash.html.P
        How the plans were made (the last line).

    Returns
    -------
    dash.html.Div
        The verdict, its line ``<prefix>-verdict-line``, the failed checks ``<prefix>-reasons``.
    """
    prefix = section.prefix
    notes = range_notes(proposal.get("notes") or [], section=section)
    if proposal["recommended"]:
        line = html.P(
            [html.Strong("Recommended: "), recommended],
            className="ok",
            id=f"{prefix}-verdict-line",
        )
        return html.Div([line, *notes, how])
    line = html.P(
        [html.Strong("Not recommended: "), f"{refused} They failed these checks:"],
        className="error",
        id=f"{prefix}-verdict-line",
    )
    reasons = html.Ul([html.Li(r) for r in proposal["reasons"]], id=f"{prefix}-reasons")
    return html.Div([line, reasons, *notes, how])


# ------------------------------------------------------------------ the decision
def decision_state(
    state: DashboardState, proposal: dict, draft: dict
) -> tuple[dict | None, list[str], bool, str | None]:
    """The last decision on ``proposal`` in the draft's audit log, the inputs the draft has
    otherwise than when it was checked (its own plans, applied, aside), whether the draft has
    them applied and nothing else changed, and what went wrong reading either (a log edited
    by hand, a draft that is not a scenario)."""
    try:
        entries = decisions(state.store, draft.get("name", ""))
        changed = changed_inputs(proposal, draft, state.city)
    except (*USER_ERRORS, StoreError) as err:
        return None, [], False, str(err)
    latest = latest_decision(entries, proposal["proposal_id"])
    return latest, changed, not changed and applied(proposal, draft), None


def decision_box(
    proposal: dict,
    latest: dict | None,
    changed: list[str],
    was_applied: bool,
    problem: str | None,
    *,
    by: str = "",
    section: Section = SIGNALS,
) -> html.Div:
    """What a planner decides with: the last decision, a name and a comment, Approve (only
    for recommended plans the draft still has the inputs of) and Reject (always); for
    recommended plans, Apply (where the section applies plans) and the field documents, both
    enabled once approved.

    Parameters
    ----------
    proposal : dict
        The proposal's record.
    latest : dict or None
        The last decision on it in the draft's audit log.
    changed : list of str
        The inputs the draft has otherwise than when the plans were checked (the plans
        themselves, applied, aside: :func:`dashboards.trust.changed_inputs`).
    was_applied : bool
        Whether the draft has these plans applied, and no other change.
    problem : str or None
        Why the log or the draft could not be read (nothing can be decided then).
    by : str
        The name in the name field.
    section : Section
        The kind of proposal (its ids, whether it is applied).

    Returns
    -------
    dash.html.Div
        The box, ``<prefix>-decision``.
    """
    prefix = section.prefix
    recommended = bool(proposal["recommended"])
    approved = latest is not None and latest["decision"] == "approved"
    stale = bool(changed) and not was_applied
    lines = [_decision_line(latest, recommended, prefix)]
    if problem:
        lines.append(html.P(problem, className="error", role="alert"))
    elif stale:
        lines.append(
            html.P(
                f"The draft's {', '.join(changed)} changed since these plans were checked: "
                f"they can no longer be approved{' or applied' if section.can_apply else ''}. "
                "Propose again for the draft as it is now.",
                className="note warn",
                id=f"{prefix}-decision-stale",
            )
        )
    buttons = []
    if recommended:
        buttons.append(
            html.Button(
                "Approve",
                id=f"{prefix}-approve",
                className="button primary",
                disabled=bool(problem) or stale or approved,
                title="Log your approval: it is what allows "
                + ("applying the plans to the draft." if section.can_apply else "field documents."),
            )
        )
    buttons.append(
        html.Button(
            "Reject",
            id=f"{prefix}-reject",
            className="button",
            disabled=bool(problem),
            title="Log that these plans are not to be used, and why.",
        )
    )
    children = [
        html.H4("Your decision"),
        *lines,
        field("Your name (required)", dcc.Input(id=f"{prefix}-by", value=by, type="text")),
        field(
            "Comment (required to reject: why)",
            dcc.Textarea(id=f"{prefix}-comment", value="", style={"width": "100%"}),
        ),
        html.Div(buttons, className="run-controls"),
        html.Div("", id=f"{prefix}-decision-error", className="error", role="alert"),
    ]
    if recommended:
        allowed = approved and not problem
        if section.can_apply:
            children.append(apply_box(allowed and not stale, was_applied, prefix=prefix))
        children.append(download_box(allowed, section))
    return html.Div(children, id=f"{prefix}-decision", className="panel")


def _decision_line(latest: dict | None, recommended: bool, prefix: str) -> html.P:
    """The last decision on the plans, or what can be decided."""
    if latest is None:
        text = (
            "Not decided yet: approve or reject these plans."
            if recommended
            else "Not recommended: reject these plans to log your decision."
        )
        return html.P(text, className="note", id=f"{prefix}-decided", role="status")
    comment = f": {latest['comment']}" if latest.get("comment") else ""
    text = f"{latest['decision'].capitalize()} by {latest['by']}, {latest['time']}{comment}"
    style = "ok" if latest["decision"] == "approved" else "note warn"
    return html.P(text, className=style, id=f"{prefix}-decided", role="status")


def apply_box(allowed: bool, was_applied: bool = False, *, prefix: str = "signals") -> html.Div:
    """The button that applies approved plans to the draft; disabled, saying why, until a
    planner has approved them."""
    why = (
        "Writes these timings into the draft scenario's signal plans."
        if allowed
        else "Approve the plans first: the approval is what allows applying them."
    )
    return html.Div(
        [
            html.Button(
                "Apply to the draft",
                id=f"{prefix}-apply",
                className="button primary",
                disabled=not allowed or was_applied,
                title=why,
            ),
            html.Span("Applied to the draft." if was_applied else why, className="note"),
            html.Div(id=f"{prefix}-applied", role="status"),
        ],
        className="run-controls",
    )


def download_box(allowed: bool, section: Section) -> html.Div:
    """The button that downloads an approved plan's field documents as a zip; disabled, saying
    why, until a planner has approved the plans."""
    why = (
        f"A zip of {section.documents}, each saying who proposed and who approved the plans."
        if allowed
        else "Approve the plans first: only an approved plan becomes a field document."
    )
    return html.Div(
        [
            html.Button(
                "Download field documents",
                id=f"{section.prefix}-download",
                className="button",
                disabled=not allowed,
                title=why,
            ),
            html.Span(why, className="note"),
            html.Div("", id=f"{section.prefix}-download-error", className="error", role="alert"),
        ],
        className="run-controls",
    )


def download_target(section: Section) -> dcc.Download:
    """Where the field documents' zip is sent from: outside the decision box, which a decision
    redraws."""
    return dcc.Download(id=f"{section.prefix}-field-documents")


def register_decisions(app: Dash, state: DashboardState, section: Section) -> None:
    """A planner's approval or rejection of the section's proposal shown (the one in its
    ``<prefix>-result`` store), and the download of its field documents once approved."""
    prefix = section.prefix

    def decided(
        decision: str, result: dict, draft: dict, by: str | None, comment, known: dict | None
    ):
        """Log the decision; the box drawn again with it, or the line that says why not."""
        known = known or {}
        try:
            # read first: once logged, a decision is not to be reported as failed
            proposal = state.store.proposal(result["key"])
            changed = changed_inputs(proposal, draft, state.city)
            was_applied = not changed and applied(proposal, draft)
            scenario = scenario_from_draft(draft)
            entry = decide_on(
                state.store, result["key"], draft, state.city,
                decision=decision, comment=comment or "", by=by or "",
                known=known.get(scenario.name),
            )  # fmt: skip
        except (*USER_ERRORS, StoreError, DecisionError) as err:
            return no_update, str(err), no_update, no_update
        box = decision_box(
            proposal, entry, changed, was_applied, None, by=by or "", section=section
        )
        # the draft saved with the decision is this browser's version of its name now (its
        # digest, not the file's: another session may have saved over it since)
        known = {**known, scenario.name: yaml_digest(scenario)}
        # the entry's hash: a new value for every decision, so the audit view reads the log
        return box.children, no_update, entry["sha256"], known

    # two callbacks write these (one a button): Dash wants that said
    outputs = (
        Output(f"{prefix}-decision", "children", allow_duplicate=True),
        Output(f"{prefix}-decision-error", "children", allow_duplicate=True),
        Output(AUDIT_VERSION, "data", allow_duplicate=True),
        Output("scenario-known", "data", allow_duplicate=True),
    )
    states = (
        State(f"{prefix}-result", "data"),
        State("draft", "data"),
        State(f"{prefix}-by", "value"),
        State(f"{prefix}-comment", "value"),
        State("scenario-known", "data"),
    )

    def button(name: str, decision: str) -> None:
        # one callback a button: the Approve button exists only for a recommended proposal,
        # and a callback whose input is missing from the page would fail in the browser
        @app.callback(*outputs, Input(f"{prefix}-{name}", "n_clicks"), *states,
                      prevent_initial_call=True)  # fmt: skip
        def click(clicks, result: dict | None, draft: dict, by, comment, known: dict | None):
            if not clicks or not result:
                return no_update, no_update, no_update, no_update
            return decided(decision, result, draft, by, comment, known)

    button("approve", "approved")
    button("reject", "rejected")

    @app.callback(
        Output(f"{prefix}-field-documents", "data"),
        Output(f"{prefix}-download-error", "children"),
        Input(f"{prefix}-download", "n_clicks"),
        State(f"{prefix}-result", "data"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def download(clicks, result: dict | None, draft: dict | None):
        """The twin writes the documents only of a plan the draft's audit log approves last."""
        if not clicks or not result:
            return no_update, no_update
        try:
            name, data = field_documents(state.store, result["key"], draft or {}, state.city)
        except (*USER_ERRORS, StoreError, DecisionError) as err:
            return no_update, " ".join(str(err).split())  # one line
        return dcc.send_bytes(data, name), ""


# ------------------------------------------------------------------ the audit log
def audit_view(state: DashboardState, name: str) -> html.Div:
    """The decisions logged for the scenario named ``name`` (newest first), or, where the log
    does not hold, the twin's message naming the line, in red."""
    heading = html.H4(f"Decisions on the plans of scenario {name!r} (audit log)")
    try:
        entries = decisions(state.store, name)
    except (*USER_ERRORS, StoreError) as err:
        return html.Div(
            [heading, html.P(str(err), className="error", id="plans-audit-error", role="alert")]
        )
    if not entries:
        return html.Div([heading, html.P("No decision yet.", className="note")])
    head = html.Thead(html.Tr([html.Th(c) for c in AUDIT_COLUMNS]))
    body = html.Tbody(
        [
            html.Tr([html.Td(cell) for cell in row], id=f"plans-audit-{row[0]}")
            for row in audit_rows(entries)
        ]
    )
    return html.Div(
        [heading, html.Table([head, body], id="plans-audit-table", className="kpi-table")]
    )


def register_audit(app: Dash, state: DashboardState) -> None:
    """The audit view (``plans-audit``) follows the draft's name and every decision."""

    @app.callback(
        Output("plans-audit", "children"),
        Input("draft", "data"),
        Input(AUDIT_VERSION, "data"),
    )
    def show_audit(draft: dict | None, _version: str | None):
        return audit_view(state, (draft or {}).get("name", ""))


# ------------------------------------------------------------------ model cards
def proposal_card(state: DashboardState, provenance: dict, section: Section) -> html.Details:
    """The model card of the learned planner that proposed the plans, folded."""
    return html.Details(
        [
            html.Summary(f"Model card of the {section.what} ({provenance['checkpoint']})"),
            card_body(
                state,
                section.kind,
                what=section.what,
                checkpoint_sha256=provenance.get("checkpoint_sha256"),
                view_id=f"{section.prefix}-card",
            ),
        ],
        id=f"{section.prefix}-card-details",
        className="panel",
    )


def card_body(
    state: DashboardState,
    kind: str,
    *,
    what: str,
    checkpoint_sha256: str | None = None,
    view_id: str = "plans-card-view",
) -> html.Div:
    """The card (:func:`twin.model_card_markdown`) of the checkpoint the twin's learned planner
    of ``kind`` uses for the session's city (:func:`twin.learned_checkpoint`); with
    ``checkpoint_sha256``, only if it is the card of that checkpoint (the one that made the
    plans shown)."""
    checkpoint = learned_checkpoint(kind, state.city)
    if checkpoint is None:
        return html.P(
            f"No checkpoint of the {what} is installed, so it has no card to show.",
            className="note warn",
        )
    try:
        card, text = model_card(checkpoint), model_card_text(checkpoint)
    except StoreError as err:
        return html.Div(str(err), className="error", role="alert")
    if checkpoint_sha256 and card.get("checkpoint_sha256") != checkpoint_sha256:
        return html.P(
            f"{checkpoint.name} has changed since these plans were proposed: its card is not "
            "that of the model that proposed them.",
            className="note warn",
        )
    intro = html.P(
        f"Card {card.get('card_version')} of {checkpoint.name}, the {what} for {state.city.name}.",
        className="note",
    )
    return html.Div([intro, dcc.Markdown(text, id=view_id, className="model-card")])
