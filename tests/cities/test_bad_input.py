"""Bad input files and names: a specific error through the API, one ``error:`` line from the CLI.

Each case is checked twice: ``load_city`` raises the documented exception class with a message
that names the problem, and ``twin city info`` exits non-zero with exactly one ``error:`` line on
stderr, no traceback, and nothing left in its cache folder. A clipped extract is the exception that
proves the rule: it loads what it contains.

The derived files (truncated, corrupt, filtered extracts) are written into a temporary folder from
the bundled Helsinki extract and the shared Liechtenstein extract.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import pytest
from osmium.filter import KeyFilter

import cities
from cities.city import load_city
from cities.errors import CityNotFoundError, OSMFileError
from tests.conftest import shared_extract, twin_command
from twin.errors import USER_ERRORS, NoDrivableRoadsError

CLIP_BBOX = (9.50, 47.12, 9.54, 47.15)
"""West, south, east, north of the nodes kept in the clipped Liechtenstein file."""


def run_twin(args: list[str], *, cache_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``twin ARGS`` with its own cache folder and no search path, as from a pipe."""
    env = {k: v for k, v in os.environ.items() if k not in {"TWIN_CITIES_PATH", "FORCE_COLOR"}}
    env["TWIN_CACHE_DIR"] = str(cache_dir)
    return subprocess.run(
        [*twin_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one ``error:`` line on stderr and no traceback; returns it."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert result.stdout.strip() == "", result.stdout
    return lines[0]


def assert_no_cache_entry(cache_dir: Path) -> None:
    """The cache folder is absent or holds nothing at all (no entry, no staging folder)."""
    if cache_dir.exists():
        assert sorted(p.name for p in cache_dir.iterdir()) == []


# ---------------------------------------------------------------------------------- input files
def _write_osm_xml(source: Path, target: Path) -> None:
    """Convert an OSM file to OSM XML with pyosmium (every node, way and relation)."""
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            elif obj.is_relation():
                writer.add_relation(obj)


def _in_clip_bbox(location: osmium.osm.Location) -> bool:
    west, south, east, north = CLIP_BBOX
    return west <= location.lon <= east and south <= location.lat <= north


def _write_liechtenstein_subsets(source: Path, folder: Path) -> dict[str, Path]:
    """Three filtered copies of Liechtenstein, each way written with the nodes it references.

    ``no-drivable``: buildings and footways only. ``no-highway``: buildings only. ``clipped``: all
    highway ways, but only the nodes inside :data:`CLIP_BBOX`.
    """
    selectors = {
        "no-drivable": lambda tags: "building" in tags or tags.get("highway") == "footway",
        "no-highway": lambda tags: "building" in tags and "highway" not in tags,
        "clipped": lambda tags: "highway" in tags,
    }
    ways: dict[str, set[int]] = {name: set() for name in selectors}
    nodes: dict[str, set[int]] = {name: set() for name in selectors}

    def tagged_ways() -> osmium.FileProcessor:
        return osmium.FileProcessor(str(source), osmium.osm.WAY).with_filter(
            KeyFilter("highway", "building")
        )

    for way in tagged_ways():
        for name, keep in selectors.items():
            if keep(way.tags):
                ways[name].add(way.id)
                nodes[name].update(ref.ref for ref in way.nodes)
    paths = {name: folder / f"liechtenstein-{name}.osm.pbf" for name in selectors}
    writers = {name: osmium.SimpleWriter(str(path)) for name, path in paths.items()}
    try:
        for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
            for name, writer in writers.items():
                if node.id in nodes[name] and (name != "clipped" or _in_clip_bbox(node.location)):
                    writer.add_node(node)
        for way in tagged_ways():
            for name, writer in writers.items():
                if way.id in ways[name]:
                    writer.add_way(way)
    finally:
        for writer in writers.values():
            writer.close()
    return paths


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bad (and the clipped) input file, by case name; also ``full-xml``, the whole file."""
    folder = tmp_path_factory.mktemp("bad-input")
    helsinki_pbf = cities.resolve("helsinki").path
    liechtenstein_pbf = shared_extract("liechtenstein")

    files = {
        "full-xml": folder / "helsinki-full.osm",
        "nonexistent": folder / "no-such-city.osm.pbf",
        "unsupported": folder / "roads.txt",
        "corrupt-pbf": folder / "random-bytes.osm.pbf",
        "truncated-pbf": folder / "liechtenstein-half.osm.pbf",
        "truncated-xml": folder / "helsinki-half.osm",
        "truncated-gz": folder / "helsinki-half.osm.gz",
        "misnamed-pbf": folder / "helsinki-renamed.osm",
    }
    _write_osm_xml(helsinki_pbf, files["full-xml"])
    xml = files["full-xml"].read_bytes()
    files["unsupported"].write_bytes(xml)  # valid OSM XML, but not a supported file name
    files["corrupt-pbf"].write_bytes(np.random.default_rng(7).bytes(64 * 1024))
    files["misnamed-pbf"].write_bytes(helsinki_pbf.read_bytes())  # PBF named as XML
    pbf = liechtenstein_pbf.read_bytes()
    files["truncated-pbf"].write_bytes(pbf[: len(pbf) // 2])
    files["truncated-xml"].write_bytes(xml[: len(xml) // 2])
    compressed = gzip.compress(xml)
    files["truncated-gz"].write_bytes(compressed[: len(compressed) // 2])
    files.update(_write_liechtenstein_subsets(liechtenstein_pbf, folder))
    return files


# ---------------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    """A bad input: the ``twin city info`` argument, the exception, words of its message."""

    error: type[Exception]
    words: tuple[str, ...]
    file: str | None = None  # key of ``files``; None: ``name`` is given as it is
    name: str | None = None


CASES = {
    "nonexistent": Case(CityNotFoundError, ("no such file", "no-such-city.osm.pbf"), "nonexistent"),
    "unsupported": Case(
        OSMFileError, ("unsupported file type", "roads.txt", ".osm.pbf"), "unsupported"
    ),
    "corrupt-pbf": Case(OSMFileError, ("cannot read", "corrupt", "random-bytes"), "corrupt-pbf"),
    "truncated-pbf": Case(
        OSMFileError, ("cannot read", "truncated", "liechtenstein-half"), "truncated-pbf"
    ),
    "truncated-xml": Case(OSMFileError, ("cannot read", "truncated", "xml"), "truncated-xml"),
    "truncated-gz": Case(OSMFileError, ("cannot read", "truncated", "gzip"), "truncated-gz"),
    "misnamed-pbf": Case(
        OSMFileError,
        ("helsinki-renamed.osm holds OSM PBF data but its name ends in .osm", "end in .osm.pbf"),
        "misnamed-pbf",
    ),
    "no-drivable": Case(NoDrivableRoadsError, ("none drivable", "road"), "no-drivable"),
    "no-highway": Case(OSMFileError, ("no roads", "highway"), "no-highway"),
    "unknown-name": Case(
        CityNotFoundError,
        ("unknown city", "atlantis", "registered cities", "helsinki, kotka"),
        name="atlantis",
    ),
}


def _argument(case: Case, files: dict[str, Path]) -> str:
    return case.name if case.file is None else str(files[case.file])


@pytest.fixture(scope="module")
def cli_runs(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """``twin city info ARG --json`` of every case and of the clipped file.

    Each run is a cold start of the command (seconds of imports), so they run side by side; each
    has its own cache folder and working folder.
    """
    base = tmp_path_factory.mktemp("bad-input-cli")
    arguments = {key: _argument(case, files) for key, case in CASES.items()}
    arguments["clipped"] = str(files["clipped"])

    def run(key: str) -> tuple[subprocess.CompletedProcess, Path]:
        cache_dir = base / f"cache-{key}"
        workdir = base / f"cwd-{key}"
        workdir.mkdir()
        args = ["city", "info", arguments[key], "--json"]
        return run_twin(args, cache_dir=cache_dir, cwd=workdir), cache_dir

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        return dict(zip(arguments, pool.map(run, arguments), strict=True))


@pytest.mark.parametrize("key", CASES)
def test_load_city_raises_a_specific_error(
    key: str, files: dict[str, Path], tmp_path: Path
) -> None:
    case = CASES[key]
    cache_dir = tmp_path / "cache"
    with pytest.raises(case.error) as caught:
        load_city(_argument(case, files), cache_dir=cache_dir)
    assert isinstance(caught.value, USER_ERRORS)
    message = str(caught.value)
    assert "\n" not in message
    for word in case.words:
        assert word.lower() in message.lower(), message
    assert_no_cache_entry(cache_dir)


@pytest.mark.parametrize("key", CASES)
def test_cli_prints_one_error_line_and_caches_nothing(
    key: str, cli_runs: dict[str, tuple[subprocess.CompletedProcess, Path]]
) -> None:
    result, cache_dir = cli_runs[key]
    assert result.returncode == 1, result.stderr
    line = assert_one_line_error(result)
    for word in CASES[key].words:
        assert word.lower() in line.lower(), line
    assert_no_cache_entry(cache_dir)


def test_a_misnamed_file_is_refused_even_where_its_content_is_cached(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # the cache is keyed by content: the bundled city loaded first must not let its bytes under
    # another file's name skip the check that its name is read by
    load_city(cities.resolve("helsinki").path, cache_dir=tmp_path)
    with pytest.raises(OSMFileError, match=r"holds OSM PBF data but its name ends in \.osm:"):
        load_city(files["misnamed-pbf"], cache_dir=tmp_path)


def test_bad_files_are_bad_only_in_the_intended_way(files: dict[str, Path]) -> None:
    """Untruncated, the converted file reads; the filtered extracts hold what their case needs."""
    xml = files["full-xml"].read_bytes()
    assert xml.rstrip().endswith(b"</osm>")
    assert files["unsupported"].read_bytes() == xml
    assert files["truncated-xml"].read_bytes() == xml[: len(xml) // 2]
    assert sum(1 for _ in osmium.FileProcessor(str(files["full-xml"]), osmium.osm.WAY)) > 1000
    assert not files["nonexistent"].exists()

    def way_tags(key: str) -> list[dict[str, str]]:
        return [dict(w.tags) for w in osmium.FileProcessor(str(files[key]), osmium.osm.WAY)]

    no_drivable = way_tags("no-drivable")
    assert {t["highway"] for t in no_drivable if "highway" in t} == {"footway"}
    assert sum("building" in t for t in no_drivable) > 1000
    no_highway = way_tags("no-highway")
    assert len(no_highway) > 1000
    assert not any("highway" in t for t in no_highway)


# ---------------------------------------------------------------------------------- clipped file
def test_clipped_extract_loads_what_it_contains(files: dict[str, Path], tmp_path: Path) -> None:
    path = files["clipped"]
    # what is there, counted here: each highway way splits into runs of nodes present in the
    # file, and every run of two or more nodes is a piece of road
    present = {node.id for node in osmium.FileProcessor(str(path), osmium.osm.NODE)}
    pieces, piece_nodes, missing, cut_ways = 0, 0, 0, set()
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
        inside = [ref.ref in present for ref in way.nodes]
        if not all(inside):
            missing += inside.count(False)
            if any(inside):
                cut_ways.add(way.id)
        run = 0
        for here in [*inside, False]:
            if here:
                run += 1
                continue
            if run >= 2:
                pieces, piece_nodes = pieces + 1, piece_nodes + run
            run = 0
    assert missing > 0 and len(cut_ways) > 10  # the file really is cut off mid-way

    extract = cities.read_osm(path)
    assert extract.missing_node_refs == missing
    assert extract.n_ways == pieces
    assert len(extract.node_ids) == piece_nodes
    assert np.isin(extract.way_ids, list(cut_ways)).sum() > 10  # cut ways keep their pieces

    city = load_city(path, cache_dir=tmp_path / "cache")
    network = city.network
    assert network.n_nodes > 100
    west, south, east, north = CLIP_BBOX
    assert np.all((network.node_lon >= west) & (network.node_lon <= east))
    assert np.all((network.node_lat >= south) & (network.node_lat <= north))

    graph = nx.MultiDiGraph()
    graph.add_nodes_from(range(network.n_nodes))
    graph.add_edges_from(zip(network.edge_u.tolist(), network.edge_v.tolist(), strict=True))
    assert nx.is_strongly_connected(graph)
    assert network.n_edges > network.n_nodes
    assert np.isin(network.edge_osmid, list(cut_ways)).any()  # roads cut by the clip are used


def test_clipped_extract_city_info_json(
    files: dict[str, Path], cli_runs: dict[str, tuple[subprocess.CompletedProcess, Path]]
) -> None:
    result, cache_dir = cli_runs["clipped"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) == 1
    summary = json.loads(result.stdout)
    assert summary["city"] == "liechtenstein-clipped"
    assert summary["source"] == str(files["clipped"])
    assert summary["nodes"] > 100
    assert summary["edges"] > summary["nodes"]
    assert summary["from_cache"] is False
    west, south, east, north = summary["bbox"]
    assert CLIP_BBOX[0] <= west < east <= CLIP_BBOX[2]
    assert CLIP_BBOX[1] <= south < north <= CLIP_BBOX[3]
    # a good file is cached: one finished entry, no staging folder left behind
    entries = sorted(p.name for p in cache_dir.iterdir())
    assert len(entries) == 1 and not entries[0].startswith("."), entries
