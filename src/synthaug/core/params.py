"""Typed, validated params: one frozen pydantic model per ``params.yaml`` section.

:func:`load_params` validates every section and the rules across sections before a stage
does any work, so a typo in the last stage's section fails the first stage that runs. Types
are strict (no ``"3"`` for an int, no ``true`` for a number; an int is fine for a float),
unknown keys are errors, numbers carry their ranges, and every error names the full key,
the bad value and what is allowed. The defaults here ARE ``params.yaml``, the study's
methods, pools and comparisons included (``tests/test_params.py`` keeps them equal). A new
key is one annotated line in its section; a rule between keys goes in the section's
``rules`` (``Params.rules`` across sections). ``python -m synthaug.params_schema``
prints the JSON schema for editors.
"""

from __future__ import annotations

import difflib
import math
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .errors import ConfigError

Kind = Literal["cgan", "cvae", "ae"]  # generator kinds
# Image sides the generators reach: a start map of s0 = 4..7 px doubled k times (8 = 4 x 2,
# 28 = 7 x 4, 224 = 7 x 32), multiples of 4 only, up to 256 (synthaug.models.generators).
IMAGE_SIZES = tuple(sorted({s0 * 2**k for s0 in range(4, 8) for k in range(1, 7)
                            if s0 * 2**k % 4 == 0 and s0 * 2**k <= 256}))
Arch = Literal["auto", "mlp", "conv"]  # cVAE/AE networks; auto: MLP up to 32 px, convolutional above
RESERVED_POOLS = ("none", "oversample")  # none: no synthetic set; oversample: copies of real images
Pos = Annotated[int, Field(ge=1)]
NonNeg = Annotated[int, Field(ge=0)]
Batch = Annotated[int, Field(ge=2)]
PosF = Annotated[float, Field(gt=0)]
NonNegF = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, lt=1)]  # in [0, 1)
Open = Annotated[float, Field(gt=0, lt=1)]  # in (0, 1)
Unique = {"uniqueItems": True}  # JSON-schema hint for lists without repeats (checked in rules)


def _check(cond: bool, name: str, value: Any, allowed: str) -> None:
    """A broken rule: ``name`` relative to the section (``{at}`` in ``allowed`` stands for it)."""
    if not cond:
        raise PydanticCustomError("params", "{name}: {allowed}",
                                  {"name": name, "value": value, "allowed": allowed})


class Section(BaseModel):
    """Base of every section: strict types, no unknown keys, finite numbers, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _rules(self) -> Section:
        self.rules()
        return self

    def rules(self) -> None:
        """Rules between this section's keys (run once every key passed its own checks)."""


# --------------------------------------------------------------------------- sections


class Base(Section):
    """Settings every stage shares."""

    seed: NonNeg = 0  # seeds Python, NumPy and torch in every stage
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present, else CPU
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # classifier arithmetic; auto: bf16 where
    # the hardware has it natively (CUDA, CPUs with AVX512-BF16 or AMX), else fp32
    image_size: int = Field(16, json_schema_extra={"enum": list(IMAGE_SIZES)})  # square side in
    # pixels: one of IMAGE_SIZES (8, 12, 16, 20, 24, 28, 32, 40, ..., 128, ..., 224, 256); 224 and
    # 256 are for a GPU

    def rules(self) -> None:
        _check(self.image_size in IMAGE_SIZES, "image_size", self.image_size,
               "a multiple of 4, at least 8 and at most 256, that the generators reach by "
               "doubling a start map of 4 to 7 px: one of " + ", ".join(map(str, IMAGE_SIZES)))


class PrepareData(Section):
    """Where the images come from and how small/imbalanced the training split is."""

    source: Literal["digits", "medmnist", "folder"] = "digits"
    path: str = "data/raw"  # .npz file (medmnist) or folder of class subfolders (folder); a DVC dep
    test_size: PosF = 500  # images in the test split when the source has none (count, or fraction < 1)
    val_per_class: Pos = 15  # validation images per class when the source has none
    train_fraction: Annotated[float, Field(gt=0, le=1)] = 1.0  # stratified fraction of the rest
    train_cap: Pos | Annotated[list[Pos], Field(min_length=1)] | None = [
        5, 8, 11, 13, 16, 19, 22, 24, 27, 30]  # per-class cap: one int, or one cap per class
    resize: Literal["squash", "crop", "pad"] = "squash"  # images not of base.image_size: squash
    # (stretch to the square), crop (centre square of the short side) or pad (black borders)
    class_names: list[str] | None = None  # names of classes 0..K-1 in the report and tables

    def rules(self) -> None:
        _check(self.test_size < 1 or float(self.test_size).is_integer(), "test_size",
               self.test_size, "an integer count, or a fraction in (0, 1)")
        _check(bool(self.path.strip()), "path", self.path,
               "a file or folder (data/raw when the source reads nothing)")
        _check(self.source != "medmnist" or self.path.endswith(".npz"), "path", self.path,
               "a path to the .npz file (required when source is 'medmnist')")
        names = self.class_names  # their number is checked against the data in prepare_data
        _check(names is None or (len(names) >= 1 and len(set(names)) == len(names)
                                 and all(n.strip() for n in names)),
               "class_names", names, "null, or a list of distinct non-empty names")


class Net(Section):
    """ResNet-style classifier layout (also the feature extractor)."""

    blocks: Annotated[list[Pos], Field(min_length=1)] = [1, 1, 1]  # per stage; [3, 4, 6, 3] = ResNet-34
    widths: Annotated[list[Pos], Field(min_length=1)] = [32, 64, 128]  # channels per stage
    dropout: Open = 0.5  # dropout before the last residual block (the MC-dropout layer)

    def rules(self) -> None:
        _check(len(self.blocks) == len(self.widths), "blocks", self.blocks,
               f"one entry per stage, as many as {{at}}.widths ({len(self.widths)})")


class Schedule(Section):
    """Optimiser schedule of a classifier."""

    epochs: Pos = 60  # at most this many epochs
    batch_size: Batch = 32
    lr: PosF = 5e-3  # Adam's (peak) learning rate
    weight_decay: NonNegF = 1e-4
    lr_schedule: Literal["constant", "cosine"] = "cosine"  # cosine: warm-up, then cosine to 0
    warmup_epochs: NonNeg = 3  # cosine: linear warm-up from lr/10 over this many epochs
    patience: Pos | None = 15  # stop after this many epochs without a lower val loss (null: never)

    def rules(self) -> None:
        _check(self.warmup_epochs < self.epochs, "warmup_epochs", self.warmup_epochs,
               f">= 0 and below {{at}}.epochs ({self.epochs})")

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """Multiplier of ``lr`` at optimiser step ``step`` (0-based)."""
        if self.lr_schedule == "constant":
            return 1.0
        warm = self.warmup_epochs * steps_per_epoch
        if step < warm:
            return 0.1 + 0.9 * step / warm
        done = (step - warm) / max(self.epochs * steps_per_epoch - warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


class TrainExtractor(Section):
    """The domain classifier used as feature extractor by all later stages."""

    net: Net = Net()
    schedule: Schedule = Schedule()


class CGAN(Section):
    """Class-conditional GAN: hinge loss, spectral-norm projection discriminator."""

    z_dim: Pos = 64
    width: Pos = 32  # channels at the image's resolution; doubled at each halving of it, so
    # resolution r has min(width * image_size / r, max_width) channels (generator and critic)
    max_width: Pos = 256  # the cap of that schedule
    lr_g: PosF = 2e-4
    lr_d: PosF = 2e-4
    beta1: Unit = 0.0
    beta2: Unit = 0.9
    ema: Unit = 0.99  # decay of the generator's weight average used for sampling (0 = off)
    diffaug: bool = True  # differentiable augmentation of the discriminator's inputs


class CVAE(Section):
    """Conditional VAE (MLP or convolutional encoder/decoder)."""

    z_dim: Pos = 16
    hidden: Pos = 256
    arch: Arch = "auto"
    lr: PosF = 1e-3
    beta: NonNegF = 1.0  # weight of the KL term


class AE(Section):
    """Autoencoder; new images decode perturbed codes of real images of the class."""

    z_dim: Pos = 16
    hidden: Pos = 256
    arch: Arch = "auto"
    lr: PosF = 1e-3
    noise: NonNegF = 0.5  # code perturbation, in units of the per-dimension code std


class TrainGan(Section):
    """Generator training; one DVC stage per kind in ``kinds``."""

    kinds: list[Kind] = Field(["cgan", "cvae", "ae"], min_length=1, json_schema_extra=Unique)
    epochs: Pos = 300
    checkpoint_every: Pos = 5  # a self-describing checkpoint every this many epochs
    batch_size: Batch = 32
    cgan: CGAN = CGAN()
    cvae: CVAE = CVAE()
    ae: AE = AE()

    def rules(self) -> None:
        _check(len(set(self.kinds)) == len(self.kinds), "kinds", self.kinds, "a list without repeats")
        _check(self.checkpoint_every <= self.epochs, "checkpoint_every", self.checkpoint_every,
               f"at most {{at}}.epochs ({self.epochs}), or no checkpoint would be saved")


class SelectCheckpoint(Section):
    """FID of every checkpoint in the extractor's feature space, EMA-smoothed (eq. 2)."""

    alpha: Unit = 0.3  # EMA weight of the previous smoothed value
    n_images: Batch = 256  # generated images per checkpoint (the same for every checkpoint);
    # fewer than the extractor's feature dimensions gives singular covariances: still finite
    # thanks to eps, but noisier (see synthaug.fid.frechet_distance)
    eps: NonNegF = 1e-6  # ridge added to both covariance diagonals


class Pool(Section):
    """A synthetic pool: which generator kind makes it and with which labels."""

    generator: Kind = "cgan"
    labels: Literal["onehot", "gemix"] = "onehot"  # gemix: blended Dirichlet soft labels


class GeMix(Section):
    """GeMix soft-label sampling (Dirichlet priors + Beta blend)."""

    concentration_major: PosF = 10.0
    concentration_minor: PosF = 0.5
    alpha: PosF = 0.4

    def rules(self) -> None:
        _check(self.concentration_major > self.concentration_minor, "concentration_major",
               self.concentration_major, f"> {{at}}.concentration_minor ({self.concentration_minor})")


class Generate(Section):
    """Pool generation: 4*round(ratio*N_i) candidates per class from the chosen checkpoint."""

    ratio: PosF = 0.5  # r: selected synthetic images per real training image
    budget: Literal["proportional", "balanced"] = "proportional"  # proportional: round(r*N_i);
    # balanced: N_max + round(r*N_max) - N_i, so real + synthetic is equal across classes
    pools: dict[str, Pool] = Field(min_length=1, default={
        "cgan": Pool(), "cgan_gemix": Pool(labels="gemix"), "cvae": Pool(generator="cvae"),
        "ae": Pool(generator="ae")})
    gemix: GeMix = GeMix()

    def rules(self) -> None:
        for name, pool in self.pools.items():
            _check(name not in RESERVED_POOLS and name.isidentifier(), "pools", name,
                   f"pool names are identifiers other than {list(RESERVED_POOLS)}")
            _check(pool.labels != "gemix" or pool.generator in ("cgan", "cvae"),
                   f"pools.{name}.generator", pool.generator,
                   "a conditional generator (cgan or cvae) for gemix labels")


class FilterSynthetic(Section):
    """MC-dropout scoring of a pool and the subsets of every filter."""

    passes: Pos = 5  # K Monte-Carlo dropout passes
    drop_foreign: bool = False  # drop candidates whose nearest centroid is another class
    batch_size: Pos = 256
    pca_dim: Pos = 4  # covariance filters: PCA axes per class, at most (smallest class's real
    # training images - 1): 4 suits classes of 5+ images; 16-32 for classes of hundreds
    knn: Pos = 3  # k of the k-NN precision/recall manifolds (min(k, n - 1) for a set of n)


class Traditional(Section):
    """Traditional augmentation recipe (per data set: digits must not be flipped)."""

    flip_h: bool = False
    flip_v: bool = False
    rotate: Annotated[float, Field(ge=0, le=180)] = 10.0  # max degrees
    shift: Unit = 0.1  # max fraction of the image side
    scale: Unit = 0.1  # max relative zoom
    brightness: Annotated[float, Field(ge=0, le=2)] = 0.1  # max additive change on [-1, 1]
    contrast: Unit = 0.1  # max relative contrast change


class Recipe(Section):
    """A method: which synthetic pool and filter, which transform and in-batch mixing."""

    pool: str = "none"  # a name in generate.pools, none, or oversample (copies of real images)
    filter: Literal["all", "random", "entropy", "distance", "distance_single", "selective",
                    "covariance", "selective_covariance", "informative"] = "all"
    transform: Literal["none", "traditional"] = "none"
    mixing: Literal["none", "mixup", "zeta_mixup"] = "none"


class TrainClassifier(Section):
    """Classifiers of every method x seed: same net and schedule for all."""

    seeds: list[NonNeg] = Field([0, 1, 2, 3, 4], min_length=1, json_schema_extra=Unique)
    net: Net = Net(widths=[16, 32, 64])
    schedule: Schedule = Schedule()
    traditional: Traditional = Traditional()
    mixup_alpha: PosF = 0.4
    zeta_gamma: PosF = 2.8
    methods: dict[str, Recipe] = Field(min_length=1, default={  # name -> recipe
        "baseline": Recipe(), "traditional": Recipe(transform="traditional"),
        "mixup": Recipe(mixing="mixup"), "zeta_mixup": Recipe(mixing="zeta_mixup"),
        "gan_unfiltered": Recipe(pool="cgan", filter="random"),
        "gan_single_filter": Recipe(pool="cgan", filter="distance_single"),
        "gan_entropy": Recipe(pool="cgan", filter="entropy"),
        "gan_distance": Recipe(pool="cgan", filter="distance"),
        "gan_selective": Recipe(pool="cgan", filter="selective"),
        "gemix": Recipe(pool="cgan_gemix", filter="random"),
        "gemix_selective": Recipe(pool="cgan_gemix", filter="selective"),
        "cvae_selective": Recipe(pool="cvae", filter="selective"),
        "ae_selective": Recipe(pool="ae", filter="selective"),
        "gan_covariance": Recipe(pool="cgan", filter="covariance"),
        "gan_selective_covariance": Recipe(pool="cgan", filter="selective_covariance"),
        "gan_informative": Recipe(pool="cgan", filter="informative"),
        "oversample": Recipe(pool="oversample"),
        "traditional_gan_unfiltered": Recipe(pool="cgan", filter="random", transform="traditional"),
        "traditional_gan_selective": Recipe(pool="cgan", filter="selective", transform="traditional"),
        "traditional_gan_covariance": Recipe(pool="cgan", filter="covariance", transform="traditional"),
        "traditional_oversample": Recipe(pool="oversample", transform="traditional")})

    def rules(self) -> None:
        _check(len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds, "no repeats")
        for name in self.methods:
            _check(name.isidentifier(), "methods", name, "method names are identifiers")


class Evaluate(Section):
    """Test-split evaluation over seeds."""

    baseline: str = "baseline"  # method the paired differences are taken against
    positive_class: NonNeg | None = None  # binary tasks: the positive class (default 1); whether
    # the class exists is checked against the data in prepare_data and evaluate
    comparisons: list[list[str]] = [  # [A, B] pairs tested besides every method against
        # `baseline`; Holm-adjusted across all comparisons of a metric
        ["gan_single_filter", "gan_unfiltered"], ["gan_entropy", "gan_unfiltered"],
        ["gan_distance", "gan_unfiltered"], ["gan_selective", "gan_unfiltered"],
        ["gan_covariance", "gan_unfiltered"], ["gan_selective_covariance", "gan_unfiltered"],
        ["gan_informative", "gan_unfiltered"], ["traditional_gan_unfiltered", "traditional"],
        ["traditional_gan_selective", "traditional"], ["traditional_gan_covariance", "traditional"],
        ["traditional_oversample", "traditional"], ["gan_unfiltered", "oversample"],
        ["traditional_gan_unfiltered", "traditional_oversample"],
        ["traditional_gan_selective", "traditional_oversample"],
        ["traditional_gan_covariance", "traditional_oversample"]]
    alpha: Open = 0.05  # family-wise error rate of the Holm-adjusted verdict
    verdict_metric: Literal["accuracy", "auc", "sensitivity", "specificity",
                            "f1_macro"] = "accuracy"  # the metric the report's verdict reads

    def rules(self) -> None:
        seen: set[frozenset[str]] = set()
        for i, pair in enumerate(self.comparisons):
            at = f"comparisons[{i}]"
            _check(len(pair) == 2, at, pair, "a pair [A, B] of method names")
            _check(pair[0] != pair[1], at, pair,
                   "two different methods (a method compared with itself differs by 0)")
            _check(self.baseline not in pair, at, pair, f"a pair without '{self.baseline}': every "
                   "method is compared with evaluate.baseline already")
            _check(frozenset(pair) not in seen, at, pair, "each pair once (in either order)")
            seen.add(frozenset(pair))


class Params(Section):
    """The whole validated ``params.yaml``."""

    base: Base = Base()
    prepare_data: PrepareData = PrepareData()
    train_extractor: TrainExtractor = TrainExtractor()
    train_gan: TrainGan = TrainGan()
    select_checkpoint: SelectCheckpoint = SelectCheckpoint()
    generate: Generate = Generate()
    filter_synthetic: FilterSynthetic = FilterSynthetic()
    train_classifier: TrainClassifier = TrainClassifier()
    evaluate: Evaluate = Evaluate()

    def rules(self) -> None:
        """Rules that span sections (keys named in full)."""
        tc, gen, tg = self.train_classifier, self.generate, self.train_gan
        methods = f"a method in train_classifier.methods {sorted(tc.methods)}"
        for m, recipe in tc.methods.items():
            _check(recipe.pool in RESERVED_POOLS or recipe.pool in gen.pools,
                   f"train_classifier.methods.{m}.pool", recipe.pool,
                   f"'none', 'oversample' or a pool in generate.pools {sorted(gen.pools)}")
            _check(recipe.pool not in RESERVED_POOLS or recipe.filter == "all",
                   f"train_classifier.methods.{m}.filter", recipe.filter,
                   f"'all' when the method's pool is '{recipe.pool}' (nothing to filter)")
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
               methods)
        for i, pair in enumerate(self.evaluate.comparisons):
            for name in pair:
                _check(name in tc.methods, f"evaluate.comparisons[{i}]", name,
                       f"{methods} (drop the pair when you drop a method)")
        feat_dim = self.train_extractor.net.widths[-1]  # the extractor's penultimate features
        _check(self.filter_synthetic.pca_dim <= feat_dim, "filter_synthetic.pca_dim",
               self.filter_synthetic.pca_dim, "at most the extractor's feature dimension "
               f"(train_extractor.net.widths[-1] = {feat_dim})")
        size = self.base.image_size
        for sec in ("train_extractor", "train_classifier"):
            widths = getattr(self, sec).net.widths  # each stage after the first halves the image
            _check(size >> (len(widths) - 1) >= 2, f"{sec}.net.widths", widths,
                   f"at most {size.bit_length() - 1} stages for base.image_size {size} "
                   "(each stage after the first halves the image)")


# --------------------------------------------------------------------------- errors

_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _bare(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _members(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else ()


def _type_name(tp: Any) -> str:
    tp = _bare(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return f"one of {list(args)}"
    if _members(tp):
        return " or ".join(map(_type_name, args))
    if origin is list:
        return f"a list of {_type_name(args[0])}"
    if origin is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return "a mapping"
    return "null" if tp is type(None) else tp.__name__


def _locate(loc: tuple[Any, ...]) -> tuple[str, Any, list[Any], str]:
    """Dotted key, annotation and constraints at a pydantic error location, and its group
    (errors of the members of a union share the group of the union's key)."""
    key, tp, meta, group = "", Params, [], ""
    for part in loc:
        tp = _bare(tp)
        if part == "[key]":  # a mapping's key itself
            tp = str
        elif get_origin(tp) is dict:
            key, tp, meta = f"{key}.{part}", get_args(tp)[1], []
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part)
            key = f"{key}.{part}" if key else str(part)
            tp, meta = (field.annotation, field.metadata) if field else (None, [])
        elif isinstance(part, int):  # a list item (in a union: of its list member)
            tp = next((m for m in _members(tp) if get_origin(_bare(m)) is list), tp)
            key, tp, meta = f"{key}[{part}]", get_args(_bare(tp))[0], []
        else:  # the tag of a union member
            group = group or key
    return key, tp, meta, group or key


def _bounds(meta: list[Any], ctx: dict[str, Any]) -> str:
    """'> 0', 'in [0, 1), i.e. >= 0 and < 1', ... from a number's constraints."""
    b = {k: getattr(m, k) for m in meta for k in _OPS if hasattr(m, k)} or ctx
    text = " and ".join(f"{op} {b[k]:g}" for k, op in _OPS.items() if k in b)
    if not ({"ge", "gt"} & b.keys() and {"le", "lt"} & b.keys()):
        return text
    lo, hi = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
    return f"in {'[' if 'ge' in b else '('}{lo:g}, {hi:g}{']' if 'le' in b else ')'}, i.e. {text}"


def _message(err: dict[str, Any], key: str, tp: Any, meta: list[Any]) -> str:
    """One pydantic error in the project's words: full key, bad value, what is allowed."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent, _, name = key.rpartition(".")
        names = list(_bare(_locate(err["loc"][:-1])[1] if parent else Params).model_fields)
        close = difflib.get_close_matches(name, names, n=1)
        if not parent:
            return f"unknown params section '{name}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        hint = f" (did you mean '{parent}.{close[0]}'?)" if close else ""
        return f"unknown params key '{key}'{hint}; allowed keys: {', '.join(names)}"
    if kind.endswith("_type"):
        return f"params key '{key}' = {value!r} has the wrong type: expected {_type_name(tp)}"
    if kind == "params":  # a broken rule (Params.rules names its keys in full)
        allowed = ctx["allowed"].replace("{at}", key)
        key, value = (f"{key}.{ctx['name']}" if key else ctx["name"]), ctx["value"]
    elif kind == "literal_error":
        allowed = _type_name(tp)
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = _bounds(meta, ctx)
    elif kind == "finite_number":
        allowed = "a finite number"
    elif kind == "too_short":
        allowed = f"a non-empty {'mapping' if isinstance(value, dict) else 'list'}"
    else:
        allowed = err["msg"]
    return f"params key '{key}' = {value!r} is not allowed: {allowed}"


def _config_error(exc: ValidationError) -> ConfigError:
    """Every error, one line each; of a union's members only the most telling error."""
    best: dict[str, tuple[tuple[bool, int], str]] = {}
    for err in exc.errors():
        key, tp, meta, group = _locate(err["loc"])
        rank = (err["type"].endswith("_type"), -len(err["loc"]))  # range errors, deeper keys first
        if group not in best or rank < best[group][0]:
            best[group] = (rank, _message(err, key, tp, meta))
    return ConfigError("\n".join(dict.fromkeys(msg for _, msg in best.values())))


# --------------------------------------------------------------------------- loading


def parse_params(data: Any) -> Params:
    """Validate a whole params mapping (all sections and cross-section rules)."""
    if not isinstance(data, dict):
        raise ConfigError("params.yaml must be a mapping of sections")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc) from None


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


def check_pca_dim(pca_dim: int, class_counts: Any, class_names: Any) -> None:
    """A class PCA of n real images has at most n - 1 axes (checked against the data)."""
    counts = [int(n) for n in class_counts]
    c = counts.index(min(counts))
    if pca_dim > counts[c] - 1:
        raise ConfigError(f"params key 'filter_synthetic.pca_dim' = {pca_dim} is not allowed: at most "
                          f"{counts[c] - 1} for this data set (class '{class_names[c]}' has "
                          f"{counts[c]} real training images, and a PCA of n images has at most "
                          "n - 1 axes)")


def check_positive_class(positive_class: int | None, num_classes: int) -> None:
    """The binary positive class must exist (checked against the data, not only the params)."""
    if positive_class is not None and not 0 <= positive_class < num_classes:
        raise ConfigError(f"params key 'evaluate.positive_class' = {positive_class} is not a class "
                          f"of this data set (classes 0..{num_classes - 1})")
