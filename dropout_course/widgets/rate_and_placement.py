"""Interactive figure of chapter 07, *Choosing and placing dropout*: the hidden drop rate of the
regression as a slider the website can show (frames computed when the book is built, from the
fits the chapter's sweep has already trained)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML

from dropout_course.experiments.rate_and_placement import COLORS, SINE
from dropout_course.scrubber import scrubber

#: Colour of the fitted function (the chapter's colour of p = 0.25 in its static figure).
FIT_COLOR = "#1f4e79"


def sine_rate_scrubber(sweep: dict, seed_index: int = 0, *, alt: str) -> HTML:
    """The regression network's fit to one training set, for every drop rate of ``sweep``.

    Left, the training points, sin(x) and the fitted function at the slider's rate; right, the
    training and test MSE of that training set's fits against the rate, with dots at the
    slider's rate. The title gives both numbers.

    Parameters
    ----------
    sweep : dict
        What :func:`~dropout_course.experiments.rate_and_placement.sine_sweep` returns.
    seed_index : int, optional
        Which of the sweep's training sets to show.
    alt : str
        Text alternative of the player's image.
    """
    rates = list(sweep["rates"])
    x, (x_train, y_train) = sweep["x_test"], sweep["data"][seed_index]
    order = np.argsort(x)
    fits = sweep["f_test"][seed_index][:, order]
    train, test = sweep["train"][seed_index], sweep["test"][seed_index]

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(8.5, 3.3), layout="constrained", width_ratios=[1.5, 1]
    )
    left.plot(x[order], np.sin(x[order]), color="#7f7f7f", lw=1, ls="--", label="sin(x)")
    left.plot(x_train, y_train, "o", color="black", ms=3, label="training points")
    (fit,) = left.plot(x[order], fits[0], color=FIT_COLOR, lw=1.8, label="network's fit")
    left.set(xlabel="x", ylabel="y", ylim=(-2, 2))
    left.legend(fontsize=7, loc="lower right")

    right.plot(rates, train, "-", color=COLORS["train"], lw=1, label="training MSE")
    right.plot(rates, test, "-", color=COLORS["test"], lw=1, label="test MSE")
    right.axhline(SINE["noise"] ** 2, color="#7f7f7f", lw=0.8, ls=":", label="noise variance")
    (train_dot,) = right.plot([], [], "o", color=COLORS["train"], ms=7)
    (test_dot,) = right.plot([], [], "o", color=COLORS["test"], ms=7)
    right.set(xlabel="drop probability p (hidden layers)", ylabel="mean squared error")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7)

    def show(i):
        fit.set_ydata(fits[i])
        train_dot.set_data([rates[i]], [train[i]])
        test_dot.set_data([rates[i]], [test[i]])
        fig.suptitle(
            f"p = {rates[i]:g}: training MSE {train[i]:.3f}, test MSE {test[i]:.3f}",
            fontsize=10,
        )

    return scrubber(
        fig, show, range(len(rates)), alt=alt, label="drop probability p of the hidden layers"
    )
