"""Experiments of chapter 01, *Overfitting*, and of its appendix on weight penalties.

Two test beds. Polynomial regression on noisy points of sin(x) (NumPy only, so hundreds of
training sets take a second): capacity, training-set size, noise, bias and variance, and the
L2 and L1 penalties. A 64-256-256-10 ReLU network on scikit-learn's digits (PyTorch): training
and validation curves drifting apart, early stopping, weight penalties and more data.

Conventions of the chapter: the gap is validation (or test) loss minus training loss; an L2
penalty is ``lam / 2 * ||W||^2`` summed over the weight matrices (biases are not penalised), so
its gradient is ``lam * W``; an L1 penalty is ``lam * sum |W|``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from numpy.polynomial import legendre
from sklearn.linear_model import Lasso

from dropout_course.data import digits_split, noisy_sine
from dropout_course.training import mlp, train

#: The interval of the 1-D problem; x is mapped to [-1, 1] for the Legendre basis.
LOW, HIGH = -3.0, 3.0
TRUE_COLOR = "#7f7f7f"
FIT_COLOR = "#e07b00"
POINT_COLOR = "#1f4e79"
TRAIN_COLOR = "#1f4e79"
VAL_COLOR = "#e07b00"


# ------------------------------------------------------------------------------ polynomials


def polynomial_features(x, degree):
    """Legendre polynomials P_0 ... P_degree of ``x`` mapped from [-3, 3] to [-1, 1].

    The Legendre basis spans the same functions as 1, x, ..., x^degree but keeps the
    least-squares problem well conditioned up to degree 20 or so.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, any shape; flattened.
    degree : int
        Highest degree.

    Returns
    -------
    numpy.ndarray
        Shape ``(x.size, degree + 1)``; column 0 is the constant.
    """
    u = (np.ravel(x) - LOW) / (HIGH - LOW) * 2.0 - 1.0
    return legendre.legvander(u, degree)


def fit_polynomial(x, y, degree, lam=0.0):
    """Fit a polynomial by minimising training MSE + (lam / 2) * ||w[1:]||^2.

    Setting the gradient to zero gives ``(Phi^T Phi + (n lam / 2) D) w = Phi^T y`` with ``D``
    the identity except ``D[0, 0] = 0`` (the constant is not penalised, like a bias). It is
    solved as a least-squares problem on an augmented system, which is stable even when
    ``Phi^T Phi`` is singular (more coefficients than points, ``lam = 0``: then the
    minimum-norm interpolant is returned).

    Parameters
    ----------
    x, y : numpy.ndarray
        Training points, shape ``(n, 1)`` or ``(n,)``.
    degree : int
        Degree of the polynomial (its capacity).
    lam : float
        Strength of the L2 penalty.

    Returns
    -------
    numpy.ndarray
        The ``degree + 1`` Legendre coefficients.
    """
    phi = polynomial_features(x, degree)
    target = np.ravel(y)
    if lam > 0:
        n = len(target)
        rows = np.sqrt(n * lam / 2.0) * np.eye(degree + 1)[1:]
        phi = np.vstack([phi, rows])
        target = np.concatenate([target, np.zeros(degree)])
    return np.linalg.lstsq(phi, target, rcond=None)[0]


def predict_polynomial(w, x):
    """Evaluate the polynomial with Legendre coefficients ``w`` at ``x`` (returned flat)."""
    return polynomial_features(x, len(w) - 1) @ w


def mse(y_true, y_pred):
    """Mean squared error of two arrays of the same number of elements."""
    return float(np.mean((np.ravel(y_true) - np.ravel(y_pred)) ** 2))


def sample_inputs(n=2000, seed=10_000):
    """A large test set of the 1-D problem: uniform x, noise added by the caller."""
    rng = np.random.default_rng(seed)
    return rng.uniform(LOW, HIGH, size=n)


def capacity_sweep(degrees, n_train=15, noise=0.3, seeds=range(50), n_test=2000):
    """Train and test MSE of polynomials of each degree, one training set per seed.

    Parameters
    ----------
    degrees : sequence of int
        Capacities to try.
    n_train : int
        Training points per training set.
    noise : float
        Standard deviation of the Gaussian noise on the targets (train and test).
    seeds : iterable of int
        One training set (and one fresh test noise) per seed.
    n_test : int
        Test points.

    Returns
    -------
    dict
        ``degrees``; ``train`` and ``test``, arrays of shape ``(n_seeds, n_degrees)``.
    """
    seeds = list(seeds)
    x_test = sample_inputs(n_test)
    train = np.empty((len(seeds), len(degrees)))
    test = np.empty_like(train)
    for i, seed in enumerate(seeds):
        x, y = noisy_sine(n_train, noise, seed)
        rng = np.random.default_rng(seed + 50_000)
        y_test = np.sin(x_test) + noise * rng.standard_normal(x_test.shape)
        for j, degree in enumerate(degrees):
            w = fit_polynomial(x, y, degree)
            train[i, j] = mse(y, predict_polynomial(w, x))
            test[i, j] = mse(y_test, predict_polynomial(w, x_test))
    return {"degrees": np.asarray(degrees), "train": train, "test": test}


def size_sweep(sizes, degree=9, noise=0.3, seeds=range(50), n_test=2000):
    """Train and test MSE of one capacity for training sets of several sizes.

    Parameters
    ----------
    sizes : sequence of int
        Numbers of training points (each larger than ``degree``).
    degree : int
        Degree of the polynomial.
    noise : float
        Noise standard deviation.
    seeds : iterable of int
        One training set per seed and size.
    n_test : int
        Test points.

    Returns
    -------
    dict
        ``sizes``; ``train`` and ``test`` of shape ``(n_seeds, n_sizes)``; ``theory``, the
        large-n approximation of the expected gap, ``2 noise^2 (degree + 1) / n``.
    """
    seeds = list(seeds)
    x_test = sample_inputs(n_test)
    train = np.empty((len(seeds), len(sizes)))
    test = np.empty_like(train)
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed + 50_000)
        y_test = np.sin(x_test) + noise * rng.standard_normal(x_test.shape)
        for j, n in enumerate(sizes):
            x, y = noisy_sine(n, noise, seed * 1000 + n)
            w = fit_polynomial(x, y, degree)
            train[i, j] = mse(y, predict_polynomial(w, x))
            test[i, j] = mse(y_test, predict_polynomial(w, x_test))
    sizes = np.asarray(sizes)
    theory = 2 * noise**2 * (degree + 1) / sizes
    return {"sizes": sizes, "train": train, "test": test, "theory": theory}


def bias_variance_sweep(degrees, n_train=20, noise=0.3, n_sets=300, n_grid=200, seed=0):
    """Bias^2 and variance of polynomial fits, over many independent training sets.

    For every degree, ``n_sets`` training sets are drawn and fitted; their predictions on a
    grid of ``n_grid`` points give, averaged over the grid, the squared bias of the average
    prediction and the variance of the predictions around it (over the training sets). A
    fresh noisy target at every grid point and for every training set gives the measured
    test MSE, whose expectation is ``noise^2 + bias^2 + variance``.

    Returns
    -------
    dict
        ``degrees``, ``bias2``, ``variance``, ``test`` (measured), ``noise2``.
    """
    grid = np.linspace(LOW, HIGH, n_grid)
    truth = np.sin(grid)
    rng = np.random.default_rng(seed + 70_000)
    fresh = truth + noise * rng.standard_normal((n_sets, n_grid))
    sets = [noisy_sine(n_train, noise, seed * 10_000 + k) for k in range(n_sets)]
    bias2, variance, test = [], [], []
    for degree in degrees:
        preds = np.array([predict_polynomial(fit_polynomial(x, y, degree), grid) for x, y in sets])
        mean = preds.mean(axis=0)
        bias2.append(np.mean((mean - truth) ** 2))
        variance.append(np.mean(preds.var(axis=0)))
        test.append(np.mean((fresh - preds) ** 2))
    return {
        "degrees": np.asarray(degrees),
        "bias2": np.array(bias2),
        "variance": np.array(variance),
        "test": np.array(test),
        "noise2": noise**2,
    }


def ridge_sweep(lams, degree=14, n_train=15, noise=0.3, seeds=range(50), n_test=2000):
    """Train and test MSE of a degree-``degree`` polynomial for several L2 strengths.

    Returns
    -------
    dict
        ``lams``; ``train``, ``test`` of shape ``(n_seeds, n_lams)``; ``norm``, the norm of
        the non-constant coefficients, same shape.
    """
    seeds = list(seeds)
    x_test = sample_inputs(n_test)
    shape = (len(seeds), len(lams))
    train, test, norm = np.empty(shape), np.empty(shape), np.empty(shape)
    for i, seed in enumerate(seeds):
        x, y = noisy_sine(n_train, noise, seed)
        rng = np.random.default_rng(seed + 50_000)
        y_test = np.sin(x_test) + noise * rng.standard_normal(x_test.shape)
        for j, lam in enumerate(lams):
            w = fit_polynomial(x, y, degree, lam)
            train[i, j] = mse(y, predict_polynomial(w, x))
            test[i, j] = mse(y_test, predict_polynomial(w, x_test))
            norm[i, j] = np.linalg.norm(w[1:])
    return {"lams": np.asarray(lams), "train": train, "test": test, "norm": norm}


def penalty_paths(lams, degree=9, n_train=30, noise=0.3, seed=0):
    """Coefficients of one polynomial fit along the L2 and the L1 regularisation paths.

    The L2 fit minimises MSE + (lam / 2) ||w||^2 (:func:`fit_polynomial`); the L1 fit
    minimises MSE + lam ||w||_1, which is scikit-learn's ``Lasso`` objective
    ``||y - Xw||^2 / (2n) + alpha ||w||_1`` times 2, so ``alpha = lam / 2``. Neither
    penalises the constant.

    Returns
    -------
    dict
        ``lams``; ``l2`` and ``l1``: coefficient arrays of shape ``(n_lams, degree)`` (the
        constant left out).
    """
    x, y = noisy_sine(n_train, noise, seed)
    phi = polynomial_features(x, degree)[:, 1:]
    l2, l1 = [], []
    for lam in lams:
        l2.append(fit_polynomial(x, y, degree, lam)[1:])
        lasso = Lasso(alpha=lam / 2, fit_intercept=True, max_iter=200_000, tol=1e-10)
        l1.append(lasso.fit(phi, np.ravel(y)).coef_.copy())
    return {"lams": np.asarray(lams), "l2": np.array(l2), "l1": np.array(l1)}


def draw_polynomial_fit(ax: Axes, degree, n_train, noise, seed=0, lam=0.0, title=True):
    """Draw one fit: the training points, sin(x) and the fitted polynomial; return the MSEs.

    Returns
    -------
    train_mse, test_mse : float
        On the training points and on 2000 fresh test points (same noise).
    """
    x, y = noisy_sine(n_train, noise, seed)
    w = fit_polynomial(x, y, degree, lam)
    x_test = sample_inputs()
    rng = np.random.default_rng(seed + 50_000)
    y_test = np.sin(x_test) + noise * rng.standard_normal(x_test.shape)
    train_mse = mse(y, predict_polynomial(w, x))
    test_mse = mse(y_test, predict_polynomial(w, x_test))
    grid = np.linspace(LOW, HIGH, 400)
    ax.plot(grid, np.sin(grid), color=TRUE_COLOR, lw=1.2, ls="--", label="sin(x)")
    ax.plot(grid, predict_polynomial(w, grid), color=FIT_COLOR, lw=1.8, label="fit")
    ax.plot(x, y, "o", color=POINT_COLOR, ms=3.5, label="training points")
    ax.set_ylim(-2.2, 2.2)
    ax.set_xlim(LOW, HIGH)
    ax.tick_params(labelsize=8)
    if title:
        ax.set_title(
            f"degree {degree}, n = {n_train}, noise {noise:g}\n"
            f"train MSE {train_mse:.3f}, test MSE {test_mse:.3g}",
            fontsize=9,
        )
    return train_mse, test_mse


def polynomial_grid_figure(rows, seed=0):
    """A grid of :func:`draw_polynomial_fit` panels; ``rows`` is a list of lists of
    ``(degree, n_train, noise)``. Returns the figure."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.0 * n_cols, 2.6 * n_rows), layout="constrained", squeeze=False
    )
    for r, row in enumerate(rows):
        for c, (degree, n_train, noise) in enumerate(row):
            draw_polynomial_fit(axes[r, c], degree, n_train, noise, seed)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    return fig


# ----------------------------------------------------------------------------------- digits


def digits_data(n_train=300, n_val=300, seed=0, pool=1000):
    """Training, validation and test sets of scikit-learn's digits.

    ``pool`` images (stratified, :func:`dropout_course.data.digits_split`) are shuffled with
    ``seed``; the first ``n_val`` are the validation set and the next ``n_train`` the training
    set, so training sets of different sizes are nested and share one validation set. The
    other ``1797 - pool`` images are the test set.

    Returns
    -------
    dict
        ``train``, ``val``, ``test``: pairs ``(X, y)`` of tensors.
    """
    if n_train + n_val > pool:
        raise ValueError(f"n_train + n_val = {n_train + n_val} exceeds the pool of {pool}")
    X_pool, y_pool, X_test, y_test = digits_split(n_train=pool, seed=seed)
    order = torch.randperm(pool, generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val : n_val + n_train]
    return {
        "train": (X_pool[train], y_pool[train]),
        "val": (X_pool[val], y_pool[val]),
        "test": (X_test, y_test),
    }


@dataclass
class Run:
    """What :func:`train_digits` records.

    The curves hold one value per recorded epoch (``epochs``): the training NLL and error are
    averages over the epoch's minibatches (as training reports them), the validation ones are
    measured after the epoch in evaluation mode. The test set is measured only twice: after
    the last epoch (``final``) and, when early stopping is tracked, with the weights of the
    best epoch (``early``). Both are dicts with ``train_nll``, ``train_error``, ``test_nll``
    and ``test_error``, all measured in evaluation mode.
    """

    epochs: list[int] = field(default_factory=list)
    train_nll: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stop_epoch: int | None = None
    final: dict = field(default_factory=dict)
    early: dict = field(default_factory=dict)
    weights: list[np.ndarray] = field(default_factory=list)


@torch.no_grad()
def _measure(model, X, y):
    """(NLL, error rate) of ``model`` in evaluation mode; the model is left in training mode."""
    model.eval()
    logits = model(X)
    model.train()
    error = (logits.argmax(dim=1) != y).double().mean().item()
    return F.cross_entropy(logits, y).item(), error


def _report(model, data):
    train_nll, train_error = _measure(model, *data["train"])
    test_nll, test_error = _measure(model, *data["test"])
    return {
        "train_nll": train_nll,
        "train_error": train_error,
        "test_nll": test_nll,
        "test_error": test_error,
    }


def train_digits(
    n_train=300,
    *,
    epochs=120,
    seed=0,
    l2=0.0,
    l1=0.0,
    sizes=(64, 256, 256, 10),
    lr=1e-3,
    batch_size=50,
    eval_every=1,
    patience=None,
    build=None,
):
    """Train an MLP on the digits with Adam, optionally with an L2 or L1 penalty.

    The loss is the mean cross-entropy of the minibatch plus ``(l2 / 2) * sum ||W||^2`` and
    ``l1 * sum |W|`` over the weight matrices (biases are not penalised). The training NLL
    and error (averaged over the epoch's minibatches, penalty left out) and the validation
    NLL and error are recorded every ``eval_every`` epochs; the test set is measured after
    the last epoch only (and with the weights of the early-stopping epoch).

    With ``patience``, early stopping is tracked on the validation NLL (``eval_every`` must be
    1): an epoch improves when its validation NLL is strictly below the best so far (a tie
    does not improve); after ``patience`` epochs in a row without improvement training
    *would* stop, and the weights of the best epoch before that point would be kept. They
    are copied when that epoch is reached and measured on the test set (``Run.early``).
    Training continues anyway, so that a figure can show what early stopping avoided.

    Parameters
    ----------
    n_train : int
        Training images (at most 700); see :func:`digits_data`.
    epochs, batch_size : int
        Passes over the training set and images per step.
    seed : int
        Seed of the data split, the initial weights and the minibatch order.
    l2, l1 : float
        Penalty strengths.
    sizes : tuple of int
        Layer widths.
    lr : float
        Adam's learning rate.
    eval_every : int
        Record the curves every this many epochs (0: never).
    patience : int or None
        Early-stopping patience, in epochs.
    build : callable, optional
        Builds the network instead of ``mlp(sizes)`` (which ``sizes`` then no longer
        describes), e.g. one with dropout or batch normalisation; called after the weights'
        seed is set, so that its initial weights are the seed's too.

    Returns
    -------
    Run
        The curves and test results; ``weights`` holds the final weight matrices as NumPy
        arrays, in PyTorch's ``(n_out, n_in)`` layout.
    """
    if patience is not None and eval_every != 1:
        raise ValueError("early stopping needs the validation loss of every epoch: eval_every=1")
    data = digits_data(n_train, seed=seed)
    torch.manual_seed(seed)
    model = mlp(sizes) if build is None else build()
    weights = [p for p in model.parameters() if p.ndim == 2]
    run = Run()
    tracked = {"best": float("inf"), "waited": 0, "state": None}

    def l1_penalised(nll):
        return nll + l1 * sum(W.abs().sum() for W in weights)

    def record(epoch, seen):
        if not eval_every or epoch % eval_every:
            return
        run.epochs.append(epoch)
        run.train_nll.append(seen["train_loss"])
        run.train_error.append(seen["train_error"])
        val_nll, val_error = _measure(model, *data["val"])
        run.val_nll.append(val_nll)
        run.val_error.append(val_error)
        if patience is not None and run.stop_epoch is None:
            _track_early_stopping(run, tracked, model, epoch, patience)

    # The minibatch order comes from its own generator (seed + 1), as the weights from seed.
    train(model, *data["train"], epochs=epochs, batch_size=batch_size, lr=lr, seed=seed + 1,
          l2=l2, penalty=l1_penalised if l1 else None, on_epoch=record)  # fmt: skip
    run.final = _report(model, data)
    run.weights = [W.detach().numpy().copy() for W in weights]
    if patience is not None:
        run.stop_epoch = run.stop_epoch or epochs
        model.load_state_dict(tracked["state"])
        run.early = _report(model, data)
    return run


def _track_early_stopping(run: Run, tracked: dict, model, epoch: int, patience: int) -> None:
    """An epoch improves when its validation NLL is strictly below the best so far; the best
    epoch's weights are copied; ``patience`` epochs in a row without improvement set
    ``run.stop_epoch`` (training goes on, so that a figure can show what stopping avoided)."""
    if run.val_nll[-1] < tracked["best"]:
        tracked.update(best=run.val_nll[-1], waited=0)
        run.best_epoch = epoch
        tracked["state"] = {k: v.clone() for k, v in model.state_dict().items()}
    else:
        tracked["waited"] += 1
        if tracked["waited"] == patience:
            run.stop_epoch = epoch


def remedies_experiment(seeds=(0, 1, 2), epochs=120, patience=10, l2=1e-3, more=600):
    """Train the same network without a remedy, with L2 and on more data (chapter 01).

    The runs without a remedy record the curves of every epoch and track early stopping.

    Parameters
    ----------
    seeds : sequence of int
        One run per seed and setting.
    epochs : int
        Epochs of every run.
    patience : int
        Early-stopping patience of the runs without a remedy.
    l2 : float
        Strength of the L2 penalty.
    more : int
        Training-set size of the "more data" runs (the others use 300).

    Returns
    -------
    dict
        ``baseline``, ``l2``, ``more``: lists of :class:`Run`, one per seed; and ``settings``.
    """
    return {
        "baseline": [train_digits(300, epochs=epochs, seed=s, patience=patience) for s in seeds],
        "l2": [train_digits(300, epochs=epochs, seed=s, l2=l2, eval_every=0) for s in seeds],
        "more": [train_digits(more, epochs=epochs, seed=s, eval_every=0) for s in seeds],
        "settings": {"epochs": epochs, "patience": patience, "l2": l2, "more": more},
    }


def penalties_experiment(seeds=(0, 1, 2), epochs=120, l2=1e-3, l1=1e-4):
    """Train the same network without a penalty, with L2 and with L1 (the appendix).

    Returns
    -------
    dict
        ``baseline``, ``l2``, ``l1``: lists of :class:`Run`, one per seed; and ``settings``.
    """
    return {
        "baseline": [train_digits(300, epochs=epochs, seed=s, eval_every=0) for s in seeds],
        "l2": [train_digits(300, epochs=epochs, seed=s, l2=l2, eval_every=0) for s in seeds],
        "l1": [train_digits(300, epochs=epochs, seed=s, l1=l1, eval_every=0) for s in seeds],
        "settings": {"epochs": epochs, "l2": l2, "l1": l1},
    }


def summarise_remedies(result):
    """Train and test NLL and error of every setting of an experiment, one entry per seed.

    Parameters
    ----------
    result : dict
        What :func:`remedies_experiment` or :func:`penalties_experiment` returned.

    Returns
    -------
    dict
        ``none`` (the baseline's last epoch), ``early`` (its early-stopping epoch, when the
        baseline tracked one) and every other setting of ``result``: a dict of arrays
        ``train_nll``, ``train_error``, ``test_nll``, ``test_error``, and the gaps
        ``gap_nll`` and ``gap_error`` (test minus train).
    """

    def pick(reports):
        table = {key: np.array([r[key] for r in reports]) for key in reports[0]}
        table["gap_nll"] = table["test_nll"] - table["train_nll"]
        table["gap_error"] = table["test_error"] - table["train_error"]
        return table

    baseline = result["baseline"]
    summary = {"none": pick([run.final for run in baseline])}
    if all(run.early for run in baseline):
        summary["early"] = pick([run.early for run in baseline])
    for key, runs in result.items():
        if key not in ("baseline", "settings"):
            summary[key] = pick([run.final for run in runs])
    return summary


def near_zero_fraction(weights, threshold=1e-3):
    """Fraction of the entries of a list of weight matrices whose magnitude is below
    ``threshold``."""
    flat = np.concatenate([np.ravel(W) for W in weights])
    return float(np.mean(np.abs(flat) < threshold))


def mlp_parameter_count(sizes):
    """Number of weights and biases of a fully connected network with layer ``sizes``."""
    return int(sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)))
