"""Interactive figures of chapter 02 (co-adaptation): two hidden units that add up to the right
answer, seen through the dropout masks. :func:`two_unit_demo` runs in Jupyter (the website shows
a static figure); :func:`drop_rate_scrubber` is a slider over ``p`` that the website can show."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from dropout_course.experiments.co_adaptation import (
    draw_toy,
    draw_toy_solutions,
    toy_expected_loss,
    toy_mask_outputs,
)
from dropout_course.scrubber import scrubber


def two_unit_demo(contribution_a: float = 2.5, p: float = 0.5, target: float = 1.0) -> widgets.VBox:
    """Return a widget showing how dropout scores two units that only work together.

    Two hidden units A and B feed a linear read-out with contributions ``c_A`` and
    ``c_B = target - c_A``, so the full network always outputs the target. A slider moves
    ``c_A``: at ``target / 2`` the units share the work equally, far from it one unit overshoots
    and the other cancels the excess. A second slider sets the drop probability ``p``. The plot
    shows the read-out under each of the four masks (inverted dropout) and the expected squared
    error, which equals ``p / (1 - p) * (c_A**2 + c_B**2)``.

    Parameters
    ----------
    contribution_a : float, optional
        Initial contribution of unit A, in ``[-2, 4]``.
    p : float, optional
        Initial drop probability, in ``[0.05, 0.9]``.
    target : float, optional
        The output the two units produce together.

    Returns
    -------
    ipywidgets.VBox
        The demo: display it (it is the last expression of a notebook cell).
    """
    if not -2.0 <= contribution_a <= 4.0:
        raise ValueError(f"the demo's slider runs over c_A in [-2, 4], got {contribution_a}")
    if not 0.05 <= p <= 0.9:
        raise ValueError(f"the demo's slider runs over p in [0.05, 0.9], got p={p}")
    c_slider = widgets.FloatSlider(
        value=contribution_a,
        min=-2.0,
        max=4.0,
        step=0.1,
        description="c_A",
        continuous_update=False,
    )
    p_slider = widgets.FloatSlider(
        value=p, min=0.05, max=0.9, step=0.05, description="drop p", continuous_update=False
    )
    output = widgets.Output()

    def redraw(*_):
        contributions = (c_slider.value, target - c_slider.value)
        loss = toy_expected_loss(contributions, p_slider.value, target)
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
            draw_toy(ax, contributions, p_slider.value, target=target)
            display(fig)
            plt.close(fig)
            print(f"expected squared error over the masks: {loss:.3f}")

    c_slider.observe(redraw, names="value")
    p_slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([c_slider, p_slider]), output])


def drop_rate_scrubber(solutions: dict, ps, *, alt: str) -> HTML:
    """The panels of ``toy_figure`` for every drop probability in ``ps``, on one fixed scale,
    so that the reader sees the read-outs of the masks move apart as ``p`` grows."""
    outputs = [toy_mask_outputs(c, p)[1] for c in solutions.values() for p in ps]
    low, high = min(min(o) for o in outputs), max(max(o) for o in outputs)
    margin = 0.08 * (high - low)
    fig, axes = plt.subplots(
        1, len(solutions), figsize=(7.6, 3.6), layout="constrained", sharey=True, squeeze=False
    )

    def show(p):
        for ax in axes[0]:
            ax.clear()
        draw_toy_solutions(axes[0], solutions, p)
        axes[0, 0].set_ylim(min(low, 0) - margin, high + margin)
        fig.suptitle(f"drop probability p = {p:.2f}", fontsize=10)

    return scrubber(fig, show, ps, alt=alt, label="drop probability p")
