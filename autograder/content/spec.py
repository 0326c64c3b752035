"""What the instructor's notebooks say about their cells: nbgrader's metadata, read here.

Which cells are tests (with their points and hidden parts), which are answers and which are
read-only comes from the instructor's notebooks in ``solutions/``; a submission's metadata is
only ever read through :func:`nbgrader_metadata`, which tolerates whatever a student did to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import nbformat


def nbgrader_metadata(cell) -> dict:
    """A code cell's nbgrader metadata as a dict; ``{}`` when it is absent or malformed (a
    submission's metadata is the student's to break)."""
    if cell.get("cell_type") != "code":
        return {}
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id_of(cell) -> str:
    """A code cell's nbgrader grade_id, or ``""`` when it has none (or not a string)."""
    grade_id = nbgrader_metadata(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else ""


@functools.lru_cache(maxsize=64)
def course_notebook(path: Path):
    """A notebook of the course's own (``solutions/`` or ``exercises/``), read once per process:
    they do not change while a batch is graded. Callers must not modify it."""
    return nbformat.read(path, as_version=4)


@dataclass(frozen=True)
class TestCell:
    """A graded test cell of the instructor's notebook."""

    grade_id: str
    points: float
    source: str  # hidden tests included
    hidden: bool


@dataclass(frozen=True)
class Layout:
    """What the instructor's notebook says about each cell, by grade_id."""

    tests: list[TestCell]
    answers: set[str]
    fixed: dict[str, str]  # grade_id -> instructor source of a read-only code cell
    order: list[str]  # grade_ids of read-only code cells in notebook order

    @classmethod
    def read(cls, source_notebook: Path) -> Layout:
        nb = nbformat.read(source_notebook, as_version=4)
        tests, answers, fixed, order = [], set(), {}, []
        for cell in nb.cells:
            meta = nbgrader_metadata(cell)
            grade_id = grade_id_of(cell)
            if not grade_id:
                continue
            if meta.get("grade") and not meta.get("solution"):
                hidden = "BEGIN HIDDEN TESTS" in cell.source
                tests.append(TestCell(grade_id, float(meta.get("points", 0)), cell.source, hidden))
            elif meta.get("solution"):
                answers.add(grade_id)
            else:
                fixed[grade_id] = cell.source
                order.append(grade_id)
        return cls(tests, answers, fixed, order)
