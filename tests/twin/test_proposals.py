"""Proposed collection routes: checked, traceable, decided on by a person, and only then
field documents (route sheets a GPX library reads, in driving order)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import gpxpy
import numpy as np
import pandas as pd
import pytest
import yaml

from agents.waste.planning import DISPOSAL, Plan, check_plan
from cities.city import load_city
from tests.conftest import flat, run_twin
from twin.audit import AuditError, read_audit
from twin.field_docs import write_field_documents
from twin.proposals import (
    ProposalError,
    decide,
    read_proposal,
    scenario_inputs,
    traffic_inputs,
)
from twin.provenance import MODEL_LABEL, Provenance, read_csv_provenance
from twin.route_proposals import check_routes, propose_routes, route_stops
from twin.scenario import TrafficSpec, load_scenario

DAY = {"bins": 10, "trucks": 1, "seed": 5, "polish_s": 0.3}


@pytest.fixture(scope="module")
def proposal(helsinki):
    return propose_routes(helsinki, **DAY)


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "week.yaml"
    path.write_text(yaml.safe_dump({"name": "week", "city": "helsinki", "waste": {"days": 7}}))
    return path


@pytest.fixture
def written(proposal, tmp_path):
    return proposal.write(tmp_path / "proposal")


def _broken(proposal):
    """The proposal with its plan replaced by one that carries every bin in one load (over
    capacity) and drives past the end of the shift: what a model must never have shown."""
    problem = replace(proposal.problem, shift_s=1800.0, truck_capacity_kg=1.0)
    bins = np.arange(problem.n_bins) + 2
    plan = Plan([np.append(bins, DISPOSAL)], planner="learned", solve_s=0.0)
    checks = check_routes(problem, plan, proposal.plans["pyvrp"])
    reasons = [f"{c['check']}: {c['detail']}" for c in checks if not c["passed"]]
    plans = {**proposal.plans, proposal.proposed: plan}
    return replace(proposal, problem=problem, plans=plans, checks=checks,
                   recommended=not reasons, reasons=reasons)  # fmt: skip


def test_a_proposal_is_checked_and_recommended_only_if_it_passes(proposal):
    names = [c["check"] for c in proposal.checks]
    assert names == ["capacity", "shift", "routes", "required bins (overflow)",
                     "km and missed prizes"]  # fmt: skip
    assert proposal.recommended == all(c["passed"] for c in proposal.checks)
    assert proposal.recommended == (not proposal.reasons)
    # a valid plan of the real planner passes the rule checks the planning layer applies
    assert not check_plan(proposal.problem, proposal.plans[proposal.proposed])
    assert all(c["passed"] for c in proposal.checks[:4])


def test_a_broken_plan_fails_its_checks_by_name(proposal):
    broken = _broken(proposal)
    failed = {c["check"]: c["detail"] for c in broken.checks if not c["passed"]}
    assert "capacity" in failed and "shift" in failed and not broken.recommended
    assert "capacity" in failed["capacity"] and "shift" in failed["shift"]


def test_stops_follow_the_plan_and_add_up_to_its_km(proposal, helsinki):
    plan = proposal.plans[proposal.proposed]
    stops = pd.DataFrame(proposal.stops())
    for truck, route in enumerate(plan.routes, start=1):
        mine = stops[stops["truck"] == truck].sort_values("order")
        assert mine["kind"].iloc[0] == mine["kind"].iloc[-1] == "depot"
        # the stops between the depots are the route's locations, in its order
        expected = ["disposal" if loc == DISPOSAL else "bin" for loc in route]
        assert list(mine["kind"])[1:-1] == expected
        bins = [int(loc) - 1 for loc in route if loc != DISPOSAL]
        assert list(mine["bin"].dropna().astype(int)) == bins
    # km driven: the plan's own total, leg by leg (conservation over the stops)
    last = stops.groupby("truck")["km"].max().sum()
    assert last == pytest.approx(plan.info["distance_m"] / 1000.0, abs=0.01)
    # positions are the network's nodes
    ids = {osmid: node for node, osmid in enumerate(helsinki.network.node_osmid.tolist())}
    first = stops.iloc[1]
    assert helsinki.network.node_lon[ids[first["node"]]] == pytest.approx(first["lon"], abs=1e-6)
    assert route_stops(helsinki, proposal.problem, proposal.nodes, plan) == proposal.stops()


def test_same_inputs_same_provenance(proposal, helsinki):
    again = propose_routes(helsinki, **DAY)
    assert again.provenance.id == proposal.provenance.id
    assert again.provenance.instance_sha256 == proposal.provenance.instance_sha256
    other = propose_routes(helsinki, **{**DAY, "seed": 6})
    assert other.provenance.id != proposal.provenance.id
    record = proposal.provenance.to_dict()
    assert record["by_model"] and record["checkpoint_sha256"] and record["model_card_version"]
    assert proposal.summary()["label"].startswith(MODEL_LABEL)


def test_a_written_proposal_verifies_and_an_edit_is_named(written):
    record = read_proposal(written)
    assert record["label"].startswith(MODEL_LABEL) and record["kind"] == "collection-routes"
    routes = json.loads((written / "routes.json").read_text())
    assert routes["provenance"] == record["provenance"]
    edited = json.loads((written / "proposal.json").read_text())
    forged = {**edited, "recommended": True, "reasons": ["none, says the editor"]}
    (written / "proposal.json").write_text(json.dumps(forged))
    with pytest.raises(ProposalError, match="edited by hand"):
        read_proposal(written)
    (written / "proposal.json").write_text(json.dumps(edited))
    routes["stops"][1]["lon"] += 0.01
    (written / "routes.json").write_text(json.dumps(routes))
    with pytest.raises(ProposalError, match="changed since the plan was checked"):
        read_proposal(written)


def test_approval_then_field_documents_with_provenance_throughout(
    proposal, written, scenario, helsinki, tmp_path
):
    if not proposal.recommended:  # PyVRP found a cheaper day in its time on this machine
        with pytest.raises(ProposalError, match="not recommended"):
            decide(written, scenario, decision="approved", comment="", by="ana")
        pytest.skip("the proposal was not recommended here; the refusal is what counts")
    record = read_proposal(written)
    now = scenario_inputs(record, load_scenario(scenario), helsinki)
    with pytest.raises(ProposalError, match="has not been approved"):
        write_field_documents(written, scenario, tmp_path / "early", city=helsinki)
    entry = decide(written, scenario, decision="approved", comment="fine for Monday", by="ana",
                   current_inputs=now)  # fmt: skip
    assert entry["decision"] == "approved" and read_audit(scenario) == [entry]
    out = write_field_documents(written, scenario, tmp_path / "docs", city=helsinki)
    stops = pd.read_csv(out / "stops.csv", comment="#")
    provenance = record["provenance"]
    # provenance round-trips through every file
    assert read_csv_provenance(out / "stops.csv").to_dict() == provenance
    index = json.loads((out / "field-documents.json").read_text())
    assert index["provenance"] == provenance and index["decision"] == entry
    for truck, mine in stops.groupby("truck"):
        mine = mine.sort_values("order")
        sheet = json.loads((out / f"truck-{truck}.geojson").read_text())
        assert sheet["provenance"] == provenance and sheet["label"].startswith(MODEL_LABEL)
        assert "Approved by ana" in sheet["approval"]
        points = [f for f in sheet["features"] if f["geometry"]["type"] == "Point"]
        assert [p["properties"]["order"] for p in points] == list(mine["order"])
        with open(out / f"truck-{truck}.gpx", encoding="utf-8") as source:
            gpx = gpxpy.parse(source)
        (route,) = gpx.routes
        # the GPX library reads the stops in driving order, where the stop list puts them
        assert [p.name for p in route.points][:3] == [
            f"{r.order}. {'bin ' + str(int(r.bin)) if r.kind == 'bin' else r.kind}"
            for r in mine.head(3).itertuples()
        ]
        assert [(round(p.latitude, 6), round(p.longitude, 6)) for p in route.points] == [
            (round(r.lat, 6), round(r.lon, 6)) for r in mine.itertuples()
        ]
        description = gpx.description.splitlines()
        assert description[0].startswith(MODEL_LABEL) and "Approved by ana" in description[1]
        carried = json.loads(description[2].removeprefix("provenance: "))
        assert Provenance.from_dict(carried).to_dict() == provenance
        # the road path starts and ends at the depot and passes every stop
        track = [(p.latitude, p.longitude) for p in gpx.tracks[0].segments[0].points]
        assert track[0] == pytest.approx((mine.iloc[0].lat, mine.iloc[0].lon), abs=1e-6)
        assert len(track) > len(mine)


def test_approval_refused_when_inputs_changed_or_plan_failed(proposal, tmp_path, scenario):
    broken = _broken(proposal).write(tmp_path / "broken")
    with pytest.raises(ProposalError, match=r"not recommended.*capacity"):
        decide(broken, scenario, decision="approved", comment="", by="ana")
    assert read_audit(scenario) == []  # nothing logged for a refused approval
    entry = decide(broken, scenario, decision="rejected", comment="over capacity", by="ana")
    with pytest.raises(ProposalError, match="was rejected"):
        write_field_documents(broken, scenario, tmp_path / "docs", city=proposal.city)
    if proposal.recommended:
        good = proposal.write(tmp_path / "good")
        record = read_proposal(good)
        other_city = scenario_inputs(record, load_scenario(scenario), load_city("kotka"))
        with pytest.raises(ProposalError, match=r"inputs changed since.*city_sha256"):
            decide(good, scenario, decision="approved", comment="", by="ana",
                   current_inputs=other_city)  # fmt: skip
    assert read_audit(scenario) == [entry]


def test_a_changed_audit_log_is_named_and_blocks_decisions(proposal, tmp_path, scenario):
    broken = _broken(proposal).write(tmp_path / "broken")
    for comment in ("first", "second", "third"):
        decide(broken, scenario, decision="rejected", comment=comment, by="ana")
    log = scenario.with_suffix(".audit.jsonl")
    lines = log.read_text().splitlines()
    assert [json.loads(line)["comment"] for line in lines] == ["first", "second", "third"]

    log.write_text("\n".join([lines[0], lines[1].replace("second", "2nd"), lines[2]]) + "\n")
    with pytest.raises(AuditError, match="line 2: its contents do not match its hash"):
        read_audit(scenario)
    with pytest.raises(AuditError, match="line 2"):
        decide(broken, scenario, decision="rejected", comment="more", by="ana")
    log.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(AuditError, match="line 2: does not follow the line before"):
        read_audit(scenario)
    log.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(AuditError, match=r"has 2 decisions.*records 3"):
        read_audit(scenario)
    log.write_text("\n".join(lines) + "\n")
    assert len(read_audit(scenario)) == 3
    log.write_text("\n".join(lines) + "\n{not json\n")
    with pytest.raises(AuditError, match="line 4: not a JSON object"):
        read_audit(scenario)


def test_the_command_line_from_proposal_to_field_documents(tmp_path, scenario):
    out = tmp_path / "p"
    proposed = run_twin("propose", "helsinki", "--bins", "10", "--trucks", "1", "--seed", "5",
                        "--polish", "0.3", "--out", str(out), "--json")  # fmt: skip
    assert proposed.returncode == 0, proposed.stderr
    report = json.loads(proposed.stdout)
    assert report["label"].startswith(MODEL_LABEL) and report["provenance"]["id"]
    assert read_proposal(out)["provenance"]["id"] == report["provenance"]["id"]
    verdict = "--approve" if report["recommended"] else "--reject"
    decided = run_twin("decide", str(out), "--scenario", str(scenario), verdict,
                       "--comment", "checked on the map", "--by", "ana")  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    audit = run_twin("audit", str(scenario), "--json")
    assert audit.returncode == 0, audit.stderr
    (entry,) = json.loads(audit.stdout)["decisions"]
    assert entry["comment"] == "checked on the map" and entry["by"] == "ana"
    docs = run_twin("field-docs", str(out), "--scenario", str(scenario), "--out",
                    str(tmp_path / "docs"))  # fmt: skip
    if report["recommended"]:
        assert docs.returncode == 0, docs.stderr
        assert (tmp_path / "docs" / "truck-1.gpx").is_file()
    else:
        assert docs.returncode == 1 and "was rejected" in flat(docs.stderr)
        assert not (tmp_path / "docs").exists()
    # the documents written over the proposal they come from: refused, the proposal kept (once
    # --overwrite replaced it, and the audit log approved a proposal no longer there)
    over = run_twin("field-docs", str(out), "--scenario", str(scenario), "--out", str(out),
                    "--overwrite")  # fmt: skip
    assert over.returncode == 2 and "Traceback" not in over.stderr
    assert "holds a proposal (proposal.json), which --overwrite does not replace with field " \
        "documents" in flat(over.stderr)  # fmt: skip
    assert read_proposal(out)["provenance"]["id"] == report["provenance"]["id"]
    # an edited log: one line naming the line, no traceback, and no decision added
    log = scenario.with_suffix(".audit.jsonl")
    log.write_text(log.read_text().replace("checked on the map", "never checked"))
    for args in (
        ("audit", str(scenario)),
        (
            "decide",
            str(out),
            "--scenario",
            str(scenario),
            "--reject",
            "--by",
            "x",
            "--comment",
            "y",
        ),
    ):
        result = run_twin(*args)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "line 1: its contents do not match its hash" in flat(result.stderr)
    assert len(log.read_text().splitlines()) == 1
    # both verdicts at once: refused, rather than the last flag deciding
    both = run_twin("decide", str(out), "--scenario", str(scenario), "--reject", "--approve")
    assert both.returncode == 1 and "say --approve or --reject, not both." in flat(both.stderr)
    assert len(log.read_text().splitlines()) == 1


def test_an_audit_log_holds_against_cuts_crashes_and_races(proposal, tmp_path, scenario):
    import threading

    from twin.audit import audit_path

    broken = _broken(proposal).write(tmp_path / "broken")
    log, head = audit_path(scenario), audit_path(scenario).with_suffix(".head")
    decide(broken, scenario, decision="rejected", comment="one", by="ana")
    before = head.read_text()
    decide(broken, scenario, decision="rejected", comment="two", by="ana")
    # a process stopped between the line and its head: the next reader rolls it forward
    head.write_text(before)
    assert [e["comment"] for e in read_audit(scenario)] == ["one", "two"]
    assert json.loads(head.read_text())["count"] == 2
    # two planners deciding at once both land, one after the other
    barrier = threading.Barrier(2)

    def decide_at_once(name: str) -> None:
        barrier.wait()
        decide(broken, scenario, decision="rejected", comment=name, by=name)

    threads = [threading.Thread(target=decide_at_once, args=(n,)) for n in ("eve", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e["by"] for e in read_audit(scenario)[2:]) == ["bob", "eve"]
    # lines cut off the end together with the head: the missing head is named
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n")
    head.unlink()
    with pytest.raises(AuditError, match=r"head file .* is missing"):
        read_audit(scenario)
    log.write_bytes(b"\xff\xfe\n")
    with pytest.raises(AuditError, match="not UTF-8"):
        read_audit(scenario)
    assert read_audit(tmp_path / "not-saved-yet.yaml") == []  # no decision on it yet
    typo = run_twin("audit", str(tmp_path / "typo.yaml"))
    assert typo.returncode == 1 and "no such scenario file" in flat(typo.stderr)


def test_a_decision_is_one_line_and_a_record_covers_its_files(proposal, tmp_path, scenario):
    from twin.provenance import content_sha256

    broken = _broken(proposal).write(tmp_path / "broken")
    with pytest.raises(AuditError, match="control characters"):
        decide(broken, scenario, decision="rejected", comment="ok\ntruck,order\n9,9", by="ana")
    # a rejection that does not say why leaves whoever proposes again guessing
    for blank in ("", "   "):
        with pytest.raises(AuditError, match=r"a rejection says why: give a comment \(--comment\)"):
            decide(broken, scenario, decision="rejected", comment=blank, by="ana")
    assert read_audit(scenario) == []
    # a record made to cover none of the files approval and field documents read
    record = json.loads((broken / "proposal.json").read_text())
    for files in ([], ["../../etc/hostname", "routes.json"], "routes.json"):
        edited = {**record, "plan_files": files}
        edited["proposal_id"] = content_sha256({k: v for k, v in edited.items()
                                                if k != "proposal_id"})  # fmt: skip
        (broken / "proposal.json").write_text(json.dumps(edited))
        with pytest.raises(ProposalError, match="plan_files must list"):
            read_proposal(broken)
    with pytest.raises(ProposalError, match="nope: not a proposal folder"):
        read_proposal(tmp_path / "nope")


def test_an_edited_plan_file_no_longer_carries_the_proposals_provenance(helsinki, tmp_path):
    from twin.api import run_traffic
    from twin.provenance import ProvenanceError
    from twin.signal_proposals import propose_signals

    traffic = {"trips": 600, "duration": "30min", "window": "15min"}
    proposal = propose_signals(helsinki, traffic, method="webster", seed=3)
    folder = tmp_path / "signals"
    folder.mkdir()
    proposal.write_record(folder)
    plans = folder / "plans.csv"
    header = [line for line in plans.read_text().splitlines() if line.startswith("#")]
    table = pd.read_csv(plans, comment="#", dtype={"approaches": str})
    one = table["junction"] == table["junction"].iloc[0]
    table.loc[one, "offset_s"] = (table.loc[one, "offset_s"] + 5) % table.loc[one, "cycle_s"]
    plans.write_text("\n".join(header) + "\n" + table.to_csv(index=False))  # a hand edit
    with pytest.raises(ProvenanceError, match="rows changed since the plan was proposed"):
        read_csv_provenance(plans)
    run = run_traffic(helsinki, {**traffic, "signal_plan": str(plans)}, seed=3)
    made = run.run_info()["plan_provenance"]
    assert made["planner"] == "plan file (edited after it was proposed)" and not made["by_model"]
    # every file a controller or a reader takes from the folder is covered: an edited SUMO
    # program, or an edited checks table, is no longer the proposal that was checked
    whole = proposal.write(tmp_path / "whole")
    for name in ("plans.sumo.xml", "checks.csv"):
        copy = tmp_path / f"edited-{name}"
        shutil.copytree(whole, copy)
        text = (copy / name).read_text()
        (copy / name).write_text(text.replace("0", "1", 1))
        with pytest.raises(ProposalError, match=rf"plan files \(.*{re.escape(name)}.*\) changed"):
            read_proposal(copy)
    assert read_proposal(whole)["plan_files"] == ["plans.csv", "plans.sumo.xml", "checks.csv"]


def test_a_proposals_traffic_inputs_are_its_trips_streets_and_signals():
    """Whether a scenario also runs its traffic on its own (``simulate``) changes no input a
    signal proposal was checked on (an approval made before the field existed stays valid);
    its trips do."""
    simulated = TrafficSpec(trips=300, close=["25291550-25291565"])
    streets_only = simulated.model_copy(update={"simulate": False})
    assert traffic_inputs(simulated) == traffic_inputs(streets_only)
    assert "simulate" not in traffic_inputs(simulated)
    assert traffic_inputs(simulated) != traffic_inputs(simulated.model_copy(update={"trips": 301}))


def test_a_changed_input_is_named_down_to_its_field():
    from twin.proposals import changed_inputs

    then = {"seed": 1, "traffic": {"trips": 2000, "duration": "1h", "close": ["a-b"]}}
    now = {"seed": 1, "traffic": {"trips": 2100, "duration": "1h", "close": ["a-b"]}}
    # not two copies of the section cut off before the field that differs
    assert changed_inputs({"inputs": then}, now) == ["traffic.trips: 2000 when checked, 2100 now"]
    assert changed_inputs({"inputs": then}, {**now, "seed": 2})[0] == "seed: 1 when checked, 2 now"
