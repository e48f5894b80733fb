"""The server's state (loaded once) and a browser session's state (one per visitor)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bnapp import TWIN_LABELS, TWINS
from bnapp.data import sets
from bnapp.data.cifar10 import Cifar10, load_test_set
from bnapp.data.images import Examples
from bnapp.measure.spread import Spread
from bnapp.nets.models import ModelConfig
from bnapp.services import UserError
from bnapp.services.hub_access import HubAccess
from bnapp.services.run_line import RunLine
from bnapp.services.testtime import ImagePool
from bnapp.store.pairs import Pair, load_hub_pairs, load_pairs
from bnapp.system import machine
from bnapp.system.precision import prediction_precision
from bnapp.system.sharing import StopFlag
from bnapp.training.limits import TrainLimits
from bnapp.training.runs import PairResult, save_run

MAX_SESSION_PAIRS = 8  # trained here or loaded from the Hub, per browser session
# The app opens on the fair comparison: each twin at its own best recipe, chosen by one protocol.
DEFAULT_PAIRS = ("cnn-fair", "cnn")
ARCH_NAMES = {"mlp": "Tutorial MLP (Linear + BatchNorm1d)", "cnn": "CNN (Conv + BN2d)",
              "fig1": "Figure 1 MLP (3 x 100 sigmoid)"}
PAIR_PURPOSES = {"mlp": "the tutorial's recipe",  # the shipped pairs: why each is there
                 "cnn": "both twins at BN's recipe (made for the BN twin): a rate only BN tolerates",
                 "cnn-fair": "each twin at its own best recipe"}


@dataclass
class ServerState:
    """What the server loads once at start: the shipped pairs, the examples, test images for the
    Activations view, the training limits, and CIFAR-10 for training (loaded on first use)."""

    pairs: dict[str, Pair]
    examples: Examples
    load_errors: list[str] = field(default_factory=list)
    test_images: torch.Tensor | None = None  # uint8 real test images, or the examples when no dataset
    test_labels: torch.Tensor | None = None  # their classes
    limits: TrainLimits = field(default_factory=TrainLimits)
    hub_access: HubAccess = field(default_factory=HubAccess)  # whose token acts on the Hub (`hub_access`)
    run_line: RunLine = field(init=False)  # every training event waits here, one at a time (`run_line`)
    _data: dict[str, Cifar10] = field(default_factory=dict)  # by name (`data.sets.DATASETS`)
    _data_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.run_line = RunLine(self.limits.max_waiting)

    @staticmethod
    def load(checkpoint_dir: str | os.PathLike, examples_dir: str | os.PathLike, hub_repo: str | None = None,
             hub_revision: str | None = None, limits: TrainLimits | None = None) -> ServerState:
        report = load_pairs(checkpoint_dir)
        pairs, errors = report.pairs, report.errors
        if hub_repo:
            from bnapp.store import hub  # only where a Hub repo is asked for: huggingface_hub need not be installed

            try:
                pairs = load_hub_pairs(hub_repo, hub_revision).pairs | pairs  # the Hub's pair first: the default
            except hub.HubError as e:
                errors.append(f"Hub pair not loaded, the shipped pairs stay in use: {e}")
        state = ServerState(pairs, Examples.load(examples_dir), errors, limits=limits or TrainLimits.from_env(),
                            hub_access=HubAccess.from_env(hub_repo))
        test = load_test_set()
        if test is not None:
            state.test_images, state.test_labels = test
        elif state.examples.paths:
            state.test_images, state.test_labels = state.examples.tensors(), state.examples.label_tensor()
        return state

    def use_dataset(self, data: Cifar10, name: str = "cifar10") -> None:
        """Train on `data` as `name` instead of loading it on first use (benches, tests)."""
        with self._data_lock:
            self._data[name] = data

    def dataset(self, name: str = "cifar10") -> Cifar10:
        """`name`'s images for training, loaded on first use by its loader (CIFAR-10: $BNAPP_DATA, else
        torchvision's download); raises DatasetError saying how to get it."""
        with self._data_lock:
            if name not in self._data:
                self._data[name] = sets.load(name)
            return self._data[name]

    def describe(self) -> str:
        """One line for the server's log: the pairs, the machine, the precision predictions run in."""
        device = machine.device()
        return (f"model pairs {', '.join(self.pairs) or 'none'} on {device} ({machine.describe()}), "
                f"predicting in {prediction_precision(device)}")

    @property
    def default_pair(self) -> str | None:
        """The first pair from the Hub when one loaded, else the first of `DEFAULT_PAIRS` shipped, else any."""
        if any(p.origin == "hub" for p in self.pairs.values()):
            return next(n for n, p in self.pairs.items() if p.origin == "hub")
        return next((n for n in DEFAULT_PAIRS if n in self.pairs), next(iter(self.pairs), None))

    def test_pool(self) -> ImagePool:
        """The labelled test images the Test time tab draws from."""
        if self.test_images is None or self.test_labels is None:
            raise UserError("No test images available: set BNAPP_DATA to CIFAR-10 (see docs/usage.md).")
        return ImagePool(self.test_images, self.test_labels, self.test_source)

    @property
    def test_source(self) -> str:
        n = 0 if self.test_images is None else len(self.test_images)
        return f"{n} real CIFAR-10 test images" + ("" if n > 100 else
                                                   " (the shipped examples; set BNAPP_DATA for all 10,000)")


@dataclass
class RunRecord:
    """A finished run of this session, as the overlay view lists and draws it."""

    name: str
    settings: str  # in words, e.g. "cnn quick, sgd lr 0.2, batch 256, 343 steps on 43904 images, seed 0"
    accuracy: dict[str, float]  # twin -> final test accuracy
    log: object  # `training.RunLog`: the curves

    @property
    def label(self) -> str:
        return (f"{self.name}: {self.settings} -- BN {100 * self.accuracy['bn']:.1f}%, "
                f"plain {100 * self.accuracy['plain']:.1f}%")


@dataclass
class Session:
    """One browser session: the pairs trained or loaded here, whether a run is in progress and its Stop, the
    folder its runs are saved in, and the last finished run (for pushing to the Hub)."""

    pairs: dict[str, Pair] = field(default_factory=dict)
    running: bool = False
    stop: StopFlag = field(default_factory=StopFlag)  # also honoured by a run waiting in line or measuring
    closed: bool = False  # the visitor left: their files are gone and nothing more is saved
    folder: Path | None = None
    runs: int = 0
    finished: list[RunRecord] = field(default_factory=list)  # this session's runs, oldest first, for overlays
    last_run: tuple[Path, str] | None = None  # (folder, pair prefix)

    def record(self, run: RunRecord) -> None:
        """Keep a finished run's curves for the overlay view (the newest MAX_SESSION_PAIRS)."""
        self.finished = [*self.finished, run][-MAX_SESSION_PAIRS:]

    def add_pair(self, pair: Pair) -> None:
        """Newest last; past MAX_SESSION_PAIRS the oldest is forgotten."""
        self.pairs.pop(pair.name, None)
        self.pairs[pair.name] = pair
        while len(self.pairs) > MAX_SESSION_PAIRS:
            self.pairs.pop(next(iter(self.pairs)))

    def save_run(self, result: PairResult, arch: str) -> tuple[str, list[Path]]:
        """Save a finished run in this session's folder and offer it as a pair; returns (name, files)."""
        if self.closed:
            raise UserError("This browser session has ended; its run was not saved.")
        self.runs += 1
        name = f"run{self.runs}-{arch}"
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="bnapp-session-"))
        out = self.folder / name
        files = save_run(result, out, arch)
        self.add_pair(Pair(name, result.models, result.metadata))
        self.last_run = (out, arch)
        return name, files

    def close(self) -> None:
        """The visitor left: stop their run and delete their files."""
        self.closed = True
        if self.running:
            self.stop.set()  # the run clears it as it ends
        else:
            self.stop.clear()  # a Stop clicked with no run: its flag file goes with the visitor
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def all_pairs(state: ServerState, session: Session | None) -> dict[str, Pair]:
    return {**state.pairs, **(session.pairs if session is not None else {})}


def get_pair(state: ServerState, name: str, session: Session | None = None) -> Pair:
    pairs = all_pairs(state, session)
    if not isinstance(name, str) or name not in pairs:
        raise UserError(f"Unknown model pair {name!r}; available: {', '.join(pairs) or 'none'}.")
    return pairs[name]


def pair_choices(state: ServerState, session: Session | None) -> list[tuple[str, str]]:
    """(label, name) for the pair menu; pairs trained in this session say so."""
    return [(pair_title(p) if n in state.pairs or p.origin == "hub" else f"{pair_title(p)} [trained here]", n)
            for n, p in all_pairs(state, session).items()]


def pair_title(pair: Pair) -> str:
    """What the pair is, the rate it was trained at (from its checkpoint) and what it scores: mean +- sd over
    seeds where it was trained with several (`bnapp.seeds`), else the one seed's accuracy, said as such."""
    meta = pair.metadata["bn"]
    hp = {t: pair.metadata[t].get("hyperparameters") for t in TWINS}
    hp = {t: h if isinstance(h, dict) else {} for t, h in hp.items()}  # a Hub checkpoint's JSON may hold anything
    lr, optimizer = hp["bn"].get("lr"), hp["bn"].get("optimizer")
    rate = f", {optimizer} lr {lr:g}" if isinstance(lr, (int, float)) and isinstance(optimizer, str) else ""
    if rate and hp["plain"].get("lr") != lr and isinstance(hp["plain"].get("lr"), (int, float)):
        rate = f", {optimizer} lr {lr:g} (BN) / {hp['plain']['lr']:g} (plain)"
    choice = meta.get("recipe_choice") if isinstance(meta.get("recipe_choice"), dict) else {}
    if isinstance(choice.get("trials"), int):  # each twin's recipe from one search: say how many trials each
        rate += f", {choice['trials']} trials each"
    widths = meta.get("widths")
    name = ARCH_NAMES.get(meta["arch"], meta["arch"].upper())
    if meta["arch"] == "cnn" and isinstance(widths, list) and tuple(widths) != ModelConfig.widths:
        name += f" {'-'.join(map(str, widths))}"
    base = (f"{name} pair '{pair.name}' from the Hub{rate}" if pair.origin == "hub" else
            f"{name}{rate}: {PAIR_PURPOSES[pair.name]}" if pair.name in PAIR_PURPOSES else
            f"{name} pair '{pair.name}'{rate}")
    if all("seeds" in pair.metadata[t] for t in TWINS):
        runs = {t: pair.metadata[t]["seeds"] for t in TWINS}
        p = pair.precision if pair.precision in runs["bn"]["mean"] else "fp32"
        acc = ", ".join(f"{TWIN_LABELS[t]} {Spread(r['mean'][p], r['sd'][p], len(r['seeds'])).percent()}"
                        for t, r in runs.items())
        return f"{base} -- over {len(runs['bn']['seeds'])} seeds (mean +- sd): {acc}"
    acc = ", ".join(f"{TWIN_LABELS[t]} {100 * pair.accuracy(t):.1f}%" for t in TWINS if pair.accuracy(t) is not None)
    return f"{base} -- test accuracy, one seed: {acc}" if acc else base
