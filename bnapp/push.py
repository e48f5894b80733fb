"""Push a trained twin pair to the Hugging Face Hub with a generated model card, in one commit.

    python -m bnapp.push --repo owner/name                 # the shipped CNN pair
    python -m bnapp.push --repo owner/name --checkpoints runs/x --pair mlp --private

Needs a token with write access: $HF_TOKEN or `hf auth login`. Load it back with
`BNAPP_HUB_REPO=owner/name python app.py` or the app's "Load from the Hub" box.
"""
from __future__ import annotations

import argparse

from bnapp import CHECKPOINTS
from bnapp.store.hub import HubError, push_pair


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bnapp.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True, help="Hub model repo, owner/name (created if missing)")
    p.add_argument("--checkpoints", default=str(CHECKPOINTS), help="folder holding PAIR-bn/PAIR-plain files")
    p.add_argument("--pair", default="cnn", help="pair name: the PAIR in PAIR-bn.safetensors (default cnn)")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    a = p.parse_args(argv)
    try:
        url = push_pair(a.checkpoints, a.pair, a.repo, private=a.private, revision=a.revision)
    except HubError as e:
        raise SystemExit(f"bnapp.push: {e}") from None
    print(f"pushed pair '{a.pair}' to {a.repo}: {url}")


if __name__ == "__main__":
    main()
