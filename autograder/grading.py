"""The instructor's grade command: every submission graded in its own sandbox, in parallel;
feedback per notebook, ``grades.csv``, ``integrity.csv`` and the gradebook."""

from __future__ import annotations

import csv
import multiprocessing
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, feedback, integrity, sandbox
from .course import REPO
from .submissions import (
    GRADED,
    NotebookSubmission,
    StudentSubmission,
    discover,
    unpack_submissions,
)

#: The released notebooks (what students got) and the instructor's (tests with hidden parts).
RELEASE = REPO / "exercises"
SOURCE = REPO / "solutions"

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
    ignored: list = field(default_factory=list)  # files of the submissions that were not used


@dataclass(frozen=True)
class Settings:
    """How the batch is graded (the command line's options)."""

    limits: sandbox.Limits = sandbox.Limits()
    use_sandbox: bool = True


_TESTS: dict[tuple[str, str], engine.Tests] = {}


def _tests(assignment: str, notebook: str) -> engine.Tests:
    """The instructor's tests of a notebook, prepared once per worker process."""
    key = (assignment, notebook)
    if key not in _TESTS:
        _TESTS[key] = engine.Tests(engine.Layout.read(SOURCE / assignment / f"{notebook}.ipynb"))
    return _TESTS[key]


def _row(entry: NotebookSubmission, grade_id, points, score, status, message) -> dict:
    return {
        "student": entry.student,
        "assignment": entry.assignment,
        "notebook": entry.notebook,
        "grade_id": grade_id,
        "score": "" if score is None else float(score),
        "max_score": float(points),
        "status": status,
        "message": message,
    }


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def grade_student(student: StudentSubmission, out: Path, settings: Settings) -> StudentResult:
    """Grade one student's notebooks (in a worker process); write their feedback."""
    result = StudentResult()
    for entry in student.notebooks:
        tests = _tests(entry.assignment, entry.notebook)
        if entry.status != GRADED:
            for grade_id, points, _, _ in tests.layout.tests:
                result.grades.append(_row(entry, grade_id, points, None, entry.status,
                                          entry.detail))  # fmt: skip
            continue
        try:
            result.flags += integrity.check(entry, RELEASE, SOURCE)
            with tempfile.TemporaryDirectory(prefix="student-") as home:
                graded = engine.grade_notebook(
                    entry.path, tests, Path(home), settings.limits, settings.use_sandbox
                )
        except Exception as error:  # noqa: BLE001 - the grader's fault: report it, go on
            traceback.print_exc(file=sys.stderr)
            message = f"the grader failed on this notebook ({type(error).__name__}: {error})"
            for grade_id, points, _, _ in tests.layout.tests:
                result.grades.append(_row(entry, grade_id, points, None, "grading_error", message))
            continue
        for test in graded.tests:
            result.grades.append(
                _row(entry, test.grade_id, test.points, test.score, test.status, test.message)
            )
        feedback.write(
            out / "feedback" / entry.student / entry.assignment / f"{entry.notebook}.html",
            entry,
            graded,
            RELEASE / entry.assignment / f"{entry.notebook}.ipynb",
        )
    return result


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class Progress:
    """A progress bar on stderr (one line per tenth when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        line = f"grading [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} students"
        if self.tty:
            print(f"\r{line}", end="\n" if self.done == self.total else "", file=sys.stderr)
        elif 10 * self.done // max(self.total, 1) != self.shown:
            self.shown = 10 * self.done // max(self.total, 1)
            print(line, file=sys.stderr)


def grade(
    submissions: Path,
    out: Path,
    *,
    jobs: int = 1,
    settings: Settings | None = None,
    db_url: str | None = None,
    progress: bool = True,
) -> Report:
    """Grade every submission under ``submissions`` (a folder or a zip) into ``out``.

    ``out`` receives ``grades.csv``, ``integrity.csv``, ``feedback/<student>/<assignment>/``
    and (unless ``db_url`` names another database) the nbgrader gradebook ``gradebook.db``.
    Each worker process grades whole students, each notebook in its own sandbox.
    """
    settings = settings or Settings()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        unpacked = unpack_submissions(submissions, Path(tmp))
        students, _batch = discover(unpacked.folder)
        if settings.use_sandbox:
            sandbox.preflight(Path(tmp))  # fails early, with advice, if it cannot sandbox
        _clear_feedback(out / "feedback", students)
        bar = Progress(len(students), progress)
        context = multiprocessing.get_context("spawn")
        results: dict[int, StudentResult] = {}
        workers = max(1, min(jobs, len(students)))
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init) as pool:
            futures = {
                pool.submit(grade_student, s, out, settings): i for i, s in enumerate(students)
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.step()
    ordered = [results[i] for i in range(len(students))]
    grades = [row for r in ordered for row in r.grades]
    flags = [row for r in ordered for row in r.flags]
    _write_csv(out / "grades.csv", GRADE_COLUMNS, grades)
    _write_csv(out / "integrity.csv", FLAG_COLUMNS, flags)
    from . import gradebook

    gradebook.save(db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}", RELEASE, grades)
    return Report(grades, flags, list(unpacked.ignored))


def _clear_feedback(folder: Path, students: list[StudentSubmission]) -> None:
    """Remove the previous run's feedback of the students in this batch."""
    import shutil

    for student in students:
        shutil.rmtree(folder / student.student, ignore_errors=True)


def print_summary(report: Report, out: Path) -> None:
    """Print one line per student notebook, then where the results are."""
    for item in report.ignored:
        print(f"ignored: {item}")
    totals: dict[tuple, list] = {}
    for row in report.grades:
        key = (row["student"], row["assignment"], row["notebook"])
        total = totals.setdefault(key, [0.0, 0.0, set(), ""])
        total[0] += row["score"] or 0.0
        total[1] += row["max_score"]
        total[2].add(row["status"])
        if row["status"] not in ("graded",) and not total[3]:
            total[3] = row["message"]
    for (student, assignment, notebook), (score, maximum, statuses, message) in totals.items():
        shown = f"{score:g}/{maximum:g}"
        unusual = sorted(statuses - {"graded"})
        if unusual:
            shown += f"  [{', '.join(unusual)}] {message[:120]}"
        print(f"{student:20s} {assignment}/{notebook}: {shown}")
    print(f"{len(report.flags)} integrity flag(s) in {out / 'integrity.csv'}")
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}")
