"""Traffic page: run the draft's traffic in the background, then a congestion map with a time
slider, KPI cards, the travel-time distribution and speed over time. Clicking a street closes
or reopens it in the draft."""

from __future__ import annotations

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    CLOSE_MODES,
    KEPT_FOR_SESSION,
    card_row,
    closed_summary,
    field,
    map_graph,
    number_field,
    register_draft_follows_run,
    register_form_check,
    register_run,
    register_street_clicks,
    run_controls,
)
from dashboards.figures import congestion_figure, empty_figure, speed_over_time
from dashboards.figures import travel_time_histogram as tt_histogram
from dashboards.forms import read_form
from dashboards.logic import TIME_MARK_STEPS_S, TRAFFIC_CARDS, clock, page_draft, slider_marks
from dashboards.state import DashboardState
from dashboards.store import StoreError
from twin import parse_duration, traffic_warnings

PATH = "/traffic"
TITLE = "Traffic"

FORM = (
    ("traffic-trips", "trips"),
    ("traffic-minutes", "duration_min"),
    ("traffic-scale", "demand_scale"),
    ("traffic-seed", "seed"),
)
"""The run's fields: input id → :func:`dashboards.forms.read_form` key."""
FORM_KEYS = tuple(key for _, key in FORM)


def _minutes(duration: str | float) -> float:
    return parse_duration(duration) / 60.0


def layout(state: DashboardState, *, draft: dict | None = None) -> html.Div:
    """The page, its form filled from ``draft`` (the browser's; :func:`page_draft`)."""
    scenario = page_draft(draft, state.draft())
    draft = scenario["traffic"]
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("Traffic run"),
                            number_field(
                                "Trips", "traffic-trips", value=draft["trips"], **KEPT_FOR_SESSION
                            ),
                            number_field(
                                "Simulated minutes",
                                "traffic-minutes",
                                value=_minutes(draft["duration"]),
                                **KEPT_FOR_SESSION,
                            ),
                            number_field(
                                "Demand scale",
                                "traffic-scale",
                                value=draft["demand_scale"],
                                **KEPT_FOR_SESSION,
                            ),
                            number_field(
                                "Seed",
                                "traffic-seed",
                                value=scenario["seed"],
                                **KEPT_FOR_SESSION,
                            ),
                            field(
                                "A click on a street closes (or reopens)",
                                dcc.RadioItems(
                                    id="traffic-close-mode",
                                    options=CLOSE_MODES,
                                    value="segment",
                                    **KEPT_FOR_SESSION,
                                ),
                            ),
                            html.Div(id="traffic-closed", className="note"),
                            run_controls("traffic"),
                        ],
                        className="panel",
                    ),
                    html.Div(
                        [
                            map_graph(
                                "traffic-map",
                                state.figure(
                                    ("traffic-empty",),
                                    lambda: congestion_figure(state.basemap, None, None),
                                ),
                            ),
                            html.Label(
                                "Time: the start of the interval the map shows",
                                className="field-label",
                            ),
                            html.Div(
                                dcc.Slider(
                                    id="traffic-time",
                                    min=0,
                                    max=0,
                                    step=None,
                                    value=0,
                                    marks={0: "0 min"},
                                    # the value is in seconds: a box showing it would puzzle
                                    allow_direct_input=False,
                                ),
                                className="slider-box",
                            ),
                        ]
                    ),
                ],
                className="columns",
            ),
            html.Div(id="traffic-kpis"),
            html.Div(
                [
                    dcc.Graph(id="traffic-tt", figure=empty_figure("Run to see travel times")),
                    dcc.Graph(id="traffic-speed", figure=empty_figure("Run to see speeds")),
                ],
                className="charts",
            ),
        ]
    )


def register(app: Dash, state: DashboardState) -> None:
    register_street_clicks(
        app, state, graph_id="traffic-map", mode_id="traffic-close-mode", error_id="traffic-error"
    )

    @app.callback(Output("traffic-closed", "children"), Input("draft", "data"))
    def list_closed(draft: dict):
        return closed_summary(draft)

    def build(draft, *values):
        return [read_form(draft, dict(zip(FORM_KEYS, values, strict=True)), section="traffic")]

    register_form_check(app, prefix="traffic", fields=FORM, section="traffic")
    register_draft_follows_run(app, prefix="traffic", fields=FORM)

    register_run(
        app,
        state,
        prefix="traffic",
        store_id="traffic-result",
        states=[State("draft", "data"), *[State(cid, "value") for cid, _ in FORM]],
        build=build,
    )

    @app.callback(
        Output("traffic-kpis", "children"),
        Output("traffic-tt", "figure"),
        Output("traffic-speed", "figure"),
        Output("traffic-time", "max"),
        Output("traffic-time", "marks"),
        Output("traffic-time", "step"),
        Output("traffic-time", "value"),
        Input("traffic-result", "data"),
    )
    def show_run(result: dict | None):
        if not result:
            return (no_update,) * 7
        key = result["keys"][0]
        try:
            kpis = state.store.kpi_dict(key)["traffic"]
            trips = state.store.table(key, "traffic/trips")
            series = state.store.table(key, "traffic/edge_timeseries")
        except StoreError as err:
            return html.Div(str(err), className="error"), *([no_update] * 6)
        starts = sorted(int(s) for s in series["interval_start_s"].unique())
        # a label every hour or so, not one per interval: a day's 288 would print over each other
        marks = slider_marks(starts, label=clock, steps=TIME_MARK_STEPS_S)
        steps = set(np.diff(starts).tolist())
        # the slider stops at every interval; intervals of unequal length: at the marks only
        step = steps.pop() if len(steps) == 1 else None
        if step is None:
            marks = {s: marks.get(s, "") for s in starts}
        cards = card_row(kpis, TRAFFIC_CARDS, id_prefix="traffic-kpi")
        level = "alarm" if kpis.get("gridlock") else "warn"
        warnings = [
            html.P(
                # the page's field, not the scenario file's
                line.replace("(duration)", "(Simulated minutes)"),
                className=f"note {level}" if n == 0 else "note warn",
                role="alert",
                id="traffic-warning" if n == 0 else f"traffic-warning-{n}",
            )
            for n, line in enumerate(traffic_warnings(kpis))
        ]
        speed = speed_over_time({"this run": series}, state.basemap.length_m)
        # the busiest interval first: where congestion shows
        busiest = series.groupby("interval_start_s")["density_vpkm"].mean().idxmax()
        return (
            html.Div([cards, *warnings]),
            tt_histogram(trips),
            speed,
            int(max(starts)),
            marks,
            step,
            int(busiest),
        )

    @app.callback(
        Output("traffic-map", "figure"),
        Input("traffic-result", "data"),
        Input("traffic-time", "value"),
        Input("draft", "data"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, start_s: float | None, draft: dict, tiles=None):
        basemap = state.basemap
        closed = (draft.get("traffic") or {}).get("close") or []
        series = None
        if result:
            try:
                series = state.store.table(result["keys"][0], "traffic/edge_timeseries")
            except StoreError:
                series = None
        figure = congestion_figure(
            basemap, series, start_s if series is not None else None, closed=closed
        )
        return with_tiles(figure, basemap, tiles)
