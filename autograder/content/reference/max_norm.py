"""Reference implementations of exercise 05 (max-norm regularisation): the projection itself,
one step of SGD with momentum followed by it, and the per-epoch learning-rate decay.
With ``max_norm``, the COURSE-SPEC function of this exercise.
"""

from __future__ import annotations

import numpy as np


def momentum_step(W, grad, velocity, lr, momentum, c=None):
    """One update of SGD with momentum, then the max-norm projection of every column.

    Parameters
    ----------
    W : numpy.ndarray
        Weights of shape ``(n_in, n_out)``; column ``j`` is unit ``j``'s incoming weights.
        Not modified.
    grad : numpy.ndarray
        Gradient of the loss with respect to ``W`` (same shape). Not modified.
    velocity : numpy.ndarray
        The velocity of the previous step (zeros before the first step). Not modified.
    lr : float
        Learning rate.
    momentum : float
        Momentum coefficient ``mu`` in ``[0, 1)``.
    c : float or None
        Max-norm radius; ``None`` skips the projection.

    Returns
    -------
    W_new, velocity_new : numpy.ndarray
        ``velocity_new = momentum * velocity - lr * grad`` and
        ``W_new = max_norm(W + velocity_new, c)`` (or ``W + velocity_new`` when ``c`` is None).
        The velocity is the proposed step, before the projection.
    """
    velocity_new = momentum * np.asarray(velocity) - lr * np.asarray(grad)
    W_new = np.asarray(W) + velocity_new
    if c is not None:
        W_new = max_norm(W_new, c)
    return W_new, velocity_new


def learning_rate(step, steps_per_epoch, lr0, decay):
    """The learning rate of optimisation step ``step`` under per-epoch exponential decay.

    Parameters
    ----------
    step : int
        Index of the step, counted from 0.
    steps_per_epoch : int
        Minibatch updates in one epoch (at least 1).
    lr0 : float
        Learning rate of the first epoch.
    decay : float
        Factor applied once at the end of every epoch.

    Returns
    -------
    float
        ``lr0 * decay ** (step // steps_per_epoch)``: every step of epoch ``e`` (counted from
        0) uses ``lr0 * decay**e``. This is ``torch.optim.lr_scheduler.ExponentialLR`` with
        ``gamma=decay`` stepped once per epoch.
    """
    return float(lr0) * float(decay) ** (int(step) // int(steps_per_epoch))


def max_norm(W, c):
    """Project every column of ``W`` onto the L2 ball of radius ``c``.

    Parameters
    ----------
    W : numpy.ndarray
        Weights of shape ``(n_in, n_out)``; column ``j`` is unit ``j``'s incoming weights.
    c : float
        Radius, strictly positive.

    Returns
    -------
    numpy.ndarray
        A new array; columns longer than ``c`` are rescaled to norm ``c``, others unchanged.
    """
    if c <= 0:
        raise ValueError(f"c must be positive, got c={c}")
    W = np.asarray(W)
    norms = np.linalg.norm(W, axis=0, keepdims=True)
    # A column of norm 0 is inside the ball: divide by 1 there instead of by 0.
    scale = np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))
    return (W * scale).astype(W.dtype, copy=False)


def momentum_amplification(momentum):
    """How many plain gradient steps one settled momentum step is worth: with a constant
    gradient ``g`` the velocity ``v = momentum * v - lr * g`` settles where
    ``v = -lr * g / (1 - momentum)``, so the factor is ``1 / (1 - momentum)``."""
    return 1.0 / (1.0 - momentum)
