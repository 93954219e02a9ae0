"""Plans page: every waste policy the twin offers (the learned planner too, once the API lists
it) on the same days, fleet and seed; routes on the map and KPIs side by side against a
baseline policy, differences highlighted. Below, signal plans the twin proposes for the draft's
traffic, checked against the current ones at three demands, with where delay falls on the map
and each junction's timing; a planner applies them to the draft, or not."""

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
                                    options=names,
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
                                    options=names,
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
            html.Hr(),
            signals_section(),
        ]
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
                "of its demand. Nothing changes in the scenario until you apply them.",
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
        table = policy_table(kpis, baseline, PLAN_KPIS, table_id="plans-kpis")
        notes = [
            html.P(f"{policy}: {note}", className="note warn")
            for policy, table_of_days in daily.items()
            if (note := plan_notes(table_of_days)) is not None
        ]
        shown = html.Div([table, *notes], id="plans-notes") if notes else table
        return shown, int(days.max()), slider_marks(days, label=str, steps=DAY_MARK_STEPS)

    register_signals(app, state)

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
            routes = {
                p: state.store.table(k, "waste/routes")
                for p, k in _by_policy(result).items()
                if p in (shown or [])
            }
        figure = routes_figure(state.basemap, routes, None, day=day, uirevision="plans")
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

    @app.callback(Output("signals-view", "children"), Input("signals-result", "data"))
    def show_proposal(result: dict | None):
        if not result:
            return no_update
        key = result["key"]
        try:
            proposal = state.store.proposal(key)
            checks = state.store.proposal_table(key, "checks")
            current = state.store.proposal_table(key, "current")
            plans = state.store.proposal_table(key, "plans")
        except StoreError as err:
            return html.Div(str(err), className="error")
        timings = timings_table(timing_rows(current, plans))
        return [verdict(proposal, checks), checks_table(checks), apply_box(proposal), timings]

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
        """A planner's click, and nothing else, writes the proposal into the draft."""
        if not clicks or not result:
            return no_update, no_update
        try:
            proposal = state.store.proposal(result["key"])
            if not proposal["accepted"]:
                refused = "Not applied: the twin did not accept these plans (see why above)."
                return html.Div(refused, className="error"), no_update
            updated = with_signals(draft, proposal["timings"])
        except (*USER_ERRORS, StoreError) as err:
            return html.Div(str(err), className="error"), no_update
        done = html.Div(
            f"Applied: {len(proposal['timings'])} junctions retimed in the draft scenario "
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
    """Accepted, with the change of delay at the scenario's demand; or every reason not."""
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
    if proposal["accepted"]:
        line = html.P(
            [
                html.Strong("Accepted: "),
                f"total delay {before:,.1f} → {after:,.1f} veh·h ({change}) at the scenario's "
                f"demand, no more at {others} of it, and no more trips unfinished.",
            ],
            className="ok",
            id="signals-verdict-line",
        )
        return html.Div([line, how])
    line = html.P(
        [
            html.Strong("Not accepted: "),
            "the current plans stay. The proposal failed these checks:",
        ],
        className="error",
        id="signals-verdict-line",
    )
    reasons = html.Ul([html.Li(r) for r in proposal["reasons"]], id="signals-reasons")
    return html.Div([line, reasons, how])


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


def apply_box(proposal: dict) -> html.Div:
    """The button that applies an accepted proposal to the draft; disabled, saying why, for one
    the twin did not accept."""
    accepted = proposal["accepted"]
    why = (
        "Writes these timings into the draft scenario's signal plans."
        if accepted
        else "Not accepted: these plans cannot be applied (see why above)."
    )
    return html.Div(
        [
            html.Button(
                "Apply to scenario",
                id="signals-apply",
                className="button primary",
                disabled=not accepted,
                title=why,
            ),
            html.Span(why, className="note" if accepted else "note warn"),
            html.Div(id="signals-applied", role="status"),
        ],
        className="run-controls",
    )


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
