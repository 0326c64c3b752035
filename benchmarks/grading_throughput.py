"""Grade one batch with stock nbgrader and with our grader; print both throughputs and compare.

Usage: ``.venv/bin/python benchmarks/grading_throughput.py [--students N] [--assignments a,b]
[--jobs J] [--keep]`` (default: 6 students, every assignment, our grader's default jobs).

The batch is built in a temporary folder as ``s01/<assignment>/<notebook>.ipynb`` ...: for every
assignment, s01 submits the instructor's notebook, s02 one with a catalogued mistake
(tests/catalogue), s03 the blank release, and every further student another catalogued mistake
(one answer cell replaced, round robin over the answer cells). Mistakes whose own tests write to
stderr are left out: stock nbgrader scores such a test 0 and ours, on purpose, does not.

* Stock nbgrader: a fresh course directory with ``solutions/`` as its source and the course's
  ``nbgrader_config.py`` minus our preprocessors (every setting that is not a plain value is
  dropped), the release made with ``nbgrader generate_assignment``, the batch under
  ``submitted/``, then ``nbgrader autograde <assignment>`` for each assignment, timed together
  (it grades one notebook after another). Scores are read from its gradebook.
* Ours: ``python -m autograder grade <batch> --out <dir>``, timed as a whole (it releases the
  assignments itself and writes feedback too). Scores are read from ``<dir>/grades.csv``.

Scores are compared per (student, assignment, notebook, grade_id). A test that stock nbgrader
scored 0 only because it wrote to stderr, and ours gave full marks, is listed apart as the
intended difference; any other difference is printed and the script exits 1. It then prints the
notebooks each graded, the seconds, notebooks per minute and the ratio ours/stock. Figures, not
a test: nothing here is asserted about speed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import io
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.catalogue and tests.notebooks

import nbformat  # noqa: E402
from workspace import work_folder  # noqa: E402

from autograder import content, release  # noqa: E402

#: One grade: (student, assignment, notebook, grade_id).
Key = tuple[str, str, str, str]


@dataclass
class Outcome:
    """What one grader produced for the batch."""

    name: str
    seconds: float
    #: (score or None when not graded, max_score, status) per grade.
    grades: dict[Key, tuple[float | None, float, str]]
    #: Stock only: the stderr text of test cells that wrote to stderr and raised nothing.
    stderr_only: dict[Key, str] = field(default_factory=dict)

    def notebooks_graded(self) -> int:
        return len({k[:3] for k, (_, _, status) in self.grades.items() if status == "graded"})


# ------------------------------------------------------------------------------------ the batch


def _warns(entry) -> bool:
    """Whether the visible or hidden test of a catalogue entry's own answer cell writes to
    stderr (a warning or a print), run in-process as tests/test_checks.py runs it."""
    from tests.test_checks import failures

    stderr = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(io.StringIO()):
            failures(entry)
    return bool(caught) or bool(stderr.getvalue())


def _mistakes(assignment: str, count: int) -> tuple[list, list[str]]:
    """``count`` catalogued mistakes of ``assignment`` that do not write to stderr, taking the
    answer cells in turn; return them and the names of those left out because they warn."""
    from tests.catalogue import WRONG

    by_cell: dict[str, list] = defaultdict(list)
    for entry in WRONG:
        if entry.assignment == assignment:
            by_cell[entry.grade_id].append(entry)
    chosen, skipped = [], []
    rank = 0
    while len(chosen) < count and any(rank < len(v) for v in by_cell.values()):
        for entries in by_cell.values():
            if len(chosen) == count:
                break
            if rank < len(entries):
                if _warns(entries[rank]):
                    skipped.append(entries[rank].name)
                else:
                    chosen.append(entries[rank])
        rank += 1
    if len(chosen) < count:  # a small catalogue: repeat its mistakes
        chosen = [chosen[i % len(chosen)] for i in range(count)] if chosen else []
    return chosen, skipped


def build_batch(folder: Path, students: int, names: list[str]) -> dict[tuple[str, str], str]:
    """Write the batch into ``folder``; return what each (student, assignment) submitted."""
    from tests.notebooks import released_notebook, solution_notebook, with_answer, write_submission

    ids = [f"s{i:02d}" for i in range(1, students + 1)]
    roles = ["solution", "mistake", "blank"] + ["mistake"] * max(0, students - 3)
    roles = roles[:students]
    described = {}
    for assignment in names:
        mistakes, skipped = _mistakes(assignment, roles.count("mistake"))
        if skipped:
            print(f"{assignment}: left out (their tests write to stderr): {', '.join(skipped)}")
        for student, role in zip(ids, roles, strict=True):
            if role == "solution":
                nb, what = solution_notebook(assignment), "instructor's solution"
            elif role == "blank":
                nb, what = released_notebook(assignment), "blank release"
            else:
                entry = mistakes.pop(0)
                nb = with_answer(assignment, entry.grade_id, entry.code)
                what = f"mistake {entry.name} ({entry.grade_id})"
            write_submission(folder, student, assignment, nb)
            described[student, assignment] = what
    return described


# ------------------------------------------------------------------------------- stock nbgrader


def _is_ours(value) -> bool:
    """Whether a config value names something of this repository's (a class or a dotted path)."""
    if isinstance(value, str):
        return value.startswith(("autograder.", "dropout_course."))
    if isinstance(value, list | tuple):
        return any(_is_ours(v) for v in value)
    if isinstance(value, dict):
        return any(_is_ours(v) for v in value.values())
    return False


def stock_config_file(root: Path) -> tuple[str, list[str]]:
    """The course's nbgrader configuration for ``root`` as a plain ``nbgrader_config.py``.

    Every setting that is not a plain value (a class, such as our autograde preprocessors) or
    that names our code is dropped, so nbgrader runs with its own defaults there. Returns the
    file's text and the dropped settings.
    """
    config = release.nbgrader_config(root)
    # A course directory and SQLite gradebook of its own, whatever the course's settings say.
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Exchange.root = str(root / "exchange")
    lines = ["c = get_config()  # noqa: F821", ""]
    dropped = []
    for section, values in config.items():
        for key, value in values.items():
            text = repr(value)
            try:
                plain = ast.literal_eval(text) == value and not _is_ours(value)
            except (ValueError, SyntaxError):
                plain = False
            if plain:
                lines.append(f"c.{section}.{key} = {text}")
            else:
                dropped.append(f"{section}.{key}")
    return "\n".join(lines) + "\n", dropped


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the stock ``nbgrader`` command in the course directory ``root``."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "nbgrader"), *args], cwd=root, env=env, capture_output=True, text=True
    )


def _check(result: subprocess.CompletedProcess, what: str) -> bool:
    if result.returncode != 0:
        print(f"{what} exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.returncode == 0


def _stderr_only(cell) -> str:
    """The stderr text of a test cell that wrote to stderr and raised nothing, else ``""``."""
    outputs = cell.get("outputs", [])
    if any(o.output_type == "error" for o in outputs):
        return ""
    return "".join(
        o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr"
    )


def run_stock(batch: Path, root: Path, names: list[str]) -> Outcome:
    """Grade ``batch`` with stock nbgrader in a fresh course directory ``root``."""
    from nbgrader.api import Gradebook, MissingEntry

    root.mkdir(parents=True)
    text, dropped = stock_config_file(root)
    (root / "nbgrader_config.py").write_text(text, encoding="utf-8")
    print(f"stock nbgrader: course's settings dropped as not stock: {', '.join(dropped) or '-'}")
    (root / "exchange").mkdir()
    release.stage_sources(root, names)
    for assignment in names:
        if not _check(_nbgrader(root, "generate_assignment", assignment, "--force"), assignment):
            raise SystemExit(2)
    shutil.copytree(batch, root / "submitted")

    start = time.perf_counter()
    for assignment in names:
        _check(_nbgrader(root, "autograde", assignment, "--force"), f"autograde {assignment}")
    seconds = time.perf_counter() - start

    grades, stderr_only = {}, {}
    students = sorted(p.name for p in batch.iterdir() if p.is_dir())
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in students:
            for assignment in names:
                for notebook in content.notebooks(assignment):
                    try:
                        found = gradebook.find_submission_notebook(notebook, assignment, student)
                    except MissingEntry:
                        continue  # compared as missing
                    for grade in found.grades:
                        key = (student, assignment, notebook, grade.name)
                        score = None if grade.score is None else float(grade.score)
                        grades[key] = (score, float(grade.max_score), "graded")
                    path = root / "autograded" / student / assignment / f"{notebook}.ipynb"
                    for cell in nbformat.read(path, as_version=4).cells:
                        meta = cell.metadata.get("nbgrader", {})
                        if meta.get("grade") and cell.cell_type == "code" and _stderr_only(cell):
                            key = (student, assignment, notebook, meta["grade_id"])
                            stderr_only[key] = _stderr_only(cell)
    return Outcome("stock nbgrader", seconds, grades, stderr_only)


# ---------------------------------------------------------------------------------------- ours


def run_ours(batch: Path, out: Path, jobs: int | None) -> Outcome:
    """Grade ``batch`` with ``python -m autograder grade``."""
    command = [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out)]
    if jobs:
        command += ["--jobs", str(jobs)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if not _check(result, "python -m autograder grade"):
        raise SystemExit(2)
    grades = {}
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row["student"], row["assignment"], row["notebook"], row["grade_id"])
            score = float(row["score"]) if row["score"] != "" else None
            grades[key] = (score, float(row["max_score"]), row["status"])
    name = f"ours (--jobs {jobs})" if jobs else f"ours (default jobs, {os.cpu_count()} cores)"
    return Outcome(name, seconds, grades)


# ---------------------------------------------------------------------------------- comparison


def compare(stock: Outcome, ours: Outcome) -> tuple[list[str], list[str]]:
    """Return the differences in words: (unexplained, stderr-only in stock)."""
    differences, stderr = [], []
    for key in sorted(stock.grades.keys() | ours.grades.keys()):
        where = "/".join(key)
        if key not in ours.grades:
            differences.append(f"{where}: stock {_shown(stock.grades[key])}, ours: no row")
            continue
        if key not in stock.grades:
            differences.append(f"{where}: stock: not graded, ours {_shown(ours.grades[key])}")
            continue
        (s_score, s_max, _), (o_score, o_max, o_status) = stock.grades[key], ours.grades[key]
        if o_status == "graded" and s_max == o_max and s_score == o_score:
            continue
        if o_status == "needs_manual_grade" and s_max == o_max and s_score is None:
            continue  # a written answer: both leave it to the instructor
        line = f"{where}: stock {_shown(stock.grades[key])}, ours {_shown(ours.grades[key])}"
        if o_status == "graded" and s_max == o_max and s_score == 0 and o_score == o_max:
            if key in stock.stderr_only:
                stderr.append(f"{line}; stderr: {_first_warning(stock.stderr_only[key])}")
                continue
        differences.append(line)
    return differences, stderr


def _first_warning(text: str) -> str:
    """The line of a stderr text that names the warning (else its first line), shortened."""
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    named = [line for line in lines if "Warning" in line or "Error" in line]
    return (named or lines)[0][:120]


def _shown(grade: tuple[float | None, float, str]) -> str:
    score, maximum, status = grade
    return f"{score:g}/{maximum:g}" if score is not None else f"{status} (no score)/{maximum:g}"


def _table(outcomes: list[Outcome]) -> None:
    print(f"\n{'grader':36s} {'notebooks':>9s} {'seconds':>8s} {'notebooks/min':>14s}")
    for o in outcomes:
        n = o.notebooks_graded()
        print(f"{o.name:36s} {n:9d} {o.seconds:8.1f} {60 * n / o.seconds:14.2f}")
    stock, ours = outcomes
    ratio = (ours.notebooks_graded() / ours.seconds) / (stock.notebooks_graded() / stock.seconds)
    print(f"ratio ours/stock (notebooks per minute): {ratio:.2f}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=6, help="students in the batch")
    parser.add_argument(
        "--assignments",
        default=",".join(content.assignments()),
        help="comma-separated assignments (default: all)",
    )
    parser.add_argument("--jobs", type=int, help="our grader's --jobs (default: its own)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    names = [a.strip() for a in args.assignments.split(",") if a.strip()]
    unknown = sorted(set(names) - set(content.assignments()))
    if unknown or not names or args.students < 1:
        print(f"unknown assignment(s) {unknown}; known: {content.assignments()}", file=sys.stderr)
        return 2
    with work_folder("grading-throughput-", args.keep) as work:
        batch = work / "batch"
        described = build_batch(batch, args.students, names)
        print(f"batch: {args.students} students x {len(names)} assignment(s) in {batch}")
        for (student, assignment), what in described.items():
            print(f"  {student} {assignment}: {what}")
        # Read the libraries the kernels import once, so neither grader pays for a cold disk.
        subprocess.run(
            [sys.executable, "-c", "import torch, numpy, nbgrader, dropout_course, autograder"],
            check=True,
        )
        print(f"machine: {os.cpu_count()} cores; grading with stock nbgrader ...", flush=True)
        stock = run_stock(batch, work / "stock-course", names)
        print("grading with ours ...", flush=True)
        ours = run_ours(batch, work / "ours-out", args.jobs)
        differences, stderr = compare(stock, ours)
        if stderr:
            print(
                f"\n{len(stderr)} test(s) stock nbgrader scored 0 only because they wrote to "
                "stderr (ours, on purpose, lets only an exception fail a test):"
            )
            print("\n".join(f"  {line}" for line in stderr))
        if differences:
            print(f"\n{len(differences)} grade(s) differ:")
            print("\n".join(f"  {line}" for line in differences))
        else:
            same = len(ours.grades) - len(stderr)
            print(
                f"\ngrades identical{' otherwise' if stderr else ''}: {same} of "
                f"{len(ours.grades)} test cells compared have the same score"
            )
        _table([stock, ours])
        return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
