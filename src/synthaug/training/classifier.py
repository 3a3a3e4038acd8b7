"""Classifier training with soft targets, optional transform and in-batch mixing.

The same loop trains the feature extractor and every method's classifiers, so all of
them share architecture and schedule. Several classifiers of one method (its seeds)
train together as the members of one :class:`~synthaug.models.grouped.GroupedResNet`:
each member keeps its own initialisation, data order, augmentation and mixing draws,
dropout masks, validation curve, best epoch and early stop, drawn from its own
generator in the same order as when it trains alone, so a member's run does not
depend on the others (``tests/test_classifier_training.py`` checks this). The epoch is
chosen on validation loss, never on test data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.errors import TrainingError
from ..core.params import Schedule
from ..core.progress import progress
from ..models.classifier import ResNetClassifier
from ..models.grouped import GroupedResNet
from .optim import Adam
from .precision import autocast

log = logging.getLogger(__name__)

Transform = Callable[[Tensor, torch.Generator], Tensor]
Mixing = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]
EpochCallback = Callable[[int, dict[str, float]], Any]  # (member index, history row)


@dataclass
class FitResult:
    """Best weights (by validation loss) and the per-epoch history of one member."""

    state_dict: dict[str, Tensor]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_epoch: int = 0  # the last epoch trained (early stop or the epoch limit)

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


@torch.no_grad()
def _grouped_logits(net: GroupedResNet, images: Tensor, precision: str, batch_size: int = 512) -> Tensor:
    """Eval-mode logits (G, N, K) of every member on the same images, in fp32."""
    device = net.fc_weight.device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device, non_blocking=True)
        with autocast(device, precision):
            out.append(net(x.unsqueeze(0).expand(net.groups, *x.shape)).float())
    return torch.cat(out, dim=1)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Shuffled index batches; a trailing batch of one image is dropped (batch norm needs 2)."""
    perm = torch.randperm(n, generator=generator)
    batches = [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    return [b for b in batches if len(b) >= 2]


def fit_classifiers(
    models: Sequence[ResNetClassifier],
    generators: Sequence[torch.Generator],
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    schedule: Schedule,
    *,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    transform: Transform | None = None,
    mixing: Mixing | None = None,
    on_epoch: EpochCallback | None = None,
    desc: str = "classifier",
) -> list[FitResult]:
    """Train every model on soft targets ``train_y`` (N, C), each with its own generator.

    Each model ends with the weights of its epoch of lowest validation loss (also
    returned). ``transform`` (traditional augmentation) and ``mixing`` (mixup,
    zeta-mixup) are applied per batch and member with that member's generator;
    validation uses hard labels ``val_y``. Returns one :class:`FitResult` per model.
    """
    if len(models) != len(generators) or not models:
        raise ValueError(f"{len(models)} models but {len(generators)} generators")
    device = torch.device(device)
    net = GroupedResNet(models).to(device)
    opt = Adam(net.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    x_all, y_all = train_x.to(device), train_y.to(device)
    val_x_dev, val_y_dev = val_x.to(device), val_y.to(device)
    active = list(range(len(models)))  # member index of every group, in group order
    results: list[FitResult | None] = [None] * len(models)
    histories: list[list[dict[str, float]]] = [[] for _ in models]
    best = [(math.inf, 0, None)] * len(models)  # (val loss, epoch, state dicts) per member
    waited = [0] * len(models)
    step = 0
    for epoch in progress(range(1, schedule.epochs + 1), desc=desc):
        net.train()
        gens = [generators[m] for m in active]
        member_batches = [_batches(len(x_all), schedule.batch_size, g) for g in gens]
        totals = torch.zeros(len(active), device=device)
        count = 0
        steps_per_epoch = len(member_batches[0])
        for batch_idx in zip(*member_batches, strict=True):
            xs, ys = [], []
            for idx, g in zip(batch_idx, gens, strict=True):
                x, y = x_all[idx.to(device)], y_all[idx.to(device)]
                if transform is not None:
                    x = transform(x, g)
                if mixing is not None:
                    x, y = mixing(x, y, g)
                xs.append(x)
                ys.append(y)
            lr = schedule.lr * schedule.lr_factor(step, steps_per_epoch)
            with autocast(device, precision):
                logits = net(torch.stack(xs), gens).float()
            losses = -(torch.stack(ys) * F.log_softmax(logits, dim=-1)).sum(-1).mean(-1)  # (G,)
            opt.zero_grad()
            losses.sum().backward()  # members share no weights: each gets its own gradient
            opt.step(lr)
            totals += losses.detach() * len(batch_idx[0])
            count += len(batch_idx[0])
            step += 1
        train_loss = (totals / max(count, 1)).tolist()
        logits = _grouped_logits(net.eval(), val_x_dev, precision)
        val_loss = [F.cross_entropy(lg, val_y_dev).item() for lg in logits]
        val_acc = [(lg.argmax(1) == val_y_dev).float().mean().item() for lg in logits]
        states = None
        finished = []
        for k, m in enumerate(active):
            if not math.isfinite(train_loss[k]):
                raise TrainingError(f"{desc}: training loss became {train_loss[k]} at epoch {epoch} "
                                    f"(member {m}); lower the learning rate")
            row = {"epoch": epoch, "train_loss": train_loss[k], "val_loss": val_loss[k],
                   "val_accuracy": val_acc[k], "lr": lr}
            histories[m].append(row)
            if on_epoch is not None:
                on_epoch(m, row)
            if val_loss[k] < best[m][0]:
                states = states if states is not None else net.to_state_dicts()
                best[m] = (val_loss[k], epoch, states[k])
                waited[m] = 0
            else:
                waited[m] += 1
            if schedule.patience is not None and waited[m] >= schedule.patience:
                finished.append(k)
        if epoch == schedule.epochs:
            finished = list(range(len(active)))
        for k in finished:
            m = active[k]
            if best[m][2] is None:
                raise TrainingError(f"{desc}: validation loss was never finite (member {m})")
            results[m] = FitResult(best[m][2], best[m][1], histories[m], stopped_epoch=epoch)
        if finished and len(finished) < len(active):
            keep = [k for k in range(len(active)) if k not in finished]
            net.keep(keep, opt)
            active = [active[k] for k in keep]
        elif finished:
            break
    for m, model in enumerate(models):
        res = results[m]
        assert res is not None
        model.load_state_dict(res.state_dict)
        log.info("%s member %d: best epoch %d of %d (val loss %.4f, val accuracy %.3f)", desc, m,
                 res.best_epoch, res.stopped_epoch, res.best["val_loss"], res.best["val_accuracy"])
    return results  # type: ignore[return-value]


def fit_classifier(model: ResNetClassifier, train_x: Tensor, train_y: Tensor, val_x: Tensor,
                   val_y: Tensor, schedule: Schedule, *, generator: torch.Generator,
                   on_epoch: Callable[[dict[str, float]], Any] | None = None,
                   **kwargs: Any) -> FitResult:
    """:func:`fit_classifiers` for one model (the feature extractor)."""
    callback = None if on_epoch is None else (lambda _m, row: on_epoch(row))
    return fit_classifiers([model], [generator], train_x, train_y, val_x, val_y, schedule,
                           on_epoch=callback, **kwargs)[0]
