"""Grading on a Dask cluster: the grade command's side (``results``) and the worker's
(``grade_remote``, ``worker_problem``).

The grade command unpacks and validates the submissions, sends each student's notebooks to the
cluster as bytes (a worker shares no disk with it), and gets back a ``StudentResult`` whose
feedback pages it writes itself. Before anyone is graded, every worker is asked whether it can
sandbox and whether its course (``course_fingerprint``) is the command's: one that cannot, or
that holds other tests, stops the command with a message that names it. Each worker checks
again before each student; one that fails refuses, stops offering the GRADER resource, and the
student is sent again.

Faults are Dask's: a worker that dies while it grades (killed, out of memory, or stopped by its
own watchdog when a student overruns the time allowance) has its student graded again
elsewhere; a student is given up (``grading_error`` rows) when Dask gives up their task and
workers died while grading *them* (a death also fails the tasks a worker merely held; those
students are sent again). The batch goes on. Each student's result is taken once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator

from autograder.batch.pool import Failure
from autograder.content.fingerprint import course_fingerprint, fingerprint_now
from autograder.errors import CourseError

#: Students in flight per worker: enough to keep every worker busy, few enough that the
#: command does not hold every notebook of a large class in memory at once.
IN_FLIGHT_PER_WORKER = 2
#: How long the command waits for a worker that can grade (at the start, or when every one
#: has left or refused).
WORKER_WAIT_S = 60.0
#: How often the command checks, while it waits for results, that some worker can grade.
CHECK_S = 10.0
#: The Dask resource a grading worker offers once per process and each student's grading
#: takes: the scheduler then hands a process one student at a time and keeps the others, so
#: that a process that dies takes no waiting student with it (Dask counts a death against every
#: task a worker holds, and gives a task up after ``allowed-failures`` of them).
RESOURCE = "GRADER"


class WorkerRefused(Exception):
    """A worker that will not grade: it cannot sandbox, or its course is not the command's."""


# ------------------------------------------------------------------------------- the worker

_LOCK = threading.Lock()
_STATE: dict = {}


#: Set by ``python -m autograder worker --no-sandbox``: only such a worker grades for a command
#: run with ``--no-sandbox``.
UNSANDBOXED = "AUTOGRADER_WORKER_UNSANDBOXED"


def worker_problem(expected: str, use_sandbox: bool) -> str:
    """Why this worker cannot grade for a command whose course fingerprint is ``expected``, or
    ``""`` when it can. The course on disk is hashed again at every call, and compared with
    what it was when this process first graded (whose modules it has loaded since); the
    sandbox is tried once per process."""
    on_disk = fingerprint_now()
    loaded = _STATE.setdefault("loaded", on_disk)
    if on_disk != loaded:
        return (
            f"its course changed on disk (fingerprint {loaded[:12]} -> {on_disk[:12]}) since "
            "this process began grading with what it had loaded: restart the worker"
        )
    if on_disk != expected:
        return (
            f"its copy of the course (fingerprint {on_disk[:12]}) is not the grade command's "
            f"({expected[:12]}): check out the command's commit on this worker and restart it"
        )
    if not use_sandbox and os.environ.get(UNSANDBOXED) != "1":
        return (
            "the command grades without a sandbox (--no-sandbox), which this worker does not "
            "allow: start it with `python -m autograder worker --no-sandbox` only on a machine "
            "you trust"
        )
    if use_sandbox:
        if "sandbox" not in _STATE:
            _STATE["sandbox"] = _sandbox_problem()
        return _STATE["sandbox"]
    return ""


def _sandbox_problem() -> str:
    import tempfile
    from pathlib import Path

    from autograder.host import sandbox

    with tempfile.TemporaryDirectory(prefix="preflight-") as scratch:
        try:
            sandbox.preflight(Path(scratch))
        except CourseError as error:
            return str(error)
    return ""


def _announce(topic: str, index: int) -> None:
    try:
        from distributed import get_worker

        get_worker().log_event(topic, index)
    except ValueError:  # not on a worker (called directly)
        pass


def _withdraw() -> None:
    """Stop offering the GRADER resource, so that the scheduler sends this worker no more
    students (until it is restarted)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        worker.loop.add_callback(worker.set_resources, **{RESOURCE: 0})
    except ValueError:  # not on a worker (called directly)
        pass


def _address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:
        return "this process"


def grade_remote(student, settings, expected: str, announce: tuple[str, int]):
    """Grade one student on a cluster's worker: one student at a time per process, after the
    worker's own check, under a watchdog that stops the process (so that Dask grades the
    student again elsewhere, or gives up) if grading overruns the student's allowance.
    ``announce`` is the batch's event topic and the student's index, published when grading
    begins."""
    from autograder.batch import grade

    with _LOCK:
        problem = worker_problem(expected, settings.use_sandbox)
        if problem:
            _withdraw()
            raise WorkerRefused(f"worker {_address()} refused to grade: {problem}")
        memory = grade.grader_memory(settings.limits)
        if _STATE.get("memory") != memory:  # once, and again for a batch with other limits
            grade.init_grading_process(memory, keep_hard_limit=True)
            _STATE["memory"] = memory
        _announce(*announce)
        seconds = grade.student_seconds(student, settings.limits)
        watchdog = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGKILL))
        watchdog.daemon = True
        watchdog.start()
        try:
            return grade.grade_student(student, settings)
        finally:
            watchdog.cancel()


def run_worker(address: str | None, nworkers: int, *, check_sandbox: bool = True) -> int:
    """Start ``nworkers`` Dask worker processes (one thread each, under a nanny that restarts
    a process that dies) for the scheduler at ``address``; return when they stop."""
    import subprocess
    import sys
    import tempfile

    from autograder.content import REPO

    if nworkers < 1:
        raise CourseError("--nworkers must be at least 1")
    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS", "")
    if not address:
        raise CourseError("give the scheduler's address (tcp://HOST:PORT), or set "
                          "DASK_SCHEDULER_ADDRESS")  # fmt: skip
    if check_sandbox:
        problem = _sandbox_problem()
        if problem:
            raise CourseError(f"this machine cannot grade: {problem}")
    print(f"course fingerprint {course_fingerprint()[:12]}; joining {address}", flush=True)
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = os.environ | {"PYTHONPATH": os.pathsep.join(paths)}
    environment[UNSANDBOXED] = "0" if check_sandbox else "1"
    with tempfile.TemporaryDirectory(prefix="autograder-worker-") as scratch:
        command = [sys.executable, "-m", "distributed.cli.dask_worker", address,
                   "--nthreads", "1", "--nworkers", str(nworkers),
                   "--resources", f"{RESOURCE}=1", "--local-directory", scratch]  # fmt: skip
        try:
            return subprocess.run(command, env=environment, check=False).returncode
        except KeyboardInterrupt:
            return 130


# --------------------------------------------------------------------------- the command


def task_key(index: int, token: str) -> str:
    """The cluster's name for the grading of the ``index``-th student of a batch (names no
    student: the scheduler's dashboard and logs are not the grade command's to share)."""
    return f"grade-student-{index:06d}-{token}"


def _connect(scheduler: str):
    from distributed import Client

    try:
        return Client(scheduler, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise CourseError(
            f"cannot reach the Dask scheduler at {scheduler} ({error}); start one with "
            "`dask scheduler` and its workers with `python -m autograder worker ADDRESS`"
        ) from None


def _checked_workers(client, expected: str, use_sandbox: bool) -> set[str]:
    """The workers' addresses, once every one of them has said it can grade."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise CourseError(
            f"no worker joined the scheduler within {WORKER_WAIT_S:.0f} s; start them with "
            "`python -m autograder worker ADDRESS`"
        ) from None
    graders = _graders(client)
    if not graders:
        raise CourseError(
            f"none of the scheduler's workers offers the resource {RESOURCE}: start them with "
            "`python -m autograder worker ADDRESS` (or `dask worker ADDRESS --nthreads 1 "
            f"--resources {RESOURCE}=1`)"
        )
    answers = client.run(
        worker_problem, expected, use_sandbox, workers=sorted(graders), on_error="return"
    )
    problems = {
        address: answer if isinstance(answer, str) else f"the check failed ({answer!r})"
        for address, answer in answers.items()
        if not isinstance(answer, str) or answer
    }
    if problems:
        listed = "; ".join(f"{address}: {why}" for address, why in sorted(problems.items()))
        raise CourseError(f"nothing was graded: {len(problems)} worker(s) cannot grade ({listed})")
    return set(answers)


def _graders(client) -> set[str]:
    """The workers that offer the GRADER resource now (a refusing worker withdraws it)."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return {a for a, w in workers.items() if w.get("resources", {}).get(RESOURCE, 0) > 0}


def results(scheduler: str, students: list, settings) -> Iterator[tuple[int, object]]:
    """Yield ``(index, StudentResult | Failure)`` once for every student, graded on the
    cluster whose scheduler is at ``scheduler``."""
    import logging

    expected = course_fingerprint()
    dask_log = logging.getLogger("distributed")
    level = dask_log.level
    dask_log.setLevel(logging.CRITICAL)  # the command reports faults in its own words
    client = _connect(scheduler)
    try:
        workers = _checked_workers(client, expected, settings.use_sandbox)
        yield from _Dispatch(client, students, settings, expected, workers)
    finally:
        client.close()
        dask_log.setLevel(level)


#: A student is given up when workers died while grading it this many times...
DEATHS_WHILE_GRADING = 2
#: ...or when Dask gave up its task this many times (a death counts against every task a
#: worker holds, so a student waiting behind one who kills workers is sent again instead).
TASKS_LOST = 3


class _Dispatch:
    """One batch on the cluster: students waiting, in flight, and how often a worker began
    grading each (workers announce it on the batch's event topic)."""

    def __init__(self, client, students: list, settings, expected: str, workers: set[str]):
        self.client, self.students, self.settings = client, students, settings
        self.expected, self.window = expected, max(1, IN_FLIGHT_PER_WORKER * len(workers))
        self.refusals: dict[str, str] = {}  # why workers would not grade for this batch
        self.batch = uuid.uuid4().hex[:12]
        self.topic = f"autograder-{self.batch}"
        self.started: Counter = Counter()
        self.lost: Counter = Counter()
        self.in_flight: dict[str, tuple[object, int]] = {}  # task key -> (future, student)
        self.no_grader_since: float | None = None
        client.subscribe_topic(self.topic, self._started)

    def _started(self, event) -> None:
        _, index = event
        self.started[int(index)] += 1

    def send(self, index: int) -> None:
        with warnings.catch_warnings():  # a large notebook is data here, not a mistake
            warnings.simplefilter("ignore", UserWarning)
            future = self.client.submit(
                grade_remote,
                self.students[index].portable(),
                self.settings,
                self.expected,
                (self.topic, index),
                key=task_key(index, f"{self.batch}-{uuid.uuid4().hex[:8]}"),
                resources={RESOURCE: 1},
            )
        self.in_flight[future.key] = (future, index)

    def _still_graders(self) -> None:
        """Give up (with the refusals as the reason) when no worker has offered to grade for
        ``WORKER_WAIT_S``: the students would otherwise wait for ever."""
        if _graders(self.client):
            self.no_grader_since = None
            return
        now = time.monotonic()
        self.no_grader_since = self.no_grader_since or now
        if now - self.no_grader_since > WORKER_WAIT_S:
            why = "; ".join(sorted(self.refusals.values())) or "every worker left the scheduler"
            raise CourseError(f"no worker left that can grade ({why}); nothing was written")

    def _finished(self):
        from distributed import wait

        try:
            with self.client.as_current():  # wait() finds the futures' client this way
                futures = [future for future, _ in self.in_flight.values()]
                done = wait(futures, timeout=CHECK_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            self._still_graders()
            return []
        return list(done.done)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        waiting = list(range(len(self.students)))[::-1]
        while waiting and len(self.in_flight) < self.window:
            self.send(waiting.pop())
        while self.in_flight:
            for future in self._finished():
                _, index = self.in_flight.pop(future.key)
                outcome = self._judged(index, _outcome(future))
                future.release()
                if outcome is None:  # sent again
                    continue
                if waiting:
                    self.send(waiting.pop())
                yield index, outcome

    def _judged(self, index: int, outcome):
        """The student's outcome, or ``None`` after sending them again."""
        from distributed import KilledWorker

        if isinstance(outcome, WorkerRefused):
            self.refusals[_refusing_address(outcome)] = str(outcome)
            self.send(index)  # the refusing worker no longer offers GRADER
            return None
        if isinstance(outcome, KilledWorker):
            self.lost[index] += 1
            if self.started[index] < DEATHS_WHILE_GRADING and self.lost[index] < TASKS_LOST:
                self.send(index)
                return None
            return Failure(
                f"the grading process stopped: {self.started[index]} worker(s) died while "
                "grading this student (killed, out of memory, or past the time allowance); "
                "the rest of the batch was graded"
            )
        return outcome


def _outcome(future):
    """A finished future's result, or the exception that ended it (a ``Failure`` for the
    grader's own)."""
    from distributed import KilledWorker

    if future.status == "finished":
        return future.result()
    if future.status != "error":
        raise CourseError(
            "the connection to the Dask scheduler was lost while grading; nothing was written. "
            "Run the command again once the scheduler is back."
        )
    error = future.exception()
    if isinstance(error, WorkerRefused | KilledWorker):
        return error
    return Failure(f"the grader failed: {type(error).__name__}: {str(error)[:1000]}")


def _refusing_address(refusal: WorkerRefused) -> str:
    text = str(refusal)
    return text.split(" ", 2)[1] if text.startswith("worker ") else ""
