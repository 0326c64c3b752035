"""Shared machinery of the contract checks: the error type, safe calls, statistical bounds."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

#: Width of the acceptance band of every randomised check, in standard deviations. Under the
#: normal approximation a correct implementation falls outside +-6 sd with probability 2e-9,
#: so across all the randomised checks of a course (a few hundred per class) a false failure
#: is never expected; the mistakes the checks look for (a p used as the keep probability,
#: a missing scale) move the statistic by hundreds of standard deviations.
SIGMAS = 6.0


class ContractViolation(AssertionError):
    """A student's function broke the contract; the message says how and what to do."""


def fail(name: str, message: str) -> None:
    """Raise :class:`ContractViolation` for function ``name`` with ``message``."""
    raise ContractViolation(f"{name}: {message}")


def call(func: Callable, name: str, described: str, *args: Any, **kwargs: Any) -> Any:
    """Call a student's function, turning its exceptions into messages a student can act on.

    Parameters
    ----------
    func : callable
        The student's function.
    name : str
        Its name, for the message.
    described : str
        How the call looks, e.g. ``"dropout_forward(x, p=0.3, rng)"``.
    *args, **kwargs
        The arguments.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except ContractViolation:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} raised {type(error).__name__}: {error}")


def expect_value_error(func: Callable, name: str, described: str, *args: Any, **kwargs) -> None:
    """Check that a call raises ``ValueError`` whose message names ``p`` (or ``c``)."""
    parameter = "c" if "c=" in described else "p"
    try:
        func(*args, **kwargs)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except ValueError as error:
        if not re.search(rf"\b{parameter}\b", str(error)):
            fail(
                name,
                f"{described} raised ValueError({str(error)!r}); its message should name "
                f"the parameter {parameter}, e.g. 'p must be in [0, 1], got p=1.5'.",
            )
        return
    except Exception as error:  # noqa: BLE001
        fail(name, f"{described} must raise ValueError, but raised {type(error).__name__}.")
    fail(name, f"{described} must raise ValueError: {parameter} is out of range.")


def expect_pair(
    result: Any,
    name: str,
    described: str,
    what: str,
    *,
    allow_list: bool = False,
    shown: str | None = None,
    hint: str = "",
) -> Any:
    """Return ``result`` if it is a pair, else fail with "must return a pair ``what``".

    Parameters
    ----------
    result : object
        What the student's function returned.
    name, described : str
        The function's name and how it was called, for the message.
    what : str
        The pair's parts, e.g. ``"(out, mask)"``.
    allow_list : bool
        Accept a two-element list as well as a tuple.
    shown : str, optional
        How to show what was returned instead (default: its type's name).
    hint : str
        A sentence to add to the message.
    """
    kinds = (tuple, list) if allow_list else (tuple,)
    if not (isinstance(result, kinds) and len(result) == 2):
        got = type(result).__name__ if shown is None else shown
        fail(name, f"{described} must return a pair {what}, got {got}.{' ' + hint if hint else ''}")
    return result


def binomial_band(n: int, prob: float) -> float:
    """Half-width of the acceptance band for a fraction of ``n`` Bernoulli(``prob``) draws."""
    return SIGMAS * math.sqrt(prob * (1.0 - prob) / n) + 1e-12


def as_array(value: Any, name: str, what: str) -> np.ndarray:
    """Return ``value`` as a NumPy array, or fail if it is not array-like."""
    if not isinstance(value, np.ndarray):
        fail(name, f"{what} must be a NumPy array, got {type(value).__name__}.")
    return value


def check_shape(value: np.ndarray, shape: tuple, name: str, what: str) -> None:
    """Fail unless ``value.shape == shape``."""
    if value.shape != tuple(shape):
        fail(name, f"{what} has shape {value.shape}; it must have shape {tuple(shape)}.")


def first_match(candidates: Iterable[tuple[str, Any]], actual: Any, close) -> str | None:
    """Return the description of the first candidate wrong answer that ``actual`` matches."""
    for description, wrong in candidates:
        if close(actual, wrong):
            return description
    return None


def allclose(a, b) -> bool:
    """NumPy ``allclose`` that is False (not an error) for mismatched shapes or NaNs."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))
