"""Writing run results: Parquet and GeoParquet into a folder that appears whole or not at all.

Results are staged in a hidden sibling folder and renamed into place at the end, so an
interrupted or failed run never leaves a half-written output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import TwinError
from twin.network import RoadNetwork

__all__ = ["atomic_output_dir", "edge_summary", "write_traffic_result"]


def atomic_output_dir(out: Path, fill: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Create ``out`` by calling ``fill(staging_folder)`` and renaming the folder into place.

    Raises
    ------
    TwinError
        ``out`` exists and is not empty (and ``overwrite`` is false), or cannot be written.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise TwinError(
            f"Output folder {out} already exists and is not empty: choose a new folder or "
            "pass --overwrite."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as err:
        raise TwinError(f"Cannot write to {out.parent} ({err.strerror or err}).") from None
    try:
        fill(staging)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / out.name)
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def edge_summary(network: RoadNetwork, series: pd.DataFrame) -> pd.DataFrame:
    """Per edge over the whole run: mean flow, mean and minimum speed, peak density and queue."""
    grouped = series.groupby("edge")
    summary = pd.DataFrame(
        {
            "mean_flow_vph": grouped["flow_vph"].mean(),
            "mean_speed_kph": grouped["speed_kph"].mean(),
            "min_speed_kph": grouped["speed_kph"].min(),
            "peak_density_vpkm": grouped["density_vpkm"].max(),
            "peak_queue_veh": grouped["queue_veh"].max(),
        }
    ).reindex(np.arange(network.n_edges))
    summary["speed_ratio"] = summary["mean_speed_kph"] / network.edge_speed_kph
    return summary


def write_traffic_result(
    out: Path,
    *,
    network: RoadNetwork,
    kpis: dict,
    trips: pd.DataFrame,
    edge_series: pd.DataFrame,
    model_data: pd.DataFrame,
    run_info: dict,
    overwrite: bool = False,
) -> Path:
    """Write a traffic run: ``kpis.json``/``.parquet``, ``trips.parquet``,
    ``edge_timeseries.parquet``, ``edges.parquet`` (GeoParquet with per-edge summaries, for
    maps), ``model_data.parquet`` (Mesa's DataCollector) and ``run.json`` (what reproduces it)."""

    def fill(folder: Path) -> None:
        (folder / "kpis.json").write_text(json.dumps(kpis, indent=2, default=float))
        flat = {k: v for k, v in kpis.items() if not isinstance(v, dict)}
        pd.DataFrame([flat]).to_parquet(folder / "kpis.parquet")
        trips.to_parquet(folder / "trips.parquet")
        edge_series.to_parquet(folder / "edge_timeseries.parquet")
        _, edges = network.to_geodataframes()
        edges.join(edge_summary(network, edge_series)).to_parquet(folder / "edges.parquet")
        model_data.to_parquet(folder / "model_data.parquet")
        (folder / "run.json").write_text(json.dumps(run_info, indent=2, default=str))

    return atomic_output_dir(out, fill, overwrite=overwrite)
