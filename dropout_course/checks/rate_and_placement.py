"""Contract checks of exercise 07 (choosing and placing dropout): ``dropout_mlp``,
``keep_expected_width`` and ``variance_shift``.

The contracts, as COURSE-SPEC.md and the exercise state them:

- ``dropout_mlp(sizes, p_input, p_hidden)`` returns an ``nn.Sequential`` of, in order:
  ``nn.Dropout(p_input)`` (left out when ``p_input == 0``); for each hidden layer
  ``nn.Linear, nn.ReLU, nn.Dropout(p_hidden)`` (the dropout left out when ``p_hidden == 0``);
  the output ``nn.Linear`` with nothing after it. A rate outside ``[0, 1)`` raises
  ``ValueError``.
- ``keep_expected_width(n, p)`` returns the smallest integer ``m`` with ``m * (1 - p) >= n``.
  Where ``n / (1 - p)`` is a whole number in exact arithmetic (``n = 64, p = 0.9``), floating
  point may put ``m * (1 - p)`` a hair below ``n``; both readings are accepted there.
- ``variance_shift(p, mean, var)``: the ratio of the variance of ``m * h`` in training (``m``
  an inverted dropout mask of drop probability ``p``) to the variance of ``h`` in evaluation,
  for a unit ``h`` of the given mean and variance.

The network is examined layer by layer (``model.get_submodule("0")``, ``"1"`` …: the grader
holds the student's model in the sandbox, so only public methods are used) and by its
behaviour: with the same weights as the instructor's network it must compute the same outputs
in evaluation and, from the same seed, in training.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from .core import (
    Verdict,
    agrees_with_exact,
    agrees_with_measurement,
    as_number,
    call,
    expect_value_error,
    fail,
    is_a,
    type_name,
)

MLP = "dropout_mlp"
WIDTH = "keep_expected_width"
SHIFT = "variance_shift"

#: (sizes, p_input, p_hidden) of the visible check.
MLP_CASES = (
    ((8, 16, 12, 3), 0.2, 0.5),
    ((5, 7, 2), 0.0, 0.3),
    ((6, 9, 9, 9, 4), 0.1, 0.0),
    ((4, 3), 0.25, 0.5),
)


# ------------------------------------------------------------------------- the layers


def expected_layers(sizes, p_input, p_hidden) -> list[tuple]:
    """The contract's layers, each described as ``(kind, attributes...)``."""
    layers = [("Dropout", p_input)] if p_input > 0 else []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(("Linear", n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(("ReLU",))
            if p_hidden > 0:
                layers.append(("Dropout", p_hidden))
    return layers


def describe(module) -> tuple:
    """``(kind, attributes...)`` of one layer, read through public attributes only."""
    kind = type_name(module)  # the sandbox's class name, through the grader's proxy
    if kind == "Linear":
        return ("Linear", int(module.in_features), int(module.out_features))
    if kind == "Dropout":
        return ("Dropout", float(module.p))
    return (kind,)


def layers_of(model, described: str) -> list[tuple]:
    """The descriptions of ``model``'s layers in order. A Sequential's layers are named
    ``"0"``, ``"1"`` …, read with ``get_submodule`` (a module used twice is listed twice);
    layers with names of their own are found with ``model.apply``, which visits every module,
    each layer before its container (the grader's proxy of a model in the sandbox runs
    ``note`` here as a call back)."""
    by_index = _layers_by_index(model)
    if by_index:
        return [describe(module) for module in by_index]
    visited = []

    def note(module):
        visited.append(module)

    call(model.apply, MLP, f"{described}.apply(f)", note)
    return [describe(module) for module in visited[:-1]]  # the last is the model itself


def _layers_by_index(model, limit: int = 64) -> list:
    layers = []
    for i in range(limit):
        try:
            layers.append(model.get_submodule(str(i)))
        except Exception:  # noqa: BLE001 - no layer of that name: the end (or other names)
            break
    return layers


def show(layers: list[tuple]) -> str:
    def one(layer):
        kind, *attrs = layer
        return f"{kind}({', '.join(f'{a:g}' if isinstance(a, float) else str(a) for a in attrs)})"

    return ", ".join(one(layer) for layer in layers) or "nothing"


def _layer_mistake(got: list[tuple], sizes, p_input, p_hidden) -> str:
    """What a wrong list of layers most likely got wrong."""
    want = expected_layers(sizes, p_input, p_hidden)
    kinds = [layer[0] for layer in got]
    dropouts = [layer for layer in got if layer[0] == "Dropout"]
    if kinds and kinds[-1] != "Linear":
        return "the network must end with the output Linear: no dropout or ReLU after it"
    if any(layer[0] == "Dropout" and layer[1] == 0 for layer in got):
        return "a rate of 0 means no dropout module at all: leave Dropout(0) out"
    rates = [layer[1] for layer in dropouts]
    wanted = [layer[1] for layer in want if layer[0] == "Dropout"]
    if len(rates) == len(wanted) and np.allclose([1 - r for r in rates], wanted, rtol=1e-6):
        return "the rates are keep probabilities: nn.Dropout(p) takes the DROP probability p"
    if len(rates) == len(wanted) and not np.allclose(rates, wanted, rtol=1e-6):
        return "a dropout module has the other layer's rate (p_input on the inputs only)"
    if any(a[0] == "Dropout" and b[0] == "ReLU" for a, b in itertools.pairwise(got)):
        return "each hidden layer's Dropout comes after its ReLU, not before"
    if any(k not in ("Linear", "ReLU", "Dropout") for k in kinds):
        odd = sorted({k for k in kinds if k not in ("Linear", "ReLU", "Dropout")})
        return f"the layers must be nn.Linear, nn.ReLU and nn.Dropout, not {', '.join(odd)}"
    if kinds == [layer[0] for layer in want]:
        return "the Linear layers' sizes must be consecutive pairs of sizes"
    if kinds.count("Dropout") < [layer[0] for layer in want].count("Dropout"):
        return "a dropout is missing: one on the inputs, one after every hidden ReLU"
    return "the layers are not in the contract's order"


def same_layers(got: list[tuple], want: list[tuple]) -> bool:
    """Equal kinds and sizes, and rates equal up to rounding (``1 - (1 - p)`` is ``p``)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if len(a) != len(b) or a[0] != b[0]:
            return False
        for x, y in zip(a[1:], b[1:], strict=True):
            if isinstance(y, float) and not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12):
                return False
            if not isinstance(y, float) and x != y:
                return False
    return True


def check_layers(model, sizes, p_input, p_hidden, described: str) -> None:
    want = expected_layers(sizes, p_input, p_hidden)
    got = layers_of(model, described)
    if not same_layers(got, want):
        fail(MLP, f"{described} has the layers {show(got)}; the contract's are {show(want)}: "
                  f"{_layer_mistake(got, sizes, p_input, p_hidden)}.")  # fmt: skip


def instructor_network(sizes, p_input, p_hidden) -> nn.Sequential:
    """The contract's network (the layers of :func:`expected_layers`), to compare behaviour."""
    build = {"Dropout": nn.Dropout, "Linear": nn.Linear, "ReLU": nn.ReLU}
    return nn.Sequential(*[build[kind](*attrs) for kind, *attrs in expected_layers(
        sizes, p_input, p_hidden)])  # fmt: skip


def check_behaviour(model, sizes, p_input, p_hidden, described: str, seed: int) -> None:
    """With the student's weights, the network computes what the contract's network computes:
    in evaluation, and in training from the same seed (the same masks, drawn in the same
    order by the same modules)."""
    mine = instructor_network(sizes, p_input, p_hidden)
    state = call(model.state_dict, MLP, f"{described}.state_dict()")
    values = list(dict(state).values())  # in order, whatever the layers are named
    own = mine.state_dict()
    if [tuple(v.shape) for v in values] != [tuple(v.shape) for v in own.values()]:
        fail(MLP, f"{described}'s weights do not have the contract's layers' shapes.")
    mine.load_state_dict(dict(zip(own, values, strict=True)))
    x = torch.randn(64, sizes[0], generator=torch.Generator().manual_seed(seed))
    for training in (False, True):
        call(model.train, MLP, f"{described}.train({training})", training)
        mine.train(training)
        torch.manual_seed(seed)
        theirs = call(model, MLP, f"{described}(x)", x.clone())  # in-place dropout may write
        torch.manual_seed(seed)
        with torch.no_grad():
            expected = mine(x)
        if not isinstance(theirs, torch.Tensor) or theirs.shape != expected.shape:
            fail(MLP, f"{described}(x) must return a tensor of shape {tuple(expected.shape)}, "
                      f"got {type_name(theirs)}.")  # fmt: skip
        if not torch.allclose(theirs.detach(), expected, atol=1e-6):
            mode = "training (same seed, same masks)" if training else "evaluation"
            fail(MLP, f"{described} computes something else than the contract's network in "
                      f"{mode} mode, with the same weights.")  # fmt: skip


def build(dropout_mlp, sizes, p_input, p_hidden):
    described = f"dropout_mlp({list(sizes)}, p_input={p_input}, p_hidden={p_hidden})"
    model = call(dropout_mlp, MLP, described, list(sizes), p_input, p_hidden)
    if not is_a(model, nn.Sequential):
        fail(MLP, f"{described} must return an nn.Sequential, got {type_name(model)}.")
    return model, described


def mlp_properties(verdict: Verdict, dropout_mlp, cases, seed=0) -> None:
    with verdict.expect("put the contract's layers in the contract's order"):
        for sizes, p_input, p_hidden in cases:
            model, described = build(dropout_mlp, sizes, p_input, p_hidden)
            check_layers(model, sizes, p_input, p_hidden, described)
    with verdict.expect("compute what the contract's network computes, trained or evaluated"):
        for sizes, p_input, p_hidden in cases:
            model, described = build(dropout_mlp, sizes, p_input, p_hidden)
            check_behaviour(model, sizes, p_input, p_hidden, described, seed)
    with verdict.expect("raise ValueError for a rate outside [0, 1)"):
        for p_input, p_hidden in ((1.0, 0.5), (0.2, 1.0), (-0.1, 0.5), (0.2, 1.5)):
            described = f"dropout_mlp([4, 5, 2], p_input={p_input}, p_hidden={p_hidden})"
            bad = "p_input" if not 0 <= p_input < 1 else "p_hidden"
            expect_value_error(
                dropout_mlp, MLP, described, [4, 5, 2], p_input, p_hidden, parameter=bad
            )


def check_dropout_mlp(dropout_mlp, *, cases=MLP_CASES, seed=0) -> Verdict:
    """Check ``dropout_mlp(sizes, p_input, p_hidden)`` against the contract's layers."""
    verdict = Verdict(MLP)
    mlp_properties(verdict, dropout_mlp, cases, seed)
    return verdict


# ------------------------------------------------------------------ keep_expected_width


def widths_allowed(n: int, p: float) -> set[int]:
    """The smallest ``m`` with ``m (1 - p) >= n``, the rate read as the decimal it is written
    as; where ``n / (1 - p)`` is then a whole number ``k``, floating point may put ``k (1 - p)`` a
    hair below ``n``, and ``k + 1`` is accepted too (as the exercise says)."""
    quotient = n / (1 - Fraction(repr(float(p))))
    exact = math.ceil(quotient)
    return {exact, exact + 1} if quotient.denominator == 1 else {exact}


WIDTH_CASES = ((64, 0.5), (100, 0.3), (10, 0.0), (64, 0.9), (7, 0.75), (128, 0.2), (1, 0.6))


def _width_mistake(value: float, n: int, p: float) -> str:
    q = 1 - p
    candidates = [
        ("that is n * (1 - p), the units KEPT of n; the wider layer keeps n", n * q),
        ("that is n * (1 - p) rounded up, the units KEPT of n; the wider layer keeps n",
         math.ceil(n * q)),
        ("that is n / p: divide by the keep probability 1 - p", n / p if p else math.nan),
        ("that is n / p rounded up: divide by the keep probability 1 - p",
         math.ceil(n / p) if p else math.nan),
        ("that rounds n / (1 - p) to the nearest integer; the smallest m with m (1 - p) >= n "
         "rounds UP", round(n / q)),
        ("that rounds n / (1 - p) down; round up", math.floor(n / q)),
    ]  # fmt: skip
    for description, wrong in candidates:
        if math.isclose(value, wrong):
            return description
    if math.isclose(value, n / q):
        return "that is n / (1 - p) itself, not a whole number of units: round it UP"
    return "it is not the smallest integer m with m (1 - p) >= n"


def check_width_case(keep_expected_width, n: int, p: float) -> None:
    described = f"keep_expected_width({n}, {p})"
    value = as_number(call(keep_expected_width, WIDTH, described, n, p), WIDTH, described)
    allowed = widths_allowed(n, p)
    if value in allowed:
        return
    shown = " or ".join(str(m) for m in sorted(allowed))
    fail(WIDTH, f"{described} returned {value:g}, expected {shown}: "
                f"{_width_mistake(value, n, p)}.")  # fmt: skip


def width_properties(verdict: Verdict, keep_expected_width, cases=WIDTH_CASES) -> None:
    with verdict.expect("give the smallest width m with m (1 - p) >= n"):
        for n, p in cases:
            check_width_case(keep_expected_width, n, p)


def check_keep_expected_width(keep_expected_width, *, cases=WIDTH_CASES) -> Verdict:
    """Check ``keep_expected_width(n, p)`` on widths and rates, boundary cases included."""
    verdict = Verdict(WIDTH)
    width_properties(verdict, keep_expected_width, cases)
    return verdict


# ------------------------------------------------------------------------ variance_shift

SHIFT_CASES = ((0.5, 1.0, 1.0), (0.2, 0.5, 2.0), (0.5, 0.0, 1.0), (0.8, -1.0, 0.25))


def measured_shift(p: float, mean: float, var: float, *, n=2_000_000, seed=0) -> float:
    """The ratio MEASURED by simulation: normal units of the given mean and variance, times an
    inverted Bernoulli mask of drop probability p, against the units alone."""
    rng = np.random.default_rng(seed)
    h = mean + math.sqrt(var) * rng.standard_normal(n)
    mask = (rng.random(n) >= p) / (1 - p)
    return float((mask * h).var() / h.var())


def exact_shift(p: float, mean: float, var: float) -> float:
    return 1 + p / (1 - p) * (mean**2 + var) / var


def check_shift_case(variance_shift, p, mean, var) -> None:
    described = f"variance_shift(p={p}, mean={mean}, var={var})"
    value = as_number(call(variance_shift, SHIFT, described, p, mean, var), SHIFT, described)
    measured = measured_shift(p, mean, var)
    q = 1 - p
    candidates = [
        ("that leaves out the mean: the mask also scatters c, so c^2 + v is what it scales",
         1 + p / q),
        ("that is 1 / (1 - p), E[m^2] alone; the mean's square must be subtracted again",
         (mean**2 + var) / q / var),
        ("that uses p / (1 - p) the wrong way round", 1 + q / p * (mean**2 + var) / var),
        ("that is the ratio upside down: evaluation over training", 1 / exact_shift(p, mean, var)),
        ("that is the shift of standard dropout (no 1 / (1 - p) in training), a ratio with "
         "another mean", (q * (mean**2 + var) - (q * mean) ** 2) / var),
    ]  # fmt: skip
    how = "2,000,000 simulated units measure"
    agrees_with_measurement(SHIFT, described, value, measured, 0.01, how, candidates)


def shift_properties(verdict: Verdict, variance_shift, cases=SHIFT_CASES) -> None:
    with verdict.expect("give the training-to-evaluation variance ratio behind the mask"):
        for p, mean, var in cases:
            check_shift_case(variance_shift, p, mean, var)


def check_variance_shift(variance_shift, *, cases=SHIFT_CASES) -> Verdict:
    """Check ``variance_shift(p, mean, var)`` against a simulation."""
    verdict = Verdict(SHIFT)
    shift_properties(verdict, variance_shift, cases)
    return verdict


def exact_shift_properties(verdict: Verdict, variance_shift, cases) -> None:
    """The exact ratio (the hidden test's): 1 + p / (1 - p) * (mean^2 + var) / var."""
    with verdict.expect("give the exact ratio"):
        why = "Var[m h] / Var[h] = 1 + p / (1 - p) * (c^2 + v) / v"
        agrees_with_exact(SHIFT, variance_shift, cases, exact_shift, why)
