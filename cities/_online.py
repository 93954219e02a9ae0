"""Online download of a city by place name: Nominatim finds it, Overpass exports its OSM data.

Every call to an outside service lives in this module. Each request has a short connect timeout,
so a machine without network access gets a clear error at once instead of a hang. Service
addresses can be overridden (``TWIN_NOMINATIM_URL``, ``TWIN_OVERPASS_URL``), e.g. to use a
self-hosted Overpass instance.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import requests

from cities.cache import owner_tag, remove_stale
from cities.errors import CityError, CityNotFoundError, NetworkUnavailableError

__all__ = ["MAX_AREA_DEG2", "download_place"]

USER_AGENT = "citiverse-twin (https://github.com/citiverse/citiverse-twin)"
CONNECT_TIMEOUT_S = 10.0
MAX_AREA_DEG2 = 0.25
"""Largest bounding box (square degrees, about 50 × 50 km in Europe) fetched from Overpass."""

_OVERPASS_QUERY = """[out:xml][timeout:{timeout}][bbox:{south},{west},{north},{east}];
(
  way["highway"];
  node["highway"="traffic_signals"];
  way["building"]; relation["building"];
  way["landuse"]; relation["landuse"];
  node["amenity"]; node["shop"]; node["office"]; node["tourism"]; node["craft"]; node["healthcare"];
);
(._;>;);
out body;"""


def _nominatim_url() -> str:
    return os.environ.get("TWIN_NOMINATIM_URL", "https://nominatim.openstreetmap.org/search")


def _overpass_url() -> str:
    return os.environ.get("TWIN_OVERPASS_URL", "https://overpass-api.de/api/interpreter")


def _request(method: str, url: str, *, read_timeout: float, **kwargs) -> requests.Response:
    try:
        response = requests.request(
            method,
            url,
            headers={"User-Agent": USER_AGENT},
            timeout=(CONNECT_TIMEOUT_S, read_timeout),
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as err:
        host = requests.utils.urlparse(url).netloc
        raise NetworkUnavailableError(
            f"Cannot reach {host} ({type(err).__name__}): this machine seems to have no network "
            "access. Download an OSM extract elsewhere (e.g. Geofabrik or BBBike) and load it "
            "by path."
        ) from None
    if response.status_code != 200:
        raise CityError(
            f"{url} answered HTTP {response.status_code}: the service is busy or refused the "
            "request. Try again later, or load a downloaded extract by path."
        )
    return response


def _check_complete(response: requests.Response) -> None:
    """Raise if the connection closed before the announced body ended: urllib3 1.x (which
    some test stacks pin) does not check Content-Length itself."""
    announced = response.headers.get("Content-Length", "")
    received = response.raw.tell() if hasattr(response.raw, "tell") else None
    if announced.isdigit() and received is not None and received < int(announced):
        raise requests.exceptions.ChunkedEncodingError(
            f"connection closed after {received} of {announced} bytes"
        )


def geocode_bbox(place: str, *, timeout_s: float = 30.0) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a place name, from Nominatim."""
    response = _request(
        "GET",
        _nominatim_url(),
        read_timeout=timeout_s,
        params={"q": place, "format": "json", "limit": 1},
    )
    try:
        results = response.json()
        south, north, west, east = (float(v) for v in results[0]["boundingbox"])
    except (ValueError, LookupError, TypeError):
        raise CityNotFoundError(
            f"Nominatim found no place called '{place}': check the spelling, or add the country "
            "(e.g. 'Vaduz, Liechtenstein')."
        ) from None
    return west, south, east, north


def download_place(place: str, out: Path, *, timeout_s: float = 180.0) -> Path:
    """Download the OSM data of a place into ``out`` (an ``.osm`` file), atomically.

    Raises
    ------
    NetworkUnavailableError
        The services cannot be reached.
    CityNotFoundError
        The place name is unknown.
    CityError
        The area is too large or the service refused the request.
    """
    if not place.strip():
        raise CityError("no place named: give one, e.g. 'Vaduz, Liechtenstein'.")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise CityError(
            f"--timeout {timeout_s:g}: seconds to wait for each service, more than 0 (default 180)."
        )
    west, south, east, north = geocode_bbox(place, timeout_s=timeout_s)
    area = (east - west) * (north - south)
    if area > MAX_AREA_DEG2:
        raise CityError(
            f"'{place}' covers {area:.2f} square degrees, more than Overpass serves in one request "
            f"({MAX_AREA_DEG2}): name a smaller place, or download a regional extract from "
            "Geofabrik and load it by path."
        )
    query = _OVERPASS_QUERY.format(
        timeout=int(timeout_s), south=south, west=west, north=north, east=east
    )
    response = _request(
        "POST", _overpass_url(), read_timeout=timeout_s, data={"data": query}, stream=True
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    # what a killed download left there goes; this one is named by its process, so a later
    # start can tell it from one still running
    remove_stale(out.parent, prefix=".partial-")
    handle, partial = tempfile.mkstemp(
        prefix=f".partial-{owner_tag()}-", suffix=".osm", dir=out.parent
    )
    try:
        with os.fdopen(handle, "wb") as sink:
            for chunk in response.iter_content(chunk_size=1 << 20):
                sink.write(chunk)
        _check_complete(response)
        os.replace(partial, out)
    except requests.RequestException as err:
        Path(partial).unlink(missing_ok=True)
        raise NetworkUnavailableError(
            f"The download from Overpass broke off ({type(err).__name__}): try again later."
        ) from None
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return out
