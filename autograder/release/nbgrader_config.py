"""nbgrader configuration of the course.

The instructor's notebooks in ``solutions/`` are nbgrader's source; ``exercises/`` is its release.
Use it with stock nbgrader from the repository root as
``nbgrader <command> --config=autograder/release/nbgrader_config.py``; ``python -m autograder``
loads it too (see ``autograder.release``).
"""

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from autograder.content.spec import ANSWER_STUB
from autograder.host.sandbox import Limits
from autograder.release.preprocessors import StderrIsNotFailure

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

REPO = Path(__file__).resolve().parents[2]

c.CourseDirectory.root = str(REPO)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = f"sqlite:///{REPO / '_build' / 'gradebook.db'}"
# Only the notebooks are part of an assignment; nothing else in a folder is released or graded.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.db"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = ANSWER_STUB
# A test cell a student deleted is put back before grading rather than silently scoring 0.
c.OverwriteCells.add_missing_cells = True
# Each cell may run for at most this many seconds when graded (the grader's own per-cell limit,
# so that stock nbgrader and ours agree); a hung cell is interrupted.
c.Execute.timeout = int(Limits().cell_seconds)
c.Execute.interrupt_on_timeout = True
# Only an exception fails a test: a warning printed to stderr must not cost a correct answer
# its points (stock nbgrader scores any stderr output as a failure).
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrIsNotFailure,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
