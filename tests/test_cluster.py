"""Grading on a Dask cluster, with real components: a ``dask scheduler`` and workers started
by ``python -m autograder worker`` as processes on localhost (TCP), and the real grade command.

The cluster must grade exactly as the local pool does, lose no student when a worker is killed
mid-grading, give up (with ``grading_error``) on a student who keeps killing workers, and refuse
to grade at all on a worker whose course is not the command's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from autograder.batch.cluster import task_key
from autograder.content import REPO
from tests.catalogue import WRONG
from tests.local_cluster import ALLOWED_FAILURES, Cluster
from tests.notebooks import released_notebook, solution_notebook, with_answer, write_submission
from tests.test_grading import read_rows, run_grade

ASSIGNMENTS = ["03-bernoulli-masks"]
STUDENTS = ["alice", "bob", "carol", "dave"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Four students: the instructor's answers, the blank release, and two catalogued
    mistakes (one per assignment)."""
    folder = tmp_path_factory.mktemp("cluster-batch")
    mistakes = {a: next(e for e in WRONG if e.assignment == a) for a in ASSIGNMENTS}
    for assignment in ASSIGNMENTS:
        write_submission(folder, "alice", assignment, solution_notebook(assignment))
        write_submission(folder, "bob", assignment, released_notebook(assignment))
        wrong = mistakes[assignment]
        nb = with_answer(assignment, wrong.grade_id, wrong.code)
        write_submission(folder, "carol", assignment, nb)
        write_submission(folder, "dave", assignment, solution_notebook(assignment))
    return folder


@pytest.fixture(scope="module")
def local(batch, tmp_path_factory) -> Path:
    """The batch graded by the local pool: what the cluster must reproduce."""
    out = tmp_path_factory.mktemp("local-out")
    done = run_grade(batch, out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        running.add_worker("worker-1")
        running.add_worker("worker-2")
        running.wait_for_workers(2)
        yield running
    finally:
        running.stop()


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file the grade command wrote, but the SQLite gradebook (timestamps inside)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "gradebook.db"
    }


def _grade_on(cluster: Cluster | None, batch: Path, out: Path) -> subprocess.Popen:
    """The grade command, started: on ``cluster``, or in two local processes."""
    command = [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out),
               "--quiet"]  # fmt: skip
    command += ["--scheduler", cluster.address] if cluster else ["--jobs", "2"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def test_the_cluster_grades_exactly_as_the_local_pool(cluster, batch, local, tmp_path):
    done = _grade_on(cluster, batch, tmp_path)
    stdout, stderr = done.communicate(timeout=900)
    assert done.returncode == 0, stderr
    assert _outputs(tmp_path) == _outputs(local)
    assert not (tmp_path / ".grading").exists()  # the staging folder is gone


def _executing(dask_worker) -> list[str]:
    return [str(task.key) for task in dask_worker.state.executing]


def _kill_worker_grading(cluster: Cluster, prefix: str, timeout: float = 300) -> str:
    """SIGKILL the worker process that is grading (not merely holding) a task whose key
    starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    with cluster.client() as client:
        while time.monotonic() < deadline:
            executing = client.run(_executing, on_error="ignore")
            for address, keys in executing.items():
                if any(key.startswith(prefix) for key in keys):
                    pids = client.run(os.getpid, workers=[address], on_error="ignore")
                    if address in pids:  # not a worker that is already dying
                        os.kill(pids[address], signal.SIGKILL)
                        return address
            time.sleep(0.05)
    raise AssertionError(f"no worker graded {prefix}* within {timeout} s")


def _each_row_once(out: Path) -> Counter:
    rows = read_rows(out)
    keys = Counter((r["student"], r["assignment"], r["notebook"], r["grade_id"]) for r in rows)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    return Counter(r["student"] for r in rows)


def test_a_worker_killed_while_it_grades_loses_no_student(cluster, batch, local, tmp_path):
    grading = _grade_on(cluster, batch, tmp_path)
    _kill_worker_grading(cluster, "grade-student-")
    stdout, stderr = grading.communicate(timeout=900)
    assert grading.returncode == 0, stderr
    assert _outputs(tmp_path) == _outputs(local)  # every student once, with the same grades
    assert set(_each_row_once(tmp_path)) == set(STUDENTS)
    cluster.wait_for_workers(2)  # the nanny restarted the process


def test_a_student_who_keeps_killing_workers_gets_a_grading_error(cluster, batch, local, tmp_path):
    victim = task_key(STUDENTS.index("bob"), "")  # students are graded in sorted order
    grading = _grade_on(cluster, batch, tmp_path)
    for _ in range(ALLOWED_FAILURES + 1):
        _kill_worker_grading(cluster, victim)
    stdout, stderr = grading.communicate(timeout=900)
    assert grading.returncode == 0, stderr
    assert set(_each_row_once(tmp_path)) == set(STUDENTS)
    rows = read_rows(tmp_path)
    bob = [r for r in rows if r["student"] == "bob"]
    assert bob and all(r["status"] == "grading_error" for r in bob)
    assert all("could not be graded" in r["message"] for r in bob)
    assert "bob" in stdout and not (tmp_path / "feedback" / "bob").exists()
    others = [r for r in read_rows(local) if r["student"] != "bob"]
    assert [r for r in rows if r["student"] != "bob"] == others
    cluster.wait_for_workers(2)


def test_a_worker_with_another_course_grades_nothing(batch, tmp_path):
    """A worker whose hidden tests differ from the command's: a clear error, no results."""
    course = _course_copy(tmp_path / "other-course")
    cluster = Cluster(tmp_path / "cluster")
    try:
        cluster.add_worker("stale", course=course)
        cluster.wait_for_workers(1)
        out = tmp_path / "out"
        done = run_grade(batch, out, "--scheduler", cluster.address, "--quiet")
    finally:
        cluster.stop()
    assert done.returncode == 2
    assert "nothing was graded" in done.stderr and "is not the grade command's" in done.stderr
    assert "check out the command's commit" in done.stderr
    assert not (out / "grades.csv").exists() and not (out / "feedback").exists()


def test_an_unreachable_scheduler_is_a_clear_error(batch, tmp_path):
    done = run_grade(batch, tmp_path, "--scheduler", "tcp://127.0.0.1:9", "--quiet")
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("engine", ["local", "cluster"])
def test_an_interrupted_command_changes_nothing_and_a_rerun_finishes(engine, request, batch, local,
                                                                      tmp_path):  # fmt: skip
    """Ctrl-C while grading: the previous results stay whole; running again grades the batch."""
    cluster = request.getfixturevalue("cluster") if engine == "cluster" else None
    shutil.copytree(local, tmp_path, dirs_exist_ok=True)  # a previous run's results
    before = _outputs(tmp_path)
    (tmp_path / "grades.csv").write_text("student\nfrom the previous run\n")
    before["grades.csv"] = (tmp_path / "grades.csv").read_bytes()
    grading = _grade_on(cluster, batch, tmp_path)
    deadline = time.monotonic() + 300
    while not (tmp_path / ".grading").exists():  # the first student's pages are staged
        assert time.monotonic() < deadline and grading.poll() is None
        time.sleep(0.05)
    grading.send_signal(signal.SIGINT)
    stdout, stderr = grading.communicate(timeout=120)
    assert grading.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _outputs(tmp_path) == before
    assert not (tmp_path / ".grading").exists()
    again = _grade_on(cluster, batch, tmp_path)
    stdout, stderr = again.communicate(timeout=900)
    assert again.returncode == 0, stderr
    assert _outputs(tmp_path) == _outputs(local)


def _course_copy(folder: Path) -> Path:
    """A copy of the course whose hidden tests differ by one comment (another commit)."""
    for part in ("autograder", "dropout_course", "solutions", "exercises"):
        shutil.copytree(REPO / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    hidden = folder / "autograder" / "content" / "hidden" / "bernoulli_masks.py"
    hidden.write_text(hidden.read_text() + "\n# another commit\n")
    return folder


def test_a_stale_worker_joining_mid_batch_refuses_and_its_student_goes_elsewhere(
    batch, local, tmp_path
):
    cluster = Cluster(tmp_path / "cluster")
    try:
        cluster.add_worker("good")
        cluster.wait_for_workers(1)
        grading = _grade_on(cluster, batch, tmp_path / "out")
        with cluster.client() as client:  # the command checked its workers and began grading
            deadline = time.monotonic() + 300
            while not any(client.processing().values()):
                assert time.monotonic() < deadline and grading.poll() is None
                time.sleep(0.05)
        cluster.add_worker("stale", course=_course_copy(tmp_path / "other-course"))
        stdout, stderr = grading.communicate(timeout=900)
    finally:
        cluster.stop()
    assert grading.returncode == 0, stderr
    assert _outputs(tmp_path / "out") == _outputs(local)  # nothing graded with other tests
    assert "refused to grade" in (tmp_path / "cluster" / "stale.log").read_text()


def test_a_second_command_on_the_same_out_is_refused_and_the_first_finishes(batch, local, tmp_path):
    first = _grade_on(None, batch, tmp_path)
    deadline = time.monotonic() + 300
    while not (tmp_path / ".grading").exists():  # the first command is grading
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    second = run_grade(batch, tmp_path, "--quiet")
    assert second.returncode == 2 and "another grade command is writing to" in second.stderr
    stdout, stderr = first.communicate(timeout=900)
    assert first.returncode == 0, stderr
    assert _outputs(tmp_path) == _outputs(local)


def test_sigterm_stops_the_command_as_ctrl_c_does(batch, tmp_path):
    grading = _grade_on(None, batch, tmp_path)
    deadline = time.monotonic() + 300
    while not (tmp_path / ".grading").exists():
        assert time.monotonic() < deadline and grading.poll() is None
        time.sleep(0.05)
    grading.terminate()
    stdout, stderr = grading.communicate(timeout=120)
    assert grading.returncode == 130 and "interrupted" in stderr, stderr
    assert not (tmp_path / ".grading").exists() and not (tmp_path / "grades.csv").exists()


def test_a_command_without_a_sandbox_is_refused_by_workers_that_sandbox(cluster, batch, tmp_path):
    """A machine without bubblewrap cannot make a cluster grade unsandboxed."""
    done = run_grade(batch, tmp_path, "--scheduler", cluster.address, "--no-sandbox", "--quiet")
    assert done.returncode == 2 and "nothing was graded" in done.stderr
    assert "--no-sandbox" in done.stderr and "only on a machine you trust" in done.stderr
    assert not (tmp_path / "grades.csv").exists()


def test_a_worker_whose_course_changes_on_disk_refuses(monkeypatch):
    from autograder.batch import cluster as engine

    prints = iter(["first", "first", "second"])
    monkeypatch.setattr(engine, "fingerprint_now", lambda: next(prints))
    monkeypatch.setattr(engine, "_STATE", {})
    monkeypatch.setenv(engine.UNSANDBOXED, "1")
    assert engine.worker_problem("first", use_sandbox=False) == ""
    assert engine.worker_problem("first", use_sandbox=False) == ""
    assert "changed on disk" in engine.worker_problem("second", use_sandbox=False)
