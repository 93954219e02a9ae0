"""What the dashboard holds in memory: the loaded city, its base map, the run store.

One :class:`DashboardState` per app. Callbacks read it when they run, so opening another city
(an uploaded extract) switches every page at once. Background runs execute in a forked child
process that inherits this state as it was when the run started.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dashboards.basemap import Basemap
from dashboards.logic import default_draft
from dashboards.store import RunStore
from twin.api import Twin, run_waste
from twin.city import City

__all__ = ["DashboardState", "Sites", "UploadLimits"]


@dataclass(frozen=True)
class UploadLimits:
    """Largest accepted uploads, bytes."""

    scenario_bytes: int = 256 * 1024
    osm_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Sites:
    """Bins, depot and disposal site of the city's waste model, in longitude/latitude."""

    bin_lon: np.ndarray
    bin_lat: np.ndarray
    bin_capacity_kg: np.ndarray
    bin_daily_kg: np.ndarray
    bin_kind: np.ndarray
    depot: tuple[float, float]
    disposal: tuple[float, float]
    depot_source: str
    disposal_source: str


@dataclass(eq=False)
class DashboardState:
    """The app's city, store and settings (see the module docstring)."""

    twin: Twin
    store: RunStore
    draft_overrides: dict[str, Any] = field(default_factory=dict)
    limits: UploadLimits = field(default_factory=UploadLimits)
    _basemaps: dict[str, Basemap] = field(default_factory=dict, repr=False)
    _sites: dict[str, Sites] = field(default_factory=dict, repr=False)
    _figures: dict[tuple, Any] = field(default_factory=dict, repr=False)
    _sites_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def city(self) -> City:
        return self.twin.city

    @property
    def city_sha(self) -> str:
        return self.city.source.sha256

    @property
    def basemap(self) -> Basemap:
        """The current city's base map, built once per city."""
        if self.city_sha not in self._basemaps:
            self._basemaps[self.city_sha] = Basemap.from_city(self.city)
        return self._basemaps[self.city_sha]

    def figure(self, key: tuple, build: Callable[[], Any]) -> Any:
        """A figure of the current city built once per ``key`` (large maps take a third of a
        second to build and never change); callers must not modify it."""
        full = (self.city_sha, *key)
        if full not in self._figures:
            self._figures[full] = build()
        return self._figures[full]

    def sites_ready(self) -> bool:
        return self.city_sha in self._sites

    def warm_up(self, *then: Callable[[], Any]) -> threading.Thread:
        """Place bins and sites in a background thread, so that the City page has them by
        the time a planner opens it.

        Parameters
        ----------
        *then : callable
            Run after that in the same thread, in order (e.g. building the City map, which
            needs the bins).

        Returns
        -------
        threading.Thread
            The started thread.
        """

        def work() -> None:
            self.sites()
            for step in then:
                step()

        thread = threading.Thread(target=work, name="dashboard-warm-up", daemon=True)
        thread.start()
        return thread

    def draft(self) -> dict[str, Any]:
        """A fresh draft scenario for the current city."""
        city = self.city.name if self._is_registered() else str(self.city.source.path)
        return default_draft(city, self.draft_overrides)

    def _is_registered(self) -> bool:
        return self.city.source.registered is not None

    def sites(self) -> Sites:
        """Bins, depot and disposal site as the waste twin places them.

        The public API places them only inside a waste run, so this runs one day with the
        threshold policy (which plans little on a first day) and keeps where things are; see the
        report's missing-API note (``twin.api.waste_sites``).
        """
        with self._sites_lock:
            return self._place_sites()

    def _place_sites(self) -> Sites:
        if self.city_sha not in self._sites:
            run = run_waste(self.city, days=1, policy="threshold", trucks=1, seed=0)
            bins = run.result.bins
            net = self.city.network
            transformer = net.to_lonlat_transformer()
            lon, lat = transformer.transform(bins["x"].to_numpy(), bins["y"].to_numpy())
            info = run.result.info["sites"]
            depot, disposal = int(info["depot_node"]), int(info["disposal_node"])
            self._sites[self.city_sha] = Sites(
                bin_lon=np.asarray(lon),
                bin_lat=np.asarray(lat),
                bin_capacity_kg=bins["capacity_kg"].to_numpy(),
                bin_daily_kg=bins["daily_kg"].to_numpy(),
                bin_kind=bins["kind"].astype(str).to_numpy(),
                depot=(float(net.node_lon[depot]), float(net.node_lat[depot])),
                disposal=(float(net.node_lon[disposal]), float(net.node_lat[disposal])),
                depot_source=str(info.get("depot_source", "")),
                disposal_source=str(info.get("disposal_source", "")),
            )
        return self._sites[self.city_sha]

    def open_city(self, path: str | os.PathLike[str]) -> City:
        """Switch to another city (an OSM file); raises the twin's clear errors if it cannot
        be loaded."""
        self.twin = Twin.load(Path(path))
        return self.city
