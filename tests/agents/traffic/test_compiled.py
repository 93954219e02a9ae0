"""The kernel compiled ahead of time against numba's JIT build of the same source."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from agents.traffic import compiled, engine, kernel
from agents.traffic.demand import generate_trips
from agents.traffic.model import TrafficConfig, TrafficModel


@pytest.fixture(scope="module")
def aot_dir(tmp_path_factory):
    """A folder holding a fresh ahead-of-time build: the installed one (``make`` builds it), or
    one built here where the install did not (about 15 s)."""
    folder = tmp_path_factory.mktemp("aot")
    installed = compiled._module_path(compiled._PACKAGE_DIR)
    if compiled._load_aot(compiled._PACKAGE_DIR) is not None:
        shutil.copy2(installed, compiled._module_path(folder))
        shutil.copy2(compiled._stamp_path(compiled._PACKAGE_DIR), compiled._stamp_path(folder))
        return folder
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the ahead-of-time build cannot run here (the JIT kernel does)")
    compiled.build_ahead_of_time(directory=folder)
    return folder


@pytest.fixture(scope="module")
def jit():
    kernel.load()
    return compiled.Kernel(kernel.move_vehicles, kernel.group_by_link, kernel.queued, build="jit")


def test_ahead_of_time_run_equals_the_jit_run_trip_for_trip(aot_dir, jit, helsinki, monkeypatch):
    """Congested peak with signals and re-routing drivers: every trip's arrival, distance and
    status, and the KPIs, identical with either build."""
    aot = compiled.load_kernel(directory=aot_dir)
    assert aot.build == "aot"
    trips = generate_trips(
        helsinki.context, n_trips=4000, window_s=1800, rng=np.random.default_rng(7)
    )
    config = TrafficConfig(duration_s=3600, dt_s=5.0, reroute_share=0.5)
    results = {}
    for build in (aot, jit):
        monkeypatch.setattr(engine, "kernel", build)
        results[build.build] = TrafficModel(helsinki.network, trips, config=config, seed=3).run()
    first, second = results["aot"], results["jit"]
    assert first.kpis == second.kpis
    assert first.kpis["trips_completed"] > 0
    for column in ("arrive_s", "distance_m", "status"):
        np.testing.assert_array_equal(
            first.trips[column].to_numpy(), second.trips[column].to_numpy()
        )


def test_stale_or_refused_builds_fall_back_to_jit(aot_dir, tmp_path, monkeypatch):
    for name in (compiled._module_path(aot_dir), compiled._stamp_path(aot_dir)):
        shutil.copy2(name, tmp_path / name.name)
    assert compiled.load_kernel(directory=tmp_path).build == "aot"

    # the venv moved to a machine whose processor may lack the builder's instructions
    with monkeypatch.context() as elsewhere:
        elsewhere.setattr(compiled, "_cpu_identity", lambda: "model name\t: another processor")
        assert compiled.load_kernel(directory=tmp_path).build == "jit"
    assert compiled.load_kernel(directory=tmp_path).build == "aot"

    monkeypatch.setenv(compiled.KERNEL_ENV, "jit")
    assert compiled.load_kernel(directory=tmp_path).build == "jit"
    monkeypatch.delenv(compiled.KERNEL_ENV)

    # the kernel's source changed since the build: its stamp no longer matches
    compiled._stamp_path(tmp_path).write_text("0" * 64 + "\n")
    assert compiled.load_kernel(directory=tmp_path).build == "jit"

    compiled._stamp_path(tmp_path).unlink()
    assert compiled.load_kernel(directory=tmp_path).build == "jit"
    assert compiled.load_kernel(directory=tmp_path / "missing").build == "jit"


def test_ahead_of_time_kernel_releases_the_interpreter_lock(aot_dir):
    """The dashboard runs simulations in threads beside its server: while the kernel works, other
    Python threads must run. With the lock held they would stall for the whole call."""
    aot = compiled.load_kernel(directory=aot_dir)
    links = np.random.default_rng(0).integers(0, 100_000, 30_000_000)
    took = []

    def work():
        start = time.perf_counter()
        aot.group_by_link(links, 100_000)
        took.append(time.perf_counter() - start)

    worker = threading.Thread(target=work)
    ticks = [time.perf_counter()]
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    longest_stall = np.diff(ticks).max()
    assert took[0] > 0.05  # long enough for a held lock to show
    assert longest_stall < 0.5 * took[0]


def test_build_clears_a_killed_build_and_loads_without_numba(tmp_path):
    """A build into a fresh folder: leftovers of a killed one go, the module and its stamp
    arrive, and a new interpreter runs a simulation with it without importing numba."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the ahead-of-time build cannot run here (the JIT kernel does)")
    leftover = tmp_path / (compiled._STAGING_PREFIX + "killed")
    leftover.mkdir()
    (leftover / "half.o").write_bytes(b"\0")
    module = compiled.build_ahead_of_time(directory=tmp_path)
    assert module == compiled._module_path(tmp_path) and module.is_file()
    assert compiled._stamp_path(tmp_path).read_text().strip() == compiled.source_stamp()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [module.name, compiled._stamp_path(tmp_path).name]
    )
    script = (
        "import sys; from pathlib import Path; from agents.traffic import compiled\n"
        f"k = compiled.load_kernel(directory=Path({str(tmp_path)!r}))\n"
        "import numpy as np\n"
        "order, counts = k.group_by_link(np.array([2, 0, 2, 1], dtype=np.int64), 3)\n"
        "print(k.build, 'numba' in sys.modules, order.tolist(), counts.tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["aot", "False", "[1,", "3,", "0,", "2]", "[1,", "1,", "2]"]


def test_arguments_of_other_types_run_on_the_jit_kernel_not_into_a_crash(aot_dir):
    """The ahead-of-time wrapper reads an int32 array as int64 (out of bounds); the guard sends
    such a call to the JIT kernel, which compiles that specialisation."""
    aot = compiled.load_kernel(directory=aot_dir)
    links = np.array([2, 0, 2, 1])
    with pytest.warns(RuntimeWarning, match="group_by_link"):
        order, counts = aot.group_by_link(links.astype(np.int32), 3)
    assert order.tolist() == [1, 3, 0, 2] and counts.tolist() == [1, 1, 2]
    order, counts = aot.group_by_link(links, np.int64(3))  # numpy scalars are fine
    assert order.tolist() == [1, 3, 0, 2] and counts.tolist() == [1, 1, 2]
