"""Contract checks of exercise 05 (max-norm regularisation): ``max_norm``, ``momentum_step``
and ``learning_rate``.

The contracts, as the exercise states them:

- ``momentum_step(W, grad, velocity, lr, momentum, c=None)`` returns ``(W_new, velocity_new)``
  with ``velocity_new = momentum * velocity - lr * grad`` and
  ``W_new = max_norm(W + velocity_new, c)``: the projection comes AFTER the update, the velocity
  is the proposed step (before the projection), ``c=None`` skips the projection, and no input is
  modified. (The pair may be a tuple or a list; the exercise asks for no particular dtype, so
  values are compared in float64.)
- ``learning_rate(step, steps_per_epoch, lr0, decay)`` returns, as a number,
  ``lr0 * decay ** (step // steps_per_epoch)``: the rate decays once per epoch, and the first
  epoch (steps ``0 .. steps_per_epoch - 1``) uses ``lr0``.

Each ``check_*`` returns a :class:`~dropout_course.checks.core.Verdict` with one entry per
property of the contract, so a test cell's points are shared among them. Each call of the
student's function is made once (:class:`StepCall`, :class:`Schedule`) and examined by every
property that needs it. Both functions are deterministic, so every comparison is exact up to
floating-point rounding, with a tolerance that a correct float32 computation meets. A rate may
be anything :func:`~.core.as_number` reads as one number (a Python or NumPy int or float, a
Fraction or Decimal, an array or tensor holding one number), as in every check of the course.
"""

from __future__ import annotations

import numpy as np
import torch

from .bernoulli_masks import ExperimentSpec, experiment_properties
from .core import (
    CallInterrupted,
    ContractViolation,
    Memo,
    Verdict,
    agrees_with_measurement,
    allclose,
    as_array,
    as_number,
    call,
    check_shape,
    expect_pair,
    expect_value_error,
    fail,
    first_match,
    same_dtype,
    type_name,
)

NAME = "momentum_step"


def _project(W, c):
    """Each column of ``W`` onto the ball of radius ``c`` (the contract of ``max_norm``), by
    PyTorch's ``renorm`` (an implementation the course did not write)."""
    W = torch.from_numpy(np.asarray(W, dtype=np.float64))
    return torch.renorm(W, p=2, dim=1, maxnorm=c).numpy()


def _project_rows(W, c):
    return _project(W.T, c).T


def close(a, b) -> bool:
    """Values compared in float64, with a tolerance that a float32 computation meets; False
    (not an error) for mismatched shapes, NaN or inf."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
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


# ---------------------------------------------------------------------------- momentum_step


class StepCall:
    """One call of ``momentum_step`` on copies of its inputs, made on first use and examined by
    several properties: whether it changed its inputs, and the pair it returned (copied when
    it returned, so that later calls cannot change what is examined)."""

    def __init__(self, momentum_step, W, grad, velocity, lr, momentum, c, *, where=""):
        self.inputs = {"W": W, "grad": grad, "velocity": velocity}
        self.lr, self.momentum, self.c = lr, momentum, c
        self.described = (
            f"momentum_step(W, grad, velocity, lr={lr}, momentum={momentum}, c={c}){where}"
        )
        self.W, self.grad, self.velocity = (
            np.asarray(a, dtype=np.float64) for a in self.inputs.values()
        )
        self.expected_velocity = momentum * self.velocity - lr * self.grad
        self.expected_W = self.project(self.W + self.expected_velocity)
        self._result = Memo(lambda: self._call(momentum_step))

    def project(self, A):
        """``max_norm(A, c)``, or ``A`` itself when ``c`` is None."""
        return A if self.c is None else _project(A, self.c)

    def _call(self, momentum_step):
        given = {label: np.array(a, copy=True) for label, a in self.inputs.items()}
        try:
            result = momentum_step(*given.values(), self.lr, self.momentum, self.c)
        except NotImplementedError:
            fail(
                NAME,
                "is not implemented yet (it, or a function it calls such as your max_norm, "
                "raised NotImplementedError).",
            )
        except ContractViolation:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of student code is reported
            hint = " With c=None there is no max-norm constraint: skip the projection."
            hint = hint if self.c is None else ""
            fail(NAME, f"{self.described} raised {type_name(error)}: {error}.{hint}")
        if isinstance(result, (tuple, list)):  # a snapshot of the arrays returned
            result = tuple(np.array(r) if isinstance(r, np.ndarray) else r for r in result)
        return given, result

    def answered(self) -> bool:
        """Whether the call returned a pair (rather than raising or being stopped)."""
        try:
            _, result = self._result()
        except (ContractViolation, CallInterrupted):
            return False
        return isinstance(result, tuple) and len(result) == 2

    def modified(self) -> list[str]:
        """The names of the inputs that the call changed."""
        given, _ = self._result()
        return [label for label, original in self.inputs.items()
                if not np.array_equal(given[label], original, equal_nan=True)]  # fmt: skip

    def _pair(self):
        _, result = self._result()
        hint = "The velocity must be returned so that the next step can use it."
        return expect_pair(
            result, NAME, self.described, "(W_new, velocity_new)", allow_list=True, hint=hint
        )

    def velocity_new(self) -> np.ndarray:
        """The velocity returned, as float64."""
        velocity = self._pair()[1]
        if velocity is None:
            fail(
                NAME,
                f"{self.described} returned velocity_new=None: return the updated velocity, "
                "momentum * velocity - lr * grad, so that the next step can use it.",
            )
        what = f"velocity_new (the second value {self.described} returned)"
        velocity = as_array(velocity, NAME, what)
        check_shape(velocity, self.W.shape, NAME, f"velocity_new of {self.described}")
        return velocity.astype(np.float64)

    def W_new(self) -> np.ndarray:
        """The weights returned, as float64."""
        what = f"W_new (the first value {self.described} returned)"
        W_new = as_array(self._pair()[0], NAME, what)
        check_shape(W_new, self.W.shape, NAME, f"W_new of {self.described}")
        return W_new.astype(np.float64)


def _velocity_candidates(step: StepCall, W_new):
    """Wrong velocities that students return: (what it means, the velocity, whether the update
    ``W + velocity`` with it is otherwise right, so that the weights are not blamed for it)."""
    W, grad, velocity, lr, momentum = step.W, step.grad, step.velocity, step.lr, step.momentum
    candidates = [
        ("momentum sign error in the velocity: the step must go downhill, "
         "velocity_new = momentum * velocity - lr * grad (minus lr * grad, not plus)",
         momentum * velocity + lr * grad, True),
        ("the velocity was not updated: the second value returned is the velocity you were "
         "given; return the new one, momentum * velocity - lr * grad", velocity, False),
        ("the velocity ignores the previous velocity (no momentum term): "
         "velocity_new = momentum * velocity - lr * grad", -lr * grad, True),
        ("the velocity is in PyTorch's convention (v = momentum * v + grad, W = W - lr * v); "
         "this exercise uses velocity_new = momentum * velocity - lr * grad, W_new = "
         "W + velocity_new", momentum * velocity + grad, False),
        ("the velocity was multiplied by (1 - momentum); this exercise uses "
         "velocity_new = momentum * velocity - lr * grad, without a (1 - momentum) factor",
         momentum * velocity - (1 - momentum) * lr * grad, True),
    ]  # fmt: skip
    if W_new is not None:
        candidates.append((
            "the velocity returned is the step after the projection (W_new - W); return the "
            "proposed step before the projection, momentum * velocity - lr * grad, so that "
            "the projection does not change the momentum", W_new - W, False))  # fmt: skip
    return candidates


def velocity_mistake(step: StepCall, velocity_new, *, consistent_only=False) -> str | None:
    """What a wrong ``velocity_new`` did, if it is a known mistake (with ``consistent_only``,
    only the mistakes in the velocity's formula whose update ``W + velocity_new`` is right)."""
    try:
        W_new = step.W_new()
    except ContractViolation:
        W_new = None
    candidates = [(text, value) for text, value, consistent in _velocity_candidates(step, W_new)
                  if consistent or not consistent_only]  # fmt: skip
    return first_match(candidates, velocity_new, close)


def _weight_candidates(step: StepCall):
    """Wrong new weights that students return, with what each one means."""
    W, grad, velocity, lr, momentum, c = (step.W, step.grad, step.velocity, step.lr,
                                          step.momentum, step.c)  # fmt: skip
    v_new, project = step.expected_velocity, step.project
    candidates = []
    if c is not None:
        norm = max(np.linalg.norm(W + v_new), 1e-300)
        candidates += [
            ("W_new was not projected: after the update, every column longer than c must be "
             "rescaled to norm c (call max_norm(W + velocity_new, c))", W + v_new),
            ("the projection was applied BEFORE the update (max_norm(W, c) + velocity_new), "
             "so the update can leave columns longer than c; project after the update: "
             "W_new = max_norm(W + velocity_new, c)", _project(W, c) + v_new),
            ("the rows of W were projected (check your max_norm): each hidden unit's "
             "incoming weights are a COLUMN W[:, j]", _project_rows(W + v_new, c)),
            ("each weight was clipped to [-c, c] separately; max-norm bounds the L2 norm of "
             "each column as a whole: W_new = max_norm(W + velocity_new, c)",
             np.clip(W + v_new, -c, c)),
            ("the whole matrix was projected onto the ball of radius c; the constraint is on "
             "each column separately", (W + v_new) * min(1.0, c / norm)),
        ]  # fmt: skip
    else:
        candidates.append((
            "W_new was projected although c is None; with c=None there is no max-norm "
            "constraint: W_new = W + velocity_new", _project(W + v_new, 1.0)))  # fmt: skip
    return candidates + [
        ("momentum sign error: the update went uphill; with velocity_new = momentum * "
         "velocity - lr * grad the weights move by + velocity_new", project(W - v_new)),
        ("the update used the OLD velocity (W + velocity); compute velocity_new first, "
         "then W_new from W + velocity_new", project(W + velocity)),
        ("the weights moved by -lr * grad only: the momentum term is missing from the "
         "update (W_new = W + velocity_new)", project(W - lr * grad)),
        ("the learning rate was applied twice (W + lr * velocity_new); the velocity "
         "already contains lr, so W_new = W + velocity_new", project(W + lr * v_new)),
        ("the update is in PyTorch's convention with the velocity of this exercise "
         "(W - lr * (momentum * velocity + grad)); use velocity_new = momentum * velocity "
         "- lr * grad and W_new = W + velocity_new",
         project(W - lr * (momentum * velocity + grad))),
    ]  # fmt: skip


def weight_mistake(step: StepCall, W_new) -> str | None:
    """What a wrong ``W_new`` did, if it is a known mistake."""
    return first_match(_weight_candidates(step), W_new, close)


def examine_inputs(step: StepCall) -> None:
    """The call left ``W``, ``grad`` and ``velocity`` as they were."""
    changed = step.modified()
    if changed:
        fail(
            NAME,
            f"{step.described} modified its input{'s' if len(changed) > 1 else ''} "
            f"{' and '.join(changed)} in place; compute new arrays (v_new = momentum * velocity "
            "- lr * grad; W_new = W + v_new) instead of += or -= on the inputs.",
        )


def examine_velocity(step: StepCall) -> None:
    """``velocity_new = momentum * velocity - lr * grad``."""
    velocity_new = step.velocity_new()
    if close(velocity_new, step.expected_velocity):
        return
    if not np.all(np.isfinite(velocity_new)):
        mistake = "velocity_new holds NaN or inf"
    else:
        mistake = velocity_mistake(step, velocity_new) or "velocity_new is wrong"
    fail(NAME, f"{step.described}: {mistake}. Expected velocity_new = momentum * velocity - "
               "lr * grad.")  # fmt: skip


def examine_weights(step: StepCall) -> None:
    """``W_new = max_norm(W + velocity_new, c)`` (``W + velocity_new`` when ``c`` is None).

    A velocity with a mistake in its formula is the velocity property's failure: weights that
    are the right update with the velocity returned are not blamed for it.
    """
    W_new = step.W_new()
    if close(W_new, step.expected_W):
        return
    if not np.all(np.isfinite(W_new)):
        fail(NAME, f"{step.described} returned NaN or inf in W_new.")
    try:
        velocity_new = step.velocity_new()
    except ContractViolation:
        velocity_new = None
    if velocity_new is not None and velocity_mistake(step, velocity_new, consistent_only=True):
        if close(W_new, step.project(step.W + velocity_new)):
            return
    formula = "W + velocity_new" if step.c is None else "max_norm(W + velocity_new, c)"
    mistake = weight_mistake(step, W_new) or "W_new is wrong"
    fail(NAME, f"{step.described}: {mistake}. Expected W_new = {formula}.")


def examine_unconstrained(step: StepCall, constrained: StepCall) -> None:
    """With ``c=None``, ``W_new = W + velocity_new``, not projected. A mistake in the update
    that the call with a radius makes too is the failure of the property about ``W_new``, not of
    this one (which is about handling ``c=None``)."""
    try:
        examine_weights(step)
    except ContractViolation:
        mistake = weight_mistake(step, step.W_new())
        try:
            same = mistake is not None and mistake == weight_mistake(
                constrained, constrained.W_new()
            )
        except ContractViolation:
            same = False
        if not same:
            raise


def _run_calls(momentum_step, *, n_steps, shape, lr, momentum, c, seed, dtype):
    """Calls at the successive states of a run from velocity = 0: each step is given the
    weights and velocity that the contract's previous step gives (so that one wrong step
    does not spoil the next ones)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(shape) * (0.5 * c / np.sqrt(shape[0]))
    velocity = np.zeros(shape)
    calls = []
    for k in range(n_steps):
        grad = rng.standard_normal(shape) * (c / (lr * np.sqrt(shape[0])))
        where = f" at step {k + 1} of a run from velocity = 0"
        calls.append(StepCall(momentum_step, W.astype(dtype), grad.astype(dtype),
                              velocity.astype(dtype), lr, momentum, c, where=where))  # fmt: skip
        velocity = momentum * velocity - lr * grad
        W = _project(W + velocity, c)
    return calls


def check_momentum_step(
    momentum_step, *, n_in=12, n_out=9, lr=0.1, momentum=0.9, c=1.5, seed=0, dtype=np.float64
) -> Verdict:
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
    verdict = Verdict(NAME)
    W, grad, velocity = step_inputs(n_in, n_out, c, seed=seed, dtype=dtype, lr=lr)
    constrained = [
        StepCall(momentum_step, W, grad, velocity, lr, momentum, c),
        StepCall(momentum_step, W, grad, np.zeros_like(velocity), lr, 0.0, c),
        *_run_calls(momentum_step, n_steps=5, shape=(8, 5), lr=2 * lr, momentum=momentum, c=c,
                    seed=seed + 3, dtype=dtype),
    ]  # fmt: skip
    unconstrained = StepCall(momentum_step, W, grad, velocity, lr, momentum, None)

    def answered():
        # The call with c=None counts for the first two properties only if it returned a
        # pair: not handling c=None is the failure of the last property.
        return constrained + ([unconstrained] if unconstrained.answered() else [])

    with verdict.expect("leave W, grad and velocity unchanged", side_condition=True):
        for step in answered():
            examine_inputs(step)
    with verdict.expect("return velocity_new = momentum * velocity - lr * grad"):
        for step in answered():
            examine_velocity(step)
    with verdict.expect("return W_new = max_norm(W + velocity_new, c), projected after the step"):
        for step in constrained:
            examine_weights(step)
    with verdict.expect("skip the projection when c is None: W_new = W + velocity_new"):
        examine_unconstrained(unconstrained, constrained[0])
    return verdict


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
            "the rate never decays: it must be multiplied by decay once per epoch, "
            "lr0 * decay ** (step // steps_per_epoch)",
            np.full(steps.shape, float(lr0)),
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


def rates_close(a, b) -> bool:
    """Rates equal up to the rounding of a float32 computation (relative tolerance only: a
    late epoch's rate is small)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-300))


def _as_rate(value, name, described) -> float:
    """The value of a returned rate: one real number, as :func:`~.core.as_number` reads it (any
    int or float, a Fraction or Decimal, a NumPy array or tensor holding one number)."""
    return as_number(value, name, f"the rate {described} returned")


class Schedule:
    """``learning_rate`` at ``steps`` of one setting, each step called once (on first use) and
    examined by several properties."""

    def __init__(self, learning_rate, *, lr0, decay, steps_per_epoch, steps, name="learning_rate"):
        self.lr0, self.decay, self.steps_per_epoch, self.name = lr0, decay, steps_per_epoch, name
        self.steps = np.asarray(list(steps))
        self.expected = lr0 * decay ** (self.steps // steps_per_epoch)
        self._values = Memo(lambda: [(self.described(int(s)), call(
            learning_rate, name, self.described(int(s)), int(s), steps_per_epoch, lr0, decay
        )) for s in self.steps])  # fmt: skip

    def described(self, step: int) -> str:
        return (f"learning_rate(step={step}, steps_per_epoch={self.steps_per_epoch}, "
                f"lr0={self.lr0}, decay={self.decay})")  # fmt: skip

    def values(self) -> list:
        """``(described, value returned)`` for each step."""
        return self._values()

    def rates(self) -> np.ndarray:
        """The rates returned, as float64."""
        return np.array([_as_rate(v, self.name, described) for described, v in self.values()])

    def mistake(self, rates) -> str | None:
        """What wrong ``rates`` did, if it is a known mistake."""
        candidates = _rate_candidates(self.steps, self.steps_per_epoch, self.lr0, self.decay)
        return first_match(candidates, rates, rates_close)

    def wrong(self, rates, at: int | None = None) -> str:
        """The message for a wrong schedule: the mistake (if it is a known one) and a step."""
        spe, lr0, decay = self.steps_per_epoch, self.lr0, self.decay
        mistake = self.mistake(rates)
        bad = np.flatnonzero(~np.isclose(rates, self.expected, rtol=1e-5, atol=1e-300))
        index = int(bad[0]) if len(bad) else (at or 0)
        step = int(self.steps[index])
        return (
            f"with lr0={lr0}, decay={decay}, steps_per_epoch={spe}: "
            f"{mistake or 'wrong schedule'}. For example step {step} (epoch {step // spe}) "
            f"must use {self.expected[index]:.6g}, got {rates[index]:.6g}."
        )


def examine_numbers(schedule: Schedule) -> None:
    """Every value returned is a finite real number."""
    for described, value in schedule.values():
        rate = _as_rate(value, schedule.name, described)
        if not np.isfinite(rate):
            fail(schedule.name, f"{described} returned {rate}; the rate must be a finite number.")


def examine_epochs(schedule: Schedule) -> None:
    """The rate changes exactly when a new epoch starts: constant within an epoch, and
    different from the previous epoch's (every check uses a decay other than 1)."""
    rates, steps = schedule.rates(), schedule.steps
    successive = steps[1:] == steps[:-1] + 1
    same = np.isclose(rates[1:], rates[:-1], rtol=1e-6, atol=0)
    new_epoch = steps[1:] % schedule.steps_per_epoch == 0
    broken = np.flatnonzero(successive & (same == new_epoch))
    if len(broken):
        fail(schedule.name, schedule.wrong(rates, at=int(broken[0]) + 1))


def examine_epoch_rates(schedule: Schedule) -> None:
    """The first step of epoch ``e`` uses ``lr0 * decay ** e`` (so the first epoch uses lr0)."""
    rates = schedule.rates()
    starts = schedule.steps % schedule.steps_per_epoch == 0
    if not rates_close(rates[starts], schedule.expected[starts]):
        fail(schedule.name, schedule.wrong(rates))


def boundary_schedules(learning_rate, spes, epochs, *, lr0=1.0, decay=0.5) -> list[Schedule]:
    """For each ``steps_per_epoch`` in ``spes``: the last step of epoch ``e - 1`` and the first
    step of epoch ``e`` (``e * steps_per_epoch - 1`` and ``e * steps_per_epoch``) for each ``e``
    in ``epochs``, where the rate must change."""
    return [Schedule(learning_rate, lr0=lr0, decay=decay, steps_per_epoch=spe,
                     steps=sorted({s for e in epochs for s in (e * spe - 1, e * spe)}))
            for spe in spes]  # fmt: skip


def _boundary_mistake(schedule: Schedule, steps, rates) -> str:
    """What the epochs used at the wrong ``steps`` (with their ``rates``) have in common."""
    spe, lr0, decay = schedule.steps_per_epoch, schedule.lr0, schedule.decay
    with np.errstate(all="ignore"):
        used = np.log(np.asarray(rates) / lr0) / np.log(decay)
    if not np.allclose(used, steps // spe - 1, rtol=0, atol=1e-6) or np.any(steps % spe):
        return ""
    if np.allclose(used, np.floor(steps * (1.0 / spe)), rtol=0, atol=1e-6):
        return (
            f": step * (1 / steps_per_epoch) is not exact in floating point ({spe} * (1 / {spe}) "
            f"= {spe * (1.0 / spe)!r}), so its floor lands one epoch short. Compute the epoch "
            "with integer division, step // steps_per_epoch"
        )
    return (
        ": the first step of an epoch was put in the epoch before, as when a floating-point "
        "computation of step / steps_per_epoch lands just below a whole number; compute the "
        "epoch with integer division, step // steps_per_epoch"
    )


def examine_epoch_starts(schedules: list[Schedule]) -> None:
    """At every epoch boundary of every schedule, the rate of the epoch that the step belongs
    to: ``lr0 * decay ** (step // steps_per_epoch)`` exactly where the epoch starts."""
    wrong = []
    for schedule in schedules:
        rates = schedule.rates()
        bad = ~np.isclose(rates, schedule.expected, rtol=1e-5, atol=1e-300)
        if bad.any():
            wrong.append((schedule, schedule.steps[bad], rates[bad]))
    if not wrong:
        return
    schedule, steps, rates = wrong[0]
    spe, step = schedule.steps_per_epoch, int(steps[0])
    right = schedule.expected[schedule.steps == step][0]
    listed = ", ".join(str(s.steps_per_epoch) for s, _, _ in wrong[:8])
    listed += ", ..." if len(wrong) > 8 else ""
    spes = [s.steps_per_epoch for s in schedules]
    fail(
        schedule.name,
        f"{schedule.described(step)} = {rates[0]:.6g}, but step {step} belongs to epoch "
        f"{step // spe} ({step} // {spe}), whose rate is {right:.6g}"
        f"{_boundary_mistake(schedule, steps, rates)}. The rate must change exactly at step "
        f"e * steps_per_epoch for every steps_per_epoch; it did not for steps_per_epoch = "
        f"{listed} (of {min(spes)} to {max(spes)}).",
    )


def check_learning_rate(
    learning_rate, *, lr0=0.5, decay=0.9, steps_per_epoch=4, n_epochs=5, boundaries=range(1, 121)
) -> Verdict:
    """Check ``learning_rate(step, steps_per_epoch, lr0, decay)`` against the contract.

    Parameters
    ----------
    learning_rate : callable
        The student's function.
    lr0, decay : float
        Initial rate and per-epoch factor (``decay`` other than 1).
    steps_per_epoch, n_epochs : int
        The schedule is checked on every step of ``n_epochs`` epochs.
    boundaries : iterable of int
        Values of ``steps_per_epoch`` at whose first two epoch boundaries the rate is checked
        (with lr0 = 1 and decay = 0.5): every value from 1 catches an epoch computed in floating
        point, which is off at the boundaries of only some of them (49, 98, 103, ...).
    """
    verdict = Verdict("learning_rate")
    schedule = Schedule(learning_rate, lr0=lr0, decay=decay, steps_per_epoch=steps_per_epoch,
                        steps=range(steps_per_epoch * n_epochs))  # fmt: skip
    with verdict.expect("return the rate as a finite number", side_condition=True):
        examine_numbers(schedule)
    with verdict.expect(
        "change the rate exactly when a new epoch starts, at step // steps_per_epoch"
    ):
        examine_epochs(schedule)
    with verdict.expect("start epoch e at lr0 * decay ** e (lr0 for the first epoch)"):
        examine_epoch_rates(schedule)
    with verdict.expect(
        f"change the rate at step e * steps_per_epoch for every steps_per_epoch from "
        f"{min(boundaries)} to {max(boundaries)}"
    ):
        examine_epoch_starts(boundary_schedules(learning_rate, boundaries, (1, 2)))
    return verdict


def _max_norm_input(c, n_in, n_out, seed, dtype):
    """Columns longer than ``c``, shorter than ``c`` and a zero column; rows with other norms
    than the columns, so projecting rows, the whole matrix, or every column is told apart."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out))
    target = np.linspace(0.3 * c, 3.0 * c, n_out)  # column norms from well inside to 3c
    W = W / np.linalg.norm(W, axis=0) * target
    W[:, n_out // 2] = 0.0
    return W.astype(dtype)


def _max_norm_candidates(W, c):
    norms = np.linalg.norm(W, axis=0)
    row_norms = np.linalg.norm(W, axis=1, keepdims=True)
    total = np.linalg.norm(W)
    safe = np.where(norms > 0, norms, 1.0)
    return [
        (
            "the rows were projected; each hidden unit's incoming weights are a COLUMN W[:, j] "
            "(x @ W), so take norms with axis=0",
            W * np.minimum(1.0, c / np.where(row_norms > 0, row_norms, 1.0)),
        ),
        (
            "the whole matrix was rescaled by its overall norm; the constraint is on each column "
            "separately",
            W * min(1.0, c / total),
        ),
        (
            "columns shorter than c were scaled up to norm c; the projection leaves a column "
            "inside the ball unchanged (rescale only where norm > c)",
            W * (c / safe),
        ),
        (
            "the squared norm was compared with c; the constraint is ||w||_2 <= c on the norm "
            "itself",
            W * np.minimum(1.0, c / safe**2),
        ),
    ]


def check_max_norm(max_norm, *, c=3.0, n_in=20, n_out=12, seed=0, dtype=np.float64) -> Verdict:
    """Check ``max_norm(W, c)`` against the contract."""
    name = "max_norm"
    verdict = Verdict(name)
    W = _max_norm_input(c, n_in, n_out, seed, dtype)
    described = f"max_norm(W of shape {W.shape}, c={c})"

    def run(matrix=W):
        given = matrix.copy()
        return given, as_array(call(max_norm, name, described, given, c), name, "the result")

    result = Memo(run)
    one_long = W.copy()  # only its last column is longer than c
    one_long[:, :-1] *= 0.9 * c / np.maximum(np.linalg.norm(one_long[:, :-1], axis=0), c)
    single = Memo(lambda: run(one_long))
    with verdict.expect(
        "return a new array of W's shape and dtype, leaving W unchanged", side_condition=True
    ):
        for matrix, outcome in ((W, result), (one_long, single)):
            given, projected = outcome()
            if not np.array_equal(given, matrix):
                fail(name, f"{described} modified W in place; return a new array.")
            check_shape(projected, W.shape, name, "the result")
            if not same_dtype(projected.dtype, W.dtype):
                fail(name, f"{described} returned dtype {projected.dtype} for W of dtype "
                           f"{W.dtype}.")  # fmt: skip
    with verdict.expect("leave a zero column zero (no NaN)", side_condition=True):
        _, projected = result()
        check_shape(projected, W.shape, name, "the result")
        column = projected[:, n_out // 2].astype(np.float64)
        if not np.all(np.isfinite(column)) or np.any(column != 0):
            fail(
                name,
                f"{described} returned NaN (or nonzero values) for a zero column: a zero column "
                "has norm 0, and dividing by it gives 0/0. It is inside the ball and must stay "
                "zero.",
            )
    with verdict.expect("project each column onto the ball of radius c"):
        _, projected = result()
        check_shape(projected, W.shape, name, "the result")
        Wf, got = W.astype(np.float64), projected.astype(np.float64)
        keep = np.arange(n_out) != n_out // 2  # the zero column is the property above
        norms = np.linalg.norm(Wf, axis=0)
        expected = Wf * np.minimum(1.0, c / np.where(norms > 0, norms, 1.0))
        if not allclose(got[:, keep], expected[:, keep]):
            mistake = first_match(
                [(m, w[:, keep]) for m, w in _max_norm_candidates(Wf, c)], got[:, keep], allclose
            )
            mistake = mistake or "the columns are not projected onto the ball of radius c"
            fail(
                name,
                f"{described}: {mistake}. Expected each column w to become w * min(1, c / ||w||).",
            )
    with verdict.expect("raise ValueError for c <= 0", side_condition=True):
        for bad in (0.0, -1.0):
            expect_value_error(max_norm, name, f"max_norm(W, c={bad})", W, bad)
    return verdict


# ------------------------------------------------------------------ momentum_amplification

AMPLIFICATION = "momentum_amplification"

#: Momentum coefficients the check asks about.
AMPLIFICATION_CASES = (0.0, 0.5, 0.9, 0.95)


def measured_amplification(momentum: float, *, steps: int = 5000) -> float:
    """How many plain gradient steps one momentum step is worth once the velocity has settled,
    MEASURED by running ``v <- momentum * v - lr * g`` with a constant gradient (not a formula)."""
    lr, g, v = 0.1, 2.0, 0.0
    for _ in range(steps):
        v = momentum * v - lr * g
    return abs(v) / (lr * g)


def check_amplification_case(momentum_amplification, momentum: float) -> None:
    described = f"momentum_amplification({momentum})"
    value = as_number(
        call(momentum_amplification, AMPLIFICATION, described, momentum), AMPLIFICATION, described
    )
    measured = measured_amplification(momentum)
    candidates = [
        ("that is momentum / (1 - momentum): the settled step also holds the gradient's own "
         "step, not only what the velocity carried over", measured - 1),
        ("that is 1 - momentum, the factor by which a step SHRINKS; the settled velocity is "
         "larger than one plain step", 1 / measured if measured else np.nan),
        ("that is 1 / momentum; the velocity adds up a geometric series of the past steps",
         1 / momentum if momentum else np.nan),
    ]  # fmt: skip
    how = "with a constant gradient the velocity settles at this many plain steps:"
    agrees_with_measurement(AMPLIFICATION, described, value, measured, 1e-6, how, candidates)


def amplification_properties(verdict: Verdict, momentum_amplification, cases) -> None:
    with verdict.expect("give how many plain steps a settled momentum step is worth"):
        for momentum in cases:
            check_amplification_case(momentum_amplification, momentum)


def check_momentum_amplification(momentum_amplification, *, cases=AMPLIFICATION_CASES) -> Verdict:
    """Check ``momentum_amplification(momentum)``: the factor by which momentum lengthens a
    step when the gradient stays the same, once the velocity has settled."""
    verdict = Verdict(AMPLIFICATION)
    amplification_properties(verdict, momentum_amplification, cases)
    return verdict


# ---------------------------------------------------------------------- max_norm_experiment

NORM_EXPERIMENT = ExperimentSpec("max_norm_experiment", "c", ("largest_norm",))


def check_norm_experiment_within(first: Memo) -> None:
    """The largest incoming-weight norm of a hidden unit the run reports is at most c."""
    for c, (_, _, largest) in first().items():
        if not largest <= c * (1 + 1e-5):  # NaN is not within c either
            fail(NORM_EXPERIMENT.name, f"with c={c} a hidden unit's incoming weights end with "
                                       f"norm {largest:.4g} > c: project with your max_norm after "
                                       "every update (a unit's incoming weights are a ROW of "
                                       "nn.Linear.weight, a column of our W).")  # fmt: skip


def norm_experiment_properties(verdict: Verdict, function, cs, seed, epochs) -> None:
    first = experiment_properties(verdict, function, cs, seed, epochs, NORM_EXPERIMENT)
    with verdict.expect("keep every hidden unit's incoming weights within c"):
        check_norm_experiment_within(first)


def check_max_norm_experiment(max_norm_experiment, *, cs=(0.3, 0.4), seed=0, epochs=3) -> Verdict:
    """Check ``max_norm_experiment(cs, seed=0, epochs=60)``: the digits network trained with the
    student's max_norm at each radius, its errors and its largest hidden-unit norm."""
    verdict = Verdict(NORM_EXPERIMENT.name)
    norm_experiment_properties(verdict, max_norm_experiment, cs, seed, epochs)
    return verdict
