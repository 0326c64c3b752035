"""The claims of chapter 05 (max-norm regularisation), rerun at reduced size.

Each test reruns the experiment a claim rests on, through the same functions the chapter calls,
and asserts the claim with margins that a correct code base does not miss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dropout_course.data import digits_split
from dropout_course.experiments import max_norm as mn
from dropout_course.training import mlp
from dropout_course.widgets.max_norm import CURVATURE, toy_loss, toy_trajectory

#: Relative slack for "at most c": ``torch.renorm`` ends a hair inside c, float32 rounds.
SLACK = 1e-6
CHANCE = 90.0  # % error of guessing among ten balanced classes


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return digits_split(300, seed=0)


# ------------------------------------------------------------------------- the projection


def test_renorm_projects_rows_of_linear_weight_and_dim1_is_different():
    """torch.renorm(dim=0) is the projection of each unit's incoming weights (a row of
    nn.Linear.weight), a hair inside c; dim=1 changes a unit that was inside the ball."""
    torch.manual_seed(0)
    weight = torch.randn(4, 5, dtype=torch.float64) * torch.tensor([[0.1], [0.5], [3.0], [9.0]])
    c = 1.0
    norms = weight.norm(dim=1)
    assert norms[0] < c < norms[-1]
    by_renorm = torch.renorm(weight, p=2, dim=0, maxnorm=c)
    by_formula = weight * torch.clamp(c / norms, max=1.0)[:, None]
    assert torch.allclose(by_renorm, by_formula, rtol=1e-6, atol=0)
    after = by_renorm.norm(dim=1)
    assert torch.all(after[norms > c] <= c) and torch.all(after[norms > c] > c - 1e-6)
    assert torch.equal(by_renorm[norms <= c], weight[norms <= c])
    wrong = torch.renorm(weight, p=2, dim=1, maxnorm=c)
    assert not torch.allclose(wrong[0], weight[0])


# ---------------------------------------------------------------------- the 2-D picture


def test_toy_recipe_large_steps_diverge_projection_bounds_decay_settles():
    momentum, c, large = 0.9, 3.0, 0.45
    assert large * max(CURVATURE) > 2 * (1 + momentum)  # above the stability limit
    converged = toy_trajectory(0.05, momentum)
    assert toy_loss(converged[-1]) < 1e-2
    free = toy_trajectory(large, momentum)
    assert np.linalg.norm(free[-1]) > 1e3
    bounded = toy_trajectory(large, momentum, c=c)
    assert np.all(np.linalg.norm(bounded, axis=1) <= c * (1 + SLACK))
    bouncing = toy_loss(bounded[-10:]).mean()
    assert bouncing > 1.0  # bounded, but not converged
    decayed = toy_trajectory(large, momentum, c=c, decay=0.8)
    assert toy_loss(decayed[-1]) < bouncing / 100


# ------------------------------------------------------------- a learning rate that blows up


@pytest.fixture(scope="module")
def stability(data):
    return mn.stability(lr=0.2, c=3.0, seeds=(0, 1, 2, 3, 4), epochs=50, data=data)


def test_max_norm_keeps_every_norm_at_most_c(stability):
    for run in stability["max-norm"]:
        assert run.max_norm.max() <= 3.0 * (1 + SLACK)


def test_without_the_constraint_norms_grow_and_some_runs_collapse(stability):
    free = stability["free"]
    assert all(run.max_norm.max() > 3.0 for run in free)
    assert max(run.max_norm.max() for run in free) > 30.0  # an order of magnitude above c
    errors = np.array([run.test_error for run in free]) * 100
    assert np.sum(errors > CHANCE - 5) >= 1


def test_with_the_constraint_no_run_collapses_and_the_mean_error_is_lower(stability):
    constrained = np.array([run.test_error for run in stability["max-norm"]]) * 100
    free = np.array([run.test_error for run in stability["free"]]) * 100
    assert np.all(constrained < CHANCE - 5)
    assert constrained.mean() < free.mean() - 5


# ------------------------------------------------------------------- the radius's units


def test_radius_is_c_times_the_retain_probability_of_the_dropout_feeding_the_layer():
    assert mn.radii(mlp((64, 256, 256, 10), 0.2, 0.5), 3.0) == pytest.approx([2.4, 1.5])
    assert mn.radii(mlp((64, 256, 256, 10), 0.0, 0.5), 3.0) == pytest.approx([3.0, 1.5])
    assert mn.radii(mlp((64, 256, 256, 10)), 3.0) == pytest.approx([3.0, 3.0])


def test_the_same_function_has_weights_q_times_smaller_with_inverted_dropout():
    """Standard dropout (no scaling, W at test time times q) and inverted dropout with q W
    compute the same thinned networks: the reason the radius becomes c q."""
    torch.manual_seed(0)
    h, W, q = torch.rand(8, 5), torch.randn(5, 3), 0.8
    mask = (torch.rand(8, 5) < q).float()
    assert torch.allclose((h * mask) @ W, (h * mask / q) @ (q * W))


# ----------------------------------------------------------------------- the comparison

SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def comparison():
    methods = {name: mn.METHODS[name] for name in ("none", "dropout", "dropout + max-norm")}
    return mn.compare(methods, seeds=SEEDS, epochs=300, recipe=mn.RECIPE)


@pytest.fixture(scope="module")
def stats(comparison):
    return {name: mn.summary(runs) for name, runs in comparison.items()}


def test_constant_rate_constrained_runs_stay_far_from_a_well_trained_network(stability, stats):
    constrained = np.array([run.test_error for run in stability["max-norm"]]) * 100
    assert constrained.min() > stats["none"]["test_mean"]


def test_at_a_moderate_step_dropout_lowers_the_test_error_seed_by_seed(comparison):
    gain = mn.paired_difference(comparison, "dropout", "none")
    assert gain.mean() < -0.5
    assert np.sum(gain < 0) >= 4


def test_max_norm_changes_dropout_by_less_than_the_spread_over_seeds(comparison, stats):
    extra = mn.paired_difference(comparison, "dropout + max-norm", "dropout")
    assert abs(extra.mean()) < stats["dropout"]["test_std"]


def test_constrained_layers_respect_their_radii_and_c_itself_is_never_reached(comparison):
    for run in comparison["dropout + max-norm"]:
        assert np.all(run.layer_norms <= np.array([2.4, 1.5]) * (1 + SLACK))
    assert max(run.max_norm.max() for run in comparison["dropout"]) < 3.0  # at any epoch
    # unconstrained, the first layer stays short of its radius; the second reaches its own
    assert all(run.layer_norms[0] < 2.4 for run in comparison["dropout"])
    assert any(run.layer_norms[1] > 1.5 for run in comparison["dropout"])


# -------------------------------------------------------------- the paper's large steps


@pytest.fixture(scope="module")
def large_steps():
    methods = {name: mn.METHODS[name] for name in ("none", "dropout", "dropout + max-norm")}
    methods["hidden-only dropout"] = (0.0, 0.5, 0.0, None)
    runs = mn.compare(methods, seeds=SEEDS, epochs=100, recipe=mn.LARGE_STEPS)
    return runs, {name: mn.summary(r) for name, r in runs.items()}


def test_with_large_steps_dropout_underfits_and_max_norm_recovers_part(large_steps):
    runs, stats = large_steps
    assert stats["dropout"]["test_mean"] > stats["none"]["test_mean"] + 0.5
    assert stats["dropout"]["train_mean"] > stats["none"]["train_mean"] + 1.0
    rescue = mn.paired_difference(runs, "dropout + max-norm", "dropout").mean()
    assert rescue < 0
    assert stats["dropout + max-norm"]["test_mean"] > stats["none"]["test_mean"]


def test_dead_units_do_not_explain_the_loss(large_steps):
    _, stats = large_steps
    assert stats["dropout"]["dead_mean"] > stats["none"]["dead_mean"] + 20.0
    assert stats["hidden-only dropout"]["dead_mean"] > stats["dropout"]["dead_mean"] - 10.0
    assert stats["hidden-only dropout"]["test_mean"] < stats["none"]["test_mean"]
