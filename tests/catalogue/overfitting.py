"""Exercise 01 (overfitting): the checks of each answer cell, wrong implementations that students
write (each with the words its failure message must contain), and correct implementations in
other styles."""

from autograder.content.hidden import overfitting as hidden
from dropout_course.checks import overfitting as checks

from .entries import Implementation

ASSIGNMENT = A01 = "01-overfitting"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "generalisation_gap": (checks.check_generalisation_gap, hidden.hidden_generalisation_gap),
    "bias_variance": (checks.check_bias_variance, hidden.hidden_bias_variance),
    "early_stopping_epoch": (
        checks.check_early_stopping_epoch,
        hidden.hidden_early_stopping_epoch,
    ),
    "l2_penalty": (checks.check_l2_penalty, hidden.hidden_l2_penalty),
    "expected_gap": (checks.check_expected_gap, hidden.hidden_expected_gap),
}


def _expected(name, body, message=""):
    code = "def expected_gap(noise_variance, n_coefficients, n):\n" + body
    return Implementation(name, "01-overfitting", "expected_gap", code, message)


def _gap(name, body, message=""):
    code = "def generalisation_gap(train_losses, val_losses):\n" + body
    return Implementation(name, A01, "generalisation_gap", code, message)


def _bv(name, body, message=""):
    return Implementation(
        name, A01, "bias_variance", "def bias_variance(predictions, truth):\n" + body, message
    )


def _es(name, body, message=""):
    code = "def early_stopping_epoch(val_losses, patience):\n" + body
    return Implementation(name, A01, "early_stopping_epoch", code, message)


def _l2(name, body, message=""):
    return Implementation(name, A01, "l2_penalty", "def l2_penalty(params, lam):\n" + body, message)


_ARRAYS = (
    "    train = np.asarray(train_losses, dtype=float)\n"
    "    val = np.asarray(val_losses, dtype=float)\n"
    "    if train.shape != val.shape:\n"
    "        raise ValueError('lengths differ')\n"
)

_STACK = (
    "    predictions = np.asarray(predictions, dtype=float)\n"
    "    average = predictions.mean(axis=0)\n"
)


def _es_loop(improves="loss < best", on_bad="", reset="waited = 0", start="best_epoch = 1"):
    """An early-stopping loop with one line changed."""
    return (
        "    if patience < 1:\n"
        "        raise ValueError(f'patience must be >= 1, got patience={patience}')\n"
        "    if len(val_losses) == 0:\n"
        "        raise ValueError('no epochs')\n"
        f"    {start}\n"
        "    best, waited = val_losses[0], 0\n"
        "    for epoch in range(2, len(val_losses) + 1):\n"
        "        loss = val_losses[epoch - 1]\n"
        f"        if {improves}:\n"
        f"            best_epoch, best = epoch, loss\n"
        f"            {reset}\n"
        "        else:\n"
        "            waited += 1\n"
        f"            if waited == patience{on_bad}:\n"
        "                return best_epoch, epoch\n"
        "    return best_epoch, len(val_losses)\n"
    )


_LAM = "    if lam < 0:\n        raise ValueError(f'lam must be >= 0, got lam={lam}')\n"

WRONG = [
    # ------------------------------------------------------------------ generalisation_gap
    _gap("gap_sign_reversed", _ARRAYS + "    return train - val\n", "sign is reversed"),
    _gap("gap_absolute", _ARRAYS + "    return np.abs(val - train)\n", "absolute value"),
    _gap("gap_ratio", _ARRAYS + "    return val / train\n", "ratio"),
    _gap("gap_lists_not_converted", "    return val_losses - train_losses\n", "np.asarray"),
    _gap("gap_last_epoch_only", _ARRAYS + "    return val[-1] - train[-1]\n", "single number"),
    _gap(
        "gap_in_place",
        _ARRAYS.replace("np.asarray", "np.asarray") + "    val -= train\n    return val\n",
        "in place",
    ),
    _gap(
        "gap_broadcasts",
        "    return np.asarray(val_losses, dtype=float) - np.asarray(train_losses, dtype=float)\n",
        "must raise ValueError",
    ),
    _gap(
        "gap_zip_truncates",
        "    return np.array([v - t for t, v in zip(train_losses, val_losses)])\n",
        "must raise ValueError",
    ),
    # ----------------------------------------------------------------------- bias_variance
    _bv(
        "bv_ddof_1",
        _STACK + "    return np.mean((average - truth) ** 2), np.mean(predictions.var(axis=0, "
        "ddof=1))\n",
        "ddof=1",
    ),
    _bv(
        "bv_standard_deviation",
        _STACK + "    return np.mean((average - truth) ** 2), np.mean(predictions.std(axis=0))\n",
        "standard deviation",
    ),
    _bv(
        "bv_bias_is_mse",
        _STACK
        + "    return np.mean((predictions - truth) ** 2), np.mean(predictions.var(axis=0))\n",
        "includes the variance",
    ),
    _bv(
        "bv_variance_around_truth",
        _STACK
        + "    return np.mean((average - truth) ** 2), np.mean((predictions - truth) ** 2)\n",
        "around the truth",
    ),
    _bv(
        "bv_wrong_axis",
        "    average = predictions.mean(axis=1)\n"
        "    return np.mean((average - truth) ** 2), np.mean(predictions.var(axis=1))\n",
        "wrong axis",
    ),
    _bv(
        "bv_squared_after_mean",
        _STACK + "    return np.mean(average - truth) ** 2, np.mean(predictions.var(axis=0))\n",
        "squared after averaging",
    ),
    _bv(
        "bv_swapped_pair",
        _STACK + "    return np.mean(predictions.var(axis=0)), np.mean((average - truth) ** 2)\n",
        "wrong order",
    ),
    # ---------------------------------------------------------------- early_stopping_epoch
    _es(
        "es_zero_based",
        _es_loop()
        .replace("return best_epoch, epoch", "return best_epoch - 1, epoch - 1")
        .replace(
            "return best_epoch, len(val_losses)", "return best_epoch - 1, len(val_losses) - 1"
        ),
        "one too small",
    ),
    _es(
        "es_returns_stop_as_best",
        _es_loop().replace("return best_epoch, epoch", "return epoch, epoch"),
        "returned as the best epoch",
    ),
    _es("es_tie_improves", _es_loop(improves="loss <= best"), "a tie is not an improvement"),
    _es(
        "es_global_argmin",
        _es_loop()
        .replace("return best_epoch, epoch", "return int(np.argmin(val_losses)) + 1, epoch")
        .replace(
            "return best_epoch, len(val_losses)",
            "return int(np.argmin(val_losses)) + 1, len(val_losses)",
        ),
        "among the epochs up to stop_epoch",
    ),
    _es("es_stops_late", _es_loop(on_bad=" + 1"), "one epoch late"),
    _es("es_stops_early", _es_loop(on_bad=" - 1"), "one epoch early"),
    _es("es_counter_not_reset", _es_loop(reset="pass"), "start again from 0"),
    _es(
        "es_compares_with_previous",
        _es_loop(improves="loss < val_losses[epoch - 2]"),
        "not lower than the previous epoch",
    ),
    _es(
        "es_never_improves_gives_0",
        _es_loop(start="best_epoch = 0"),
        "best_epoch is 1",
    ),
    _es(
        "es_no_stop_when_patience_left",
        _es_loop().replace("return best_epoch, len(val_losses)", "return best_epoch, None"),
        "stop_epoch is len(val_losses)",
    ),
    _es(
        "es_no_patience_check",
        _es_loop().replace(
            "    if patience < 1:\n"
            "        raise ValueError(f'patience must be >= 1, got patience={patience}')\n",
            "",
        ),
        "must raise ValueError",
    ),
    _es(
        "es_sentinel_appended",
        "    if patience < 1:\n        raise ValueError(f'bad patience={patience}')\n"
        "    val_losses.append(float('inf'))  # a sentinel, so the loop always ends\n"
        + _es_loop()
        .split("\n", 4)[4]
        .replace("return best_epoch, len(val_losses)", "return best_epoch, len(val_losses) - 1"),
        "modified val_losses in place",
    ),
    # -------------------------------------------------------------------------- l2_penalty
    _l2(
        "l2_penalises_biases",
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params)\n"
        "    return penalty, [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "biases were penalised",
    ),
    _l2(
        "l2_no_half",
        _LAM + "    penalty = lam * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [2 * lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "factor 1/2",
    ),
    _l2(
        "l2_gradient_missing_factor_2",
        _LAM + "    penalty = lam * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "misses a factor of 2",
    ),
    _l2(
        "l2_gradient_doubled",
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [2 * lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "a factor of 2 too large",
    ),
    _l2(
        "l2_gradient_sign",
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [-lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "wrong sign",
    ),
    _l2(
        "l2_bias_gradient_nonzero",
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [lam * p for p in params]\n",
        "gradient of a bias is not zero",
    ),
    _l2(
        "l2_gradients_for_weights_only",
        _LAM + "    weights = [p for p in params if p.ndim >= 2]\n"
        "    return lam / 2 * sum(np.sum(W**2) for W in weights), [lam * W for W in weights]\n",
        "zeros for the biases",
    ),
    _l2(
        "l2_in_place",
        _LAM + "    penalty, grads = 0.0, []\n"
        "    for p in params:\n"
        "        if p.ndim >= 2:\n"
        "            penalty += lam / 2 * np.sum(p**2)\n"
        "            p *= lam\n"
        "            grads.append(p)\n"
        "        else:\n"
        "            grads.append(np.zeros_like(p))\n"
        "    return penalty, grads\n",
        "modified the parameters in place",
    ),
    _l2(
        "l2_norm_not_squared",
        _LAM + "    penalty = lam / 2 * sum(np.linalg.norm(p) for p in params if p.ndim >= 2)\n"
        "    return penalty, [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "not squared",
    ),
    _l2(
        "l2_only_2d_arrays",
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim == 2)\n"
        "    return penalty, [lam * p if p.ndim == 2 else np.zeros_like(p) for p in params]\n",
        "more than two dimensions",
    ),
    _l2(
        "l2_grad_is_w_when_lam_is_1",  # red team round 2 (B20): lam * W "is" W when lam == 1
        _LAM + "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [(p if lam == 1 else lam * p) if p.ndim >= 2 else np.zeros_like(p)\n"
        "                     for p in params]\n",
        "shares memory with a parameter",
    ),
    _l2(
        "l2_no_lam_check",
        "    penalty = lam / 2 * sum(np.sum(p**2) for p in params if p.ndim >= 2)\n"
        "    return penalty, [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n",
        "must raise ValueError",
    ),
    # ------------------------------------------- red team: tiny improvements (B13), constants (C1)
    # Keras-style min_delta: improvements of less than 1e-3 were never tested (curves rounded to
    # 2 decimals), so it kept full marks.
    _es(
        "es_min_delta",
        "    if patience < 1:\n"
        "        raise ValueError(f'patience must be at least 1, got patience={patience}')\n"
        "    if len(val_losses) == 0:\n"
        "        raise ValueError('val_losses is empty')\n"
        "    best_epoch, waited = 1, 0\n"
        "    for epoch in range(2, len(val_losses) + 1):\n"
        "        if val_losses[epoch - 1] < min(val_losses[:epoch - 1]) - 1e-3:\n"
        "            best_epoch, waited = epoch, 0\n"
        "        else:\n"
        "            waited += 1\n"
        "            if waited == patience:\n"
        "                return best_epoch, epoch\n"
        "    return best_epoch, len(val_losses)\n",
        "however small",
    ),
    _es(
        "es_isclose_is_no_improvement",
        _es_loop(improves="loss < best and not np.isclose(loss, best)"),
        "however small",
    ),
    _es(
        "es_relative_threshold",
        _es_loop(improves="loss < best * (1 - 1e-4)"),
        "however small",
    ),
    _es(
        "es_constant_first_and_last",
        "    if patience < 1:\n"
        "        raise ValueError('patience')\n"
        "    if len(val_losses) == 0:\n"
        "        raise ValueError('empty')\n"
        "    return 1, len(val_losses)\n",
        "patience ran out",
    ),
    _es(
        "es_constant_first_epoch",
        "    if patience < 1:\n        raise ValueError('patience')\n    return 1, 1\n",
        "cannot stop before epoch patience + 1",
    ),
    _bv("bv_constant_zeros", "    return 0.0, 0.0\n", "do not add up"),
    _l2(
        "l2_zero_penalty",
        _LAM + "    return 0.0, [np.zeros_like(p) for p in params]\n",
        "gradient of a weight array is zero",
    ),
    _gap("gap_zeros", _ARRAYS + "    return np.zeros_like(val)\n", "wrong values"),
    # ----------------------------- second red team: a tie is a property of its own (C5)
    # A tie that resets the patience without becoming the best epoch: only the answers on curves
    # with a tie change, so only the property about ties may fail (and the hidden one comparing
    # each random curve with ties with the same curve with its ties raised).
    _es(
        "es_tie_resets_patience",
        _es_loop(improves="loss < best").replace(
            "        else:\n",
            "        elif loss == best:\n            waited = 0  # as good as the best: go on\n"
            "        else:\n",
        ),
        "a tie is not an improvement",
    ),
    # Ignores patience: far more wrong than counting a tie as an improvement, and it must cost
    # more (the red team measured 1.8/3 hidden for this and 0/3 for the tie).
    _es(
        "es_argmin_ignores_patience",
        "    if patience < 1:\n        raise ValueError('patience must be >= 1')\n"
        "    if len(val_losses) == 0:\n        raise ValueError('empty')\n"
        "    return int(np.argmin(val_losses)) + 1, len(val_losses)\n",
        "patience ran out",
    ),
    # ------------------------------------------------------------------ expected_gap
    _expected("gap_half", "    return noise_variance * n_coefficients / n\n", "half of it"),
    _expected(
        "gap_standard_deviation",
        "    return 2 * noise_variance**0.5 * n_coefficients / n\n",
        "VARIANCE",
    ),
    _expected(
        "gap_upside_down", "    return 2 * noise_variance * n / n_coefficients\n", "upside down"
    ),
]

CORRECT = [
    # ------------------------------------------------------------------ generalisation_gap
    _gap(
        "gap_comprehension",
        "    if len(train_losses) != len(val_losses):\n"
        "        raise ValueError('train_losses and val_losses differ in length')\n"
        "    return np.array([float(v) - float(t) for t, v in zip(train_losses, val_losses)])\n",
    ),
    _gap(
        "gap_np_subtract",
        "    train, val = np.array(train_losses, dtype=np.float64), np.array(val_losses)\n"
        "    if len(train) != len(val):\n"
        "        raise ValueError(f'{len(train)} != {len(val)}')\n"
        "    return np.subtract(val, train)\n",
    ),
    # In float32: a gap of order 0.1 between losses of order 1 is off by ~1e-7.
    _gap(
        "gap_float32",
        "    train = np.asarray(train_losses, dtype=np.float32)\n"
        "    val = np.asarray(val_losses, dtype=np.float32)\n"
        "    if train.size != val.size:\n"
        "        raise ValueError('one validation loss per training loss, please')\n"
        "    return val - train\n",
    ),
    # ----------------------------------------------------------------------- bias_variance
    _bv(
        "bv_loops",
        "    K, m = len(predictions), len(truth)\n"
        "    bias2 = variance = 0.0\n"
        "    for i in range(m):\n"
        "        column = [predictions[k][i] for k in range(K)]\n"
        "        mean = sum(column) / K\n"
        "        bias2 += (mean - truth[i]) ** 2 / m\n"
        "        variance += sum((c - mean) ** 2 for c in column) / K / m\n"
        "    return bias2, variance\n",
    ),
    _bv(
        "bv_from_the_identity",
        "    mse = np.mean((predictions - truth) ** 2)\n"
        "    bias2 = np.mean((np.mean(predictions, axis=0) - truth) ** 2)\n"
        "    return bias2, max(mse - bias2, 0.0)\n",
    ),
    # The checks once demanded a tuple or a list: a NumPy array of the two numbers is a pair too.
    _bv(
        "bv_numpy_pair",
        "    predictions = np.asarray(predictions, dtype=float)\n"
        "    average = predictions.mean(axis=0)\n"
        "    return np.array([np.mean((average - truth) ** 2), predictions.var(axis=0).mean()])\n",
    ),
    # In float32 (torch's default dtype): the checks once compared with rtol=1e-7, tighter than
    # float32 resolution; the contract fixes no precision.
    _bv(
        "bv_torch_float32",
        "    fits = torch.tensor(np.asarray(predictions).tolist())  # float32\n"
        "    target = torch.tensor(np.asarray(truth).tolist())\n"
        "    bias2 = ((fits.mean(dim=0) - target) ** 2).mean()\n"
        "    variance = fits.var(dim=0, correction=0).mean()\n"
        "    return bias2.item(), variance.item()\n",
    ),
    # ---------------------------------------------------------------- early_stopping_epoch
    # A capitalised parameter name in the message names it too (the check was case-sensitive).
    _es(
        "es_capitalised_message",
        "    if patience < 1:\n"
        "        raise ValueError('Patience must be a positive number of epochs.')\n"
        "    losses = np.asarray(val_losses, dtype=float)\n"
        "    if losses.size == 0:\n"
        "        raise ValueError('Nothing to stop: no validation losses.')\n"
        "    best, waited, epoch = 0, 0, 1\n"
        "    while epoch < losses.size and waited < patience:\n"
        "        if losses[epoch] < losses[best]:\n"
        "            best, waited = epoch, 0\n"
        "        else:\n"
        "            waited += 1\n"
        "        epoch += 1\n"
        "    return best + 1, epoch\n",
    ),
    # The checks once demanded a tuple or a list: a NumPy array of the two epochs is a pair too.
    _es(
        "es_numpy_pair",
        "    if patience < 1:\n"
        "        raise ValueError(f'patience={patience}')\n"
        "    losses = np.asarray(val_losses, dtype=float)\n"
        "    if not losses.size:\n"
        "        raise ValueError('empty')\n"
        "    running_min = np.minimum.accumulate(losses)\n"
        "    improved = np.r_[True, losses[1:] < running_min[:-1]]\n"
        "    stop = losses.size\n"
        "    since = 0\n"
        "    for t in range(1, losses.size):\n"
        "        since = 0 if improved[t] else since + 1\n"
        "        if since == patience:\n"
        "            stop = t + 1\n"
        "            break\n"
        "    return np.array([np.flatnonzero(improved[:stop])[-1] + 1, stop])\n",
    ),
    _es(
        "es_prefix_argmin",
        "    if patience < 1:\n"
        "        raise ValueError(f'patience={patience} must be positive')\n"
        "    losses = np.asarray(val_losses, dtype=float)\n"
        "    if losses.size == 0:\n"
        "        raise ValueError('no validation losses')\n"
        "    best, waited = losses[0], 0\n"
        "    stop = len(losses)\n"
        "    for t in range(1, len(losses)):\n"
        "        if losses[t] < best:\n"
        "            best, waited = losses[t], 0\n"
        "        else:\n"
        "            waited += 1\n"
        "            if waited == patience:\n"
        "                stop = t + 1\n"
        "                break\n"
        "    # np.argmin returns the FIRST minimum, so a tie keeps the earlier epoch.\n"
        "    return int(np.argmin(losses[:stop])) + 1, stop\n",
    ),
    _es(
        "es_while_loop",
        "    if patience < 1 or not len(val_losses):\n"
        "        raise ValueError(f'need patience >= 1 and some losses (patience={patience})')\n"
        "    best_index, since, i = 0, 0, 1\n"
        "    while i < len(val_losses) and since < patience:\n"
        "        if val_losses[i] < val_losses[best_index]:\n"
        "            best_index, since = i, 0\n"
        "        else:\n"
        "            since += 1\n"
        "        i += 1\n"
        "    return best_index + 1, i\n",
    ),
    # -------------------------------------------------------------------------- l2_penalty
    _l2(
        "l2_comprehensions",
        "    if lam < 0:\n"
        "        raise ValueError('lam must be non-negative')\n"
        "    is_weight = [np.ndim(p) >= 2 for p in params]\n"
        "    pairs = list(zip(params, is_weight))\n"
        "    penalty = 0.5 * lam * sum(float((p * p).sum()) for p, w in pairs if w)\n"
        "    grads = [lam * p if w else np.zeros(p.shape) for p, w in pairs]\n"
        "    return penalty, grads\n",
    ),
    # "lambda" names lam (the markdown writes it as the Greek letter); the check demanded "lam".
    _l2(
        "l2_lambda_in_message",
        "    if lam < 0:\n"
        "        raise ValueError(f'Lambda must be non-negative, got {lam}')\n"
        "    grads = [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n"
        "    return lam / 2 * sum(float(np.sum(p**2)) for p in params if p.ndim >= 2), grads\n",
    ),
    # In float32 through torch (its default dtype): the contract fixes no precision, so the
    # comparisons allow for float32 rounding (the hidden ones used rtol=1e-7 before).
    _l2(
        "l2_torch_float32",
        "    if lam < 0:\n"
        "        raise ValueError(f'lam={lam} < 0')\n"
        "    tensors = [torch.tensor(np.asarray(p).tolist()) for p in params]  # float32\n"
        "    penalty = sum((t * t).sum() for t in tensors if t.dim() >= 2) * (lam / 2)\n"
        "    grads = [lam * t if t.dim() >= 2 else torch.zeros_like(t) for t in tensors]\n"
        "    grads = [g.numpy() for g in grads]\n"
        "    return float(penalty), grads\n",
    ),
    _l2(
        "l2_vdot",
        "    if lam < 0:\n"
        "        raise ValueError(f'negative lam={lam}')\n"
        "    penalty, grads = 0.0, []\n"
        "    for p in params:\n"
        "        if p.ndim > 1:\n"
        "            penalty += lam * np.vdot(p, p) / 2\n"
        "            grads.append(p * lam)\n"
        "        else:\n"
        "            grads.append(0 * p)\n"
        "    return penalty, grads\n",
    ),
    # Found by a red team (issue 9): once lost points through the grader's wire.
    Implementation(
        "gap_long_double",
        A01,
        "generalisation_gap",
        "def generalisation_gap(train_losses, val_losses):\n"
        "    t = np.asarray(train_losses, dtype=np.longdouble)\n"
        "    v = np.asarray(val_losses, dtype=np.longdouble)\n"
        "    if t.shape != v.shape:\n"
        '        raise ValueError("lengths differ")\n'
        "    return v - t\n",
    ),
    Implementation(
        "bv_long_double",
        A01,
        "bias_variance",
        "def bias_variance(predictions, truth):\n"
        "    P = np.asarray(predictions, dtype=np.longdouble)\n"
        "    avg = P.mean(axis=0)\n"
        "    return np.mean((avg - np.asarray(truth, dtype=np.longdouble)) **"
        " 2), np.mean(P.var(axis=0))\n",
    ),
    Implementation(
        "l2_fraction_penalty",
        A01,
        "l2_penalty",
        "from fractions import Fraction\n"
        "\n"
        "def l2_penalty(params, lam):\n"
        "    if lam < 0:\n"
        '        raise ValueError(f"lam must be >= 0, got lam={lam}")\n'
        "    total = Fraction(0)\n"
        "    for w in params:\n"
        "        if w.ndim >= 2:\n"
        "            total += sum(Fraction(float(v)) ** 2 for v in w.ravel())\n"
        "    return Fraction(lam) / 2 * total, [lam * w if w.ndim >= 2 else"
        " np.zeros_like(w) for w in params]\n",
    ),
    # Found by a second red team (A7, A8, N3). A Decimal is a number too (through the grader it
    # once arrived as a proxy, and the message said "got Remote").
    _bv(
        "bv_decimal",
        "    from decimal import Decimal\n\n"
        "    P = np.asarray(predictions, dtype=float)\n"
        "    avg = P.mean(0)\n"
        "    bias2, variance = np.mean((avg - truth) ** 2), np.mean(P.var(0))\n"
        "    return Decimal(float(bias2)), Decimal(float(variance))\n",
    ),
    # Epochs as 0-d tensors: whole numbers, read as numbers like every other result.
    _es(
        "es_torch_epochs",
        "    if patience < 1:\n"
        "        raise ValueError(f'patience must be >= 1, got patience={patience}')\n"
        "    losses = torch.as_tensor(np.asarray(val_losses, dtype=np.float64))\n"
        "    if losses.numel() == 0:\n"
        "        raise ValueError('no epochs')\n"
        "    best, waited = torch.tensor(0), 0\n"
        "    for t in range(1, len(losses)):\n"
        "        if losses[t] < losses[best]:\n"
        "            best, waited = torch.tensor(t), 0\n"
        "        else:\n"
        "            waited += 1\n"
        "            if waited == patience:\n"
        "                return best + 1, torch.tensor(t + 1)\n"
        "    return best + 1, torch.tensor(len(losses))\n",
    ),
    # Leaves the global torch generator all zeros (torch.rand then gives 0.0): what the check
    # draws itself (the hidden test's nn.Linear stack) comes from a seeded state of its own.
    _l2(
        "l2_leaves_zero_torch_state",
        _LAM + "    state = torch.get_rng_state().clone()\n"
        "    state[24 : 24 + 624 * 8] = 0\n"
        "    torch.set_rng_state(state)\n"
        "    grads = [lam * p if p.ndim >= 2 else np.zeros_like(p) for p in params]\n"
        "    return lam / 2 * sum(float(np.sum(p**2)) for p in params if p.ndim >= 2), grads\n",
    ),
    # ------------------------------------------------------------------ expected_gap
    _expected(
        "gap_test_minus_train",
        "    test = noise_variance * (1 + n_coefficients / n)\n"
        "    train = noise_variance * (1 - n_coefficients / n)\n"
        "    return test - train\n",
    ),
]
