"""The release: nbgrader configured for the course, and ``exercises/`` generated from
``solutions/`` (``python -m autograder release``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.content import EXERCISES, SOLUTIONS, assignments, notebooks
from autograder.errors import CourseError

CONFIG_FILE = Path(__file__).with_name("nbgrader_config.py")


def nbgrader_config(root: Path) -> Config:
    """Load ``nbgrader_config.py`` and point it at a course directory ``root``.

    ``root`` holds ``source/``, ``release/``, ``submitted/`` and the other nbgrader folders and a
    gradebook of its own, so the repository is never written to.
    """
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Exchange.root = str(root / "exchange")
    return config


def nbgrader_api(root: Path, config: Config | None = None):
    """Return an ``NbGraderAPI`` for the course directory ``root``, logging to a buffer."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    # nbgrader runs the `alembic` and `jupyter` executables of its environment by name.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    (root / "exchange").mkdir(parents=True, exist_ok=True)
    config = config or nbgrader_config(root)
    log = logging.getLogger(f"nbgrader.{root.name}")
    log.propagate = False
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config, log=log)


def run_step(result: dict, what: str) -> None:
    """Raise ``CourseError`` if an ``NbGraderAPI`` call did not succeed."""
    if not result.get("success"):
        raise CourseError(f"{what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}")


def stage_sources(root: Path, names: list[str]) -> None:
    """Copy the instructor's notebooks of ``names`` into ``root/source``."""
    for name in names:
        target = root / "source" / name
        target.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks(name):
            shutil.copy2(SOLUTIONS / name / f"{notebook}.ipynb", target / f"{notebook}.ipynb")


def generate_release(names: list[str], root: Path) -> None:
    """Run nbgrader's generate_assignment for ``names`` inside the course directory ``root``."""
    stage_sources(root, names)
    api = nbgrader_api(root)
    for name in names:
        with contextlib.redirect_stdout(io.StringIO()):
            run_step(api.generate_assignment(name, force=True, create=True), f"Releasing {name}")


def release(names: list[str] | None = None, target: Path = EXERCISES) -> list[Path]:
    """Regenerate the student release of ``names`` (default: all) into ``target``.

    Returns the paths of the released notebooks.
    """
    names = names or assignments()
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise CourseError(f"unknown assignment(s) {unknown}; known: {assignments()}")
    written = []
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        root = Path(tmp)
        generate_release(names, root)
        for name in names:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(root / "release" / name, target / name)
            written += sorted((target / name).glob("*.ipynb"))
    return written
