"""Waste bins on real extracts: conservation of waste, positions, mapped containers, placement by
homes, determinism, the day-to-day noise model and bad input."""

from __future__ import annotations

import math

import numpy as np
import osmium
import pyproj
import pytest

from agents.waste.bins import (
    BULK_DENSITY_KG_M3,
    COMMERCIAL_WASTE_SHARE,
    CONTAINER_LITRES,
    FILL_NOISE_CV,
    KG_PER_PERSON_DAY,
    MAX_BIN_SNAP_M,
    MAX_CONTAINERS_PER_POINT,
    MIN_DAYS_TO_FULL,
    OSM_CONTAINER_KINDS,
    WEEKDAY_FACTORS,
    Bins,
    daily_generation,
    estimate_population,
    place_bins,
)
from twin.errors import TwinError

CITIES = ("helsinki", "liechtenstein")
SMALL_POPULATION = 100.0  # few enough residents that the handful of mapped containers suffice


def _place(city, seed=0, **options) -> Bins:
    return place_bins(city.network, city.context, rng=np.random.default_rng(seed), **options)


def _brute_nearest(network, x, y):
    dx = np.asarray(x)[:, None] - network.node_x[None, :]
    dy = np.asarray(y)[:, None] - network.node_y[None, :]
    distance = np.hypot(dx, dy)
    return distance.argmin(axis=1), distance.min(axis=1)


def _mapped_in_file(path, network, kinds) -> set[int]:
    """OSM ids of container nodes read straight from the file, within reach of the network."""
    ids, lon, lat = [], [], []
    tag_filter = osmium.filter.TagFilter(*[("amenity", k) for k in kinds])
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(tag_filter):
        ids.append(node.id)
        lon.append(node.location.lon)
        lat.append(node.location.lat)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    x, y = to_metric.transform(np.array(lon), np.array(lat))
    _, distance = _brute_nearest(network, x, y)
    return {i for i, d in zip(ids, distance, strict=True) if d <= MAX_BIN_SNAP_M}


@pytest.mark.parametrize("name", CITIES)
def test_daily_waste_is_conserved(name, request):
    city = request.getfixturevalue(name)
    placed = _place(city)
    expected = estimate_population(city.network, city.context) * KG_PER_PERSON_DAY
    assert placed.daily_kg.sum() == pytest.approx(expected, rel=1e-9)
    assert set(placed.kind) == {"placed"}
    mapped = _place(city, population=SMALL_POPULATION, kg_per_person_day=1.3)
    assert set(mapped.kind) <= set(OSM_CONTAINER_KINDS)
    assert mapped.daily_kg.sum() == pytest.approx(SMALL_POPULATION * 1.3, rel=1e-9)


@pytest.mark.parametrize("name", CITIES)
def test_bins_stand_at_their_nearest_node(name, request):
    city = request.getfixturevalue(name)
    network = city.network
    for bins in (_place(city), _place(city, population=SMALL_POPULATION)):
        bins.validate(n_nodes=network.n_nodes)
        nearest, distance = _brute_nearest(network, bins.x, bins.y)
        np.testing.assert_array_equal(bins.node, nearest)
        assert distance.max() <= MAX_BIN_SNAP_M
        assert np.all((bins.node >= 0) & (bins.node < network.n_nodes))


@pytest.mark.parametrize("name", CITIES)
def test_mapped_containers_match_the_file(name, request):
    city = request.getfixturevalue(name)
    bins = _place(city, population=SMALL_POPULATION)
    expected = _mapped_in_file(city.source.path, city.network, OSM_CONTAINER_KINDS)
    assert len(expected) >= 2  # the test needs mapped containers to mean something
    assert sorted(bins.osm_id.tolist()) == sorted(expected)
    litres = np.array([CONTAINER_LITRES[k] for k in bins.kind])
    np.testing.assert_allclose(bins.capacity_kg, litres / 1000 * BULK_DENSITY_KG_M3)
    assert np.all(bins.containers == 1)


def test_litter_baskets_only_on_request(liechtenstein):
    kinds = (*OSM_CONTAINER_KINDS, "waste_basket")
    bins = _place(liechtenstein, population=SMALL_POPULATION, osm_kinds=kinds)
    expected = _mapped_in_file(liechtenstein.source.path, liechtenstein.network, kinds)
    assert sorted(bins.osm_id.tolist()) == sorted(expected)
    assert "waste_basket" in set(bins.kind)


def test_too_few_mapped_containers_fall_back_to_placement(liechtenstein):
    # a few mapped containers cannot serve tens of thousands of residents
    assert set(_place(liechtenstein, population=50_000).kind) == {"placed"}
    assert set(_place(liechtenstein, population=SMALL_POPULATION, use_osm=False).kind) == {"placed"}


@pytest.mark.parametrize("name", CITIES)
def test_placed_bins_follow_homes(name, request):
    city = request.getfixturevalue(name)
    network, context = city.network, city.context
    population = 20_000.0
    bins = _place(city, population=population, residents_per_bin=20)
    # the draw's containers, plus those added where a catchment would fill them too fast
    assert bins.containers.sum() >= math.ceil(population / 20)
    np.testing.assert_allclose(bins.capacity_kg, bins.containers * 1.1 * BULK_DENSITY_KG_M3)
    # a node's containers are split into as few points as MAX_CONTAINERS_PER_POINT allows
    assert bins.containers.max() <= MAX_CONTAINERS_PER_POINT
    containers = np.bincount(bins.node, weights=bins.containers, minlength=network.n_nodes)
    points = np.bincount(bins.node, minlength=network.n_nodes)
    np.testing.assert_array_equal(points, np.ceil(containers / MAX_CONTAINERS_PER_POINT))
    assert np.all(context.home_weight[bins.node] > 0)
    order = np.argsort(-context.home_weight, kind="stable")
    dense, sparse = order[: len(order) // 2], order[len(order) // 2 :]
    assert containers[dense].sum() > 4 * containers[sparse].sum()


@pytest.mark.parametrize("name", CITIES)
def test_bins_serve_the_homes_nearest_to_them(name, request):
    """Recompute each bin's share of the waste by brute force: every node's home and work weight
    goes to the nearest stop, and the points at one stop split it by capacity."""
    city = request.getfixturevalue(name)
    network, context = city.network, city.context
    bins = _place(city, population=10_000.0)
    stops, stop_of_bin = np.unique(bins.node, return_inverse=True)
    dx = network.node_x[:, None] - network.node_x[stops][None, :]
    dy = network.node_y[:, None] - network.node_y[stops][None, :]
    nearest = np.hypot(dx, dy).argmin(axis=1)
    split = bins.capacity_kg / np.bincount(stop_of_bin, weights=bins.capacity_kg)[stop_of_bin]
    home = np.bincount(nearest, weights=context.home_weight, minlength=len(stops))
    home = home[stop_of_bin] * split
    work = np.bincount(nearest, weights=context.work_weight, minlength=len(stops))
    work = work[stop_of_bin] * split
    share = (1 - COMMERCIAL_WASTE_SHARE) * home + COMMERCIAL_WASTE_SHARE * work
    np.testing.assert_allclose(bins.daily_kg, 10_000.0 * KG_PER_PERSON_DAY * share, rtol=1e-9)
    # no stop fills up in under MIN_DAYS_TO_FULL days, and no more containers were added than
    # that takes (a stop above the minimum has only what the draw put there)
    stop_capacity = np.bincount(stop_of_bin, weights=bins.capacity_kg)
    stop_waste = np.bincount(stop_of_bin, weights=bins.daily_kg)
    assert np.all(stop_capacity >= stop_waste * MIN_DAYS_TO_FULL - 1e-6)
    # bins in dense areas fill faster: the draw follows homes, catchments add their surroundings
    days_to_full = stop_capacity / stop_waste
    assert days_to_full.max() > 2 * MIN_DAYS_TO_FULL
    commercial = COMMERCIAL_WASTE_SHARE * work / share
    assert np.all(bins.land_use[commercial >= 0.5] == "commercial")
    assert np.all(bins.land_use[commercial < 0.25] == "residential")


def test_same_seed_same_bins(liechtenstein):
    first, again = _place(liechtenstein, seed=7), _place(liechtenstein, seed=7)
    for column in ("node", "x", "y", "capacity_kg", "daily_kg", "containers"):
        np.testing.assert_array_equal(getattr(first, column), getattr(again, column))
    assert list(first.land_use) == list(again.land_use)
    other = _place(liechtenstein, seed=8)
    assert len(other) != len(first) or not np.array_equal(other.node, first.node)


def test_daily_generation_noise_model(liechtenstein):
    bins = _place(liechtenstein)
    bins = bins.subset(bins.daily_kg > 0)
    rng = np.random.default_rng(3)
    days = 70
    generated = np.stack([daily_generation(bins, day, rng) for day in range(days)])
    assert np.all(generated >= 0)
    # over whole weeks the mean is daily_kg × the mean weekday factor (1)
    assert WEEKDAY_FACTORS.mean() == pytest.approx(1.0, abs=1e-12)
    assert generated.mean(axis=0) / bins.daily_kg == pytest.approx(
        np.ones(len(bins)), abs=5 * FILL_NOISE_CV / math.sqrt(days)
    )
    # the noise itself: ratio to the expected value has mean 1 and the documented CV
    expected = bins.daily_kg[None, :] * WEEKDAY_FACTORS[np.arange(days) % 7][:, None]
    ratio = (generated / expected).ravel()
    n = ratio.size
    assert ratio.mean() == pytest.approx(1.0, abs=5 * FILL_NOISE_CV / math.sqrt(n))
    assert ratio.std() / ratio.mean() == pytest.approx(FILL_NOISE_CV, rel=0.05)
    # lognormal: the log of the ratio is normal with sigma² = ln(1 + cv²)
    assert np.log(ratio).std() == pytest.approx(math.sqrt(math.log1p(FILL_NOISE_CV**2)), rel=0.02)
    # the weekday pattern shows in the city's totals: Mondays above Wednesdays
    totals = generated.sum(axis=1)
    assert totals[0::7].mean() / totals[2::7].mean() == pytest.approx(
        WEEKDAY_FACTORS[0] / WEEKDAY_FACTORS[2], rel=0.02
    )
    # deterministic for a given generator
    a = daily_generation(bins, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(a, daily_generation(bins, 5, np.random.default_rng(1)))


def test_frame_subset_and_validation(helsinki):
    bins = _place(helsinki)
    frame = bins.to_frame()
    assert len(frame) == len(bins)
    assert {"node", "x", "y", "capacity_kg", "daily_kg", "kind", "osm_id", "land_use"} <= set(
        frame.columns
    )
    part = bins.subset(np.arange(3))
    assert len(part) == 3 and part.node.tolist() == bins.node[:3].tolist()
    broken = bins.subset(np.arange(len(bins)))
    broken.capacity_kg[0] = 0.0
    with pytest.raises(ValueError, match="capacity_kg"):
        broken.validate()
    broken = bins.subset(np.arange(len(bins)))
    broken.osm_id[0] = 42
    with pytest.raises(ValueError, match="osm_id"):
        broken.validate()
    with pytest.raises(ValueError, match="node"):
        bins.validate(n_nodes=int(bins.node.max()))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("residents_per_bin", 0),
        ("residents_per_bin", -5.0),
        ("residents_per_bin", float("nan")),
        ("kg_per_person_day", 0.0),
        ("kg_per_person_day", float("inf")),
        ("container_kg", -1.0),
        ("population", 0),
        ("population", "many"),
    ],
)
def test_bad_input_names_the_parameter(helsinki, option, value):
    with pytest.raises(TwinError, match=rf"{option} must be a positive number.*got '?{value}"):
        _place(helsinki, **{option: value})


def test_unknown_osm_kind(helsinki):
    with pytest.raises(TwinError, match=r"osm_kinds.*dumpster"):
        _place(helsinki, osm_kinds=("dumpster",))
