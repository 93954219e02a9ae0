"""Callback logic without a browser, on the real twin: drafts, closures, comparisons, uploads,
the store and the runner."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cities import resolve
from dashboards.basemap import Basemap, network_figure
from dashboards.logic import (
    UploadError,
    apply_form,
    bins_on_day,
    check_osm_bytes,
    closed_edges,
    comparison_rows,
    decode_upload,
    default_draft,
    format_signals,
    parse_signals,
    plan_notes,
    policies,
    rounded_greens,
    scenario_from_draft,
    section_only,
    street_refs,
    toggle_closure,
    traffic_section_note,
    trip_changes,
)
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import RunStore, StoreError, scenario_file_name
from tests.conftest import write_osm
from twin.api import Twin
from twin.scenario import ScenarioError, load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SMALL = {"traffic": {"trips": 300, "duration": "16min", "window": "8min", "dt_s": 5.0}}


@pytest.fixture(scope="module")
def basemap(helsinki):
    return Basemap.from_city(helsinki)


@pytest.fixture
def state(helsinki, tmp_path):
    return DashboardState(Twin(helsinki), RunStore(tmp_path / "store"), draft_overrides=SMALL)


def test_basemap_keeps_every_edge_and_separates_them(helsinki, basemap):
    net = helsinki.network
    assert basemap.n_edges == net.n_edges
    # every edge's points, then one NaN: the flat array is points + one gap per edge
    assert len(basemap.lon) == int(basemap.count.sum()) + net.n_edges
    assert np.isnan(basemap.lon[basemap.start + basemap.count]).all()
    lon, _ = basemap.lines(np.array([0, 5]))
    assert np.isnan(lon).sum() == 2 and len(lon) == basemap.count[[0, 5]].sum() + 2
    west, _, _, north = net.bbox_lonlat
    inside = ~np.isnan(basemap.lon)
    assert (basemap.lon[inside] >= west - 1e-6).all() and (
        basemap.lat[inside] <= north + 1e-6
    ).all()


def test_drawn_lines_cover_every_edge_with_fewer_pieces(basemap):
    lon, lat = basemap.drawn_lines()
    drawn = set(zip(lon.tolist(), lat.tolist(), strict=True))
    every = ~np.isnan(basemap.lon)
    assert set(zip(basemap.lon[every].tolist(), basemap.lat[every].tolist(), strict=True)) <= drawn
    # two-way streets once, straight continuations chained: far fewer SVG paths than edges
    assert 0 < np.isnan(lon).sum() < basemap.n_edges
    some = np.arange(0, basemap.n_edges, 3)
    sub_lon, _ = basemap.drawn_lines(some)
    assert set(basemap.lines(some)[0][~np.isnan(basemap.lines(some)[0])].tolist()) <= set(
        sub_lon.tolist()
    )


def test_network_figure_has_one_trace_per_class_not_per_edge(helsinki, basemap):
    figure = network_figure(basemap)
    classes = set(basemap.highway)
    lines = [t for t in figure.data if t.mode == "lines"]
    assert {t.name for t in lines} == classes
    assert len(figure.data) == len(classes) + 2  # + signals + the hover/click layer
    closed = network_figure(basemap, closed=[basemap.ref[0]])
    assert "closed" in [t.name for t in closed.data]


def test_a_click_closes_both_directions_and_a_second_click_reopens(helsinki, basemap):
    draft = default_draft("helsinki", SMALL)
    two_way = next(
        r for r in basemap.ref if f"{r.split('-')[1]}-{r.split('-')[0]}" in basemap.edge_index
    )
    refs = street_refs(
        two_way, mode="segment", refs=basemap.ref, ways=basemap.way, index=basemap.edge_index
    )
    assert len(refs) == 2
    closed = toggle_closure(draft, refs)
    assert closed["traffic"]["close"] == refs
    assert len(closed_edges(refs, ways=basemap.way, index=basemap.edge_index)) == 2
    assert toggle_closure(closed, refs)["traffic"]["close"] == []
    way = street_refs(
        two_way, mode="way", refs=basemap.ref, ways=basemap.way, index=basemap.edge_index
    )
    assert way[0].startswith("way:")
    edges = closed_edges(way, ways=basemap.way, index=basemap.edge_index)
    assert (basemap.way[edges] == int(way[0][4:])).all()


def test_form_values_are_validated_with_clear_messages():
    draft = default_draft("helsinki", SMALL)
    updated = apply_form(
        draft,
        trips="500",
        duration_min=20,
        demand_scale=1.2,
        policy="pyvrp",
        signals="25291537: 70, 12",
    )
    assert updated["traffic"]["trips"] == 500
    assert updated["traffic"]["duration"] == "20min"
    assert (updated["waste"]["policy"], updated["waste"]["planner"]) == ("forecast", "pyvrp")
    assert updated["traffic"]["signals"][0] == {
        "node": 25291537,
        "greens_s": [70.0, 12.0],
        "offset_s": 0.0,
    }
    with pytest.raises(ScenarioError, match="trips"):
        apply_form(draft, trips=-3)
    with pytest.raises(ScenarioError, match="not a number"):
        apply_form(draft, demand_scale="lots")
    with pytest.raises(ScenarioError, match="OSM node id"):
        parse_signals("25291537 70 12")
    with pytest.raises(ScenarioError, match="policy"):
        apply_form(draft, policy="teleport")


def test_the_draft_starts_from_the_city_peak_hour_rate(helsinki):
    from cities.peak_demand import peak_hour_demand

    per_hour = peak_hour_demand(helsinki.context, helsinki.network).trips_per_hour
    draft = default_draft("helsinki", trips_per_hour=per_hour)
    assert draft["traffic"]["window"] == "15min"
    assert draft["traffic"]["trips"] == round(per_hour / 4)
    # a deployment's overrides still win
    assert default_draft("helsinki", SMALL, trips_per_hour=per_hour)["traffic"]["trips"] == 300


def test_sections_split_for_the_traffic_and_waste_pages():
    draft = default_draft("helsinki", SMALL)
    traffic = section_only(draft, "traffic")
    waste = section_only(draft, "waste", policy="schedule")
    assert traffic.waste is None and traffic.traffic is not None
    assert waste.traffic is None and waste.waste.policy == "schedule"
    # the trucks drive the draft's streets; another policy of a run in traffic, in that traffic
    closed = {**draft, "traffic": {**draft["traffic"], "close": ["25291550-25291565"]}}
    streets = section_only(closed, "waste", policy="schedule")
    assert streets.traffic.close == ["25291550-25291565"] and not streets.traffic.simulate
    assert streets.traffic.trips is None and not streets.waste.traffic_coupling
    in_traffic = {**closed, "traffic": {**streets.traffic.model_dump(), "trips": 900}}
    other = section_only(in_traffic, "waste", policy="greedy")
    assert other.waste.traffic_coupling and other.traffic.trips == 900
    assert other.traffic.close == ["25291550-25291565"]


def test_policy_list_comes_from_the_scenario_model():
    assert {"schedule", "threshold", "greedy", "pyvrp"} <= set(policies())


def test_closing_the_busiest_street_changes_traffic_kpis_in_the_real_twin(state):
    draft = state.draft()
    keys = run_scenarios(state, [section_only(draft, "traffic")])
    edges = state.store.table(keys[0], "traffic/edges")
    busiest = state.basemap.ref[int(edges["mean_flow_vph"].idxmax())]
    closed = toggle_closure(draft, [busiest])
    progress = []
    (key,) = run_scenarios(
        state,
        [section_only(closed, "traffic")],
        lambda f, label: progress.append(f),
        min_interval_s=0,
    )
    assert key != keys[0] and progress[-1] == 1.0
    assert 0 < min(progress[1:-1] or [1]) <= 1
    rows = comparison_rows(state.store.kpis(keys[0]), state.store.kpis(key))
    changed = rows[rows["verdict"] != "same"]
    assert "mean_travel_time_s" in set(changed["kpi"])
    # the same settings again: read from the store, not run again
    again = run_scenarios(state, [section_only(closed, "traffic")])
    assert again == [key]
    changes = trip_changes(
        state.store.table(keys[0], "traffic/trips"), state.store.table(key, "traffic/trips")
    )
    assert changes["matched"] > 0
    assert changes["faster"] + changes["slower"] + changes["unchanged"] == changes["matched"]


def test_comparison_verdicts_follow_each_kpis_direction():
    import pandas as pd

    a = pd.DataFrame(
        {
            "section": ["traffic"] * 3,
            "kpi": ["mean_travel_time_s", "mean_network_speed_kph", "vehicle_km"],
            "value": [100.0, 30.0, 50.0],
        }
    )
    b = a.assign(value=[120.0, 35.0, 60.0])
    rows = comparison_rows(a, b).set_index("kpi")
    assert rows.loc["mean_travel_time_s", "verdict"] == "worse"
    assert rows.loc["mean_network_speed_kph", "verdict"] == "better"
    assert rows.loc["vehicle_km", "verdict"] == "changed"
    assert rows.loc["mean_travel_time_s", "relative"] == pytest.approx(0.2)


def test_a_refused_scenario_does_not_stop_the_others(state):
    draft = state.draft()
    errors: list = []
    scenarios = [
        # a depot in the Gulf of Guinea: the twin refuses it (no road within reach)
        section_only(draft, "waste", policy="greedy", days=2, depot=(0.0, 0.0)),
        section_only(draft, "waste", policy="greedy", days=2),
    ]
    keys = run_scenarios(state, scenarios, errors=errors)
    assert keys[0] is None and "depot" in errors[0]
    assert keys[1] is not None and errors[1] is None
    assert state.store.kpi_dict(keys[1])["waste"]["days"] == 2


def test_bins_show_their_fill_on_the_chosen_day(state):
    draft = state.draft()
    (key,) = run_scenarios(state, [section_only(draft, "waste", policy="greedy", days=3)])
    bins = state.store.table(key, "waste/bins")
    fill = state.store.table(key, "waste/bin_fill")
    daily = state.store.table(key, "waste/daily")
    for day in range(3):
        shown = bins_on_day(bins, fill, day)
        assert shown["fill_kg"].sum() == pytest.approx(daily["in_bins_kg"][day], rel=1e-5)
    # the last day's fill is the run's final fill
    np.testing.assert_allclose(bins_on_day(bins, fill, 2)["fill_kg"], bins["fill_kg"], rtol=1e-6)
    with pytest.raises(ValueError, match="day 9"):
        bins_on_day(bins, fill, 9)


def test_store_saves_named_scenarios_as_cli_yaml(state, tmp_path):
    scenario = scenario_from_draft({**state.draft(), "name": "my plan"})
    path = state.store.save_scenario(scenario)
    assert path.name == "my-plan.yaml"
    assert load_scenario(path) == scenario  # the file `twin run` reads
    assert state.store.scenario_names() == ["my plan"]
    for bad in ("../etc/passwd", "", "a/b", ".hidden"):
        with pytest.raises(StoreError):
            scenario_file_name(bad)


def test_names_that_share_a_file_never_replace_each_other(state):
    """A space is saved as '-': 'a b' and 'a-b' would both be a-b.yaml."""
    first = scenario_from_draft({**state.draft(), "name": "north-route"})
    second = scenario_from_draft({**state.draft(), "name": "north route", "seed": 7})
    path = state.store.save_scenario(first)
    try:
        with pytest.raises(StoreError, match=r"holds the scenario 'north-route'.*another name"):
            state.store.save_scenario(second)
        assert load_scenario(path) == first  # kept
        with pytest.raises(StoreError, match="No saved scenario named 'north route'"):
            state.store.load_named("north route")
        assert state.store.load_named("north-route") == first
        assert state.store.save_scenario(first) == path  # its own name replaces it
    finally:
        state.store.delete_scenario("north-route")


def test_a_scenario_of_another_city_is_neither_loaded_nor_run(state):
    """Saved scenarios are shared by every browser, whatever city each has open; and a page
    left open in one tab keeps the draft of the city it was made for."""
    from dashboards.pages.scenarios import _refuse_other_city, saved_options
    from dashboards.runner import run_scenarios

    other = scenario_from_draft({**state.draft(), "name": "elsewhere", "city": "kotka"})
    state.store.save_scenario(other)
    try:
        menu = {option["value"]: option for option in saved_options(state)}
        assert menu["elsewhere"] == {
            "label": "elsewhere (kotka: another city)", "value": "elsewhere", "disabled": True,
        }  # fmt: skip
        with pytest.raises(UploadError, match="the scenario is for 'kotka', but this dashboard"):
            _refuse_other_city(state, other.city, "elsewhere")
        with pytest.raises(ScenarioError, match="this page was made for kotka, but helsinki"):
            run_scenarios(state, [other], isolate=False)
    finally:
        state.store.delete_scenario("elsewhere")


def _upload(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_uploads_are_size_limited_and_checked():
    assert decode_upload(_upload(b"name: x\n"), "x.yaml", limit_bytes=100) == b"name: x\n"
    with pytest.raises(UploadError, match="larger than the limit"):
        decode_upload(_upload(b"x" * 1000), "big.yaml", limit_bytes=100)
    with pytest.raises(UploadError, match="not valid base64"):
        decode_upload("data:;base64,@@@@", "bad.yaml", limit_bytes=100)
    with pytest.raises(UploadError, match="not an OSM extract"):
        check_osm_bytes(b"<osm></osm>", "city.txt")
    with pytest.raises(UploadError, match=r"not a \.osm\.pbf file"):
        check_osm_bytes(b"hello", "city.osm.pbf")
    assert check_osm_bytes(b"<?xml version='1.0'?><osm version='0.6'>", "c.osm") == ".osm"


def test_a_compressed_upload_that_unpacks_to_no_extract_is_refused_at_once(tmp_path):
    """Real OSM data packed by libosmium passes; a file of one repeated byte, which the reader
    would unpack whole, is refused by its ratio, and packed text that is no OSM XML by
    its start; each in well under a second of unpacking."""
    source = resolve("helsinki").path
    for suffix in (".osm.bz2", ".osm.gz"):
        # the extract's first objects: a real OSM file, written in a fraction of the time
        packed = write_osm(source, tmp_path / f"helsinki{suffix}", objects=20_000)
        raw = packed.read_bytes()
        assert check_osm_bytes(raw, packed.name) == suffix
        # bzip2 and gzip files of several streams (pbzip2, concatenated members) read whole
        assert check_osm_bytes(raw + raw, packed.name) == suffix
        blank = b"<?xml version='1.0'?><osm version='0.6'>" + b" " * 2**22 + b"</osm>"
        pack = bz2.compress if suffix == ".osm.bz2" else gzip.compress
        with pytest.raises(UploadError, match="unpacks to over 100 times its size"):
            check_osm_bytes(pack(blank), f"bomb{suffix}")
        with pytest.raises(UploadError, match="not OpenStreetMap XML"):
            table = "".join(f"{k},{k * 7919 % 10007},{k * 104729 % 65537}\n" for k in range(2000))
            check_osm_bytes(pack(table.encode()), f"table{suffix}")
        with pytest.raises(UploadError, match="damaged"):
            check_osm_bytes(raw[:20] + bytes(len(raw) - 20), f"broken{suffix}")


def test_uploaded_scenario_errors_name_the_line(state):
    from dashboards.pages.scenarios import _uploaded

    bad = _upload(b"name: broken\ncity: helsinki\ntraffic:\n  trips: -5\n")
    with pytest.raises(UploadError, match=r"broken.yaml:4: traffic.trips"):
        _uploaded(state, bad, "broken.yaml")
    other = _upload(b"name: x\ncity: andorra\ntraffic:\n  trips: 5\n")
    with pytest.raises(UploadError, match="this dashboard shows"):
        _uploaded(state, other, "x.yaml")
    good = _upload(b"name: ok\ncity: helsinki\ntraffic:\n  trips: 5\n")
    assert _uploaded(state, good, "ok.yaml").traffic.trips == 5


def test_an_uploaded_file_of_nested_aliases_is_refused_unexpanded(state):
    """A billion values in 9 lines of aliases: refused by the twin's bounded reader, in a
    moment, before anything expands them."""
    import time

    from dashboards.pages.scenarios import _uploaded

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    with pytest.raises(UploadError, match="aliases"):
        _uploaded(state, _upload("\n".join(lines).encode()), "laughs.yaml")
    assert time.monotonic() - started < 5


def test_an_uploaded_file_nested_too_deep_is_refused_with_a_message(state):
    """500 nested lists: once a RecursionError in the upload's first look (a server error,
    and the page said nothing); the twin's reader says what is wrong."""
    from dashboards.pages.scenarios import _uploaded

    deep = b"name: deep\ncity: helsinki\ntraffic: " + b"[" * 500 + b"]" * 500 + b"\n"
    with pytest.raises(UploadError) as refused:
        _uploaded(state, _upload(deep), "deep.yaml")
    assert str(refused.value).startswith("deep.yaml")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"extends: /etc/passwd\nname: x\n", "`extends` names another file"),
        (b"name: x\ncity: helsinki\ntraffic:\n  od: /etc/hostname\n", "(traffic.od)"),
        (b"name: x\ncity: helsinki\ntraffic:\n  signal_plan: /etc/hosts\n", "traffic.signal_plan"),
        (b"name: x\ncity: helsinki\nwaste:\n  policy: current\n  rounds: r.csv\n", "waste.rounds"),
    ],
)
def test_an_uploaded_scenario_names_no_file_of_the_server(state, text, said):
    """An upload that names a file (any on the server, by an absolute path) is refused before
    anything reads it: messages said which files exist and their shape."""
    from dashboards.pages.scenarios import _uploaded

    with pytest.raises(UploadError) as caught:
        _uploaded(state, _upload(text), "up.yaml")
    assert said in str(caught.value) and "hostname" not in str(caught.value).split("(")[0]
    assert "lacks column" not in str(caught.value) and "passwd:" not in str(caught.value)


def test_every_page_lays_out_on_the_city(state):
    from dashboards.app import PAGES

    for page in PAGES:
        assert page.layout(state) is not None, page.PATH


def _values(component, wanted: set[str]) -> dict[str, object]:
    """The ``value`` of each component of a layout whose id is in ``wanted``."""
    return {c.id: c.value for c in _components(component) if getattr(c, "id", None) in wanted}


def test_the_run_pages_forms_start_from_the_browsers_draft(state):
    """A scenario loaded or saved on the Scenarios page (the browser's draft) is what the run
    pages' forms show next, not the city's fresh draft; a section the draft lacks (a
    waste-only scenario's traffic) starts from the fresh one."""
    from dashboards.app import FORMS_FROM_DRAFT
    from dashboards.pages import plans, traffic, waste

    assert set(FORMS_FROM_DRAFT) == {traffic, waste, plans}
    fresh = state.draft()
    loaded = scenario_from_draft({
        **fresh,
        "seed": 41,
        "traffic": {**fresh["traffic"], "trips": 777, "duration": "45min", "demand_scale": 1.25},
        "waste": {**fresh["waste"], "days": 5, "trucks": 4},
    }).model_dump(mode="json")  # fmt: skip
    wanted = {"traffic-trips", "traffic-minutes", "traffic-scale", "traffic-seed"}
    assert _values(traffic.layout(state, draft=loaded), wanted) == {
        "traffic-trips": 777, "traffic-minutes": 45.0, "traffic-scale": 1.25, "traffic-seed": 41,
    }  # fmt: skip
    wanted = {"waste-days", "waste-trucks", "waste-seed"}
    assert _values(waste.layout(state, draft=loaded), wanted) == {
        "waste-days": 5, "waste-trucks": 4, "waste-seed": 41,
    }  # fmt: skip
    shown = _values(plans.layout(state, draft=loaded), {"plans-days", "plans-trucks"})
    assert shown == {"plans-days": 5, "plans-trucks": 4}
    waste_only = {**loaded, "traffic": None}
    assert _values(traffic.layout(state, draft=waste_only), {"traffic-trips"}) == {
        "traffic-trips": fresh["traffic"]["trips"]
    }
    assert _values(traffic.layout(state), {"traffic-trips"}) == {
        "traffic-trips": fresh["traffic"]["trips"]
    }


def _kotka_upload() -> tuple[bytes, str]:
    """pyrosm's Kotka extract (bundled, offline): a second real city, small enough to build
    in a second."""
    import pyrosm

    raw = Path(pyrosm.get_data("test_pbf")).read_bytes()
    return raw, "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


def test_an_opened_city_switches_only_its_own_session(state, tmp_path):
    raw, _ = _kotka_upload()
    path = tmp_path / "kotka.osm.pbf"
    path.write_bytes(raw)
    with state.session("alice"):
        assert state.open_city(path).name == "kotka"
        assert state.city.name == "kotka" and state.draft()["city"] == str(path)
        kotka_sha = state.city_sha
    with state.session("bob"):
        assert state.city.name == "helsinki"
        assert state.basemap.n_edges == state.city.network.n_edges
    with state.session("alice"):
        # what a background job of that session runs: the run is of Kotka, keyed by Kotka
        (key,) = run_scenarios(state, [section_only(state.draft(), "traffic", trips=50)])
        assert state.store.run_key(state.store.run_scenario(key), kotka_sha) == key
        assert state.basemap.n_edges == state.city.network.n_edges  # Kotka's own base map
    # outside any session (a script) the home city is what shows
    assert state.city.name == "helsinki"


def _layout_prop(client, component_id: str, prop: str):
    """A property of a component in the first layout a browser session is served."""

    def find(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == component_id:
                return node["props"][prop]
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return None
        for child in children:
            found = find(child)
            if found is not None:
                return found
        return None

    return find(client.get("/_dash-layout").get_json())


def _layout_text(client, component_id: str) -> str:
    return _layout_prop(client, component_id, "children")


def test_two_browsers_do_not_see_each_others_uploaded_city(helsinki, tmp_path):
    """Through the app's HTTP interface, as two browsers (cookie jars) use it: one uploads a
    city through the City page's upload callback, the other still sees the home city."""
    from dashboards.app import create_app
    from dashboards.state import SESSION_COOKIE

    app = create_app(helsinki, store_dir=tmp_path / "store")
    alice, bob = app.server.test_client(), app.server.test_client()
    for client in (alice, bob):
        page = client.get("/")
        assert "HttpOnly" in page.headers["Set-Cookie"]
    assert alice.get_cookie(SESSION_COOKIE).value != bob.get_cookie(SESSION_COOKIE).value
    raw, contents = _kotka_upload()
    response = alice.post(
        "/_dash-update-component",
        json={
            "output": "..osm-upload-message.children...reload.href..",
            "outputs": [
                {"id": "osm-upload-message", "property": "children"},
                {"id": "reload", "property": "href"},
            ],
            "inputs": [{"id": "osm-upload", "property": "contents", "value": contents}],
            "state": [{"id": "osm-upload", "property": "filename", "value": "kotka.osm.pbf"}],
            "changedPropIds": ["osm-upload.contents"],
        },
    )
    assert response.status_code == 200
    message = response.get_json()["response"]["osm-upload-message"]["children"]
    assert message["props"]["children"].startswith("Opened kotka")
    assert _layout_text(alice, "city-title") == "kotka"
    assert _layout_text(bob, "city-title") == "helsinki"
    # the upload is kept under its content's hash: another file of the same name cannot
    # replace it
    (saved,) = (tmp_path / "store" / "uploads").glob("*/kotka.osm.pbf")
    assert saved.read_bytes() == raw
    # a new browser starts on the home city
    carol = app.server.test_client()
    carol.get("/")
    assert _layout_text(carol, "city-title") == "helsinki"


def test_default_signal_plans_are_the_twins(state):
    from dashboards.state import default_signal_plans
    from twin.api import retimed_signals

    network = state.city.network
    plans = default_signal_plans(state.city)
    assert len(plans) > 10
    assert set(plans) <= set(network.node_osmid[network.node_signalized].tolist())
    for node, info in plans.items():
        assert len(info.greens_s) == len(info.approaches) >= 2
        # the defaults, not the values used to read them: a 90 s cycle split by demand
        assert sum(info.greens_s) + info.lost_time_s * len(info.greens_s) == pytest.approx(90)
        position = int(network.node_index([node])[0])
        for approaches in info.approaches:
            assert all(network.edge_v[e] == position for e in approaches)
    # the twin accepts a timing with the plan's phase count for the junction
    node, info = next(iter(plans.items()))
    assert retimed_signals(network, [(node, [30.0] * len(info.greens_s), 0.0)])


def test_clicking_a_signal_opens_its_plan_and_apply_writes_the_scenario(state):
    from dashboards.logic import clicked_signal, set_signal_timing
    from dashboards.pages.scenarios import current_timings, cycle_text, signal_editor

    figure = network_figure(state.basemap)
    signals = next(t for t in figure.data if t.name == "signalized junction")
    streets = next(t for t in figure.data if t.name == "streets (hover, click)")
    # plotly's clickData on each layer of the Scenarios map
    first = int(signals.customdata[0])
    node = clicked_signal({"points": [{"curveNumber": 1, "customdata": first}]})
    assert node == int(signals.customdata[0])
    assert clicked_signal({"points": [{"customdata": streets.customdata[0]}]}) is None
    assert clicked_signal({"points": [{"customdata": [1100.0, 12.5]}]}) is None  # a bin
    assert clicked_signal(None) is None
    info = state.signal_plan(node)

    def inputs(editor) -> list:
        found = []

        def walk(component) -> None:
            if isinstance(getattr(component, "id", None), dict):
                found.append(component.value)
            children = getattr(component, "children", None)
            for child in children if isinstance(children, list) else [children]:
                if child is not None and not isinstance(child, str):
                    walk(child)

        walk(editor)
        return found

    draft = state.draft()
    assert inputs(signal_editor(state, node, current_timings("", draft))) == rounded_greens(
        info.greens_s
    )
    greens = [40, 30] + [10] * (len(info.greens_s) - 2)
    timings = set_signal_timing(current_timings("", draft), node, greens)
    typed = format_signals(timings)
    updated = apply_form(draft, signals=typed)
    assert updated["traffic"]["signals"] == [
        {"node": node, "greens_s": [float(g) for g in greens], "offset_s": 0.0}
    ]
    # opened again, the editor shows the scenario's greens, and the cycle they make
    assert inputs(signal_editor(state, node, current_timings(typed, updated))) == greens
    cycle = sum(greens) + info.lost_time_s * len(greens)
    assert cycle_text(greens, info.lost_time_s).startswith(f"Cycle {cycle:g} s")
    # another junction's timing is kept; a negative green is refused
    other = set_signal_timing(timings, 123, [5, 5])
    assert [t["node"] for t in other] == [node, 123]
    with pytest.raises(ScenarioError, match="0 s or more"):
        set_signal_timing(timings, node, [-1, 20])
    with pytest.raises(ScenarioError, match="phase 2"):
        set_signal_timing(timings, node, [20, None])


def test_a_signal_click_reaches_the_editor_through_the_app(helsinki, tmp_path):
    """The Scenarios page's callback, through the app's HTTP interface."""
    from dashboards.app import create_app

    app = create_app(helsinki, store_dir=tmp_path / "store")
    client = app.server.test_client()
    client.get("/")
    node = int(app.twin_state.basemap.node_osmid[app.twin_state.basemap.node_signalized][0])
    response = client.post(
        "/_dash-update-component",
        json={
            "output": "..signal-editor.children...signal-node.data..",
            "outputs": [
                {"id": "signal-editor", "property": "children"},
                {"id": "signal-node", "property": "data"},
            ],
            "inputs": [
                {
                    "id": "scenario-map",
                    "property": "clickData",
                    "value": {"points": [{"curveNumber": 14, "customdata": node}]},
                }
            ],
            "state": [
                {"id": "scenario-signals", "property": "value", "value": ""},
                {"id": "draft", "property": "data", "value": app.twin_state.draft()},
            ],
            "changedPropIds": ["scenario-map.clickData"],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()["response"]
    assert body["signal-node"]["data"] == node
    assert f"Signal at node {node}" in response.get_data(as_text=True)
    assert "Cycle 90 s" in response.get_data(as_text=True)


def test_the_signal_editor_refuses_greens_below_the_least_a_run_takes(helsinki, tmp_path):
    """Junction 25291537's second phase is its crossing's (20 s): the editor shows each phase's
    least green, and Apply refuses 12 s with the twin's words, through the app's HTTP
    interface, as a run would refuse it."""
    from dashboards.app import create_app

    node = 25291537
    app = create_app(helsinki, store_dir=tmp_path / "store")
    client = app.server.test_client()
    client.get("/")
    from dashboards.pages.scenarios import signal_editor

    editor = signal_editor(app.twin_state, node, [])
    cells = [c.children for c in _components(editor) if type(c).__name__ == "Td"]
    assert "20 s" in cells and "7 s" in cells
    # no browser minimum: a field below it would reach the twin as no number at all, not as
    # the green the twin refuses in words
    fields = [c for c in _components(editor) if isinstance(getattr(c, "id", None), dict)]
    assert [f.min for f in fields] == [0, 0]
    # a least of 12.8x s is shown to 0.01 s, and the green shown is one a run takes
    from twin import least_greens, retimed_signals

    side_street = 1371624191
    least = least_greens(helsinki.network)[side_street][1]
    shown = round(least, 2)
    editor = signal_editor(app.twin_state, side_street, [])
    assert f"{shown:g} s" in [c.children for c in _components(editor) if type(c).__name__ == "Td"]
    assert retimed_signals(helsinki.network, [(side_street, [70.0, shown], 0.0)])
    (apply,) = [
        d
        for d in client.get("/_dash-dependencies").get_json()
        if [i["id"] for i in d["inputs"]] == ["signal-apply"]
    ]

    def applied(greens: list[float]) -> str:
        response = client.post(
            "/_dash-update-component",
            json={
                "output": apply["output"],
                "outputs": [
                    {"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
                    for part in apply["output"].strip(".").split("...")
                ],
                "inputs": [{"id": "signal-apply", "property": "n_clicks", "value": 1}],
                "state": [
                    [
                        {
                            "id": {"index": i, "type": "signal-green"},
                            "property": "value",
                            "value": green,
                        }
                        for i, green in enumerate(greens)
                    ],
                    {"id": "signal-node", "property": "data", "value": node},
                    {"id": "scenario-signals", "property": "value", "value": ""},
                    {"id": "draft", "property": "data", "value": app.twin_state.draft()},
                ],
                "changedPropIds": ["signal-apply.n_clicks"],
            },
        )
        assert response.status_code in (200, 204), response.get_data(as_text=True)
        return response.get_data(as_text=True)

    refused = applied([70, 12])
    assert "phase 2 has 12 s of green, below the pedestrian minimum of 20 s" in refused
    assert "greens_s" not in refused  # the draft is left as it was
    assert "Signal 25291537: greens 70, 25 s" in applied([70, 25])


def test_map_tiles_are_off_by_default_and_redraw_every_layer_in_lon_lat(
    helsinki, basemap, tmp_path
):
    import json

    from dashboards.app import create_app
    from dashboards.basemap import TILE_STYLE, tile_figure, with_tiles

    figure = network_figure(basemap, closed=[basemap.ref[0]])
    assert with_tiles(figure, basemap, []) is figure and with_tiles(figure, basemap, None) is figure
    tiled = with_tiles(figure, basemap, ["tiles"])
    assert {t.type for t in tiled.data} == {"scattermap"}
    assert tiled.layout.map.style == TILE_STYLE and 10 < tiled.layout.map.zoom < 18
    assert [t.name for t in tiled.data] == [t.name for t in figure.data]
    for before, after in zip(figure.data, tiled.data, strict=True):
        # the same points (NaN gaps between streets included), colours and click data
        np.testing.assert_array_equal(np.asarray(after.lon), np.asarray(before.x))
        np.testing.assert_array_equal(np.asarray(after.lat), np.asarray(before.y))
        if before.mode == "lines":
            assert after.line.color == before.line.color
        else:
            assert after.marker.color == before.marker.color
    picks = next(t for t in tiled.data if t.name == "streets (hover, click)")
    assert list(picks.customdata[:3]) == list(basemap.ref[:3])
    # the figure is not changed in place (cached figures are shared by every session)
    assert {t.type for t in figure.data} <= {"scatter", "scattergl"}
    assert "map" not in figure.to_plotly_json()["layout"]
    # a waste map: bins coloured by fill keep their colour scale
    from dashboards.figures import routes_figure

    routes = tile_figure(routes_figure(basemap, {}, None, day=None), basemap)
    assert routes.data[0].type == "scattermap"

    # the app's first page: tiles off, nothing in it names a tile server
    app = create_app(helsinki, store_dir=tmp_path / "store")
    client = app.server.test_client()
    client.get("/")
    assert _layout_value(client, "map-tiles") == []
    figures = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("figure"), dict):
                figures.append(node["figure"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(client.get("/_dash-layout").get_json())
    assert figures  # the City page's map and charts
    for shown in figures:
        assert not {"map", "mapbox"} & set(shown["layout"]), shown["layout"].keys()
        assert all(t.get("type") in {"scatter", "scattergl", "bar"} for t in shown["data"])
    assert TILE_STYLE not in json.dumps(figures)


def _layout_value(client, component_id: str):
    return _layout_prop(client, component_id, "value")


def test_opened_cities_beyond_the_limit_leave_memory_and_come_back_from_their_file(
    helsinki, tmp_path
):
    import osmium

    state = DashboardState(Twin(helsinki), RunStore(tmp_path / "store"), max_open_cities=1)
    raw, _ = _kotka_upload()
    pbf = tmp_path / "kotka.osm.pbf"
    pbf.write_bytes(raw)
    # the same city written as XML: another file (another hash), so a second opened city
    xml = tmp_path / "kotka.osm"
    writer = osmium.SimpleWriter(str(xml))
    for item in osmium.FileProcessor(str(pbf)):
        writer.add(item)
    writer.close()

    with state.session("alice"):
        state.open_city(pbf)
        pbf_sha = state.city_sha
        pbf_edges = state.basemap.n_edges
    with state.session("bob"):
        state.open_city(xml)
        xml_sha = state.city_sha
        assert state.basemap.n_edges == pbf_edges  # same streets, other file
    assert pbf_sha != xml_sha
    # one opened city kept: Alice's went, with its base map
    assert state.open_cities() == [xml_sha]
    assert pbf_sha not in state._basemaps
    with state.session("alice"):
        assert state.city_sha == pbf_sha and state.city.name == "kotka"
    assert state.open_cities() == [pbf_sha]
    with state.session("carol"):  # a new browser still starts on the home city
        assert state.city.name == "helsinki"
    assert state.open_cities() == [pbf_sha]


def test_a_restarted_dashboard_shows_a_returning_session_the_city_it_had_open(helsinki, tmp_path):
    raw, _ = _kotka_upload()
    path = tmp_path / "uploads" / "kotka.osm.pbf"
    path.parent.mkdir()
    path.write_bytes(raw)
    store = RunStore(tmp_path / "store")
    before = DashboardState(Twin(helsinki), store)
    with before.session("alice"):
        before.open_city(path)
        kotka_sha = before.city_sha

    after = DashboardState(Twin(helsinki), RunStore(tmp_path / "store"))  # the restart
    with after.session("alice"):
        assert after.city.name == "kotka" and after.city_sha == kotka_sha
    with after.session("bob"):
        assert after.city.name == "helsinki"
    # the file gone, the session starts on the home city; a damaged record is ignored
    path.unlink()
    gone = DashboardState(Twin(helsinki), store)
    with gone.session("alice"):
        assert gone.city.name == "helsinki"
    (store.root / "sessions.json").write_text("{not json", encoding="utf-8")
    assert DashboardState(Twin(helsinki), store)._sessions == {}


def test_a_waste_runs_warnings_are_said_once_each_on_its_page(state):
    from dashboards.logic import run_warnings

    # a fleet of one for the city's rounds drawn by hand: most stops passed over at the
    # shift's end, which the run's own record says
    waste = {"days": 2, "trucks": 1, "policy": "hand-drawn"}
    scenario = scenario_from_draft(
        {**state.draft(), "name": "one truck", "traffic": None, "waste": waste}
    )
    (key,) = run_scenarios(state, [scenario], isolate=False)
    info = state.store.waste_info(key)
    said = run_warnings(info)
    assert any(line.startswith("The trucks passed over") for line in said)
    assert len(said) == len([w for w in info["warnings"] if "planner's note" not in w])
    # a planner's note and the traffic's are said elsewhere on the page
    elsewhere = ["the traffic the trucks drove in …", "2 of 5 days carry a planner's note …"]
    assert run_warnings({"warnings": elsewhere}) == []


def test_plan_notes_name_the_days_a_planner_passed_on():
    daily = pd.DataFrame(
        {
            "day": [0, 1, 2, 5],
            "planned_by": ["learned", "pyvrp", "learned", None],
            "plan_note": ["", "outside the training range of general.pt: bins 620", "", None],
        }
    )
    assert plan_notes(daily) == (
        "1 of 3 working days were outside the planner's range (planned by pyvrp); day 1: "
        "outside the training range of general.pt: bins 620"
    )
    assert plan_notes(daily.assign(plan_note="")) is None
    assert plan_notes(daily.drop(columns=["plan_note"])) is None  # runs stored before notes
    # rounds driven as given have no planner and no range: they do not fit the day
    given = pd.DataFrame({"day": [0, 1], "planned_by": ["given", "given"], "plan_note": [
        "the hand-drawn rounds break the plan's rules on the planning times: truck 1's round "
        "takes 16.3 h, longer than the 8 h shift", ""]})  # fmt: skip
    assert plan_notes(given) == (
        "On 1 of 2 working days the rounds, driven as given, break a plan's rules; day 0: the "
        "hand-drawn rounds break the plan's rules on the planning times: truck 1's round takes "
        "16.3 h, longer than the 8 h shift"
    )


# ------------------------------------------------------------------ Plans: winners and precision
def test_changes_show_at_the_precision_of_the_table_and_tiny_ones_are_neutral():
    from dashboards.logic import kpi_change

    # a service level a tenth of a point lower: points, not "(-0%)"
    assert kpi_change("service_level", 0.998, 0.999) == ("-0.1 pp", -1)
    # a change that reads the same in the table is no change, whatever its sign
    assert kpi_change("service_level", 0.99981, 0.99982) == ("±0 pp", 0)
    assert kpi_change("truck_km", 99.96, 100.0) == ("±0 %", 0)
    assert kpi_change("overflow_t", 0.001, 0.002) == ("±0 %", 0)
    assert kpi_change("cost_eur", 1000.0, 1000.0) == ("±0 %", 0)
    # small changes to a tenth of a percent, large ones in whole percent
    assert kpi_change("cost_eur", 1000.0, 1001.0) == ("-0.1 %", -1)
    assert kpi_change("truck_km", 103.0, 100.0) == ("+3.0 %", 1)
    assert kpi_change("truck_km", 150.0, 100.0) == ("+50 %", 1)
    # from zero, the difference in the KPI's own unit (no percent of nothing)
    assert kpi_change("overflow_bin_days", 3, 0) == ("+3", 1)
    assert kpi_change("overflow_bin_days", 0, 0) == ("±0", 0)
    assert kpi_change("truck_km", None, 10.0) == ("", 0)


def test_a_share_short_of_whole_never_reads_as_whole():
    from dashboards.logic import format_kpi

    # one overflow in 3,000 bin-days: not "100.0 %" beside "Overflow bin-days 1"
    assert format_kpi("service_level", 1 - 1 / 3000) == "> 99.9 %"
    assert format_kpi("service_level", 1.0) == "100.0 %"
    assert format_kpi("service_level", 0.987) == "98.7 %"
    assert format_kpi("congested_edge_hours_share", 0.0004) == "< 0.1 %"
    assert format_kpi("congested_edge_hours_share", 0.0) == "0.0 %"


def test_a_difference_never_reads_as_zero_between_values_that_read_apart():
    from dashboards.logic import kpi_difference

    # 6.6 → 6.7 in the table: the difference has the decimals it needs, not "+0.0 veh·h"
    assert kpi_difference("total_delay_veh_h", 6.66, 6.64) == "+0.02 veh·h"
    assert kpi_difference("total_delay_veh_h", 6.64, 6.66) == "-0.02 veh·h"
    assert kpi_difference("total_delay_veh_h", 8.0, 6.5) == "+1.5 veh·h"
    assert kpi_difference("service_level", 0.9996, 0.9994) == "+0.02 %"
    assert kpi_difference("trips_completed", 1200.6, 1200.4) == "+0.2"
    # values that read the same have no difference to show
    assert kpi_difference("total_delay_veh_h", 6.61, 6.64) == "±0"


def test_the_best_policy_of_each_kpi_follows_its_direction_and_ties_share_it():
    from dashboards.logic import best_of

    assert best_of({"schedule": 40.0, "greedy": 15.4, "pyvrp": 17.0}, "truck_km") == {"greedy"}
    assert best_of({"schedule": 0.99, "pyvrp": 0.999}, "service_level") == {"pyvrp"}
    # values that read the same tie; when every policy ties, none is marked
    assert best_of({"a": 15.41, "b": 15.44, "c": 20.0}, "truck_km") == {"a", "b"}
    assert best_of({"a": 0.0, "b": 0.0}, "overflow_t") == set()
    # a KPI with no better direction, one policy alone, missing values: nobody
    assert best_of({"a": 10, "b": 20}, "bins_emptied") == set()
    assert best_of({"a": 10.0}, "truck_km") == set()
    assert best_of({"a": None, "b": 5.0, "c": 6.0}, "truck_km") == {"b"}


def test_the_plans_table_marks_winners_and_colours_only_visible_changes():
    from dashboards.components import BEST_MARK, VERDICT_STYLE, policy_table

    kpis = {
        "schedule": {"truck_km": 40.0, "service_level": 0.999, "overflow_t": 0.0},
        "greedy": {"truck_km": 15.0, "service_level": 0.9989, "overflow_t": 0.0},
        "pyvrp": {"truck_km": 17.0, "service_level": 0.998, "overflow_t": 0.5},
    }
    view = policy_table(kpis, "schedule", ("truck_km", "service_level", "overflow_t"), table_id="t")
    table = view.children[0]
    rows = {row.id: row.children[1:] for row in table.children[1].children}
    km = rows["t-truck_km"]
    assert km[1].className == "best" and km[1].children.endswith(BEST_MARK)
    assert km[1].style == VERDICT_STYLE["better"] and "(-62 %)" in km[1].children
    service = rows["t-service_level"]
    # schedule is best (ties with greedy at the table's precision); greedy's change is ±0
    assert {c.className for c in service[:2]} == {"best"}
    assert "(±0 pp)" in service[1].children and service[1].style == {}
    assert "(-0.1 pp)" in service[2].children and service[2].style == VERDICT_STYLE["worse"]
    # overflow from zero: the difference in tonnes
    assert "(+0.50 t)" in rows["t-overflow_t"][2].children


def test_unfinished_trips_make_a_card_that_warns_and_names_gridlock():
    from dashboards.components import card_row
    from dashboards.logic import TRAFFIC_CARDS, unfinished_card

    kpis = {"trips": 100_000, "trips_completed": 1480, "trips_unfinished": 98_520, "gridlock": True}
    assert unfinished_card(kpis) == ("Gridlock: trips unfinished", "98,520 (99 %)", "alarm")
    assert unfinished_card({**kpis, "gridlock": False})[2] == "warn"
    assert unfinished_card({"trips": 1000, "trips_unfinished": 3}) == (
        "Trips unfinished",
        "3 (0.3 %)",
        "",
    )
    assert unfinished_card({"trips": 1000, "trips_unfinished": 0})[1:] == ("0", "")
    row = card_row(kpis, TRAFFIC_CARDS, id_prefix="k")
    card = next(c for c in row.children if c.id == "k-trips_unfinished")
    assert card.className == "kpi-card alarm"


def test_slider_marks_stay_few_on_long_runs():
    from dashboards.logic import DAY_MARK_STEPS, TIME_MARK_STEPS_S, clock, slider_marks

    day = slider_marks(range(0, 86_400, 300), label=clock, steps=TIME_MARK_STEPS_S)
    assert list(day.values()) == ["0 min", "3 h", "6 h", "9 h", "12 h", "15 h", "18 h", "21 h"]
    short = slider_marks(range(0, 1800, 300), label=clock, steps=TIME_MARK_STEPS_S)
    assert list(short.values()) == ["0 min", "5 min", "10 min", "15 min", "20 min", "25 min"]
    year = slider_marks(range(365), label=str, steps=DAY_MARK_STEPS)
    assert len(year) <= 8 and all(d % 7 == 0 for d in year)
    assert slider_marks(range(7), label=str, steps=DAY_MARK_STEPS) == {d: str(d) for d in range(7)}
    # values off every step's multiples: thinned by position
    assert len(slider_marks(range(3, 400, 7), label=str, steps=(5,))) <= 8


def test_many_bins_are_drawn_small_and_faint_and_overlapping_routes_stay_visible():
    from dashboards.figures import bin_marker_scale, route_style

    assert bin_marker_scale(150) == (1.0, 0.9)
    factor, opacity = bin_marker_scale(1340)  # Liechtenstein's bins
    assert factor == pytest.approx(0.4) and opacity == pytest.approx(0.5)
    # each later line is narrower, so the earlier ones show around it; policies differ in dash
    widths = [route_style(i, 5, by_policy=True)[0] for i in range(5)]
    assert widths == sorted(widths, reverse=True) and widths[-1] >= 2
    dashes = {route_style(i, 5, by_policy=True)[1] for i in range(5)}
    assert len(dashes) == 5
    assert route_style(0, 3, by_policy=False)[1] == "solid"


def test_the_scenarios_page_says_what_a_traffic_section_not_simulated_is_for():
    """The example whose traffic section only sets the trucks' streets and trips reads as such;
    the same traffic simulated, with the trucks among it, says they drive in it; a plain
    traffic section, or the trucks at free flow, need no word."""
    works = load_scenario(EXAMPLES / "collection-around-the-works.yaml").model_dump(mode="json")
    note = traffic_section_note(works)
    assert "simulate: false" in note and "12,000 trips spread over their shift" in note
    alone = {**works, "waste": {**works["waste"], "traffic_coupling": False}}
    assert "free-flow times" in traffic_section_note(alone)
    simulated = {**works, "traffic": {**works["traffic"], "simulate": True}}
    assert traffic_section_note(simulated) == (
        "The waste trucks drive among its 12,000 trips spread over their shift "
        "(waste.traffic_coupling)."
    )
    simulated_alone = {**alone, "traffic": simulated["traffic"]}
    assert traffic_section_note(simulated_alone) is None
    assert traffic_section_note({**works, "traffic": None}) is None


def test_speed_bands_read_limits_at_whole_km_h_as_the_speed_chart_does(state, basemap):
    """A street merged from 30 km/h segments has a limit like 30.000000000000007: it is in
    the 21–30 band, and the City page's chart puts each bar in the band the map draws it in."""
    from dashboards.basemap import SPEED_BANDS, color_layers, speed_band
    from dashboards.pages.city import _speed_chart

    noisy = np.array([29.999999999999996, 30.000000000000007, 40.00000000000001, 30.4, 30.6])
    labels = [SPEED_BANDS[b][1] for b in speed_band(noisy)]
    assert labels == ["21–30 km/h", "21–30 km/h", "31–40 km/h", "21–30 km/h", "31–40 km/h"]
    layers = {name: set(edges.tolist()) for name, _, _, edges in color_layers(basemap, "speed")}
    at_30 = np.flatnonzero(np.isclose(basemap.speed_kph, 30.0))
    at_40 = np.flatnonzero(np.isclose(basemap.speed_kph, 40.0))
    assert len(at_30) > 100 and set(at_30.tolist()) <= layers["21–30 km/h"]
    assert len(at_40) > 10 and set(at_40.tolist()) <= layers["31–40 km/h"]
    bars = _speed_chart(state).data[0]
    colour = {label: color for _, label, color in SPEED_BANDS}
    assert sum(float(x) in (30.0, 40.0) for x in bars.x) == 2
    for x, color, label in zip(bars.x, bars.marker.color, bars.customdata, strict=True):
        drawn = np.flatnonzero(np.round(basemap.speed_kph) == float(x))
        assert set(drawn.tolist()) <= layers[label] and colour[label] == color, x


def test_the_scenarios_and_traffic_maps_draw_a_closed_way_alike(basemap):
    """A "whole OSM way" closure is red on the Scenarios map as on the Traffic page's."""
    from dashboards.figures import congestion_figure

    way = int(pd.Series(basemap.way).value_counts().index[0])
    closure = [f"way:{way}"]
    edges = closed_edges(closure, ways=basemap.way, index=basemap.edge_index)
    assert len(edges) > 1

    def red(figure) -> tuple:
        (trace,) = [t for t in figure.data if t.name == "closed"]
        return tuple(np.nan_to_num(np.asarray(trace.x, dtype=float), nan=-1.0))

    lon, _ = basemap.drawn_lines(edges)
    scenarios = red(network_figure(basemap, closed=closure))
    assert scenarios == tuple(np.nan_to_num(np.asarray(lon, dtype=float), nan=-1.0))
    assert scenarios == red(congestion_figure(basemap, None, None, closed=closure))
    # the two kinds of closure together, each street once
    both = network_figure(basemap, closed=[*closure, basemap.ref[edges[0]]])
    assert red(both) == scenarios


def test_an_uploaded_scenario_naming_streets_the_city_lacks_is_refused(state):
    """Refused as `twin run` refuses it, with the twin's words and the file's lines: a closure
    the map lacks could never be reopened by a click, and every run would stop on it."""
    from dashboards.pages.scenarios import _uploaded

    network = state.city.network
    signal = int(network.node_osmid[network.node_signalized][0])
    text = (
        "name: ghost\ncity: helsinki\ntraffic:\n  trips: 5\n"
        "  close: ['999-888', 'way:1']\n"
        "  change:\n    - {edge: '777-666', speed_kph: 20}\n"
        f"  signals:\n    - {{node: 12345, greens_s: [20, 20]}}\n"
        f"    - {{node: {signal}, greens_s: [20, 20]}}\n"
    )
    with pytest.raises(UploadError) as refused:
        _uploaded(state, _upload(text.encode()), "ghost.yaml")
    lines = str(refused.value).splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("ghost.yaml:5: traffic.close.0: Edge '999-888' names a node")
    assert lines[1].startswith("ghost.yaml:5: traffic.close.1: OSM way 1 is not part")
    assert lines[2].startswith("ghost.yaml:7: traffic.change.0: Edge '777-666'")
    assert lines[3].startswith("ghost.yaml:9: traffic.signals.0: node 12345 is not a signal")
    assert "/tmp" not in str(refused.value)
    # the streets it names once they are the city's: read as before
    edge = state.basemap.ref[0]
    good = text.replace("999-888", edge).replace("way:1", f"way:{int(state.basemap.way[0])}")
    good = good.replace("777-666", edge).replace("node: 12345, ", f"node: {signal}, ")
    assert _uploaded(state, _upload(good.encode()), "ghost.yaml").traffic.close[0] == edge


def test_the_signal_editor_shows_default_greens_at_a_tenth_of_a_second_in_valid_fields(state):
    """Junction 25292451's default greens are 13.6667 s and 68.3333 s: the editor shows 13.7
    and 68.3 (the cycle kept), in fields whose step does not mark them invalid."""
    from dashboards.pages.scenarios import cycle_text, signal_editor

    node = 25292451
    info = state.signal_plan(node)
    assert info.greens_s == pytest.approx([41 / 3, 205 / 3])
    editor = signal_editor(state, node, [])
    fields = [c for c in _components(editor) if isinstance(getattr(c, "id", None), dict)]
    assert [f.value for f in fields] == [13.7, 68.3]
    assert all(f.step == "any" for f in fields)
    cells = [c.children for c in _components(editor) if type(c).__name__ == "Td"]
    assert "13.7 s" in cells and "68.3 s" in cells
    assert cycle_text([f.value for f in fields], info.lost_time_s).startswith("Cycle 90 s")
    # rounding each alone would lengthen a cycle of three equal phases; the sum is kept
    assert rounded_greens([80 / 3] * 3) == [26.7, 26.7, 26.6]
    assert rounded_greens([13.7, 68.3, 40.0]) == [13.7, 68.3, 40.0]


def _components(component) -> list:
    """A Dash component and every component under it."""
    found = [component]
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found += _components(child)
    return found


def test_trucks_are_numbered_from_one_on_the_waste_and_the_proposal_maps(basemap):
    """The model's route tables number trucks from 0, a proposal's stops (and its field
    documents, truck-1.gpx) from 1: both maps say truck 1 for the first."""
    import shapely

    from dashboards.figures import routes_figure, stop_lines

    line = shapely.LineString([(24.94, 60.17), (24.95, 60.17)])
    model = pd.DataFrame(
        {"day": [0, 0], "truck": [0, 1], "distance_km": [1.0, 2.0], "geometry": [line, line]}
    )
    names = [trace.name for trace in routes_figure(basemap, {"pyvrp": model}, None, day=0).data]
    assert "truck 1: 1.0 km" in names and "truck 2: 2.0 km" in names
    stops = pd.DataFrame({"truck": [1, 1, 2], "order": [0, 1, 0], "km": [0.0, 3.0, 4.0]})
    paths = {"1": [[24.94, 60.17], [24.95, 60.17]], "2": [[24.94, 60.17], [24.95, 60.18]]}
    proposed = stop_lines(stops, paths)
    assert proposed["truck"].tolist() == [0, 1]
    names = [t.name for t in routes_figure(basemap, {"p": proposed}, None, day=None).data]
    assert "truck 1: 3.0 km" in names and "truck 2: 4.0 km" in names


def test_the_bins_a_rounds_file_names_download_with_their_numbers(tmp_path):
    from dashboards.pages.waste import bins_csv
    from twin.api import run_waste
    from twin.rounds import read_rounds

    run = run_waste("helsinki", days=2, seed=5, trucks=2, policy="hand-drawn")
    run.write(tmp_path / "run")
    table = pd.read_csv(io.StringIO(bins_csv(tmp_path / "run" / "bins.parquet")))
    assert table.columns.tolist()[:3] == ["bin", "lon", "lat"]
    assert table["bin"].tolist() == list(range(len(run.result.bins)))
    # a round written from the download by position drives the very bins it names by number
    first = table.iloc[:3]
    by_number = tmp_path / "by-number.csv"
    by_number.write_text(
        "weekday,truck,stop,bin\n"
        + "".join(f"Mon,1,{k + 1},{b}\n" for k, b in enumerate(first["bin"]))
    )
    by_position = tmp_path / "by-position.csv"
    by_position.write_text(
        "weekday,truck,stop,lon,lat\n"
        + "".join(f"Mon,1,{k + 1},{r.lon},{r.lat}\n" for k, r in enumerate(first.itertuples()))
    )
    driven = [
        run_waste("helsinki", days=2, seed=5, trucks=2, policy="current", rounds=str(path))
        for path in (by_number, by_position)
    ]
    assert read_rounds(by_number) and driven[0].kpis["truck_km"] == driven[1].kpis["truck_km"]
    assert driven[0].kpis["bins_emptied"] == 3


def test_a_citys_first_draft_is_named_after_it():
    from dashboards.logic import draft_name
    from dashboards.store import scenario_file_name

    # saved scenarios and their audit logs of two cities do not meet under one name
    assert draft_name("helsinki") == "helsinki-plan"
    assert draft_name("/srv/uploads/1f2e/andorra.osm.pbf") == "andorra-plan"
    # whatever the file is called, the name is one the store saves
    for odd in ("/a/My City (2).osm", "/a/___.osm.pbf", "/a/" + "x" * 300 + ".osm"):
        assert scenario_file_name(draft_name(odd)).endswith("-plan.yaml")
