"""Nothing handed to students holds the instructor's code: the released notebooks, the student
kit and the built website contain no line of a solution, of a hidden test or of a reference
implementation (tests/leaks.py derives those lines from the instructor's material).

The detector is tested first: it must be able to fail (a solution line written out as a
notebook, as highlighted HTML, in a zip or in a coloured traceback is reported) and must not
fail on public material (the released notebooks)."""

from __future__ import annotations

import html
import io
import json
import zipfile

import nbformat
import pytest
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from autograder.content import EXERCISES, SOLUTIONS, assignments
from dropout_course.student_kit import KIT_NAME
from dropout_course.student_kit import build as build_kit
from tests.leaks import (
    HIDDEN,
    HIDDEN_CELL,
    HIDDEN_MODULE,
    MIN_LENGTH,
    REFERENCE,
    REFERENCE_MODULE,
    ROOT,
    SOLUTION,
    Fragment,
    assert_no_leaks,
    find_leaks,
    normalise,
    scan_paths,
    scan_texts,
    secret_fragments,
    views,
)
from tests.notebooks import released_notebook

HTML = ROOT / "_build" / "html"


def fragments_of(kind: str, **where) -> list[Fragment]:
    return [
        f
        for f in secret_fragments()
        if f.kind == kind and all(getattr(f, key) == value for key, value in where.items())
    ]


def first_solution_line(assignment: str) -> Fragment:
    found = fragments_of(SOLUTION, assignment=assignment)
    assert found, f"no solution fragment for {assignment}"
    return found[0]


def notebook_with(code: str) -> str:
    """A notebook (as the JSON text of a file) with one code cell holding ``code``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    return nbformat.writes(nb)


def released_text(assignment: str) -> str:
    return "\n".join(cell.source for cell in released_notebook(assignment).cells)


# --------------------------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", assignments())
def test_fragments_come_from_every_assignment(assignment):
    for kind in (SOLUTION, HIDDEN_CELL):
        found = fragments_of(kind, assignment=assignment)
        assert found, f"no {kind} fragment from solutions/{assignment}: the check would be vacuous"


@pytest.mark.parametrize(
    "module",
    [p.relative_to(ROOT).as_posix() for p in sorted(HIDDEN.glob("*.py")) if p.stem != "__init__"],
)
def test_fragments_come_from_every_hidden_module(module):
    assert fragments_of(HIDDEN_MODULE, path=module), f"no fragment from {module}"


@pytest.mark.parametrize(
    "module",
    [
        p.relative_to(ROOT).as_posix()
        for p in sorted(REFERENCE.glob("*.py"))
        if p.stem != "__init__"
    ],
)
def test_fragments_come_from_every_reference_module(module):
    assert fragments_of(REFERENCE_MODULE, path=module), f"no fragment from {module}"


def test_fragments_are_distinctive_lines():
    fragments = secret_fragments()
    assert len({f.text for f in fragments}) >= 100, "suspiciously few distinct fragments"
    for fragment in fragments:
        assert len(fragment.text) >= MIN_LENGTH and fragment.text == normalise(fragment.text)
        assert "\n" not in fragment.text and not fragment.text.startswith("#")
        assert (ROOT / fragment.path).is_file() and fragment.line >= 1


def test_every_fragment_is_found_in_the_file_it_comes_from():
    """The instructor's own files, scanned as a leaked copy would be, show every fragment."""
    found = {(name, f) for name, f in scan_paths([SOLUTIONS, HIDDEN, REFERENCE])}
    missing = [f for f in secret_fragments() if (str(ROOT / f.path), f) not in found]
    assert not missing, "fragments not found in their own file:\n" + "\n".join(map(str, missing))


@pytest.mark.parametrize("assignment", assignments())
def test_a_solution_line_is_reported_however_it_is_written(assignment, tmp_path):
    fragment = first_solution_line(assignment)
    line = fragment.text
    spaced = "    " + line.replace(" ", "  ")
    pygments_html = highlight(
        f"def f(x):\n    {line}\n    return x\n", PythonLexer(), HtmlFormatter()
    )
    assert line not in pygments_html, "Pygments did not split the line: a weak control"
    words = line.split(" ")
    coloured = f"\x1b[0;32m----> 3\x1b[0m {words[0]} \x1b[1;31m{' '.join(words[1:])}\x1b[0m"
    texts = {
        "the line, re-indented and re-spaced": f"x = 1\n{spaced}\ny = 2\n",
        "Pygments HTML": pygments_html,
        "escaped HTML": f"<pre>{html.escape(line)}</pre>",
        "a notebook": notebook_with(f"import numpy as np\n{line}\n"),
        "a JavaScript string": "var s = " + json.dumps(line) + ";",
        "an ANSI-coloured traceback": coloured,
    }
    for what, text in texts.items():
        found = find_leaks(text)
        assert fragment in found, f"{what}: {line!r} was not found in {text!r}"

    # The same line in files: a notebook, and a zip holding it, are scanned.
    notebook = tmp_path / "leaky" / "nb.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(texts["a notebook"], encoding="utf-8")
    archive = tmp_path / "leaky.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(notebook, "kit/exercises/nb.ipynb")
    found = scan_paths([notebook.parent, archive])
    assert {(name, f.text) for name, f in found} == {
        (str(notebook), line),
        (f"{archive}!kit/exercises/nb.ipynb", line),
    }
    # The failure message says what leaked and where it comes from.
    with pytest.raises(AssertionError) as failure:
        assert_no_leaks(notebook.parent)
    assert line in str(failure.value) and fragment.origin in str(failure.value)


@pytest.mark.parametrize(
    "module", [p.relative_to(ROOT).as_posix() for p in sorted(HIDDEN.glob("[!_]*.py"))]
)
def test_a_hidden_test_line_is_reported_with_its_origin(module):
    fragment = fragments_of(HIDDEN_MODULE, path=module)[-1]
    traceback = (
        f'File "{module}", line {fragment.line}, in hidden\n    {fragment.text}\n'
        "ContractViolation: something is wrong"
    )
    found = find_leaks(traceback)
    assert fragment in found
    assert f"{module}, line {fragment.line} [hidden]" in fragment.origin


@pytest.mark.parametrize("assignment", assignments())
def test_the_released_notebook_is_not_reported(assignment):
    """Negative control: the public part of an exercise holds no fragment."""
    (path,) = sorted((EXERCISES / assignment).glob("*.ipynb"))
    assert find_leaks(released_text(assignment)) == []
    assert find_leaks(path.read_text(encoding="utf-8")) == []


def test_near_misses_are_not_reported():
    """A fragment is a whole line: a part of one, or one with a changed character, is not."""
    line = first_solution_line(assignments()[0]).text
    half = line[: len(line) // 2]
    changed = line[:-1] + ("X" if line[-1] != "X" else "Y")
    assert line not in {f.text for f in find_leaks(f"{half}\n{changed}\n")}


# --------------------------------------------------------------------------------------------
# What students get
# --------------------------------------------------------------------------------------------


def test_released_notebooks_hold_no_fragment():
    names = [name for name, _ in scan_texts([EXERCISES])]
    for assignment in assignments():
        assert any(f"{assignment}.ipynb" in name for name in names), f"{assignment} not scanned"
    leaks = scan_paths([EXERCISES])
    assert not leaks, "the released notebooks show instructor code:\n" + "\n".join(
        f"{name}: {f}" for name, f in leaks
    )


def test_student_kit_holds_no_fragment(tmp_path):
    archive = build_kit(tmp_path / f"{KIT_NAME}.zip")
    names = [name for name, _ in scan_texts([archive])]
    assert any(name.endswith(".ipynb") for name in names)
    assert any(name.endswith("checks/core.py") for name in names)
    assert_no_leaks(tmp_path)


def test_website_holds_no_fragment(build):
    """The built site: every page, the notebooks and sources it copies, and the kit it links."""
    for assignment in assignments():
        page = HTML / "exercises" / assignment / f"{assignment}.html"
        if not page.is_file():
            pytest.fail(f"{page} was not built (exit code {build.returncode}):\n{build.tail()}")
        # Positive control on the real site: the code of the rendered exercise is visible to the
        # detector (the first line of each answer cell, highlighted by Pygments on the page).
        shown = views(page.read_text(encoding="utf-8"))
        for cell in released_notebook(assignment).cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                first = normalise(cell.source.splitlines()[0])
                assert any(first in view for view in shown), f"{first!r} not seen in {page}"
    names = [name for name, _ in scan_texts([HTML])]
    assert any(f"{KIT_NAME}.zip!" in name for name in names), "the site's student kit not scanned"
    assert_no_leaks(HTML)


# --------------------------------------------------------------------------------------------
# assert_no_leaks, as the grading tests use it on the feedback folder
# --------------------------------------------------------------------------------------------


def feedback_page(code: str, message: str = "") -> str:
    """A feedback page like nbconvert's: highlighted code, then an error message."""
    return (
        "<html><body>"
        + highlight(code, PythonLexer(), HtmlFormatter())
        + f"<pre>{html.escape(message)}</pre></body></html>"
    )


@pytest.fixture
def feedback(tmp_path):
    """A feedback folder, ``<student>/<assignment>/<notebook>.html``, with nothing leaked."""
    assignment = assignments()[0]
    folder = tmp_path / "feedback"
    for student in ("ada", "bob"):
        page = folder / student / assignment / f"{assignment}.html"
        page.parent.mkdir(parents=True)
        page.write_text(
            feedback_page(released_text(assignment), "ContractViolation: it returned None"),
            encoding="utf-8",
        )
    return folder, assignment


def test_assert_no_leaks_passes_a_clean_feedback_folder(feedback):
    folder, _ = feedback
    assert_no_leaks(folder)


@pytest.mark.parametrize("kind", [SOLUTION, HIDDEN_CELL, HIDDEN_MODULE, REFERENCE_MODULE])
def test_assert_no_leaks_names_the_leak(feedback, kind):
    folder, assignment = feedback
    fragment = (fragments_of(kind, assignment=assignment) or fragments_of(kind))[0]
    page = folder / "bob" / assignment / f"{assignment}.html"
    page.write_text(
        feedback_page(released_text(assignment) + f"\n\n{fragment.text}\n"), encoding="utf-8"
    )
    with pytest.raises(AssertionError) as failure:
        assert_no_leaks(folder)
    message = str(failure.value)
    assert str(page) in message and fragment.text in message and fragment.origin in message


def test_assert_no_leaks_looks_into_zips(feedback):
    folder, assignment = feedback
    line = first_solution_line(assignment).text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("inner/answer.py", f"{line}\n")
    (folder / "bob" / "bundle.zip").write_bytes(buffer.getvalue())
    with pytest.raises(AssertionError, match="bundle.zip!inner/answer.py"):
        assert_no_leaks(folder)


def test_assert_no_leaks_excuses_what_the_student_submitted(feedback, tmp_path):
    """A student who typed (or submitted) the instructor's line sees it again in their own
    feedback; another student's feedback must still not show it."""
    folder, assignment = feedback
    line = first_solution_line(assignment).text
    submitted = tmp_path / "submitted"
    for student in ("ada", "bob"):
        notebook = submitted / student / assignment / f"{assignment}.ipynb"
        notebook.parent.mkdir(parents=True)
        code = f"{line}\n" if student == "ada" else "raise NotImplementedError()\n"
        notebook.write_text(notebook_with(code), encoding="utf-8")
    ada = folder / "ada" / assignment / f"{assignment}.html"
    ada.write_text(feedback_page(f"def f():\n    {line}\n"), encoding="utf-8")
    assert_no_leaks(folder, submitted=submitted)
    with pytest.raises(AssertionError):
        assert_no_leaks(folder)  # without the submissions, ada's page is a leak

    bob = folder / "bob" / assignment / f"{assignment}.html"
    bob.write_text(feedback_page(f"def f():\n    {line}\n"), encoding="utf-8")
    with pytest.raises(AssertionError) as failure:
        assert_no_leaks(folder, submitted=submitted)
    assert str(bob) in str(failure.value) and str(ada) not in str(failure.value)


def test_assert_no_leaks_needs_a_folder(tmp_path):
    with pytest.raises(AssertionError, match="is not a folder"):
        assert_no_leaks(tmp_path / "missing")


def test_scan_paths_refuses_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_paths([tmp_path / "missing"])


def test_hidden_tests_in_a_submission_are_never_excused(feedback, tmp_path):
    """The instructor's notebook, submitted, excuses its solution lines in the feedback, not
    its hidden tests: those must be gone from everyone's feedback."""
    folder, assignment = feedback
    (source,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    notebook = tmp_path / "submitted" / "ada" / assignment / source.name
    notebook.parent.mkdir(parents=True)
    notebook.write_bytes(source.read_bytes())
    page = folder / "ada" / assignment / f"{assignment}.html"
    solution = first_solution_line(assignment)
    page.write_text(feedback_page(f"def f():\n    {solution.text}\n"), encoding="utf-8")
    assert_no_leaks(folder, submitted=notebook.parents[2])

    hidden = fragments_of(HIDDEN_CELL, assignment=assignment)[0]
    page.write_text(feedback_page(f"{solution.text}\n{hidden.text}\n"), encoding="utf-8")
    with pytest.raises(AssertionError) as failure:
        assert_no_leaks(folder, submitted=notebook.parents[2])
    assert hidden.text in str(failure.value) and solution.text not in str(failure.value)
