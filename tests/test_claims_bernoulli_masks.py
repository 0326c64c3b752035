"""The claims of chapter 03 (Bernoulli masks), rerun at reduced size.

Each test reruns the experiment a claim rests on, through the same functions the chapter calls,
and asserts the claim with margins that a correct code base does not miss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dropout_course.experiments import bernoulli_masks as bm

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run():
    return bm.mask_average_error(p=0.5, n_in=50, n_out=10, n_max=4000, repeats=30, seed=2014)


def test_the_number_of_kept_units_is_binomial():
    """'On average a mask keeps n q units, with standard deviation sqrt(n p q).'"""
    counts = bm.kept_counts(n_units=24, p=0.5, n_masks=20_000, seed=1)
    assert counts["theory_mean"] == 12.0 and counts["theory_std"] == pytest.approx(6**0.5)
    assert counts["mean"] == pytest.approx(counts["theory_mean"], abs=0.05)
    assert counts["std"] == pytest.approx(counts["theory_std"], rel=0.03)
    assert counts["min"] < counts["theory_mean"] < counts["max"]  # no fixed count


@pytest.mark.parametrize("variant", bm.VARIANTS)
def test_the_mask_average_converges_to_the_evaluation_output_like_one_over_sqrt_n(run, variant):
    """'Both fall like 1/sqrt(N): the training-mode average converges to the evaluation output'
    (slope -1/2 on the log-log plot, and the measured error on the theory line)."""
    assert bm.error_slope(run, variant) == pytest.approx(-0.5, abs=0.05)
    theory = np.sqrt(run["var_z"][variant].mean() / run["Ns"])
    assert np.allclose(run["rmse"][variant], theory, rtol=0.25)


def test_standard_dropout_errors_are_q_times_the_inverted_ones(run):
    """'The standard curve lies exactly a factor q below the inverted one.'"""
    q = 1 - run["p"]
    assert np.allclose(run["rmse"]["standard"], q * run["rmse"]["inverted"], rtol=1e-10)


def test_a_misplaced_factor_q_would_flatten_the_error_curve():
    """'With a misplaced factor q the averages would converge to the wrong value': scaling kept
    units by 1/q but evaluating with q W (mixing the two conventions) leaves an error that does
    not fall with N."""
    rng = np.random.default_rng(3)
    y, W, b = bm.layer_example(rng)
    keep = rng.random((20_000, y.size)) >= 0.5
    average = ((keep * (2.0 * y)) @ W + b).mean(axis=0)  # inverted: kept units times 1/q = 2
    mixed, right = average - (y @ (0.5 * W) + b), average - (y @ W + b)
    assert np.sqrt(np.mean(mixed**2)) > 20 * np.sqrt(np.mean(right**2))


def test_after_a_relu_the_mask_average_exceeds_the_evaluation_output(run):
    """Jensen: 'the average over masks exceeds the evaluation value by far more than the
    standard error of that average'."""
    jensen = bm.relu_gap(run)
    assert np.all(jensen["relu_mean"] >= jensen["relu_of_eval"] - 5 * jensen["std_err"])
    assert jensen["gap"] > 10 * jensen["std_err"]


def test_the_papers_p_given_to_pytorch_keeps_a_fifth_and_scales_by_five():
    """'The literal transcription keeps only 20 % of the inputs ... multiplies each survivor by
    5', with 16 times the intended variance."""
    trap = bm.p_convention_trap(paper_p=0.8, n=50_000, seed=0)
    assert trap["wrong"]["kept"] == pytest.approx(0.2, abs=0.01)
    assert trap["wrong"]["scale"] == pytest.approx(5.0)
    assert trap["right"]["kept"] == pytest.approx(0.8, abs=0.01)
    assert trap["right"]["scale"] == pytest.approx(1.25)
    assert trap["var_ratio"] == pytest.approx(16.0)


def test_training_mode_outputs_average_to_the_evaluation_output():
    """'The two agree to within ... comparable to the standard error of a mean of that many
    samples' (a one-layer head after dropout is linear, so weight scaling is exact in mean)."""
    model = bm.small_dropout_model(seed=0)
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    mc = bm.mc_average_of_training_outputs(model, x, n=20_000, seed=1)
    assert mc["max_error"] < 5 * mc["max_std_err"]
    assert not model.training  # left in evaluation mode
    first, second = model(x), model(x)
    assert torch.equal(first, second)


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95])
def test_both_scalings_carry_the_same_relative_noise_which_grows_with_p(p):
    """'Measured against the mean, both variants carry the same relative noise, sqrt(p/q) times
    the mean': the standard variant's variance p q y^2 falls as p -> 1, the inverted one's
    p / q y^2 grows, and their ratio of standard deviation to mean is the same."""
    q, y = 1 - p, 2.0
    keep = np.random.default_rng(0).random(400_000) >= p
    standard, inverted = keep * y, keep * y / q
    for out in (standard, inverted):
        assert out.std() / out.mean() == pytest.approx(np.sqrt(p / q), rel=0.02)
    assert standard.var() == pytest.approx(p * q * y**2, rel=0.02)
    assert inverted.var() == pytest.approx(p / q * y**2, rel=0.02)
