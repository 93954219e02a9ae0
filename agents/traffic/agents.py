"""Mesa agents of the traffic twin: vehicles and signal controllers.

Agents give identity, behaviour hooks and data access; their state lives in the engine's arrays
(:mod:`agents.traffic.engine`), so a thousand agents or a million array rows move at the same
per-step cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.traffic.engine import ARRIVED, PLANNED, RUNNING

if TYPE_CHECKING:
    from agents.traffic.model import TrafficModel
    from agents.traffic.signals import SignalPlan

__all__ = ["SignalAgent", "VehicleAgent"]

_STATE_NAMES = {PLANNED: "planned", RUNNING: "running", ARRIVED: "arrived"}


class VehicleAgent(mesa.Agent):
    """One vehicle: a view of its row in the engine's arrays.

    Attributes
    ----------
    vehicle
        Row of this vehicle in the engine.
    kind
        ``"car"`` for background traffic, or what injected it (``"truck"``, …).
    """

    model: TrafficModel

    def __init__(self, model: TrafficModel, vehicle: int, kind: str = "car") -> None:
        super().__init__(model)
        self.vehicle = int(vehicle)
        self.kind = kind

    @property
    def state(self) -> str:
        """``planned`` (not yet departed or waiting at its origin), ``running`` or ``arrived``."""
        return _STATE_NAMES[int(self.model.engine.state[self.vehicle])]

    @property
    def edge(self) -> int | None:
        """Edge position the vehicle is on, if running."""
        link = int(self.model.engine.link[self.vehicle])
        return None if link < 0 else link

    @property
    def travel_time_s(self) -> float | None:
        """Departure to arrival, once arrived."""
        engine = self.model.engine
        arrive = engine.arrive[self.vehicle]
        return None if np.isnan(arrive) else float(arrive - engine.depart[self.vehicle])

    @property
    def distance_m(self) -> float:
        """Length of the links completed so far."""
        return float(self.model.engine.distance[self.vehicle])


class SignalAgent(mesa.Agent):
    """The fixed-time controller of one signalized junction; its plan can be replaced."""

    model: TrafficModel

    def __init__(self, model: TrafficModel, plan: SignalPlan) -> None:
        super().__init__(model)
        self.plan = plan

    @property
    def node(self) -> int:
        return self.plan.node

    def set_plan(self, plan: SignalPlan) -> None:
        """Replace the plan; it takes effect at the next step."""
        if plan.node != self.plan.node:
            raise ValueError(f"plan is for node {plan.node}, this signal is node {self.plan.node}")
        self.plan = plan
        self.model.signals_changed()

    def queued(self) -> int:
        """Vehicles waiting on this junction's approaches."""
        approaches = [e for phase in self.plan.phases for e in phase.approaches]
        return int(self.model.engine.queued()[approaches].sum())
