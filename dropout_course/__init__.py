"""Code shared by the chapters of the dropout course and its exercise notebooks.

Modules
-------
checks
    The contract checks that visible tests in the exercise notebooks call.
offline_site
    A Sphinx extension so the built site loads nothing from another host (MathJax served locally).
plots, widgets
    Figures and interactive demos of the chapters.
"""
