"""Reference implementations of exercise 04 (backpropagation through thinned networks).

A two-layer ReLU network with inverted dropout on its hidden layer, its softmax cross-entropy
loss, and the numerical gradient check. With ``dropout_backward``,
the COURSE-SPEC function of this exercise.
These are the instructor's answers: the hidden tests compare students' functions with them.

The network, in the course's conventions (``y = x @ W + b``, ``W`` of shape ``(n_in, n_out)``)::

    z1 = X @ W1 + b1            pre-activation, (N, H)
    h = relu(z1)                hidden activations, (N, H)
    h_drop = h * mask / (1 - p) inverted dropout, a fresh mask per example (training only)
    scores = h_drop @ W2 + b2   (N, C)

The cache that ``two_layer_forward`` returns and ``two_layer_backward`` reads is a dict with
exactly the keys of :data:`CACHE_KEYS`.
"""

from __future__ import annotations

import numpy as np

from autograder.content.reference.bernoulli_masks import apply_mask, check_p

#: What the forward pass stores for the backward pass.
CACHE_KEYS = ("X", "z1", "mask", "h_drop", "W2", "p")
#: The parameters of the network, and the keys of the gradient dict.
PARAM_KEYS = ("W1", "b1", "W2", "b2")


def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy of a batch and its gradient with respect to the scores.

    Parameters
    ----------
    scores : numpy.ndarray
        Unnormalised class scores of shape ``(N, C)``; not modified.
    y : numpy.ndarray
        Integer labels in ``0 .. C-1``, shape ``(N,)``.

    Returns
    -------
    loss : float
        ``-mean_i log softmax(scores)[i, y_i]``.
    dscores : numpy.ndarray
        ``(softmax(scores) - onehot(y)) / N``, shape ``(N, C)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)  # exp never overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -float(log_probs[rows, y].mean())
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    return loss, dscores / n


def hidden_layer(X, params):
    """Pre-activation and ReLU output of the hidden layer: ``(z1, relu(z1))``."""
    z1 = X @ params["W1"] + params["b1"]
    return z1, np.maximum(z1, 0.0)


def two_layer_forward(X, params, p, rng, training=True):
    """Forward pass of the two-layer ReLU network with inverted dropout on the hidden layer.

    Parameters
    ----------
    X : numpy.ndarray
        Inputs of shape ``(N, D)``.
    params : dict
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,); not modified.
    p : float
        Drop probability of the hidden units.
    rng : numpy.random.Generator
        Source of the mask (training only).
    training : bool
        Draw a mask (training) or pass the hidden layer on unchanged (evaluation).

    Returns
    -------
    scores : numpy.ndarray
        Shape ``(N, C)``.
    cache : dict
        ``X``, ``z1`` (pre-activation), ``mask`` (0/1 of shape (N, H), ``None`` at
        evaluation), ``h_drop`` (what the output layer received), ``W2`` and ``p``.
    """
    z1, h = hidden_layer(X, params)
    if training:
        mask = rng.random(h.shape) >= p
        h_drop = dropout_backward(h, mask, p)  # the same product as the forward pass
    else:
        mask, h_drop = None, h
    scores = h_drop @ params["W2"] + params["b2"]
    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h_drop, "W2": params["W2"], "p": p}
    return scores, cache


def scores_given_mask(X, params, mask, p):
    """The training-mode scores of :func:`two_layer_forward` for a given ``mask``."""
    _, h = hidden_layer(X, params)
    return dropout_backward(h, np.asarray(mask), p) @ params["W2"] + params["b2"]


def two_layer_backward(dscores, cache):
    """Backward pass of :func:`two_layer_forward`: the gradients of the parameters.

    Parameters
    ----------
    dscores : numpy.ndarray
        Gradient of the loss with respect to the scores, ``(N, C)`` (for a loss averaged
        over the batch it already carries the factor ``1/N``).
    cache : dict
        As returned by :func:`two_layer_forward`.

    Returns
    -------
    dict
        ``W1``, ``b1``, ``W2``, ``b2``: gradients with the parameters' shapes.
    """
    X, z1, mask, h_drop, W2, p = (cache[k] for k in CACHE_KEYS)
    dW2 = h_drop.T @ dscores
    db2 = dscores.sum(axis=0)
    dh_drop = dscores @ W2.T
    dh = dh_drop if mask is None else dropout_backward(dh_drop, mask, p)  # reuse the mask
    dz1 = dh * (z1 > 0)  # ReLU gradient at the pre-activation
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2}


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    Each entry of ``x`` is perturbed IN PLACE (so ``f`` may read ``x`` through a closure),
    ``f`` is called with ``x``, and the entry is restored to its original value.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns a float.
    x : numpy.ndarray
        Float array of any shape; left unchanged on return.
    h : float
        Step.

    Returns
    -------
    numpy.ndarray
        ``(f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every entry ``i``; the shape of ``x``.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        f_plus = float(f(x))
        x[index] = old - h
        f_minus = float(f(x))
        x[index] = old
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a, b):
    """Largest entry-wise relative error ``|a - b| / max(|a| + |b|, 1e-8)``, as a float.

    Parameters
    ----------
    a, b : array-like
        Arrays of the same shape.

    Returns
    -------
    float
        0 for identical arrays (including two arrays of zeros), 1 where one is zero and the
        other is not, never NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def dropout_backward(dout, mask, p, inverted=True):
    """Gradient of training-mode dropout with respect to its input.

    Parameters
    ----------
    dout : numpy.ndarray
        Upstream gradient.
    mask : numpy.ndarray
        The mask the forward pass returned (it is reused, never redrawn).
    p : float
        Drop probability used in the forward pass.
    inverted : bool
        Whether the forward pass was inverted dropout.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``dout``; all zeros when ``p = 1``.
    """
    return apply_mask(dout, mask, check_p(p), inverted)


def missing_scale_error(p):
    """The relative error ``|a - b| / (|a| + |b|)`` between a gradient ``g`` and ``q g`` (a
    backward pass that forgot inverted dropout's ``1/q``, ``q = 1 - p``): ``(1 - q) / (1 + q)``,
    that is ``p / (2 - p)``, the same for every nonzero entry."""
    return p / (2.0 - p)
