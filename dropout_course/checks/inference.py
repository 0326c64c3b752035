"""Contract checks of exercise 06 (inference): ``mc_predict``, ``normalized_geometric_mean``
and ``ngm_logits``.

The contracts, as COURSE-SPEC.md and the exercise state them:

- ``mc_predict(model, x, samples)`` returns ``(mean, std)``: the mean and the population
  standard deviation (ddof 0) of the softmax probabilities over ``samples`` forward passes in
  which every dropout module (PyTorch's, or a class of one's own whose name ends in
  ``Dropout``) samples and every other module (BatchNorm above all) is in evaluation mode; no
  autograd graph; every module's mode restored; ``samples < 1`` raises ``ValueError``.
- ``normalized_geometric_mean(probs)``: ``probs`` of shape ``(k, batch, classes)``; the
  geometric mean over the first axis, renormalised, computed in log space (exact for
  probabilities down to 1e-300 and k = 1000; a zero in any distribution gives 0).
- ``ngm_logits(x, W, b, p)``: logits whose softmax is the normalised geometric mean, weighted by
  the masks' probabilities, of every thinned network of one softmax layer ``x @ W + b`` whose
  inputs are dropped with probability ``p`` (standard dropout: no scaling during training).

``mc_predict`` is random, so its values are compared with the thinned networks' exact moments
(every mask listed with its probability) within :data:`~.core.SIGMAS` standard errors, whatever
order the student draws the masks in (one pass per sample, or all samples in one batch). The
other two are deterministic and compared up to rounding.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bernoulli_masks import _graph_built, _modes, _reset_probes, probed_model
from .core import (
    SIGMAS,
    Memo,
    Verdict,
    call,
    expect_pair,
    expect_value_error,
    fail,
    type_name,
)

MC = "mc_predict"
NGM = "normalized_geometric_mean"
NGM_LOGITS = "ngm_logits"


# ------------------------------------------------------------------------ test networks


class BlockDropout(nn.Module):
    """A dropout module of someone's own (not PyTorch's): in training it zeroes each entry with
    probability ``p`` and scales the kept ones by ``1 / (1 - p)``; in evaluation it passes its
    input through. The contract counts it as dropout because its class name ends in
    ``Dropout``."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.bernoulli(torch.full_like(x, 1.0 - self.p))
        return x * keep / (1.0 - self.p)


class Jitter(nn.Module):
    """Noise in training mode and the identity in evaluation, like a data-augmentation layer:
    not a dropout module, so Monte-Carlo prediction must leave it in evaluation mode."""

    def forward(self, x):
        return x + 0.5 * torch.randn_like(x) if self.training else x


@dataclass
class Moments:
    """Exact moments over the masks of a network's softmax probabilities, per distinct input:
    mean, variance and fourth central moment (each ``(rows, classes)``, float64), and the
    softmax of the mean logits (the weight-scaled prediction)."""

    mean: np.ndarray
    var: np.ndarray
    m4: np.ndarray
    scaled: np.ndarray
    logit_var: np.ndarray
    batch_statistics: np.ndarray | None = None  # the mean when BatchNorm normalises by batch


@dataclass
class Network:
    """A test network whose dropout layer drops ``hidden`` units just before the output layer,
    with ``copies`` copies of each of a few distinct inputs in ``x``."""

    model: nn.Sequential
    x: torch.Tensor
    rows: int
    copies: int
    exact: Moments | None  # None when the dropout module is not one the check can list
    graphs: list  # one entry for every forward pass that built an autograd graph

    @property
    def shape(self) -> tuple[int, int]:
        return (self.x.shape[0], self.model[-1].out_features)


def _weighted_moments(probs, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = weights[:, None, None]
    mean = (w * probs).sum(0)
    centred = probs - mean
    return mean, (w * centred**2).sum(0), (w * centred**4).sum(0)


def listed_moments(hidden: torch.Tensor, last: nn.Linear, p: float) -> Moments:
    """The moments of ``softmax(last(hidden * mask / (1 - p)))`` over every mask of the hidden
    units, each weighted by its probability."""
    h = hidden.double()
    n = h.shape[1]
    masks = torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=torch.float64)
    kept = masks.sum(1)
    weights = ((1 - p) ** kept * p ** (n - kept)).numpy()
    W, b = last.weight.detach().double(), last.bias.detach().double()
    logits = (h[None] * masks[:, None, :] / (1 - p)) @ W.T + b
    probs = F.softmax(logits, dim=-1).numpy()
    mean, var, m4 = _weighted_moments(probs, weights)
    _, logit_var, _ = _weighted_moments(logits.numpy(), weights)
    scaled = F.softmax(h @ W.T + b, dim=-1).numpy()  # E[logits] for inverted dropout
    return Moments(mean, var, m4, scaled, logit_var)


def _batchnorm(hidden: int, generator: torch.Generator) -> nn.BatchNorm1d:
    """A BatchNorm layer with running statistics far from any batch's (as after training)."""
    bn = nn.BatchNorm1d(hidden)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(hidden, generator=generator))
        bn.running_var.copy_(0.3 + torch.rand(hidden, generator=generator))
        bn.weight.copy_(1.0 + 0.5 * torch.randn(hidden, generator=generator))
        bn.bias.copy_(0.5 + 0.3 * torch.randn(hidden, generator=generator))
    return bn


def dropout_network(
    *, seed=0, p=0.5, n_in=3, hidden=6, classes=4, rows=5, copies=400, dropout=None
) -> Network:
    """``Linear``, a block ``(BatchNorm1d, Jitter, ReLU, dropout)``, ``Linear`` (a graph probe
    after the first layer), with large output weights so that averaging probabilities and
    averaging logits differ. The block is nested, so that switching only the model's direct
    children misses it. ``dropout`` is the dropout module (default ``nn.Dropout(p)``; its own
    ``p`` counts); the exact moments are listed for ``nn.Dropout`` and :class:`BlockDropout`,
    which drop entries independently."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    first, last = nn.Linear(n_in, hidden), nn.Linear(hidden, classes)
    with torch.no_grad():
        last.weight.mul_(4.0)
    bn = _batchnorm(hidden, generator)
    drop = nn.Dropout(p) if dropout is None else dropout
    p = float(getattr(drop, "p", p))
    graphs: list = []

    def report():  # a function, so that the sandbox calls back (see GraphProbe)
        graphs.append(True)

    block = nn.Sequential(bn, Jitter(), nn.ReLU(), drop)
    model = probed_model(first, block, last, report=report)
    distinct = torch.randn(rows, n_in, generator=generator)
    model.eval()
    exact = None
    if type(drop) in (nn.Dropout, BlockDropout):
        with torch.no_grad():
            exact = listed_moments(torch.relu(bn(first(distinct))), last, p)
            by_batch = F.batch_norm(first(distinct), None, None, bn.weight, bn.bias, True)
            exact.batch_statistics = listed_moments(torch.relu(by_batch), last, p).mean
    return Network(model, distinct.repeat(copies, 1), rows, copies, exact, graphs)


def reshaped_dropout_network(dropout: nn.Module, shape: tuple[int, ...], *, seed=0) -> Network:
    """A network whose dropout module sees its features as ``shape`` (channels first), e.g.
    ``nn.Dropout1d`` on ``(N, 3, 2)``; its moments are not listed."""
    net = dropout_network(seed=seed, hidden=math.prod(shape), dropout=dropout)
    block = net.model[2]
    block[3] = nn.Sequential(nn.Unflatten(1, shape), dropout, nn.Flatten())
    return Network(net.model, net.x, net.rows, net.copies, None, net.graphs)


# ------------------------------------------------------------------------------ one call


def set_modes(model: nn.Module, modes) -> None:
    """Put each module in the mode ``modes`` gives it: a bool for all, or one per module."""
    modules = list(model.modules())
    modes = modes if isinstance(modes, list) else [modes] * len(modules)
    for module, mode in zip(modules, modes, strict=True):
        module.training = mode


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "built_graph" not in k}


def _as_probabilities(value, what: str, described: str, shape) -> tuple[np.ndarray, bool]:
    """The array of a returned tensor (or array) and whether it requires grad."""
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().double().numpy()
        graph = value.requires_grad
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        array, graph = value.astype(np.float64), False
    else:
        fail(MC, f"{described} must return {what} as a tensor, got {type_name(value)}.")
    if array.shape != tuple(shape):
        fail(MC, f"{described} returned {what} of shape {array.shape}; it must have shape "
                 f"{tuple(shape)} (batch, classes), like the model's output.")  # fmt: skip
    return array, graph


class MCCall:
    """``mc_predict(model, x, samples)`` called once on a network whose modules start in the
    given modes, with what it returned and what it left behind."""

    def __init__(self, mc_predict, net: Network, samples: int, *, modes=True, seed=0):
        self.net, self.samples, self.modes, self.seed = net, samples, modes, seed
        self.described = f"mc_predict(model, x, samples={samples})"
        self._result = Memo(lambda: self._go(mc_predict))

    def _go(self, mc_predict):
        model, x = self.net.model, self.net.x.clone()
        set_modes(model, self.modes)
        before, state = _modes(model), _state(model)
        _reset_probes(model)
        self.net.graphs.clear()
        torch.manual_seed(self.seed)
        try:
            result = call(mc_predict, MC, self.described, model, x, self.samples)
            self.after = _modes(model)
            self.graph = _graph_built(model) or bool(self.net.graphs)
            now = _state(model)
            self.changed = [k for k in state if not torch.equal(state[k], now[k])]
            self.x_changed = not torch.equal(x, self.net.x)
        finally:
            model.load_state_dict(state, strict=False)
            set_modes(model, before)
        self.before = before
        mean, std = expect_pair(result, MC, self.described, "(mean, std)", allow_list=True)
        mean, g1 = _as_probabilities(mean, "the mean", self.described, self.net.shape)
        std, g2 = _as_probabilities(std, "the std", self.described, self.net.shape)
        self.graph = self.graph or g1 or g2
        return mean, std

    def mean(self) -> np.ndarray:
        return self._result()[0]

    def std(self) -> np.ndarray:
        return self._result()[1]

    def per_input(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the batch as ``(copies, rows, classes)``: the copies of each input."""
        return values.reshape(self.net.copies, self.net.rows, -1)

    def finished(self) -> MCCall:
        self._result()
        return self


# ------------------------------------------------------------------------ the moments


def _z_scores(call_: MCCall, value: np.ndarray, expected: np.ndarray, var: np.ndarray):
    """How many standard errors the average over the copies of each input is from
    ``expected``, given each copy's variance ``var`` (``(rows, classes)``)."""
    average = call_.per_input(value).mean(0)
    error = np.sqrt(var / call_.net.copies) + 1e-6  # float32 rounding of a correct answer
    return np.abs(average - expected) / error


def _mean_mistake(call_: MCCall) -> str:
    mean, std, exact = call_.mean(), call_.std(), call_.net.exact
    sums = mean.sum(axis=1)
    if mean.shape[0] > 1 and np.allclose(mean.sum(axis=0), 1.0, atol=1e-4):
        return "the softmax was taken over the batch (dim=0); take it over the classes (dim=1)"
    if not np.allclose(sums, 1.0, atol=1e-4):
        return (f"the rows of the mean sum to {sums.min():.4g} … {sums.max():.4g}, not 1: "
                "average the SOFTMAX PROBABILITIES of the passes, not their logits or "
                "log-probabilities")  # fmt: skip
    if call_.changed:
        return (
            "BatchNorm was in training mode during the passes: it normalised with the "
            "batch's statistics and overwrote its running statistics (model.train() "
            "switches every module to training; switch only the dropout modules)"
        )
    if np.all(std < 1e-7):
        return (
            "every pass gave the same prediction: dropout was off (model.eval() switches "
            "dropout off too; put each dropout module back in training mode), or every "
            "pass drew the same mask"
        )
    average = call_.per_input(mean).mean(0)
    distance = np.abs(average - exact.mean).sum()
    by_batch = exact.batch_statistics
    if by_batch is not None and np.abs(average - by_batch).sum() < distance:
        return (
            "BatchNorm was in training mode during the passes (normalising with the batch's "
            "statistics), even if its running statistics were put back: only the dropout "
            "modules may be in training mode"
        )
    if np.abs(average - exact.scaled).sum() < distance:
        return (
            "it is nearer the softmax of the AVERAGE LOGITS (the weight-scaled network, or "
            "the normalised geometric mean) than the average of the probabilities: apply "
            "the softmax to each pass, then average"
        )
    return (
        "the average of the thinned networks' softmax probabilities is something else (is "
        "every module that is not dropout in evaluation mode, however deeply nested?)"
    )


def check_mean(call_: MCCall) -> None:
    """The mean is the average of the passes' softmax probabilities: within SIGMAS standard
    errors of the exact mean over every mask."""
    exact, samples = call_.net.exact, call_.samples
    z = _z_scores(call_, call_.mean(), exact.mean, exact.var / samples)
    if np.all(z <= SIGMAS):
        return
    fail(MC, f"{call_.described}: the mean is {z.max():.0f} standard errors from the average of "
             f"the thinned networks' softmax probabilities (every mask listed): "
             f"{_mean_mistake(call_)}.")  # fmt: skip


def _sample_variance_moments(exact: Moments, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the population (ddof 0) variance of ``samples`` draws."""
    n, var = samples, exact.var
    mean = var * (n - 1) / n
    spread = (n - 1) ** 2 / n**3 * (exact.m4 - (n - 3) / (n - 1) * var**2) if n > 1 else 0 * var
    return mean, np.maximum(spread, 0.0)


def _std_mistake(call_: MCCall, expected: np.ndarray) -> str:
    std, exact, n = call_.std(), call_.net.exact, call_.samples
    squares = call_.per_input(std**2).mean(0)
    values = call_.per_input(std).mean(0)

    def near(a, b):  # in total over the entries: each entry alone is noisy
        return bool(abs(a.sum() - b.sum()) <= 0.1 * abs(b.sum()) + 1e-6)

    if np.all(std < 1e-7):
        return (
            "it is 0 everywhere: every pass gave the same prediction (dropout off, or the same "
            "mask every pass)"
        )
    if n > 1 and near(squares, exact.var):
        return (
            "it matches the SAMPLE standard deviation (ddof 1, divided by samples - 1); "
            "the contract asks for the population one (ddof 0: torch.std(..., "
            "correction=0) or unbiased=False)"
        )
    if near(values, expected):
        return "it matches the VARIANCE of the probabilities: return its square root"
    if near(squares, exact.logit_var * (n - 1) / n):
        return "it matches the standard deviation of the LOGITS: take it of the probabilities"
    return "it is not the spread of the passes' softmax probabilities"


def check_std(call_: MCCall) -> None:
    """The std is the population standard deviation of the passes' probabilities: its square,
    averaged over the copies of an input, is within SIGMAS standard errors of the exact
    expectation of the ddof-0 variance of ``samples`` draws."""
    expected, spread = _sample_variance_moments(call_.net.exact, call_.samples)
    z = _z_scores(call_, call_.std() ** 2, expected, spread)
    if np.all(z <= SIGMAS):
        return
    fail(MC, f"{call_.described}: the std does not spread as the thinned networks' softmax "
             f"probabilities do ({z.max():.0f} standard errors off): "
             f"{_std_mistake(call_, expected)}.")  # fmt: skip


def check_single_sample(call_: MCCall) -> None:
    """With one sample the std is 0 and the mean is one pass's probabilities."""
    if not np.all(np.abs(call_.std()) < 1e-6):
        fail(MC, f"{call_.described} must give std 0 (one pass spreads nowhere), got values up "
                 f"to {np.abs(call_.std()).max():.3g}.")  # fmt: skip
    if not np.allclose(call_.mean().sum(axis=1), 1.0, atol=1e-4):
        fail(MC, f"{call_.described}: the rows of the mean must sum to 1 (softmax "
                 "probabilities).")  # fmt: skip


def check_samples_drawn(call_: MCCall, kind: str) -> None:
    """A network whose only dropout module is ``kind``: the passes differ (it sampled), and
    BatchNorm stayed in evaluation mode (its statistics unchanged); the mean is made of
    probability vectors and the std lies in [0, 0.5] (the most a probability can spread);
    when the masks can be listed, both agree with the exact moments."""
    mean, std = call_.mean(), call_.std()
    if not (np.all(np.isfinite(mean)) and np.allclose(mean.sum(axis=1), 1.0, atol=1e-4)):
        fail(MC, f"{call_.described} on a network whose dropout module is {kind}: the rows of "
                 "the mean must be probability vectors (finite, summing to 1).")  # fmt: skip
    if not (np.all(np.isfinite(std)) and np.all((std >= 0) & (std <= 0.5 + 1e-6))):
        fail(MC, f"{call_.described} on a network whose dropout module is {kind}: the std of "
                 "probabilities lies between 0 and 0.5.")  # fmt: skip
    if np.all(std < 1e-7):
        fail(MC, f"{call_.described} on a network whose dropout module is {kind} gave std 0: "
                 f"that module did not sample. Every dropout module (nn.Dropout, "
                 "nn.Dropout1d/2d/3d, nn.AlphaDropout, and any class whose name ends in "
                 "'Dropout') must be in training mode during the passes.")  # fmt: skip
    check_modules_untouched(call_)
    if call_.net.exact is not None:
        check_mean(call_)
        check_std(call_)


# ----------------------------------------------------------------- what it leaves behind


def check_modules_untouched(call_: MCCall) -> None:
    call_.finished()
    if call_.changed:
        fail(MC, f"{call_.described} changed the model's {', '.join(call_.changed[:3])}: "
                 "BatchNorm was in training mode during the passes and overwrote its running "
                 "statistics. Only the dropout modules may be in training mode; every other "
                 "module stays in evaluation mode.")  # fmt: skip
    if call_.x_changed:
        fail(MC, f"{call_.described} modified its input x.")


def check_no_graph(call_: MCCall) -> None:
    if call_.finished().graph:
        fail(MC, f"{call_.described} built an autograd graph (detaching the result afterwards "
                 "does not undo that): run the passes inside `with torch.no_grad():`.")  # fmt: skip


def check_modes_restored(call_: MCCall) -> None:
    call_.finished()
    if call_.after != call_.before:
        wrong = sum(a != b for a, b in zip(call_.after, call_.before, strict=True))
        fail(MC, f"{call_.described} left {wrong} module(s) of the model in another mode than "
                 "before the call. Remember each module's `training` flag and restore it (the "
                 "model's own mode is not enough when its modules were in different "
                 "modes).")  # fmt: skip


# ------------------------------------------------------------------------ the properties


def mc_predict_properties(verdict: Verdict, mc_predict, net: Network, *, seed=0, mixed=None):
    """Add the properties of ``mc_predict`` on ``net`` to ``verdict``: the moments over 2 and
    40 samples, the leftovers of runs that start in training, evaluation (and ``mixed``)
    modes."""
    many = MCCall(mc_predict, net, 40, modes=False, seed=seed)
    two = MCCall(mc_predict, net, 2, modes=True, seed=seed + 1)
    runs = [many, two] + ([MCCall(mc_predict, net, 3, modes=mixed, seed=seed)] if mixed else [])
    with verdict.expect("average the softmax probabilities of thinned networks"):
        check_mean(many)
        check_mean(two)
    with verdict.expect("give the population standard deviation (ddof 0) of the probabilities"):
        check_std(two)
        check_std(many)
    with verdict.expect(
        "leave the model's parameters and BatchNorm statistics unchanged", side_condition=True
    ):
        for run in runs:
            check_modules_untouched(run)
    with verdict.expect("build no autograd graph", side_condition=True):
        for run in runs:
            check_no_graph(run)
    with verdict.expect("restore every module's mode", side_condition=True):
        for run in runs:
            check_modes_restored(run)


def dropout_kinds_properties(verdict: Verdict, mc_predict, nets: dict[str, Network], seed=0):
    with verdict.expect(f"switch on every kind of dropout module ({', '.join(nets)})"):
        for kind, net in nets.items():
            check_samples_drawn(MCCall(mc_predict, net, 5, modes=False, seed=seed), kind)


def samples_properties(verdict: Verdict, mc_predict, net: Network) -> None:
    with verdict.expect("give std 0 and a probability vector for samples=1"):
        check_single_sample(MCCall(mc_predict, net, 1, modes=False))
    with verdict.expect("raise ValueError when samples < 1", side_condition=True):
        for samples in (0, -3):
            described = f"mc_predict(model, x, samples={samples})"
            expect_value_error(
                mc_predict, MC, described, net.model, net.x, samples, parameter="samples"
            )


def check_mc_predict(mc_predict, *, seed=0) -> Verdict:
    """Check ``mc_predict(model, x, samples)`` on a small network with BatchNorm and dropout,
    against the exact moments of its thinned networks."""
    verdict = Verdict(MC)
    net = dropout_network(seed=seed)
    mc_predict_properties(verdict, mc_predict, net, seed=seed)
    kinds = {
        "nn.AlphaDropout": dropout_network(seed=seed, dropout=nn.AlphaDropout(0.5)),
        "a BlockDropout of one's own": dropout_network(seed=seed, dropout=BlockDropout(0.5)),
    }
    dropout_kinds_properties(verdict, mc_predict, kinds, seed)
    samples_properties(verdict, mc_predict, dropout_network(seed=seed, copies=3))
    return verdict


# -------------------------------------------------------------- normalized_geometric_mean


def ngm_exact(probs: np.ndarray) -> np.ndarray:
    """The normalised geometric mean, from the logarithms (float64; -inf for a zero)."""
    with np.errstate(divide="ignore"):
        mean_log = np.log(np.asarray(probs, dtype=np.float64)).mean(axis=0)
    weights = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def random_distributions(k: int, batch: int, classes: int, *, seed=0, spread=3.0) -> np.ndarray:
    """``k`` predictive distributions per row: softmax of normal logits of sd ``spread``."""
    logits = spread * np.random.default_rng(seed).standard_normal((k, batch, classes))
    return np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)


def tiny_distributions(k: int = 1000, *, seed=1) -> np.ndarray:
    """Distributions whose small classes have probabilities between 1e-300 and 1e-3: a plain
    product of 1000 of them underflows to 0, the geometric mean does not."""
    rng = np.random.default_rng(seed)
    small = 10.0 ** rng.uniform(-300, -3, size=(k, 4, 2))
    big = rng.uniform(0.2, 0.8, size=(k, 4, 1))
    probs = np.concatenate([small, big, 1 - big], axis=-1)
    return probs / probs.sum(axis=-1, keepdims=True)


def with_zeros(*, seed=2) -> np.ndarray:
    """Distributions where some class is 0 in one of the k (that class's mean is 0)."""
    probs = random_distributions(6, 5, 4, seed=seed)
    probs[2, 0, 1] = probs[4, 3, 0] = probs[0, 1, 2] = 0.0
    return probs / probs.sum(axis=-1, keepdims=True)


def _ngm_call(normalized_geometric_mean, probs: np.ndarray, described: str) -> np.ndarray:
    given = probs.copy()
    value = call(normalized_geometric_mean, NGM, described, given)
    if not np.array_equal(given, probs):
        fail(NGM, f"{described} modified its input; compute a new array.")
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        fail(NGM, f"{described} must return a NumPy array, got {type_name(value)}.")
    if value.shape != probs.shape[1:]:
        fail(NGM, f"{described} returned shape {value.shape}; it must be (batch, classes) = "
                  f"{probs.shape[1:]}: average over the FIRST axis (the k masks).")  # fmt: skip
    return value.astype(np.float64)


def _ngm_mistake(value: np.ndarray, probs: np.ndarray) -> str:
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        return _first_ngm_mistake(value, probs)


def _first_ngm_mistake(value: np.ndarray, probs: np.ndarray) -> str:
    candidates = [
        ("it is the arithmetic mean of the distributions, not the geometric one",
         probs.mean(axis=0)),
        ("it is not renormalised: divide each row by its sum", np.exp(np.log(probs).mean(0))),
        ("it renormalises the geometric mean over the wrong axis",
         (g := np.exp(np.log(probs).mean(0))) / g.sum(axis=0, keepdims=True)),
    ]  # fmt: skip
    for description, wrong in candidates:
        if wrong.shape == value.shape and np.allclose(value, wrong, rtol=1e-6, atol=1e-12):
            return description
    if not np.all(np.isfinite(value)):
        return (
            "it holds NaN or inf: a product of many probabilities underflows to 0; add "
            "logarithms instead, and subtract each row's largest before exponentiating"
        )
    expected = ngm_exact(probs)
    wrong = ~np.isclose(value, expected, rtol=1e-6, atol=0.0)
    zeros = (expected == 0) & (value != 0)
    if np.any(zeros):
        return (
            "a class that one distribution gives probability 0 must get exactly 0, not "
            f"{np.abs(value[zeros]).max():.3g} (an epsilon or a clip inside the logarithm?)"
        )
    if np.all(expected[wrong] < 1e-6):
        return (
            "it is wrong for the tiny probabilities (an epsilon or a clip inside the "
            "logarithm, float32, or a product that underflows?): add float64 logarithms"
        )
    return "it is not the geometric mean over the k distributions, renormalised"


def check_ngm_case(normalized_geometric_mean, probs: np.ndarray, what: str, exact=None) -> None:
    """Compare with ``exact(probs)`` (default :func:`ngm_exact`) up to rounding."""
    described = f"normalized_geometric_mean(probs) with probs of shape {probs.shape} ({what})"
    value = _ngm_call(normalized_geometric_mean, probs, described)
    expected = (exact or ngm_exact)(probs)
    if np.allclose(value, expected, rtol=1e-6, atol=0.0):
        return
    fail(NGM, f"{described} differs from the normalised geometric mean: "
              f"{_ngm_mistake(value, probs)}.")  # fmt: skip


def ngm_properties(verdict: Verdict, normalized_geometric_mean, *, seed=0) -> None:
    ngm = normalized_geometric_mean
    with verdict.expect("give the renormalised geometric mean over the k distributions"):
        check_ngm_case(ngm, random_distributions(5, 3, 4, seed=seed), "5 distributions")
        check_ngm_case(ngm, random_distributions(2, 1, 3, seed=seed + 1), "2 distributions")
    with verdict.expect("give the distribution itself for k = 1"):
        check_ngm_case(ngm, random_distributions(1, 4, 5, seed=seed + 2), "k = 1")
    with verdict.expect("stay exact for tiny probabilities and k = 1000 (log space)"):
        check_ngm_case(ngm, tiny_distributions(seed=seed + 3), "probabilities down to 1e-300")
        check_ngm_case(ngm, random_distributions(1000, 3, 4, seed=seed + 4, spread=12.0),
                       "1000 distributions")  # fmt: skip
    with verdict.expect("give 0 (not NaN) to a class that one distribution gives 0"):
        check_ngm_case(ngm, with_zeros(seed=seed + 5), "some probabilities exactly 0")


def check_normalized_geometric_mean(normalized_geometric_mean, *, seed=0) -> Verdict:
    """Check ``normalized_geometric_mean(probs)`` against the formula in log space."""
    verdict = Verdict(NGM)
    ngm_properties(verdict, normalized_geometric_mean, seed=seed)
    return verdict


# ------------------------------------------------------------------------------ ngm_logits


#: Tolerance on the softmax of the returned logits: a float32 computation meets it, and every
#: mistake the check names is off by far more.
LOGIT_RTOL = 1e-4


def listed_ngm(x: np.ndarray, W: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    """The normalised geometric mean, weighted by each mask's probability, of the softmax of
    every thinned network ``(x * mask) @ W + b`` (standard dropout on the inputs), found by
    listing all ``2 ** n_in`` masks."""
    n = x.shape[1]
    masks = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    weights = (1 - p) ** masks.sum(1) * p ** (n - masks.sum(1))
    logits = (x[None] * masks[:, None, :]) @ W + b
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    mean_log = np.tensordot(weights, log_probs, axes=1)
    g = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))
    return g / g.sum(axis=-1, keepdims=True)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logits_mistake(value, x, W, b, p) -> str:
    q = 1 - p
    candidates = [
        ("the bias is scaled too: dropping inputs never removes the bias", q * (x @ W + b)),
        ("that scales by p, the drop probability; scale by the keep probability 1 - p",
         p * (x @ W) + b),
        ("that is the layer without scaling: with standard dropout every input is present "
         "only a fraction 1 - p of the time during training", x @ W + b),
        ("that divides by 1 - p (inverted dropout's training-time scaling); here the "
         "network was trained WITHOUT scaling", x @ W / q + b),
    ]  # fmt: skip
    for description, wrong in candidates:
        if np.allclose(softmax(value), softmax(wrong), rtol=LOGIT_RTOL, atol=1e-7):
            return description
    if np.all(value >= 0) and np.allclose(value.sum(axis=1), 1.0, atol=1e-6):
        return "these are probabilities; return logits (their logarithm would do)"
    return "its softmax is not the normalised geometric mean of the thinned networks"


def check_ngm_logits_case(ngm_logits, x, W, b, p, expected: np.ndarray, how: str) -> None:
    described = f"ngm_logits(x, W, b, p={p}) with x of shape {x.shape}"
    args = [a.copy() for a in (x, W, b)]
    value = call(ngm_logits, NGM_LOGITS, described, *args, p)
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy()
    value = np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else value
    if not isinstance(value, np.ndarray) or value.shape != (x.shape[0], W.shape[1]):
        shown = getattr(value, "shape", type_name(value))
        fail(NGM_LOGITS, f"{described} must return logits of shape (batch, n_out) = "
                         f"{(x.shape[0], W.shape[1])}, got {shown}.")  # fmt: skip
    # Logits are defined up to a constant per row: compare their softmax.
    if not np.allclose(softmax(value), expected, rtol=LOGIT_RTOL, atol=1e-7):
        fail(NGM_LOGITS, f"{described}: the softmax of these logits differs from {how}: "
                         f"{_logits_mistake(value, x, W, b, p)}.")  # fmt: skip


def softmax_layer(seed: int, batch: int, n_in: int, n_out: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n_in))
    return x, 1.5 * rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)


def check_ngm_logits(ngm_logits, *, cases=((0, 0.5), (1, 0.2), (2, 0.8))) -> Verdict:
    """Check ``ngm_logits(x, W, b, p)`` against the normalised geometric mean of every thinned
    network of a 6-input softmax layer, found by listing the 64 masks."""
    verdict = Verdict(NGM_LOGITS)
    how = "the normalised geometric mean of all 64 thinned networks, weighted by their probability"
    with verdict.expect("give logits whose softmax is the thinned networks' NGM"):
        for seed, p in cases:
            x, W, b = softmax_layer(seed, 4, 6, 3)
            check_ngm_logits_case(ngm_logits, x, W, b, p, listed_ngm(x, W, b, p), how)
    return verdict
