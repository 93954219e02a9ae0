"""Model cards: generated from the checkpoint and its evaluation, never by hand. The shipped
checkpoints' cards verify; a card's figures are the evaluation document's (written by a real,
tiny benchmark run); a card of another checkpoint, or one edited by hand, is refused by name;
training writes the card of every checkpoint it saves; `twin model-card` prints the card, or one
clear line."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from generative.model import PlannerConfig, PlannerNet
from generative.model_card import (
    OSM_ATTRIBUTION,
    ROUTE_KIND,
    SIGNAL_KIND,
    ModelCardError,
    build_model_card,
    card_paths,
    card_version,
    evaluation_document,
    read_evaluation,
    read_model_card,
    render_markdown,
    reusable_evaluations,
    write_evaluation,
    write_model_card,
)
from generative.signal_data import SignalInstance, write_signal_file
from generative.signal_model import SignalNetConfig
from generative.signal_train import CHECKPOINT_KIND, SignalTrainConfig, train_signals
from generative.train import CHECKPOINT_NAME, TrainConfig, train
from tests.conftest import REPO, flat, run_twin

SHIPPED = REPO / "generative" / "checkpoints"
NAMES = ("general", "helsinki", "signals")


def _copy(name: str, folder) -> object:
    """A shipped checkpoint copied into ``folder`` (cards written there, not in the repo)."""
    target = folder / f"{name}.pt"
    shutil.copyfile(SHIPPED / f"{name}.pt", target)
    return target


def _bench(script: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory):
    """Both benchmark runs below, started together when the first is needed, each in a process
    of its own: the tests of one read its document while the other still runs."""
    route, signal = tmp_path_factory.mktemp("route-eval"), tmp_path_factory.mktemp("signal-eval")
    route_checkpoint, signal_checkpoint = _copy("general", route), _copy("signals", signal)
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = {
            "route": pool.submit(
                _bench,
                "bench_propose.py", "--city", "kotka", "--bins", "12", "--trucks", "2",
                "--instances", "2", "--samples", "4", "--budgets", "0.1", "0.2",
                "--checkpoint", str(route_checkpoint), "--out", str(route / "propose.json"),
                "--evaluation-out", str(route / "eval.json"),
            ),
            "signal": pool.submit(
                _bench,
                "bench_signals.py", "--cities", "helsinki", "--seeds", "0", "--simulations", "1",
                "--demands", "1.0", "--checkpoint", str(signal_checkpoint), "--evaluation-out",
                str(signal / "eval.json"),
            ),
        }  # fmt: skip
        yield {
            "route": lambda: (started["route"].result(), route_checkpoint, route / "eval.json"),
            "signal": lambda: (started["signal"].result(), signal_checkpoint, signal / "eval.json"),
        }


@pytest.fixture(scope="module")
def route_evaluation(evaluations):
    """The general planner measured against PyVRP on two 12-bin days of Kotka, a city it never
    trained on (a real run of the benchmark, at a tiny size): its checkpoint and document."""
    _, checkpoint, document = evaluations["route"]()
    return checkpoint, document


@pytest.fixture(scope="module")
def signal_evaluation(evaluations):
    """The signal planner against Webster's plans and a one-simulation search on the bundled
    city, one seed (a real, tiny run of the benchmark)."""
    _, checkpoint, document = evaluations["signal"]()
    return checkpoint, document


@pytest.mark.parametrize("name", NAMES)
def test_the_shipped_checkpoints_cards_verify(name):
    checkpoint = SHIPPED / f"{name}.pt"
    json_path, md_path = card_paths(checkpoint)
    card = read_model_card(checkpoint)
    assert card == json.loads(json_path.read_text(encoding="utf-8"))
    assert md_path.read_text(encoding="utf-8") == render_markdown(card)
    assert card_version(checkpoint) == card["card_version"]
    assert card["model"]["kind"] == (SIGNAL_KIND if name == "signals" else ROUTE_KIND)
    # real places carry the OpenStreetMap attribution; synthetic towns are named as such
    assert card["training_data"]["map_data"]["attribution"] == OSM_ATTRIBUTION
    if name != "helsinki":
        assert "synthetic towns" in card["training_data"]["map_data"]["synthetic"]
        # the shipped planners were trained on the CPU, and their cards say so plainly
        assert card["compute"]["on_cpu"] is True
        assert card["compute"]["statement"].startswith("trained on the CPU")
    else:  # the first format recorded no device
        assert card["compute"]["device"] == "not recorded"
    # and they ship with the package, next to the checkpoints
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["generative"]
    for path in (json_path, md_path):
        relative = path.relative_to(REPO / "generative").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


def test_a_card_is_generated_the_same_every_time(route_evaluation):
    checkpoint, document = route_evaluation
    # the shipped card, made again from its checkpoint and the evaluations it embeds
    embedded, dropped = reusable_evaluations(SHIPPED / "general.pt")
    assert not dropped
    first = build_model_card(SHIPPED / "general.pt", evaluations=embedded)
    assert build_model_card(SHIPPED / "general.pt", evaluations=embedded) == first
    assert first["card_version"] == read_model_card(SHIPPED / "general.pt")["card_version"]
    assert len(first["card_version"]) == 16
    # another content, another version
    evaluated = build_model_card(checkpoint, evaluations=[document])
    assert evaluated["card_version"] != first["card_version"]
    assert build_model_card(checkpoint, evaluations=[document]) == evaluated


def test_the_route_cards_figures_are_the_evaluations(route_evaluation):
    checkpoint, path = route_evaluation
    document = read_evaluation(path)
    assert document["kind"] == ROUTE_KIND and document["held_out"] == ["kotka"]
    assert "bench_propose.py --city kotka" in document["command"]
    shown = run_twin("model-card", str(checkpoint), "--evaluation", str(path), "--write",
                     "--json")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    card = json.loads(shown.stdout)
    assert card == read_model_card(checkpoint)  # written, and it verifies
    evaluation = card["evaluation"]
    assert evaluation["status"] == "evaluated" and evaluation["held_out"] == ["kotka"]
    assert evaluation["documents"][0]["document"] == document
    assert len(evaluation["results"]) == len(document["results"])
    for row, measured in zip(evaluation["results"], document["results"], strict=True):
        assert {k: v for k, v in row.items() if k not in ("held_out", "document")} == measured
        assert row["held_out"] is True
    gaps = [r for r in evaluation["results"] if r["metric"] == "gap to PyVRP 0.2 s"]
    assert {r["method"] for r in gaps} >= {"learned (4 samples)", "PyVRP 0.1 s", "greedy"}
    assert all(r["n"] == 2 and r["n_of"] == "days" for r in gaps)
    # the Markdown shows the same figures
    markdown = card_paths(checkpoint)[1].read_text(encoding="utf-8")
    learned = next(r for r in gaps if r["method"] == "learned (4 samples)")
    assert f"| {learned['mean']:.4g} | {learned['standard_error']:.4g} | 2 days |" in markdown


def test_the_signal_cards_figures_are_the_evaluations(signal_evaluation):
    checkpoint, path = signal_evaluation
    document = read_evaluation(path)
    # the bundled city is one the signal planner trained on: not held out
    assert document["kind"] == SIGNAL_KIND and document["held_out"] == []
    write_model_card(checkpoint, evaluations=[path])
    card = read_model_card(checkpoint)
    rows = card["evaluation"]["results"]
    for row, measured in zip(rows, document["results"], strict=True):
        assert {k: v for k, v in row.items() if k not in ("held_out", "document")} == measured
        assert row["held_out"] is False
    metrics = {(r["method"], r["metric"]) for r in rows}
    # against Webster's plans and the black-box search, seed by seed
    assert ("learned", "delay change against the default plans") in metrics
    assert ("webster", "delay change against the default plans") in metrics
    assert ("learned", "delay change against the search (search1)") in metrics
    # one seed: no standard error, said as null, not as a made-up number
    assert all(r["n"] == 1 and r["standard_error"] is None for r in rows)


def test_a_card_of_another_checkpoint_is_foreign(tmp_path):
    checkpoint = _copy("helsinki", tmp_path)
    json_path, md_path = card_paths(checkpoint)
    shutil.copyfile(card_paths(SHIPPED / "general.pt")[0], json_path)
    with pytest.raises(ModelCardError, match="foreign card: it describes another checkpoint"):
        read_model_card(checkpoint)
    shown = run_twin("model-card", str(checkpoint))
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert "foreign card" in flat(shown.stderr) and "--write" in flat(shown.stderr)
    # the fix the message names
    fixed = run_twin("model-card", str(checkpoint), "--write", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert read_model_card(checkpoint) == json.loads(fixed.stdout)
    assert md_path.is_file()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c["compute"].update(wall_hours=0.01), "compute.wall_hours"),
        (lambda c: c["evaluation"]["results"][0].update(mean=-50.0),
         r"evaluation.results\[0\].mean"),
        (lambda c: c["known_limits"]["bounds"][0].update(high=5000.0),
         r"known_limits.bounds\[0\].high"),
        (lambda c: c.update(card_version="0" * 16), "card_version"),
        # a figure of the embedded document: the card's copy and the document's digest differ
        (lambda c: c["evaluation"]["documents"][0]["document"]["results"][0].update(mean=-50.0),
         r"evaluation.documents\[0\].document"),
    ],
)  # fmt: skip
def test_a_card_edited_by_hand_is_refused_naming_the_field(route_evaluation, tmp_path, edit, field):
    checkpoint, document = route_evaluation
    mine = shutil.copyfile(checkpoint, tmp_path / "general.pt")
    write_model_card(mine, evaluations=[document])
    json_path = card_paths(mine)[0]
    card = json.loads(json_path.read_text(encoding="utf-8"))
    edit(card)
    json_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelCardError, match=rf"edited by hand: field {field} "):
        read_model_card(mine)
    with pytest.raises(ModelCardError, match="edited by hand"):
        card_version(mine)


def test_markdown_edited_by_hand_is_refused_naming_the_line(tmp_path):
    checkpoint = _copy("signals", tmp_path)
    json_path, md_path = write_model_card(checkpoint)
    text = md_path.read_text(encoding="utf-8")
    heading = text.splitlines().index("## Compute")
    md_path.write_text(text.replace("## Compute", "## Compute (on 64 GPUs)"), encoding="utf-8")
    with pytest.raises(ModelCardError, match=rf"card.md: edited by hand: line {heading + 1} "):
        read_model_card(checkpoint)
    # the file cut short: named at its end
    md_path.write_text(text[: len(text) // 2].rsplit("\n", 1)[0] + "\n", encoding="utf-8")
    with pytest.raises(ModelCardError, match=r"\(the end of the file\)"):
        read_model_card(checkpoint)
    # without its Markdown, a card says nothing false: the twin renders the JSON
    md_path.unlink()
    assert read_model_card(checkpoint) == json.loads(json_path.read_text(encoding="utf-8"))


def test_a_forger_who_recomputes_the_version_is_caught_too(tmp_path):
    from generative.model_card import _version_of

    checkpoint = _copy("signals", tmp_path)
    write_model_card(checkpoint)
    json_path = card_paths(checkpoint)[0]
    card = json.loads(json_path.read_text(encoding="utf-8"))
    card["compute"]["on_cpu"] = False
    card["card_version"] = _version_of(card)
    json_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelCardError, match=r"edited by hand: field compute\.on_cpu"):
        read_model_card(checkpoint)


def test_an_evaluation_of_another_checkpoint_or_a_false_claim_is_refused(
    route_evaluation, tmp_path
):
    _, document = route_evaluation
    checkpoint = _copy("helsinki", tmp_path)
    shown = run_twin("model-card", str(checkpoint), "--evaluation", str(document), "--write")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert "measured another checkpoint" in flat(shown.stderr)
    # nothing half-written
    assert not any(path.exists() for path in card_paths(checkpoint))
    # a document that calls held out a city the checkpoint trained on
    claim = read_evaluation(document)
    claim["results"][0]["city"] = "helsinki"
    claim["held_out"] = ["helsinki"]
    with pytest.raises(ModelCardError, match="calls helsinki held out, but the checkpoint"):
        build_model_card(route_evaluation[0], evaluations=[claim])
    # a file that is no evaluation document
    (tmp_path / "junk.json").write_text('{"results": []}')
    with pytest.raises(ModelCardError, match=r"junk\.json: evaluation document layout"):
        read_evaluation(tmp_path / "junk.json")
    # the document of a signal planner for a route planner
    with pytest.raises(ModelCardError, match="give the evaluation of this checkpoint"):
        build_model_card(checkpoint, evaluations=[{**claim, "kind": SIGNAL_KIND}])


def test_the_command_prints_the_card_or_one_clear_line(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    refusals = [
        (["model-card", str(tmp_path / "missing.pt")], "missing.pt: no such checkpoint"),
        (["model-card", str(tmp_path / "broken.pt")], "broken.pt: not a readable checkpoint"),
        (["model-card", "general", "--evaluation", str(tmp_path / "none.json")],
         "none.json: no such evaluation document"),
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=2) as pool:  # the commands two at a time
        shown = pool.submit(run_twin, "model-card", "general", "--json")
        text = pool.submit(run_twin, "model-card", str(SHIPPED / "signals.pt"))
        refused = [pool.submit(run_twin, *argv) for argv, _ in refusals]
    shown, text = shown.result(), text.result()
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == read_model_card(SHIPPED / "general.pt")
    assert text.returncode == 0 and text.stdout == render_markdown(
        read_model_card(SHIPPED / "signals.pt")
    )
    for (_, message), future in zip(refusals, refused, strict=True):
        done = future.result()
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert message in flat(done.stderr)
        assert done.stdout == ""


def test_training_writes_the_card_of_every_checkpoint(sampled, tmp_path):
    config = TrainConfig(steps=2, batch_size=4, samples=2, checkpoint_every=1)
    train(sampled, config, model=PlannerNet(PlannerConfig(dim=16, heads=2, layers=1)),
          run_dir=tmp_path)  # fmt: skip
    checkpoint = tmp_path / CHECKPOINT_NAME
    card = read_model_card(checkpoint)  # the sidecar, and it verifies
    assert card_paths(checkpoint)[0].is_file() and card_paths(checkpoint)[1].is_file()
    assert card["model"]["step"] == 2 and card["evaluation"]["status"] == "not evaluated"
    assert card["training_data"]["places"] == [
        {"name": "helsinki", "sha256": sampled.meta["city_sha256"], "days": len(sampled)}
    ]
    compute = card["compute"]
    assert compute["device"] == "cpu" and compute["statement"].startswith("trained on the CPU")
    payload = torch.load(checkpoint, weights_only=True)
    assert payload["instances"] == 2 * 4
    assert compute["instances_per_s"] == round(8 / payload["elapsed_s"], 3)


def _signal_instance(junctions: int, seed: int) -> SignalInstance:
    """A made-up scenario of ``junctions`` junctions with two vehicle phases each."""
    rng = np.random.default_rng(seed)
    shape = (junctions, 4)
    kind = np.zeros(shape, np.int8)
    kind[:, :2] = 1
    return SignalInstance(
        kind=kind,
        flow_vps=np.where(kind > 0, rng.uniform(0.05, 0.2, shape), 0).astype(np.float32),
        saturation_vps=np.where(kind > 0, 0.5, 1.0).astype(np.float32) * np.ones(shape, np.float32),
        min_green_s=np.where(kind > 0, 7.0, 0).astype(np.float32),
        intergreen_s=np.full(junctions, 5.0, np.float32),
        max_cycle_s=np.full(junctions, 120.0, np.float32),
        node=np.arange(junctions, dtype=np.int64),
        travel_s=rng.uniform(10, 60, (junctions, junctions)).astype(np.float32),
        meta={"city": f"synthetic-{seed}", "sha256": f"{seed:064x}"},
    )


def test_signal_training_writes_the_card_of_every_checkpoint(tmp_path):
    write_signal_file(tmp_path / "train.npz", [_signal_instance(3, 1), _signal_instance(5, 2)])
    config = SignalTrainConfig(steps=2, batch_size=2, validate_every=1, checkpoint_every=1)
    small = SignalNetConfig(dim=16, heads=2, layers=1)
    train_signals(
        [tmp_path / "train.npz"], tmp_path / "run", config=config, model_config=small, device="cpu"
    )
    card = read_model_card(tmp_path / "run" / "checkpoint.pt")
    assert card["model"]["kind"] == SIGNAL_KIND == CHECKPOINT_KIND
    assert card["training_data"]["content_hashes"] == [f"{1:064x}", f"{2:064x}"]
    assert card["training_data"]["map_data"]["attribution"] is None  # synthetic towns only
    bounds = {b["figure"]: (b["low"], b["high"]) for b in card["known_limits"]["bounds"]}
    assert bounds["junctions"] == (3.0, 5.0)
    assert card["compute"]["instances_per_s"] > 0


def test_evaluation_documents_say_which_cities_are_held_out(tmp_path):
    rows = [{"city": "helsinki", "city_sha256": None, "metric": "gap", "mean": 1.0,
             "standard_error": None, "n": 1},
            {"city": "kotka", "city_sha256": "f" * 64, "metric": "gap", "mean": 2.0,
             "standard_error": 0.5, "n": 3}]  # fmt: skip
    document = evaluation_document(checkpoint=SHIPPED / "helsinki.pt", command="test",
                                   results=rows, benchmark="test")  # fmt: skip
    assert document["held_out"] == ["kotka"]
    write_evaluation(tmp_path / "eval.json", document)
    assert read_evaluation(tmp_path / "eval.json") == document
