"""A person's upload, opened by bnapp's own defensive decoder: every file it cannot use is a `UserError` saying why."""
from __future__ import annotations

from PIL import Image

from bnapp.data.images import ImageError, open_image
from bnapp.services import UserError


def open_upload(path: str | None, shown_name: str = "the image") -> Image.Image:
    """The image at `path` (a Gradio upload), or a UserError naming `shown_name`."""
    try:
        return open_image(path)
    except ImageError as e:
        raise UserError(f"Could not use {shown_name}: {e}") from None
    except OSError:
        raise UserError(f"Could not read {shown_name}; please upload it again.") from None
