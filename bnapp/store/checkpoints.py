"""Checkpoints: weights in safetensors, metadata in JSON beside them. Nothing is ever unpickled.

`save(model, meta, "dir/cnn-bn")` writes `dir/cnn-bn.safetensors` and `dir/cnn-bn.json`, each
through a temporary file and `os.replace`, so a crash never leaves a half-written checkpoint.
`load("dir/cnn-bn")` (with or without an extension) returns `(model, metadata)` in eval mode, or
raises `CheckpointError` naming the file and what is wrong with it.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_model

FORMAT = "bnapp-checkpoint/1"
MAX_JSON_BYTES = 2_000_000


class CheckpointError(ValueError):
    """A checkpoint could not be read; the message names the file."""


def base_metadata(cfg: ModelConfig, spec: InputSpec) -> dict:
    """The fields every checkpoint needs to be rebuilt and fed correctly."""
    return dict(format=FORMAT, **cfg.to_dict(), input=spec.to_dict(), versions=versions())


def versions() -> dict:
    import numpy
    import safetensors

    return dict(python=platform.python_version(), torch=torch.__version__, numpy=numpy.__version__,
                safetensors=safetensors.__version__)


def paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """`x`, `x.json` or `x.safetensors` -> (x.safetensors, x.json)."""
    p = Path(stem)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: nn.Module, metadata: dict, stem: str | os.PathLike) -> Path:
    """Write weights and metadata atomically; returns the .safetensors path."""
    weights, meta_path = paths(stem)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = json.dumps(metadata, indent=1, allow_nan=False)

    def write_json(tmp: str) -> None:
        Path(tmp).write_text(text)

    _atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    _atomic_write(meta_path, write_json)
    return weights


def read_metadata(stem: str | os.PathLike) -> dict:
    _, meta_path = paths(stem)
    try:
        if meta_path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{meta_path}: metadata larger than {MAX_JSON_BYTES} bytes")
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as e:
        raise CheckpointError(f"{meta_path}: metadata file not found") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta_path}: not valid JSON metadata ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a bnapp checkpoint (expected \"format\": \"{FORMAT}\")")
    return meta


def load(stem: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from its metadata and load the weights strictly (names, shapes, dtypes)."""
    weights, meta_path = paths(stem)
    meta = read_metadata(stem)
    try:
        cfg = ModelConfig.from_dict(meta)
        InputSpec.from_dict(meta["input"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: incomplete or invalid metadata ({e})") from e
    try:
        state = load_file(weights)
    except FileNotFoundError as e:
        raise CheckpointError(f"{weights}: weights file not found") from e
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({e})") from e
    model = build_model(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{weights}: tensors do not match a {cfg.arch} (bn={cfg.bn}) model; "
                              f"missing {missing[:5]}, unexpected {extra[:5]}")
    for k, v in state.items():
        if v.shape != expected[k].shape or v.dtype != expected[k].dtype:
            raise CheckpointError(f"{weights}: tensor {k} is {v.dtype} {tuple(v.shape)}, expected "
                                  f"{expected[k].dtype} {tuple(expected[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{weights}: tensor {k} holds NaN or inf")
    model.load_state_dict(state)
    model.to(device).eval()
    return model, meta


def find_pairs(folder: str | os.PathLike) -> dict[str, tuple[Path, Path]]:
    """Pair names found in a folder: `cnn` for cnn-bn.* + cnn-plain.* (either may be missing)."""
    folder = Path(folder)
    pairs: dict[str, tuple[Path, Path]] = {}
    for meta in sorted(folder.glob("*-bn.json")):
        name = meta.name[: -len("-bn.json")]
        pairs[name] = (folder / f"{name}-bn", folder / f"{name}-plain")
    return pairs
