"""The student kit: what a student downloads to do the exercises on their own machine.

A zip with the released exercise notebooks, the part of the ``dropout_course`` package that the
notebooks' visible tests call (its checks) and the files to install it. Nothing
of the instructor's (solutions, the ``autograder`` package, hidden tests) is in it. The website
links it from the Exercises page; ``offline_site`` builds it when the book is built.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
KIT_NAME = "dropout-course-exercises"

#: What the exercises need of the course's requirements.txt (with the same pins).
KIT_PACKAGES = ("torch", "numpy", "matplotlib", "ipywidgets", "scikit-learn")


def kit_requirements() -> str:
    """The kit's requirements.txt: the course's pins of :data:`KIT_PACKAGES`, JupyterLab, and
    the kit's own package."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#")[0].strip()
        if "==" in requirement:
            pins[requirement.split("==")[0].split("[")[0].strip().lower()] = requirement
    return "".join(f"{pins[name]}\n" for name in KIT_PACKAGES) + "jupyterlab\n-e .\n"


PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "dropout-course-kit"
version = "1.0"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["dropout_course*"]
"""

README = """\
Dropout course: exercises
=========================

1. Create an environment and install what the notebooks need (Python 3.11 or newer):

       python3 -m venv .venv
       .venv/bin/pip install -r requirements.txt      (Windows: .venv\\Scripts\\pip ...)

2. Start Jupyter and open a notebook in exercises/:

       .venv/bin/jupyter lab exercises

3. Implement each function where it says "YOUR CODE HERE", run the test cell below it, and
   read its message if it fails. Before you submit: Kernel > Restart & Run All.

4. Submit the notebook file (.ipynb) as your instructor asks, without renaming it.
"""

#: What of the package the kit holds: the checks that the notebooks' visible tests call and the
#: data sets (exercise 04's optional try-it-on-digits cell). Not the chapters' experiments,
#: training loop or widgets: some of them implement what the exercises ask for (a NumPy backward
#: pass, the max-norm projection), and the notebooks do not need them. A grading sandbox sees
#: the same files (``autograder.host.sandbox.public_files``).
KIT_MODULES = ("__init__.py", "data.py", "checks/*.py")


def kit_files() -> dict[str, bytes]:
    """Map each path inside the kit to its content."""
    files = {
        f"{KIT_NAME}/README.txt": README.encode(),
        f"{KIT_NAME}/requirements.txt": kit_requirements().encode(),
        f"{KIT_NAME}/pyproject.toml": PYPROJECT.encode(),
    }
    for pattern in KIT_MODULES:
        for path in sorted(PACKAGE.glob(pattern)):
            files[f"{KIT_NAME}/{path.relative_to(REPO).as_posix()}"] = path.read_bytes()
    for path in sorted((REPO / "exercises").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            files[f"{KIT_NAME}/{path.relative_to(REPO).as_posix()}"] = path.read_bytes()
    return files


def build(target: Path) -> Path:
    """Write the kit to ``target`` (a .zip path), reproducibly; return ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in kit_files().items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return target
