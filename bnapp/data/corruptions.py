"""CIFAR-10-C-style corruptions of uint8 images, made on the fly.

Our implementation of Hendrycks & Dietterich's definitions ("Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", ICLR 2019), with their CIFAR (32 x 32) severity constants from
`make_cifar_c.py`; not the published CIFAR-10-C files. Like their script, each corruption works on
x/255 in [0, 1] and the result is floored to uint8. Noise is drawn from a seeded generator on the
images' device, so a corruption of the same images with the same seed is the same.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SEVERITIES = (1, 2, 3, 4, 5)
CONSTANTS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # std of additive noise, of the 0-1 range
    "shot_noise": (500, 250, 100, 75, 50),  # photons per unit intensity (Poisson)
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # std of the Gaussian kernel, pixels
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor on each channel's distance from its mean
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to HSV value
    "jpeg_compression": (80, 65, 58, 50, 40),  # JPEG quality
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # down-scale factor (box filter down and up)
}
LABELS = {"gaussian_noise": "Gaussian noise", "shot_noise": "shot noise", "gaussian_blur": "Gaussian blur",
          "contrast": "contrast", "brightness": "brightness", "jpeg_compression": "JPEG", "pixelate": "pixelate"}
CORRUPTIONS = tuple(CONSTANTS)


class CorruptionError(ValueError):
    """An unknown corruption or severity."""


def _gaussian_noise(x: torch.Tensor, c: float, g: torch.Generator) -> torch.Tensor:
    return x + c * torch.randn(x.shape, generator=g, device=x.device)


def _shot_noise(x: torch.Tensor, c: float, g: torch.Generator) -> torch.Tensor:
    return torch.poisson(x * c, generator=g) / c


def _gaussian_blur(x: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    """A separable Gaussian kernel truncated at 4 sigma (as skimage's `gaussian`), edges repeated."""
    radius = int(4 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _contrast(x: torch.Tensor, c: float, g: torch.Generator) -> torch.Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)  # per image and channel, as the reference's mean over H, W
    return (x - means) * c + means


def _brightness(x: torch.Tensor, c: float, g: torch.Generator) -> torch.Tensor:
    """HSV value + c with hue and saturation kept: RGB scales by v'/v (a black pixel becomes grey v')."""
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(max=1)
    return torch.where(v > 0, x * v_new / v.clamp(min=1e-12), v_new.expand_as(x))


def _per_image(x: torch.Tensor, op: Callable[[Image.Image], Image.Image]) -> torch.Tensor:
    """Apply a PIL operation to each image (JPEG and PIL's box resize are what the reference uses)."""
    u8 = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = [torch.from_numpy(np.asarray(op(Image.fromarray(a))).copy()) for a in u8]
    return torch.stack(out).permute(0, 3, 1, 2).to(x.device, torch.float32) / 255


def _jpeg(x: torch.Tensor, quality: int, g: torch.Generator) -> torch.Tensor:
    def op(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return _per_image(x, op)


def _pixelate(x: torch.Tensor, c: float, g: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    return _per_image(x, lambda img: img.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX))


_OPS = {"gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise, "gaussian_blur": _gaussian_blur,
        "contrast": _contrast, "brightness": _brightness, "jpeg_compression": _jpeg, "pixelate": _pixelate}


def check(corruption: str, severity: int) -> None:
    if corruption not in CONSTANTS:
        raise CorruptionError(f"unknown corruption {corruption!r}; one of {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise CorruptionError(f"severity must be 1 to 5, got {severity!r}")


def corrupt(images: torch.Tensor, corruption: str, severity: int, seed: int = 0) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> the same images corrupted, uint8, same shape and device."""
    check(corruption, severity)
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise CorruptionError(f"expected uint8 (N, 3, H, W) images, got {images.dtype} {tuple(images.shape)}")
    if len(images) == 0:
        return images.clone()
    g = torch.Generator(device=images.device).manual_seed(seed)
    x = _OPS[corruption](images.float() / 255, CONSTANTS[corruption][severity - 1], g)
    return (x.clamp(0, 1) * 255).floor().to(torch.uint8)
