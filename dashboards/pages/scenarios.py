"""Scenarios page: edit the draft (streets closed by clicking, demand, fleet, policy, signal
plans), save it under a name, load or upload saved ones, compare any two (A/B Street's view:
KPIs, trips faster and slower, speeds) and export results and the scenario YAML."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import yaml
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboards.basemap import network_figure, with_tiles
from dashboards.components import (
    AUTO_FLEET,
    CLOSE_MODES,
    closed_summary,
    comparison_table,
    field,
    form_status,
    map_graph,
    number_input,
    register_form_check,
    register_run,
    register_street_clicks,
    run_controls,
    upload_button,
)
from dashboards.figures import CHART, empty_figure, speed_over_time
from dashboards.forms import FormError, read_form
from dashboards.logic import (
    UploadError,
    apply_form,
    approach_labels,
    clicked_signal,
    comparison_rows,
    decode_upload,
    format_signals,
    other_version,
    parse_signals,
    policies,
    rounded_greens,
    saved_digest,
    scenario_from_draft,
    set_signal_timing,
    signal_cycle,
    strategy_of,
    traffic_section_note,
    trip_changes,
)
from dashboards.state import DashboardState
from dashboards.store import StoreError, upload_file_name
from dashboards.trust import policy_label, run_by_model
from twin import (
    MODEL_LABEL,
    SIGNAL_PLAN_NAMES,
    USER_ERRORS,
    Scenario,
    ScenarioError,
    check_scenario_in_city,
    check_signal_timings,
    load_scenario,
    parse_duration,
    retimed_signals,
    short_repr,
)

PATH = "/scenarios"
TITLE = "Scenarios"

FORM = (
    ("scenario-name", "name"),
    ("scenario-seed", "seed"),
    ("scenario-trips", "trips"),
    ("scenario-minutes", "duration_min"),
    ("scenario-scale", "demand_scale"),
    ("scenario-signals", "signals"),
    ("scenario-days", "days"),
    ("scenario-policy", "policy"),
    ("scenario-trucks", "trucks"),
)
"""Editor fields: component id → :func:`dashboards.forms.read_form` key."""


SIGNAL_COLUMNS = ("phase", "green for", "green s", "default", "least")
SIGNAL_HINT = "Click a signalized junction (a blue dot) on the map to see and edit its plan."


def current_timings(text: str | None, draft: dict) -> list[dict]:
    """The signal timings the editor shows: the typed field's when it reads, else the
    draft's (a half-typed field must not hide the saved plan)."""
    try:
        return parse_signals(text or "")
    except ScenarioError:
        return list((draft.get("traffic") or {}).get("signals") or [])


def signal_editor(state: DashboardState, node: int, timings: list[dict]) -> html.Div:
    """A junction's plan for editing: per phase, the approaches that have green and its green
    time (the scenario's timing for the node if it has one, else the twin's default), the
    cycle, and a button that writes the greens into the draft and the typed field."""
    info = state.signal_plan(node)
    if info is None:
        return html.Div(f"Node {node} has no signal plan in the twin.", className="error")
    timing = next((t for t in timings if int(t["node"]) == node), None)
    greens = list(timing["greens_s"]) if timing else list(info.greens_s)
    if len(greens) != len(info.greens_s):
        greens = list(info.greens_s)  # a timing with the wrong phase count: start from default
    greens, defaults = rounded_greens(greens), rounded_greens(info.greens_s)
    basemap = state.basemap
    rows = [
        html.Tr(
            [
                html.Td(f"{i + 1}"),
                html.Td(
                    approach_labels(
                        approaches,
                        names=basemap.name,
                        lon=basemap.lon,
                        lat=basemap.lat,
                        start=basemap.start,
                        count=basemap.count,
                    ),
                    style={"textAlign": "left"},
                ),
                html.Td(
                    dcc.Input(
                        id={"type": "signal-green", "index": i},
                        type="number",
                        min=0,
                        # any step: a green of 13.7 s is as valid as 14 s (a step of 1 s
                        # would mark it invalid); the arrows still move by 1 s
                        step="any",
                        value=green,
                    )
                ),
                html.Td(f"{default:g} s"),
                # to 0.01 s, as the twin checks it: 12.81 shown as 12.8 would be refused
                html.Td(f"{round(least, 2):g} s"),
            ]
        )
        for i, (approaches, green, default, least) in enumerate(
            zip(info.approaches, greens, defaults, info.least_greens_s, strict=True)
        )
    ]
    return html.Div(
        [
            html.Strong(f"Signal at node {node}"),
            html.Span(" (the scenario retimes it)" if timing else " (default plan)"),
            html.Table(
                [
                    html.Thead(html.Tr([html.Th(h) for h in SIGNAL_COLUMNS])),
                    html.Tbody(rows),
                ],
                className="kpi-table",
                id="signal-phases",
            ),
            html.Div(cycle_text(greens, info.lost_time_s), id="signal-cycle"),
            html.Button("Apply to scenario", id="signal-apply", className="button"),
        ]
    )


def cycle_text(greens: list, lost_time_s: float) -> str:
    """The cycle a plan's greens make, with each phase's share of it."""
    cycle = signal_cycle(greens, lost_time_s)
    if cycle is None or cycle <= 0:
        return "Cycle: give every phase a green time."
    shares = ", ".join(f"{float(g) / cycle:.0%}" for g in greens)
    return f"Cycle {cycle:g} s (green {shares}; {lost_time_s:g} s lost after each phase)."


def _form_values(draft: dict) -> list:
    traffic = draft.get("traffic") or {}
    waste = draft.get("waste") or {}
    minutes = parse_duration(traffic["duration"]) / 60 if traffic.get("duration") else None
    return [
        draft.get("name"),
        draft.get("seed"),
        traffic.get("trips"),
        minutes,
        traffic.get("demand_scale"),
        format_signals(traffic.get("signals") or []),
        waste.get("days"),
        strategy_of(waste),
        waste.get("trucks"),
    ]


def layout(state: DashboardState) -> html.Div:
    names = saved_options(state)
    editor = html.Div(
        [
            dcc.Store(id="scenario-mounted", data=True),
            html.H3("Edit scenario"),
            field("Name", dcc.Input(id="scenario-name", type="text"), check_id="scenario-name"),
            field("Seed", number_input("scenario-seed"), check_id="scenario-seed"),
            html.H4("Traffic"),
            html.Div(id="scenario-traffic-note", className="note"),
            field("Trips", number_input("scenario-trips"), check_id="scenario-trips"),
            field(
                "Simulated minutes", number_input("scenario-minutes"), check_id="scenario-minutes"
            ),
            field("Demand scale", number_input("scenario-scale"), check_id="scenario-scale"),
            field(
                "Signal plans: 'OSM node: green s, green s [@ offset s]; …'",
                dcc.Input(id="scenario-signals", type="text", placeholder="25291537: 70, 12"),
                check_id="scenario-signals",
            ),
            dcc.Store(id="signal-node"),
            html.Div(SIGNAL_HINT, id="signal-editor", className="note"),
            field(
                "A click on a street closes (or reopens)",
                dcc.RadioItems(id="scenario-close-mode", options=CLOSE_MODES, value="segment"),
            ),
            html.Div(id="scenario-closed", className="note"),
            html.H4("Waste collection"),
            field("Days", number_input("scenario-days"), check_id="scenario-days"),
            field(
                "Policy",
                dcc.Dropdown(
                    id="scenario-policy",
                    options=[{"label": policy_label(p), "value": p} for p in policies()],
                    clearable=False,
                ),
                check_id="scenario-policy",
            ),
            field(
                "Trucks",
                number_input("scenario-trucks", placeholder=AUTO_FLEET),
                check_id="scenario-trucks",
            ),
            html.Div(
                [
                    html.Button("Save", id="scenario-save", className="button primary"),
                    html.Button("Download YAML", id="scenario-yaml", className="button"),
                    dcc.Download(id="scenario-download"),
                    *form_status("scenario"),
                ],
                className="run-controls",
            ),
            html.Div(id="scenario-message", role="status"),
            # the version another planner saved under the draft's name that Save told of
            dcc.Store(id="scenario-replace"),
            html.Hr(),
            field(
                "Load a saved scenario",
                dcc.Dropdown(id="scenario-load", options=names, placeholder="saved scenarios"),
            ),
            upload_button(
                "Upload a scenario YAML", "scenario-upload", max_bytes=state.limits.scenario_bytes
            ),
        ],
        className="panel",
    )
    compare = html.Div(
        [
            html.H3("Compare two scenarios"),
            html.Div(
                [
                    field("A (before)", dcc.Dropdown(id="compare-a", options=names)),
                    field("B (after)", dcc.Dropdown(id="compare-b", options=names)),
                ],
                className="charts",
            ),
            run_controls("compare", "Run and compare"),
            html.Div(id="compare-view"),
            dcc.Store(id="compare-shown"),  # the result whose table is shown
            html.Div(id="compare-charts"),
            html.Div(
                [
                    html.Span("Export: ", className="field-label"),
                    dcc.RadioItems(
                        id="export-which",
                        options=[{"label": "A", "value": 0}, {"label": "B", "value": 1}],
                        value=1,
                        inline=True,
                    ),
                    html.Button("KPI comparison (CSV)", id="export-kpis", className="button"),
                    html.Button("Trips (CSV)", id="export-trips", className="button"),
                    html.Button("Streets (GeoJSON)", id="export-edges", className="button"),
                    html.Button("Waste (GeoPackage)", id="export-waste", className="button"),
                    html.Button("Scenario (YAML)", id="export-yaml", className="button"),
                    dcc.Download(id="export-download"),
                    html.Div(id="export-error", className="error"),
                ],
                className="run-controls",
            ),
        ],
        className="panel",
    )
    return html.Div(
        [
            html.Div(
                [
                    editor,
                    html.Div(
                        map_graph(
                            "scenario-map",
                            state.figure(
                                ("scenario-empty",), lambda: network_figure(state.basemap)
                            ),
                        )
                    ),
                ],
                className="columns",
            ),
            compare,
        ]
    )


def _checked_form(state: DashboardState, draft: dict, form: dict) -> Scenario:
    """The editor's scenario (:func:`dashboards.forms.read_form`), its typed signal plans held
    to the city as a run would hold them (:func:`twin.check_signal_timings`): the city's
    signalized junctions, within the limits. What no box of the form can mend (a file the
    scenario names) is left to the run to name, as before: it must not keep Save from saving."""
    scenario = read_form(draft, form)
    if scenario.traffic is not None:
        try:
            check_signal_timings(scenario.traffic, state.city.network)
        except ScenarioError as err:
            raise FormError({"signals": str(err)}) from None
    return scenario


def _read_form(state: DashboardState, draft: dict, values: tuple) -> dict:
    form = {key: value for (_, key), value in zip(FORM, values, strict=True)}
    return _checked_form(state, draft, form).model_dump(mode="json")


def register(app: Dash, state: DashboardState) -> None:
    register_street_clicks(
        app,
        state,
        graph_id="scenario-map",
        mode_id="scenario-close-mode",
        error_id="scenario-message",
    )
    register_form_check(
        app,
        prefix="scenario",
        fields=FORM,
        section=None,
        read=lambda draft, form: _checked_form(state, draft, form),
    )
    # a bad field keeps the scenario from being saved or downloaded, as it keeps a run from
    # starting on the other pages
    app.clientside_callback(
        """(invalid) => {
            const why = invalid ? "Correct the fields marked in red first." : "";
            return [Boolean(invalid), why, Boolean(invalid), why];
        }""",
        Output("scenario-save", "disabled"),
        Output("scenario-save", "title"),
        Output("scenario-yaml", "disabled"),
        Output("scenario-yaml", "title"),
        Input("scenario-invalid", "data"),
    )

    @app.callback(
        Output("signal-editor", "children"),
        Output("signal-node", "data"),
        Input("scenario-map", "clickData"),
        State("scenario-signals", "value"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def select_signal(click: dict | None, text: str | None, draft: dict):
        """A click on a signalized junction opens its plan (a click on a street closes it,
        see register_street_clicks, and leaves the editor as it is)."""
        node = clicked_signal(click)
        if node is None:
            return no_update, no_update
        return signal_editor(state, node, current_timings(text, draft)), node

    @app.callback(
        Output("signal-cycle", "children"),
        Input({"type": "signal-green", "index": ALL}, "value"),
        State("signal-node", "data"),
        prevent_initial_call=True,
    )
    def show_cycle(greens: list, node: int | None):
        info = state.signal_plan(node) if node is not None else None
        if info is None:
            return no_update
        return cycle_text(greens, info.lost_time_s)

    @app.callback(
        Output("scenario-signals", "value", allow_duplicate=True),
        Output("draft", "data", allow_duplicate=True),
        Output("scenario-message", "children", allow_duplicate=True),
        Input("signal-apply", "n_clicks"),
        State({"type": "signal-green", "index": ALL}, "value"),
        State("signal-node", "data"),
        State("scenario-signals", "value"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def apply_signal(clicks, greens: list, node: int | None, text: str | None, draft: dict):
        if not clicks or node is None:
            return no_update, no_update, no_update
        try:
            timings = set_signal_timing(current_timings(text, draft), node, greens)
            # held to the limits a run holds it to, so that the planner learns it here
            timing = next(t for t in timings if t["node"] == node)
            retimed_signals(state.city.network, [(node, timing["greens_s"], timing["offset_s"])])
            typed = format_signals(timings)
            updated = apply_form(draft, signals=typed)
        except USER_ERRORS as err:
            return no_update, no_update, html.Div(str(err), className="error")
        greens_s = ", ".join(
            f"{g:g}" for g in next(t for t in timings if t["node"] == node)["greens_s"]
        )
        done = html.Div(
            f"Signal {node}: greens {greens_s} s in the scenario (Save to keep it).",
            className="ok",
        )
        return typed, updated, done

    @app.callback(
        Output("scenario-map", "figure"),
        Output("scenario-closed", "children"),
        Output("scenario-traffic-note", "children"),
        Input("draft", "data"),
        Input("map-tiles", "value"),
    )
    def draw(draft: dict, tiles: list[str] | None):
        closed = (draft.get("traffic") or {}).get("close") or []
        figure = network_figure(state.basemap, closed=closed)
        note = traffic_section_note(draft)
        return with_tiles(figure, state.basemap, tiles), closed_summary(draft), note

    @app.callback(
        *[Output(cid, "value") for cid, _ in FORM],
        Output("draft", "data", allow_duplicate=True),
        Output("scenario-message", "children", allow_duplicate=True),
        Output("scenario-known", "data", allow_duplicate=True),
        # a store of this page, not the URL: an Input from outside the page would fire this
        # callback (it writes the app-wide draft) while the page's other inputs are absent
        Input("scenario-mounted", "data"),
        Input("scenario-load", "value"),
        Input("scenario-upload", "contents"),
        State("scenario-upload", "filename"),
        State("draft", "data"),
        State("scenario-known", "data"),
        prevent_initial_call="initial_duplicate",
    )
    def fill_editor(
        _path, load: str | None, upload: str | None, filename: str | None, draft, known
    ):
        """The editor shows the draft; loading or uploading a scenario replaces the draft."""
        trigger = ctx.triggered_id
        message: object = no_update
        try:
            if trigger == "scenario-load" and load:
                loaded = state.store.load_named(load)
                _refuse_other_city(state, loaded.city, load)
                draft = loaded.model_dump(mode="json")
                message = html.Div(f"Loaded {load}.", className="ok")
                # the version loaded is one this browser knows: saving over it asks nothing
                there = saved_digest(state.store.scenario_path(load))
                known = {**(known or {}), load: there}
                return *_form_values(draft), draft, message, known
            elif trigger == "scenario-upload" and upload:
                draft = _uploaded(state, upload, filename).model_dump(mode="json")
                message = html.Div(f"Read {filename}: {draft['name']}.", className="ok")
        except (*USER_ERRORS, UploadError, StoreError) as err:
            return (*[no_update] * len(FORM), no_update, html.Div(str(err), className="error"),
                    no_update)  # fmt: skip
        return *_form_values(draft), draft, message, no_update

    form_states = [State(cid, "value") for cid, _ in FORM]

    @app.callback(
        Output("draft", "data", allow_duplicate=True),
        Output("scenario-message", "children", allow_duplicate=True),
        Output("scenario-load", "options"),
        Output("compare-a", "options"),
        Output("compare-b", "options"),
        Output("scenario-replace", "data"),
        Output("scenario-known", "data", allow_duplicate=True),
        Input("scenario-save", "n_clicks"),
        State("draft", "data"),
        State("scenario-replace", "data"),
        State("scenario-known", "data"),
        *form_states,
        prevent_initial_call=True,
    )
    def save(clicks, draft, told, known, *values):
        if not clicks:
            return (no_update,) * 7
        try:
            updated = _read_form(state, draft, values)
            scenario = scenario_from_draft(updated)
            # the store is shared by every browser: a version of this name this browser has
            # not saved or loaded (another planner's) is replaced only once Save is pressed
            # again, knowing it
            theirs = other_version(state.store, scenario, (known or {}).get(scenario.name))
            if theirs and told != theirs:
                said = (
                    f"Another version of {scenario.name} is saved (by another session, or "
                    "from a file): Save again to replace it, or give this draft another name."
                )
                return (no_update, html.Div(said, className="error"), *(no_update,) * 3,
                        theirs, no_update)  # fmt: skip
            path = state.store.save_scenario(scenario)
        except (*USER_ERRORS, StoreError) as err:
            return no_update, html.Div(str(err), className="error"), *(no_update,) * 5
        names = saved_options(state)
        saved = html.Div(f"Saved {updated['name']} ({path.name}).", className="ok")
        known = {**(known or {}), scenario.name: saved_digest(path)}
        return updated, saved, names, names, names, None, known

    @app.callback(
        Output("scenario-download", "data"),
        Output("scenario-message", "children", allow_duplicate=True),
        Input("scenario-yaml", "n_clicks"),
        State("draft", "data"),
        *form_states,
        prevent_initial_call=True,
    )
    def download_yaml(clicks, draft, *values):
        if not clicks:
            return no_update, no_update
        try:
            scenario = scenario_from_draft(_read_form(state, draft, values))
        except USER_ERRORS as err:
            return no_update, html.Div(str(err), className="error")
        return {"content": scenario.to_yaml(), "filename": f"{scenario.name}.yaml"}, ""

    def build(a: str | None, b: str | None):
        if not a or not b:
            raise ScenarioError("Choose two saved scenarios, A and B.")
        return [state.store.load_named(a), state.store.load_named(b)]

    register_run(
        app,
        state,
        prefix="compare",
        store_id="compare-result",
        states=[State("compare-a", "value"), State("compare-b", "value")],
        build=build,
    )

    @app.callback(
        Output("compare-result", "data", allow_duplicate=True),
        Output("compare-error", "children", allow_duplicate=True),
        Input("compare-a", "value"),
        Input("compare-b", "value"),
        prevent_initial_call=True,
    )
    def compare_stored(a: str | None, b: str | None):
        """Two scenarios whose runs are stored compare at once, without a background job."""
        if not a or not b:
            return no_update, no_update
        try:
            scenarios = [state.store.load_named(a), state.store.load_named(b)]
        except (StoreError, *USER_ERRORS) as err:
            return no_update, str(err)
        keys = [state.store.run_key(s, state.city_sha) for s in scenarios]
        if not all(state.store.has_run(k) for k in keys):
            return no_update, "Not run yet: click Run and compare."
        return {"keys": keys, "names": [a, b]}, ""

    # The KPI table first, its charts in a second callback once the table is there: the
    # table shows without waiting for the figures to be built, sent and drawn (run side by
    # side instead, the two compete for the server and the browser and the table is late).
    @app.callback(
        Output("compare-view", "children"),
        Output("compare-shown", "data"),
        Input("compare-result", "data"),
    )
    def show_comparison(result: dict | None):
        if not result:
            note = html.P("Save scenarios, choose A and B, and run them.", className="note")
            return note, None
        return comparison_summary(state, result), result

    @app.callback(Output("compare-charts", "children"), Input("compare-shown", "data"))
    def show_comparison_charts(result: dict | None):
        if not result:
            return None
        return comparison_charts(state, result)

    @app.callback(
        Output("export-download", "data"),
        Output("export-error", "children"),
        Input("export-kpis", "n_clicks"),
        Input("export-trips", "n_clicks"),
        Input("export-edges", "n_clicks"),
        Input("export-waste", "n_clicks"),
        Input("export-yaml", "n_clicks"),
        State("export-which", "value"),
        State("compare-result", "data"),
        prevent_initial_call=True,
    )
    def export(*args):
        which, result = args[-2], args[-1]
        if not ctx.triggered or not ctx.triggered[0]["value"]:
            return no_update, no_update
        if not result:
            return no_update, "Run a comparison first: exports are of its runs."
        try:
            return export_file(state, result, ctx.triggered_id, int(which or 0)), ""
        except (StoreError, *USER_ERRORS) as err:
            return no_update, str(err)


def _of_this_city(state: DashboardState, city: str) -> bool:
    return city in {state.city.name, str(state.city.source.path)}


def _refuse_other_city(state: DashboardState, city: str, what: str) -> None:
    """A scenario of another city would run its streets and signals on this one."""
    if not _of_this_city(state, city):
        raise UploadError(
            f"{what}: the scenario is for {short_repr(Path(city).name)}, but this dashboard "
            f"shows {state.city.name}: open that city on the City page first, or change the "
            "scenario's city."
        )


def saved_options(state: DashboardState) -> list[dict[str, Any]]:
    """The saved scenarios as a menu: those of this city to choose, those of others shown
    with their city and not chosen (their streets are not this city's)."""
    options = []
    for name, city in state.store.scenario_cities().items():
        if _of_this_city(state, city):
            options.append({"label": name, "value": name})
        else:
            label = f"{name} ({Path(city).name}: another city)"
            options.append({"label": label, "value": name, "disabled": True})
    return options


def _uploaded(state: DashboardState, contents: str, filename: str | None):
    """A scenario YAML upload, validated as ``twin run`` would (file:line errors), for this
    dashboard's city: every street, way and signalized junction it names must be in the city's
    network (:func:`twin.check_scenario_in_city`)."""
    raw = decode_upload(contents, filename, limit_bytes=state.limits.scenario_bytes)
    name = filename or "scenario.yaml"
    if not name.lower().endswith((".yaml", ".yml")):
        raise UploadError(f"{name}: upload a scenario as a .yaml or .yml file.")
    with tempfile.TemporaryDirectory() as folder:
        # a name safe to write: no folder of the browser's choosing, no NUL, not too long
        path = Path(folder) / upload_file_name(name)
        path.write_bytes(raw)
        _refuse_extends(raw, name)
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            raise UploadError(str(err).replace(str(path), name)) from None
        _refuse_other_city(state, scenario.city, name)
        _refuse_named_files(scenario, name)
        try:
            # refused here as `twin run` refuses it: once in the draft, a street the map lacks
            # could not be reopened by a click, and every run would stop on it
            check_scenario_in_city(scenario, state.city, path)
        except ScenarioError as err:
            raise UploadError(str(err).replace(str(path), name)) from None
    return scenario


def _refuse_extends(raw: bytes, name: str) -> None:
    """An uploaded scenario may not extend another file: the server's files are not the
    planner's to read (an absolute path would name any of them), and a file beside the upload
    does not exist here."""
    try:
        # composed, not loaded: aliases stay shared nodes (a file of nested aliases would
        # expand before the twin's bounded reader saw it)
        node = yaml.compose(raw, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return  # the scenario reader says where, and refuses a nesting too deep
    keys = {k.value for k, _ in node.value} if isinstance(node, yaml.MappingNode) else set()
    if "extends" in keys:
        raise UploadError(
            f"{name}: `extends` names another file, which the dashboard cannot read: upload the "
            "scenario written out whole (`twin run` writes one, scenario.yaml)."
        )


def _refuse_named_files(scenario: Any, name: str) -> None:
    """An uploaded scenario may not name files (an OD table, a rounds file, a checkpoint, a
    signal plan file): on the server they would be any file a path names, and the ones beside
    the planner's scenario are not here."""
    traffic, waste = scenario.traffic, scenario.waste
    named = {
        "traffic.od": traffic.od if traffic else None,
        "traffic.signal_plan": traffic.signal_plan
        if traffic and traffic.signal_plan not in SIGNAL_PLAN_NAMES
        else None,
        "waste.rounds": waste.rounds if waste else None,
        "waste.checkpoint": waste.checkpoint if waste else None,
    }
    files = [field for field, value in named.items() if value]
    if files:
        raise UploadError(
            f"{name}: names a file ({', '.join(files)}), which the dashboard cannot read from an "
            "upload: upload a city's rounds on the Waste page, and run scenarios with OD "
            "tables, plan files or checkpoints with `twin run`."
        )


SVG_TRIPS = 5000
"""Most trips the before-vs-after scatter draws as SVG (WebGL past that)."""


def comparison_view(state: DashboardState, result: dict) -> html.Div:
    """KPI table (b − a, better/worse highlighted), A/B Street's trip changes and speeds: the
    summary and the charts together (the page shows them as two parts, see :func:`register`).

    Parameters
    ----------
    state : DashboardState
        The app's state (its run store holds both runs).
    result : dict
        ``{"keys": [key_a, key_b], "names": [name_a, name_b]}``.

    Returns
    -------
    dash.html.Div
        The view.
    """
    return html.Div([comparison_summary(state, result), comparison_charts(state, result)])


def _trip_changes(state: DashboardState, key_a: str, key_b: str) -> dict | None:
    """Trip changes from run A to run B, or ``None`` unless both have traffic; computed once
    per pair (stored runs never change: their key is a hash of scenario and city)."""
    store = state.store
    if not (store.has_section(key_a, "traffic") and store.has_section(key_b, "traffic")):
        return None
    return state.figure(
        ("trip-changes", key_a, key_b),
        lambda: trip_changes(
            store.table(key_a, "traffic/trips"), store.table(key_b, "traffic/trips")
        ),
    )


def comparison_summary(state: DashboardState, result: dict) -> html.Div:
    """KPI table (b − a, better/worse highlighted) and how many trips got faster or slower.

    Parameters
    ----------
    state : DashboardState
        The app's state (its run store holds both runs).
    result : dict
        ``{"keys": [key_a, key_b], "names": [name_a, name_b]}``.

    Returns
    -------
    dash.html.Div
        The table, then the trips line where both runs have traffic.
    """
    (key_a, key_b), (name_a, name_b) = result["keys"], result["names"]
    store = state.store
    rows = comparison_rows(store.kpis(key_a), store.kpis(key_b))
    parts: list = [comparison_table(rows, a=name_a, b=name_b, table_id="compare-table")]
    learned = [name for name, key in ((name_a, key_a), (name_b, key_b)) if run_by_model(store, key)]
    if learned:
        parts.append(
            html.P(
                f"{MODEL_LABEL}: the collection routes of {' and '.join(learned)} (the learned "
                "planner), for a person to check and decide on.",
                id="compare-model-label",
                className="note warn",
            )
        )
    changes = _trip_changes(state, key_a, key_b)
    if changes is not None:
        parts.append(
            html.P(
                f"Trips made in both: {changes['matched']:,}: {changes['faster']:,} faster, "
                f"{changes['slower']:,} slower, {changes['unchanged']:,} unchanged (±5 s); "
                f"time saved {changes['saved_veh_h']:+,.1f} vehicle-hours.",
                id="compare-trips",
            )
        )
    return html.Div(parts)


def comparison_charts(state: DashboardState, result: dict) -> html.Div:
    """A/B Street's travel time per trip before vs after, and network speed over time.

    Parameters
    ----------
    state : DashboardState
        The app's state (its run store holds both runs).
    result : dict
        ``{"keys": [key_a, key_b], "names": [name_a, name_b]}``.

    Returns
    -------
    dash.html.Div
        The two charts, or an empty chart unless both runs have traffic.
    """
    (key_a, key_b), (name_a, name_b) = result["keys"], result["names"]
    store = state.store
    changes = _trip_changes(state, key_a, key_b)
    if changes is None:
        return html.Div(dcc.Graph(id="compare-scatter", figure=empty_figure("No traffic in both")))
    # SVG markers, not WebGL, up to a few thousand trips: without a GPU, creating a WebGL
    # context takes the browser longer than drawing them
    marker_trace = go.Scatter if len(changes["before_s"]) <= SVG_TRIPS else go.Scattergl
    scatter = go.Figure(
        marker_trace(
            x=changes["before_s"] / 60,
            y=changes["after_s"] / 60,
            mode="markers",
            marker={"size": 4, "opacity": 0.5},
            name="trips",
        )
    )
    top = float(np.max(np.concatenate([[1.0], changes["before_s"], changes["after_s"]])))
    scatter.add_scatter(
        x=[0, top / 60], y=[0, top / 60], mode="lines", name="unchanged", line_dash="dot"
    )
    scatter.update_layout(
        title="Travel time per trip, before vs after",
        xaxis_title=f"{name_a} (min)",
        yaxis_title=f"{name_b} (min)",
        **CHART,
    )
    speeds = speed_over_time(
        {
            name_a: store.table(key_a, "traffic/edge_timeseries"),
            name_b: store.table(key_b, "traffic/edge_timeseries"),
        },
        state.basemap.length_m,
    )
    return html.Div(
        [
            dcc.Graph(id="compare-scatter", figure=scatter),
            dcc.Graph(id="compare-speed", figure=speeds),
        ],
        className="charts",
    )


def export_file(state: DashboardState, result: dict, what: str, which: int) -> dict:
    """What a download button sends: ``dcc.Download`` data of one run's results."""
    store = state.store
    key, name = result["keys"][which], result["names"][which]
    if what == "export-kpis":
        (key_a, key_b), (name_a, name_b) = result["keys"], result["names"]
        rows = comparison_rows(store.kpis(key_a), store.kpis(key_b))
        table = rows.drop(columns=["label"]).rename(columns={"a": name_a, "b": name_b})
        return {"content": table.to_csv(index=False), "filename": f"{name_a}-vs-{name_b}.csv"}
    if what == "export-yaml":
        return {"content": store.run_scenario(key).to_yaml(), "filename": f"{name}.yaml"}
    if what == "export-trips":
        trips = store.table(key, "traffic/trips")
        return {"content": trips.to_csv(index=False), "filename": f"{name}-trips.csv"}
    if what == "export-edges":
        edges = store.table(key, "traffic/edges").to_crs("EPSG:4326")
        return {"content": edges.to_json(drop_id=True), "filename": f"{name}-streets.geojson"}
    if what == "export-waste":
        routes = store.table(key, "waste/routes")
        bins = store.table(key, "waste/bins")
        if run_by_model(store, key):  # a file of a model's routes says so on every route
            routes = routes.assign(proposed_by=f"{MODEL_LABEL} (the learned planner)")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}-waste.gpkg"
            routes.to_file(path, layer="routes", driver="GPKG")
            bins.to_file(path, layer="bins", driver="GPKG")
            return dcc.send_bytes(path.read_bytes(), path.name)
    raise StoreError(f"unknown export {what!r}")
