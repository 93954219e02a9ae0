"""The City map's static picture and the page's first paint, without a browser: the picture is
the real network (every road class, the map's colours, its extent and ground scale), and the
index document carries the page before any script runs."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from dash import dcc, html
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from dashboards.basemap import Basemap, map_extent, network_figure
from dashboards.mapimage import MAP_BACKGROUND, image_size, render_map_image
from dashboards.prerender import to_html


@pytest.fixture(scope="module")
def basemap(helsinki):
    return Basemap.from_city(helsinki)


def _pixels(png: bytes) -> np.ndarray:
    """RGB, 0–255 integers, rows from the top."""
    return np.round(imread(io.BytesIO(png), format="png")[..., :3] * 255).astype(int)


def _rgb(color: str) -> np.ndarray:
    return np.round(np.array(to_rgb(color)) * 255).astype(int)


def test_the_picture_draws_every_road_class_in_the_maps_colours(basemap):
    image = render_map_image(basemap, antialiased=False)
    pixels = _pixels(image.png)
    assert pixels.shape == (image.height, image.width, 3)
    # the same layers, in the same order and colours, as the interactive map's traces
    traces = network_figure(basemap, lines_only=True).data
    assert list(image.legend) == [(t.name, t.line.color) for t in traces]
    assert {name for name, _ in image.legend} == set(basemap.highway)
    # without antialiasing every line pixel has its layer's exact colour: each colour is there
    for name, color in image.legend:
        assert (pixels == _rgb(color)).all(axis=-1).sum() > 20, name
    # and nothing else but the background
    known = np.array([_rgb(c) for _, c in image.legend] + [_rgb(MAP_BACKGROUND)])
    assert (pixels[:, :, None, :] == known).all(axis=-1).any(axis=-1).all()


def test_the_picture_spans_the_maps_extent_at_equal_ground_scale(basemap):
    image = render_map_image(basemap, antialiased=False)
    west, south, east, north = image.extent
    assert image.extent == map_extent(basemap)
    # a pixel is as long on the ground across as down
    ground = (east - west) * math.cos(math.radians(basemap.center_lat)) / (north - south)
    assert image.width / image.height == pytest.approx(ground, abs=2 / image.height)
    # the streets reach the box's margin (2 % of the extent) on all four sides
    drawn = (_pixels(image.png) != _rgb(MAP_BACKGROUND)).any(axis=-1)
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    margin = 0.02 / 1.04  # of the image
    for first, last, size in ((rows[0], rows[-1], image.height), (cols[0], cols[-1], image.width)):
        assert abs(first - margin * size) <= 3 and abs(last - (1 - margin) * size) <= 3
    # each street's middle lies where the map's projection puts it
    x = np.round((basemap.mid_lon - west) / (east - west) * image.width - 0.5).astype(int)
    y = np.round((north - basemap.mid_lat) / (north - south) * image.height - 0.5).astype(int)
    near = [
        drawn[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any() for r, c in zip(y, x, strict=True)
    ]
    assert np.mean(near) > 0.97
    # the interactive map opens on the same box
    layout = network_figure(basemap).layout
    assert tuple(layout.xaxis.range) == (west, east)
    assert tuple(layout.yaxis.range) == (south, north)


def test_image_size_fits_the_box_at_the_maps_aspect(basemap):
    width, height = image_size(basemap, (1100, 540))
    assert (width == 1100 or height == 540) and width <= 1100 and height <= 540
    wide = image_size(basemap, (4000, 100))
    assert wide[1] == 100 and wide[0] < 4000


def test_to_html_writes_what_shows_without_scripts():
    layout = html.Div(
        [
            html.H2("Vaduz <centre>", id="title"),
            dcc.Link("Traffic", href="/traffic"),
            dcc.Loading(html.Img(src="/a.png", id="pic", width=10, height=5)),
            dcc.Graph(id="map"),
            dcc.Store(id="s", data={"x": 1}),
        ],
        className="page",
        style={"marginTop": 4, "opacity": 0.5},
    )
    written = to_html(layout, attributes={"pic": {"elementtiming": "pic"}})
    assert written == (
        '<div class="page" style="margin-top: 4px; opacity: 0.5"><h2>Vaduz &lt;centre&gt;</h2>'
        '<a href="/traffic">Traffic</a>'
        '<img src="/a.png" width="10" height="5" elementtiming="pic"></div>'
    )


def test_the_index_document_carries_the_city_page_and_its_picture(helsinki, tmp_path):
    from dashboards.app import create_app

    client = create_app(helsinki, store_dir=tmp_path).server.test_client()
    page = client.get("/").get_data(as_text=True)
    first = page[page.index('<div class="first-paint">') : page.index('id="react-entry-point"')]
    summary = helsinki.network.summary()
    assert "<h2>helsinki</h2>" in first and f">{summary['edges']:,}<" in first
    assert ' id="' not in first  # Dash's own copy of the page has the ids
    (src,) = re.findall(r'<img [^>]*src="([^"]+)"[^>]*elementtiming="city-map-static"', first)
    picture = client.get(src)
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert "immutable" in picture.headers["Cache-Control"]
    assert _pixels(picture.data).std() > 10  # a drawing, not one colour
    # a URL of another city (or drawing) is not this session's picture
    assert client.get(src.replace("-v", "0-v")).status_code == 404
    # other pages are not the City page: Dash's plain document
    assert 'class="first-paint"' not in client.get("/traffic").get_data(as_text=True)
