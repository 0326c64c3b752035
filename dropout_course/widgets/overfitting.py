"""Interactive figures of chapter 01, *Overfitting*: the polynomial demo (run it in Jupyter;
the website shows a static grid of the same panels) and its capacity slider as a scrubber the
website can show (frames computed when the book is built)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from dropout_course.experiments.overfitting import draw_polynomial_fit
from dropout_course.scrubber import scrubber


def polynomial_demo(degree=3, n_train=15, noise=0.3, seed=0) -> widgets.VBox:
    """Return a widget that fits a polynomial to noisy points of sin(x).

    Three sliders set the capacity (the polynomial's degree), the noise standard deviation
    and the number of training points; a button draws a new training set. The panel shows
    the training points, sin(x), the least-squares fit, and its training and test MSE.

    Parameters
    ----------
    degree : int, optional
        Initial degree, in ``[0, 20]``.
    n_train : int, optional
        Initial number of training points, in ``[5, 200]``.
    noise : float, optional
        Initial noise standard deviation, in ``[0, 1]``.
    seed : int, optional
        Seed of the first training set; the button increments it.

    Returns
    -------
    ipywidgets.VBox
        The demo: display it (it is the last expression of a notebook cell).
    """
    if not (0 <= degree <= 20 and 5 <= n_train <= 200 and 0.0 <= noise <= 1.0):
        raise ValueError(
            "the sliders run over degree in [0, 20], n_train in [5, 200] and noise in [0, 1]; "
            f"got degree={degree}, n_train={n_train}, noise={noise}"
        )
    state = {"seed": seed}
    common = {"continuous_update": False, "style": {"description_width": "initial"}}
    degree_slider = widgets.IntSlider(
        value=degree, min=0, max=20, description="capacity (degree)", **common
    )
    size_slider = widgets.IntSlider(
        value=n_train, min=5, max=200, description="training points", **common
    )
    noise_slider = widgets.FloatSlider(
        value=noise, min=0.0, max=1.0, step=0.05, description="noise sd", **common
    )
    button = widgets.Button(description="New training set", icon="refresh")
    output = widgets.Output()

    def redraw(*_):
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
            draw_polynomial_fit(
                ax, degree_slider.value, size_slider.value, noise_slider.value, state["seed"]
            )
            ax.legend(fontsize=8, loc="lower left")
            display(fig)
            plt.close(fig)

    def resample(_button):
        state["seed"] += 1
        redraw()

    for slider in (degree_slider, size_slider, noise_slider):
        slider.observe(redraw, names="value")
    button.on_click(resample)
    redraw()
    controls = widgets.VBox([degree_slider, size_slider, noise_slider, button])
    return widgets.VBox([controls, output])


def degree_scrubber(degrees, n_train=15, noise=0.3, seed=0, *, alt: str) -> HTML:
    """The capacity slider of :func:`polynomial_demo` for the website: one fit per degree in
    ``degrees``, to the same training set, with its training and test MSE in the title."""
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")

    def show(degree):
        ax.clear()
        draw_polynomial_fit(ax, degree, n_train, noise, seed)
        ax.legend(fontsize=8, loc="lower left")

    return scrubber(fig, show, degrees, alt=alt, label="degree of the polynomial")
