"""Experiments of chapter 08, *Variants*: Gaussian dropout, DropConnect, spatial dropout and
dropout in a recurrent network, each beside Bernoulli dropout on the digits.

The multilayer networks are chapter 07's (``dropout_mlp``, :data:`~.rate_and_placement.SIZES`,
its recipe) with their dropout modules swapped for another kind of noise; the convolutional
network reads the 8x8 images as images, the recurrent one reads them row by row (8 steps of 8
pixels). Every network trains through
:func:`dropout_course.experiments.overfitting.train_digits` (300 training, 300 validation and
797 test images; the one training loop). The NumPy definitions of the four variants are the
instructor's (``autograder/content/reference/variants.py``); the PyTorch modules here compute
the same noise, and ``tests/test_claims_variants.py`` checks that they do.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from autograder.content.reference.bernoulli_masks import bernoulli_mask, dropout_forward
from autograder.content.reference.variants import (
    gaussian_dropout_forward,
    locked_dropout,
    spatial_dropout_forward,
)
from dropout_course.experiments import overfitting as ov
from dropout_course.experiments import rate_and_placement as rp
from dropout_course.training import train

#: Shape of a digit as an image, and as a sequence of rows (steps, pixels a step).
IMAGE = (1, 8, 8)
STEPS, ROW = 8, 8
#: Epochs of the convolutional networks (the others follow chapter 07's recipe), and the test
#: image whose feature maps the chapter shows.
CNN_EPOCHS = 100
SHOWN_IMAGE = 0


# ------------------------------------------------------------------- noise on units and weights


class GaussianDropout(nn.Module):
    """Multiplies each element by an independent normal factor of mean 1 and variance
    ``p / (1 - p)`` in training (the inverted Bernoulli factor's variance); identity in
    evaluation."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnectLinear(nn.Linear):
    """A linear layer whose weights are dropped with probability ``p`` in training, kept ones
    scaled by ``1 / (1 - p)``; the bias is never dropped. ``per_example=False`` draws one mask
    for the minibatch (COURSE-SPEC's ``dropconnect_forward``); ``True``, one per example, as
    Wan et al. (2013) do, at the price of a weight matrix per example. Evaluation uses the
    weights unscaled (the mean network, not Wan et al.'s moment-matching inference)."""

    def __init__(self, n_in: int, n_out: int, p: float = 0.5, per_example: bool = False):
        super().__init__(n_in, n_out)
        self.p, self.per_example = p, per_example

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return super().forward(x)
        shape = (len(x), *self.weight.shape) if self.per_example else self.weight.shape
        kept = self.weight * (torch.rand(shape) >= self.p) / (1 - self.p)
        if self.per_example:
            return torch.einsum("ni,noi->no", x, kept) + self.bias
        return F.linear(x, kept, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, per_example={self.per_example}"


def gaussian_noise(p: float, n: int = 1_000_000, seed: int = 0) -> np.ndarray:
    """``n`` factors of the reference's ``gaussian_dropout_forward`` at drop probability ``p``."""
    return gaussian_dropout_forward(np.ones(n), p, np.random.default_rng(seed))[1]


def gaussian_mlp(sizes=rp.SIZES, p: float = 0.5) -> nn.Sequential:
    """Chapter 07's ``dropout_mlp(sizes, 0, p)`` with Gaussian noise in place of each dropout
    (same layers, same initial weights from the same seed)."""
    model = rp.dropout_mlp(sizes, 0.0, p)
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Dropout):
            model[i] = GaussianDropout(layer.p)
    return model


def dropconnect_mlp(sizes=rp.SIZES, p: float = 0.5, per_example: bool = False) -> nn.Sequential:
    """Chapter 07's ``dropout_mlp(sizes, 0, p)`` with DropConnect in place of dropout: each
    layer fed by a dropout drops its weights instead (same initial weights from the same seed)."""
    model = rp.dropout_mlp(sizes, 0.0, p)
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Dropout):
            dense = model[i + 1]
            swapped = DropConnectLinear(dense.in_features, dense.out_features, p, per_example)
            swapped.load_state_dict(dense.state_dict())
            model[i], model[i + 1] = nn.Identity(), swapped
    return model


#: The networks of the first comparison, built with hidden drop probability ``p``.
MLP_VARIANTS = {
    "no dropout": lambda p: rp.dropout_mlp(rp.SIZES, 0.0, 0.0),
    "Bernoulli": lambda p: rp.dropout_mlp(rp.SIZES, 0.0, p),
    "Gaussian": lambda p: gaussian_mlp(rp.SIZES, p),
    "DropConnect": lambda p: dropconnect_mlp(rp.SIZES, p),
}


def compare(builds: dict, seeds=(0, 1, 2), **options) -> dict[str, dict]:
    """Train each network of ``builds`` (name to a function of no argument) on the digits with
    chapter 07's recipe, once per seed; return name to :func:`~.rate_and_placement.summary`
    of its runs (arrays over the seeds)."""
    return {
        name: rp.summary([rp.train_kept(build, seed, eval_every=0, **options)[0] for seed in seeds])
        for name, build in builds.items()
    }


def epoch_seconds(build, *, epochs: int = 3, repeats: int = 3, seed: int = 0) -> float:
    """Seconds a training epoch of ``build()``'s network takes on the 300 training digits
    (chapter 07's minibatches): the fastest of ``repeats`` timings of ``epochs`` epochs, the
    least disturbed by other work on the machine."""
    X, y = ov.digits_data(300, seed=seed)["train"]
    torch.manual_seed(seed)
    model = build()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        train(model, X, y, epochs=epochs, batch_size=rp.RECIPE["batch_size"], seed=seed)
        best = min(best, (time.perf_counter() - start) / epochs)
    return best


# ------------------------------------------------------------------------ convolutional network


def conv_net(p: float = 0.0, kind: str = "element", channels=(8, 16)) -> nn.Sequential:
    """A small convolutional network for the 8x8 digits (given flat, as the loop feeds them).

    Two 3x3 convolutions (padding 1, ReLU), then 2x2 max pooling and a linear read-out of the
    4x4 maps. Between the convolutions, dropout of probability ``p`` (none when 0):
    ``kind="element"`` drops single activations (``nn.Dropout``), ``"spatial"`` whole feature
    maps (``nn.Dropout2d``).
    """
    drop = {"element": nn.Dropout, "spatial": nn.Dropout2d}[kind]
    a, b = channels
    dropped = [drop(p)] if p > 0 else []
    return nn.Sequential(nn.Unflatten(1, IMAGE), nn.Conv2d(1, a, 3, padding=1), nn.ReLU(),
                         *dropped, nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(b * 16, 10))  # fmt: skip


@torch.no_grad()
def first_maps(net: nn.Sequential, X: torch.Tensor) -> torch.Tensor:
    """The feature maps after the first convolution and its ReLU, shape ``(N, C, 8, 8)``."""
    return net[:3].eval()(X)


def neighbour_correlation(maps, distances=(1, 2, 3, 4, 5)) -> np.ndarray:
    """Mean correlation, over the images, of two activations of one feature map ``d`` pixels
    apart (horizontally or vertically), for each ``d``: averaged over channels and positions
    (pairs where either activation never varies are left out)."""
    maps = np.asarray(maps, dtype=np.float64)
    found = []
    for d in distances:
        pairs = [(maps[..., :, :-d], maps[..., :, d:]), (maps[..., :-d, :], maps[..., d:, :])]
        values = []
        for a, b in pairs:
            a, b = a - a.mean(0), b - b.mean(0)
            scale = np.sqrt((a**2).sum(0) * (b**2).sum(0))
            values.append(((a * b).sum(0) / np.where(scale > 0, scale, np.nan)).ravel())
        found.append(np.nanmean(np.concatenate(values)))
    return np.array(found)


@torch.no_grad()
def injected_noise(net: nn.Sequential, X: torch.Tensor, p: float, masks: int = 10, seed=0):
    """How much noise each kind of mask on the first feature maps puts into the second
    convolution's pre-activations: the variance over ``masks`` masks, averaged over units and
    images, divided by the variance over the images without a mask. Returns
    ``{"element": ..., "spatial": ...}``."""
    maps, conv = first_maps(net, X), net[3 if isinstance(net[3], nn.Conv2d) else 4]
    signal = conv(maps).var(0).mean().item()
    generator = torch.Generator().manual_seed(seed)
    found = {}
    for kind, shape in (("element", maps.shape), ("spatial", (*maps.shape[:2], 1, 1))):
        outs = torch.stack([conv(maps * (torch.rand(shape, generator=generator) >= p) / (1 - p))
                            for _ in range(masks)])  # fmt: skip
        found[kind] = outs.var(0).mean().item() / signal
    return found


def masked_maps(maps, p: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature maps ``(N, C, H, W)`` after an element-wise mask and after a spatial mask of
    drop probability ``p`` (the reference's ``dropout_forward`` and
    ``spatial_dropout_forward``, each with a generator seeded with ``seed``: with one seed, the
    masks of a higher rate drop everything a lower rate's drop, and more)."""
    element = dropout_forward(maps, p, np.random.default_rng(seed))[0]
    return element, spatial_dropout_forward(maps, p, np.random.default_rng(seed))[0]


# --------------------------------------------------------------------------- recurrent network


class RowRNN(nn.Module):
    """Reads a digit row by row (8 steps of 8 pixels) with a tanh recurrent cell,
    ``h_t = tanh(W x_t + U (m_t * h_{t-1}) + b)``, and classifies the last state.

    In training, the state fed back is dropped with probability ``p`` (inverted): a fresh mask
    ``m_t`` at every step (``locked=False``), or one mask per sequence at every step
    (``locked=True``: variational or locked dropout, Gal and Ghahramani, 2016)."""

    def __init__(self, p: float = 0.0, locked: bool = True, hidden: int = 64):
        super().__init__()
        self.p, self.locked = p, locked
        self.cell = nn.RNNCell(ROW, hidden)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(len(x), STEPS, ROW).transpose(0, 1)  # (T, N, pixels)
        h = x.new_zeros(len(x), self.cell.hidden_size)
        mask = None
        for row in rows:
            if self.training and self.p > 0:
                if mask is None or not self.locked:
                    mask = (torch.rand_like(h) >= self.p) / (1 - self.p)
                h = h * mask
            h = self.cell(row, h)
        return self.out(h)


def kept_throughout(p: float, steps: int, locked: bool, sequences: int, rng) -> float:
    """Fraction of (sequence, unit) pairs whose unit is kept at every one of ``steps`` steps,
    sampled with the reference's masks: ``q`` when locked, ``q ** steps`` with fresh masks."""
    ones = np.ones((steps, sequences, 1))
    if locked:
        return float(locked_dropout(ones, p, rng)[1].mean())
    return float(bernoulli_mask((steps, sequences, 1), p, rng).all(axis=0).mean())


# -------------------------------------------------------------------------------------- figures


def correlation_figure(correlation, distances, noise: dict[float, dict]) -> Figure:
    """Left: correlation of two activations of a feature map against their distance. Right:
    the noise each kind of mask injects into the next convolution, against ``p``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4), layout="constrained")
    left.plot(distances, correlation, "o-", color=rp.COLORS["train"])
    left.set(xlabel="distance between two activations (pixels)", ylabel="mean correlation",
             xticks=list(distances), ylim=(0, 1))  # fmt: skip
    left.grid(alpha=0.3)
    rates = sorted(noise)
    for kind, color in (("element", rp.COLORS["val"]), ("spatial", rp.COLORS["test"])):
        label = {"element": "element-wise mask", "spatial": "spatial mask"}[kind]
        right.plot(rates, [noise[p][kind] for p in rates], "o-", color=color, label=label)
    right.set(xlabel="drop probability p", ylabel="noise variance / signal variance")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return fig


def masks_figure(p: float, steps: int = STEPS, units: int = 16, seed: int = 0) -> Figure:
    """The masks of one sequence's state over the time steps: fresh at every step (left) and
    locked (right), from the reference's ``locked_dropout`` and ``bernoulli_mask``."""
    rng = np.random.default_rng(seed)
    fresh = bernoulli_mask((steps, units), p, rng)
    locked = np.broadcast_to(
        locked_dropout(np.ones((steps, 1, units)), p, rng)[1][:, 0], fresh.shape
    )
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8), layout="constrained")
    for ax, mask, title in ((axes[0], fresh, "a fresh mask every step"),
                            (axes[1], locked, "one mask for all steps (locked)")):  # fmt: skip
        ax.imshow(mask.T, cmap="Greys", vmin=-0.3, vmax=1.3, aspect="auto")
        ax.set(title=title, xlabel="time step", ylabel="hidden unit",
               xticks=range(steps), xticklabels=range(1, steps + 1), yticks=[])  # fmt: skip
        ax.title.set_fontsize(9)
    return fig
