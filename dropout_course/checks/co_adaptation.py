"""Contract checks for exercise 02 (co-adaptation): ``activation_correlation``,
``activation_sparsity`` and ``ablation_damage``.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the contract that the notebook states above the answer cell, so a test cell's points
are shared among them. Every check takes keyword arguments for its inputs, so that the hidden
tests can examine the same properties on inputs the student has not seen. The inputs are built so
that each common mistake (the diagonal in the mean, rows instead of columns, NaN for dead units,
negative values counted as zeros, a model left changed, ...) gives a value of its own, which the
message then names. Each call of the student's function is made once and examined by every
property that needs it; a property fails only for the mistake it is about, so (for example) a
correlation whose pairs are averaged wrongly does not also fail the property about dead units.

What the checks accept, since the contract does not fix it: a single number may be a Python
float or int, a NumPy scalar, or a one-element array or tensor; the pair of
``activation_sparsity`` may be a tuple or a list, and its ``unit_means`` a NumPy array (or a
tensor) of any float dtype; values are compared in float64, with tolerances that a correct
computation in float32 meets. ``ablation_damage`` may compute its error rates in any way and any
float dtype (they are compared to within 1e-6; error rates differ by multiples of 1/len(y)), and
may work on the model itself (with hooks, restoring whatever it changes) or on a copy; it is
called on a fresh copy of the test model, ``units``, ``X`` and ``y`` each time, so what one call
leaves behind does not change another call's result, nor the values the check expects (computed
from the check's own, untouched, inputs). None of the checks is random: every input comes from a
seeded generator.

The properties that a function doing nothing also keeps (its inputs left unchanged, the model
restored, 0.0 when there is no pair, the same value in training and evaluation mode) are side
conditions: they earn their share only alongside a property of what the function computes. The
properties that compare two of the function's own values (the same value with the constant
columns taken out, or with a column shrunk) credit only a function that tells apart two matrices
of the same shape whose values differ, so a constant answer keeps none of them.

The value of ``ablation_damage`` is two properties: which units it removes (the columns
``units`` of the module's output set to 0, the others unchanged), and what it returns (the rise
in error rate, ``error_ablated - error_intact``, as a rate). Each is decided from the results of
several calls: the first holds when they are all what the right removal gives with the contract's
formula or with one of the usual wrong ones (the sign reversed, the ablated error, a count, a
percentage), the second when they are all what the contract's formula gives after the right
removal or one of the usual wrong ones (rows, every unit but those, the others rescaled). So a
single mistake in one keeps the other; the units of the calls are drawn until the calls tell
every such way of computing apart, and one only counts if its results are not all equal, so a
constant answer keeps neither.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from .core import (
    Memo,
    Verdict,
    agrees_with_measurement,
    allclose,
    as_array,
    as_number,
    call,
    check_shape,
    expect_pair,
    fail,
    first_match,
)

# ------------------------------------------------------------------------------ helpers


def quiet_call(func, name: str, described: str, *args, **kwargs):
    """:func:`call` with warnings silenced.

    nbgrader gives no points to a test cell that writes to stderr, so a correct function that
    happens to trigger a NumPy or PyTorch warning (0/0 in a column that is then discarded, say)
    must not print it.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(func, name, described, *args, **kwargs)


def _scalar(value, name: str, what: str) -> float:
    """``value`` as a Python float, or fail if it is not one real number (as
    :func:`~.core.as_number` reads it: any int or float, a Fraction or Decimal, a NumPy array or
    tensor holding exactly one number)."""
    return as_number(value, name, what)


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-5, atol=1e-7))


class ArrayCall:
    """One call of a student's function on a copy of the array ``H``, made on first use and
    examined by several properties: what it returned, and whether it changed its input."""

    def __init__(self, func, name: str, H: np.ndarray, described: str):
        self.func, self.name, self.H, self.described = func, name, H, described
        self._result = Memo(self._go)

    def _go(self):
        given = self.H.copy()
        return given, quiet_call(self.func, self.name, self.described, given)

    def result(self):
        """What the function returned (or the failure of the call, raised again)."""
        return self._result()[1]

    def number(self, what: str = "") -> float:
        """The result as one float."""
        return _scalar(self.result(), self.name, f"the result of {self.described}{what}")

    def returned(self) -> bool:
        """Whether the call returned (rather than raised or was interrupted)."""
        return self._result.succeeded()

    def check_input_untouched(self) -> None:
        given, _ = self._result()
        if not np.array_equal(given, self.H, equal_nan=True):
            fail(self.name, f"{self.described} modified H in place; work on a copy.")


def examine_calls(calls, check) -> None:
    """Apply ``check`` to the first call, which must have returned, and to each other call that
    returned. For the properties about what a call leaves behind (its input, the model): a call
    that raised fails the properties about its result, not these too."""
    first, *others = calls
    check(first)
    for other in others:
        if other.returned():
            check(other)


# ---------------------------------------------------------------- activation_correlation


def _varying(H: np.ndarray) -> np.ndarray:
    """The columns of ``H`` whose entries are not all equal."""
    return H[:, np.ptp(H, axis=0) > 0] if H.shape[0] else H[:, :0]


def _pairs_mean(C: np.ndarray) -> float:
    """Mean of the entries above the diagonal of a square matrix."""
    j, k = np.triu_indices(C.shape[0], k=1)
    return float(C[j, k].mean()) if len(j) else 0.0


def _corr(H: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of ``H`` (all of them varying), by NumPy."""
    return np.corrcoef(H, rowvar=False).reshape(H.shape[1], H.shape[1])


def expected_correlation(H) -> float:
    """The contract's value: mean |r_jk| over pairs j < k of non-constant columns, 0 if none."""
    varying = _varying(np.asarray(H, dtype=np.float64))
    return _pairs_mean(np.abs(_corr(varying))) if varying.shape[1] >= 2 else 0.0


def correlation_matrix(n=200, n_units=12, seed=0, dead=(3,), constant=((7, 0.5),)):
    """Activations with correlated, anti-correlated and differently scaled units.

    Columns listed in ``dead`` are all zero and those in ``constant`` all equal to a value that
    is exact in binary (so that every way of testing "constant" agrees).
    """
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    mixing = rng.standard_normal((3, n_units))
    H = np.maximum(latent @ mixing + 0.8 * rng.standard_normal((n, n_units)) + 0.5, 0.0)
    H *= np.geomspace(0.2, 5.0, n_units)  # units of very different scales
    for j in dead:
        H[:, j] = 0.0
    for j, value in constant:
        H[:, j] = value
    return H


def _correlation_candidates(H: np.ndarray):
    """Wrong answers students give, with what each one means."""
    varying = _varying(H)
    C = _corr(varying)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        full = np.nan_to_num(np.corrcoef(H, rowvar=False), nan=0.0)
        rows = np.abs(np.nan_to_num(np.corrcoef(H), nan=0.0))
    cov = np.cov(varying, rowvar=False)
    return [
        (
            "the diagonal (each unit's correlation with itself, always 1) was included in the "
            "mean; average |r_jk| over the pairs j < k only (the off-diagonal entries)",
            float(np.abs(C).mean()),
        ),
        (
            "the rows (examples) were correlated instead of the columns (units): np.corrcoef "
            "treats each ROW as a variable unless you pass rowvar=False",
            _pairs_mean(rows),
        ),
        (
            "the rows (examples) were correlated instead of the columns (units), and the "
            "diagonal was included: use np.corrcoef(H, rowvar=False) and the pairs j < k",
            float(rows.mean()),
        ),
        (
            "constant (dead) columns were counted as correlation 0; they have no correlation "
            "at all, so leave them out of the average entirely",
            _pairs_mean(np.abs(full)),
        ),
        (
            "constant (dead) columns were counted as correlation 0 and the diagonal was "
            "included; leave constant columns out, and average over the pairs j < k only",
            float(np.abs(full).mean()),
        ),
        (
            "the mean of the signed correlations was taken; positive and negative correlations "
            "cancel, so average the ABSOLUTE values |r_jk|",
            _pairs_mean(C),
        ),
        (
            "the covariance was averaged, not the correlation; Pearson's r divides the "
            "covariance by both standard deviations, so it does not depend on the units' scales",
            _pairs_mean(np.abs(cov)),
        ),
        (
            "the squared correlations r_jk**2 were averaged; average |r_jk|",
            _pairs_mean(C**2),
        ),
    ]


#: The standard deviation of the column that :func:`_correlation_calls` shrinks: tiny, but a
#: column whose entries are not all equal is not constant (it is still a normal number in float32,
#: and so is its variance).
TINY_SPREAD = 1e-12


def tiny_column(H: np.ndarray, j: int = 2) -> np.ndarray:
    """``H`` with column ``j`` scaled to standard deviation :data:`TINY_SPREAD` (Pearson's r does
    not depend on a column's scale, so the contract's value is that of ``H``)."""
    H = np.array(H, dtype=np.float64)
    H[:, j] *= TINY_SPREAD / H[:, j].std()
    return H


def _correlation_calls(func, n, n_units, seed, dtype) -> dict[str, ArrayCall]:
    """The calls the properties examine, each made once (the first is the plain case)."""
    plain = correlation_matrix(n, n_units, seed, dead=(), constant=())
    dead = correlation_matrix(n, n_units, seed, dead=(1, n_units - 2), constant=((4, 0.5),))
    column = np.linspace(0.0, 1.0, n)[:, None]

    def make(H, what):
        H = np.asarray(H).astype(dtype)
        return ArrayCall(func, "activation_correlation", H, f"activation_correlation(H {what})")

    return {
        "plain": make(plain, f"of shape {plain.shape}, no constant column"),
        "dead": make(dead, f"of shape {dead.shape} with 2 dead and 1 constant column"),
        "reduced": make(_varying(dead), "with those 3 constant columns taken out"),
        "tiny": make(
            tiny_column(plain), f"of shape {plain.shape} whose column 2 has std {TINY_SPREAD:g}"
        ),
        "anti": make(np.hstack([column, 3.0 - 2.0 * column]), "with two columns x and 3 - 2x"),
        "one": make(np.hstack([column, np.zeros((n, 2))]), "with one varying column, 2 dead"),
        "none": make(np.zeros((n, 3)), "with only dead columns"),
    }


def check_pairs_mean(call_: ArrayCall) -> None:
    """The value is the mean of |r_jk| over the pairs of columns j < k (compared in float64)."""
    name, described = call_.name, call_.described
    H = call_.H.astype(np.float64)
    value, expected = call_.number(), expected_correlation(H)
    if not np.isfinite(value):
        fail(name, f"{described} returned {value}; it must be a finite number.")
    if not _close(value, expected):
        mistake = first_match(_correlation_candidates(H), value, _close)
        fail(
            name,
            f"{described} returned {value:.6f}, expected {expected:.6f}: "
            f"{mistake or 'this is not the mean of |r_jk| over the pairs of columns j < k'}.",
        )


def _responds(calls: dict[str, ArrayCall]) -> bool:
    """Whether the function told apart two matrices of the same shape whose values under the
    contract differ (the plain one and the one with dead columns): only then does its giving the
    same value for two matrices that the contract equates show something (a function that
    returns the same number, or a number that depends only on the shape, shows nothing)."""
    try:
        return not _close(calls["plain"].number(), calls["dead"].number())
    except Exception:  # noqa: BLE001 - a call that failed shows nothing either
        return False


#: What a function that returns the same value whatever ``H`` holds is told.
_UNRESPONSIVE = (
    "it gives the same value for matrices whose mean |r_jk| differs; compute the mean of "
    "|r_jk| over the pairs of non-constant columns"
)


def check_constant_left_out(calls: dict[str, ArrayCall]) -> None:
    """Constant columns change nothing: the value is finite and the contract's, or at least the
    value the function gives with those columns taken out (a mistake in averaging the pairs is
    the other property's), from a function whose value depends on ``H``."""
    call_, reduced = calls["dead"], calls["reduced"]
    name, described = call_.name, call_.described
    value = call_.number()
    if not np.isfinite(value):
        fail(
            name,
            f"{described} returned {value}. A constant column (a dead unit) has standard "
            "deviation 0, so its Pearson correlation is 0/0 = NaN: leave constant columns "
            "(all entries equal) out before correlating.",
        )
    H = call_.H.astype(np.float64)
    expected, without = expected_correlation(H), reduced.number()
    consistent = _close(value, without)
    if _close(value, expected) or (consistent and _responds(calls)):
        return
    mistake = first_match(_correlation_candidates(H), value, _close) or (
        _UNRESPONSIVE
        if consistent
        else f"with the constant columns taken out it returns {without:.6f}; constant "
        "columns must be left out of the average entirely"
    )
    fail(name, f"{described} returned {value:.6f}, expected {expected:.6f}: {mistake}.")


def check_tiny_spread_kept(calls: dict[str, ArrayCall]) -> None:
    """A column with a tiny but nonzero spread is not constant: the value is the contract's, or
    at least the function's own value for the same matrix before that column was shrunk
    (Pearson's r does not depend on scale), from a function whose value depends on ``H``."""
    call_ = calls["tiny"]
    name, described = call_.name, call_.described
    value, before = call_.number(), calls["plain"].number()
    H = call_.H.astype(np.float64)
    expected = expected_correlation(H)
    if _close(value, expected) or (_close(value, before) and _responds(calls)):
        return
    if _close(value, expected_correlation(np.delete(H, 2, axis=1))):
        fail(
            name,
            f"{described} returned {value:.6f}, expected {expected:.6f}: column 2 was left out "
            f"as if it were constant, but its entries are not all equal (its std is "
            f"{TINY_SPREAD:g}, not 0). Leave out only the columns whose entries are all equal "
            "(np.ptp(H, axis=0) > 0 keeps the others), not those whose std is close to 0 "
            "(np.isclose(std, 0) or std > some threshold).",
        )
    mistake = first_match(_correlation_candidates(H), value, _close) or (
        _UNRESPONSIVE
        if _close(value, before)
        else f"before column 2 was shrunk it returns {before:.6f}, and Pearson's r does not "
        "depend on a column's scale: a column whose entries are not all equal counts like "
        "any other"
    )
    fail(name, f"{described} returned {value:.6f}, expected {expected:.6f}: {mistake}.")


def check_no_pair(call_: ArrayCall) -> None:
    """Fewer than two non-constant columns: exactly 0.0."""
    value = call_.number()
    if value != 0.0:
        fail(
            call_.name,
            f"{call_.described} returned {value}; with fewer than two non-constant columns "
            "there is no pair of units to correlate, and the contract says to return 0.0.",
        )


def check_activation_correlation(
    activation_correlation, *, n=200, n_units=12, seed=0, dtype=np.float64
) -> Verdict:
    """Check ``activation_correlation(H)`` against the contract.

    Parameters
    ----------
    activation_correlation : callable
        The student's function.
    n, n_units : int
        Shape of the test matrices (``n != n_units``, so rows and columns are told apart).
    seed : int
        Seed of the matrices.
    dtype : numpy dtype
        Dtype of the matrices.
    """
    verdict = Verdict("activation_correlation")
    calls = _correlation_calls(activation_correlation, n, n_units, seed, dtype)
    with verdict.expect("leave H unchanged", side_condition=True):
        examine_calls(list(calls.values()), ArrayCall.check_input_untouched)
    with verdict.expect("return the mean of |r_jk| over the pairs j < k of columns (units)"):
        check_pairs_mean(calls["plain"])
        value = calls["anti"].number()
        if not _close(value, 1.0):
            fail(
                "activation_correlation",
                f"{calls['anti'].described} returned {value}; they are perfectly "
                "anti-correlated (r = -1), so the mean of |r| is 1.",
            )
    with verdict.expect("leave constant (dead) columns out of the average, never giving NaN"):
        check_constant_left_out(calls)
    with verdict.expect("keep a column whose spread is tiny but not zero (it is not constant)"):
        check_tiny_spread_kept(calls)
    with verdict.expect(
        "return 0.0 when fewer than two columns are not constant", side_condition=True
    ):
        check_no_pair(calls["one"])
        check_no_pair(calls["none"])
    return verdict


# ----------------------------------------------------------------- activation_sparsity


def sparsity_matrix(n=60, n_units=9, seed=0):
    """Activations with exact zeros, negative values, tiny values and a dead unit."""
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((n, n_units)) + 0.3
    H[rng.random((n, n_units)) < 0.4] = 0.0
    # Tiny, but not zero: at several scales, all of them normal numbers in float32 too, so
    # that no threshold (|h| < 1e-6, np.isclose(h, 0), |h| < 1e-12, ...) counts only zeros.
    for value in (1e-9, -1e-20, 1e-30, -1e-37):
        H[rng.random((n, n_units)) < 0.03] = value
    H[:, n_units // 2] = 0.0  # a dead unit
    return H


def sparsity_pair(call_: ArrayCall):
    """The pair ``(zero_fraction, unit_means)`` that ``activation_sparsity`` returned (a tuple
    or a list: the contract says "a pair")."""
    what = "(zero_fraction, unit_means)"
    return expect_pair(call_.result(), call_.name, call_.described, what, allow_list=True)


def _zero_fraction_candidates(H: np.ndarray):
    return [
        (
            "negative values were counted as zeros; a zero is an entry exactly equal to 0 "
            "(H == 0), and activations can be negative (e.g. before the ReLU)",
            float(np.mean(H <= 0)),
        ),
        *(
            (
                "small values were counted as zeros; count only entries exactly equal to 0 "
                "(H == 0), not those close to 0 (np.isclose(H, 0), or |h| below a threshold): "
                f"an activation of {smallest:g} is not a zero",
                float(np.mean(np.abs(H) <= smallest)),
            )
            for smallest in np.unique(np.abs(H[(H != 0) & (np.abs(H) < 1e-3)]))
        ),
        (
            "this is the fraction of NONZERO entries; the sparsity measure is the fraction "
            "of entries that are exactly 0",
            float(np.mean(H != 0)),
        ),
        (
            "this is the fraction of dead units (all-zero columns); count zero ENTRIES and "
            "divide by the number of entries, H.size",
            float(np.mean(np.all(H == 0, axis=0))),
        ),
        (
            "this is the number of zeros, not their fraction: divide by H.size",
            float(np.sum(H == 0)),
        ),
    ]


def check_zero_fraction(call_: ArrayCall) -> None:
    """``zero_fraction`` is the fraction of entries exactly equal to 0."""
    name, described = call_.name, call_.described
    zero_fraction = _scalar(sparsity_pair(call_)[0], name, f"zero_fraction of {described}")
    H = call_.H.astype(np.float64)
    expected = float(np.mean(H == 0))
    if not _close(zero_fraction, expected):
        mistake = first_match(_zero_fraction_candidates(H), zero_fraction, _close)
        fail(
            name,
            f"{described}: zero_fraction is {zero_fraction:.6f}, expected {expected:.6f}: "
            f"{mistake or 'count the entries exactly equal to 0 and divide by H.size'}.",
        )


def _unit_means_candidates(H: np.ndarray):
    active = np.where(H != 0, H, np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return [
            (
                "the absolute values were averaged; the mean activation is the plain mean",
                np.abs(H).mean(axis=0),
            ),
            (
                "only the nonzero (active) entries were averaged; the mean activation of a "
                "unit counts its zeros too",
                np.nan_to_num(np.nanmean(active, axis=0)),
            ),
        ]


def check_unit_means(call_: ArrayCall) -> None:
    """``unit_means`` is a NumPy array of shape ``(n_units,)``, the mean of each column."""
    name, described = call_.name, call_.described
    unit_means = sparsity_pair(call_)[1]
    H = call_.H.astype(np.float64)
    n, n_units = H.shape
    if isinstance(unit_means, torch.Tensor):
        unit_means = unit_means.detach().cpu().numpy()
    if np.ndim(unit_means) == 0:
        fail(
            name,
            f"{described}: unit_means is a single number; return one mean per unit (column), "
            f"an array of shape ({n_units},).",
        )
    unit_means = as_array(unit_means, name, "unit_means")
    try:  # any dtype that holds numbers: the contract does not fix it
        unit_means = unit_means.astype(np.float64)
    except (TypeError, ValueError):
        fail(name, f"{described}: unit_means has dtype {unit_means.dtype}; it must hold numbers.")
    if unit_means.shape == (n,) and allclose(unit_means, H.mean(axis=1)):
        fail(
            name,
            f"{described}: unit_means has one mean per example (row); a unit is a COLUMN of H, "
            "so average over the examples with axis=0.",
        )
    check_shape(unit_means, (n_units,), name, "unit_means")
    if not allclose(unit_means, H.mean(axis=0)):
        mistake = first_match(_unit_means_candidates(H), unit_means, allclose)
        fail(
            name,
            f"{described}: unit_means is not the mean of each column over the examples"
            f"{': ' + mistake if mistake else ''}. Expected H.mean(axis=0).",
        )


def check_activation_sparsity(
    activation_sparsity, *, n=60, n_units=9, seed=0, dtype=np.float64
) -> Verdict:
    """Check ``activation_sparsity(H)`` against the contract.

    Parameters
    ----------
    activation_sparsity : callable
        The student's function.
    n, n_units : int
        Shape of the test matrix (``n != n_units``).
    seed : int
        Seed of the matrix.
    dtype : numpy dtype
        Dtype of the matrices.
    """
    name = "activation_sparsity"
    verdict = Verdict(name)
    H = sparsity_matrix(n, n_units, seed).astype(dtype)
    calls = [ArrayCall(activation_sparsity, name, H, f"activation_sparsity(H of shape {H.shape})")]
    for edge in (np.zeros((4, 3)), np.full((3, 5), -0.25)):  # only zeros, no zero at all
        edge = edge.astype(dtype)
        described = f"activation_sparsity(H = {edge.flat[0]:g} everywhere, shape {edge.shape})"
        calls.append(ArrayCall(activation_sparsity, name, edge, described))
    with verdict.expect("leave H unchanged", side_condition=True):
        examine_calls(calls, ArrayCall.check_input_untouched)
    with verdict.expect("return zero_fraction, the fraction of entries exactly equal to 0"):
        for call_ in calls:
            check_zero_fraction(call_)
    with verdict.expect("return unit_means, the mean of each column, of shape (n_units,)"):
        for call_ in calls:
            check_unit_means(call_)
    return verdict


# ------------------------------------------------------------------------ ablation_damage

#: Two error rates whose difference is within this are the same (error rates are multiples of
#: 1/len(y), at least 1e-3 apart here; a rate computed in float32 is off by about 1e-7).
RATE_TOLERANCE = 1e-6


def same_rate(a: float, b: float) -> bool:
    return bool(abs(a - b) <= RATE_TOLERANCE)


def ablation_setup(seed=0, n=300, n_in=6, widths=(20, 16), n_classes=4, wrong=0.2):
    """A small classifier with dropout, inputs, and labels with a known intact error.

    The labels are the model's own evaluation-mode predictions, with a fraction ``wrong`` of
    them changed to another class, so the intact error is exactly that fraction (not 0, so
    that "returned the ablated error" and "returned the increase" differ).

    Returns
    -------
    model : torch.nn.Sequential
        ``Linear, ReLU, Dropout(0.5)`` per hidden layer, then a ``Linear``; in training mode.
    X, y : torch.Tensor
    """
    # The model's weights are drawn from a generator state of the check's own (seeded), not from
    # the global state, which a student's earlier call may have set to anything; the global
    # state is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        sizes = [n_in, *widths]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(0.5)]
        model = nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
        with torch.no_grad():  # larger weights than PyTorch's default, so every unit matters
            for layer in model:
                if isinstance(layer, nn.Linear):
                    layer.weight.normal_(0.0, 2.0 / layer.in_features**0.5)
                    layer.bias.normal_(0.0, 0.1)
    generator = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(n, n_in, generator=generator)
    model.eval()
    with torch.no_grad():
        y = model(X).argmax(dim=1)
    model.train()
    flip = torch.randperm(n, generator=generator)[: round(wrong * n)]
    shift = torch.randint(1, n_classes, (len(flip),), generator=generator)
    y[flip] = (y[flip] + shift) % n_classes
    return model, X, y


def _path(model, module) -> str:
    return next(p for p, m in model.named_modules() if m is module)


@torch.no_grad()
def _errors(model, module, X, y, change=None) -> float:
    """Error rate of a COPY of ``model`` in evaluation mode, ``change`` applied to the output
    of ``module`` by a forward hook (the student's model is never touched)."""
    path = _path(model, module)
    clone = copy.deepcopy(model).eval()
    if change is not None:
        clone.get_submodule(path).register_forward_hook(lambda _m, _i, out: change(out.clone()))
    return (clone(X).argmax(dim=1) != y).double().mean().item()


def _removals(units) -> list[tuple[str, Callable]]:
    """The ways of removing ``units`` from a module's output (given a copy of it, of shape
    ``(batch, n_units)``): the contract's first (those columns set to 0, the others unchanged),
    then the mistakes students make, each with what its message tells them."""
    units = [int(u) for u in units]

    def columns(out):
        out[:, units] = 0
        return out

    def rows(out):
        out[units] = 0
        return out

    def others(out):
        keep = torch.zeros(out.shape[1], dtype=out.dtype)
        keep[units] = 1.0
        return out * keep

    def rescaled(out):
        out[:, units] = 0
        kept = out.shape[1] - len(set(units))
        return out * out.shape[1] / kept if kept else out

    return [
        ("the columns units of the module's output were set to 0", columns),
        (
            "rows (examples) of the module's output were zeroed; units are COLUMNS: "
            "output[:, units] = 0",
            rows,
        ),
        ("every unit EXCEPT the listed ones was zeroed; zero only the units in `units`", others),
        (
            "the remaining units were rescaled; set the listed units to zero and leave the "
            "others unchanged (this is not dropout, there is no 1/(1-p))",
            rescaled,
        ),
    ]


def _formulas(n: int) -> list[tuple[str, Callable[[float, float], float]]]:
    """The ways of turning the intact and the ablated error rates of ``n`` examples into the
    result: the contract's first (the rise, ``error_ablated - error_intact``), then the mistakes
    students make, each with what its message tells them."""
    return [
        (
            "the rise in error rate, error_ablated - error_intact",
            lambda intact, ablated: ablated - intact,
        ),
        (
            "it returned the error with the units removed; return the INCREASE, "
            "error_ablated - error_intact",
            lambda intact, ablated: ablated,
        ),
        (
            "the sign is reversed: the damage is error_ablated - error_intact (positive when "
            "removing the units hurts)",
            lambda intact, ablated: intact - ablated,
        ),
        (
            "it returned a number of misclassified examples; use error RATES (divide by len(y))",
            lambda intact, ablated: (ablated - intact) * n,
        ),
        (
            "it returned a percentage; use error RATES, fractions of the examples (do not "
            "multiply by 100)",
            lambda intact, ablated: (ablated - intact) * 100,
        ),
    ]


@dataclass(frozen=True)
class Ablation:
    """The error rates of the check's model, in evaluation mode, on the check's ``X`` and ``y``:
    ``intact``, and ``ablated[r]`` with ``units`` removed from ``module``'s output in the
    ``r``-th way of :func:`_removals` (the contract's first)."""

    intact: float
    ablated: tuple[float, ...]

    @classmethod
    def of(cls, model, module, units, X, y) -> Ablation:
        return cls(
            _errors(model, module, X, y),
            tuple(_errors(model, module, X, y, change) for _, change in _removals(units)),
        )


class DamageTable:
    """What each way of removing the units (:func:`_removals`) combined with each way of
    returning the error rates (:func:`_formulas`) gives on each of several calls: ``table[f, r]``
    is the list of results, one per call, of formula ``f`` and removal ``r``; ``table[0, 0]``
    is the contract's."""

    def __init__(self, ablations: list[Ablation], n: int):
        formulas = _formulas(n)
        self.formulas = [description for description, _ in formulas]
        self.removals = [description for description, _ in _removals([])]
        self._values = {
            (f, r): [formula(a.intact, a.ablated[r]) for a in ablations]
            for f, (_, formula) in enumerate(formulas)
            for r in range(len(self.removals))
        }

    def __getitem__(self, key: tuple[int, int]) -> list[float]:
        return self._values[key]

    def keys(self):
        return self._values.keys()


def _matches(values, expected) -> bool:
    """Whether two lists of results, one per call, agree call by call."""
    return all(same_rate(a, b) for a, b in zip(values, expected, strict=True))


def _varies(values) -> bool:
    """Whether a list of results, one per call, holds two different ones: only a way of
    computing whose results vary can be told from a function that returns a constant."""
    return any(not same_rate(v, values[0]) for v in values)


def _right_units(table: DamageTable) -> list[tuple[int, int]]:
    """The results of removing the right units, whatever is then returned."""
    return [(f, 0) for f in range(len(table.formulas))]


def _right_formula(table: DamageTable) -> list[tuple[int, int]]:
    """The results of returning the rise in error rate, whatever was removed."""
    return [(0, r) for r in range(len(table.removals))]


def _tells_apart(table: DamageTable, everything: DamageTable) -> bool:
    """Whether the calls tell each single mistake apart: on the calls with units to remove
    (``table``), every way of returning the error rates of the right units gives results that
    vary, and none that a wrong removal gives; on all the calls (``everything``, with
    ``units = []`` too), every removal followed by the rise gives results that vary, and none
    that a wrong formula gives; and the wrong removals give results of their own."""
    right_units = [table[k] for k in _right_units(table)]
    wrong_units = [table[k] for k in table.keys() if k[1] != 0]
    right_formula = [everything[k] for k in _right_formula(everything)]
    wrong_formula = [everything[k] for k in everything.keys() if k[0] != 0]
    removals = [table[0, r] for r in range(len(table.removals))]
    return (
        all(_varies(v) for v in right_units + right_formula)
        and not any(_matches(w, v) for w in wrong_units for v in right_units)
        and not any(_matches(w, v) for w in wrong_formula for v in right_formula)
        and not any(_matches(a, b) for i, a in enumerate(removals) for b in removals[i + 1 :])
    )


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _module_modes(model):
    return [m.training for m in model.modules()]


def _hooks(model) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)  # counting leftovers
        for m in model.modules()
    )


def _changed(params: dict, state: dict) -> list[str]:
    """The entries of the state dict that differ, appeared or disappeared."""
    return sorted(
        k
        for k in params.keys() | state.keys()
        if k not in params or k not in state or not torch.equal(params[k], state[k])
    )


def _shown(units) -> str:
    shown = ", ".join(str(int(u)) for u in units)
    if isinstance(units, tuple):
        return f"({shown}{',' if len(units) == 1 else ''})"
    return f"np.array([{shown}])" if isinstance(units, np.ndarray) else f"[{shown}]"


def _same_units(given, units) -> bool:
    """Whether the ``units`` a call was given still hold what the check gave it."""
    if isinstance(units, np.ndarray):
        return isinstance(given, np.ndarray) and np.array_equal(given, units)
    return type(given) is type(units) and list(given) == list(units)


class DamageCall:
    """One call of ``ablation_damage`` on a fresh copy of ``model`` in a given mode, made on
    first use and examined by several properties: the value it returned, the inputs and the
    model it left behind (parameters, training/evaluation modes, hooks, output). Each call has
    its own copy of the model and of ``units``, ``X`` and ``y``, so what one call changes does
    not change another call's result, nor the values the check expects (which it computes
    from its own, untouched, inputs)."""

    def __init__(self, ablation_damage, model, module, units, X, y, *, start_training=True):
        self.model = copy.deepcopy(model).train(start_training)
        self.module = self.model.get_submodule(_path(model, module))
        self.units, self.X, self.y, self.start_training = units, X, y, start_training
        where = "training" if start_training else "evaluation"
        self.described = (
            f"ablation_damage(model in {where} mode, module, units={_shown(units)}, X, y)"
        )
        self._result = Memo(lambda: self._go(ablation_damage))

    def _go(self, ablation_damage):
        model, X = self.model, self.X
        params, modes, hooks = _snapshot(model), _module_modes(model), _hooks(model)
        with torch.no_grad():
            before = copy.deepcopy(model).eval()(X)
        given = SimpleNamespace(units=copy.deepcopy(self.units), X=X.clone(), y=self.y.clone())
        value = quiet_call(
            ablation_damage, "ablation_damage", self.described, model, self.module, given.units,
            given.X, given.y,
        )  # fmt: skip
        after = SimpleNamespace(value=value, modes=modes, after_modes=_module_modes(model))
        after.given = given
        after.changed = _changed(params, model.state_dict())
        after.hooks = _hooks(model) - hooks
        try:  # what the model computes now (a hook left behind may still act, or raise)
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                after.output_changed = not torch.equal(model.eval()(X), before)
        except Exception:  # noqa: BLE001 - a leftover that breaks the model changed its output
            after.output_changed = True
        return after

    def returned(self) -> bool:
        return self._result.succeeded()

    def value(self) -> float:
        return _scalar(self._result().value, "ablation_damage", f"the result of {self.described}")

    def check_inputs(self) -> None:
        given = self._result().given
        changed = [
            what
            for what, same in (
                ("units", _same_units(given.units, self.units)),
                ("X", torch.equal(given.X, self.X)),
                ("y", torch.equal(given.y, self.y)),
            )
            if not same
        ]
        if changed:
            fail(
                "ablation_damage",
                f"{self.described} modified {' and '.join(changed)} in place; do not change "
                "the inputs (compute new values: a hook's output.clone(), a list of your own).",
            )

    def check_parameters(self) -> None:
        changed = self._result().changed
        if changed:
            fail(
                "ablation_damage",
                f"{self.described} changed the model's parameters ({', '.join(changed[:3])}). "
                "Remove the units without touching the weights (a forward hook), or restore "
                "every weight you changed before returning.",
            )

    def check_mode(self) -> None:
        result, described = self._result(), self.described
        if result.after_modes == result.modes:
            return
        if self.start_training and not any(result.after_modes):
            fail("ablation_damage",
                 f"{described} left the model in evaluation mode; it must restore the mode the "
                 "model was in (remember model.training before model.eval(), then "
                 "model.train(was_training)).")  # fmt: skip
        if not self.start_training and any(result.after_modes):
            fail("ablation_damage",
                 f"{described} switched the model to training mode; restore the mode it was "
                 "in (model.train(was_training)), not always training mode.")  # fmt: skip
        fail("ablation_damage", f"{described} changed the training/evaluation mode of the model.")

    def check_hooks(self) -> None:
        result = self._result()
        if result.hooks > 0:
            fail(
                "ablation_damage",
                f"{self.described} left a forward hook registered on the model; remove it "
                "(handle.remove(), in a finally block) before returning.",
            )
        if result.output_changed and not result.changed:  # changed weights: the other property
            fail(
                "ablation_damage",
                f"after {self.described} the model's output has changed: the units are still "
                "removed. Keep the handle that register_forward_hook returns and call "
                "handle.remove() (in a finally block) before returning.",
            )


def _check_damage(calls, table: DamageTable, accepted, rejected, *, inconsistent, generic):
    """The results of ``calls`` (``table`` holds, for each way of computing, one result per
    call) are the contract's, or those of a way among ``accepted`` (keys of ``table``) whose
    results vary (so a function that returns a constant keeps nothing). If not, fail with the
    mistake named: the way among ``rejected`` (pairs of a key and its description, single
    mistakes first) that gives all the results, or else the one that gives the result shown,
    that of the first call which no way in ``accepted`` explains; ``generic(i)`` when nothing
    does, ``inconsistent`` when each result is explained but not all by the same way."""
    values = [call_.value() for call_ in calls]
    contract = table[0, 0]
    if _matches(values, contract) or any(
        _varies(table[k]) and _matches(values, table[k]) for k in accepted
    ):
        return
    mistake = next(
        (what for k, what in rejected if _varies(table[k]) and _matches(values, table[k])), None
    )
    unexplained = [
        i for i, v in enumerate(values) if not any(same_rate(v, table[k][i]) for k in accepted)
    ]
    if unexplained:
        shown = unexplained[0]
    else:
        shown = next(i for i, v in enumerate(values) if not same_rate(v, contract[i]))
        mistake = mistake or inconsistent
    # A mistake whose value is 0 on a call cannot be told there from a function that removes
    # nothing.
    candidates = [(what, table[k][shown]) for k, what in rejected]
    mistake = (
        mistake
        or first_match(
            [c for c in candidates if not same_rate(c[1], 0.0)], values[shown], same_rate
        )
        or generic(shown)
    )
    fail(
        "ablation_damage",
        f"{calls[shown].described} returned {values[shown]:.4f}, expected "
        f"{contract[shown]:.4f}: {mistake}.",
    )


_EXPECTED = (
    "expected the rise in error rate when those columns of the module's output are set to 0, "
    "in evaluation mode"
)


def check_removes_units(calls: list[DamageCall], ablations: list[Ablation], n: int) -> None:
    """The right units are removed (the columns ``units`` of the module's output set to 0, the
    others unchanged), whatever is then returned: on every call (each with units to remove),
    the result is what the contract's way, or a usual mistake, of turning the two error rates
    into a number gives with those units removed (a mistake in that is the other property's)."""
    table = DamageTable(ablations, n)
    wrong = sorted((k for k in table.keys() if k[1] != 0), key=lambda k: (k[0] != 0, k[1], k[0]))

    def generic(i):
        zeroed = ablations[i]
        return (
            f"{_EXPECTED}; with those columns zeroed (output[:, units] = 0, the others "
            f"unchanged) the error rate is {zeroed.ablated[0]:.4f}, {zeroed.intact:.4f} without"
        )

    _check_damage(
        calls,
        table,
        _right_units(table),
        [(k, table.removals[k[1]]) for k in wrong],
        inconsistent="its results on different calls are those of different calculations; "
        "set the columns units of the module's output to 0, the others unchanged, every time",
        generic=generic,
    )


def check_returns_rise(calls: list[DamageCall], ablations: list[Ablation], n: int) -> None:
    """The result is the rise in error rate, ``error_ablated - error_intact``, as a rate,
    whatever was removed: on every call (``units = []`` too), the result is that of the
    contract's removal, or of a usual mistake in it, followed by the contract's formula (a
    mistake in the removal is the other property's)."""
    table = DamageTable(ablations, n)
    wrong = sorted((k for k in table.keys() if k[0] != 0), key=lambda k: (k[1] != 0, k[0], k[1]))
    _check_damage(
        calls,
        table,
        _right_formula(table),
        [(k, table.formulas[k[0]]) for k in wrong],
        inconsistent="its results on different calls are those of different calculations; "
        "return error_ablated - error_intact, as a rate, every time",
        generic=lambda i: f"{_EXPECTED}: error_ablated - error_intact, as a rate",
    )


def check_evaluation_mode(first: DamageCall, again: DamageCall, evaluation: DamageCall) -> None:
    """Two calls on a model in training mode agree with each other and with the call on the
    same model in evaluation mode (whatever that value is: its correctness is another
    property)."""
    a, b = first.value(), again.value()
    if not same_rate(a, b):
        fail(
            "ablation_damage",
            f"two calls of {first.described} gave different results ({a:.4f}, {b:.4f}): "
            "dropout was active. Measure in evaluation mode: call model.eval() first (and "
            "restore the mode afterwards).",
        )
    reference = evaluation.value()
    if not same_rate(a, reference):
        fail(
            "ablation_damage",
            f"{first.described} returned {a:.4f}, but {reference:.4f} for the same model in "
            "evaluation mode: the result must not depend on the mode the model is in. "
            "Measure in evaluation mode (model.eval()) and restore the mode afterwards.",
        )


#: The calls that the two properties of the value examine remove, from the ReLU of hidden layer
#: ``layer``, ``numerator / denominator`` of its units (rounded down), each call units of its own.
GROUP_SHARES = ((0, 1, 3), (1, 1, 2), (0, 2, 3))

#: How many draws of the units :func:`damage_groups` makes at most.
GROUP_DRAWS = 50


def damage_groups(model, X, y, widths, seed):
    """The ``(module, units)`` of the calls that the two properties of the value examine, their
    :class:`Ablation` each, and the :class:`Ablation` of ``units = []`` (on the first ReLU).

    The units are drawn from a generator seeded with ``seed`` (:data:`GROUP_SHARES`), again
    until the calls tell each single mistake apart (:func:`_tells_apart`): then a mistake in
    what is removed keeps the property about what is returned, and the other way round, while
    a function returning a constant keeps neither. After :data:`GROUP_DRAWS` draws that do not,
    the first is kept.
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    rng = np.random.default_rng(seed)
    empty = Ablation.of(model, relus[0], [], X, y)
    n, first = len(y), None
    for _ in range(GROUP_DRAWS):
        groups = [
            (
                relus[layer],
                sorted(
                    rng.choice(
                        widths[layer], size=widths[layer] * numerator // denominator, replace=False
                    ).tolist()
                ),
            )
            for layer, numerator, denominator in GROUP_SHARES
        ]
        ablations = [Ablation.of(model, module, units, X, y) for module, units in groups]
        drawn = groups, ablations, empty
        if _tells_apart(DamageTable(ablations, n), DamageTable([*ablations, empty], n)):
            return drawn
        first = first or drawn
    return first


def check_ablation_damage(
    ablation_damage, *, seed=0, n=300, widths=(20, 16), n_classes=4
) -> Verdict:
    """Check ``ablation_damage(model, module, units, X, y)`` against the contract.

    Parameters
    ----------
    ablation_damage : callable
        The student's function.
    seed : int
        Seed of the model, the inputs and the labels.
    n : int
        Number of examples.
    widths : tuple of two int
        Widths of the two hidden layers.
    n_classes : int
        Number of classes.

    The value is examined on calls that remove units of either hidden layer (see
    :func:`damage_groups`), and on ``units = []``; the first two are also made, twice each, on
    the model in training mode.
    """
    verdict = Verdict("ablation_damage")
    model, X, y = ablation_setup(seed, n, widths=widths, n_classes=n_classes)
    groups, ablations, none_removed = damage_groups(model, X, y, widths, seed)

    def run(module, units, start_training):
        return DamageCall(ablation_damage, model, module, units, X, y,
                          start_training=start_training)  # fmt: skip

    measured = [run(module, units, False) for module, units in groups]
    from_training = [(run(m, u, True), run(m, u, True)) for m, u in groups[:2]]
    empty = run(groups[0][0], [], False)
    every = [*measured, *(c for pair in from_training for c in pair), empty]
    with verdict.expect(
        "remove the right units: set the columns units of the module's output to 0, the others "
        "unchanged (whatever it then returns)"
    ):
        check_removes_units(measured, ablations, len(y))
    with verdict.expect(
        "return the rise in error rate, error_ablated - error_intact, as a rate (whatever it "
        "removed)"
    ):
        check_returns_rise([*measured, empty], [*ablations, none_removed], len(y))
    with verdict.expect(
        "measure in evaluation mode (dropout off), whatever the model's mode", side_condition=True
    ):
        for (first, again), evaluation in zip(from_training, measured[:2], strict=True):
            check_evaluation_mode(first, again, evaluation)
    with verdict.expect("leave units, X and y unchanged", side_condition=True):
        examine_calls(every, DamageCall.check_inputs)
    with verdict.expect("leave the model's parameters unchanged", side_condition=True):
        examine_calls(every, DamageCall.check_parameters)
    with verdict.expect(
        "leave the model in the training/evaluation mode it was in", side_condition=True
    ):
        examine_calls(every, DamageCall.check_mode)
    with verdict.expect("leave no hook on the model", side_condition=True):
        examine_calls(every, DamageCall.check_hooks)
    return verdict


# ------------------------------------------------------------------------- dropout_penalty

PENALTY = "dropout_penalty"

#: Masks behind each measured penalty (measured to about 1 %).
PENALTY_DRAWS = 200_000

#: Relative tolerance of the answer against its measurement.
PENALTY_RTOL = 0.04

#: Contributions and drop probabilities the check asks about: a co-adapted pair (large
#: contributions that cancel), contributions of one sign, and a mixture.
PENALTY_CASES = (
    ((3.0, -2.8, 0.1), 0.5),
    ((0.4, 0.9, 1.3, 0.2), 0.2),
    ((2.0, -0.5, 0.0, 1.1, -1.7), 0.7),
)


def measured_penalty(c, p, *, target=0.3, seed=0) -> float:
    """What inverted dropout adds, on average over ``PENALTY_DRAWS`` masks, to the squared
    error of the read-out ``sum_j r_j c_j / q`` against ``target``: a simulation, not a formula."""
    c = np.asarray(c, dtype=np.float64)
    kept = np.random.default_rng(seed).random((PENALTY_DRAWS, c.size)) >= p
    outputs = kept @ c / (1.0 - p)
    return float(np.mean((outputs - target) ** 2) - (c.sum() - target) ** 2)


def _penalty_candidates(c, p, measured) -> list[tuple[str, float]]:
    """Wrong answers students give, with what each one means."""
    c = np.asarray(c, dtype=np.float64)
    q = 1.0 - p
    return [
        (
            "it is the square of the SUM of the contributions that you scaled; dropout's "
            "penalty adds up the squares of the contributions one by one, so large "
            "contributions that cancel each other are penalised",
            measured * c.sum() ** 2 / max(float((c**2).sum()), 1e-300),
        ),
        (
            "the factor is upside down: the variance of r / q is p / q, not q / p",
            measured * (q / p) ** 2 if p > 0 else np.nan,
        ),
        (
            "that is what standard dropout (no 1/q scaling) adds around its own mean; with "
            "inverted dropout each kept contribution is divided by q",
            measured * q * q,
        ),
    ]


def check_penalty_case(dropout_penalty, c, p) -> None:
    """The penalty for one set of contributions agrees with its measurement; raise if not."""
    described = f"dropout_penalty(c={list(c)}, p={p})"
    value = as_number(
        call(dropout_penalty, PENALTY, described, np.array(c, dtype=np.float64), p),
        PENALTY,
        described,
    )
    measured = measured_penalty(c, p)
    how = f"over {PENALTY_DRAWS:,} masks inverted dropout adds to the squared error on average"
    candidates = _penalty_candidates(c, p, measured)
    agrees_with_measurement(PENALTY, described, value, measured, PENALTY_RTOL, how, candidates)


def penalty_properties(verdict: Verdict, dropout_penalty, cases) -> None:
    """Add the properties of ``dropout_penalty`` on ``cases``."""
    with verdict.expect("give the squared error dropout adds on average to a linear read-out"):
        for c, p in cases:
            check_penalty_case(dropout_penalty, c, p)
    with verdict.expect("give 0 when nothing is dropped (p = 0)"):
        check_penalty_case(dropout_penalty, cases[0][0], 0.0)


def check_dropout_penalty(dropout_penalty, *, cases=PENALTY_CASES) -> Verdict:
    """Check ``dropout_penalty(c, p)``: the expected increase of a linear read-out's squared
    error under inverted dropout with drop probability ``p``, for contributions ``c``."""
    verdict = Verdict(PENALTY)
    penalty_properties(verdict, dropout_penalty, cases)
    return verdict
