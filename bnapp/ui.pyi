"""The Gradio app: layout and events only. Work happens in predict/stats/train/plots."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from PIL import Image

from . import plots
from .predict import MAX_IMAGES, Examples, ImageError, Pair, load_pairs, open_image, predict_images

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_SIZE = "10mb"
INTRO = """# bnapp: see Batch Normalization at work
Two networks, identical but for their **BatchNorm** layers, trained on CIFAR-10 in lockstep on the same
batches. Drop in any image (it is centre-cropped and shrunk to the 32x32 pixels they were trained on) and
see what each twin predicts."""

from gradio.events import Dependency

class RawImage(gr.Image):
    """An image drop zone (upload or paste) that hands the file to bnapp's own defensive decoder
    instead of Gradio's, so every bad file gets bnapp's clear message."""

    is_template = True  # rendered by the frontend's ordinary Image component

    def preprocess(self, payload):  # type: ignore[override]
        return None if payload is None else payload.path
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


@dataclass
class AppState:
    """What the server loads once at start."""

    pairs: dict[str, Pair]
    examples: Examples
    load_errors: list[str] = field(default_factory=list)

    @staticmethod
    def load(checkpoint_dir: str | os.PathLike, examples_dir: str | os.PathLike) -> "AppState":
        report = load_pairs(checkpoint_dir)
        return AppState(report.pairs, Examples.load(examples_dir), report.errors)


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
                    verdict = gr.Markdown("Drop an image, paste one, or click an example below.")
                    with gr.Row():
                        bn_label = gr.Label(num_top_classes=5, label="With BatchNorm")
                        plain_label = gr.Label(num_top_classes=5, label="Without BatchNorm")
                    bars = gr.Plot(label="All ten classes")
            if state.examples.paths:
                gr.Examples([[str(p)] for p in state.examples.paths], inputs=[image], examples_per_page=30,
                            label="Real CIFAR-10 test images (3 per class, chosen by a fixed seeded rule)")
            with gr.Accordion("Several images at once", open=False):
                files = gr.File(label=f"Drop up to {MAX_IMAGES} images", file_count="multiple", file_types=["image"])
                many_note = gr.Markdown()
                gallery = gr.Gallery(label="What the networks see", columns=8, height=220)
                table = gr.Dataframe(headers=["image", "BN top-1 (p)", "plain top-1 (p)", "agree", "true label"],
                                     label="Both twins, image by image", interactive=False)

        outputs = [bn_label, plain_label, seen, bars, verdict]
        gr.on([image.change, pair.change], lambda i, p: compare(state, i, p), [image, pair], outputs,
              api_name="predict")
        gr.on([files.change, pair.change], lambda f, p: compare_many(state, f, p), [files, pair],
              [gallery, table, many_note], api_name="predict_many")
    return demo