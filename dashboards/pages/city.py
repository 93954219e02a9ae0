"""City page: the road network by class or speed limit, signals, bins, depot and disposal site,
summary figures, and opening another OSM extract.

The map paints in two steps: a static picture of the streets by road class, drawn on the
server (:mod:`dashboards.mapimage`), shows at once, and the interactive Plotly map replaces it
once Plotly has loaded and drawn it (seconds after the first visit's navigation: the browser
compiles 4.8 MB of Plotly first). The picture is also in the index document's first paint
(see ``dashboards.app``), before any script has run.
"""

from __future__ import annotations

import flask
import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import (
    SPEED_BANDS,
    color_layers,
    marker_traces,
    network_figure,
    speed_band,
    speed_limit_kph,
    with_tiles,
)
from dashboards.components import map_graph, upload_button
from dashboards.figures import CHART, sites_traces
from dashboards.logic import UploadError, check_osm_bytes, decode_upload
from dashboards.mapimage import IMAGE_VERSION, MapImage, image_size, render_map_image
from dashboards.state import DashboardState
from twin import USER_ERRORS

PATH = "/"
TITLE = "City"


def _summary(state: DashboardState) -> html.Div:
    summary = state.city.network.summary()
    cards = [
        ("Nodes", f"{summary['nodes']:,}"),
        ("Edges", f"{summary['edges']:,}"),
        ("Road length", f"{summary['road_km']:,.1f} km"),
        ("Signalized junctions", f"{summary['signalized_nodes']:,}"),
        ("Speed limit tagged", f"{summary['speed_limit_tagged_share']:.0%}"),
    ]
    return html.Div(
        [
            html.Div(
                [html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value")],
                className="kpi-card",
            )
            for label, value in cards
        ],
        className="kpi-row",
        id="city-summary",
    )


def _class_chart(state: DashboardState) -> go.Figure:
    basemap = state.basemap
    names, inverse = np.unique(basemap.highway.astype(str), return_inverse=True)
    km = np.bincount(inverse, weights=basemap.length_m) / 1000.0
    order = np.argsort(km)
    figure = go.Figure(go.Bar(x=km[order], y=names[order], orientation="h", marker_color="#2b6f8f"))
    figure.update_layout(title="Road length by class (km, both directions)", **CHART)
    return figure


def _speed_chart(state: DashboardState) -> go.Figure:
    """Road length per speed limit at whole km/h, each bar in its band's colour on the map."""
    basemap = state.basemap
    speeds, inverse = np.unique(speed_limit_kph(basemap.speed_kph), return_inverse=True)
    km = np.bincount(inverse, weights=basemap.length_m) / 1000.0
    bands = [SPEED_BANDS[b] for b in speed_band(speeds)]
    figure = go.Figure(
        go.Bar(
            x=[f"{s:.0f}" for s in speeds],
            y=km,
            marker_color=[color for _, _, color in bands],
            customdata=[label for _, label, _ in bands],
            hovertemplate="%{x} km/h (%{customdata}): %{y:.1f} km<extra></extra>",
        )
    )
    figure.update_layout(
        title="Road length by speed limit", xaxis_title="km/h", yaxis_title="km", **CHART
    )
    return figure


def city_figure(state: DashboardState, color_by: str, layers: tuple[str, ...]) -> go.Figure:
    """The City map (cached per city, colouring and layers: it never changes)."""

    def build() -> go.Figure:
        figure = network_figure(state.basemap, color_by=color_by, lines_only=True)
        figure.add_traces(overlay_traces(state, layers))
        return figure

    return state.figure(("city", color_by, tuple(sorted(layers))), build)


def overlay_traces(state: DashboardState, layers: tuple[str, ...]) -> list:
    """Signals, bins and sites, and the hover/click layer on top (WebGL markers)."""
    extra = sites_traces(state.sites()) if "sites" in layers else []
    markers = marker_traces(state.basemap, signals="signals" in layers)
    return [*markers[:-1], *extra, markers[-1]]


DEFAULT_LAYERS = ("signals", "sites")
"""Layers shown when the page opens."""


def lines_figure(state: DashboardState) -> go.Figure:
    """The map as the page first draws it: the streets by road class only (cached)."""
    return state.figure(("city-lines",), lambda: network_figure(state.basemap, lines_only=True))


IMAGE_ROUTE = "/_city-map/"
"""Where the app serves the static map picture (:func:`static_map_image`)."""

IMAGE_BOX = (1100, 540)
"""Largest size of the picture, pixels: about the map's plot area on a laptop's screen."""


def static_map_image(state: DashboardState) -> MapImage:
    """The current city's road network by class as a PNG (cached per city: it never
    changes)."""
    return state.figure(
        ("city-image", IMAGE_VERSION), lambda: render_map_image(state.basemap, box=IMAGE_BOX)
    )


def static_map_url(state: DashboardState) -> str:
    """URL of the current city's picture; it names the city's content hash and the drawing's
    version, so that a browser may keep it as long as it likes."""
    return f"{IMAGE_ROUTE}{state.city_sha[:16]}-v{IMAGE_VERSION}.png"


def static_map(state: DashboardState) -> html.Div:
    """The static map where the interactive one will be: a legend of the road classes (the
    interactive map's labels and colours, in its order) above the picture.

    Parameters
    ----------
    state : DashboardState
        The app's state (the current session's city).

    Returns
    -------
    dash.html.Div
        ``#city-map-static``; the page hides it once the interactive map is drawn.
    """
    basemap = state.basemap
    # the legend and the image's size come from the base map, so the layout never waits for
    # the picture to be drawn (the browser fetches it from IMAGE_ROUTE)
    legend = [
        html.Span(
            [
                html.Span(
                    className="map-swatch",
                    style={"background": color, "height": f"{max(2.0, width):g}px"},
                ),
                name,
            ],
            className="map-legend-item",
        )
        for name, color, width, _ in color_layers(basemap, "class")
    ]
    width, height = image_size(basemap, IMAGE_BOX)
    return html.Div(
        [
            html.Div(legend, className="map-legend"),
            html.Img(
                src=static_map_url(state),
                width=width,
                height=height,
                alt=f"Road network of {state.city.name} by road class",
                className="map-picture",
                id="city-map-picture",
            ),
        ],
        id="city-map-static",
        className="map-static",
    )


FIRST_PAINT_ATTRIBUTES = {"city-map-picture": {"elementtiming": "city-map-static"}}
"""HTML attributes of the first paint's copy of the page (:mod:`dashboards.prerender`): when
its picture was painted, for the benchmark (``PerformanceObserver``, type ``element``)."""


def warm_up(state: DashboardState) -> None:
    """Build the page's maps ahead of the first visit (the app's warm-up thread): about a
    second on a large city that would otherwise hold up the first page load, and the
    server's other requests with it. The picture first: it is what the page shows first."""
    static_map_image(state)
    lines_figure(state)
    city_figure(state, "class", DEFAULT_LAYERS)


def layout(state: DashboardState, *, interactive: bool = True) -> html.Div:
    """The City page.

    Parameters
    ----------
    state : DashboardState
        The app's state (the current session's city).
    interactive : bool
        With the Plotly map and charts (off: the index document's first paint, so no figure
        is built for it).

    Returns
    -------
    dash.html.Div
        The page.
    """
    # The static picture shows first; the streets paint next (SVG lines); markers (signals,
    # bins and sites, the hover layer) follow in a callback once the streets are drawn: they
    # need WebGL, whose context takes a while to create, and the bins a waste placement
    # (seconds on a large city, started when the app starts). Asked for any earlier, they
    # arrive while Plotly is still drawing the streets and the browser draws both before it
    # paints anything.
    graphs = []
    if interactive:
        graphs = [dcc.Loading(map_graph("city-map", lines_figure(state)), delay_show=300)]
    return html.Div(
        [
            dcc.Store(id="city-drawn"),
            html.H2(f"{state.city.name}", id="city-title"),
            _summary(state),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Colour streets by", className="field-label"),
                            dcc.RadioItems(
                                id="city-color",
                                options=[
                                    {"label": "road class", "value": "class"},
                                    {"label": "speed limit", "value": "speed"},
                                ],
                                value="class",
                            ),
                            html.Label("Layers", className="field-label"),
                            dcc.Checklist(
                                id="city-layers",
                                options=[
                                    {"label": "signalized junctions", "value": "signals"},
                                    {"label": "bins, depot, disposal site", "value": "sites"},
                                ],
                                value=list(DEFAULT_LAYERS),
                            ),
                            html.Hr(),
                            html.Label("Open another city", className="field-label"),
                            upload_button(
                                "Drop or choose an OSM extract (.osm, .osm.pbf, …)",
                                "osm-upload",
                                max_bytes=state.limits.osm_bytes,
                                too_large="cut the extract to the area you need (osmium "
                                "extract --bbox …), or have the dashboard started on it "
                                "(twin dashboard FILE).",
                            ),
                            html.Div(id="osm-upload-message", role="status"),
                            html.P(
                                f"Up to {state.limits.osm_bytes / 2**20:.0f} MiB; "
                                "the city is built and cached on first open.",
                                className="note",
                            ),
                        ],
                        className="panel",
                    ),
                    # the picture over the graph's place until Plotly has drawn the map
                    html.Div([static_map(state), *graphs], className="map-stack"),
                ],
                className="columns",
            ),
            html.Div(
                [
                    dcc.Graph(id="city-classes", figure=_class_chart(state)),
                    dcc.Graph(id="city-speeds", figure=_speed_chart(state)),
                ]
                if interactive
                else [],
                className="charts",
            ),
        ]
    )


def register(app: Dash, state: DashboardState) -> None:
    @app.callback(
        Output("city-map", "figure"),
        Input("city-color", "value"),
        Input("city-layers", "value"),
        Input("map-tiles", "value"),
        prevent_initial_call=True,
    )
    def redraw(color_by: str, layers: list[str], tiles: list[str] | None):
        figure = city_figure(state, color_by or "class", tuple(layers or ()))
        return with_tiles(figure, state.basemap, tiles)

    # dcc.Graph reports its first draw as relayoutData ({"autosize": true}, from the resize
    # that follows it); later pans and zooms change it too, hence the flag. In the browser:
    # no round trip per pan.
    app.clientside_callback(
        "(relayout, drawn) => drawn ? window.dash_clientside.no_update : true",
        Output("city-drawn", "data"),
        Input("city-map", "relayoutData"),
        State("city-drawn", "data"),
        prevent_initial_call=True,
    )

    # the interactive map is drawn: it takes the picture's place (in the browser, at once).
    # The performance mark tells the benchmark and the tests when that happened.
    app.clientside_callback(
        """(drawn) => {
            if (!drawn) return window.dash_clientside.no_update;
            performance.mark("city-map-interactive");
            return {display: "none"};
        }""",
        Output("city-map-static", "style"),
        Input("city-drawn", "data"),
        prevent_initial_call=True,
    )

    @app.server.get(IMAGE_ROUTE + "<name>")
    def picture(name: str) -> flask.Response:
        # the current session's city only (its cookie): a URL of another city is stale
        if name != static_map_url(state).removeprefix(IMAGE_ROUTE):
            flask.abort(404)
        response = flask.Response(static_map_image(state).png, mimetype="image/png")
        # the name changes with the city's content and the drawing, so the browser can keep it
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return response

    @app.callback(
        Output("city-map", "figure", allow_duplicate=True),
        Input("city-drawn", "data"),
        State("city-color", "value"),
        State("city-layers", "value"),
        State("map-tiles", "value"),
        prevent_initial_call=True,
    )
    def add_overlays(drawn: bool, color_by: str, layers: list[str], tiles: list[str] | None):
        if not drawn:
            return no_update
        # the whole map, not a patch appending the markers: the same result if a change of
        # colouring or layers has redrawn the map in the meantime (no markers twice)
        figure = city_figure(state, color_by or "class", tuple(layers or ()))
        return with_tiles(figure, state.basemap, tiles)

    @app.callback(
        Output("osm-upload-message", "children"),
        Output("reload", "href"),
        Input("osm-upload", "contents"),
        State("osm-upload", "filename"),
        prevent_initial_call=True,
    )
    def open_upload(contents: str | None, filename: str | None):
        if contents is None:
            return no_update, no_update
        try:
            raw = decode_upload(contents, filename, limit_bytes=state.limits.osm_bytes)
            check_osm_bytes(raw, filename or "")
            kept = state.store.save_upload(raw, str(filename))
        except UploadError as err:
            return html.Div(str(err), className="error"), no_update
        try:
            city = state.open_city(kept)
        except USER_ERRORS as err:
            state.store.discard_upload(kept)  # bytes that open as no city, for anyone
            return html.Div(f"{filename}: cannot open it as a city: {err}", className="error"), (
                no_update
            )
        # bins and the City map of the new city get ready while the page reloads
        state.warm_up(lambda: warm_up(state))
        message = html.Div(f"Opened {city.name}: {city.network.n_edges:,} edges.", className="ok")
        return message, "/"
