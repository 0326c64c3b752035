"""Students' names are data: any text, of any length, from an LMS download or a folder's name.

Every student a download names is graded under their own name, no two students ever share a
row or a folder (case-blind, whatever Unicode form their names are in), and the folder on disk
is ``student_key(name)``, the name itself when it is plain and a slug with a hash otherwise.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import unicodedata
import zipfile
from pathlib import Path

import pytest

from autograder.batch.submissions import (
    CANVAS,
    MOODLE,
    discover,
    student_key,
    unpack_submissions,
)
from autograder.content import SOLUTIONS
from autograder.status import Status
from tests.test_submissions import A01, A03, SHELL, layout, make_folder, make_zip, notebook_bytes

NFC, NFD = unicodedata.normalize("NFC", "Zoë"), unicodedata.normalize("NFD", "Zoë")
JANE = notebook_bytes(A03, "jane smith, honest")  # the honest student of every download
SOLVED = (SOLUTIONS / A03 / f"{A03}.ipynb").read_bytes()
BLANK = notebook_bytes(A03, "blank")


def graded(unpacked) -> dict[str, bytes]:
    """Each student's name, as grades.csv shows it, and the A03 notebook graded for them."""
    students, _ = discover(unpacked.folder, unpacked.names)
    result = {}
    for student in students:
        assert student.key == student_key(student.student)
        (entry,) = [n for n in student.notebooks if n.assignment == A03]
        assert entry.status == Status.GRADED, (student.student, entry.detail)
        assert entry.path.parent.parent.name == student.key  # the folder on disk is the key
        result[student.student] = entry.path.read_bytes()
    return result


def moodle(name: str, uid: int | str, file: str = f"{A03}.ipynb") -> str:
    return f"{name}_{uid}_assignsubmission_file_/{file}"


def canvas(name: str, uid: int | str, file: str = f"{A03}.ipynb") -> str:
    return f"{name}_{uid}_{uid}00_{file}"


def pack(tmp_path: Path, packed: str, files: dict[str, bytes]) -> Path:
    if packed == "zip":
        return make_zip(tmp_path / "download.zip", files)
    return make_folder(tmp_path / "download", files)


# E: names that collide.


@pytest.mark.parametrize("packed", ["zip", "folder"])
def test_a_name_that_reads_as_another_students_name_and_id_takes_nobodys_row(tmp_path, packed):
    """Student 99 named "Bob Smith_12" must not take the row of student 12, who shares the name
    "Bob Smith" with student 13 and so is graded as "Bob Smith_12"."""
    bob13 = notebook_bytes(A03, "bob smith 13")
    source = pack(
        tmp_path,
        packed,
        {
            moodle("Bob Smith", 12): SOLVED,
            moodle("bob smith", 13): bob13,
            moodle("Bob Smith_12", 99): BLANK,
            moodle("Jane Smith", 101): JANE,
        },
    )
    unpacked = unpack_submissions(source, tmp_path / "work")
    assert unpacked.layout == MOODLE and unpacked.ignored == []
    assert graded(unpacked) == {
        "Bob Smith_12": SOLVED,  # the correct notebook stays with its author
        "bob smith_13": bob13,
        "Bob Smith_12_99": BLANK,
        "Jane Smith": JANE,
    }
    assert unpacked.names == {name: name for name in graded(unpacked)}  # all plain: key = name
    assert unpacked.notes == [
        "Moodle student 'Bob Smith_12' (id 99) is graded as 'Bob Smith_12_99': their name is how "
        "another student's name reads with that student's id",
        "2 Moodle students share the name 'Bob Smith' (case-blind); they are graded as "
        "'Bob Smith_12', 'bob smith_13'",
    ]


def test_names_alike_in_case_or_unicode_form_are_told_apart(tmp_path):
    """Canvas's flat names: one name in NFC and NFD, in other case, with ß, ending in _digits."""
    files = {
        canvas(NFC, 1): notebook_bytes(A03, "nfc 1"),
        canvas(NFD, 2): notebook_bytes(A03, "nfd 2"),
        canvas("ZOË", 3): notebook_bytes(A03, "upper 3"),
        canvas(f"{NFD.lower()}_1", 4): notebook_bytes(A03, "reads as Zoë_1"),
        canvas("Straße", 5): notebook_bytes(A03, "strasse 5"),
        canvas("STRASSE", 6): notebook_bytes(A03, "STRASSE 6"),
        canvas("ann", 7): notebook_bytes(A03, "ann 7"),
        canvas("Ann_7", 8): notebook_bytes(A03, "reads as ann_7"),
        canvas("smithjane", 100): JANE,
    }
    unpacked = unpack_submissions(make_zip(tmp_path / "c.zip", files), tmp_path)
    assert unpacked.layout == CANVAS and unpacked.ignored == []
    assert graded(unpacked) == {
        f"{NFC}_1": files[canvas(NFC, 1)],
        f"{NFC}_2": files[canvas(NFD, 2)],  # shown in NFC, told apart by the id
        "ZOË_3": files[canvas("ZOË", 3)],
        f"{NFC.lower()}_1_4": files[canvas(f"{NFD.lower()}_1", 4)],
        "Straße_5": files[canvas("Straße", 5)],
        "STRASSE_6": files[canvas("STRASSE", 6)],
        "ann": files[canvas("ann", 7)],
        "Ann_7_8": files[canvas("Ann_7", 8)],
        "smithjane": JANE,
    }
    notes = "\n".join(unpacked.notes)
    # A Canvas name ending in _<digits> reads two ways; the one that is a notebook is used, said.
    assert (
        f"'{canvas('Ann_7', 8)}' is read as Canvas student 'Ann_7' (id 8) submitting "
        f"'{A03}.ipynb', the only reading of its name that is a notebook of this course (read "
        f"first, it is student 'Ann' (id 7) submitting '800_{A03}.ipynb')" in notes
    )
    assert "3 Canvas students share the name 'ZOË' (case-blind)" in notes
    assert "'Ann_7' (id 8) is graded as 'Ann_7_8'" in notes


def test_one_id_under_several_names_never_merges_them(tmp_path):
    """A forged or edited download: id 12 on three folders, two names differing in case only."""
    files = {
        moodle("Bob", 12): notebook_bytes(A03, "Bob 12"),
        moodle("bob", 12): notebook_bytes(A03, "bob 12"),
        moodle("Robert", 12): notebook_bytes(A03, "Robert 12"),
        moodle("Bob_12 (1)", 7): notebook_bytes(A03, "a name like a numbered one"),
        moodle("Jane Smith", 101): JANE,
    }
    unpacked = unpack_submissions(make_zip(tmp_path / "m.zip", files), tmp_path)
    assert unpacked.ignored == []
    assert graded(unpacked) == {
        "Bob_12 (2)": files[moodle("Bob", 12)],
        "bob_12 (3)": files[moodle("bob", 12)],
        "Robert": files[moodle("Robert", 12)],
        "Bob_12 (1)": files[moodle("Bob_12 (1)", 7)],
        "Jane Smith": JANE,
    }
    notes = "\n".join(unpacked.notes)
    assert "Moodle id 12 appears under 3 names ('Bob', 'Robert', 'bob')" in notes
    assert "Moodle student 'bob' (id 12) cannot be told apart from another" in notes


ADVERSARIAL = [
    "Bob",
    "bob",
    "BOB",
    "Bob_1",
    "bob_1",
    "Bob_1_2",
    "bob_1_2_3",
    NFC,
    NFD,
    "ZOË",
    "Straße",
    "STRASSE",
    "strasse_3",
    "ǅemal",  # a title-case letter
    "ǆemal",
    "x",
    "X_10",
    "日本 語",
    ".",
    "..",
    ".hidden",
    "a\\b",
    SHELL,
    "tab\tname",
    "new\nline",
    "\u202eevil",
    " lead",
    "trail ",
    "é" * 150,
]


@pytest.mark.parametrize("kind", [MOODLE, CANVAS])
def test_random_batches_of_adversarial_names_keep_every_student_apart(tmp_path, kind):
    """Every student (id, name) gets one row, with their own notebook; the rows' names differ
    case-blind; a name is shown plain exactly when the rule allows it."""
    rng = random.Random(20240607)
    name_of = moodle if kind == MOODLE else canvas
    fold = lambda s: unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).casefold())  # noqa: E731
    for attempt in range(25):
        students, size = set(), rng.randint(2, 12)
        while len(students) < size:
            name, uid = rng.choice(ADVERSARIAL), rng.choice([1, 2, 3, 10, 12, 99])
            if (uid, unicodedata.normalize("NFC", name)) not in {
                (u, unicodedata.normalize("NFC", n)) for u, n in students
            }:
                students.add((uid, name))
        files = {
            name_of(name, uid): notebook_bytes(A03, f"{uid} {name!r}") for uid, name in students
        }
        files[name_of("Jane Smith", 5000)] = JANE
        work = tmp_path / str(attempt)
        work.mkdir()
        unpacked = unpack_submissions(make_zip(work / "d.zip", files), work)
        assert unpacked.ignored == [], unpacked.ignored
        rows = graded(unpacked)
        assert rows["Jane Smith"] == JANE
        assert len({fold(name) for name in rows}) == len(rows) == len(students) + 1
        assert sorted(rows.values()) == sorted(files.values())  # each notebook once
        names = [unicodedata.normalize("NFC", n) for _, n in students] + ["Jane Smith"]
        forms = {fold(f"{n}_{u}") for u, n in students} | {fold("Jane Smith_5000")}
        for uid, name in [*students, (5000, "Jane Smith")]:
            (label,) = [row for row, data in rows.items() if data == files[name_of(name, uid)]]
            name = unicodedata.normalize("NFC", name)
            if [fold(n) for n in names].count(fold(name)) == 1 and fold(name) not in forms:
                assert label == name
            else:
                assert label == f"{name}_{uid}" or re.fullmatch(
                    re.escape(f"{name}_{uid}") + r" \(\d+\)", label
                )


# G: names of any length and any character; the folder is student_key(name).


@pytest.mark.parametrize(
    "name", ["Jane Smith", "leeann_5001", 'O\'Brien Zoë "Z"', "__MACOSX", "a" * 100, "日本 語"]
)
def test_a_plain_name_is_its_own_key(name):
    assert student_key(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        SHELL,  # holds '~'
        "new\nline",
        "\u202eevil",  # a format character (right-to-left override)
        "zero\u200bwidth",
        NFD,
        " lead",
        "trail ",
        "a" * 101,
        "é" * 101,
        "😀" * 60,  # 60 characters, 240 bytes
        "caf\udce9",  # a folder name that is not UTF-8, as Python reads it
        "\ud800",
    ],
)
def test_any_other_name_gets_a_safe_slug_and_a_hash(name):
    key = student_key(name)
    slug, digest = key.rsplit("~", 1)
    assert digest == hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    assert re.fullmatch(r"[\w .-]{1,60}", slug) and "_" != slug[0] and not slug.startswith(".")
    assert key.encode("utf-8") and len(key) <= 128 and len(key.encode("utf-8")) <= 255
    assert unicodedata.is_normalized("NFC", key)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in key)
    assert student_key(key) != key  # a key with '~' is never a plain name


def test_keys_of_distinct_names_are_distinct():
    names = ["Zoë", NFD, "zoë", "ZOË", "caf\udce9", "caf\udcc3", "caf\ufffd", "a/b", "a\\b", "a_b"]
    names += [".", "..", "", " ", "x" * 101, "x" * 102, SHELL, SHELL + " "]
    keys = [student_key(name) for name in names]
    assert len(set(keys)) == len(keys)
    assert len({key.casefold() for key in keys}) == len(keys) - 2  # only Zoë/zoë/ZOË: plain


LONG = "Ünïcödé " * 40  # 320 characters, more than a file name may hold in bytes


@pytest.mark.parametrize("kind", [MOODLE, CANVAS])
def test_every_student_an_lms_download_names_is_graded(tmp_path, kind):
    """Names too long for a file name, with control or format characters, a leading '.', a
    backslash, '~': each student is graded under their name, in a folder named by their key."""
    names = [LONG, "new\nline", "tab\tname", ".hidden", "..", ".", "a\\b", SHELL, "\u202eevil"]
    name_of = moodle if kind == MOODLE else canvas
    files = {name_of(name, i): notebook_bytes(A03, f"{i} {name!r}") for i, name in enumerate(names)}
    files[name_of("Jane Smith", 101)] = JANE
    unpacked = unpack_submissions(make_zip(tmp_path / "d.zip", files), tmp_path)
    assert unpacked.ignored == [] and unpacked.notes == []
    rows = graded(unpacked)
    assert rows == {
        **{name: files[name_of(name, i)] for i, name in enumerate(names)},
        "Jane Smith": JANE,
    }
    assert unpacked.names == {student_key(name): name for name in rows}
    assert sorted(p.name for p in unpacked.folder.iterdir()) == sorted(unpacked.names)
    assert layout(unpacked.folder)[f"Jane Smith/{A03}/{A03}.ipynb"] == JANE


def test_a_folder_name_that_is_not_utf8_becomes_a_clean_name(tmp_path):
    """Python reads such a name with lone surrogates (surrogateescape); the student's name
    replaces each undecodable byte by U+FFFD, and stays apart from the other names."""
    root = tmp_path / "subs"
    make_folder(root, {f"alice/{A03}/{A03}.ipynb": JANE, f"a\ufffd/{A03}/{A03}.ipynb": BLANK})
    tagged = {}
    for raw in (b"caf\xe9", b"a\xff", b"a\xfe"):
        folder = os.path.join(os.fsencode(root), raw, A03.encode())
        os.makedirs(folder)
        tagged[raw] = notebook_bytes(A03, repr(raw))
        with open(os.path.join(folder, f"{A03}.ipynb".encode()), "wb") as handle:
            handle.write(tagged[raw])
    students, _ = discover(root)
    rows = {s.student: s for s in students}
    assert sorted(rows) == sorted(["alice", "a\ufffd", "a\ufffd (2)", "a\ufffd (3)", "caf\ufffd"])
    for student in students:
        student.student.encode("utf-8")  # CSV, HTML and the gradebook can write it
        assert student.notebooks[0].status == Status.GRADED
    assert rows["alice"].notebooks[0].path.read_bytes() == JANE  # the honest student, unchanged
    assert rows["a\ufffd"].notebooks[0].path.read_bytes() == BLANK  # a real name keeps its row
    assert rows["caf\ufffd"].notebooks[0].path.read_bytes() == tagged[b"caf\xe9"]
    numbered = {rows[f"a\ufffd ({n})"].notebooks[0].path.read_bytes() for n in (2, 3)}
    assert numbered == {tagged[b"a\xff"], tagged[b"a\xfe"]}
    assert len({s.key for s in students}) == len(students)
    assert rows["alice"].key == "alice" and rows["caf\ufffd"].key == "caf\ufffd"


def test_an_lms_folder_name_that_is_not_utf8_is_graded_under_a_clean_name(tmp_path):
    root = make_folder(tmp_path / "download", {canvas("smithjane", 1): JANE})
    with open(
        os.path.join(os.fsencode(root), b"caf\xe9_2_200_" + A03.encode() + b".ipynb"), "wb"
    ) as f:
        f.write(BLANK)
    unpacked = unpack_submissions(root, tmp_path)
    assert graded(unpacked) == {"smithjane": JANE, "caf\ufffd": BLANK}
    assert all(i.path.encode("utf-8") for i in unpacked.ignored)


def test_zip_of_a_course_layout_keeps_names_and_skips_nothing_else(tmp_path):
    """A course layout's folder names are the students' names, zipped or not."""
    files = {f"{SHELL}/{A03}/{A03}.ipynb": BLANK, f"alice/{A01}/{A01}.ipynb": JANE}
    unpacked = unpack_submissions(make_zip(tmp_path / "c.zip", files), tmp_path)
    assert unpacked.names is None and unpacked.ignored == []
    students, batch = discover(unpacked.folder, unpacked.names)
    assert batch == [A01, A03]
    assert {s.student: s.key for s in students} == {SHELL: student_key(SHELL), "alice": "alice"}


def test_a_zip_member_name_too_long_for_a_file_name_is_still_read(tmp_path):
    """Only keys are written to disk, so a name longer than a file name may be is no problem."""
    name = "Ünïcödé " * 40
    files = {moodle(name, 1): BLANK, moodle("Jane Smith", 2): JANE}
    assert len(moodle(name, 1).split("/")[0].encode()) > 255
    with zipfile.ZipFile(make_zip(tmp_path / "long.zip", files)) as zf:
        with pytest.raises(OSError):
            zf.extractall(tmp_path / "naive")
    unpacked = unpack_submissions(tmp_path / "long.zip", tmp_path / "work")
    assert graded(unpacked) == {name: BLANK, "Jane Smith": JANE}
