"""The experiments inside the Train tab: each a fixed protocol of several short runs, streamed as it goes."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from bnapp.services import experiments as exp
from bnapp.services import figure1, noisy
from bnapp.services.state import ServerState
from bnapp.ui import text, visitors
from bnapp.ui.events import endpoint, shown_to_user
from bnapp.ui.figures import landscape as landscape_figures
from bnapp.ui.figures import training as figures


def layout(state: ServerState) -> SimpleNamespace:
    """The accordions, by the key a link opens each with (`?experiment=sweep`)."""
    e = SimpleNamespace(accordions={})
    with gr.Accordion("Experiment: learning-rate robustness", open=False) as e.accordions["sweep"]:
        gr.Markdown(text.SWEEP_INTRO)
        with gr.Row():
            e.sweep_lrs = gr.Textbox("0.03 0.1 0.3 1 3", label="Learning rates")
            e.sweep = gr.Button("Run sweep")
        e.sweep_outputs = [gr.Plot(show_label=False), gr.Markdown()]
    with gr.Accordion("Experiment: BN before or after the ReLU?", open=False) as e.accordions["placement"]:
        gr.Markdown(text.PLACEMENT_INTRO)
        e.placement = gr.Button("Compare placements")
        e.placement_outputs = [gr.Plot(show_label=False), gr.Markdown()]
    with gr.Accordion("Experiment: Ioffe & Szegedy's Figure 1, reproduced", open=False) as e.accordions["figure1"]:
        gr.Markdown(text.FIGURE1_INTRO)
        e.figure1 = gr.Button("Reproduce Figure 1")
        e.figure1_outputs = [gr.Plot(show_label=False), gr.Markdown()]
    with gr.Accordion("Experiment: noisy BN -- is it the steady distributions?", open=False) as e.accordions["noisy"]:
        gr.Markdown(text.NOISY_INTRO)
        e.noisy = gr.Button("Train BN, noisy BN and no BN")
        e.noisy_outputs = [gr.Plot(show_label=False), gr.Markdown()]
    with gr.Accordion("Experiment: the tutorial's table", open=False) as e.accordions["tutorial"]:
        gr.Markdown(text.TUTORIAL_INTRO)
        e.tutorial = gr.Button("Run the tutorial")
        e.tutorial_out = gr.Textbox(label="Report", lines=16, max_lines=16, autoscroll=True)
    return e


def wire(e: SimpleNamespace, state: ServerState, arch: gr.Dropdown) -> None:
    """Every experiment waits in the run line like a training run; each is expected to take the server's limit."""
    limit = state.limits.max_seconds

    def queued(event: str, fn, what: str, n_outputs: int = 2):
        return visitors.in_line(endpoint(event, fn, state), state.run_line, what, expected_seconds=lambda a: limit,
                                n_outputs=n_outputs, note_at=n_outputs - 1, on_space=state.hub_access.on_space)

    training = visitors.training_event(state.limits)
    e.sweep.click(queued("lr_sweep", run_lr_sweep, "the learning-rate sweep"), [arch, e.sweep_lrs], e.sweep_outputs,
                  api_name="lr_sweep", **training)
    e.placement.click(queued("placement", run_placement, "the placement experiment"), [arch], e.placement_outputs,
                      api_name="placement", **training)
    e.noisy.click(queued("noisy_bn", run_noisy_bn, "the noisy-BN experiment"), [arch], e.noisy_outputs,
                  api_name="noisy_bn", **training)
    e.figure1.click(queued("figure1", run_figure1, "Figure 1"), None, e.figure1_outputs, api_name="figure1", **training)
    e.tutorial.click(queued("tutorial_table", run_tutorial_table, "the tutorial's table", n_outputs=1), None,
                     [e.tutorial_out], api_name="tutorial_table", **training)


@shown_to_user
def run_lr_sweep(state: ServerState, arch: str, lrs_text: str):
    """Both twins at several learning rates on a short fixed budget; diverged and stalled twins are marked.

    Args:
        arch: "cnn", "mlp" or "fig1".
        lrs_text: the learning rates, e.g. "0.03 0.1 0.3 1 3".
    """
    for rows in exp.sweep_rows(state.limits, state.dataset, arch, exp.parse_rates(lrs_text)):
        yield figures.lr_sweep(rows), exp.sweep_summary(rows)


@shown_to_user
def run_placement(state: ServerState, arch: str):
    """BN before vs after the ReLU and no BN, 3 seeds on a short budget; mean +- sd per variant.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for logs in exp.placement_logs(state.limits, state.dataset, arch):
        yield figures.placement(logs), exp.placement_summary(logs)


@shown_to_user
def run_figure1(state: ServerState):
    """Ioffe & Szegedy's Figure 1 on CIFAR-10; streams the three panels and a summary."""
    for fig in figure1.figure1_run(state.dataset()):
        yield figures.figure1(fig.log, fig.points), fig.summary()


@shown_to_user
def run_noisy_bn(state: ServerState, arch: str):
    """BN, noisy BN (Santurkar et al. 2018) and no BN in lockstep, 3 seeds; curves, distributions, summary.

    Args:
        arch: "cnn", "mlp" or "fig1".
    """
    for run in noisy.noisy_experiment(state.limits, state.dataset, arch):
        yield landscape_figures.noisy_bn(run.logs, run.points, run.unit), run.summary()


@shown_to_user
def run_tutorial_table(state: ServerState):
    """The tutorial's own recipe and report, both twins; streams the report lines."""
    lines: list[str] = []
    for line in exp.tutorial_lines(state.dataset(), max_seconds=state.limits.max_seconds):
        lines.append(line)
        yield "\n".join(lines)
