"""A workaround for a race in Gradio 6.31, installed explicitly at app start (`install()`).

Gradio's `processing_utils.save_pil_to_cache` rewrites a content-addressed file in place, so two
requests showing the same image (two people clicking one example) can serve each other a
half-written file. The replacement keeps Gradio's file names but writes each file once, under a
temporary name renamed into place. It was written against one Gradio version; on another it warns
and stands down, leaving Gradio as it is.
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


def install() -> bool:
    """Patch Gradio if it is the version this was written for; True when the patch is in place."""
    if gr.__version__ != WRITTEN_FOR:
        warnings.warn(f"bnapp: the image-cache fix was written for Gradio {WRITTEN_FOR}, this is {gr.__version__}; "
                      "not installed (check whether Gradio still rewrites cached images in place)", stacklevel=2)
        return False
    gr.processing_utils.save_pil_to_cache = save_pil_to_cache_once
    return True
