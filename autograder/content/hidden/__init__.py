"""The hidden tests of the exercises, one module per assignment.

The exercise notebooks call these from their hidden test cells, which nbgrader strips from the
released notebooks. Every failure raises ``ContractViolation`` with a message that names the
mistake, so the feedback teaches without showing this code.
"""

from autograder.content.hidden.bernoulli_masks import (
    hidden_bernoulli_mask,
    hidden_dropout_backward,
    hidden_dropout_forward,
    hidden_dropout_module,
    hidden_max_norm,
    hidden_predict,
)

__all__ = [
    "hidden_bernoulli_mask",
    "hidden_dropout_backward",
    "hidden_dropout_forward",
    "hidden_dropout_module",
    "hidden_max_norm",
    "hidden_predict",
]
