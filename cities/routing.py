"""Shortest paths by travel time for many trips at once.

Trips are grouped by origin; one Dijkstra (scipy's compiled ``csgraph.dijkstra``) per distinct
origin serves every trip from it, and paths are unwound from the predecessor table for all trips
together, one hop per numpy step. Routing tens of thousands of trips therefore costs about one
Dijkstra per distinct origin, not one per trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cities.network import RoadNetwork

__all__ = ["Router", "Routes"]

_MIN_WEIGHT = 1e-9  # csgraph drops explicit zeros; keep zero-cost edges as edges
_SUM_ROWS = 128  # predecessor-tree rows summed at a time (Router._path_sums)


@dataclass(frozen=True, slots=True)
class Routes:
    """Paths of many trips as a ragged array of edge positions.

    Trip ``i`` drives ``edges[offsets[i]:offsets[i + 1]]`` in order. An unreachable trip has an
    empty path, ``reachable[i] == False`` and ``cost[i] == inf``.
    """

    edges: np.ndarray
    offsets: np.ndarray
    cost: np.ndarray
    reachable: np.ndarray

    def __len__(self) -> int:
        return len(self.cost)

    def path(self, trip: int) -> np.ndarray:
        """Edge positions of one trip, in driving order."""
        return self.edges[self.offsets[trip] : self.offsets[trip + 1]]


class Router:
    """Shortest paths on a road network by an edge weight (free-flow travel time by default).

    Parameters
    ----------
    network
        The road network.
    weights
        One non-negative cost per edge; defaults to ``network.edge_free_flow_s``. Between parallel
        edges the cheaper one is used; an edge of cost ``inf`` is closed.
    origin_batch
        Distinct origins searched per Dijkstra call; bounds memory at
        ``origin_batch × n_nodes`` predecessor entries.
    """

    def __init__(
        self,
        network: RoadNetwork,
        weights: np.ndarray | None = None,
        *,
        origin_batch: int = 1024,
    ) -> None:
        weights = network.edge_free_flow_s if weights is None else np.asarray(weights, float)
        if weights.shape != (network.n_edges,):
            raise ValueError(f"weights needs one value per edge ({network.n_edges})")
        if np.any(np.isnan(weights)) or np.any(weights < 0):
            raise ValueError("weights must be non-negative numbers (inf closes an edge)")
        self.network = network
        self.weights = weights
        self.origin_batch = origin_batch
        n = network.n_nodes
        # cheapest edge per (u, v) pair, so the sparse matrix has one entry per pair
        open_edges = np.flatnonzero(np.isfinite(weights))
        order = open_edges[
            np.lexsort(
                (weights[open_edges], network.edge_v[open_edges], network.edge_u[open_edges])
            )
        ]
        u, v = network.edge_u[order], network.edge_v[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        self._pair_edge = order[first]
        self._pair_key = u[first].astype(np.int64) * n + v[first]
        self._matrix = csr_matrix(
            (np.maximum(weights[self._pair_edge], _MIN_WEIGHT), (u[first], v[first])),
            shape=(n, n),
        )

    def costs(self, origins: np.ndarray, destinations: np.ndarray | None = None) -> np.ndarray:
        """Cost matrix, ``len(origins) × len(destinations)`` (all nodes if ``None``).

        Unreachable pairs are ``inf``.
        """
        origins = np.asarray(origins, dtype=np.int64)
        rows = []
        for start in range(0, len(origins), self.origin_batch):
            batch = origins[start : start + self.origin_batch]
            dist = dijkstra(self._matrix, directed=True, indices=batch)
            rows.append(dist if destinations is None else dist[:, destinations])
        width = self.network.n_nodes if destinations is None else len(destinations)
        return np.vstack(rows) if rows else np.zeros((0, width))

    def costs_to(self, destinations: np.ndarray) -> np.ndarray:
        """Cost from every node to each of ``destinations``, ``len(destinations) × n_nodes``
        (``inf`` where unreachable): one search per destination on the reversed graph, where
        :meth:`costs` would take one per origin."""
        destinations = np.asarray(destinations, dtype=np.int64)
        if not len(destinations):
            return np.zeros((0, self.network.n_nodes))
        return dijkstra(self._matrix.T.tocsr(), directed=True, indices=destinations)

    def cost_matrices(
        self, nodes: np.ndarray, *, along: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest-path costs between ``nodes``, and another edge quantity summed on those paths.

        Returns ``cost`` and ``summed``, both ``len(nodes) × len(targets)`` (``targets``
        defaults to ``nodes``): ``cost[i, j]`` is the cheapest cost from ``nodes[i]`` to
        ``targets[j]`` and ``summed[i, j]`` the sum of ``along`` (e.g. edge lengths) over the
        edges of that same path (``inf`` where unreachable). A travel-time matrix with the
        distances actually driven, as vehicle routing needs. Each row is a search of its own,
        so a row is the same whichever other ``nodes`` are asked for with it.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        targets = nodes if targets is None else np.asarray(targets, dtype=np.int64)
        along = np.asarray(along, dtype=np.float64)
        cost_rows, summed_rows = [], []
        for start in range(0, len(nodes), self.origin_batch):
            batch = nodes[start : start + self.origin_batch]
            dist, pred = dijkstra(
                self._matrix, directed=True, indices=batch, return_predecessors=True
            )
            # a block of rows at a time: the doubling's gathers stay within the processor's
            # cache (on São Paulo centre 2.9× faster than all rows at once, the same sums)
            acc = np.vstack(
                [
                    self._path_sums(pred[first : first + _SUM_ROWS], along)
                    for first in range(0, len(batch), _SUM_ROWS)
                ]
            )
            acc[~np.isfinite(dist)] = np.inf
            cost_rows.append(dist[:, targets])
            summed_rows.append(acc[:, targets])
        if not cost_rows:
            return np.zeros((0, len(targets))), np.zeros((0, len(targets)))
        return np.vstack(cost_rows), np.vstack(summed_rows)

    def _path_sums(self, pred: np.ndarray, along: np.ndarray) -> np.ndarray:
        """``along`` summed over each tree path from its root to every node, for rows of
        predecessor trees (``pred[row, node]``, negative at the root and where unreached).

        Pointer doubling: after k rounds every node holds the sum over its last 2**k edges and
        points 2**k nodes up its tree. Only nodes whose pointer has not reached the root are
        visited again, so the work shrinks as the rounds go."""
        n = pred.shape[1]
        flat_pred = pred.ravel()
        live = np.flatnonzero(flat_pred >= 0)
        row_start = live - live % n
        parent = flat_pred[live].astype(np.int64)
        edge = self._pair_edge[np.searchsorted(self._pair_key, parent * n + (live - row_start))]
        acc = np.zeros(pred.size)
        acc[live] = along[edge]
        up = np.full(pred.size, -1, dtype=np.int64)
        up[live] = row_start + parent
        while len(live):
            above = up[live]
            # both read before either is written: every node takes its ancestor's sum and
            # pointer of the previous round
            summed, higher = acc[live] + acc[above], up[above]
            acc[live], up[live] = summed, higher
            live = live[higher >= 0]
        return acc.reshape(pred.shape)

    def next_hops(self, destinations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shortest-path trees towards each destination, as tables over nodes.

        One Dijkstra on the reversed graph per destination. Returns ``next_edge`` and
        ``cost_to_go``, both ``len(destinations) × n_nodes``: the first edge of a cheapest path
        from each node to each destination (``-1`` at the destination and where it cannot be
        reached) and that path's cost (``inf`` where unreachable), as int32 / float32.
        """
        destinations = np.asarray(destinations, dtype=np.int64)
        n = self.network.n_nodes
        reverse = self._matrix.T.tocsr()
        next_edge = np.full((len(destinations), n), -1, dtype=np.int32)
        cost_to_go = np.empty((len(destinations), n), dtype=np.float32)
        for start in range(0, len(destinations), self.origin_batch):
            batch = destinations[start : start + self.origin_batch]
            cost, successor = dijkstra(
                reverse, directed=True, indices=batch, return_predecessors=True
            )
            cost_to_go[start : start + len(batch)] = cost
            rows, nodes = np.nonzero(successor >= 0)
            keys = nodes.astype(np.int64) * n + successor[rows, nodes]
            next_edge[start + rows, nodes] = self._pair_edge[np.searchsorted(self._pair_key, keys)]
        return next_edge, cost_to_go

    def routes(self, origins: np.ndarray, destinations: np.ndarray) -> Routes:
        """Shortest paths for trips ``origins[i] → destinations[i]`` (node positions)."""
        origins = np.asarray(origins, dtype=np.int64)
        destinations = np.asarray(destinations, dtype=np.int64)
        if origins.shape != destinations.shape or origins.ndim != 1:
            raise ValueError("origins and destinations must be 1-D arrays of equal length")
        n_trips = len(origins)
        hop_edges: list[np.ndarray] = []  # edges of the trips still unwinding, one array per hop
        hop_trips: list[np.ndarray] = []
        cost = np.full(n_trips, np.inf)
        unique_origins, trip_origin = np.unique(origins, return_inverse=True)
        for start in range(0, len(unique_origins), self.origin_batch):
            batch = unique_origins[start : start + self.origin_batch]
            dist, pred = dijkstra(
                self._matrix, directed=True, indices=batch, return_predecessors=True
            )
            trips = np.flatnonzero((trip_origin >= start) & (trip_origin < start + len(batch)))
            rows = trip_origin[trips] - start
            cost[trips] = dist[rows, destinations[trips]]
            self._unwind(pred, trips, rows, destinations[trips], hop_edges, hop_trips)
        return self._assemble(n_trips, cost, hop_edges, hop_trips)

    def _unwind(self, pred, trips, rows, current, hop_edges, hop_trips) -> None:
        n = self.network.n_nodes
        while len(trips):
            previous = pred[rows, current]
            moving = previous >= 0  # -9999: reached the origin, or unreachable
            trips, rows, previous, current = (
                trips[moving],
                rows[moving],
                previous[moving],
                current[moving],
            )
            keys = previous.astype(np.int64) * n + current
            hop_edges.append(self._pair_edge[np.searchsorted(self._pair_key, keys)])
            hop_trips.append(trips)
            current = previous

    @staticmethod
    def _assemble(n_trips, cost, hop_edges, hop_trips) -> Routes:
        reachable = np.isfinite(cost)
        lengths = np.zeros(n_trips, dtype=np.int64)
        for trips in hop_trips:
            lengths[trips] += 1
        offsets = np.zeros(n_trips + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        edges = np.empty(offsets[-1], dtype=np.int64)
        # hop k of a trip, counted back from its destination, is its (length - 1 - k)-th edge;
        # hops were collected batch by batch, so k restarts with every origin batch
        hops_done = np.zeros(n_trips, dtype=np.int64)
        for trips, hop in zip(hop_trips, hop_edges, strict=True):
            edges[offsets[trips] + lengths[trips] - 1 - hops_done[trips]] = hop
            hops_done[trips] += 1
        return Routes(edges=edges, offsets=offsets, cost=cost, reachable=reachable)
