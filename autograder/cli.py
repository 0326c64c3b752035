"""The instructor's command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from autograder.content import assignments
from autograder.errors import CourseError
from autograder.host.sandbox import Limits
from autograder.release import release


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
        "--assignment",
        action="append",
        default=[],
        metavar="NAME",
        help="an assignment of the batch (repeat for several): every student gets rows for it, "
        "'missing' when they did not submit it (default: each student is graded on the "
        "assignments they submitted)",
    )
    grade.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="students graded at once"
    )
    _add_limit_options(grade)
    grade.add_argument(
        "--db",
        metavar="URL",
        help="gradebook database URL, e.g. postgresql+psycopg://user@/course?host=/run/postgresql "
        "(default: sqlite gradebook.db in --out)",
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code without bubblewrap (only on a machine you trust)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:PORT), its "
        "workers started with `python -m autograder worker ADDRESS` (default: --jobs local "
        "processes)",
    )

    _add_deadline_options(grade)
    _add_worker_command(commands)
    return parser


def _add_deadline_options(grade: argparse.ArgumentParser) -> None:
    grade.add_argument(
        "--due",
        action="append",
        default=[],
        metavar="[ASSIGNMENT=]WHEN",
        help="the due date, with its time zone (2026-12-01T23:59:00+01:00), of every assignment "
        "of the batch, or of ASSIGNMENT (repeat for several). A submission's time is read from "
        "nbgrader's timestamp.txt in its assignment folder; Canvas's _LATE mark also counts",
    )
    grade.add_argument(
        "--late-penalty",
        default="none",
        metavar="POLICY",
        help="nbgrader's late-submission penalty per late notebook: none (lateness is only "
        "reported), zero, or MODULE:CLASS, a LateSubmissionPlugin of your own (default: none)",
    )


def _add_worker_command(commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="start Dask workers that grade for the scheduler at ADDRESS (one student at a "
        "time per process)",
    )
    worker.add_argument(
        "address",
        nargs="?",
        help="the scheduler's address, tcp://HOST:PORT (default: $DASK_SCHEDULER_ADDRESS, "
        "which the Dask Kubernetes operator sets in its worker pods)",
    )
    worker.add_argument(
        "--nworkers", type=int, default=1, help="worker processes to start (default: 1)"
    )
    worker.add_argument(
        "--no-sandbox",
        action="store_true",
        help="start even where bubblewrap cannot sandbox (such a worker only grades for a "
        "command run with --no-sandbox)",
    )


def _add_limit_options(grade: argparse.ArgumentParser) -> None:
    """The options that set the sandbox's :class:`Limits` (their defaults are Limits')."""
    defaults = Limits()
    grade.add_argument(
        "--timeout",
        type=float,
        default=defaults.cell_seconds,
        help="seconds each notebook cell, and each test's call into student code, may run "
        "before it is interrupted (default: %(default)s)",
    )
    grade.add_argument(
        "--notebook-timeout",
        type=float,
        default=defaults.notebook_seconds,
        help="wall-clock seconds each notebook may take in all, whatever its number of cells "
        "(default: %(default)s)",
    )
    grade.add_argument(
        "--memory-mb",
        type=int,
        default=defaults.memory_bytes // 2**20,
        help="address space each student's process may use, in MiB (default: %(default)s)",
    )
    grade.add_argument(
        "--cpu-seconds",
        type=int,
        default=defaults.cpu_seconds,
        help="CPU time each notebook may use in all (default: %(default)s)",
    )
    grade.add_argument(
        "--output-limit",
        type=int,
        default=defaults.output_chars,
        help="characters of printed output kept per notebook (default: %(default)s)",
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "grade":  # `kill` and `timeout` stop it as cleanly as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "release":
            for path in release(args.assignments):
                print(f"released {path}")
            return 0
        if args.command == "worker":
            from autograder.batch.cluster import run_worker

            return run_worker(args.address, args.nworkers, check_sandbox=not args.no_sandbox)
        return _grade(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "grade":
            print(
                "\ninterrupted: grades.csv and the feedback in --out are as they were before (the "
                "gradebook may already hold this run's scores); run the command again to grade "
                "the batch",
                file=sys.stderr,
            )
        return 130


def _grade(args: argparse.Namespace) -> int:
    """The grade command, its options checked."""
    from autograder.batch.grade import Settings, grade, print_summary

    if (
        args.jobs < 1
        or not args.timeout > 0
        or not args.notebook_timeout > 0
        or args.memory_mb < 256
        or args.cpu_seconds < 1
        or args.output_limit < 0
    ):
        raise CourseError(
            "--jobs, --timeout, --notebook-timeout and --cpu-seconds must be positive, "
            "--output-limit not negative, and --memory-mb at least 256"
        )
    limits = Limits(
        cell_seconds=args.timeout,
        notebook_seconds=args.notebook_timeout,
        cpu_seconds=args.cpu_seconds,
        memory_bytes=args.memory_mb * 2**20,
        output_chars=args.output_limit,
    )
    settings = Settings(
        limits=limits, use_sandbox=not args.no_sandbox, assignments=tuple(args.assignment)
    )
    policy = None
    if args.due or args.late_penalty != "none":
        from autograder.batch.deadlines import Policy

        policy = Policy.from_options(args.due, args.late_penalty, assignments())
    report = grade(
        args.submissions,
        args.out,
        jobs=args.jobs,
        settings=settings,
        db_url=args.db,
        progress=not args.quiet,
        scheduler=args.scheduler,
        policy=policy,
    )
    print_summary(report, args.out)
    return 0
