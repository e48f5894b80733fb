"""The Gradio app: layout and events only. Work happens in predict/stats/train/plots."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gradio as gr
from PIL import Image

from . import hardware, hub, infer, plots, stats
from .checkpoints import save
from .data import Cifar10, DatasetError, load_cifar10, load_test_set
from .experiments import lr_sweep, placement_runs, tutorial_lines
from .train import RECIPES, TWINS, PairTrainer, RunLog, TrainLimits
from .predict import (MAX_IMAGES, Examples, ImageError, Pair, image_tensor, load_hub_pairs, load_pairs, open_image,
                      predict_images, to_model_input)

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_SIZE = "10mb"
INTRO = """# bnapp: see Batch Normalization at work
Two networks, identical but for their **BatchNorm** layers, trained on CIFAR-10 in lockstep on the same
batches. Drop in any image (it is centre-cropped and shrunk to the 32x32 pixels they were trained on) and
see what each twin predicts."""


EXPLAIN_OVERVIEW = """**Reading the overview.** One point per layer, from input (left) to output (right). The band spans
the 15th to 85th percentile of the layer's values, the line is the median. Grey: what the BN twin's
BatchNorm receives; blue: what it hands on; orange: the plain twin at the same place. After BN every
layer is re-centred and re-scaled, so the blue band stays put through depth; without BN nothing holds the
scale, and the orange band (and its std, right) drifts from layer to layer."""
EXPLAIN_KINDS = """**BatchNorm1d vs BatchNorm2d.** A dense layer's output is (N, C): **BatchNorm1d** normalises each of
the C features over the N images of the batch. A conv layer's output is (N, C, H, W): **BatchNorm2d**
normalises each of the C channels over N x H x W values, so all images *and all positions* share one mean
and one variance per channel. Then each channel is scaled by gamma and shifted by beta, both learned."""
EXPLAIN_MODES = """**eval vs train mode.** In **eval** mode (what prediction does) BN uses the running mean and variance it
averaged during training: a fixed per-channel affine map, so an image's prediction never depends on the
other images in the batch. In **train** mode BN uses this batch's own mean and variance: after BN every
channel's mean is exactly beta and its std exactly |gamma|, whatever the input. With a batch of **one**
image train mode fails or misleads: BatchNorm1d has a single value per feature (variance 0; PyTorch refuses),
and BatchNorm2d normalises one image by its own statistics, so the output no longer says how that image
differs from the others. Looking never changes the model here: train mode runs on a copy."""
EXPLAIN_CHANNELS = """**Channel by channel.** Before BN (grey) each channel has its own offset and scale. After BN (blue)
the means collapse onto beta and the stds onto |gamma| (exactly in train mode; in eval mode they follow the
running statistics, purple, which is how far this batch is from the training average)."""
SOURCES = ("CIFAR-10 test images", "my image (Compare tab)")


def _save_pil_to_cache_atomically(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's `processing_utils.save_pil_to_cache` (6.31) rewrites a content-addressed file in place, so
    two requests showing the same image (two people clicking one example) can serve each other a
    half-written file. Same file names; written once, under a temporary name renamed into place."""
    data = gr.processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / gr.processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.exists():
        os.utime(path)  # `delete_cache` ages files by ctime: a file handed out again is young again
        return str(path)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(staging, path)
    return str(path)


gr.processing_utils.save_pil_to_cache = _save_pil_to_cache_atomically


def raw_image(**kwargs) -> gr.Image:
    """An image drop zone (upload or paste) that hands the uploaded file to bnapp's own defensive
    decoder instead of Gradio's, so every bad file gets bnapp's clear message. (Overridden on the
    instance: subclassing a Gradio component makes Gradio write a .pyi file beside this module.)"""
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


@dataclass
class AppState:
    """What the server loads once at start."""

    pairs: dict[str, Pair]
    examples: Examples
    load_errors: list[str] = field(default_factory=list)
    test_images: object = None  # uint8 tensor of real test images, or the examples when no dataset
    limits: TrainLimits = field(default_factory=TrainLimits.from_env)
    _data: Cifar10 | None = None
    _data_lock: threading.Lock = field(default_factory=threading.Lock)

    def dataset(self) -> Cifar10:
        """CIFAR-10 for training, loaded on first use ($BNAPP_DATA, else torchvision's download)."""
        with self._data_lock:
            if self._data is None:
                try:
                    self._data = load_cifar10()
                except DatasetError as e:
                    raise gr.Error(f"Training needs CIFAR-10 on the server: {e}") from None
            return self._data

    @staticmethod
    def load(checkpoint_dir: str | os.PathLike, examples_dir: str | os.PathLike, hub_repo: str | None = None,
             hub_revision: str | None = None) -> "AppState":
        report = load_pairs(checkpoint_dir)
        pairs, errors = report.pairs, report.errors
        if hub_repo:
            try:
                pairs = load_hub_pairs(hub_repo, hub_revision).pairs | pairs  # the Hub's pair first: the default
            except hub.HubError as e:
                errors.append(f"Hub pair not loaded, the shipped pairs stay in use: {e}")
        state = AppState(pairs, Examples.load(examples_dir), errors)
        test = load_test_set()
        state.test_images = test[0] if test is not None else (state.examples.tensors() if state.examples.paths else None)
        return state

    @property
    def test_source(self) -> str:
        n = 0 if self.test_images is None else len(self.test_images)
        return f"{n} real CIFAR-10 test images" + ("" if n > 100 else " (the shipped examples; set BNAPP_DATA for all 10,000)")


MAX_SESSION_PAIRS = 8  # trained here or loaded from the Hub, per browser session


def new_session() -> dict:
    """Per browser session: the pairs trained or loaded here, the running trainer (for Stop), the run folder,
    and the last run's (folder, pair name) for pushing to the Hub."""
    return {"pairs": {}, "trainer": None, "dir": None, "runs": 0, "last_run": None}


def _add_session_pair(session: dict, pair: Pair) -> None:
    session["pairs"].pop(pair.name, None)
    session["pairs"][pair.name] = pair
    while len(session["pairs"]) > MAX_SESSION_PAIRS:
        session["pairs"].pop(next(iter(session["pairs"])))


def end_session(session: dict) -> None:
    if session.get("trainer") is not None:
        session["trainer"].stop()
    if session.get("dir"):
        shutil.rmtree(session["dir"], ignore_errors=True)


def _all_pairs(state: AppState, session: dict | None) -> dict[str, Pair]:
    return {**state.pairs, **((session or {}).get("pairs") or {})}


def _pair(state: AppState, name: str, session: dict | None = None) -> Pair:
    pairs = _all_pairs(state, session)
    if not isinstance(name, str) or name not in pairs:
        raise gr.Error(f"Unknown model pair {name!r}; available: {', '.join(pairs) or 'none'}.")
    return pairs[name]


def _open(path: str | None, shown_name: str = "the image") -> Image.Image:
    try:
        return open_image(path)
    except ImageError as e:
        raise gr.Error(f"Could not use {shown_name}: {e}") from None
    except OSError:
        raise gr.Error(f"Could not read {shown_name}; please upload it again.") from None


def _verdict(pred, truth: str | None) -> str:
    (bn, p_bn), (plain, p_plain) = pred.top1("bn"), pred.top1("plain")
    line = (f"**Both twins say {bn}** ({p_bn:.0%} with BN, {p_plain:.0%} without)." if pred.agree else
            f"**The twins disagree:** {bn} ({p_bn:.0%}) with BatchNorm, {plain} ({p_plain:.0%}) without.")
    if truth:
        marks = [f"{'BN' if t == 'bn' else 'plain'} {'right' if pred.top1(t)[0] == truth else 'wrong'}" for t in ("bn", "plain")]
        line += f"  \nTrue label (a real CIFAR-10 test image): **{truth}** -- {', '.join(marks)}."
    return line


def compare(state: AppState, image_path: str | None, pair_name: str, session: dict | None = None):
    """One image -> both twins' top-5, the 32x32 view, the bar chart and a one-line verdict."""
    pair = _pair(state, pair_name, session)
    if image_path is None:
        return None, None, None, None, "Drop an image, paste one, or click an example below."
    img = _open(image_path)
    pred = predict_images(pair, [img])[0]
    truth = state.examples.truth(img)
    seen = pred.small.resize((160, 160), Image.Resampling.NEAREST)
    return (pred.probs["bn"], pred.probs["plain"], seen, plots.class_probabilities(pred.probs, truth),
            _verdict(pred, truth))


def compare_many(state: AppState, files: list[str] | None, pair_name: str, session: dict | None = None):
    """Several images -> a gallery of what the twins see and a table of both top-1s."""
    pair = _pair(state, pair_name, session)
    files = files or []
    if len(files) > MAX_IMAGES:
        raise gr.Error(f"At most {MAX_IMAGES} images at once, got {len(files)}.")
    images, names, problems = [], [], []
    for i, f in enumerate(files):
        shown = Path(f).name if isinstance(f, str) else f"file {i + 1}"
        try:
            images.append(open_image(f))
            names.append(shown)
        except (ImageError, OSError) as e:
            problems.append(f"{shown}: {e}")
    preds = predict_images(pair, images)
    rows = [[n, f"{p.top1('bn')[0]} ({p.top1('bn')[1]:.0%})", f"{p.top1('plain')[0]} ({p.top1('plain')[1]:.0%})",
             "yes" if p.agree else "no", state.examples.truth(img) or ""] for n, p, img in zip(names, preds, images)]
    gallery = [(p.small.resize((96, 96), Image.Resampling.NEAREST), n) for n, p in zip(names, preds)]
    note = f"{len(preds)} image(s) compared, twins agree on {sum(p.agree for p in preds)}."
    if problems:
        note += "  \nSkipped: " + "; ".join(problems)
    return gallery, rows, note


def activations(state: AppState, pair_name: str, source: str, n: float, mode: str, layer: str | None,
                image_path: str | None, session: dict | None = None, seed: float = 0):
    """Statistics of both twins for one batch -> overview, histograms, channel view, layer choices, note."""
    pair = _pair(state, pair_name, session)
    if mode not in stats.MODES:
        raise gr.Error(f"Mode must be one of {stats.MODES}.")
    try:
        n, seed = int(n), int(seed)
    except (TypeError, ValueError):
        raise gr.Error("Batch size and seed must be whole numbers.") from None
    if source == SOURCES[1]:
        if image_path is None:
            raise gr.Error("Upload an image in the Compare tab first, or pick the test images.")
        images = image_tensor(to_model_input(_open(image_path)))[None]
        what = "your image"
    else:
        if not 1 <= n <= stats.MAX_BATCH:
            raise gr.Error(f"Batch size must be between 1 and {stats.MAX_BATCH}.")
        if state.test_images is None:
            raise gr.Error("No test images available.")
        images = stats.sample(state.test_images, n, seed)
        what = f"{n} of {state.test_source}"
    try:
        with hardware.cores.interactive():
            result = stats.record_pair(pair.models, {t: pair.spec(t) for t in pair.models}, images, mode)
    except ValueError as e:  # e.g. train mode with one image
        raise gr.Error(str(e)) from None
    bn_layers, plain_layers = result["bn"], result["plain"]
    names = [l.name for l in bn_layers]
    layer = layer if layer in names else names[min(3, len(names) - 1)]
    i = names.index(layer)
    note = (f"**{pair.title}**, {mode} mode, batch: {what}. Layer `{layer}`: {bn_layers[i].bn_kind} on a tensor of shape "
            f"{tuple(bn_layers[i].shape)}; {100 * bn_layers[i].act.zero_fraction:.0f}% of the BN twin's values are exactly "
            f"zero after ReLU ({100 * plain_layers[i].act.zero_fraction:.0f}% in the plain twin).")
    return (plots.layer_overview(bn_layers, plain_layers, mode), plots.layer_histograms(bn_layers[i], plain_layers[i], mode),
            plots.channel_view(bn_layers[i], mode), gr.Dropdown(choices=names, value=layer), note)


QUICK_SUBSET = 6000


def recipe_defaults(recipe: str):
    r = RECIPES.get(recipe, RECIPES["quick"])
    subset = QUICK_SUBSET if recipe == "quick" else 50_000
    return r.arch, r.optimizer, r.epochs, r.batch_size, r.lr, subset


def train_config_for_ui(limits: TrainLimits, arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset, seed):
    """The checked config of a browser run: 1,000 test images, evaluated about 12 times per run."""
    return limits.config(arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset, seed,
                         test_subset=1000, evals_per_run=12)


PROBE_UNIT = {"mlp": "layer2", "cnn": "block2b"}
CURVES_REFRESH_SECONDS = 3.0  # the loss curves between evaluations; the progress bar follows every step


def _progress_html(done: int, total: int, eta: float, ips: float, label: str) -> str:
    pct = 100 * done / max(1, total)
    return (f'<div style="display:flex;gap:12px;align-items:center"><progress value="{done}" max="{total}" '
            f'style="flex:1;height:18px"></progress><span>{label}: step {done}/{total} ({pct:.0f}%), '
            f'{ips:,.0f} images/s, ETA {eta:.0f} s</span></div>')


def _pair_choices(state: AppState, session: dict) -> list[tuple[str, str]]:
    return [(p.title if n in state.pairs or p.origin == "hub" else f"{p.title} [trained here]", n)
            for n, p in _all_pairs(state, session).items()]


def _run_summary(result_meta: dict[str, dict], log: RunLog, seconds: float, stopped: bool) -> str:
    acc = {t: result_meta[t]["test_accuracy"] for t in TWINS}
    lines = [f"**{'Stopped early; partial result' if stopped else 'Done'}** in {seconds:.0f} s. Final test accuracy: "
             f"**{100 * acc['bn']:.1f}% with BatchNorm, {100 * acc['plain']:.1f}% without** "
             f"({result_meta['bn']['test_images']} test images, predicted in "
             f"{result_meta['bn'].get('test_precision', 'fp32')} as Compare does)."]
    for t in TWINS:
        if log.diverged.get(t) is not None:
            lines.append(f"The {'BN' if t == 'bn' else 'plain'} twin **diverged** at step {log.diverged[t]} (loss NaN/inf) "
                         "and was frozen there; the other twin carried on.")
    if log.test_acc["plain"] and log.test_acc["plain"][-1] is not None:
        target = log.test_acc["plain"][-1]
        reach = log.steps_to_reach("bn", target)
        if reach is not None and log.eval_steps:
            lines.append(f"The BN twin reached the plain twin's final accuracy ({100 * target:.1f}%) at step {reach} of "
                         f"{log.eval_steps[-1]}: {log.eval_steps[-1] / max(1, reach):.1f}x fewer steps.")
        else:
            lines.append(f"The BN twin never reached the plain twin's final accuracy ({100 * target:.1f}%) in this run.")
    return "  \n".join(lines)


def train_run(state: AppState, session: dict, arch: str, recipe: str, epochs, batch_size, lr, optimizer: str,
              placement: str, train_subset, seed):
    """Train both twins live; yields (curves, evolution, progress, summary, files, pair dropdown)."""
    try:
        cfg = train_config_for_ui(state.limits, arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset, seed)
        trainer = PairTrainer(cfg, state.dataset())
    except ValueError as e:
        raise gr.Error(str(e)) from None
    session["trainer"] = trainer
    log, points = RunLog(), []
    probe = stats.sample(trainer.data.x_test, stats.default_batch(cfg.arch), seed=cfg.seed)
    unit = PROBE_UNIT[cfg.arch]
    specs = {t: trainer.spec for t in TWINS}
    no_change = gr.update()
    drawn_at = 0.0
    try:
        for ev in hardware.in_background(trainer.run(), stop=trainer.stop):
            log.add(ev)
            evaluated = ev.kind == "log" and bool(ev.test_acc)
            if evaluated:
                points.append((ev.step, stats.evolution_point({t: trainer.twins[t].model for t in TWINS}, specs, probe, unit)))
            # Redrawing plotly figures costs the browser far more CPU than the server; where both share
            # two cores (python app.py on a laptop) every redraw slows training, so draw only what changed.
            first = drawn_at == 0.0  # a previous run's figures are replaced at once
            redraw = first or evaluated or ev.kind != "log" or time.monotonic() - drawn_at >= CURVES_REFRESH_SECONDS
            drawn_at = time.monotonic() if redraw else drawn_at
            label = "stopping" if trainer.stopping else ("evaluating" if ev.kind == "done" else "training")
            yield (plots.training_curves(log) if redraw else no_change,
                   plots.evolution(points, unit) if first or evaluated else no_change,
                   _progress_html(ev.step, ev.total_steps, ev.eta, ev.images_per_sec, label), no_change, no_change, no_change)
        result = trainer.result(command=f"app: {cfg.arch} {recipe} lr={cfg.recipe.lr} epochs={cfg.recipe.epochs}")
        session["runs"] += 1
        name = f"run{session['runs']}-{cfg.arch}"
        if session["dir"] is None:
            session["dir"] = tempfile.mkdtemp(prefix="bnapp-session-")
        out = Path(session["dir"]) / name
        files = []
        for t in TWINS:
            weights = save(result.models[t], result.metadata[t], out / f"{cfg.arch}-{t}")
            files += [str(weights), str(weights.with_suffix(".json"))]
        _add_session_pair(session, Pair(name, result.models, result.metadata))
        session["last_run"] = (str(out), cfg.arch)
        summary = _run_summary(result.metadata, log, trainer.seconds, trainer.stopped_early)
        yield (plots.training_curves(log), plots.evolution(points, unit), _progress_html(trainer.step, trainer.total_steps, 0, 0, "done"),
               summary + f"  \nThe pair **{name}** is now in the model-pair menu for Compare and Activations.", files,
               gr.Dropdown(choices=_pair_choices(state, session), value=name))
    except OSError as e:
        raise gr.Error(f"Could not write the run's checkpoint files: {e}") from None
    finally:
        trainer.stop()  # a closed tab or a cancelled event must not leave the run going
        session["trainer"] = None


def load_from_hub(state: AppState, session: dict, repo_id: str, revision: str):
    """Download a twin pair from a Hub model repo into this session's pair menu; a failure keeps what is there."""
    try:
        pairs = load_hub_pairs(repo_id, revision).pairs
    except hub.HubError as e:
        return gr.update(), f"**Could not load from the Hub:** {e}  \nThe pairs you had stay in use."
    for pair in pairs.values():
        _add_session_pair(session, pair)
    first = next(iter(pairs))
    return (gr.Dropdown(choices=_pair_choices(state, session), value=first),
            f"Loaded **{', '.join(pairs)}** from the Hub: now selected in the model-pair menu.")


def push_run(session: dict, repo_id: str, private: bool) -> str:
    """Upload this session's last finished run (both twins + model card) to a Hub model repo."""
    if session.get("last_run") is None:
        raise gr.Error("Train a pair first: the last finished run of this session is what gets pushed.")
    folder, pair_name = session["last_run"]
    try:
        url = hub.push_pair(folder, pair_name, repo_id, private=bool(private))
    except hub.HubError as e:
        raise gr.Error(str(e)) from None
    return f"Pushed to **{repo_id.strip()}** in one commit: {url}"


def stop_run(session: dict) -> str:
    trainer = session.get("trainer")
    if trainer is None:
        return "No run in progress."
    trainer.stop()
    return "Stopping after the current step..."


def run_lr_sweep(state: AppState, arch: str, lrs_text: str):
    """Both twins at several learning rates, short fixed budget; a diverged twin is marked."""
    try:
        lrs = [float(v) for v in lrs_text.replace(",", " ").split()]
    except (AttributeError, ValueError):
        raise gr.Error("Learning rates: numbers separated by spaces, e.g. 0.03 0.1 0.3 1 3") from None
    if not 1 <= len(lrs) <= 8:
        raise gr.Error("Give between 1 and 8 learning rates.")
    recipe = "quick" if arch == "cnn" else "tutorial"
    try:
        base = state.limits.config(arch, recipe, 1, 64 if arch == "mlp" else 256, lrs[0], RECIPES[recipe].optimizer,
                                   "before", 4096, 0, test_subset=1000)
        for lr in lrs:
            state.limits.config(arch, recipe, 1, base.recipe.batch_size, lr, base.recipe.optimizer, "before", 4096, 0)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    rows = []
    for lr, item in lr_sweep(base, state.dataset(), lrs):
        if isinstance(item, dict):
            rows.append(item)
            yield plots.lr_sweep(rows), _sweep_summary(rows)


def run_placement(state: AppState, arch: str):
    """BN before vs after the ReLU, same short budget; streams the three accuracy curves."""
    recipe = "quick" if arch == "cnn" else "tutorial"
    r = RECIPES[recipe]
    try:
        base = state.limits.config(arch, recipe, 2, 256 if arch == "cnn" else 32, r.lr if arch == "cnn" else 1e-3,
                                   r.optimizer, "before", 4096, 0, test_subset=1000)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    logs = {"before": RunLog(), "after": RunLog()}
    for placement, ev in placement_runs(base, state.dataset()):
        logs[placement].add(ev)
        if ev.kind in ("epoch", "done"):
            yield plots.placement(logs), _placement_summary(logs)


def _placement_summary(logs: dict[str, RunLog]) -> str:
    parts = []
    for placement, log in logs.items():
        if log.eval_steps:
            parts.append(f"BN {placement} ReLU: {100 * log.test_acc['bn'][-1]:.1f}%")
    if logs["before"].eval_steps:
        parts.append(f"no BN: {100 * logs['before'].test_acc['plain'][-1]:.1f}%")
    return "Test accuracy so far -- " + ", ".join(parts)


def run_tutorial_table(state: AppState):
    """The tutorial's own recipe and report, both twins; streams the report lines."""
    lines: list[str] = []
    for line in tutorial_lines(state.dataset(), max_seconds=state.limits.max_seconds):
        lines.append(line)
        yield "\n".join(lines)


def _sweep_summary(rows: list[dict]) -> str:
    parts = []
    for r in rows:
        acc = "diverged" if r["diverged_at_step"] is not None else f"{100 * r['test_accuracy']:.1f}%"
        parts.append(f"lr {r['lr']:g} {'BN' if r['twin'] == 'bn' else 'plain'}: {acc}")
    return "; ".join(parts)


def build_app(checkpoint_dir: str | os.PathLike = ROOT / "checkpoints", examples_dir: str | os.PathLike = ROOT / "examples",
              hub_repo: str | None = None, hub_revision: str | None = None) -> gr.Blocks:
    state = AppState.load(checkpoint_dir, examples_dir, hub_repo, hub_revision)
    for err in state.load_errors:
        print(f"bnapp: {err}")
    print(f"bnapp: model pairs {', '.join(state.pairs) or 'none'} on {hardware.device()} ({hardware.describe()}), "
          f"predicting in {infer.prediction_precision(hardware.device())}")
    choices = [(p.title, n) for n, p in state.pairs.items()]
    default = next(iter(state.pairs)) if hub_repo else ("cnn" if "cnn" in state.pairs else (choices[0][1] if choices else None))
    gpu = hardware.gpu_task

    with gr.Blocks(title="bnapp: see BatchNorm", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        if state.load_errors:
            gr.Markdown("**Some checkpoints could not be loaded:**\n" + "\n".join(f"- {e}" for e in state.load_errors))
        pair = gr.Dropdown(choices, value=default, label="Model pair", allow_custom_value=True)
        with gr.Accordion("Load a pair from the Hugging Face Hub", open=False):
            with gr.Row():
                hub_repo_box = gr.Textbox(label="Hub model repo (owner/name)", placeholder="someone/bnapp-cifar10", scale=3)
                hub_rev_box = gr.Textbox(label="Revision: branch, tag or commit (optional)", scale=2)
                hub_load = gr.Button("Load", scale=1)
            hub_note = gr.Markdown("A repo holding `NAME-bn` and `NAME-plain` safetensors + JSON, as "
                                   "`python -m bnapp.push` uploads them. Downloads go to the standard HF cache.")
        with gr.Tab("Compare"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = raw_image(label="Your image (upload or paste)", sources=["upload", "clipboard"], height=260)
                    seen = gr.Image(label="What both networks see: 32x32", interactive=False, height=180,
                                    buttons=[])
                with gr.Column(scale=2):
                    verdict = gr.Markdown(label="verdict", value="Drop an image, paste one, or click an example below.")
                    with gr.Row():
                        bn_label = gr.Label(label="With BatchNorm")
                        plain_label = gr.Label(label="Without BatchNorm")
                    bars = gr.Plot(label="All ten classes", show_label=False)
            if state.examples.paths:
                gr.Examples([[str(p)] for p in state.examples.paths], inputs=[image], examples_per_page=30,
                            label="Real CIFAR-10 test images (3 per class, chosen by a fixed seeded rule)")
            with gr.Accordion("Several images at once", open=False):
                files = gr.File(label=f"Drop up to {MAX_IMAGES} images", file_count="multiple", file_types=["image"])
                many_note = gr.Markdown(label="summary")
                gallery = gr.Gallery(label="What the networks see", columns=8, height=220)
                table = gr.Dataframe(headers=["image", "BN top-1 (p)", "plain top-1 (p)", "agree", "true label"],
                                     label="Both twins, image by image", interactive=False)

        with gr.Tab("Activations"):
            gr.Markdown("Look inside both twins: what every layer's values look like **before and after BatchNorm**, "
                        "and at the same places in the network without it. To watch these statistics *change while "
                        "the twins train* (Ioffe & Szegedy's Figure 1), start a run in the **Train** tab.")
            with gr.Row():
                source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Batch")
                n_images = gr.Slider(1, stats.MAX_BATCH, value=stats.default_batch("cnn"), step=1,
                                     label="Number of test images (N)")
                mode = gr.Radio(list(stats.MODES), value="eval", label="BN mode")
                layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
                look = gr.Button("Look inside", variant="primary")
            act_note = gr.Markdown(state.test_source)
            overview = gr.Plot(label="Overview", show_label=False)
            gr.Markdown(EXPLAIN_OVERVIEW)
            hist = gr.Plot(label="Histograms", show_label=False)
            gr.Markdown(EXPLAIN_KINDS)
            channels = gr.Plot(label="Channels", show_label=False)
            gr.Markdown(EXPLAIN_CHANNELS + "\n\n" + EXPLAIN_MODES)

        session = gr.State(new_session, time_to_live=3 * 3600, delete_callback=end_session)
        with gr.Tab("Train"):
            gr.Markdown("Train both twins yourself, **in lockstep on the same batches**, and watch them part. "
                        f"Limits on this server: up to {state.limits.max_epochs:g} epochs, {state.limits.max_train_subset} "
                        f"training images, {state.limits.max_seconds:g} s per run; one run at a time (others queue).")
            with gr.Row():
                arch = gr.Dropdown([("CNN", "cnn"), ("tutorial MLP", "mlp")], value="cnn", label="Architecture")
                recipe = gr.Dropdown(sorted(RECIPES), value="quick", label="Recipe preset")
                optimizer = gr.Radio(["sgd", "adam"], value=RECIPES["quick"].optimizer, label="Optimizer")
                placement = gr.Radio(["before", "after"], value="before", label="BN placement (vs ReLU)")
            with gr.Row():
                epochs = gr.Number(RECIPES["quick"].epochs, label="Epochs", minimum=0.01)
                batch_size = gr.Number(RECIPES["quick"].batch_size, label="Batch size", precision=0)
                lr = gr.Number(RECIPES["quick"].lr, label="Learning rate")
                train_subset = gr.Number(QUICK_SUBSET, label="Training images", precision=0)
                seed = gr.Number(0, label="Seed", precision=0)
            with gr.Row():
                start = gr.Button("Start training", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            progress = gr.HTML()
            curves = gr.Plot(label="Training curves", show_label=False)
            summary = gr.Markdown()
            run_files = gr.File(label="This run's checkpoints (safetensors + JSON)", file_count="multiple", interactive=False)
            with gr.Row(visible=bool(hub.saved_token())):
                push_repo = gr.Textbox(label="Push this run's pair to the Hub: repo (owner/name)", scale=3)
                push_private = gr.Checkbox(label="private repo", scale=1)
                push_btn = gr.Button("Push to the Hub", scale=1)
            push_note = gr.Markdown()
            evolution_plot = gr.Plot(label="Inside the networks while they train", show_label=False)
            with gr.Accordion("Experiment: learning-rate robustness", open=False):
                gr.Markdown("Both twins at several learning rates, one short epoch each on 4096 images: BatchNorm "
                            "tolerates rates at which the plain twin stalls or diverges (marked x).")
                with gr.Row():
                    sweep_lrs = gr.Textbox("0.03 0.1 0.3 1 3", label="Learning rates")
                    sweep_btn = gr.Button("Run sweep")
                sweep_plot = gr.Plot(show_label=False)
                sweep_note = gr.Markdown()
            with gr.Accordion("Experiment: BN before or after the ReLU?", open=False):
                gr.Markdown("The tutorial leaves this open: try it. Same data, seed and budget (2 epochs on 4096 images), "
                            "BN placed before the activation and after it, and the plain twin as the baseline.")
                placement_btn = gr.Button("Compare placements")
                placement_plot = gr.Plot(show_label=False)
                placement_note = gr.Markdown()
            with gr.Accordion("Experiment: the tutorial's table", open=False):
                gr.Markdown("The tutorial's exact recipe (MLP, Adam 1e-4, batch 10, 5 epochs, full training set) with "
                            "its own *Loss after mini-batch* report, for both twins. The tutorial ends epoch 5 near "
                            "1.58 with BatchNorm and 1.65 without. About 1.5 minutes on 2 fast CPU cores.")
                tutorial_btn = gr.Button("Run the tutorial")
                tutorial_out = gr.Textbox(label="Report", lines=16, max_lines=16, autoscroll=True)

        outputs = [bn_label, plain_label, seen, bars, verdict]
        gr.on([image.change, pair.change], partial(gpu(compare, 20), state), [image, pair, session], outputs, api_name="predict",
              concurrency_limit=16)
        gr.on([files.change, pair.change], partial(gpu(compare_many, 30), state), [files, pair, session], [gallery, table, many_note],
              api_name="predict_many")
        gr.on([look.click, mode.change, layer.input], partial(gpu(activations, 30), state),
              [pair, source, n_images, mode, layer, image, session], [overview, hist, channels, layer, act_note],
              api_name="activations")
        recipe.change(recipe_defaults, [recipe], [arch, optimizer, epochs, batch_size, lr, train_subset], api_name=False)
        start.click(partial(gpu(train_run, int(state.limits.max_seconds) + 120), state), [session, arch, recipe, epochs, batch_size, lr, optimizer, placement,
                                                train_subset, seed],
                    [curves, evolution_plot, progress, summary, run_files, pair], api_name="train",
                    concurrency_id="train", concurrency_limit=1, show_progress="minimal")
        hub_load.click(partial(load_from_hub, state), [session, hub_repo_box, hub_rev_box], [pair, hub_note],
                       api_name="load_hub")
        push_btn.click(push_run, [session, push_repo, push_private], [push_note], api_name="push",
                       concurrency_id="train", concurrency_limit=1)
        stop.click(stop_run, [session], [progress], api_name="stop", queue=False)
        sweep_btn.click(partial(gpu(run_lr_sweep, 600), state), [arch, sweep_lrs], [sweep_plot, sweep_note], api_name="lr_sweep",
                        concurrency_id="train", concurrency_limit=1, show_progress="minimal")
        placement_btn.click(partial(gpu(run_placement, 600), state), [arch], [placement_plot, placement_note], api_name="placement",
                            concurrency_id="train", concurrency_limit=1, show_progress="minimal")
        tutorial_btn.click(partial(gpu(run_tutorial_table, int(state.limits.max_seconds) + 60), state), None, [tutorial_out], api_name="tutorial_table",
                           concurrency_id="train", concurrency_limit=1, show_progress="minimal")
    return demo
