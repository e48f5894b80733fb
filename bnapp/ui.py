"""The Gradio app: layout and events only. Work happens in predict/stats/train/plots."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gradio as gr
from PIL import Image

from . import plots, stats
from .data import load_test_set
from .predict import (MAX_IMAGES, Examples, ImageError, Pair, image_tensor, load_pairs, open_image, predict_images,
                      to_model_input)

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


class RawImage(gr.Image):
    """An image drop zone (upload or paste) that hands the file to bnapp's own defensive decoder
    instead of Gradio's, so every bad file gets bnapp's clear message."""

    is_template = True  # rendered by the frontend's ordinary Image component

    def preprocess(self, payload):  # type: ignore[override]
        return None if payload is None else payload.path


@dataclass
class AppState:
    """What the server loads once at start."""

    pairs: dict[str, Pair]
    examples: Examples
    load_errors: list[str] = field(default_factory=list)
    test_images: object = None  # uint8 tensor of real test images, or the examples when no dataset

    @staticmethod
    def load(checkpoint_dir: str | os.PathLike, examples_dir: str | os.PathLike) -> "AppState":
        report = load_pairs(checkpoint_dir)
        state = AppState(report.pairs, Examples.load(examples_dir), report.errors)
        test = load_test_set()
        state.test_images = test[0] if test is not None else (state.examples.tensors() if state.examples.paths else None)
        return state

    @property
    def test_source(self) -> str:
        n = 0 if self.test_images is None else len(self.test_images)
        return f"{n} real CIFAR-10 test images" + ("" if n > 100 else " (the shipped examples; set BNAPP_DATA for all 10,000)")


def _pair(state: AppState, name: str) -> Pair:
    if not isinstance(name, str) or name not in state.pairs:
        raise gr.Error(f"Unknown model pair {name!r}; available: {', '.join(state.pairs) or 'none'}.")
    return state.pairs[name]


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


def compare(state: AppState, image_path: str | None, pair_name: str):
    """One image -> both twins' top-5, the 32x32 view, the bar chart and a one-line verdict."""
    pair = _pair(state, pair_name)
    if image_path is None:
        return None, None, None, None, "Drop an image, paste one, or click an example below."
    img = _open(image_path)
    pred = predict_images(pair, [img])[0]
    truth = state.examples.truth(img)
    seen = pred.small.resize((160, 160), Image.Resampling.NEAREST)
    return (pred.probs["bn"], pred.probs["plain"], seen, plots.class_probabilities(pred.probs, truth),
            _verdict(pred, truth))


def compare_many(state: AppState, files: list[str] | None, pair_name: str):
    """Several images -> a gallery of what the twins see and a table of both top-1s."""
    pair = _pair(state, pair_name)
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
                image_path: str | None, seed: float = 0):
    """Statistics of both twins for one batch -> overview, histograms, channel view, layer choices, note."""
    pair = _pair(state, pair_name)
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


def build_app(checkpoint_dir: str | os.PathLike = ROOT / "checkpoints",
              examples_dir: str | os.PathLike = ROOT / "examples") -> gr.Blocks:
    state = AppState.load(checkpoint_dir, examples_dir)
    for err in state.load_errors:
        print(f"bnapp: {err}")
    choices = [(p.title, n) for n, p in state.pairs.items()]
    default = "cnn" if "cnn" in state.pairs else (choices[0][1] if choices else None)

    with gr.Blocks(title="bnapp: see BatchNorm", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        if state.load_errors:
            gr.Markdown("**Some checkpoints could not be loaded:**\n" + "\n".join(f"- {e}" for e in state.load_errors))
        pair = gr.Dropdown(choices, value=default, label="Model pair", allow_custom_value=True)
        with gr.Tab("Compare"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = RawImage(label="Your image (upload or paste)", type="filepath", image_mode=None,
                                     sources=["upload", "clipboard"], height=260)
                    seen = gr.Image(label="What both networks see: 32x32", interactive=False, height=180,
                                    buttons=[])
                with gr.Column(scale=2):
                    verdict = gr.Markdown(label="verdict", value="Drop an image, paste one, or click an example below.")
                    with gr.Row():
                        bn_label = gr.Label(num_top_classes=5, label="With BatchNorm")
                        plain_label = gr.Label(num_top_classes=5, label="Without BatchNorm")
                    bars = gr.Plot(label="All ten classes")
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
                        "and at the same places in the network without it.")
            with gr.Row():
                source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Batch")
                n_images = gr.Slider(1, stats.MAX_BATCH, value=64, step=1, label="Number of test images (N)")
                mode = gr.Radio(list(stats.MODES), value="eval", label="BN mode")
                layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
                look = gr.Button("Look inside", variant="primary")
            act_note = gr.Markdown(state.test_source)
            overview = gr.Plot(label="Overview")
            gr.Markdown(EXPLAIN_OVERVIEW)
            hist = gr.Plot(label="Histograms")
            gr.Markdown(EXPLAIN_KINDS)
            channels = gr.Plot(label="Channels")
            gr.Markdown(EXPLAIN_CHANNELS + "\n\n" + EXPLAIN_MODES)

        outputs = [bn_label, plain_label, seen, bars, verdict]
        gr.on([image.change, pair.change], partial(compare, state), [image, pair], outputs, api_name="predict")
        gr.on([files.change, pair.change], partial(compare_many, state), [files, pair], [gallery, table, many_note],
              api_name="predict_many")
        gr.on([look.click, mode.change, layer.input], partial(activations, state),
              [pair, source, n_images, mode, layer, image], [overview, hist, channels, layer, act_note],
              api_name="activations")
    return demo
