"""Experiments of chapter 05 (max-norm regularisation) on scikit-learn's digits.

Every run trains the 64-256-256-10 ReLU network of the course with
:func:`dropout_course.training.train` (SGD with momentum, or Adam), optionally with dropout, an
L2 penalty and the max-norm projection after every update, and records what the chapter plots:
the test and training error, the largest incoming-weight norm of any hidden unit after every
epoch, and the fraction of first-layer units that are dead (zero on every training image).

The radius ``c`` is always given in the paper's units, those of standard dropout (no scaling
while training). PyTorch's ``nn.Dropout`` is inverted dropout: the weights after a layer that
keeps a fraction ``q`` of its inputs compute the same function when they are ``q`` times
smaller, so that layer's radius is ``c * q`` (:func:`radii`). Without dropout it is ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes

from dropout_course.data import digits_split
from dropout_course.training import hidden_linears, mlp, train

#: The network of the course's digits experiments.
SIZES = (64, 256, 256, 10)

#: The regularisers compared in the chapter: (input drop, hidden drop, L2 penalty, c).
METHODS = {
    "none": (0.0, 0.0, 0.0, None),
    "L2": (0.0, 0.0, 1e-3, None),
    "dropout": (0.2, 0.5, 0.0, None),
    "dropout + max-norm": (0.2, 0.5, 0.0, 3.0),
}

#: The paper's radius (its typical value, in its units).
PAPER_C = 3.0

#: SGD with momentum at a step this network can take with dropout on.
RECIPE = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "lr_decay": 1.0}

#: Larger steps in the spirit of the paper's recipe (our values, not the paper's): a high
#: rate, high momentum, a decay per epoch.
LARGE_STEPS = {"optimizer": "sgd", "lr": 0.2, "momentum": 0.95, "lr_decay": 0.95}

#: Colours of the methods in the chapter's figures.
COLORS = {
    "none": "#7f7f7f",
    "L2": "#2ca02c",
    "dropout": "#e07b00",
    "dropout + max-norm": "#1f4e79",
    "hidden-only dropout": "#9467bd",
}


@dataclass
class Run:
    """The outcome of one training run.

    Attributes
    ----------
    method : str
        Name of the regulariser (a key of :data:`METHODS`, or a label of the caller's).
    seed : int
        Seed of the initial weights, the minibatch order and the dropout masks.
    test_error, train_error : float
        Error rates after the last epoch (evaluation mode).
    max_norm : numpy.ndarray
        Largest incoming-weight L2 norm of any hidden unit, after each epoch.
    train_loss : numpy.ndarray
        Mean training loss of each epoch (with dropout on, for dropout runs).
    dead_fraction : float
        Fraction of the first hidden layer's units that output 0 for every training image.
    layer_norms : numpy.ndarray
        Largest incoming-weight norm in each hidden layer at the end of training.
    """

    method: str
    seed: int
    test_error: float
    train_error: float
    max_norm: np.ndarray
    train_loss: np.ndarray
    dead_fraction: float
    layer_norms: np.ndarray


def dead_fraction(model: torch.nn.Module, X: torch.Tensor) -> float:
    """Fraction of the first hidden layer's ReLU units that are zero on every row of ``X``.

    Such a unit receives no gradient from any of these examples, so training cannot revive it.
    """
    first = hidden_linears(model)[0]
    with torch.no_grad():
        active = torch.relu(first(X)) > 0
    return float((~active.any(dim=0)).double().mean())


def radii(model: torch.nn.Sequential, c: float) -> list[float]:
    """The radius of each hidden layer in the weights' own units: ``c`` times the retain
    probability of the ``nn.Dropout`` that feeds the layer (1 where none does)."""
    children = list(model.children())
    hidden = hidden_linears(model)
    found = []
    for i, module in enumerate(children):
        if any(module is layer for layer in hidden):
            before = children[i - 1] if i > 0 else None
            found.append(c * (1 - before.p) if isinstance(before, torch.nn.Dropout) else c)
    return found


def train_run(
    method="none",
    *,
    input_drop=0.0,
    hidden_drop=0.0,
    l2=0.0,
    c=None,
    optimizer="sgd",
    lr=0.2,
    momentum=0.95,
    lr_decay=1.0,
    epochs=100,
    seed=0,
    data=None,
    sizes=SIZES,
) -> Run:
    """Train one network on the digits and return what the chapter reports about it.

    Parameters
    ----------
    method : str
        Label stored in the result.
    input_drop, hidden_drop : float
        Drop probabilities of the inputs and of the hidden units.
    l2 : float
        Strength of the L2 penalty on the weights (see :func:`dropout_course.training.train`).
    c : float or None
        Max-norm radius in the paper's units (each layer's own is :func:`radii`); ``None``
        trains without the constraint.
    optimizer, lr, momentum, lr_decay, epochs : see :func:`dropout_course.training.train`
        ``lr_decay`` multiplies the learning rate after every epoch.
    seed : int
        Seed of everything random in the run.
    data : tuple of torch.Tensor, optional
        ``(X_train, y_train, X_test, y_test)``; default :func:`digits_split` of 300 training
        images with the split of ``seed``.
    sizes : tuple of int
        Layer widths.

    Returns
    -------
    Run
    """
    X, y, X_test, y_test = data if data is not None else digits_split(300, seed=seed)
    torch.manual_seed(seed)
    model = mlp(sizes, input_drop, hidden_drop)
    history = train(
        model,
        X,
        y,
        epochs=epochs,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        l2=l2,
        lr_decay=lr_decay,
        max_norm=None if c is None else radii(model, c),
        seed=seed,
        X_test=X_test,
        y_test=y_test,
    )
    return Run(
        method=method,
        seed=seed,
        test_error=history.test_error[-1],
        train_error=history.train_error[-1],
        max_norm=np.array(history.max_col_norm),
        train_loss=np.array(history.train_loss),
        dead_fraction=dead_fraction(model, X),
        layer_norms=np.array([m.weight.norm(dim=1).max().item() for m in hidden_linears(model)]),
    )


def stability(lr=0.2, c=3.0, *, seeds=(0, 1, 2, 3, 4), epochs=50, momentum=0.95, data=None):
    """A constant high learning rate without dropout, with and without max-norm.

    Parameters
    ----------
    lr, momentum : float
        SGD settings, constant over training (no decay).
    c : float
        The max-norm radius of the constrained runs.
    seeds : sequence of int
        One pair of runs (unconstrained, constrained) per seed.
    epochs : int
        Length of each run.
    data : tuple of torch.Tensor, optional
        As for :func:`train_run`.

    Returns
    -------
    dict
        ``{"free": [Run, ...], "max-norm": [Run, ...]}``, one run per seed each.
    """
    data = data if data is not None else digits_split(300, seed=0)
    common = {"lr": lr, "momentum": momentum, "epochs": epochs, "data": data}
    return {
        "free": [train_run("free", seed=s, **common) for s in seeds],
        "max-norm": [train_run("max-norm", c=c, seed=s, **common) for s in seeds],
    }


def compare(methods=None, *, seeds=(0, 1, 2), epochs=100, recipe=None, data=None):
    """Train every method of ``methods`` with the same optimiser settings, for every seed.

    Parameters
    ----------
    methods : dict, optional
        Name -> (input drop, hidden drop, L2 penalty, c); default :data:`METHODS`.
    seeds : sequence of int
        Seeds; each method is trained once per seed.
    epochs : int
        Length of each run.
    recipe : dict, optional
        Optimiser settings (``optimizer``, ``lr``, ``momentum``, ``lr_decay``); default
        :data:`RECIPE`.
    data : tuple of torch.Tensor, optional
        As for :func:`train_run`; by default every seed has its own split of the digits.

    Returns
    -------
    dict
        Method name -> list of :class:`Run`, in the order of ``seeds``.
    """
    methods = methods if methods is not None else METHODS
    recipe = recipe if recipe is not None else RECIPE
    results = {}
    for name, (input_drop, hidden_drop, l2, c) in methods.items():
        results[name] = [
            train_run(
                name,
                input_drop=input_drop,
                hidden_drop=hidden_drop,
                l2=l2,
                c=c,
                epochs=epochs,
                seed=seed,
                data=data,
                **recipe,
            )
            for seed in seeds
        ]
    return results


def summary(runs: list[Run]) -> dict[str, float]:
    """Mean and standard deviation over seeds of the numbers the chapter quotes (in %)."""
    test = np.array([r.test_error for r in runs]) * 100
    train_ = np.array([r.train_error for r in runs]) * 100
    return {
        "test_mean": float(test.mean()),
        "test_std": float(test.std()),
        "train_mean": float(train_.mean()),
        "peak_norm": float(np.mean([r.max_norm.max() for r in runs])),
        "dead_mean": float(np.mean([r.dead_fraction for r in runs]) * 100),
    }


def paired_difference(results: dict[str, list[Run]], a: str, b: str) -> np.ndarray:
    """Test error of method ``a`` minus that of ``b``, seed by seed, in percentage points."""
    return 100 * np.array(
        [ra.test_error - rb.test_error for ra, rb in zip(results[a], results[b], strict=True)]
    )


# ----------------------------------------------------------------------------- plotting


def plot_norms(ax: Axes, runs: list[Run], color: str, label: str, *, style="-") -> None:
    """Draw the largest hidden-unit norm against the epoch, one thin line per run."""
    for i, run in enumerate(runs):
        epochs = np.arange(1, len(run.max_norm) + 1)
        ax.plot(
            epochs,
            run.max_norm,
            style,
            color=color,
            lw=1.3,
            alpha=0.85,
            label=label if i == 0 else None,
        )


def plot_errors(ax: Axes, results: dict[str, list[Run]], colors=None) -> None:
    """Test error of every seed (dots) and the mean over seeds (bar) for each method."""
    colors = colors or COLORS
    names = list(results)
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for i, name in enumerate(names):
        errors = np.array([r.test_error for r in results[name]]) * 100
        color = colors.get(name, "#333333")
        ax.bar(i, errors.mean(), width=0.6, color=color, alpha=0.3)
        ax.errorbar(i, errors.mean(), yerr=errors.std(), color=color, capsize=5, lw=1.5)
        jitter = rng.uniform(-0.12, 0.12, len(errors))
        ax.plot(i + jitter, errors, "o", color=color, ms=5)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace(" + ", "\n+ ") for n in names], fontsize=8)
    ax.set_ylabel("test error (%)")
    ax.grid(True, axis="y", alpha=0.3)
