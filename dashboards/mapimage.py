"""The road network as a static picture (PNG), drawn on the server: what the City page shows
at once while the browser still loads and compiles Plotly (4.8 MB of script, seconds on a
slow machine) for the interactive map that replaces it.

The picture is the real map, not a placeholder: the same line layers as
:func:`dashboards.basemap.network_figure` (:func:`dashboards.basemap.color_layers`: the same
colours, widths and drawing order, the same merged polylines), framed on the same box
(:func:`dashboards.basemap.map_extent`) at the same equal ground scale, on the map's background
colour. Matplotlib's Agg renderer draws it without a display; one ``Line2D`` per layer, with NaN
gaps between polylines as in the Plotly traces.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dashboards.basemap import Basemap, color_layers, map_extent

__all__ = ["IMAGE_VERSION", "MAP_BACKGROUND", "MapImage", "image_size", "render_map_image"]

MAP_BACKGROUND = "#fbfbf8"
"""The interactive map's plot background (``plot_bgcolor`` of :func:`base_layout`)."""

IMAGE_VERSION = "1"
"""Part of the image's URL: a change of the drawing reaches browsers that cached the old one."""


@dataclass(frozen=True)
class MapImage:
    """A rendered map.

    Parameters
    ----------
    png : bytes
        The PNG file.
    width, height : int
        Its size in pixels.
    extent : tuple of float
        ``(west, south, east, north)`` in degrees: the image's edges.
    legend : tuple of (str, str)
        ``(name, colour)`` of each layer drawn, in drawing order (the interactive map's legend
        order).
    """

    png: bytes
    width: int
    height: int
    extent: tuple[float, float, float, float]
    legend: tuple[tuple[str, str], ...]


def image_size(basemap: Basemap, box: tuple[int, int]) -> tuple[int, int]:
    """The largest size at the map's ground aspect that fits in ``box``.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    box : tuple of int
        Largest width and height, pixels.

    Returns
    -------
    width, height : int
        Pixels.
    """
    west, south, east, north = map_extent(basemap)
    # a degree of longitude is cos(latitude) as long on the ground as one of latitude
    aspect = (east - west) * math.cos(math.radians(basemap.center_lat)) / (north - south)
    width, height = box
    if width / height > aspect:
        width = round(height * aspect)
    else:
        height = round(width / aspect)
    return max(width, 1), max(height, 1)


def render_map_image(
    basemap: Basemap,
    *,
    color_by: str = "class",
    box: tuple[int, int] = (1100, 540),
    antialiased: bool = True,
) -> MapImage:
    """Draw the road network as a PNG.

    Parameters
    ----------
    basemap : Basemap
        The city's base map.
    color_by : str
        ``"class"`` or ``"speed"``, as in :func:`dashboards.basemap.network_figure`.
    box : tuple of int
        Largest width and height in pixels; the default is about the City map's plot area in
        a laptop's window, so that a pixel of line width here is a pixel there (the
        interactive map's widths are in screen pixels).
    antialiased : bool
        Smooth line edges (off: every line pixel has its layer's exact colour; for tests).

    Returns
    -------
    MapImage
        The PNG and what it shows.
    """
    width, height = image_size(basemap, box)
    west, south, east, north = map_extent(basemap)
    # 72 dpi: a line width in points is one in pixels, the unit of Plotly's widths
    figure = Figure(figsize=(width / 72.0, height / 72.0), dpi=72, facecolor=MAP_BACKGROUND)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    axes.set_xlim(west, east)
    axes.set_ylim(south, north)
    legend = []
    for name, color, line_width, edges in color_layers(basemap, color_by):
        lon, lat = basemap.drawn_lines(edges)
        # round joins and caps, as Plotly's SVG lines
        axes.plot(
            lon,
            lat,
            color=color,
            linewidth=line_width,
            solid_joinstyle="round",
            solid_capstyle="round",
            antialiased=antialiased,
        )
        legend.append((name, color))
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return MapImage(
        png=buffer.getvalue(),
        width=width,
        height=height,
        extent=(west, south, east, north),
        legend=tuple(legend),
    )
