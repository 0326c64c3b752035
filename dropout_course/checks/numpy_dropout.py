"""Contract checks for the NumPy functions: bernoulli_mask, dropout_forward, dropout_backward,
max_norm. Every check takes keyword arguments for its inputs so that hidden tests can run the
same properties on inputs the student has not seen."""

from __future__ import annotations

import numpy as np

from .core import (
    allclose,
    as_array,
    binomial_band,
    call,
    check_shape,
    expect_pair,
    expect_value_error,
    fail,
    first_match,
)

# ----------------------------------------------------------------------------------- masks


def _mask_values(mask: np.ndarray, name: str, described: str, p: float) -> np.ndarray:
    """Return ``mask`` as floats after checking that its entries are 0 or 1."""
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


def check_independent(mask: np.ndarray, name: str, described: str) -> None:
    """Fail if a 2-D mask has a fixed count of kept units per row or repeats one row/column."""
    rows = mask.reshape(mask.shape[0], -1)
    if rows.shape[0] > 1 and np.all(rows == rows[0]):
        fail(
            name,
            f"{described}: every row of the mask is the same. Each example (row) needs its own "
            "mask: draw one independent value per entry of the full shape.",
        )
    if rows.shape[1] > 1 and np.all(rows == rows[:, :1]):
        fail(
            name,
            f"{described}: every column of the mask is the same (one decision per row was "
            "broadcast). Draw one independent value per entry of the full shape.",
        )
    counts = rows.sum(axis=1)
    if rows.shape[0] >= 50 and np.all(counts == counts[0]):
        fail(
            name,
            f"{described}: every row keeps exactly {int(counts[0])} units. The entries must be "
            "independent coin flips, so the number kept varies from row to row; do not choose "
            "a fixed number of units (e.g. with rng.choice or rng.permutation).",
        )


def check_uses_rng(draw, name: str, described: str) -> None:
    """Check that ``draw(rng)`` depends on ``rng`` only, not on NumPy's global state.

    ``draw`` maps a Generator to an array. Same seed must give the same array whatever the
    global ``np.random`` state is; different seeds must give different arrays.
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


def check_bernoulli_mask(bernoulli_mask, *, p=0.3, shape=(400, 250), small_shape=(3, 4), seed=0):
    """Check ``bernoulli_mask(shape, p, rng)`` against the contract.

    Parameters
    ----------
    bernoulli_mask : callable
        The student's function.
    p : float
        Drop probability used for the statistical checks.
    shape : tuple of int
        A large 2-D shape for the drop-rate and independence checks.
    small_shape : int or tuple of int
        Another shape, checked for shape only.
    seed : int
        Seed of the generators.
    """
    name = "bernoulli_mask"
    for s in (small_shape, shape):
        described = f"bernoulli_mask({s!r}, p={p}, rng)"
        mask = as_array(
            call(bernoulli_mask, name, described, s, p, np.random.default_rng(seed)),
            name,
            "the result",
        )
        expected_shape = (s,) if isinstance(s, int) else tuple(s)
        check_shape(mask, expected_shape, name, "the mask")
        mask = _mask_values(mask, name, described, p)
    check_independent(mask, name, described)  # first: a shared mask makes the rate noisy
    check_drop_rate(mask, p, name, described)
    for edge, expected in ((0.0, 1.0), (1.0, 0.0)):
        described = f"bernoulli_mask({small_shape!r}, p={edge:g}, rng)"
        edge_mask = call(
            bernoulli_mask, name, described, small_shape, edge, np.random.default_rng()
        )
        if not np.all(np.asarray(edge_mask, dtype=np.float64) == expected):
            fail(name, f"{described} must be all {'ones' if expected else 'zeros'}.")
    check_uses_rng(lambda rng: bernoulli_mask((50, 40), p, rng), name, "bernoulli_mask")


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


def check_forward_training(dropout_forward, x, p, *, inverted=True, seed=0, check_rate=True):
    """Check one training-mode call of ``dropout_forward`` on ``x``; return ``(out, mask)``."""
    name = "dropout_forward"
    described = f"dropout_forward(x, p={p}, rng, training=True, inverted={inverted})"
    original = x.copy()
    result = call(
        dropout_forward,
        name,
        described,
        x,
        p,
        np.random.default_rng(seed),
        training=True,
        inverted=inverted,
    )
    out, mask = expect_pair(result, name, described, "(out, mask)")
    if not np.array_equal(x, original):
        fail(
            name,
            f"{described} modified its input x in place; compute a new array "
            "(e.g. out = x * mask) instead of x *= mask.",
        )
    out = as_array(out, name, "out")
    if mask is None:
        fail(name, f"{described} returned mask=None; in training it must return the mask it used.")
    mask = as_array(mask, name, "mask")
    check_shape(out, x.shape, name, "out")
    check_shape(mask, x.shape, name, "the mask")
    if out.dtype != x.dtype:
        fail(
            name,
            f"{described}: out has dtype {out.dtype} for an input of dtype {x.dtype}; "
            "it must keep the input's dtype (a float64 mask upcasts float32 inputs: "
            "cast with .astype(x.dtype)).",
        )
    if not np.all(np.isfinite(out)):
        fail(name, f"{described} returned NaN or inf values.")
    mask = _mask_values(mask, name, f"the mask returned by {described}", p)
    if check_rate:
        check_independent(mask, name, described)
        check_drop_rate(mask, p, name, described)
    expected = x * mask / (1.0 - p) if inverted else x * mask
    if not allclose(out, expected):
        dropped_where_mask_keeps = np.any((out == 0) & (mask == 1) & (x != 0))
        kept_where_mask_drops = np.any((out != 0) & (mask == 0))
        mistake = first_match(_forward_candidates(x, mask, p, inverted), out, allclose)
        if mistake is None and (dropped_where_mask_keeps or kept_where_mask_drops):
            mistake = (
                "the mask you returned is not the one you applied: draw the mask once, "
                "apply it, and return that same mask"
            )
        formula = "x * mask / (1 - p)" if inverted else "x * mask"
        fail(name, f"{described}: {mistake or 'out is not ' + formula}. Expected out = {formula}.")
    return out, mask


def check_forward_evaluation(dropout_forward, x, p, *, inverted=True):
    """Check one evaluation-mode call of ``dropout_forward`` on ``x``."""
    name = "dropout_forward"
    described = f"dropout_forward(x, p={p}, rng, training=False, inverted={inverted})"
    original = x.copy()
    result = call(
        dropout_forward,
        name,
        described,
        x,
        p,
        np.random.default_rng(0),
        training=False,
        inverted=inverted,
    )
    out, mask = expect_pair(result, name, described, "(out, None)")
    if not np.array_equal(x, original):
        fail(name, f"{described} modified its input x in place.")
    if mask is not None:
        fail(
            name,
            f"{described} returned a mask; at evaluation no units are dropped, so the "
            "mask must be None (dropout must be off when training=False).",
        )
    out = as_array(out, name, "out")
    check_shape(out, x.shape, name, "out")
    if out.dtype != x.dtype:
        fail(name, f"{described}: out has dtype {out.dtype} for an input of dtype {x.dtype}.")
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


def check_forward_edges(dropout_forward, x):
    """p = 0 is the identity, p = 1 gives zeros (no NaN), p outside [0, 1] raises ValueError."""
    name = "dropout_forward"
    for inverted in (True, False):
        described = f"dropout_forward(x, p=0, rng, training=True, inverted={inverted})"
        out, _ = call(
            dropout_forward,
            name,
            described,
            x,
            0.0,
            np.random.default_rng(0),
            training=True,
            inverted=inverted,
        )
        if not allclose(out, x):
            fail(name, f"{described} must return x unchanged (nothing is dropped).")
        described = f"dropout_forward(x, p=1, rng, training=True, inverted={inverted})"
        with np.errstate(all="ignore"):
            out, _ = call(
                dropout_forward,
                name,
                described,
                x,
                1.0,
                np.random.default_rng(0),
                training=True,
                inverted=inverted,
            )
        out = np.asarray(out)
        if not np.all(np.isfinite(out)):
            fail(
                name,
                f"{described} returned NaN or inf: x * mask / (1 - p) divides 0 by 0 "
                "when p = 1. Every unit is dropped, so return zeros.",
            )
        if np.any(out != 0):
            fail(name, f"{described} must return all zeros (every unit is dropped).")
    for bad in (-0.1, 1.5):
        expect_value_error(
            dropout_forward,
            name,
            f"dropout_forward(x, p={bad}, rng)",
            x,
            bad,
            np.random.default_rng(0),
        )


def check_expectation(dropout_forward, *, p=0.5, value=2.0, n=200_000, seed=0):
    """Inverted dropout keeps the mean: the average training output equals the input."""
    name = "dropout_forward"
    x = np.full(n, value)
    out, _ = call(
        dropout_forward,
        name,
        f"dropout_forward(x, p={p}, rng)",
        x,
        p,
        np.random.default_rng(seed),
        training=True,
        inverted=True,
    )
    mean = float(np.mean(out))
    # The sample mean of value * Bernoulli(1-p) / (1-p) has sd value * sqrt(p / ((1-p) n)).
    band = 6.0 * value * np.sqrt(p / ((1.0 - p) * n))
    if abs(mean - value) > band:
        fail(
            name,
            f"the mean of the training output over {n} units was {mean:.4f} for an "
            f"input of {value}; inverted dropout must keep the expected value "
            f"(E[out] = x, allowed: +-{band:.4f}).",
        )


def check_dropout_forward(dropout_forward, *, p=0.3, shape=(400, 250), seed=0, dtype=np.float64):
    """Check ``dropout_forward(x, p, rng, training=True, inverted=True)`` against the contract.

    Parameters
    ----------
    dropout_forward : callable
        The student's function.
    p : float
        Drop probability for the main checks.
    shape : tuple of int
        Shape of the input (2-D or more, at least 50 rows for the independence check).
    seed : int
        Seed of the input and of the generators.
    dtype : numpy dtype
        Input dtype.
    """
    data_rng = np.random.default_rng(seed + 100)
    x = (data_rng.standard_normal(shape) + 3.0).astype(dtype)  # nonzero, mostly positive
    for inverted in (True, False):
        check_forward_training(dropout_forward, x, p, inverted=inverted, seed=seed)
        check_forward_evaluation(dropout_forward, x, p, inverted=inverted)
    small = x[:4, :5]
    check_forward_training(dropout_forward, small.astype(np.float32), p, check_rate=False)
    check_forward_evaluation(dropout_forward, small.astype(np.float32), p, inverted=False)
    check_forward_edges(dropout_forward, small)
    check_uses_rng(
        lambda rng: dropout_forward(small, p, rng)[0], "dropout_forward", "dropout_forward"
    )
    check_expectation(dropout_forward, p=p)


# ------------------------------------------------------------------------ dropout_backward


def check_dropout_backward(dropout_backward, *, p=0.4, shape=(30, 20), seed=0, dtype=np.float64):
    """Check ``dropout_backward(dout, mask, p, inverted=True)`` against the contract.

    The mask is a fixed pattern, not a random draw, so a backward pass that draws a new mask
    instead of reusing the forward pass's is caught.
    """
    name = "dropout_backward"
    rng = np.random.default_rng(seed)
    dout = (rng.standard_normal(shape) + 2.0).astype(dtype)
    mask = (np.indices(shape).sum(axis=0) % 3 != 0).astype(np.float64)  # a pattern rng never gives
    for inverted in (True, False):
        described = f"dropout_backward(dout, mask, p={p}, inverted={inverted})"
        original = dout.copy()
        grad = as_array(
            call(dropout_backward, name, described, dout, mask.copy(), p, inverted=inverted),
            name,
            "the gradient",
        )
        if not np.array_equal(dout, original):
            fail(name, f"{described} modified dout in place.")
        check_shape(grad, shape, name, "the gradient")
        if grad.dtype != dout.dtype:
            fail(name, f"{described} returned dtype {grad.dtype} for dout of dtype {dout.dtype}.")
        expected = dout * mask / (1.0 - p) if inverted else dout * mask
        if allclose(grad, expected):
            continue
        if not np.array_equal(grad == 0, (mask == 0) | (dout == 0)):
            fail(
                name,
                f"{described}: the gradient is not zero exactly where the forward mask "
                "dropped units. The backward pass must reuse the forward pass's mask "
                "(passed in as mask); it must never draw a new one.",
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
                ),
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
        mistake = first_match(candidates, grad, allclose)
        formula = "dout * mask / (1 - p)" if inverted else "dout * mask"
        fail(name, f"{described}: {mistake or 'wrong gradient'}. Expected {formula}.")
    described = "dropout_backward(dout, mask, p=1, inverted=True)"
    with np.errstate(all="ignore"):
        grad = np.asarray(call(dropout_backward, name, described, dout, np.zeros(shape), 1.0))
    if not np.all(np.isfinite(grad)) or np.any(grad != 0):
        fail(name, f"{described} must return all zeros (no NaN): every unit was dropped.")


# -------------------------------------------------------------------------------- max_norm


def check_max_norm(max_norm, *, c=3.0, n_in=20, n_out=12, seed=0, dtype=np.float64):
    """Check ``max_norm(W, c)`` against the contract.

    ``W`` mixes columns longer than ``c``, shorter than ``c`` and a zero column, and its rows
    have other norms than its columns, so projecting rows, the whole matrix, or every column
    to norm c is told apart.
    """
    name = "max_norm"
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out))
    target = np.linspace(0.3 * c, 3.0 * c, n_out)  # column norms from well inside to 3c
    W = W / np.linalg.norm(W, axis=0) * target
    W[:, n_out // 2] = 0.0
    W = W.astype(dtype)
    for bad in (0.0, -1.0):
        expect_value_error(max_norm, name, f"max_norm(W, c={bad})", W, bad)
    described = f"max_norm(W of shape {W.shape}, c={c})"
    original = W.copy()
    result = as_array(call(max_norm, name, described, W, c), name, "the result")
    if not np.array_equal(W, original):
        fail(name, f"{described} modified W in place; return a new array.")
    check_shape(result, W.shape, name, "the result")
    if result.dtype != W.dtype:
        fail(name, f"{described} returned dtype {result.dtype} for W of dtype {W.dtype}.")
    if not np.all(np.isfinite(result)):
        fail(
            name,
            f"{described} returned NaN: a zero column has norm 0, and dividing by it "
            "gives 0/0. A zero column is inside the ball and must stay zero.",
        )
    norms = np.linalg.norm(W, axis=0)
    expected = W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))
    if allclose(result, expected):
        return
    row_norms = np.linalg.norm(W, axis=1, keepdims=True)
    total = np.linalg.norm(W)
    candidates = [
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
            W * (c / np.where(norms > 0, norms, 1.0)),
        ),
        (
            "the squared norm was compared with c; the constraint is ||w||_2 <= c on the norm "
            "itself",
            W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0) ** 2),
        ),
    ]
    mistake = first_match(candidates, result, allclose)
    fail(
        name,
        f"{described}: {mistake or 'the columns are not projected onto the ball of radius c'}"
        ". Expected each column w to become w * min(1, c / ||w||).",
    )
