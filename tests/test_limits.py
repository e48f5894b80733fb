"""Server-side limits on what a training request may ask for."""
import pytest

from bnapp.training.limits import TrainLimits, TrainSettings


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 1e6, "epochs must be between"), ("lr", float("inf"), "finite"), ("lr", "abc", "number"),
    ("batch_size", 0, "batch size"), ("batch_size", 3.5, "whole number"), ("train_subset", -1, "training images"),
    ("seed", [1], "number"),
])
def test_limits_refuse_bad_values(field, value, message):
    args = dict(arch="mlp", recipe="tutorial", epochs=1, batch_size=32, lr=1e-3, optimizer="adam", placement="before",
                train_subset=256, seed=0)
    args[field] = value
    with pytest.raises(ValueError, match=message):
        TrainLimits().config(TrainSettings(**args))


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BNAPP_MAX_EPOCHS", "2")
    monkeypatch.setenv("BNAPP_MAX_BATCH", "64")
    got = TrainLimits.from_env()
    assert got.max_epochs == 2 and got.max_batch == 64 and got.max_seconds == TrainLimits().max_seconds
    with pytest.raises(ValueError, match="BNAPP_MAX_EPOCHS"):
        got.config(TrainSettings("mlp", "tutorial", 3, 32, 1e-3, "adam", "before", 256, 0))


@pytest.mark.parametrize("var,value", [("BNAPP_MAX_SECONDS", "not a number"), ("BNAPP_MAX_LR", "-1"),
                                       ("BNAPP_MAX_BATCH", "3.5"), ("BNAPP_MAX_EPOCHS", "inf")])
def test_a_bad_limit_in_the_environment_is_an_error_naming_it(var, value):
    with pytest.raises(ValueError, match=var):
        TrainLimits.from_env({var: value})


def test_a_number_too_large_for_a_float_is_a_message_not_a_crash():
    from bnapp.training.limits import SEED

    with pytest.raises(ValueError, match="seed must be a number within range"):
        SEED.check(10**400)
    with pytest.raises(ValueError, match="epochs must be a number within range"):
        TrainLimits().config(TrainSettings("mlp", "tutorial", 10**400, 32, 1e-3, "adam", "before", 256, 0))
