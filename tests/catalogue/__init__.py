"""Catalogues of student implementations, for testing the autograder itself.

One module per assignment, each with ``ASSIGNMENT``; ``CHECKS``, the visible and hidden check of
each answer cell; ``WRONG``, mistakes students really make, each of which must lose points with
a message that names it; and ``CORRECT``, correct implementations in other styles, each of which
must earn full marks. An entry replaces one answer cell (by its nbgrader grade_id) of the
instructor's notebook.
"""

from . import (
    backpropagation,
    bernoulli_masks,
    co_adaptation,
    inference,
    max_norm,
    overfitting,
    rate_and_placement,
    variants,
)
from .entries import Implementation

MODULES = [
    overfitting,
    co_adaptation,
    bernoulli_masks,
    backpropagation,
    max_norm,
    inference,
    rate_and_placement,
    variants,
]

WRONG = [entry for module in MODULES for entry in module.WRONG]
CORRECT = [entry for module in MODULES for entry in module.CORRECT]
CHECKS = {
    (module.ASSIGNMENT, grade_id): pair
    for module in MODULES
    for grade_id, pair in module.CHECKS.items()
}

__all__ = ["CHECKS", "CORRECT", "MODULES", "WRONG", "Implementation"]
