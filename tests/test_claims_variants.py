"""The claims of chapter 08 (variants), rerun at reduced size.

The digits runs are the chapter's own networks (same recipes and splits) for two of its three
seeds; the measurements on feature maps and masks are the chapter's. Each test asserts what the
prose says, with margins taken from the spread between seeds or from sampling error, not from the
numbers the chapter prints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dropout_course.experiments import overfitting as ov
from dropout_course.experiments import rate_and_placement as rp
from dropout_course.experiments import variants as va

SEEDS = (0, 1)  # the chapter's first two
P = 0.5

pytestmark = pytest.mark.usefixtures("one_thread")


def above(a, b) -> bool:
    """``a`` exceeds ``b`` in every seed."""
    return bool(np.all(np.asarray(a) - np.asarray(b) > 0))


def within_spread(a, b) -> bool:
    """The mean paired difference is smaller than twice the larger spread between seeds."""
    spread = max(np.std(a, ddof=1), np.std(b, ddof=1))
    return bool(abs(np.mean(np.asarray(a) - np.asarray(b))) < 2 * spread)


@pytest.fixture(scope="module")
def mlp():
    builds = {name: lambda b=build: b(P) for name, build in va.MLP_VARIANTS.items()}
    return va.compare(builds, SEEDS)


@pytest.fixture(scope="module")
def cnn():
    builds = {"none": lambda: va.conv_net(0.0), "element": lambda: va.conv_net(P, "element"),
              "spatial": lambda: va.conv_net(P, "spatial")}  # fmt: skip
    runs = {k: [rp.train_kept(b, s, epochs=va.CNN_EPOCHS, eval_every=0) for s in SEEDS]
            for k, b in builds.items()}  # fmt: skip
    return runs, {k: rp.summary([run for run, _ in r]) for k, r in runs.items()}


@pytest.fixture(scope="module")
def rnn():
    builds = {"none": lambda: va.RowRNN(0.0), "fresh": lambda: va.RowRNN(P, locked=False),
              "locked": lambda: va.RowRNN(P, locked=True)}  # fmt: skip
    return va.compare(builds, SEEDS)


# ------------------------------------------------------------------------------- Gaussian


def test_gaussian_factors_have_mean_one_variance_p_over_q_and_are_sometimes_negative():
    n = 1_000_000
    noise = va.gaussian_noise(P, n)
    var = P / (1 - P)
    assert abs(noise.mean() - 1) < 6 * math.sqrt(var / n)
    assert abs(noise.var() - var) < 6 * var * math.sqrt(2 / n)
    negative = 0.5 * math.erfc(1 / math.sqrt(2 * var))  # P(N(1, var) < 0)
    assert abs(np.mean(noise < 0) - negative) < 6 * math.sqrt(negative / n)


def test_the_pytorch_modules_draw_the_noise_of_the_equations():
    """GaussianDropout: mean 1, variance p/q; DropConnectLinear: mean of the layer, variance
    (p/q) sum_i x_i^2 W_ij^2 (eq-dropconnect), for both kinds of mask."""
    torch.manual_seed(0)
    n = 200_000
    g = va.GaussianDropout(P).train()(torch.ones(n, dtype=torch.float64))
    assert abs(g.mean().item() - 1) < 6 * math.sqrt(1 / n)
    assert abs(g.var().item() - 1) < 6 * math.sqrt(2 / n)
    for per_example in (False, True):
        dense = va.DropConnectLinear(6, 3, P, per_example).double()
        x = torch.rand(1, 6, dtype=torch.float64)
        outs = torch.cat([dense.train()(x) for _ in range(10_000)])
        mean = dense.eval()(x)[0].detach()
        var = P / (1 - P) * (x[0, None] ** 2 * dense.weight.detach() ** 2).sum(1)
        assert torch.all((outs.mean(0) - mean).abs() < 6 * (var / len(outs)).sqrt())
        assert torch.allclose(outs.var(0), var, rtol=0.08)


def test_gaussian_and_dropconnect_match_bernoulli_within_the_spread(mlp):
    bern = mlp["Bernoulli"]
    for name in ("Gaussian", "DropConnect"):
        assert within_spread(mlp[name]["test_error"], bern["test_error"])
    assert within_spread(mlp["Gaussian"]["test_nll"], bern["test_nll"])


def test_every_kind_of_noise_lowers_the_test_nll_and_errors_stay_within_the_spread(mlp):
    for name in ("Bernoulli", "Gaussian", "DropConnect"):
        assert above(mlp["no dropout"]["test_nll"], mlp[name]["test_nll"])
    means = [r["test_error"].mean() for r in mlp.values()]
    largest_sd = max(r["test_error"].std(ddof=1) for r in mlp.values())
    assert np.ptp(means) < 2 * largest_sd


def test_dropconnect_fits_the_training_set_least(mlp):
    for name in ("no dropout", "Bernoulli", "Gaussian"):
        assert above(mlp["DropConnect"]["train_nll"], mlp[name]["train_nll"])


def test_dropconnect_costs_dropout_s_time_per_minibatch_mask_and_far_more_per_example():
    bern = va.epoch_seconds(lambda: rp.dropout_mlp(rp.SIZES, 0.0, P))
    batch = va.epoch_seconds(lambda: va.dropconnect_mlp(rp.SIZES, P))
    each = va.epoch_seconds(lambda: va.dropconnect_mlp(rp.SIZES, P, per_example=True))
    assert batch < 2 * bern
    assert each > 5 * bern


# ------------------------------------------------------------------------------- spatial


def test_neighbours_are_weakly_correlated_and_spatial_masks_inject_about_twice_the_noise(cnn):
    runs, _ = cnn
    plain = runs["none"][0][1]
    X = ov.digits_data(300, seed=0)["test"][0]
    correlation = va.neighbour_correlation(va.first_maps(plain, X), (1, 2))
    assert 0.2 < correlation[0] < 0.7 and abs(correlation[1]) < 0.15
    for p in (0.1, 0.5, 0.75):
        found = va.injected_noise(plain, X, p)
        assert 1.5 < found["spatial"] / found["element"] < 4  # more, but far from nine


def test_spatial_noise_is_the_formula(cnn):
    """eq-spatial-noise, sampled: element-wise (p/q) sum w^2 h^2, spatial (p/q) sum_c (sum w h)^2,
    for one unit of the second convolution (an interior position, all 3x3 inputs present)."""
    runs, _ = cnn
    plain = runs["none"][0][1]
    X = ov.digits_data(300, seed=0)["test"][0][:1]
    maps, conv = va.first_maps(plain, X), plain[3]
    window = maps[0, :, 3:6, 3:6]  # the inputs of output unit (0, 4, 4)
    terms = conv.weight[0] * window  # (C, 3, 3)
    q = 1 - P
    predicted = {
        "element": P / q * (terms**2).sum(),
        "spatial": P / q * terms.sum((1, 2)).pow(2).sum(),
    }
    torch.manual_seed(0)
    for kind, shape in (("element", window.shape), ("spatial", (window.shape[0], 1, 1))):
        z = torch.stack([(terms * (torch.rand(shape) >= P) / q).sum() for _ in range(10_000)])
        assert z.var().item() == pytest.approx(predicted[kind].item(), rel=0.08)


def test_spatial_dropout_does_not_beat_element_wise_here(cnn):
    _, found = cnn
    for kind in ("element", "spatial"):
        assert within_spread(found[kind]["test_error"], found["none"]["test_error"])
    assert within_spread(found["element"]["test_nll"], found["none"]["test_nll"])
    assert above(found["spatial"]["test_nll"], found["none"]["test_nll"])
    assert above(found["element"]["train_nll"], found["spatial"]["train_nll"])


# ----------------------------------------------------------------------------- recurrent


def test_a_unit_survives_all_steps_with_probability_q_locked_and_q_to_the_t_fresh():
    rng, n, q = np.random.default_rng(0), 100_000, 1 - P
    for locked, expected in ((True, q), (False, q**va.STEPS)):
        found = va.kept_throughout(P, va.STEPS, locked, n, rng)
        assert abs(found - expected) < 6 * math.sqrt(expected * (1 - expected) / n)


def test_locked_masks_regularise_harder_and_do_worse_on_eight_steps(rnn):
    assert within_spread(rnn["fresh"]["test_error"], rnn["none"]["test_error"])
    assert above(rnn["locked"]["test_error"], rnn["fresh"]["test_error"])
    assert above(rnn["locked"]["train_nll"], rnn["fresh"]["train_nll"])
