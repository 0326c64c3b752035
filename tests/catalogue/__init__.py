"""Catalogues of student implementations, for testing the autograder itself.

``WRONG`` holds mistakes students really make; each must lose points with a message that names
it. ``CORRECT`` holds correct implementations written in other styles; each must earn full
marks. An entry replaces one answer cell (by its nbgrader grade_id) of the instructor's notebook.
"""

from .correct import CORRECT
from .entries import Implementation
from .wrong import WRONG

__all__ = ["CORRECT", "WRONG", "Implementation"]
