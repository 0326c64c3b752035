"""Experiments of chapter 04, *Backpropagation through thinned networks*.

A two-layer ReLU network with inverted dropout on its hidden layer, in NumPy: its forward and
backward passes and loss are the instructor's (``autograder/content/reference/backpropagation.py``,
the one home of the exercise's answers), beside the deliberately broken backward passes the
chapter warns about, gradient checks (numerical and against PyTorch's autograd with the same
mask), and minibatch training on scikit-learn's digits.

Conventions are the course's: ``p`` is the probability of DROPPING a unit, ``q = 1 - p``, a
mask entry is 1 (kept) or 0 (dropped), and a dense layer is ``y = x @ W + b`` with ``W`` of
shape ``(n_in, n_out)``. Everything is float64 and seeded.

Unlike the exercise's functions, the masks here are drawn by the caller and passed in, so
that every experiment can reuse one mask in several passes.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from threadpoolctl import threadpool_limits

from autograder.content.reference.backpropagation import (
    dropout_backward,
    hidden_layer,
    relative_error,
    two_layer_backward,
)
from autograder.content.reference.backpropagation import numerical_gradient as central_gradient
from autograder.content.reference.backpropagation import softmax_cross_entropy as cross_entropy
from dropout_course.data import digits_split
from dropout_course.widgets.bernoulli_masks import DROPPED_COLOR, KEPT_COLOR

#: The broken backward passes of the chapter, with a short description of each.
BUGS = {
    "new_mask": "new mask drawn in the backward pass",
    "no_scale": "1/(1-p) missing in the backward pass",
    "through_dropped": "gradient sent through dropped units",
    "no_relu": "ReLU gradient missing",
    "undropped_h": "dW2 computed from h before dropout",
}
PARAMS = ("W1", "b1", "W2", "b2")


def one_blas_thread(func):
    """Run ``func`` with NumPy's BLAS limited to one thread.

    The matrices here are tiny; on a shared 2-core machine a multi-threaded BLAS ran these
    experiments up to 60 times slower than one thread (the threads wait for each other).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------- the network


def init_params(sizes=(64, 256, 10), seed=0):
    """He-initialised weights and zero biases of a two-layer network.

    Parameters
    ----------
    sizes : tuple of three int
        Input, hidden and output widths ``(D, H, C)``.
    seed : int
        Seed of the weights.

    Returns
    -------
    dict
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), float64.
    """
    n_in, n_hidden, n_out = sizes
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(scale=np.sqrt(2.0 / n_in), size=(n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(scale=np.sqrt(1.0 / n_hidden), size=(n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def draw_mask(shape, p, rng):
    """A 0/1 float mask of ``shape``, each entry kept (1) with probability ``1 - p``."""
    return (rng.random(shape) >= p).astype(np.float64)


def forward(X, params, mask, p):
    """Scores of the network for a given hidden-layer mask (``None``: no dropout).

    Parameters
    ----------
    X : numpy.ndarray
        Inputs, ``(N, D)``.
    params : dict
        As :func:`init_params` returns.
    mask : numpy.ndarray or None
        0/1 mask of shape ``(N, H)``, one row per example; ``None`` for evaluation.
    p : float
        Drop probability the mask was drawn with (the scale is ``1/(1-p)``), below 1.

    Returns
    -------
    scores : numpy.ndarray
        ``(N, C)``.
    cache : dict
        ``X``, ``z1``, ``h``, ``mask``, ``h_drop``, ``p``: what the backward pass needs.
    """
    z1, h = hidden_layer(X, params)
    h_drop = h if mask is None else dropout_backward(h, mask, p)  # the same product
    scores = h_drop @ params["W2"] + params["b2"]
    return scores, {
        "X": X,
        "z1": z1,
        "h": h,
        "mask": mask,
        "h_drop": h_drop,
        "W2": params["W2"],
        "p": p,
    }


def backward(dscores, cache, params, *, bug=None, rng=None):
    """Gradients of the parameters, correct or with one of the bugs of :data:`BUGS`.

    Parameters
    ----------
    dscores : numpy.ndarray
        Gradient of the loss with respect to the scores, ``(N, C)``.
    cache : dict
        As :func:`forward` returns.
    params : dict
        The parameters (the backward pass needs ``W2``).
    bug : str or None
        ``None`` for the correct backward pass, or a key of :data:`BUGS`.
    rng : numpy.random.Generator, optional
        Source of the (wrong) new mask of the ``"new_mask"`` bug.

    Returns
    -------
    dict
        ``W1``, ``b1``, ``W2``, ``b2``.
    """
    if bug is None:
        return two_layer_backward(dscores, cache | {"W2": params["W2"]})
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; known: {sorted(BUGS)}")
    X, z1, h, mask, h_drop, p = (cache[k] for k in ("X", "z1", "h", "mask", "h_drop", "p"))
    dW2 = (h if bug == "undropped_h" else h_drop).T @ dscores
    dh = dscores @ params["W2"].T  # gradient with respect to h_drop
    if mask is not None:
        q = 1.0 - p
        if bug == "new_mask":
            rng = rng if rng is not None else np.random.default_rng()
            dh = dh * draw_mask(mask.shape, p, rng) / q
        elif bug == "no_scale":
            dh = dh * mask
        elif bug == "through_dropped":
            dh = dh / q
        else:  # the bugs after the mask
            dh = dropout_backward(dh, mask, p)
    dz1 = dh if bug == "no_relu" else dh * (z1 > 0)
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": dscores.sum(axis=0)}


def loss_and_grads(params, X, y, mask, p, *, bug=None, rng=None):
    """Loss of one batch through one thinned network, and the gradients of the parameters."""
    scores, cache = forward(X, params, mask, p)
    loss, dscores = cross_entropy(scores, y)
    return loss, backward(dscores, cache, params, bug=bug, rng=rng)


# ------------------------------------------------------------------------ gradient checking


def numerical_gradient(f, x, h=1e-5, *, central=True, entries=None):
    """Finite-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored; ``f`` reads it through a
    closure.

    Parameters
    ----------
    f : callable
        ``f()`` returns a float.
    x : numpy.ndarray
        The array to differentiate with respect to.
    h : float
        Step.
    central : bool
        Central differences ``(f(x+h) - f(x-h)) / 2h``, or one-sided ``(f(x+h) - f(x)) / h``.
    entries : sequence of index tuples, optional
        Only these entries (the others are left at 0).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    if central and entries is None:
        return central_gradient(lambda _x: f(), x, h)
    grad = np.zeros_like(x, dtype=np.float64)
    f_0 = None if central else f()
    for index in entries if entries is not None else np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        f_plus = f()
        x[index] = old - h if central else old
        f_minus = f() if central else f_0
        x[index] = old
        grad[index] = (f_plus - f_minus) / ((2.0 if central else 1.0) * h)
    return grad


def digits_numpy(n_train=300, seed=0):
    """The course's digits split as NumPy arrays ``(X_train, y_train, X_test, y_test)``.

    Inputs are float64, labels int64; each call returns fresh copies of a cached split.
    """
    return tuple(a.copy() for a in _digits_arrays(n_train, seed))


@functools.lru_cache(maxsize=4)
def _digits_arrays(n_train, seed):
    X_train, y_train, X_test, y_test = digits_split(n_train=n_train, seed=seed)
    return (
        X_train.numpy().astype(np.float64),
        y_train.numpy().astype(np.int64),
        X_test.numpy().astype(np.float64),
        y_test.numpy().astype(np.int64),
    )


def check_batch(n=20, sizes=(64, 32, 10), p=0.5, seed=0):
    """A batch of digits, fresh parameters and one mask: the setting of the gradient checks.

    Returns
    -------
    X, y, params, mask
        Inputs ``(n, D)``, labels, parameters and a ``(n, H)`` mask drawn with ``p``.
    """
    X_train, y_train, _, _ = digits_numpy()
    X, y = X_train[:n], y_train[:n]
    params = init_params(sizes, seed=seed)
    # Non-zero biases, so that their gradients are not trivially checked at a special point.
    rng = np.random.default_rng(seed + 1)
    params["b1"] = 0.1 * rng.standard_normal(sizes[1])
    params["b2"] = 0.1 * rng.standard_normal(sizes[2])
    mask = draw_mask((n, sizes[1]), p, rng)
    return X, y, params, mask


@one_blas_thread
def gradient_check(n=20, sizes=(64, 32, 10), p=0.5, seed=0, h=1e-5):
    """Relative error between numerical and backpropagated gradients, for every bug.

    The numerical gradient differentiates the loss of ONE thinned network (the mask is fixed
    for every evaluation of the loss). The row ``"mask redrawn in f"`` shows what happens when
    it is not: each evaluation of the loss draws a new mask, as a training-mode forward pass
    would, and the correct backward pass is compared with that.

    Returns
    -------
    dict
        ``{case: {param: relative error}}``, cases ``"correct"``, the keys of :data:`BUGS`
        and ``"mask redrawn in f"``.
    """
    X, y, params, mask = check_batch(n, sizes, p, seed)

    def loss():
        return cross_entropy(forward(X, params, mask, p)[0], y)[0]

    numerical = {k: numerical_gradient(loss, params[k], h) for k in PARAMS}
    results = {}
    for case in ("correct", *BUGS):
        bug = None if case == "correct" else case
        _, grads = loss_and_grads(params, X, y, mask, p, bug=bug, rng=np.random.default_rng(9))
        results[case] = {k: relative_error(grads[k], numerical[k]) for k in PARAMS}
    redraw = np.random.default_rng(seed + 2)

    def noisy_loss():
        fresh = draw_mask(mask.shape, p, redraw)
        return cross_entropy(forward(X, params, fresh, p)[0], y)[0]

    _, grads = loss_and_grads(params, X, y, mask, p)
    results["mask redrawn in f"] = {
        k: relative_error(grads[k], numerical_gradient(noisy_loss, params[k], h)) for k in PARAMS
    }
    return results


@one_blas_thread
def step_size_sweep(hs, n=20, sizes=(64, 32, 10), p=0.5, seed=0, n_entries=200):
    """Relative error of central and one-sided differences against backprop, for each step h.

    A random subset of ``n_entries`` entries of ``W1`` and all of ``W2`` is checked.

    Returns
    -------
    dict
        ``{"central": array, "one-sided": array}`` of relative errors, one per ``h``.
    """
    X, y, params, mask = check_batch(n, sizes, p, seed)
    _, grads = loss_and_grads(params, X, y, mask, p)
    rng = np.random.default_rng(seed + 3)
    flat = rng.choice(params["W1"].size, size=min(n_entries, params["W1"].size), replace=False)
    w1_entries = [np.unravel_index(i, params["W1"].shape) for i in flat]

    def loss():
        return cross_entropy(forward(X, params, mask, p)[0], y)[0]

    out = {"central": [], "one-sided": []}
    for h in hs:
        for name, central in (("central", True), ("one-sided", False)):
            num_w1 = numerical_gradient(loss, params["W1"], h, central=central, entries=w1_entries)
            num_w2 = numerical_gradient(loss, params["W2"], h, central=central)
            rows = tuple(np.array(w1_entries).T)
            err = max(
                relative_error(grads["W1"][rows], num_w1[rows]),
                relative_error(grads["W2"], num_w2),
            )
            out[name].append(err)
    return {k: np.array(v) for k, v in out.items()}


def torch_gradients(params, X, y, mask, p):
    """Gradients of the same loss through the same mask, computed by PyTorch's autograd.

    The layers are ``torch.nn.Linear`` modules whose ``weight`` is ``W.T`` (PyTorch stores
    ``(n_out, n_in)``); the mask is applied as a fixed tensor, not drawn by ``nn.Dropout``.

    Returns
    -------
    loss : float
    grads : dict
        ``W1``, ``b1``, ``W2``, ``b2`` in the NumPy layout (weights transposed back).
    """
    layer1, layer2 = _torch_layers(params)
    keep = torch.from_numpy(mask)
    h_drop = torch.relu(layer1(torch.from_numpy(X))) * keep / (1.0 - p)
    loss = torch.nn.functional.cross_entropy(layer2(h_drop), torch.from_numpy(y))
    loss.backward()
    grads = {
        "W1": layer1.weight.grad.T.numpy(),
        "b1": layer1.bias.grad.numpy(),
        "W2": layer2.weight.grad.T.numpy(),
        "b2": layer2.bias.grad.numpy(),
    }
    return loss.item(), grads


def _torch_layers(params):
    """Two float64 ``nn.Linear`` layers holding ``params`` (weights transposed)."""
    layers = []
    for w, b in (("W1", "b1"), ("W2", "b2")):
        n_in, n_out = params[w].shape
        layer = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(params[w].T))
            layer.bias.copy_(torch.from_numpy(params[b]))
        layers.append(layer)
    return layers


@one_blas_thread
def compare_with_torch(n=20, sizes=(64, 32, 10), p=0.5, seed=0):
    """Backprop in NumPy against autograd on one batch: the largest relative error and
    absolute difference over all four gradients, and the two losses."""
    X, y, params, mask = check_batch(n, sizes, p, seed)
    loss, grads = loss_and_grads(params, X, y, mask, p)
    torch_loss, torch_grads = torch_gradients(params, X, y, mask, p)
    return {
        "loss_diff": abs(loss - torch_loss),
        "rel_error": max(relative_error(grads[k], torch_grads[k]) for k in PARAMS),
        "abs_diff": max(float(np.abs(grads[k] - torch_grads[k]).max()) for k in PARAMS),
    }


@one_blas_thread
def per_example_average(n=50, sizes=(64, 32, 10), p=0.5, seed=0):
    """The minibatch gradient against the mean of per-example gradients, each with its own
    mask row; and how many examples of the batch reach each hidden unit.

    Returns
    -------
    dict
        ``max_diff`` (largest absolute difference over the four gradients), ``batch_grads``
        and ``kept_per_unit`` (for each hidden unit, how many examples kept it).
    """
    X_train, y_train, _, _ = digits_numpy()
    X, y = X_train[:n], y_train[:n]
    params = init_params(sizes, seed=seed)
    mask = draw_mask((n, sizes[1]), p, np.random.default_rng(seed + 1))
    _, batch = loss_and_grads(params, X, y, mask, p)
    total = {k: np.zeros_like(v) for k, v in params.items()}
    for i in range(n):
        _, g = loss_and_grads(params, X[i : i + 1], y[i : i + 1], mask[i : i + 1], p)
        for k in PARAMS:
            total[k] += g[k] / n
    return {
        "max_diff": max(float(np.abs(batch[k] - total[k]).max()) for k in PARAMS),
        "batch_grads": batch,
        "kept_per_unit": mask.sum(axis=0),
    }


# ---------------------------------------------------------------------------------- training


@dataclass
class NumpyHistory:
    """Per-epoch training loss and, every ``eval_every`` epochs, test and train error."""

    train_loss: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    seconds: float = 0.0
    params: dict = field(default_factory=dict)


def error_rate(params, X, y):
    """Classification error of the network in evaluation mode (no mask)."""
    return float(np.mean(forward(X, params, None, 0.0)[0].argmax(axis=1) != y))


@one_blas_thread
def train(
    X,
    y,
    *,
    hidden=256,
    p=0.5,
    epochs=200,
    batch_size=50,
    lr=0.1,
    momentum=0.9,
    seed=0,
    bug=None,
    X_test=None,
    y_test=None,
    eval_every=0,
):
    """Train the two-layer network by minibatch SGD with momentum, dropout on the hidden layer.

    Each step draws one mask row per example of the minibatch, runs the forward pass, the
    (possibly broken) backward pass with the SAME mask, and updates
    ``v <- momentum * v - lr * grad``, ``w <- w + v``.

    Parameters
    ----------
    X, y : numpy.ndarray
        Training inputs ``(N, D)`` and integer labels.
    hidden : int
        Hidden units.
    p : float
        Drop probability of the hidden units (0: no dropout).
    epochs, batch_size : int
        Passes over the data, examples per step.
    lr, momentum : float
        SGD settings.
    seed : int
        Seed of the weights, of the minibatch order and of the masks.
    bug : str or None
        A key of :data:`BUGS` to train with a broken backward pass.
    X_test, y_test : numpy.ndarray, optional
        Evaluated every ``eval_every`` epochs and after the last.
    eval_every : int
        0: evaluate after the last epoch only.

    Returns
    -------
    NumpyHistory
    """
    start = time.perf_counter()
    n_classes = int(y.max()) + 1
    params = init_params((X.shape[1], hidden, n_classes), seed=seed)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed + 1000)
    history = NumpyHistory()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        total = 0.0
        for begin in range(0, len(X), batch_size):
            batch = order[begin : begin + batch_size]
            mask = draw_mask((len(batch), hidden), p, rng) if p > 0 else None
            loss, grads = loss_and_grads(params, X[batch], y[batch], mask, p, bug=bug, rng=rng)
            for k in PARAMS:
                velocity[k] = momentum * velocity[k] - lr * grads[k]
                params[k] += velocity[k]
            total += loss * len(batch)
        history.train_loss.append(total / len(X))
        if X_test is not None and ((eval_every and epoch % eval_every == 0) or epoch == epochs):
            history.eval_epochs.append(epoch)
            history.test_error.append(error_rate(params, X_test, y_test))
            history.train_error.append(error_rate(params, X, y))
    history.seconds = time.perf_counter() - start
    history.params = params
    return history


@one_blas_thread
def dropout_comparison(cases, seeds=(0, 1, 2), **train_kwargs):
    """Train every ``(label, p, bug)`` case of ``cases`` with each seed on the digits split.

    Returns
    -------
    dict
        ``{label: list of NumpyHistory}``, one history per seed.
    """
    X_train, y_train, X_test, y_test = digits_numpy()
    return {
        label: [
            train(
                X_train, y_train, p=p, bug=bug, seed=s, X_test=X_test, y_test=y_test, **train_kwargs
            )
            for s in seeds
        ]
        for label, p, bug in cases
    }


@one_blas_thread
def train_alongside_torch(steps=60, hidden=64, p=0.5, batch_size=50, lr=0.1, momentum=0.9, seed=0):
    """Train the NumPy network and a PyTorch copy side by side with the same masks.

    Both start from the same weights, see the same minibatches and the same masks; the
    PyTorch copy gets its gradients from autograd and its update from ``torch.optim.SGD``
    (whose momentum rule ``v <- m v + g``, ``w <- w - lr v`` gives the same iterates).

    Returns
    -------
    dict
        ``max_param_diff`` after ``steps`` steps (largest absolute difference over all
        parameters) and ``max_param`` (largest absolute parameter, for scale).
    """
    X_train, y_train, _, _ = digits_numpy()
    params = init_params((X_train.shape[1], hidden, 10), seed=seed)
    layer1, layer2 = _torch_layers(params)
    opt = torch.optim.SGD([*layer1.parameters(), *layer2.parameters()], lr=lr, momentum=momentum)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        batch = rng.choice(len(X_train), size=batch_size, replace=False)
        mask = draw_mask((batch_size, hidden), p, rng)
        X, y = X_train[batch], y_train[batch]
        _, grads = loss_and_grads(params, X, y, mask, p)
        for k in PARAMS:
            velocity[k] = momentum * velocity[k] - lr * grads[k]
            params[k] += velocity[k]
        h_drop = torch.relu(layer1(torch.from_numpy(X))) * torch.from_numpy(mask) / (1 - p)
        loss = torch.nn.functional.cross_entropy(layer2(h_drop), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch_params = {
        "W1": layer1.weight.detach().T.numpy(),
        "b1": layer1.bias.detach().numpy(),
        "W2": layer2.weight.detach().T.numpy(),
        "b2": layer2.bias.detach().numpy(),
    }
    return {
        "max_param_diff": max(float(np.abs(params[k] - torch_params[k]).max()) for k in PARAMS),
        "max_param": max(float(np.abs(params[k]).max()) for k in PARAMS),
    }


# ---------------------------------------------------------------------------------- figures


@one_blas_thread
def one_example_gradients(p=0.5, hidden=16, seed=0, mask_seed=None, example=0):
    """Gradients of one digit's loss through one thinned network (for the figures).

    Parameters
    ----------
    p : float
        Drop probability of the hidden units, below 1.
    hidden : int
        Hidden units.
    seed : int
        Seed of the weights.
    mask_seed : int, optional
        Seed of the mask (default ``seed + 1``).
    example : int
        Which training digit.

    Returns
    -------
    dict
        ``mask`` (H,), ``z1`` (H,), ``W1`` gradient (D, H), ``W2`` gradient (H, C), ``p``.
    """
    X_train, y_train, _, _ = digits_numpy()
    X, y = X_train[example : example + 1], y_train[example : example + 1]
    params = init_params((X.shape[1], hidden, 10), seed=seed)
    params["b1"] = np.full(hidden, 0.5)  # most units active: most zero rows come from the mask
    mask_rng = np.random.default_rng(seed + 1 if mask_seed is None else mask_seed)
    mask = draw_mask((1, hidden), p, mask_rng) if p > 0 else None
    scores, cache = forward(X, params, mask, p)
    _, dscores = cross_entropy(scores, y)
    grads = backward(dscores, cache, params)
    keep = np.ones(hidden) if mask is None else mask[0]
    return {"mask": keep, "z1": cache["z1"][0], "W1": grads["W1"], "W2": grads["W2"], "p": p}


def gradient_map_figure(result, *, title=None, fig=None):
    """Draw which weights one example's gradient reaches: |dW1| and |dW2|, unit by unit.

    Rows are hidden units. Left: the mask (and ReLU state); middle: the gradient of the
    unit's 64 incoming weights (column ``W1[:, j]``, drawn as a row); right: the gradient of
    its 10 outgoing weights (row ``W2[j, :]``). Dropped units have all-zero rows.

    Parameters
    ----------
    result : dict
        As :func:`one_example_gradients` returns.
    title : str, optional
        Figure title.
    fig : matplotlib.figure.Figure, optional
        An empty figure to draw on (default: a new one, 7 by 4 inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    keep = result["mask"].astype(bool)
    active = result["z1"] > 0
    g1, g2 = result["W1"].T, result["W2"]  # both (H, ...): one row per hidden unit
    fig = fig or plt.figure(figsize=(7.0, 4.0), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[0.6, 6.4, 1.6])
    state = np.where(keep, np.where(active, 2, 1), 0)
    axes[0].imshow(
        state[:, None],
        cmap=ListedColormap(["#f2f2f2", "#9ecae1", KEPT_COLOR]),
        vmin=0,
        vmax=2,
        aspect="auto",
        interpolation="nearest",
    )
    for j in np.flatnonzero(~keep):
        axes[0].text(0, j, "×", ha="center", va="center", color=DROPPED_COLOR, fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks(range(len(keep)))
    axes[0].tick_params(labelsize=8)
    axes[0].set_ylabel("hidden unit $j$", fontsize=9)
    axes[0].set_title("mask", fontsize=9)
    for ax, g, label in (
        (axes[1], g1, r"$\partial L / \partial W_1[:, j]$ (64 incoming weights)"),
        (axes[2], g2, r"$\partial L / \partial W_2[j, :]$"),
    ):
        bound = max(float(np.abs(g).max()), 1e-12)
        image = ax.imshow(
            g,
            cmap="RdBu_r",
            norm=TwoSlopeNorm(0.0, -bound, bound),
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_title(label, fontsize=9)
        for j in np.flatnonzero(~keep):
            ax.axhspan(
                j - 0.5,
                j + 0.5,
                facecolor="none",
                edgecolor=DROPPED_COLOR,
                hatch="///",
                linewidth=0,
            )
        fig.colorbar(image, ax=ax, shrink=0.8, location="bottom", aspect=30)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


#: Labels of the gradient-check cases, in the order of the figure.
CASE_LABELS = {
    "correct": "correct backward pass",
    **BUGS,
    "mask redrawn in f": "correct, but a new mask in every f",
}
PARAM_COLORS = {"W1": "#1f4e79", "b1": "#6baed6", "W2": "#e07b00", "b2": "#fdae6b"}


def gradcheck_figure(results, *, threshold=1e-5):
    """Dot plot of the relative errors of :func:`gradient_check`, one row per case.

    Parameters
    ----------
    results : dict
        As :func:`gradient_check` returns.
    threshold : float
        Drawn as a dashed line: below it, a gradient passes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cases = [c for c in CASE_LABELS if c in results]
    fig, ax = plt.subplots(figsize=(7.2, 3.9), layout="constrained")
    offsets = dict(zip(PARAMS, (-0.24, -0.08, 0.08, 0.24), strict=True))
    for row, case in enumerate(cases):
        for key in PARAMS:
            value = max(results[case][key], 1e-16)
            ax.plot(
                value,
                row + offsets[key],
                "o",
                ms=6,
                color=PARAM_COLORS[key],
                label=key if row == 0 else None,
            )
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.text(threshold * 1.4, -0.45, f"{threshold:g}", fontsize=8, va="center")
    ax.set_xscale("log")
    ax.set_xlim(1e-11, 3)
    ax.set_yticks(range(len(cases)), [CASE_LABELS[c] for c in cases], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("relative error against central differences (largest entry)")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    fig.legend(
        *ax.get_legend_handles_labels(),
        title="gradient of",
        fontsize=8,
        title_fontsize=8,
        loc="outside right center",
        frameon=False,
    )
    return fig


def step_size_figure(hs, sweep):
    """Relative error of central and one-sided differences against the step ``h`` (log-log).

    Parameters
    ----------
    hs : array-like
        The steps.
    sweep : dict
        As :func:`step_size_sweep` returns.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(6.2, 3.8), layout="constrained")
    ax.loglog(hs, sweep["central"], "o-", color=KEPT_COLOR, label="central: (f(x+h) - f(x-h)) / 2h")
    ax.loglog(
        hs, sweep["one-sided"], "s--", color="#e07b00", label="one-sided: (f(x+h) - f(x)) / h"
    )
    ax.set_xlabel("step $h$")
    ax.set_ylabel("relative error (largest entry)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _mean_curve(histories, attribute):
    values = np.array([getattr(h, attribute) for h in histories], dtype=float)
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def training_figure(runs, labels=None, colors=None):
    """Test error (evaluation mode) during training, mean over seeds with the min-max band.

    Parameters
    ----------
    runs : dict
        ``{label: list of NumpyHistory}`` as :func:`dropout_comparison` returns, evaluated
        every few epochs.
    labels : sequence of str, optional
        Which labels to draw (default: all).
    colors : sequence of str, optional
        One colour per label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = list(runs) if labels is None else list(labels)
    colors = colors or ["#7f7f7f", KEPT_COLOR, "#e07b00", "#2ca02c", "#d62728", "#9467bd"]
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for label, color in zip(labels, colors, strict=False):
        epochs = runs[label][0].eval_epochs
        mean, low, high = _mean_curve(runs[label], "test_error")
        ax.plot(epochs, 100 * mean, color=color, label=f"{label} ({len(runs[label])} seeds)")
        ax.fill_between(epochs, 100 * low, 100 * high, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(0, max(8.0, ax.get_ylim()[1]))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def bugs_figure(runs, labels, names):
    """Training loss (through the thinned networks) and final test error of broken backward
    passes next to the correct one.

    Parameters
    ----------
    runs : dict
        ``{label: list of NumpyHistory}``.
    labels : sequence of str
        The labels to draw, the correct one first.
    names : sequence of str
        Short names for the axis of the right panel, one per label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    colors = [KEPT_COLOR, "#d62728", "#e07b00", "#9467bd", "#2ca02c", "#8c564b"]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(7.2, 3.8), width_ratios=[1.0, 1.0], layout="constrained"
    )
    for label, color in zip(labels, colors, strict=False):
        loss = np.median(np.array([h.train_loss for h in runs[label]]), axis=0)
        left.semilogy(np.arange(1, len(loss) + 1), loss, color=color, linewidth=1.2)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (median over seeds)")
    left.grid(True, which="major", alpha=0.3)
    for row, (label, color) in enumerate(zip(labels, colors, strict=False)):
        errors = 100 * np.array([h.test_error[-1] for h in runs[label]])
        right.plot(errors, np.full(errors.shape, row), "o", color=color, alpha=0.7, ms=6)
        right.plot(errors.mean(), row, "|", color="black", ms=14, mew=2)
    right.set_yticks(range(len(labels)), names, fontsize=9)
    for tick, color in zip(right.get_yticklabels(), colors, strict=False):
        tick.set_color(color)  # the colours of the curves on the left
    right.invert_yaxis()
    right.set_xlabel("test error after training (%)")
    right.grid(True, axis="x", alpha=0.3)
    return fig


@one_blas_thread
def worst_entries(n=20, sizes=(64, 32, 10), p=0.5, seed=0, h=1e-5, large=1e-3):
    """Where the correct backward pass's relative error on ``W1`` comes from.

    Returns
    -------
    dict
        ``worst_error`` and ``worst_gradient`` (the entry with the largest relative error and
        its gradient), ``worst_abs_diff`` (its absolute difference), ``large_error`` (largest
        relative error among the entries whose gradient exceeds ``large`` in absolute value)
        and ``median_gradient`` (median absolute nonzero gradient).
    """
    X, y, params, mask = check_batch(n, sizes, p, seed)
    _, grads = loss_and_grads(params, X, y, mask, p)

    def loss():
        return cross_entropy(forward(X, params, mask, p)[0], y)[0]

    a, b = grads["W1"], numerical_gradient(loss, params["W1"], h)
    error = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)
    worst = np.unravel_index(np.argmax(error), error.shape)
    return {
        "worst_error": float(error[worst]),
        "worst_gradient": float(abs(a[worst])),
        "worst_abs_diff": float(abs(a[worst] - b[worst])),
        "large_error": float(error[np.abs(a) > large].max()),
        "median_gradient": float(np.median(np.abs(a[a != 0]))),
    }
