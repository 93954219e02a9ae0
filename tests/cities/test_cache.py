"""The on-disk city cache: identical results, keyed by content, robust to damage, to another
city's files under this city's name, and to builds killed half-way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from cities import cache, resolve
from cities.city import load_city


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


def test_entry_of_another_city_is_not_loaded_as_this_city(tmp_path):
    """An entry whose files were built from another source (copied or renamed into this city's
    place) is rebuilt from this city's file, not loaded as this city."""
    helsinki = load_city("helsinki", cache_dir=tmp_path)
    kotka = load_city("kotka", cache_dir=tmp_path)
    entry = cache.entry_dir(tmp_path, helsinki.source.sha256)
    shutil.rmtree(entry)
    shutil.copytree(cache.entry_dir(tmp_path, kotka.source.sha256), entry)
    assert cache.read(entry, sha256=helsinki.source.sha256) is None
    assert not entry.exists()  # removed as broken
    shutil.copytree(cache.entry_dir(tmp_path, kotka.source.sha256), entry)
    again = load_city("helsinki", cache_dir=tmp_path)
    assert not again.from_cache
    assert again.network.n_nodes == helsinki.network.n_nodes != kotka.network.n_nodes
    _same(helsinki, again)
    assert json.loads((entry / "meta.json").read_text())["sha256"] == helsinki.source.sha256
    assert load_city("helsinki", cache_dir=tmp_path).from_cache


def test_an_entry_is_never_written_under_another_sources_name(tmp_path):
    city = load_city("kotka", cache_dir=tmp_path)
    wrong = cache.entry_dir(tmp_path, resolve("helsinki").sha256)
    with pytest.raises(ValueError, match="another source"):
        cache.write(wrong, city.network, city.context, {"sha256": city.source.sha256})
    assert not wrong.exists()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staging_folders_of_killed_builds_are_removed_on_the_next_use(tmp_path):
    host = cache.owner_tag().split("@", 1)[1]
    load_city("helsinki", cache_dir=tmp_path)
    live = subprocess.Popen(["sleep", "120"])
    try:
        dead = tmp_path / f".staging-{_dead_pid()}@{host}-k1ll3d_x"
        alive = tmp_path / f".staging-{live.pid}@{host}-bu1ld1ng"
        elsewhere = tmp_path / f".staging-{live.pid}@another-machine-bu1ld1ng"
        old = tmp_path / ".staging-abcd_123"  # an older version's name, two days old
        for folder in (dead, alive, elsewhere, old):
            folder.mkdir()
            (folder / "nodes.parquet").write_bytes(b"PAR1")
        then = time.time() - 2 * 86400
        os.utime(old, (then, then))
        assert load_city("helsinki", cache_dir=tmp_path).from_cache  # a use, not a build
        assert not dead.exists() and not old.exists()
        assert alive.exists() and elsewhere.exists()
    finally:
        live.kill()
        live.wait()
