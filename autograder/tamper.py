"""Spotting tricks in a submission's code, for the integrity flags.

None of these tricks can earn points: the student's code runs in a sandbox without the tests,
and the checks that decide the grade run in the grader's process. The flags tell the instructor
that a trick was tried, so that it is a conversation rather than a silent zero.
"""

from __future__ import annotations

import ast

#: Modules whose attributes a submission has no business reassigning.
LIBRARIES = {"np", "numpy", "torch", "nn", "F", "builtins", "dropout_course", "checks", "sys"}
#: Reading the caller's frames or the interpreter's objects.
INTROSPECTION = {"_getframe", "settrace", "setprofile", "f_back", "f_locals", "f_globals",
                 "__code__", "get_objects", "get_referrers", "currentframe", "stack"}  # fmt: skip
SYSTEM = {"socket", "subprocess", "urllib", "requests", "http", "ctypes", "multiprocessing"}
BUILT_IN_DROPOUTS = {"dropout", "dropout_", "Dropout", "alpha_dropout", "feature_dropout"}


def _root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def scan(source: str, cell_name: str = "") -> list[tuple[str, str]]:
    """Return (flag, detail) pairs for the tricks found in one cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: dict[tuple[str, str], None] = {}

    def add(flag: str, detail: str) -> None:
        found[flag, detail] = None

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                modules.append(node.module or "")
            for module in modules:
                top = module.split(".")[0]
                if top == "autograder":
                    add("grader_probe", f"imports {module} (the grader's own package)")
                elif top in ("inspect", "gc"):
                    add("grader_probe", f"imports {module} (inspects the interpreter)")
                elif top in SYSTEM:
                    add("system_access", f"imports {module}")
        elif isinstance(node, ast.Attribute) and node.attr in INTROSPECTION:
            add("grader_probe", f"uses .{node.attr} (reads frames or interpreter objects)")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and _root(target) in LIBRARIES:
                    add("monkeypatch", f"reassigns {ast.unparse(target)}")
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if name == "setattr" and node.args and _root(node.args[0]) in LIBRARIES:
                add("monkeypatch", f"calls setattr on {ast.unparse(node.args[0])}")
            if name in ("exec", "eval", "__import__"):
                add("grader_probe", f"calls {name}()")
            attribute = node.func.attr if isinstance(node.func, ast.Attribute) else name
            if cell_name == "Dropout" and attribute in BUILT_IN_DROPOUTS:
                add("builtin_dropout", f"Dropout calls {ast.unparse(node.func)}")
            if attribute in ("system", "popen", "fork", "execv", "kill"):
                add("system_access", f"calls {ast.unparse(node.func)}")
    return list(found)
