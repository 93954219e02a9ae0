"""Benchmark: the planner dashboard on a large city, in headless Chromium.

Targets (issue 7): first paint of the City page for the São Paulo extract (~7k edges) under 2 s;
the comparison view under 1 s once both runs exist.

* app start: ``create_app(city)`` (city from the cache, base map built), seconds;
* City page, server side: building its layout (the network figure) and the JSON size;
* City page, first paint: from the browser's navigation to ``/`` until the map shows the
  network (every road class drawn). *Cold*: a fresh browser (new profile: nothing cached, no
  compiled code) for each of ``--repeat`` loads, its first navigation; *warm*: ``--repeat``
  further loads in one browser after a first visit (scripts from its cache; the first of them
  still compiles them again, Chromium keeps compiled code from the second use on), median;
  then until the WebGL markers (signals, bins, the hover/click layer) are there too;
* City page, static map painted: the same loads, from the navigation until the browser painted
  the server's picture of the map (``dashboards.mapimage``, in the index document's first
  paint, shown until the interactive map replaces it): the picture's Element Timing
  ``renderTime``, put on the same clock as the measure above (the page's ``timeOrigin``
  against the wall time taken just before the navigation), cold and warm, median; also the
  picture's build on the server (PNG) and when the interactive map replaced it
  (the page's ``city-map-interactive`` performance mark);
* comparison, server side: ``comparison_view`` for two stored runs (KPI table, trips faster /
  slower, before-vs-after scatter, speeds);
* comparison, in the browser: both runs stored, from choosing scenario B (A chosen) until
  the KPI table is shown, median of ``--repeat`` (also from the click on B's option, which
  leaves out the WebDriver round trips that open the dropdown and find the option, about
  0.4 s here); and from a click on "Run and compare"
  (a background job that finds both runs stored) until the table is shown.

Usage::

    python benchmarks/bench_dashboard.py [--city PATH] [--trips 2000] [--repeat 3] [--city-only]

``--city-only``: the City page's measures only (no traffic runs, no comparison).

Needs Chromium and chromedriver (``apt-get install chromium chromium-driver``). The city cache
and the dashboard store go to a temporary folder unless ``TWIN_CACHE_DIR`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CITY = REPO_ROOT.parent / "shared" / "cities" / "sao-paulo-centre.osm.pbf"
sys.path.insert(0, str(REPO_ROOT))  # the tests' Chromium settings
from tests.dashboards.conftest import CHROMIUM_FLAGS as FLAGS  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.binary_location = os.environ.get("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
    return webdriver.Chrome(options=options)


def wait_for(driver, script: str, timeout: float = 60.0) -> float:
    """Poll a JS condition; the wall time at which it first held."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if driver.execute_script(script):
            return time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(script)


# When the static map's picture was painted and when the interactive map replaced it, on the
# page's clock (ms since its timeOrigin); Element Timing entries are buffered, so they arrive in
# the observer's first callback.
PAINTS = """
const done = arguments[arguments.length - 1];
const found = {};
new PerformanceObserver((list) => {
    for (const e of list.getEntries()) found[e.identifier] = e.renderTime || e.loadTime;
}).observe({type: 'element', buffered: true});
const replaced = performance.getEntriesByName('city-map-interactive').map(e => e.startTime);
setTimeout(() => done({origin: performance.timeOrigin, paints: found, replaced: replaced}), 200);
"""


def paint_times(driver, started_epoch: float) -> tuple[float | None, float | None]:
    """Seconds from ``started_epoch`` (wall clock, taken before the navigation) until the
    static map was painted and until the interactive map replaced it (``None``: not seen)."""
    found = driver.execute_async_script(PAINTS)
    origin = found["origin"] / 1000.0 - started_epoch
    static = found["paints"].get("city-map-static")
    replaced = found["replaced"][0] if found["replaced"] else None
    return (
        origin + static / 1000.0 if static else None,
        origin + replaced / 1000.0 if replaced is not None else None,
    )


def median(values: list[float | None]) -> float | None:
    seen = [v for v in values if v is not None]
    return statistics.median(seen) if seen else None


def rounded(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v, 3) for v in values]


def serve(app) -> str:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--city", default=str(DEFAULT_CITY))
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--city-only", action="store_true", help="the City page's measures only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    os.environ.setdefault("TWIN_CACHE_DIR", str(work / "cache"))

    from cities.city import load_city
    from dashboards.app import create_app
    from dashboards.basemap import network_figure
    from dashboards.logic import section_only, toggle_closure
    from dashboards.mapimage import render_map_image
    from dashboards.pages import city as city_page
    from dashboards.pages.city import IMAGE_BOX
    from dashboards.pages.scenarios import comparison_view
    from dashboards.runner import run_scenarios

    log(f"loading {args.city} (builds the cache on first use)…")
    load_city(args.city)
    started = time.perf_counter()
    draft = {"traffic": {"trips": args.trips, "duration": "30min", "window": "15min"}}
    app = create_app(args.city, store_dir=work / "store", draft=draft)
    state = app.twin_state
    _ = state.basemap
    app_start = time.perf_counter() - started
    n_edges = state.city.network.n_edges
    classes = len(set(state.basemap.highway))
    # what the app's warm-up thread does (bins placed, City maps and picture built), finished
    # before the browser measures, as a planner opening the page after start would find it
    state.sites()
    city_page.warm_up(state)

    started = time.perf_counter()
    figure = network_figure(state.basemap)
    figure_s = time.perf_counter() - started
    figure_kb = len(figure.to_json()) / 1024
    started = time.perf_counter()
    picture = render_map_image(state.basemap, box=IMAGE_BOX)
    picture_s = time.perf_counter() - started
    picture_kb = len(picture.png) / 1024

    url = serve(app)
    graph = "const g = document.querySelector('#city-map .js-plotly-plot');"
    painted = (
        f"{graph} return !!(g && g._fullData && g._fullData.length >= {classes}"
        f" && g.querySelectorAll('.scatterlayer .trace').length >= {classes});"
    )
    colds, static_colds, replaced_colds = [], [], []
    for _ in range(args.repeat):
        driver = browser()
        try:
            driver.get("about:blank")
            started, started_epoch = time.perf_counter(), time.time()
            driver.get(url + "/")
            colds.append(wait_for(driver, painted) - started)
            wait_for(driver, "return performance.getEntriesByName('city-map-interactive').length")
            static, replaced = paint_times(driver, started_epoch)
            static_colds.append(static)
            replaced_colds.append(replaced)
        finally:
            driver.quit()
    driver = browser()
    try:
        driver.get(url + "/")  # warm-up: the browser caches Dash's and Plotly's scripts
        wait_for(driver, "return !!document.querySelector('#city-map .js-plotly-plot')")
        paints, ready, statics = [], [], []
        interactive = (
            f"{graph} return !!(g && g._fullData && g.querySelector('canvas')"
            " && g._fullData.some(t => (t.name || '').startsWith('streets (hover')));"
        )
        for _ in range(args.repeat):
            driver.get("about:blank")
            started, started_epoch = time.perf_counter(), time.time()
            driver.get(url + "/")
            paints.append(wait_for(driver, painted) - started)
            ready.append(wait_for(driver, interactive) - started)
            statics.append(paint_times(driver, started_epoch)[0])
        first_paint = statistics.median(paints)
    finally:
        driver.quit()

    print(f"# Dashboard on {state.city.name} ({n_edges:,} edges)\n")
    print("| measure | seconds |\n|---|---|")
    print(f"| app start (city cached, base map built) | {app_start:.2f} |")
    print(f"| City map figure, server side ({figure_kb:,.0f} KB JSON) | {figure_s:.2f} |")
    print(f"| City map static picture, server side ({picture_kb:,.0f} KB PNG) | {picture_s:.2f} |")
    print(
        "| City page static map painted, fresh browser (cold), browser | "
        f"{median(static_colds):.2f} |"
    )
    print(f"| City page static map painted, warm, browser | {median(statics):.2f} |")
    print(
        "| City page static map replaced by the interactive map, cold, browser | "
        f"{median(replaced_colds):.2f} |"
    )
    print(
        "| City page first paint, fresh browser (cold), browser (target < 2 s) | "
        f"{statistics.median(colds):.2f} |"
    )
    print(f"| City page first paint, warm, browser (target < 2 s) | {first_paint:.2f} |")
    print(
        "| City page with signals, bins, hover layer (WebGL), browser | "
        f"{statistics.median(ready):.2f} |"
    )
    report = {
        "city": state.city.name,
        "edges": n_edges,
        "app_start_s": round(app_start, 3),
        "city_figure_build_s": round(figure_s, 3),
        "city_figure_kb": round(figure_kb, 1),
        "city_picture_build_s": round(picture_s, 3),
        "city_picture_kb": round(picture_kb, 1),
        "city_static_map_cold_s": round(median(static_colds), 3),
        "city_static_map_cold_runs_s": rounded(static_colds),
        "city_static_map_s": round(median(statics), 3),
        "city_static_map_runs_s": rounded(statics),
        "city_map_replaced_cold_s": round(median(replaced_colds), 3),
        "city_map_replaced_cold_runs_s": rounded(replaced_colds),
        "city_first_paint_cold_s": round(statistics.median(colds), 3),
        "city_first_paint_cold_runs_s": [round(p, 3) for p in colds],
        "city_first_paint_s": round(first_paint, 3),
        "city_first_paint_runs_s": [round(p, 3) for p in paints],
        "city_interactive_s": round(statistics.median(ready), 3),
        "targets": {"city_first_paint_s": 2.0, "compare_view_s": 1.0},
    }
    if args.city_only:
        print()
        print(json.dumps(report))
        return

    log("running the two traffic scenarios of the comparison…")
    base = state.draft()
    busiest_run = run_scenarios(state, [section_only({**base, "name": "base"}, "traffic")])[0]
    edges = state.store.table(busiest_run, "traffic/edges")
    closed = toggle_closure(base, [state.basemap.ref[int(edges["mean_flow_vph"].idxmax())]])
    for name, scenario in (("base", base), ("closure", closed)):
        state.store.save_scenario(section_only({**scenario, "name": name}, "traffic"))
    keys = run_scenarios(state, [state.store.load_named("base"), state.store.load_named("closure")])
    result = {"keys": keys, "names": ["base", "closure"]}
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        comparison_view(state, result)
        timings.append(time.perf_counter() - started)
    compare_server = statistics.median(timings)

    driver = browser()
    try:
        driver.get(url + "/")
        wait_for(driver, "return !!document.querySelector('#city-map .js-plotly-plot')")

        from selenium.webdriver.common.by import By

        driver.find_element(By.ID, "nav-scenarios").click()
        wait_for(driver, "return !!document.querySelector('#compare-run')")

        def choose(box: str, value: str) -> float:
            """Pick ``value`` in a dropdown; the wall time of the click on the option."""
            # Dash loads the dropdown's code on first use: wait for the element
            wait_for(driver, f"return !!document.querySelector('#{box}')")
            driver.find_element(By.CSS_SELECTOR, f"#{box}").click()
            option = ".dash-dropdown-options .dash-dropdown-option"
            wait_for(driver, f"return !!document.querySelector('{option}')")
            for element in driver.find_elements(By.CSS_SELECTOR, option):
                if element.text == value:
                    clicked = time.perf_counter()
                    element.click()
                    return clicked
            raise LookupError(value)

        retire = "const t = document.querySelector('#compare-table'); if (t) t.id = 'old';"
        table = "return !!document.querySelector('#compare-table')"
        compares, clicks, jobs = [], [], []
        for i in range(args.repeat):
            choose("compare-a", "base")
            driver.execute_script(retire)
            started = time.perf_counter()
            clicked = choose("compare-b", "closure" if i % 2 == 0 else "base")
            shown = wait_for(driver, table)
            compares.append(shown - started)
            # without the WebDriver round trips that open the dropdown and find the option
            clicks.append(shown - clicked)
            driver.execute_script(retire)
            started = time.perf_counter()
            driver.find_element(By.ID, "compare-run").click()
            jobs.append(wait_for(driver, table) - started)
        compare_browser = statistics.median(compares)
    finally:
        driver.quit()

    report |= {
        "compare_view_server_s": round(compare_server, 3),
        "compare_view_browser_s": round(compare_browser, 3),
        "compare_view_browser_runs_s": [round(c, 3) for c in compares],
        "compare_view_from_click_s": round(statistics.median(clicks), 3),
        "compare_view_from_click_runs_s": [round(c, 3) for c in clicks],
        "compare_job_browser_s": round(statistics.median(jobs), 3),
    }
    print(f"| comparison view, server side | {compare_server:.2f} |")
    print(f"| comparison view, choose B to table, browser (target < 1 s) | {compare_browser:.2f} |")
    print(
        "| comparison view, click on B's option to table, browser | "
        f"{statistics.median(clicks):.2f} |"
    )
    print(f"| comparison via Run and compare (background job) | {statistics.median(jobs):.2f} |")
    print()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
