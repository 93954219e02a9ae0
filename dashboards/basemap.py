"""The road network as the base map: Plotly traces in longitude/latitude, no tile server.

Drawing one trace per edge does not scale (a browser chokes on thousands of traces), so edges
are grouped into one ``Scattergl`` line trace per colour class, with NaN between edges (a gap
in the line). :class:`Basemap` keeps every edge's coordinates in one flat array, so the traces
of any subset of edges (a road class, a congestion level in one interval, closed streets) are a
vectorized gather, not a Python loop over geometries.

Coordinates are WGS84 degrees; the y axis is stretched by 1 / cos(latitude) so that a metre is
as long north–south as east–west on screen.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import plotly.graph_objects as go
import shapely

from dashboards.logic import closed_edges
from twin import ROAD_CLASS_NAMES, City

__all__ = [
    "CLASS_STYLE",
    "CONGESTION_LEVELS",
    "SPEED_BANDS",
    "Basemap",
    "base_layout",
    "color_layers",
    "map_extent",
    "network_figure",
    "speed_band",
    "speed_limit_kph",
    "tile_figure",
    "with_tiles",
]

# Colour and width per road class, major roads dark and wide (a printed road atlas's order).
CLASS_STYLE: dict[str, tuple[str, float]] = {
    "motorway": ("#8e2c2c", 3.0),
    "motorway_link": ("#8e2c2c", 1.8),
    "trunk": ("#c0582f", 2.8),
    "trunk_link": ("#c0582f", 1.6),
    "primary": ("#d68a2e", 2.5),
    "primary_link": ("#d68a2e", 1.5),
    "secondary": ("#c9b12f", 2.2),
    "secondary_link": ("#c9b12f", 1.4),
    "tertiary": ("#6a8f3a", 1.8),
    "tertiary_link": ("#6a8f3a", 1.2),
    "unclassified": ("#7d7d7d", 1.2),
    "residential": ("#9a9a9a", 1.0),
    "living_street": ("#b7b7b7", 0.8),
    "road": ("#b7b7b7", 0.8),
}

SPEED_BANDS: tuple[tuple[float, str, str], ...] = (
    (20.0, "≤ 20 km/h", "#4575b4"),
    (30.0, "21–30 km/h", "#91bfdb"),
    (40.0, "31–40 km/h", "#a6d96a"),
    (50.0, "41–50 km/h", "#fee08b"),
    (70.0, "51–70 km/h", "#fc8d59"),
    (math.inf, "> 70 km/h", "#d73027"),
)

# Mean speed over the speed limit in one interval: the usual traffic-map colours.
CONGESTION_LEVELS: tuple[tuple[float, str, str], ...] = (
    (0.25, "jammed (< 25 % of limit)", "#a50026"),
    (0.5, "heavy (25–50 %)", "#f46d43"),
    (0.75, "slow (50–75 %)", "#fdae61"),
    (math.inf, "free (≥ 75 %)", "#1a9850"),
)


def speed_limit_kph(speed_kph: np.ndarray) -> np.ndarray:
    """Speed limits at whole km/h, as the map's bands and the City page's chart show them.

    A street merged from segments has its length over their summed travel times as its limit,
    so it carries float noise (30.000000000000007) or is a blend (31.4); taken raw, noise alone
    would put a 30 km/h street in the 31–40 band.

    Parameters
    ----------
    speed_kph : numpy.ndarray
        Speed limits, km/h.

    Returns
    -------
    numpy.ndarray
        The limits rounded to whole km/h (float).
    """
    return np.round(np.asarray(speed_kph, dtype=float))


def speed_band(speed_kph: np.ndarray) -> np.ndarray:
    """Index into :data:`SPEED_BANDS` of each speed limit, at whole km/h (the bands' labels'
    precision, see :func:`speed_limit_kph`).

    Parameters
    ----------
    speed_kph : numpy.ndarray
        Speed limits, km/h.

    Returns
    -------
    numpy.ndarray
        Band index of each limit.
    """
    limits = np.array([band[0] for band in SPEED_BANDS])
    return np.searchsorted(limits, speed_limit_kph(speed_kph), side="left")


@dataclass(eq=False)
class Basemap:
    """Every edge's polyline in one flat longitude/latitude array, plus per-edge attributes.

    Edge ``i``'s points are ``lon[start[i]:start[i] + count[i]]`` (same for ``lat``); the point
    after them is NaN, so any slice of consecutive edges draws as separate lines.
    """

    lon: np.ndarray
    lat: np.ndarray
    start: np.ndarray
    count: np.ndarray
    mid_lon: np.ndarray
    mid_lat: np.ndarray
    ref: np.ndarray
    highway: np.ndarray
    name: np.ndarray
    speed_kph: np.ndarray
    lanes: np.ndarray
    capacity_vph: np.ndarray
    length_m: np.ndarray
    way: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_osmid: np.ndarray
    node_signalized: np.ndarray

    @classmethod
    def from_city(cls, city: City) -> Basemap:
        """Project the city's edge geometries to WGS84 once (vectorized over all points)."""
        net = city.network
        geoms = np.asarray(net.edge_geometry, dtype=object)
        coords, owner = shapely.get_coordinates(geoms, return_index=True)
        count = np.bincount(owner, minlength=net.n_edges)
        # room for one NaN separator after each edge
        start = np.concatenate([[0], np.cumsum(count + 1)[:-1]]).astype(np.int64)
        transformer = net.to_lonlat_transformer()
        lon_pts, lat_pts = transformer.transform(coords[:, 0], coords[:, 1])
        total = int(count.sum() + net.n_edges)
        lon = np.full(total, np.nan)
        lat = np.full(total, np.nan)
        offsets = np.arange(len(coords)) - np.repeat(np.cumsum(count) - count, count)
        slots = start[owner] + offsets
        lon[slots], lat[slots] = lon_pts, lat_pts
        mid = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
        mid_lon, mid_lat = transformer.transform(shapely.get_x(mid), shapely.get_y(mid))
        u = net.node_osmid[net.edge_u]
        v = net.node_osmid[net.edge_v]
        ref = np.array(
            [
                f"{a}-{b}" if k == 0 else f"{a}-{b}-{k}"
                for a, b, k in zip(u.tolist(), v.tolist(), net.edge_key.tolist(), strict=True)
            ],
            dtype=object,
        )
        names = np.array([n if isinstance(n, str) and n else "" for n in net.edge_name], object)
        # float32: ~0.5 m at city longitudes, and half the bytes sent to the browser
        return cls(
            lon=lon.astype(np.float32),
            lat=lat.astype(np.float32),
            start=start,
            count=count,
            mid_lon=np.asarray(mid_lon, dtype=np.float32),
            mid_lat=np.asarray(mid_lat, dtype=np.float32),
            ref=ref,
            highway=np.asarray(ROAD_CLASS_NAMES, dtype=object)[net.edge_class],
            name=names,
            speed_kph=net.edge_speed_kph,
            lanes=net.edge_lanes,
            capacity_vph=net.edge_capacity_vph,
            length_m=net.edge_length_m,
            way=net.edge_osmid,
            node_lon=net.node_lon,
            node_lat=net.node_lat,
            node_osmid=net.node_osmid,
            node_signalized=net.node_signalized,
        )

    @property
    def n_edges(self) -> int:
        return len(self.start)

    @cached_property
    def center_lat(self) -> float:
        return float(np.nanmean(self.node_lat))

    @cached_property
    def edge_index(self) -> dict[str, int]:
        """Edge position of each ``"u-v[-key]"`` reference."""
        return {r: i for i, r in enumerate(self.ref.tolist())}

    def lines(self, edges: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes of the given edges (all by default), NaN between them."""
        if edges is None:
            return self.lon, self.lat
        edges = np.asarray(edges, dtype=np.int64)
        if len(edges) == 0:
            return np.empty(0), np.empty(0)
        width = self.count[edges] + 1  # the points and their separator
        first = np.repeat(self.start[edges], width)
        within = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
        take = first + within
        return self.lon[take], self.lat[take]

    @cached_property
    def _all_drawn(self) -> tuple[np.ndarray, np.ndarray]:
        return self._chain(np.arange(self.n_edges))

    def drawn_lines(self, edges: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The given edges (all by default) as few long polylines, NaN between them: for drawing
        only, since a point no longer belongs to one edge.

        Parameters
        ----------
        edges : numpy.ndarray, optional
            Edge positions; all edges when omitted.

        Returns
        -------
        lon, lat : numpy.ndarray
            Float32 longitudes and latitudes.

        Notes
        -----
        Plotly draws every NaN-separated piece of a line trace as its own SVG ``<path>`` and
        styles each one; on a 7k-edge city that is most of the page's first paint. So the
        reverse direction of a two-way street (the same geometry) is drawn once, and pieces that
        continue one another almost straight (a turn under 45 degrees) are chained into one
        polyline: the same streets (a joint drawn as a join, not as two line ends), under a
        quarter of the paths (São Paulo: 6,713 edges, 1,483 paths).
        """
        if edges is None:
            return self._all_drawn
        return self._chain(np.asarray(edges, dtype=np.int64))

    def _chain(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        edges = edges[self.count[edges] >= 2]
        if len(edges) == 0:
            return np.empty(0, np.float32), np.empty(0, np.float32)
        first = self.start[edges]
        last = first + self.count[edges] - 1
        # unit headings on the ground (a degree of longitude is shorter than one of latitude)
        # leaving the first point and arriving at the last one, as plain floats: the walk
        # below is a Python loop
        scale = math.cos(math.radians(self.center_lat))

        def unit(a: np.ndarray, b: np.ndarray) -> list[tuple[float, float]]:
            dx = (self.lon[b].astype(float) - self.lon[a]) * scale
            dy = self.lat[b].astype(float) - self.lat[a]
            norm = np.maximum(np.hypot(dx, dy), 1e-12)
            return list(zip((dx / norm).tolist(), (dy / norm).tolist(), strict=True))

        leave, arrive = unit(first, first + 1), unit(last - 1, last)
        head = list(zip(self.lon[first].tolist(), self.lat[first].tolist(), strict=True))
        tail = list(zip(self.lon[last].tolist(), self.lat[last].tolist(), strict=True))
        seen: set[tuple] = set()
        keep: list[int] = []
        ends: dict[tuple[float, float], list[int]] = defaultdict(list)
        for k, (a, b) in enumerate(zip(first.tolist(), (last + 1).tolist(), strict=True)):
            key = (self.lon[a:b].tobytes(), self.lat[a:b].tobytes())
            back = (self.lon[a:b][::-1].tobytes(), self.lat[a:b][::-1].tobytes())
            if key in seen or back in seen:
                continue  # the other direction of a two-way street
            seen.add(key)
            ends[head[k]].append(len(keep))
            ends[tail[k]].append(len(keep))
            keep.append(k)
        straight = math.cos(math.radians(45.0))
        used = [False] * len(keep)

        def extend(chain: list[tuple[int, bool]]) -> None:
            # (piece, reversed) steps; carry on from the chain's end while some unused piece
            # continues it almost straight, the straightest first
            while True:
                j, flipped = chain[-1]
                k = keep[j]
                at = head[k] if flipped else tail[k]
                hx, hy = arrive[k] if not flipped else (-leave[k][0], -leave[k][1])
                best, best_cos = None, straight
                for m in ends[at]:
                    if used[m]:
                        continue
                    n = keep[m]
                    flip = head[n] != at
                    ox, oy = (-arrive[n][0], -arrive[n][1]) if flip else leave[n]
                    cos = hx * ox + hy * oy
                    if cos > best_cos:
                        best, best_cos = (m, flip), cos
                if best is None:
                    return
                used[best[0]] = True
                chain.append(best)

        take: list[np.ndarray] = []
        gap = np.array([-1])
        for j in range(len(keep)):
            if used[j]:
                continue
            used[j] = True
            chain = [(j, False)]
            extend(chain)
            chain = [(m, not flip) for m, flip in reversed(chain)]
            extend(chain)
            for step, (m, flip) in enumerate(chain):
                k = keep[m]
                points = np.arange(first[k], last[k] + 1)
                points = points[::-1] if flip else points
                take.append(points if step == 0 else points[1:])  # joints only once
            take.append(gap)
        index = np.concatenate(take)
        lon = np.where(index >= 0, self.lon[index], np.nan).astype(np.float32)
        lat = np.where(index >= 0, self.lat[index], np.nan).astype(np.float32)
        return lon, lat

    def edge_hover(self, edges: np.ndarray) -> list[str]:
        """One hover label per edge: name, class, limit, lanes, capacity, id."""
        # short: one label per edge travels to the browser with the page
        return [
            f"{self.name[i] or '(unnamed)'}<br>{self.highway[i]} {self.speed_kph[i]:.0f} km/h "
            f"{self.lanes[i]}L {self.capacity_vph[i]:.0f} veh/h {self.length_m[i]:.0f} m"
            f"<br>{self.ref[i]}"
            for i in np.asarray(edges).tolist()
        ]

    def pick_trace(
        self, *, name: str = "streets (hover, click)", notes: list[str] | None = None
    ) -> go.Scattergl:
        """One marker per edge at its middle: what hover and clicks land on (``customdata`` is
        the edge's ``"u-v"`` reference); ``notes``, one per edge, add a line to its hover."""
        every = np.arange(self.n_edges)
        hover = self.edge_hover(every)
        if notes is not None:
            hover = [f"{text}<br>{note}" for text, note in zip(hover, notes, strict=True)]
        # a faint dot per street on a centre; on a country's thousands of streets dots that
        # faint still pile up into grey blots over the streets, so they fade with the count
        # (hover and clicks find a marker by its place, not its colour)
        alpha = 0.12 * min(1.0, math.sqrt(PICK_FULL_EDGES / max(self.n_edges, 1)))
        return go.Scattergl(
            x=self.mid_lon,
            y=self.mid_lat,
            mode="markers",
            marker={"size": 7, "color": f"rgba(60,60,60,{max(alpha, 0.03):.3f})"},
            customdata=self.ref,
            hovertext=hover,
            hoverinfo="text",
            name=name,
            showlegend=False,
        )


PICK_FULL_EDGES = 500
"""Up to this many streets, the hover/click dots show as faintly as on a city centre."""


def line_trace(
    basemap: Basemap, edges: np.ndarray | None, *, name: str, color: str, width: float, **extra
) -> go.Scatter:
    """The given edges as one line trace (no hover: the pick trace carries it, so the lines
    can be merged for drawing, see :meth:`Basemap.drawn_lines`)."""
    lon, lat = basemap.drawn_lines(edges)
    return go.Scatter(
        x=lon,
        y=lat,
        mode="lines",
        line={"color": color, "width": width},
        name=name,
        hoverinfo="skip",
        connectgaps=False,
        **extra,
    )


def color_layers(
    basemap: Basemap, color_by: str = "class"
) -> list[tuple[str, str, float, np.ndarray]]:
    """The map's line layers in drawing order: what :func:`network_figure` draws as traces and
    :mod:`dashboards.mapimage` as a static picture, so both mean the same by a colour.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    color_by : str
        ``"class"`` (one layer per OSM road class present, minor roads first so that major
        roads are drawn on top) or ``"speed"`` (speed-limit bands present).

    Returns
    -------
    list of (str, str, float, numpy.ndarray)
        Name (the legend's label), colour, line width in pixels, and edge positions.
    """
    layers = []
    if color_by == "speed":
        band = speed_band(basemap.speed_kph)
        for index, (_, label, color) in enumerate(SPEED_BANDS):
            edges = np.flatnonzero(band == index)
            if len(edges):
                layers.append((label, color, 1.6, edges))
        return layers
    for highway in reversed(ROAD_CLASS_NAMES):
        edges = np.flatnonzero(basemap.highway == highway)
        if len(edges):
            color, width = CLASS_STYLE.get(highway, ("#999999", 1.0))
            layers.append((highway, color, width, edges))
    return layers


MAP_PADDING = 0.02
"""Margin around the network on a map, as a share of its extent on each side."""


def map_extent(basemap: Basemap) -> tuple[float, float, float, float]:
    """The longitude/latitude box every map of the city opens on: the network's points plus a
    small margin.

    Fixed ranges, not Plotly's autorange (which pads the two axes differently by trace type),
    so that the server's static picture of the map (:mod:`dashboards.mapimage`) frames exactly
    what the interactive map shows once it is drawn.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.

    Returns
    -------
    west, south, east, north : float
        Degrees.
    """
    west, east = float(np.nanmin(basemap.lon)), float(np.nanmax(basemap.lon))
    south, north = float(np.nanmin(basemap.lat)), float(np.nanmax(basemap.lat))
    # a one-street city still gets a box of a few metres
    dx = max(east - west, 1e-4) * MAP_PADDING
    dy = max(north - south, 1e-4) * MAP_PADDING
    return west - dx, south - dy, east + dx, north + dy


MODEBAR_MARGIN_PX = 34
"""Right margin of a map: room for Plotly's mode bar, upright, beside the plot and its legend."""


def base_layout(basemap: Basemap, *, height: int = 560, uirevision: str = "map") -> dict:
    """Axes in degrees with equal ground scale, no grid: a map, not a chart."""
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "title": None}
    west, south, east, north = map_extent(basemap)
    return {
        "height": height,
        # the mode bar stands upright in a right margin of its own: across the top, it covered
        # the legend's right end
        "margin": {"l": 4, "r": MODEBAR_MARGIN_PX, "t": 28, "b": 4},
        "modebar": {"orientation": "v"},
        # the box is kept whole and centred: equal ground scale shrinks the x axis's domain or
        # widens the y axis's range, whichever the graph's shape asks for
        "xaxis": {**axis, "range": [west, east], "constrain": "domain"},
        "yaxis": {
            **axis,
            "range": [south, north],
            "scaleanchor": "x",
            "scaleratio": 1.0 / math.cos(math.radians(basemap.center_lat)),
        },
        "plot_bgcolor": "#fbfbf8",
        "paper_bgcolor": "white",
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "font_size": 11},
        "hovermode": "closest",
        # keep the user's zoom when a callback redraws the data
        "uirevision": uirevision,
        "dragmode": "pan",
    }


def network_figure(
    basemap: Basemap,
    *,
    color_by: str = "class",
    signals: bool = True,
    closed: Sequence[str] = (),
    pickable: bool = True,
    muted: bool = False,
    lines_only: bool = False,
    height: int = 560,
) -> go.Figure:
    """The road network coloured by road class or speed limit, with signalized junctions and
    closed edges marked.

    Parameters
    ----------
    basemap
        The city's :class:`Basemap`.
    color_by
        ``"class"`` (one trace per OSM road class) or ``"speed"`` (speed-limit bands).
    signals
        Draw signalized junctions.
    closed
        The scenario's closures (``"u-v"`` edges or ``"way:ID"`` OSM ways), drawn on top in
        red (:func:`closed_traces`).
    pickable
        Add the hover/click trace of edge midpoints.
    muted
        One light grey trace for everything: a backdrop for data layers drawn on top.
    lines_only
        Only the streets (no markers): the quick first paint; :func:`marker_traces` follow.
    """
    traces: list[go.Scattergl] = []
    if muted:
        traces.append(
            line_trace(basemap, None, name="streets", color="#c8c8c8", width=1.0, showlegend=False)
        )
    else:
        for name, color, width, edges in color_layers(basemap, color_by):
            traces.append(line_trace(basemap, edges, name=name, color=color, width=width))
    traces.extend(closed_traces(basemap, closed))
    if not lines_only:
        traces.extend(marker_traces(basemap, signals=signals, pickable=pickable))
    figure = go.Figure(traces)
    figure.update_layout(**base_layout(basemap, height=height))
    return figure


def marker_traces(basemap: Basemap, *, signals: bool = True, pickable: bool = True) -> list:
    """Signalized junctions and the hover/click layer of edge midpoints (WebGL markers)."""
    traces = []
    if signals and basemap.node_signalized.any():
        mask = basemap.node_signalized
        traces.append(
            go.Scattergl(
                x=basemap.node_lon[mask],
                y=basemap.node_lat[mask],
                mode="markers",
                marker={"size": 6, "color": "#1f4e9c", "symbol": "circle"},
                name="signalized junction",
                customdata=basemap.node_osmid[mask],
                hovertemplate="signalized junction %{customdata}<extra></extra>",
            )
        )
    if pickable:
        traces.append(basemap.pick_trace())
    return traces


def closed_traces(basemap: Basemap, closed: Sequence[str]) -> list[go.Scattergl]:
    """Closed edges as a thick red line trace (none when nothing is closed).

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    closed : sequence of str
        The scenario's closures as it writes them: ``"u-v[-key]"`` edges or ``"way:ID"`` OSM
        ways (every map resolves them here, so that each draws the same streets closed).

    Returns
    -------
    list of plotly.graph_objects.Scatter
        One trace named ``"closed"``, or none.
    """
    edges = closed_edges(list(closed), ways=basemap.way, index=basemap.edge_index)
    if len(edges) == 0:
        return []
    return [line_trace(basemap, edges, name="closed", color="#e0001b", width=4.5)]


TILE_STYLE = "open-street-map"
"""Plotly's map style of OpenStreetMap's raster tiles (fetched from tile.openstreetmap.org)."""


def _zoom(basemap: Basemap, width_px: float = 900.0) -> float:
    """Web-map zoom that fits the network's longitude span into about ``width_px`` pixels
    (a zoom-0 world is 256 pixels wide)."""
    span = float(np.nanmax(basemap.node_lon) - np.nanmin(basemap.node_lon))
    return float(np.clip(math.log2(360.0 * width_px / 256.0 / max(span, 1e-6)), 1.0, 18.0))


def tile_figure(figure: go.Figure, basemap: Basemap) -> go.Figure:
    """The same map over OpenStreetMap's tiles: every line and marker trace as a ``Scattermap``
    trace in longitude/latitude, with the same colours, names, hover and click data.

    Only for a planner who switches tiles on (they are fetched from the internet); the default
    map stays :func:`network_figure`'s tile-free one.

    Parameters
    ----------
    figure : plotly.graph_objects.Figure
        A map of this module or :mod:`dashboards.figures` (``x`` longitude, ``y`` latitude).
    basemap : Basemap
        The city's base map (centre and zoom).

    Returns
    -------
    plotly.graph_objects.Figure
        A new figure; ``figure`` is unchanged.
    """
    traces = []
    for trace in figure.data:
        line = trace.line if trace.mode == "lines" else None
        marker = trace.marker if "markers" in (trace.mode or "") else None
        traces.append(
            go.Scattermap(
                lon=trace.x,
                lat=trace.y,
                mode=trace.mode,
                name=trace.name,
                showlegend=trace.showlegend,
                legendgroup=trace.legendgroup,
                opacity=trace.opacity,
                connectgaps=False,
                customdata=trace.customdata,
                hovertext=trace.hovertext,
                hoverinfo=trace.hoverinfo,
                hovertemplate=trace.hovertemplate,
                line={"color": line.color, "width": line.width} if line else None,
                # map markers are circles only (other symbols are icon names there)
                marker=(
                    {
                        "size": marker.size,
                        "color": marker.color,
                        "colorscale": marker.colorscale,
                        "cmin": marker.cmin,
                        "cmax": marker.cmax,
                        "opacity": marker.opacity,
                        "colorbar": marker.colorbar if marker.colorbar.title.text else None,
                    }
                    if marker
                    else None
                ),
            )
        )
    layout = figure.layout
    tiled = go.Figure(traces)
    tiled.update_layout(
        height=layout.height,
        margin=layout.margin,
        modebar=layout.modebar,
        legend=layout.legend,
        hovermode="closest",
        uirevision=f"{layout.uirevision}-tiles",
        map={
            "style": TILE_STYLE,
            "center": {
                "lon": float(np.nanmean(basemap.node_lon)),
                "lat": float(np.nanmean(basemap.node_lat)),
            },
            "zoom": _zoom(basemap),
        },
    )
    return tiled


def with_tiles(figure: go.Figure, basemap: Basemap, tiles: list[str] | None) -> go.Figure:
    """``figure`` over map tiles when the planner switched them on (the top bar's
    ``map-tiles`` checklist holds ``["tiles"]``), else ``figure`` itself.

    Parameters
    ----------
    figure : plotly.graph_objects.Figure
        A map in longitude/latitude.
    basemap : Basemap
        The city's base map.
    tiles : list of str or None
        The checklist's value.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure to draw.
    """
    return tile_figure(figure, basemap) if tiles and "tiles" in tiles else figure
