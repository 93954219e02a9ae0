"""The dashboard in a real browser: pages render their maps and KPIs without console errors,
runs show progress and results, a closed street changes traffic KPIs, scenarios save and
compare. Screenshots land in test-artifacts/dashboard/."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from dash.testing.wait import until

from dashboards.app import create_app
from dashboards.logic import policies_to_compare
from dashboards.trust import policy_label
from tests.dashboards.conftest import SMALL_DRAFT

pytestmark = pytest.mark.browser


def _app(store_dir):
    return create_app("helsinki", store_dir=store_dir, draft=SMALL_DRAFT)


def _value(duo, component_id: str) -> str | None:
    return duo.find_element(f"#{component_id}").get_attribute("value")


def _no_errors(duo):
    logs = [entry for entry in duo.get_logs() if entry.get("level") == "SEVERE"]
    assert logs == [], logs


def _map_traces(duo, graph_id: str) -> int:
    return duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.length : 0;"
    )


def _trace_names(duo, graph_id: str) -> list[str]:
    return duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.map(t => t.name) : [];"
    )


def _legend_title(duo, graph_id: str) -> str | None:
    return duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g?._fullLayout?.legend?.title?.text ?? null;"
    )


def test_city_page_renders_the_network(browser_ready, dash_duo, store_dir, screenshot):
    dash_duo.start_server(_app(store_dir))
    dash_duo.wait_for_text_to_equal("#city-title", "helsinki", timeout=10)
    dash_duo.wait_for_element("#city-map .js-plotly-plot .scatterlayer, #city-map canvas")
    dash_duo.wait_for_element("#city-summary .kpi-card")
    # road classes, signals, bins, depot, disposal site and the hover layer; the markers
    # follow the streets' first draw, so wait for the last of them
    until(lambda: _map_traces(dash_duo, "city-map") >= 6, timeout=15)

    def names() -> list[str]:
        return dash_duo.driver.execute_script(
            "return document.querySelector('#city-map .js-plotly-plot')._fullData.map(t => t.name)"
        )

    until(lambda: "streets (hover, click)" in names(), timeout=15)
    drawn = names()
    assert "residential" in drawn and "depot" in drawn and "disposal site" in drawn
    # the markers are added once, not once more per redraw
    assert drawn.count("streets (hover, click)") == 1
    screenshot(dash_duo, "city")
    _no_errors(dash_duo)


# When elements were painted (Element Timing: the first paint's picture carries an
# ``elementtiming`` attribute), in milliseconds since the navigation; buffered entries arrive
# in the observer's first callback.
ELEMENT_PAINTS = """
const done = arguments[arguments.length - 1];
const found = {};
new PerformanceObserver((list) => {
    for (const e of list.getEntries()) found[e.identifier] = e.renderTime || e.loadTime;
}).observe({type: 'element', buffered: true});
setTimeout(() => done(found), 300);
"""

# A loaded picture's natural size and how many colours a sample of its pixels has.
PICTURE_PIXELS = """
const img = document.querySelector(arguments[0]);
if (!img || !img.complete || !img.naturalWidth) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
const colors = new Set();
for (let i = 0; i < data.length; i += 4 * 7) {
    colors.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
}
return [img.naturalWidth, img.naturalHeight, colors.size];
"""


def _display(duo, selector: str) -> str | None:
    return duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "return e ? getComputedStyle(e).display : null;",
        selector,
    )


def test_a_cold_city_page_shows_the_static_map_then_the_interactive_one(
    browser_ready, dash_duo, store_dir, screenshot
):
    from dashboards.mapimage import image_size
    from dashboards.pages.city import IMAGE_BOX

    app = _app(store_dir)
    basemap = app.twin_state.basemap
    classes = len(set(basemap.highway))
    # a fresh browser (its own new profile), its first navigation: nothing cached or compiled
    dash_duo.start_server(app)
    # the interactive map is drawn and has taken the picture's place, and Dash's page the
    # place of the document's first paint
    until(lambda: _display(dash_duo, "#city-map-static") == "none", timeout=30)
    assert _map_traces(dash_duo, "city-map") >= classes
    assert _display(dash_duo, ".first-paint") == "none"
    assert _display(dash_duo, "#city-map .js-plotly-plot") != "none"

    # the picture was painted, before the interactive map replaced it
    painted = dash_duo.driver.execute_async_script(ELEMENT_PAINTS)
    assert painted.get("city-map-static", 0) > 0, painted
    (replaced,) = dash_duo.driver.execute_script(
        "return performance.getEntriesByName('city-map-interactive').map(e => e.startTime)"
    )
    assert painted["city-map-static"] < replaced
    # with the city's summary cards in the same first paint
    cards = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.first-paint .kpi-card .kpi-value'))"
        ".map(e => e.textContent)"
    )
    assert cards[1] == f"{basemap.n_edges:,}"
    # both copies of the picture (the first paint's, Dash's) are the city's map: the size the
    # server draws it at, and a drawing (many colours, not one)
    width, height = image_size(basemap, IMAGE_BOX)
    for selector in (".first-paint img.map-picture", "#city-map-picture"):
        natural_width, natural_height, colors = dash_duo.driver.execute_script(
            PICTURE_PIXELS, selector
        )
        assert (natural_width, natural_height) == (width, height), selector
        assert colors > 8, (selector, colors)
    screenshot(dash_duo, "city-cold")
    _no_errors(dash_duo)


RECORD_PROGRESS = """
window.__progress = [];
setInterval(() => {
    const bar = document.querySelector('#traffic-progress');
    if (bar) window.__progress.push(Number(bar.value));
}, 50);
"""


def _kpi(duo, kpi_id: str) -> str:
    """A KPI card's value; read again when the cards are redrawn between finding and reading
    (a new run replaces them)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            return duo.find_element(f"#{kpi_id} .kpi-value").text
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"the {kpi_id} card kept being redrawn")


def _click_edge(duo, graph_id: str, lon: float, lat: float) -> None:
    """Click the map where an edge's midpoint is drawn (plotly's own axis conversion, in the
    viewport's pixels)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    x, y = duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "g.scrollIntoView({block: 'center'});"
        "const r = g.getBoundingClientRect();"
        "const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;"
        "return [r.left + xa._offset + xa.l2p(arguments[0]),"
        "        r.top + ya._offset + ya.l2p(arguments[1])];",
        float(lon),
        float(lat),
    )
    actions = ActionBuilder(duo.driver)
    actions.pointer_action.move_to_location(round(x), round(y)).pause(0.3).click()
    actions.perform()


def _type(duo, field_id: str, value) -> None:
    """Replace an input's text as a user would (select all, type over it)."""
    from selenium.webdriver.common.keys import Keys

    box = duo.find_element(f"#{field_id}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value))


def _run_a_traffic_day(duo, store_dir, *, trips: int):
    """Start the dashboard, and a day of ``trips`` on the Traffic page, recording progress."""
    app = _app(store_dir)
    duo.start_server(app)
    duo.find_element("#nav-traffic").click()
    duo.wait_for_element("#traffic-map .js-plotly-plot")
    _type(duo, "traffic-trips", trips)
    _type(duo, "traffic-minutes", 1440)
    duo.driver.execute_script(RECORD_PROGRESS)
    duo.find_element("#traffic-run").click()
    return app


def test_traffic_run_shows_progress_then_results_and_a_closure_changes_kpis(
    browser_ready, dash_duo, store_dir, screenshot
):
    # a whole day (a run of a few seconds), so that progress is reported on the way
    app = _run_a_traffic_day(dash_duo, store_dir, trips=8000)
    dash_duo.wait_for_element("#traffic-kpi-mean_travel_time_s", timeout=60)
    progress = dash_duo.driver.execute_script("return window.__progress")
    assert any(0 < value < 100 for value in progress), progress
    assert dash_duo.find_element("#traffic-cancel").get_attribute("disabled") is not None
    until(lambda: _map_traces(dash_duo, "traffic-map") >= 3, timeout=10)
    screenshot(dash_duo, "traffic")
    before = _kpi(dash_duo, "traffic-kpi-mean_travel_time_s")

    # close the busiest street of that run by clicking it on the map
    state = app.twin_state
    (run_dir,) = (store_dir / "runs").iterdir()
    busiest = int(state.store.table(run_dir.name, "traffic/edges")["mean_flow_vph"].idxmax())
    basemap = state.basemap
    _click_edge(dash_duo, "traffic-map", basemap.mid_lon[busiest], basemap.mid_lat[busiest])
    dash_duo.wait_for_contains_text("#traffic-closed", basemap.ref[busiest], timeout=10)
    dash_duo.find_element("#traffic-run").click()
    until(lambda: _kpi(dash_duo, "traffic-kpi-mean_travel_time_s") != before, timeout=60)
    assert len(list((store_dir / "runs").iterdir())) == 2
    screenshot(dash_duo, "traffic-closed-street")
    _no_errors(dash_duo)


def test_cancel_stops_a_traffic_run_and_the_page_can_run_again(browser_ready, dash_duo, store_dir):
    from tests.dashboards.test_jobs import _run_processes

    psutil = pytest.importorskip("psutil")
    server = psutil.Process()  # the test's server runs in this process
    before = server.memory_info().rss
    # a day of heavy demand: half a minute of simulation, longer than the test waits
    app = _run_a_traffic_day(dash_duo, store_dir, trips=250_000)

    def progressing() -> bool:
        values = dash_duo.driver.execute_script("return window.__progress")
        return any(0 < value < 100 for value in values)

    until(progressing, timeout=60)
    runs = _run_processes(psutil)
    assert runs  # the simulation works in a process of its own
    dash_duo.find_element("#traffic-cancel").click()
    clicked = time.monotonic()
    # the page says so once the work has stopped, within a second or two, and the bar is empty
    # (not frozen where the run was)
    dash_duo.wait_for_text_to_equal("#traffic-progress-label", "cancelled", timeout=5)
    assert time.monotonic() - clicked < 2.5
    assert dash_duo.find_element("#traffic-progress").get_attribute("value") == "0"
    assert dash_duo.find_element("#traffic-run").get_attribute("disabled") is None
    assert dash_duo.find_element("#traffic-cancel").get_attribute("disabled") is not None
    # the run's process is gone, its memory with it; the dashboard's own did not take it on
    assert app._background_manager.running_jobs() == 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in runs)
    assert server.memory_info().rss - before < 300 * 2**20
    # nothing is written and no result shows
    assert not list((store_dir / "runs").glob("*"))
    assert not dash_duo.driver.find_elements("css selector", "#traffic-kpi-mean_travel_time_s")
    _no_errors(dash_duo)


def _clear(duo, field_id: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = duo.find_element(f"#{field_id}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)


def _says(duo, field_id: str, message: str) -> None:
    """The field's message line says ``message``, the field is marked and its Run waits."""
    duo.wait_for_text_to_equal(f"#{field_id}-message", message, timeout=5)
    assert "invalid" in duo.find_element(f"#{field_id}-field").get_attribute("class")


def _disabled(duo, button_id: str) -> bool:
    return duo.find_element(f"#{button_id}").get_attribute("disabled") is not None


def test_a_bad_field_blocks_run_and_says_why_and_gridlock_shows_on_a_card(
    browser_ready, dash_duo, store_dir, screenshot
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-traffic").click()
    dash_duo.wait_for_element("#traffic-map .js-plotly-plot")
    # each bad value says why beside its field, in the twin's words, and Run waits
    for typed, message in (
        (-5, "traffic.trips: must be ≥ 0 (got -5)"),
        (2.5, "traffic.trips: must be a whole number (got 2.5)"),
    ):
        _type(dash_duo, "traffic-trips", typed)
        _says(dash_duo, "traffic-trips", message)
        until(lambda: _disabled(dash_duo, "traffic-run"), timeout=5)
    _clear(dash_duo, "traffic-trips")
    _says(dash_duo, "traffic-trips", "traffic.trips: give a whole number from 0 to 10,000,000")
    screenshot(dash_duo, "traffic-bad-field")
    # pressed anyway (before the check came back, say): the server refuses, nothing runs
    dash_duo.driver.execute_script(
        "window.dash_clientside.set_props('traffic-run', {n_clicks: 1});"
    )
    dash_duo.wait_for_contains_text("#traffic-error", "traffic.trips: give a whole number", 10)
    assert not list((store_dir / "runs").glob("*"))
    _type(dash_duo, "traffic-minutes", 0)
    _says(dash_duo, "traffic-minutes", "traffic.duration: the duration must be more than 0 and "
          "at most 48 h (got '0min')")  # fmt: skip
    # good values again: the messages go, Run is back
    _type(dash_duo, "traffic-trips", 8000)
    _type(dash_duo, "traffic-minutes", 10)
    dash_duo.wait_for_text_to_equal("#traffic-trips-message", "", timeout=5)
    until(lambda: not _disabled(dash_duo, "traffic-run"), timeout=5)
    # eight thousand trips in ten minutes jam the centre: most never arrive, and the cards say
    # so (travel times of the few that did would look harmless)
    dash_duo.find_element("#traffic-run").click()
    dash_duo.wait_for_element("#traffic-kpi-trips_unfinished.alarm", timeout=60)
    card = dash_duo.find_element("#traffic-kpi-trips_unfinished").text
    assert card.startswith("Gridlock: trips unfinished"), card
    assert "gridlock" in dash_duo.find_element("#traffic-warning").text
    screenshot(dash_duo, "traffic-gridlock")

    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-days")
    _type(dash_duo, "waste-days", 0)
    _says(dash_duo, "waste-days", "waste.days: must be ≥ 1 (got 0)")
    _type(dash_duo, "waste-trucks", 0)
    _says(dash_duo, "waste-trucks", "waste.trucks: must be ≥ 1 (got 0)")
    until(lambda: _disabled(dash_duo, "waste-run"), timeout=5)

    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-name")  # the page is drawn, then filled from the draft
    until(lambda: _value(dash_duo, "scenario-name") == "helsinki-plan", 10)
    _type(dash_duo, "scenario-trips", -5)
    _says(dash_duo, "scenario-trips", "traffic.trips: must be ≥ 0 (got -5)")
    until(lambda: _disabled(dash_duo, "scenario-save"), timeout=5)
    _no_errors(dash_duo)


def test_waste_and_plans_pages_run_policies_and_show_routes_and_kpis(
    browser_ready, dash_duo, store_dir, screenshot
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    dash_duo.find_element("#waste-run").click()
    dash_duo.wait_for_element("#waste-kpi-truck_km", timeout=60)
    # streets, one line per truck of the day shown, bins by fill
    until(lambda: _map_traces(dash_duo, "waste-map") >= 3, timeout=10)
    dash_duo.wait_for_element("#waste-daily .js-plotly-plot .barlayer")
    screenshot(dash_duo, "waste")

    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_element("#plans-map .js-plotly-plot")
    dash_duo.find_element("#plans-run").click()
    dash_duo.wait_for_element("#plans-kpis", timeout=60)
    header = dash_duo.find_element("#plans-kpis thead").text
    # the learned planner's column too, where it can run here; the city's own rounds only
    # once they are uploaded
    assert "current" not in header
    for policy in policies_to_compare(False):
        assert policy in header or policy in dash_duo.find_element("#plans-error").text
    # a model's routes say so, in the table and on the map, and its card is a click away
    if "learned" in header:
        assert "learned — proposed by a model" in header
        dash_duo.find_element("#plans-shown input[value='pyvrp']").click()
        dash_duo.find_element("#plans-shown input[value='learned']").click()
        until(lambda: _legend_title(dash_duo, "plans-map") == "learned — proposed by a model", 10)
    assert dash_duo.find_element("#plans-card summary").text.startswith("Model card")
    dash_duo.find_element("#plans-card summary").click()
    until(lambda: "Reading" not in dash_duo.find_element("#plans-model-card").text, timeout=10)
    # differences against the baseline are coloured
    cells = dash_duo.driver.find_elements("css selector", "#plans-kpis td[style*='background']")
    assert cells
    until(lambda: _map_traces(dash_duo, "plans-map") >= 2, timeout=10)
    screenshot(dash_duo, "plans", scroll_to="#plans-map")
    _no_errors(dash_duo)


def _bar_traces(duo, graph_id: str) -> list[dict]:
    """Name and y values of a chart's bar traces, as Plotly drew them."""
    return duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.filter(t => t.type === 'bar')"
        ".map(t => ({name: t.name, y: Array.from(t.y)})) : [];"
    )


def _choose(duo, dropdown_id: str, label: str) -> None:
    """Pick a dropdown's option by its label, as a planner does (again, if the menu had not
    opened yet)."""

    def chosen() -> bool:
        duo.select_dcc_dropdown(f"#{dropdown_id}", value=label)
        return duo.find_element(f"#{dropdown_id}").text.strip() == label

    until(chosen, timeout=10)


def test_waste_page_compares_the_policies_against_the_baseline_the_planner_picks(
    browser_ready, dash_duo, store_dir, screenshot
):
    app = _app(store_dir)
    dash_duo.start_server(app)
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    # without the city's rounds, current waits for an upload and hand-drawn is the baseline
    current = dash_duo.find_element("#waste-baseline input[value='current']")
    assert current.get_attribute("disabled") is not None
    dash_duo.find_element("#waste-baseline input[value='schedule']").click()
    dash_duo.find_element("#waste-baseline input[value='hand-drawn']").click()
    # the draft's greedy planner minimises km only: the objective waits for PyVRP
    euros = dash_duo.find_element("#waste-objective input[value='euros']")
    assert euros.get_attribute("disabled") is not None
    assert "minimises km only" in dash_duo.find_element("#waste-objective-note").text
    # the polish of a model's plans waits for the learned planner
    polish = dash_duo.find_element("#waste-polish")
    assert polish.get_attribute("disabled") is not None
    _choose(dash_duo, "waste-policy", policy_label("learned"))
    until(lambda: polish.get_attribute("disabled") is None, timeout=5)
    _choose(dash_duo, "waste-policy", "pyvrp")
    until(lambda: polish.get_attribute("disabled") is not None, timeout=5)
    try:
        until(lambda: euros.get_attribute("disabled") is None, timeout=5)
    except Exception:
        policy = dash_duo.find_element("#waste-policy").text
        note = dash_duo.find_element("#waste-objective-note").text
        raise AssertionError(f"objective disabled: policy {policy!r}, note {note!r}") from None
    euros.click()
    _type(dash_duo, "waste-days", 2)
    # what this city pays a truck-hour: every policy is costed (and the euros plans made) at it
    _type(dash_duo, "waste-hour-eur", 60)
    dash_duo.find_element("#waste-run").click()
    dash_duo.wait_for_text_to_equal(
        "#waste-compare-title", "Policies against the baseline: hand-drawn", timeout=45
    )
    store = app.twin_state.store
    costs = [store.run_scenario(run.name).waste.costs for run in (store_dir / "runs").iterdir()]
    assert len(costs) >= 4 and all(c.truck_hour_eur == 60 for c in costs)
    assert all(c.truck_km_eur == 1.2 for c in costs)  # the box left at the default
    dash_duo.wait_for_element("#waste-kpi-truck_km")
    # one picture: a bar group per policy over km, hours, euros and CO2, against the baseline
    until(lambda: len(_bar_traces(dash_duo, "waste-tradeoff")) >= 4, timeout=10)
    bars = _bar_traces(dash_duo, "waste-tradeoff")
    names = [bar["name"].split(" (service level")[0] for bar in bars]
    assert "hand-drawn" not in names and {"pyvrp", "schedule", "greedy"} <= set(names)
    assert all(len(bar["y"]) == 4 for bar in bars)
    title = dash_duo.driver.execute_script(
        "return document.querySelector('#waste-tradeoff .js-plotly-plot')._fullLayout.title.text"
    )
    assert "hand-drawn" in title
    assert "hand-drawn (baseline)" in dash_duo.find_element("#waste-compare-table").text
    assert "%" in dash_duo.find_element("#waste-compare-table-pyvrp").text
    screenshot(dash_duo, "waste-baseline", scroll_to="#waste-tradeoff")
    _no_errors(dash_duo)


def test_the_waste_page_drives_the_drafts_streets_among_the_traffic_it_is_given(
    browser_ready, dash_duo, store_dir, screenshot
):
    """A street the draft closes is closed to the trucks too, and with trips over the shift
    they drive among them: the page says both above its cards, and a bad number of trips is
    named beside its box."""
    closed = "25291550-25291565"
    draft = {**SMALL_DRAFT, "traffic": {**SMALL_DRAFT["traffic"], "close": [closed]}}
    app = create_app("helsinki", store_dir=store_dir, draft=draft)
    dash_duo.start_server(app)
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    _type(dash_duo, "waste-shift-trips", -5)
    _says(dash_duo, "waste-shift-trips", "traffic.trips: must be ≥ 0 (got -5)")
    until(lambda: _disabled(dash_duo, "waste-run"), timeout=5)
    _type(dash_duo, "waste-shift-trips", 1500)
    dash_duo.wait_for_text_to_equal("#waste-shift-trips-message", "", timeout=5)
    until(lambda: not _disabled(dash_duo, "waste-run"), timeout=5)
    dash_duo.find_element("#waste-compare-all input").click()  # the policy and the baseline
    dash_duo.find_element("#waste-run").click()
    said = "On the draft's streets, with its 1 closure. Driven among 1,500 trips"
    dash_duo.wait_for_contains_text("#waste-traffic-note", said, timeout=60)
    note = dash_duo.find_element("#waste-traffic-note").text
    assert "hours driven" in note and "Planned on free-flow times instead" in note
    store = app.twin_state.store
    runs = [store.run_scenario(run.name) for run in (store_dir / "runs").iterdir()]
    assert len(runs) == 3  # the policy, the baseline, the policy planned on free-flow times
    assert all(run.traffic.close == [closed] and run.traffic.trips == 1500 for run in runs)
    assert all(run.waste.traffic_coupling and not run.traffic.simulate for run in runs)
    screenshot(dash_duo, "waste-in-traffic", scroll_to="#waste-kpis")
    _no_errors(dash_duo)


def test_the_waste_pages_baseline_choice_outlives_a_visit_to_another_page(
    browser_ready, dash_duo, store_dir
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    assert dash_duo.find_element("#waste-baseline input[value='hand-drawn']").is_selected()
    dash_duo.find_element("#waste-baseline input[value='schedule']").click()
    dash_duo.find_element("#waste-compare-all input").click()  # off
    dash_duo.find_element("#nav-city").click()
    dash_duo.wait_for_element("#city-map")
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    until(
        lambda: dash_duo.find_element("#waste-baseline input[value='schedule']").is_selected(),
        timeout=5,
    )
    assert not dash_duo.find_element("#waste-baseline input[value='hand-drawn']").is_selected()
    assert not dash_duo.find_element("#waste-compare-all input").is_selected()
    _no_errors(dash_duo)


def test_the_run_pages_forms_keep_what_was_typed_across_a_visit_to_another_page(
    browser_ready, dash_duo, store_dir
):
    """The form beside a run's results must still say what was run: what the planner typed on
    the Traffic and Waste pages is there when they come back."""
    dash_duo.start_server(_app(store_dir))
    typed = {
        "traffic": {"traffic-trips": 300, "traffic-minutes": 15, "traffic-scale": 1.5},
        "waste": {"waste-days": 3, "waste-trucks": 2, "waste-shift-trips": 400},
    }
    for page, fields in typed.items():
        dash_duo.find_element(f"#nav-{page}").click()
        dash_duo.wait_for_element(f"#{page}-map .js-plotly-plot")
        for field_id, value in fields.items():
            _type(dash_duo, field_id, value)
        if page == "traffic":
            dash_duo.find_element("#traffic-close-mode input[value='way']").click()
    dash_duo.find_element("#nav-city").click()
    dash_duo.wait_for_element("#city-map")
    for page, fields in typed.items():
        dash_duo.find_element(f"#nav-{page}").click()
        dash_duo.wait_for_element(f"#{page}-map .js-plotly-plot")
        for field_id, value in fields.items():
            box = dash_duo.find_element(f"#{field_id}")
            until(lambda box=box, value=value: box.get_attribute("value") == str(value), timeout=5)
        if page == "traffic":
            assert dash_duo.find_element("#traffic-close-mode input[value='way']").is_selected()
    # what ran is the scenario the Scenarios page saves, not the draft of before
    dash_duo.find_element("#nav-traffic").click()
    dash_duo.wait_for_element("#traffic-map .js-plotly-plot")
    dash_duo.find_element("#traffic-run").click()
    dash_duo.wait_for_element("#traffic-kpi-mean_travel_time_s", timeout=60)
    dash_duo.find_element("#nav-scenarios").click()
    for field_id, value in (("scenario-trips", "300"), ("scenario-minutes", "15")):
        box = dash_duo.wait_for_element(f"#{field_id}")
        until(lambda box=box, value=value: box.get_attribute("value") == value, timeout=5)
    # and a scenario saved there is what the run pages show next; what was typed over a value
    # the scenario left alone stays
    _type(dash_duo, "scenario-trips", 450)
    _type(dash_duo, "scenario-days", 4)
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Saved", timeout=10)
    shown = {
        "traffic": {"traffic-trips": "450", "traffic-minutes": "15", "traffic-scale": "1.5"},
        "waste": {"waste-days": "4", "waste-shift-trips": "400"},
    }
    for page, fields in shown.items():
        dash_duo.find_element(f"#nav-{page}").click()
        dash_duo.wait_for_element(f"#{page}-map .js-plotly-plot")
        for field_id, value in fields.items():
            box = dash_duo.find_element(f"#{field_id}")
            until(lambda box=box, value=value: box.get_attribute("value") == value, timeout=5)
    _no_errors(dash_duo)


def test_a_bad_rounds_file_is_refused_with_the_twins_message_and_a_good_one_is_the_baseline(
    browser_ready, dash_duo, store_dir, tmp_path
):
    from twin.api import run_waste

    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-map .js-plotly-plot")
    bad = tmp_path / "our-rounds.csv"
    bad.write_text("weekday,truck,stop,bin\nMon,1,1,3\nFunday,1,2,5\n")
    dash_duo.find_element("#waste-rounds-upload input[type=file]").send_keys(str(bad))
    # the reader's own words, naming the file as the planner knows it and the row
    dash_duo.wait_for_contains_text(
        "#waste-rounds-message .error",
        "our-rounds.csv: line 3: unknown weekday 'Funday': give Mon…Sun",
        timeout=30,
    )
    assert str(store_dir) not in dash_duo.find_element("#waste-rounds-message").text
    # a refused file is not kept in the store (once every refused upload stayed there)
    assert not list((store_dir / "uploads").rglob("our-rounds.csv"))
    # nothing changed: the city's own rounds are still not a baseline
    current = dash_duo.find_element("#waste-baseline input[value='current']")
    assert current.get_attribute("disabled") is not None

    # a week of rounds the twin wrote (drawn by hand, same fleet and seed) is a city's own
    draft = SMALL_DRAFT["waste"]
    week = run_waste("helsinki", days=7, policy="hand-drawn", trucks=draft["trucks"], seed=1)
    week.write(tmp_path / "week")
    good = tmp_path / "week" / "rounds.csv"
    dash_duo.find_element("#waste-rounds-upload input[type=file]").send_keys(str(good))
    dash_duo.wait_for_contains_text(
        "#waste-rounds-message .ok", "Rounds from rounds.csv: read and matched", timeout=30
    )

    # now the baseline
    def current_chosen() -> bool:
        # found again each time: new options redraw the buttons
        current = dash_duo.find_element("#waste-baseline input[value='current']")
        return current.get_attribute("disabled") is None and current.is_selected()

    until(current_chosen, timeout=5)
    assert "current" in dash_duo.find_element("#waste-baseline").text
    _no_errors(dash_duo)


def test_scenarios_save_compare_export_and_refuse_a_bad_upload(
    browser_ready, dash_duo, store_dir, screenshot, tmp_path
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-name")  # the page is drawn, then filled from the draft
    until(lambda: _value(dash_duo, "scenario-name") == "helsinki-plan", 10)
    _type(dash_duo, "scenario-name", "base")
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Saved base", timeout=10)
    _type(dash_duo, "scenario-name", "growth")
    _type(dash_duo, "scenario-scale", "1.6")
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Saved growth", timeout=10)
    saved = sorted(p.name for p in (store_dir / "scenarios").iterdir())
    assert saved == ["base.yaml", "growth.yaml"]

    dash_duo.select_dcc_dropdown("#compare-a", value="base")
    dash_duo.select_dcc_dropdown("#compare-b", value="growth")
    dash_duo.wait_for_text_to_equal("#compare-error", "Not run yet: click Run and compare.", 10)
    dash_duo.find_element("#compare-run").click()
    dash_duo.wait_for_element("#compare-table", timeout=90)
    assert dash_duo.find_element("#compare-error").text == ""
    # more demand: trips take longer, and the table says it is worse
    row = dash_duo.find_element("#compare-table-mean_travel_time_s")
    assert row.find_elements("css selector", ".verdict-worse"), row.text
    assert "faster" in dash_duo.find_element("#compare-trips").text
    screenshot(dash_duo, "scenarios-compare", scroll_to="#compare-table")

    dash_duo.find_element("#export-kpis").click()
    download = Path(dash_duo.download_path) / "base-vs-growth.csv"
    until(download.is_file, timeout=10)
    assert "mean_travel_time_s" in download.read_text()

    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\ncity: helsinki\ntraffic:\n  trips: -5\n")
    dash_duo.find_element("#scenario-upload input[type=file]").send_keys(str(bad))
    dash_duo.wait_for_contains_text("#scenario-message", "broken.yaml:4", timeout=10)
    assert "trips" in dash_duo.find_element("#scenario-message").text

    # a file whose traffic only sets the trucks' streets and traffic says so above its fields
    assert dash_duo.find_element("#scenario-traffic-note").text == ""
    works = tmp_path / "works.yaml"
    works.write_text(
        "name: works\ncity: helsinki\ntraffic:\n  simulate: false\n  trips: 1500\n"
        "waste:\n  days: 2\n  traffic_coupling: true\n"
    )
    dash_duo.find_element("#scenario-upload input[type=file]").send_keys(str(works))
    dash_duo.wait_for_contains_text("#scenario-traffic-note", "simulate: false", timeout=10)
    assert "1,500 trips" in dash_duo.find_element("#scenario-traffic-note").text
    _no_errors(dash_duo)


def test_save_asks_before_replacing_another_sessions_scenario_of_the_same_name(
    browser_ready, dash_duo, store_dir
):
    app = _app(store_dir)
    dash_duo.start_server(app)
    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-name")
    until(lambda: _value(dash_duo, "scenario-name") == "helsinki-plan", 10)
    _type(dash_duo, "scenario-name", "shared")
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Saved shared", timeout=10)
    # this session's own version is saved over without a question, edited or not
    _type(dash_duo, "scenario-scale", "1.2")
    dash_duo.find_element("#scenario-save").click()
    until(lambda: "demand_scale: 1.2" in (store_dir / "scenarios" / "shared.yaml").read_text(), 10)
    # another session (same store) saves its own "shared"
    store = app.twin_state.store
    theirs = store.load_named("shared").model_copy(update={"seed": 99})
    store.save_scenario(theirs)
    before = (store_dir / "scenarios" / "shared.yaml").read_text()
    _type(dash_duo, "scenario-scale", "1.3")
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Another version of shared", timeout=10)
    assert (store_dir / "scenarios" / "shared.yaml").read_text() == before
    dash_duo.find_element("#scenario-save").click()  # knowing it: replaced
    dash_duo.wait_for_contains_text("#scenario-message", "Saved shared", timeout=10)
    after = (store_dir / "scenarios" / "shared.yaml").read_text()
    assert "demand_scale: 1.3" in after and "seed: 99" not in after
    _no_errors(dash_duo)


def test_text_in_a_number_box_is_named_and_holds_back_save(browser_ready, dash_duo, store_dir):
    """The browser gives no value for "1e" in a number box, so Dash reads it as blank: for the
    fleet (blank: sized to the city) that saved a scenario the planner did not ask for."""
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-name")
    until(lambda: _value(dash_duo, "scenario-name") == "helsinki-plan", 10)
    _type(dash_duo, "scenario-name", "typed")
    _type(dash_duo, "scenario-trucks", "1e")
    dash_duo.wait_for_contains_text("#scenario-trucks-field", "Not a number", timeout=5)
    dash_duo.find_element("#scenario-save").click()
    assert dash_duo.driver.switch_to.active_element.get_attribute("id") == "scenario-trucks"
    time.sleep(2)  # a save that went through is written well within this
    assert not (store_dir / "scenarios" / "typed.yaml").exists()
    assert "Saved" not in dash_duo.find_element("#scenario-message").text
    # a button that reads no box of the editor is not held back by it
    dash_duo.find_element("#compare-run").click()
    dash_duo.wait_for_contains_text("#compare-error", "Choose two saved scenarios", timeout=10)
    _type(dash_duo, "scenario-trucks", "2")
    until(lambda: "Not a number" not in dash_duo.find_element("#scenario-trucks-field").text, 5)
    dash_duo.find_element("#scenario-save").click()
    dash_duo.wait_for_contains_text("#scenario-message", "Saved typed", timeout=10)
    assert "trucks: 2" in (store_dir / "scenarios" / "typed.yaml").read_text()
    _no_errors(dash_duo)


def test_the_signal_editor_shows_valid_greens_inside_its_panel(
    browser_ready, dash_duo, store_dir, screenshot
):
    """Junction 25292451's default greens (13.6667 s, 68.3333 s) at 0.1 s, valid in their number
    fields, and the editor's table within the editor's panel, not over the map."""
    node = 25292451
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-map .js-plotly-plot")
    until(lambda: "signalized junction" in _trace_names(dash_duo, "scenario-map"), timeout=15)
    # a click on the junction's marker, as plotly reports it to dcc.Graph
    dash_duo.driver.execute_script(
        "const g = document.querySelector('#scenario-map .js-plotly-plot');"
        "const curve = g.data.findIndex(t => t.name === 'signalized junction');"
        "const point = Array.from(g.data[curve].customdata).indexOf(arguments[0]);"
        "g.emit('plotly_click', {points: [{curveNumber: curve, pointNumber: point}]});",
        node,
    )
    dash_duo.wait_for_contains_text("#signal-editor", f"Signal at node {node}", timeout=10)
    fields = dash_duo.find_elements("#signal-phases input")
    assert [f.get_attribute("value") for f in fields] == ["13.7", "68.3"]
    assert all(
        dash_duo.driver.execute_script("return arguments[0].validity.valid;", f) for f in fields
    )
    assert "Cycle 90 s" in dash_duo.find_element("#signal-cycle").text
    table, panel = (
        dash_duo.driver.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return [r.left, r.right];",
            selector,
        )
        for selector in ("#signal-phases", "#signal-editor")
    )
    assert panel[0] <= table[0] and table[1] <= panel[1], (table, panel)
    screenshot(dash_duo, "scenarios-signal-editor", scroll_to="#signal-editor")
    _no_errors(dash_duo)


def _kotka_file(tmp_path: Path) -> Path:
    """pyrosm's Kotka extract (shipped in its wheel, offline), under the name a planner's
    download would have."""
    import pyrosm

    path = tmp_path / "kotka.osm.pbf"
    path.write_bytes(Path(pyrosm.get_data("test_pbf")).read_bytes())
    return path


def test_uploading_an_osm_file_opens_that_city_for_this_session_only(
    browser_ready, dash_duo, store_dir, screenshot, tmp_path
):
    from cities.city import load_city

    app = _app(store_dir)
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal("#city-title", "helsinki", timeout=10)
    kotka = _kotka_file(tmp_path)
    dash_duo.find_element("#osm-upload input[type=file]").send_keys(str(kotka))
    # the page reloads on the new city: its name, its KPIs and its streets on the map
    dash_duo.wait_for_text_to_equal("#city-title", "kotka", timeout=60)
    expected = load_city(kotka).network.summary()
    edges = dash_duo.find_element("#city-summary .kpi-card:nth-child(2) .kpi-value").text
    assert edges == f"{expected['edges']:,}"
    assert dash_duo.find_element("#brand").text.endswith("kotka")
    until(lambda: "streets (hover, click)" in _trace_names(dash_duo, "city-map"), timeout=30)
    names = _trace_names(dash_duo, "city-map")
    assert "residential" in names and "depot" in names
    # the drawn streets are Kotka's: their longitudes lie in its bounding box, not Helsinki's
    west, _, east, _ = load_city(kotka).network.bbox_lonlat
    lon = dash_duo.driver.execute_script(
        "const g = document.querySelector('#city-map .js-plotly-plot');"
        "return Array.from(g._fullData.find(t => t.name === 'residential').x)"
        ".filter(v => v !== null && !isNaN(v)).slice(0, 50);"
    )
    assert lon and all(west - 1e-3 <= v <= east + 1e-3 for v in lon)
    screenshot(dash_duo, "city-uploaded")
    _no_errors(dash_duo)

    # another browser session (no cookie: what a second planner's browser sends) sees the home
    # city, and this session's city is untouched by it
    cookie = dash_duo.driver.get_cookie("twin_session")
    dash_duo.driver.delete_all_cookies()
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.wait_for_text_to_equal("#city-title", "helsinki", timeout=20)
    dash_duo.driver.add_cookie(cookie)
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.wait_for_text_to_equal("#city-title", "kotka", timeout=20)

    # a run started in this session (in a background thread) is of Kotka, keyed by Kotka
    dash_duo.find_element("#nav-traffic").click()
    dash_duo.wait_for_element("#traffic-map .js-plotly-plot")
    dash_duo.find_element("#traffic-run").click()
    dash_duo.wait_for_element("#traffic-kpi-mean_travel_time_s", timeout=60)
    store = app.twin_state.store
    (run_dir,) = (store_dir / "runs").iterdir()
    kotka_sha = load_city(kotka).source.sha256
    assert store.run_key(store.run_scenario(run_dir.name), kotka_sha) == run_dir.name
    _no_errors(dash_duo)


def test_a_corrupt_osm_upload_is_refused_with_a_clear_message(
    browser_ready, dash_duo, store_dir, screenshot, tmp_path
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.wait_for_text_to_equal("#city-title", "helsinki", timeout=10)
    # a real extract cut short (a broken download): the header looks right, the data is not
    truncated = tmp_path / "broken.osm.pbf"
    truncated.write_bytes(_kotka_file(tmp_path).read_bytes()[:20_000])
    dash_duo.find_element("#osm-upload input[type=file]").send_keys(str(truncated))
    dash_duo.wait_for_contains_text(
        "#osm-upload-message .error", "broken.osm.pbf: cannot open it as a city", timeout=30
    )
    # a file that is no OSM extract at all, renamed
    renamed = tmp_path / "photo.osm.pbf"
    renamed.write_bytes(b"\xff\xd8\xff\xe0 not an extract" * 100)
    dash_duo.find_element("#osm-upload input[type=file]").send_keys(str(renamed))
    dash_duo.wait_for_contains_text(
        "#osm-upload-message .error", "photo.osm.pbf: the content is not a .osm.pbf file", 10
    )
    # a file past the upload's limit, which the browser drops without sending: said at once
    huge = tmp_path / "whole-country.osm.pbf"
    with huge.open("wb") as sink:
        sink.truncate(70 * 2**20)  # sparse: no disk spent
    dash_duo.find_element("#osm-upload input[type=file]").send_keys(str(huge))
    dash_duo.wait_for_contains_text(
        "#osm-upload-too-large",
        "whole-country.osm.pbf is 70 MiB, larger than the 64 MiB this upload takes: cut the "
        "extract",
        10,
    )
    screenshot(dash_duo, "city-upload-refused")
    # the city shown is unchanged
    assert dash_duo.find_element("#city-title").text == "helsinki"


def test_the_learned_planner_plans_an_uploaded_city_and_names_days_outside_its_range(
    browser_ready, dash_duo, store_dir, screenshot, tmp_path
):
    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#osm-upload input[type=file]").send_keys(str(_kotka_file(tmp_path)))
    dash_duo.wait_for_text_to_equal("#city-title", "kotka", timeout=60)
    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_element("#plans-map .js-plotly-plot")
    # nine trucks: a fleet the shipped planner never trained with, every day outside its range
    _type(dash_duo, "plans-trucks", 9)
    dash_duo.find_element("#plans-run").click()
    dash_duo.wait_for_element("#plans-kpis", timeout=120)
    assert "learned" in dash_duo.find_element("#plans-kpis thead").text
    dash_duo.wait_for_contains_text(
        "#plans-notes", "learned: 3 of 3 working days were outside the planner's range "
        "(planned by pyvrp); day 0: outside the training range of general.pt:", timeout=10,
    )  # fmt: skip
    assert "trucks 9 (trained on 1–8)" in dash_duo.find_element("#plans-notes").text
    screenshot(dash_duo, "plans-outside-range", scroll_to="#plans-notes")
    # with a fleet it knows, the learned planner plans Kotka itself: no note
    _type(dash_duo, "plans-trucks", 2)
    dash_duo.find_element("#plans-run").click()
    until(lambda: not dash_duo.driver.find_elements("css selector", "#plans-notes"), timeout=120)
    dash_duo.wait_for_element("#plans-kpis", timeout=120)
    assert "learned" in dash_duo.find_element("#plans-kpis thead").text
    _no_errors(dash_duo)


def _accepted_draft(city) -> dict:
    """The small draft with the fewest trips (of a few) whose Webster plans the twin accepts:
    the test applies them, and a proposal that is not accepted cannot be applied."""
    from dashboards.forms import read_proposal_form
    from dashboards.logic import default_draft
    from twin import propose_signals

    for trips in (400, 800, 1000):
        overrides = {**SMALL_DRAFT, "traffic": {**SMALL_DRAFT["traffic"], "trips": trips}}
        request = read_proposal_form(default_draft("helsinki", overrides), {"method": "webster"})
        if propose_signals(city, request["spec"], seed=request["seed"]).accepted:
            return overrides
    pytest.fail("the twin accepted Webster's plans at none of the demands tried")


def test_plans_page_proposes_signal_plans_and_a_planner_applies_them(
    browser_ready, dash_duo, store_dir, screenshot, helsinki
):
    import zipfile

    from dashboards.logic import format_signals
    from twin import signal_plans

    app = create_app("helsinki", store_dir=store_dir, draft=_accepted_draft(helsinki))
    dash_duo.start_server(app)
    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_element("#signals-run")
    # the search's budget is checked beside its field, and Propose waits for a good one
    dash_duo.find_element("#signals-method input[value='search']").click()
    _type(dash_duo, "signals-simulations", 0)
    _says(dash_duo, "signals-simulations", "simulations: must be a whole number from 1 to "
          "10,000 (got 0)")  # fmt: skip
    until(lambda: _disabled(dash_duo, "signals-run"), timeout=5)
    dash_duo.find_element("#signals-method input[value='webster']").click()
    until(lambda: not _disabled(dash_duo, "signals-run"), timeout=5)

    dash_duo.find_element("#signals-run").click()
    dash_duo.wait_for_contains_text("#signals-verdict-line", "Recommended: ", timeout=60)
    assert dash_duo.find_element("#signals-label").text.startswith("Proposed by webster (no model)")
    assert "webster (no model)" in dash_duo.find_element("#signals-provenance").text
    (proposal_dir,) = (store_dir / "proposals").iterdir()
    timings = app.twin_state.store.proposal(proposal_dir.name)["timings"]
    dash_duo.wait_for_element("#signals-timing-table")
    rows = dash_duo.driver.find_elements("css selector", "#signals-timing-table tbody tr")
    assert len(rows) == len(timings) == len(signal_plans(helsinki.network))
    first = dash_duo.find_element(f"#signals-timing-{timings[0]['node']}").text
    assert format_signals(timings[:1]).split(": ")[1] in first
    assert len(dash_duo.driver.find_elements("css selector", "#signals-checks-table tbody tr")) == 3
    # before and after, each map its delay levels and the hover layer
    for graph in ("signals-map-now", "signals-map-proposed"):
        until(lambda graph=graph: _map_traces(dash_duo, graph) >= 2, timeout=15)
    screenshot(dash_duo, "plans-signals", scroll_to="#signals-section")
    screenshot(dash_duo, "plans-signal-timings", scroll_to="#signals-timing-table")

    # a person approves them, with a comment: the approval is logged with the scenario, and
    # it is what allows applying them
    assert _disabled(dash_duo, "signals-apply")
    _type(dash_duo, "signals-by", "Aino Planner")
    _type(dash_duo, "signals-comment", "less delay at every demand")
    dash_duo.find_element("#signals-approve").click()
    dash_duo.wait_for_contains_text("#signals-decided", "Approved by Aino Planner", timeout=10)
    dash_duo.wait_for_contains_text("#plans-audit-1", "less delay at every demand", timeout=10)
    logged = dash_duo.find_element("#plans-audit-1").text
    assert "approved" in logged and "Aino Planner" in logged and "webster (no model)" in logged
    screenshot(dash_duo, "plans-signals-approved", scroll_to="#signals-decision")
    # then applies them: the draft's signal plans are the proposal's timings
    until(lambda: not _disabled(dash_duo, "signals-apply"), timeout=5)
    dash_duo.find_element("#signals-apply").click()
    dash_duo.wait_for_contains_text("#signals-applied", "Applied", timeout=10)
    # the draft's signals are now the proposal's: that does not make its checks out of date
    assert dash_duo.find_element("#signals-stale").text == ""
    # nor does it withhold the approved plans' field documents
    dash_duo.find_element("#signals-download").click()
    folder = Path(dash_duo.download_path)
    until(lambda: any(p.suffix == ".zip" for p in folder.glob("field-documents-*")), timeout=10)
    (archive,) = folder.glob("field-documents-signal-plans-*.zip")
    assert "timings.csv" in zipfile.ZipFile(archive).namelist()
    assert dash_duo.find_element("#signals-download-error").text == ""
    # applying them again changes nothing, and says so
    dash_duo.find_element("#signals-apply").click()
    dash_duo.wait_for_contains_text("#signals-applied", "Already applied", timeout=10)
    dash_duo.find_element("#nav-scenarios").click()
    dash_duo.wait_for_element("#scenario-signals")
    until(
        lambda: (
            dash_duo.find_element("#scenario-signals").get_attribute("value")
            == format_signals(timings)
        ),
        timeout=10,
    )
    _no_errors(dash_duo)


def _recommended_words(duo) -> list[str]:
    """Every "recommended" on the page with the four characters before it."""
    text = duo.driver.execute_script("return document.body.innerText")
    return [text[max(0, m.start() - 4) : m.end()] for m in re.finditer("recommended", text, re.I)]


def test_plans_that_break_a_check_are_never_shown_as_recommended_and_a_log_edited_by_hand_shows(
    browser_ready, dash_duo, store_dir, screenshot
):
    # at this demand Webster's plans leave more trips unfinished than the defaults (as in
    # tests/dashboards/test_decisions.py, FAILING_TRIPS)
    failing = {**SMALL_DRAFT, "traffic": {**SMALL_DRAFT["traffic"], "trips": 450}}
    app = create_app("helsinki", store_dir=store_dir, draft=failing)
    dash_duo.start_server(app)
    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_element("#signals-run")
    dash_duo.find_element("#signals-run").click()
    dash_duo.wait_for_contains_text("#signals-verdict-line", "Not recommended", timeout=60)
    assert re.search(r"\d+ trips? unfinished", dash_duo.find_element("#signals-reasons").text)
    assert "error" in dash_duo.find_element("#signals-verdict-line").get_attribute("class")
    # no way to approve or apply it, and never called recommended
    dash_duo.wait_for_element("#signals-reject")
    assert not dash_duo.driver.find_elements("css selector", "#signals-approve, #signals-apply")
    words = _recommended_words(dash_duo)
    assert words and all(w.lower() == "not recommended" for w in words), words
    screenshot(dash_duo, "plans-signals-not-recommended", scroll_to="#signals-section")
    # rejecting it is logged, with a comment
    _type(dash_duo, "signals-by", "Aino Planner")
    _type(dash_duo, "signals-comment", "more trips stuck at rush hour")
    dash_duo.find_element("#signals-reject").click()
    dash_duo.wait_for_contains_text("#signals-decided", "Rejected by Aino Planner", timeout=10)
    dash_duo.wait_for_contains_text("#plans-audit-1", "more trips stuck at rush hour", 10)
    assert "rejected" in dash_duo.find_element("#plans-audit-1").text

    # the log edited by hand: the page names the line in red, and takes no decision
    log = store_dir / "scenarios" / "helsinki-plan.audit.jsonl"
    log.write_text(log.read_text().replace("rush hour", "the weekend"))
    dash_duo.find_element("#nav-waste").click()
    dash_duo.wait_for_element("#waste-run")
    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_contains_text(
        "#plans-audit-error", "line 1: its contents do not match its hash", timeout=10
    )
    assert "error" in dash_duo.find_element("#plans-audit-error").get_attribute("class")
    assert _disabled(dash_duo, "signals-reject")
    screenshot(dash_duo, "plans-audit-edited", scroll_to="#plans-audit")
    _no_errors(dash_duo)


def test_plans_page_proposes_a_days_routes_and_a_planner_approves_and_downloads_them(
    browser_ready, dash_duo, store_dir, screenshot
):
    import zipfile

    dash_duo.start_server(_app(store_dir))
    dash_duo.find_element("#nav-plans").click()
    dash_duo.wait_for_element("#routes-run")
    # a small day: ten bins, one truck, a short polish
    for field_id, value in (("routes-bins", 10), ("routes-trucks", 1), ("routes-polish", 0.3)):
        _type(dash_duo, field_id, value)
    dash_duo.find_element("#routes-run").click()
    dash_duo.wait_for_contains_text("#routes-verdict-line", "Recommended: ", timeout=60)
    assert dash_duo.find_element("#routes-label").text.startswith("Proposed by a model")
    assert len(dash_duo.driver.find_elements("css selector", "#routes-plans-table tbody tr")) == 4
    until(lambda: "truck 1" in " ".join(_trace_names(dash_duo, "routes-map")), timeout=15)
    # the field documents wait for an approval
    assert _disabled(dash_duo, "routes-download")
    _type(dash_duo, "routes-by", "Aino Planner")
    _type(dash_duo, "routes-comment", "shorter than the current plan")
    dash_duo.find_element("#routes-approve").click()
    dash_duo.wait_for_contains_text("#routes-decided", "Approved by Aino Planner", timeout=10)
    dash_duo.wait_for_contains_text("#plans-audit-1", "shorter than the current plan", 10)
    logged = dash_duo.find_element("#plans-audit-1").text
    assert "approved" in logged and "collection routes" in logged
    until(lambda: not _disabled(dash_duo, "routes-download"), timeout=5)
    screenshot(dash_duo, "plans-routes-approved", scroll_to="#routes-section")
    dash_duo.find_element("#routes-download").click()
    folder = Path(dash_duo.download_path)
    until(lambda: any(p.suffix == ".zip" for p in folder.glob("field-documents-*")), timeout=10)
    (archive,) = folder.glob("field-documents-collection-routes-*.zip")
    assert "truck-1.gpx" in zipfile.ZipFile(archive).namelist()
    _no_errors(dash_duo)
