"""Waste-collection policies side by side on a real city: fixed schedule, fill threshold, greedy
and PyVRP-planned routes, the same bins, fleet, waste and days for all.

Usage::

    python benchmarks/bench_waste_policies.py [--city PATH] [--population N] [--days 28]
        [--trucks 5] [--seeds 0,1,2] [--solver-time 2] [--json-out FILE]

Prints a Markdown table per seed and a summary of truck-km relative to the fixed schedule.
Every run is also checked: the mass balance holds to 1e-6 of the waste generated and the routes'
distance equals the network edges driven.

Besides the totals, each row gives the truck-km per week after the first (``km/wk from wk 2``:
the first week flatters sensor policies, whose bins start a third full, while the schedule
empties every bin on its day regardless) and the waste left in the bins at the end (a policy that
ends with fuller bins has collected, and hauled, less). Below each table, the haul floor: the
kilometres any policy drives just to take the waste it collected to the disposal site in full
truck loads (waste-weighted round trip bin ↔ disposal site × loads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.waste.bins import place_bins  # noqa: E402
from agents.waste.model import WasteConfig, WasteModel  # noqa: E402
from agents.waste.sites import locate_sites  # noqa: E402
from cities.city import load_city  # noqa: E402

DEFAULT_CITY = REPO.parent / "shared" / "cities" / "liechtenstein.osm.pbf"
DEFAULT_POPULATION = 40_000.0  # Liechtenstein has about 40,000 residents (the OSM-based
# estimate, from residential floor area, is twice that: untyped buildings count as homes)
POLICIES = ("schedule", "threshold", "greedy", "pyvrp")
# each name as the waste twin's policy (which bins, when) and planner (who routes them)
STRATEGIES = {
    "schedule": ("schedule", "pyvrp"),
    "threshold": ("threshold", "pyvrp"),
    "greedy": ("forecast", "greedy"),
    "pyvrp": ("forecast", "pyvrp"),
}


def run_policy(city, bins, sites, policy: str, args, seed: int) -> dict:
    config = WasteConfig(
        days=args.days,
        policy=STRATEGIES[policy][0],
        planner=STRATEGIES[policy][1],
        n_trucks=args.trucks,
        solver_time_s=args.solver_time,
    )
    start = time.perf_counter()
    model = WasteModel(city.network, bins, sites, config=config, seed=seed)
    result = model.run()
    wall = time.perf_counter() - start
    kpis = result.kpis
    generated = model.initial_kg + result.daily["generated_kg"].sum()
    balance = abs(model.mass_balance_error_kg())
    assert balance <= 1e-6 * generated, f"mass balance off by {balance} kg"
    driven = sum(city.network.edge_length_m[e].sum() for e in result.routes["edges"]) / 1000.0
    assert abs(driven - kpis["truck_km"]) <= 1e-6 * max(driven, 1.0), (driven, kpis["truck_km"])
    plan_s = float(result.daily.get("plan_s", 0).sum())
    # steady state: whole weeks after the first (None for runs shorter than two weeks)
    daily = result.daily
    weeks = (len(daily) - 7) // 7
    later = daily[(daily["day"] >= 7) & (daily["day"] < 7 + 7 * weeks)]
    km_per_week = float(later["truck_km"].sum()) / weeks if weeks > 0 else None
    # the haul floor: every tonne collected rides, in full loads, from its bin to the disposal
    # site and the truck comes back; bins weighted by the waste they produce
    _, distance = model.matrices(config.shift_start_s)
    round_trip_km = (distance[1, 2:] + distance[2:, 1]) / 1000.0
    reachable = np.isfinite(round_trip_km)
    weights = bins.daily_kg[reachable]
    mean_round_trip_km = float(np.sum(weights * round_trip_km[reachable]) / weights.sum())
    loads = kpis["collected_t"] * 1000.0 / config.truck_capacity_kg
    return {
        "policy": policy,
        "seed": seed,
        "wall_s": wall,
        "plan_s": plan_s,
        "km_per_week_after_first": km_per_week,
        "left_in_bins_t": float(model.fill_kg.sum()) / 1000.0,
        "haul_floor_km": loads * mean_round_trip_km,
        "mean_round_trip_km": mean_round_trip_km,
        **{k: v for k, v in kpis.items() if not isinstance(v, dict)},
    }


def table(rows: list[dict]) -> list[str]:
    base = next(r for r in rows if r["policy"] == "schedule")
    lines = [
        "| policy | truck-km | vs schedule | km/wk from wk 2 | vs schedule | truck-h "
        "| bins emptied | mean fill at emptying | overflow bin-days | overflow t | service level "
        "| left in bins t | CO2 t | € per t | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        weekly, base_weekly = r["km_per_week_after_first"], base["km_per_week_after_first"]
        steady = (
            f"| {weekly:,.0f} | {weekly / base_weekly - 1:+.1%} "
            if weekly is not None and base_weekly
            else "| – | – "
        )
        lines.append(
            f"| {r['policy']} | {r['truck_km']:,.0f} | {r['truck_km'] / base['truck_km'] - 1:+.1%} "
            f"{steady}"
            f"| {r['truck_hours']:,.0f} | {r['bins_emptied']:,} | {r['mean_fill_at_emptying']:.2f} "
            f"| {r['overflow_bin_days']:,} | {r['overflow_t']:.2f} | {r['service_level']:.4f} "
            f"| {r['left_in_bins_t']:.0f} | {r['co2_kg'] / 1000:.1f} "
            f"| {r['cost_per_tonne_eur']:.1f} | {r['wall_s']:.0f} |"
        )
    floors = ", ".join(f"{r['policy']} {r['haul_floor_km']:,.0f}" for r in rows)
    lines += [
        "",
        f"Haul floor (km to take what each policy collected to the disposal site in full "
        f"loads, {rows[0]['mean_round_trip_km']:.1f} km waste-weighted round trip): {floors}.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--city", type=Path, default=DEFAULT_CITY)
    parser.add_argument("--population", type=float, default=DEFAULT_POPULATION)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--trucks", type=int, default=5)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    parser.add_argument("--solver-time", type=float, default=2.0)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    city = load_city(args.city)
    out: list[str] = []
    rows: list[dict] = []

    def emit(*lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            out.append(line)

    for seed in args.seeds:
        bins = place_bins(
            city.network, city.context, rng=np.random.default_rng(seed), population=args.population
        )
        sites = locate_sites(city.network, city.context, city=city.name)
        emit(
            f"### {city.name}, seed {seed}: {len(bins):,} bins ({int(bins.containers.sum()):,} "
            f"containers), {bins.daily_kg.sum() / 1000:.1f} t/day, {args.trucks} trucks, "
            f"{args.days} days, PyVRP {args.solver_time:g} s/day",
            "",
            f"- depot: {sites.depot_source}; disposal: {sites.disposal_source}",
            "",
        )
        seed_rows = []
        for policy in args.policies.split(","):
            row = run_policy(city, bins, sites, policy, args, seed)
            seed_rows.append(row)
            print(f"  {policy}: {row['truck_km']:.0f} km in {row['wall_s']:.0f} s", flush=True)
        emit(*table(seed_rows), "")
        rows.extend(seed_rows)

    if "schedule" in args.policies:
        emit("Truck-km relative to the fixed schedule (per seed):", "")
        for policy in args.policies.split(","):
            ratios = [
                r["truck_km"]
                / next(b for b in rows if b["policy"] == "schedule" and b["seed"] == r["seed"])[
                    "truck_km"
                ]
                - 1
                for r in rows
                if r["policy"] == policy
            ]
            levels = [r["service_level"] for r in rows if r["policy"] == policy]
            emit(
                f"- {policy}: "
                + ", ".join(f"{x:+.1%}" for x in ratios)
                + "; service level "
                + ", ".join(f"{x:.4f}" for x in levels)
            )
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": rows, "markdown": out}, indent=2))


if __name__ == "__main__":
    main()
