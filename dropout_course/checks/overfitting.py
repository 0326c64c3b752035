"""Contract checks of exercise 01 (*Overfitting*): generalisation_gap, bias_variance,
early_stopping_epoch and l2_penalty.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the function's contract (the markdown cell above its answer cell), so a test cell's
points are shared among them; each function is called once per input (through
:class:`~dropout_course.checks.core.Memo`) and every property examines what it returned. Every
check takes keyword arguments for its inputs so that the hidden tests can examine the same
properties on inputs the student has not seen. None of the checks is randomised: the inputs are
built (or drawn from a seeded generator) so that the right answer is known exactly, and each
known wrong answer gives a different value that the message names.

The rule of early stopping is examined aspect by aspect, so that one mistake fails the property
about it and not every one: patience and the best epoch on curves without a tie, a tie with the
best loss on curves where it alone decides (and by comparing the answer for a curve with ties
with the answer for the same curve with its ties raised slightly), and tiny improvements on
curves of tiny improvements without ties.

What the checks do not demand (any of these is a correct answer): a pair may be a tuple, a list
or a NumPy array of two entries; a number may be anything :func:`~.core.as_number` reads as one
(a Python or NumPy int or float, a Fraction or Decimal, an array or tensor holding one number);
an epoch may be any such number holding a whole number; arrays may have any float dtype,
and values are compared in float64 with tolerances that a float32 computation meets; an error
message names a parameter when it contains its name in any case (``lam`` may also be called
``lambda`` or ``λ``); a length mismatch or an empty ``val_losses`` only has to raise
``ValueError``, with any message.
"""

from __future__ import annotations

import contextlib
import operator
import re
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from .core import (
    ContractViolation,
    Memo,
    Verdict,
    agrees_with_measurement,
    as_number,
    call,
    fail,
    first_match,
    type_name,
)

#: Tolerances of every comparison of values (in float64): loose enough for a correct float32
#: computation, tight enough that every named mistake (a factor of 2, a missing square, ddof=1
#: on four fits, ...) is far outside them.
RTOL, ATOL = 1e-5, 1e-8


def close(a, b, atol: float = ATOL) -> bool:
    """``np.allclose`` in float64 that is False (not an error) for mismatched shapes or NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=atol))


def close_gaps(a, b) -> bool:
    """:func:`close` for gaps: a difference of two float32 losses of order 1 is off by up to
    their rounding (~1e-7) however small the gap, so the absolute tolerance is 1e-6."""
    return close(a, b, atol=1e-6)


def _copy(value):
    """A deep enough copy of a list of arrays, an array or a list, to detect mutation."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list | tuple):
        return type(value)(_copy(v) for v in value)
    return value


def _same(a, b) -> bool:
    """True when ``a`` and ``b`` are equal values of the same structure (arrays compared
    exactly)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


#: Other ways of naming a parameter in an error message.
_ALIASES = {"lam": ("lam", "lambda", "λ")}


def expect_named_value_error(
    func: Callable, name: str, described: str, parameter: str, *args: Any
) -> None:
    """Check that ``func(*args)`` raises ``ValueError``; if ``parameter`` is not empty, its
    message must name it (in any case, or by an alias such as ``lambda`` for ``lam``)."""
    try:
        func(*args)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except ValueError as error:
        words = _ALIASES.get(parameter, (parameter,))
        pattern = "|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words)
        if parameter and not re.search(pattern, str(error), flags=re.IGNORECASE):
            fail(
                name,
                f"{described} raised ValueError({str(error)!r}); its message should name "
                f"{parameter}, e.g. '{parameter} must be ..., got {parameter}=...'.",
            )
        return
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} must raise ValueError, but raised {type(error).__name__}.")
    fail(name, f"{described} must raise ValueError.")


def _pair(result, name: str, described: str, what: str) -> tuple:
    """The two parts of a returned pair: a tuple or list of two, or a NumPy array of shape (2,)."""
    if isinstance(result, tuple | list) and len(result) == 2:
        return tuple(result)
    if isinstance(result, np.ndarray) and result.shape == (2,):
        return tuple(result)
    fail(name, f"{described} must return a pair {what}, got {result!r:.80}.")
    raise AssertionError  # unreachable


def same_answer(got, expected, other: Callable[[], Any], close=close) -> bool:
    """Whether ``got`` is the right answer, or the same as ``other()``, the answer for the same
    values in another form (so that a wrong formula is the other properties' failure, not this
    one's); False if ``other()`` raises."""
    if close(got, expected):
        return True
    try:
        return close(got, other())
    except Exception:  # noqa: BLE001 - that call is examined by the other properties
        return False


def _each(runs: Sequence, examine: Callable[[Any], None], *, required: int = 1) -> None:
    """``examine`` each call that ran. A call that raised fails the property only if it is one
    of the first ``required``: a crash on a later input is the failure of the properties about
    that input's values, not of this one."""
    for i, run in enumerate(runs):
        try:
            run.ran()
        except Exception:  # noqa: BLE001 - reported by the properties about its values
            if i < required:
                raise
            continue
        examine(run)


# ---------------------------------------------------------------------- generalisation_gap

#: Training and validation losses of six epochs; the first two gaps are negative.
GAP_TRAIN = [0.90, 0.60, 0.40, 0.25, 0.15, 0.10]
GAP_VAL = [0.80, 0.58, 0.45, 0.40, 0.42, 0.47]


def call_gap(generalisation_gap, train, val, described: str):
    """Call the student's function on sequences; a TypeError gets a hint about lists."""
    name = "generalisation_gap"
    try:
        return generalisation_gap(train, val)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except TypeError as error:
        fail(
            name,
            f"{described} raised TypeError: {error}. The losses may come as Python lists or "
            "tuples, which cannot be subtracted: convert them first with "
            "np.asarray(..., dtype=float).",
        )
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} raised {type(error).__name__}: {error}")


def _gap_candidates(t, v):
    return [
        (
            "the sign is reversed: the gap is val_losses - train_losses (positive when the "
            "model does worse on the validation set)",
            t - v,
        ),
        (
            "the absolute value hides the sign: the gap is val_losses - train_losses, "
            "negative where the validation loss is the lower one",
            np.abs(v - t),
        ),
        ("this is a ratio; the gap is the difference val_losses - train_losses", v / t),
        (
            "this is a relative gap; the gap is the plain difference val_losses - train_losses",
            (v - t) / t,
        ),
    ]


def _check_gap_values(result, t, v, described) -> np.ndarray:
    """Fail unless ``result`` holds ``v - t`` (compared in float64); return it in float64."""
    name, expected = "generalisation_gap", v - t
    got = np.asarray(result, dtype=np.float64)
    if got.shape != expected.shape:
        fail(
            name,
            f"{described} returned {got.size} value(s) of shape {got.shape}; the gap has one "
            f"value per epoch, shape {expected.shape}.",
        )
    if not close_gaps(got, expected):
        mistake = first_match(_gap_candidates(t, v), got, close_gaps)
        fail(
            name,
            f"{described}: {mistake or 'wrong values'}. Expected {np.round(expected, 4)}, got "
            f"{np.round(got, 4)}.",
        )
    return got


def check_generalisation_gap(generalisation_gap, *, train=None, val=None) -> Verdict:
    """Check ``generalisation_gap(train_losses, val_losses)`` against the contract.

    Parameters
    ----------
    generalisation_gap : callable
        The student's function.
    train, val : sequence of float, optional
        Per-epoch losses of equal length (at least 2); some validation losses should be below
        the training ones, so that a gap without its sign is caught.
    """
    name = "generalisation_gap"
    verdict = Verdict(name)
    train = list(GAP_TRAIN if train is None else train)
    val = list(GAP_VAL if val is None else val)
    t, v = np.array(train, dtype=np.float64), np.array(val, dtype=np.float64)
    inputs = {"with two NumPy arrays": (t, v), "with two lists": (train, val)}
    given = {k: _copy(pair) for k, pair in inputs.items()}
    described = {k: f"generalisation_gap(train_losses, val_losses) {k}" for k in inputs}
    results = {
        k: Memo(lambda k=k: call_gap(generalisation_gap, *given[k], described[k])) for k in inputs
    }
    arrays, lists = results.values()
    with verdict.expect("return a NumPy array with one gap per epoch", side_condition=True):
        result, what = arrays(), described["with two NumPy arrays"]
        if np.ndim(result) == 0:
            fail(name, f"{what} returned a single number ({result!r:.40}); it must return one "
                       f"gap per epoch, an array of shape {t.shape}.")  # fmt: skip
        if not isinstance(result, np.ndarray):
            fail(name, f"{what} returned {type_name(result)}; it must return a NumPy array "
                       "with one gap per epoch.")  # fmt: skip
        if result.shape != t.shape:
            fail(name, f"{what} returned shape {result.shape}; expected {t.shape}.")
    with verdict.expect("compute val_losses - train_losses for every epoch, keeping the sign"):
        _check_gap_values(arrays(), t, v, described["with two NumPy arrays"])
    with verdict.expect("accept Python lists as well as NumPy arrays", side_condition=True):
        if not same_answer(lists(), v - t, arrays, close=close_gaps):
            fail(name, "gives a different answer for lists than for NumPy arrays of the same "
                       "values.")  # fmt: skip
    with verdict.expect("leave its inputs unchanged", side_condition=True):
        arrays()
        with contextlib.suppress(Exception):  # a crash on lists is the property above's
            lists()
        for key in inputs:
            if not _same(given[key], inputs[key]):
                fail(name, f"{described[key]} modified its inputs in place (e.g. val_losses -= "
                           "train_losses); compute a new array instead.")  # fmt: skip
    with verdict.expect(
        "raise ValueError when the lengths differ (no broadcasting)", side_condition=True
    ):
        examine_length_mismatch(generalisation_gap, t, v)
    return verdict


def examine_length_mismatch(generalisation_gap, t: np.ndarray, v: np.ndarray) -> None:
    """Losses of different lengths raise ValueError (each call on new copies). Arrays, so that
    a function that fails on lists fails only the property about lists."""
    name, n = "generalisation_gap", len(t)
    expect_named_value_error(generalisation_gap, name, f"generalisation_gap(train_losses of "
                             f"length {n}, val_losses of length {n - 1})", "", t.copy(),
                             v[:-1].copy())  # fmt: skip
    expect_named_value_error(
        generalisation_gap, name, "generalisation_gap(train_losses of length 1, val_losses "
        "of length 3): NumPy would broadcast the single value, but the lengths differ, so it",
        "", t[:1].copy(), v[:3].copy(),
    )  # fmt: skip


# --------------------------------------------------------------------------- bias_variance


def _spread_stack(truth, offset, spread):
    """Four fits around ``truth + offset`` at distances +-spread and +-2 spread.

    Their average is exactly ``truth + offset``; their variance (ddof = 0) is ``2.5 spread^2``
    at every point, and 10/3 spread^2 with ddof = 1.
    """
    return truth + offset + np.outer([1.0, -1.0, 2.0, -2.0], spread)


def _bias_variance_candidates(predictions, truth):
    """Wrong (bias2, variance) pairs that students return, with what each one means."""
    n_models = predictions.shape[0]
    average = predictions.mean(axis=0)
    bias2 = np.mean((average - truth) ** 2)
    var0 = np.mean(predictions.var(axis=0))
    mse = np.mean((predictions - truth) ** 2)
    candidates = [
        (
            "the variance divides by n_models - 1 (ddof=1); the contract uses the plain mean "
            "over the models (ddof=0, np.var's default), so that bias2 + variance equals the "
            "mean squared error of the fits exactly",
            (bias2, var0 * n_models / max(n_models - 1, 1)),
        ),
        (
            "the variance is a standard deviation: average the SQUARED deviations of the "
            "fits from their average",
            (bias2, np.mean(predictions.std(axis=0))),
        ),
        (
            "bias2 is the squared error of the fits, which includes the variance: the bias is "
            "the error of the AVERAGE fit, (predictions.mean(axis=0) - truth)**2",
            (mse, var0),
        ),
        (
            "the variance is measured around the truth; measure it around the average fit "
            "predictions.mean(axis=0)",
            (bias2, mse),
        ),
        (
            "bias2 was squared after averaging over the points, so errors of opposite signs "
            "cancel; square (average fit - truth) at every point, then average",
            (np.mean(average - truth) ** 2, var0),
        ),
        (
            "bias2 is not squared: average (average fit - truth)**2 over the points",
            (np.mean(average - truth), var0),
        ),
        ("the pair is in the wrong order: return (bias2, variance)", (var0, bias2)),
    ]
    if predictions.shape[0] == predictions.shape[1]:
        flipped = predictions.T
        f_average = flipped.mean(axis=0)
        candidates.append(
            (
                "the averages are taken over the wrong axis: the rows of predictions are the "
                "models, so average over axis=0 (one value per point)",
                (np.mean((f_average - truth) ** 2), np.mean(flipped.var(axis=0))),
            )
        )
    return candidates


class BiasVarianceCall:
    """One call of ``bias_variance`` on copies of a stack of fits, made once and examined by
    several properties."""

    def __init__(self, bias_variance, predictions, truth, expected, described):
        self.predictions, self.truth, self.expected = predictions, truth, expected
        self.described = described
        self._result = Memo(lambda: self._call(bias_variance))

    def _call(self, bias_variance):
        given = (self.predictions.copy(), self.truth.copy())
        with np.errstate(all="ignore"):
            result = call(bias_variance, "bias_variance", self.described, *given)
        return given, result

    def ran(self):
        return self._result()

    def pair(self) -> tuple[float, float]:
        """The returned (bias2, variance) as floats (each read by :func:`~.core.as_number`)."""
        name, what = "bias_variance", "(bias2, variance)"
        bias2, variance = _pair(self._result()[1], name, self.described, what)
        return as_number(bias2, name, "bias2"), as_number(variance, name, "variance")

    def modified_input(self) -> bool:
        (predictions, truth), _ = self._result()
        return not (_same(predictions, self.predictions) and _same(truth, self.truth))

    def check_component(self, index: int) -> None:
        """Fail unless bias2 (``index`` 0) or the variance (1) has its expected value."""
        got, expected = self.pair(), self.expected
        if close(got[index], expected[index]):
            return
        candidates = _bias_variance_candidates(self.predictions, self.truth)
        mistake = first_match(candidates, got, close) or next(
            (m for m, wrong in candidates
             if close(got[index], wrong[index]) and not close(wrong[index], expected[index])),
            None,
        )  # fmt: skip
        mse = np.mean((self.predictions - self.truth) ** 2)
        if mistake is None and not np.isclose(sum(got), mse, rtol=RTOL, atol=ATOL):
            mistake = (
                "bias2 + variance must equal the mean over models and points of "
                "(predictions - truth)**2; yours do not add up"
            )
        what = ("bias2", "variance")[index]
        fail(
            "bias_variance",
            f"{self.described}: {what} is wrong: {mistake or 'wrong value'}. Expected "
            f"(bias2, variance) = ({expected[0]:.6g}, {expected[1]:.6g}), got "
            f"({got[0]:.6g}, {got[1]:.6g}).",
        )


def bias_variance_calls(bias_variance, *, n_points=7, seed=0) -> list[BiasVarianceCall]:
    """The calls of the check: a square stack, a stack of ``n_points`` points, a single fit."""
    rng = np.random.default_rng(seed)
    calls = []
    for points in (4, n_points):
        truth = np.sin(np.linspace(-3.0, 3.0, points))
        offset = rng.uniform(-0.5, 0.5, points)
        spread = rng.uniform(0.1, 1.0, points)
        predictions = _spread_stack(truth, offset, spread)
        expected = (float(np.mean(offset**2)), float(np.mean(2.5 * spread**2)))
        described = f"bias_variance(predictions of shape {predictions.shape}, truth)"
        calls.append(BiasVarianceCall(bias_variance, predictions, truth, expected, described))
    truth = np.cos(np.linspace(0.0, 2.0, n_points))
    one = (truth + 0.3)[None, :]
    described = f"bias_variance(predictions of shape {one.shape}, truth), a single fit"
    calls.append(BiasVarianceCall(bias_variance, one, truth, (0.09, 0.0), described))
    return calls


def check_bias_variance(bias_variance, *, n_points=7, seed=0) -> Verdict:
    """Check ``bias_variance(predictions, truth)`` against the contract.

    The stacks of fits are built so that the answer is known: four fits at distances
    +-s and +-2s (per point) around ``truth + offset``, whose average is exactly
    ``truth + offset`` and whose variance is ``2.5 s^2``. A square stack (as many fits as
    points) comes first, so that averaging over the wrong axis gives numbers, not a
    broadcasting error, and can be named. Last, a single fit off by 0.3 everywhere.

    Parameters
    ----------
    bias_variance : callable
        The student's function.
    n_points : int
        Number of points of the second (non-square) stack; not 4.
    seed : int
        Seed of the truth, offsets and spreads.
    """
    name = "bias_variance"
    verdict = Verdict(name)
    *stacks, single = calls = bias_variance_calls(bias_variance, n_points=n_points, seed=seed)
    with verdict.expect("return the pair (bias2, variance) of two numbers", side_condition=True):
        _each(calls, lambda run: run.pair())
    with verdict.expect("compute bias2, the mean squared error of the average fit"):
        _each(calls, lambda run: run.check_component(0))
    with verdict.expect("compute the variance around the average fit, dividing by K (ddof=0)"):
        _each(calls, lambda run: run.check_component(1), required=len(stacks))
    with verdict.expect(
        "return finite numbers (no NaN) for a single fit, whose variance is 0", side_condition=True
    ):
        got = single.pair()
        if not np.all(np.isfinite(got)):
            fail(name, f"{single.described} returned ({got[0]:.6g}, {got[1]:.6g}); with one "
                       "fit the variance is 0 (ddof=0), never NaN.")  # fmt: skip
    with verdict.expect("leave predictions and truth unchanged", side_condition=True):

        def unchanged(run):
            if run.modified_input():
                fail(name, f"{run.described} modified predictions or truth in place; compute "
                           "new arrays.")  # fmt: skip

        _each(calls, unchanged)
    return verdict


# --------------------------------------------------------------------- early_stopping_epoch

#: Hand-made validation curves: (losses, patience, expected (best, stop), what the case is
#: about, {wrong answer: what it means}). Epochs count from 1.
EARLY_STOPPING_CASES: list[tuple[list[float], int, tuple[int, int], str, dict]] = [
    (
        [0.50, 0.40, 0.30, 0.35, 0.36, 0.37, 0.38, 0.20],
        3,
        (3, 6),
        "a minimum, then a rise",
        {
            (3, 7): "training stopped one epoch late: stop as soon as `patience` epochs in a "
            "row have not improved (here epochs 4, 5, 6, so stop at 6)",
            (3, 5): "training stopped one epoch early (or stop_epoch counts from 0): `patience` "
            "epochs in a row must fail to improve (here epochs 4, 5, 6, so stop at 6; the best "
            "epoch itself does not count), and epochs count from 1",
            (3, 8): "patience ran out at epoch 6, so stop_epoch is 6, not the last epoch",
        },
    ),
    (
        [0.50, 0.30, 0.60, 0.55, 0.50, 0.45, 0.40],
        2,
        (2, 4),
        "a recovery that stays above the best",
        {
            (7, 7): "an epoch improves when its loss is lower than the BEST loss so far, not "
            "lower than the previous epoch's",
            (2, 7): "an epoch improves when its loss is lower than the BEST loss so far, not "
            "lower than the previous epoch's",
        },
    ),
    (
        [0.50, 0.40, 0.45, 0.40, 0.42, 0.41, 0.30],
        3,
        (2, 5),
        "a tie with the best loss",
        {
            (4, 7): "a tie is not an improvement: epoch 4 equals the best loss (0.40) but is "
            "not strictly lower, so epoch 2 stays the best (use <, not <=)",
            (7, 7): "a tie is not an improvement: epoch 4 equals the best loss (0.40) but is "
            "not strictly lower, so it counts as an epoch without improvement (use <, not <=)",
        },
    ),
    (
        [1.00, 0.90, 0.95, 0.80, 0.85, 0.70, 0.75, 0.76, 0.77, 0.50],
        2,
        (6, 8),
        "improvements between bad epochs",
        {
            (4, 5): "the count of epochs without improvement must start again from 0 after "
            "every improvement: patience counts epochs IN A ROW without improvement",
        },
    ),
    (
        [0.30, 0.40, 0.50, 0.35, 0.30, 0.20],
        3,
        (1, 4),
        "a curve that never improves",
        {
            (0, 4): "epoch 1 is the best epoch until another one improves on it; when none "
            "does, best_epoch is 1",
            (None, 4): "epoch 1 is the best epoch until another one improves on it; when none "
            "does, best_epoch is 1",
        },
    ),
    (
        [0.50, 0.45, 0.46],
        5,
        (2, 3),
        "a run that ends before the patience runs out",
        {
            (2, None): "when patience never runs out, training stops after the last epoch: "
            "stop_epoch is len(val_losses)",
        },
    ),
    ([0.70], 1, (1, 1), "a single epoch", {}),
    (
        [0.50, 0.40, 0.40, 0.10],
        1,
        (2, 3),
        "patience 1 and a tie",
        {},
    ),
]


def _early_stopping_mistake(result, losses, patience, expected):
    """Name the mistake behind a wrong (best, stop) pair, from rules that hold for any curve."""
    best, stop = result
    if (best, stop) == (expected[0] - 1, expected[1] - 1):
        return (
            "both epochs are one too small: epochs count from 1 (val_losses[0] is the loss "
            "after epoch 1), so add 1 to a Python index"
        )
    if best is not None and stop is not None and best > stop:
        return (
            "the best epoch comes after the stop: choose the best epoch among the epochs up to "
            "stop_epoch only; later losses are never seen"
        )
    global_best = int(np.argmin(losses)) + 1
    if best == global_best and best != expected[0] and stop == expected[1]:
        return (
            "the best epoch is the minimum of the whole curve: early stopping never sees the "
            "epochs after stop_epoch, so choose the best epoch among epochs 1..stop_epoch"
        )
    if best == stop and expected[0] != expected[1]:
        return (
            "the epoch at which training stops was returned as the best epoch: the best epoch "
            "is the one with the lowest loss, whose weights early stopping restores"
        )
    if best == expected[0] - 1 and stop == expected[1]:
        return (
            "best_epoch is one too small: epochs count from 1 (val_losses[0] is the loss after "
            "epoch 1), so add 1 to a Python index"
        )
    return None


def epoch_pair(result, name: str, described: str, *, allow_none: bool = False) -> tuple:
    """The returned (best_epoch, stop_epoch) as Python ints: each one number (as
    :func:`~.core.as_number` reads it: a NumPy integer, a whole float, a one-element tensor...)
    holding a whole number; ``None`` entries are kept when ``allow_none``, else they fail."""
    pair = []
    for value in _pair(result, name, described, "(best_epoch, stop_epoch)"):
        if value is None and allow_none:
            pair.append(None)
            continue
        try:
            number = as_number(value, name, "an epoch")
        except ContractViolation:
            number = None
        if number is None or not number.is_integer():
            fail(name, f"{described} must return two epoch numbers (ints), got {result!r:.80}.")
        pair.append(int(number))
    return tuple(pair)


class EarlyStoppingCall:
    """One call of ``early_stopping_epoch`` on a copy of a curve, made once and examined by
    several properties."""

    def __init__(self, early_stopping_epoch, losses, patience, expected, about, wrong):
        self.losses, self.patience, self.expected, self.wrong = losses, patience, expected, wrong
        # Each loss as the shortest text that reads back as it (0.4999985, not 0.499999).
        shown = ", ".join(str(v) for v in np.asarray(losses).ravel())
        self.described = f"early_stopping_epoch([{shown}], patience={patience}) ({about})"
        self._result = Memo(lambda: self._call(early_stopping_epoch))

    def _call(self, early_stopping_epoch):
        given = _copy(self.losses)
        result = call(early_stopping_epoch, "early_stopping_epoch", self.described, given,
                      self.patience)  # fmt: skip
        return given, result

    def ran(self):
        return self._result()

    def pair(self, *, allow_none: bool = True) -> tuple:
        _, result = self._result()
        return epoch_pair(result, "early_stopping_epoch", self.described, allow_none=allow_none)

    def modified_input(self) -> bool:
        given, _ = self._result()
        return not _same(given, self.losses)

    def check_stop(self) -> None:
        pair, expected = self.pair(), self.expected
        if pair[1] == expected[1]:
            return
        mistake = self.wrong.get(pair) or _stop_mistake(
            pair, expected, len(self.losses), self.patience
        )
        fail(
            "early_stopping_epoch",
            f"{self.described} returned {pair}; stop_epoch must be {expected[1]} (expected "
            f"(best_epoch, stop_epoch) = {tuple(expected)}){': ' + mistake if mistake else ''}.",
        )

    def check_best(self) -> None:
        """best_epoch is the first epoch of lowest loss up to the stop the function returned,
        so a wrong stop is not counted twice; but up to the expected stop when the returned one
        cannot be a stop epoch for any curve (before epoch patience + 1, or after the last), so
        that a constant such as (1, 1) does not pass for the best epoch of its own stop."""
        pair, expected, losses = self.pair(), self.expected, self.losses
        earliest = min(len(losses), self.patience + 1)
        possible = pair[1] is not None and earliest <= pair[1] <= len(losses)
        stop = pair[1] if possible else expected[1]
        best = int(np.argmin(np.asarray(losses, dtype=np.float64)[:stop])) + 1
        if pair[0] == best:
            return
        if pair in self.wrong:
            mistake = self.wrong[pair]
        elif pair[1] == expected[1] or pair == (expected[0] - 1, expected[1] - 1):
            mistake = _early_stopping_mistake(pair, losses, self.patience, expected)
        else:
            mistake = _best_mistake(pair[0], best, stop, losses)
        fail(
            "early_stopping_epoch",
            f"{self.described} returned {pair}; with training stopped at epoch {stop}, "
            f"best_epoch must be {best}, the first epoch with the lowest loss among epochs "
            f"1..{stop}{': ' + mistake if mistake else ''}.",
        )


def _stop_mistake(pair, expected, n_epochs, patience) -> str | None:
    """Name the mistake behind a wrong stop_epoch, from rules that hold for any curve."""
    stop = pair[1]
    if stop is None:
        return "stop_epoch must be an epoch number; when patience never runs out it is the last"
    if pair == (expected[0] - 1, expected[1] - 1):
        return (
            "both epochs are one too small: epochs count from 1 (val_losses[0] is the loss "
            "after epoch 1), so add 1 to a Python index"
        )
    if stop == expected[1] + 1:
        return (
            "training stopped one epoch late: stop as soon as `patience` epochs in a row have "
            "not improved"
        )
    if stop == expected[1] - 1:
        return (
            "training stopped one epoch early: `patience` epochs in a row must fail to improve "
            "(the best epoch itself does not count), and epochs count from 1"
        )
    if stop == n_epochs:
        return f"patience ran out at epoch {expected[1]}, so training stops there"
    if stop < min(n_epochs, patience + 1):
        return (
            f"training cannot stop before epoch patience + 1 = {patience + 1} (or the last "
            "epoch): `patience` epochs after the best one must first fail to improve"
        )
    return None


def _best_mistake(got, best, stop, losses) -> str | None:
    """Name the mistake behind a best_epoch that is not ``best``, the first epoch of lowest
    loss among epochs 1..``stop``."""
    if got is None or got < 1:
        return "best_epoch is an epoch number, counting from 1 (epoch 1 when none improves)"
    if got > stop:
        return (
            "the best epoch comes after the stop: choose the best epoch among the epochs up to "
            "stop_epoch only; later losses are never seen"
        )
    if got == best - 1:
        return (
            "best_epoch is one too small: epochs count from 1 (val_losses[0] is the loss after "
            "epoch 1), so add 1 to a Python index"
        )
    if float(losses[got - 1]) == float(losses[best - 1]):
        return (
            "of epochs with the same lowest loss the earliest is the best: a tie is not an "
            "improvement (use <, not <=)"
        )
    if got == stop:
        return (
            "the epoch at which training stops was returned as the best epoch: the best epoch "
            "is the one with the lowest loss, whose weights early stopping restores"
        )
    return None


#: (level, improvement, patience) of the curves of :func:`tiny_improvement_curve` that the
#: visible check uses; the improvements are far below the 0.01 of the hand-made cases.
TINY_IMPROVEMENTS = ((0.5, 1e-6, 2), (3.0, 1e-4, 3))


def tiny_improvement_curve(level: float, delta: float, patience: int, *, ties: bool = False):
    """A curve whose improvements are all ``delta`` (tiny next to ``level``), and the answer
    ``(best_epoch, stop_epoch)``.

    Epochs 3, 5 and 7 improve on the best loss by ``delta``; epochs 2, 4 and 8 are worse by
    ``delta / 2`` (with ``ties``, they equal the best loss: a tie, not an improvement either);
    epoch 6 and the ``patience - 1`` epochs after epoch 8 are worse by delta / 2, so training
    stops at epoch ``7 + patience`` with epoch 7 the best, and the last epoch, far lower, is
    never seen. ``patience`` is at least 2 (epoch 2 does not improve). The gaps are kept above
    float32's resolution at ``level``, so a float32 computation sees them too.
    """
    L, d = float(level), float(delta)
    if ties:
        losses = [L, L, L - d, L - d, L - 2 * d, L - 1.5 * d, L - 3 * d, L - 3 * d]
    else:
        losses = [L, L + d / 2, L - d, L - d / 2, L - 2 * d, L - 1.5 * d, L - 3 * d, L - 2.5 * d]
    return losses + [L - 2.5 * d] * (patience - 1) + [L / 2], (7, 7 + patience)


def _tiny_mistake(pair, losses, patience, expected, delta) -> str | None:
    """Name the mistake behind a wrong answer for a :func:`tiny_improvement_curve`."""
    n = len(losses)
    if pair == (1, 1 + patience):  # none of the improvements counted
        return (
            f"epochs 3, 5 and 7 are each lower than the best loss so far by only {delta:g}, and "
            "a strictly lower loss is an improvement however small: compare with <, without a "
            "min_delta threshold or a tolerance such as np.isclose"
        )
    if pair == (n, n):  # ran to the last epoch, far lower: it never stopped
        return (
            f"patience ran out at epoch {expected[1]}: the {patience} epochs after epoch 7 do "
            "not improve on its loss, so training stops there, and the far lower last epoch "
            "is never seen"
        )
    return _early_stopping_mistake(pair, losses, patience, expected) or _stop_mistake(
        pair, expected, n, patience
    )


def examine_tiny_improvements(runs: Sequence[tuple[EarlyStoppingCall, float]]) -> None:
    """Each curve of tiny improvements (``(call, delta)``, no ties) gets its answer."""
    for run, delta in runs:
        pair = run.pair()
        if pair == run.expected:
            continue
        mistake = _tiny_mistake(pair, run.losses, run.patience, run.expected, delta)
        fail(
            "early_stopping_epoch",
            f"{run.described} returned {pair}; expected (best_epoch, stop_epoch) = "
            f"{run.expected}{': ' + mistake if mistake else ''}.",
        )


def tiny_improvement_runs(
    early_stopping_epoch, tiny, *, ties: bool = False
) -> list[tuple[EarlyStoppingCall, float]]:
    """``(call, delta)`` for each ``(level, delta, patience)``: the calls of
    :func:`examine_tiny_improvements` (with ``ties``, the curves with ties instead)."""
    runs = []
    for level, delta, patience in tiny:
        losses, expected = tiny_improvement_curve(level, delta, patience, ties=ties)
        about = f"improvements of {delta:g}{' and ties' if ties else ''}"
        call_ = EarlyStoppingCall(early_stopping_epoch, losses, patience, expected, about, {})
        runs.append((call_, delta))
    return runs


# A tie is a rule of its own: the properties about patience and about the best epoch are
# examined on curves without a tie (before the expected stop), so that counting a tie as an
# improvement fails only the property about ties, and a mistake in the patience only the others.


def tie_epochs(losses) -> list[int]:
    """The epochs (counting from 1) whose loss equals the best loss of the epochs before."""
    values = [float(v) for v in np.asarray(losses, dtype=np.float64).ravel()]
    ties = []
    for epoch in range(2, len(values) + 1):
        if values[epoch - 1] == min(values[: epoch - 1]):
            ties.append(epoch)
    return ties


def untied(losses) -> list[float]:
    """``losses`` with every tie (:func:`tie_epochs`) raised by half the smallest gap between
    two different losses: a worse loss in the same place, in the same order with every other
    loss. The contract's answer does not change (a tie is no improvement, nor is a worse
    loss), nor does that of a rule with any mistake but counting a tie as an improvement."""
    values = [float(v) for v in np.asarray(losses, dtype=np.float64).ravel()]
    distinct = np.unique(values)
    gap = float(np.min(np.diff(distinct))) if len(distinct) > 1 else max(abs(values[0]), 1.0)
    for epoch in tie_epochs(values):
        values[epoch - 1] += gap / 2
    return values


def _tied(case) -> bool:
    """Whether a case's curve has a tie at or before its expected stop epoch (where a tie
    counted as an improvement changes the answer)."""
    losses, _, expected = case[:3]
    return any(epoch <= expected[1] for epoch in tie_epochs(losses))


#: Curves on which a tie decides the best epoch, while patience never runs out however it is
#: counted (and the ties follow the best epoch, so comparing with the previous epoch changes
#: nothing): ``(losses, patience, expected, about, wrong)`` as in :data:`EARLY_STOPPING_CASES`.
TIE_CASES: list[tuple[list[float], int, tuple[int, int], str, dict]] = [
    ([0.60, 0.50, 0.50, 0.80, 0.90], 7, (2, 5), "a tie right after the best epoch", {}),
    ([0.90, 0.70, 0.70, 0.70, 1.20, 1.50], 9, (2, 6), "three equal lowest losses", {}),
]


def _tie_message(ties, losses) -> str:
    shown = ", ".join(str(e) for e in ties)
    return (
        f"a tie is not an improvement: epoch{'s' if len(ties) > 1 else ''} {shown} "
        f"equal{'' if len(ties) > 1 else 's'} the best loss so far "
        f"({float(losses[ties[0] - 1]):g}) without being strictly lower, so "
        f"{'they count' if len(ties) > 1 else 'it counts'} as an epoch without improvement "
        "(use <, not <=)"
    )


def examine_ties(best_runs: Sequence[EarlyStoppingCall], tied_runs: Sequence[tuple]) -> None:
    """A tie with the best loss is not an improvement. On ``best_runs`` (curves on which
    patience never runs out) best_epoch is the contract's; on each ``(run, twin)`` of
    ``tied_runs`` (a curve with ties, and the same curve :func:`untied`) the answer is the
    contract's, or at least the same for both curves: a mistake elsewhere in the rule (which
    gives the same wrong answer for both) is another property's."""
    name = "early_stopping_epoch"
    for run in best_runs:
        pair, expected, losses = run.pair(), run.expected, run.losses
        if pair[0] == expected[0]:
            continue
        ties = [e for e in tie_epochs(losses) if e == pair[0]]
        mistake = run.wrong.get(pair) or (
            _tie_message(tie_epochs(losses), losses)
            if ties
            else _best_mistake(pair[0], expected[0], len(losses), losses)
        )
        fail(name, f"{run.described} returned {pair}; best_epoch must be {expected[0]}, the "
                   f"first epoch of lowest loss{': ' + mistake if mistake else ''}.")  # fmt: skip
    for run, twin in tied_runs:
        pair = run.pair()
        if pair == tuple(run.expected):
            continue
        other = twin.pair()
        if pair != other:
            ties = tie_epochs(run.losses)
            fail(name, f"{run.described} returned {pair}, but {other} for the same curve with "
                       f"the loss of epoch{'s' if len(ties) > 1 else ''} "
                       f"{', '.join(map(str, ties))} raised slightly ({twin.described}); the "
                       f"answer must be {tuple(run.expected)} for both: "
                       f"{_tie_message(ties, run.losses)}.")  # fmt: skip


def _examine_unchanged(run: EarlyStoppingCall) -> None:
    if run.modified_input():
        fail("early_stopping_epoch", f"{run.described} modified val_losses in place; it must "
                                     "leave it unchanged.")  # fmt: skip


def early_stopping_runs(early_stopping_epoch, cases, tiny, ties) -> SimpleNamespace:
    """The calls of :func:`check_early_stopping_epoch`: ``cases``, one per case; ``plain``,
    those without a tie before their stop; ``tied``, pairs of a call on a curve with one and a
    call on its :func:`untied` curve (the cases with a tie, then the curves of tiny
    improvements with ties); ``ties``, one per case of ``ties``; ``tiny``, the curves of tiny
    improvements without ties; ``array``, the first case as a float32 array."""

    def run(losses, patience, expected, about, wrong=None):
        return EarlyStoppingCall(early_stopping_epoch, losses, patience, expected, about,
                                 wrong or {})  # fmt: skip

    def twin(call_):
        return run(untied(call_.losses), call_.patience, call_.expected, "its ties raised")

    calls = [run(list(c[0]), *c[1:]) for c in cases]
    tied = [call_ for call_, case in zip(calls, cases, strict=True) if _tied(case)]
    tied += [call_ for call_, _ in tiny_improvement_runs(early_stopping_epoch, tiny, ties=True)]
    losses, patience, expected, about, wrong = cases[0]
    return SimpleNamespace(
        cases=calls,
        plain=[call_ for call_, case in zip(calls, cases, strict=True) if not _tied(case)],
        tied=[(call_, twin(call_)) for call_ in tied],
        ties=[run(list(c[0]), *c[1:]) for c in ties],
        tiny=tiny_improvement_runs(early_stopping_epoch, tiny),
        array=run(np.array(losses, dtype=np.float32), patience, expected,
                  f"{about}, as a float32 NumPy array", wrong),
    )  # fmt: skip


def check_early_stopping_epoch(
    early_stopping_epoch,
    *,
    cases: Sequence | None = None,
    tiny: Sequence | None = None,
    ties: Sequence | None = None,
) -> Verdict:
    """Check ``early_stopping_epoch(val_losses, patience)`` against the contract.

    Parameters
    ----------
    early_stopping_epoch : callable
        The student's function.
    cases : sequence, optional
        ``(losses, patience, expected, about, wrong)`` tuples as in
        :data:`EARLY_STOPPING_CASES` (the default); the first is also given as a float32 array.
        Those with a tie before their stop epoch are examined by the property about ties only.
    tiny : sequence, optional
        ``(level, delta, patience)`` of the curves of :func:`tiny_improvement_curve`, whose
        improvements are tiny; default :data:`TINY_IMPROVEMENTS`.
    ties : sequence, optional
        Cases on which a tie decides the best epoch, as in :data:`TIE_CASES` (the default).
    """
    name = "early_stopping_epoch"
    verdict = Verdict(name)
    cases = EARLY_STOPPING_CASES if cases is None else cases
    runs = early_stopping_runs(early_stopping_epoch, cases, TINY_IMPROVEMENTS if tiny is None
                               else tiny, TIE_CASES if ties is None else ties)  # fmt: skip
    # Every call once (a case with a tie is also in runs.tied), the first case's first.
    every = [*runs.cases, *(r for pair in runs.tied for r in pair), *runs.ties, runs.array]
    every = list({id(r): r for r in every + [r for r, _ in runs.tiny]}.values())
    with verdict.expect(
        "return the pair (best_epoch, stop_epoch) of two integers", side_condition=True
    ):
        _each(every, lambda run: run.pair(allow_none=False))
    with verdict.expect("stop once `patience` epochs in a row do not improve on the best loss"):
        for run in runs.plain:
            run.check_stop()
    with verdict.expect("return as best_epoch the first epoch of lowest loss up to the stop"):
        _each(runs.plain, lambda run: run.check_best())
    with verdict.expect("count a tie with the best loss as no improvement (only a lower loss)"):
        examine_ties(runs.ties, runs.tied)
    with verdict.expect("count every strictly lower loss as an improvement, however small"):
        examine_tiny_improvements(runs.tiny)
    with verdict.expect("accept a 1-D NumPy array as well as a list", side_condition=True):
        got, first = runs.array.pair(), runs.cases[0]
        if not same_answer(got, tuple(first.expected), first.pair, close=operator.eq):
            fail(name, f"{runs.array.described} returned {got}, but {first.pair()} for the "
                       "same losses in a list.")  # fmt: skip
    with verdict.expect("leave val_losses unchanged", side_condition=True):
        _each(every, _examine_unchanged)
    with verdict.expect("raise ValueError naming patience for patience < 1", side_condition=True):
        for bad in (0, -2):
            expect_named_value_error(early_stopping_epoch, name, f"early_stopping_epoch("
                                     f"val_losses, patience={bad})", "patience",
                                     list(cases[0][0]), bad)  # fmt: skip
    with verdict.expect("raise ValueError for an empty val_losses", side_condition=True):
        described = "early_stopping_epoch([], patience=3): there is no epoch to keep, so it"
        expect_named_value_error(early_stopping_epoch, name, described, "", [], 3)
    return verdict


# ------------------------------------------------------------------------------ l2_penalty


def example_params(seed=0, shapes=((5, 4), (4,), (4, 3), (3,)), dtype=np.float64):
    """Weight matrices and (nonzero) bias vectors of a small network, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) + 0.5).astype(dtype) for shape in shapes]


def _squares(params, keep=lambda p: p.ndim >= 2) -> float:
    return sum(float(np.sum(p.astype(np.float64) ** 2)) for p in params if keep(p))


def _penalty_candidates(params, lam):
    """Wrong penalties that students compute, with what each one means."""
    weights = [W.astype(np.float64) for W in params if W.ndim >= 2]
    squares_w, squares_all = _squares(params), _squares(params, keep=lambda p: True)
    return [
        (
            "the penalty is missing its factor 1/2: in this course it is (lam / 2) * sum ||W||^2 "
            "(a factor of 2 too large)",
            lam * squares_w,
        ),
        (
            "the biases were penalised: only weight matrices (2 or more dimensions) are, "
            "1-D bias vectors are not",
            0.5 * lam * squares_all,
        ),
        (
            "the biases were penalised and the factor 1/2 is missing: the penalty is "
            "(lam / 2) * sum ||W||^2 over the weight matrices only",
            lam * squares_all,
        ),
        (
            "the norms were not squared: the penalty is (lam / 2) times the sum of the SQUARES "
            "of the weights",
            0.5 * lam * sum(float(np.linalg.norm(W)) for W in weights),
        ),
        (
            "the squares were averaged; the penalty SUMS the squares of all the weights",
            0.5 * lam * sum(float(np.mean(W**2)) for W in weights),
        ),
        (
            "this is an L1 penalty (absolute values); the L2 penalty sums the squares",
            0.5 * lam * sum(float(np.sum(np.abs(W))) for W in weights),
        ),
        ("the penalty was not multiplied by lam", 0.5 * squares_w),
        (
            "only 2-D arrays were penalised: arrays with more than two dimensions (e.g. "
            "convolution kernels) are weights too, so test param.ndim >= 2",
            0.5 * lam * _squares(params, keep=lambda p: p.ndim == 2),
        ),
    ]


def _gradient_candidates(param, lam):
    """Wrong gradients for one parameter (float64), with what each one means."""
    if param.ndim >= 2:
        return [
            (
                "the gradient of a weight matrix is 2 * lam * W, a factor of 2 too large: the "
                "gradient of (lam / 2) * ||W||^2 is lam * W",
                2 * lam * param,
            ),
            (
                "the gradient of a weight matrix is (lam / 2) * W, a factor of 2 too small: the "
                "gradient of (lam / 2) * ||W||^2 is lam * W",
                0.5 * lam * param,
            ),
            (
                "the gradient has the wrong sign: it is +lam * W (gradient descent then "
                "subtracts it, which shrinks the weights)",
                -lam * param,
            ),
            ("the gradient was not multiplied by lam: it is lam * W", param),
            (
                "the gradient of a weight array is zero: every array with two or more "
                "dimensions is a weight (test param.ndim >= 2), with gradient lam * W",
                np.zeros_like(param),
            ),
        ]
    return [
        (
            "the gradient of a bias is not zero: biases are not penalised, so their gradient "
            "is np.zeros_like(b)",
            lam * param,
        ),
        (
            "the gradient of a bias is not zero: biases are not penalised, so their gradient "
            "is np.zeros_like(b)",
            2 * lam * param,
        ),
    ]


class PenaltyCall:
    """One call of ``l2_penalty`` on copies of ``params``, made once and examined by several
    properties."""

    def __init__(self, l2_penalty, params, lam):
        self.params, self.lam = params, lam
        kinds = ", ".join(f"{'W' if p.ndim >= 2 else 'b'}{p.shape}" for p in params)
        self.described = f"l2_penalty([{kinds}], lam={lam})"
        self._result = Memo(lambda: self._call(l2_penalty))

    def _call(self, l2_penalty):
        given = _copy(self.params)
        return given, call(l2_penalty, "l2_penalty", self.described, given, self.lam)

    def given(self) -> list:
        return self._result()[0]

    def penalty(self) -> float:
        penalty, _ = _pair(self._result()[1], "l2_penalty", self.described, "(penalty, grads)")
        return as_number(penalty, "l2_penalty", f"the penalty of {self.described}")

    def grads(self) -> list:
        _, grads = _pair(self._result()[1], "l2_penalty", self.described, "(penalty, grads)")
        if not isinstance(grads, list | tuple):
            fail("l2_penalty", f"{self.described}: grads must be a list of arrays, got "
                               f"{type_name(grads)}.")  # fmt: skip
        return list(grads)

    def check_count(self) -> None:
        grads, params = self.grads(), self.params
        if len(grads) != len(params):
            hint = ""
            if len(grads) == sum(p.ndim >= 2 for p in params):
                hint = (" (one per weight matrix only?) Return a gradient for every parameter: "
                        "zeros for the biases")  # fmt: skip
            fail("l2_penalty", f"{self.described} returned {len(grads)} gradients for "
                               f"{len(params)} parameters{hint}.")  # fmt: skip

    def paired(self, weights: bool) -> list[tuple[int, np.ndarray, Any]]:
        """(index, parameter, its gradient) for the weights or the biases. Gradients are paired
        by position; when there is one per weight only, they are paired with the weights."""
        grads, params = self.grads(), self.params
        index = [i for i, p in enumerate(params) if (p.ndim >= 2) == weights]
        if len(grads) == len(params):
            return [(i, params[i], grads[i]) for i in index]
        if weights and len(grads) == len(index):
            return [(i, params[i], g) for i, g in zip(index, grads, strict=True)]
        if weights:
            self.check_count()
        fail(
            "l2_penalty",
            f"{self.described} returned {len(grads)} gradients for {len(params)} parameters, "
            "so the biases have none: biases are not penalised, so return zeros for the "
            "biases (np.zeros_like(b)).",
        )
        raise AssertionError  # unreachable

    def check_gradients(self, weights: bool) -> None:
        for i, param, grad in self.paired(weights):
            what = f"grads[{i}] (for the {'weight array' if weights else 'bias'} of shape "
            what += f"{param.shape})"
            got = np.asarray(grad, dtype=np.float64)
            try:  # the shape is the first property's; here, the values (a scalar 0 is zeros)
                got = np.broadcast_to(got, param.shape)
            except ValueError:
                fail("l2_penalty", f"{self.described}: {what} has shape {got.shape}; "
                                   f"expected {param.shape}.")  # fmt: skip
            p64 = param.astype(np.float64)
            if not close(got, self.lam * p64 if weights else np.zeros_like(p64)):
                mistake = first_match(_gradient_candidates(p64, self.lam), got, close)
                fail("l2_penalty", f"{self.described}: {mistake or what + ' is wrong'}. Expected "
                                   f"{what} = {'lam * W' if weights else 'zeros'}.")  # fmt: skip


def _check_penalty_value(run: PenaltyCall) -> None:
    params, lam, described = run.params, run.lam, run.described
    penalty, expected = run.penalty(), 0.5 * lam * _squares(params)
    if np.isclose(penalty, expected, rtol=RTOL, atol=1e-12):
        return
    mistake = first_match(
        _penalty_candidates(params, lam), penalty, lambda a, b: np.isclose(a, b, rtol=RTOL)
    )
    if np.isclose(penalty, 2 * expected, rtol=RTOL):
        try:
            run.check_gradients(weights=True)
            mistake = (
                "the penalty lam * ||W||^2 has the gradient 2 * lam * W, so your gradient "
                "lam * W misses a factor of 2. In this course the penalty is "
                "(lam / 2) * ||W||^2, whose gradient is lam * W: halve the penalty"
            )
        except Exception:  # noqa: BLE001 - the gradients are another property's
            pass
    fail(
        "l2_penalty",
        f"{described}: {mistake or 'wrong penalty'}. Expected penalty {expected:.6g}, got "
        f"{penalty:.6g}.",
    )


def _check_new_gradients(run: PenaltyCall) -> None:
    try:
        grads = run.grads()
    except ContractViolation:  # not a pair with a list of gradients: the first property's
        return
    given = run.given()
    for i, grad in enumerate(grads):
        if any(np.shares_memory(grad, p) for p in given if isinstance(grad, np.ndarray)):
            fail(
                "l2_penalty",
                f"{run.described}: grads[{i}] shares memory with a parameter; return a new "
                "array (a copy even when lam * W equals W).",
            )


def check_l2_penalty(l2_penalty, *, lam=0.1, seed=0, params=None) -> Verdict:
    """Check ``l2_penalty(params, lam)`` against the contract.

    Parameters
    ----------
    l2_penalty : callable
        The student's function.
    lam : float
        Penalty strength (positive, not 0.5 or 1 or 2, so that the factor-of-2 mistakes
        differ from each other).
    seed : int
        Seed of the default parameters.
    params : list of numpy.ndarray, optional
        Weight matrices and nonzero biases; default: :func:`example_params`.
    """
    name = "l2_penalty"
    verdict = Verdict(name)
    params = example_params(seed) if params is None else [np.asarray(p) for p in params]
    run, off = PenaltyCall(l2_penalty, params, lam), PenaltyCall(l2_penalty, params, 0.0)
    unit = PenaltyCall(l2_penalty, params, 1.0)
    with verdict.expect(
        "return (penalty, grads): a number and one array per parameter", side_condition=True
    ):
        run.penalty()
        run.check_count()
        for i, (param, grad) in enumerate(zip(params, run.grads(), strict=True)):
            if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
                shown = f"shape {grad.shape}" if isinstance(grad, np.ndarray) else type_name(grad)
                fail(name, f"{run.described}: grads[{i}] must be a NumPy array of shape "
                           f"{param.shape}, got {shown}.")  # fmt: skip
    with verdict.expect("compute the penalty (lam / 2) * sum ||W||^2 over the weights only"):
        _check_penalty_value(run)
    with verdict.expect("return the gradient lam * W for every weight array"):
        run.check_gradients(weights=True)
    with verdict.expect("return zero gradients for the biases", side_condition=True):
        run.check_gradients(weights=False)
    with verdict.expect(
        "leave params unchanged and return new gradient arrays", side_condition=True
    ):
        given = run.given()
        if not _same(given, params):
            fail(name, f"{run.described} modified the parameters in place (e.g. W *= lam); they "
                       "must be left unchanged: compute new arrays such as lam * W.")  # fmt: skip
        for call_ in (run, unit):  # lam = 1 too, where lam * W has the values of W itself
            _check_new_gradients(call_)
    with verdict.expect("return 0 and zero gradients for lam = 0", side_condition=True):
        if off.penalty() != 0 or any(np.any(np.asarray(g) != 0) for g in off.grads()):
            fail(name, f"{off.described} must return 0 and zero gradients.")
    with verdict.expect("raise ValueError naming lam for lam < 0", side_condition=True):
        described = run.described.replace(f"lam={lam}", "lam=-0.1")
        expect_named_value_error(l2_penalty, name, described, "lam", _copy(params), -0.1)
    return verdict


__all__ = [
    "ContractViolation",
    "check_bias_variance",
    "check_early_stopping_epoch",
    "check_generalisation_gap",
    "check_l2_penalty",
]


# -------------------------------------------------------------------------- expected_gap

EXPECTED_GAP = "expected_gap"

#: (noise variance, coefficients, training points) the check asks about.
GAP_CASES = ((0.09, 3, 12), (1.0, 5, 40), (0.25, 10, 25))

#: Least-squares fits behind each measured gap, and the tolerance of an answer against it.
GAP_FITS, GAP_RTOL = 4000, 0.06


def measured_gap(noise_variance: float, k: int, n: int, *, seed: int = 0) -> float:
    """The mean generalisation gap of a least-squares fit with ``k`` coefficients to ``n``
    noisy points of a function it can represent, against fresh noise at the same inputs,
    MEASURED over ``GAP_FITS`` fits (a simulation, not a formula)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    truth = X @ rng.normal(size=k)
    sigma = np.sqrt(noise_variance)
    y = truth + sigma * rng.normal(size=(GAP_FITS, n))
    fitted = y @ (X @ np.linalg.pinv(X)).T  # each row's least-squares fit at the inputs
    fresh = truth + sigma * rng.normal(size=(GAP_FITS, n))
    return float(np.mean((fresh - fitted) ** 2) - np.mean((y - fitted) ** 2))


def check_gap_case(expected_gap, noise_variance: float, k: int, n: int) -> None:
    described = f"expected_gap(noise_variance={noise_variance}, n_coefficients={k}, n={n})"
    value = as_number(
        call(expected_gap, EXPECTED_GAP, described, noise_variance, k, n), EXPECTED_GAP, described
    )
    measured = measured_gap(noise_variance, k, n)
    candidates = [
        ("half of it: the fit is too good on its training points by k/n of the noise variance "
         "AND as much too bad on fresh noise", measured / 2),
        ("the noise enters through its VARIANCE (sigma squared), which is what the argument "
         "noise_variance is; do not take its square root or square it again",
         measured / np.sqrt(noise_variance)),
        ("the same, squared once more", measured * noise_variance),
        ("the ratio is upside down: the gap grows with the coefficients and shrinks with the data",
         measured * n * n / (k * k)),
    ]  # fmt: skip
    how = f"over {GAP_FITS:,} fits the gap measures"
    agrees_with_measurement(EXPECTED_GAP, described, value, measured, GAP_RTOL, how, candidates)


def gap_properties(verdict: Verdict, expected_gap, cases) -> None:
    with verdict.expect("give the mean generalisation gap of a least-squares fit"):
        for noise_variance, k, n in cases:
            check_gap_case(expected_gap, noise_variance, k, n)


def check_expected_gap(expected_gap, *, cases=GAP_CASES) -> Verdict:
    """Check ``expected_gap(noise_variance, n_coefficients, n)``: the mean generalisation gap
    of least squares with that many coefficients on ``n`` points (fresh noise, same inputs)."""
    verdict = Verdict(EXPECTED_GAP)
    gap_properties(verdict, expected_gap, cases)
    return verdict
