"""A twin's test report: accuracy, per-class accuracy and confusion matrix, predicted as the app predicts."""
from __future__ import annotations

import math

import torch
from torch import nn

from bnapp import CLASSES
from bnapp.data.cifar10 import Cifar10
from bnapp.measure import infer
from bnapp.measure.infer import InputSpec


def interval(p: float, n: int) -> float:
    """Half-width of the 95% interval of an accuracy `p` measured on `n` images (normal approximation)."""
    return 1.96 * math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


def class_report(model: nn.Module, spec: InputSpec, data: Cifar10, precision: str = "fp32") -> dict:
    """Test accuracy, per-class accuracy and the confusion matrix (rows: true class), predicted in
    `precision` as the app does (`infer.for_inference`)."""
    scores = infer.logits(infer.for_inference(model, precision), data.x_test, spec)
    pred = scores.argmax(1)
    truth = data.y_test.to(pred.device)
    confusion = torch.zeros(10, 10, dtype=torch.int64, device=pred.device)
    confusion.index_put_((truth, pred), torch.ones_like(pred), accumulate=True)
    per_class = confusion.diag().float() / confusion.sum(1).clamp(min=1)
    return dict(
        test_accuracy=infer.share_right(scores, truth),
        per_class_accuracy={c: round(float(a), 4) for c, a in zip(CLASSES, per_class)},
        confusion_matrix=confusion.tolist(),
    )
