"""bnapp: `python app.py` serves the app (on Hugging Face Spaces too). `python app.py --help` for options."""
import argparse
import os

from bnapp.ui import MAX_FILE_SIZE, ROOT, build_app

if __name__ == "__main__":
    on_spaces = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_spaces else "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"), help="folder of {pair}-bn/{pair}-plain checkpoints")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    a = p.parse_args()
    build_app(a.checkpoints).queue(default_concurrency_limit=4).launch(
        server_name=a.host, server_port=a.port, share=a.share, max_file_size=MAX_FILE_SIZE, show_error=True)
