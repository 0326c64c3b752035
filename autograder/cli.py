"""The instructor's command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course import CourseError, assignments, release


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release the exercises and grade students' submissions.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    rel = commands.add_parser("release", help="regenerate exercises/ from solutions/")
    rel.add_argument("assignments", nargs="*", help=f"default: all ({', '.join(assignments())})")

    grade = commands.add_parser(
        "grade",
        help="grade a folder (or zip) of submissions laid out as "
        "<student>/<assignment>/<notebook>.ipynb",
    )
    grade.add_argument("submissions", type=Path, help="folder or .zip of submissions")
    grade.add_argument("--out", type=Path, required=True, help="where to write the results")
    grade.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="students graded at once"
    )
    grade.add_argument(
        "--timeout", type=int, default=120, help="seconds each notebook cell may run"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "release":
            for path in release(args.assignments):
                print(f"released {path}")
            return 0
        from .grading import grade, print_summary

        report = grade(args.submissions, args.out, jobs=args.jobs, timeout=args.timeout)
        print_summary(report, args.out)
        return 0
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
