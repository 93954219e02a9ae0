"""CLI and loader edge cases: markup-like text, unwritable caches, upper-case file endings."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from cities import resolve
from cities.city import load_city
from tests.conftest import twin_command
from twin.errors import TwinError


def _run(*args, env=None):
    return subprocess.run(
        [*twin_command(), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_error_text_is_not_read_as_markup():
    result = _run("city", "info", "[/red]")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "[/red]" in lines[0]
    assert "Traceback" not in result.stderr


def test_unwritable_cache_gives_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**os.environ, "TWIN_CACHE_DIR": str(blocker / "cache")}
    result = _run("city", "info", "helsinki", "--json", env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "TWIN_CACHE_DIR" in result.stderr and "--no-cache" in result.stderr
    with pytest.raises(TwinError, match="Cannot write the city cache"):
        load_city("helsinki", cache_dir=blocker / "cache")


def test_upper_case_ending_reads(tmp_path):
    upper = tmp_path / "HELSINKI.OSM.PBF"
    shutil.copy(resolve("helsinki").path, upper)
    reference = load_city("helsinki", use_cache=False).network
    assert load_city(upper, use_cache=False).network.n_edges == reference.n_edges
