"""The experiments' results in words, under their figures in the Train tab (Markdown), from the services' data."""
from __future__ import annotations

from bnapp import TWIN_LABELS
from bnapp.data.sets import DATASETS
from bnapp.measure.spread import Paired, Spread
from bnapp.services.experiments import TRAINABILITY_STEPS, PlacementResult, Trainability, trainability
from bnapp.services.figure1 import UNIT, Figure1
from bnapp.services.noisy import LABELS, NoisyRun


def cut_short(stopped: bool) -> str:
    """What a summary adds when some of its runs reached their share of the server's time limit."""
    return ("  \nSome runs reached their share of this server's time limit and stopped early: their numbers are "
            "for fewer steps than the preset's." if stopped else "")


def trainability_line(t: Trainability) -> str:
    if t.largest is None:
        return (f"After {t.steps} steps this shows early progress, not which rates train: a claim about the largest "
                f"trainable rate needs runs of at least {TRAINABILITY_STEPS:,} steps (the science page has one).")
    return ("Largest rate that trains (neither diverged nor stalled near chance, "
            f"{t.steps:,} steps): " + ", ".join(f"{TWIN_LABELS[twin]} {'none' if v is None else f'{v:g}'}"
                                                for twin, v in t.largest.items()) + ".")


def sweep_summary(rows: list[dict]) -> str:
    parts = []
    for r in rows:
        acc = f"{100 * r['test_accuracy']:.1f}%" + ("" if r["status"] == "trains" else f" ({r['status']})")
        parts.append(f"lr {r['lr']:g} {TWIN_LABELS[r['twin']]}: {'diverged' if r['status'] == 'diverged' else acc}")
    return ("; ".join(parts) + ".  \n" + trainability_line(trainability(rows))
            + cut_short(any(r.get("stopped_early") for r in rows)))


def placement_summary(result: PlacementResult) -> str:
    """Mean +- sd over seeds per variant, and before against after paired by seed once every seed has run."""
    if not result.finals:
        return "Running the first seed..."
    parts = [f"{k}: {v.percent()} (n={v.n})" for k, v in result.finals.items()]
    line = "Final test accuracy, mean +- sd over seeds -- " + "; ".join(parts) + "."
    if result.before_vs_after is not None:
        line += f" {result.before_vs_after.describe('BN before ReLU', 'BN after ReLU')}."
    return line + cut_short(result.stopped)


def noisy_summary(run: NoisyRun) -> str:
    finals = run.finals()
    n = len(finals["bn"])
    if not n:
        return "Training the first seed (BN, noisy BN and no BN in lockstep)..."
    text = ("Final test accuracy, mean +- sd over " + f"{n} seed(s): " +
            "; ".join(f"{LABELS[v]} {Spread.of(a).percent()}" for v, a in finals.items()) + ".")
    move = run.movement()
    text += (f" Between evaluations, in a pass with the noise off, the median of {run.unit}'s channel 0 moved by "
             f"{move['noisy']:.2f} on average with noisy BN, {move['bn']:.2f} with BN and {move['plain']:.2f} "
             "without (first seed).")
    compared = run.compared()
    if compared is not None:
        text += "".join(f" {p.describe(LABELS['noisy'], LABELS[v])}." for v, p in compared.items())
    return text + cut_short(run.stopped)


def figure1_summary(fig: Figure1) -> str:
    if not fig.points:
        return "Training both 3 x 100 sigmoid MLPs..."
    drift, width, acc = fig.drift(), fig.widths(), fig.final_accuracy()
    text = (f"Step {fig.points[-1][0]:,}: averaged over all 100 sigmoids of {UNIT}, each one's median input moved "
            f"{drift['bn']:.2f} in the BN twin (blue) and {drift['plain']:.2f} in the plain twin (orange) since "
            f"the first snapshot; the plotted unit's 15th-85th percentile width is now {width['bn']:.2f} with BN, "
            f"{width['plain']:.2f} without.")
    if acc:
        text += (f" Test accuracy ({len(fig.log.eval_steps)} evaluations on {fig.test_images:,} "
                 f"{DATASETS[fig.dataset].label} images, no TTA): "
                 f"{100 * acc['bn']:.1f}% with BN, {100 * acc['plain']:.1f}% without.")
    return text


def figure1_shipped(fig: Figure1, record: dict) -> str:
    """Under the shipped Figure 1: the first seed's summary, then every seed's drift and accuracy."""
    drift, acc, diff = record["drift"], record["test_acc"], record["drift_bn_minus_plain"]
    n = len(record["seeds"])
    verdict = "a difference" if Paired(**diff).differs else "no clear difference"
    return (f"**Shipped: {record['steps']:,} steps on {DATASETS[fig.dataset].label}, {n} seeds** "
            f"(`checkpoints/figure1.json`; the button trains a short live run instead). First seed: "
            f"{figure1_summary(fig)}  \n"
            f"Over {n} seeds, the mean drift of the 100 sigmoids' medians: BN twin {drift['bn']['mean']:.2f} +- "
            f"{drift['bn']['sd']:.2f}, plain twin {drift['plain']['mean']:.2f} +- {drift['plain']['sd']:.2f} "
            f"(BN minus plain {diff['difference']:+.2f} +- {diff['half_width']:.2f}, 95%, paired by seed: {verdict}); "
            f"test accuracy BN {100 * acc['bn']['mean']:.1f}% +- {100 * acc['bn']['sd']:.1f}, plain "
            f"{100 * acc['plain']['mean']:.1f}% +- {100 * acc['plain']['sd']:.1f} ({record['figure']['test_images']:,} "
            "test images, no TTA).")


def landscape_summary(medians: dict[str, dict[str, float]], measurements: int) -> str:
    """A run's landscape measurements (`probes.landscape_medians`) in one sentence."""
    if not medians:
        return ""
    bn, plain = medians["bn"], medians["plain"]
    return (f"Loss landscape ({measurements} measurements, medians): effective beta-smoothness {bn['beta']:.3g} with "
            f"BN vs {plain['beta']:.3g} without; largest gradient change along the line {bn['grad_change_max']:.3g} "
            f"vs {plain['grad_change_max']:.3g}; loss range {bn['loss_range']:.3g} vs {plain['loss_range']:.3g}.")
