"""Class-conditional generators (cGAN, cVAE, code-perturbing AE) sharing one `sample` interface.

Every generator has `num_classes`, `kind`, a `config` dict of its constructor kwargs
(`build_generator(module.kind, **module.config)` rebuilds it) and
`sample(y, generator) -> images in [-1, 1]`. Random draws in `sample` are made row by row,
in row order, from the given generator: in eval mode row i depends only on y[i] and its own
draws, so sampling N rows in one batch or in several consecutive batches with the same
generator gives the same images.

Sizes. Every network follows one resolution plan (:func:`resolution_plan`): a start map of
s0 = 4 to 7 px doubled k times up to the image side (16 = 4 x 4, 28 = 7 x 4, 64 = 4 x 16,
128 = 4 x 32, 224 = 7 x 32). The cGAN generator upsamples from s0 and the discriminator
mirrors it down to s0; resolution r carries ``min(width * image_size / r, max_width)``
channels (:func:`channel_plan`), so the full-resolution layers stay narrow and the coarse
ones wide, and the cost per layer stays about constant as the image grows. At 16 and 28
px, with the default widths, every network is the one of earlier versions (same layers,
same parameter names and the same initialisation for a seed).

The cVAE and AE are MLPs up to 32 px and convolutional above (``arch='auto'``): an MLP's
first and last layers hold C * S^2 * hidden weights (0.8 M at 32 px RGB, 3.1 M at 64 px,
12.6 M at 128 px for hidden 256) and learn every pixel position separately from a few
hundred images, while convolutions share their weights across positions and their size
does not grow with the image; below 32 px the MLP is small, trains well on these data
sets and keeps earlier results. The convolutional variant uses the same plan with
``width = hidden // 8`` and cap ``hidden``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ..core.errors import ConfigError, DataError
from ..core.params import IMAGE_SIZES

log = logging.getLogger(__name__)


def _check_common(num_classes: int, channels: int, image_size: int, **positive: int) -> None:
    """Validate the shape arguments shared by all generators; raise ConfigError naming the field."""
    for name, value in {"num_classes": num_classes, "channels": channels, **positive}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    resolution_plan(image_size)


def resolution_plan(image_size: int) -> tuple[int, int]:
    """(s0, k): image_size = s0 * 2**k with a start map s0 of 4 to 7 px; ConfigError otherwise."""
    if not isinstance(image_size, int) or isinstance(image_size, bool) \
            or image_size not in IMAGE_SIZES:
        raise ConfigError(
            f"params key 'base.image_size' = {image_size!r} is not allowed: image_size must be "
            "a multiple of 4, at least 8 and at most 256, that the generators reach by doubling "
            f"a start map of 4 to 7 px: one of {', '.join(map(str, IMAGE_SIZES))}")
    k = 0
    while image_size >> k >= 8:
        k += 1
    return image_size >> k, k


def channel_plan(image_size: int, width: int, max_width: int) -> list[tuple[int, int]]:
    """(resolution, channels) from the start map to the image: min(width * size / r, max_width)."""
    s0, k = resolution_plan(image_size)
    return [(s0 << j, min(width << (k - j), max_width)) for j in range(k + 1)]


def _check_arch(arch: str, image_size: int) -> bool:
    """Whether the cVAE/AE is convolutional: ``arch`` 'conv', or 'auto' above 32 px."""
    if arch not in ("auto", "mlp", "conv"):
        raise ConfigError(f"arch must be 'auto', 'mlp' or 'conv', got {arch!r}")
    return arch == "conv" or (arch == "auto" and image_size > MLP_MAX_SIZE)


MLP_MAX_SIZE = 32  # arch 'auto': the cVAE and AE are MLPs up to this side, convolutional above


def _check_y(y: Tensor, num_classes: int) -> None:
    if y.dim() != 2 or y.shape[1] != num_classes:
        raise DataError(
            f"class conditions must have shape (N, {num_classes}), got {tuple(y.shape)}"
        )


def row_normals(n: int, dim: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """Draw an (n, dim) standard-normal matrix row by row from `generator` (batch-size invariant).

    On a CPU generator, one ``randn(n, dim)`` call draws exactly the numbers of n calls
    ``randn(dim)`` in a row when dim is a multiple of 16 (torch fills normals in blocks of
    16; tested), so that case is drawn in one call; other widths are drawn row by row.
    """
    if n == 0:
        return torch.empty(0, dim, device=device)
    if generator.device.type == "cpu" and dim % 16 == 0:
        out = torch.randn(n, dim, generator=generator)
    else:
        rows = [torch.randn(dim, generator=generator, device=generator.device) for _ in range(n)]
        out = torch.stack(rows)
    return out.to(device, non_blocking=True)


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _conv_encoder(channels: int, image_size: int, hidden: int) -> tuple[nn.Sequential, int]:
    """Convolutions from the image down to the s0 x s0 start map, flattened; (net, out size)."""
    plan = channel_plan(image_size, max(hidden // 8, 1), hidden)
    widths = [c for _, c in reversed(plan)]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1), nn.ReLU()]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
    s0, c0 = plan[0]
    return nn.Sequential(*layers, nn.Flatten()), c0 * s0 * s0


def _conv_decoder(d_in: int, channels: int, image_size: int, hidden: int) -> nn.Sequential:
    """Linear layers to the s0 x s0 start map, then upsample-conv blocks to the image, tanh."""
    plan = channel_plan(image_size, max(hidden // 8, 1), hidden)
    s0, c0 = plan[0]
    layers: list[nn.Module] = [_mlp([d_in, hidden, c0 * s0 * s0]), nn.ReLU(),
                               nn.Unflatten(1, (c0, s0, s0))]
    for (_, a), (_, b) in zip(plan[:-1], plan[1:], strict=True):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(a, b, 3, 1, 1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(plan[-1][1], channels, 3, 1, 1), nn.Tanh())


# --------------------------------------------------------------------------- cGAN


class CGANGenerator(nn.Module):
    """Conditional GAN generator: (z, y @ E) -> linear to an s0 x s0 map -> k upsample-conv
    blocks (one per doubling, widths from :func:`channel_plan`) -> conv -> tanh."""

    kind = "cgan"

    def __init__(
        self, num_classes: int, channels: int, image_size: int, z_dim: int = 64, width: int = 32,
        max_width: int = 256,
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, width=width,
                      max_width=max_width)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, z_dim=z_dim,
            width=width, max_width=max_width,
        )  # fmt: skip
        self.num_classes, self.z_dim, self.width = num_classes, z_dim, width
        plan = channel_plan(image_size, width, max_width)
        self.s0, self.c0 = plan[0]
        self.embed = nn.Linear(num_classes, z_dim, bias=False)
        self.fc = nn.Linear(2 * z_dim, self.c0 * self.s0 * self.s0)
        ups = [m for (_, a), (_, b) in zip(plan[:-1], plan[1:], strict=True) for m in self._up(a, b)]
        self.net = nn.Sequential(  # in-place activations: same results, less memory traffic
            nn.BatchNorm2d(self.c0),
            nn.ReLU(inplace=True),
            *ups,
            nn.Conv2d(plan[-1][1], channels, 3, 1, 1),
            nn.Tanh(),
        )

    @staticmethod
    def _up(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Map latent codes z (N, z_dim) and class probabilities y (N, K) to images."""
        h = self.fc(torch.cat([z, self.embed(y)], dim=1))
        return self.net(h.view(-1, self.c0, self.s0, self.s0))

    def sample(self, y: Tensor, generator: torch.Generator) -> Tensor:
        """Generate one image per row of y with z ~ N(0, I) drawn from `generator`."""
        _check_y(y, self.num_classes)
        return self(row_normals(y.shape[0], self.z_dim, generator, y.device), y)


class ProjectionDiscriminator(nn.Module):
    """Spectral-normalised projection discriminator returning (N,) logits.

    It mirrors the generator: a 3x3 conv at the image's resolution, then per halving a 4x4
    stride-2 conv and a 3x3 conv, down to the s0 x s0 start map (widths from
    :func:`channel_plan`), sum-pooled.
    """

    def __init__(self, num_classes: int, channels: int, image_size: int, width: int = 32,
                 max_width: int = 256) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, width=width, max_width=max_width)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, width=width,
            max_width=max_width,
        )  # fmt: skip
        self.num_classes = num_classes

        def conv(cin: int, cout: int, k: int, s: int) -> nn.Module:
            return spectral_norm(nn.Conv2d(cin, cout, k, s, 1))

        widths = [c for _, c in reversed(channel_plan(image_size, width, max_width))]
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731 - in place: same results
        layers: list[nn.Module] = [conv(channels, widths[0], 3, 1), act()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [conv(a, b, 4, 2), act(), conv(b, b, 3, 1), act()]
        self.net = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Linear(num_classes, widths[-1], bias=False))

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


def diff_augment_params(
    n: int, size: int, generator: torch.Generator, translation: float = 0.125
) -> Tensor:
    """Draw the random part of :func:`diff_augment` for n images: (n, 3) rows (shift, dy, dx).

    shift ~ U[-0.5, 0.5); dy, dx uniform integers in [-t, t], t = round(translation * size)
    (zero when t is 0). Drawn on the generator's device, in this order.
    """
    dev = generator.device
    shift = torch.rand(n, generator=generator, device=dev) - 0.5
    t = round(translation * size)
    if t == 0:
        return torch.stack([shift, torch.zeros_like(shift), torch.zeros_like(shift)], dim=1)
    dy = torch.randint(-t, t + 1, (n,), generator=generator, device=dev)
    dx = torch.randint(-t, t + 1, (n,), generator=generator, device=dev)
    return torch.stack([shift, dy.to(shift), dx.to(shift)], dim=1)


def apply_diff_augment(x: Tensor, params: Tensor, translation: float = 0.125) -> Tensor:
    """Brightness shift and translation of (N, C, H, W) images by (N, 3) drawn ``params``.

    Uncovered pixels are filled with -1 (background); gradients flow to x. Pure tensor
    arithmetic on x's device: no host synchronisation.
    """
    n, _, hgt, wid = x.shape
    params = params.to(device=x.device, dtype=x.dtype)
    x = x + params[:, 0].view(n, 1, 1, 1)
    t_h, t_w = round(translation * hgt), round(translation * wid)
    if t_h == 0 and t_w == 0:
        return x
    dy = params[:, 1].long().view(n, 1, 1)
    dx = params[:, 2].long().view(n, 1, 1)
    padded = F.pad(x, (t_w, t_w, t_h, t_h), value=-1.0)
    rows = torch.arange(hgt, device=x.device).view(1, -1, 1) + t_h - dy  # (n, H, 1)
    cols = torch.arange(wid, device=x.device).view(1, 1, -1) + t_w - dx  # (n, 1, W)
    batch = torch.arange(n, device=x.device).view(-1, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols]  # (n, H, W, C)
    return out.permute(0, 3, 1, 2)


def diff_augment(x: Tensor, generator: torch.Generator, translation: float = 0.125) -> Tensor:
    """Differentiable augmentation: per-image brightness shift in [-0.5, 0.5) and translation.

    Translation moves each image by integer offsets in [-t, t] pixels per axis,
    t = round(translation * size), filling uncovered pixels with -1 (background).
    All randomness comes from `generator`; gradients flow to x.
    """
    params = diff_augment_params(len(x), x.shape[-1], generator, translation)
    return apply_diff_augment(x, params, translation)


# --------------------------------------------------------------------------- cVAE


class ConditionalVAE(nn.Module):
    """Conditional VAE, MLP or convolutional (see the module notes); recon loss = squared error
    summed over pixels, averaged over the batch. The label joins the flattened image
    (MLP) or the flattened start map (conv) in the encoder and the code in the decoder."""

    kind = "cvae"

    def __init__(
        self, num_classes: int, channels: int, image_size: int, z_dim: int = 16, hidden: int = 256,
        arch: str = "auto",
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, hidden=hidden)
        conv = _check_arch(arch, image_size)
        self.config: dict[str, Any] = dict(
            num_classes=num_classes, channels=channels, image_size=image_size, z_dim=z_dim,
            hidden=hidden, arch=arch,
        )  # fmt: skip
        self.num_classes, self.z_dim = num_classes, z_dim
        self.shape = (channels, image_size, image_size)
        d = channels * image_size * image_size
        self.features: nn.Module = nn.Flatten()
        if conv:
            self.features, d_feat = _conv_encoder(channels, image_size, hidden)
            self.encoder = nn.Sequential(_mlp([d_feat + num_classes, hidden]), nn.ReLU())
        else:
            self.encoder = nn.Sequential(_mlp([d + num_classes, hidden, hidden]), nn.ReLU())
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)
        if conv:
            self.decoder = _conv_decoder(z_dim + num_classes, channels, image_size, hidden)
        else:
            self.decoder = nn.Sequential(_mlp([z_dim + num_classes, hidden, hidden, d]), nn.Tanh())

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mu, logvar) of q(z | x, y); logvar is clamped to [-10, 10] for stability."""
        h = self.encoder(torch.cat([self.features(x), y], dim=1))
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Decode latent codes z with class probabilities y to images in [-1, 1]."""
        return self.decoder(torch.cat([z, y], dim=1)).view(-1, *self.shape)

    @staticmethod
    def reparameterize(
        mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """z = mu + sigma * eps with eps given, or drawn from `generator` (global RNG if None)."""
        if eps is None:
            dev = generator.device if generator is not None else mu.device
            eps = torch.randn(mu.shape, generator=generator, device=dev)
        return mu + torch.exp(0.5 * logvar) * eps.to(mu)

    def loss(
        self, x: Tensor, y: Tensor, beta: float = 1.0, generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return (recon + beta * kl, recon, kl), both terms summed per image and batch-averaged.

        The reparameterisation noise is ``eps`` (N, z_dim) if given, else drawn from
        ``generator``.
        """
        mu, logvar = self.encode(x, y)
        xr = self.decode(self.reparameterize(mu, logvar, generator, eps), y)
        recon = (xr - x).pow(2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        return recon + beta * kl, recon, kl

    def sample(self, y: Tensor, generator: torch.Generator) -> Tensor:
        """Decode z ~ N(0, I) (drawn from `generator`) for each row of y."""
        _check_y(y, self.num_classes)
        return self.decode(row_normals(y.shape[0], self.z_dim, generator, y.device), y)


# --------------------------------------------------------------------------- AE


class AutoEncoder(nn.Module):
    """Unconditional auto-encoder (MLP or convolutional, see the module notes); samples decode
    noisy codes of real images of a class."""

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
        arch: str = "auto",
    ) -> None:
        super().__init__()
        _check_common(num_classes, channels, image_size, z_dim=z_dim, hidden=hidden)
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
            raise ConfigError(f"noise must be a non-negative number, got {noise!r}")
        conv = _check_arch(arch, image_size)
        self.config: dict[str, Any] = dict(
            channels=channels, image_size=image_size, num_classes=num_classes, z_dim=z_dim,
            hidden=hidden, noise=noise, arch=arch,
        )  # fmt: skip
        self.num_classes, self.z_dim, self.noise = num_classes, z_dim, float(noise)
        self.shape = (channels, image_size, image_size)
        d = channels * image_size * image_size
        self.features: nn.Module = nn.Flatten()
        if conv:
            self.features, d_feat = _conv_encoder(channels, image_size, hidden)
            self.encoder = _mlp([d_feat, hidden, z_dim])
            self.decoder = _conv_decoder(z_dim, channels, image_size, hidden)
        else:
            self.encoder = _mlp([d, hidden, hidden, z_dim])
            self.decoder = nn.Sequential(_mlp([z_dim, hidden, hidden, d]), nn.Tanh())
        self.register_buffer("codes", torch.zeros(0, z_dim))
        self.register_buffer("code_labels", torch.zeros(0, dtype=torch.long))

    def encode(self, x: Tensor) -> Tensor:
        """Map images to latent codes (N, z_dim)."""
        return self.encoder(self.features(x))

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
        self.codes = torch.cat([self.encode(images[i:i + 256]) for i in range(0, len(images), 256)]
                               ) if len(images) else self.codes.new_zeros(0, self.z_dim)
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
