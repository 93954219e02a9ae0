"""Reading OSM files: every format gives the same data, and pyrosm agrees on what is there."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cities import read_osm, resolve
from cities.city import load_city
from tests.conftest import shared_extract, write_osm


@pytest.fixture(scope="module")
def helsinki_formats(tmp_path_factory) -> dict[str, object]:
    """The bundled Helsinki extract rewritten in every supported format by libosmium."""
    source = resolve("helsinki").path
    folder = tmp_path_factory.mktemp("formats")
    paths = {"pbf": source}
    for suffix in (".osm", ".osm.gz", ".osm.bz2"):
        paths[suffix] = write_osm(source, folder / f"helsinki{suffix}")
    return paths


def test_every_format_reads_the_same(helsinki_formats):
    reference = read_osm(helsinki_formats["pbf"])
    for fmt, path in helsinki_formats.items():
        extract = read_osm(path)
        np.testing.assert_array_equal(extract.way_ids, reference.way_ids, fmt)
        np.testing.assert_array_equal(extract.node_ids, reference.node_ids, fmt)
        np.testing.assert_allclose(extract.lon, reference.lon, atol=1e-7)
        np.testing.assert_allclose(extract.lat, reference.lat, atol=1e-7)
        np.testing.assert_array_equal(extract.signal_node_ids, reference.signal_node_ids)
        assert len(extract.features) == len(reference.features)


def test_every_format_builds_the_same_network(helsinki_formats, tmp_path):
    networks = [load_city(p, cache_dir=tmp_path).network for p in helsinki_formats.values()]
    for network in networks[1:]:
        np.testing.assert_array_equal(network.node_osmid, networks[0].node_osmid)
        np.testing.assert_allclose(network.edge_length_m, networks[0].edge_length_m)


@pytest.mark.parametrize("city", ["helsinki", "aguascalientes"])
def test_highway_ways_agree_with_pyrosm(city):
    """pyrosm, an independent PBF reader, finds the same highway ways."""
    import pyrosm

    path = resolve(city).path if city == "helsinki" else shared_extract(city)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ways = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
            custom_filter={"highway": True},
            filter_type="keep",
            keep_nodes=False,
            keep_relations=False,
        )
    assert set(np.unique(read_osm(path).way_ids)) == set(ways["id"].astype(np.int64))


def test_features_of_a_full_extract():
    extract = read_osm(shared_extract("aguascalientes"))
    buildings = extract.features[extract.features["key"] == "building"]
    assert len(buildings) > 0 and (buildings["area_m2"] > 0).all()
    # centroids fall inside the extract's road bounding box (give or take a block)
    assert buildings["lon"].between(extract.lon.min() - 0.01, extract.lon.max() + 0.01).all()
    assert buildings["lat"].between(extract.lat.min() - 0.01, extract.lat.max() + 0.01).all()


def test_clipped_extract_keeps_the_pieces():
    """Helsinki's extract is clipped: ways that leave the file are split, not dropped."""
    extract = read_osm(resolve("helsinki").path)
    assert extract.missing_node_refs > 0
    lengths = np.diff(extract.way_offsets)
    assert (lengths >= 2).all()
    assert len(extract.way_ids) > len(np.unique(extract.way_ids))  # some ways became pieces
