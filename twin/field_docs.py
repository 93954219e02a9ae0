"""Field documents of an approved plan: what crews and traffic engineers take out.

Only a proposal whose last decision in the scenario's audit log approves it
(:func:`twin.proposals.approved_decision`) is written, and only while the city it was made for
is the one installed. Every file says who proposed the plan (the model's label), who approved
it and when, and carries the plan's provenance:

- collection routes: per truck, ``truck-<n>.geojson`` (the road path as a line, the stops as
  numbered points), ``truck-<n>.gpx`` (the stops as a GPX route in driving order, the road path
  as a track) and one ``stops.csv`` (every truck's stops in driving order);
- signal timings: ``timings.csv`` (one row per phase, as a scenario's ``signal_plan`` reads it)
  and ``timings.md`` (a table per junction to print).

``field-documents.json`` lists the files with the provenance and the approval.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd

from cities.city import City, load_city
from twin.proposals import ProposalError, approved_decision, changed_inputs
from twin.provenance import write_csv_with_provenance
from twin.results_io import atomic_output_dir

__all__ = ["GPX_NAMESPACE", "approval_line", "write_field_documents"]

GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"
PROVENANCE_PREFIX = "provenance: "


def approval_line(entry: dict[str, Any]) -> str:
    """One line naming who approved the plan, when, and their comment."""
    comment = f": {entry['comment']}" if entry.get("comment") else ""
    return f"Approved by {entry['by']} on {entry['time']}{comment}"


def write_field_documents(
    proposal: str | os.PathLike[str],
    scenario: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    city: City | None = None,
    current_inputs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the field documents of an approved proposal into ``out``, atomically.

    Parameters
    ----------
    proposal
        A proposal folder (:mod:`twin.proposals`).
    scenario
        The scenario whose audit log holds the approval.
    city
        The proposal's city, loaded (default: loaded by the name the proposal records).
    current_inputs
        The inputs as the scenario has them now (:func:`twin.proposals.scenario_inputs`):
        refused where they differ from those the approved plan was checked on.

    Raises
    ------
    twin.proposals.ProposalError
        Not approved, or made for another version of the city.
    twin.audit.AuditError
        The audit log does not hold.
    """
    record, entry = approved_decision(proposal, scenario)
    if current_inputs is not None and (changes := changed_inputs(record, current_inputs)):
        raise ProposalError(
            f"{proposal}: its inputs changed since it was checked and approved "
            f"({'; '.join(changes)}): propose again for the scenario as it is now."
        )
    folder = Path(proposal)
    folder = folder if folder.is_dir() else folder.parent
    inputs = record["inputs"]
    loaded = city or load_city(inputs["city"])  # the city it was made for, still the same?
    if loaded.source.sha256 != inputs["city_sha256"]:
        raise ProposalError(
            f"{folder}: made for {inputs['city']} with content {inputs['city_sha256'][:12]}, but "
            f"the city installed has {loaded.source.sha256[:12]}: propose again for this city."
        )
    header = {"label": record["label"], "approval": approval_line(entry),
              "provenance": record["provenance"]}  # fmt: skip

    def fill(target: Path) -> None:
        if record["kind"] == "collection-routes":
            routes = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
            files = _route_sheets(target, routes["stops"], routes["paths"], header)
        else:
            table = pd.read_csv(folder / "plans.csv", comment="#", dtype={"approaches": str})
            files = _timing_tables(target, table, header)
        index = {**header, "decision": entry, "proposal_id": record["proposal_id"],
                 "kind": record["kind"], "files": files}  # fmt: skip
        (target / "field-documents.json").write_text(json.dumps(index, indent=2))

    return atomic_output_dir(Path(out), fill, overwrite=overwrite, manifest="field-documents.json")


def _route_sheets(
    target: Path,
    stops: list[dict[str, Any]],
    paths: dict[str, list[list[float]]],
    header: dict[str, Any],
) -> list[str]:
    stops = [{**stop, "arrive": _clock(stop["arrive_s"])} for stop in stops]
    frame = pd.DataFrame(stops).astype({"bin": "Int64"})
    write_csv_with_provenance(
        target / "stops.csv", frame, header["provenance"], lines=(header["approval"],)
    )
    files = ["stops.csv"]
    for truck in sorted({stop["truck"] for stop in stops}):
        truck_stops = sorted((s for s in stops if s["truck"] == truck), key=lambda s: s["order"])
        path = [tuple(point) for point in paths[str(truck)]]
        name = f"truck-{truck}"
        (target / f"{name}.geojson").write_text(
            json.dumps(_geojson(truck, truck_stops, path, header), indent=1)
        )
        ElementTree.ElementTree(_gpx(truck, truck_stops, path, header)).write(
            target / f"{name}.gpx", encoding="utf-8", xml_declaration=True
        )
        files += [f"{name}.geojson", f"{name}.gpx"]
    return files


def _clock(seconds: float) -> str:
    """Hours and minutes after the shift starts (``+1:05``)."""
    return f"+{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"


def _stop_name(stop: dict[str, Any]) -> str:
    what = f"bin {stop['bin']}" if stop["kind"] == "bin" else stop["kind"]
    return f"{stop['order']}. {what}"


def _geojson(truck: int, stops, path, header) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [list(p) for p in path]},
            "properties": {"truck": truck, "what": "road path, in driving order"},
        }
    ]
    for stop in stops:
        properties = {k: v for k, v in stop.items() if k not in ("lon", "lat")}
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [stop["lon"], stop["lat"]]},
                "properties": {**properties, "name": _stop_name(stop)},
            }
        )
    # foreign members (RFC 7946, 6.1): readers that do not know them keep the features
    return {"type": "FeatureCollection", **header, "truck": truck, "features": features}


def _gpx(truck: int, stops, path, header) -> ElementTree.Element:
    ElementTree.register_namespace("", GPX_NAMESPACE)

    def sub(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes):
        element = ElementTree.SubElement(parent, f"{{{GPX_NAMESPACE}}}{tag}", attributes)
        if text is not None:
            element.text = text
        return element

    root = ElementTree.Element(
        f"{{{GPX_NAMESPACE}}}gpx", {"version": "1.1", "creator": "CitiVerse Twin"}
    )
    metadata = sub(root, "metadata")
    sub(metadata, "name", f"Truck {truck}: collection route")
    sub(
        metadata,
        "desc",
        f"{header['label']}\n{header['approval']}\n"
        f"{PROVENANCE_PREFIX}{json.dumps(header['provenance'], sort_keys=True)}",
    )
    route = sub(root, "rte")
    sub(route, "name", f"Truck {truck}: stops in driving order")
    for stop in stops:
        point = sub(route, "rtept", lat=f"{stop['lat']:.7f}", lon=f"{stop['lon']:.7f}")
        sub(point, "name", _stop_name(stop))
        sub(
            point,
            "desc",
            f"arrive {stop['arrive']} after the shift starts; "
            f"{stop['load_kg']:.0f} kg on board; {stop['km']:.2f} km driven",
        )
        sub(point, "type", stop["kind"])
    track = sub(root, "trk")
    sub(track, "name", f"Truck {truck}: road path")
    segment = sub(track, "trkseg")
    for lon, lat in path:
        sub(segment, "trkpt", lat=f"{lat:.7f}", lon=f"{lon:.7f}")
    return root


def _seconds(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.1f}"


def _approaches(value: Any) -> str:
    # a phase that serves no approach (a pedestrian phase) has none to name, not "nan"
    return "–" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _timing_tables(target: Path, table: pd.DataFrame, header: dict[str, Any]) -> list[str]:
    write_csv_with_provenance(
        target / "timings.csv", table, header["provenance"], lines=(header["approval"],)
    )
    lines = [
        "# Signal timings",
        "",
        f"**{header['label']}**",
        "",
        f"{header['approval']}.",
        "",
        f"Provenance id `{header['provenance']['id']}`.",
    ]
    for junction, phases in table.groupby("junction", sort=True):
        first = phases.iloc[0]
        lines += [
            "",
            f"## Junction {junction} (OSM node): cycle {first['cycle_s']:.0f} s, "
            f"offset {first['offset_s']:.0f} s",
            "",
            # the intergreen after each green: a crew adds them up to the cycle
            "| phase | green (s) | intergreen (s) | approaches |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {row.phase} | {row.green_s:.1f} | {_seconds(getattr(row, 'intergreen_s', None))} "
            f"| {_approaches(row.approaches)} |"
            for row in phases.itertuples()
        ]
    (target / "timings.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["timings.csv", "timings.md"]
