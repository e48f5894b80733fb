""""BatchNorm reached the plain twin's accuracy in N x fewer steps", measured soundly.

Ioffe & Szegedy (2015) report the steps BN needs to match the plain network's accuracy. Here both
twins' curves come from one protocol (the same test images, no TTA, the training precision, the same
steps), so they can be compared point by point:
- the target is the plain twin's final accuracy on that curve;
- each twin's step is where its curve first reaches the target, interpolated linearly between the two
  evaluations around the crossing (the plain twin may get there before its last evaluation);
- the ratio is the plain twin's step over BN's; when BN is already past the target at its first
  evaluation, its true crossing is earlier still, so the ratio is a lower bound ("at least");
- no ratio when the plain twin diverged or stayed near chance (its "accuracy" is then no target);
- every evaluation on n images has a 95% interval of about +-1.96 sqrt(p(1-p)/n), stated beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

from bnapp.measure.reports import interval

NEAR_CHANCE = 0.15  # CIFAR-10 chance is 0.10; a final accuracy below this is no target


@dataclass(frozen=True)
class StepsToAccuracy:
    target: float | None
    plain_step: float | None
    bn_step: float | None
    lower_bound: bool  # BN crossed at or before its first evaluation
    margin: float  # 95% half-interval of one evaluation at the target accuracy
    reason: str = ""  # why there is no ratio

    @property
    def ratio(self) -> float | None:
        if self.plain_step is None or self.bn_step is None or self.bn_step <= 0:
            return None
        return self.plain_step / self.bn_step



def first_crossing(steps: list[int], accuracy: list[float | None], target: float) -> tuple[float | None, bool]:
    """(the step where `accuracy` first reaches `target`, interpolated; whether that is the first point)."""
    prev = None
    for s, a in zip(steps, accuracy):
        if a is None:
            continue
        if a >= target:
            if prev is None:
                return float(s), True
            s0, a0 = prev
            return s0 + (target - a0) / (a - a0) * (s - s0) if a > a0 else float(s), False
        prev = (s, a)
    return None, False


def steps_to_accuracy(steps: list[int], bn: list[float | None], plain: list[float | None], images: int,
                      plain_diverged: bool) -> StepsToAccuracy:
    """Both twins' accuracy curves (same protocol, same steps) -> the comparison, or the reason for none."""
    final = next((a for a in reversed(plain) if a is not None), None)
    margin = interval(final, images) if final is not None and images else 0.0
    if plain_diverged:
        return StepsToAccuracy(final, None, None, False, margin, "No steps ratio: the plain twin diverged, so it has "
                                                                 "no final accuracy to match.")
    if final is None or final < NEAR_CHANCE:
        return StepsToAccuracy(final, None, None, False, margin, "No steps ratio: the plain twin stayed near chance "
                                                                 "(10%), so its accuracy is no target.")
    plain_step, _ = first_crossing(steps, plain, final)
    bn_step, lower = first_crossing(steps, bn, final)
    if bn_step is None:
        return StepsToAccuracy(final, plain_step, None, False, margin,
                               f"The BN twin never reached the plain twin's final accuracy ({100 * final:.1f}%) "
                               "in this run.")
    return StepsToAccuracy(final, plain_step, bn_step, lower, margin)


def run_status(diverged_at: int | None, test_accuracy: float | None) -> str:
    """"diverged" (loss NaN/inf), "stalled" (still near chance at the end) or "trains"."""
    if diverged_at is not None:
        return "diverged"
    return "stalled" if test_accuracy is None or test_accuracy < NEAR_CHANCE else "trains"
