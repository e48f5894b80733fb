"""The Activations tab: any layer's values before and after BatchNorm, beside the plain twin's."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from bnapp.measure import stats
from bnapp.services import activations as act
from bnapp.services.state import ServerState, Session, get_pair
from bnapp.services.uploads import open_upload
from bnapp.ui import text
from bnapp.ui.events import bind, shown_to_user
from bnapp.ui.figures import activations as figures

ID, TITLE = "activations", "Activations"


def layout(state: ServerState) -> SimpleNamespace:
    a = SimpleNamespace()
    with gr.Tab(TITLE, id=ID):
        gr.Markdown(text.ACTIVATIONS_INTRO)
        with gr.Row():
            a.source = gr.Radio(list(act.SOURCES), value=act.SOURCES[0], label="Batch")
            a.n_images = gr.Slider(1, stats.MAX_BATCH, value=stats.default_batch("cnn"), step=1,
                                   label="Number of test images (N)")
            a.mode = gr.Radio(list(stats.MODES), value="eval", label="BN mode")
            a.layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
            a.look = gr.Button("Look inside", variant="primary")
        note = gr.Markdown(state.test_source)
        overview = gr.Plot(label="Overview", show_label=False)
        gr.Markdown(text.EXPLAIN_OVERVIEW)
        hist = gr.Plot(label="Histograms", show_label=False)
        gr.Markdown(text.EXPLAIN_KINDS)
        channels = gr.Plot(label="Channels", show_label=False)
        gr.Markdown(text.EXPLAIN_CHANNELS + "\n\n" + text.EXPLAIN_MODES)
    a.outputs = [overview, hist, channels, a.layer, note]
    return a


def wire(a: SimpleNamespace, state: ServerState, page: SimpleNamespace) -> None:
    gr.on([a.look.click, a.mode.input, a.layer.input],  # people's changes: a link's are drawn by open_page
          bind(activations, state),
          [page.pair, a.source, a.n_images, a.mode, a.layer, page.image, page.session], a.outputs,
          api_name="activations")


@shown_to_user
def activations(state: ServerState, pair_name: str, source: str, n: float, mode: str, layer: str | None,
                image_path: str | None, session: Session | None = None, seed: float = 0):
    """Activation statistics before and after BatchNorm in every layer of both twins, for one batch.

    Args:
        pair_name: the model pair, e.g. "cnn" or "mlp".
        source: "CIFAR-10 test images" or "my image (Compare tab)".
        n: how many test images (1-1024).
        mode: "eval" (running statistics) or "train" (the batch's own statistics).
        layer: the layer shown in detail, e.g. "block2a" (empty: a default).
        image_path: the image when source is "my image (Compare tab)".
    Returns:
        an overview through depth, histograms and channel statistics of one layer, the layer names, a note.
    """
    pair = get_pair(state, pair_name, session)
    image = open_upload(image_path) if source == act.SOURCES[1] and image_path is not None else None
    images, what = act.batch_of(source, n, seed, state.test_images, state.test_source, image)
    v = act.look_inside(pair, images, what, mode, layer)
    return (figures.layer_overview(v.bn, v.plain, v.mode),
            figures.layer_histograms(v.bn[v.index], v.plain[v.index], v.mode),
            figures.channel_view(v.bn[v.index], v.mode), gr.Dropdown(choices=v.layer_names, value=v.layer),
            text.activation_note(v))
