"""The status of a row of grades.csv: how its test came to its score (or to none)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Each value is written as it is in grades.csv's ``status`` column."""

    #: The test ran; its score is what the properties that held are worth.
    GRADED = "graded"
    #: A call into the student's code (or the notebook's whole budget) ran out of time.
    TIMEOUT = "timeout"
    #: The student's process stopped during the test (exit, memory, CPU).
    STOPPED = "sandbox_stopped"
    #: Graded as usual, but the notebook printed more than the output limit.
    OUTPUT_TRUNCATED = "output_truncated"
    #: No such notebook was submitted (or a misnamed one): no score.
    MISSING = "missing"
    #: The file is not a notebook that can be graded: no score.
    UNREADABLE = "unreadable"
    #: The sandbox could not start or the grader failed: no score, the instructor looks.
    GRADING_ERROR = "grading_error"
    #: A written answer: no score until the instructor grades it (nbgrader's formgrader).
    MANUAL = "needs_manual_grade"
    #: A notebook submitted after its due date: its penalty, as a negative score.
    LATE = "late"

    @property
    def scored(self) -> bool:
        """Whether rows of this status carry a score."""
        scored = (
            Status.GRADED,
            Status.TIMEOUT,
            Status.STOPPED,
            Status.OUTPUT_TRUNCATED,
            Status.LATE,
        )
        return self in scored
