"""Grading a batch: finding the submissions, grading each student in a supervised worker, and
writing grades.csv, integrity.csv, the feedback pages and the gradebook.
"""
