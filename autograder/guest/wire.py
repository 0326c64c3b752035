"""The wire between the grader and a student's sandbox: framing and a data-only codec.

A message is an 8-byte length, then the message encoded as tagged binary data: None, booleans,
integers, floats, text, bytes, lists, tuples and maps (string keys). Nothing else can be encoded,
so decoding runs no code the sandbox wrote, and the decoder is bounded three ways: the frame is
at most ``MAX_MESSAGE`` bytes and must arrive whole before a deadline, the decoded value holds
at most ``MAX_NODES`` values nested at most ``MAX_DEPTH`` deep (so a small message cannot decode
into a large object), and text is decoded as UTF-8 with errors replaced (so no string from the
sandbox can hold a lone surrogate or fail to encode later). Grader-side validation of what the
values mean (arrays, tensors, handles) is in ``host/values.py``.

Requests go into the sandbox with pickles inside (the grader wrote them, so the sandbox may trust
them); answers come out as plain data. This file is copied into every sandbox and imports only
the standard library at module level.
"""

from __future__ import annotations

import numbers
import os
import select
import struct
import sys
import time
from collections.abc import Mapping

#: Largest message either side accepts (a student returning a huge array is refused).
MAX_MESSAGE = 128 * 1024 * 1024
#: Most values (containers and scalars) one message may decode into.
MAX_NODES = 200_000
#: Deepest nesting of containers in one message.
MAX_DEPTH = 48
#: Longest integer, in bytes (Python's are unbounded; ours are not).
MAX_INT_BYTES = 64

_HEADER = struct.Struct("!Q")
_LENGTH = struct.Struct("!I")
_INT64 = struct.Struct("!q")
_FLOAT = struct.Struct("!d")


class WireError(Exception):
    """The other side sent something that is not a well-formed message."""


class WireTimeout(WireError):
    """A whole message did not arrive before the deadline."""


# ------------------------------------------------------------------------------- framing


def send(fd: int, message: dict, deadline: float | None = None) -> None:
    """Write one message (a dict) to the file descriptor ``fd``, whole, before ``deadline`` (a
    ``time.monotonic()`` value; None waits as long as it takes). Raises ``WireTimeout`` if the
    other side stops reading: a writer with a deadline never blocks past it."""
    payload = dumps(message)
    if len(payload) > MAX_MESSAGE:
        raise WireError(
            f"a message of {len(payload)} bytes is larger than the {MAX_MESSAGE} allowed"
        )
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    if deadline is not None:
        os.set_blocking(fd, False)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise WireTimeout("the other side did not read the message in time")
        try:
            written = os.write(fd, view[: 1 << 16])
        except BlockingIOError:
            continue
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WireTimeout("the other side did not send a whole message in time")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None, limit: int = MAX_MESSAGE) -> dict:
    """Read one whole message from ``fd`` before ``deadline`` (a ``time.monotonic()`` value;
    None waits forever). Raises ``EOFError`` if the other side has gone, ``WireTimeout`` if the
    message is not complete in time, and ``WireError`` if it is malformed or too large."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > limit:
        raise WireError(f"a message of {size} bytes is larger than the {limit} allowed")
    message = loads(_read_exact(fd, size, deadline))
    if not isinstance(message, dict):
        raise WireError("a message must be a map")
    return message


# --------------------------------------------------------------------------------- codec


def dumps(value) -> bytes:
    """Encode plain data: None, bool, int, float, str, bytes, list, tuple, dict (str keys)."""
    out = bytearray()
    _dump(value, out, 0, [0])
    return bytes(out)


def _dump(value, out: bytearray, depth: int, nodes: list[int]) -> None:
    nodes[0] += 1
    if depth > MAX_DEPTH or nodes[0] > MAX_NODES:
        raise WireError(
            f"a value with more than {MAX_NODES} parts, or nested more than {MAX_DEPTH} levels "
            "deep, cannot be sent (return a NumPy array rather than a long list)"
        )
    kind = type(value)
    if value is None:
        out += b"N"
    elif kind is bool:
        out += b"T" if value else b"F"
    elif kind is int:
        if -(2**63) <= value < 2**63:
            out += b"i" + _INT64.pack(value)
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
            if len(raw) > MAX_INT_BYTES:
                raise WireError("an integer too large to send")
            out += b"I" + _LENGTH.pack(len(raw)) + raw
    elif kind is float:
        out += b"d" + _FLOAT.pack(value)
    elif kind is str:
        raw = value.encode("utf-8", "surrogatepass")
        out += b"s" + _LENGTH.pack(len(raw)) + raw
    elif kind in (bytes, bytearray, memoryview):
        raw = bytes(value)
        out += b"b" + _LENGTH.pack(len(raw)) + raw
    elif kind in (list, tuple):
        out += (b"l" if kind is list else b"t") + _LENGTH.pack(len(value))
        for item in value:
            _dump(item, out, depth + 1, nodes)
    elif kind is dict:
        out += b"m" + _LENGTH.pack(len(value))
        for key, item in value.items():
            if type(key) is not str:
                raise WireError("map keys must be strings")
            _dump(key, out, depth + 1, nodes)
            _dump(item, out, depth + 1, nodes)
    else:
        raise WireError(f"cannot send a value of type {kind.__name__}")


def loads(data: bytes):
    """Decode what :func:`dumps` encoded; raise ``WireError`` for anything else, including a
    value with more than ``MAX_NODES`` parts or nested deeper than ``MAX_DEPTH``."""
    reader = _Reader(memoryview(data))
    value = reader.value(0)
    if reader.position != len(data):
        raise WireError("trailing bytes after the message")
    return value


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.position, self.nodes = data, 0, 0

    def take(self, size: int) -> memoryview:
        end = self.position + size
        if end > len(self.data):
            raise WireError("the message ends in the middle of a value")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def length(self) -> int:
        return _LENGTH.unpack(self.take(_LENGTH.size))[0]

    def value(self, depth: int):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError(f"a message may hold at most {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise WireError(f"a message may nest at most {MAX_DEPTH} levels deep")
        tag = bytes(self.take(1))
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            return _INT64.unpack(self.take(_INT64.size))[0]
        if tag == b"I":
            size = self.length()
            if size > MAX_INT_BYTES:
                raise WireError("an integer too large to receive")
            return int.from_bytes(self.take(size), "big", signed=True)
        if tag == b"d":
            return _FLOAT.unpack(self.take(_FLOAT.size))[0]
        if tag == b"s":
            return bytes(self.take(self.length())).decode("utf-8", "replace")
        if tag == b"b":
            return bytes(self.take(self.length()))
        if tag in (b"l", b"t"):
            count = self.length()
            self._room_for(count)
            items = [self.value(depth + 1) for _ in range(count)]
            return items if tag == b"l" else tuple(items)
        if tag == b"m":
            count = self.length()
            self._room_for(2 * count)
            result = {}
            for _ in range(count):
                key = self.value(depth + 1)
                if type(key) is not str:
                    raise WireError("map keys must be strings")
                result[key] = self.value(depth + 1)
            return result
        raise WireError(f"unknown tag {tag!r}")

    def _room_for(self, count: int) -> None:
        """Refuse a container announcing more values than the message can hold (each takes at
        least one byte) or than the node budget allows, before allocating for them."""
        if self.nodes + count > MAX_NODES:
            raise WireError(f"a message may hold at most {MAX_NODES} values")
        if count > len(self.data) - self.position:
            raise WireError("a container announces more values than the message holds")


# ----------------------------------------------------------------------------- sandbox side


def array_record(value) -> dict:
    """A NumPy array of a numeric dtype as a record: dtype, shape and raw bytes (C order)."""
    import numpy as np

    if not value.flags.c_contiguous:
        value = value.copy(order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    if value.dtype.byteorder == ">":
        value = value.astype(value.dtype.newbyteorder("<"))
    return {"__": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
            "data": np.asarray(value).tobytes()}  # fmt: skip


def encode(value, handle, known: dict | None = None) -> object:
    """Turn ``value`` into plain data; objects that are not data become handles (``handle(v)``).

    Subclasses of the plain types travel as the plain type (a namedtuple as a tuple, an
    ``OrderedDict`` or any other mapping as a dict, an ``IntEnum`` as an int, NumPy's ``str_``
    as a str) and other real numbers as floats (a ``Fraction``, a ``Decimal``), as a check run
    in the student's own process would see them through ``isinstance``. ``known`` maps ``id()`` of
    objects the grader sent (the call's arguments) to the record that names them, so that a
    function returning its input returns the grader's own object (with its autograd graph).
    """
    import numpy as np

    if known and id(value) in known:
        return known[id(value)]

    scalar = _plain_scalar(value, np)
    if scalar is not _NOT_PLAIN:
        return scalar
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc" and not value.dtype.fields:
        return array_record(value)
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in "biufc":
        return {"__": "scalar", "array": array_record(np.asarray(value))}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"__": kind, "items": [encode(v, handle, known) for v in value]}
    if isinstance(value, Mapping):
        return {"__": "dict", "items": [[encode(k, handle, known), encode(v, handle, known)]
                                        for k, v in value.items()]}  # fmt: skip
    record = _torch_record(value, handle)
    return handle(value) if record is None else record


#: What :func:`_plain_scalar` returns for a value that is not a plain scalar.
_NOT_PLAIN = object()


def _plain_scalar(value, np):
    """``value`` as None, a bool, str, int or float if it is one (or a subclass, or another real
    number); :data:`_NOT_PLAIN` otherwise."""
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.generic):
        return _NOT_PLAIN
    if isinstance(value, (int, float)):
        return type_of_plain(value)(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)  # a Fraction, say: a check in the student's process accepts it
    if isinstance(value, numbers.Number) and not isinstance(value, numbers.Complex):
        return float(value)  # a Decimal (a Number, though not registered as Real)
    return _NOT_PLAIN


def _torch_record(value, handle) -> dict | None:
    """The record of a strided tensor or a torch dtype; None for anything else."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(value, torch.Tensor) and value.layout == torch.strided:
        plain = value.detach().cpu()
        if plain.dtype == torch.bfloat16:
            plain = plain.float()
        return {
            "__": "tensor",
            "array": array_record(plain.resolve_conj().resolve_neg().numpy()),
            "dtype": str(value.dtype).removeprefix("torch."),
            "requires_grad": bool(value.requires_grad),
            "grad_fn": handle(value) if value.grad_fn is not None else None,
        }
    if isinstance(value, torch.dtype):
        return {"__": "torch_dtype", "name": str(value).removeprefix("torch.")}
    return None


def type_of_plain(value) -> type:
    """The plain type (str, int or float) a value of a subclass of one travels as."""
    return next(kind for kind in (str, int, float) if isinstance(value, kind))


def describe_exception(error: BaseException) -> dict:
    """What the grader needs to re-raise ``error``: its classes (by name) and message."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a student's __str__ may itself raise
        message = "<the exception's message could not be read>"
    return {
        "types": [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__][:16],
        "message": message[:4000],
    }
