"""Contract checks of exercise 04, *Backpropagation through thinned networks*.

The functions (``dropout_backward``'s contract is in COURSE-SPEC.md; the others are stated in
the exercise notebook):

- ``softmax_cross_entropy(scores, y)`` returns ``(loss, dscores)``: the MEAN cross-entropy over
  the batch (one number) and its gradient ``(softmax(scores) - onehot(y)) / N``, without
  overflowing for large scores and without modifying ``scores``;
- ``two_layer_forward(X, params, p, rng, training=True)`` returns ``(scores, cache)`` for
  ``scores = h_drop @ W2 + b2``, ``h_drop = relu(X @ W1 + b1) * mask / (1 - p)``, with a 0/1
  mask (boolean or numeric) of shape ``(N, H)`` drawn from ``rng`` only, and the cache a dict
  holding :data:`CACHE_KEYS`; at evaluation ``cache['mask']`` is None and ``h_drop = relu(z1)``;
- ``two_layer_backward(dscores, cache)`` returns the dict of gradients :data:`PARAM_KEYS`, reading
  only :data:`CACHE_KEYS` of a training-mode cache whose mask may be boolean or 0/1;
- ``numerical_gradient(f, x, h=1e-5)``: central differences, ``x`` of any number of dimensions
  perturbed in place one entry at a time and put back;
- ``relative_error(a, b)``: ``max |a - b| / max(|a| + |b|, 1e-8)`` as one number.

What the contract leaves open, the checks leave open too: a pair may be a tuple or a two-element
list, a dict may be any mapping (and a cache may hold further keys), no dtype is demanded (values
are compared in float64, to ``rtol=1e-5, atol=1e-6`` unless said otherwise; a dtype left in an
input is compared byte order aside), a number (the loss, the relative error, ``cache['p']``) may
be anything :func:`~.core.as_number` reads as one, and ``x`` counts as restored up to rounding.

The properties of the forward pass computed through the mask a student returns (the scores,
``h_drop``) are not credited for a mask that keeps every unit, or none, where a mask drawn with
the call's p would almost never do so (:data:`DEGENERATE`): through it they hold whatever the
network computes.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the contract, so a test cell's points are shared among them: a mistake fails the
property it breaks, and the other properties are examined on their own terms (the scores are
compared through the mask the student returned, a result of the wrong container through its
values, ...). A call of the student's function that several properties examine is made once.

The backward pass is checked against finite differences of the forward pass (which is exact
here: the loss used is linear in the scores, and no pre-activation lies near the ReLU's kink),
so these checks need no reference implementation. Every check takes keyword arguments for its
inputs so that the hidden tests can run the same properties on inputs the student has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from .bernoulli_masks import (
    ExperimentSpec,
    check_drop_rate,
    check_independent,
    check_uses_rng,
    experiment_properties,
)
from .core import (
    SIGMAS,
    ContractViolation,
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
    same_dtype,
    type_name,
)

#: What the cache of ``two_layer_forward`` holds, and ``two_layer_backward`` reads.
CACHE_KEYS = ("X", "z1", "mask", "h_drop", "W2", "p")
#: The network's parameters, and the keys of the dict of gradients.
PARAM_KEYS = ("W1", "b1", "W2", "b2")


def _relu(z):
    return np.maximum(z, 0.0)


def _scores(X, params, mask, p, activation=_relu):
    """Training-mode scores of the two-layer network for a given mask (1 - p > 0)."""
    h = activation(X @ params["W1"] + params["b1"])
    return (h * mask / (1.0 - p)) @ params["W2"] + params["b2"]


def _finite_differences(f, x, h):
    """Central differences of ``f()`` with respect to the entries of ``x`` (restored)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2.0 * h)
    return grad


def _params(rng, d, hidden, classes):
    return {
        "W1": rng.standard_normal((d, hidden)),
        "b1": 0.5 * rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, classes)),
        "b2": rng.standard_normal(classes),
    }


def _mask_as_floats(mask, name, described):
    values = np.unique(np.asarray(mask, dtype=np.float64))
    if not np.all(np.isin(values, (0.0, 1.0))):
        shown = ", ".join(f"{v:g}" for v in values[:4])
        fail(
            name,
            f"{described}: cache['mask'] must hold only 0 (dropped) and 1 (kept); it holds "
            f"{shown}. Keep the 1/(1-p) scaling out of the mask.",
        )
    return np.asarray(mask, dtype=np.float64)


def _float_array(value: Any, name: str, what: str) -> np.ndarray:
    """``value`` as a float64 array, or fail if it is not numbers."""
    if value is None:
        fail(name, f"{what} is None: did you forget a return statement?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(name, f"{what} must be a number or an array of numbers, got {type_name(value)}.")


def _attempt(compute: Callable[[], Any]) -> Any:
    """The value of ``compute()``, or None if examining the student's result failed."""
    try:
        return compute()
    except Exception:  # noqa: BLE001 - that failure belongs to another property
        return None


def _examined(runs: list) -> list:
    """The runs a property that sweeps over several calls examines: the first always (its call
    must succeed), the others only if their call returned, since a call that raised fails the
    property that needs its result, not this one."""
    rest = [run for run in runs[1:] if _attempt(lambda run=run: (run._result(), True)[1])]
    return [runs[0], *rest]


def _same_value(after: Any, before: Any) -> bool:
    """Whether an argument's entry is still what it was: an array of the same dtype (byte
    order aside, as the grader's transfer of arrays ignores it), shape and values (NaN equal to
    NaN), or an equal value of the same type."""
    if isinstance(before, np.ndarray):
        return (
            isinstance(after, np.ndarray)
            and same_dtype(after.dtype, before.dtype)
            and np.array_equal(after, before, equal_nan=before.dtype.kind in "fc")
        )
    return type(after) is type(before) and bool(np.all(after == before))


def _changed_entry(given: Mapping, original: Mapping, what: str) -> str | None:
    """The entry of a dict argument that the call removed, added, replaced or wrote into
    (``given`` is the call's own copy after the call, ``original`` the check's), or None."""
    for key, before in original.items():
        if key not in given:
            return f"{what}: it removed {what}[{key!r}]"
        after = given[key]
        if not _same_value(after, before):
            if isinstance(before, np.ndarray) and isinstance(after, np.ndarray):
                if not same_dtype(after.dtype, before.dtype):
                    return (
                        f"{what}[{key!r}]: it replaced the array of dtype {before.dtype} by one "
                        f"of dtype {after.dtype}"
                    )
                return f"{what}[{key!r}] in place"
            return f"{what}[{key!r}]: it replaced {before!r} by {after!r}"[:200]
    added = [key for key in given if key not in original]
    if added:
        return f"{what}: it added the key {added[0]!r}"
    return None


# --------------------------------------------------------------------- softmax_cross_entropy


class LossCall:
    """One call of ``softmax_cross_entropy`` on copies of ``scores`` and ``y``, made once and
    examined by several properties."""

    name = "softmax_cross_entropy"

    def __init__(self, softmax_cross_entropy, scores, y, described):
        self.scores, self.y, self.described = scores, y, described
        self._result = Memo(lambda: self._call(softmax_cross_entropy))

    def _call(self, softmax_cross_entropy):
        given = self.scores.copy()
        with np.errstate(all="ignore"):
            result = call(softmax_cross_entropy, self.name, self.described, given, self.y.copy())
        loss, dscores = expect_pair(
            result, self.name, self.described, "(loss, dscores)", allow_list=True
        )
        return given, loss, dscores

    def modified(self) -> bool:
        return not np.array_equal(self._result()[0], self.scores)

    def structure(self) -> None:
        """``loss`` is one number and ``dscores`` an array of the scores' shape."""
        self.loss()
        as_array(self._result()[2], self.name, f"dscores of {self.described}")
        self.dscores()

    def losses(self) -> np.ndarray:
        """The loss as a float64 array of whatever shape it has (one number: 0-d)."""
        try:
            return np.asarray(self.loss())
        except ContractViolation:
            return _float_array(self._result()[1], self.name, f"the loss of {self.described}")

    def loss(self) -> float:
        """The loss as one float (read by :func:`~.core.as_number`); several values fail with
        the hint that the loss is their MEAN."""
        value, what = self._result()[1], f"the loss of {self.described}"
        try:
            return as_number(value, self.name, what)
        except ContractViolation:
            several = _attempt(lambda: _float_array(value, self.name, what))
            if several is not None and several.size > 1:
                fail(self.name, f"{self.described}: loss must be one number, the MEAN over the "
                                f"batch; got an array of shape {several.shape}.")  # fmt: skip
            raise

    def dscores(self) -> np.ndarray:
        dscores = _float_array(self._result()[2], self.name, f"dscores of {self.described}")
        check_shape(dscores, self.scores.shape, self.name, "dscores")
        return dscores


NEW_ARRAY = "shifted = scores - scores.max(axis=1, keepdims=True)"  # the hint for in-place edits


def _softmax(scores, axis=1):
    """PyTorch's softmax (an implementation the course did not write) along ``axis``."""
    return torch.softmax(torch.from_numpy(np.asarray(scores, np.float64)), dim=axis).numpy()


def _expected_loss(scores, y):
    """The mean cross-entropy and its gradient with respect to the scores, from PyTorch's
    ``cross_entropy`` and autograd, with the one-hot matrix of the labels."""
    t = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(t, torch.as_tensor(y, dtype=torch.long))
    loss.backward()
    onehot = np.zeros_like(scores)
    onehot[np.arange(len(y)), y] = 1.0
    return loss.item(), t.grad.numpy(), onehot


def _column_softmax(scores):
    return _softmax(scores, axis=0)


def _check_loss_value(run: LossCall) -> None:
    name, described, scores, y = run.name, run.described, run.scores, run.y
    n, classes = scores.shape
    expected, _, _ = _expected_loss(scores, y)
    loss = run.loss()
    if allclose(loss, expected):
        return
    over_batch = -float(np.mean(np.log(_column_softmax(scores)[np.arange(n), y])))
    candidates = [
        (
            "the softmax normalises over the batch (axis 0); it must normalise each row over "
            "the classes (axis=1, keepdims=True)",
            over_batch,
        ),
        (
            "the loss was summed over the batch; it must be the MEAN over the N examples",
            expected * n,
        ),
        (
            "the loss was divided by N * C; average over the N examples only (each example "
            "contributes -log of its correct class's probability)",
            expected / classes,
        ),
        ("the sign is wrong: the loss is -log(probability)", -expected),
    ]
    mistake = first_match(candidates, loss, allclose) if np.isfinite(loss) else "it is NaN or inf"
    fail(
        name,
        f"{described}: loss = {loss:.6g}, expected {expected:.6g}"
        f"{': ' + mistake if mistake else ''}. The loss is -mean_i log softmax(scores)[i, y[i]].",
    )


def _check_dscores_value(run: LossCall) -> None:
    name, described, scores, y = run.name, run.described, run.scores, run.y
    n, classes = scores.shape
    _, expected, onehot = _expected_loss(scores, y)
    dscores = run.dscores()
    if allclose(dscores, expected):
        return
    probs = _softmax(scores)
    candidates = [
        (
            "dscores was not divided by the batch size N: the loss is the MEAN over the batch, "
            "so dscores = (softmax(scores) - onehot(y)) / N",
            expected * n,
        ),
        ("dscores was divided by N * C; divide by the batch size N only", expected / classes),
        (
            "the 1 at each example's correct class was not subtracted: dscores = "
            "(softmax(scores) - onehot(y)) / N",
            probs / n,
        ),
        (
            "the 1 at each example's correct class was not subtracted, and dscores was not "
            "divided by N",
            probs,
        ),
        (
            "dscores has the wrong sign: it is (softmax - onehot) / N, the gradient of the loss "
            "(which gradient DESCENT then subtracts)",
            -expected,
        ),
        (
            "the softmax normalises over the batch (axis 0); it must normalise each row over "
            "the classes (axis=1, keepdims=True)",
            (_column_softmax(scores) - onehot) / n,
        ),
    ]
    mistake = first_match(candidates, dscores, allclose)
    if mistake is None and not np.all(np.isfinite(dscores)):
        mistake = "it holds NaN or inf"
    fail(
        name,
        f"{described}: {mistake or 'wrong dscores'}. Expected "
        "dscores = (softmax(scores) - onehot(y)) / N.",
    )


#: What a result that is NaN or inf on each kind of large scores says about the shift.
_OVERFLOW = {
    "constant": (
        "exp(1000) overflows. Subtract each row's maximum before exponentiating (softmax "
        "does not change when a constant is added to a row)"
    ),
    "levels": (
        "one maximum for the whole batch was subtracted (scores.max() without axis=1), so a "
        "row thousands below it underflows: every exp is 0 and 0 / 0 is NaN. Subtract each "
        "row's own maximum: scores - scores.max(axis=1, keepdims=True)"
    ),
    "spread": (
        "a row whose scores span 3000 still overflows: subtracting the row's mean (or anything "
        "but its maximum) leaves exponents above 709. Subtract each row's MAXIMUM, not its "
        "mean, so that every exponent is at most 0"
    ),
}


def _check_stable(run: LossCall, large: LossCall, kind: str) -> None:
    """``large`` holds the scores of ``run`` with a constant added to every score of a row
    (``kind`` "constant" or "levels"), or with one correct-class score raised from 40 to 3000
    ("spread", which changes the result by less than exp(-40)): the result must be finite and
    the same. It is compared with the function's own result for ``run`` (when that is finite),
    so a wrong formula or a loss that is not one number fails those properties only."""
    name, described = large.name, large.described
    loss, dscores = large.losses(), large.dscores()
    if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(dscores))):
        fail(name, f"{described} returned NaN or inf: {_OVERFLOW[kind]}.")
    own = _attempt(lambda: (run.losses(), run.dscores()))
    if own is None or not (np.all(np.isfinite(own[0])) and np.all(np.isfinite(own[1]))):
        own = _expected_loss(run.scores, run.y)[:2]
    if not (allclose(loss, own[0]) and allclose(dscores, own[1])):
        fail(
            name,
            f"{described} differs from the result for {run.described}: the softmax of each "
            "row must be computed exactly whatever the size of its scores (adding a constant "
            "to a row changes nothing; subtract each row's own maximum before exponentiating).",
        )


def _large_score_calls(softmax_cross_entropy, scores, y):
    """Pairs (ordinary scores, large scores, kind) that must give the same result."""
    n = len(y)

    def loss_call(values, described):
        return LossCall(softmax_cross_entropy, values, y, f"softmax_cross_entropy({described}, y)")

    main = loss_call(scores, f"scores of shape {scores.shape}")
    levels = scores + np.linspace(-3000.0, 3000.0, n)[:, None]
    moderate, spread = scores.copy(), scores.copy()
    moderate[0, y[0]] += 40.0
    spread[0, y[0]] += 3000.0
    return main, [
        (main, loss_call(scores + 1000.0, "scores + 1000"), "constant"),
        (main, loss_call(levels, "scores whose rows lie up to 6000 apart"), "levels"),
        (
            loss_call(moderate, "scores with one score of row 0 raised by 40"),
            loss_call(
                spread, "scores with one score of row 0 raised by 3000 (a row spanning 3000)"
            ),
            "spread",
        ),
    ]


def check_softmax_cross_entropy(softmax_cross_entropy, *, n=6, classes=4, seed=0) -> Verdict:
    """Check ``softmax_cross_entropy(scores, y)`` against the contract.

    Parameters
    ----------
    softmax_cross_entropy : callable
        The student's function.
    n, classes : int
        Batch size (at least 2) and number of classes (at least 2).
    seed : int
        Seed of the scores and labels.
    """
    name = "softmax_cross_entropy"
    rng = np.random.default_rng(seed)
    scores = 3.0 * rng.standard_normal((n, classes))
    y = rng.integers(0, classes, size=n)
    run, pairs = _large_score_calls(softmax_cross_entropy, scores, y)
    verdict = Verdict(name)
    with verdict.expect(
        "return (loss, dscores): one number and an array of the scores' shape",
        side_condition=True,
    ):
        run.structure()
    with verdict.expect("leave scores unchanged", side_condition=True):
        calls = [
            run,
            *(c for ordinary, large, _ in pairs for c in (ordinary, large) if c is not run),
        ]
        for each in _examined(calls):
            if each.modified():
                fail(
                    name,
                    f"{each.described} modified scores in place (e.g. scores -= "
                    f"scores.max(...)); compute a new array instead: {NEW_ARRAY}.",
                )
    with verdict.expect("return the mean cross-entropy over the batch as loss"):
        _check_loss_value(run)
    with verdict.expect("return dscores = (softmax(scores) - onehot(y)) / N"):
        _check_dscores_value(run)
    with verdict.expect(
        "stay finite and exact for large scores: a constant added to every score, rows "
        "thousands apart, a row spanning thousands",
        side_condition=True,
    ):
        for ordinary, large, kind in pairs:
            _check_stable(ordinary, large, kind)
    return verdict


# ------------------------------------------------------------------------- two_layer_forward


class ForwardRun:
    """One call of ``two_layer_forward`` on copies of ``X`` and ``params``, made once and
    examined by several properties."""

    name = "two_layer_forward"

    def __init__(self, two_layer_forward, X, params, p, *, seed=0, training=True, rng=None):
        self.X, self.params, self.p, self.training = X, params, p, training
        self.n, self.hidden = X.shape[0], params["W1"].shape[1]
        self.classes = params["W2"].shape[1]
        self.described = f"two_layer_forward(X, params, p={p:g}, rng, training={training})"
        rng = np.random.default_rng(seed) if rng is None else rng
        self._result = Memo(lambda: self._call(two_layer_forward, rng))

    def _call(self, two_layer_forward, rng):
        X, params = self.X.copy(), {k: v.copy() for k, v in self.params.items()}
        with np.errstate(all="ignore"):
            result = call(
                two_layer_forward,
                self.name,
                self.described,
                X,
                params,
                self.p,
                rng,
                training=self.training,
            )
        scores, cache = expect_pair(
            result, self.name, self.described, "(scores, cache)", allow_list=True
        )
        return X, params, scores, cache

    def modified(self) -> str | None:
        """The input the call modified (an array written in place, a dict entry replaced,
        added or removed), if any."""
        X, params, _, _ = self._result()
        if not _same_value(X, self.X):
            return "X in place"
        return _changed_entry(params, self.params, "params")

    def scores(self) -> np.ndarray:
        scores = as_array(self._result()[2], self.name, f"the scores of {self.described}")
        check_shape(scores, (self.n, self.classes), self.name, "scores")
        return scores.astype(np.float64)

    def cache(self) -> Mapping:
        cache = self._result()[3]
        if not isinstance(cache, Mapping):
            fail(self.name, f"{self.described}: cache must be a dict, got {type_name(cache)}.")
        return cache

    def entry(self, key: str) -> Any:
        cache = self.cache()
        if key not in cache:
            fail(
                self.name,
                f"{self.described}: the cache has no key {key!r}. It must hold "
                f"{', '.join(CACHE_KEYS)} (the backward pass reads them).",
            )
        return cache[key]

    def mask(self) -> np.ndarray:
        """``cache['mask']`` as an array, whatever its shape (not None in training)."""
        mask = self.entry("mask")
        if mask is None:
            fail(
                self.name,
                f"{self.described}: cache['mask'] is None; in training it must be the mask used.",
            )
        return np.asarray(mask)

    def shape_problem(self, shape: tuple) -> str | None:
        n, hidden = self.n, self.hidden
        if shape in ((hidden,), (1, hidden)):
            return (
                f"the mask has shape {shape}, one mask shared by the whole batch. Each example "
                f"needs its own mask: draw one of shape (N, H) = {(n, hidden)}"
            )
        if shape == (n, self.classes) and self.classes != hidden:
            return (
                f"the mask has the shape of the scores {shape}; dropout acts on the hidden "
                f"units: the mask must have shape (N, H) = {(n, hidden)}"
            )
        if shape != (n, hidden):
            return f"cache['mask'] has shape {shape}; it must have shape (N, H) = {(n, hidden)}"
        return None

    def kept(self) -> np.ndarray:
        """Where the mask keeps units (nonzero), as 0/1 floats broadcast to (N, H): the mask's
        shape and values are properties of their own."""
        mask = self.mask()
        try:
            mask = np.broadcast_to(mask, (self.n, self.hidden))
        except ValueError:
            fail(self.name, f"{self.described}: {self.shape_problem(mask.shape)}.")
        kept = (mask != 0).astype(np.float64)
        problem = self.degenerate(kept)
        if problem:
            fail(self.name, f"{self.described}: {problem}.")
        return kept

    def degenerate(self, kept: np.ndarray) -> str | None:
        """What is wrong with a mask that drops every unit or none, where a mask drawn with
        this p would do so with probability below :data:`DEGENERATE` (a property computed with
        such a mask holds whatever the network computes, so it must not be credited)."""
        p, size = self.p, kept.size
        if not kept.any() and p**size < DEGENERATE:
            return (
                f"cache['mask'] drops every one of the {size} hidden units, so the scores are b2 "
                "whatever the network computes; with p < 1 the mask keeps each unit with "
                "probability 1 - p (mask = rng.random((N, H)) >= p)"
            )
        if kept.all() and (1.0 - p) ** size < DEGENERATE:
            return (
                f"cache['mask'] keeps every one of the {size} hidden units, so no dropout was "
                f"applied; with p = {p:g} the mask drops each unit with probability p "
                "(mask = rng.random((N, H)) >= p)"
            )
        return None


#: A mask that keeps every unit, or none, is degenerate when a mask drawn with the call's p
#: would be so with a probability below this (for 0 < p < 1 on a large input).
DEGENERATE = 1e-12


def _forward_data(n, d, hidden, classes, seed):
    rng = np.random.default_rng(seed + 10)
    X = rng.standard_normal((n, d))
    return X, _params(rng, d, hidden, classes)


def _check_mask(run: ForwardRun) -> None:
    """cache['mask'] is 0/1 of shape (N, H), with independent entries."""
    mask = run.mask()
    problem = run.shape_problem(mask.shape)
    if problem:
        fail(run.name, f"{run.described}: {problem}.")
    mask = _mask_as_floats(mask, run.name, run.described)
    check_independent(mask, run.name, run.described)


def _check_keep_rate(run: ForwardRun) -> None:
    """The fraction of dropped units is near p. The band is the largest of the binomial one and
    the ones that treat rows or columns as clusters, so that a mask whose entries are not
    independent (a property of its own) is judged on its rate alone."""
    kept = (run.mask() != 0).astype(np.float64)
    dropped = 1.0 - float(kept.mean())
    errors = [np.sqrt(run.p * (1.0 - run.p) / kept.size)]
    if kept.ndim == 2:
        for axis in (0, 1):
            means = kept.mean(axis=axis)
            if means.size >= 2:
                errors.append(float(np.std(means, ddof=1)) / np.sqrt(means.size))
    if abs(dropped - run.p) <= SIGMAS * max(errors) + 1e-12:
        return
    check_drop_rate(kept, run.p, run.name, run.described)  # names the mistake
    fail(run.name, f"{run.described} dropped a fraction {dropped:.3f}; it must be close to "
                   f"p={run.p}.")  # fmt: skip


def _check_scores(run: ForwardRun) -> None:
    """scores = (relu(z1) * mask / (1 - p)) @ W2 + b2, with the mask in the cache."""
    X, W2, b2, p = run.X, run.params["W2"], run.params["b2"], run.p
    z1 = X @ run.params["W1"] + run.params["b1"]
    h, q = _relu(z1), 1.0 - p
    scores, mask = run.scores(), run.kept()
    expected = (h * mask / q) @ W2 + b2
    if allclose(scores, expected):
        return
    candidates = [
        (
            "the kept hidden units were not scaled: inverted dropout divides them by (1 - p)",
            (h * mask) @ W2 + b2,
        ),
        (
            "the kept hidden units were multiplied by (1 - p); inverted dropout DIVIDES them by "
            "(1 - p) in training",
            (h * mask * q) @ W2 + b2,
        ),
        (
            "the kept hidden units were divided by p; the keep probability is 1 - p, so divide "
            "by (1 - p)",
            (h * mask / p) @ W2 + b2 if p > 0 else None,
        ),
        (
            "the units kept are where the mask is 1: use h * mask, not h * (1 - mask)",
            (h * (1 - mask) / q) @ W2 + b2,
        ),
        ("the mask was not applied (no hidden unit was dropped)", (h / q) @ W2 + b2),
        (
            "there is no ReLU: h = np.maximum(z1, 0) with z1 = X @ W1 + b1",
            (z1 * mask / q) @ W2 + b2,
        ),
        ("no dropout was applied in training", h @ W2 + b2),
    ]
    mistake = first_match(candidates, scores, allclose) or (
        "the scores do not match the mask in the cache: apply the mask you return, to the "
        "hidden layer's output, and return that same mask"
    )
    fail(
        run.name,
        f"{run.described}: {mistake}. Expected scores = (relu(X @ W1 + b1) * mask / (1 - p)) "
        "@ W2 + b2.",
    )


def _check_cache_copies(run: ForwardRun) -> None:
    """cache['X'], ['W2'], ['p'] and the pre-activation ['z1']."""
    name, described, X, params, p = run.name, run.described, run.X, run.params, run.p
    if not allclose(_float_array(run.entry("X"), name, "cache['X']"), X):
        fail(name, f"{described}: cache['X'] must be the input X.")
    if not allclose(_float_array(run.entry("W2"), name, "cache['W2']"), params["W2"]):
        fail(name, f"{described}: cache['W2'] must be params['W2'].")
    if as_number(run.entry("p"), name, "cache['p']") != p:
        fail(name, f"{described}: cache['p'] must be the drop probability p={p}.")
    z1 = X @ params["W1"] + params["b1"]
    cached = _float_array(run.entry("z1"), name, "cache['z1']")
    if not allclose(cached, z1):
        if allclose(cached, _relu(z1)):
            fail(
                name,
                f"{described}: cache['z1'] holds the ReLU's output; it must hold the "
                "pre-activation z1 = X @ W1 + b1 (before the ReLU).",
            )
        fail(name, f"{described}: cache['z1'] must be the pre-activation X @ W1 + b1.")


def _check_h_drop(run: ForwardRun) -> None:
    """cache['h_drop'] is what the output layer received: relu(z1) * mask / (1 - p), or (if
    the scores are wrong, a property of their own) what gives the scores returned."""
    name, described, params = run.name, run.described, run.params
    h_drop = _float_array(run.entry("h_drop"), name, "cache['h_drop']")
    check_shape(h_drop, (run.n, run.hidden), name, "cache['h_drop']")
    h = _relu(run.X @ params["W1"] + params["b1"])
    mask = _attempt(run.kept)
    if mask is not None and allclose(h_drop, h * mask / (1.0 - run.p)):
        return
    scores = _attempt(run.scores)
    consistent = scores is not None and allclose(h_drop @ params["W2"] + params["b2"], scores)
    # The scores are wrong, but come from this h_drop: unless no dropout happened at all.
    degenerate = _attempt(lambda: run.degenerate((run.mask() != 0).astype(np.float64)))
    if consistent and np.any(h_drop != 0) and not degenerate:
        return
    if degenerate:
        fail(name, f"{described}: {degenerate}, and cache['h_drop'] must be what the output "
                   "layer received, relu(z1) * mask / (1 - p).")  # fmt: skip
    if allclose(h_drop, h):
        fail(
            name,
            f"{described}: cache['h_drop'] holds h before dropout; it must hold what the "
            "output layer received, relu(z1) * mask / (1 - p).",
        )
    fail(name, f"{described}: cache['h_drop'] must be relu(z1) * mask / (1 - p).")


def _check_evaluation(run: ForwardRun) -> None:
    """At evaluation: no mask, h_drop = h, and the scores of the network without dropout."""
    name, described, params = run.name, run.described, run.params
    if run.cache().get("mask") is not None:
        fail(
            name,
            f"{described}: cache['mask'] must be None at evaluation: dropout is off when "
            "training=False.",
        )
    h = _relu(run.X @ params["W1"] + params["b1"])
    scores, expected = run.scores(), h @ params["W2"] + params["b2"]
    if not allclose(scores, expected):
        if allclose(scores, (h * (1.0 - run.p)) @ params["W2"] + params["b2"]):
            fail(
                name,
                f"{described} scaled the hidden layer by (1 - p); with inverted dropout the "
                "scaling happens in training, and evaluation uses h unchanged.",
            )
        fail(
            name,
            f"{described}: expected scores = relu(X @ W1 + b1) @ W2 + b2: dropout must be off "
            "at evaluation.",
        )
    if "h_drop" in run.cache():
        if not allclose(_float_array(run.entry("h_drop"), name, "cache['h_drop']"), h):
            fail(name, f"{described}: cache['h_drop'] must be h = relu(z1) at evaluation.")


def _check_edges(runs: dict) -> None:
    """p = 0 changes nothing; p = 1 drops every hidden unit (scores = b2, never NaN)."""
    for edge, run in runs.items():
        scores, params = run.scores(), run.params
        if not np.all(np.isfinite(scores)):
            fail(
                run.name,
                f"{run.described} returned NaN or inf: h * mask / (1 - p) divides 0 by 0 when "
                "p = 1. Every hidden unit is dropped, so h_drop is all zeros.",
            )
        h = _relu(run.X @ params["W1"] + params["b1"])
        expected = (
            h @ params["W2"] + params["b2"]
            if edge == 0
            else np.broadcast_to(params["b2"], scores.shape)
        )
        if not allclose(scores, expected):
            what = "the scores without dropout" if edge == 0 else "b2 for every example"
            fail(run.name, f"{run.described}: the scores must be {what}.")


def check_two_layer_forward(
    two_layer_forward, *, n=400, d=6, hidden=50, classes=4, p=0.3, seed=0
) -> Verdict:
    """Check ``two_layer_forward(X, params, p, rng, training=True)`` against the contract.

    Parameters
    ----------
    two_layer_forward : callable
        The student's function.
    n, d, hidden, classes : int
        Batch size (at least 50, for the independence check), input, hidden and output widths.
    p : float
        Drop probability in (0, 1) for the main checks.
    seed : int
        Seed of the data and of the generators.
    """
    name = "two_layer_forward"
    X, params = _forward_data(n, d, hidden, classes, seed)
    run = ForwardRun(two_layer_forward, X, params, p, seed=seed)
    evaluation = ForwardRun(two_layer_forward, X, params, p, seed=seed, training=False)
    edges = {e: ForwardRun(two_layer_forward, X[:10], params, e, seed=seed) for e in (0.0, 1.0)}
    verdict = Verdict(name)
    with verdict.expect(
        "return (scores, cache): scores of shape (N, C) and a dict as cache", side_condition=True
    ):
        run.scores()
        run.cache()
    with verdict.expect("leave X and params unchanged", side_condition=True):
        for each in _examined([run, evaluation, *edges.values()]):
            if each.modified():
                fail(name, f"{each.described} modified {each.modified()}; leave X and params "
                           "as they are and compute new arrays instead.")  # fmt: skip
    with verdict.expect(
        "store in cache['mask'] the 0/1 mask of shape (N, H) it drew, with independent entries",
        side_condition=True,
    ):
        _check_mask(run)
    with verdict.expect("keep each hidden unit with probability 1 - p"):
        _check_keep_rate(run)
    with verdict.expect("compute scores = (relu(X @ W1 + b1) * mask / (1 - p)) @ W2 + b2"):
        _check_scores(run)
    with verdict.expect("store X, the pre-activation z1, W2 and p in the cache"):
        _check_cache_copies(run)
    with verdict.expect("store in cache['h_drop'] what the output layer received"):
        _check_h_drop(run)
    with verdict.expect("draw the mask only from the rng it is given"):
        part = X[:40]
        check_uses_rng(
            lambda r: ForwardRun(two_layer_forward, part, params, p, rng=r).scores(),
            name,
            "two_layer_forward",
        )
    with verdict.expect("turn dropout off at evaluation (no mask, h_drop = h)"):
        _check_evaluation(evaluation)
    with verdict.expect("return the scores without dropout for p = 0 and b2 (no NaN) for p = 1"):
        _check_edges(edges)
    return verdict


# ------------------------------------------------------------------------ two_layer_backward


def backward_case(*, n=8, d=5, hidden=7, classes=3, p=0.4, seed=0, bool_mask=False):
    """A hand-made cache for testing a backward pass, and everything needed to check it.

    Unit 0 of the hidden layer is dropped for every example, unit 1 kept for every example;
    unit 2 is inactive (pre-activation below -1) for every example; the others follow a fixed
    pattern. No pre-activation lies within 0.05 of the ReLU's kink, so central differences
    with a step of 1e-3 are exact up to rounding.

    Returns
    -------
    dict
        ``cache``, ``params``, ``dscores``, ``mask`` (as floats) and ``p``.
    """
    if not (hidden >= 4 and n >= 2 and 0 <= p < 1):
        raise ValueError("backward_case needs hidden >= 4, n >= 2 and 0 <= p < 1")
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        X = rng.uniform(-2.0, 2.0, size=(n, d))
        params = _params(rng, d, hidden, classes)
        z2 = X @ params["W1"][:, 2]
        params["b1"][2] = -np.max(z2) - 1.0  # unit 2 inactive for every example
        z1 = X @ params["W1"] + params["b1"]
        active = (z1 > 0).mean(axis=0)
        if np.min(np.abs(z1)) > 0.05 and active[0] > 0 and np.all(active[3:] > 0):
            break
    else:  # pragma: no cover - the loop succeeds within a few tries
        raise RuntimeError("could not draw a backward case")
    if p == 0:
        mask = np.ones((n, hidden))
    else:
        mask = (np.indices((n, hidden)).sum(axis=0) % 3 != 0).astype(np.float64)
        mask[:, 0], mask[:, 1] = 0.0, 1.0
        mask[0, 2] = 1.0  # unit 2 (inactive) is kept by example 0 at least
    h_drop = _relu(z1) * mask / (1.0 - p)
    cache = {
        "X": X,
        "z1": z1,
        "mask": mask.astype(bool) if bool_mask else mask,
        "h_drop": h_drop,
        "W2": params["W2"],
        "p": p,
    }
    dscores = rng.standard_normal((n, classes)) / n
    return {"cache": cache, "params": params, "dscores": dscores, "mask": mask, "p": p}


def _all_dropped(case):
    """The case with p = 1: every hidden unit dropped, h_drop all zeros."""
    case["p"] = case["cache"]["p"] = 1.0
    case["mask"] = np.zeros_like(case["mask"])
    case["cache"]["mask"] = case["mask"].copy()
    case["cache"]["h_drop"] = np.zeros_like(case["cache"]["h_drop"])
    return case


def expected_gradients(case, *, activation=_relu, mask=None):
    """Gradients of ``sum(dscores * scores)`` by central differences of the forward pass.

    ``activation`` and ``mask`` replace the network's, to compute what a wrong backward pass
    (no ReLU gradient, gradient through every unit) computes.
    """
    X, dscores, p = case["cache"]["X"], case["dscores"], case["p"]
    mask = case["mask"] if mask is None else mask
    params = {k: v.copy() for k, v in case["params"].items()}

    def objective():
        return float(np.sum(dscores * _scores(X, params, mask, p, activation)))

    return {k: _finite_differences(objective, params[k], 1e-3) for k in PARAM_KEYS}


def _expected(case):
    """The gradients a correct backward pass returns for ``case`` (p = 1 included)."""
    if case["p"] == 1:
        zeros = {k: np.zeros_like(v) for k, v in case["params"].items()}
        return {**zeros, "b2": case["dscores"].sum(axis=0)}
    return expected_gradients(case)


class BackwardRun:
    """One call of ``two_layer_backward`` on copies of a cache and of ``dscores``, made once and
    examined by several properties."""

    name = "two_layer_backward"

    def __init__(self, two_layer_backward, case, described):
        self.case, self.described, self.p = case, described, case["p"]
        self.shapes = {k: v.shape for k, v in case["params"].items()}
        self._result = Memo(lambda: self._call(two_layer_backward))

    def _call(self, two_layer_backward):
        cache = {
            k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.case["cache"].items()
        }
        dscores = self.case["dscores"].copy()
        with np.errstate(all="ignore"):
            grads = call(two_layer_backward, self.name, self.described, dscores, cache)
        return dscores, cache, grads

    def modified(self) -> str | None:
        """The input the call modified (an array written in place, a cache entry replaced,
        added or removed), if any."""
        dscores, cache, _ = self._result()
        if not _same_value(dscores, self.case["dscores"]):
            return "dscores in place"
        return _changed_entry(cache, self.case["cache"], "cache")

    def grads(self) -> Mapping:
        grads = self._result()[2]
        if not isinstance(grads, Mapping):
            fail(
                self.name,
                f"{self.described} must return a dict of gradients, got {type_name(grads)}.",
            )
        return grads

    def grad(self, key: str) -> np.ndarray:
        """``grads[key]`` as float64, of its parameter's shape, finite."""
        grads, name, described = self.grads(), self.name, self.described
        if key not in grads:
            hint = (
                (
                    " You forgot the bias gradient: the gradient of a bias is the gradient of "
                    "its layer's output summed over the batch."
                )
                if key.startswith("b")
                else ""
            )
            fail(
                name,
                f"{described}: the dict of gradients has no key {key!r}; it must have "
                f"{', '.join(PARAM_KEYS)}.{hint}",
            )
        value = _float_array(grads[key], name, f"grads[{key!r}]")
        check_shape(value, self.shapes[key], name, f"grads[{key!r}]")
        if not np.all(np.isfinite(value)):
            hint = (
                " With p = 1, dh_drop * mask / (1 - p) divides 0 by 0; every hidden unit was "
                "dropped, so the gradient into the hidden layer is zero (dropout_backward "
                "handles p = 1)."
                if self.p == 1
                else ""
            )
            fail(name, f"{described}: grads[{key!r}] holds NaN or inf.{hint}")
        return value


def _check_structure(run: BackwardRun) -> None:
    grads = run.grads()
    present = [k for k in PARAM_KEYS if k in grads]
    if not present:
        fail(
            run.name,
            f"{run.described}: the dict of gradients must have the keys "
            f"{', '.join(PARAM_KEYS)}; it has {', '.join(map(repr, grads)) or 'none'}.",
        )
    for key in present:
        value = as_array(grads[key], run.name, f"grads[{key!r}]")
        check_shape(value, run.shapes[key], run.name, f"grads[{key!r}]")


def _check_output_layer(run: BackwardRun, key: str) -> None:
    """grads['W2'] = h_drop.T @ dscores, grads['b2'] = dscores.sum(axis=0)."""
    case, described = run.case, run.described
    got, expected = run.grad(key), _expected(case)[key]
    if allclose(got, expected):
        return
    n = case["dscores"].shape[0]
    h, dscores = _relu(case["cache"]["z1"]), case["dscores"]
    if key == "W2":
        candidates = [
            (
                "grads['W2'] was computed from h before dropout; the output layer received "
                "h_drop = relu(z1) * mask / (1 - p), so grads['W2'] = h_drop.T @ dscores",
                h.T @ dscores,
            ),
            (
                "grads['W2'] was computed from h * mask without the 1 / (1 - p); use the h_drop "
                "the forward pass stored",
                (h * case["mask"]).T @ dscores,
            ),
            (
                "grads['W2'] was divided by the batch size again: dscores already carries the "
                "1/N of the mean loss",
                expected / n,
            ),
        ]
    else:
        candidates = [
            (
                "grads['b2'] was averaged over the batch; dscores already carries the 1/N of the "
                "mean loss, so sum it over the batch: dscores.sum(axis=0)",
                expected / n,
            ),
            (
                "grads['b2'] is zero: you forgot the bias gradient, dscores.sum(axis=0)",
                np.zeros_like(expected),
            ),
        ]
    mistake = first_match(candidates, got, allclose)
    formula = "h_drop.T @ dscores" if key == "W2" else "dscores.sum(axis=0)"
    fail(run.name, f"{described}: {mistake or f'grads[{key!r}] is wrong; expected {formula}'}.")


def _hidden_layer_candidates(case, key, expected, through, linear):
    """Wrong values of grads['W1'] / grads['b1'] that students compute, with their meaning."""
    p, n = case["p"], case["dscores"].shape[0]
    candidates = [
        (
            "the gradient flowed through dropped hidden units: the backward pass must multiply "
            "by the forward pass's mask (cache['mask']) as well as divide by (1 - p)",
            through[key],
        ),
        (
            "the gradient into the hidden layer was not divided by (1 - p): inverted dropout's "
            "forward pass divides by (1 - p), so its backward pass does too "
            "(dh = dh_drop * mask / (1 - p))",
            expected[key] * (1.0 - p),
        ),
        (
            "the gradient into the hidden layer was divided by p; the scale is 1 / (1 - p)",
            expected[key] * (1.0 - p) / p if p > 0 else None,
        ),
        (
            "the ReLU gradient is missing: multiply by (z1 > 0), the ReLU's derivative at the "
            "pre-activation cache['z1']",
            linear[key],
        ),
        (
            f"grads[{key!r}] was divided by the batch size again: dscores already carries the "
            "1/N of the mean loss, so weight gradients are sums over the batch (X.T @ dz1, "
            "dz1.sum(axis=0)), not means",
            expected[key] / n,
        ),
    ]
    if key == "b1":
        candidates.append(
            ("grads['b1'] is zero: you forgot the bias gradient", np.zeros_like(expected[key]))
        )
    return candidates


def _check_hidden_layer(run: BackwardRun) -> None:
    """grads['W1'] and grads['b1']: through the mask, the 1 / (1 - p) and the ReLU at z1."""
    case = run.case
    grads = {key: run.grad(key) for key in ("W1", "b1")}
    expected = expected_gradients(case)
    wrong = [key for key in grads if not allclose(grads[key], expected[key])]
    if not wrong:
        return
    key = wrong[0]
    through = expected_gradients(case, mask=np.ones_like(case["mask"]))
    linear = expected_gradients(case, activation=lambda z: z)
    candidates = _hidden_layer_candidates(case, key, expected, through, linear)
    mistake = first_match(candidates, grads[key], allclose)
    dropped_everywhere = case["mask"].sum(axis=0) == 0
    reached = np.any(np.abs(grads["W1"][:, dropped_everywhere]) > 1e-12) or np.any(
        np.abs(grads["b1"][dropped_everywhere]) > 1e-12
    )
    if mistake is None and reached:
        mistake = (
            "a gradient reached hidden unit 0, which the mask in the cache dropped for every "
            "example. The backward pass must reuse the forward pass's mask (cache['mask']); it "
            "must never draw a new one"
        )
    fail(run.name, f"{run.described}: {mistake or f'grads[{key!r}] is wrong'}.")


def _check_same_gradients(run: BackwardRun, again: BackwardRun, boolean: BackwardRun) -> None:
    """The same cache gives the same gradients, whether its mask is boolean or 0/1."""
    keys = [k for k in PARAM_KEYS if k in run.grads()]
    if any(not allclose(run.grad(k), again.grad(k)) for k in keys):
        fail(
            run.name,
            f"{run.described} gave different gradients in two calls with the same cache: it "
            "draws something random. The backward pass must reuse the forward pass's mask "
            "(cache['mask']); it must never draw a new one.",
        )
    if any(not allclose(run.grad(k), boolean.grad(k)) for k in keys):
        fail(
            run.name,
            f"{boolean.described}: the gradients differ from those for the same mask as 0/1 "
            "floats. The mask may be boolean; multiply by it (or convert it with "
            ".astype(float)), do not negate or subtract it.",
        )


def _check_all_dropped(run: BackwardRun) -> None:
    """With p = 1 no gradient reaches W1 or b1, and nothing is NaN."""
    keys = [k for k in ("W1", "b1") if k in run.grads()] or ["W1"]
    if any(np.any(run.grad(k) != 0) for k in keys):
        fail(
            run.name,
            f"{run.described}: only b2 has a gradient when every hidden unit is dropped; "
            "grads['W1'], grads['b1'] and grads['W2'] must be zero.",
        )


def _backward_runs(two_layer_backward, sizes, p, seed) -> dict:
    """The calls that the properties of :func:`check_two_layer_backward` examine."""

    def run(described, **case):
        return BackwardRun(two_layer_backward, backward_case(**sizes, **case), described)

    described = f"two_layer_backward(dscores, cache) with p={p}"
    return {
        "main": run(described, p=p, seed=seed),
        "again": run(described, p=p, seed=seed),
        "boolean": run(f"{described} and a boolean mask", p=p, seed=seed, bool_mask=True),
        "no_drop": run("two_layer_backward(dscores, cache) with p=0", p=0.0, seed=seed + 2),
        "all_dropped": BackwardRun(
            two_layer_backward,
            _all_dropped(backward_case(**sizes, p=0.5, seed=seed + 3)),
            "two_layer_backward(dscores, cache) with p=1 (every hidden unit dropped)",
        ),
    }


def _check_untouched(runs: list[BackwardRun]) -> None:
    for each in _examined(runs):
        if each.modified():
            fail(
                each.name,
                f"{each.described} modified {each.modified()}. Leave dscores and the cache as "
                "they are (the caller may use them again): compute new arrays.",
            )


def check_two_layer_backward(
    two_layer_backward, *, n=8, d=5, hidden=7, classes=3, p=0.4, seed=0
) -> Verdict:
    """Check ``two_layer_backward(dscores, cache)`` against finite differences of the forward pass.

    Parameters
    ----------
    two_layer_backward : callable
        The student's function.
    n, d, hidden, classes : int
        Batch size, input, hidden (at least 4) and output widths.
    p : float
        Drop probability in (0, 1).
    seed : int
        Seed of the hand-made caches.
    """
    sizes = {"n": n, "d": d, "hidden": hidden, "classes": classes}
    runs = _backward_runs(two_layer_backward, sizes, p, seed)
    main, all_dropped = runs["main"], runs["all_dropped"]
    verdict = Verdict("two_layer_backward")
    with verdict.expect(
        "return a dict of gradients, each an array of its parameter's shape", side_condition=True
    ):
        _check_structure(main)
    with verdict.expect("leave dscores and the cache unchanged", side_condition=True):
        _check_untouched([main, runs["boolean"], runs["no_drop"], all_dropped])
    with verdict.expect(
        "compute grads['W2'] = h_drop.T @ dscores from what the output layer received"
    ):
        _check_output_layer(main, "W2")
        _check_output_layer(all_dropped, "W2")
    with verdict.expect("compute grads['b2'] as dscores summed over the batch"):
        _check_output_layer(main, "b2")
    with verdict.expect(
        "pass the gradient to W1 and b1 through the kept units only, scaled by "
        "1 / (1 - p), and through the ReLU at z1"
    ):
        _check_hidden_layer(main)
        _check_hidden_layer(runs["no_drop"])
    with verdict.expect(
        "give the same gradients for the same cache, with a boolean or 0/1 mask",
        side_condition=True,
    ):
        _check_same_gradients(main, runs["again"], runs["boolean"])
    with verdict.expect(
        "give W1 and b1 zero gradients (never NaN) when p = 1", side_condition=True
    ):
        _check_all_dropped(all_dropped)
    return verdict


# ------------------------------------------------------------------------ numerical_gradient


class GradientRun:
    """One call of ``numerical_gradient`` on a copy of ``x``, made once; ``make_f(x)`` gives the
    function (it may read the very array passed in, as a closure over ``params`` does)."""

    name = "numerical_gradient"

    def __init__(self, numerical_gradient, x, make_f, described, **kwargs):
        self.x, self.described = x, described
        self._result = Memo(lambda: self._call(numerical_gradient, make_f, kwargs))

    def _call(self, numerical_gradient, make_f, kwargs):
        given = self.x.copy()
        grad = call(numerical_gradient, self.name, self.described, make_f(given), given, **kwargs)
        return given, grad

    def check_restored(self) -> None:
        """x holds its original values on return (up to rounding: x + h - 2 h + h is fine)."""
        if not np.allclose(self._result()[0], self.x, rtol=1e-12, atol=1e-12):
            fail(
                self.name,
                f"{self.described}: x was not restored. After evaluating f at x[i] + h and "
                "x[i] - h, set x[i] back to its original value (save it first: old = x[i]).",
            )

    def structure(self) -> None:
        grad = as_array(self._result()[1], self.name, f"the result of {self.described}")
        check_shape(grad, self.x.shape, self.name, f"the result of {self.described}")

    def values(self) -> np.ndarray:
        """The result as float64 in x's shape (a result of another shape but as many entries is
        :meth:`structure`'s concern)."""
        grad = _float_array(self._result()[1], self.name, f"the result of {self.described}")
        if grad.size != self.x.size:
            check_shape(grad, self.x.shape, self.name, f"the result of {self.described}")
        return grad.reshape(self.x.shape)


def _cube(v):
    return float(np.sum(v**3))


def _sum_sin(v):
    return float(np.sum(np.sin(v)))


def _check_central(run: GradientRun, h: float) -> None:
    """On f(x) = sum(x**3) the central difference is exactly 3 x**2 + h**2."""
    x, grad = run.x, run.values()
    expected = 3 * x**2 + h**2
    if allclose(grad, expected):
        return
    candidates = [
        (
            "these are one-sided differences (f(x + h) - f(x)) / h; use central differences "
            "(f(x + h) - f(x - h)) / (2 h), whose error is O(h**2) instead of O(h)",
            3 * x**2 + 3 * x * h + h**2,
        ),
        (
            "these are one-sided differences (f(x) - f(x - h)) / h; use central differences "
            "(f(x + h) - f(x - h)) / (2 h)",
            3 * x**2 - 3 * x * h + h**2,
        ),
        (
            "the difference f(x + h) - f(x - h) was divided by h; the two points are 2 h apart, "
            "so divide by 2 h",
            2 * expected,
        ),
        ("the step h you were given was not used", 3 * x**2 + 1e-10),
    ]
    mistake = first_match(candidates, grad, allclose)
    if mistake is None and np.allclose(grad, grad.flat[0]):
        mistake = (
            "every entry has the same value: perturb ONE entry at a time (x[i] += h), not the "
            "whole array"
        )
    fail(
        run.name,
        f"{run.described}: {mistake or 'wrong values'}. Expected "
        "(f(x + h e_i) - f(x - h e_i)) / (2 h) for every entry i.",
    )


def _check_default_step(run: GradientRun) -> None:
    if not np.allclose(run.values(), np.cos(run.x), rtol=1e-6, atol=1e-8):
        fail(
            run.name,
            f"{run.described}: with the default h = 1e-5 the result must match the exact "
            "derivative to about 1e-8 (central differences).",
        )


def _linear(weights):
    """f(v) = sum(weights * v), whose gradient is ``weights`` (any difference quotient of a
    linear function gives it, up to its factor: a wrong formula fails another property)."""
    return lambda v: float(np.sum(weights * v))


def _proportional(grad: np.ndarray, target: np.ndarray) -> bool:
    """Whether ``grad`` is ``c * target`` for some c != 0."""
    c = float(np.sum(grad * target) / np.sum(target * target))
    return bool(np.isfinite(c) and abs(c) > 1e-3 and allclose(grad, c * target))


def _check_in_place(closure: GradientRun, weights: np.ndarray) -> None:
    """f = sum(weights * x) reads x through a closure: only an in-place perturbation reaches
    it, and then the result is weights (times the factor of the student's formula)."""
    grad = closure.values()
    if np.allclose(grad, 0.0):
        fail(
            closure.name,
            f"{closure.described} returned zeros: f did not see the perturbation. Perturb x IN "
            "PLACE (x[i] += h, then restore it), because f may read x through a closure, as "
            "lambda _: loss(params) does; do not perturb a copy.",
        )
    if not _proportional(grad, weights):
        fail(
            closure.name,
            f"{closure.described} for f = sum(w * x) read through a closure does not give w: "
            "f must see each entry of x perturbed in place (x[i] += h on the array you were "
            "given, then f(x)), one entry at a time.",
        )


def _check_every_entry(run: GradientRun, weights: np.ndarray) -> None:
    """On f(x) = sum(weights * x) with x of 2 or 3 dimensions, the result is weights (times
    the factor of the student's formula): every entry perturbed, one at a time."""
    grad, x = run.values(), run.x
    if _proportional(grad, weights):
        return
    slices = weights.reshape(x.shape[0], -1).sum(axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
    if _proportional(grad, np.broadcast_to(slices, x.shape).astype(np.float64)):
        what = f"a whole {'row' if x.ndim == 2 else 'slice'} was perturbed at once (x[i] += h)"
    elif np.allclose(grad, grad.flat[0]):
        what = "every entry has the same value: the whole array was perturbed at once"
    else:
        what = f"wrong values for a {x.ndim}-D x"
    fail(
        run.name,
        f"{run.described} does not give w: {what}. Perturb one entry at a time, whatever the "
        "number of dimensions of x: loop over np.ndindex(x.shape), not over range(len(x)) "
        f"(x[i] of a {x.ndim}-D x is a whole {x.ndim - 1}-D slice, not one entry).",
    )


def _gradient_runs(numerical_gradient, shape, h, seed):
    """The calls that the properties of :func:`check_numerical_gradient` examine."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2.0, 2.0, size=2 * int(np.prod(shape)))
    w = rng.uniform(-1.0, 1.0, size=(6, 1))
    weights = {s: rng.uniform(0.5, 2.0, size=s) for s in (w.shape, tuple(shape), (2, *shape))}

    def linear_run(x):
        f = _linear(weights[x.shape])
        described = f"numerical_gradient(f, x, h={h}) for f(x) = sum(w * x), x of shape {x.shape}"
        return GradientRun(numerical_gradient, x, lambda _: f, described, h=h)

    column = GradientRun(
        numerical_gradient,
        values.reshape(-1, 1),
        lambda _: _cube,
        f"numerical_gradient(f, x, h={h}) for f(x) = sum(x**3), x of shape {(values.size, 1)}",
        h=h,
    )
    own = GradientRun(
        numerical_gradient, w, lambda _: _sum_sin, "numerical_gradient(f, x) for f(x) = sum(sin(x))"
    )
    closure = GradientRun(
        numerical_gradient,
        w,
        lambda given: lambda _: _linear(weights[w.shape])(given),
        "numerical_gradient(lambda _: loss(params), params['W'])",
    )
    flat = linear_run(values[: int(np.prod(shape))].reshape(shape))
    deep = linear_run(values.reshape((2, *shape)))
    return {"column": column, "own": own, "closure": closure, "flat": flat, "deep": deep}, weights


def check_numerical_gradient(numerical_gradient, *, shape=(3, 4), h=0.1, seed=0) -> Verdict:
    """Check ``numerical_gradient(f, x, h=1e-5)`` against the contract.

    On ``f(x) = sum(x**3)`` the central difference is exactly ``3 x**2 + h**2``, the one-sided
    one ``3 x**2 + 3 x h + h**2``: a large ``h`` tells them apart. The formula is examined on a
    column ``x`` (shape ``(k, 1)``, where looping over rows is looping over entries). On a
    linear ``f(x) = sum(w * x)`` every difference quotient gives ``w`` up to its factor, so the
    properties about which entries are perturbed (in place, one at a time, for ``x`` of 2 and 3
    dimensions) accept any factor and fail only where the entries are wrong.

    Parameters
    ----------
    numerical_gradient : callable
        The student's function.
    shape : tuple of int
        Shape of the 2-D ``x``; a 3-D ``x`` of shape ``(2, *shape)`` is checked too.
    h : float
        A large step for the formula.
    seed : int
        Seed of ``x`` and ``w``.
    """
    name = "numerical_gradient"
    runs, weights = _gradient_runs(numerical_gradient, shape, h, seed)
    ordered = [runs[k] for k in ("column", "own", "closure", "flat", "deep")]
    verdict = Verdict(name)
    with verdict.expect("return an array of x's shape", side_condition=True):
        for run in _examined(ordered):
            run.structure()
    with verdict.expect(
        "put every entry of x back: x holds its original values on return", side_condition=True
    ):
        for run in _examined(ordered):
            run.check_restored()
    with verdict.expect("compute central differences (f(x + h e_i) - f(x - h e_i)) / (2 h)"):
        _check_central(runs["column"], h)
        _check_default_step(runs["own"])
    with verdict.expect("perturb x in place, so that f sees the change through a closure"):
        _check_in_place(runs["closure"], weights[runs["closure"].x.shape])
    with verdict.expect("perturb every entry of x, one at a time, whatever its dimensions"):
        for run in (runs["flat"], runs["deep"]):
            _check_every_entry(run, weights[run.x.shape])
    return verdict


# ---------------------------------------------------------------------------- relative_error


def _relative_mistake(a, b, value) -> str | None:
    diff = np.abs(a - b)
    entrywise = diff / np.maximum(np.abs(a) + np.abs(b), 1e-8)
    candidates = [
        (
            "that is the MEAN of the entry-wise relative errors; return the largest (np.max), so "
            "that one wrong entry is not averaged away",
            entrywise.mean(),
        ),
        (
            "the difference was divided by |a| only; divide by |a| + |b|, so that "
            "relative_error(a, b) == relative_error(b, a)",
            (diff / np.abs(a)).max(),
        ),
        (
            "the difference was divided by max(|a|, |b|); the contract divides by |a| + |b|",
            (diff / np.maximum(np.abs(a), np.abs(b))).max(),
        ),
        (
            "that is a relative error of the whole arrays (norms); the contract asks for the "
            "largest ENTRY-WISE relative error",
            np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)),
        ),
        (
            "the absolute value of a - b is missing: use np.abs(a - b)",
            ((a - b) / (np.abs(a) + np.abs(b))).max(),
        ),
    ]
    return first_match(candidates, value, lambda u, v: bool(np.isclose(u, v, rtol=1e-6, atol=0)))


class RelativeCall:
    """One call of ``relative_error`` on copies of two arrays, made once."""

    name = "relative_error"

    def __init__(self, relative_error, a, b, described):
        self.a, self.b, self.described = a, b, described
        self._result = Memo(lambda: self._call(relative_error))

    def _call(self, relative_error):
        with np.errstate(all="ignore"):
            return call(relative_error, self.name, self.described, self.a.copy(), self.b.copy())

    def check_one_number(self) -> None:
        value = self._result()
        if value is None:
            fail(self.name, f"{self.described} returned None: did you forget a return "
                            "statement? Return one number, the largest entry-wise relative "
                            "error.")  # fmt: skip
        try:
            as_number(value, self.name, f"the result of {self.described}")
        except ContractViolation:
            shape = _attempt(lambda: np.shape(value))
            if not shape:  # not an array of several values: as_number's message says what
                raise
            fail(self.name, f"{self.described} returned {type_name(value)} of shape {shape}; "
                            "return one number, the largest entry-wise relative error "
                            "(np.max).")  # fmt: skip

    def value(self) -> float:
        """The result as one float (the largest entry of an array of several: whether it is one
        number is :meth:`check_one_number`'s concern)."""
        value = self._result()
        if value is None:
            self.check_one_number()
        try:
            return as_number(value, self.name, f"the result of {self.described}")
        except ContractViolation:
            values = _float_array(value, self.name, f"the result of {self.described}")
        if values.size == 0:
            fail(self.name, f"{self.described} returned an empty array; return one number.")
        return float(np.max(values))


def _check_formula(run: RelativeCall) -> None:
    a, b, value = run.a, run.b, run.value()
    expected = float((np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)).max())
    if np.isclose(value, expected, rtol=1e-6, atol=0):
        return
    mistake = _relative_mistake(a, b, value)
    fail(
        run.name,
        f"{run.described} = {value:.6g}, expected {expected:.6g}"
        f"{': ' + mistake if mistake else ''}. relative_error(a, b) = max over entries of "
        "|a - b| / max(|a| + |b|, 1e-8).",
    )


def _check_zeros(zeros: RelativeCall, one_zero: list[RelativeCall]) -> None:
    """0 for two arrays of zeros (not 0 / 0), 1 wherever one array has a 0 and the other not
    (for entries of 1e-6 too, where the floor 1e-8 is a maximum, not a term of the sum)."""
    name = zeros.name
    if not zeros.value() == 0.0:
        fail(name, f"{zeros.described} must be 0 (two equal arrays), got {zeros.value()}: "
                   "0 / 0 is NaN. Bound the denominator away from zero: "
                   "np.maximum(np.abs(a) + np.abs(b), 1e-8).")  # fmt: skip
    for run in one_zero:
        value = run.value()
        if np.isclose(value, 1.0, rtol=1e-6, atol=0):
            continue
        diff, total = np.abs(run.a - run.b), np.abs(run.a) + np.abs(run.b)
        if np.isclose(value, np.max(diff / (total + 1e-8)), rtol=1e-9, atol=0):
            fail(name, f"{run.described} must be 1, got {value:.6g}: the 1e-8 was added to the "
                       "denominator, |a| + |b| + 1e-8. It is a floor, max(|a| + |b|, 1e-8), "
                       "which changes nothing unless |a| + |b| < 1e-8: an entry of 1e-6 "
                       "against 0 has relative error exactly 1.")  # fmt: skip
        fail(name, f"{run.described} must be 1 (each entry is zero in one array and not in "
                   f"the other), got {value}.")  # fmt: skip


def check_relative_error(relative_error, *, shape=(4, 5), seed=0) -> Verdict:
    """Check ``relative_error(a, b)``: ``max |a - b| / max(|a| + |b|, 1e-8)`` as one number.

    The formula is compared to a relative 1e-6 on entries between 0.5 and 2 (where a floor of
    1e-8 added to the denominator instead of taken as a maximum is as close); entries of 1e-6
    and 3e-7 against 0, whose relative error is exactly 1, tell the two apart.

    Parameters
    ----------
    relative_error : callable
        The student's function.
    shape : tuple of int
        Shape of the test arrays.
    seed : int
        Seed of the arrays.
    """
    name = "relative_error"
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    b = a * (1.0 + rng.uniform(-0.2, 0.2, size=shape))  # entry-wise relative errors <= 0.11
    a.flat[0], b.flat[0] = 1.0, 1.8  # the largest, 0.8 / 2.8, where a - b < 0
    b.flat[1] = a.flat[1]  # one exact match
    zero, other = np.array([0.0, 2.0, 0.0]), np.array([0.5, 0.0, 3.0])  # every entry: 1
    tiny, small = np.array([0.0, 3e-7]), np.array([1e-6, 0.0])  # each entry: 1
    main = [
        RelativeCall(relative_error, u, v, f"relative_error({x}, {y}) for arrays of shape {shape}")
        for u, v, x, y in ((a, b, "a", "b"), (b, a, "b", "a"))
    ]
    zeros = RelativeCall(relative_error, np.zeros(shape), np.zeros(shape),
                         "relative_error(zeros, zeros)")  # fmt: skip
    one_zero = [
        RelativeCall(relative_error, u, v, f"relative_error({u.tolist()}, {v.tolist()})")
        for u, v in ((zero, other), (other, zero), (tiny, small))
    ]
    verdict = Verdict(name)
    with verdict.expect("return one number (a float)", side_condition=True):
        for run in _examined([*main, zeros, *one_zero]):
            run.check_one_number()
    with verdict.expect("return max |a - b| / max(|a| + |b|, 1e-8), the same for (b, a)"):
        for run in main:
            _check_formula(run)
    with verdict.expect(
        "return 0 for two arrays of zeros (never NaN), and 1 where one array has a 0 and the "
        "other does not"
    ):
        _check_zeros(zeros, one_zero)
    return verdict


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


# --------------------------------------------------------------------- missing_scale_error

MISSING_SCALE = "missing_scale_error"

#: Drop probabilities the check asks about.
MISSING_SCALE_CASES = (0.5, 0.2, 0.9)


def measured_missing_scale_error(p: float, *, seed: int = 0) -> float:
    """The relative error a gradient check reports for a backward pass that forgets the
    1/(1 - p) of inverted dropout, MEASURED on a random gradient: the course's relative error
    (largest |a - b| / max(|a| + |b|, 1e-8)) between the right gradient and the one missing the
    scale (``1 - p`` times it)."""
    right = np.random.default_rng(seed).normal(size=(20, 30))
    wrong = right * (1.0 - p)
    return float(np.max(np.abs(right - wrong) / np.maximum(np.abs(right) + np.abs(wrong), 1e-8)))


def missing_scale_properties(verdict: Verdict, missing_scale_error, cases) -> None:
    with verdict.expect("give the relative error a check reports when 1/(1-p) is missing"):
        for p in cases:
            described = f"missing_scale_error({p})"
            value = as_number(
                call(missing_scale_error, MISSING_SCALE, described, p), MISSING_SCALE, described
            )
            measured = measured_missing_scale_error(p)
            q = 1.0 - p
            candidates = [
                ("that is p, the error of the gradient relative to the RIGHT gradient alone; the "
                 "course's relative error divides by |a| + |b|", measured * (1 + q)),
                ("that is p / (1 - p), relative to the WRONG gradient alone; the course's "
                 "relative error divides by |a| + |b|", measured * (1 + q) / q),
            ]  # fmt: skip
            how = "the relative error measured on a random gradient is"
            agrees_with_measurement(
                MISSING_SCALE, described, value, measured, 1e-6, how, candidates
            )


def check_missing_scale_error(missing_scale_error, *, cases=MISSING_SCALE_CASES) -> Verdict:
    """Check ``missing_scale_error(p)``: the relative error (chapter 04's definition) between
    the right gradient of a layer below inverted dropout and one that forgot the 1/(1 - p)."""
    verdict = Verdict(MISSING_SCALE)
    missing_scale_properties(verdict, missing_scale_error, cases)
    return verdict


# ------------------------------------------------------------------------ numpy_experiment

NUMPY_EXPERIMENT = ExperimentSpec(
    "numpy_experiment",
    "p",
    seeding="one rng = np.random.default_rng(seed) for the weights, the batch order and the masks",
)


def check_numpy_experiment(numpy_experiment, *, ps=(0.0, 0.5), seed=0, epochs=3) -> Verdict:
    """Check ``numpy_experiment(ps, seed=0, epochs=30)``: the two-layer NumPy network trained
    with the student's own forward and backward passes, its errors, reproducibly."""
    verdict = Verdict(NUMPY_EXPERIMENT.name)
    experiment_properties(verdict, numpy_experiment, ps, seed, epochs, NUMPY_EXPERIMENT)
    return verdict
