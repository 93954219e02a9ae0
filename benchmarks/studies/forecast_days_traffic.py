"""Which of a waste run's forecast days gridlocked: the traffic KPIs of the ``--days`` other days
``twin.api.run_waste`` simulates for ``forecast_days`` (the same seeds, trips and settings as a
run with default closures and signals), per run seed. Session 25 checked with it that no forecast
day of the 20,000-trip congestion rows gridlocked (those rows were measured before gridlocked
days were left out of the forecast; since then the benchmark records it itself). Run::

    .venv/bin/python benchmarks/studies/forecast_days_traffic.py ../shared/cities/andorra.osm.pbf \\
        --trips 20000 --seeds 0,1,2 --days 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents.traffic.demand import generate_trips
from agents.traffic.model import TrafficConfig
from agents.waste.model import WasteConfig
from cities.city import load_city
from twin.api import _forecast_link_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    city = load_city(args.city)
    network, config = city.network, WasteConfig()
    closed = np.zeros(network.n_edges, dtype=bool)
    for seed in [int(s) for s in args.seeds.split(",")]:
        # only the number of the day's own trips matters to the forecast days
        own = generate_trips(city.context, n_trips=args.trips, window_s=config.shift_s,
                             rng=np.random.default_rng(0))  # fmt: skip
        traffic = {"trips": own, "config": TrafficConfig(duration_s=config.shift_s, dt_s=5.0),
                   "closed": closed, "seed": seed, "signal_plans": None}  # fmt: skip
        _, days = _forecast_link_times(city, network, traffic, config, closed, seed=seed,
                                       days=args.days, progress=lambda day: None)  # fmt: skip
        said = ", ".join(
            f"{'gridlock' if d.get('gridlock') else 'flowing'} "
            f"({d.get('trips_unfinished_share', 0.0):.1%} unfinished)"
            for d in days
        )
        print(f"{city.name} seed {seed}: {said}", flush=True)


if __name__ == "__main__":
    main()
