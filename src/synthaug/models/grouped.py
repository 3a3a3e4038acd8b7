"""Several ResNet classifiers of one architecture trained as one network, one group per member.

Member g's images enter as channel group g: every convolution is grouped (``groups=G``),
batch norm normalises each channel over its own member's batch only, and every member
has its own head. No arithmetic crosses groups, so member g computes exactly what a
:class:`~synthaug.models.classifier.ResNetClassifier` with its weights computes on its
batch; but the G small convolutions of a layer run as one call, which keeps the machine
busy where a single small network cannot.

Parameters are stored with the group as their first dimension, so removing members
(``keep``) is an index on every parameter, buffer and optimiser state; ``from_models``
and ``to_state_dicts`` convert from and to the plain classifiers' state dicts.
Dropout masks come from each member's own generator (one draw per call, in call order),
so a member's masks do not depend on which other members share the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .classifier import ClassifierConfig, ResNetClassifier

BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # nn.BatchNorm2d defaults, as in ResNetClassifier


class _GroupedConv(nn.Module):
    """G convolutions of (cout, cin, k, k) as one grouped call; input/output (B, G*C, H, W)."""

    def __init__(self, weights: Tensor, stride: int, padding: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weights)  # (G, cout, cin, k, k)
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        g, cout = self.weight.shape[:2]
        w = self.weight.reshape(g * cout, *self.weight.shape[2:])
        return F.conv2d(x, w, None, self.stride, self.padding, groups=g)


class _GroupedBN(nn.Module):
    """G batch norms of C channels; each channel's statistics come from its member's batch."""

    def __init__(self, weight: Tensor, bias: Tensor, mean: Tensor, var: Tensor, tracked: Tensor) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)  # (G, C)
        self.register_buffer("running_mean", mean)
        self.register_buffer("running_var", var)
        self.register_buffer("num_batches_tracked", tracked)  # (G,)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, self.running_mean.view(-1), self.running_var.view(-1),
                            self.weight.view(-1), self.bias.view(-1), self.training, BN_MOMENTUM,
                            BN_EPS)


def _stack(tensors: Sequence[Tensor]) -> Tensor:
    return torch.stack([t.detach().clone() for t in tensors])


def _conv(mods: Sequence[nn.Conv2d]) -> _GroupedConv:
    return _GroupedConv(_stack([m.weight for m in mods]), mods[0].stride[0], mods[0].padding[0])


def _bn(mods: Sequence[nn.BatchNorm2d]) -> _GroupedBN:
    return _GroupedBN(_stack([m.weight for m in mods]), _stack([m.bias for m in mods]),
                      _stack([m.running_mean for m in mods]), _stack([m.running_var for m in mods]),
                      _stack([m.num_batches_tracked for m in mods]))


class _GroupedBlock(nn.Module):
    """A BasicBlock of every member (projected shortcut when the block has one)."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.conv1 = _conv([b.conv1 for b in blocks])
        self.bn1 = _bn([b.bn1 for b in blocks])
        self.conv2 = _conv([b.conv2 for b in blocks])
        self.bn2 = _bn([b.bn2 for b in blocks])
        self.projected = isinstance(blocks[0].shortcut, nn.Sequential)
        if self.projected:
            self.sc_conv = _conv([b.shortcut[0] for b in blocks])
            self.sc_bn = _bn([b.shortcut[1] for b in blocks])

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = self.sc_bn(self.sc_conv(x)) if self.projected else x
        return F.relu(out + short)


class GroupedResNet(nn.Module):
    """G ResNetClassifiers of one config; ``forward`` maps (G, B, C, H, W) to logits (G, B, K)."""

    def __init__(self, models: Sequence[ResNetClassifier]) -> None:
        super().__init__()
        if not models:
            raise ValueError("GroupedResNet needs at least one model")
        self.cfg: ClassifierConfig = models[0].cfg
        if any(m.cfg != self.cfg for m in models):
            raise ValueError("every grouped model must have the same ClassifierConfig")
        self.stem_conv = _conv([m.stem[0] for m in models])
        self.stem_bn = _bn([m.stem[1] for m in models])
        self.stem_pools = max(self.cfg.stem_down - 1, 0)  # max pools after a strided stem conv
        per_block = zip(*[[*m.trunk_blocks, m.last_block] for m in models], strict=True)
        self.blocks = nn.ModuleList(_GroupedBlock(list(b)) for b in per_block)
        self.fc_weight = nn.Parameter(_stack([m.fc.weight for m in models]))  # (G, K, C)
        self.fc_bias = nn.Parameter(_stack([m.fc.bias for m in models]))  # (G, K)

    @property
    def groups(self) -> int:
        """Number of members."""
        return self.fc_weight.shape[0]

    def forward(self, x: Tensor, dropout_generators: Sequence[torch.Generator] | None = None) -> Tensor:
        """Logits (G, B, K) of member batches (G, B, C, H, W); masks from the generators in training."""
        g, b = x.shape[:2]
        h = x.transpose(0, 1).reshape(b, g * x.shape[2], *x.shape[3:])
        if h.device.type == "cpu":
            h = h.contiguous(memory_format=torch.channels_last)
        h = F.relu(self.stem_bn(self.stem_conv(h)))
        for _ in range(self.stem_pools):
            h = F.max_pool2d(h, 3, 2, 1)
        for block in self.blocks[:-1]:
            h = block(h)
        if self.training and dropout_generators is not None:
            h = h * self._dropout_mask(h, dropout_generators)
        h = self.blocks[-1](h)
        feats = h.mean(dim=(2, 3)).view(b, g, -1).transpose(0, 1)  # (G, B, C)
        return torch.einsum("gbc,gkc->gbk", feats, self.fc_weight.to(feats.dtype)) + \
            self.fc_bias.to(feats.dtype)[:, None, :]

    def _dropout_mask(self, h: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Inverted-dropout keep mask (B, G*C, H, W): member g's part drawn from generators[g]."""
        p = self.cfg.dropout
        b, gc, hh, ww = h.shape
        c = gc // len(generators)
        masks = [torch.rand((b, c, hh, ww), generator=gen, device=gen.device) >= p
                 for gen in generators]
        return torch.cat(masks, dim=1).to(device=h.device, dtype=h.dtype) / (1.0 - p)

    @torch.no_grad()
    def keep(self, members: Sequence[int], optimizer: Any = None) -> None:
        """Keep only ``members`` (indices into the current groups) in parameters, buffers and the
        optimiser's state (an object with ``replace(old, new, index)``, like training.optim.Adam)."""
        idx = torch.as_tensor(list(members), dtype=torch.long)
        for module in self.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                new = nn.Parameter(param.data[idx.to(param.device)].clone())
                if optimizer is not None:
                    optimizer.replace(param, new, idx.to(param.device))
                setattr(module, name, new)
            for name, buf in list(module.named_buffers(recurse=False)):
                setattr(module, name, buf[idx.to(buf.device)].clone())

    @torch.no_grad()
    def to_state_dicts(self) -> list[dict[str, Tensor]]:
        """One ResNetClassifier state dict per member (CPU tensors)."""
        out: list[dict[str, Tensor]] = [{} for _ in range(self.groups)]

        def put(prefix: str, tensors: dict[str, Tensor]) -> None:
            for name, t in tensors.items():
                for g in range(self.groups):
                    out[g][f"{prefix}{name}"] = t[g].detach().cpu().clone()

        def conv(prefix: str, m: _GroupedConv) -> None:
            put(prefix, {"weight": m.weight})

        def bn(prefix: str, m: _GroupedBN) -> None:
            put(prefix, {"weight": m.weight, "bias": m.bias, "running_mean": m.running_mean,
                         "running_var": m.running_var, "num_batches_tracked": m.num_batches_tracked})

        conv("stem.0.", self.stem_conv)
        bn("stem.1.", self.stem_bn)
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            prefix = "last_block." if i == n - 1 else f"trunk_blocks.{i}."
            conv(prefix + "conv1.", block.conv1)
            bn(prefix + "bn1.", block.bn1)
            conv(prefix + "conv2.", block.conv2)
            bn(prefix + "bn2.", block.bn2)
            if block.projected:
                conv(prefix + "shortcut.0.", block.sc_conv)
                bn(prefix + "shortcut.1.", block.sc_bn)
        put("fc.", {"weight": self.fc_weight, "bias": self.fc_bias})
        return out

