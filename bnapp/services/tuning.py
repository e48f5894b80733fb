"""Running the recipe search (`bnapp.training.search`) and reading its table.

Each trial trains the twins asked for on the validation split (training images minus a held-out 5,000) and
appends one row per twin to a JSON-lines file as it ends, so a search that is stopped resumes where it was.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bnapp import CHECKPOINTS, TWINS
from bnapp.data.cifar10 import Cifar10
from bnapp.services.speedup import run_status
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import Recipe, TrainConfig
from bnapp.training.search import BASE, NEAR_BEST, SEARCHED, Trial, protocol

SHIPPED_SEARCH = CHECKPOINTS / "cnn-fair-search.jsonl"  # the search behind the shipped `cnn-fair` pair


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_search(validation: Cifar10, trials: list[Trial], path: Path, twins: tuple[str, ...] = TWINS,
               seed: int = 0, base: Recipe = BASE) -> Iterator[dict]:
    """Train every trial not yet in `path` on `twins` (lockstep when both), append its rows, yield them."""
    done = {(r["trial"], r["twin"]) for r in read_rows(path)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if not protocol_path(path).exists():
        protocol_path(path).write_text(json.dumps(protocol(len(trials), seed, base=base), indent=1))
    for trial in trials:
        todo = tuple(t for t in twins if (trial.id, t) not in done)
        if not todo:
            continue
        cfg = TrainConfig("cnn", trial.recipe(base), seed=seed, twins=todo)
        trainer = PairTrainer(cfg, validation)
        *_, last = trainer.run()
        for twin in todo:
            t = trainer.twins[twin]
            row = dict(trial=trial.id, origin=trial.origin, twin=twin, **trial.values,
                       val_accuracy=t.test_accuracy, status=run_status(t.diverged_at, t.test_accuracy),
                       val_by_epoch=[h["test_acc"] for h in t.history],
                       train_loss=t.history[-1]["train_loss"] if t.history else None,
                       steps=trainer.step, seconds=round(last.elapsed, 1), seed=seed)
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            yield row


def best(rows: list[dict], twin: str) -> dict:
    """The twin's chosen trial: its best validation accuracy (ties: the earlier trial)."""
    mine = [r for r in rows if r["twin"] == twin]
    if not mine:
        raise ValueError(f"the search has no trial of the {twin} twin")
    return max(mine, key=lambda r: (r["val_accuracy"] or 0.0, -r["trial"]))


def forgiveness(rows: list[dict], twin: str) -> dict:
    """How forgiving a twin is over its trials: how many came within 1 point of its best, and the learning
    rates at which they did."""
    mine = [r for r in rows if r["twin"] == twin]
    top = best(rows, twin)["val_accuracy"] or 0.0
    near = [r for r in mine if (r["val_accuracy"] or 0.0) >= top - NEAR_BEST]
    lrs = sorted(r["lr"] for r in near)
    return dict(trials=len(mine), near_best=len(near), best=top, lr_range=(lrs[0], lrs[-1]),
                median=sorted(r["val_accuracy"] or 0.0 for r in mine)[len(mine) // 2])


def chosen_trials(rows: list[dict]) -> dict[str, Trial]:
    """Each twin's chosen trial, rebuilt from the table's own rows."""
    return {twin: Trial(b["trial"], b["origin"], {k: b[k] for k in SEARCHED})
            for twin, b in ((twin, best(rows, twin)) for twin in TWINS)}


def final_config(rows: list[dict], seed: int, epochs: float | None = None) -> TrainConfig:
    """The fair pair's config: each twin at its own chosen trial, the same batches in lockstep."""
    recipes = chosen_recipes(rows)
    if epochs is not None:
        recipes = {t: replace(r, epochs=epochs) for t, r in recipes.items()}
    return TrainConfig("cnn", recipes["bn"], seed=seed, plain_recipe=recipes["plain"])


def chosen_recipes(rows: list[dict]) -> dict[str, Recipe]:
    """Each twin's chosen trial as its recipe."""
    chosen = chosen_trials(rows)
    return {t: chosen[t].recipe_of(t) for t in TWINS}


def own_recipes(path: Path = SHIPPED_SEARCH) -> dict[str, Recipe] | None:
    """Each twin's chosen recipe from a search table (the shipped one: the cnn-fair pair's); None: no table."""
    rows = read_rows(path)
    return chosen_recipes(rows) if rows else None


def protocol_path(path: Path) -> Path:
    return path.with_suffix(".protocol.json")


def recipe_choice(path: Path, twin: str) -> dict:
    """What a checkpoint records about how its recipe was chosen: the protocol, the table, the trial."""
    rows = read_rows(path)
    b, f = best(rows, twin), forgiveness(rows, twin)
    return dict(protocol=json.loads(protocol_path(path).read_text()), table=str(path), chosen_trial=b["trial"],
                validation_accuracy=b["val_accuracy"], trials=f["trials"], near_best=f["near_best"])


def search_view(path: Path = SHIPPED_SEARCH) -> dict | None:
    """What the "how forgiving" view shows: the table's rows and each twin's `forgiveness` (None: no table)."""
    rows = read_rows(path)
    if not rows:
        return None
    return dict(rows=rows, forgiveness={t: forgiveness(rows, t) for t in TWINS},
                protocol=json.loads(protocol_path(path).read_text()) if protocol_path(path).exists() else {})
