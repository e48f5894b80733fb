"""The experiments inside the Train tab: each a fixed protocol of several short runs, streamed as it goes."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from bnapp.services import experiments as exp
from bnapp.services import figure1, noisy
from bnapp.services.state import ServerState
from bnapp.ui import experiment_text, text, visitors
from bnapp.ui.events import endpoint, shown_to_user
from bnapp.ui.figures import landscape as landscape_figures
from bnapp.ui.figures import training as figures

# Each experiment's accordion: the key a link opens it with (`?experiment=sweep`), its title, intro and button.
ACCORDIONS = {
    "sweep": ("Experiment: learning-rate robustness", text.SWEEP_INTRO, "Run sweep"),
    "placement": ("Experiment: BN before or after the ReLU?", text.PLACEMENT_INTRO, "Compare placements"),
    "figure1": ("Experiment: Ioffe & Szegedy's Figure 1, reproduced", text.FIGURE1_INTRO, "Reproduce Figure 1"),
    "noisy": ("Experiment: noisy BN -- is it the steady distributions?", text.NOISY_INTRO,
              "Train BN, noisy BN and no BN"),
    "tutorial": ("Experiment: the tutorial's table", text.TUTORIAL_INTRO, "Run the tutorial"),
}


def layout(state: ServerState) -> SimpleNamespace:
    """One accordion per experiment: its intro, its button (`e.buttons[key]`), its outputs (`e.outputs[key]`)."""
    e = SimpleNamespace(accordions={}, buttons={}, outputs={})
    for key, (title, intro, button) in ACCORDIONS.items():
        with gr.Accordion(title, open=False) as e.accordions[key]:
            gr.Markdown(intro)
            with gr.Row():
                if key == "sweep":
                    e.sweep_lrs = gr.Textbox("0.03 0.1 0.3 1 3", label="Learning rates")
                e.buttons[key] = gr.Button(button)
            if key == "tutorial":
                e.outputs[key] = [gr.Textbox(label="Report", lines=16, max_lines=16, autoscroll=True)]
            elif key == "figure1" and (paper := figure1.shipped()) is not None:  # open on the paper-length run
                fig, record = paper
                shown = figures.figure1(fig, run_steps=record["steps"])
                e.outputs[key] = [gr.Plot(shown, show_label=False),
                                  gr.Markdown(experiment_text.figure1_shipped(fig, record))]
            else:
                e.outputs[key] = [gr.Plot(show_label=False), gr.Markdown()]
    return e


def wire(e: SimpleNamespace, state: ServerState, arch: gr.Dropdown) -> None:
    """Every experiment waits in the run line like a training run; each is expected to take the server's limit."""
    limit = state.limits.max_seconds

    def queued(event: str, fn, what: str, n_outputs: int = 2):
        return visitors.in_line(endpoint(event, fn, state), state.run_line, what, expected_seconds=lambda a: limit,
                                n_outputs=n_outputs, note_at=n_outputs - 1, on_space=state.hub_access.on_space)

    training = visitors.training_event(state.limits)
    b, out = e.buttons, e.outputs
    b["sweep"].click(queued("lr_sweep", run_lr_sweep, "the learning-rate sweep"), [arch, e.sweep_lrs], out["sweep"],
                     api_name="lr_sweep", **training)
    b["placement"].click(queued("placement", run_placement, "the placement experiment"), [arch], out["placement"],
                         api_name="placement", **training)
    b["noisy"].click(queued("noisy_bn", run_noisy_bn, "the noisy-BN experiment"), [arch], out["noisy"],
                     api_name="noisy_bn", **training)
    b["figure1"].click(queued("figure1", run_figure1, "Figure 1"), None, out["figure1"], api_name="figure1", **training)
    b["tutorial"].click(queued("tutorial_table", run_tutorial_table, "the tutorial's table", n_outputs=1), None,
                        out["tutorial"], api_name="tutorial_table", **training)


@shown_to_user
def run_lr_sweep(state: ServerState, arch: str, lrs_text: str):
    """Both twins at several learning rates on a short fixed budget; diverged and stalled twins are marked.

    Args:
        arch: "cnn", "mlp" or "fig1".
        lrs_text: the learning rates, e.g. "0.03 0.1 0.3 1 3".
    """
    for rows in exp.sweep_rows(state.limits, state.dataset, arch, exp.parse_rates(lrs_text)):
        yield figures.lr_sweep(rows), experiment_text.sweep_summary(rows)


@shown_to_user
def run_placement(state: ServerState, arch: str):
    """BN before vs after the ReLU and no BN, 3 seeds on a short budget; mean +- sd per variant.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for logs in exp.placement_logs(state.limits, state.dataset, arch):
        yield figures.placement(logs), experiment_text.placement_summary(exp.placement_result(logs))


@shown_to_user
def run_figure1(state: ServerState):
    """Ioffe & Szegedy's Figure 1 on Fashion-MNIST (MNIST's format); streams the three panels and a summary."""
    cfg = figure1.figure1_config(max_seconds=state.limits.max_seconds)
    for fig in figure1.figure1_run(state.dataset(figure1.DATASET), cfg):
        yield figures.figure1(fig), ("**Figure 1 done.** " if fig.done else "") + experiment_text.figure1_summary(fig)


@shown_to_user
def run_noisy_bn(state: ServerState, arch: str):
    """BN, noisy BN (Santurkar et al. 2018) and no BN in lockstep, 3 seeds; curves, distributions, summary.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for run in noisy.noisy_experiment(state.limits, state.dataset, arch):
        yield landscape_figures.noisy_bn(run.logs, run.points, run.unit), experiment_text.noisy_summary(run)


@shown_to_user
def run_tutorial_table(state: ServerState):
    """The tutorial's own recipe and report, both twins; streams the report lines."""
    lines: list[str] = []
    for line in exp.tutorial_lines(state.dataset(), max_seconds=state.limits.max_seconds):
        lines.append(line)
        yield "\n".join(lines)
