"""A planner's decisions on signal plans, without a browser: the store keeps proposal folders the
twin verifies; a proposal is labelled with who proposed it and its provenance; one that failed a
check is never offered for approval or applying; approving and rejecting go into the scenario's
audit log through the page's callbacks, and only an approval lets Apply write the plans into the
draft; approval of plans whose inputs changed since they were checked is refused; a log edited
by hand is named, line and all, in red; model cards and the labels of a model's routes.

Every proposal here is the twin's own, for the small draft at two demands: 400 trips, where
Webster's plans pass every check, and 300, where at 120 % of the demand they leave more trips
unfinished than the current plans (a broken check)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from dashboards.app import create_app
from dashboards.decisions import (
    audit_view,
    card_body,
    decision_box,
    decision_state,
    label_line,
)
from dashboards.forms import read_proposal_form
from dashboards.logic import saved_digest, scenario_from_draft, section_only
from dashboards.pages.plans import verdict
from dashboards.runner import propose_signal_plans
from dashboards.store import StoreError
from dashboards.trust import (
    DecisionError,
    applied,
    approved_timings,
    audit_rows,
    by_model,
    changed_inputs,
    decide_on,
    model_card,
    model_card_text,
    policy_label,
    provenance_rows,
    run_by_model,
)
from twin import (
    MODEL_LABEL,
    AuditError,
    ProposalError,
    audit_path,
    read_audit,
    read_proposal,
)

SMALL = {"traffic": {"trips": 300, "duration": "16min", "window": "8min", "dt_s": 5.0}}
RECOMMENDED_TRIPS = 400
FAILING_TRIPS = 450
CHECKPOINTS = Path(__file__).resolve().parents[2] / "generative" / "checkpoints"


@pytest.fixture
def app(helsinki, tmp_path):
    return create_app(helsinki, store_dir=tmp_path / "store", draft=SMALL)


def _draft(app, trips: int) -> dict:
    draft = app.twin_state.draft()
    draft["traffic"]["trips"] = trips
    return draft


def _proposed(app, trips: int, *, recommended: bool) -> tuple[str, dict]:
    """The twin's Webster proposal for the small draft with ``trips`` (in this thread), its key
    in the store and the draft; the twin's verdict is the one the test needs."""
    draft = _draft(app, trips)
    request = read_proposal_form(draft, {"method": "webster"})
    key = propose_signal_plans(app.twin_state, request, isolate=False)
    assert app.twin_state.store.proposal(key)["recommended"] is recommended
    return key, draft


def _fire(app, inputs: list[tuple[str, str, Any]], states: dict[str, Any]) -> dict:
    """The callback of these inputs (id, property, value), fired through the app's HTTP
    interface as the browser fires it: what it sends back, by component id."""
    ids = [cid for cid, _, _ in inputs]
    (output, spec) = next(
        (output, spec)
        for output, spec in app.callback_map.items()
        if [i["id"] for i in spec["inputs"]] == ids
    )
    outputs = [
        {"id": part.split(".")[0], "property": part.split(".")[1]}
        for part in output.strip(".").split("...")
    ]
    client = app.server.test_client()
    client.get("/")
    response = client.post(
        "/_dash-update-component",
        json={
            "output": output,
            # one output is sent as itself, several (``..a.b...c.d..``) as a list
            "outputs": outputs if output.startswith("..") else outputs[0],
            "inputs": [{"id": cid, "property": prop, "value": v} for cid, prop, v in inputs],
            "state": [
                {"id": s["id"], "property": s["property"], "value": states[s["id"]]}
                for s in spec["state"]
            ],
            "changedPropIds": [f"{cid}.{prop}" for cid, prop, _ in inputs[:1]],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def _call(app, button: str, states: dict[str, Any]) -> dict:
    """The callback a click on ``button`` fires (:func:`_fire`)."""
    return _fire(app, [(button, "n_clicks", 1)], states)


def _decide(
    app, button: str, key: str, draft: dict, *, by: str, comment: str = "", known=None
) -> dict:
    """A click on ``button``; ``known``: the saved versions this browser knows, by name."""
    states = {"signals-result": {"key": key}, "draft": draft, "signals-by": by,
              "signals-comment": comment, "scenario-known": known or {}}  # fmt: skip
    return _call(app, button, states)


def _apply(app, key: str, draft: dict) -> dict:
    return _call(app, "signals-apply", {"signals-result": {"key": key}, "draft": draft})


def _ids(component: Any) -> set[str]:
    """Every id in a component tree."""
    found = set()
    if getattr(component, "id", None):
        found.add(component.id)
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found |= _ids(child)
    return found


def test_the_store_keeps_a_proposal_folder_the_twin_verifies(app):
    key, _ = _proposed(app, FAILING_TRIPS, recommended=False)
    store = app.twin_state.store
    folder = store.proposal_dir(key)
    record = store.proposal(key)
    assert read_proposal(folder) == record
    assert record["format"] == "citiverse-proposal/1" and record["kind"] == "signal-plans"
    assert record["label"] == (
        "Proposed by webster (no model): signal timings for a person to decide on."
    )
    # the record covers the plan file and the tables the page draws the plan from
    assert record["timings"] and record["plan_files"] == [
        "plans.csv", "checks.parquet", "plans.parquet", "current.parquet", "edge_delays.parquet",
    ]  # fmt: skip
    # the plan file says who proposed it before its first row
    head = (folder / "plans.csv").read_text().splitlines()[:3]
    assert head[0] == f"# {record['label']}" and head[2].startswith("# provenance: ")
    # its tables are still there for the page, and an edited one is refused
    assert len(store.proposal_table(key, "checks")) == 3
    table = store.proposal_table(key, "plans")
    table.assign(green_s=table["green_s"] + 1).to_parquet(folder / "plans.parquet", index=False)
    with pytest.raises(StoreError, match="changed since the plan was checked"):
        store.proposal(key)
    table.to_parquet(folder / "plans.parquet", index=False)
    assert store.proposal(key) == record
    # a plan file changed after the check is not the checked plan: refused, and proposed again
    plans = folder / "plans.csv"
    plans.write_text(plans.read_text().replace(",", ";", 1))
    with pytest.raises(StoreError, match="changed since the plan was checked"):
        store.proposal(key)
    assert not store.has_proposal(key)
    # a proposal an older version wrote (no record format) is proposed again too
    (folder / "proposal.json").write_text(json.dumps({"accepted": True}))
    assert not store.has_proposal(key)


def test_a_proposal_says_who_proposed_it_and_where_it_comes_from(app):
    key, _ = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    record = app.twin_state.store.proposal(key)
    assert label_line(record).children == record["label"]
    rows = dict(provenance_rows(record["provenance"]))
    provenance = record["provenance"]
    assert rows["Planner"] == "webster (no model)"
    assert rows["Checkpoint"] == "none: no model"
    assert rows["Instance (sha256)"] == provenance["instance_sha256"][:12] + "…"
    assert rows["Seed"] == str(provenance["seed"])
    assert rows["Software"] == f"citiverse-twin {provenance['software_version']}"
    assert rows["Made"] == provenance["created_at"]
    assert rows["Provenance id"] == provenance["id"][:12] + "…"
    # a model's plans name their checkpoint, its hash and the card's version
    learned = {
        **provenance,
        "planner": "learned",
        "by_model": True,
        "checkpoint": "signals.pt",
        "checkpoint_sha256": "6be0206db5a6" + "0" * 52,
        "model_card_version": "9fdc05dd",
    }
    rows = dict(provenance_rows(learned))
    assert rows["Planner"] == "learned (a model)"
    assert rows["Checkpoint"] == "signals.pt (sha256 6be0206db5a6…)"
    assert rows["Model card"] == "9fdc05dd"


def test_the_learned_signal_planners_plans_are_labelled_as_a_models_with_its_card(app):
    draft = _draft(app, RECOMMENDED_TRIPS)
    request = read_proposal_form(draft, {"method": "learned"})
    key = propose_signal_plans(app.twin_state, request, isolate=False)
    record = app.twin_state.store.proposal(key)
    provenance = record["provenance"]
    assert provenance["by_model"] and provenance["checkpoint"] == "signals.pt"
    # the page, as the browser gets it: the label first, the provenance, the card folded
    view = _fire(app, [("signals-result", "data", {"key": key})], {"draft": draft})
    shown = str(view["signals-view"]["children"])
    label = (
        f"Proposed by a model (learned, checkpoint signals.pt sha256 "
        f"{provenance['checkpoint_sha256'][:12]}, model card {provenance['model_card_version']})"
    )
    assert shown.index(label) < shown.index("signals-verdict-line")
    assert "'note warn'" in str(view["signals-view"]["children"][0])
    assert "learned (a model)" in shown and provenance["model_card_version"] in shown
    assert "signals-card-details" in shown
    # a figure outside the model's training range is flagged where the twin names one
    for note in record["notes"]:
        assert note in shown and "Outside the model's training range" in shown


def test_a_proposal_that_failed_a_check_is_never_offered_for_approval(app):
    key, draft = _proposed(app, FAILING_TRIPS, recommended=False)
    store = app.twin_state.store
    record = store.proposal(key)
    shown = str(verdict(record, store.proposal_table(key, "checks")))
    assert "Not recommended: " in shown and "the current plans stay" in shown
    assert "at 100% demand: 1 trip unfinished, against 0 with the current plans" in shown
    box = decision_box(record, None, [], False, None)
    ids = _ids(box)
    # Reject, with a name and comment; no Approve, no Apply
    assert {"signals-reject", "signals-by", "signals-comment"} <= ids
    assert not ids & {"signals-approve", "signals-apply"}
    assert "Not recommended" in str(box)
    # the twin refuses to approve it however it is asked, and nothing is logged
    with pytest.raises(ProposalError, match="not recommended"):
        decide_on(store, key, draft, app.twin_state.city, decision="approved", comment="",
                  by="Aino")  # fmt: skip
    assert read_audit(store.scenario_path(draft["name"])) == []
    refused = _apply(app, key, draft)
    assert "draft" not in refused and "has not been approved" in str(refused)
    # rejecting it is logged, with the comment
    sent = _decide(app, "signals-reject", key, draft, by="Aino", comment="more unfinished trips")
    assert "Rejected by Aino" in str(sent["signals-decision"]) and "more unfinished" in str(sent)
    (entry,) = read_audit(store.scenario_path(draft["name"]))
    logged = (entry["decision"], entry["by"], entry["comment"])
    assert logged == ("rejected", "Aino", "more unfinished trips")
    assert entry["proposal_id"] == record["proposal_id"]


def test_a_recommended_proposal_is_approved_then_applied_and_logged(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    store = app.twin_state.store
    record = store.proposal(key)
    assert "Recommended: " in str(verdict(record, store.proposal_table(key, "checks")))
    box = decision_box(record, None, [], False, None)
    assert {"signals-approve", "signals-reject", "signals-apply"} <= _ids(box)
    apply_button = next(c for c in box.children if "signals-apply" in _ids(c)).children[0]
    assert apply_button.disabled is True and "Approve the plans first" in apply_button.title
    # Apply before an approval: refused, the draft left as it was
    refused = _apply(app, key, draft)
    assert "draft" not in refused and "has not been approved" in str(refused)
    # no name: the page says so, nothing is logged
    nameless = _decide(app, "signals-approve", key, draft, by="  ", comment="fine")
    assert nameless["signals-decision-error"]["children"] == (
        "Your name: required, the audit log records who decided."
    )
    assert not audit_path(store.scenario_path(draft["name"])).exists()
    sent = _decide(app, "signals-approve", key, draft, by="Aino", comment="less delay, checked")
    assert "Approved by Aino" in str(sent["signals-decision"])
    # the draft was saved under its name, and the log lies beside it
    assert store.load_named(draft["name"]).traffic.trips == RECOMMENDED_TRIPS
    (entry,) = read_audit(store.scenario_path(draft["name"]))
    assert entry["decision"] == "approved" and entry["comment"] == "less delay, checked"
    assert sent["plans-audit-version"]["data"] == entry["sha256"]
    # the approval lets Apply write the plans into the draft
    done = _apply(app, key, draft)
    assert done["draft"]["data"]["traffic"]["signals"] == record["timings"]
    assert f"Applied: {len(record['timings'])} junctions retimed" in str(done)
    # the applied draft differs from the checked one only by these plans: it is not stale
    updated = done["draft"]["data"]
    assert changed_inputs(record, updated, app.twin_state.city) == []
    assert applied(record, updated) and not applied(record, draft)
    # the audit view lists the decision
    view = audit_view(app.twin_state, draft["name"])
    assert "plans-audit-table" in _ids(view)
    assert audit_rows([entry])[0][2:4] == ("approved", "Aino")
    assert "webster (no model)" in str(view) and "less delay, checked" in str(view)
    # rejected last, it cannot be applied any more
    _decide(app, "signals-reject", key, draft, by="Ville", comment="on second thought")
    assert "was rejected" in str(_apply(app, key, draft))


def _download(app, key: str, draft: dict) -> dict:
    return _call(app, "signals-download", {"signals-result": {"key": key}, "draft": draft})


def test_applied_plans_still_give_their_field_documents_and_apply_again_changes_nothing(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    state, store = app.twin_state, app.twin_state.store
    record = store.proposal(key)
    _decide(app, "signals-approve", key, draft, by="Aino", comment="less delay")
    updated = _apply(app, key, draft)["draft"]["data"]
    # the field documents of the draft that now holds the approved plans, as the page
    # downloads them
    sent = _download(app, key, updated)
    assert sent["signals-download-error"]["children"] == ""
    name = sent["signals-field-documents"]["data"]["filename"]
    assert name == f"field-documents-signal-plans-{record['proposal_id'][:12]}.zip"
    # nothing else changed: still the plans' draft, shown approved and applied, not stale
    assert changed_inputs(record, updated, state.city) == []
    latest, changed, was_applied, problem = decision_state(state, record, updated)
    assert (latest["decision"], changed, was_applied, problem) == ("approved", [], True, None)
    # Apply again: the draft is left as it is, and the page says why
    again = _apply(app, key, updated)
    assert "draft" not in again
    assert "Already applied: the draft's signal plans have these " in str(again)
    assert approved_timings(store, key, updated, state.city) == record["timings"]


def test_a_draft_changed_after_its_plans_were_applied_is_refused_in_plain_words(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    state, store = app.twin_state, app.twin_state.store
    _decide(app, "signals-approve", key, draft, by="Aino")
    updated = _apply(app, key, draft)["draft"]["data"]
    busier = {**updated, "traffic": {**updated["traffic"], "trips": RECOMMENDED_TRIPS + 100}}
    message = _download(app, key, busier)["signals-download-error"]["children"]
    # what changed, in words: no path of the server's store, no cut-off JSON
    assert message == (
        "No field documents: the draft's traffic changed since these plans were approved "
        f"(trips {RECOMMENDED_TRIPS} → {RECOMMENDED_TRIPS + 100}): propose them again for the "
        "draft as it is now."
    )
    with pytest.raises(DecisionError, match=r"^Not applied: the draft's traffic changed since"):
        approved_timings(store, key, busier, state.city)
    assert "draft" not in _apply(app, key, busier)
    # the applied plans edited by hand are not the approved ones either
    signals = [dict(t) for t in updated["traffic"]["signals"]]
    signals[0]["offset_s"] = signals[0]["offset_s"] + 5
    edited = {**updated, "traffic": {**updated["traffic"], "signals": signals}}
    assert changed_inputs(store.proposal(key), edited, state.city) == ["traffic"]
    message = _download(app, key, edited)["signals-download-error"]["children"]
    assert "traffic changed since these plans were approved (signal timings)" in message
    # and another seed
    reseeded = {**updated, "seed": updated["seed"] + 1}
    message = _download(app, key, reseeded)["signals-download-error"]["children"]
    seeds = f"(seed {updated['seed']} → {updated['seed'] + 1})"
    assert f"the draft's seed changed since these plans were approved {seeds}" in message


def test_approval_of_plans_whose_inputs_changed_since_the_check_is_refused(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    store, city = app.twin_state.store, app.twin_state.city
    record = store.proposal(key)
    changed = {**draft, "traffic": {**draft["traffic"], "demand_scale": 1.5}}
    assert changed_inputs(record, changed, city) == ["traffic"]
    sent = _decide(app, "signals-approve", key, changed, by="Aino")
    message = sent["signals-decision-error"]["children"]
    # what changed in words, without the store's path or the inputs' JSON
    assert message == (
        "Not approved: the draft's traffic changed since these plans were checked (demand "
        "scale 1.0 → 1.5): propose them again for the draft as it is now."
    )
    assert read_audit(store.scenario_path(draft["name"])) == []
    # the page does not offer it: Approve disabled, and why
    box = decision_box(record, None, ["traffic"], False, None)
    approve = next(c for c in box.children if "signals-approve" in _ids(c)).children[0]
    assert approve.disabled is True
    assert "The draft's traffic changed since these plans were checked" in str(box)
    # approved first, then the draft changed: not applied
    _decide(app, "signals-approve", key, draft, by="Aino")
    with pytest.raises(DecisionError, match="traffic changed since these plans were approved"):
        approved_timings(store, key, changed, city)
    assert "draft" not in _apply(app, key, changed)


def test_a_hand_edited_audit_log_is_named_in_red_and_refuses_decisions(app):
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    state = app.twin_state
    for comment in ("first look", "second look"):
        decide_on(state.store, key, draft, state.city, decision="rejected", comment=comment,
                  by="Aino")  # fmt: skip
    log = audit_path(state.store.scenario_path(draft["name"]))
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace("first look", "approved by the board")
    log.write_text("\n".join(lines) + "\n")
    view = audit_view(state, draft["name"])
    (error,) = [c for c in view.children if getattr(c, "id", None) == "plans-audit-error"]
    assert error.className == "error"
    assert f"{log}, line 1: its contents do not match its hash" in error.children
    # the page shows the decision box with the same line, and the twin logs nothing more
    latest, _, _, problem = decision_state(state, state.store.proposal(key), draft)
    assert latest is None and "line 1" in problem
    box = decision_box(state.store.proposal(key), latest, [], False, problem)
    assert "line 1: its contents do not match its hash" in str(box)
    sent = _decide(app, "signals-approve", key, draft, by="Aino")
    assert "line 1" in sent["signals-decision-error"]["children"]
    with pytest.raises(AuditError):
        decide_on(state.store, key, draft, state.city, decision="approved", comment="",
                  by="Aino")  # fmt: skip
    assert len(log.read_text().splitlines()) == 2


def test_a_refused_decision_leaves_the_saved_scenario_as_it_was(app):
    """Once the draft was saved first, and a name of 300 characters refused after: the
    scenario another planner saved under that name was already replaced."""
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    state = app.twin_state
    saved = state.store.scenario_path(draft["name"])
    before = saved.read_bytes() if saved.exists() else None
    changed = {**draft, "traffic": {**draft["traffic"], "trips": draft["traffic"]["trips"] + 1}}
    for by, comment, said in (
        ("A" * 300, "", "Your name: 300 characters, at most 200"),
        ("Aino", "line\nbreak", "Comment: holds control characters"),
        ("Aino", " ", "A rejection says why: give a comment, which the log keeps"),
    ):
        with pytest.raises(DecisionError, match=re.escape(said)):
            decide_on(state.store, key, changed, state.city, decision="rejected",
                      comment=comment, by=by)  # fmt: skip
        assert (saved.read_bytes() if saved.exists() else None) == before


def test_a_decision_does_not_save_over_another_planners_version_of_the_scenario(app):
    """A decision saves the draft under its name, so it asks what Save asks: another session's
    version of that name is replaced only by a browser that knows it (saved or loaded it)."""
    key, draft = _proposed(app, RECOMMENDED_TRIPS, recommended=True)
    store = app.twin_state.store
    path = store.save_scenario(scenario_from_draft({**draft, "seed": draft["seed"] + 99}))
    theirs = path.read_bytes()
    sent = _decide(app, "signals-reject", key, draft, by="Aino", comment="too slow")
    assert sent["signals-decision-error"]["children"] == (
        f"Not logged: another version of scenario {draft['name']} is saved (by another "
        "session, or from a file), and the decision would save this draft over it. Save this "
        "draft on the Scenarios page (Save twice replaces that version) or give it another "
        "name, then decide."
    )
    assert path.read_bytes() == theirs and read_audit(path) == []
    # a browser that loaded that version decides over it, and knows the version it saved
    known = {draft["name"]: saved_digest(path), "other": "abc"}
    sent = _decide(app, "signals-reject", key, draft, by="Aino", comment="slow", known=known)
    assert "Rejected by Aino" in str(sent["signals-decision"])
    assert store.load_named(draft["name"]).seed == draft["seed"]
    assert sent["scenario-known"]["data"] == {draft["name"]: saved_digest(path), "other": "abc"}
    assert [e["comment"] for e in read_audit(path)] == ["slow"]
    # its own version, saved by the decision, is replaced by the next decision on an edited
    # draft without a question; a browser that does not know it is asked
    edited = {**draft, "description": "after the rejection"}
    asked = _decide(app, "signals-reject", key, edited, by="Ville", comment="still slow")
    assert asked["signals-decision-error"]["children"].startswith("Not logged: another version")
    known = sent["scenario-known"]["data"]
    again = _decide(app, "signals-reject", key, edited, by="Ville", comment="still", known=known)
    assert "Rejected by Ville" in str(again["signals-decision"])
    assert store.load_named(draft["name"]).description == "after the rejection"


def test_a_models_routes_are_labelled_wherever_they_are_shown(app, tmp_path):
    import geopandas as gpd

    from dashboards.pages import scenarios, waste
    from dashboards.runner import run_scenarios

    assert by_model("learned") and not by_model("pyvrp") and not by_model("schedule")
    assert policy_label("learned") == f"learned — {MODEL_LABEL.lower()}"
    assert policy_label("learned") == "learned — proposed by a model"
    assert policy_label("pyvrp") == "pyvrp"
    state = app.twin_state
    # the policy menus say which policy is a model
    menu = str(waste.layout(state))
    assert "'label': 'learned — proposed by a model', 'value': 'learned'" in menu
    # a day of the learned planner's routes, and of greedy's
    draft = {**state.draft(), "waste": {**state.draft()["waste"], "days": 1, "trucks": 2}}
    runs = [section_only(draft, "waste", policy=p) for p in ("learned", "greedy")]
    learned, greedy = run_scenarios(state, runs, isolate=False)
    assert run_by_model(state.store, learned) and not run_by_model(state.store, greedy)
    # the Waste page: a line above the cards, and the map's legend
    for key, by_a_model in ((learned, True), (greedy, False)):
        result = {"keys": [key]}
        shown = _fire(app, [("waste-result", "data", result)], {})
        assert ("waste-model-label" in str(shown["waste-kpis"])) is by_a_model
        inputs = [("waste-result", "data", result), ("waste-day", "value", 0),
                  ("map-tiles", "value", [])]  # fmt: skip
        legend = _fire(app, inputs, {})["waste-map"]["figure"]["layout"].get("legend", {})
        title = "learned — proposed by a model" if by_a_model else None
        assert legend.get("title", {}).get("text") == title
    # the Scenarios page's comparison, and the routes it exports
    result = {"keys": [greedy, learned], "names": ["greedy-plan", "learned-plan"]}
    summary = str(scenarios.comparison_summary(state, result))
    assert "Proposed by a model: the collection routes of learned-plan" in summary
    sent = scenarios.export_file(state, result, "export-waste", 1)
    path = tmp_path / "routes.gpkg"
    path.write_bytes(__import__("base64").b64decode(sent["content"]))
    routes = gpd.read_file(path, layer="routes")
    assert set(routes["proposed_by"]) == {"Proposed by a model (the learned planner)"}


def test_a_model_card_shows_its_sections_and_a_foreign_card_is_refused(app, tmp_path):
    card = model_card(CHECKPOINTS / "general.pt")
    text = model_card_text(CHECKPOINTS / "general.pt")
    # the twin's own Markdown of the card (twin.model_card_markdown), every section of it
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Model", "## Intended use and users", "## Training data", "## Compute",
        "## Evaluation", "## Known limits", "## Version",
    ]  # fmt: skip
    assert "route-planner" in text and card["card_version"] in text
    assert "Trucks: 1–8" in text  # a bound of its training range
    # a card next to a checkpoint that it does not describe is refused, in the twin's words
    copy = tmp_path / "copy.pt"
    shutil.copy(CHECKPOINTS / "general.pt", copy)
    foreign = model_card(CHECKPOINTS / "signals.pt")
    (tmp_path / "copy.card.json").write_text(json.dumps(foreign))
    with pytest.raises(StoreError, match="foreign card"):
        model_card(copy)
    with pytest.raises(StoreError, match="foreign card"):
        model_card_text(copy)
    with pytest.raises(StoreError, match="cannot read the checkpoint"):
        model_card(tmp_path / "missing.pt")


def test_the_plans_page_shows_the_card_of_the_checkpoint_the_twin_names(app):
    import twin

    state = app.twin_state
    routes = twin.learned_checkpoint("collection-routes", state.city)
    shown = card_body(state, "collection-routes", what="learned planner")
    # the twin's Markdown of the card of the checkpoint it names for the city
    (markdown,) = [c for c in shown.children if getattr(c, "id", None) == "plans-card-view"]
    assert markdown.children == model_card_text(routes)
    assert f"of {routes.name}, the learned planner for helsinki" in str(shown)
    signals = model_card(twin.learned_checkpoint("signal-plans", state.city))
    sha = signals["checkpoint_sha256"]
    # the signal plans' card only where it describes the checkpoint that made them
    made = card_body(state, "signal-plans", what="learned signal planner",
                     checkpoint_sha256=sha, view_id="signals-card")  # fmt: skip
    assert "signals-card" in _ids(made) and signals["card_version"] in str(made)
    other = card_body(state, "signal-plans", what="learned signal planner",
                      checkpoint_sha256="0" * 64)  # fmt: skip
    assert "its card is not that of the model that proposed them" in str(other)
