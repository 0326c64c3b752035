"""Fuzzing what crosses from a student's sandbox into the grader: random and truncated frames,
decoding bombs, deeply nested and odd values, and proxies of student objects. Whatever arrives,
the grader's side must raise its own error (``WireError``, ``SandboxGone``), never another
exception, never hang past its deadline, and never use more than a bounded amount of memory."""

from __future__ import annotations

import os
import struct
import threading
import time
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.guest import wire
from autograder.host import values
from autograder.host.channel import SandboxGone, StudentTimeout
from autograder.host.remote import Remote, Session

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=64),
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)

#: What decoding one message may allocate, at most, beyond the message itself.
DECODE_BUDGET = 64 * 1024**2


@settings(max_examples=300, deadline=None)
@given(plain)
def test_plain_values_round_trip(value):
    assert wire.loads(wire.dumps(value)) == value


def _decodes_or_refuses(data: bytes):
    """Decode ``data``; only ``WireError`` may come out, within the memory budget."""
    tracemalloc.start()
    try:
        try:
            wire.loads(data)
        except wire.WireError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(data) * 4 + DECODE_BUDGET, peak


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_or_decoded_never_crash(data):
    _decodes_or_refuses(data)


@settings(max_examples=200, deadline=None)
@given(plain, st.data())
def test_truncated_and_corrupted_messages_are_refused(value, data):
    encoded = wire.dumps(value)
    cut = data.draw(st.integers(min_value=0, max_value=max(len(encoded) - 1, 0)))
    _decodes_or_refuses(encoded[:cut])
    if encoded:
        position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        flipped = bytearray(encoded)
        flipped[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        _decodes_or_refuses(bytes(flipped))


def _length(n: int) -> bytes:
    return struct.pack("!I", n)


BOMBS = {
    # a list announcing two billion items in a few bytes
    "huge count": b"l" + _length(2**31),
    # 180,000 empty maps: within the node budget, bounded memory
    "many empty maps": b"l" + _length(180_000) + (b"m" + _length(0)) * 180_000,
    # a million empty lists: past the node budget
    "too many values": b"l" + _length(1_000_000) + (b"l" + _length(0)) * 1_000_000,
    # nested ten thousand levels deep
    "deep nesting": (b"l" + _length(1)) * 10_000 + b"N",
    # an integer of a megabyte
    "huge integer": b"I" + _length(2**20) + b"\x01" * 2**20,
    # a string announcing more bytes than the message has
    "short string": b"s" + _length(2**30) + b"abc",
    # a map with a non-string key
    "odd key": b"m" + _length(1) + b"N" + b"N",
    # the old JSON wire, and a JSON amplification bomb
    "json": b'{"op": "callback", "id": 424242, "args": [' + b"{}, " * 100_000 + b"{}]}",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decoding_bombs_are_bounded(name):
    _decodes_or_refuses(BOMBS[name])


def test_the_node_budget_is_what_bounds_memory():
    with pytest.raises(wire.WireError, match="at most"):
        wire.loads(BOMBS["too many values"])
    with pytest.raises(wire.WireError, match="nest"):
        wire.loads(BOMBS["deep nesting"])


def test_the_sender_refuses_what_the_receiver_would():
    with pytest.raises(wire.WireError):
        wire.dumps([[]] * (wire.MAX_NODES + 1))
    deep = None
    for _ in range(wire.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(wire.WireError):
        wire.dumps(deep)


def test_text_from_the_sandbox_never_holds_a_lone_surrogate():
    text = wire.loads(wire.dumps("p \ud800 oops \udcff"))
    text.encode("utf-8")  # would raise UnicodeEncodeError on a lone surrogate
    assert "oops" in text


# ------------------------------------------------------------------------------- frames


def _pipe_with(data: bytes, close: bool):
    read, write = os.pipe()
    os.write(write, data)
    if close:
        os.close(write)
        return read, None
    return read, write


def test_a_half_sent_frame_times_out_at_the_deadline():
    header = struct.pack("!Q", 1000)
    read, write = _pipe_with(header + b"x" * 10, close=False)
    started = time.monotonic()
    with pytest.raises(wire.WireTimeout):
        wire.receive(read, deadline=started + 0.5)
    assert time.monotonic() - started < 5
    os.close(read)
    os.close(write)


def test_a_frame_larger_than_allowed_is_refused_before_reading_it():
    read, write = _pipe_with(struct.pack("!Q", wire.MAX_MESSAGE + 1), close=False)
    with pytest.raises(wire.WireError, match="larger"):
        wire.receive(read, deadline=time.monotonic() + 5)
    os.close(read)
    os.close(write)


def test_a_frame_cut_by_the_other_side_closing_is_eof():
    read, _ = _pipe_with(struct.pack("!Q", 100) + b"abc", close=True)
    with pytest.raises(EOFError):
        wire.receive(read, deadline=time.monotonic() + 5)
    os.close(read)


# ------------------------------------------------------------------------------- values

ODD_ARRAYS = [
    {"dtype": "|O", "shape": [1], "data": b"\0" * 8},
    {"dtype": "|V8", "shape": [1], "data": b"\0" * 8},
    {"dtype": "(1000000,)<f8", "shape": [1], "data": b"\0" * 8},
    {"dtype": "<M8[s]", "shape": [1], "data": b"\0" * 8},
    {"dtype": ">f8", "shape": [1], "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [2], "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [-1], "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [2**40, 2**40], "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [1.5], "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [1] * 100, "data": b"\0" * 8},
    {"dtype": "<f8", "shape": [1], "data": "AAAAAAAAAAA="},
    {"dtype": "<f8", "shape": [1]},
]


@pytest.mark.parametrize(
    "record", ODD_ARRAYS, ids=lambda r: str(r.get("dtype")) + str(r.get("shape"))[:20]
)
def test_odd_arrays_are_refused(record):
    with pytest.raises(wire.WireError):
        values.decode({"__": "ndarray", **record}, lambda kind, rec: None)


_F8 = {"__": "ndarray", "dtype": "<f8", "shape": [1], "data": b"\0" * 8}
_HANDLE = {"__": "handle", "id": -1, "types": []}
ODD_RECORDS = [
    {"__": "tensor", "array": {"__": "ndarray", "dtype": "|i1", "shape": [8], "data": b"\0" * 8},
     "dtype": "complex128", "requires_grad": False, "grad_fn": None},
    {"__": "tensor", "array": {"__": "ndarray", "dtype": "<f4", "shape": [2], "data": b"\0" * 8},
     "dtype": "float32", "requires_grad": "yes", "grad_fn": None},
    {"__": "tensor", "array": {"__": "ndarray", "dtype": "<f4", "shape": [2], "data": b"\0" * 8},
     "dtype": "float32", "requires_grad": False, "grad_fn": _HANDLE},
    {"__": "torch_dtype", "name": "__class__"},
    {"__": "handle", "id": 1, "types": ["x" * 10_000]},
    {"__": "handle", "id": 2**40, "types": []},
    {"__": "dict", "items": [[_F8, 1]]},
    {"__": "dict", "items": [[1, 2, 3]]},
    {"__": "list", "items": "abc"},
    {"__": "scalar", "array": {"__": "ndarray", "dtype": "<f8", "shape": [2], "data": b"\0" * 16}},
    {"__": "float", "repr": "__import__('os')"},
    {"__": "module", "name": "os"},
    b"raw bytes",
    ["a", "list", "without", "a", "record"],
]  # fmt: skip


@pytest.mark.parametrize("record", ODD_RECORDS, ids=lambda r: str(r)[:30])
def test_odd_records_are_refused(record):
    with pytest.raises(wire.WireError):
        values.decode(record, lambda kind, rec: None)


@settings(max_examples=300, deadline=None)
@given(plain)
def test_decoding_any_plain_value_gives_data_or_wire_error(value):
    made = []
    try:
        values.decode(value, lambda kind, record: made.append(kind))
    except wire.WireError:
        pass


def test_a_student_exception_is_rebuilt_as_a_known_class_with_its_name():
    error = values.rebuild_exception(
        {
            "types": ["__main__.ProbabilityError", "builtins.ValueError", "builtins.Exception"],
            "message": "p \ufffd" + "x" * 10_000,
        },  # fmt: skip
        {},
    )
    assert isinstance(error, ValueError) and type(error).__name__ == "ProbabilityError"
    assert len(str(error)) <= values.MAX_MESSAGE_CHARS
    odd = values.rebuild_exception({"types": ["os.system", "subprocess.Popen"], "message": "x"}, {})
    assert isinstance(odd, RuntimeError) and type(odd).__module__ == "student"
    assert type(values.rebuild_exception({"types": "nope"}, {})) is RuntimeError


# ------------------------------------------------------------------------------- proxies


class _RecordingSession:
    """Stands for a sandbox: records what the grader asks of it."""

    def __init__(self):
        self.requests = []

    def request(self, message, seconds=None):
        self.requests.append(message)
        return {"value": {"shape": [1 << 20], "typestr": "<f8", "data": [16, True], "version": 3}}

    def decode(self, obj):
        return obj


def test_protocol_attributes_of_a_student_object_are_never_asked_of_the_sandbox():
    session = _RecordingSession()
    remote = Remote(session, {"id": 7, "types": ["__main__.Evil", "builtins.object"]})
    for name in ("__array_interface__", "__array_struct__", "__array__", "__len__", "__iter__",
                 "__float__", "__index__", "_private"):  # fmt: skip
        with pytest.raises(AttributeError):
            getattr(remote, name)
    array = np.asarray(remote)  # NumPy sees an opaque object, reads no memory
    assert array.dtype == object and array.shape == ()
    with pytest.raises((TypeError, RuntimeError)):
        torch.as_tensor(remote)
    with pytest.raises(TypeError):
        float(remote)
    with pytest.raises(TypeError):
        len(remote)
    assert session.requests == []


class _FakeProcess:
    """A sandbox process whose output pipe the test writes to."""

    def __init__(self, stdout_fd, stdin_fd):
        self.stdout = os.fdopen(stdout_fd, "rb", buffering=0)
        self.stdin = os.fdopen(stdin_fd, "wb", buffering=0)
        self.stderr = None
        self.pid = -1
        self.returncode = None

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        self.returncode = -9
        return self.returncode

    def kill(self):
        self.returncode = -9


def _session_fed(chunks, call_seconds=0.5):
    """A Session whose sandbox sends ``chunks`` (bytes) after saying it is ready."""
    out_read, out_write = os.pipe()
    in_read, in_write = os.pipe()
    ready = wire.dumps({"ready": True})
    os.write(out_write, struct.pack("!Q", len(ready)) + ready)
    process = _FakeProcess(out_read, in_write)

    def feed():
        os.read(in_read, 1 << 16)  # the request
        for chunk in chunks:
            try:
                os.write(out_write, chunk)
            except OSError:
                return

    threading.Thread(target=feed, daemon=True).start()
    return Session(process, call_seconds), out_write, in_read


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=512))
def test_a_session_fed_garbage_stops_the_sandbox_and_raises_sandbox_gone(garbage):
    from autograder.host import channel, sandbox

    original, sandbox.stop = sandbox.stop, lambda process: process.kill()
    grace, channel.GRACE_SECONDS = channel.GRACE_SECONDS, 0.1
    try:
        session, out_write, in_read = _session_fed([garbage])
        started = time.monotonic()
        try:
            reply = session.request({"op": "lookup", "name": "x"}, seconds=0.5)
        except (SandboxGone, StudentTimeout):
            pass
        except Exception as error:  # noqa: BLE001 - the sandbox may well "report" an exception: rebuilt here
            assert type(error).__module__ in ("builtins", "student"), repr(error)
        else:
            assert "value" in reply
        assert time.monotonic() - started < 0.5 + 0.1 + 2
    finally:
        sandbox.stop, channel.GRACE_SECONDS = original, grace
        os.close(out_write)
        os.close(in_read)


def test_student_exception_classes_are_made_per_session():
    """One student's many exception names cannot change how another's are shown."""
    crowded = {}
    for number in range(values.MAX_NAMED + 10):
        values.rebuild_exception({"types": [f"m.Error{number}"], "message": "x"}, crowded)
    fresh = values.rebuild_exception({"types": ["m.ShapeError", "builtins.ValueError"],
                                      "message": "x"}, {})  # fmt: skip
    assert type(fresh).__name__ == "ShapeError" and isinstance(fresh, ValueError)
