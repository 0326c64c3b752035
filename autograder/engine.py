"""Grade one student notebook: run the student's cells in a sandbox, run the tests here.

Which cells run, and which tests decide the grade, comes from the instructor's notebooks, never
from the submission's metadata: the submission contributes only the source of its answer cells
(and any cells the student added). Each graded test is the instructor's version of the cell
(hidden part included), executed in the grader's process against proxies of the student's
functions (see ``remote.py``); the student's code sees neither the tests nor the references.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import sandbox
from .remote import Remote, SandboxGone, Session, StudentTimeout

#: Row statuses a graded notebook can give its tests (the others come from submissions.py).
GRADED = "graded"
GRADING_ERROR = "grading_error"
TIMEOUT = "timeout"
STOPPED = "sandbox_stopped"
OUTPUT_TRUNCATED = "output_truncated"


@dataclass
class TestResult:
    grade_id: str
    points: float
    score: float | None
    status: str
    message: str
    hidden: bool
    output: str = ""


@dataclass
class NotebookResult:
    tests: list[TestResult] = field(default_factory=list)
    cell_errors: list[tuple[int, str]] = field(default_factory=list)
    output_chars: int = 0
    output_limit: int = 0
    stopped: str = ""
    seconds: float = 0.0


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {}) if cell.cell_type == "code" else {}


@dataclass(frozen=True)
class Layout:
    """What the instructor's notebook says about each cell, by grade_id."""

    tests: list  # (grade_id, points, source with hidden tests, is_hidden)
    answers: set
    fixed: dict  # grade_id -> instructor source of a read-only code cell
    order: list  # grade_ids of read-only code cells in notebook order

    @classmethod
    def read(cls, source_notebook: Path) -> Layout:
        nb = nbformat.read(source_notebook, as_version=4)
        tests, answers, fixed, order = [], set(), {}, []
        for cell in nb.cells:
            meta = _nbgrader(cell)
            grade_id = meta.get("grade_id")
            if not grade_id:
                continue
            if meta.get("grade") and not meta.get("solution"):
                hidden = "BEGIN HIDDEN TESTS" in cell.source
                tests.append((grade_id, float(meta.get("points", 0)), cell.source, hidden))
            elif meta.get("solution"):
                answers.add(grade_id)
            else:
                fixed[grade_id] = cell.source
                order.append(grade_id)
        return cls(tests, answers, fixed, order)


def student_cells(submitted: Path, layout: Layout) -> list[str]:
    """The code the sandbox runs, in order: the instructor's read-only cells (restored if
    deleted), the student's answers and own cells; never a test cell."""
    nb = nbformat.read(submitted, as_version=4)
    seen, cells = set(), []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = _nbgrader(cell).get("grade_id")
        test_ids = {t[0] for t in layout.tests}
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
    return any(text and text == t[2].strip() for t in layout.tests)


def answer_names(cells: list[str], layout: Layout) -> set[str]:
    """Names the tests may look up in the student's notebook."""
    names = set(layout.answers)
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                names.add(node.name)
    return names


class Tests:
    """The instructor's test cells, run in the grader's process."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.setup = {"__name__": "__grader__", "__builtins__": builtins}
        with contextlib.redirect_stdout(io.StringIO()):
            for grade_id in layout.order:
                exec(compile(layout.fixed[grade_id], f"<{grade_id}>", "exec"), self.setup)  # noqa: S102

    def namespace(self, session: Session, names: set[str]) -> dict:
        namespace = dict(self.setup)
        for name in names:
            namespace[name] = Remote(session, name=name)
        return namespace

    def run(self, namespace: dict, grade_id: str, source: str) -> tuple[bool, str, str]:
        _fresh_global_state()
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)  # noqa: S102
        except (SandboxGone, StudentTimeout):
            raise
        except NameError as error:
            return False, f"NameError: {error}", captured.getvalue()
        except Exception as error:  # noqa: BLE001 - a failed test is a message, not a crash
            return False, _message(error), captured.getvalue()
        return True, "", captured.getvalue()


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
    if type(error).__name__ == "ContractViolation":
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def grade_notebook(
    submitted: Path,
    tests: Tests,
    workdir: Path,
    limits: sandbox.Limits,
    use_sandbox: bool = True,
) -> NotebookResult:
    """Grade ``submitted`` in a sandbox whose home is ``workdir``."""
    started = time.monotonic()
    layout = tests.layout
    cells = student_cells(submitted, layout)
    names = answer_names(cells, layout)
    result = NotebookResult(output_limit=limits.output_chars)
    pending = list(layout.tests)
    restarts = 0
    while pending:
        session = _start(workdir, limits, use_sandbox, cells, result)
        if session is None:
            # Nothing could be tested: no score rather than an ordinary 0 (the instructor looks).
            for grade_id, points, _, hidden in pending:
                result.tests.append(
                    TestResult(grade_id, points, None, GRADING_ERROR, result.stopped, hidden)
                )
            break
        namespace = tests.namespace(session, names)
        while pending:
            grade_id, points, source, hidden = pending[0]
            try:
                passed, message, output = tests.run(namespace, grade_id, source)
                status = GRADED
            except StudentTimeout as error:
                passed, message, output, status = False, f"Time limit: {error}", "", TIMEOUT
            except SandboxGone as error:
                pending.pop(0)
                result.stopped = str(error)
                result.tests.append(
                    TestResult(
                        grade_id,
                        points,
                        0.0,
                        STOPPED,
                        f"Your code's process stopped during this test: {error}.",
                        hidden,
                    )  # fmt: skip
                )
                break
            pending.pop(0)
            result.tests.append(
                TestResult(
                    grade_id, points, points if passed else 0.0, status, message, hidden, output
                )  # fmt: skip
            )
        report = session.close()
        result.output_chars = max(result.output_chars, int(report.get("output_chars", 0) or 0))
        restarts += 1
        # Each test may stop the sandbox once; after that the next test gets a fresh one.
        if pending and restarts > len(layout.tests):
            for grade_id, points, _, hidden in pending:
                result.tests.append(
                    TestResult(grade_id, points, 0.0, STOPPED, result.stopped, hidden)
                )
            break
    if result.output_chars > limits.output_chars:
        for test in result.tests:
            if test.status == GRADED:
                test.status = OUTPUT_TRUNCATED
    result.seconds = time.monotonic() - started
    return result


def _start(workdir, limits, use_sandbox, cells, result) -> Session | None:
    """Start a sandbox and run the student's cells in it; None if it could not get that far."""
    process = sandbox.start(workdir, limits, use_sandbox)
    try:
        session = Session(process, limits.cell_seconds)
        reply = session.request(
            {"op": "cells", "cells": cells, "cell_limit": limits.cell_seconds},
            seconds=limits.cell_seconds * max(len(cells), 1),
        )
    except SandboxGone as error:
        result.stopped = f"Your notebook's process stopped while its cells ran: {error}."
        return None
    except StudentTimeout as error:
        result.stopped = f"Your notebook's cells did not finish: {error}."
        return None
    if not result.cell_errors:
        for index, outcome in enumerate(reply.get("value", [])):
            error = outcome.get("error") if isinstance(outcome, dict) else None
            if error:
                kind = str(error.get("types", ["Error"])[0]).rpartition(".")[2]
                result.cell_errors.append((index, f"{kind}: {error.get('message', '')}"[:500]))
    return session
