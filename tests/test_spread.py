"""Means and spreads over seeds, and the one rule for claiming a difference: a test paired by seed."""
import math

import pytest

from bnapp.measure.spread import Spread, paired, t95


def test_spread_is_the_mean_and_sample_sd_written_in_points():
    s = Spread.of([0.80, 0.82, 0.84])
    assert (s.mean, s.n) == (pytest.approx(0.82), 3) and s.sd == pytest.approx(0.02)
    assert s.percent() == "82.0% +- 2.0" and s.percent(2) == "82.00% +- 2.00"
    assert Spread.of([0.5]).sd == 0.0


def test_t_critical_values_are_students_and_fall_to_the_normal():
    assert t95(2) == 4.303 and t95(12) == 2.228 and t95(1000) == 1.96 and t95(0) == math.inf


def test_a_paired_difference_needs_more_than_one_seed_and_the_same_seeds():
    one = paired([0.9], [0.1])
    assert not one.differs and "one seed: no test" in one.describe("a", "b")
    with pytest.raises(ValueError, match="one of each per seed"):
        paired([0.1, 0.2], [0.1])
    assert paired([0.6, 0.7, 0.8], [0.5, 0.6, 0.7]).differs  # the same 10-point gain in every seed
    assert not paired([0.6, 0.5, 0.8], [0.5, 0.6, 0.7]).differs
