"""Model cards: what a checkpoint is for, what trained it, how it measured and where it stops.

A card is generated, never written by hand: from the checkpoint's own payload (model settings,
training range, what trained it and for how long) and from the evaluation documents the
benchmark scripts write (``benchmarks/bench_propose.py`` and ``benchmarks/bench_signals.py``
with ``--evaluation-out FILE``: the learned planner against PyVRP, and the signal planner
against Webster's plans and the black-box search, on cities named held out when the checkpoint
never trained on them). Its sections: the model, intended use and users, training data (places
with their content hashes and days, seeds, the OpenStreetMap attribution of real places),
compute (device, wall hours, instances/s), evaluation (the documents' figures, copied), known
limits (the training range's bounds) and its version.

A card lives next to its checkpoint as ``NAME.card.json`` (the card) and ``NAME.card.md`` (the
card in Markdown), both written atomically. The JSON embeds each evaluation document whole, so
that :func:`read_model_card` can generate the card again from the checkpoint and those
documents and compare: a card of another checkpoint, or one edited by hand, is refused with a
message naming the difference and the fix. ``card_version`` is a digest of the card's content.

torch, numpy and the standard library only: training writes the card of every checkpoint it
saves, on an HPC node without the GIS stack.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generative.atomic import write_atomic
from generative.checkpoint import (
    CheckpointError,
    checkpoint_range,
    load_checkpoint,
    read_checkpoint_file,
)
from generative.coverage import FIGURES

__all__ = [
    "CARD_SCHEMA",
    "EVALUATION_SCHEMA",
    "OSM_ATTRIBUTION",
    "ROUTE_KIND",
    "SIGNAL_KIND",
    "ModelCardError",
    "build_model_card",
    "card_paths",
    "card_version",
    "evaluation_document",
    "held_out_places",
    "read_evaluation",
    "read_model_card",
    "render_markdown",
    "reusable_evaluations",
    "summarize",
    "write_evaluation",
    "write_model_card",
]

CARD_SCHEMA = 1
"""Layout of the cards this version writes (and reads)."""

EVALUATION_SCHEMA = 1
"""Layout of the evaluation documents this version writes (and reads)."""

ROUTE_KIND = "route-planner"
"""Kind of the waste-collection route planner's checkpoints (they carry no ``kind`` key)."""

SIGNAL_KIND = "signal-planner"
"""Kind of the signal planner's checkpoints (their ``kind`` key; that of
:mod:`generative.signal_train`, which imports this module, so the name is repeated here)."""

OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"
OSM_LICENCE_URL = "https://www.openstreetmap.org/copyright"

NOT_RECORDED = "not recorded"

ARCHITECTURE = {
    ROUTE_KIND: (
        "attention encoder over the day's bins, its attention biased by the city's travel "
        "times, and an autoregressive decoder that builds truck routes under masks (capacity, "
        "shift, unloads, required bins); many plans sampled, the cheapest kept"
    ),
    SIGNAL_KIND: (
        "attention encoder over a city's signalized junctions (their phases' flows, "
        "saturation flows and limits, and the travel times between junctions) with heads for "
        "each junction's cycle and green splits; one pass for a whole city"
    ),
}

INTENDED_USE = {
    ROUTE_KIND: {
        "use": (
            "Propose a day's waste-collection routes for a city's trucks (`twin propose`, the "
            "waste twin's `learned` planner), alone or as the start PyVRP polishes; every plan "
            "is checked and costed like PyVRP's before it is used."
        ),
        "users": (
            "City planners comparing collection plans in the twin; researchers training, "
            "fine-tuning and measuring learned planners."
        ),
        "not_for": (
            "Dispatching real trucks without a person checking the plan; days outside the "
            "training range (refused, or planned by PyVRP, unless asked to attempt them)."
        ),
    },
    SIGNAL_KIND: {
        "use": (
            "Propose signal timings (cycles, green splits and offsets) for "
            "every signalized junction of a city in one pass (`twin propose-signals --method "
            "learned`), checked in the twin against the current plans at the scenario's demand "
            "and at ±20 % before they are accepted."
        ),
        "users": (
            "Traffic engineers and city planners exploring retiming in the twin; researchers "
            "training and measuring learned signal planners."
        ),
        "not_for": (
            "Programming real signal controllers without an engineer's review; safety timings "
            "(intergreens and least greens come from the plans, not from the model)."
        ),
    },
}

LIMITS = {
    ROUTE_KIND: (
        "Days outside the training range (the bounds here) are refused by default, planned by "
        "PyVRP in the waste twin, or attempted and marked so.",
        "Places unlike those trained on (another street pattern, much longer or shorter "
        "drives) may be planned worse; the evaluation names the held-out cities it was "
        "measured on.",
        "The learned plan alone is usually costlier than PyVRP's with time to search; "
        "polishing it with PyVRP closes most of the gap.",
    ),
    SIGNAL_KIND: (
        "It lowers the Highway Capacity Manual's control delay of each junction from measured "
        "flows: a model of delay, not the twin's simulation; every proposal is checked in the "
        "twin before it is accepted.",
        "Cities with fewer or more signalized junctions, or busier phases, than trained on "
        "(the bounds here) are outside what it has seen; the twin says so when it proposes.",
    ),
}

NO_OFFSET_HEAD = (
    "Offsets are not learned by this checkpoint: a green wave outward from the busiest "
    "junction at free-flow speed."
)


def _offsets_statement(payload: Mapping[str, Any]) -> str:
    """What sets the signal planner's offsets: its trained head, or the green-wave rule."""
    head = payload.get("offset_head")
    if not head:
        return NO_OFFSET_HEAD
    trained = head.get("trained", {})
    pairs = zip(head["features"], head["theta"], strict=True)
    weights = ", ".join(f"{name} {float(w):+.3f}" for name, w in pairs)
    return (
        f"Offsets come from a head of {len(head['theta'])} weights ({weights}) trained in the "
        f"twin ({trained.get('method', 'method not recorded')}) on "
        f"{len(trained.get('scenarios', []))} tuning scenarios, "
        f"{trained.get('simulations', 'an unrecorded number of')} simulations; it starts from "
        "the green wave from the busiest junction and was kept only where it beat it there."
    )


SIGNAL_BOUNDS = {
    "junctions": ("signalized junctions of a city", ""),
    "flow_ratio_sum": ("busiest junction's sum of flow ratios", ""),
}

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelCardError(ValueError):
    """A model card, checkpoint or evaluation document that cannot be used; the message names
    the file and the fix."""


# --- files -------------------------------------------------------------------------------------


def card_paths(checkpoint: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The card's JSON and Markdown files next to ``checkpoint`` (``general.pt``:
    ``general.card.json``, ``general.card.md``)."""
    path = Path(checkpoint)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.card.json"), path.with_name(f"{stem}.card.md")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    """The one text of a JSON value that digests are taken of (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it (tensors and numpy numbers as numbers, tuples as lists,
    non-finite numbers as null), so that a card read back from its file equals a card built."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --- reading the checkpoint --------------------------------------------------------------------


def _load(checkpoint: str | os.PathLike[str]) -> tuple[dict[str, Any], str, str]:
    """The checkpoint's payload, its kind and the sha256 of its file.

    Raises
    ------
    ModelCardError
        A missing, corrupt or foreign file, or one whose metadata is unreadable.
    """
    path = Path(checkpoint)
    try:
        payload = read_checkpoint_file(path)
        if isinstance(payload, dict) and payload.get("kind") == SIGNAL_KIND:
            kind = SIGNAL_KIND
            _check_signal(path, payload)
        elif isinstance(payload, dict) and "kind" in payload:
            raise ModelCardError(
                f"{path}: a checkpoint of kind {payload['kind']!r}; model cards describe the "
                f"{ROUTE_KIND} and the {SIGNAL_KIND} only."
            )
        else:
            # the route planner's own checks (format version, training range)
            payload = load_checkpoint(path)
            kind = ROUTE_KIND
    except CheckpointError as err:
        raise ModelCardError(str(err)) from None
    return payload, kind, _file_sha256(path)


def _check_signal(path: Path, payload: Mapping[str, Any]) -> None:
    """Refuse a signal planner's checkpoint whose metadata a card cannot be made of."""
    try:
        span = payload["training_range"]
        if not isinstance(payload["model_state"], Mapping) or not isinstance(
            payload["model_config"], Mapping
        ):
            raise TypeError("model_state and model_config must be mappings")
        if not all(isinstance(p, str) for p in span["places"]):
            raise TypeError("places must be names")
        for name in SIGNAL_BOUNDS:
            low, high = span[name]
            float(low), float(high)
        int(span["scenarios"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelCardError(
            f"{path}: its training metadata is unreadable ({type(err).__name__}: {err}); the "
            "file was altered or is damaged: train again or take it from the repository."
        ) from None


def _place_kind(name: str) -> tuple[str, str | None]:
    """``city``, ``window`` (of the city named before the ``@``) or ``synthetic``, as the
    corpus names its places."""
    if name.startswith("synthetic"):
        return "synthetic", None
    if "@" in name:
        return "window", name.split("@", 1)[0]
    return "city", None


def _places(payload: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every place trained on: its name, and for the route planner its content hash and days
    (the signal planner's range lists its places' hashes apart, and counts no days by place).
    Whether a place is a city, a window of one or a synthetic town is in its name."""
    if kind == SIGNAL_KIND:
        return [{"name": str(n)} for n in payload["training_range"]["places"]]
    # the first format counted no days
    counted = payload.get("format_version") != 1
    return [
        {"name": str(p.get("name")), "sha256": p.get("sha256"),
         "days": int(p.get("days", 0)) if counted else NOT_RECORDED}
        for p in checkpoint_range(payload).places
    ]  # fmt: skip


Place = Mapping[str, Any]


def _kinds(places: Sequence[Place]) -> tuple[list[Place], dict[str, list[Place]], list[Place]]:
    """The cities (whole), the windows of each city and the synthetic towns among
    ``places``."""
    cities: list[Place] = []
    windows: dict[str, list[Place]] = {}
    towns: list[Place] = []
    for place in places:
        kind, of = _place_kind(place["name"])
        if kind == "city":
            cities.append(place)
        elif kind == "window":
            windows.setdefault(str(of), []).append(place)
        else:
            towns.append(place)
    return cities, windows, towns


def held_out_places(
    checkpoint: str | os.PathLike[str] | Mapping[str, Any],
    places: Iterable[tuple[str, str | None]],
) -> list[str]:
    """Of ``places`` (name, content hash of its map file), those the checkpoint never trained
    on: neither the file itself (by its hash) nor a window cut from it (by its name) is in its
    training range.

    Parameters
    ----------
    checkpoint
        A checkpoint file, or its payload.
    places
        (name, sha256) pairs; a ``None`` hash is matched by name alone.
    """
    if isinstance(checkpoint, Mapping):
        payload = dict(checkpoint)
        kind = SIGNAL_KIND if payload.get("kind") == SIGNAL_KIND else ROUTE_KIND
    else:
        payload, kind, _ = _load(checkpoint)
    trained = _places(payload, kind)
    names = {p["name"] for p in trained} | {p["name"].split("@", 1)[0] for p in trained}
    if kind == SIGNAL_KIND:
        hashes = set(payload["training_range"].get("place_hashes", []))
    else:
        hashes = {p["sha256"] for p in trained}
    held = []
    for name, sha in places:
        if name not in names and (sha is None or sha not in hashes) and name not in held:
            held.append(name)
    return held


# --- the card ----------------------------------------------------------------------------------


Evaluation = Mapping[str, Any] | str | os.PathLike[str]
"""An evaluation document, or the file that holds one."""


def build_model_card(
    checkpoint: str | os.PathLike[str], *, evaluations: Sequence[Evaluation] = ()
) -> dict[str, Any]:
    """The card of ``checkpoint``, generated from its payload and ``evaluations``.

    Parameters
    ----------
    checkpoint
        A route planner's or a signal planner's checkpoint file.
    evaluations
        Evaluation documents of this checkpoint (:func:`evaluation_document`), or their files;
        embedded whole, their figures copied into the card.

    Returns
    -------
    dict
        The card, ready for JSON: ``card_version``, ``card_schema``, ``checkpoint_sha256``,
        ``model``, ``intended_use``, ``training_data``, ``compute``, ``evaluation``,
        ``known_limits``, ``generated_from``.

    Raises
    ------
    ModelCardError
        An unusable checkpoint, or an evaluation document of another checkpoint or kind, or
        one that calls held out a city the checkpoint trained on.
    """
    payload, kind, sha = _load(checkpoint)
    return _build(Path(checkpoint), payload, kind, sha, evaluations)


def _build(
    checkpoint: Path,
    payload: Mapping[str, Any],
    kind: str,
    sha: str,
    evaluations: Sequence[Evaluation],
) -> dict[str, Any]:
    """The card of a checkpoint already read (:func:`_load`)."""
    card: dict[str, Any] = {
        "card_schema": CARD_SCHEMA,
        "checkpoint_sha256": sha,
        "model": _model(payload, kind),
        "intended_use": dict(INTENDED_USE[kind]),
        "training_data": _training_data(payload, kind),
        "compute": _compute(payload, kind),
        "evaluation": _evaluation(payload, kind, sha, evaluations, checkpoint),
        "known_limits": _limits(payload, kind),
        "generated_from": (
            "the checkpoint's own metadata and the evaluation documents embedded in this card, "
            "by generative.model_card (`twin model-card CHECKPOINT --write`); not written by "
            "hand"
        ),
    }
    card = _plain(card)
    return {"card_version": _version_of(card), **card}


def _version_of(card: Mapping[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the card's canonical JSON, its version left out."""
    return _digest({k: v for k, v in card.items() if k != "card_version"})[:16]


def _model(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    state = payload.get("model_state", {})
    numbers = sum(int(t.numel()) for t in state.values() if isinstance(t, torch.Tensor))
    return {
        "kind": kind,
        "architecture": ARCHITECTURE[kind],
        "config": payload.get("model_config", {}),
        "parameters": numbers,
        "train_config": payload.get("train_config", NOT_RECORDED),
        "step": payload.get("step", NOT_RECORDED),
        "checkpoint_format": payload.get("format_version"),
    }


def _training_data(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    places = _places(payload, kind)
    cities, windows, towns = _kinds(places)
    real = sorted({p["name"] for p in cities} | set(windows))
    groups: list[dict[str, Any]] = [{"kind": "city", **place} for place in cities]
    for city in sorted(windows):
        groups.append({"kind": "windows", "of": city, "count": len(windows[city]),
                       **_days_of(windows[city])})  # fmt: skip
    if towns:
        groups.append({"kind": "synthetic towns", "count": len(towns), **_days_of(towns)})
    seeds: dict[str, Any] = {
        "this run": (payload.get("train_config") or {}).get("seed", NOT_RECORDED)
    }
    lineage = payload.get("lineage") or []
    if lineage:
        seeds["earlier runs"] = f"{NOT_RECORDED} ({len(lineage)} runs before this one)"
    data: dict[str, Any] = {
        "places": places,
        "groups": groups,
        "seeds": seeds,
        "map_data": {
            "attribution": OSM_ATTRIBUTION if real else None,
            "licence_url": OSM_LICENCE_URL if real else None,
            "places": real,
            "synthetic": (
                f"{len(towns)} synthetic towns, generated street grids (no map data)"
                if towns else None
            ),
        },
    }  # fmt: skip
    if kind == SIGNAL_KIND:
        span = payload["training_range"]
        data["scenarios"] = int(span["scenarios"])
        data["content_hashes"] = sorted(span.get("place_hashes", []))
        data["data_fingerprint"] = NOT_RECORDED
        # the run's own words on its corpus and held-out city, where the trainer wrote them
        extra = payload.get("trained_on") or {}
        data["notes"] = [f"{k.replace('_', ' ')}: {extra[k]}" for k in ("corpus", "held_out")
                         if k in extra]  # fmt: skip
    else:
        trained = checkpoint_range(payload)
        data["days"] = int(trained.days) if payload.get("format_version") != 1 else NOT_RECORDED
        data["data_fingerprint"] = payload.get("data_fingerprint", NOT_RECORDED)
        data["notes"] = list(trained.notes)
    return data


def _days_of(places: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if all(isinstance(p.get("days"), int) for p in places):
        return {"days": sum(int(p["days"]) for p in places)}
    return {}


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _hours(seconds: Any) -> float | str:
    try:
        return round(float(seconds) / 3600.0, 4)
    except (TypeError, ValueError):
        return NOT_RECORDED


def _compute(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    hardware = dict(payload.get("trained_on") or {})
    device = str(hardware.get("device", NOT_RECORDED))
    on_cpu = None if device.startswith(NOT_RECORDED) else device.split(":")[0] == "cpu"
    processes = hardware.get("processes", NOT_RECORDED)
    counted = _count(processes, "process", "processes") if isinstance(processes, int) else None
    where = ", ".join(str(v) for v in (hardware.get("name"), counted) if v)
    if on_cpu is None:
        statement = "device not recorded (a checkpoint of the first format)"
    elif on_cpu:
        statement = f"trained on the CPU ({where}), not on a GPU" if where else (
            "trained on the CPU, not on a GPU")  # fmt: skip
    else:
        statement = f"trained on {device} ({where})" if where else f"trained on {device}"
    seconds = payload.get("elapsed_s")
    steps = payload.get("step")
    rate: float | str = NOT_RECORDED
    basis = "the checkpoint does not record how many instances it trained on"
    config = payload.get("train_config") or {}
    if kind == SIGNAL_KIND and steps and seconds and "batch_size" in config:
        count = int(steps) * int(config["batch_size"])
        rate = round(count / float(seconds), 3)
        basis = (f"{steps} steps × {config['batch_size']} scenarios over {float(seconds):.0f} s "
                 "of wall time, validation and checkpoints included")  # fmt: skip
    elif kind == ROUTE_KIND and payload.get("instances") and seconds:
        rate = round(int(payload["instances"]) / float(seconds), 3)
        basis = (f"{int(payload['instances'])} training days over {float(seconds):.0f} s of "
                 "wall time, validation and checkpoints included")  # fmt: skip
    earlier = [
        {"device": str((run.get("trained_on") or {}).get("device", NOT_RECORDED)),
         "processes": (run.get("trained_on") or {}).get("processes", NOT_RECORDED),
         "steps": run.get("step", run.get("steps", NOT_RECORDED)),
         "wall_hours": _hours(run.get("elapsed_s"))}
        for run in payload.get("lineage") or []
    ]  # fmt: skip
    hours = [_hours(seconds), *(run["wall_hours"] for run in earlier)]
    recorded = [h for h in hours if isinstance(h, float)]
    return {
        "device": device,
        "device_name": hardware.get("name", NOT_RECORDED),
        "processes": processes,
        "torch": hardware.get("torch", NOT_RECORDED),
        "on_cpu": on_cpu,
        "statement": statement,
        "note": hardware.get("note"),
        "steps": steps if steps is not None else NOT_RECORDED,
        "wall_hours": _hours(seconds),
        "instances_per_s": rate,
        "instances_per_s_basis": basis,
        "earlier_runs": earlier,
        "total_wall_hours": round(sum(recorded), 4) if recorded else NOT_RECORDED,
    }


def _limits(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    bounds = []
    if kind == SIGNAL_KIND:
        span = payload["training_range"]
        for name, (label, unit) in SIGNAL_BOUNDS.items():
            low, high = span[name]
            bounds.append({"figure": name, "label": label, "low": float(low),
                           "high": float(high), "unit": unit.strip()})  # fmt: skip
        places = _places(payload, kind)
        only_places, notes = False, []
    else:
        trained = checkpoint_range(payload)
        for name, (label, unit) in FIGURES.items():
            if name in trained.bounds:
                low, high = trained.bounds[name]
                bounds.append({"figure": name, "label": label, "low": float(low),
                               "high": float(high), "unit": unit.strip()})  # fmt: skip
        places = _places(payload, kind)
        only_places, notes = trained.only_places, list(trained.notes)
    whole, windows, towns = _kinds(places)
    cities = sorted({p["name"] for p in whole} | set(windows))
    reach = f"trained on {_count(len(places), 'place')}: {', '.join(cities) or 'no real city'}"
    if windows:
        reach += f" ({_count(sum(map(len, windows.values())), 'window')} cut from them)"
    if towns:
        reach += f", and {_count(len(towns), 'synthetic town')}"
    if only_places:
        reach += "; days of any other place are outside its range"
    return {
        "bounds": bounds,
        "places": reach,
        "only_places": only_places,
        "statements": list(LIMITS[kind])
        + ([_offsets_statement(payload)] if kind == SIGNAL_KIND else []),
        "notes": notes,
    }


# --- evaluation documents ----------------------------------------------------------------------

RESULT_KEYS = ("city", "metric", "mean", "standard_error", "n")
"""What every result row of an evaluation document holds (more keys say its conditions)."""


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """Mean, standard error of the mean (``None`` for fewer than two values) and count."""
    array = np.asarray(list(values), dtype=np.float64)
    if not array.size:
        raise ValueError("no values to summarize")
    error = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else None
    return {"mean": float(array.mean()), "standard_error": error, "n": int(array.size)}


def evaluation_document(
    *,
    checkpoint: str | os.PathLike[str],
    command: str,
    results: Sequence[Mapping[str, Any]],
    benchmark: str,
) -> dict[str, Any]:
    """An evaluation document of ``checkpoint``: its sha256 and kind, the command that
    measured it, the cities of ``results`` it never trained on, and the results.

    Parameters
    ----------
    checkpoint
        The checkpoint measured.
    command
        The command line that measured it (to run again).
    results
        One row per city, size, method and metric: ``city``, ``city_sha256`` (of its map file;
        decides whether it is held out), ``metric``, ``unit``, ``mean``, ``standard_error``,
        ``n`` and ``n_of`` (days or seeds), and the row's conditions (size, method, …).
    benchmark
        The script that measured it.

    Raises
    ------
    ModelCardError
        An unusable checkpoint, or malformed results.
    """
    payload, kind, sha = _load(checkpoint)
    cities = {str(r.get("city")): r.get("city_sha256") for r in results}
    document = _plain({
        "evaluation_schema": EVALUATION_SCHEMA,
        "kind": kind,
        "checkpoint_sha256": sha,
        "benchmark": benchmark,
        "command": command,
        "held_out": held_out_places(payload, cities.items()),
        "results": [dict(r) for r in results],
    })  # fmt: skip
    _check_document(document, "the evaluation")
    return document


def write_evaluation(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write an evaluation document as JSON, atomically."""
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return write_atomic(path, lambda staging: Path(staging).write_text(text, encoding="utf-8"))


def read_evaluation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An evaluation document from its file, checked for its layout (not yet against a
    checkpoint: :func:`build_model_card` does that).

    Raises
    ------
    ModelCardError
        A missing or unreadable file, or not an evaluation document.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelCardError(f"{path}: no such evaluation document.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelCardError(
            f"{path}: not a readable evaluation document ({err}); write one with a benchmark's "
            "--evaluation-out FILE."
        ) from None
    _check_document(document, str(path))
    return document


def _check_document(document: Any, where: str) -> None:
    fix = "write it again with the benchmark's --evaluation-out FILE"
    if not isinstance(document, dict):
        raise ModelCardError(f"{where}: not an evaluation document (a JSON object): {fix}.")
    if document.get("evaluation_schema") != EVALUATION_SCHEMA:
        raise ModelCardError(
            f"{where}: evaluation document layout {document.get('evaluation_schema')!r}, this "
            f"version reads {EVALUATION_SCHEMA}: {fix}."
        )
    if document.get("kind") not in (ROUTE_KIND, SIGNAL_KIND):
        raise ModelCardError(f"{where}: unknown kind {document.get('kind')!r}: {fix}.")
    if not SHA256.match(str(document.get("checkpoint_sha256"))):
        raise ModelCardError(f"{where}: no checkpoint_sha256 (64 hex digits): {fix}.")
    if not isinstance(document.get("command"), str) or not isinstance(
        document.get("held_out"), list
    ):
        raise ModelCardError(f"{where}: no command or held_out list: {fix}.")
    results = document.get("results")
    if not isinstance(results, list) or not results:
        raise ModelCardError(f"{where}: no results: {fix}.")
    for n, row in enumerate(results):
        missing = [k for k in RESULT_KEYS if not isinstance(row, dict) or k not in row]
        error = row.get("standard_error") if isinstance(row, dict) else None
        if (
            missing
            or not isinstance(row["mean"], int | float)
            or not (error is None or isinstance(error, int | float))
            or not isinstance(row["n"], int)
            or row["n"] < 1
        ):
            what = (
                f"lacks {', '.join(missing)}"
                if missing
                else "has a mean, error or n that is no number"
            )
            raise ModelCardError(f"{where}: result {n} {what}: {fix}.")


def _evaluation(
    payload: Mapping[str, Any],
    kind: str,
    sha: str,
    documents: Sequence[Evaluation],
    checkpoint: Path,
) -> dict[str, Any]:
    if not documents:
        return {
            "status": "not evaluated",
            "note": (
                "no evaluation document: measure the checkpoint with benchmarks/bench_propose.py"
                " or benchmarks/bench_signals.py --evaluation-out FILE, then `twin model-card "
                "CHECKPOINT --evaluation FILE --write`"
            ),
            "documents": [],
            "held_out": [],
            "results": [],
        }
    embedded, rows, held = [], [], []
    for n, given in enumerate(documents):
        if isinstance(given, Mapping):
            document, where = _plain(given), f"evaluation document {n + 1}"
            _check_document(document, where)
        else:
            document, where = read_evaluation(given), f"evaluation document {given}"
        if document["kind"] != kind:
            raise ModelCardError(
                f"{where} measured a {document['kind']}, {checkpoint} is a {kind}: give the "
                "evaluation of this checkpoint."
            )
        if document["checkpoint_sha256"] != sha:
            raise ModelCardError(
                f"{where} measured another checkpoint (sha256 {document['checkpoint_sha256'][:12]}"
                f"…), not {checkpoint} ({sha[:12]}…): measure this checkpoint with the "
                f"benchmark ({document.get('benchmark', 'its script')} --evaluation-out FILE)."
            )
        cities = {str(r["city"]): r.get("city_sha256") for r in document["results"]}
        truly = held_out_places(payload, cities.items())
        wrong = [c for c in document["held_out"] if c not in truly]
        if wrong:
            raise ModelCardError(
                f"{where} calls {', '.join(map(str, wrong))} held out, but the checkpoint was "
                "trained on it: the document is not of this checkpoint's training, or was "
                "edited; measure again."
            )
        embedded.append({"sha256": _digest(document), "document": document})
        for row in document["results"]:
            rows.append({**row, "held_out": str(row["city"]) in truly, "document": n})
        held += [c for c in truly if c not in held]
    return {"status": "evaluated", "documents": embedded, "held_out": held, "results": rows}


# --- writing, reading and checking cards -------------------------------------------------------


def write_model_card(
    checkpoint: str | os.PathLike[str], *, evaluations: Sequence[Evaluation] = ()
) -> tuple[Path, Path]:
    """Generate the card of ``checkpoint`` and write ``NAME.card.json`` and ``NAME.card.md``
    next to it, each atomically (the card is built whole before either file is touched).

    Returns
    -------
    tuple of Path
        The JSON and the Markdown file.

    Raises
    ------
    ModelCardError
        As :func:`build_model_card`.
    """
    card = build_model_card(checkpoint, evaluations=evaluations)
    text = _card_text(card)
    markdown = render_markdown(card)
    json_path, md_path = card_paths(checkpoint)
    # the Markdown first: the JSON is the card that is checked, and it lands last
    write_atomic(md_path, lambda staging: Path(staging).write_text(markdown, encoding="utf-8"))
    write_atomic(json_path, lambda staging: Path(staging).write_text(text, encoding="utf-8"))
    return json_path, md_path


def _card_text(card: Mapping[str, Any]) -> str:
    """The card's JSON, indented, with each training place on one line (a checkpoint of many
    places lists a thousand and more)."""
    places = card["training_data"]["places"]
    marks = [f"\u0001place {n}\u0001" for n in range(len(places))]
    shown = {**card, "training_data": {**card["training_data"], "places": marks}}
    text = json.dumps(shown, indent=1, ensure_ascii=False, allow_nan=False)
    for mark, place in zip(marks, places, strict=True):
        text = text.replace(json.dumps(mark), json.dumps(place, ensure_ascii=False), 1)
    return text + "\n"


def read_model_card(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The card of ``checkpoint``: its ``NAME.card.json``, checked against the checkpoint, or,
    where none lies next to it, one generated now (not evaluated).

    Raises
    ------
    ModelCardError
        An unusable checkpoint; a card of another checkpoint (foreign); a card whose content
        differs from the one its checkpoint and embedded evaluations give, or whose version
        does not match its content (edited by hand); an unreadable card file.
    """
    path = Path(checkpoint)
    json_path, _ = card_paths(path)
    if not json_path.is_file():
        return build_model_card(path)
    fix = f"regenerate it with `twin model-card {path} --write`"
    try:
        card = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelCardError(f"{json_path}: not a readable model card ({err}); {fix}.") from None
    if not isinstance(card, dict) or card.get("card_schema") != CARD_SCHEMA:
        schema = card.get("card_schema") if isinstance(card, dict) else None
        raise ModelCardError(
            f"{json_path}: not a model card of layout {CARD_SCHEMA} (got {schema!r}); {fix}."
        )
    payload, kind, sha = _load(path)
    if card.get("checkpoint_sha256") != sha:
        raise ModelCardError(
            f"{json_path}: foreign card: it describes another checkpoint (sha256 "
            f"{str(card.get('checkpoint_sha256'))[:12]}…, this one's is {sha[:12]}…); {fix}."
        )
    documents = _embedded(card, json_path, fix)
    for n, entry in enumerate(card["evaluation"]["documents"]):
        if _digest(entry["document"]) != entry.get("sha256"):
            raise ModelCardError(
                f"{json_path}: edited by hand: field evaluation.documents[{n}].document differs "
                f"from the evaluation document it was made from (sha256 "
                f"{str(entry.get('sha256'))[:12]}…); a card is generated, not edited: {fix}."
            )
    expected = _build(path, payload, kind, sha, documents)
    # what the card says first, its version (a digest of what it says) after
    differences = _differences(
        {k: v for k, v in card.items() if k != "card_version"},
        {k: v for k, v in expected.items() if k != "card_version"},
    ) or _differences({"card_version": card.get("card_version")},
                      {"card_version": expected["card_version"]})  # fmt: skip
    if differences:
        shown = "; ".join(differences[:3])
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise ModelCardError(
            f"{json_path}: edited by hand: {shown}{more}; a card is generated, not edited (or "
            f"it was generated by another version of the package): {fix}."
        )
    _check_markdown(card, card_paths(path)[1], fix)
    return card


def _check_markdown(card: Mapping[str, Any], md_path: Path, fix: str) -> None:
    """Refuse a ``NAME.card.md`` that is not the Markdown of its card: the file a reader of
    the repository opens says what the checked card says (the twin itself shows the Markdown
    of the JSON). A card without its Markdown file is no misstatement, and passes."""
    try:
        written = md_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as err:
        raise ModelCardError(f"{md_path}: not a readable model card ({err}); {fix}.") from None
    expected = render_markdown(card)
    if written == expected:
        return
    lines, wanted = written.splitlines(), expected.splitlines()
    line = next(
        (n for n, (a, b) in enumerate(zip(lines, wanted, strict=False)) if a != b),
        min(len(lines), len(wanted)),
    )
    found = lines[line] if line < len(lines) else "(the end of the file)"
    raise ModelCardError(
        f"{md_path}: edited by hand: line {line + 1} ({_quoted(found)}) is not what the card "
        f"in {md_path.with_suffix('.json').name} says; the Markdown is generated from the card, "
        f"not edited: {fix}."
    )


def _quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _embedded(card: Mapping[str, Any], json_path: Path, fix: str) -> list[dict[str, Any]]:
    """The evaluation documents a card carries, for generating it again."""
    evaluation = card.get("evaluation")
    entries = evaluation.get("documents") if isinstance(evaluation, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("document"), dict) for e in entries
    ):
        raise ModelCardError(f"{json_path}: edited by hand: field evaluation.documents is "
                             f"malformed; {fix}.")  # fmt: skip
    return [e["document"] for e in entries]


def _differences(found: Any, expected: Any, where: str = "") -> list[str]:
    """The fields where ``found`` differs from ``expected``, in words (dotted paths)."""
    if isinstance(found, dict) and isinstance(expected, dict):
        out = []
        for key in [*expected, *(k for k in found if k not in expected)]:
            path = f"{where}.{key}" if where else str(key)
            if key not in found:
                out.append(f"field {path} is missing")
            elif key not in expected:
                out.append(f"field {path} is not one a card has")
            else:
                out += _differences(found[key], expected[key], path)
        return out
    if isinstance(found, list) and isinstance(expected, list):
        if len(found) != len(expected):
            return [f"field {where} holds {len(found)} entries, the checkpoint gives "
                    f"{len(expected)}"]  # fmt: skip
        out = []
        for n, (a, b) in enumerate(zip(found, expected, strict=True)):
            out += _differences(a, b, f"{where}[{n}]")
        return out
    if _canonical(found) != _canonical(expected):
        return [f"field {where} differs (card: {_short(found)}, the checkpoint and its "
                f"evaluation give {_short(expected)})"]  # fmt: skip
    return []


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_version(checkpoint: str | os.PathLike[str]) -> str:
    """The version of ``checkpoint``'s card (:func:`read_model_card`, so checked).

    Raises
    ------
    ModelCardError
        As :func:`read_model_card`.
    """
    return str(read_model_card(checkpoint)["card_version"])


def reusable_evaluations(
    checkpoint: str | os.PathLike[str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The evaluation documents of the card next to ``checkpoint`` that still hold for it
    (intact, and of this very checkpoint), and why the others were dropped: what a card written
    again without a new evaluation keeps.

    Raises
    ------
    ModelCardError
        An unusable checkpoint.
    """
    json_path, _ = card_paths(checkpoint)
    if not json_path.is_file():
        return [], []
    try:
        card = json.loads(json_path.read_text(encoding="utf-8"))
        entries = card["evaluation"]["documents"]
        if not isinstance(entries, list):
            raise TypeError("documents is no list")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return [], [f"{json_path} is unreadable: its evaluation is not kept"]
    sha = _load(checkpoint)[2]
    kept, dropped = [], []
    for n, entry in enumerate(entries):
        document = entry.get("document") if isinstance(entry, dict) else None
        if not isinstance(document, dict):
            dropped.append(f"evaluation {n + 1} is malformed")
        elif _digest(document) != entry.get("sha256"):
            dropped.append(f"evaluation {n + 1} was edited (its sha256 no longer matches)")
        elif document.get("checkpoint_sha256") != sha:
            dropped.append(f"evaluation {n + 1} measured another checkpoint (the file changed)")
        else:
            kept.append(document)
    return kept, dropped


# --- Markdown ----------------------------------------------------------------------------------


def _figure(value: Any) -> str:
    """A figure as a reader takes it in (the JSON card keeps every digit)."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card in Markdown, every figure from the card itself."""
    model, data, compute = card["model"], card["training_data"], card["compute"]
    use, evaluation, limits = card["intended_use"], card["evaluation"], card["known_limits"]
    title = {ROUTE_KIND: "waste-collection route planner", SIGNAL_KIND: "signal planner"}
    lines = [
        f"# Model card: {title.get(model['kind'], model['kind'])}",
        "",
        f"Card version `{card['card_version']}` (layout {card['card_schema']}) of the checkpoint "
        f"with sha256 `{card['checkpoint_sha256']}`. Generated from {card['generated_from']}.",
        "",
        "## Model",
        "",
        f"- Kind: {model['kind']}",
        f"- Architecture: {model['architecture']}",
        f"- Settings: {_pairs(model['config'])}",
        f"- Numbers in its state: {model['parameters']:,}",
        f"- Training step: {_figure(model['step'])}; checkpoint format "
        f"{model['checkpoint_format']}",
        f"- Training settings: {_pairs(model['train_config'])}",
        "",
        "## Intended use and users",
        "",
        f"- Use: {use['use']}",
        f"- Users: {use['users']}",
        f"- Not for: {use['not_for']}",
        "",
        "## Training data",
        "",
    ]
    route = "days" in data
    places = _count(len(data["places"]), "place")
    if not route:
        lines += [f"{data['scenarios']:,} scenarios of {places}:", ""]
    elif isinstance(data["days"], int):
        lines += [f"{data['days']:,} days of {places}:", ""]
    else:
        lines += [f"{places} (days {data['days']}):", ""]
    if route:
        lines += ["| place | content sha256 | days |", "|---|---|---:|"]
    else:
        lines += ["| place |", "|---|"]
    for group in data["groups"]:
        if group["kind"] == "city":
            cells = [_cell(group["name"]), f"`{group.get('sha256')}`", _figure(group.get("days"))]
        elif group["kind"] == "windows":
            cells = [f"{_count(group['count'], 'window')} of {_cell(group['of'])}",
                     "each in the JSON card", _figure(group.get("days"))]  # fmt: skip
        else:
            cells = [_count(group["count"], "synthetic town"), "each in the JSON card",
                     _figure(group.get("days"))]  # fmt: skip
        lines.append(f"| {' | '.join(cells if route else cells[:1])} |")
    lines.append("")
    if data.get("content_hashes"):
        lines.append(f"- Content hashes of the places' files: {len(data['content_hashes'])}, "
                     "listed in the JSON card")  # fmt: skip
    lines.append(f"- Data fingerprint: `{data['data_fingerprint']}`")
    lines.append(f"- Seeds: {_pairs(data['seeds'])}")
    maps = data["map_data"]
    if maps["attribution"]:
        lines.append(f"- Map data of {', '.join(maps['places'])}: {maps['attribution']} "
                     f"({maps['licence_url']})")  # fmt: skip
    if maps["synthetic"]:
        lines.append(f"- Synthetic places: {maps['synthetic']}")
    lines += [f"- Note: {note}" for note in data["notes"]]
    lines += [
        "",
        "## Compute",
        "",
        f"- {compute['statement'][0].upper()}{compute['statement'][1:]}",
    ]
    if compute.get("note"):
        lines.append(f"- Note: {compute['note']}")
    lines += [
        f"- Steps: {_figure(compute['steps'])}; wall time {_figure(compute['wall_hours'])} h "
        f"(torch {compute['torch']})",
        f"- Instances/s: {_figure(compute['instances_per_s'])} "
        f"({compute['instances_per_s_basis']})",
    ]
    if compute["earlier_runs"]:
        lines.append("- Earlier runs it grew from: " + "; ".join(
            f"{_figure(r['steps'])} steps on "
            f"{'a device ' if str(r['device']).startswith(NOT_RECORDED) else ''}{r['device']} in "
            f"{_figure(r['wall_hours'])} h"
            for r in compute["earlier_runs"]
        ) + f"; {_figure(compute['total_wall_hours'])} h in all")  # fmt: skip
    lines += ["", "## Evaluation", ""]
    if evaluation["status"] != "evaluated":
        lines.append(f"Not evaluated: {evaluation['note']}.")
    else:
        for n, entry in enumerate(evaluation["documents"]):
            document = entry["document"]
            held = ", ".join(document["held_out"]) or "none"
            lines += [
                f"Document {n + 1} (sha256 `{entry['sha256']}`): `{document['command']}`; "
                f"held-out cities: {held}.",
                "",
            ]
        lines += ["| city | held out | method | conditions | metric | mean | standard error | n |",
                  "|---|---|---|---|---|---:|---:|---:|"]  # fmt: skip
        skip = {*RESULT_KEYS, "city_sha256", "held_out", "document", "unit", "n_of", "method"}
        for row in evaluation["results"]:
            conditions = _pairs({k: v for k, v in row.items() if k not in skip})
            unit = f" ({row['unit']})" if row.get("unit") else ""
            cells = [
                row["city"],
                _figure(row["held_out"]),
                row.get("method", ""),
                conditions,
                f"{row['metric']}{unit}",
                _figure(row["mean"]),
                _figure(row["standard_error"]),
                f"{row['n']} {row.get('n_of', '')}",
            ]
            lines.append(f"| {' | '.join(_cell(c) for c in cells)} |")
    lines += ["", "## Known limits", "", f"- Places: {limits['places']}"]
    for bound in limits["bounds"]:
        unit = f" {bound['unit']}" if bound["unit"] else ""
        lines.append(f"- {bound['label'][0].upper()}{bound['label'][1:]}: "
                     f"{_figure(bound['low'])}–{_figure(bound['high'])}{unit}")  # fmt: skip
    lines += [f"- {statement}" for statement in limits["statements"]]
    lines += [f"- Note: {note}" for note in limits["notes"]]
    lines += [
        "",
        "## Version",
        "",
        f"- Card version: `{card['card_version']}` (a digest of this card's content)",
        f"- Card layout: {card['card_schema']}",
        f"- Checkpoint sha256: `{card['checkpoint_sha256']}`",
        f"- Checkpoint format: {model['checkpoint_format']}, step {_figure(model['step'])}",
        "",
    ]
    return "\n".join(lines)


def _pairs(value: Any) -> str:
    """A mapping as ``key value, …`` (unset values left out), a run of whole numbers as
    ``first–last``."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_pairs(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        # seeds, mostly: no thousands separators
        if len(value) > 2 and value == list(range(value[0], value[0] + len(value))):
            return f"{value[0]}–{value[-1]}"
        return ", ".join(map(str, value))
    if isinstance(value, list):
        return ", ".join(_pairs(v) for v in value)
    return _figure(value)
