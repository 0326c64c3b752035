"""The reference answers of exercise 07 (``dropout_mlp``, ``keep_expected_width``) keep the
COURSE-SPEC contract, checked against PyTorch and against exact arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from autograder.content.reference.rate_and_placement import dropout_mlp, keep_expected_width


def layout(model: nn.Sequential) -> list[tuple]:
    """Each module as (kind, its numbers): ("Dropout", p), ("Linear", n_in, n_out), ("ReLU",)."""
    found = []
    for m in model:
        if type(m) is nn.Dropout:
            found.append(("Dropout", m.p))
        elif isinstance(m, nn.Linear):
            found.append(("Linear", m.in_features, m.out_features))
        else:
            found.append((type(m).__name__,))
    return found


@pytest.mark.parametrize(
    ("sizes", "p_input", "p_hidden", "expected"),
    [
        ((64, 128, 128, 10), 0.2, 0.5,
         [("Dropout", 0.2), ("Linear", 64, 128), ("ReLU",), ("Dropout", 0.5),
          ("Linear", 128, 128), ("ReLU",), ("Dropout", 0.5), ("Linear", 128, 10)]),
        ((64, 32, 10), 0.0, 0.5,
         [("Linear", 64, 32), ("ReLU",), ("Dropout", 0.5), ("Linear", 32, 10)]),
        ((5, 7, 3), 0.3, 0.0, [("Dropout", 0.3), ("Linear", 5, 7), ("ReLU",), ("Linear", 7, 3)]),
        ((4, 6, 6, 2), 0.0, 0.0,
         [("Linear", 4, 6), ("ReLU",), ("Linear", 6, 6), ("ReLU",), ("Linear", 6, 2)]),
        ((9, 2), 0.1, 0.5, [("Dropout", 0.1), ("Linear", 9, 2)]),  # no hidden layer
    ],
)  # fmt: skip
def test_dropout_mlp_layers_in_the_order_the_spec_gives(sizes, p_input, p_hidden, expected):
    model = dropout_mlp(list(sizes), p_input, p_hidden)
    assert isinstance(model, nn.Sequential)
    assert layout(model) == expected
    assert isinstance(model[-1], nn.Linear)  # never a dropout after the output


@pytest.mark.parametrize("name", ["p_input", "p_hidden"])
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan")])
def test_dropout_mlp_rejects_rates_outside_zero_one_naming_them(name, bad):
    rates = {"p_input": 0.2, "p_hidden": 0.5, name: bad}
    with pytest.raises(ValueError, match=name):
        dropout_mlp([4, 8, 2], **rates)


def test_dropout_mlp_initialises_as_the_same_layers_built_by_hand():
    """Built in the spec's order, the network gets the weights a hand-built one gets from the
    same seed: the hidden tests can compare a student's network with the reference."""
    torch.manual_seed(3)
    ours = dropout_mlp([6, 5, 4, 3], 0.2, 0.5)
    torch.manual_seed(3)
    theirs = nn.Sequential(
        nn.Dropout(0.2), nn.Linear(6, 5), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(5, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 3),
    )  # fmt: skip
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(7, 6)
    ours.eval(), theirs.eval()
    assert torch.equal(ours(x), theirs(x))  # evaluation: no dropout anywhere


def test_dropout_mlp_drops_each_input_independently_at_its_rate():
    torch.manual_seed(0)
    model = dropout_mlp([2000, 1], 0.3, 0.0).train()
    out = model[0](torch.ones(50, 2000))
    dropped = (out == 0).double()
    n = dropped.numel()
    assert abs(dropped.mean().item() - 0.3) < 6 * math.sqrt(0.3 * 0.7 / n)
    assert not torch.equal(dropped[0], dropped[1])  # a fresh mask per example
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.7))  # inverted: kept ones scaled


@pytest.mark.parametrize(
    ("n", "p", "m"),
    [(64, 0.0, 64), (64, 0.5, 128), (64, 0.75, 256), (64, 0.8, 320), (64, 0.9, 640),
     (128, 0.25, 171), (200, 0.6, 500), (100, 0.7, 334), (1, 0.999, 1000), (3, 0.5, 6)],
)  # fmt: skip
def test_keep_expected_width_values(n, p, m):
    found = keep_expected_width(n, p)
    assert found == m and type(found) is int


def test_keep_expected_width_is_the_smallest_width_in_exact_arithmetic():
    """For rates written with up to three decimals, m (1 - p) >= n and (m - 1)(1 - p) < n,
    computed with fractions (floating point would give 641 for n = 64, p = 0.9)."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        n, thousandths = int(rng.integers(1, 5000)), int(rng.integers(0, 1000))
        p = thousandths / 1000
        m = keep_expected_width(n, p)
        keep = 1 - Fraction(thousandths, 1000)
        assert m * keep >= n > (m - 1) * keep
    assert math.ceil(64 / (1 - 0.9)) == 641 != keep_expected_width(64, 0.9)


def test_keep_expected_width_accepts_numpy_numbers():
    assert keep_expected_width(np.int64(64), np.float64(0.9)) == 640
    assert keep_expected_width(64, np.float32(0.5)) == 128


@pytest.mark.parametrize(
    ("n", "p", "name"),
    [(64, 1.0, "p"), (64, -0.2, "p"), (64, float("nan"), "p"), (0, 0.5, "n"), (-3, 0.5, "n"),
     (2.5, 0.5, "n"), (True, 0.5, "n")],
)  # fmt: skip
def test_keep_expected_width_rejects_bad_arguments_naming_them(n, p, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        keep_expected_width(n, p)
