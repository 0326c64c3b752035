"""Finding and checking students' submissions before anything runs.

A student's name is data: any string, of any length, with any characters, shown as it is in
grades.csv. On disk a student's notebooks live under ``student_key(name)``, which is the name
itself when that is a plain, safe folder name and otherwise a readable slug with a hash of the
name. Nothing is ever read through a symbolic link: the grader reads only files that are inside
the submissions it was given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import nbformat

from autograder.batch import deadlines
from autograder.content import assignments, notebooks
from autograder.errors import CourseError
from autograder.status import Status


@dataclass
class NotebookSubmission:
    """One expected notebook of one student's assignment, and what was found."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    status: Status = Status.GRADED
    detail: str = ""
    #: The file's bytes, when the notebook travels to a machine without ``path`` (a cluster).
    content: bytes | None = None

    def read(self):
        """The submitted notebook, parsed (version 4), read without following a link."""
        return nbformat.reads(self.read_bytes().decode("utf-8"), as_version=4)

    def read_bytes(self) -> bytes:
        """The submitted file's bytes (``content``, or ``path`` read without following a
        link)."""
        if self.content is not None:
            return self.content
        with _open_regular(self.path) as handle:
            return handle.read()

    def portable(self) -> NotebookSubmission:
        """This submission with its bytes inside and no path: what a cluster's worker is sent."""
        if self.status != Status.GRADED:
            return dataclasses.replace(self, path=None)
        return dataclasses.replace(self, path=None, content=self.read_bytes())


@dataclass
class StudentSubmission:
    """Everything one student submitted, notebook by notebook.

    ``student`` is the name shown in grades.csv (any text); ``key`` is ``student_key(student)``,
    the safe and unique form of it for folder names and gradebook ids.
    """

    student: str
    notebooks: list[NotebookSubmission] = field(default_factory=list)
    key: str = field(init=False)
    #: When each assignment was submitted, where the batch says (``deadlines.Submitted``).
    submitted: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = student_key(self.student)

    def portable(self) -> StudentSubmission:
        """This student with every notebook's bytes inside (see ``NotebookSubmission.portable``);
        ``submitted`` stays with the grade command, which decides what is late."""
        return StudentSubmission(self.student, [entry.portable() for entry in self.notebooks])


#: The longest student name used as it is for a folder (``student_key``), in characters and in
#: UTF-8 bytes (a file name holds at most 255 bytes; nbgrader's ids at most 128 characters).
KEY_CHARS, KEY_BYTES = 100, 200
#: The longest readable part of a key that is not the name itself (then "~" and 16 hex digits).
SLUG_CHARS, SLUG_BYTES = 60, 180


def student_key(name: str) -> str:
    """The folder name (and gradebook id) of the student called ``name``.

    ``name`` itself when it is plain: at most ``KEY_CHARS`` characters (and ``KEY_BYTES`` bytes
    of UTF-8), in Unicode's NFC form, without control, format or surrogate characters, without
    ``/``, ``\\`` or ``~``, not starting with ``.`` and without leading or trailing whitespace.
    Otherwise a slug of the name (letters, digits, space, ``-``, ``_``, ``.``; at most
    ``SLUG_CHARS`` characters, not starting with ``.``) + ``~`` + the first 16 hex digits of the
    SHA-256 of the name's UTF-8. Plain keys never hold ``~`` and the others always do, so distinct
    names have distinct keys.
    """
    if _is_plain(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_slug(name)}~{digest}"


def _is_plain(name: str) -> bool:
    if not name or len(name) > KEY_CHARS or name.startswith(".") or name != name.strip():
        return False
    if any(c in "/\\~" or unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        return False
    return unicodedata.is_normalized("NFC", name) and len(name.encode("utf-8")) <= KEY_BYTES


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFC", _text(name))
    slug = "".join(c if c.isalnum() or c in " -_." else "_" for c in text)
    slug = re.sub(r"_{2,}", "_", re.sub(r" {2,}", " ", slug)).lstrip(" ._-")
    slug = slug[:SLUG_CHARS]
    while len(slug.encode("utf-8")) > SLUG_BYTES:
        slug = slug[:-1]
    return slug.rstrip(" ._") or "student"


_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(name: str) -> str:
    """``name`` as clean text: the lone surrogates Python makes of bytes that are not UTF-8 (a
    file name's, through ``surrogateescape``) become U+FFFD, so the name can be encoded."""
    return _SURROGATES.sub("\ufffd", name)


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, its control characters escaped, shortened if long."""
    quoted = repr(_text(text))
    return quoted if len(quoted) <= limit else quoted[: limit - 2] + "…" + quoted[0]


#: Layouts of a batch of submissions, as ``Unpacked.layout`` names them.
COURSE = "course"
CANVAS = "canvas"
MOODLE = "moodle"

#: The ideas of nbgrader's ``zip_collect`` (nbgrader/plugins/zipcollect.py): a regular expression
#: with the named groups ``student_id`` and ``file_id`` finds the student and the submitted file in
#: the names an LMS gives its download; the notebook (hence the assignment) is known from the
#: file's name. Canvas's "Download submissions" zip is flat, one file per student and upload,
#: ``<login or lastfirst>[_LATE]_<userid>_<submissionid>_<original filename>``. A name may hold
#: any character (``(?s)``: a line break too); the shortest name that leaves a valid rest is read
#: first (see ``_reading`` for a name that ends in ``_<digits>``).
CANVAS_REGEX = (
    r"(?s)^(?P<student_id>.+?)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_"
    r"(?P<file_id>.+)$"
)
#: Moodle's "Download all submissions": a folder per student and submission plugin,
#: ``<Full Name>_<id>_assignsubmission_file_/<file>``, or the same prefix on flat files when
#: "Download submissions in folders" is off.
MOODLE_FOLDER_REGEX = (
    r"(?s)^(?P<student_id>.+?)_(?P<user_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_\Z"
)
MOODLE_FILE_REGEX = (
    r"(?s)^(?P<student_id>.+?)_(?P<user_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
    r"(?P<file_id>.+)\Z"
)
#: The same names read with the longest student name (see ``_reading``).
_CANVAS_LONGEST = re.compile(CANVAS_REGEX.replace("(?P<student_id>.+?)", "(?P<student_id>.+)"))
_MOODLE_FILE_LONGEST = re.compile(
    MOODLE_FILE_REGEX.replace("(?P<student_id>.+?)", "(?P<student_id>.+)")
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
#: Most JSON values (counted by their commas and brackets) a notebook may hold: parsing costs
#: memory by the value, not by the byte, and 40 MB of ``{},`` would take gigabytes.
MAX_NOTEBOOK_VALUES = 2_000_000
#: Room a zip must leave on the disk it is unpacked to.
SPARE_DISK_BYTES = 512 * 1024**2

#: Why a symbolic link is not used.
SYMLINK = "a symbolic link, not a submitted file"
_LINKED = "a symbolic link; the grader reads only files inside the submissions folder: copy the "
LINKED_FILE = _LINKED + "file itself"
LINKED_FOLDER = _LINKED + "folder itself"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ignored:
    """A file (or folder) of the submissions that was not used, and why."""

    path: str  # relative to the folder of submissions (inside the zip), with "/" separators
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _ignored(path: str, reason: str) -> Ignored:
    return Ignored(_text(path), _text(reason))


@dataclass
class Unpacked:
    """A batch of submissions in ``<student>/<assignment>/<notebook>.ipynb`` layout."""

    folder: Path
    layout: str  # COURSE, CANVAS or MOODLE: how the submissions were given
    ignored: list[Ignored] = field(default_factory=list)
    #: The student of each folder of ``folder`` (folder name -> name), for ``discover``; ``None``
    #: when the folders are named after the students (COURSE).
    names: dict[str, str] | None = None
    #: What the instructor should know about how students were told apart (an LMS's names).
    notes: list[str] = field(default_factory=list)
    #: The (student folder, assignment) pairs an LMS marked late (Canvas's ``_LATE``).
    late: set[tuple[str, str]] = field(default_factory=set)


def unpack(source: Path, workdir: Path) -> Path:
    """Return the folder of submissions in ``<student>/<assignment>/<notebook>.ipynb`` layout.

    That is ``source`` itself, or a zip of it extracted into ``workdir``, or a Canvas or Moodle
    download normalised into ``workdir`` (see ``unpack_submissions``; the files it did not use
    and its notes are logged as warnings here). The folders of an LMS's download are then named
    by ``student_key``: use ``unpack_submissions`` and its ``names`` to show the names.
    """
    unpacked = unpack_submissions(source, workdir)
    for item in unpacked.ignored:
        log.warning("ignored: %s", item)
    for note in unpacked.notes:
        log.warning("note: %s", note)
    return unpacked.folder


def unpack_submissions(
    source: Path, workdir: Path, *, canvas_regex: str | re.Pattern = CANVAS_REGEX
) -> Unpacked:
    """Return the submissions of ``source`` laid out as ``<student>/<assignment>/<nb>.ipynb``.

    ``source`` is a folder or a zip, either already in that layout (returned as it is, or
    extracted into ``workdir``) or an LMS's download: Canvas's flat files or Moodle's folders
    (see ``CANVAS_REGEX`` and ``MOODLE_FOLDER_REGEX``), copied into a new folder of ``workdir``.
    There every student the download names gets a folder ``student_key(label)``, where the label
    is their name, or ``<name>_<LMS id>`` when students share a name (case-insensitively) or the
    name reads as another student's ``<name>_<id>``; ``names`` maps each folder to its label and
    ``notes`` says why a label is not the plain name. No two students ever share a folder. A
    student has an (empty) folder for every assignment of the batch, so ``discover`` reports what
    is missing; a notebook is recognised by its name, a resubmission renamed
    ``<notebook>-<n>.ipynb`` included, and of several copies the highest suffix (then the highest
    submission id) is kept. Every file not used is returned in ``ignored`` with the reason;
    symbolic links are never followed nor extracted.

    ``canvas_regex``, like nbgrader's ``FileNameCollectorPlugin.named_regexp``, must have the
    groups ``student_id`` and ``file_id``; ``user_id`` (which tells apart students of one name)
    and ``submission_id`` (higher is later) are used if it has them.
    """
    canvas = re.compile(canvas_regex)
    if not {"student_id", "file_id"} <= set(canvas.groupindex):
        raise CourseError("canvas_regex needs the named groups student_id and file_id")
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        entries, ignored, zipped = _download(source, workdir, stack)
        named: list[tuple[str | None, str]] = []
        if _is_moodle(entries):
            layout = MOODLE
            found, named = _moodle_files(entries, ignored)
        elif _is_course(entries):
            if zipped:
                folder = _unzip(entries, workdir, ignored)
            else:
                folder = source
                ignored += _linked_course_folders(entries)
            return Unpacked(folder, COURSE, sorted(ignored, key=lambda i: i.path))
        elif _is_canvas(entries, canvas):
            layout = CANVAS
            found = _canvas_files(entries, canvas, ignored)
        else:
            top = sorted(
                _text(e.parts[0]) + ("/" if e.kind == _FOLDER else "")
                for e in entries
                if len(e.parts) == 1
            )
            shown = ", ".join(repr(e) for e in top[:5]) + (", ..." if len(top) > 5 else "")
            raise CourseError(
                f"{source} is laid out in neither accepted way: {LAYOUTS_HELP}. "
                f"Its top level holds {shown or 'nothing'}."
            )
        target = Path(tempfile.mkdtemp(prefix=f"{layout}-", dir=workdir))
        names, notes, late = _normalise(found, named, target, layout, ignored)
    if not any(target.glob("*/*/*.ipynb")):
        expected = ", ".join(f"{n}.ipynb" for a in assignments() for n in notebooks(a))
        ignored.sort(key=lambda i: i.path)
        raise CourseError(
            f"{source} looks like a {layout.capitalize()} download, but none of its files is a "
            f"notebook of this course (expected {expected}, or a resubmission renamed such as "
            f"{notebooks(assignments()[0])[0]}-1.ipynb). Ignored: "
            + "; ".join(str(i) for i in ignored[:10])
            + ("; ..." if len(ignored) > 10 else "")
        )
    return Unpacked(target, layout, sorted(ignored, key=lambda i: i.path), names, notes, late)


# The download as a list of entries, whether a folder or a zip: nothing of an LMS's download is
# written to disk under the names it has there (a name may be longer than a file name can be).
_FILE, _FOLDER, _LINK, _OTHER = "file", "folder", "link", "other"


@dataclass
class _Entry:
    """A file, folder or link of the download, at ``parts`` below its top."""

    parts: tuple[str, ...]
    kind: str  # _FILE, _FOLDER, _LINK or _OTHER (a device, a pipe, ...)
    size: int = 0
    open: Callable[[], BinaryIO] | None = None  # a regular file's content

    @property
    def path(self) -> str:
        return "/".join(self.parts)


def _download(
    source: Path, workdir: Path, stack: contextlib.ExitStack
) -> tuple[list[_Entry], list[Ignored], bool]:
    """The entries of the folder or zip ``source`` (a zip's wrapper folder left out), what was
    ignored on the way, and whether ``source`` is a zip."""
    if not source.exists():
        raise CourseError(f"{source} does not exist; give a folder or a .zip of submissions.")
    if source.is_dir():
        return _folder_entries(source), [], False
    if not zipfile.is_zipfile(source):
        raise CourseError(f"{source} is neither a folder nor a zip file.")
    try:
        archive = stack.enter_context(zipfile.ZipFile(source))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CourseError(f"{source} is a damaged zip ({error}); download it again.") from None
    _check_room(source, members, workdir)
    entries, ignored = _zip_entries(source, archive, members)
    # A zip of one folder that holds the student folders: descend into it.
    visible = {e.parts[0] for e in entries if not e.parts[0].startswith((".", "__MACOSX"))}
    if len(visible) == 1:
        (top,) = visible
        kind = next(e.kind for e in entries if e.parts == (top,))
        if kind == _FOLDER and not _looks_like_student(top, entries):
            entries = [
                _Entry(e.parts[1:], e.kind, e.size, e.open)
                for e in entries
                if e.parts[0] == top and len(e.parts) > 1
            ]
            ignored = [
                _ignored(i.path.removeprefix(top + "/"), i.reason)
                for i in ignored
                if i.path.startswith(top + "/")
            ]
    return entries, ignored, True


def _folder_entries(root: Path) -> list[_Entry]:
    """Every entry below ``root``; symbolic links are listed, never followed."""
    entries, pending = [], [((), root)]
    while pending:
        parts, folder = pending.pop()
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if name in _JUNK:
                continue
            path, here = folder / name, (*parts, name)
            try:
                mode = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(mode.st_mode):
                entries.append(_Entry(here, _LINK))
            elif stat.S_ISDIR(mode.st_mode):
                entries.append(_Entry(here, _FOLDER))
                pending.append((here, path))
            elif stat.S_ISREG(mode.st_mode):
                entries.append(
                    _Entry(here, _FILE, mode.st_size, functools.partial(_open_regular, path))
                )
            else:
                entries.append(_Entry(here, _OTHER))
    return sorted(entries, key=lambda e: e.parts)


def _open_regular(path: Path) -> BinaryIO:
    """Open the regular file ``path`` for reading, never through a symbolic link (a link swapped
    in after the folder was listed fails with ELOOP) and never blocking on a pipe."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _zip_entries(
    source: Path, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]
) -> tuple[list[_Entry], list[Ignored]]:
    """The entries of a zip (its folders too, listed or not); a second member of one name
    replaces the first, as when unzipping, and the first is reported."""
    by_parts: dict[tuple[str, ...], _Entry] = {}
    ignored = []
    for member in members:
        name = _member_name(member)
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts:
            raise CourseError(f"{source} holds an unsafe path {name!r}; refusing.")
        if not parts or any(part in _JUNK for part in parts):
            continue
        if stat.S_ISLNK(member.external_attr >> 16):
            entry = _Entry(parts, _LINK)
        elif member.is_dir():
            entry = _Entry(parts, _FOLDER)
        else:
            opener = functools.partial(archive.open, member)
            entry = _Entry(parts, _FILE, member.file_size, opener)
        earlier = by_parts.get(parts)
        if earlier is not None and _FOLDER not in (earlier.kind, entry.kind):
            ignored.append(
                _ignored(name, "the zip holds a later member of the same name, which was used")
            )
        if earlier is None or entry.kind != _FOLDER:
            by_parts[parts] = entry
    for parts in list(by_parts):
        for end in range(1, len(parts)):
            by_parts.setdefault(parts[:end], _Entry(parts[:end], _FOLDER))
    return sorted(by_parts.values(), key=lambda e: e.parts), ignored


def _check_room(source: Path, members: list[zipfile.ZipInfo], workdir: Path) -> None:
    """Refuse a zip that would fill the disk it is unpacked to, before unpacking anything."""
    needed = sum(member.file_size for member in members)
    free = shutil.disk_usage(workdir).free
    if needed + SPARE_DISK_BYTES > free:
        raise CourseError(
            f"{source} unpacks to {needed / 1024**2:,.0f} MB, but only {free / 1024**2:,.0f} MB "
            f"are free in {workdir}. Free some space, point TMPDIR at a larger disk, or "
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


def _looks_like_student(top: str, entries: list[_Entry]) -> bool:
    known = set(assignments())
    return (
        any(len(e.parts) > 1 and e.parts[0] == top and e.parts[1] in known for e in entries)
        or re.match(MOODLE_FOLDER_REGEX, top) is not None
    )


def _top(entries: list[_Entry]) -> list[_Entry]:
    return [e for e in entries if len(e.parts) == 1]


def _is_course(entries: list[_Entry]) -> bool:
    """Whether ``discover`` finds an assignment folder in a student folder."""
    known = set(assignments())
    return any(
        len(e.parts) > 1 and e.parts[1] in known and not e.parts[0].startswith((".", "__MACOSX"))
        for e in entries
    )


def _is_moodle(entries: list[_Entry]) -> bool:
    return any(
        (e.kind == _FOLDER and re.match(MOODLE_FOLDER_REGEX, e.path))
        or (e.kind == _FILE and re.match(MOODLE_FILE_REGEX, e.path))
        for e in _top(entries)
    )


def _is_canvas(entries: list[_Entry], regex: re.Pattern) -> bool:
    return any(e.kind == _FILE and regex.match(e.path) for e in _top(entries))


def _unzip(entries: list[_Entry], workdir: Path, ignored: list[Ignored]) -> Path:
    """Extract a zip in the course layout into a new folder of ``workdir``; symbolic links are
    not extracted (Python's zipfile would write the link's target as a file's content)."""
    target = Path(tempfile.mkdtemp(prefix="unzipped-", dir=workdir))
    for entry in entries:
        path = target.joinpath(*entry.parts)
        try:
            if entry.kind == _LINK:
                ignored.append(_ignored(entry.path, SYMLINK))
            elif entry.kind == _FOLDER:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                _copy(entry, path)
        except Exception as error:  # noqa: BLE001 - one member cannot stop the batch
            ignored.append(_ignored(entry.path, f"could not be unpacked ({_why(error)})"))
    return target


def _copy(entry: _Entry, path: Path) -> None:
    """Write ``entry``'s content to the new file ``path`` (nothing is left if that fails)."""
    try:
        with entry.open() as source, path.open("xb") as target:
            shutil.copyfileobj(source, target)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _why(error: BaseException) -> str:
    """What went wrong, without echoing a file's content or a path."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def _linked_course_folders(entries: list[_Entry]) -> list[Ignored]:
    """The symbolic links a course layout has where a student or assignment folder would be."""
    known = set(assignments())
    return [
        _ignored(e.path, LINKED_FOLDER)
        for e in entries
        if e.kind == _LINK
        and not e.parts[0].startswith((".", "__MACOSX"))
        and (len(e.parts) == 1 or (len(e.parts) == 2 and e.parts[1] in known))
    ]


@dataclass
class _Found:
    """A file of an LMS download that names its student."""

    entry: _Entry
    shown: str  # its path relative to the download
    user_id: str | None  # the student's id in the LMS (None if the names do not say)
    name: str  # the student's name in the LMS
    file_id: str  # the file's name as the student uploaded it
    order: tuple = (0, "")  # the submission id as _number(): higher is later
    note: str = ""  # why its name was read as it was, if that was not the first reading
    late: bool = False  # the LMS marked the file late (Canvas's _LATE)


def _reading(name: str, first: re.Match, longest: re.Pattern, lms: str) -> tuple[re.Match, str]:
    """How to read the file name ``name``: the first reading (the shortest student name), unless
    it does not name a notebook of the course and the reading with the longest student name
    does (a student whose name ends in ``_<digits>``); then that one, and a note saying so. At
    most one reading can name a notebook (a notebook's name holds no ``_<id>_`` part), and the
    student so read is whoever it is: a reading never puts a file in another student's folder.
    """
    if _notebook_of(first["file_id"] or "") is not None:
        return first, ""
    other = longest.match(name)
    if (
        other is None
        or other["student_id"] == first["student_id"]
        or _notebook_of(other["file_id"]) is None
    ):
        return first, ""
    return other, (
        f"{_shown(name)} is read as {lms} student {_shown(other['student_id'])} "
        f"(id {other['user_id']}) submitting {_shown(other['file_id'])}, the only reading of "
        f"its name that is a notebook of this course (read first, it is student "
        f"{_shown(first['student_id'])} (id {first['user_id']}) submitting "
        f"{_shown(first['file_id'])}); check that this is right"
    )


def _canvas_files(entries: list[_Entry], regex: re.Pattern, ignored: list[Ignored]) -> list[_Found]:
    found = []
    default = regex.pattern == CANVAS_REGEX
    for entry in _top(entries):
        name = entry.path
        match, note = regex.match(name), ""
        if entry.kind == _LINK:
            ignored.append(_ignored(name, SYMLINK))
        elif entry.kind == _FOLDER:
            ignored.append(_ignored(name + "/", "a folder; Canvas's download holds files"))
        elif entry.kind == _OTHER:
            ignored.append(_ignored(name, "not a regular file"))
        elif not match:
            ignored.append(_ignored(name, "not named as Canvas names submissions: " + _CANVAS_NAME))
        else:
            if default:
                match, note = _reading(name, match, _CANVAS_LONGEST, "Canvas")
            groups = match.groupdict()
            order = groups.get("submission_id") or ""
            found.append(
                _Found(
                    entry,
                    name,
                    groups.get("user_id"),
                    groups["student_id"] or "",
                    groups["file_id"] or "",
                    _number(order),
                    note,
                    bool(groups.get("late")),
                )
            )
    return found


_CANVAS_NAME = "<name>[_LATE]_<userid>_<submissionid>_<file>"


def _moodle_files(
    entries: list[_Entry], ignored: list[Ignored]
) -> tuple[list[_Found], list[tuple[str | None, str]]]:
    """The files of a Moodle download, and every student its folders name (a folder without
    files names a student too)."""
    found, named = [], []
    below = defaultdict(list)
    for entry in entries:
        if len(entry.parts) > 1:
            below[entry.parts[0]].append(entry)
    for entry in _top(entries):
        name = entry.path
        if entry.kind == _LINK:
            ignored.append(_ignored(name, SYMLINK))
        elif entry.kind == _FOLDER and (match := re.match(MOODLE_FOLDER_REGEX, name)):
            named.append((match["user_id"], match["student_id"]))
            for inner in below[name]:
                if inner.kind == _LINK:
                    ignored.append(_ignored(inner.path, SYMLINK))
                elif inner.kind == _OTHER:
                    ignored.append(_ignored(inner.path, "not a regular file"))
                elif inner.kind == _FILE:
                    found.append(
                        _Found(
                            inner,
                            inner.path,
                            match["user_id"],
                            match["student_id"],
                            inner.parts[-1],
                        )
                    )
        elif entry.kind == _FILE and (match := re.match(MOODLE_FILE_REGEX, name)):
            match, note = _reading(name, match, _MOODLE_FILE_LONGEST, "Moodle")
            found.append(
                _Found(
                    entry, name, match["user_id"], match["student_id"], match["file_id"], 0, note
                )
            )
        else:
            ignored.append(
                _ignored(
                    name + ("/" if entry.kind == _FOLDER else ""),
                    "not named as Moodle names submissions: " + _MOODLE_NAME,
                )
            )
    return found, named


_MOODLE_NAME = "<Full Name>_<id>_assignsubmission_file_/<file>"


def _notebook_of(file_id: str) -> tuple[str, str, int] | None:
    """The (assignment, notebook, resubmission suffix) a submitted file name stands for."""
    path = PurePosixPath(file_id)
    if path.suffix.lower() != ".ipynb":
        return None
    owners = {n: a for a in assignments() for n in notebooks(a)}
    if path.stem in owners:
        return owners[path.stem], path.stem, _number("0")
    renamed = _RESUBMITTED.match(path.stem)
    if renamed and renamed["stem"] in owners:
        return owners[renamed["stem"]], renamed["stem"], _number(renamed["suffix"])
    return None


def _number(digits: str) -> tuple[int, str]:
    """A string of digits as a key that sorts as its number does, however long (Python refuses
    int() of more than 4300 digits): (0, "") when it holds anything but digits."""
    if not digits.isdecimal():
        return (0, "")
    plain = digits.lstrip("0") or "0"
    return (len(plain), plain)


def _fold(name: str) -> str:
    """``name`` as a case-blind file system (and a person reading grades.csv) compares it."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


_Student = tuple[str | None, str]  # (LMS id, name): who a file of an LMS download is from


def _labels(students: list[_Student], lms: str) -> tuple[dict[_Student, str], list[str]]:
    """Each student's label (the name grades.csv shows), unique even case-blind, and notes.

    A name is its own label only if no other student's name, nor any student's ``<name>_<id>``,
    is the same case-blind; otherwise the label is ``<name>_<id>``, which tells students apart
    because an id is digits (the text after the label's last ``_``). Only students with one id
    and names that differ in case alone (or without ids) are left; they are numbered.
    """
    plain = Counter(_fold(name) for _, name in students)
    forms = {_fold(f"{name}_{uid}") for uid, name in students if uid is not None}
    labels, notes = {}, []
    for uid, name in students:
        if plain[_fold(name)] == 1 and _fold(name) not in forms:
            labels[uid, name] = name
        else:
            labels[uid, name] = name if uid is None else f"{name}_{uid}"
            if plain[_fold(name)] == 1 and uid is not None:
                notes.append(
                    f"{lms} student {_shown(name)} (id {uid}) is graded as "
                    f"{_shown(labels[uid, name])}: their name is how another student's name "
                    "reads with that student's id"
                )
    counts = Counter(_fold(label) for label in labels.values())
    taken = {_fold(label) for label in labels.values() if counts[_fold(label)] == 1}
    for student in students:
        label = labels[student]
        if counts[_fold(label)] > 1:
            number = 1
            while _fold(f"{label} ({number})") in taken:
                number += 1
            labels[student] = f"{label} ({number})"
            taken.add(_fold(labels[student]))
            notes.append(
                f"{lms} student {_shown(student[1])}"
                + (f" (id {student[0]})" if student[0] is not None else "")
                + f" cannot be told apart from another by name and id: graded as "
                f"{_shown(labels[student])}; check the download"
            )
    sharing = defaultdict(list)
    for uid, name in students:
        sharing[_fold(name)].append((uid, name))
    for group in sharing.values():
        if len(group) > 1:
            notes.append(
                f"{len(group)} {lms} students share the name {_shown(group[0][1])} "
                "(case-blind); they are graded as "
                + ", ".join(_shown(labels[student]) for student in group)
            )
    by_id = defaultdict(list)
    for uid, name in students:
        if uid is not None:
            by_id[uid].append(name)
    for uid, names in sorted(by_id.items()):
        if len(names) > 1:
            notes.append(
                f"{lms} id {uid} appears under {len(names)} names ("
                + ", ".join(_shown(name) for name in names)
                + "): each is graded as a student of its own ("
                + ", ".join(_shown(labels[uid, name]) for name in names)
                + "); check the download"
            )
    return labels, notes


def _normalise(
    found: list[_Found],
    named: list[_Student],
    target: Path,
    layout: str,
    ignored: list[Ignored],
) -> tuple[dict[str, str], list[str], set[tuple[str, str]]]:
    """Copy the notebooks of ``found`` into ``target/<key>/<assignment>/<notebook>.ipynb``; add
    what was not copied to ``ignored``; return the students' names by folder, the notes, and
    the (folder, assignment) pairs of which a file used was marked late."""
    lms = layout.capitalize()
    for item in found:
        item.name = unicodedata.normalize("NFC", _text(item.name))
    named = [(uid, unicodedata.normalize("NFC", _text(name))) for uid, name in named]
    students = sorted(
        {(item.user_id, item.name) for item in found} | set(named),
        key=lambda s: (s[1], s[0] or ""),
    )
    labels, notes = _labels(students, lms)
    notes = [item.note for item in found if item.note] + notes
    keys = {student: student_key(labels[student]) for student in students}
    folded = Counter(_fold(label) for label in labels.values())
    if len(folded) != len(students) or len({k.casefold() for k in keys.values()}) != len(keys):
        clash = sorted(label for label, n in folded.items() if n > 1)
        raise CourseError(
            f"the grader gave two {lms} students the same folder ({clash}); nothing was "
            "graded. This is a bug of the grader: report it with the download."
        )
    copies: dict[tuple[_Student, str, str], list[tuple[tuple, _Found]]] = {}
    for item in found:
        notebook = _notebook_of(item.file_id)
        if notebook is None:
            reason = (
                f"{_shown(item.file_id)} (from {lms} student {_shown(item.name)}) is not a "
                "notebook of this course"
            )
            ignored.append(_ignored(item.shown, reason))
            continue
        assignment, name, suffix = notebook
        rank = (suffix, item.order, -item.shown.count("/"), item.shown)
        copies.setdefault(((item.user_id, item.name), assignment, name), []).append((rank, item))
    for student in students:  # every student named is a student, whatever they submitted
        (target / keys[student]).mkdir(parents=True, exist_ok=True)
    for student, assignment, _ in copies:  # a folder for what each submitted, never for others
        (target / keys[student] / assignment).mkdir(parents=True, exist_ok=True)
    late: set[tuple[str, str]] = set()
    for (student, assignment, name), ranked in sorted(copies.items(), key=lambda c: c[0][1:]):
        ranked.sort(key=lambda pair: pair[0], reverse=True)
        path = target / keys[student] / assignment / f"{name}.ipynb"
        used = None
        for _, item in ranked:
            if used is None:
                try:
                    _copy(item.entry, path)
                    used = item
                    if item.late:
                        late.add((keys[student], assignment))
                except Exception as error:  # noqa: BLE001 - a damaged file is reported
                    ignored.append(_ignored(item.shown, f"could not be read ({_why(error)})"))
            else:
                ignored.append(
                    _ignored(
                        item.shown,
                        f"an earlier or duplicate copy of {name}.ipynb from {lms} student "
                        f"{_shown(item.name)}; {used.shown} was graded",
                    )
                )
    return {keys[student]: labels[student] for student in students}, notes, late


def read_notebook(path: Path) -> str:
    """Return why ``path`` cannot be graded as a notebook, or ``""`` if it can.

    The file is opened without following a symbolic link, and no reason quotes its content.
    """
    return load_notebook(path)[0]


def load_notebook(path: Path) -> tuple[str, bytes]:
    """Read ``path`` once: return why it cannot be graded as a notebook (``""`` if it can) and
    its bytes (empty when it cannot)."""
    try:
        handle = _open_regular(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"the file is {LINKED_FILE}", b""
        if error.errno == errno.EINVAL:
            return "not a regular file (a notebook is a file)", b""
        return f"the file cannot be opened ({_why(error)})", b""
    with handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(MAX_NOTEBOOK_BYTES + 1) if size <= MAX_NOTEBOOK_BYTES else b""
    reason = _notebook_problem(data, size)
    return reason, b"" if reason else data


def _notebook_problem(data: bytes, size: int) -> str:
    """Why ``data`` (a file of ``size`` bytes) cannot be graded as a notebook, or ``""``."""
    if size > MAX_NOTEBOOK_BYTES or len(data) > MAX_NOTEBOOK_BYTES:
        return (
            f"the file is {max(size, len(data)) / 1024**2:,.0f} MB, more than the "
            f"{MAX_NOTEBOOK_BYTES / 1024**2:,.0f} MB a notebook may be (was something else "
            "saved under its name? A notebook saved after Kernel > Restart & Clear Output "
            "weighs kilobytes)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not a notebook file (not UTF-8 text: byte {error.start} cannot be decoded)"
    values = data.count(b",") + data.count(b"{") + data.count(b"[")
    if values > MAX_NOTEBOOK_VALUES:
        return (
            f"not a notebook the grader reads: its JSON holds about {values:,} values, more than "
            f"the {MAX_NOTEBOOK_VALUES:,} a notebook may (a course notebook holds thousands)"
        )
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        bom = " (it starts with a byte-order mark)" if text.startswith("\ufeff") else ""
        return (
            f"not a notebook file (invalid JSON at line {error.lineno}, column {error.colno})" + bom
        )
    except RecursionError:
        return "not a notebook file (its JSON is nested too deeply)"
    except (ValueError, MemoryError) as error:  # e.g. an integer of more than 4300 digits
        return f"not a notebook file (its JSON cannot be read: {type(error).__name__})"
    if not isinstance(content, dict):
        return "not a notebook file (its JSON is not an object)"
    major, minor = nbformat.reader.get_version(content)
    if type(major) is not int or major not in nbformat.versions or type(minor) is not int:
        return "not a notebook file (it has no nbformat version this grader reads)"
    try:
        nb = nbformat.versions[major].to_notebook_json(content, minor=minor)
        nb = nbformat.convert(nb, 4)
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        return f"not a valid notebook ({_where(error)}: {_broken(error)})"
    except Exception as error:  # noqa: BLE001 - anything that stops nbformat is "unreadable"
        return f"not a notebook file (it is not shaped as a notebook: {type(error).__name__})"
    if not nb.cells:
        return "the notebook is empty (it has no cells)"
    return ""


_CELL_FIELDS = ("cell_type", "source", "metadata", "outputs", "execution_count", "attachments")
_RULES = {
    "type": "a value of the wrong type",
    "required": "a required field is missing",
    "additionalProperties": "a field the notebook format does not have",
    "enum": "a value the notebook format does not allow",
    "const": "a value the notebook format does not allow",
    "oneOf": "it matches none of the shapes the notebook format allows",
    "anyOf": "it matches none of the shapes the notebook format allows",
}


def _where(error: Exception) -> str:
    """Where in a notebook a validation error is, named without quoting the notebook."""
    path = list(getattr(error, "absolute_path", None) or [])
    if len(path) > 1 and path[0] == "cells" and isinstance(path[1], int):
        where = f"cell {path[1] + 1}"
        if len(path) > 2 and path[2] in _CELL_FIELDS:
            where += f", its {path[2]}"
        return where
    if path and path[0] in ("cells", "metadata", "nbformat", "nbformat_minor"):
        return f"its {path[0]}"
    return "the notebook"


def _broken(error: Exception) -> str:
    rule = getattr(error, "validator", None)
    return _RULES.get(rule, f"breaks the notebook format's {rule!r} rule" if rule else "invalid")


def discover(
    folder: Path,
    names: dict[str, str] | None = None,
    stage: Path | None = None,
    only: list[str] | None = None,
    late: set[tuple[str, str]] | None = None,
) -> tuple[list[StudentSubmission], list[str]]:
    """Find every student's notebooks under ``folder`` (``<student>/<assignment>/<nb>.ipynb``).

    ``names`` (``Unpacked.names``) maps each student folder to the student's name; without it,
    every folder not hidden is a student, named by the folder's name (bytes that are not UTF-8
    shown as U+FFFD, and numbered if that makes two names alike). Symbolic links are never
    followed: a linked student folder is not a student, and a linked assignment folder or
    notebook is reported unreadable. With ``only`` (the command's ``--assignment``), those are
    the batch's assignments and every student is expected to have submitted each of them (an
    absent one is reported as missing); without it, each student is graded on the assignments
    they submitted a folder for, so what one student submits never adds rows to another's (and a
    student who submitted no assignment of the course has no rows). With ``stage``,
    each readable notebook is copied there as it was read (``<key>/<assignment>/<nb>.ipynb``),
    and that copy is what gets graded, whatever happens to the submitted file afterwards.
    Each assignment's submission time is read from its folder's ``timestamp.txt`` (nbgrader's),
    and ``late`` (``Unpacked.late``) marks the ones an LMS called late.
    Returns the submissions and the assignments.
    """
    known = set(assignments())
    if names is None:
        folders = sorted(
            p
            for p in folder.iterdir()
            if not p.name.startswith((".", "__MACOSX")) and _kind(p) == _FOLDER
        )
        shown = _display_names([p.name for p in folders])
    else:
        folders = sorted(folder / name for name in names if _kind(folder / name) == _FOLDER)
        shown = dict(names)
    if not folders:
        raise CourseError(
            f"{folder} holds no student folders; expected <student>/<assignment>/<notebook>.ipynb"
        )
    unknown = sorted(set(only or ()) - known)
    if unknown:
        raise CourseError(
            f"no assignment is called {', '.join(unknown)}; the course's assignments are "
            f"{', '.join(sorted(known))}"
        )
    # What a student submitted: a folder per assignment (a link to one counts, and is then
    # reported unreadable rather than passed over).
    submitted = {s: sorted(a for a in known if _kind(s / a) in (_FOLDER, _LINK)) for s in folders}
    batch = sorted(only) if only else sorted({a for found in submitted.values() for a in found})
    if not batch:
        raise CourseError(
            f"no folder in {folder} is named after an assignment ({', '.join(sorted(known))}); "
            "expected <student>/<assignment>/<notebook>.ipynb"
        )
    result = []
    for student_dir in folders:
        student = StudentSubmission(shown[student_dir.name])
        for assignment in sorted(only) if only else submitted[student_dir]:
            marked = (student_dir.name, assignment) in (late or set())
            if _kind(student_dir / assignment) == _FOLDER:
                when = deadlines.read_submitted(student_dir / assignment, marked, _open_regular)
                if when is not None:
                    student.submitted[assignment] = when
            for notebook in notebooks(assignment):
                entry = _find(student_dir, student.student, assignment, notebook, stage)
                student.notebooks.append(entry)
        result.append(student)
    if len({s.key for s in result}) != len(result):
        raise CourseError(f"two student folders of {folder} are given the same student name.")
    return result, batch


def _kind(path: Path) -> str | None:
    """What ``path`` is, a symbolic link not followed; ``None`` if nothing."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return _LINK
    if stat.S_ISDIR(mode):
        return _FOLDER
    return _FILE if stat.S_ISREG(mode) else _OTHER


def _display_names(folders: list[str]) -> dict[str, str]:
    """The student name of each folder name: itself, or, if it is not UTF-8, a clean text with
    U+FFFD for each undecodable byte (numbered if another folder already has that name)."""
    exact = {name for name in folders if _text(name) == name}
    result = {name: name for name in exact}
    taken = set(exact)
    for name in sorted(set(folders) - exact):
        shown, number = _text(name), 1
        while shown in taken:
            number += 1
            shown = f"{_text(name)} ({number})"
        result[name] = shown
        taken.add(shown)
    return result


def _find(
    student_dir: Path, student: str, assignment: str, notebook: str, stage: Path | None = None
) -> NotebookSubmission:
    folder = student_dir / assignment
    path = folder / f"{notebook}.ipynb"
    entry = NotebookSubmission(student, assignment, notebook, path)
    folder_kind = _kind(folder)
    kind = _kind(path) if folder_kind == _FOLDER else None
    if folder_kind == _LINK:
        entry.path, entry.status = None, Status.UNREADABLE
        entry.detail = f"{assignment}/ is {LINKED_FOLDER}"
    elif folder_kind != _FOLDER:
        entry.path, entry.status = None, Status.MISSING
        entry.detail = f"nothing was submitted for {assignment} (no folder {assignment}/)"
    elif kind is None:
        others = sorted(_text(p.name) for p in folder.glob("*.ipynb"))
        entry.path, entry.status = None, Status.MISSING
        entry.detail = f"{notebook}.ipynb was not submitted" + (
            f" (found {', '.join(others)})" if others else ""
        )
    elif kind == _LINK:
        entry.path, entry.status = None, Status.UNREADABLE
        entry.detail = f"{notebook}.ipynb is {LINKED_FILE}"
    elif kind != _FILE:
        entry.path, entry.status = None, Status.UNREADABLE
        entry.detail = f"{notebook}.ipynb is not a regular file (a notebook is a file)"
    else:
        reason, data = load_notebook(path)
        if reason:
            entry.status, entry.detail = Status.UNREADABLE, reason
        elif stage is not None:
            copy = stage / student_key(student) / assignment / f"{notebook}.ipynb"
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data)
            entry.path = copy
    return entry
