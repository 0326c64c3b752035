"""The grade command's gradebook: grades.csv rows stored through nbgrader's own API, in SQLite
and in a real PostgreSQL server that this module starts, and read back the way nbgrader does."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder.batch import gradebook
from autograder.content import EXERCISES
from autograder.errors import CourseError

# Names a class list really holds: spaces, quotes, non-ASCII letters, SQL-looking text.
ALICE = "Zoë O'Brien-Łukasiewicz"
BOBBY = 'Robert"); DROP TABLE student; --'
# Two assignments, so a mix-up between assignments (or notebooks) changes some score.
ASSIGNMENTS = ["01-overfitting", "03-bernoulli-masks"]


def grade_cells(assignment: str) -> dict[str, list[tuple[str, float]]]:
    """The release's graded cells as {notebook: [(grade_id, points)]}, read with nbformat."""
    cells = {}
    for path in sorted((EXERCISES / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells[path.stem] = [
            (c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]))
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        ]
    return cells


def make_rows() -> list[dict]:
    """grades.csv rows for two students built from the real release.

    Every cell gets a score no other cell of its notebook has (points - k/64 and k/64 are exact
    in binary), so storing a score under the wrong grade id changes what is read back. Bobby's
    second assignment was not graded: its scores are empty.
    """
    rows = []
    for student in (ALICE, BOBBY):
        for assignment in ASSIGNMENTS:
            for notebook, cells in grade_cells(assignment).items():
                assert cells, f"{assignment}/{notebook} has no graded cell"
                for k, (grade_id, points) in enumerate(cells, start=1):
                    graded = not (student == BOBBY and assignment == ASSIGNMENTS[1])
                    score = (points - k / 64 if student == ALICE else k / 64) if graded else ""
                    rows.append(
                        {
                            "student": student,
                            "assignment": assignment,
                            "notebook": notebook,
                            "grade_id": grade_id,
                            "score": score,
                            "max_score": points,
                            "status": "graded" if graded else "missing",
                            "message": "" if graded else "no such notebook",
                        }
                    )
    return rows


def snapshot(db_url: str) -> dict:
    """Everything the gradebook holds about grades, read through nbgrader's API."""
    from nbgrader.api import Grade, Gradebook

    with Gradebook(db_url) as gb:
        cells = {}
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        key = (submission.student.id, assignment.name, nb.name, grade.name)
                        cells[key] = (grade.auto_score, grade.needs_manual_grade, grade.max_score)
        return {
            "students": sorted(s.id for s in gb.students),
            "assignments": sorted(a.name for a in gb.assignments),
            "grade_rows": gb.db.query(Grade).count(),
            "cells": cells,
        }


def assert_gradebook_holds(db_url: str, rows: list[dict]) -> None:
    """Each row's score is its cell's auto_score, and nbgrader's totals are the rows' sums."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        for row in rows:
            grade = gb.find_grade(
                row["grade_id"], row["notebook"], row["assignment"], row["student"]
            )
            expected = None if row["score"] == "" else row["score"]
            assert grade.auto_score == expected, row
            assert grade.needs_manual_grade == (expected is None), row
            assert grade.max_score == row["max_score"], row
        for assignment in sorted({r["assignment"] for r in rows}):
            mine = [r for r in rows if r["assignment"] == assignment]
            submissions = gb.assignment_submissions(assignment)
            assert sorted(s.student.id for s in submissions) == sorted({r["student"] for r in mine})
            for submission in submissions:
                theirs = [r for r in mine if r["student"] == submission.student.id]
                assert submission.score == pytest.approx(sum(r["score"] or 0.0 for r in theirs))
                assert submission.max_score == pytest.approx(sum(r["max_score"] for r in theirs))
                for nb in submission.notebooks:
                    in_nb = [r for r in theirs if r["notebook"] == nb.name]
                    assert nb.score == pytest.approx(sum(r["score"] or 0.0 for r in in_nb))
                    assert nb.max_score == pytest.approx(sum(r["max_score"] for r in in_nb))


# --- PostgreSQL: a private server on a Unix socket, run as the `postgres` user ----------------


def postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian's /usr/lib/postgresql/<version>/bin, else PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: [int(p) if p.isdigit() else 0 for p in Path(d).parent.name.split(".")],
        reverse=True,
    )
    for directory in candidates:
        if all(os.access(Path(directory) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(directory)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    pytest.fail(
        "the PostgreSQL gradebook test needs a PostgreSQL server (initdb and pg_ctl were found "
        "neither in /usr/lib/postgresql/*/bin nor on PATH): apt-get install postgresql"
    )


def _server_owner():
    """The ``postgres`` system user when the tests run as root (PostgreSQL refuses to run as
    root); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no `postgres` system user to run the server as: apt-get install postgresql")


@pytest.fixture(scope="module")
def postgres_server():
    """Start a throw-away PostgreSQL server listening only on a Unix socket; yield a function
    that creates a fresh database and returns its URL; stop the server afterwards."""
    import psycopg

    bin_dir = postgres_bin_dir()
    owner = _server_owner()
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
    as_postgres = as_postgres if owner else []
    tmp = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
    data, sockets, log = tmp / "data", tmp / "sockets", tmp / "server.log"
    sockets.mkdir()
    if owner:
        for path in (tmp, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def run(*command):
        return subprocess.run(
            [*as_postgres, *command],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    try:
        initdb = ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale"]
        done = run(bin_dir / "initdb", *initdb, "--no-sync")
        assert done.returncode == 0, f"initdb failed:\n{done.stdout}\n{done.stderr}"
        options = f"-c listen_addresses='' -c unix_socket_directories='{sockets}' -c fsync=off"
        done = run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")
        server_log = log.read_text() if log.exists() else ""
        assert done.returncode == 0, (
            f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{server_log}"
        )
        databases = iter(range(1, 1000))

        def new_database(encoding: str = "UTF8") -> str:
            name = f"gradebook_{next(databases)}"
            with psycopg.connect(host=str(sockets), user="postgres", dbname="postgres") as conn:
                conn.autocommit = True
                conn.execute(f"CREATE DATABASE {name} ENCODING '{encoding}' TEMPLATE template0")
            return f"postgresql+psycopg://postgres@/{name}?host={sockets}"

        yield new_database
    finally:
        if (data / "postmaster.pid").exists():  # started, or half-started
            run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty gradebook's URL: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("postgres_server")()


# --- the tests ---------------------------------------------------------------------------------


def older_release(tmp_path: Path) -> Path:
    """A copy of the release in which the last graded cell of each notebook is not graded yet,
    as if the instructor added that test after an earlier batch was graded."""
    for assignment in ASSIGNMENTS:
        for path in (EXERCISES / assignment).glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
            graded[-1].metadata["nbgrader"]["grade"] = False
            target = tmp_path / "older" / assignment / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
    return tmp_path / "older"


def exported_totals(db_url: str, target: Path) -> dict:
    """Each (student, assignment)'s score as nbgrader's CSV export plugin writes it."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    with Gradebook(db_url, course_id="") as gb:  # as `nbgrader export` opens it
        CsvExportPlugin(to=str(target)).export(gb)
    lines = target.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    totals = {}
    for line in lines[1:]:  # the plugin does not quote; our names hold no comma
        record = dict(zip(header, line.split(","), strict=True))
        totals[record["student_id"], record["assignment"]] = float(record["score"])
    return totals


def test_grades_are_stored_through_nbgrader_and_saving_again_is_idempotent(db_url, tmp_path):
    """One test per database, as each new gradebook costs nbgrader seconds (`alembic heads`)."""
    rows = make_rows()
    # An earlier batch, graded before the last test cell of each notebook existed.
    older = older_release(tmp_path)
    known = {
        (a, n, g) for a in ASSIGNMENTS for n, cells in grade_cells(a).items() for g, _ in cells[:-1]
    }
    earlier = [r for r in rows if (r["assignment"], r["notebook"], r["grade_id"]) in known]
    assert 0 < len(earlier) < len(rows)
    gradebook.save(db_url, older, earlier)
    assert_gradebook_holds(db_url, earlier)

    # This batch, with the current release: the new cells get places and scores.
    gradebook.save(db_url, EXERCISES, rows)
    assert_gradebook_holds(db_url, rows)
    first = snapshot(db_url)
    assert first["students"] == sorted({ALICE, BOBBY})
    assert first["assignments"] == ASSIGNMENTS
    assert first["grade_rows"] == len(rows)

    # The same batch saved again changes nothing.
    gradebook.save(db_url, EXERCISES, rows)
    assert snapshot(db_url) == first

    # nbgrader's own export reads the same totals.
    expected = {}
    for row in rows:
        key = (row["student"], row["assignment"])
        expected[key] = expected.get(key, 0.0) + (row["score"] or 0.0)
    assert exported_totals(db_url, tmp_path / "export.csv") == pytest.approx(expected)

    # Bobby's ungraded assignment is graded in a later batch: the same cells get his scores.
    regraded = [
        {**row, "score": row["max_score"], "status": "graded", "message": ""}
        if row["student"] == BOBBY
        else row
        for row in rows
    ]
    gradebook.save(db_url, EXERCISES, regraded)
    assert_gradebook_holds(db_url, regraded)
    assert snapshot(db_url)["grade_rows"] == len(rows)


def test_a_row_the_release_does_not_have_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    rows = make_rows()
    for wrong in ({"grade_id": "no_such_cell"}, {"notebook": "misnamed"}, {"max_score": 99.0}):
        with pytest.raises(CourseError) as raised:
            gradebook.save(url, EXERCISES, [*rows[1:], {**rows[0], **wrong}])
        assert rows[0]["assignment"] in str(raised.value)


def test_a_name_nbgrader_cannot_store_is_stored_under_its_key(tmp_path):
    """nbgrader keeps ids in VARCHAR(128): a longer name gets its short, stable key."""
    from autograder.batch.submissions import student_key

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    long_name = "x" * 129
    rows = [{**row, "student": long_name} for row in make_rows() if row["student"] == BOBBY]
    gradebook.save(url, EXERCISES, rows)
    assert_gradebook_holds(url, [{**row, "student": student_key(long_name)} for row in rows])


@pytest.mark.parametrize(
    "url, says",
    [
        ("not a database url", "Could not parse"),
        ("nosuchdb://user@host/db", "nosuchdb"),
        ("postgresql://user@/db?host=/nonexistent", "postgresql+psycopg://"),  # psycopg2 absent
        ("postgresql+psycopg://postgres@/gradebook?host=/nonexistent-socket-dir", "connection"),
        ("sqlite:////nonexistent-dir/gradebook.db", "unable to open database file"),
    ],
)
def test_a_bad_url_says_what_to_do(url, says):
    rows = make_rows()
    with pytest.raises(CourseError) as raised:
        gradebook.save(url, EXERCISES, rows)
    message = str(raised.value)
    assert says in message
    assert "sqlite:////path/to/gradebook.db" in message
    assert "postgresql+psycopg://USER@/DATABASE?host=" in message
    assert "Traceback" not in message and "sqlalche.me" not in message


def test_a_postgresql_database_that_cannot_hold_every_name_is_refused(postgres_server):
    # A server initialised with the C locale makes SQL_ASCII databases by default.
    url = postgres_server(encoding="SQL_ASCII")
    with pytest.raises(CourseError) as raised:
        gradebook.save(url, EXERCISES, make_rows())
    message = str(raised.value)
    assert "SQL_ASCII" in message and "createdb --encoding=UTF8" in message


def test_the_grade_command_fills_the_gradebook_it_is_given(db_url, tmp_path):
    """End to end: `grade --db URL` (or the default SQLite in --out) holds what grades.csv says."""
    from tests.notebooks import released_notebook, solution_notebook, write_submission
    from tests.test_grading import read_rows, run_grade

    assignment = "03-bernoulli-masks"
    folder = tmp_path / "submissions"
    write_submission(folder, "instructor", assignment, solution_notebook(assignment))
    write_submission(folder, "blank student", assignment, released_notebook(assignment))
    out = tmp_path / "out"
    options = () if db_url.startswith("sqlite") else ("--db", db_url)
    result = run_grade(folder, out, *options)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out)
    for row in rows:
        row["score"] = "" if row["score"] == "" else float(row["score"])
        row["max_score"] = float(row["max_score"])
    assert {r["student"] for r in rows} == {"instructor", "blank student"}
    used = db_url if options else f"sqlite:///{out / 'gradebook.db'}"
    assert_gradebook_holds(used, rows)


def test_the_schema_version_is_what_alembic_itself_reports():
    """New gradebooks are stamped from nbgrader's migration scripts, read in-process rather than
    by running `alembic heads` (two seconds per batch): the two must agree."""
    from nbgrader.api import get_alembic_version

    bin_dir = str(Path(sys.executable).parent)
    env_path = bin_dir + os.pathsep + os.environ.get("PATH", "")
    old_path, os.environ["PATH"] = os.environ.get("PATH", ""), env_path
    try:
        expected = get_alembic_version()  # nbgrader's own: runs the alembic executable
    finally:
        os.environ["PATH"] = old_path
    assert expected and gradebook.alembic_head() == expected


def test_a_written_answer_graded_by_hand_reaches_nbgrader_export_and_survives_a_regrade(
    db_url, tmp_path
):
    """The grader leaves a written answer without a score (needs_manual_grade); the score an
    instructor enters, as nbgrader's formgrader does through the gradebook API, is counted in
    ``nbgrader export``, and saving the batch's rows again does not undo it."""
    from nbgrader.api import Gradebook

    rows = [r for r in make_rows() if r["student"] == ALICE]
    written = [r for r in rows if r["grade_id"].startswith("written_")]
    assert len(written) == len(ASSIGNMENTS)  # one written question per exercise
    for row in written:
        row.update(score="", status="needs_manual_grade", message="awaits the instructor")
    gradebook.save(db_url, EXERCISES, rows)
    assert_gradebook_holds(db_url, rows)

    by_hand = written[0]
    with Gradebook(db_url) as gb:
        grade = gb.find_grade(
            by_hand["grade_id"], by_hand["notebook"], by_hand["assignment"], ALICE
        )
        assert grade.needs_manual_grade
        grade.manual_score = 1.5
        grade.needs_manual_grade = False
        gb.db.commit()
    expected = {}
    for row in rows:
        key = (row["student"], row["assignment"])
        expected[key] = expected.get(key, 0.0) + (row["score"] or 0.0)
    expected[ALICE, by_hand["assignment"]] += 1.5
    assert exported_totals(db_url, tmp_path / "export.csv") == pytest.approx(expected)

    gradebook.save(db_url, EXERCISES, rows)  # the same batch, saved again
    assert exported_totals(db_url, tmp_path / "again.csv") == pytest.approx(expected)


def _rows_for(students: list[str]) -> list[dict]:
    """make_rows' scores for other students (each student's scores as Alice's)."""
    alice = [row for row in make_rows() if row["student"] == ALICE]
    return [row | {"student": student} for student in students for row in alice]


def _save_at_the_signal(db_url: str, rows: list[dict], signal_file: str) -> None:
    """Wait for ``signal_file`` to exist, then save ``rows`` (in a process of its own)."""
    import time

    while not os.path.exists(signal_file):
        time.sleep(0.001)
    gradebook.save(db_url, EXERCISES, rows)


@pytest.mark.parametrize("attempt", range(3))
def test_two_graders_saving_at_once_lose_and_duplicate_nothing(db_url, tmp_path, attempt):
    """Two grade commands finishing together on one new gradebook (two instructors, or two
    batches of the same assignments, with a student in both): every score is there, once."""
    import multiprocessing

    first = _rows_for([f"first {i}" for i in range(8)] + ["in both"])
    second = _rows_for([f"second {i}" for i in range(8)] + ["in both"])
    signal_file = str(tmp_path / "go")
    spawn = multiprocessing.get_context("spawn")
    savers = [
        spawn.Process(target=_save_at_the_signal, args=(db_url, rows, signal_file))
        for rows in (first, second)
    ]
    for saver in savers:
        saver.start()
    Path(signal_file).touch()
    for saver in savers:
        saver.join(300)
    assert [saver.exitcode for saver in savers] == [0, 0]
    every = first + [row for row in second if row["student"] != "in both"]
    assert_gradebook_holds(db_url, every)
    held = snapshot(db_url)
    assert held["grade_rows"] == len(every)  # no score stored twice
    assert len(held["students"]) == 17


def test_two_grade_commands_at_once_fill_one_postgresql_gradebook(postgres_server, tmp_path):
    """Two instructors grading two halves of a class into one gradebook at the same time."""
    from tests.notebooks import released_notebook, solution_notebook, write_submission
    from tests.test_grading import read_rows

    db_url = postgres_server()
    assignment = "03-bernoulli-masks"
    commands, outs = [], []
    for half in ("first", "second"):
        folder = tmp_path / half
        write_submission(folder, f"{half} instructor", assignment, solution_notebook(assignment))
        write_submission(folder, f"{half} blank", assignment, released_notebook(assignment))
        outs.append(tmp_path / f"{half}-out")
        command = [sys.executable, "-m", "autograder", "grade", str(folder), "--out",
                   str(outs[-1]), "--jobs", "1", "--db", db_url, "--quiet"]  # fmt: skip
        commands.append(subprocess.Popen(command, stderr=subprocess.PIPE, text=True))
    for command in commands:
        _, stderr = command.communicate(timeout=900)
        assert command.returncode == 0, stderr[-3000:]
    rows = []
    for out in outs:
        for row in read_rows(out):
            row["score"] = "" if row["score"] == "" else float(row["score"])
            row["max_score"] = float(row["max_score"])
            rows.append(row)
    assert len({r["student"] for r in rows}) == 4
    assert_gradebook_holds(db_url, rows)
    assert snapshot(db_url)["grade_rows"] == len(rows)
