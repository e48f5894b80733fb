#!/usr/bin/env bash
# On a machine with CUDA: the GPU test tier, then the benches' CUDA figures, each into $OUT (or ./gpu-out).
# Needs torch, numpy, pillow, safetensors, pytest; without CIFAR-10 the speed benches use stand-in images
# (speed does not depend on the pixels; the quick preset's accuracies are then meaningless).
set -u
cd "$(dirname "$0")/.."
out="${OUT:-gpu-out}"
mkdir -p "$out"
export PYTHONPATH="$PWD"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print('torch', torch.__version__)"; } > "$out/machine.txt" 2>&1
python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" -m gpu tests/test_gpu.py tests/test_device.py > "$out/gpu_tests.txt" 2>&1
if [ -z "${BNAPP_DATA:-}" ]; then
  python3 -c "from bnapp.data.synthetic import make_synthetic_npz; make_synthetic_npz('/tmp/standin.npz', n_train=50000, n_test=10000)"
  export BNAPP_DATA=/tmp/standin.npz
fi
timeout 150 python3 bench/predict_speed.py --n 100 > "$out/predict_speed.txt" 2>&1
timeout 150 python3 bench/train_speed.py --steps 1000 > "$out/train_speed.txt" 2>&1
timeout 150 python3 bench/quick_preset.py --precisions bf16 > "$out/quick_preset.txt" 2>&1
tail -n 3 "$out"/*.txt
