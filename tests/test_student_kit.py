"""The student kit holds what a student needs to run the exercises, and nothing of the
instructor's."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import zipfile

import pytest

from autograder.content import assignments
from dropout_course.student_kit import KIT_NAME, build
from tests.notebooks import released_notebook, solution_notebook


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kit")
    archive = build(folder / "kit.zip")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    return archive, folder / KIT_NAME


def test_kit_holds_every_release_and_no_instructor_material(kit):
    archive, _ = kit
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        text = "\n".join(zf.read(n).decode("utf-8") for n in names)
    for assignment in assignments():
        assert f"{KIT_NAME}/exercises/{assignment}/{assignment}.ipynb" in names
    assert not any("autograder" in n or "solutions" in n for n in names)
    # The chapters' experiment code implements some exercises (a NumPy backward pass).
    assert not any("/experiments/" in n or n.endswith("dropout_course/training.py") for n in names)
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from autograder"):
        assert marker not in text


def test_kit_is_reproducible(kit, tmp_path):
    archive, _ = kit
    assert build(tmp_path / "again.zip").read_bytes() == archive.read_bytes()


@pytest.mark.parametrize("assignment", assignments())
def test_visible_tests_run_from_the_kit_alone(kit, assignment):
    """The released notebook, with the instructor's answers typed in, passes its visible tests
    using the kit's copy of dropout_course."""
    _, folder = kit
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution_notebook(assignment).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    cells = []
    for cell in released_notebook(assignment).cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        source = answers.get(meta.get("grade_id"), cell.source)
        if meta.get("grade") and source.strip().endswith(")"):
            # A visible test: its last expression is the cell's score, as Jupyter would show it.
            tree = ast.parse(source)
            source = (
                ast.unparse(ast.Module(tree.body[:-1], type_ignores=[]))
                + f"\nscore = {ast.unparse(tree.body[-1].value)}\n"
                "assert score.earned == score.total, score.message\n"
                "print(score.verdict.summary())"
            )
        cells.append(source)
    program = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        import dropout_course
        assert dropout_course.__file__.startswith({str(folder)!r}), dropout_course.__file__
        """
    ) + "\n".join(cells)
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keeps the contract" in result.stdout
