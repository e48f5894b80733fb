"""The shipped CNN pair on real corrupted test images: BN with running statistics collapses under noise
a person barely notices, and recovers most of its accuracy when BN re-estimates its statistics."""
import pytest

from bnapp import CHECKPOINTS
from bnapp.data.cifar10 import load_test_set
from bnapp.services import shift
from bnapp.services.testtime import ImagePool
from bnapp.store.pairs import load_pairs

pytestmark = pytest.mark.realdata


def test_noise_collapses_running_statistics_and_adaptation_recovers(real_data_path):
    pool = ImagePool(*load_test_set(real_data_path), source="real test images")
    pair = load_pairs(CHECKPOINTS).pairs["cnn"]
    noise = shift.shift(pair, pool, "gaussian_noise", 3, n=1024)  # sigma 0.08 of the 0-1 range
    pm = noise.pm(0.5)  # about 3 points
    assert noise.accuracy["running"] < 0.2, noise.accuracy
    assert noise.accuracy["adapted"] > noise.accuracy["running"] + 0.4 + 2 * pm, noise.accuracy
    assert noise.accuracy["adapted"] > noise.accuracy["plain"] + 2 * pm
    clean = shift.clean(pair, pool, n=1024)
    assert clean["running"] > 0.88 and abs(clean["adapted"] - clean["running"]) < 2 * pm  # nothing lost when clean
    contrast = shift.shift(pair, pool, "contrast", 5, n=1024)
    assert contrast.accuracy["adapted"] > contrast.accuracy["running"] + 2 * pm, contrast.accuracy
