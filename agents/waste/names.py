"""The names a waste run is configured by, in a module that imports nothing, so that the
parameter specs (:mod:`twin.specs`) and the CLI can list them without loading the model."""

from __future__ import annotations

__all__ = ["PLANNERS", "POLICIES"]

POLICIES = ("schedule", "threshold", "forecast")
"""Which bins are emptied, and when: fixed weekly rounds, every bin past a fill threshold, or bins
forecast to overflow plus optional ones worth the detour (:mod:`agents.waste.policies`). Who
routes the trucks to them is the planner's business: any policy runs with any planner."""

PLANNERS = ("pyvrp", "greedy", "learned")
"""Who routes the trucks to the bins a policy picks: PyVRP's solver, nearest neighbour, or the
trained model of :mod:`generative` (which the caller passes to the model as ``planner=``)."""
