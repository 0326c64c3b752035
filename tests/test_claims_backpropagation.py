"""The claims of chapter 04 (backpropagation through thinned networks), rerun at reduced size.

Each test reruns an experiment of ``dropout_course.experiments.backpropagation`` with fewer
entries, seeds or steps than the chapter, and asserts what the chapter says about it with
margins derived from the mathematics or wide enough that a correct code base never misses them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dropout_course.experiments import backpropagation as bp

SMALL = dict(n=10, sizes=(64, 16, 10), seed=1)
#: The parameters whose gradient passes through the broken step of each bug.
AFFECTED = {
    "new_mask": ("W1", "b1"),
    "no_scale": ("W1", "b1"),
    "through_dropped": ("W1", "b1"),
    "no_relu": ("W1", "b1"),
    "undropped_h": ("W2",),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_dropout_jacobian_is_the_diagonal_of_the_mask():
    """'Both matrices are diagonal, with r_j / q (inverted) or r_j (standard).'"""
    p = 0.3
    r = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    y = torch.randn(5, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian
    assert torch.allclose(jacobian(lambda v: v * r / (1 - p), y), torch.diag(r / (1 - p)))
    assert torch.allclose(jacobian(lambda v: v * r, y), torch.diag(r))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dropped_and_inactive_units_get_no_gradient(seed):
    """'Dropped units get exactly zero gradient on both sides; inactive units ... either.'"""
    one = bp.one_example_gradients(p=0.5, hidden=16, seed=seed)
    silent = (one["mask"] == 0) | (one["z1"] <= 0)
    assert silent.any() and not silent.all()
    assert np.all(one["W1"][:, silent] == 0) and np.all(one["W2"][silent, :] == 0)
    # Kept, active units receive a gradient (through at least one nonzero pixel).
    assert np.all(np.abs(one["W2"][~silent, :]).sum(axis=1) > 0)


def test_batch_gradient_is_the_mean_of_per_example_gradients():
    """'The two agree to ... which is rounding'; each unit is kept by a binomial count."""
    avg = bp.per_example_average(n=20, sizes=(64, 16, 10), p=0.5, seed=3)
    assert avg["max_diff"] < 1e-14
    kept = avg["kept_per_unit"]
    assert kept.min() >= 0 and kept.max() <= 20 and kept.min() < kept.max()


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_gradient_check_separates_the_correct_backward_pass_from_every_bug(p):
    """The correct pass passes (< 1e-5); each bug fails the parameters it touches and only
    those; a missing 1/q gives p / (2 - p); a loss that redraws its mask fails everything."""
    gc = bp.gradient_check(p=p, **SMALL)
    assert max(gc["correct"].values()) < 1e-5
    for bug, keys in AFFECTED.items():
        for key in bp.PARAMS:
            if key in keys:
                assert gc[bug][key] > 0.1, (bug, key)
            else:
                assert gc[bug][key] < 1e-5, (bug, key)
    for key in ("W1", "b1"):
        assert gc["no_scale"][key] == pytest.approx(p / (2 - p), abs=1e-4)
    assert min(gc["mask redrawn in f"].values()) > 0.5


def test_the_worst_entry_of_a_correct_check_is_a_tiny_gradient():
    """'The entry ... with the largest relative error has a gradient of only ...'"""
    worst = bp.worst_entries(**SMALL)
    assert worst["worst_gradient"] < worst["median_gradient"] / 10
    assert worst["large_error"] < worst["worst_error"]
    assert worst["large_error"] < 1e-6


def test_central_differences_beat_one_sided_ones_at_their_best_step():
    """Central best near h ~ 1e-5 and far more accurate; one-sided best at a smaller h; large
    steps cross the ReLU's kinks."""
    hs = np.logspace(-10, -1, 10)
    sweep = bp.step_size_sweep(hs, n_entries=40, **SMALL)
    central, one_sided = sweep["central"], sweep["one-sided"]
    assert central.min() < one_sided.min() / 10
    assert 1e-7 <= hs[np.argmin(central)] <= 1e-3
    assert hs[np.argmin(one_sided)] < hs[np.argmin(central)]
    assert central.min() < 1e-5
    assert central[np.argmin(np.abs(hs - 1e-2))] > 1e-3


def test_numpy_gradients_equal_autograd_through_the_same_mask():
    """'They are the same numbers up to the order in which floating-point sums are taken.'"""
    same = bp.compare_with_torch(**SMALL)
    assert same["rel_error"] < 1e-10
    assert same["abs_diff"] < 1e-12
    assert same["loss_diff"] < 1e-12
    along = bp.train_alongside_torch(steps=15, hidden=32, seed=2)
    assert along["max_param_diff"] < 1e-10 * max(1.0, along["max_param"])


SETTING = dict(hidden=256, epochs=200, lr=0.1, momentum=0.9, batch_size=50)


@pytest.fixture(scope="module")
def trained():
    cases = [("no dropout", 0.0, None), ("dropout", 0.5, None)]
    cases += [(bug, 0.5, bug) for bug in bp.BUGS]
    return bp.dropout_comparison(cases, seeds=(0, 1), **SETTING)


def _mean_error(runs, label):
    return 100 * np.mean([h.test_error[-1] for h in runs[label]])


def test_dropout_lowers_the_test_error_of_the_two_layer_network(trained):
    """'Paired by seed, dropout ... lowered it'; both fit the training set."""
    base = [h.test_error[-1] for h in trained["no dropout"]]
    drop = [h.test_error[-1] for h in trained["dropout"]]
    assert all(d < b for d, b in zip(drop, base, strict=True))
    assert all(h.train_error[-1] <= 0.005 for h in trained["no dropout"] + trained["dropout"])


def test_some_bugs_break_training_and_others_hide(trained):
    """New mask in backward diverges; no ReLU gradient and gradient through dropped units are
    clearly worse; a missing 1/q and dW2 from h before dropout stay within a point."""
    correct = _mean_error(trained, "dropout")
    loss = np.median([h.train_loss for h in trained["new_mask"]], axis=0)
    assert loss[-1] > 10 * loss.min()
    assert _mean_error(trained, "new_mask") > correct + 1.0
    assert _mean_error(trained, "no_relu") > correct + 3.0
    assert _mean_error(trained, "through_dropped") > correct + 1.0
    assert abs(_mean_error(trained, "no_scale") - correct) < 1.0
    assert abs(_mean_error(trained, "undropped_h") - correct) < 1.0
