"""Reference implementations of exercise 08 (variants of dropout): ``gaussian_dropout_forward``,
``dropconnect_forward``, ``spatial_dropout_forward`` and ``locked_dropout`` (COURSE-SPEC.md).

The instructor's answers: imported by the hidden tests at grading time, by the chapter's
experiments and by the project's tests; never copied into the website, the released exercises
or the student kit. ``p`` is the drop probability; randomness comes only from ``rng``.
"""

from __future__ import annotations

import numpy as np

from autograder.content.reference.bernoulli_masks import apply_mask, bernoulli_mask, check_p
from autograder.content.reference.rate_and_placement import check_rate


def _floating(x) -> np.ndarray:
    """``x`` as an array; a floating dtype is kept, anything else becomes float64."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def gaussian_dropout_forward(x, p, rng, training=True):
    """Multiply ``x`` by Gaussian noise of mean 1 and variance ``p / (1 - p)``.

    The variance is that of the inverted Bernoulli factor ``r / (1 - p)`` with the same ``p``
    (Srivastava et al., 2014, section 10), so both kinds of noise have the same first two
    moments; nothing is rescaled at evaluation.

    Parameters
    ----------
    x : numpy.ndarray
        Activations; never modified.
    p : float
        Drop probability of the Bernoulli dropout it matches, in ``[0, 1)``.
    rng : numpy.random.Generator
        Source of the noise.
    training : bool
        Training draws noise; evaluation returns ``x``.

    Returns
    -------
    out : numpy.ndarray
        ``x * noise``, of ``x``'s shape and (floating) dtype.
    noise : numpy.ndarray or None
        The factors used, of ``x``'s shape and dtype (all 1 when ``p = 0``); ``None`` in
        evaluation.
    """
    p = check_rate(p)
    x = _floating(x)
    if not training:
        return x.copy(), None
    noise = (1.0 + np.sqrt(p / (1.0 - p)) * rng.standard_normal(x.shape)).astype(x.dtype)
    return x * noise, noise


def dropconnect_forward(x, W, b, p, rng, training=True):
    """A dense layer ``x @ W + b`` whose weights are dropped (DropConnect, inverted).

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, shape ``(batch, n_in)``; never modified.
    W : numpy.ndarray
        Weights, shape ``(n_in, n_out)``.
    b : numpy.ndarray
        Bias, shape ``(n_out,)``; never dropped.
    p : float
        Probability of dropping each weight, in ``[0, 1]``.
    rng : numpy.random.Generator
        Source of the mask.
    training : bool
        Training drops weights; evaluation uses them all, unscaled.

    Returns
    -------
    out : numpy.ndarray
        ``x @ (W * mask) / (1 - p) + b`` in training (``b`` broadcast to ``(batch, n_out)``
        when ``p = 1``), ``x @ W + b`` in evaluation.
    mask : numpy.ndarray or None
        Boolean keep-mask of ``W.shape``, one for the whole batch; ``None`` in evaluation.
    """
    p = check_p(p)
    x, W, b = _floating(x), np.asarray(W), np.asarray(b)
    if not training:
        return x @ W + b, None
    mask = bernoulli_mask(W.shape, p, rng)
    if p == 1.0:
        return np.zeros(x.shape[:-1] + W.shape[1:], dtype=np.result_type(x, W)) + b, mask
    return x @ (W * mask) / (1.0 - p) + b, mask


def spatial_dropout_forward(x, p, rng, training=True):
    """Drop whole feature maps: one keep-or-drop per example and channel (inverted).

    Parameters
    ----------
    x : numpy.ndarray
        Feature maps, shape ``(N, C, H, W)``; never modified.
    p : float
        Probability of dropping each map, in ``[0, 1]``.
    rng : numpy.random.Generator
        Source of the mask.
    training : bool
        Training drops maps; evaluation returns ``x``.

    Returns
    -------
    out : numpy.ndarray
        ``x * mask / (1 - p)`` (zeros when ``p = 1``), of ``x``'s shape and dtype.
    mask : numpy.ndarray or None
        Boolean keep-mask of shape ``(N, C, 1, 1)``; ``None`` in evaluation.
    """
    return _shared_mask(x, p, rng, training, ndim=4, shape=lambda s: (s[0], s[1], 1, 1))


def locked_dropout(x, p, rng, training=True):
    """Drop the same features at every time step (variational or locked dropout, inverted).

    Parameters
    ----------
    x : numpy.ndarray
        A batch of sequences, shape ``(T, N, D)`` (time, batch, features); never modified.
    p : float
        Probability of dropping each feature of each sequence, in ``[0, 1]``.
    rng : numpy.random.Generator
        Source of the mask.
    training : bool
        Training drops features; evaluation returns ``x``.

    Returns
    -------
    out : numpy.ndarray
        ``x * mask / (1 - p)`` (zeros when ``p = 1``), of ``x``'s shape and dtype.
    mask : numpy.ndarray or None
        Boolean keep-mask of shape ``(1, N, D)``, the same at every step; ``None`` in
        evaluation.
    """
    return _shared_mask(x, p, rng, training, ndim=3, shape=lambda s: (1, s[1], s[2]))


def _shared_mask(x, p, rng, training, *, ndim, shape):
    """Inverted dropout with a mask of ``shape(x.shape)``, broadcast over the other axes."""
    p = check_p(p)
    x = _floating(x)
    if x.ndim != ndim:
        raise ValueError(f"x must have {ndim} dimensions, got shape {x.shape}")
    if not training:
        return x.copy(), None
    mask = bernoulli_mask(shape(x.shape), p, rng)
    return apply_mask(x, mask, p), mask
