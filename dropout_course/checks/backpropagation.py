"""Contract checks of exercise 04, *Backpropagation through thinned networks*.

The functions (their contracts are stated in the exercise notebook):

- ``softmax_cross_entropy(scores, y)`` returns ``(loss, dscores)``: the MEAN cross-entropy over
  the batch and its gradient ``(softmax(scores) - onehot(y)) / N``;
- ``two_layer_forward(X, params, p, rng, training=True)`` returns ``(scores, cache)`` for
  ``scores = h_drop @ W2 + b2``, ``h_drop = relu(X @ W1 + b1) * mask / (1 - p)``, with the cache
  a dict holding :data:`CACHE_KEYS`;
- ``two_layer_backward(dscores, cache)`` returns the dict of gradients :data:`PARAM_KEYS`;
- ``numerical_gradient(f, x, h=1e-5)``: central differences, ``x`` perturbed in place and
  restored;
- ``relative_error(a, b)``: ``max |a - b| / max(|a| + |b|, 1e-8)``.

The backward pass is checked against finite differences of the forward pass (which is exact
here: the loss used is linear in the scores, and no pre-activation lies near the ReLU's kink),
so these checks need no reference implementation. Every check takes keyword arguments for its
inputs so that the hidden tests can run the same properties on inputs the student has not seen.
"""

from __future__ import annotations

import numpy as np

from .core import allclose, as_array, call, check_shape, expect_pair, fail, first_match
from .numpy_dropout import check_drop_rate, check_independent, check_uses_rng

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


# --------------------------------------------------------------------- softmax_cross_entropy


def _softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _check_loss_call(softmax_cross_entropy, scores, y, described):
    name = "softmax_cross_entropy"
    original = scores.copy()
    with np.errstate(all="ignore"):
        result = call(softmax_cross_entropy, name, described, scores, y)
    loss, dscores = expect_pair(result, name, described, "(loss, dscores)")
    if not np.array_equal(scores, original):
        fail(
            name,
            f"{described} modified scores in place (e.g. scores -= scores.max(...)); compute "
            "a new array instead: shifted = scores - scores.max(axis=1, keepdims=True).",
        )
    if np.ndim(loss) != 0:
        fail(name, f"{described}: loss must be one number, got an array of shape {np.shape(loss)}.")
    dscores = as_array(dscores, name, "dscores")
    check_shape(dscores, scores.shape, name, "dscores")
    return float(loss), dscores


def check_softmax_cross_entropy(softmax_cross_entropy, *, n=6, classes=4, seed=0):
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
    described = f"softmax_cross_entropy(scores of shape {scores.shape}, y)"
    loss, dscores = _check_loss_call(softmax_cross_entropy, scores, y, described)
    probs = _softmax(scores)
    rows = np.arange(n)
    expected_loss = -float(np.mean(np.log(probs[rows, y])))
    onehot = np.zeros_like(scores)
    onehot[rows, y] = 1.0
    expected = (probs - onehot) / n
    if not np.all(np.isfinite(dscores)) or not np.isfinite(loss):
        fail(name, f"{described} returned NaN or inf.")
    shifted_columns = np.exp(scores - scores.max(axis=0))
    col_probs = shifted_columns / shifted_columns.sum(axis=0)
    if not allclose(loss, expected_loss):
        mistake = first_match(
            [
                (
                    "the softmax normalises over the batch (axis 0); it must normalise each "
                    "row over the classes (axis=1, keepdims=True)",
                    -float(np.mean(np.log(col_probs[rows, y]))),
                ),
                (
                    "the loss was summed over the batch; it must be the MEAN over the N examples",
                    expected_loss * n,
                ),
                (
                    "the loss was divided by N * C; average over the N examples only (each "
                    "example contributes -log of its correct class's probability)",
                    expected_loss / classes,
                ),
                ("the sign is wrong: the loss is -log(probability)", -expected_loss),
            ],
            loss,
            allclose,
        )
        fail(
            name,
            f"{described}: loss = {loss:.6g}, expected {expected_loss:.6g}"
            f"{': ' + mistake if mistake else ''}. The loss is "
            "-mean_i log softmax(scores)[i, y[i]].",
        )
    if not allclose(dscores, expected):
        mistake = first_match(
            [
                (
                    "dscores was not divided by the batch size N: the loss is the MEAN over "
                    "the batch, so dscores = (softmax(scores) - onehot(y)) / N",
                    expected * n,
                ),
                (
                    "dscores was divided by N * C; divide by the batch size N only",
                    expected / classes,
                ),
                (
                    "the 1 at each example's correct class was not subtracted: dscores = "
                    "(softmax(scores) - onehot(y)) / N",
                    probs / n,
                ),
                (
                    "the 1 at each example's correct class was not subtracted, and dscores "
                    "was not divided by N",
                    probs,
                ),
                (
                    "dscores has the wrong sign: it is (softmax - onehot) / N, the gradient "
                    "of the loss (which gradient DESCENT then subtracts)",
                    -expected,
                ),
                (
                    "the softmax normalises over the batch (axis 0); it must normalise each "
                    "row over the classes (axis=1, keepdims=True)",
                    (col_probs - onehot) / n,
                ),
            ],
            dscores,
            allclose,
        )
        fail(
            name,
            f"{described}: {mistake or 'wrong dscores'}. Expected "
            "dscores = (softmax(scores) - onehot(y)) / N.",
        )
    # Softmax is invariant to adding a constant to a row; exp(1000) overflows.
    big = scores + 1000.0
    described = "softmax_cross_entropy(scores + 1000, y)"
    loss_big, dscores_big = _check_loss_call(softmax_cross_entropy, big, y, described)
    if not (np.isfinite(loss_big) and np.all(np.isfinite(dscores_big))):
        fail(
            name,
            f"{described} returned NaN or inf: exp(1000) overflows. Subtract each row's "
            "maximum before exponentiating (softmax does not change when a constant is "
            "added to a row).",
        )
    if not (allclose(loss_big, expected_loss) and allclose(dscores_big, expected)):
        fail(
            name,
            f"{described} differs from the result for scores: adding a constant to every "
            "score of a row must not change the softmax, the loss or dscores.",
        )


# ------------------------------------------------------------------------- two_layer_forward


def _check_forward_call(two_layer_forward, X, params, p, seed, training, described):
    """Call the student's forward pass; check types, shapes and that inputs are untouched."""
    name = "two_layer_forward"
    originals = {k: v.copy() for k, v in params.items()}
    X_original = X.copy()
    with np.errstate(all="ignore"):
        result = call(
            two_layer_forward,
            name,
            described,
            X,
            params,
            p,
            np.random.default_rng(seed),
            training=training,
        )
    scores, cache = expect_pair(result, name, described, "(scores, cache)")
    if not np.array_equal(X, X_original) or any(
        not np.array_equal(params[k], originals[k]) for k in params
    ):
        fail(name, f"{described} modified X or params in place; compute new arrays instead.")
    scores = as_array(scores, name, "scores")
    check_shape(scores, (X.shape[0], params["W2"].shape[1]), name, "scores")
    if not isinstance(cache, dict):
        fail(name, f"{described}: cache must be a dict, got {type(cache).__name__}.")
    missing = [k for k in CACHE_KEYS if k not in cache]
    if missing:
        fail(
            name,
            f"{described}: the cache has no key(s) {', '.join(missing)}. It must hold "
            f"{', '.join(CACHE_KEYS)} (the backward pass reads them).",
        )
    return scores, cache


def _check_cache_copies(cache, X, params, p, described):
    name = "two_layer_forward"
    if not allclose(np.asarray(cache["X"]), X):
        fail(name, f"{described}: cache['X'] must be the input X.")
    if not allclose(np.asarray(cache["W2"]), params["W2"]):
        fail(name, f"{described}: cache['W2'] must be params['W2'].")
    if np.ndim(cache["p"]) != 0 or float(cache["p"]) != p:
        fail(name, f"{described}: cache['p'] must be the drop probability p={p}.")
    z1 = X @ params["W1"] + params["b1"]
    if not allclose(np.asarray(cache["z1"]), z1):
        if allclose(np.asarray(cache["z1"]), _relu(z1)):
            fail(
                name,
                f"{described}: cache['z1'] holds the ReLU's output; it must hold the "
                "pre-activation z1 = X @ W1 + b1 (before the ReLU).",
            )
        fail(name, f"{described}: cache['z1'] must be the pre-activation X @ W1 + b1.")
    return z1


def check_two_layer_forward(two_layer_forward, *, n=400, d=6, hidden=50, classes=4, p=0.3, seed=0):
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
    rng = np.random.default_rng(seed + 10)
    X = rng.standard_normal((n, d))
    params = _params(rng, d, hidden, classes)
    q = 1.0 - p

    # Training mode.
    described = f"two_layer_forward(X, params, p={p}, rng, training=True)"
    scores, cache = _check_forward_call(two_layer_forward, X, params, p, seed, True, described)
    mask = cache["mask"]
    if mask is None:
        fail(name, f"{described}: cache['mask'] is None; in training it must be the mask used.")
    mask = np.asarray(mask)
    if mask.shape == (hidden,) or mask.shape == (1, hidden):
        fail(
            name,
            f"{described}: the mask has shape {mask.shape}, one mask shared by the whole "
            f"batch. Each example needs its own mask: draw one of shape (N, H) = {(n, hidden)}.",
        )
    if mask.shape == (n, classes):
        fail(
            name,
            f"{described}: the mask has the shape of the scores {mask.shape}; dropout acts on "
            f"the hidden units: the mask must have shape (N, H) = {(n, hidden)}.",
        )
    check_shape(mask, (n, hidden), name, "cache['mask']")
    mask = _mask_as_floats(mask, name, described)
    check_independent(mask, name, described)
    check_drop_rate(mask, p, name, described)
    z1 = _check_cache_copies(cache, X, params, p, described)
    h = _relu(z1)
    expected = (h * mask / q) @ params["W2"] + params["b2"]
    if not allclose(scores, expected):
        W2, b2 = params["W2"], params["b2"]
        mistake = first_match(
            [
                (
                    "the kept hidden units were not scaled: inverted dropout divides them by "
                    "(1 - p)",
                    (h * mask) @ W2 + b2,
                ),
                (
                    "the kept hidden units were multiplied by (1 - p); inverted dropout "
                    "DIVIDES them by (1 - p) in training",
                    (h * mask * q) @ W2 + b2,
                ),
                (
                    "the units kept are where the mask is 1: use h * mask, not h * (1 - mask)",
                    (h * (1 - mask) / q) @ W2 + b2,
                ),
                (
                    "the mask was not applied (no hidden unit was dropped)",
                    (h / q) @ W2 + b2,
                ),
                (
                    "there is no ReLU: h = np.maximum(z1, 0) with z1 = X @ W1 + b1",
                    (z1 * mask / q) @ W2 + b2,
                ),
            ],
            scores,
            allclose,
        )
        if mistake is None and allclose(scores, h @ W2 + b2):
            mistake = "no dropout was applied in training"
        if mistake is None:
            mistake = (
                "the scores do not match the mask in the cache: apply the mask you return, "
                "to the hidden layer's output, and return that same mask"
            )
        fail(
            name,
            f"{described}: {mistake}. Expected scores = (relu(X @ W1 + b1) * mask / (1 - p)) "
            "@ W2 + b2.",
        )
    if not allclose(np.asarray(cache["h_drop"]), h * mask / q):
        if allclose(np.asarray(cache["h_drop"]), h):
            fail(
                name,
                f"{described}: cache['h_drop'] holds h before dropout; it must hold what the "
                "output layer received, relu(z1) * mask / (1 - p).",
            )
        fail(name, f"{described}: cache['h_drop'] must be relu(z1) * mask / (1 - p).")
    small = X[:5]
    check_uses_rng(lambda r: two_layer_forward(small, params, p, r)[0], name, "two_layer_forward")

    # Evaluation mode.
    described = f"two_layer_forward(X, params, p={p}, rng, training=False)"
    scores, cache = _check_forward_call(two_layer_forward, X, params, p, seed, False, described)
    expected = h @ params["W2"] + params["b2"]
    if cache["mask"] is not None:
        fail(
            name,
            f"{described}: cache['mask'] must be None at evaluation: dropout is off when "
            "training=False.",
        )
    if not allclose(scores, expected):
        if allclose(scores, (h * q) @ params["W2"] + params["b2"]):
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
    if not allclose(np.asarray(cache["h_drop"]), h):
        fail(name, f"{described}: cache['h_drop'] must be h = relu(z1) at evaluation.")

    # Edges: p = 0 changes nothing, p = 1 drops every hidden unit.
    for edge in (0.0, 1.0):
        described = f"two_layer_forward(X, params, p={edge:g}, rng, training=True)"
        scores, _ = _check_forward_call(
            two_layer_forward, X[:10], params, edge, seed, True, described
        )
        if not np.all(np.isfinite(scores)):
            fail(
                name,
                f"{described} returned NaN or inf: h * mask / (1 - p) divides 0 by 0 when "
                "p = 1. Every hidden unit is dropped, so h_drop is all zeros.",
            )
        expected = (
            h[:10] @ params["W2"] + params["b2"]
            if edge == 0
            else np.broadcast_to(params["b2"], scores.shape)
        )
        if not allclose(scores, expected):
            what = "the scores without dropout" if edge == 0 else "b2 for every example"
            fail(name, f"{described}: the scores must be {what}.")


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


def _call_backward(two_layer_backward, case, described):
    name = "two_layer_backward"
    cache = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in case["cache"].items()}
    with np.errstate(all="ignore"):
        grads = call(two_layer_backward, name, described, case["dscores"].copy(), cache)
    if not isinstance(grads, dict):
        fail(name, f"{described} must return a dict of gradients, got {type(grads).__name__}.")
    missing = [k for k in PARAM_KEYS if k not in grads]
    if missing:
        biases = [k for k in missing if k.startswith("b")]
        hint = (
            " You forgot the bias gradient: the gradient of a bias is the gradient of its "
            "layer's output summed over the batch."
            if biases
            else ""
        )
        fail(
            name,
            f"{described}: the dict of gradients has no key(s) {', '.join(missing)}; it "
            f"must have {', '.join(PARAM_KEYS)}.{hint}",
        )
    for key in PARAM_KEYS:
        value = as_array(grads[key], name, f"grads[{key!r}]")
        check_shape(value, case["params"][key].shape, name, f"grads[{key!r}]")
        if not np.all(np.isfinite(value)):
            hint = (
                " With p = 1, dh_drop * mask / (1 - p) divides 0 by 0; every hidden unit was "
                "dropped, so the gradient into the hidden layer is zero (dropout_backward "
                "handles p = 1)."
                if case["p"] == 1
                else ""
            )
            fail(name, f"{described}: grads[{key!r}] holds NaN or inf.{hint}")
    for key, value in case["cache"].items():
        if isinstance(value, np.ndarray) and not np.array_equal(cache[key], value):
            fail(name, f"{described} modified cache[{key!r}] in place; compute new arrays.")
    return {k: np.asarray(grads[k], dtype=np.float64) for k in PARAM_KEYS}


def _diagnose_hidden_layer(grads, expected, case, described):
    """Name the mistake in grads['W1'] / grads['b1'] (the path through dropout and ReLU)."""
    name = "two_layer_backward"
    p, n = case["p"], case["dscores"].shape[0]
    q = 1.0 - p
    dropped_everywhere = case["mask"].sum(axis=0) == 0
    ones = np.ones_like(case["mask"])
    through = expected_gradients(case, mask=ones)
    linear = expected_gradients(case, activation=lambda z: z)
    for key in ("W1", "b1"):
        if allclose(grads[key], expected[key]):
            continue
        candidates = [
            (
                "the gradient flowed through dropped hidden units: the backward pass must "
                "multiply by the forward pass's mask (cache['mask']) as well as divide by "
                "(1 - p)",
                through[key],
            ),
            (
                "the gradient into the hidden layer was not divided by (1 - p): inverted "
                "dropout's forward pass divides by (1 - p), so its backward pass does too "
                "(dh = dh_drop * mask / (1 - p))",
                expected[key] * q,
            ),
            (
                "the gradient into the hidden layer was divided by p; the scale is 1 / (1 - p)",
                expected[key] * q / p if p > 0 else np.full_like(expected[key], np.nan),
            ),
            (
                "the ReLU gradient is missing: multiply by (z1 > 0), the ReLU's derivative "
                "at the pre-activation cache['z1']",
                linear[key],
            ),
            (
                f"grads[{key!r}] was divided by the batch size again: dscores already "
                "carries the 1/N of the mean loss, so weight gradients are sums over the "
                "batch (X.T @ dz1, dz1.sum(axis=0)), not means",
                expected[key] / n,
            ),
        ]
        if key == "b1":
            candidates.append(
                ("grads['b1'] is zero: you forgot the bias gradient", np.zeros_like(expected[key]))
            )
        mistake = first_match(candidates, grads[key], allclose)
        if mistake is None:
            column = grads["W1"][:, dropped_everywhere]
            if np.any(np.abs(column) > 1e-12) or np.any(
                np.abs(grads["b1"][dropped_everywhere]) > 1e-12
            ):
                mistake = (
                    "a gradient reached hidden unit 0, which the mask in the cache dropped for "
                    "every example. The backward pass must reuse the forward pass's mask "
                    "(cache['mask']); it must never draw a new one"
                )
        fail(name, f"{described}: {mistake or f'grads[{key!r}] is wrong'}.")


def check_two_layer_backward(two_layer_backward, *, n=8, d=5, hidden=7, classes=3, p=0.4, seed=0):
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
        Seed of the hand-made cache.
    """
    name = "two_layer_backward"
    described = f"two_layer_backward(dscores, cache) with p={p}"
    case = backward_case(n=n, d=d, hidden=hidden, classes=classes, p=p, seed=seed)
    grads = _call_backward(two_layer_backward, case, described)
    again = _call_backward(two_layer_backward, case, described)
    if any(not np.array_equal(grads[k], again[k]) for k in PARAM_KEYS):
        fail(
            name,
            f"{described} gave different gradients in two calls with the same cache: it "
            "draws something random. The backward pass must reuse the forward pass's mask "
            "(cache['mask']); it must never draw a new one.",
        )
    expected = expected_gradients(case)
    h = _relu(case["cache"]["z1"])
    if not allclose(grads["W2"], expected["W2"]):
        mistake = first_match(
            [
                (
                    "grads['W2'] was computed from h before dropout; the output layer received "
                    "h_drop = relu(z1) * mask / (1 - p), so grads['W2'] = h_drop.T @ dscores",
                    h.T @ case["dscores"],
                ),
                (
                    "grads['W2'] was computed from h * mask without the 1 / (1 - p); use the "
                    "h_drop the forward pass stored",
                    (h * case["mask"]).T @ case["dscores"],
                ),
                (
                    "grads['W2'] was divided by the batch size again: dscores already carries "
                    "the 1/N of the mean loss",
                    expected["W2"] / n,
                ),
            ],
            grads["W2"],
            allclose,
        )
        fail(name, f"{described}: {mistake or 'grads[W2] is wrong'}.")
    if not allclose(grads["b2"], expected["b2"]):
        mistake = first_match(
            [
                (
                    "grads['b2'] was averaged over the batch; dscores already carries the 1/N "
                    "of the mean loss, so sum it over the batch: dscores.sum(axis=0)",
                    expected["b2"] / n,
                ),
                (
                    "grads['b2'] is zero: you forgot the bias gradient, dscores.sum(axis=0)",
                    np.zeros_like(expected["b2"]),
                ),
            ],
            grads["b2"],
            allclose,
        )
        fail(name, f"{described}: {mistake or 'grads[b2] is wrong'}.")
    _diagnose_hidden_layer(grads, expected, case, described)

    # The same with a boolean mask, and at the edges p = 0 and p = 1.
    case = backward_case(
        n=n, d=d, hidden=hidden, classes=classes, p=p, seed=seed + 1, bool_mask=True
    )
    described = f"two_layer_backward(dscores, cache) with a boolean mask, p={p}"
    grads = _call_backward(two_layer_backward, case, described)
    expected = expected_gradients(case)
    if any(not allclose(grads[k], expected[k]) for k in PARAM_KEYS):
        fail(
            name,
            f"{described}: wrong gradients. The mask may be boolean; multiply by it (or "
            "convert it with .astype(float)), do not negate or subtract it.",
        )
    case = backward_case(n=n, d=d, hidden=hidden, classes=classes, p=0.0, seed=seed + 2)
    described = "two_layer_backward(dscores, cache) with p=0"
    grads = _call_backward(two_layer_backward, case, described)
    expected = expected_gradients(case)
    if any(not allclose(grads[k], expected[k]) for k in PARAM_KEYS):
        fail(name, f"{described}: wrong gradients (with p = 0 nothing is dropped or scaled).")
    case = backward_case(n=n, d=d, hidden=hidden, classes=classes, p=0.5, seed=seed + 3)
    case["p"] = case["cache"]["p"] = 1.0
    case["mask"] = np.zeros_like(case["mask"])
    case["cache"]["mask"] = case["mask"].copy()
    case["cache"]["h_drop"] = np.zeros_like(case["cache"]["h_drop"])
    described = "two_layer_backward(dscores, cache) with p=1 (every hidden unit dropped)"
    grads = _call_backward(two_layer_backward, case, described)  # fails on NaN
    zero = all(np.all(grads[k] == 0) for k in ("W1", "b1", "W2"))
    if not zero or not allclose(grads["b2"], case["dscores"].sum(axis=0)):
        fail(
            name,
            f"{described}: only b2 has a gradient when every hidden unit is dropped; "
            "grads['W1'], grads['b1'] and grads['W2'] must be zero.",
        )


# ------------------------------------------------------------------------ numerical_gradient


def check_numerical_gradient(numerical_gradient, *, shape=(3, 4), h=0.1, seed=0):
    """Check ``numerical_gradient(f, x, h=1e-5)`` against the contract.

    On ``f(x) = sum(x**3)`` the central difference is exactly ``3 x**2 + h**2``, the one-sided
    one ``3 x**2 + 3 x h + h**2``: a large ``h`` tells them apart.

    Parameters
    ----------
    numerical_gradient : callable
        The student's function.
    shape : tuple of int
        Shape of ``x`` for the main check (2-D); a 3-D array is checked too.
    h : float
        A large step for the main check.
    seed : int
        Seed of ``x``.
    """
    name = "numerical_gradient"
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=shape)
    original = x.copy()

    def cube(v):
        return float(np.sum(v**3))

    described = f"numerical_gradient(f, x, h={h}) for f(x) = sum(x**3), x of shape {shape}"
    grad = as_array(call(numerical_gradient, name, described, cube, x, h=h), name, "the result")
    if not np.allclose(x, original, rtol=0, atol=1e-12):
        fail(
            name,
            f"{described}: x was not restored. After evaluating f at x[i] + h and x[i] - h, "
            "set x[i] back to its original value (save it first: old = x[i]).",
        )
    check_shape(grad, shape, name, "the result")
    expected = 3 * x**2 + h**2
    if not allclose(grad, expected):
        mistake = first_match(
            [
                (
                    "these are one-sided differences (f(x + h) - f(x)) / h; use central "
                    "differences (f(x + h) - f(x - h)) / (2 h), whose error is O(h**2) "
                    "instead of O(h)",
                    3 * x**2 + 3 * x * h + h**2,
                ),
                (
                    "these are one-sided differences (f(x) - f(x - h)) / h; use central "
                    "differences (f(x + h) - f(x - h)) / (2 h)",
                    3 * x**2 - 3 * x * h + h**2,
                ),
                (
                    "the difference f(x + h) - f(x - h) was divided by h; the two points are "
                    "2 h apart, so divide by 2 h",
                    2 * expected,
                ),
                (
                    "the step h you were given was not used",
                    3 * x**2 + 1e-10,
                ),
                (
                    "a whole row was perturbed at once (x[i] += h on a 2-D x changes a row): "
                    "perturb one entry at a time, looping over np.ndindex(x.shape)",
                    np.broadcast_to(np.sum(3 * x**2 + h**2, axis=1, keepdims=True), x.shape),
                ),
            ],
            grad,
            allclose,
        )
        if mistake is None and np.allclose(grad, grad.flat[0]):
            mistake = (
                "every entry has the same value: perturb ONE entry at a time (x[i] += h), "
                "not the whole array"
            )
        fail(
            name,
            f"{described}: {mistake or 'wrong values'}. Expected "
            "(f(x + h e_i) - f(x - h e_i)) / (2 h) for every entry i.",
        )

    # f reads x through a closure: only an in-place perturbation reaches it.
    params = {"W": rng.uniform(-1.0, 1.0, size=(2, 3))}

    def closure(_ignored):
        return float(np.sum(np.sin(params["W"])))

    described = "numerical_gradient(lambda _: loss(params), params['W'])"
    grad = as_array(
        call(numerical_gradient, name, described, closure, params["W"]), name, "the result"
    )
    check_shape(grad, (2, 3), name, "the result")
    if np.allclose(grad, 0.0):
        fail(
            name,
            f"{described} returned zeros: f did not see the perturbation. Perturb x IN PLACE "
            "(x[i] += h, then restore it), because f may read x through a closure, as "
            "lambda _: loss(params) does; do not perturb a copy.",
        )
    if not np.allclose(grad, np.cos(params["W"]), rtol=1e-6, atol=1e-8):
        fail(
            name,
            f"{described}: with the default h = 1e-5 the result must match the exact "
            "derivative to about 1e-8 (central differences).",
        )

    # Every entry of a 3-D array.
    x3 = rng.uniform(-2.0, 2.0, size=(2, 3, 4))
    described = "numerical_gradient(f, x, h=0.1) for f(x) = sum(x**3), x of shape (2, 3, 4)"
    grad = as_array(call(numerical_gradient, name, described, cube, x3, h=0.1), name, "result")
    check_shape(grad, x3.shape, name, "the result")
    if not allclose(grad, 3 * x3**2 + 0.01):
        fail(
            name,
            f"{described}: wrong values. Perturb every entry of x, one at a time, whatever "
            "its number of dimensions: loop over np.ndindex(x.shape), not over range(len(x)) "
            "(for a 3-D x, x[i] is a whole 2-D slice).",
        )


# ---------------------------------------------------------------------------- relative_error


def check_relative_error(relative_error, *, shape=(4, 5), seed=0):
    """Check ``relative_error(a, b)``: ``max |a - b| / max(|a| + |b|, 1e-8)`` as one float.

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
    described = f"relative_error(a, b) for arrays of shape {shape}"
    value = call(relative_error, name, described, a.copy(), b.copy())
    if np.ndim(value) != 0:
        fail(
            name,
            f"{described} returned an array of shape {np.shape(value)}; return one number, "
            "the largest entry-wise relative error (np.max).",
        )
    value = float(value)
    entrywise = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)
    expected = float(entrywise.max())
    if not np.isclose(value, expected, rtol=1e-9, atol=0):
        diff = np.abs(a - b)
        mistake = first_match(
            [
                (
                    "that is the MEAN of the entry-wise relative errors; return the largest "
                    "(np.max), so that one wrong entry is not averaged away",
                    entrywise.mean(),
                ),
                (
                    "the difference was divided by |a| only; divide by |a| + |b|, so that "
                    "relative_error(a, b) == relative_error(b, a)",
                    (diff / np.abs(a)).max(),
                ),
                (
                    "the difference was divided by max(|a|, |b|); the contract divides by "
                    "|a| + |b|",
                    (diff / np.maximum(np.abs(a), np.abs(b))).max(),
                ),
                (
                    "that is a relative error of the whole arrays (norms); the contract asks "
                    "for the largest ENTRY-WISE relative error",
                    np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)),
                ),
                (
                    "the absolute value of a - b is missing: use np.abs(a - b)",
                    ((a - b) / (np.abs(a) + np.abs(b))).max(),
                ),
            ],
            value,
            lambda u, v: bool(np.isclose(u, v, rtol=1e-9, atol=0)),
        )
        fail(
            name,
            f"{described} = {value:.6g}, expected {expected:.6g}"
            f"{': ' + mistake if mistake else ''}. relative_error(a, b) = "
            "max over entries of |a - b| / max(|a| + |b|, 1e-8).",
        )
    zeros = np.zeros(shape)
    described = "relative_error(zeros, zeros)"
    with np.errstate(all="ignore"):
        value = call(relative_error, name, described, zeros, zeros.copy())
    if np.ndim(value) != 0 or not np.isfinite(value) or float(value) != 0.0:
        fail(
            name,
            f"{described} must be 0 (two equal arrays), got {value}: 0 / 0 is NaN. Bound the "
            "denominator away from zero: np.maximum(np.abs(a) + np.abs(b), 1e-8).",
        )
    one_zero = np.array([0.0, 1.0, 2.0])
    other = np.array([1e-3, 1.0, 2.0])
    for first, second in ((one_zero, other), (other, one_zero)):
        described = f"relative_error({first.tolist()}, {second.tolist()})"
        with np.errstate(all="ignore"):
            value = call(relative_error, name, described, first.copy(), second.copy())
        if np.ndim(value) != 0 or not np.isclose(float(value), 1.0, rtol=1e-9):
            fail(
                name,
                f"{described} must be 1 (an entry that is zero in one array and not in the "
                f"other), got {value}.",
            )
