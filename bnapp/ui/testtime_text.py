"""The Test time tab's words and tables, from the test-time and shift services' data (Markdown)."""
from __future__ import annotations

import math

from bnapp.data import corruptions
from bnapp.data.images import CLASSES
from bnapp.services.shift import SHORT, VARIANTS, variant_names
from bnapp.services.testtime import KINDS


def company_summary(v) -> str:
    """Under "its company" (`testtime.CompanyView`): what each twin says, and how often a batch changed BN's answer."""
    plain = (f"says {CLASSES[max(range(10), key=v.plain.__getitem__)]}" if all(map(math.isfinite, v.plain))
             else "has no answer (its outputs are not finite numbers: it diverged in training)")
    lines = [f"In eval mode the BN twin says **{v.target}** ({v.bn_eval[CLASSES.index(v.target)]:.0%}); "
             f"the plain twin {plain}, whatever the batch."]
    for kind in KINDS:
        changed, total = v.changed(kind)
        name = f"test images of class {v.company_class}" if kind == KINDS[1] else kind
        lines.append(f"- with {name}: another answer in **{changed} of {total}** batches")
    if v.undefined:
        lines.append(f"\nBatch of one: {v.undefined}")
    return "\n".join(lines)


def batch_size_summary(c) -> str:
    """Under the batch-size curve (`testtime.BatchSizeCurve`)."""
    line = ", ".join(f"{s}: {a:.1%}" for s, a in zip(c.sizes, c.batch_stats) if a is not None)
    text = (f"On {c.n} of {c.source}: eval mode **{c.running:.1%} ± {c.pm(c.running):.1%}**, "
            f"plain twin {c.plain:.1%}; with each batch's own statistics, by batch size: {line}.")
    return text + (f"  \nBatch of one: {c.undefined}" if c.undefined else "")


def shift_table(view) -> str:
    """Each variant's accuracy on the corrupted (and, once measured, the clean) images (`shift.ShiftView`)."""
    names = variant_names(view.prior)
    head = (f"| | {corruptions.LABELS[view.corruption]}, severity {view.severity} |"
            + (" clean |" if view.clean else ""))
    rows = [head, "|---|---|" + ("---|" if view.clean else "")]
    for v in VARIANTS:
        clean = f" {view.clean[v]:.1%} |" if view.clean else ""
        rows.append(f"| {names[v]} | **{view.accuracy[v]:.1%}** ± {view.pm(view.accuracy[v]):.1%} |{clean}")
    note = (f"\n\n{view.n} random test images from {view.source}; BN statistics over batches of {view.batch}; "
            "fp32, no TTA; ± is a 95% interval.")
    return "\n".join(rows) + note + ("" if view.clean else " Clean accuracies: click *All severities*.")


def shown_table(view) -> str:
    """What each variant says for the images shown, left to right."""
    rows = ["| image | true | " + " | ".join(SHORT[v] for v in VARIANTS) + " |",
            "|---|---|" + "---|" * len(VARIANTS)]
    rows += [f"| {i + 1} | {truth} | " + " | ".join(said[v] if said[v] == truth else f"*{said[v]}*" for v in VARIANTS)
             + " |" for i, (_, truth, said) in enumerate(view.shown)]
    return "\n".join(rows) + "\n\nA wrong answer is in *italics*."


def upload_rows(u) -> list[list[str]]:
    """A person's own batch (`shift.UploadView`): per image, each variant's answer."""
    return [[name] + [f"{c} ({p:.0%})" for c, p in (u.predictions[v][i] for v in VARIANTS)]
            for i, name in enumerate(u.names)]


def upload_note(u) -> str:
    n = len(u.names)
    text = (f"{n} image(s) as one batch. Adapting BN's statistics to your batch changed the BN twin's answer "
            f"for **{u.changed()} of {n}** (batch alone) and {u.changed('mixed')} of {n} (mixed, N = {u.prior:g}).")
    return text + ("  \nSkipped: " + "; ".join(u.problems) if u.problems else "")
