"""The ``twin`` command line, run as the installed console script.

``--json`` output is checked against the Python API and against values computed here from the
network's GeoDataFrames and the OSM file itself. Every command is a cold start of a few seconds,
so the module runs them side by side once and the tests read the results.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyproj
import pytest

import twin
from cities import resolve
from tests.conftest import SHARED_CITIES, load, shared_extract, twin_command

SHARED_NAMES = ("aguascalientes", "andorra", "liechtenstein", "sao-paulo-centre")


def run_twin(
    args: list[str], *, cache_dir: Path, cities_path: Path | None = None, columns: int = 80
) -> subprocess.CompletedProcess:
    """Run ``twin ARGS`` with its own cache folder, as from a pipe ``columns`` wide."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"TWIN_CITIES_PATH", "FORCE_COLOR", "COLUMNS", "LINES"}
    }
    env["TWIN_CACHE_DIR"] = str(cache_dir)
    env["COLUMNS"] = str(columns)
    if cities_path is not None:
        env["TWIN_CITIES_PATH"] = str(cities_path)
    result = subprocess.run(
        [*twin_command(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every command of this module, run once; independent ones side by side."""
    base = tmp_path_factory.mktemp("cli")
    info_cache = base / "info-cache"
    shared = SHARED_CITIES if SHARED_CITIES.is_dir() else None

    def info_sequence() -> dict[str, object]:
        """A cold ``city info --json``, then a JSON and a table call served from its cache."""
        first = run_twin(["city", "info", "--json"], cache_dir=info_cache)
        after_first = _snapshot(info_cache)
        with ThreadPoolExecutor(max_workers=2) as pool:
            second = pool.submit(run_twin, ["city", "info", "--json"], cache_dir=info_cache)
            plain = pool.submit(run_twin, ["city", "info"], cache_dir=info_cache)
            results = {"first": first, "second": second.result(), "plain": plain.result()}
        return {**results, "after_first": after_first, "after_second": _snapshot(info_cache)}

    jobs = {
        "info": info_sequence,
        # the table with the search path set where the shared folder exists (one cold start
        # less); wide enough that no name wraps
        "cities": lambda: run_twin(
            ["cities"], cache_dir=base / "c1", cities_path=shared, columns=200
        ),
        "cities-json": lambda: run_twin(["cities", "--json"], cache_dir=base / "c2"),
        "version": lambda: run_twin(["--version"], cache_dir=base / "c3"),
    }
    if shared is not None:
        jobs["shared-cities-json"] = lambda: run_twin(
            ["cities", "--json"], cache_dir=base / "c5", cities_path=shared
        )
        jobs["shared-info"] = lambda: run_twin(
            ["city", "info", "aguascalientes", "--json"], cache_dir=base / "c6", cities_path=shared
        )
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def _shared_run(runs: dict[str, object], key: str) -> subprocess.CompletedProcess:
    if key not in runs:
        pytest.skip(f"shared extracts folder {SHARED_CITIES} not available")
    return runs[key]


def _one_json_document(result: subprocess.CompletedProcess) -> object:
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1, result.stdout
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------- twin cities
def test_cities_json_lists_the_bundled_cities(runs: dict[str, object]) -> None:
    rows = _one_json_document(runs["cities-json"])
    assert [row["name"] for row in rows] == ["helsinki", "kotka"]
    helsinki, kotka = rows
    assert helsinki["default"] is True and kotka["default"] is False
    assert helsinki["origin"] == kotka["origin"] == "bundled"
    assert Path(helsinki["path"]) == resolve("helsinki").path
    for row in rows:
        assert Path(row["path"]).is_file()
        assert row["path"].endswith(".osm.pbf")
        assert row["title"]


def test_cities_table_marks_the_default(runs: dict[str, object]) -> None:
    result = runs["cities"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("helsinki (default)" in line for line in lines), result.stdout
    assert any("kotka" in line and "default" not in line for line in lines), result.stdout


def test_cities_on_the_search_path_are_listed_by_name(runs: dict[str, object]) -> None:
    rows = _one_json_document(_shared_run(runs, "shared-cities-json"))
    by_name = {row["name"]: row for row in rows}
    expected = {p.name[: -len(".osm.pbf")].lower(): p for p in SHARED_CITIES.glob("*.osm.pbf")}
    assert set(SHARED_NAMES) <= set(expected)
    assert [row["name"] for row in rows] == ["helsinki", "kotka", *sorted(expected)]
    assert by_name["helsinki"]["default"] is True
    for name, path in expected.items():
        assert by_name[name]["path"] == str(path)
        assert by_name[name]["origin"] == str(SHARED_CITIES)
        assert by_name[name]["default"] is False

    table = runs["cities"]
    assert table.returncode == 0, table.stderr
    for name in SHARED_NAMES:
        assert any(line.split()[1:2] == [name] for line in table.stdout.splitlines()), name


# ---------------------------------------------------------------------------------- twin city info
def test_city_info_json_is_one_object(runs: dict[str, object]) -> None:
    first = runs["info"]["first"]
    summary = _one_json_document(first)
    assert isinstance(summary, dict)
    for key in ("nodes", "edges", "road_km", "signalized_nodes", "bbox", "crs", "load_seconds"):
        assert key in summary, key
    assert summary["city"] == "helsinki"
    assert summary["from_cache"] is False
    assert summary["load_seconds"] > 0


def test_city_info_json_agrees_with_the_network(runs: dict[str, object], helsinki) -> None:
    summary = _one_json_document(runs["info"]["first"])
    nodes, edges = helsinki.network.to_geodataframes()

    assert summary["nodes"] == len(nodes) == helsinki.network.n_nodes
    assert summary["edges"] == len(edges)
    assert summary["road_km"] == pytest.approx(edges["length_m"].sum() / 1000, abs=5e-4)
    # the great-circle lengths agree with the projected geometries to within half a percent
    assert summary["road_km"] == pytest.approx(edges.geometry.length.sum() / 1000, rel=5e-3)
    assert summary["signalized_nodes"] == int(nodes["signalized"].sum()) > 0
    assert summary["edges_by_class"] == edges["highway"].value_counts().to_dict()

    west, south, east, north = summary["bbox"]
    tolerance = 1e-6  # the summary rounds to six decimals
    assert west - tolerance <= nodes["lon"].min() and nodes["lon"].max() <= east + tolerance
    assert south - tolerance <= nodes["lat"].min() and nodes["lat"].max() <= north + tolerance
    assert math.isclose(west, nodes["lon"].min(), abs_tol=tolerance)
    assert math.isclose(north, nodes["lat"].max(), abs_tol=tolerance)

    # the CRS is the UTM zone of the city (Helsinki, 25°E: zone 35 north)
    crs = pyproj.CRS.from_user_input(summary["crs"])
    assert crs.is_projected
    assert crs.utm_zone == f"{int((nodes['lon'].mean() + 180) // 6) + 1}N"
    assert summary["crs"] == nodes.crs.to_string()
    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    np.testing.assert_allclose(x, nodes["x"], atol=0.01)
    np.testing.assert_allclose(y, nodes["y"], atol=0.01)

    source = resolve("helsinki").path
    assert summary["source"] == str(source)
    assert summary["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_second_city_info_is_served_from_the_cache(runs: dict[str, object]) -> None:
    info = runs["info"]
    first = _one_json_document(info["first"])
    second = _one_json_document(info["second"])
    assert first["from_cache"] is False
    assert second["from_cache"] is True
    volatile = {"load_seconds", "from_cache"}
    assert {k: v for k, v in second.items() if k not in volatile} == {
        k: v for k, v in first.items() if k not in volatile
    }
    # the first call stored exactly one entry, named by the file's hash; the second only read it
    entries = {name.split(os.sep)[0] for name in info["after_first"]}
    assert len(entries) == 1
    (entry,) = entries
    assert entry.startswith(first["sha256"][:24])
    assert "meta.json" in {Path(name).name for name in info["after_first"]}
    assert info["after_second"] == info["after_first"]


def test_city_info_table_shows_the_counts(runs: dict[str, object]) -> None:
    summary = _one_json_document(runs["info"]["first"])
    result = runs["info"]["plain"]
    assert result.returncode == 0, result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    rows = {
        line.split()[0]: line for line in result.stdout.splitlines() if line.strip() and " " in line
    }
    assert f"{summary['nodes']:,}" in rows["nodes"].split()
    assert f"{summary['edges']:,}" in rows["edges"].split()
    assert "helsinki" in rows["city"]
    assert "(cache)" in rows["load"]  # served from the cache the JSON calls filled


def test_city_info_by_name_from_the_search_path(runs: dict[str, object]) -> None:
    summary = _one_json_document(_shared_run(runs, "shared-info"))
    path = shared_extract("aguascalientes")
    assert summary["city"] == "aguascalientes"
    assert summary["source"] == str(path)
    city = load(path)
    assert summary["nodes"] == city.network.n_nodes > 0
    assert summary["edges"] == city.network.n_edges
    assert summary["sha256"] == city.source.sha256
    west, south, east, north = summary["bbox"]
    # Aguascalientes, Mexico
    assert -103 < west < east < -102 and 21 < south < north < 22.5


# ---------------------------------------------------------------------------------- twin --version
def test_version(runs: dict[str, object]) -> None:
    result = runs["version"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"citiverse-twin {twin.__version__}"
    assert twin.__version__ == importlib.metadata.version("citiverse-twin")


@pytest.mark.parametrize("command", [[], ["waste"], ["city", "info"], ["scenario", "check"]])
def test_minus_h_asks_for_help_as_in_most_tools(command):
    from typer.testing import CliRunner

    from twin.cli import app

    result = CliRunner().invoke(app, [*command, "-h"])
    assert result.exit_code == 0, result.output
    assert f"Usage: twin {' '.join(command)}".rstrip() in " ".join(result.output.split())


def test_a_bad_value_is_refused_before_the_simulator_loads(tmp_path):
    """The command line checks its values (and a scenario file's) with the parameter specs
    before it imports the simulator: Mesa, geopandas and PyVRP stay unloaded, so the refusal
    comes in a fraction of the seconds that importing them takes."""
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\ncity: helsinki\ntraffic: {trips: -5, duration: 10min}\n")
    script = (
        "import sys\n"
        "from twin.cli import main\n"
        "codes = []\n"
        f"for args in ({['traffic', 'helsinki', '--trips', '-5']!r},\n"
        f"             {['waste', 'helsinki', '--days', '0']!r},\n"
        f"             {['waste-compare', 'helsinki', '--trucks', '-1']!r},\n"
        f"             {['run', str(scenario), '--out', str(tmp_path / 'out')]!r},\n"
        f"             {['scenario', 'check', str(scenario)]!r}):\n"
        "    sys.argv = ['twin', *args]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as stop:\n"
        "        codes.append(stop.code)\n"
        "heavy = ('mesa', 'geopandas', 'pyvrp', 'scipy', 'torch')\n"
        "print(codes, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["error"] * 5, done.stderr
    assert "traffic.trips" in lines[0] and "waste.days" in lines[1] and "trucks" in lines[2]
    assert "traffic.trips" in lines[3] and "traffic.trips" in lines[4]
    assert lines[-1] == "[1, 1, 1, 1, 1] []", done.stderr
    assert not (tmp_path / "out").exists()
