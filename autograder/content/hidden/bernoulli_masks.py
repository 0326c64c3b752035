"""Hidden tests of exercise 03 (Bernoulli masks): ``bernoulli_mask``, ``dropout_forward``, the
``Dropout`` module and ``predict``. The contract's properties on inputs the student has not seen,
compared with the reference implementations and, where PyTorch has the same operation
(``F.dropout``, ``nn.Dropout``), with PyTorch as a second, independent reference.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from autograder.content.reference import bernoulli_masks as reference
from dropout_course.checks import bernoulli_masks as checks
from dropout_course.checks.core import Verdict, allclose, binomial_band, call, fail, same_dtype


def hidden_bernoulli_mask(bernoulli_mask) -> Verdict:
    """Unseen p, shapes (an int, 3-D), and the drop rate compared with the reference's."""
    verdict = checks.check_bernoulli_mask(
        bernoulli_mask, p=0.75, shape=(300, 300), small_shape=7, seed=5
    )
    with verdict.expect("drop as many entries as the reference on a 3-D shape"):
        described = "bernoulli_mask((10, 20, 30), p=0.2, rng)"
        mask = np.asarray(
            call(bernoulli_mask, "bernoulli_mask", described, (10, 20, 30), 0.2,
                 np.random.default_rng(8)),
            dtype=np.float64,
        )  # fmt: skip
        expected = reference.bernoulli_mask((10, 20, 30), 0.2, np.random.default_rng(8))
        if mask.shape != expected.shape:
            fail("bernoulli_mask", f"{described} has shape {mask.shape}; expected (10, 20, 30).")
        band = binomial_band(mask.size, 0.2) * np.sqrt(2.0)  # difference of two independent rates
        if abs(mask.mean() - expected.mean()) > band:
            fail(
                "bernoulli_mask",
                f"{described} kept {mask.mean():.3f} of the units; the reference "
                f"keeps {expected.mean():.3f} (1 - p = 0.8).",
            )
    with verdict.expect(
        "draw independent entries along every axis of a 3-D shape", side_condition=True
    ):
        mask = call(bernoulli_mask, "bernoulli_mask", described, (10, 20, 30), 0.2,
                    np.random.default_rng(9))  # fmt: skip
        mask = checks.mask_values(np.asarray(mask), "bernoulli_mask", described, 0.2)
        checks.check_independent(mask, "bernoulli_mask", described)
    with verdict.expect("drop each entry with probability p, for any p (0.2951, 0.005)"):
        for odd in (0.2951, 0.005):
            described = f"bernoulli_mask((1000, 1000), p={odd}, rng)"
            mask = call(bernoulli_mask, "bernoulli_mask", described, (1000, 1000), odd,
                        np.random.default_rng(10))  # fmt: skip
            mask = checks.mask_values(np.asarray(mask), "bernoulli_mask", described, odd)
            checks.check_drop_rate(mask, odd, "bernoulli_mask", described)
    return verdict


def hidden_dropout_forward(dropout_forward) -> Verdict:
    """Unseen p and dtypes; a 3-D input compared with the reference and with F.dropout."""
    verdict = checks.check_dropout_forward(
        dropout_forward, p=0.75, shape=(120, 90), seed=9, dtype=np.float32
    )
    x = (np.random.default_rng(3).standard_normal((6, 7, 8)) + 4.0).astype(np.float32)
    for inverted in (True, False):
        with verdict.expect(
            f"agree with the reference on a 3-D float32 input (inverted={inverted})"
        ):
            out, mask = checks.check_forward_training(
                dropout_forward, x, 0.2, inverted=inverted, seed=4, check_rate=False
            )
            if not allclose(out, reference.apply_mask(x, mask, 0.2, inverted)):
                fail(
                    "dropout_forward",
                    "on a 3-D float32 input, out differs from the reference given the same mask.",
                )
            checks.check_forward_evaluation(dropout_forward, x, 0.2, inverted=inverted)
    with verdict.expect(
        "draw an independent mask along every axis of a 3-D input", side_condition=True
    ):
        cube = (np.random.default_rng(4).standard_normal((20, 30, 40)) + 3.0).astype(np.float32)
        call_ = checks.ForwardCall(dropout_forward, cube, 0.4, seed=11)
        checks.check_independent(call_.mask(), "dropout_forward", call_.described)
    with verdict.expect("drop each unit with probability p, for any p (p = 0.2951)"):
        big = np.ones((1000, 1000), dtype=np.float32)
        call_ = checks.ForwardCall(dropout_forward, big, 0.2951, seed=12)
        checks.check_drop_rate(call_.mask(), 0.2951, "dropout_forward", call_.described)
    with verdict.expect("apply the same formula to float16 inputs"):
        half = (np.random.default_rng(5).standard_normal((30, 40)) + 3.0).astype(np.float16)
        for inverted in (True, False):
            call_ = checks.ForwardCall(dropout_forward, half, 0.3, inverted=inverted)
            out, mask = call_.out(), call_.mask()
            if mask.min() == mask.max():
                fail("dropout_forward", f"{call_.described} on a float16 input: its mask "
                                        "drops every unit or none.")  # fmt: skip
            expected = half.astype(np.float64) * mask / (0.7 if inverted else 1.0)
            close = np.allclose(out.astype(np.float64), expected, rtol=2e-3, atol=1e-3)
            if not same_dtype(out.dtype, np.float16) or not close:
                formula = "x * mask / (1 - p)" if inverted else "x * mask"
                fail("dropout_forward", f"{call_.described} on a float16 input: out must be "
                                        f"{formula} in float16 too.")  # fmt: skip
    with verdict.expect("scale kept units as torch.nn.functional.dropout does"):
        # PyTorch's F.dropout is inverted dropout: its kept units carry the same scale as ours.
        ones = np.ones((50, 40))
        out, mask = checks.check_forward_training(dropout_forward, ones, 0.6, seed=1)
        with torch.random.fork_rng(devices=[]):  # the global state is the student's after a call
            torch.manual_seed(12_345)
            torch_out = F.dropout(torch.ones(50, 40, dtype=torch.float64), p=0.6, training=True)
        torch_scale = torch_out[torch_out != 0].unique().numpy()
        if not allclose(np.unique(out[mask == 1]), torch_scale):
            fail(
                "dropout_forward",
                "kept units are not scaled like torch.nn.functional.dropout's "
                "(which multiplies them by 1 / (1 - p)).",
            )
    return verdict


def hidden_dropout_module(Dropout) -> Verdict:
    """Unseen p and a float64 3-D input, compared with torch.nn.Dropout; evaluation, generator."""
    verdict = Verdict("Dropout")
    run = checks.TrainingRun(Dropout, p=0.8, shape=(60, 50, 40), seed=7, dtype=torch.float64)
    checks.module_training_properties(verdict, run)
    with verdict.expect("drop each element with probability p (a million elements, p = 0.8)"):
        big = checks.TrainingRun(Dropout, p=0.8, shape=(1000, 1000), seed=13)
        checks.check_rate(big)
    with verdict.expect("keep float16 and bfloat16 dtypes in training", side_condition=True):
        for dtype in (torch.float16, torch.bfloat16):
            x = torch.linspace(0.5, 2.0, 600, dtype=dtype).reshape(20, 30)
            module = checks.make_module(Dropout, 0.5)
            module.train()
            out = checks.run_module(module, x, f"Dropout(p=0.5) on a {dtype} tensor")
            if out.dtype != dtype:
                fail("Dropout", f"Dropout(p=0.5) turned a {dtype} input into {out.dtype}; it must "
                                "keep the input's dtype (make the mask with torch.rand_like(x) "
                                "or .to(x.dtype)).")  # fmt: skip
    with verdict.expect(
        "return x unchanged in evaluation mode (p = 0.9, float64)", side_condition=True
    ):
        checks.check_module_evaluation(Dropout, p=0.9, dtype=torch.float64)
    with verdict.expect("draw its mask from torch's generator (p = 0.25)"):
        checks.check_module_generator(Dropout, p=0.25)
    return verdict


def hidden_predict(predict) -> Verdict:
    """A model with batch normalisation as well as dropout, compared with the reference."""
    torch.manual_seed(21)
    model = checks.probed_model(
        torch.nn.Linear(5, 24),
        torch.nn.BatchNorm1d(24),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(24, 2),
    )
    x = torch.randn(10, 5)
    model.train()
    model(torch.randn(64, 5))  # give batch norm running statistics
    verdict = Verdict("predict")
    checks.predict_properties(verdict, predict, model, x)
    with verdict.expect("agree with the reference on a model with batch normalisation"):
        for start_training in (True, False):
            model.train(start_training)
            expected = reference.predict(model, x)
            got = call(predict, "predict", "predict(model, x)", model, x)
            if not isinstance(got, torch.Tensor) or not torch.allclose(got, expected, atol=1e-6):
                fail(
                    "predict",
                    "differs from the reference on a model with batch normalisation: "
                    "model.eval() switches both dropout and batch norm to evaluation.",
                )
    return verdict


#: What the feedback explains when the moments differ from the reference.
MOMENTS_EXPLAINED = (
    "A unit is kept with probability q = 1 - p. Inverted dropout outputs y / q when kept, so "
    "its mean is q (y / q) = y and its variance E[out^2] - mean^2 = y^2 / q - y^2 = (p / q) y^2. "
    "Standard dropout outputs y when kept: mean q y, variance q y^2 - (q y)^2 = p q y^2."
)


def hidden_dropout_moments(dropout_moments) -> Verdict:
    """Unseen activations and rates, and the exact moments of the reference on an array."""
    cases = ((3.0, 0.1), (-0.4, 0.35), (1.25, 0.9))
    ys = np.random.default_rng(11).normal(size=(3, 4)).round(3) - 0.2
    verdict = Verdict(checks.MOMENTS)
    checks.moments_properties(verdict, dropout_moments, cases, ys)
    with verdict.expect("agree with the reference to rounding on an array of activations"):
        for p in (0.05, 0.5, 0.75):
            for inverted in (True, False):
                described = f"dropout_moments(y of shape (3, 4), p={p}, inverted={inverted})"
                got = call(dropout_moments, checks.MOMENTS, described, ys, p, inverted=inverted)
                expected = reference.dropout_moments(ys, p, inverted)
                if not (
                    isinstance(got, (tuple, list))
                    and len(got) == 2
                    and all(
                        np.allclose(np.asarray(g, dtype=np.float64), e, rtol=1e-6, atol=1e-12)
                        for g, e in zip(got, expected, strict=True)
                    )
                ):
                    fail(checks.MOMENTS, f"{described} differs from the exact moments. "
                                         f"{MOMENTS_EXPLAINED}")  # fmt: skip
    return verdict


def hidden_dropout_experiment(dropout_experiment) -> Verdict:
    """Other drop probabilities, another seed: the same properties (the numbers themselves
    depend on the student's own network and training, so they are not compared)."""
    verdict = Verdict(checks.EXPERIMENT)
    checks.experiment_properties(verdict, dropout_experiment, (0.1, 0.3, 0.9), seed=3, epochs=2)
    return verdict
