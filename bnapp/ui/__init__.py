"""The Gradio layer: layout (`app`), thin adapters (`handlers`), prose (`text`), a Gradio fix (`gradio_fixes`)."""
from bnapp.ui.app import MAX_FILE_SIZE, ROOT, build_app

__all__ = ["MAX_FILE_SIZE", "ROOT", "build_app"]
