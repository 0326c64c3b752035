"""Contract checks for the PyTorch exercises: the ``Dropout`` module and ``predict``."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .core import binomial_band, call, expect_value_error, fail


class BuiltInDropoutUsed(Exception):
    """Raised when a from-scratch module calls one of PyTorch's own dropout functions."""


class _NoBuiltInDropout(TorchFunctionMode):
    """Refuse every PyTorch function whose name says dropout while the student's module runs.

    A torch-function mode sees each call into PyTorch by the function actually called, not by
    the name the student's code used for it: ``F.dropout`` imported under another name before
    the check started, ``torch._VF.dropout``, ``torch.native_dropout``, ``torch.ops.aten``'s
    overloads and an ``nn.Dropout`` held inside the module all arrive here as ``dropout`` or
    ``native_dropout``. The tensor operations a from-scratch module uses (``rand_like``,
    ``bernoulli``, ``bernoulli_``, ``mul``) never carry that name.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or str(func)
        if "dropout" in name.lower():
            raise BuiltInDropoutUsed(name)
        return func(*args, **(kwargs or {}))


def forbid_built_in_dropout() -> contextlib.AbstractContextManager:
    """A context in which PyTorch's own dropout functions raise :class:`BuiltInDropoutUsed`."""
    return _NoBuiltInDropout()


def _run(module, x, described):
    """Run ``module(x)`` with the built-in dropouts forbidden; return the output tensor."""
    name = "Dropout"
    try:
        with forbid_built_in_dropout():
            out = module(x)
    except BuiltInDropoutUsed as used:
        fail(
            name,
            f"{described} called PyTorch's own dropout ({used}; the same goes for "
            "F.dropout, nn.Dropout and torch.dropout under any name). Build it from tensor "
            "operations: draw a mask with torch.rand or torch.bernoulli and multiply.",
        )
    except NotImplementedError:
        fail(name, "is not implemented yet (it raised NotImplementedError).")
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported
        fail(name, f"{described} raised {type(error).__name__}: {error}")
    if not isinstance(out, torch.Tensor):
        fail(name, f"{described} must return a torch.Tensor, got {type(out).__name__}.")
    return out


def _make(Dropout, p):
    module = call(Dropout, "Dropout", f"Dropout(p={p})", p)
    if not isinstance(module, torch.nn.Module):
        fail(
            "Dropout",
            "must be a subclass of torch.nn.Module (class Dropout(nn.Module)) and "
            "call super().__init__() in __init__.",
        )
    return module


def check_module_training(Dropout, *, p=0.3, shape=(400, 250), seed=0, dtype=torch.float32):
    """Check the training-mode output and gradient of ``Dropout(p)`` on one input.

    Returns
    -------
    x, out, kept : torch.Tensor
        The input and output as float64, and the boolean mask of kept units.
    """
    name = "Dropout"
    generator = torch.Generator().manual_seed(seed + 100)
    x = (torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5).to(dtype)
    x.requires_grad_(True)
    module = _make(Dropout, p)
    module.train()
    described = f"Dropout(p={p}) in training mode on a {dtype} tensor of shape {tuple(shape)}"
    torch.manual_seed(seed)
    out = _run(module, x, described)
    if out.shape != x.shape:
        fail(name, f"{described} returned shape {tuple(out.shape)}; it must keep the shape.")
    if out.dtype != x.dtype:
        fail(name, f"{described} returned dtype {out.dtype}; it must keep the input's dtype.")
    values = out.detach().to(torch.float64)
    if not torch.all(torch.isfinite(values)):
        fail(name, f"{described} returned NaN or inf values.")
    kept = values != 0
    dropped = 1.0 - kept.double().mean().item()
    band = binomial_band(x.numel(), p)
    if abs(dropped - p) > band:
        if abs(dropped - (1 - p)) <= binomial_band(x.numel(), 1 - p):
            fail(
                name,
                f"{described} dropped {dropped:.3f} of the units: p is used as the keep "
                "probability. Here (as in torch.nn.Dropout) p is the probability of "
                f"DROPPING a unit, so keep each with probability 1 - p = {1 - p:g}.",
            )
        if dropped < band:
            fail(
                name,
                f"{described} dropped no units: in training mode (self.training is "
                "True) each element must be dropped with probability p.",
            )
        fail(name, f"{described} dropped a fraction {dropped:.3f}; it must be close to {p}.")
    rows = kept.reshape(kept.shape[0], -1)
    if torch.all(rows == rows[0]) or torch.all(rows == rows[:, :1]):
        fail(
            name,
            f"{described}: the mask repeats across rows or columns; draw an independent "
            "mask value for every element (torch.rand(x.shape) or torch.rand_like(x)).",
        )
    scale = values[kept] / x.detach().to(torch.float64)[kept]
    if not torch.allclose(scale, torch.full_like(scale, 1.0 / (1.0 - p)), rtol=1e-4):
        seen = scale.mean().item()
        if abs(seen - 1.0) < 1e-4:
            hint = "kept units were not scaled; inverted dropout divides them by (1 - p)"
        elif abs(seen - (1.0 - p)) < 1e-4:
            hint = "kept units were multiplied by (1 - p); divide by (1 - p) instead"
        elif abs(seen - 1.0 / p) < 1e-4:
            hint = "kept units were divided by p; the keep probability is 1 - p"
        else:
            hint = f"kept units were scaled by {seen:.4f}"
        fail(name, f"{described}: {hint}. Expected kept units to equal x / (1 - p).")
    if not out.requires_grad or out.grad_fn is None:
        fail(
            name,
            f"{described}: the output is cut off from autograd (does not require grad). "
            "Do not use .detach(), .data, .numpy() or torch.tensor(...) on x: multiply "
            "x by a mask so that gradients flow.",
        )
    out.sum().backward()
    expected_grad = kept.to(torch.float64) / (1.0 - p)
    if x.grad is None or not torch.allclose(x.grad.to(torch.float64), expected_grad, atol=1e-5):
        fail(
            name,
            f"{described}: the gradient d out / d x must be mask / (1 - p) (the "
            "kept units' scale, zero where dropped).",
        )
    return x.detach().to(torch.float64), values, kept


def check_module_matches_torch(Dropout, *, p=0.3, shape=(400, 250), seed=0, dtype=torch.float32):
    """Compare with ``torch.nn.Dropout(p)``, which has the same semantics: the same drop rate
    (within the band for two independent rates), the same scale of kept units, and the same
    identity in evaluation mode."""
    x, values, kept = check_module_training(Dropout, p=p, shape=shape, seed=seed, dtype=dtype)
    theirs = torch.nn.Dropout(p).train()(torch.ones_like(x))
    their_kept = theirs != 0
    band = binomial_band(x.numel(), p) * 2**0.5
    rate, their_rate = kept.double().mean().item(), their_kept.double().mean().item()
    if abs(rate - their_rate) > band:
        fail(
            "Dropout",
            f"Dropout(p={p}) kept {rate:.3f} of the units; "
            f"torch.nn.Dropout(p={p}) keeps {their_rate:.3f}.",
        )
    scale, their_scale = values[kept] / x[kept], theirs[their_kept].mean()
    if not torch.allclose(scale, their_scale.expand_as(scale)):
        fail(
            "Dropout",
            f"Dropout(p={p}) scales kept units by {scale.mean().item():.4f}; "
            f"torch.nn.Dropout(p={p}) scales them by {their_scale.item():.4f}.",
        )


def check_module_generator(Dropout, *, p=0.5):
    """The mask must come from torch's generator: the same torch seed, the same mask."""
    x = torch.ones(64, 64)
    module = _make(Dropout, p)
    module.train()
    np.random.seed(1)  # noqa: NPY002 - moving NumPy's global state on purpose
    torch.manual_seed(11)
    first = _run(module, x, f"Dropout(p={p})")
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(11)
    again = _run(module, x, f"Dropout(p={p})")
    torch.manual_seed(12)
    other = _run(module, x, f"Dropout(p={p})")
    if not torch.equal(first, again):
        fail(
            "Dropout",
            "two calls after the same torch.manual_seed(...) gave different masks; "
            "draw the mask from torch's generator (torch.rand, torch.bernoulli), "
            "not from NumPy or Python's random module.",
        )
    if torch.equal(first, other):
        fail(
            "Dropout",
            "gave the same mask after different torch seeds; the mask must be "
            "drawn afresh from torch's generator on every call.",
        )


def check_module_evaluation(Dropout, *, p=0.3, dtype=torch.float32):
    """In evaluation mode the module is the identity."""
    x = torch.linspace(0.5, 2.0, 24, dtype=dtype).reshape(2, 3, 4)
    module = _make(Dropout, p)
    module.eval()
    described = f"Dropout(p={p}) after .eval()"
    out = _run(module, x, described)
    if out.shape != x.shape or out.dtype != x.dtype:
        fail("Dropout", f"{described} must keep shape and dtype.")
    if not torch.equal(out, x):
        if torch.any(out == 0):
            fail(
                "Dropout",
                f"{described} still dropped units: check self.training and return "
                "x unchanged when it is False (model.eval() sets it to False).",
            )
        fail(
            "Dropout",
            f"{described} must return x unchanged (inverted dropout needs no "
            "scaling at evaluation).",
        )


def check_module_edges(Dropout):
    """p = 0 is the identity, p = 1 gives zeros (no NaN), p outside [0, 1] raises ValueError."""
    x = torch.linspace(0.5, 2.0, 30).reshape(5, 6)
    module = _make(Dropout, 0.0)
    module.train()
    if not torch.allclose(_run(module, x, "Dropout(p=0)"), x):
        fail("Dropout", "Dropout(p=0) in training must return x unchanged.")
    module = _make(Dropout, 1.0)
    module.train()
    out = _run(module, x, "Dropout(p=1)")
    if not torch.all(torch.isfinite(out)):
        fail(
            "Dropout",
            "Dropout(p=1) returned NaN or inf: dividing by 1 - p = 0; every unit is "
            "dropped, so return zeros.",
        )
    if torch.any(out != 0):
        fail("Dropout", "Dropout(p=1) in training must return all zeros.")

    def build_and_run(p):
        module = Dropout(p)
        module.train()
        return module(x)

    for bad in (-0.2, 1.5):
        expect_value_error(build_and_run, "Dropout", f"Dropout(p={bad})", bad)


def check_dropout_module(Dropout, *, p=0.3):
    """Check the student's ``Dropout`` module class against the contract.

    Parameters
    ----------
    Dropout : type
        The student's ``torch.nn.Module`` subclass.
    p : float
        Drop probability for the statistical checks.
    """
    check_module_matches_torch(Dropout, p=p)
    check_module_training(Dropout, p=p, shape=(300, 40), dtype=torch.float64, seed=3)
    check_module_evaluation(Dropout, p=p)
    check_module_generator(Dropout)
    check_module_edges(Dropout)


# --------------------------------------------------------------------------------- predict


def _modes(model):
    return [m.training for m in model.modules()]


def check_predict_on(predict, model, x, *, start_training=True):
    """Check ``predict(model, x)`` for a model containing dropout, starting in a given mode."""
    name = "predict"
    model.train(start_training)
    before = _modes(model)
    params = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        model.eval()
        expected = model(x)
    model.train(start_training)
    mode = "training" if start_training else "evaluation"
    described = f"predict(model, x) on a model in {mode} mode"
    torch.manual_seed(0)
    first = call(predict, name, described, model, x)
    after = _modes(model)
    torch.manual_seed(1)
    second = call(predict, name, described, model, x)
    if not isinstance(first, torch.Tensor):
        fail(name, f"{described} must return a torch.Tensor, got {type(first).__name__}.")
    if any(not torch.equal(a, b) for a, b in zip(params, model.parameters(), strict=True)):
        fail(name, f"{described} changed the model's parameters; predicting must not train.")
    if first.requires_grad:
        fail(
            name,
            f"{described} returned a tensor that requires grad: it built an autograd "
            "graph. Run the forward pass inside `with torch.no_grad():`.",
        )
    if not torch.allclose(first.detach(), expected, atol=1e-6) or not torch.equal(first, second):
        fail(
            name,
            f"{described} gave a different output than the model in evaluation mode "
            "(dropout was still active, so two predictions of the same input differ). "
            "Call model.eval() before the forward pass.",
        )
    if after != before:
        if start_training:
            fail(
                name,
                f"{described} left the model in evaluation mode; restore the mode it "
                "had before the call (remember model.training, then model.train(it)).",
            )
        fail(
            name,
            f"{described} switched the model to training mode; restore the mode it had "
            "before the call instead of calling model.train() unconditionally.",
        )


def check_predict(predict, *, seed=0):
    """Check the student's ``predict(model, x)`` against the contract.

    Parameters
    ----------
    predict : callable
        The student's function.
    seed : int
        Seed of the model's weights and of the input.
    """
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 3)
    )
    x = torch.randn(16, 8)
    check_predict_on(predict, model, x, start_training=True)
    check_predict_on(predict, model, x, start_training=False)
