"""Interactive figures of chapter 04: the demo runs in Jupyter (the website shows a static
figure), the scrubber on the website (its frames are computed when the book is built).

One digit goes through a small network whose hidden layer is thinned by a dropout mask, and
the figure shows which weights its gradient reaches: none of a dropped unit's.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from dropout_course.experiments.backpropagation import gradient_map_figure, one_example_gradients
from dropout_course.scrubber import scrubber


def gradient_flow_demo(p: float = 0.5, seed: int = 0, hidden: int = 16) -> widgets.VBox:
    """Return a widget: a slider for the drop probability, a button for a new mask, and the
    gradient of one example's loss with respect to every weight of the network.

    Parameters
    ----------
    p : float, optional
        Initial drop probability, in ``[0, 0.9]``.
    seed : int, optional
        Seed of the network and of the first mask; the button draws the next mask.
    hidden : int, optional
        Hidden units.

    Returns
    -------
    ipywidgets.VBox
        The demo: display it (it is the last expression of a notebook cell).
    """
    if not 0.0 <= p <= 0.9:
        raise ValueError(f"the demo's slider runs over p in [0, 0.9], got p={p}")
    state = {"mask_seed": seed + 1}
    slider = widgets.FloatSlider(
        value=p, min=0.0, max=0.9, step=0.1, description="drop p", continuous_update=False
    )
    button = widgets.Button(description="New mask", icon="refresh")
    output = widgets.Output()

    def redraw(*_):
        with output:
            output.clear_output(wait=True)
            fig = _draw_map(slider.value, seed, state["mask_seed"], hidden)
            display(fig)
            plt.close(fig)

    def new_mask(_button):
        state["mask_seed"] += 1
        redraw()

    slider.observe(redraw, names="value")
    button.on_click(new_mask)
    redraw()
    return widgets.VBox([widgets.HBox([slider, button]), output])


def _draw_map(p: float, seed: int, mask_seed: int, hidden: int, fig=None):
    """The gradient map of one digit through the thinned network of mask ``mask_seed``."""
    result = one_example_gradients(p=p, hidden=hidden, seed=seed, mask_seed=mask_seed)
    kept = int(result["mask"].sum())
    title = f"p = {p:.1f}: {kept} of {hidden} hidden units kept"
    return gradient_map_figure(result, title=title, fig=fig)


def drop_rate_scrubber(ps, seed: int = 0, hidden: int = 16, *, alt: str) -> HTML:
    """The demo's slider over ``p`` for the website, with one mask: unit ``j`` is kept when its
    uniform number is at least ``p``, so raising ``p`` drops units one at a time."""
    fig = plt.figure(figsize=(7.0, 4.0), layout="constrained")

    def show(p):
        fig.clear()
        _draw_map(p, seed, seed + 1, hidden, fig=fig)

    return scrubber(fig, show, ps, alt=alt, label="drop probability p", fixed_layout=False)
