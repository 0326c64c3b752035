"""Experiments of chapter 06, *Inference*: how a network trained with dropout predicts.

Weight scaling (the network in evaluation mode) against Monte-Carlo averaging of sampled thinned
networks; why weight scaling works (the normalised geometric mean of all thinned networks, exact
for one softmax layer, approximate with a hidden ReLU layer after the dropout); Monte-Carlo
dropout as an uncertainty estimate on shifted digits, and calibration; and what happens when
Monte-Carlo dropout is run with ``model.train()`` in a network with batch normalisation.

Predictions are computed with the instructor's ``mc_predict`` and
``normalized_geometric_mean`` (``autograder/content/reference/inference.py``).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import rotate
from torch import nn

from autograder.content.reference.inference import mc_predict, normalized_geometric_mean
from dropout_course.data import digits_split
from dropout_course.training import mlp, train

#: The recipe of every digits network here (as chapters 02 and 04): Adam, 300 epochs.
EPOCHS = 300


def trained_mlp(input_drop: float, hidden_drop: float, *, seed=0, data=None, epochs=EPOCHS):
    """The 64-256-256-10 network trained on 300 digits with the given drop probabilities."""
    X, y, _, _ = data if data is not None else digits_split(300, seed=seed)
    torch.manual_seed(seed)
    model = mlp((64, 256, 256, 10), input_drop, hidden_drop)
    train(model, X, y, epochs=epochs, seed=seed)
    return model.eval()


def mask_passes(model: nn.Module, X: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """Softmax probabilities of ``k`` thinned networks (fresh masks each), shape (k, n, C)."""
    torch.manual_seed(seed)
    passes = [mc_predict(model, X, 1)[0] for _ in range(k)]
    return torch.stack(passes).double().numpy()


def weight_scaled(model: nn.Module, X: torch.Tensor) -> np.ndarray:
    """Softmax probabilities of the whole network in evaluation mode (weight scaling)."""
    model.eval()
    with torch.no_grad():
        return F.softmax(model(X), dim=1).double().numpy()


def error_and_nll(probs: np.ndarray, y) -> tuple[float, float]:
    """Error rate and mean negative log-likelihood of predictive probabilities."""
    y = np.asarray(y)
    picked = probs[np.arange(len(y)), y]
    return float(np.mean(probs.argmax(axis=1) != y)), float(-np.mean(np.log(picked)))


def arithmetic_mean(passes: np.ndarray) -> np.ndarray:
    """The plain average of the passes' distributions (the paper's Monte-Carlo averaging)."""
    return passes.mean(axis=0)


def geometric_mean(passes: np.ndarray) -> np.ndarray:
    """The normalised geometric mean of the passes' distributions (Baldi and Sadowski's)."""
    return normalized_geometric_mean(passes)


def mc_curve(passes: np.ndarray, y, ks, draws: int = 5, combine=arithmetic_mean) -> dict:
    """Error and NLL of ``combine`` (:func:`arithmetic_mean` or :func:`geometric_mean`) of
    ``k`` passes, for each ``k``: the mean and standard deviation over up to ``draws`` disjoint
    sets of passes (fewer when ``k`` is large)."""
    result = {"k": np.asarray(ks), "error": [], "error_sd": [], "nll": [], "nll_sd": []}
    for k in ks:
        sets = max(1, min(draws, len(passes) // k))
        scores = np.array([error_and_nll(combine(passes[i * k : (i + 1) * k]), y)
                           for i in range(sets)])  # fmt: skip
        result["error"].append(scores[:, 0].mean())
        result["error_sd"].append(scores[:, 0].std(ddof=1) if sets > 1 else np.nan)
        result["nll"].append(scores[:, 1].mean())
        result["nll_sd"].append(scores[:, 1].std(ddof=1) if sets > 1 else np.nan)
    return {key: np.asarray(value) for key, value in result.items()}


# ----------------------------------------------------------- why weight scaling works


def all_masks(n: int) -> np.ndarray:
    """Every keep-mask of ``n`` units, shape (2**n, n), in binary order."""
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def softmax_layer_means(n=12, classes=10, p=0.5, seed=0) -> dict[str, float]:
    """One softmax layer with inverted dropout on its ``n`` inputs: the largest difference
    between weight scaling and the normalised geometric mean (NGM), and the arithmetic mean
    (AM), of all 2**n thinned networks, each weighted by its probability."""
    rng = np.random.default_rng(seed)
    W, b, x = rng.normal(size=(n, classes)), rng.normal(size=classes), rng.uniform(size=n)
    masks = all_masks(n)
    weight = np.prod(np.where(masks == 1, 1 - p, p), axis=1)  # P(mask)
    logits = (masks * x / (1 - p)) @ W + b
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    ngm = np.exp((weight[:, None] * log_probs).sum(0))
    ngm /= ngm.sum()
    am = (weight[:, None] * np.exp(log_probs)).sum(0)
    scaled = np.exp(x @ W + b - np.logaddexp.reduce(x @ W + b))
    return {"ngm": float(np.abs(ngm - scaled).max()), "am": float(np.abs(am - scaled).max()),
            "masks": len(masks)}  # fmt: skip


def narrow_network(*, seed=0, data=None, hidden=12, epochs=EPOCHS) -> nn.Sequential:
    """A 64-12-12-10 network with dropout (p = 0.5) after its first hidden layer only, so that
    a ReLU layer lies between the dropped units and the softmax; all 2**12 masks can be listed."""
    X, y, _, _ = data if data is not None else digits_split(300, seed=seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))  # fmt: skip
    train(model, X, y, epochs=epochs, seed=seed)
    return model.eval()


def every_thinned_network(model: nn.Sequential, X: torch.Tensor, chunk: int = 64) -> dict:
    """The NGM and the AM of all the thinned networks of :func:`narrow_network`, each weighted
    by its mask's probability (accumulated chunk by chunk), and its weight-scaled prediction."""
    first, drop, second, out = model[0], model[2], model[3], model[5]
    q = 1 - drop.p
    with torch.no_grad():
        h1 = torch.relu(first(X)).double()
        w2, b2 = second.weight.double(), second.bias.double()
        w3, b3 = out.weight.double(), out.bias.double()
        kept = torch.from_numpy(all_masks(h1.shape[1]))
        weights = torch.where(kept == 1, q, 1 - q).prod(dim=1)  # P(mask)
        log_sum = torch.zeros(len(X), w3.shape[0], dtype=torch.float64)
        prob_sum = torch.zeros_like(log_sum)
        for block, weight in zip(kept.split(chunk), weights.split(chunk), strict=True):
            logits = torch.relu((block[:, None, :] / q * h1) @ w2.T + b2) @ w3.T + b3
            log_probs = torch.log_softmax(logits, dim=-1)
            log_sum += (weight[:, None, None] * log_probs).sum(0)
            prob_sum += (weight[:, None, None] * log_probs.exp()).sum(0)
    ngm = torch.softmax(log_sum, dim=-1).numpy()  # exp(expected log p), normalised
    return {"ngm": ngm, "am": prob_sum.numpy(), "masks": len(kept),
            "scaled": weight_scaled(model, X)}  # fmt: skip


# ------------------------------------------------------------------------- uncertainty


def shifted_digits(X: torch.Tensor, kind: str, seed=0) -> torch.Tensor:
    """Test digits moved off the training distribution: ``rotated`` by 90 degrees, or with
    Gaussian ``noise`` of standard deviation 0.5 (pixels clipped to [0, 1])."""
    images = X.numpy().reshape(-1, 8, 8)
    if kind == "rotated":
        moved = np.stack([rotate(image, 90, reshape=False, order=1) for image in images])
    elif kind == "noise":
        moved = images + np.random.default_rng(seed).normal(0, 0.5, size=images.shape)
    else:
        raise ValueError(f"kind must be 'rotated' or 'noise', got {kind!r}")
    return torch.from_numpy(moved.reshape(-1, 64).clip(0, 1).astype(np.float32))


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each distribution along the last axis."""
    return -(probs * np.log(np.clip(probs, 1e-300, None))).sum(axis=-1)


def uncertainty(passes: np.ndarray) -> dict[str, np.ndarray]:
    """Per example: the predictive entropy of the mean of the passes, and its part due to the
    masks disagreeing (mutual information: entropy of the mean minus mean entropy)."""
    total = entropy(passes.mean(0))
    return {"entropy": total, "mutual_information": total - entropy(passes).mean(0)}


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Probability that a score of ``outside`` exceeds one of ``inside`` (ties count half):
    how well the score tells shifted inputs from clean ones (0.5 = not at all)."""
    scores = np.concatenate([inside, outside])
    ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable").astype(float)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    above = ranks[len(inside) :].sum() - len(outside) * (len(outside) - 1) / 2
    return float(above / (len(inside) * len(outside)))


def reliability(probs: np.ndarray, y, bins: int = 10) -> dict[str, np.ndarray]:
    """Confidence bins of the top class: mean confidence, accuracy and share of examples per
    bin, and the expected calibration error (the share-weighted mean gap)."""
    y = np.asarray(y)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    share = np.bincount(which, minlength=bins) / len(y)
    total_conf = np.bincount(which, weights=confidence, minlength=bins)
    total_right = np.bincount(which, weights=correct, minlength=bins)
    count = np.maximum(np.bincount(which, minlength=bins), 1)
    conf, acc = total_conf / count, total_right / count
    return {"confidence": conf, "accuracy": acc, "share": share,
            "ece": float(np.sum(share * np.abs(acc - conf)))}  # fmt: skip


# ----------------------------------------------------------------- the BatchNorm trap


def batchnorm_mlp(*, seed=0, data=None, epochs=EPOCHS) -> nn.Sequential:
    """The digits network with batch normalisation before each ReLU and dropout after it."""
    X, y, _, _ = data if data is not None else digits_split(300, seed=seed)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(256, 10),
    )  # fmt: skip
    train(model, X, y, epochs=epochs, seed=seed)
    return model.eval()


def mc_in_train_mode(model: nn.Module, X: torch.Tensor, k: int, batch: int, seed=1):
    """The mistake: Monte-Carlo dropout with ``model.train()``, ``batch`` inputs at a time.
    BatchNorm then normalises with each batch's own statistics, and updates its running ones
    (the model is changed in place, as it would be)."""
    torch.manual_seed(seed)
    model.train()
    with torch.no_grad():
        means = [torch.stack([F.softmax(model(X[s : s + batch]), 1) for _ in range(k)]).mean(0)
                 for s in range(0, len(X), batch)]  # fmt: skip
    model.eval()
    return torch.cat(means).double().numpy()
