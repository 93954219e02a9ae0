"""Small building blocks shared by the pages: KPI cards, comparison tables, run controls and
the background-run callback every page uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.jobs import raise_if_cancelled
from dashboards.logic import (
    KPI_INFO,
    UploadError,
    format_kpi,
    kpi_cards,
    street_refs,
    toggle_closure,
)
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import StoreError
from twin import USER_ERRORS, Scenario

__all__ = [
    "card_row",
    "comparison_table",
    "field",
    "map_graph",
    "map_with_day_slider",
    "number_field",
    "number_input",
    "register_run",
    "run_controls",
    "upload_button",
]

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


def card_row(kpis: dict[str, Any], keys: tuple[str, ...], *, id_prefix: str) -> html.Div:
    """One card per KPI: label above, value below (ids ``<prefix>-<kpi>`` for tests)."""
    return html.Div(
        [
            html.Div(
                [html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value")],
                className="kpi-card",
                id=f"{id_prefix}-{kpi}",
            )
            for kpi, label, value in kpi_cards(kpis, keys)
        ],
        className="kpi-row",
    )


def comparison_table(rows: pd.DataFrame, *, a: str, b: str, table_id: str) -> html.Table:
    """KPI rows (:func:`dashboards.logic.comparison_rows`): a, b, difference, change, with the
    difference cell coloured by verdict (better green, worse red)."""
    head = html.Tr([html.Th("KPI"), html.Th(a), html.Th(b), html.Th("b − a"), html.Th("change")])
    body = []
    for row in rows.itertuples():
        rel = "–" if pd.isna(row.relative) else f"{row.relative:+.1%}"
        diff = format_kpi(row.kpi, row.difference)
        if row.difference > 0 and not diff.startswith("+"):
            diff = "+" + diff
        style = VERDICT_STYLE[row.verdict]
        body.append(
            html.Tr(
                [
                    html.Td(row.label),
                    html.Td(format_kpi(row.kpi, row.a)),
                    html.Td(format_kpi(row.kpi, row.b)),
                    html.Td(diff, style=style, className=f"verdict-{row.verdict}"),
                    html.Td(rel, style=style),
                ],
                id=f"{table_id}-{row.kpi}",
            )
        )
    return html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="kpi-table")


def policy_table(
    kpis: dict[str, dict[str, Any]], baseline: str, keys: tuple[str, ...], *, table_id: str
) -> html.Table:
    """Policies side by side (columns), KPIs as rows; each cell against the baseline column,
    coloured better/worse."""
    names = list(kpis)
    head = html.Tr(
        [html.Th("KPI"), *[html.Th(p + (" (baseline)" if p == baseline else "")) for p in names]]
    )
    body = []
    for kpi in keys:
        info = KPI_INFO[kpi]
        base = kpis.get(baseline, {}).get(kpi)
        cells = [html.Td(info.label)]
        for policy in names:
            value = kpis[policy].get(kpi)
            style: dict = {}
            text = format_kpi(kpi, value)
            if policy != baseline and base is not None and value is not None:
                delta = float(value) - float(base)
                if abs(delta) > 1e-9 * max(abs(float(base)), 1.0) and info.better:
                    verdict = "better" if delta * info.better > 0 else "worse"
                    style = VERDICT_STYLE[verdict]
                if base:
                    text += f" ({delta / abs(float(base)):+.0%})"
            cells.append(html.Td(text, style=style))
        body.append(html.Tr(cells, id=f"{table_id}-{kpi}"))
    return html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="kpi-table")


def field(label: str, component: Any) -> html.Label:
    """A labelled form control."""
    return html.Label([html.Span(label, className="field-label"), component], className="field")


def number_input(component_id: str, **props: Any) -> dcc.Input:
    """A numeric input box.

    Parameters
    ----------
    component_id : str
        The component's id.
    **props : Any
        Further :class:`dash.dcc.Input` properties (``min``, ``step``, ``value``…).

    Returns
    -------
    dash.dcc.Input
        An input of type ``number``.
    """
    return dcc.Input(id=component_id, type="number", **props)


def number_field(label: str, component_id: str, **props: Any) -> html.Label:
    """A labelled numeric input box (:func:`field` around :func:`number_input`).

    Parameters
    ----------
    label : str
        Text shown above the box.
    component_id : str
        The input's id.
    **props : Any
        Further :class:`dash.dcc.Input` properties (``min``, ``step``, ``value``…).

    Returns
    -------
    dash.html.Label
        The label holding the input.
    """
    return field(label, number_input(component_id, **props))


def upload_button(text: str, component_id: str, *, max_bytes: int) -> dcc.Upload:
    """A file upload drawn as a full-width button.

    Parameters
    ----------
    text : str
        What the button says.
    component_id : str
        The upload's id.
    max_bytes : int
        Largest file the browser sends; a larger one is refused before it is uploaded.

    Returns
    -------
    dash.dcc.Upload
        The upload component.
    """
    return dcc.Upload(
        html.Div(text),
        id=component_id,
        max_size=max_bytes,
        className="button",
        style={"display": "block", "textAlign": "center"},
    )


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
    """Run and cancel buttons, a progress bar with its label, and an error line."""
    return html.Div(
        [
            html.Button(label, id=f"{prefix}-run", className="button primary"),
            html.Button("Cancel", id=f"{prefix}-cancel", className="button", disabled=True),
            html.Progress(id=f"{prefix}-progress", max="100", value="0", className="progress"),
            html.Span("", id=f"{prefix}-progress-label", className="progress-label"),
            html.Div("", id=f"{prefix}-error", className="error", role="alert"),
            dcc.Store(id=f"{prefix}-job"),
        ],
        className="run-controls",
    )


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
    """Wire ``<prefix>-run`` to a background run of ``build(*state values)``'s scenarios.

    The run happens in a background thread (:class:`dashboards.jobs.ThreadJobManager`): the
    page stays responsive, the progress bar follows the simulation, and ``<prefix>-cancel``
    stops it at its next progress report. The result,
    ``{"keys": [run keys], "names": [scenario names], "errors": [message or None]}``, lands
    in the store ``store_id``. With ``keep_going``, a scenario the twin refuses gets the key
    ``None`` and its message, and the others still run.
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
        running=[
            (Output(f"{prefix}-run", "disabled"), True, False),
            (Output(f"{prefix}-cancel", "disabled"), False, True),
        ],
        cancel=[Input(f"{prefix}-cancel", "n_clicks")],
        interval=250,
        prevent_initial_call=True,
    )
    def run(set_progress, clicks, *values):
        if not clicks:
            return no_update, no_update
        try:
            scenarios = build(*values)
        except (*USER_ERRORS, StoreError, UploadError) as err:
            return no_update, str(err)
        set_progress(("0", "starting…"))
        errors: list[str | None] | None = [] if keep_going else None
        try:
            keys = run_scenarios(
                state,
                scenarios,
                lambda f, label: report(set_progress, f, label),
                errors=errors,
            )
        except USER_ERRORS as err:
            return no_update, f"The run failed: {err}"
        names = [s.name for s in scenarios]
        found = errors or [None] * len(keys)
        message = "\n".join(f"{n}: {e}" for n, e in zip(names, found, strict=True) if e)
        return {"keys": keys, "names": names, "errors": found}, message

    @app.callback(
        Output(store_id, "data", allow_duplicate=True),
        Input(f"{prefix}-job", "data"),
        prevent_initial_call=True,
    )
    def publish(result: dict | None):
        return result if result else no_update


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
