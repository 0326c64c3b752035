"""Preparing an autograded notebook for the student's eyes: no hidden tests, no tracebacks.

nbgrader's feedback shows the autograded notebook as it ran, hidden tests and tracebacks into
the grading code included. Before feedback is generated, each test cell's source is replaced
by the released version (the hidden part is gone) and each error output is cut to the
exception's type and message, which the checks write for students.
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def released_sources(release_notebook: Path) -> dict[str, str]:
    """Map each nbgrader ``grade_id`` of the released notebook to its cell source."""
    nb = nbformat.read(release_notebook, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if "nbgrader" in cell.metadata and "grade_id" in cell.metadata["nbgrader"]
    }


def error_message(cell) -> str:
    """Return ``"Type: message"`` of the first error output of a cell, or ``""``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return ""


def sanitise(autograded_notebook: Path, release_notebook: Path) -> dict[str, str]:
    """Rewrite an autograded notebook in place for feedback; return each test's error message."""
    released = released_sources(release_notebook)
    nb = nbformat.read(autograded_notebook, as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id or not meta.get("grade"):
            continue
        messages[grade_id] = error_message(cell)
        if grade_id in released:
            cell.source = released[grade_id]
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
    nbformat.write(nb, autograded_notebook)
    return messages
