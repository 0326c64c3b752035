"""Reference implementations of exercise 02 (co-adaptation): the instructor's answers.

Used by the hidden tests at grading time and by the project's tests; never copied into the
website, the released exercises or the student kit.
"""

from __future__ import annotations

import numpy as np
import torch


def activation_correlation(H):
    """Mean absolute Pearson correlation between the columns (units) of ``H``.

    Parameters
    ----------
    H : numpy.ndarray
        Activations of shape ``(n_examples, n_units)``: row = example, column = unit.

    Returns
    -------
    float
        The mean of ``|r_jk|`` over all pairs ``j < k`` of columns that are not constant, where
        ``r_jk`` is the Pearson correlation of columns ``j`` and ``k``. A column is constant when
        all its entries are equal (a dead unit); constant columns are left out. With fewer than
        two non-constant columns the result is 0.0.
    """
    H = np.asarray(H, dtype=np.float64)
    varying = H[:, np.ptp(H, axis=0) > 0] if H.shape[0] else H[:, :0]
    m = varying.shape[1]
    if m < 2:
        return 0.0
    centred = varying - varying.mean(axis=0)
    standardised = centred / np.sqrt((centred**2).sum(axis=0))
    C = standardised.T @ standardised
    j, k = np.triu_indices(m, k=1)
    return float(np.abs(C[j, k]).mean())


def activation_sparsity(H):
    """Fraction of exact zeros in ``H`` and the mean activation of each unit.

    Parameters
    ----------
    H : numpy.ndarray
        Activations of shape ``(n_examples, n_units)``.

    Returns
    -------
    zero_fraction : float
        Fraction of the entries of ``H`` that are exactly 0 (negative entries are not zeros).
    unit_means : numpy.ndarray
        Shape ``(n_units,)``: the mean of each column over the examples.
    """
    H = np.asarray(H)
    return float(np.mean(H == 0)), H.mean(axis=0)


def ablation_damage(model, module, units, X, y):
    """Increase in error rate when the outputs ``units`` of ``module`` are set to zero.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier whose output has one column per class.
    module : torch.nn.Module
        A submodule of ``model`` whose output has shape ``(batch, n_units)`` (e.g. an ``nn.ReLU``).
    units : sequence of int
        The columns of ``module``'s output to set to zero (the others are left unchanged).
    X, y : torch.Tensor
        Inputs and integer labels.

    Returns
    -------
    float
        ``error_ablated - error_intact``, both the fraction of rows whose arg-max output differs
        from ``y``, computed in evaluation mode. ``model`` is left as it was: same parameters,
        same training/evaluation mode, no hooks.
    """
    units = [int(u) for u in units]

    def zero_units(_module, _inputs, output):
        output = output.clone()
        output[:, units] = 0
        return output

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            intact = (model(X).argmax(dim=1) != y).double().mean().item()
            handle = module.register_forward_hook(zero_units)
            try:
                ablated = (model(X).argmax(dim=1) != y).double().mean().item()
            finally:
                handle.remove()
    finally:
        model.train(was_training)
    return ablated - intact


def dropout_penalty(c, p):
    """What inverted dropout adds, on average over the masks, to the squared error of a linear
    read-out ``sum_j (r_j / q) c_j`` whose unit contributions are ``c`` (``q = 1 - p``).

    The read-out's mean is ``sum_j c_j`` whatever the mask, so the expected squared error
    against any target is the error of the full network plus the read-out's variance,
    ``sum_j Var[r_j / q] c_j**2 = (p / q) sum_j c_j**2``.

    Parameters
    ----------
    c : array-like
        The contributions ``c_j = v_j h_j`` of the units, one dimension.
    p : float
        Drop probability, ``0 <= p < 1``.

    Returns
    -------
    float
    """
    c = np.asarray(c, dtype=np.float64)
    return float(p / (1.0 - p) * np.sum(c**2))
