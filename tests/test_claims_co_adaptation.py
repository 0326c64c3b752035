"""The claims of chapter 02 (co-adaptation), rerun at reduced size.

The chapter trains three 64-256-256-10 networks per seed (no regularisation, the L2 penalty,
dropout) for 150 epochs on three seeds; here two seeds and 100 epochs, fewer random groups, and
the one-hidden-layer width sweep on two seeds. Each test asserts the direction the chapter
states, with margins derived from the size of the effect the chapter reports, not from the
exact numbers it prints.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.content.reference import co_adaptation as reference
from dropout_course.experiments import co_adaptation as ca

SEEDS = (0, 1)
EPOCHS = 100
FRACTIONS = (0.4, 0.8)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def nets():
    return ca.train_conditions(SEEDS, epochs=EPOCHS)


@pytest.fixture(scope="module")
def results(nets):
    return ca.measure(nets, FRACTIONS, n_groups=3)


# ------------------------------------------------------------------------- the two-unit toy


@pytest.mark.parametrize("seed", range(5))
def test_toy_expected_loss_is_the_formula(seed):
    """Enumerating the masks gives (t - sum c)^2 + p/q sum c^2 (eq-dropout-penalty)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=rng.integers(1, 6))
    p, target = rng.uniform(0.05, 0.9), rng.normal()
    formula = (target - c.sum()) ** 2 + p / (1 - p) * np.sum(c**2)
    assert np.isclose(ca.toy_expected_loss(c, p, target), formula)
    _, _, probabilities = ca.toy_mask_outputs(c, p)
    assert np.isclose(probabilities.sum(), 1.0)


def test_co_adapted_pair_costs_more_under_dropout():
    """Same full-network output, much larger expected loss for the cancelling pair."""
    shared, coadapted = (0.5, 0.5), (2.5, -1.5)
    assert sum(shared) == sum(coadapted)
    assert ca.toy_expected_loss(coadapted, 0.5) > 10 * ca.toy_expected_loss(shared, 0.5)


# ---------------------------------------------------------------- the measurement helpers


def test_measurements_agree_with_the_exercise_reference(nets):
    """The chapter's ablation is the exercise's contract (its correlation and sparsity are
    the reference's own functions)."""
    net = nets["no dropout"][0]
    relu = ca.hidden_modules(net.model)[1]
    units = list(range(0, 256, 3))
    removed = ca.error_without(net.model, [[], units], net.X_test, net.y_test)
    damage = reference.ablation_damage(net.model, relu, units, net.X_test, net.y_test)
    assert np.isclose(removed - net.test_error, damage)


def test_fast_single_unit_damage_matches_removing_the_unit(nets):
    """The rank-one shortcut of single_unit_damage equals a forward pass with the unit zeroed."""
    net = nets["dropout"][0]
    damage = ca.single_unit_damage(net.model, net.X_test, net.y_test)
    n = len(net.y_test)
    for unit in (0, 17, 100, 255):
        removed = ca.error_without(net.model, [[unit], []], net.X_test, net.y_test)
        assert round((removed - net.test_error) * n) == damage[unit]


# ----------------------------------------------------------------------------- the claims


def test_single_units_barely_matter(nets):
    """Removing any one unit moves the error by a handful of test images (< 1 %), in all nets."""
    for trained in nets.values():
        net = trained[0]
        damage = ca.single_unit_damage(net.model, net.X_test, net.y_test)
        assert np.abs(damage).max() < 0.01 * len(net.y_test)


def test_group_removal_hurts_without_dropout_far_more(results):
    """At 40 % removed, the error rises several times more without dropout or with weight
    decay than with dropout, in every seed; the L2 penalty follows the unregularised curve."""
    at40 = FRACTIONS.index(0.4)

    def rise(name):
        record = results[name]
        return np.array(
            [a[at40].mean() - e for a, e in zip(record.ablation, record.test_error, strict=True)]
        )

    plain, decay, dropout = rise("no dropout"), rise("L2"), rise("dropout")
    assert np.all(plain > 2 * dropout) and np.all(plain - dropout > 0.02)
    assert np.all(decay > 2 * dropout)
    assert np.all(decay > 0.5 * plain)
    at80 = FRACTIONS.index(0.8)
    for p, d in zip(results["no dropout"].ablation, results["dropout"].ablation, strict=True):
        assert p[at80].mean() > d[at80].mean()


def test_dropout_lowers_correlation_and_the_l2_penalty_does_not(results):
    plain = np.array(results["no dropout"].correlation)  # (seeds, layers)
    decay = np.array(results["L2"].correlation)
    dropout = np.array(results["dropout"].correlation)
    assert np.all(dropout < plain)  # every seed and layer
    assert np.all(decay[:, 0] > plain[:, 0])  # the first layer: raised
    # the second layer: about where it was, much closer than dropout's change
    assert np.all(np.abs(decay[:, 1] - plain[:, 1]) < 0.5 * (plain[:, 1] - dropout[:, 1]))


def test_dropout_makes_activations_sparser(results):
    plain, dropout = results["no dropout"], results["dropout"]
    z_plain, z_drop = np.array(plain.zeros), np.array(dropout.zeros)  # (seeds, layers)
    assert np.all(z_drop[:, 0] > 2 * z_plain[:, 0])
    assert np.all(np.array(results["L2"].zeros)[:, 0] < z_drop[:, 0])
    # the second layer's fractions are closer than the first's
    assert np.all(z_drop[:, 1] - z_plain[:, 1] < z_drop[:, 0] - z_plain[:, 0])
    # many more dead units in the second layer without dropout
    dead_plain = np.array(plain.dead)[:, 1]
    dead_drop = np.array(dropout.dead)[:, 1]
    assert np.all(dead_plain > 3 * dead_drop)
    for p, d in zip(plain.mean_activation, dropout.mean_activation, strict=True):
        assert p.mean() > 2 * d.mean()


def test_half_size_network_is_no_substitute(results):
    """The chapter calls this weak evidence; what it reports is that the dropout network's
    error is lower than the half-size network's on average over the seeds."""
    small = [ca.train_net(s, sizes=(64, 128, 128, 10), epochs=EPOCHS) for s in SEEDS]
    paired = np.array(results["dropout"].test_error) - np.array([n.test_error for n in small])
    assert paired.mean() < 0


def test_width_sweep_n_fixed_underfits_qn_fixed_does_not():
    drops = (0.5, 0.9)
    sweep = ca.width_sweep(drops, n_fixed=128, kept_fixed=64, seeds=SEEDS, epochs=150)
    assert list(sweep["widths"]) == [128, 640]
    n_fixed, qn_fixed = sweep["n fixed"], sweep["qn fixed"]  # (drops, seeds, [test, train])
    assert np.array_equal(n_fixed[0], qn_fixed[0])  # the same network at p = 0.5
    # n fixed: training and test error rise from p = 0.5 to 0.9
    assert np.all(n_fixed[1, :, 1] > n_fixed[0, :, 1] + 0.01)
    assert np.all(n_fixed[1, :, 0] > n_fixed[0, :, 0])
    # qn fixed: lower test error than n fixed at p = 0.9, in every seed
    assert np.all(qn_fixed[1, :, 0] < n_fixed[1, :, 0])


def test_rescaling_a_relu_unit_keeps_the_function_but_not_the_l2_penalty():
    """'Multiplying a unit's incoming weights and its bias by alpha > 0 and its outgoing weights
    by 1/alpha leaves every output unchanged, yet changes sum w^2' (and without the bias it
    would not: the bias must be scaled too)."""
    torch.manual_seed(0)
    first, second = torch.nn.Linear(5, 4).double(), torch.nn.Linear(4, 3).double()
    x = torch.randn(50, 5, dtype=torch.float64)

    def net(W1, b1, W2):
        return torch.relu(x @ W1.T + b1) @ W2.T + second.bias

    W1, b1, W2 = first.weight.detach(), first.bias.detach(), second.weight.detach()
    alpha, j = 3.0, 1
    W1s, b1s, W2s = W1.clone(), b1.clone(), W2.clone()
    W1s[j], b1s[j], W2s[:, j] = alpha * W1[j], alpha * b1[j], W2[:, j] / alpha
    assert torch.allclose(net(W1s, b1s, W2s), net(W1, b1, W2), atol=1e-12)
    penalty = (W1**2).sum() + (W2**2).sum()
    assert abs(((W1s**2).sum() + (W2s**2).sum()) - penalty) > 0.1
    assert not torch.allclose(net(W1s, b1, W2s), net(W1, b1, W2), atol=1e-6)
