"""Contract checks for the NumPy functions: bernoulli_mask, dropout_forward, dropout_backward,
max_norm.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the contract in COURSE-SPEC.md, so a test cell's points are shared among them. Every
check takes keyword arguments for its inputs so that hidden tests can examine the same properties
on inputs the student has not seen. The helpers that examine one aspect (``check_drop_rate``,
``check_independent``, ``check_uses_rng``, ...) raise :class:`ContractViolation` and are used
inside a property's block.
"""

from __future__ import annotations

import numpy as np

from .core import (
    Memo,
    Verdict,
    allclose,
    as_array,
    binomial_band,
    call,
    check_shape,
    expect_pair,
    expect_value_error,
    fail,
    first_match,
    same_dtype,
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


# ------------------------------------------------------------------------ dropout_backward


def _backward_expected(dout, mask, p, inverted):
    return dout * mask / (1.0 - p) if inverted else dout * mask


def _backward_mistake(grad, dout, mask, p, inverted) -> str:
    """Name what a wrong gradient did."""
    if not np.array_equal(grad == 0, (mask == 0) | (dout == 0)):
        return (
            "the gradient is not zero exactly where the forward mask dropped units. The "
            "backward pass must reuse the forward pass's mask (passed in as mask); it must "
            "never draw a new one"
        )
    candidates = (
        [
            (
                "the gradient was not scaled: inverted dropout's forward pass divides by "
                "(1 - p), so its gradient is dout * mask / (1 - p)",
                dout * mask,
            ),
            (
                "the gradient was multiplied by (1 - p); it must be divided by (1 - p)",
                dout * mask * (1 - p),
            ),  # fmt: skip
        ]
        if inverted
        else [
            (
                "standard dropout's forward pass is x * mask, so its gradient is dout * mask, "
                "with no 1 / (1 - p)",
                dout * mask / (1 - p),
            ),
        ]
    )
    return first_match(candidates, grad, allclose) or "wrong gradient"


def check_dropout_backward(
    dropout_backward, *, p=0.4, shape=(30, 20), seed=0, dtype=np.float64
) -> Verdict:
    """Check ``dropout_backward(dout, mask, p, inverted=True)`` against the contract.

    The mask is a fixed pattern, not a random draw, so a backward pass that draws a new mask
    instead of reusing the forward pass's is caught.
    """
    name = "dropout_backward"
    verdict = Verdict(name)
    rng = np.random.default_rng(seed)
    dout = (rng.standard_normal(shape) + 2.0).astype(dtype)
    mask = (np.indices(shape).sum(axis=0) % 3 != 0).astype(np.float64)  # a pattern rng never gives

    def run(inverted, given_mask=mask, p_=p):
        kind = "a boolean mask" if given_mask.dtype == bool else "mask"
        described = f"dropout_backward(dout, {kind}, p={p_}, inverted={inverted})"
        given = dout.copy()
        grad = call(dropout_backward, name, described, given, given_mask.copy(), p_,
                    inverted=inverted)  # fmt: skip
        return described, given, as_array(grad, name, f"the gradient of {described}")

    calls = {inverted: Memo(lambda inverted=inverted: run(inverted)) for inverted in (True, False)}
    others = [Memo(lambda: run(True, mask.astype(bool))), Memo(lambda: run(True, p_=0.0))]
    with verdict.expect(
        "return a gradient of dout's shape and dtype, leaving dout unchanged", side_condition=True
    ):
        for result in [*calls.values(), *[o for o in others if o.succeeded()]]:
            described, given, grad = result()
            if not np.array_equal(given, dout):
                fail(name, f"{described} modified dout in place.")
            check_shape(grad, shape, name, "the gradient")
            if not same_dtype(grad.dtype, dout.dtype):
                fail(name, f"{described} returned dtype {grad.dtype} for dout of dtype "
                           f"{dout.dtype}.")  # fmt: skip
    with verdict.expect("take the boolean mask dropout_forward returns as 0/1"):
        described, _, grad = others[0]()
        check_shape(grad, shape, name, "the gradient")
        expected = _backward_expected(dout.astype(np.float64), mask, p, True)
        if not allclose(grad.astype(np.float64), expected):
            fail(name, f"{described} must equal dout * mask / (1 - p), the mask read as 0/1.")
    for inverted, formula in ((True, "dout * mask / (1 - p)"), (False, "dout * mask")):
        with verdict.expect(f"return {formula} when inverted={inverted}, reusing the mask"):
            described, _, grad = calls[inverted]()
            check_shape(grad, shape, name, "the gradient")
            grad = grad.astype(np.float64)
            expected = _backward_expected(dout.astype(np.float64), mask, p, inverted)
            if not allclose(grad, expected):
                mistake = _backward_mistake(grad, dout.astype(np.float64), mask, p, inverted)
                fail(name, f"{described}: {mistake}. Expected {formula}.")
    with verdict.expect("return zeros (no NaN) for p = 1", side_condition=True):
        described = "dropout_backward(dout, mask, p=1, inverted=True)"
        with np.errstate(all="ignore"):
            grad = as_array(call(dropout_backward, name, described, dout, np.zeros(shape), 1.0),
                            name, "the gradient").astype(np.float64)  # fmt: skip
        if not np.all(np.isfinite(grad)) or np.any(grad != 0):
            fail(name, f"{described} must return all zeros (no NaN): every unit was dropped.")
    return verdict


# -------------------------------------------------------------------------------- max_norm


def _max_norm_input(c, n_in, n_out, seed, dtype):
    """Columns longer than ``c``, shorter than ``c`` and a zero column; rows with other norms
    than the columns, so projecting rows, the whole matrix, or every column is told apart."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out))
    target = np.linspace(0.3 * c, 3.0 * c, n_out)  # column norms from well inside to 3c
    W = W / np.linalg.norm(W, axis=0) * target
    W[:, n_out // 2] = 0.0
    return W.astype(dtype)


def _max_norm_candidates(W, c):
    norms = np.linalg.norm(W, axis=0)
    row_norms = np.linalg.norm(W, axis=1, keepdims=True)
    total = np.linalg.norm(W)
    safe = np.where(norms > 0, norms, 1.0)
    return [
        (
            "the rows were projected; each hidden unit's incoming weights are a COLUMN W[:, j] "
            "(x @ W), so take norms with axis=0",
            W * np.minimum(1.0, c / np.where(row_norms > 0, row_norms, 1.0)),
        ),
        (
            "the whole matrix was rescaled by its overall norm; the constraint is on each column "
            "separately",
            W * min(1.0, c / total),
        ),
        (
            "columns shorter than c were scaled up to norm c; the projection leaves a column "
            "inside the ball unchanged (rescale only where norm > c)",
            W * (c / safe),
        ),
        (
            "the squared norm was compared with c; the constraint is ||w||_2 <= c on the norm "
            "itself",
            W * np.minimum(1.0, c / safe**2),
        ),
    ]


def check_max_norm(max_norm, *, c=3.0, n_in=20, n_out=12, seed=0, dtype=np.float64) -> Verdict:
    """Check ``max_norm(W, c)`` against the contract."""
    name = "max_norm"
    verdict = Verdict(name)
    W = _max_norm_input(c, n_in, n_out, seed, dtype)
    described = f"max_norm(W of shape {W.shape}, c={c})"

    def run(matrix=W):
        given = matrix.copy()
        return given, as_array(call(max_norm, name, described, given, c), name, "the result")

    result = Memo(run)
    one_long = W.copy()  # only its last column is longer than c
    one_long[:, :-1] *= 0.9 * c / np.maximum(np.linalg.norm(one_long[:, :-1], axis=0), c)
    single = Memo(lambda: run(one_long))
    with verdict.expect(
        "return a new array of W's shape and dtype, leaving W unchanged", side_condition=True
    ):
        for matrix, outcome in ((W, result), (one_long, single)):
            given, projected = outcome()
            if not np.array_equal(given, matrix):
                fail(name, f"{described} modified W in place; return a new array.")
            check_shape(projected, W.shape, name, "the result")
            if not same_dtype(projected.dtype, W.dtype):
                fail(name, f"{described} returned dtype {projected.dtype} for W of dtype "
                           f"{W.dtype}.")  # fmt: skip
    with verdict.expect("leave a zero column zero (no NaN)", side_condition=True):
        _, projected = result()
        check_shape(projected, W.shape, name, "the result")
        column = projected[:, n_out // 2].astype(np.float64)
        if not np.all(np.isfinite(column)) or np.any(column != 0):
            fail(
                name,
                f"{described} returned NaN (or nonzero values) for a zero column: a zero column "
                "has norm 0, and dividing by it gives 0/0. It is inside the ball and must stay "
                "zero.",
            )
    with verdict.expect("project each column onto the ball of radius c"):
        _, projected = result()
        check_shape(projected, W.shape, name, "the result")
        Wf, got = W.astype(np.float64), projected.astype(np.float64)
        keep = np.arange(n_out) != n_out // 2  # the zero column is the property above
        norms = np.linalg.norm(Wf, axis=0)
        expected = Wf * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))
        if not allclose(got[:, keep], expected[:, keep]):
            mistake = first_match(
                [(m, w[:, keep]) for m, w in _max_norm_candidates(Wf, c)], got[:, keep], allclose
            )
            mistake = mistake or "the columns are not projected onto the ball of radius c"
            fail(
                name,
                f"{described}: {mistake}. Expected each column w to become w * min(1, c / ||w||).",
            )
    with verdict.expect("raise ValueError for c <= 0", side_condition=True):
        for bad in (0.0, -1.0):
            expect_value_error(max_norm, name, f"max_norm(W, c={bad})", W, bad)
    return verdict
