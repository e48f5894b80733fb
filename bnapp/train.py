"""Train a BatchNorm twin and its plain twin from the command line (the engine is `bnapp.training.engine`).

    python -m bnapp.train --arch mlp --recipe tutorial --data ../shared/data/cifar10.npz --out checkpoints
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bnapp import TWINS
from bnapp.data.cifar10 import DatasetError, load_cifar10
from bnapp.nets.models import ARCHS, PLACEMENTS
from bnapp.services.experiments import loss_line
from bnapp.services.tuning import final_config, read_rows, recipe_choice
from bnapp.system.precision import PRECISIONS
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import OPTIMIZERS, RECIPES, TrainConfig, default_recipe
from bnapp.training.runs import finish, save_run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bnapp.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, default="cnn", help="mlp: the tutorial's MLP; cnn: a VGG-style conv net")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="named preset (default: the arch's own: tutorial for mlp, fast for cnn, fig1 for fig1): "
                        + "; ".join(f"{n}: {r.description}" for n, r in sorted(RECIPES.items())))
    p.add_argument("--data", default=None, help="CIFAR-10 .npz or torchvision root (else $BNAPP_DATA)")
    p.add_argument("--out", required=True, help="folder for {arch}-bn/{arch}-plain .safetensors + .json")
    p.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs")
    p.add_argument("--lr", type=float, default=None,
                   help="override the recipe's learning rate (both twins; for weights a BN follows, lr x weight decay "
                        "stays the recipe's, every other weight keeps the recipe's decay)")
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch size")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="override the recipe's optimizer")
    p.add_argument("--placement", choices=PLACEMENTS, default="before", help="BN before or after the ReLU")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, data order and augmentation")
    p.add_argument("--train-subset", type=int, default=0, help="train on this many images (0: all)")
    p.add_argument("--test-subset", type=int, default=0, help="evaluate on this many test images (0: all)")
    p.add_argument("--precision", choices=PRECISIONS, default=None, help="override the recipe's precision")
    p.add_argument("--max-seconds", type=float, default=0, help="stop after this much training time (0: no limit)")
    p.add_argument("--steps", type=int, default=0, help="train exactly this many steps (0: the recipe's epochs)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--name", default=None, help="file-name prefix (default: the arch)")
    p.add_argument("--search", default=None,
                   help="a recipe search's table (python -m bnapp.experiments tune): each twin trains at its own "
                        "chosen trial, the same batches in lockstep; --recipe, --lr, --batch-size are then refused")
    return p


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    if a.search:
        if a.recipe or a.lr is not None or a.batch_size is not None or a.optimizer or a.arch != "cnn":
            raise ValueError("--search sets each twin's recipe: leave out --recipe, --lr, --batch-size, --optimizer")
        cfg = final_config(read_rows(Path(a.search)), a.seed, a.epochs)
        return replace(cfg, train_subset=a.train_subset, test_subset=a.test_subset, max_seconds=a.max_seconds,
                       device=a.device, steps=a.steps)
    recipe = RECIPES[a.recipe or default_recipe(a.arch)]
    recipe = recipe.at_rate(a.lr) if a.lr is not None else recipe
    overrides = {k: v for k, v in dict(epochs=a.epochs, batch_size=a.batch_size,
                                        optimizer=a.optimizer, precision=a.precision).items() if v is not None}
    return TrainConfig(a.arch, replace(recipe, **overrides), placement=a.placement, seed=a.seed,
                       train_subset=a.train_subset, test_subset=a.test_subset, max_seconds=a.max_seconds,
                       device=a.device, steps=a.steps)


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "  -  "
    return f"{100 * v:5.1f}%" if pct else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    args = _parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        data = load_cifar10(args.data)
        trainer = PairTrainer(cfg, data)
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = cfg.recipe
    print(f"bnapp: {cfg.arch} twins, recipe {r.name}, {trainer.total_steps} steps of batch {r.batch_size}, "
          f"{len(trainer.data.y_train)} training images, precision {trainer.precision} on {trainer.device}")
    bars = {n: tqdm(total=trainer.total_steps, desc=f"{n:>5}", position=i, leave=True, dynamic_ncols=True)
            for i, n in enumerate(TWINS)}
    last = 0
    for ev in trainer.run():
        for n, bar in bars.items():
            bar.update(ev.step - last)
            bar.set_postfix_str(f"loss {_fmt(ev.loss.get(n))} acc {_fmt(ev.train_acc.get(n), True)}"
                                + (" DIVERGED" if ev.diverged.get(n) is not None else ""))
        last = ev.step
        if ev.kind == "log" and r.log_every:  # the tutorial's own report, for both twins
            for n in TWINS:
                if ev.loss.get(n) is not None:
                    tqdm.write(loss_line(n, ev.step, trainer.steps_per_epoch, ev.loss[n]))
        if ev.kind == "epoch":
            tqdm.write(f"epoch {int(ev.epoch)}: " + "  ".join(
                f"{n} train loss {_fmt(trainer.twins[n].history[-1]['train_loss'])} test {_fmt(ev.test_acc[n], True)}"
                for n in TWINS))
    for bar in bars.values():
        bar.close()
    command = "python -m bnapp.train " + " ".join(argv if argv is not None else sys.argv[1:])
    result = finish(trainer, command)
    if args.search:
        for n in TWINS:
            result.metadata[n]["recipe_choice"] = recipe_choice(Path(args.search), n)
    files = save_run(result, Path(args.out), args.name or cfg.arch)
    print(f"\n{'twin':<6} {'train loss (last epoch)':>24} {'test acc':>9} {'diverged':>9}  file")
    for n, path in zip(TWINS, files[::2]):
        meta = result.metadata[n]
        last_loss = meta["history"][-1]["train_loss"] if meta["history"] else None
        print(f"{n:<6} {_fmt(last_loss):>24} {_fmt(meta['test_accuracy'], True):>9} "
              f"{str(meta['diverged_at_step'] or '-'):>9}  {path}")
    print(f"wall time {result.metadata['bn']['wall_time_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
