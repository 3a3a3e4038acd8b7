"""Class-conditional generators (cGAN, cVAE, code-perturbing AE) sharing one `sample` interface.

Every generator has `num_classes`, `kind`, a `config` dict of its constructor kwargs
(`build_generator(module.kind, **module.config)` rebuilds it) and
`sample(y, generator) -> images in [-1, 1]`. Random draws in `sample` are made row by row,
in row order, from the given generator: in eval mode row i depends only on y[i] and its own
draws, so sampling N rows in one batch or in several consecutive batches with the same
generator gives the same images.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ..core.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def _check_common(num_classes: int, channels: int, image_size: int, **positive: int) -> None:
    """Validate the shape arguments shared by all generators; raise ConfigError naming the field."""
    for name, value in {"num_classes": num_classes, "channels": channels, **positive}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if (
        not isinstance(image_size, int)
        or isinstance(image_size, bool)
        or image_size < 8
        or image_size % 4
    ):
        raise ConfigError(f"image_size must be a multiple of 4 and >= 8, got {image_size!r}")


def _check_y(y: Tensor, num_classes: int) -> None:
    if y.dim() != 2 or y.shape[1] != num_classes:
        raise DataError(
            f"class conditions must have shape (N, {num_classes}), got {tuple(y.shape)}"
        )


def row_normals(n: int, dim: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """Draw an (n, dim) standard-normal matrix row by row from `generator` (batch-size invariant)."""
    if n == 0:
        return torch.empty(0, dim, device=device)
    rows = [torch.randn(dim, generator=generator, device=generator.device) for _ in range(n)]
    return torch.stack(rows).to(device)


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- cGAN


class CGANGenerator(nn.Module):
    """Conditional GAN generator: (z, y @ E) -> linear -> 2 upsample-conv blocks -> tanh."""

    kind = "cgan"

    def __init__(
        self, num_classes: int, channels: int, image_size: int, z_dim: int = 64, width: int = 32
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, width=width)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, z_dim=z_dim,
            width=width,
        )  # fmt: skip
        self.num_classes, self.z_dim, self.width = num_classes, z_dim, width
        self.s0 = image_size // 4
        self.embed = nn.Linear(num_classes, z_dim, bias=False)
        self.fc = nn.Linear(2 * z_dim, 4 * width * self.s0 * self.s0)
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            *self._up(4 * width, 2 * width),
            *self._up(2 * width, width),
            nn.Conv2d(width, channels, 3, 1, 1),
            nn.Tanh(),
        )

    @staticmethod
    def _up(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Map latent codes z (N, z_dim) and class probabilities y (N, K) to images."""
        h = self.fc(torch.cat([z, self.embed(y)], dim=1))
        return self.net(h.view(-1, 4 * self.width, self.s0, self.s0))

    def sample(self, y: Tensor, generator: torch.Generator) -> Tensor:
        """Generate one image per row of y with z ~ N(0, I) drawn from `generator`."""
        _check_y(y, self.num_classes)
        return self(row_normals(y.shape[0], self.z_dim, generator, y.device), y)


class ProjectionDiscriminator(nn.Module):
    """Spectral-normalised projection discriminator returning (N,) logits."""

    def __init__(self, num_classes: int, channels: int, image_size: int, width: int = 32) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, width=width)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, width=width
        )
        self.num_classes = num_classes

        def conv(cin: int, cout: int, k: int, s: int) -> nn.Module:
            return spectral_norm(nn.Conv2d(cin, cout, k, s, 1))

        w = width
        self.net = nn.Sequential(
            conv(channels, w, 3, 1), nn.LeakyReLU(0.2),
            conv(w, 2 * w, 4, 2), nn.LeakyReLU(0.2),
            conv(2 * w, 2 * w, 3, 1), nn.LeakyReLU(0.2),
            conv(2 * w, 4 * w, 4, 2), nn.LeakyReLU(0.2),
            conv(4 * w, 4 * w, 3, 1), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.linear = spectral_norm(nn.Linear(4 * w, 1))
        self.embed = spectral_norm(nn.Linear(num_classes, 4 * w, bias=False))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Return linear(h) + <h, y @ E_d> with h the sum-pooled features."""
        h = self.net(x).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (h * self.embed(y)).sum(dim=1)


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator hinge loss: E[relu(1 - D(real))] + E[relu(1 + D(fake))]."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: Tensor) -> Tensor:
    """Generator hinge loss: -E[D(fake)]."""
    return -fake_logits.mean()


def diff_augment(x: Tensor, generator: torch.Generator, translation: float = 0.125) -> Tensor:
    """Differentiable augmentation: per-image brightness shift in [-0.5, 0.5) and translation.

    Translation moves each image by integer offsets in [-t, t] pixels per axis,
    t = round(translation * size), filling uncovered pixels with -1 (background).
    All randomness comes from `generator`; gradients flow to x.
    """
    n, _, hgt, wid = x.shape
    dev = generator.device
    shift = torch.rand(n, 1, 1, 1, generator=generator, device=dev).to(x) - 0.5
    x = x + shift
    t_h, t_w = round(translation * hgt), round(translation * wid)
    if t_h == 0 and t_w == 0:
        return x
    dy = torch.randint(-t_h, t_h + 1, (n, 1, 1), generator=generator, device=dev).to(x.device)
    dx = torch.randint(-t_w, t_w + 1, (n, 1, 1), generator=generator, device=dev).to(x.device)
    padded = F.pad(x, (t_w, t_w, t_h, t_h), value=-1.0)
    rows = torch.arange(hgt, device=x.device).view(1, -1, 1) + t_h - dy  # (n, H, 1)
    cols = torch.arange(wid, device=x.device).view(1, 1, -1) + t_w - dx  # (n, 1, W)
    batch = torch.arange(n, device=x.device).view(-1, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols]  # (n, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------- cVAE


class ConditionalVAE(nn.Module):
    """MLP conditional VAE; recon loss = squared error summed over pixels, averaged over batch."""

    kind = "cvae"

    def __init__(
        self, num_classes: int, channels: int, image_size: int, z_dim: int = 16, hidden: int = 256
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, hidden=hidden)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, z_dim=z_dim,
            hidden=hidden,
        )  # fmt: skip
        self.num_classes, self.z_dim = num_classes, z_dim
        self.shape = (channels, image_size, image_size)
        d = channels * image_size * image_size
        self.encoder = nn.Sequential(_mlp([d + num_classes, hidden, hidden]), nn.ReLU())
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)
        self.decoder = nn.Sequential(_mlp([z_dim + num_classes, hidden, hidden, d]), nn.Tanh())

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mu, logvar) of q(z | x, y); logvar is clamped to [-10, 10] for stability."""
        h = self.encoder(torch.cat([x.flatten(1), y], dim=1))
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Decode latent codes z with class probabilities y to images in [-1, 1]."""
        return self.decoder(torch.cat([z, y], dim=1)).view(-1, *self.shape)

    @staticmethod
    def reparameterize(
        mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw z = mu + sigma * eps with eps from `generator` (global RNG if None)."""
        dev = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, device=dev).to(mu)
        return mu + torch.exp(0.5 * logvar) * eps

    def loss(
        self, x: Tensor, y: Tensor, beta: float = 1.0, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return (recon + beta * kl, recon, kl), both terms summed per image and batch-averaged."""
        mu, logvar = self.encode(x, y)
        xr = self.decode(self.reparameterize(mu, logvar, generator), y)
        recon = (xr - x).pow(2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        return recon + beta * kl, recon, kl

    def sample(self, y: Tensor, generator: torch.Generator) -> Tensor:
        """Decode z ~ N(0, I) (drawn from `generator`) for each row of y."""
        _check_y(y, self.num_classes)
        return self.decode(row_normals(y.shape[0], self.z_dim, generator, y.device), y)


# --------------------------------------------------------------------------- AE


class AutoEncoder(nn.Module):
    """Unconditional MLP auto-encoder; samples decode noisy codes of real images of a class."""

    kind = "ae"
    codes: Tensor
    code_labels: Tensor

    def __init__(
        self,
        channels: int,
        image_size: int,
        num_classes: int,
        z_dim: int = 16,
        hidden: int = 256,
        noise: float = 0.5,  # code noise std, in units of the per-dimension std of all codes
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, hidden=hidden)
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
            raise ConfigError(f"noise must be a non-negative number, got {noise!r}")
        self.config: dict[str, Any] = dict(
            channels=channels, image_size=image_size, num_classes=num_classes, z_dim=z_dim,
            hidden=hidden, noise=noise,
        )  # fmt: skip
        self.num_classes, self.z_dim, self.noise = num_classes, z_dim, float(noise)
        self.shape = (channels, image_size, image_size)
        d = channels * image_size * image_size
        self.encoder = _mlp([d, hidden, hidden, z_dim])
        self.decoder = nn.Sequential(_mlp([z_dim, hidden, hidden, d]), nn.Tanh())
        self.register_buffer("codes", torch.zeros(0, z_dim))
        self.register_buffer("code_labels", torch.zeros(0, dtype=torch.long))

    def encode(self, x: Tensor) -> Tensor:
        """Map images to latent codes (N, z_dim)."""
        return self.encoder(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        """Map latent codes to images in [-1, 1]."""
        return self.decoder(z).view(-1, *self.shape)

    def loss(self, x: Tensor) -> Tensor:
        """Mean squared reconstruction error (averaged over all pixels and images)."""
        return F.mse_loss(self.decode(self.encode(x)), x)

    @torch.no_grad()
    def set_codes(self, images: Tensor, labels: Tensor) -> None:
        """Encode real training images (eval mode) and store their codes and integer labels."""
        labels = labels.argmax(1) if labels.dim() == 2 else labels
        labels = labels.long().to(images.device)
        if labels.shape[0] != images.shape[0]:
            raise DataError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DataError(f"labels must lie in [0, {self.num_classes - 1}]")
        was_training = self.training
        self.eval()
        self.codes = self.encode(images).detach()
        self.code_labels = labels
        self.train(was_training)
        log.debug("stored %d codes for %d classes", labels.numel(), labels.unique().numel())

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # Resize the code buffers to the stored size so any number of codes loads.
        for name in ("codes", "code_labels"):
            stored = state_dict.get(prefix + name)
            if isinstance(stored, Tensor):
                current = getattr(self, name)
                setattr(self, name, current.new_empty(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def sample(self, y: Tensor, generator: torch.Generator) -> Tensor:
        """Decode a random stored code of class argmax(y[i]) plus scaled Gaussian noise, per row."""
        _check_y(y, self.num_classes)
        classes = y.argmax(1).tolist()
        by_class: dict[int, Tensor] = {}
        for c in sorted(set(classes)):
            idx = (self.code_labels == c).nonzero().flatten()
            if idx.numel() == 0:
                raise DataError(f"AutoEncoder has no stored code for class {c}; call set_codes")
            by_class[c] = idx
        if not classes:
            return torch.empty(0, *self.shape, device=y.device)
        scale = self.noise * self.codes.std(dim=0, correction=0)
        dev = generator.device
        picks, eps = [], []
        for c in classes:
            pool = by_class[c]
            j = int(torch.randint(pool.numel(), (1,), generator=generator, device=dev))
            picks.append(pool[j])
            eps.append(torch.randn(self.z_dim, generator=generator, device=dev))
        z = self.codes[torch.stack(picks)] + torch.stack(eps).to(self.codes) * scale
        return self.decode(z).to(y.device)


# --------------------------------------------------------------------------- factory

GENERATORS: dict[str, type[nn.Module]] = {
    "cgan": CGANGenerator,
    "cvae": ConditionalVAE,
    "ae": AutoEncoder,
}


def build_generator(kind: str, **kwargs: Any) -> nn.Module:
    """Build a generator of `kind` ('cgan', 'cvae', 'ae') from its constructor kwargs."""
    if kind not in GENERATORS:
        raise ConfigError(f"generator kind must be one of {sorted(GENERATORS)}, got {kind!r}")
    try:
        return GENERATORS[kind](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for generator kind {kind!r}: {exc}") from exc
