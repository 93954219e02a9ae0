"""Mesa agents of the waste twin: collection trucks (and read-only views of bins).

A truck drives the route its planner gave it through the day's real state: bins may hold more
or less than planned (fixed rounds plan with mean fill), so a truck unloads early when full, and
skips a stop it could no longer finish within its shift (and still unload and get back to the
depot, straight away or along the rest of its route). Bins live in the model's arrays;
:class:`BinAgent` is a view of one row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.waste.planning import DEPOT, DISPOSAL

if TYPE_CHECKING:
    from agents.waste.model import WasteModel

__all__ = ["BinAgent", "Leg", "TruckAgent", "TruckDay"]

_FIRST_BIN = 2


@dataclass(frozen=True)
class Leg:
    """One drive between two locations (model location indices), leaving at ``depart_s``
    (seconds after the shift start)."""

    origin: int
    destination: int
    depart_s: float
    duration_s: float
    distance_m: float


@dataclass
class TruckDay:
    """What one truck did on one day."""

    truck: int
    day: int
    legs: list[Leg] = field(default_factory=list)
    emptied: list[int] = field(default_factory=list)  # bin indices, in order
    emptied_kg: list[float] = field(default_factory=list)
    fill_share: list[float] = field(default_factory=list)  # each bin's fill share when emptied
    skipped: list[int] = field(default_factory=list)  # planned bins left for lack of time
    unloads_kg: list[float] = field(default_factory=list)
    extra_unloads: int = 0  # unloads the plan did not foresee (the truck filled up early)
    duration_s: float = 0.0

    @property
    def distance_m(self) -> float:
        return float(sum(leg.distance_m for leg in self.legs))

    @property
    def collected_kg(self) -> float:
        return float(sum(self.unloads_kg))


class TruckAgent(mesa.Agent):
    """A collection truck: capacity, shift, and the day's route driven through the real bins."""

    model: WasteModel

    def __init__(self, model: WasteModel, truck: int) -> None:
        super().__init__(model)
        self.truck = int(truck)
        self.load_kg = 0.0
        self.location = DEPOT
        self.clock_s = 0.0
        self.today: TruckDay | None = None

    # ------------------------------------------------------------------ driving
    def _drive(self, to: int) -> None:
        model = self.model
        duration, distance = model.leg(self.location, to, self.clock_s)
        self.today.legs.append(Leg(self.location, to, self.clock_s, duration, distance))
        self.clock_s += duration
        self.location = to

    def _unload(self) -> None:
        if self.location != DISPOSAL:
            self._drive(DISPOSAL)
        self.clock_s += self.model.config.unload_s
        self.today.unloads_kg.append(self.load_kg)
        self.model.deliver(self.load_kg)
        self.load_kg = 0.0

    def _can_finish_after(
        self, stop: int, service_s: float, rest: np.ndarray | None = None
    ) -> bool:
        """Whether emptying ``stop`` next still leaves time to unload and get back: straight
        to the disposal site from it, or along the ``rest`` of the route as planned.

        The second counts where times change during the shift: leaving a stop in a jam, the
        straight way back can take longer than the planned way, whose legs are driven after
        the jam has cleared (with fixed times the straight way is never the slower)."""
        model = self.model
        shift_s = model.config.shift_s + 1e-6
        t = self.clock_s
        t += model.leg(self.location, stop, t)[0] + service_s
        back = t + model.leg(stop, DISPOSAL, t)[0] + model.config.unload_s
        if back + model.leg(DISPOSAL, DEPOT, back)[0] <= shift_s:
            return True
        if rest is None:
            return False
        stops = rest.tolist()
        if not stops or stops[-1] != DISPOSAL:
            stops.append(DISPOSAL)  # the load goes to the disposal site before home
        return model.back_at_depot_s(stops, at=stop, clock_s=t) <= shift_s

    def drive(self, route: np.ndarray, day: int) -> TruckDay:
        """Drive ``route`` (planning locations: bins as model bin index + 2, and DISPOSAL) today."""
        model, config = self.model, self.model.config
        self.today = TruckDay(truck=self.truck, day=day)
        self.location, self.clock_s, self.load_kg = DEPOT, 0.0, 0.0
        route = np.asarray(route, dtype=np.int64)
        for position, stop in enumerate(route):
            if stop == DISPOSAL:
                if self.load_kg > 0:
                    self._unload()
                continue
            b = int(stop) - _FIRST_BIN
            service = float(model.service_s[b])
            fill = float(model.fill_kg[b])
            if self.load_kg > 0 and self.load_kg + fill > config.truck_capacity_kg:
                # fuller than planned: unload first, as a crew would
                if not self._can_finish_after(DISPOSAL, 0.0):
                    self.today.skipped.append(b)
                    continue
                self._unload()
                self.today.extra_unloads += 1
            if not self._can_finish_after(int(stop), service, route[position + 1 :]):
                self.today.skipped.append(b)
                continue
            self._drive(int(stop))
            self.clock_s += service
            taken = min(fill, config.truck_capacity_kg - self.load_kg)
            model.empty_bin(b, taken)
            self.load_kg += taken
            self.today.emptied.append(b)
            self.today.emptied_kg.append(taken)
            self.today.fill_share.append(fill / float(model.bins.capacity_kg[b]))
        if self.load_kg > 0:
            self._unload()
        if self.location != DEPOT:
            self._drive(DEPOT)
        self.today.duration_s = self.clock_s
        return self.today


class BinAgent(mesa.Agent):
    """One bin: a view of its row in the model's arrays."""

    model: WasteModel

    def __init__(self, model: WasteModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @property
    def fill_kg(self) -> float:
        return float(self.model.fill_kg[self.index])

    @property
    def fill_share(self) -> float:
        return self.fill_kg / float(self.model.bins.capacity_kg[self.index])
