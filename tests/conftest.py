"""Fixtures shared by the test modules."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

#: The website build, as ``make book`` runs it.
BUILD_COMMAND = ["build", ".", "--warningiserror", "--keep-going", "--builder", "html"]
BUILD_TIMEOUT_S = 1800

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's experiments on one torch thread, as the chapters do (DESIGN.md: two
    threads ran 5-20x slower on a shared 2-core machine, and one gives bit-identical reruns)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str

    def tail(self, lines: int = 40) -> str:
        """The warnings and errors of the build log, then its last lines."""
        log = ANSI_ESCAPE.sub("", self.log).splitlines()
        problems = [
            line
            for line in log
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|\w(Error|Exception): ", line)
        ]
        return "\n".join(
            ["--- warnings and errors ---", *problems, "--- end of the log ---", *log[-lines:]]
        )


@pytest.fixture(scope="session")
def build() -> Build:
    """Build the book once per session, exactly as ``make book`` does (test_website.py checks
    the site in a browser, test_leaks.py scans it)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    assert jupyter_book.exists(), f"jupyter-book not found next to {sys.executable}: run make venv"
    try:
        proc = subprocess.run(
            [str(jupyter_book), *BUILD_COMMAND],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        output = error.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        return Build(returncode=-1, log=f"{output}\n[timed out after {BUILD_TIMEOUT_S} s]")
    return Build(returncode=proc.returncode, log=proc.stdout)
