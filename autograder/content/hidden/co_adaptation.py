"""Hidden tests of exercise 02 (co-adaptation): the contract's properties on inputs the student
has not seen, compared with the reference implementations and, where PyTorch has the same
operation, with PyTorch (``torch.corrcoef``; an ``nn.Linear`` whose weights from the removed
units are zero).

Each ``hidden_*`` starts from the visible check's :class:`~dropout_course.checks.core.Verdict` on
other inputs and adds its own properties, so the hidden test cell's points are shared among all of
them.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from autograder.content.reference import co_adaptation as reference
from dropout_course.checks import co_adaptation as checks
from dropout_course.checks.core import Verdict, agrees_with_exact, allclose, as_number, fail


def hidden_activation_correlation(activation_correlation) -> Verdict:
    """Unseen shapes and dtype; agreement with torch.corrcoef and the reference; one example."""
    name = "activation_correlation"
    verdict = checks.check_activation_correlation(
        activation_correlation, n=150, n_units=17, seed=3, dtype=np.float32
    )
    H = checks.correlation_matrix(
        n=90, n_units=25, seed=11, dead=(0, 5, 24), constant=((9, 2.0), (10, -1.0))
    )
    described = "activation_correlation(H of shape (90, 25) with 3 dead and 2 constant columns)"
    unseen = checks.ArrayCall(activation_correlation, name, H, described)
    one_row = np.arange(6.0)[None, :]
    single = checks.ArrayCall(
        activation_correlation, name, one_row, "activation_correlation(H with a single row)"
    )
    with verdict.expect("agree with torch.corrcoef and the reference on 25 units, 5 constant"):
        value = unseen.number()
        varying = torch.from_numpy(H[:, np.ptp(H, axis=0) > 0])
        C = torch.corrcoef(varying.T).abs()  # torch.corrcoef: rows are the variables
        j, k = torch.triu_indices(C.shape[0], C.shape[0], offset=1)
        torch_value = C[j, k].mean().item()
        if not np.isclose(value, torch_value, rtol=1e-5, atol=1e-7):
            fail(
                name,
                f"{described} returned {value:.6f}; the mean of |torch.corrcoef| over the pairs "
                f"of non-constant columns is {torch_value:.6f}.",
            )
        if not np.isclose(value, reference.activation_correlation(H), rtol=1e-5, atol=1e-7):
            fail(name, f"{described} differs from the reference.")
    with verdict.expect(
        "return 0.0 for a single example (every column is then constant)", side_condition=True
    ):
        if single.number() != 0.0:
            fail(
                name,
                f"{single.described} returned {single.number()}; it must return 0.0: with one "
                "example every column is constant, so there are fewer than two non-constant "
                "columns and no pair of units to correlate.",
            )
    return verdict


def hidden_activation_sparsity(activation_sparsity) -> Verdict:
    """Unseen shape and dtype; activations with many exact zeros compared with the reference."""
    name = "activation_sparsity"
    verdict = checks.check_activation_sparsity(
        activation_sparsity, n=41, n_units=13, seed=7, dtype=np.float32
    )
    # Small whole numbers (as floats: activations are real numbers): many exact zeros, and
    # negative entries as often as positive ones.
    H = np.random.default_rng(4).integers(-2, 3, size=(30, 8)).astype(np.float64)
    described = "activation_sparsity(H of whole numbers from -2 to 2, shape (30, 8))"
    unseen = checks.ArrayCall(activation_sparsity, name, H, described)
    zeros, means = reference.activation_sparsity(H)
    with verdict.expect("agree with the reference's zero_fraction on an unseen H"):
        value = as_number(checks.sparsity_pair(unseen)[0], name, f"zero_fraction of {described}")
        if not np.isclose(value, zeros, rtol=1e-5, atol=1e-7):
            fail(
                name,
                f"{described}: zero_fraction is {value:.4f}; the reference gives {zeros:.4f}, "
                "the fraction of entries exactly equal to 0.",
            )
    with verdict.expect("agree with the reference's unit_means on an unseen H"):
        unit_means = checks.sparsity_pair(unseen)[1]
        if isinstance(unit_means, torch.Tensor):
            unit_means = unit_means.detach().cpu().numpy()
        if not allclose(np.asarray(unit_means, dtype=np.float64), means):
            fail(name, f"{described}: unit_means differs from the reference's H.mean(axis=0).")
    return verdict


def _zeroed_weights_damage(model, layer, units, X, y) -> float:
    """The same removal by PyTorch alone: in a copy of ``model``, the next ``nn.Linear``'s
    weights from those units are 0 (``nn.Linear.weight`` is ``(n_out, n_in)``, so a unit's
    outgoing weights are a column)."""
    clone = copy.deepcopy(model).eval()
    with torch.no_grad():
        intact = (clone(X).argmax(dim=1) != y).double().mean().item()
        following = [m for m in clone.modules() if isinstance(m, nn.Linear)][layer + 1]
        following.weight[:, [int(u) for u in units]] = 0.0
        removed = (clone(X).argmax(dim=1) != y).double().mean().item()
    return removed - intact


def hidden_ablation_damage(ablation_damage) -> Verdict:
    """Another model and seed; units as a tuple and as an array; agreement with a model whose
    next ``nn.Linear`` has zero weights from the removed units, and with the reference."""
    name = "ablation_damage"
    verdict = checks.check_ablation_damage(
        ablation_damage, seed=4, n=400, widths=(24, 18), n_classes=5
    )
    model, X, y = checks.ablation_setup(seed=9, n=350, n_in=6, widths=(30, 12), n_classes=3)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    cases = ((0, (2, 7, 11, 19, 23, 28, 29)), (1, np.array([0, 4, 5, 9])))
    calls = [  # each call gets its own copy of the model, units, X and y
        checks.DamageCall(ablation_damage, model, relus[layer], units, X, y, start_training=False)
        for layer, units in cases
    ]
    with verdict.expect(
        "agree with zeroing the units' outgoing weights and with the reference (units as a "
        "tuple or an array)"
    ):
        for (layer, units), call_ in zip(cases, calls, strict=True):
            value = call_.value()
            removed = _zeroed_weights_damage(model, layer, units, X, y)
            if not checks.same_rate(value, removed):
                fail(
                    name,
                    f"{call_.described} returned {value:.4f}; zeroing the weights that leave "
                    f"those units in the next nn.Linear gives {removed:.4f}.",
                )
            expected = reference.ablation_damage(model, relus[layer], units, X, y)
            if not checks.same_rate(value, expected):
                fail(name, f"{call_.described} differs from the reference ({expected:.4f}).")
    with verdict.expect(
        "leave units (a tuple or an array), X and y unchanged", side_condition=True
    ):
        checks.examine_calls(calls, checks.DamageCall.check_inputs)
    return verdict


#: What the feedback explains when the penalty differs from the reference.
PENALTY_EXPLAINED = (
    "Each r_j / q has mean 1 and variance q(1 - q) / q^2 = p / q, independently, so the "
    "read-out's mean is sum_j c_j (the full network's output) and its variance is "
    "(p / q) sum_j c_j^2; the expected squared error is the full network's plus this variance."
)


def hidden_dropout_penalty(dropout_penalty) -> Verdict:
    """Unseen contributions and rates, and the exact value of the reference."""
    cases = (((1.5, -1.4, 0.3, -0.2), 0.4), ((0.05, 2.5), 0.1), ((1.0,) * 6, 0.85))
    verdict = Verdict(checks.PENALTY)
    checks.penalty_properties(verdict, dropout_penalty, cases)
    with verdict.expect("agree with the exact value to rounding"):
        rng = np.random.default_rng(12)
        calls = [(rng.normal(size=9), p) for p in (0.05, 0.5, 0.9)]
        agrees_with_exact(
            checks.PENALTY, dropout_penalty, calls, reference.dropout_penalty, PENALTY_EXPLAINED,
            rtol=1e-6,
        )  # fmt: skip
    return verdict
