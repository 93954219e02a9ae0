"""Batched route construction with masks: the rules a learned planner's decoder must obey.

torch + numpy only. A state holds ``B`` instances (×``S`` samples each, flattened into the batch)
being routed at once. Each step every unfinished row picks one action:

- ``0`` (*end the truck*): unload at the disposal site if carrying waste, drive home; the next
  truck starts at the depot (or the plan ends when no truck is left);
- ``1`` (*unload*): drive to the disposal site and empty the truck;
- ``k + 2`` (*empty bin k*).

:meth:`RouteState.mask` allows exactly the actions that keep the plan valid in
:func:`agents.waste.planning.check_plan`'s terms: a bin is allowed when it is unvisited, its load
fits, and the truck could still empty it, drive to the disposal site, unload and get home within
the shift; unloading is allowed with waste on board; ending is allowed unless required bins that
this truck could still serve remain (so required bins are never given up while a truck can reach
them). A row finishes when its last truck ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["END", "UNLOAD", "RouteState", "actions_from_plan", "plans_from_actions"]

END, UNLOAD = 0, 1
_EPS = 1e-6


@dataclass
class RouteState:
    """Routing state of a batch (see the module docstring); build with :meth:`start`."""

    duration: torch.Tensor  # (B, L, L), L = N + 2
    distance: torch.Tensor  # (B, L, L)
    load: torch.Tensor  # (B, N)
    required: torch.Tensor  # (B, N) bool
    service: torch.Tensor  # (B, N)
    capacity: torch.Tensor  # (B,)
    shift: torch.Tensor  # (B,)
    unload_s: torch.Tensor  # (B,)
    trucks_left: torch.Tensor  # (B,) trucks not yet started, the current one excluded
    at: torch.Tensor  # (B,) current location (0 depot, 1 disposal, k + 2 bin k)
    clock: torch.Tensor  # (B,) seconds since the current truck left the depot
    carried: torch.Tensor  # (B,)
    visited: torch.Tensor  # (B, N) bool
    done: torch.Tensor  # (B,) bool
    travelled_m: torch.Tensor  # (B,)

    @classmethod
    def start(cls, batch: dict[str, torch.Tensor], *, samples: int = 1) -> RouteState:
        """A fresh state for every instance of ``batch`` (tensors named as in
        :mod:`generative.data`), each repeated ``samples`` times."""

        def rep(x: torch.Tensor) -> torch.Tensor:
            return x.repeat_interleave(samples, dim=0)

        load = rep(batch["load_kg"]).float()
        capacity = rep(batch["capacity_kg"]).float()
        b = load.shape[0]
        zeros = torch.zeros(b, device=load.device)
        return cls(
            duration=rep(batch["duration_s"]).float(),
            distance=rep(batch["distance_m"]).float(),
            load=torch.minimum(load, capacity[:, None]),
            required=rep(batch["required"]).bool(),
            service=rep(batch["service_s"]).float(),
            capacity=capacity,
            shift=rep(batch["shift_s"]).float(),
            unload_s=rep(batch["unload_s"]).float(),
            trucks_left=rep(batch["n_trucks"]).long() - 1,
            at=torch.zeros(b, dtype=torch.long, device=load.device),
            clock=zeros.clone(),
            carried=zeros.clone(),
            visited=torch.zeros_like(load, dtype=torch.bool),
            done=torch.zeros(b, dtype=torch.bool, device=load.device),
            travelled_m=zeros.clone(),
        )

    def _leg(self, matrix: torch.Tensor, frm: torch.Tensor, to: torch.Tensor) -> torch.Tensor:
        """Entries ``matrix[b, frm[b], to[b, ...]]``; staying put costs nothing."""
        rows = matrix[torch.arange(len(frm), device=frm.device), frm]  # (B, L)
        legs = torch.gather(rows, 1, to if to.dim() == 2 else to[:, None])
        legs = torch.where(to.view_as(legs) == frm[:, None], torch.zeros_like(legs), legs)
        return legs if to.dim() == 2 else legs[:, 0]

    def _finish_from(self, where: torch.Tensor) -> torch.Tensor:
        """Time from each bin location ``where`` (B, K) to the disposal site, unload, home."""
        b = torch.arange(len(where), device=where.device)[:, None]
        home = self.duration[b[:, 0], 1, 0][:, None]
        return self.duration[b, where, 1] + self.unload_s[:, None] + home

    def bins_that_fit(self) -> torch.Tensor:
        """(B, N) bins the current truck can empty next and still unload and get home."""
        n = self.load.shape[1]
        bins = torch.arange(2, n + 2, device=self.load.device).expand(len(self.at), n)
        arrive = self.clock[:, None] + self._leg(self.duration, self.at, bins)
        end = arrive + self.service + self._finish_from(bins)
        fits = (self.carried[:, None] + self.load <= self.capacity[:, None] + _EPS) & (
            end <= self.shift[:, None] + _EPS
        )
        return fits & ~self.visited

    def _fits_after_unload(self) -> torch.Tensor:
        """(B, N) bins the truck could empty after unloading first."""
        n = self.load.shape[1]
        bins = torch.arange(2, n + 2, device=self.load.device).expand(len(self.at), n)
        to_disposal = self._leg(self.duration, self.at, torch.ones_like(self.at))
        t = self.clock + to_disposal + self.unload_s
        leave = torch.ones_like(self.at)
        end = t[:, None] + self._leg(self.duration, leave, bins) + self.service
        end = end + self._finish_from(bins)
        return (end <= self.shift[:, None] + _EPS) & ~self.visited

    def mask(self) -> torch.Tensor:
        """(B, N + 2) allowed actions; finished rows may only 'end' (a no-op)."""
        fits = self.bins_that_fit()
        after_unload = self._fits_after_unload() & (self.carried[:, None] > 0)
        can_unload = (self.carried > 0) & after_unload.any(dim=1)
        reachable_required = (self.required & (fits | after_unload)).any(dim=1)
        can_end = ~reachable_required
        allowed = torch.cat([can_end[:, None], can_unload[:, None], fits], dim=1)
        # a row with nothing allowed ends its truck (never stuck)
        allowed[:, 0] |= ~allowed.any(dim=1)
        allowed[self.done] = False
        allowed[self.done, 0] = True
        return allowed

    def step(self, action: torch.Tensor) -> None:
        """Apply one action per row (see the module docstring)."""
        live = ~self.done
        rows = torch.arange(len(action), device=action.device)
        is_bin = live & (action >= 2)
        is_unload = live & (action == UNLOAD)
        is_end = live & (action == END)
        # to a bin
        target = torch.where(is_bin, action, self.at)
        self.travelled_m += torch.where(is_bin, self._leg(self.distance, self.at, target), 0.0)
        self.clock += torch.where(is_bin, self._leg(self.duration, self.at, target), 0.0)
        k = (action - 2).clamp(min=0)
        self.clock += torch.where(is_bin, self.service[rows, k], 0.0)
        self.carried += torch.where(is_bin, self.load[rows, k], 0.0)
        self.visited[rows[is_bin], k[is_bin]] = True
        self.at = target
        # to the disposal site (to unload, or on the way home with waste on board)
        go_unload = is_unload | (is_end & (self.carried > 0))
        disposal = torch.ones_like(self.at)
        self.travelled_m += torch.where(go_unload, self._leg(self.distance, self.at, disposal), 0.0)
        self.clock += torch.where(
            go_unload, self._leg(self.duration, self.at, disposal) + self.unload_s, 0.0
        )
        self.carried = torch.where(go_unload, torch.zeros_like(self.carried), self.carried)
        self.at = torch.where(go_unload, disposal, self.at)
        # home, and the next truck
        depot = torch.zeros_like(self.at)
        self.travelled_m += torch.where(is_end, self._leg(self.distance, self.at, depot), 0.0)
        self.at = torch.where(is_end, depot, self.at)
        self.clock = torch.where(is_end, torch.zeros_like(self.clock), self.clock)
        self.done |= is_end & (self.trucks_left <= 0)
        self.trucks_left = torch.where(is_end, self.trucks_left - 1, self.trucks_left)


def plans_from_actions(actions: torch.Tensor) -> list[list[list[int]]]:
    """Per row, the routes as lists of planning locations (bins ``k + 2``, ``1`` for unloads,
    every non-empty route closed by an unload when it carried waste), from an action log
    (B, T) of :class:`RouteState` steps. Routes that visit nothing are left out."""
    plans = []
    for row in actions.tolist():
        routes, route = [], []
        for action in row:
            if action == END:
                if route:
                    if route[-1] != UNLOAD:
                        route.append(UNLOAD)
                    routes.append(route)
                route = []
            elif action == UNLOAD:
                if route and route[-1] != UNLOAD:
                    route.append(UNLOAD)
            else:
                route.append(int(action))
        if route:
            routes.append([*route, UNLOAD] if route[-1] != UNLOAD else route)
        plans.append(routes)
    return plans


def actions_from_plan(routes: list[list[int]], n_trucks: int, length: int) -> list[int]:
    """The :class:`RouteState` actions that drive ``routes`` (planning locations, every route
    closed by an unload), one truck after another, then end the unused trucks; padded with
    ``END`` (a no-op once finished) to ``length``. The inverse of :func:`plans_from_actions`."""
    actions: list[int] = []
    for route in routes:
        stops = list(route)
        if stops and stops[-1] == UNLOAD:
            stops = stops[:-1]  # ending the truck unloads on the way home
        actions += [UNLOAD if stop == UNLOAD else int(stop) for stop in stops]
        actions.append(END)
    actions += [END] * (n_trucks - len(routes))
    if len(actions) > length:
        raise ValueError(f"a plan of {len(actions)} actions does not fit {length}")
    return actions + [END] * (length - len(actions))
