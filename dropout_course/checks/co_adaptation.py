"""Contract checks for exercise 02 (co-adaptation): ``activation_correlation``,
``activation_sparsity`` and ``ablation_damage``.

Every check takes keyword arguments for its inputs, so that the hidden tests can run the same
properties on inputs the student has not seen. The inputs are built so that each common mistake
(the diagonal in the mean, rows instead of columns, NaN for dead units, negative values counted
as zeros, a model left changed, ...) gives a value of its own, which the message then names.
None of the checks is random: every input comes from a seeded generator.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import torch
from torch import nn

from .core import allclose, as_array, call, check_shape, expect_pair, fail, first_match

# ------------------------------------------------------------------------------ helpers


def quiet_call(func, name: str, described: str, *args, **kwargs):
    """:func:`call` with warnings silenced.

    nbgrader gives no points to a test cell that writes to stderr, so a correct function that
    happens to trigger a NumPy or PyTorch warning (0/0 in a column that is then discarded, say)
    must not print it.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(func, name, described, *args, **kwargs)


def _scalar(value, name: str, described: str) -> float:
    """Return ``value`` as a Python float, or fail if it is not a single real number."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(
                name,
                f"{described} returned a tensor of shape {tuple(value.shape)}; "
                "it must return one number (a float).",
            )
        value = value.detach().item()
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(
                name,
                f"{described} returned an array of shape {value.shape}; "
                "it must return one number (a float).",
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, f"{described} must return a float, got {type(value).__name__}.")
    return float(value)


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-5, atol=1e-7))


# ---------------------------------------------------------------- activation_correlation


def _varying(H: np.ndarray) -> np.ndarray:
    """The columns of ``H`` whose entries are not all equal."""
    return H[:, np.ptp(H, axis=0) > 0] if H.shape[0] else H[:, :0]


def _pairs_mean(C: np.ndarray) -> float:
    """Mean of the entries above the diagonal of a square matrix."""
    j, k = np.triu_indices(C.shape[0], k=1)
    return float(C[j, k].mean()) if len(j) else 0.0


def _corr(H: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of ``H`` (all of them varying)."""
    centred = H - H.mean(axis=0)
    z = centred / np.sqrt((centred**2).sum(axis=0))
    return z.T @ z


def expected_correlation(H) -> float:
    """The contract's value: mean |r_jk| over pairs j < k of non-constant columns, 0 if none."""
    varying = _varying(np.asarray(H, dtype=np.float64))
    return _pairs_mean(np.abs(_corr(varying))) if varying.shape[1] >= 2 else 0.0


def correlation_matrix(n=200, n_units=12, seed=0, dead=(3,), constant=((7, 0.5),)):
    """Activations with correlated, anti-correlated and differently scaled units.

    Columns listed in ``dead`` are all zero and those in ``constant`` all equal to a value that
    is exact in binary (so that every way of testing "constant" agrees).
    """
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    mixing = rng.standard_normal((3, n_units))
    H = np.maximum(latent @ mixing + 0.8 * rng.standard_normal((n, n_units)) + 0.5, 0.0)
    H *= np.geomspace(0.2, 5.0, n_units)  # units of very different scales
    for j in dead:
        H[:, j] = 0.0
    for j, value in constant:
        H[:, j] = value
    return H


def _correlation_candidates(H: np.ndarray):
    """Wrong answers students give, with what each one means."""
    varying = _varying(H)
    C = _corr(varying)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        full = np.nan_to_num(np.corrcoef(H, rowvar=False), nan=0.0)
        rows = np.abs(np.nan_to_num(np.corrcoef(H), nan=0.0))
    cov = np.cov(varying, rowvar=False)
    return [
        (
            "the diagonal (each unit's correlation with itself, always 1) was included in the "
            "mean; average |r_jk| over the pairs j < k only (the off-diagonal entries)",
            float(np.abs(C).mean()),
        ),
        (
            "the rows (examples) were correlated instead of the columns (units): np.corrcoef "
            "treats each ROW as a variable unless you pass rowvar=False",
            _pairs_mean(rows),
        ),
        (
            "the rows (examples) were correlated instead of the columns (units), and the "
            "diagonal was included: use np.corrcoef(H, rowvar=False) and the pairs j < k",
            float(rows.mean()),
        ),
        (
            "constant (dead) columns were counted as correlation 0; they have no correlation "
            "at all, so leave them out of the average entirely",
            _pairs_mean(np.abs(full)),
        ),
        (
            "constant (dead) columns were counted as correlation 0 and the diagonal was "
            "included; leave constant columns out, and average over the pairs j < k only",
            float(np.abs(full).mean()),
        ),
        (
            "the mean of the signed correlations was taken; positive and negative correlations "
            "cancel, so average the ABSOLUTE values |r_jk|",
            _pairs_mean(C),
        ),
        (
            "the covariance was averaged, not the correlation; Pearson's r divides the "
            "covariance by both standard deviations, so it does not depend on the units' scales",
            _pairs_mean(np.abs(cov)),
        ),
        (
            "the squared correlations r_jk**2 were averaged; average |r_jk|",
            _pairs_mean(C**2),
        ),
    ]


def _correlation_value(func, H, described):
    name = "activation_correlation"
    original = H.copy()
    value = quiet_call(func, name, described, H)
    if not np.array_equal(H, original, equal_nan=True):
        fail(name, f"{described} modified H in place; work on a copy.")
    return _scalar(value, name, described)


def check_activation_correlation(
    activation_correlation, *, n=200, n_units=12, seed=0, dtype=np.float64
):
    """Check ``activation_correlation(H)`` against the contract.

    Parameters
    ----------
    activation_correlation : callable
        The student's function.
    n, n_units : int
        Shape of the test matrices (``n != n_units``, so rows and columns are told apart).
    seed : int
        Seed of the matrices.
    dtype : numpy dtype
        Dtype of the matrices.
    """
    name = "activation_correlation"
    # 1. No constant column: the plain formula, and the mistakes that do not involve dead units.
    H = correlation_matrix(n, n_units, seed, dead=(), constant=()).astype(dtype)
    described = f"activation_correlation(H of shape {H.shape}, no constant column)"
    value = _correlation_value(activation_correlation, H, described)
    expected = expected_correlation(H)
    if not np.isfinite(value):
        fail(name, f"{described} returned {value}; it must be a finite number.")
    if not _close(value, expected):
        mistake = first_match(_correlation_candidates(H.astype(np.float64)), value, _close)
        fail(
            name,
            f"{described} returned {value:.6f}, expected {expected:.6f}: "
            f"{mistake or 'this is not the mean of |r_jk| over the pairs of columns j < k'}.",
        )
    # 2. Dead and constant units must be left out, without NaN.
    H = correlation_matrix(n, n_units, seed, dead=(1, n_units - 2), constant=((4, 0.5),))
    H = H.astype(dtype)
    described = f"activation_correlation(H of shape {H.shape} with 2 dead and 1 constant column)"
    value = _correlation_value(activation_correlation, H, described)
    if not np.isfinite(value):
        fail(
            name,
            f"{described} returned {value}. A constant column (a dead unit) has standard "
            "deviation 0, so its Pearson correlation is 0/0 = NaN: leave constant columns "
            "(all entries equal) out before correlating.",
        )
    expected = expected_correlation(H)
    if not _close(value, expected):
        mistake = first_match(_correlation_candidates(H.astype(np.float64)), value, _close)
        fail(
            name,
            f"{described} returned {value:.6f}, expected {expected:.6f}: "
            f"{mistake or 'leave the constant columns out and average |r_jk| over j < k'}.",
        )
    # 3. Fewer than two varying columns: no pair, so 0.0.
    column = np.linspace(0.0, 1.0, n)[:, None]
    for H, what in (
        (np.hstack([column, np.zeros((n, 2))]), "one varying column and two dead ones"),
        (np.zeros((n, 3)), "only dead columns"),
    ):
        H = H.astype(dtype)
        described = f"activation_correlation(H with {what})"
        value = _correlation_value(activation_correlation, H, described)
        if value != 0.0:
            fail(
                name,
                f"{described} returned {value}; with fewer than two non-constant columns there "
                "is no pair of units to correlate, and the contract says to return 0.0.",
            )
    # 4. Two perfectly anti-correlated units.
    H = np.hstack([column, 3.0 - 2.0 * column]).astype(dtype)
    value = _correlation_value(activation_correlation, H, "activation_correlation(H)")
    if not _close(value, 1.0):
        fail(
            name,
            f"activation_correlation(H) with two columns x and 3 - 2x returned {value}; they "
            "are perfectly anti-correlated (r = -1), so the mean of |r| is 1.",
        )


# ----------------------------------------------------------------- activation_sparsity


def sparsity_matrix(n=60, n_units=9, seed=0):
    """Activations with exact zeros, negative values, tiny values and a dead unit."""
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((n, n_units)) + 0.3
    H[rng.random((n, n_units)) < 0.4] = 0.0
    H[rng.random((n, n_units)) < 0.05] = 1e-9  # tiny, but not zero
    H[:, n_units // 2] = 0.0  # a dead unit
    return H


def check_activation_sparsity(activation_sparsity, *, n=60, n_units=9, seed=0, dtype=np.float64):
    """Check ``activation_sparsity(H)`` against the contract.

    Parameters
    ----------
    activation_sparsity : callable
        The student's function.
    n, n_units : int
        Shape of the test matrix (``n != n_units``).
    seed : int
        Seed of the matrix.
    dtype : numpy dtype
        Dtype of the matrix.
    """
    name = "activation_sparsity"
    H = sparsity_matrix(n, n_units, seed).astype(dtype)
    described = f"activation_sparsity(H of shape {H.shape})"
    original = H.copy()
    result = quiet_call(activation_sparsity, name, described, H)
    if not np.array_equal(H, original):
        fail(name, f"{described} modified H in place; work on a copy.")
    expect_pair(result, name, described, "(zero_fraction, unit_means)")
    zero_fraction = _scalar(result[0], name, f"{described} (zero_fraction)")
    H64 = H.astype(np.float64)
    expected = float(np.mean(H64 == 0))
    if not _close(zero_fraction, expected):
        candidates = [
            (
                "negative values were counted as zeros; a zero is an entry exactly equal to 0 "
                "(H == 0), and activations can be negative (e.g. before the ReLU)",
                float(np.mean(H64 <= 0)),
            ),
            (
                "small values were counted as zeros; count only entries exactly equal to 0",
                float(np.mean(np.abs(H64) < 1e-6)),
            ),
            (
                "this is the fraction of NONZERO entries; the sparsity measure is the fraction "
                "of entries that are exactly 0",
                float(np.mean(H64 != 0)),
            ),
            (
                "this is the fraction of dead units (all-zero columns); count zero ENTRIES and "
                "divide by the number of entries, H.size",
                float(np.mean(np.all(H64 == 0, axis=0))),
            ),
            (
                "this is the number of zeros, not their fraction: divide by H.size",
                float(np.sum(H64 == 0)),
            ),
        ]
        mistake = first_match(candidates, zero_fraction, _close)
        fail(
            name,
            f"{described}: zero_fraction is {zero_fraction:.6f}, expected {expected:.6f}: "
            f"{mistake or 'count the entries exactly equal to 0 and divide by H.size'}.",
        )
    unit_means = result[1]
    if isinstance(unit_means, torch.Tensor):
        unit_means = unit_means.detach().numpy()
    if np.ndim(unit_means) == 0:
        fail(
            name,
            f"{described}: unit_means is a single number; return one mean per unit (column), "
            f"an array of shape ({n_units},).",
        )
    unit_means = as_array(unit_means, name, "unit_means")
    expected_means = H64.mean(axis=0)
    if unit_means.shape == (n,) and allclose(unit_means, H64.mean(axis=1)):
        fail(
            name,
            f"{described}: unit_means has one mean per example (row); a unit is a COLUMN of H, "
            "so average over the examples with axis=0.",
        )
    check_shape(unit_means, (n_units,), name, "unit_means")
    if not allclose(unit_means, expected_means):
        active = np.where(H64 != 0, H64, np.nan)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            candidates = [
                (
                    "the absolute values were averaged; the mean activation is the plain mean",
                    np.abs(H64).mean(axis=0),
                ),
                (
                    "only the nonzero (active) entries were averaged; the mean activation of a "
                    "unit counts its zeros too",
                    np.nan_to_num(np.nanmean(active, axis=0)),
                ),
            ]
        mistake = first_match(candidates, unit_means, allclose)
        fail(
            name,
            f"{described}: unit_means is not the mean of each column over the examples"
            f"{': ' + mistake if mistake else ''}. Expected H.mean(axis=0).",
        )
    # A matrix of zeros only, and a matrix with no zero at all.
    for H, zeros in ((np.zeros((4, 3)), 1.0), (np.full((3, 5), -0.25), 0.0)):
        H = H.astype(dtype)
        described = f"activation_sparsity(H = {H.flat[0]:g} everywhere, shape {H.shape})"
        result = quiet_call(activation_sparsity, name, described, H)
        value = _scalar(result[0], name, described)
        if not _close(value, zeros):
            fail(name, f"{described}: zero_fraction is {value}, expected {zeros}.")


# ------------------------------------------------------------------------ ablation_damage


def ablation_setup(seed=0, n=300, n_in=6, widths=(20, 16), n_classes=4, wrong=0.2):
    """A small classifier with dropout, inputs, and labels with a known intact error.

    The labels are the model's own evaluation-mode predictions, with a fraction ``wrong`` of
    them changed to another class, so the intact error is exactly that fraction (not 0, so
    that "returned the ablated error" and "returned the increase" differ).

    Returns
    -------
    model : torch.nn.Sequential
        ``Linear, ReLU, Dropout(0.5)`` per hidden layer, then a ``Linear``; in training mode.
    X, y : torch.Tensor
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [n_in, *widths]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(0.5)]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
    with torch.no_grad():  # larger weights than PyTorch's default, so every unit matters
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, 2.0 / layer.in_features**0.5)
                layer.bias.normal_(0.0, 0.1)
    generator = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(n, n_in, generator=generator)
    model.eval()
    with torch.no_grad():
        y = model(X).argmax(dim=1)
    model.train()
    flip = torch.randperm(n, generator=generator)[: round(wrong * n)]
    shift = torch.randint(1, n_classes, (len(flip),), generator=generator)
    y[flip] = (y[flip] + shift) % n_classes
    return model, X, y


@torch.no_grad()
def _errors(model, module, X, y, change=None) -> float:
    """Error rate of a COPY of ``model`` in evaluation mode, ``change`` applied to the output
    of ``module`` by a forward hook (the student's model is never touched)."""
    path = next(p for p, m in model.named_modules() if m is module)
    clone = copy.deepcopy(model).eval()
    if change is not None:
        clone.get_submodule(path).register_forward_hook(lambda _m, _i, out: change(out.clone()))
    return (clone(X).argmax(dim=1) != y).double().mean().item()


def expected_damage(model, module, units, X, y) -> float:
    """The contract's value, computed on a copy of the model."""
    units = [int(u) for u in units]

    def zero(out):
        out[:, units] = 0
        return out

    return _errors(model, module, X, y, zero) - _errors(model, module, X, y)


def _damage_candidates(model, module, units, X, y):
    units = [int(u) for u in units]
    intact = _errors(model, module, X, y)
    ablated = intact + expected_damage(model, module, units, X, y)

    def rows(out):
        out[units] = 0
        return out

    def others(out):
        keep = torch.zeros(out.shape[1])
        keep[units] = 1.0
        return out * keep

    def rescaled(out):
        out[:, units] = 0
        return out * out.shape[1] / (out.shape[1] - len(set(units)))

    return [
        (
            "it returned the error with the units removed; return the INCREASE, "
            "error_ablated - error_intact",
            ablated,
        ),
        (
            "the sign is reversed: the damage is error_ablated - error_intact (positive when "
            "removing the units hurts)",
            intact - ablated,
        ),
        (
            "it returned a number of misclassified examples; use error RATES (divide by len(y))",
            (ablated - intact) * len(y),
        ),
        (
            "rows (examples) of the module's output were zeroed; units are COLUMNS: "
            "output[:, units] = 0",
            _errors(model, module, X, y, rows) - intact,
        ),
        (
            "every unit EXCEPT the listed ones was zeroed; zero only the units in `units`",
            _errors(model, module, X, y, others) - intact,
        ),
        (
            "the remaining units were rescaled; set the listed units to zero and leave the "
            "others unchanged (this is not dropout, there is no 1/(1-p))",
            _errors(model, module, X, y, rescaled) - intact,
        ),
    ]


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _module_modes(model):
    return [m.training for m in model.modules()]


def _hooks(model) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)  # noqa: SLF001 - counting leftovers
        for m in model.modules()
    )


def check_damage_call(ablation_damage, model, module, units, X, y, *, start_training=True):
    """One call of ``ablation_damage``: the value, and the model left exactly as it was."""
    name = "ablation_damage"
    where = "training" if start_training else "evaluation"
    described = f"ablation_damage(model in {where} mode, module, units={list(units)}, X, y)"
    model.train(start_training)
    params = _snapshot(model)
    modes = _module_modes(model)
    hooks = _hooks(model)
    with torch.no_grad():
        reference_output = copy.deepcopy(model).eval()(X)
    value = quiet_call(ablation_damage, name, described, model, module, units, X, y)
    after_modes = _module_modes(model)
    if after_modes != modes:
        if start_training and not any(after_modes):
            fail(
                name,
                f"{described} left the model in evaluation mode; it must restore the mode the "
                "model was in (remember model.training before model.eval(), then "
                "model.train(was_training)).",
            )
        if not start_training and any(after_modes):
            fail(
                name,
                f"{described} switched the model to training mode; restore the mode it was "
                "in (model.train(was_training)), not always training mode.",
            )
        fail(name, f"{described} changed the training/evaluation mode of the model.")
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, params[k])]
    if changed:
        fail(
            name,
            f"{described} changed the model's parameters ({', '.join(changed[:3])}). Remove "
            "the units without touching the weights (a forward hook), or restore every "
            "weight you changed before returning.",
        )
    model.eval()
    with torch.no_grad():
        output = model(X)
    model.train(start_training)
    if not torch.equal(output, reference_output):
        fail(
            name,
            f"after {described} the model's output has changed: the units are still removed. "
            "Keep the handle that register_forward_hook returns and call handle.remove() "
            "(in a finally block) before returning.",
        )
    if _hooks(model) != hooks:
        fail(
            name,
            f"{described} left a forward hook registered on the model; remove it "
            "(handle.remove()) before returning.",
        )
    return _scalar(value, name, described)


def check_ablation_damage(ablation_damage, *, seed=0, n=300, widths=(20, 16), n_classes=4):
    """Check ``ablation_damage(model, module, units, X, y)`` against the contract.

    Parameters
    ----------
    ablation_damage : callable
        The student's function.
    seed : int
        Seed of the model, the inputs and the labels.
    n : int
        Number of examples.
    widths : tuple of two int
        Widths of the two hidden layers.
    n_classes : int
        Number of classes.
    """
    name = "ablation_damage"
    model, X, y = ablation_setup(seed, n, widths=widths, n_classes=n_classes)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    rng = np.random.default_rng(seed)
    groups = [
        (relus[0], sorted(rng.choice(widths[0], size=widths[0] // 3, replace=False).tolist())),
        (relus[1], sorted(rng.choice(widths[1], size=widths[1] // 2, replace=False).tolist())),
    ]
    for start_training in (True, False):
        for module, units in groups:
            first = check_damage_call(
                ablation_damage, model, module, units, X, y, start_training=start_training
            )
            again = check_damage_call(
                ablation_damage, model, module, units, X, y, start_training=start_training
            )
            if not _close(first, again):
                fail(
                    name,
                    f"two calls with the model in {'training' if start_training else 'evaluation'}"
                    f" mode gave different results ({first:.4f}, {again:.4f}): dropout was "
                    "active. Measure in evaluation mode: call model.eval() first (and restore "
                    "the mode afterwards).",
                )
            expected = expected_damage(model, module, units, X, y)
            if not _close(first, expected):
                candidates = _damage_candidates(model, module, units, X, y)
                mistake = first_match(candidates, first, _close) or (
                    "expected the rise in error rate when those columns of the module's output "
                    "are set to 0, in evaluation mode"
                )
                fail(
                    name,
                    f"ablation_damage(..., units={units}, ...) returned {first:.4f}, expected "
                    f"{expected:.4f}: {mistake}.",
                )
    value = check_damage_call(ablation_damage, model, relus[0], [], X, y)
    if not _close(value, 0.0):
        fail(
            name,
            f"ablation_damage(..., units=[], ...) returned {value}; removing no unit "
            "does no damage: 0.0.",
        )
