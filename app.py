"""bnapp: `python app.py` serves the app (on Hugging Face Spaces too). `python app.py --help` for options."""
import argparse
import importlib.util
import os

if importlib.util.find_spec("spaces"):  # ZeroGPU Spaces: `spaces` must be imported before torch touches CUDA
    import spaces  # noqa: F401

from bnapp import CHECKPOINTS
from bnapp.system.precision import precision_choice
from bnapp.training.limits import TrainLimits
from bnapp.ui import MAX_FILE_SIZE, build_app

if __name__ == "__main__":
    on_spaces = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_spaces else "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoints", default=str(CHECKPOINTS), help="folder of {pair}-bn/{pair}-plain checkpoints")
    p.add_argument("--hub-repo", default=os.environ.get("BNAPP_HUB_REPO"),
                   help="also load the twin pair of this Hub model repo, owner/name ($BNAPP_HUB_REPO)")
    p.add_argument("--hub-revision", default=os.environ.get("BNAPP_HUB_REVISION"),
                   help="pin the Hub repo to a branch, tag or commit ($BNAPP_HUB_REVISION)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--no-mcp", action="store_true",
                   help="do not serve the MCP endpoint (/gradio_api/mcp/) that offers the API to agents as tools")
    p.add_argument("--precision", default=os.environ.get("BNAPP_PRECISION", "auto"),
                   help="predict in fp32, bf16 or auto: bf16 where the CPU or GPU is fast at it ($BNAPP_PRECISION)")
    a = p.parse_args()
    try:
        os.environ["BNAPP_PRECISION"] = precision_choice(a.precision)
        limits = TrainLimits.from_env()
    except ValueError as e:
        p.error(str(e))
    build_app(a.checkpoints, hub_repo=a.hub_repo, hub_revision=a.hub_revision, limits=limits).launch(
        server_name=a.host, server_port=a.port, share=a.share, max_file_size=MAX_FILE_SIZE, show_error=True,
        mcp_server=not a.no_mcp)
