"""Bad input (issue items 1-2): every params or data fault stops with a message naming the culprit.

Most tests call the library (``parse_params``, the loaders, ``make_splits``) and check
the exception type and that the message names the key/file/class, the bad value and
what is allowed. The ``stage`` tests at the end run real stage scripts in a copy of
the project and check exit status 2, ``error:`` on stderr and that nothing was written.
"""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_project, run
from minimal import mini_params, with_key
from PIL import Image

from synthaug.core import paths
from synthaug.core.errors import ConfigError, DataError, SynthaugError
from synthaug.core.params import check_positive_class, load_params, parse_params
from synthaug.core.runtime import run_stage
from synthaug.data.dataset import Dataset, SplitData, load_split, save_split, validate_dataset
from synthaug.data.sources import load_folder, load_medmnist, load_source
from synthaug.data.splits import make_splits
from synthaug.filters import class_centroids
from synthaug.pipeline import evaluate

RNG = np.random.default_rng(0)


def renamed(params: dict, dotted: str, new_name: str) -> dict:
    """A deep copy of ``params`` with the nested key ``a.b.c`` renamed (a typo)."""
    out = copy.deepcopy(params)
    *parents, last = dotted.split(".")
    node = out
    for k in parents:
        node = node[k]
    node[new_name] = node.pop(last)
    return out


def config_error(params: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_params(params)
    return str(err.value)


# ------------------------------------------------------------------ params (item 1)

TINY = mini_params()

# (id, dotted key, bad value, fragments the message must contain: key, value, what is allowed)
BAD_VALUES = [
    # wrong types
    ("seed-str", "base.seed", "zero", ["base.seed", "'zero'", "expected int"]),
    ("epochs-bool", "train_gan.epochs", True, ["train_gan.epochs", "True", "expected int"]),
    ("epochs-float", "train_gan.epochs", 10.5, ["train_gan.epochs", "10.5", "expected int"]),
    ("seeds-scalar", "train_classifier.seeds", 0,
     ["train_classifier.seeds", "expected a list of int"]),
    ("seed-item-float", "train_classifier.seeds", [0, 1.5],
     ["train_classifier.seeds[1]", "1.5", "expected int"]),
    ("diffaug-str", "train_gan.cgan.diffaug", "yes",
     ["train_gan.cgan.diffaug", "'yes'", "expected bool"]),
    ("lr-str", "train_extractor.schedule.lr", "1e-3",
     ["train_extractor.schedule.lr", "'1e-3'", "expected float"]),
    ("device", "base.device", "gpu", ["base.device", "'gpu'", "'auto', 'cpu', 'cuda'"]),
    ("source", "prepare_data.source", "imagenet",
     ["prepare_data.source", "'imagenet'", "'digits', 'medmnist', 'folder'"]),
    ("section-scalar", "select_checkpoint", 0.3, ["select_checkpoint", "0.3", "mapping"]),
    ("path-int", "prepare_data.path", 3, ["prepare_data.path", "3", "str"]),
    ("ratio-inf", "generate.ratio", float("inf"), ["generate.ratio", "inf", "finite"]),
    ("rotate-nan", "train_classifier.traditional.rotate", float("nan"),
     ["train_classifier.traditional.rotate", "nan", "finite"]),
    # ranges named in the issue
    ("ratio-zero", "generate.ratio", 0, ["generate.ratio", "0", "> 0"]),
    ("ratio-negative", "generate.ratio", -0.5, ["generate.ratio", "-0.5", "> 0"]),
    ("alpha-negative", "select_checkpoint.alpha", -0.1,
     ["select_checkpoint.alpha", "-0.1", "in [0, 1)"]),
    ("alpha-one", "select_checkpoint.alpha", 1.0, ["select_checkpoint.alpha", "1.0", "in [0, 1)"]),
    ("passes-zero", "filter_synthetic.passes", 0, ["filter_synthetic.passes", "0", ">= 1"]),
    ("dropout-zero", "train_extractor.net.dropout", 0.0,
     ["train_extractor.net.dropout", "0.0", "in (0, 1)"]),
    ("dropout-one", "train_classifier.net.dropout", 1.0,
     ["train_classifier.net.dropout", "1.0", "in (0, 1)"]),
    ("checkpoint-every-zero", "train_gan.checkpoint_every", 0,
     ["train_gan.checkpoint_every", "0", ">= 1"]),
    ("checkpoint-every-gt-epochs", "train_gan.checkpoint_every", 11,
     ["train_gan.checkpoint_every", "11", "at most train_gan.epochs (10)"]),
    ("image-size-odd", "base.image_size", 10, ["base.image_size", "10", "multiple of 4"]),
    ("image-size-small", "base.image_size", 4, ["base.image_size", "4", "at least 8"]),
    ("image-size-unreachable", "base.image_size", 36,
     ["base.image_size", "36", "start map of 4 to 7 px", "32, 40, 48", "224, 256"]),
    ("image-size-large", "base.image_size", 512, ["base.image_size", "512", "at most 256"]),
    ("resize-mode", "prepare_data.resize", "stretch",
     ["prepare_data.resize", "'stretch'", "'squash', 'crop', 'pad'"]),
    ("class-names-repeat", "prepare_data.class_names", ["a", "a"],
     ["prepare_data.class_names", "['a', 'a']", "distinct"]),
    ("cgan-max-width", "train_gan.cgan.max_width", 0, ["train_gan.cgan.max_width", "0", ">= 1"]),
    ("cvae-arch", "train_gan.cvae.arch", "unet", ["train_gan.cvae.arch", "'unet'", "'conv'"]),
    ("seeds-empty", "train_classifier.seeds", [], ["train_classifier.seeds", "[]", "non-empty"]),
    ("seeds-negative", "train_classifier.seeds", [-1], ["train_classifier.seeds[0]", "-1", ">= 0"]),
    ("base-seed-negative", "base.seed", -1, ["base.seed", "-1", ">= 0"]),
    ("positive-class-negative", "evaluate.positive_class", -1,
     ["evaluate.positive_class", "-1", ">= 0"]),
    ("positive-class-str", "evaluate.positive_class", "1",
     ["evaluate.positive_class", "'1'", "int or null"]),
    # method recipes naming unknown pools, filters, generator kinds
    ("recipe-pool", "train_classifier.methods.gan_selective.pool", "stylegan",
     ["train_classifier.methods.gan_selective.pool", "'stylegan'", "generate.pools ['cgan']"]),
    ("recipe-filter", "train_classifier.methods.gan_selective.filter", "best",
     ["train_classifier.methods.gan_selective.filter", "'best'", "'selective'"]),
    ("recipe-transform", "train_classifier.methods.traditional.transform", "heavy",
     ["train_classifier.methods.traditional.transform", "'heavy'", "'traditional'"]),
    ("recipe-mixing", "train_classifier.methods.baseline.mixing", "cutmix",
     ["train_classifier.methods.baseline.mixing", "'cutmix'", "'zeta_mixup'"]),
    ("pool-generator", "generate.pools.cgan.generator", "diffusion",
     ["generate.pools.cgan.generator", "'diffusion'", "['cgan', 'cvae', 'ae']"]),
    ("pool-generator-untrained", "generate.pools.cgan.generator", "cvae",
     ["generate.pools.cgan.generator", "'cvae'", "train_gan.kinds ['cgan']"]),
    ("gan-kind", "train_gan.kinds", ["vae"], ["train_gan.kinds", "'vae'", "['cgan', 'cvae', 'ae']"]),
    ("pool-labels", "generate.pools.cgan.labels", "soft",
     ["generate.pools.cgan.labels", "'soft'", "'onehot', 'gemix'"]),
    ("baseline-method", "evaluate.baseline", "resnet",
     ["evaluate.baseline", "'resnet'", "a method in train_classifier.methods"]),
    # other ranges
    ("train-cap-zero", "prepare_data.train_cap", 0, ["prepare_data.train_cap", "0", ">= 1"]),
    ("train-cap-empty", "prepare_data.train_cap", [], ["prepare_data.train_cap", "[]", "non-empty"]),
    ("train-fraction", "prepare_data.train_fraction", 1.5,
     ["prepare_data.train_fraction", "1.5", "in (0, 1]"]),
    ("test-size-fraction", "prepare_data.test_size", 2.5,
     ["prepare_data.test_size", "2.5", "integer count"]),
    ("medmnist-without-path", "prepare_data.source", "medmnist",
     ["prepare_data.path", "data/raw", "required when source is 'medmnist'"]),
    ("cvae-hidden", "train_gan.cvae.hidden", 0, ["train_gan.cvae.hidden", "0", ">= 1"]),
    ("ema-one", "train_gan.cgan.ema", 1.0, ["train_gan.cgan.ema", "1.0", "in [0, 1)"]),
    ("n-images", "select_checkpoint.n_images", 1, ["select_checkpoint.n_images", "1", ">= 2"]),
    ("batch-size", "train_classifier.schedule.batch_size", 1,
     ["train_classifier.schedule.batch_size", "1", ">= 2"]),
    ("traditional-rotate", "train_classifier.traditional.rotate", 200,
     ["train_classifier.traditional.rotate", "200", "<= 180"]),
    ("traditional-shift", "train_classifier.traditional.shift", 1.0,
     ["train_classifier.traditional.shift", "1.0", "< 1"]),
    ("gemix-concentrations", "generate.gemix.concentration_major", 0.5,
     ["generate.gemix.concentration_major", "0.5", "> generate.gemix.concentration_minor"]),
    ("blocks-widths", "train_extractor.net.blocks", [1, 1, 1],
     ["train_extractor.net.blocks", "[1, 1, 1]", "as many as train_extractor.net.widths (2)"]),
]


@pytest.mark.parametrize(("key", "value", "fragments"), [c[1:] for c in BAD_VALUES],
                         ids=[c[0] for c in BAD_VALUES])
def test_bad_value_names_key_value_and_allowed(key, value, fragments):
    msg = config_error(with_key(TINY, key, value))
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


MISSPELT = [
    ("section", "base", "bsae", "unknown params section 'bsae' (did you mean 'base'?)"),
    ("key", "base.seed", "sede", "unknown params key 'base.sede' (did you mean 'base.seed'?)"),
    ("nested", "train_gan.cgan.lr_g", "lr_gen", "'train_gan.cgan.lr_gen' (did you mean "
     "'train_gan.cgan.lr_g'?)"),
    ("recipe", "train_classifier.methods.baseline.filter", "filtre",
     "'train_classifier.methods.baseline.filtre' (did you mean "
     "'train_classifier.methods.baseline.filter'?)"),
    ("unrelated", "select_checkpoint.eps", "xyz", "unknown params key 'select_checkpoint.xyz'"),
]


@pytest.mark.parametrize(("key", "typo", "expected"), [c[1:] for c in MISSPELT],
                         ids=[c[0] for c in MISSPELT])
def test_unknown_or_misspelt_key(key, typo, expected):
    msg = config_error(renamed(TINY, key, typo))
    assert expected in msg
    if "." in key:
        assert "allowed keys:" in msg


def test_too_many_network_stages_for_the_image_size():
    params = with_key(with_key(TINY, "train_classifier.net.widths", [4, 8, 16, 32]),
                      "train_classifier.net.blocks", [1, 1, 1, 1])
    msg = config_error(params)  # 8 px halved three times is 1 px
    assert "train_classifier.net.widths" in msg and "[4, 8, 16, 32]" in msg
    assert "at most 3 stages for base.image_size 8" in msg


def test_unused_pool_and_kind_are_rejected():
    params = with_key(TINY, "generate.pools.extra", {"generator": "cgan"})
    assert "'extra'" in config_error(params) and "generate.pools" in config_error(params)
    params = with_key(TINY, "train_gan.kinds", ["cgan", "ae"])
    assert "train_gan.kinds" in config_error(params) and "'ae'" in config_error(params)


def test_tiny_and_default_params_are_valid():
    parse_params(TINY)
    load_params(Path(__file__).resolve().parents[1] / "params.yaml")


def test_params_file_missing_not_yaml_or_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="params.yaml: params file not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "bad.yaml").write_text("base: {seed: 0\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- base\n")
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        load_params(tmp_path / "list.yaml")


def test_positive_class_must_exist_in_the_data():
    check_positive_class(None, 2)
    check_positive_class(1, 2)
    with pytest.raises(ConfigError, match=r"'evaluate.positive_class' = 2 .*classes 0..1"):
        check_positive_class(2, 2)


def test_evaluate_checks_positive_class_before_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_split(paths.prepared("test"), toy([3, 3]))
    params = parse_params(with_key(TINY, "evaluate.positive_class", 2))
    with pytest.raises(ConfigError, match="evaluate.positive_class' = 2"):
        evaluate.run(params)
    assert not paths.METRICS.exists() and not paths.REPORTS.exists()


def test_run_stage_exits_2_with_the_message(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(with_key(TINY, "filter_synthetic.passes", 0)))
    monkeypatch.setenv("SYNTHAUG_PARAMS", str(bad))
    called = []
    with pytest.raises(SystemExit) as exc:
        run_stage(lambda params: called.append(params), [])
    assert exc.value.code == 2 and not called  # validated before any work
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "filter_synthetic.passes' = 0" in err
    bad.write_text(yaml.safe_dump(TINY))
    with pytest.raises(SystemExit) as exc:
        run_stage(lambda params, kind: None, [], nargs=1)  # called without its argument
    assert exc.value.code == 2 and "takes 1 argument(s)" in capsys.readouterr().err


# ------------------------------------------------------------------ data (item 2)


def toy(counts: list[int], size: int = 4, channels: int = 1) -> Dataset:
    """A float data set with ``counts[c]`` images of class c."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    images = RNG.uniform(-1, 1, (len(labels), channels, size, size)).astype(np.float32)
    return Dataset(images, labels, [f"c{c}" for c in range(len(counts))])


def medmnist(n: int = 12, classes: int = 3, rgb: bool = False) -> dict[str, np.ndarray]:
    """Arrays of a small MedMNIST-like file (labels N x 1, every class in every split)."""
    shape = (8, 8, 3) if rgb else (8, 8)
    out = {}
    for split in ("train", "val", "test"):
        out[f"{split}_images"] = RNG.integers(0, 256, (n, *shape), dtype=np.uint8)
        out[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    return out


def npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def png(path: Path, size: int = 6, mode: str = "L", fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if mode == "L" else (size, size, len(mode))
    Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8), mode).save(path, fmt)
    return path


def folder(root: Path, classes: dict[str, int]) -> Path:
    for name, n in classes.items():
        for i in range(n):
            png(root / name / f"{name}_{i}.png")
    return root


def data_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_missing_file_and_folder(tmp_path):
    msg = data_error(load_source, "medmnist", tmp_path / "pathmnist.npz", 8)
    assert "pathmnist.npz: MedMNIST file not found" in msg and "prepare_data.path" in msg
    msg = data_error(load_source, "folder", tmp_path / "images", 8)
    assert "images: image folder not found" in msg
    assert f"{tmp_path / 'split.npz'}: file not found" in data_error(load_split, tmp_path / "split.npz")


def test_npz_without_the_expected_keys(tmp_path):
    arrays = medmnist()
    del arrays["val_labels"], arrays["test_images"]
    msg = data_error(load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)
    assert "m.npz: missing key(s) ['val_labels', 'test_images']" in msg
    msg = data_error(load_split, npz(tmp_path / "s.npz", images=np.zeros((2, 1, 4, 4))))
    assert "s.npz: missing key(s) ['labels', 'class_names']" in msg


def test_images_and_labels_of_different_lengths(tmp_path):
    arrays = medmnist()
    arrays["val_labels"] = arrays["val_labels"][:10]
    msg = data_error(load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)
    assert "m.npz: key 'val_images' has 12 images but 'val_labels' has 10 labels" in msg
    ds = toy([2, 2])
    msg = data_error(load_split, npz(tmp_path / "s.npz", images=ds.images, labels=ds.labels[:3],
                                     class_names=np.asarray(ds.class_names)))
    assert "s.npz: 4 images but 3 labels" in msg


def test_labels_outside_the_classes(tmp_path):
    arrays = medmnist()
    arrays["test_labels"] = np.full((12, 1), -1, np.int64)
    assert "key 'test_labels' holds negative label -1" in data_error(
        load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)
    ds = toy([2, 2])
    ds.labels[3] = 2  # two class names, so labels must be 0..1
    msg = data_error(load_split, npz(tmp_path / "s.npz", images=ds.images, labels=ds.labels,
                                     class_names=np.asarray(ds.class_names)))
    assert "s.npz: label 2 at index 3 is outside 0..1" in msg


@pytest.mark.parametrize("labels", [np.full((12, 1), 0.5), np.array([["a"]] * 12),
                                    np.full((12, 1), np.nan)], ids=["fraction", "str", "nan"])
def test_labels_that_are_not_integers(tmp_path, labels):
    arrays = medmnist()
    arrays["train_labels"] = labels
    msg = data_error(load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)
    assert "m.npz: key 'train_labels'" in msg and "integers" in msg


def test_split_file_with_float_labels(tmp_path):
    ds = toy([2, 2])
    msg = data_error(load_split, npz(tmp_path / "s.npz", images=ds.images,
                                     labels=ds.labels.astype(float),
                                     class_names=np.asarray(ds.class_names)))
    assert "s.npz: key 'labels' must be integers, got dtype float64" in msg


def test_folder_images_of_mixed_sizes_are_resized_with_a_warning(tmp_path, caplog):
    root = folder(tmp_path / "imgs", {"a": 2})
    png(root / "b" / "big.png", size=12)
    assert load_folder(root, 8, resize="crop").train.images.shape == (3, 1, 8, 8)
    assert "images of 2 sizes" in caplog.text and "6x6 (2), 12x12 (1)" in caplog.text
    assert "prepare_data.resize = crop" in caplog.text


def test_folder_images_of_mixed_channel_counts(tmp_path):
    root = folder(tmp_path / "imgs", {"a": 2})
    png(root / "b" / "colour.png", mode="RGB")
    msg = data_error(load_folder, root, 8)
    assert "images mix grey and RGB" in msg and "a/a_0.png is grey, b/colour.png is RGB" in msg


def test_medmnist_splits_of_mixed_channel_counts(tmp_path):
    arrays = medmnist()
    arrays["test_images"] = RNG.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    assert "m.npz: splits mix grey and RGB images" in data_error(
        load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)


@pytest.mark.parametrize("kind", ["truncated-png", "truncated-jpeg", "not-an-image", "empty"])
def test_unreadable_image_is_named(tmp_path, kind):
    root = folder(tmp_path / "imgs", {"a": 2, "b": 2})
    if kind == "truncated-png":
        bad = png(root / "b" / "bad.png", size=32)
        bad.write_bytes(bad.read_bytes()[:100])
    elif kind == "truncated-jpeg":
        bad = png(root / "b" / "bad.jpg", size=32, fmt="JPEG")
        bad.write_bytes(bad.read_bytes()[:-200])
    elif kind == "not-an-image":
        bad = root / "b" / "bad.png"
        bad.write_text("not an image")
    else:
        bad = root / "b" / "bad.png"
        bad.write_bytes(b"")
    msg = data_error(load_folder, root, 8)
    assert msg.startswith(f"{bad}: unreadable or truncated image")


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_unreadable_npz_is_named(tmp_path, how):
    path = npz(tmp_path / "m.npz", **medmnist())
    data = path.read_bytes()
    path.write_bytes(b"garbage" * 10 if how == "garbage" else data[: len(data) // 2])
    assert data_error(load_medmnist, path, 8).startswith(f"{path}: not a readable .npz file")
    split = tmp_path / "s.npz"
    shutil.copy(path, split)
    assert data_error(load_split, split).startswith(f"{split}: not a readable split file")


def test_class_with_no_image_at_all(tmp_path):
    root = folder(tmp_path / "imgs", {"benign": 3})
    (root / "malignant").mkdir()
    (root / "malignant" / "notes.txt").write_text("no images here")
    assert "class 'malignant' has no .png/.jpg/.jpeg images" in data_error(load_folder, root, 8)


def test_class_with_no_training_image(tmp_path):
    arrays = medmnist(classes=3)
    arrays["train_labels"] = (np.arange(12) % 2).reshape(-1, 1).astype(np.uint8)  # no class 2
    data = load_medmnist(npz(tmp_path / "m.npz", **arrays), 8)
    msg = data_error(make_splits, data, val_per_class=1, test_size=3, train_fraction=1.0,
                     train_cap=None, seed=0)
    assert "class '2' has 0 training images" in msg
    with pytest.raises(DataError, match=r"class\(es\) \[2\] have no real training image"):
        class_centroids(None, np.zeros((4, 1, 8, 8)), [0, 1, 0, 1], 3)


def test_class_too_small_for_the_validation_split():
    data = SplitData(toy([8, 8, 2]))
    msg = data_error(make_splits, data, val_per_class=2, test_size=3, train_fraction=1.0,
                     train_cap=None, seed=0)
    assert "validation split (prepare_data.val_per_class = 2)" in msg
    assert "class 'c2' has 1 image(s)" in msg


def test_too_few_images_for_the_test_split():
    msg = data_error(make_splits, SplitData(toy([2, 2])), val_per_class=1, test_size=50,
                     train_fraction=1.0, train_cap=None, seed=0)
    assert "test split (prepare_data.test_size = 50)" in msg and "between 1 and 2" in msg


def test_class_with_fewer_training_images_than_needed():
    data = SplitData(toy([10, 10, 10]))
    msg = data_error(make_splits, data, val_per_class=2, test_size=3, train_fraction=1.0,
                     train_cap=[5, 1, 5], seed=0)  # filters and selection need >= 2 per class
    assert "class 'c1' has 1 training image; at least 2 are needed" in msg
    assert "prepare_data.train_cap" in msg


def test_train_cap_list_of_the_wrong_length():
    with pytest.raises(ConfigError, match=r"prepare_data.train_cap: .*3 classes\), got 2 values"):
        make_splits(SplitData(toy([10, 10, 10])), val_per_class=2, test_size=3,
                    train_fraction=1.0, train_cap=[5, 5], seed=0)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_pixels(tmp_path, value):
    arrays = medmnist()
    images = arrays["val_images"].astype(np.float32)
    images[5, 2, 3] = value
    arrays["val_images"] = images
    msg = data_error(load_medmnist, npz(tmp_path / "m.npz", **arrays), 8)
    assert "m.npz: key 'val_images' contains NaN or inf values" in msg
    ds = toy([3, 3])
    ds.images[4, 0, 1, 1] = value
    msg = data_error(load_split, npz(tmp_path / "s.npz", images=ds.images, labels=ds.labels,
                                     class_names=np.asarray(ds.class_names)))
    assert "s.npz: image 4 contains NaN or inf values" in msg


def test_validate_dataset_shapes_and_channels():
    ds = toy([2, 2])
    assert "x: images must have 1 or 3 channels, got 2" in data_error(
        validate_dataset, Dataset(np.zeros((4, 2, 4, 4), np.float32), ds.labels, ds.class_names),
        "x")
    assert "x: images must be N x C x H x W" in data_error(
        validate_dataset, Dataset(np.zeros((4, 4, 4), np.float32), ds.labels, ds.class_names), "x")


# ------------------------------------------------------------------ real stage scripts


@pytest.fixture(scope="module")
def stage_project(tmp_path_factory) -> Path:
    """One project copy shared by the stage tests (each writes its own params.yaml)."""
    return make_project(tmp_path_factory.mktemp("bad") / "proj")


def run_failing_stage(project: Path, params: dict, *stage: str) -> str:
    """Run a stage script with ``params``; assert exit 2 and ``error:``; return stderr."""
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run([sys.executable, *stage], cwd=project, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "error: " in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def outputs(project: Path) -> list[str]:
    """Every file under the folders stages write to (temporary names included; not data/raw)."""
    return sorted(str(p.relative_to(project)) for d in ("data", "models", "metrics", "reports")
                  for p in (project / d).rglob("*")
                  if p.is_file() and not p.is_relative_to(project / "data" / "raw"))


@pytest.mark.parametrize(("key", "value", "culprit"), [
    ("train_classifier.methods.gan_selective.filter", "selectve",
     "'train_classifier.methods.gan_selective.filter' = 'selectve'"),
    ("train_gan.checkpoint_every", 20, "'train_gan.checkpoint_every' = 20"),
    ("evaluate.positive_class", 10, "'evaluate.positive_class' = 10 is not a class"),
    ("filter_synthetic.pca_dim", 6, "'filter_synthetic.pca_dim' = 6 is not allowed: at most 5"),
    ("generate.budget", "balanced", "'generate.budget' = 'balanced' with 'generate.ratio' = 0.05"),
    ("prepare_data.class_names", ["zero", "one"],
     "'prepare_data.class_names' has 2 name(s) but the data has 10 classes"),
], ids=["late-section-typo", "checkpoint-every", "positive-class", "pca-dim-for-the-data",
        "balanced-budget-zero", "class-names-count"])
def test_stage_rejects_bad_params_and_writes_nothing(stage_project, key, value, culprit):
    params = with_key(TINY, key, value)
    if key == "generate.budget":  # round(0.05 * 6) = 0 images for the largest class
        params = with_key(params, "generate.ratio", 0.05)
    err = run_failing_stage(stage_project, params, "stages/prepare_data.py")
    assert culprit in err
    assert outputs(stage_project) == []


def test_stage_rejects_bad_data_and_writes_nothing(stage_project):
    root = folder(stage_project / "raw", {"a": 4, "b": 4})
    bad = png(root / "b" / "broken.png", size=32)
    bad.write_bytes(bad.read_bytes()[:80])
    params = with_key(with_key(TINY, "prepare_data.source", "folder"), "prepare_data.path", "raw")
    assert "raw/b/broken.png: unreadable or truncated image" in run_failing_stage(
        stage_project, params, "stages/prepare_data.py")
    bad.unlink()
    png(root / "b" / "colour.png", mode="RGB")
    assert "a/a_0.png is grey, b/colour.png is RGB" in run_failing_stage(
        stage_project, params, "stages/prepare_data.py")
    shutil.rmtree(root)
    assert "raw: image folder not found" in run_failing_stage(
        stage_project, params, "stages/prepare_data.py")
    assert outputs(stage_project) == []


def test_evaluate_stage_rejects_a_positive_class_missing_from_the_data(stage_project):
    (stage_project / "params.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    run([sys.executable, "stages/prepare_data.py"], cwd=stage_project)
    before = outputs(stage_project)
    err = run_failing_stage(stage_project, with_key(TINY, "evaluate.positive_class", 12),
                            "stages/evaluate.py")
    assert "'evaluate.positive_class' = 12 is not a class of this data set (classes 0..9)" in err
    assert outputs(stage_project) == before  # nothing new: no metrics, no report
    shutil.rmtree(stage_project / "data")
    shutil.rmtree(stage_project / "metrics")


def test_synthaug_error_is_the_base_of_every_input_error():
    assert all(issubclass(e, SynthaugError) for e in (ConfigError, DataError))
