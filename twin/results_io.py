"""Writing run results: Parquet and GeoParquet into a folder that appears whole or not at all.

Results are staged in a hidden sibling folder and renamed into place at the end, so an
interrupted or failed run never leaves a half-written output folder. The staging folder is named
after the process writing it (``.<out>.partial-<pid>@<host>-…``): one that a killed process left
is removed by the next write of the same folder (or, for a sweep's runs, the sweep's next start).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from agents.kpis import KPI_NOTES
from cities.cache import owner_tag, remove_stale
from cities.network import RoadNetwork
from twin.errors import TwinError
from twin.rounds import write_rounds

__all__ = [
    "OUTPUT_MARKER",
    "TRAFFIC_COLUMNS",
    "atomic_output_dir",
    "bin_points",
    "check_output_folder",
    "edge_summary",
    "replace_dir",
    "route_lines",
    "traffic_edges",
    "traffic_files",
    "waste_files",
    "write_file_atomic",
    "write_traffic_result",
    "write_waste_result",
]


def _sibling(path: Path, kind: str) -> Path:
    """A fresh hidden name next to ``path`` for a temporary copy of it, named after this process
    (:func:`cities.cache.owner_tag`) so that a later start can remove it once that process is
    gone (:func:`cities.cache.remove_stale`)."""
    return path.parent / f".{path.name}.{kind}-{owner_tag()}-{uuid.uuid4().hex}"


def replace_dir(staging: Path, out: Path) -> None:
    """Rename the finished folder ``staging`` to ``out``, retiring a folder already there.

    A reader sees the old folder or the new one, never a mix of the two.
    """
    try:
        os.replace(staging, out)  # out absent (or an empty folder): one rename
        return
    except OSError:
        if not out.exists():
            raise
    retired = _sibling(out, "old")
    # Ctrl-C or a terminate between the two renames would leave neither folder in place (the
    # old one hidden, to be swept away): they wait until both are done
    with _signals_held():
        os.replace(out, retired)
        os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for this thread until the block ends (where the system can)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_file_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Create or replace the file ``path`` by calling ``write(temporary_path)`` and renaming the
    temporary file into place: a reader, or a process killed at any moment, sees the old file or
    the new one, whole."""
    path = Path(path)
    staging = _sibling(path, "partial")
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


OUTPUT_MARKER = ".twin-output.json"
"""The file every output folder of the twin holds: the names it wrote there. ``--overwrite``
(``overwrite=True``) replaces a folder only where it holds nothing else, so that a mistyped
``--out`` (a parent folder of earlier results, a folder of one's own notes) loses nothing."""

MANIFESTS = {
    "run.json": "a run's results",
    "proposal.json": "a proposal",
    "field-documents.json": "field documents",
}
"""The file that names each kind of output folder, and the kind it names."""
_MANIFESTS = frozenset(MANIFESTS)
_WRITTEN_BEFORE_MARKER = frozenset(
    {
        *_MANIFESTS,
        "TrafficFlowObserved.json", "WasteContainer.json", "bin_fill.parquet", "bins.geojson",
        "bins.parquet", "checks.csv", "daily.parquet", "edge_timeseries.parquet",
        "edges.parquet", "kpis.json", "kpis.parquet", "model_data.parquet", "plans.csv",
        "plans.sumo.xml", "routes.geojson", "routes.json", "routes.parquet", "rounds.csv",
        "scenario.yaml", "stops.csv", "sumo", "timings.csv", "timings.md", "traffic",
        "trips.parquet", "waste", "waste.gpkg",
    }
)  # fmt: skip
"""What output folders written before :data:`OUTPUT_MARKER` held (they have no marker, but one
of :data:`_MANIFESTS`): such a folder is the twin's where it holds nothing else."""


def _twin_written(out: Path) -> frozenset[str]:
    """The names in ``out`` that the twin wrote (empty where it is no output of the twin)."""
    try:
        names = json.loads((out / OUTPUT_MARKER).read_text())
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return frozenset(names) | {OUTPUT_MARKER}
    except (OSError, ValueError):
        pass
    if any((out / name).exists() for name in _MANIFESTS):
        return _WRITTEN_BEFORE_MARKER
    return frozenset()


def check_output_folder(
    out: str | os.PathLike[str], *, overwrite: bool = False, manifest: str | None = None
) -> None:
    """Refuse an output folder that a write could not take, before a long run rather than
    after it: a file in its place, a folder that is not empty (without ``overwrite``), one
    holding anything the twin did not write there (with it), a place that cannot be written.

    ``manifest``, the file naming what the write makes (one of :data:`MANIFESTS`): with
    ``overwrite``, a folder holding another kind of output is refused too. A proposal a
    planner approved is not replaced by its own field documents, or by a run's results,
    through a mistyped ``--out``.

    Raises
    ------
    TwinError
        What is wrong with ``out`` and what to do.
    """
    out = Path(out)
    here = Path.cwd().resolve()
    if here == out.resolve() or out.resolve() in here.parents:
        # a run's folder is renamed into place whole: the working folder cannot be replaced
        which = "the current folder" if here == out.resolve() else "above the current folder"
        raise TwinError(
            f"Output folder {out} is {which}, which a run cannot replace whole: name a new "
            "folder in it (e.g. --out results)."
        )
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise TwinError(f"Output folder {out} is a file: choose a folder.")
        if os.path.ismount(out):
            # it would fail only after the run, "Device or resource busy", at the rename
            raise TwinError(
                f"Output folder {out} is a mount point, which a run cannot replace (a run is "
                f"written beside its folder and renamed into place): name a folder in it "
                f"(e.g. {out / 'results'})."
            )
        entries = {entry.name for entry in out.iterdir()}
        if entries and not overwrite:
            raise TwinError(
                f"Output folder {out} already exists and is not empty: choose a new folder or "
                "replace it (overwrite=True; --overwrite on the command line)."
            )
        foreign = sorted(entries - _twin_written(out))
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise TwinError(
                f"Output folder {out} holds what no run of the twin wrote there ({shown}): "
                "--overwrite replaces only a folder the twin wrote; choose a new folder, or "
                "move those away."
            )
        other = sorted(name for name in entries & _MANIFESTS if name != manifest)
        if manifest is not None and other:
            raise TwinError(
                f"Output folder {out} holds {MANIFESTS[other[0]]} ({other[0]}), which "
                f"--overwrite does not replace with {MANIFESTS[manifest]}: choose another folder."
            )
    _check_writable(out.parent)


def _check_writable(folder: Path) -> None:
    """Refuse where no folder can be made in ``folder`` (or, where it does not exist yet, in
    the nearest folder above it, where its parents would be made)."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise TwinError(f"Cannot write under {existing}: it is a file, not a folder.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".twin-probe-", dir=existing))
    except OSError as err:
        raise TwinError(
            f"Cannot write to {existing} ({err.strerror or err}): choose an output folder you "
            "can write to."
        ) from None


def atomic_output_dir(
    out: Path,
    fill: Callable[[Path], None],
    *,
    overwrite: bool = False,
    manifest: str | None = None,
) -> Path:
    """Create ``out`` by calling ``fill(staging_folder)`` and renaming the folder into place;
    it holds :data:`OUTPUT_MARKER`, the names ``fill`` wrote, and ``manifest`` (see
    :func:`check_output_folder`).

    Staging folders that killed writes of ``out`` left next to it are removed first.

    Raises
    ------
    TwinError
        ``out`` cannot be written or replaced (:func:`check_output_folder`).
    """
    out = Path(out)
    check_output_folder(out, overwrite=overwrite, manifest=manifest)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(out.parent, prefix=f".{out.name}.")
        # not mkdtemp: its folder is private (0700), and results are ordinary files for their
        # readers; mkdir applies the umask without changing it (other threads may be writing)
        staging = _sibling(out, "partial")
        staging.mkdir()
    except OSError as err:
        raise TwinError(f"Cannot write to {out.parent} ({err.strerror or err}).") from None
    try:
        fill(staging)
        written = sorted(entry.name for entry in staging.iterdir())
        (staging / OUTPUT_MARKER).write_text(json.dumps(written, indent=1) + "\n")
        replace_dir(staging, out)
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


def traffic_edges(
    network: RoadNetwork, edge_series: pd.DataFrame, closed: np.ndarray | None = None
) -> gpd.GeoDataFrame:
    """The edges as a run had them (``network``: the city's with the run's street changes),
    ``closed`` true where the run's mask ``closed`` (one per edge) is, with their traffic over
    the run (:func:`edge_summary`)."""
    _, edges = network.to_geodataframes()
    # the key of edge_timeseries.parquet's `edge`, as a column a GIS joins on (not an index)
    edges.insert(0, "edge", np.arange(len(edges), dtype=np.int64))
    edges["closed"] = (
        np.zeros(len(edges), dtype=bool) if closed is None else np.asarray(closed, dtype=bool)
    )
    joined = edges.join(edge_summary(network, edge_series))
    # a closed street has no speed (its series reads free flow, as any empty link's): a speed
    # map must not colour it as open and free-flowing
    joined.loc[joined["closed"], ["mean_speed_kph", "min_speed_kph", "speed_ratio"]] = np.nan
    return joined


def traffic_files(
    folder: Path,
    *,
    network: RoadNetwork,
    closed: np.ndarray | None = None,
    kpis: dict,
    trips: pd.DataFrame,
    edge_series: pd.DataFrame,
    model_data: pd.DataFrame,
    run_info: dict,
) -> None:
    """Write a traffic run's files into an existing ``folder``: ``kpis.json``/``.parquet``,
    ``trips.parquet``, ``edge_timeseries.parquet``, ``edges.parquet`` (GeoParquet of the edges
    as the run had them, with per-edge summaries, for maps: :func:`traffic_edges`),
    ``model_data.parquet`` (Mesa's DataCollector) and ``run.json``."""
    _write_kpis(folder, kpis)
    tables = {
        "trips.parquet": trips,
        "edge_timeseries.parquet": edge_series,
        "edges.parquet": traffic_edges(network, edge_series, closed),
        "model_data.parquet": model_data,
    }
    for name, table in tables.items():
        # what each column is and its unit, in the file itself (as the waste tables have it)
        described = {c: TRAFFIC_COLUMNS[name].get(c, "") for c in table.columns}
        _write_parquet(folder / name, table, {"columns": described})
    (folder / "run.json").write_text(json.dumps(run_info, indent=2, default=str))


def write_traffic_result(out: Path, *, overwrite: bool = False, **files) -> Path:
    """Write a traffic run (see :func:`traffic_files`) into ``out``, atomically."""
    return atomic_output_dir(
        out, lambda folder: traffic_files(folder, **files), overwrite=overwrite,
        manifest="run.json",
    )  # fmt: skip


def _write_kpis(folder: Path, kpis: dict) -> None:
    (folder / "kpis.json").write_text(json.dumps(kpis, indent=2, default=float))
    # an undefined figure (None) is a NaN of a float column: typed null, the column would not
    # concatenate with another run's numbers
    flat = {
        k: np.nan if v is None else v for k, v in kpis.items() if not isinstance(v, dict | list)
    }
    described = {k: KPI_NOTES.get(k, "") for k in flat}
    _write_parquet(folder / "kpis.parquet", pd.DataFrame([flat]), {"columns": described})


def route_lines(network: RoadNetwork, routes: pd.DataFrame) -> gpd.GeoDataFrame:
    """One line per truck and day along the edges it drove (``routes["edges"]``), in WGS84,
    in driving order: from the depot and back, each street as often as it was driven (a
    merge of the parts would start anywhere and break at every street driven twice)."""
    from shapely.geometry import LineString

    geometry = []
    for edges in routes["edges"]:
        points: list[tuple[float, ...]] = []
        for edge in edges:
            coords = list(network.edge_geometry[edge].coords)
            points += coords[1:] if points and points[-1] == coords[0] else coords
        geometry.append(LineString(points) if len(points) > 1 else LineString())
    frame = gpd.GeoDataFrame(
        routes.drop(columns=["edges"]).assign(n_edges=[len(e) for e in routes["edges"]]),
        geometry=geometry,
        crs=network.crs,
    )
    return frame.to_crs("EPSG:4326")


def bin_points(network: RoadNetwork, bins: pd.DataFrame) -> gpd.GeoDataFrame:
    """Bins as points in WGS84: ``bin``, the number rounds files give a bin by (from 0, in the
    order of the run's bins), and ``osm_node``, the OSM id of the node a truck stops at to
    empty each (``node`` is its position in the network's arrays; ``x``/``y`` are metres in the
    network's CRS, ``network_crs`` in ``run.json``), by which a bin joins the traffic tables'
    ``u``/``v`` and trips."""
    frame = gpd.GeoDataFrame(
        bins, geometry=gpd.points_from_xy(bins["x"], bins["y"]), crs=network.crs
    )
    if "bin" not in frame:
        frame.insert(0, "bin", np.arange(len(frame)))
    if "node" in frame:
        frame.insert(
            frame.columns.get_loc("node") + 1,
            "osm_node",
            network.node_osmid[frame["node"].to_numpy(dtype=np.int64)],
        )
    return frame.to_crs("EPSG:4326")


def waste_files(
    folder: Path,
    *,
    network: RoadNetwork,
    kpis: dict,
    daily: pd.DataFrame,
    routes: pd.DataFrame,
    bins: pd.DataFrame,
    run_info: dict,
    bin_fill: pd.DataFrame | None = None,
    formats: tuple[str, ...] = ("geojson",),
    rounds: dict | None = None,
    round_trucks: dict | None = None,
) -> None:
    """Write a waste run's files into an existing ``folder``: ``kpis.json``/``.parquet``,
    ``daily.parquet``, ``routes.parquet`` (GeoParquet, one line per truck-day), ``bins.parquet``
    (GeoParquet), ``bin_fill.parquet`` (each bin's fill at the end of each day), ``run.json``,
    and the routes and bins as ``routes.geojson``/``bins.geojson`` and/or ``waste.gpkg``
    (``formats``); a fixed-rounds policy's weekly ``rounds`` as ``rounds.csv``
    (:func:`twin.rounds.write_rounds`; its trucks labelled ``round_trucks``, where a city's
    own rounds gave labels), which a city edits into its own."""
    unknown = sorted(set(formats) - {"geojson", "gpkg"})
    if unknown:
        raise TwinError(f"unknown export format(s) {unknown}: use geojson and/or gpkg.")
    _write_kpis(folder, kpis)
    lines = route_lines(network, routes)
    points = bin_points(network, bins)
    # the routes are a plan: every export of them says who made it (twin.provenance)
    stamp = _provenance_stamp(run_info.get("plan_provenance"))
    tables = {"daily.parquet": (daily, {}), "bin_fill.parquet": (bin_fill, {}),
              "routes.parquet": (lines, stamp), "bins.parquet": (points, {})}  # fmt: skip
    for name, (table, metadata) in tables.items():
        if table is None:
            continue
        described = {c: WASTE_COLUMNS[name].get(c, "") for c in table.columns}
        _write_parquet(folder / name, table, {**metadata, "columns": described})
    if "geojson" in formats:
        collection = {**json.loads(lines.to_json(drop_id=True)), **stamp}
        (folder / "routes.geojson").write_text(json.dumps(collection))
        points.to_file(folder / "bins.geojson", driver="GeoJSON")
    if "gpkg" in formats:
        metadata = {k: json.dumps(v) for k, v in stamp.items()} or None
        # a LineString layer even without routes (a run that drove none): a GIS project's
        # layer keeps its type from run to run
        lines.to_file(
            folder / "waste.gpkg", layer="routes", driver="GPKG", engine="pyogrio",
            layer_metadata=metadata, geometry_type="LineString",
        )  # fmt: skip
        points.to_file(folder / "waste.gpkg", layer="bins", driver="GPKG")
    if rounds:
        lon, lat = network.to_lonlat_transformer().transform(
            bins["x"].to_numpy(), bins["y"].to_numpy()
        )
        write_rounds(
            folder / "rounds.csv", rounds, lon=np.asarray(lon), lat=np.asarray(lat),
            trucks=round_trucks, comments=(
                f"weekly rounds of policy {run_info.get('policy')} in {run_info.get('city')}, "
                f"seed {run_info.get('seed')}: bins numbered as in bins.parquet",
                "edit into your own rounds, then drive them: twin waste CITY --policy current "
                "--rounds rounds.csv (same seed and bins)",
            ),
        )  # fmt: skip
    (folder / "run.json").write_text(json.dumps(run_info, indent=2, default=str))


_EDGE_COLUMNS = {
    "edge": "the edge's number, from 0: the key of edge_timeseries.parquet's `edge`",
    "u": "OSM id of the node the edge starts at",
    "v": "OSM id of the node the edge ends at",
    "key": "which of parallel edges from u to v, from 0",
    "osmid": "OSM id of the way the edge is part of",
    "highway": "the way's OSM highway tag",
    "name": "the street's name (OSM)",
    "length_m": "length, metres",
    "speed_kph": "speed limit the run drove, km/h (the run's changes applied)",
    "speed_tagged": "whether OSM tags the speed limit (else the road class's default)",
    "lanes": "lanes in the edge's direction",
    "free_flow_s": "seconds to drive it at the speed limit",
    "capacity_vph": "what its end (junction) passes, vehicles per hour",
    "storage_veh": "vehicles it holds when jammed",
    "closed": "closed by the run's scenario (no vehicle entered it; no speed)",
    "mean_flow_vph": "vehicles leaving it per hour, mean over the recording intervals",
    "mean_speed_kph": "space-mean speed, km/h, mean over the intervals (free flow where "
    "empty; none where closed)",
    "min_speed_kph": "the lowest interval's space-mean speed, km/h",
    "peak_density_vpkm": "vehicles per km of the edge (all lanes), the highest interval mean",
    "peak_queue_veh": "most vehicles waiting at its end, at an interval's end",
    "speed_ratio": "mean_speed_kph over speed_kph (1: free flow)",
    "geometry": "the edge's line, in the network's metric CRS (network_crs in run.json)",
}

TRAFFIC_COLUMNS: dict[str, dict[str, str]] = {
    "trips.parquet": {
        "vehicle": "the vehicle's number, from 0",
        "origin": "OSM id of the node the trip starts at",
        "destination": "OSM id of the node the trip ends at",
        "depart_s": "when it wanted to leave, seconds from the run's start",
        "start_s": "when it entered the network (later than depart_s where its first street "
        "was full), seconds",
        "arrive_s": "when it arrived, seconds (empty: not arrived by the run's end)",
        "travel_time_s": "arrive_s − depart_s, waiting to enter included",
        "free_flow_s": "its shortest route's time at the speed limits, seconds",
        "distance_m": "metres driven (whole edges left)",
        "status": "planned, waiting (due but not yet in), running or arrived at the run's end",
    },
    "edge_timeseries.parquet": {
        "interval_start_s": "start of the recording interval, seconds from the run's start",
        "interval_s": "the interval's width, seconds (a run's last may be shorter)",
        "edge": "the edge's number, from 0 (edges.parquet's `edge`)",
        "flow_vph": "vehicles leaving the edge in the interval, per hour",
        "density_vpkm": "vehicles per km of the edge (all lanes), mean over the interval",
        "speed_kph": "space-mean speed of the vehicles that left it, km/h (free flow where none "
        "left and none was held; 0 where the vehicles on it stood)",
        "queue_veh": "vehicles waiting at its end at the interval's end",
    },
    "edges.parquet": _EDGE_COLUMNS,
    "model_data.parquet": {
        "time_s": "seconds from the run's start",
        "planned": "trips not yet due",
        "waiting": "trips due but not yet on the network (their first street full)",
        "running": "vehicles on the network",
        "arrived": "trips arrived",
        "queued": "vehicles waiting at the end of a street",
    },
}
"""What each column of a traffic run's tables holds, and its unit: written into each Parquet
file's metadata (``columns``)."""

WASTE_COLUMNS: dict[str, dict[str, str]] = {
    "daily.parquet": {
        "day": "day of the run, from 0 (a Monday)",
        "weekday": "0 = Monday … 6 = Sunday (rounds files write Mon…Sun)",
        "requested": "bins the policy asked to empty that day",
        "required": "of them, bins due that day (left, they would overflow)",
        "unserved_required": "required bins the day's plan left out",
        "plan_s": "seconds spent planning the day (0 for a plan reused from an earlier week)",
        "planned_km": "km of the plan on the travel times it was made on",
        "planned_hours": "truck-hours of the plan on the travel times it was made on",
        "planned_by": "the planner that made the day's plan",
        "plan_note": "why another planner took the day, or that it was outside a model's range",
        "generated_kg": "waste put into the bins that day",
        "collected_kg": "waste the trucks took away that day",
        "overflow_kg": "waste that did not fit into its bin that day",
        "overflowing_bins": "bins that overflowed that day",
        "in_bins_kg": "waste in the bins at the end of the day",
        "bins_emptied": "bins emptied that day",
        "fill_share_emptied_sum": "sum of the emptied bins' fill shares (÷ bins_emptied: the "
        "mean fill at emptying)",
        "skipped_bins": "stops the trucks passed over because the shift ran out",
        "truck_km": "km driven",
        "truck_hours": "hours the trucks were out, depot to depot",
        "trucks_out": "trucks that drove that day",
        "unloads": "trips to the disposal site",
        "extra_unloads": "unloads the plan did not foresee (a truck full early)",
        "cumulative_generated_kg": "waste generated up to and including the day",
        "cumulative_collected_kg": "waste collected up to and including the day",
        "cumulative_overflow_kg": "waste overflowed up to and including the day",
    },
    "routes.parquet": {
        "day": "day of the run, from 0",
        "truck": "truck, from 0",
        "truck_label": "the truck's name in rounds.csv (fixed rounds: the labels of a city's "
        "own file, else numbered from 1)",
        "distance_km": "km driven",
        "duration_h": "hours out, depot to depot",
        "bins_emptied": "bins emptied",
        "bins_skipped": "stops passed over because the shift ran out",
        "collected_kg": "waste taken away",
        "unloads": "trips to the disposal site",
        "n_edges": "street segments driven",
        "geometry": "the streets driven, in driving order from the depot and back (WGS84)",
    },
    "bins.parquet": {
        "bin": "the bin's number, from 0: what rounds files name a bin by",
        "node": "the node the truck stops at, as a position in the network's arrays",
        "osm_node": "the OSM id of that node (joins the traffic tables' u and v)",
        "x": "metres east in the network's CRS (run.json's network_crs)",
        "y": "metres north in the network's CRS",
        "capacity_kg": "waste the bin holds when full",
        "daily_kg": "mean waste put in a day",
        "kind": "OSM amenity of a mapped container, or placed (a collection point the twin placed)",
        "osm_id": "OSM node id of a mapped container, -1 for placed ones",
        "land_use": "residential, mixed or commercial: how much of its waste comes from work "
        "places",
        "containers": "containers the bin stands for (a placed collection point merges several)",
        "fill_kg": "waste in the bin at the end of the run",
        "times_emptied": "times the bin was emptied",
        "overflow_days": "days the bin overflowed",
        "overflow_kg": "waste that did not fit into the bin, over the run",
        "geometry": "where the bin stands (WGS84)",
    },
    "bin_fill.parquet": {
        "day": "day of the run, from 0",
        "bin": "the bin's number (bins.parquet's bin)",
        "fill_kg": "waste in the bin at the end of the day",
        "fill_share": "fill_kg as a share of the bin's capacity",
    },
}
"""What every column of a waste run's tables holds, by file: written into each Parquet file's
metadata (``columns``, JSON) and listed in the README."""


PROVENANCE_KEYS = ("label", "provenance")
"""What an exported plan carries: a GeoJSON's members, a GeoPackage layer's metadata and a
Parquet file's metadata (as JSON text), under these names."""


def _provenance_stamp(provenance: dict | None) -> dict:
    if not provenance:
        return {}
    from twin.provenance import model_label

    return {"label": model_label(provenance), "provenance": provenance}


def _write_parquet(path: Path, frame: pd.DataFrame, stamp: dict) -> None:
    """``frame`` as Parquet with ``stamp``'s entries (as JSON) in the file's metadata: a plain
    table in one pass (a year's ``bin_fill`` is millions of rows), a GeoDataFrame through
    geopandas (its ``geo`` metadata), then stamped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(frame, gpd.GeoDataFrame):
        frame.to_parquet(path)
        table = pq.read_table(path)
    else:
        table = pa.Table.from_pandas(frame)
    metadata = {**(table.schema.metadata or {}),
                **{k.encode(): json.dumps(v).encode() for k, v in stamp.items()}}  # fmt: skip
    pq.write_table(table.replace_schema_metadata(metadata), path)


def write_waste_result(
    out: Path, *, formats: tuple[str, ...] = ("geojson",), overwrite: bool = False, **files
) -> Path:
    """Write a waste run (see :func:`waste_files`) into ``out``, atomically."""
    unknown = sorted(set(formats) - {"geojson", "gpkg"})
    if unknown:  # refused before anything is created
        raise TwinError(f"unknown export format(s) {unknown}: use geojson and/or gpkg.")
    return atomic_output_dir(
        out, lambda folder: waste_files(folder, formats=formats, **files), overwrite=overwrite,
        manifest="run.json",
    )  # fmt: skip
