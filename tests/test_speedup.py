"""The steps-to-accuracy rules on constructed curves."""
import pytest

from bnapp.services.speedup import first_crossing, steps_to_accuracy
from bnapp.ui.run_text import steps_saved

STEPS = [10, 20, 30, 40]


def test_crossings_are_interpolated_and_the_plain_twins_own_first_reach_is_used():
    # plain reaches its final 0.40 already at step 30; BN crosses 0.40 halfway between 10 (0.30) and 20 (0.50)
    r = steps_to_accuracy(STEPS, [0.30, 0.50, 0.60, 0.70], [0.20, 0.30, 0.40, 0.40], 1000, False)
    assert r.target == 0.40 and r.bn_step == pytest.approx(15) and r.plain_step == pytest.approx(30)
    assert r.ratio == pytest.approx(2.0) and not r.lower_bound
    assert "2.0x fewer steps" in steps_saved(r) and "at least" not in steps_saved(r)


def test_bn_past_the_target_at_its_first_evaluation_gives_a_lower_bound():
    r = steps_to_accuracy(STEPS, [0.45, 0.5, 0.6, 0.7], [0.1, 0.2, 0.3, 0.4], 1000, False)
    assert r.lower_bound and r.bn_step == 10 and r.ratio == pytest.approx(4.0)
    assert "at least 4.0x" in steps_saved(r)


def test_the_interval_of_one_evaluation_is_stated():
    r = steps_to_accuracy(STEPS, [0.3, 0.5, 0.6, 0.7], [0.2, 0.3, 0.4, 0.4], 1000, False)
    assert r.margin == pytest.approx(1.96 * (0.4 * 0.6 / 1000) ** 0.5)
    assert "+- 3.0 points" in steps_saved(r)


@pytest.mark.parametrize("plain,diverged,reason", [
    ([0.2, 0.3, 0.4, 0.4], True, "diverged"),
    ([0.10, 0.11, 0.10, 0.12], False, "near chance"),
])
def test_no_ratio_when_the_plain_twin_is_no_target(plain, diverged, reason):
    r = steps_to_accuracy(STEPS, [0.3, 0.5, 0.6, 0.7], plain, 1000, diverged)
    assert r.ratio is None and reason in steps_saved(r)


def test_bn_that_never_gets_there_says_so():
    r = steps_to_accuracy(STEPS, [0.1, 0.2, 0.25, 0.3], [0.2, 0.3, 0.4, 0.4], 1000, False)
    assert r.ratio is None and "never reached" in steps_saved(r)


def test_missing_points_are_skipped():
    assert first_crossing(STEPS, [None, 0.2, None, 0.6], 0.4) == (pytest.approx(30.0), False)
