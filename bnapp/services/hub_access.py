"""Whose token acts on the Hub: on a public Space every visitor acts as themselves, never as the server.

On your own machine (`python app.py`) the person at the browser owns the machine, so the token saved
there (`$HF_TOKEN`, `hf auth login`) is theirs to use, as the CLIs use it. On a Space (Hugging Face sets
`SPACE_ID`) anyone can call every endpoint -- the browser, the API and MCP alike -- so the server's token
(the owner's `HF_TOKEN` secret) reads only the repo the owner configured (`BNAPP_HUB_REPO`), and every
other Hub action uses the visitor's own token from "Sign in with Hugging Face" (OAuth) or none at all.
The UI, the API and MCP all come through here: there is no path around these rules.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from bnapp.services import UserError
from bnapp.store import hub

SPACE_ENV = "SPACE_ID"  # set by Hugging Face on every Space, public or private
OAUTH_ENV = "OAUTH_CLIENT_ID"  # set by Hugging Face on a Space whose README says `hf_oauth: true`
# Gradio serves the real sign-in only where SYSTEM=spaces (Hugging Face sets it with SPACE_ID); elsewhere
# it mocks the sign-in with the machine's own token, which a public server must never hand out.
SYSTEM_ENV, ON_SPACES = "SYSTEM", "spaces"
# The scopes a visitor grants at sign-in (README front matter, `hf_oauth_scopes`): read their private repos,
# write to their repos, create new ones. Nothing is deleted.
OAUTH_SCOPES = ("read-repos", "write-repos", "contribute-repos")


@dataclass(frozen=True)
class HubAccess:
    """The Hub rules of this server: where it runs, and the repo its owner chose."""

    on_space: bool = False
    sign_in: bool = False  # the Space offers "Sign in with Hugging Face"
    owner_repo: str | None = None  # BNAPP_HUB_REPO: the server's token may read it, since the owner chose it

    @staticmethod
    def from_env(owner_repo: str | None = None) -> HubAccess:
        on_space = bool(os.environ.get(SPACE_ENV))
        sign_in = on_space and bool(os.environ.get(OAUTH_ENV)) and os.environ.get(SYSTEM_ENV) == ON_SPACES
        return HubAccess(on_space, sign_in, (owner_repo or "").strip() or None)

    @property
    def sign_in_hint(self) -> str:
        if self.sign_in:
            return "sign in with Hugging Face (the button at the top of the page) to use your own account"
        return "this Space offers no Hugging Face sign-in (its README needs `hf_oauth: true`)"

    @property
    def offers_push(self) -> bool:
        """Whether the app offers to push a run: on a Space (each visitor signs in), or where a token is saved."""
        return self.on_space or bool(hub.saved_token())

    def push_token(self, visitor_token: str | None) -> str:
        """The visitor's own token; off a Space, the machine's saved token when the visitor has none."""
        if visitor_token:
            return visitor_token
        if self.on_space:
            raise UserError(f"Pushing to the Hub needs your own Hugging Face account: {self.sign_in_hint}. "
                            "This server never pushes with its owner's token.")
        token = hub.saved_token()
        if not token:
            raise UserError("Pushing needs a Hugging Face token with write access: set HF_TOKEN or run "
                            "`hf auth login` on this machine.")
        return token

    def read_token(self, repo_id: str, visitor_token: str | None) -> str | bool | None:
        """A token for reading `repo_id`: the visitor's; else, on a Space, the server's only for the owner's
        repo and none (public repos only) for any other; off a Space huggingface_hub's own (None)."""
        if visitor_token:
            return visitor_token
        if not self.on_space or (self.owner_repo and repo_id.strip() == self.owner_repo):
            return None
        return False

    def not_found_hint(self, visitor_token: str | None) -> str:
        """What a "not found" may mean for this reader: a private repo they cannot read, and what to do."""
        if visitor_token:
            return "or your account cannot read it"
        return f"if it is private, {self.sign_in_hint}" if self.on_space else hub.PRIVATE_HINT

    def may_use_cache(self, token: str | bool | None) -> bool:
        """Only the server's own reads may be answered from the shared download cache unchecked: on a Space a
        private repo that one visitor loaded must not reach another through it."""
        return token is None
