"""Shipping a pair: each checkpoint measured as `python -m bnapp.evaluate --write` records it, each seed's
accuracy and their spread, and how the runs' recipe was chosen (which split, which rule, which command)."""
from __future__ import annotations

import shutil
from pathlib import Path

from bnapp import TWIN_LABELS, TWINS
from bnapp.data.cifar10 import HOLDOUT_IMAGES, HOLDOUT_SEED, Cifar10
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.measure.spread import Spread
from bnapp.services.experiments import TTA_SEEDS
from bnapp.services.tuning import protocol_path
from bnapp.store.checkpoints import CheckpointError, load, save

EXPERIMENTS_PROG = "python -m bnapp.experiments"
WRITTEN_PRECISIONS = ("fp32", "bf16")
SUPERSEDED_KEYS = ("tta_note", "precision_note")  # hand-written notes of old files, replaced by `evaluation`


def evaluation_fields(model, meta: dict, data: Cifar10, command: str) -> dict:
    """What `--write` records: the accuracy in each precision, the fp32 report, and how it was measured."""
    spec = InputSpec.from_dict(meta["input"])
    reports = {p: class_report(model, spec, data, p) for p in WRITTEN_PRECISIONS}
    return dict(
        test_accuracy=reports["fp32"]["test_accuracy"],
        test_precision="fp32",
        per_class_accuracy=reports["fp32"]["per_class_accuracy"],
        confusion_matrix=reports["fp32"]["confusion_matrix"],
        test_accuracy_by_precision={p: r["test_accuracy"] for p, r in reports.items()},
        evaluation=dict(tta=spec.tta, test_images=len(data.y_test), precisions=list(WRITTEN_PRECISIONS),
                        data=data.source, command=command),
    )


def write_evaluation(stem: Path, data: Cifar10, command: str) -> dict:
    """Re-measure one checkpoint and rewrite its JSON with `evaluation_fields` (weights untouched)."""
    model, meta = load(stem)
    meta = {k: v for k, v in meta.items() if k not in SUPERSEDED_KEYS} | evaluation_fields(model, meta, data, command)
    save(model, meta, stem)
    return meta


def checkpoint_stems(args: list[str]) -> list[Path]:
    """Expand folders into the checkpoints they hold."""
    stems: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            stems += sorted(q.with_suffix("") for q in p.glob("*.safetensors"))
        else:
            stems.append(p.with_suffix("") if p.suffix in (".json", ".safetensors") else p)
    return stems


SHIPPED_SWEEP = dict(epochs=2, train_subset=20000)  # the protocol the shipped pairs' rates were chosen with


def sweep_command(arch: str, recipe: str) -> str:
    """The validation sweep behind a shipped pair's rate, as a command line of this CLI (its rates and seed elided)."""
    return (f"{EXPERIMENTS_PROG} lr-sweep --validation --arch {arch} --recipe {recipe} "
            f"--epochs {SHIPPED_SWEEP['epochs']} --train-subset {SHIPPED_SWEEP['train_subset']} --lrs ... --seed S")


def epochs_command(arch: str, recipe: str, lr: float) -> str:
    """The validation runs behind a shipped pair's epoch count (3 seeds each), E elided: the tta experiment
    trains on all the images outside the validation split."""
    return f"{EXPERIMENTS_PROG} tta --validation --arch {arch} --recipe {recipe} --lr {lr:g} --epochs E"


def seeds_record(metas: list[dict]) -> dict:
    """The `seeds` record of one twin from each seed's measured metadata (first: the shipped one)."""
    by_precision = {p: [m["test_accuracy_by_precision"][p] for m in metas] for p in WRITTEN_PRECISIONS}
    return dict(
        seeds=[m["seed"] for m in metas], shipped_seed=metas[0]["seed"], test_accuracy=by_precision,
        mean={p: Spread.of(a).mean for p, a in by_precision.items()},
        sd={p: Spread.of(a).sd for p, a in by_precision.items()},
        commands=[m.get("command", "") for m in metas],
    )


def choice_record(chosen_by: str, meta: dict, epochs_tried: list[float] | None = None) -> dict:
    """How the runs' learning rate (and, with `epochs_tried`, their epoch count) was chosen: on which split,
    by which rule (each setting's seeds and numbers: the model card)."""
    twin = TWIN_LABELS[chosen_by]
    lr = meta.get("hyperparameters", {}).get("lr")
    epochs = {} if not epochs_tried else {"epochs": dict(
        chosen=meta["epochs"], tried=epochs_tried, command=epochs_command(meta["arch"], meta["recipe"], lr),
        rule=f"the epoch count with the {twin} twin's best mean validation accuracy ({len(TTA_SEEDS)} seeds, "
             f"{meta['input']['tta']} TTA)")}
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


def ship_search(table: Path, out: Path, name: str) -> Path:
    """Copy a recipe search's table and protocol beside the shipped pair (`NAME-search.jsonl`): the record the
    pair's `recipe_choice` points to and the "how forgiving" view reads."""
    shipped = out / f"{name}-search.jsonl"
    shutil.copyfile(table, shipped)
    shutil.copyfile(protocol_path(table), protocol_path(shipped))
    return shipped


def ship(name: str, runs: list[Path], out: Path, data, command: str, chosen_by: str | None = None,
         epochs_tried: list[float] | None = None, search: Path | None = None) -> dict[str, dict]:
    """Measure every seed of both twins, write the first run to `out` with the seeds' record; returns it.
    With `search`, the table that chose each twin's recipe ships beside it and the records point to it."""
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
        if search is not None:
            if "recipe_choice" not in meta:
                raise CheckpointError("--search: the runs were not trained from a search (train --search)")
            shipped = ship_search(search, out, name)
            choice = {"recipe_choice": meta["recipe_choice"] | dict(table=f"{out.name}/{shipped.name}")}
        save(model, meta | {"seeds": records[twin]} | choice, out / f"{name}-{twin}")
    return records
