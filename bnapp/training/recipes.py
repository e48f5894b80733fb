"""What a run is asked to do: named training recipes and the config of one twin-pair run.

A `Recipe` is the optimiser, schedule, augmentation and evaluation of a run; `TrainConfig` adds the
architecture, seed, data subset and budget. Both are plain data, stored whole in each checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bnapp import TWINS
from bnapp.data.sets import DATASETS
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ARCHS, PLACEMENTS, ModelConfig

OPTIMIZERS = ("sgd", "adam")
CONV_INITS = ("identity", "he", "identity-he")  # the CNN's filters (`apply_init`); the search draws from these
INITS = (*CONV_INITS, "gaussian")  # and Figure 1's small Gaussian for every weight
SHIFTS = ("bn", "all")
# What a twin's recipe may not change in a lockstep pair: both twins see the same batches, augmentation draws,
# steps and test-time protocol (`TrainConfig.plain_recipe`).
SHARED_FIELDS = ("arch", "optimizer", "batch_size", "epochs", "translate", "flip", "standardize", "tta", "precision",
                 "widths", "dataset")

@dataclass(frozen=True)
class Recipe:
    """A named training recipe. Learning rate and weight decay are PyTorch's, for a mean loss."""

    name: str
    arch: str  # the architecture the recipe was made for
    made_for: str = "both"  # whose recipe: "bn" or "plain" (chosen for that twin, used for both), or "both"
    optimizer: str = "sgd"  # "sgd" (Nesterov momentum) or "adam"
    lr: float = 0.1
    batch_size: int = 128
    epochs: float = 10
    momentum: float = 0.9
    weight_decay: float = 0.0
    bn_decay_scale: float = 1.0  # the decay of weights a BN follows is weight_decay x this (`at_rate`)
    bn_bias_lr_scale: float = 1.0  # per-channel shifts learn this much faster, their decay divided by it
    shifts: str = "bn"  # which shifts: "bn" (BN's beta only) or "all" (also a conv/linear bias no BN follows)
    init: str = "identity"  # "identity" (dirac + PyTorch's default), "he", "identity-he", "gaussian" (`apply_init`)
    freeze_bn_weight: bool = False  # keep gamma at 1, as fast CIFAR recipes do
    bn_momentum: float = 0.1
    label_smoothing: float = 0.0
    schedule: str = "constant"  # "constant" or "triangle" (linear warm-up to lr, then linear decay)
    warmup: float = 0.23  # triangle: fraction of steps spent warming up
    lr_start: float = 0.2  # triangle: multiples of lr at the first and last step
    lr_end: float = 0.07
    translate: int = 0  # augmentation: random shifts of up to this many pixels (reflect padding)
    flip: bool = False  # augmentation: random horizontal flips
    standardize: bool = False  # subtract CIFAR-10's mean and divide by its std (else x/255 only)
    lookahead: bool = False  # average weights every 5 steps from 30% of training, pulled back
    tta: str = "none"  # evaluation: "flip" averages the logits of each image and its mirror
    precision: str = "auto"  # "auto" (bf16 where the CPU/GPU is fast at it), "fp32" or "bf16"
    log_every: int = 0  # steps between loss reports (0: about 20 per epoch)
    widths: tuple[int, ...] = ModelConfig.widths  # the CNN's block widths (the MLP's are the tutorial's)
    dataset: str = "cifar10"  # what it trains on (`data.sets.DATASETS`): the app's twins all train on CIFAR-10
    description: str = ""

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.shifts not in SHIFTS:
            raise ValueError(f"shifts must be one of {SHIFTS}, got {self.shifts!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {self.dataset!r}")

    def input_spec(self) -> InputSpec:
        info = DATASETS[self.dataset]
        if self.standardize:
            return InputSpec(info.mean, info.std, self.tta)
        return InputSpec((0.0,) * len(info.mean), (1.0,) * len(info.mean), self.tta)

    def at_rate(self, lr: float) -> Recipe:
        """This recipe at another learning rate. A weight that a BN follows is scale-invariant: only
        lr x wd, the shrink per step, sets its effective step, so that product is kept by scaling its decay
        with self.lr / lr. Every other weight keeps the recipe's decay: for it, wd alone is the penalty."""
        return replace(self, lr=lr, bn_decay_scale=self.bn_decay_scale * self.lr / lr)


RECIPES: dict[str, Recipe] = {
    "tutorial": Recipe(
        "tutorial", "mlp", "both", optimizer="adam", lr=1e-4, batch_size=10, epochs=5, precision="fp32",
        log_every=500, description="The tutorial's recipe: Adam lr 1e-4, batch 10, 5 epochs, ToTensor only."),
    # After airbench94's ideas: batch 1024, Nesterov 0.85, triangular lr, label smoothing 0.2,
    # fast BN biases, frozen gamma, flip + 2-pixel translation, lookahead, flip+shift TTA. lr 0.3 is the
    # BN twin's best rate on the validation sweep (checkpoints/README.md); other rates go through `at_rate`.
    "fast": Recipe(
        "fast", "cnn", "bn", optimizer="sgd", lr=0.3, batch_size=1024, epochs=10, momentum=0.85,
        weight_decay=1.33e-3, bn_bias_lr_scale=64, freeze_bn_weight=True, bn_momentum=0.4,
        label_smoothing=0.2, schedule="triangle", translate=2, flip=True, standardize=True,
        lookahead=True, tta="flip-shift", description="Speed-run CNN recipe (airbench-style), ~10 epochs."),
    # Ioffe & Szegedy's Figure 1 setting (batch 60, plain SGD, small Gaussian weights). lr 1.0: the plain twin's
    # best accuracy on 5,000 held-out training images after the paper's 50,000 steps, among 0.3, 1, 3 (45.6%;
    # docs/science.md).
    "fig1": Recipe(
        "fig1", "fig1", "plain", optimizer="sgd", lr=1.0, batch_size=60, epochs=3, momentum=0.0, standardize=True,
        init="gaussian",
        description="Ioffe & Szegedy's Figure 1: 3x100 sigmoid MLP, batch 60, plain SGD."),
    "quick": Recipe(
        "quick", "cnn", "bn", optimizer="sgd", lr=0.2, batch_size=256, epochs=2, momentum=0.85,
        weight_decay=5e-4, label_smoothing=0.1, schedule="triangle", flip=True, standardize=True, widths=(16, 32, 64),
        description="A short CNN run for the browser, sized to a time budget; narrow (16, 32, 64) blocks: on a "
                    "2-core fp32 CPU the widest gap in a 75 s budget (docs/benchmarks.md)."),
}


def default_recipe(arch: str, short: bool = False) -> str:
    """The recipe made for `arch`: its longest (what `python -m bnapp.train` trains by default) or, with
    `short`, its shortest (what the app's experiments repeat over rates and seeds)."""
    made_for = [r for r in RECIPES.values() if r.arch == arch]
    if not made_for:
        raise ValueError(f"arch must be one of {sorted({r.arch for r in RECIPES.values()})}, got {arch!r}")
    return (min if short else max)(made_for, key=lambda r: r.epochs).name


@dataclass
class TrainConfig:
    arch: str = "cnn"
    recipe: Recipe = RECIPES["fast"]
    placement: str = "before"
    seed: int = 0
    train_subset: int = 0  # 0: the whole training set
    test_subset: int = 0  # 0: the whole test set
    max_seconds: float = 0  # wall-clock budget; 0: none
    evals_per_run: int = 0  # also measure test accuracy this many times per run, at log events (0: per epoch only)
    device: str = "auto"
    steps: int = 0  # fixed number of steps (0: epochs x steps per epoch); set by a time-budgeted run
    noisy_bn: bool = False  # also train a third twin: BN with noise after every BN layer (`noisy_bn`)

    twins: tuple[str, ...] = TWINS  # which twins to train (a recipe search may train one alone)
    plain_recipe: Recipe | None = None  # the plain twin's own recipe (None: `recipe`, the BN twin's)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.plain_recipe is not None:
            differ = [f for f in SHARED_FIELDS if getattr(self.recipe, f) != getattr(self.plain_recipe, f)]
            if differ:
                raise ValueError(f"the twins' recipes must share {', '.join(differ)}: they train in lockstep")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")

    def recipe_for(self, twin: str) -> Recipe:
        """The recipe `twin` trains with: the plain twin's own where it has one, else the shared one."""
        return self.plain_recipe if twin == "plain" and self.plain_recipe is not None else self.recipe
