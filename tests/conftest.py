"""Shared fixtures: the real OSM extracts, a private cache folder, loaded cities."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# One CPU thread for torch (and numpy's BLAS) in every test process and the commands it starts:
# the suite runs two or three test processes on two cores, each starting trainings and twins
# of its own, and a torch process that spreads over every core beside them spends its time
# waiting on threads (a test's 80-step training took 59 s of CPU beside the suite, 7 s with one
# thread). Set before torch is first imported, here or in a child.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_CITIES = Path(os.environ.get("TWIN_SHARED_CITIES", REPO.parent / "shared" / "cities"))
SHARED_EXTRACTS = {
    "sao-paulo-centre": SHARED_CITIES / "sao-paulo-centre.osm.pbf",
    "liechtenstein": SHARED_CITIES / "liechtenstein.osm.pbf",
    "andorra": SHARED_CITIES / "andorra.osm.pbf",
    "aguascalientes": SHARED_CITIES / "aguascalientes.osm.pbf",
}


def twin_command() -> list[str]:
    """The installed ``twin`` console script (the one next to this interpreter)."""
    script = Path(sys.executable).with_name("twin")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from twin.cli import main; main()"]


def run_twin(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the ``twin`` command line (with ``env`` added to the environment); a wide terminal, so
    that typer's boxed usage errors do not break words across lines."""
    env = {**os.environ, "COLUMNS": "250", **(env or {})}
    return subprocess.run(
        [*twin_command(), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def flat(text: str) -> str:
    """Text without rich's box drawing and with whitespace collapsed."""
    return " ".join(text.translate(str.maketrans("", "", "│╭╮╰╯─")).split())


def write_osm(source: Path, path: Path, *, objects: int | None = None) -> Path:
    """``source`` (any OSM file) written again by libosmium in the format of ``path``'s ending
    (``.osm``, ``.osm.gz``, ``.osm.bz2``), whole or its first ``objects`` objects."""
    import itertools

    import osmium

    writer = osmium.SimpleWriter(str(path))
    for obj in itertools.islice(osmium.FileProcessor(str(source)), objects):
        if obj.is_node():
            writer.add_node(obj)
        elif obj.is_way():
            writer.add_way(obj)
        else:
            writer.add_relation(obj)
    writer.close()
    return path


def shared_extract(name: str) -> Path:
    """Path of a shared extract; skips the test where the shared folder is absent, except in CI,
    where ``../shared`` is always laid out and its absence is an error."""
    path = SHARED_EXTRACTS[name]
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"shared extract {path} missing in CI (set TWIN_SHARED_CITIES)")
        pytest.skip(f"shared extract {path} not available")
    return path


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session builds cities into its own cache folder (never the user's)."""
    folder = tmp_path_factory.mktemp("twin-cache")
    previous = os.environ.get("TWIN_CACHE_DIR")
    os.environ["TWIN_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("TWIN_CACHE_DIR", None)
    else:
        os.environ["TWIN_CACHE_DIR"] = previous


_loaded: dict[str, object] = {}


def load(name_or_path: str | Path):
    """Load a city once per session (through the session's cache)."""
    from cities.city import load_city

    key = str(name_or_path)
    if key not in _loaded:
        _loaded[key] = load_city(name_or_path)
    return _loaded[key]


@pytest.fixture(scope="session")
def helsinki():
    """The bundled default city."""
    return load("helsinki")


@pytest.fixture(scope="session")
def sao_paulo():
    """São Paulo centre: roads only, thousands of nodes, many signals."""
    return load(shared_extract("sao-paulo-centre"))


@pytest.fixture(scope="session")
def liechtenstein():
    """Liechtenstein: full OSM with buildings, POIs and land use."""
    return load(shared_extract("liechtenstein"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop child processes that tests left running, and say which.

    Python waits for its multiprocessing children at exit: one left hanging by a failed test
    would hold the whole run (and CI) until its deadline instead of ending with the report.
    """
    import psutil

    leftovers = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        # multiprocessing's own helpers end when this process does
        if "resource_tracker" not in command and "forkserver" not in command:
            leftovers.append((child, command))
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for child, command in leftovers:
        try:
            child.kill()
        except psutil.Error:
            continue
        what = f"pid {child.pid}: {command[:200]}"
        if reporter is not None:
            reporter.write_line(f"stopped a process a test left running ({what})", yellow=True)
    psutil.wait_procs([child for child, _ in leftovers], timeout=5)
