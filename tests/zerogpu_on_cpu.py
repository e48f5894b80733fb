"""`python app.py` under the real `spaces` package in ZeroGPU mode, on a machine without CUDA (the e2e tier).

`spaces` runs each granted call in a forked worker whose set-up attaches the GPU it was given
(`spaces.zero.torch.init`: CUDA_VISIBLE_DEVICES and a first CUDA tensor) and moves the tensors packed at
start-up onto it (`move`). Only those two steps need CUDA; here they do nothing, so the worker computes on
the CPU. Everything else is `spaces`' own: the schedule, allow and release calls, the fork, the pickled
inputs, a generator's events streamed back through its queue, and its stop event when the consumer closes it.
"""
import runpy
import sys
from pathlib import Path

import spaces  # noqa: F401  -- ZeroGPU mode (SPACES_ZERO_GPU), imported before torch as app.py does
from spaces.zero import torch as zero_torch

zero_torch.init = lambda nvidia_uuid: None
zero_torch.move = lambda callback=None: None

app = Path(__file__).resolve().parents[1] / "app.py"
sys.path.insert(0, str(app.parent))
sys.argv = [str(app), *sys.argv[1:]]
runpy.run_path(str(app), run_name="__main__")
