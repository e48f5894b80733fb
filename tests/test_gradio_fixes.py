"""The image-cache fix, through a real gr.Image output under concurrent requests."""
from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import pytest
from conftest import free_port
from gradio_client import Client
from PIL import Image

from bnapp.ui import gradio_fixes

IMAGE = Image.effect_noise((160, 160), 64).convert("RGB")


@pytest.fixture
def gradio_version(monkeypatch):
    def set_version(v: str) -> None:
        monkeypatch.setattr(gr, "__version__", v)
    monkeypatch.setattr(gr.processing_utils, "save_pil_to_cache", gr.processing_utils.save_pil_to_cache)
    return set_version


def test_on_another_gradio_version_it_warns_and_stands_down(gradio_version):
    gradio_version("99.0.0")
    before = gr.processing_utils.save_pil_to_cache
    with pytest.warns(UserWarning, match="written for Gradio 6.31.0"):
        assert not gradio_fixes.install()
    assert gr.processing_utils.save_pil_to_cache is before


@pytest.mark.e2e
def test_an_image_output_is_never_served_half_written(tmp_path, gradio_version, monkeypatch):
    """Many requests show the same image at once: each cached file is written once, so a reader
    racing the writers (the server handing the file out) always reads the whole file."""
    gradio_version(gradio_fixes.WRITTEN_FOR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradio_fixes.install()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with gr.Blocks() as demo:
        out = gr.Image(type="pil")
        gr.Button().click(lambda: IMAGE, None, out, api_name="show")
    port = free_port()
    demo.queue(default_concurrency_limit=8).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                                                   quiet=True)
    try:
        first = Path(Client(f"http://127.0.0.1:{port}/", verbose=False).predict(api_name="/show"))
        whole = first.read_bytes()
        cached = [p for p in tmp_path.rglob("image.webp")]
        assert cached, "the server cached the image under GRADIO_TEMP_DIR"
        stop, torn = threading.Event(), []

        def read_cached() -> None:
            while not stop.is_set():
                for p in cached:
                    data = p.read_bytes()
                    if data != whole:
                        torn.append(len(data))

        reader = threading.Thread(target=read_cached)
        reader.start()

        def client_calls(_) -> list[bytes]:
            c = Client(f"http://127.0.0.1:{port}/", verbose=False)
            return [Path(c.predict(api_name="/show")).read_bytes() for _ in range(15)]

        try:
            with ThreadPoolExecutor(8) as pool:
                served = [b for batch in pool.map(client_calls, range(8)) for b in batch]
        finally:
            stop.set()
            reader.join()
        assert len(served) == 120 and all(b == whole for b in served)
        assert not torn, f"read a cached file while it was rewritten: sizes {torn[:5]} of {len(whole)}"
        assert all([q.name for q in p.parent.iterdir()] == ["image.webp"] for p in cached)  # no staging file left
    finally:
        demo.close()
