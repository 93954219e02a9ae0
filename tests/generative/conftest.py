"""Days of the bundled city shared by the environment's and the decoders' tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from generative.instances import sample_instances


@pytest.fixture(scope="session")
def sampled(helsinki):
    """Six 20-bin days of the bundled city, two trucks."""
    return sample_instances(helsinki, n_bins=20, n_instances=6, seed=5, n_trucks=2)


@pytest.fixture(scope="session")
def tight(sampled):
    """The same days with small trucks on short shifts: capacity, unloads and the shift all
    bind."""
    return replace(
        sampled,
        capacity_kg=np.full_like(sampled.capacity_kg, 1500.0),
        shift_s=np.full_like(sampled.shift_s, 5400.0),
        load_kg=np.minimum(sampled.load_kg, 1500.0),
    )
