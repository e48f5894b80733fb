"""The app's explanatory prose, in one place: what each view shows, in plain words."""
from bnapp import TWIN_LABELS, TWINS
from bnapp.measure.landscape import FACTORS
from bnapp.nets.models import GAUSSIAN_SD
from bnapp.nets.noisy_bn import N_MU, N_SIGMA, R_MU, R_SIGMA
from bnapp.services.experiments import PLACEMENT, PLACEMENT_SEEDS, SWEEP
from bnapp.services.figure1 import DATASET, PROBE_IMAGES, RECIPE_ON
from bnapp.services.noisy import NOISY, NOISY_SEEDS
from bnapp.services.probes import LANDSCAPE_IMAGES
from bnapp.services.testtime import CURVE_IMAGES

INTRO = """# bnapp: see Batch Normalization at work
Two networks, identical but for their **BatchNorm** layers, trained on CIFAR-10 in lockstep on the same
batches. Drop in any image (it is centre-cropped and shrunk to the 32x32 pixels they were trained on) and
see what each twin predicts. On opening, Compare shows the first shipped example (in file-name order) on which the
twins disagree; every view can be shared with **Copy link**."""



def hub_help(access) -> str:
    """What the Load box takes, and on a Space whose account reads it (`services.hub_access.HubAccess`)."""
    base = ("A repo holding `NAME-bn` and `NAME-plain` safetensors + JSON, as `python -m bnapp.push` uploads them. "
            "Downloads go to the standard HF cache.")
    if not access.on_space:
        return base
    return base + (" Public repos load for anyone; a private one only for an account that can read it: "
                   f"{access.sign_in_hint}.")


def push_help(access) -> str:
    """What the Push row does on a Space (`services.hub_access.HubAccess`)."""
    if access.sign_in:
        return ("Pushing uses **your own** Hugging Face account: sign in first (top of the page). The repo is created "
                "under your name if it does not exist; this server never pushes with its owner's token.")
    return f"Pushing is off here: {access.sign_in_hint}. This server never pushes with its owner's token."


DROP_PROMPT = "Drop an image, paste one, or click an example below."
EXAMPLES_LABEL = "Real CIFAR-10 test images (3 per class, chosen by a fixed seeded rule)"

ACTIVATIONS_INTRO = """Look inside both twins: what every layer's values look like **before and after BatchNorm**,
and at the same places in the network without it. To watch these statistics *change while the twins train*,
start a run in the **Train** tab."""

EXPLAIN_OVERVIEW = """**Reading the overview.** One point per layer, from input (left) to output (right). The band spans
the 15th to 85th percentile of the layer's values, the line is the median. Grey: what the BN twin's
BatchNorm receives; blue: what it hands on; orange: the plain twin at the same place. After BN every
layer is re-centred and re-scaled, so the blue band stays put through depth; without BN nothing holds the
scale, and the orange band (and its std, right) drifts from layer to layer."""
EXPLAIN_KINDS = """**BatchNorm1d vs BatchNorm2d.** A dense layer's output is (N, C): **BatchNorm1d** normalises each of
the C features over the N images of the batch. A conv layer's output is (N, C, H, W): **BatchNorm2d**
normalises each of the C channels over N x H x W values, so all images *and all positions* share one mean
and one variance per channel. Then each channel is scaled by gamma and shifted by beta, both learned."""
EXPLAIN_MODES = """**eval vs train mode.** In **eval** mode (what prediction does) BN uses the running mean and variance
it averaged during training: a fixed per-channel affine map, so an image's prediction never depends on the
other images in the batch. In **train** mode BN uses this batch's own mean and variance: after BN every
channel's mean is exactly beta and its std exactly |gamma|, whatever the input. With a batch of **one**
image train mode fails or misleads: BatchNorm1d has a single value per feature (variance 0; PyTorch refuses),
and BatchNorm2d normalises one image by its own statistics, so the output no longer says how that image
differs from the others. Looking never changes the model here: train mode runs on a copy."""
EXPLAIN_CHANNELS = """**Channel by channel.** Before BN (grey) each channel has its own offset and scale. After BN
(blue) the means collapse onto beta and the stds onto |gamma| (exactly in train mode; in eval mode they follow the
running statistics, purple, which is how far this batch is from the training average)."""


def preset_label(name: str, recipe, plain=None) -> str:
    """A preset as the menu shows it: whose recipe it is."""
    if plain is not None:
        return f"{name} (each twin at the recipe the search chose for it: BN lr {recipe.lr:g}, plain lr {plain.lr:g})"
    whose = {"both": "the tutorial's, for both twins", "bn": "made for the BN twin, used for both",
             "plain": "its rate chosen for the plain twin, used for both"}[recipe.made_for]
    return f"{name} ({whose})"


def train_intro(limits) -> str:
    """The Train tab's first lines, from the server's `TrainLimits`."""
    return ("Train both twins yourself, **in lockstep on the same batches**, and watch them part. "
            f"Limits on this server: up to {limits.max_epochs:g} epochs, {limits.max_train_subset} training images, "
            f"{limits.max_seconds:g} s per run. One run trains at a time; behind it up to {limits.max_waiting} wait "
            "in line, one per visitor, and a waiting run shows its place here.")


SWEEP_INTRO = (f"Both twins at several learning rates, {SWEEP.epochs:g} short epoch(s) each on {SWEEP.train_subset:,} "
               "images, same seed: BatchNorm "
               "tolerates rates at which the plain twin stalls near chance (open circle) or diverges (x). A weight "
               "that a BN follows is scale-invariant, so lr x decay sets its effective step: its decay is scaled "
               "with 1/lr to keep that product; every other weight (all of the plain twin's) keeps the recipe's "
               f"decay. Accuracy: {SWEEP.test_subset:,} test images, no TTA.")
PLACEMENT_INTRO = ("The tutorial leaves this open: try it. Same data and budget "
                   f"({PLACEMENT.epochs:g} epochs on {PLACEMENT.train_subset:,} images), BN placed "
                   "before the activation and after it (then the conv before the ReLU keeps its bias), and the plain "
                   f"twin as the baseline, for {len(PLACEMENT_SEEDS)} seeds each: a difference is claimed only where a "
                   "test paired by seed finds one (each seed trains every variant).")
FIGURE1_INTRO = f"""Ioffe & Szegedy (2015) showed BatchNorm's effect with a small network: **3 fully connected hidden
layers of 100 sigmoid units**, weights drawn as small Gaussians (sd {GAUSSIAN_SD:g}: the paper gives no number),
trained with and without BN for 50,000 steps of batch 60 on MNIST. Here the data is **Fashion-MNIST** (Xiao et al.
2017: MNIST's format and size, 28x28 grey pictures of clothes in 10 classes, harder than digits; real MNIST is not to
be had here), with plain SGD at the rate the plain twin did best with on validation. The figure below is that run,
shipped; the button trains a {RECIPE_ON[DATASET].epochs:g}-epoch live run. (a) test accuracy against steps; (b, c)
the 15th, 50th and 85th percentiles of the input to one sigmoid of the last hidden layer, over a fixed batch of
{PROBE_IMAGES:,} test images. With BN that input is BN's output, re-centred and re-scaled at every step but then
shifted and scaled by BN's own learned beta and gamma. The paper reports it far steadier than without BN; the summary
under the figure says how far the medians of all 100 sigmoids moved on average, with their spread over seeds, so you
can see whether that holds. (That steadiness *causes* faster training was later questioned: see docs/science.md.) The
live run takes under a minute on 2 CPU cores."""
TUTORIAL_INTRO = ("The tutorial's exact recipe (MLP, Adam 1e-4, batch 10, 5 epochs, full training set) with its own "
                  "*Loss after mini-batch* report, for both twins. The tutorial ends epoch 5 near 1.58 with BatchNorm "
                  "and 1.65 without. About 1.5 minutes on 2 fast CPU cores.")


def measuring(budget: float) -> str:
    return (f"<div>Measuring this machine's step time to fit the run into {budget:g} s "
            "(a few throwaway steps of both twins)...</div>")

TESTTIME_INTRO = """**BatchNorm at test time.** In eval mode a BN network normalises with the *running* mean and
variance it averaged during training, so each image is on its own. With a batch's *own* statistics (train mode, or
re-estimating them at test time) the other images in the batch become part of every image's input. That is
where BN surprises people, and where it helps most on shifted data. Everything here is forward passes on copies
of the loaded pair (the pair itself never changes), fp32, no test-time augmentation, the same images for
every variant."""
COMPANY_EXPLAIN = """**The company a prediction keeps.** One image, first in a batch of 1 to 256 images, the BN twin
normalising with that batch's statistics: random test images, test images of one class, or copies of the image
itself (3 random batches per size, each a dot; the line is their mean). The dashed line is the same image in eval
mode; the plain twin (dotted) has no statistics to share and never changes. With **copies of itself** every
feature of a BatchNorm1d layer has variance 0, so its output is just beta: every image gets the same answer.
With **a batch of one** BatchNorm1d has one value per feature and cannot normalise (PyTorch refuses it in train
mode; both bnapp pairs end in a Linear + BatchNorm1d layer); BatchNorm2d alone would normalise one image over its
own positions."""
BATCH_SIZE_EXPLAIN = f"""**Accuracy against batch size.** {CURVE_IMAGES:,} random test images split into batches of each
size, the BN twin normalising each batch with its own statistics (what train mode does), against eval mode's running
statistics (band: its 95% interval) and the plain twin. Small batches give noisy statistics and cost accuracy
(Ioffe 2017, Batch Renormalization); by a few hundred images the batch's statistics are as good as the running
ones. Computed once per pair."""
SHIFT_EXPLAIN = """**Distribution shift.** Test images corrupted on the fly with CIFAR-10-C's corruptions at severity
1-5 (Hendrycks & Dietterich 2019). **These are our implementation of their definitions, not the published CIFAR-10-C
files.** Four ways to predict, on the same images: the plain twin; the BN twin with its running statistics (eval
mode); the BN twin with statistics **re-estimated on the corrupted batch** (batches of 256, no training: only BN's
mean and variance change); and Schneider et al. 2020's mix, mean = N/(N+n) running + n/(N+n) batch (n = 256;
N = 0 is the batch alone, a large N the running statistics). ± is the 95% interval of each accuracy. Published:
on CIFAR-10-C severity 5 a WRN-28-10 goes from 43.5% to 20.4% mean error with BN adaptation (Wang et al. 2021,
Tent, its BN baseline); Schneider et al. report 76.7% to 62.2% mCE on ImageNet-C."""
UPLOAD_EXPLAIN = """**Your own shifted images.** Upload a batch (up to 256: photos from one camera, a drawing style, a
filter) and compare the BN twin with running statistics against the BN twin with statistics adapted to *your*
batch (prior N as above), the plain twin beside them. Adaptation needs a batch that shares a shift: a handful
of unrelated images gives noisy statistics."""

LANDSCAPE_EXPLAIN = f"""**Why BatchNorm helps (Santurkar et al. 2018).** The 2015 story is that BN keeps each layer's
input distribution steady ("internal covariate shift"). Santurkar et al. showed that is not what makes it work: BN makes
the loss landscape smoother. At each evaluation this run stands at the current weights of each twin, takes the
gradient g on one fixed batch of {LANDSCAPE_IMAGES} training images (the same for both), and moves along -g by
one fixed grid of step sizes, {min(FACTORS):g}x to {max(FACTORS):g}x the recipe's peak learning rate, the same at every
evaluation and for both twins: **left**, how much the loss varies along that line; **middle**,
how much the gradient changes (small: the gradient predicts where the loss goes, so larger steps are safe); **right**,
the largest gradient change per distance moved (an effective beta-smoothness, lower is smoother). The first two also
grow with the gradient's size (a twin that barely moves barely changes); the right one divides by the distance moved, so
it is the one to compare. One run, one fixed batch: a single point says little, the curves over the run say more.
Measured on copies: the run itself is unchanged (tested bit for bit). The summary gives this run's medians (the loss
range: the median of each evaluation's range); the science page, the quick preset's."""
NOISY_INTRO = f"""Santurkar et al.'s test of the covariate-shift story (2018, sec. 2.1 and Algorithm 1 of appendix
A.2.1): after every BN layer, at every training step, each channel draws a mean in [{-N_MU:g}, {N_MU:g}] and a scale in
[1, {N_SIGMA:g}]; then every activation of every image (and position) gets its own noise around them (shift +-{R_MU:g},
scale with sd {R_SIGMA:g}), the paper's constants. Nothing at test time. BN, noisy BN and no BN train in lockstep on
the same batches from the same initial weights, CNN `quick` recipe, {NOISY.epochs:g} epochs on {NOISY.train_subset:,}
images, {len(NOISY_SEEDS)} seeds (the paper: VGG, 15,000 steps of batch 128 at lr 0.1, no augmentation). Right, one
channel's distribution in each, measured in a pass with the noise off: how the network's own distributions drift.
**What it shows:** whether noisy BN, whose inputs move all the time, still trains about as well as BN (the paired
differences below say whether the seeds can tell them apart). **What it does not show:** why BN helps instead (the
landscape plots above are Santurkar et al.'s answer), or that this holds for every network or budget: a short run on a
small network."""


def near_best(f: dict) -> str:
    """One twin's `tuning.forgiveness`: how many of its trials came near its best, at which rates."""
    lo, hi = f["lr_range"]
    rates = f"lr {lo:g}" if lo == hi else f"lr {lo:g} to {hi:g}"
    return f"{f['near_best']} of its {f['trials']} trials ({rates})"


def forgiving(view: dict) -> str:
    """The "how forgiving" view's words, from the search's own numbers."""
    n = view["protocol"].get("trials", len(view["rows"]) // 2)
    parts = [f"the {TWIN_LABELS[twin]} twin came within 1 point of its best ({100 * f['best']:.1f}%) in "
             f"{near_best(f)}; its median trial reached {100 * f['median']:.1f}%"
             for twin, f in view["forgiveness"].items()]
    return (f"**How forgiving is each twin?** One recipe search, the same {n} trials for both twins (two anchors, then "
            "random draws of learning rate, weight decay drawn independently of it, warm-up, label smoothing, the "
            "shifts' rate multiplier and the conv init), each trial trained on the training images minus 5,000 held "
            "out and scored on those 5,000. Each twin's best trial is its recipe in the `cnn-fair` pair. On this "
            "search " + "; ".join(parts) + ". Bjorck et al. (2018) find BN's gain is chiefly the larger rates it "
            "allows; the count of trials near each twin's best is that robustness, measured here. One seed per "
            "trial: a point or two between two trials may be seed noise.")


def fair_gap(gap) -> str:
    """Under the pair menu: the fair pair's gap with its spread, and what BN buys on the same runs."""
    a, d, f = gap.accuracy, gap.difference, gap.forgiveness
    verdict = "a difference: the interval excludes 0" if d.differs else "no clear difference: the interval includes 0"

    def reached(t: str, other: str) -> str:
        step = gap.reach[t]
        return (f"the {TWIN_LABELS[t]} twin never reached the {TWIN_LABELS[other]} twin's final accuracy in its "
                f"{gap.steps:,} steps" if step is None else
                f"the {TWIN_LABELS[t]} twin reached the {TWIN_LABELS[other]} twin's final accuracy by step {step:,.0f}")

    return (f"**`cnn-fair`, the pair the app opens on: each twin at its own best recipe**, chosen by one search on a "
            f"validation split with the same {f['bn']['trials']} trials for both (Train tab: *How forgiving is each "
            f"twin?*). Over {gap.seeds} seeds, test accuracy BN {a['bn'].percent(2)}, plain {a['plain'].percent(2)}: "
            f"BN minus plain {100 * d.difference:+.2f} points +- {100 * d.half_width:.2f} (95%, paired by seed), "
            f"{verdict}. What BN buys, on the same runs: it came within 1 point of its best in {near_best(f['bn'])}, "
            f"the plain twin in {near_best(f['plain'])}; {reached('bn', 'plain')} of {gap.steps:,} (seed 0, no TTA), "
            f"and "
            f"{reached('plain', 'bn')}. The `cnn` pair is the other question: both twins at BN's recipe.")


def verdict(pred, truth: str | None) -> str:
    """Compare's line (`prediction.Prediction`): what each twin says, and whether each is right on a known test
    image."""
    (bn, p_bn), (plain, p_plain) = pred.top1("bn"), pred.top1("plain")
    silent = [t for t in TWINS if not pred.answers(t)]
    if silent:
        line = " ".join(f"**The {TWIN_LABELS[t]} twin has no answer:** its outputs are NaN or infinite "
                        "(its weights blew up in training: it diverged)." for t in silent)
        line += "".join(f" {'With' if t == 'bn' else 'Without'} BatchNorm: {pred.top1(t)[0]} ({pred.top1(t)[1]:.0%})."
                        for t in TWINS if t not in silent)
    else:
        line = (f"**Both twins say {bn}** ({p_bn:.0%} with BN, {p_plain:.0%} without)." if pred.agree else
                f"**The twins disagree:** {bn} ({p_bn:.0%}) with BatchNorm, {plain} ({p_plain:.0%}) without.")
    if truth:
        marks = [f"{TWIN_LABELS[t]} "
                 f"{'no answer' if not pred.answers(t) else 'right' if pred.top1(t)[0] == truth else 'wrong'}"
                 for t in TWINS]
        line += f"  \nTrue label (a real CIFAR-10 test image): **{truth}** -- {', '.join(marks)}."
    return line


def activation_note(v) -> str:
    """Above the Activations view (`activations.ActivationView`): the pair, mode and batch, the layer shown, and
    where a twin's values stop being finite numbers (its weights blew up in training), said once per twin."""
    bn, plain = v.bn[v.index], v.plain[v.index]
    line = (f"**{v.pair_title}**, {v.mode} mode, batch: {v.batch}. Layer `{v.layer}`: {bn.bn_kind} on a tensor of "
            f"shape {tuple(bn.shape)}; {100 * bn.act.zero_fraction:.0f}% of the BN twin's values are exactly "
            f"zero after ReLU ({100 * plain.act.zero_fraction:.0f}% in the plain twin).")
    for twin, layers in (("bn", v.bn), ("plain", v.plain)):
        share = {unit.name: max(unit.pre.nonfinite_fraction, unit.post.nonfinite_fraction, unit.act.nonfinite_fraction)
                 for unit in layers}
        bad = [name for name, f in share.items() if f > 0]
        if bad:
            line += (f"  \n**The {TWIN_LABELS[twin]} twin's values are not all finite numbers** from layer "
                     f"`{bad[0]}` on (up to {100 * max(share.values()):.0f}% NaN or infinite: its weights blew up in "
                     "training); its statistics here are over the finite values only.")
    return line
