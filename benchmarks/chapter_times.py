"""Print how long each chapter takes to execute, as the book build runs it.

Usage: ``.venv/bin/python benchmarks/chapter_times.py [book/NN-slug.md ...]``
(default: every chapter in book/). Each chapter runs in a fresh kernel, in book/, with the
cells the build skips (tagged ``skip-execution``) left out. The budget is 45 s a chapter
(issue 11; DESIGN.md allows 60); this prints figures, it asserts nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from myst_nb.core.read import read_myst_markdown_notebook
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parents[1] / "book"
BUDGET_S = 45.0


def chapters() -> list[Path]:
    """The pages that run code: book/*.md files (chapters and appendices) with code cells."""
    return [p for p in sorted(BOOK.glob("*.md")) if "{code-cell}" in p.read_text()]


def execution_seconds(path: Path) -> float:
    """Execute one chapter in a fresh kernel; return the wall-clock seconds it took."""
    nb = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), path=path)
    nb.cells = [c for c in nb.cells if "skip-execution" not in c.metadata.get("tags", [])]
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or chapters()
    total = 0.0
    print(f"{'chapter':32s} {'seconds':>8s}  budget {BUDGET_S:.0f} s")
    for path in paths:
        seconds = execution_seconds(path)
        total += seconds
        flag = "" if seconds <= BUDGET_S else "  OVER BUDGET"
        print(f"{path.stem:32s} {seconds:8.1f}{flag}")
    print(f"{'total':32s} {total:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
