"""Tests of the classifier and generator modules (tiny widths; whole file runs in seconds)."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from synthaug.core.errors import ConfigError, DataError
from synthaug.core.params import IMAGE_SIZES
from synthaug.models.classifier import (
    ClassifierConfig,
    ResNetClassifier,
    build_classifier,
    mc_dropout,
    stem_halvings,
)
from synthaug.models.generators import (
    AutoEncoder,
    CGANGenerator,
    ConditionalVAE,
    ProjectionDiscriminator,
    build_generator,
    channel_plan,
    d_hinge_loss,
    diff_augment,
    g_hinge_loss,
    resolution_plan,
)
from synthaug.models.grouped import GroupedResNet

K = 3  # classes in the toy problems


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, c: int = 1, s: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, s, s, generator=gen(seed)) * 2 - 1


def one_hot(labels: list[int], k: int = K) -> torch.Tensor:
    return F.one_hot(torch.tensor(labels), k).float()


def tiny_clf(c: int = 1, **kw: object) -> ResNetClassifier:
    torch.manual_seed(0)
    cfg = ClassifierConfig(in_channels=c, num_classes=K, blocks=(1, 1, 1), widths=(4, 8, 8), **kw)
    return ResNetClassifier(cfg)


# ------------------------------------------------------------------ classifier


@pytest.mark.parametrize("size", [8, 16, 28])
@pytest.mark.parametrize("channels", [1, 3])
def test_classifier_shapes(size: int, channels: int) -> None:
    model = tiny_clf(channels).eval()
    x = images(2, channels, size)
    h, acts = model.trunk(x)
    logits, feats, act = model.head(h)
    assert model(x).shape == logits.shape == (2, K)
    assert feats.shape == model.penultimate(x).shape == (2, 8)
    assert act.shape[:2] == (2, 8)
    assert len(acts) == model.num_blocks - 1 == 2


def test_resnet34_layout_runs() -> None:
    cfg = ClassifierConfig(3, 10, blocks=(3, 4, 6, 3), widths=(64, 128, 256, 512))
    model = ResNetClassifier(cfg).eval()
    with torch.no_grad():
        h, acts = model.trunk(images(2, 3, 32))
        logits, feats, _ = model.head(h)
    assert logits.shape == (2, 10) and feats.shape == (2, 512)
    assert len(acts) == sum(cfg.blocks) - 1 and model.num_blocks == 16


def test_eval_forward_deterministic_and_train_dropout_active() -> None:
    model = tiny_clf()
    x = images(4)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    a = model(x)
    assert not torch.equal(a, model(x))


def test_mc_dropout_mask() -> None:
    out = mc_dropout(torch.ones(10_000), 0.5, gen(3))
    frac_zero = (out == 0).float().mean().item()
    assert 0.45 < frac_zero < 0.55
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(out, mc_dropout(torch.ones(10_000), 0.5, gen(3)))


def test_trunk_once_head_k_equals_full_passes() -> None:
    model = tiny_clf().eval()
    x = images(3)
    with torch.no_grad():
        h = model.trunk(x)[0]
        g1 = gen(7)
        shared = [model.head(h, g1)[0] for _ in range(4)]
        g2 = gen(7)
        full = [model.head(model.trunk(x)[0], g2)[0] for _ in range(4)]
        plain = model(x)
    for a, b in zip(shared, full, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(shared[0], shared[1])  # masks differ between draws
    assert not torch.equal(shared[0], plain)  # MC dropout is active in eval mode


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dropout": 0.0}, "dropout"),
        ({"dropout": 1.0}, "dropout"),
        ({"blocks": (1, 1)}, "blocks"),
        ({"blocks": (1, 0, 1)}, "blocks"),
        ({"widths": (4, -8, 8)}, "widths"),
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 1.5}, "num_classes"),
    ],
)
def test_classifier_config_validation(kwargs: dict, field: str) -> None:
    base = {"in_channels": 1, "num_classes": K}
    with pytest.raises(ConfigError, match=field):
        ClassifierConfig(**{**base, **kwargs})


def test_classifier_config_accepts_lists() -> None:
    cfg = ClassifierConfig(1, 2, blocks=[1, 2], widths=[4, 8])  # type: ignore[arg-type]
    assert cfg.blocks == (1, 2) and hash(cfg)


# ------------------------------------------------------------------ generators


def make(kind: str, channels: int = 1, size: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    kw: dict = {"num_classes": K, "channels": channels, "image_size": size}
    if kind == "cgan":
        kw |= {"z_dim": 8, "width": 4}
    else:
        kw |= {"z_dim": 4, "hidden": 16}
    model = build_generator(kind, **kw)
    if kind == "ae":
        labels = torch.tensor([0, 1, 2, 0, 1, 2])
        model.set_codes(images(6, channels, size), labels)
    return model.eval()


KINDS = ["cgan", "cvae", "ae"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 16), (1, 28)])
def test_generator_sample_shape_and_range(kind: str, channels: int, size: int) -> None:
    model = make(kind, channels, size)
    with torch.no_grad():
        out = model.sample(one_hot([0, 1, 2, 2, 1]), gen())
    assert out.shape == (5, channels, size, size)
    assert out.min() >= -1 and out.max() <= 1
    assert model.num_classes == K and model.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_sample_deterministic_with_soft_labels(kind: str) -> None:
    model = make(kind)
    y = torch.softmax(torch.randn(5, K, generator=gen(1)), dim=1)
    with torch.no_grad():
        a, b = model.sample(y, gen(5)), model.sample(y, gen(5))
        c = model.sample(y, gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_rows_independent_of_batch(kind: str) -> None:
    model = make(kind)
    y = one_hot([0, 1, 2, 0, 2, 1, 1, 0])
    with torch.no_grad():
        full = model.sample(y, gen(9))
        head = model.sample(y[:4], gen(9))
        g = gen(9)
        chunked = torch.cat([model.sample(y[:3], g), model.sample(y[3:], g)])
    torch.testing.assert_close(head, full[:4])
    torch.testing.assert_close(chunked, full)


def test_generator_and_discriminator_forward() -> None:
    g_net, d_net = make("cgan"), ProjectionDiscriminator(K, 1, 8, width=4)
    y = one_hot([0, 1])
    x = g_net(torch.randn(2, 8), y)
    assert x.shape == (2, 1, 8, 8)
    assert d_net(x, y).shape == (2,)
    assert d_net(x, y * 0.5).shape == (2,)  # soft labels accepted


def test_hinge_losses_closed_form() -> None:
    two = torch.full((4,), 2.0)
    assert d_hinge_loss(two, -two).item() == 0.0
    assert d_hinge_loss(-two, two).item() == pytest.approx(6.0)
    zeros = torch.zeros(4)
    assert d_hinge_loss(zeros, zeros).item() == pytest.approx(2.0)
    assert g_hinge_loss(two).item() == pytest.approx(-2.0)
    assert g_hinge_loss(torch.tensor([1.0, -3.0])).item() == pytest.approx(1.0)


def test_diff_augment_differentiable_and_seeded() -> None:
    d_net = ProjectionDiscriminator(K, 1, 8, width=4)
    x = images(4).requires_grad_(True)
    aug = diff_augment(x, gen(2))
    assert aug.shape == x.shape
    assert torch.equal(aug, diff_augment(x, gen(2)))
    assert not torch.equal(aug, diff_augment(x, gen(3)))
    d_net(aug, one_hot([0, 1, 2, 0])).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diff_augment_translation_fills_background() -> None:
    x = torch.ones(16, 1, 8, 8)
    out = diff_augment(x, gen(0), translation=0.25)
    shifts = out.amax(dim=(1, 2, 3)) - 1.0  # brightness offset per image
    assert (shifts.abs() <= 0.5).all()
    # every pixel is the brightness-shifted image value or the (unshifted) background -1
    image_px = out == (1.0 + shifts).view(-1, 1, 1, 1)
    assert torch.all(image_px | (out == -1.0))
    assert (out == -1.0).any()


@pytest.mark.parametrize("kind", ["cvae", "ae"])
def test_optimizer_steps_lower_loss(kind: str) -> None:
    model = make(kind).train()
    x, y = images(8, seed=4), one_hot([0, 1, 2, 0, 1, 2, 0, 1])

    def loss() -> torch.Tensor:
        if kind == "cvae":
            return model.loss(x, y, beta=1.0, generator=gen(0))[0]
        return model.loss(x)

    before = loss().item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < before


def test_cvae_loss_parts() -> None:
    model = make("cvae")
    total, recon, kl = model.loss(images(4), one_hot([0, 1, 2, 0]), beta=0.5, generator=gen())
    assert recon > 0 and kl >= 0
    torch.testing.assert_close(total, recon + 0.5 * kl)


@pytest.mark.parametrize("kind", KINDS)
def test_build_generator_round_trip(kind: str) -> None:
    model = make(kind)
    buf = io.BytesIO()
    torch.save({"kind": model.kind, "config": model.config, "state": model.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf)
    torch.manual_seed(123)  # fresh weights differ from the saved ones
    clone = build_generator(ckpt["kind"], **ckpt["config"])
    clone.load_state_dict(ckpt["state"])
    clone.eval()
    y = one_hot([2, 0, 1, 1])
    with torch.no_grad():
        assert torch.equal(model.sample(y, gen(4)), clone.sample(y, gen(4)))
    if kind == "ae":
        assert clone.codes.shape == (6, 4) and clone.code_labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_ae_missing_class_raises() -> None:
    model = build_generator("ae", channels=1, image_size=8, num_classes=K, z_dim=4, hidden=16)
    model.set_codes(images(2), torch.tensor([0, 0]))
    with torch.no_grad():
        model.sample(one_hot([0, 0]), gen())
        with pytest.raises(DataError, match="class 2"):
            model.sample(one_hot([0, 2]), gen())


def test_ae_codes_resize_on_load() -> None:
    small = make("ae")
    big = build_generator("ae", **small.config)
    big.set_codes(images(10), torch.arange(10) % K)
    small.load_state_dict(big.state_dict())
    assert small.codes.shape == (10, 4)
    torch.testing.assert_close(small.codes, big.codes)


@pytest.mark.parametrize(
    ("kind", "kwargs", "field"),
    [
        ("gan", {}, "kind"),
        ("cgan", {"num_classes": K, "channels": 1, "image_size": 10}, "image_size"),
        ("cvae", {"num_classes": K, "channels": 1, "image_size": 4}, "image_size"),
        ("ae", {"num_classes": 0, "channels": 1, "image_size": 8}, "num_classes"),
        ("ae", {"num_classes": K, "channels": 1, "image_size": 8, "noise": -1}, "noise"),
        ("cvae", {"num_classes": K, "channels": 1, "image_size": 8, "width": 4}, "width"),
    ],
)
def test_build_generator_validation(kind: str, kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build_generator(kind, **kwargs)


def test_sample_rejects_wrong_label_width() -> None:
    model = make("cvae")
    with pytest.raises(DataError):
        model.sample(torch.ones(2, K + 1) / (K + 1), gen())


def test_direct_constructors() -> None:
    assert isinstance(make("cgan"), CGANGenerator)
    assert isinstance(make("cvae"), ConditionalVAE)
    assert isinstance(make("ae"), AutoEncoder)


# ------------------------------------------------------------------ sizes (8 to 128 px)

SIZES = [8, 28, 64, 128]
# (resolution, channels) from the start map to the image for width 4, cap 16: the channels
# double at each halving of the resolution, up to the cap (written out, not computed)
CGAN_PLANS = {
    8: [(4, 8), (8, 4)],
    28: [(7, 16), (14, 8), (28, 4)],
    64: [(4, 16), (8, 16), (16, 16), (32, 8), (64, 4)],
    128: [(4, 16), (8, 16), (16, 16), (32, 16), (64, 8), (128, 4)],
}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_cgan_and_critic_follow_the_resolution_plan(size: int, channels: int) -> None:
    z, plan = 8, CGAN_PLANS[size]
    assert channel_plan(size, 4, 16) == plan
    g_net = CGANGenerator(K, channels, size, z_dim=z, width=4, max_width=16)
    d_net = ProjectionDiscriminator(K, channels, size, width=4, max_width=16)
    y = one_hot([0, 2])
    x = g_net(torch.randn(2, z), y)
    assert x.shape == (2, channels, size, size)
    (s0, c0), widths = plan[0], [c for _, c in plan]
    assert d_net.net(x).shape == (2, c0, s0, s0) and d_net(x, y).shape == (2,)
    # generator: embedding, linear to the start map, BN, one 3x3 conv + BN per doubling, output conv
    ups = sum(9 * a * b + 2 * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    expected_g = K * z + (2 * z + 1) * c0 * s0 * s0 + 2 * c0 + ups + 9 * widths[-1] * channels + channels
    assert n_params(g_net) == expected_g
    # critic: 3x3 conv at full size, per halving a 4x4 stride-2 and a 3x3 conv, linear + projection
    rev = widths[::-1]
    downs = sum(16 * a * b + b + 9 * b * b + b for a, b in zip(rev[:-1], rev[1:], strict=True))
    assert n_params(d_net) == 9 * channels * rev[0] + rev[0] + downs + c0 + 1 + K * c0


def test_cgan_at_16_and_28_px_is_the_earlier_network() -> None:
    """Same layers as the fixed two-upsampling design of earlier versions (widths 4w, 2w, w)."""
    for size, s0 in ((16, 4), (28, 7)):
        g_net = CGANGenerator(K, 1, size, z_dim=64, width=32)
        convs = [m for m in g_net.net if isinstance(m, torch.nn.Conv2d)]
        assert (g_net.s0, g_net.c0) == (s0, 128)
        assert [tuple(c.weight.shape[:2]) for c in convs] == [(64, 128), (32, 64), (1, 32)]
        d_net = ProjectionDiscriminator(K, 1, size, width=32)
        d_convs = [m for m in d_net.net if isinstance(m, torch.nn.Conv2d)]
        assert [tuple(c.weight.shape[:3]) for c in d_convs] == [
            (32, 1, 3), (64, 32, 4), (64, 64, 3), (128, 64, 4), (128, 128, 3)]


@pytest.mark.parametrize("size", [36, 44, 4, 10, 512, 30])
def test_unreachable_image_size_names_base_image_size_and_the_allowed_values(size: int) -> None:
    with pytest.raises(ConfigError) as err:
        resolution_plan(size)
    msg = str(err.value)
    assert "base.image_size" in msg and repr(size) in msg
    assert "8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128" in msg


def test_resolution_plan_start_maps() -> None:
    assert [resolution_plan(s) for s in (8, 12, 16, 28, 56, 64, 128, 224)] == [
        (4, 1), (6, 1), (4, 2), (7, 2), (7, 3), (4, 4), (4, 5), (7, 5)]
    assert all(4 <= resolution_plan(s)[0] <= 7 for s in IMAGE_SIZES)


# conv cVAE/AE plans for hidden 32: width hidden // 8 = 4, cap 32
VAE_PLANS = {64: [4, 8, 16, 32, 32], 128: [4, 8, 16, 32, 32, 32]}  # full resolution first


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["cvae", "ae"])
def test_vae_and_ae_shapes_and_parameter_counts(kind: str, size: int, channels: int) -> None:
    z, h = 4, 32
    kw = {"num_classes": K, "channels": channels, "image_size": size, "z_dim": z, "hidden": h}
    model = build_generator(kind, **kw).eval()
    k_in = K if kind == "cvae" else 0  # the label joins the encoder and decoder inputs
    if size <= 32:  # auto: MLP
        assert isinstance(model.features, torch.nn.Flatten)
        d = channels * size * size
        enc = (d + k_in) * h + h + h * h + h
        dec = (z + k_in) * h + h + h * h + h + h * d + d
        head = 2 * (h * z + z) if kind == "cvae" else h * z + z
    else:
        widths = VAE_PLANS[size]
        s0 = resolution_plan(size)[0]
        flat = widths[-1] * s0 * s0
        convs = 9 * channels * widths[0] + widths[0] + sum(
            16 * a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        enc = convs + (flat + k_in) * h + h
        ups = sum(9 * a * b + b for a, b in zip(widths[:0:-1], widths[-2::-1], strict=True))
        dec = (z + k_in) * h + h + h * flat + flat + ups + 9 * widths[0] * channels + channels
        head = 2 * (h * z + z) if kind == "cvae" else h * z + z
    assert n_params(model) == enc + head + dec
    x = images(3, channels, size)
    y = one_hot([0, 1, 2])
    if kind == "ae":
        model.set_codes(x, torch.tensor([0, 1, 2]))
        assert model.encode(x).shape == (3, z)
    else:
        mu, logvar = model.encode(x, y)
        assert mu.shape == logvar.shape == (3, z)
    with torch.no_grad():
        out = model.sample(y, gen())
    assert out.shape == (3, channels, size, size) and out.abs().max() <= 1


def test_vae_arch_can_be_forced() -> None:
    conv = build_generator("cvae", num_classes=K, channels=1, image_size=8, z_dim=4, hidden=16,
                           arch="conv")
    mlp = build_generator("ae", num_classes=K, channels=1, image_size=64, z_dim=4, hidden=16,
                          arch="mlp")
    assert not isinstance(conv.features, torch.nn.Flatten)
    assert isinstance(mlp.features, torch.nn.Flatten)
    with pytest.raises(ConfigError, match="arch"):
        build_generator("ae", num_classes=K, channels=1, image_size=8, arch="unet")


# last feature map (after the third stage) per image size: at most 8 px per side
LAST_MAP = {8: 2, 16: 4, 28: 7, 32: 8, 64: 8, 128: 8}


@pytest.mark.parametrize("size", SIZES + [16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_classifier_downsamples_large_images(size: int, channels: int) -> None:
    net = type("Net", (), {"blocks": [1, 1, 1], "widths": [4, 8, 8], "dropout": 0.5})
    model = build_classifier(channels, K, net, image_size=size).eval()
    assert model.cfg.stem_down == {64: 1, 128: 2}.get(size, 0)
    h, acts = model.trunk(images(2, channels, size))
    logits, feats, act = model.head(h)
    assert act.shape == (2, 8, LAST_MAP[size], LAST_MAP[size]) and logits.shape == (2, K)
    # the stem's stride and pools add no parameter: the count is that of the plain layout
    # stem, block 4->4, block 4->8 (stride 2, 1x1 shortcut), block 8->8 (stride 2, 1x1 shortcut)
    convs = 9 * channels * 4 + 2 * 9 * 4 * 4 + (9 * 4 * 8 + 9 * 8 * 8 + 4 * 8) + \
        (2 * 9 * 8 * 8 + 8 * 8)
    bns = 2 * (4 + 2 * 4 + 3 * 8 + 3 * 8)
    assert n_params(model) == convs + bns + 8 * K + K


def test_stem_halvings() -> None:
    assert [stem_halvings(s, 3) for s in (8, 16, 28, 32, 40, 64, 128, 224)] == [
        0, 0, 0, 0, 1, 1, 2, 3]
    assert [stem_halvings(s, 4) for s in (28, 64, 128, 224)] == [0, 0, 1, 2]


@pytest.mark.parametrize("size", [64, 128])
def test_grouped_member_equals_the_plain_classifier_with_a_strided_stem(size: int) -> None:
    net = type("Net", (), {"blocks": [1, 1], "widths": [4, 8], "dropout": 0.5})
    torch.manual_seed(0)
    plain = [build_classifier(1, K, net, image_size=size) for _ in range(2)]
    grouped = GroupedResNet(plain)
    x = torch.stack([images(3, 1, size, seed=s) for s in range(2)])  # (G, B, C, H, W)
    for m in plain:
        m.eval()
    grouped.eval()
    with torch.no_grad():
        out = grouped(x)
        for g, m in enumerate(plain):
            torch.testing.assert_close(out[g], m(x[g]), atol=1e-5, rtol=1e-4)
    # training mode: batch statistics per member, dropout masks from each member's generator
    for m in plain:
        m.train()
    grouped.train()
    out = grouped(x, [gen(10), gen(11)])
    for g, m in enumerate(plain):
        ref = m.head(m.trunk(x[g])[0], mc_generator=gen(10 + g))[0]
        torch.testing.assert_close(out[g], ref, atol=1e-5, rtol=1e-4)
    states = grouped.to_state_dicts()
    assert states[0].keys() == plain[0].state_dict().keys()


def test_224_px_the_gpu_size() -> None:
    """224 = 7 x 32: a 7x7 start map doubled five times; the ResNet-34 stem halves twice."""
    g_net = CGANGenerator(K, 3, 224, z_dim=8, width=2, max_width=16)
    d_net = ProjectionDiscriminator(K, 3, 224, width=2, max_width=16)
    y = one_hot([1])
    with torch.no_grad():
        x = g_net(torch.randn(1, 8), y)
        assert x.shape == (1, 3, 224, 224) and d_net.net(x).shape[-2:] == (7, 7)
        vae = build_generator("cvae", num_classes=K, channels=3, image_size=224, z_dim=4, hidden=16)
        assert vae.sample(y, gen()).shape == (1, 3, 224, 224)
    net = type("Net", (), {"blocks": [1, 1, 1, 1], "widths": [4, 4, 8, 8], "dropout": 0.5})
    clf = build_classifier(3, K, net, image_size=224).eval()
    assert clf.cfg.stem_down == 2
    with torch.no_grad():
        assert clf.head(clf.trunk(x)[0])[2].shape[-2:] == (7, 7)
