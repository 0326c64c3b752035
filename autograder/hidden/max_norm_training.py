"""Hidden tests of exercise 05 (max-norm regularisation): the contracts of ``momentum_step``
and ``learning_rate`` on inputs the student has not seen, compared with the references and with
PyTorch (``torch.optim.SGD`` with ``torch.renorm`` after every step, and
``torch.optim.lr_scheduler.ExponentialLR``). ``hidden_max_norm`` is the COURSE-SPEC one.
"""

from __future__ import annotations

import numpy as np
import torch

from dropout_course.checks import max_norm_training as checks
from dropout_course.checks.core import call, fail

from ..reference import max_norm_training as reference
from .bernoulli_masks import hidden_max_norm

__all__ = ["hidden_learning_rate", "hidden_max_norm", "hidden_momentum_step"]


def _same(a, b, rtol=1e-6, atol=1e-8) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


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
    """Train the same least-squares layer with the student's step and with torch.optim.SGD."""
    name = "momentum_step"
    rng = np.random.default_rng(seed)
    n, n_in, n_out = 40, 6, 4
    X = rng.standard_normal((n, n_in))
    Y = X @ (3.0 * rng.standard_normal((n_in, n_out)))  # the best weights lie far outside c
    W0 = 0.3 * rng.standard_normal((n_in, n_out))
    torch_weights, torch_buffers = _torch_trajectory(W0, X, Y, lr, momentum, c, n_steps)
    W, velocity = W0.copy(), np.zeros_like(W0)
    for step in range(n_steps):
        grad = X.T @ (X @ W - Y) / n  # the gradient of the same loss, at the student's W
        W, velocity = checks.check_step(momentum_step, W, grad, velocity, lr, momentum, c)
        # torch: buf = momentum * buf + grad, W = W - lr * buf; here velocity = -lr * buf.
        if not _same(W, torch_weights[step], rtol=1e-5, atol=1e-7):
            fail(
                name,
                f"after {step + 1} steps on a least-squares layer (lr={lr}, momentum={momentum}, "
                f"c={c}), W differs from torch.optim.SGD followed by torch.renorm. With a "
                "constant learning rate the two momentum conventions give the same weights.",
            )
        if not _same(velocity, -lr * torch_buffers[step], rtol=1e-5, atol=1e-7):
            fail(
                name,
                f"after {step + 1} steps the velocity is not -lr times torch.optim.SGD's "
                "momentum buffer; velocity_new = momentum * velocity - lr * grad.",
            )


def hidden_momentum_step(momentum_step):
    """Unseen shapes, settings and dtype; agreement with the reference and with torch.optim.SGD."""
    checks.check_momentum_step(
        momentum_step, n_in=7, n_out=15, lr=0.05, momentum=0.99, c=3.0, seed=8, dtype=np.float32
    )
    rng = np.random.default_rng(21)
    for c in (2.0, None, 0.5):
        W, grad, velocity = checks.step_inputs(9, 5, c or 1.0, seed=int(rng.integers(1000)), lr=0.3)
        got = checks.check_step(momentum_step, W, grad, velocity, 0.3, 0.95, c)
        expected = reference.momentum_step(W, grad, velocity, 0.3, 0.95, c)
        for value, reference_value, label in zip(
            got, expected, ("W_new", "velocity_new"), strict=True
        ):
            if not _same(value, reference_value):
                fail("momentum_step", f"with c={c}, {label} differs from the reference.")
    _compare_with_torch(momentum_step, lr=0.05, momentum=0.9, c=2.0)
    _compare_with_torch(momentum_step, lr=0.02, momentum=0.95, c=None)


def hidden_learning_rate(learning_rate):
    """Unseen settings (one step per epoch, a fast decay), the reference and ExponentialLR."""
    name = "learning_rate"
    checks.check_schedule(learning_rate, lr0=2.0, decay=0.5, steps_per_epoch=1, n_steps=8)
    checks.check_schedule(learning_rate, lr0=0.03, decay=0.97, steps_per_epoch=13, n_steps=60)
    for step in (0, 5, 6, 599, 600, 1234):
        got = call(learning_rate, name, f"learning_rate({step}, 6, 0.2, 0.95)", step, 6, 0.2, 0.95)
        if not _same(got, reference.learning_rate(step, 6, 0.2, 0.95), rtol=1e-9, atol=0):
            fail(name, f"learning_rate({step}, 6, 0.2, 0.95) differs from the reference.")
    # PyTorch: ExponentialLR(gamma=decay), stepped once at the end of every epoch.
    steps_per_epoch, lr0, decay = 7, 0.1, 0.8
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
    for step in range(5 * steps_per_epoch):
        torch_rate = optimizer.param_groups[0]["lr"]
        described = f"learning_rate({step}, {steps_per_epoch}, {lr0}, {decay})"
        got = call(learning_rate, name, described, step, steps_per_epoch, lr0, decay)
        if not _same(got, torch_rate, rtol=1e-9, atol=0):
            fail(
                name,
                f"{described} = {got}, but "
                f"torch.optim.lr_scheduler.ExponentialLR(gamma={decay}), stepped once per "
                f"epoch, gives {torch_rate} for that step.",
            )
        optimizer.step()
        if (step + 1) % steps_per_epoch == 0:
            scheduler.step()
