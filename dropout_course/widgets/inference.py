"""Interactive figure of chapter 06, *Inference*: the number of thinned networks averaged, as a
slider the website can show (frames computed when the book is built, from passes the chapter
has already made)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML

from dropout_course.experiments.inference import uncertainty
from dropout_course.scrubber import scrubber

#: Colour of the average of k thinned networks (chapter 06's colour of hidden dropout).
AVERAGE_COLOR = "#1f77b4"


def mc_average_scrubber(passes, scaled, X, y, ks, *, n_images: int = 3, alt: str) -> HTML:
    """The average of the first ``k`` thinned networks, for every ``k`` in ``ks``.

    Left, the class probabilities of the ``n_images`` test images on which the passes disagree
    most (highest mutual information), with weight scaling's as black ticks; right, the test
    error of the average against ``k``, with weight scaling's as a dashed line.

    Parameters
    ----------
    passes : numpy.ndarray
        Softmax outputs of the thinned networks, shape ``(K, n, C)`` with ``K >= max(ks)``.
    scaled : numpy.ndarray
        Weight scaling's probabilities, shape ``(n, C)``.
    X, y : array-like
        The test images (8x8 digits, flattened) and their labels.
    ks : sequence of int
        The values of ``k`` the slider runs over.
    """
    y = np.asarray(y)
    means = np.cumsum(passes, axis=0) / np.arange(1, len(passes) + 1)[:, None, None]
    errors = 100 * (means.argmax(axis=2) != y).mean(axis=1)  # one per k = 1, ..., K
    chosen = np.argsort(-uncertainty(passes)["mutual_information"], kind="stable")[:n_images]
    fig, axes = plt.subplots(
        1,
        n_images + 1,
        figsize=(9.0, 2.9),
        layout="constrained",
        width_ratios=[1] * n_images + [1.6],
    )
    bars = [
        _probability_panel(ax, scaled[i], np.asarray(X[i]), y[i])
        for ax, i in zip(axes[:-1], chosen, strict=True)
    ]
    marker = _error_panel(axes[-1], errors, 100 * (scaled.argmax(axis=1) != y).mean())

    def show(k):
        for patches, i in zip(bars, chosen, strict=True):
            for patch, height in zip(patches, means[k - 1, i], strict=True):
                patch.set_height(height)
        marker.set_data([k], [errors[k - 1]])
        fig.suptitle(f"average of k = {k} thinned networks", fontsize=10)

    return scrubber(fig, show, ks, alt=alt, label="number k of thinned networks averaged")


def _probability_panel(ax, scaled, image, label):
    """Bars for the average's class probabilities, ticks for weight scaling's, the digit inset."""
    classes = np.arange(len(scaled))
    patches = ax.bar(classes, np.zeros_like(scaled), color=AVERAGE_COLOR, label="average of k")
    ax.plot(classes, scaled, "_", color="black", ms=10, mew=2, label="weight scaling")
    ax.set(ylim=(0, 1.45), yticks=[0, 0.5, 1], xticks=classes, xlabel="class")
    ax.set_title(f"a test digit (label {label})", fontsize=9)
    ax.tick_params(labelsize=7)
    inset = ax.inset_axes([0.02, 0.71, 0.27, 0.27])  # above the bars: no probability is over 1
    inset.imshow(image.reshape(8, 8), cmap="gray_r")
    inset.set_axis_off()
    return patches


def _error_panel(ax, errors, scaled_error):
    """The average's test error against k (every k), weight scaling's, and a marker to move."""
    k = np.arange(1, len(errors) + 1)
    ax.plot(k, errors, color=AVERAGE_COLOR, lw=1.2, label="average of k")
    ax.axhline(scaled_error, color="black", ls="--", lw=1, label="weight scaling")
    (marker,) = ax.plot([], [], "o", color=AVERAGE_COLOR, ms=7)
    ax.set(xscale="log", xlabel="k (masks averaged)", ylabel="test error (%)")
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return marker
