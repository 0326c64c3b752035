"""The instructor's grade command, run for real on a batch of submissions: the instructor's
notebook, the blank release, every catalogued mistake and correct variant, and broken files."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from autograder.course import REPO
from tests.catalogue import CORRECT, WRONG
from tests.notebooks import released_notebook, solution_notebook, with_answer, write_submission

A03 = "03-bernoulli-masks"
REPEATED = ["instructor", "blank", WRONG[0].name, CORRECT[0].name]


def run_grade(submissions: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(submissions),
            "--out",
            str(out),
            "--jobs",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def read_rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_student(rows):
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["student"]].append(row)
    return grouped


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    write_submission(folder, "instructor", A03, solution_notebook(A03))
    write_submission(folder, "blank", A03, released_notebook(A03))
    for entry in WRONG + CORRECT:
        write_submission(
            folder,
            entry.name,
            entry.assignment,
            with_answer(entry.assignment, entry.grade_id, entry.code),
        )
    broken = write_submission(folder, "unreadable", A03, released_notebook(A03))
    broken.write_text('{"cells": [', encoding="utf-8")
    empty = write_submission(folder, "empty", A03, released_notebook(A03))
    nbformat.write(nbformat.v4.new_notebook(), empty)
    misnamed = write_submission(folder, "misnamed", A03, released_notebook(A03))
    misnamed.rename(misnamed.with_name("my-work.ipynb"))
    (folder / "no-submission").mkdir()
    out = tmp_path_factory.mktemp("out")
    result = run_grade(folder, out)
    return folder, out, result


@pytest.fixture(scope="module")
def grades(batch):
    folder, out, result = batch
    assert result.returncode == 0, result.stderr[-3000:]
    return by_student(read_rows(out))


def total(rows):
    return sum(float(r["score"]) for r in rows), sum(float(r["max_score"]) for r in rows)


def test_columns_are_as_specified(batch):
    _, out, _ = batch
    header = (out / "grades.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:6] == ["student", "assignment", "notebook", "grade_id", "score", "max_score"]


def test_every_test_cell_has_a_row(grades):
    test_cells = [
        c.metadata["nbgrader"]["grade_id"]
        for c in solution_notebook(A03).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]
    for student, rows in grades.items():
        assert [r["grade_id"] for r in rows] == test_cells, student


def test_instructor_solution_earns_full_marks(grades):
    score, maximum = total(grades["instructor"])
    assert maximum > 0 and score == maximum


def test_blank_release_earns_zero_without_crashing(grades):
    rows = grades["blank"]
    assert all(r["status"] == "graded" for r in rows)
    assert total(rows)[0] == 0
    assert all("not implemented yet" in r["message"] for r in rows)


@pytest.mark.parametrize("entry", WRONG, ids=lambda e: e.name)
def test_wrong_implementation_loses_points_with_a_message_naming_it(grades, entry):
    """It loses points in its own function's tests, with a message that names the mistake.
    (Functions that call it, as dropout_forward calls bernoulli_mask, may lose points too.)"""
    rows = grades[entry.name]
    assert all(r["status"] == "graded" for r in rows), rows
    lost = [
        r
        for r in grades[entry.name]
        if float(r["score"]) < float(r["max_score"]) and r["grade_id"].endswith(entry.grade_id)
    ]
    assert lost, f"{entry.name} lost no points in the tests of {entry.grade_id}"
    assert any(entry.message in r["message"] for r in lost), [r["message"] for r in lost]


@pytest.mark.parametrize("entry", CORRECT, ids=lambda e: e.name)
def test_correct_variant_earns_full_marks(grades, entry):
    score, maximum = total(grades[entry.name])
    assert score == maximum, [r["message"] for r in grades[entry.name] if r["message"]]


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
    rows = grades[student]
    assert rows and all(r["status"] == status and r["score"] == "" for r in rows)
    assert words in rows[0]["message"]


def test_feedback_for_each_graded_notebook_without_hidden_code(batch, grades):
    _, out, _ = batch
    for student in ("instructor", "blank", WRONG[0].name):
        html = (out / "feedback" / student / A03 / f"{A03}.html").read_text(encoding="utf-8")
        assert "hidden_bernoulli_mask(" not in html, student
        assert "BEGIN HIDDEN" not in html, student
        assert "autograder.hidden" not in html, student
    blank = (out / "feedback" / "blank" / A03 / f"{A03}.html").read_text(encoding="utf-8")
    assert "not implemented yet" in blank
    assert "BEGIN SOLUTION" not in blank  # (the others submitted notebooks built from ours)
    assert not (out / "feedback" / "unreadable").exists()


def test_student_edits_to_test_cells_are_flagged(batch):
    _, out, _ = batch
    with (out / "integrity.csv").open(newline="", encoding="utf-8") as handle:
        flags = list(csv.DictReader(handle))
    assert flags == [], "no catalogue entry edits a test cell, so nothing may be flagged"


def test_zip_input_and_regrading_give_identical_results(batch, grades, tmp_path):
    folder, _, _ = batch
    archive = tmp_path / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student in REPEATED:
            for path in (folder / student).rglob("*.ipynb"):
                zf.write(path, Path("export") / path.relative_to(folder))
    result = run_grade(archive, tmp_path / "again")
    assert result.returncode == 0, result.stderr[-3000:]
    again = by_student(read_rows(tmp_path / "again"))
    assert sorted(again) == sorted(REPEATED)
    for student in REPEATED:
        assert again[student] == grades[student]


def test_bad_input_gets_a_clear_error(tmp_path):
    result = run_grade(tmp_path / "nowhere", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
