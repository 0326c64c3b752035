"""The catalogue entry type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Implementation:
    """One implementation of one answer cell.

    Attributes
    ----------
    name : str
        Short identifier, used as the student's name when graded.
    assignment : str
        The assignment (folder of ``solutions/``).
    grade_id : str
        The answer cell it replaces (the function's name).
    code : str
        The cell's source.
    message : str
        For a wrong implementation: text the failure message must contain (it names the
        mistake). Empty for a correct one.
    """

    name: str
    assignment: str
    grade_id: str
    code: str
    message: str = ""


def variant(
    base: Implementation, name: str, old: str, new: str, message: str = ""
) -> Implementation:
    """``base`` with one piece of its code replaced: a catalogue entry that differs from a
    reference implementation in exactly one place (asserting that the place exists)."""
    assert old in base.code, old
    return Implementation(
        name, base.assignment, base.grade_id, base.code.replace(old, new), message
    )
