"""Adam, written out (the same update as ``torch.optim.Adam`` with L2 weight decay).

``torch.optim`` imports ``torch._dynamo`` when the first optimiser is built: about 0.8 s
per stage process on this project's 2-core reference machine, more than some stages
compute. This one also makes the per-element state plain tensors that
:meth:`Adam.keep` can slice when members of a grouped network stop early.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class Adam:
    """Adam with bias correction and coupled (L2) weight decay, as ``torch.optim.Adam``."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients of every parameter."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float | None = None) -> None:
        """One update of every parameter that has a gradient (``lr`` overrides the default)."""
        lr = self.lr if lr is None else lr
        self.step_count += 1
        beta1, beta2 = self.betas
        corr1 = 1.0 - beta1 ** self.step_count
        corr2 = 1.0 - beta2 ** self.step_count
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            if p.grad is None:
                continue
            grad = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            m.lerp_(grad, 1.0 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denom = (v.sqrt() / corr2 ** 0.5).add_(self.eps)
            p.addcdiv_(m, denom, value=-lr / corr1)

    def replace(self, old: Tensor, new: Tensor, index: Tensor) -> None:
        """Swap parameter ``old`` for ``new``, keeping the state rows ``index`` of the first dim."""
        i = next(k for k, p in enumerate(self.params) if p is old)
        self.params[i] = new
        self.exp_avg[i] = self.exp_avg[i][index].clone()
        self.exp_avg_sq[i] = self.exp_avg_sq[i][index].clone()

    def state_dict(self) -> dict:
        """Everything needed to resume (tensors in parameter order)."""
        return {"step": self.step_count, "exp_avg": [t.clone() for t in self.exp_avg],
                "exp_avg_sq": [t.clone() for t in self.exp_avg_sq], "lr": self.lr,
                "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the parameters must be the same, in the same order)."""
        if len(state["exp_avg"]) != len(self.params):
            raise ValueError(f"optimiser state has {len(state['exp_avg'])} tensors for "
                             f"{len(self.params)} parameters")
        self.step_count = int(state["step"])
        self.exp_avg = [t.to(p.device).clone() for t, p in zip(state["exp_avg"], self.params, strict=True)]
        self.exp_avg_sq = [t.to(p.device).clone()
                           for t, p in zip(state["exp_avg_sq"], self.params, strict=True)]
