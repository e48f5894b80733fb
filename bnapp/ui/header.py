"""The top of the page, above the tabs: what bnapp is, the model-pair menu, the link to this view, signing in,
and loading a pair from the Hugging Face Hub into this session's menu."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from bnapp.services import fairness, hub_transfer
from bnapp.services.state import ServerState, Session, pair_choices
from bnapp.store import hub
from bnapp.ui import text
from bnapp.ui.events import bind


def layout(state: ServerState) -> SimpleNamespace:
    h = SimpleNamespace()
    gr.Markdown(text.INTRO)
    if state.load_errors:
        gr.Markdown("**Some checkpoints could not be loaded:**\n" + "\n".join(f"- {e}" for e in state.load_errors))
    with gr.Row(equal_height=True):
        h.pair = gr.Dropdown(pair_choices(state, None), value=state.default_pair, label="Model pair",
                             allow_custom_value=True, scale=4)
        h.copy = gr.Button("Copy link", size="sm", scale=0, min_width=110)
        h.copied = gr.Textbox(label="Link to this view (copied)", scale=1, interactive=False, max_lines=1)
        if state.hub_access.sign_in:  # a Space with OAuth: each visitor acts on the Hub as themselves
            gr.LoginButton(scale=0, min_width=200)
    if (gap := fairness.shipped_gap(state.pairs)) is not None:
        gr.Markdown(text.fair_gap(gap))
    h.link_note = gr.Markdown()
    with gr.Accordion("Load a pair from the Hugging Face Hub", open=False):
        with gr.Row():
            h.hub_repo = gr.Textbox(label="Hub model repo (owner/name)", placeholder="someone/bnapp-cifar10", scale=3)
            h.hub_revision = gr.Textbox(label="Revision: branch, tag or commit (optional)", scale=2)
            h.hub_load = gr.Button("Load", scale=1)
        h.hub_note = gr.Markdown(text.hub_help(state.hub_access))
    return h


def wire(h: SimpleNamespace, state: ServerState, session: gr.State) -> None:
    h.hub_load.click(bind(load_from_hub, state), [session, h.hub_repo, h.hub_revision], [h.pair, h.hub_note],
                     api_name="load_hub")


def load_from_hub(state: ServerState, session: Session, repo_id: str, revision: str,
                  oauth_token: gr.OAuthToken | None = None):
    """Download a twin pair from a Hub model repo into this session's pair menu; a failure keeps what is there.
    On a Space, private repos need your own sign-in: the server's token reads only the pair its owner chose.

    Args:
        repo_id: the Hub model repo, owner/name.
        revision: a branch, tag or commit (empty: main).
    """
    token = oauth_token.token if oauth_token is not None else None
    try:
        names = hub_transfer.load_into_session(state.hub_access, session, repo_id, revision, token)
    except hub.HubError as e:
        return gr.update(), f"**Could not load from the Hub:** {e}  \nThe pairs you had stay in use."
    return (gr.Dropdown(choices=pair_choices(state, session), value=names[0]),
            f"Loaded **{', '.join(names)}** from the Hub: now selected in the model-pair menu.")
