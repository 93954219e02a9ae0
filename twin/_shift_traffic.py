"""The background traffic of a waste shift, simulated once for the runs that share it.

Every policy a planner compares in the same traffic (the dashboard's Waste page, a benchmark's
policies, a sweep's runs in one worker) drives among the same trips on the same streets under
the same signal plans and seed, so the shift's traffic, and a forecast's days, come out the same
for each: a simulation of many thousand trips over eight hours (and, for signals timed on it
by Webster's method, four more), run again for nothing. The most recent results are kept in
this process, keyed by a digest of everything such a simulation reads (the city's content, the
network's edits, the trips, the engine's settings, how the signals are timed, the seed and the
shift), and handed out as copies.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ShiftTrafficMemo", "shift_traffic_memo"]

T = TypeVar("T")


class ShiftTrafficMemo:
    """The last ``size`` shift-traffic results of this process, by the digest of their inputs.

    Parameters
    ----------
    size : int
        Results kept (0: none; every call simulates). A result holds the link times of every
        edge in every 5 minutes of the shift: about 15 MB for 20,000 edges over 8 hours.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._results: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(*inputs: Any) -> str:
        """A digest of ``inputs`` (arrays, dataclasses, numbers, strings, containers of them):
        equal for equal contents."""
        return hashlib.sha256(pickle.dumps(inputs, protocol=5)).hexdigest()

    def get(self, key: str, simulate: Callable[[], T]) -> T:
        """The result kept for ``key``, or ``simulate()``'s, then kept; a deep copy either way,
        so that no caller changes what the next one gets."""
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                self.hits += 1
                return copy.deepcopy(self._results[key])
        result = simulate()
        if self.size > 0:
            with self._lock:
                self._results[key] = result
                while len(self._results) > self.size:
                    self._results.popitem(last=False)
        return copy.deepcopy(result)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()


shift_traffic_memo = ShiftTrafficMemo()
"""This process's memo (``shift_traffic_memo.size = 0`` turns it off)."""
