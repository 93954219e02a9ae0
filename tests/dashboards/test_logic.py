"""Callback logic without a browser, on the real twin: drafts, closures, comparisons, uploads,
the store and the runner."""

from __future__ import annotations

import base64

import numpy as np
import pytest

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
    parse_signals,
    policies,
    scenario_from_draft,
    section_only,
    street_refs,
    toggle_closure,
    trip_changes,
)
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import RunStore, StoreError, scenario_file_name
from twin.api import Twin
from twin.scenario import ScenarioError, load_scenario

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
    assert updated["waste"]["policy"] == "pyvrp"
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


def test_sections_split_for_the_traffic_and_waste_pages():
    draft = default_draft("helsinki", SMALL)
    traffic = section_only(draft, "traffic")
    waste = section_only(draft, "waste", policy="schedule")
    assert traffic.waste is None and traffic.traffic is not None
    assert waste.traffic is None and waste.waste.policy == "schedule"


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


def test_every_page_lays_out_on_the_city(state):
    from dashboards.app import PAGES

    for page in PAGES:
        assert page.layout(state) is not None, page.PATH
