"""Experiments of chapter 02 (co-adaptation): how much hidden units rely on each other, with and
without dropout, and whether a smaller network would do the same job.

Every function is seeded and takes its sizes, epochs and seeds as parameters, so that the test
suite can rerun it small. The networks are the course's multilayer perceptrons
(:func:`dropout_course.training.mlp`) trained on scikit-learn's digits
(:func:`dropout_course.data.digits_split`, 300 training and 1497 test images).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from autograder.content.reference.co_adaptation import activation_correlation, activation_sparsity
from autograder.content.reference.rate_and_placement import keep_expected_width
from dropout_course.data import digits_split
from dropout_course.training import evaluate, mlp, train

#: The three ways of training the same network that the chapter compares.
CONDITIONS = {
    "no dropout": {},
    "L2": {"l2": 1e-3},
    "dropout": {"input_drop": 0.2, "hidden_drop": 0.5},
}

#: Colours of the conditions in every figure.
COLORS = {"no dropout": "#b2182b", "L2": "#7f7f7f", "dropout": "#1f4e79"}


# ------------------------------------------------------------------------------- training


@dataclass
class TrainedNet:
    """One trained network and the test set it is measured on."""

    condition: str
    seed: int
    model: nn.Sequential
    X_test: torch.Tensor
    y_test: torch.Tensor
    test_error: float
    train_error: float


def train_net(
    seed: int,
    *,
    sizes: Sequence[int] = (64, 256, 256, 10),
    input_drop: float = 0.0,
    hidden_drop: float = 0.0,
    l2: float = 0.0,
    epochs: int = 150,
    n_train: int = 300,
    condition: str = "",
) -> TrainedNet:
    """Train one network on the digits split of ``seed`` (Adam, lr 1e-3, batches of 50).

    Parameters
    ----------
    seed : int
        Seed of the data split, the initial weights, the batch order and the dropout masks.
    sizes : sequence of int
        Layer widths, input first.
    input_drop, hidden_drop : float
        Drop probabilities of the inputs and of every hidden layer.
    l2 : float
        Strength of the L2 penalty on the weights (see :func:`dropout_course.training.train`).
    epochs, n_train : int
        Passes over the training set, and its size.
    condition : str
        A label stored with the result.

    Returns
    -------
    TrainedNet
    """
    X_train, y_train, X_test, y_test = digits_split(n_train, seed=seed)
    torch.manual_seed(seed)
    model = mlp(sizes, input_drop=input_drop, hidden_drop=hidden_drop)
    train(model, X_train, y_train, epochs=epochs, l2=l2, seed=seed)
    model.eval()
    return TrainedNet(
        condition,
        seed,
        model,
        X_test,
        y_test,
        evaluate(model, X_test, y_test)[0],
        evaluate(model, X_train, y_train)[0],
    )


def train_conditions(
    seeds: Iterable[int] = (0, 1, 2),
    *,
    conditions: dict[str, dict] | None = None,
    sizes: Sequence[int] = (64, 256, 256, 10),
    epochs: int = 150,
    n_train: int = 300,
) -> dict[str, list[TrainedNet]]:
    """Train one network per condition and seed.

    Parameters
    ----------
    seeds : iterable of int
        One network per seed and condition; the seed fixes the data split too, so the
        conditions are compared on the same data, seed by seed.
    conditions : dict
        Name to keyword arguments of :func:`train_net` (default :data:`CONDITIONS`).
    sizes, epochs, n_train
        As in :func:`train_net`.

    Returns
    -------
    dict
        Condition name to the list of trained networks, in the order of ``seeds``.
    """
    conditions = CONDITIONS if conditions is None else conditions
    seeds = list(seeds)
    return {
        name: [
            train_net(s, sizes=sizes, epochs=epochs, n_train=n_train, condition=name, **kwargs)
            for s in seeds
        ]
        for name, kwargs in conditions.items()
    }


# ---------------------------------------------------------------------------- measurements


def hidden_modules(model: nn.Module) -> list[nn.Module]:
    """The activation modules of ``model`` (every ``nn.ReLU``); their outputs are the hidden
    units."""
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


@torch.no_grad()
def hidden_activations(model: nn.Module, X: torch.Tensor) -> list[np.ndarray]:
    """The hidden activations of ``model`` on ``X`` in evaluation mode, one array per layer.

    Returns
    -------
    list of numpy.ndarray
        Arrays of shape ``(len(X), n_units)``: row = example, column = hidden unit.
    """
    captured: list[np.ndarray] = []
    with _evaluation(model), contextlib.ExitStack() as stack:
        for module in hidden_modules(model):
            handle = module.register_forward_hook(
                lambda _m, _i, out: captured.append(out.detach().numpy().copy())
            )
            stack.callback(handle.remove)
        model(X)
    return captured


@contextlib.contextmanager
def _evaluation(model: nn.Module):
    """Put ``model`` in evaluation mode for the ``with`` block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def error_without(
    model: nn.Module,
    removed: Sequence[Sequence[int]],
    X: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """Test error of ``model`` with some hidden units set to zero (evaluation mode).

    Parameters
    ----------
    model : torch.nn.Module
        Left unchanged: the units are removed by forward hooks that are taken off afterwards.
    removed : sequence of sequences of int
        For each hidden layer (see :func:`hidden_modules`), the units (columns) to zero.
    X, y : torch.Tensor
        Inputs and labels.

    Returns
    -------
    float
        Fraction of misclassified examples.
    """
    with _evaluation(model), contextlib.ExitStack() as stack:
        for module, units in zip(hidden_modules(model), removed, strict=True):
            keep = torch.ones(module_width(model, module))
            keep[list(units)] = 0.0
            handle = module.register_forward_hook(lambda _m, _i, out, keep=keep: out * keep)
            stack.callback(handle.remove)
        predictions = model(X).argmax(dim=1)
    return (predictions != y).double().mean().item()


def module_width(model: nn.Module, module: nn.Module) -> int:
    """Number of units a hidden activation module outputs (the width of the Linear before it)."""
    width = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            width = m.out_features
        if m is module:
            return width
    raise ValueError("module is not part of model")


def group_ablation(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    fractions: Sequence[float],
    *,
    n_groups: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Test error after removing a random group of hidden units from every hidden layer.

    For each fraction ``f`` and each of ``n_groups`` random draws, ``round(f * n)`` units of
    every hidden layer of width ``n`` (chosen uniformly without replacement) are set to zero,
    without rescaling the others, and the test error is measured.

    Returns
    -------
    numpy.ndarray
        Errors of shape ``(len(fractions), n_groups)``.
    """
    rng = np.random.default_rng(seed)
    widths = [module_width(model, m) for m in hidden_modules(model)]
    errors = np.empty((len(fractions), n_groups))
    for i, fraction in enumerate(fractions):
        for g in range(n_groups):
            removed = [rng.permutation(n)[: round(fraction * n)] for n in widths]
            errors[i, g] = error_without(model, removed, X, y)
    return errors


@torch.no_grad()
def single_unit_damage(
    model: nn.Sequential, X: torch.Tensor, y: torch.Tensor, layer: int = 0
) -> np.ndarray:
    """Change in the number of misclassified examples when ONE unit of ``layer`` is removed.

    Removing unit ``j`` of a hidden layer subtracts ``h_j * W[:, j]`` from the next linear
    layer's output (PyTorch's ``weight`` is ``(n_out, n_in)``), so the network is run once up
    to that layer and only the rest of it is run again for each unit. ``model`` must be a flat
    ``nn.Sequential`` like the ones :func:`dropout_course.training.mlp` builds.

    Returns
    -------
    numpy.ndarray of int
        One entry per unit of the layer: errors with the unit removed minus errors intact.
    """
    H = torch.from_numpy(hidden_activations(model, X)[layer])
    children = list(model.children())
    linears = [i for i, m in enumerate(children) if isinstance(m, nn.Linear)]
    nxt = children[linears[layer + 1]]
    tail = nn.Sequential(*children[linears[layer + 1] + 1 :])
    with _evaluation(model):
        z = nxt(H)
        intact = int((tail(z).argmax(dim=1) != y).sum())
        damage = [
            int((tail(z - H[:, j : j + 1] * nxt.weight[:, j]).argmax(dim=1) != y).sum()) - intact
            for j in range(H.shape[1])
        ]
    return np.array(damage)


@dataclass
class CoAdaptation:
    """What :func:`measure` finds for the networks of one condition (one entry per seed)."""

    test_error: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    correlation: list[list[float]] = field(default_factory=list)  # per seed, per layer
    zeros: list[list[float]] = field(default_factory=list)  # per seed, per layer
    mean_activation: list[np.ndarray] = field(default_factory=list)  # layer 1, per seed
    activations: list[np.ndarray] = field(default_factory=list)  # layer 1, per seed
    dead: list[list[int]] = field(default_factory=list)  # per seed, per layer
    ablation: list[np.ndarray] = field(default_factory=list)  # per seed: (fractions, groups)


def measure(
    nets: dict[str, list[TrainedNet]],
    fractions: Sequence[float] = (0.2, 0.4, 0.6, 0.8),
    *,
    n_groups: int = 5,
) -> dict[str, CoAdaptation]:
    """Measure co-adaptation in every trained network (on its test set).

    Returns
    -------
    dict
        Condition name to a :class:`CoAdaptation` record.
    """
    results = {}
    for name, trained in nets.items():
        record = CoAdaptation()
        for net in trained:
            layers = hidden_activations(net.model, net.X_test)
            record.test_error.append(net.test_error)
            record.train_error.append(net.train_error)
            record.correlation.append([activation_correlation(H) for H in layers])
            record.zeros.append([activation_sparsity(H)[0] for H in layers])
            record.dead.append([int(np.sum(np.ptp(H, axis=0) == 0)) for H in layers])
            record.mean_activation.append(layers[0].mean(axis=0))
            record.activations.append(layers[0].ravel())
            record.ablation.append(
                group_ablation(
                    net.model, net.X_test, net.y_test, fractions, n_groups=n_groups, seed=net.seed
                )
            )
        results[name] = record
    return results


# --------------------------------------------------------------- a smaller network instead?


def width_sweep(
    drops: Sequence[float] = (0.5, 0.75, 0.9),
    *,
    n_fixed: int = 128,
    kept_fixed: int = 64,
    seeds: Iterable[int] = (0, 1, 2),
    epochs: int = 150,
    n_train: int = 300,
) -> dict[str, np.ndarray]:
    """The paper's two ways of varying the drop probability, on a network with one hidden layer.

    With ``n`` fixed, the hidden layer has ``n_fixed`` units whatever ``p`` is; with ``q n`` fixed
    it has ``keep_expected_width(kept_fixed, p)`` units (the smallest ``m`` with
    ``m (1 - p) >= kept_fixed``), so that on average at least ``kept_fixed`` of them are kept in
    every training step. Dropout is on the hidden layer only.

    Returns
    -------
    dict
        ``"n fixed"`` and ``"qn fixed"`` to arrays of shape ``(len(drops), n_seeds, 2)`` holding
        (test error, training error); ``"widths"`` to the widths of the ``qn``-fixed networks.
    """
    seeds = list(seeds)
    widths = [keep_expected_width(kept_fixed, p) for p in drops]
    out = {"n fixed": np.empty((len(drops), len(seeds), 2))}
    out["qn fixed"] = np.empty_like(out["n fixed"])
    cache: dict[tuple, tuple[float, float]] = {}
    for regime, sizes_of in (("n fixed", lambda i: n_fixed), ("qn fixed", lambda i: widths[i])):
        for i, p in enumerate(drops):
            for j, s in enumerate(seeds):
                key = (sizes_of(i), p, s)
                if key not in cache:
                    net = train_net(
                        s,
                        sizes=(64, sizes_of(i), 10),
                        hidden_drop=p,
                        epochs=epochs,
                        n_train=n_train,
                    )
                    cache[key] = (net.test_error, net.train_error)
                out[regime][i, j] = cache[key]
    out["widths"] = np.array(widths)
    out["n_fixed"] = n_fixed
    return out


# ------------------------------------------------------------------------ the two-unit toy


def toy_mask_outputs(
    contributions: Sequence[float], p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs of a linear read-out of hidden units under every dropout mask.

    The read-out is ``y = sum_j c_j r_j / (1 - p)`` (inverted dropout), where ``c_j = v_j h_j``
    is unit ``j``'s contribution and ``r_j`` its mask entry.

    Parameters
    ----------
    contributions : sequence of float
        The contributions ``c_j`` of the units.
    p : float
        Drop probability, in ``[0, 1)``.

    Returns
    -------
    masks : numpy.ndarray
        All ``2**n`` masks as rows of 0/1, the full network first.
    outputs : numpy.ndarray
        The read-out under each mask.
    probabilities : numpy.ndarray
        The probability of drawing each mask.
    """
    c = np.asarray(contributions, dtype=np.float64)
    n = len(c)
    masks = np.array([[(m >> (n - 1 - j)) & 1 for j in range(n)] for m in range(2**n)])[::-1]
    outputs = masks @ c / (1 - p)
    kept = masks.sum(axis=1)
    probabilities = (1 - p) ** kept * p ** (n - kept)
    return masks, outputs, probabilities


def toy_expected_loss(contributions: Sequence[float], p: float, target: float = 1.0) -> float:
    """Expected squared error of the read-out over the masks, by enumeration."""
    _, outputs, probabilities = toy_mask_outputs(contributions, p)
    return float(np.sum(probabilities * (target - outputs) ** 2))


def draw_toy(ax, contributions: Sequence[float], p: float, *, target: float = 1.0, title=None):
    """Bar chart of the read-out under every mask of the two-unit toy, with the target."""
    masks, outputs, probabilities = toy_mask_outputs(contributions, p)
    names = {(1, 1): "A and B", (1, 0): "A only", (0, 1): "B only", (0, 0): "neither"}
    labels = [
        f"{names.get(tuple(m), ''.join(map(str, m)))}\n(prob. {pr:.2f})"
        for m, pr in zip(masks.tolist(), probabilities, strict=True)
    ]
    colors = [COLORS["dropout"] if abs(o - target) < 1.5 else COLORS["no dropout"] for o in outputs]
    ax.bar(range(len(outputs)), outputs, color=colors, width=0.6)
    ax.axhline(target, color="black", lw=1, ls="--", label=f"target {target:g}")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(range(len(outputs)), labels, fontsize=8)
    ax.set_ylabel("read-out in this training step")
    loss = toy_expected_loss(contributions, p, target)
    c = ", ".join(f"{v:+g}" for v in contributions)
    ax.set_title(title or f"contributions ({c})\nexpected squared error {loss:.2f}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")


def toy_figure(solutions: dict[str, Sequence[float]], p: float = 0.5) -> Figure:
    """One panel per named solution of the two-unit toy (see :func:`draw_toy`)."""
    fig, axes = plt.subplots(
        1, len(solutions), figsize=(4.2 * len(solutions), 3.8), layout="constrained", sharey=True
    )
    draw_toy_solutions(np.atleast_1d(axes), solutions, p)
    return fig


def draw_toy_solutions(axes, solutions: dict[str, Sequence[float]], p: float) -> None:
    """Draw each named solution of the two-unit toy on its own axes, titled with its loss."""
    for ax, (name, contributions) in zip(axes, solutions.items(), strict=True):
        loss = toy_expected_loss(contributions, p)
        c = ", ".join(f"{v:+g}" for v in contributions)
        draw_toy(ax, contributions, p, title=f"{name}: c = ({c})\nexpected sq. error {loss:.2f}")


# ------------------------------------------------------------------------------ figures


def _spread(ax, x, values, color, label, marker="o"):
    """Mean over seeds (line) and the range over seeds (band) of ``values`` (seeds, len(x))."""
    values = np.asarray(values)
    ax.plot(x, values.mean(axis=0), marker=marker, ms=4, color=color, label=label)
    ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)


def ablation_figure(results: dict[str, CoAdaptation], fractions: Sequence[float]) -> Figure:
    """Test error against the fraction of hidden units removed, per condition."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    x = np.concatenate([[0.0], fractions])
    for name, record in results.items():
        per_seed = [
            np.concatenate([[e], a.mean(axis=1)])
            for e, a in zip(record.test_error, record.ablation, strict=True)
        ]
        _spread(ax, x, 100 * np.array(per_seed), COLORS[name], name)
    ax.set_xlabel("fraction of the units of each hidden layer set to zero")
    ax.set_ylabel("test error (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def single_unit_figure(damage: dict[str, np.ndarray], n_test: int) -> Figure:
    """Histograms of the change in the number of errors when one unit is removed."""
    fig, axes = plt.subplots(
        1, len(damage), figsize=(3.2 * len(damage), 3.0), layout="constrained", sharey=True
    )
    low = min(d.min() for d in damage.values())
    high = max(d.max() for d in damage.values())
    bins = np.arange(low - 0.5, high + 1.5)
    for ax, (name, d) in zip(np.atleast_1d(axes), damage.items(), strict=True):
        ax.hist(d, bins=bins, color=COLORS[name])
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"change in errors (of {n_test})")
    np.atleast_1d(axes)[0].set_ylabel("number of units")
    return fig


def correlation_figure(results: dict[str, CoAdaptation]) -> Figure:
    """Mean absolute pairwise correlation per hidden layer and condition (bars: mean over
    seeds; dots: the seeds)."""
    names = list(results)
    n_layers = len(results[names[0]].correlation[0])
    fig, axes = plt.subplots(
        1, n_layers, figsize=(3.4 * n_layers, 3.4), layout="constrained", sharey=True
    )
    for layer, ax in enumerate(np.atleast_1d(axes)):
        for i, name in enumerate(names):
            values = [c[layer] for c in results[name].correlation]
            ax.bar(i, np.mean(values), color=COLORS[name], alpha=0.8, width=0.6)
            ax.plot([i] * len(values), values, "o", color="black", ms=3)
        ax.set_xticks(range(len(names)), names, fontsize=9)
        ax.set_title(f"hidden layer {layer + 1}", fontsize=10)
    np.atleast_1d(axes)[0].set_ylabel("mean |correlation| between units")
    return fig


def sparsity_figure(results: dict[str, CoAdaptation]) -> Figure:
    """The paper's two histograms per condition: all activations, and each unit's mean."""
    names = list(results)
    fig, axes = plt.subplots(
        2, len(names), figsize=(3.3 * len(names), 5.6), layout="constrained", sharex="row"
    )
    high = max(float(np.max(r.activations[0])) for r in results.values())
    bins = np.linspace(0, high, 40)
    mean_high = max(float(np.max(r.mean_activation[0])) for r in results.values())
    mean_bins = np.linspace(0, mean_high, 30)
    for i, name in enumerate(names):
        record = results[name]
        acts = record.activations[0]
        axes[0, i].hist(acts, bins=bins, color=COLORS[name])
        axes[0, i].set_yscale("log")
        axes[0, i].set_title(f"{name}\n{np.mean(acts == 0):.0%} of activations are 0", fontsize=9)
        axes[0, i].set_xlabel("activation")
        axes[1, i].hist(record.mean_activation[0], bins=mean_bins, color=COLORS[name])
        mean = float(np.mean(record.mean_activation[0]))
        axes[1, i].axvline(mean, color="black", lw=1, ls="--")
        axes[1, i].set_title(f"mean over units {mean:.2f}", fontsize=9)
        axes[1, i].set_xlabel("mean activation of a unit")
    axes[0, 0].set_ylabel("count (log scale)")
    axes[1, 0].set_ylabel("number of units")
    return fig


def paired_figure(errors: dict[str, Sequence[float]], seeds: Sequence[int]) -> Figure:
    """Test error of each network, one line per seed across the networks."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8), layout="constrained")
    names = list(errors)
    values = 100 * np.array([errors[n] for n in names])  # (networks, seeds)
    for j, seed in enumerate(seeds):
        ax.plot(range(len(names)), values[:, j], "o-", color="#999999", ms=0, lw=1)
        ax.text(len(names) - 1 + 0.08, values[-1, j], f"seed {seed}", fontsize=8, va="center")
    for i in range(len(names)):
        ax.plot([i] * len(seeds), values[i], "o", color="#1f4e79", ms=6)
    ax.set_xticks(range(len(names)), names, fontsize=9)
    ax.set_xlim(-0.3, len(names) - 0.4)
    ax.set_ylabel("test error (%)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def sweep_figure(sweep: dict[str, np.ndarray], drops: Sequence[float]) -> Figure:
    """Test and training error of the networks of :func:`width_sweep`, one pair of bars each.

    At the first drop probability the two regimes are the same network, shown once (this
    assumes ``kept_fixed / (1 - drops[0]) == n_fixed``, as in the chapter).
    """
    bars = [(f"{sweep['n_fixed']} units\n$p$ = {drops[0]:g}", sweep["n fixed"][0])]
    for i, p in enumerate(drops[1:], start=1):
        bars.append((f"{sweep['n_fixed']} units\n$p$ = {p:g}\n($n$ fixed)", sweep["n fixed"][i]))
        width = int(sweep["widths"][i])
        bars.append((f"{width} units\n$p$ = {p:g}\n($qn$ fixed)", sweep["qn fixed"][i]))
    fig, ax = plt.subplots(figsize=(1.9 * len(bars) + 1.5, 3.8), layout="constrained")
    for k, (_label, values) in enumerate(bars):
        for offset, column, color, name in (
            (-0.18, 0, "#1f4e79", "test error"),
            (0.18, 1, "#e07b00", "training error"),
        ):
            v = 100 * values[:, column]
            ax.bar(k + offset, v.mean(), width=0.34, color=color, label=name if k == 0 else None)
            ax.plot([k + offset] * len(v), v, "o", color="black", ms=3)
    ax.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize=9)
    ax.set_ylabel("error (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
