"""The planner dashboard: a multi-page Dash app on one city, offline.

``create_app(city)`` loads the city through :mod:`twin.api` and returns a ``dash.Dash``;
``serve(city)`` runs it on 127.0.0.1 with debug off. Pages: City, Traffic, Waste, Plans,
Scenarios. Every callback is registered on the app instance (not Dash's global registry), so
several apps can live in one process (tests) and each page module stays small.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import diskcache
import flask
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards import worker
from dashboards.jobs import ThreadJobManager
from dashboards.pages import city as city_page
from dashboards.pages import plans, scenarios, traffic, waste
from dashboards.prerender import to_html
from dashboards.state import SESSION_COOKIE, DashboardState, UploadLimits
from dashboards.store import RunStore, default_store_dir
from twin import City, Twin, TwinError

__all__ = ["PAGES", "create_app", "serve"]

PAGES = (city_page, traffic, waste, plans, scenarios)
"""Page modules, in navigation order; each has PATH, TITLE, layout(state), register(app, state)."""
FORMS_FROM_DRAFT = (traffic, waste, plans)
"""Pages whose run forms start from the browser's draft (``layout(state, draft=...)``)."""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #f4f5f2; }
.topbar { display: flex; align-items: center; gap: 1.2em; padding: .5em 1em; background: #20313b;
          color: white; }
.topbar a { color: #d7e3ea; text-decoration: none; padding: .2em .4em; border-radius: 3px; }
.topbar a:hover, .topbar a.active { background: #3d5766; color: white; }
.brand { font-weight: 600; margin-right: 1em; }
.tiles-switch { margin-left: auto; font-size: .85em; color: #d7e3ea; }
/* Dash's option lists set their own dark text colour: on the dark bar it would be unreadable */
.tiles-switch label, .tiles-switch span { color: #e8f0f4 !important; }
.page { padding: .8em 1.2em; }
.columns { display: grid; grid-template-columns: 320px 1fr; gap: 1em; align-items: start; }
.panel { background: white; border: 1px solid #dedfd8; border-radius: 6px; padding: .8em; }
.field { display: block; margin: .35em 0; }
.field-label { display: block; font-size: .8em; color: #555; }
.field input, .field select { width: 100%; box-sizing: border-box; }
.field-message { color: #a30000; font-size: .8em; margin-top: .15em; white-space: pre-line; }
.field-message:empty { display: none; }
.field.invalid input { border-color: #a30000 !important; background: #fff5f5; }
input.bad-number-input { border-color: #a30000 !important; background: #fff5f5; }
.kpi-row { display: flex; flex-wrap: wrap; gap: .5em; margin: .5em 0; }
.kpi-card { background: white; border: 1px solid #dedfd8; border-radius: 6px; padding: .4em .7em;
            min-width: 120px; }
.kpi-label { font-size: .75em; color: #666; }
.kpi-value { font-size: 1.25em; font-weight: 600; }
.kpi-card.warn { border-color: #d99a00; background: #fff8e6; }
.kpi-card.warn .kpi-value { color: #8a5a00; }
.kpi-card.alarm { border-color: #a30000; background: #fdecec; }
.kpi-card.alarm .kpi-value { color: #a30000; }
.kpi-table td.best { font-weight: 700; box-shadow: inset 3px 0 0 #1b5e20; }
.kpi-table { border-collapse: collapse; font-size: .9em; background: white; }
.kpi-table th, .kpi-table td { border: 1px solid #dedfd8; padding: .25em .6em; text-align: right; }
.kpi-table td:first-child, .kpi-table th:first-child { text-align: left; }
/* the signal editor's table stays inside its 320 px panel, not over the map beside it: fixed
   columns, long approach names wrap, the green fields take their column's width */
#signal-phases { width: 100%; table-layout: fixed; }
#signal-phases th, #signal-phases td { padding: .2em .25em; }
#signal-phases td { overflow-wrap: break-word; }
#signal-phases th:nth-child(1) { width: 3.4em; }
#signal-phases th:nth-child(3) { width: 4.4em; }
#signal-phases th:nth-child(4) { width: 4.4em; }
#signal-phases input { width: 100%; box-sizing: border-box; }
.run-controls { margin: .6em 0; }
.button { padding: .35em .9em; margin-right: .4em; border: 1px solid #8aa; border-radius: 4px;
          background: white; cursor: pointer; }
.button.primary { background: #2b6f8f; color: white; border-color: #2b6f8f; }
.button:disabled { opacity: .45; cursor: default; }
.progress { width: 100%; height: .9em; margin-top: .5em; }
.progress-label { font-size: .8em; color: #555; }
.error { color: #a30000; font-size: .9em; white-space: pre-wrap; }
.note { font-size: .85em; color: #555; }
.note.warn { color: #8a5a00; }
.note.alarm { color: #a30000; font-weight: 600; }
/* room for the last mark's label: without it, it hangs past the page's edge */
.slider-box { padding: 0 1.8em 0 .4em; }
.ok { color: #1b5e20; font-size: .9em; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: .6em; }
.map-stack { position: relative; min-height: 560px; }
.map-static { position: absolute; top: 0; left: 0; right: 0; height: 560px; z-index: 1;
              display: flex; flex-direction: column; background: white; pointer-events: none; }
.map-legend { display: flex; flex-wrap: wrap; gap: .2em .9em; padding: 4px 6px; font-size: 11px; }
.map-legend-item { display: inline-flex; align-items: center; gap: .35em; }
.map-swatch { display: inline-block; width: 26px; border-radius: 2px; }
.map-picture { flex: 1; min-height: 0; width: 100%; object-fit: contain; }
/* the page as written into the document (first paint) until Dash draws it: then Dash's */
.first-paint ~ #react-entry-point ._dash-loading { display: none; }
body:has(#page) .first-paint { display: none; }
"""

_FIRST_PAINT = "<!-- first paint -->"
"""Where the index document gets the City page's HTML (:func:`_index_with_first_paint`)."""

_INDEX = (
    "<!DOCTYPE html><html><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}"
    f"<style>{_STYLE}</style></head><body>{_FIRST_PAINT}{{%app_entry%}}<footer>{{%config%}}"
    "{%scripts%}"
    "{%renderer%}</footer></body></html>"
)


def _shell(state: DashboardState, *, interactive: bool = True) -> html.Div:
    """Navigation, the page slot and the stores every page shares (kept in the browser's
    memory: they survive navigation between pages, a reload starts afresh).

    The slot starts with the City page, the usual first stop: it comes with the layout instead
    of one round trip and one more render later (see the router in :func:`create_app`).
    ``interactive=False``: without the City page's figures (the first paint's HTML)."""
    return html.Div(
        [
            dcc.Location(id="url"),
            dcc.Location(id="reload", refresh=True),
            html.Nav(
                [
                    html.Span(f"CitiVerse Twin · {state.city.name}", className="brand", id="brand"),
                    *[
                        dcc.Link(
                            page.TITLE, href=page.PATH, id=f"nav-{page.__name__.split('.')[-1]}"
                        )
                        for page in PAGES
                    ],
                    # off by default: the road network is the whole base map, nothing is
                    # fetched from the internet unless a planner asks for tiles
                    html.Span(
                        dcc.Checklist(
                            id="map-tiles",
                            options=[{"label": " map tiles (online)", "value": "tiles"}],
                            value=[],
                        ),
                        className="tiles-switch",
                        title="Draw OpenStreetMap's tiles under the streets (needs internet "
                        "access); off, the road network alone is the map, offline.",
                    ),
                ],
                className="topbar",
            ),
            dcc.Store(id="draft", data=state.draft()),
            # the saved scenario versions this browser knows (saved, loaded or decided on), by
            # name: Save and a decision replace another planner's version only knowingly
            dcc.Store(id="scenario-known", storage_type="session", data={}),
            dcc.Store(id="traffic-result"),
            dcc.Store(id="waste-result"),
            # the city's rounds uploaded on the Waste page (folder and name in the store), for
            # the Waste and Plans pages' baseline
            dcc.Store(id="waste-rounds"),
            dcc.Store(id="plans-result"),
            dcc.Store(id="signals-result"),
            dcc.Store(id="routes-result"),
            dcc.Store(id="compare-result"),
            dcc.Store(id="page-path", data=city_page.PATH),  # the page in the slot
            html.Div(city_page.layout(state, interactive=interactive), id="page", className="page"),
        ]
    )


def create_app(
    city: str | os.PathLike[str] | City | None = None,
    *,
    store_dir: str | os.PathLike[str] | None = None,
    draft: dict | None = None,
    limits: UploadLimits | None = None,
) -> Dash:
    """The dashboard on one city.

    Parameters
    ----------
    city
        A registered name, an OSM file path, a loaded :class:`~cities.city.City`, or ``None`` for
        the bundled default city.
    store_dir
        Where saved scenarios and finished runs live (default
        :func:`dashboards.store.default_store_dir`).
    draft
        Overrides of the starting scenario, e.g. ``{"traffic": {"trips": 300}}``.
    limits
        Upload size limits.
    """
    store = RunStore(Path(store_dir) if store_dir else default_store_dir())
    state = DashboardState(
        home=Twin.load(city),
        store=store,
        draft_overrides=draft or {},
        limits=limits or UploadLimits(),
    )
    manager = ThreadJobManager(diskcache.Cache(str(store.root / ".jobs")))
    app = Dash(
        __name__,
        title="CitiVerse Twin",
        suppress_callback_exceptions=True,  # pages mount their components later
        background_callback_manager=manager,
        serve_locally=True,  # offline: Dash's and Plotly's scripts come from this server
        update_title=None,
    )
    app.index_string = _INDEX
    app.interpolate_index = _index_with_first_paint(app, state)
    # refuse request bodies past the largest upload (base64 adds a third) before reading them
    largest = max(state.limits.osm_bytes, state.limits.scenario_bytes, state.limits.rounds_bytes)
    app.server.config["MAX_CONTENT_LENGTH"] = largest * 4 // 3 + 1024 * 1024
    app.layout = lambda: _shell(state)
    _sessions_by_cookie(app.server)
    app.twin_state = state  # for tests and the benchmark: the state behind this app

    routes = {page.PATH: page for page in PAGES}

    @app.callback(
        Output("page", "children"),
        Output("page-path", "data"),
        Input("url", "pathname"),
        State("page-path", "data"),
        State("draft", "data"),
    )
    def route(pathname: str | None, shown: str | None, draft: dict | None):
        pathname = pathname or "/"
        if pathname == shown:
            # the page is there already (the City page of the first layout): drawing it again
            # would cost a second render of its map
            return no_update, no_update
        page = routes.get(pathname)
        if page is not None and page is not city_page:
            # a page that runs simulations: the process that runs them starts (and imports the
            # twin, seconds) while the planner fills in the form, not when Run is pressed
            worker.warm_up()
        if page is None:
            return html.Div(
                [html.H3("No such page"), dcc.Link("Back to the city", href="/")], id="not-found"
            ), pathname
        if page in FORMS_FROM_DRAFT:
            # the forms start from this browser's draft, not the city's fresh one: a scenario
            # loaded or saved on the Scenarios page is what the Traffic page runs next
            return page.layout(state, draft=draft), pathname
        return page.layout(state), pathname

    for page in PAGES:
        page.register(app, state)
    state.warm_up(lambda: city_page.warm_up(state))
    return app


def _index_with_first_paint(app: Dash, state: DashboardState) -> Callable[..., str]:
    """Dash's index document with the City page already in it (before Dash's scripts).

    Dash draws a page only after its scripts have loaded and run; on a cold browser that is
    over a second, and the map's Plotly seconds more. So the document itself carries the
    City page's title, summary cards and static map (:func:`dashboards.pages.city.first_paint`,
    for this request's session), which the browser paints as soon as it has the document and
    the picture; CSS hides it once Dash has drawn the page (``#page``) in its place.
    Other paths get Dash's plain document: their page is not the City page.

    Parameters
    ----------
    app : dash.Dash
        The app.
    state : DashboardState
        Its state.

    Returns
    -------
    callable
        A replacement of ``app.interpolate_index``.
    """
    plain = app.interpolate_index

    def interpolate(**parts: str) -> str:
        document = plain(**parts)
        if flask.has_request_context() and flask.request.path == "/":
            page = html.Div(_shell(state, interactive=False).children, className="first-paint")
            first = to_html(page, attributes=city_page.FIRST_PAINT_ATTRIBUTES)
            return document.replace(_FIRST_PAINT, first, 1)
        return document.replace(_FIRST_PAINT, "", 1)

    return interpolate


def _sessions_by_cookie(server: flask.Flask) -> None:
    """Give every browser a session id (see :mod:`dashboards.state`): a random cookie on the
    first response, HTTP-only (page scripts never need it) and same-site (another site's page
    cannot act in this session)."""

    @server.before_request
    def new_session() -> None:
        if SESSION_COOKIE not in flask.request.cookies:
            # the first request (the page) already renders for this session
            flask.g.new_session = secrets.token_urlsafe(18)

    @server.after_request
    def set_cookie(response: flask.Response) -> flask.Response:
        session = flask.g.get("new_session")
        if session:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict")
        return response


def serve(
    city: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    debug: bool = False,
    store_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Run the dashboard (``twin dashboard``): localhost only and debug off unless asked; debug
    mode on this machine only (Dash's debugger runs code a request sends)."""
    from dashboards.__main__ import debug_problem

    if (problem := debug_problem(host, debug)) is not None:
        raise TwinError(problem)
    app = create_app(city, store_dir=store_dir)
    print(f"CitiVerse Twin dashboard on http://{host}:{port}/ ({app.twin_state.city.name})")
    app.run(host=host, port=port, debug=debug)
