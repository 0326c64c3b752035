"""Contract checks of exercise 08 (variants of dropout): ``gaussian_dropout_forward``,
``dropconnect_forward``, ``spatial_dropout_forward``, ``locked_dropout`` and
``kept_throughout``.

The contracts, as COURSE-SPEC.md and the exercise state them (``p`` the drop probability,
randomness only from ``rng``, inputs never modified):

- ``gaussian_dropout_forward(x, p, rng, training=True)`` returns ``(x * noise, noise)`` with
  ``noise`` independent normal variables of mean 1 and variance ``p / (1 - p)``, of ``x``'s
  shape; ``(x, None)`` in evaluation; ``p = 0`` gives ``x`` back.
- ``dropconnect_forward(x, W, b, p, rng, training=True)`` returns
  ``(x @ (W * mask) / (1 - p) + b, mask)``, ``mask`` a 0/1 keep-mask of ``W.shape`` for the
  whole batch, the bias never dropped; ``(x @ W + b, None)`` in evaluation; with ``p = 1`` in
  training, ``b`` for every example.
- ``spatial_dropout_forward(x, p, rng, training=True)``: ``x`` of shape ``(N, C, H, W)``, mask
  ``(N, C, 1, 1)``; ``locked_dropout(x, p, rng, training=True)``: ``x`` of shape ``(T, N, D)``,
  mask ``(1, N, D)``; both return ``(x * mask / (1 - p), mask)``, and ``(x, None)`` in
  evaluation.
- ``kept_throughout(p, steps, locked)``: the probability that a unit is kept at every one of
  ``steps`` time steps, with a fresh mask per step or one locked mask.

Random results are compared with their distribution within :data:`~.core.SIGMAS` standard
deviations; given the mask (or noise) a function returns, its output is compared exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bernoulli_masks import check_drop_rate, check_independent, check_uses_rng, mask_values
from .core import (
    SIGMAS,
    Memo,
    Verdict,
    agrees_with_exact,
    agrees_with_measurement,
    allclose,
    as_number,
    call,
    expect_pair,
    fail,
    type_name,
)

GAUSSIAN = "gaussian_dropout_forward"
DROPCONNECT = "dropconnect_forward"
SPATIAL = "spatial_dropout_forward"
LOCKED = "locked_dropout"
KEPT = "kept_throughout"


def _array(value, name: str, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        fail(name, f"{what} must be a NumPy array of numbers, got {type_name(value)}.")
    return value


class VariantCall:
    """One call ``func(*args, rng, training=...)`` with a seeded generator, its pair and
    whether it modified its array arguments."""

    def __init__(self, func, name: str, args: tuple, *, training=True, seed=0, what="mask"):
        self.name, self.args, self.training, self.what = name, args, training, what
        shown = ", ".join(_shown(a) for a in args)
        self.described = f"{name}({shown}, rng{'' if training else ', training=False'})"
        self._result = Memo(lambda: self._go(func, seed))

    def _go(self, func, seed):
        given = [a.copy() if isinstance(a, np.ndarray) else a for a in self.args]
        rng = np.random.default_rng(seed)
        # Training is the default (training=True): a training call leaves the keyword out.
        keyword = {} if self.training else {"training": False}
        result = call(func, self.name, self.described, *given, rng, **keyword)
        out, second = expect_pair(result, self.name, self.described, f"(out, {self.what})",
                                  allow_list=True)  # fmt: skip
        for before, after in zip(self.args, given, strict=True):
            if isinstance(before, np.ndarray) and not np.array_equal(before, after):
                fail(self.name, f"{self.described} modified its input in place; compute a "
                                "new array.")  # fmt: skip
        largest = max(a.size for a in self.args if isinstance(a, np.ndarray))
        for value, what in ((out, "out"), (second, f"the {self.what}")):
            if (
                value is not None
                and _array(value, self.name, f"{what} of {self.described}").size > 4 * largest
            ):
                fail(self.name, f"{what} of {self.described} has {value.size} entries, far more "
                                "than its input.")  # fmt: skip
        return out.astype(np.float64), second

    def out(self) -> np.ndarray:
        return self._result()[0]

    def second(self):
        return self._result()[1]


def _shown(value) -> str:
    return f"x of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)


def check_evaluation(call_: VariantCall, expected: np.ndarray) -> None:
    """At evaluation: ``(expected, None)``."""
    if call_.second() is not None:
        fail(call_.name, f"{call_.described} returned a {call_.what}; at evaluation nothing is "
                         f"dropped, so it must be None.")  # fmt: skip
    if not allclose(call_.out(), expected):
        fail(call_.name, f"{call_.described} must return the layer's plain output at "
                         "evaluation (no noise, no scaling: inverted dropout scales in "
                         "training).")  # fmt: skip


# ------------------------------------------------------------ spatial and locked dropout


@dataclass(frozen=True)
class SharedMask:
    """A dropout whose mask is shared along some axes: ``keep`` names the axes of ``x`` that
    get their own decisions (the mask is 1 along the others)."""

    name: str
    x_shape: tuple[int, ...]
    keep: tuple[bool, ...]
    wrong: tuple[tuple[tuple[bool, ...], str], ...]  # other choices of axes, named

    def mask_shape(self, shape) -> tuple[int, ...]:
        return shape_keeping(self.keep, shape)


def shape_keeping(keep: tuple[bool, ...], shape) -> tuple[int, ...]:
    """``shape`` with 1 on the axes ``keep`` leaves out."""
    return tuple(n if own else 1 for n, own in zip(shape, keep, strict=True))


SPATIAL_SPEC = SharedMask(
    SPATIAL,
    (60, 50, 4, 4),
    (True, True, False, False),
    (
        ((True, True, True, True), "one decision per ELEMENT: that is ordinary dropout; spatial "
         "dropout keeps or drops whole feature maps"),
        ((False, True, False, False), "one mask for the whole batch: each example needs its own"),
        ((True, False, False, False), "one decision per example: each channel needs its own"),
    ),
)  # fmt: skip

LOCKED_SPEC = SharedMask(
    LOCKED,
    (6, 80, 40),
    (False, True, True),
    (
        ((True, True, True), "a new mask at every time step: locked dropout draws one mask per "
         "sequence and reuses it at every step"),
        ((False, False, True), "one mask for the whole batch: each sequence needs its own"),
        ((True, False, True), "a mask per time step shared by the batch: draw one per sequence, "
         "the same at every step"),
    ),
)  # fmt: skip


def _inputs(shape, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    x[np.abs(x) < 0.05] = 0.5  # no zeros of its own: a zero in out is a dropped entry
    return x


def check_shared_mask_shape(spec: SharedMask, call_: VariantCall) -> np.ndarray:
    mask = call_.second()
    if mask is None:
        fail(spec.name, f"{call_.described} returned no mask; in training (training=True, the "
                        "default) it must return it.")  # fmt: skip
    want = spec.mask_shape(call_.args[0].shape)
    if mask.shape == want:
        return mask
    for axes, why in spec.wrong:
        if mask.shape == shape_keeping(axes, call_.args[0].shape):
            fail(spec.name, f"{call_.described} returned a mask of shape {mask.shape}, not "
                            f"{want}: {why}.")  # fmt: skip
    fail(spec.name, f"{call_.described} returned a mask of shape {mask.shape}; it must have "
                    f"shape {want} (keep the 1s, so that it broadcasts over x).")  # fmt: skip


def check_shared_mask_values(spec: SharedMask, call_: VariantCall, p: float) -> None:
    mask = check_shared_mask_shape(spec, call_)
    values = mask_values(mask, spec.name, f"the mask of {call_.described}", p)
    check_drop_rate(values, p, spec.name, call_.described)
    own = [n for n, keep in zip(values.shape, spec.keep, strict=True) if keep]
    check_independent(values.reshape(own), spec.name, f"the mask of {call_.described}")


def name_the_mistake(name: str, described: str, out, candidates, otherwise: str) -> None:
    """Fail naming the first candidate ``(why, wrong)`` that ``out`` equals, else ``otherwise``."""
    for why, wrong in candidates:
        if out.shape == wrong.shape and allclose(out, wrong):
            fail(name, f"{described}: {why}.")
    fail(name, f"{described} {otherwise}")


def check_scaled_output(name: str, call_: VariantCall, expected: np.ndarray, x, mask, p):
    """``out`` equals ``expected`` (computed from the returned mask); else name the mistake."""
    out = call_.out()
    if out.shape == expected.shape and allclose(out, expected):
        return
    candidates = [
        ("the kept entries are not divided by 1 - p (inverted dropout scales in training)",
         x * mask),
        ("the kept entries are multiplied by 1 - p; divide by it instead", x * mask * (1 - p)),
    ]  # fmt: skip
    otherwise = "returned an out that is not x * mask / (1 - p) for the mask it returned."
    name_the_mistake(name, call_.described, out, candidates, otherwise)


def shared_mask_properties(verdict: Verdict, func, spec: SharedMask, *, p=0.3, seed=0) -> None:
    x = _inputs(spec.x_shape, seed)
    train = VariantCall(func, spec.name, (x, p), seed=seed)
    with verdict.expect(f"return a mask of shape {spec.mask_shape(x.shape)} for x of {x.shape}"):
        check_shared_mask_shape(spec, train)
    with verdict.expect("drop each of its entries independently with probability p"):
        check_shared_mask_values(spec, train, p)
    with verdict.expect("return out = x * mask / (1 - p)"):
        mask = check_shared_mask_shape(spec, train).astype(np.float64)
        check_scaled_output(spec.name, train, x * mask / (1 - p), x, mask, p)
    with verdict.expect("draw the mask from rng", side_condition=True):

        def draw(rng):
            return func(x.copy(), p, rng, training=True)[1]

        check_uses_rng(draw, spec.name, f"{spec.name}(x, p={p}, rng)")
    with verdict.expect("return (x, None) at evaluation"):
        check_evaluation(VariantCall(func, spec.name, (x, p), training=False), x)


def check_spatial_dropout_forward(spatial_dropout_forward, *, p=0.3, seed=0) -> Verdict:
    """Check ``spatial_dropout_forward(x, p, rng, training=True)``: one keep-or-drop per
    example and channel."""
    verdict = Verdict(SPATIAL)
    shared_mask_properties(verdict, spatial_dropout_forward, SPATIAL_SPEC, p=p, seed=seed)
    return verdict


def check_locked_dropout(locked_dropout, *, p=0.3, seed=0) -> Verdict:
    """Check ``locked_dropout(x, p, rng, training=True)``: one mask per sequence, the same at
    every time step."""
    verdict = Verdict(LOCKED)
    shared_mask_properties(verdict, locked_dropout, LOCKED_SPEC, p=p, seed=seed)
    return verdict


# --------------------------------------------------------------------- gaussian dropout

GAUSSIAN_SHAPE = (400, 250)


def check_noise_moments(call_: VariantCall, p: float) -> np.ndarray:
    """Noise of ``x``'s shape with mean 1, variance p / (1 - p), and normal: the share within
    one standard deviation of the mean is 68.27 %."""
    name, noise = GAUSSIAN, call_.second()
    if noise is None or noise.shape != call_.args[0].shape:
        shown = None if noise is None else noise.shape
        fail(name, f"{call_.described} returned noise of shape {shown}; it must have x's shape "
                   f"{call_.args[0].shape}: one factor per entry.")  # fmt: skip
    noise = noise.astype(np.float64)
    n, var = noise.size, p / (1 - p)
    mean, measured = float(noise.mean()), float(noise.var())
    if abs(mean - 1) > SIGMAS * math.sqrt(var / n) + 1e-12:
        fail(name, f"{call_.described}: the noise has mean {mean:.4f}; it must be 1 (a factor, "
                   "not an added term).")  # fmt: skip
    if abs(measured - var) > SIGMAS * var * math.sqrt(2 / n) + 1e-12:
        hint = _variance_mistake(measured, p)
        fail(name, f"{call_.described}: the noise has variance {measured:.4f}; with p={p} it must "
                   f"be p / (1 - p) = {var:.4f}{hint}.")  # fmt: skip
    if var > 0:
        inside = float(np.mean(np.abs(noise - 1) < math.sqrt(var)))
        band = SIGMAS * math.sqrt(0.6827 * 0.3173 / n)
        if abs(inside - 0.6827) > band:
            fail(name, f"{call_.described}: {100 * inside:.1f} % of the noise lies within one "
                       "standard deviation of 1, not the 68.3 % of a normal distribution "
                       "(rng.normal or rng.standard_normal).")  # fmt: skip
    return noise


def _variance_mistake(measured: float, p: float) -> str:
    q = 1 - p
    for value, why in ((p, "that is p"), ((p / q) ** 2, "that is (p / (1 - p))^2: the standard "
                       "deviation is the square root of p / (1 - p)"), (p * q, "that is p (1 - p), "
                       "the variance of a 0/1 mask, not of the inverted factor")):  # fmt: skip
        if math.isclose(measured, value, rel_tol=0.05):
            return f" ({why})"
    return ""


def gaussian_properties(verdict: Verdict, func, *, p=0.3, seed=0) -> None:
    x = _inputs(GAUSSIAN_SHAPE, seed)
    train = VariantCall(func, GAUSSIAN, (x, p), seed=seed, what="noise")
    with verdict.expect("draw noise of mean 1 and variance p / (1 - p), normal"):
        check_noise_moments(train, p)
    with verdict.expect("draw independent noise for every entry"):
        noise = check_noise_moments(train, p)
        check_independent((noise > 1).astype(np.float64), GAUSSIAN, f"the noise of "
                          f"{train.described} (which entries lie above 1)")  # fmt: skip
    with verdict.expect("return out = x * noise"):
        noise = check_noise_moments(train, p)
        if not allclose(train.out(), x * noise):
            fail(GAUSSIAN, f"{train.described} returned an out that is not x * noise for the "
                           "noise it returned.")  # fmt: skip
    with verdict.expect("draw the noise from rng", side_condition=True):
        small = x[:20, :30]
        check_uses_rng(lambda rng: func(small.copy(), p, rng, training=True)[1], GAUSSIAN,
                       f"{GAUSSIAN}(x, p={p}, rng)")  # fmt: skip
    with verdict.expect("return (x, None) at evaluation, and x itself for p = 0"):
        check_evaluation(VariantCall(func, GAUSSIAN, (x, p), training=False, what="noise"), x)
        zero = VariantCall(func, GAUSSIAN, (x, 0.0), seed=seed, what="noise")
        if not allclose(zero.out(), x):
            fail(GAUSSIAN, f"{zero.described} must return x unchanged: noise of variance 0.")


def check_gaussian_dropout_forward(gaussian_dropout_forward, *, p=0.3, seed=0) -> Verdict:
    """Check ``gaussian_dropout_forward(x, p, rng, training=True)``."""
    verdict = Verdict(GAUSSIAN)
    gaussian_properties(verdict, gaussian_dropout_forward, p=p, seed=seed)
    return verdict


# --------------------------------------------------------------------------- dropconnect


def dense_layer(seed: int, batch=16, n_in=200, n_out=100):
    rng = np.random.default_rng(seed)
    x = _inputs((batch, n_in), seed + 1)
    return x, rng.standard_normal((n_in, n_out)) / 10, 1.0 + rng.random(n_out)


def check_dropconnect_output(call_: VariantCall, x, W, b, p) -> None:
    mask = call_.second()
    if mask is None or mask.shape != W.shape:
        shown = None if mask is None else mask.shape
        per_example = mask is not None and mask.shape == (x.shape[0], *W.shape)
        why = (": one mask per example; the contract's mask is one for the whole batch"
               if per_example else ": one keep-or-drop per weight")  # fmt: skip
        fail(DROPCONNECT, f"{call_.described} returned a mask of shape {shown}; it must have "
                          f"W's shape {W.shape}{why}.")  # fmt: skip
    kept = W * mask_values(mask, DROPCONNECT, f"the mask of {call_.described}", p)
    out, expected = call_.out(), x @ kept / (1 - p) + b
    if out.shape == expected.shape and allclose(out, expected):
        return
    candidates = [
        ("the bias is scaled too: it is never dropped, so never scaled", (x @ kept + b) / (1 - p)),
        ("the kept weights are not divided by 1 - p", x @ kept + b),
        ("the bias is dropped with the weights' mask; it is never dropped",
         x @ kept / (1 - p) + b * mask.mean(axis=0)),
        ("the mask drops inputs (rows of W), not single weights", x @ (W * mask[:, :1]) + b),
    ]  # fmt: skip
    name_the_mistake(DROPCONNECT, call_.described, out, candidates, "returned an out that is "
                     "not x @ (W * mask) / (1 - p) + b for the mask it returned.")  # fmt: skip


def dropconnect_properties(verdict: Verdict, func, *, p=0.4, seed=0) -> None:
    x, W, b = dense_layer(seed)
    train = VariantCall(func, DROPCONNECT, (x, W, b, p), seed=seed)
    with verdict.expect("drop each weight independently with probability p (one mask)"):
        check_dropconnect_output(train, x, W, b, p)  # the mask's shape first
        mask = mask_values(train.second(), DROPCONNECT, f"the mask of {train.described}", p)
        check_drop_rate(mask, p, DROPCONNECT, train.described)
        check_independent(mask, DROPCONNECT, f"the mask of {train.described}")
    with verdict.expect("return out = x @ (W * mask) / (1 - p) + b, the bias never dropped"):
        check_dropconnect_output(train, x, W, b, p)
    with verdict.expect("draw the mask from rng", side_condition=True):
        check_uses_rng(lambda rng: func(x.copy(), W.copy(), b.copy(), p, rng, training=True)[1],
                       DROPCONNECT, f"{DROPCONNECT}(x, W, b, p={p}, rng)")  # fmt: skip
    with verdict.expect("return (x @ W + b, None) at evaluation"):
        check_evaluation(VariantCall(func, DROPCONNECT, (x, W, b, p), training=False), x @ W + b)
    with verdict.expect("return b for every example when p = 1 (every weight dropped)"):
        full = VariantCall(func, DROPCONNECT, (x, W, b, 1.0), seed=seed)
        if not allclose(full.out(), np.broadcast_to(b, (x.shape[0], W.shape[1]))):
            fail(DROPCONNECT, f"{full.described} must return b for every example (finite: with "
                              "every weight dropped, 0 / 0 must not become NaN).")  # fmt: skip


def check_dropconnect_forward(dropconnect_forward, *, p=0.4, seed=0) -> Verdict:
    """Check ``dropconnect_forward(x, W, b, p, rng, training=True)``."""
    verdict = Verdict(DROPCONNECT)
    dropconnect_properties(verdict, dropconnect_forward, p=p, seed=seed)
    return verdict


# ------------------------------------------------------------------------ kept_throughout

KEPT_CASES = ((0.5, 8, False), (0.5, 8, True), (0.2, 20, False), (0.3, 1, False), (0.9, 3, True))


def measured_kept(p: float, steps: int, locked: bool, *, n=200_000, seed=0) -> float:
    """MEASURED by drawing masks: the share of sequences whose unit is kept at every step."""
    rng = np.random.default_rng(seed)
    masks = rng.random((n, 1 if locked else steps)) >= p
    masks = np.repeat(masks, steps, axis=1) if locked else masks
    return float(masks.all(axis=1).mean())


def exact_kept(p: float, steps: int, locked: bool) -> float:
    return (1 - p) if locked else (1 - p) ** steps


def check_kept_case(kept_throughout, p, steps, locked) -> None:
    described = f"kept_throughout(p={p}, steps={steps}, locked={locked})"
    value = call(kept_throughout, KEPT, described, p, steps, locked)
    value = as_number(value, KEPT, described)
    measured = measured_kept(p, steps, locked)
    band = SIGMAS * math.sqrt(max(measured * (1 - measured), 1e-6) / 200_000)
    q = 1 - p
    candidates = [
        ("that is the fresh-mask answer; a locked mask decides once for all steps",
         q**steps if locked else math.nan),
        ("that is the locked answer; fresh masks decide again at every step",
         q if not locked else math.nan),
        ("that uses p, the drop probability, as the keep probability", p**steps if not locked
         else p),
    ]  # fmt: skip
    how = "200,000 simulated sequences measure"
    rtol = band / max(measured, 1e-12)
    agrees_with_measurement(KEPT, described, value, measured, max(rtol, 1e-9), how, candidates)


def check_kept_throughout(kept_throughout, *, cases=KEPT_CASES) -> Verdict:
    """Check ``kept_throughout(p, steps, locked)`` against a simulation."""
    verdict = Verdict(KEPT)
    with verdict.expect("give the share of sequences that keep a unit at every step"):
        for case in cases:
            check_kept_case(kept_throughout, *case)
    return verdict


def exact_kept_properties(verdict: Verdict, kept_throughout, cases) -> None:
    with verdict.expect("give the exact probability"):
        why = "fresh masks: (1 - p) ** steps; a locked mask: 1 - p"
        agrees_with_exact(KEPT, kept_throughout, cases, exact_kept, why)
