"""Integrity flags: signs that a submission changed what it must not change.

Grading always uses the instructor's version of every test and read-only cell (and restores
deleted ones), and the tests run outside the student's sandbox, so these edits and tricks earn
nothing; the flags tell the instructor that they were tried.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import tamper


def _cells_by_id(nb) -> dict[str, dict]:
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in nb.cells
        if "grade_id" in cell.metadata.get("nbgrader", {})
    }


def check(entry, release_dir: Path, source_dir: Path) -> list[dict]:
    """Compare a submitted notebook with its release; return one row per suspicious change.

    A cell equal to the instructor's source version (the instructor's own notebook submitted
    as a check) is not flagged either.
    """
    filename = f"{entry.notebook}.ipynb"
    released = _cells_by_id(nbformat.read(release_dir / entry.assignment / filename, 4))
    source = _cells_by_id(nbformat.read(source_dir / entry.assignment / filename, 4))
    submitted_cells = nbformat.read(entry.path, as_version=4).cells
    submitted = _cells_by_id(nbformat.NotebookNode(cells=submitted_cells))
    flags = []

    def flag(kind: str, detail: str) -> None:
        flags.append(
            {
                "student": entry.student,
                "assignment": entry.assignment,
                "notebook": entry.notebook,
                "flag": kind,
                "detail": detail,
            }
        )

    for grade_id, original in released.items():
        meta = original.metadata["nbgrader"]
        protected = meta.get("grade") or meta.get("locked")
        if not protected or meta.get("solution"):
            continue
        cell = submitted.get(grade_id)
        if cell is None:
            flag("deleted_cell", f"cell {grade_id} was deleted (the original was graded)")
            continue
        if cell.source.strip() not in (original.source.strip(), source[grade_id].source.strip()):
            flag("edited_cell", f"cell {grade_id} was edited (the original was graded)")
        their = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and their.get("points") != meta.get("points"):
            flag(
                "changed_points",
                f"points of {grade_id} changed from {meta.get('points')} "
                f"to {their.get('points')} (the original was used)",
            )
        if meta.get("grade") and not their.get("grade"):
            flag("changed_metadata", f"cell {grade_id} is no longer marked as a test")
    for cell in submitted_cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        original = released.get(grade_id)
        if cell.cell_type != "code" or (
            original is not None and not original.metadata["nbgrader"].get("solution")
        ):
            continue  # a read-only cell: the instructor's version runs, whatever is here
        for kind, detail in tamper.scan(cell.source, grade_id):
            where = f"answer cell {grade_id}" if grade_id else "a cell the student added"
            flag(kind, f"{where} {detail}")
    return flags
