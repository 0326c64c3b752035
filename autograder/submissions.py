"""Finding and checking students' submissions before anything runs."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from .course import CourseError, assignments, notebooks

#: Statuses of a submitted notebook, as written in grades.csv.
GRADED = "graded"
MISSING = "missing"
UNREADABLE = "unreadable"
GRADING_ERROR = "grading_error"


@dataclass
class NotebookSubmission:
    """One expected notebook of one student's assignment, and what was found."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    status: str = GRADED
    detail: str = ""


@dataclass
class StudentSubmission:
    """Everything one student submitted, notebook by notebook."""

    student: str
    notebooks: list[NotebookSubmission] = field(default_factory=list)


#: Layouts of a batch of submissions, as ``Unpacked.layout`` names them.
COURSE = "course"
CANVAS = "canvas"
MOODLE = "moodle"

#: The ideas of nbgrader's ``zip_collect`` (nbgrader/plugins/zipcollect.py): a regular expression
#: with the named groups ``student_id`` and ``file_id`` finds the student and the submitted file in
#: the names an LMS gives its download; the notebook (hence the assignment) is known from the
#: file's name. Canvas's "Download submissions" zip is flat, one file per student and upload,
#: ``<login or lastfirst>[_LATE]_<userid>_<submissionid>_<original filename>``.
CANVAS_REGEX = (
    r"^(?P<student_id>.+?)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_"
    r"(?P<file_id>.+)$"
)
#: Moodle's "Download all submissions": a folder per student and submission plugin,
#: ``<Full Name>_<id>_assignsubmission_file_/<file>``, or the same prefix on flat files when
#: "Download submissions in folders" is off.
MOODLE_FOLDER_REGEX = r"^(?P<student_id>.+?)_(?P<user_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$"
MOODLE_FILE_REGEX = (
    r"^(?P<student_id>.+?)_(?P<user_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file_id>.+)$"
)
#: Canvas renames a file uploaded again under the same name: ``03-bernoulli-masks-1.ipynb``.
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<suffix>\d+)$")
#: What zip tools add and nobody submitted: skipped without a word.
_JUNK = ("__MACOSX", ".DS_Store")

LAYOUTS_HELP = (
    "the grade command accepts two layouts: (1) <student>/<assignment>/<notebook>.ipynb, as a "
    "folder or a zip of one; (2) an LMS's download of all submissions, as a zip or its "
    "unzipped folder: Canvas (flat files named "
    "<name>[_LATE]_<userid>_<submissionid>_<notebook>.ipynb) or Moodle (folders "
    "<Full Name>_<id>_assignsubmission_file_/<notebook>.ipynb)"
)

#: A notebook file larger than this is reported as unreadable rather than parsed: the exercises'
#: notebooks weigh kilobytes, and parsing a file of gigabytes would take a worker's memory.
MAX_NOTEBOOK_BYTES = 100 * 1024**2
#: Room a zip must leave on the disk it is unpacked to.
SPARE_DISK_BYTES = 512 * 1024**2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ignored:
    """A file (or folder) of the submissions that was not used, and why."""

    path: str  # relative to the folder of submissions (inside the zip), with "/" separators
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Unpacked:
    """A batch of submissions in ``<student>/<assignment>/<notebook>.ipynb`` layout."""

    folder: Path
    layout: str  # COURSE, CANVAS or MOODLE: how the submissions were given
    ignored: list[Ignored] = field(default_factory=list)


def unpack(source: Path, workdir: Path) -> Path:
    """Return the folder of submissions in ``<student>/<assignment>/<notebook>.ipynb`` layout.

    That is ``source`` itself, or a zip of it extracted into ``workdir``, or a Canvas or Moodle
    download normalised into ``workdir`` (see ``unpack_submissions``; the files it did not use
    are logged as warnings here).
    """
    unpacked = unpack_submissions(source, workdir)
    for item in unpacked.ignored:
        log.warning("ignored: %s", item)
    return unpacked.folder


def unpack_submissions(
    source: Path, workdir: Path, *, canvas_regex: str | re.Pattern = CANVAS_REGEX
) -> Unpacked:
    """Return the submissions of ``source`` laid out as ``<student>/<assignment>/<nb>.ipynb``.

    ``source`` is a folder or a zip, either already in that layout (returned as it is, or
    extracted into ``workdir``) or an LMS's download: Canvas's flat files or Moodle's folders
    (see ``CANVAS_REGEX`` and ``MOODLE_FOLDER_REGEX``), copied into a new folder of ``workdir``.
    There every student the download names gets a folder (an empty assignment folder if none of
    their files is that assignment's notebook, so ``discover`` reports it missing); a notebook is
    recognised by its name, a resubmission renamed ``<notebook>-<n>.ipynb`` included, and of
    several copies the highest suffix (then the highest submission id) is kept. Every file not
    used is returned in ``ignored`` with the reason. Student names are data: they only become
    folder names, and a name that cannot be one safely is ignored with its files.

    ``canvas_regex``, like nbgrader's ``FileNameCollectorPlugin.named_regexp``, must have the
    groups ``student_id`` and ``file_id``; ``user_id`` (which tells apart students of one name)
    and ``submission_id`` (higher is later) are used if it has them.
    """
    canvas = re.compile(canvas_regex)
    if not {"student_id", "file_id"} <= set(canvas.groupindex):
        raise CourseError("canvas_regex needs the named groups student_id and file_id")
    folder = _extract(source, workdir)
    if _is_moodle(folder):
        layout = MOODLE
        found, ignored = _moodle_files(folder)
    elif _is_course(folder):
        return Unpacked(folder, COURSE)
    elif _is_canvas(folder, canvas):
        layout = CANVAS
        found, ignored = _canvas_files(folder, canvas)
    else:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        shown = ", ".join(repr(e) for e in entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise CourseError(
            f"{source} is laid out in neither accepted way: {LAYOUTS_HELP}. "
            f"Its top level holds {shown or 'nothing'}."
        )
    target = Path(tempfile.mkdtemp(prefix=f"{layout}-", dir=workdir))
    ignored += _normalise(found, target, layout)
    if not any(target.glob("*/*/*.ipynb")):
        expected = ", ".join(f"{n}.ipynb" for a in assignments() for n in notebooks(a))
        raise CourseError(
            f"{source} looks like a {layout.capitalize()} download, but none of its files is a "
            f"notebook of this course (expected {expected}, or a resubmission renamed such as "
            f"{notebooks(assignments()[0])[0]}-1.ipynb). Ignored: "
            + "; ".join(str(i) for i in ignored[:10])
            + ("; ..." if len(ignored) > 10 else "")
        )
    return Unpacked(target, layout, ignored)


def _extract(source: Path, workdir: Path) -> Path:
    """Return ``source`` if it is a folder, or the folder a zip ``source`` unpacks to."""
    if not source.exists():
        raise CourseError(f"{source} does not exist; give a folder or a .zip of submissions.")
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise CourseError(f"{source} is neither a folder nor a zip file.")
    target = workdir / "unzipped"
    target.mkdir(parents=True, exist_ok=True)  # an empty zip makes no folder of its own
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        _check_room(source, members, target)
        for member in members:
            member.filename = _member_name(member)
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts:
                raise CourseError(f"{source} holds an unsafe path {member.filename!r}; refusing.")
        archive.extractall(target, members=members)
    entries = [p for p in target.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    # A zip of one folder that holds the student folders: descend into it.
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student(entries[0]):
        return entries[0]
    return target


def _check_room(source: Path, members: list[zipfile.ZipInfo], target: Path) -> None:
    """Refuse a zip that would fill the disk it is unpacked to, before unpacking anything."""
    needed = sum(member.file_size for member in members)
    free = shutil.disk_usage(target).free
    if needed + SPARE_DISK_BYTES > free:
        raise CourseError(
            f"{source} unpacks to {needed / 1024**2:,.0f} MB, but only {free / 1024**2:,.0f} MB "
            f"are free in {target.parent}. Free some space, point TMPDIR at a larger disk, or "
            "unzip it yourself and give the grader the folder."
        )


def _member_name(member: zipfile.ZipInfo) -> str:
    """A zip member's name, decoded as UTF-8 when the zip did not say (zipfile assumes cp437)."""
    if member.flag_bits & 0x800 or member.filename.isascii():
        return member.filename
    try:
        return member.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return member.filename


def _looks_like_student(folder: Path) -> bool:
    return (
        any((folder / name).is_dir() for name in assignments())
        or re.match(MOODLE_FOLDER_REGEX, folder.name) is not None
    )


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in _JUNK)


def _is_course(folder: Path) -> bool:
    """Whether ``discover`` finds an assignment folder in a student folder of ``folder``."""
    known = set(assignments())
    return any(
        child.name in known
        for student in folder.iterdir()
        if student.is_dir() and not student.name.startswith((".", "__MACOSX"))
        for child in student.iterdir()
    )


def _is_moodle(folder: Path) -> bool:
    return any(
        re.match(MOODLE_FOLDER_REGEX if p.is_dir() else MOODLE_FILE_REGEX, p.name)
        for p in _entries(folder)
    )


def _is_canvas(folder: Path, regex: re.Pattern) -> bool:
    return any(p.is_file() and regex.match(p.name) for p in _entries(folder))


@dataclass
class _Found:
    """A file of an LMS download that names its student."""

    path: Path
    shown: str  # its path relative to the download
    key: str  # the student's id in the LMS
    name: str  # the student's name in the LMS
    file_id: str  # the file's name as the student uploaded it
    order: int = 0  # the submission id: higher is later


def _canvas_files(folder: Path, regex: re.Pattern) -> tuple[list[_Found], list[Ignored]]:
    found, ignored = [], []
    for path in _entries(folder):
        match = regex.match(path.name)
        if path.is_symlink():
            ignored.append(Ignored(path.name, "a symbolic link, not a submitted file"))
        elif path.is_dir():
            ignored.append(Ignored(path.name + "/", "a folder; Canvas's download holds files"))
        elif not match:
            ignored.append(
                Ignored(path.name, "not named as Canvas names submissions: " + _CANVAS_NAME)
            )
        else:
            groups = match.groupdict()
            key = groups.get("user_id") or groups["student_id"]
            order = groups.get("submission_id") or ""
            order = int(order) if order.isdecimal() else 0
            found.append(
                _Found(path, path.name, key, groups["student_id"], groups["file_id"], order)
            )
    return found, ignored


_CANVAS_NAME = "<name>[_LATE]_<userid>_<submissionid>_<file>"


def _moodle_files(folder: Path) -> tuple[list[_Found], list[Ignored]]:
    found, ignored = [], []
    for path in _entries(folder):
        if path.is_symlink():
            ignored.append(Ignored(path.name, "a symbolic link, not a submitted file"))
        elif path.is_dir() and (match := re.match(MOODLE_FOLDER_REGEX, path.name)):
            for file, shown in _files_under(path, folder, ignored):
                found.append(_Found(file, shown, match["user_id"], match["student_id"], file.name))
        elif path.is_file() and (match := re.match(MOODLE_FILE_REGEX, path.name)):
            found.append(
                _Found(path, path.name, match["user_id"], match["student_id"], match["file_id"])
            )
        else:
            ignored.append(
                Ignored(
                    path.name + ("/" if path.is_dir() else ""),
                    "not named as Moodle names submissions: " + _MOODLE_NAME,
                )
            )
    return found, ignored


_MOODLE_NAME = "<Full Name>_<id>_assignsubmission_file_/<file>"


def _files_under(path: Path, folder: Path, ignored: list[Ignored]) -> list[tuple[Path, str]]:
    """The regular files under ``path`` with their paths relative to ``folder``; symbolic links
    are added to ``ignored`` and not followed."""
    files = []
    for root, dirs, names in os.walk(path):
        base = Path(root)
        for name in sorted(dirs + names):
            entry = base / name
            shown = entry.relative_to(folder).as_posix()
            if name in _JUNK:
                continue
            if entry.is_symlink():
                ignored.append(Ignored(shown, "a symbolic link, not a submitted file"))
            elif entry.is_file():
                files.append((entry, shown))
        dirs[:] = sorted(d for d in dirs if d not in _JUNK and not (base / d).is_symlink())
    return files


def _notebook_of(file_id: str) -> tuple[str, str, int] | None:
    """The (assignment, notebook, resubmission suffix) a submitted file name stands for."""
    path = PurePosixPath(file_id)
    if path.suffix.lower() != ".ipynb":
        return None
    owners = {n: a for a in assignments() for n in notebooks(a)}
    if path.stem in owners:
        return owners[path.stem], path.stem, 0
    renamed = _RESUBMITTED.match(path.stem)
    if renamed and renamed["stem"] in owners:
        return owners[renamed["stem"]], renamed["stem"], int(renamed["suffix"])
    return None


def _unsafe(name: str) -> str:
    """Why ``name`` cannot be a student's folder name, or ``""``."""
    if name in ("", ".", ".."):
        return "empty or a relative path"
    if name.startswith((".", "__MACOSX")):
        return "it starts with '.' or '__MACOSX', which are skipped as hidden"
    if any(c in "/\\" or unicodedata.category(c) == "Cc" for c in name):
        return "it holds a path separator or a control character"
    try:
        if len(name.encode("utf-8")) > 200:
            return "it is too long"
    except UnicodeEncodeError:
        return "it is not valid text"
    return ""


def _normalise(found: list[_Found], target: Path, layout: str) -> list[Ignored]:
    """Copy the notebooks of ``found`` into ``target/<student>/<assignment>/<notebook>.ipynb``;
    return what was not copied."""
    ignored = []
    lms = layout.capitalize()
    names: dict[str, str] = {}  # the student's id in the LMS -> name
    for item in found:
        item.name = unicodedata.normalize("NFC", item.name)
        reason = _unsafe(item.name)
        if reason:
            ignored.append(Ignored(item.shown, f"the student name cannot be a folder: {reason}"))
        else:
            names.setdefault(item.key, item.name)
    # Students of one name (Canvas's lastfirst; case-blind file systems) get their id appended.
    counts = Counter(n.casefold() for n in names.values())
    folders = {k: n if counts[n.casefold()] == 1 else f"{n}_{k}" for k, n in names.items()}
    copies: dict[tuple[str, str, str], list[tuple[tuple, _Found]]] = {}
    for item in found:
        if item.key not in folders:
            continue
        notebook = _notebook_of(item.file_id)
        if notebook is None:
            ignored.append(
                Ignored(
                    item.shown,
                    f"{item.file_id!r} (from {lms} student {item.name!r}) is not a notebook of "
                    "this course",
                )
            )
            continue
        assignment, name, suffix = notebook
        rank = (suffix, item.order, -item.shown.count("/"), item.shown)
        copies.setdefault((item.key, assignment, name), []).append((rank, item))
    batch = sorted({assignment for _, assignment, _ in copies})
    for folder in folders.values():
        for assignment in batch:
            (target / folder / assignment).mkdir(parents=True, exist_ok=True)
    for (key, assignment, name), ranked in sorted(copies.items()):
        ranked.sort(key=lambda pair: pair[0])
        latest = ranked[-1][1]
        shutil.copyfile(latest.path, target / folders[key] / assignment / f"{name}.ipynb")
        for _, item in ranked[:-1]:
            ignored.append(
                Ignored(
                    item.shown,
                    f"an earlier or duplicate copy of {name}.ipynb from {lms} student "
                    f"{item.name!r}; {latest.shown} was graded",
                )
            )
    return sorted(ignored, key=lambda i: i.path)


def read_notebook(path: Path) -> str:
    """Return why ``path`` cannot be graded as a notebook, or ``""`` if it can."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return (
            f"the file is {size / 1024**2:,.0f} MB, more than the "
            f"{MAX_NOTEBOOK_BYTES / 1024**2:,.0f} MB a notebook may be (was something else "
            "saved under its name? A notebook saved after Kernel > Restart & Clear Output "
            "weighs kilobytes)"
        )
    try:
        with path.open(encoding="utf-8") as handle:
            nb = nbformat.read(handle, as_version=4)
        nbformat.validate(nb)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        return f"not a notebook file (invalid JSON: {str(error)[:200]})"
    except nbformat.ValidationError as error:
        return f"not a valid notebook: {error.message}"
    except Exception as error:  # noqa: BLE001 - anything that stops nbformat is "unreadable"
        return f"cannot be read as a notebook: {type(error).__name__}: {error}"
    if not nb.cells:
        return "the notebook is empty (it has no cells)"
    return ""


def discover(folder: Path) -> tuple[list[StudentSubmission], list[str]]:
    """Find every student's notebooks under ``folder`` (``<student>/<assignment>/<nb>.ipynb``).

    The batch's assignments are the known assignments that appear in any student's folder;
    every student is expected to have submitted each of them, so an absent one is reported as
    missing rather than left out of grades.csv. Returns the submissions and the assignments.
    """
    known = set(assignments())
    students = sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))
    )
    if not students:
        raise CourseError(
            f"{folder} holds no student folders; expected <student>/<assignment>/<notebook>.ipynb"
        )
    batch = sorted({a.name for s in students for a in s.iterdir() if a.name in known})
    if not batch:
        raise CourseError(
            f"no folder in {folder} is named after an assignment ({', '.join(sorted(known))}); "
            "expected <student>/<assignment>/<notebook>.ipynb"
        )
    result = []
    for student_dir in students:
        student = StudentSubmission(student_dir.name)
        for assignment in batch:
            for notebook in notebooks(assignment):
                student.notebooks.append(_find(student_dir, assignment, notebook))
        result.append(student)
    return result, batch


def _find(student_dir: Path, assignment: str, notebook: str) -> NotebookSubmission:
    folder = student_dir / assignment
    path = folder / f"{notebook}.ipynb"
    entry = NotebookSubmission(student_dir.name, assignment, notebook, path)
    if not folder.is_dir():
        entry.path, entry.status = None, MISSING
        entry.detail = f"no folder {assignment}/ was submitted"
    elif not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        entry.path, entry.status = None, MISSING
        entry.detail = f"{notebook}.ipynb was not submitted" + (
            f" (found {', '.join(others)})" if others else ""
        )
    else:
        reason = read_notebook(path)
        if reason:
            entry.status, entry.detail = UNREADABLE, reason
    return entry


def stage(entry: NotebookSubmission, submitted: Path) -> None:
    """Copy a readable notebook (and nothing beside it) into nbgrader's submitted folder."""
    target = submitted / entry.assignment
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry.path, target / f"{entry.notebook}.ipynb")
