"""What comes back from a student's sandbox, validated before any library sees it.

The sandbox encodes results as records (``wire.encode``): numeric arrays, NumPy scalars, lists,
tuples, dicts, tensors, torch dtypes, and handles for objects that stay in the sandbox. Here each
record is checked against what it claims to be (a dtype from a fixed list, a shape that matches
its bytes, a tensor whose array has its dtype, a handle with a number and a list of class names)
before NumPy or PyTorch is given it; anything else is a ``WireError``. Exceptions are rebuilt
as a fixed set of classes, never looked up by a name the sandbox chose.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Callable

import numpy as np

from autograder.guest.wire import WireError
from dropout_course.checks.bernoulli_masks import BuiltInDropoutUsed

#: The array dtypes a result may have (little-endian; the sandbox converts big-endian ones).
ARRAY_DTYPES = {
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
    "<f2", "<f4", "<f8", "<f16", "<c8", "<c16", "<c32",
}  # fmt: skip
#: Torch dtypes a tensor may have, with the dtype of the array that carries its values.
TENSOR_DTYPES = {
    "bool": "|b1", "uint8": "|u1", "int8": "|i1", "int16": "<i2", "int32": "<i4",
    "int64": "<i8", "float16": "<f2", "bfloat16": "<f4", "float32": "<f4", "float64": "<f8",
    "complex64": "<c8", "complex128": "<c16",
}  # fmt: skip
MAX_DIMS = 32
#: Longest exception message kept, and most class names a handle or exception may list.
MAX_MESSAGE_CHARS = 4000
MAX_TYPES = 32
MAX_TYPE_NAME = 200


def _fields(record: dict, *names: str) -> list:
    try:
        return [record[name] for name in names]
    except KeyError as missing:
        raise WireError(f"a record lacks its {missing} field") from None


def decode_array(record) -> np.ndarray:
    """A numeric array from its record: dtype from ``ARRAY_DTYPES``, shape matching its bytes."""
    if not isinstance(record, dict) or record.get("__") != "ndarray":
        raise WireError("expected an array record")
    dtype, shape, data = _fields(record, "dtype", "shape", "data")
    if dtype not in ARRAY_DTYPES:
        raise WireError(f"refusing an array of dtype {str(dtype)[:20]!r}")
    if type(shape) is not list or len(shape) > MAX_DIMS:
        raise WireError("an array's shape must be a list of at most 32 sizes")
    if any(type(n) is not int or n < 0 for n in shape) or type(data) is not bytes:
        raise WireError("an array's shape must hold sizes and its data bytes")
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize != len(data):
        raise WireError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def check_handle(record) -> dict:
    """A handle record: a positive number and a list of class names."""
    number, types = _fields(record, "id", "types")
    if type(number) is not int or not 0 < number < 2**31:
        raise WireError("a handle's number is out of range")
    if type(types) is not list or len(types) > MAX_TYPES:
        raise WireError("a handle's class names must be a short list")
    if any(type(t) is not str or len(t) > MAX_TYPE_NAME for t in types):
        raise WireError("a handle's class names must be short strings")
    return record


def tensor_parts(record) -> tuple[np.ndarray, str, bool, dict | None]:
    """The array, torch dtype name, requires_grad and grad_fn handle of a tensor record."""
    array_record, dtype, requires_grad, grad_fn = _fields(
        record, "array", "dtype", "requires_grad", "grad_fn"
    )
    if dtype not in TENSOR_DTYPES or type(requires_grad) is not bool:
        raise WireError(f"refusing a tensor of dtype {str(dtype)[:20]!r}")
    array = decode_array(array_record)
    if array.dtype.str != TENSOR_DTYPES[dtype]:
        raise WireError("a tensor's values do not have its dtype")
    if grad_fn is not None:
        check_handle(grad_fn)
    return array, dtype, requires_grad, grad_fn


def decode(obj, remote: Callable[[str, dict], object]):
    """Rebuild a value the sandbox encoded. ``remote(kind, record)`` turns the (already checked)
    ``tensor``, ``torch_dtype`` and ``handle`` records into objects."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is not dict:
        raise WireError(f"unexpected value on the wire ({type(obj).__name__})")
    kind = obj.get("__")
    if kind == "ndarray":
        return decode_array(obj)
    if kind == "scalar":
        array = decode_array(obj.get("array"))
        if array.ndim != 0:
            raise WireError("a scalar must be a 0-d array")
        return array[()]
    if kind in ("list", "tuple", "dict"):
        (items,) = _fields(obj, "items")
        if type(items) is not list:
            raise WireError("a container's items must be a list")
        if kind == "dict":
            return _decode_dict(items, remote)
        values = [decode(v, remote) for v in items]
        return values if kind == "list" else tuple(values)
    if kind == "tensor":
        tensor_parts(obj)
        return remote(kind, obj)
    if kind == "torch_dtype":
        if obj.get("name") not in TENSOR_DTYPES:
            raise WireError("unknown torch dtype")
        return remote(kind, obj)
    if kind == "handle":
        return remote(kind, check_handle(obj))
    if kind == "kept":
        if type(obj.get("token")) is not int:
            raise WireError("a reference to the grader's object needs its token")
        return remote(kind, obj)
    raise WireError(f"unexpected record on the wire ({str(kind)[:20]!r})")


def _decode_dict(items: list, remote) -> dict:
    result = {}
    for pair in items:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("a dict's items must be pairs")
        key = decode(pair[0], remote)
        try:
            hash(key)
        except TypeError:
            raise WireError("a dictionary key that cannot be hashed") from None
        result[key] = decode(pair[1], remote)
    return result


# ------------------------------------------------------------------------------ exceptions

#: Exceptions from the sandbox are rebuilt only as these classes (or a subclass made here).
_REBUILT: dict[str, type[Exception]] = {
    f"builtins.{name}": cls
    for name, cls in vars(builtins).items()
    if isinstance(cls, type)
    and issubclass(cls, Exception)
    and not issubclass(cls, (StopIteration, StopAsyncIteration))
}
_REBUILT[f"{BuiltInDropoutUsed.__module__}.BuiltInDropoutUsed"] = BuiltInDropoutUsed
#: Most student-named exception classes one session makes (past it, the base class is used).
MAX_NAMED = 256


def rebuild_exception(record, named: dict) -> Exception:
    """The exception a sandbox reported: the first class of its ``types`` that is one we
    rebuild (a student's ``ProbabilityError(ValueError)`` is a ``ValueError`` here), named as
    the student named it; a ``RuntimeError`` if none is. ``named`` caches the classes made for
    one sandbox session (so one student's exceptions never shape another's messages)."""
    types = record.get("types") if isinstance(record, dict) else None
    message = record.get("message") if isinstance(record, dict) else None
    if type(types) is not list or type(message) is not str:
        return RuntimeError("an error the grader could not read")
    message = message[:MAX_MESSAGE_CHARS]
    names = [t for t in types[:MAX_TYPES] if type(t) is str]
    base = next((_REBUILT[n] for n in names if n in _REBUILT), RuntimeError)
    shown = class_name(names[0]) if names else base.__name__
    cls = base if shown == base.__name__ else _named(shown, base, named)
    try:
        return cls(message)
    except Exception:  # noqa: BLE001 - a constructor that wants other arguments
        return RuntimeError(message)


def class_name(qualified: str) -> str:
    """The last part of a qualified class name, if it is a plain identifier; else "Error"."""
    name = qualified.rpartition(".")[2][:60]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or keyword.iskeyword(name):
        return "Error"
    return name


def _named(name: str, base: type, named: dict) -> type:
    key = (name, base)
    if key not in named:
        if len(named) >= MAX_NAMED:
            return base
        named[key] = type(name, (base,), {"__module__": "student"})
    return named[key]
