"""The error the instructor's commands report in words (never a traceback)."""


class CourseError(Exception):
    """A problem with the course or the command's input, with a message that says what to do."""
