"""How much offsets matter over the learned signal planner's cycles and splits: every offset 0
(every green at once) against 40 draws of uniform random offsets, on the tuning day's trips and
on a fresh day's. Run::

    .venv/bin/python benchmarks/studies/signal_offsets.py helsinki --seeds 0 1
    .venv/bin/python benchmarks/studies/signal_offsets.py ../shared/cities/aguascalientes.osm.pbf
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.traffic.demand import generate_trips
from agents.traffic.model import TrafficConfig
from agents.traffic.retiming import measured_flows_vph, score, simulate
from agents.traffic.signals import SignalPlan, default_plans
from cities import load_city
from cities.peak_demand import peak_hour_demand
from generative.signal_propose import LearnedSignalPlanner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--draws", type=int, default=40)
    args = parser.parse_args()
    planner = LearnedSignalPlanner()
    config = TrafficConfig(duration_s=7200, dt_s=2.0, reroute_share=0.2)
    city = load_city(args.city)
    network, current = city.network, default_plans(city.network)
    n = peak_hour_demand(city.context, network).trips(3600)

    def delay(trips, plans, seed):
        return score(simulate(network, trips, plans, config=config, seed=seed)).total_delay_veh_h

    for seed in args.seeds:
        day = lambda s: generate_trips(  # noqa: E731
            city.context, n_trips=n, window_s=3600, rng=np.random.default_rng(s)
        )
        tuning, fresh = day(seed), day(seed + 1000)
        baseline = simulate(network, tuning, current, config=config, seed=seed)
        proposed = planner.propose(network, current, measured_flows_vph(baseline))
        learned = {j: SignalPlan(p.node, p.phases, 0.0, p.lost_time_s) for j, p in proposed.items()}
        rng = np.random.default_rng(seed)
        zero = delay(tuning, learned, seed)
        draws = []
        for _ in range(args.draws):
            plans = {
                j: SignalPlan(p.node, p.phases, float(rng.uniform(0, p.cycle_s)), p.lost_time_s)
                for j, p in learned.items()
            }
            draws.append((delay(tuning, plans, seed), plans))
        changes = np.array([d for d, _ in draws]) / zero - 1
        best = min(draws, key=lambda item: item[0])[1]
        fresh_zero, fresh_best = delay(fresh, learned, seed), delay(fresh, best, seed)
        print(
            f"{city.name} seed {seed}: random offsets against 0, tuning day: mean "
            f"{changes.mean():+.1%} [{changes.min():+.1%}, {changes.max():+.1%}]; the best draw "
            f"on a fresh day {fresh_best / fresh_zero - 1:+.1%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
