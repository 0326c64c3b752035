"""The exercise spec (autograder/content/spec.py) reads the course's notebooks as nbgrader does.

Checked against an independent reading of the same files with nbformat, for every notebook of
``solutions/`` and ``exercises/``.
"""

from __future__ import annotations

import nbformat
import pytest

from autograder.content import EXERCISES, SOLUTIONS
from autograder.content.spec import Layout, NotebookSpec

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
