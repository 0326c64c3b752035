"""Hidden tests of exercise 02 (co-adaptation): the contract's properties on inputs the student
has not seen, compared with the reference implementations and, where PyTorch has the same
operation, with PyTorch (``torch.corrcoef``; an ``nn.Linear`` whose weights to the removed units
are zero).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from dropout_course.checks import co_adaptation as checks
from dropout_course.checks.core import expect_pair, fail

from ..reference import co_adaptation as reference


def hidden_activation_correlation(activation_correlation):
    """Unseen shapes and dtype; agreement with torch.corrcoef and the reference."""
    name = "activation_correlation"
    checks.check_activation_correlation(
        activation_correlation, n=150, n_units=17, seed=3, dtype=np.float32
    )
    H = checks.correlation_matrix(
        n=90, n_units=25, seed=11, dead=(0, 5, 24), constant=((9, 2.0), (10, -1.0))
    )
    described = "activation_correlation(H of shape (90, 25) with 3 dead and 2 constant columns)"
    value = checks._scalar(  # noqa: SLF001 - the module's own helper
        checks.quiet_call(activation_correlation, name, described, H.copy()), name, described
    )
    varying = torch.from_numpy(H[:, np.ptp(H, axis=0) > 0])
    C = torch.corrcoef(varying.T).abs()  # torch.corrcoef: rows are the variables
    j, k = torch.triu_indices(C.shape[0], C.shape[0], offset=1)
    torch_value = C[j, k].mean().item()
    if not np.isclose(value, torch_value, rtol=1e-5, atol=1e-7):
        fail(
            name,
            f"{described} returned {value:.6f}; the mean of |torch.corrcoef| over the pairs of "
            f"non-constant columns is {torch_value:.6f}.",
        )
    if not np.isclose(value, reference.activation_correlation(H), rtol=1e-5, atol=1e-7):
        fail(name, f"{described} differs from the reference.")
    single = np.arange(6.0)[None, :]
    described = "activation_correlation(H with a single row)"
    value = checks.quiet_call(activation_correlation, name, described, single)
    if checks._scalar(value, name, described) != 0.0:  # noqa: SLF001
        fail(
            name,
            f"{described} must return 0.0: with one example every column is constant, "
            "so there is no pair of units to correlate.",
        )


def hidden_activation_sparsity(activation_sparsity):
    """Unseen shape and dtype, integer activations, and agreement with the reference."""
    name = "activation_sparsity"
    checks.check_activation_sparsity(
        activation_sparsity, n=41, n_units=13, seed=7, dtype=np.float32
    )
    H = np.random.default_rng(4).integers(-2, 3, size=(30, 8))
    described = "activation_sparsity(H of integers from -2 to 2, shape (30, 8))"
    result = checks.quiet_call(activation_sparsity, name, described, H.copy())
    zeros, means = reference.activation_sparsity(H)
    expect_pair(result, name, described, "(zero_fraction, unit_means)")
    if not np.isclose(checks._scalar(result[0], name, described), zeros):  # noqa: SLF001
        fail(name, f"{described}: zero_fraction differs from the reference ({zeros:.4f}).")
    if not np.allclose(np.asarray(result[1], dtype=np.float64), means):
        fail(name, f"{described}: unit_means differs from the reference.")


def hidden_ablation_damage(ablation_damage):
    """Another model and seed; units as a tuple and as an array; agreement with a model whose
    next ``nn.Linear`` has zero weights from the removed units, and with the reference."""
    name = "ablation_damage"
    checks.check_ablation_damage(ablation_damage, seed=4, n=400, widths=(24, 18), n_classes=5)
    model, X, y = checks.ablation_setup(seed=9, n=350, n_in=6, widths=(30, 12), n_classes=3)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    for layer, units in ((0, (2, 7, 11, 19, 23, 28, 29)), (1, np.array([0, 4, 5, 9]))):
        value = checks.check_damage_call(ablation_damage, model, relus[layer], units, X, y)
        # The same removal by PyTorch alone: the next nn.Linear's weights from those units are 0
        # (nn.Linear.weight is (n_out, n_in), so a unit's outgoing weights are a column).
        clone = copy.deepcopy(model).eval()
        nxt = [m for m in clone.modules() if isinstance(m, nn.Linear)][layer + 1]
        with torch.no_grad():
            nxt.weight[:, list(map(int, units))] = 0.0
            intact = (model.eval()(X).argmax(dim=1) != y).double().mean().item()
            removed = (clone(X).argmax(dim=1) != y).double().mean().item()
        model.train()
        described = f"ablation_damage(model, hidden layer {layer + 1}, units={list(units)}, X, y)"
        if not np.isclose(value, removed - intact, atol=1e-9):
            fail(
                name,
                f"{described} returned {value:.4f}; zeroing the weights that leave those units "
                f"in the next nn.Linear gives {removed - intact:.4f}.",
            )
        expected = reference.ablation_damage(model, relus[layer], units, X, y)
        if not np.isclose(value, expected, atol=1e-9):
            fail(name, f"{described} differs from the reference ({expected:.4f}).")
