"""Typed, validated params: one frozen dataclass per ``params.yaml`` section.

:func:`load_params` reads the whole file and validates every section, and the
cross-section rules, before a stage does any work: a typo in the last stage's
section fails the first stage that runs, with an error that names the key, the bad
value and what is allowed. Stages then read only their own section (and list only
those keys as DVC params, so DVC reruns exactly what changed).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import numpy as np
import yaml

from .errors import ConfigError

log = logging.getLogger(__name__)

GENERATOR_KINDS = ("cgan", "cvae", "ae")
# Image sides the generators reach: a start map of s0 = 4..7 px doubled k times (8 = 4 x 2,
# 28 = 7 x 4, 224 = 7 x 32), multiples of 4 only, up to 256 (synthaug.models.generators).
IMAGE_SIZES = tuple(sorted({s0 * 2**k for s0 in range(4, 8) for k in range(1, 7)
                            if s0 * 2**k % 4 == 0 and s0 * 2**k <= 256}))
FILTERS = ("all", "random", "entropy", "distance", "distance_single", "selective")


def _check(cond: bool, key: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"params key '{key}' = {value!r} is not allowed: {allowed}")


def _check_fields(obj: Any, key: str, names: tuple[str, ...], test: Any, allowed: str) -> None:
    """Apply :func:`_check` to several fields of a section with one test."""
    for name in names:
        _check(test(getattr(obj, name)), f"{key}.{name}", getattr(obj, name), allowed)


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Base:
    """Settings every stage shares."""

    seed: int = 0  # seeds Python, NumPy and torch in every stage
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present, else CPU
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # classifier arithmetic; auto: bf16 where
    # the hardware has it natively (CUDA, CPUs with AVX512-BF16 or AMX), else fp32
    image_size: int = 16  # square side in pixels: one of IMAGE_SIZES (8, 12, 16, 20, 24, 28, 32,
    # 40, 48, 56, 64, 80, ..., 128, ..., 224, 256); 224 and 256 are for a GPU

    def validate(self, key: str) -> None:
        _check(self.seed >= 0, f"{key}.seed", self.seed, ">= 0 (NumPy seeds must be non-negative)")
        _check(self.image_size in IMAGE_SIZES, f"{key}.image_size", self.image_size,
               "a multiple of 4, at least 8 and at most 256, that the generators reach by "
               "doubling a start map of 4 to 7 px: one of " + ", ".join(map(str, IMAGE_SIZES)))


@dataclass(frozen=True)
class PrepareData:
    """Where the images come from and how small/imbalanced the training split is."""

    source: Literal["digits", "medmnist", "folder"] = "digits"
    path: str = "data/raw"  # .npz file (medmnist) or folder of class subfolders (folder); a DVC dep
    test_size: float = 500  # images in the test split when the source has none (count, or fraction < 1)
    val_per_class: int = 15  # validation images per class when the source has none
    train_fraction: float = 1.0  # stratified fraction of the remaining training images
    train_cap: int | list[int] | None = None  # per-class cap: one int, or one cap per class
    resize: Literal["squash", "crop", "pad"] = "squash"  # images not of base.image_size: squash
    # (stretch to the square), crop (centre square of the short side) or pad (black borders)
    class_names: list[str] | None = None  # names of classes 0..K-1 in the report and tables

    def validate(self, key: str) -> None:
        _check(self.test_size > 0, f"{key}.test_size", self.test_size, "> 0")
        if self.test_size >= 1:
            _check(float(self.test_size).is_integer(), f"{key}.test_size", self.test_size,
                   "an integer count, or a fraction in (0, 1)")
        _check(self.val_per_class >= 1, f"{key}.val_per_class", self.val_per_class, ">= 1")
        _check(0 < self.train_fraction <= 1, f"{key}.train_fraction", self.train_fraction, "in (0, 1]")
        _check(self.train_cap != [], f"{key}.train_cap", self.train_cap,
               "null, one int, or a non-empty list with one cap per class")
        caps = [self.train_cap] if isinstance(self.train_cap, int) else (self.train_cap or [])
        _check(all(c >= 1 for c in caps), f"{key}.train_cap", self.train_cap, "caps >= 1")
        _check(bool(self.path.strip()), f"{key}.path", self.path,
               "a file or folder (data/raw when the source reads nothing)")
        if self.source == "medmnist":
            _check(self.path.endswith(".npz"), f"{key}.path", self.path,
                   "a path to the .npz file (required when source is 'medmnist')")
        names = self.class_names  # their number is checked against the data in prepare_data
        _check(names is None or (len(names) >= 1 and len(set(names)) == len(names)
                                 and all(n.strip() for n in names)),
               f"{key}.class_names", names, "null, or a list of distinct non-empty names")


@dataclass(frozen=True)
class Net:
    """ResNet-style classifier layout (also the feature extractor)."""

    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])  # per stage; [3, 4, 6, 3] = ResNet-34
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # channels per stage
    dropout: float = 0.5  # dropout before the last residual block (the MC-dropout layer)

    def validate(self, key: str) -> None:
        _check(len(self.blocks) == len(self.widths) and len(self.blocks) >= 1, f"{key}.blocks",
               self.blocks, f"one entry per stage, as many as {key}.widths ({len(self.widths)})")
        _check(all(b >= 1 for b in self.blocks), f"{key}.blocks", self.blocks, "entries >= 1")
        _check(all(w >= 1 for w in self.widths), f"{key}.widths", self.widths, "entries >= 1")
        _check(0 < self.dropout < 1, f"{key}.dropout", self.dropout, "in (0, 1)")


@dataclass(frozen=True)
class Schedule:
    """Optimiser schedule of a classifier."""

    epochs: int = 60  # at most this many epochs
    batch_size: int = 32
    lr: float = 1e-3  # Adam's (peak) learning rate
    weight_decay: float = 1e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: warm-up, then cosine to 0
    warmup_epochs: int = 0  # cosine: linear warm-up from lr/10 over this many epochs
    patience: int | None = None  # stop after this many epochs without a lower val loss (null: never)

    def validate(self, key: str) -> None:
        _check(self.epochs >= 1, f"{key}.epochs", self.epochs, ">= 1")
        _check(self.batch_size >= 2, f"{key}.batch_size", self.batch_size, ">= 2")
        _check(self.lr > 0, f"{key}.lr", self.lr, "> 0")
        _check(self.weight_decay >= 0, f"{key}.weight_decay", self.weight_decay, ">= 0")
        _check(0 <= self.warmup_epochs < self.epochs, f"{key}.warmup_epochs", self.warmup_epochs,
               f">= 0 and below {key}.epochs ({self.epochs})")
        _check(self.patience is None or self.patience >= 1, f"{key}.patience", self.patience,
               "null or >= 1")

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """Multiplier of ``lr`` at optimiser step ``step`` (0-based)."""
        if self.lr_schedule == "constant":
            return 1.0
        warm = self.warmup_epochs * steps_per_epoch
        if step < warm:
            return 0.1 + 0.9 * step / warm
        done = (step - warm) / max(self.epochs * steps_per_epoch - warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


@dataclass(frozen=True)
class TrainExtractor:
    """The domain classifier used as feature extractor by all later stages."""

    net: Net = field(default_factory=Net)
    schedule: Schedule = field(default_factory=Schedule)


@dataclass(frozen=True)
class CGAN:
    """Class-conditional GAN: hinge loss, spectral-norm projection discriminator."""

    z_dim: int = 64
    width: int = 32  # channels at the image's resolution; doubled at each halving of it, so
    # resolution r has min(width * image_size / r, max_width) channels (generator and critic)
    max_width: int = 256  # the cap of that schedule
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    ema: float = 0.99  # decay of the generator's weight average used for sampling (0 = off)
    diffaug: bool = True  # differentiable augmentation of the discriminator's inputs

    def validate(self, key: str) -> None:
        _check_fields(self, key, ("z_dim", "width", "max_width"), lambda v: v >= 1, ">= 1")
        _check_fields(self, key, ("lr_g", "lr_d"), lambda v: v > 0, "> 0")
        _check_fields(self, key, ("beta1", "beta2", "ema"), lambda v: 0 <= v < 1, "in [0, 1)")


@dataclass(frozen=True)
class CVAE:
    """Conditional VAE (MLP or convolutional encoder/decoder)."""

    z_dim: int = 16
    hidden: int = 256
    arch: Literal["auto", "mlp", "conv"] = "auto"  # auto: MLP up to 32 px, convolutional above
    lr: float = 1e-3
    beta: float = 1.0  # weight of the KL term

    def validate(self, key: str) -> None:
        _check_fields(self, key, ("z_dim", "hidden"), lambda v: v >= 1, ">= 1")
        _check(self.lr > 0, f"{key}.lr", self.lr, "> 0")
        _check(self.beta >= 0, f"{key}.beta", self.beta, ">= 0")


@dataclass(frozen=True)
class AE:
    """Autoencoder; new images decode perturbed codes of real images of the class."""

    z_dim: int = 16
    hidden: int = 256
    arch: Literal["auto", "mlp", "conv"] = "auto"  # auto: MLP up to 32 px, convolutional above
    lr: float = 1e-3
    noise: float = 0.5  # code perturbation, in units of the per-dimension code std

    def validate(self, key: str) -> None:
        _check_fields(self, key, ("z_dim", "hidden"), lambda v: v >= 1, ">= 1")
        _check(self.lr > 0, f"{key}.lr", self.lr, "> 0")
        _check(self.noise >= 0, f"{key}.noise", self.noise, ">= 0")


@dataclass(frozen=True)
class TrainGan:
    """Generator training; one DVC stage per kind in ``kinds``."""

    kinds: list[str] = field(default_factory=lambda: ["cgan"])
    epochs: int = 300
    checkpoint_every: int = 5  # a self-describing checkpoint every this many epochs
    batch_size: int = 32
    cgan: CGAN = field(default_factory=CGAN)
    cvae: CVAE = field(default_factory=CVAE)
    ae: AE = field(default_factory=AE)

    def validate(self, key: str) -> None:
        _check(len(self.kinds) >= 1 and len(set(self.kinds)) == len(self.kinds), f"{key}.kinds",
               self.kinds, "a non-empty list without repeats")
        for k in self.kinds:
            _check(k in GENERATOR_KINDS, f"{key}.kinds", k, f"one of {list(GENERATOR_KINDS)}")
        _check(self.epochs >= 1, f"{key}.epochs", self.epochs, ">= 1")
        _check(self.checkpoint_every >= 1, f"{key}.checkpoint_every", self.checkpoint_every, ">= 1")
        _check(self.checkpoint_every <= self.epochs, f"{key}.checkpoint_every", self.checkpoint_every,
               f"at most {key}.epochs ({self.epochs}), or no checkpoint would be saved")
        _check(self.batch_size >= 2, f"{key}.batch_size", self.batch_size, ">= 2")


@dataclass(frozen=True)
class SelectCheckpoint:
    """FID of every checkpoint in the extractor's feature space, EMA-smoothed (eq. 2)."""

    alpha: float = 0.3  # EMA weight of the previous smoothed value
    n_images: int = 500  # generated images per checkpoint (the same for every checkpoint);
    # fewer than the extractor's feature dimensions gives singular covariances: still finite
    # thanks to eps, but noisier (see synthaug.fid.frechet_distance)
    eps: float = 1e-6  # ridge added to both covariance diagonals

    def validate(self, key: str) -> None:
        _check(0 <= self.alpha < 1, f"{key}.alpha", self.alpha, "in [0, 1)")
        _check(self.n_images >= 2, f"{key}.n_images", self.n_images, ">= 2")
        _check(self.eps >= 0, f"{key}.eps", self.eps, ">= 0")


@dataclass(frozen=True)
class Pool:
    """A synthetic pool: which generator kind makes it and with which labels."""

    generator: str = "cgan"
    labels: Literal["onehot", "gemix"] = "onehot"  # gemix: blended Dirichlet soft labels


@dataclass(frozen=True)
class GeMix:
    """GeMix soft-label sampling (Dirichlet priors + Beta blend)."""

    concentration_major: float = 10.0
    concentration_minor: float = 0.5
    alpha: float = 0.4

    def validate(self, key: str) -> None:
        _check_fields(self, key, ("concentration_major", "concentration_minor", "alpha"),
                      lambda v: v > 0, "> 0")
        _check(self.concentration_major > self.concentration_minor, f"{key}.concentration_major",
               self.concentration_major, f"> {key}.concentration_minor ({self.concentration_minor})")


@dataclass(frozen=True)
class Generate:
    """Pool generation: 4*round(ratio*N_i) candidates per class from the chosen checkpoint."""

    ratio: float = 0.5  # r: selected synthetic images per real training image
    pools: dict[str, Pool] = field(default_factory=lambda: {"cgan": Pool()})
    gemix: GeMix = field(default_factory=GeMix)

    def validate(self, key: str) -> None:
        _check(self.ratio > 0, f"{key}.ratio", self.ratio, "> 0")
        _check(len(self.pools) >= 1, f"{key}.pools", self.pools, "at least one pool")
        for name, pool in self.pools.items():
            _check(name != "none" and name.isidentifier(), f"{key}.pools", name,
                   "pool names are identifiers other than 'none'")
            _check(pool.generator in GENERATOR_KINDS, f"{key}.pools.{name}.generator",
                   pool.generator, f"one of {list(GENERATOR_KINDS)}")
            if pool.labels == "gemix":
                _check(pool.generator in ("cgan", "cvae"), f"{key}.pools.{name}.generator",
                       pool.generator, "a conditional generator (cgan or cvae) for gemix labels")


@dataclass(frozen=True)
class FilterSynthetic:
    """MC-dropout scoring of a pool and the subsets of every filter."""

    passes: int = 5  # K Monte-Carlo dropout passes
    drop_foreign: bool = False  # drop candidates whose nearest centroid is another class
    batch_size: int = 256

    def validate(self, key: str) -> None:
        _check(self.passes >= 1, f"{key}.passes", self.passes, ">= 1")
        _check(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, ">= 1")


@dataclass(frozen=True)
class Traditional:
    """Traditional augmentation recipe (per data set: digits must not be flipped)."""

    flip_h: bool = False
    flip_v: bool = False
    rotate: float = 10.0  # max degrees
    shift: float = 0.1  # max fraction of the image side
    scale: float = 0.1  # max relative zoom
    brightness: float = 0.1  # max additive change on the [-1, 1] scale
    contrast: float = 0.1  # max relative contrast change

    def validate(self, key: str) -> None:
        for name, (limit, inclusive) in {"rotate": (180.0, True), "shift": (1.0, False),
                                         "scale": (1.0, False), "brightness": (2.0, True),
                                         "contrast": (1.0, False)}.items():
            value = getattr(self, name)
            bound = f"<= {limit:g}" if inclusive else f"< {limit:g}"
            _check(0 <= value and (value < limit or (inclusive and value == limit)),
                   f"{key}.{name}", value, f">= 0 and {bound}")


@dataclass(frozen=True)
class Recipe:
    """A method: which synthetic pool and filter, which transform and in-batch mixing."""

    pool: str = "none"  # a name in generate.pools, or none
    filter: Literal["all", "random", "entropy", "distance", "distance_single", "selective"] = "all"
    transform: Literal["none", "traditional"] = "none"
    mixing: Literal["none", "mixup", "zeta_mixup"] = "none"


@dataclass(frozen=True)
class TrainClassifier:
    """Classifiers of every method x seed: same net and schedule for all."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    net: Net = field(default_factory=Net)
    schedule: Schedule = field(default_factory=Schedule)
    traditional: Traditional = field(default_factory=Traditional)
    mixup_alpha: float = 0.4
    zeta_gamma: float = 2.8
    methods: dict[str, Recipe] = field(default_factory=lambda: {"baseline": Recipe()})

    def validate(self, key: str) -> None:
        _check(len(self.seeds) >= 1, f"{key}.seeds", self.seeds, "a non-empty list of ints")
        _check(len(set(self.seeds)) == len(self.seeds), f"{key}.seeds", self.seeds, "no repeats")
        _check(all(s >= 0 for s in self.seeds), f"{key}.seeds", self.seeds, "seeds >= 0")
        _check(self.mixup_alpha > 0, f"{key}.mixup_alpha", self.mixup_alpha, "> 0")
        _check(self.zeta_gamma > 0, f"{key}.zeta_gamma", self.zeta_gamma, "> 0")
        _check(len(self.methods) >= 1, f"{key}.methods", self.methods, "at least one method")
        for name in self.methods:
            _check(name.isidentifier(), f"{key}.methods", name, "method names are identifiers")


@dataclass(frozen=True)
class Evaluate:
    """Test-split evaluation over seeds."""

    baseline: str = "baseline"  # method the paired differences are taken against
    positive_class: int | None = None  # binary tasks: the positive class (default 1)

    def validate(self, key: str) -> None:
        # whether the class exists is checked against the data in prepare_data and evaluate
        _check(self.positive_class is None or self.positive_class >= 0, f"{key}.positive_class",
               self.positive_class, "null or a class index >= 0")


@dataclass(frozen=True)
class Params:
    """The whole validated ``params.yaml``."""

    base: Base = field(default_factory=Base)
    prepare_data: PrepareData = field(default_factory=PrepareData)
    train_extractor: TrainExtractor = field(default_factory=TrainExtractor)
    train_gan: TrainGan = field(default_factory=TrainGan)
    select_checkpoint: SelectCheckpoint = field(default_factory=SelectCheckpoint)
    generate: Generate = field(default_factory=Generate)
    filter_synthetic: FilterSynthetic = field(default_factory=FilterSynthetic)
    train_classifier: TrainClassifier = field(default_factory=TrainClassifier)
    evaluate: Evaluate = field(default_factory=Evaluate)

    def validate(self, key: str = "") -> None:
        """Rules that span sections."""
        tc, gen, tg = self.train_classifier, self.generate, self.train_gan
        for m, recipe in tc.methods.items():
            _check(recipe.pool == "none" or recipe.pool in gen.pools,
                   f"train_classifier.methods.{m}.pool", recipe.pool,
                   f"'none' or a pool in generate.pools {sorted(gen.pools)}")
            if recipe.pool == "none":
                _check(recipe.filter == "all", f"train_classifier.methods.{m}.filter", recipe.filter,
                       "'all' when the method uses no pool")
        used_pools = {r.pool for r in tc.methods.values()}
        for name, pool in gen.pools.items():
            _check(pool.generator in tg.kinds, f"generate.pools.{name}.generator", pool.generator,
                   f"a kind listed in train_gan.kinds {tg.kinds}")
            _check(name in used_pools, "generate.pools", name,
                   "a pool that some method in train_classifier.methods uses "
                   "(an unused pool would be generated for nothing: remove it)")
        used_kinds = {p.generator for p in gen.pools.values()}
        for kind in tg.kinds:
            _check(kind in used_kinds, "train_gan.kinds", kind,
                   "a kind that some pool in generate.pools uses "
                   "(an unused generator would be trained for nothing: remove it)")
        _check(self.evaluate.baseline in tc.methods, "evaluate.baseline", self.evaluate.baseline,
               f"a method in train_classifier.methods {sorted(tc.methods)}")
        for sec, net in (("train_extractor.net", self.train_extractor.net), ("train_classifier.net", tc.net)):
            n_down = len(net.widths) - 1
            _check(self.base.image_size // 2**n_down >= 2, f"{sec}.widths", net.widths,
                   f"at most {int(np.log2(self.base.image_size)) - 1} stages for base.image_size "
                   f"{self.base.image_size} (each stage after the first halves the image)")


# --------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to ``tp`` or raise ConfigError naming ``key``."""
    origin = get_origin(tp)
    bad = ConfigError(f"params key '{key}' = {value!r} has the wrong type: expected {_type_name(tp)}")
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"params key '{key}' = {value!r} is not allowed: {_type_name(tp)}")
    if tp is type(None):
        if value is None:
            return None
        raise bad
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_convert(v, get_args(tp)[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {str(k): _convert(v, get_args(tp)[1], f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not np.isfinite(value):
                raise ConfigError(f"params key '{key}' = {value!r} is not allowed: a finite number")
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"unsupported params type {tp!r} for {key}")


def parse_section(cls: type, data: Any, key: str) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad values name the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"params key '{key}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in names:
            close = difflib.get_close_matches(str(k), names, n=1)
            hint = f" (did you mean '{key}.{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown params key '{key}.{k}'{hint}; allowed keys: {', '.join(names)}"
            )
    kwargs = {name: _convert(data[name], hints[name], f"{key}.{name}") for name in names if name in data}
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(key)
    return obj


def parse_params(data: Any) -> Params:
    """Validate a whole params mapping (all sections and cross-section rules)."""
    if not isinstance(data, dict):
        raise ConfigError("params.yaml must be a mapping of sections")
    for k in data:
        if k not in {f.name for f in dataclasses.fields(Params)}:
            close = difflib.get_close_matches(str(k), [f.name for f in dataclasses.fields(Params)], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown params section '{k}'{hint}")
    hints = get_type_hints(Params)
    sections = {name: parse_section(hints[name], data.get(name), name) for name in hints}
    params = Params(**sections)
    params.validate()
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml`` (the only place the library reads it)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (run from the project root)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_params(data or {})


def as_dict(obj: Any) -> dict[str, Any]:
    """A params dataclass as a plain dict (saved next to outputs and in checkpoints)."""
    return dataclasses.asdict(obj)


def check_positive_class(positive_class: int | None, num_classes: int) -> None:
    """The binary positive class must exist (checked against the data, not only the params)."""
    if positive_class is not None and not 0 <= positive_class < num_classes:
        raise ConfigError(f"params key 'evaluate.positive_class' = {positive_class} is not a class "
                          f"of this data set (classes 0..{num_classes - 1})")
