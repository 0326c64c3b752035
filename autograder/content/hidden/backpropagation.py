"""Hidden tests of exercise 04 (backpropagation through thinned networks).

Each starts from the visible check's verdict on inputs the student has not seen, then adds
properties comparing the student's function with the reference implementation and with PyTorch,
which computes the same quantities by autograd: the cross-entropy and its gradient
(``F.cross_entropy``), the forward pass through ``nn.Linear`` layers with the student's own mask,
and the gradients of the parameters through the same mask. ``dropout_backward`` is compared with
PyTorch's autograd through the same mask.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from autograder.content.reference import backpropagation as reference
from autograder.content.reference import bernoulli_masks as mask_reference
from dropout_course.checks import backpropagation as checks
from dropout_course.checks.core import Verdict, agrees_with_exact, allclose, call, fail


def _linear_layers(params):
    """The network's two layers as float64 ``nn.Linear`` modules (weight = W.T). Their
    initialisation, overwritten at once, draws from a fork of the global random state, which is
    left as it was (the check draws nothing from the state a student's call may have set)."""
    layers = []
    for w, b in (("W1", "b1"), ("W2", "b2")):
        n_in, n_out = params[w].shape
        with torch.random.fork_rng(devices=[]):
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


def hidden_softmax_cross_entropy(softmax_cross_entropy) -> Verdict:
    """Unseen shapes; loss and gradient compared with the reference and F.cross_entropy."""
    name = "softmax_cross_entropy"
    verdict = checks.check_softmax_cross_entropy(softmax_cross_entropy, n=9, classes=7, seed=3)
    rng = np.random.default_rng(31)
    scores = 4.0 * rng.standard_normal((13, 5))
    y = rng.integers(0, 5, size=13)
    run = checks.LossCall(
        softmax_cross_entropy, scores, y, "softmax_cross_entropy(scores of shape (13, 5), y)"
    )
    tensor = torch.from_numpy(scores.copy()).requires_grad_(True)
    torch_loss = F.cross_entropy(tensor, torch.from_numpy(y))
    torch_loss.backward()
    ref_loss, ref_dscores = reference.softmax_cross_entropy(scores, y)
    with verdict.expect("agree with torch.nn.functional.cross_entropy and the reference on loss"):
        loss = run.loss()
        if not allclose(loss, torch_loss.item()):
            fail(
                name,
                f"{run.described}: loss = {loss:.6g}, torch.nn.functional.cross_entropy (the "
                f"mean over the batch) gives {torch_loss.item():.6g}.",
            )
        if not allclose(loss, ref_loss):
            fail(name, f"{run.described}: loss differs from the reference.")
    with verdict.expect("agree with autograd through F.cross_entropy and the reference on dscores"):
        dscores = run.dscores()
        if not allclose(dscores, tensor.grad.numpy()):
            fail(
                name,
                f"{run.described}: dscores does not match the gradient that autograd computes "
                "for torch.nn.functional.cross_entropy (the mean over the batch).",
            )
        if not allclose(dscores, ref_dscores):
            fail(name, f"{run.described}: dscores differs from the reference.")
    return verdict


def hidden_two_layer_forward(two_layer_forward) -> Verdict:
    """Unseen shapes and p; scores compared with nn.Linear layers through the same mask."""
    name = "two_layer_forward"
    verdict = checks.check_two_layer_forward(
        two_layer_forward, n=300, d=9, hidden=40, classes=6, p=0.6, seed=4
    )
    X, params, _ = _data(41, 20, 8, 16, 5)
    layer1, layer2 = _linear_layers(params)
    runs = [checks.ForwardRun(two_layer_forward, X, params, p, seed=42) for p in (0.25, 0.8)]
    with verdict.expect("agree with two torch.nn.Linear layers and the reference through the "
                        "mask in its cache (p = 0.25 and 0.8)"):  # fmt: skip
        for run in runs:
            scores, mask, p = run.scores(), run.kept(), run.p
            with torch.no_grad():
                hidden = torch.relu(layer1(torch.from_numpy(X)))
                expected = layer2(hidden * torch.from_numpy(mask) / (1.0 - p)).numpy()
            if not allclose(scores, expected):
                fail(
                    name,
                    f"{run.described} does not match two torch.nn.Linear layers (weight = W.T) "
                    "with a ReLU and inverted dropout through the mask in your cache.",
                )
            if not allclose(scores, reference.scores_given_mask(X, params, mask, p)):
                fail(name, f"{run.described} differs from the reference given the same mask.")
    evaluation = checks.ForwardRun(two_layer_forward, X, params, 0.5, training=False)
    with verdict.expect("agree with the network without dropout at evaluation (p = 0.5)"):
        with torch.no_grad():
            expected = layer2(torch.relu(layer1(torch.from_numpy(X)))).numpy()
        if not allclose(evaluation.scores(), expected):
            fail(
                name,
                f"{evaluation.described} does not match the network without dropout "
                "(two torch.nn.Linear layers and a ReLU): dropout is off at evaluation.",
            )
    return verdict


def _autograd_gradients(X, params, y, mask, p):
    """The parameters' gradients of F.cross_entropy (the mean) through ``mask``, by autograd."""
    layer1, layer2 = _linear_layers(params)
    keep = torch.from_numpy(np.asarray(mask, dtype=np.float64))
    hidden = torch.relu(layer1(torch.from_numpy(X))) * keep / (1.0 - p)
    F.cross_entropy(layer2(hidden), torch.from_numpy(y)).backward()
    return {
        "W1": layer1.weight.grad.T.numpy(),
        "b1": layer1.bias.grad.numpy(),
        "W2": layer2.weight.grad.T.numpy(),
        "b2": layer2.bias.grad.numpy(),
    }


def hidden_two_layer_backward(two_layer_backward) -> Verdict:
    """Unseen shapes and p; gradients compared with the reference and with autograd."""
    name = "two_layer_backward"
    verdict = checks.check_two_layer_backward(
        two_layer_backward, n=11, d=4, hidden=9, classes=5, p=0.7, seed=5
    )
    X, params, y = _data(51, 16, 10, 12, 4)
    p = 0.3
    scores, cache = reference.two_layer_forward(X, params, p, np.random.default_rng(52))
    cache = {**cache, "mask": np.asarray(cache["mask"], dtype=np.float64)}  # 0/1 floats
    _, dscores = reference.softmax_cross_entropy(scores, y)
    case = {"cache": cache, "params": params, "dscores": dscores, "p": p}
    run = checks.BackwardRun(
        two_layer_backward,
        case,
        "two_layer_backward(dscores, cache) on a cache of the reference's forward pass",
    )
    autograd = _autograd_gradients(X, params, y, cache["mask"], p)
    expected = reference.two_layer_backward(dscores, cache)
    for keys, layer in ((("W2", "b2"), "output"), (("W1", "b1"), "hidden")):
        with verdict.expect(
            f"agree with autograd and the reference on the {layer} layer's gradients "
            f"({', '.join(keys)}) through the same mask"
        ):
            for key in keys:
                grad = run.grad(key)
                if not allclose(grad, autograd[key]):
                    fail(
                        name,
                        f"{run.described}: grads[{key!r}] does not match PyTorch's autograd "
                        "through the same mask (the mask is reused from the cache, never "
                        "redrawn).",
                    )
                if not allclose(grad, expected[key]):
                    fail(name, f"{run.described}: grads[{key!r}] differs from the reference.")
    return verdict


def hidden_numerical_gradient(numerical_gradient) -> Verdict:
    """Unseen shapes and h; a network's loss through a closure compared with autograd."""
    name = "numerical_gradient"
    verdict = checks.check_numerical_gradient(numerical_gradient, shape=(2, 5), h=0.05, seed=7)
    X, params, y = _data(71, 6, 4, 3, 3)

    def loss_of(params, X=X, y=y):
        def loss(_ignored):  # a smooth loss (no ReLU): softmax regression on tanh features
            hidden = np.tanh(X @ params["W1"] + params["b1"])
            return reference.softmax_cross_entropy(hidden @ params["W2"] + params["b2"], y)[0]

        return loss

    tensors = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in params.items()}
    hidden = torch.tanh(torch.from_numpy(X) @ tensors["W1"] + tensors["b1"])
    F.cross_entropy(hidden @ tensors["W2"] + tensors["b2"], torch.from_numpy(y)).backward()

    def closure_run(key):
        # The closure reads the very array passed as x, as lambda _: loss(params) does, and
        # copies of everything else: nothing the call reaches is the check's own.
        def make_f(given):
            own = {k: v.copy() for k, v in params.items()}
            return loss_of({**own, key: given}, X.copy(), y.copy())

        described = f"numerical_gradient(lambda _: loss(params), params[{key!r}])"
        return checks.GradientRun(numerical_gradient, params[key], make_f, described)

    with verdict.expect("agree with PyTorch's autograd and the reference on a network's loss"):
        for key in ("W1", "b2"):
            run = closure_run(key)
            grad = run.values()
            if not np.allclose(grad, tensors[key].grad.numpy(), rtol=1e-6, atol=1e-9):
                fail(
                    name,
                    f"{run.described} does not match PyTorch's autograd to 1e-6 (central "
                    "differences with h = 1e-5 are that accurate for a smooth loss).",
                )
            x = params[key].copy()
            ref = reference.numerical_gradient(loss_of({**params, key: x}), x)
            if not np.allclose(grad, ref, atol=1e-9):
                fail(name, f"{run.described} differs from the reference.")
    return verdict


def hidden_relative_error(relative_error) -> Verdict:
    """Unseen shapes and values, both orders, compared with the reference."""
    name = "relative_error"
    verdict = checks.check_relative_error(relative_error, shape=(3, 7), seed=8)
    rng = np.random.default_rng(81)
    a = rng.standard_normal(50)
    b = a + 1e-6 * rng.standard_normal(50)
    a[:3] = 0.0
    b[:2] = 0.0
    runs = [
        checks.RelativeCall(relative_error, u, v, f"relative_error(a, b) on {u.size} entries")
        for u, v in ((a, b), (b, a), (a[3:], b[3:]))
    ]
    with verdict.expect("agree with the reference on arrays with zeros and tiny differences"):
        for run in runs:
            expected = reference.relative_error(run.a, run.b)
            if not np.isclose(run.value(), expected, rtol=1e-6, atol=0):
                fail(name, f"{run.described} = {run.value():.6g}, the reference gives "
                           f"{expected:.6g}.")  # fmt: skip
    return verdict


def hidden_dropout_backward(dropout_backward) -> Verdict:
    """Unseen p, a 3-D float32 gradient, and agreement with PyTorch's autograd."""
    verdict = checks.check_dropout_backward(
        dropout_backward, p=0.8, shape=(5, 6, 7), seed=2, dtype=np.float32
    )
    rng = np.random.default_rng(6)
    dout = rng.standard_normal((9, 11))
    mask = mask_reference.bernoulli_mask((9, 11), 0.35, rng)
    for inverted in (True, False):
        with verdict.expect(f"match PyTorch's autograd and the reference (inverted={inverted})"):
            described = f"dropout_backward(dout, mask, p=0.35, inverted={inverted})"
            grad = np.asarray(
                call(dropout_backward, "dropout_backward", described, dout, mask, 0.35,
                     inverted=inverted)
            )  # fmt: skip
            x = torch.randn(9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
            x.requires_grad_(True)
            scale = 1.0 / 0.65 if inverted else 1.0
            (x * torch.from_numpy(mask) * scale).backward(torch.from_numpy(dout))
            if not allclose(grad, x.grad.numpy()):
                fail(
                    "dropout_backward",
                    f"{described} does not match PyTorch's autograd through the same mask.",
                )
            if not allclose(grad, reference.dropout_backward(dout, mask, 0.35, inverted)):
                fail("dropout_backward", f"{described} differs from the reference.")
    return verdict


def hidden_missing_scale_error(missing_scale_error) -> Verdict:
    """Unseen drop probabilities, and the exact value of the reference."""
    verdict = Verdict(checks.MISSING_SCALE)
    checks.missing_scale_properties(verdict, missing_scale_error, (0.1, 0.35, 0.75))
    with verdict.expect("agree with the exact value, p / (2 - p)"):
        why = "the wrong gradient is q g, so |g - q g| / (|g| + |q g|) = (1 - q) / (1 + q)."
        agrees_with_exact(
            checks.MISSING_SCALE,
            missing_scale_error,
            [(0.05,), (0.6,), (0.99,)],
            reference.missing_scale_error,
            why,
        )
    return verdict


def hidden_numpy_experiment(numpy_experiment) -> Verdict:
    """Other rates, another seed: the same properties (the errors depend on the student's own
    run, so they are not compared)."""
    verdict = Verdict(checks.NUMPY_EXPERIMENT.name)
    checks.experiment_properties(
        verdict, numpy_experiment, (0.2, 0.8), 4, 2, checks.NUMPY_EXPERIMENT
    )
    return verdict
