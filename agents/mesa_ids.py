"""Mesa 3.3 keeps every model ever built alive; this module lets finished ones go.

Mesa numbers each model's agents from one counter per model, kept in a class attribute,
``mesa.Agent._ids``: a ``defaultdict`` keyed by the model itself. That strong reference outlives
the run, so every model a process builds stays in memory with all it holds (a waste run's
plans and daily fill, a traffic run's vehicle arrays and link series): a dashboard or a sweep
that runs model after model grows without end. Mesa fixed it upstream (mesa#3179, mesa#3180,
January 2026) in releases that need Python 3.12; on the Mesa this project resolves to under
Python 3.11 the counters are kept here by a weak key instead, with the same numbering (from 1
per model). Other Mesa versions are left as they are.
"""

from __future__ import annotations

import itertools
import weakref
from collections import defaultdict

import mesa

__all__ = ["WeakIdCounters", "release_finished_models"]


class WeakIdCounters(weakref.WeakKeyDictionary):
    """Each model's agent-id counter, from 1, held only as long as the model is."""

    def __getitem__(self, model: mesa.Model) -> itertools.count:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


def release_finished_models() -> bool:
    """Hold Mesa's per-model agent-id counters by weak reference, where this Mesa holds them in
    a ``defaultdict`` on ``mesa.Agent`` (its 3.3 layout); the counters of models already built
    are kept. Returns whether the counters are now held weakly."""
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, WeakIdCounters):
        return True
    if not isinstance(ids, defaultdict):
        return False
    counters = WeakIdCounters()
    for model, counter in ids.items():
        counters[model] = counter
    mesa.Agent._ids = counters
    return True
