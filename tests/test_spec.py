"""The exercise spec (autograder/content/spec.py) reads the course's notebooks as nbgrader does.

Checked against an independent reading of the same files with nbformat, for every notebook of
``solutions/`` and ``exercises/``.
"""

from __future__ import annotations

import nbformat
import pytest

from autograder.content import EXERCISES, SOLUTIONS
from autograder.content.spec import ANSWER_STUB, Layout, ManualCell, NotebookSpec, written_answer

NOTEBOOKS = sorted([*SOLUTIONS.glob("*/*.ipynb"), *EXERCISES.glob("*/*.ipynb")])


def _metadata(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_the_spec_reads_every_cell_as_nbformat_does(path):
    raw = nbformat.read(path, as_version=4).cells
    spec = NotebookSpec.read(path).cells
    assert len(spec) == len(raw)
    for cell, read in zip(raw, spec, strict=True):
        meta = _metadata(cell)
        assert read.grade_id == meta.get("grade_id", "")
        assert (read.cell_type, read.source) == (cell.cell_type, cell.source)
        assert read.grade == bool(meta.get("grade")) and read.solution == bool(meta.get("solution"))
        assert read.points == float(meta.get("points", 0))


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_the_layout_sorts_every_tracked_code_cell_into_one_kind(path):
    layout = Layout.read(path)
    tests = [t.grade_id for t in layout.tests]
    tracked = [
        _metadata(c)["grade_id"]
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and "grade_id" in _metadata(c)
    ]
    assert sorted(tests + sorted(layout.answers) + layout.order) == sorted(tracked)
    assert all(t.startswith(("test_", "hidden_")) for t in tests)
    assert {t.grade_id for t in layout.tests if t.hidden} == {
        t for t in tests if t.startswith("hidden_")
    }


# ------------------------------------------------------------------------ written answers


def _written_cell(source, grade_id="written_x", metadata=None):
    meta = {"nbgrader": {"grade": True, "solution": True, "grade_id": grade_id, "points": 2}}
    return {"cell_type": "markdown", "source": source, "metadata": metadata or meta}


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_every_exercise_has_written_answers_the_layout_grades_after_its_tests(path):
    layout = Layout.read(path)
    manual = [c.grade_id for c in NotebookSpec.read(path).cells if c.is_manual]
    assert manual and [c.grade_id for c in layout.manual] == manual
    assert [c.grade_id for c in layout.graded] == [
        c.grade_id for c in NotebookSpec.read(path).graded()
    ]


def test_a_written_answer_is_read_whatever_the_submission_did_to_its_cells():
    good = _written_cell(["First line,\n", "second."])
    broken = [
        {"cell_type": "markdown", "metadata": "not a dict", "source": "x"},
        {"cell_type": "markdown", "metadata": {"nbgrader": []}, "source": "x"},
        {"cell_type": "code", "metadata": good["metadata"], "source": "not this one"},
        "not a cell",
    ]
    assert written_answer({"cells": [*broken, good]}, "written_x") == "First line,\nsecond."
    assert written_answer({"cells": broken}, "written_x") is None
    assert written_answer({"cells": "nonsense"}, "written_x") is None


@pytest.mark.parametrize(
    ("cells", "status", "score"),
    [
        ([_written_cell("Dropout samples thinned networks.")], "needs_manual_grade", None),
        ([_written_cell(ANSWER_STUB)], "graded", 0.0),
        ([_written_cell("   \n")], "graded", 0.0),
        ([_written_cell("An answer whose id was lost", grade_id="")], "needs_manual_grade", None),
    ],
    ids=["answered", "as released", "empty", "id lost"],
)
def test_a_written_answer_awaits_the_instructor_unless_there_is_nothing_to_grade(
    cells, status, score
):
    from autograder.notebook.grade import written

    result = written({"cells": cells}, ManualCell("written_x", 2.0))
    assert (result.status, result.score, result.points) == (status, score, 2.0)
    assert result.message


def test_a_duplicated_answer_cell_never_hides_an_answer():
    """JupyterLab's duplicate keeps the metadata: every copy with an answer reaches the
    instructor, whichever copy the student wrote in."""
    stub, draft, final = ANSWER_STUB, "draft: TODO", "The full answer."
    cells = [_written_cell(stub), _written_cell(final)]
    assert written_answer({"cells": cells}, "written_x") == final
    cells = [_written_cell(draft), _written_cell(final)]
    assert draft in written_answer({"cells": cells}, "written_x")
    assert final in written_answer({"cells": cells}, "written_x")
    assert written_answer({"cells": [_written_cell(stub), _written_cell("")]}, "written_x") == ""


def test_a_written_answer_is_shown_as_written():
    from autograder.notebook.grade import written

    text = "Dropout \u202ereversed\u202c averages. " + "long " * 2000
    result = written({"cells": [_written_cell(text)]}, ManualCell("written_x", 2.0))
    assert "\u202e" not in result.answer and "reversed" in result.answer
    assert len(result.answer) > 4000  # far beyond the limit of a message
