"""Augmentations for N x C x H x W batches in [-1, 1] with soft (N, num_classes) targets.

Traditional (flip / affine / intensity) jitter, mixup, zeta-mixup and GeMix soft labels.
Every random draw comes from an explicit ``torch.Generator``.  Beta and Dirichlet draws,
which torch cannot seed from a generator, use a ``numpy.random.Generator`` seeded with one
64-bit integer drawn from the torch generator: the result is a deterministic function of the
torch generator's state, and the torch generator advances by exactly one draw per call.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .core.errors import ConfigError

log = logging.getLogger(__name__)

#: For gamma at or above this value one weight of zeta-mixup exceeds the sum of all others.
ZETA_DOMINANCE_GAMMA = 1.72865
_warned_gammas: set[float] = set()


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """Return float32 one-hot targets (N, num_classes) for integer labels (N,)."""
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    return F.one_hot(labels.long(), num_classes).float()


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Return the batch mean of -sum(targets * log_softmax(logits)) (soft-label cross entropy)."""
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def _numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """Return a numpy Generator seeded by one draw from the torch generator."""
    seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
    return np.random.default_rng(int(seed.item()))


def _symmetric(n: int, bound: float, generator: torch.Generator) -> Tensor:
    """Return n draws from U(-bound, bound) on the CPU (float32)."""
    u = torch.rand(n, generator=generator, device=generator.device).cpu()
    return (2.0 * u - 1.0) * bound


def _check_batch(x: Tensor, y: Tensor | None = None) -> None:
    """Raise ValueError unless x is N x C x H x W and y (if given) has N rows."""
    if x.dim() != 4:
        raise ValueError(f"expected an N x C x H x W batch, got shape {tuple(x.shape)}")
    if y is not None and (y.dim() != 2 or y.shape[0] != x.shape[0]):
        raise ValueError(f"targets {tuple(y.shape)} do not match batch {tuple(x.shape)}")


def _check_positive(value: float, key: str) -> None:
    """Raise ConfigError naming key unless value is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class TraditionalAugment:
    """Per-image random flips, affine warp and brightness/contrast jitter.

    rotate: max angle in degrees; shift: max translation as a fraction of the image size
    (per axis); scale: max relative zoom (0.1 -> factor in [0.9, 1.1]); brightness: max
    additive offset on the [-1, 1] intensity scale (0.2 = 10 % of the full range); contrast:
    max relative change of the deviation from the per-image mean (0.2 -> factor in [0.8, 1.2]).
    Each flip happens with probability 1/2; all magnitudes are drawn uniformly per image.
    """

    flip_h: bool = False
    flip_v: bool = False
    rotate: float = 0.0
    shift: float = 0.0
    scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    KEY = "train_classifier.traditional"
    _LIMITS = {"rotate": (180.0, True), "shift": (1.0, False), "scale": (1.0, False),
               "brightness": (2.0, True), "contrast": (1.0, False)}

    def __post_init__(self) -> None:
        """Validate the fields, naming the offending params key."""
        for f in fields(self):
            value = getattr(self, f.name)
            key = f"{self.KEY}.{f.name}"
            if f.name.startswith("flip"):
                if not isinstance(value, bool):
                    raise ConfigError(f"{key} must be true or false, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")
            limit, inclusive = self._LIMITS[f.name]
            if value < 0 or value > limit or (value == limit and not inclusive):
                bound = f"<= {limit:g}" if inclusive else f"< {limit:g}"
                raise ConfigError(f"{key} must be >= 0 and {bound}, got {value!r}")

    @property
    def is_identity(self) -> bool:
        """Return True when no transform is enabled."""
        return not (self.flip_h or self.flip_v or self.rotate or self.shift or self.scale
                    or self.brightness or self.contrast)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Return an augmented copy of the batch x (x itself when nothing is enabled)."""
        _check_batch(x)
        if self.is_identity:
            return x
        n = x.shape[0]
        for flag, dim in ((self.flip_h, -1), (self.flip_v, -2)):
            if flag:
                mask = _symmetric(n, 1.0, generator).to(x.device) < 0
                x = torch.where(mask[:, None, None, None], x.flip(dim), x)
        if self.rotate or self.shift or self.scale:
            x = self._warp(x, generator)
        if self.contrast:
            factor = (1.0 + _symmetric(n, self.contrast, generator)).to(x)[:, None, None, None]
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = mean + (x - mean) * factor
        if self.brightness:
            x = x + _symmetric(n, self.brightness, generator).to(x)[:, None, None, None]
        return x.clamp(-1.0, 1.0)

    def _warp(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Apply one random rotation/zoom/translation per image with bilinear resampling."""
        n, _, h, w = x.shape
        angle = torch.deg2rad(_symmetric(n, self.rotate, generator))
        zoom = 1.0 + _symmetric(n, self.scale, generator)
        # content moves by shift * size pixels = 2 * shift in normalised [-1, 1] coordinates
        t = 2.0 * torch.stack([_symmetric(n, self.shift, generator),
                               _symmetric(n, self.shift, generator)], dim=1)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # inverse map output -> input: rotate by -angle, divide by zoom; rotation is done in
        # pixel units so non-square images are not sheared (normalised axes differ by w/h)
        a = torch.stack([torch.stack([cos, sin * h / w], 1),
                         torch.stack([-sin * w / h, cos], 1)], 1)
        b = -(a @ t.unsqueeze(-1))
        theta = torch.cat([a, b], dim=2).to(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(x: Tensor, y: Tensor, alpha: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Return (lam*x + (1-lam)*x[perm], same for y) with one lam ~ Beta(alpha, alpha) per batch.

    lam comes from a numpy Generator seeded by the torch generator (see module docstring),
    the permutation from ``torch.randperm`` with the same generator.
    """
    _check_positive(alpha, "train_classifier.mixup_alpha")
    _check_batch(x, y)
    lam = float(_numpy_rng(generator).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], lam * y + (1.0 - lam) * y[perm]


def check_zeta_gamma(gamma: float) -> None:
    """Raise ConfigError unless gamma > 0; warn once per value if gamma < ZETA_DOMINANCE_GAMMA."""
    _check_positive(gamma, "train_classifier.zeta_gamma")
    if gamma < ZETA_DOMINANCE_GAMMA and gamma not in _warned_gammas:
        _warned_gammas.add(gamma)
        log.warning("train_classifier.zeta_gamma=%g is below %g: no sample dominates a "
                    "zeta-mixup output, so synthetic samples may lie far from the real data",
                    gamma, ZETA_DOMINANCE_GAMMA)


def zeta_weights(n: int, gamma: float, generator: torch.Generator) -> Tensor:
    """Return the (n, n) zeta-mixup weights; row k favours sample k (rank 1, largest weight).

    The other samples of row k get ranks 2..n in random order; w_i = s_i^-gamma / sum_j j^-gamma.
    """
    _check_positive(gamma, "train_classifier.zeta_gamma")
    if n < 1:
        raise ValueError(f"zeta_weights needs n >= 1, got {n}")
    keys = torch.rand(n, n, generator=generator, device=generator.device).cpu()
    keys.fill_diagonal_(-1.0)  # sample k sorts first in row k
    ranks = keys.argsort(dim=1).argsort(dim=1).double() + 1.0
    norm = torch.arange(1, n + 1, dtype=torch.float64).pow(-gamma).sum()
    return (ranks.pow(-gamma) / norm).float()


def zeta_mixup(x: Tensor, y: Tensor, gamma: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Return (W @ x, W @ y) for W = zeta_weights(N, gamma): N convex mixes of the whole batch."""
    check_zeta_gamma(gamma)
    _check_batch(x, y)
    w = zeta_weights(x.shape[0], gamma, generator).to(x.device)
    x_mix = (w.to(x.dtype) @ x.reshape(x.shape[0], -1)).reshape(x.shape)
    return x_mix, w.to(y.dtype) @ y


def _valid_gemix(y: np.ndarray, major: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Return a row mask: finite, top two classes exactly {major, partner}, major >= partner."""
    rows = np.arange(len(y))
    y_i, y_j = y[rows, major], y[rows, partner]
    others = y.copy()
    others[rows, major] = -np.inf
    others[rows, partner] = -np.inf
    rest = others.max(axis=1)
    return np.isfinite(y).all(axis=1) & (y_i >= y_j) & (y_j > rest)


def gemix_labels(
    classes: Tensor,
    num_classes: int,
    concentration_major: float = 10.0,
    concentration_minor: float = 0.5,
    alpha: float = 0.4,
    *,
    generator: torch.Generator,
    max_tries: int = 100,
) -> tuple[Tensor, Tensor]:
    """Return GeMix soft labels (N, num_classes) favouring ``classes`` and the partner class (N,).

    Per row with major class i: partner j != i uniform; y1 ~ Dir(concentration_major at i,
    concentration_minor elsewhere), y2 likewise favouring j; lam ~ Beta(alpha, alpha) and
    y = lam' y1 + (1 - lam') y2 with lam' = max(lam, 1 - lam).  GeMix draws the pair
    symmetrically; folding lam to >= 1/2 is the same distribution conditioned on i being the
    major side.  Rows whose top two classes are not exactly {i, j} with y[i] >= y[j] are
    redrawn (partner included) up to max_tries times.  Dirichlet draws are normalised
    Gamma variates from a numpy Generator seeded by the torch generator.
    """
    key = "generate.gemix"
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"{key}.num_classes must be an integer >= 2, got {num_classes!r}")
    _check_positive(concentration_major, f"{key}.concentration_major")
    _check_positive(concentration_minor, f"{key}.concentration_minor")
    _check_positive(alpha, f"{key}.alpha")
    if concentration_major <= concentration_minor:
        raise ConfigError(f"{key}.concentration_major ({concentration_major!r}) must exceed "
                          f"{key}.concentration_minor ({concentration_minor!r})")
    if classes.dim() != 1:
        raise ValueError(f"classes must be 1-D, got shape {tuple(classes.shape)}")
    major = classes.detach().cpu().long().numpy()
    if major.size and (major.min() < 0 or major.max() >= num_classes):
        raise ValueError(f"classes must lie in [0, {num_classes}), got {major.min()}..{major.max()}")

    rng = _numpy_rng(generator)
    n = len(major)
    y = np.zeros((n, num_classes), dtype=np.float32)
    partner = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(max_tries):
        if not todo.size:
            break
        m, rows = len(todo), np.arange(len(todo))
        i = major[todo]
        j = (i + rng.integers(1, num_classes, size=m)) % num_classes
        conc = np.full((m, num_classes), concentration_minor)
        conc[rows, i] = concentration_major
        y1 = rng.standard_gamma(conc)
        conc[rows, i], conc[rows, j] = concentration_minor, concentration_major
        y2 = rng.standard_gamma(conc)
        with np.errstate(invalid="ignore", divide="ignore"):
            y1 /= y1.sum(axis=1, keepdims=True)
            y2 /= y2.sum(axis=1, keepdims=True)
        lam = rng.beta(alpha, alpha, size=m)
        lam = np.maximum(lam, 1.0 - lam)[:, None]
        mix = (lam * y1 + (1.0 - lam) * y2).astype(np.float32)  # check what is returned
        ok = _valid_gemix(mix, i, j)
        y[todo[ok]], partner[todo[ok]] = mix[ok], j[ok]
        todo = todo[~ok]
    if todo.size:
        raise RuntimeError(
            f"gemix_labels: {todo.size} of {n} rows still had top-two classes other than "
            f"{{major, partner}} after max_tries={max_tries}; raise {key}.concentration_major "
            f"(now {concentration_major}), lower {key}.concentration_minor (now "
            f"{concentration_minor}) or raise max_tries")
    return torch.from_numpy(y), torch.from_numpy(partner)
