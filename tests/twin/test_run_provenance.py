"""Runs carry the provenance of their plans into run.json and every export of them."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pyogrio
import pytest

from twin.api import run_traffic, run_waste
from twin.provenance import MODEL_LABEL, Provenance
from twin.signal_proposals import propose_signals

TRAFFIC = {"trips": 800, "duration": "40min", "window": "20min"}


def _exports(out) -> dict[str, dict]:
    """The provenance each export of a waste run's routes carries."""
    geojson = json.loads((out / "routes.geojson").read_text())
    layer = pyogrio.read_info(out / "waste.gpkg", layer="routes")["layer_metadata"]
    parquet = pq.read_schema(out / "routes.parquet").metadata
    return {
        "run.json": json.loads((out / "run.json").read_text())["plan_provenance"],
        "routes.geojson": geojson["provenance"],
        "waste.gpkg": json.loads(layer["provenance"]),
        "routes.parquet": json.loads(parquet[b"provenance"]),
        "labels": {
            "geojson": geojson["label"], "gpkg": json.loads(layer["label"]),
            "parquet": json.loads(parquet[b"label"]),
        },
    }  # fmt: skip


@pytest.mark.parametrize("planner", ["learned", "greedy"])
def test_a_waste_runs_routes_carry_their_provenance_everywhere(helsinki, tmp_path, planner):
    run = run_waste(helsinki, days=2, trucks=2, planner=planner, seed=4)
    out = run.write(tmp_path / planner, formats=("geojson", "gpkg"))
    found = _exports(out)
    labels = found.pop("labels")
    record = found["run.json"]
    assert all(value == record for value in found.values()), found
    provenance = Provenance.from_dict(record)
    assert provenance.by_model == (planner == "learned") and provenance.seed == 4
    assert len(set(labels.values())) == 1
    assert labels["geojson"].startswith(MODEL_LABEL) == (planner == "learned")
    # the same inputs, the same provenance (but for the time it was made)
    again = run_waste(helsinki, days=2, trucks=2, planner=planner, seed=4)
    assert again.run_info()["plan_provenance"]["id"] == record["id"]
    other = run_waste(helsinki, days=2, trucks=3, planner=planner, seed=4)
    assert other.run_info()["plan_provenance"]["id"] != record["id"]


def test_a_run_of_an_approved_plan_file_carries_the_proposals_provenance(helsinki, tmp_path):
    proposal = propose_signals(helsinki, TRAFFIC, method="webster", seed=1)
    folder = proposal.write(tmp_path / "proposal", sumo_net=None)
    run = run_traffic(helsinki, {**TRAFFIC, "signal_plan": str(folder / "plans.csv")}, seed=1)
    assert run.run_info()["plan_provenance"] == proposal.provenance.to_dict()
    webster = run_traffic(helsinki, {**TRAFFIC, "signal_plan": "webster"}, seed=1)
    made = webster.run_info()["plan_provenance"]
    assert made["planner"] == "webster" and not made["by_model"]
    assert "plan_provenance" not in run_traffic(helsinki, TRAFFIC, seed=1).run_info()
