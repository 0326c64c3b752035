"""Grade one batch with an earlier commit and with the working tree; show any difference.

Usage: ``.venv/bin/python benchmarks/same_grades.py --before REV [--after REV] [--jobs J]
[--keep]`` (root only: it needs a private mount namespace). Without ``--after``, the working
tree is the second grader.

A refactoring must not change what the grader writes. The batch is the one the test suite
grades (tests/test_grading.py): for every assignment the instructor's notebook and the blank
release, and every catalogued mistake and correct variant, bundled one per answer cell. The
earlier commit is checked out into a temporary folder and run where the course lives, in a
mount namespace of its own in which that folder is bind-mounted over the repository (and the
repository's virtual environment over the folder's), so that its sandboxes see its own
``dropout_course`` at the path the virtual environment expects. Both runs' ``grades.csv``,
``integrity.csv`` and feedback pages are compared byte for byte; the script prints what
differs and exits 1 if anything does. Figures, not a test.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.catalogue and tests.notebooks
from workspace import work_folder  # noqa: E402


def build_batch(folder: Path) -> int:
    """Write the test suite's batch into ``folder``, as students submit it: the released
    notebook (which both commits share) with answers typed in. Returns the number of notebooks."""
    from autograder.content import assignments
    from tests.catalogue import CORRECT, WRONG
    from tests.notebooks import bundles, released_notebook, solution_notebook, write_submission

    def released_with(assignment: str, codes: dict[str, str]):
        nb = released_notebook(assignment)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in codes:
                cell.source = codes[grade_id]
        return nb

    count = 0
    for assignment in assignments():
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source
                   for c in solution_notebook(assignment).cells
                   if c.metadata.get("nbgrader", {}).get("solution")}  # fmt: skip
        write_submission(folder, "instructor", assignment, released_with(assignment, answers))
        write_submission(folder, "blank", assignment, released_notebook(assignment))
        count += 2
        for kind, entries in (("wrong", WRONG), ("correct", CORRECT)):
            for name, owner, slot in bundles(entries):
                if owner == assignment:
                    codes = {**answers, **{g: e.code for g, e in slot.items()}}
                    write_submission(folder, f"{kind}-{name}", assignment,
                                     released_with(assignment, codes))  # fmt: skip
                    count += 1
    return count


def grade_at(rev: str, batch: Path, out: Path, jobs: int, work: Path) -> float:
    """Grade ``batch`` with commit ``rev``, seen at the repository's own path."""
    tree = work / f"tree-{out.name}"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=REPO,
                   check=True)  # fmt: skip
    (tree / ".venv").mkdir()
    script = (
        f"mount --bind {REPO / '.venv'} {tree / '.venv'} && mount --rbind {tree} {REPO} && "
        f"cd {REPO} && .venv/bin/python -m autograder grade {batch} --out {out} "
        f"--jobs {jobs} --quiet > /dev/null"
    )
    started = time.perf_counter()
    try:
        subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       check=True)  # fmt: skip
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)
    return time.perf_counter() - started


def grade_now(batch: Path, out: Path, jobs: int) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out),
               "--jobs", str(jobs), "--quiet"]  # fmt: skip
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def differences(before: Path, after: Path) -> list[str]:
    """Files that differ between two output folders (the gradebook aside: it holds ids and
    timestamps of its own)."""
    found = []
    names = ["grades.csv", "integrity.csv", "student_ids.csv"]
    pages = {p.relative_to(before) for p in (before / "feedback").rglob("*.html")}
    pages |= {p.relative_to(after) for p in (after / "feedback").rglob("*.html")}
    for name in [*names, *map(str, sorted(pages))]:
        a, b = before / name, after / name
        if not a.exists() or not b.exists():
            found.append(f"{name}: only {'after' if b.exists() else 'before'}")
        elif not filecmp.cmp(a, b, shallow=False):
            found.append(f"{name}: differs")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit (e.g. HEAD~3)")
    parser.add_argument("--after", help="the later commit (default: the working tree)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("same_grades.py needs root (a private mount namespace)", file=sys.stderr)
        return 2
    with work_folder("same-grades-", args.keep) as work:
        count = build_batch(work / "batch")
        print(f"batch: {count} notebooks; grading with {args.before} ...", flush=True)
        seconds_before = grade_at(args.before, work / "batch", work / "before-out", args.jobs,
                                  work)  # fmt: skip
        after = args.after or "the working tree"
        print(f"grading with {after} ...", flush=True)
        if args.after:
            seconds_after = grade_at(args.after, work / "batch", work / "after-out", args.jobs,
                                     work)  # fmt: skip
        else:
            seconds_after = grade_now(work / "batch", work / "after-out", args.jobs)
        found = differences(work / "before-out", work / "after-out")
        pages = len(list((work / "after-out" / "feedback").rglob("*.html")))
        print(f"{args.before}: {seconds_before:.1f} s; {after}: {seconds_after:.1f} s")
        if found:
            print(f"{len(found)} output file(s) differ:")
            print("\n".join(f"  {line}" for line in found))
            return 1
        print(f"identical: grades.csv, integrity.csv, student_ids.csv and {pages} feedback pages")
        return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
