"""The static scan behind the integrity flags: each trick is named, honest code never is."""

from __future__ import annotations

import pytest

from autograder.content import assignments
from autograder.notebook.tamper import scan
from tests.catalogue import CORRECT
from tests.notebooks import solution_notebook

#: (cell name, source, flag expected, words its detail must contain)
TRICKS = [
    ("", "import numpy as n\nn.allclose = lambda *a, **k: True\n", "monkeypatch", "n.allclose"),
    (
        "",
        "import dropout_course.checks.bernoulli_masks as td\n"
        "td.forbid_built_in_dropout = lambda: None\n",
        "monkeypatch",
        "td.forbid_built_in_dropout",
    ),
    (
        "",
        "from dropout_course.checks import core\nsetattr(core, 'fail', print)\n",
        "monkeypatch",
        "setattr on core",
    ),
    ("", "import torch as t\ndelattr(t, 'allclose')\n", "monkeypatch", "delattr on t"),
    ("", "np.testing.assert_allclose = print\n", "monkeypatch", "np.testing.assert_allclose"),
    ("", "import wire\n", "grader_probe", "imports wire"),
    ("", "import __main__\n", "grader_probe", "imports __main__"),
    (
        "",
        "from autograder.content.reference import bernoulli_masks\n",
        "grader_probe",
        "autograder.content.reference",
    ),
    ("", "import sys\nharness = sys.modules['wire']\n", "grader_probe", "sys.modules"),
    ("", "import sys\nf = sys._getframe(1)\n", "grader_probe", "_getframe"),
    ("", "from inspect import stack as s\nframes = s()\n", "grader_probe", "inspect"),
    ("", "import inspect as i\nframes = i.stack()\n", "grader_probe", "uses .stack"),
    (
        "",
        "import torch\nwith torch._C.DisableTorchFunction():\n    pass\n",
        "grader_probe",
        "DisableTorchFunction",
    ),
    ("", "import socket\n", "system_access", "socket"),
    ("", "import os\nos.system('true')\n", "system_access", "os.system"),
    (
        "Dropout",
        "from torch.nn.functional import dropout as thin\n"
        "class Dropout(nn.Module):\n    def forward(self, x):\n        return thin(x)\n",
        "builtin_dropout",
        "imports dropout from torch.nn.functional as thin",
    ),
    (
        "Dropout",
        "class Dropout(nn.Module):\n    def __init__(self, p):\n"
        "        super().__init__()\n        self.inner = nn.Dropout(p)\n",
        "builtin_dropout",
        "nn.Dropout",
    ),
    (
        "Dropout",
        "import torch as T\nclass Dropout(nn.Module):\n"
        "    def forward(self, x):\n        return T.native_dropout(x, 0.5, True)[0]\n",
        "builtin_dropout",
        "T.native_dropout",
    ),
]


@pytest.mark.parametrize(("cell", "source", "flag", "words"), TRICKS)
def test_each_trick_is_named(cell, source, flag, words):
    found = scan(source, cell)
    assert any(kind == flag and words in detail for kind, detail in found), found


def test_built_in_dropout_is_only_a_trick_in_the_dropout_cell():
    """Exercises that build models may use nn.Dropout; only the from-scratch module may not."""
    source = "model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\n"
    assert scan(source, "ablation_damage") == []
    assert scan(source, "Dropout") != []


def _instructor_answers():
    for assignment in assignments():
        for cell in solution_notebook(assignment).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution"):
                yield meta["grade_id"], cell.source


@pytest.mark.parametrize(
    ("cell", "source"),
    [(e.grade_id, e.code) for e in CORRECT] + list(_instructor_answers()),
    ids=[e.name for e in CORRECT] + [g for g, _ in _instructor_answers()],
)
def test_honest_code_is_never_flagged(cell, source):
    assert scan(source, cell) == []
