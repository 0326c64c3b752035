"""The grader's side of a sandbox: a session with it, and proxies of the student's objects.

The checks (visible and hidden) run in the grader's process with the grader's NumPy and
PyTorch. When a check calls a student's function it calls a :class:`Remote`, which ships the
arguments into the sandbox, runs the function there, and brings back the result as validated
data (``values.py``), together with what the call did to its arguments and to NumPy's and
PyTorch's global random state (``mirror.py``). Whatever the student's code patches, it patches in
the sandbox; the comparison that decides the grade happens here.

Nothing the sandbox says makes the grader run a protocol method of a student's object: a
:class:`Remote` answers no special attribute (``__array_interface__``, ``__array__``, ``__len__``
...) and no private one, so NumPy and PyTorch see it as an opaque object, and every read from the
sandbox has a deadline for the whole message and bounded size and decoding cost (``wire.py``,
``channel.py``, which carries the messages).
"""

from __future__ import annotations

import io
import pickle
import subprocess
import types

import numpy as np
import torch

from autograder.guest import wire
from autograder.host import channel, mirror, values
from autograder.host.channel import Channel, StudentTimeout
from dropout_course.checks.core import CallInterrupted


class _Pickler(pickle.Pickler):
    """Pickles arguments for the sandbox; the grader's own functions become callbacks."""

    def __init__(self, file, session, inside=None):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.session = session
        self.inside = inside  # the object whose own state this pickler is writing

    def persistent_id(self, obj):
        if isinstance(obj, Remote):
            return ("handle", object.__getattribute__(obj, "_id"))
        if isinstance(obj, (types.FunctionType, types.MethodType)) and not _public(obj):
            return ("callback", self.session.register_callback(obj))
        if obj is not self.inside and isinstance(obj, _KEPT_TYPES):
            # The same generator, array, tensor or model given again is the same object in the
            # sandbox (its state brought up to date), as it would be in one process: a cache
            # keyed on it hits, and a function that keeps it sees it change.
            buffer = io.BytesIO()
            _Pickler(buffer, self.session, inside=obj).dump(obj)
            token = self.session.object_token(obj)
            self.session.call_tokens.add(token)
            return ("same", token, buffer.getvalue())
        return None


#: The argument types that keep their identity from one call to the next.
_KEPT_TYPES = (np.random.Generator, np.ndarray, torch.Tensor, torch.nn.Module)


def _public(function) -> bool:
    """Whether the sandbox can import ``function`` by name (so it need not call back)."""
    module = getattr(function, "__module__", "") or ""
    qualname = getattr(function, "__qualname__", "")
    if "<" in qualname or isinstance(function, types.MethodType):
        return False
    return module.split(".")[0] in ("numpy", "torch", "math", "dropout_course", "builtins")


class _RemoteGrad(torch.autograd.Function):
    """Carries gradients across the sandbox boundary: backward runs autograd in the sandbox."""

    @staticmethod
    def forward(ctx, session, handle, value, *inputs):
        ctx.session, ctx.handle, ctx.count = session, handle, len(inputs)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        grads = ctx.session.backward(ctx.handle, grad)
        grads = list(grads) + [None] * (ctx.count - len(grads))
        return (None, None, None, *grads[: ctx.count])


class Session(Channel):
    """One running sandbox: calls into it, and the values, callbacks, random state and
    gradients that cross with them (the transport is :class:`Channel`'s).

    ``stuck`` remembers the targets whose calls ran out of time in the current test: calling
    them again fails at once rather than waiting out the limit once more (the engine clears it
    before each test).
    """

    def __init__(
        self, process: subprocess.Popen, call_seconds: float, deadline: float | None = None
    ):
        self.callbacks: dict[int, object] = {}
        self.grad_inputs: list[torch.Tensor] = []
        self.current: tuple = ((), {})
        self.stuck: dict[str, str] = {}
        self.random_key: tuple | None = None  # the global random state both sides agree on
        self.kept: dict[int, tuple[int, object]] = {}  # id -> (token, an argument given)
        self.kept_by_token: dict[int, object] = {}
        self.call_tokens: set[int] = set()  # the kept objects sent during the current call
        super().__init__(process, call_seconds, deadline)

    def request(self, message: dict, seconds: float | None = None) -> dict:
        if message.get("op") != "call":
            self.random_key = None  # student code may draw here: the next call sends the state
        return super().request(message, seconds)

    def _run_callback(self, message: dict) -> None:
        try:
            function = self.callbacks[message["id"]]
            mirror.write_back_call(self, message.get("state"))
            args, kwargs = self.decode(message.get("args"))
            value = function(*args, **dict(kwargs))
            answer = {"value": self.dumps(value)}
        except Exception as error:  # noqa: BLE001 - reported to the sandbox as a failure of the call
            answer = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
        self._send(answer, self._deadline(self.call_seconds + channel.GRACE_SECONDS))

    def object_token(self, obj) -> int:
        """A number naming one of the grader's objects for the whole session (the session keeps
        it alive, so that its id names nothing else meanwhile)."""
        entry = self.kept.get(id(obj))
        if entry is None:
            entry = self.kept[id(obj)] = (len(self.kept) + 1, obj)
            self.kept_by_token[entry[0]] = obj
        return entry[0]

    def register_callback(self, function) -> int:
        number = len(self.callbacks) + 1
        self.callbacks[number] = function
        return number

    def dumps(self, value) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, self).dump(value)
        return buffer.getvalue()

    # -- values
    def decode(self, obj):
        return values.decode(obj, self._remote_value)

    def _remote_value(self, kind: str, record: dict):
        if kind == "handle":
            return Remote(self, record)
        if kind == "kept":
            if record["token"] not in self.call_tokens:
                raise wire.WireError("a reference to an object the grader did not send this call")
            return self.kept_by_token[record["token"]]
        if kind == "torch_dtype":
            return getattr(torch, record["name"])
        array, dtype, requires_grad, grad_fn = values.tensor_parts(record)
        value = torch.from_numpy(array).to(getattr(torch, dtype))
        if grad_fn is not None:
            inputs = self.grad_inputs or [torch.zeros((), requires_grad=True)]
            return _RemoteGrad.apply(self, Remote(self, grad_fn), value, *inputs)
        if requires_grad and value.is_floating_point():
            value.requires_grad_(True)
        return value

    def backward(self, handle: Remote, grad: torch.Tensor):
        reply = self.request(
            {
                "op": "backward",
                "output": object.__getattribute__(handle, "_id"),
                "grad": self.dumps(grad.detach()),
            }  # fmt: skip
        )
        grads = self.decode(reply["value"])
        if type(grads) is not list:
            raise TypeError("the sandbox's gradients must be a list")
        return [g.detach() if isinstance(g, torch.Tensor) else None for g in grads]

    def call(self, target: dict, args: tuple, kwargs: dict):
        """Call a function of the sandbox with ``args`` and ``kwargs``; return its result. The
        result may name (as "kept") only objects sent during this call, never others of the
        session's."""
        outer, self.call_tokens = self.call_tokens, set()
        try:
            return self._call(target, args, kwargs)
        finally:
            self.call_tokens = outer

    def _call(self, target: dict, args: tuple, kwargs: dict):
        key = repr(sorted(target.items()))
        if key in self.stuck:
            raise StudentTimeout(self.stuck[key])
        leaves = [
            a for a in list(args) + list(kwargs.values())
            if isinstance(a, torch.Tensor) and a.requires_grad
        ]  # fmt: skip
        outer, self.current = self.current, (args, kwargs)
        try:
            reply = self.request(
                {
                    "op": "call",
                    **target,
                    "args": self.dumps((args, kwargs)),
                    "random": mirror.random_state(self),
                }  # fmt: skip
            )
        except StudentTimeout as error:
            self.stuck[key] = str(error)
            self.random_key = None  # what the call did to it is unknown: send it again
            raise
        except BaseException:
            self.random_key = None
            raise
        finally:
            self.current = outer
        self.current = (args, kwargs)
        try:
            mirror.adopt_random_state(self, reply.get("random"))
            self.grad_inputs = leaves
            try:
                value = self.decode(reply["value"])
            finally:
                self.grad_inputs = []
            mirror.write_back_call(self, reply)
        finally:
            self.current = outer
        if type(reply.get("grad_enabled")) is bool:
            torch.set_grad_enabled(reply["grad_enabled"])
        return value

    def close(self) -> dict:
        """End the sandbox politely; return what it reports (e.g. how much it printed)."""
        report = {}
        if not self.dead:
            try:
                report = self.request({"op": "exit"}, seconds=10).get("value", {})
            except (Exception, CallInterrupted):  # noqa: BLE001 - killed below
                report = {}
        self.kill(self.dead or "closed")
        return report if isinstance(report, dict) else {}


class Remote:
    """A name or object that lives in the student's sandbox.

    It answers calls (run in the sandbox) and public attribute reads and writes, nothing else:
    a special or private attribute (``__array_interface__``, ``_x``) raises ``AttributeError``
    without asking the sandbox, so NumPy, PyTorch and Python's protocols treat it as an opaque
    object whatever the student's class defines.
    """

    __slots__ = ("_session", "_id", "_name", "_types")

    def __init__(self, session: Session, record: dict | None = None, name: str | None = None):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_name", name)
        record = record or {}
        object.__setattr__(self, "_id", record.get("id"))
        object.__setattr__(self, "_types", list(record.get("types", [])))

    def _target(self) -> dict:
        number = object.__getattribute__(self, "_id")
        if number is None:
            return {"name": object.__getattribute__(self, "_name")}
        return {"target": number}

    def _resolve(self) -> Remote:
        """A name becomes the object it names (so attributes can be read from it)."""
        if object.__getattribute__(self, "_id") is not None:
            return self
        session = object.__getattribute__(self, "_session")
        name = object.__getattribute__(self, "_name")
        value = session.decode(session.request({"op": "lookup", "name": name})["value"])
        if isinstance(value, Remote):
            for slot in ("_id", "_types"):
                object.__setattr__(self, slot, object.__getattribute__(value, slot))
            return self
        raise TypeError(f"{name} is not a function or class (it is {type(value).__name__})")

    def __call__(self, *args, **kwargs):
        session = object.__getattribute__(self, "_session")
        return session.call(self._target(), args, kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        self._resolve()
        session = object.__getattribute__(self, "_session")
        reply = session.request({"op": "getattr", **self._target(), "name": name})
        return session.decode(reply["value"])

    def __setattr__(self, name, value):
        if name.startswith("_"):
            raise AttributeError(name)
        self._resolve()
        session = object.__getattribute__(self, "_session")
        session.request(
            {"op": "setattr", **self._target(), "name": name, "value": session.dumps(value)}
        )

    @property
    def __class__(self):
        # isinstance(remote_module, torch.nn.Module) answers for the object in the sandbox;
        # every use of it as a module goes through calls and public attributes.
        types_ = object.__getattribute__(self, "_types")
        if "torch.nn.modules.module.Module" in types_:
            return torch.nn.Module
        return Remote

    def _type_name(self) -> str:
        """The class name the sandbox reports (for messages)."""
        types_ = object.__getattribute__(self, "_types")
        return values.class_name(types_[0]) if types_ else "object"

    def _type_names(self) -> list[str]:
        """The qualified names of the object's class and its bases, as the sandbox reports
        them (what ``isinstance`` would test there)."""
        return [str(t) for t in object.__getattribute__(self, "_types")]

    def __repr__(self):
        name = object.__getattribute__(self, "_name")
        return f"<{name or self._type_name()} in the sandbox>"

    def __eq__(self, other):
        return isinstance(other, Remote) and self._target() == other._target()

    def __hash__(self):
        return hash(str(self._target()))
