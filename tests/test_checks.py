"""The checks the notebooks call, run in-process on every catalogue entry (fast, precise).

test_grading.py runs the same catalogues through the real grade command."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from autograder.content.reference.max_norm import max_norm as reference_max_norm
from dropout_course import checks
from tests import catalogue
from tests.catalogue import CHECKS, CORRECT, WRONG, Implementation
from tests.notebooks import solution_notebook, with_answer


def define(entry):
    """Execute the instructor's notebook's code cells with one answer cell replaced, as the
    notebook would (so the other answers are the instructor's); return what the entry defines."""
    namespace = {}
    for cell in with_answer(entry.assignment, entry.grade_id, entry.code).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade"):
            exec(compile(cell.source, meta.get("grade_id", "cell"), "exec"), namespace)
    return namespace[entry.grade_id]


def run_check(check, function) -> list[str]:
    """The messages of the properties a check finds broken (none when every property holds)."""
    try:
        verdict = check(function)
    except checks.ContractViolation as error:  # a check not yet split into properties
        return [str(error)]
    if verdict is None:
        return []
    return verdict.failures


def failures(entry) -> list[str]:
    """Run the visible and hidden checks of an entry; return the messages of those that fail."""
    function = define(entry)
    return [message for check in CHECKS[entry.assignment, entry.grade_id]
            for message in run_check(check, function)]  # fmt: skip


#: Each COURSE-SPEC function and the key of the topic whose modules hold it.
COURSE_SPEC = {
    "bernoulli_mask": "bernoulli_masks",
    "dropout_forward": "bernoulli_masks",
    "Dropout": "bernoulli_masks",
    "predict": "bernoulli_masks",
    "dropout_backward": "backpropagation",
    "max_norm": "max_norm",
    "mc_predict": "inference",
    "normalized_geometric_mean": "inference",
    "dropout_mlp": "rate_and_placement",
    "keep_expected_width": "rate_and_placement",
    "gaussian_dropout_forward": "variants",
    "dropconnect_forward": "variants",
    "spatial_dropout_forward": "variants",
    "locked_dropout": "variants",
}


@pytest.mark.parametrize("name", sorted(COURSE_SPEC))
def test_reference_passes_every_check(name):
    """Every COURSE-SPEC function's reference passes its visible and hidden checks."""
    key = COURSE_SPEC[name]
    reference = importlib.import_module(f"autograder.content.reference.{key}")
    for check in getattr(catalogue, key).CHECKS[name]:
        assert run_check(check, getattr(reference, name)) == []


@pytest.mark.parametrize("key", sorted(CHECKS), ids="/".join)
def test_instructor_answer_passes_its_checks(key):
    """The instructor's answer cell, run as the notebook runs it, passes both its checks."""
    assignment, grade_id = key
    (cell,) = [
        c
        for c in solution_notebook(assignment).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    entry = Implementation("instructor", assignment, grade_id, cell.source)
    assert failures(entry) == []


@pytest.mark.parametrize("entry", WRONG, ids=lambda e: e.name)
def test_wrong_implementation_is_caught_with_its_name(entry):
    messages = failures(entry)
    assert messages, f"{entry.name} passed every check"
    assert any(entry.message in m for m in messages), (
        f"{entry.name}: no message names the mistake ({entry.message!r}); got {messages}"
    )


@pytest.mark.parametrize("entry", CORRECT, ids=lambda e: e.name)
def test_correct_implementation_passes(entry):
    assert failures(entry) == []


def test_not_implemented_is_reported_as_such():
    def stub(shape, p, rng):
        raise NotImplementedError

    verdict = checks.check_bernoulli_mask(stub)
    assert verdict.fraction == 0
    assert verdict.failures == [
        "bernoulli_mask: is not implemented yet (it raised NotImplementedError)."
    ]


WRONG_BACKWARD_AND_MAX_NORM = {
    "backward draws a new mask": (
        checks.check_dropout_backward,
        lambda dout, mask, p, inverted=True: (
            dout * (np.random.default_rng().random(dout.shape) >= p) / (1 - p)
        ),
        "never draw a new one",
    ),
    "backward not scaled": (
        checks.check_dropout_backward,
        lambda dout, mask, p, inverted=True: dout * mask,
        "not scaled",
    ),
    "max-norm on rows": (
        checks.check_max_norm,
        lambda W, c: reference_max_norm(W.T, c).T if c > 0 else reference_max_norm(W, c),
        "rows were projected",
    ),
    "max-norm scales short columns up": (
        checks.check_max_norm,
        lambda W, c: (
            reference_max_norm(W, c)
            * c
            / np.maximum(np.linalg.norm(reference_max_norm(W, c), axis=0), 1e-300)
        ),
        "scaled up",
    ),
    "max-norm NaN on a zero column": (
        checks.check_max_norm,
        lambda W, c: (
            W / np.linalg.norm(W, axis=0) * np.minimum(np.linalg.norm(W, axis=0), c)
            if c > 0
            else reference_max_norm(W, c)
        ),
        "NaN",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_BACKWARD_AND_MAX_NORM))
def test_later_chapters_checks_name_the_mistake(case):
    check, function, message = WRONG_BACKWARD_AND_MAX_NORM[case]
    with np.errstate(all="ignore"):
        messages = run_check(check, function)
    assert messages and any(message in m for m in messages), messages
