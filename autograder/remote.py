"""The grader's side of a sandbox: proxies that make the student's functions callable here.

The checks (visible and hidden) run in the grader's process with the grader's NumPy and
PyTorch. When a check calls a student's function it calls a :class:`Remote`, which ships the
arguments into the sandbox, runs the function there, and brings back the result as data,
together with what the call did to its arguments (an array mutated in place, a generator
advanced, a model left in evaluation mode) and to NumPy's and PyTorch's global random state.
Whatever the student's code patches, it patches in the sandbox; the comparison that decides
the grade happens here.
"""

from __future__ import annotations

import builtins
import importlib
import io
import pickle
import select
import signal
import subprocess
import time
import types

import numpy as np
import torch

from . import wire


class SandboxGone(BaseException):
    """The student's sandbox stopped (time limit, memory limit, or the code exited).

    A BaseException, like KeyboardInterrupt: the checks catch ``Exception`` from student code
    to describe it, and this must reach the grader instead (it decides the test's status)."""


class StudentTimeout(BaseException):
    """A call into the student's code ran out of time; it was interrupted (see SandboxGone)."""


#: Exceptions rebuilt from the sandbox are looked up only here (never imported by name freely).
_EXCEPTION_MODULES = ("builtins", "dropout_course.")


def _rebuild_exception(error: dict) -> BaseException:
    message = str(error.get("message", ""))
    for name in error.get("types", []):
        module, _, qualname = str(name).rpartition(".")
        if module == "builtins":
            cls = getattr(builtins, qualname, None)
        elif module.startswith("dropout_course.") and "." not in qualname:
            try:
                cls = getattr(importlib.import_module(module), qualname, None)
            except ImportError:
                cls = None
        else:
            continue
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(message)
            except Exception:  # noqa: BLE001,S112 - constructor wants other arguments
                continue
    return RuntimeError(message)


class _Pickler(pickle.Pickler):
    """Pickles arguments for the sandbox; the grader's own functions become callbacks."""

    def __init__(self, file, session):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.session = session

    def persistent_id(self, obj):
        if isinstance(obj, Remote):
            return ("handle", object.__getattribute__(obj, "_id"))
        if isinstance(obj, (types.FunctionType, types.MethodType)) and not _public(obj):
            return ("callback", self.session.register_callback(obj))
        return None


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


class Session:
    """One running sandbox and the conversation with it."""

    def __init__(self, process: subprocess.Popen, call_seconds: float):
        self.process = process
        self.call_seconds = call_seconds
        self.callbacks: dict[int, object] = {}
        self.grad_inputs: list[torch.Tensor] = []
        self.current: tuple = ((), {})
        self.dead: str = ""
        ready = self._receive(deadline=time.monotonic() + 120)
        if not ready.get("ready"):
            raise SandboxGone("the sandbox did not start")

    # -- transport
    def _receive(self, deadline: float) -> dict:
        fd = self.process.stdout.fileno()
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not readable:
            self.kill("it ran longer than the time limit and was stopped")
            raise SandboxGone(self.dead)
        try:
            return wire.receive(fd)
        except (EOFError, OSError, wire.WireError, ValueError) as error:
            self.kill(self._death_reason(error))
            raise SandboxGone(self.dead) from None

    def _death_reason(self, error) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return f"it sent something the grader cannot read ({error})"
        if code < 0:
            name = signal.Signals(-code).name
            reasons = {
                "SIGXCPU": "it used more CPU time than allowed",
                "SIGKILL": "it was killed (most likely it used more memory than allowed)",
                "SIGSEGV": "it crashed (segmentation fault)",
                "SIGXFSZ": "it wrote a file larger than allowed",
            }
            return reasons.get(name, f"it was stopped by {name}")
        startup = self._startup_error()
        if startup:
            return f"the sandbox could not start Python: {startup}"
        return f"the Python process exited (exit code {code}), e.g. by calling exit()"

    def _startup_error(self) -> str:
        """What bubblewrap or Python said before the harness took over stderr."""
        if self.process.stderr is None:
            return ""
        readable, _, _ = select.select([self.process.stderr], [], [], 0)
        if not readable:
            return ""
        return self.process.stderr.read(4000).decode(errors="replace").strip()

    def kill(self, reason: str) -> None:
        if not self.dead:
            self.dead = reason
        if self.process.poll() is None:
            try:
                import os

                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
            self.process.wait()

    def request(self, message: dict, seconds: float | None = None) -> object:
        if self.dead:
            raise SandboxGone(self.dead)
        seconds = self.call_seconds if seconds is None else seconds
        message["limit"] = seconds
        try:
            wire.send(self.process.stdin.fileno(), message)
        except OSError:
            self.kill(self._death_reason("the pipe closed"))
            raise SandboxGone(self.dead) from None
        deadline = time.monotonic() + seconds + 5
        while True:
            reply = self._receive(deadline)
            if reply.get("op") == "callback":
                self._run_callback(reply)
                continue
            if "timeout" in reply:
                raise StudentTimeout(
                    f"it ran longer than the {seconds:g} s time limit and was interrupted"
                )
            if "error" in reply:
                raise _rebuild_exception(reply["error"])
            return reply

    def _run_callback(self, message: dict) -> None:
        try:
            function = self.callbacks[int(message["id"])]
            self._write_back_all(message.get("state", {}))
            args, kwargs = self.decode(message["args"])
            value = function(*args, **dict(kwargs))
            answer = {"value": self.dumps(value)}
        except Exception as error:  # noqa: BLE001 - reported to the sandbox as a failure
            answer = {"error": f"{type(error).__name__}: {error}"}
        wire.send(self.process.stdin.fileno(), answer)

    def register_callback(self, function) -> int:
        number = len(self.callbacks) + 1
        self.callbacks[number] = function
        return number

    def dumps(self, value) -> str:
        buffer = io.BytesIO()
        _Pickler(buffer, self).dump(value)
        return wire.b64(buffer.getvalue())

    # -- values
    def decode(self, obj):
        return wire.decode(obj, self._remote_value)

    def _remote_value(self, kind: str, record: dict):
        if kind == "handle":
            return Remote(self, record)
        if kind == "torch_dtype":
            dtype = getattr(torch, str(record["name"]), None)
            if not isinstance(dtype, torch.dtype):
                raise wire.WireError("unknown torch dtype")
            return dtype
        array = wire.decode_array(record["array"])
        dtype = getattr(torch, str(record["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise wire.WireError("unknown torch dtype")
        value = torch.from_numpy(array).to(dtype)
        if record.get("grad_fn") is not None:
            handle = Remote(self, record["grad_fn"])
            inputs = self.grad_inputs or [torch.zeros((), requires_grad=True)]
            return _RemoteGrad.apply(self, handle, value, *inputs)
        if record.get("requires_grad"):
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
        return [
            None if g is None else g.detach() if isinstance(g, torch.Tensor) else g
            for g in self.decode(reply["value"])
        ]

    def random_state(self) -> dict:
        return {
            "numpy": self.dumps(np.random.get_state()),  # noqa: NPY002 - shared on purpose
            "torch": wire.b64(torch.get_rng_state().numpy().tobytes()),
        }

    def adopt_random_state(self, state: dict) -> None:
        numpy_state = self.decode(state.get("numpy"))
        if numpy_state is not None:
            np.random.set_state(numpy_state)  # noqa: NPY002 - shared on purpose
        if state.get("torch"):
            raw = np.frombuffer(wire.unb64(state["torch"]), dtype=np.uint8).copy()
            torch.set_rng_state(torch.from_numpy(raw))

    def _write_back_all(self, state: dict) -> None:
        """Apply what the sandbox reports about the current call's arguments to ours."""
        args, kwargs = self.current
        for original, after in zip(args, state.get("args", []) or [], strict=False):
            _write_back(original, self.decode(after))
        for key, after in (state.get("kwargs", {}) or {}).items():
            if key in kwargs:
                _write_back(kwargs[key], self.decode(after))

    def call(self, target: dict, args: tuple, kwargs: dict):
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
                    "random": self.random_state(),
                }  # fmt: skip
            )
        finally:
            self.current = outer
        self.current = (args, kwargs)
        self.adopt_random_state(reply.get("random", {}))
        self.grad_inputs = leaves
        try:
            value = self.decode(reply["value"])
        finally:
            self.grad_inputs = []
        try:
            self._write_back_all(reply)
        finally:
            self.current = outer
        if "grad_enabled" in reply:
            torch.set_grad_enabled(bool(reply["grad_enabled"]))
        return value

    def close(self) -> dict:
        """End the sandbox politely; return what it reports (e.g. how much it printed)."""
        report = {}
        if not self.dead:
            try:
                report = self.request({"op": "exit"}, seconds=10).get("value", {})
            except (Exception, SandboxGone, StudentTimeout):  # noqa: BLE001 - killed below
                report = {}
        self.kill(self.dead or "closed")
        return report if isinstance(report, dict) else {}


def _write_back(original, state) -> None:
    """Make the grader's argument look as the call left the sandbox's copy of it."""
    if state is None:
        return
    if isinstance(original, np.ndarray) and isinstance(state, np.ndarray):
        if original.shape == state.shape and original.flags.writeable:
            if not np.array_equal(original, state, equal_nan=original.dtype.kind in "fc"):
                original[...] = state
    elif isinstance(original, np.random.Generator) and isinstance(state, dict):
        original.bit_generator.state = state["generator"]
    elif isinstance(original, torch.Tensor) and isinstance(state, torch.Tensor):
        if original.shape == state.shape and not torch.equal(original.detach(), state.detach()):
            with torch.no_grad():
                original.copy_(state)
    elif isinstance(original, torch.nn.Module) and isinstance(state, dict):
        _write_back_module(original, state)
    elif type(original) is list and type(state) is list:
        if len(original) != len(state):
            original[:] = state
            return
        for index, (item, after) in enumerate(zip(original, state, strict=True)):
            if isinstance(item, (np.ndarray, list, dict, torch.Tensor)):
                _write_back(item, after)
            elif not _same(item, after):
                original[index] = after
    elif type(original) is dict and type(state) is dict:
        for key in [k for k in original if k not in state]:
            del original[key]
        for key, after in state.items():
            item = original.get(key)
            if key in original and isinstance(item, (np.ndarray, list, dict, torch.Tensor)):
                _write_back(item, after)
            elif key not in original or not _same(item, after):
                original[key] = after


def _same(a, b) -> bool:
    try:
        return bool(a == b) or (a != a and b != b)  # noqa: PLR0124 - NaN equals NaN here
    except Exception:  # noqa: BLE001 - arrays and odd types: treat as changed
        return False


def _write_back_module(original: torch.nn.Module, state: dict) -> None:
    modules = list(original.modules())
    for module, mode in zip(modules, state["module_modes"], strict=False):
        module.training = bool(mode)
    own = original.state_dict()
    with torch.no_grad():
        for key, value in state["module_state"].items():
            if key in own and own[key].shape == value.shape:
                own[key].copy_(value)
    # Hooks cannot cross the boundary; a hook left behind in the sandbox is mirrored by a
    # hook that does nothing here, so that checks counting leftovers see it.
    for module, count in zip(modules, state.get("module_hooks", []), strict=False):
        extra = int(count) - len(module._forward_hooks) - len(module._forward_pre_hooks)
        for _ in range(max(extra, 0)):
            module.register_forward_hook(_left_behind)


def _left_behind(module, inputs, output):
    """Stands for a hook the student's code registered in the sandbox and did not remove."""
    return None


class Remote:
    """A name or object that lives in the student's sandbox."""

    __slots__ = ("_session", "_id", "_name", "_types", "_callable")

    def __init__(self, session: Session, record: dict | None = None, name: str | None = None):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_name", name)
        record = record or {}
        object.__setattr__(self, "_id", record.get("id"))
        object.__setattr__(self, "_types", list(record.get("types", [])))
        object.__setattr__(self, "_callable", bool(record.get("callable", True)))

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
            for slot in ("_id", "_types", "_callable"):
                object.__setattr__(self, slot, object.__getattribute__(value, slot))
            return self
        raise TypeError(f"{name} is not a function or class (it is {type(value).__name__})")

    def __call__(self, *args, **kwargs):
        session = object.__getattribute__(self, "_session")
        return session.call(self._target(), args, kwargs)

    def __getattr__(self, name):
        self._resolve()
        session = object.__getattribute__(self, "_session")
        reply = session.request({"op": "getattr", **self._target(), "name": name})
        return session.decode(reply["value"])

    def __setattr__(self, name, value):
        self._resolve()
        session = object.__getattribute__(self, "_session")
        session.request(
            {"op": "setattr", **self._target(), "name": name, "value": session.dumps(value)}
        )

    @property
    def __class__(self):
        # isinstance(remote_module, torch.nn.Module) answers for the object in the sandbox.
        types_ = object.__getattribute__(self, "_types")
        if "torch.nn.modules.module.Module" in types_:
            return torch.nn.Module
        return Remote

    def __repr__(self):
        name = object.__getattribute__(self, "_name")
        types_ = object.__getattribute__(self, "_types")
        return f"<{name or (types_[0] if types_ else 'object')} in the sandbox>"

    def __eq__(self, other):
        return isinstance(other, Remote) and self._target() == other._target()

    def __hash__(self):
        return hash(str(self._target()))
