"""The on-disk city cache: identical results, keyed by content, robust to damage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cities import resolve
from twin import cache
from twin.city import load_city


def _same(a, b):
    for name in vars(a.network):
        if name.startswith(("node_", "edge_")) and name != "edge_geometry":
            np.testing.assert_array_equal(getattr(a.network, name), getattr(b.network, name))
    np.testing.assert_array_equal(a.context.home_weight, b.context.home_weight)
    np.testing.assert_array_equal(a.context.work_weight, b.context.work_weight)
    assert a.network.crs == b.network.crs


def test_second_load_comes_from_cache_and_is_identical(tmp_path):
    first = load_city("helsinki", cache_dir=tmp_path)
    second = load_city("helsinki", cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    _same(first, second)
    entries = [p for p in tmp_path.iterdir()]
    assert len(entries) == 1 and entries[0].name.startswith(first.source.sha256[:24])


def test_key_is_file_content_not_name(tmp_path):
    original = resolve("helsinki").path
    copy = tmp_path / "renamed.osm.pbf"
    shutil.copy(original, copy)
    load_city("helsinki", cache_dir=tmp_path / "cache")
    assert load_city(copy, cache_dir=tmp_path / "cache").from_cache
    copy.write_bytes(resolve("kotka").path.read_bytes())  # same name, other content
    assert not load_city(copy, cache_dir=tmp_path / "cache").from_cache


def test_damaged_entry_is_rebuilt(tmp_path):
    first = load_city("helsinki", cache_dir=tmp_path)
    entry = cache.entry_dir(tmp_path, first.source.sha256)
    (entry / "edges.parquet").write_bytes(b"not parquet")
    again = load_city("helsinki", cache_dir=tmp_path)
    assert not again.from_cache
    _same(first, again)
    assert load_city("helsinki", cache_dir=tmp_path).from_cache


def test_no_cache_writes_nothing(tmp_path):
    load_city("helsinki", cache_dir=tmp_path, use_cache=False)
    assert not any(tmp_path.iterdir())


def test_failed_build_writes_nothing(tmp_path):
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(Exception, match="corrupt"):
        load_city(bad, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
