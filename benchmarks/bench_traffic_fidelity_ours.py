"""Benchmark: ours on the six-network fidelity table's trips again, against UXsim's figures.

UXsim's runs in ``bench_traffic_fidelity.py`` take most of its hour and do not depend on our
code; after a change to our engine only ours needs running again. This reruns ours on the same
trips (``bench_traffic_fidelity.demand``: the level's trip count, seed 0 of the draw) with
``bench_traffic_fidelity.run_ours`` and sets each run beside UXsim C++'s TTT from the table of
2026-12-03 (commit ``556c55e``, ``deltan`` 1; BENCHMARKS-HISTORY.md, "Six networks, five demand
levels, two route modes"), in the same two route modes:

- *fixed*: free-flow shortest paths, ours seed 0 against UXsim's seed 0: the link and node
  models alone;
- *adaptive*: every driver re-routing every 600 s at the default price, ours over ``--seeds``
  seeds (the median run and the range) against UXsim's median of three seeds; a level counts
  where UXsim finished every trip in all three.

``--uxsim-seeds N`` runs UXsim C++ again in adaptive mode over seeds 0 … N − 1 (its median run
and range, and "some" where any seed left a trip unfinished) instead of reading its recorded
median of three: near gridlock three seeds are as noisy as three of ours.

Usage::

    python benchmarks/bench_traffic_fidelity_ours.py [--modes fixed,adaptive] [--seeds 3] \
        [--uxsim-seeds 21]

Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse

from bench_traffic_fidelity import SHARED, demand, log, over_seeds, run_ours, run_uxsim

# network → per level 20–100 %: (trips, UXsim C++ adaptive TTT: the median of three seeds,
# whether UXsim finished every trip in all three, UXsim C++ fixed-route TTT (seed 0), the trips
# it left unfinished there); BENCHMARKS-HISTORY.md: the six-network tables of 2026-12-03
# (fixed: commit 556c55e; adaptive: "the median of three seeds", São Paulo's 80 and 100 % from
# its own run)
UXSIM = {
    "helsinki": [
        (1321, 41.0, True, 40.9, 0),
        (2643, 85.8, True, 81.6, 0),
        (3964, 128.5, True, 126.3, 0),
        (5286, 200.5, True, 235.2, 0),
        (6607, 376.5, True, 4494.3, 3371),
    ],
    "kotka": [
        (968, 48.2, True, 47.7, 0),
        (1936, 106.4, True, 98.5, 0),
        (2904, 199.2, True, 235.1, 0),
        (3872, 588.9, True, 772.1, 0),
        (4840, 1397.2, True, 2058.6, 95),
    ],
    "aguascalientes": [
        (2813, 94.8, True, 90.2, 0),
        (5626, 217.3, True, 183.6, 0),
        (8438, 530.7, True, 380.9, 0),
        (11251, 1212.5, True, 1114.2, 0),
        (14064, 4461.3, False, 6190.9, 4501),
    ],
    "andorra": [
        (1277, 251.4, True, 246.8, 0),
        (2554, 521.8, True, 503.3, 0),
        (3830, 819.4, True, 763.3, 0),
        (5107, 1147.7, True, 1038.8, 0),
        (6384, 1678.6, False, 1434.7, 0),
    ],
    "sao-paulo-centre": [
        (6042, 599.9, True, 583.3, 0),
        (12083, 1286.5, True, 1487.5, 0),
        (18125, 2265.1, True, 4076.0, 190),
        (24166, 3755.3, True, 10027.6, 1955),
        (30208, 6281.5, True, 20052.7, 10607),
    ],
    "liechtenstein": [
        (1135, 182.1, True, 179.1, 0),
        (2270, 383.2, True, 361.5, 0),
        (3406, 610.1, True, 539.1, 0),
        (4541, 982.6, True, 740.5, 0),
        (5676, 1276.6, True, 950.7, 0),
    ],
}
LEVELS = ("20%", "40%", "60%", "80%", "100%")


def _source(name: str) -> str:
    extract = SHARED / f"{name}.osm.pbf"
    return str(extract) if extract.is_file() else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="fixed,adaptive")
    parser.add_argument("--seeds", type=int, default=3, help="ours' seeds in adaptive mode")
    parser.add_argument("--city", action="append", help="a network of the table; default: all")
    parser.add_argument(
        "--uxsim-seeds", type=int, default=0,
        help="run UXsim C++ (adaptive) over this many seeds; 0: its recorded median of three",
    )  # fmt: skip
    args = parser.parse_args()
    from cities.city import load_city

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    print("| network | level | trips | routes | ours TTT (veh-h) | UXsim C++ | ours − UXsim | "
          "unfinished ours (most) / UXsim | wall, median run (s) |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    within = {mode: [0, 0] for mode in modes}
    for name in args.city or list(UXSIM):
        city = load_city(_source(name))
        for level, (n_trips, ux_adaptive, ux_clean, ux_fixed, ux_unfinished) in zip(
            LEVELS, UXSIM[name], strict=True
        ):
            trips = demand(city, n_trips)
            for mode in modes:
                adaptive = mode == "adaptive"
                median = over_seeds(
                    run_ours, args.seeds if adaptive else 1, city, trips, adaptive=adaptive, dt=5.0
                )
                low, high = median["ttt_range"]
                peer_spread = ""
                if adaptive and args.uxsim_seeds:
                    uxsim = over_seeds(run_uxsim, args.uxsim_seeds, city, trips, adaptive=True)
                    ux_adaptive, ux_clean = uxsim["ttt_h"], uxsim["unfinished_max"] == 0
                    peer_spread = " [{:,.1f}–{:,.1f}]".format(*uxsim["ttt_range"])
                peer = ux_adaptive if adaptive else ux_fixed
                peer_unfinished = 0 if adaptive else ux_unfinished
                diff = median["ttt_h"] / peer - 1
                if ux_clean if adaptive else peer_unfinished == 0:
                    within[mode][1] += 1
                    within[mode][0] += abs(diff) <= 0.10
                spread = f" [{low:,.1f}–{high:,.1f}]" if adaptive and args.seeds > 1 else ""
                log(f"{name} {level} {mode}: {diff:+.1%}")
                print(
                    f"| {name} | {level} | {n_trips:,} | {mode} | {median['ttt_h']:,.1f}{spread} "
                    f"| {peer:,.1f}{peer_spread} | {100 * diff:+.1f} % | "
                    f"{median['unfinished_max']:,} / "
                    f"{peer_unfinished if ux_clean or not adaptive else 'some':} | "
                    f"{median['wall_s']:.1f} |",
                    flush=True,
                )
    print()
    for mode, (good, count) in within.items():
        print(f"{mode}: ours' TTT within 10 % of UXsim C++ where UXsim finished every trip in "
              f"{good} of {count} runs")  # fmt: skip


if __name__ == "__main__":
    main()
