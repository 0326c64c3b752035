"""Integrity flags: signs that a submission changed what it must not change.

Grading always uses the instructor's version of every test and read-only cell (and restores
deleted ones), and the tests run outside the student's sandbox, so these edits and tricks earn
nothing; the flags tell the instructor that they were tried.
"""

from __future__ import annotations

from pathlib import Path

from autograder.content.spec import NotebookSpec, grade_id_of, nbgrader_metadata
from autograder.notebook import tamper
from autograder.text import clean


def _cells_by_id(cells) -> dict[str, dict]:
    """Code and markdown cells by their nbgrader grade_id (the first of a repeated one)."""
    found = {}
    for cell in cells:
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id not in found:
            found[grade_id] = cell
    return found


def check(entry, release_dir: Path, source_dir: Path) -> list[dict]:
    """Compare a submitted notebook with its release; return one row per suspicious change.

    A cell equal to the instructor's source version (the instructor's own notebook submitted
    as a check) is not flagged either.
    """
    filename = f"{entry.notebook}.ipynb"
    released = NotebookSpec.read(release_dir / entry.assignment / filename).by_id()
    source = NotebookSpec.read(source_dir / entry.assignment / filename).by_id()
    submitted_cells = entry.read().cells
    submitted = _cells_by_id(submitted_cells)
    setup_names = _setup_names(released)
    flags = []

    def flag(kind: str, detail: str) -> None:
        flags.append(
            {
                "student": entry.student,
                "assignment": entry.assignment,
                "notebook": entry.notebook,
                "flag": kind,
                "detail": clean(detail, 500),
            }
        )

    for grade_id, original in released.items():
        if not (original.grade or original.locked) or original.solution:
            continue
        cell = submitted.get(grade_id)
        if cell is None:
            flag("deleted_cell", f"cell {grade_id} was deleted (the original was graded)")
            continue
        text = cell.get("source") if isinstance(cell.get("source"), str) else ""
        if text.strip() not in (original.source.strip(), source[grade_id].source.strip()):
            flag("edited_cell", f"cell {grade_id} was edited (the original was graded)")
        their = nbgrader_metadata(cell) if cell.get("cell_type") == "code" else {}
        if cell.get("cell_type") != original.cell_type:
            flag("changed_metadata", f"cell {grade_id} is no longer a {original.cell_type} cell")
        if original.grade and their.get("points") != original.points:
            flag(
                "changed_points",
                f"points of {grade_id} changed from {original.points:g} "
                f"to {their.get('points')} (the original was used)",
            )
        if original.grade and not their.get("grade"):
            flag("changed_metadata", f"cell {grade_id} is no longer marked as a test")
    for cell in submitted_cells:
        grade_id = grade_id_of(cell)
        original = released.get(grade_id)
        if (
            cell.get("cell_type") != "code"
            or not isinstance(cell.get("source"), str)
            or (original is not None and not original.solution)
        ):
            continue  # a read-only cell: the instructor's version runs, whatever is here
        where = f"answer cell {grade_id}" if grade_id else "a cell the student added"
        for kind, detail in tamper.scan(cell.source, grade_id):
            flag(kind, f"{where} {detail}")
        for name in sorted(tamper.defined_names(cell.source, imports=False) & setup_names):
            flag("monkeypatch", f"{where} redefines {name}, which the read-only cells define "
                                "(the tests use the original)")  # fmt: skip
    return flags


def _setup_names(released: dict) -> set[str]:
    """The names the read-only code cells of the release define (the checks they import)."""
    names = set()
    for cell in released.values():
        if cell.cell_type == "code" and cell.is_fixed:
            names |= tamper.defined_names(cell.source)
    return names
