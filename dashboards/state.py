"""What the dashboard holds in memory: the loaded cities, their base maps, the run store.

One :class:`DashboardState` per app, shared by every browser. Each browser session sees one
city: the app's home city until it opens another (an uploaded extract), which switches that
session only. A session is a random id in an HTTP-only cookie (:data:`SESSION_COOKIE`, set on
the first response): the first layout is rendered on the server, and it must know the session's
city before any callback runs. Callbacks read the state's city when they run, so the city they
see is their session's. Background runs execute in a thread of this process
(:mod:`dashboards.jobs`) and read their session from Dash's callback context. Which session
opened which city file is kept in the store (``sessions.json``), so a restarted dashboard shows
a returning browser the city it had open.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dashboards.basemap import Basemap
from dashboards.logic import default_draft
from dashboards.store import RunStore
from twin import City, Twin, least_greens, peak_hour_demand, signal_plans, waste_layout

__all__ = [
    "SESSION_COOKIE",
    "DashboardState",
    "SignalInfo",
    "Sites",
    "UploadLimits",
    "current_session",
]

SESSION_COOKIE = "twin_session"
"""Cookie holding a browser session's id (see the module docstring)."""

_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("session", default=None)


def current_session() -> str | None:
    """The session a callback or layout serves.

    Set explicitly with :meth:`DashboardState.session`; else the session cookie of Dash's
    callback context (also inside a background job, whose context Dash copies from the request
    that started it), else of the Flask request (the layout); ``None`` outside any request.

    Returns
    -------
    str or None
        The session id.
    """
    explicit = _SESSION.get()
    if explicit is not None:
        return explicit
    try:
        from dash import callback_context

        found = callback_context.cookies.get(SESSION_COOKIE)
    except Exception:  # not inside a callback: Dash raises its own missing-context error
        found = None
    if found:
        return found
    import flask

    if flask.has_request_context():
        # the first request of a browser has no cookie yet: the app's hook made one
        return flask.request.cookies.get(SESSION_COOKIE) or flask.g.get("new_session")
    return None


@dataclass(frozen=True)
class UploadLimits:
    """Largest accepted uploads, bytes."""

    scenario_bytes: int = 256 * 1024
    osm_bytes: int = 64 * 1024 * 1024
    rounds_bytes: int = 50 * 1024 * 1024
    """A city's rounds: the most the twin reads from a file (``twin.rounds``' limit, which the
    dashboard may not import), since GPS tracks of a few weeks' rounds run to tens of MiB."""


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
    fleet: int = 1
    """The trucks a waste run sizes for these bins when its fleet is not given."""


@dataclass(frozen=True)
class SignalInfo:
    """The twin's default fixed-time plan of one signalized junction.

    Parameters
    ----------
    node : int
        OSM id of the junction.
    greens_s : tuple of float
        Default green time of each phase, seconds (what a scenario's ``greens_s`` replaces).
    approaches : tuple of tuple of int
        Edge positions that have green in each phase (none: a pedestrian phase).
    lost_time_s : float
        Lost time (amber, all-red) after every phase.
    offset_s : float
        Default offset of the cycle.
    least_greens_s : tuple of float
        The shortest green each phase may be given (the time its pedestrians need to cross,
        or a vehicle phase's least green), seconds.
    """

    node: int
    greens_s: tuple[float, ...]
    approaches: tuple[tuple[int, ...], ...]
    lost_time_s: float
    offset_s: float
    least_greens_s: tuple[float, ...]


def default_signal_plans(city: City) -> dict[int, SignalInfo]:
    """Every signalized junction's default plan, by OSM node id.

    Parameters
    ----------
    city : City
        The city.

    Returns
    -------
    dict
        OSM node id to :class:`SignalInfo`; empty when no junction has a plan.
    """
    least = least_greens(city.network)
    return {
        osm_node: SignalInfo(
            node=osm_node,
            greens_s=tuple(float(p.green_s) for p in plan.phases),
            approaches=tuple(tuple(int(e) for e in p.approaches) for p in plan.phases),
            lost_time_s=float(plan.lost_time_s),
            offset_s=float(plan.offset_s),
            least_greens_s=tuple(least[osm_node]),
        )
        for osm_node, plan in signal_plans(city.network).items()
    }


@dataclass(eq=False)
class DashboardState:
    """The app's cities, store and settings (see the module docstring).

    Parameters
    ----------
    home : Twin
        The city every session starts with.
    store : RunStore
        Saved scenarios and finished runs (shared by all sessions: runs are keyed by city).
    draft_overrides : dict
        Overrides of the starting scenario.
    limits : UploadLimits
        Upload size limits.
    max_open_cities : int
        Opened cities (besides the home city) kept in memory with their maps; the least
        recently used beyond that are dropped and loaded again from their file (the city cache
        makes that a second or two) when a session that had one open comes back to it.
    """

    home: Twin
    store: RunStore
    draft_overrides: dict[str, Any] = field(default_factory=dict)
    limits: UploadLimits = field(default_factory=UploadLimits)
    max_open_cities: int = 4
    _twins: OrderedDict[str, Twin] = field(default_factory=OrderedDict, repr=False)
    _paths: dict[str, Path] = field(default_factory=dict, repr=False)
    _cities_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sessions: dict[str, str] = field(default_factory=dict, repr=False)
    _basemaps: dict[str, Basemap] = field(default_factory=dict, repr=False)
    _sites: dict[str, Sites] = field(default_factory=dict, repr=False)
    _figures: dict[tuple, Any] = field(default_factory=dict, repr=False)
    _sites_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    MAX_REMEMBERED_SESSIONS: ClassVar[int] = 1000
    """Sessions whose opened city is remembered across restarts (the most recent)."""

    def __post_init__(self) -> None:
        self._restore_sessions()

    @property
    def _sessions_file(self) -> Path:
        return self.store.root / "sessions.json"

    def _restore_sessions(self) -> None:
        try:
            saved = json.loads(self._sessions_file.read_text(encoding="utf-8"))
            paths = {sha: Path(path) for sha, path in saved["cities"].items()}
            sessions = dict(saved["sessions"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # none yet, or unreadable: every session starts on the home city
        # a city whose file is gone cannot come back; its sessions start on the home city
        self._paths.update({sha: path for sha, path in paths.items() if path.is_file()})
        self._sessions.update(
            {session: sha for session, sha in sessions.items() if sha in self._paths}
        )

    def _save_sessions(self) -> None:
        with self._cities_lock:
            sessions = dict(list(self._sessions.items())[-self.MAX_REMEMBERED_SESSIONS :])
            kept = {
                sha: str(self._paths[sha]) for sha in set(sessions.values()) if sha in self._paths
            }
            sessions = {session: sha for session, sha in sessions.items() if sha in kept}
        staging = self._sessions_file.with_suffix(f".partial-{os.getpid()}-{threading.get_ident()}")
        try:
            staging.write_text(json.dumps({"cities": kept, "sessions": sessions}), encoding="utf-8")
            staging.replace(self._sessions_file)
        except OSError:
            staging.unlink(missing_ok=True)  # the dashboard works on; only a restart forgets

    @property
    def twin(self) -> Twin:
        """The twin of the current session's city (:func:`current_session`)."""
        sha = self._sessions.get(current_session() or "")
        if not sha or sha == self.home.city.source.sha256:
            return self.home
        with self._cities_lock:
            twin = self._twins.get(sha)
            if twin is not None:
                self._twins.move_to_end(sha)
                return twin
        path = self._paths.get(sha)
        if path is None:  # the home city of its day, since replaced by a script
            return self.home
        # dropped to bound memory: load it again from the file the session opened
        return self._keep(Twin.load(path))

    def _keep(self, twin: Twin) -> Twin:
        """Keep an opened city in memory (one per distinct file), dropping the least recently
        used ones and their maps beyond :attr:`max_open_cities`."""
        sha = twin.city.source.sha256
        with self._cities_lock:
            twin = self._twins.setdefault(sha, twin)
            self._twins.move_to_end(sha)
            while len(self._twins) > max(self.max_open_cities, 1):
                dropped, _ = self._twins.popitem(last=False)
                self._basemaps.pop(dropped, None)
                self._sites.pop(dropped, None)
                for key in [key for key in list(self._figures) if key[0] == dropped]:
                    self._figures.pop(key, None)
        return twin

    def open_cities(self) -> list[str]:
        """Content hashes of the opened cities now in memory, least recently used first."""
        with self._cities_lock:
            return list(self._twins)

    @staticmethod
    @contextlib.contextmanager
    def session(session_id: str | None) -> Iterator[None]:
        """Serve ``session_id`` inside the block (scripts, tests, worker threads), whatever
        the request's cookie says.

        Parameters
        ----------
        session_id : str or None
            The session; ``None`` leaves the request's own.
        """
        token = _SESSION.set(session_id)
        try:
            yield
        finally:
            _SESSION.reset(token)

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

    def signal_plan(self, osm_node: int) -> SignalInfo | None:
        """The current city's default plan of a signalized junction (``None``: no plan).

        Parameters
        ----------
        osm_node : int
            OSM id of the junction.

        Returns
        -------
        SignalInfo or None
            Its default plan.
        """
        plans = self.figure(("signal-plans",), lambda: default_signal_plans(self.city))
        return plans.get(int(osm_node))

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

        session = current_session()  # threads start with an empty context

        def work() -> None:
            with self.session(session):
                self.sites()
                for step in then:
                    step()

        thread = threading.Thread(target=work, name="dashboard-warm-up", daemon=True)
        thread.start()
        return thread

    def draft(self) -> dict[str, Any]:
        """A fresh draft scenario for the current city."""
        peak = peak_hour_demand(self.city.context, self.city.network)
        return default_draft(
            self.draft_city(), self.draft_overrides, trips_per_hour=peak.trips_per_hour
        )

    def draft_city(self) -> str:
        """The current city as a draft scenario names it: by name, or by the path of its file."""
        return self.city.name if self._is_registered() else str(self.city.source.path)

    def _is_registered(self) -> bool:
        return self.city.source.registered is not None

    def sites(self) -> Sites:
        """Bins, depot and disposal site as the waste twin places them (no day simulated)."""
        with self._sites_lock:
            return self._place_sites()

    def _place_sites(self) -> Sites:
        if self.city_sha not in self._sites:
            layout = waste_layout(self.city, seed=0)
            bins = layout.bins
            self._sites[self.city_sha] = Sites(
                bin_lon=bins["lon"].to_numpy(),
                bin_lat=bins["lat"].to_numpy(),
                bin_capacity_kg=bins["capacity_kg"].to_numpy(),
                bin_daily_kg=bins["daily_kg"].to_numpy(),
                bin_kind=bins["kind"].to_numpy(),
                depot=layout.depot,
                disposal=layout.disposal,
                depot_source=layout.depot_source,
                disposal_source=layout.disposal_source,
                fleet=layout.fleet,
            )
        return self._sites[self.city_sha]

    def open_city(self, path: str | os.PathLike[str]) -> City:
        """Switch the current session to another city (an OSM file).

        Other sessions keep theirs. Outside any session (a script), the home city changes.

        Parameters
        ----------
        path : str or os.PathLike
            The OSM extract.

        Returns
        -------
        City
            The city now shown.

        Raises
        ------
        twin.errors.TwinError
            The twin's clear errors when the file cannot be loaded as a city.
        """
        twin = Twin.load(Path(path))
        sha = twin.city.source.sha256
        if sha != self.home.city.source.sha256:
            self._paths[sha] = Path(path).resolve()  # found again from any working folder
            twin = self._keep(twin)
        session = current_session()
        if session is None:
            self.home = twin
        else:
            with self._cities_lock:
                self._sessions.pop(session, None)  # most recent last: the ones remembered
                self._sessions[session] = sha
            self._save_sessions()
        return twin.city
