"""The instructor's grade command: every submission autograded by nbgrader in a throw-away
course, feedback per notebook, ``grades.csv`` and ``integrity.csv``."""

from __future__ import annotations

import contextlib
import csv
import io
import multiprocessing
import re
import shutil
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SAWarning

from . import feedback, integrity
from .course import generate_release, nbgrader_api, nbgrader_config
from .submissions import (
    GRADED,
    GRADING_ERROR,
    NotebookSubmission,
    StudentSubmission,
    discover,
    stage,
    unpack,
)

GRADE_COLUMNS = [
    "student",
    "assignment",
    "notebook",
    "grade_id",
    "score",
    "max_score",
    "status",
    "message",
]
FLAG_COLUMNS = ["student", "assignment", "notebook", "flag", "detail"]


@dataclass
class StudentResult:
    """What grading one student produced: rows of grades.csv and of integrity.csv."""

    grades: list[dict] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)


@dataclass
class Report:
    """The whole batch's results."""

    grades: list[dict]
    flags: list[dict]


def _grade_cells(release_dir: Path, entry: NotebookSubmission) -> list[tuple[str, float]]:
    """The graded test cells of a notebook as (grade_id, points), in notebook order."""
    import nbformat

    nb = nbformat.read(release_dir / entry.assignment / f"{entry.notebook}.ipynb", as_version=4)
    return [
        (c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]


def _ungraded_rows(release_dir: Path, entry: NotebookSubmission) -> list[dict]:
    return [
        {
            "student": entry.student,
            "assignment": entry.assignment,
            "notebook": entry.notebook,
            "grade_id": grade_id,
            "score": "",
            "max_score": points,
            "status": entry.status,
            "message": entry.detail,
        }
        for grade_id, points in _grade_cells(release_dir, entry)
    ]


def grade_student(template: Path, student: StudentSubmission, out: Path, timeout: int):
    """Autograde one student's notebooks in a private copy of the course; return the results.

    Runs in a worker process. The student is known to nbgrader by a neutral id, so a student's
    name is never used as a path or a command argument inside nbgrader.
    """
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's, harmless
    result = StudentResult()
    release_dir = template / "release"
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        root = Path(tmp) / "course"
        shutil.copytree(template, root)
        config = nbgrader_config(root)
        config.Execute.timeout = timeout
        # Kernels talk over Unix sockets in this student's folder: parallel workers on TCP can
        # race for the same ports, and a kernel that cannot start would cost a student a grade.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(tmp) / "kernel")
        api = nbgrader_api(root, config)
        sid = "student"
        submitted = root / "submitted" / sid
        by_assignment: dict[str, list[NotebookSubmission]] = {}
        for entry in student.notebooks:
            if entry.status == GRADED:
                stage(entry, submitted)
                result.flags += integrity.check(entry, release_dir, template / "source")
            by_assignment.setdefault(entry.assignment, []).append(entry)
        for assignment, entries in by_assignment.items():
            if not any(e.status == GRADED for e in entries):
                for entry in entries:
                    result.grades += _ungraded_rows(release_dir, entry)
                continue
            for _attempt in range(2):  # once more if nbgrader itself failed (not the student)
                with contextlib.redirect_stdout(io.StringIO()):
                    outcome = api.autograde(assignment, sid, force=True, create=True)
                if outcome.get("success"):
                    break
            if not outcome.get("success"):
                for entry in entries:
                    if entry.status == GRADED:
                        entry.status = GRADING_ERROR
                        entry.detail = failure_reason(outcome)
                    result.grades += _ungraded_rows(release_dir, entry)
                continue
            messages = {}
            for entry in entries:
                if entry.status == GRADED:
                    autograded = root / "autograded" / sid / assignment / f"{entry.notebook}.ipynb"
                    messages[entry.notebook] = feedback.sanitise(
                        autograded, release_dir / assignment / f"{entry.notebook}.ipynb"
                    )
            with contextlib.redirect_stdout(io.StringIO()):
                api.generate_feedback(assignment, sid, force=True)
            result.grades += _read_grades(
                api, root, sid, assignment, entries, messages, release_dir, out
            )
    return result


def failure_reason(outcome: dict) -> str:
    """Say in words why nbgrader could not grade a notebook, from its log and error text."""
    text = f"{outcome.get('log') or ''}\n{outcome.get('error') or ''}"
    if "DeadKernelError" in text or "Kernel died" in text:
        return (
            "the notebook's kernel died while it ran (a cell exited Python, crashed it, or ran "
            "out of memory), so no test could be scored; no points were recorded"
        )
    errors = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"\s*[\w.]+(Error|Exception): ", line) and "NbGraderException" not in line
    ]
    return "nbgrader could not grade this notebook: " + (errors[-1] if errors else "unknown error")


def _read_grades(api, root, sid, assignment, entries, messages, release_dir, out):
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(api.coursedir.db_url) as gradebook:
        for entry in entries:
            if entry.status != GRADED:
                rows += _ungraded_rows(release_dir, entry)
                continue
            notebook = gradebook.find_submission_notebook(entry.notebook, assignment, sid)
            scores = {g.name: g for g in notebook.grades}
            for grade_id, points in _grade_cells(release_dir, entry):
                grade = scores[grade_id]
                rows.append(
                    {
                        "student": entry.student,
                        "assignment": assignment,
                        "notebook": entry.notebook,
                        "grade_id": grade_id,
                        "score": float(grade.score),
                        "max_score": points,
                        "status": GRADED,
                        "message": messages.get(entry.notebook, {}).get(grade_id, ""),
                    }
                )
            html = root / "feedback" / sid / assignment / f"{entry.notebook}.html"
            target = out / "feedback" / entry.student / assignment / f"{entry.notebook}.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(html, target)
    return rows


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def grade(submissions: Path, out: Path, *, jobs: int = 1, timeout: int = 120) -> Report:
    """Grade every submission under ``submissions`` (a folder or a zip) into ``out``.

    Parameters
    ----------
    submissions : Path
        ``<student>/<assignment>/<notebook>.ipynb``, as a folder or a zip file.
    out : Path
        Receives ``grades.csv``, ``integrity.csv`` and ``feedback/<student>/<assignment>/``.
    jobs : int
        Students graded at once, each in its own process and course copy.
    timeout : int
        Seconds each notebook cell may run before it is interrupted.
    """
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        workdir = Path(tmp)
        students, batch = discover(unpack(submissions, workdir))
        template = workdir / "template"
        generate_release(batch, template)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
            futures = [pool.submit(grade_student, template, s, out, timeout) for s in students]
            results = [f.result() for f in futures]
    grades = [row for r in results for row in r.grades]
    flags = [row for r in results for row in r.flags]
    _write_csv(out / "grades.csv", GRADE_COLUMNS, grades)
    _write_csv(out / "integrity.csv", FLAG_COLUMNS, flags)
    return Report(grades, flags)


def print_summary(report: Report, out: Path) -> None:
    """Print one line per student notebook, then where the results are."""
    totals: dict[tuple, list] = {}
    for row in report.grades:
        key = (row["student"], row["assignment"], row["notebook"])
        total = totals.setdefault(key, [0.0, 0.0, row["status"], row["message"]])
        total[0] += row["score"] or 0.0
        total[1] += row["max_score"]
    for (student, assignment, notebook), (score, maximum, status, message) in totals.items():
        shown = f"{score:g}/{maximum:g}" if status == GRADED else f"{status}: {message}"
        print(f"{student:20s} {assignment}/{notebook}: {shown}")
    print(f"{len(report.flags)} integrity flag(s) in {out / 'integrity.csv'}")
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}")
