"""Interactive ipywidgets demos for the chapters (run them in Jupyter; the website shows
static figures in their place).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from dropout_course.plots import example_layer, thinned_layer_figure


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
