"""What a batch of uint8 images goes through on its way into a net: normalisation, and augmentation
done on the whole batch at once (as airbench does), never image by image."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 NCHW -> float32 NCHW, (x/255 - mean) / std per channel."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255 - m) / s


def augment(images: torch.Tensor, translate: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random flips and random crops of a reflect-padded batch, done as a handful of masked copies
    (one per offset) rather than a Python loop over images."""
    n, _, h, w = images.shape
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        images = torch.where(mask.view(-1, 1, 1, 1), images.flip(-1), images)
    if translate <= 0:
        return images
    r = translate
    padded = F.pad(images, (r, r, r, r), mode="reflect")
    shifts = torch.randint(0, 2 * r + 1, (2, n), generator=generator)
    rows = torch.empty(n, images.shape[1], h, w + 2 * r, dtype=images.dtype)
    for s in range(2 * r + 1):
        m = shifts[0] == s
        rows[m] = padded[m, :, s : s + h, :]
    out = torch.empty_like(images)
    for s in range(2 * r + 1):
        m = shifts[1] == s
        out[m] = rows[m, :, :, s : s + w]
    return out
