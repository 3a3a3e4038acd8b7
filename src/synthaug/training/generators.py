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
batch size, checkpoint interval, seed, precision, the resume format and a hash of the
training images) matches; ``epochs`` is not part of it, since training to epoch 200 and
then on to 300 equals training to 300 at once. Otherwise the folder is cleared and
training starts anew.

With a separate ``work_dir``, the folder above is ``work_dir`` and ``out_dir`` receives a
copy of each checkpoint (never ``resume.pt``) as it is written. ``out_dir`` may then be
deleted between runs, as DVC deletes a stage's outputs before running it, without
losing the resume state: the stage's output stays an ordinary (not persisted) DVC
output, which the run-cache can store and restore.

Speed: the training images stay on the device; each epoch's data order and random
numbers are drawn at its start (one copy to a GPU); a step returns its losses as a
device tensor, summed on the device, and the epoch's means are read once at its end
(the only host synchronisation; non-finite losses are caught there, naming the epoch).
The cGAN's critic sees real and generated images in one batch and computes no weight
gradients during the generator's step; convolutional networks run channels-last; with
``precision='bf16'`` the forward passes run under bf16 autocast.
"""

from __future__ import annotations

import contextlib
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
    apply_diff_augment,
    build_generator,
    d_hinge_loss,
    diff_augment_params,
    g_hinge_loss,
)
from .optim import Adam
from .precision import autocast

log = logging.getLogger(__name__)


RESUME_FORMAT = 2  # resume.pt layout; part of the fingerprint, so an older file is not misread
# (2: synthaug.training.optim.Adam states, randomness drawn per epoch)


@dataclass(frozen=True)
class GeneratorRun:
    """What to train: kind, constructor kwargs, optimiser settings, schedule, seed, precision."""

    kind: str
    model_kwargs: dict[str, Any]
    optim: dict[str, Any]  # kind-specific: lr_g/lr_d/beta1/beta2/ema/diffaug, lr/beta, lr
    epochs: int
    checkpoint_every: int
    batch_size: int
    seed: int
    precision: str = "fp32"  # fp32, or bf16 autocast of the networks' arithmetic

    def fingerprint(self, images: Tensor, labels: Tensor) -> str:
        """Hash of everything that determines the checkpoints, except ``epochs``."""
        h = hashlib.sha256()
        spec = {k: v for k, v in self.__dict__.items() if k != "epochs"}
        spec["resume_format"] = RESUME_FORMAT
        h.update(json.dumps(spec, sort_keys=True, default=str).encode())
        h.update(images.cpu().numpy().tobytes())
        h.update(labels.cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def _conv_nets(kind: str, model: nn.Module) -> bool:
    """Whether the networks are convolutional (channels-last memory then pays)."""
    return kind == "cgan" or not isinstance(getattr(model, "features", None), nn.Flatten)


class _Trainer:
    """Kind-specific networks, optimisers and one training step.

    A step takes its batch and all its random numbers as tensors already on the device
    (drawn once per epoch, see :func:`_epoch_draws`) and returns its losses as a device
    tensor: nothing in it waits for the device or copies from the host.
    """

    def __init__(self, run: GeneratorRun, device: torch.device) -> None:
        self.run, self.device = run, device
        self.model = build_generator(run.kind, **run.model_kwargs).to(device)
        self.memory_format = (torch.channels_last if _conv_nets(run.kind, self.model)
                              else torch.contiguous_format)
        self.model.to(memory_format=self.memory_format)
        o = run.optim
        if run.kind == "cgan":
            kw = run.model_kwargs
            self.disc = ProjectionDiscriminator(
                kw["num_classes"], kw["channels"], kw["image_size"], width=kw.get("width", 32),
                max_width=kw.get("max_width", 256)).to(device, memory_format=self.memory_format)
            betas = (float(o["beta1"]), float(o["beta2"]))
            self.opt = Adam(self.model.parameters(), lr=o["lr_g"], betas=betas)
            self.opt_d = Adam(self.disc.parameters(), lr=o["lr_d"], betas=betas)
            self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        else:
            self.opt = Adam(self.model.parameters(), lr=o["lr"])
        self.loss_names = {"cgan": ("loss_d", "loss_g"), "cvae": ("loss", "recon", "kl"),
                           "ae": ("loss",)}[run.kind]

    def sampler(self) -> nn.Module:
        """The network saved for sampling (EMA generator for the cGAN when enabled)."""
        if self.run.kind == "cgan" and self.run.optim["ema"] > 0:
            return self.ema
        return self.model

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.run.precision)

    def step(self, x: Tensor, y: Tensor, draws: dict[str, Tensor]) -> Tensor:
        """One optimisation step on a batch; returns its losses (in ``loss_names`` order)."""
        o, kind = self.run.optim, self.run.kind
        if kind == "cvae":
            with self._autocast():
                total, recon, kl = self.model.loss(x, y, beta=o["beta"], eps=draws["eps"])
            self._update(self.opt, total)
            return torch.stack([total, recon, kl]).detach().float()
        if kind == "ae":
            with self._autocast():
                loss = self.model.loss(x)
            self._update(self.opt, loss)
            return loss.detach().float().view(1)
        return self._gan_step(x, y, draws)

    def _gan_step(self, x: Tensor, y: Tensor, draws: dict[str, Tensor]) -> Tensor:
        """One discriminator step, one generator step (hinge loss), then the EMA update.

        Real and generated images go through the discriminator as one batch (it has no
        batch statistics, so this equals two calls, and spectral norm's power iteration
        runs once per update); during the generator step the discriminator's weights need
        no gradients, so none are computed.
        """
        o, n = self.run.optim, len(x)
        aug = apply_diff_augment if o["diffaug"] else (lambda t, _: t)
        with torch.no_grad(), self._autocast():
            fake = self.model(draws["z_d"], y)
        with self._autocast():
            both = torch.cat([x, fake.to(x.dtype)]).contiguous(memory_format=self.memory_format)
            logits = self.disc(aug(both, draws["aug_d"]), torch.cat([y, y])).float()
            loss_d = d_hinge_loss(logits[:n], logits[n:])
        self._update(self.opt_d, loss_d)
        self.disc.requires_grad_(False)
        try:
            with self._autocast():
                fake = aug(self.model(draws["z_g"], y), draws["aug_g"])
                loss_g = g_hinge_loss(self.disc(fake, y).float())
            self._update(self.opt, loss_g)
        finally:
            self.disc.requires_grad_(True)
        if o["ema"] > 0:
            with torch.no_grad():
                torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()),
                                     1.0 - o["ema"])
                for be, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                    be.copy_(b)
        return torch.stack([loss_d.detach(), loss_g.detach()]).float()

    @staticmethod
    def _update(opt: Adam, loss: Tensor) -> None:
        opt.zero_grad()
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


def _epoch_draws(run: GeneratorRun, model: nn.Module, n: int, g: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """The epoch's data order and every step's random numbers, drawn from ``g`` (on the CPU).

    Drawing them up front, in a fixed order, makes one host-to-device copy per epoch
    instead of several per step, and keeps a run the same on any device.
    """
    perm = torch.randperm(n, generator=g)
    steps = []
    size = run.model_kwargs["image_size"]
    for i in range(0, n - 1, run.batch_size):
        b = len(perm[i:i + run.batch_size])
        if b < 2:
            continue
        if run.kind == "cgan":
            z_dim = model.z_dim
            aug = run.optim["diffaug"]
            # the order of the draws of earlier versions: z, real aug, fake aug, z, fake aug
            draw = {"z_d": torch.randn(b, z_dim, generator=g)}
            if aug:
                draw["aug_d"] = torch.cat([diff_augment_params(b, size, g),
                                           diff_augment_params(b, size, g)])
            draw["z_g"] = torch.randn(b, z_dim, generator=g)
            if aug:
                draw["aug_g"] = diff_augment_params(b, size, g)
        elif run.kind == "cvae":
            draw = {"eps": torch.randn(b, model.z_dim, generator=g)}
        else:
            draw = {}
        steps.append(draw)
    return perm, steps


def _pack(perm: Tensor, steps: list[dict[str, Tensor]]) -> tuple[Tensor, list[Any]]:
    """The epoch's order and draws as one flat float tensor, and how to unpack it."""
    layout = [[(k, t.shape) for k, t in draw.items()] for draw in steps]
    flat = [perm.float(), *[t.float().flatten() for draw in steps for t in draw.values()]]
    return torch.cat(flat), [len(perm), layout]


def _unpack(packed: Tensor, layout: list[Any]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Invert :func:`_pack` (views into ``packed``, on its device)."""
    n, steps = layout
    perm, offset = packed[:n].long(), n
    out = []
    for draw in steps:
        views = {}
        for k, shape in draw:
            size = math.prod(shape)
            views[k] = packed[offset:offset + size].view(shape)
            offset += size
        out.append(views)
    return perm, out


def _to_device(perm: Tensor, steps: list[dict[str, Tensor]], device: torch.device
               ) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Move the epoch's draws to ``device`` in one pinned, non-blocking copy (CPU: as they are).

    Every draw is a float (normals, uniform shifts, small integer offsets) or an index
    below 2**24, so the float32 packing is exact.
    """
    if device.type == "cpu":
        return perm, steps
    packed, layout = _pack(perm, steps)
    return _unpack(packed.pin_memory().to(device, non_blocking=True), layout)


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
    pin = device.type == "cuda"
    x_all = (images.pin_memory() if pin else images).to(device, non_blocking=True)
    x_all = x_all.contiguous(memory_format=trainer.memory_format)
    y_all = (labels_onehot.pin_memory() if pin else labels_onehot).to(device, non_blocking=True)
    n = len(x_all)
    last = run.epochs - run.epochs % run.checkpoint_every  # epochs after it would not be saved
    if last < run.epochs:
        log.warning("%s: training stops at epoch %d, the last multiple of checkpoint_every",
                    run.kind, last)
    for epoch in progress(range(start + 1, last + 1), desc=f"train_gan {run.kind}",
                          total=last - start):
        t0 = time.perf_counter()
        trainer.model.train()
        perm, draws = _to_device(*_epoch_draws(run, trainer.model, n, g), device)
        sums = torch.zeros(len(trainer.loss_names), dtype=torch.float64, device=device)
        for step, draw in enumerate(draws):
            idx = perm[step * run.batch_size:(step + 1) * run.batch_size]
            sums += trainer.step(x_all[idx], y_all[idx], draw)
        # the one host synchronisation of the epoch
        means = (sums / max(len(draws), 1)).tolist()
        losses = dict(zip(trainer.loss_names, means, strict=True))
        if not all(math.isfinite(v) for v in means):
            raise TrainingError(
                f"{run.kind} losses became non-finite at epoch {epoch} ({losses}); "
                f"the checkpoints before it are kept: lower the learning rate in "
                f"train_gan.{run.kind}")
        row = {"epoch": epoch, **losses, "seconds": time.perf_counter() - t0}
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
