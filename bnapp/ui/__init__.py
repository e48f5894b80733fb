"""The Gradio layer: the page (`app`), its header and tabs (`tabs/`), their figures (`figures/`), the events'
glue (`events`), deep links (`links`), the run line's face (`visitors`), prose (`text`), Gradio fixes."""
from bnapp.ui.app import MAX_FILE_SIZE, build_app

__all__ = ["MAX_FILE_SIZE", "build_app"]
