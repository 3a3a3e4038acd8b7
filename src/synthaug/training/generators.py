"""Generator training (cGAN, cVAE, AE) with checkpoints every few epochs and resume.

Layout of ``out_dir`` (StyleGAN-like, zero-padded and step-indexed):

- ``epoch_005.pt``, ``epoch_010.pt``, ...: self-describing sampling checkpoints
  ``{"kind", "epoch", "config", "state_dict", "fingerprint"}``; ``build_generator(kind,
  **config)`` + ``load_state_dict`` rebuild the generator used for sampling (the EMA
  copy for the cGAN).
- ``resume.pt``: everything needed to continue (all networks, optimisers, the RNG
  state, the loss history), overwritten atomically at every checkpoint. Its history
  holds no wall-clock times ("seconds" is 0.0 there, so equal runs give equal bytes
  and DVC output hashes; epochs trained before an interruption count 0 s). Training is
  deterministic given the seed, so an interrupted run that resumes ends with the
  same checkpoints as an uninterrupted one.

A run resumes only when the fingerprint (kind, architecture, optimiser settings,
batch size, checkpoint interval, seed and a hash of the training images) matches;
``epochs`` is not part of it, since training to epoch 200 and then on to 300 equals
training to 300 at once. Otherwise the folder is cleared and training starts anew.

With a separate ``work_dir``, the folder above is ``work_dir`` and ``out_dir`` receives a
copy of each checkpoint (never ``resume.pt``) as it is written. ``out_dir`` may then be
deleted between runs, as DVC deletes a stage's outputs before running it, without
losing the resume state: the stage's output stays an ordinary (not persisted) DVC
output, which the run-cache can store and restore.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..core.checkpoints import atomic_torch_save, checkpoint_epoch, list_checkpoints
from ..core.errors import TrainingError
from ..core.io import atomic_path, temp_files
from ..core.progress import progress
from ..models.generators import (
    ProjectionDiscriminator,
    build_generator,
    d_hinge_loss,
    diff_augment,
    g_hinge_loss,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorRun:
    """What to train: kind, constructor kwargs, optimiser settings, schedule, seed."""

    kind: str
    model_kwargs: dict[str, Any]
    optim: dict[str, Any]  # kind-specific: lr_g/lr_d/beta1/beta2/ema/diffaug, lr/beta, lr
    epochs: int
    checkpoint_every: int
    batch_size: int
    seed: int

    def fingerprint(self, images: Tensor, labels: Tensor) -> str:
        """Hash of everything that determines the checkpoints, except ``epochs``."""
        h = hashlib.sha256()
        spec = {k: v for k, v in self.__dict__.items() if k != "epochs"}
        h.update(json.dumps(spec, sort_keys=True, default=str).encode())
        h.update(images.cpu().numpy().tobytes())
        h.update(labels.cpu().numpy().tobytes())
        return h.hexdigest()[:16]


class _Trainer:
    """Kind-specific networks, optimisers and one training step."""

    def __init__(self, run: GeneratorRun, device: torch.device) -> None:
        self.run, self.device = run, device
        self.model = build_generator(run.kind, **run.model_kwargs).to(device)
        o = run.optim
        if run.kind == "cgan":
            kw = run.model_kwargs
            self.disc = ProjectionDiscriminator(kw["num_classes"], kw["channels"], kw["image_size"],
                                                width=kw.get("width", 32)).to(device)
            betas = (o["beta1"], o["beta2"])
            self.opt = torch.optim.Adam(self.model.parameters(), lr=o["lr_g"], betas=betas)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=o["lr_d"], betas=betas)
            self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=o["lr"])

    def sampler(self) -> nn.Module:
        """The network saved for sampling (EMA generator for the cGAN when enabled)."""
        if self.run.kind == "cgan" and self.run.optim["ema"] > 0:
            return self.ema
        return self.model

    def step(self, x: Tensor, y: Tensor, g: torch.Generator) -> dict[str, float]:
        """One optimisation step on a batch; returns the losses."""
        o, kind = self.run.optim, self.run.kind
        if kind == "cvae":
            total, recon, kl = self.model.loss(x, y, beta=o["beta"], generator=g)
            self._update(self.opt, total)
            return {"loss": total.item(), "recon": recon.item(), "kl": kl.item()}
        if kind == "ae":
            loss = self.model.loss(x)
            self._update(self.opt, loss)
            return {"loss": loss.item()}
        # cGAN: one discriminator step, one generator step (hinge loss).
        aug = (lambda t: diff_augment(t, g)) if o["diffaug"] else (lambda t: t)
        z = torch.randn(len(x), self.model.z_dim, generator=g).to(self.device)
        with torch.no_grad():
            fake = self.model(z, y)
        loss_d = d_hinge_loss(self.disc(aug(x), y), self.disc(aug(fake), y))
        self._update(self.opt_d, loss_d)
        z = torch.randn(len(x), self.model.z_dim, generator=g).to(self.device)
        loss_g = g_hinge_loss(self.disc(aug(self.model(z, y)), y))
        self._update(self.opt, loss_g)
        if o["ema"] > 0:
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                    pe.lerp_(p, 1.0 - o["ema"])
                for be, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                    be.copy_(b)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @staticmethod
    def _update(opt: torch.optim.Optimizer, loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def state(self) -> dict[str, Any]:
        """Everything needed to resume."""
        s = {"model": self.model.state_dict(), "opt": self.opt.state_dict()}
        if self.run.kind == "cgan":
            s.update(disc=self.disc.state_dict(), opt_d=self.opt_d.state_dict(),
                     ema=self.ema.state_dict())
        return s

    def load_state(self, s: dict[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["opt"])
        if self.run.kind == "cgan":
            self.disc.load_state_dict(s["disc"])
            self.opt_d.load_state_dict(s["opt_d"])
            self.ema.load_state_dict(s["ema"])


def _stored_history(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """The history as kept in resume.pt: no wall-clock times, interned keys.

    Equal runs (interrupted or not) must pickle to equal bytes: times never repeat, and
    pickle writes a key string once per distinct object, so keys read back from an
    earlier resume.pt must be the same objects as the literals of later rows.
    """
    return [{sys.intern(k): 0.0 if k == "seconds" else v for k, v in row.items()}
            for row in history]


def _publish(src: Path, out_dir: Path) -> None:
    """Copy checkpoint ``src`` into ``out_dir`` (atomically: a complete file or none)."""
    with atomic_path(out_dir / src.name) as tmp:
        shutil.copyfile(src, tmp)


def _mirror(work_dir: Path, out_dir: Path) -> None:
    """Make ``out_dir`` hold exactly the checkpoints now in ``work_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = {p.name for p in list_checkpoints(work_dir)}
    stale = [p for p in list_checkpoints(out_dir) if p.name not in keep]
    for p in [*stale, *temp_files(out_dir), out_dir / "resume.pt"]:
        p.unlink(missing_ok=True)  # beyond the resume point, killed copies, the old layout's state
    for p in list_checkpoints(work_dir):
        _publish(p, out_dir)


def _prepare_out_dir(out_dir: Path, fingerprint: str, epochs: int) -> dict[str, Any] | None:
    """Return the resume state to continue from, clearing anything that cannot be reused."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for tmp in out_dir.glob(".*.tmp*"):
        tmp.unlink()  # leftovers of a write that was killed midway
    resume_path = out_dir / "resume.pt"
    state = None
    if resume_path.is_file():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != fingerprint:
            log.info("%s: settings or data changed since the last run; starting anew", out_dir)
            state = None
    if state is None:
        for p in list_checkpoints(out_dir):
            p.unlink()
        resume_path.unlink(missing_ok=True)
        return None
    for p in list_checkpoints(out_dir):
        if checkpoint_epoch(p) > min(state["epoch"], epochs):
            p.unlink()  # written after the resume point, or beyond the new epoch count
    if state["epoch"] > epochs:
        resume_path.unlink()  # a later run with more epochs must not skip the deleted ones
        return {"epoch": epochs, "done": True, "history": state["history"][:epochs]}
    return state


def train_generator(
    run: GeneratorRun,
    images: Tensor,
    labels_onehot: Tensor,
    out_dir: str | Path,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[dict[str, float]], Any] | None = None,
    work_dir: str | Path | None = None,
) -> list[dict[str, float]]:
    """Train (or resume) a generator; write a checkpoint every ``checkpoint_every`` epochs.

    Checkpoints and ``resume.pt`` live in ``work_dir`` (default ``out_dir``); with a
    separate ``work_dir``, ``out_dir`` gets a copy of every checkpoint (see the module doc).
    Returns the per-epoch loss history (mean of each loss over the epoch's steps).
    Raises TrainingError naming the epoch if a loss becomes NaN or infinite.
    """
    out_dir = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out_dir
    device = torch.device(device)
    fingerprint = run.fingerprint(images, labels_onehot)
    state = _prepare_out_dir(work, fingerprint, run.epochs)
    if work != out_dir:
        _mirror(work, out_dir)
    if state is not None and state.get("done"):
        log.info("%s: all %d epochs already trained", out_dir, run.epochs)
        for row in state["history"] if on_epoch is not None else ():
            on_epoch(row)
        return state["history"]
    torch.manual_seed(run.seed)
    trainer = _Trainer(run, device)
    g = torch.Generator().manual_seed(run.seed)
    history: list[dict[str, float]] = []
    start = 0
    if state is not None:
        trainer.load_state(state["trainer"])
        g.set_state(state["rng"])
        history, start = state["history"], state["epoch"]
        log.info("%s: resuming after epoch %d of %d", out_dir, start, run.epochs)
        if on_epoch is not None:
            for row in history:  # replay, so live logs show the whole run
                on_epoch(row)
    x_all, y_all = images.to(device), labels_onehot.to(device)
    n = len(x_all)
    last = run.epochs - run.epochs % run.checkpoint_every  # epochs after it would not be saved
    if last < run.epochs:
        log.warning("%s: training stops at epoch %d, the last multiple of checkpoint_every",
                    run.kind, last)
    for epoch in progress(range(start + 1, last + 1), desc=f"train_gan {run.kind}",
                          total=last - start):
        t0 = time.perf_counter()
        trainer.model.train()
        sums: dict[str, float] = {}
        steps = 0
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - 1, run.batch_size):
            idx = perm[i:i + run.batch_size]
            if len(idx) < 2:
                continue
            losses = trainer.step(x_all[idx], y_all[idx], g)
            if not all(math.isfinite(v) for v in losses.values()):
                raise TrainingError(
                    f"{run.kind} losses became non-finite at epoch {epoch} ({losses}); "
                    f"the checkpoints before it are kept: lower the learning rate in "
                    f"train_gan.{run.kind}")
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
        row = {"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()},
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if epoch % run.checkpoint_every == 0:
            sampler = trainer.sampler()
            if run.kind == "ae":
                sampler.set_codes(x_all, y_all.argmax(1))
            atomic_torch_save(
                {"kind": run.kind, "epoch": epoch, "config": sampler.config,
                 "state_dict": sampler.state_dict(), "fingerprint": fingerprint},
                work / f"epoch_{epoch:03d}.pt")
            atomic_torch_save(
                {"epoch": epoch, "fingerprint": fingerprint, "trainer": trainer.state(),
                 "rng": g.get_state(), "history": _stored_history(history)},
                work / "resume.pt")
            if work != out_dir:
                _publish(work / f"epoch_{epoch:03d}.pt", out_dir)
    return history
