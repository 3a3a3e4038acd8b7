"""Tests for synthaug.data: sources, validation, limited-data splits and split files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthaug.core.errors import ConfigError, DataError
from synthaug.data.dataset import Dataset, SplitData, load_split, save_split, validate_dataset
from synthaug.data.sources import (
    fit_image,
    load_digits,
    load_folder,
    load_medmnist,
    load_source,
    name_classes,
    resize_images,
)
from synthaug.data.splits import (
    class_count_table,
    limit_training,
    make_splits,
    stratified_split,
    take_per_class,
)

RNG = np.random.default_rng(0)


def medmnist_arrays(rgb: bool = False, n: int = 12, classes: int = 3, size: int = 8) -> dict:
    """Tiny MedMNIST-like arrays (labels N x 1)."""
    shape = (size, size, 3) if rgb else (size, size)
    out = {}
    for split in ("train", "val", "test"):
        out[f"{split}_images"] = RNG.integers(0, 256, (n, *shape), dtype=np.uint8)
        out[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    return out


def write_npz(tmp_path: Path, name: str = "m.npz", **arrays: np.ndarray) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def write_png(path: Path, size: tuple[int, int] = (6, 6), mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = () if mode in ("L",) else (len(mode),)
    arr = RNG.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
    Image.fromarray(arr, mode).save(path)
    return path


def make_folder(root: Path, classes: dict[str, int], mode: str = "L") -> Path:
    for name, n in classes.items():
        for i in range(n):
            write_png(root / name / f"img{i}.png", mode=mode)
    return root


def toy(counts: list[int], size: int = 4) -> Dataset:
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    images = RNG.uniform(-1, 1, (len(labels), 1, size, size)).astype(np.float32)
    return Dataset(images, labels, [str(c) for c in range(len(counts))])


# ---------------------------------------------------------------- sources


def test_digits_shape_and_range():
    data = load_digits(12)
    ds = data.train
    assert ds.images.shape == (1797, 1, 12, 12) and ds.images.dtype == np.float32
    assert ds.images.min() >= -1 and ds.images.max() <= 1 and ds.images.max() > 0.9
    assert ds.labels.dtype == np.int64 and ds.class_names == [str(i) for i in range(10)]
    assert (ds.num_classes, ds.channels, ds.image_size) == (10, 1, 12)
    assert data.val is None and data.test is None


def test_resize_images_grey_and_rgb():
    grey = np.full((2, 5, 7), 255, np.uint8)
    out = resize_images(grey, 4)
    assert out.shape == (2, 1, 4, 4) and np.allclose(out, 1.0)
    rgb = np.zeros((3, 6, 6, 3), np.uint8)
    assert resize_images(rgb, 6).shape == (3, 3, 6, 6) and np.allclose(resize_images(rgb, 8), -1.0)


@pytest.mark.parametrize("rgb", [False, True])
def test_medmnist_happy_path(tmp_path, rgb):
    data = load_medmnist(write_npz(tmp_path, **medmnist_arrays(rgb=rgb)), 16)
    for ds in (data.train, data.val, data.test):
        assert ds.images.shape == (12, 3 if rgb else 1, 16, 16)
        assert ds.labels.shape == (12,) and ds.labels.dtype == np.int64
        assert -1 <= ds.images.min() and ds.images.max() <= 1
    assert data.train.class_names == ["0", "1", "2"]


def test_medmnist_flat_labels(tmp_path):
    arrays = medmnist_arrays()
    arrays["train_labels"] = arrays["train_labels"].ravel()
    assert load_medmnist(write_npz(tmp_path, **arrays), 8).train.labels.shape == (12,)


def test_medmnist_missing_file(tmp_path):
    with pytest.raises(DataError, match="prepare_data.path") as err:
        load_medmnist(tmp_path / "pathmnist.npz", 8)
    assert "pathmnist.npz" in str(err.value) and "zenodo.org/records/10519652" in str(err.value)
    assert "medmnist" in str(err.value)


def test_medmnist_missing_keys(tmp_path):
    arrays = medmnist_arrays()
    del arrays["val_labels"]
    with pytest.raises(DataError, match="val_labels") as err:
        load_medmnist(write_npz(tmp_path, **arrays), 8)
    assert "m.npz" in str(err.value) and "train_images" in str(err.value)


def _broken(key: str, value: np.ndarray) -> dict:
    arrays = medmnist_arrays()
    arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("train_labels", np.zeros((12, 4), np.uint8), "multi-label"),
        ("train_labels", np.zeros((11, 1), np.uint8), "11 labels"),
        ("val_labels", np.full((12, 1), 0.5), "not integers"),
        ("test_labels", np.full((12, 1), -1), "negative"),
        ("val_images", np.full((12, 8, 8), np.nan), "NaN"),
        ("test_images", np.zeros((12, 8), np.uint8), "N x H x W"),
    ],
)
def test_medmnist_bad_arrays(tmp_path, key, value, match):
    with pytest.raises(DataError, match=match) as err:
        load_medmnist(write_npz(tmp_path, **_broken(key, value)), 8)
    assert "m.npz" in str(err.value)
    assert key in str(err.value) or key.replace("labels", "images") in str(err.value)


def test_folder_happy_path(tmp_path):
    root = make_folder(tmp_path / "imgs", {"benign": 3, "malignant": 2})
    (root / "benign" / "notes.txt").write_text("ignored")
    write_png(root / "malignant" / "UPPER.PNG")
    data = load_folder(root, 8)
    ds = data.train
    assert ds.class_names == ["benign", "malignant"]
    assert ds.images.shape == (6, 1, 8, 8) and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.val is None and data.test is None


def test_folder_rgb_and_rgba(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 2}, mode="RGB")
    write_png(root / "b" / "x.png", mode="RGBA")
    assert load_folder(root, 6).train.images.shape == (3, 3, 6, 6)


def test_folder_missing_and_empty(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_folder(tmp_path / "nope", 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        load_folder(tmp_path / "empty", 8)
    root = make_folder(tmp_path / "imgs", {"a": 2})
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="class 'b' has no"):
        load_folder(root, 8)


@pytest.mark.parametrize("mode", ["squash", "crop", "pad"])
def test_folder_mixed_sizes_and_aspect_ratios_are_resized(tmp_path, caplog, mode):
    root = make_folder(tmp_path / "imgs", {"a": 2})
    write_png(root / "b" / "big.png", size=(32, 32))
    write_png(root / "b" / "wide.png", size=(40, 10))
    data = load_folder(root, 8, resize=mode)
    assert data.train.images.shape == (4, 1, 8, 8) and data.train.labels.tolist() == [0, 0, 1, 1]
    assert "images of 3 sizes" in caplog.text and "6x6 (2)" in caplog.text
    assert f"prepare_data.resize = {mode}" in caplog.text


def test_fit_image_modes_closed_form():
    row = np.array([10, 20, 30, 40], np.uint8)
    img = np.tile(row, (2, 1))  # 2 high, 4 wide
    assert fit_image(img, 2, "crop").tolist() == [[20, 30], [20, 30]]  # the centred 2x2 square
    padded = fit_image(img, 4, "pad")  # black rows above and below, no scaling
    assert padded.tolist() == [[0] * 4, row.tolist(), row.tolist(), [0] * 4]
    squashed = fit_image(img, 4, "squash")  # stretched vertically: every column stays constant
    assert (squashed == squashed[0]).all() and squashed.shape == (4, 4)
    rgb = np.zeros((3, 5, 3), np.uint8)
    assert all(fit_image(rgb, 4, m).shape == (4, 4, 3) for m in ("squash", "crop", "pad"))
    square = RNG.integers(0, 256, (6, 6), dtype=np.uint8)
    assert np.array_equal(fit_image(square, 4, "crop"), fit_image(square, 4, "squash"))
    assert np.array_equal(fit_image(square, 4, "pad"), fit_image(square, 4, "squash"))
    assert fit_image(square, 6, "pad") is square  # the right size already: untouched
    with pytest.raises(ConfigError, match="prepare_data.resize"):
        fit_image(square, 4, "stretch")


def test_medmnist_plus_sizes_read_as_they_are(tmp_path, caplog):
    path = write_npz(tmp_path, name="pathmnist_64.npz", **medmnist_arrays(rgb=True, size=64))
    data = load_medmnist(path, 64)
    assert data.train.images.shape == (12, 3, 64, 64) and "resizing" not in caplog.text
    data = load_medmnist(path, 28)
    assert data.test.images.shape == (12, 3, 28, 28)
    assert "images are 64x64 px (width x height) but base.image_size is 28" in caplog.text
    assert "set base.image_size=64 to use them as they are" in caplog.text


def test_class_names_name_every_split(tmp_path):
    data = load_medmnist(write_npz(tmp_path, **medmnist_arrays()), 8)
    named = name_classes(data, ["normal", "benign", "malignant"])
    for ds in (named.train, named.val, named.test):
        assert ds.class_names == ["normal", "benign", "malignant"]
    assert name_classes(data, None) is data
    with pytest.raises(ConfigError, match=r"prepare_data.class_names' has 2 name\(s\) but the data "
                                          r"has 3 classes"):
        name_classes(data, ["a", "b"])


def test_folder_mixed_channels(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 1})
    write_png(root / "b" / "colour.png", mode="RGB")
    with pytest.raises(DataError, match=r"img0.png is grey.*colour.png is RGB"):
        load_folder(root, 8)


def test_folder_truncated_image(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 2})
    bad = write_png(root / "a" / "bad.png", size=(16, 16))
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DataError, match="bad.png"):
        load_folder(root, 8)


def test_load_source_dispatch_and_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="prepare_data.source"):
        load_source("imagenet", None, 8)
    for source in ("medmnist", "folder"):
        with pytest.raises(ConfigError, match="prepare_data.path"):
            load_source(source, None, 8)
    root = make_folder(tmp_path / "imgs", {"a": 2})
    assert load_source("folder", str(root), 4).train.images.shape == (2, 1, 4, 4)


def test_validate_dataset_names_bad_label():
    ds = toy([2, 2])
    ds.labels[3] = 7
    with pytest.raises(DataError, match="label 7 at index 3"):
        validate_dataset(ds, "here")
    ds = toy([2, 2])
    ds.images[1, 0, 0, 0] = np.inf
    with pytest.raises(DataError, match="image 1"):
        validate_dataset(ds, "here")


# ---------------------------------------------------------------- splits


def test_stratified_split_counts_and_determinism():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    rest, taken = stratified_split(labels, 10, seed=1)
    assert len(taken) == 10 and np.bincount(labels[taken]).tolist() == [5, 3, 2]
    assert np.intersect1d(rest, taken).size == 0 and len(rest) + len(taken) == 100
    assert np.array_equal(taken, stratified_split(labels, 10, seed=1)[1])
    assert not np.array_equal(taken, stratified_split(labels, 10, seed=2)[1])
    assert len(stratified_split(labels, 0.2, seed=0)[1]) == 20
    # every class gets a test image when there is room, even a tiny one
    tiny = np.repeat(np.arange(3), [90, 8, 2])
    assert np.bincount(tiny[stratified_split(tiny, 5, 0)[1]]).min() >= 1


def test_take_per_class():
    labels = np.repeat(np.arange(3), [5, 4, 3])
    rest, taken = take_per_class(labels, 3, seed=0)
    assert np.bincount(labels[taken]).tolist() == [3, 3, 3] and len(rest) == 3
    with pytest.raises(DataError, match=r"class 'c' has 3 image\(s\); 4 are needed"):
        take_per_class(labels, 4, seed=0, class_names=["a", "b", "c"])


def test_limit_training_caps():
    labels = np.repeat(np.arange(3), [20, 20, 20])
    kept = limit_training(labels, cap=5, seed=0)
    assert np.bincount(labels[kept]).tolist() == [5, 5, 5] and np.all(np.diff(kept) > 0)
    kept = limit_training(labels, cap=[5, 8, 11], seed=0)
    assert np.bincount(labels[kept]).tolist() == [5, 8, 11]
    kept = limit_training(labels, fraction=0.5, cap=[5, 15, 11], seed=0)
    assert np.bincount(labels[kept]).tolist() == [5, 10, 10]
    assert np.array_equal(kept, limit_training(labels, 0.5, [5, 15, 11], seed=0))
    assert set(limit_training(labels, cap=3, seed=0)) <= set(limit_training(labels, cap=6, seed=0))
    with pytest.raises(ConfigError, match="prepare_data.train_cap"):
        limit_training(labels, cap=[5, 8], seed=0)
    with pytest.raises(ConfigError, match="prepare_data.train_fraction"):
        limit_training(labels, fraction=0.0)


SPLIT_ARGS = dict(val_per_class=2, test_size=0.2, train_fraction=1.0, seed=3)


def test_make_splits_deterministic_and_disjoint():
    data = SplitData(toy([20, 15, 10]))
    a = make_splits(data, train_cap=None, **SPLIT_ARGS)
    b = make_splits(data, train_cap=None, **SPLIT_ARGS)
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(a, split).images, getattr(b, split).images)
    flat = {
        s: {tuple(x) for x in getattr(a, s).images.reshape(len(getattr(a, s)), -1)}
        for s in ("train", "val", "test")
    }
    assert not (
        flat["train"] & flat["val"] or flat["train"] & flat["test"] or flat["val"] & flat["test"]
    )
    assert len(a.train) + len(a.val) + len(a.test) == 45
    assert a.val.class_counts().tolist() == [2, 2, 2] and len(a.test) == 9
    rows = class_count_table(a)
    assert rows[0]["class"] == 0 and rows[0]["name"] == "0"
    assert sum(r["train"] + r["val"] + r["test"] for r in rows) == 45


def test_make_splits_test_independent_of_train_cap():
    data = SplitData(toy([20, 15, 10]))
    a = make_splits(data, train_cap=None, **SPLIT_ARGS)
    b = make_splits(data, train_cap=[3, 4, 5], **SPLIT_ARGS)
    assert np.array_equal(a.test.images, b.test.images)
    assert b.train.class_counts().tolist() == [3, 4, 5]
    # what the cap leaves out is `unused`: with the capped train it is a's train, no more
    assert a.unused.class_counts().tolist() == [0, 0, 0]
    assert (b.train.class_counts() + b.unused.class_counts()).tolist() == \
        a.train.class_counts().tolist()
    pooled = np.concatenate([b.train.images, b.unused.images]).reshape(len(a.train), -1)
    assert sorted(map(bytes, pooled)) == sorted(map(bytes, a.train.images.reshape(len(a.train), -1)))


def test_make_splits_keeps_official_splits():
    data = SplitData(toy([6, 6]), toy([1, 1]), toy([2, 2]))
    out = make_splits(data, train_cap=2, **SPLIT_ARGS)
    assert out.val is data.val and out.test is data.test
    assert out.train.class_counts().tolist() == [2, 2]


def test_make_splits_too_few_images():
    data = SplitData(toy([20, 20, 20, 5]))
    with pytest.raises(DataError, match=r"class '3' has 1 training image; at least 2 are needed"):
        make_splits(data, train_cap=None, **{**SPLIT_ARGS, "test_size": 8, "val_per_class": 3})
    with pytest.raises(DataError, match=r"val_per_class = 6.*class '3' has 4 image"):
        make_splits(data, train_cap=None, **{**SPLIT_ARGS, "val_per_class": 6})


def test_save_load_split_roundtrip(tmp_path):
    ds = toy([3, 2])
    ds.class_names = ["benign", "malignant"]
    save_split(tmp_path / "train.npz", ds)
    back = load_split(tmp_path / "train.npz")
    assert np.array_equal(back.images, ds.images) and np.array_equal(back.labels, ds.labels)
    assert back.class_names == ["benign", "malignant"] and back.labels.dtype == np.int64
    np.savez(tmp_path / "bad.npz", images=ds.images)
    with pytest.raises(DataError, match="bad.npz") as err:
        load_split(tmp_path / "bad.npz")
    assert "labels" in str(err.value)
