"""Thin adapters between Gradio events and the services: arguments in, components and figures out.

Every message meant for a person (a `UserError`, an unreadable image, a missing dataset, a Hub
failure) becomes a `gr.Error`, in one place (`shown_to_user`); anything else is a bug and surfaces as one.
"""
from __future__ import annotations

import functools
import inspect
import time

import gradio as gr
from PIL import Image

from bnapp.data.cifar10 import DatasetError
from bnapp.data.images import ImageError, open_image
from bnapp.measure import stats
from bnapp.services import UserError, figure1, hub_access, noisy, prediction, training
from bnapp.services import activations as act
from bnapp.services import experiments as exp
from bnapp.services.state import ServerState, Session, get_pair, pair_choices
from bnapp.store import hub
from bnapp.ui import text
from bnapp.ui.figures import landscape as landscape_plots
from bnapp.ui.figures import plots

PERSON_ERRORS = (UserError, ImageError, DatasetError, hub.HubError)
CURVES_REFRESH_SECONDS = 3.0  # the loss curves between evaluations; the progress bar follows every step


def shown_to_user(fn):
    """Raise the services' messages for people as gr.Error (for plain and generator handlers alike)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except PERSON_ERRORS as e:
                raise gr.Error(str(e)) from None
        return gen

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PERSON_ERRORS as e:
            raise gr.Error(str(e)) from None
    return plain


def open_upload(path: str | None, shown_name: str = "the image") -> Image.Image:
    try:
        return open_image(path)
    except ImageError as e:
        raise UserError(f"Could not use {shown_name}: {e}") from None
    except OSError:
        raise UserError(f"Could not read {shown_name}; please upload it again.") from None


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
            plots.class_probabilities(c.prediction.probs, c.truth), c.verdict)


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
    return (plots.layer_overview(v.bn, v.plain, v.mode), plots.layer_histograms(v.bn[v.index], v.plain[v.index], v.mode),
            plots.channel_view(v.bn[v.index], v.mode), gr.Dropdown(choices=v.layer_names, value=v.layer), v.note)


def recorded_curves(state: ServerState, pair_name: str, session: Session | None = None):
    """The selected pair's own training curves, from its checkpoints, until a run replaces them."""
    try:
        pair = get_pair(state, pair_name, session)
    except UserError:
        return gr.update()
    return plots.training_curves(training.recorded_log(pair.metadata),
                                 f"How this pair was trained (recorded in its checkpoints, one point per epoch): "
                                 f"{pair.name}")


def first_screen(state: ServerState, pair_name: str, session: Session | None = None, layer: str | None = None,
                 mode: str = "eval", n: int | None = None, example: str | None = None):
    """What each tab shows before anyone clicks: Compare an example the twins disagree on (a fixed rule) or the
    linked one, Activations its (linked or default) view, Train the pair's recorded curves. Nothing changes
    when no pair is loaded."""
    if pair_name not in state.pairs:
        return (gr.update(),) * 7
    pair = get_pair(state, pair_name, session)
    example = example or prediction.first_disagreement(pair, state.examples)
    views = activations(state, pair_name, act.SOURCES[0], n or stats.default_batch(pair.metadata["bn"]["arch"]), mode,
                        layer, None, session)
    return (str(example) if example else None, *views, recorded_curves(state, pair_name, session))


def _progress_html(done: int, total: int, eta: float, ips: float, label: str) -> str:
    pct = 100 * done / max(1, total)
    return (f'<div style="display:flex;gap:12px;align-items:center"><progress value="{done}" max="{total}" '
            f'style="flex:1;height:18px"></progress><span>{label}: step {done}/{total} ({pct:.0f}%), '
            f'{ips:,.0f} images/s, ETA {eta:.0f} s</span></div>')


@shown_to_user
def train_run(state: ServerState, session: Session, arch: str, recipe: str, epochs, batch_size, lr, optimizer: str,
              placement: str, train_subset, seed, budget=0.0, landscape: bool = False):
    """Train a BatchNorm network and its plain twin in lockstep on CIFAR-10 (the server's limits apply).

    Args:
        arch: "cnn", "mlp" (the tutorial's) or "fig1" (Ioffe & Szegedy's 3 x 100 sigmoid MLP).
        recipe: "quick", "fast", "tutorial" or "fig1".
        epochs: epochs over the training images.
        batch_size: images per step.
        lr: learning rate, both twins (weight decay scales with 1/lr).
        optimizer: "sgd" or "adam".
        placement: BN "before" or "after" the ReLU.
        train_subset: training images (a class-balanced subset).
        seed: seed for initialisation, data order and augmentation.
        budget: time budget in seconds (0: none); steps and images are then chosen to fit it.
        landscape: also measure the loss landscape along the gradient at each evaluation.
    Returns:
        streams the curves, the layer evolution, the landscape, progress, a summary, the files and the new pair.
    """
    cfg, seconds = training.browser_config(state.limits, arch, recipe, epochs, batch_size, lr, optimizer, placement,
                                           train_subset, seed, budget)
    no_change = gr.update()
    drawn_at = 0.0
    if seconds:
        yield (no_change, no_change, no_change, text.measuring(seconds), no_change, no_change, no_change)
    for u in training.train_live(state, session, cfg, seconds, with_landscape=bool(landscape)):
        ev = u.event
        lines = landscape_plots.landscape(u.landscape, measured=bool(landscape))
        if u.pair_name is not None:
            yield (plots.training_curves(u.log), plots.evolution(u.points, u.unit), lines,
                   _progress_html(ev.step, ev.total_steps, 0, 0, "done"), u.summary, [str(f) for f in u.files],
                   gr.Dropdown(choices=pair_choices(state, session), value=u.pair_name))
            return
        # Redrawing plotly figures costs the browser far more CPU than the server; where both share
        # two cores (python app.py on a laptop) every redraw slows training, so draw only what changed.
        first = drawn_at == 0.0  # a previous run's figures are replaced at once
        redraw = first or u.evaluated or ev.kind != "log" or time.monotonic() - drawn_at >= CURVES_REFRESH_SECONDS
        drawn_at = time.monotonic() if redraw else drawn_at
        yield (plots.training_curves(u.log) if redraw else no_change,
               plots.evolution(u.points, u.unit) if first or u.evaluated else no_change,
               lines if first or u.evaluated else no_change,
               _progress_html(ev.step, ev.total_steps, ev.eta, ev.images_per_sec, u.label), no_change, no_change, no_change)


def run_choices(session: Session):
    """The session's finished runs to tick, the newest ticked with those already ticked."""
    labels = [r.label for r in session.finished]
    return gr.CheckboxGroup(choices=labels, value=labels[-1:])


def overlay_runs(session: Session, labels: list[str] | None):
    """The ticked runs' curves in one figure."""
    return plots.overlay([(r.name, r.log) for r in training.overlay_runs(session, labels)])


def stop_run(session: Session) -> str:
    return training.stop(session)


def load_from_hub(state: ServerState, session: Session, repo_id: str, revision: str,
                  oauth_token: gr.OAuthToken | None = None):
    """Download a twin pair from a Hub model repo into this session's pair menu; a failure keeps what is there.
    On a Space, private repos need your own sign-in: the server's token reads only the pair its owner chose.

    Args:
        repo_id: the Hub model repo, owner/name.
        revision: a branch, tag or commit (empty: main).
    """
    try:
        names = hub_access.load_into_session(state.hub_access, session, repo_id, revision, _token(oauth_token))
    except hub.HubError as e:
        return gr.update(), f"**Could not load from the Hub:** {e}  \nThe pairs you had stay in use."
    return (gr.Dropdown(choices=pair_choices(state, session), value=names[0]),
            f"Loaded **{', '.join(names)}** from the Hub: now selected in the model-pair menu.")


@shown_to_user
def push_run(state: ServerState, session: Session, repo_id: str, private: bool,
             oauth_token: gr.OAuthToken | None = None) -> str:
    """Upload this session's last finished run (both twins + model card) to a Hub model repo. On a Space this
    needs your own sign-in with Hugging Face: the server's token is never used for a repo you name.

    Args:
        repo_id: the Hub model repo, owner/name (created if missing).
        private: create the repo private.
    """
    p = hub_access.push_last_run(state.hub_access, session, repo_id, private, _token(oauth_token))
    return f"Pushed to **{p.repo_id}** in one commit{' as you' if p.as_visitor else ''}: {p.url}"


def _token(oauth_token: gr.OAuthToken | None) -> str | None:
    return oauth_token.token if oauth_token is not None else None


@shown_to_user
def run_lr_sweep(state: ServerState, arch: str, lrs_text: str):
    """Both twins at several learning rates on a short fixed budget; diverged and stalled twins are marked.

    Args:
        arch: "cnn", "mlp" or "fig1".
        lrs_text: the learning rates, e.g. "0.03 0.1 0.3 1 3".
    """
    for rows in exp.sweep_rows(state.limits, state.dataset, arch, exp.parse_rates(lrs_text)):
        yield plots.lr_sweep(rows), exp.sweep_summary(rows)


@shown_to_user
def run_placement(state: ServerState, arch: str):
    """BN before vs after the ReLU and no BN, 3 seeds on a short budget; mean +- sd per variant.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for logs in exp.placement_logs(state.limits, state.dataset, arch):
        yield plots.placement(logs), exp.placement_summary(logs)


@shown_to_user
def run_figure1(state: ServerState):
    """Ioffe & Szegedy's Figure 1 on CIFAR-10; streams the three panels and a summary."""
    for fig in figure1.figure1_run(state.dataset()):
        yield plots.figure1(fig.log, fig.points), fig.summary()


@shown_to_user
def run_noisy_bn(state: ServerState, arch: str):
    """BN, noisy BN (Santurkar et al. 2018) and no BN in lockstep, 3 seeds; curves, distributions, summary.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for run in noisy.noisy_experiment(state.limits, state.dataset, arch):
        yield landscape_plots.noisy_bn(run.logs, run.points, run.unit), run.summary()


@shown_to_user
def run_tutorial_table(state: ServerState):
    """The tutorial's own recipe and report, both twins; streams the report lines."""
    lines: list[str] = []
    for line in exp.tutorial_lines(state.dataset(), max_seconds=state.limits.max_seconds):
        lines.append(line)
        yield "\n".join(lines)
