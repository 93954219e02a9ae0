"""Small building blocks shared by the pages: KPI cards, comparison tables, run controls and
the background-run callback every page uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.forms import FormError, read_form
from dashboards.jobs import raise_if_cancelled
from dashboards.logic import (
    AS_IS_KPIS,
    BASELINE_KPIS,
    KPI_INFO,
    UploadError,
    best_of,
    format_kpi,
    kpi_cards,
    kpi_change,
    kpi_difference,
    section_only,
    street_refs,
    toggle_closure,
    unfinished_card,
)
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import StoreError
from twin import USER_ERRORS, Scenario

__all__ = [
    "baseline_table",
    "card_row",
    "comparison_table",
    "field",
    "form_status",
    "kpi_card",
    "map_graph",
    "map_with_day_slider",
    "number_field",
    "number_input",
    "register_form_check",
    "register_job",
    "register_run",
    "rounds_file",
    "run_controls",
    "upload_button",
]

AUTO_FLEET = "blank: the city's rounds' fleet, else sized to its waste"
"""What an empty Trucks box means (the twin sizes the fleet, ``trucks: null``)."""

CLOSE_MODES = [
    {"label": "street segment (both directions)", "value": "segment"},
    {"label": "this direction only", "value": "direction"},
    {"label": "whole OSM way", "value": "way"},
]

VERDICT_STYLE = {
    "better": {"backgroundColor": "#d9f2d9", "color": "#1b5e20"},
    "worse": {"backgroundColor": "#fbdada", "color": "#8b1a1a"},
    "changed": {"backgroundColor": "#fff4cc"},
    "same": {},
}


def kpi_card(label: str, value: str, *, card_id: str, level: str = "") -> html.Div:
    """One KPI card: label above, value below; ``level`` ``"warn"`` or ``"alarm"`` colours it.

    Parameters
    ----------
    label, value : str
        What the card says.
    card_id : str
        Its id.
    level : str
        ``""``, ``"warn"`` or ``"alarm"``.

    Returns
    -------
    dash.html.Div
        The card.
    """
    return html.Div(
        [html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value")],
        className=f"kpi-card {level}".strip(),
        id=card_id,
        title={"warn": "Many trips did not finish", "alarm": "Gridlock"}.get(level, ""),
    )


def card_row(kpis: dict[str, Any], keys: tuple[str, ...], *, id_prefix: str) -> html.Div:
    """One card per KPI: label above, value below (ids ``<prefix>-<kpi>`` for tests); unfinished
    trips with their share, coloured when they are many or the network jammed
    (:func:`dashboards.logic.unfinished_card`)."""
    cards = []
    for kpi, label, value in kpi_cards(kpis, keys):
        level = ""
        if kpi == "trips_unfinished" and (found := unfinished_card(kpis)) is not None:
            label, value, level = found
        cards.append(kpi_card(label, value, card_id=f"{id_prefix}-{kpi}", level=level))
    return html.Div(cards, className="kpi-row")


def comparison_table(rows: pd.DataFrame, *, a: str, b: str, table_id: str) -> html.Table:
    """KPI rows (:func:`dashboards.logic.comparison_rows`): a, b, difference, change, with the
    difference cell coloured by verdict (better green, worse red); a change that rounds to
    nothing at the precision shown (:func:`dashboards.logic.kpi_change`) is neither."""
    head = html.Tr([html.Th("KPI"), html.Th(a), html.Th(b), html.Th("b − a"), html.Th("change")])
    body = []
    for row in rows.itertuples():
        change, sign = kpi_change(row.kpi, row.b, row.a)
        verdict = row.verdict if sign else "same"
        diff = kpi_difference(row.kpi, row.b, row.a)
        style = VERDICT_STYLE[verdict]
        body.append(
            html.Tr(
                [
                    html.Td(row.label),
                    html.Td(format_kpi(row.kpi, row.a)),
                    html.Td(format_kpi(row.kpi, row.b)),
                    html.Td(diff, style=style, className=f"verdict-{verdict}"),
                    html.Td(change or "–", style=style),
                ],
                id=f"{table_id}-{row.kpi}",
            )
        )
    return html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="kpi-table")


BEST_MARK = "★"
"""Marks the best policy's cell of each KPI in the Plans table."""


def policy_table(
    kpis: dict[str, dict[str, Any]],
    baseline: str,
    keys: tuple[str, ...],
    *,
    table_id: str,
    labels: Mapping[str, str] | None = None,
) -> html.Div:
    """Policies side by side (columns), KPIs as rows: each cell against the baseline column,
    coloured better/worse (a change that rounds to nothing is neither), and the best policy of
    each KPI marked (:func:`dashboards.logic.best_of`; cells of class ``best``).

    Parameters
    ----------
    kpis : dict
        KPIs of each policy, by policy.
    baseline : str
        The policy the others are compared with.
    keys : tuple of str
        The KPIs shown, in order.
    table_id : str
        The table's id (rows ``<table_id>-<kpi>``).
    labels : mapping, optional
        A column's heading by policy (a model's says so); the policy's name otherwise.

    Returns
    -------
    dash.html.Div
        The table and a line saying how to read it.
    """
    names = list(kpis)
    titles = {p: (labels or {}).get(p, p) + (" (baseline)" if p == baseline else "") for p in names}
    head = html.Tr([html.Th("KPI"), *[html.Th(titles[p]) for p in names]])
    body = []
    for kpi in keys:
        info = KPI_INFO[kpi]
        base = kpis.get(baseline, {}).get(kpi)
        winners = best_of({p: kpis[p].get(kpi) for p in names}, kpi)
        cells = [html.Td(info.label)]
        for policy in names:
            value = kpis[policy].get(kpi)
            style: dict = {}
            text = format_kpi(kpi, value)
            if policy != baseline:
                change, sign = kpi_change(kpi, value, base)
                if sign and info.better:
                    style = VERDICT_STYLE["better" if sign * info.better > 0 else "worse"]
                if change:
                    text += f" ({change})"
            best = policy in winners
            cells.append(
                html.Td(
                    f"{text} {BEST_MARK}" if best else text,
                    style=style,
                    className="best" if best else None,
                    title=f"best of the policies on {info.label.lower()}" if best else None,
                )
            )
        body.append(html.Tr(cells, id=f"{table_id}-{kpi}"))
    table = html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="kpi-table")
    key = html.P(
        f"{BEST_MARK} best policy on each KPI. In brackets, the change against the baseline: "
        "relative, shares in percentage points (pp); ±0 where it rounds to nothing.",
        className="note",
    )
    return html.Div([table, key])


def baseline_table(
    table: pd.DataFrame,
    baseline: str,
    *,
    table_id: str,
    labels: Mapping[str, str] | None = None,
) -> html.Div:
    """Policies (rows) against the baseline: truck-km, truck-hours, euros, euros per tonne and
    CO2 with their change against the baseline's (coloured better or worse; a change that
    rounds to nothing is neither), and the service level and the overflows' cost as they are.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`dashboards.logic.against_baseline`: one row per policy.
    baseline : str
        The baseline policy (its row says so, and carries no changes).
    table_id : str
        The table's id (rows ``<table_id>-<policy>``).
    labels : mapping, optional
        A policy's name as shown (a model's says so); the policy's name otherwise.

    Returns
    -------
    dash.html.Div
        The table and a line saying how to read it.
    """
    keys = (*BASELINE_KPIS, *AS_IS_KPIS)
    base = table[table["policy"] == baseline].iloc[0]
    head = html.Tr([html.Th("Policy"), *[html.Th(KPI_INFO[k].label) for k in keys]])
    body = []
    for row in table.to_dict("records"):
        name = (labels or {}).get(row["policy"], row["policy"])
        cells = [html.Td(f"{name} (baseline)" if row["baseline"] else name)]
        for kpi in keys:
            text, style = format_kpi(kpi, row[kpi]), {}
            if kpi not in AS_IS_KPIS and not row["baseline"]:
                # the text the tables share (kpi_change); the exact number is the figure's
                change, sign = kpi_change(kpi, row[kpi], base[kpi])
                if sign:
                    better = sign * KPI_INFO[kpi].better > 0
                    style = VERDICT_STYLE["better" if better else "worse"]
                if change:
                    text += f" ({change})"
            cells.append(html.Td(text, style=style))
        body.append(
            html.Tr(
                cells,
                id=f"{table_id}-{row['policy']}",
                className="baseline" if row["baseline"] else None,
            )
        )
    table_view = html.Table(
        [html.Thead(head), html.Tbody(body)], id=table_id, className="kpi-table"
    )
    key = html.P(
        f"In brackets, the change against the baseline, {baseline}, in per cent of its value; "
        "the service level (the share of bin-days without overflow) and what the overflows "
        "cost the city (overflowing bin-days at its price of one, not part of the euros) as "
        "they are. The same days, fleet and seed for every policy.",
        className="note",
    )
    return html.Div([table_view, key])


def rounds_file(state: DashboardState, draft: dict | None, uploaded: dict | None) -> str | None:
    """The city's rounds file the Waste and Plans pages drive as ``current``: the one uploaded
    in this browser (on the Waste page), else the draft's own (a scenario of policy ``current``
    loaded on the Scenarios page); ``None`` when there is none.

    Parameters
    ----------
    state : DashboardState
        The app's state (its store keeps the uploads).
    draft : dict or None
        The draft scenario.
    uploaded : dict or None
        The app's ``waste-rounds`` store: ``digest`` and ``name`` of the upload
        (:meth:`dashboards.store.RunStore.upload_path`).

    Returns
    -------
    str or None
        The file's path.
    """
    if uploaded:
        try:
            return str(state.store.upload_path(uploaded.get("digest"), uploaded.get("name")))
        except StoreError:
            pass  # gone with the store: the draft's own, if any
    waste = (draft or {}).get("waste") or {}
    return waste.get("rounds") if waste.get("policy") == "current" else None


ROUNDS_CHECK_DAYS = 1
"""Days the twin drives a rounds file to check it: reading it and matching its stops to the
city's bins come first, so a bad file is refused at once, and a good one costs a day."""


def rounds_check(
    state: DashboardState, path: str, draft: dict, values: Mapping[str, Any]
) -> tuple[str | None, int | None]:
    """Drive the city's rounds file for :data:`ROUNDS_CHECK_DAYS` with the form's fleet and
    seed (a run kept in the store: checking the same file with the same form again costs
    nothing).

    Parameters
    ----------
    state : DashboardState
        The app's state.
    path : str
        The rounds file.
    draft : dict
        The draft scenario.
    values : Mapping
        ``trucks`` and ``seed`` of the form (the draft's where they are not valid).

    Returns
    -------
    tuple
        The twin's message (``None`` for a file it drives) and the trucks the rounds ran with
        (the form's, else as many as the rounds send out on one day; ``None`` when refused).
    """
    # at free flow: traffic slows the trucks but changes no stop's reach or any truck's round
    values = {key: value for key, value in values.items() if key != "shift_trips"}
    try:
        settings = read_form(draft, values, section="waste").model_dump(mode="json")
    except FormError:
        settings = draft
    scenario = section_only(
        settings, "waste", policy="current", rounds=path, days=ROUNDS_CHECK_DAYS
    ).model_copy(update={"name": f"{draft['name']}-rounds-check"})
    errors: list[str | None] = []
    (key,) = run_scenarios(state, [scenario], errors=errors)
    if key is None:
        return (errors[0] if errors else "the rounds did not run"), None
    return None, int(state.store.waste_info(key)["n_trucks"])


def shared_fleet(
    state: DashboardState, draft: dict, values: Mapping[str, Any], rounds: str | None
) -> dict[str, Any]:
    """The form's ``values`` with the one fleet every compared policy runs with: the form's
    trucks, else, where the city's rounds run among them, the trucks those rounds send out (a
    blank fleet otherwise sizes itself to the city's waste, which the rounds' own need not
    match: a policy measured with more trucks than the baseline is not measured against it).
    Unchanged where the rounds are refused (their run then says why)."""
    values = dict(values)
    if rounds is None or values.get("trucks") not in (None, ""):
        return values
    _, fleet = rounds_check(state, rounds, draft, values)
    if fleet is not None:
        values["trucks"] = fleet
    return values


def field(label: str, component: Any, *, check_id: str | None = None) -> html.Label:
    """A labelled form control.

    Parameters
    ----------
    label : str
        Text shown above the control.
    component : Any
        The control.
    check_id : str, optional
        With an id, the field says what is wrong with its value beside it: a message line
        ``<check_id>-message`` under the control, and the label ``<check_id>-field`` whose
        class turns ``field invalid`` (see :func:`register_form_check`).

    Returns
    -------
    dash.html.Label
        The label holding the control.
    """
    if check_id is None:
        return html.Label([html.Span(label, className="field-label"), component], className="field")
    return html.Label(
        [
            html.Span(label, className="field-label"),
            component,
            html.Div("", id=f"{check_id}-message", className="field-message", role="alert"),
        ],
        className="field",
        id=f"{check_id}-field",
    )


KEPT_FOR_SESSION: dict[str, Any] = {"persistence": True, "persistence_type": "session"}
"""Properties of a run page's input whose value outlives a visit to another page: the browser
keeps what the planner typed for the session, so the form beside a run's results still says
what was run (where the page's starting value, from the draft, changes meanwhile, the new one
shows)."""


def number_input(component_id: str, **props: Any) -> dcc.Input:
    """A numeric input box whose every value reaches the server.

    The browser's own limits (``min``, ``max``, a ``step``) are left out on purpose: Dash sends
    ``None`` for a value that breaks them, the same as for a blank box, so the page could not
    say what was wrong with −5 or 2.5. The twin's parameter objects check the value instead
    (:mod:`dashboards.forms`) and the field says why beside it.

    Parameters
    ----------
    component_id : str
        The component's id.
    **props : Any
        Further :class:`dash.dcc.Input` properties (``value``, ``placeholder``…).

    Returns
    -------
    dash.dcc.Input
        An input of type ``number``.
    """
    return dcc.Input(id=component_id, type="number", step="any", **props)


def number_field(label: str, component_id: str, **props: Any) -> html.Label:
    """A labelled numeric input box with its message line (:func:`field` around
    :func:`number_input`).

    Parameters
    ----------
    label : str
        Text shown above the box.
    component_id : str
        The input's id (also of its message, ``<id>-message``).
    **props : Any
        Further :class:`dash.dcc.Input` properties (``value``, ``placeholder``…).

    Returns
    -------
    dash.html.Label
        The label holding the input.
    """
    return field(label, number_input(component_id, **props), check_id=component_id)


def upload_button(text: str, component_id: str, *, max_bytes: int, too_large: str = "") -> html.Div:
    """A file upload drawn as a full-width button, and the line that says when a file is too
    large.

    Parameters
    ----------
    text : str
        What the button says.
    component_id : str
        The upload's id (its line: ``<component_id>-too-large``).
    max_bytes : int
        Largest file the browser sends; a larger one is refused before it is uploaded, which
        the browser does without a word: ``assets/upload-size.js`` writes the line.
    too_large : str
        What to do with a file too large, said after the sizes.

    Returns
    -------
    dash.html.Div
        The upload component and its line.
    """
    upload = dcc.Upload(
        html.Div(text),
        id=component_id,
        max_size=max_bytes,
        className="button",
        style={"display": "block", "textAlign": "center"},
    )
    line = html.Div(id=f"{component_id}-too-large", className="error", role="alert")
    said = {"data-max-bytes": str(max_bytes), "data-too-large": too_large}
    return html.Div([upload, line], **said)


def map_graph(graph_id: str, figure: go.Figure) -> dcc.Graph:
    """A map graph: zooms with the scroll wheel, without Plotly's logo in the mode bar.

    Parameters
    ----------
    graph_id : str
        The graph's id.
    figure : plotly.graph_objects.Figure
        The map drawn first.

    Returns
    -------
    dash.dcc.Graph
        The graph.
    """
    return dcc.Graph(id=graph_id, figure=figure, config={"scrollZoom": True, "displaylogo": False})


def map_with_day_slider(prefix: str, figure: go.Figure) -> html.Div:
    """A map (``<prefix>-map``) above a slider choosing the day shown (``<prefix>-day``).

    The slider holds only day 0 until a run sets its range.

    Parameters
    ----------
    prefix : str
        Start of the ids.
    figure : plotly.graph_objects.Figure
        The map drawn first.

    Returns
    -------
    dash.html.Div
        The map and the slider.
    """
    return html.Div(
        [
            map_graph(f"{prefix}-map", figure),
            html.Label("Day", className="field-label"),
            dcc.Slider(id=f"{prefix}-day", min=0, max=0, step=1, value=0),
        ]
    )


def run_controls(prefix: str, label: str = "Run") -> html.Div:
    """Run and cancel buttons, a progress bar with its label, an error line, and the stores
    that drive them: ``<prefix>-running`` (a job is working), ``<prefix>-invalid`` (a field
    of the form is wrong: Run waits) and ``<prefix>-cancelling`` (Cancel was pressed)."""
    return html.Div(
        [
            html.Button(label, id=f"{prefix}-run", className="button primary"),
            html.Button("Cancel", id=f"{prefix}-cancel", className="button", disabled=True),
            html.Progress(id=f"{prefix}-progress", max="100", value="0", className="progress"),
            html.Span("", id=f"{prefix}-progress-label", className="progress-label"),
            html.Div("", id=f"{prefix}-error", className="error", role="alert"),
            *form_status(prefix),
            dcc.Store(id=f"{prefix}-job"),
            dcc.Store(id=f"{prefix}-running", data=False),
            dcc.Store(id=f"{prefix}-cancelling", data=False),
        ],
        className="run-controls",
    )


def form_status(prefix: str) -> list:
    """A form's state for :func:`register_form_check`: the store ``<prefix>-invalid`` (a field
    is wrong) and the line ``<prefix>-form-problem`` for a problem of no single field."""
    return [
        dcc.Store(id=f"{prefix}-invalid", data=False),
        html.Div("", id=f"{prefix}-form-problem", className="error", role="alert"),
    ]


# Run waits while a job works or a field is wrong (and says why on hover); Cancel only while a
# job works. In the browser: no round trip for a button.
_BUTTONS_JS = """(running, invalid) => [
    Boolean(running) || Boolean(invalid),
    invalid ? "Correct the fields marked in red first." : "",
    !running,
]"""

# What the progress line says around a cancel: "cancelling…" at the click, "cancelled" once
# the job has stopped (Dash turns ``running`` off only after the server reports the job gone,
# see dashboards.jobs: the last progress of the job has been drawn by then), and the bar back at
# zero instead of frozen where the job was.
_CANCEL_JS = """(clicks, running, cancelling) => {
    const no = window.dash_clientside.no_update;
    const fired = window.dash_clientside.callback_context.triggered.map(t => t.prop_id);
    if (fired.some(id => id.endsWith("-cancel.n_clicks"))) {
        return clicks ? ["cancelling…", no, true] : [no, no, no];
    }
    if (running) return [no, no, false];
    if (cancelling) return ["cancelled", "0", false];
    return [no, no, no];
}"""


def register_run(
    app: Dash,
    state: DashboardState,
    *,
    prefix: str,
    store_id: str,
    states: Sequence[State],
    build: Callable[..., list[Scenario]],
    keep_going: bool = False,
) -> None:
    """Wire ``<prefix>-run`` to a background run of ``build(*state values)``'s scenarios
    (:func:`register_job`).

    The result,
    ``{"keys": [run keys], "names": [scenario names], "errors": [message or None]}``, lands
    in the store ``store_id``. With ``keep_going``, a scenario the twin refuses gets the key
    ``None`` and its message, and the others still run. ``build`` validates the form
    (:func:`dashboards.forms.read_form`).
    """

    def execute(scenarios: list[Scenario], progress: Callable[[float, str], None]):
        errors: list[str | None] | None = [] if keep_going else None
        keys = run_scenarios(state, scenarios, progress, errors=errors)
        names = [s.name for s in scenarios]
        found = errors or [None] * len(keys)
        message = "\n".join(f"{n}: {e}" for n, e in zip(names, found, strict=True) if e)
        failed = sum(error is not None for error in found)
        if found and failed == len(found):
            progress(0.0, "failed")  # not a full bar saying "done" beside the error
        elif failed:
            progress(1.0, f"done; {failed} of {len(found)} refused")
        return {"keys": keys, "names": names, "errors": found}, message

    register_job(app, prefix=prefix, store_id=store_id, states=states, build=build, execute=execute)


def register_job(
    app: Dash,
    *,
    prefix: str,
    store_id: str,
    states: Sequence[State],
    build: Callable[..., Any],
    execute: Callable[[Any, Callable[[float, str], None]], tuple[dict, str]],
    what: str = "run",
) -> None:
    """Wire ``<prefix>-run`` (:func:`run_controls`) to background work.

    The work happens in a background thread (:class:`dashboards.jobs.ThreadJobManager`) that
    watches a child process (:mod:`dashboards.worker`): the page stays responsive, the progress
    bar follows the simulation, and ``<prefix>-cancel`` kills the child at once; the progress
    line then says "cancelled". ``build(*state values)`` reads and validates the form: with a
    bad value, nothing runs and the error line says why, even when the button was pressed
    before the field's check came back. ``execute(built, progress)`` does the work, calling
    ``progress(fraction, label)`` on the way, and returns the result, which lands in the store
    ``store_id``, and a message for the error line (empty when all went well).

    Parameters
    ----------
    app : dash.Dash
        The app.
    prefix : str
        Start of the ids of the :func:`run_controls`.
    store_id : str
        The app-wide store the result lands in.
    states : sequence of dash.State
        What ``build`` reads.
    build, execute : callable
        See above; ``build`` raises the twin's errors (or the store's, an upload's) for a
        form it refuses, ``execute`` the twin's for work it refuses.
    what : str
        What the work is, in the line that says it failed.
    """

    # The job writes a store of the page (``<prefix>-job``), copied to the app-wide store by a
    # plain callback: Dash calls a callback whose outputs lie outside a page when the page
    # mounts, and a background job started then would hold the Run button disabled.
    @app.callback(
        Output(f"{prefix}-job", "data"),
        Output(f"{prefix}-error", "children"),
        Input(f"{prefix}-run", "n_clicks"),
        *states,
        background=True,
        progress=[
            Output(f"{prefix}-progress", "value"),
            Output(f"{prefix}-progress-label", "children"),
        ],
        running=[(Output(f"{prefix}-running", "data"), True, False)],
        cancel=[Input(f"{prefix}-cancel", "n_clicks")],
        interval=250,
        prevent_initial_call=True,
    )
    def run(set_progress, clicks, *values):
        if not clicks:
            return no_update, no_update
        try:
            built = build(*values)
        except (*USER_ERRORS, StoreError, UploadError) as err:
            set_progress(("0", "not started"))
            return no_update, str(err)
        set_progress(("0", "starting…"))
        try:
            return execute(built, lambda f, label: report(set_progress, f, label))
        except USER_ERRORS as err:
            set_progress(("0", "failed"))
            return no_update, f"The {what} failed: {err}"

    @app.callback(
        Output(store_id, "data", allow_duplicate=True),
        Input(f"{prefix}-job", "data"),
        prevent_initial_call=True,
    )
    def publish(result: dict | None):
        return result if result else no_update

    app.clientside_callback(
        _BUTTONS_JS,
        Output(f"{prefix}-run", "disabled"),
        Output(f"{prefix}-run", "title"),
        Output(f"{prefix}-cancel", "disabled"),
        Input(f"{prefix}-running", "data"),
        Input(f"{prefix}-invalid", "data"),
    )
    # a message of the last run (or of a check before it) does not stand beside a new one
    app.clientside_callback(
        "function(running) { return running ? '' : window.dash_clientside.no_update; }",
        Output(f"{prefix}-error", "children", allow_duplicate=True),
        Input(f"{prefix}-running", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        _CANCEL_JS,
        Output(f"{prefix}-progress-label", "children", allow_duplicate=True),
        Output(f"{prefix}-progress", "value", allow_duplicate=True),
        Output(f"{prefix}-cancelling", "data"),
        Input(f"{prefix}-cancel", "n_clicks"),
        Input(f"{prefix}-running", "data"),
        State(f"{prefix}-cancelling", "data"),
        prevent_initial_call=True,
    )


def register_draft_follows_run(
    app: Dash, *, prefix: str, fields: Sequence[tuple[str, str]]
) -> None:
    """Write a run page's ``fields`` (input id, :func:`dashboards.forms.read_form` key) into
    the draft when ``<prefix>-run`` is pressed: the scenario saved after a run is the one that
    ran (the Scenarios page, Save, Download), not the draft's values of before."""
    keys = [key for _, key in fields]

    @app.callback(
        Output("draft", "data", allow_duplicate=True),
        Input(f"{prefix}-run", "n_clicks"),
        State("draft", "data"),
        *[State(cid, "value") for cid, _ in fields],
        prevent_initial_call=True,
    )
    def follow(clicks, draft, *values):
        if not clicks or not draft:
            return no_update
        try:
            ran = read_form(draft, dict(zip(keys, values, strict=True)))
        except (FormError, *USER_ERRORS):
            return no_update  # the run's own check says what is wrong
        updated = ran.model_dump(mode="json")
        return no_update if updated == draft else updated


def register_form_check(
    app: Dash,
    *,
    prefix: str,
    fields: Sequence[tuple[str, str]],
    section: str | None,
    read: Callable[[dict, dict], Any] | None = None,
) -> None:
    """Check a form as it is edited: each bad field says why beside it, in the twin's words,
    and the store ``<prefix>-invalid`` (:func:`form_status`) holds whether any is bad, which
    keeps the form's button (Run, Save) disabled.

    Parameters
    ----------
    app : dash.Dash
        The app.
    prefix : str
        Start of the ids of the form's :func:`form_status`.
    fields : sequence of (str, str)
        Input id and :data:`dashboards.forms.FORM_FIELDS` key of each field (made with
        :func:`field`'s ``check_id`` or :func:`number_field`).
    section : str or None
        What the form runs (see :func:`dashboards.forms.read_form`).
    read : callable, optional
        ``read(draft, values)`` reads a form of other keys than ``FORM_FIELDS``' instead of
        :func:`~dashboards.forms.read_form`, raising a
        :class:`~dashboards.forms.FormError` by those keys.
    """

    def reader(draft: dict, values: dict) -> Any:
        if read is not None:
            return read(draft, values)
        return read_form(draft, values, section=section)

    keys = [key for _, key in fields]

    @app.callback(
        *[Output(f"{cid}-message", "children") for cid, _ in fields],
        *[Output(f"{cid}-field", "className") for cid, _ in fields],
        Output(f"{prefix}-invalid", "data"),
        Output(f"{prefix}-form-problem", "children"),
        *[Input(cid, "value") for cid, _ in fields],
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def check(*values):
        *form, draft = values
        try:
            reader(draft or {}, dict(zip(keys, form, strict=True)))
            problems: dict[str, str] = {}
        except FormError as err:
            problems = err.problems
        messages = [problems.get(key, "") for key in keys]
        classes = ["field invalid" if key in problems else "field" for key in keys]
        return *messages, *classes, bool(problems), problems.get("", "")


def report(set_progress: Callable[[tuple[str, str]], None], fraction: float, label: str) -> None:
    """Show a run's progress, or stop the run here if the planner cancelled it."""
    raise_if_cancelled()
    set_progress((str(round(100 * fraction)), label))


def register_street_clicks(
    app: Dash, state: DashboardState, *, graph_id: str, mode_id: str, error_id: str
) -> None:
    """A click on a street of ``graph_id`` closes it in the draft, or reopens it; ``mode_id``
    chooses segment, direction or whole way (see :func:`dashboards.logic.street_refs`)."""

    @app.callback(
        Output("draft", "data", allow_duplicate=True),
        Output(error_id, "children", allow_duplicate=True),
        Input(graph_id, "clickData"),
        State(mode_id, "value"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def click_street(click: dict | None, mode: str | None, draft: dict):
        point = (click or {}).get("points", [{}])[0]
        ref = point.get("customdata")
        if not isinstance(ref, str):
            return no_update, no_update  # a click on a junction, bin or empty space
        basemap = state.basemap
        refs = street_refs(
            ref,
            mode=mode or "segment",
            refs=basemap.ref,
            ways=basemap.way,
            index=basemap.edge_index,
        )
        try:
            return toggle_closure(draft, refs), ""
        except USER_ERRORS as err:
            return no_update, str(err)


def closed_summary(draft: dict) -> str:
    """The draft's closures as one line."""
    closed = (draft.get("traffic") or {}).get("close") or []
    if not closed:
        return "No street closed. Click a street on the map to close it."
    return f"Closed ({len(closed)}): " + ", ".join(closed)
