"""The Gradio app: the layout of each tab, and the events wired to `handlers`.

    python app.py            # or: from bnapp.ui import build_app; build_app().launch()
"""
from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from bnapp.measure import stats
from bnapp.services.activations import SOURCES
from bnapp.services.prediction import MAX_IMAGES
from bnapp.services.state import ServerState, Session
from bnapp.services.training import QUICK_SUBSET, recipe_defaults
from bnapp.store import hub
from bnapp.system import machine, zerogpu
from bnapp.system.precision import prediction_precision
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import RECIPES
from bnapp.ui import gradio_fixes, links, testtime, text, visitors
from bnapp.ui import handlers as h

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_SIZE = "10mb"
SESSION_SECONDS = 3 * 3600
DEFAULT_CONCURRENCY = 4  # events of one kind served at once, where an event sets no limit of its own
MAX_QUEUED = 64  # events waiting for a worker, all kinds together; beyond it Gradio answers "queue full"


def bind(fn: Callable, state: ServerState | None = None) -> Callable:
    """`fn` with the server's state (if given) as its first argument, keeping its docstring and the rest of
    its signature (a `partial` would lose them): the API page and the MCP tools are described from those.
    `name_tools` later names each bound function after its endpoint."""
    head = () if state is None else (state,)
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def bound(*args, **kwargs):
            yield from fn(*head, *args, **kwargs)
    else:
        @functools.wraps(fn)
        def bound(*args, **kwargs):
            return fn(*head, *args, **kwargs)
    signature = inspect.signature(fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(head):])
    bound.bnapp_endpoint = True
    return bound


def name_tools(demo: gr.Blocks) -> None:
    """MCP tools are named after their functions: give every bound handler its endpoint's name, so an agent
    calls `predict` as a program calls /predict. Gradio's own events (the session's set-up) stay out of the
    API page and the tool list."""
    for block_fn in demo.fns.values():
        if block_fn.api_name and getattr(block_fn.fn, "bnapp_endpoint", False):
            block_fn.fn.__name__ = block_fn.api_name
        elif block_fn.api_visibility == "public":
            block_fn.api_visibility = "undocumented"


def raw_image(**kwargs) -> gr.Image:
    """An image drop zone (upload or paste) that hands the uploaded file to bnapp's own defensive
    decoder instead of Gradio's, so every bad file gets bnapp's clear message. (Overridden on the
    instance: subclassing a Gradio component makes Gradio write a .pyi file beside this module.)"""
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


def _seconds(value, limit: float) -> float:
    """A run's time budget as sent (0 or junk: none), as the time it is expected to take: at most `limit`."""
    try:
        budget = float(value)
    except (TypeError, ValueError):
        return limit
    return budget if 0 < budget <= limit else limit


def _compare_tab(state: ServerState) -> SimpleNamespace:
    with gr.Tab("Compare", id="compare"):
        with gr.Row():
            with gr.Column(scale=1):
                image = raw_image(label="Your image (upload or paste)", sources=["upload", "clipboard"], height=260)
                seen = gr.Image(label="What both networks see: 32x32", interactive=False, height=180, buttons=[])
            with gr.Column(scale=2):
                verdict = gr.Markdown(label="verdict", value=text.DROP_PROMPT)
                with gr.Row():
                    bn_label = gr.Label(label="With BatchNorm")
                    plain_label = gr.Label(label="Without BatchNorm")
                bars = gr.Plot(label="All ten classes", show_label=False)
        if state.examples.paths:
            gr.Examples([[str(p)] for p in state.examples.paths], inputs=[image], examples_per_page=30,
                        label=text.EXAMPLES_LABEL)
        with gr.Accordion("Several images at once", open=False):
            files = gr.File(label=f"Drop up to {MAX_IMAGES} images", file_count="multiple", file_types=["image"])
            many_note = gr.Markdown(label="summary")
            gallery = gr.Gallery(label="What the networks see", columns=8, height=220)
            table = gr.Dataframe(headers=["image", "BN top-1 (p)", "plain top-1 (p)", "agree", "true label"],
                                 label="Both twins, image by image", interactive=False)
    return SimpleNamespace(image=image, outputs=[bn_label, plain_label, seen, bars, verdict], files=files,
                           many_outputs=[gallery, table, many_note])


def _activations_tab(state: ServerState) -> SimpleNamespace:
    with gr.Tab("Activations", id="activations"):
        gr.Markdown(text.ACTIVATIONS_INTRO)
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Batch")
            n_images = gr.Slider(1, stats.MAX_BATCH, value=stats.default_batch("cnn"), step=1, label="Number of test images (N)")
            mode = gr.Radio(list(stats.MODES), value="eval", label="BN mode")
            layer = gr.Dropdown([], label="Layer", allow_custom_value=True)
            look = gr.Button("Look inside", variant="primary")
        note = gr.Markdown(state.test_source)
        overview = gr.Plot(label="Overview", show_label=False)
        gr.Markdown(text.EXPLAIN_OVERVIEW)
        hist = gr.Plot(label="Histograms", show_label=False)
        gr.Markdown(text.EXPLAIN_KINDS)
        channels = gr.Plot(label="Channels", show_label=False)
        gr.Markdown(text.EXPLAIN_CHANNELS + "\n\n" + text.EXPLAIN_MODES)
    return SimpleNamespace(source=source, n_images=n_images, mode=mode, layer=layer, look=look,
                           outputs=[overview, hist, channels, layer, note])


def _train_tab(state: ServerState) -> SimpleNamespace:
    quick, limits = RECIPES["quick"], state.limits
    t = SimpleNamespace(experiments={})
    with gr.Tab("Train", id="train"):
        gr.Markdown(text.train_intro(limits))
        with gr.Row():
            t.arch = gr.Dropdown([("CNN", "cnn"), ("tutorial MLP", "mlp"), ("Figure 1 MLP (3 x 100 sigmoid)", "fig1")],
                                 value="cnn", label="Architecture")
            t.recipe = gr.Dropdown(sorted(RECIPES), value="quick", label="Recipe preset")
            t.optimizer = gr.Radio(["sgd", "adam"], value=quick.optimizer, label="Optimizer")
            t.placement = gr.Radio(["before", "after"], value="before", label="BN placement (vs ReLU)")
        with gr.Row():
            t.epochs = gr.Number(quick.epochs, label="Epochs", minimum=0.01)
            t.batch_size = gr.Number(quick.batch_size, label="Batch size", precision=0)
            t.lr = gr.Number(quick.lr, label="Learning rate", info="both twins; weight decay scales with 1/lr, so lr x decay stays the recipe's")
            t.train_subset = gr.Number(QUICK_SUBSET, label="Training images", precision=0)
            t.seed = gr.Number(0, label="Seed", precision=0)
            t.budget = gr.Number(recipe_defaults("quick", limits.max_seconds)[-1],
                                 label="Time budget, s (0: none; else steps and images fit it)",
                                 minimum=0)
        with gr.Row():
            t.landscape = gr.Checkbox(True, label="Measure the loss landscape at each evaluation (Santurkar et al.; "
                                                  "the time budget accounts for it)")
            t.start = gr.Button("Start training", variant="primary")
            t.stop = gr.Button("Stop", variant="stop")
        t.progress = gr.HTML(label="progress")
        t.curves = gr.Plot(label="Training curves", show_label=False)
        t.summary = gr.Markdown(label="summary")
        t.files = gr.File(label="This run's checkpoints (safetensors + JSON)", file_count="multiple", interactive=False)
        access = state.hub_access
        with gr.Row(visible=access.on_space or bool(hub.saved_token())):
            t.push_repo = gr.Textbox(label="Push this run's pair to the Hub: repo (owner/name)", scale=3)
            t.push_private = gr.Checkbox(label="private repo", scale=1)
            t.push = gr.Button("Push to the Hub", scale=1)
        t.push_note = gr.Markdown(text.push_help(access) if access.on_space else "")
        with gr.Accordion("This session's runs, overlaid", open=False):
            t.runs = gr.CheckboxGroup([], label="Runs to draw together (each twin keeps its colour; each run its line style)")
            t.overlay = gr.Plot(show_label=False)
        t.evolution = gr.Plot(label="Inside the networks while they train", show_label=False)
        t.landscape_plot = gr.Plot(label="Why BN helps: the loss landscape", show_label=False)
        gr.Markdown(text.LANDSCAPE_EXPLAIN)
        with gr.Accordion("Experiment: learning-rate robustness", open=False) as t.experiments["sweep"]:
            gr.Markdown(text.SWEEP_INTRO)
            with gr.Row():
                t.sweep_lrs = gr.Textbox("0.03 0.1 0.3 1 3", label="Learning rates")
                t.sweep = gr.Button("Run sweep")
            t.sweep_outputs = [gr.Plot(show_label=False), gr.Markdown()]
        with gr.Accordion("Experiment: BN before or after the ReLU?", open=False) as t.experiments["placement"]:
            gr.Markdown(text.PLACEMENT_INTRO)
            t.placement_btn = gr.Button("Compare placements")
            t.placement_outputs = [gr.Plot(show_label=False), gr.Markdown()]
        with gr.Accordion("Experiment: Ioffe & Szegedy's Figure 1, reproduced", open=False) as t.experiments["figure1"]:
            gr.Markdown(text.FIGURE1_INTRO)
            t.figure1 = gr.Button("Reproduce Figure 1")
            t.figure1_outputs = [gr.Plot(show_label=False), gr.Markdown()]
        with gr.Accordion("Experiment: noisy BN -- is it the steady distributions?", open=False) as t.experiments["noisy"]:
            gr.Markdown(text.NOISY_INTRO)
            t.noisy = gr.Button("Train BN, noisy BN and no BN")
            t.noisy_outputs = [gr.Plot(show_label=False), gr.Markdown()]
        with gr.Accordion("Experiment: the tutorial's table", open=False) as t.experiments["tutorial"]:
            gr.Markdown(text.TUTORIAL_INTRO)
            t.tutorial = gr.Button("Run the tutorial")
            t.tutorial_out = gr.Textbox(label="Report", lines=16, max_lines=16, autoscroll=True)
    t.settings = [t.arch, t.recipe, t.epochs, t.batch_size, t.lr, t.optimizer, t.placement, t.train_subset, t.seed,
                  t.budget, t.landscape]
    return t


def build_app(checkpoint_dir: str | os.PathLike = ROOT / "checkpoints", examples_dir: str | os.PathLike = ROOT / "examples",
              hub_repo: str | None = None, hub_revision: str | None = None, limits: TrainLimits | None = None) -> gr.Blocks:
    """The whole app; `limits` default to the environment's (`TrainLimits.from_env`)."""
    gradio_fixes.install()
    state = ServerState.load(checkpoint_dir, examples_dir, hub_repo, hub_revision, limits)
    for err in state.load_errors:
        print(f"bnapp: {err}")
    print(f"bnapp: model pairs {', '.join(state.pairs) or 'none'} on {machine.device()} ({machine.describe()}), "
          f"predicting in {prediction_precision(machine.device())}")
    gpu, on = zerogpu.gpu_task, bind  # state is bound before wrapping: ZeroGPU pickles only the call's inputs
    # Runs wait in the app's own line (`state.run_line`: one at a time, one per visitor, with its place shown),
    # so Gradio starts each training event at once instead of queueing it out of sight.
    training = dict(concurrency_id="train", concurrency_limit=state.limits.max_waiting + 2, show_progress="minimal")

    with gr.Blocks(title="bnapp: see BatchNorm", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(text.INTRO)
        if state.load_errors:
            gr.Markdown("**Some checkpoints could not be loaded:**\n" + "\n".join(f"- {e}" for e in state.load_errors))
        with gr.Row(equal_height=True):
            pair = gr.Dropdown([(p.title, n) for n, p in state.pairs.items()], value=state.default_pair,
                               label="Model pair", allow_custom_value=True, scale=4)
            copy_link = gr.Button("Copy link", size="sm", scale=0, min_width=110)
            link_box = gr.Textbox(label="Link to this view (copied)", scale=1, interactive=False, max_lines=1)
            if state.hub_access.sign_in:  # a Space with OAuth: each visitor acts on the Hub as themselves
                gr.LoginButton(scale=0, min_width=200)
        link_note = gr.Markdown()
        with gr.Accordion("Load a pair from the Hugging Face Hub", open=False):
            with gr.Row():
                hub_repo_box = gr.Textbox(label="Hub model repo (owner/name)", placeholder="someone/bnapp-cifar10", scale=3)
                hub_rev_box = gr.Textbox(label="Revision: branch, tag or commit (optional)", scale=2)
                hub_load = gr.Button("Load", scale=1)
            hub_note = gr.Markdown(text.hub_help(state.hub_access))
        with gr.Tabs() as tabs:
            c, a = _compare_tab(state), _activations_tab(state)
            test_time = testtime.layout(state, raw_image)
            t = _train_tab(state)
        session = gr.State(lambda: Session(), time_to_live=SESSION_SECONDS, delete_callback=Session.close)
        testtime.wire(test_time, state, pair, session, on)
        links.wire(SimpleNamespace(demo=demo, tabs=tabs, pair=pair, compare=c, activations=a, test_time=test_time,
                                   train=t, copy=copy_link, copied=link_box, link_note=link_note), state, session, on)
        pair.input(on(h.recorded_curves, state), [pair, session], [t.curves], api_name=False)

        gr.on([c.image.change, pair.change], gpu(on(h.compare, state), 20), [c.image, pair, session], c.outputs,
              api_name="predict", concurrency_limit=16)
        gr.on([c.files.change, pair.change], gpu(on(h.compare_many, state), 30), [c.files, pair, session], c.many_outputs,
              api_name="predict_many")
        gr.on([a.look.click, a.mode.change, a.layer.input], gpu(on(h.activations, state), 30),
              [pair, a.source, a.n_images, a.mode, a.layer, c.image, session], a.outputs, api_name="activations")
        t.recipe.input(partial(recipe_defaults, max_seconds=state.limits.max_seconds), [t.recipe],
                        [t.arch, t.optimizer, t.epochs, t.batch_size, t.lr, t.train_subset, t.budget],
                        api_name=False)
        line = functools.partial(visitors.in_line, line=state.run_line, on_space=state.hub_access.on_space)
        run_seconds = state.limits.max_seconds  # what a run without a budget may take at most
        budget_or_limit = lambda a: _seconds(a.get("budget"), run_seconds)  # noqa: E731
        train = line(gpu(on(h.train_run, state), int(run_seconds) + 120), what="your training run",
                     expected_seconds=budget_or_limit, n_outputs=7, note_at=3)
        t.start.click(train, [session, *t.settings],
                      [t.curves, t.evolution, t.landscape_plot, t.progress, t.summary, t.files, pair], api_name="train",
                      **training).then(h.run_choices, [session], [t.runs], api_name=False)
        t.runs.change(h.overlay_runs, [session, t.runs], [t.overlay], api_name=False)
        t.stop.click(bind(h.stop_run), [session], [t.progress], api_name="stop", queue=False)
        hub_load.click(on(h.load_from_hub, state), [session, hub_repo_box, hub_rev_box], [pair, hub_note], api_name="load_hub")
        t.push.click(on(h.push_run, state), [session, t.push_repo, t.push_private], [t.push_note], api_name="push",
                     concurrency_id="hub", concurrency_limit=2)
        experiment = functools.partial(line, expected_seconds=lambda a: run_seconds, n_outputs=2, note_at=1)
        t.sweep.click(experiment(gpu(on(h.run_lr_sweep, state), 600), what="the learning-rate sweep"),
                      [t.arch, t.sweep_lrs], t.sweep_outputs, api_name="lr_sweep", **training)
        t.placement_btn.click(experiment(gpu(on(h.run_placement, state), 600), what="the placement experiment"),
                              [t.arch], t.placement_outputs, api_name="placement", **training)
        t.noisy.click(experiment(gpu(on(h.run_noisy_bn, state), 600), what="the noisy-BN experiment"),
                      [t.arch], t.noisy_outputs, api_name="noisy_bn", **training)
        t.figure1.click(experiment(gpu(on(h.run_figure1, state), 600), what="Figure 1"),
                        None, t.figure1_outputs, api_name="figure1", **training)
        t.tutorial.click(line(gpu(on(h.run_tutorial_table, state), int(run_seconds) + 60), what="the tutorial's table",
                              expected_seconds=lambda a: run_seconds, n_outputs=1, note_at=0),
                         None, [t.tutorial_out], api_name="tutorial_table", **training)
    name_tools(demo)
    # A backstop behind the run line: at most this many events of any kind wait for a worker at once.
    return demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=MAX_QUEUED)
