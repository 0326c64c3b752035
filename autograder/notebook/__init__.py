"""Grading one notebook: its student's cells run in a sandbox, the instructor's tests run here, and
the integrity scan of its source.
"""
