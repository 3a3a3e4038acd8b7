"""Stage ``train_gan@KIND``: train (or resume) one generator kind, a checkpoint every few epochs."""

from __future__ import annotations

import time
from typing import Any

from ..augment import one_hot
from ..core import paths
from ..core.checkpoints import list_checkpoints
from ..core.errors import ConfigError
from ..core.io import write_json
from ..core.params import Params
from ..core.runtime import resolve_device, resolve_precision, seed_everything, write_timing
from ..data.dataset import Dataset, load_split
from ..training.generators import GeneratorRun, train_generator
from ..training.tracking import epoch_logger


def generator_run(params: Params, kind: str, train: Dataset) -> GeneratorRun:
    """The training specification of one generator kind from the params."""
    tg, base = params.train_gan, params.base
    sub = getattr(tg, kind).model_dump()
    common = {"num_classes": train.num_classes, "channels": train.channels,
              "image_size": train.image_size}
    arch_keys = {"cgan": ("z_dim", "width", "max_width"), "cvae": ("z_dim", "hidden", "arch"),
                 "ae": ("z_dim", "hidden", "noise", "arch")}[kind]
    model_kwargs = {**common, **{k: sub[k] for k in arch_keys}}
    optim = {k: v for k, v in sub.items() if k not in arch_keys}
    return GeneratorRun(kind=kind, model_kwargs=model_kwargs, optim=optim, epochs=tg.epochs,
                        checkpoint_every=tg.checkpoint_every, batch_size=tg.batch_size,
                        seed=base.seed,
                        precision=generator_precision(base.precision, resolve_device(base.device)))


def generator_precision(name: str, device: Any) -> str:
    """``base.precision`` for the generators: ``auto`` is bf16 on a CUDA device with native
    bf16 only (on a CPU, fp32: bf16 GAN training is not validated there); fp32/bf16 as set."""
    if name == "auto":
        return resolve_precision("auto", device) if device.type == "cuda" else "fp32"
    return resolve_precision(name, device)


def run(params: Params, kind: str) -> dict[str, Any]:
    """Write ``models/train_gan/KIND/epoch_NNN.pt`` and the final losses.

    Training state (to resume a killed run) lives in ``.synthaug/resume/train_gan/KIND``.
    """
    if kind not in params.train_gan.kinds:
        raise ConfigError(f"generator kind '{kind}' is not in train_gan.kinds {params.train_gan.kinds}")
    base = params.base
    seed_everything(base.seed)
    train = load_split(paths.prepared("train"))
    x, y = train.tensors()
    spec = generator_run(params, kind, train)
    t0 = time.perf_counter()
    with epoch_logger(paths.live("train_gan", kind)) as on_epoch:
        history = train_generator(spec, x, one_hot(y, train.num_classes), paths.gan_dir(kind),
                                  device=resolve_device(base.device), on_epoch=on_epoch,
                                  work_dir=paths.gan_resume_dir(kind))
    last = history[-1] if history else {}
    summary = {"kind": kind, "epochs": len(history),
               "checkpoints": len(list_checkpoints(paths.gan_dir(kind))),
               **{f"final_{k}": v for k, v in last.items() if k not in ("epoch", "seconds")}}
    write_json(paths.metrics("train_gan", kind), summary)
    write_timing("train_gan", kind, seconds=time.perf_counter() - t0,
                 train_seconds=sum(r["seconds"] for r in history),
                 seconds_per_epoch=sum(r["seconds"] for r in history) / max(len(history), 1))
    return summary
