"""The wire between the grader and a student's sandbox: framing and a data-only codec.

Requests go into the sandbox as pickles (the grader wrote them, so the sandbox may trust them).
Answers come out as JSON in which arrays are raw bytes of a numeric dtype: decoding them runs
no code the student wrote, so nothing the student returns can act inside the grader.

This file is copied into every sandbox and must import nothing but the standard library and
NumPy at module level (the sandbox imports PyTorch only if the notebook does).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys

import numpy as np

#: Largest message either side accepts (a student returning a huge array is refused).
MAX_MESSAGE = 256 * 1024 * 1024
_HEADER = struct.Struct("!Q")


class WireError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(fd: int, message: dict) -> None:
    """Write one message (a JSON object) to the file descriptor ``fd``."""
    payload = json.dumps(message, allow_nan=True).encode()
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> dict:
    """Read one message from ``fd``; raise ``EOFError`` if the other side has gone."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes is larger than the {MAX_MESSAGE} allowed")
    message = json.loads(_read_exact(fd, size))
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise WireError("expected base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


# ----------------------------------------------------------------------------- sandbox side


def _array(value: np.ndarray) -> dict:
    if not value.flags.c_contiguous:
        value = value.copy(order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    return {"__": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
            "data": b64(value.tobytes())}  # fmt: skip


def encode(value, handle) -> object:
    """Turn ``value`` into JSON data; objects that are not data become handles (``handle(v)``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is int:
        return value
    if type(value) is float:
        return {"__": "float", "repr": repr(value)}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return _array(value)
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in "biufc":
        return {"__": "scalar", "array": _array(np.asarray(value))}
    if type(value) in (list, tuple):
        return {"__": type(value).__name__, "items": [encode(v, handle) for v in value]}
    if type(value) is dict:
        return {"__": "dict", "items": [[encode(k, handle), encode(v, handle)] for k, v in
                                        value.items()]}  # fmt: skip
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor) and value.layout == torch.strided:
            plain = value.detach().cpu()
            if plain.dtype == torch.bfloat16:
                plain = plain.float()
            return {
                "__": "tensor",
                "array": _array(plain.resolve_conj().resolve_neg().numpy()),
                "dtype": str(value.dtype).removeprefix("torch."),
                "requires_grad": bool(value.requires_grad),
                "grad_fn": handle(value) if value.grad_fn is not None else None,
                "device": str(value.device),
            }
        if isinstance(value, torch.dtype):
            return {"__": "torch_dtype", "name": str(value).removeprefix("torch.")}
    return handle(value)


def describe_exception(error: BaseException) -> dict:
    """What the grader needs to re-raise ``error``: its classes (by name) and message."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a student's __str__ may itself raise
        message = "<the exception's message could not be read>"
    return {
        "types": [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__],
        "message": message[:4000],
    }


# ----------------------------------------------------------------------------- grader side

_ALLOWED_KINDS = "biufc"


def decode_array(obj: dict) -> np.ndarray:
    dtype = np.dtype(str(obj["dtype"]))
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise WireError(f"refusing an array of dtype {dtype}")
    shape = tuple(int(n) for n in obj["shape"])
    if any(n < 0 for n in shape):
        raise WireError("negative array dimension")
    data = unb64(obj["data"])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.itemsize != len(data):
        raise WireError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(obj, remote):
    """Rebuild a value the sandbox encoded. ``remote`` turns handle/tensor records into objects:
    it is a callable ``remote(kind, record)``."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, dict):
        kind = obj.get("__")
        if kind == "float":
            return float(str(obj["repr"]))
        if kind == "ndarray":
            return decode_array(obj)
        if kind == "scalar":
            return decode_array(obj["array"])[()]
        if kind == "list":
            return [decode(v, remote) for v in obj["items"]]
        if kind == "tuple":
            return tuple(decode(v, remote) for v in obj["items"])
        if kind == "dict":
            return {_hashable(decode(k, remote)): decode(v, remote) for k, v in obj["items"]}
        if kind in ("tensor", "torch_dtype", "handle"):
            return remote(kind, obj)
    raise WireError(f"unexpected value on the wire: {str(obj)[:80]}")


def _hashable(key):
    try:
        hash(key)
    except TypeError:
        raise WireError("a dictionary key that cannot be hashed") from None
    return key
