"""Twin pairs: a BN twin and its plain twin loaded from a checkpoint folder or a Hub repo, ready to predict."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from bnapp.measure import infer
from bnapp.measure.infer import InputSpec
from bnapp.store.checkpoints import CheckpointError, find_pairs, load
from bnapp.system import machine
from bnapp.system.precision import prediction_precision


@dataclass
class Pair:
    """A BN twin and its plain twin, loaded and ready to predict."""

    name: str
    models: dict[str, nn.Module]  # "bn" and "plain"
    metadata: dict[str, dict]
    origin: str = "local"  # "local" (a checkpoint folder) or "hub"
    precision: str = field(init=False)  # what predictions run in (`bnapp.system.precision.prediction_precision`)
    # BN-folded copies of `models` (`infer.for_inference`)
    predictors: dict[str, nn.Module] = field(init=False, repr=False)
    # this pair and no other, for caches: an id() is reused once its object is gone, a uid never
    uid: str = field(init=False, repr=False, default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.precision = prediction_precision(next(self.models["bn"].parameters()).device)
        self.predictors = {t: infer.for_inference(m, self.precision) for t, m in self.models.items()}

    def accuracy(self, twin: str) -> float | None:
        """The twin's test accuracy as this pair predicts: in its precision where that was measured
        (shipped checkpoints hold both in `test_accuracy_by_precision`), else the one on record."""
        meta = self.metadata[twin]
        return meta.get("test_accuracy_by_precision", {}).get(self.precision, meta.get("test_accuracy"))

    def spec(self, twin: str) -> InputSpec:
        return InputSpec.from_dict(self.metadata[twin]["input"])


@dataclass
class PairLoadReport:
    pairs: dict[str, Pair] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # one line per pair that failed to load


def load_pairs(folder: str | os.PathLike, prefix: str = "") -> PairLoadReport:
    """Every complete pair in `folder`, on the app's device; a broken or half pair is reported, not fatal.
    `prefix` names where the pairs came from (e.g. a Hub repo) in their names."""
    report = PairLoadReport()
    folder = Path(folder)
    if not folder.is_dir():
        report.errors.append(f"{folder}: checkpoint folder not found")
        return report
    device = machine.device()
    for name, (bn_stem, plain_stem) in find_pairs(folder).items():
        try:
            (bn, bn_meta), (plain, plain_meta) = load(bn_stem, device), load(plain_stem, device)
        except CheckpointError as e:
            report.errors.append(f"pair '{prefix}{name}' not loaded: {e}")
            continue
        report.pairs[prefix + name] = Pair(prefix + name, {"bn": bn, "plain": plain},
                                           {"bn": bn_meta, "plain": plain_meta})
    return report


def load_hub_pairs(repo_id: str, revision: str | None = None, **download) -> PairLoadReport:
    """The twin pairs of a Hub model repo, named `owner/name[@revision]:pair`; raises HubError when none load.
    `download`: `hub.download_pair`'s token and access options."""
    from bnapp.store import hub  # huggingface_hub only where a Hub pair is asked for: the GPU test tier runs without it
    folder = hub.download_pair(repo_id, revision, **download)
    report = load_pairs(folder,
                        prefix=f"{repo_id.strip()}{'@' + revision.strip() if revision and revision.strip() else ''}:")
    if not report.pairs:
        raise hub.HubError(f"{repo_id}: no compatible pair -- " + "; ".join(report.errors))
    for pair in report.pairs.values():
        pair.origin = "hub"
    return report
