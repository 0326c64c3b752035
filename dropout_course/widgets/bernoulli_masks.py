"""Figures and the widget of chapter 03 (Bernoulli masks): networks, masks and thinned layers.

Every drawing function draws into axes the caller owns (or returns a new figure), so chapters can
compose them into their own figures and glue them with MyST-NB; other chapters reuse the colours
and the network drawing. :func:`thinned_layer_demo` is the interactive version (run it in
Jupyter; the website shows the static figure in its place), and :func:`drop_rate_scrubber` its
slider over ``p``, with frames computed when the book is built, for the website.

Conventions are the course's: ``p`` is the probability of DROPPING a unit, a mask entry is 1
(kept) or 0 (dropped), and a dense layer is ``y = x @ W + b`` with ``W`` of shape
``(n_in, n_out)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from dropout_course.scrubber import scrubber

#: Colour of a kept unit and of its edges.
KEPT_COLOR = "#1f4e79"
#: Colour of a dropped unit's outline.
DROPPED_COLOR = "#b0b0b0"
#: Colour of the activations a layer would pass on at evaluation.
EVAL_COLOR = "#7f7f7f"
#: Colour of the activations after (inverted) dropout in training.
TRAIN_COLOR = "#e07b00"


def unit_positions(layer_sizes: Sequence[int], spacing: float = 1.0) -> list[np.ndarray]:
    """Return the vertical positions of the units of each layer of a drawn network.

    Layer ``l`` is drawn at ``x = l``; its units are centred on ``y = 0``, unit 0 at the top.

    Parameters
    ----------
    layer_sizes : sequence of int
        Number of units in each layer, input layer first.
    spacing : float, optional
        Vertical distance between neighbouring units.

    Returns
    -------
    list of numpy.ndarray
        One array of ``y`` coordinates per layer.
    """
    return [spacing * ((n - 1) / 2 - np.arange(n)) for n in layer_sizes]


def draw_network(
    ax: Axes,
    layer_sizes: Sequence[int],
    keep: Sequence[np.ndarray | None] | None = None,
    *,
    title: str | None = None,
    unit_size: float = 160.0,
    edge_alpha: float = 0.45,
    layer_labels: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Draw a small fully connected network, greying out dropped units and removing their edges.

    An edge is drawn only when both of its ends are kept: a dropped unit sends nothing forward
    and, for the pass in which it is dropped, nothing reaches it either.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw into. Its axis lines and ticks are switched off.
    layer_sizes : sequence of int
        Number of units in each layer, input layer first.
    keep : sequence of (array-like of bool or None), optional
        One entry per layer: a 0/1 or boolean mask of that layer's units (1 = kept), or
        ``None`` for a layer without dropout. ``None`` (the default) keeps every unit.
    title : str, optional
        Axes title.
    unit_size : float, optional
        Marker area of a unit, in points squared.
    edge_alpha : float, optional
        Opacity of the edges.
    layer_labels : sequence of str, optional
        Labels written under each layer.

    Returns
    -------
    list of numpy.ndarray
        The ``y`` coordinates of each layer's units (layer ``l`` sits at ``x = l``).
    """
    n_layers = len(layer_sizes)
    if keep is None:
        keep = [None] * n_layers
    if len(keep) != n_layers:
        raise ValueError(f"keep has {len(keep)} entries but there are {n_layers} layers")
    masks = []
    for size, k in zip(layer_sizes, keep, strict=True):
        mask = np.ones(size, dtype=bool) if k is None else np.asarray(k).astype(bool).ravel()
        if mask.shape != (size,):
            raise ValueError(f"a keep mask has {mask.size} entries for a layer of {size} units")
        masks.append(mask)
    ys = unit_positions(layer_sizes)

    segments = []
    for layer in range(n_layers - 1):
        for i in np.flatnonzero(masks[layer]):
            for j in np.flatnonzero(masks[layer + 1]):
                segments.append([(layer, ys[layer][i]), (layer + 1, ys[layer + 1][j])])
    ax.add_collection(
        LineCollection(segments, colors=KEPT_COLOR, linewidths=0.8, alpha=edge_alpha, zorder=1)
    )

    for layer, (y, mask) in enumerate(zip(ys, masks, strict=True)):
        x = np.full(y.shape, float(layer))
        ax.scatter(x[mask], y[mask], s=unit_size, color=KEPT_COLOR, edgecolors="white", zorder=3)
        ax.scatter(
            x[~mask],
            y[~mask],
            s=unit_size,
            facecolors="white",
            edgecolors=DROPPED_COLOR,
            linestyles="--",
            linewidths=1.2,
            zorder=3,
        )
        ax.scatter(
            x[~mask], y[~mask], s=unit_size * 0.35, marker="x", color=DROPPED_COLOR, zorder=4
        )

    top = max(len(y) for y in ys) / 2
    ax.set_xlim(-0.4, n_layers - 0.6)
    ax.set_ylim(-top - (0.6 if layer_labels else 0.2), top + 0.2)
    if layer_labels is not None:
        for layer, label in enumerate(layer_labels):
            ax.text(layer, -top - 0.25, label, ha="center", va="center", fontsize=9)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ys


def draw_mask(
    ax: Axes,
    mask: np.ndarray,
    *,
    title: str | None = None,
    xlabel: str = "unit $j$",
    ylabel: str = "example in the batch",
):
    """Draw a 2-D dropout mask as an image: kept entries dark, dropped entries light.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw into.
    mask : array-like of shape (n_rows, n_cols)
        0/1 or boolean mask (1 = kept), for example one row per example of a batch.
    title : str, optional
        Axes title.
    xlabel, ylabel : str, optional
        Axis labels.

    Returns
    -------
    matplotlib.image.AxesImage
        The drawn image.
    """
    mask = np.asarray(mask).astype(float)
    if mask.ndim != 2:
        raise ValueError(f"draw_mask needs a 2-D mask, got shape {mask.shape}")
    cmap = ListedColormap(["#f2f2f2", KEPT_COLOR])
    image = ax.imshow(mask, cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="equal")
    rows, cols = mask.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="both", length=0, labelsize=8)
    ax.set_xticks([0, cols - 1])
    ax.set_yticks([0, rows - 1])
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    if title is not None:
        ax.set_title(title, fontsize=10)
    return image


def draw_activations(
    ax: Axes,
    h: np.ndarray,
    mask: np.ndarray,
    p: float,
    *,
    y: np.ndarray | None = None,
    inverted: bool = True,
) -> np.ndarray:
    """Draw one layer's activations before and after dropout as horizontal bars.

    Grey outlines show what each unit passes on at evaluation, filled bars what it passes on in
    this training step: zero for a dropped unit, ``h / (1 - p)`` for a kept one (inverted
    dropout) or ``h`` (standard dropout).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw into.
    h : array-like of shape (n,)
        Activations of the layer for one example, before dropout.
    mask : array-like of shape (n,)
        0/1 or boolean mask (1 = kept).
    p : float
        Drop probability, in ``[0, 1)``.
    y : array-like of shape (n,), optional
        Vertical positions of the bars; by default those of :func:`unit_positions`, so the bars
        line up with a network drawn by :func:`draw_network` on axes that share ``y``.
    inverted : bool, optional
        Whether kept units are scaled by ``1 / (1 - p)``.

    Returns
    -------
    numpy.ndarray
        The training-mode outputs that were drawn.
    """
    h = np.asarray(h, dtype=float).ravel()
    keep = np.asarray(mask).astype(bool).ravel()
    if not 0.0 <= p < 1.0:
        raise ValueError(f"draw_activations needs p in [0, 1), got p={p}")
    if y is None:
        y = unit_positions([h.size])[0]
    scale = 1.0 / (1.0 - p) if inverted else 1.0
    out = np.where(keep, h * scale, 0.0)
    height = 0.6
    ax.barh(y, out, height=height, color=TRAIN_COLOR, label="training output", zorder=2)
    ax.barh(
        y,
        h,
        height=height,
        facecolor="none",
        edgecolor=EVAL_COLOR,
        linewidth=1.2,
        label="evaluation output",
        zorder=3,
    )
    for yj, hj in zip(y[~keep], h[~keep], strict=True):
        ax.annotate(
            "dropped",
            (hj, yj),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=7,
            color=EVAL_COLOR,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return out


def example_layer(layer_sizes: Sequence[int] = (4, 10, 3), seed: int = 0) -> dict[str, np.ndarray]:
    """Make a small two-layer ReLU network and one input for the thinned-layer figures.

    Parameters
    ----------
    layer_sizes : sequence of three int, optional
        Sizes of the input, hidden and output layers.
    seed : int, optional
        Seed of the ``numpy.random.Generator`` that draws the input and the weights.

    Returns
    -------
    dict
        ``x`` (shape ``(n_in,)``), ``W1``, ``b1``, ``W2``, ``b2`` (weights as ``(n_in, n_out)``)
        and ``h = relu(x @ W1 + b1)``, the hidden activations before dropout.
    """
    n_in, n_hidden, n_out = layer_sizes
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_in)
    W1 = rng.normal(scale=1 / np.sqrt(n_in), size=(n_in, n_hidden))
    b1 = np.full(n_hidden, 0.8)
    W2 = rng.normal(scale=1 / np.sqrt(n_hidden), size=(n_hidden, n_out))
    b2 = np.zeros(n_out)
    h = np.maximum(x @ W1 + b1, 0.0)
    return {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "h": h}


def draw_thinned_layer(
    ax_net: Axes,
    ax_act: Axes,
    layer: dict[str, np.ndarray],
    mask: np.ndarray,
    p: float,
    *,
    title: str | None = None,
    xmax: float | None = None,
) -> np.ndarray:
    """Draw a network whose hidden layer is thinned by ``mask``, and that layer's activations.

    Parameters
    ----------
    ax_net : matplotlib.axes.Axes
        Axes for the network (input, hidden and output layers, left to right).
    ax_act : matplotlib.axes.Axes
        Axes for the hidden activations; should share ``y`` with ``ax_net`` so each bar sits
        level with its unit.
    layer : dict
        A network as returned by :func:`example_layer`.
    mask : array-like of shape (n_hidden,)
        0/1 or boolean mask of the hidden units (1 = kept).
    p : float
        Drop probability the mask was drawn with, in ``[0, 1)``.
    title : str, optional
        Title of the network axes.
    xmax : float, optional
        Right end of the activation axis; by default the largest activation divided by
        ``1 - p``, with a small margin.

    Returns
    -------
    numpy.ndarray
        The hidden layer's training-mode output (inverted dropout).
    """
    sizes = (layer["W1"].shape[0], layer["W1"].shape[1], layer["W2"].shape[1])
    keep = np.asarray(mask).astype(bool)
    ys = draw_network(
        ax_net,
        sizes,
        [None, keep, None],
        title=title,
        layer_labels=["input", "hidden", "output"],
    )
    out = draw_activations(ax_act, layer["h"], keep, p, y=ys[1])
    if xmax is None:
        xmax = 1.05 * max(float(np.max(layer["h"])) / (1 - p), 1e-9)
    ax_act.set_xlim(0, xmax)
    return out


def thinned_layer_figure(
    layer: dict[str, np.ndarray],
    ps: Sequence[float],
    masks: Sequence[np.ndarray],
    *,
    width: float = 7.0,
    row_height: float = 2.8,
) -> Figure:
    """Return a figure with one row per drop probability: the thinned network and activations.

    All rows share the activation axis, so the growth of the kept units with ``p`` is visible.

    Parameters
    ----------
    layer : dict
        A network as returned by :func:`example_layer`.
    ps : sequence of float
        Drop probabilities, one per row, each in ``[0, 1)``.
    masks : sequence of array-like
        Hidden-layer masks (1 = kept), one per row.
    width, row_height : float, optional
        Figure width and the height of one row, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the caller closes it.
    """
    if len(ps) != len(masks):
        raise ValueError(f"{len(ps)} drop probabilities but {len(masks)} masks")
    fig, axes = plt.subplots(
        len(ps),
        2,
        figsize=(width, row_height * len(ps)),
        sharey="row",
        width_ratios=[1.3, 1.0],
        squeeze=False,
        layout="constrained",
    )
    xmax = _activation_axis(layer, ps)
    for row, (p, mask) in enumerate(zip(ps, masks, strict=True)):
        _draw_titled_row(axes[row, 0], axes[row, 1], layer, p, mask, xmax)
    axes[-1, 1].set_xlabel("activation", fontsize=9)
    _legend_below(fig, axes[0, 1])
    return fig


def _activation_axis(layer: dict[str, np.ndarray], ps: Sequence[float]) -> float:
    """Right end of an activation axis that holds the largest kept unit at every ``p``."""
    return 1.05 * max(float(np.max(layer["h"])) / (1 - max(ps)), 1e-9)


def _draw_titled_row(ax_net, ax_act, layer, p: float, mask, xmax: float) -> None:
    """One row of :func:`thinned_layer_figure`: the thinned network and its activations."""
    keep = np.asarray(mask).astype(bool)
    title = f"p = {p:g}: {keep.sum()} of {keep.size} hidden units kept"
    draw_thinned_layer(ax_net, ax_act, layer, keep, p, title=title, xmax=xmax)
    ax_act.set_title(f"hidden activations (kept units × {1 / (1 - p):.3g})", fontsize=10)


def _legend_below(fig: Figure, ax: Axes) -> None:
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=2,
        fontsize=9,
        frameon=False,
    )


def drop_rate_scrubber(layer: dict[str, np.ndarray], u: np.ndarray, ps, *, alt: str) -> HTML:
    """A row of :func:`thinned_layer_figure` for every ``p`` in ``ps``, for the website.

    Hidden unit ``j`` is kept when ``u[j] >= p``: the numbers ``u`` stay fixed, so as the
    slider raises ``p`` units drop out one by one and the survivors grow by ``1 / (1 - p)``.
    """
    fig, (ax_net, ax_act) = plt.subplots(
        1, 2, figsize=(7.0, 3.4), sharey=True, width_ratios=[1.3, 1.0], layout="constrained"
    )
    xmax = _activation_axis(layer, ps)

    def show(p):
        ax_net.clear()
        ax_act.clear()
        _draw_titled_row(ax_net, ax_act, layer, p, u >= p, xmax)
        ax_act.set_xlabel("activation", fontsize=9)
        if not fig.legends:
            _legend_below(fig, ax_act)

    return scrubber(fig, show, ps, alt=alt, label="drop probability p")


def thinned_layer_demo(
    p: float = 0.5,
    seed: int = 0,
    layer_sizes: tuple[int, int, int] = (4, 10, 3),
) -> widgets.VBox:
    """Return a widget that thins a small network's hidden layer for a drop probability p.

    A slider sets ``p`` and a button draws a new mask. Each hidden unit ``j`` holds a uniform
    random number ``u_j`` and is kept when ``u_j >= p``, which happens with probability
    ``1 - p``. The numbers stay fixed while the slider moves, so raising ``p`` drops units one by
    one (and enlarges the survivors by ``1 / (1 - p)``); "Resample mask" draws new numbers.

    Parameters
    ----------
    p : float, optional
        Initial drop probability, in ``[0, 0.9]``.
    seed : int, optional
        Seed of the ``numpy.random.Generator`` for the network and the masks.
    layer_sizes : tuple of three int, optional
        Sizes of the input, hidden and output layers.

    Returns
    -------
    ipywidgets.VBox
        The demo: display it (it is the last expression of a notebook cell).
    """
    if not 0.0 <= p <= 0.9:
        raise ValueError(f"the demo's slider runs over p in [0, 0.9], got p={p}")
    layer = example_layer(layer_sizes, seed=seed)
    rng = np.random.default_rng(seed)
    state = {"u": rng.random(layer_sizes[1])}

    slider = widgets.FloatSlider(
        value=p,
        min=0.0,
        max=0.9,
        step=0.05,
        description="drop p",
        continuous_update=False,
        readout_format=".2f",
    )
    button = widgets.Button(description="Resample mask", icon="refresh")
    output = widgets.Output()

    def redraw(*_):
        mask = state["u"] >= slider.value
        with output:
            output.clear_output(wait=True)
            fig = thinned_layer_figure(layer, [slider.value], [mask], row_height=3.2)
            display(fig)
            plt.close(fig)

    def resample(_button):
        state["u"] = rng.random(layer_sizes[1])
        redraw()

    slider.observe(redraw, names="value")
    button.on_click(resample)
    redraw()
    return widgets.VBox([widgets.HBox([slider, button]), output])
