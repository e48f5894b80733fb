"""A live run's words in the Train tab: how it ended, both twins' accuracy, the steps BN saved (Markdown)."""
from __future__ import annotations

from bnapp import TWIN_LABELS, TWINS
from bnapp.services.probes import landscape_medians
from bnapp.services.speedup import steps_to_accuracy
from bnapp.ui.experiment_text import landscape_summary


def run_summary(u) -> str:
    """Under a finished live run (`training.LiveUpdate` with its `end`): how it ended, both twins' accuracy, a
    twin that diverged, the steps BN saved, the time budget's plan, the landscape's medians, the new pair."""
    end, log, meta = u.end, u.log, u.end.result.metadata
    acc = {t: meta[t]["test_accuracy"] for t in TWINS}
    lines = [f"**{'Stopped early; partial result' if end.stopped else 'Done'}** in {end.seconds:.0f} s on "
             f"{end.trained_on}. Final test accuracy: "
             f"**{100 * acc['bn']:.1f}% with BatchNorm, {100 * acc['plain']:.1f}% without** "
             f"({meta['bn']['test_images']} test images, predicted in "
             f"{meta['bn'].get('test_precision', 'fp32')} as Compare does)."]
    lines += [f"The {TWIN_LABELS[t]} twin **diverged** at step {log.diverged[t]} (loss NaN/inf) and was frozen there; "
              "the other twin carried on." for t in TWINS if log.diverged.get(t) is not None]
    if log.eval_steps:
        lines.append(steps_saved(steps_to_accuracy(log.eval_steps, log.test_acc["bn"], log.test_acc["plain"],
                                                   meta["bn"]["test_images"], log.diverged.get("plain") is not None)))
    if end.plan is not None:
        lines.append(f"Time budget: {plan_line(end.plan)}.")
    if u.landscape:
        lines.append(landscape_summary(landscape_medians(u.landscape), len(u.landscape)))
    lines.append(f"The pair **{u.pair_name}** is now in the model-pair menu for Compare and Activations.")
    return "  \n".join(lines)


def plan_line(plan) -> str:
    """What a time budget planned (`budget.Plan`), as measured on the machine that trained."""
    return (f"planned {plan.steps} steps on {plan.train_images} images ({plan.epochs:.2f} epochs) to end within "
            f"the {plan.budget:g} s budget: measured {1000 * plan.step_seconds:.0f} ms a step, "
            f"{plan.eval_seconds:.2f} s an evaluation, {plan.calibration_seconds:.1f} s to measure")


def steps_saved(s) -> str:
    """`speedup.StepsToAccuracy` in words: the steps each twin needed to reach the plain twin's final accuracy."""
    if s.ratio is None:
        return s.reason
    at_least = "at least " if s.lower_bound else ""
    return (f"The BN twin reached the plain twin's final accuracy ({100 * s.target:.1f}% +- {100 * s.margin:.1f} "
            f"points, 95%, on the same test images without TTA) by step {s.bn_step:.0f}; the plain twin first got "
            f"there at step {s.plain_step:.0f}: **{at_least}{s.ratio:.1f}x fewer steps**"
            + (" (BN was already past it at its first evaluation)." if s.lower_bound else
               " (crossings interpolated between evaluations)."))
