"""A fingerprint of everything that decides a grade, so that two machines can tell whether they
would grade alike: the instructor's notebooks and their release, the references and hidden
tests, and the code of the grader and of the student kit.

A cluster's worker compares its fingerprint with the grade command's before it grades anyone
(``autograder/batch/cluster.py``): a worker left on another commit would grade with other tests.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from autograder.content import EXERCISES, REPO, SOLUTIONS

#: What is hashed: every file under these folders of the repository (caches and hidden files,
#: such as Jupyter's checkpoints, left out).
GRADING_FOLDERS = (SOLUTIONS, EXERCISES, REPO / "autograder", REPO / "dropout_course")


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        hidden = any(part.startswith(".") or part == "__pycache__" for part in parts)
        if path.is_file() and not hidden and path.suffix != ".pyc":
            yield path


def fingerprint_now() -> str:
    """The SHA-256 (hex) of the grading files' paths and bytes, as they are on disk now."""
    digest = hashlib.sha256()
    for folder in GRADING_FOLDERS:
        for path in _files(folder):
            name = path.relative_to(REPO).as_posix().encode("utf-8")
            data = path.read_bytes()
            digest.update(len(name).to_bytes(8, "big") + name)
            digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


@functools.cache
def course_fingerprint() -> str:
    """The fingerprint of the course as this process first found it (computed once)."""
    return fingerprint_now()
