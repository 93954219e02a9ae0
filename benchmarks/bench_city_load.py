"""Benchmark: loading a city cold (build from OSM + write the cache) vs warm (read the cache).

For every ``*.osm.pbf`` in ``--cities-dir`` and the bundled ``helsinki``:

* in-process: ``load_city(path, cache_dir=tmp)`` on a fresh, empty cache folder (cold: read OSM,
  build the network and context, write the cache), then again on that folder (warm: cache read).
  Repeated ``--repeat`` times, each cold run on a new empty folder; medians are reported. One
  untimed load of the smallest city first imports everything, so the first timed cold load does
  not pay for module imports.
* end to end: the ``twin city info CITY --json --cache-dir tmp`` command in a fresh subprocess,
  cold (empty folder) then warm, wall time including Python start-up and imports. The start-up
  floor, ``twin --version``, is shown alongside.

Usage::

    python benchmarks/bench_city_load.py [--cities-dir DIR] [--repeat 3] [--json-out FILE]

Prints Markdown tables on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def twin_command() -> list[str]:
    """The ``twin`` console script of this interpreter's environment, else ``python -m twin``."""
    script = Path(sys.executable).with_name("twin")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "twin"]


def timed_load(city: str | Path, cache_dir: Path) -> tuple[float, object, dict[str, float]]:
    """Load once; wall seconds, the City, and seconds per load step."""
    from cities.city import load_city

    steps: dict[str, float] = defaultdict(float)
    last = {"label": None, "t": 0.0}

    def on_step(label: str) -> None:
        now = time.perf_counter()
        if last["label"] is not None:
            steps[last["label"]] += now - last["t"]
        last["label"], last["t"] = label, now

    started = time.perf_counter()
    city = load_city(city, cache_dir=cache_dir, on_step=on_step)
    ended = time.perf_counter()
    if last["label"] is not None:
        steps[last["label"]] += ended - last["t"]
    return ended - started, city, dict(steps)


def bench_in_process(city: str | Path, repeat: int) -> dict:
    cold, warm, cold_steps, cache_bytes = [], [], [], 0
    summary = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="twin-bench-cache-") as tmp:
            seconds, loaded, steps = timed_load(city, Path(tmp))
            if loaded.from_cache:
                raise RuntimeError(f"{city}: cold load came from cache in an empty folder")
            cold.append(seconds)
            cold_steps.append(steps)
            cache_bytes = folder_bytes(Path(tmp))
            seconds, again, _ = timed_load(city, Path(tmp))
            if not again.from_cache:
                raise RuntimeError(f"{city}: second load did not come from the cache")
            if (again.network.n_nodes, again.network.n_edges) != (
                loaded.network.n_nodes,
                loaded.network.n_edges,
            ):
                raise RuntimeError(f"{city}: cached network differs from the built one")
            warm.append(seconds)
            summary = loaded
    labels = {label for steps in cold_steps for label in steps}
    return {
        "name": summary.name,
        "source": str(summary.source.path),
        "file_bytes": summary.source.path.stat().st_size,
        "nodes": summary.network.n_nodes,
        "edges": summary.network.n_edges,
        "cache_bytes": cache_bytes,
        "cold_s": cold,
        "warm_s": warm,
        "cold_median_s": statistics.median(cold),
        "warm_median_s": statistics.median(warm),
        "speedup": statistics.median(cold) / statistics.median(warm),
        "cold_steps_median_s": {
            label: statistics.median(s.get(label, 0.0) for s in cold_steps)
            for label in sorted(labels)
        },
    }


def run_cli(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [*twin_command(), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TERM": "dumb"},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"twin {' '.join(args)} failed:\n{done.stderr}")
    return seconds, done.stdout


def bench_cli(city: str, repeat: int) -> dict:
    cold, warm = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="twin-bench-cli-") as tmp:
            command = ["city", "info", city, "--json", "--cache-dir", tmp]
            seconds, out = run_cli(command)
            if json.loads(out)["from_cache"]:
                raise RuntimeError(f"{city}: cold CLI run reported from_cache")
            cold.append(seconds)
            seconds, out = run_cli(command)
            if not json.loads(out)["from_cache"]:
                raise RuntimeError(f"{city}: warm CLI run did not use the cache")
            warm.append(seconds)
    return {
        "cold_s": cold,
        "warm_s": warm,
        "cold_median_s": statistics.median(cold),
        "warm_median_s": statistics.median(warm),
        "speedup": statistics.median(cold) / statistics.median(warm),
    }


def markdown_tables(results: list[dict], floor_s: float, repeat: int) -> str:
    lines = [
        f"In-process `load_city` (median of {repeat}; cold = build + write cache into an empty "
        "folder, warm = read that cache):",
        "",
        "| city | file MB | nodes | edges | cold s | warm s | speed-up | cache MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['file_bytes'] / 1e6:.2f} | {r['nodes']:,} | {r['edges']:,} "
            f"| {r['cold_median_s']:.3f} | {r['warm_median_s']:.3f} | {r['speedup']:.1f}× "
            f"| {r['cache_bytes'] / 1e6:.2f} |"
        )
    if any("cli" in r for r in results):
        lines += [
            "",
            f"End to end, `twin city info CITY --json --cache-dir TMP` in a fresh process "
            f"(median of {repeat}; wall time including Python start-up and imports; start-up "
            f"floor `twin --version` = {floor_s:.2f} s):",
            "",
            "| city | cold s | warm s | speed-up | warm minus floor s |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in results:
            if "cli" not in r:
                continue
            c = r["cli"]
            lines.append(
                f"| {r['name']} | {c['cold_median_s']:.2f} | {c['warm_median_s']:.2f} "
                f"| {c['speedup']:.1f}× | {c['warm_median_s'] - floor_s:.2f} |"
            )
    steps = sorted({label for r in results for label in r["cold_steps_median_s"]})
    order = ["hash", "cache", "read", "graph", "simplify", "project", "context", "store"]
    steps = [s for s in order if s in steps] + [s for s in steps if s not in order]
    lines += [
        "",
        "Where a cold load spends its time (median seconds per `on_step` label):",
        "",
        "| city | " + " | ".join(steps) + " |",
        "|---|" + "---:|" * len(steps),
    ]
    for r in results:
        cells = " | ".join(f"{r['cold_steps_median_s'].get(s, 0.0):.3f}" for s in steps)
        lines.append(f"| {r['name']} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cities-dir",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "cities",
        help="folder of .osm.pbf extracts (default: ../shared/cities from the repo root)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON")
    parser.add_argument("--no-cli", action="store_true", help="skip the subprocess measurement")
    parser.add_argument(
        "--only", nargs="*", help="limit to these cities (file stem or 'helsinki')", default=None
    )
    args = parser.parse_args()

    cities: list[tuple[str, str | Path]] = [
        (p.name.removesuffix(".osm.pbf"), p.resolve())
        for p in sorted(args.cities_dir.glob("*.osm.pbf"))
    ]
    if not cities:
        log(f"warning: no .osm.pbf files in {args.cities_dir}")
    cities.append(("helsinki", "helsinki"))
    if args.only:
        cities = [c for c in cities if c[0] in args.only]
    from cities import resolve
    from cities.city import load_city

    cities.sort(key=lambda c: resolve(c[1]).path.stat().st_size)

    # untimed warm-up: import geopandas, pyrosm, osmium, pyarrow... before the first timed load

    with tempfile.TemporaryDirectory() as tmp:
        load_city(cities[0][1], cache_dir=tmp)
        load_city(cities[0][1], cache_dir=tmp)

    results = []
    for label, city in cities:
        log(f"[in-process] {label} …")
        result = bench_in_process(city, args.repeat)
        result["label"] = label
        log(
            f"  cold {result['cold_median_s']:.3f} s, warm {result['warm_median_s']:.3f} s, "
            f"{result['speedup']:.1f}×"
        )
        if not args.no_cli:
            log(f"[cli] {label} …")
            result["cli"] = bench_cli(str(city), args.repeat)
            log(
                f"  cold {result['cli']['cold_median_s']:.2f} s, "
                f"warm {result['cli']['warm_median_s']:.2f} s"
            )
        results.append(result)

    floor_s = 0.0
    if not args.no_cli:
        floor_s = statistics.median(run_cli(["--version"])[0] for _ in range(args.repeat))

    print(markdown_tables(results, floor_s, args.repeat))
    worst = min(r["speedup"] for r in results)
    verdict = "PASS" if worst >= TARGET_SPEEDUP else "FAIL"
    print(
        f"\nCache target (warm load ≥ {TARGET_SPEEDUP:.0f}× faster than cold, in-process): "
        f"{verdict}; lowest speed-up {worst:.1f}×."
    )

    if args.json_out:
        payload = {
            "benchmark": "city_load",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "repeat": args.repeat,
            "cli_startup_floor_s": floor_s,
            "target_speedup": TARGET_SPEEDUP,
            "cities": results,
        }
        args.json_out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        log(f"wrote {args.json_out}")


if __name__ == "__main__":
    if shutil.which("twin") is None and not Path(sys.executable).with_name("twin").is_file():
        log("note: no `twin` script next to this Python; using `python -m twin`")
    main()
