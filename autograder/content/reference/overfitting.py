"""Reference implementations of exercise 01 (*Overfitting*): the instructor's answers.

Imported by the hidden tests at grading time and by the project's tests; never copied into the
website, the released exercises or the student kit.
"""

from __future__ import annotations

import numpy as np


def generalisation_gap(train_losses, val_losses):
    """Per-epoch generalisation gap, validation minus training.

    Parameters
    ----------
    train_losses, val_losses : sequence of float
        One value per epoch (losses or error rates), the same number of epochs.

    Returns
    -------
    numpy.ndarray
        ``val_losses[t] - train_losses[t]`` for every epoch ``t``, as floats; negative where
        the model does better on the validation set.

    Raises
    ------
    ValueError
        If the two sequences have different lengths.
    """
    train = np.asarray(train_losses, dtype=np.float64)
    val = np.asarray(val_losses, dtype=np.float64)
    if train.ndim != 1 or val.ndim != 1 or len(train) != len(val):
        raise ValueError(
            "train_losses and val_losses must be sequences of the same length, "
            f"got lengths {train.size} and {val.size}"
        )
    return val - train


def bias_variance(predictions, truth):
    """Squared bias and variance of a stack of fits.

    Parameters
    ----------
    predictions : numpy.ndarray
        Shape ``(n_models, n_points)``: row ``k`` holds the predictions, at ``n_points``
        inputs, of the model trained on the ``k``-th independent training set.
    truth : numpy.ndarray
        Shape ``(n_points,)``: the true function at the same inputs.

    Returns
    -------
    bias2, variance : float
        ``bias2`` is the mean over the points of (average prediction - truth)^2; ``variance``
        the mean over the points of the variance of the predictions around their average,
        dividing by ``n_models`` (ddof = 0). Then ``bias2 + variance`` equals the mean over
        models and points of (prediction - truth)^2.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    average = predictions.mean(axis=0)
    bias2 = float(np.mean((average - truth) ** 2))
    variance = float(np.mean(np.mean((predictions - average) ** 2, axis=0)))
    return bias2, variance


def early_stopping_epoch(val_losses, patience):
    """The epoch early stopping keeps, and the epoch at which it stops.

    Parameters
    ----------
    val_losses : sequence of float
        ``val_losses[t]`` is the validation loss after epoch ``t + 1`` (epochs count from 1).
    patience : int
        Training stops once this many epochs in a row have not improved (at least 1).

    Returns
    -------
    best_epoch, stop_epoch : int
        Epoch 1 is the best so far; a later epoch improves when its loss is strictly lower
        than the best so far (a tie does not). ``stop_epoch`` is the first epoch at which
        ``patience`` epochs in a row have not improved, or the last epoch if that never
        happens; ``best_epoch`` is the best epoch up to ``stop_epoch``. Both count from 1.

    Raises
    ------
    ValueError
        If ``patience < 1`` or ``val_losses`` is empty.
    """
    if patience < 1:
        raise ValueError(f"patience must be at least 1, got patience={patience}")
    losses = [float(v) for v in val_losses]
    if not losses:
        raise ValueError("val_losses is empty: there is no epoch to keep")
    best_epoch, best, waited = 1, losses[0], 0
    for epoch, loss in enumerate(losses[1:], start=2):
        if loss < best:
            best_epoch, best, waited = epoch, loss, 0
        else:
            waited += 1
            if waited == patience:
                return best_epoch, epoch
    return best_epoch, len(losses)


def l2_penalty(params, lam):
    """The L2 penalty ``(lam / 2) * sum ||W||^2`` over the weight matrices, and its gradient.

    Parameters
    ----------
    params : list of numpy.ndarray
        Weight matrices (two or more dimensions) and bias vectors (one dimension), e.g.
        ``[W1, b1, W2, b2]``. Not modified.
    lam : float
        Strength of the penalty, ``lam >= 0``.

    Returns
    -------
    penalty : float
        ``lam / 2`` times the sum of the squares of every entry of every weight matrix;
        biases are not penalised.
    grads : list of numpy.ndarray
        One new array per entry of ``params``, of the same shape: ``lam * W`` for a weight
        matrix, zeros for a bias.

    Raises
    ------
    ValueError
        If ``lam < 0``.
    """
    if lam < 0:
        raise ValueError(f"lam must be non-negative, got lam={lam}")
    penalty = 0.0
    grads = []
    for param in params:
        param = np.asarray(param)
        if param.ndim >= 2:
            penalty += 0.5 * lam * float(np.sum(param.astype(np.float64) ** 2))
            grads.append(lam * param)
        else:
            grads.append(np.zeros_like(param))
    return penalty, grads


def expected_gap(noise_variance, n_coefficients, n):
    """Mean generalisation gap of a least-squares fit with ``n_coefficients`` coefficients to
    ``n`` noisy points of a function it can represent, measured against fresh noise at the same
    inputs: the training MSE is ``sigma^2 (1 - k/n)`` and the fresh-noise MSE
    ``sigma^2 (1 + k/n)``, so the gap is ``2 sigma^2 k / n``."""
    return 2.0 * noise_variance * n_coefficients / n
