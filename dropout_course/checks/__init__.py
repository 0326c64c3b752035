"""Contract checks called by the tests in the exercise notebooks, one module per topic.

Each ``check_*`` function takes the student's implementation, exercises it against the contract
in COURSE-SPEC.md, and raises :class:`ContractViolation` with a message that names the mistake
(for example "p is used as the keep probability") rather than a bare ``AssertionError``.
The hidden tests of the autograder call the same property checks on inputs the student has not
seen, and add comparisons with the reference implementations. The COURSE-SPEC functions'
checks are re-exported here, as the exercises import them.
"""

from .backpropagation import check_dropout_backward
from .bernoulli_masks import (
    check_bernoulli_mask,
    check_dropout_forward,
    check_dropout_module,
    check_dropout_moments,
    check_predict,
)
from .core import ContractViolation
from .inference import check_mc_predict, check_normalized_geometric_mean
from .max_norm import check_max_norm

__all__ = [
    "ContractViolation",
    "check_bernoulli_mask",
    "check_dropout_backward",
    "check_dropout_forward",
    "check_dropout_module",
    "check_dropout_moments",
    "check_max_norm",
    "check_mc_predict",
    "check_normalized_geometric_mean",
    "check_predict",
]
