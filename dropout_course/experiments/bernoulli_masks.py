"""Experiments of chapter 03 (Bernoulli masks): how many units a mask keeps, how fast the
average over masks approaches the evaluation-mode output, PyTorch's reading of p, and what
training and evaluation mode do to a network's outputs.

Each function is seeded and returns plain numbers and arrays; the chapter draws the figures and
glues the numbers, and ``tests/test_claims_bernoulli_masks.py`` reruns each at reduced size.
Conventions are the course's: ``p`` is the probability of DROPPING a unit, ``q = 1 - p``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: The two scalings of dropout: the factor a kept unit is multiplied by in training.
VARIANTS = ("inverted", "standard")


def kept_counts(n_units: int = 24, p: float = 0.5, n_masks: int = 100_000, seed: int = 1) -> dict:
    """Draw ``n_masks`` masks of ``n_units`` units; the number each keeps, summarised, beside the
    binomial distribution's mean ``n q`` and standard deviation ``sqrt(n p q)``."""
    rng = np.random.default_rng(seed)
    kept = (rng.random((n_masks, n_units)) >= p).sum(axis=1)
    return {
        "mean": float(kept.mean()),
        "std": float(kept.std()),
        "min": int(kept.min()),
        "max": int(kept.max()),
        "theory_mean": n_units * (1 - p),
        "theory_std": math.sqrt(n_units * p * (1 - p)),
    }


def layer_example(rng: np.random.Generator, n_in: int = 50, n_out: int = 10):
    """One example's ReLU outputs ``y`` (n_in,) and a dense layer ``W`` (n_in, n_out), ``b``."""
    y = np.maximum(rng.normal(size=n_in), 0.0)
    W = rng.normal(scale=1 / np.sqrt(n_in), size=(n_in, n_out))
    b = rng.normal(scale=0.1, size=n_out)
    return y, W, b


def mask_average_error(
    *, p: float = 0.5, n_in: int = 50, n_out: int = 10, n_max: int = 20_000, repeats: int = 100,
    seed: int = 2014,
) -> dict:  # fmt: skip
    """The root-mean-square error of the average of ``N`` training-mode outputs ``z = (m * s y)
    W + b`` against the evaluation-mode output, for ``N`` from 1 to ``n_max``, over ``repeats``
    repetitions, for both scalings (inverted: ``s = 1/q`` and evaluation ``y W + b``; standard:
    ``s = 1`` and evaluation ``y (q W) + b``), with the variance of ``z`` that theory predicts.

    Returns ``Ns``, ``rmse`` and ``var_z`` (by variant), ``eval_out`` (by variant), and the
    layer (``y``, ``W``, ``b``) and masks (``keep``, (n_max, n_in)) of the last repetition.
    """
    rng = np.random.default_rng(seed)
    q = 1 - p
    y, W, b = layer_example(rng, n_in, n_out)
    scale = {"inverted": 1 / q, "standard": 1.0}
    eval_out = {"inverted": y @ W + b, "standard": y @ (q * W) + b}
    var_z = {"inverted": (p / q * y**2) @ W**2, "standard": (p * q * y**2) @ W**2}
    Ns = np.unique(np.geomspace(1, n_max, 30).astype(int))
    sq_err = {v: np.zeros(Ns.size) for v in VARIANTS}
    for _ in range(repeats):
        keep = rng.random((n_max, n_in)) >= p  # n_max masks, one per row
        for v in VARIANTS:
            z = (keep * (scale[v] * y)) @ W + b
            running_mean = np.cumsum(z, axis=0)[Ns - 1] / Ns[:, None]
            sq_err[v] += np.mean((running_mean - eval_out[v]) ** 2, axis=1)
    rmse = {v: np.sqrt(sq_err[v] / repeats) for v in VARIANTS}
    return {"Ns": Ns, "rmse": rmse, "var_z": var_z, "eval_out": eval_out, "scale": scale,
            "y": y, "W": W, "b": b, "keep": keep, "p": p}  # fmt: skip


def error_slope(run: dict, variant: str, smallest: int = 10) -> float:
    """The slope of log RMSE against log N for ``N >= smallest`` (-1/2 for an average of
    independent draws)."""
    large = run["Ns"] >= smallest
    return float(np.polyfit(np.log(run["Ns"][large]), np.log(run["rmse"][variant][large]), 1)[0])


def relu_gap(run: dict) -> dict:
    """Jensen's gap after a ReLU: the mean of ``relu(z)`` over the last repetition's masks
    against ``relu`` of the evaluation output (inverted dropout), at the output where they
    differ most, with the standard error of that mean."""
    z = (run["keep"] * (run["y"] / (1 - run["p"]))) @ run["W"] + run["b"]
    relu_mean = np.maximum(z, 0.0).mean(axis=0)
    relu_of_eval = np.maximum(run["eval_out"]["inverted"], 0.0)
    gap = relu_mean - relu_of_eval
    k = int(np.argmax(np.abs(gap)))
    std_err = np.maximum(z[:, k], 0.0).std() / np.sqrt(len(z))
    return {"relu_mean": relu_mean, "relu_of_eval": relu_of_eval, "gap": float(gap[k]),
            "std_err": float(std_err)}  # fmt: skip


def p_convention_trap(paper_p: float = 0.8, n: int = 100_000, seed: int = 0) -> dict:
    """What ``nn.Dropout`` does when given the paper's p (a probability of KEEPING) instead of
    PyTorch's (of DROPPING): the fraction kept and the factor kept units are multiplied by, for
    ``nn.Dropout(p=paper_p)`` ("wrong") and ``nn.Dropout(p=1 - paper_p)`` ("right"), and how much
    larger the wrong one's output variance is."""
    torch.manual_seed(seed)
    ones = torch.ones(n)
    found = {}
    for name, out in [("wrong", nn.Dropout(p=paper_p)(ones)),
                      ("right", nn.Dropout(p=1 - paper_p)(ones))]:  # fmt: skip
        kept = out != 0
        found[name] = {"kept": kept.float().mean().item(), "scale": out[kept][0].item()}
    # Variance of an inverted-dropout output, in units of y**2: p / (1 - p).
    found["var_ratio"] = (paper_p / (1 - paper_p)) / ((1 - paper_p) / paper_p)
    return found


def small_dropout_model(seed: int = 0) -> nn.Sequential:
    """The chapter's network: 8 inputs, 32 ReLU units, dropout p = 0.5, 3 outputs."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(p=0.5), nn.Linear(32, 3))


def mc_average_of_training_outputs(model: nn.Module, x: torch.Tensor, n: int = 20_000,
                                   seed: int = 1) -> dict:  # fmt: skip
    """The mean of ``n`` training-mode outputs for one input ``x`` (1, d), each with its own
    mask, against the evaluation-mode output; the largest difference and the largest standard
    error of the mean. Leaves the model in evaluation mode."""
    torch.manual_seed(seed)
    model.train()
    with torch.no_grad():
        samples = model(x.expand(n, x.shape[1]))
    model.eval()
    with torch.no_grad():
        eval_output = model(x)[0]
    mc_mean = samples.mean(dim=0)
    return {
        "mc_mean": mc_mean,
        "eval_output": eval_output,
        "max_error": (mc_mean - eval_output).abs().max().item(),
        "max_std_err": (samples.std(dim=0) / math.sqrt(len(samples))).max().item(),
    }
