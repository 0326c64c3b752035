"""Reference implementations of exercise 06 (inference with a dropout network): Monte-Carlo
prediction with only the dropout modules sampling, and the normalised geometric mean of
predictive distributions. The COURSE-SPEC functions of this exercise.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: The dropout modules PyTorch provides; a module of one's own counts when its class name ends
#: in "Dropout".
TORCH_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def is_dropout(module: nn.Module) -> bool:
    """Whether ``module`` is a dropout module (PyTorch's, or a class named ``...Dropout``)."""
    return isinstance(module, TORCH_DROPOUTS) or type(module).__name__.endswith("Dropout")


def mc_predict(model: nn.Module, x: torch.Tensor, samples: int):
    """Monte-Carlo dropout prediction.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits of shape ``(batch, classes)``.
    x : torch.Tensor
        Inputs of shape ``(batch, ...)``.
    samples : int
        Forward passes, each with fresh dropout masks; at least 1.

    Returns
    -------
    mean, std : torch.Tensor
        The mean and the population standard deviation (ddof 0) of the softmax probabilities
        over the passes, both of shape ``(batch, classes)``. Every dropout module samples and
        every other module (BatchNorm above all) is in evaluation mode during the passes; every
        module's mode is restored afterwards; no autograd graph is built.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    modes = [(module, module.training) for module in model.modules()]
    try:
        for module, _ in modes:
            module.training = is_dropout(module)  # each module itself, not its children
        with torch.no_grad():
            probs = torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)])
    finally:
        for module, mode in modes:
            module.training = mode
    return probs.mean(dim=0), probs.std(dim=0, correction=0)


def normalized_geometric_mean(probs: np.ndarray) -> np.ndarray:
    """The normalised geometric mean of ``k`` predictive distributions.

    Parameters
    ----------
    probs : numpy.ndarray
        Shape ``(k, batch, classes)``: one distribution per mask (rows sum to 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(batch, classes)``: for each row, the geometric mean over the ``k``
        distributions of each class's probability, renormalised to sum to 1. Computed in log
        space, so that it stays exact for probabilities as small as 1e-300 and any ``k``; a
        class with probability 0 in any distribution gets 0.
    """
    probs = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.log(probs)
    mean_log = logs.mean(axis=0)  # -inf where any distribution gives the class 0
    top = mean_log.max(axis=-1, keepdims=True)
    weights = np.exp(mean_log - top)
    return weights / weights.sum(axis=-1, keepdims=True)
