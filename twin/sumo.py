"""Signal plans for Eclipse SUMO: the twin's road network as a SUMO network, and plans as
``tlLogic`` programs of that network (or of any SUMO network with the same junctions).

SUMO gives one signal letter to every *link* of a traffic light (a lane of an incoming edge
turning onto an outgoing one, numbered by ``linkIndex``); the twin times *approaches* (incoming
links). :func:`read_sumo_links` reads a network's ``<connection>`` elements and finds, for each
signal link, the twin's approach it leaves from — the edge between the same two junctions (OSM
node ids) — so that every link of an approach gets that approach's letter. Links of no timed
approach (the short links inside a large junction, which the twin never stops) get ``O``
(no signal).

:func:`write_sumo_network` writes the twin's network as SUMO *plain* files (nodes with their
OSM ids, edges named ``u-v`` with the twin's lanes, speeds and lengths, a traffic light at each
timed junction, named by its OSM id) and builds it with ``netconvert`` where one is installed
(the ``eclipse-sumo`` package); the plans then load as they are::

    sumo -n network.net.xml -a plans.sumo.xml

Without a SUMO network the programs give one letter per approach, in the order of each
``tlLogic``'s ``approaches`` parameter (for a traffic engineer to expand).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from agents.traffic.signals import SignalPlan
from cities.network import RoadNetwork
from twin.errors import TwinError
from twin.results_io import write_file_atomic
from twin.specs import short_repr

__all__ = [
    "YELLOW_S",
    "netconvert_binary",
    "read_sumo_links",
    "sumo_programs_xml",
    "write_sumo_network",
    "write_sumo_programs",
]

YELLOW_S = 3.0
"""Yellow of each intergreen (the rest is all-red)."""


def _edge_names(network: RoadNetwork) -> list[str]:
    """``u-v`` (OSM node ids) of every edge; a parallel edge gets ``u-v-k``."""
    ids = network.node_osmid
    names, seen = [], defaultdict(int)
    for u, v in zip(network.edge_u.tolist(), network.edge_v.tolist(), strict=True):
        base = f"{int(ids[u])}-{int(ids[v])}"
        names.append(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return names


def netconvert_binary() -> str | None:
    """SUMO's ``netconvert`` from the ``eclipse-sumo`` package or the PATH, if any."""
    try:
        import sumo

        found = Path(sumo.SUMO_HOME) / "bin" / "netconvert"
        return str(found) if found.is_file() else None
    except ImportError:
        return shutil.which("netconvert")


def write_sumo_network(
    folder: Path, network: RoadNetwork, plans: Mapping[int, SignalPlan]
) -> Path | None:
    """Write ``network.nod.xml`` and ``network.edg.xml`` into ``folder`` and, where
    ``netconvert`` is installed, build ``network.net.xml`` from them (returned; ``None``
    without netconvert, or where it failed: ``netconvert-failed.txt`` says why)."""
    folder = Path(folder)
    ids = network.node_osmid
    lights = set(plans)
    nodes = ["<nodes>"]
    for node in range(network.n_nodes):
        light = f' type="traffic_light" tl="{int(ids[node])}"' if node in lights else ""
        nodes.append(
            f'    <node id="{int(ids[node])}" x="{network.node_x[node]:.2f}" '
            f'y="{network.node_y[node]:.2f}"{light}/>'
        )
    edges = ["<edges>"]
    for e, name in enumerate(_edge_names(network)):
        edges.append(
            f'    <edge id="{name}" from="{int(ids[network.edge_u[e]])}" '
            f'to="{int(ids[network.edge_v[e]])}" numLanes="{max(int(network.edge_lanes[e]), 1)}" '
            f'speed="{network.edge_speed_kph[e] / 3.6:.2f}" '
            f'length="{network.edge_length_m[e]:.2f}"/>'
        )
    (folder / "network.nod.xml").write_text("\n".join([*nodes, "</nodes>"]) + "\n")
    (folder / "network.edg.xml").write_text("\n".join([*edges, "</edges>"]) + "\n")
    binary = netconvert_binary()
    if binary is None:
        return None
    # the twin's junctions as they are: none joined, no signals guessed, no offset of the
    # coordinates (so that a plan file and the network share every id)
    try:
        subprocess.run(
            [binary, "--node-files", "network.nod.xml", "--edge-files", "network.edg.xml",
             "--junctions.join", "false", "--tls.guess", "false",
             "--offset.disable-normalization", "true", "--no-warnings", "true",
             "-o", "network.net.xml"],
            cwd=folder, check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        # the plans stand without SUMO's network: say why it is missing, where it would be
        said = getattr(err, "stderr", None) or str(err)
        (folder / "netconvert-failed.txt").write_text(str(said)[-4000:])
        return None
    return folder / "network.net.xml"


def read_sumo_links(
    path: str | Path,
) -> dict[str, list[tuple[int, str, str, str]]]:
    """Every traffic light's signal links in a SUMO network: ``tl id → [(linkIndex, from
    junction, to junction of the incoming edge, direction), …]`` sorted by link index
    (direction: SUMO's ``dir``, ``s`` straight, ``l``/``r`` left/right, ``t`` turn, …).

    Raises
    ------
    TwinError
        A file that is not a SUMO network.
    """
    path = Path(path)
    ends: dict[str, tuple[str, str]] = {}
    links: dict[str, list[tuple[int, str, str, str]]] = defaultdict(list)
    try:
        for _, element in ET.iterparse(path):
            if element.tag == "edge" and element.get("function") != "internal":
                ends[element.get("id", "")] = (element.get("from", ""), element.get("to", ""))
            elif element.tag == "connection" and element.get("tl") is not None:
                start, end = ends.get(element.get("from", ""), ("", ""))
                index = int(element.get("linkIndex", -1))
                links[element.get("tl", "")].append((index, start, end, element.get("dir", "s")))
            if element.tag in ("edge", "connection"):
                element.clear()
    except (ET.ParseError, OSError, ValueError) as err:
        raise TwinError(
            f"{short_repr(str(path))}: not a readable SUMO network ({err}); give the .net.xml "
            "netconvert wrote."
        ) from None
    return {tl: sorted(set(items)) for tl, items in links.items()}


def sumo_programs_xml(
    network: RoadNetwork,
    plans: Mapping[int, SignalPlan],
    *,
    sumo_links: Mapping[str, list[tuple[int, str, str, str]]] | None = None,
    program: str = "citiverse",
    require_lights: bool = False,
) -> str:
    """A SUMO additional file with one static ``tlLogic`` per junction (see the module).

    With ``sumo_links`` (:func:`read_sumo_links` of the network the plans are for), each
    program drives that network's traffic light whose links end at the junction, one letter per
    link; junctions without such a light are left out (with ``require_lights``, a network where
    none has one is a :class:`TwinError`: the network of another city). Without, one letter per
    approach.
    """
    ids = network.node_osmid
    names = _edge_names(network)
    pair = [
        f"{int(ids[u])}-{int(ids[v])}" for u, v in zip(network.edge_u, network.edge_v, strict=True)
    ]
    by_osm = {int(ids[node]): plan for node, plan in plans.items()}
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Signal plans from CitiVerse Twin. -->",
        "<additional>",
    ]
    # (light id, plan, the junction pair and the turn of each letter, approach names)
    programs = []
    if sumo_links is None:
        for osm, plan in sorted(by_osm.items()):
            approaches = [e for p in plan.phases for e in p.approaches]
            keys = [pair[e] for e in approaches]
            programs.append((str(osm), plan, keys, ["s"] * len(keys),
                             [names[e] for e in approaches]))  # fmt: skip
    else:
        for tl, links in sorted(sumo_links.items()):
            junctions = {end for _, _, end, _ in links if end.isdigit() and int(end) in by_osm}
            if len(junctions) != 1:
                continue  # a light of no timed junction, or of several (joined) ones
            plan = by_osm[int(junctions.pop())]
            keys = [f"{start}-{end}" for _, start, end, _ in links]
            programs.append((tl, plan, keys, [turn for *_, turn in links], None))
    if require_lights and sumo_links is not None and by_osm and not programs:
        # an empty file would load in SUMO and time nothing
        raise TwinError(
            f"none of the {len(by_osm)} timed junctions has a traffic light in the SUMO network "
            "(a light's links end at the OSM node id of its junction): give the .net.xml that "
            "netconvert made from this city's OSM data (--sumo-net)."
        )
    for tl, plan, keys, turns, approach_names in programs:
        lines.append(
            f'    <tlLogic id={quoteattr(tl)} type="static" programID={quoteattr(program)} '
            f'offset="{plan.offset_s:.1f}">'
        )
        if approach_names is not None:
            value = escape(" ".join(approach_names))
            lines.append(f'        <param key="approaches" value="{value}"/>')
        timed = {pair[e] for p in plan.phases for e in p.approaches}
        yellow = min(YELLOW_S, plan.lost_time_s)
        for number, phase in enumerate(plan.phases, start=1):
            green, amber, red = (
                _letters(keys, turns, {pair[e] for e in phase.approaches}, timed, on)
                for on in "Gyr"
            )
            lines.append(
                f'        <phase duration="{phase.green_s:.1f}" state="{green}" '
                f'name="phase {number}"/>'
            )
            if yellow > 0:
                lines.append(f'        <phase duration="{yellow:.1f}" state="{amber}"/>')
            if plan.lost_time_s - yellow > 0:
                lines.append(
                    f'        <phase duration="{plan.lost_time_s - yellow:.1f}" state="{red}"/>'
                )
        lines.append("    </tlLogic>")
    lines.append("</additional>")
    return "\n".join(lines) + "\n"


def _letters(keys: list[str], turns: list[str], served: set[str], timed: set[str], on: str) -> str:
    """A phase's state: ``on`` for the links of its approaches, red for the other timed ones,
    and no signal (``O``) for links of no timed approach, which the twin never stops. Where the
    phase serves several approaches, a left turn or U-turn green yields (``g``): SUMO's
    permissive green, as its own two-phase programs give it."""
    several = len(served) > 1

    def letter(key: str, turn: str) -> str:
        if key not in served:
            return "r" if key in timed else "O"
        return "g" if on == "G" and several and turn in ("l", "L", "t") else on

    return "".join(letter(k, t) for k, t in zip(keys, turns, strict=True)) or "r"


def write_sumo_programs(
    path: Path,
    network: RoadNetwork,
    plans: Mapping[int, SignalPlan],
    *,
    sumo_net: str | Path | None = None,
    require_lights: bool = False,
) -> Path:
    """Write :func:`sumo_programs_xml` (for the SUMO network ``sumo_net``, if given),
    atomically."""
    links = read_sumo_links(sumo_net) if sumo_net is not None else None
    text = sumo_programs_xml(network, plans, sumo_links=links, require_lights=require_lights)
    return write_file_atomic(Path(path), lambda staging: staging.write_text(text, "utf-8"))
