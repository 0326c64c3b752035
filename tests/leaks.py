"""Leak detection: does anything handed to students contain the instructor's code?

The secrets are *derived* from the instructor's material, never written down here:

- ``solution``: the lines of each answer cell (nbgrader ``solution: true``) of ``solutions/``
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
- ``hidden-cell``: the lines of each test cell of ``solutions/`` between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
- ``hidden`` and ``reference``: the code lines of ``autograder/content/hidden/*.py`` and
  ``autograder/content/reference/*.py`` (docstrings excluded).

Only distinctive lines become fragments. Skipped: blank lines, comments (and trailing
comments), docstrings, ``return`` statements of names only, lines that are only a string (a
line of a failure message, which students are meant to read, or a name in ``__all__``), lines
shorter than :data:`MIN_LENGTH` characters, and every line that is public anyway, i.e. found
(as :func:`find_leaks` would find it) in the public text:

- the instructor's notebooks *outside* the marked regions, which is what a correct release
  shows. (Not the committed release itself: a fragment filtered out because it is in
  ``exercises/`` could never be found there, and scanning the release would prove nothing);
- the part of the ``dropout_course`` package that students get, as the student kit ships it
  (``student_kit.KIT_MODULES``: the checks that the visible tests call). The chapters'
  experiments are not public in this sense: the kit withholds them because some implement the
  exercises.

Matching is on whitespace-normalised text. A scanned text is searched in several views, so
that code is found however it was written out: as is; with HTML entities unescaped and HTML
tags removed (code highlighted by Pygments is split into ``<span>`` elements); with ANSI colour
codes removed (tracebacks); as the strings of a JSON document (notebooks); with JavaScript
string escapes undone.
"""

from __future__ import annotations

import ast
import functools
import html
import io
import json
import re
import string
import tokenize
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
HIDDEN = ROOT / "autograder" / "content" / "hidden"
REFERENCE = ROOT / "autograder" / "content" / "reference"
PACKAGE = ROOT / "dropout_course"

#: Lines shorter than this (after stripping) are too common to be evidence of a leak.
MIN_LENGTH = 25

#: The kinds of fragment, by where they come from.
SOLUTION = "solution"
HIDDEN_CELL = "hidden-cell"
HIDDEN_MODULE = "hidden"
REFERENCE_MODULE = "reference"
KINDS = (SOLUTION, HIDDEN_CELL, HIDDEN_MODULE, REFERENCE_MODULE)

#: nbgrader's markers: (begin, end, the kind of fragment between them).
REGIONS = (
    ("### BEGIN SOLUTION", "### END SOLUTION", SOLUTION),
    ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", HIDDEN_CELL),
)

#: Files never read as text (images, fonts, compiled translations, ...).
BINARY_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .ico .webp .bmp .pdf .woff .woff2 .ttf .otf .eot .mo .pickle "
    ".doctree .inv .db .sqlite .pyc .gz .tar .npz .npy .pt".split()
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TAG = re.compile(r"<[^<>]*>")
#: Words are what is left between whitespace and ASCII punctuation (bytes: fast to split on).
_SEPARATORS = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))
#: A ``return`` of names only (``return best_epoch, epoch``): it says nothing of the answer.
_TRIVIAL_RETURN = re.compile(r"return\b[\s\w.,]*$")
_JS_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_JS_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True, order=True)
class Fragment:
    """A distinctive line of the instructor's material, and where it comes from."""

    text: str  # whitespace-normalised
    kind: str  # one of KINDS
    path: str  # relative to the repository
    line: int  # 1-based: in the file, or in the cell for a notebook
    cell: str = ""  # a notebook's cell: its nbgrader grade_id (or its index)

    @property
    def assignment(self) -> str:
        """The assignment folder of a fragment from ``solutions/`` (else ``""``)."""
        parts = Path(self.path).parts
        return parts[1] if parts[0] == "solutions" and len(parts) > 2 else ""

    @property
    def origin(self) -> str:
        where = f"cell {self.cell!r}, line {self.line}" if self.cell else f"line {self.line}"
        return f"{self.path}, {where} [{self.kind}]"

    def __str__(self) -> str:
        return f"{self.origin}: {self.text}"


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space."""
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Reading code: lines without comments or docstrings
# --------------------------------------------------------------------------------------------


def _docstring_lines(source: str) -> set[int]:
    """The 1-based numbers of the lines that belong to docstrings (none if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                lines.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return lines


def code_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, code)`` for each line of ``source``: comments cut, docstrings blanked.

    Falls back to cutting whole-line comments only when ``source`` does not tokenize.
    """
    lines = source.splitlines()
    comment_at: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comment_at[token.start[0]] = token.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comment_at = {n: 0 for n, line in enumerate(lines, 1) if line.lstrip().startswith("#")}
    docstrings = _docstring_lines(source)
    result = []
    for number, line in enumerate(lines, 1):
        if number in docstrings:
            line = ""
        elif number in comment_at:
            line = line[: comment_at[number]]
        result.append((number, line))
    return result


def _is_text(code: str) -> bool:
    """Whether a line is nothing but a string (a line of a message, an entry of ``__all__``) or
    a literal value (a list of numbers a failure message quotes back as the input it used):
    words and data meant for students' eyes, not code."""
    try:
        tree = ast.parse(code.removesuffix(","), mode="eval")
    except SyntaxError:
        return False
    body = tree.body
    if isinstance(body, ast.JoinedStr):
        return True
    try:
        ast.literal_eval(body)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True


def is_distinctive(code: str) -> bool:
    """Whether a line of code (comments already cut) is worth looking for."""
    code = code.strip()
    if len(code) < MIN_LENGTH or code.startswith("#") or _TRIVIAL_RETURN.match(code):
        return False
    return not _is_text(code)


# --------------------------------------------------------------------------------------------
# The secrets and the public text
# --------------------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("*/*.ipynb"))


def _regions(source: str) -> Iterator[tuple[str, int, int]]:
    """``(kind, first line, last line)`` (1-based, markers excluded) of each marked region."""
    lines = source.splitlines()
    for begin, end, kind in REGIONS:
        start = None
        for number, line in enumerate(lines, 1):
            if line.strip() == begin:
                start = number + 1
            elif line.strip() == end and start is not None:
                yield kind, start, number - 1
                start = None


def _cell_name(cell, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"


def _notebook_parts(path: Path) -> tuple[str, list[Fragment]]:
    """The public text of an instructor's notebook (everything outside the marked regions) and
    the candidate fragments inside them (before the public text is taken into account)."""
    nb = nbformat.read(path, as_version=4)
    public: list[str] = []
    candidates: list[Fragment] = []
    for index, cell in enumerate(nb.cells):
        source = cell.source
        meta = cell.metadata.get("nbgrader", {})
        secret_lines: set[int] = set()
        if cell.cell_type == "code":
            for kind, first, last in _regions(source):
                if kind == SOLUTION and not meta.get("solution"):
                    continue  # nbgrader strips solution regions of answer cells only
                secret_lines.update(range(first - 1, last + 2))  # the markers too
                for number, code in code_lines(source)[first - 1 : last]:
                    if is_distinctive(code):
                        candidates.append(
                            Fragment(
                                normalise(code), kind, _rel(path), number, _cell_name(cell, index)
                            )
                        )
        public += [line for n, line in enumerate(source.splitlines(), 1) if n not in secret_lines]
    return "\n".join(public), candidates


def _module_candidates(folder: Path, kind: str) -> list[Fragment]:
    candidates = []
    for path in sorted(folder.glob("*.py")):
        for number, code in code_lines(path.read_text(encoding="utf-8")):
            if is_distinctive(code):
                candidates.append(Fragment(normalise(code), kind, _rel(path), number))
    return candidates


def public_package_files() -> list[Path]:
    """The files of ``dropout_course`` that students get (those the student kit ships)."""
    from dropout_course.student_kit import KIT_MODULES

    return sorted({path for pattern in KIT_MODULES for path in PACKAGE.glob(pattern)})


@functools.cache
def _derive() -> tuple[tuple[Fragment, ...], tuple[Fragment, ...]]:
    """(the fragments, the candidates dropped because they are public)."""
    public_texts = [path.read_text(encoding="utf-8") for path in public_package_files()]
    candidates: list[Fragment] = []
    for path in _notebooks():
        text, found = _notebook_parts(path)
        public_texts.append(text)
        candidates += found
    candidates += _module_candidates(HIDDEN, HIDDEN_MODULE)
    candidates += _module_candidates(REFERENCE, REFERENCE_MODULE)
    public = _Index(candidates)
    is_public = {
        f.text for text in public_texts for view in views(text) for f in public.search(view)
    }
    kept = tuple(f for f in candidates if f.text not in is_public)
    dropped = tuple(f for f in candidates if f.text in is_public)
    return kept, dropped


def secret_fragments() -> list[Fragment]:
    """Every fragment of the instructor's material that must not reach a student."""
    return list(_derive()[0])


def public_candidates() -> list[Fragment]:
    """The distinctive lines of the instructor's material that are public anyway (so they are
    not fragments): for the report, and to keep this filter honest."""
    return list(_derive()[1])


# --------------------------------------------------------------------------------------------
# Searching
# --------------------------------------------------------------------------------------------


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JavaScript escapes may give lone surrogates


@dataclass
class _Index:
    """Fragments grouped by text, each with the words a text must contain to hold it."""

    fragments: Iterable[Fragment]
    by_text: dict[str, list[Fragment]] = field(init=False)
    needs: dict[bytes, tuple[str, frozenset[bytes]]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_text = defaultdict(list)
        for fragment in self.fragments:
            self.by_text[fragment.text].append(fragment)
        # The first and last words may be glued to their neighbours in a scanned text (line
        # numbers, removed tags): only the inner words are certain to appear as words.
        self.needs = {}
        for text in self.by_text:
            encoded = _bytes(text)
            words = encoded.translate(_SEPARATORS).split()[1:-1]
            self.needs[encoded] = (text, frozenset(words))

    def search(self, text: str) -> list[Fragment]:
        """The fragments found in an already prepared (normalised) view of a text."""
        encoded = _bytes(text)
        words = set(encoded.translate(_SEPARATORS).split())
        return [
            fragment
            for candidate, (key, need) in self.needs.items()
            if need <= words and candidate in encoded
            for fragment in self.by_text[key]
        ]


@functools.cache
def _secret_index() -> _Index:
    return _Index(secret_fragments())


def _js_unescape(text: str) -> str:
    def replace(match: re.Match) -> str:
        code = match.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _JS_SIMPLE.get(code, code)

    return _JS_ESCAPE.sub(replace, text)


def _json_strings(value) -> Iterator[str]:
    """Every string of a JSON document (a list of strings, like a notebook's source, joined)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            yield "".join(value)
        else:
            for item in value:
                yield from _json_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)


def views(text: str) -> list[str]:
    """The normalised views of ``text`` in which fragments are looked for."""
    raw = _ANSI.sub("", text)
    found = [raw]
    try:
        found.append("\n".join(_json_strings(json.loads(raw))))
    except ValueError:
        if "\\" in raw:
            found.append(_js_unescape(raw))
    more = []
    for view in found:
        if "&" in view:
            more.append(html.unescape(view))
        if "<" in view:
            more.append(html.unescape(_TAG.sub("", view)))
    return list(dict.fromkeys(normalise(view) for view in found + more if view))


def find_leaks(text: str) -> list[Fragment]:
    """The fragments that ``text`` contains, in any of its views."""
    index = _secret_index()
    found: dict[str, list[Fragment]] = {}
    for view in views(text):
        for fragment in index.search(view):
            found.setdefault(fragment.text, index.by_text[fragment.text])
    return sorted(f for fragments in found.values() for f in fragments)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _texts(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of a file's content, and of each member of a zip, recursively."""
    if name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            pass
        else:
            with archive:
                for member in archive.namelist():
                    if not member.endswith("/"):
                        yield from _texts(f"{name}!{member}", archive.read(member))
            return
    if Path(name).suffix.lower() in BINARY_SUFFIXES or b"\0" in data:
        return
    try:
        yield name, data.decode("utf-8")
    except UnicodeDecodeError:
        return


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"nothing to scan at {path}")


def scan_texts(paths: Iterable[Path | str]) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of every text file under ``paths`` (zip members named ``zip!member``)."""
    for path in _files(paths):
        yield from _texts(str(path), path.read_bytes())


def scan_paths(paths: Iterable[Path | str]) -> list[tuple[str, Fragment]]:
    """``(file, fragment)`` for every fragment in the files under ``paths`` (files or folders).

    Every file that is text is read (notebooks, HTML, Python, JavaScript, JSON, CSV, ...), and
    every member of a zip; a member is named ``archive.zip!member``.
    """
    return [(name, f) for name, text in scan_texts(paths) for f in find_leaks(text)]


def describe(leaks: Iterable[tuple[str, Fragment]], limit: int = 40) -> str:
    """A failure message: what leaked where, and where it comes from."""
    leaks = list(leaks)
    lines = [f"{name}: {fragment.text!r}\n    from {fragment.origin}" for name, fragment in leaks]
    more = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))


def _without_hidden_tests(name: str, text: str) -> str:
    """A submitted notebook without its hidden-test regions (an instructor's notebook has them):
    the grader runs the instructor's test cells and feedback must never show their hidden part,
    whoever submitted them."""
    if not name.endswith(".ipynb"):
        return text
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable submission: read as it is
        return text
    for cell in nb.cells:
        lines = cell.source.splitlines()
        for kind, first, last in _regions(cell.source):
            if kind == HIDDEN_CELL:
                lines[first - 2 : last + 1] = [""] * (last - first + 3)
        cell.source = "\n".join(lines)
    return nbformat.writes(nb)


def submitted_fragments(folder: Path) -> set[str]:
    """The fragments (their text) in a student's submitted files, hidden-test regions aside."""
    return {
        f.text
        for name, text in scan_texts([folder])
        for f in find_leaks(_without_hidden_tests(name, text))
    }


def assert_no_leaks(folder: Path, *, submitted: Path | None = None) -> None:
    """Fail, saying what leaked where, if a file under ``folder`` holds a secret fragment.

    ``submitted``: the graded submissions (``<student>/...``) when ``folder`` holds feedback for
    them. What a student submitted is theirs to see again: a fragment found in a file under
    ``folder/.../<student>/`` is excused when that student's own submission holds it too (the
    student wrote the instructor's line, or submitted the instructor's notebook), except in the
    hidden-test regions of a submitted notebook (the instructor's notebook has them, and their
    code must not show in anyone's feedback).
    """
    folder = Path(folder)
    assert folder.is_dir(), f"{folder} is not a folder"
    own: dict[str, set[str]] = {}

    def excused(path: Path) -> set[str]:
        if submitted is None:
            return set()
        for part in path.relative_to(folder).parts[:-1]:
            if (Path(submitted) / part).is_dir():
                if part not in own:
                    own[part] = submitted_fragments(Path(submitted) / part)
                return own[part]
        return set()

    leaks = []
    for path in _files([folder]):
        allowed = excused(path)
        for name, text in _texts(str(path), path.read_bytes()):
            leaks += [(name, f) for f in find_leaks(text) if f.text not in allowed]
    assert not leaks, f"{len(leaks)} fragments of instructor code leaked:\n{describe(leaks)}"
