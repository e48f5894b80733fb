"""Twin networks: a BatchNorm model and a plain model that differ only in their BN layers.

Every hidden layer is a `Unit`: op (Linear or Conv) -> optional pool -> BN -> activation, or with
`placement="after"` op -> pool -> activation -> BN. In the plain twin `bn` is an `nn.Identity`, so
both twins share module names (`block2a.conv`, `block2a.bn`, ...) and a hook on `bn` sees the same
position in either twin.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ARCHS = ("mlp", "cnn", "fig1")
GAUSSIAN_SD = 0.01  # "small random Gaussian values" (Ioffe & Szegedy 2015, sec. 4.1, who give no number)
PLACEMENTS = ("before", "after")
CIFAR_INPUTS = 3 * 32 * 32  # what the MLPs take unless told (`build_model`): every checkpoint is a CIFAR-10 net


@dataclass(frozen=True)
class ModelConfig:
    """What `build_model` needs; stored in every checkpoint's metadata."""

    arch: str = "cnn"
    bn: bool = True
    placement: str = "before"  # BN before or after the activation
    widths: tuple[int, ...] = (64, 256, 256)  # cnn: block widths; mlp: hidden widths are fixed

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {ARCHS}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {self.placement!r}; choose one of {PLACEMENTS}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ModelConfig:
        return ModelConfig(d["arch"], bool(d["bn"]), d.get("placement", "before"),
                           tuple(d.get("widths", (64, 256, 256))))


class Unit(nn.Module):
    """One hidden layer with its (optional) BatchNorm and activation, under readable names."""

    def __init__(self, op: nn.Module, features: int, bn: bool, placement: str, pool: int = 0,
                 act: nn.Module | None = None):
        super().__init__()
        conv = isinstance(op, nn.Conv2d)
        setattr(self, "conv" if conv else "linear", op)
        self.op_name = "conv" if conv else "linear"
        self.pool = nn.MaxPool2d(pool) if pool else None
        if bn:
            self.bn = nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)
        else:
            self.bn = nn.Identity()
        self.act = act if act is not None else nn.ReLU()
        self.placement = placement

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = getattr(self, self.op_name)(x)
        if self.pool is not None:
            x = self.pool(x)
        if self.placement == "before":
            return self.act(self.bn(x))
        return self.bn(self.act(x))


def _conv(cin: int, cout: int, bias: bool, kernel: int = 3, padding: int | str = "same") -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, padding=padding, bias=bias)
    with torch.no_grad():  # identity-initialised filters: an implicit residual that eases training
        if bias:
            conv.bias.zero_()
        if kernel == 3:
            nn.init.dirac_(conv.weight[: min(cin, cout)])
    return conv


class MLP(nn.Module):
    """The tutorial's network: Flatten -> 3072-64 -> BN -> ReLU -> 64-32 -> BN -> ReLU -> 32-10."""

    def __init__(self, cfg: ModelConfig, inputs: int = CIFAR_INPUTS):
        super().__init__()
        self.flatten = nn.Flatten()
        self.layer1 = Unit(nn.Linear(inputs, 64), 64, cfg.bn, cfg.placement)
        self.layer2 = Unit(nn.Linear(64, 32), 32, cfg.bn, cfg.placement)
        self.out = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.layer2(self.layer1(self.flatten(x))))


class Figure1MLP(nn.Module):
    """Ioffe & Szegedy's (2015) Figure 1 network: 3 fully connected hidden layers of 100 sigmoid units
    (they used MNIST's 784 inputs; here Fashion-MNIST's 784, or CIFAR-10's 3072), BatchNorm before each sigmoid
    in the BN twin."""

    def __init__(self, cfg: ModelConfig, inputs: int = CIFAR_INPUTS):
        super().__init__()
        self.flatten = nn.Flatten()
        for i, width_in in enumerate((inputs, 100, 100), start=1):
            setattr(self, f"layer{i}", Unit(nn.Linear(width_in, 100), 100, cfg.bn, cfg.placement, act=nn.Sigmoid()))
        self.out = nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.layer3(self.layer2(self.layer1(self.flatten(x)))))


class CNN(nn.Module):
    """A VGG-style net for 32x32 images (after airbench's design): a 2x2 whitening stem, three
    blocks of two 3x3 convs with a 2x2 max-pool after the first, then a dense head with BN1d.
    BN2d follows every conv in the BN twin; conv biases exist only where no BN follows directly
    (with BN after the ReLU, every conv keeps its bias: the ReLU's threshold must stay learnable)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        bias = not cfg.bn or cfg.placement == "after"  # with BN after the ReLU, the ReLU needs its bias
        w1, w2, w3 = cfg.widths
        stem_width = 24  # 12 whitening filters of the 2x2x3 patch space, and their negatives
        self.stem = Unit(_conv(3, stem_width, bias, kernel=2, padding=0), stem_width, cfg.bn, cfg.placement)
        chans = [stem_width, w1, w2, w3]
        for i in range(3):
            cin, cout = chans[i], chans[i + 1]
            setattr(self, f"block{i + 1}a", Unit(_conv(cin, cout, bias), cout, cfg.bn, cfg.placement, pool=2))
            setattr(self, f"block{i + 1}b", Unit(_conv(cout, cout, bias), cout, cfg.bn, cfg.placement))
        self.pool = nn.MaxPool2d(3)
        self.flatten = nn.Flatten()
        self.head = Unit(nn.Linear(w3, w3, bias=bias), w3, cfg.bn, cfg.placement)
        self.out = nn.Linear(w3, 10, bias=False)
        self.stem.conv.weight.requires_grad_(False)  # set from data by `init_whitening`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in ("block1a", "block1b", "block2a", "block2b", "block3a", "block3b"):
            x = getattr(self, name)(x)
        x = self.head(self.flatten(self.pool(x)))
        return self.out(x)


def build_model(cfg: ModelConfig, inputs: int = CIFAR_INPUTS) -> nn.Module:
    """`inputs`: the values per image an MLP takes (Fashion-MNIST's 784 for Figure 1); the CNN is made for 32x32."""
    if cfg.arch == "cnn":
        return CNN(cfg)
    return {"mlp": MLP, "fig1": Figure1MLP}[cfg.arch](cfg, inputs)


def build_pair(arch: str, placement: str = "before", seed: int = 0, widths: tuple[int, ...] = ModelConfig.widths,
               inputs: int = CIFAR_INPUTS) -> dict[str, nn.Module]:
    """The BN twin and the plain twin, with every layer they share initialised identically."""
    torch.manual_seed(seed)
    bn = build_model(ModelConfig(arch, True, placement, widths), inputs)
    plain = build_model(ModelConfig(arch, False, placement, widths), inputs)
    shared = {k: v for k, v in bn.state_dict().items() if k in plain.state_dict()}
    plain.load_state_dict(shared, strict=False)  # biases only the plain twin has keep their own init
    return {"bn": bn, "plain": plain}


def apply_init(model: nn.Module, init: str, seed: int = 0) -> None:
    """Re-draw the trainable conv and linear filters of the hidden units: "identity" keeps what they were
    built with (dirac filters where the channels allow, PyTorch's default uniform for the rest); "he" draws
    them all from He's normal (fan-in, ReLU gain: 6x the default's variance); "identity-he" is He's normal
    with the dirac filters put back; "gaussian" is Ioffe & Szegedy's "small random Gaussian values" for every
    weight, the classifier's too (sd `GAUSSIAN_SD`), biases 0. Seeded, so both twins get the same draws where
    they share a layer."""
    if init == "identity":
        return
    gen = torch.Generator().manual_seed(seed)
    if init == "gaussian":
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight.requires_grad:
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * GAUSSIAN_SD)
                    if m.bias is not None:
                        m.bias.zero_()
        return
    with torch.no_grad():
        for unit in (m for m in model.modules() if isinstance(m, Unit)):
            op = getattr(unit, unit.op_name)
            if not op.weight.requires_grad:  # the whitening stem is set from data
                continue
            fan_in = op.weight[0].numel()
            op.weight.copy_(torch.randn(op.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
            if init == "identity-he" and isinstance(op, nn.Conv2d) and op.kernel_size == (3, 3):
                nn.init.dirac_(op.weight[: min(op.in_channels, op.out_channels)])


def init_whitening(model: nn.Module, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set the CNN stem to whiten 2x2 patches of `images` (normalised float NCHW): the filters are
    the patch covariance's eigenvectors scaled by 1/sqrt(eigenvalue), with their negatives so that
    the ReLU after them keeps both signs."""
    if not isinstance(model, CNN):
        return
    weight = model.stem.conv.weight
    c, h, w = weight.shape[1:]
    patches = images.float().unfold(2, h, 1).unfold(3, w, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * h * w)
    cov = patches.T @ patches / len(patches)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    filters = (eigvecs.T.flip(0) / torch.sqrt(eigvals.flip(0) + eps)[:, None]).reshape(-1, c, h, w)
    with torch.no_grad():
        weight.copy_(torch.cat([filters, -filters]))


def bn_positions(model: nn.Module) -> list[str]:
    """Names of the units that hold a BN slot (an Identity in the plain twin), input to output."""
    return [name for name, m in model.named_modules() if isinstance(m, Unit)]
