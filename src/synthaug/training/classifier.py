"""Classifier training with soft targets, optional transform and in-batch mixing.

The same loop trains the feature extractor and every method's classifier, so all
of them share architecture and schedule; the epoch is chosen on validation loss
(never on test data).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..augment import soft_cross_entropy
from ..errors import TrainingError
from ..progress import progress

log = logging.getLogger(__name__)

Transform = Callable[[Tensor, torch.Generator], Tensor]
Mixing = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


@dataclass
class FitResult:
    """Best weights (by validation loss) and the per-epoch history."""

    state_dict: dict[str, Tensor]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, float]:
        """History row of the chosen epoch."""
        return self.history[self.best_epoch - 1]


@torch.no_grad()
def predict_proba(model: nn.Module, images: Tensor, batch_size: int = 512,
                  device: torch.device | str = "cpu") -> Tensor:
    """Softmax probabilities of a deterministic (eval-mode) pass, on the CPU."""
    was_training = model.training
    model.eval()
    out = [F.softmax(model(images[i:i + batch_size].to(device)), dim=1).cpu()
           for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Shuffled index batches; a trailing batch of one image is dropped (batch norm needs 2)."""
    perm = torch.randperm(n, generator=generator)
    batches = [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    return [b for b in batches if len(b) >= 2]


def fit_classifier(
    model: nn.Module,
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    transform: Transform | None = None,
    mixing: Mixing | None = None,
    on_epoch: Callable[[dict[str, float]], Any] | None = None,
    desc: str = "classifier",
) -> FitResult:
    """Train with Adam on soft targets ``train_y`` (N, C); keep the epoch of lowest val loss.

    ``transform`` (traditional augmentation) and ``mixing`` (mixup, zeta-mixup) are
    applied per batch with ``generator``; validation uses hard labels ``val_y``.
    """
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    val_y_dev = val_y.to(device)
    best_loss, best_state, best_epoch = math.inf, None, 0
    history: list[dict[str, float]] = []
    for epoch in progress(range(1, epochs + 1), desc=desc):
        model.train()
        total, count = 0.0, 0
        for idx in _batches(len(train_x), batch_size, generator):
            x, y = train_x[idx], train_y[idx]
            if transform is not None:
                x = transform(x, generator)
            if mixing is not None:
                x, y = mixing(x, y, generator)
            x, y = x.to(device), y.to(device)
            loss = soft_cross_entropy(model(x), y)
            if not torch.isfinite(loss):
                raise TrainingError(f"{desc}: training loss became {loss.item()} at epoch {epoch}; "
                                    "lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        probs = predict_proba(model, val_x, device=device).to(device)
        val_loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), val_y_dev).item()
        val_acc = (probs.argmax(1) == val_y_dev).float().mean().item()
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
               "val_accuracy": val_acc}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
    if best_state is None:
        raise TrainingError(f"{desc}: validation loss was never finite")
    model.load_state_dict(best_state)
    log.info("%s: best epoch %d (val loss %.4f, val accuracy %.3f)", desc, best_epoch,
             history[best_epoch - 1]["val_loss"], history[best_epoch - 1]["val_accuracy"])
    return FitResult(best_state, best_epoch, history)
