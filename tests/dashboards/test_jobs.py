"""Background runs in threads (dashboards.jobs): results, progress, cancel, and no fork hazard."""

from __future__ import annotations

import threading
import time

import diskcache
import pytest

from agents.traffic.engine import Signals
from dashboards.components import report
from dashboards.jobs import ThreadJobManager, raise_if_cancelled
from dashboards.logic import section_only
from dashboards.runner import run_scenarios
from dashboards.state import DashboardState
from dashboards.store import RunStore
from twin.api import Twin

SMALL = {"traffic": {"trips": 300, "duration": "16min", "window": "8min", "dt_s": 5.0}}


@pytest.fixture
def state(helsinki, tmp_path):
    return DashboardState(Twin(helsinki), RunStore(tmp_path / "store"), draft_overrides=SMALL)


@pytest.fixture
def manager(tmp_path):
    return ThreadJobManager(diskcache.Cache(str(tmp_path / "jobs")))


def _traffic_job(manager, state, seen: list, **changes):
    """A Dash job function that runs the Traffic page's scenario through the real runner."""

    def run(set_progress, trips):
        scenario = section_only(state.draft(), "traffic", trips=trips, **changes)

        def progress(value):
            seen.append(value)
            set_progress(value)

        return run_scenarios(
            state, [scenario], lambda f, label: report(progress, f, label), min_interval_s=0
        )

    return manager.make_job_fn(run, progress=True)


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_run_lands_its_store_keys_in_the_cache_and_counts_as_running_until_collected(
    manager, state
):
    seen: list = []
    job = manager.call_job_fn("result", _traffic_job(manager, state, seen), [300], {})
    assert manager.job_running(str(job))  # Dash hands the id back as text
    _wait(lambda: manager.running_jobs() == 0)
    # the thread is done, the result not yet collected: Dash must keep polling
    assert manager.job_running(job)
    keys = manager.get_result("result", job)
    assert len(keys) == 1 and state.store.has_run(keys[0])
    assert seen[-1] == ("100", "done")
    assert not manager.job_running(job)
    assert manager.get_result("result", job) is manager.UNDEFINED


def test_cancel_stops_the_run_at_its_next_report_and_leaves_nothing_behind(manager, state):
    seen: list = []
    # a whole day of traffic: far longer than the test waits for the cancel to take effect
    job_fn = _traffic_job(manager, state, seen, duration="24h", window="24h")
    job = manager.call_job_fn("cancelled", job_fn, [20000], {})
    _wait(lambda: len(seen) >= 2)  # "starting" and the first step
    started = time.monotonic()
    manager.terminate_job(str(job))
    _wait(lambda: manager.running_jobs() == 0, timeout=30)
    stopped_after = time.monotonic() - started
    assert not any(value[1] == "done" for value in seen)
    assert not manager.job_running(job)
    assert not manager.result_ready("cancelled")
    assert manager.get_progress("cancelled") is None
    assert list((state.store.root / "runs").glob("*")) == []
    assert stopped_after < 10


def test_a_poll_that_arrives_as_a_cancelled_run_stops_finds_no_error(manager):
    """A cancelled run stops by raising, and Dash writes that as its result before the job
    drops it: a poll sent just before Cancel, answered in that moment, must find nothing to
    show (it once found the error, a 500 in the browser)."""
    started, drop_may_go = threading.Event(), threading.Event()
    drop = manager.clear_cache_entry

    def held_drop(key):  # holds the moment between the error written and dropped open
        drop_may_go.wait(10)
        drop(key)

    manager.clear_cache_entry = held_drop

    def run(set_progress):
        started.set()
        while True:
            set_progress(("1", "working"))
            raise_if_cancelled()
            time.sleep(0.01)

    job = manager.call_job_fn("stopping", manager.make_job_fn(run, progress=True), [], {})
    assert started.wait(10)
    manager.terminate_job(str(job))
    _wait(lambda: manager.handle.get("stopping") is not None, timeout=10)  # the error, written
    assert "background_callback_error" in manager.handle.get("stopping")
    assert manager.get_result("stopping", job) is manager.UNDEFINED
    drop_may_go.set()
    _wait(lambda: manager.running_jobs() == 0, timeout=10)
    assert not manager.result_ready("stopping") and not manager.job_running(job)


def test_a_run_started_while_another_thread_holds_a_class_wide_lock_waits_for_it(manager, state):
    """Forking here would copy the held lock into a child that then waits for it forever."""
    # Python 3.11's cached_property locks all instances of a class while one computes; every
    # traffic run computes its signals' ``signalized``
    class_lock = getattr(Signals.__dict__["signalized"], "lock", None)
    if class_lock is None:
        pytest.skip("this Python's cached_property holds no lock")
    holder_may_go = threading.Event()

    def hold() -> None:
        with class_lock:  # as a thread computing another run's signals would
            holder_may_go.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    seen: list = []
    job = manager.call_job_fn("waits", _traffic_job(manager, state, seen), [300], {})
    time.sleep(0.5)
    assert manager.job_running(job)
    holder_may_go.set()
    _wait(lambda: manager.running_jobs() == 0)
    keys = manager.get_result("waits", job)
    assert state.store.has_run(keys[0])


def test_unknown_or_missing_job_handles_are_not_running(manager):
    for handle in (None, "", "not-a-number", "12345"):
        assert not manager.job_running(handle)
        assert manager.terminate_unhealthy_job(handle) is False
        manager.terminate_job(handle)  # nothing to stop, no error


def test_report_passes_progress_as_percent_text():
    seen: list = []
    report(seen.append, 0.426, "traffic (1/1)")
    assert seen == [("43", "traffic (1/1)")]


def _run_processes(psutil) -> list:
    """The processes running simulations: children of this process's forkserver."""
    found = []
    for child in psutil.Process().children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                found += child.children()
        except psutil.NoSuchProcess:
            continue
    return found


def test_cancel_kills_a_run_still_preparing_and_its_memory_comes_back(manager, state):
    """Two million trips take seconds and a gigabyte to generate and route before the first
    progress report: a cancel there must not wait for it (nor keep the memory)."""
    psutil = pytest.importorskip("psutil")
    server = psutil.Process()
    before = server.memory_info().rss
    seen: list = []
    job_fn = _traffic_job(manager, state, seen, duration="24h", window="24h")
    job = manager.call_job_fn("heavy", job_fn, [2_000_000], {})
    # the child grows past half a gigabyte while it prepares the trips
    peak = {"rss": 0, "pids": set()}

    def grown() -> bool:
        for process in _run_processes(psutil):
            try:
                peak["rss"] = max(peak["rss"], process.memory_info().rss)
                peak["pids"].add(process.pid)
            except psutil.NoSuchProcess:
                pass
        return peak["rss"] > 500 * 2**20

    _wait(grown, timeout=60)
    assert not any(value[1] == "done" for value in seen)
    started = time.monotonic()
    manager.terminate_job(str(job))
    _wait(lambda: manager.running_jobs() == 0, timeout=5)
    assert time.monotonic() - started < 1.0
    # the child is gone, and its memory with it; the dashboard's own never grew
    for pid in peak["pids"]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert server.memory_info().rss - before < 100 * 2**20
    assert not manager.job_running(job)
    assert list((state.store.root / "runs").glob("*")) == []
