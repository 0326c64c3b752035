"""Contract checks of exercise 01 (*Overfitting*): generalisation_gap, bias_variance,
early_stopping_epoch and l2_penalty.

Every check takes keyword arguments for its inputs so that the hidden tests can run the same
properties on inputs the student has not seen. None of the checks is randomised: the inputs are
built (or drawn from a seeded generator) so that the right answer is known exactly, and each
known wrong answer gives a different value that the message names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import ContractViolation, allclose, call, expect_pair, fail, first_match


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
            and np.array_equal(a, b)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


def expect_named_value_error(
    func: Callable, name: str, described: str, parameter: str, *args: Any
) -> None:
    """Check that ``func(*args)`` raises ``ValueError`` whose message names ``parameter``."""
    try:
        func(*args)
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except ValueError as error:
        if parameter and not re.search(rf"\b{parameter}\b", str(error)):
            fail(
                name,
                f"{described} raised ValueError({str(error)!r}); its message should name "
                f"{parameter}, e.g. '{parameter} must be ..., got {parameter}=...'.",
            )
        return
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} must raise ValueError, but raised {type(error).__name__}.")
    fail(name, f"{described} must raise ValueError.")


def _scalar(value, name: str, what: str) -> float:
    """Return ``value`` as a float, or fail if it is not a single real number."""
    if isinstance(value, bool) or np.ndim(value) != 0:
        fail(name, f"{what} must be a single number, got {type(value).__name__} {value!r:.80}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        fail(name, f"{what} must be a number, got {type(value).__name__}.")
    raise AssertionError  # unreachable


# ---------------------------------------------------------------------- generalisation_gap

#: Training and validation losses of six epochs; the first two gaps are negative.
GAP_TRAIN = [0.90, 0.60, 0.40, 0.25, 0.15, 0.10]
GAP_VAL = [0.80, 0.58, 0.45, 0.40, 0.42, 0.47]


def check_generalisation_gap(generalisation_gap, *, train=None, val=None):
    """Check ``generalisation_gap(train_losses, val_losses)`` against the contract.

    Parameters
    ----------
    generalisation_gap : callable
        The student's function.
    train, val : sequence of float, optional
        Per-epoch losses of equal length; some validation losses should be below the
        training ones, so that a gap without its sign is caught.
    """
    name = "generalisation_gap"
    train = list(GAP_TRAIN if train is None else train)
    val = list(GAP_VAL if val is None else val)
    t, v = np.array(train, dtype=np.float64), np.array(val, dtype=np.float64)
    expected = v - t
    described = "generalisation_gap(train_losses, val_losses) with two lists"
    try:
        result = generalisation_gap(list(train), list(val))
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except TypeError as error:
        fail(
            name,
            f"{described} raised TypeError: {error}. The losses may come as Python lists, "
            "which cannot be subtracted: convert them first with np.asarray(..., dtype=float).",
        )
    except Exception as error:  # noqa: BLE001
        fail(name, f"{described} raised {type(error).__name__}: {error}")
    if np.ndim(result) == 0:
        fail(
            name,
            f"{described} returned a single number ({result!r:.40}); it must return one gap per "
            f"epoch, an array of shape {expected.shape}.",
        )
    if not isinstance(result, np.ndarray):
        fail(
            name,
            f"{described} returned {type(result).__name__}; it must return a NumPy array with "
            "one gap per epoch.",
        )
    if result.shape != expected.shape:
        fail(name, f"{described} returned shape {result.shape}; expected {expected.shape}.")
    if not allclose(result, expected):
        candidates = [
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
        mistake = first_match(candidates, result, allclose)
        fail(
            name,
            f"{described}: {mistake or 'wrong values'}. Expected {np.round(expected, 4)}, got "
            f"{np.round(result, 4)}.",
        )
    t_before, v_before = t.copy(), v.copy()
    result = call(generalisation_gap, name, "generalisation_gap(train, val) with two arrays", t, v)
    if not (np.array_equal(t, t_before) and np.array_equal(v, v_before)):
        fail(
            name,
            "modified its input arrays in place (e.g. val_losses -= train_losses); compute a "
            "new array instead.",
        )
    if not allclose(np.asarray(result, dtype=np.float64), expected):
        fail(name, "gives a different answer for NumPy arrays than for lists of the same values.")
    expect_named_value_error(
        generalisation_gap,
        name,
        f"generalisation_gap(train_losses of length {len(train)}, val_losses of length "
        f"{len(train) - 1})",
        "",
        train,
        val[:-1],
    )
    expect_named_value_error(
        generalisation_gap,
        name,
        "generalisation_gap(train_losses of length 1, val_losses of length 3): NumPy would "
        "broadcast the single value, but the lengths differ, so it",
        "",
        train[:1],
        val[:3],
    )


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


def _check_bias_variance_case(bias_variance, predictions, truth, expected, described):
    name = "bias_variance"
    before, truth_before = predictions.copy(), truth.copy()
    result = call(bias_variance, name, described, predictions, truth)
    if not (np.array_equal(predictions, before) and np.array_equal(truth, truth_before)):
        fail(name, f"{described} modified predictions or truth in place; compute new arrays.")
    expect_pair(
        result, name, described, "(bias2, variance)", allow_list=True, shown=f"{result!r:.80}"
    )
    got = (_scalar(result[0], name, "bias2"), _scalar(result[1], name, "variance"))
    if np.allclose(got, expected, rtol=1e-7, atol=1e-12):
        return
    mistake = first_match(
        _bias_variance_candidates(predictions, truth),
        got,
        lambda a, b: np.allclose(a, b, rtol=1e-7, atol=1e-12),
    )
    if mistake is None and not np.isclose(sum(got), np.mean((predictions - truth) ** 2)):
        mistake = (
            "bias2 + variance must equal the mean over models and points of "
            "(predictions - truth)**2; yours do not add up"
        )
    fail(
        name,
        f"{described}: {mistake or 'wrong values'}. Expected (bias2, variance) = "
        f"({expected[0]:.6g}, {expected[1]:.6g}), got ({got[0]:.6g}, {got[1]:.6g}).",
    )


def check_bias_variance(bias_variance, *, n_points=7, seed=0):
    """Check ``bias_variance(predictions, truth)`` against the contract.

    The stacks of fits are built so that the answer is known: four fits at distances
    +-s and +-2s (per point) around ``truth + offset``, whose average is exactly
    ``truth + offset`` and whose variance is ``2.5 s^2``. A square stack (as many fits as
    points) comes first, so that averaging over the wrong axis gives numbers, not a
    broadcasting error, and can be named.

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
    rng = np.random.default_rng(seed)
    for points in (4, n_points):
        truth = np.sin(np.linspace(-3.0, 3.0, points))
        offset = rng.uniform(-0.5, 0.5, points)
        spread = rng.uniform(0.1, 1.0, points)
        predictions = _spread_stack(truth, offset, spread)
        expected = (float(np.mean(offset**2)), float(np.mean(2.5 * spread**2)))
        described = f"bias_variance(predictions of shape {predictions.shape}, truth)"
        _check_bias_variance_case(bias_variance, predictions, truth, expected, described)
    truth = np.cos(np.linspace(0.0, 2.0, n_points))
    one = (truth + 0.3)[None, :]
    described = f"bias_variance(predictions of shape {one.shape}, truth), a single fit"
    with np.errstate(all="ignore"):
        result = call(bias_variance, name, described, one, truth)
    got = np.asarray(result, dtype=np.float64) if isinstance(result, tuple | list) else None
    if got is None or got.shape != (2,) or not np.all(np.isfinite(got)):
        fail(
            name,
            f"{described} returned {result!r:.80}; with one fit the variance is 0 (ddof=0), "
            "never NaN, and bias2 is its squared error.",
        )
    if not np.allclose(got, (0.09, 0.0)):
        fail(name, f"{described} must return (0.09, 0.0): the fit is off by 0.3 everywhere.")


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


def _check_early_stopping_case(early_stopping_epoch, losses, patience, expected, about, wrong):
    name = "early_stopping_epoch"
    shown = ", ".join(f"{v:g}" for v in np.asarray(losses, dtype=float))
    described = f"early_stopping_epoch([{shown}], patience={patience}) ({about})"
    before = _copy(losses)
    result = call(early_stopping_epoch, name, described, losses, patience)
    if not _same(losses, before):
        fail(name, f"{described} modified val_losses in place; it must leave it unchanged.")
    expect_pair(
        result,
        name,
        described,
        "(best_epoch, stop_epoch)",
        allow_list=True,
        shown=f"{result!r:.80}",
    )
    pair = []
    for value in result:
        if value is None:
            pair.append(None)
        elif isinstance(value, int | np.integer) and not isinstance(value, bool):
            pair.append(int(value))
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            pair.append(int(value))
        else:
            fail(name, f"{described} must return two epoch numbers (ints), got {result!r:.80}.")
    pair = tuple(pair)
    if pair == tuple(expected):
        return
    mistake = wrong.get(pair) or _early_stopping_mistake(pair, losses, patience, expected)
    fail(
        name,
        f"{described} returned {pair}; expected (best_epoch, stop_epoch) = {tuple(expected)}"
        f"{': ' + mistake if mistake else ''}.",
    )


def check_early_stopping_epoch(early_stopping_epoch, *, cases: Sequence | None = None):
    """Check ``early_stopping_epoch(val_losses, patience)`` against the contract.

    Parameters
    ----------
    early_stopping_epoch : callable
        The student's function.
    cases : sequence, optional
        ``(losses, patience, expected, about, wrong)`` tuples as in
        :data:`EARLY_STOPPING_CASES` (the default).
    """
    name = "early_stopping_epoch"
    cases = EARLY_STOPPING_CASES if cases is None else cases
    for losses, patience, expected, about, wrong in cases:
        _check_early_stopping_case(
            early_stopping_epoch, list(losses), patience, expected, about, wrong
        )
    losses, patience, expected, about, wrong = cases[0]
    _check_early_stopping_case(
        early_stopping_epoch,
        np.array(losses, dtype=np.float32),
        patience,
        expected,
        about + ", as a float32 NumPy array",
        wrong,
    )
    for bad in (0, -2):
        expect_named_value_error(
            early_stopping_epoch,
            name,
            f"early_stopping_epoch(val_losses, patience={bad})",
            "patience",
            list(losses),
            bad,
        )
    expect_named_value_error(
        early_stopping_epoch,
        name,
        "early_stopping_epoch([], patience=3): there is no epoch to keep, so it",
        "",
        [],
        3,
    )


# ------------------------------------------------------------------------------ l2_penalty


def example_params(seed=0, shapes=((5, 4), (4,), (4, 3), (3,)), dtype=np.float64):
    """Weight matrices and (nonzero) bias vectors of a small network, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) + 0.5).astype(dtype) for shape in shapes]


def _penalty_candidates(params, lam):
    """Wrong penalties that students compute, with what each one means."""
    weights = [W for W in params if W.ndim >= 2]
    squares_w = sum(float(np.sum(W.astype(np.float64) ** 2)) for W in weights)
    squares_all = sum(float(np.sum(P.astype(np.float64) ** 2)) for P in params)
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
            0.5 * lam * sum(float(np.linalg.norm(W.astype(np.float64))) for W in weights),
        ),
        (
            "the squares were averaged; the penalty SUMS the squares of all the weights",
            0.5 * lam * sum(float(np.mean(W.astype(np.float64) ** 2)) for W in weights),
        ),
        (
            "this is an L1 penalty (absolute values); the L2 penalty sums the squares",
            0.5 * lam * sum(float(np.sum(np.abs(W))) for W in weights),
        ),
        ("the penalty was not multiplied by lam", 0.5 * squares_w),
        (
            "only 2-D arrays were penalised: arrays with more than two dimensions (e.g. "
            "convolution kernels) are weights too, so test param.ndim >= 2",
            0.5
            * lam
            * sum(float(np.sum(W.astype(np.float64) ** 2)) for W in params if W.ndim == 2),
        ),
    ]


def _gradient_candidates(param, lam):
    """Wrong gradients for one parameter, with what each one means."""
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


def _close(a, b):
    return np.allclose(a, b, rtol=1e-6, atol=1e-10)


def check_l2_penalty(l2_penalty, *, lam=0.1, seed=0, params=None):
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
    params = example_params(seed) if params is None else [np.asarray(p) for p in params]
    kinds = ", ".join(f"{'W' if p.ndim >= 2 else 'b'}{p.shape}" for p in params)
    described = f"l2_penalty([{kinds}], lam={lam})"
    before = _copy(params)
    result = call(l2_penalty, name, described, params, lam)
    if not _same(params, before):
        fail(
            name,
            f"{described} modified the parameters in place (e.g. W *= lam); they must be left "
            "unchanged: compute new arrays such as lam * W.",
        )
    expect_pair(
        result, name, described, "(penalty, grads)", allow_list=True, shown=f"{result!r:.80}"
    )
    penalty, grads = result
    penalty = _scalar(penalty, name, "the penalty")
    if not isinstance(grads, list | tuple):
        fail(name, f"{described}: grads must be a list of arrays, got {type(grads).__name__}.")
    if len(grads) != len(params):
        n_weights = sum(p.ndim >= 2 for p in params)
        hint = (
            " (one per weight matrix only?) Return a gradient for every parameter: zeros for "
            "the biases"
            if len(grads) == n_weights
            else ""
        )
        fail(
            name,
            f"{described} returned {len(grads)} gradients for {len(params)} parameters{hint}.",
        )
    weights = [W for W in params if W.ndim >= 2]
    expected_penalty = 0.5 * lam * sum(float(np.sum(W.astype(np.float64) ** 2)) for W in weights)
    if not np.isclose(penalty, expected_penalty, rtol=1e-6, atol=1e-12):
        mistake = first_match(_penalty_candidates(params, lam), penalty, _close)
        halves = [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]
        if (
            np.isclose(penalty, 2 * expected_penalty, rtol=1e-6)
            and len(grads) == len(params)
            and all(_close(np.asarray(g), h) for g, h in zip(grads, halves, strict=True))
        ):
            mistake = (
                "the penalty lam * ||W||^2 has the gradient 2 * lam * W, so your gradient "
                "lam * W misses a factor of 2. In this course the penalty is "
                "(lam / 2) * ||W||^2, whose gradient is lam * W: halve the penalty"
            )
        fail(
            name,
            f"{described}: {mistake or 'wrong penalty'}. Expected penalty "
            f"{expected_penalty:.6g}, got {penalty:.6g}.",
        )
    for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
        what = f"grads[{i}] (for {'the weight matrix' if param.ndim >= 2 else 'the bias'} "
        what += f"of shape {param.shape})"
        if not isinstance(grad, np.ndarray):
            fail(name, f"{described}: {what} must be a NumPy array, got {type(grad).__name__}.")
        if grad.shape != param.shape:
            fail(name, f"{described}: {what} has shape {grad.shape}; expected {param.shape}.")
        if np.shares_memory(grad, param):
            fail(
                name,
                f"{described}: {what} shares memory with the parameter; return a new array.",
            )
        expected = lam * param if param.ndim >= 2 else np.zeros_like(param)
        if _close(grad, expected):
            continue
        mistake = first_match(_gradient_candidates(param, lam), grad, _close)
        fail(
            name,
            f"{described}: {mistake or what + ' is wrong'}. Expected {what} = "
            f"{'lam * W' if param.ndim >= 2 else 'zeros'}.",
        )
    # lam = 0 switches the penalty off.
    penalty0, grads0 = call(l2_penalty, name, f"l2_penalty([{kinds}], lam=0)", params, 0.0)
    if _scalar(penalty0, name, "the penalty") != 0 or any(np.any(g != 0) for g in grads0):
        fail(name, f"l2_penalty([{kinds}], lam=0) must return 0 and zero gradients.")
    expect_named_value_error(
        l2_penalty, name, f"l2_penalty([{kinds}], lam=-0.1)", "lam", params, -0.1
    )


__all__ = [
    "ContractViolation",
    "check_bias_variance",
    "check_early_stopping_epoch",
    "check_generalisation_gap",
    "check_l2_penalty",
]
