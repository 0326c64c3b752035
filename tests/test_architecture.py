"""ARCHITECTURE.md is the map of the code: these tests fail when the map and the tree disagree.

The code map must name only paths that exist and must name every package and module of
``autograder`` and ``dropout_course``; the folders organised by topic hold only modules named by
a chapter's key; each layer imports only the layers the map allows; and every function's body
stays within the size the project keeps to.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAP = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
PACKAGES = ("autograder", "dropout_course")

#: The folders with one module per topic, and the modules in them that belong to no topic.
KEYED = {
    "dropout_course/checks": {"core", "independence"},
    "dropout_course/experiments": set(),
    "dropout_course/widgets": set(),
    "autograder/content/reference": set(),
    "autograder/content/hidden": set(),
    "tests/catalogue": {"entries"},
}

#: What each layer may import (ARCHITECTURE.md, "Which layer may import which"); a layer is a
#: subpackage of autograder, dropout_course's experiments or widgets (the website's: its
#: experiments compute with the instructor's answers), or the rest of dropout_course.
ALLOWED = {
    "dropout_course": set(),
    "dropout_course/experiments": {
        "dropout_course",
        "dropout_course/widgets",
        "autograder/content",
    },  # fmt: skip
    "dropout_course/widgets": {"dropout_course", "dropout_course/experiments"},
    "autograder/content": {"dropout_course"},
    "autograder/guest": {"dropout_course"},
    "autograder/host": {
        "autograder/guest",
        "autograder/content",
        "autograder/errors",
        "dropout_course",
    },  # fmt: skip
    "autograder/notebook": {
        "autograder/host",
        "autograder/content",
        "autograder/status",
        "autograder/text",
        "dropout_course",
    },  # fmt: skip
    "autograder/batch": {
        "autograder/notebook",
        "autograder/host",
        "autograder/content",
        "autograder/status",
        "autograder/text",
        "autograder/errors",
    },  # fmt: skip
    "autograder/release": {"autograder/content", "autograder/host", "autograder/errors"},
}

#: Most lines a function's body may take (its docstring aside).
MAX_BODY_LINES = 60


def keys() -> set[str]:
    """The chapters' keys: ``05-max-norm`` -> ``max_norm``."""
    return {
        re.sub(r"^\d+-", "", p.stem).replace("-", "_")
        for p in (REPO / "book").glob("[0-9][0-9]-*.md")
    }


def named_paths() -> set[str]:
    """Every path the map names in backquotes (templates such as ``<key>`` left out)."""
    found = set()
    for token in re.findall(r"`([^`\s]+)`", MAP):
        if "<" in token or "*" in token or "NN" in token:
            continue
        if "/" in token or token.endswith((".py", ".md", ".yml", ".bib")):
            found.add(token.rstrip("/"))
    return found


def python_files(*roots: str):
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def test_every_path_the_map_names_exists():
    missing = sorted(p for p in named_paths() if "/" in p and not (REPO / p).exists())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_map_names_every_package_and_module():
    names = named_paths()
    unnamed = []
    for path in python_files(*PACKAGES):
        relative = path.relative_to(REPO)
        folder = relative.parent.as_posix()
        if path.name == "__init__.py":
            if folder not in names:
                unnamed.append(f"{folder}/")
        elif folder not in KEYED and relative.as_posix() not in names and path.name not in names:
            unnamed.append(relative.as_posix())
    assert not unnamed, f"ARCHITECTURE.md's code map does not name: {unnamed}"


@pytest.mark.parametrize("folder", sorted(KEYED))
def test_topic_folders_hold_only_modules_named_by_a_key(folder):
    modules = {p.stem for p in (REPO / folder).glob("*.py")} - {"__init__"}
    strays = sorted(modules - keys() - KEYED[folder])
    assert not strays, f"{folder} holds modules named by no chapter's key: {strays}"


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "dropout_course":
        website = parts[1:2] in (["experiments"], ["widgets"])
        return f"dropout_course/{parts[1]}" if website else "dropout_course"
    if parts[0] == "autograder" and len(parts) > 1:
        return f"autograder/{parts[1]}"
    return None


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports, relative imports resolved."""
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.add(node.module or "")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_the_map_allows(layer):
    wrong = set()
    for path in python_files(layer.split("/")[0] if layer.startswith("dropout") else layer):
        if _layer(".".join(path.relative_to(REPO).with_suffix("").parts)) != layer:
            continue  # a file of another layer inside this one's folder
        for module in _imports(path):
            target = _layer(module)
            if target and target != layer and target not in ALLOWED[layer]:
                wrong.add(f"{path.relative_to(REPO)} imports {module}")
    assert not wrong, sorted(wrong)


def test_no_function_body_is_longer_than_the_rule():
    long = []
    for path in python_files(*PACKAGES, "tests", "benchmarks"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                if body and body[-1].end_lineno - body[0].lineno + 1 > MAX_BODY_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not long, f"functions longer than {MAX_BODY_LINES} lines: {long}"


def test_the_map_is_short_enough_to_read():
    assert len(MAP.splitlines()) < 250
