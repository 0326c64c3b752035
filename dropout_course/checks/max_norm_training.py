"""Contract checks of exercise 05 (max-norm regularisation): ``momentum_step`` and
``learning_rate``. (``max_norm`` is checked by :func:`.numpy_dropout.check_max_norm`.)

The contracts, as the exercise states them:

- ``momentum_step(W, grad, velocity, lr, momentum, c=None)`` returns ``(W_new, velocity_new)``
  with ``velocity_new = momentum * velocity - lr * grad`` and
  ``W_new = max_norm(W + velocity_new, c)``: the projection comes AFTER the update, the velocity
  is the proposed step (before the projection), ``c=None`` skips the projection, and no input is
  modified.
- ``learning_rate(step, steps_per_epoch, lr0, decay)`` returns
  ``lr0 * decay ** (step // steps_per_epoch)``: the rate decays once per epoch, and the first
  epoch (steps ``0 .. steps_per_epoch - 1``) uses ``lr0``.

Both are deterministic, so every comparison is exact up to floating-point rounding.
"""

from __future__ import annotations

import numbers

import numpy as np

from .core import (
    ContractViolation,
    allclose,
    as_array,
    call,
    check_shape,
    expect_pair,
    fail,
    first_match,
)


def _project(W, c):
    """Each column of ``W`` onto the ball of radius ``c`` (the contract of ``max_norm``)."""
    norms = np.linalg.norm(W, axis=0, keepdims=True)
    return W * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))


def _project_rows(W, c):
    return _project(W.T, c).T


def _close(a, b) -> bool:
    """``allclose`` with a tolerance that suits float32 as well as float64 inputs."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-5))


def step_inputs(n_in, n_out, c, *, seed=0, dtype=np.float64, lr=0.1):
    """Inputs of one step whose columns tell the known mistakes apart.

    The columns of ``W`` have norms from ``0.2 c`` to ``1.6 c`` (the last one a single weight of
    ``1.3 c``); the gradient and the previous
    velocity are scaled so that the update pushes some columns that were inside the ball out
    of it (projecting before the update then leaves them too long) and leaves others inside.
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out))
    W *= np.linspace(0.2 * c, 1.6 * c, n_out) / np.linalg.norm(W, axis=0)
    W[:, -1] = 0.0
    W[0, -1] = 1.3 * c  # one large weight: clipping weights one by one differs from projecting
    grad = rng.standard_normal((n_in, n_out)) * (0.5 * c / (lr * np.sqrt(n_in)))
    velocity = rng.standard_normal((n_in, n_out)) * (0.4 * c / np.sqrt(n_in))
    return W.astype(dtype), grad.astype(dtype), velocity.astype(dtype)


def _result_pair(result, name, described):
    expect_pair(
        result,
        name,
        described,
        "(W_new, velocity_new)",
        allow_list=True,
        hint="The velocity must be returned so that the next step can use it.",
    )
    W_new, v_new = result
    if v_new is None:
        fail(
            name,
            f"{described} returned velocity_new=None: return the updated velocity, "
            "momentum * velocity - lr * grad, so that the next step can use it.",
        )
    return (
        as_array(W_new, name, "W_new (the first element returned)"),
        as_array(v_new, name, "velocity_new (the second element returned)"),
    )


def _velocity_candidates(W, grad, velocity, lr, momentum, c, W_new):
    """Wrong velocities that students return, with what each one means."""
    return [
        (
            "momentum sign error in the velocity: the step must go downhill, "
            "velocity_new = momentum * velocity - lr * grad (minus lr * grad, not plus)",
            momentum * velocity + lr * grad,
        ),
        (
            "the velocity was not updated: the second value returned is the velocity you were "
            "given; return the new one, momentum * velocity - lr * grad",
            velocity,
        ),
        (
            "the velocity ignores the previous velocity (no momentum term): "
            "velocity_new = momentum * velocity - lr * grad",
            -lr * grad,
        ),
        (
            "the velocity is in PyTorch's convention (v = momentum * v + grad, W = W - lr * v); "
            "this exercise uses velocity_new = momentum * velocity - lr * grad, W_new = "
            "W + velocity_new",
            momentum * velocity + grad,
        ),
        (
            "the velocity was multiplied by (1 - momentum); this exercise uses "
            "velocity_new = momentum * velocity - lr * grad, without a (1 - momentum) factor",
            momentum * velocity - (1 - momentum) * lr * grad,
        ),
        (
            "the velocity returned is the step after the projection (W_new - W); return the "
            "proposed step before the projection, momentum * velocity - lr * grad, so that "
            "the projection does not change the momentum",
            W_new - W,
        ),
    ]


def _weight_candidates(W, grad, velocity, lr, momentum, c):
    """Wrong new weights that students return, with what each one means."""
    v_new = momentum * velocity - lr * grad
    project = (lambda A: A) if c is None else (lambda A: _project(A, c))
    candidates = []
    if c is not None:
        candidates += [
            (
                "W_new was not projected: after the update, every column longer than c must be "
                "rescaled to norm c (call max_norm(W + velocity_new, c))",
                W + v_new,
            ),
            (
                "the projection was applied BEFORE the update (max_norm(W, c) + velocity_new), "
                "so the update can leave columns longer than c; project after the update: "
                "W_new = max_norm(W + velocity_new, c)",
                _project(W, c) + v_new,
            ),
            (
                "the rows of W were projected (check your max_norm): each hidden unit's "
                "incoming weights are a COLUMN W[:, j]",
                _project_rows(W + v_new, c),
            ),
            (
                "each weight was clipped to [-c, c] separately; max-norm bounds the L2 norm of "
                "each column as a whole: W_new = max_norm(W + velocity_new, c)",
                np.clip(W + v_new, -c, c),
            ),
            (
                "the whole matrix was projected onto the ball of radius c; the constraint is on "
                "each column separately",
                (W + v_new) * min(1.0, c / max(np.linalg.norm(W + v_new), 1e-300)),
            ),
        ]
    candidates += [
        (
            "momentum sign error: the update went uphill; with velocity_new = momentum * "
            "velocity - lr * grad the weights move by + velocity_new",
            project(W - v_new),
        ),
        (
            "the update used the OLD velocity (W + velocity); compute velocity_new first, "
            "then W_new from W + velocity_new",
            project(W + velocity),
        ),
        (
            "the weights moved by -lr * grad only: the momentum term is missing from the "
            "update (W_new = W + velocity_new)",
            project(W - lr * grad),
        ),
        (
            "the learning rate was applied twice (W + lr * velocity_new); the velocity "
            "already contains lr, so W_new = W + velocity_new",
            project(W + lr * v_new),
        ),
        (
            "the update is in PyTorch's convention with the velocity of this exercise "
            "(W - lr * (momentum * velocity + grad)); use velocity_new = momentum * velocity "
            "- lr * grad and W_new = W + velocity_new",
            project(W - lr * (momentum * velocity + grad)),
        ),
    ]
    return candidates


def check_step(momentum_step, W, grad, velocity, lr, momentum, c, *, name="momentum_step"):
    """Check one call of ``momentum_step``; return ``(W_new, velocity_new)``."""
    described = f"momentum_step(W, grad, velocity, lr={lr}, momentum={momentum}, c={c})"
    originals = [W.copy(), grad.copy(), velocity.copy()]
    try:
        result = momentum_step(W, grad, velocity, lr, momentum, c)
    except NotImplementedError:
        fail(
            name,
            "is not implemented yet (it, or a function it calls such as your max_norm, "
            "raised NotImplementedError).",
        )
    except ContractViolation:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        hint = (
            " With c=None there is no max-norm constraint: skip the projection."
            if c is None
            else ""
        )
        fail(name, f"{described} raised {type(error).__name__}: {error}.{hint}")
    inputs = zip(("W", "grad", "velocity"), (W, grad, velocity), originals, strict=True)
    for label, array, original in inputs:
        if not np.array_equal(array, original):
            fail(
                name,
                f"{described} modified its input {label} in place; compute new arrays "
                "(v_new = momentum * velocity - lr * grad; W_new = W + v_new) instead of "
                "+= or -= on the inputs.",
            )
    W_new, v_new = _result_pair(result, name, described)
    check_shape(W_new, W.shape, name, "W_new")
    check_shape(v_new, W.shape, name, "velocity_new")
    if not (np.all(np.isfinite(W_new)) and np.all(np.isfinite(v_new))):
        fail(name, f"{described} returned NaN or inf.")
    expected_v = momentum * velocity - lr * grad
    expected_W = W + expected_v if c is None else _project(W + expected_v, c)
    if not _close(v_new, expected_v):
        candidates = _velocity_candidates(W, grad, velocity, lr, momentum, c, W_new)
        mistake = first_match(candidates, v_new, _close)
        fail(
            name,
            f"{described}: {mistake or 'velocity_new is wrong'}. Expected velocity_new = "
            "momentum * velocity - lr * grad.",
        )
    if not _close(W_new, expected_W):
        mistake = first_match(_weight_candidates(W, grad, velocity, lr, momentum, c), W_new, _close)
        formula = "W + velocity_new" if c is None else "max_norm(W + velocity_new, c)"
        fail(name, f"{described}: {mistake or 'W_new is wrong'}. Expected W_new = {formula}.")
    if c is not None and np.any(np.linalg.norm(W_new, axis=0) > c * (1 + 1e-4)):
        fail(name, f"{described}: a column of W_new is longer than c={c}.")
    return W_new, v_new


def check_trajectory(
    momentum_step, *, n_steps=6, shape=(8, 5), lr=0.2, momentum=0.9, c=1.0, seed=3
):
    """Several steps from zero velocity, each fed the velocity the previous one returned."""
    name = "momentum_step"
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(shape) * (0.5 * c / np.sqrt(shape[0]))
    velocity = np.zeros(shape)
    W_ref, v_ref = W.copy(), velocity.copy()
    for step in range(n_steps):
        grad = rng.standard_normal(shape) * (c / (lr * np.sqrt(shape[0])))
        W, velocity = check_step(momentum_step, W, grad, velocity, lr, momentum, c)
        v_ref = momentum * v_ref - lr * grad
        W_ref = _project(W_ref + v_ref, c)
        if not _close(W, W_ref):
            fail(
                name,
                f"after {step + 1} steps from velocity = 0 (each step given the velocity the "
                "previous one returned), W differs from max_norm(W + velocity_new, c) applied "
                "step by step.",
            )


def check_momentum_step(
    momentum_step, *, n_in=12, n_out=9, lr=0.1, momentum=0.9, c=1.5, seed=0, dtype=np.float64
):
    """Check ``momentum_step(W, grad, velocity, lr, momentum, c=None)`` against the contract.

    Parameters
    ----------
    momentum_step : callable
        The student's function.
    n_in, n_out : int
        Shape of the weights (``n_in`` must differ from ``n_out`` so that rows and columns are
        told apart).
    lr, momentum, c : float
        Learning rate, momentum coefficient and max-norm radius.
    seed : int
        Seed of the inputs.
    dtype : numpy dtype
        Dtype of the inputs.
    """
    W, grad, velocity = step_inputs(n_in, n_out, c, seed=seed, dtype=dtype, lr=lr)
    check_step(momentum_step, W, grad, velocity, lr, momentum, c)
    check_step(momentum_step, W, grad, velocity, lr, momentum, None)
    check_step(momentum_step, W, grad, np.zeros_like(velocity), lr, 0.0, c)
    check_trajectory(momentum_step, lr=2 * lr, momentum=momentum, c=c, seed=seed + 3)


# ---------------------------------------------------------------------------- learning_rate


def _rate_candidates(steps, steps_per_epoch, lr0, decay):
    """Wrong learning-rate schedules, with what each one means."""
    epoch = steps // steps_per_epoch
    return [
        (
            "the decay was applied after every STEP (decay ** step); it is applied once per "
            "epoch: lr0 * decay ** (step // steps_per_epoch)",
            lr0 * decay**steps,
        ),
        (
            "off by one: the first epoch already used lr0 * decay; epoch e (from 0) uses "
            "lr0 * decay ** e, so steps 0 .. steps_per_epoch - 1 use lr0",
            lr0 * decay ** (epoch + 1),
        ),
        (
            "off by one: the steps were counted from 1, so the last step of every epoch "
            "already used the next epoch's rate; steps are counted from 0 and the epoch is "
            "step // steps_per_epoch",
            lr0 * decay ** ((steps + 1) // steps_per_epoch),
        ),
        (
            "off by one: the epoch was rounded up (ceil) instead of down; the epoch of a step "
            "is step // steps_per_epoch",
            lr0 * decay ** np.ceil(steps / steps_per_epoch),
        ),
        (
            "the rate decays within an epoch (decay ** (step / steps_per_epoch)); it must stay "
            "constant during an epoch: use integer division, step // steps_per_epoch",
            lr0 * decay ** (steps / steps_per_epoch),
        ),
        (
            "step % steps_per_epoch (the position inside the epoch) was used as the epoch; "
            "the epoch is step // steps_per_epoch",
            lr0 * decay ** (steps % steps_per_epoch),
        ),
        (
            "lr0 is missing: the rate is lr0 * decay ** epoch",
            decay**epoch,
        ),
        (
            "the decay factor multiplies the epoch instead of being raised to its power; "
            "exponential decay is lr0 * decay ** epoch",
            lr0 * decay * epoch,
        ),
    ]


def check_schedule(learning_rate, *, lr0, decay, steps_per_epoch, n_steps, name="learning_rate"):
    """Check ``learning_rate`` on steps ``0 .. n_steps - 1``; return the rates."""
    rates = []
    for step in range(n_steps):
        described = (
            f"learning_rate(step={step}, steps_per_epoch={steps_per_epoch}, lr0={lr0}, "
            f"decay={decay})"
        )
        value = call(learning_rate, name, described, step, steps_per_epoch, lr0, decay)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            fail(name, f"{described} must return a number, got {type(value).__name__}.")
        if not np.isfinite(value):
            fail(name, f"{described} returned {value}.")
        rates.append(float(value))
    rates = np.array(rates)
    steps = np.arange(n_steps)
    expected = lr0 * decay ** (steps // steps_per_epoch)
    if allclose(rates, expected):
        return rates
    mistake = first_match(_rate_candidates(steps, steps_per_epoch, lr0, decay), rates, allclose)
    wrong = int(np.flatnonzero(~np.isclose(rates, expected, rtol=1e-5, atol=1e-12))[0])
    fail(
        name,
        f"with lr0={lr0}, decay={decay}, steps_per_epoch={steps_per_epoch}: "
        f"{mistake or 'wrong schedule'}. For example step {wrong} (epoch "
        f"{wrong // steps_per_epoch}) must use {expected[wrong]:.6g}, got {rates[wrong]:.6g}.",
    )
    return rates  # not reached


def check_learning_rate(learning_rate, *, lr0=0.5, decay=0.9, steps_per_epoch=4, n_epochs=5):
    """Check ``learning_rate(step, steps_per_epoch, lr0, decay)`` against the contract.

    Parameters
    ----------
    learning_rate : callable
        The student's function.
    lr0, decay : float
        Initial rate and per-epoch factor.
    steps_per_epoch, n_epochs : int
        The schedule is checked on every step of ``n_epochs`` epochs.
    """
    check_schedule(
        learning_rate,
        lr0=lr0,
        decay=decay,
        steps_per_epoch=steps_per_epoch,
        n_steps=steps_per_epoch * n_epochs,
    )
