"""Waste bins: where they stand, how much they hold and how fast they fill.

Bins come from the OSM file where it maps enough of them, and are placed along residential
streets otherwise:

OSM containers
    Nodes tagged ``amenity=waste_disposal`` (communal household-waste containers) and
    ``amenity=recycling`` (recycling banks) within :data:`MAX_BIN_SNAP_M` of a network node, one
    bin each. ``amenity=waste_basket`` is left out by default: litter baskets are emptied by
    street cleaning, not by household-waste rounds (pass ``osm_kinds`` to include them).
    Recycling *centres* are areas, not bins; :mod:`agents.waste.sites` uses them as disposal sites.
    The mapped containers are used only when there are at least :data:`MIN_OSM_SHARE` of the
    containers the population needs (``population / residents_per_bin``); fewer means the map is
    incomplete (a handful of containers for a whole town), and every bin is placed instead, so
    the two never mix.
Placed collection points
    ``ceil(population / residents_per_bin)`` containers are drawn onto nodes with probability
    proportional to the node's home weight, among the nodes that touch a local street (where any
    has homes); a stop whose catchment (below) would fill its containers in under
    :data:`MIN_DAYS_TO_FULL` days gets more. The containers at one node are merged into one
    *collection point*: a
    bin of ``containers × container_kg`` that the truck empties in one stop, standing for the
    containers along the streets around that junction; a junction with more than
    :data:`MAX_CONTAINERS_PER_POINT` gets several points.

Every bin fills with a share of the city's waste, ``population × kg_per_person_day`` a day: each
node's home and work weight goes to the nearest collection stop (bins sharing a node split it in
proportion to their capacity), and a bin's share is ``(1 − COMMERCIAL_WASTE_SHARE) × homes served +
COMMERCIAL_WASTE_SHARE × work served``. Bins in dense areas fill faster, and the total is exact.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from cities.context import LOCAL_STREETS, RESIDENTIAL_BUILDINGS, CityContext
from cities.errors import TwinError
from cities.network import RoadNetwork

__all__ = [
    "BULK_DENSITY_KG_M3",
    "COMMERCIAL_WASTE_SHARE",
    "CONTAINER_LITRES",
    "CONTAINER_SHARE",
    "FILL_NOISE_CV",
    "FLOOR_AREA_PER_PERSON_M2",
    "KG_PER_PERSON_DAY",
    "MAX_BIN_SNAP_M",
    "MAX_CONTAINERS_PER_POINT",
    "MIN_DAYS_TO_FULL",
    "MIN_OSM_SHARE",
    "MUNICIPAL_WASTE_KG_PER_PERSON_YEAR",
    "OSM_CONTAINER_KINDS",
    "PERSONS_PER_STREET_M",
    "RESIDENTS_PER_BIN",
    "WEEKDAY_FACTORS",
    "Bins",
    "daily_generation",
    "estimate_population",
    "place_bins",
]

# ------------------------------------------------------------------ waste generated
MUNICIPAL_WASTE_KG_PER_PERSON_YEAR = 513.0
"""Municipal waste generated per person per year, EU-27 in 2022 (Eurostat, ``env_wasmun``)."""

CONTAINER_SHARE = 0.65
"""Share of municipal waste that residents put into the communal containers the rounds empty
(mixed residual waste plus separately collected paper, glass and packaging). The rest is bulky and
garden waste, drop-offs at recycling centres and street litter. A modelling assumption, not a
statistic: national shares vary widely with how each country collects."""

KG_PER_PERSON_DAY = MUNICIPAL_WASTE_KG_PER_PERSON_YEAR * CONTAINER_SHARE / 365.0
"""Default waste per resident per day into the containers: 513 × 0.65 / 365 ≈ 0.91 kg."""

COMMERCIAL_WASTE_SHARE = 0.15
"""Share of the containers' waste that comes from shops, offices and public buildings (waste
"similar to household waste" that municipal waste includes), spread by work weight instead of home
weight. An assumption within the commonly quoted 10–20 % of municipal waste."""

WEEKDAY_FACTORS = np.array([1.15, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0])
WEEKDAY_FACTORS = WEEKDAY_FACTORS / WEEKDAY_FACTORS.mean()
"""Waste put into the containers per weekday relative to the mean, Monday first. Monday carries
the weekend's waste out (+15 %), mid-week is quieter. An assumed shape; the mean is exactly 1, so
weekly totals equal ``7 × daily_kg``."""

FILL_NOISE_CV = 0.3
"""Day-to-day coefficient of variation of one bin's input: a container serves a few dozen
households whose trips to it are irregular. Assumed; drawn as a lognormal factor with mean 1."""

# ------------------------------------------------------------------ containers
BULK_DENSITY_KG_M3 = 120.0
"""Bulk density of loose (uncompacted) household waste in a container: 0.12 t/m³, mid-range of
the 0.1–0.15 t/m³ used to convert container volumes to weights in collection planning."""

CONTAINER_LITRES: dict[str, float] = {
    # EN 840 four-wheeled container, the usual communal bin in European streets and courtyards
    "placed": 1100.0,
    # mapped communal containers are mostly large: semi-underground (deep collection) containers
    # of 3–5 m³, common in the Nordic countries and the Netherlands, take the lower end
    "waste_disposal": 3000.0,
    # "igloo" recycling banks for glass, paper or packaging: 1.5–3.2 m³
    "recycling": 2500.0,
    # a litter basket on a post or lamp-post
    "waste_basket": 50.0,
}
"""Volume of one container by kind (OSM ``amenity`` value, or ``"placed"``), litres."""

RESIDENTS_PER_BIN = 18.0
"""Residents sharing one placed 1,100 L container: at the default rates it is ≈ 87 % full after a
week (18 × 0.91 kg × 7 d = 115 kg of 132 kg), the headroom weekly rounds keep for variation."""

OSM_CONTAINER_KINDS = ("waste_disposal", "recycling")
"""OSM ``amenity`` values read as bins by default (litter baskets are not household-waste bins)."""

MIN_OSM_SHARE = 0.25
"""Mapped containers are used when there are at least this share of the containers the population
needs (each then serves up to four times the nominal residents); fewer, and all bins are placed."""

MIN_DAYS_TO_FULL = 5.0
"""A placed collection stop holds at least this many days of the waste it serves: where the draw
put too few containers for a stop's catchment, the city adds containers (as it would where they
overflow), so twice-weekly rounds can keep up with the busiest stops. Quieter stops take longer to
fill; the spread of fill times between stops is what fill sensors exploit."""

MAX_CONTAINERS_PER_POINT = 8
"""Most placed containers one collection point stands for (8 × 132 kg ≈ 1 t, a row of containers
along a block). A junction drawn more gets several points there, so every stop is a small part of
a truck load and a fleet can split a dense block between trucks."""

MAX_BIN_SNAP_M = 300.0
"""A mapped container farther than this from every network node is not on a truck's road (it is
on a private or service road the drivable network lacks, or outside the modelled area) and is left
out. Half of a 600 m road between junctions, as found on simplified suburban and rural networks."""

# ------------------------------------------------------------------ population
FLOOR_AREA_PER_PERSON_M2 = 40.0
"""Residential floor area per person, about the EU average (Odyssee-Mure, dwelling floor area per
capita, around 2020). Floor area here is footprint × levels with one level where untagged, and
untyped ``building=yes`` counts as homes, so estimates are rough (Liechtenstein: ≈ 78,000 for
≈ 40,000 residents); pass ``population`` where it is known."""

PERSONS_PER_STREET_M = 0.2
"""Residents per metre of local street (centreline) where the file has no buildings: houses with
≈ 25 m frontage on both sides of the street at 2.3 persons per household (EU average household
size, Eurostat 2022) give 2 × 2.3 / 25 ≈ 0.18. Dense city centres have several times more."""

_KINDS = frozenset(CONTAINER_LITRES)
_LAND_USES = ("residential", "mixed", "commercial")
_MIXED_FROM, _COMMERCIAL_FROM = 0.25, 0.5  # commercial share of a bin's waste for each label


@dataclass(eq=False)
class Bins:
    """Waste bins (mapped containers or placed collection points), one entry per bin.

    Attributes
    ----------
    node
        Network node (position) where the truck stops to empty the bin: its nearest node.
    x, y
        Metric position in the network's CRS (a placed bin stands at its node).
    capacity_kg
        Waste the bin holds when full, kg (> 0).
    daily_kg
        Mean waste put into the bin per day, kg, before the weekday factor and day-to-day noise.
    kind
        OSM ``amenity`` value (``"waste_disposal"``, ``"recycling"``, ``"waste_basket"``) or
        ``"placed"``.
    osm_id
        OSM node id of a mapped container, ``-1`` for placed bins.
    land_use
        ``"residential"``, ``"mixed"`` or ``"commercial"``: how much of the bin's waste comes from
        the work weight it serves (under 25 %, under 50 %, more).
    containers
        Containers the bin stands for: 1 for a mapped container, the number merged into a placed
        collection point (its capacity is ``containers × container_kg``).
    """

    node: np.ndarray
    x: np.ndarray
    y: np.ndarray
    capacity_kg: np.ndarray
    daily_kg: np.ndarray
    kind: np.ndarray
    osm_id: np.ndarray
    land_use: np.ndarray
    containers: np.ndarray

    def __len__(self) -> int:
        return len(self.node)

    def subset(self, index: np.ndarray | slice | list[int]) -> Bins:
        """The bins at positions ``index`` (integer positions or a boolean mask), in that order."""
        return Bins(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to_frame(self) -> pd.DataFrame:
        """One row per bin, one column per attribute."""
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    def validate(self, *, n_nodes: int | None = None) -> None:
        """Check shapes and values; raise ``ValueError`` naming the first bad field.

        Parameters
        ----------
        n_nodes
            The network's node count, to check that every ``node`` is one of its nodes.
        """
        n = len(self.node)
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, np.ndarray) or value.shape != (n,):
                raise ValueError(f"{f.name} must be an array of {n} values, one per bin")
        if np.any(self.node < 0) or (n_nodes is not None and np.any(self.node >= n_nodes)):
            raise ValueError("node holds positions that are not network nodes")
        for name in ("x", "y", "capacity_kg", "daily_kg"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be finite")
        if np.any(self.capacity_kg <= 0):
            raise ValueError("capacity_kg must be positive")
        if np.any(self.daily_kg < 0):
            raise ValueError("daily_kg must not be negative")
        if not set(self.kind.tolist()) <= _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}")
        if np.any((self.kind == "placed") != (self.osm_id == -1)):
            raise ValueError("osm_id must be -1 exactly for placed bins")
        if not set(self.land_use.tolist()) <= set(_LAND_USES):
            raise ValueError(f"land_use must be one of {list(_LAND_USES)}")
        if np.any(self.containers < 1):
            raise ValueError("containers must be at least 1")


def _positive(name: str, value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TwinError(f"{name} must be a positive number ({what}), got {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise TwinError(f"{name} must be a positive number ({what}), got {value}.")
    return float(value)


def _centreline_m(network: RoadNetwork, classes: frozenset[str] | None) -> float:
    """Street length with each two-way street counted once (its two directed edges match)."""
    keep = np.ones(network.n_edges, bool)
    if classes is not None:
        keep = np.isin(network.edge_highway, list(classes))
    edges = pd.DataFrame(
        {
            "a": np.minimum(network.edge_u, network.edge_v)[keep],
            "b": np.maximum(network.edge_u, network.edge_v)[keep],
            "length": network.edge_length_m[keep].round(1),
        }
    )
    return float(edges.drop_duplicates()["length"].sum())


def estimate_population(network: RoadNetwork, context: CityContext) -> float:
    """Residents of the modelled area, estimated from the OSM file.

    Residential floor area / :data:`FLOOR_AREA_PER_PERSON_M2` where the home weight came from
    buildings (the same buildings :func:`cities.context.build_context` counts as homes); else
    local-street length × :data:`PERSONS_PER_STREET_M` (all streets where none is local).

    Returns
    -------
    float
        Estimated residents (> 0).
    """
    if context.home_source == "buildings":
        f = context.features
        home = (f["key"] == "building") & (
            f["value"].isin(RESIDENTIAL_BUILDINGS) | ((f["value"] == "yes") & (f["poi"] == ""))
        )
        floor_m2 = float((f["area_m2"] * f["levels"].fillna(1.0))[home].sum())
        if floor_m2 > 0:
            return floor_m2 / FLOOR_AREA_PER_PERSON_M2
    street_m = _centreline_m(network, LOCAL_STREETS) or _centreline_m(network, None)
    return street_m * PERSONS_PER_STREET_M


def _placement_weight(network: RoadNetwork, context: CityContext) -> np.ndarray:
    """Home weight on nodes that touch a local street (trucks stop there), or everywhere."""
    local = np.isin(network.edge_highway, list(LOCAL_STREETS))
    touches_local = np.zeros(network.n_nodes, bool)
    touches_local[network.edge_u[local]] = True
    touches_local[network.edge_v[local]] = True
    weight = np.where(touches_local, context.home_weight, 0.0)
    if weight.sum() <= 0:
        weight = context.home_weight
    return weight / weight.sum()


def _osm_containers(context: CityContext, kinds: Collection[str]) -> pd.DataFrame:
    f = context.features
    mapped = (
        (f["osm_type"] == "node")
        & (f["key"] == "amenity")
        & f["value"].isin(list(kinds))
        & (f["snap_m"] <= MAX_BIN_SNAP_M)
    )
    return f[mapped].sort_values("osm_id", kind="stable").reset_index(drop=True)


def _served_shares(
    network: RoadNetwork, context: CityContext, node: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Home and work weight each bin serves: every node's weight goes to its nearest stop."""
    from scipy.spatial import cKDTree  # imported on first use, as in cities.network

    stops, stop_of_bin = np.unique(node, return_inverse=True)
    tree = cKDTree(np.column_stack([network.node_x[stops], network.node_y[stops]]))
    _, nearest = tree.query(np.column_stack([network.node_x, network.node_y]))
    n_stops = len(stops)
    home = np.bincount(nearest, weights=context.home_weight, minlength=n_stops)
    work = np.bincount(nearest, weights=context.work_weight, minlength=n_stops)
    # bins at one stop are used alike by the people around it: split by how much each holds
    share = capacity / np.bincount(stop_of_bin, weights=capacity)[stop_of_bin]
    return home[stop_of_bin] * share, work[stop_of_bin] * share


def _containers_for_days(
    network: RoadNetwork,
    context: CityContext,
    stops: np.ndarray,
    total_kg_per_day: float,
    container_kg: float,
) -> np.ndarray:
    """Containers each stop needs to hold :data:`MIN_DAYS_TO_FULL` days of the waste it serves."""
    home, work = _served_shares(network, context, stops, np.ones(len(stops)))
    share = (1.0 - COMMERCIAL_WASTE_SHARE) * home + COMMERCIAL_WASTE_SHARE * work
    return np.ceil(share * total_kg_per_day * MIN_DAYS_TO_FULL / container_kg - 1e-9).astype(
        np.int64
    )


def place_bins(
    network: RoadNetwork,
    context: CityContext,
    *,
    rng: np.random.Generator,
    use_osm: bool = True,
    residents_per_bin: float = RESIDENTS_PER_BIN,
    kg_per_person_day: float = KG_PER_PERSON_DAY,
    container_kg: float = CONTAINER_LITRES["placed"] / 1000.0 * BULK_DENSITY_KG_M3,
    population: float | None = None,
    osm_kinds: Collection[str] = OSM_CONTAINER_KINDS,
) -> Bins:
    """Bins of a city: its mapped containers where enough are mapped, else placed by homes.

    Parameters
    ----------
    network, context
        The city's road network and home/work weights.
    rng
        Draws the placed collection points; the same seed gives the same bins.
    use_osm
        Use the file's mapped containers when there are enough (see the module docstring).
    residents_per_bin
        Residents sharing one placed container; sets how many are placed.
    kg_per_person_day
        Waste per resident per day into the containers (default :data:`KG_PER_PERSON_DAY`).
    container_kg
        Capacity of one placed container, kg (default 1,100 L at :data:`BULK_DENSITY_KG_M3`).
    population
        Residents of the modelled area; estimated with :func:`estimate_population` if not given.
    osm_kinds
        OSM ``amenity`` values read as bins (keys of :data:`CONTAINER_LITRES` but ``"placed"``).

    Returns
    -------
    Bins
        With ``daily_kg`` summing to ``population × kg_per_person_day``.

    Raises
    ------
    twin.errors.TwinError
        A non-positive or non-finite rate, capacity or population, or an unknown OSM kind.
    """
    residents_per_bin = _positive("residents_per_bin", residents_per_bin, "residents per bin")
    kg_per_person_day = _positive("kg_per_person_day", kg_per_person_day, "kg per resident a day")
    container_kg = _positive("container_kg", container_kg, "kg one placed container holds")
    if population is not None:
        population = _positive("population", population, "residents")
    unknown = sorted(set(osm_kinds) - (_KINDS - {"placed"}))
    if unknown:
        raise TwinError(
            f"osm_kinds has unknown amenity value(s) {unknown}: use some of "
            f"{sorted(_KINDS - {'placed'})}."
        )
    if population is None:
        population = estimate_population(network, context)
    n_needed = math.ceil(population / residents_per_bin)

    mapped = _osm_containers(context, osm_kinds) if use_osm else None
    if mapped is not None and len(mapped) and len(mapped) >= MIN_OSM_SHARE * n_needed:
        kind = mapped["value"].to_numpy(dtype=object)
        node = mapped["node"].to_numpy(dtype=np.int64)
        x, y = mapped["x"].to_numpy(np.float64), mapped["y"].to_numpy(np.float64)
        osm_id = mapped["osm_id"].to_numpy(dtype=np.int64)
        containers = np.ones(len(mapped), dtype=np.int64)
        litres = np.array([CONTAINER_LITRES[k] for k in kind])
        capacity = litres / 1000.0 * BULK_DENSITY_KG_M3
    else:
        drawn = rng.multinomial(n_needed, _placement_weight(network, context))
        occupied = np.flatnonzero(drawn).astype(np.int64)
        # where a stop's catchment outgrows its containers, the city adds some, so no stop
        # fills up in under MIN_DAYS_TO_FULL days on average
        drawn[occupied] = np.maximum(
            drawn[occupied],
            _containers_for_days(
                network, context, occupied, population * kg_per_person_day, container_kg
            ),
        )
        # a junction with many containers gets several points of at most
        # MAX_CONTAINERS_PER_POINT, each a stop of its own (one point must fit in a truck)
        points = -(-drawn[occupied] // MAX_CONTAINERS_PER_POINT)
        node = np.repeat(occupied, points)
        first = np.repeat(np.cumsum(points) - points, points)
        index_in_node = np.arange(len(node)) - first
        per_node = np.repeat(drawn[occupied], points)
        containers = (per_node // np.repeat(points, points)) + (
            index_in_node < per_node % np.repeat(points, points)
        )
        containers = containers.astype(np.int64)
        x, y = network.node_x[node].copy(), network.node_y[node].copy()
        kind = np.full(len(node), "placed", dtype=object)
        osm_id = np.full(len(node), -1, dtype=np.int64)
        capacity = containers * container_kg

    home, work = _served_shares(network, context, node, capacity)
    household = (1.0 - COMMERCIAL_WASTE_SHARE) * home
    commercial = COMMERCIAL_WASTE_SHARE * work
    share = household + commercial
    daily_kg = population * kg_per_person_day * share
    commercial_part = np.divide(commercial, share, out=np.zeros_like(share), where=share > 0)
    land_use = np.asarray(_LAND_USES, dtype=object)[
        (commercial_part >= _MIXED_FROM).astype(int) + (commercial_part >= _COMMERCIAL_FROM)
    ]
    bins = Bins(
        node=node,
        x=np.asarray(x, dtype=np.float64),
        y=np.asarray(y, dtype=np.float64),
        capacity_kg=np.asarray(capacity, dtype=np.float64),
        daily_kg=daily_kg,
        kind=kind,
        osm_id=osm_id,
        land_use=land_use,
        containers=containers,
    )
    bins.validate(n_nodes=network.n_nodes)
    return bins


def daily_generation(bins: Bins, day: int, rng: np.random.Generator) -> np.ndarray:
    """Waste put into each bin on simulation day ``day`` (day 0 is a Monday), kg.

    ``daily_kg × WEEKDAY_FACTORS[day % 7] ×`` a lognormal factor with mean 1 and coefficient of
    variation :data:`FILL_NOISE_CV`, drawn independently per bin; never negative.
    """
    sigma2 = math.log1p(FILL_NOISE_CV**2)
    noise = rng.lognormal(mean=-sigma2 / 2, sigma=math.sqrt(sigma2), size=len(bins))
    return bins.daily_kg * WEEKDAY_FACTORS[int(day) % 7] * noise
