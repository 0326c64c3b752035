"""Mirroring a call's side effects from the sandbox onto the grader's objects.

A check hands the student's function NumPy arrays, generators, tensors and modules; the sandbox
works on copies. After the call it reports the state it left them in (an array changed in place,
a generator advanced, a model left in evaluation mode) and the global random state, and these
functions make the grader's objects look the same, so that checks of side effects see them. Each
report is untrusted data: it is applied only where it fits the grader's object exactly (same
shape and dtype, a state the generator accepts), and otherwise ignored.
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.guest.wire import WireError

#: At most this many hooks left behind in the sandbox are mirrored per module.
MAX_MIRRORED_HOOKS = 16


def _random_key() -> tuple:
    """NumPy's and PyTorch's global random state in a form that compares cheaply."""
    state = np.random.get_state()  # noqa: NPY002 - shared on purpose
    return (state[1].tobytes(), state[2:], torch.get_rng_state().numpy().tobytes())


def random_state(session) -> dict | None:
    """NumPy's and PyTorch's global random state, for the sandbox to adopt before a call; None
    when it is the state the two sides last agreed on (most calls: nothing to send)."""
    key = _random_key()
    if key == session.random_key:
        return None
    session.random_key = key
    return {
        "numpy": session.dumps(np.random.get_state()),  # noqa: NPY002 - shared on purpose
        "torch": torch.get_rng_state().numpy().tobytes(),
    }


def adopt_random_state(session, state) -> None:
    """Take over the global random state the sandbox reports after a call, if it is valid
    (None: the call did not change it)."""
    if not isinstance(state, dict):
        return
    session.random_key = None  # until it is known what was adopted
    try:
        numpy_state = session.decode(state.get("numpy"))
        if numpy_state is not None:
            np.random.set_state(numpy_state)  # noqa: NPY002 - shared on purpose
        raw = state.get("torch")
        if type(raw) is bytes:
            torch.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    except (TypeError, ValueError, RuntimeError, KeyError, IndexError, WireError):
        return  # a state NumPy or PyTorch refuses: the grader's stays as it was (and is sent)
    session.random_key = _random_key()


def write_back_call(session, report) -> None:
    """Apply what the sandbox reports about the current call's arguments to ours."""
    if not isinstance(report, dict):
        return
    args, kwargs = session.current
    after_args = report.get("args")
    after_kwargs = report.get("kwargs")
    if type(after_args) is list:
        for original, after in zip(args, after_args, strict=False):
            write_back(original, session.decode(after))
    if type(after_kwargs) is dict:
        for key, after in after_kwargs.items():
            if key in kwargs:
                write_back(kwargs[key], session.decode(after))


def write_back(original, state) -> None:
    """Make the grader's argument look as the call left the sandbox's copy of it."""
    if state is None:
        return
    if isinstance(original, np.ndarray) and isinstance(state, np.ndarray):
        if (
            original.shape == state.shape
            and original.dtype == state.dtype
            and original.flags.writeable
            and not np.array_equal(original, state, equal_nan=original.dtype.kind in "fc")
        ):
            original[...] = state
    elif isinstance(original, np.random.Generator) and isinstance(state, dict):
        _write_back_generator(original, state)
    elif isinstance(original, torch.Tensor) and isinstance(state, torch.Tensor):
        if original.shape == state.shape and original.dtype == state.dtype:
            if not torch.equal(original.detach(), state.detach()):
                with torch.no_grad():
                    original.copy_(state)
    elif isinstance(original, torch.nn.Module) and isinstance(state, dict):
        _write_back_module(original, state)
    elif type(original) is list and type(state) is list:
        _write_back_list(original, state)
    elif type(original) is dict and type(state) is dict:
        _write_back_dict(original, state)


#: At most this many children a generator spawned in the sandbox are mirrored by one call.
MAX_MIRRORED_SPAWNS = 10_000


def _write_back_generator(original: np.random.Generator, state: dict) -> None:
    """The generator's state, and how many children its seed sequence has spawned (so that
    ``rng.spawn()`` in the next call gives new children, as it would in one process)."""
    try:
        original.bit_generator.state = state["generator"]
    except (TypeError, ValueError, KeyError):
        return
    seed_seq = getattr(original.bit_generator, "seed_seq", None)
    spawned = state.get("spawned")
    have = getattr(seed_seq, "n_children_spawned", None)
    if type(spawned) is int and type(have) is int and 0 < spawned - have <= MAX_MIRRORED_SPAWNS:
        seed_seq.spawn(spawned - have)


def _container(value) -> bool:
    return isinstance(value, (np.ndarray, list, dict, torch.Tensor))


def _fits(item, after) -> bool:
    """Whether ``after`` can be written into ``item`` in place: an array of the same shape and
    dtype, or a container of the same kind (else the entry was replaced, and is replaced here)."""
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return type(after) is type(item) and after.shape == item.shape and after.dtype == item.dtype
    return type(after) is type(item)


def _write_back_list(original: list, state: list) -> None:
    if len(original) != len(state):
        original[:] = state
        return
    for index, (item, after) in enumerate(zip(original, state, strict=True)):
        if _container(item) and _fits(item, after):
            write_back(item, after)
        elif _container(item) or not _same(item, after):
            original[index] = after


def _write_back_dict(original: dict, state: dict) -> None:
    for key in [k for k in original if k not in state]:
        del original[key]
    for key, after in state.items():
        item = original.get(key)
        if key in original and _container(item) and _fits(item, after):
            write_back(item, after)
        elif key not in original or _container(item) or not _same(item, after):
            original[key] = after


def _same(a, b) -> bool:
    if type(a) is not type(b) or not isinstance(a, (bool, int, float, str, type(None))):
        return False
    return a == b or (a != a and b != b)  # NaN equals NaN here


def _write_back_module(original: torch.nn.Module, state: dict) -> None:
    modules = list(original.modules())
    modes = state.get("module_modes")
    if type(modes) is list:
        for module, mode in zip(modules, modes, strict=False):
            if type(mode) is bool:
                module.training = mode
    params = state.get("module_state")
    if type(params) is dict:
        own = original.state_dict()
        with torch.no_grad():
            for key, value in params.items():
                target = own.get(key)
                if (
                    isinstance(value, torch.Tensor)
                    and target is not None
                    and target.shape == value.shape
                    and target.dtype == value.dtype
                ):
                    target.copy_(value)
    hooks = state.get("module_hooks")
    if type(hooks) is list:
        # Hooks cannot cross the boundary; a hook left behind in the sandbox is mirrored by a
        # hook that does nothing here, so that checks counting leftovers see it.
        for module, count in zip(modules, hooks, strict=False):
            if type(count) is not int:
                continue
            present = len(module._forward_hooks) + len(module._forward_pre_hooks)
            for _ in range(min(count - present, MAX_MIRRORED_HOOKS)):
                module.register_forward_hook(_left_behind)


def _left_behind(module, inputs, output):
    """Stands for a hook the student's code registered in the sandbox and did not remove."""
    return None
