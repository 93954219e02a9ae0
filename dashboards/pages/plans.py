"""Plans page: every waste policy the twin offers (the learned planner too, labelled as a
model's proposal, with its provenance and model card) on the same days, fleet and seed; routes on
the map and KPIs side by side against a baseline policy, differences highlighted.

Below, the plans a planner decides on, each proposal checked in the twin before it is shown and
labelled with who proposed it and its provenance: a day's collection routes by the learned
planner, checked (capacity, shift, bins that must be emptied, km against PyVRP's plan in the same
time) and compared with PyVRP's and greedy's plans, on the map; and signal plans for the draft's
traffic, checked against the current ones at three demands, with where delay falls on the map and
each junction's timing. A planner approves or rejects each with a comment (only a proposal that
passed every check can be approved); only approved signal plans are applied to the draft, and only
an approved plan downloads as field documents. Every decision goes into the scenario's audit log,
shown at the bottom (:mod:`dashboards.decisions`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    AUTO_FLEET,
    VERDICT_STYLE,
    field,
    map_graph,
    map_with_day_slider,
    number_field,
    policy_table,
    register_form_check,
    register_job,
    register_run,
    rounds_file,
    run_controls,
    shared_fleet,
)
from dashboards.decisions import (
    AUDIT_VERSION,
    ROUTES,
    SIGNALS,
    Section,
    card_body,
    decision_box,
    decision_state,
    download_target,
    label_line,
    proposal_card,
    provenance_table,
    register_audit,
    register_decisions,
    verdict_view,
)
from dashboards.figures import delay_figure, proposed_routes_figure, routes_figure
from dashboards.forms import (
    PROPOSAL_METHODS,
    FormError,
    read_form,
    read_proposal_form,
    read_routes_form,
)
from dashboards.logic import (
    DAY_MARK_STEPS,
    PLAN_KPIS,
    check_rows,
    default_baseline,
    delay_levels,
    kpi_change,
    page_draft,
    plan_notes,
    policies,
    policies_to_compare,
    run_warnings,
    scenario_from_draft,
    section_only,
    slider_marks,
    timing_rows,
    with_signals,
)
from dashboards.runner import propose_collection_routes, propose_signal_plans
from dashboards.state import DashboardState
from dashboards.store import StoreError
from dashboards.trust import (
    LEARNED_PLANNER,
    DecisionError,
    approved_timings,
    model_name,
    plan_rows,
    policy_label,
    proposed_name,
)
from twin import USER_ERRORS, model_label

PATH = "/plans"
TITLE = "Plans"


def layout(state: DashboardState, *, draft: dict | None = None) -> html.Div:
    """The page, its forms filled from ``draft`` (the browser's; :func:`page_draft`)."""
    draft = page_draft(draft, state.draft())
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
                                    # what a city without its own rounds does today; with
                                    # them (uploaded on the Waste page) its own rounds
                                    value=default_baseline(False),
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
            routes_section(state, draft),
            html.Hr(),
            signals_section(),
            html.Hr(),
            html.Div(id="plans-audit"),
            dcc.Store(id=AUDIT_VERSION, data=""),
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
            download_target(SIGNALS),
        ],
        id="signals-section",
    )


ROUTES_FORM = (
    ("routes-bins", "bins"),
    ("routes-trucks", "trucks"),
    ("routes-seed", "seed"),
    ("routes-polish", "polish_s"),
)
"""The route proposal's fields: input id → :func:`dashboards.forms.read_routes_form` key."""

DAY_BINS = 100
"""Bins of a proposed day unless the city has fewer: the most the shipped planners trained on."""


def day_bins(state: DashboardState) -> int:
    """The proposed day's bins the form starts with: :data:`DAY_BINS`, or all the city's bins
    where it has fewer (as the waste twin places them; where it cannot, the twin says so when
    asked for the day)."""
    try:
        return min(DAY_BINS, len(state.sites().bin_lon))
    except USER_ERRORS:
        return DAY_BINS


def routes_section(state: DashboardState, draft: dict) -> html.Div:
    """The form that asks the twin for a day's collection routes (its starting values from
    ``draft``), and the places their verdict, checks, comparison, provenance, decision and map
    fill in."""
    form = html.Div(
        [
            html.H3("Propose a day's collection routes"),
            html.P(
                "The learned planner plans one working day of the city's waste collection and "
                "PyVRP polishes its plan. The twin plans the same day with PyVRP alone in the "
                "same time (the current plan) and with greedy, and checks the proposal: every "
                "truck within its capacity and shift, every bin that must be emptied today "
                "emptied, and no more km (and missed bins) than the current plan. Only routes "
                "that pass can be approved, and only approved routes go out as route sheets.",
                className="note",
            ),
            number_field("Bins", "routes-bins", value=day_bins(state)),
            number_field("Trucks", "routes-trucks", value=draft["waste"]["trucks"] or 3),
            number_field(
                "Seed (another seed: another day's bins and waste)",
                "routes-seed",
                value=draft["seed"],
            ),
            number_field("PyVRP's polish, seconds", "routes-polish", value=1.0),
            run_controls("routes", "Propose routes"),
        ],
        className="panel",
    )
    view = html.Div(
        html.P("Propose a day's routes to see how they do.", className="note"), id="routes-view"
    )
    return html.Div(
        [
            html.Div([form, view], className="columns"),
            html.Div(id="routes-maps"),
            download_target(ROUTES),
        ],
        id="routes-section",
    )


def register(app: Dash, state: DashboardState) -> None:
    def build(draft, days, trucks, uploaded):
        # the city's own rounds run only where the Waste page has them (or the draft does)
        rounds = rounds_file(state, draft, uploaded)
        values = shared_fleet(state, draft, {"days": days, "trucks": trucks}, rounds)
        updated = read_form(draft, values, section="waste").model_dump(mode="json")
        return [
            section_only(updated, "waste", policy=policy, rounds=rounds).model_copy(
                update={"name": f"{updated['name']}-{policy}"}
            )
            for policy in policies_to_compare(rounds is not None)
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
            State("waste-rounds", "data"),
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
        # what a policy's run warned of (a fleet too small for its rounds, bins left out): the
        # table's figures say less without it
        notes += [
            html.P(f"{policy}: {warning}", className="note warn")
            for policy, key in by_policy.items()
            for warning in run_warnings(state.store.waste_info(key))
        ]
        shown = html.Div([table, *notes], id="plans-notes") if notes else table
        learned = by_policy.get(LEARNED_PLANNER)
        if learned is not None:
            shown = html.Div([learned_line(state, learned), shown])
        return shown, int(days.max()), slider_marks(days, label=str, steps=DAY_MARK_STEPS)

    register_routes(app, state)
    register_signals(app, state)
    for section in (ROUTES, SIGNALS):
        register_decisions(app, state, section)
    register_audit(app, state)

    @app.callback(Output("plans-model-card", "children"), Input("plans-card", "id"))
    def show_route_card(_):
        return card_body(state, ROUTES.kind, what=ROUTES.what)

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


def register_proposal(
    app: Dash,
    state: DashboardState,
    *,
    section: Section,
    form: tuple[tuple[str, str], ...],
    read: Callable[[dict, dict], dict],
    propose: Callable[..., str],
) -> None:
    """Wire a proposal's form: each field checked as it is edited, and its button
    (``<prefix>-run``) asking the twin for a proposal in the background.

    Parameters
    ----------
    app : dash.Dash
        The app.
    state : DashboardState
        The app's state.
    section : Section
        The kind of proposal (its ids).
    form : tuple of (str, str)
        Input id and ``read``'s key of each field.
    read : callable
        ``read(draft, values)``: the request, or a :class:`dashboards.forms.FormError`.
    propose : callable
        ``propose(state, request, progress)``: the proposal's key in the store
        (:mod:`dashboards.runner`); ``{"key", "request"}`` lands in ``<prefix>-result``.
    """
    keys = [key for _, key in form]

    def build(draft: dict, *values) -> dict:
        return read(draft, dict(zip(keys, values, strict=True)))

    def execute(request: dict, progress):
        return {"key": propose(state, request, progress), "request": request}, ""

    prefix = section.prefix
    register_job(
        app,
        prefix=prefix,
        store_id=f"{prefix}-result",
        states=[State("draft", "data"), *[State(cid, "value") for cid, _ in form]],
        build=build,
        execute=execute,
        what="proposal",
    )
    register_form_check(app, prefix=prefix, fields=form, section=None, read=read)


def learned_line(state: DashboardState, key: str) -> html.P:
    """Who planned the learned policy's routes in the run ``key``: the model's label with its
    checkpoint's hash and its card's version (:func:`twin.model_label` of the run's
    provenance)."""
    provenance = state.store.plan_provenance(key, "waste")
    text = model_label(provenance) if provenance else policy_label(LEARNED_PLANNER)
    return html.P(
        f"{LEARNED_PLANNER}: {text}", id="plans-learned-provenance", className="note warn"
    )


def register_routes(app: Dash, state: DashboardState) -> None:
    """The route proposal's callbacks (see :func:`routes_section`)."""
    register_proposal(
        app, state, section=ROUTES, form=ROUTES_FORM, read=read_routes_form,
        propose=propose_collection_routes,
    )  # fmt: skip

    @app.callback(
        Output("routes-view", "children"),
        Input("routes-result", "data"),
        State("draft", "data"),
    )
    def show_proposal(result: dict | None, draft: dict | None):
        if not result:
            return no_update
        try:
            proposal = state.store.proposal(result["key"])
        except StoreError as err:
            return html.Div(str(err), className="error", role="alert")
        return route_view(state, proposal, draft or {})

    @app.callback(
        Output("routes-maps", "children"),
        Input("routes-result", "data"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, tiles=None):
        if not result:
            return no_update
        try:
            proposal = state.store.proposal(result["key"])
            stops = state.store.route_stops(result["key"])
            paths = state.store.route_paths(result["key"])
        except StoreError as err:
            return html.Div(str(err), className="error")
        figure = proposed_routes_figure(
            state.basemap, stops, paths, legend_title=proposed_plan_name(proposal)
        )
        return html.Div(
            [
                html.P(
                    "The proposed routes: each truck's road path through its stops in driving "
                    "order (as its route sheets draw it).",
                    className="note",
                ),
                map_graph("routes-map", with_tiles(figure, state.basemap, tiles)),
            ]
        )


def route_view(state: DashboardState, proposal: dict, draft: dict) -> list:
    """A route proposal as the page shows it: who proposed it, the verdict, its checks, the
    day's plans side by side, its provenance, the decision box and, for a model's, its card."""
    parts = [
        label_line(proposal, section=ROUTES),
        route_verdict(proposal),
        route_checks_table(proposal["checks"]),
        plans_table(proposal),
        provenance_table(proposal["provenance"], section=ROUTES),
        decision_box(proposal, *decision_state(state, proposal, draft), section=ROUTES),
    ]
    if proposal["provenance"].get("by_model"):
        parts.append(proposal_card(state, proposal["provenance"], ROUTES))
    return parts


def proposed_plan_name(proposal: dict) -> str:
    """The proposed plan's name, a model's labelled so (the map's legend title)."""
    provenance = proposal["provenance"]
    return model_name(proposed_name(proposal), bool(provenance.get("by_model")))


def route_verdict(proposal: dict) -> html.Div:
    """Recommended, with the cost against the current plan; or not, with every check it
    failed. A day outside the model's training range is named."""
    inputs, plans = proposal["inputs"], proposal.get("plans") or {}
    day, planner = inputs["day"], inputs["planner"]
    proposed = plans.get(proposed_name(proposal)) or {}
    current = plans.get("pyvrp") or {}
    how = html.P(
        f"Working day {day['working_day']} of {proposal.get('city')}'s waste twin, seed "
        f"{day['seed']}: {_count(day['bins'], 'bin')}, {_count(day['trucks'], 'truck')}; "
        f"{planner['samples']} plans sampled, PyVRP's polish {planner['polish_s']:g} s.",
        className="note",
    )
    recommended = (
        f"{proposed.get('km', math.nan):,.2f} km in {proposed.get('truck_hours', math.nan):,.2f} "
        f"truck-hours, against {current.get('km', math.nan):,.2f} km for PyVRP's plan in the "
        "same time, with every truck within its capacity and shift and every bin that must be "
        "emptied today emptied. A planner approves or rejects them below."
    )
    refused = "the current plan (PyVRP's) stays; these routes cannot be approved."
    return verdict_view(proposal, section=ROUTES, recommended=recommended, refused=refused, how=how)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def route_checks_table(checks: list[dict]) -> html.Table:
    """The proposal's checks (capacity, shift, routes, required bins, cost against the current
    plan), each passed or failed, with the twin's detail."""
    body = [
        html.Tr(
            [
                html.Td(check["check"]),
                html.Td(
                    "passed" if check["passed"] else "failed",
                    style=VERDICT_STYLE["better" if check["passed"] else "worse"],
                ),
                html.Td(check["detail"]),
            ],
            id=f"routes-check-{i}",
        )
        for i, check in enumerate(checks)
    ]
    head = html.Thead(html.Tr([html.Th(c) for c in ("Check", "Result", "Detail")]))
    return html.Table([head, html.Tbody(body)], id="routes-checks-table", className="kpi-table")


PLAN_COLUMNS = (
    "Plan",
    "Role",
    "km",
    "Truck-hours",
    "km + missed bins",
    "Must-empty bins left full",
    "Valid",
    "Solve, s",
)


def plans_table(proposal: dict) -> html.Table:
    """The day's plans side by side (:func:`dashboards.trust.plan_rows`): the learned plan, its
    polish, PyVRP's (the current plan) and greedy's; a cost below the current plan's green,
    above it red."""
    body = [
        html.Tr(
            [
                html.Td(row.name),
                html.Td(row.role),
                html.Td(row.km),
                html.Td(row.truck_hours),
                html.Td(row.cost_km, style=VERDICT_STYLE[row.verdict]),
                html.Td(row.unserved_required),
                html.Td(row.valid),
                html.Td(row.solve_s),
            ],
            id=f"routes-plan-{i}",
        )
        for i, row in enumerate(plan_rows(proposal))
    ]
    head = html.Thead(html.Tr([html.Th(c) for c in PLAN_COLUMNS]))
    return html.Table(
        [html.Caption("The day's plans"), head, html.Tbody(body)],
        id="routes-plans-table",
        className="kpi-table",
    )


def register_signals(app: Dash, state: DashboardState) -> None:
    """The signal-plan proposal's callbacks (see :func:`signals_section`)."""
    register_proposal(
        app, state, section=SIGNALS, form=SIGNALS_FORM, read=read_proposal_form,
        propose=propose_signal_plans,
    )  # fmt: skip
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
            decision_box(proposal, *decision_state(state, proposal, draft or {})),
        ]
        if proposal["provenance"].get("by_model"):
            parts.append(proposal_card(state, proposal["provenance"], SIGNALS))
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
        writes them into the draft; a second click changes nothing, and says so."""
        if not clicks or not result:
            return no_update, no_update
        try:
            timings = approved_timings(state.store, result["key"], draft, state.city)
            updated = with_signals(draft, timings)
            before = scenario_from_draft(dict(draft)).model_dump(mode="json")
        except (*USER_ERRORS, StoreError, DecisionError) as err:
            return html.Div(str(err), className="error", role="alert"), no_update
        if updated == before:
            already = html.Div(
                f"Already applied: the draft's signal plans have these {len(timings)} "
                "junctions' timings; nothing changed.",
                className="ok",
            )
            return already, no_update
        done = html.Div(
            f"Applied: {len(timings)} junctions retimed in the draft scenario "
            "(its signal plans on the Scenarios page; save it there to keep it).",
            className="ok",
        )
        return done, updated


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
    recommended = (
        f"total delay {before:,.1f} → {after:,.1f} veh·h ({change}) at the scenario's demand, "
        f"no more at {others} of it, and no more trips unfinished. A planner approves or "
        "rejects them below."
    )
    refused = "the current plans stay; these cannot be approved or applied."
    return verdict_view(
        proposal, section=SIGNALS, recommended=recommended, refused=refused, how=how
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
    """Run key of each policy, from the names the Plans run gives its scenarios
    (``<draft name>-<policy>``; a policy's name may hold a dash itself, ``hand-drawn``)."""
    # the longest first: no policy's name is then read as the tail of another's
    names = sorted(policies(), key=len, reverse=True)
    found = {}
    for key, name in zip(result["keys"], result["names"], strict=True):
        if key is not None:
            policy = next((p for p in names if name.endswith(f"-{p}")), name.rsplit("-", 1)[-1])
            found[policy] = key
    return found
