"""How responsive the dashboard's server stays while a run works.

The dashboard runs scenarios in a thread of its own process (``dashboards.jobs``); Dash's stock
manager forks a child per run instead. This measures request latency (``/_dash-layout``, the
page a browser asks for first) with the server idle, with a long traffic run in a thread, and
with the same run in a forked child, in one process on one machine.

    python benchmarks/bench_dashboard_busy.py [--city helsinki] [--trips 250000] [--requests 40]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
import urllib.request

from werkzeug.serving import make_server

from dashboards.app import create_app
from dashboards.logic import section_only
from dashboards.runner import run_scenarios


def latencies(url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            response.read()
        out.append(time.perf_counter() - started)
        time.sleep(0.05)
    return out


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"| {name} | {1000 * statistics.median(values):.0f} | {1000 * p95:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="helsinki")
    parser.add_argument("--trips", type=int, default=250000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    app = create_app(args.city, store_dir=tempfile.mkdtemp(prefix="bench-busy-"))
    state = app.twin_state
    state.warm_up().join()  # bins and sites placed: the server is idle from here
    server = make_server("127.0.0.1", args.port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{args.port}/_dash-layout"
    latencies(url, 5)  # first requests build the layout's caches

    def long_run() -> None:
        # a day of heavy demand: the run outlasts the measurement
        scenario = section_only(
            state.draft(), "traffic", trips=args.trips, duration="24h", window="24h"
        )
        run_scenarios(state, [scenario])

    rows = [summary("idle", latencies(url, args.requests))]
    # the peer first: the same run in a forked child, as Dash's DiskcacheManager does
    child = multiprocessing.get_context("fork").Process(target=long_run, daemon=True)
    child.start()
    time.sleep(3)  # past demand generation, into the simulation
    forked = latencies(url, args.requests)
    assert child.is_alive(), f"the run ended first (exit code {child.exitcode}): raise --trips"
    rows.append(summary("a run in a forked child (DiskcacheManager)", forked))
    child.kill()
    child.join()

    worker = threading.Thread(target=long_run, daemon=True)
    worker.start()
    time.sleep(3)
    rows.append(summary("a run in a thread (dashboards.jobs)", latencies(url, args.requests)))
    assert worker.is_alive(), "the run ended before the measurement did: raise --trips"
    server.shutdown()
    print(f"{args.city}, {args.trips} trips over 24 h; {args.requests} requests each")
    print("| server | median ms | p95 ms |\n|---|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
