"""The Test time tab: its layout, and thin adapters from its events to `services.testtime` / `services.shift`."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from bnapp import CLASSES
from bnapp.data import corruptions
from bnapp.services import UserError, shift, testtime
from bnapp.services.state import ServerState, Session, get_pair
from bnapp.services.uploads import open_upload
from bnapp.ui import testtime_text as words
from bnapp.ui import text
from bnapp.ui.events import bind, raw_image, shown_to_user
from bnapp.ui.figures import testtime as figures

ID, TITLE = "testtime", "Test time"
AUTO_CLASS = "(the class it looks least like)"


def layout(state: ServerState) -> SimpleNamespace:
    t = SimpleNamespace()
    with gr.Tab(TITLE, id=ID) as t.tab:
        gr.Markdown(text.TESTTIME_INTRO)
        with gr.Accordion("The company a prediction keeps", open=True):
            with gr.Row():
                with gr.Column(scale=1):
                    t.image = raw_image(label="One image (empty: the first example)", sources=["upload", "clipboard"],
                                        height=200)
                    t.company_class = gr.Dropdown([AUTO_CLASS, *CLASSES], value=AUTO_CLASS,
                                                  label="Class of the one-class company")
                    t.company = gr.Button("Show its company", variant="primary")
                with gr.Column(scale=3):
                    t.company_plot = gr.Plot(show_label=False)
                    t.company_note = gr.Markdown()
            if state.examples.paths:
                gr.Examples([[str(p)] for p in state.examples.paths], inputs=[t.image], examples_per_page=10,
                            label="Real CIFAR-10 test images")
            gr.Markdown(text.COMPANY_EXPLAIN)
        with gr.Accordion("Accuracy against batch size", open=True):
            t.batch_size = gr.Button("Measure (computed once per pair)")
            t.batch_plot = gr.Plot(show_label=False)
            t.batch_note = gr.Markdown()
            gr.Markdown(text.BATCH_SIZE_EXPLAIN)
        with gr.Accordion("Distribution shift: corrupted test images", open=True):
            with gr.Row():
                t.corruption = gr.Dropdown([(corruptions.LABELS[c], c) for c in corruptions.CORRUPTIONS],
                                           value="gaussian_noise", label="Corruption")
                t.severity = gr.Slider(shift.SEVERITY.low, shift.SEVERITY.high, value=3, step=1, label="Severity")
                t.prior = gr.Slider(shift.PRIOR.low, shift.PRIOR.high, value=shift.DEFAULT_PRIOR, step=1,
                                    label="Prior strength N (the mix)")
            with gr.Row():
                t.shift = gr.Button("Measure", variant="primary")
                t.severities = gr.Button("All severities (computed once per corruption)")
            t.shift_table = gr.Markdown()
            with gr.Row():
                t.shift_gallery = gr.Gallery(label="A few of the corrupted test images", columns=4, height=300, scale=1)
                t.shown_table = gr.Markdown()
            t.severity_plot = gr.Plot(show_label=False)
            gr.Markdown(text.SHIFT_EXPLAIN)
        with gr.Accordion("Your own shifted images", open=False):
            gr.Markdown(text.UPLOAD_EXPLAIN)
            t.files = gr.File(label=f"Drop up to {shift.MAX_UPLOAD} images", file_count="multiple",
                              file_types=["image"], height=160)
            t.upload_note = gr.Markdown()
            t.upload_gallery = gr.Gallery(label="What the networks see", columns=8, height=200)
            names = shift.variant_names(shift.DEFAULT_PRIOR, "your batch")
            t.upload_table = gr.Dataframe(headers=["image", *(names[v] for v in shift.VARIANTS)], interactive=False,
                                          label="Each image: the plain twin, and the BN twin with each statistic")
    return t


def wire(t: SimpleNamespace, state: ServerState, page: SimpleNamespace) -> None:
    pair, session = page.pair, page.session
    t.company.click(bind(company, state), [pair, t.image, t.company_class, session],
                    [t.company_plot, t.company_note], api_name="testtime_company")
    t.batch_size.click(bind(batch_size, state), [pair, session],
                       [t.batch_plot, t.batch_note], api_name="testtime_batch_size")
    t.shift.click(bind(distribution_shift, state),
                  [pair, t.corruption, t.severity, t.prior, session],
                  [t.shift_table, t.shift_gallery, t.shown_table], api_name="testtime_shift")
    t.tab.select(bind(first_look, state),
                 [pair, t.corruption, t.severity, t.prior, t.shift_table, session],
                 [t.shift_table, t.shift_gallery, t.shown_table], api_name=False)
    t.severities.click(bind(severities, state), [pair, t.corruption, t.prior, session],
                       [t.severity_plot], api_name="testtime_severities")
    t.files.change(bind(own_images, state), [pair, t.files, t.prior, session],
                   [t.upload_gallery, t.upload_table, t.upload_note], api_name="testtime_upload")


def _progress(progress: gr.Progress):
    return lambda fraction, what: progress(fraction, desc=what)


@shown_to_user
def company(state: ServerState, pair_name: str, image_path: str | None, company_class: str | None,
            session: Session | None = None, progress=gr.Progress()):  # noqa: B008 (Gradio's progress idiom)
    """One image's prediction by the BN twin normalising with the statistics of batches it shares
    (random test images, one class, copies of itself; sizes 1-256), against eval mode and the plain twin.

    Args:
        pair_name: the model pair, e.g. "cnn".
        image_path: the image (empty: the first shipped example).
        company_class: the class of the one-class company, e.g. "horse".
    Returns:
        a plot of the image's probability by batch size and kind, and a summary.
    """
    pair = get_pair(state, pair_name, session)
    if image_path is None and not state.examples.paths:
        raise UserError("Upload an image first.")
    image = open_upload(image_path if image_path is not None else str(state.examples.paths[0]))
    v = testtime.company(pair, image, state.test_pool(), None if company_class == AUTO_CLASS else company_class,
                         progress=_progress(progress))
    i = CLASSES.index(v.target)
    return figures.company(v.sizes, v.prob, v.bn_eval[i], v.plain[i], v.target), words.company_summary(v)


@shown_to_user
def batch_size(state: ServerState, pair_name: str, session: Session | None = None,
               progress=gr.Progress()):  # noqa: B008 (Gradio's progress idiom)
    """Test accuracy of the BN twin with each batch's own statistics against batch size (1-256), with 95%
    intervals, against eval mode and the plain twin; computed once per pair.

    Args:
        pair_name: the model pair, e.g. "cnn".
    """
    c = testtime.accuracy_vs_batch_size(get_pair(state, pair_name, session), state.test_pool(), _progress(progress))
    return (figures.batch_size(c.sizes, c.batch_stats, c.batch_stats_pm, c.running, c.pm(c.running), c.plain, c.n),
            words.batch_size_summary(c))


@shown_to_user
def distribution_shift(state: ServerState, pair_name: str, corruption: str, severity: float, prior: float,
                       session: Session | None = None):
    """Accuracy on CIFAR-10-C-style corrupted test images (our implementation): the plain twin, the BN twin
    with running statistics, with statistics re-estimated on the corrupted batch, and Schneider et al.'s mix.

    Args:
        pair_name: the model pair, e.g. "cnn".
        corruption: gaussian_noise, shot_noise, gaussian_blur, contrast, brightness, jpeg_compression or pixelate.
        severity: 1 to 5.
        prior: Schneider et al.'s prior strength N (0: the batch's statistics alone).
    Returns:
        a table of accuracies with 95% intervals, a few corrupted images, what each variant says for them.
    """
    v = shift.shift(get_pair(state, pair_name, session), state.test_pool(), corruption, severity, prior)
    return (words.shift_table(v), [(img, f"{i + 1}: {truth}") for i, (img, truth, _) in enumerate(v.shown)],
            words.shown_table(v))


def first_look(state: ServerState, pair_name: str, corruption: str, severity: float, prior: float, shown: str,
               session: Session | None = None):
    """The tab's first screen: the default shift measured the first time the tab is opened (a few seconds)."""
    if shown or not state.pairs:
        return gr.update(), gr.update(), gr.update()
    return distribution_shift(state, pair_name, corruption, severity, prior, session)


@shown_to_user
def severities(state: ServerState, pair_name: str, corruption: str, prior: float, session: Session | None = None,
               progress=gr.Progress()):  # noqa: B008 (Gradio's progress idiom)
    """Every variant's accuracy from clean to severity 5 of one corruption, as a plot; cached.

    Args:
        pair_name: the model pair, e.g. "cnn".
        corruption: gaussian_noise, shot_noise, gaussian_blur, contrast, brightness, jpeg_compression or pixelate.
        prior: Schneider et al.'s prior strength N.
    """
    c = shift.severities(get_pair(state, pair_name, session), state.test_pool(), corruption, prior,
                         progress=_progress(progress))
    return figures.severities(c.accuracy, c.accuracy_pm, shift.variant_names(c.prior), corruptions.LABELS[corruption])


@shown_to_user
def own_images(state: ServerState, pair_name: str, files: list[str] | None, prior: float,
               session: Session | None = None):
    """Your own images as one batch: both twins, the BN twin with running statistics and with statistics
    adapted to your batch side by side; unreadable files are named and skipped.

    Args:
        pair_name: the model pair, e.g. "cnn".
        files: up to 256 images.
        prior: Schneider et al.'s prior strength N for the mixed variant.
    """
    if not files:
        return [], [], ""
    u = shift.own_batch(get_pair(state, pair_name, session), files, prior)
    return list(zip(u.images, u.names)), words.upload_rows(u), words.upload_note(u)
