"""Hidden tests of exercise 04 (backpropagation through thinned networks).

Each runs the visible check's properties on inputs the student has not seen, then compares the
student's function with the reference implementation and with PyTorch, which computes the same
quantities by autograd: the cross-entropy and its gradient (``F.cross_entropy``), the forward
pass through ``nn.Linear`` layers with the student's own mask, and the gradients of the
parameters through the same mask. ``dropout_backward``'s hidden test is
:func:`autograder.hidden.bernoulli_masks.hidden_dropout_backward`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dropout_course.checks import backpropagation as checks
from dropout_course.checks.core import allclose, call, fail

from ..reference import backpropagation as reference


def _linear_layers(params):
    """The network's two layers as float64 ``nn.Linear`` modules (weight = W.T)."""
    layers = []
    for w, b in (("W1", "b1"), ("W2", "b2")):
        n_in, n_out = params[w].shape
        layer = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(params[w].T.copy()))
            layer.bias.copy_(torch.from_numpy(params[b]))
        layers.append(layer)
    return layers


def _data(seed, n, d, hidden, classes):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    params = {
        "W1": rng.standard_normal((d, hidden)) / np.sqrt(d),
        "b1": 0.1 * rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
        "b2": 0.1 * rng.standard_normal(classes),
    }
    y = rng.integers(0, classes, size=n)
    return X, params, y


def hidden_softmax_cross_entropy(softmax_cross_entropy):
    """Unseen shapes; loss and gradient compared with the reference and F.cross_entropy."""
    name = "softmax_cross_entropy"
    checks.check_softmax_cross_entropy(softmax_cross_entropy, n=9, classes=7, seed=3)
    rng = np.random.default_rng(31)
    scores = 4.0 * rng.standard_normal((13, 5))
    y = rng.integers(0, 5, size=13)
    described = "softmax_cross_entropy(scores of shape (13, 5), y)"
    loss, dscores = call(softmax_cross_entropy, name, described, scores.copy(), y.copy())
    tensor = torch.from_numpy(scores.copy()).requires_grad_(True)
    torch_loss = F.cross_entropy(tensor, torch.from_numpy(y))
    torch_loss.backward()
    if not (allclose(float(loss), torch_loss.item()) and allclose(dscores, tensor.grad.numpy())):
        fail(
            name,
            f"{described} does not match torch.nn.functional.cross_entropy (mean over the "
            "batch) and its gradient by autograd.",
        )
    ref_loss, ref_dscores = reference.softmax_cross_entropy(scores, y)
    if not (allclose(float(loss), ref_loss) and allclose(dscores, ref_dscores)):
        fail(name, f"{described} differs from the reference.")


def hidden_two_layer_forward(two_layer_forward):
    """Unseen shapes and p; scores compared with nn.Linear layers through the same mask."""
    name = "two_layer_forward"
    checks.check_two_layer_forward(
        two_layer_forward, n=300, d=9, hidden=40, classes=6, p=0.6, seed=4
    )
    X, params, _ = _data(41, 20, 8, 16, 5)
    layer1, layer2 = _linear_layers(params)
    for p in (0.25, 0.8):
        described = f"two_layer_forward(X, params, p={p}, rng, training=True)"
        scores, cache = call(
            two_layer_forward, name, described, X, params, p, np.random.default_rng(42)
        )
        mask = np.asarray(cache["mask"], dtype=np.float64)
        with torch.no_grad():
            hidden = torch.relu(layer1(torch.from_numpy(X)))
            expected = layer2(hidden * torch.from_numpy(mask) / (1.0 - p)).numpy()
        if not allclose(scores, expected):
            fail(
                name,
                f"{described} does not match two torch.nn.Linear layers (weight = W.T) with "
                "a ReLU and inverted dropout through the mask in your cache.",
            )
        if not allclose(scores, reference.scores_given_mask(X, params, mask, p)):
            fail(name, f"{described} differs from the reference given the same mask.")
    described = "two_layer_forward(X, params, p=0.5, rng, training=False)"
    scores, _ = call(
        two_layer_forward,
        name,
        described,
        X,
        params,
        0.5,
        np.random.default_rng(0),
        training=False,
    )
    with torch.no_grad():
        expected = layer2(torch.relu(layer1(torch.from_numpy(X)))).numpy()
    if not allclose(scores, expected):
        fail(name, f"{described} does not match the network without dropout (evaluation).")


def hidden_two_layer_backward(two_layer_backward):
    """Unseen shapes and p; gradients compared with the reference and with autograd."""
    name = "two_layer_backward"
    checks.check_two_layer_backward(
        two_layer_backward, n=11, d=4, hidden=9, classes=5, p=0.7, seed=5
    )
    X, params, y = _data(51, 16, 10, 12, 4)
    p = 0.3
    scores, cache = reference.two_layer_forward(X, params, p, np.random.default_rng(52))
    _, dscores = reference.softmax_cross_entropy(scores, y)
    described = "two_layer_backward(dscores, cache) on a cache of the reference's forward pass"
    grads = call(two_layer_backward, name, described, dscores.copy(), dict(cache))
    if not isinstance(grads, dict) or any(k not in grads for k in reference.PARAM_KEYS):
        fail(name, f"{described} must return a dict with keys W1, b1, W2, b2.")
    # Autograd through the same mask: the loss is F.cross_entropy, the mean over the batch.
    layer1, layer2 = _linear_layers(params)
    keep = torch.from_numpy(np.asarray(cache["mask"], dtype=np.float64))
    hidden = torch.relu(layer1(torch.from_numpy(X))) * keep / (1.0 - p)
    F.cross_entropy(layer2(hidden), torch.from_numpy(y)).backward()
    autograd = {
        "W1": layer1.weight.grad.T.numpy(),
        "b1": layer1.bias.grad.numpy(),
        "W2": layer2.weight.grad.T.numpy(),
        "b2": layer2.bias.grad.numpy(),
    }
    wrong = [k for k in reference.PARAM_KEYS if not allclose(grads[k], autograd[k])]
    if wrong:
        fail(
            name,
            f"{described}: grads[{wrong[0]!r}] does not match PyTorch's autograd through the "
            "same mask (the mask is reused from the cache, never redrawn).",
        )
    expected = reference.two_layer_backward(dscores, cache)
    if any(not allclose(grads[k], expected[k]) for k in reference.PARAM_KEYS):
        fail(name, f"{described} differs from the reference.")


def hidden_numerical_gradient(numerical_gradient):
    """Unseen shapes and h; a network's loss through a closure compared with autograd."""
    name = "numerical_gradient"
    checks.check_numerical_gradient(numerical_gradient, shape=(2, 5), h=0.05, seed=7)
    X, params, y = _data(71, 6, 4, 3, 3)

    def loss(_ignored):  # a smooth loss (no ReLU): softmax regression on tanh features
        hidden = np.tanh(X @ params["W1"] + params["b1"])
        return reference.softmax_cross_entropy(hidden @ params["W2"] + params["b2"], y)[0]

    tensors = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in params.items()}
    hidden = torch.tanh(torch.from_numpy(X) @ tensors["W1"] + tensors["b1"])
    F.cross_entropy(hidden @ tensors["W2"] + tensors["b2"], torch.from_numpy(y)).backward()
    for key in ("W1", "b2"):
        before = params[key].copy()
        described = f"numerical_gradient(lambda _: loss(params), params[{key!r}])"
        grad = np.asarray(call(numerical_gradient, name, described, loss, params[key]))
        if not np.array_equal(params[key], before) and not np.allclose(
            params[key], before, rtol=0, atol=1e-12
        ):
            fail(name, f"{described} did not restore params[{key!r}].")
        if grad.shape != before.shape or not np.allclose(
            grad, tensors[key].grad.numpy(), rtol=1e-6, atol=1e-9
        ):
            fail(
                name,
                f"{described} does not match PyTorch's autograd to 1e-6 (central differences "
                "with h = 1e-5 are that accurate for a smooth loss).",
            )
        if not np.allclose(grad, reference.numerical_gradient(loss, params[key]), atol=1e-9):
            fail(name, f"{described} differs from the reference.")


def hidden_relative_error(relative_error):
    """Unseen shapes and values, symmetry, compared with the reference."""
    name = "relative_error"
    checks.check_relative_error(relative_error, shape=(3, 7), seed=8)
    rng = np.random.default_rng(81)
    a = rng.standard_normal(50)
    b = a + 1e-6 * rng.standard_normal(50)
    a[:3] = 0.0
    b[:2] = 0.0
    for first, second in ((a, b), (b, a), (a[3:], b[3:])):
        described = f"relative_error(a, b) on {first.size} entries"
        value = call(relative_error, name, described, first.copy(), second.copy())
        expected = reference.relative_error(first, second)
        if np.ndim(value) != 0 or not np.isclose(float(value), expected, rtol=1e-9, atol=0):
            fail(name, f"{described} = {value}, the reference gives {expected:.6g}.")
