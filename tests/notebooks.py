"""Building submissions for the tests: the instructor's notebook with answer cells replaced."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.course import EXERCISES, SOLUTIONS


def solution_notebook(assignment: str):
    """Read the instructor's notebook of ``assignment`` (the only notebook of the folder)."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    return nbformat.read(path, as_version=4)


def with_answer(assignment: str, grade_id: str, code: str):
    """The instructor's notebook with the answer cell ``grade_id`` replaced by ``code``."""
    nb = solution_notebook(assignment)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1, f"no single answer cell {grade_id} in {assignment}"
    cells[0].source = code
    return nb


def write_submission(folder: Path, student: str, assignment: str, nb) -> Path:
    """Write ``nb`` as ``folder/<student>/<assignment>/<notebook>.ipynb``; return its path."""
    (name,) = sorted(p.name for p in (SOLUTIONS / assignment).glob("*.ipynb"))
    path = folder / student / assignment / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def released_notebook(assignment: str):
    """Read the committed student release of ``assignment``."""
    (path,) = sorted((EXERCISES / assignment).glob("*.ipynb"))
    return nbformat.read(path, as_version=4)
