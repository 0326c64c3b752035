"""The claims of chapter 06 (inference: weight scaling, Monte-Carlo averaging, uncertainty),
rerun through the functions the chapter calls.

The networks are the chapter's (one seed, as in the chapter); fewer masks are drawn where a
claim allows it. Margins are wide enough for another platform's rounding, narrow enough that a
broken experiment (masks left off, the wrong mean, BatchNorm left in evaluation mode) fails.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dropout_course.data import digits_split
from dropout_course.experiments import inference as inf

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return digits_split(300, seed=0)


@pytest.fixture(scope="module")
def hidden(data):
    """The network with hidden dropout, its passes on the test set and its weight scaling."""
    torch.set_num_threads(1)
    net = inf.trained_mlp(0.0, 0.5, data=data)
    X_test, y_test = data[2], data[3]
    passes = inf.mask_passes(net, X_test, 100, seed=1)
    return net, passes, inf.error_and_nll(inf.weight_scaled(net, X_test), y_test)


def test_one_mask_is_worse_and_fifty_match_weight_scaling(data, hidden):
    _, passes, (ws_error, ws_nll) = hidden
    curve = inf.mc_curve(passes, data[3], [1, 50])
    assert curve["error"][0] > ws_error + 0.005  # one thinned network: clearly worse
    assert abs(curve["error"][1] - ws_error) < 0.005  # fifty: within half a point
    assert curve["nll"][1] < ws_nll  # and better probabilities


def test_with_input_dropout_averaging_does_not_catch_up(data):
    net = inf.trained_mlp(0.2, 0.5, data=data)
    X_test, y_test = data[2], data[3]
    ws_error, _ = inf.error_and_nll(inf.weight_scaled(net, X_test), y_test)
    curve = inf.mc_curve(inf.mask_passes(net, X_test, 100, seed=1), y_test, [100])
    assert curve["error"][0] > ws_error + 0.001


def test_the_geometric_mean_of_sampled_masks_also_approaches_weight_scaling(data, hidden):
    _, passes, (ws_error, _) = hidden
    curve = inf.mc_curve(passes, data[3], [100], combine=inf.geometric_mean)
    assert abs(curve["error"][0] - ws_error) < 0.005


def test_weight_scaling_is_the_exact_geometric_mean_of_one_softmax_layer():
    for p in (0.5, 0.2):
        found = inf.softmax_layer_means(n=10, p=p, seed=3)
        assert found["masks"] == 1024
        assert found["ngm"] < 1e-12
        assert found["am"] > 1e-2  # the arithmetic mean is not weight scaling


def test_a_relu_layer_after_the_masks_makes_it_an_approximation(data):
    narrow = inf.narrow_network(data=data)
    family = inf.every_thinned_network(narrow, data[2][:400])
    ngm_gap = np.abs(family["ngm"] - family["scaled"])
    am_gap = np.abs(family["am"] - family["scaled"])
    assert family["masks"] == 4096
    assert ngm_gap.max() > 1e-2  # no longer exact
    assert am_gap.mean() > 2 * ngm_gap.mean()  # but weight scaling is nearer the NGM than the AM
    errors = [inf.error_and_nll(family[k], data[3][:400])[0] for k in ("ngm", "am", "scaled")]
    assert max(errors) - min(errors) < 0.03  # as classifiers, close


def test_the_spread_rises_on_shifted_digits_but_does_not_detect_rotation(data, hidden):
    net = hidden[0]
    clean = inf.uncertainty(inf.mask_passes(net, data[2], 30, seed=2))
    scores = {}
    for kind in ("rotated", "noise"):
        inputs = inf.shifted_digits(data[2], kind)
        shifted = inf.uncertainty(inf.mask_passes(net, inputs, 30, seed=2))
        single_clean = inf.entropy(inf.weight_scaled(net, data[2]))
        single = inf.entropy(inf.weight_scaled(net, inputs))
        assert shifted["mutual_information"].mean() > 1.3 * clean["mutual_information"].mean()
        scores[kind] = (
            inf.auroc(single_clean, single),
            inf.auroc(clean["mutual_information"], shifted["mutual_information"]),
        )
    single_noise, spread_noise = scores["noise"]
    assert spread_noise > single_noise and spread_noise > 0.75
    assert max(scores["rotated"]) < 0.6  # rotated digits: no better than chance


def test_averaging_masks_improves_calibration(data, hidden):
    net, passes, _ = hidden
    ws = inf.reliability(inf.weight_scaled(net, data[2]), data[3])["ece"]
    mc = inf.reliability(passes[:50].mean(0), data[3])["ece"]
    assert mc < 0.6 * ws


def test_monte_carlo_with_model_train_breaks_a_batchnorm_network(data):
    X_test, y_test = data[2], data[3]
    bn = inf.batchnorm_mlp(data=data)
    right, _ = inf.error_and_nll(inf.mask_passes(bn, X_test, 10, seed=1).mean(0), y_test)
    order = torch.argsort(y_test, stable=True)
    model = copy.deepcopy(bn)
    wrong, _ = inf.error_and_nll(inf.mc_in_train_mode(model, X_test[order], 10, 16), y_test[order])
    after, _ = inf.error_and_nll(inf.weight_scaled(model, X_test), y_test)
    assert right < 0.08
    assert wrong > 0.5  # a batch of one digit normalises the digit away
    assert after > right + 0.05  # and the running statistics were overwritten


def test_auroc_and_reliability_are_what_they_say():
    assert inf.auroc(np.array([0.0, 0.1]), np.array([0.5, 0.9])) == 1.0
    assert inf.auroc(np.array([0.5, 0.9]), np.array([0.0, 0.1])) == 0.0
    assert inf.auroc(np.ones(3), np.ones(4)) == 0.5
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    found = inf.reliability(probs, np.array([0, 0, 0, 1]), bins=10)
    assert found["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    assert found["share"].sum() == pytest.approx(1.0)


def test_listing_every_mask_weighs_each_by_its_probability():
    """With p = 0.2 the 2**12 masks are not equally likely: the listed family's arithmetic mean
    must match the average of many sampled thinned networks."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 12), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(12, 12), torch.nn.ReLU(), torch.nn.Linear(12, 10),
    ).eval()  # fmt: skip
    X = torch.rand(5, 64)
    family = inf.every_thinned_network(model, X)
    sampled = inf.mask_passes(model, X, 20_000, seed=0).mean(0)
    assert np.abs(family["am"] - sampled).max() < 0.01
    assert np.allclose(family["am"].sum(1), 1) and np.allclose(family["ngm"].sum(1), 1)
