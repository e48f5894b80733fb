"""Figure 1's quantity: one sigmoid's input, which is BN's output in the BN twin."""
import pytest
import torch

from bnapp.data.cifar10 import load_cifar10
from bnapp.measure import evolution
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import build_pair
from bnapp.services.figure1 import figure1_config, figure1_run
from bnapp.ui import experiment_text


def images(n=256):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_the_bn_twins_sigmoid_input_is_bns_output_and_the_plain_twins_is_the_linear_output():
    pair = build_pair("fig1", seed=0)
    x = images()
    point = evolution.snapshot_pair(pair, InputSpec(), x, "layer3", channel=5)
    # BN in train mode over the probe batch: unit 5 has mean beta=0 and std gamma=1, so its 15th/85th
    # percentiles sit near -+1.04 (a standard normal's) whatever the layer below did
    bn = point["bn"]["act_input"]
    assert bn[15] < -0.5 and bn[85] > 0.5 and abs(bn[50]) < 0.3
    plain = pair["plain"]
    h = torch.sigmoid(plain.layer2.linear(torch.sigmoid(plain.layer1.linear(x.float().flatten(1) / 255))))
    want = torch.quantile(plain.layer3.linear(h)[:, 5], torch.tensor([0.15, 0.5, 0.85]))
    got = point["plain"]["act_input"]
    assert [got[15], got[50], got[85]] == pytest.approx(want.tolist(), abs=1e-5)
    assert point["bn"]["bn_input"] != point["bn"]["act_input"]
    assert set(point["bn"]["stds"]) == {"layer1", "layer2", "layer3"}


def test_snapshots_leave_the_model_untouched():
    pair = build_pair("cnn", seed=0)
    before = {k: v.clone() for k, v in pair["bn"].state_dict().items()}
    pair["bn"].eval()
    evolution.snapshot(pair["bn"], images(8), InputSpec(), "block2b")
    assert not pair["bn"].training
    assert all(torch.equal(before[k], v) for k, v in pair["bn"].state_dict().items())  # running stats too


def test_figure1_streams_accuracy_and_percentiles_for_both_twins(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    cfg = figure1_config(epochs=1, dataset="cifar10")
    frames = list(figure1_run(data, cfg))
    last = frames[-1]
    assert last.done and last.points[0][0] == 0 and {s for s, _ in last.points[1:]} <= set(last.log.eval_steps)
    assert all(set(p) == {"bn", "plain"} and p["bn"]["unit"] == "layer3" for _, p in last.points)
    summary = experiment_text.figure1_summary(last)
    assert "with BN" in summary and "CIFAR-10 images" in summary


def test_figure1_summarises_the_drift_of_every_unit_and_names_each_twin():
    from bnapp.services.figure1 import Figure1
    from bnapp.services.training import RunLog

    def point(shift_bn: float, shift_plain: float) -> dict:
        return {t: dict(act_input={15: -1.0, 50: 0.0, 85: 1.0}, medians=[u * 0.01 + s for u in range(100)])
                for t, s in (("bn", shift_bn), ("plain", shift_plain))}

    fig = Figure1(RunLog(), [(0, point(0.0, 0.0)), (100, point(0.1, 2.0))], done=True)
    fig.points[1][1]["bn"]["medians"][0] += 10  # one unit alone moving far: the mean over all 100 shows it, barely
    assert fig.drift()["bn"] == pytest.approx(0.1 + 10 / 100) and fig.drift()["plain"] == pytest.approx(2.0)
    text = experiment_text.figure1_summary(fig)
    assert "all 100 sigmoids" in text and "0.20 in the BN twin (blue)" in text and "2.00 in the plain twin" in text
    again = Figure1.from_dict(fig.to_dict())
    assert again.drift() == fig.drift() and again.points[1][1]["bn"]["act_input"][85] == 1.0
