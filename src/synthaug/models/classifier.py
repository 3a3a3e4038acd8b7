"""ResNet-style domain classifier that doubles as feature extractor and MC-dropout scorer."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.checkpoints import atomic_torch_save, load_checkpoint
from ..core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of a ResNetClassifier."""

    in_channels: int  # image channels (1 or 3)
    num_classes: int  # number of output logits
    blocks: tuple[int, ...] = (1, 1, 1)  # BasicBlocks per stage; (3, 4, 6, 3) = ResNet-34 layout
    widths: tuple[int, ...] = (32, 64, 128)  # channels per stage; ResNet-34: (64, 128, 256, 512)
    dropout: float = 0.5  # rate of the dropout layer placed before the LAST residual block
    stem_down: int = 0  # halvings in the stem: 0 = 3x3 conv; d >= 1 = stride-2 3x3 conv and
    # d - 1 max pools (3x3, stride 2); stem_halvings() picks it from the image size

    def __post_init__(self) -> None:
        # Accept lists (e.g. from YAML) but store tuples so the config stays hashable.
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "widths", tuple(self.widths))
        for name in ("in_channels", "num_classes"):
            value = getattr(self, name)
            if not _is_pos_int(value):
                raise ConfigError(f"classifier.{name} must be a positive integer, got {value!r}")
        for name in ("blocks", "widths"):
            values = getattr(self, name)
            if not values or not all(_is_pos_int(v) for v in values):
                raise ConfigError(
                    f"classifier.{name} must be a non-empty list of positive integers, got {values!r}"
                )
        if len(self.blocks) != len(self.widths):
            raise ConfigError(
                f"classifier.blocks (len {len(self.blocks)}) and classifier.widths "
                f"(len {len(self.widths)}) must have the same length"
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ConfigError(f"classifier.dropout must be a number, got {self.dropout!r}")
        if not 0.0 < float(self.dropout) < 1.0:
            raise ConfigError(f"classifier.dropout must lie in (0, 1), got {self.dropout!r}")
        if not isinstance(self.stem_down, int) or isinstance(self.stem_down, bool) \
                or self.stem_down < 0:
            raise ConfigError(f"classifier.stem_down must be an integer >= 0, got {self.stem_down!r}")


LAST_MAP_MAX = 8  # the stem downsamples until the last stage's feature map is at most this side


def stem_halvings(image_size: int, stages: int) -> int:
    """Halvings in the stem so that the last stage's map is at most LAST_MAP_MAX px per side.

    Each stage after the first halves the map, so with 3 stages 16 and 32 px need none
    (last maps 4 and 8, the layout of earlier versions), 64 px one (8) and 128 px two (8);
    with 4 stages (ResNet-34) 224 px needs two, the /4 stem of the ImageNet ResNets (7).
    Large maps would make the last blocks, the MC-dropout head and the per-block centroids
    of the filters cost in proportion to the image area for no gain in what they see.
    """
    d = 0
    while -(-image_size // 2 ** (d + stages - 1)) > LAST_MAP_MAX:
        d += 1
    return d


def _is_pos_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def mc_dropout(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Apply elementwise dropout with a keep-mask drawn from `generator`, in any module mode."""
    u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    keep = (u >= p).to(device=x.device, dtype=x.dtype)
    return x * keep / (1.0 - p)


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus (projected) shortcut, then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Return the block's activation."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetClassifier(nn.Module):
    """Small-image ResNet split into a deterministic trunk and a dropout + last-block head.

    Stem (3x3 conv, or a strided one plus max pools for large images: ``stem_down``), then
    one stage per entry of ``blocks``/``widths``, each after the first halving the map.
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w0 = cfg.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_channels, w0, 3, 2 if cfg.stem_down else 1, 1, bias=False),
            nn.BatchNorm2d(w0), nn.ReLU(),
            *(nn.MaxPool2d(3, 2, 1) for _ in range(cfg.stem_down - 1)),
        )
        blocks: list[BasicBlock] = []
        in_ch = w0
        for stage, (n, width) in enumerate(zip(cfg.blocks, cfg.widths, strict=True)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_ch, width, stride))
                in_ch = width
        self.trunk_blocks = nn.ModuleList(blocks[:-1])
        self.dropout = nn.Dropout(cfg.dropout)
        self.last_block = blocks[-1]
        self.fc = nn.Linear(cfg.widths[-1], cfg.num_classes)

    @property
    def num_blocks(self) -> int:
        """Total number of residual blocks (trunk blocks + the last block)."""
        return len(self.trunk_blocks) + 1

    def trunk(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Return (input of the dropout layer, activation after each trunk residual block)."""
        h = self.stem(x)
        acts: list[Tensor] = []
        for block in self.trunk_blocks:
            h = block(h)
            acts.append(h)
        return h, acts

    def head(
        self, h: Tensor, mc_generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return (logits, pooled features, last-block activation); MC dropout if a generator is given."""
        if mc_generator is not None:
            h = mc_dropout(h, self.cfg.dropout, mc_generator)
        else:
            h = self.dropout(h)
        act = self.last_block(h)
        features = act.mean(dim=(2, 3))
        return self.fc(features), features, act

    def forward(self, x: Tensor) -> Tensor:
        """Return logits (dropout active only in train mode)."""
        return self.head(self.trunk(x)[0])[0]

    def penultimate(self, x: Tensor) -> Tensor:
        """Return penultimate features (N, widths[-1]) of a pass without MC dropout."""
        return self.head(self.trunk(x)[0])[1]


# --------------------------------------------------------------------------- checkpoints


def build_classifier(channels: int, num_classes: int, net: Any,
                     image_size: int | None = None) -> ResNetClassifier:
    """A ResNet classifier for ``channels``-channel images from a ``Net`` params section.

    ``image_size`` sets the stem's downsampling (:func:`stem_halvings`); None keeps a plain
    stem (the layout of earlier versions, right up to 32 px with three stages).
    """
    down = 0 if image_size is None else stem_halvings(image_size, len(net.widths))
    cfg = ClassifierConfig(in_channels=channels, num_classes=num_classes, blocks=tuple(net.blocks),
                           widths=tuple(net.widths), dropout=net.dropout, stem_down=down)
    return ResNetClassifier(cfg)


def save_classifier(model: ResNetClassifier, path: str | Path, **meta: Any) -> None:
    """Self-describing classifier checkpoint: config, weights and metadata."""
    atomic_torch_save({"config": asdict(model.cfg), "state_dict": model.state_dict(), **meta}, path)


def classifier_from_checkpoint(ckpt: dict[str, Any], device: torch.device | str = "cpu") -> ResNetClassifier:
    """Rebuild a classifier from a checkpoint dict written by :func:`save_classifier` (eval mode)."""
    model = ResNetClassifier(ClassifierConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> ResNetClassifier:
    """Rebuild a classifier saved by :func:`save_classifier` (eval mode)."""
    return classifier_from_checkpoint(load_checkpoint(path), device)
