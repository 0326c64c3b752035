"""Spotting tricks in a submission's code, for the integrity flags.

The student's code runs in a sandbox without the tests, and the checks that decide the grade run
in the grader's process, so most tricks earn nothing and the flag tells the instructor that one
was tried. Code that rewrites what the sandbox's harness reports about a call's side effects
(an argument changed in place, PyTorch's own dropout called) can earn points: there the flag
is the only sign, and the notebook should be looked at by hand.

The scan reads the code, it does not run it: a name imported under an alias is followed
(``import numpy as n; n.allclose = ...`` is a monkeypatch of NumPy), but code built at run time
(strings passed to ``getattr``) is only caught where the grader's checks catch its effect.
"""

from __future__ import annotations

import ast

#: Modules (top-level packages, and the names courses import them as) whose attributes a
#: submission has no business reassigning.
LIBRARIES = {"numpy", "torch", "builtins", "dropout_course", "sys", "wire", "harness", "IPython"}
LIBRARY_NAMES = {"np", "nn", "F", "checks", *LIBRARIES}
#: Modules of the grader's own, or of the sandbox's harness: a notebook never needs them.
GRADER_MODULES = {"autograder", "wire", "harness", "__main__"}
#: Reading the caller's frames or the interpreter's objects.
INTROSPECTION = {"_getframe", "settrace", "setprofile", "f_back", "f_locals", "f_globals",
                 "__code__", "get_objects", "get_referrers", "currentframe"}  # fmt: skip
#: Names that read frames only as attributes of ``inspect`` (``np.stack`` and ``torch.stack``
#: join arrays).
INSPECT_ONLY = {"stack", "trace", "getouterframes", "getinnerframes"}
#: Switching off the hooks through which PyTorch reports which function ran.
TORCH_HOOKS = {"DisableTorchFunction", "DisableTorchFunctionSubclass", "_disable_torch_function",
               "_pop_torch_function_stack", "_pop_mode", "TorchFunctionMode"}  # fmt: skip
SYSTEM = {"socket", "subprocess", "urllib", "requests", "http", "ctypes", "multiprocessing"}
#: PyTorch's own dropout, by every public or internal name a from-scratch Dropout might reach.
BUILT_IN_DROPOUTS = {"dropout", "dropout_", "Dropout", "alpha_dropout", "feature_dropout",
                     "feature_alpha_dropout", "native_dropout", "dropout1d", "dropout2d",
                     "dropout3d", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                     "FeatureAlphaDropout"}  # fmt: skip


def _root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted module or attribute it was imported as."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                names[local] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _is_library(name: str, aliases: dict[str, str]) -> bool:
    """Whether the local ``name`` stands for one of the protected libraries."""
    if name in aliases:
        return aliases[name].split(".")[0] in LIBRARIES
    return name in LIBRARY_NAMES


def scan(source: str, cell_name: str = "") -> list[tuple[str, str]]:
    """Return (flag, detail) pairs for the tricks found in one cell's source (a built-in dropout
    only in the cell that defines ``Dropout``)."""
    tree = _parsed(source)
    if tree is None:
        return []
    aliases = _aliases(tree)
    found: dict[tuple[str, str], None] = {}
    for node in ast.walk(tree):
        for flag, detail in _node_flags(node, aliases):
            if flag != "builtin_dropout" or cell_name == "Dropout":
                found[flag, detail] = None
    return list(found)


def _node_flags(node: ast.AST, aliases: dict[str, str]):
    """The (flag, detail) pairs of one syntax node."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield from _import_flags(node)
    elif isinstance(node, ast.Attribute):
        yield from _attribute_flags(node, aliases)
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and _is_library(_root(target), aliases):
                yield "monkeypatch", f"reassigns {ast.unparse(target)}"
    elif isinstance(node, ast.Call):
        yield from _call_flags(node, aliases)


def _import_flags(node: ast.Import | ast.ImportFrom):
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
    if isinstance(node, ast.ImportFrom):
        modules.append(node.module or "")
        if (node.module or "").split(".")[0] == "torch":
            for alias in node.names:
                if alias.name in BUILT_IN_DROPOUTS:
                    named = f" as {alias.asname}" if alias.asname else ""
                    yield (
                        "builtin_dropout",
                        (f"Dropout imports {alias.name} from {node.module}{named}"),
                    )
    for module in modules:
        top = module.split(".")[0]
        if top in GRADER_MODULES:
            yield "grader_probe", f"imports {module} (the grader's own code)"
        elif top in ("inspect", "gc"):
            yield "grader_probe", f"imports {module} (inspects the interpreter)"
        elif top in SYSTEM:
            yield "system_access", f"imports {module}"


def _attribute_flags(node: ast.Attribute, aliases: dict[str, str]):
    root = _root(node)
    inspecting = node.attr in INSPECT_ONLY and aliases.get(root, root).startswith("inspect")
    if node.attr in INTROSPECTION or inspecting:
        yield "grader_probe", f"uses .{node.attr} (reads frames or interpreter objects)"
    elif node.attr in TORCH_HOOKS:
        yield "grader_probe", f"uses .{node.attr} (switches off PyTorch's function hooks)"
    elif node.attr == "modules" and root == "sys":
        yield "grader_probe", "reads sys.modules (reaches the grader's harness)"
    elif node.attr in BUILT_IN_DROPOUTS and _is_library(_root(node), aliases):
        yield "builtin_dropout", f"Dropout uses {ast.unparse(node)}"


def _call_flags(node: ast.Call, aliases: dict[str, str]):
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if name in ("setattr", "delattr") and node.args:
        if _is_library(_root(node.args[0]), aliases):
            yield "monkeypatch", f"calls {name} on {ast.unparse(node.args[0])}"
    if name in ("exec", "eval", "__import__"):
        yield "grader_probe", f"calls {name}()"
    attribute = node.func.attr if isinstance(node.func, ast.Attribute) else name
    if attribute in ("system", "popen", "fork", "execv", "kill"):
        yield "system_access", f"calls {ast.unparse(node.func)}"


def defined_names(source: str, imports: bool = True) -> set[str]:
    """The names a cell binds at its top level: functions, classes, assignments, and (if
    ``imports``) imports."""
    tree = _parsed(source)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _parsed(source: str) -> ast.AST | None:
    """The cell's syntax tree, or None for code Python cannot parse (a syntax error, null bytes,
    nesting deep enough to exhaust the parser): such a cell only fails in its own sandbox."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
