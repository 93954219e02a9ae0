"""Waste page: run the draft's waste collection in the background, then bins by fill and the
trucks' routes day by day, waste per day, KPI cards, and KPIs per policy for these settings.
Routes the learned planner made are labelled as a model's proposal: in the menu, above the
cards, on the map and in the chart."""

from __future__ import annotations

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    AUTO_FLEET,
    card_row,
    field,
    map_with_day_slider,
    number_field,
    register_form_check,
    register_run,
    run_controls,
)
from dashboards.figures import CHART, daily_figure, empty_figure, routes_figure
from dashboards.forms import read_form
from dashboards.logic import (
    DAY_MARK_STEPS,
    WASTE_CARDS,
    bins_on_day,
    plan_notes,
    policies,
    section_only,
    slider_marks,
    strategy_of,
)
from dashboards.state import DashboardState
from dashboards.store import StoreError
from dashboards.trust import LEARNED_PLANNER, policy_label, run_by_model
from twin import MODEL_LABEL, USER_ERRORS, model_label

PATH = "/waste"
TITLE = "Waste"

FORM = (
    ("waste-days", "days"),
    ("waste-trucks", "trucks"),
    ("waste-seed", "seed"),
    ("waste-policy", "policy"),
)
"""The run's fields: input id → :func:`dashboards.forms.read_form` key."""
FORM_KEYS = tuple(key for _, key in FORM)


def layout(state: DashboardState) -> html.Div:
    draft = state.draft()
    waste = draft["waste"]
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("Waste collection run"),
                            field(
                                "Policy",
                                dcc.Dropdown(
                                    id="waste-policy",
                                    options=[
                                        {"label": policy_label(p), "value": p} for p in policies()
                                    ],
                                    value=strategy_of(waste),
                                    clearable=False,
                                ),
                                check_id="waste-policy",
                            ),
                            number_field("Days", "waste-days", value=waste["days"]),
                            number_field(
                                "Trucks",
                                "waste-trucks",
                                value=waste["trucks"],
                                placeholder=AUTO_FLEET,
                            ),
                            number_field("Seed", "waste-seed", value=draft["seed"]),
                            run_controls("waste"),
                        ],
                        className="panel",
                    ),
                    map_with_day_slider("waste", routes_figure(state.basemap, {}, None, day=None)),
                ],
                className="columns",
            ),
            html.Div(id="waste-kpis"),
            html.Div(
                [
                    dcc.Graph(id="waste-daily", figure=empty_figure("Run to see waste per day")),
                    dcc.Graph(id="waste-policies", figure=empty_figure("KPIs per policy")),
                ],
                className="charts",
            ),
        ]
    )


def _scenarios_for(draft: dict, *values):
    return read_form(draft, dict(zip(FORM_KEYS, values, strict=True)), section="waste")


def policy_chart(state: DashboardState, draft: dict) -> go.Figure:
    """Truck-km, CO2 and overflow of every policy already run with the draft's settings."""
    found = {}
    for policy in policies():
        scenario = section_only(draft, "waste", policy=policy)
        key = state.store.run_key(scenario, state.city_sha)
        if state.store.has_run(key):
            found[policy] = state.store.kpi_dict(key)["waste"]
    if not found:
        return empty_figure("KPIs per policy: run policies (or the Plans page) to fill")
    figure = go.Figure()
    for kpi, label in (
        ("truck_km", "truck-km"),
        ("co2_kg", "CO2 kg"),
        ("overflow_bin_days", "overflow bin-days"),
    ):
        figure.add_bar(
            x=[policy_label(p) for p in found], y=[found[p][kpi] for p in found], name=label
        )
    figure.update_layout(title="KPIs per policy (same days, trucks, seed)", **CHART)
    return figure


def model_line(provenance: dict | None) -> html.P:
    """Says that the routes shown were proposed by a model: the run's own label, naming the
    checkpoint with its hash and the version of its card (:func:`twin.model_label` of the
    provenance the run records), or, for a run that recorded none, the learned planner."""
    label = (
        model_label(provenance)
        if provenance
        else f"{MODEL_LABEL} (the learned planner): collection routes for a person to check "
        "and decide on."
    )
    return html.P(
        [label, " Any day outside its training range is planned by PyVRP and named below."],
        id="waste-model-label",
        className="note warn",
    )


def register(app: Dash, state: DashboardState) -> None:
    register_run(
        app,
        state,
        prefix="waste",
        store_id="waste-result",
        states=[State("draft", "data"), *[State(cid, "value") for cid, _ in FORM]],
        build=lambda draft, *values: [_scenarios_for(draft, *values)],
    )
    register_form_check(app, prefix="waste", fields=FORM, section="waste")

    @app.callback(
        Output("waste-kpis", "children"),
        Output("waste-daily", "figure"),
        Output("waste-policies", "figure"),
        Output("waste-day", "max"),
        Output("waste-day", "marks"),
        Output("waste-day", "value"),
        Input("waste-result", "data"),
    )
    def show_run(result: dict | None):
        if not result:
            return no_update, no_update, no_update, no_update, no_update, no_update
        key = result["keys"][0]
        try:
            kpis = state.store.kpi_dict(key)["waste"]
            daily = state.store.table(key, "waste/daily")
            scenario = state.store.run_scenario(key).model_dump(mode="json")
            chart = policy_chart(state, {**scenario, "traffic": None})
        except (StoreError, *USER_ERRORS) as err:
            return html.Div(str(err), className="error"), *([no_update] * 5)
        days = daily["day"].tolist()
        marks = slider_marks(days, label=str, steps=DAY_MARK_STEPS)  # a year's days would overprint
        busiest = int(daily.loc[daily["truck_km"].idxmax(), "day"])
        cards = card_row(kpis, WASTE_CARDS, id_prefix="waste-kpi")
        shown = [cards]
        if run_by_model(state.store, key):
            shown.insert(0, model_line(state.store.plan_provenance(key, "waste")))
        note = plan_notes(daily)
        if note is not None:
            shown.append(html.P(note, id="waste-plan-note", className="note warn"))
        return html.Div(shown), daily_figure(daily), chart, max(days), marks, busiest

    @app.callback(
        Output("waste-map", "figure"),
        Input("waste-result", "data"),
        Input("waste-day", "value"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, day: int | None, tiles: list[str] | None):
        if not result and not tiles:
            return no_update  # the layout's map is this already
        return with_tiles(_routes_map(result, day), state.basemap, tiles)

    def _routes_map(result: dict | None, day: int | None) -> go.Figure:
        if not result:
            return routes_figure(state.basemap, {}, None, day=None)
        key = result["keys"][0]
        routes = state.store.table(key, "waste/routes")
        bins = state.store.table(key, "waste/bins")
        # a model's routes say so on the map too
        title = policy_label(LEARNED_PLANNER) if run_by_model(state.store, key) else None
        try:
            fill = None if day is None else state.store.table(key, "waste/bin_fill")
        except StoreError:  # a run stored by an older version: fill at the end only
            fill = None
        if fill is None:
            return routes_figure(
                state.basemap, {"routes": routes}, bins, day=day, legend_title=title
            )
        return routes_figure(
            state.basemap, {"routes": routes}, bins_on_day(bins, fill, day), day=day,
            fill_label=f"fill at end of day {day}", legend_title=title,
        )  # fmt: skip
