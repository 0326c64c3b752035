"""The instructor's grade command, run for real on one batch: for every assignment the
instructor's notebook and the blank release; every catalogued mistake and correct variant; and
broken files."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from autograder.content import REPO, assignments
from autograder.content.spec import NotebookSpec
from tests.catalogue import CORRECT, WRONG
from tests.leaks import assert_no_leaks
from tests.notebooks import (
    bundles,
    released_notebook,
    solution_notebook,
    with_answer,
    with_answers,
    write_submission,
)

A03 = "03-bernoulli-masks"


#: The whole catalogue goes through the real command, bundled: each submission carries one
#: catalogued implementation per answer cell (never together with an answer it calls).
WRONG_BUNDLES = [(f"wrong-{name}", a, slot) for name, a, slot in bundles(WRONG)]
CORRECT_BUNDLES = [(f"correct-{name}", a, slot) for name, a, slot in bundles(CORRECT)]
STUDENT_OF = {
    entry.name: student
    for student, _, slot in WRONG_BUNDLES + CORRECT_BUNDLES
    for entry in slot.values()
}
REPEATED = ["instructor", "blank", WRONG_BUNDLES[0][0], CORRECT_BUNDLES[0][0]]


def run_grade(submissions: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    return subprocess.run(
        [*command, "--jobs", "2", *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def read_rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_student(rows):
    """Rows grouped by student, then by assignment."""
    grouped = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row["student"]][row["assignment"]].append(row)
    return grouped


def graded_cells(assignment):
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in solution_notebook(assignment).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for assignment in assignments():
        write_submission(folder, "instructor", assignment, solution_notebook(assignment))
        write_submission(folder, "blank", assignment, released_notebook(assignment))
    for student, assignment, slot in WRONG_BUNDLES + CORRECT_BUNDLES:
        notebook = with_answers(assignment, {g: e.code for g, e in slot.items()})
        write_submission(folder, student, assignment, notebook)
    broken = write_submission(folder, "unreadable", A03, released_notebook(A03))
    broken.write_text('{"cells": [', encoding="utf-8")
    empty = write_submission(folder, "empty", A03, released_notebook(A03))
    nbformat.write(nbformat.v4.new_notebook(), empty)
    misnamed = write_submission(folder, "misnamed", A03, released_notebook(A03))
    misnamed.rename(misnamed.with_name("my-work.ipynb"))
    (folder / "no-submission").mkdir()
    exits = with_answer(A03, "bernoulli_mask", "import os\n\nos._exit(1)")
    write_submission(folder, "kernel-exits", A03, exits)
    out = tmp_path_factory.mktemp("out")
    every = [option for a in assignments() for option in ("--assignment", a)]
    return folder, out, run_grade(folder, out, *every)


@pytest.fixture(scope="module")
def grades(batch):
    _, out, result = batch
    assert result.returncode == 0, result.stderr[-3000:]
    return by_student(read_rows(out))


def written_ids(assignment) -> set[str]:
    """The grade_ids of the assignment's written answers (graded by hand)."""
    path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    return {cell.grade_id for cell in NotebookSpec.read(path).cells if cell.is_manual}


def autograded(rows):
    """The rows of the tests (the written answers left out)."""
    return [r for r in rows if r["grade_id"] not in written_ids(r["assignment"])]


def total(rows):
    """Score and maximum of the autograded rows."""
    rows = autograded(rows)
    return sum(float(r["score"]) for r in rows), sum(float(r["max_score"]) for r in rows)


def test_columns_are_as_specified(batch):
    _, out, _ = batch
    header = (out / "grades.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:6] == ["student", "assignment", "notebook", "grade_id", "score", "max_score"]


@pytest.mark.parametrize("assignment", assignments())
def test_every_test_cell_has_a_row_for_every_student(grades, assignment):
    for student, by_assignment in grades.items():
        assert [r["grade_id"] for r in by_assignment[assignment]] == graded_cells(assignment), (
            student
        )


@pytest.mark.parametrize("assignment", assignments())
def test_instructor_solution_earns_full_marks(grades, assignment):
    rows = grades["instructor"][assignment]
    score, maximum = total(rows)
    assert maximum > 0 and score == maximum
    written = [r for r in rows if r["grade_id"] in written_ids(assignment)]
    assert written, "every exercise has a written question"
    assert all(r["status"] == "needs_manual_grade" and r["score"] == "" for r in written)


@pytest.mark.parametrize("assignment", assignments())
def test_written_answers_await_the_instructor_with_their_text(batch, assignment):
    _, out, _ = batch
    with (out / "written_answers.csv").open(newline="", encoding="utf-8") as handle:
        answers = [r for r in csv.DictReader(handle) if r["assignment"] == assignment]
    mine = [r for r in answers if r["student"] == "instructor"]
    assert {r["grade_id"] for r in mine} == written_ids(assignment)
    assert all(r["answer"].startswith("**Model answer.**") for r in mine)
    assert not [r for r in answers if r["student"] == "blank"]  # left as released: no answer
    page = (out / "feedback" / "instructor" / assignment / f"{assignment}.html").read_text("utf-8")
    assert "awaiting your instructor&#x27;s grade" in page and "Model answer." in page


@pytest.mark.parametrize("assignment", assignments())
def test_blank_release_earns_zero_without_crashing(grades, assignment):
    rows = grades["blank"][assignment]
    assert all(r["status"] == "graded" and float(r["score"]) == 0 for r in rows)
    assert all("not implemented yet" in r["message"] for r in autograded(rows))
    written = [r for r in rows if r["grade_id"] in written_ids(assignment)]
    assert written and all("No written answer" in r["message"] for r in written)


@pytest.mark.parametrize("entry", WRONG, ids=lambda e: e.name)
def test_wrong_implementation_loses_points_with_a_message_naming_it(grades, entry):
    """It loses points in its own function's tests, with a message that names the mistake.
    (Functions that call it, as dropout_forward calls bernoulli_mask, may lose points too.)"""
    rows = autograded(grades[STUDENT_OF[entry.name]][entry.assignment])
    assert all(r["status"] == "graded" for r in rows), rows
    lost = [
        r
        for r in rows
        if float(r["score"]) < float(r["max_score"]) and r["grade_id"].endswith(entry.grade_id)
    ]
    assert lost, f"{entry.name} lost no points in the tests of {entry.grade_id}"
    assert any(entry.message in r["message"] for r in lost), [r["message"] for r in lost]


@pytest.mark.parametrize("entry", CORRECT, ids=lambda e: e.name)
def test_correct_variant_earns_full_marks(grades, entry):
    rows = grades[STUDENT_OF[entry.name]][entry.assignment]
    score, maximum = total(rows)
    assert score == maximum, [r["message"] for r in rows if r["message"]]


def test_an_assignment_a_student_did_not_submit_is_missing(grades):
    student, submitted, _ = WRONG_BUNDLES[0]
    for assignment in [a for a in assignments() if a != submitted]:
        rows = grades[student][assignment]
        assert rows and all(r["status"] == "missing" and r["score"] == "" for r in rows)


@pytest.mark.parametrize(
    ("student", "status", "words"),
    [
        ("unreadable", "unreadable", "invalid JSON"),
        ("empty", "unreadable", "no cells"),
        ("misnamed", "missing", "found my-work.ipynb"),
        ("no-submission", "missing", "no folder"),
    ],
)
def test_broken_submission_is_reported_never_an_ordinary_zero(grades, student, status, words):
    rows = grades[student][A03]
    assert rows and all(r["status"] == status and r["score"] == "" for r in rows)
    assert words in rows[0]["message"]


def test_a_cell_that_stops_the_process_is_skipped_and_the_rest_graded(batch, grades):
    """Like a kernel that dies in Jupyter, but the grader starts a fresh one without that cell:
    the answers that do not need it keep their points, and the feedback says what happened."""
    _, out, _ = batch
    rows = autograded(grades["kernel-exits"][A03])
    assert all(r["status"] == "graded" for r in rows), rows
    kept = [r for r in rows if r["grade_id"].endswith(("Dropout", "predict"))]
    assert kept and all(r["score"] == r["max_score"] for r in kept), kept
    page = (out / "feedback" / "kernel-exits" / A03 / f"{A03}.html").read_text("utf-8")
    assert "stopped your notebook" in page


@pytest.mark.parametrize("assignment", assignments())
def test_feedback_for_each_graded_notebook_without_hidden_code(batch, grades, assignment):
    _, out, _ = batch
    for student in ("instructor", "blank"):
        html = (out / "feedback" / student / assignment / f"{assignment}.html").read_text("utf-8")
        assert "BEGIN HIDDEN" not in html and "autograder.content.hidden" not in html, student
    blank = (out / "feedback" / "blank" / assignment / f"{assignment}.html").read_text("utf-8")
    assert "not implemented yet" in blank
    assert "http://" not in blank and "https://" not in blank  # it loads nothing from elsewhere
    assert "BEGIN SOLUTION" not in blank  # (the others submitted notebooks built from ours)
    assert not (out / "feedback" / "unreadable").exists()


def test_no_feedback_file_holds_solution_or_hidden_test_code(batch):
    _, out, _ = batch
    assert_no_leaks(out)


def test_nothing_is_flagged_when_no_test_cell_was_touched(batch):
    """Flags only for tricks: none for the instructor, the blank release, or honest variants."""
    _, out, _ = batch
    with (out / "integrity.csv").open(newline="", encoding="utf-8") as handle:
        flagged = {row["student"] for row in csv.DictReader(handle)}
    honest = {"instructor", "blank"} | {student for student, _, _ in CORRECT_BUNDLES}
    assert not flagged & honest, flagged & honest


def test_zip_input_and_regrading_give_identical_results(batch, grades, tmp_path):
    folder, _, _ = batch
    archive = tmp_path / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student in REPEATED:
            for path in (folder / student).rglob("*.ipynb"):
                zf.write(path, Path("export") / path.relative_to(folder))
    every = [option for a in assignments() for option in ("--assignment", a)]
    result = run_grade(archive, tmp_path / "again", *every)
    assert result.returncode == 0, result.stderr[-3000:]
    again = by_student(read_rows(tmp_path / "again"))
    assert sorted(again) == sorted(REPEATED)
    for student in REPEATED:
        assert again[student] == grades[student]


def test_a_students_rows_do_not_depend_on_what_others_submitted(batch, grades, tmp_path):
    """Without --assignment each student is graded on what they submitted: another student's
    folder for one more assignment adds no row to theirs (as if it were not in the batch)."""
    folder, _, _ = batch
    subset = tmp_path / "subset"
    for student in ("instructor", WRONG_BUNDLES[0][0]):
        for path in (folder / student).rglob("*.ipynb"):
            if (folder / student / path.relative_to(folder / student).parts[0]).is_dir():
                target = subset / student / path.relative_to(folder / student)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    result = run_grade(subset, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    again = by_student(read_rows(tmp_path / "out"))
    student, submitted, _ = WRONG_BUNDLES[0]
    assert sorted(again[student]) == [submitted]  # no 'missing' rows for the instructor's others
    assert again[student][submitted] == grades[student][submitted]
    assert sorted(again["instructor"]) == assignments()
    assert "note: " in result.stdout and "--assignment" in result.stdout


def test_bad_input_gets_a_clear_error(tmp_path):
    result = run_grade(tmp_path / "nowhere", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_without_the_sandbox_the_grades_are_the_same(batch, grades, tmp_path):
    """--no-sandbox (a trusted machine without bubblewrap) changes where code runs, not grades."""
    folder, _, _ = batch
    subset = tmp_path / "subset"
    for student in ("instructor", "blank"):
        for path in (folder / student / A03).glob("*.ipynb"):
            target = subset / student / A03 / path.name
            target.parent.mkdir(parents=True)
            target.write_bytes(path.read_bytes())
    result = run_grade(subset, tmp_path / "out", "--no-sandbox")
    assert result.returncode == 0, result.stderr[-3000:]
    again = by_student(read_rows(tmp_path / "out"))
    for student in ("instructor", "blank"):
        assert again[student][A03] == grades[student][A03]
