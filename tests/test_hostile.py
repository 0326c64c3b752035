"""Hostile submissions through the real grade command: each trick earns nothing, the batch goes
on, and what can be detected is flagged.

Every hostile notebook starts from a known honest score (the blank release: 0 points, or the
instructor's notebook with one catalogued mistake) and adds one trick; the trick must not raise
the score above the honest one.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from autograder.batch.submissions import student_key
from tests.notebooks import released_notebook, solution_notebook, with_answers, write_submission
from tests.test_grading import autograded, by_student, read_rows, run_grade, total

A = "03-bernoulli-masks"
PWNED = Path("/tmp/dropout-course-hostile-pwned")


def _blank_with(cells: dict[str, str] | None = None, extra: list[str] | None = None):
    """The blank release with answer cells replaced and extra cells appended after setup."""
    nb = released_notebook(A)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cells and grade_id in cells:
            cell.source = cells[grade_id]
    for position, source in enumerate(extra or []):
        nb.cells.insert(2 + position, nbformat.v4.new_code_cell(source))
    return nb


#: Returns what the caller holds as "expected", if any frame above has it.
FRAME_THIEF = """
def bernoulli_mask(shape, p, rng):
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "reference", "want"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    raise NotImplementedError
"""

READ_HIDDEN = """
def bernoulli_mask(shape, p, rng):
    from autograder.content.reference.bernoulli_masks import bernoulli_mask as reference
    return reference(shape, p, rng)
"""

READ_SOLUTIONS = """
def bernoulli_mask(shape, p, rng):
    import glob, json
    for path in glob.glob("/**/solutions/**/*.ipynb", recursive=True):
        for cell in json.load(open(path))["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "bernoulli_mask":
                exec("".join(cell["source"]), globals())
                return globals()["bernoulli_mask"](shape, p, rng)
    raise NotImplementedError
"""

PATCH_COMPARISONS = """
import numpy as np, torch
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
import dropout_course.checks.core as core
core.fail = lambda *a, **k: None
core.allclose = lambda *a, **k: True
"""

ALWAYS_EQUAL = """
class Anything:
    shape = property(lambda self: self._shape)
    dtype = property(lambda self: __import__("numpy").dtype(bool))
    def __init__(self, shape):
        self._shape = shape if isinstance(shape, tuple) else (shape,)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *a, **k):
        import numpy
        return numpy.ones(self._shape)
def bernoulli_mask(shape, p, rng):
    return Anything(shape)
"""

NETWORK = """
def bernoulli_mask(shape, p, rng):
    import socket
    socket.create_connection(("pypi.org", 443), timeout=3)
    return rng.random(shape) >= p
"""

WRITE_OUTSIDE = f"""
for target in ("{PWNED}", "/work/pwned", "/home/pwned", "/opt/grader/harness.py"):
    try:
        open(target, "w").write("pwned")
    except OSError:
        pass
"""

SHADOW_NUMPY = """
open("numpy.py", "w").write("def allclose(*a, **k):\\n    return True\\n")
import importlib, sys
sys.path.insert(0, ".")
"""

INFINITE_IN_FUNCTION = """
def bernoulli_mask(shape, p, rng):
    while True:
        pass
"""

STUBBORN_LOOP = """
def bernoulli_mask(shape, p, rng):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
"""

EXIT_IN_FUNCTION = """
def bernoulli_mask(shape, p, rng):
    import os
    os._exit(3)
"""

MEMORY_HOG = """
def bernoulli_mask(shape, p, rng):
    hog = bytearray(64 * 1024**3)
    return rng.random(shape) >= p
"""

FLOOD = 'print("x" * (50 * 1024 * 1024))\n'

INFINITE_CELL = "while True:\n    pass\n"


def _instructor_with(codes: dict[str, str], extra: list[str] | None = None):
    nb = with_answers(A, codes)
    for position, source in enumerate(extra or []):
        nb.cells.insert(2 + position, nbformat.v4.new_code_cell(source))
    return nb


def _test_cells_edited(nb, source):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = source
    return nb


def _points_raised(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
    return nb


def _tests_deleted(nb):
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _metadata_stripped(nb):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.pop("nbgrader")
            cell.source = "pass"
    return nb


def _setup_patched(nb):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "imports":
            cell.source += "\n" + PATCH_COMPARISONS
    return nb


NEVER_DROPS = "def bernoulli_mask(shape, p, rng):\n    return np.ones(shape, dtype=bool)\n"
#: The honest control for the comparison tricks: a wrong mask that keeps every unit, untricked.
CONTROL = "control-never-drops"


def _never_drops(extra=None):
    return _instructor_with({"bernoulli_mask": NEVER_DROPS}, extra)


#: name -> (notebook, the honest score it must not exceed: a number or the CONTROL's score,
#: flags expected)
HOSTILE = {
    "edits-tests": (lambda: _test_cells_edited(released_notebook(A), "pass"), 0, {"edited_cell"}),
    "raises-points": (lambda: _points_raised(released_notebook(A)), 0, {"changed_points"}),
    "deletes-tests": (lambda: _tests_deleted(released_notebook(A)), 0, {"deleted_cell"}),
    "strips-metadata": (
        lambda: _metadata_stripped(released_notebook(A)),
        0,
        {"deleted_cell"},
    ),
    "patches-setup": (lambda: _setup_patched(_never_drops()), CONTROL, {"edited_cell"}),
    "patches-comparisons": (
        lambda: _never_drops(extra=[PATCH_COMPARISONS]),
        CONTROL,
        {"monkeypatch"},
    ),
    "frame-thief": (lambda: _blank_with({"bernoulli_mask": FRAME_THIEF}), 0, {"grader_probe"}),
    "imports-reference": (
        lambda: _blank_with({"bernoulli_mask": READ_HIDDEN}),
        0,
        {"grader_probe"},
    ),
    "reads-solutions": (
        lambda: _blank_with({"bernoulli_mask": READ_SOLUTIONS}),
        0,
        {"grader_probe"},
    ),
    "always-equal": (lambda: _blank_with({"bernoulli_mask": ALWAYS_EQUAL}), 0, set()),
    "uses-network": (lambda: _blank_with({"bernoulli_mask": NETWORK}), 0, {"system_access"}),
    "writes-outside": (lambda: _blank_with(extra=[WRITE_OUTSIDE]), 0, set()),
    "shadows-numpy": (lambda: _blank_with(extra=[SHADOW_NUMPY]), 0, set()),
}

UNBANS_BUILT_IN_DROPOUT = """
import contextlib

import dropout_course.checks.bernoulli_masks as ban

ban.forbid_built_in_dropout = contextlib.nullcontext


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"p={p} must lie in [0, 1]")
        self.p = p

    def forward(self, x):
        return torch.nn.functional.dropout(x, self.p, self.training)
"""

#: Mutates its input (a contract violation) and rewrites the harness's report of the arguments.
HIDES_A_MUTATION = """
def dropout_forward(x, p, rng, training=True, inverted=True):
    import sys
    if not 0 <= p <= 1:
        raise ValueError(f"p={p} must lie in [0, 1]")
    harness = sys._getframe(1).f_locals.get("self")
    if harness is not None and hasattr(harness, "arg_state"):
        before, report = x.copy(), type(harness).arg_state
        type(harness).arg_state = lambda s, v, _r=report: _r(s, before if v is x else v)
    if not training:
        if not inverted:
            x *= 1 - p
        return x, None
    mask = bernoulli_mask(x.shape, p, rng)
    x *= mask
    if inverted and p < 1:
        x /= 1 - p
    return x, mask
"""

#: Tricks that rewrite, inside the student's own process, what the sandbox reports about a call
#: (a side effect: PyTorch's own dropout called, an argument changed in place). The comparison of
#: results cannot be reached, but these reports can: such tricks are flagged, not blocked.
#: name -> (notebook, flags expected)
FLAGGED_ONLY = {
    "unbans-built-in-dropout": (
        lambda: _instructor_with({"Dropout": UNBANS_BUILT_IN_DROPOUT}),
        {"monkeypatch", "builtin_dropout"},
    ),
    "hides-a-mutation": (
        lambda: _instructor_with({"dropout_forward": HIDES_A_MUTATION}),
        {"grader_probe"},
    ),
}

#: Robustness: the rest of the notebook is graded as usual (the instructor's other answers).
#: name -> (notebook, grade ids that must fail, status of those rows)
RUNAWAY = {
    "loops-forever": (
        lambda: _instructor_with({"bernoulli_mask": INFINITE_IN_FUNCTION}),
        "timeout",
    ),
    "swallows-interrupts": (
        lambda: _instructor_with({"bernoulli_mask": STUBBORN_LOOP}),
        "sandbox_stopped",
    ),
    "exits-in-function": (
        lambda: _instructor_with({"bernoulli_mask": EXIT_IN_FUNCTION}),
        "sandbox_stopped",
    ),
    "hogs-memory": (lambda: _instructor_with({"bernoulli_mask": MEMORY_HOG}), "graded"),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    PWNED.unlink(missing_ok=True)
    for name, (build, *_rest) in {**HOSTILE, **RUNAWAY, **FLAGGED_ONLY}.items():
        write_submission(folder, name, A, build())
    write_submission(folder, CONTROL, A, _never_drops())
    path = write_submission(folder, "numpy-beside", A, released_notebook(A))
    (path.parent / "numpy.py").write_text("def allclose(*a, **k):\n    return True\n")
    write_submission(folder, "floods-output", A, _instructor_with({}, extra=[FLOOD]))
    write_submission(folder, "loops-in-a-cell", A, _instructor_with({}, extra=[INFINITE_CELL]))
    for name in ("$(touch pwned)", "; rm -rf ~ #", 'O\'Brien "the" student', "élève"):
        write_submission(folder, name, A, solution_notebook(A))
    out = tmp_path_factory.mktemp("hostile-out")
    result = run_grade(folder, out, "--timeout", "10", "--memory-mb", "3072")
    assert result.returncode == 0, result.stderr[-3000:]
    with (out / "integrity.csv").open(newline="", encoding="utf-8") as handle:
        flags = list(csv.DictReader(handle))
    return by_student(read_rows(out)), flags, out


def _flags(flags, student):
    return {f["flag"] for f in flags if f["student"] == student}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_trick_earns_nothing_and_is_flagged(hostile, name):
    grades, flags, _ = hostile
    _, honest, expected_flags = HOSTILE[name]
    rows = grades[name][A]
    score, maximum = total(rows)
    if honest == CONTROL:
        honest = total(grades[CONTROL][A])[0]
        assert honest < maximum  # the control really is wrong
    assert score <= honest, [(r["grade_id"], r["score"], r["message"]) for r in rows]
    assert maximum == total(grades["$(touch pwned)"][A])[1]  # its maximum was not raised
    assert expected_flags <= _flags(flags, name), _flags(flags, name)


@pytest.mark.parametrize("name", sorted(FLAGGED_ONLY))
def test_trick_that_rewrites_the_sandbox_reports_is_flagged(hostile, name):
    grades, flags, _ = hostile
    _, expected_flags = FLAGGED_ONLY[name]
    assert all(r["status"] == "graded" for r in autograded(grades[name][A]))
    assert expected_flags <= _flags(flags, name), _flags(flags, name)


def test_a_file_beside_the_notebook_is_never_used(hostile):
    grades, _, _ = hostile
    assert total(grades["numpy-beside"][A])[0] == 0


def test_nothing_was_written_outside_the_sandbox(hostile):
    assert not PWNED.exists()
    assert not Path("/work/pwned").exists() and not Path("/home/pwned").exists()
    assert "pwned" not in (Path(__file__).parents[1] / "autograder/guest/harness.py").read_text()


def test_student_names_are_data(hostile):
    grades, _, out = hostile
    for name in ("$(touch pwned)", "; rm -rf ~ #", 'O\'Brien "the" student', "élève"):
        score, maximum = total(grades[name][A])
        assert score == maximum > 0, name
        assert (out / "feedback" / student_key(name) / A / f"{A}.html").is_file()
    assert not Path("pwned").exists() and not (Path.home() / "pwned").exists()


@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_runaway_code_fails_its_own_tests_and_the_rest_is_graded(hostile, name):
    grades, _, _ = hostile
    status = RUNAWAY[name][1]
    rows = autograded(grades[name][A])
    own = [r for r in rows if r["grade_id"].endswith("_bernoulli_mask")]
    others = [r for r in rows if not r["grade_id"].endswith("bernoulli_mask")]
    assert all(float(r["score"]) == 0 for r in own), own
    assert any(r["status"] == status for r in own), [(r["status"], r["message"]) for r in own]
    # dropout_forward calls bernoulli_mask; Dropout and predict do not, and keep their points.
    independent = [r for r in others if not r["grade_id"].endswith("dropout_forward")]
    assert independent and all(r["score"] == r["max_score"] for r in independent), [
        (r["grade_id"], r["score"], r["status"], r["message"]) for r in independent
    ]


def test_output_flood_is_truncated_and_graded(hostile):
    grades, _, out = hostile
    rows = autograded(grades["floods-output"][A])
    assert all(r["status"] == "output_truncated" for r in rows)
    score, maximum = total(rows)
    assert score == maximum
    page = (out / "feedback" / "floods-output" / A / f"{A}.html").read_text("utf-8")
    assert "only the first" in page


def test_a_cell_that_never_ends_is_interrupted_and_the_rest_graded(hostile):
    grades, _, out = hostile
    score, maximum = total(grades["loops-in-a-cell"][A])
    assert score == maximum
    page = (out / "feedback" / "loops-in-a-cell" / A / f"{A}.html").read_text("utf-8")
    assert "TimeLimit" in page or "longer than" in page


def test_each_test_starts_from_the_same_global_state():
    """A previous student's code may have left autograd off or a generator moved in this
    worker; the next test must not notice (grades independent of order and company)."""
    import numpy as np
    import torch

    from autograder.content import SOLUTIONS, spec
    from autograder.notebook import grade as engine

    tests = engine.Tests(spec.Layout.read(SOLUTIONS / A / f"{A}.ipynb"))
    probe = spec.TestCell(
        "probe",
        1.0,
        "import numpy as np, torch\n"
        "assert torch.is_grad_enabled()\n"
        "print(np.random.rand(), torch.rand(1).item())\n",
        False,
    )
    tests.code["probe"] = engine._compiled("probe", probe.source)
    outputs = []
    for _ in range(2):
        torch.set_grad_enabled(False)
        np.random.rand(5)  # noqa: NPY002 - moving the global state on purpose
        torch.rand(3)
        score, message, output = tests.run(dict(tests.setup), probe)
        assert score == 1.0, message
        outputs.append(output)
    torch.set_grad_enabled(True)
    assert outputs[0] == outputs[1]
