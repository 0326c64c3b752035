"""The program that runs inside a student's sandbox.

It executes the student's notebook cells in an IPython shell, one request per cell, then answers
the grader's requests: call a function the notebook defined, read or set an attribute, look a
name up, run a backward pass. It never decides a grade: every answer goes back to the grader as
plain data (see ``wire.py``), and the grader's own checks, in a process the student's code never
ran in, compare it.

Protocol: one message per request on the file descriptors the grader gave us, one reply each.
Requests are ``{"op": "cell" | "call" | "getattr" | "setattr" | "lookup" | "backward" | "exit",
"limit": seconds, ...}``; a reply is ``{"value": ...}``, ``{"error": {"types", "message"}}`` or
``{"timeout": seconds}``. While a call runs, the sandbox may ask the grader to run one of the
grader's callables (``{"op": "callback", "id", "args", "state"}``) and waits for its answer.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import wire  # noqa: E402

PROTOCOL_IN, PROTOCOL_OUT = 0, 1


class TimeLimit(BaseException):
    """Raised in student code when a cell or call runs out of time (like Jupyter's interrupt)."""


def _on_alarm(signum, frame):
    raise TimeLimit("time limit reached")


class CappedWriter(io.TextIOBase):
    """A stdout/stderr that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, stream, limit):
        self.stream, self.limit, self.written = stream, limit, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.written
        if room > 0:
            self.stream.write(text[:room])
        self.written += len(text)
        return len(text)

    def flush(self):
        self.stream.flush()


class Handles:
    """Objects the grader refers to by number (functions, module instances, tensors)."""

    def __init__(self):
        self.objects, self.ids = {}, {}

    def __call__(self, value):
        key = id(value)
        number = self.ids.get(key)
        if number is None or self.objects.get(number) is not value:
            number = len(self.objects) + 1
            self.objects[number], self.ids[key] = value, number
        return {
            "__": "handle",
            "id": number,
            "types": [f"{c.__module__}.{c.__qualname__}" for c in type(value).__mro__][:32],
        }

    def get(self, number):
        return self.objects[int(number)]


def _torch():
    return sys.modules.get("torch")


def _bring_up_to_date(known, fresh) -> bool:
    """Give ``known`` the state of ``fresh`` (an object of the same type) in place; False when
    that cannot be done faithfully (then ``fresh`` replaces it)."""
    torch = _torch()
    if isinstance(known, np.random.Generator):
        known.bit_generator.state = fresh.bit_generator.state
        seed_seq = getattr(known.bit_generator, "seed_seq", None)
        have = getattr(seed_seq, "n_children_spawned", 0)
        wanted = getattr(getattr(fresh.bit_generator, "seed_seq", None), "n_children_spawned", 0)
        if wanted > have:
            seed_seq.spawn(wanted - have)
        return True
    if isinstance(known, np.ndarray):
        if known.shape != fresh.shape or known.dtype != fresh.dtype or not known.flags.writeable:
            return False
        known[...] = fresh
        return True
    if torch is not None and isinstance(known, torch.Tensor):
        alike = known.shape == fresh.shape and known.dtype == fresh.dtype
        if not alike or known.requires_grad != fresh.requires_grad or not known.is_leaf:
            return False
        with torch.no_grad():
            known.copy_(fresh)
        known.grad = fresh.grad
        return True
    if torch is not None and isinstance(known, torch.nn.Module):
        known.__dict__.clear()
        known.__dict__.update(fresh.__dict__)
        return True
    return False


class Sandbox:
    def __init__(self):
        self.handles = Handles()
        self.kept = {}  # the grader's arguments by their token
        self.delivered = {}  # id -> token of the grader's objects the current call was given
        self.current = ((), {})  # the arguments of the call in progress
        self.inputs = {}  # id of a tensor with grad_fn -> the call's input tensors
        self.limit = 60.0  # replaced by every request's "limit" (the grader's Limits)
        self.shell = None
        self.stdout = None

    # -- messaging
    def send(self, message):
        wire.send(PROTOCOL_OUT, message)

    def encode(self, value):
        return wire.encode(value, self.handles)

    def loads(self, data):
        sandbox = self

        class Unpickler(pickle.Unpickler):
            def persistent_load(self, pid):
                kind, number = pid[:2]
                if kind == "handle":
                    return sandbox.handles.get(number)
                if kind == "callback":
                    return sandbox.callback(number)
                if kind == "same":
                    return sandbox.same_object(number, sandbox.loads(pid[2]))
                raise pickle.UnpicklingError(f"unknown reference {pid!r}")

        return Unpickler(io.BytesIO(data)).load()

    def same_object(self, token, fresh):
        """The object the grader calls ``token``: the one it was the first time, with the state
        ``fresh`` brings (so an argument is one object across calls, as in one process); ``fresh``
        itself when the two cannot be made alike."""
        known = self.kept.get(token)
        if known is None or type(known) is not type(fresh) or not _bring_up_to_date(known, fresh):
            known = self.kept[token] = fresh
        self.delivered[id(known)] = token
        return known

    def callback(self, number):
        def grader_function(*args, **kwargs):
            # The grader's function may read the caller's arguments through a closure: let it
            # see them as they are now (e.g. perturbed in place by a numerical gradient).
            call_args, call_kwargs = self.current
            self.send({"op": "callback", "id": number, "args": self.encode((args, kwargs)),
                       "state": self._after(None, call_args, call_kwargs)})  # fmt: skip
            reply = wire.receive(PROTOCOL_IN)
            if "error" in reply:
                raise RuntimeError(f"the grader's function failed: {reply['error']}")
            return self.loads(reply["value"])

        grader_function.__name__ = f"grader_function_{number}"
        return grader_function

    # -- random state shared with the grader
    def set_random_state(self, state):
        if state.get("numpy"):
            np.random.set_state(self.loads(state["numpy"]))  # noqa: NPY002 - shared on purpose
        torch = _torch()
        if torch is not None and state.get("torch"):
            torch.set_rng_state(torch.frombuffer(bytearray(state["torch"]), dtype=torch.uint8))

    def random_key(self):
        """The global random state in a form that compares cheaply."""
        state = np.random.get_state()  # noqa: NPY002
        torch = _torch()
        return (state[1].tobytes(), state[2:], torch.get_rng_state().numpy().tobytes()
                if torch is not None else b"")  # fmt: skip

    def random_state(self):
        state = {"numpy": self.encode(np.random.get_state())}  # noqa: NPY002
        torch = _torch()
        if torch is not None:
            state["torch"] = torch.get_rng_state().numpy().tobytes()
        return state

    # -- work
    def run_cell(self, source, limit):
        """Run one cell under a time limit, as Jupyter would; report its error, if any."""
        from IPython.core.interactiveshell import InteractiveShell

        if self.shell is None:
            self.shell = InteractiveShell.instance()
            self.shell.display_pub.publish = lambda *a, **k: None
        started = time.monotonic()
        error = None
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            outcome = self.shell.run_cell(source, store_history=False, silent=True)
            failure = outcome.error_in_exec or outcome.error_before_exec
            if failure is not None:
                error = wire.describe_exception(failure)
        except TimeLimit:
            error = {"types": ["TimeLimit"], "message": f"cell ran longer than {limit:g} s"}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return {"error": error, "seconds": round(time.monotonic() - started, 3)}

    def _after(self, value, args, kwargs):
        """Encode the call's result and the state its arguments were left in; an object the
        grader gave the call, returned as it is, goes back as a reference to the grader's own
        object (a tensor with its autograd graph, an array that shares its memory)."""
        known = {key: {"__": "kept", "token": token} for key, token in self.delivered.items()}
        after = [self.arg_state(a) for a in args]
        after_kw = {str(k): self.arg_state(v) for k, v in kwargs.items()}
        return {"value": wire.encode(value, self.handles, known), "args": after,
                "kwargs": after_kw}  # fmt: skip

    def arg_state(self, value):
        torch = _torch()
        if isinstance(value, np.ndarray) or type(value) in (list, dict):
            return self.encode(value)
        if isinstance(value, np.random.Generator):
            spawned = getattr(value.bit_generator.seed_seq, "n_children_spawned", 0)
            return {"__": "dict", "items": [["generator", self.encode(value.bit_generator.state)],
                                            ["spawned", self.encode(spawned)]]}  # fmt: skip
        if torch is not None:
            if isinstance(value, torch.Tensor):
                return self.encode(value)
            if isinstance(value, torch.nn.Module):
                modes = [m.training for m in value.modules()]
                params = {k: v.detach() for k, v in value.state_dict().items()}
                hooks = [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in value.modules()]
                return self.encode(
                    {"module_modes": modes, "module_state": params, "module_hooks": hooks}
                )
        return None

    def grad_inputs(self, args, kwargs):
        torch = _torch()
        if torch is None:
            return []
        return [v for v in list(args) + list(kwargs.values())
                if isinstance(v, torch.Tensor) and v.requires_grad]  # fmt: skip

    def lookup(self, name):
        if name not in self.shell.user_ns:
            raise NameError(f"{name} is not defined in your notebook")
        return self.shell.user_ns[name]

    def call(self, message):
        outer, self.delivered = self.delivered, {}  # a call may be made inside a callback
        try:
            return self._call(message)
        finally:
            self.delivered = outer

    def _call(self, message):
        target = self.handles.get(message["target"]) if "target" in message else None
        if target is None:
            target = self.lookup(message["name"])
        args, kwargs = self.loads(message["args"])
        self.set_random_state(message.get("random") or {})
        before = self.random_key()
        self.current = (args, kwargs)
        try:
            with self.forbid_built_in_dropout(target):
                value = target(*args, **kwargs)
        finally:
            self.current = ((), {})
        torch = _torch()
        if torch is not None and isinstance(value, torch.Tensor) and value.grad_fn is not None:
            self.inputs[id(value)] = (value, self.grad_inputs(args, kwargs))
        reply = self._after(value, args, kwargs)
        # Only a state the call changed goes back (the grader keeps the one it sent).
        reply["random"] = self.random_state() if self.random_key() != before else None
        if torch is not None:
            reply["grad_enabled"] = torch.is_grad_enabled()
        return reply

    def forbid_built_in_dropout(self, target):
        """The notebook's from-scratch ``Dropout`` module (exercise 03) must not hand its work
        to PyTorch's own dropout. Only instances of the class the notebook calls ``Dropout``:
        other modules a notebook builds (a network of nn.Dropout layers) may use it."""
        torch = _torch()
        names = self.shell.user_ns if self.shell is not None else {}
        own = names.get("Dropout")
        if (
            torch is not None
            and isinstance(target, torch.nn.Module)
            and isinstance(own, type)
            and isinstance(target, own)
        ):
            from dropout_course.checks.bernoulli_masks import forbid_built_in_dropout

            return forbid_built_in_dropout()
        return contextlib.nullcontext()

    def backward(self, message):
        import torch

        output = self.handles.get(message["output"])
        _, inputs = self.inputs.get(id(output), (output, []))
        upstream = self.loads(message["grad"])
        if not inputs:
            return {"value": self.encode([])}
        grads = torch.autograd.grad(output, inputs, upstream, retain_graph=True, allow_unused=True)
        return {"value": self.encode(list(grads))}

    def handle(self, message):
        op = message["op"]
        self.limit = float(message.get("limit", self.limit))
        if op == "cell":
            return {"value": self.run_cell(message["source"], self.limit)}
        signal.setitimer(signal.ITIMER_REAL, self.limit)
        try:
            if op == "call":
                return self.call(message)
            if op == "getattr":
                value = getattr(self.handles.get(message["target"]), message["name"])
                return {"value": self.encode(value)}
            if op == "setattr":
                setattr(self.handles.get(message["target"]), message["name"],
                        self.loads(message["value"]))  # fmt: skip
                return {"value": None}
            if op == "lookup":
                return {"value": self.encode(self.lookup(message["name"]))}
            if op == "backward":
                return self.backward(message)
            raise ValueError(f"unknown request {op!r}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def serve(self):
        while True:
            try:
                message = wire.receive(PROTOCOL_IN)
            except EOFError:
                return
            if message.get("op") == "exit":
                self.send({"value": {"output_chars": self.stdout.written}})
                return
            try:
                reply = self.handle(message)
            except TimeLimit:
                reply = {"timeout": self.limit}
            except BaseException as error:  # noqa: BLE001 - everything goes back as data
                reply = {"error": wire.describe_exception(error)}
            try:
                self.send(reply)
            except wire.WireError as error:  # e.g. a result too large to send
                self.send({"error": wire.describe_exception(error)})


def main():
    global PROTOCOL_IN, PROTOCOL_OUT
    for folder in {os.environ.get("TMPDIR"), os.environ.get("MPLCONFIGDIR")} - {None}:
        os.makedirs(folder, exist_ok=True)
    # The protocol keeps the pipes we were started with; the student's output goes to a file.
    PROTOCOL_IN, PROTOCOL_OUT = os.dup(0), os.dup(1)
    limit = int(os.environ.get("GRADER_OUTPUT_LIMIT", "1000000"))
    log = os.open("output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd in (1, 2):
        os.dup2(log, fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    sandbox = Sandbox()
    text = io.TextIOWrapper(os.fdopen(log, "wb", closefd=False), write_through=True)
    sandbox.stdout = CappedWriter(text, limit)
    sys.stdout = sys.stderr = sandbox.stdout
    sandbox.send({"ready": True})
    sandbox.serve()


if __name__ == "__main__":
    main()
