"""On-disk cache of built cities, keyed by the OSM file's content hash.

A cache entry is a folder of Parquet files (nodes, edges as GeoParquet, context features and
weights) plus ``meta.json``. It is written into a temporary folder and renamed into place, so a
crash or a failed build never leaves a half-written entry. An entry that cannot be read back is
deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

from twin.context import CityContext
from twin.errors import TwinError
from twin.network import RoadNetwork
from twin.roads import defaults_fingerprint

__all__ = ["CACHE_DIR_ENV", "FORMAT_VERSION", "default_cache_dir", "entry_dir", "read", "write"]

CACHE_DIR_ENV = "TWIN_CACHE_DIR"
"""Environment variable that overrides the cache folder."""

FORMAT_VERSION = 1
"""Bumped whenever the way a city is built or stored changes; older entries are then ignored."""


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


def write(entry: Path, network: RoadNetwork, context: CityContext, meta: dict) -> None:
    """Store a built city atomically at ``entry`` (an existing entry is left as it is)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
    except OSError as err:
        raise TwinError(
            f"Cannot write the city cache in {entry.parent} ({err.strerror or err}): set "
            f"${CACHE_DIR_ENV} to a writable folder, or load without the cache (--no-cache)."
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


def read(entry: Path) -> tuple[RoadNetwork, CityContext, dict] | None:
    """Load a cached city, or ``None`` if there is no usable entry (a broken one is removed)."""
    if not (entry / "meta.json").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
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
