"""Any image -> the 32x32 RGB picture a model sees.

Images are opened defensively: Pillow's decompression-bomb guard stays on, the first frame of an
animation is used, EXIF orientation is applied, alpha is composited on white, 16-bit images are
scaled (not clipped) to 8 bits. Anything unreadable raises `ImageError` with a message for people.
The shipped examples are recognised by pixel content, never by file name.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from bnapp import CLASSES


class ImageError(ValueError):
    """An input that is not a usable image; the message can be shown as it is."""


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Decode an image into 8-bit RGB, or raise ImageError saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(source, Image.Image):
                img = source
            elif isinstance(source, bytes):
                if not source:
                    raise ImageError("the file is empty (0 bytes)")
                img = Image.open(io.BytesIO(source))
            else:
                if Path(source).stat().st_size == 0:
                    raise ImageError("the file is empty (0 bytes)")
                img = Image.open(source)
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animations: the first frame
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image is too large to process safely ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError("this file is not an image Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF, ...)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"the image could not be decoded; is it truncated or corrupt? ({e})") from e


def _to_rgb8(img: Image.Image) -> Image.Image:
    if img.width < 1 or img.height < 1:
        raise ImageError("the image has no pixels")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def open_many(files: list, limit: int) -> tuple[list[Image.Image], list[str], list[str]]:
    """Every readable file of an upload: (images, their names, "name: why" for each unreadable one). More
    than `limit` files is refused as a whole (bounded work whatever a client sends)."""
    if len(files) > limit:
        raise ImageError(f"at most {limit} images at once, got {len(files)}")
    images, names, problems = [], [], []
    for i, f in enumerate(files):
        shown = Path(f).name if isinstance(f, (str, os.PathLike)) else f"file {i + 1}"
        try:
            images.append(open_image(f))
            names.append(shown)
        except (ImageError, OSError) as e:
            problems.append(f"{shown}: {e}")
    return images, names, problems


def to_model_input(img: Image.Image) -> Image.Image:
    """Centre-crop to a square and resize (antialiased) to the 32x32 that the networks see."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    square = img.crop((left, top, left + side, top + side))
    return square.resize((32, 32), Image.Resampling.LANCZOS)


def image_tensor(small: Image.Image) -> torch.Tensor:
    """32x32 RGB PIL image -> uint8 (3, 32, 32)."""
    return torch.from_numpy(np.asarray(small, dtype=np.uint8).copy()).permute(2, 0, 1)


def tensor_image(t: torch.Tensor, scale: int = 1) -> Image.Image:
    """uint8 (3, H, W) -> RGB PIL image, enlarged `scale` times with visible pixels (for display)."""
    img = Image.fromarray(t.detach().cpu().permute(1, 2, 0).numpy(), "RGB")
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img


def pixel_hash(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()


@dataclass
class Examples:
    """The shipped real CIFAR-10 test images, and their true labels found by pixel content
    (never by file name, which a person can choose freely)."""

    paths: list[Path] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # pixel hash -> class

    @staticmethod
    def load(folder: str | os.PathLike) -> Examples:
        folder = Path(folder)
        index = folder / "examples.json"
        if not index.is_file():
            return Examples()
        ex = Examples()
        for row in json.loads(index.read_text())["examples"]:
            path = folder / row["file"]
            if path.is_file():
                ex.paths.append(path)
                ex.labels[pixel_hash(open_image(path))] = row["label"]
        return ex

    def tensors(self) -> torch.Tensor:
        """All examples as uint8 (N, 3, 32, 32): the Activations view's batch without the dataset."""
        return torch.stack([image_tensor(to_model_input(open_image(p))) for p in self.paths])

    def label_tensor(self) -> torch.Tensor:
        """The examples' class indices, in the order of `tensors()`."""
        return torch.tensor([CLASSES.index(self.labels[pixel_hash(open_image(p))]) for p in self.paths])

    def truth(self, img: Image.Image) -> str | None:
        return self.labels.get(pixel_hash(img))
