"""The transport to a student's sandbox: framed messages with deadlines, and its death.

A :class:`Channel` sends each request with a deadline for the whole exchange, reads replies
(answering the sandbox's callbacks while a call runs), and turns every way the sandbox can fail
(a timeout, a crash, unreadable bytes, the notebook's budget running out) into an exception
that says why. What the messages mean (values, calls, callbacks) is :class:`~.remote.Session`'s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from autograder.guest import wire
from autograder.host import sandbox, values
from dropout_course.checks.core import CallInterrupted


class SandboxGone(CallInterrupted):
    """The student's sandbox stopped (time limit, memory limit, or the code exited).

    A BaseException (through ``CallInterrupted``), like KeyboardInterrupt: checks catch
    ``Exception`` from student code to describe it, and this must reach the property (which
    fails) and the grader (which decides the test's status)."""


class BudgetExhausted(SandboxGone):
    """The notebook used up its wall-clock budget; its sandbox was stopped."""


class StudentTimeout(CallInterrupted):
    """A call into the student's code ran out of time; it was interrupted (see SandboxGone)."""


#: Extra seconds the grader waits beyond a call's own limit before it stops the sandbox (the
#: sandbox interrupts the call itself at the limit and answers).
GRACE_SECONDS = 5.0
#: Seconds a new sandbox may take to start Python and report ready.
START_SECONDS = 120.0


class Channel:
    """The conversation with one running sandbox.

    ``call_seconds`` limits each request; ``deadline`` (a ``time.monotonic()`` value) is the
    notebook's whole budget, which no request outlives. A subclass answers the sandbox's
    callbacks (:meth:`_run_callback`).
    """

    def __init__(
        self, process: subprocess.Popen, call_seconds: float, deadline: float | None = None
    ):
        self.process = process
        self.call_seconds = call_seconds
        self.deadline = deadline
        self.dead: str = ""
        self.out_of_time = False  # it was stopped because the notebook's budget ran out
        self.timeouts = 0
        self.exception_classes: dict = {}  # student-named exception classes of this session
        ready = self._receive(self._deadline(START_SECONDS))
        if ready.get("ready") is not True:
            self.kill("the sandbox did not start")
            raise SandboxGone(self.dead)

    def _deadline(self, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        return deadline if self.deadline is None else min(deadline, self.deadline)

    def _receive(self, deadline: float) -> dict:
        try:
            return wire.receive(self.process.stdout.fileno(), deadline)
        except wire.WireTimeout:
            self._stop_for_time("it ran longer than the time limit and was stopped")
        except (EOFError, OSError, wire.WireError, ValueError) as error:
            self.kill(self._death_reason(error))
        except MemoryError:
            # Half a message read: the stream is out of step, so this sandbox cannot go on.
            self.kill("it sent a reply too large for the grader's memory")
        raise SandboxGone(self.dead)

    def _stop_for_time(self, reason: str) -> None:
        """Stop the sandbox for running out of time: the notebook's budget, or ``reason``."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.out_of_time = True
            self.kill("the notebook used up its time budget")
            raise BudgetExhausted(self.dead)
        self.kill(reason)
        raise SandboxGone(self.dead)

    def _send(self, message: dict, deadline: float) -> None:
        """Send a message before ``deadline``; a sandbox that stops reading is stopped."""
        try:
            wire.send(self.process.stdin.fileno(), message, deadline)
        except wire.WireTimeout:
            self._stop_for_time("it stopped reading what the grader sent")
        except OSError:
            self.kill(self._death_reason("the pipe closed"))
            raise SandboxGone(self.dead) from None

    def _death_reason(self, error) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return f"it sent something the grader cannot read ({str(error)[:200]})"
        if code < 0:
            name = signal.Signals(-code).name
            reasons = {
                "SIGXCPU": "it used more CPU time than allowed",
                "SIGKILL": "it was killed (most likely it used more memory than allowed)",
                "SIGSEGV": "it crashed (segmentation fault)",
                "SIGXFSZ": "it wrote a file larger than allowed",
            }
            return reasons.get(name, f"it was stopped by {name}")
        startup = self._startup_error()
        if startup:
            return f"the sandbox could not start Python: {startup}"
        return f"the Python process exited (exit code {code}), e.g. by calling exit()"

    def _startup_error(self) -> str:
        """What bubblewrap or Python said before the harness took over stderr."""
        if self.process.stderr is None:
            return ""
        try:
            os.set_blocking(self.process.stderr.fileno(), False)
            text = self.process.stderr.read(4000) or b""
        except (OSError, ValueError):
            return ""
        return text.decode("utf-8", "replace").strip()

    def kill(self, reason: str) -> None:
        if not self.dead:
            self.dead = reason
        sandbox.stop(self.process)

    def request(self, message: dict, seconds: float | None = None) -> dict:
        """Send one request and return the sandbox's reply, answering its callbacks meanwhile."""
        if self.dead:
            raise SandboxGone(self.dead)
        seconds = self.call_seconds if seconds is None else seconds
        message["limit"] = float(seconds)
        deadline = self._deadline(seconds + GRACE_SECONDS)
        self._send(message, deadline)
        while True:
            reply = self._receive(deadline)
            if reply.get("op") == "callback":
                self._run_callback(reply)
                continue
            if "timeout" in reply:
                self.timeouts += 1
                raise StudentTimeout(
                    f"it ran longer than the {seconds:g} s time limit and was interrupted"
                )
            if "error" in reply:
                raise values.rebuild_exception(reply["error"], self.exception_classes)
            if "value" not in reply:
                self.kill("it sent a reply the grader cannot read")
                raise SandboxGone(self.dead)
            return reply

    def _run_callback(self, message: dict) -> None:
        """Answer the sandbox's request to run one of the grader's functions."""
        self.kill("it asked for a callback the grader never offered")
        raise SandboxGone(self.dead)
