"""Figures built from run tables: congestion maps, routes, bins, KPI charts.

Inputs are the tables a run writes (read back from the store); nothing here simulates. Maps
draw on :class:`~dashboards.basemap.Basemap` in longitude/latitude.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import shapely

from dashboards.basemap import (
    CONGESTION_LEVELS,
    Basemap,
    base_layout,
    closed_traces,
    line_trace,
)
from dashboards.logic import TRADEOFF_KPIS, clock, format_kpi, level_of
from dashboards.state import Sites

__all__ = [
    "bin_marker_scale",
    "congestion_figure",
    "daily_figure",
    "delay_figure",
    "empty_figure",
    "level_traces",
    "proposed_routes_figure",
    "route_style",
    "routes_figure",
    "sites_traces",
    "speed_over_time",
    "tradeoff_figure",
    "travel_time_histogram",
]

TRUCK_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
CHART = {"height": 300, "margin": {"l": 50, "r": 10, "t": 36, "b": 40}, "template": "plotly_white"}


def empty_figure(message: str, *, height: int = 300) -> go.Figure:
    """A blank chart with a note (before a run)."""
    figure = go.Figure()
    figure.update_layout(
        height=height,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "font": {"color": "#777"}}],
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return figure


FEW_BINS = 200
"""Up to this many bins, markers are drawn full size; more get smaller and fainter."""


def bin_marker_scale(n_bins: int) -> tuple[float, float]:
    """Size factor and opacity of bin markers for a city with ``n_bins`` bins.

    A centre's few hundred bins read as points on its streets; a country's thousands drawn the
    same size cover the streets (Liechtenstein's 1,340 buried them). Markers shrink with the
    square root of the count, so that the area they cover stays about that of
    :data:`FEW_BINS` full-size ones, down to 40 %, and fade as much, to half transparent.

    Parameters
    ----------
    n_bins : int
        Bins on the map.

    Returns
    -------
    tuple of float
        ``(size factor, opacity)``: ``(1, 0.9)`` for a few bins.
    """
    if n_bins <= FEW_BINS:
        return 1.0, 0.9
    shrink = float(np.sqrt(FEW_BINS / n_bins))
    return max(0.4, shrink), max(0.5, 0.9 * shrink)


def sites_traces(sites: Sites) -> list[go.Scattergl]:
    """Bins (sized by daily waste, smaller and fainter when there are many), depot and disposal
    site."""
    factor, opacity = bin_marker_scale(len(sites.bin_lon))
    size = 4 + 8 * np.sqrt(sites.bin_daily_kg / max(float(sites.bin_daily_kg.max()), 1e-9))
    outline = 0.5 if factor > 0.75 else 0.0  # white rims of a crowd of markers read as a blot
    return [
        go.Scattergl(
            x=sites.bin_lon,
            y=sites.bin_lat,
            mode="markers",
            marker={
                "size": np.maximum(size * factor, 2.5),
                "color": "#2e8b57",
                "opacity": opacity,
                "line": {"width": outline, "color": "white"},
            },
            name=f"bins ({len(sites.bin_lon)})",
            customdata=np.column_stack([sites.bin_capacity_kg, sites.bin_daily_kg]),
            hovertemplate="bin: %{customdata[0]:.0f} kg capacity, %{customdata[1]:.1f} kg/day"
            "<extra></extra>",
        ),
        site_marker(sites.depot, "depot", sites.depot_source, symbol="square", color="#111"),
        site_marker(
            sites.disposal,
            "disposal site",
            sites.disposal_source,
            symbol="diamond",
            color="#8b4513",
        ),
    ]


def site_marker(
    point: tuple[float, float], name: str, source: str, *, symbol: str, color: str
) -> go.Scattergl:
    """One large marker for a single site (the depot, the disposal site).

    Parameters
    ----------
    point : tuple of float
        Longitude and latitude of the site.
    name : str
        Legend entry, also the start of the hover text.
    source : str
        Where the site's position came from, shown on hover.
    symbol : str
        Plotly marker symbol.
    color : str
        Marker colour.

    Returns
    -------
    plotly.graph_objects.Scattergl
        A trace of one marker.
    """
    return go.Scattergl(
        x=[point[0]],
        y=[point[1]],
        mode="markers",
        marker={"size": 16, "symbol": symbol, "color": color},
        name=name,
        hovertext=[f"{name}: {source}"],
        hoverinfo="text",
    )


def interval_ratio(series: pd.DataFrame, basemap: Basemap, start_s: float) -> np.ndarray:
    """Mean speed over the speed limit of every edge in the interval starting at ``start_s``."""
    rows = series[series["interval_start_s"] == start_s]
    ratio = np.ones(basemap.n_edges)
    edges = rows["edge"].to_numpy()
    ratio[edges] = rows["speed_kph"].to_numpy() / basemap.speed_kph[edges]
    return ratio


def congestion_figure(
    basemap: Basemap,
    series: pd.DataFrame | None,
    start_s: float | None,
    *,
    closed: Sequence[str] = (),
    height: int = 560,
) -> go.Figure:
    """Edges coloured by congestion in one interval (or the plain network before a run),
    closed edges in red (``closed``: the scenario's closures, ``"u-v"`` or ``"way:ID"``, see
    :func:`dashboards.basemap.closed_traces`), and the clickable edge midpoints."""
    traces: list[go.Scattergl] = []
    if series is None or start_s is None:
        traces.append(
            line_trace(basemap, None, name="streets", color="#8c8c8c", width=1.2, showlegend=False)
        )
    else:
        ratio = interval_ratio(series, basemap, start_s)
        # free-flowing edges first, jams drawn on top
        order = range(len(CONGESTION_LEVELS) - 1, -1, -1)
        traces += level_traces(
            basemap, level_of(ratio, CONGESTION_LEVELS), CONGESTION_LEVELS, order
        )
    traces.extend(closed_traces(basemap, closed))
    traces.append(basemap.pick_trace())
    figure = go.Figure(traces)
    figure.update_layout(**base_layout(basemap, height=height, uirevision="traffic"))
    return figure


def level_traces(
    basemap: Basemap,
    level: np.ndarray,
    levels: Sequence[tuple[float, str, str]],
    order: Sequence[int],
) -> list[go.Scatter]:
    """One line trace per level (its label in the legend, its colour), in drawing order: the
    first, the calm level, thin; the others wide on top of it.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    level : numpy.ndarray
        Index into ``levels`` of every edge (:func:`dashboards.logic.level_of`).
    levels : sequence of (float, str, str)
        Upper bound, label and colour of each level.
    order : sequence of int
        The levels in drawing order.

    Returns
    -------
    list of plotly.graph_objects.Scatter
        The traces, one per level (with nothing drawn where no edge has it).
    """
    traces = []
    for position, index in enumerate(order):
        _, label, color = levels[index]
        edges = np.flatnonzero(level == index)
        width = 1.4 if position == 0 else 3.0
        trace = line_trace(basemap, edges, name=label, color=color, width=width)
        if not len(edges):
            # Plotly leaves a trace without points out of the legend: one gap keeps every
            # level there, so that maps compared side by side show the same scale
            trace.update(x=[np.nan], y=[np.nan])
        traces.append(trace)
    return traces


def delay_figure(
    basemap: Basemap,
    delay_veh_h: np.ndarray,
    levels: Sequence[tuple[float, str, str]],
    *,
    notes: list[str] | None = None,
    height: int = 460,
    uirevision: str = "delay",
) -> go.Figure:
    """Links coloured by their delay (:func:`dashboards.logic.delay_levels`, the scale shared
    with the map this one is compared with), most delay drawn on top.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    delay_veh_h : numpy.ndarray
        Delay on every edge, vehicle-hours, in the network's edge order.
    levels : sequence of (float, str, str)
        The colour levels, least delay first.
    notes : list of str, optional
        One hover line per edge (the delay before and after).
    height : int
        Pixels.
    uirevision : str
        Keeps the planner's zoom when the map is redrawn.

    Returns
    -------
    plotly.graph_objects.Figure
        The map.
    """
    traces = level_traces(basemap, level_of(delay_veh_h, levels), levels, order=range(len(levels)))
    traces.append(basemap.pick_trace(name="links (hover)", notes=notes))
    figure = go.Figure(traces)
    figure.update_layout(**base_layout(basemap, height=height, uirevision=uirevision))
    return figure


def travel_time_histogram(trips: pd.DataFrame) -> go.Figure:
    """Travel times of the trips that arrived, minutes."""
    done = trips[trips["status"] == "arrived"]
    figure = go.Figure(
        go.Histogram(x=done["travel_time_s"] / 60.0, nbinsx=40, marker_color="#2b6f8f")
    )
    figure.update_layout(
        title="Travel time of completed trips",
        xaxis_title="minutes",
        yaxis_title="trips",
        **CHART,
    )
    return figure


def network_speed(series: pd.DataFrame, length_m: np.ndarray) -> pd.DataFrame:
    """Space-mean speed of the network per interval: vehicle-km over vehicle-hours of the
    vehicles that left a link in it (an aggregate of the run's per-edge series)."""
    rows = series[series["flow_vph"] > 0]
    length_km = length_m[rows["edge"].to_numpy()] / 1000.0
    veh_km = rows["flow_vph"].to_numpy() * length_km
    veh_h = veh_km / np.maximum(rows["speed_kph"].to_numpy(), 0.1)
    frame = pd.DataFrame(
        {"interval_start_s": rows["interval_start_s"].to_numpy(), "km": veh_km, "h": veh_h}
    )
    grouped = frame.groupby("interval_start_s").sum()
    return pd.DataFrame({"minute": grouped.index / 60.0, "speed_kph": grouped["km"] / grouped["h"]})


def speed_over_time(
    runs: dict[str, pd.DataFrame], length_m: np.ndarray, *, title: str = "Network speed"
) -> go.Figure:
    """Network space-mean speed over time, one line per run."""
    figure = go.Figure()
    for name, series in runs.items():
        speed = network_speed(series, length_m)
        figure.add_scatter(x=speed["minute"], y=speed["speed_kph"], mode="lines+markers", name=name)
    figure.update_layout(title=title, xaxis_title="minute", yaxis_title="km/h", **CHART)
    return figure


def daily_figure(daily: pd.DataFrame) -> go.Figure:
    """Waste generated, collected, overflowed and in bins per day, tonnes."""
    figure = go.Figure()
    day = daily["day"]
    figure.add_bar(x=day, y=daily["collected_kg"] / 1000, name="collected", marker_color="#2b6f8f")
    figure.add_bar(x=day, y=daily["overflow_kg"] / 1000, name="overflow", marker_color="#c0392b")
    figure.add_scatter(
        x=day, y=daily["in_bins_kg"] / 1000, name="in bins (end of day)", mode="lines+markers"
    )
    figure.add_scatter(
        x=day, y=daily["generated_kg"] / 1000, name="generated", mode="lines", line_dash="dot"
    )
    figure.update_layout(
        title="Waste per day", xaxis_title="day", yaxis_title="tonnes", barmode="stack", **CHART
    )
    return figure


BASELINE_LINE = "#444"
"""The baseline's zero line in the trade-off picture."""


def tradeoff_figure(
    table: pd.DataFrame, baseline: str, *, labels: Mapping[str, str] | None = None
) -> go.Figure:
    """Truck-km, truck-hours, euros and CO2 of every policy against the baseline, as one
    picture: the measures along the axis, a bar per policy in each, in per cent of the
    baseline's value (below zero: less than the baseline, which is the zero line). A policy's
    service level is in its legend entry and on every bar's hover, since a policy that empties
    fewer bins drives less.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`dashboards.logic.against_baseline`: one row per policy.
    baseline : str
        The baseline policy (a row of ``table``; drawn as the zero line, not as bars).
    labels : mapping, optional
        A policy's name as shown (a model's says so); the policy's name otherwise.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per policy other than the baseline, named by the policy.
    """
    names = dict(labels or {})
    measures = [label for _, label in TRADEOFF_KPIS]
    base = table[table["policy"] == baseline].iloc[0]
    base_name = names.get(baseline, baseline)
    figure = go.Figure()
    for row in table[table["policy"] != baseline].itertuples(index=False):
        label = names.get(row.policy, row.policy)
        level = format_kpi("service_level", row.service_level)
        values = [getattr(row, f"{kpi}_pct") for kpi, _ in TRADEOFF_KPIS]
        # what the bar stands for in the measures' own units: a per cent of what
        said = [
            [format_kpi(kpi, getattr(row, kpi)), format_kpi(kpi, base[kpi])]
            for kpi, _ in TRADEOFF_KPIS
        ]
        figure.add_bar(
            x=measures,
            y=[None if math.isnan(v) else v for v in values],
            name=f"{label} (service level {level})",
            customdata=said,
            hovertemplate=f"<b>{label}</b><br>%{{x}}: %{{y:+.1f}} % against {base_name}"
            "<br>%{customdata[0]} against %{customdata[1]}"
            f"<br>service level {level}<extra></extra>",
        )
    figure.add_hline(
        y=0,
        line={"color": BASELINE_LINE, "width": 2, "dash": "dash"},
        annotation_text=f"baseline: {base_name} "
        f"(service level {format_kpi('service_level', base['service_level'])})",
        annotation_position="top right",
    )
    figure.update_layout(
        title=f"Against the baseline, {base_name}",
        barmode="group",
        yaxis_title="% against the baseline",
        yaxis_ticksuffix=" %",
        # below the bars: beside them, the policies' names squeeze the four groups
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        **{**CHART, "height": 420, "margin": {"l": 60, "r": 10, "t": 40, "b": 10}},
    )
    return figure


def route_coordinates(routes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of route lines (WGS84 GeoDataFrame), NaN between parts."""
    geoms = shapely.get_parts(np.asarray(routes.geometry.to_numpy(), dtype=object))
    if len(geoms) == 0:
        return np.empty(0), np.empty(0)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    breaks = np.flatnonzero(np.diff(owner)) + 1
    lon = np.insert(coords[:, 0], breaks, np.nan)
    lat = np.insert(coords[:, 1], breaks, np.nan)
    return lon, lat


ROUTE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
"""Line patterns of the policies' routes on one map, in order."""


def route_style(index: int, count: int, *, by_policy: bool) -> tuple[float, str]:
    """Width and dash pattern of the ``index``-th of ``count`` route lines on one map.

    Routes share streets (every truck leaves the depot the same way; policies serve the same
    bins), and lines of one width drawn in turn hide each other. The first line is drawn
    widest and each later one narrower, so that where they overlap each shows as a band of
    its colour around the next; the lines of different policies also differ in pattern.

    Parameters
    ----------
    index : int
        Position of the line in drawing order.
    count : int
        Lines on the map.
    by_policy : bool
        Whether the lines are policies (dash patterns) or the trucks of one plan (solid).

    Returns
    -------
    tuple of (float, str)
        Width in pixels and Plotly dash name.
    """
    step = 2.0 if count <= 4 else 1.2
    width = min(2.5 + step * (count - 1 - index), 11.0)
    dash = ROUTE_DASHES[index % len(ROUTE_DASHES)] if by_policy else "solid"
    return width, dash


def routes_figure(
    basemap: Basemap,
    routes: dict[str, pd.DataFrame],
    bins: pd.DataFrame | None,
    *,
    day: int | None,
    height: int = 560,
    uirevision: str = "waste",
    fill_label: str = "fill at end",
    legend_title: str | None = None,
) -> go.Figure:
    """Truck routes of one day (one colour per truck, or per policy when several are given),
    over the muted network, with bins coloured by their ``fill_kg`` (``fill_label`` says when:
    at the end of the run, or of the day shown); ``legend_title`` heads the legend (whose
    routes they are, where one policy's trucks are shown)."""
    traces: list[go.Scattergl] = [
        line_trace(basemap, None, name="streets", color="#cfcfcf", width=1.0, showlegend=False)
    ]
    lines = []
    for policy, table in routes.items():
        today = table if day is None else table[table["day"] == day]
        groups = [(policy, today)] if len(routes) > 1 else list(today.groupby("truck"))
        for label, part in groups:
            # the model numbers its trucks from 0; the pages, the stops' hover and the field
            # documents (truck-1.gpx) from 1
            name = str(label) if len(routes) > 1 else f"truck {int(label) + 1}"
            lines.append((name, part))
    for index, (name, part) in enumerate(lines):
        lon, lat = route_coordinates(part)
        km = float(part["distance_km"].sum())
        width, dash = route_style(index, len(lines), by_policy=len(routes) > 1)
        traces.append(
            go.Scatter(
                x=lon,
                y=lat,
                mode="lines",
                line={
                    "width": width,
                    "color": TRUCK_COLORS[index % len(TRUCK_COLORS)],
                    "dash": dash,
                },
                name=f"{name}: {km:.1f} km",
                opacity=0.9,
                hoverinfo="name",
            )
        )
    if bins is not None and len(bins):
        fill = (bins["fill_kg"] / bins["capacity_kg"]).clip(0, 1.5).to_numpy()
        points = bins.geometry
        factor, opacity = bin_marker_scale(len(bins))
        traces.append(
            go.Scattergl(
                x=points.x.to_numpy(),
                y=points.y.to_numpy(),
                mode="markers",
                marker={
                    "size": (7 + 2 * np.minimum(bins["overflow_days"].to_numpy(), 5)) * factor,
                    "color": fill,
                    "colorscale": "RdYlGn_r",
                    "cmin": 0,
                    "cmax": 1,
                    "opacity": opacity,
                    # lying under the map, left: upright at its right it sat under the mode bar
                    "colorbar": {
                        "title": {"text": "fill", "side": "right"},
                        "orientation": "h",
                        "x": 0,
                        "xanchor": "left",
                        "y": 0,
                        "yanchor": "top",
                        "len": 0.35,
                        "thickness": 8,
                    },
                    "line": {"width": 0.5 if factor > 0.75 else 0.0, "color": "#333"},
                },
                name=f"bins ({fill_label})",
                customdata=np.column_stack(
                    [100 * fill, bins["times_emptied"], bins["overflow_days"]]
                ),
                hovertemplate="fill %{customdata[0]:.0f} %, emptied %{customdata[1]}×, "
                "overflowed %{customdata[2]} day(s)<extra></extra>",
            )
        )
    figure = go.Figure(traces)
    figure.update_layout(**base_layout(basemap, height=height, uirevision=uirevision))
    if legend_title:
        figure.update_layout(legend_title_text=legend_title)
    return figure


def stop_lines(stops: pd.DataFrame, paths: dict[str, list[list[float]]]) -> pd.DataFrame:
    """A proposed day's routes (:meth:`twin.RouteProposal.stops` and ``.paths``) as the route
    table :func:`routes_figure` draws: one row per truck (numbered from 0, as the model's
    route tables are; the proposal's own numbers start at 1), its road path (``geometry``),
    with the km it drives (``distance_km``) on ``day`` 0."""
    rows = []
    for truck, part in stops.groupby("truck", sort=True):
        rows.append(
            {
                "day": 0,
                "truck": int(truck) - 1,
                "distance_km": float(part.sort_values("order")["km"].iloc[-1]),
                "geometry": shapely.linestrings(np.asarray(paths[str(truck)], dtype=float)),
            }
        )
    return pd.DataFrame(rows, columns=["day", "truck", "distance_km", "geometry"])


def proposed_routes_figure(
    basemap: Basemap,
    stops: pd.DataFrame,
    paths: dict[str, list[list[float]]],
    *,
    legend_title: str | None = None,
    height: int = 460,
    uirevision: str = "routes",
) -> go.Figure:
    """A proposed day's routes on the map: each truck's road path in its colour
    (:func:`routes_figure`, :func:`stop_lines`), the bins
    it empties (each saying its truck, its place in the order, when the truck arrives and its
    load on hover), the depot and the disposal site.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    stops : pandas.DataFrame
        The stops (:meth:`dashboards.store.RunStore.route_stops`).
    paths : dict
        Each truck's road path (:meth:`dashboards.store.RunStore.route_paths`).
    legend_title : str, optional
        Heads the legend (who proposed the routes).
    height : int
        Pixels.
    uirevision : str
        Keeps the planner's zoom when the map is redrawn.

    Returns
    -------
    plotly.graph_objects.Figure
        The map.
    """
    figure = routes_figure(
        basemap,
        {"proposal": stop_lines(stops, paths)},
        None,
        day=None,
        height=height,
        uirevision=uirevision,
        legend_title=legend_title,
    )
    bins = stops[stops["kind"] == "bin"]
    arrive = [clock(s) for s in bins["arrive_s"]]
    figure.add_trace(
        go.Scattergl(
            x=bins["lon"].to_numpy(),
            y=bins["lat"].to_numpy(),
            mode="markers",
            marker={"size": 7, "color": "#2e8b57", "line": {"width": 0.5, "color": "white"}},
            name=f"bins emptied ({len(bins)})",
            customdata=np.column_stack(
                [bins["truck"], bins["order"], bins["bin"], arrive, bins["load_kg"]]
            ),
            hovertemplate="truck %{customdata[0]}, stop %{customdata[1]}: bin %{customdata[2]}"
            "<br>arrives %{customdata[3]} into the shift, %{customdata[4]} kg on board"
            "<extra></extra>",
        )
    )
    for kind, name, symbol, color, what in (
        ("depot", "depot", "square", "#111", "every route starts and ends here"),
        ("disposal", "disposal site", "diamond", "#8b4513", "the trucks unload here"),
    ):
        found = stops[stops["kind"] == kind]
        if len(found):
            point = (float(found["lon"].iloc[0]), float(found["lat"].iloc[0]))
            figure.add_trace(site_marker(point, name, what, symbol=symbol, color=color))
    return figure
