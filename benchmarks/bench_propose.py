"""The learned planner against PyVRP and greedy on a real city's collection days.

For each of ``--instances`` steady-state working days of ``--bins`` bins (the tenth and later
working days of the city's waste twin, one seed each), plan with:

- the learned planner alone, best of ``--samples`` sampled plans after refining the
  cheapest ``--refine`` by its own local search (:mod:`generative.refine`; wall and CPU
  seconds), and the same plans as the model drew them (``as drawn``: no refining);
- learned + PyVRP polish with a total wall time of 1 s and of 5 s, starting from the fewest
  samples asked for (the polish gets what the learned planner left of the budget); with
  ``--as-given`` also the polish started from the learned plan as it is, without PyVRP's
  local search of the start (how ``pyvrp.solve`` takes a given solution), and with
  ``--trips-kept`` the polish whose start keeps the model's trips on the trucks it gave them
  (the planner spreads them over idle trucks first: ``spread_trips``);
- PyVRP alone for 1 s and for 5 s;
- greedy nearest neighbour;
- with ``--compare``, other checkpoints' learned plans alone on the same days (side by side
  with ``--checkpoint``'s, in one run, as a new model is weighed against the shipped one).

Every plan is checked (:func:`agents.waste.planning.check_plan`) and costed the same way
(:func:`generative.instances.plan_cost`: km driven + prizes of bins left + penalties).
Gaps are to PyVRP-5 s on the same day; each polish is also compared day by day with PyVRP
alone at the same budget (mean difference, its standard error, days better / worse).
``--budgets`` sets other total wall times (the gaps are then to the longest).

``--evaluation-out FILE`` also writes the evaluation document of ``--checkpoint`` that its
model card copies (:mod:`generative.model_card`: ``twin model-card CHECKPOINT --evaluation
FILE --write``): every planner's gap, cost and wall time as mean, standard error and days, the
command, and whether the checkpoint ever trained on the city (held out if not). Run::

    .venv/bin/python benchmarks/bench_propose.py --city helsinki --bins 100 --instances 10
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from agents.waste.planning import GreedyPlanner, PyVRPPlanner, check_plan
from cities.city import load_city
from generative.instances import plan_cost, sample_instances, to_problem
from generative.model_card import evaluation_document, summarize, write_evaluation
from generative.propose import LearnedPlanner, shipped_checkpoint


def benchmark_day(
    city, k: int, *, bins: int, trucks: int, population: float | None, first_seed: int = 1000
):
    """(seed, problem) of the ``k``-th benchmark day: the tenth working day of the city's waste
    twin run with seed ``first_seed + k`` (a steady state; a placement of bins no training
    used; another ``first_seed``, days no choice was made on)."""
    seed = first_seed + k
    days = sample_instances(
        city, n_bins=bins, n_instances=10, seed=seed, n_trucks=trucks, population=population
    )
    return seed, to_problem(days, 9)


def _timed(planner, problem, **options):
    wall, cpu = time.perf_counter(), time.process_time()
    plan = planner.plan(problem, **options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert check_plan(problem, plan) == [], planner
    return plan_cost(problem, plan) / 1000.0, wall, cpu


class _PolishedFrom:
    """The learned planner's sample polished by PyVRP otherwise than the planner does: from the
    plan as it is (``settle=False``: no local search of the start), or with its trips left on
    the trucks the model gave them (no :func:`~agents.waste.planning.spread_trips`)."""

    def __init__(self, learned: LearnedPlanner, polish_s: float, *, settle: bool) -> None:
        self.learned, self.polish_s, self.settle = learned, polish_s, settle

    def plan(self, problem, *, seed: int = 0):
        start = self.learned.sample(problem, seed=seed)
        search = PyVRPPlanner(max_runtime_s=self.polish_s, settle_start=self.settle)
        polished = search.plan(problem, seed=seed, initial=start)
        return min((polished, start), key=lambda plan: plan_cost(problem, plan))


def evaluation_results(
    rows: dict[str, list], *, reference: str, city, size: dict, seeds: list[int]
) -> list[dict]:
    """Result rows of an evaluation document (:func:`generative.model_card.evaluation_document`)
    from the measured days ``rows`` (planner: one (cost km, wall s, CPU s) per day): for each
    planner its gap to ``reference`` (%), cost (km) and wall time (s), and for each polish its
    difference from PyVRP alone at the same budget (%), day by day; mean, standard error and
    number of days."""
    base = np.array([r[0] for r in rows[reference]])
    common = {"city": city.name, "city_sha256": city.source.sha256, "size": size}
    results = []
    for name, measured in rows.items():
        cost = np.array([r[0] for r in measured])
        metrics = [
            (f"gap to {reference}", "%", (cost / base - 1.0) * 100.0),
            ("cost", "km", cost),
            ("wall time", "s", np.array([r[1] for r in measured])),
        ]
        if "polish" in name:
            alone = np.array([r[0] for r in rows[f"PyVRP {name.rsplit('= ', 1)[1]}"]])
            metrics.append(("difference from PyVRP alone at the same budget", "%",
                            (cost / alone - 1.0) * 100.0))  # fmt: skip
        for metric, unit, values in metrics:
            results.append({**common, "method": name, "metric": metric, "unit": unit,
                            **summarize(values), "n_of": "days", "seeds": seeds})  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="helsinki")
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument(
        "--population",
        type=float,
        help="residents the bins serve (default: the city's own estimate); more residents, "
        "more bins to draw days from",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1000,
        help="seed of the first day (the benchmark's days: 1000; others are fresh days)",
    )
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        default=[],
        help="other checkpoints whose learned plans (alone) are measured on the same days",
    )
    parser.add_argument(
        "--temperature", type=float, help="sampling temperature (default: LearnedPlanner's)"
    )
    parser.add_argument(
        "--refine",
        type=int,
        help="sampled plans refined by the planner's local search (default: LearnedPlanner's)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--outside-range",
        "--too-large",
        default="refuse",
        choices=["refuse", "attempt"],
        help="days outside the model's training range: refuse, or let the model attempt them",
    )
    parser.add_argument(
        "--as-given",
        action="store_true",
        help="also polish from the learned plan as it is (no local search of the start)",
    )
    parser.add_argument(
        "--trips-kept",
        action="store_true",
        help="also polish from the learned plan with its trips on the trucks the model gave "
        "them (before spread_trips)",
    )
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[1.0, 5.0],
        help="total wall seconds of PyVRP alone and of learned + polish (gaps to the longest)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/propose.json"))
    parser.add_argument(
        "--evaluation-out",
        type=Path,
        help="also write the evaluation document of --checkpoint for its model card",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    city = load_city(args.city)
    checkpoint = args.checkpoint or shipped_checkpoint(city.name, sha256=city.source.sha256)
    sha = city.source.sha256
    tempered = {} if args.temperature is None else {"temperature": args.temperature}
    if args.refine is not None:
        tempered["refine"] = args.refine
    learned = {
        s: LearnedPlanner(
            checkpoint, samples=s, place_sha256=sha, outside_range=args.outside_range, **tempered
        )
        for s in args.samples
    }
    # labelled by path: run folders all name their checkpoint checkpoint.pt
    samplers = {f"learned ({s} samples)": planner for s, planner in learned.items()}
    if learned[min(args.samples)].refine:
        drawn = {**tempered, "refine": 0, "outside_range": args.outside_range}
        samplers.update(
            {
                f"learned as drawn ({s} samples)": LearnedPlanner(
                    checkpoint, samples=s, place_sha256=sha, **drawn
                )
                for s in args.samples
            }
        )
    samplers.update(
        {
            f"learned, {other} ({s} samples)": LearnedPlanner(
                other, samples=s, place_sha256=sha, outside_range=args.outside_range, **tempered
            )
            for other in args.compare
            for s in args.samples
        }
    )
    rows: dict[str, list] = {}
    outside = 0  # days outside the checkpoint's training range (planned with --outside-range)

    def add(name: str, measured) -> None:
        rows.setdefault(name, []).append(measured)

    for k in range(args.instances):
        seed, problem = benchmark_day(
            city, k, bins=args.bins, trucks=args.trucks, population=args.population,
            first_seed=args.first_seed,
        )  # fmt: skip
        outside += learned[min(args.samples)].outside(problem) is not None
        for name, planner in samplers.items():
            planner.plan(problem, seed=seed)  # warm-up: first call pays for lazy init
            add(name, _timed(planner, problem, seed=seed))
        # polishing starts from the fastest sampler: under a 1 s budget every 0.1 s of
        # sampling is search time PyVRP alone gets
        start = min(args.samples)
        for budget in args.budgets:
            add(
                f"PyVRP {budget:g} s",
                _timed(PyVRPPlanner(max_runtime_s=budget), problem, seed=seed),
            )
            polish = max(budget - rows[f"learned ({start} samples)"][-1][1], 0.05)
            polisher = learned[start].with_polish(polish)
            add(f"learned + polish = {budget:g} s", _timed(polisher, problem, seed=seed))
            # the polishes the planner does not do, named after "learned + polish"
            variants = {" from the plan as given": (args.as_given, False),
                        ", trips kept on their trucks": (args.trips_kept, True)}  # fmt: skip
            for label, (asked, settle) in variants.items():
                if asked:
                    other = _PolishedFrom(learned[start], polish, settle=settle)
                    name = f"learned + polish{label} = {budget:g} s"
                    add(name, _timed(other, problem, seed=seed))
        add("greedy", _timed(GreedyPlanner(), problem, seed=seed))
        print(f"instance {k + 1}/{args.instances} done", flush=True)

    longest = f"PyVRP {max(args.budgets):g} s"
    reference = np.array([r[0] for r in rows[longest]])
    summary = {}
    print(
        f"\n{city.name}, {args.bins} bins, {args.trucks} trucks, {args.instances} days "
        f"(population {args.population or 'default'}; {outside} outside the model's range); "
        f"gap to {longest}; checkpoint {checkpoint}"
    )
    print(f"| planner | cost km (mean) | gap to {longest} | wall s | CPU s |")
    print("|---|---:|---:|---:|---:|")
    for name, measured in rows.items():
        cost, wall, cpu = (np.array(col) for col in zip(*measured, strict=True))
        gap = float(np.mean(cost / reference - 1.0) * 100.0)
        summary[name] = {
            "cost_km": float(cost.mean()), "gap_pct": gap, "wall_s": float(wall.mean()),
            "cpu_s": float(cpu.mean()),
        }  # fmt: skip
        print(
            f"| {name} | {cost.mean():.2f} | {gap:+.1f} % | {wall.mean():.2f} | {cpu.mean():.2f} |"
        )
    print("\nPolish against PyVRP alone at the same budget, day by day:")
    print("| budget | polish | mean difference | standard error | better | worse |")
    print("|---|---|---:|---:|---:|---:|")
    for name in rows:
        if "polish" not in name:
            continue
        budget = name.rsplit("= ", 1)[1]
        alone = np.array([r[0] for r in rows[f"PyVRP {budget}"]])
        polished = np.array([r[0] for r in rows[name]])
        change = (polished / alone - 1.0) * 100.0
        error = change.std(ddof=1) / np.sqrt(len(change)) if len(change) > 1 else float("nan")
        summary[name]["paired_pct"] = float(change.mean())
        summary[name]["paired_se_pct"] = float(error)
        print(
            f"| {budget} | {name.split(' = ')[0]} | {change.mean():+.2f} % | {error:.2f} % | "
            f"{int((change < -1e-9).sum())} | {int((change > 1e-9).sum())} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "city": city.name, "bins": args.bins, "instances": args.instances,
        "trucks": args.trucks, "population": args.population, "first_seed": args.first_seed,
        "checkpoint": str(checkpoint), "compare": [str(c) for c in args.compare],
        "outside_range_days": outside,
        "temperature": args.temperature, "refine": learned[min(args.samples)].refine,
        "results": summary,
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2))
    if args.evaluation_out:
        # the other checkpoints' rows (--compare) belong to their own cards
        own = {k: v for k, v in rows.items() if not k.startswith("learned, ")}
        size = {"bins": args.bins, "trucks": args.trucks, "population": args.population}
        results = evaluation_results(
            own, reference=longest, city=city, size=size,
            seeds=[args.first_seed + k for k in range(args.instances)],
        )  # fmt: skip
        document = evaluation_document(
            checkpoint=checkpoint, command=shlex.join(["python", *sys.argv]), results=results,
            benchmark="benchmarks/bench_propose.py",
        )  # fmt: skip
        write_evaluation(args.evaluation_out, document)
        print(f"evaluation document {args.evaluation_out} (held out: "
              f"{', '.join(document['held_out']) or 'none'})")  # fmt: skip


if __name__ == "__main__":
    main()
