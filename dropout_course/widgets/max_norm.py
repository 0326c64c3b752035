"""Chapter 05's two-dimensional picture of max-norm: SGD with momentum on a quadratic loss for
one unit with two incoming weights, with and without the projection onto a disc of radius c.

The trajectories are computed with PyTorch's own ``torch.optim.SGD``, its exponential
learning-rate scheduler and ``torch.renorm``, so the figure shows what a PyTorch training loop
does. ``max_norm_toy_demo`` is the interactive version (run it in Jupyter; the website shows
the static figure of :func:`toy_figure` in its place), and :func:`radius_scrubber` a slider
over the radius that the website can show (its frames are computed when the book is built).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dropout_course.scrubber import scrubber

#: Minimum of the toy loss: outside every disc the chapter draws, so the constraint binds.
TARGET = (2.4, 1.2)
#: Curvatures of the toy loss along its two axes (condition number 10).
CURVATURE = (1.0, 10.0)
#: Where every trajectory starts.
START = (-0.8, 0.9)
#: Half-width of the square the figures show.
VIEW = 3.5


def toy_loss(w: np.ndarray) -> np.ndarray:
    """The toy loss ``0.5 * sum_i k_i (w_i - t_i)^2`` at points ``w`` of shape ``(..., 2)``."""
    diff = np.asarray(w) - np.asarray(TARGET)
    return 0.5 * (diff**2 * np.asarray(CURVATURE)).sum(axis=-1)


def toy_trajectory(
    lr: float,
    momentum: float = 0.9,
    c: float | None = None,
    decay: float = 1.0,
    steps: int = 80,
    steps_per_epoch: int = 5,
) -> np.ndarray:
    """Iterates of SGD with momentum on the toy loss, projected onto the disc of radius ``c``.

    Parameters
    ----------
    lr, momentum : float
        Settings of ``torch.optim.SGD``.
    c : float or None
        Radius of the max-norm constraint (``torch.renorm`` after every step); ``None`` for none.
    decay : float
        The learning rate is multiplied by ``decay`` every ``steps_per_epoch`` steps
        (``torch.optim.lr_scheduler.ExponentialLR`` stepped once per "epoch").
    steps, steps_per_epoch : int
        Number of updates, and updates per epoch.

    Returns
    -------
    numpy.ndarray
        Shape ``(steps + 1, 2)``: the starting point, then the weights after every update.
        A run that diverges is stopped once it leaves a disc of radius 1e6.
    """
    weight = torch.nn.Parameter(torch.tensor([START], dtype=torch.float64))  # (n_out=1, n_in=2)
    target = torch.tensor([TARGET], dtype=torch.float64)
    curvature = torch.tensor([CURVATURE], dtype=torch.float64)
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
    path = [weight.detach().numpy()[0].copy()]
    for step in range(1, steps + 1):
        loss = 0.5 * (curvature * (weight - target) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if c is not None:
            with torch.no_grad():  # the unit's incoming weights are a row of the (1, 2) weight
                weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=c))
        if step % steps_per_epoch == 0:
            scheduler.step()
        path.append(weight.detach().numpy()[0].copy())
        if np.linalg.norm(path[-1]) > 1e6:
            break
    return np.array(path)


def draw_toy(ax: Axes, path: np.ndarray, c: float | None, title: str = "") -> None:
    """Draw the loss contours, the disc of radius ``c`` and a trajectory on ``ax``."""
    draw_toy_loss(ax)
    draw_toy_path(ax, path, c)
    ax.set_title(title, fontsize=10)


def draw_toy_loss(ax: Axes) -> None:
    """Draw what every panel shares: the loss contours, its minimum, the axes' limits."""
    grid = np.linspace(-VIEW, VIEW, 201)
    xx, yy = np.meshgrid(grid, grid)
    levels = np.geomspace(0.05, 80, 12)
    ax.contour(xx, yy, toy_loss(np.stack([xx, yy], axis=-1)), levels=levels, colors="#c8c8c8")
    ax.plot(*TARGET, "*", color="#2ca02c", ms=12, label="minimum of the loss")
    ax.set_xlim(-VIEW, VIEW)
    ax.set_ylim(-VIEW, VIEW)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")


def draw_toy_path(ax: Axes, path: np.ndarray, c: float | None) -> list:
    """Draw the disc of radius ``c`` (if any) and a trajectory; return the artists drawn."""
    drawn = []
    if c is not None:
        circle = plt.Circle((0, 0), c, fill=False, ls="--", lw=1.5, color="#1f4e79")
        drawn.append(ax.add_patch(circle))
    shown = path[np.all(np.abs(path) <= 4 * VIEW, axis=1)]
    drawn += ax.plot(
        shown[:, 0], shown[:, 1], "-o", color="#e07b00", ms=2.5, lw=1, label="iterates"
    )
    drawn += ax.plot(*path[0], "s", color="black", ms=5, label="start")
    final = np.linalg.norm(path[-1])
    note = f"after {len(path) - 1} steps: ||w|| = {final:.3g}"
    if np.any(np.abs(path[-1]) > VIEW):
        note = f"left the picture; after {len(path) - 1} steps ||w|| = {final:.2g}"
    drawn.append(ax.text(0.03, 0.03, note, transform=ax.transAxes, fontsize=8, va="bottom"))
    return drawn


def radius_scrubber(radii, lr: float, momentum: float, decay: float, *, alt: str) -> HTML:
    """For the website: the radius ``c`` as a slider, for a constant and a decaying learning
    rate side by side (panels (c) and (d) of the chapter's figure, at every ``c`` in ``radii``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.8), layout="constrained")
    runs = [(lr, 1.0, f"lr {lr:g} constant"), (lr, decay, f"lr {lr:g}, x{decay:g} per epoch")]
    paths = {
        c: [toy_trajectory(rate, momentum, c, gamma) for rate, gamma, _ in runs] for c in radii
    }
    for ax in axes:
        draw_toy_loss(ax)
    drawn = []

    def show(c):
        for artist in drawn:
            artist.remove()
        drawn.clear()
        for ax, (*_, name), path in zip(axes, runs, paths[c], strict=True):
            drawn.extend(draw_toy_path(ax, path, c))
            ax.set_title(f"{name}, c = {c:g}", fontsize=10)
        if not axes[0].get_legend():
            axes[0].legend(loc="upper left", fontsize=7)

    return scrubber(fig, show, radii, alt=alt, label="radius c of the max-norm ball")


def toy_figure(settings: list[dict], *, ncols: int = 2, panel: float = 3.6) -> Figure:
    """One panel per entry of ``settings`` (keyword arguments of :func:`toy_trajectory`).

    Each entry may carry a ``"title"``; the rest is passed to :func:`toy_trajectory`.
    """
    nrows = int(np.ceil(len(settings) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel * ncols, panel * nrows), layout="constrained", squeeze=False
    )
    for ax, setting in zip(axes.ravel(), settings, strict=False):
        setting = dict(setting)
        title = setting.pop("title", "")
        draw_toy(ax, toy_trajectory(**setting), setting.get("c"), title)
    for ax in axes.ravel()[len(settings) :]:
        ax.set_visible(False)
    axes[0, 0].legend(loc="upper left", fontsize=7)
    return fig


def max_norm_toy_demo(lr=0.42, momentum=0.9, c=1.5, decay=1.0, steps=80) -> widgets.VBox:
    """Return a widget: sliders for the learning rate, momentum, radius c and per-epoch decay,
    and a switch for the projection, redrawing the trajectory of :func:`toy_trajectory`.

    Returns
    -------
    ipywidgets.VBox
        The demo: display it (it is the last expression of a notebook cell).
    """
    style = {"description_width": "110px"}
    lr_slider = widgets.FloatSlider(
        value=lr, min=0.01, max=0.6, step=0.01, description="learning rate", style=style
    )
    momentum_slider = widgets.FloatSlider(
        value=momentum, min=0.0, max=0.99, step=0.01, description="momentum", style=style
    )
    c_slider = widgets.FloatSlider(
        value=c, min=0.25, max=3.0, step=0.25, description="radius c", style=style
    )
    decay_slider = widgets.FloatSlider(
        value=decay, min=0.5, max=1.0, step=0.01, description="decay per epoch", style=style
    )
    project = widgets.Checkbox(value=True, description="max-norm projection")
    controls = [lr_slider, momentum_slider, c_slider, decay_slider, project]
    for control in controls:
        control.continuous_update = False
    output = widgets.Output()

    def redraw(*_):
        radius = c_slider.value if project.value else None
        path = toy_trajectory(
            lr_slider.value, momentum_slider.value, radius, decay_slider.value, steps
        )
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
            draw_toy(ax, path, radius)
            ax.legend(loc="upper left", fontsize=7)
            display(fig)
            plt.close(fig)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.VBox(controls), output])
