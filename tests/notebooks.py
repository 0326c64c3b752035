"""Building submissions for the tests: the instructor's notebook with answer cells replaced."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from autograder.content import EXERCISES, SOLUTIONS


def solution_notebook(assignment: str):
    """Read the instructor's notebook of ``assignment`` (the only notebook of the folder)."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    return nbformat.read(path, as_version=4)


def with_answer(assignment: str, grade_id: str, code: str):
    """The instructor's notebook with the answer cell ``grade_id`` replaced by ``code``."""
    return with_answers(assignment, {grade_id: code})


def with_answers(assignment: str, codes: dict[str, str]):
    """The instructor's notebook with each answer cell named in ``codes`` replaced."""
    nb = solution_notebook(assignment)
    for grade_id, code in codes.items():
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        assert len(cells) == 1, f"no single answer cell {grade_id} in {assignment}"
        cells[0].source = code
    return nb


def callees(assignment: str) -> set[str]:
    """Answer cells that another answer cell of the instructor's notebook calls (as
    ``dropout_forward`` calls ``bernoulli_mask``)."""
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution_notebook(assignment).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    }
    called = set()
    for name, source in answers.items():
        used = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        called |= used & (set(answers) - {name})
    return called


def bundles(entries) -> list[tuple[str, str, dict]]:
    """Group catalogue entries into submissions: one entry per answer cell in each notebook,
    and never an answer together with one it calls (its own mistake must be the one seen).

    Returns (student name, assignment, {grade_id: entry}) triples.
    """
    groups: dict[tuple[str, bool], list[dict]] = {}
    for entry in entries:
        layer = entry.grade_id in callees(entry.assignment)
        slots = groups.setdefault((entry.assignment, layer), [])
        for slot in slots:
            if entry.grade_id not in slot:
                slot[entry.grade_id] = entry
                break
        else:
            slots.append({entry.grade_id: entry})
    result = []
    for (assignment, layer), slots in groups.items():
        for index, slot in enumerate(slots):
            tag = "callee" if layer else "main"
            result.append((f"{assignment[:2]}-{tag}-{index:02d}", assignment, slot))
    return result


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
