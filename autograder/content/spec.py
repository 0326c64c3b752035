"""What the course's notebooks say about their cells: nbgrader's metadata, read here and only here.

Which cells are tests (with their points and hidden parts), which are answers and which are
read-only comes from the instructor's notebooks in ``solutions/`` and their release in
``exercises/``, read into typed records (:class:`NotebookSpec` of :class:`CellSpec`); the grader,
the integrity scan, the feedback and the gradebook take those. A submission's metadata is only
ever read through :func:`nbgrader_metadata`, which tolerates whatever a student did to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

#: What the release puts in a written-answer cell (nbgrader's ``ClearSolutions.text_stub``).
ANSWER_STUB = "YOUR ANSWER HERE"


def nbgrader_metadata(cell, cell_type: str = "code") -> dict:
    """The nbgrader metadata of a submitted cell of ``cell_type`` as a dict; ``{}`` when the
    cell is of another type or the metadata is absent or malformed (a submission's metadata is
    the student's to break)."""
    if not isinstance(cell, dict) or cell.get("cell_type") != cell_type:
        return {}
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id_of(cell) -> str:
    """A code cell's nbgrader grade_id, or ``""`` when it has none (or not a string)."""
    grade_id = nbgrader_metadata(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else ""


@dataclass(frozen=True)
class CellSpec:
    """One cell of a course notebook, as nbgrader's metadata describes it."""

    grade_id: str  # "" for a cell nbgrader does not track
    cell_type: str  # "code" or "markdown"
    source: str
    grade: bool  # scored: a test cell, or an answer graded by hand
    solution: bool  # the student writes it
    locked: bool  # read-only in the release
    points: float

    @property
    def is_test(self) -> bool:
        return self.grade and not self.solution

    @property
    def is_manual(self) -> bool:
        """An answer scored by the instructor by hand (a written answer, in a markdown cell)."""
        return self.grade and self.solution and self.cell_type == "markdown"

    @property
    def is_fixed(self) -> bool:
        """A read-only cell whose instructor's version always runs (setup code, imports)."""
        return bool(self.grade_id) and not self.grade and not self.solution

    @property
    def hidden(self) -> bool:
        return "BEGIN HIDDEN TESTS" in self.source


@dataclass(frozen=True)
class NotebookSpec:
    """The cells of one course notebook (``solutions/`` or ``exercises/``), in order."""

    cells: tuple[CellSpec, ...]

    @classmethod
    def read(cls, path: Path) -> NotebookSpec:
        return _notebook_spec(Path(path))

    def by_id(self) -> dict[str, CellSpec]:
        """The cells nbgrader tracks, by grade_id."""
        return {cell.grade_id: cell for cell in self.cells if cell.grade_id}

    def graded(self) -> list[CellSpec]:
        """The scored cells, in order: what a notebook's grade is the sum of."""
        return [cell for cell in self.cells if cell.grade]


@functools.lru_cache(maxsize=64)
def _notebook_spec(path: Path) -> NotebookSpec:
    """Read once per process: the course's notebooks do not change while a batch is graded."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        cells.append(
            CellSpec(
                grade_id=str(meta.get("grade_id", "")),
                cell_type=cell.cell_type,
                source=cell.source,
                grade=bool(meta.get("grade")),
                solution=bool(meta.get("solution")),
                locked=bool(meta.get("locked")),
                points=float(meta.get("points", 0) or 0),
            )
        )
    return NotebookSpec(tuple(cells))


@dataclass(frozen=True)
class TestCell:
    """A graded test cell of the instructor's notebook."""

    grade_id: str
    points: float
    source: str  # hidden tests included
    hidden: bool


@dataclass(frozen=True)
class ManualCell:
    """A written answer of the instructor's notebook, graded by hand."""

    grade_id: str
    points: float


@dataclass(frozen=True)
class Layout:
    """What the instructor's notebook says about each cell, by grade_id."""

    tests: list[TestCell]
    answers: set[str]
    fixed: dict[str, str]  # grade_id -> instructor source of a read-only code cell
    order: list[str]  # grade_ids of read-only code cells in notebook order
    manual: list[ManualCell] = field(default_factory=list)

    @property
    def graded(self) -> list[TestCell | ManualCell]:
        """Every scored cell: the tests, then the written answers (the rows of a notebook)."""
        return [*self.tests, *self.manual]

    @classmethod
    def read(cls, source_notebook: Path) -> Layout:
        tests, answers, fixed, order, manual = [], set(), {}, [], []
        for cell in NotebookSpec.read(source_notebook).cells:
            if cell.grade_id and cell.is_manual:
                manual.append(ManualCell(cell.grade_id, cell.points))
            if not cell.grade_id or cell.cell_type != "code":
                continue
            if cell.is_test:
                tests.append(TestCell(cell.grade_id, cell.points, cell.source, cell.hidden))
            elif cell.solution:
                answers.add(cell.grade_id)
            else:
                fixed[cell.grade_id] = cell.source
                order.append(cell.grade_id)
        return cls(tests, answers, fixed, order, manual)


def written_answer(submitted, grade_id: str) -> str | None:
    """The text of the submitted markdown cells whose nbgrader grade_id is ``grade_id``, or
    None if the submission has none. Read tolerantly: a submission's metadata is the student's
    to break. A duplicated cell (JupyterLab's copy keeps the metadata) never hides an answer:
    every copy that is not empty or as released is kept, in order, and the instructor sees
    them all; if none is, the last copy stands (as nbgrader keeps the last)."""
    copies = []
    for cell in submitted.get("cells", []) if isinstance(submitted, dict) else []:
        if nbgrader_metadata(cell, "markdown").get("grade_id") == grade_id:
            source = cell.get("source")
            if isinstance(source, list):
                source = "".join(part for part in source if isinstance(part, str))
            copies.append(source if isinstance(source, str) else "")
    if not copies:
        return None
    answered = [text for text in copies if not is_unanswered(text)]
    return "\n\n---\n\n".join(answered) if answered else copies[-1]


def is_unanswered(text: str) -> bool:
    """Whether a written answer's text is empty or what the release put there."""
    return text.strip() in ("", ANSWER_STUB)
