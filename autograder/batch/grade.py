"""The instructor's grade command: every submission graded in its own sandbox, in parallel;
feedback per notebook, ``grades.csv``, ``integrity.csv`` and the gradebook.

A batch always finishes: a notebook the grader fails on gets ``grading_error`` rows, a student
whose grading process dies or overruns is tried again and then gets ``grading_error`` rows
(``pool.py``), and the outputs are written for everyone else. Every text a submission contributes
is cleaned before it is written (``text.py``).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from autograder.batch.pool import Failure, Pool
from autograder.batch.submissions import (
    NotebookSubmission,
    StudentSubmission,
    discover,
    unpack_submissions,
)
from autograder.content import EXERCISES, SOLUTIONS
from autograder.content.spec import Layout
from autograder.errors import CourseError
from autograder.host import sandbox
from autograder.status import Status
from autograder.text import ANSWER_CHARS, MAX_CHARS, clean, one_line, spreadsheet_cell

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
ANSWER_COLUMNS = ["student", "assignment", "notebook", "grade_id", "max_score", "answer"]
ID_COLUMNS = ["student", "id"]
#: Where the feedback pages of a batch wait, inside ``out``, until every student is graded.
STAGING = ".grading"


@dataclass
class StudentResult:
    """What grading one student produced: rows of grades.csv, integrity.csv and
    written_answers.csv, and the feedback pages (``<assignment>/<notebook>.html`` -> HTML),
    which the grade command writes itself (a worker on a cluster shares no disk with it)."""

    grades: list[dict] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    """The whole batch's results."""

    grades: list[dict]
    flags: list[dict]
    ignored: list = field(default_factory=list)  # files of the submissions that were not used
    students: list[StudentSubmission] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    """How the batch is graded (the command line's options)."""

    limits: sandbox.Limits = sandbox.Limits()
    use_sandbox: bool = True
    #: The batch's assignments, when the instructor names them (every student is then expected
    #: to have submitted each); otherwise each student is graded on what they submitted.
    assignments: tuple[str, ...] = ()


_LAYOUTS: dict[tuple[str, str], Layout] = {}
_TESTS: dict = {}


def _layout(assignment: str, notebook: str) -> Layout:
    """What the instructor's notebook says about its cells, read once per process."""
    key = (assignment, notebook)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = Layout.read(SOLUTIONS / assignment / f"{notebook}.ipynb")
    return _LAYOUTS[key]


def _tests(assignment: str, notebook: str):
    """The instructor's tests of a notebook, prepared once per worker process (the engine,
    and PyTorch with it, is imported by the workers only)."""
    from autograder.notebook import grade as engine

    key = (assignment, notebook)
    if key not in _TESTS:
        _TESTS[key] = engine.Tests(_layout(assignment, notebook))
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


def _unscored(entry: NotebookSubmission, status: str, message: str) -> list[dict]:
    """One row without a score for each graded cell of ``entry``'s notebook."""
    cells = _layout(entry.assignment, entry.notebook).graded
    return [_row(entry, c.grade_id, c.points, None, status, message) for c in cells]


#: Address space a grading process may use, beyond what a sandbox may: what a submission's
#: results can make the checks allocate is bounded, so that one student's grading runs out of
#: memory (and gets its own grading_error) rather than the machine.
GRADER_MEMORY_BYTES = 6 * 1024**3


def grader_memory(limits: sandbox.Limits) -> int:
    """The address space of a grading process (see ``GRADER_MEMORY_BYTES``)."""
    return max(GRADER_MEMORY_BYTES, limits.memory_bytes + 2 * 1024**3)


def init_grading_process(memory_bytes: int, *, keep_hard_limit: bool = False) -> None:
    """Prepare a grading process: one PyTorch thread, and its address space limited (the hard
    limit too, in the local pool's processes; only the soft one in a cluster's long-lived
    worker, whose next batch may allow more)."""
    import resource

    import torch

    torch.set_num_threads(1)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1] if keep_hard_limit else memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))


def page_name(entry: NotebookSubmission) -> str:
    """Where a notebook's feedback page goes in its student's feedback folder."""
    return f"{entry.assignment}/{entry.notebook}.html"


def grade_notebook(entry: NotebookSubmission, settings: Settings, result: StudentResult) -> None:
    """Grade one notebook into ``result``, its feedback page included."""
    from autograder.batch import feedback
    from autograder.notebook import grade as engine
    from autograder.notebook import integrity

    tests = _tests(entry.assignment, entry.notebook)
    result.flags += integrity.check(entry, EXERCISES, SOLUTIONS)
    with tempfile.TemporaryDirectory(prefix="student-") as home:
        graded = engine.grade_notebook(
            entry.read(), tests, Path(home), settings.limits, settings.use_sandbox
        )
    for test in graded.tests:
        result.grades.append(
            _row(entry, test.grade_id, test.points, test.score, test.status, test.message)
        )
        if test.status == Status.MANUAL:
            row = _row(entry, test.grade_id, test.points, None, test.status, "")
            result.answers.append(
                {key: row[key] for key in ANSWER_COLUMNS if key in row} | {"answer": test.answer}
            )
    result.pages[page_name(entry)] = feedback.render(
        entry, graded, EXERCISES / entry.assignment / f"{entry.notebook}.ipynb"
    )


def grade_student(student: StudentSubmission, settings: Settings) -> StudentResult:
    """Grade one student's notebooks (in a worker process, or on a cluster's worker)."""
    result = StudentResult()
    for entry in student.notebooks:
        if entry.status != Status.GRADED:
            result.grades += _unscored(entry, entry.status, entry.detail)
            continue
        grades, flags, answers = len(result.grades), len(result.flags), len(result.answers)
        try:
            grade_notebook(entry, settings, result)
        except Exception as error:  # noqa: BLE001 - the grader's fault: report it, go on
            print(clean(traceback.format_exc(), 8000), file=sys.stderr)
            del result.grades[grades:], result.flags[flags:], result.answers[answers:]
            result.pages.pop(page_name(entry), None)
            message = f"the grader failed on this notebook ({type(error).__name__}: {error})"
            result.grades += _unscored(entry, Status.GRADING_ERROR, message)
    return result


def _grade_job(payload) -> StudentResult:
    student, settings = payload
    return grade_student(student, settings)


def student_seconds(student: StudentSubmission, limits: sandbox.Limits) -> float:
    """How long one student's grading may take before its worker is stopped: each notebook's
    budget, plus time for sandboxes to start and the tests' own work."""
    per_notebook = limits.notebook_seconds + 120.0
    return 60.0 + per_notebook * max(1, len(student.notebooks))


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Write rows to ``path`` whole or not at all (a temporary file renamed over it)."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: spreadsheet_cell(v, ANSWER_CHARS if k == "answer" else MAX_CHARS)
                    if isinstance(v, str)
                    else v
                    for k, v in row.items()
                }
            )
    partial.replace(path)


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


def _local_results(students, settings: Settings, jobs: int):
    """``(index, StudentResult | Failure)`` for every student, from local worker processes."""
    memory = grader_memory(settings.limits)
    pool = Pool(
        max(1, min(jobs, len(students))),
        _grade_job,
        initializer=functools.partial(init_grading_process, memory),
        seconds=lambda payload: student_seconds(payload[0], settings.limits),
    )
    return pool.run([(s, settings) for s in students])


def _grade_all(students, staging: Path, settings, jobs, progress, scheduler, policy) -> list:
    """Grade every student, in local worker processes or on the cluster of ``scheduler``;
    stage their feedback pages under ``staging`` as results arrive. A student whose grading
    fails gets ``grading_error`` rows; the others are graded as if it were not in the batch.
    With a ``policy``, a late notebook gets its ``late_penalty`` row and notice here."""
    from autograder.batch import cluster

    plugin = policy.plugin() if policy else None
    bar = Progress(len(students), progress)
    results: dict[int, StudentResult] = {}
    if scheduler:
        outcomes = cluster.results(scheduler, students, settings)
    else:
        outcomes = _local_results(students, settings, jobs)
    for index, outcome in outcomes:
        student = students[index]
        if index in results:
            continue  # a result is taken once, whatever the engine delivers
        if isinstance(outcome, Failure):
            message = f"this student could not be graded: {outcome.reason}"
            outcome = StudentResult(
                [
                    row
                    for entry in student.notebooks
                    for row in _unscored(entry, Status.GRADING_ERROR, message)
                ]  # fmt: skip
            )
        if policy:
            _apply_deadline(policy, plugin, student, outcome)
        _stage_pages(staging / student.key, outcome.pages)
        outcome.pages = {}
        results[index] = outcome
        bar.step()
    return [results[i] for i in range(len(students))]


def _apply_deadline(policy, plugin, student: StudentSubmission, result: StudentResult) -> None:
    """Add the late-penalty rows of ``student`` to ``result``, and say so on their pages."""
    from autograder.batch import deadlines, feedback

    rows = deadlines.penalty_rows(policy, student, result.grades, plugin)
    for row in rows:
        name = f"{row['assignment']}/{row['notebook']}.html"
        if name in result.pages:
            result.pages[name] = feedback.with_late_notice(result.pages[name], row)
    result.grades += rows


def _stage_pages(folder: Path, pages: dict[str, str]) -> None:
    for name, page in pages.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")


def _publish_feedback(folder: Path, staging: Path, students: list[StudentSubmission]) -> None:
    """Replace the batch's students' feedback folders by the staged ones (a student without
    pages, such as one who could not be graded, is left without a folder)."""
    folder.mkdir(exist_ok=True)
    for student in students:
        shutil.rmtree(folder / student.key, ignore_errors=True)
        if (staging / student.key).exists():
            (staging / student.key).replace(folder / student.key)


def grade(
    submissions: Path,
    out: Path,
    *,
    jobs: int = 1,
    settings: Settings | None = None,
    db_url: str | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    policy=None,
) -> Report:
    """Grade every submission under ``submissions`` (a folder or a zip) into ``out``, in
    ``jobs`` local processes or on the Dask cluster whose scheduler is at ``scheduler``; with
    a ``deadlines.Policy``, late notebooks get their penalty.

    ``out`` receives ``grades.csv``, ``integrity.csv``, ``written_answers.csv`` (the text of
    every written answer that awaits the instructor), ``student_ids.csv`` (each student's id
    in the feedback folders and the gradebook), ``feedback/<id>/<assignment>/`` and (unless
    ``db_url`` names another database) the nbgrader gradebook ``gradebook.db``. Nothing in
    ``out`` changes until every student is graded (an interrupted command leaves the previous
    results as they were; running it again grades the batch); then the gradebook is written
    first, the feedback and the CSVs after it. One command at a time writes to ``out``.
    """
    from autograder.batch import gradebook
    from autograder.host import cgroups

    settings = settings or Settings()
    out.mkdir(parents=True, exist_ok=True)
    warnings = []
    with _only_command_on(out), tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        unpacked = unpack_submissions(submissions, Path(tmp))
        students, batch = discover(
            unpacked.folder,
            unpacked.names,
            Path(tmp) / "staged",
            list(settings.assignments),
            unpacked.late,
        )
        warnings += _undated(students, policy)
        warnings += _unevenly_submitted(students, batch, bool(settings.assignments))
        if settings.use_sandbox and not scheduler:  # (a cluster's workers check for themselves)
            sandbox.preflight(Path(tmp))  # fails early, with advice, if it cannot sandbox
            if not cgroups.available():
                warnings.append(
                    "warning: cgroups cannot be created here (run as root, or delegate the cpu, "
                    "memory and pids controllers), so each sandbox is limited per process only"
                )
        staging = out / STAGING
        shutil.rmtree(staging, ignore_errors=True)  # what an interrupted run left
        try:
            ordered = _grade_all(students, staging, settings, jobs, progress, scheduler, policy)
            grades = [row for r in ordered for row in r.grades]
            # The gradebook first: if it refuses the grades, nothing else in OUT has changed.
            gradebook.save(
                db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}",
                EXERCISES,
                grades,
                {s.student: s.key for s in students},
                *_submission_times(students, batch, policy),
            )
            _publish_feedback(out / "feedback", staging, students)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        flags = [row for r in ordered for row in r.flags]
        _write_csvs(out, ordered, grades, flags, students)
    return Report(grades, flags, list(unpacked.ignored), students, warnings + unpacked.notes)


def _write_csvs(out: Path, ordered, grades, flags, students) -> None:
    _write_csv(out / "grades.csv", GRADE_COLUMNS, grades)
    _write_csv(out / "written_answers.csv", ANSWER_COLUMNS, [a for r in ordered for a in r.answers])
    _write_csv(out / "integrity.csv", FLAG_COLUMNS, flags)
    _write_csv(out / "student_ids.csv", ID_COLUMNS,
               [{"student": s.student, "id": s.key} for s in students])  # fmt: skip


@contextlib.contextmanager
def _only_command_on(out: Path):
    """Hold ``out`` for this command: a second grade command writing there at the same time
    would replace this one's staged feedback; it is refused instead."""
    handle = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseError(
                f"another grade command is writing to {out}: wait for it to finish, or give "
                "this one another --out"
            ) from None
        yield
    finally:
        os.close(handle)


def _undated(students: list[StudentSubmission], policy) -> list[str]:
    """Notes on submissions whose time could not be known, when there is a due date: they
    are not treated as late."""
    if policy is None or not policy.due:
        return []
    notes, undated = [], 0
    for student in students:
        for assignment in sorted({entry.assignment for entry in student.notebooks}):
            found = student.submitted.get(assignment)
            if found is not None and found.problem:
                notes.append(f"note: {student.student} {assignment}: {found.source} could not be "
                             f"read ({found.problem}); not treated as late")  # fmt: skip
            elif found is None or (found.time is None and not found.marked_late):
                undated += 1
    if undated:
        notes.append(f"note: {undated} submission(s) say nothing of when they were submitted "
                     "(no timestamp.txt, no LMS mark); they were not treated as late")  # fmt: skip
    return notes


def _submission_times(students: list[StudentSubmission], batch: list[str], policy):
    """For the gradebook: {(student, assignment): when submitted} and {assignment: due}, as
    naive UTC times (as nbgrader stores them)."""
    if policy is None:
        return {}, {}
    submitted = {
        (student.student, assignment): found.time.replace(tzinfo=None)
        for student in students
        for assignment, found in student.submitted.items()
        if found.time is not None
    }
    due = {a: policy.due_for(a).replace(tzinfo=None) for a in batch if policy.due_for(a)}
    return submitted, due


def _unevenly_submitted(students: list[StudentSubmission], batch: list[str], named: bool):
    """Notes for an instructor who did not name the assignments and whose students did not all
    submit the same ones (each is graded on what they submitted)."""
    if named:
        return []
    notes = []
    for student in students:
        have = {entry.assignment for entry in student.notebooks}
        if have != set(batch):
            absent = ", ".join(sorted(set(batch) - have)) or "-"
            notes.append(f"note: {student.student} submitted no folder for {absent}: no rows "
                         "for it (pass --assignment NAME to report what is missing)")  # fmt: skip
    return notes


def print_summary(report: Report, out: Path) -> None:
    """Print one line per student notebook, then where the results are."""
    for item in report.ignored:
        print(one_line(f"ignored: {item}", 500))
    for warning in report.warnings:
        print(one_line(warning, 1000))
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
        print(one_line(f"{student:20s} {assignment}/{notebook}: {shown}", 300))
    print(f"{len(report.flags)} integrity flag(s) in {out / 'integrity.csv'}")
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}")
