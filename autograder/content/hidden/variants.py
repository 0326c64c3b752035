"""Hidden tests of exercise 08 (variants of dropout): the contracts of the four forward passes
and of ``kept_throughout`` on inputs the student has not seen, compared with the references and
with PyTorch.

Each starts from the visible check's properties at another rate and seed; the masks are then
compared with what PyTorch's own modules drop (``nn.Dropout2d`` zeroes whole feature maps of
``(N, C, H, W)``; ``nn.Dropout1d`` on a sequence laid out as ``(N, D, T)`` zeroes a feature at
every step, the locked mask) and the outputs with the references' for the same mask.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from autograder.content.reference import variants as reference
from dropout_course.checks import variants as checks
from dropout_course.checks.core import Verdict, allclose, fail

__all__ = [
    "hidden_dropconnect_forward",
    "hidden_gaussian_dropout_forward",
    "hidden_kept_throughout",
    "hidden_locked_dropout",
    "hidden_spatial_dropout_forward",
]


def _torch_pattern(module, x: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """Which entries of ``x`` PyTorch's ``module`` (in training) zeroes, when it is given ``x``
    with its axes in ``order``; laid out as ``x``."""
    torch.manual_seed(0)
    with torch.no_grad():
        out = module.train()(torch.from_numpy(np.transpose(x, order).copy())).numpy()
    return np.transpose(out, np.argsort(order)) == 0


def _same_pattern(func, spec: checks.SharedMask, module, order, p: float, seed: int) -> None:
    """The student's zeros fall in the same kind of blocks as PyTorch's: every block a mask
    entry covers is all zero or all kept, in the student's output as in PyTorch's."""
    x = np.abs(checks._inputs(spec.x_shape, seed)) + 0.1  # no zeros of its own
    theirs = checks.VariantCall(func, spec.name, (x, p), seed=seed)
    ours = _torch_pattern(module, x, order)
    axes = tuple(i for i, own in enumerate(spec.keep) if not own)
    for zeros, who in ((ours, "PyTorch"), (theirs.out() == 0, "your out")):
        whole = np.all(zeros, axis=axes) | ~np.any(zeros, axis=axes)
        if not np.all(whole):
            fail(spec.name, f"{theirs.described}: {who} does not drop whole blocks along the "
                            f"shared axes as {type(module).__name__} does.")  # fmt: skip
    mask = checks.check_shared_mask_shape(spec, theirs).astype(np.float64)
    expected = reference.apply_mask(x, mask, p)  # the reference's arithmetic, for this mask
    checks.check_scaled_output(spec.name, theirs, expected, x, mask, p)


def hidden_spatial_dropout_forward(spatial_dropout_forward, *, p=0.6, seed=13) -> Verdict:
    verdict = Verdict(checks.SPATIAL)
    spec = dataclasses.replace(checks.SPATIAL_SPEC, x_shape=(40, 30, 5, 3))
    checks.shared_mask_properties(verdict, spatial_dropout_forward, spec, p=p, seed=seed)
    with verdict.expect("drop what torch.nn.Dropout2d drops: whole feature maps"):
        _same_pattern(spatial_dropout_forward, spec, torch.nn.Dropout2d(p), (0, 1, 2, 3), p,
                      seed)  # fmt: skip
    return verdict


def hidden_locked_dropout(locked_dropout, *, p=0.5, seed=13) -> Verdict:
    verdict = Verdict(checks.LOCKED)
    spec = dataclasses.replace(checks.LOCKED_SPEC, x_shape=(9, 60, 30))
    checks.shared_mask_properties(verdict, locked_dropout, spec, p=p, seed=seed)
    with verdict.expect("drop what torch.nn.Dropout1d drops on (N, D, T): a feature at every step"):
        _same_pattern(
            locked_dropout, spec, torch.nn.Dropout1d(p), (1, 2, 0), p, seed
        )  # (T, N, D) as (N, D, T)
    return verdict


def hidden_gaussian_dropout_forward(gaussian_dropout_forward, *, p=0.6, seed=13) -> Verdict:
    verdict = Verdict(checks.GAUSSIAN)
    checks.gaussian_properties(verdict, gaussian_dropout_forward, p=p, seed=seed)
    with verdict.expect("match nn.Dropout's factor in mean and variance (the paper's rule)"):
        torch.manual_seed(seed)
        factor = torch.nn.Dropout(p).train()(torch.ones(400_000)).numpy()
        call_ = checks.VariantCall(gaussian_dropout_forward, checks.GAUSSIAN,
                                   (np.ones((400, 1000)), p), seed=seed, what="noise")  # fmt: skip
        noise = checks.check_noise_moments(call_, p)
        if abs(noise.var() - factor.var()) > 0.05 * factor.var():
            fail(checks.GAUSSIAN, f"{call_.described}: the noise's variance {noise.var():.4f} "
                                  f"is not nn.Dropout({p})'s {factor.var():.4f}.")  # fmt: skip
    return verdict


def hidden_dropconnect_forward(dropconnect_forward, *, p=0.25, seed=13) -> Verdict:
    verdict = Verdict(checks.DROPCONNECT)
    checks.dropconnect_properties(verdict, dropconnect_forward, p=p, seed=seed)
    with verdict.expect("agree with the reference and with torch.nn.functional.linear"):
        x, W, b = checks.dense_layer(seed + 1, batch=5, n_in=7, n_out=3)
        call_ = checks.VariantCall(dropconnect_forward, checks.DROPCONNECT, (x, W, b, p),
                                   seed=seed)  # fmt: skip
        checks.check_dropconnect_output(call_, x, W, b, p)
        mask = call_.second().astype(np.float64)
        weight = torch.from_numpy((W * mask / (1 - p)).T.copy())
        linear = torch.nn.functional.linear(torch.from_numpy(x), weight, torch.from_numpy(b))
        if not allclose(call_.out(), linear.numpy()):
            fail(checks.DROPCONNECT, f"{call_.described} differs from F.linear with the masked, "
                                     "scaled weights.")  # fmt: skip
    return verdict


def hidden_kept_throughout(kept_throughout, *, seed=3) -> Verdict:
    rng = np.random.default_rng(seed)
    cases = [(round(float(p), 2), int(t), bool(lock)) for p, t, lock in
             zip(rng.uniform(0.05, 0.9, 8), rng.integers(1, 40, 8), rng.integers(0, 2, 8),
                 strict=True)]  # fmt: skip
    verdict = Verdict(checks.KEPT)
    checks.exact_kept_properties(verdict, kept_throughout, cases)
    return verdict
