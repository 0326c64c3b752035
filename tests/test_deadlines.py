"""Due dates and late penalties: times read as nbgrader and Canvas give them, nbgrader's penalty
plugins applied per notebook, and the result in grades.csv, the feedback and the gradebook."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, datetime

import pytest

from autograder.batch import deadlines
from autograder.batch.deadlines import PENALTY_ROW, Policy, Submitted, parse_time
from autograder.batch.submissions import NotebookSubmission, StudentSubmission
from autograder.errors import CourseError
from tests.notebooks import released_notebook, solution_notebook, write_submission
from tests.test_grading import read_rows, run_grade

A = "03-bernoulli-masks"
DUE = "2026-12-01T23:59:00+01:00"  # 22:59 UTC


def test_times_are_read_with_their_zone_and_nbgrader_timestamps_default_to_utc():
    utc = datetime(2026, 12, 1, 22, 59, tzinfo=UTC)
    assert parse_time(DUE, naive_is_utc=False) == utc
    assert parse_time("2026-12-01T22:59:00Z", naive_is_utc=False) == utc
    assert parse_time("2026-12-01 22:59:00.000000 UTC", naive_is_utc=True) == utc
    assert parse_time("2026-12-01 17:59:00 -0500", naive_is_utc=True) == utc
    assert parse_time("2026-12-01 22:59:00", naive_is_utc=True) == utc
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-12-01T23:59:00", naive_is_utc=False)
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("tomorrow at noon", naive_is_utc=True)


def test_a_timestamp_file_that_is_not_a_time_is_a_problem_not_a_lateness():
    assert deadlines.read_timestamp(b"2026-12-01 22:59:00 UTC").time is not None
    for data in (
        b"Europe/../../etc/passwd", b"\xff\xfe", b"9" * 1000, b"2026-13-45 99:99:99",
        b"9999-12-31 23:59:59 -0100", b"0001-01-01 00:00:00 +0100",  # past the calendar's edge
        b"2026-12-01 23:59:00 +99:99", b"2026-12-01 23:59:00 +14:01",  # no zone has them
        b"2026-12-01 23:59:00 ../../etc/passwd", b"2026-12-01 23:59:00 Not/AZone",
    ):  # fmt: skip
        found = deadlines.read_timestamp(data)
        assert found.time is None and found.problem, data


def test_nbgrader_timestamps_with_zone_names_are_read():
    """nbgrader writes its Exchange.timezone's name (CET, EST, an IANA name)."""
    utc = datetime(2026, 12, 1, 22, 59, tzinfo=UTC)
    assert deadlines.read_timestamp(b"2026-12-01 23:59:00.000000 CET").time == utc
    assert deadlines.read_timestamp(b"2026-12-01 23:59:00 Europe/Berlin").time == utc
    assert deadlines.read_timestamp(b"2026-12-01 17:59:00 EST").time == utc
    assert deadlines.read_timestamp(b"2026-12-02 12:59:00 +14:00").time == utc


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["2026-12-01T23:59:00"], "no time zone"),
        (["no-such-assignment=" + DUE], "no assignment is called 'no-such-assignment'"),
        ([DUE, "2026-12-02T00:00:00Z"], "two due dates"),
        ([f"{A}=friday"], "is not a time"),
        (["9999-12-31T23:59:59-01:00"], "outside the calendar"),
    ],
)
def test_a_bad_due_date_says_what_to_do(options, says):
    with pytest.raises(CourseError, match=says):
        Policy.from_options(options, "none", [A])


def test_a_penalty_plugin_that_cannot_be_loaded_stops_the_command():
    with pytest.raises(CourseError, match="cannot load it"):
        Policy.from_options([DUE], "no_such_module:Plugin", [A])
    with pytest.raises(CourseError, match="has no late_submission_penalty"):
        Policy.from_options([DUE], "pathlib:PurePath", [A])


class PerHour:
    """A course's own plugin: one point per started hour late."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return -(-total_seconds_late // 3600)


def _student(submitted: Submitted | None) -> tuple[StudentSubmission, list[dict]]:
    student = StudentSubmission("kim")
    student.notebooks.append(NotebookSubmission("kim", A, A, None))
    if submitted:
        student.submitted[A] = submitted
    rows = [
        {"student": "kim", "assignment": A, "notebook": A, "grade_id": g, "score": s}
        for g, s in (("a", 4.0), ("b", 2.5), ("c", ""))
    ]
    return student, rows


@pytest.mark.parametrize(
    ("penalty", "seconds_late", "expected"),
    [("none", 5400, 0.0), ("zero", 5400, 6.5), ("tests.test_deadlines:PerHour", 5400, 2.0),
     ("tests.test_deadlines:PerHour", 10**9, 6.5), ("zero", 0, None), ("zero", -60, None)],
)  # fmt: skip
def test_the_penalty_is_the_plugins_never_below_zero(penalty, seconds_late, expected):
    policy = Policy.from_options([DUE], penalty, [A])
    due = policy.due_for(A)
    when = datetime.fromtimestamp(due.timestamp() + seconds_late, UTC)
    student, rows = _student(Submitted(when, source="timestamp.txt"))
    added = deadlines.penalty_rows(policy, student, rows, policy.plugin())
    if expected is None:
        assert added == []  # on time (or early): no row
        return
    (row,) = added
    assert row["grade_id"] == PENALTY_ROW and row["status"] == "late" and row["max_score"] == 0
    assert row["score"] == -expected
    assert "1 h 30 min after the due date" in row["message"] or seconds_late != 5400


def test_a_submission_marked_late_without_a_time_gets_no_guessed_penalty():
    marked = Submitted(marked_late=True, source="Canvas marked the file late")
    for penalty, expected in (("zero", -6.5), ("none", 0.0), ("tests.test_deadlines:PerHour", 0.0)):
        policy = Policy.from_options([], penalty, [A])
        student, rows = _student(marked)
        (row,) = deadlines.penalty_rows(policy, student, rows, policy.plugin())
        assert row["score"] == expected
        assert "does not say when" in row["message"]
    assert "apply it by hand" in row["message"]


def test_nothing_known_is_nothing_late():
    policy = Policy.from_options([DUE], "zero", [A])
    student, rows = _student(None)
    assert deadlines.penalty_rows(policy, student, rows, policy.plugin()) == []


# ------------------------------------------------------------------ through the grade command


@pytest.fixture(scope="module")
def graded_late(tmp_path_factory):
    """A folder batch with nbgrader timestamps: late, on time, unreadable, none."""
    folder = tmp_path_factory.mktemp("late-batch")
    stamps = {
        "late": "2026-12-02 00:29:00.000000 UTC",  # 90 min after 22:59 UTC
        "on time": "2026-12-01 22:00:00.000000 UTC",
        "garbled": "not a time",
    }
    for student in [*stamps, "undated"]:
        path = write_submission(folder, student, A, solution_notebook(A))
        if student in stamps:
            (path.parent / "timestamp.txt").write_text(stamps[student])
    out = tmp_path_factory.mktemp("late-out")
    done = run_grade(folder, out, "--due", DUE, "--late-penalty", "zero", "--quiet")
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_a_late_notebook_gets_its_penalty_in_grades_csv(graded_late):
    out, stdout = graded_late
    rows = read_rows(out)
    late = [r for r in rows if r["grade_id"] == PENALTY_ROW]
    assert [r["student"] for r in late] == ["late"]
    earned = sum(
        float(r["score"]) for r in rows if r["student"] == "late" and r["status"] == "graded"
    )
    assert float(late[0]["score"]) == -earned < 0  # zero: the notebook's whole score
    assert "1 h 30 min after the due date 2026-12-01 22:59:00 UTC" in late[0]["message"]
    assert "garbled" in stdout and "could not be read" in stdout and "not treated as late" in stdout
    assert "1 submission(s) say nothing of when they were submitted" in stdout


def test_the_feedback_says_when_and_how_much(graded_late):
    out, _ = graded_late
    page = (out / "feedback" / "late" / A / f"{A}.html").read_text()
    assert "class='note late'" in page and "1 h 30 min after the due date" in page
    on_time = (out / "feedback" / "on time" / A / f"{A}.html").read_text()
    assert "note late" not in on_time


def test_the_gradebook_holds_due_date_timestamp_and_penalty(graded_late):
    from nbgrader.api import Gradebook

    out, _ = graded_late
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert gb.find_assignment(A).duedate == datetime(2026, 12, 1, 22, 59)
        late = gb.find_submission(A, "late")
        assert late.timestamp == datetime(2026, 12, 2, 0, 29)
        assert late.total_seconds_late == 5400
        assert late.score > 0 and late.late_submission_penalty == pytest.approx(late.score)
        assert gb.find_submission(A, "on time").late_submission_penalty == 0
        assert gb.find_submission(A, "undated").timestamp is None


def test_a_canvas_late_mark_counts_without_a_due_date(tmp_path):
    """Canvas's download names late files; with --late-penalty zero they earn nothing."""
    nb = solution_notebook(A)
    blank = released_notebook(A)
    staging = tmp_path / "staging"
    on_time = write_submission(staging, "x", A, nb).read_bytes()
    late = write_submission(staging, "y", A, nb).read_bytes()
    empty = write_submission(staging, "z", A, blank).read_bytes()
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr(f"prompt_11_101_{A}.ipynb", on_time)
        archive.writestr(f"tardy_LATE_12_102_{A}.ipynb", late)
        archive.writestr(f"idle_LATE_13_103_{A}.ipynb", empty)
    out = tmp_path / "out"
    done = run_grade(download, out, "--late-penalty", "zero", "--quiet")
    assert done.returncode == 0, done.stderr
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    late_rows = {r["student"]: r for r in rows if r["grade_id"] == PENALTY_ROW}
    assert set(late_rows) == {"tardy", "idle"}
    assert float(late_rows["tardy"]["score"]) < 0 and float(late_rows["idle"]["score"]) == 0
    assert "Canvas marked the file late" in late_rows["tardy"]["message"]
    totals = {}
    for r in rows:
        totals[r["student"]] = totals.get(r["student"], 0.0) + float(r["score"] or 0)
    assert totals["tardy"] == 0 and totals["prompt"] > 0


def test_without_deadline_options_nothing_is_late(tmp_path):
    folder = tmp_path / "batch"
    path = write_submission(folder, "late", A, solution_notebook(A))
    (path.parent / "timestamp.txt").write_text("2030-01-01 00:00:00 UTC")
    done = run_grade(folder, tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert not [r for r in read_rows(tmp_path / "out") if r["status"] == "late"]


def test_a_bad_due_date_on_the_command_line_is_an_error_before_grading(tmp_path):
    done = run_grade(tmp_path, tmp_path / "out", "--due", "2026-12-01 23:59")
    assert done.returncode == 2 and "no time zone" in done.stderr
    assert not (tmp_path / "out").exists()


def test_grading_again_after_an_extension_clears_the_stored_penalty(tmp_path):
    """A penalty stored by one run must not survive a run in which the notebook is on time
    (an extension), nor one without deadline options."""
    from nbgrader.api import Gradebook

    folder = tmp_path / "batch"
    path = write_submission(folder, "alice", A, solution_notebook(A))
    (path.parent / "timestamp.txt").write_text("2026-12-02 00:29:00 UTC")
    out = tmp_path / "out"
    late = ("--due", DUE, "--late-penalty", "zero", "--quiet")

    def penalty() -> float:
        with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
            return gb.find_submission(A, "alice").late_submission_penalty

    extended = ("--due", "2026-12-03T00:00:00Z", "--late-penalty", "zero", "--quiet")
    for options in (late, ("--quiet",), late, extended):
        done = run_grade(folder, out, *options)
        assert done.returncode == 0, done.stderr
        late_rows = [r for r in read_rows(out) if r["status"] == "late"]
        if options is late:
            assert late_rows and penalty() > 0
        else:
            assert not late_rows and penalty() == 0
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert gb.find_assignment(A).duedate == datetime(2026, 12, 3)
