"""The reference answers of exercise 08 (``gaussian_dropout_forward``, ``dropconnect_forward``,
``spatial_dropout_forward``, ``locked_dropout``) keep the COURSE-SPEC contract, checked against
PyTorch where it has the same operation (``nn.Dropout``'s factor, ``nn.Dropout1d`` and
``nn.Dropout2d``'s per-channel masks, ``F.linear``) and against exact formulas elsewhere.

Statistical checks use 6 standard errors computed from the distribution itself, so that they
fail by chance about once in a billion runs; every generator is seeded anyway.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.content.reference.variants import (
    dropconnect_forward,
    gaussian_dropout_forward,
    locked_dropout,
    spatial_dropout_forward,
)

SHARED = {"spatial": (spatial_dropout_forward, (5, 4, 3, 6)), "locked": (locked_dropout, (7, 5, 4))}


def rng(seed=0):
    return np.random.default_rng(seed)


def close_to(value, expected, standard_error):
    return abs(value - expected) < 6 * standard_error


# ------------------------------------------------------------------------------- Gaussian


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_gaussian_noise_has_mean_one_and_the_bernoulli_variance(p):
    n, var = 400_000, p / (1 - p)
    out, noise = gaussian_dropout_forward(np.ones(n), p, rng())
    assert noise.shape == (n,) and np.array_equal(out, noise)
    assert close_to(noise.mean(), 1.0, math.sqrt(var / n))
    assert close_to(noise.var(), var, var * math.sqrt(2 / n))  # normal: Var(s^2) = 2 var^2 / n


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gaussian_noise_has_the_variance_of_pytorchs_dropout_factor(p):
    """nn.Dropout's factor (0 or 1/q) and the Gaussian factor share mean and variance."""
    n = 400_000
    torch.manual_seed(0)
    factor = nn.Dropout(p).train()(torch.ones(n, dtype=torch.float64)).numpy()
    noise = gaussian_dropout_forward(np.ones(n), p, rng())[1]
    q = 1 - p
    fourth = q * (p / q) ** 4 + p  # E[(m - 1)^4] of the Bernoulli factor
    tolerance = math.sqrt((fourth - (p / q) ** 2) / n) + (p / q) * math.sqrt(2 / n)
    assert abs(factor.mean() - noise.mean()) < 6 * math.sqrt(2 * p / q / n)
    assert abs(factor.var() - noise.var()) < 6 * tolerance


def test_gaussian_keeps_shape_and_dtype_and_leaves_x_alone():
    x = rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    before = x.copy()
    out, noise = gaussian_dropout_forward(x, 0.3, rng())
    assert out.shape == x.shape and out.dtype == np.float32 and noise.shape == x.shape
    assert np.array_equal(x, before)
    assert np.allclose(out, x * noise)


def test_gaussian_evaluation_and_p_zero():
    x = rng(1).standard_normal((4, 6))
    out, noise = gaussian_dropout_forward(x, 0.5, rng(), training=False)
    assert noise is None and np.array_equal(out, x) and out is not x
    out, noise = gaussian_dropout_forward(x, 0.0, rng())
    assert np.array_equal(out, x) and np.all(noise == 1)


def test_gaussian_uses_only_its_generator():
    x = np.ones((10, 10))
    np.random.seed(0)  # noqa: NPY002 (the global state must not matter)
    a = gaussian_dropout_forward(x, 0.4, rng(7))[1]
    np.random.seed(1)  # noqa: NPY002 (the global state must not matter)
    b = gaussian_dropout_forward(x, 0.4, rng(7))[1]
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan")])
def test_gaussian_rejects_p_outside_zero_one(bad):
    with pytest.raises(ValueError, match="p"):
        gaussian_dropout_forward(np.ones(3), bad, rng())


# ---------------------------------------------------------------------------- DropConnect


def layer(seed=2, batch=6, n_in=5, n_out=4):
    g = rng(seed)
    return (
        g.standard_normal((batch, n_in)),
        g.standard_normal((n_in, n_out)),
        g.standard_normal(n_out),
    )


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropconnect_is_the_layer_with_its_masked_weights_scaled(p):
    x, W, b = layer()
    before = x.copy(), W.copy(), b.copy()
    out, mask = dropconnect_forward(x, W, b, p, rng())
    assert mask.shape == W.shape and set(np.unique(mask)) <= {0, 1}
    assert np.allclose(out, x @ (W * mask) / (1 - p) + b)
    torch_out = F.linear(torch.from_numpy(x), torch.from_numpy(W * mask / (1 - p)).T,
                         torch.from_numpy(b))  # fmt: skip
    assert np.allclose(out, torch_out.numpy())  # PyTorch's layout: weight is (n_out, n_in)
    assert all(np.array_equal(a, c) for a, c in zip((x, W, b), before, strict=True))


def test_dropconnect_keeps_each_weight_with_probability_q():
    W = np.ones((400, 500))
    mask = dropconnect_forward(np.ones((2, 400)), W, np.zeros(500), 0.3, rng())[1]
    n = mask.size
    assert close_to(mask.mean(), 0.7, math.sqrt(0.21 / n))


def test_dropconnect_never_drops_the_bias_and_handles_p_one_and_evaluation():
    x, W, b = layer()
    out, mask = dropconnect_forward(x, W, b, 1.0, rng())
    assert out.shape == (6, 4) and np.allclose(out, np.broadcast_to(b, (6, 4)))
    assert not mask.any()
    out, mask = dropconnect_forward(x, W, b, 0.5, rng(), training=False)
    assert mask is None and np.allclose(out, x @ W + b)
    out, mask = dropconnect_forward(x, W, b, 0.0, rng())
    assert mask.all() and np.allclose(out, x @ W + b)


def test_dropconnect_is_unbiased_with_the_predicted_variance():
    """Over masks, unit j has mean x W_j + b_j and variance (p/q) sum_i x_i^2 W_ij^2."""
    x, W, b = layer(batch=1)
    p, draws = 0.4, 40_000
    g = rng(3)
    outs = np.array([dropconnect_forward(x, W, b, p, g)[0][0] for _ in range(draws)])
    var = p / (1 - p) * (x[0, :, None] ** 2 * W**2).sum(0)
    assert np.all(np.abs(outs.mean(0) - (x @ W + b)[0]) < 6 * np.sqrt(var / draws))
    assert np.allclose(outs.var(0), var, rtol=0.05)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_dropconnect_rejects_p_outside_zero_one(bad):
    with pytest.raises(ValueError, match="p"):
        dropconnect_forward(*layer(), bad, rng())


# ------------------------------------------------------------------- spatial and locked


def test_spatial_mask_is_one_decision_per_example_and_channel():
    x = rng(1).random((5, 4, 3, 6)) + 0.1
    out, mask = spatial_dropout_forward(x, 0.5, rng())
    assert mask.shape == (5, 4, 1, 1)
    assert np.allclose(out, x * mask / 0.5)
    zero_maps = (out == 0).all(axis=(2, 3))
    assert np.array_equal(zero_maps, ~mask[:, :, 0, 0].astype(bool))  # whole maps, or none


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_spatial_dropout_drops_and_scales_as_pytorchs_dropout2d(p):
    """Both drop whole (example, channel) maps with probability p and scale the rest by 1/q."""
    shape = (200, 50, 3, 3)
    torch.manual_seed(0)
    theirs = nn.Dropout2d(p).train()(torch.ones(shape, dtype=torch.float64)).numpy()
    ours = spatial_dropout_forward(np.ones(shape), p, rng())[0]
    n = shape[0] * shape[1]
    for out in (theirs, ours):
        per_map = out.reshape(n, -1)
        assert np.all(per_map.min(1) == per_map.max(1))  # each map all dropped or all kept
        assert set(np.unique(per_map.round(12))) == {0.0, round(1 / (1 - p), 12)}
        assert close_to((per_map[:, 0] == 0).mean(), p, math.sqrt(p * (1 - p) / n))


def test_locked_mask_is_the_same_at_every_step():
    x = rng(1).random((7, 5, 4)) + 0.1
    out, mask = locked_dropout(x, 0.5, rng())
    assert mask.shape == (1, 5, 4)
    assert np.allclose(out, x * mask / 0.5)
    dropped = out == 0
    assert np.all(dropped == dropped[:1])  # the same features dropped at all 7 steps


def test_locked_dropout_is_pytorchs_dropout1d_over_time():
    """nn.Dropout1d drops channels of (N, C, L) for all L: with features as channels and time
    as length, the mask is the same at every step, as ``locked_dropout``'s."""
    T, N, D, p = 9, 100, 30, 0.3
    torch.manual_seed(0)
    theirs = nn.Dropout1d(p).train()(torch.ones(N, D, T, dtype=torch.float64)).permute(2, 0, 1)
    ours = locked_dropout(np.ones((T, N, D)), p, rng())[0]
    for out in (theirs.numpy(), ours):
        assert np.all(out == out[:1])
        assert set(np.unique(out.round(12))) == {0.0, round(1 / (1 - p), 12)}
        assert close_to((out[0] == 0).mean(), p, math.sqrt(p * (1 - p) / (N * D)))


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_masks_evaluation_p_zero_p_one_dtype_and_input(name):
    forward, shape = SHARED[name]
    x = rng(1).standard_normal(shape).astype(np.float32)
    before = x.copy()
    out, mask = forward(x, 0.5, rng(), training=False)
    assert mask is None and np.array_equal(out, x)
    out, mask = forward(x, 0.0, rng())
    assert np.array_equal(out, x) and mask.all()
    out, _ = forward(x, 1.0, rng())
    assert np.all(out == 0) and np.all(np.isfinite(out))
    out, _ = forward(x, 0.3, rng())
    assert out.dtype == np.float32 and out.shape == x.shape and np.array_equal(x, before)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_masks_use_only_their_generator_and_check_their_input(name):
    forward, shape = SHARED[name]
    x = np.ones(shape)
    np.random.seed(0)  # noqa: NPY002 (the global state must not matter)
    a = forward(x, 0.4, rng(7))[1]
    np.random.seed(1)  # noqa: NPY002 (the global state must not matter)
    assert np.array_equal(a, forward(x, 0.4, rng(7))[1])
    with pytest.raises(ValueError, match="p"):
        forward(x, 1.5, rng())
    with pytest.raises(ValueError, match="dimensions"):
        forward(np.ones(shape[:-1]), 0.4, rng())
