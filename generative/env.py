"""Batched route construction with masks: the rules a learned planner's decoder must obey.

torch + numpy only. A state holds ``I`` instances × ``S`` samples each, flattened into ``B`` rows
(an instance's samples next to each other) being routed at once; the travel matrices are held
once per instance. Each step every unfinished row picks one action:

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

__all__ = [
    "END",
    "UNLOAD",
    "RouteState",
    "action_limit",
    "actions_from_plan",
    "plans_from_actions",
]

END, UNLOAD = 0, 1
_EPS = 1e-6


@dataclass
class RouteState:
    """Routing state of a batch (see the module docstring); build with :meth:`start`."""

    duration: torch.Tensor  # (I, L, L), L = N + 2, one per instance: samples share it
    distance: torch.Tensor  # (I, L, L)
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
    # fixed while a plan is built, computed once by start()
    rows: torch.Tensor  # (B,) 0 … B − 1, to index one entry per row
    instance: torch.Tensor  # (B,) each row's instance, to index the shared matrices
    finish_s: torch.Tensor  # (B, N) from each bin: to the disposal site, unload, home
    from_disposal_s: torch.Tensor  # (B, N) from the disposal site to each bin

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
        duration, distance = _stay_free(batch["duration_s"]), _stay_free(batch["distance_m"])
        unload_s = batch["unload_s"].float()
        # the parts of every bin's time check that do not change while a plan is built:
        # computed once per instance, not at every step of every sample
        finish = duration[:, 2:, 1] + unload_s[:, None] + duration[:, 1, 0][:, None]
        return cls(
            duration=duration,
            distance=distance,
            load=torch.minimum(load, capacity[:, None]),
            required=rep(batch["required"]).bool(),
            service=rep(batch["service_s"]).float(),
            capacity=capacity,
            shift=rep(batch["shift_s"]).float(),
            unload_s=rep(unload_s),
            trucks_left=rep(batch["n_trucks"]).long() - 1,
            at=torch.zeros(b, dtype=torch.long, device=load.device),
            clock=zeros.clone(),
            carried=zeros.clone(),
            visited=torch.zeros_like(load, dtype=torch.bool),
            done=torch.zeros(b, dtype=torch.bool, device=load.device),
            travelled_m=zeros.clone(),
            rows=torch.arange(b, device=load.device),
            instance=rep(torch.arange(len(duration), device=load.device)),
            finish_s=rep(finish),
            from_disposal_s=rep(duration[:, 1, 2:]),
        )

    def here(self, matrix: torch.Tensor) -> torch.Tensor:
        """(B, L): the row of ``matrix`` (``duration`` or ``distance``) from where each row is."""
        return matrix[self.instance, self.at]

    def bins_that_fit(self, from_here: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) bins the current truck can empty next and still unload and get home;
        ``from_here`` is :meth:`here` of ``duration`` when the caller has it."""
        from_here = self.here(self.duration) if from_here is None else from_here
        arrive = self.clock[:, None] + from_here[:, 2:]
        end = arrive + self.service + self.finish_s
        fits = (self.carried[:, None] + self.load <= self.capacity[:, None] + _EPS) & (
            end <= self.shift[:, None] + _EPS
        )
        return fits & ~self.visited

    def _fits_after_unload(self, from_here: torch.Tensor) -> torch.Tensor:
        """(B, N) bins the truck could empty after unloading first."""
        t = self.clock + from_here[:, 1] + self.unload_s
        end = t[:, None] + self.from_disposal_s + self.service
        end = end + self.finish_s
        return (end <= self.shift[:, None] + _EPS) & ~self.visited

    def mask(self) -> torch.Tensor:
        """(B, N + 2) allowed actions; finished rows may only 'end' (a no-op)."""
        from_here = self.here(self.duration)
        fits = self.bins_that_fit(from_here)
        after_unload = self._fits_after_unload(from_here) & (self.carried[:, None] > 0)
        can_unload = (self.carried > 0) & _any(after_unload)
        reachable_required = _any(self.required & (fits | after_unload))
        # a row with nothing allowed ends its truck (never stuck)
        can_end = ~reachable_required | ~(can_unload | _any(fits))
        allowed = torch.cat([can_end[:, None], can_unload[:, None], fits], dim=1)
        only_end = torch.zeros_like(allowed[:1])
        only_end[0, 0] = True
        return torch.where(self.done[:, None], only_end, allowed)

    def step(self, action: torch.Tensor) -> None:
        """Apply one action per row (see the module docstring)."""
        # Each row drives at most two legs: to a bin or the disposal site, then (ending) home.
        # A row that stays drives along the zero diagonal, which adds exactly nothing: fewer
        # masked updates per step than one per kind of action, and the same sums in the same
        # order.
        live = ~self.done
        rows, instance = self.rows, self.instance
        is_bin = live & (action >= 2)
        is_end = live & (action == END)
        # to the disposal site: to unload, or on the way home with waste on board
        go_unload = live & ((action == UNLOAD) | ((action == END) & (self.carried > 0)))
        first = torch.where(is_bin, action, torch.where(go_unload, 1, self.at))
        self.travelled_m += self.distance[instance, self.at, first]
        leg_s = self.duration[instance, self.at, first]
        self.clock += torch.where(go_unload, leg_s + self.unload_s, leg_s)
        k = (action - 2).clamp(min=0)
        self.clock += torch.where(is_bin, self.service[rows, k], 0.0)
        carried = self.carried + torch.where(is_bin, self.load[rows, k], 0.0)
        self.carried = torch.where(go_unload, 0.0, carried)
        self.visited[rows, k] |= is_bin
        # home, and the next truck
        home = torch.where(is_end, END, first)
        self.travelled_m += self.distance[instance, first, home]
        self.at = home
        self.clock = torch.where(is_end, 0.0, self.clock)
        self.done |= is_end & (self.trucks_left <= 0)
        self.trucks_left -= is_end.long()


def action_limit(n_bins: int, n_trucks: int) -> int:
    """The most steps a plan of ``n_bins`` bins and ``n_trucks`` trucks can take: each bin
    emptied and an unload after it, each truck ended, and two to spare. Decoders stop there;
    action logs are this long."""
    return 2 * n_bins + n_trucks + 2


def _any(rows: torch.Tensor) -> torch.Tensor:
    """(B,) whether each row of the bool ``rows`` (B, N) holds a true entry; summing bytes is
    about three times faster on the CPU than ``any``, and the mask needs three per step."""
    return rows.view(torch.uint8).sum(dim=1) > 0


def _stay_free(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` (B, L, L) as float with a zero diagonal: staying put costs nothing."""
    matrix = matrix.float().clone()
    matrix.diagonal(dim1=1, dim2=2).zero_()
    return matrix


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
