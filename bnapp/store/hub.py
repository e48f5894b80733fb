"""Twin pairs on the Hugging Face Hub: download one into the standard HF cache, upload one with a model card.

A Hub pair is a model repo holding `{pair}-bn.safetensors`, `{pair}-plain.safetensors` and their JSON
metadata, exactly as `bnapp.train` writes them, plus a README.md model card. Only those file kinds are
ever downloaded, and they are loaded by `checkpoints.load` (safetensors + JSON, never unpickled).
Every failure raises `HubError` with a message for people; the caller keeps the pairs it has.
"""
from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import (
    CommitOperationAdd,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    constants,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from bnapp import TWIN_NAMES, TWINS
from bnapp.store.checkpoints import find_pairs, paths, read_metadata

PAIR_FILES = ["*-bn.safetensors", "*-bn.json", "*-plain.safetensors", "*-plain.json"]


class HubError(RuntimeError):
    """The Hub could not give or take a pair; the message says why and what to do."""


def saved_token() -> str | None:
    """$HF_TOKEN, or the token `hf auth login` saved; None when there is neither."""
    from huggingface_hub import get_token

    return get_token()


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip() if isinstance(repo_id, str) else ""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise HubError(f"{repo_id!r} is not a Hub repo id; expected owner/name, "
                       "e.g. 'someone/bnapp-cifar10'.") from None
    if "/" not in repo_id:
        raise HubError(f"{repo_id!r}: give the owner too, as owner/name.")
    return repo_id


PRIVATE_HINT = "if it is private, set HF_TOKEN to a token that can read it"


def download_pair(repo_id: str, revision: str | None = None, token: str | bool | None = None,
                  check_access: bool = False, private_hint: str = PRIVATE_HINT) -> Path:
    """The folder (in the HF cache) holding the repo's twin files at `revision` (branch, tag or commit).

    `token`: None is huggingface_hub's own (the machine's), False none at all. `check_access` first asks the
    Hub whether `token` may read the repo and refuses when it cannot answer: `snapshot_download` would
    otherwise fall back to the shared cache, where a private repo someone else loaded may lie."""
    repo_id = check_repo_id(repo_id)
    revision = (revision or "").strip() or None
    where = f"{repo_id}" + (f" at revision {revision!r}" if revision else "")
    try:
        if check_access:
            _check_access(repo_id, revision, token, where)
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=PAIR_FILES, token=token))
    except RevisionNotFoundError:
        raise HubError(f"{repo_id} has no revision {revision!r} on the Hub.") from None
    except RepositoryNotFoundError:
        raise HubError(f"{repo_id} was not found on the Hub ({private_hint}).") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise HubError(f"Cannot reach the Hub{offline} and {where} is not in the local cache.") from None
    except (HfHubHTTPError, EntryNotFoundError, OSError) as e:
        raise HubError(f"Could not download {where}: {str(e).splitlines()[0]}") from None
    if not find_pairs(folder):
        raise HubError(f"{where} holds no bnapp twin pair: expected NAME-bn.safetensors, NAME-plain.safetensors "
                       "and their .json metadata, as `python -m bnapp.train` writes them.")
    return folder


def _check_access(repo_id: str, revision: str | None, token: str | bool | None, where: str) -> None:
    """Raise unless the Hub itself says `token` may read the repo (not-found errors pass through)."""
    try:
        HfApi().repo_info(repo_id, revision=revision, token=token)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise
    except Exception as e:  # offline, unreachable, down: no answer is not a yes
        raise HubError(f"Cannot reach the Hub to check who may read {where}, so it is not loaded from the cache "
                       f"either; try again later ({type(e).__name__}).") from None


def model_card(repo_id: str, pair: str, metadata: dict[str, dict]) -> ModelCard:
    """README.md for a pushed pair: Hub metadata (library, tags, dataset, measured accuracy) and a short text."""
    acc = {t: metadata[t].get("test_accuracy") for t in TWIN_NAMES}
    results = [EvalResult(task_type="image-classification", task_name="Image classification", dataset_type="cifar10",
                          dataset_name="CIFAR-10", dataset_split="test", metric_type="accuracy",
                          metric_value=round(100 * a, 2), metric_name=f"Test accuracy {TWIN_NAMES[t]} (%)")
               for t, a in acc.items() if a is not None]
    data = ModelCardData(library_name="pytorch", license="mit", pipeline_tag="image-classification",
                         tags=["bnapp", "batch-normalization", "image-classification", "cifar10", "safetensors"],
                         datasets=["cifar10"], metrics=["accuracy"], model_name=repo_id, eval_results=results or None)
    bn = metadata["bn"]
    rows = "\n".join(f"| {TWIN_NAMES[t]} | `{pair}-{t}.safetensors` | "
                     f"{'-' if acc[t] is None else f'{100 * acc[t]:.2f}%'} | {metadata[t].get('test_images', '-')} |"
                     for t in TWIN_NAMES)
    body = f"""
# {repo_id}: a BatchNorm twin pair on CIFAR-10

Two `{bn.get('arch', '?')}` networks trained by bnapp in lockstep on the same batches,
identical but for their BatchNorm layers (placed {bn.get('placement', 'before')} the activation).

| twin | weights | test accuracy | test images |
|---|---|---|---|
{rows}

- Recipe: `{bn.get('recipe', '?')}`, {bn.get('epochs', '?')} epoch(s), {bn.get('steps', '?')} steps on \
{bn.get('train_images', '?')} training images, {bn.get('wall_time_seconds', 0):.0f} s of training for both twins \
({bn.get('precision', '?')} on {bn.get('hardware') or bn.get('device', '?')}).
- Command: `{bn.get('command', '?')}`
- Test accuracy: predicted in {bn.get('test_precision', 'fp32')} with test-time augmentation \
`{bn.get('input', {}).get('tta', 'none')}`, as bnapp's app predicts.
- Input: 32x32 RGB, normalised as the JSON's `input` field says; 10 CIFAR-10 classes only.

Load it in bnapp with `BNAPP_HUB_REPO={repo_id} python app.py`, or `bnapp.store.checkpoints.load("{pair}-bn")` on
the downloaded files. Weights are safetensors, metadata is JSON: nothing is pickled.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def push_pair(folder: str | os.PathLike, pair: str, repo_id: str, token: str | None = None, private: bool = False,
              revision: str | None = None) -> str:
    """Upload `{pair}-bn/-plain` (.safetensors + .json) and a model card in one commit; returns the commit URL."""
    repo_id = check_repo_id(repo_id)
    folder = Path(folder)
    stems = find_pairs(folder).get(pair)
    if stems is None:
        raise HubError(f"No pair {pair!r} in {folder} (found: {', '.join(find_pairs(folder)) or 'none'}).")
    files = [p for stem in stems for p in paths(stem)]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise HubError(f"Pair {pair!r} is incomplete in {folder}: missing {', '.join(missing)}.")
    try:
        metadata = {t: read_metadata(stem) for t, stem in zip(TWINS, stems)}
    except (ValueError, OSError) as e:
        raise HubError(f"Pair {pair!r} has unreadable metadata: {e}") from None
    token = token or saved_token()
    if not token:
        raise HubError("Pushing needs a Hugging Face token with write access: set HF_TOKEN or run `hf auth login`.")
    card = model_card(repo_id, pair, metadata)
    ops = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in files]
    ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))
    acc = metadata["bn"].get("test_accuracy"), metadata["plain"].get("test_accuracy")
    message = f"bnapp: {pair} twin pair" + (f" (BN {100 * acc[0]:.1f}%, plain {100 * acc[1]:.1f}%)"
                                            if None not in acc else "")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.create_commit(repo_id, ops, commit_message=message, revision=revision)
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError) as e:
        raise HubError(f"Could not push to {repo_id}: {str(e).splitlines()[0]}") from None
    return info.commit_url

