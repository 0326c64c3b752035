"""Command line: ``python -m autograder release`` and ``python -m autograder grade``."""

from autograder.cli import main

raise SystemExit(main())
