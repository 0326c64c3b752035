"""Contract checks of exercise 03 (Bernoulli masks): ``bernoulli_mask``, ``dropout_forward``,
the ``Dropout`` module and ``predict``.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the contract in COURSE-SPEC.md, so a test cell's points are shared among them. Every
check takes keyword arguments for its inputs so that hidden tests can examine the same properties
on inputs the student has not seen. The helpers that examine one aspect (``check_drop_rate``,
``check_independent``, ``check_uses_rng``, ...) raise :class:`ContractViolation` and are used
inside a property's block; exercise 04 uses them on the masks of its network. The module checks
always run with PyTorch's own dropout forbidden, so a module that hands its work to
``F.dropout`` fails every property that runs it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .core import (
    ContractViolation,
    Memo,
    Verdict,
    allclose,
    as_array,
    as_number,
    binomial_band,
    call,
    check_shape,
    expect_pair,
    expect_value_error,
    fail,
    first_match,
    same_dtype,
    type_name,
)
from .independence import draws_dependence, mask_dependence

# ----------------------------------------------------------------------------------- masks


def mask_values(mask: np.ndarray, name: str, described: str, p: float) -> np.ndarray:
    """Return ``mask`` as float64 after checking that its entries are 0 or 1."""
    if mask.dtype.kind not in "biuf":
        fail(name, f"{described} has dtype {mask.dtype}; a mask holds numbers 0 and 1 (or bools).")
    values = np.unique(mask.astype(np.float64))
    if not np.all(np.isin(values, (0.0, 1.0))):
        if 0 < p < 1 and np.all(np.isin(values, (0.0, 1.0 / (1.0 - p)))):
            fail(
                name,
                f"{described} holds 0 and 1/(1-p); a mask holds only 0 (drop) and 1 (keep). "
                "The 1/(1-p) scaling belongs in dropout_forward.",
            )
        shown = ", ".join(f"{v:g}" for v in values[:5])
        fail(name, f"{described} must hold only 0 (drop) and 1 (keep); it holds {shown}.")
    return mask.astype(np.float64)


def check_drop_rate(mask: np.ndarray, p: float, name: str, described: str) -> None:
    """Fail unless the fraction of dropped entries is within the binomial band around ``p``."""
    dropped = 1.0 - float(mask.mean())
    if abs(dropped - p) <= binomial_band(mask.size, p):
        return
    if abs(dropped - (1.0 - p)) <= binomial_band(mask.size, 1.0 - p):
        fail(
            name,
            f"{described} dropped {dropped:.3f} of the units with p={p}: p is used as the KEEP "
            f"probability. In this course p is the probability of DROPPING a unit (as in "
            f"torch.nn.Dropout), so each entry is kept with probability 1 - p = {1 - p:g}.",
        )
    fail(
        name,
        f"{described} dropped a fraction {dropped:.3f} of {mask.size} units; with p={p} it must "
        f"be close to {p} (allowed: +-{binomial_band(mask.size, p):.4f}).",
    )


def _named_pattern(rows: np.ndarray) -> str | None:
    """A name for the commonest ways of breaking independence, for a clearer message."""
    if rows.shape[0] > 1 and np.all(rows == rows[0]):
        return (
            "every row of the mask is the same. Each example (row) needs its own mask: draw "
            "one independent value per entry of the full shape"
        )
    if rows.shape[1] > 1 and np.all(rows == rows[:, :1]):
        return (
            "every column of the mask is the same (one decision per row was broadcast). Draw "
            "one independent value per entry of the full shape"
        )
    counts = rows.sum(axis=1)
    if rows.shape[0] >= 20 and np.all(counts == counts[0]):
        return (
            f"every row keeps exactly {int(counts[0])} units. The entries must be independent "
            "coin flips, so the number kept varies from row to row; do not choose a fixed "
            "number of units (e.g. with rng.choice or rng.permutation)"
        )
    return None


def check_independent(mask: np.ndarray, name: str, described: str, draws=None) -> None:
    """Fail if the entries of ``mask`` (0/1 floats) are not independent coin flips.

    ``draws``, several further masks of one shape drawn by successive calls, lets the check see
    dependence that one mask cannot show (a fixed total, a mask reused from call to call).
    """
    problem = mask_dependence(mask)
    if problem is None and draws is not None:
        problem = draws_dependence(draws)
    if problem is None:
        return
    rows = mask.reshape(-1, mask.shape[-1]) if mask.ndim > 1 else mask.reshape(1, -1)
    fail(name, f"{described}: {_named_pattern(rows) or problem}.")


def check_uses_rng(draw, name: str, described: str) -> None:
    """Check that ``draw(rng)`` depends on ``rng`` only, not on NumPy's global state.

    ``draw`` maps a Generator to an array. Same seed must give the same array whatever the
    global ``np.random`` state is; different seeds must give different arrays; and two calls
    with one generator must give different arrays (each call draws afresh).
    """
    np.random.seed(1)  # noqa: NPY002 - moving the global state on purpose
    first = np.asarray(draw(np.random.default_rng(2024)))
    np.random.seed(2)  # noqa: NPY002 - moving the global state on purpose
    again = np.asarray(draw(np.random.default_rng(2024)))
    np.random.seed(1)  # noqa: NPY002 - moving the global state on purpose
    other = np.asarray(draw(np.random.default_rng(7)))
    if not np.array_equal(first, again):
        fail(
            name,
            f"{described} gave different results for two generators with the same seed. It "
            "must draw its randomness only from the rng argument (rng.random(...), "
            "rng.binomial(...)), never from np.random.* functions.",
        )
    if np.array_equal(first, other):
        fail(
            name,
            f"{described} gave the same result for generators with different seeds, so it "
            "ignores the rng argument (or reseeds it). Draw the mask from the rng you are given.",
        )
    shared = np.random.default_rng(99)
    if np.array_equal(np.asarray(draw(shared)), np.asarray(draw(shared))):
        fail(
            name,
            f"{described} gave the same result twice from one generator: each call must draw "
            "new values from rng (do not copy or reseed it).",
        )


def check_bernoulli_mask(
    bernoulli_mask, *, p=0.3, shape=(400, 250), small_shape=(3, 4), seed=0, draws=200
) -> Verdict:
    """Check ``bernoulli_mask(shape, p, rng)`` against the contract.

    Parameters
    ----------
    bernoulli_mask : callable
        The student's function.
    p : float
        Drop probability used for the statistical checks.
    shape : tuple of int
        A large shape for the drop-rate and independence checks.
    small_shape : int or tuple of int
        Another shape, checked for shape only.
    seed : int
        Seed of the generators.
    draws : int
        How many further masks of shape (40, 50) the independence check draws.
    """
    name = "bernoulli_mask"
    verdict = Verdict(name)

    def draw(s, p_=p, rng=None):
        """Call it; fail unless it returns an array of shape ``s`` (checked before anything
        else is done with the array, so a huge wrong answer costs nothing)."""
        rng = np.random.default_rng(seed) if rng is None else rng
        described = f"bernoulli_mask({s!r}, p={p_:g}, rng)"
        mask = as_array(call(bernoulli_mask, name, described, s, p_, rng), name,
                        f"the result of {described}")  # fmt: skip
        check_shape(
            mask, (s,) if isinstance(s, int) else tuple(s), name, f"the mask of {described}"
        )
        return described, mask

    big = Memo(lambda: draw(shape))
    with verdict.expect(
        "return an array of the requested shape, for an int or a tuple", side_condition=True
    ):
        big()
        draw(small_shape)
    with verdict.expect("hold only 0 (drop) and 1 (keep)", side_condition=True):
        described, mask = big()
        mask_values(mask, name, described, p)
    with verdict.expect("drop each entry with probability p"):
        described, mask = big()
        check_drop_rate(mask_values(mask, name, described, p), p, name, described)
    with verdict.expect("draw its entries independently", side_condition=True):
        described, mask = big()
        rng = np.random.default_rng(seed + 1)
        more = [mask_values(draw((40, 50), rng=rng)[1], name, described, p) for _ in range(draws)]
        check_independent(mask_values(mask, name, described, p), name, described, more)
    with verdict.expect("keep everything for p = 0 and drop everything for p = 1"):
        for edge, expected in ((0.0, 1.0), (1.0, 0.0)):
            described, edge_mask = draw(small_shape, edge, np.random.default_rng())
            if not np.all(mask_values(edge_mask, name, described, edge) == expected):
                fail(name, f"{described} must be all {'ones' if expected else 'zeros'}.")
    with verdict.expect("draw only from the rng it is given"):
        for s in ((50, 40), 2000):
            check_uses_rng(lambda rng, s=s: draw(s, rng=rng)[1], name, "bernoulli_mask")
    return verdict


# ------------------------------------------------------------------------- dropout_forward


def _forward_candidates(x, mask, p, inverted):
    """Wrong training outputs that students write, with what each one means."""
    q = 1.0 - p
    wrong = [
        (
            "the units kept are the ones where the mask is 0: use x * mask, not x * (1 - mask)",
            x * (1 - mask) / q if inverted else x * (1 - mask),
        ),
        ("the mask was not applied (no unit was dropped)", x / q if inverted else x),
    ]
    if inverted:
        wrong += [
            (
                "kept units were not scaled: inverted dropout divides them by (1 - p), so that "
                "the expected output equals x",
                x * mask,
            ),
            (
                "kept units were multiplied by (1 - p); inverted dropout DIVIDES them by (1 - p) "
                "in training (multiplying by 1 - p is standard dropout's test-time rule)",
                x * mask * q,
            ),
            (
                "kept units were divided by p; the keep probability is 1 - p, so divide by (1 - p)",
                x * mask / p,
            ),
        ]
    else:
        wrong += [
            (
                "standard dropout (inverted=False) must not scale in training: out = x * mask; "
                "its scaling by (1 - p) happens at evaluation",
                x * mask / q,
            ),
            (
                "standard dropout (inverted=False) must not scale in training: out = x * mask",
                x * mask * q,
            ),
        ]
    return wrong


class ForwardCall:
    """One call of ``dropout_forward`` on a copy of ``x``, made once and examined by several
    properties: the pair it returned, and whether it changed its input."""

    def __init__(self, dropout_forward, x, p, *, training=True, inverted=True, seed=0, rng=None):
        self.x, self.p, self.training, self.inverted = x, p, training, inverted
        self.described = f"dropout_forward(x, p={p}, rng, training={training}, inverted={inverted})"
        rng = np.random.default_rng(seed) if rng is None else rng
        self._result = Memo(lambda: self._call(dropout_forward, rng))

    def _call(self, dropout_forward, rng):
        given = self.x.copy()
        result = call(dropout_forward, "dropout_forward", self.described, given, self.p, rng,
                      training=self.training, inverted=self.inverted)  # fmt: skip
        what = "(out, mask)" if self.training else "(out, None)"
        out, mask = expect_pair(result, "dropout_forward", self.described, what, allow_list=True)
        return given, out, mask

    def succeeded(self) -> bool:
        """Whether the call returned a pair (rather than raised or was interrupted)."""
        return self._result.succeeded()

    def modified_input(self) -> bool:
        given, _, _ = self._result()
        return not np.array_equal(given, self.x, equal_nan=True)

    def out(self) -> np.ndarray:
        _, out, _ = self._result()
        return as_array(out, "dropout_forward", f"out of {self.described}")

    def mask(self) -> np.ndarray:
        """The returned mask as 0/1 floats (training only)."""
        _, _, mask = self._result()
        name = "dropout_forward"
        if mask is None:
            fail(name, f"{self.described} returned mask=None; in training it must return the "
                       "mask it used.")  # fmt: skip
        mask = as_array(mask, name, f"the mask of {self.described}")
        check_shape(mask, self.x.shape, name, f"the mask of {self.described}")
        return mask_values(mask, name, f"the mask returned by {self.described}", self.p)


def _check_training_values(call_: ForwardCall) -> None:
    """``out`` is the formula applied with the returned mask (values compared as float64)."""
    name = "dropout_forward"
    x, p, inverted = call_.x.astype(np.float64), call_.p, call_.inverted
    out, mask = call_.out(), call_.mask()
    check_shape(out, x.shape, name, f"out of {call_.described}")
    with np.errstate(all="ignore"):
        out = out.astype(np.float64)
    if not np.all(np.isfinite(out)):
        fail(name, f"{call_.described} returned NaN or inf values.")
    if 0 < p < 1 and mask.size >= 200 and mask.min() == mask.max():
        fail(
            name,
            f"{call_.described}: the mask it returns {'keeps' if mask.max() else 'drops'} every "
            "unit, so out cannot be checked against it; draw a mask that drops each unit with "
            "probability p.",
        )
    expected = x * mask / (1.0 - p) if inverted else x * mask
    if allclose(out, expected):
        return
    dropped_where_mask_keeps = np.any((out == 0) & (mask == 1) & (x != 0))
    kept_where_mask_drops = np.any((out != 0) & (mask == 0))
    mistake = first_match(_forward_candidates(x, mask, p, inverted), out, allclose)
    if mistake is None and (dropped_where_mask_keeps or kept_where_mask_drops):
        mistake = (
            "the mask you returned is not the one you applied: draw the mask once, "
            "apply it, and return that same mask"
        )
    formula = "x * mask / (1 - p)" if inverted else "x * mask"
    fail(
        name, f"{call_.described}: {mistake or 'out is not ' + formula}. Expected out = {formula}."
    )


def _check_evaluation_values(call_: ForwardCall) -> None:
    """At evaluation: ``(x, None)`` when inverted, ``(x * (1 - p), None)`` when not."""
    name, described, p, inverted = "dropout_forward", call_.described, call_.p, call_.inverted
    _, _, mask = call_._result()
    if mask is not None:
        fail(
            name,
            f"{described} returned a mask; at evaluation no units are dropped, so the "
            "mask must be None (dropout must be off when training=False).",
        )
    out = call_.out()
    check_shape(out, call_.x.shape, name, f"out of {described}")
    x, out = call_.x.astype(np.float64), out.astype(np.float64)
    expected = x if inverted else x * (1.0 - p)
    if allclose(out, expected):
        return
    if np.count_nonzero(out == 0) > np.count_nonzero(x == 0):
        fail(
            name, f"{described} dropped units: dropout must be off at evaluation (training=False)."
        )
    if inverted and allclose(out, x * (1.0 - p)):
        fail(
            name,
            f"{described} scaled by (1 - p); with inverted dropout the scaling happens "
            "in training, and evaluation returns x unchanged.",
        )
    if not inverted and allclose(out, x):
        fail(
            name,
            f"{described} returned x unchanged; standard dropout does not scale in "
            "training, so at evaluation it must multiply by the keep probability: "
            "out = x * (1 - p).",
        )
    if not inverted and allclose(out, x * p):
        fail(
            name, f"{described} multiplied by p; the keep probability is 1 - p: out = x * (1 - p)."
        )
    fail(name, f"{described}: expected out = {'x' if inverted else 'x * (1 - p)'}.")


def check_forward_training(dropout_forward, x, p, *, inverted=True, seed=0, check_rate=True):
    """Check one training-mode call of ``dropout_forward`` on ``x`` in full (shape, dtype, input
    untouched, the mask, the formula); return ``(out, mask)``. Raises on the first failure: for
    hidden tests that examine one call as one property."""
    call_ = ForwardCall(dropout_forward, x, p, inverted=inverted, seed=seed)
    _check_shape_and_dtype(call_)
    _check_input_untouched(call_)
    mask = call_.mask()
    if check_rate:
        check_independent(mask, "dropout_forward", call_.described)
        check_drop_rate(mask, p, "dropout_forward", call_.described)
    _check_training_values(call_)
    return call_.out(), mask


def check_forward_evaluation(dropout_forward, x, p, *, inverted=True):
    """Check one evaluation-mode call of ``dropout_forward`` on ``x`` in full."""
    call_ = ForwardCall(dropout_forward, x, p, training=False, inverted=inverted)
    _check_shape_and_dtype(call_)
    _check_input_untouched(call_)
    _check_evaluation_values(call_)


def _check_shape_and_dtype(call_: ForwardCall) -> None:
    name, described, x = "dropout_forward", call_.described, call_.x
    out = call_.out()
    check_shape(out, x.shape, name, f"out of {described}")
    if not same_dtype(out.dtype, x.dtype):
        fail(
            name,
            f"{described}: out has dtype {out.dtype} for an input of dtype {x.dtype}; "
            "it must keep the input's dtype (a float64 mask upcasts float32 inputs: "
            "cast with .astype(x.dtype)).",
        )


def _check_input_untouched(call_: ForwardCall) -> None:
    if call_.modified_input():
        fail(
            "dropout_forward",
            f"{call_.described} modified its input x in place; compute a new array "
            "(e.g. out = x * mask) instead of x *= mask.",
        )


def check_forward_edges(edges: dict):
    """p = 0 is the identity, p = 1 gives zeros (no NaN); ``edges`` maps (p, inverted) to the
    training-mode calls with p = 0 and p = 1."""
    name = "dropout_forward"
    for inverted in (True, False):
        identity = edges[0.0, inverted]
        if not allclose(identity.out().astype(np.float64), identity.x):
            fail(name, f"{identity.described} must return x unchanged (nothing is dropped).")
        with np.errstate(all="ignore"):
            zeros = edges[1.0, inverted]
            out = zeros.out().astype(np.float64)
        if not np.all(np.isfinite(out)):
            fail(
                name,
                f"{zeros.described} returned NaN or inf: x * mask / (1 - p) divides 0 by 0 "
                "when p = 1. Every unit is dropped, so return zeros.",
            )
        if np.any(out != 0):
            fail(name, f"{zeros.described} must return all zeros (every unit is dropped).")


def check_expectation(dropout_forward, *, p=0.5, value=2.0, n=200_000, seed=0):
    """Inverted dropout keeps the mean: the average training output equals the input."""
    name = "dropout_forward"
    x = np.full(n, value)
    out = ForwardCall(dropout_forward, x, p, seed=seed).out().astype(np.float64)
    mean = float(np.mean(out))
    # The sample mean of value * Bernoulli(1-p) / (1-p) has sd value * sqrt(p / ((1-p) n)).
    band = 6.0 * value * np.sqrt(p / ((1.0 - p) * n))
    if not abs(mean - value) <= band:
        fail(
            name,
            f"the mean of the training output over {n} units was {mean:.4f} for an "
            f"input of {value}; inverted dropout must keep the expected value "
            f"(E[out] = x, allowed: +-{band:.4f}).",
        )


def check_dropout_forward(
    dropout_forward, *, p=0.3, shape=(400, 250), seed=0, dtype=np.float64
) -> Verdict:
    """Check ``dropout_forward(x, p, rng, training=True, inverted=True)`` against the contract.

    Parameters
    ----------
    dropout_forward : callable
        The student's function.
    p : float
        Drop probability for the main checks.
    shape : tuple of int
        Shape of the input (2-D or more, at least 20 rows for the independence check).
    seed : int
        Seed of the input and of the generators.
    dtype : numpy dtype
        Input dtype.
    """
    name = "dropout_forward"
    verdict = Verdict(name)
    data_rng = np.random.default_rng(seed + 100)
    x = (data_rng.standard_normal(shape) + 3.0).astype(dtype)  # nonzero, mostly positive
    small = x[:4, :5].astype(np.float32)
    edges = {(edge, inv): ForwardCall(dropout_forward, x[:4, :5], edge, inverted=inv)
             for edge in (0.0, 1.0) for inv in (True, False)}  # fmt: skip
    training = {inv: ForwardCall(dropout_forward, x, p, inverted=inv, seed=seed)
                for inv in (True, False)}  # fmt: skip
    evaluation = {inv: ForwardCall(dropout_forward, x, p, training=False, inverted=inv)
                  for inv in (True, False)}  # fmt: skip
    small_calls = [
        ForwardCall(dropout_forward, small, p, seed=seed),
        ForwardCall(dropout_forward, small, p, training=False, inverted=False),
    ]
    every = [*training.values(), *evaluation.values(), *small_calls]
    with verdict.expect(
        "return out with the input's shape and dtype (float64 and float32)", side_condition=True
    ):
        for call_ in every:
            _check_shape_and_dtype(call_)
    with verdict.expect("leave its input x unchanged", side_condition=True):
        for call_ in [*every, *edges.values()]:
            if call_ in every or call_.succeeded():
                _check_input_untouched(call_)
    with verdict.expect("draw a 0/1 mask of x.shape dropping each entry with probability p"):
        for call_ in training.values():
            mask = call_.mask()
            check_independent(mask, name, call_.described)
            check_drop_rate(mask, p, name, call_.described)
    with verdict.expect("compute out = x * mask / (1 - p) in training, with the mask it returns"):
        _check_training_values(training[True])
        _check_training_values(small_calls[0])
    with verdict.expect("compute out = x * mask in training when inverted=False"):
        _check_training_values(training[False])
    with verdict.expect("return (x, None) at evaluation, and (x * (1 - p), None) if not inverted"):
        for call_ in [*evaluation.values(), small_calls[1]]:
            _check_evaluation_values(call_)
    with verdict.expect("return x for p = 0 and zeros (never NaN) for p = 1"):
        check_forward_edges(edges)
    with verdict.expect(
        "raise ValueError naming p for p outside [0, 1], in training and evaluation",
        side_condition=True,
    ):
        for bad in (-0.1, 1.5):
            for mode in (True, False):
                expect_value_error(
                    dropout_forward, name, f"dropout_forward(x, p={bad}, rng, training={mode})",
                    small, bad, np.random.default_rng(0), training=mode, naming="p",
                )  # fmt: skip
    with verdict.expect("draw only from the rng it is given"):
        for part in (x[:20, :20], x.ravel()[:2000]):
            check_uses_rng(
                lambda rng, part=part: ForwardCall(dropout_forward, part, p, rng=rng).out(),
                name, "dropout_forward",
            )  # fmt: skip
    with verdict.expect("keep the expected value of x (inverted dropout)", side_condition=True):
        check_expectation(dropout_forward, p=p)
    return verdict


# ----------------------------------------------------------------------- the Dropout module


class BuiltInDropoutUsed(Exception):
    """Raised when a from-scratch module calls one of PyTorch's own dropout functions."""


class _NoBuiltInDropout(TorchFunctionMode):
    """Refuse every PyTorch function whose name says dropout while the student's module runs.

    A torch-function mode sees each call into PyTorch by the function actually called, not by
    the name the student's code used for it: ``F.dropout`` imported under another name before
    the check started, ``torch._VF.dropout``, ``torch.native_dropout``, ``torch.ops.aten``'s
    overloads and an ``nn.Dropout`` held inside the module all arrive here as ``dropout`` or
    ``native_dropout``. The tensor operations a from-scratch module uses (``rand_like``,
    ``bernoulli``, ``bernoulli_``, ``mul``) never carry that name.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or str(func)
        if "dropout" in name.lower():
            raise BuiltInDropoutUsed(name)
        return func(*args, **(kwargs or {}))


def forbid_built_in_dropout() -> contextlib.AbstractContextManager:
    """A context in which PyTorch's own dropout functions raise :class:`BuiltInDropoutUsed`."""
    return _NoBuiltInDropout()


def run_module(module, x, described):
    """Run ``module(x)`` with the built-in dropouts forbidden; return the output tensor."""
    name = "Dropout"
    try:
        with forbid_built_in_dropout():
            out = module(x)
    except BuiltInDropoutUsed as used:
        fail(
            name,
            f"{described} called PyTorch's own dropout ({used}; the same goes for "
            "F.dropout, nn.Dropout and torch.dropout under any name). Build it from tensor "
            "operations: draw a mask with torch.rand or torch.bernoulli and multiply.",
        )
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} raised {type_name(error)}: {error}")
    if not isinstance(out, torch.Tensor):
        fail(name, f"{described} must return a torch.Tensor, got {type_name(out)}.")
    return out


def make_module(Dropout, p):
    module = call(Dropout, "Dropout", f"Dropout(p={p})", p)
    if not isinstance(module, torch.nn.Module):
        fail(
            "Dropout",
            "must be a subclass of torch.nn.Module (class Dropout(nn.Module)) and "
            "call super().__init__() in __init__.",
        )
    return module


class TrainingRun:
    """``Dropout(p)`` in training mode applied once to a positive input that requires grad,
    made on first use and examined by several properties."""

    def __init__(self, Dropout, *, p=0.3, shape=(400, 250), seed=0, dtype=torch.float32):
        self.p, self.shape, self.dtype = p, tuple(shape), dtype
        self.described = (
            f"Dropout(p={p}) in training mode on a {dtype} tensor of shape {tuple(shape)}"
        )
        self._run = Memo(lambda: self._go(Dropout, seed))

    def _go(self, Dropout, seed):
        generator = torch.Generator().manual_seed(seed + 100)
        x = (torch.rand(self.shape, generator=generator, dtype=torch.float64) + 0.5).to(self.dtype)
        x.requires_grad_(True)
        module = make_module(Dropout, self.p)
        module.train()
        torch.manual_seed(seed)
        return x, run_module(module, x, self.described)

    def output(self):
        """The input and the output, checked for shape, dtype and finiteness."""
        x, out = self._run()
        name, described = "Dropout", self.described
        if out.shape != x.shape:
            fail(name, f"{described} returned shape {tuple(out.shape)}; it must keep the shape.")
        if out.dtype != x.dtype:
            fail(name, f"{described} returned dtype {out.dtype}; it must keep the input's dtype.")
        values = out.detach().to(torch.float64)
        if not torch.all(torch.isfinite(values)):
            fail(name, f"{described} returned NaN or inf values.")
        return x, out, values

    def kept(self):
        _, _, values = self.output()
        return values != 0


def check_rate(run: TrainingRun) -> None:
    name, p, described = "Dropout", run.p, run.described
    kept = run.kept()
    dropped = 1.0 - kept.double().mean().item()
    band = binomial_band(kept.numel(), p)
    if abs(dropped - p) <= band:
        return
    if abs(dropped - (1 - p)) <= binomial_band(kept.numel(), 1 - p):
        fail(
            name,
            f"{described} dropped {dropped:.3f} of the units: p is used as the keep "
            "probability. Here (as in torch.nn.Dropout) p is the probability of "
            f"DROPPING a unit, so keep each with probability 1 - p = {1 - p:g}.",
        )
    if dropped < band:
        fail(
            name,
            f"{described} dropped no units: in training mode (self.training is "
            "True) each element must be dropped with probability p.",
        )
    fail(name, f"{described} dropped a fraction {dropped:.3f}; it must be close to {p}.")


def _check_independent(run: TrainingRun) -> None:
    kept = run.kept().reshape(run.shape[0], -1).numpy().astype(np.float64)
    problem = mask_dependence(kept)
    if problem is None:
        return
    if np.all(kept == kept[0]) or np.all(kept == kept[:, :1]):
        problem = "the mask repeats across rows or columns"
    fail(
        "Dropout",
        f"{run.described}: {problem}; draw an independent mask value for every element "
        "(torch.rand(x.shape) or torch.rand_like(x)).",
    )


def _some_kept_some_dropped(run: TrainingRun) -> None:
    """A scale or a gradient is checked on the elements kept: none kept (or all) on a large
    input is no dropout at all, and would make those checks hold vacuously."""
    kept = run.kept()
    if 0 < run.p < 1 and kept.numel() >= 200 and (not kept.any() or kept.all()):
        which = "every element" if kept.all() else "no element"
        fail(
            "Dropout",
            f"{run.described} kept {which}, so neither the scale of kept elements nor the "
            "gradient can be checked; drop each element with probability p.",
        )


def _check_scale(run: TrainingRun) -> None:
    _some_kept_some_dropped(run)
    x, _, values = run.output()
    p, kept = run.p, run.kept()
    scale = values[kept] / x.detach().to(torch.float64)[kept]
    if torch.allclose(scale, torch.full_like(scale, 1.0 / (1.0 - p)), rtol=1e-4):
        return
    seen = scale.mean().item()
    if abs(seen - 1.0) < 1e-4:
        hint = "kept units were not scaled; inverted dropout divides them by (1 - p)"
    elif abs(seen - (1.0 - p)) < 1e-4:
        hint = "kept units were multiplied by (1 - p); divide by (1 - p) instead"
    elif abs(seen - 1.0 / p) < 1e-4:
        hint = "kept units were divided by p; the keep probability is 1 - p"
    else:
        hint = f"kept units were scaled by {seen:.4f}"
    fail("Dropout", f"{run.described}: {hint}. Expected kept units to equal x / (1 - p).")


def _check_gradient(run: TrainingRun) -> None:
    _some_kept_some_dropped(run)
    x, out, _ = run.output()
    name, described = "Dropout", run.described
    if not out.requires_grad or out.grad_fn is None:
        fail(
            name,
            f"{described}: the output is cut off from autograd (does not require grad). "
            "Do not use .detach(), .data, .numpy() or torch.tensor(...) on x: multiply "
            "x by a mask so that gradients flow.",
        )
    (grad,) = torch.autograd.grad(out.sum(), x)
    expected = run.kept().to(torch.float64) / (1.0 - run.p)
    if grad is None or not torch.allclose(grad.to(torch.float64), expected, atol=1e-5):
        fail(
            name,
            f"{described}: the gradient d out / d x must be mask / (1 - p) (the "
            "kept units' scale, zero where dropped).",
        )


def check_module_training(Dropout, *, p=0.3, shape=(400, 250), seed=0, dtype=torch.float32):
    """Check every training-mode property of ``Dropout(p)`` on one input; raise on the first
    failure and return the input, the output (float64) and the kept mask."""
    run = TrainingRun(Dropout, p=p, shape=shape, seed=seed, dtype=dtype)
    for check in (check_rate, _check_independent, _check_scale, _check_gradient):
        check(run)
    x, _, values = run.output()
    return x.detach().to(torch.float64), values, run.kept()


def _check_matches_torch(run: TrainingRun) -> None:
    """The same drop rate as ``torch.nn.Dropout(p)`` (within the band for two independent
    rates) and the same scale of kept units."""
    x, _, values = run.output()
    p, kept = run.p, run.kept()
    x = x.detach().to(torch.float64)
    with torch.random.fork_rng(devices=[]):  # the global state is the student's after a call
        torch.manual_seed(12_345)
        theirs = torch.nn.Dropout(p).train()(torch.ones_like(x))
    their_kept = theirs != 0
    band = binomial_band(x.numel(), p) * 2**0.5
    rate, their_rate = kept.double().mean().item(), their_kept.double().mean().item()
    if abs(rate - their_rate) > band:
        fail(
            "Dropout",
            f"Dropout(p={p}) kept {rate:.3f} of the units; "
            f"torch.nn.Dropout(p={p}) keeps {their_rate:.3f}.",
        )
    scale, their_scale = values[kept] / x[kept], theirs[their_kept].mean()
    if not torch.allclose(scale, their_scale.expand_as(scale)):
        fail(
            "Dropout",
            f"Dropout(p={p}) scales kept units by {scale.mean().item():.4f}; "
            f"torch.nn.Dropout(p={p}) scales them by {their_scale.item():.4f}.",
        )


def check_module_matches_torch(Dropout, *, p=0.3, shape=(400, 250), seed=0, dtype=torch.float32):
    """Compare with ``torch.nn.Dropout(p)``, which has the same semantics; raise on failure."""
    run = TrainingRun(Dropout, p=p, shape=shape, seed=seed, dtype=dtype)
    _check_matches_torch(run)


def check_module_generator(Dropout, *, p=0.5):
    """The mask must come from torch's generator: the same torch seed, the same mask."""
    module = make_module(Dropout, p)
    module.train()
    np.random.seed(1)  # noqa: NPY002 - moving NumPy's global state on purpose
    torch.manual_seed(11)
    first = run_module(module, torch.ones(64, 64), f"Dropout(p={p})")
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(11)
    again = run_module(module, torch.ones(64, 64), f"Dropout(p={p})")
    torch.manual_seed(12)
    other = run_module(module, torch.ones(64, 64), f"Dropout(p={p})")
    if not torch.equal(first, again):
        fail(
            "Dropout",
            "two calls after the same torch.manual_seed(...) gave different masks; "
            "draw the mask from torch's generator (torch.rand, torch.bernoulli), "
            "not from NumPy or Python's random module.",
        )
    if torch.equal(first, other):
        fail(
            "Dropout",
            "gave the same mask after different torch seeds; the mask must be "
            "drawn afresh from torch's generator on every call.",
        )


def check_module_keeps_input(Dropout, *, p=0.5):
    """Training mode must not write into ``x`` (an input that does not require grad, where
    in-place operations would go unnoticed by autograd)."""
    module = make_module(Dropout, p)
    module.train()
    x = torch.linspace(0.5, 2.0, 600, dtype=torch.float32).reshape(20, 30)
    before = x.clone()
    described = f"Dropout(p={p}) in training mode"
    run_module(module, x, described)
    if not torch.equal(x, before):
        fail(
            "Dropout",
            f"{described} modified its input x in place (x.mul_, x *= ..., x[...] = 0): "
            "leave x unchanged and return a new tensor such as x * mask / (1 - p).",
        )


def check_module_evaluation(Dropout, *, p=0.3, dtype=torch.float32):
    """In evaluation mode the module is the identity, gradient included."""
    x = torch.linspace(0.5, 2.0, 24, dtype=dtype).reshape(2, 3, 4).requires_grad_(True)
    module = make_module(Dropout, p)
    module.eval()
    described = f"Dropout(p={p}) after .eval()"
    out = run_module(module, x, described)
    if out.shape != x.shape or out.dtype != x.dtype:
        fail("Dropout", f"{described} must keep shape and dtype.")
    if not torch.equal(out, x):
        if torch.any(out == 0):
            fail(
                "Dropout",
                f"{described} still dropped units: check self.training and return "
                "x unchanged when it is False (model.eval() sets it to False).",
            )
        fail(
            "Dropout",
            f"{described} must return x unchanged (inverted dropout needs no "
            "scaling at evaluation).",
        )
    grad = torch.autograd.grad(out.sum(), x, allow_unused=True)[0] if out.requires_grad else None
    if grad is None or not torch.equal(grad, torch.ones_like(x)):
        fail(
            "Dropout",
            f"{described} cut the gradient: at evaluation the layer is the identity, so "
            "d out / d x = 1 (return x itself, not x.detach() or a new tensor).",
        )


def check_module_edges(Dropout):
    """p = 0 is the identity, p = 1 gives zeros (no NaN)."""
    x = torch.linspace(0.5, 2.0, 30).reshape(5, 6)
    module = make_module(Dropout, 0.0)
    module.train()
    if not torch.allclose(run_module(module, x.clone(), "Dropout(p=0)"), x):
        fail("Dropout", "Dropout(p=0) in training must return x unchanged.")
    module = make_module(Dropout, 1.0)
    module.train()
    out = run_module(module, x.clone(), "Dropout(p=1)")
    if not torch.all(torch.isfinite(out)):
        fail(
            "Dropout",
            "Dropout(p=1) returned NaN or inf: dividing by 1 - p = 0; every unit is "
            "dropped, so return zeros.",
        )
    if torch.any(out != 0):
        fail("Dropout", "Dropout(p=1) in training must return all zeros.")


def check_module_rejects_bad_p(Dropout):
    """``p`` outside [0, 1] raises ValueError, when the module is made or when it runs
    (COURSE-SPEC.md does not prescribe the message)."""
    x = torch.linspace(0.5, 2.0, 30).reshape(5, 6)

    def build_and_run(p):
        module = Dropout(p)
        module.train()
        return module(x)

    for bad in (-0.2, 1.5):
        expect_value_error(build_and_run, "Dropout", f"Dropout(p={bad})", bad)


def module_training_properties(verdict: Verdict, run: TrainingRun) -> None:
    """Add the properties of one training run to ``verdict``."""
    with verdict.expect("keep the input's shape and dtype, with no NaN", side_condition=True):
        run.output()
    with verdict.expect("drop each element with probability p in training mode"):
        check_rate(run)
    with verdict.expect("draw an independent mask value for every element", side_condition=True):
        _check_independent(run)
    with verdict.expect("scale kept elements by 1 / (1 - p)"):
        _check_scale(run)
    with verdict.expect("let gradients flow: d out / d x = mask / (1 - p)"):
        _check_gradient(run)
    with verdict.expect("drop and scale as torch.nn.Dropout does"):
        _check_matches_torch(run)


def check_dropout_module(Dropout, *, p=0.3) -> Verdict:
    """Check the student's ``Dropout`` module class against the contract.

    Parameters
    ----------
    Dropout : type
        The student's ``torch.nn.Module`` subclass.
    p : float
        Drop probability for the statistical checks.
    """
    verdict = Verdict("Dropout")
    module_training_properties(verdict, TrainingRun(Dropout, p=p))
    with verdict.expect("work on float64 tensors of another shape too"):
        check_module_training(Dropout, p=p, shape=(300, 40), dtype=torch.float64, seed=3)
    with verdict.expect("return x unchanged in evaluation mode", side_condition=True):
        check_module_evaluation(Dropout, p=p)
    with verdict.expect("draw its mask from torch's generator"):
        check_module_generator(Dropout)
    with verdict.expect("leave x unchanged in training mode", side_condition=True):
        check_module_keeps_input(Dropout)
    with verdict.expect("return x for p = 0 and zeros (never NaN) for p = 1"):
        check_module_edges(Dropout)
    with verdict.expect("raise ValueError for p outside [0, 1]", side_condition=True):
        check_module_rejects_bad_p(Dropout)
    return verdict


# --------------------------------------------------------------------------------- predict


def _modes(model):
    return [m.training for m in model.modules()]


class GraphProbe(torch.nn.Module):
    """A layer that passes its input through and records whether that input was part of an
    autograd graph (it requires grad only if the forward pass builds one): put it after a
    layer with parameters to see whether ``predict`` ran the model under ``torch.no_grad()``.

    ``report``, if given, is also called when a graph is built: a function of the grader's,
    which the sandbox holds as a call back to the grader, so that a copy of the model (or a
    reset of its buffers) cannot hide the graph."""

    def __init__(self, report=None):
        super().__init__()
        self.register_buffer("built_graph", torch.zeros((), dtype=torch.bool))
        self.report = report

    def forward(self, x):
        if x.requires_grad:
            self.built_graph.fill_(True)
            if self.report is not None:
                self.report()
        return x


def probed_model(*layers, report=None) -> torch.nn.Sequential:
    """``layers`` with a :class:`GraphProbe` (reporting to ``report``) after the first."""
    return torch.nn.Sequential(layers[0], GraphProbe(report), *layers[1:])


def _graph_built(model) -> bool:
    return any(bool(m.built_graph) for m in model.modules() if isinstance(m, GraphProbe))


def _reset_probes(model) -> None:
    for module in model.modules():
        if isinstance(module, GraphProbe):
            module.built_graph.fill_(False)


class PredictCall:
    """``predict(model, x)`` called twice on a model in a given mode, with what it left behind."""

    def __init__(self, predict, model, x, *, start_training=True):
        self.model, self.x, self.start_training = model, x, start_training
        mode = "training" if start_training else "evaluation"
        self.described = f"predict(model, x) on a model in {mode} mode"
        self._result = Memo(lambda: self._go(predict))

    def _go(self, predict):
        model, x, name = self.model, self.x, "predict"
        model.train(self.start_training)
        before = _modes(model)
        params = [p.detach().clone() for p in model.parameters()]
        with torch.no_grad():
            model.eval()
            expected = model(x)
        model.train(self.start_training)
        _reset_probes(model)
        torch.manual_seed(0)
        first = call(predict, name, self.described, model, x)
        after = _modes(model)
        self.graph_built = _graph_built(model)
        changed = any(
            not torch.equal(a, b) for a, b in zip(params, model.parameters(), strict=True)
        )
        model.train(self.start_training)
        torch.manual_seed(1)
        second = call(predict, name, self.described, model, x)
        for result in (first, second):
            if not isinstance(result, torch.Tensor):
                fail(name, f"{self.described} must return a torch.Tensor, got "
                           f"{type(result).__name__}.")  # fmt: skip
        return before, after, changed, expected, first, second

    def check_output(self) -> None:
        _, _, _, expected, first, second = self._result()
        if first.shape != expected.shape:
            fail("predict", f"{self.described} returned shape {tuple(first.shape)}; the "
                            f"model's output has shape {tuple(expected.shape)}.")  # fmt: skip
        if not torch.equal(first, second):
            fail(
                "predict",
                f"{self.described} gave two different outputs for the same input: dropout was "
                "still active. Call model.eval() before the forward pass.",
            )
        if not torch.allclose(first.detach().to(expected.dtype), expected, atol=1e-6):
            fail(
                "predict",
                f"{self.described} gave a different output than the model in evaluation mode: "
                "some module still behaved as in training (batch normalisation, say, or "
                "dropout). model.eval() switches every module to evaluation.",
            )

    def check_no_graph(self) -> None:
        _, _, _, _, first, _ = self._result()
        if first.requires_grad or self.graph_built:
            fail(
                "predict",
                f"{self.described} built an autograd graph during the forward pass (detaching "
                "the result afterwards does not undo that). Run the forward pass inside "
                "`with torch.no_grad():`.",
            )

    def check_mode_restored(self) -> None:
        before, after, _, _, _, _ = self._result()
        if after == before:
            return
        if self.start_training:
            fail(
                "predict",
                f"{self.described} left the model in evaluation mode; restore the mode it "
                "had before the call (remember model.training, then model.train(it)).",
            )
        fail(
            "predict",
            f"{self.described} switched the model to training mode; restore the mode it had "
            "before the call instead of calling model.train() unconditionally.",
        )

    def check_parameters_kept(self) -> None:
        _, _, changed, _, _, _ = self._result()
        if changed:
            fail("predict", f"{self.described} changed the model's parameters; predicting "
                            "must not train.")  # fmt: skip


def check_predict_on(predict, model, x, *, start_training=True):
    """Check ``predict(model, x)`` for a model containing dropout, starting in a given mode;
    raise on the first failure."""
    run = PredictCall(predict, model, x, start_training=start_training)
    run.check_parameters_kept()
    run.check_no_graph()
    run.check_output()
    run.check_mode_restored()


def check_predict_follows_the_model(predict, model, x) -> None:
    """``predict`` computes the model's output as the model is at each call: after its last
    layer's bias changes, the prediction changes with it (nothing is cached)."""
    name = "predict"
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    model.eval()
    call(predict, name, "predict(model, x)", model, x)
    saved = last.bias.detach().clone()
    with torch.no_grad():
        last.bias.add_(1.0)
        expected = model.eval()(x)
    try:
        second = call(predict, name, "predict(model, x)", model, x)
    finally:
        with torch.no_grad():
            last.bias.copy_(saved)
    if not isinstance(second, torch.Tensor) or second.shape != expected.shape:
        fail(name, f"predict(model, x) must return the model's output, got {type_name(second)}.")
    if not torch.allclose(second.detach().to(expected.dtype), expected, atol=1e-6):
        fail(
            name,
            "predict(model, x) gave an output that does not follow the model: after the "
            "model's weights changed, it returned something else than model(x) (a cached "
            "result?). Compute the forward pass on every call.",
        )


def predict_properties(verdict: Verdict, predict, model, x) -> None:
    """Add the properties of ``predict`` on ``model`` (both starting modes) to ``verdict``."""
    with verdict.expect("compute the model's output as the model is at each call"):
        check_predict_follows_the_model(predict, model, x)
    runs = [PredictCall(predict, model, x, start_training=t) for t in (True, False)]
    with verdict.expect("return the model's output in evaluation mode (dropout off)"):
        for run in runs:
            run.check_output()
    with verdict.expect(
        "build no autograd graph (the result does not require grad)", side_condition=True
    ):
        for run in runs:
            run.check_no_graph()
    with verdict.expect(
        "leave the model in the mode it was in before the call", side_condition=True
    ):
        for run in runs:
            run.check_mode_restored()
    with verdict.expect("leave the model's parameters unchanged", side_condition=True):
        for run in runs:
            run.check_parameters_kept()


def check_predict(predict, *, seed=0) -> Verdict:
    """Check the student's ``predict(model, x)`` against the contract.

    Parameters
    ----------
    predict : callable
        The student's function.
    seed : int
        Seed of the model's weights and of the input.
    """
    torch.manual_seed(seed)
    model = probed_model(
        torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 3)
    )
    x = torch.randn(16, 8)
    verdict = Verdict("predict")
    predict_properties(verdict, predict, model, x)
    return verdict


# -------------------------------------------------------------------------- dropout_moments

MOMENTS = "dropout_moments"

#: Masks behind each measured moment: the variance is measured to about 1 %.
MOMENT_DRAWS = 400_000

#: Relative tolerance of a moment against its measurement (several standard errors).
MOMENT_RTOL = 0.03

#: The activations and drop probabilities the check asks about.
MOMENT_CASES = ((2.0, 0.5), (-1.5, 0.2), (0.7, 0.8))


def measured_moments(y: float, p: float, inverted: bool, *, seed: int = 0) -> tuple[float, float]:
    """The mean and variance of one unit's dropout output, measured over ``MOMENT_DRAWS``
    masks: a simulation of the layer (each unit kept with probability ``1 - p``, and divided
    by ``1 - p`` when inverted), not a formula."""
    kept = np.random.default_rng(seed).random(MOMENT_DRAWS) >= p
    out = np.where(kept, y / (1.0 - p) if inverted else y, 0.0)
    return float(out.mean()), float(out.var())


def _near(value: float, measured: float, scale: float) -> bool:
    return bool(np.isfinite(value)) and abs(value - measured) <= MOMENT_RTOL * scale + 1e-12


def moments_of(dropout_moments, y, p, inverted) -> tuple[str, float, float]:
    """Call the student's function on one activation; return (described, mean, variance)."""
    described = f"dropout_moments({y}, p={p}, inverted={inverted})"
    pair = expect_pair(
        call(dropout_moments, MOMENTS, described, y, p, inverted=inverted),
        MOMENTS, described, "(mean, variance)", allow_list=True,
    )  # fmt: skip
    mean = as_number(pair[0], MOMENTS, f"the mean of {described}")
    return described, mean, as_number(pair[1], MOMENTS, f"the variance of {described}")


def _moment_mistake(y, p, inverted, mean, var, mine: tuple[float, float]) -> str:
    """What a wrong pair most likely means, from ``mine`` (the measured moments of this kind of
    dropout) and a measurement of the other kind."""
    other = measured_moments(y, p, not inverted)
    scale = max(abs(mine[1]), abs(other[1]), y * y * 0.01)
    kind, other_kind = ("inverted", "standard") if inverted else ("standard", "inverted")
    kept = (
        "with inverted dropout a kept unit outputs y / (1 - p)"
        if inverted
        else "with standard dropout a kept unit outputs y itself, unscaled"
    )
    wrong = [
        part
        for part, value, index, size in (("mean", mean, 0, abs(y)), ("variance", var, 1, scale))
        if not _near(value, mine[index], size) and _near(value, other[index], size)
    ]
    if wrong:
        verb = "is" if len(wrong) == 1 else "are"
        return f"the {' and the '.join(wrong)} {verb} {other_kind} dropout's, not {kind}'s: {kept}."
    if _near(mean, mine[1], scale) and _near(var, mine[0], abs(y)):
        return "mean and variance are swapped: return (mean, variance)."
    if _near(var, np.sqrt(mine[1]), max(np.sqrt(abs(mine[1])), 1e-3)):
        return "the second value is the standard deviation; return the variance (its square)."
    return ""


def check_moment_case(dropout_moments, y, p, inverted) -> None:
    """The pair for one activation agrees with the measured moments; raise if not."""
    described, mean, var = moments_of(dropout_moments, y, p, inverted)
    m_mean, m_var = measured_moments(y, p, inverted)
    if _near(mean, m_mean, abs(y)) and _near(var, m_var, max(m_var, 1e-12)):
        return
    mistake = _moment_mistake(y, p, inverted, mean, var, (m_mean, m_var))
    fail(
        MOMENTS,
        f"{described} returned ({mean:.4g}, {var:.4g}); over {MOMENT_DRAWS:,} masks the output "
        f"measures mean {m_mean:.4g} and variance {m_var:.4g}"
        + (f": {mistake}" if mistake else "."),
    )


def check_moments_elementwise(dropout_moments, ys, p, inverted) -> None:
    """An array of activations gives arrays of their shape, each entry the scalar answer."""
    described = f"dropout_moments(y of shape {ys.shape}, p={p}, inverted={inverted})"
    try:
        result = call(dropout_moments, MOMENTS, described, ys, p, inverted=inverted)
    except ContractViolation as error:
        fail(MOMENTS, f"{str(error).removeprefix(MOMENTS + ': ')} An array of activations "
                      "must work too: compute element by element, with NumPy operations "
                      "rather than float(y) or the math module.")  # fmt: skip
    pair = expect_pair(result, MOMENTS, described, "(mean, variance)", allow_list=True)
    # the student's answers for the entries one at a time, asked once: (mean, variance) each
    one_by_one = Memo(
        lambda: np.array(
            [moments_of(dropout_moments, float(y), p, inverted)[1:] for y in ys.ravel()]
        )
    )
    for index, (part, label) in enumerate(zip(pair, ("mean", "variance"), strict=True)):
        got = np.asarray(part, dtype=np.float64)
        check_shape(got, ys.shape, MOMENTS, f"the {label} of {described}")
        if not allclose(got.ravel(), one_by_one()[:, index]):
            fail(MOMENTS, f"the {label} of {described} differs from your answers for its entries "
                          "one at a time: compute it element by element.")  # fmt: skip


def moments_properties(verdict: Verdict, dropout_moments, cases, ys) -> None:
    """Add the properties of ``dropout_moments`` on ``cases`` and the array ``ys``."""
    for inverted, kind in ((True, "inverted"), (False, "standard")):
        with verdict.expect(f"give the mean and variance of {kind} dropout's output"):
            for y, p in cases:
                check_moment_case(dropout_moments, y, p, inverted)
    with verdict.expect("give mean y and variance 0 when nothing is dropped (p = 0)"):
        for inverted in (True, False):
            check_moment_case(dropout_moments, float(ys.flat[0]), 0.0, inverted)
    with verdict.expect("work element by element on an array of activations"):
        check_moments_elementwise(dropout_moments, ys, cases[0][1], True)


def check_dropout_moments(dropout_moments, *, cases=MOMENT_CASES, seed=0) -> Verdict:
    """Check ``dropout_moments(y, p, inverted=True)``: the mean and variance, over the mask, of
    one unit's output, for inverted and standard dropout, element by element."""
    ys = np.random.default_rng(seed).normal(size=(2, 3)).round(3) + 0.5
    verdict = Verdict(MOMENTS)
    moments_properties(verdict, dropout_moments, cases, ys)
    return verdict


# ----------------------------------------------------------------------- dropout_experiment

EXPERIMENT = "dropout_experiment"

#: Sizes of the digits split the experiment uses (``digits_split(300, seed=0)``).
EXPERIMENT_TRAIN, EXPERIMENT_TEST = 300, 1497


@dataclass(frozen=True)
class ExperimentSpec:
    """The contract of an experiment function: ``name(keys, seed=0, epochs=...)`` returns
    ``{key: (train_error, test_error, *extra)}`` for the digits split."""

    name: str
    key: str  # what each key is, e.g. "p"
    extra: tuple[str, ...] = ()  # further numbers of each entry, after the two error rates
    #: How to seed it, for the message of a run that cannot be repeated.
    seeding: str = (
        "torch.manual_seed(seed) before building the network; the masks come from torch's "
        "generator too"
    )

    @property
    def entry(self) -> str:
        return "(" + ", ".join(("train_error", "test_error", *self.extra)) + ")"


DROPOUT_EXPERIMENT = ExperimentSpec(EXPERIMENT, "p")


def _rate_of(value, count: int, what: str, described: str, name: str) -> float:
    """An error rate measured on ``count`` images: a fraction that is a multiple of 1/count."""
    rate = as_number(value, name, f"the {what} of {described}")
    if not 0.0 <= rate <= 1.0:
        fail(name, f"{described}: the {what} is {rate:.4g}; an error rate is a FRACTION "
                   "between 0 and 1, not a percentage.")  # fmt: skip
    wrong = rate * count
    if abs(wrong - round(wrong)) > 1e-6 * count:
        sizes = f"{EXPERIMENT_TRAIN} training and {EXPERIMENT_TEST} test images"
        fail(name, f"{described}: the {what} {rate:.6g} is not a whole number of the "
                   f"{count} images it is measured on (digits_split(300, seed=0) has "
                   f"{sizes}).")  # fmt: skip
    return rate


def experiment_results(function, spec: ExperimentSpec, keys, seed, epochs) -> dict:
    """Run the student's experiment once; return its results, read as {key: (train, test,
    *extra)}."""
    name, k = spec.name, spec.key
    described = f"{name}({list(keys)}, seed={seed}, epochs={epochs})"
    result = call(function, name, described, list(keys), seed=seed, epochs=epochs)
    if not isinstance(result, dict):
        fail(name, f"{described} must return a dict {{{k}: {spec.entry}}}, got "
                   f"{type_name(result)}.")  # fmt: skip
    got = sorted(float(as_number(key, name, f"a key of {described}")) for key in result)
    if got != sorted(float(key) for key in keys):
        fail(name, f"{described} returned results for {k} = {got}; one per {k} asked for, "
                   f"{sorted(keys)}.")  # fmt: skip
    read = {}
    for key, entry in result.items():
        if not isinstance(entry, (tuple, list)) or len(entry) != 2 + len(spec.extra):
            fail(name, f"{described}: each value must be a tuple {spec.entry}, got "
                       f"{type_name(entry)}.")  # fmt: skip
        at = float(as_number(key, name, described))
        read[at] = (
            _rate_of(entry[0], EXPERIMENT_TRAIN, f"training error for {k}={at}", described, name),
            _rate_of(entry[1], EXPERIMENT_TEST, f"test error for {k}={at}", described, name),
            *(
                as_number(v, name, f"the {x} for {k}={at}")
                for v, x in zip(entry[2:], spec.extra, strict=True)
            ),
        )
    return read


def experiment_properties(
    verdict: Verdict, function, keys, seed, epochs, spec: ExperimentSpec = DROPOUT_EXPERIMENT
) -> Memo:
    """Add the properties of an experiment: its results' form, and a rerun with the same seed
    giving the same numbers (what can be checked without luck). Returns the first run."""
    first = Memo(lambda: experiment_results(function, spec, keys, seed, epochs))
    with verdict.expect(
        f"return {{{spec.key}: {spec.entry}}}, error rates measured on the 300 training and "
        "1497 test images"
    ):
        first()
    with verdict.expect("give the same numbers when rerun with the same seed"):
        again = experiment_results(function, spec, keys, seed, epochs)
        same = again.keys() == first().keys() and all(
            np.array_equal(np.array(again[k]), np.array(first()[k]), equal_nan=True) for k in again
        )
        if not same:
            fail(spec.name, f"two runs with seed={seed} gave {first()} and then {again}: "
                            f"seed every source of randomness from seed ({spec.seeding}), so "
                            "that the experiment can be rerun.")  # fmt: skip
    return first


def check_dropout_experiment(dropout_experiment, *, ps=(0.0, 0.5), seed=0, epochs=3) -> Verdict:
    """Check ``dropout_experiment(ps, seed=0, epochs=60)``: one training run of the student's
    network per drop probability, its errors measured on the digits split, reproducibly."""
    verdict = Verdict(EXPERIMENT)
    experiment_properties(verdict, dropout_experiment, ps, seed, epochs)
    return verdict
