"""Seeds trained together stay independent runs; the optimiser, schedule and curves are exact."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from synthaug.augment import TraditionalAugment, mixup, one_hot
from synthaug.core.params import Schedule
from synthaug.models.classifier import ClassifierConfig, ResNetClassifier
from synthaug.models.grouped import GroupedResNet
from synthaug.training.classifier import fit_classifiers, predict_proba
from synthaug.training.optim import Adam
from synthaug.training.tracking import epoch_logger

CFG = ClassifierConfig(in_channels=1, num_classes=4, blocks=(1, 1), widths=(4, 8), dropout=0.5)


def members(seeds: list[int], dtype: torch.dtype = torch.float32) -> list[ResNetClassifier]:
    """One freshly initialised classifier per seed (the stage initialises them the same way)."""
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(ResNetClassifier(CFG).to(dtype))
    return out


def toy_data(dtype: torch.dtype = torch.float32):
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(40, 1, 8, 8, generator=g) * 2 - 1).to(dtype)
    y = torch.randint(0, 4, (40,), generator=g)
    vx = (torch.rand(20, 1, 8, 8, generator=g) * 2 - 1).to(dtype)
    vy = torch.randint(0, 4, (20,), generator=g)
    return x, one_hot(y, 4).to(dtype), vx, vy


def test_grouped_forward_equals_each_member() -> None:
    models = members([0, 1, 2])
    net = GroupedResNet(models).eval()
    x = torch.randn(3, 5, 1, 8, 8)
    with torch.no_grad():
        grouped = net(x)
        alone = torch.stack([m.eval()(x[i]) for i, m in enumerate(models)])
    torch.testing.assert_close(grouped, alone, rtol=1e-5, atol=1e-5)
    for sd, model in zip(net.to_state_dicts(), models, strict=True):
        assert sd.keys() == model.state_dict().keys()
        for k, v in model.state_dict().items():
            assert torch.equal(sd[k], v), k


def test_keep_slices_members_and_optimizer_state() -> None:
    models = members([0, 1, 2])
    net = GroupedResNet(models)
    opt = Adam(net.parameters(), lr=0.1)
    net(torch.randn(3, 4, 1, 8, 8)).sum().backward()
    opt.step()
    before = net.to_state_dicts()
    avg = {id(p): m.clone() for p, m in zip(opt.params, opt.exp_avg, strict=True)}
    olds = list(opt.params)
    net.keep([0, 2], opt)
    assert net.groups == 2
    after = net.to_state_dicts()
    for k in before[0]:
        assert torch.equal(after[0][k], before[0][k]) and torch.equal(after[1][k], before[2][k])
    assert all(p is q for p, q in zip(opt.params, net.parameters(), strict=True))
    for old, m in zip(olds, opt.exp_avg, strict=True):
        assert torch.equal(m, avg[id(old)][[0, 2]])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_seed_trained_with_others_equals_seed_trained_alone(precision: str) -> None:
    """float64 makes the comparison exact: no group-size-dependent rounding hides a real leak."""
    dtype = torch.float64 if precision == "fp32" else torch.float32
    x, y, vx, vy = toy_data(dtype)
    schedule = Schedule(epochs=8, batch_size=16, lr=3e-3, lr_schedule="cosine", warmup_epochs=1,
                        patience=2)
    transform = TraditionalAugment(rotate=10.0, shift=0.1, brightness=0.1)

    def train(seeds):
        models = members(seeds, dtype)
        fits = fit_classifiers(models, [torch.Generator().manual_seed(s) for s in seeds], x, y, vx, vy,
                               schedule, precision=precision, transform=transform,
                               mixing=lambda a, b, g: mixup(a, b, 0.4, g))
        return models, fits

    together, fits = train([0, 1, 2, 3])
    assert len({f.stopped_epoch for f in fits}) > 1, "the case must include members that stop early"
    for i, seed in enumerate([0, 1, 2, 3]):
        (alone,), (fit,) = train([seed])
        assert (fit.best_epoch, fit.stopped_epoch) == (fits[i].best_epoch, fits[i].stopped_epoch)
        if precision == "fp32":
            assert [r["val_loss"] for r in fit.history] == \
                pytest.approx([r["val_loss"] for r in fits[i].history], rel=1e-12)
        tol = 1e-12 if precision == "fp32" else 2e-2
        for k, v in alone.state_dict().items():
            torch.testing.assert_close(together[i].state_dict()[k], v, rtol=tol, atol=tol, msg=k)


def test_member_keeps_its_best_epoch_weights() -> None:
    x, y, vx, vy = toy_data()
    models = members([0])
    (fit,) = fit_classifiers(models, [torch.Generator().manual_seed(0)], x, y, vx, vy,
                             Schedule(epochs=5, batch_size=16, lr=1e-2, patience=None))
    losses = [row["val_loss"] for row in fit.history]
    assert fit.best_epoch == 1 + min(range(len(losses)), key=losses.__getitem__)
    assert fit.stopped_epoch == 5 and fit.best_epoch < 5  # the last weights are not the best
    assert all(torch.equal(models[0].state_dict()[k], v) for k, v in fit.state_dict.items())
    # the weights left in the model score the best epoch's validation loss, not the last one's
    probs = predict_proba(models[0], vx)
    loss = F.nll_loss(probs.clamp_min(1e-12).log(), vy).item()
    assert loss == pytest.approx(fit.best["val_loss"], rel=1e-5)
    assert loss != pytest.approx(losses[-1], rel=1e-5)


def test_adam_matches_torch_adam() -> None:
    torch.manual_seed(0)
    for weight_decay, betas in ((0.0, (0.9, 0.999)), (1e-3, (0.0, 0.9))):
        a, b = torch.nn.Linear(5, 3).double(), torch.nn.Linear(5, 3).double()
        b.load_state_dict(a.state_dict())
        ours = Adam(a.parameters(), lr=1e-2, betas=betas, weight_decay=weight_decay)
        ref = torch.optim.Adam(b.parameters(), lr=1e-2, betas=betas, weight_decay=weight_decay)
        for _ in range(10):
            x = torch.randn(8, 5, dtype=torch.float64)
            for model, opt in ((a, ours), (b, ref)):
                opt.zero_grad()
                model(x).pow(2).sum().backward()
                opt.step()
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q)


def test_adam_state_round_trip() -> None:
    a = torch.nn.Linear(3, 2)
    opt = Adam(a.parameters(), lr=0.1)
    a(torch.randn(4, 3)).sum().backward()
    opt.step()
    other = Adam(a.parameters(), lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.step_count == 1
    assert all(torch.equal(m, n) for m, n in zip(opt.exp_avg, other.exp_avg, strict=True))
    assert all(torch.equal(m, n) for m, n in zip(opt.exp_avg_sq, other.exp_avg_sq, strict=True))


def test_cosine_schedule_closed_form() -> None:
    s = Schedule(epochs=10, lr_schedule="cosine", warmup_epochs=2)
    steps = 4  # per epoch
    assert s.lr_factor(0, steps) == pytest.approx(0.1)
    assert s.lr_factor(4, steps) == pytest.approx(0.1 + 0.9 * 4 / 8)
    assert s.lr_factor(8, steps) == pytest.approx(1.0)
    assert s.lr_factor(8 + 16, steps) == pytest.approx(0.5)  # half-way through the decay
    assert s.lr_factor(40, steps) == pytest.approx(0.0, abs=1e-12)
    assert s.model_copy(update={"lr_schedule": "constant"}).lr_factor(17, steps) == 1.0
    assert all(0 <= s.lr_factor(k, steps) <= 1 for k in range(41))
    assert math.isclose(s.lr_factor(7, steps) + 0.9 / 8, s.lr_factor(8, steps))


def test_curves_in_dvclive_layout(tmp_path) -> None:
    with epoch_logger(tmp_path / "run") as log:
        log({"epoch": 1, "loss": 0.5, "seconds": 3.0, "note": "x"})
        log({"epoch": 2, "loss": 0.25, "seconds": 3.0, "note": "x"})
    files = sorted(p.name for p in (tmp_path / "run" / "plots" / "metrics").iterdir())
    assert files == ["loss.tsv"]
    assert (tmp_path / "run/plots/metrics/loss.tsv").read_text() == "step\tloss\n0\t0.5\n1\t0.25\n"
