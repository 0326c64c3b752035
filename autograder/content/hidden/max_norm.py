"""Hidden tests of exercise 05 (max-norm regularisation): the contracts of ``momentum_step``
and ``learning_rate`` on inputs the student has not seen, compared with the references and with
PyTorch (``torch.optim.SGD`` with ``torch.renorm`` after every step, and
``torch.optim.lr_scheduler.ExponentialLR``). ``max_norm`` (COURSE-SPEC.md) is compared
with ``torch.renorm``.

Each check starts from the visible check's :class:`~dropout_course.checks.core.Verdict` on other
inputs and adds properties of its own. Values are compared with the visible checks' tolerances,
which a correct float32 computation meets: the exercise asks for no particular dtype.
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.content.reference import max_norm as reference
from dropout_course.checks import max_norm as checks
from dropout_course.checks.core import Verdict, agrees_with_exact, allclose, call, fail

__all__ = ["hidden_learning_rate", "hidden_max_norm", "hidden_momentum_step"]


def _torch_trajectory(W0, X, Y, lr, momentum, c, n_steps):
    """Weights and PyTorch momentum buffers of ``n_steps`` SGD steps on a least-squares loss.

    The layer is an ``nn.Linear``-style weight of shape (n_out, n_in) = W.T, so the max-norm
    projection of our columns is ``torch.renorm`` over its rows (dim 0).
    """
    weight = torch.nn.Parameter(torch.from_numpy(W0.T.copy()))
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    weights, buffers = [], []
    for _ in range(n_steps):
        loss = 0.5 * ((X_t @ weight.T - Y_t) ** 2).sum() / len(X)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if c is not None:
            with torch.no_grad():
                weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=c))
        weights.append(weight.detach().numpy().T.copy())
        buffers.append(optimizer.state[weight]["momentum_buffer"].numpy().T.copy())
    return weights, buffers


def _compare_with_torch(momentum_step, *, lr, momentum, c, n_steps=25, seed=11):
    """Train the same least-squares layer with the student's step (each step given the weights
    and velocity the previous one returned) and with torch.optim.SGD."""
    name = "momentum_step"
    rng = np.random.default_rng(seed)
    n, n_in, n_out = 40, 6, 4
    X = rng.standard_normal((n, n_in))
    Y = X @ (3.0 * rng.standard_normal((n_in, n_out)))  # the best weights lie far outside c
    W0 = 0.3 * rng.standard_normal((n_in, n_out))
    torch_weights, torch_buffers = _torch_trajectory(W0, X, Y, lr, momentum, c, n_steps)
    W, velocity = W0.copy(), np.zeros_like(W0)
    renorm = "" if c is None else " followed by torch.renorm"
    for step in range(n_steps):
        grad = X.T @ (X @ W - Y) / n  # the gradient of the same loss, at the student's W
        where = f" at step {step + 1} of training a least-squares layer"
        step_call = checks.StepCall(momentum_step, W, grad, velocity, lr, momentum, c, where=where)
        W, velocity = step_call.W_new(), step_call.velocity_new()
        # torch: buf = momentum * buf + grad, W = W - lr * buf; here velocity = -lr * buf.
        if not checks.close(W, torch_weights[step]):
            fail(
                name,
                f"after {step + 1} step(s) on a least-squares layer (lr={lr}, momentum={momentum}, "
                f"c={c}), W differs from torch.optim.SGD{renorm}. With a constant learning "
                "rate the two momentum conventions give the same weights.",
            )
        if not checks.close(velocity, -lr * torch_buffers[step]):
            fail(
                name,
                f"after {step + 1} step(s) the velocity is not -lr times torch.optim.SGD's "
                "momentum buffer; velocity_new = momentum * velocity - lr * grad.",
            )


def _compare_with_reference(momentum_step, c, seed):
    """One step on new inputs, compared with the reference's ``(W_new, velocity_new)``."""
    W, grad, velocity = checks.step_inputs(9, 5, c or 1.0, seed=seed, lr=0.3)
    step = checks.StepCall(momentum_step, W, grad, velocity, 0.3, 0.95, c)
    W_ref, velocity_ref = reference.momentum_step(W, grad, velocity, 0.3, 0.95, c)
    got = {"velocity_new": step.velocity_new(), "W_new": step.W_new()}
    for label, expected in (("velocity_new", velocity_ref), ("W_new", W_ref)):
        if not checks.close(got[label], expected):
            if label == "velocity_new":
                mistake = checks.velocity_mistake(step, got[label])
            else:
                mistake = checks.weight_mistake(step, got[label])
            fail(
                "momentum_step",
                f"{step.described}: {label} differs from the reference"
                + (f": {mistake}." if mistake else "."),
            )


def hidden_momentum_step(momentum_step) -> Verdict:
    """Unseen shapes, settings and dtype; agreement with the reference and with torch.optim.SGD."""
    verdict = checks.check_momentum_step(
        momentum_step, n_in=7, n_out=15, lr=0.05, momentum=0.99, c=3.0, seed=8, dtype=np.float32
    )
    rng = np.random.default_rng(21)
    seeds = {c: int(rng.integers(1000)) for c in (2.0, None, 0.5)}
    with verdict.expect("agree with the reference implementation for c = 2 and c = 0.5"):
        for c in (2.0, 0.5):
            _compare_with_reference(momentum_step, c, seeds[c])
    with verdict.expect("agree with the reference implementation when c is None"):
        _compare_with_reference(momentum_step, None, seeds[None])
    with verdict.expect("follow torch.optim.SGD with momentum, then torch.renorm, for 25 steps"):
        _compare_with_torch(momentum_step, lr=0.05, momentum=0.9, c=2.0)
    with verdict.expect("follow torch.optim.SGD with momentum for 25 steps when c is None"):
        _compare_with_torch(momentum_step, lr=0.02, momentum=0.95, c=None)
    return verdict


def _compare_rates(schedule: checks.Schedule, expected, source: str) -> None:
    """The rates of ``schedule`` equal ``expected`` (up to a float32 computation's rounding)."""
    rates = schedule.rates()
    if checks.rates_close(rates, expected):
        return
    bad = int(np.flatnonzero(~np.isclose(rates, expected, rtol=1e-5, atol=1e-300))[0])
    described, _ = schedule.values()[bad]
    mistake = schedule.mistake(rates)
    fail(
        schedule.name,
        f"{described} = {rates[bad]:.6g}, but {source} gives {expected[bad]:.6g} for that step"
        + (f": {mistake}." if mistake else "."),
    )


def hidden_learning_rate(learning_rate) -> Verdict:
    """Unseen settings (one step per epoch, a fast decay, late steps), the reference and
    ExponentialLR."""
    verdict = checks.check_learning_rate(
        learning_rate, lr0=0.03, decay=0.97, steps_per_epoch=13, n_epochs=5,
        boundaries=range(121, 301),
    )  # fmt: skip
    with verdict.expect(
        "change the rate at step e * steps_per_epoch for 100 larger steps_per_epoch"
    ):
        spes = np.random.default_rng(29).choice(np.arange(301, 20000), 100, replace=False)
        schedules = checks.boundary_schedules(
            learning_rate, sorted(spes.tolist()), (1, 4), lr0=2.0, decay=0.7
        )
        checks.examine_epoch_starts(schedules)
    with verdict.expect("agree with the reference, with one step per epoch and at late steps"):
        for lr0, decay, steps_per_epoch, steps in (
            (3.0, 0.5, 1, range(8)),
            (0.2, 0.95, 6, (0, 5, 6, 599, 600, 1234)),
        ):
            schedule = checks.Schedule(
                learning_rate, lr0=lr0, decay=decay, steps_per_epoch=steps_per_epoch, steps=steps
            )
            expected = [reference.learning_rate(s, steps_per_epoch, lr0, decay) for s in steps]
            _compare_rates(schedule, np.array(expected), "the reference")
    with verdict.expect("agree with torch.optim.lr_scheduler.ExponentialLR stepped once per epoch"):
        steps_per_epoch, lr0, decay = 7, 0.1, 0.8
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
        torch_rates = []
        for step in range(5 * steps_per_epoch):
            torch_rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if (step + 1) % steps_per_epoch == 0:
                scheduler.step()
        steps = range(len(torch_rates))
        schedule = checks.Schedule(
            learning_rate, lr0=lr0, decay=decay, steps_per_epoch=steps_per_epoch, steps=steps
        )
        source = f"torch.optim.lr_scheduler.ExponentialLR(gamma={decay}), stepped once per epoch,"
        _compare_rates(schedule, np.array(torch_rates), source)
    return verdict


def hidden_max_norm(max_norm) -> Verdict:
    """Unseen c and shapes, float32, and agreement with torch.renorm."""
    verdict = checks.check_max_norm(max_norm, c=2.0, n_in=7, n_out=30, seed=4, dtype=np.float32)
    with verdict.expect("agree with torch.renorm and the reference on each column"):
        W = np.random.default_rng(12).standard_normal((50, 9)) * np.linspace(0.1, 1.5, 9)
        result = np.asarray(call(max_norm, "max_norm", "max_norm(W, c=4.0)", W, 4.0))
        # nn.Linear stores (n_out, n_in), so torch.renorm over dim 0 of W.T bounds our columns.
        renormed = torch.renorm(torch.from_numpy(W.T), p=2, dim=0, maxnorm=4.0).T.numpy()
        if not allclose(result, renormed):
            fail(
                "max_norm",
                "max_norm(W, c=4.0) differs from torch.renorm applied to each "
                "column's incoming weights.",
            )
        if not allclose(result, reference.max_norm(W, 4.0)):
            fail("max_norm", "max_norm(W, c=4.0) differs from the reference.")
    return verdict


def hidden_momentum_amplification(momentum_amplification) -> Verdict:
    """Unseen coefficients, and the exact value of the reference (the settled velocity solves
    v = momentum * v - lr * g, so v = -lr * g / (1 - momentum))."""
    verdict = Verdict(checks.AMPLIFICATION)
    checks.amplification_properties(verdict, momentum_amplification, (0.2, 0.75, 0.99))
    with verdict.expect("agree with the exact value, 1 / (1 - momentum)"):
        agrees_with_exact(
            checks.AMPLIFICATION,
            momentum_amplification,
            [(0.3,), (0.8,), (0.999,)],
            reference.momentum_amplification,
            "the settled velocity solves v = momentum v - lr g.",
        )
    return verdict


def hidden_max_norm_experiment(max_norm_experiment) -> Verdict:
    """Other radii, another seed: the same properties (the errors themselves depend on the
    student's own run, so they are not compared)."""
    verdict = Verdict(checks.NORM_EXPERIMENT.name)
    checks.norm_experiment_properties(verdict, max_norm_experiment, (0.25, 0.45), 2, 2)
    return verdict
