"""Everything bnapp does to Gradio beyond its public API, each checked against the version it was written for:
on another Gradio version each warns and stands down, leaving Gradio as it is.

- `install()`: a race in Gradio 6.31. Gradio's `processing_utils.save_pil_to_cache` rewrites a
  content-addressed file in place, so two requests showing the same image (two people clicking one
  example) can serve each other a half-written file. The replacement keeps Gradio's file names but
  writes each file once, under a temporary name renamed into place.
- `name_tools(demo)`: MCP tools are named after their functions (Gradio 6 has no public setting for it).
- `pass_file_path(image)`: an image input that hands over the uploaded file's path undecoded.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import gradio as gr
from PIL import Image

WRITTEN_FOR = "6.31.0"


def save_pil_to_cache_once(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Same signature and file names as Gradio's; a file already there is reused, never rewritten."""
    data = gr.processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / gr.processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.exists():
        os.utime(path)  # `delete_cache` ages files by ctime: a file handed out again is young again
        return str(path)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(staging, path)
    return str(path)


def written_for(what: str, check: str) -> bool:
    """True on the Gradio version these fixes were written for; else a warning naming `what` to `check`."""
    if gr.__version__ == WRITTEN_FOR:
        return True
    warnings.warn(f"bnapp: {what} was written for Gradio {WRITTEN_FOR}, this is {gr.__version__}; not installed "
                  f"({check})", stacklevel=3)
    return False


def install() -> bool:
    """Patch Gradio if it is the version this was written for; True when the patch is in place."""
    if not written_for("the image-cache fix", "check whether Gradio still rewrites cached images in place"):
        return False
    gr.processing_utils.save_pil_to_cache = save_pil_to_cache_once
    return True


def name_tools(demo: gr.Blocks) -> bool:
    """MCP tools are named after their functions: give every bound handler (`events.bind`) its endpoint's
    name, so an agent calls `predict` as a program calls /predict. Gradio's own events (the session's
    set-up) stay out of the API page and the tool list. Reads `demo.fns`, Gradio's internal event table."""
    if not written_for("naming the MCP tools", "see whether Gradio names tools by api_name now"):
        return False
    for block_fn in demo.fns.values():
        if block_fn.api_name and getattr(block_fn.fn, "bnapp_endpoint", False):
            block_fn.fn.__name__ = block_fn.api_name
        elif block_fn.api_visibility == "public":
            block_fn.api_visibility = "undocumented"
    return True


def pass_file_path(image: gr.Image) -> gr.Image:
    """`image` handing its handler the uploaded file's path, undecoded, so that bnapp's own decoder gives
    every bad file a clear message. (Overridden on the instance: subclassing a Gradio component makes
    Gradio write a .pyi file beside the subclass.)"""
    if written_for("passing uploads undecoded", "Gradio decodes uploads itself meanwhile"):
        image.preprocess = lambda payload: None if payload is None else payload.path
    return image
