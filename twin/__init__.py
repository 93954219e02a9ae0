"""CitiVerse Twin: a local digital twin of a city's traffic and waste collection.

The public API is importable from here (``from twin import load_city``); names load lazily so
that ``import twin.errors`` stays cheap. ``twin`` is the top layer: it composes the city model
(:mod:`cities`), the simulations (:mod:`agents`) and the learned planner (:mod:`generative`);
the dashboard (:mod:`dashboards`) uses only the names listed here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.2.0"

_PUBLIC = {
    # the city model (cities/)
    "City": "cities.city",
    "load_city": "cities.city",
    "RoadNetwork": "cities.network",
    "ROAD_CLASS_NAMES": "cities.network",
    "Router": "cities.routing",
    "Routes": "cities.routing",
    "CityContext": "cities.context",
    "peak_hour_demand": "cities.peak_demand",
    # errors and units
    "TwinError": "twin.errors",
    "USER_ERRORS": "twin.errors",
    "parse_duration": "twin.units",
    # scenarios: the parameter objects
    "Scenario": "twin.scenario",
    "ScenarioError": "twin.scenario",
    "TrafficSpec": "twin.scenario",
    "WasteSpec": "twin.scenario",
    "load_scenario": "twin.scenario",
    # runs
    "Twin": "twin.api",
    "ScenarioRun": "twin.api",
    "compare": "twin.api",
    "run_scenario": "twin.api",
    "check_scenario_in_city": "twin.api",
    "check_signal_timings": "twin.api",
    "run_traffic": "twin.api",
    "run_waste": "twin.api",
    "signal_plans": "twin.api",
    "least_greens": "twin.api",
    "retimed_signals": "twin.api",
    "waste_layout": "twin.api",
    "WasteLayout": "twin.api",
    # signal plans: proposals checked in the twin, plan files
    "propose_signals": "twin.signal_proposals",
    "SIGNAL_METHODS": "twin.signal_proposals",
    "MAX_SIMULATIONS": "twin.signal_proposals",
    "SignalProposal": "twin.signal_proposals",
    "SignalPlanError": "agents.traffic.timing",
    "TimingLimits": "agents.traffic.timing",
    "read_plan_file": "twin.signal_files",
    "plan_table": "twin.signal_files",
    # trustworthy AI: provenance, checked proposals, the planner's decisions, field documents
    "Provenance": "twin.provenance",
    "MODEL_LABEL": "twin.provenance",
    "model_label": "twin.provenance",
    "check_in_twin": "twin.learned_check",
    "TwinCheck": "twin.learned_check",
    "RouteProposal": "twin.route_proposals",
    "propose_routes": "twin.route_proposals",
    "ProposalError": "twin.proposals",
    "read_proposal": "twin.proposals",
    "decide": "twin.proposals",
    "approved_decision": "twin.proposals",
    "scenario_inputs": "twin.proposals",
    "traffic_inputs": "twin.proposals",
    "AuditError": "twin.audit",
    "audit_path": "twin.audit",
    "check_decision": "twin.audit",
    "read_audit": "twin.audit",
    "write_field_documents": "twin.field_docs",
    "read_model_card": "generative.model_card",
    "learned_checkpoint": "twin.api",
    "against_baseline": "twin.api",
    "OUTPUT_MARKER": "twin.results_io",
    "read_rounds": "twin.rounds",
    "write_rounds": "twin.rounds",
    "RoundsFileError": "twin.rounds",
    "model_card_markdown": "twin.api",
    "ModelCardError": "generative.model_card",
    # what the dashboard's forms and KPI cards report, in the twin's own words
    "error_lines": "twin.specs",
    "short_repr": "twin.specs",
    "SIGNAL_PLAN_NAMES": "twin.specs",
    "MAX_SEED": "twin.specs",
    "traffic_warnings": "agents.kpis",
    "UNFINISHED_WARNING_SHARE": "agents.kpis",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'twin' has no attribute {name!r}")
