"""Shared machinery of the contract checks: verdicts and scores, the error type, safe calls,
statistical bounds.

A ``check_*`` function examines each property of a contract in its own block and returns a
:class:`Verdict`; a test cell turns it into points with ``check_x(x).points(n)``, which
evaluates to the share of ``n`` that the properties that held are worth. That number is the
cell's output, which is how nbgrader itself gives partial credit (a test cell whose output is a
number between 0 and its points scores that number), so the course's grader and stock nbgrader
agree, and a student sees the same verdict in Jupyter.
"""

from __future__ import annotations

import contextlib
import decimal
import html
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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


class CallInterrupted(BaseException):  # named for what happened, like KeyboardInterrupt
    """A call into the student's code that was stopped from outside (a time limit, or the
    process that ran it stopped). The grader's proxies raise subclasses of it; a property that
    meets one fails with its message, and the other properties are still examined. A
    ``BaseException``, so that ``except Exception`` around student code does not swallow it."""


@dataclass
class PropertyResult:
    """One property of a contract and, if it did not hold, why (the message names the mistake).

    A side condition (the inputs are left unchanged, the model's mode is restored, the same
    answer for a list as for an array) holds for a function that does nothing at all, so it
    earns its share only when the function also computes something right (see
    :meth:`Verdict.fraction`).
    """

    description: str
    message: str = ""
    side_condition: bool = False

    @property
    def held(self) -> bool:
        return not self.message


class Verdict:
    """Which properties of its contract a student's function keeps.

    A check examines each property in its own block::

        verdict = Verdict("bernoulli_mask")
        with verdict.expect("drops each entry with probability p"):
            ...  # fail(...) or any exception here fails this property only
        return verdict

    A :class:`ContractViolation` fails the property with its message; any other exception
    (the student's result could not even be examined) fails it with the exception named; a
    :class:`CallInterrupted` fails it with the reason the call was stopped.
    """

    def __init__(self, name: str):
        self.name = name
        self.results: list[PropertyResult] = []

    @contextlib.contextmanager
    def expect(self, description: str, *, side_condition: bool = False) -> Iterator[None]:
        """Examine one property; whatever fails inside the block fails only this property.

        ``side_condition`` marks a property that a function doing nothing also keeps (it leaves
        its inputs alone, restores a mode, answers the same for equal inputs): it earns its
        share only if some property that is not a side condition holds too."""
        result = PropertyResult(description, side_condition=side_condition)
        self.results.append(result)
        try:
            yield
        except ContractViolation as error:
            result.message = str(error) or f"{self.name}: it does not {description}."
        except CallInterrupted as error:
            result.message = f"{self.name}: {error}"
        except Exception as error:  # noqa: BLE001 - a result that cannot be examined fails
            result.message = (
                f"{self.name}: checking that it {description} failed on what it returned "
                f"({type(error).__name__}: {error})"
            )

    def include(self, other: Verdict) -> Verdict:
        """Add the properties of another verdict of the same function; return self."""
        self.results.extend(other.results)
        return self

    @property
    def failures(self) -> list[str]:
        """The messages of the properties that did not hold, each once, in order."""
        return list(dict.fromkeys(r.message for r in self.results if not r.held))

    @property
    def passed(self) -> bool:
        return all(r.held for r in self.results)

    @property
    def _main_held(self) -> bool:
        """Whether a property that is not a side condition held (or there is none)."""
        main = [r for r in self.results if not r.side_condition]
        return not main or any(r.held for r in main)

    @property
    def uncredited(self) -> list[PropertyResult]:
        """Side conditions that held but earn nothing, because nothing else held."""
        if self._main_held:
            return []
        return [r for r in self.results if r.side_condition and r.held]

    @property
    def fraction(self) -> float:
        """The share of the properties that held and earn credit (1 for a check with no
        properties): a side condition earns only alongside a property that is not one."""
        if not self.results:
            return 1.0
        held = sum(r.held for r in self.results) - len(self.uncredited)
        return held / len(self.results)

    def summary(self) -> str:
        """One paragraph for the student: all held, or which failed and why."""
        total = len(self.results)
        if self.passed:
            return f"{self.name} keeps the contract: all {total} properties checked hold."
        failed = sum(not r.held for r in self.results)
        prefix = f"{self.name}: "
        lines = [m.removeprefix(prefix) for m in self.failures]
        if self.uncredited:
            lines.append(
                f"({len(self.uncredited)} side conditions held, such as "
                f"'{self.uncredited[0].description}', but they earn points only alongside a "
                "property of what the function computes.)"
            )
        return f"{self.name}: {failed} of {total} properties failed.\n" + "\n".join(
            f"- {line}" for line in lines
        )

    def points(self, total: float) -> Score:
        """The score of a test cell worth ``total`` points: ``total`` times the share of the
        properties that held, rounded down to hundredths (so a failure never shows full marks)."""
        return Score(self, total)

    def raise_if_failed(self) -> None:
        """Raise :class:`ContractViolation` with the summary if any property failed."""
        if not self.passed:
            raise ContractViolation(self.summary())

    def __repr__(self) -> str:
        held = sum(r.held for r in self.results)
        return f"<Verdict {self.name}: {held} of {len(self.results)} properties hold>"


class Score:
    """A test cell's result: points earned out of ``total``, and the verdict behind them.

    Its plain-text form is the number alone, which nbgrader reads as the cell's partial credit;
    Jupyter shows the HTML form, which says what failed.
    """

    def __init__(self, verdict: Verdict, total: float):
        self.verdict = verdict
        self.total = float(total)
        if verdict.passed:
            self.earned = self.total
        else:
            self.earned = math.floor(self.total * verdict.fraction * 100 + 1e-9) / 100

    @property
    def message(self) -> str:
        return "" if self.verdict.passed else self.verdict.summary()

    def __float__(self) -> float:
        return self.earned

    def __repr__(self) -> str:
        return repr(self.earned)

    def _repr_html_(self) -> str:
        verdict = self.verdict
        colour = "#1a7f37" if verdict.passed else "#cf222e"
        head = html.escape(
            f"{verdict.name}: {self.earned:g} / {self.total:g} points"
            + (" (every property holds)" if verdict.passed else "")
        )
        lines = verdict.summary().splitlines()[1:] if not verdict.passed else []
        items = "".join(f"<li>{html.escape(line.removeprefix('- '))}</li>" for line in lines)
        body = f"<ul>{items}</ul>" if items else ""
        return (
            f"<div style='border-left: 6px solid {colour}; padding: 0.2em 0.8em'>"
            f"<strong>{head}</strong>{body}</div>"
        )


class Memo:
    """A call made at most once, on first use, and examined by several properties: later uses
    get the same value, or the same exception again (so a slow or stuck call is not repeated)."""

    def __init__(self, compute: Callable[[], Any]):
        self._compute = compute
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def __call__(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self._value = self._compute()
            except (Exception, CallInterrupted) as error:  # noqa: BLE001 - kept, and raised where the result is used
                self._error = error
        if self._error is not None:
            raise self._error
        return self._value

    def succeeded(self) -> bool:
        """Whether the call returned (rather than raised or was interrupted), making it first."""
        try:
            self()
        except (Exception, CallInterrupted):  # noqa: BLE001 - any failure means it did not return
            return False
        return True


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


def expect_value_error(
    func: Callable,
    name: str,
    described: str,
    *args: Any,
    naming: str | None = None,
    parameter: str | None = None,
    **kwargs,
) -> None:
    """Check that a call raises ``ValueError``; if ``naming`` is given (where COURSE-SPEC.md
    says the message names the parameter), its message must name that parameter too.
    ``parameter`` names the argument out of range for our own message (default ``c`` or
    ``p``) without asking the student's message to name it."""
    parameter = naming or parameter or ("c" if "c=" in described else "p")
    try:
        func(*args, **kwargs)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except ValueError as error:
        if naming and not re.search(rf"\b{parameter}\b", str(error), re.IGNORECASE):
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


def type_name(value: Any) -> str:
    """The name of ``value``'s class, for messages: the student's own class name for an object
    the grader sees through a proxy (which reports it), whatever the proxy's own class is."""
    reported = getattr(type(value), "_type_name", None)
    if callable(reported):
        try:
            return str(reported(value))
        except Exception:  # noqa: BLE001 - a proxy that cannot say: fall back to the class
            pass
    return type(value).__name__


def is_a(value: Any, cls: type) -> bool:
    """``isinstance(value, cls)``, also for an object the grader sees through a proxy (which
    reports the qualified names of its class and bases)."""
    reported = getattr(type(value), "_type_names", None)
    if callable(reported):
        try:
            return f"{cls.__module__}.{cls.__qualname__}" in reported(value)
        except Exception:  # noqa: BLE001 - a proxy that cannot say is not one
            return False
    return isinstance(value, cls)


def as_array(value: Any, name: str, what: str) -> np.ndarray:
    """Return ``value`` as a NumPy array, or fail if it is not array-like."""
    if not isinstance(value, np.ndarray):
        fail(name, f"{what} must be a NumPy array, got {type_name(value)}.")
    return value


def as_number(value: Any, name: str, what: str) -> float:
    """Return ``value`` as a float if it is one number, or fail saying what it is.

    Anything a student's "return a number" can reasonably mean is accepted: a Python or NumPy
    int or float (of any precision), a Fraction or Decimal, and a NumPy array or PyTorch tensor
    holding exactly one real number (0-d or not). A bool, a complex number, a string or a
    container of several values is not a number.
    """
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        fail(name, f"{what} must be a number, got {type_name(value)} {value!r:.60}.")
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        return float(value)
    numel = getattr(value, "numel", None)  # a tensor; an array has .size
    count = numel() if callable(numel) else getattr(value, "size", None)
    if count == 1 and hasattr(value, "item"):
        item = value.item()
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    shown = f" of shape {tuple(value.shape)}" if hasattr(value, "shape") else ""
    fail(name, f"{what} must be one number, got {type_name(value)}{shown}.")


def same_dtype(a: Any, b: Any) -> bool:
    """Whether two arrays' dtypes are the same kind and precision (byte order aside: a
    big-endian float64 is a float64)."""
    return np.dtype(a).newbyteorder("=") == np.dtype(b).newbyteorder("=")


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


def agrees_with_measurement(
    name: str,
    described: str,
    value: float,
    measured: float,
    rtol: float,
    how: str,
    candidates: Iterable[tuple[str, float]] = (),
) -> None:
    """Pass if ``value`` is within ``rtol`` of what a simulation ``measured``; otherwise fail
    with both numbers, naming the first candidate mistake whose value ``value`` matches.

    ``how`` says what was measured, e.g. ``"over 4,000 fits the gap measures"``.
    """

    def near(v: float, w: float) -> bool:
        return bool(np.isfinite(v) and np.isfinite(w)) and abs(v - w) <= rtol * max(abs(w), 1e-12)

    if near(value, measured):
        return
    mistake = first_match(candidates, value, near)
    fail(
        name,
        f"{described} returned {value:.6g}; {how} {measured:.6g}"
        + (f": {mistake}." if mistake else "."),
    )


def agrees_with_exact(
    name: str,
    func: Callable,
    calls: Iterable[tuple],
    exact: Callable[..., float],
    why: str,
    rtol: float = 1e-6,
) -> None:
    """Call ``func`` with each tuple of ``calls``; fail on the first number that differs from
    ``exact`` of the same arguments (computed first, from arguments the call cannot have
    changed), saying ``why`` the exact value is what it is. The default tolerance is one a
    float32 answer meets (any precision of number is accepted)."""
    for args in calls:
        described = f"{name}({', '.join(repr(a) for a in args)})"
        expected = exact(*args)
        value = as_number(call(func, name, described, *args), name, described)
        if not np.isclose(value, expected, rtol=rtol, atol=0.0):
            fail(name, f"{described} returned {value:.6g}, expected {expected:.6g}: {why}")


def allclose(a, b) -> bool:
    """NumPy ``allclose`` that is False (not an error) for mismatched shapes or NaNs."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))
