"""The Gradio app: the header, one tab per module of `bnapp.ui.tabs`, each tab's events, the deep links.

    python app.py            # or: from bnapp.ui import build_app; build_app().launch()
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import gradio as gr

from bnapp import CHECKPOINTS, EXAMPLES
from bnapp.services.state import ServerState, Session
from bnapp.training.limits import TrainLimits
from bnapp.ui import gradio_fixes, header, links
from bnapp.ui.tabs import activations, compare, testtime, train

MAX_FILE_SIZE = "10mb"
SESSION_SECONDS = 3 * 3600
DEFAULT_CONCURRENCY = 4  # events of one kind served at once, where an event sets no limit of its own
MAX_QUEUED = 64  # events waiting for a worker, all kinds together; beyond it Gradio answers "queue full"
TABS = {tab.ID: tab for tab in (compare, activations, testtime, train)}  # in the page's order


def build_app(checkpoint_dir: str | os.PathLike = CHECKPOINTS, examples_dir: str | os.PathLike = EXAMPLES,
              hub_repo: str | None = None, hub_revision: str | None = None,
              limits: TrainLimits | None = None) -> gr.Blocks:
    """The whole app; `limits` default to the environment's (`TrainLimits.from_env`)."""
    gradio_fixes.install()
    state = ServerState.load(checkpoint_dir, examples_dir, hub_repo, hub_revision, limits)
    for err in state.load_errors:
        print(f"bnapp: {err}")
    print(f"bnapp: {state.describe()}")
    with gr.Blocks(title="bnapp: see BatchNorm", delete_cache=(1800, 3600)) as demo:
        top = header.layout(state)
        with gr.Tabs() as tab_set:
            tabs = {tab_id: tab.layout(state) for tab_id, tab in TABS.items()}
        session = gr.State(lambda: Session(), time_to_live=SESSION_SECONDS, delete_callback=Session.close)
        page = SimpleNamespace(pair=top.pair, session=session, image=tabs["compare"].image)
        for tab_id, tab in TABS.items():
            tab.wire(tabs[tab_id], state, page)
        header.wire(top, state, session)
        links.wire(SimpleNamespace(demo=demo, tab_set=tab_set, tabs=tabs, tab_modules=TABS, pair=top.pair,
                                   session=session, copy=top.copy, copied=top.copied, link_note=top.link_note), state)
    gradio_fixes.name_tools(demo)
    # A backstop behind the run line: at most this many events of any kind wait for a worker at once.
    return demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=MAX_QUEUED)
