"""Hidden tests of exercise 01 (*Overfitting*): the contract's properties on inputs the student
has not seen, compared with the reference implementations and, where PyTorch has the same
operation (autograd of the penalty, SGD's ``weight_decay``, ``torch.var``), with PyTorch.

Each ``hidden_*`` returns the :class:`~dropout_course.checks.core.Verdict` of the visible check
run on unseen inputs, with further properties of its own; the hidden test cell shares its points
among all of them.
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.content.reference import overfitting as reference
from dropout_course.checks import overfitting as checks
from dropout_course.checks.core import Memo, Verdict, agrees_with_exact, call, fail


def _holds(verdict: Verdict) -> None:
    """Fail with the failures of ``verdict`` (the visible check on other inputs), if any: for a
    property that runs the whole visible check once more."""
    if not verdict.passed:
        prefix = f"{verdict.name}: "
        fail(verdict.name, " Also: ".join(m.removeprefix(prefix) for m in verdict.failures))


# ---------------------------------------------------------------------- generalisation_gap


def hidden_generalisation_gap(generalisation_gap) -> Verdict:
    """Unseen curves; float32 arrays, tuples and a single epoch against the reference."""
    name = "generalisation_gap"
    verdict = checks.check_generalisation_gap(
        generalisation_gap,
        train=[2.3, 1.1, 0.7, 0.52, 0.31, 0.2, 0.12, 0.08, 0.05],
        val=[2.2, 1.15, 0.65, 0.55, 0.5, 0.52, 0.6, 0.66, 0.71],
    )
    rng = np.random.default_rng(11)
    train = np.sort(rng.uniform(0.0, 1.0, 60))[::-1].astype(np.float32)
    val = (train + rng.normal(0.05, 0.1, 60)).astype(np.float32)
    arrays = Memo(
        lambda: checks.call_gap(
            generalisation_gap, train.copy(), val.copy(), "generalisation_gap on float32 arrays"
        )
    )
    with verdict.expect("agree with the reference on float32 arrays and on a single epoch"):
        for described, call_, args in [
            ("generalisation_gap on two float32 arrays of 60 epochs", arrays, (train, val)),
            ("generalisation_gap on a single epoch", None, (np.array([0.4]), np.array([0.55]))),
        ]:
            # The expected value comes from the check's own arrays, computed before the call;
            # the student's function gets copies (what it does to them cannot change it).
            expected = reference.generalisation_gap(*(a.copy() for a in args))
            copies = [a.copy() for a in args]
            result = call_() if call_ else checks.call_gap(generalisation_gap, *copies, described)
            got = np.asarray(result, dtype=np.float64)
            if not checks.close_gaps(got, expected):
                fail(name, f"{described} differs from val_losses - train_losses.")
    with verdict.expect("accept tuples as well as lists and arrays", side_condition=True):
        described = "generalisation_gap on two tuples"
        pair = (tuple(train.tolist()), tuple(val.tolist()))
        got = np.asarray(checks.call_gap(generalisation_gap, *pair, described), dtype=np.float64)
        expected = reference.generalisation_gap(*pair)
        if not checks.same_answer(got, expected, arrays, close=checks.close_gaps):
            fail(name, f"{described} gives a different answer than for arrays of the same values.")
    return verdict


# --------------------------------------------------------------------------- bias_variance


def hidden_bias_variance(bias_variance) -> Verdict:
    """Unseen built stacks; a random stack against the reference and torch.var."""
    name = "bias_variance"
    verdict = checks.check_bias_variance(bias_variance, n_points=11, seed=3)
    rng = np.random.default_rng(5)
    truth = np.sin(np.linspace(-3.0, 3.0, 30))
    predictions = truth + 0.2 + rng.standard_normal((50, 30)) * np.linspace(0.1, 2.0, 30)
    described = "bias_variance(predictions of shape (50, 30), truth)"
    expected = reference.bias_variance(predictions, truth)
    run = checks.BiasVarianceCall(bias_variance, predictions, truth, expected, described)
    with verdict.expect("agree with torch (torch.var with correction=0) and the reference"):
        bias2, variance = run.pair()
        preds = torch.from_numpy(predictions)
        torch_variance = torch.var(preds, dim=0, correction=0).mean().item()
        torch_bias2 = ((preds.mean(dim=0) - torch.from_numpy(truth)) ** 2).mean().item()
        if not checks.close([bias2, variance], [torch_bias2, torch_variance]):
            fail(
                name,
                f"{described} returned ({bias2:.6g}, {variance:.6g}); torch gives bias2 "
                f"{torch_bias2:.6g} and variance (torch.var with correction=0) "
                f"{torch_variance:.6g}.",
            )
        if not checks.close([bias2, variance], expected):
            fail(name, f"{described} differs from the reference.")
    return verdict


# --------------------------------------------------------------------- early_stopping_epoch


def _variant(
    losses, patience, *, ties=False, reset=True, previous=False, shift=0, last=False, min_delta=0.0
):
    """Wrong early-stopping rules that students write (the hidden tests' diagnosis)."""
    losses = [float(v) for v in losses]
    best_epoch, best, waited = 1, losses[0], 0
    for epoch, loss in enumerate(losses[1:], start=2):
        reference_loss = (losses[epoch - 2] if previous else best) - min_delta
        improves = loss <= reference_loss if ties else loss < reference_loss
        if improves:
            if previous:
                if loss < best:
                    best_epoch, best = epoch, loss
            else:
                best_epoch, best = epoch, loss
            if reset:
                waited = 0
        else:
            waited += 1
            if waited == patience + shift:
                return (epoch if last else best_epoch), epoch
    return (len(losses) if last else best_epoch), len(losses)


#: (keyword arguments of _variant, what the mistake is).
_VARIANTS = [
    ({"ties": True}, "a tie with the best loss counted as an improvement (use <, not <=)"),
    (
        {"reset": False},
        "the count of epochs without improvement was not reset after an improvement: patience "
        "counts epochs IN A ROW without improvement",
    ),
    (
        {"previous": True},
        "an epoch was compared with the previous epoch instead of the best loss so far",
    ),
    ({"shift": 1}, "training stopped one epoch late"),
    ({"shift": -1}, "training stopped one epoch early"),
    ({"last": True}, "the stop epoch was returned as the best epoch"),
    *(
        (
            {"min_delta": min_delta},
            "improvements smaller than a threshold were ignored: a loss strictly lower than the "
            "best so far is an improvement however small (no min_delta, no tolerance such as "
            "np.isclose)",
        )
        for min_delta in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    ),
]


def _tiny_curves(seed=23, count=60):
    """Curves whose improvements are tiny (1e-6 to 1e-3), with ties with the best loss."""
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(count):
        losses = [float(rng.uniform(0.2, 3.0))]
        best = losses[0]
        for _ in range(int(rng.integers(1, 40))):
            kind, gap = rng.random(), 10 ** rng.uniform(-6, -3)
            loss = best - gap if kind < 0.45 else best if kind < 0.7 else best + gap
            losses.append(loss)
            best = min(best, loss)
        curves.append((losses, int(rng.integers(1, 6))))
    return curves


def _random_curves(seed=17, count=150):
    """Noisy U-shaped validation curves, rounded to 2 decimals so that ties happen."""
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(count):
        n = int(rng.integers(1, 40))
        t = np.arange(n)
        turn = rng.uniform(0, n)
        base = 1.0 / (1.0 + 0.3 * t) + 0.004 * np.maximum(t - turn, 0) ** 1.5
        curve = np.round(base + rng.normal(0, rng.choice([0.005, 0.02, 0.05]), n), 2)
        curves.append((curve.tolist(), int(rng.integers(1, 7))))
    return curves


#: Unseen hand-made cases: (losses, patience, expected, about, wrong). The first two have a tie
#: before their stop (the visible check examines them with the property about ties only).
HIDDEN_CASES = [
    (
        [0.9, 0.7, 0.8, 0.7, 0.75, 0.6],
        3,
        (2, 5),
        "the worked example",
        {
            (6, 6): "epoch 4 ties the best loss (0.7) and must not count as an improvement "
            "(use <, not <=); and an epoch improves only on the BEST loss so far, not on the "
            "previous epoch's"
        },
    ),
    ([0.5, 0.5, 0.5, 0.5], 2, (1, 3), "a flat curve", {}),
    ([0.5, 0.4, 0.3, 0.2, 0.1], 2, (5, 5), "a curve that improves every epoch", {}),
    ([0.8, 0.9, 0.7, 1.0, 0.65, 1.1, 1.2, 0.1], 2, (5, 7), "alternating epochs", {}),
    ([0.8, 0.6, 0.65, 0.62, 0.61, 0.7, 0.3], 4, (2, 6), "a slow drift just above the best", {}),
    (
        [1.0, 0.8, 0.85, 0.7, 0.75, 0.78, 0.74, 0.5],
        3,
        (4, 7),
        "a second minimum, then three worse epochs",
        {},
    ),
]

#: Unseen cases on which a tie decides the best epoch and patience never runs out.
HIDDEN_TIES = [
    ([1.3, 1.1, 0.8, 0.8, 0.95, 1.0, 1.4], 10, (3, 7), "a tie right after the best epoch", {}),
    ([0.45, 0.3, 0.3, 0.3, 0.5], 7, (2, 5), "three equal lowest losses", {}),
]


def hidden_early_stopping_epoch(early_stopping_epoch) -> Verdict:
    """Unseen hand-made cases, then random noisy curves and curves of tiny improvements,
    compared with the reference with their ties raised, and with themselves for the ties."""
    tiny = ((0.25, 2e-6, 3), (40.0, 2e-4, 2), (1.5, 3e-5, 4))
    verdict = checks.check_early_stopping_epoch(
        early_stopping_epoch, cases=HIDDEN_CASES, tiny=tiny, ties=HIDDEN_TIES
    )
    sets = {"noisy validation curves": _random_curves(), "curves of tiny improvements":
            _tiny_curves()}  # fmt: skip
    untied = {what: [(checks.untied(c), p) for c, p in curves] for what, curves in sets.items()}
    answers = {
        what: Memo(lambda curves=curves: _answers(early_stopping_epoch, curves))
        for what, curves in untied.items()
    }
    for what, count in (("noisy validation curves", 150), ("curves of tiny improvements", 60)):
        with verdict.expect(f"agree with the reference on {count} {what} (ties raised)"):
            _check_random_curves(untied[what], answers[what](), what)
    with verdict.expect(
        "answer for the random curves with ties as for the same curves with the ties raised",
        side_condition=True,
    ):
        _check_random_ties(early_stopping_epoch, sets, untied, answers)
    return verdict


def _answers(early_stopping_epoch, curves) -> list[tuple]:
    """The student's (best_epoch, stop_epoch) for each ``(losses, patience)`` of ``curves``."""
    name = "early_stopping_epoch"
    answers = []
    for losses, patience in curves:
        described = f"early_stopping_epoch(a curve of {len(losses)} epochs, patience={patience})"
        result = call(early_stopping_epoch, name, described, np.array(losses), patience)
        answers.append(checks.epoch_pair(result, name, described, allow_none=True))
    return answers


def _shown(losses) -> str:
    return ", ".join(f"{v:g}" for v in losses[:12]) + (", ..." if len(losses) > 12 else "")


def _check_random_curves(curves, answers, what) -> None:
    """Compare ``answers`` (one per curve) with the reference on ``curves``; name the rule the
    answers follow instead."""
    expected = [reference.early_stopping_epoch(losses, p) for losses, p in curves]
    wrong = [i for i, (a, e) in enumerate(zip(answers, expected, strict=True)) if a != e]
    if not wrong:
        return
    mistake = next(
        (
            what
            for kwargs, what in _VARIANTS
            if all(answers[i] == _variant(*curves[i], **kwargs) for i in wrong)
        ),
        None,
    )
    losses, patience = curves[wrong[0]]
    if mistake is None:
        mistake = checks._early_stopping_mistake(
            answers[wrong[0]], losses, patience, expected[wrong[0]]
        )
    fail(
        "early_stopping_epoch",
        f"wrong on {len(wrong)} of {len(curves)} {what}"
        f"{': ' + mistake if mistake else ''}. For example, for [{_shown(losses)}] with "
        f"patience={patience} it returned {answers[wrong[0]]}; expected {expected[wrong[0]]}.",
    )


def _check_random_ties(early_stopping_epoch, sets, untied, answers) -> None:
    """On each random curve with a tie the answer is the reference's, or the student's own
    answer for the same curve with the ties raised: a tie counts exactly as a worse loss."""
    for what, curves in sets.items():
        tied = [i for i, (losses, _) in enumerate(curves) if checks.tie_epochs(losses)]
        own = _answers(early_stopping_epoch, [curves[i] for i in tied])
        raised = answers[what]()
        wrong = [
            (i, got)
            for i, got in zip(tied, own, strict=True)
            if got != raised[i] and got != reference.early_stopping_epoch(*curves[i])
        ]
        if wrong:
            i, got = wrong[0]
            (losses, patience), ties = curves[i], checks.tie_epochs(curves[i][0])
            fail(
                "early_stopping_epoch",
                f"wrong on {len(wrong)} of the {len(tied)} {what} with ties: for "
                f"[{_shown(losses)}] with patience={patience} it returned {got}, but "
                f"{raised[i]} when the losses that tie the best one (epochs "
                f"{', '.join(map(str, ties[:6]))}) are raised slightly: a tie is not an "
                "improvement, so it must count exactly like a worse loss (use <, not <=).",
            )


# ------------------------------------------------------------------------------ l2_penalty


def hidden_l2_penalty(l2_penalty) -> Verdict:
    """Unseen lam and shapes (a 3-D kernel, float32), torch autograd and SGD weight decay."""
    name = "l2_penalty"
    verdict = checks.check_l2_penalty(
        l2_penalty,
        lam=0.03,
        params=checks.example_params(seed=4, shapes=((3, 2, 2), (3,), (6, 7), (7,), (7, 2))),
    )
    with verdict.expect("keep the contract on float32 parameters (lam = 0.2)"):
        float32 = checks.example_params(seed=8, dtype=np.float32)
        _holds(checks.check_l2_penalty(l2_penalty, lam=0.2, params=float32))
    with torch.random.fork_rng(devices=[]):  # the check's own draws, whatever the student's
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    params = [p.detach().numpy().astype(np.float64) for p in model.parameters()]
    lam = 0.07
    run = checks.PenaltyCall(l2_penalty, params, lam)
    described = "l2_penalty(the parameters of an nn.Linear stack, lam=0.07)"
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    torch_penalty = lam / 2 * sum((t**2).sum() for t in tensors if t.ndim >= 2)
    torch_penalty.backward()
    with verdict.expect("compute the penalty of torch and of the reference on an nn.Linear stack"):
        penalty = run.penalty()
        if not np.isclose(penalty, torch_penalty.item(), rtol=checks.RTOL):
            fail(name, f"{described}: the penalty differs from (lam / 2) * sum ||W||^2 in torch.")
        if not np.isclose(penalty, reference.l2_penalty(params, lam)[0], rtol=checks.RTOL):
            fail(name, f"{described} differs from the reference.")
    with verdict.expect("give torch's gradients, so that SGD steps as with weight_decay = lam"):
        run.check_count()
        grads = [np.asarray(g, dtype=np.float64) for g in run.grads()]
        for i, (grad, tensor) in enumerate(zip(grads, tensors, strict=True)):
            # A bias takes no part in the penalty: autograd leaves its .grad at None (zero).
            torch_grad = np.zeros(tensor.shape) if tensor.grad is None else tensor.grad.numpy()
            if not checks.close(grad, torch_grad):
                fail(name, f"{described}: grads[{i}] differs from torch's autograd of the penalty.")
        _check_sgd_step(params, grads, lam, described)
    return verdict


def _check_sgd_step(params, grads, lam, described) -> None:
    """One SGD step on a zero loss with weight_decay=lam on the weights only (biases in a group
    with weight_decay=0) moves every parameter by -lr * (its penalty gradient)."""
    lr = 0.5
    torch_params = [torch.nn.Parameter(torch.tensor(p)) for p in params]
    optimiser = torch.optim.SGD(
        [
            {"params": [p for p in torch_params if p.ndim >= 2], "weight_decay": lam},
            {"params": [p for p in torch_params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    for p in torch_params:
        p.grad = torch.zeros_like(p)
    optimiser.step()
    for i, (param, grad, stepped) in enumerate(zip(params, grads, torch_params, strict=True)):
        if not checks.close(param - lr * grad, stepped.detach().numpy()):
            fail(
                "l2_penalty",
                f"{described}: a gradient step with your grads[{i}] differs from "
                "torch.optim.SGD with weight_decay=lam on the weights (0 on the biases).",
            )


def hidden_expected_gap(expected_gap) -> Verdict:
    """Unseen noise levels, sizes and the exact value of the reference."""
    verdict = Verdict(checks.EXPECTED_GAP)
    checks.gap_properties(verdict, expected_gap, ((0.5, 4, 20), (2.0, 2, 30), (0.04, 8, 16)))
    with verdict.expect("agree with the exact value"):
        agrees_with_exact(
            checks.EXPECTED_GAP,
            expected_gap,
            [(0.3, 7, 100), (1.5, 1, 3), (0.01, 20, 400)],
            reference.expected_gap,
            "the fit's training error is sigma^2 (1 - k/n), its error on fresh noise "
            "sigma^2 (1 + k/n).",
        )
    return verdict
