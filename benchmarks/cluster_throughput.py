"""Grade one batch with the local pool and on a local Dask cluster of 1 and 2 worker processes;
print the throughputs and whether the three graded alike.

Usage: ``.venv/bin/python benchmarks/cluster_throughput.py [--students N] [--jobs J] [--keep]``
(default: 6 students, every assignment, ``--jobs 2``).

The batch is the one ``grading_throughput.py`` builds (the instructor's notebook, catalogued
mistakes and the blank release). The cluster is a ``dask scheduler`` and
``python -m autograder worker`` processes on this machine, talking TCP on localhost, so the
figures include Dask's own costs (sending notebooks and feedback as data, the workers'
checks) but no network. Each run is timed from the command's start to its end, as an
instructor would time it, and its ``grading_error`` rows are counted (a batch that could not be
graded is fast, and no figure). Figures, not a test: nothing here is asserted about speed; the
script exits 1 if the three runs' outputs differ.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]  # tests.*, and the sibling benchmarks

from grading_throughput import build_batch  # noqa: E402
from same_grades import differences  # noqa: E402
from workspace import work_folder  # noqa: E402


def timed_grade(batch: Path, out: Path, *options: str) -> float:
    command = [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out),
               "--quiet", *options]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def on_cluster(batch: Path, work: Path, processes: int) -> tuple[float, Path]:
    """Grade ``batch`` on a fresh local cluster of ``processes`` worker processes."""
    from tests.local_cluster import Cluster

    cluster = Cluster(work / f"cluster-{processes}", allowed_failures=3)
    try:
        for n in range(processes):
            cluster.add_worker(f"worker-{n}")
        cluster.wait_for_workers(processes)
        out = work / f"out-cluster-{processes}"
        return timed_grade(batch, out, "--scheduler", cluster.address), out
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    from autograder.content import assignments

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=6, help="students in the batch")
    parser.add_argument("--jobs", type=int, default=2, help="the local pool's --jobs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    with work_folder("cluster-throughput-", args.keep) as work:
        batch = work / "batch"
        notebooks = len(build_batch(batch, args.students, assignments()))
        local_out = work / "out-local"
        runs = [(f"local pool, --jobs {args.jobs}",
                 timed_grade(batch, local_out, "--jobs", str(args.jobs)), local_out)]  # fmt: skip
        for processes in (1, 2):
            seconds, out = on_cluster(batch, work, processes)
            runs.append((f"Dask cluster, {processes} worker process(es)", seconds, out))
        print(f"{notebooks} notebooks, {args.students} students")
        print(f"{'engine':40}{'seconds':>10}{'notebooks/min':>16}{'grading_error rows':>20}")
        for name, seconds, out in runs:
            errors = (out / "grades.csv").read_text(encoding="utf-8").count(",grading_error,")
            print(f"{name:40}{seconds:10.1f}{60 * notebooks / seconds:16.1f}{errors:20d}")
        found = [f"{name}: {d}" for name, _, out in runs[1:] for d in differences(local_out, out)]
        print(
            "identical grades, integrity flags, ids and feedback" if not found else "\n".join(found)
        )
        return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
