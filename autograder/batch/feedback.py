"""Feedback a student can read: each test, its points, and the check's message.

A visible test is shown with the source the student already has (from the released notebook);
a hidden test is shown by name only. Nothing of the instructor's notebook, the hidden tests or
the references is written here, and the page loads nothing from other hosts.
"""

from __future__ import annotations

import html
from pathlib import Path

from autograder.content.spec import NotebookSpec
from autograder.status import Status
from autograder.text import clean, readable

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.5rem; } .total { font-size: 1.2rem; font-weight: 600; }
.test { border: 1px solid #d0d7de; border-radius: 6px; margin: 1rem 0; padding: 0.5rem 1rem; }
.passed { border-left: 6px solid #1a7f37; } .failed { border-left: 6px solid #cf222e; }
.partial { border-left: 6px solid #bf8700; } .message { white-space: pre-wrap; }
.status { font-weight: 600; } pre { background: #f6f8fa; padding: 0.5rem; overflow-x: auto; }
.note { background: #fff8c5; padding: 0.5rem 1rem; border-radius: 6px; }
.awaiting { border-left: 6px solid #0969da; } .answer { white-space: pre-wrap; }
"""

STATUS_WORDS = {
    Status.GRADED: "",
    Status.TIMEOUT: "time limit reached",
    Status.STOPPED: "your code's process stopped",
    Status.OUTPUT_TRUNCATED: "output limit reached",
    Status.GRADING_ERROR: "could not be graded",
    Status.MANUAL: "awaiting your instructor's grade",
}


def released_sources(release_notebook: Path) -> dict[str, str]:
    """Map the ``grade_id`` of each test cell of the released notebook to its source (what the
    student already has, shown beside the visible tests' results)."""
    return {
        cell.grade_id: cell.source
        for cell in NotebookSpec.read(release_notebook).cells
        if cell.is_test
    }


def e(text) -> str:
    """``text`` cleaned and escaped for the page."""
    return html.escape(clean(text))


def render(entry, graded, release_notebook: Path) -> str:
    """The feedback page of one graded notebook."""
    released = released_sources(release_notebook)
    score = sum(t.score or 0.0 for t in graded.tests)
    maximum = sum(t.points for t in graded.tests)
    awaiting = sum(t.points for t in graded.tests if t.status == Status.MANUAL)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Feedback: {e(entry.notebook)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Feedback on {e(entry.assignment)} / {e(entry.notebook)}.ipynb</h1>",
        f"<p>Student: {e(entry.student)}</p>",
        f"{TOTAL}Score: {score:g} / {maximum:g}</p>",
    ]
    if awaiting:
        parts.append(
            f"<p class='note'>{awaiting:g} of the {maximum:g} points are for written answers "
            "that your instructor grades by hand; they are not in the score yet.</p>"
        )
    if graded.output_chars > graded.output_limit:
        parts.append(
            f"<p class='note'>Your notebook printed {graded.output_chars:,} characters; only "
            f"the first {graded.output_limit:,} were kept. Grading went on as usual.</p>"
        )
    if graded.cell_errors:
        parts.append("<h2>Errors while your cells ran</h2><ul>")
        parts += [f"<li>code cell {i + 1}: <code>{e(m)}</code></li>" for i, m in graded.cell_errors]
        parts.append("</ul>")
    parts.append("<h2>Tests</h2>")
    for test in graded.tests:
        parts += _test_block(test, released)
    parts.append("</body></html>")
    return "\n".join(parts)


def _test_block(test, released: dict[str, str]) -> list[str]:
    """One test's (or written answer's) part of the page."""
    passed = test.score is not None and test.score == test.points and test.points > 0
    partial = not passed and test.score is not None and test.score > 0
    verdict = "passed" if passed else "partial" if partial else "failed"
    if test.status == Status.MANUAL:
        verdict = "awaiting"
    extra = STATUS_WORDS.get(test.status, test.status)
    shown = "" if test.score is None else f"{test.score:g}"
    parts = [
        f"<div class='test {verdict}'><p><span class='status'>{verdict.upper()}</span> "
        f"{e(test.grade_id)} ({shown} / {test.points:g} points)"
        + (f" — {e(extra)}" if extra else "")
        + "</p>"
    ]
    if test.message:
        parts.append(f"<p class='message'>{e(test.message)}</p>")
    if test.answer:
        answer = html.escape(readable(test.answer))
        parts.append(f"<p>Your answer:</p><blockquote class='answer'>{answer}</blockquote>")
    if test.hidden:
        parts.append(
            "<p><em>A hidden test: it checks the same contract on inputs you have not "
            "seen; its code is not shown.</em></p>"
        )
    elif test.grade_id in released:
        parts.append(f"<pre><code>{e(released[test.grade_id])}</code></pre>")
    if test.output and not test.hidden:
        parts.append(f"<p>Output:</p><pre>{e(test.output[:2000])}</pre>")
    parts.append("</div>")
    return parts


#: The start of the score's paragraph: a late notice goes after it (no escaped text can
#: contain it, so the first one is the score's).
TOTAL = "<p class='total'>"


def with_late_notice(page: str, penalty_row: dict) -> str:
    """``page`` with the lateness and penalty of ``penalty_row`` (a grades.csv ``late`` row)
    said after the score (the grade command adds it: workers do not decide what is late)."""
    penalty = -float(penalty_row["score"])
    notice = (
        f"<p class='note late'>Late: {e(penalty_row['message'])}"
        + (f" Score after the penalty: the score above minus {penalty:g}." if penalty else "")
        + "</p>"
    )
    start = page.index(TOTAL)
    end = page.index("</p>", start) + len("</p>")
    return page[:end] + "\n" + notice + page[end:]
