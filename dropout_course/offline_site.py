"""Sphinx extension: a site that needs no other host.

- MathJax: Jupyter Book 1 loads it from a CDN, so offline the math shows as raw TeX. This
  extension copies the MathJax 3 build that the ``django-static-mathjax`` package ships into a
  folder beside the build output, adds that folder to ``html_static_path`` and points
  ``mathjax_path`` at it.
- Thebe: sphinx-thebe (always loaded by Jupyter Book) writes an inline script naming its CDN
  URL into every page even when live code is off. The course does not use Thebe (launch buttons
  open Binder or Colab instead), so the script is removed from each page.
- The student kit (``student_kit``) is built before the pages are read, into
  ``_build/student-kit/`` under the book's root, where the Exercises page's download link finds it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

#: The MathJax entry point: TeX input, CommonHTML output, menu and assistive MathML included.
ENTRY_POINT = "tex-chtml.js"


def mathjax_es5_dir() -> Path:
    """Return the folder of MathJax's ES5 build inside the installed package."""
    try:
        import mathjax  # the import name of the django-static-mathjax distribution
    except ImportError as error:
        raise ExtensionError(
            "MathJax is not installed: run `make book` (or `pip install -r requirements.txt`), "
            "which installs django-static-mathjax."
        ) from error
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / ENTRY_POINT).is_file():
        raise ExtensionError(f"MathJax's {ENTRY_POINT} was not found under {es5}")
    return es5


def stage_mathjax(es5: Path, staging: Path) -> Path:
    """Copy the parts of MathJax the site loads into ``staging/mathjax`` and return ``staging``.

    Only the chosen entry point and the folders it loads lazily (fonts, extensions, menu) are
    copied, not the other combined builds.
    """
    target = staging / "mathjax"
    if (target / ENTRY_POINT).is_file():
        return staging
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / ENTRY_POINT, target / ENTRY_POINT)
    for folder in sorted(p for p in es5.iterdir() if p.is_dir()):
        shutil.copytree(folder, target / folder.name, dirs_exist_ok=True)
    return staging


def _configure(app: Sphinx, config: Config) -> None:
    staging = stage_mathjax(mathjax_es5_dir(), Path(app.doctreedir).parent / "mathjax-static")
    config.html_static_path = [*config.html_static_path, str(staging)]
    config.mathjax_path = f"mathjax/{ENTRY_POINT}"


def _drop_thebe_cdn(app: Sphinx, pagename, templatename, context, doctree) -> None:
    context["script_files"] = [
        script
        for script in context.get("script_files", [])
        if "THEBE_JS_URL" not in str(getattr(script, "attributes", {}).get("body", ""))
    ]


def _build_student_kit(app: Sphinx) -> None:
    from .student_kit import KIT_NAME, build

    build(Path(app.srcdir) / "_build" / "student-kit" / f"{KIT_NAME}.zip")


def setup(app: Sphinx) -> dict:
    """Register the extension with Sphinx."""
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _drop_thebe_cdn, priority=900)
    app.connect("builder-inited", _build_student_kit)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
