"""The course's autograder: nbgrader configuration, reference implementations, hidden tests,
and the instructor's commands (``python -m autograder release`` and ``python -m autograder grade``).
"""

import sys

# nbformat validates notebooks with jsonschema, which imports rfc3987_syntax when it is installed
# (it is, as a dependency of Jupyter's event schemas): that module builds a grammar when imported,
# 0.7 s in every grading process. Notebook schemas check no IRI format, so it is not imported.
sys.modules.setdefault("rfc3987_syntax", None)
