"""Plans page: every waste policy the twin offers (the learned planner too, labelled as a
model's proposal, with its model card) on the same days, fleet and seed; routes on the map and
KPIs side by side against a baseline policy, differences highlighted. Below, signal plans the
twin proposes for the draft's traffic, labelled with who proposed them and their provenance,
checked against the current ones at three demands, with where delay falls on the map and each
junction's timing. A planner approves or rejects them with a comment (only plans that passed
every check can be approved, and only approved plans applied to the draft); every decision goes
into the scenario's audit log, shown below them."""

from __future__ import annotations

import math

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    AUTO_FLEET,
    VERDICT_STYLE,
    field,
    map_graph,
    map_with_day_slider,
    model_card_view,
    number_field,
    policy_table,
    register_form_check,
    register_job,
    register_run,
    run_controls,
)
from dashboards.figures import delay_figure, routes_figure
from dashboards.forms import PROPOSAL_METHODS, FormError, read_form, read_proposal_form
from dashboards.logic import (
    DAY_MARK_STEPS,
    PLAN_KPIS,
    check_rows,
    delay_levels,
    kpi_change,
    plan_notes,
    policies,
    section_only,
    slider_marks,
    timing_rows,
    with_signals,
)
from dashboards.runner import propose_signal_plans
from dashboards.state import DashboardState
from dashboards.store import StoreError
from dashboards.trust import (
    AUDIT_COLUMNS,
    DecisionError,
    applied,
    approved_timings,
    audit_rows,
    changed_inputs,
    decide_on,
    decisions,
    latest_decision,
    learned_checkpoint,
    model_card,
    policy_label,
    proposal_label,
    provenance_rows,
)
from twin import USER_ERRORS

PATH = "/plans"
TITLE = "Plans"


def layout(state: DashboardState) -> html.Div:
    draft = state.draft()
    waste = draft["waste"]
    names = list(policies())
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("Compare collection plans"),
                            html.P(f"Policies: {', '.join(names)}.", className="note"),
                            field(
                                "Baseline policy",
                                dcc.Dropdown(
                                    id="plans-baseline",
                                    options=_labelled(names),
                                    value="schedule" if "schedule" in names else names[0],
                                    clearable=False,
                                ),
                            ),
                            number_field("Days", "plans-days", value=waste["days"]),
                            number_field(
                                "Trucks",
                                "plans-trucks",
                                value=waste["trucks"],
                                placeholder=AUTO_FLEET,
                            ),
                            field(
                                "Routes shown",
                                dcc.Checklist(
                                    id="plans-shown",
                                    options=_labelled(names),
                                    value=[p for p in ("pyvrp",) if p in names] or names[:1],
                                ),
                            ),
                            run_controls("plans", "Run all policies"),
                        ],
                        className="panel",
                    ),
                    map_with_day_slider(
                        "plans",
                        routes_figure(state.basemap, {}, None, day=None, uirevision="plans"),
                    ),
                ],
                className="columns",
            ),
            html.Div(id="plans-table"),
            route_card_section(),
            html.Hr(),
            signals_section(),
        ]
    )


def _labelled(names: list[str]) -> list[dict[str, str]]:
    """The policies as menu options, a model's labelled so
    (:func:`dashboards.trust.policy_label`)."""
    return [{"label": policy_label(name), "value": name} for name in names]


def route_card_section() -> html.Details:
    """The learned route planner's model card, folded; filled when the page opens (reading a
    card checks it against its checkpoint: a second)."""
    return html.Details(
        [
            html.Summary("Model card of the learned planner (the learned policy's routes)"),
            html.Div(html.P("Reading the card…", className="note"), id="plans-model-card"),
        ],
        id="plans-card",
        className="panel",
    )


SIGNALS_FORM = (("signals-method", "method"), ("signals-simulations", "simulations"))
"""The proposal's fields: input id → :func:`dashboards.forms.read_proposal_form` key."""


def signals_section() -> html.Div:
    """The form that asks the twin for signal plans, and the places their verdict, checks and
    timings, and their maps fill in."""
    form = html.Div(
        [
            html.H3("Propose signal plans"),
            html.P(
                "The twin times every signalized junction for the draft scenario's traffic, "
                "then simulates the plans against the current ones at 80 %, 100 % and 120 % "
                "of its demand. Nothing changes in the scenario until a planner approves them "
                "and applies them; every decision is logged with the scenario.",
                className="note",
            ),
            field(
                "Method",
                dcc.RadioItems(
                    id="signals-method",
                    options=[{"label": text, "value": m} for m, text in PROPOSAL_METHODS.items()],
                    value="webster",
                ),
                check_id="signals-method",
            ),
            number_field(
                "Simulations (search budget)", "signals-simulations", value=30, disabled=True
            ),
            run_controls("signals", "Propose signal plans"),
        ],
        className="panel",
    )
    view = html.Div(
        [
            html.Div(id="signals-stale", className="note warn"),
            html.Div(
                html.P("Propose plans to see how they do.", className="note"), id="signals-view"
            ),
        ]
    )
    return html.Div(
        [
            html.Div([form, view], className="columns"),
            html.Div(id="signals-maps"),
            html.Div(id="signals-audit"),
            dcc.Store(id="signals-audit-version", data=""),
        ],
        id="signals-section",
    )


def register(app: Dash, state: DashboardState) -> None:
    def build(draft, days, trucks):
        values = {"days": days, "trucks": trucks}
        updated = read_form(draft, values, section="waste").model_dump(mode="json")
        return [
            section_only(updated, "waste", policy=policy).model_copy(
                update={"name": f"{updated['name']}-{policy}"}
            )
            for policy in policies()
        ]

    register_run(
        app,
        state,
        prefix="plans",
        store_id="plans-result",
        states=[
            State("draft", "data"),
            State("plans-days", "value"),
            State("plans-trucks", "value"),
        ],
        build=build,
        keep_going=True,  # a policy the twin cannot run here (no checkpoint) must not hide the rest
    )
    register_form_check(
        app,
        prefix="plans",
        fields=[("plans-days", "days"), ("plans-trucks", "trucks")],
        section="waste",
    )

    @app.callback(
        Output("plans-table", "children"),
        Output("plans-day", "max"),
        Output("plans-day", "marks"),
        Input("plans-result", "data"),
        Input("plans-baseline", "value"),
    )
    def show_table(result: dict | None, baseline: str):
        if not result:
            return html.P("Run all policies to compare them.", className="note"), 0, {0: "0"}
        by_policy = _by_policy(result)
        if not by_policy:
            return html.P("No policy could run.", className="error"), 0, {0: "0"}
        try:
            kpis = {p: state.store.kpi_dict(k)["waste"] for p, k in by_policy.items()}
            daily = {p: state.store.table(k, "waste/daily") for p, k in by_policy.items()}
        except StoreError as err:
            return html.Div(str(err), className="error"), no_update, no_update
        days = next(iter(daily.values()))["day"]
        labels = {policy: policy_label(policy) for policy in kpis}
        table = policy_table(kpis, baseline, PLAN_KPIS, table_id="plans-kpis", labels=labels)
        notes = [
            html.P(f"{policy}: {note}", className="note warn")
            for policy, table_of_days in daily.items()
            if (note := plan_notes(table_of_days)) is not None
        ]
        shown = html.Div([table, *notes], id="plans-notes") if notes else table
        return shown, int(days.max()), slider_marks(days, label=str, steps=DAY_MARK_STEPS)

    register_signals(app, state)
    register_decisions(app, state)

    @app.callback(Output("plans-model-card", "children"), Input("plans-card", "id"))
    def show_route_card(_):
        return card_body(state, "collection-routes", what="learned planner")

    @app.callback(
        Output("plans-map", "figure"),
        Input("plans-result", "data"),
        Input("plans-shown", "value"),
        Input("plans-day", "value"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, shown: list[str], day: int | None, tiles=None):
        if not result and not tiles:
            return no_update  # the layout's map is this already
        routes = {}
        if result:
            # the legend names the policy: a model's routes say so
            routes = {
                policy_label(p): state.store.table(k, "waste/routes")
                for p, k in _by_policy(result).items()
                if p in (shown or [])
            }
        # one policy's trucks are named by number: the legend's title names the policy
        title = next(iter(routes)) if len(routes) == 1 else None
        figure = routes_figure(
            state.basemap, routes, None, day=day, uirevision="plans", legend_title=title
        )
        return with_tiles(figure, state.basemap, tiles)


def register_signals(app: Dash, state: DashboardState) -> None:
    """The signal-plan proposal's callbacks (see :func:`signals_section`)."""
    keys = [key for _, key in SIGNALS_FORM]

    def build(draft: dict, *values) -> dict:
        return read_proposal_form(draft, dict(zip(keys, values, strict=True)))

    def execute(request: dict, progress):
        return {"key": propose_signal_plans(state, request, progress), "request": request}, ""

    register_job(
        app,
        prefix="signals",
        store_id="signals-result",
        states=[State("draft", "data"), *[State(cid, "value") for cid, _ in SIGNALS_FORM]],
        build=build,
        execute=execute,
        what="proposal",
    )
    register_form_check(
        app, prefix="signals", fields=SIGNALS_FORM, section=None, read=read_proposal_form
    )
    # the budget is the search's: Webster's method runs a fixed few simulations
    app.clientside_callback(
        "(method) => method !== 'search'",
        Output("signals-simulations", "disabled"),
        Input("signals-method", "value"),
    )

    @app.callback(
        Output("signals-view", "children"),
        Input("signals-result", "data"),
        State("draft", "data"),
    )
    def show_proposal(result: dict | None, draft: dict | None):
        if not result:
            return no_update
        key = result["key"]
        try:
            proposal = state.store.proposal(key)
            checks = state.store.proposal_table(key, "checks")
            current = state.store.proposal_table(key, "current")
            plans = state.store.proposal_table(key, "plans")
        except StoreError as err:
            return html.Div(str(err), className="error", role="alert")
        parts = [
            label_line(proposal),
            verdict(proposal, checks),
            provenance_table(proposal["provenance"]),
            checks_table(checks),
            decision_box(proposal, *_decision_state(state, proposal, draft or {})),
        ]
        if proposal["provenance"].get("by_model"):
            parts.append(signal_card(state, proposal["provenance"]))
        return [*parts, timings_table(timing_rows(current, plans))]

    @app.callback(
        Output("signals-maps", "children"),
        Input("signals-result", "data"),
        Input("map-tiles", "value"),
    )
    def draw_maps(result: dict | None, tiles=None):
        if not result:
            return no_update
        try:
            delays = state.store.proposal_table(result["key"], "edge_delays")
        except StoreError as err:
            return html.Div(str(err), className="error")
        if len(delays) != state.basemap.n_edges:
            return html.P("These plans were proposed for another network.", className="error")
        now, proposed = state.figure(
            ("signal-delay-maps", result["key"]), lambda: delay_maps(state, delays)
        )
        return html.Div(
            [
                html.P(
                    "Delay on each link at the scenario's demand, vehicle-hours: one colour "
                    "scale for both maps.",
                    className="note",
                ),
                html.Div(
                    [
                        html.Div(
                            [
                                html.Strong("Current plans"),
                                map_graph("signals-map-now", with_tiles(now, state.basemap, tiles)),
                            ]
                        ),
                        html.Div(
                            [
                                html.Strong("Proposed plans"),
                                map_graph(
                                    "signals-map-proposed",
                                    with_tiles(proposed, state.basemap, tiles),
                                ),
                            ]
                        ),
                    ],
                    className="charts",
                ),
            ]
        )

    @app.callback(
        Output("signals-stale", "children"),
        Input("signals-result", "data"),
        Input("draft", "data"),
    )
    def say_if_stale(result: dict | None, draft: dict):
        if not result:
            return ""
        request = result["request"]
        try:
            now = read_proposal_form(draft, {"method": request["method"], "simulations": 1})
        except FormError:
            return ""  # the form's own line says what is wrong with the draft
        # applying the plans changes the draft's signals: only the rest makes the checks old
        if _unsignalled(now) != _unsignalled(request):
            return (
                "The draft's traffic changed since these plans were checked: propose again to "
                "check them on it."
            )
        return ""

    @app.callback(
        Output("signals-applied", "children"),
        Output("draft", "data", allow_duplicate=True),
        Input("signals-apply", "n_clicks"),
        State("signals-result", "data"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def apply(clicks, result: dict | None, draft: dict):
        """A planner's click on plans approved in the draft's audit log, and nothing else,
        writes them into the draft."""
        if not clicks or not result:
            return no_update, no_update
        try:
            timings = approved_timings(state.store, result["key"], draft, state.city)
            updated = with_signals(draft, timings)
        except (*USER_ERRORS, StoreError, DecisionError) as err:
            return html.Div(str(err), className="error", role="alert"), no_update
        done = html.Div(
            f"Applied: {len(timings)} junctions retimed in the draft scenario "
            "(its signal plans on the Scenarios page; save it there to keep it).",
            className="ok",
        )
        return done, updated


def _decision_state(
    state: DashboardState, proposal: dict, draft: dict
) -> tuple[dict | None, list[str], bool, str | None]:
    """The last decision on ``proposal`` in the draft's audit log, the inputs the draft has
    otherwise than when it was checked, whether only applying it changed them, and what went
    wrong reading either (a log edited by hand, a draft that is not a scenario)."""
    try:
        entries = decisions(state.store, draft.get("name", ""))
        changed = changed_inputs(proposal, draft, state.city)
    except (*USER_ERRORS, StoreError) as err:
        return None, [], False, str(err)
    latest = latest_decision(entries, proposal["proposal_id"])
    return latest, changed, bool(changed) and applied(proposal, draft), None


def register_decisions(app: Dash, state: DashboardState) -> None:
    """A planner's approval or rejection of the proposal shown, and the audit log's view."""

    def decided(decision: str, result: dict | None, draft: dict, by: str | None, comment):
        """Log the decision; the box drawn again with it, or the line that says why not."""
        try:
            # read first: once logged, a decision is not to be reported as failed
            proposal = state.store.proposal(result["key"])
            changed = changed_inputs(proposal, draft, state.city)
            entry = decide_on(
                state.store, result["key"], draft, state.city,
                decision=decision, comment=comment or "", by=by or "",
            )  # fmt: skip
        except (*USER_ERRORS, StoreError, DecisionError) as err:
            return no_update, str(err), no_update
        box = decision_box(proposal, entry, changed, False, None, by=by or "")
        # the entry's hash: a new value for every decision, so the audit view reads the log
        return box.children, no_update, entry["sha256"]

    # two callbacks write these (one a button): Dash wants that said
    outputs = (
        Output("signals-decision", "children", allow_duplicate=True),
        Output("signals-decision-error", "children", allow_duplicate=True),
        Output("signals-audit-version", "data", allow_duplicate=True),
    )
    states = (
        State("signals-result", "data"),
        State("draft", "data"),
        State("signals-by", "value"),
        State("signals-comment", "value"),
    )

    # one callback a button: the Approve button exists only for a recommended proposal, and a
    # callback whose input is missing from the page would fail in the browser
    @app.callback(*outputs, Input("signals-approve", "n_clicks"), *states,
                  prevent_initial_call=True)  # fmt: skip
    def approve(clicks, result: dict | None, draft: dict, by: str | None, comment: str | None):
        if not clicks or not result:
            return no_update, no_update, no_update
        return decided("approved", result, draft, by, comment)

    @app.callback(*outputs, Input("signals-reject", "n_clicks"), *states,
                  prevent_initial_call=True)  # fmt: skip
    def reject(clicks, result: dict | None, draft: dict, by: str | None, comment: str | None):
        if not clicks or not result:
            return no_update, no_update, no_update
        return decided("rejected", result, draft, by, comment)

    @app.callback(
        Output("signals-audit", "children"),
        Input("draft", "data"),
        Input("signals-audit-version", "data"),
    )
    def show_audit(draft: dict | None, _version: str | None):
        return audit_view(state, (draft or {}).get("name", ""))


def _unsignalled(request: dict) -> tuple:
    """What a proposal's checks depend on besides the signal plans it changes."""
    spec = {k: v for k, v in request["spec"].items() if k != "signals"}
    return spec, request["seed"]


METHOD_NAMES = {
    "webster": "Webster's method",
    "search": "the search from Webster's plans",
    "learned": "the learned signal planner",
}
"""How the verdict names the way the junctions were timed."""


def label_line(proposal: dict) -> html.P:
    """Who proposed the plans (:func:`twin.model_label`): a model's say so first."""
    return html.P(
        proposal_label(proposal),
        id="signals-label",
        className="note warn" if proposal["provenance"].get("by_model") else "note",
    )


def verdict(proposal: dict, checks: pd.DataFrame) -> html.Div:
    """Recommended, with the change of delay at the scenario's demand; or not, with every
    check it failed. Figures of the scenario outside the model's training range are named."""
    at_demand = checks[checks["demand_scale"] == 1.0].iloc[0]
    before, after = at_demand["current_total_delay_veh_h"], at_demand["proposed_total_delay_veh_h"]
    change, _ = kpi_change("total_delay_veh_h", after, before)
    others = " or ".join(
        f"{scale:.0%}".replace("%", " %") for scale in checks["demand_scale"] if scale != 1.0
    )
    method = METHOD_NAMES.get(proposal["method"], proposal["method"])
    how = html.P(
        f"{proposal['junctions']} junctions timed by {method}; {proposal['simulations']} "
        f"simulations in {proposal['wall_s']:.1f} s.",
        className="note",
    )
    notes = _range_notes(proposal.get("notes") or [])
    if proposal["recommended"]:
        line = html.P(
            [
                html.Strong("Recommended: "),
                f"total delay {before:,.1f} → {after:,.1f} veh·h ({change}) at the scenario's "
                f"demand, no more at {others} of it, and no more trips unfinished. A planner "
                "approves or rejects them below.",
            ],
            className="ok",
            id="signals-verdict-line",
        )
        return html.Div([line, *notes, how])
    line = html.P(
        [
            html.Strong("Not recommended: "),
            "the current plans stay; these cannot be approved or applied. They failed these "
            "checks:",
        ],
        className="error",
        id="signals-verdict-line",
    )
    reasons = html.Ul([html.Li(r) for r in proposal["reasons"]], id="signals-reasons")
    return html.Div([line, reasons, *notes, how])


def _range_notes(notes: list[str]) -> list:
    """The scenario's figures outside the model's training range, flagged."""
    if not notes:
        return []
    return [
        html.P("Outside the model's training range:", className="note alarm"),
        html.Ul([html.Li(n) for n in notes], id="signals-range-notes", className="note warn"),
    ]


def provenance_table(provenance: dict) -> html.Table:
    """Where the plans come from (:func:`dashboards.trust.provenance_rows`), one row a field."""
    rows = [
        html.Tr([html.Th(label), html.Td(value)], id=f"signals-provenance-{i}")
        for i, (label, value) in enumerate(provenance_rows(provenance))
    ]
    return html.Table(
        [html.Caption("Provenance"), html.Tbody(rows)],
        id="signals-provenance",
        className="kpi-table",
        title=f"provenance id {provenance.get('id')}",
    )


CHECK_COLUMNS = (
    "Demand",
    "Delay now",
    "Delay proposed",
    "Change",
    "Trips unfinished",
    "Longest queue",
    "Held at the edge",
)


def checks_table(checks: pd.DataFrame) -> html.Table:
    """The proposal against the current plans at each demand checked: delay now and proposed
    with its change, then unfinished trips, longest queue and vehicles held at the network's
    edge (now → proposed), each coloured better or worse."""
    body = []
    for demand, cells in check_rows(checks):
        delay = cells["total_delay_veh_h"]
        style = VERDICT_STYLE[delay.verdict]
        row = [
            html.Td(demand),
            html.Td(delay.now),
            html.Td(delay.proposed, style=style),
            html.Td(delay.change or "–", style=style),
        ]
        for measure in ("trips_unfinished", "longest_queue_veh", "held_at_edge_veh"):
            cell = cells[measure]
            row.append(html.Td(f"{cell.now} → {cell.proposed}", style=VERDICT_STYLE[cell.verdict]))
        body.append(html.Tr(row, id=f"signals-check-{demand.split()[0]}"))
    head = html.Thead(html.Tr([html.Th(c) for c in CHECK_COLUMNS]))
    return html.Table([head, html.Tbody(body)], id="signals-checks-table", className="kpi-table")


def decision_box(
    proposal: dict,
    latest: dict | None,
    changed: list[str],
    was_applied: bool,
    problem: str | None,
    *,
    by: str = "",
) -> html.Div:
    """What a planner decides with: the last decision, a name and a comment, Approve (only
    for recommended plans the draft still has the inputs of) and Reject (always), and Apply
    (only for recommended plans, enabled once approved).

    Parameters
    ----------
    proposal : dict
        The proposal's record.
    latest : dict or None
        The last decision on it in the draft's audit log.
    changed : list of str
        The inputs the draft has otherwise than when the plans were checked.
    was_applied : bool
        Whether applying these plans is the draft's only change.
    problem : str or None
        Why the log or the draft could not be read (nothing can be decided then).
    by : str
        The name in the name field.

    Returns
    -------
    dash.html.Div
        The box, ``signals-decision``.
    """
    recommended = bool(proposal["recommended"])
    approved = latest is not None and latest["decision"] == "approved"
    stale = bool(changed) and not was_applied
    lines = [_decision_line(latest, recommended)]
    if problem:
        lines.append(html.P(problem, className="error", role="alert"))
    elif stale:
        lines.append(
            html.P(
                f"The draft's {', '.join(changed)} changed since these plans were checked: "
                "they can no longer be approved or applied. Propose again for the draft as it "
                "is now.",
                className="note warn",
                id="signals-decision-stale",
            )
        )
    buttons = []
    if recommended:
        buttons.append(
            html.Button(
                "Approve",
                id="signals-approve",
                className="button primary",
                disabled=bool(problem) or stale or approved,
                title="Log your approval: it is what allows applying the plans to the draft.",
            )
        )
    buttons.append(
        html.Button(
            "Reject",
            id="signals-reject",
            className="button",
            disabled=bool(problem),
            title="Log that these plans are not to be used, and why.",
        )
    )
    children = [
        html.H4("Your decision"),
        *lines,
        field("Your name (required)", dcc.Input(id="signals-by", value=by, type="text")),
        field("Comment", dcc.Textarea(id="signals-comment", value="", style={"width": "100%"})),
        html.Div(buttons, className="run-controls"),
        html.Div("", id="signals-decision-error", className="error", role="alert"),
    ]
    if recommended:
        children.append(apply_box(approved and not stale and not problem, was_applied))
    return html.Div(children, id="signals-decision", className="panel")


def _decision_line(latest: dict | None, recommended: bool) -> html.P:
    """The last decision on the plans, or what can be decided."""
    if latest is None:
        text = (
            "Not decided yet: approve or reject these plans."
            if recommended
            else "Not recommended: reject these plans to log your decision."
        )
        return html.P(text, className="note", id="signals-decided", role="status")
    comment = f": {latest['comment']}" if latest.get("comment") else ""
    text = f"{latest['decision'].capitalize()} by {latest['by']}, {latest['time']}{comment}"
    style = "ok" if latest["decision"] == "approved" else "note warn"
    return html.P(text, className=style, id="signals-decided", role="status")


def apply_box(allowed: bool, was_applied: bool = False) -> html.Div:
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
                id="signals-apply",
                className="button primary",
                disabled=not allowed or was_applied,
                title=why,
            ),
            html.Span("Applied to the draft." if was_applied else why, className="note"),
            html.Div(id="signals-applied", role="status"),
        ],
        className="run-controls",
    )


def audit_view(state: DashboardState, name: str) -> html.Div:
    """The decisions logged for the scenario named ``name`` (newest first), or, where the log
    does not hold, the twin's message naming the line, in red."""
    heading = html.H4(f"Decisions on the plans of scenario {name!r} (audit log)")
    try:
        entries = decisions(state.store, name)
    except (*USER_ERRORS, StoreError) as err:
        return html.Div(
            [heading, html.P(str(err), className="error", id="signals-audit-error", role="alert")]
        )
    if not entries:
        return html.Div([heading, html.P("No decision yet.", className="note")])
    head = html.Thead(html.Tr([html.Th(c) for c in AUDIT_COLUMNS]))
    body = html.Tbody(
        [
            html.Tr([html.Td(cell) for cell in row], id=f"signals-audit-{row[0]}")
            for row in audit_rows(entries)
        ]
    )
    return html.Div(
        [heading, html.Table([head, body], id="signals-audit-table", className="kpi-table")]
    )


def signal_card(state: DashboardState, provenance: dict) -> html.Details:
    """The model card of the learned signal planner that proposed the plans, folded."""
    return html.Details(
        [
            html.Summary(f"Model card of the learned signal planner ({provenance['checkpoint']})"),
            card_body(
                state,
                "signal-plans",
                what="learned signal planner",
                checkpoint_sha256=provenance.get("checkpoint_sha256"),
                view_id="signals-card",
            ),
        ],
        id="signals-card-details",
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
    """The card of the checkpoint the twin's learned planner of ``kind`` uses for the
    session's city; with ``checkpoint_sha256``, only if it is the card of that checkpoint (the
    one that made the plans shown)."""
    checkpoint = learned_checkpoint(kind, state.city)
    if checkpoint is None:
        return html.P(
            f"The twin does not say which checkpoint the {what} uses for this city, so its "
            "card cannot be shown here: `twin model-card CHECKPOINT` shows it.",
            className="note warn",
        )
    try:
        card = model_card(checkpoint)
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
    return html.Div([intro, model_card_view(card, view_id=view_id)])


TIMING_COLUMNS = (
    "Junction (OSM)",
    "Cycle now",
    "Cycle proposed",
    "Greens per phase now, s",
    "Greens proposed, s",
    "Offset now",
    "Offset proposed",
)


def _seconds(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:g} s"


def timings_table(rows: pd.DataFrame) -> html.Div:
    """Every junction's timing, current and proposed (:func:`dashboards.logic.timing_rows`)."""
    body = [
        html.Tr(
            [
                html.Td(str(row.junction)),
                html.Td(_seconds(row.cycle_now_s)),
                html.Td(_seconds(row.cycle_s)),
                html.Td(row.greens_now or "–"),
                html.Td(row.greens),
                html.Td(_seconds(row.offset_now_s)),
                html.Td(_seconds(row.offset_s)),
            ],
            id=f"signals-timing-{row.junction}",
        )
        for row in rows.itertuples()
    ]
    head = html.Thead(html.Tr([html.Th(c) for c in TIMING_COLUMNS]))
    return html.Div(
        [
            html.H4(f"Timing of the {len(rows)} junctions"),
            html.Div(
                html.Table(
                    [head, html.Tbody(body)], id="signals-timing-table", className="kpi-table"
                ),
                style={"maxHeight": "360px", "overflowY": "auto"},
            ),
        ]
    )


def delay_maps(state: DashboardState, delays: pd.DataFrame) -> tuple:
    """Links coloured by their delay under the current and the proposed plans, on one scale."""
    now = delays["current_delay_veh_h"].to_numpy(dtype=float)
    proposed = delays["proposed_delay_veh_h"].to_numpy(dtype=float)
    levels = delay_levels(now, proposed)
    notes = [f"delay {a:.3f} → {b:.3f} veh·h" for a, b in zip(now, proposed, strict=True)]
    return tuple(
        delay_figure(state.basemap, values, levels, notes=notes, uirevision=f"signals-{name}")
        for name, values in (("now", now), ("proposed", proposed))
    )


def _by_policy(result: dict) -> dict[str, str]:
    """Run key of each policy, from the names the Plans run gives its scenarios."""
    return {
        name.rsplit("-", 1)[-1]: key
        for key, name in zip(result["keys"], result["names"], strict=True)
        if key is not None
    }
