"""Saved scenarios and finished runs on disk: what the dashboard shows survives a restart.

Layout of the store folder::

    scenarios/<name>.yaml   named scenarios, the same YAML that ``twin run`` runs
    runs/<key>/             a finished run, written by ``ScenarioRun.write`` (``twin run``'s layout)
    scenarios/<name>.audit.jsonl   the planner's decisions on proposals for that scenario
                            (``twin.decide``, ``twin.read_audit``), beside it
    proposals/<key>/        proposed signal plans (``twin.propose_signals``) or a day's collection
                            routes (``twin.propose_routes``) with their checks: a proposal
                            folder that ``twin.read_proposal`` verifies
    uploads/<hash>/<name>   files uploaded through the dashboard (OSM extracts, a city's
                            collection rounds), one folder per content
    sessions.json           which browser session has which of them open (``DashboardState``)

A run's key hashes the city's content and the scenario's settings without its name and
description: a scenario and seed give the same KPIs, so the same settings are never run twice.
A proposal's key hashes the city and its request: the traffic, seed and method of signal plans;
the day (bins, trucks, seed) and the polish of collection routes.
Runs happen in a background thread and write their files; the page callbacks read them back, with a
small cache because every slider step redraws from the same tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import pandas as pd

from twin import (
    USER_ERRORS,
    RouteProposal,
    Scenario,
    ScenarioRun,
    SignalProposal,
    __version__,
    load_scenario,
    plan_table,
    read_proposal,
    short_repr,
)

__all__ = ["RunStore", "StoreError", "default_store_dir", "scenario_file_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}")


class StoreError(ValueError):
    """A name or run the store cannot use; the message says what to do."""


def default_store_dir() -> Path:
    """``$TWIN_CACHE_DIR/dashboard`` (or ``~/.cache/citiverse-twin/dashboard``)."""
    base = os.environ.get("TWIN_CACHE_DIR") or Path.home() / ".cache" / "citiverse-twin"
    return Path(base) / "dashboard"


MAX_UPLOAD_NAME_BYTES = 120
"""Longest name an upload is kept under (file systems allow 255 bytes; a name is shown, not
read)."""


def upload_file_name(name: str) -> str:
    """The name an uploaded file is kept under: the browser's, without folders, control
    characters (a NUL would fail the write) or a leading dot, cut to
    :data:`MAX_UPLOAD_NAME_BYTES` with its endings (``.osm.pbf``) kept.

    Parameters
    ----------
    name : str
        The name the browser sent.

    Returns
    -------
    str
        A name that is safe to write in one folder.
    """
    cleaned = "".join(c if c.isprintable() else "_" for c in str(name))
    cleaned = cleaned.replace("/", "_").replace("\\", "_").lstrip(".") or "upload"
    if len(cleaned.encode()) <= MAX_UPLOAD_NAME_BYTES:
        return cleaned
    ending = "".join(Path(cleaned).suffixes[-2:])[-20:]
    head = cleaned[: len(cleaned) - len(ending)]
    while len((head + ending).encode()) > MAX_UPLOAD_NAME_BYTES:
        head = head[:-1]
    return head + ending


def scenario_file_name(name: str) -> str:
    """The file a named scenario is saved as; refuses names that could leave the folder."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise StoreError(
            f"Scenario name {short_repr(name)}: use 1–64 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name.replace(" ", "-") + ".yaml"


@lru_cache(maxsize=64)
def _read_table(path: str, mtime: float) -> pd.DataFrame:
    # mtime is part of the key: a run folder replaced on disk is read again
    frame = pd.read_parquet(path)
    if "geometry" in frame.columns:
        return gpd.read_parquet(path)
    return frame


def store_problem(root: str | os.PathLike[str]) -> str | None:
    """Why the dashboard cannot keep its scenarios and runs in the folder ``root`` (``None``:
    it can; the folder is made if missing)."""
    root = Path(root)
    fix = "name a folder you can write (--store)"
    if root.exists() and not root.is_dir():
        return f"store {root}: a file, not a folder: {fix}"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"store {root}: cannot make the folder ({err.strerror or err}): {fix}"
    if not os.access(root, os.W_OK | os.X_OK):
        return f"store {root}: not writable: {fix}"
    return None


class RunStore:
    """Named scenarios and finished runs in one folder (see the module docstring)."""

    FOLDERS: ClassVar[dict[str, str]] = {
        "scenario": "runs",
        "signals": "proposals",
        "routes": "proposals",
    }
    """The folder of each kind of result (:data:`dashboards.worker.TASKS`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        problem = store_problem(self.root)
        if problem is not None:
            raise StoreError(problem)
        for sub in ("scenarios", *self.FOLDERS.values(), "uploads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @classmethod
    def folder(cls, root: str | os.PathLike[str], kind: str) -> Path:
        """Where the store in ``root`` keeps results of ``kind`` (``"scenario"``,
        ``"signals"``, ``"routes"``)."""
        return Path(root) / cls.FOLDERS[kind]

    @staticmethod
    def _key(settings: dict[str, Any]) -> str:
        blob = json.dumps({"version": __version__, **settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @staticmethod
    def _checked(key: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{16}", key or ""):
            raise StoreError(f"not a run key: {short_repr(key)}")
        return key

    # ---------------------------------------------------------------- runs
    @staticmethod
    def run_key(scenario: Scenario, city_sha256: str) -> str:
        """Content key of a run: the city's hash, every setting but name and description, and
        the package version (another version may simulate differently)."""
        settings = scenario.model_dump(mode="json", exclude={"name", "description"})
        return RunStore._key({"city": city_sha256, **settings})

    def run_dir(self, key: str) -> Path:
        return self.folder(self.root, "scenario") / self._checked(key)

    def has_run(self, key: str) -> bool:
        return (self.run_dir(key) / "run.json").is_file()

    def write_run(self, key: str, run: ScenarioRun) -> Path:
        """Write a finished run (atomically: a reader never sees half a folder)."""
        return run.write(self.run_dir(key), overwrite=True)

    def table(self, key: str, name: str) -> pd.DataFrame:
        """A table of a run, e.g. ``"kpis"``, ``"traffic/trips"``, ``"waste/routes"``."""
        path = self.run_dir(key) / f"{name}.parquet"
        if not path.is_file():
            raise StoreError(f"run {key} has no {name} table (was that section run?).")
        return _read_table(str(path), path.stat().st_mtime)

    def kpis(self, key: str) -> pd.DataFrame:
        """``section, kpi, value`` rows, as ``ScenarioRun.kpis``."""
        return self.table(key, "kpis")

    def kpi_dict(self, key: str) -> dict[str, dict[str, Any]]:
        """KPIs by section, as ``ScenarioRun.kpi_dict()``."""
        return json.loads((self.run_dir(key) / "kpis.json").read_text())

    def waste_info(self, key: str) -> dict[str, Any]:
        """The waste run's ``run.json`` (policy, fleet ``n_trucks``, sites, warnings, …)."""
        path = self.run_dir(key) / "waste" / "run.json"
        if not path.is_file():
            raise StoreError(f"run {key} has no waste section (was it run?).")
        return json.loads(path.read_text())

    def run_scenario(self, key: str) -> Scenario:
        """The resolved scenario a run was made from."""
        return load_scenario(self.run_dir(key) / "scenario.yaml")

    def has_section(self, key: str, section: str) -> bool:
        return (self.run_dir(key) / section).is_dir()

    def plan_provenance(self, key: str, section: str) -> dict[str, Any] | None:
        """Who made the plans of a run's ``section`` (``"waste"``, ``"traffic"``): the
        provenance its ``run.json`` records (:meth:`twin.ScenarioRun.run_info`), ``None`` for
        a run written by a version that did not record it."""
        try:
            info = json.loads((self.run_dir(key) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        found = (info.get("plans") or {}).get(section) if isinstance(info, dict) else None
        return found if isinstance(found, dict) else None

    # ---------------------------------------------------------------- proposals
    PROPOSAL_TABLES: ClassVar[tuple[str, ...]] = ("checks", "plans", "current", "edge_delays")
    """A proposal's tables (Parquet files of its folder): the checks at each demand factor,
    the proposed and the current plans (one row per phase, :func:`twin.plan_table`), and the
    delay on every link at the scenario's demand under each."""

    @staticmethod
    def proposal_key(request: dict[str, Any], city_sha256: str) -> str:
        """Content key of a proposal: the city's hash, its request (traffic, seed, method,
        budget; see :func:`dashboards.forms.read_proposal_form`) and the package version."""
        return RunStore._key({"city": city_sha256, "proposal": request})

    def proposal_dir(self, key: str) -> Path:
        return self.folder(self.root, "signals") / self._checked(key)

    def has_proposal(self, key: str) -> bool:
        """Whether the store has a proposal of this key that still verifies (one written by an
        older version, or damaged, is proposed again)."""
        try:
            self.proposal(key)
        except StoreError:
            return False
        return True

    def write_proposal(self, key: str, proposal: SignalProposal) -> Path:
        """Write a proposal folder: the twin's record (``proposal.json``, ``plans.csv`` headed
        by its label and provenance, :meth:`twin.SignalProposal.write_record`, with the
        scenario's ``traffic.signals`` it would set as ``timings``) and its tables
        (:data:`PROPOSAL_TABLES`), atomically (a reader never sees half a folder)."""
        out = self.proposal_dir(key)
        # named as the twin names its staging folders, so that a killed child's is found
        # (dashboards.worker) and nobody reads it as a proposal
        owner = f"{os.getpid()}@{socket.gethostname()}"
        staging = out.with_name(f".{key}.partial-{owner}-{uuid.uuid4().hex}")
        tables = {
            "checks": proposal.checks,
            "plans": proposal.table(),
            "current": plan_table(proposal.city.network, proposal.current),
            "edge_delays": proposal.edge_delays,
        }
        try:
            staging.mkdir()
            for name, table in tables.items():
                table.to_parquet(staging / f"{name}.parquet", index=False)
            # the tables the page draws the plan from are covered by the record's hash too
            names = [f"{name}.parquet" for name in tables]
            proposal.write_record(staging, extra_files=names, timings=proposal.timings())
            if out.exists():  # the same settings, written meanwhile by another session
                shutil.rmtree(out, ignore_errors=True)
            os.replace(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return out

    def write_route_proposal(self, key: str, proposal: RouteProposal) -> Path:
        """Write a proposal of a day's collection routes: the twin's folder
        (:meth:`twin.RouteProposal.write`: ``proposal.json``, ``routes.json``), atomically."""
        return proposal.write(self.proposal_dir(key), overwrite=True)

    def route_stops(self, key: str) -> pd.DataFrame:
        """The stops of a route proposal in driving order (:meth:`twin.RouteProposal.stops`),
        read from its folder once the folder verifies (:meth:`proposal`).

        Raises
        ------
        StoreError
            No such proposal, one that does not verify, or one of signal plans.
        """
        return pd.DataFrame(self._routes(key)["stops"])

    def route_paths(self, key: str) -> dict[str, list[list[float]]]:
        """Each truck's road path (``[lon, lat]`` points) of a route proposal, by truck number
        (:meth:`twin.RouteProposal.paths`), as :meth:`route_stops` reads it."""
        return self._routes(key)["paths"]

    def _routes(self, key: str) -> dict[str, Any]:
        if self.proposal(key).get("kind") != "collection-routes":
            raise StoreError(f"proposal {key} is not one of collection routes.")
        return json.loads((self.proposal_dir(key) / "routes.json").read_text(encoding="utf-8"))

    def proposal(self, key: str) -> dict[str, Any]:
        """A proposal's record (:meth:`write_proposal`), verified by :func:`twin.read_proposal`:
        its provenance holds and its plan file is the one that was checked.

        Raises
        ------
        StoreError
            No such proposal, or one that does not verify (the message says why).
        """
        folder = self.proposal_dir(key)
        if not (folder / "proposal.json").is_file():
            raise StoreError(f"no proposal {key}: propose the plans again.")
        try:
            return read_proposal(folder)
        except USER_ERRORS as err:
            raise StoreError(f"proposal {key}: {err}") from None

    def proposal_table(self, key: str, name: str) -> pd.DataFrame:
        """A table of a proposal (one of :data:`PROPOSAL_TABLES`)."""
        if name not in self.PROPOSAL_TABLES:
            raise StoreError(f"a proposal has no {short_repr(name)} table.")
        path = self.proposal_dir(key) / f"{name}.parquet"
        if not path.is_file():
            raise StoreError(f"no signal-plan proposal {key}: propose the plans again.")
        return _read_table(str(path), path.stat().st_mtime)

    # ---------------------------------------------------------------- uploads
    def save_upload(self, raw: bytes, name: str) -> Path:
        """Keep an uploaded file, in a folder named by its content: two sessions uploading
        files of one name do not replace each other's, and the same file is kept once.

        Parameters
        ----------
        raw : bytes
            The file's content.
        name : str
            The name the browser sent; only its base name is used (the browser's name must
            not choose a folder).

        Returns
        -------
        pathlib.Path
            Where the file is, ``uploads/<hash>/<name>``.
        """
        target = self._kept_path(raw, name)
        target.parent.mkdir(exist_ok=True)
        # whole or not at all: a server stopped mid-write leaves no file that reads as kept
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
        try:
            staging.write_bytes(raw)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
        return target

    def holds_upload(self, raw: bytes, name: str) -> bool:
        """Whether :meth:`save_upload` kept these bytes under this name already (for this
        session or another)."""
        return self._kept_path(raw, name).is_file()

    def _kept_path(self, raw: bytes, name: str) -> Path:
        """Where :meth:`save_upload` keeps ``raw`` sent as ``name``: a folder named by the
        content, the file by its base name."""
        digest = hashlib.sha256(raw).hexdigest()[:16]
        return self.root / "uploads" / digest / self._upload_name(name)

    def discard_upload(self, path: Path) -> None:
        """Remove an upload :meth:`save_upload` kept that nobody can use (an extract that opens
        as no city): the same bytes would be refused again, whoever sent them."""
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only if empty

    @staticmethod
    def _upload_name(name: str) -> str:
        return upload_file_name(name)

    def upload_path(self, digest: str, name: str) -> Path:
        """A file :meth:`save_upload` kept, from the folder and name it returned (what a page
        keeps in the browser: the browser names an upload, never a path).

        Parameters
        ----------
        digest : str
            The name of the file's folder (16 hexadecimal digits).
        name : str
            The file's name.

        Returns
        -------
        pathlib.Path
            The file.

        Raises
        ------
        StoreError
            Not such a folder or name, or no such file (any more).
        """
        if not re.fullmatch(r"[0-9a-f]{16}", str(digest or "")):
            raise StoreError(f"not an upload: {short_repr(digest)}")
        path = self.root / "uploads" / digest / self._upload_name(name)
        if not path.is_file():
            raise StoreError(f"the uploaded file {short_repr(name)} is gone: upload it again.")
        return path

    # ---------------------------------------------------------------- named scenarios
    def scenario_path(self, name: str) -> Path:
        """The file a scenario of this name is saved as (its audit log lies beside it,
        :func:`twin.audit_path`)."""
        return self.root / "scenarios" / scenario_file_name(name)

    def save_scenario(self, scenario: Scenario) -> Path:
        """Save under its name (replacing a scenario of the same name).

        Raises
        ------
        StoreError
            The name is refused (:func:`scenario_file_name`), or its file holds a scenario of
            another name ("a b" and "a-b" share ``a-b.yaml``): that one is kept.
        """
        path = self.refuse_shared_file(scenario.name)
        staging = path.with_suffix(".yaml.partial")
        staging.write_text(scenario.to_yaml(), encoding="utf-8")
        staging.replace(path)
        return path

    def scenario_names(self) -> list[str]:
        """Saved scenario names, alphabetically."""
        return list(self.scenario_cities())

    def scenario_cities(self) -> dict[str, str]:
        """The city (name, or its file's path) of every saved scenario, by name."""
        cities = {}
        for path in sorted((self.root / "scenarios").glob("*.yaml")):
            try:
                scenario = load_scenario(path)
            except Exception:
                continue
            cities[scenario.name] = scenario.city
        return dict(sorted(cities.items()))

    def refuse_shared_file(self, name: str) -> Path:
        """The file a scenario named ``name`` is saved as, unless it holds another name's.

        Raises
        ------
        StoreError
            The name is refused (:func:`scenario_file_name`), or its file holds a scenario of
            another name ("a b" and "a-b" share ``a-b.yaml``): saving would replace that one.
        """
        path = self.scenario_path(name)
        try:
            holder = load_scenario(path).name.strip() if path.is_file() else None
        except Exception:  # not a scenario any more: nothing of another name to lose
            holder = None
        if holder not in (None, name.strip()):
            raise StoreError(
                f"Scenario name {short_repr(name)} is saved as {path.name}, which holds the "
                f"scenario {short_repr(holder)} (a space and a '-' give the same file): give "
                "this scenario another name."
            )
        return path

    def load_named(self, name: str) -> Scenario:
        path = self.root / "scenarios" / scenario_file_name(name)
        if not path.is_file():
            raise StoreError(f"No saved scenario named {short_repr(name)}.")
        scenario = load_scenario(path)
        if scenario.name.strip() != name.strip():
            # its file is another name's (a space and a '-' give the same file)
            raise StoreError(
                f"No saved scenario named {short_repr(name)} ({path.name} holds "
                f"{short_repr(scenario.name)})."
            )
        return scenario

    def delete_scenario(self, name: str) -> None:
        (self.root / "scenarios" / scenario_file_name(name)).unlink(missing_ok=True)
