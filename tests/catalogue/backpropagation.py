"""Exercise 04 (backpropagation through thinned networks): the checks of each answer cell, wrong
implementations that students write (each with the words its failure message must contain), and
correct implementations in other styles."""

from autograder.content.hidden import backpropagation as hidden04
from dropout_course.checks import backpropagation as checks04

from .entries import Implementation, variant

ASSIGNMENT = A04 = "04-backpropagation"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "dropout_backward": (checks04.check_dropout_backward, hidden04.hidden_dropout_backward),
    "two_layer_forward": (checks04.check_two_layer_forward, hidden04.hidden_two_layer_forward),
    "softmax_cross_entropy": (
        checks04.check_softmax_cross_entropy,
        hidden04.hidden_softmax_cross_entropy,
    ),
    "two_layer_backward": (checks04.check_two_layer_backward, hidden04.hidden_two_layer_backward),
    "relative_error": (checks04.check_relative_error, hidden04.hidden_relative_error),
    "numerical_gradient": (checks04.check_numerical_gradient, hidden04.hidden_numerical_gradient),
    "missing_scale_error": (
        checks04.check_missing_scale_error,
        hidden04.hidden_missing_scale_error,
    ),
    "numpy_experiment": (checks04.check_numpy_experiment, hidden04.hidden_numpy_experiment),
}

#: The instructor's experiment, which the entries below change in one place each.
_NUMPY_EXPERIMENT = (
    "def numpy_experiment(ps, seed=0, epochs=30):\n"
    "    from dropout_course.data import digits_split\n"
    "\n"
    "    X_train, y_train, X_test, y_test = (a.numpy() for a in digits_split(300, seed=0))\n"
    "    X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)\n"
    "    results = {}\n"
    "    for p in ps:\n"
    "        rng = np.random.default_rng(seed)  # the weights, the batch order and the masks\n"
    "        params = {\n"
    '            "W1": rng.normal(0.0, np.sqrt(2 / 64), (64, 128)),\n'
    '            "b1": np.zeros(128),\n'
    '            "W2": rng.normal(0.0, np.sqrt(1 / 128), (128, 10)),\n'
    '            "b2": np.zeros(10),\n'
    "        }\n"
    "        for _ in range(epochs):\n"
    "            order = rng.permutation(len(X_train))\n"
    "            for start in range(0, len(X_train), 50):\n"
    "                batch = order[start : start + 50]\n"
    "                scores, cache = two_layer_forward(X_train[batch], params, p, rng)\n"
    "                _, dscores = softmax_cross_entropy(scores, y_train[batch])\n"
    "                grads = two_layer_backward(dscores, cache)\n"
    "                for name in params:\n"
    "                    params[name] = params[name] - 0.1 * grads[name]\n"
    "        errors = []\n"
    "        for X, y in ((X_train, y_train), (X_test, y_test)):\n"
    "            scores, _ = two_layer_forward(X, params, p, rng, training=False)\n"
    "            errors.append(int((scores.argmax(axis=1) != y).sum()) / len(y))\n"
    "        results[p] = tuple(errors)\n"
    "    return results\n"
)


_NUMPY_BASE = Implementation(
    "instructor", "04-backpropagation", "numpy_experiment", _NUMPY_EXPERIMENT
)


def _missing_scale(name, body, message=""):
    code = "def missing_scale_error(p):\n" + body
    return Implementation(name, "04-backpropagation", "missing_scale_error", code, message)


def _entry(grade_id, signature):
    def make(name, body, message=""):
        return Implementation(name, A04, grade_id, signature + body, message)

    return make


_dropout_backward = _entry(
    "dropout_backward", "def dropout_backward(dout, mask, p, inverted=True):\n"
)
_forward = _entry("two_layer_forward", "def two_layer_forward(X, params, p, rng, training=True):\n")
_loss = _entry("softmax_cross_entropy", "def softmax_cross_entropy(scores, y):\n")
_backward = _entry("two_layer_backward", "def two_layer_backward(dscores, cache):\n")
_relative = _entry("relative_error", "def relative_error(a, b):\n")
_numerical = _entry("numerical_gradient", "def numerical_gradient(f, x, h=1e-5):\n")

# Pieces of correct code that the wrong entries share, so each entry has exactly one mistake.
_HIDDEN = '    z1 = X @ params["W1"] + params["b1"]\n    h = np.maximum(z1, 0)\n'
_OUTPUT_AND_CACHE = (
    '    scores = h_drop @ params["W2"] + params["b2"]\n'
    '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h_drop, "W2": params["W2"], "p": p}\n'
    "    return scores, cache\n"
)
_EVAL = "    if not training:\n        mask, h_drop = None, h\n"


def _forward_with(training_body, *, evaluation=_EVAL, output=_OUTPUT_AND_CACHE):
    return _HIDDEN + evaluation + "    else:\n" + training_body + output


_CORRECT_TRAINING = (
    "        mask = rng.random(h.shape) >= p\n"
    "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
)
_SOFTMAX = (
    "    n = scores.shape[0]\n"
    "    shifted = scores - scores.max(axis=1, keepdims=True)\n"
    "    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)\n"
)
_LOSS = "    loss = -np.log(probs[np.arange(n), y]).mean()\n"
_UPPER = (
    '    dW2 = cache["h_drop"].T @ dscores\n'
    "    db2 = dscores.sum(axis=0)\n"
    '    dh_drop = dscores @ cache["W2"].T\n'
    '    mask, p = cache["mask"], cache["p"]\n'
)
_LOWER = (
    '    dz1 = dh * (cache["z1"] > 0)\n'
    '    return {"W1": cache["X"].T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2}\n'
)
_SAFE_DH = "    dh = np.zeros_like(dh_drop) if p == 1 else dh_drop * mask / (1 - p)\n"

WRONG = [
    # ------------------------------------------------------------------ dropout_backward
    _dropout_backward(
        "db_new_mask",
        "    if p == 1:\n        return np.zeros_like(dout)\n"
        "    fresh = np.random.random(dout.shape) >= p\n"
        "    return dout * fresh / (1 - p) if inverted else dout * fresh\n",
        "never draw a new one",
    ),
    _dropout_backward(
        "db_ignores_mask",
        "    if p == 1:\n        return np.zeros_like(dout)\n"
        "    return dout / (1 - p) if inverted else dout.copy()\n",
        "not zero exactly where the forward mask dropped",
    ),
    _dropout_backward(
        "db_not_scaled",
        "    return dout * mask\n",
        "not scaled",
    ),
    _dropout_backward(
        "db_times_keep",
        "    return dout * mask * (1 - p) if inverted else dout * mask\n",
        "multiplied by (1 - p)",
    ),
    _dropout_backward(
        "db_standard_scaled",
        "    if p == 1:\n        return np.zeros_like(dout)\n    return dout * mask / (1 - p)\n",
        "no 1 / (1 - p)",
    ),
    _dropout_backward(
        "db_nan_at_p1",
        "    return dout * mask / (1 - p) if inverted else dout * mask\n",
        "no NaN",
    ),
    # ------------------------------------------------------------------ two_layer_forward
    _forward(
        "fw_mask_shared_by_batch",
        _forward_with(
            "        mask = rng.random(h.shape[1]) >= p\n"
            "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        ),
        "one mask shared by the whole batch",
    ),
    _forward(
        "fw_mask_rows_repeated",
        _forward_with(
            "        mask = np.tile(rng.random(h.shape[1]) >= p, (h.shape[0], 1))\n"
            "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        ),
        "every row of the mask is the same",
    ),
    _forward(
        "fw_not_scaled",
        _forward_with("        mask = rng.random(h.shape) >= p\n        h_drop = h * mask\n"),
        "not scaled",
    ),
    _forward(
        "fw_p_keeps",
        _forward_with(
            "        mask = rng.random(h.shape) < p\n"
            "        h_drop = np.zeros_like(h) if p == 0 else h * mask / p\n"
        ),
        "KEEP probability",
    ),
    _forward(
        "fw_global_rng",
        _forward_with(
            "        mask = np.random.random(h.shape) >= p\n"
            "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        ),
        "never from np.random",
    ),
    _forward(
        "fw_dropout_at_eval",
        _HIDDEN + _CORRECT_TRAINING.replace("        ", "    ") + _OUTPUT_AND_CACHE,
        "must be None at evaluation",
    ),
    _forward(
        "fw_relu_in_cache",
        _forward_with(_CORRECT_TRAINING).replace('"z1": z1', '"z1": h'),
        "holds the ReLU's output",
    ),
    _forward(
        "fw_cache_h_before_dropout",
        _forward_with(_CORRECT_TRAINING).replace('"h_drop": h_drop', '"h_drop": h'),
        "holds h before dropout",
    ),
    _forward(
        "fw_nan_at_p1",
        _forward_with(
            "        mask = rng.random(h.shape) >= p\n        h_drop = h * mask / (1 - p)\n"
        ),
        "NaN or inf",
    ),
    _forward(
        "fw_mask_kept_in_params",
        _forward_with(_CORRECT_TRAINING).replace(
            "    scores = h_drop", '    params["mask"] = mask\n    scores = h_drop'
        ),
        "modified params: it added the key 'mask'",
    ),
    _forward(
        "fw_dropout_on_scores",
        _HIDDEN
        + '    scores = h @ params["W2"] + params["b2"]\n'
        + "    mask = rng.random(scores.shape) >= p if training else None\n"
        + "    if training:\n"
        + "        scores = np.zeros_like(scores) if p == 1 else scores * mask / (1 - p)\n"
        + '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h, "W2": params["W2"], "p": p}\n'
        + "    return scores, cache\n",
        "dropout acts on the hidden units",
    ),
    # ------------------------------------------------------------------ softmax_cross_entropy
    _loss(
        "sce_not_divided_by_n",
        _SOFTMAX + _LOSS + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores\n",
        "not divided by the batch size",
    ),
    _loss(
        "sce_summed",
        _SOFTMAX + "    loss = -np.log(probs[np.arange(n), y]).sum()\n"
        "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores\n",
        "summed over the batch",
    ),
    _loss(
        "sce_no_onehot",
        _SOFTMAX + _LOSS + "    return float(loss), probs / n\n",
        "was not subtracted",
    ),
    _loss(
        "sce_unstable",
        "    n = scores.shape[0]\n"
        "    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)\n"
        + _LOSS
        + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores / n\n",
        "Subtract each row's maximum",
    ),
    _loss(
        "sce_in_place",
        "    n = scores.shape[0]\n"
        "    scores -= scores.max(axis=1, keepdims=True)\n"
        "    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)\n"
        + _LOSS
        + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores / n\n",
        "modified scores in place",
    ),
    _loss(
        "sce_softmax_over_batch",
        "    n = scores.shape[0]\n"
        "    shifted = scores - scores.max(axis=0)\n"
        "    probs = np.exp(shifted) / np.exp(shifted).sum(axis=0)\n"
        + _LOSS
        + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores / n\n",
        "normalises over the batch",
    ),
    _loss(
        "sce_batch_max",
        # Stable for scores + 1000, but a row thousands below the batch's maximum underflows.
        "    n = scores.shape[0]\n"
        "    e = np.exp(scores - scores.max())\n"
        "    probs = e / e.sum(axis=1, keepdims=True)\n" + _LOSS + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores / n\n",
        "one maximum for the whole batch",
    ),
    _loss(
        "sce_row_mean_shift",
        # Stable while each row's scores lie within ~700 of its mean; a wide row overflows.
        "    n = scores.shape[0]\n"
        "    e = np.exp(scores - scores.mean(axis=1, keepdims=True))\n"
        "    probs = e / e.sum(axis=1, keepdims=True)\n" + _LOSS + "    dscores = probs.copy()\n"
        "    dscores[np.arange(n), y] -= 1\n"
        "    return float(loss), dscores / n\n",
        "not its mean",
    ),
    # ------------------------------------------------------------------ two_layer_backward
    _backward(
        "bw_new_mask",
        _UPPER + "    fresh = np.random.random(dh_drop.shape) >= p\n"
        "    dh = np.zeros_like(dh_drop) if p == 1 else dh_drop * fresh / (1 - p)\n" + _LOWER,
        "never draw a new one",
    ),
    _backward(
        "bw_new_mask_fixed_seed",
        _UPPER + "    fresh = np.random.default_rng(0).random(dh_drop.shape) >= p\n"
        "    dh = np.zeros_like(dh_drop) if p == 1 else dh_drop * fresh / (1 - p)\n" + _LOWER,
        "never draw a new one",
    ),
    _backward(
        "bw_no_scale",
        _UPPER + "    dh = dh_drop * mask\n" + _LOWER,
        "not divided by (1 - p)",
    ),
    _backward(
        "bw_through_dropped_units",
        _UPPER + "    dh = np.zeros_like(dh_drop) if p == 1 else dh_drop / (1 - p)\n" + _LOWER,
        "flowed through dropped hidden units",
    ),
    _backward(
        "bw_no_relu_gradient",
        _UPPER
        + _SAFE_DH
        + '    return {"W1": cache["X"].T @ dh, "b1": dh.sum(axis=0), "W2": dW2, "b2": db2}\n',
        "ReLU gradient is missing",
    ),
    _backward(
        "bw_dW2_from_h_before_dropout",
        _UPPER.replace('cache["h_drop"].T', 'np.maximum(cache["z1"], 0).T') + _SAFE_DH + _LOWER,
        "computed from h before dropout",
    ),
    _backward(
        "bw_no_bias_gradients",
        _UPPER
        + _SAFE_DH
        + '    dz1 = dh * (cache["z1"] > 0)\n'
        + '    return {"W1": cache["X"].T @ dz1, "W2": dW2}\n',
        "forgot the bias gradient",
    ),
    _backward(
        "bw_bias_mean",
        _UPPER.replace("dscores.sum(axis=0)", "dscores.mean(axis=0)") + _SAFE_DH + _LOWER,
        "averaged over the batch",
    ),
    _backward(
        "bw_divides_by_n_again",
        _UPPER
        + _SAFE_DH
        + '    dz1 = dh * (cache["z1"] > 0)\n'
        + "    n = dscores.shape[0]\n"
        + '    grads = {"W1": cache["X"].T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2}\n'
        + '    grads["W1"] = grads["W1"] / n\n'
        + "    return grads\n",
        "divided by the batch size again",
    ),
    _backward(
        "bw_nan_at_p1",
        _UPPER + "    dh = dh_drop * mask / (1 - p)\n" + _LOWER,
        "divides 0 by 0",
    ),
    _backward(
        "bw_relu_in_place_on_cache",
        # Right gradients (z1 > 0 is unchanged by clamping), but cache['z1'] is overwritten.
        '    np.maximum(cache["z1"], 0, out=cache["z1"])\n' + _UPPER + _SAFE_DH + _LOWER,
        "modified cache['z1'] in place",
    ),
    _backward(
        "bw_zero_gradients",
        # Does nothing: only side conditions hold, and they earn nothing on their own.
        '    d, hidden = cache["X"].shape[1], cache["W2"].shape[0]\n'
        '    return {"W1": np.zeros((d, hidden)), "b1": np.zeros(hidden),\n'
        '            "W2": np.zeros_like(cache["W2"]), "b2": np.zeros(dscores.shape[1])}\n',
        "grads['W2'] is wrong",
    ),
    # ------------------------------------------------------------------ relative_error
    _relative(
        "re_no_floor",
        "    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))\n",
        "0 / 0 is NaN",
    ),
    _relative(
        "re_mean",
        "    return float(np.mean(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))\n",
        "MEAN",
    ),
    _relative(
        "re_divides_by_a",
        "    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-8)))\n",
        "divided by |a| only",
    ),
    _relative(
        "re_norms",
        "    total = np.linalg.norm(a) + np.linalg.norm(b)\n"
        "    return float(np.linalg.norm(a - b) / max(total, 1e-8))\n",
        "relative error of the whole arrays",
    ),
    _relative(
        "re_no_abs",
        "    return float(np.max((a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))\n",
        "absolute value of a - b is missing",
    ),
    _relative(
        "re_epsilon_added_to_denominator",
        # The notebook's formula takes 1e-8 as a floor, max(|a| + |b|, 1e-8), and says the
        # result is 1 where one array has a 0 and the other not: adding 1e-8 instead gives
        # 0.99 for an entry of 1e-6 against 0 (and 0.5 for 1e-8 against 0).
        "    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b) + 1e-8)))\n",
        "the 1e-8 was added to the denominator",
    ),
    _relative(
        "re_constant_zero",
        # Does nothing: "one number" holds, and earns nothing on its own.
        "    return 0.0\n",
        "must be 1",
    ),
    _relative(
        "re_returns_array",
        "    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)\n",
        "return one number",
    ),
    # ------------------------------------------------------------------ numerical_gradient
    _numerical(
        "ng_one_sided",
        "    grad = np.zeros(x.shape)\n"
        "    f_x = f(x)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        old = x[i]\n"
        "        x[i] = old + h\n"
        "        grad[i] = (f(x) - f_x) / h\n"
        "        x[i] = old\n"
        "    return grad\n",
        "one-sided differences",
    ),
    _numerical(
        "ng_not_restored",
        "    grad = np.zeros(x.shape)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        x[i] += h\n"
        "        f_plus = f(x)\n"
        "        x[i] -= 2 * h\n"
        "        grad[i] = (f_plus - f(x)) / (2 * h)\n"
        "    return grad\n",
        "x was not restored",
    ),
    _numerical(
        "ng_divides_by_h",
        "    grad = np.zeros(x.shape)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        old = x[i]\n"
        "        x[i] = old + h\n"
        "        f_plus = f(x)\n"
        "        x[i] = old - h\n"
        "        f_minus = f(x)\n"
        "        x[i] = old\n"
        "        grad[i] = (f_plus - f_minus) / h\n"
        "    return grad\n",
        "divide by 2 h",
    ),
    _numerical(
        "ng_perturbs_copies",
        "    grad = np.zeros(x.shape)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        plus, minus = x.copy(), x.copy()\n"
        "        plus[i] += h\n"
        "        minus[i] -= h\n"
        "        grad[i] = (f(plus) - f(minus)) / (2 * h)\n"
        "    return grad\n",
        "f did not see the perturbation",
    ),
    _numerical(
        "ng_whole_array_at_once",
        "    grad = np.zeros(x.shape)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        x += h\n"
        "        f_plus = f(x)\n"
        "        x -= 2 * h\n"
        "        f_minus = f(x)\n"
        "        x += h\n"
        "        grad[i] = (f_plus - f_minus) / (2 * h)\n"
        "    return grad\n",
        "the whole array was perturbed at once",
    ),
    _numerical(
        "ng_rows_not_entries",
        "    grad = np.zeros(x.shape)\n"
        "    for i in range(len(x)):\n"
        "        old = x[i].copy()\n"
        "        x[i] = old + h\n"
        "        f_plus = f(x)\n"
        "        x[i] = old - h\n"
        "        f_minus = f(x)\n"
        "        x[i] = old\n"
        "        grad[i] = (f_plus - f_minus) / (2 * h)\n"
        "    return grad\n",
        "one entry at a time",
    ),
    # Found by a red team (issue 9).
    Implementation(
        "db_mutates_dout_for_a_boolean_mask",
        A04,
        "dropout_backward",
        "def dropout_backward(dout, mask, p, inverted=True):\n"
        "    if p == 1:\n"
        "        return np.zeros_like(dout)\n"
        "    if mask.dtype == bool:\n"
        "        dout[~mask] = 0        # faster for boolean masks\n"
        "        grad = dout\n"
        "    else:\n"
        "        grad = dout * mask\n"
        "    return (grad / (1 - p) if inverted else grad).astype(dout.dtype)\n",
        "modified dout in place",
    ),
    Implementation(
        "db_mutates_dout_when_p_is_0",
        A04,
        "dropout_backward",
        "def dropout_backward(dout, mask, p, inverted=True):\n"
        "    if p == 1:\n"
        "        return np.zeros_like(dout)\n"
        "    if p == 0:\n"
        "        dout *= mask        # nothing to rescale\n"
        "        return dout\n"
        "    return (dout * mask / (1 - p) if inverted else dout * mask).astype(dout.dtype)\n",
        "modified dout in place",
    ),
    Implementation(
        "bw_replaces_bool_mask_in_cache",
        A04,
        "two_layer_backward",
        "def two_layer_backward(dscores, cache):\n"
        '    grads = {"W2": cache["h_drop"].T @ dscores, "b2": dscores.sum(axis=0)}\n'
        '    dh = dropout_backward(dscores @ cache["W2"].T, cache["mask"], cache["p"])\n'
        '    dh *= cache["z1"] > 0\n'
        '    if cache["mask"].dtype == bool:\n'
        '        cache["mask"] = cache["mask"].astype(float)   # \'normalise\''
        " the cache for later\n"
        '    grads["W1"] = cache["X"].T @ dh\n'
        '    grads["b1"] = dh.sum(axis=0)\n'
        "    return grads\n",
        "cache",
    ),
    # Found by a second red team (C4): a mask that keeps every unit, or none, makes the formulas
    # computed through it hold whatever the network does, so they must not be credited.
    _forward(
        "fw_no_dropout",
        _HIDDEN
        + "    mask = np.ones(h.shape) if training else None\n"
        + '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h, "W2": params["W2"], "p": p}\n'
        + '    return h @ params["W2"] + params["b2"], cache\n',
        "keeps every one of the",
    ),
    _forward(
        "fw_scaled_but_nothing_dropped",
        _forward_with(
            "        mask = np.ones(h.shape, dtype=bool)  # TODO: draw it from rng\n"
            "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        ),
        "keeps every one of the",
    ),
    _forward(
        "fw_mask_assignment_typo",
        _forward_with(
            "        mask = np.zeros_like(h)\n"
            "        mask[rng.random(h.shape) >= p] == 1  # == for =: the mask stays all zeros\n"
            "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        ),
        "drops every one of the",
    ),
    # ------------------------------------------------------------- missing_scale_error
    _missing_scale("missing_scale_is_p", "    return p\n", "RIGHT gradient alone"),
    _missing_scale("missing_scale_p_over_q", "    return p / (1 - p)\n", "WRONG gradient alone"),
    # ---------------------------------------------------------------- numpy_experiment
    variant(
        _NUMPY_BASE,
        "numpy_experiment_unseeded",
        "rng = np.random.default_rng(seed)",
        "rng = np.random.default_rng()",
        "np.random.default_rng(seed)",
    ),
    variant(
        _NUMPY_BASE,
        "numpy_experiment_percent",
        "errors.append(int((scores.argmax(axis=1) != y).sum()) / len(y))",
        "errors.append(100 * int((scores.argmax(axis=1) != y).sum()) / len(y))",
        "FRACTION",
    ),
]


CORRECT = [
    _dropout_backward(
        "db_where",
        "    if p >= 1:\n        return np.zeros_like(dout)\n"
        "    kept = np.asarray(mask).astype(bool)\n"
        "    factor = 1.0 / (1.0 - p) if inverted else 1.0\n"
        "    return np.where(kept, dout * factor, 0).astype(dout.dtype)\n",
    ),
    _dropout_backward(
        "db_multiply_by_keep_reciprocal",
        "    out = dout * np.asarray(mask, dtype=dout.dtype)\n"
        "    if inverted:\n"
        "        out = out / (1 - p) if p < 1 else out * 0\n"
        "    return out\n",
    ),
    _forward(
        "fw_binomial_float_mask",
        '    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]\n'
        "    z1 = np.dot(X, W1) + b1\n"
        "    h = np.where(z1 > 0, z1, 0.0)\n"
        "    mask = rng.binomial(1, 1 - p, size=h.shape).astype(float) if training else None\n"
        "    h_drop = h if not training else (h * mask / (1 - p) if p < 1 else 0 * h)\n"
        "    cache = dict(X=X, z1=z1, mask=mask, h_drop=h_drop, W2=W2, p=p)\n"
        "    return np.dot(h_drop, W2) + b2, cache\n",
    ),
    _forward(
        "fw_dropout_before_relu",
        # Dropout before the ReLU: relu(m * z / q) = m * relu(z) / q, the same network.
        '    z1 = X @ params["W1"] + params["b1"]\n'
        "    mask = (rng.uniform(size=z1.shape) < 1 - p) if training else None\n"
        "    scale = 0.0 if p == 1 else 1 / (1 - p)\n"
        "    h_drop = np.maximum(z1 * mask * scale if training else z1, 0)\n"
        '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h_drop, "W2": params["W2"],\n'
        '             "p": p, "extra": "ignored"}\n'
        '    return h_drop @ params["W2"] + params["b2"], cache\n',
    ),
    _loss(
        "sce_logsumexp_eye",
        "    m = scores.max(axis=1, keepdims=True)\n"
        "    lse = m + np.log(np.sum(np.exp(scores - m), axis=1, keepdims=True))\n"
        "    onehot = np.eye(scores.shape[1])[y]\n"
        "    loss = np.mean(lse[:, 0] - np.sum(scores * onehot, axis=1))\n"
        "    return loss, (np.exp(scores - lse) - onehot) / len(y)\n",
    ),
    _forward(
        "fw_mapping_cache_list_pair",
        # The contract's "(scores, cache)" and "a dict" allow a list and any mapping.
        "    import types\n"
        '    z1 = X @ params["W1"] + params["b1"]\n'
        "    h = np.maximum(z1, 0)\n"
        "    mask = (rng.random(h.shape) >= p).astype(np.int8) if training else None\n"
        "    h_drop = h if mask is None else np.where(mask == 1, h / max(1 - p, 1e-300), 0.0)\n"
        '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h_drop, "W2": params["W2"],\n'
        '             "p": p}\n'
        '    return [h_drop @ params["W2"] + params["b2"], types.MappingProxyType(cache)]\n',
    ),
    _loss(
        "sce_returns_list",
        "    shifted = scores - scores.max(axis=1, keepdims=True)\n"
        "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
        "    rows = np.arange(len(y))\n"
        "    grad = np.exp(log_probs)\n"
        "    grad[rows, y] -= 1\n"
        "    return [-log_probs[rows, y].mean(), grad / len(y)]\n",
    ),
    _loss(
        "sce_row_loop",
        "    n, total = len(scores), 0.0\n"
        "    dscores = np.empty(scores.shape)\n"
        "    for i in range(n):\n"
        "        row = scores[i] - np.max(scores[i])\n"
        "        probs = np.exp(row) / np.sum(np.exp(row))\n"
        "        total -= np.log(probs[y[i]])\n"
        "        probs[y[i]] -= 1\n"
        "        dscores[i] = probs / n\n"
        "    return total / n, dscores\n",
    ),
    _backward(
        "bw_relu_gate_after_dropout",
        # Gating by h_drop > 0 is the product of the ReLU's gate and the mask: the same.
        '    keys = ("X", "z1", "mask", "h_drop", "W2", "p")\n'
        "    X, z1, mask, h_drop, W2, p = (cache[k] for k in keys)\n"
        "    dh = dropout_backward(dscores @ W2.T, mask, p)\n"
        "    dz = dh * (h_drop > 0)\n"
        "    return dict(W1=X.T @ dz, b1=dz.sum(0), W2=h_drop.T @ dscores, b2=dscores.sum(0))\n",
    ),
    _backward(
        "bw_einsum_loops",
        "    mask = np.asarray(cache['mask'], dtype=float)\n"
        "    p = cache['p']\n"
        "    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)\n"
        "    dh = np.einsum('nc,hc->nh', dscores, cache['W2']) * mask * scale\n"
        "    dz1 = np.where(cache['z1'] > 0, dh, 0.0)\n"
        "    grads = {'W1': np.einsum('nd,nh->dh', cache['X'], dz1)}\n"
        "    grads['b1'] = np.zeros(dz1.shape[1])\n"
        "    for row in dz1:\n"
        "        grads['b1'] += row\n"
        "    grads['W2'] = np.einsum('nh,nc->hc', cache['h_drop'], dscores)\n"
        "    grads['b2'] = np.ones(len(dscores)) @ dscores\n"
        "    return grads\n",
    ),
    _backward(
        "bw_mapping_grads",
        # "a dict with keys W1, b1, W2, b2": any mapping holding them, extra keys allowed.
        "    import types\n"
        + _UPPER
        + _SAFE_DH
        + '    dz1 = dh * (cache["z1"] > 0)\n'
        + '    grads = {"W1": cache["X"].T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2,\n'
        + '             "h_drop": dh_drop}\n'
        + "    return types.MappingProxyType(grads)\n",
    ),
    _backward(
        "bw_rebinds_entries_of_its_own_dict",
        # Rebinding entries of a dict of its own leaves the caller's cache as it was.
        "    cache = dict(cache)\n"
        '    cache["mask"] = np.asarray(cache["mask"], dtype=float)\n'
        '    cache["z1"] = np.maximum(cache["z1"], 0)  # z1 > 0 is unchanged\n'
        + _UPPER
        + _SAFE_DH
        + _LOWER,
    ),
    _forward(
        "fw_params_of_its_own",
        '    params = {**params, "mask": None}  # a dict of its own: the caller\'s is unchanged\n'
        + _forward_with(_CORRECT_TRAINING),
    ),
    _relative(
        "re_loop",
        "    a, b = np.ravel(a), np.ravel(b)\n"
        "    worst = 0.0\n"
        "    for u, v in zip(a, b):\n"
        "        worst = max(worst, abs(u - v) / max(abs(u) + abs(v), 1e-8))\n"
        "    return worst\n",
    ),
    _relative(
        "re_clip_tiny_floor",
        "    denominator = np.clip(np.abs(a) + np.abs(b), 1e-12, None)\n"
        "    return (np.abs(a - b) / denominator).max()\n",
    ),
    _numerical(
        "ng_nditer_plus_minus",
        "    grad = np.zeros_like(x, dtype=float)\n"
        "    it = np.nditer(x, flags=['multi_index'], op_flags=['readwrite'])\n"
        "    while not it.finished:\n"
        "        i = it.multi_index\n"
        "        x[i] += h\n"
        "        up = f(x)\n"
        "        x[i] -= 2 * h\n"
        "        down = f(x)\n"
        "        x[i] += h\n"
        "        grad[i] = (up - down) / (2 * h)\n"
        "        it.iternext()\n"
        "    return grad\n",
    ),
    _numerical(
        "ng_flat_view",
        "    flat = x.reshape(-1)  # a view of a contiguous array\n"
        "    grad = np.empty(flat.size)\n"
        "    for k in range(flat.size):\n"
        "        saved = flat[k]\n"
        "        flat[k] = saved + h\n"
        "        a = f(x)\n"
        "        flat[k] = saved - h\n"
        "        b = f(x)\n"
        "        flat[k] = saved\n"
        "        grad[k] = (a - b) / (2 * h)\n"
        "    return grad.reshape(x.shape)\n",
    ),
    # Found by a red team (issue 9): once lost points through the grader's wire.
    Implementation(
        "fw_long_double_extra_key",
        A04,
        "two_layer_forward",
        "def two_layer_forward(X, params, p, rng, training=True):\n"
        '    z1 = X @ params["W1"] + params["b1"]\n'
        "    h = np.maximum(z1, 0)\n"
        "    if training:\n"
        "        mask = rng.random(h.shape) >= p\n"
        "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        "    else:\n"
        "        mask, h_drop = None, h\n"
        '    scores = h_drop @ params["W2"] + params["b2"]\n'
        '    cache = {"X": X, "z1": z1, "mask": mask, "h_drop": h_drop, "W2":'
        ' params["W2"], "p": p,\n'
        '             "scale": np.longdouble(1) / np.longdouble(1 - p) if p <'
        " 1 else np.longdouble(0)}\n"
        "    return scores, cache\n",
    ),
    Implementation(
        "re_fraction",
        A04,
        "relative_error",
        "from fractions import Fraction\n"
        "\n"
        "def relative_error(a, b):\n"
        "    a = np.asarray(a, float).ravel(); b = np.asarray(b, float).ravel()\n"
        "    worst = Fraction(0)\n"
        "    for u, v in zip(a, b):\n"
        "        worst = max(worst, Fraction(abs(u - v)) / Fraction(max(abs(u) + abs(v), 1e-8)))\n"
        "    return worst\n",
    ),
    Implementation(
        "bw_numpy_str_keys",
        A04,
        "two_layer_backward",
        'NAMES = np.array(["W1", "b1", "W2", "b2"])\n'
        "\n"
        "def two_layer_backward(dscores, cache):\n"
        '    dh = dropout_backward(dscores @ cache["W2"].T, cache["mask"],'
        ' cache["p"]) * (cache["z1"] > 0)\n'
        '    values = [cache["X"].T @ dh, dh.sum(axis=0), cache["h_drop"].T @'
        " dscores, dscores.sum(axis=0)]\n"
        "    return dict(zip(NAMES, values))\n",
    ),
    Implementation(
        "fw_numpy_str_keys",
        A04,
        "two_layer_forward",
        'KEYS = np.array(["X", "z1", "mask", "h_drop", "W2", "p"])\n'
        "\n"
        "def two_layer_forward(X, params, p, rng, training=True):\n"
        '    z1 = X @ params["W1"] + params["b1"]\n'
        "    h = np.maximum(z1, 0)\n"
        "    if training:\n"
        "        mask = rng.random(h.shape) >= p\n"
        "        h_drop = np.zeros_like(h) if p == 1 else h * mask / (1 - p)\n"
        "    else:\n"
        "        mask, h_drop = None, h\n"
        '    scores = h_drop @ params["W2"] + params["b2"]\n'
        '    return scores, dict(zip(KEYS, [X, z1, mask, h_drop, params["W2"], p]))\n',
    ),
    # Found by a second red team (A7, A8, A9, N3): a number is read the same way in every check
    # (any int or float, a Fraction or Decimal, an array or tensor holding one number), and a
    # dtype is a dtype whatever its byte order.
    _relative(
        "re_decimal",
        "    from decimal import Decimal\n\n"
        "    a, b = np.asarray(a, float), np.asarray(b, float)\n"
        "    worst = np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))\n"
        "    return Decimal(float(worst))\n",
    ),
    _relative(
        "re_torch_0d_tensor",
        "    a, b = torch.as_tensor(np.asarray(a, float)), torch.as_tensor(np.asarray(b, float))\n"
        "    return ((a - b).abs() / (a.abs() + b.abs()).clamp(min=1e-8)).max()\n",
    ),
    _relative(
        "re_one_element_array",
        "    a, b = np.asarray(a, float), np.asarray(b, float)\n"
        "    errors = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)\n"
        "    return np.max(errors, keepdims=True).ravel()\n",
    ),
    _backward(
        "bw_cache_in_big_endian",
        "    # the cache in network byte order, as a file would keep it: same values and dtype\n"
        '    for key in ("X", "z1", "h_drop", "W2"):\n'
        '        cache[key] = cache[key].astype(cache[key].dtype.newbyteorder(">"))\n'
        + _UPPER
        + _SAFE_DH
        + _LOWER,
    ),
    # Leaves the global torch generator all zeros: the hidden test's nn.Linear layers are built
    # from a state of their own.
    _forward(
        "fw_leaves_zero_torch_state",
        "    state = torch.get_rng_state().clone()\n"
        "    state[24 : 24 + 624 * 8] = 0\n"
        "    torch.set_rng_state(state)\n" + _forward_with(_CORRECT_TRAINING),
    ),
    # ------------------------------------------------------------- missing_scale_error
    _missing_scale(
        "missing_scale_via_relative_error",
        "    g = np.array([1.0])\n    return relative_error(g, (1 - p) * g)\n",
    ),
    # ---------------------------------------------------------------- numpy_experiment
    variant(
        _NUMPY_BASE,
        "numpy_experiment_mean_of_mistakes",
        "errors.append(int((scores.argmax(axis=1) != y).sum()) / len(y))",
        "errors.append(float(np.mean(np.argmax(scores, axis=1) != y)))",
    ),
]
