"""Experiments of chapter 07, *Choosing and placing dropout*: how much to drop, and where.

A sweep of the drop probability on a small regression (noisy points of sin(x)) and on the
digits, with the rate chosen on a validation split; dropout on the inputs, on the hidden layers
and on the output; the gain of dropout as the training set grows; the variance shift between
training and evaluation when dropout feeds batch normalisation (Li et al., 2019); and the extra
epochs a dropout network needs. (Keeping the width against keeping the expected number of
active units is chapter 02's :func:`~dropout_course.experiments.co_adaptation.width_sweep`,
which widens with ``keep_expected_width``.)

The networks are built by the instructor's ``dropout_mlp`` and ``keep_expected_width``
(``autograder/content/reference/rate_and_placement.py``). Every digits
network trains through :func:`dropout_course.experiments.overfitting.train_digits` (300
training, 300 validation and 797 test images; the one training loop); the regressions, whose
30 points make one step far cheaper than its overhead, train side by side as one stacked
computation (:func:`train_stacked`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from autograder.content.reference.rate_and_placement import (  # the chapter uses both
    dropout_mlp,
    keep_expected_width,  # noqa: F401
)
from dropout_course.data import noisy_sine
from dropout_course.experiments import overfitting as ov
from dropout_course.training import evaluate

#: The digits network of the chapter, and its recipe (Adam; see ``train_digits``).
SIZES = (64, 128, 128, 10)
RECIPE = {"epochs": 150, "batch_size": 100, "lr": 2e-3}
#: Minibatch steps of a run of the recipe on 300 images; every run of the data-size sweep.
STEPS = RECIPE["epochs"] * 300 // RECIPE["batch_size"]
#: The regression: 30 noisy points of sin(x) on [-3, 3], a 1-48-48-1 ReLU network.
SINE = {"n_train": 30, "noise": 0.3, "hidden": 48, "steps": 1500, "lr": 3e-3}


# ------------------------------------------------------------------------ the regression


def train_stacked(models, xs, ys, hidden_drops, output_drops, *, steps, lr, seed=0) -> None:
    """Train regression networks of one shape side by side, each on its own data, in place.

    Their weights are stacked into batched matrices, so that one forward pass serves all of
    them; each has its own dropout masks and rates. The loss is the sum of the networks' mean
    squared errors, so each network's gradient is its own, and Adam, which works entry by
    entry, takes the step it would take for that network alone: this is ``len(models)``
    independent full-batch trainings, only faster.

    Parameters
    ----------
    models : list of torch.nn.Sequential
        Networks of :func:`dropout_mlp` of the same ``sizes`` (extra dropout modules ignored:
        the rates below are the ones used). Their trained weights are copied back.
    xs, ys : torch.Tensor
        Shape ``(len(models), n, 1)``: each network's training inputs and targets.
    hidden_drops, output_drops : sequence of float
        Each network's drop probability after its hidden layers and on its output.
    steps : int
        Full-batch Adam steps.
    lr : float
        Adam's learning rate.
    seed : int
        Seed of the masks.
    """
    linears = [[m for m in model if isinstance(m, nn.Linear)] for model in models]
    params = []
    for i in range(len(linears[0])):
        params.append(torch.stack([layers[i].weight.T for layers in linears]).detach().clone())
        params.append(torch.stack([layers[i].bias[None] for layers in linears]).detach().clone())
    params = [p.requires_grad_() for p in params]
    keep_hidden = (1 - torch.tensor(hidden_drops, dtype=torch.float32))[:, None, None]
    keep_output = (1 - torch.tensor(output_drops, dtype=torch.float32))[:, None, None]
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)

    def dropped(h, keep):
        return h * (torch.rand(h.shape, generator=generator) < keep) / keep

    for _ in range(steps):
        h = xs
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1], h, params[i])
            if i < len(params) - 2:
                h = dropped(torch.relu(h), keep_hidden)
        loss = ((dropped(h, keep_output) - ys) ** 2).mean(dim=(1, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for k, layers in enumerate(linears):
            for i, layer in enumerate(layers):
                layer.weight.copy_(params[2 * i][k].T)
                layer.bias.copy_(params[2 * i + 1][k, 0])


def sine_test_set(n=2000, noise=0.3, seed=10_000):
    """Test inputs of the regression (uniform on [-3, 3], as chapter 01's) and noisy targets."""
    x = ov.sample_inputs(n, seed)[:, None]
    y = np.sin(x) + noise * np.random.default_rng(seed + 1).standard_normal(x.shape)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def sine_sweep(rates, seeds=range(5), *, output_drops=None, **setting) -> dict:
    """Train the regression network at each hidden drop probability, one training set a seed.

    Parameters
    ----------
    rates : sequence of float
        Hidden drop probabilities.
    seeds : iterable of int
        Seed of each training set (``noisy_sine(n_train, noise, seed)``) and initial weights.
    output_drops : sequence of float, optional
        A drop probability on the output for each rate (default: none).
    **setting
        Overrides of :data:`SINE`.

    Returns
    -------
    dict
        ``rates``; ``train`` and ``test`` MSE, arrays of shape ``(n_seeds, n_rates)`` (the test
        MSE includes the noise, 0.09 at the default noise); ``models``, a list per seed;
        ``data``, the training sets; and ``x_test``, ``f_test`` (the test inputs and the
        predictions, ``(seeds, rates, n)``).
    """
    s = {**SINE, **setting}
    seeds, rates = list(seeds), list(rates)
    out_rates = list(output_drops) if output_drops is not None else [0.0] * len(rates)
    data = [noisy_sine(s["n_train"], s["noise"], seed) for seed in seeds]
    models, xs, ys = [], [], []
    for seed, (x, y) in zip(seeds, data, strict=True):
        for p, p_out in zip(rates, out_rates, strict=True):
            torch.manual_seed(seed)
            model = dropout_mlp((1, s["hidden"], s["hidden"], 1), 0.0, p)
            models.append(nn.Sequential(*model, nn.Dropout(p_out)) if p_out else model)
            xs.append(torch.tensor(x, dtype=torch.float32))
            ys.append(torch.tensor(y, dtype=torch.float32))
    train_stacked(models, torch.stack(xs), torch.stack(ys), rates * len(seeds),
                  out_rates * len(seeds), steps=s["steps"], lr=s["lr"], seed=seeds[0])  # fmt: skip
    x_test, y_test = sine_test_set(noise=s["noise"])
    with torch.no_grad():
        train = [
            ((m.eval()(x) - y) ** 2).mean().item() for m, x, y in zip(models, xs, ys, strict=True)
        ]
        f_test = torch.stack([m(x_test)[:, 0] for m in models])
    shape = (len(seeds), len(rates))
    return {
        "rates": np.array(rates),
        "train": np.array(train).reshape(shape),
        "test": ((f_test - y_test[:, 0]) ** 2).mean(1).numpy().reshape(shape),
        "models": [models[i * len(rates) : (i + 1) * len(rates)] for i in range(len(seeds))],
        "data": data,
        "x_test": x_test[:, 0].numpy(),
        "f_test": f_test.numpy().reshape(*shape, -1),
    }


def shrinkage(f_test: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """The least-squares slope of predictions on sin(x): 1 for an unbiased fit of the sine,
    ``q`` when every prediction is ``q`` times it (what dropout on the output does)."""
    target = np.sin(x_test)
    return (f_test * target).sum(-1) / (target**2).sum()


# --------------------------------------------------------------------------------- digits


def train_kept(build: Callable[[], nn.Module], seed: int, n_train=300, **options):
    """:func:`~dropout_course.experiments.overfitting.train_digits` with ``build``'s network,
    the chapter's recipe (:data:`RECIPE`) unless ``options`` says otherwise; returns the run
    and the trained network (in evaluation mode)."""
    built = []

    def keep():
        built.append(build())
        return built[-1]

    run = ov.train_digits(n_train, seed=seed, build=keep, **{**RECIPE, **options})
    return run, built[0].eval()


def summary(runs) -> dict[str, np.ndarray]:
    """Train, validation and test error and NLL of runs (one entry per run): the last epoch's
    validation values (``nan`` when not recorded) and the final train and test values."""
    last = {
        "val_error": [r.val_error[-1] if r.val_error else np.nan for r in runs],
        "val_nll": [r.val_nll[-1] if r.val_nll else np.nan for r in runs],
    }
    table = {key: np.array([r.final[key] for r in runs]) for key in runs[0].final}
    return {**table, **{key: np.array(values) for key, values in last.items()}}


def rate_sweep(rates, seeds=(0, 1, 2), *, p_input=0.0, sizes=SIZES, **options):
    """Train the digits network at each hidden drop probability, once per seed.

    Parameters
    ----------
    rates : sequence of float
        Hidden drop probabilities.
    seeds : sequence of int
        One data split, initialisation and minibatch order per seed.
    p_input : float
        Drop probability of the inputs (the same at every rate).
    sizes : tuple of int
        Layer widths.
    **options
        Overrides of :data:`RECIPE` and other arguments of ``train_digits``.

    Returns
    -------
    dict
        ``rates``, ``seeds``; ``runs``, a list per rate of the runs (one per seed) with their
        per-epoch validation curves; and every entry of :func:`summary`, an array of shape
        ``(n_rates, n_seeds)``.
    """
    runs = []
    for p in rates:
        build = lambda p=p: dropout_mlp(sizes, p_input, p)  # noqa: E731
        runs.append([train_kept(build, seed, **options)[0] for seed in seeds])
    tables = [summary(r) for r in runs]
    stacked = {key: np.array([t[key] for t in tables]) for key in tables[0]}
    return {"rates": np.array(rates), "seeds": list(seeds), "runs": runs, **stacked}


def choose_on_validation(sweep: dict) -> dict[str, np.ndarray]:
    """Per seed, the rate with the lowest validation error (ties: the lower validation NLL),
    and the test error there; beside it, the lowest test error over the rates (what choosing
    on the test set would report) and the test error without dropout (rate 0, if swept)."""
    columns = np.arange(sweep["val_error"].shape[1])
    chosen = np.array([np.lexsort((sweep["val_nll"][:, j], sweep["val_error"][:, j]))[0]
                       for j in columns])  # fmt: skip
    found = {
        "chosen": sweep["rates"][chosen],
        "test_at_chosen": sweep["test_error"][chosen, columns],
        "best_test": sweep["test_error"].min(axis=0),
    }
    if 0.0 in sweep["rates"]:
        found["test_without"] = sweep["test_error"][list(sweep["rates"]).index(0.0)]
    return found


def epochs_to(curve: Sequence[float], target: float) -> float:
    """The first epoch (1-based) whose validation error is at most ``target`` (``nan`` if
    none)."""
    reached = np.flatnonzero(np.asarray(curve) <= target)
    return float(reached[0] + 1) if reached.size else np.nan


def placements(configs: dict[str, tuple[float, float]], seeds=(0, 1, 2), known=None, **options):
    """Train the digits network with each (input, hidden) drop probability pair.

    ``known`` maps a name to runs already trained with the same seeds and recipe (e.g. from
    :func:`rate_sweep`), which are reused. Returns name to :func:`summary` of its runs."""
    known = dict(known or {})
    for name, (p_input, p_hidden) in configs.items():
        if name not in known:
            build = lambda a=p_input, b=p_hidden: dropout_mlp(SIZES, a, b)  # noqa: E731
            known[name] = [train_kept(build, seed, eval_every=0, **options)[0] for seed in seeds]
    return {name: summary(known[name]) for name in configs}


def data_size_sweep(sizes, rates=(0.0, 0.5), seeds=(0, 1, 2), *, steps=STEPS, known=None):
    """Test error against the training-set size, with and without dropout.

    Every run takes about ``steps`` minibatch steps (``epochs = steps * batch / n``, at least
    one), so that small sets are trained as long as large ones. ``known`` maps
    ``(n, rate)`` to runs already trained (same seeds and recipe). Returns ``sizes``,
    ``rates`` and ``test_error``, ``test_nll``, ``train_error`` of shape
    ``(n_sizes, n_rates, n_seeds)``."""
    known = dict(known or {})
    batch = RECIPE["batch_size"]
    for n in sizes:
        epochs = max(1, round(steps * batch / n))
        for p in rates:
            if (n, p) not in known:
                build = lambda p=p: dropout_mlp(SIZES, 0.0, p)  # noqa: E731
                known[n, p] = [train_kept(build, s, n, epochs=epochs, eval_every=0)[0]
                               for s in seeds]  # fmt: skip
    found = {}
    for key in ("test_error", "test_nll", "train_error"):
        found[key] = np.array([[summary(known[n, p])[key] for p in rates] for n in sizes])
    return {"sizes": np.array(sizes), "rates": np.array(rates), **found}


# ------------------------------------------------------------------ dropout and batch norm


def batchnorm_mlp(sizes=SIZES, p=0.5, where="before BN") -> nn.Sequential:
    """A ReLU network with batch normalisation before every hidden ReLU, and dropout either
    after every hidden ReLU (``"before BN"``: each dropout but the last feeds the next
    layer's batch normalisation, through a linear layer), only after the last one
    (``"after BN"``), or nowhere (``None``)."""
    if where not in ("before BN", "after BN", None):
        raise ValueError(f"where must be 'before BN', 'after BN' or None, got {where!r}")
    layers: list[nn.Module] = []
    hidden = len(sizes) - 2
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < hidden:
            layers += [nn.BatchNorm1d(n_out), nn.ReLU()]
            if where == "before BN" or (where == "after BN" and i == hidden - 1):
                layers.append(nn.Dropout(p))
    return nn.Sequential(*layers)


@torch.no_grad()
def variance_shift(model: nn.Sequential, X: torch.Tensor) -> list[dict[str, np.ndarray]]:
    """The variances each batch normalisation layer of ``model`` sees, per unit.

    ``running`` is the variance it divides by at evaluation (its running variance, gathered
    during training); ``real`` is the variance its input really has at evaluation (dropout
    off) on ``X``; ``added`` is the variance that dropout adds to that input in training when
    the layer is fed by a dropout through one linear layer, ``(p / q) * mean_x sum_i W_ji^2
    h_i^2`` (``h`` the units the dropout masks, ``W`` the linear layer's weights), else 0; and
    ``direct``, for each unit ``h_i`` that varies, the ratio of its training to its evaluation
    variance, ``1 + (p / q) E[h_i^2] / Var(h_i)``: the shift if the dropout fed the layer
    directly (empty when no dropout feeds it).
    """
    model.eval()
    children, inputs, h = list(model), [], X
    for module in children:
        inputs.append(h)
        h = module(h)
    found = []
    for k, module in enumerate(children):
        if not isinstance(module, nn.BatchNorm1d):
            continue
        added, direct = torch.zeros_like(module.running_var), torch.zeros(0)
        if k >= 2 and isinstance(children[k - 2], nn.Dropout):
            p, W, h = children[k - 2].p, children[k - 1].weight, inputs[k - 2]
            added = p / (1 - p) * (h**2 @ (W**2).T).mean(0)
            varying = h.var(0) > 0
            direct = 1 + p / (1 - p) * (h**2).mean(0)[varying] / h.var(0)[varying]
        found.append(
            {
                "running": module.running_var.numpy().copy(),
                "real": inputs[k].var(0).numpy(),
                "added": added.numpy(),
                "direct": direct.numpy(),
            }
        )
    return found


@torch.no_grad()
def recalibrate(model: nn.Sequential, X: torch.Tensor) -> nn.Sequential:
    """A copy of ``model`` whose batch normalisation statistics are measured again on ``X``
    with dropout off: the remedy that removes the variance shift without retraining."""
    fixed = copy.deepcopy(model).eval()
    for module in fixed.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batches seen
            module.train()
    fixed(X)
    return fixed.eval()


def batchnorm_comparison(settings: dict[str, tuple[float, str | None]], seeds=(0, 1, 2), **opts):
    """Train a :func:`batchnorm_mlp` for each ``name: (p, where)`` and seed, and measure it.

    Returns
    -------
    dict
        Name to arrays over seeds: ``test_error`` as trained; ``recalibrated``, the test error
        after :func:`recalibrate` on the training set; ``shift``, the mean over the units of
        the last batch normalisation layer of running / real variance (:func:`variance_shift`);
        ``predicted``, the same ratio predicted as (real + added) / real; ``direct``, the mean
        shift had the dropout fed that layer directly; and ``units``, the first seed's
        :func:`variance_shift` of that layer, unit by unit.
    """
    found = {}
    for name, (p, where) in settings.items():
        rows, units = [], []
        for seed in seeds:
            run, model = train_kept(lambda p=p, w=where: batchnorm_mlp(SIZES, p, w), seed,
                                    eval_every=0, **opts)  # fmt: skip
            data = ov.digits_data(300, seed=seed)
            last = variance_shift(model, data["train"][0])[-1]
            fixed = recalibrate(model, data["train"][0])
            rows.append((run.final["test_error"], evaluate(fixed, *data["test"])[0],
                         np.mean(last["running"] / last["real"]),
                         np.mean(1 + last["added"] / last["real"]),
                         np.mean(last["direct"]) if last["direct"].size else np.nan))  # fmt: skip
            units.append(last)
        rows = np.array(rows)
        found[name] = {
            "test_error": rows[:, 0],
            "recalibrated": rows[:, 1],
            "shift": rows[:, 2],
            "predicted": rows[:, 3],
            "direct": rows[:, 4],
            "units": units[0],
        }
    return found


# -------------------------------------------------------------------------------- figures

COLORS = {"train": "#1f4e79", "val": "#e07b00", "test": "#2a9d47", "without": "#b2182b",
          "with": "#1f4e79"}  # fmt: skip


def _band(ax, x, values, color, label, scale=1.0, marker="o"):
    """Mean and standard deviation over seeds (last axis of ``values``), and each seed."""
    values = scale * np.asarray(values)
    mean, sd = values.mean(-1), values.std(-1, ddof=1)
    ax.errorbar(x, mean, yerr=sd, fmt=marker + "-", color=color, ms=4, capsize=2, label=label)
    for column in values.T if values.ndim > 1 else []:
        ax.plot(x, column, ".", color=color, ms=3, alpha=0.35)


def sine_figure(sweep: dict, shown=(0.0, 0.25, 0.9), seed_index: int = 0) -> Figure:
    """Left: one training set and the fits at three rates. Right: training and test MSE
    against the rate (mean and standard deviation over the seeds, dots: the seeds)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    x, (x_train, y_train) = sweep["x_test"], sweep["data"][seed_index]
    order = np.argsort(x)
    left.plot(x[order], np.sin(x[order]), color="#7f7f7f", lw=1, ls="--", label="sin(x)")
    left.plot(x_train, y_train, "o", color="black", ms=3, label="training points")
    for p, color in zip(shown, ("#b2182b", "#1f4e79", "#e07b00"), strict=True):
        fit = sweep["f_test"][seed_index, list(sweep["rates"]).index(p)]
        left.plot(x[order], fit[order], color=color, lw=1.5, label=f"p = {p:g}")
    left.set(xlabel="x", ylabel="y", ylim=(-2, 2))
    left.legend(fontsize=7, loc="lower right")
    _band(right, sweep["rates"], sweep["train"].T, COLORS["train"], "training MSE")
    _band(right, sweep["rates"], sweep["test"].T, COLORS["test"], "test MSE")
    right.axhline(SINE["noise"] ** 2, color="#7f7f7f", lw=0.8, ls=":", label="noise variance")
    right.set(xlabel="drop probability p (hidden layers)", ylabel="mean squared error")
    right.legend(fontsize=7)
    return fig


def digits_sweep_figure(sweep: dict) -> Figure:
    """Training, validation and test error (left) and test NLL (right) against the rate."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    for key, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        _band(left, sweep["rates"], sweep[f"{key}_error"], COLORS[key], f"{name} error", 100)
    left.set(xlabel="drop probability p (hidden layers)", ylabel="error (%)")
    left.legend(fontsize=7)
    _band(right, sweep["rates"], sweep["val_nll"], COLORS["val"], "validation NLL")
    _band(right, sweep["rates"], sweep["test_nll"], COLORS["test"], "test NLL")
    right.set(xlabel="drop probability p (hidden layers)", ylabel="negative log-likelihood")
    right.legend(fontsize=7)
    return fig


def placement_figure(results: dict[str, dict]) -> Figure:
    """Test error (left) and test NLL (right) of each placement: one dot per seed, a bar at
    the mean."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    names = list(results)
    for ax, key, scale, label in ((axes[0], "test_error", 100, "test error (%)"),
                                  (axes[1], "test_nll", 1, "test NLL")):  # fmt: skip
        for i, name in enumerate(names):
            values = scale * results[name][key]
            ax.plot([i] * len(values), values, "o", color=COLORS["train"], ms=4, alpha=0.6)
            ax.plot([i - 0.25, i + 0.25], [values.mean()] * 2, color="black", lw=2)
        ax.set_xticks(range(len(names)), [n.replace(", ", ",\n") for n in names], fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    return fig


def data_size_figure(found: dict) -> Figure:
    """Left: test error against the training-set size, with and without dropout. Right: the
    gain (error without minus error with dropout), one grey line per seed."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    sizes, errors = found["sizes"], 100 * found["test_error"]  # (sizes, rates, seeds)
    for j, (p, color) in enumerate(zip(found["rates"], (COLORS["without"], COLORS["with"]),
                                       strict=True)):  # fmt: skip
        _band(left, sizes, errors[:, j], color, f"p = {p:g}")
    left.set(xscale="log", xlabel="training images", ylabel="test error (%)")
    left.minorticks_off()
    left.set_xticks(sizes, [str(n) for n in sizes])
    left.legend(fontsize=7)
    gains = errors[:, 0] - errors[:, 1]  # (sizes, seeds): a seed's training sets are nested
    for j, seed_gain in enumerate(gains.T):
        right.plot(sizes, seed_gain, "o-", color="#7f7f7f", lw=0.8, ms=3,
                   label="one seed" if j == 0 else None)  # fmt: skip
    _band(right, sizes, gains, COLORS["test"], "mean ± sd")
    right.axhline(0, color="black", lw=0.8)
    right.set(xscale="log", xlabel="training images", ylabel="error without − with (points)")
    right.minorticks_off()
    right.set_xticks(sizes, [str(n) for n in sizes])
    right.legend(fontsize=7)
    return fig


def batchnorm_figure(found: dict, shifted: str, control: str) -> Figure:
    """Left: for each unit of the last batch normalisation layer (first seed), the running
    variance it divides by against the variance its input has at evaluation, in the network
    ``shifted`` (dropout feeds the layer) and ``control`` (it does not), with the predicted
    running variance. Right: test error as trained and after recalibration, per setting."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained")
    for name, color in ((control, "#7f7f7f"), (shifted, COLORS["without"])):
        u = found[name]["units"]
        left.plot(u["real"], u["running"], "o", ms=3, color=color, alpha=0.6, label=name)
    u = found[shifted]["units"]
    left.plot(u["real"], u["real"] + u["added"], "x", ms=3, color="black", alpha=0.6,
              label=f"{shifted}: predicted")  # fmt: skip
    top = 1.05 * max(max(found[n]["units"]["running"].max() for n in (control, shifted)), 1e-3)
    left.plot([0, top], [0, top], color="black", lw=0.8, ls=":")
    left.set(xlim=(0, top), ylim=(0, top))
    left.set(xlabel="variance of the input at evaluation", ylabel="running variance (used)")
    left.legend(fontsize=7)
    names = list(found)
    for i, name in enumerate(names):
        for offset, key, color in ((-0.12, "test_error", COLORS["train"]),
                                   (0.12, "recalibrated", COLORS["val"])):  # fmt: skip
            values = 100 * found[name][key]
            right.plot([i + offset] * len(values), values, "o", color=color, ms=4,
                       label=key.replace("_", " ") if i == 0 else None)  # fmt: skip
            right.plot([i + offset - 0.1, i + offset + 0.1], [values.mean()] * 2, color=color)
    right.set_xticks(range(len(names)), [n.replace(", ", ",\n") for n in names], fontsize=7)
    right.set_ylabel("test error (%)")
    right.legend(fontsize=7)
    return fig


def cost_figure(sweep: dict, shown: Sequence[float], target: float) -> Figure:
    """Validation error against the epoch at some rates (mean over the seeds, smoothed over
    five epochs for the eye), the target, and each seed's first epoch at or below it."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    colors = ("#b2182b", "#e07b00", "#1f4e79", "#2a9d47")
    for p, color in zip(shown, colors, strict=False):
        runs = sweep["runs"][list(sweep["rates"]).index(p)]
        curves = 100 * np.array([r.val_error for r in runs])
        smooth = np.convolve(curves.mean(0), np.ones(5) / 5, mode="valid")
        ax.plot(np.arange(3, len(smooth) + 3), smooth, color=color, lw=1.5, label=f"p = {p:g}")
        for r in runs:
            epoch = epochs_to(r.val_error, target)
            if not np.isnan(epoch):
                ax.plot(epoch, 100 * target, "v", color=color, ms=6, alpha=0.8)
    ax.axhline(100 * target, color="black", lw=0.8, ls=":")
    ax.set(xlabel="epoch", ylabel="validation error (%)", ylim=(0, 30))
    ax.legend(fontsize=7)
    return fig
