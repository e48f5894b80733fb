"""Ship a twin pair trained with several seeds: every seed measured the same way, the spread recorded.

    python -m bnapp.seeds --name cnn --runs runs/pairs/cnn-hi-s0 runs/pairs/cnn-hi-s1 runs/pairs/cnn-hi-s2 \\
        --out checkpoints --data ../shared/data/cifar10.npz --chosen-by bn

Each run (`python -m bnapp.train ... --name PREFIX`) is a PREFIX-bn / PREFIX-plain pair. Every checkpoint of
every seed is measured as `python -m bnapp.evaluate --write` measures (whole test set, its TTA, fp32 and bf16);
the first run is copied to OUT/NAME-bn|plain with those fields and a `seeds` record: each seed's accuracy,
their mean and standard deviation per precision, which seed is shipped, and each run's command. The pair's
title in the app then shows mean +- sd over the seeds. `--chosen-by TWIN` adds a `choice` record: the
validation split and the rule that chose the runs' learning rate (the sweep's numbers: the model card).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from . import TWIN_LABELS
from .checkpoints import CheckpointError, load, save
from .data import HOLDOUT_IMAGES, HOLDOUT_SEED, DatasetError, load_cifar10
from .evaluate import WRITTEN_PRECISIONS, evaluation_fields
from .experiments import epochs_command, sweep_command
from .services.experiments import TTA_SEEDS
from .recipes import TWINS


def seeds_record(metas: list[dict]) -> dict:
    """The `seeds` record of one twin from each seed's measured metadata (first: the shipped one)."""
    by_precision = {p: [m["test_accuracy_by_precision"][p] for m in metas] for p in WRITTEN_PRECISIONS}
    return dict(
        seeds=[m["seed"] for m in metas], shipped_seed=metas[0]["seed"], test_accuracy=by_precision,
        mean={p: statistics.mean(a) for p, a in by_precision.items()},
        sd={p: statistics.stdev(a) if len(a) > 1 else 0.0 for p, a in by_precision.items()},
        commands=[m.get("command", "") for m in metas],
    )


def choice_record(chosen_by: str, meta: dict, epochs_tried: list[float] | None = None) -> dict:
    """How the runs' learning rate (and, with `epochs_tried`, their epoch count) was chosen: on which split,
    by which rule (each setting's seeds and numbers: the model card)."""
    twin = TWIN_LABELS[chosen_by]
    lr = meta.get("hyperparameters", {}).get("lr")
    epochs = {} if not epochs_tried else {"epochs": dict(
        chosen=meta["epochs"], tried=epochs_tried, command=epochs_command(meta["arch"], meta["recipe"], lr),
        rule=f"the epoch count with the {twin} twin's best mean validation accuracy ({len(TTA_SEEDS)} seeds, {meta['input']['tta']} TTA)")}
    return dict(
        split=dict(held_out_images=HOLDOUT_IMAGES, class_balanced=True, seed=HOLDOUT_SEED,
                   of=f"the {meta['train_images']:,} training images"),
        lr=lr,
        rule=f"the rate with the {twin} twin's best mean validation accuracy in the sweep",
        sweep=sweep_command(meta["arch"], meta["recipe"]),
        tta=f"{meta['input']['tta']}: the BN twin's best mean validation accuracy (python -m bnapp.experiments tta "
            "--validation)",
        numbers="checkpoints/README.md: each rate's seeds and validation accuracies",
        final_runs=f"all {meta['train_images']:,} training images, once the choices were made",
    ) | epochs


def ship(name: str, runs: list[Path], out: Path, data, command: str, chosen_by: str | None = None,
         epochs_tried: list[float] | None = None) -> dict[str, dict]:
    """Measure every seed of both twins, write the first run to `out` with the seeds' record; returns it."""
    measured: dict[str, list[tuple[object, dict]]] = {t: [] for t in TWINS}
    for run in runs:
        for twin in TWINS:
            model, meta = load(Path(f"{run}-{twin}"))
            measured[twin].append((model, meta | evaluation_fields(model, meta, data, command)))
    for setting, values in (("learning rates", {m.get("hyperparameters", {}).get("lr") for _, m in measured["bn"]}),
                            ("epoch counts", {m.get("epochs") for _, m in measured["bn"]})):
        if len(values) != 1:
            raise CheckpointError(f"the runs were trained at different {setting} {sorted(map(str, values))}: "
                                  "their accuracies are not seeds of one pair")
    if epochs_tried and measured["bn"][0][1].get("epochs") not in epochs_tried:
        raise CheckpointError(f"the runs' {measured['bn'][0][1].get('epochs')} epochs are not among --epochs-tried")
    records = {}
    for twin in TWINS:
        model, meta = measured[twin][0]
        records[twin] = seeds_record([m for _, m in measured[twin]])
        choice = {"choice": choice_record(chosen_by, meta, epochs_tried)} if chosen_by else {}
        save(model, meta | {"seeds": records[twin]} | choice, out / f"{name}-{twin}")
    return records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnapp.seeds", description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, help="the shipped pair's name, e.g. cnn")
    p.add_argument("--runs", nargs="+", required=True, help="run prefixes (PREFIX-bn, PREFIX-plain); the first is shipped")
    p.add_argument("--out", default="checkpoints", help="folder of the shipped pairs")
    p.add_argument("--data", default=None, help="CIFAR-10 .npz (else $BNAPP_DATA)")
    p.add_argument("--chosen-by", choices=TWINS, default=None,
                   help="the twin whose best mean validation accuracy chose the runs' learning rate (recorded)")
    p.add_argument("--epochs-tried", type=float, nargs="+", default=None,
                   help="with --chosen-by: the epoch counts compared on validation, when that twin also chose the runs' epochs")
    a = p.parse_args(argv)
    if a.epochs_tried and not a.chosen_by:
        p.error("--epochs-tried needs --chosen-by")
    command = "python -m bnapp.seeds " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        records = ship(a.name, [Path(r) for r in a.runs], Path(a.out), load_cifar10(a.data), command, a.chosen_by,
                       a.epochs_tried)
    except (DatasetError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for twin, r in records.items():
        print(f"{a.name} {twin}: " + "; ".join(
            f"{p} {100 * r['mean'][p]:.2f}% +- {100 * r['sd'][p]:.2f} over seeds {r['seeds']}" for p in WRITTEN_PRECISIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
