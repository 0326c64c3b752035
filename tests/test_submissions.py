"""Submissions downloaded from an LMS (Canvas's flat zip, Moodle's folders) are normalised into
``<student>/<assignment>/<notebook>.ipynb`` before ``discover`` reads them; what is not used is
reported, never dropped in silence."""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.batch.submissions import (
    CANVAS,
    COURSE,
    LINKED_FILE,
    LINKED_FOLDER,
    MOODLE,
    SYMLINK,
    discover,
    read_notebook,
    student_key,
    unpack,
    unpack_submissions,
)
from autograder.content import EXERCISES, SOLUTIONS
from autograder.errors import CourseError
from autograder.status import Status

A01, A03 = "01-overfitting", "03-bernoulli-masks"
SHELL = "$(rm -rf ~)"  # a name that would do harm if it ever reached a shell


def notebook_bytes(assignment: str, tag: str) -> bytes:
    """The released notebook of ``assignment``, marked with ``tag`` so every copy differs."""
    nb = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    nb.cells[0].source += f"\n\n<!-- {tag} -->"
    return nbformat.writes(nb).encode("utf-8")


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def make_folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def layout(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def statuses(
    folder: Path, names: dict[str, str] | None = None, only: list[str] | None = None
) -> dict[tuple[str, str], str]:
    students, _ = discover(folder, names, only=only)
    return {(n.student, n.assignment): n.status for s in students for n in s.notebooks}


# Canvas: <lastfirst>[_LATE]_<userid>_<submissionid>_<file as uploaded>, all in one folder.
JANE03, JANE01 = notebook_bytes(A03, "jane 03"), notebook_bytes(A01, "jane 01")
JOHN_FIRST, JOHN_LATE = notebook_bytes(A03, "john first"), notebook_bytes(A03, "john late")
QUOTED, SHELLS = notebook_bytes(A03, "quoted"), notebook_bytes(A03, "shell")
LEE1, LEE2 = notebook_bytes(A03, "lee 5001"), notebook_bytes(A03, "lee 5002")
DOTS, HIDDEN = notebook_bytes(A03, "dot-dot"), notebook_bytes(A03, "hidden")
CANVAS_FILES = {
    f"smithjane_12345_678901_{A03}.ipynb": JANE03,
    f"smithjane_12345_678902_{A01}.ipynb": JANE01,
    f"doejohn_2345_99870_{A03}.ipynb": JOHN_FIRST,
    f"doejohn_LATE_2345_99881_{A03}-1.ipynb": JOHN_LATE,
    "doejohn_2345_99882_scratch.ipynb": notebook_bytes(A03, "scratch"),
    "doejohn_2345_99883_notes.txt": b"my notes",
    f'O\'Brien Zoë "Z"_3456_1001_{A03}.ipynb': QUOTED,
    f"{SHELL}_4567_1002_{A03}.ipynb": SHELLS,
    f"leeann_5001_2001_{A03}.ipynb": LEE1,  # two students whose lastfirst is the same
    f"leeann_5002_2002_{A03}.ipynb": LEE2,
    "nobody_6001_3001_my-work.ipynb": notebook_bytes(A03, "misnamed"),
    f".._7001_4001_{A03}.ipynb": DOTS,  # names are data: these students are graded too
    f".hidden_7002_4002_{A03}.ipynb": HIDDEN,
    "notes.txt": b"the instructor's notes",
    "__MACOSX/._notes.txt": b"resource fork",
}
CANVAS_LAYOUT = {
    f"smithjane/{A03}/{A03}.ipynb": JANE03,
    f"smithjane/{A01}/{A01}.ipynb": JANE01,
    f"doejohn/{A03}/{A03}.ipynb": JOHN_LATE,
    f'O\'Brien Zoë "Z"/{A03}/{A03}.ipynb': QUOTED,
    f"{student_key(SHELL)}/{A03}/{A03}.ipynb": SHELLS,  # '~' is not in a plain folder name
    f"leeann_5001/{A03}/{A03}.ipynb": LEE1,
    f"leeann_5002/{A03}/{A03}.ipynb": LEE2,
    f"{student_key('..')}/{A03}/{A03}.ipynb": DOTS,
    f"{student_key('.hidden')}/{A03}/{A03}.ipynb": HIDDEN,
}
CANVAS_IGNORED = {
    f"doejohn_2345_99870_{A03}.ipynb",  # the earlier submission
    "doejohn_2345_99882_scratch.ipynb",
    "doejohn_2345_99883_notes.txt",
    "nobody_6001_3001_my-work.ipynb",
    "notes.txt",
}


@pytest.mark.parametrize("packed", ["zip", "folder"])
def test_canvas_download_is_normalised(tmp_path, packed):
    source = tmp_path / "download"
    if packed == "zip":
        make_zip(tmp_path / "submissions.zip", CANVAS_FILES)
        source = tmp_path / "submissions.zip"
    else:
        make_folder(source, CANVAS_FILES)
    work = tmp_path / "work"
    work.mkdir()
    unpacked = unpack_submissions(source, work)

    assert unpacked.layout == CANVAS
    assert unpacked.folder.is_relative_to(work)
    assert layout(unpacked.folder) == CANVAS_LAYOUT
    assert {i.path for i in unpacked.ignored} == CANVAS_IGNORED
    reasons = {i.path: i.reason for i in unpacked.ignored}
    assert (
        f"doejohn_LATE_2345_99881_{A03}-1.ipynb was graded"
        in reasons[f"doejohn_2345_99870_{A03}.ipynb"]
    )
    assert "not a notebook of this course" in reasons["doejohn_2345_99882_scratch.ipynb"]
    assert "not named as Canvas names" in reasons["notes.txt"]
    assert unpacked.names[student_key("..")] == ".."
    assert unpacked.names[student_key(SHELL)] == SHELL
    assert unpacked.notes == [
        "2 Canvas students share the name 'leeann' (case-blind); they are graded as "
        "'leeann_5001', 'leeann_5002'"
    ]

    assert statuses(unpacked.folder, unpacked.names, [A01, A03]) == {
        ("smithjane", A01): Status.GRADED,
        ("smithjane", A03): Status.GRADED,
        ("doejohn", A01): Status.MISSING,
        ("doejohn", A03): Status.GRADED,
        ('O\'Brien Zoë "Z"', A01): Status.MISSING,
        ('O\'Brien Zoë "Z"', A03): Status.GRADED,
        (SHELL, A01): Status.MISSING,
        (SHELL, A03): Status.GRADED,
        ("leeann_5001", A01): Status.MISSING,
        ("leeann_5001", A03): Status.GRADED,
        ("leeann_5002", A01): Status.MISSING,
        ("leeann_5002", A03): Status.GRADED,
        # submitted only a misnamed notebook: listed, and missing, rather than left out
        ("nobody", A01): Status.MISSING,
        ("nobody", A03): Status.MISSING,
        ("..", A01): Status.MISSING,
        ("..", A03): Status.GRADED,
        (".hidden", A01): Status.MISSING,
        (".hidden", A03): Status.GRADED,
    }
    if packed == "folder":  # the download itself is only read
        assert layout(source) == {k: v for k, v in CANVAS_FILES.items()}


def test_unpack_keeps_its_signature_and_logs_what_it_ignored(tmp_path, caplog):
    archive = make_zip(tmp_path / "submissions.zip", CANVAS_FILES)
    with caplog.at_level(logging.WARNING, logger="autograder.batch.submissions"):
        folder = unpack(archive, tmp_path)
    assert layout(folder) == CANVAS_LAYOUT
    logged = {r.getMessage() for r in caplog.records}
    assert "ignored: notes.txt: not named as Canvas names submissions" in "\n".join(logged)
    assert "note: 2 Canvas students share the name 'leeann'" in "\n".join(logged)
    assert len(logged) == len(CANVAS_IGNORED) + 1  # and the one note


def test_highest_resubmission_suffix_wins_whatever_the_order(tmp_path):
    files = {
        f"kimlee_LATE_8_30_{A03}-2.ipynb": notebook_bytes(A03, "second"),
        f"kimlee_8_31_{A03}-1.ipynb": notebook_bytes(A03, "first"),  # a higher id, still older
        f"kimlee_8_10_{A03}.ipynb": notebook_bytes(A03, "original"),
    }
    unpacked = unpack_submissions(make_zip(tmp_path / "c.zip", files), tmp_path)
    assert layout(unpacked.folder) == {f"kimlee/{A03}/{A03}.ipynb": notebook_bytes(A03, "second")}
    assert len(unpacked.ignored) == 2


# Moodle: a folder per student and plugin, <Full Name>_<id>_assignsubmission_<plugin>_/.
JANE_M, ZOE_M = notebook_bytes(A03, "moodle jane"), notebook_bytes(A03, "moodle zoë")
SHELL_1, SHELL_2 = notebook_bytes(A03, "shell -1"), notebook_bytes(A03, "shell -2")
MOODLE_FILES = {
    f"Jane Smith_101_assignsubmission_file_/{A03}.ipynb": JANE_M,
    f'Zoë O\'Brien "Z"_102_assignsubmission_file_/{A03}.ipynb': ZOE_M,
    f"{SHELL}_103_assignsubmission_file_/{A03}-1.ipynb": SHELL_1,
    f"{SHELL}_103_assignsubmission_file_/{A03}-2.ipynb": SHELL_2,
    "John Doe_104_assignsubmission_file_/notes.txt": b"notes",
    "John Doe_104_assignsubmission_file_/scratch.ipynb": notebook_bytes(A03, "scratch"),
    "John Doe_104_assignsubmission_onlinetext_/onlinetext.html": b"<p>see attached</p>",
    "notes.txt": b"the instructor's notes",
}


def test_moodle_download_is_normalised(tmp_path):
    archive = make_zip(tmp_path / "moodle.zip", MOODLE_FILES)
    unpacked = unpack_submissions(archive, tmp_path)

    assert unpacked.layout == MOODLE
    assert layout(unpacked.folder) == {
        f"Jane Smith/{A03}/{A03}.ipynb": JANE_M,
        f'Zoë O\'Brien "Z"/{A03}/{A03}.ipynb': ZOE_M,
        f"{student_key(SHELL)}/{A03}/{A03}.ipynb": SHELL_2,
    }
    assert {i.path for i in unpacked.ignored} == {
        f"{SHELL}_103_assignsubmission_file_/{A03}-1.ipynb",
        "John Doe_104_assignsubmission_file_/notes.txt",
        "John Doe_104_assignsubmission_file_/scratch.ipynb",
        "John Doe_104_assignsubmission_onlinetext_/onlinetext.html",
        "notes.txt",
    }
    assert statuses(unpacked.folder, unpacked.names, [A03]) == {
        ("Jane Smith", A03): Status.GRADED,
        ('Zoë O\'Brien "Z"', A03): Status.GRADED,
        (SHELL, A03): Status.GRADED,
        ("John Doe", A03): Status.MISSING,
    }
    students, _ = discover(unpacked.folder, unpacked.names, only=[A03])
    (john,) = [s for s in students if s.student == "John Doe"]
    assert john.notebooks[0].detail == f"nothing was submitted for {A03} (no folder {A03}/)"


def test_a_zip_of_one_moodle_student_is_not_mistaken_for_a_wrapper_folder(tmp_path):
    files = {f"Jane Smith_101_assignsubmission_file_/{A03}.ipynb": JANE_M}
    unpacked = unpack_submissions(make_zip(tmp_path / "one.zip", files), tmp_path)
    assert layout(unpacked.folder) == {f"Jane Smith/{A03}/{A03}.ipynb": JANE_M}


def test_unicode_names_of_a_zip_without_the_utf8_flag(tmp_path):
    """Some zip tools write UTF-8 names without saying so; Python would read them as cp437."""

    class Unflagged(zipfile.ZipInfo):
        def _encodeFilenameFlags(self):  # zipfile's own (private) method name
            return self.filename.encode("utf-8"), self.flag_bits & ~0x800

    archive = tmp_path / "unflagged.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(Unflagged(f"núñezzoë_9_90_{A03}.ipynb"), ZOE_M)
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() != [f"núñezzoë_9_90_{A03}.ipynb"]  # the problem is real
    unpacked = unpack_submissions(archive, tmp_path)
    assert layout(unpacked.folder) == {f"núñezzoë/{A03}/{A03}.ipynb": ZOE_M}


def test_a_course_layout_is_used_as_it_is(tmp_path):
    source = make_folder(tmp_path / "subs", {f"alice/{A03}/{A03}.ipynb": JANE03})
    unpacked = unpack_submissions(source, tmp_path)
    assert (unpacked.folder, unpacked.layout, unpacked.ignored) == (source, COURSE, [])
    assert unpack(source, tmp_path) == source


def test_an_unrecognisable_zip_names_both_accepted_layouts(tmp_path):
    archive = make_zip(
        tmp_path / "odd.zip",
        {"readme.txt": b"hello", f"alice/{A03}.ipynb": JANE03, "bob.ipynb": JANE03},
    )
    with pytest.raises(CourseError) as error:
        unpack_submissions(archive, tmp_path)
    message = str(error.value)
    assert "<student>/<assignment>/<notebook>.ipynb" in message
    assert "Canvas" in message and "<name>[_LATE]_<userid>_<submissionid>_" in message
    assert "Moodle" in message and "_assignsubmission_file_/" in message
    assert "'readme.txt'" in message and "'alice/'" in message
    with pytest.raises(CourseError, match="accepts two layouts"):
        unpack(archive, tmp_path)


def test_an_empty_zip_names_both_accepted_layouts(tmp_path):
    archive = make_zip(tmp_path / "empty.zip", {})
    with pytest.raises(CourseError, match="accepts two layouts.*holds nothing"):
        unpack_submissions(archive, tmp_path)


def test_an_lms_download_without_a_course_notebook_says_so(tmp_path):
    archive = make_zip(tmp_path / "c.zip", {"smithjane_1_2_homework.ipynb": JANE03})
    with pytest.raises(CourseError, match="none of its files is a notebook of this course") as e:
        unpack_submissions(archive, tmp_path)
    assert "smithjane_1_2_homework.ipynb" in str(e.value) and f"{A03}.ipynb" in str(e.value)


def test_a_zip_that_climbs_out_is_refused(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", {f"../smithjane_1_2_{A03}.ipynb": JANE03})
    with pytest.raises(CourseError, match="unsafe path"):
        unpack_submissions(archive, tmp_path / "work")
    assert not (tmp_path / f"smithjane_1_2_{A03}.ipynb").exists()


def test_a_symbolic_link_in_a_download_is_not_followed(tmp_path):
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(JANE03)
    source = make_folder(tmp_path / "download", {f"smithjane_1_2_{A03}.ipynb": JANE01})
    (source / f"doejohn_3_4_{A03}.ipynb").symlink_to(secret)
    unpacked = unpack_submissions(source, tmp_path)
    assert layout(unpacked.folder) == {f"smithjane/{A03}/{A03}.ipynb": JANE01}
    assert [i.path for i in unpacked.ignored] == [f"doejohn_3_4_{A03}.ipynb"]


def test_an_oversized_notebook_is_unreadable_and_never_parsed(tmp_path, monkeypatch):
    from autograder.batch import submissions

    folder = make_folder(tmp_path / "batch", {f"jane/{A03}/{A03}.ipynb": JANE03})
    monkeypatch.setattr(submissions, "MAX_NOTEBOOK_BYTES", len(JANE03) - 1)
    monkeypatch.setattr(nbformat, "read", lambda *a, **k: pytest.fail("the file was parsed"))
    monkeypatch.setattr(submissions.json, "loads", lambda *a, **k: pytest.fail("it was parsed"))
    (student,), _ = discover(folder)
    (entry,) = student.notebooks
    assert entry.status == Status.UNREADABLE
    assert "MB a notebook may be" in entry.detail and "Clear Output" in entry.detail


def test_a_zip_larger_than_the_free_disk_is_refused_before_unpacking(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    archive = make_zip(tmp_path / "big.zip", {f"jane/{A03}/{A03}.ipynb": JANE03})
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1024))
    with pytest.raises(CourseError, match="unpacks to .* MB, but only 0 MB are free") as raised:
        unpack_submissions(archive, tmp_path / "work")
    assert "TMPDIR" in str(raised.value)
    assert not list((tmp_path / "work").rglob("*.ipynb"))


# Symbolic links are never followed (H1), nor extracted from a zip (H3).
SOLVED = (SOLUTIONS / A03 / f"{A03}.ipynb").read_bytes()  # what a link would smuggle in
ALICE = notebook_bytes(A03, "alice, honest")


def instructor_copy(tmp_path: Path) -> Path:
    """The instructor's notebook outside the submissions, as a link would point at it."""
    path = tmp_path / "instructor" / A03 / f"{A03}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_bytes(SOLVED)
    return path


def by_student(folder: Path, names=None) -> dict[str, dict[str, object]]:
    students, _ = discover(folder, names)
    return {s.student: {n.assignment: n for n in s.notebooks} for s in students}


def test_symbolic_links_in_a_course_folder_are_never_followed(tmp_path):
    solution = instructor_copy(tmp_path)
    source = make_folder(tmp_path / "subs", {f"alice/{A03}/{A03}.ipynb": ALICE})
    (source / "mallory" / A03).mkdir(parents=True)
    (source / "mallory" / A03 / f"{A03}.ipynb").symlink_to(solution)  # the notebook is a link
    (source / "eve").mkdir()
    (source / "eve" / A03).symlink_to(solution.parent)  # the assignment folder is a link
    (source / "eve" / A01).symlink_to(solution.parent)  # ... of an assignment nobody submitted
    (source / "trudy").symlink_to(tmp_path / "instructor")  # the student folder is a link

    unpacked = unpack_submissions(source, tmp_path / "work")
    assert (unpacked.folder, unpacked.layout) == (source, COURSE)
    assert [(i.path, i.reason) for i in unpacked.ignored] == [
        (f"eve/{A01}", LINKED_FOLDER),
        (f"eve/{A03}", LINKED_FOLDER),
        ("trudy", LINKED_FOLDER),
    ]
    assert "copy the folder itself" in LINKED_FOLDER

    students, batch = discover(source)
    assert batch == [A01, A03]  # each student's own: eve's links are hers alone
    found = {s.student: s.notebooks for s in students}
    assert sorted(found) == ["alice", "eve", "mallory"]  # trudy's link is not a student
    (alice,), (mallory,) = found["alice"], found["mallory"]
    eve_01, eve = found["eve"]
    assert (eve_01.status, eve_01.detail) == (Status.UNREADABLE, f"{A01}/ is {LINKED_FOLDER}")
    assert (alice.status, alice.path.read_bytes()) == (Status.GRADED, ALICE)
    assert (mallory.status, mallory.path) == (Status.UNREADABLE, None)
    assert mallory.detail == f"{A03}.ipynb is {LINKED_FILE}"
    assert "copy the file itself" in mallory.detail
    assert (eve.status, eve.path) == (Status.UNREADABLE, None)
    assert eve.detail == f"{A03}/ is {LINKED_FOLDER}"


def test_a_link_swapped_in_after_the_check_is_still_not_followed(tmp_path, monkeypatch):
    """The notebook is opened with O_NOFOLLOW: a link made between the check and the read (or a
    check that missed it) is refused by the open itself."""
    from autograder.batch import submissions

    solution = instructor_copy(tmp_path)
    source = make_folder(tmp_path / "subs", {f"alice/{A03}/{A03}.ipynb": ALICE})
    (source / "mallory" / A03).mkdir(parents=True)
    (source / "mallory" / A03 / f"{A03}.ipynb").symlink_to(solution)
    kind = submissions._kind
    monkeypatch.setattr(
        submissions, "_kind", lambda p: "file" if p.name.endswith(".ipynb") else kind(p)
    )
    found = by_student(source)
    assert found["mallory"][A03].status == Status.UNREADABLE
    assert found["mallory"][A03].detail == f"the file is {LINKED_FILE}"
    assert found["alice"][A03].status == Status.GRADED
    assert read_notebook(source / "mallory" / A03 / f"{A03}.ipynb") == f"the file is {LINKED_FILE}"
    assert read_notebook(source / "alice" / A03 / f"{A03}.ipynb") == ""


def test_a_pipe_is_unreadable_without_waiting_for_a_writer(tmp_path):
    source = make_folder(tmp_path / "subs", {f"alice/{A03}/{A03}.ipynb": ALICE})
    (source / "bob" / A03).mkdir(parents=True)
    os.mkfifo(source / "bob" / A03 / f"{A03}.ipynb")  # opening it to read would block
    found = by_student(source)
    assert found["bob"][A03].status == Status.UNREADABLE
    assert "not a regular file" in found["bob"][A03].detail
    assert read_notebook(source / "bob" / A03 / f"{A03}.ipynb").startswith("not a regular file")
    assert found["alice"][A03].status == Status.GRADED


def test_a_file_of_a_download_swapped_for_a_link_is_not_copied(tmp_path, monkeypatch):
    """An LMS folder's files are copied with O_NOFOLLOW too: a link made after the listing is
    reported, never followed."""
    from autograder.batch import submissions

    solution = instructor_copy(tmp_path)
    source = make_folder(
        tmp_path / "download",
        {f"smithjane_1_2_{A03}.ipynb": JANE03, f"doejohn_3_4_{A03}.ipynb": JOHN_FIRST},
    )
    listing = submissions._folder_entries

    def list_then_swap(root):
        entries = listing(root)
        (root / f"doejohn_3_4_{A03}.ipynb").unlink()
        (root / f"doejohn_3_4_{A03}.ipynb").symlink_to(solution)
        return entries

    monkeypatch.setattr(submissions, "_folder_entries", list_then_swap)
    unpacked = unpack_submissions(source, tmp_path)
    assert layout(unpacked.folder) == {f"smithjane/{A03}/{A03}.ipynb": JANE03}
    (ignored,) = unpacked.ignored
    assert ignored.path == f"doejohn_3_4_{A03}.ipynb" and "could not be read" in ignored.reason
    assert statuses(unpacked.folder, unpacked.names)[("doejohn", A03)] == Status.MISSING


def link_member(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip member that is a symbolic link (as `zip --symlinks` stores one)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


LINK_TARGET = f"../../../solutions/{A03}/{A03}.ipynb"


@pytest.mark.parametrize("kind", ["canvas", "course", "moodle"])
def test_a_symbolic_link_in_a_zip_is_not_extracted(tmp_path, kind):
    honest, linked = {
        "canvas": (f"smithjane_1_2_{A03}.ipynb", f"doejohn_3_4_{A03}.ipynb"),
        "course": (f"alice/{A03}/{A03}.ipynb", f"mallory/{A03}/{A03}.ipynb"),
        "moodle": (
            f"Alice A_1_assignsubmission_file_/{A03}.ipynb",
            f"Mallory M_2_assignsubmission_file_/{A03}.ipynb",
        ),
    }[kind]
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(honest, ALICE)
        zf.writestr(*link_member(linked, LINK_TARGET))
    with zipfile.ZipFile(archive) as zf:  # what Python's zipfile would have written
        zf.extractall(tmp_path / "naive")
    assert (tmp_path / "naive" / linked).read_text() == LINK_TARGET

    unpacked = unpack_submissions(archive, tmp_path / "work")
    assert [(i.path, i.reason) for i in unpacked.ignored] == [(linked, SYMLINK)]
    assert SYMLINK == "a symbolic link, not a submitted file"
    written = layout(unpacked.folder)
    assert list(written.values()) == [ALICE]  # only the honest student's notebook
    rows = by_student(unpacked.folder, unpacked.names)
    (honest_student,) = [s for s in rows if A03 in rows[s] and rows[s][A03].status == Status.GRADED]
    assert rows[honest_student][A03].path.read_bytes() == ALICE
    for entries in rows.values():
        assert all("solutions" not in n.detail for n in entries.values())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (LINK_TARGET.encode(), "not a notebook file (invalid JSON at line 1, column 1)"),
        (b"SECRET", "not a notebook file (invalid JSON at line 1, column 1)"),
        (b'{\n  "cells": [\n    SECRET', "not a notebook file (invalid JSON at line 3, column 5)"),
        (b'{"a": "\\SECRET"}', "not a notebook file (invalid JSON at line 1, column 8)"),
        (b"\xef\xbb\xbf{}", "invalid JSON at line 1, column 1) (it starts with a byte-order mark)"),
        (b"SECRET \xff", "not a notebook file (not UTF-8 text: byte 7 cannot be decoded)"),
        (b'"SECRET"', "not a notebook file (its JSON is not an object)"),
        (b'{"nbformat": "SECRET"}', "it has no nbformat version this grader reads"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": "SECRET", "metadata": {}}', "shaped"),
        (
            b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": "SECRET"}, '
            b'"cells": []}',
            "not a valid notebook (its metadata: a value of the wrong type)",
        ),
        (
            b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": '
            b'"markdown", "source": "", "metadata": {}, "SECRET": "SECRET"}]}',
            "not a valid notebook (cell 1: a field the notebook format does not have)",
        ),
        (b"[" * 100_000, "not a notebook file (its JSON is nested too deeply)"),
    ],
)
def test_an_unreadable_notebook_is_described_never_quoted(tmp_path, content, expected):
    source = make_folder(
        tmp_path / "subs", {f"alice/{A03}/{A03}.ipynb": ALICE, f"bob/{A03}/{A03}.ipynb": content}
    )
    rows = by_student(source)
    assert rows["bob"][A03].status == Status.UNREADABLE
    assert expected in rows["bob"][A03].detail
    assert "secret" not in rows["bob"][A03].detail.casefold()
    assert "solutions" not in rows["bob"][A03].detail
    assert rows["alice"][A03].status == Status.GRADED
