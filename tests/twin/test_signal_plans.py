"""Signal proposals through every door: the API, plan files, SUMO XML, scenarios and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agents.traffic.signals import default_plans
from agents.traffic.timing import SignalPlanError, check_plans
from tests.conftest import flat, run_twin
from twin.api import run_traffic
from twin.field_docs import write_field_documents
from twin.proposals import ProposalError, decide, read_proposal, scenario_inputs
from twin.provenance import read_csv_provenance
from twin.scenario import ScenarioError, load_scenario
from twin.signal_files import plan_table, read_plan_file
from twin.signal_proposals import propose_signals
from twin.sumo import read_sumo_links, sumo_programs_xml

TRAFFIC = {"trips": 1500, "duration": "1h", "window": "30min"}


@pytest.fixture(scope="module")
def proposal(helsinki):
    return propose_signals(helsinki, TRAFFIC, method="webster", seed=2)


@pytest.fixture(scope="module")
def written(proposal, tmp_path_factory):
    out = tmp_path_factory.mktemp("proposal") / "plans"
    proposal.write(out)
    return out


def test_a_proposal_is_checked_against_the_current_plans(proposal, helsinki):
    checks = proposal.checks.set_index("demand_scale")
    assert list(checks.index) == [0.8, 1.0, 1.2]
    # the current plans' figures at the scenario's demand are those of an ordinary run
    run = run_traffic(helsinki, TRAFFIC, seed=2)
    assert checks.loc[1.0, "current_trips"] == run.kpis["trips"]
    assert checks.loc[1.0, "current_trips_unfinished"] == run.kpis["trips_unfinished"]
    if run.kpis["trips_unfinished"] == 0:
        assert checks.loc[1.0, "current_total_delay_veh_h"] == pytest.approx(
            run.kpis["total_delay_veh_h"]
        )
    # more demand, more trips, for both plans alike
    assert checks.loc[0.8, "current_trips"] < checks.loc[1.0, "current_trips"]
    assert checks.loc[1.2, "current_trips"] > checks.loc[1.0, "current_trips"]
    assert (checks["current_trips"] == checks["proposed_trips"]).all()
    # the verdict follows the checks
    gains = checks["proposed_total_delay_veh_h"] <= checks["current_total_delay_veh_h"]
    finished = checks["proposed_trips_unfinished"] <= checks["current_trips_unfinished"]
    assert proposal.accepted == bool(gains.all() and finished.all()) and not proposal.reasons
    check_plans(proposal.plans, helsinki.network)


def test_a_written_plan_file_runs_as_a_scenario(proposal, written, helsinki, tmp_path):
    assert sorted(p.name for p in written.iterdir()) == [
        ".twin-output.json", "checks.csv", "plans.csv", "plans.sumo.xml", "proposal.json", "sumo",
    ]  # fmt: skip
    table = pd.read_csv(written / "plans.csv", comment="#")
    assert set(table["junction"]) == {
        int(helsinki.network.node_osmid[n]) for n in default_plans(helsinki.network)
    }
    plans = read_plan_file(written / "plans.csv", helsinki.network, default_plans(helsinki.network))
    # the file holds the very plans that were checked (they are checked as the file rounds
    # them): greens, offsets and so cycles alike
    for node, plan in proposal.plans.items():
        assert [p.green_s for p in plans[node].phases] == [p.green_s for p in plan.phases]
        assert plans[node].offset_s == plan.offset_s
        assert plans[node].cycle_s == pytest.approx(plan.cycle_s, abs=1e-9)
    # a scenario naming the file runs the proposal: its delay is the check's, to the last digit
    # (with the plans rounded after the checks it was 5 % off)
    run = run_traffic(helsinki, {**TRAFFIC, "signal_plan": str(written / "plans.csv")}, seed=2)
    expected = proposal.checks.set_index("demand_scale").loc[1.0, "proposed_total_delay_veh_h"]
    assert run.kpis["total_delay_veh_h"] == expected


def test_a_signal_proposal_is_a_record_a_planner_decides_on(proposal, written, tmp_path):
    record = read_proposal(written)
    assert record["kind"] == "signal-plans" and record["recommended"] == proposal.accepted
    assert record["provenance"] == proposal.provenance.to_dict()
    assert "webster (no model)" in record["label"] and not record["provenance"]["by_model"]
    # the plan file carries the provenance; a scenario still reads it
    assert read_csv_provenance(written / "plans.csv").to_dict() == record["provenance"]
    # the checks are the proposal's, figure for figure
    checks = pd.DataFrame(record["checks"])
    pd.testing.assert_frame_equal(checks, proposal.checks, check_dtype=False)
    scenario = tmp_path / "peak.yaml"
    scenario.write_text(yaml.safe_dump({"name": "peak", "city": "helsinki", "seed": 2,
                                        "traffic": TRAFFIC}))  # fmt: skip
    now = scenario_inputs(record, load_scenario(scenario), proposal.city)
    if not proposal.accepted:
        with pytest.raises(ProposalError, match="not recommended"):
            decide(written, scenario, decision="approved", comment="", by="ana")
        return
    busier = scenario_inputs(
        record, load_scenario(scenario).model_copy(update={"seed": 3}), proposal.city
    )
    with pytest.raises(ProposalError, match="seed: 2 when checked, 3 now"):
        decide(written, scenario, decision="approved", comment="", by="ana", current_inputs=busier)
    decide(written, scenario, decision="approved", comment="peak only", by="ana",
           current_inputs=now)  # fmt: skip
    docs = write_field_documents(written, scenario, tmp_path / "docs", city=proposal.city)
    timings = pd.read_csv(docs / "timings.csv", comment="#")
    assert timings.equals(pd.read_csv(written / "plans.csv", comment="#"))
    assert read_csv_provenance(docs / "timings.csv").to_dict() == record["provenance"]
    sheet = (docs / "timings.md").read_text()
    assert "Approved by ana" in sheet and record["provenance"]["id"] in sheet
    assert sheet.count("## Junction") == len(proposal.plans)
    # what a crew reads: each junction's greens and intergreens add up to its cycle, and no
    # "nan" where a phase serves no approach
    assert not re.search(r"\bnan\b", sheet)
    for block in sheet.split("## Junction ")[1:]:
        cycle = float(block.split("cycle ")[1].split(" s")[0])
        rows = [line.split("|")[2:4] for line in block.splitlines() if line.startswith("| ")][1:]
        assert sum(float(g) + float(i) for g, i in rows) == pytest.approx(cycle, abs=1.0)


def test_webster_in_a_scenario_is_the_proposal(proposal, helsinki):
    run = run_traffic(helsinki, {**TRAFFIC, "signal_plan": "webster"}, seed=2)
    expected = proposal.checks.set_index("demand_scale").loc[1.0]
    assert run.kpis["trips_unfinished"] == expected["proposed_trips_unfinished"]
    if run.kpis["trips_unfinished"] == 0:
        assert run.kpis["total_delay_veh_h"] == pytest.approx(
            expected["proposed_total_delay_veh_h"]
        )


def test_approach_programs_time_each_junction_as_its_plan(proposal, helsinki):
    """Without a SUMO network: one letter per approach, each green in exactly one phase."""
    network = helsinki.network
    root = ET.fromstring(sumo_programs_xml(network, proposal.plans))
    assert root.tag == "additional"
    logics = {int(logic.get("id")): logic for logic in root.iter("tlLogic")}
    by_osm = {int(network.node_osmid[n]): plan for n, plan in proposal.plans.items()}
    assert set(logics) == set(by_osm)
    for osm_id, logic in logics.items():
        plan = by_osm[osm_id]
        phases = logic.findall("phase")
        assert sum(float(p.get("duration")) for p in phases) == pytest.approx(plan.cycle_s, abs=0.2)
        approaches = logic.find("param[@key='approaches']").get("value").split()
        assert all(len(p.get("state")) == max(len(approaches), 1) for p in phases)
        greens = [p.get("state") for p in phases if "G" in p.get("state")]
        assert sorted(i for s in greens for i, c in enumerate(s) if c == "G") == list(
            range(len(approaches))
        )


def _sumo() -> str:
    """SUMO's ``sumo`` binary (the ``eclipse-sumo`` package); CI installs it, elsewhere the
    test is skipped without it."""
    try:
        import sumo
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("eclipse-sumo is not installed in CI (.ci/run installs the sumo extra)")
        pytest.skip("eclipse-sumo not installed (pip install -e '.[sumo]')")
    return str(Path(sumo.SUMO_HOME) / "bin" / "sumo")


def test_the_plans_run_in_sumo_on_the_twins_network(proposal, written, helsinki):
    """SUMO itself builds the twin's network (netconvert) and runs the plans: every light's
    program has a letter per link of that light, and each approach's links are green exactly in
    the phases that serve it."""
    binary = _sumo()
    net = written / "sumo" / "network.net.xml"
    assert net.is_file()
    ran = subprocess.run(
        [binary, "-n", str(net), "-a", str(written / "plans.sumo.xml"), "--end", "120",
         "--no-step-log"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Error" not in ran.stderr and "Unsafe green" not in ran.stderr
    links = read_sumo_links(net)
    network = helsinki.network
    ids = network.node_osmid
    by_osm = {int(ids[n]): plan for n, plan in proposal.plans.items()}
    logics = {
        logic.get("id"): logic for logic in ET.parse(written / "plans.sumo.xml").iter("tlLogic")
    }
    assert set(logics) == {str(osm) for osm in by_osm}
    for tl, logic in logics.items():
        plan = by_osm[int(tl)]
        states = [p.get("state") for p in logic.findall("phase") if p.get("name")]
        assert all(len(s) == len(links[tl]) for s in states)
        pairs = [
            {f"{int(ids[network.edge_u[e]])}-{int(ids[network.edge_v[e]])}" for e in p.approaches}
            for p in plan.phases
        ]
        for (_, start, end, _), *letters in zip(links[tl], *states, strict=True):
            in_phase = [f"{start}-{end}" in served for served in pairs]
            if any(in_phase):
                assert [c in "Gg" for c in letters] == in_phase
            else:  # a link of no timed approach (inside a large junction): never stopped
                assert set(letters) == {"O"}


def _plan_file(tmp_path, table: pd.DataFrame):
    path = tmp_path / "plan.csv"
    table.to_csv(path, index=False)
    return path


def test_bad_plan_files_name_each_junction_and_write_nothing(helsinki, tmp_path):
    network = helsinki.network
    current = default_plans(network)
    table = plan_table(network, current)
    junctions = list(dict.fromkeys(table["junction"]))
    bad = table.copy()
    bad.loc[bad["junction"] == junctions[0], "green_s"] = [2.0, 40.0]  # below the minimum
    bad.loc[bad["junction"] == junctions[1], "green_s"] = [100.0, 90.0]  # cycle over 120 s
    bad.loc[bad["junction"] == junctions[2], "cycle_s"] = 999  # disagrees with its greens
    bad = bad.drop(bad.index[(bad["junction"] == junctions[3]) & (bad["phase"] == 2)])
    unknown = bad.iloc[[0]].assign(junction=123456789)
    plain = int(network.node_osmid[np.flatnonzero(~network.node_signalized)[0]])
    unsignalized = bad.iloc[[0]].assign(junction=plain)
    bad = pd.concat([bad, unknown, unsignalized])
    bad["cycle_s"] = bad["cycle_s"].where(bad["junction"] == junctions[2])
    with pytest.raises(SignalPlanError) as caught:
        read_plan_file(_plan_file(tmp_path, bad), network, current)
    message = str(caught.value)
    assert f"junction {junctions[2]}: cycle_s 999 s" in message
    assert f"junction {junctions[3]}: phases [1] but the junction runs 2" in message
    assert "junction 123456789: not a signalized junction" in message
    assert f"junction {plain}: not a signalized junction" in message
    # the timing limits are checked once the rows are read
    timing = table.copy()
    timing.loc[timing["junction"] == junctions[0], "green_s"] = [2.0, 40.0]
    timing.loc[timing["junction"] == junctions[1], "green_s"] = [100.0, 90.0]
    timing = timing.drop(columns="cycle_s")
    with pytest.raises(SignalPlanError) as caught:
        read_plan_file(_plan_file(tmp_path, timing), network, current)
    lines = str(caught.value).splitlines()
    assert any(f"junction {junctions[0]}: phase 1 has 2 s of green" in x for x in lines)
    assert any(f"junction {junctions[1]}: cycle 198.0 s is over the maximum" in x for x in lines)
    # not a plan file at all
    (tmp_path / "x.csv").write_bytes(b"\x00\xff garbage")
    with pytest.raises(SignalPlanError, match=r"x\.csv"):
        read_plan_file(tmp_path / "x.csv", network, current)
    (tmp_path / "y.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SignalPlanError, match=r"lacks column\(s\) \['green_s', 'junction'"):
        read_plan_file(tmp_path / "y.csv", network, current)
    # a header alone: once the current plans, run as if retimed
    (tmp_path / "z.csv").write_text("junction,phase,green_s,offset_s\n")
    with pytest.raises(SignalPlanError, match=r"z\.csv: has no rows: give one row per phase"):
        read_plan_file(tmp_path / "z.csv", network, current)


def test_a_scenarios_retimings_are_held_to_the_limits_a_plan_file_is(helsinki):
    """Junction 25291537 is a crossing: road traffic, then a pedestrian phase of 20 s
    (:data:`agents.traffic.signals.PEDESTRIAN_PHASE_S`). A retiming at its least greens runs; a
    tenth of a second less, a cycle over 120 s or an offset outside the cycle is refused."""
    from agents.traffic.signals import PEDESTRIAN_PHASE_S
    from twin.api import least_greens, retimed_signals

    network = helsinki.network
    node = 25291537
    least = least_greens(network)
    assert least[node] == [7.0, PEDESTRIAN_PHASE_S]
    assert set(least) == {int(network.node_osmid[n]) for n in default_plans(network)}
    position = int(network.node_index([node])[0])
    assert retimed_signals(network, [(node, least[node], 0.0)])[position].cycle_s > 0
    refusals = {
        "below the pedestrian minimum of 20 s": [(node, [7.0, 19.9], 0.0)],
        "below the vehicle minimum of 7 s": [(node, [6.9, 20.0], 0.0)],
        "over the maximum of 120 s: shorten its greens": [(node, [100.0, 20.0], 0.0)],
        "outside its cycle": [(node, [40.0, 20.0], 500.0)],
    }
    for words, signals in refusals.items():
        with pytest.raises(SignalPlanError, match=f"junction {node}: .*{re.escape(words)}"):
            retimed_signals(network, signals)


def test_a_misspelt_plan_name_says_which_names_there_are(helsinki):
    from twin.errors import TwinError

    for name in ("webstr", "Webster"):
        with pytest.raises(TwinError, match="one of default, webster, learned, or a plan file"):
            run_traffic(helsinki, trips=10, duration="5min", signal_plan=name)


def test_a_bad_plan_file_stops_a_run_before_it_writes(helsinki, tmp_path):
    table = plan_table(helsinki.network, default_plans(helsinki.network))
    table.loc[0, "green_s"] = 1.0
    path = _plan_file(tmp_path, table.drop(columns="cycle_s"))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {"name": "s", "city": "helsinki", "traffic": {**TRAFFIC, "signal_plan": path.name}}
        )
    )
    with ThreadPoolExecutor(max_workers=2) as pool:  # both commands at once
        result = pool.submit(run_twin, "run", str(scenario), "--out", str(tmp_path / "out"))
        check = pool.submit(run_twin, "scenario", "check", str(scenario))
    result, check = result.result(), check.result()
    assert result.returncode == 1, result.stderr
    assert "traffic.signal_plan: plan.csv: junction" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert check.returncode == 1 and "s.yaml:" in check.stderr and "phase 1 has 1 s" in check.stderr


def test_propose_signals_refuses_bad_requests(helsinki):
    with pytest.raises(Exception, match="method: 'annealing' is not one of webster, search"):
        propose_signals(helsinki, TRAFFIC, method="annealing")
    with pytest.raises(Exception, match="simulations: must be a whole number"):
        propose_signals(helsinki, TRAFFIC, method="search", simulations=0)
    with pytest.raises(ScenarioError, match=r"traffic\.trips"):
        propose_signals(helsinki, {"trips": -1})
    with pytest.raises(Exception, match="no signalized junctions"):
        propose_signals("kotka", TRAFFIC)


def test_the_cli_proposes_searches_and_writes(tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:  # the commands two at a time
        result = pool.submit(
            run_twin, "propose-signals", "helsinki", "--method", "search", "--simulations", "6",
            "--trips", "1500", "--duration", "1h", "--window", "30min", "--seed", "2", "--json",
            "--out", str(tmp_path / "plans"),
        )  # fmt: skip
        webster = pool.submit(
            run_twin, "propose-signals", "helsinki", "--trips", "1500", "--duration", "1h",
            "--window", "30min", "--seed", "2", "--json",
        )  # fmt: skip
        refused = pool.submit(
            run_twin, "propose-signals", "helsinki", "--method", "search", "--simulations", "lots"
        )
        # an option of another method, once ignored without a word
        ignored = pool.submit(run_twin, "propose-signals", "helsinki", "--polish", "5")
        # a SUMO network with none of the city's junctions, once an empty plans.sumo.xml
        other_net = tmp_path / "other.net.xml"
        other_net.write_text('<net><edge id="a" from="1" to="2"/><connection from="a" to="b" '
                             'tl="x" linkIndex="0" dir="s"/></net>')  # fmt: skip
        elsewhere = pool.submit(
            run_twin, "propose-signals", "helsinki", "--trips", "200", "--duration", "10min",
            "--sumo-net", str(other_net), "--out", str(tmp_path / "elsewhere"),
        )  # fmt: skip
    result, webster, refused = result.result(), webster.result(), refused.result()
    ignored, elsewhere = ignored.result(), elsewhere.result()
    assert ignored.returncode == 1 and ignored.stderr.strip() == (
        "error: --polish is read by method learned, not 'webster': drop it, or choose --method "
        "learned."
    )
    assert elsewhere.returncode == 1 and "none of the 63 timed junctions has a traffic light " \
        "in the SUMO network" in flat(elsewhere.stderr)  # fmt: skip
    assert not (tmp_path / "elsewhere").exists()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["method"] == "search" and report["junctions"] == 63
    assert len(report["checks"]) == 3 and report["plans"]
    assert (tmp_path / "plans" / "plans.sumo.xml").is_file()
    # the search starts from Webster's plans and never returns worse on the scenario's trips
    at_demand = lambda r: next(c for c in r["checks"] if c["demand_scale"] == 1.0)  # noqa: E731
    assert (
        at_demand(report)["proposed_total_delay_veh_h"]
        <= at_demand(json.loads(webster.stdout))["proposed_total_delay_veh_h"]
    )
    assert refused.returncode != 0 and "simulations: must be a whole number" in refused.stderr


def test_the_learned_planner_proposes_in_one_pass(helsinki):
    proposal = propose_signals(helsinki, TRAFFIC, method="learned", seed=2)
    # the two plans at three demands; the current plans' run at the scenario's demand also
    # gave the flows
    assert proposal.simulations == 2 * 3
    check_plans(proposal.plans, helsinki.network)
    # in a scenario, the same plans: the same delay as the proposal's check
    run = run_traffic(helsinki, {**TRAFFIC, "signal_plan": "learned"}, seed=2)
    expected = proposal.checks.set_index("demand_scale").loc[1.0]
    assert run.kpis["trips_unfinished"] == expected["proposed_trips_unfinished"]
    if run.kpis["trips_unfinished"] == 0:
        assert run.kpis["total_delay_veh_h"] == pytest.approx(
            expected["proposed_total_delay_veh_h"]
        )


def test_a_checkpoint_of_another_kind_is_refused_in_one_line(tmp_path):
    from generative.propose import GENERAL_CHECKPOINT

    result = run_twin(
        "propose-signals", "helsinki", "--method", "learned", "--checkpoint",
        str(GENERAL_CHECKPOINT),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "not a signal planner checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
