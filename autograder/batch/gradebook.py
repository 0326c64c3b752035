"""Store a batch's grades in an nbgrader gradebook, so nbgrader's own tools see them.

The gradebook is any database nbgrader supports, named by a SQLAlchemy URL:

- SQLite (the default): ``sqlite:////absolute/path/gradebook.db``
- PostgreSQL, through the psycopg 3 driver: ``postgresql+psycopg://USER@/DATABASE?host=/socket/dir``
  (Unix socket) or ``postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE`` (TCP).

The grades go through ``nbgrader.api.Gradebook``, which passes every name to the database as a
query parameter, so a student's name is only ever data.
"""

from __future__ import annotations

import contextlib
import fcntl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import CalledProcessError

from sqlalchemy.exc import SQLAlchemyError

from autograder.content.spec import NotebookSpec
from autograder.errors import CourseError
from autograder.status import Status

#: nbgrader keeps student ids and assignment, notebook and cell names in VARCHAR(128) columns.
MAX_NAME = 128

URL_HELP = (
    "Give a SQLite URL such as sqlite:////path/to/gradebook.db, or a PostgreSQL URL such as "
    "postgresql+psycopg://USER@/DATABASE?host=/run/postgresql (Unix socket) or "
    "postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE (TCP); for PostgreSQL, check that the "
    "server is running, that the database exists (createdb DATABASE) and that USER may use it."
)


@dataclass(frozen=True)
class GradeCell:
    """A graded test cell of a release notebook."""

    grade_id: str
    points: float
    cell_type: str


def save(
    db_url: str,
    release_dir: Path,
    rows: list[dict],
    ids: dict[str, str] | None = None,
    submitted: dict | None = None,
    due: dict | None = None,
) -> None:
    """Record ``rows`` (grades.csv rows) in the nbgrader gradebook at ``db_url``.

    A student is stored under their id in ``ids`` (name -> id), or ``submissions.student_key``
    of their name: the name itself when nbgrader can store it, else a short stable form.

    ``release_dir`` holds ``<assignment>/<notebook>.ipynb``, the release the rows were graded
    against: every notebook and graded cell of a row's assignment is registered with its points,
    so nbgrader's totals and maxima are right. A row's score becomes the cell's ``auto_score``; an
    empty score (notebook not graded) becomes ``None``, which nbgrader shows as needing manual
    grading. Saving the same rows again changes nothing, and a manual score an instructor gave in
    nbgrader's formgrader is kept.

    Deadlines: a ``late`` row (``deadlines.PENALTY_ROW``) becomes its notebook's
    ``late_submission_penalty``; ``submitted`` ({(student, assignment): time}) and ``due``
    ({assignment: time}), naive UTC, become nbgrader's submission timestamp and due date.

    Raises ``CourseError`` if the database cannot be opened or written, or if a row does not
    match the release.
    """
    from autograder.batch.submissions import student_key

    ids = ids or {}
    late = [row for row in rows if row.get("status") == Status.LATE]
    grades = _validated([row for row in rows if row.get("status") != Status.LATE], ids)
    # Every notebook of the batch gets its penalty, 0 when not late, and every submission its
    # time, None when unknown: what an earlier run stored (before an extension) does not stay.
    penalties = {(student, assignment, notebook): 0.0
                 for student, assignment, notebook, _ in grades}  # fmt: skip
    for r in late:
        key = (ids.get(r["student"]) or student_key(r["student"]), r["assignment"], r["notebook"])
        penalties[key] = -float(r["score"] or 0.0)
    times = {(student, assignment): None for student, assignment, _, _ in grades}
    for (student, assignment), when in (submitted or {}).items():
        times[ids.get(student) or student_key(student), assignment] = when
    release = _release_cells(Path(release_dir), sorted({key[1] for key in grades}))
    _check_against_release(grades, release)
    with _opened(db_url) as gradebook:
        try:
            _write(gradebook, release, grades)
            _write_deadlines(gradebook, penalties, times, due or {})
        except (SQLAlchemyError, ValueError) as error:  # nbgrader's InvalidEntry is a ValueError
            gradebook.db.rollback()  # the session is unusable until rolled back
            raise CourseError(
                f"could not write the grades to the gradebook {_shown(db_url)}: {_reason(error)}"
            ) from error


def _validated(
    rows: list[dict], ids: dict[str, str]
) -> dict[tuple[str, str, str, str], tuple[float | None, float]]:
    """Map (student id, assignment, notebook, grade_id) to (score or None, max_score)."""
    from autograder.batch.submissions import student_key

    grades = {}
    for number, row in enumerate(rows, start=1):
        try:
            key = tuple(row[name] for name in ("student", "assignment", "notebook", "grade_id"))
            score, max_score = row["score"], row["max_score"]
        except KeyError as missing:
            raise CourseError(f"grade row {number} has no {missing} column: {row!r}") from None
        if isinstance(key[0], str):
            key = (ids.get(key[0]) or student_key(key[0]), *key[1:])
        for value in key:
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
                raise CourseError(
                    f"grade row {number}: {value!r} is not a name nbgrader can store "
                    f"(a non-empty string of at most {MAX_NAME} characters)"
                )
        if key in grades:
            raise CourseError(f"grade row {number} repeats {key!r}; each cell may appear once")
        try:
            score = None if score in ("", None) else float(score)
            max_score = float(max_score)
        except (TypeError, ValueError):
            raise CourseError(
                f"grade row {number} has a score that is not a number: {row!r}"
            ) from None
        grades[key] = (score, max_score)
    return grades


def _release_cells(release_dir: Path, assignments: list[str]) -> dict[str, dict[str, list]]:
    """Read the graded cells of every notebook of ``assignments``: {assignment: {notebook: …}}."""

    release = {}
    for assignment in assignments:
        paths = sorted((release_dir / assignment).glob("*.ipynb"))
        if not paths:
            raise CourseError(
                f"no release notebooks for assignment {assignment!r} in {release_dir}"
            )
        release[assignment] = {}
        for path in paths:
            release[assignment][path.stem] = [
                GradeCell(cell.grade_id, cell.points, cell.cell_type)
                for cell in NotebookSpec.read(path).graded()
            ]
    return release


def _check_against_release(grades: dict, release: dict) -> None:
    """Refuse rows whose notebook, cell or maximum the release does not have."""
    for (student, assignment, notebook, grade_id), (_score, max_score) in grades.items():
        if notebook not in release[assignment]:
            raise CourseError(
                f"{student!r}: {assignment}/{notebook} is not a release notebook; "
                f"{assignment} has {sorted(release[assignment])}"
            )
        points = {c.grade_id: c.points for c in release[assignment][notebook]}
        if grade_id not in points:
            raise CourseError(
                f"{student!r}: {assignment}/{notebook} has no graded cell {grade_id!r}; "
                f"it has {sorted(points)}"
            )
        if points[grade_id] != max_score:
            raise CourseError(
                f"{student!r}: {assignment}/{notebook} cell {grade_id} is worth "
                f"{points[grade_id]:g} in the release but the row says {max_score:g}; "
                "the grades were not made with this release"
            )


@contextmanager
def _opened(db_url: str) -> Iterator:
    """Open nbgrader's Gradebook at ``db_url``, turning any failure into a ``CourseError``."""
    import nbgrader.api
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    # A new gradebook is stamped with nbgrader's schema version, which nbgrader reads by running
    # the `alembic` executable (2 s, and it must be on PATH): read it from the scripts instead.
    nbgrader.api.get_alembic_version = alembic_head
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's, harmless
        with contextlib.ExitStack() as stack:
            try:
                _check_encoding(db_url)
                stack.enter_context(_one_writer(db_url))
                gradebook = Gradebook(db_url)
            except (SQLAlchemyError, ImportError, OSError, ValueError, CalledProcessError) as error:
                raise CourseError(
                    f"cannot open the gradebook {_shown(db_url)}: {_reason(error)}.\n{URL_HELP}"
                ) from None
            try:
                yield gradebook
            finally:
                gradebook.close()


#: The PostgreSQL advisory lock a grade command holds while it writes to a gradebook (a number
#: of the course's own: the bytes of "dropout").
WRITER_LOCK = int.from_bytes(b"dropout", "big")


@contextmanager
def _one_writer(db_url: str) -> Iterator[None]:
    """Hold the gradebook for one grade command at a time, from opening it (a new gradebook's
    tables are created then) to its last commit, so that two commands finishing together (two
    instructors, or two batches of one assignment) neither collide on a row both would create
    nor lose a score: the second waits for the first. PostgreSQL: an advisory lock on a
    connection of its own; SQLite: an exclusive ``flock`` on the database file (SQLite's own
    locks are POSIX locks, which ``flock`` does not touch)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, connect_args={"client_encoding": "utf8"}, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": WRITER_LOCK})
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": WRITER_LOCK}
                    )
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and _a_file_in_a_folder(url.database):
        with open(url.database, "ab") as handle:  # created empty, as SQLite itself would
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def _a_file_in_a_folder(database: str | None) -> bool:
    """Whether a SQLite database name is a file whose folder exists (else SQLite itself says
    what is wrong with it)."""
    return database not in (None, "", ":memory:") and Path(database).parent.is_dir()


def alembic_head() -> str:
    """The schema version of nbgrader's gradebook: the head of its alembic migrations (what
    ``alembic heads`` prints, read in this process)."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


def _check_encoding(db_url: str) -> None:
    """Refuse a PostgreSQL database that cannot hold any student's name: one not in UTF8.

    A database created on a server with the C locale defaults to SQL_ASCII, which psycopg hands
    back as bytes, and SQLAlchemy then fails with a TypeError deep inside its own set-up.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = create_engine(url, connect_args={"client_encoding": "utf8"})
    try:
        with engine.connect() as connection:
            encoding = connection.execute(text("SHOW server_encoding")).scalar()
    finally:
        engine.dispose()
    if encoding != "UTF8":
        raise CourseError(
            f"the gradebook database {_shown(db_url)} uses the encoding {encoding}, which cannot "
            "hold every student's name; use a database created with UTF8, for example "
            f"`createdb --encoding=UTF8 --template=template0 {url.database}`"
        )


def _write(gradebook, release: dict, grades: dict) -> None:
    """Register the assignments, students and submissions, then set every cell's auto_score."""
    from nbgrader.api import Grade, SubmittedNotebook

    for assignment, notebooks in release.items():
        gradebook.update_or_create_assignment(assignment)
        for notebook, cells in notebooks.items():
            gradebook.update_or_create_notebook(notebook, assignment)
            for cell in cells:
                gradebook.update_or_create_grade_cell(
                    cell.grade_id,
                    notebook,
                    assignment,
                    max_score=cell.points,
                    cell_type=cell.cell_type,
                )
    for student in sorted({key[0] for key in grades}):
        gradebook.update_or_create_student(student)
    by_submission: dict[tuple[str, str], list] = {}
    for (student, assignment, notebook, grade_id), (score, _max) in grades.items():
        by_submission.setdefault((student, assignment), []).append((notebook, grade_id, score))
    for (student, assignment), scores in sorted(by_submission.items()):
        submission = gradebook.update_or_create_submission(assignment, student)
        # A submission made before the release gained a notebook or cell lacks a place for it.
        submitted = {nb.name: nb for nb in submission.notebooks}
        for notebook in submission.assignment.notebooks:
            nb = submitted.get(notebook.name)
            if nb is None:
                nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                gradebook.db.add(nb)
            have = {grade.cell_id for grade in nb.grades}
            for cell in notebook.grade_cells:
                if cell.id not in have:
                    gradebook.db.add(Grade(cell_id=cell.id, notebook=nb))
        gradebook.db.commit()
        by_cell = {
            (nb.name, grade.name): grade for nb in submission.notebooks for grade in nb.grades
        }
        for notebook, grade_id, score in scores:
            grade = by_cell[notebook, grade_id]
            grade.auto_score = score
            # As nbgrader's autograder decides: a human must look when there is no score.
            grade.needs_manual_grade = score is None or grade.manual_score is not None
    gradebook.db.commit()


def _write_deadlines(gradebook, penalties: dict, times: dict, due: dict) -> None:
    """Store due dates, submission times and late penalties where nbgrader keeps them."""
    for assignment, when in due.items():
        gradebook.update_or_create_assignment(assignment, duedate=when)
    for (student, assignment), when in times.items():  # each has rows, so a submission
        submission = gradebook.find_submission(assignment, student)
        submission.timestamp = when
    for (student, assignment, notebook), penalty in penalties.items():
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        submitted.late_submission_penalty = penalty
    gradebook.db.commit()


def _shown(db_url: str) -> str:
    """The URL as it may be printed: with any password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return repr(make_url(db_url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - any URL the parser refuses is shown as typed
        return repr(db_url)


def _reason(error: Exception) -> str:
    """The first line of the driver's own message, without SQLAlchemy's wrapping."""
    inner = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    text = lines[0] if lines else type(inner).__name__
    if isinstance(inner, ModuleNotFoundError):
        text += " (a database driver is missing: for PostgreSQL use postgresql+psycopg://)"
    return text
