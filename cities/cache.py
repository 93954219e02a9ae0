"""On-disk cache of built cities, keyed by the OSM file's content hash.

A cache entry is a folder of Parquet files (nodes, edges as GeoParquet, context features and
weights) plus ``meta.json``, which records the SHA-256 of the OSM file the city was built from.
It is written into a temporary folder and renamed into place, so a crash or a failed build never
leaves a half-written entry. An entry that cannot be read back, or whose ``meta.json`` names
another source file than the one asked for (an entry copied or renamed from another city), is
deleted and rebuilt.

Temporary folders are named after the process writing them (``.staging-<pid>@<host>-…``); one
left by a killed build is removed on the next use of the cache, once its process is gone.
:func:`owner_tag` and :func:`remove_stale` do the same for the run folders of :mod:`twin`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

from cities.context import CityContext
from cities.errors import TwinError
from cities.network import RoadNetwork
from cities.roads import defaults_fingerprint

__all__ = [
    "CACHE_DIR_ENV",
    "FORMAT_VERSION",
    "STALE_AFTER_S",
    "default_cache_dir",
    "entry_dir",
    "is_stale",
    "owner_tag",
    "read",
    "remove_stale",
    "write",
]

CACHE_DIR_ENV = "TWIN_CACHE_DIR"
"""Environment variable that overrides the cache folder."""

FORMAT_VERSION = 1
"""Bumped whenever the way a city is built or stored changes; older entries are then ignored."""

STALE_AFTER_S = 24 * 3600.0
"""Age after which a temporary folder whose writer cannot be checked (one written on another
machine sharing the folder, or named by an older version) counts as left behind."""

_STAGING_PREFIX = ".staging-"
# ``.<anything>.<kind>-<pid>@<host>-<random>``: host names hold neither "@" nor "/", and the
# random tail (uuid hex, or mkdtemp's letters, digits and "_") holds no "-"
_OWNED = re.compile(r"(?:^|\.)(?:partial|staging|old)-(?P<pid>\d+)@(?P<host>[^/@]+?)-[^-@/]+$")
# what versions before the owner tag left: kept until they are STALE_AFTER_S old
_UNOWNED = re.compile(
    r"^\.(?:staging-[a-z0-9_]{8}|.+\.partial-[0-9a-f]{32}|.+\.old-[a-z0-9_]{8}"
    r"|results\.parquet\.partial)$"
)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def owner_tag() -> str:
    """``<pid>@<host>`` of this process, for the name of a temporary file or folder.

    A later start tells from it whether the folder is still being written (its process is alive)
    or was left by a killed one; see :func:`is_stale`.
    """
    return f"{os.getpid()}@{_host()}"


def _process_gone(pid: int, since: float) -> bool:
    """Whether process ``pid`` has ended, or the pid now belongs to a process started after
    ``since`` (the pid was reused, so the one that wrote at ``since`` has ended)."""
    try:
        import psutil  # installed with dask.distributed
    except ImportError:  # pragma: no cover - only without psutil
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # not ours to signal, but alive
            pass
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped
            return True
        # a second of slack: a process's start time is known to the clock tick, not exactly
        return process.create_time() > since + 1.0
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # another user's process we may not inspect: alive, to be safe
        return False


def is_stale(path: Path, *, max_age_s: float = STALE_AFTER_S) -> bool:
    """Whether ``path`` is a temporary file or folder that no live process is writing.

    One named by :func:`owner_tag` on this machine is stale once its process has ended. One
    named on another machine (a folder shared by a cluster), or by an older version without the
    tag, is stale once it has not been modified for ``max_age_s``. Anything else is not a
    temporary folder and never stale.
    """
    path = Path(path)
    try:
        modified = path.lstat().st_mtime
    except FileNotFoundError:
        return False
    owned = _OWNED.search(path.name) if path.name.startswith(".") else None
    if owned is not None:
        pid = int(owned["pid"])
        if owned["host"] == _host():
            return pid != os.getpid() and _process_gone(pid, modified)
    elif not _UNOWNED.match(path.name):
        return False
    return time.time() - modified > max_age_s


def remove_stale(
    folder: Path, *, prefix: str = ".", max_age_s: float = STALE_AFTER_S
) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` (names starting with ``prefix``)
    that killed processes left behind (see :func:`is_stale`); returns what was removed."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(prefix)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        path = Path(folder) / name
        if not is_stale(path, max_age_s=max_age_s):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # another process cleaned it up first
            continue
        except OSError:  # not ours to remove (permissions): harmless where it is
            continue
        removed.append(path)
    return removed


def default_cache_dir() -> Path:
    """The cache folder.

    ``$TWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/citiverse-twin``, else ``~/.cache/citiverse-twin``.
    """
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "citiverse-twin"


def entry_dir(cache_dir: Path, sha256: str) -> Path:
    """The folder holding the city built from a file with this content hash."""
    return cache_dir / f"{sha256[:24]}-{defaults_fingerprint()}-v{FORMAT_VERSION}"


def _hash_in_name(entry: Path) -> str:
    """The source hash prefix that :func:`entry_dir` put in the entry's name."""
    return entry.name.split("-", 1)[0]


def write(entry: Path, network: RoadNetwork, context: CityContext, meta: dict) -> None:
    """Store a built city atomically at ``entry`` (an existing entry is left as it is).

    ``meta`` must hold ``sha256``, the hash of the OSM file the city was built from: a later
    :func:`read` checks the entry against it.
    """
    sha256 = str(meta.get("sha256", ""))
    if not sha256.startswith(_hash_in_name(entry)):
        raise ValueError(
            f"cache entry {entry.name} is for another source than sha256 {sha256!r}: pass the "
            "entry of cities.cache.entry_dir(cache_dir, meta['sha256'])."
        )
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(entry.parent, prefix=_STAGING_PREFIX)
        staging = Path(
            tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{owner_tag()}-", dir=entry.parent)
        )
    except OSError as err:
        raise TwinError(
            f"Cannot write the city cache in {entry.parent} ({err.strerror or err}): set "
            f"${CACHE_DIR_ENV} to a writable folder (`twin city info` also loads without the "
            "cache: --no-cache)."
        ) from None
    try:
        nodes, edges = network.to_geodataframes()
        nodes.to_parquet(staging / "nodes.parquet")
        edges.to_parquet(staging / "edges.parquet")
        context.features.to_parquet(staging / "features.parquet")
        pd.DataFrame({"home": context.home_weight, "work": context.work_weight}).to_parquet(
            staging / "weights.parquet"
        )
        sources = {"home_source": context.home_source, "work_source": context.work_source}
        (staging / "meta.json").write_text(json.dumps({**meta, **sources}, indent=2))
        try:
            staging.rename(entry)
        except OSError:
            if not entry.exists():
                raise
            # another process stored the same city first; its entry is equivalent
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read(entry: Path, sha256: str | None = None) -> tuple[RoadNetwork, CityContext, dict] | None:
    """Load a cached city, or ``None`` if there is no usable entry (a broken one is removed).

    Parameters
    ----------
    entry
        The entry's folder, from :func:`entry_dir`.
    sha256
        The hash of the source file asked for; default: the hash prefix in the entry's name. An
        entry built from another file is broken: it is removed, and ``None`` returned.
    """
    # a build killed before its rename left its staging folder here; this is the next use
    remove_stale(entry.parent, prefix=_STAGING_PREFIX)
    if not (entry / "meta.json").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        built_from = str(meta["sha256"])
        if not (built_from == sha256 if sha256 else built_from.startswith(_hash_in_name(entry))):
            # another city's files under this city's name: as wrong as a damaged entry
            raise ValueError(f"entry built from {built_from}, not {sha256 or entry.name}")
        network = RoadNetwork.from_geodataframes(
            gpd.read_parquet(entry / "nodes.parquet"), gpd.read_parquet(entry / "edges.parquet")
        )
        weights = pd.read_parquet(entry / "weights.parquet")
        context = CityContext(
            home_weight=weights["home"].to_numpy(),
            work_weight=weights["work"].to_numpy(),
            home_source=meta["home_source"],
            work_source=meta["work_source"],
            features=pd.read_parquet(entry / "features.parquet"),
        )
    except Exception:
        shutil.rmtree(entry, ignore_errors=True)
        return None
    return network, context, meta
