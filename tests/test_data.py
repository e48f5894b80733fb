import numpy as np
import pytest
import torch

from bnapp.data import batches
from bnapp.data import cifar10 as D


def test_npz_loads_as_uint8_nchw(synthetic_npz):
    d = D.load_cifar10(synthetic_npz)
    assert d.x_train.dtype == torch.uint8 and d.x_train.shape == (256, 3, 32, 32)
    assert d.y_test.dtype == torch.int64 and len(d.y_test) == 64


def test_env_var_selects_the_file(synthetic_npz, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(synthetic_npz))
    assert D.load_cifar10().source == str(synthetic_npz)


@pytest.mark.parametrize("case", ["missing", "not_zip", "wrong_shape", "missing_key", "bad_labels"])
def test_bad_datasets_give_one_clear_message(tmp_path, case):
    p = tmp_path / "bad.npz"
    x = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.zeros(4, np.uint8)
    if case == "not_zip":
        p.write_bytes(b"this is not a zip file")
    elif case == "wrong_shape":
        np.savez(p, x_train=np.zeros((4, 3, 32, 32), np.uint8), y_train=y, x_test=x, y_test=y)
    elif case == "missing_key":
        np.savez(p, x_train=x, y_train=y, x_test=x)
    elif case == "bad_labels":
        np.savez(p, x_train=x, y_train=np.full(4, 12, np.uint8), x_test=x, y_test=y)
    with pytest.raises(D.DatasetError) as e:
        D.load_cifar10(p)
    assert str(p) in str(e.value) and "--data" in str(e.value)


@pytest.mark.slow
def test_torchvision_failure_is_explained(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*a, **k):
        raise RuntimeError("Error downloading cifar-10-python.tar.gz: no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(D.DatasetError, match="could not load or download CIFAR-10"):
        D.load_cifar10(tmp_path / "root")


def test_augment_is_seeded_and_keeps_pixels():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    a = batches.augment(x, 2, True, torch.Generator().manual_seed(1))
    b = batches.augment(x, 2, True, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    no_op = batches.augment(x, 0, False, torch.Generator().manual_seed(1))
    assert torch.equal(no_op, x)


def test_translate_shifts_whole_images():
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 16, 16] = 1.0
    out = batches.augment(x, 2, False, torch.Generator().manual_seed(0))
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 32, pos % 32
    assert ((rows - 16).abs() <= 2).all() and ((cols - 16).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5


def test_normalize_matches_formula():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = batches.normalize(x, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert torch.allclose(out, torch.full_like(out, 2.0))
