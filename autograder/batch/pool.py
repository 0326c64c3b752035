"""Worker processes that grade students in parallel, and that no student can take down.

Each worker grades one student at a time and is watched by the parent: a worker that dies
(a crash, the out-of-memory killer) or that runs past the student's time allowance is killed and
replaced, and its student is tried again in a fresh worker, up to ``attempts`` times; after that
the student's result is a :class:`Failure` and the batch goes on. A result comes back for every
job, exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from autograder.host import cgroups


@dataclass(frozen=True)
class Failure:
    """A job that could not be completed: why, in words for the instructor."""

    reason: str


def _serve(connection: Connection, initializer: Callable | None, function: Callable) -> None:
    """A worker's loop: run each job it is sent, send back the result (or the traceback)."""
    if initializer is not None:
        initializer()
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        index, payload = job
        try:
            result = function(payload)
        except Exception:  # noqa: BLE001 - the grader's own failure on this job: reported, the worker goes on
            result = Failure(f"the grader failed: {traceback.format_exc(limit=3)[-1500:]}")
        connection.send((index, result))


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: Connection
    job: int | None = None
    deadline: float = 0.0


class Pool:
    """``workers`` processes running ``function(payload)`` for each job; see :meth:`run`."""

    def __init__(
        self,
        workers: int,
        function: Callable,
        *,
        initializer: Callable | None = None,
        seconds: Callable[[object], float],
        attempts: int = 2,
    ):
        self.size, self.function, self.initializer = workers, function, initializer
        self.seconds, self.attempts = seconds, attempts
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(child, self.initializer, self.function), daemon=True
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self.workers.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and whatever it started (its sandboxes die with it; their cgroups are
        removed here)."""
        if worker.process.is_alive():
            os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(30)
        worker.connection.close()
        cgroups.remove_all(f"{worker.process.pid}-")
        self.workers.remove(worker)

    def run(self, payloads: list) -> Iterator[tuple[int, object]]:
        """Yield ``(index, result)`` for every payload, in the order they finish; a result is
        a :class:`Failure` for a job whose worker died or overran ``attempts`` times."""
        queue = deque(range(len(payloads)))
        tries = [0] * len(payloads)
        remaining = len(payloads)
        try:
            for _ in range(min(self.size, len(payloads))):
                self._spawn()
            while remaining:
                for worker in self.workers:
                    if worker.job is None and queue:
                        index = queue.popleft()
                        tries[index] += 1
                        worker.job = index
                        worker.deadline = time.monotonic() + self.seconds(payloads[index])
                        worker.connection.send((index, payloads[index]))
                for index, result in self._collect(queue, tries, payloads):
                    remaining -= 1
                    yield index, result
        finally:
            for worker in list(self.workers):
                self._discard(worker)

    def _collect(self, queue: deque, tries: list[int], payloads: list):
        """Wait for results or deaths; yield finished jobs and requeue or fail lost ones."""
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            return
        timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout)
        for worker in busy:
            index = worker.job
            if worker.connection in ready:
                try:
                    got, result = worker.connection.recv()
                except (EOFError, OSError):
                    got = None
                if got == index:
                    worker.job = None
                    yield index, result
                    continue
            overran = time.monotonic() > worker.deadline
            if worker.process.sentinel in ready or overran or worker.connection in ready:
                if not overran:
                    worker.process.join(5)  # it is dying: let its exit status arrive
                code = worker.process.exitcode
                self._discard(worker)
                self._spawn()
                reason = (
                    f"its grading ran past {self.seconds(payloads[index]):.0f} s"
                    if overran
                    else f"the grading process stopped ({_exit_reason(code)})"
                )
                if tries[index] < self.attempts:
                    queue.appendleft(index)
                else:
                    yield index, Failure(f"{reason}, {tries[index]} times; the rest of the "
                                         "batch was graded")  # fmt: skip


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
