"""Interactive figure of chapter 08, *Variants*: the drop probability as a slider, and what an
element-wise and a spatial mask leave of one digit's feature maps (frames computed when the
book is built, by :func:`~dropout_course.experiments.variants.masked_maps`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML

from dropout_course.experiments.variants import masked_maps
from dropout_course.scrubber import scrubber


def feature_map_scrubber(maps, rates, *, seed: int = 0, alt: str) -> HTML:
    """One image's feature maps, whole, under an element-wise mask and under a spatial mask.

    Every frame draws its masks with ``seed``, so that a map or an activation dropped at one
    rate stays dropped at every higher rate.

    Parameters
    ----------
    maps : numpy.ndarray
        Feature maps of one image, shape ``(C, H, W)`` (non-negative: after a ReLU).
    rates : sequence of float
        The drop probabilities the slider runs over, each in ``[0, 1)``.
    seed : int
        Seed of the masks.
    alt : str
        Text alternative of the player's image.
    """
    maps = np.asarray(maps, dtype=np.float64)[None]  # (1, C, H, W)
    channels = maps.shape[1]
    fig, axes = plt.subplots(3, channels, figsize=(1.2 * channels, 4.0), layout="constrained")
    rows = ("no mask", "element-wise", "spatial")
    top = maps.max() / (1 - max(rates))  # one colour scale for every frame
    images = [[ax.imshow(np.zeros(maps.shape[2:]), cmap="magma", vmin=0, vmax=top)
               for ax in row] for row in axes]  # fmt: skip
    for row, name in zip(axes, rows, strict=True):
        row[0].set_ylabel(name, fontsize=8)
        for ax in row:
            ax.set(xticks=[], yticks=[])

    def show(p):
        shown = (maps, *masked_maps(maps, p, seed))
        for row, out in zip(images, shown, strict=True):
            for image, channel in zip(row, out[0], strict=True):
                image.set_data(channel)
        fig.suptitle(f"drop probability p = {p:.2f}", fontsize=10)

    return scrubber(fig, show, list(rates), alt=alt, label="drop probability p")
