"""The shipped checkpoints: they load, predict on the shipped examples, and (with real data) score
what their metadata says."""
import json

import pytest

from bnapp import CHECKPOINTS, EXAMPLES
from bnapp.data.images import Examples, open_image
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.services.prediction import predict_images
from bnapp.services.state import pair_title
from bnapp.store.pairs import load_pairs

EXPECTED = ("mlp-bn", "mlp-plain", "cnn-bn", "cnn-plain", "cnn-fair-bn", "cnn-fair-plain")
SEEDS = {"cnn": 3, "cnn-fair": 3}  # issue 15 asks for 3 each
SEEDED_PAIRS = tuple(SEEDS)


@pytest.fixture(scope="module")
def shipped_pairs() -> dict:
    return load_pairs(CHECKPOINTS).pairs


@pytest.mark.slow
def test_every_shipped_checkpoint_loads_and_predicts_the_examples():
    report = load_pairs(CHECKPOINTS)
    assert not report.errors and set(report.pairs) >= {"mlp", *SEEDED_PAIRS}
    examples = Examples.load(EXAMPLES)
    assert len(examples.paths) >= 20
    images = [open_image(p) for p in examples.paths]
    truths = [examples.truth(img) for img in images]
    assert all(truths) and len(set(truths)) == 10
    for name in ("mlp", *SEEDED_PAIRS):
        preds = predict_images(report.pairs[name], images)
        assert len(preds) == len(images)
    cnn = predict_images(report.pairs["cnn"], images)
    right = sum(p.top1("bn")[0] == t for p, t in zip(cnn, truths))
    assert right >= 0.8 * len(images), f"CNN BN twin right on {right}/{len(images)} shipped examples"


def test_checkpoint_sizes_stay_small():
    sizes = {p.name: p.stat().st_size for p in CHECKPOINTS.glob("*.safetensors")}
    assert {f"{n}.safetensors" for n in EXPECTED} <= set(sizes)
    # each file under a Space's 10 MB limit for plain git; two CNN pairs (~16 MB each) and the MLP pair in all
    assert max(sizes.values()) <= 10_000_000 and sum(p.stat().st_size for p in CHECKPOINTS.iterdir()) <= 40_000_000


def test_metadata_holds_what_the_model_card_promises():
    for name in EXPECTED:
        meta = json.loads((CHECKPOINTS / f"{name}.json").read_text())
        for key in ("test_accuracy", "test_accuracy_by_precision", "per_class_accuracy", "confusion_matrix", "history",
                    "wall_time_seconds", "command", "evaluation"):
            assert key in meta, (name, key)
        assert meta["train_images"] == 50_000 and meta["test_images"] == 10_000
        assert meta["evaluation"]["tta"] == meta["input"]["tta"] and meta["evaluation"]["test_images"] == 10_000


def test_the_cnn_pair_at_bns_recipe_says_how_its_rate_and_epochs_were_chosen(shipped_pairs):
    for twin in ("bn", "plain"):
        meta = json.loads((CHECKPOINTS / f"cnn-{twin}.json").read_text())
        assert f"lr {meta['hyperparameters']['lr']:g}:" in pair_title(shipped_pairs["cnn"])  # the rate trained at
        assert "BN's recipe" in pair_title(shipped_pairs["cnn"])  # a recipe made for one twin says so
        choice = meta["choice"]
        assert choice["lr"] == meta["hyperparameters"]["lr"] and "the BN twin's best" in choice["rule"]
        assert choice["split"]["held_out_images"] == 5000 and choice["split"]["class_balanced"]
        assert choice["epochs"]["chosen"] == meta["epochs"] and meta["epochs"] in choice["epochs"]["tried"]
        assert "the BN twin's best" in choice["epochs"]["rule"]


def test_the_fair_pair_gives_each_twin_its_own_best_trial_of_one_search():
    """Issue 27: each twin of `cnn-fair` trained at its own best trial of the shipped search, both twins with the
    same trials, chosen on the validation split; the table ships beside the pair."""
    from bnapp.services import tuning
    from bnapp.training.search import SEARCHED

    rows = tuning.read_rows(CHECKPOINTS / "cnn-fair-search.jsonl")
    trials = {t: sorted(r["trial"] for r in rows if r["twin"] == t) for t in ("bn", "plain")}
    assert trials["bn"] == trials["plain"] and len(trials["bn"]) >= 8
    for twin in ("bn", "plain"):
        meta = json.loads((CHECKPOINTS / f"cnn-fair-{twin}.json").read_text())
        choice, best = meta["recipe_choice"], tuning.best(rows, twin)
        assert choice["chosen_trial"] == best["trial"] and choice["table"] == "checkpoints/cnn-fair-search.jsonl"
        assert choice["protocol"]["trials"] == len(trials[twin]) == choice["trials"]
        assert all(meta["hyperparameters"][k] == best[k] for k in SEARCHED)  # trained at exactly that trial
        assert meta["train_images"] == 50_000  # the final runs: all training images, once the choice was made


@pytest.mark.parametrize("pair", SEEDED_PAIRS)
def test_the_cnn_pairs_record_their_seeds_and_ship_one_of_them(pair, shipped_pairs):
    """Issue 15: each CNN pair's accuracy is a mean +- sd over its seeds and the shipped checkpoint is one of them."""
    import statistics

    for twin in ("bn", "plain"):
        meta = json.loads((CHECKPOINTS / f"{pair}-{twin}.json").read_text())
        seeds = meta["seeds"]
        assert len(set(seeds["seeds"])) == SEEDS[pair] and seeds["shipped_seed"] == meta["seed"] == seeds["seeds"][0]
        for precision, accs in seeds["test_accuracy"].items():
            assert accs[0] == meta["test_accuracy_by_precision"][precision]
            assert seeds["mean"][precision] == pytest.approx(statistics.mean(accs))
            assert seeds["sd"][precision] == pytest.approx(statistics.stdev(accs))
            if (pair, twin) == ("cnn", "bn"):  # issue 15: the high-rate pair's BN twin holds 92% over its seeds
                assert seeds["mean"][precision] >= 0.92, (precision, seeds["mean"][precision])


def test_the_documented_commands_write_exactly_the_shipped_fields(synthetic_npz, tmp_path):
    """Every field of a shipped JSON is written by code: the README's two commands (train, then
    evaluate --write), run on stand-in data, give a file with exactly the shipped MLP pair's keys."""
    from bnapp import evaluate, train

    assert train.main(["--arch", "mlp", "--recipe", "tutorial", "--epochs", "0.2", "--data", str(synthetic_npz),
                       "--out", str(tmp_path)]) == 0
    assert evaluate.main(["--write", "--data", str(synthetic_npz), str(tmp_path / "mlp-bn"),
                          str(tmp_path / "mlp-plain")]) == 0
    for twin in ("bn", "plain"):
        made = json.loads((tmp_path / f"mlp-{twin}.json").read_text())
        shipped = json.loads((CHECKPOINTS / f"mlp-{twin}.json").read_text())
        assert list(made) == list(shipped)
        for key in ("evaluation", "test_accuracy_by_precision", "input"):
            assert set(made[key]) == set(shipped[key]), key
        # recipes gained fields since the MLP pair was trained (their defaults are what that run did)
        assert set(shipped["hyperparameters"]) <= set(made["hyperparameters"])


@pytest.fixture(scope="module")
def shipped(real_data_path):
    from bnapp.data.cifar10 import load_cifar10

    return load_cifar10(real_data_path), load_pairs(CHECKPOINTS).pairs


@pytest.mark.realdata
@pytest.mark.parametrize("name", EXPECTED)
def test_each_twin_predicts_one_class_of_the_test_set_exactly_as_its_json_recorded(shipped, name):
    """The JSON's fp32 confusion matrix was measured on all 10,000 test images; the 1,000 images of one class
    (a different class for each twin) must give exactly its row: every prediction of that class, checked,
    at a tenth of the cost of the whole set. The row's share right is that class's recorded accuracy."""
    from dataclasses import replace

    from bnapp import CLASSES

    data, pairs = shipped
    pair_name, twin = name.rsplit("-", 1)
    model, meta = pairs[pair_name].models[twin], pairs[pair_name].metadata[twin]
    c = EXPECTED.index(name) % 10
    one_class = replace(data, x_test=data.x_test[data.y_test == c], y_test=data.y_test[data.y_test == c])
    measured = class_report(model, InputSpec.from_dict(meta["input"]), one_class, "fp32")
    assert measured["confusion_matrix"][c] == meta["confusion_matrix"][c], (name, CLASSES[c])
    assert measured["per_class_accuracy"][CLASSES[c]] == meta["per_class_accuracy"][CLASSES[c]]


@pytest.mark.realdata
@pytest.mark.parametrize("name", EXPECTED)
def test_bf16_predictions_stay_within_a_point_of_fp32_where_the_cpu_runs_them(shipped, name):
    """Where this CPU runs bf16 natively (the app then predicts in it), on 1,000 class-balanced test images."""
    from dataclasses import replace

    from bnapp.data.cifar10 import balanced_sample
    from bnapp.system.machine import cpu_has_fast_bf16

    if not cpu_has_fast_bf16():
        pytest.skip("this CPU has no fast bf16: the app predicts in fp32 here")
    data, pairs = shipped
    pair_name, twin = name.rsplit("-", 1)
    model, meta = pairs[pair_name].models[twin], pairs[pair_name].metadata[twin]
    idx = balanced_sample(data.y_test, 1000, seed=0)
    subset = replace(data, x_test=data.x_test[idx], y_test=data.y_test[idx])
    spec = InputSpec.from_dict(meta["input"])
    fp32, bf16 = (class_report(model, spec, subset, p)["test_accuracy"] for p in ("fp32", "bf16"))
    assert abs(bf16 - fp32) <= 0.01, (name, fp32, bf16)
