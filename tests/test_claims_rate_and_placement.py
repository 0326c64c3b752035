"""The claims of chapter 07 (choosing and placing dropout), rerun at reduced size.

The digits runs are the chapter's own networks (same recipe and splits) for two of its three
seeds (all three for the batch-normalisation study); the regression is rerun with fewer rates
and training sets. Each test asserts what the
prose says, with margins taken from the spread between seeds (or, for the variance shift, from
the shift measured where no dropout feeds the layer), not from the numbers the chapter prints.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from dropout_course.experiments import co_adaptation as ca
from dropout_course.experiments import rate_and_placement as rp

SEEDS = (0, 1)  # the chapter's first two
RATES = (0.0, 0.25, 0.5, 0.75, 0.9)  # the chapter's sweep, the same networks
SINE_RATES = (0.0, 0.25, 0.5, 0.9)  # the chapter: 0, 0.1, 0.25, 0.5, 0.75, 0.9
GENTLE = ("inputs 0.2", "hidden 0.5", "inputs 0.2, hidden 0.5")

pytestmark = pytest.mark.usefixtures("one_thread")


def sem(values) -> float:
    """Standard error of the mean over seeds."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def above(a, b) -> bool:
    """``a`` exceeds ``b`` seed by seed, and on average by more than the standard error of the
    paired difference."""
    difference = np.asarray(a) - np.asarray(b)
    return bool(np.all(difference > 0) and difference.mean() > sem(difference))


@pytest.fixture(scope="module")
def sine():
    return rp.sine_sweep(SINE_RATES, seeds=range(3))


@pytest.fixture(scope="module")
def sweep():
    return rp.rate_sweep(RATES, SEEDS)


def at(sweep, key, p):
    return sweep[key][list(sweep["rates"]).index(p)]


# ------------------------------------------------------------------------------ how much


def test_mask_variance_is_p_over_q():
    """eq-mask-variance: the factor r / q has mean 1 and variance p / q (sampled; 6 standard
    errors, from the mask's own second and fourth central moments)."""
    generator = torch.Generator().manual_seed(0)
    for p in (0.25, 0.5, 0.9):
        q, n = 1 - p, 400_000
        m = (torch.rand(n, generator=generator, dtype=torch.float64) < q) / q
        second, fourth = p / q, q * (p / q) ** 4 + p  # m - 1 is p/q (kept) or -1 (dropped)
        var_of_var = fourth / n - second**2 * (n - 3) / (n * (n - 1))  # of the sample variance
        assert abs(m.mean().item() - 1) < 6 * math.sqrt(second / n)
        assert abs(m.var().item() - second) < 6 * math.sqrt(var_of_var)


def test_regression_training_error_rises_with_p(sine):
    """On average at every step; in every training set from 0 to the middle to 0.9 (between
    neighbouring rates a training set can go against the trend)."""
    assert np.all(np.diff(sine["train"].mean(0)) > 0)
    ends = [list(sine["rates"]).index(p) for p in (0.0, 0.5, 0.9)]
    assert np.all(np.diff(sine["train"][:, ends], axis=1) > 0)


def test_regression_a_moderate_rate_beats_none_and_the_middle_is_flat(sine):
    middle = [list(sine["rates"]).index(p) for p in (0.25, 0.5)]
    best = sine["test"][:, middle].mean(0).argmin()
    assert above(sine["test"][:, 0], sine["test"][:, middle[best]])
    spread = max(sine["test"][:, i].std(ddof=1) for i in middle)
    assert abs(np.diff(sine["test"][:, middle].mean(0))[0]) < spread  # flat: within the spread


def test_regression_underfits_at_p_09(sine):
    high, low = sine["test"][:, -1], sine["test"][:, 1:3].min(1)
    assert above(high, low) and above(sine["train"][:, -1], low)  # even its training error
    slopes = rp.shrinkage(sine["f_test"], sine["x_test"])
    assert above(slopes[:, 0] / 2, slopes[:, -1])  # a damped sine: less than half the slope


def test_output_dropout_shrinks_the_regression_by_q():
    """eq-output-dropout: f* = q y, so the fit's slope on sin(x) is about q = 0.5: as close to
    q as the fit without output dropout is to 1, give or take three standard errors."""
    q = 0.5
    both = rp.sine_sweep([0.0, 0.0], seeds=range(3), output_drops=[0.0, 1 - q])
    slopes = rp.shrinkage(both["f_test"], both["x_test"])
    without, with_output = slopes[:, 0], slopes[:, 1]
    assert abs(with_output.mean() - q) < 3 * sem(with_output) + abs(without.mean() - 1)
    assert above(without, with_output)


def test_output_dropout_expected_loss_is_the_formula():
    """E_r[(y - r f / q)^2] = y^2 - 2 y f + f^2 / q, minimised at f = q y."""
    for p, y, f in ((0.5, 1.3, 0.4), (0.2, -2.0, 1.1)):
        q = 1 - p
        exact = q * (y - f / q) ** 2 + p * y**2
        assert exact == pytest.approx(y**2 - 2 * y * f + f**2 / q)
    q, y = 0.7, 2.0
    grid = np.linspace(-3, 3, 60_001)
    assert grid[np.argmin(y**2 - 2 * y * grid + grid**2 / q)] == pytest.approx(q * y, abs=1e-4)


def test_stacked_training_is_independent_training():
    """Without dropout (no randomness), training side by side gives each network the weights it
    gets trained alone."""
    torch.manual_seed(0)
    models = [rp.dropout_mlp((1, 8, 8, 1), 0.0, 0.0) for _ in range(3)]
    alone = copy.deepcopy(models)
    xs = torch.linspace(-3, 3, 3 * 10).reshape(3, 10, 1)
    ys = torch.sin(xs) + 0.1 * torch.arange(3.0)[:, None, None]
    rp.train_stacked(models, xs, ys, [0.0] * 3, [0.0] * 3, steps=50, lr=1e-2)
    for a, x, y in zip(alone, xs, ys, strict=True):
        opt = torch.optim.Adam(a.parameters(), lr=1e-2)
        for _ in range(50):
            loss = ((a(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, m in zip(alone, models, strict=True):
        for pa, pm in zip(a.parameters(), m.parameters(), strict=True):
            assert torch.allclose(pa, pm, atol=1e-5)


def test_digits_underfit_at_the_high_end_and_fit_in_the_middle(sweep):
    for p in (0.0, 0.5):
        assert np.all(at(sweep, "train_error", p) == 0)
    assert above(at(sweep, "train_error", 0.9), at(sweep, "train_error", 0.75))
    assert above(at(sweep, "test_error", 0.9), at(sweep, "test_error", 0.0))


def test_digits_dropout_lowers_the_nll_and_its_error_gain_is_within_the_spread(sweep):
    assert above(at(sweep, "test_nll", 0.0), at(sweep, "test_nll", 0.5))
    gain = at(sweep, "test_error", 0.0) - at(sweep, "test_error", 0.5)
    spread = max(at(sweep, "test_error", p).std(ddof=1) for p in (0.0, 0.5))
    assert gain.mean() < 2 * spread  # "about the size of the spread"


def test_choosing_on_validation_avoids_both_ends_and_the_test_set_flatters(sweep):
    choice = rp.choose_on_validation(sweep)
    assert not np.any(np.isin(choice["chosen"], [0.0, 0.9]))
    assert choice["test_at_chosen"].mean() < choice["test_without"].mean()
    assert np.all(choice["best_test"] <= choice["test_at_chosen"])  # optimism is never negative


def test_dropout_needs_more_epochs_and_more_the_higher_its_rate(sweep):
    needed = {p: np.array([rp.epochs_to(r.val_error, 0.08) for r in at(sweep, "runs", p)])
              for p in RATES}  # fmt: skip
    assert needed[0.5].mean() > needed[0.0].mean()
    assert needed[0.75].mean() > needed[0.5].mean() + sem(needed[0.75])
    assert np.all(np.isnan(needed[0.9]))  # p = 0.9 never reaches 8 % in the recipe's epochs
    assert rp.epochs_to([0.2, 0.1, 0.05, 0.09], 0.08) == 3.0
    assert np.isnan(rp.epochs_to([0.2, 0.1], 0.08))


# ---------------------------------------------------------------------------------- where


@pytest.fixture(scope="module")
def placed(sweep):
    configs = {
        "none": (0.0, 0.0),
        "inputs 0.2": (0.2, 0.0),
        "hidden 0.5": (0.0, 0.5),
        "inputs 0.2, hidden 0.5": (0.2, 0.5),
        "inputs 0.5, hidden 0.5": (0.5, 0.5),
    }
    known = {"none": at(sweep, "runs", 0.0), "hidden 0.5": at(sweep, "runs", 0.5)}
    return rp.placements(configs, SEEDS, known=known)


def test_dropping_half_the_inputs_underfits_and_has_the_worst_nll(placed):
    hard = placed["inputs 0.5, hidden 0.5"]
    for name in ("none", *GENTLE):
        assert above(hard["train_error"], placed[name]["train_error"])
        assert np.all(hard["test_nll"] > placed[name]["test_nll"])
    assert hard["test_error"].mean() > placed["none"]["test_error"].mean()


def test_gentle_placements_help_the_nll_and_cannot_be_ranked_by_error(placed):
    for name in GENTLE:
        assert np.all(placed[name]["test_nll"] < placed["none"]["test_nll"])
    means = [placed[n]["test_error"].mean() for n in GENTLE]
    spreads = [placed[n]["test_error"].std(ddof=1) for n in GENTLE]
    assert max(means) - min(means) < np.mean(spreads)


# ----------------------------------------------------------------------------- data size


def test_the_gain_of_dropout_shrinks_as_the_training_set_grows(sweep):
    known = {(300, p): at(sweep, "runs", p) for p in (0.0, 0.5)}
    sized = rp.data_size_sweep([100, 300, 700], seeds=SEEDS, known=known)
    errors = sized["test_error"]  # (sizes, rates, seeds)
    assert np.all(np.diff(errors, axis=0) < 0)  # more data, lower error, in every run
    gain = errors[:, 0] - errors[:, 1]  # (sizes, seeds); a seed's training sets are nested
    assert above(gain[0], 0)  # clear with 100 images
    for i in range(len(gain) - 1):
        assert np.all(gain[i] > gain[i + 1])  # shrinks at each step, in every seed
    for g in gain[1:]:  # at 300 and 700 the gain itself is within the spread
        assert abs(g.mean()) < 2 * sem(g)
    assert np.all(sized["test_nll"][:, 0].mean(1) > sized["test_nll"][:, 1].mean(1))


# --------------------------------------------------------------------------------- width


def test_keeping_the_expected_width_rescues_a_high_rate():
    widths = ca.width_sweep((0.0, 0.9), n_fixed=64, kept_fixed=64, seeds=SEEDS, epochs=150)
    narrow, wide = widths["n fixed"], widths["qn fixed"]  # (rates, seeds, [test, train])
    assert list(widths["widths"]) == [64, 640]
    assert above(narrow[1, :, 1], narrow[0, :, 1])  # the narrow network underfits at 0.9
    assert above(narrow[1, :, 0], wide[1, :, 0])  # the wide one does not
    assert wide[1, :, 0].mean() < narrow[0, :, 0].mean()  # and beats no dropout on average


def test_the_width_rule_in_floating_point():
    assert math.ceil(64 / (1 - 0.9)) == 641  # the trap the chapter shows
    assert rp.keep_expected_width(64, 0.9) == 640


# ----------------------------------------------------------------------- batch normalisation


@pytest.fixture(scope="module")
def bn():
    settings = {"none": (0.0, None), "before 0.5": (0.5, "before BN"),
                "before 0.2": (0.2, "before BN"), "after": (0.5, "after BN")}  # fmt: skip
    return rp.batchnorm_comparison(settings, seeds=(0, 1, 2), epochs=100)  # all three seeds


def test_the_variance_shift_is_measured_and_predicted(bn):
    floor = max(abs(bn[n]["shift"] - 1).max() for n in ("none", "after"))  # no dropout feeds it
    for name in ("before 0.5", "before 0.2"):
        assert np.all(np.abs(bn[name]["shift"] - bn[name]["predicted"]) < 2 * floor)
        assert np.all(bn[name]["shift"] > 1 + 5 * floor)
        assert np.all(bn[name]["direct"] > bn[name]["shift"])  # the linear layer dilutes it
    assert np.all(bn["before 0.5"]["shift"] > bn["before 0.2"]["shift"] + 5 * floor)
    for name in ("none", "after"):
        assert np.all(bn[name]["predicted"] == 1.0)


def test_dropout_before_bn_hurts_but_recalibration_does_not_repair_it(bn):
    loss = {name: bn[name]["test_error"] - bn["none"]["test_error"] for name in bn}
    assert above(loss["before 0.5"], 0) and above(loss["before 0.2"], 0)
    assert loss["before 0.5"].mean() > loss["before 0.2"].mean() > loss["after"].mean()
    assert abs(loss["after"].mean()) < 2 * sem(loss["after"])  # within the spread
    for name in ("before 0.5", "before 0.2"):
        change = bn[name]["test_error"] - bn[name]["recalibrated"]
        assert abs(change.mean()) <= 2 * sem(change)  # nothing beyond the spread


def test_variance_shift_formula_on_a_random_layer():
    """eq-variance-shift-linear, checked with many masks on fixed activations: the variance of
    z over data and masks is the evaluation variance plus (p/q) E[sum W^2 h^2]."""
    torch.manual_seed(0)
    p, h = 0.5, torch.relu(torch.randn(2000, 20, dtype=torch.float64) + 0.3)
    W = torch.randn(5, 20, dtype=torch.float64) / 4
    masks = (torch.rand(200, *h.shape, dtype=torch.float64) < 1 - p) / (1 - p)
    z = (masks * h) @ W.T  # (masks, data, units)
    predicted = (h @ W.T).var(0, correction=0) + p / (1 - p) * (h**2 @ (W**2).T).mean(0)
    assert torch.allclose(z.reshape(-1, 5).var(0, correction=0), predicted, rtol=0.02)


def test_recalibrate_leaves_the_model_and_measures_the_training_statistics():
    torch.manual_seed(0)
    model = rp.batchnorm_mlp((6, 5, 5, 3), 0.5, "before BN").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X = torch.randn(64, 6)
    fixed = rp.recalibrate(model, X)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    first = fixed[1]
    assert torch.allclose(first.running_mean, fixed[0](X).mean(0), atol=1e-5)
    assert torch.allclose(first.running_var, fixed[0](X).var(0), atol=1e-5)
    assert not fixed.training
