"""Exercise 08 (variants of dropout): the checks of each answer cell, wrong implementations
that students write (each with the words its failure message must contain), and correct
implementations in other styles."""

from autograder.content.hidden import variants as hidden
from dropout_course.checks import variants as checks

from .entries import Implementation

ASSIGNMENT = A08 = "08-variants"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "gaussian_dropout_forward": (
        checks.check_gaussian_dropout_forward,
        hidden.hidden_gaussian_dropout_forward,
    ),
    "dropconnect_forward": (checks.check_dropconnect_forward, hidden.hidden_dropconnect_forward),
    "spatial_dropout_forward": (
        checks.check_spatial_dropout_forward,
        hidden.hidden_spatial_dropout_forward,
    ),
    "locked_dropout": (checks.check_locked_dropout, hidden.hidden_locked_dropout),
    "kept_throughout": (checks.check_kept_throughout, hidden.hidden_kept_throughout),
}

_EVAL = "    if not training:\n        return x, None\n"


def _gaussian(name, body, message="", evaluation=_EVAL):
    code = "def gaussian_dropout_forward(x, p, rng, training=True):\n" + evaluation + body
    return Implementation(name, A08, "gaussian_dropout_forward", code, message)


def _dropconnect(name, body, message="", evaluation=None):
    head = "def dropconnect_forward(x, W, b, p, rng, training=True):\n"
    evaluation = "    if not training:\n        return x @ W + b, None\n" if evaluation is None \
        else evaluation  # fmt: skip
    return Implementation(name, A08, "dropconnect_forward", head + evaluation + body, message)


def _spatial(name, body, message="", evaluation=_EVAL):
    code = "def spatial_dropout_forward(x, p, rng, training=True):\n" + evaluation + body
    return Implementation(name, A08, "spatial_dropout_forward", code, message)


def _locked(name, body, message="", evaluation=_EVAL):
    code = "def locked_dropout(x, p, rng, training=True):\n" + evaluation + body
    return Implementation(name, A08, "locked_dropout", code, message)


def _kept(name, body, message=""):
    code = "def kept_throughout(p, steps, locked):\n" + body
    return Implementation(name, A08, "kept_throughout", code, message)


_P1 = "    if p == 1:\n        return np.zeros((x.shape[0], W.shape[1])) + b, mask\n"
_APPLY = "    return x * mask / (1 - p), mask\n"

WRONG = [
    # ------------------------------------------------------------------------ gaussian
    _gaussian(
        "gauss_std_is_the_variance",
        "    noise = 1 + p / (1 - p) * rng.standard_normal(x.shape)\n    return x * noise, noise\n",
        "the standard deviation is the square root",
    ),
    _gaussian(
        "gauss_variance_p",
        "    noise = rng.normal(1, np.sqrt(p), x.shape)\n    return x * noise, noise\n",
        "(that is p)",
    ),
    _gaussian(
        "gauss_mean_zero",
        "    noise = rng.normal(0, np.sqrt(p / (1 - p)), x.shape)\n    return x * noise, noise\n",
        "it must be 1",
    ),
    _gaussian(
        "gauss_additive",
        "    noise = rng.normal(1, np.sqrt(p / (1 - p)), x.shape)\n"
        "    return x + noise - 1, noise\n",
        "not x * noise",
    ),
    _gaussian(
        "gauss_uniform",
        "    half = np.sqrt(3 * p / (1 - p))\n"
        "    noise = rng.uniform(1 - half, 1 + half, x.shape)\n"
        "    return x * noise, noise\n",
        "68.3 %",
    ),
    _gaussian(
        "gauss_one_factor_per_row",
        "    noise = rng.normal(1, np.sqrt(p / (1 - p)), (x.shape[0], 1))\n"
        "    return x * noise, noise\n",
        "one factor per entry",
    ),
    _gaussian(
        "gauss_global_random",
        "    noise = np.random.normal(1, np.sqrt(p / (1 - p)), x.shape)\n"
        "    return x * noise, noise\n",
        "never from np.random",
    ),
    _gaussian(
        "gauss_scales_at_evaluation",
        "    noise = rng.normal(1, np.sqrt(p / (1 - p)), x.shape)\n    return x * noise, noise\n",
        "must return the layer's plain output",
        evaluation="    if not training:\n        return x * (1 - p), None\n",
    ),
    # --------------------------------------------------------------------- dropconnect
    _dropconnect(
        "dc_bias_scaled",
        "    mask = rng.random(W.shape) >= p\n"
        + _P1
        + "    return (x @ (W * mask) + b) / (1 - p), mask\n",
        "the bias is scaled too",
    ),  # fmt: skip
    _dropconnect(
        "dc_not_scaled",
        "    mask = rng.random(W.shape) >= p\n    return x @ (W * mask) + b, mask\n",
        "not divided by 1 - p",
    ),
    _dropconnect(
        "dc_keep_probability",
        "    mask = rng.random(W.shape) < p\n"
        + _P1
        + "    return x @ (W * mask) / (1 - p) + b, mask\n",
        "KEEP probability",
    ),
    _dropconnect(
        "dc_mask_per_example",
        "    mask = rng.random((x.shape[0],) + W.shape) >= p\n"
        "    out = np.einsum('ni,nio->no', x, W * mask) / (1 - p) + b\n"
        "    return out, mask\n",
        "one mask per example",
    ),
    _dropconnect(
        "dc_drops_inputs",
        "    mask = np.repeat(rng.random((W.shape[0], 1)) >= p, W.shape[1], axis=1)\n"
        + _P1
        + "    return x @ (W * mask) / (1 - p) + b, mask\n",
        "",
    ),  # fmt: skip
    _dropconnect(
        "dc_nan_at_p_1",
        "    mask = rng.random(W.shape) >= p\n    return x @ (W * mask) / (1 - p) + b, mask\n",
        "0 / 0 must not become NaN",
    ),
    _dropconnect(
        "dc_dropout_at_evaluation",
        "    mask = rng.random(W.shape) >= p\n"
        + _P1
        + "    return x @ (W * mask) / (1 - p) + b, mask\n",
        "so it must be None",
        evaluation="",
    ),
    # ------------------------------------------------------------------------- spatial
    _spatial(
        "spatial_mask_per_element",
        "    mask = rng.random(x.shape) >= p\n" + _APPLY,
        "one decision per ELEMENT",
    ),
    _spatial(
        "spatial_mask_shared_by_the_batch",
        "    mask = rng.random((1, x.shape[1], 1, 1)) >= p\n" + _APPLY,
        "one mask for the whole batch",
    ),
    _spatial(
        "spatial_mask_per_example",
        "    mask = rng.random((x.shape[0], 1, 1, 1)) >= p\n" + _APPLY,
        "one decision per example",
    ),
    _spatial(
        "spatial_mask_without_trailing_axes",
        "    mask = rng.random(x.shape[:2]) >= p\n"
        "    return x * mask[:, :, None, None] / (1 - p), mask\n",
        "keep the 1s",
    ),
    _spatial(
        "spatial_not_scaled",
        "    mask = rng.random((x.shape[0], x.shape[1], 1, 1)) >= p\n    return x * mask, mask\n",
        "not divided by 1 - p",
    ),
    _spatial(
        "spatial_keep_probability",
        "    mask = rng.random((x.shape[0], x.shape[1], 1, 1)) < p\n" + _APPLY,
        "KEEP probability",
    ),
    _spatial(
        "spatial_in_place",
        "    mask = rng.random((x.shape[0], x.shape[1], 1, 1)) >= p\n"
        "    x *= mask / (1 - p)\n"
        "    return x, mask\n",
        "modified its input",
    ),
    # -------------------------------------------------------------------------- locked
    _locked(
        "locked_new_mask_every_step",
        "    mask = rng.random(x.shape) >= p\n" + _APPLY,
        "a new mask at every time step",
    ),
    _locked(
        "locked_mask_shared_by_the_batch",
        "    mask = rng.random((1, 1, x.shape[2])) >= p\n" + _APPLY,
        "one mask for the whole batch",
    ),
    _locked(
        "locked_on_the_wrong_axis",
        "    mask = rng.random((x.shape[0], 1, x.shape[2])) >= p\n" + _APPLY,
        "a mask per time step shared by the batch",
    ),
    Implementation(
        "locked_training_off_by_default",
        A08,
        "locked_dropout",
        "def locked_dropout(x, p, rng, training=False):\n"
        + _EVAL
        + "    mask = rng.random((1, x.shape[1], x.shape[2])) >= p\n"
        + _APPLY,
        "training=True, the default",
    ),
    _locked(
        "locked_global_random",
        "    mask = np.random.random((1, x.shape[1], x.shape[2])) >= p\n" + _APPLY,
        "never from np.random",
    ),
    _locked(
        "locked_scales_at_evaluation",
        "    mask = rng.random((1, x.shape[1], x.shape[2])) >= p\n" + _APPLY,
        "must return the layer's plain output",
        evaluation="    if not training:\n        return x * (1 - p), None\n",
    ),
    # -------------------------------------------------------------------- kept_throughout
    _kept(
        "kept_locked_and_fresh_swapped",
        "    return (1 - p) ** steps if locked else 1 - p\n",
        "that is the locked answer",
    ),  # fmt: skip
    _kept("kept_p_as_keep", "    return p if locked else p ** steps\n", "as the keep probability"),
    _kept("kept_ignores_locking", "    return (1 - p) ** steps\n", "that is the fresh-mask answer"),
]

CORRECT = [
    _gaussian(
        "gauss_rng_normal_float32",
        "    sd = (p / (1 - p)) ** 0.5\n"
        "    noise = rng.normal(loc=1.0, scale=sd, size=x.shape).astype(x.dtype)\n"
        "    return np.multiply(x, noise), noise\n",
    ),
    _dropconnect(
        "dc_binomial_mask_and_where",
        "    mask = rng.binomial(1, 1 - p, size=W.shape)\n"
        "    scale = np.where(p < 1, 1 / max(1 - p, 1e-300), 0.0)\n"
        "    return x @ (W * mask) * scale + b, mask\n",
    ),
    _spatial(
        "spatial_binomial_float_mask",
        "    N, C = x.shape[:2]\n"
        "    mask = rng.binomial(1, 1 - p, size=(N, C, 1, 1)).astype(x.dtype)\n"
        "    return x * mask / (1 - p), mask\n",
    ),
    _spatial(
        "spatial_reshape_and_broadcast",
        "    n, c = x.shape[0], x.shape[1]\n"
        "    keep = (rng.uniform(size=n * c) > p).reshape(n, c, 1, 1)\n"
        "    return np.where(keep, x / (1 - p), 0.0), keep\n",
    ),
    _locked(
        "locked_keepdims_mask",
        "    mask = (rng.random(x.shape[1:]) >= p)[np.newaxis]\n"
        "    return x * (mask / (1 - p)), mask\n",
    ),
    _kept("kept_pow_locked", "    return (1 - p) ** (1 if locked else steps)\n"),
    _kept("kept_float32", "    return np.float32(1 - p) ** (1 if locked else steps)\n"),
]
