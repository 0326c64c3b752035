"""The reference implementations agree with PyTorch, an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.content.reference import backpropagation, bernoulli_masks, max_norm


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_forward_matches_F_dropout_statistics(p):
    n = 200_000
    ours, mask = bernoulli_masks.dropout_forward(np.ones(n), p, np.random.default_rng(0))
    torch.manual_seed(0)
    theirs = F.dropout(torch.ones(n, dtype=torch.float64), p=p, training=True).numpy()
    band = 6 * np.sqrt(p * (1 - p) / n) * np.sqrt(2)  # difference of two drop rates, 6 sigma
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < band
    assert np.allclose(np.unique(ours[mask.astype(bool)]), np.unique(theirs[theirs != 0]))
    assert np.array_equal(ours == 0, mask == 0)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_evaluation_matches_F_dropout(p):
    x = np.random.default_rng(1).standard_normal((4, 5))
    out, mask = bernoulli_masks.dropout_forward(x, p, np.random.default_rng(0), training=False)
    assert mask is None
    assert np.array_equal(out, F.dropout(torch.from_numpy(x), p=p, training=False).numpy())


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_backward_matches_autograd(p, inverted):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 9))
    dout = rng.standard_normal((7, 9))
    out, mask = bernoulli_masks.dropout_forward(x, p, rng, inverted=inverted)
    x_t = torch.from_numpy(x).requires_grad_(True)
    scale = 1 / (1 - p) if inverted else 1.0
    y = x_t * torch.from_numpy(mask) * scale
    assert np.allclose(y.detach().numpy(), out)
    y.backward(torch.from_numpy(dout))
    assert np.allclose(backpropagation.dropout_backward(dout, mask, p, inverted), x_t.grad.numpy())


def test_reference_module_gradient_matches_autograd_of_its_mask():
    x = torch.rand(50, 40, dtype=torch.float64, requires_grad=True)
    module = bernoulli_masks.Dropout(0.4).train()
    out = module(x)
    out.sum().backward()
    kept = (out != 0).double()
    assert torch.allclose(x.grad, kept / 0.6)


@pytest.mark.parametrize("c", [0.5, 2.0, 4.0])
def test_max_norm_matches_torch_renorm(c):
    W = np.random.default_rng(3).standard_normal((30, 12)) * np.linspace(0.05, 1.5, 12)
    W[:, 3] = 0.0
    ours = max_norm.max_norm(W, c)
    theirs = torch.renorm(torch.from_numpy(W.T), p=2, dim=0, maxnorm=c).T.numpy()
    assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    assert np.all(np.linalg.norm(ours, axis=0) <= c * (1 + 1e-12))


def test_predict_matches_eval_and_restores_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5))
    x = torch.randn(5, 3)
    out = bernoulli_masks.predict(model, x)
    assert model.training and not out.requires_grad
    assert torch.equal(out, model.eval()(x).detach())


@pytest.mark.parametrize("bad", [-0.01, 1.01])
def test_p_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match="p"):
        bernoulli_masks.dropout_forward(np.ones(3), bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="p"):
        bernoulli_masks.Dropout(bad)


# ---------------------------------------------------------------- inference (chapter 06)


def _bn_dropout_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Dropout(0.5),
        torch.nn.Linear(8, 3),
    )  # fmt: skip


@pytest.mark.parametrize("start_training", [True, False])
def test_mc_predict_samples_dropout_only_and_restores_every_mode(start_training):
    from autograder.content.reference.inference import mc_predict

    net = _bn_dropout_net()
    net.train(start_training)
    before = [m.training for m in net.modules()]
    stats = net[1].running_mean.clone()
    x = torch.randn(6, 5)
    torch.manual_seed(1)
    mean, std = mc_predict(net, x, 40)
    assert [m.training for m in net.modules()] == before
    assert torch.equal(net[1].running_mean, stats)  # BatchNorm stayed in evaluation mode
    # The same passes by hand: evaluation mode, PyTorch's dropout on the hidden layer.
    torch.manual_seed(1)
    net.eval()
    net[3].train()
    with torch.no_grad():
        probs = torch.stack([F.softmax(net(x), dim=1) for _ in range(40)])
    assert torch.allclose(mean, probs.mean(0)) and torch.allclose(std, probs.std(0, correction=0))
    assert mean.shape == std.shape == (6, 3) and not mean.requires_grad
    assert torch.allclose(mean.sum(1), torch.ones(6))
    with pytest.raises(ValueError, match="samples"):
        mc_predict(net, x, 0)


def test_normalized_geometric_mean_is_exact_in_log_space():
    from scipy.special import softmax

    from autograder.content.reference.inference import normalized_geometric_mean

    rng = np.random.default_rng(0)
    logits = rng.uniform(-690, 0, size=(1000, 4, 5))  # probabilities down to about 1e-300
    log_probs = logits - np.logaddexp.reduce(logits, axis=2, keepdims=True)
    probs = np.exp(log_probs)
    assert probs.min() > 0 and np.prod(probs, axis=0).max() == 0  # a plain product underflows
    expected = softmax(log_probs.mean(axis=0), axis=1)
    found = normalized_geometric_mean(probs)
    assert found.shape == (4, 5) and np.allclose(found, expected, rtol=1e-9, atol=0)
    zero = np.array([[[0.5, 0.5]], [[0.0, 1.0]]])
    assert np.array_equal(normalized_geometric_mean(zero), np.array([[0.0, 1.0]]))
