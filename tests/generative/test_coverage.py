"""Training on days of several places and sizes: pooled files stay pooled and give the same days
as files read whole, a step's days come from one file and are fewer the larger they are, the
checkpoint's range spans every file, new features enter without changing a model's plans, and
the range check says which figure of a day lies outside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cities.areas import synthetic_city
from generative.checkpoint import checkpoint_range, load_checkpoint
from generative.coverage import TrainingRange, day_figures, travel_scale_s
from generative.data import PooledDays, read_days, read_instances
from generative.instances import sample_instances, write_instances
from generative.model import PlannerConfig, PlannerNet, rollout
from generative.train import CHECKPOINT_NAME, TrainConfig, as_tensors, batch_days, train

SMALL = PlannerConfig(dim=16, heads=2, layers=1)


@pytest.fixture(scope="module")
def two_places(helsinki, tmp_path_factory):
    """Files of two places and sizes: 10-bin days of the bundled city, 30-bin days of a
    synthetic town with a bigger fleet."""
    folder = tmp_path_factory.mktemp("two-places")
    small = sample_instances(helsinki, n_bins=10, n_instances=12, seed=1, n_trucks=2)
    town = synthetic_city(3, blocks=(12, 12))
    large = sample_instances(
        town, n_bins=30, n_instances=12, seed=2, n_trucks=4, population=1500,
        truck_capacity_kg=8000.0, shift_s=6 * 3600.0,
    )  # fmt: skip
    return write_instances(small, folder / "small.npz"), write_instances(
        large, folder / "large.npz"
    )


def test_pooled_days_are_the_days_read_whole(two_places):
    for path in two_places:
        pooled, whole = read_days(path), read_instances(path)
        assert isinstance(pooled, PooledDays) and len(pooled) == len(whole)
        assert pooled.n_bins == whole.n_bins and pooled.meta == whole.meta
        index = np.array([5, 0, 7])
        part, expected = pooled.subset(index), whole.subset(index)
        for name, value in expected.arrays().items():
            np.testing.assert_array_equal(getattr(part, name), value, err_msg=name)
        np.testing.assert_allclose(pooled.travel_scale_s(), whole.travel_scale_s())


def test_travel_scale_is_the_mean_travel_time_and_skips_unreachable_pairs():
    duration = np.array([[[0.0, 100.0], [300.0, 0.0]], [[0.0, np.inf], [200.0, 0.0]]])
    np.testing.assert_allclose(travel_scale_s(duration), [100.0, 200.0 / 3])


def test_a_step_takes_fewer_days_the_larger_they_are():
    config = TrainConfig(batch_size=32, batch_bins=100)
    assert batch_days(config, 50, 1000) == 32  # smaller days: the whole batch
    assert batch_days(config, 200, 1000) == 16
    assert batch_days(config, 480, 1000) == 7
    assert batch_days(config, 480, 1000, world_size=4) == 8  # a multiple of the processes
    assert batch_days(config, 5000, 1000, world_size=2) == 2  # at least one per process
    assert batch_days(config, 100, 10) == 10  # at most what the file holds


def test_training_on_two_places_ranges_over_both(two_places, tmp_path):
    sets = [read_days(p) for p in two_places]
    config = TrainConfig(steps=6, batch_size=4, samples=2, batch_bins=10, checkpoint_every=3)
    torch.manual_seed(0)
    train(sets, config, model=PlannerNet(SMALL), run_dir=tmp_path)
    trained = checkpoint_range(load_checkpoint(tmp_path / CHECKPOINT_NAME))
    assert trained.days == 24 and len(trained.places) == 2
    assert trained.bounds["n_bins"] == (10, 30)
    assert trained.bounds["n_trucks"] == (2, 4)
    assert trained.bounds["shift_s"] == (6 * 3600.0, 8 * 3600.0)
    assert trained.bounds["capacity_kg"] == (8000.0, 10_000.0)
    scales = np.concatenate([s.travel_scale_s() for s in sets])
    assert trained.bounds["travel_scale_s"] == pytest.approx((scales.min(), scales.max()))
    # a run that goes on from this one on the same files has learned no new days
    again = TrainingRange.merge([trained, TrainingRange.from_days(sets)])
    assert again.days == 24 and again.bounds == trained.bounds
    assert TrainingRange.merge([trained, TrainingRange.from_days(sets[:1])]).days == 24
    # both sizes were trained on, each step on one file's days
    with (tmp_path / "log.csv").open() as handle:
        bins = {line.rsplit(",", 1)[1].strip() for line in list(handle)[1:]}
    assert bins == {"10", "30"}


def test_days_outside_the_range_are_named_figure_by_figure():
    trained = TrainingRange(
        places=({"name": "a", "sha256": "1", "days": 5},),
        bounds={"n_bins": (50, 500), "n_trucks": (1, 8), "shift_s": (21600, 36000),
                "capacity_kg": (6000, 14000), "travel_scale_s": (100, 900)},
        days=5,
    )  # fmt: skip
    duration = np.full((3, 3), 400.0)
    inside = day_figures(n_bins=100, n_trucks=3, shift_s=28800, capacity_kg=10_000,
                         duration_s=duration)  # fmt: skip
    assert trained.outside(inside) == []
    # any place is welcome: the range is of figures, not of cities
    assert trained.outside(inside, place_sha256="another") == []
    outside = {**inside, "n_bins": 600.0, "travel_scale_s": 1500.0}
    assert trained.outside(outside) == [
        "bins 600 (trained on 50–500)",
        "travel-time scale (mean travel time between the day's locations) 1500 s "
        "(trained on 100–900 s)",
    ]
    back = TrainingRange.from_dict(trained.to_dict())
    assert back == trained
    with pytest.raises(ValueError, match="not a training range"):
        TrainingRange.from_dict({"bounds": {"n_bins": "many"}})


def test_new_features_enter_with_zero_weight(helsinki):
    days = as_tensors(sample_instances(helsinki, n_bins=10, n_instances=3, seed=4, n_trucks=2))
    torch.manual_seed(0)
    first = PlannerNet(PlannerConfig(dim=16, heads=2, layers=1, features=1))
    wider = first.with_features(2)
    assert wider.config.features == 2 and wider.embed.in_features == 13
    with torch.no_grad():
        a = rollout(first, days, samples=4, generator=torch.Generator().manual_seed(1))
        b = rollout(wider, days, samples=4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a[0], b[0])  # the same log-probabilities
    assert torch.equal(a[2], b[2])  # the same plans
    with pytest.raises(ValueError, match="drops figures"):
        wider.with_features(1)
