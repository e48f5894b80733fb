import torch
from torch import nn

from bnapp.nets.models import ModelConfig, bn_positions, build_model, build_pair


def leaf_types(model: nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.modules() if not list(m.children())]


def test_mlp_is_the_tutorials_network():
    bn, plain = build_pair("mlp").values()
    assert leaf_types(bn) == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [tuple(p.shape) for p in bn.parameters()] == [(64, 3072), (64,), (64,), (64,), (32, 64), (32,), (32,), (32,),
                                                         (10, 32), (10,)]
    assert leaf_types(plain) == ["Flatten", "Linear", "Identity", "ReLU", "Linear", "Identity", "ReLU", "Linear"]


def test_twins_differ_only_in_bn_layers():
    for arch in ("mlp", "cnn"):
        bn, plain = build_pair(arch, seed=3).values()
        bn_state, plain_state = bn.state_dict(), plain.state_dict()
        only_bn = set(bn_state) - set(plain_state)
        only_plain = set(plain_state) - set(bn_state)
        assert only_bn and all(".bn." in k for k in only_bn), only_bn
        # the plain twin keeps conv/linear biases only where the BN twin's BN would have made them redundant
        assert all(k.endswith(".bias") and ".bn." not in k for k in only_plain), only_plain
        for k in set(bn_state) & set(plain_state):
            assert torch.equal(bn_state[k], plain_state[k]), f"{arch}: {k} initialised differently"
        assert bn_positions(bn) == bn_positions(plain)


def test_cnn_uses_both_bn_kinds_and_readable_names():
    model = build_model(ModelConfig("cnn", bn=True))
    names = dict(model.named_modules())
    assert isinstance(names["block2a.bn"], nn.BatchNorm2d)
    assert isinstance(names["block2a.conv"], nn.Conv2d) and names["block2a.conv"].bias is None
    assert isinstance(names["head.bn"], nn.BatchNorm1d)
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)


def test_placement_after_puts_bn_after_relu():
    x = torch.randn(8, 3, 32, 32)
    model = build_model(ModelConfig("mlp", bn=True, placement="after")).train()
    seen = {}
    model.layer1.bn.register_forward_hook(lambda m, i, o: seen.setdefault("bn_in", i[0]))
    model(x)
    assert (seen["bn_in"] >= 0).all(), "BN after the activation sees only non-negative inputs"
