"""Grade one student notebook: run the student's cells in a sandbox, run the tests here.

Which cells run, and which tests decide the grade, comes from the instructor's notebooks, never
from the submission's metadata: the submission contributes only the source of its answer cells
(and any cells the student added). Each graded test is the instructor's version of the cell
(hidden part included), executed in the grader's process against proxies of the student's
functions (see ``remote.py``); the student's code sees neither the tests nor the references.

A test cell's score is what nbgrader would give it: a cell that raises scores 0; a cell whose
last expression is a number (or a check's ``Score``) scores that number, capped at its points;
any other cell scores its points. Each notebook has one wall-clock budget (``Limits``), whatever
its number of cells; each cell and each call into student code has its own time limit inside it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.content.spec import (
    Layout,
    ManualCell,
    TestCell,
    grade_id_of,
    is_unanswered,
    written_answer,
)
from autograder.host import sandbox
from autograder.host.channel import BudgetExhausted, SandboxGone, StudentTimeout
from autograder.host.remote import Remote, Session
from autograder.status import Status
from autograder.text import readable
from dropout_course.checks.core import CallInterrupted, ContractViolation, Score


@dataclass
class TestResult:
    grade_id: str
    points: float
    score: float | None
    status: str
    message: str
    hidden: bool
    output: str = ""
    answer: str = ""  # a written answer's text, for the instructor and the feedback


@dataclass
class NotebookResult:
    tests: list[TestResult] = field(default_factory=list)
    cell_errors: list[tuple[int, str]] = field(default_factory=list)
    output_chars: int = 0
    output_limit: int = 0
    stopped: str = ""


def student_cells(nb, layout: Layout) -> list[str]:
    """The code the sandbox runs for the submitted notebook ``nb``, in order: the instructor's
    read-only cells (restored if deleted), the student's answers and own cells; never a test
    cell."""
    test_ids = {t.grade_id for t in layout.tests}
    seen, cells = set(), []
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        grade_id = grade_id_of(cell)
        if grade_id in test_ids or _looks_like_a_test(cell.source, layout):
            continue
        if grade_id in layout.fixed:
            cells.append(layout.fixed[grade_id])
            seen.add(grade_id)
        else:
            cells.append(cell.source)
    missing = [layout.fixed[g] for g in layout.order if g not in seen]
    return missing + cells


def _looks_like_a_test(source: str, layout: Layout) -> bool:
    """A test cell copied without its metadata: running it in the sandbox earns nothing, but
    skipping it keeps the student's cell errors about their own code."""
    text = source.strip()
    return any(text and text == t.source.strip() for t in layout.tests)


def _compiled(grade_id: str, source: str):
    """A cell compiled as IPython runs it: the statements, then the last expression's value."""
    tree = ast.parse(source, f"<{grade_id}>")
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = ast.Module(tree.body[:-1] if last else tree.body, type_ignores=[])
    value = compile(ast.Expression(last.value), f"<{grade_id}>", "eval") if last else None
    return compile(body, f"<{grade_id}>", "exec"), value


def cell_score(value, points: float) -> tuple[float, str]:
    """The score nbgrader gives a test cell that ran without error and whose last expression
    evaluated to ``value``, and the message to show with it."""
    if isinstance(value, Score):
        return min(max(value.earned, 0.0), points), value.message
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value:
        return min(max(float(value), 0.0), points), ""
    return points, ""


class Tests:
    """The instructor's test cells, run in the grader's process."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.setup = {"__name__": "__grader__", "__builtins__": builtins}
        with contextlib.redirect_stdout(io.StringIO()):
            for grade_id in layout.order:
                exec(compile(layout.fixed[grade_id], f"<{grade_id}>", "exec"), self.setup)
        self.code = {t.grade_id: _compiled(t.grade_id, t.source) for t in layout.tests}

    def namespace(self, session: Session) -> dict:
        """The setup cells' names, and a proxy for each answer the instructor's notebook
        defines (a name the student defines can never stand in for a check or a setup name)."""
        namespace = dict(self.setup)
        for name in self.layout.answers:
            namespace[name] = Remote(session, name=name)
        return namespace

    def run(self, namespace: dict, test: TestCell) -> tuple[float, str, str]:
        """Run one test cell; return its score, message and printed output."""
        _fresh_global_state()
        statements, last = self.code[test.grade_id]
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                exec(statements, namespace)
                value = eval(last, namespace) if last is not None else None
        except CallInterrupted as error:
            return 0.0, f"{type(error).__name__}: {error}", captured.getvalue()
        except Exception as error:  # noqa: BLE001 - a failed test is a message, not a crash
            return 0.0, _message(error), captured.getvalue()
        score, message = cell_score(value, test.points)
        return score, message, captured.getvalue()


def _fresh_global_state() -> None:
    """Every test starts from the same global state, whatever ran before it in this worker
    (another student's code may have switched autograd off or moved a random generator), so
    grades do not depend on the order or the company in which notebooks are graded."""
    import numpy as np
    import torch

    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what we reset
    torch.manual_seed(0)
    torch.set_grad_enabled(True)


def _message(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, ContractViolation):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _Notebook:
    """The grading of one notebook: its sandbox sessions, its budget, its results."""

    def __init__(self, tests: Tests, workdir: Path, limits: sandbox.Limits, use_sandbox: bool):
        self.tests, self.workdir, self.limits, self.use_sandbox = (
            tests,
            workdir,
            limits,
            use_sandbox,
        )
        self.deadline = time.monotonic() + limits.notebook_seconds
        self.result = NotebookResult(output_limit=limits.output_chars)
        self.skipped: set[int] = set()  # cells that stopped their sandbox: not run again
        self.out_of_time = False

    def start(self, cells: list[str]) -> Session | None:
        """A sandbox that has run the student's cells; None if none could be had."""
        while True:
            try:
                session = Session(
                    sandbox.start(self.workdir, self.limits, self.use_sandbox),
                    self.limits.cell_seconds,
                    self.deadline,
                )
            except BudgetExhausted:
                self.out_of_time = True
                return None
            except SandboxGone as error:
                self.result.stopped = f"Your notebook's process could not start: {error}."
                return None
            index = self._run_cells(session, cells)
            if index is None:
                return session
            if self.out_of_time:
                return None

    def _run_cells(self, session: Session, cells: list[str]) -> int | None:
        """Run the cells; return the index of a cell that stopped the sandbox, or None."""
        recorded = {index for index, _ in self.result.cell_errors}
        for index, source in enumerate(cells):
            if index in self.skipped:
                continue
            try:
                reply = session.request({"op": "cell", "source": source})
            except BudgetExhausted:
                self.out_of_time = True
                return index
            except (SandboxGone, StudentTimeout, Exception) as error:  # noqa: BLE001 - anything else ends the sandbox's trust
                # The process stopped, or answered with something a cell never answers (an
                # error, a forged reply): either way it is not trusted any longer.
                self.skipped.add(index)
                self.result.cell_errors.append(
                    (
                        index,
                        f"this cell stopped your notebook's process ({error}); the grader "
                        "skipped it and ran the others",
                    )  # fmt: skip
                )
                session.kill(str(error))
                return index
            error = _cell_error(reply.get("value"))
            if error and index not in recorded:
                self.result.cell_errors.append((index, error))
        return None

    def add(self, test: TestCell, score, status: str, message: str, output: str = "") -> None:
        self.result.tests.append(
            TestResult(test.grade_id, test.points, score, status, message, test.hidden, output)
        )

    def finish_unrun(self, pending: list[TestCell]) -> None:
        """Rows for tests that could not run: out of time (0), or no sandbox (no score)."""
        budget = f"{self.limits.notebook_seconds:g} s"
        for test in pending:
            if self.out_of_time:
                message = f"Your notebook used up its time budget of {budget} before this test ran."
                self.add(test, 0.0, Status.TIMEOUT, message)
            else:
                self.add(test, None, Status.GRADING_ERROR, self.result.stopped)


def _cell_error(outcome) -> str:
    """The error a cell's outcome reports, as one line, or ``""``."""
    if not isinstance(outcome, dict) or not isinstance(outcome.get("error"), dict):
        return ""
    error = outcome["error"]
    types = error.get("types")
    kind = types[0] if isinstance(types, list) and types and isinstance(types[0], str) else "Error"
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return f"{kind.rpartition('.')[2][:80]}: {message}"[:500]


def _run_tests(notebook: _Notebook, session: Session, pending: list[TestCell]) -> None:
    """Run the pending tests in ``session`` until they are done or the sandbox stops."""
    tests = notebook.tests
    namespace = tests.namespace(session)
    while pending and not session.dead:
        test = pending.pop(0)
        session.stuck.clear()
        timeouts = session.timeouts
        score, message, output = tests.run(namespace, test)
        status = Status.GRADED
        if session.dead:
            notebook.out_of_time = notebook.out_of_time or session.out_of_time
            status = Status.TIMEOUT if session.out_of_time else Status.STOPPED
            notebook.result.stopped = session.dead
            if not message:
                message = f"Your code's process stopped during this test: {session.dead}."
        elif session.timeouts > timeouts:
            status = Status.TIMEOUT
        notebook.add(test, score, status, message, output)


def grade_notebook(
    submitted,
    tests: Tests,
    workdir: Path,
    limits: sandbox.Limits,
    use_sandbox: bool = True,
) -> NotebookResult:
    """Grade the notebook ``submitted`` (parsed, version 4) in a sandbox whose home is
    ``workdir``, within its time budget."""
    notebook = _Notebook(tests, workdir, limits, use_sandbox)
    cells = student_cells(submitted, tests.layout)
    pending = list(tests.layout.tests)
    while pending:
        session = notebook.start(cells)
        if session is None:
            notebook.finish_unrun(pending)
            break
        try:
            _run_tests(notebook, session, pending)
        finally:
            report = session.close()  # whatever happened, no sandbox outlives its notebook
        chars = report.get("output_chars")
        if type(chars) is int:
            notebook.result.output_chars = max(notebook.result.output_chars, chars)
        if notebook.out_of_time:
            notebook.finish_unrun(pending)
            break
    if notebook.result.output_chars > limits.output_chars:
        for test in notebook.result.tests:
            if test.status == Status.GRADED:
                test.status = Status.OUTPUT_TRUNCATED
    notebook.result.tests += [written(submitted, cell) for cell in tests.layout.manual]
    return notebook.result


def written(submitted, cell: ManualCell) -> TestResult:
    """The row of a written answer: no score until the instructor grades it, or 0 when the
    cell is empty or as released (as nbgrader decides); a cell not found is left to the
    instructor too, so that a lost id never costs an answer."""
    text = written_answer(submitted, cell.grade_id)
    if text is None:
        message = (
            "No answer cell with this id was found (it was deleted, or its metadata removed): "
            "your instructor will look at your notebook."
        )
        return TestResult(cell.grade_id, cell.points, None, Status.MANUAL, message, False)
    if is_unanswered(text):
        message = "No written answer: the answer cell is empty or as released."
        return TestResult(cell.grade_id, cell.points, 0.0, Status.GRADED, message, False)
    message = "A written answer: your instructor grades it by hand."
    answer = readable(text)
    return TestResult(cell.grade_id, cell.points, None, Status.MANUAL, message, False, "", answer)
