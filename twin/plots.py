"""Static plots of run results for notebooks and reports (matplotlib; the dashboard draws its own).

Every function returns a :class:`matplotlib.figure.Figure` and draws nothing on screen by itself,
so it works headless (save with ``fig.savefig("map.png")``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_compare", "plot_traffic", "plot_waste"]


def _figure(width: float = 8.0, height: float = 8.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def plot_traffic(edges: gpd.GeoDataFrame, *, column: str = "speed_ratio") -> Figure:
    """Road network coloured by a per-edge traffic column (default: mean speed / speed limit,
    red where traffic crawls)."""
    if column not in edges:
        raise KeyError(f"edges have no column {column!r}: pick one of {sorted(edges.columns)}")
    figure, axes = _figure()
    edges.plot(ax=axes, column=column, cmap="RdYlGn", linewidth=1.2, legend=True)
    axes.set_title(f"Traffic: {column.replace('_', ' ')}")
    axes.set_axis_off()
    return figure


def plot_waste(
    bins: gpd.GeoDataFrame, routes: gpd.GeoDataFrame, *, day: int | None = None
) -> Figure:
    """Bins coloured by their final fill (larger where they overflowed), with the truck routes of
    one day (default: the busiest)."""
    figure, axes = _figure()
    if len(routes):
        if day is None:
            day = int(routes.groupby("day")["distance_km"].sum().idxmax())
        today = routes[routes["day"] == day]
        today.plot(ax=axes, column="truck", categorical=True, linewidth=2.0, legend=True)
    fill = (bins["fill_kg"] / bins["capacity_kg"]).rename("fill share")
    # every bin by how full it ended; bins that overflowed on some day drawn larger
    sizes = 14 + 30 * (bins["overflow_days"] > 0)
    bins.assign(fill_share=fill).plot(
        ax=axes, column="fill_share", cmap="YlOrRd", vmin=0, vmax=1, markersize=sizes,
        edgecolor="black", linewidth=0.4, legend=True, zorder=3,
    )  # fmt: skip
    title = "Waste: bins by final fill (large: overflowed)"
    axes.set_title(title if day is None else f"{title}, routes of day {day}")
    axes.set_axis_off()
    return figure


def plot_compare(table: pd.DataFrame, *, kpis: list[str] | None = None) -> Figure:
    """Relative KPI differences of two runs (the output of :func:`twin.api.compare`)."""
    shown = table if kpis is None else table[table["kpi"].isin(kpis)]
    shown = shown.dropna(subset=["relative"])
    labels = shown["section"] + ": " + shown["kpi"]
    figure, axes = _figure(8.0, max(2.0, 0.3 * len(shown) + 1.0))
    colours = ["tab:red" if value > 0 else "tab:green" for value in shown["relative"]]
    axes.barh(labels, 100 * shown["relative"], color=colours)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("b against a, %")
    axes.invert_yaxis()
    return figure
