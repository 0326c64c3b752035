"""The course's autograder: nbgrader configuration, reference implementations, hidden tests,
and the instructor's commands (``python -m autograder release`` and ``python -m autograder grade``).
"""
