"""Exercise 02 (co-adaptation): the checks of each answer cell, wrong implementations that
students write (each with the words its failure message must contain), and correct
implementations in other styles."""

from autograder.content.hidden import co_adaptation as hidden
from dropout_course.checks import co_adaptation as checks

from .entries import Implementation

ASSIGNMENT = A02 = "02-co-adaptation"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "activation_correlation": (
        checks.check_activation_correlation,
        hidden.hidden_activation_correlation,
    ),
    "activation_sparsity": (checks.check_activation_sparsity, hidden.hidden_activation_sparsity),
    "ablation_damage": (checks.check_ablation_damage, hidden.hidden_ablation_damage),
    "dropout_penalty": (checks.check_dropout_penalty, hidden.hidden_dropout_penalty),
}


def _penalty(name, body, message=""):
    code = "def dropout_penalty(c, p):\n" + body
    return Implementation(name, "02-co-adaptation", "dropout_penalty", code, message)


def _corr(name, body, message=""):
    return Implementation(
        name, A02, "activation_correlation", "def activation_correlation(H):\n" + body, message
    )


def _sparsity(name, body, message=""):
    return Implementation(
        name, A02, "activation_sparsity", "def activation_sparsity(H):\n" + body, message
    )


def _damage(name, body, message=""):
    code = "def ablation_damage(model, module, units, X, y):\n" + body
    return Implementation(name, A02, "ablation_damage", code, message)


#: Keep the varying columns (the part most wrong answers get right).
_VARYING = (
    "    H = np.asarray(H, dtype=float)\n"
    "    V = H[:, np.ptp(H, axis=0) > 0]\n"
    "    if V.shape[1] < 2:\n"
    "        return 0.0\n"
)

#: A correct hook-based body, with the lines that the wrong variants change marked by name.
_ERR = "(model(X).argmax(dim=1) != y).double().mean().item()"


def _hook_body(
    *,
    zero="out[:, list(units)] = 0",
    evaluation="    was = model.training\n    model.eval()\n",
    restore="    model.train(was)\n",
    remove="        handle.remove()\n",
    result="ablated - intact",
):
    return (
        evaluation + "    def hook(m, inputs, output):\n"
        "        out = output.clone()\n"
        f"        {zero}\n"
        "        return out\n"
        "    with torch.no_grad():\n"
        f"        intact = {_ERR}\n"
        "        handle = module.register_forward_hook(hook)\n"
        f"        ablated = {_ERR}\n" + remove + restore + f"    return {result}\n"
    )


WRONG = [
    # ------------------------------------------------------------ activation_correlation
    _corr(
        "corr_includes_diagonal",
        _VARYING + "    return float(np.abs(np.corrcoef(V, rowvar=False)).mean())\n",
        "diagonal",
    ),
    _corr(
        "corr_rows_not_columns",
        "    H = np.asarray(H, dtype=float)\n"
        "    V = H[:, np.ptp(H, axis=0) > 0]\n"
        "    if V.shape[1] < 2:\n"
        "        return 0.0\n"
        "    C = np.nan_to_num(np.corrcoef(V))\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "rowvar=False",
    ),
    _corr(
        "corr_nan_for_dead_units",
        "    C = np.corrcoef(H, rowvar=False)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "NaN",
    ),
    _corr(
        "corr_dead_units_as_zero",
        "    with np.errstate(all='ignore'):\n"
        "        C = np.nan_to_num(np.corrcoef(H, rowvar=False), nan=0.0)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "counted as correlation 0",
    ),
    _corr(
        "corr_signed",
        _VARYING + "    C = np.corrcoef(V, rowvar=False)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(C[j, k].mean())\n",
        "ABSOLUTE",
    ),
    _corr(
        "corr_covariance",
        _VARYING + "    C = np.cov(V, rowvar=False)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "covariance",
    ),
    _corr(
        "corr_nan_without_pairs",
        "    H = np.asarray(H, dtype=float)\n"
        "    V = H[:, np.ptp(H, axis=0) > 0]\n"
        "    C = np.corrcoef(V, rowvar=False).reshape(V.shape[1], V.shape[1])\n"
        "    j, k = np.triu_indices(V.shape[1], k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "fewer than two non-constant columns",
    ),
    _corr(
        "corr_modifies_input",
        "    H -= H.mean(axis=0)\n"
        "    V = H[:, np.ptp(H, axis=0) > 0]\n"
        "    if V.shape[1] < 2:\n"
        "        return 0.0\n"
        "    C = np.corrcoef(V, rowvar=False)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "modified H in place",
    ),
    # np.isclose(std, 0) (atol 1e-8) also drops units whose activations vary, only a little.
    _corr(
        "corr_isclose_std",
        "    H = np.asarray(H, dtype=float)\n"
        "    V = H[:, ~np.isclose(H.std(axis=0), 0)]\n"
        "    if V.shape[1] < 2:\n"
        "        return 0.0\n"
        "    C = np.corrcoef(V, rowvar=False)\n"
        "    j, k = np.triu_indices(len(C), k=1)\n"
        "    return float(np.abs(C[j, k]).mean())\n",
        "left out as if it were constant",
    ),
    # A constant keeps every side condition and the degenerate cases (0.0 with no pair); the
    # property about constant columns must not credit it for giving equal values.
    _corr("corr_constant_zero", "    return 0.0\n", "gives the same value for matrices"),
    # --------------------------------------------------------------- activation_sparsity
    _sparsity(
        "sparsity_negatives_are_zeros",
        "    return float(np.mean(H <= 0)), H.mean(axis=0)\n",
        "negative values were counted as zeros",
    ),
    _sparsity(
        "sparsity_threshold",
        "    return float(np.mean(np.abs(H) < 1e-6)), H.mean(axis=0)\n",
        "small values were counted as zeros",
    ),
    _sparsity(
        "sparsity_tiny_threshold",
        "    return float(np.mean(np.abs(H) < 1e-12)), H.mean(axis=0)\n",
        "is not a zero",
    ),
    _sparsity(
        "sparsity_nonzero_fraction",
        "    return float(np.count_nonzero(H) / H.size), H.mean(axis=0)\n",
        "NONZERO",
    ),
    _sparsity(
        "sparsity_dead_units",
        "    return float(np.mean(np.all(H == 0, axis=0))), H.mean(axis=0)\n",
        "dead units",
    ),
    _sparsity(
        "sparsity_means_per_row",
        "    return float(np.mean(H == 0)), H.mean(axis=1)\n",
        "one mean per example",
    ),
    _sparsity(
        "sparsity_means_of_active_only",
        "    active = np.where(H != 0, H, np.nan)\n"
        "    with np.errstate(all='ignore'):\n"
        "        means = np.nan_to_num(np.nanmean(active, axis=0))\n"
        "    return float(np.mean(H == 0)), means\n",
        "nonzero (active) entries",
    ),
    _sparsity(
        "sparsity_single_mean",
        "    return float(np.mean(H == 0)), float(H.mean())\n",
        "single number",
    ),
    # ------------------------------------------------------------------- ablation_damage
    _damage("damage_hook_not_removed", _hook_body(remove=""), "handle.remove()"),
    _damage(
        "damage_no_eval",
        _hook_body(evaluation="", restore=""),
        "dropout was active",
    ),
    _damage(
        "damage_leaves_eval",
        _hook_body(evaluation="    model.eval()\n", restore=""),
        "left the model in evaluation mode",
    ),
    _damage(
        "damage_forces_train",
        _hook_body(evaluation="    model.eval()\n", restore="    model.train()\n"),
        "switched the model to training mode",
    ),
    _damage("damage_zeroes_rows", _hook_body(zero="out[list(units)] = 0"), "rows (examples)"),
    _damage("damage_returns_ablated_error", _hook_body(result="ablated"), "INCREASE"),
    _damage("damage_sign_reversed", _hook_body(result="intact - ablated"), "sign is reversed"),
    _damage(
        "damage_counts",
        _hook_body(result="(ablated - intact) * len(y)"),
        "error RATES",
    ),
    _damage("damage_percentage", _hook_body(result="100 * (ablated - intact)"), "percentage"),
    _damage(
        "damage_zeroes_the_others",
        _hook_body(
            zero="keep = torch.zeros(out.shape[1]); keep[list(units)] = 1; out = out * keep"
        ),
        "EXCEPT",
    ),
    _damage(
        "damage_rescales_survivors",
        _hook_body(
            zero="out[:, list(units)] = 0; out = out * out.shape[1] / (out.shape[1] - len(units))"
        ),
        "rescaled",
    ),
    _damage(
        "damage_zeroes_weights_in_place",
        "    was = model.training\n"
        "    model.eval()\n"
        "    children = list(model.children())\n"
        "    i = next(k for k, m in enumerate(children) if m is module)\n"
        "    nxt = next(m for m in children[i:] if isinstance(m, nn.Linear))\n"
        "    with torch.no_grad():\n"
        f"        intact = {_ERR}\n"
        "        nxt.weight[:, list(units)] = 0\n"
        f"        ablated = {_ERR}\n"
        "    model.train(was)\n"
        "    return ablated - intact\n",
        "changed the model's parameters",
    ),
    # Attacks on the check's own inputs: with y overwritten (or units emptied) in the check's
    # tensors, every expected damage would be 0. Each call gets its own copies.
    _damage("damage_overwrites_labels", "    y.fill_(-1)\n    return 0.0\n", "modified y in place"),
    _damage(
        "damage_clears_units", "    units.clear()\n    return 0.0\n", "modified units in place"
    ),
    _damage(
        "damage_correct_but_clears_units",
        _hook_body(result="ablated - intact if units.clear() is None else 0.0"),
        "modified units in place",
    ),
    _damage("damage_constant_zero", "    return 0.0\n", "expected the rise in error rate"),
    # ---------------------------------------------------------------- dropout_penalty
    _penalty(
        "penalty_square_of_sum",
        "    c = np.asarray(c, dtype=float)\n    return p / (1 - p) * c.sum() ** 2\n",
        "square of the SUM",
    ),
    _penalty(
        "penalty_factor_upside_down",
        "    c = np.asarray(c, dtype=float)\n    return (1 - p) / p * (c**2).sum() if p else 0.0\n",
        "upside down",
    ),
    _penalty(
        "penalty_standard_dropout",
        "    c = np.asarray(c, dtype=float)\n    return p * (1 - p) * (c**2).sum()\n",
        "standard dropout",
    ),
]


CORRECT = [
    _corr(
        "corr_nanmean",
        "    with np.errstate(all='ignore'):\n"
        "        C = np.corrcoef(H, rowvar=False)\n"
        "    C = np.atleast_2d(C)\n"
        "    off = C[~np.eye(len(C), dtype=bool)]\n"
        "    off = off[~np.isnan(off)]\n"
        "    return float(np.abs(off).mean()) if off.size else 0.0\n",
    ),
    _corr(
        "corr_loops",
        "    H = np.asarray(H, dtype=float)\n"
        "    cols = [H[:, j] - H[:, j].mean() for j in range(H.shape[1])\n"
        "            if H[:, j].max() > H[:, j].min()]\n"
        "    total, pairs = 0.0, 0\n"
        "    for a in range(len(cols)):\n"
        "        for b in range(a + 1, len(cols)):\n"
        "            x, z = cols[a], cols[b]\n"
        "            total += abs(x @ z) / np.sqrt((x @ x) * (z @ z))\n"
        "            pairs += 1\n"
        "    return total / pairs if pairs else 0.0\n",
    ),
    _corr(
        "corr_torch",
        "    T = torch.as_tensor(np.asarray(H, dtype=np.float64))\n"
        "    if T.shape[0] == 0:\n"
        "        return 0.0\n"
        "    T = T[:, T.max(dim=0).values > T.min(dim=0).values]\n"
        "    m = T.shape[1]\n"
        "    if m < 2:\n"
        "        return 0.0\n"
        "    C = torch.corrcoef(T.T)\n"
        "    j, k = torch.triu_indices(m, m, offset=1)\n"
        "    return C[j, k].abs().mean().item()\n",
    ),
    # Computes in the input's dtype (float32 for a float32 H) and returns a 0-d tensor: the
    # contract fixes neither.
    _corr(
        "corr_float32_tensor",
        "    T = torch.as_tensor(H)\n"
        "    T = T[:, T.amax(dim=0) > T.amin(dim=0)] if len(T) else T[:, :0]\n"
        "    m = T.shape[1]\n"
        "    if m < 2:\n"
        "        return 0.0\n"
        "    C = torch.corrcoef(T.T)\n"
        "    j, k = torch.triu_indices(m, m, offset=1)\n"
        "    return C[j, k].abs().mean()\n",
    ),
    _sparsity(
        "sparsity_count_nonzero",
        "    zeros = H.size - np.count_nonzero(H)\n"
        "    return zeros / H.size, np.sum(H, axis=0) / H.shape[0]\n",
    ),
    _sparsity(
        "sparsity_torch",
        "    T = torch.as_tensor(H)\n"
        "    return (T == 0).double().mean().item(), T.double().mean(dim=0).numpy()\n",
    ),
    # "A pair" is not necessarily a tuple (the hidden test once demanded one).
    _sparsity(
        "sparsity_list_pair",
        "    return [np.mean(H == 0), np.mean(H, axis=0)]\n",
    ),
    # Works in the input's own dtype: torch's mean() refuses integer tensors, which the hidden
    # test once passed although the contract speaks of activations (real numbers) only.
    _sparsity(
        "sparsity_torch_native_dtype",
        "    T = torch.from_numpy(H)\n"
        "    return (T == 0).sum().item() / T.numel(), T.mean(dim=0).numpy()\n",
    ),
    # Accuracies in float32: each is rounded by up to 3e-8, so the damage can be off by 6e-8,
    # more than the hidden test's old tolerance (atol=1e-9, rtol=1e-5: 3e-8 for a damage of
    # 1/350); it passed there only because of the test's data. Also no torch.no_grad() (the
    # notebook suggests it but does not require it) and an in-place hook that returns nothing.
    _damage(
        "damage_float32_accuracy_no_grad_free",
        "    was = model.training\n"
        "    model.eval()\n"
        "    idx = torch.as_tensor(np.asarray(units, dtype=np.int64))\n"
        "    def hook(m, inputs, output):\n"
        "        output[:, idx] = 0\n"
        "    acc = (model(X).argmax(1) == y).float().mean()\n"
        "    handle = module.register_forward_hook(hook)\n"
        "    try:\n"
        "        acc_ablated = (model(X).argmax(1) == y).float().mean()\n"
        "    finally:\n"
        "        handle.remove()\n"
        "        model.train(was)\n"
        "    return float(acc - acc_ablated)\n",
    ),
    _damage(
        "damage_inplace_hook_try_finally",
        "    modes = {m: m.training for m in model.modules()}\n"
        "    model.eval()\n"
        "    def hook(m, inputs, output):\n"
        "        output[:, units] = 0\n"
        "    try:\n"
        "        with torch.no_grad():\n"
        "            before = (model(X).argmax(1) != y).float().mean().item()\n"
        "            handle = module.register_forward_hook(hook)\n"
        "            try:\n"
        "                after = (model(X).argmax(1) != y).float().mean().item()\n"
        "            finally:\n"
        "                handle.remove()\n"
        "    finally:\n"
        "        for m, mode in modes.items():\n"
        "            m.training = mode\n"
        "    return after - before\n",
    ),
    _damage(
        "damage_deepcopy",
        "    import copy\n"
        "    path = next(n for n, m in model.named_modules() if m is module)\n"
        "    clone = copy.deepcopy(model).eval()\n"
        "    keep = None\n"
        "    with torch.no_grad():\n"
        "        acc_intact = (clone(X).argmax(1) == y).sum().item() / len(y)\n"
        "        def mask(m, i, out):\n"
        "            k = torch.ones(out.shape[1], dtype=out.dtype)\n"
        "            k[torch.as_tensor(list(units), dtype=torch.long)] = 0\n"
        "            return out * k\n"
        "        clone.get_submodule(path).register_forward_hook(mask)\n"
        "        acc_ablated = (clone(X).argmax(1) == y).sum().item() / len(y)\n"
        "    return acc_intact - acc_ablated\n",
    ),
    # Found by a red team (issue 9): once lost points through the grader's wire.
    Implementation(
        "sparsity_long_double",
        A02,
        "activation_sparsity",
        "def activation_sparsity(H):\n"
        "    H = np.asarray(H)\n"
        "    return float(np.mean(H == 0)), H.mean(axis=0, dtype=np.longdouble)\n",
    ),
    # Found by a second red team (A7, A8, N3): a number is read the same way in every check
    # (any int or float, a Fraction or Decimal, an array or tensor holding one number).
    _damage(
        "damage_decimal",
        "    from decimal import Decimal\n\n"
        + _hook_body(result="Decimal(repr(ablated)) - Decimal(repr(intact))"),
    ),
    _corr(
        "corr_one_element_array",
        "    H = np.asarray(H, dtype=np.float64)\n"
        "    V = H[:, np.ptp(H, axis=0) > 0] if H.shape[0] else H[:, :0]\n"
        "    if V.shape[1] < 2:\n"
        "        return np.zeros(1)\n"
        "    C = np.corrcoef(V, rowvar=False)\n"
        "    j, k = np.triu_indices(V.shape[1], k=1)\n"
        "    return np.abs(C[j, k]).mean(keepdims=True)\n",
    ),
    _damage(
        "damage_one_element_tensor",
        _hook_body(result="ablated - intact").replace(
            _ERR, "(model(X).argmax(dim=1) != y).double().mean(dim=0, keepdim=True)"
        ),
    ),
    # Leaves the global torch generator all zeros (torch.rand then gives 0.0): the check's own
    # model is drawn from a seeded state of its own, whatever the student's calls left.
    _damage(
        "damage_leaves_zero_torch_state",
        _hook_body(
            restore="    model.train(was)\n"
            "    state = torch.get_rng_state().clone()\n"
            "    state[24 : 24 + 624 * 8] = 0\n"
            "    torch.set_rng_state(state)\n"
        ),
    ),
    # ---------------------------------------------------------------- dropout_penalty
    _penalty(
        "penalty_variance_sum_torch",
        "    c = torch.as_tensor(c, dtype=torch.float64)\n"
        "    # Var[r / q] from its definition: E[(r / q - 1)^2] over keep (1 - p) and drop (p)\n"
        "    variance = (1 - p) * (1 / (1 - p) - 1) ** 2 + p * 1.0\n"
        "    return (variance * c.pow(2)).sum()\n",
    ),
]
