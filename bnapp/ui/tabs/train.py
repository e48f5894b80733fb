"""The Train tab: both twins trained in lockstep while their curves, insides and loss landscape are drawn;
the run joins the pair menu, can be overlaid with this session's others and pushed to the Hub."""
from __future__ import annotations

import time
from dataclasses import fields
from types import SimpleNamespace

import gradio as gr

from bnapp.services import UserError, hub_transfer, presets, training, tuning
from bnapp.services.state import ServerState, Session, get_pair, pair_choices
from bnapp.training.limits import TrainSettings
from bnapp.training.recipes import OPTIMIZERS
from bnapp.ui import run_text, text, visitors
from bnapp.ui.events import bind, on_gpu, seconds_or, shown_to_user
from bnapp.ui.figures import landscape as landscape_figures
from bnapp.ui.figures import training as figures
from bnapp.ui.figures.activations import evolution
from bnapp.ui.tabs import experiments

ID, TITLE = "train", "Train"
CURVES_REFRESH_SECONDS = 3.0  # the loss curves between evaluations; the progress bar follows every step
PRESET_FIELDS = ("arch", "optimizer", "epochs", "batch_size", "lr", "train_subset", "budget")  # what a preset sets
ARCH_CHOICES = [("CNN", "cnn"), ("tutorial MLP", "mlp"), ("Figure 1 MLP (3 x 100 sigmoid)", "fig1")]


def layout(state: ServerState) -> SimpleNamespace:
    limits, start = state.limits, presets.preset("quick", state.limits.max_seconds)
    t = SimpleNamespace()
    with gr.Tab(TITLE, id=ID):
        gr.Markdown(text.train_intro(limits))
        with gr.Row():
            arch = gr.Dropdown(ARCH_CHOICES, value=start.arch, label="Architecture")
            recipe = gr.Dropdown([(text.preset_label(n, *rs), n) for n, rs in presets.presets().items()],
                                 value=start.recipe, label="Recipe preset (whose recipe it is)")
            optimizer = gr.Radio(list(OPTIMIZERS), value=start.optimizer, label="Optimizer")
            placement = gr.Radio(["before", "after"], value=start.placement, label="BN placement (vs ReLU)")
        with gr.Row():
            epochs = gr.Number(start.epochs, label="Epochs", minimum=0.01)
            batch_size = gr.Number(start.batch_size, label="Batch size", precision=0)
            lr = gr.Number(start.lr, label="Learning rate",
                           info="both twins (fair preset: each twin keeps its searched rate); for weights a BN "
                                "follows the decay scales with 1/lr (lr x decay stays the recipe's), every other "
                                "weight keeps the recipe's decay")
            train_subset = gr.Number(start.train_subset, label="Training images", precision=0)
            seed = gr.Number(start.seed, label="Seed", precision=0)
            budget = gr.Number(start.budget, label="Time budget, s (0: none; else steps and images fit it)", minimum=0)
        with gr.Row():
            landscape = gr.Checkbox(True, label="Measure the loss landscape at each evaluation (Santurkar et al.; "
                                                "the time budget accounts for it)")
            t.start = gr.Button("Start training", variant="primary")
            t.stop = gr.Button("Stop", variant="stop")
        # every setting of a run, by its TrainSettings field: the handler's inputs, the presets' and links' targets
        t.settings = dict(arch=arch, recipe=recipe, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                          placement=placement, train_subset=train_subset, seed=seed, budget=budget, landscape=landscape)
        t.progress = gr.HTML(label="progress")
        t.curves = gr.Plot(label="Training curves", show_label=False)
        t.summary = gr.Markdown(label="summary")
        t.files = gr.File(label="This run's checkpoints (safetensors + JSON)", file_count="multiple", interactive=False)
        access = state.hub_access
        with gr.Row(visible=access.offers_push):
            t.push_repo = gr.Textbox(label="Push this run's pair to the Hub: repo (owner/name)", scale=3)
            t.push_private = gr.Checkbox(label="private repo", scale=1)
            t.push = gr.Button("Push to the Hub", scale=1)
        t.push_note = gr.Markdown(text.push_help(access) if access.on_space else "")
        with gr.Accordion("This session's runs, overlaid", open=False):
            t.runs = gr.CheckboxGroup([], label="Runs to draw together "
                                                "(each twin keeps its colour; each run its line style)")
            t.overlay = gr.Plot(show_label=False)
        view = tuning.search_view()
        if view is not None:
            with gr.Accordion("How forgiving is each twin? The recipe search behind the cnn-fair pair", open=True):
                gr.Markdown(text.forgiving(view))
                gr.Plot(figures.forgiving(view["rows"]), show_label=False)
        t.evolution = gr.Plot(label="Inside the networks while they train", show_label=False)
        t.landscape_plot = gr.Plot(label="Why BN helps: the loss landscape", show_label=False)
        gr.Markdown(text.LANDSCAPE_EXPLAIN)
        t.experiments = experiments.layout(state)
    assert list(t.settings) == [f.name for f in fields(TrainSettings)], "one component per TrainSettings field"
    return t


def wire(t: SimpleNamespace, state: ServerState, page: SimpleNamespace) -> None:
    def fill_preset(recipe: str) -> dict:
        s = presets.preset(recipe, state.limits.max_seconds)
        return {t.settings[f]: getattr(s, f) for f in PRESET_FIELDS}

    t.settings["recipe"].input(fill_preset, [t.settings["recipe"]], [t.settings[f] for f in PRESET_FIELDS],
                               api_name=False)
    run_seconds = state.limits.max_seconds  # what a run without a budget may take at most
    # the run trains in one ZeroGPU call on a ZeroGPU Space (its events stream back); the figures, the saved run
    # and the pair menu stay in the server, so the new pair is this session's as on any other host
    run_events = on_gpu("train", bind(training.run_events, state), state.limits)
    train = visitors.in_line(bind(train_run, state, run_events), state.run_line, "your training run",
                             expected_seconds=lambda a: seconds_or(a.get("budget"), run_seconds),
                             n_outputs=7, note_at=3, on_space=state.hub_access.on_space)
    t.start.click(train, [page.session, *t.settings.values()],
                  [t.curves, t.evolution, t.landscape_plot, t.progress, t.summary, t.files, page.pair],
                  api_name="train", **visitors.training_event(state.limits)).then(
        run_choices, [page.session], [t.runs], api_name=False)
    t.runs.change(overlay_runs, [page.session, t.runs], [t.overlay], api_name=False)
    t.stop.click(bind(stop_run), [page.session], [t.progress], api_name="stop", queue=False)
    t.push.click(bind(push_run, state), [page.session, t.push_repo, t.push_private], [t.push_note], api_name="push",
                 concurrency_id="hub", concurrency_limit=2)
    page.pair.input(bind(recorded_curves, state), [page.pair, page.session], [t.curves], api_name=False)
    experiments.wire(t.experiments, state, t.settings["arch"])


def _progress_html(done: int, total: int, eta: float, ips: float, label: str) -> str:
    pct = 100 * done / max(1, total)
    return (f'<div style="display:flex;gap:12px;align-items:center"><progress value="{done}" max="{total}" '
            f'style="flex:1;height:18px"></progress><span>{label}: step {done}/{total} ({pct:.0f}%), '
            f'{ips:,.0f} images/s, ETA {eta:.0f} s</span></div>')


@shown_to_user
def train_run(state: ServerState, run_events: training.RunEvents, session: Session, arch: str, recipe: str, epochs,
              batch_size, lr, optimizer: str, placement: str, train_subset, seed, budget=0.0, landscape: bool = False):
    """Train a BatchNorm network and its plain twin in lockstep on CIFAR-10 (the server's limits apply).

    Args:
        arch: "cnn", "mlp" (the tutorial's) or "fig1" (Ioffe & Szegedy's 3 x 100 sigmoid MLP).
        recipe: "quick", "fast", "tutorial", "fig1" or "fair" (each twin at the recipe the shipped search chose
            for it; its rates, batch and optimizer are then the search's).
        epochs: epochs over the training images.
        batch_size: images per step.
        lr: learning rate, both twins (for weights a BN follows the decay scales with 1/lr; others keep theirs).
        optimizer: "sgd" or "adam".
        placement: BN "before" or "after" the ReLU.
        train_subset: training images (a class-balanced subset).
        seed: seed for initialisation, data order and augmentation.
        budget: time budget in seconds (0: none); steps and images are then chosen to fit it.
        landscape: also measure the loss landscape along the gradient at each evaluation.
    Returns:
        streams the curves, the layer evolution, the landscape, progress, a summary, the files and the new pair.
    """
    settings = TrainSettings(arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset, seed, budget,
                             bool(landscape))
    cfg, seconds = presets.browser_config(state.limits, settings)
    no_change = gr.update()
    drawn_at, rate, eta = 0.0, 0.0, 0.0  # an evaluation's event carries no speed: the last step's is shown
    if seconds:
        yield (no_change, no_change, no_change, text.measuring(seconds), no_change, no_change, no_change)
    for u in training.train_live(state, session, cfg, seconds, settings.landscape, run_events):
        ev = u.event
        lines = landscape_figures.landscape(u.landscape, measured=settings.landscape)
        if u.pair_name is not None:
            yield (figures.training_curves(u.log), evolution(u.points, u.unit), lines,
                   _progress_html(ev.step, ev.total_steps, 0, 0, "done"), run_text.run_summary(u),
                   [str(f) for f in u.files],
                   gr.Dropdown(choices=pair_choices(state, session), value=u.pair_name))
            return
        # Redrawing plotly figures costs the browser far more CPU than the server; where both share
        # two cores (python app.py on a laptop) every redraw slows training, so draw only what changed.
        rate, eta = (ev.images_per_sec, ev.eta) if ev.images_per_sec else (rate, eta)
        first = drawn_at == 0.0  # a previous run's figures are replaced at once
        redraw = first or u.evaluated or ev.kind != "log" or time.monotonic() - drawn_at >= CURVES_REFRESH_SECONDS
        drawn_at = time.monotonic() if redraw else drawn_at
        yield (figures.training_curves(u.log) if redraw else no_change,
               evolution(u.points, u.unit) if first or u.evaluated else no_change,
               lines if first or u.evaluated else no_change,
               _progress_html(ev.step, ev.total_steps, eta, rate, u.label), no_change, no_change,
               no_change)


def recorded_curves(state: ServerState, pair_name: str, session: Session | None = None):
    """The selected pair's own training curves, from its checkpoints, until a run replaces them."""
    try:
        pair = get_pair(state, pair_name, session)
    except UserError:
        return gr.update()
    return figures.training_curves(training.recorded_log(pair.metadata),
                                   f"How this pair was trained (recorded in its checkpoints, one point per epoch): "
                                   f"{pair.name}")


def run_choices(session: Session):
    """The session's finished runs to tick, the newest ticked with those already ticked."""
    labels = [r.label for r in session.finished]
    return gr.CheckboxGroup(choices=labels, value=labels[-1:])


def overlay_runs(session: Session, labels: list[str] | None):
    """The ticked runs' curves in one figure."""
    return figures.overlay([(r.name, r.log) for r in training.overlay_runs(session, labels)])


def stop_run(session: Session) -> str:
    return training.stop(session)


@shown_to_user
def push_run(state: ServerState, session: Session, repo_id: str, private: bool,
             oauth_token: gr.OAuthToken | None = None) -> str:
    """Upload this session's last finished run (both twins + model card) to a Hub model repo. On a Space this
    needs your own sign-in with Hugging Face: the server's token is never used for a repo you name.

    Args:
        repo_id: the Hub model repo, owner/name (created if missing).
        private: create the repo private.
    """
    token = oauth_token.token if oauth_token is not None else None
    p = hub_transfer.push_last_run(state.hub_access, session, repo_id, private, token)
    return f"Pushed to **{p.repo_id}** in one commit{' as you' if p.as_visitor else ''}: {p.url}"

