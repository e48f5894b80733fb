"""Numbers that vary by seed: their mean and spread, and when a difference between two of them is claimed.

One rule for every view: a difference is claimed only when a test paired by seed finds it (the twins and
the variants of an experiment train in lockstep, seed by seed, so their runs pair up), at 95%.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Student's t, two-sided 95%, by degrees of freedom (beyond the table: the normal's 1.96)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       15: 2.131, 20: 2.086, 30: 2.042}


def t95(df: int) -> float:
    """The 95% two-sided critical value of Student's t with `df` degrees of freedom (rounded down in df)."""
    if df < 1:
        return math.inf
    return T95[max(k for k in T95 if k <= df)] if df <= max(T95) else 1.96


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation of `n` values (sd 0 for one value)."""

    mean: float
    sd: float
    n: int

    @staticmethod
    def of(values: Sequence[float]) -> Spread:
        values = list(values)
        return Spread(statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))

    def percent(self, digits: int = 1) -> str:
        """An accuracy as 'm% +- sd' in points, the way every view writes it."""
        return f"{100 * self.mean:.{digits}f}% +- {100 * self.sd:.{digits}f}"


@dataclass(frozen=True)
class Paired:
    """`a` minus `b`, seed by seed: the mean difference, its 95% interval's half-width, and whether it excludes 0."""

    difference: float
    half_width: float
    n: int

    @property
    def differs(self) -> bool:
        return self.n > 1 and abs(self.difference) > self.half_width

    def describe(self, a: str, b: str) -> str:
        """e.g. 'noisy BN minus BN: -1.2 points +- 0.8 (95%, paired by seed, n=3): a difference'."""
        verdict = ("a difference" if self.differs else "no clear difference") if self.n > 1 else "one seed: no test"
        return (f"{a} minus {b}: {100 * self.difference:+.1f} points +- {100 * self.half_width:.1f} "
                f"(95%, paired by seed, n={self.n}): {verdict}")


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    """The paired t-test of two runs' results seed by seed (`a[i]` and `b[i]` share seed i)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need one of each per seed, got {len(a)} and {len(b)}")
    d = Spread.of([x - y for x, y in zip(a, b)])
    half = t95(d.n - 1) * d.sd / math.sqrt(d.n) if d.n > 1 else math.inf
    return Paired(d.mean, half, d.n)
