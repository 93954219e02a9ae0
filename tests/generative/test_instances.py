"""Daily instances sampled from the waste twin: real travel times, the planned policy's choice of
bins, valid problems, and files that round-trip and refuse to be misread."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.waste.planning import GreedyPlanner, PyVRPPlanner, check_plan
from cities.routing import Router
from generative.data import FORMAT_VERSION, InstanceFileError, join_instances, read_instances
from generative.instances import sample_instances, to_problem, write_instances
from twin.errors import TwinError

N_BINS = 25


@pytest.fixture(scope="module")
def batch(helsinki):
    return sample_instances(helsinki, n_bins=N_BINS, n_instances=8, seed=3)


def test_shapes_and_metadata(batch, helsinki):
    assert len(batch) == 8 and batch.n_bins == N_BINS
    assert batch.duration_s.shape == (8, N_BINS + 2, N_BINS + 2)
    assert batch.xy_m.shape == (8, N_BINS + 2, 2)
    assert np.all(batch.xy_m[:, 0] == 0)  # positions relative to the depot
    assert batch.meta["city_sha256"] == helsinki.source.sha256
    assert batch.meta["format_version"] == FORMAT_VERSION


def test_travel_times_are_the_road_networks(batch, helsinki):
    """The matrices are shortest travel times on the network between the instance's nodes
    (recomputed here with the router from the nodes the positions identify)."""
    network = helsinki.network
    depot = np.array([batch.meta["sites"]["depot_node"]])
    origin = np.array([network.node_x[depot[0]], network.node_y[depot[0]]])
    for i in range(3):
        xy = batch.xy_m[i] + origin
        nodes, _ = network.nearest_nodes(xy[:, 0], xy[:, 1])
        expected = Router(network).costs(nodes, nodes)
        np.testing.assert_allclose(batch.duration_s[i], expected, rtol=1e-5, atol=1e-3)
    # one-way streets make them asymmetric
    assert not np.allclose(batch.duration_s, np.swapaxes(batch.duration_s, 1, 2))


def test_instances_vary_and_carry_the_policys_urgency(batch):
    assert len({batch.load_kg[i].round(3).tobytes() for i in range(len(batch))}) == len(batch)
    assert batch.required.any()
    # required bins come first, and optional ones hold non-negative prizes
    for i in range(len(batch)):
        flags = batch.required[i]
        assert not np.any(flags[np.argmin(flags) :]) or flags.all()
    assert np.all(batch.prize >= 0) and np.all(batch.load_kg >= 0)
    assert np.all(batch.load_kg <= batch.capacity_kg[:, None])


def test_every_instance_is_a_solvable_routing_problem(batch):
    for i in range(len(batch)):
        problem = to_problem(batch, i)
        problem.validate()
        plan = GreedyPlanner().plan(problem)
        assert check_plan(problem, plan) == []
        assert plan.unserved_required(problem).size == 0
    problem = to_problem(batch, 0)
    plan = PyVRPPlanner(max_runtime_s=0.5, max_iterations=200).plan(problem, seed=0)
    assert check_plan(problem, plan) == [] and plan.info["feasible"]


def test_file_round_trip(batch, tmp_path):
    path = write_instances(batch, tmp_path / "days.npz")
    again = read_instances(path)
    for name, array in batch.arrays().items():
        np.testing.assert_array_equal(getattr(again, name), array)
        assert getattr(again, name).dtype == array.dtype
    np.testing.assert_array_equal(again.locations, batch.locations)
    assert again.meta == json.loads(json.dumps(batch.meta, default=str))
    assert len(again.subset(slice(0, 3))) == 3


def test_days_of_one_placement_store_their_matrices_once(batch, tmp_path):
    pooled = write_instances(batch, tmp_path / "pooled.npz")
    with np.load(pooled) as stored:
        assert "pool_duration_s" in stored.files and "duration_s" not in stored.files
        locations = len(np.unique(batch.locations))
        assert stored["pool_duration_s"].shape[0] >= locations
    # a file of format 1 (every day's blocks in full) reads the same
    dense = tmp_path / "dense.npz"
    arrays = {**batch.arrays(), "locations": batch.locations}
    np.savez(dense, **arrays, meta=np.array(json.dumps({**batch.meta, "format_version": 1})))
    assert dense.stat().st_size > 1.5 * pooled.stat().st_size
    for path in (pooled, dense):
        np.testing.assert_array_equal(read_instances(path).duration_s, batch.duration_s)
    # days that disagree about a pair (another placement's matrix) are stored in full
    mixed = batch.subset(np.array([0, 1]))  # a copy: the fixture stays as it was
    mixed.duration_s[1] += 1.0
    with np.load(write_instances(mixed, tmp_path / "mixed.npz")) as stored:
        assert "duration_s" in stored.files and "pool_duration_s" not in stored.files
    np.testing.assert_array_equal(
        read_instances(tmp_path / "mixed.npz").duration_s, mixed.duration_s
    )


def test_bad_files_are_named(batch, tmp_path):
    with pytest.raises(InstanceFileError, match="no such instance file"):
        read_instances(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InstanceFileError, match="not a readable instance file"):
        read_instances(corrupt)
    # a text file: numpy reads it as a pickle, and its advice to allow pickles is never passed on
    note = tmp_path / "note.npz"
    note.write_text("hi\n")
    with pytest.raises(InstanceFileError) as refused:
        read_instances(note)
    assert "(not a NumPy .npz archive); write it again" in str(refused.value)
    assert "pickle" not in str(refused.value)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(InstanceFileError, match="lacks"):
        read_instances(other)
    arrays = batch.arrays()
    old = tmp_path / "old.npz"
    np.savez(old, **arrays, meta=np.array(json.dumps({**batch.meta, "format_version": 0})))
    with pytest.raises(InstanceFileError, match="generate the instances again"):
        read_instances(old)
    bad_shape = tmp_path / "shape.npz"
    np.savez(
        bad_shape,
        **{**arrays, "prize": arrays["prize"][:, :-1]},
        meta=np.array(json.dumps(batch.meta)),
    )
    with pytest.raises(InstanceFileError, match="prize has shape"):
        read_instances(bad_shape)
    with np.load(write_instances(batch, tmp_path / "pooled.npz")) as stored:
        pooled = {name: stored[name] for name in stored.files}
    outside = tmp_path / "outside.npz"
    np.savez(outside, **{**pooled, "locations": pooled["locations"] + 10_000})
    with pytest.raises(InstanceFileError, match="locations outside"):
        read_instances(outside)
    partial = tmp_path / "partial.npz"
    np.savez(partial, **{k: v for k, v in pooled.items() if k != "pool_distance_m"})
    with pytest.raises(InstanceFileError, match="without every part"):
        read_instances(partial)


def test_impossible_requests_are_refused(helsinki):
    with pytest.raises(TwinError, match="at most"):
        sample_instances(helsinki, n_bins=100_000, n_instances=1)
    with pytest.raises(TwinError, match="n_instances"):
        sample_instances(helsinki, n_bins=5, n_instances=0)


def test_days_of_several_draws_join_into_one_batch(batch, helsinki):
    other = sample_instances(helsinki, n_bins=N_BINS, n_instances=3, seed=4)
    joined = join_instances([batch, other])
    assert len(joined) == len(batch) + len(other)
    np.testing.assert_array_equal(joined.duration_s[len(batch) :], other.duration_s)
    np.testing.assert_array_equal(joined.load_kg[: len(batch)], batch.load_kg)
    # each draw numbers its own locations: a join keeps none
    assert joined.locations is None and joined.meta["joined_seeds"] == [3, 4]
    smaller = sample_instances(helsinki, n_bins=N_BINS - 5, n_instances=1, seed=5)
    with pytest.raises(InstanceFileError, match=r"small\.npz holds 20-bin days"):
        join_instances([batch, smaller], names=["big.npz", "small.npz"])
