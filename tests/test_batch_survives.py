"""A batch no student can break: attacks on the grader's own process, through the real grade
command, each beside an honest student whose grade must come through intact.

Each attack is one that once broke a batch (issue 9): a message the UTF-8 encoder refuses, a
half-sent frame, a pointer handed to NumPy, a decoding bomb, LMS names that collide, a cell that
outlives its time limit, a name too long for nbgrader, symbolic links, malformed metadata; and
some new ones (a check shadowed by the student's own function, processes that hog the CPU).
"""

from __future__ import annotations

import csv
import sqlite3
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.content import SOLUTIONS
from tests.notebooks import released_notebook, solution_notebook, with_answers, write_submission
from tests.test_grading import autograded, by_student, read_rows, run_grade, total

A = "03-bernoulli-masks"
HONEST = "honest"

#: Writes to every pipe the sandbox holds (the grader's protocol pipe among them).
_TO_THE_PIPE = """
import os
def to_the_pipe(data):
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                os.write(int(name), data)
        except OSError:
            pass
"""

HALF_FRAME = (
    _TO_THE_PIPE
    + """
import signal, struct
to_the_pipe(struct.pack("!Q", 1000) + b"x" * 10)
signal.raise_signal(signal.SIGSTOP)
"""
)

JSON_BOMB = (
    _TO_THE_PIPE
    + """
import struct
body = b'{"op": "callback", "id": 424242, "args": [' + b"{}, " * 20_000_000 + b"{}]}"
to_the_pipe(struct.pack("!Q", len(body)) + body)
"""
)

BINARY_BOMB = (
    _TO_THE_PIPE
    + """
import struct
count = struct.pack("!I", 2**31)  # a list announcing two billion values
body = b"m" + struct.pack("!I", 1) + b"s" + struct.pack("!I", 2) + b"op" + b"l" + count
to_the_pipe(struct.pack("!Q", len(body)) + body)
"""
)

POINTER = """
class Pointer:
    @property
    def __array_interface__(self):
        return {"shape": (1 << 20,), "typestr": "<f8", "data": (0x10, True), "version": 3}

def bernoulli_mask(shape, p, rng):
    if p == 0:
        return Pointer()
    return rng.random(shape) >= p
"""

SURROGATE_ANSWER = 'def bernoulli_mask(shape, p, rng):\n    raise ValueError("p \\ud800 oops")\n'
SURROGATE_CELL = 'raise ValueError("\\udcff")\n'

SHADOWS_CHECKS = """
class Full:
    def points(self, n):
        return n

def check_bernoulli_mask(f): return Full()
def check_dropout_forward(f): return Full()
def check_dropout_module(f): return Full()
def check_predict(f): return Full()
"""

IGNORES_ALARM = """
import signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
time.sleep(3600)
"""

HOGS_CPU = """
import multiprocessing, time
def spin():
    while True:
        pass
hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(8)]
for hog in hogs:
    hog.start()
"""


def _instructor_with(codes=None, extra=()):
    nb = with_answers(A, codes or {})
    for position, source in enumerate(extra):
        nb.cells.insert(2 + position, nbformat.v4.new_code_cell(source))
    return nb


def _blank_with(codes=None, extra=()):
    nb = released_notebook(A)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if codes and grade_id in codes:
            cell.source = codes[grade_id]
    for position, source in enumerate(extra):
        nb.cells.insert(2 + position, nbformat.v4.new_code_cell(source))
    return nb


#: Answers the extra independence draws with a huge flat array instead of the shape asked for.
HUGE_DRAWS = """
def bernoulli_mask(shape, p, rng):
    if shape == (40, 50):
        return rng.random(4_000_000) >= p
    return rng.random(shape) >= p
"""

#: Returns a (N, 1, 1) tensor that broadcasts against the expected (16, 3) output.
BROADCASTS = """
def predict(model, x):
    return torch.zeros(2_000_000, 1, 1)
"""


def _with_a_big_integer(path: Path) -> None:
    """Put into a written notebook an integer of 5000 digits, which Python's JSON reader
    refuses to parse (nbformat cannot write one, so it goes in as text)."""
    text = path.read_text("utf-8")
    path.write_text(text.replace('"metadata": {', '"metadata": {"huge": ' + "7" * 5000 + ",", 1))


def _odd_metadata():
    nb = _instructor_with()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = "not a dict"
    nb.cells.insert(2, cell)
    cell = nbformat.v4.new_code_cell("y = 2")
    cell.metadata["nbgrader"] = {"grade_id": {"a": "dict"}, "grade": True, "points": "lots"}
    nb.cells.insert(3, cell)
    return nb


LONG_NAME = "Jean-Baptiste " * 11 + "Z"  # 155 characters: longer than nbgrader stores

#: student -> notebook: each attacks the grader in its own way
ATTACKS = {
    "lone-surrogate-answer": lambda: _blank_with({"bernoulli_mask": SURROGATE_ANSWER}),
    "lone-surrogate-cell": lambda: _blank_with(extra=[SURROGATE_CELL]),
    "half-frame": lambda: _instructor_with(extra=[HALF_FRAME]),
    "pointer": lambda: _blank_with({"bernoulli_mask": POINTER}),
    "json-bomb": lambda: _instructor_with(extra=[JSON_BOMB]),
    "binary-bomb": lambda: _instructor_with(extra=[BINARY_BOMB]),
    "shadows-checks": lambda: _blank_with(extra=[SHADOWS_CHECKS]),
    "odd-metadata": _odd_metadata,
    "hogs-cpu": lambda: _instructor_with(extra=[HOGS_CPU]),
    LONG_NAME: lambda: solution_notebook(A),
    "huge-draws": lambda: _instructor_with({"bernoulli_mask": HUGE_DRAWS}),
    "broadcasts": lambda: _instructor_with({"predict": BROADCASTS}),
    "big-integer": lambda: solution_notebook(A),
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    write_submission(folder, HONEST, A, solution_notebook(A))
    for name, build in ATTACKS.items():
        path = write_submission(folder, name, A, build())
        if name == "big-integer":
            _with_a_big_integer(path)
    linked = folder / "symlinked" / A / f"{A}.ipynb"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(SOLUTIONS / A / f"{A}.ipynb")
    out = tmp_path_factory.mktemp("attacks-out")
    result = run_grade(folder, out, "--timeout", "10", "--notebook-timeout", "120")
    assert result.returncode == 0, result.stderr[-3000:]
    return by_student(read_rows(out)), out, result


def test_the_honest_student_keeps_full_marks(attacked):
    grades, out, _ = attacked
    rows = grades[HONEST][A]
    assert all(r["status"] == "graded" for r in autograded(rows)), rows
    score, maximum = total(rows)
    assert score == maximum > 0
    assert (out / "feedback" / HONEST / A / f"{A}.html").is_file()


def test_every_student_has_a_row_for_every_test(attacked):
    grades, _, _ = attacked
    expected = {*ATTACKS, HONEST, "symlinked"}
    assert set(grades) == expected
    cells = len(grades[HONEST][A])
    assert all(len(grades[s][A]) == cells for s in expected)


@pytest.mark.parametrize("name", ["lone-surrogate-answer", "lone-surrogate-cell",
                                  "shadows-checks"])  # fmt: skip
def test_an_attack_on_the_grader_earns_nothing(attacked, name):
    grades, out, _ = attacked
    rows = grades[name][A]
    score, _ = total(rows)
    assert score == 0, [(r["grade_id"], r["score"], r["message"][:200]) for r in rows]
    page = (out / "feedback" / name / A / f"{A}.html").read_text("utf-8")
    assert "Feedback" in page


def test_a_pointer_handed_to_numpy_is_never_followed(attacked):
    """The student's object stays opaque: the property it breaks fails, the others hold."""
    grades, _, _ = attacked
    rows = grades["pointer"][A]
    mask_rows = [r for r in rows if r["grade_id"].endswith("bernoulli_mask")]
    assert all(r["status"] == "graded" for r in autograded(rows)), rows
    assert all(0 < float(r["score"]) < float(r["max_score"]) for r in mask_rows), mask_rows
    assert all("p=0" in r["message"] for r in mask_rows), [r["message"] for r in mask_rows]


def test_a_message_the_encoder_would_refuse_is_written_cleaned(attacked):
    grades, _, _ = attacked
    messages = " ".join(r["message"] for r in grades["lone-surrogate-answer"][A])
    assert "oops" in messages and "\ud800" not in messages


@pytest.mark.parametrize("name", ["half-frame", "json-bomb", "binary-bomb", "odd-metadata",
                                  LONG_NAME])  # fmt: skip
def test_the_rest_of_an_attacking_notebook_is_still_graded(attacked, name):
    """The attacking cell is stopped (and skipped); the answers, the instructor's, earn
    their points."""
    grades, _, _ = attacked
    rows = grades[name][A]
    score, maximum = total(rows)
    assert score == maximum, [(r["grade_id"], r["status"], r["message"][:200]) for r in rows]


def test_a_cell_that_stops_its_sandbox_is_reported_in_the_feedback(attacked):
    _, out, _ = attacked
    page = (out / "feedback" / "half-frame" / A / f"{A}.html").read_text("utf-8")
    assert "skipped it" in page


def test_a_name_too_long_for_nbgrader_is_stored_under_a_short_id(attacked):
    _, out, _ = attacked
    with (out / "student_ids.csv").open(newline="", encoding="utf-8") as handle:
        ids = {row["student"]: row["id"] for row in csv.DictReader(handle)}
    assert set(ids) == {*ATTACKS, HONEST, "symlinked"}
    assert ids[HONEST] == HONEST and len(ids[LONG_NAME]) <= 128 and ids[LONG_NAME] != LONG_NAME
    assert len(set(ids.values())) == len(ids)
    with sqlite3.connect(out / "gradebook.db") as db:
        stored = {row[0] for row in db.execute("select id from student")}
    assert stored == set(ids.values())
    assert (out / "feedback" / ids[LONG_NAME] / A / f"{A}.html").is_file()


def test_a_result_of_the_wrong_size_costs_its_property_not_the_grader(attacked):
    """A huge array where a small one was asked for fails on its shape before any arithmetic
    (which would have made the grader's memory grow by the gigabyte)."""
    grades, _, _ = attacked
    rows = {r["grade_id"]: r for r in grades["huge-draws"][A]}
    assert "has shape (4000000,)" in rows["test_bernoulli_mask"]["message"]
    assert 0 < float(rows["test_bernoulli_mask"]["score"]) < 2
    rows = {r["grade_id"]: r for r in grades["broadcasts"][A]}
    assert "returned shape (2000000, 1, 1)" in rows["test_predict"]["message"]


def test_a_notebook_python_cannot_parse_is_unreadable_not_a_crash(attacked):
    grades, _, _ = attacked
    rows = grades["big-integer"][A]
    assert all(r["status"] == "unreadable" and r["score"] == "" for r in rows), rows


def test_a_symbolic_link_is_not_followed(attacked):
    grades, _, _ = attacked
    rows = grades["symlinked"][A]
    assert all(r["status"] == "unreadable" and r["score"] == "" for r in rows), rows
    assert "symbolic link" in rows[0]["message"]


def test_a_check_shadowed_by_the_student_is_flagged(attacked):
    _, out, _ = attacked
    with (out / "integrity.csv").open(newline="", encoding="utf-8") as handle:
        flags = [r for r in csv.DictReader(handle) if r["student"] == "shadows-checks"]
    assert any("check_bernoulli_mask" in f["detail"] for f in flags), flags


# ---------------------------------------------------------------------- the time budget


def test_one_budget_per_notebook_whatever_its_cells(tmp_path):
    """A cell that ignores the time limit's signal, then 150 cells: the cell is stopped at its
    limit (not the sum of the cells' limits) and the rest graded; and a notebook whose cells
    together outlast the budget stops at the budget."""
    folder = tmp_path / "in"
    write_submission(folder, HONEST, A, solution_notebook(A))
    alarm = _instructor_with(extra=[IGNORES_ALARM] + [""] * 150)
    write_submission(folder, "ignores-alarm", A, alarm)
    slow = _instructor_with(extra=["import time\ntime.sleep(5)"] * 30)
    write_submission(folder, "slow-cells", A, slow)
    started = time.monotonic()
    result = run_grade(folder, tmp_path / "out", "--timeout", "10", "--notebook-timeout", "60")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    grades = by_student(read_rows(tmp_path / "out"))
    assert total(grades[HONEST][A])[0] == total(grades[HONEST][A])[1]
    assert total(grades["ignores-alarm"][A])[0] == total(grades["ignores-alarm"][A])[1]
    rows = autograded(grades["slow-cells"][A])  # its written answer still awaits the instructor
    assert all(r["status"] == "timeout" and r["score"] == "0.0" for r in rows), rows
    assert "time budget of 60 s" in rows[0]["message"]
    assert elapsed < 30 * 5  # the slow notebook's cells alone would take 150 s


# ------------------------------------------------------------------------- LMS downloads


def _moodle_zip(path: Path, folders: dict[str, object]) -> Path:
    archive = path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for folder, nb in folders.items():
            zf.writestr(f"{folder}/{A}.ipynb", nbformat.writes(nb))
    return archive


def test_moodle_names_that_collide_never_replace_each_other(tmp_path):
    archive = _moodle_zip(
        tmp_path,
        {
            "Bob Smith_12_assignsubmission_file_": solution_notebook(A),
            "bob smith_13_assignsubmission_file_": solution_notebook(A),
            "Bob Smith_12_99_assignsubmission_file_": released_notebook(A),
        },
    )
    result = run_grade(archive, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    grades = by_student(read_rows(tmp_path / "out"))
    assert len(grades) == 3, sorted(grades)
    full = [s for s in grades if total(grades[s][A])[0] == total(grades[s][A])[1]]
    blank = [s for s in grades if total(grades[s][A])[0] == 0]
    assert len(full) == 2 and len(blank) == 1, {s: total(grades[s][A]) for s in grades}
    assert "99" in blank[0]


def test_a_symbolic_link_in_a_zip_is_skipped_and_its_target_never_shown(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{HONEST}/{A}/{A}.ipynb", nbformat.writes(solution_notebook(A)))
        link = zipfile.ZipInfo(f"linker/{A}/{A}.ipynb")
        link.external_attr = 0o120777 << 16  # a symbolic link
        zf.writestr(link, "/work/main/solutions/secret-target-path.ipynb")
    result = run_grade(archive, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "out" / "grades.csv").read_text("utf-8")
    assert "secret-target-path" not in text and "secret-target-path" not in result.stdout
    grades = by_student(read_rows(tmp_path / "out"))
    assert total(grades[HONEST][A])[0] == total(grades[HONEST][A])[1]
