"""The names a waste run is configured by, in a module that imports nothing, so that the
parameter specs (:mod:`twin.specs`) and the CLI can list them without loading the model."""

from __future__ import annotations

__all__ = ["BASELINES", "GIVEN_ROUTES", "PLANNERS", "PLAN_TIMES", "POLICIES"]

POLICIES = ("schedule", "hand-drawn", "current", "threshold", "forecast")
"""Which bins are emptied, and when: fixed weekly rounds (routed by the planner, or drawn by hand
street by street), the city's own rounds as imported, every bin past a fill threshold, or bins
forecast to overflow plus optional ones worth the detour (:mod:`agents.waste.policies`). Who
routes the trucks to them is the planner's business: any policy but ``hand-drawn`` and
``current`` (whose routes are given) runs with any planner."""

GIVEN_ROUTES = ("hand-drawn", "current")
"""Policies whose routes are given, not planned: the planner and objective do not apply."""

BASELINES = ("current", "hand-drawn", "schedule")
"""Policies a city's results are reported against: its own rounds where it has them, else rounds
drawn by hand, and the same rounds optimized (both shown, never one for the other)."""

PLAN_TIMES = ("time-of-day", "free-flow")
"""Travel times a day is planned on: those of the hours the trucks drive (from the traffic twin,
where a run has them), or free-flow times (what a plan made without traffic data assumes)."""

PLANNERS = ("pyvrp", "greedy", "learned")
"""Who routes the trucks to the bins a policy picks: PyVRP's solver, nearest neighbour, or the
trained model of :mod:`generative` (which the caller passes to the model as ``planner=``)."""
