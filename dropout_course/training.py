"""The training loop the chapters share: small multilayer perceptrons on the CPU.

Everything is seeded, and single-threaded when ``torch.set_num_threads(1)`` is called (the
chapters do), so reruns are bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes=(64, 256, 256, 10), input_drop=0.0, hidden_drop=0.0, activation=nn.ReLU):
    """A fully connected network with dropout on its input and after each hidden layer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, output last.
    input_drop, hidden_drop : float
        Drop probabilities (0 leaves the layer out).
    activation : type
        Hidden non-linearity.

    Returns
    -------
    torch.nn.Sequential
    """
    layers: list[nn.Module] = []
    if input_drop > 0:
        layers.append(nn.Dropout(input_drop))
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
            if hidden_drop > 0:
                layers.append(nn.Dropout(hidden_drop))
    return nn.Sequential(*layers)


def hidden_linears(model: nn.Module) -> list[nn.Linear]:
    """The linear layers that feed hidden units (every ``nn.Linear`` but the last)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]


@torch.no_grad()
def apply_max_norm(model: nn.Module, c: float | Sequence[float]) -> None:
    """Project each hidden unit's incoming weights onto the L2 ball of radius ``c``, in place.

    ``c`` is one radius for every hidden layer, or one per layer of :func:`hidden_linears`.
    ``nn.Linear.weight`` has shape (n_out, n_in), so a unit's incoming weights are a row.
    """
    layers = hidden_linears(model)
    radii = [c] * len(layers) if isinstance(c, (int, float)) else list(c)
    if len(radii) != len(layers):
        raise ValueError(f"{len(radii)} radii for {len(layers)} hidden layers")
    for layer, radius in zip(layers, radii, strict=True):
        layer.weight.copy_(torch.renorm(layer.weight, p=2, dim=0, maxnorm=radius))


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Return (error rate, mean negative log-likelihood) of ``model`` in evaluation mode."""
    was_training = model.training
    model.eval()
    logits = model(X)
    model.train(was_training)
    error = (logits.argmax(dim=1) != y).double().mean().item()
    return error, F.cross_entropy(logits, y).item()


@dataclass
class History:
    """What :func:`train` records, one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    test_nll: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    max_col_norm: list[float] = field(default_factory=list)


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 50,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float = 0.0,
    l2: float = 0.0,
    lr_decay: float = 1.0,
    max_norm: float | Sequence[float] | None = None,
    seed: int = 0,
    X_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    eval_every: int = 0,
    penalty: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> History:
    """Train ``model`` with cross-entropy on (X, y) by minibatches; return its history.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place. Its initial weights are the caller's (seed before building it).
    X, y : torch.Tensor
        Training inputs and integer labels.
    epochs, batch_size : int
        Passes over the data and examples per step.
    optimizer : {"adam", "sgd"}
        Adam, or SGD with ``momentum``.
    lr, momentum : float
        Optimiser settings.
    l2 : float
        Strength of the course's L2 penalty (chapter 01): ``l2 / 2`` times the sum of squares of
        the weight matrices, biases left out, added to the loss (with SGD this is weight decay;
        with Adam it is not, and it is still this penalty).
    lr_decay : float
        Learning rate multiplied by this after every epoch.
    max_norm : float, sequence of float, or None
        If set, every hidden unit's incoming weight vector is projected onto the ball of
        this radius (one for all hidden layers, or one per layer) after every update.
    seed : int
        Seed of the minibatch order and of the dropout masks.
    X_test, y_test : torch.Tensor, optional
        Evaluated every ``eval_every`` epochs (and after the last) when given.
    penalty : callable, optional
        Maps a minibatch's mean cross-entropy to the loss minimised (e.g. adding an L1
        penalty); the L2 penalty of ``l2`` is added after it.
    on_epoch : callable, optional
        Called after every epoch as ``on_epoch(epoch, {"train_loss": ..., "train_error": ...})``
        with the epoch's mean cross-entropy and error rate over its minibatches (as training
        saw them), e.g. to measure a validation set and track early stopping.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks come from the global generator
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_decay)
    weights = [p for p in model.parameters() if p.ndim == 2]  # the L2 penalty's
    history = History()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(X), generator=generator)
        total, wrong = 0.0, 0
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            logits = model(X[batch])
            nll = F.cross_entropy(logits, y[batch])
            loss = nll if penalty is None else penalty(nll)
            if l2:
                loss = loss + l2 / 2 * sum((W**2).sum() for W in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if max_norm is not None:
                apply_max_norm(model, max_norm)
            total += nll.item() * len(batch)
            wrong += int((logits.argmax(dim=1) != y[batch]).sum())
        scheduler.step()
        history.train_loss.append(total / len(X))
        if on_epoch is not None:
            on_epoch(epoch, {"train_loss": total / len(X), "train_error": wrong / len(X)})
        norms = [layer.weight.norm(dim=1).max().item() for layer in hidden_linears(model)]
        history.max_col_norm.append(max(norms) if norms else 0.0)
        if X_test is not None and ((eval_every and epoch % eval_every == 0) or epoch == epochs):
            history.eval_epochs.append(epoch)
            error, nll = evaluate(model, X_test, y_test)
            history.test_error.append(error)
            history.test_nll.append(nll)
            history.train_error.append(evaluate(model, X, y)[0])
    return history
