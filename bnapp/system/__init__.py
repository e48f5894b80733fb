"""The machine: which device and precision, ZeroGPU, sharing the cores between requests."""
