"""bnapp: see what Batch Normalization does, on CIFAR-10, side by side with a plain twin."""

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TWIN_LABELS = {"bn": "BN", "plain": "plain"}  # how text names each twin
