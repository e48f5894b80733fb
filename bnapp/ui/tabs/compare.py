"""The Compare tab: one image (or several) predicted by both twins side by side."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
from PIL import Image

from bnapp.services import prediction
from bnapp.services.prediction import MAX_IMAGES
from bnapp.services.state import ServerState, Session, get_pair
from bnapp.services.uploads import open_upload
from bnapp.ui import text
from bnapp.ui.events import bind, raw_image, shown_to_user
from bnapp.ui.figures import compare as figures

ID, TITLE = "compare", "Compare"


def layout(state: ServerState) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Tab(TITLE, id=ID):
        with gr.Row():
            with gr.Column(scale=1):
                c.image = raw_image(label="Your image (upload or paste)", sources=["upload", "clipboard"], height=260)
                seen = gr.Image(label="What both networks see: 32x32", interactive=False, height=180, buttons=[])
            with gr.Column(scale=2):
                verdict = gr.Markdown(label="verdict", value=text.DROP_PROMPT)
                with gr.Row():
                    bn_label = gr.Label(label="With BatchNorm")
                    plain_label = gr.Label(label="Without BatchNorm")
                bars = gr.Plot(label="All ten classes", show_label=False)
        if state.examples.paths:
            gr.Examples([[str(p)] for p in state.examples.paths], inputs=[c.image], examples_per_page=30,
                        label=text.EXAMPLES_LABEL)
        with gr.Accordion("Several images at once", open=False):
            c.files = gr.File(label=f"Drop up to {MAX_IMAGES} images", file_count="multiple", file_types=["image"])
            many_note = gr.Markdown(label="summary")
            gallery = gr.Gallery(label="What the networks see", columns=8, height=220)
            table = gr.Dataframe(headers=["image", "BN top-1 (p)", "plain top-1 (p)", "agree", "true label"],
                                 label="Both twins, image by image", interactive=False)
    c.outputs = [bn_label, plain_label, seen, bars, verdict]
    c.many_outputs = [gallery, table, many_note]
    return c


def wire(c: SimpleNamespace, state: ServerState, page: SimpleNamespace) -> None:
    gr.on([c.image.change, page.pair.change], bind(compare, state), [c.image, page.pair, page.session],
          c.outputs, api_name="predict", concurrency_limit=16)
    gr.on([c.files.change, page.pair.change], bind(compare_many, state),
          [c.files, page.pair, page.session], c.many_outputs, api_name="predict_many")


@shown_to_user
def compare(state: ServerState, image_path: str | None, pair_name: str, session: Session | None = None):
    """Predict one image's CIFAR-10 class with a BatchNorm network and its plain twin, side by side.

    Args:
        image_path: the image (any size or format Pillow reads; centre-cropped and shrunk to 32x32).
        pair_name: the model pair, e.g. "cnn" or "mlp".
    Returns:
        both twins' class probabilities, the 32x32 view, a bar chart and a one-line verdict.
    """
    pair = get_pair(state, pair_name, session)
    if image_path is None:
        return None, None, None, None, text.DROP_PROMPT
    c = prediction.compare(pair, open_upload(image_path), state.examples)
    seen = c.prediction.small.resize((160, 160), Image.Resampling.NEAREST)
    return (c.prediction.probs["bn"], c.prediction.probs["plain"], seen,
            figures.class_probabilities(c.prediction.probs, c.truth), text.verdict(c.prediction, c.truth))


@shown_to_user
def compare_many(state: ServerState, files: list[str] | None, pair_name: str, session: Session | None = None):
    """Predict several images with both twins; unreadable files are named and skipped.

    Args:
        files: up to 64 images.
        pair_name: the model pair, e.g. "cnn" or "mlp".
    Returns:
        a gallery of what the networks see, a table of both twins' top class per image, a note.
    """
    m = prediction.compare_many(get_pair(state, pair_name, session), files or [], state.examples)
    rows = [[n, f"{p.top1('bn')[0]} ({p.top1('bn')[1]:.0%})", f"{p.top1('plain')[0]} ({p.top1('plain')[1]:.0%})",
             "yes" if p.agree else "no", truth or ""] for n, p, truth in zip(m.names, m.predictions, m.truths)]
    gallery = [(p.small.resize((96, 96), Image.Resampling.NEAREST), n) for n, p in zip(m.names, m.predictions)]
    return gallery, rows, m.note
