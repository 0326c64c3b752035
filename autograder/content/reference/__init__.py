"""Reference implementations: the instructor's answers, one module per topic.

``dropout`` holds every function of COURSE-SPEC.md; the other modules hold the functions that
single exercises define. They are used by the hidden tests at grading time and by the project's
tests; they are never copied into the website, the released exercises or the student kit.
"""

from autograder.content.reference.dropout import (
    Dropout,
    bernoulli_mask,
    dropout_backward,
    dropout_forward,
    max_norm,
    predict,
)

__all__ = [
    "Dropout",
    "bernoulli_mask",
    "dropout_backward",
    "dropout_forward",
    "max_norm",
    "predict",
]
