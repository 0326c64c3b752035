"""Reference implementations of exercise 03 (Bernoulli masks): ``bernoulli_mask``,
``dropout_forward``, the ``Dropout`` module and ``predict`` (COURSE-SPEC.md).

These are the instructor's answers. They are imported by the hidden tests at grading time and by
the project's test suite; they are never copied into the website, the released exercises or the
student kit.
"""

from __future__ import annotations

import numpy as np
import torch


def check_p(p: float) -> float:
    """Return ``p`` as a float, or raise ``ValueError`` if it is not a probability."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a drop probability in [0, 1], got p={p}")
    return p


def apply_mask(x, mask, p, inverted=True):
    """``x * mask``, divided by ``1 - p`` for inverted dropout, in ``x``'s dtype; zeros when
    ``p = 1``. The forward pass applies it to the input, the backward pass to the gradient."""
    x = np.asarray(x)
    if p == 1.0:
        return np.zeros_like(x)
    scale = 1.0 / (1.0 - p) if inverted else 1.0
    return (x * mask * scale).astype(x.dtype, copy=False)


def bernoulli_mask(shape, p, rng):
    """Draw a dropout mask whose entries are kept (1) with probability ``1 - p``.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the mask.
    p : float
        Probability of dropping each unit.
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    numpy.ndarray
        Boolean array of ``shape``, True (keep) independently with probability ``1 - p``.
        (Boolean, so that applying it never changes the dtype of the activations.)
    """
    p = check_p(p)
    return rng.random(shape) >= p


def dropout_forward(x, p, rng, training=True, inverted=True):
    """Apply dropout to ``x``.

    Parameters
    ----------
    x : numpy.ndarray
        Activations; never modified.
    p : float
        Drop probability in ``[0, 1]``.
    rng : numpy.random.Generator
        Source of the mask.
    training : bool
        Training mode draws a mask; evaluation mode does not.
    inverted : bool
        Inverted dropout scales kept units by ``1/(1-p)`` in training; standard dropout scales
        by ``1-p`` at evaluation instead.

    Returns
    -------
    out : numpy.ndarray
        Same shape and dtype as ``x``.
    mask : numpy.ndarray or None
        The mask used in training, ``None`` in evaluation.
    """
    p = check_p(p)
    x = np.asarray(x)
    if not training:
        out = x.copy() if inverted else x * (1.0 - p)
        return out.astype(x.dtype, copy=False), None
    mask = bernoulli_mask(x.shape, p, rng)
    return apply_mask(x, mask, p, inverted), mask


class Dropout(torch.nn.Module):
    """Inverted dropout built from tensor operations.

    Parameters
    ----------
    p : float
        Drop probability in ``[0, 1]``.
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check_p(p)

    def forward(self, x):
        """Drop each element with probability ``p`` in training; identity in evaluation."""
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = torch.rand(x.shape, dtype=torch.float32, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self):
        return f"p={self.p}"


def predict(model, x):
    """Evaluate ``model`` on ``x`` with dropout off and no autograd graph, restoring its mode.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its training flag is restored afterwards.
    x : torch.Tensor
        Input batch.

    Returns
    -------
    torch.Tensor
        The output, which does not require grad.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def dropout_moments(y, p, inverted=True):
    """Mean and variance, over the mask, of one unit's output under dropout.

    A unit with activation ``y`` is kept with probability ``q = 1 - p``. Inverted dropout
    outputs ``y / q`` when kept: mean ``y``, variance ``y**2 / q - y**2 = (p / q) y**2``.
    Standard dropout outputs ``y``: mean ``q y``, variance ``q y**2 - (q y)**2 = p q y**2``.

    Parameters
    ----------
    y : float or array-like
        Activations (element by element).
    p : float
        Drop probability, ``0 <= p < 1``.
    inverted : bool
        Inverted (kept units divided by ``q``) or standard dropout.

    Returns
    -------
    mean, variance : numpy.ndarray
        Of ``y``'s shape (0-d for a number), float64.
    """
    y = np.asarray(y, dtype=np.float64)
    q = 1.0 - p
    if inverted:
        return y.copy(), p / q * y**2
    return q * y, p * q * y**2
