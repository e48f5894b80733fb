"""The noisy-BN experiment (Santurkar et al. 2018, sec. 2.1): BN, BN with noise after every BN layer
(`bnapp.nets.noisy_bn`) and no BN, trained in lockstep on the same batches from the same initial weights,
for several seeds. If BN helped by keeping each layer's input distribution steady, the noisy variant,
whose distributions move at every step, should train like the plain net; Santurkar et al. found it
trains about as well as BN.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from bnapp.data.cifar10 import Cifar10
from bnapp.measure.spread import Paired, paired
from bnapp.services.experiments import ExperimentPreset
from bnapp.services.probes import probe_for
from bnapp.services.training import PROBE_UNIT, RunLog
from bnapp.training.engine import PairTrainer
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import TrainConfig

NOISY = ExperimentPreset(epochs=3, train_subset=8192, batch_size={"cnn": 256, "mlp": 32, "fig1": 60},
                         lr={"cnn": None, "mlp": 1e-3, "fig1": None}, evals_per_run=8)
NOISY_SEEDS = (0, 1, 2)
VARIANTS = ("bn", "noisy", "plain")
LABELS = {"bn": "BN", "noisy": "noisy BN", "plain": "no BN"}


@dataclass
class NoisyRun:
    """Every seed's log so far and the first seed's evolution snapshots (all three variants)."""

    unit: str
    seeds: int
    logs: dict[int, RunLog] = field(default_factory=dict)
    points: list[tuple[int, dict]] = field(default_factory=list)

    def finals(self) -> dict[str, list[float]]:
        """Last evaluation (no TTA, the same test images) per variant, one per finished seed."""
        done = [log for log in self.logs.values() if log.finished]
        return {v: [log.test_acc[v][-1] for log in done] for v in VARIANTS}

    def movement(self) -> dict[str, float]:
        """Mean absolute change of the unit's median activation input between consecutive snapshots."""
        out = {}
        for v in VARIANTS:
            medians = [pt[v]["act_input"][50] for _, pt in self.points]
            steps = [abs(b - a) for a, b in zip(medians, medians[1:])]
            out[v] = statistics.mean(steps) if steps else 0.0
        return out

    def compared(self) -> dict[str, Paired] | None:
        """Noisy BN against BN and against no BN, paired by seed, once every seed has finished (the three
        variants train in lockstep, seed by seed: their results pair up); None before."""
        finals = self.finals()
        if len(finals["bn"]) != self.seeds:
            return None
        return {v: paired(finals["noisy"], finals[v]) for v in ("bn", "plain")}

    @property
    def stopped(self) -> bool:
        """Whether some runs reached their share of the server's time limit and stopped early."""
        return any(log.stopped for log in self.logs.values())


def noisy_runs(base: TrainConfig, data: Cifar10, seeds: tuple[int, ...] = NOISY_SEEDS) -> Iterator[NoisyRun]:
    """Each seed in turn; yields the whole experiment after each evaluation and at each run's end."""
    unit = PROBE_UNIT[base.arch]
    run = NoisyRun(unit, len(seeds))
    for seed in seeds:
        cfg = replace(base, seed=seed, noisy_bn=True)
        probe = probe_for(cfg, data, unit) if seed == seeds[0] else None
        trainer = PairTrainer(cfg, data, probe=probe)
        log = run.logs.setdefault(seed, RunLog())
        for ev in trainer.run():
            log.add(ev)
            if ev.probe is not None:
                run.points.append((ev.step, ev.probe.evolution))
            if ev.test_acc:
                yield run


def noisy_experiment(limits: TrainLimits, data_source, arch: str) -> Iterator[NoisyRun]:
    """The app's preset: `NOISY`'s short budget, 3 seeds."""
    return noisy_runs(NOISY.config(limits, arch, runs=len(NOISY_SEEDS)), data_source())
