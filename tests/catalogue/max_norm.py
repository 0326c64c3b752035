"""Exercise 05 (max-norm regularisation): the checks of each answer cell, wrong implementations
that students write (each with the words its failure message must contain), and correct
implementations in other styles."""

from autograder.content.hidden import max_norm as hidden
from dropout_course.checks import max_norm as checks

from .entries import Implementation, variant

ASSIGNMENT = A05 = "05-max-norm"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "max_norm": (checks.check_max_norm, hidden.hidden_max_norm),
    "momentum_step": (checks.check_momentum_step, hidden.hidden_momentum_step),
    "learning_rate": (checks.check_learning_rate, hidden.hidden_learning_rate),
    "momentum_amplification": (
        checks.check_momentum_amplification,
        hidden.hidden_momentum_amplification,
    ),
    "max_norm_experiment": (
        checks.check_max_norm_experiment,
        hidden.hidden_max_norm_experiment,
    ),
}

#: The instructor's experiment, which the entries below change in one place each.
_EXPERIMENT = (
    "def max_norm_experiment(cs, seed=0, epochs=60):\n"
    "    from dropout_course.data import digits_split\n"
    "\n"
    "    X_train, y_train, X_test, y_test = digits_split(300, seed=0)\n"
    "    results = {}\n"
    "    for c in cs:\n"
    "        torch.manual_seed(seed)  # the weights, the batch order and the masks\n"
    "        hidden = torch.nn.Linear(64, 128)\n"
    "        model = torch.nn.Sequential(\n"
    "            torch.nn.Dropout(0.2), hidden, torch.nn.ReLU(), torch.nn.Dropout(0.5),\n"
    "            torch.nn.Linear(128, 10),\n"
    "        )\n"
    "        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)\n"
    "        model.train()\n"
    "        for _ in range(epochs):\n"
    "            order = torch.randperm(len(X_train))\n"
    "            for start in range(0, len(X_train), 50):\n"
    "                batch = order[start : start + 50]\n"
    "                logits = model(X_train[batch])\n"
    "                loss = torch.nn.functional.cross_entropy(logits, y_train[batch])\n"
    "                optimizer.zero_grad()\n"
    "                loss.backward()\n"
    "                optimizer.step()\n"
    "                with torch.no_grad():  # our W is weight.T: a column per hidden unit\n"
    "                    W = hidden.weight.detach().numpy().T\n"
    "                    hidden.weight.copy_(torch.from_numpy(max_norm(W, c).T))\n"
    "        model.eval()\n"
    "        with torch.no_grad():\n"
    "            errors = [\n"
    "                (model(X).argmax(dim=1) != y).sum().item() / len(y)\n"
    "                for X, y in ((X_train, y_train), (X_test, y_test))\n"
    "            ]\n"
    "        results[c] = (errors[0], errors[1], hidden.weight.norm(dim=1).max().item())\n"
    "    return results\n"
)


_PROJECTION = (
    "                with torch.no_grad():  # our W is weight.T: a column per hidden unit\n"
    "                    W = hidden.weight.detach().numpy().T\n"
    "                    hidden.weight.copy_(torch.from_numpy(max_norm(W, c).T))\n"
)


_NORM_BASE = Implementation("instructor", "05-max-norm", "max_norm_experiment", _EXPERIMENT)


def _amplification(name, body, message=""):
    code = "def momentum_amplification(momentum):\n" + body
    return Implementation(name, "05-max-norm", "momentum_amplification", code, message)


_VALID = "    if c <= 0:\n        raise ValueError(f'c must be positive, got c={c}')\n"


def _max_norm(name, body, message, validate=True):
    code = "def max_norm(W, c):\n" + (_VALID if validate else "") + body
    return Implementation(name, A05, "max_norm", code, message)


def _step(name, body, message):
    code = "def momentum_step(W, grad, velocity, lr, momentum, c=None):\n" + body
    return Implementation(name, A05, "momentum_step", code, message)


def _rate(name, body, message):
    code = "def learning_rate(step, steps_per_epoch, lr0, decay):\n" + body
    return Implementation(name, A05, "learning_rate", code, message)


_V = "    v = momentum * velocity - lr * grad\n"

WRONG = [
    # --------------------------------------------------------------------------- max_norm
    _max_norm(
        "max_norm_rows",
        "    norms = np.linalg.norm(W, axis=1, keepdims=True)\n"
        "    return W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))\n",
        "rows were projected",
    ),
    _max_norm(
        "max_norm_whole_matrix",
        "    return W * min(1.0, c / max(np.linalg.norm(W), 1e-300))\n",
        "whole matrix",
    ),
    _max_norm(
        "max_norm_scales_short_columns_up",
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    return (W * (c / np.where(norms > 0, norms, 1.0))).astype(W.dtype)\n",
        "scaled up",
    ),
    _max_norm(
        "max_norm_nan_on_zero_column",
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    return (W / norms * np.minimum(norms, c)).astype(W.dtype)\n",
        "NaN",
    ),
    _max_norm(
        "max_norm_in_place",
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    W *= np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))\n"
        "    return W\n",
        "modified W in place",
    ),
    _max_norm(
        "max_norm_no_value_error",
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    return (W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))).astype(W.dtype)\n",
        "must raise ValueError",
        validate=False,
    ),
    _max_norm(
        "max_norm_float64_result",
        "    W = np.asarray(W, dtype=float)\n"
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    return W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))\n",
        "dtype float64 for W of dtype float32",
    ),
    _max_norm(
        "max_norm_clips_each_weight",
        "    return np.clip(W, -c, c)\n",
        "the columns are not projected onto the ball of radius c",
    ),
    _max_norm(
        "max_norm_squared_norm",
        "    sq = (W**2).sum(axis=0)\n"
        "    return (W * np.minimum(1.0, c / np.where(sq > 0, sq, 1.0))).astype(W.dtype)\n",
        "squared norm",
    ),
    # ---------------------------------------------------------------------- momentum_step
    _step(
        "step_projects_before_update",
        _V + "    W_new = (max_norm(W, c) if c is not None else W) + v\n    return W_new, v\n",
        "BEFORE the update",
    ),
    _step(
        "step_momentum_sign_error",
        "    v = momentum * velocity + lr * grad\n"
        "    W_new = W + v\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "momentum sign error",
    ),
    _step(
        "step_subtracts_velocity",
        _V + "    W_new = W - v\n    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "momentum sign error",
    ),
    _step(
        "step_velocity_not_updated",
        _V + "    W_new = W + v\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), velocity\n",
        "velocity was not updated",
    ),
    _step(
        "step_velocity_not_returned",
        _V + "    W_new = W + v\n    return max_norm(W_new, c) if c is not None else W_new\n",
        "must return a pair",
    ),
    _step(
        "step_mutates_W",
        _V + "    W += v\n    return (max_norm(W, c) if c is not None else W.copy()), v\n",
        "modified its input W in place",
    ),
    _step(
        "step_mutates_velocity",
        "    velocity *= momentum\n"
        "    velocity -= lr * grad\n"
        "    W_new = W + velocity\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), velocity.copy()\n",
        "modified its input velocity in place",
    ),
    _step(
        "step_no_projection",
        _V + "    return W + v, v\n",
        "was not projected",
    ),
    _step(
        "step_crashes_without_c",
        _V + "    return max_norm(W + v, c), v\n",
        "With c=None there is no max-norm constraint",
    ),
    _step(
        "step_pytorch_convention",
        "    v = momentum * velocity + grad\n"
        "    W_new = W - lr * v\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "PyTorch's convention",
    ),
    _step(
        "step_velocity_after_projection",
        _V
        + "    W_new = max_norm(W + v, c) if c is not None else W + v\n"
        + "    return W_new, W_new - W\n",
        "after the projection",
    ),
    _step(
        "step_clips_each_weight",
        _V
        + "    W_new = W + v\n    return (np.clip(W_new, -c, c) if c is not None else W_new), v\n",
        "clipped",
    ),
    _step(
        "step_uses_old_velocity",
        "    W_new = W + velocity\n"
        "    v = momentum * velocity - lr * grad\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "OLD velocity",
    ),
    _step(
        "step_dampened_momentum",
        "    v = momentum * velocity - (1 - momentum) * lr * grad\n"
        "    W_new = W + v\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "(1 - momentum)",
    ),
    # ---------------------------------------------------------------------- learning_rate
    _rate("rate_decays_every_step", "    return lr0 * decay**step\n", "after every STEP"),
    _rate(
        "rate_off_by_one_epoch",
        "    return lr0 * decay ** (step // steps_per_epoch + 1)\n",
        "first epoch already used",
    ),
    _rate(
        "rate_steps_from_one",
        "    return lr0 * decay ** ((step + 1) // steps_per_epoch)\n",
        "counted from 1",
    ),
    _rate(
        "rate_fractional_epoch",
        "    return lr0 * decay ** (step / steps_per_epoch)\n",
        "decays within an epoch",
    ),
    _rate(
        "rate_modulo_epoch",
        "    return lr0 * decay ** (step % steps_per_epoch)\n",
        "step % steps_per_epoch",
    ),
    _rate("rate_missing_lr0", "    return decay ** (step // steps_per_epoch)\n", "lr0 is missing"),
    _step(
        "step_no_momentum_term",
        "    v = -lr * grad\n"
        "    W_new = W + v\n"
        "    return (max_norm(W_new, c) if c is not None else W_new), v\n",
        "ignores the previous velocity",
    ),
    _step(
        "step_old_velocity_only_without_c",
        _V
        + "    if c is None:\n        return W + v, velocity\n    return max_norm(W + v, c), v\n",
        "velocity was not updated",
    ),
    _step(
        "step_projects_without_c",
        _V + "    return max_norm(W + v, 1.0 if c is None else c), v\n",
        "projected although c is None",
    ),
    _rate(
        "rate_ceil_epoch",
        "    import math\n\n    return lr0 * decay ** math.ceil(step / steps_per_epoch)\n",
        "rounded up",
    ),
    _rate("rate_never_decays", "    return lr0\n", "never decays"),
    # ---------------------------------- red team: epoch in floating point (B14), constants (C1)
    # 49 * (1 / 49) = 0.9999999999999999: off by one at the first step of some epochs only.
    _rate(
        "rate_inverse_floor",
        "    import math\n\n"
        "    per_step = 1.0 / steps_per_epoch\n"
        "    return lr0 * decay ** math.floor(step * per_step)\n",
        "step * (1 / steps_per_epoch) is not exact",
    ),
    _rate(
        "rate_epoch_from_float_fraction",
        "    epoch = int(np.float32(step) * np.float32(1 / steps_per_epoch))\n"
        "    return lr0 * decay**epoch\n",
        "just below a whole number",
    ),
    _step(
        "step_identity",
        "    return W.copy(), velocity.copy()\n",
        "velocity was not updated",
    ),
    _step("step_does_nothing", "    pass\n", "must return a pair"),
    # Found by a red team (issue 9).
    Implementation(
        "max_norm_in_place_for_one_long_column",
        A05,
        "max_norm",
        "def max_norm(W, c):\n"
        "    if c <= 0:\n"
        '        raise ValueError(f"c must be positive, got c={c}")\n'
        "    norms = np.linalg.norm(W, axis=0)\n"
        "    long = norms > c\n"
        "    if long.sum() <= 1:\n"
        "        W[:, long] *= c / norms[long]       # a single column: fix it in place\n"
        "        return W\n"
        "    return (W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))).astype(W.dtype)\n",
        "modified W in place",
    ),
    # ---------------------------------------------------------- momentum_amplification
    _amplification(
        "amplification_without_the_own_step",
        "    return momentum / (1 - momentum)\n",
        "the gradient's own step",
    ),
    _amplification("amplification_shrinks", "    return 1 - momentum\n", "SHRINKS"),
    # ------------------------------------------------------------- max_norm_experiment
    variant(
        _NORM_BASE,
        "norm_experiment_projects_before_the_update",
        "                optimizer.step()\n" + _PROJECTION,
        _PROJECTION + "                optimizer.step()\n",
        "project with your max_norm after every update",
    ),
    variant(
        _NORM_BASE,
        "norm_experiment_unseeded",
        "        torch.manual_seed(seed)  # the weights, the batch order and the masks\n",
        "",
        "rerun",
    ),
]

CORRECT = [
    _max_norm(
        "max_norm_column_loop",
        "    out = W.copy()\n"
        "    for j in range(W.shape[1]):\n"
        "        norm = np.sqrt(np.sum(W[:, j] ** 2))\n"
        "        if norm > c:\n"
        "            out[:, j] = W[:, j] * (c / norm)\n"
        "    return out\n",
        "",
    ),
    _max_norm(
        "max_norm_torch_renorm",
        "    projected = torch.renorm(torch.from_numpy(W.T.copy()), p=2, dim=0, maxnorm=c)\n"
        "    return projected.T.numpy().astype(W.dtype)\n",
        "",
    ),
    _step(
        "step_via_pytorch_buffer",
        "    buffer = -velocity / lr  # PyTorch's momentum buffer\n"
        "    buffer = momentum * buffer + grad\n"
        "    W_new = W - lr * buffer\n"
        "    if c is not None:\n"
        "        W_new = max_norm(W_new, c)\n"
        "    return W_new, -lr * buffer\n",
        "",
    ),
    _step(
        "step_numpy_ufuncs",
        "    v = np.subtract(np.multiply(momentum, velocity), np.multiply(lr, grad))\n"
        "    W_new = np.add(W, v)\n"
        "    if c is None:\n"
        "        return W_new, v\n"
        "    norms = np.linalg.norm(W_new, axis=0)\n"
        "    too_long = norms > c\n"
        "    W_new[:, too_long] *= c / norms[too_long]\n"
        "    return W_new, v\n",
        "",
    ),
    _rate(
        "rate_floor",
        "    import math\n\n    return lr0 * decay ** math.floor(step / steps_per_epoch)\n",
        "",
    ),
    _rate(
        "rate_loop",
        "    rate = lr0\n"
        "    for _ in range(step // steps_per_epoch):\n"
        "        rate *= decay\n"
        "    return rate\n",
        "",
    ),
    # Styles the checks once failed or might fail: the exercise asks for no dtype (so float32
    # arithmetic is fine), for a pair (a list is one), and for a number (any real number type).
    _step(
        "step_torch_float32",
        "    v = momentum * torch.tensor(velocity, dtype=torch.float32) - lr * torch.tensor(\n"
        "        grad, dtype=torch.float32\n"
        "    )\n"
        "    W_new = torch.tensor(W, dtype=torch.float32) + v\n"
        "    if c is not None:\n"
        "        W_new = torch.renorm(W_new.T, p=2, dim=0, maxnorm=c).T\n"
        "    return W_new.numpy(), v.numpy()\n",
        "",
    ),
    _step(
        "step_infinite_radius_list",
        "    radius = np.inf if c is None else c\n"
        "    v = -(lr * grad - momentum * velocity)\n"
        "    return [max_norm(W + v, radius), v]\n",
        "",
    ),
    # Float division is exact where an epoch starts (e * n / n == e) and stays below the next
    # whole number just before it, so int(step / steps_per_epoch) is the epoch too.
    _rate(
        "rate_int_of_float_division",
        "    return lr0 * decay ** int(step / steps_per_epoch)\n",
        "",
    ),
    _rate(
        "rate_exp_log",
        "    import math\n\n"
        "    return lr0 * math.exp((step // steps_per_epoch) * math.log(decay))\n",
        "",
    ),
    _rate(
        "rate_torch_float32",
        "    epoch = step // steps_per_epoch\n"
        "    return float(torch.tensor(lr0) * torch.tensor(decay) ** epoch)\n",
        "",
    ),
    _rate(
        "rate_numpy_float32_divmod",
        "    epoch, _ = divmod(step, steps_per_epoch)\n"
        "    return np.float32(lr0) * np.power(np.float32(decay), epoch)\n",
        "",
    ),
    _rate(
        "rate_exponential_lr",
        "    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)\n"
        "    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)\n"
        "    for _ in range(step // steps_per_epoch):\n"
        "        optimizer.step()\n"
        "        scheduler.step()\n"
        "    return optimizer.param_groups[0]['lr']\n",
        "",
    ),
    # Found by a red team (issue 9): once lost points through the grader's wire.
    Implementation(
        "rate_long_double",
        A05,
        "learning_rate",
        "def learning_rate(step, steps_per_epoch, lr0, decay):\n"
        "    return np.longdouble(lr0) * np.longdouble(decay) ** (step // steps_per_epoch)\n",
    ),
    Implementation(
        "rate_fraction",
        A05,
        "learning_rate",
        "from fractions import Fraction\n"
        "\n"
        "def learning_rate(step, steps_per_epoch, lr0, decay):\n"
        "    # exact arithmetic: no rounding however late the epoch\n"
        "    return Fraction(lr0) * Fraction(decay) ** (step // steps_per_epoch)\n",
    ),
    # Found by a second red team (A7, A8): a number is read the same way in every check (any int
    # or float, a Fraction or Decimal, an array or tensor holding one number, 0-d or not).
    _rate(
        "rate_decimal",
        "    from decimal import Decimal\n\n"
        "    return Decimal(repr(lr0)) * Decimal(repr(decay)) ** (step // steps_per_epoch)\n",
        "",
    ),
    _rate(
        "rate_torch_0d_tensor",
        "    lr0, decay = torch.tensor(lr0, dtype=torch.float64), torch.tensor(decay)\n"
        "    return lr0 * decay.double() ** (step // steps_per_epoch)\n",
        "",
    ),
    # Once a WRONG entry ("must return a number"): an array holding one number is one number
    # for every other function of the course (activation_correlation, ablation_damage...), so
    # it is for learning_rate too (A8: the two sides graded the same value differently).
    _rate(
        "rate_returns_array",
        "    return np.array([lr0 * decay ** (step // steps_per_epoch)])\n",
        "",
    ),
    # ---------------------------------------------------------- momentum_amplification
    _amplification(
        "amplification_geometric_series",
        "    # the settled velocity is the sum of all past steps, each multiplied by momentum\n"
        "    return sum(momentum**k for k in range(100_000))\n",
    ),
    # ------------------------------------------------------------- max_norm_experiment
    variant(
        _NORM_BASE,
        "norm_experiment_list_entries_renorm_check",
        "results[c] = (errors[0], errors[1], hidden.weight.norm(dim=1).max().item())",
        "results[c] = [errors[0], errors[1], float(np.linalg.norm(max_norm(W, c), axis=0).max())]",
    ),
]
