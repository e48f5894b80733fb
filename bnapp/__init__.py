"""bnapp: see what Batch Normalization does, on CIFAR-10, side by side with a plain twin."""
from pathlib import Path

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TWINS = ("bn", "plain")  # every pair: the network with BatchNorm and its plain twin, in this order
TWIN_LABELS = {"bn": "BN", "plain": "plain"}  # how text names each twin, short
TWIN_NAMES = {"bn": "with BatchNorm", "plain": "without BatchNorm"}  # and in full

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"  # the shipped pairs
EXAMPLES = ROOT / "examples"  # the shipped example images
