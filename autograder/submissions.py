"""Finding and checking students' submissions before anything runs."""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from .course import CourseError, assignments, notebooks

#: Statuses of a submitted notebook, as written in grades.csv.
GRADED = "graded"
MISSING = "missing"
UNREADABLE = "unreadable"
GRADING_ERROR = "grading_error"


@dataclass
class NotebookSubmission:
    """One expected notebook of one student's assignment, and what was found."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    status: str = GRADED
    detail: str = ""


@dataclass
class StudentSubmission:
    """Everything one student submitted, notebook by notebook."""

    student: str
    notebooks: list[NotebookSubmission] = field(default_factory=list)


def unpack(source: Path, workdir: Path) -> Path:
    """Return the folder of submissions: ``source`` itself, or a zip extracted into ``workdir``."""
    if not source.exists():
        raise CourseError(f"{source} does not exist; give a folder or a .zip of submissions.")
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise CourseError(f"{source} is neither a folder nor a zip file.")
    target = workdir / "unzipped"
    with zipfile.ZipFile(source) as archive:
        for member in archive.infolist():
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts:
                raise CourseError(f"{source} holds an unsafe path {member.filename!r}; refusing.")
        archive.extractall(target)
    entries = [p for p in target.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    # A zip of one folder that holds the student folders: descend into it.
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student(entries[0]):
        return entries[0]
    return target


def _looks_like_student(folder: Path) -> bool:
    return any((folder / name).is_dir() for name in assignments())


def read_notebook(path: Path) -> str:
    """Return why ``path`` cannot be graded as a notebook, or ``""`` if it can."""
    try:
        with path.open(encoding="utf-8") as handle:
            nb = nbformat.read(handle, as_version=4)
        nbformat.validate(nb)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        return f"not a notebook file (invalid JSON: {str(error)[:200]})"
    except nbformat.ValidationError as error:
        return f"not a valid notebook: {error.message}"
    except Exception as error:  # noqa: BLE001 - anything that stops nbformat is "unreadable"
        return f"cannot be read as a notebook: {type(error).__name__}: {error}"
    if not nb.cells:
        return "the notebook is empty (it has no cells)"
    return ""


def discover(folder: Path) -> tuple[list[StudentSubmission], list[str]]:
    """Find every student's notebooks under ``folder`` (``<student>/<assignment>/<nb>.ipynb``).

    The batch's assignments are the known assignments that appear in any student's folder;
    every student is expected to have submitted each of them, so an absent one is reported as
    missing rather than left out of grades.csv. Returns the submissions and the assignments.
    """
    known = set(assignments())
    students = sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))
    )
    if not students:
        raise CourseError(
            f"{folder} holds no student folders; expected <student>/<assignment>/<notebook>.ipynb"
        )
    batch = sorted({a.name for s in students for a in s.iterdir() if a.name in known})
    if not batch:
        raise CourseError(
            f"no folder in {folder} is named after an assignment ({', '.join(sorted(known))}); "
            "expected <student>/<assignment>/<notebook>.ipynb"
        )
    result = []
    for student_dir in students:
        student = StudentSubmission(student_dir.name)
        for assignment in batch:
            for notebook in notebooks(assignment):
                student.notebooks.append(_find(student_dir, assignment, notebook))
        result.append(student)
    return result, batch


def _find(student_dir: Path, assignment: str, notebook: str) -> NotebookSubmission:
    folder = student_dir / assignment
    path = folder / f"{notebook}.ipynb"
    entry = NotebookSubmission(student_dir.name, assignment, notebook, path)
    if not folder.is_dir():
        entry.path, entry.status = None, MISSING
        entry.detail = f"no folder {assignment}/ was submitted"
    elif not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        entry.path, entry.status = None, MISSING
        entry.detail = f"{notebook}.ipynb was not submitted" + (
            f" (found {', '.join(others)})" if others else ""
        )
    else:
        reason = read_notebook(path)
        if reason:
            entry.status, entry.detail = UNREADABLE, reason
    return entry


def stage(entry: NotebookSubmission, submitted: Path) -> None:
    """Copy a readable notebook (and nothing beside it) into nbgrader's submitted folder."""
    target = submitted / entry.assignment
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry.path, target / f"{entry.notebook}.ipynb")
