"""The course's content on disk: the instructor's notebooks (``solutions/``), their release
(``exercises/``), and what belongs to them only: the reference answers, the hidden tests and
the exercise spec. None of it is ever in a student's sandbox or on the website."""

from __future__ import annotations

from pathlib import Path

#: The repository root (this package lives in ``<root>/autograder/content``).
REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"


def assignments() -> list[str]:
    """Return the names of the assignments (the folders of ``solutions/``), sorted."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebooks(assignment: str) -> list[str]:
    """Return the notebook names (without ``.ipynb``) of an assignment, sorted."""
    return sorted(p.stem for p in (SOLUTIONS / assignment).glob("*.ipynb"))
