"""The committed release is what `make release` generates, and hides what it must."""

from __future__ import annotations

import json

import pytest

from autograder.content import EXERCISES, assignments
from autograder.release import release
from tests.notebooks import released_notebook, solution_notebook


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    target = tmp_path_factory.mktemp("release")
    release(target=target)
    return target


@pytest.mark.parametrize("assignment", assignments())
def test_committed_release_is_up_to_date(assignment, regenerated):
    fresh = sorted((regenerated / assignment).iterdir())
    committed = sorted((EXERCISES / assignment).iterdir())
    assert [p.name for p in fresh] == [p.name for p in committed]
    for new, old in zip(fresh, committed, strict=True):
        assert json.loads(new.read_text()) == json.loads(old.read_text()), (
            f"{old} is out of date: run `make release` and commit exercises/"
        )


@pytest.mark.parametrize("assignment", assignments())
def test_release_holds_no_solution_or_hidden_test(assignment):
    text = "\n".join(cell.source for cell in released_notebook(assignment).cells)
    source = "\n".join(cell.source for cell in solution_notebook(assignment).cells)
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder", "hidden_"):
        assert marker in source, f"{marker!r} not in the source: the check would be vacuous"
        assert marker not in text, f"the release shows {marker!r}"


@pytest.mark.parametrize("assignment", assignments())
def test_release_has_no_outputs(assignment):
    for cell in released_notebook(assignment).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("assignment", assignments())
def test_solution_is_committed_without_outputs(assignment):
    for cell in solution_notebook(assignment).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "clear the solution notebook's outputs before committing"


@pytest.mark.parametrize("assignment", assignments())
def test_every_test_cell_ends_with_its_own_points(assignment):
    """A test cell's output is its score, as nbgrader gives partial credit: the cell must end
    with ``.points(N)`` where N is its points in the metadata (no trailing semicolon, which
    would hide the output from nbgrader), so our grader and stock nbgrader agree."""
    import ast

    for cell in solution_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        tree = ast.parse(cell.source)
        last = tree.body[-1]
        assert isinstance(last, ast.Expr), f"{meta['grade_id']} must end with an expression"
        call = last.value
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        assert call.func.attr == "points", f"{meta['grade_id']} must end with .points(N)"
        assert ast.literal_eval(call.args[0]) == meta["points"], meta["grade_id"]
        assert not cell.source.rstrip().endswith(";"), meta["grade_id"]
