"""Code shared by the chapters of the dropout course and its exercise notebooks.

Modules
-------
checks
    The contract checks that visible tests in the exercise notebooks call.
offline_mathjax
    A Sphinx extension that serves MathJax 3 from the built site instead of a CDN.
"""
