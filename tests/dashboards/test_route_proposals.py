"""A day's collection routes proposed on the Plans page, without a browser: the form, the run
through the background machinery into the store (a proposal folder the twin verifies), the view
(label, verdict, checks, the day's plans, provenance, decision box, map), a proposal that is not
recommended never offered for approval, and an approved one downloaded as field documents whose
GPX route holds the stops in the order of the stop list. Field documents of signal plans, and the
provenance of a stored run's learned routes, too.

Every proposal is the twin's own, for a small day of the bundled city: 10 bins, 1 truck, PyVRP's
polish 0.3 s (a second or two)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import zipfile

import gpxpy
import pytest

from dashboards.app import create_app
from dashboards.components import VERDICT_STYLE
from dashboards.decisions import ROUTES, decision_box
from dashboards.forms import FormError, read_routes_form
from dashboards.logic import section_only
from dashboards.runner import propose_collection_routes, run_scenarios
from dashboards.store import StoreError
from dashboards.trust import DecisionError, decide_on, field_documents, plan_rows
from tests.dashboards.test_decisions import (
    RECOMMENDED_TRIPS,
    SMALL,
    _call,
    _fire,
    _ids,
    _proposed,
)
from twin import ProposalError, propose_routes, read_audit, read_proposal

DAY = {"bins": 10, "trucks": 1, "seed": 0, "polish_s": 0.3}
"""The form's values: a day the twin plans in a second or two."""


@pytest.fixture
def app(helsinki, tmp_path):
    return create_app(helsinki, store_dir=tmp_path / "store", draft=SMALL)


@pytest.fixture(scope="module")
def proposal(helsinki):
    """The twin's proposal for :data:`DAY`, made once for the tests that only need one."""
    request = read_routes_form({}, DAY)
    return request, propose_routes(helsinki, **request)


def _stored(app, proposal, **changes) -> str:
    """``proposal`` (with ``changes``: what a check's outcome changes) in the app's store, as
    the worker writes it; its key."""
    request, made = proposal
    store = app.twin_state.store
    key = store.proposal_key(request, app.twin_state.city_sha)
    store.write_route_proposal(key, dataclasses.replace(made, **changes))
    return key


def _decide(
    app, button: str, key: str, draft: dict, *, by: str, comment: str = "", known=None
) -> dict:
    """A click on ``button``; ``known``: the saved versions this browser knows, by name."""
    states = {"routes-result": {"key": key}, "draft": draft, "routes-by": by,
              "routes-comment": comment, "scenario-known": known or {}}  # fmt: skip
    return _call(app, button, states)


def _download(app, prefix: str, key: str, draft: dict) -> dict:
    return _call(app, f"{prefix}-download", {f"{prefix}-result": {"key": key}, "draft": draft})


def _props(tree, component_id: str) -> dict | None:
    """The properties of the component ``component_id`` in a callback's JSON answer."""
    if isinstance(tree, list):
        found = (_props(child, component_id) for child in tree)
        return next((props for props in found if props is not None), None)
    if not isinstance(tree, dict):
        return None
    props = tree.get("props", tree)
    if props.get("id") == component_id:
        return props
    return _props(props.get("children"), component_id)


def _zip(sent: dict, prefix: str) -> zipfile.ZipFile:
    data = sent[f"{prefix}-field-documents"]["data"]
    assert data["filename"].startswith("field-documents-") and data["filename"].endswith(".zip")
    return zipfile.ZipFile(io.BytesIO(base64.b64decode(data["content"])))


def test_the_route_form_says_what_is_wrong_beside_each_field():
    assert read_routes_form({}, DAY) == {**DAY, "outside_range": "attempt"}
    with pytest.raises(FormError) as caught:
        read_routes_form({}, {"bins": 0, "trucks": None, "seed": -1, "polish_s": 61})
    assert caught.value.problems == {
        "bins": "bins: must be a whole number from 1 to 1,000 (got 0)",
        "trucks": "trucks: give a whole number from 1 to 1,000",
        "seed": "seed: must be a whole number from 0 to 9,223,372,036,854,775,807 (got -1)",
        "polish_s": "polish_s: must be a number from 0 to 60 (got 61)",
    }
    assert read_routes_form({}, {**DAY, "polish_s": 0})["polish_s"] == 0.0
    # past the twin's largest seed: said beside the box, not after Propose is pressed
    with pytest.raises(FormError, match=r"seed: must be a whole number from 0 to 9,223"):
        read_routes_form({}, {**DAY, "seed": 2**64})


def test_a_route_proposal_is_stored_as_a_folder_the_twin_verifies_and_shown_checked(app):
    state = app.twin_state
    store, draft = state.store, state.draft()
    key = propose_collection_routes(state, read_routes_form(draft, DAY), isolate=False)
    folder = store.proposal_dir(key)
    record = store.proposal(key)
    assert read_proposal(folder) == record
    assert record["kind"] == "collection-routes" and record["plan_files"] == ["routes.json"]
    assert record["label"].startswith("Proposed by a model (learned+pyvrp (")
    assert record["proposed"] == "learned+pyvrp"
    # the same request again is the stored proposal, not a new one
    assert propose_collection_routes(state, read_routes_form(draft, DAY), isolate=False) == key
    assert store.proposal(key)["proposal_id"] == record["proposal_id"]
    stops = store.route_stops(key)
    assert list(stops["order"]) == list(range(len(stops)))  # one truck, in driving order
    assert (stops["kind"] == "bin").sum() == DAY["bins"]

    # the page, as the browser gets it: the label first, then the verdict and the rest
    view = _fire(app, [("routes-result", "data", {"key": key})], {"draft": draft})
    shown = str(view["routes-view"]["children"])
    assert shown.index(record["label"]) < shown.index("routes-verdict-line")
    provenance = record["provenance"]
    for expected in (
        "Recommended: ", "routes-checks-table", "all 10 bins that must be emptied today emptied",
        "learned+pyvrp — proposed by a model", "current plan (no model), the same time",
        "greedy", f"helsinki.pt (sha256 {provenance['checkpoint_sha256'][:12]}…)",
        provenance["model_card_version"], "routes-approve", "routes-card-details",
    ):  # fmt: skip
        assert expected in shown, expected
    names = [row.name for row in plan_rows(record)]
    assert names == ["learned — proposed by a model", "learned+pyvrp — proposed by a model",
                     "pyvrp", "greedy"]  # fmt: skip
    # the download waits for an approval
    assert _props(view["routes-view"]["children"], "routes-download")["disabled"] is True
    # the map: the truck's route and the bins it empties
    inputs = [("routes-result", "data", {"key": key}), ("map-tiles", "value", [])]
    maps = str(_fire(app, inputs, {})["routes-maps"]["children"])
    assert "truck 1: " in maps and "bins emptied (10)" in maps and "depot" in maps

    # a routes file changed after the check is not the checked plan: refused, and proposed again
    routes = folder / "routes.json"
    routes.write_text(routes.read_text().replace('"order": 1', '"order": 2', 1))
    with pytest.raises(StoreError, match="changed since the plan was checked"):
        store.route_stops(key)
    assert not store.has_proposal(key)


def test_a_route_proposal_that_failed_a_check_is_never_offered_for_approval(app, proposal):
    # the twin's proposal as a failed check leaves it (twin.propose_routes: a failed check's
    # detail is a reason, and the proposal is not recommended)
    _, made = proposal
    checks = [dict(c) for c in made.checks]
    checks[-1].update(passed=False, detail="25.100 km against 24.000 km for the current plan")
    reasons = [f"km and missed prizes: {checks[-1]['detail']}"]
    key = _stored(app, proposal, recommended=False, reasons=reasons, checks=checks)
    state = app.twin_state
    store, draft = state.store, state.draft()
    record = store.proposal(key)
    assert record["recommended"] is False and record["reasons"] == reasons
    view = _fire(app, [("routes-result", "data", {"key": key})], {"draft": draft})
    shown = str(view["routes-view"]["children"])
    assert "Not recommended: " in shown and "the current plan (PyVRP's) stays" in shown
    assert reasons[0] in shown
    assert _props(view["routes-view"]["children"], "routes-check-4")["children"][1] == {
        "props": {"children": "failed", "style": VERDICT_STYLE["worse"]},
        "type": "Td",
        "namespace": "dash_html_components",
    }
    box = decision_box(record, None, [], False, None, section=ROUTES)
    ids = _ids(box)
    assert {"routes-reject", "routes-by", "routes-comment"} <= ids
    assert not ids & {"routes-approve", "routes-download", "routes-apply"}
    # the twin refuses to approve it however it is asked, and nothing is logged
    with pytest.raises(ProposalError, match="not recommended"):
        decide_on(store, key, draft, state.city, decision="approved", comment="", by="Aino")
    assert read_audit(store.scenario_path(draft["name"])) == []
    refused = _download(app, "routes", key, draft)
    assert "has not been approved" in refused["routes-download-error"]["children"]
    # rejecting it is logged, with the comment
    sent = _decide(app, "routes-reject", key, draft, by="Aino", comment="longer than PyVRP's")
    assert "Rejected by Aino" in str(sent["routes-decision"])
    (entry,) = read_audit(store.scenario_path(draft["name"]))
    assert (entry["decision"], entry["kind"], entry["comment"]) == (
        "rejected", "collection-routes", "longer than PyVRP's",
    )  # fmt: skip


def test_an_approved_route_proposal_downloads_route_sheets_in_driving_order(app, proposal):
    key = _stored(app, proposal)
    state = app.twin_state
    store, draft = state.store, state.draft()
    # before an approval: one line saying why, nothing sent
    refused = _download(app, "routes", key, draft)
    assert "routes-field-documents" not in refused
    error = refused["routes-download-error"]["children"]
    assert "has not been approved" in error and "\n" not in error
    sent = _decide(app, "routes-approve", key, draft, by="Aino", comment="shorter, checked")
    box = sent["routes-decision"]["children"]
    assert "Approved by Aino" in str(box) and "shorter, checked" in str(box)
    assert _props(box, "routes-download")["disabled"] is False
    (entry,) = read_audit(store.scenario_path(draft["name"]))
    assert sent["plans-audit-version"]["data"] == entry["sha256"]
    audit = _fire(app, [("draft", "data", draft), ("plans-audit-version", "data", "x")], {})
    assert "collection routes" in str(audit) and "shorter, checked" in str(audit)

    archive = _zip(_download(app, "routes", key, draft), "routes")
    assert set(archive.namelist()) == {
        "field-documents.json", "stops.csv", "truck-1.geojson", "truck-1.gpx",
    }  # fmt: skip
    index = json.loads(archive.read("field-documents.json"))
    assert index["approval"] == f"Approved by Aino on {entry['time']}: shorter, checked"
    rows = list(csv.DictReader(line for line in io.TextIOWrapper(archive.open("stops.csv"))
                               if not line.startswith("#")))  # fmt: skip
    gpx = gpxpy.parse(archive.read("truck-1.gpx").decode())
    (route,) = gpx.routes
    assert [(p.latitude, p.longitude) for p in route.points] == [
        (float(r["lat"]), float(r["lon"])) for r in rows if r["truck"] == "1"
    ]
    assert [p.type for p in route.points][:2] == ["depot", "bin"]
    assert "Approved by Aino" in gpx.description


def test_approved_signal_plans_download_their_timing_tables(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    state = app.twin_state
    with pytest.raises(ProposalError, match="has not been approved"):
        field_documents(state.store, key, draft, state.city)
    decide_on(state.store, key, draft, state.city, decision="approved", comment="less delay",
              by="Aino")  # fmt: skip
    archive = _zip(_download(app, "signals", key, draft), "signals")
    assert {"timings.csv", "timings.md", "field-documents.json"} == set(archive.namelist())
    assert "Approved by Aino" in archive.read("timings.md").decode()
    # a draft whose traffic changed since is not what the plans were checked on: said in
    # words, without the store's path or the inputs' JSON
    busier = {**draft, "traffic": {**draft["traffic"], "demand_scale": 1.3}}
    changed = (
        r"^No field documents: the draft's traffic changed since .* \(demand scale 1.0 → 1.3\)"
    )
    with pytest.raises(DecisionError, match=changed):
        field_documents(state.store, key, busier, state.city)


def test_a_stored_runs_learned_routes_name_their_checkpoint_and_card(app):
    state = app.twin_state
    draft = {**state.draft(), "waste": {**state.draft()["waste"], "days": 1, "trucks": 2}}
    runs = [section_only(draft, "waste", policy=p) for p in ("learned", "greedy")]
    learned, greedy = run_scenarios(state, runs, isolate=False)
    provenance = state.store.plan_provenance(learned, "waste")
    assert provenance["by_model"] and provenance["checkpoint"] == "helsinki.pt"
    label = (
        f"Proposed by a model (learned, checkpoint helsinki.pt sha256 "
        f"{provenance['checkpoint_sha256'][:12]}, model card {provenance['model_card_version']})"
    )
    # the Waste page's line above the cards
    shown = _fire(app, [("waste-result", "data", {"keys": [learned]})], {})
    assert label in str(shown["waste-kpis"])
    # the Plans page's line above the table of policies
    result = {"keys": [greedy, learned], "names": ["p-greedy", "p-learned"], "errors": [None] * 2}
    inputs = [("plans-result", "data", result), ("plans-baseline", "value", "greedy")]
    table = str(_fire(app, inputs, {})["plans-table"])
    assert "plans-learned-provenance" in table and label in table
