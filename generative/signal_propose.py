"""The learned signal planner at work: a checkpoint proposes a city's timings in one pass.

:class:`LearnedSignalPlanner` reads the flows a run of the current plans carried (one
simulation, as Webster's method does), builds the scenario's instance
(:func:`generative.signal_instances.junction_instance`), and turns the network's cycle and split
logits into a :class:`~agents.traffic.signals.SignalPlan` per junction, within the timing
limits by construction, and sets the offsets with the checkpoint's offset head, trained in the
twin (:mod:`generative.signal_offsets`; a checkpoint without one: the green wave from the
busiest junction). The shipped checkpoint is :data:`SIGNAL_CHECKPOINT`; what it was trained
on (places, junction counts, load) is in its ``training_range``, and :meth:`outside_range` says
which figures of a scenario lie beyond it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.traffic.signals import Phase, SignalPlan
from agents.traffic.timing import DEFAULT_LIMITS, TimingLimits
from cities.network import RoadNetwork
from generative.checkpoint import CheckpointError
from generative.signal_data import SignalInstance
from generative.signal_instances import junction_instance
from generative.signal_model import timings
from generative.signal_offsets import (
    FEATURES,
    RULE,
    green_wave_offsets,
    offset_features,
    offsets_from,
)
from generative.signal_train import as_batch, load_signal_model

__all__ = ["SIGNAL_CHECKPOINT", "LearnedSignalPlanner", "green_wave_offsets"]

SIGNAL_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "signals.pt"


class LearnedSignalPlanner:
    """Signal timings from a trained :class:`~generative.signal_model.SignalNet`.

    Parameters
    ----------
    checkpoint
        A checkpoint of ``python -m generative.signal_train``; default: the shipped one.
    """

    def __init__(self, checkpoint: str | Path | None = None) -> None:
        self.checkpoint = Path(checkpoint) if checkpoint is not None else SIGNAL_CHECKPOINT
        self.model, payload = load_signal_model(self.checkpoint)
        self.training_range: dict[str, Any] = payload.get("training_range", {})
        self.trained_on: dict[str, Any] = payload.get("trained_on", {})
        head = payload.get("offset_head")
        self.offset_theta: tuple[float, ...] = RULE
        if head is not None:
            self.offset_theta = _offset_theta(self.checkpoint, head)

    def instance(
        self,
        network: RoadNetwork,
        plans: Mapping[int, SignalPlan],
        flow_vph: np.ndarray,
        limits: TimingLimits = DEFAULT_LIMITS,
    ) -> SignalInstance:
        """What the network reads of ``plans``' junctions, given each link's flow (veh/h)."""
        return junction_instance(network, plans, flow_vph, limits=limits)

    def outside_range(self, instance: SignalInstance) -> list[str]:
        """Figures of ``instance`` beyond what the planner was trained on (empty: inside)."""
        notes = []
        low, high = self.training_range.get("junctions", [0, np.inf])
        if not low <= instance.n_junctions <= high:
            notes.append(f"{instance.n_junctions} junctions (trained on {low}–{high})")
        ratio = float((instance.flow_vps / instance.saturation_vps).sum(1).max(initial=0.0))
        top = self.training_range.get("flow_ratio_sum", [0, np.inf])[1]
        if ratio > top:
            notes.append(f"a junction loaded to {ratio:.2f} of saturation (trained to {top:.2f})")
        return notes

    def propose(
        self,
        network: RoadNetwork,
        plans: Mapping[int, SignalPlan],
        flow_vph: np.ndarray,
        limits: TimingLimits = DEFAULT_LIMITS,
    ) -> dict[int, SignalPlan]:
        """New timings for every junction of ``plans`` (node position → plan; phases kept;
        offsets of its offset head) from the flows ``flow_vph`` (veh/h per link) the
        current plans carried."""
        if not plans:
            return {}
        return self.plans_for(self.instance(network, plans, flow_vph, limits), plans, limits)

    @torch.no_grad()
    def timings_for(self, instance: SignalInstance) -> tuple[np.ndarray, np.ndarray]:
        """The network's cycles ``[J]`` and greens ``[J, P]`` (s) for ``instance``."""
        batch = as_batch([instance], torch.device("cpu"))
        cycles, greens = timings(batch, *self.model(batch))
        return cycles[0].numpy().astype(np.float64), greens[0].numpy().astype(np.float64)

    def offsets_for(
        self, instance: SignalInstance, cycles: np.ndarray, greens: np.ndarray
    ) -> np.ndarray:
        """Each junction's offset (s) by the checkpoint's offset head."""
        if self.offset_theta == RULE:
            return green_wave_offsets(instance, cycles)
        return offsets_from(offset_features(instance, cycles, greens), cycles, self.offset_theta)

    def plans_for(
        self,
        instance: SignalInstance,
        plans: Mapping[int, SignalPlan],
        limits: TimingLimits = DEFAULT_LIMITS,
    ) -> dict[int, SignalPlan]:
        """:meth:`propose` for an instance already made (:meth:`instance`)."""
        if instance.n_junctions == 0:
            return {}
        cycles, greens = self.timings_for(instance)
        offsets = self.offsets_for(instance, cycles, greens)
        proposed = {}
        for j, node in enumerate(instance.node.tolist()):
            plan = plans[node]
            phases = tuple(
                Phase(p.approaches, float(greens[j, i])) for i, p in enumerate(plan.phases)
            )
            proposed[node] = SignalPlan(plan.node, phases, float(offsets[j]), limits.intergreen_s)
        return proposed


def _offset_theta(path: Path, head: Any) -> tuple[float, ...]:
    """The checkpoint's offset head, checked against the features this version computes."""
    again = "train the head again (`python -m generative.signal_offsets`)"
    try:
        features, theta = list(head["features"]), tuple(float(v) for v in head["theta"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: its offset head is malformed: {again}.") from None
    if features != list(FEATURES) or len(theta) != len(FEATURES):
        raise CheckpointError(
            f"{path}: its offset head reads {features}, this version {list(FEATURES)}: {again}."
        )
    return theta
