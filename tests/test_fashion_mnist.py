"""Fashion-MNIST, Figure 1's MNIST-format data: the idx reader, its messages, and Figure 1 trained on it."""
import gzip

import pytest
import torch
from conftest import skip_unless_ci

from bnapp.data import fashion_mnist as F
from bnapp.data import sets
from bnapp.data.cifar10 import DatasetError, load_cifar10
from bnapp.data.synthetic import make_synthetic_idx
from bnapp.services.figure1 import DATASET, RECIPE_ON, figure1_config, figure1_run
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import TrainConfig
from bnapp.ui import experiment_text


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    return make_synthetic_idx(tmp_path_factory.mktemp("fashion"), n_train=240, n_test=60)


@pytest.mark.parametrize("gzipped", [True, False])
def test_the_idx_files_load_as_uint8_nchw_with_their_labels(tmp_path, gzipped):
    d = F.load_fashion_mnist(make_synthetic_idx(tmp_path, n_train=50, n_test=20, seed=3, gzipped=gzipped))
    assert d.x_train.dtype == torch.uint8 and d.x_train.shape == (50, 1, 28, 28) and d.x_test.shape == (20, 1, 28, 28)
    assert d.y_train.dtype == torch.int64 and int(d.y_train.min()) >= 0 and int(d.y_train.max()) <= 9
    raw = F.read_idx(next(tmp_path.glob("train-labels*")), 1)
    assert torch.equal(d.y_train, torch.from_numpy(raw.astype("int64")))  # each label with its own image's index
    assert "Fashion-MNIST" in d.source and str(tmp_path) in d.source


def test_the_folder_comes_from_the_environment(idx_folder, monkeypatch):
    monkeypatch.setenv(F.ENV_VAR, str(idx_folder))
    assert str(idx_folder) in sets.load("fashion-mnist").source


@pytest.mark.parametrize("case", ["missing", "bad_magic", "truncated"])
def test_bad_files_give_one_clear_message(tmp_path, case):
    folder = make_synthetic_idx(tmp_path, n_train=10, n_test=10)
    target = folder / "train-images-idx3-ubyte.gz"
    with gzip.open(target) as f:
        raw = f.read()
    if case == "missing":
        target.unlink()
    else:
        with gzip.open(target, "wb") as f:
            f.write((2049).to_bytes(4, "big") + raw[4:] if case == "bad_magic" else raw[:-100])
    with pytest.raises(DatasetError) as e:
        F.load_fashion_mnist(folder)
    assert "train-images-idx3-ubyte" in str(e.value) and "--data" in str(e.value)


@pytest.mark.slow
def test_without_files_torchvision_downloads_them_and_a_failure_is_explained(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.delenv(F.ENV_VAR, raising=False)
    monkeypatch.setattr(F, "DEBIAN_DIR", tmp_path / "none")
    asked = []

    def offline(root, train, download):
        asked.append((root, download))
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetError) as e:
        F.load_fashion_mnist()
    assert asked == [(str(F.DEFAULT_ROOT), True)] and "no network" in str(e.value)


def test_figure1_trains_on_fashion_mnist_with_784_inputs_and_its_own_statistics(idx_folder):
    data = F.load_fashion_mnist(idx_folder)
    cfg = figure1_config(epochs=1)
    assert DATASET == "fashion-mnist" and cfg.recipe.dataset == DATASET
    spec = cfg.recipe.input_spec()
    assert (spec.mean, spec.std) == (F.FASHION_MEAN, F.FASHION_STD)
    trainer = PairTrainer(cfg, data)
    assert trainer.twins["bn"].model.layer1.linear.in_features == 28 * 28
    *_, fig = figure1_run(data, cfg)
    assert fig.done and fig.dataset == "fashion-mnist"
    assert "Fashion-MNIST images" in experiment_text.figure1_summary(fig)


def test_a_recipe_for_one_dataset_refuses_another(idx_folder, synthetic_npz):
    with pytest.raises(ValueError, match="Fashion-MNIST images"):
        PairTrainer(TrainConfig("fig1", RECIPE_ON["fashion-mnist"]), load_cifar10(synthetic_npz))
    with pytest.raises(ValueError, match="CIFAR-10 images"):
        PairTrainer(TrainConfig("fig1", RECIPE_ON["cifar10"]), F.load_fashion_mnist(idx_folder))


@pytest.mark.realdata
def test_debians_package_is_fashion_mnist_and_its_statistics_are_the_recorded_ones():
    if not F._find(F.DEBIAN_DIR, F.FILES["y_test"]):
        skip_unless_ci(f"Debian's dataset-fashion-mnist is not installed ({F.DEBIAN_DIR})")
    d = F.load_fashion_mnist(F.DEBIAN_DIR)
    assert (len(d.y_train), len(d.y_test)) == (60_000, 10_000)
    assert torch.bincount(d.y_train).tolist() == [6000] * 10
    pixels = d.x_train.float() / 255
    assert pixels.mean().item() == pytest.approx(F.FASHION_MEAN[0], abs=5e-4)
    assert pixels.std().item() == pytest.approx(F.FASHION_STD[0], abs=5e-4)
