"""Hidden tests of exercise 06 (inference): the contracts of ``mc_predict``,
``normalized_geometric_mean`` and ``ngm_logits`` on networks and inputs the student has not
seen, compared with the references.

``mc_predict`` is checked on another network (another rate, width and number of classes)
against the exact moments of its thinned networks, which is what the reference's mean and
standard deviation converge to; from a start in which the modules are in different modes
(dropout off, BatchNorm in training: the mode of each must come back); and with
``nn.Dropout1d``, ``nn.Dropout2d``, ``nn.Dropout3d`` and a dropout class of one's own as the
network's only dropout module. ``normalized_geometric_mean`` is compared with the reference and
with PyTorch's ``softmax`` of the mean ``log``; ``ngm_logits`` with the exact formula on a layer
too wide to list its masks.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.content.reference import inference as reference
from dropout_course.checks import inference as checks
from dropout_course.checks.core import Verdict

__all__ = ["hidden_mc_predict", "hidden_ngm_logits", "hidden_normalized_geometric_mean"]


def _mixed_modes(net: checks.Network) -> list[bool]:
    """Dropout modules in evaluation mode and every other module in training mode: the
    opposite of what the passes need, so that only a per-module restore gets it back."""
    return [not reference.is_dropout(m) for m in net.model.modules()]


def hidden_mc_predict(mc_predict, *, seed=7) -> Verdict:
    verdict = Verdict(checks.MC)
    net = checks.dropout_network(seed=seed, p=0.3, hidden=5, classes=3, rows=4, copies=500)
    checks.mc_predict_properties(verdict, mc_predict, net, seed=seed, mixed=_mixed_modes(net))
    kinds = {
        "nn.Dropout1d": checks.reshaped_dropout_network(nn.Dropout1d(0.5), (3, 2), seed=seed),
        "nn.Dropout2d": checks.reshaped_dropout_network(nn.Dropout2d(0.5), (3, 2, 1), seed=seed),
        "nn.Dropout3d": checks.reshaped_dropout_network(nn.Dropout3d(0.5), (3, 2, 1, 1), seed=seed),
        "a BlockDropout of one's own": checks.dropout_network(
            seed=seed, dropout=checks.BlockDropout(0.3)
        ),
    }
    checks.dropout_kinds_properties(verdict, mc_predict, kinds, seed)
    checks.samples_properties(verdict, mc_predict, checks.dropout_network(seed=seed, copies=2))
    return verdict


def _torch_ngm(probs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(torch.log(torch.from_numpy(probs)).mean(0), dim=-1).numpy()


def hidden_normalized_geometric_mean(normalized_geometric_mean, *, seed=23) -> Verdict:
    verdict = checks.check_normalized_geometric_mean(normalized_geometric_mean, seed=seed)
    ngm = normalized_geometric_mean
    with verdict.expect("agree with the reference and with PyTorch's softmax of the mean log"):
        probs = checks.random_distributions(7, 9, 10, seed=seed + 10, spread=6.0)
        checks.check_ngm_case(ngm, probs, "7 distributions of 10 classes",
                              reference.normalized_geometric_mean)  # fmt: skip
        probs = checks.random_distributions(3, 2, 2, seed=seed + 11)
        checks.check_ngm_case(ngm, probs, "two classes", _torch_ngm)
    return verdict


def hidden_ngm_logits(ngm_logits, *, seed=31) -> Verdict:
    """The exact formula, ``(1 - p) x @ W + b`` up to a constant per row, on 40 inputs."""
    verdict = Verdict(checks.NGM_LOGITS)
    how = "the softmax of the expected logits, (1 - p) x @ W + b (Baldi and Sadowski)"
    with verdict.expect("give logits whose softmax is the thinned networks' NGM"):
        for i, p in enumerate((0.1, 0.5, 0.9)):
            x, W, b = checks.softmax_layer(seed + i, 6, 40, 5)
            exact = checks.softmax((1 - p) * (x @ W) + b)
            checks.check_ngm_logits_case(ngm_logits, x, W, b, p, exact, how)
    return verdict
