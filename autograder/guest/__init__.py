"""What runs inside a student's sandbox: the harness and the wire codec it shares with the grader.
These files are copied into the sandbox on their own: they import only the standard library
and NumPy.
"""
