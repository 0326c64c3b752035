"""Deadlines: when each assignment is due, when a student submitted it, and the late penalty.

The due dates come from the command line (``--due WHEN`` for every assignment of the batch,
``--due ASSIGNMENT=WHEN`` for one). A submission's time comes from what the batch carries:
nbgrader's ``timestamp.txt`` in the student's assignment folder (what ``nbgrader collect``
leaves), or Canvas's ``_LATE`` mark in a file's name (Canvas says the file is late, not when
it was submitted). The penalty is computed by an nbgrader late-submission plugin, per notebook,
from the notebook's score and the seconds it was late, as ``nbgrader autograde`` does: ``none``
(nbgrader's default), ``zero``, or a course's own ``MODULE:CLASS``.

A late notebook gets one more row in grades.csv, ``grade_id`` ``late_penalty``, status
``late``, ``max_score`` 0 and the penalty as a negative score, so that a notebook's rows still
add up to its total; its message says when it was submitted, how late, and why the penalty is
what it is. A penalty never takes a notebook below zero. What cannot be known is never held
against a student: a submission without a readable time is not late (the command says how many
there were).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autograder.errors import CourseError
from autograder.status import Status

#: The grade_id of a notebook's late-penalty row in grades.csv.
PENALTY_ROW = "late_penalty"
#: The largest ``timestamp.txt`` read (nbgrader's is one line of about 30 characters).
TIMESTAMP_BYTES = 256

_TIME = re.compile(
    r"^(?P<when>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"\s*(?P<zone>UTC|Z|[+-]\d{2}:?\d{2}|[A-Za-z][A-Za-z0-9_+\-/]{0,39})?$"
)
#: The largest UTC offset any zone uses.
MAX_OFFSET = timedelta(hours=14)


@dataclass(frozen=True)
class Submitted:
    """When a student's assignment was submitted, as far as the batch says."""

    time: datetime | None = None  # timezone-aware, when known
    marked_late: bool = False  # an LMS marked the submission late (Canvas: _LATE)
    source: str = ""  # where ``time`` or the mark comes from, for messages
    problem: str = ""  # why a timestamp the batch holds could not be read


def parse_time(text: str, *, naive_is_utc: bool) -> datetime:
    """An ISO 8601 or nbgrader time (``2026-12-01 23:59:00.000000 UTC``) as an aware datetime.

    A time without a zone is UTC when ``naive_is_utc`` (nbgrader's timestamps), else refused."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()[:60]!r} is not a time such as 2026-12-01T23:59:00+00:00")
    zone = match["zone"]
    if zone is None and not naive_is_utc:
        raise ValueError(
            f"{text.strip()!r} has no time zone: add one, as in 2026-12-01T23:59:00+01:00 or "
            "2026-12-01T23:59:00Z"
        )
    try:
        when = datetime.fromisoformat(match["when"].replace(" ", "T"))
        if zone in (None, "UTC", "Z"):
            return when.replace(tzinfo=UTC)
        if zone[0] in "+-" and zone[1:].replace(":", "").isdigit():
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if int(digits[2:]) > 59 or offset > MAX_OFFSET:
                raise ValueError(f"the offset {zone} is not one any time zone has")
            return (when - offset if zone[0] == "+" else when + offset).replace(tzinfo=UTC)
        return when.replace(tzinfo=_named_zone(zone)).astimezone(UTC)
    except OverflowError:  # a time at the very edge of the calendar, moved past it
        raise ValueError(f"{text.strip()[:60]!r} is outside the calendar") from None


def _named_zone(name: str):
    """The zone called ``name`` (``CET``, ``Europe/Berlin``: what nbgrader may write), looked
    up only among the zones the system lists, never as a path."""
    import zoneinfo

    if name not in zoneinfo.available_timezones():
        raise ValueError(f"{name!r} is not a time zone this machine knows")
    return zoneinfo.ZoneInfo(name)


def read_timestamp(data: bytes) -> Submitted:
    """What an nbgrader ``timestamp.txt`` holding ``data`` says."""
    source = "timestamp.txt"
    if len(data) > TIMESTAMP_BYTES:
        return Submitted(source=source, problem=f"longer than {TIMESTAMP_BYTES} bytes")
    try:
        return Submitted(parse_time(data.decode("utf-8"), naive_is_utc=True), source=source)
    except (UnicodeError, ValueError) as error:
        return Submitted(source=source, problem=str(error))


@dataclass(frozen=True)
class Policy:
    """The batch's due dates and late-penalty plugin (the grade command's options)."""

    due: dict[str, datetime] = field(default_factory=dict)  # "" -> every assignment
    penalty: str = "none"

    def due_for(self, assignment: str) -> datetime | None:
        return self.due.get(assignment, self.due.get(""))

    @classmethod
    def from_options(cls, due: list[str], penalty: str, known: list[str]) -> Policy:
        """Read ``--due`` values (``WHEN`` or ``ASSIGNMENT=WHEN``) and ``--late-penalty``."""
        dates: dict[str, datetime] = {}
        for value in due:
            name, _, when = value.rpartition("=") if "=" in value else ("", "", value)
            if name and name not in known:
                raise CourseError(
                    f"--due {value}: no assignment is called {name!r}; the course's "
                    f"assignments are {', '.join(known)}"
                )
            if name in dates:
                raise CourseError(f"--due gives {name or 'every assignment'} two due dates")
            try:
                dates[name] = parse_time(when, naive_is_utc=False)
            except ValueError as error:
                raise CourseError(f"--due {value}: {error}") from None
        policy = cls(dates, penalty)
        policy.plugin()  # a plugin that cannot be loaded stops the command before grading
        return policy

    def plugin(self):
        """The nbgrader late-submission plugin named by ``penalty``."""
        from nbgrader.plugins import LateSubmissionPlugin

        if self.penalty in ("none", "zero"):
            return LateSubmissionPlugin(penalty_method=self.penalty)
        module_name, _, class_name = self.penalty.partition(":")
        try:
            plugin = getattr(importlib.import_module(module_name), class_name)()
        except (ImportError, AttributeError, TypeError, ValueError) as error:
            raise CourseError(
                f"--late-penalty {self.penalty}: cannot load it ({error}); give none, zero, or "
                "MODULE:CLASS, an nbgrader LateSubmissionPlugin importable from here"
            ) from None
        if not callable(getattr(plugin, "late_submission_penalty", None)):
            raise CourseError(f"--late-penalty {self.penalty} has no late_submission_penalty")
        return plugin


def lateness(policy: Policy, assignment: str, submitted: Submitted | None):
    """``(late, seconds_late or None when unknown, message)`` of one submission."""
    due = policy.due_for(assignment)
    time = submitted.time if submitted else None
    if time is not None and due is not None:
        seconds = (time - due).total_seconds()
        if seconds > 0:
            when = f"submitted {time:%Y-%m-%d %H:%M:%S} UTC ({submitted.source})"
            return (
                True,
                seconds,
                (f"{when}, {_duration(seconds)} after the due date {due:%Y-%m-%d %H:%M:%S} UTC"),
            )
        return False, 0.0, ""
    if submitted is not None and submitted.marked_late:
        return True, None, f"{submitted.source}; the download does not say when it was submitted"
    return False, 0.0, ""


def penalty_rows(policy: Policy, student, rows: list[dict], plugin) -> list[dict]:
    """The ``late_penalty`` rows of one student: one per late notebook that has a score."""
    added = []
    for entry in student.notebooks:
        late, seconds, why = lateness(
            policy, entry.assignment, student.submitted.get(entry.assignment)
        )
        mine = [
            r
            for r in rows
            if (r["assignment"], r["notebook"]) == (entry.assignment, entry.notebook)
        ]
        scores = [r["score"] for r in mine if isinstance(r["score"], float)]
        if not late or not scores:
            continue
        score = sum(scores)
        if seconds is None and policy.penalty not in ("none", "zero"):
            penalty = 0.0
            why += f"; no penalty applied: {policy.penalty} needs the time, so apply it by hand"
        else:
            given = plugin.late_submission_penalty(student.key, score, seconds or 0.0)
            penalty = min(max(float(given or 0.0), 0.0), score)
            why += f"; penalty {penalty:g} point(s) ({policy.penalty})"
        added.append({
            "student": student.student, "assignment": entry.assignment,
            "notebook": entry.notebook, "grade_id": PENALTY_ROW,
            "score": -penalty if penalty else 0.0, "max_score": 0.0,
            "status": Status.LATE, "message": why[0].upper() + why[1:],
        })  # fmt: skip
    return added


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(p for p in parts if p) if seconds >= 60 else f"{seconds:.0f} s"


def read_submitted(folder: Path, marked_late: bool, open_regular) -> Submitted | None:
    """What the batch says of when the assignment in ``folder`` was submitted."""
    stamp = folder / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink():
        try:
            with open_regular(stamp) as handle:
                found = read_timestamp(handle.read(TIMESTAMP_BYTES + 1))
        except OSError as error:
            found = Submitted(source="timestamp.txt", problem=error.strerror or "unreadable")
        if marked_late:
            found = Submitted(found.time, True, found.source, found.problem)
        return found
    if marked_late:
        return Submitted(marked_late=True, source="Canvas marked the file late")
    return None
