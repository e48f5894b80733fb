"""Pairs between a session and the Hub: loading one into the session's menu, pushing its last run, each with the
token `HubAccess`'s rules allow."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bnapp.services import UserError
from bnapp.services.hub_access import HubAccess
from bnapp.services.state import Session
from bnapp.store import hub
from bnapp.store.pairs import load_hub_pairs


def load_into_session(access: HubAccess, session: Session, repo_id: str, revision: str | None,
                      visitor_token: str | None = None) -> list[str]:
    """Download a Hub pair into this session's pair menu under the rules above; returns the new pair names.
    Raises HubError (the session keeps what it had)."""
    repo = repo_id.strip() if isinstance(repo_id, str) else ""
    token = access.read_token(repo, visitor_token)
    pairs = load_hub_pairs(repo_id, revision if isinstance(revision, str) else None, token=token,
                           check_access=not access.may_use_cache(token),
                           private_hint=access.not_found_hint(visitor_token)).pairs
    for pair in pairs.values():
        session.add_pair(pair)
    return list(pairs)


@dataclass(frozen=True)
class Pushed:
    repo_id: str
    url: str
    as_visitor: bool  # pushed with the visitor's own token (else the machine's saved one)


def push_last_run(access: HubAccess, session: Session, repo_id: str, private: bool,
                  visitor_token: str | None = None) -> Pushed:
    """Upload this session's last finished run (both twins + a model card) with the token the rules allow."""
    if session.last_run is None:
        raise UserError("Train a pair first: the last finished run of this session is what gets pushed.")
    token = access.push_token(visitor_token)
    folder, pair_name = session.last_run
    url = hub.push_pair(Path(folder), pair_name, repo_id, token=token, private=bool(private))
    return Pushed(repo_id.strip(), url, bool(visitor_token))
