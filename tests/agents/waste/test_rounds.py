"""A city's rounds put on the twin's bins: stops by number, position or GPS track; collection
points ordered into rounds; and every row the twin cannot drive named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.waste.bins import WEEKDAY_FACTORS, place_bins
from agents.waste.model import WasteConfig, WasteModel, bin_streets
from agents.waste.planning import GreedyPlanner
from agents.waste.policies import UNLOAD
from agents.waste.rounds import SNAP_M, RoundsError, match_rounds
from agents.waste.sites import locate_sites

STOP_COLUMNS = ["source", "weekday", "truck", "order", "bin", "lon", "lat", "unload"]
NO_TRACKS = pd.DataFrame(columns=["source", "weekday", "truck", "lonlat"])


@pytest.fixture(scope="module")
def town(helsinki):
    network = helsinki.network
    bins = place_bins(network, helsinki.context, rng=np.random.default_rng(0))
    sites = locate_sites(network, helsinki.context, city=helsinki.name)
    probe = WasteModel(
        network, bins, sites, config=WasteConfig(days=1, n_trucks=2), planner=GreedyPlanner()
    )
    lon, lat = network.to_lonlat_transformer().transform(bins.x, bins.y)
    return {
        "network": network,
        "bins": bins,
        "sites": sites,
        "service_s": probe.service_s,
        "lonlat": np.column_stack([lon, lat]),
    }


def _match(town, stops, tracks=NO_TRACKS, *, reachable=None, capacity=10_000.0):
    bins, network, sites = town["bins"], town["network"], town["sites"]
    return match_rounds(
        pd.DataFrame(stops, columns=STOP_COLUMNS), tracks, bins=bins, network=network,
        disposal_node=sites.disposal_node,
        reachable=np.ones(len(bins), bool) if reachable is None else reachable,
        street=bin_streets(network, bins),
        depot_xy=(network.node_x[sites.depot_node], network.node_y[sites.depot_node]),
        service_s=town["service_s"], truck_capacity_kg=capacity, shift_s=8 * 3600.0,
        label="rounds.csv",
    )  # fmt: skip


def _stop(source, weekday, truck, order, *, bin="", lonlat=(np.nan, np.nan), unload=False):
    return [source, weekday, truck, order, bin, lonlat[0], lonlat[1], unload]


def _unique_position_bins(town, n):
    """Bins that stand alone (no other bin within the snapping distance)."""
    xy = np.column_stack([town["bins"].x, town["bins"].y])
    far = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    np.fill_diagonal(far, np.inf)
    alone = np.flatnonzero(far.min(axis=1) > SNAP_M)
    assert len(alone) >= n
    return alone[:n]


def test_stops_by_number_and_position_become_the_trucks_rounds(town):
    a, b, c = _unique_position_bins(town, 3)
    stops = [
        _stop("line 2", 0, "1", 1, bin=str(a)),
        _stop("line 3", 0, "1", 2, lonlat=town["lonlat"][b] + 1e-5),  # a metre or so off
        _stop("line 4", 0, "1", 3, unload=True),
        _stop("line 5", 3, "2", 1, bin=str(c)),
    ]
    matched = _match(town, stops)
    assert matched.n_trucks == 1
    assert [r.tolist() for r in matched.rounds[0]] == [[a, b, UNLOAD]]
    assert [r.tolist() for r in matched.rounds[3]] == [[c]]
    assert matched.trucks[3] == ("2",)


def test_a_track_collects_the_bins_it_passes_in_order_and_unloads_at_the_tip(town):
    a, b = _unique_position_bins(town, 2)
    network, sites = town["network"], town["sites"]
    tip = network.to_lonlat_transformer().transform(
        network.node_x[sites.disposal_node], network.node_y[sites.disposal_node]
    )
    path = np.array([town["lonlat"][b], town["lonlat"][a], tip])
    tracks = pd.DataFrame(
        [["track 1", 1, "1", path]], columns=["source", "weekday", "truck", "lonlat"]
    )
    matched = _match(town, [], tracks)
    route = matched.rounds[1][0].tolist()
    assert route.index(b) < route.index(a) < route.index(UNLOAD)


def test_collection_points_are_ordered_into_rounds(town):
    points = [_stop(f"line {k + 2}", 2, "", -1, bin=str(k)) for k in range(40)]
    matched = _match(town, points)
    stops = np.concatenate(matched.rounds[2])
    assert sorted(stops[stops >= 0].tolist()) == list(range(40))
    assert all(r[-1] == UNLOAD for r in matched.rounds[2])


def test_collection_points_given_a_truck_make_that_trucks_round(town):
    # 40 points: the first 15 truck A's, the next 15 truck B's, the last 10 nobody's; the
    # labelled points keep to their trucks, whatever a sweep of all 40 would cut
    trucks = ["A"] * 15 + ["B"] * 15 + [""] * 10
    points = [_stop(f"line {k + 2}", 2, t, -1, bin=str(k)) for k, t in enumerate(trucks)]
    matched = _match(town, points)
    labels = matched.trucks[2]
    served = {t: set(r[r >= 0].tolist()) for t, r in zip(labels, matched.rounds[2], strict=True)}
    assert served.pop("A") == set(range(15)) and served.pop("B") == set(range(15, 30))
    assert all(t.startswith("drawn") for t in served)
    assert set().union(*served.values()) == set(range(30, 40))
    assert matched.n_trucks == len(labels)


def test_a_truck_with_stops_and_collection_points_on_one_day_is_named(town):
    stops = [_stop("line 2", 1, "A", 1, bin="3"), _stop("line 3", 1, "A", -1, bin="4")]
    with pytest.raises(RoundsError) as error:
        _match(town, stops)
    assert "line 3: gives truck 'A' collection points on Tuesday" in str(error.value)


@pytest.mark.parametrize(
    ("stops", "expected"),
    [
        ([_stop("line 2", 0, "1", 1, bin="99999")], "line 2: names bin '99999'"),
        ([_stop("line 2", 0, "1", 1, bin="7b")], "line 2: names bin '7b'"),
        ([_stop("line 2", 5, "1", 1, bin="3")], "line 2: is on a Saturday"),
        (
            [_stop("line 2", 0, "1", 1, lonlat=(2.35, 48.85))],
            "line 2: (2.35000, 48.85000) lies outside the city's network",
        ),
        (
            [_stop("line 2", 0, "1", 1, bin="3"), _stop("line 7", 0, "2", 1, bin="3")],
            "line 7: collects bin 3 on Monday, which line 2 collects that day too",
        ),
    ],
)
def test_rows_the_twin_cannot_drive_are_named(town, stops, expected):
    with pytest.raises(RoundsError) as error:
        _match(town, stops)
    assert str(error.value).startswith("rounds.csv, ")
    assert expected in str(error.value)


def test_a_position_far_from_every_bin_is_named(town):
    """The spot of a grid over the city farthest from any bin."""
    from pyproj import Transformer

    west, south, east, north = town["network"].bbox_lonlat
    grid = np.stack(
        np.meshgrid(np.linspace(west, east, 40), np.linspace(south, north, 40)), -1
    ).reshape(-1, 2)
    forward = Transformer.from_crs("EPSG:4326", town["network"].crs, always_xy=True)
    gx, gy = forward.transform(grid[:, 0], grid[:, 1])
    bins = town["bins"]
    nearest = np.hypot(gx[:, None] - bins.x, gy[:, None] - bins.y).min(axis=1)
    assert nearest.max() > SNAP_M
    spot = grid[np.argmax(nearest)]
    with pytest.raises(RoundsError, match=r"line 4: no bin within 50 m .*the nearest is \d+ m"):
        _match(town, [_stop("line 4", 0, "1", 1, lonlat=spot)])


def test_an_unreachable_stop_is_named(town):
    reachable = np.ones(len(town["bins"]), bool)
    reachable[5] = False
    with pytest.raises(RoundsError, match="line 3: bin 5 cannot be reached"):
        _match(town, [_stop("line 2", 0, "1", 1, bin="4"), _stop("line 3", 0, "1", 2, bin="5")],
               reachable=reachable)  # fmt: skip


def test_a_truck_over_capacity_is_named_and_an_unload_cures_it(town):
    bins = town["bins"]
    # collected only on Mondays, a bin is expected to hold a week's mean waste, at most full
    week = np.minimum(bins.daily_kg * WEEKDAY_FACTORS.sum(), bins.capacity_kg)
    heavy = np.argsort(week)[::-1][:6]
    capacity = float(week[heavy[:3]].sum()) * 0.99  # three of them just do not fit
    rows = [_stop(f"line {k + 2}", 0, "1", k, bin=str(b)) for k, b in enumerate(heavy[:3])]
    with pytest.raises(RoundsError, match=r"line 4: truck '1' would carry .* over its"):
        _match(town, rows, capacity=capacity)
    cured = [
        *rows[:2],
        _stop("line 4", 0, "1", 2, unload=True),
        _stop("line 5", 0, "1", 3, bin=str(heavy[2])),
    ]
    matched = _match(town, cured, capacity=capacity)
    assert matched.rounds[0][0].tolist() == [heavy[0], heavy[1], UNLOAD, heavy[2]]


def test_a_position_repeated_on_one_weekday_is_an_overlap_not_the_next_bin(town):
    (a,) = _unique_position_bins(town, 1)
    where = town["lonlat"][a]
    stops = [_stop("line 2", 0, "1", 1, lonlat=where), _stop("line 5", 0, "2", 1, lonlat=where)]
    said = rf"line 5: stops at \(.*\) on Monday, where 1 bin stands \(bin {a}\), every one taken"
    with pytest.raises(RoundsError, match=said):
        _match(town, stops)


def test_containers_at_one_spot_are_taken_one_row_each(town):
    xy = np.column_stack([town["bins"].x, town["bins"].y])
    spot = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    together = np.flatnonzero((spot < 1e-6).sum(axis=1) >= 2)[0]  # placed bins share nodes
    mates = np.flatnonzero(spot[together] < 1e-6)
    where = town["lonlat"][together]
    rows = [_stop(f"line {k + 2}", 0, "1", k, lonlat=where) for k in range(len(mates))]
    (route,) = _match(town, rows).rounds[0]
    assert sorted(route.tolist()) == sorted(mates.tolist())
    # one row more than the spot has bins: the message counts and names them
    extra = _stop(f"line {len(mates) + 2}", 0, "1", len(mates), lonlat=where)
    named = ", ".join(map(str, sorted(mates.tolist())))
    said = rf"where {len(mates)} bins stand \(bins {named}\), every one taken by earlier rows"
    with pytest.raises(RoundsError, match=said):
        _match(town, [*rows, extra])


def test_a_bin_number_that_does_not_stand_at_its_position_is_named(town):
    a, b = _unique_position_bins(town, 2)
    stop = _stop("line 3", 0, "1", 1, bin=str(a), lonlat=town["lonlat"][b])
    with pytest.raises(RoundsError, match=f"line 3: names bin {a}, which stands .* another seed"):
        _match(town, [stop])
    assert _match(town, [_stop("line 3", 0, "1", 1, bin=str(a), lonlat=town["lonlat"][a])])


@pytest.mark.parametrize("bin_id", ["²", "9" * 5000])
def test_odd_bin_numbers_are_named(town, bin_id):
    with pytest.raises(RoundsError, match="line 2: names bin"):
        _match(town, [_stop("line 2", 0, "1", 1, bin=bin_id)])


def test_rounds_with_only_trips_to_the_tip_are_refused(town):
    with pytest.raises(RoundsError, match="holds no bin to collect"):
        _match(town, [_stop("line 2", 0, "1", 1, unload=True)])


def test_the_tracks_trucks_drove_collect_what_they_emptied_and_tip_where_they_tipped(helsinki):
    """The paths of a day's hand-drawn rounds, driven in the twin, read back as GPS tracks: every
    bin a truck emptied lies on its track, and every tip is an unload."""
    model = WasteModel(
        helsinki.network,
        place_bins(helsinki.network, helsinki.context, rng=np.random.default_rng(0)),
        locate_sites(helsinki.network, helsinki.context, city=helsinki.name),
        config=WasteConfig(days=1, n_trucks=3, policy="hand-drawn"),
    )
    result = model.run()
    network = helsinki.network
    to_lonlat = network.to_lonlat_transformer()
    tracks = []
    for row in result.routes.itertuples():
        nodes = np.concatenate([network.edge_u[row.edges], network.edge_v[row.edges[-1:]]])
        lon, lat = to_lonlat.transform(network.node_x[nodes], network.node_y[nodes])
        tracks.append([f"track {row.truck + 1}", 0, str(row.truck), np.column_stack([lon, lat])])
    town = {
        "network": network, "bins": model.bins, "sites": model.sites,
        "service_s": model.service_s, "lonlat": None,
    }  # fmt: skip
    frame = pd.DataFrame(tracks, columns=["source", "weekday", "truck", "lonlat"])
    matched = _match(town, [], frame)
    collected = set(np.concatenate(matched.rounds[0]).tolist()) - {UNLOAD}
    emptied = {b for t in model.truck_days for b in t.emptied}
    assert emptied <= collected
    for day, route in zip(model.truck_days, matched.rounds[0], strict=True):
        assert int((route == UNLOAD).sum()) >= len(day.unloads_kg)
