"""Hidden tests of exercise 07 (choosing and placing dropout): the contracts of
``dropout_mlp``, ``keep_expected_width`` and ``variance_shift`` on inputs the student has not
seen, compared with the references.

``dropout_mlp`` is compared layer by layer with the reference's network (built from PyTorch's
own modules) on deeper and shallower shapes, sizes given as a tuple, and each rate alone;
``keep_expected_width`` with the reference on widths and rates drawn at random and on the
rates where floating point and exact arithmetic part; ``variance_shift`` with the exact ratio.
"""

from __future__ import annotations

import numpy as np

from autograder.content.reference import rate_and_placement as reference
from dropout_course.checks import rate_and_placement as checks
from dropout_course.checks.core import Verdict, call, fail

__all__ = ["hidden_dropout_mlp", "hidden_keep_expected_width", "hidden_variance_shift"]

MLP_CASES = (
    ((64, 256, 256, 10), 0.2, 0.5),
    ((3, 4, 5, 6, 7, 8, 2), 0.5, 0.1),
    ((10, 1), 0.0, 0.5),
    ((9, 30, 2), 0.6, 0.0),
)


def _compare_with_reference(dropout_mlp, sizes, p_input, p_hidden) -> None:
    described = f"dropout_mlp({tuple(sizes)}, p_input={p_input}, p_hidden={p_hidden})"
    model = call(dropout_mlp, checks.MLP, described, tuple(sizes), p_input, p_hidden)
    theirs = checks.layers_of(model, described)
    ours = checks.layers_of(reference.dropout_mlp(sizes, p_input, p_hidden), "reference")
    if not checks.same_layers(theirs, ours):
        fail(checks.MLP, f"{described} has the layers {checks.show(theirs)}; the reference's "
                         f"are {checks.show(ours)}.")  # fmt: skip


def hidden_dropout_mlp(dropout_mlp, *, seed=5) -> Verdict:
    verdict = Verdict(checks.MLP)
    checks.mlp_properties(verdict, dropout_mlp, MLP_CASES, seed)
    with verdict.expect("build the reference's network (sizes as a tuple too)"):
        for case in MLP_CASES:
            _compare_with_reference(dropout_mlp, *case)
    return verdict


def width_cases(seed: int, count: int = 30) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    widths, rates = rng.integers(1, 1000, count), rng.uniform(0, 0.95, count)
    drawn = [(int(n), round(float(p), 3)) for n, p in zip(widths, rates, strict=True)]
    boundary = [(n, p) for n in (8, 64, 100) for p in (0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9)]
    return drawn + boundary


def hidden_keep_expected_width(keep_expected_width, *, seed=17) -> Verdict:
    verdict = Verdict(checks.WIDTH)
    checks.width_properties(verdict, keep_expected_width, width_cases(seed))
    with verdict.expect("agree with the reference"):
        for n, p in ((640, 0.9), (3, 0.5), (1, 0.0)):
            expected = reference.keep_expected_width(n, p)
            allowed = checks.widths_allowed(n, p)
            if expected not in allowed:  # the reference keeps the contract
                raise AssertionError(f"reference width {expected} for {(n, p)}")
            checks.check_width_case(keep_expected_width, n, p)
    return verdict


def hidden_variance_shift(variance_shift, *, seed=3) -> Verdict:
    rng = np.random.default_rng(seed)
    cases = [(round(float(p), 2), round(float(c), 2), round(float(v), 2)) for p, c, v in
             zip(rng.uniform(0.05, 0.9, 8), rng.normal(0, 2, 8), rng.uniform(0.1, 4, 8),
                 strict=True)]  # fmt: skip
    verdict = Verdict(checks.SHIFT)
    checks.exact_shift_properties(verdict, variance_shift, cases)
    return verdict
