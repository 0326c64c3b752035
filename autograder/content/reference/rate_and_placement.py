"""Reference implementations of exercise 07 (choosing and placing dropout): ``dropout_mlp`` and
``keep_expected_width``, the COURSE-SPEC functions of this chapter.

The instructor's answers: imported by the hidden tests at grading time, by the chapter's
experiments and by the project's tests; never copied into the website, the released exercises
or the student kit.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

from torch import nn

from dropout_course.training import mlp


def check_rate(p, name: str = "p") -> float:
    """Return the drop probability ``p`` as a float, or raise ``ValueError`` (naming the
    parameter ``name``) unless it lies in ``[0, 1)``."""
    p = float(p)
    if not 0.0 <= p < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a drop probability in [0, 1), got {name}={p}")
    return p


def dropout_mlp(sizes, p_input, p_hidden) -> nn.Sequential:
    """A fully connected ReLU network with dropout on its inputs and on every hidden layer.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_in, h1, ..., n_out]``: the input width, the hidden widths, the output width.
    p_input : float
        Drop probability of the inputs, in ``[0, 1)``; 0 leaves the input dropout out.
    p_hidden : float
        Drop probability after every hidden layer, in ``[0, 1)``; 0 leaves those dropouts out.

    Returns
    -------
    torch.nn.Sequential
        In order: ``Dropout(p_input)`` (unless 0), then ``Linear, ReLU, Dropout(p_hidden)``
        (the dropout unless 0) for each hidden layer, then the output ``Linear``, with no
        dropout after it. The dropout modules are ``torch.nn.Dropout``.
    """
    p_input, p_hidden = check_rate(p_input, "p_input"), check_rate(p_hidden, "p_hidden")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got sizes={list(sizes)}")
    return mlp(tuple(sizes), p_input, p_hidden, activation=nn.ReLU)


def keep_expected_width(n, p) -> int:
    """The width that keeps, on average, ``n`` units active when dropping with probability ``p``.

    Parameters
    ----------
    n : int
        Width of the layer without dropout; a positive integer.
    p : float
        Drop probability, in ``[0, 1)``.

    Returns
    -------
    int
        The smallest integer ``m`` with ``m * (1 - p) >= n``. The rate is taken as the decimal
        it is written as (``0.9`` is nine tenths), in exact arithmetic: in floating point,
        ``1 - 0.9`` is slightly less than 0.1, and ``ceil(64 / (1 - 0.9))`` gives 641, not 640.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    keep = 1 - Fraction(repr(check_rate(p)))  # repr: the shortest decimal that is this float
    return math.ceil(int(n) / keep)
