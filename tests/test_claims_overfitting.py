"""The claims of chapter 01 (*Overfitting*) and of its appendix on weight penalties, rerun at
reduced size.

Every experiment is seeded, so these tests are deterministic; the margins are wide enough that a
correct code base does not miss them on another platform, and narrow enough that a broken
experiment (a sign error, a wrong penalty, a data leak) does.
"""

from __future__ import annotations

import numpy as np
import pytest

from dropout_course.experiments import overfitting as ov

NOISE = 0.3
SIGMA2 = NOISE**2


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- polynomials


def test_interpolating_polynomial_memorises_the_noise():
    """Degree 14 on 15 points: zero training error, test error far above the cubic's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    (train1, test1), (train3, test3), (train14, test14) = (
        ov.draw_polynomial_fit(ax, degree, 15, NOISE, seed=0)
        for ax, degree in zip(axes, (1, 3, 14), strict=True)
    )
    plt.close(fig)
    assert train14 < 1e-12
    assert train1 > train3 > train14
    assert test14 > 100 * test3
    assert test3 < test1


def test_gap_grows_with_capacity():
    """Training MSE never rises with the degree; test MSE is U-shaped; the gap grows."""
    degrees = np.arange(15)
    cap = ov.capacity_sweep(degrees, n_train=15, noise=NOISE, seeds=range(20))
    assert np.all(np.diff(cap["train"], axis=1) <= 1e-9)  # nested least-squares models
    test = np.median(cap["test"], axis=0)
    best = int(np.argmin(test))
    assert 2 <= best <= 6
    assert test[best] < 2 * SIGMA2  # close to the noise floor
    assert test[-1] > 1e3 * test[best]
    gap = np.median(cap["test"] - cap["train"], axis=0)
    assert gap[10] > 10 * gap[1]


def test_gap_shrinks_with_data_like_the_formula():
    """The median gap falls with n; for large n the mean gap is near 2 sigma^2 p / n."""
    sizes = [12, 30, 100, 200, 400]
    sweep = ov.size_sweep(sizes, degree=9, noise=NOISE, seeds=range(150))
    gap = sweep["test"] - sweep["train"]
    median = np.median(gap, axis=0)
    assert np.all(np.diff(median) < 0)
    assert median[0] > 100 * median[-1]
    np.testing.assert_allclose(sweep["theory"], 2 * SIGMA2 * 10 / np.array(sizes))
    ratio = gap.mean(axis=0) / sweep["theory"]
    # At new inputs the expected gap is slightly above the fixed-design formula; with 150
    # training sets the mean is within about 15 % of its expectation.
    assert np.all((ratio[-2:] > 0.6) & (ratio[-2:] < 1.8)), ratio
    test_400 = np.median(sweep["test"][:, -1])
    assert SIGMA2 * 0.9 < test_400 < SIGMA2 * 1.15


def test_bias_variance_decomposition():
    """noise + bias^2 + variance matches the measured test MSE; bias falls, variance rises."""
    bv = ov.bias_variance_sweep(range(9), n_train=30, noise=NOISE, n_sets=200)
    total = bv["noise2"] + bv["bias2"] + bv["variance"]
    np.testing.assert_allclose(total, bv["test"], rtol=0.05)
    bias2, variance = bv["bias2"], bv["variance"]
    assert bias2[1] > 5 * variance[1]
    assert variance[8] > 100 * bias2[8]
    assert np.all(np.diff(variance[3:]) > 0)
    # sin is odd: an even degree barely improves on the odd degree below it.
    assert bias2[2] > 0.5 * bias2[1] and bias2[4] > 0.5 * bias2[3]
    assert bias2[3] < 0.1 * bias2[2]
    assert 3 <= int(np.argmin(total)) <= 5
    # The average of many fits has no variance: far better than a single degree-8 fit.
    assert bv["noise2"] + bias2[8] < bv["test"][8] / 5


def test_l2_penalty_trades_variance_for_bias():
    """The penalised degree-14 fit: best at an intermediate lambda, underfits at the largest."""
    lams = np.logspace(-8, 1, 10)
    ridge = ov.ridge_sweep(lams, degree=14, n_train=15, noise=NOISE, seeds=range(20))
    test = np.median(ridge["test"], axis=0)
    train = np.median(ridge["train"], axis=0)
    best = int(np.argmin(test))
    assert 0 < best < len(lams) - 1
    assert test[0] > 10 * test[best]
    assert np.all(np.diff(train) > 0)  # a stronger penalty always fits the data less closely
    constant_model = SIGMA2 + np.var(np.sin(np.linspace(-3, 3, 10_001)))
    assert 2 * test[best] < test[-1] < constant_model + 0.05
    norms = np.median(ridge["norm"], axis=0)
    assert norms[-1] < norms[0]


def test_l1_sets_coefficients_to_zero_and_l2_does_not():
    lams = np.logspace(-4, 0, 9)
    paths = ov.penalty_paths(lams, degree=9, n_train=30, noise=NOISE, seed=0)
    zeros_l1 = (paths["l1"] == 0).sum(axis=1)
    assert zeros_l1[0] == 0 and zeros_l1[-1] == 9
    assert zeros_l1[np.argmin(np.abs(lams - 0.1))] >= 3
    assert np.all(paths["l2"] != 0)


def test_fit_polynomial_solves_the_penalised_normal_equations():
    """fit_polynomial minimises MSE + (lam / 2) ||w[1:]||^2, as the chapter's equation says."""
    x, y = ov.noisy_sine(25, NOISE, 4)
    lam, degree = 0.05, 7
    w = ov.fit_polynomial(x, y, degree, lam)
    phi = ov.polynomial_features(x, degree)
    D = np.eye(degree + 1)
    D[0, 0] = 0.0
    n = len(y)
    np.testing.assert_allclose((phi.T @ phi + n * lam / 2 * D) @ w, phi.T @ y.ravel(), atol=1e-9)


def test_the_demo_builds():
    from dropout_course.widgets.overfitting import polynomial_demo

    demo = polynomial_demo(degree=5, n_train=20, noise=0.2, seed=1)
    assert len(demo.children) == 2
    with pytest.raises(ValueError, match="degree"):
        polynomial_demo(degree=30)


# ---------------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def remedies():
    """The chapter's digits experiment with two of its three seeds."""
    result = ov.remedies_experiment(seeds=(0, 1), epochs=120, patience=10, l2=1e-3)
    return result, ov.summarise_remedies(result)


@pytest.fixture(scope="module")
def penalties():
    """The appendix's digits experiment with two of its three seeds."""
    result = ov.penalties_experiment(seeds=(0, 1), epochs=120, l2=1e-3, l1=1e-4)
    return result, ov.summarise_remedies(result)


def test_digits_curves_drift_apart(remedies):
    """Zero training error; the validation NLL rises after its minimum while the error does
    not move much."""
    result, _ = remedies
    for run in result["baseline"]:
        assert run.train_error[-1] == 0 and run.final["train_error"] == 0
        assert run.train_nll[-1] < 0.02
        assert run.val_nll[-1] > 1.1 * min(run.val_nll)
        low = int(np.argmin(run.val_nll))
        assert abs(run.val_error[-1] - run.val_error[low]) < 0.02
        assert run.final["test_error"] > 0.02  # a training error of 0 is not a test error of 0


def test_early_stopping_follows_the_rule(remedies):
    result, summary = remedies
    for run in result["baseline"]:
        assert run.stop_epoch == run.best_epoch + 10 < len(run.epochs)
        before = run.val_nll[: run.stop_epoch]
        assert run.best_epoch == int(np.argmin(before)) + 1  # first minimum: ties keep the earlier
        assert run.early["test_nll"] < run.final["test_nll"]
    assert summary["early"]["train_nll"].mean() > summary["none"]["train_nll"].mean()
    change = abs(summary["early"]["test_error"].mean() - summary["none"]["test_error"].mean())
    assert change < 0.015


def test_regularisers_lower_the_test_nll_and_more_data_lowers_both(remedies):
    _, summary = remedies
    assert set(summary) == {"none", "early", "l2", "more"}
    none = summary["none"]
    for key in ("early", "l2"):
        assert summary[key]["test_nll"].mean() < none["test_nll"].mean()
        assert summary[key]["gap_nll"].mean() < none["gap_nll"].mean()
        change = abs(summary[key]["test_error"].mean() - none["test_error"].mean())
        assert change < 0.015  # "neither changes the mean test error" by much
    more = summary["more"]
    assert more["test_error"].mean() < none["test_error"].mean() - 0.005
    others = ("none", "early", "l2")
    assert more["test_error"].mean() < min(summary[k]["test_error"].mean() for k in others)
    assert more["test_nll"].mean() < min(summary[k]["test_nll"].mean() for k in ("early", "l2"))


def test_l2_shrinks_the_weights(remedies):
    result, _ = remedies

    def norm(key):
        return np.mean(
            [np.sqrt(sum(float((W**2).sum()) for W in run.weights)) for run in result[key]]
        )

    assert norm("l2") < 0.8 * norm("baseline")


def test_l1_makes_weights_sparse_and_l2_shrinks_them(penalties):
    result, summary = penalties
    assert set(summary) == {"none", "l2", "l1"}  # no early stopping was tracked
    for key in ("l2", "l1"):
        assert summary[key]["test_nll"].mean() < summary["none"]["test_nll"].mean()

    def near_zero(key):
        return np.mean([ov.near_zero_fraction(run.weights, 1e-3) for run in result[key]])

    def norm(key):
        return np.mean(
            [np.sqrt(sum(float((W**2).sum()) for W in run.weights)) for run in result[key]]
        )

    assert near_zero("l1") > 2 * near_zero("l2") > 20 * near_zero("baseline")
    assert norm("l2") < 0.8 * norm("baseline")


def test_digits_split_and_network_size():
    """300 / 300 / 797 images, disjoint training and validation sets, 85,002 parameters."""
    assert ov.mlp_parameter_count((64, 256, 256, 10)) == 85_002
    data = ov.digits_data(300, seed=0)
    assert [len(data[k][0]) for k in ("train", "val", "test")] == [300, 300, 797]
    train_ids = {tuple(row.tolist()) for row in data["train"][0]}
    val_ids = {tuple(row.tolist()) for row in data["val"][0]}
    assert len(train_ids & val_ids) <= 5  # a few digits images are exact duplicates
    with pytest.raises(ValueError, match="pool"):
        ov.digits_data(800, seed=0)
