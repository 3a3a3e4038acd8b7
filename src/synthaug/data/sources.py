"""Image sources: scikit-learn digits, MedMNIST ``.npz`` files and class folders.

Every loader returns a :class:`SplitData` whose images are float32 ``N x C x S x S``
arrays scaled to [-1, 1] (C = 1 for grey, 3 for RGB, S = ``base.image_size``) and whose
labels are int64 ``(N,)`` arrays in ``0..num_classes-1``. Every error names the file, key
or class at fault.

Images of any size are read as they are and brought to S x S by one rule,
``prepare_data.resize``: ``squash`` (stretch to the square: no pixel lost, the aspect
ratio changed), ``crop`` (the centred square of the shorter side, then scaled: the aspect
ratio kept, the borders of the longer side lost) or ``pad`` (black borders around the
shorter side, then scaled: everything kept, a border added). Square images give the same
result with all three. A data file or folder whose images are all of another size than
S is resized with a warning that says so (MedMNIST+ files such as ``pathmnist_64.npz``
are read at 64 px when ``base.image_size`` is 64).
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.errors import ConfigError, DataError
from ..core.params import IMAGE_SIZES
from .dataset import Dataset, SplitData, validate_dataset

log = logging.getLogger(__name__)

MEDMNIST_KEYS = tuple(f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels"))
MEDMNIST_URL = "https://zenodo.org/records/10519652"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"}
COLOUR_MODES = {"RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"}
SOURCES = ("digits", "medmnist", "folder")
RESIZE_MODES = ("squash", "crop", "pad")


def fit_image(img: np.ndarray, size: int, mode: str = "squash") -> np.ndarray:
    """One uint8 H x W (grey) or H x W x 3 image as size x size by ``mode`` (module notes)."""
    if mode not in RESIZE_MODES:
        raise ConfigError(f"params key 'prepare_data.resize' = {mode!r} is not allowed: "
                          f"one of {', '.join(RESIZE_MODES)}")
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    if mode == "crop" and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top:top + side, left:left + side]
    elif mode == "pad" and h != w:
        side = max(h, w)
        canvas = np.zeros((side, side) + img.shape[2:], np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        canvas[top:top + h, left:left + w] = img
        img = canvas
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


def _size_note(where: object, shape: tuple[int, ...], size: int, mode: str) -> None:
    """Warn that images of one size (height, width) are resized to size x size."""
    h, w = shape
    if (h, w) == (size, size):
        return
    how = f"by prepare_data.resize = {mode}" if h != w else "keeping them square"
    hint = (f"; set base.image_size={h} to use them as they are"
            if h == w and h in IMAGE_SIZES else "")
    log.warning("%s: images are %dx%d px (width x height) but base.image_size is %d: resizing "
                "them to %dx%d, %s%s", where, w, h, size, size, size, how, hint)


def resize_images(images: np.ndarray, image_size: int, mode: str = "squash") -> np.ndarray:
    """Resize uint8 N x H x W (grey) or N x H x W x C images to float32 N x C x S x S in [-1, 1]."""
    if images.dtype != np.uint8:
        raise DataError(f"resize_images expects uint8 images, got dtype {images.dtype}")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise DataError(f"images must be N x H x W or N x H x W x 3, got shape {images.shape}")
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise ConfigError(f"image size must be a positive integer, got {image_size!r}")
    size = int(image_size)
    if images.shape[1:3] != (size, size):
        resized = np.empty((len(images), size, size) + images.shape[3:], np.uint8)
        for i, img in enumerate(images):
            resized[i] = fit_image(img, size, mode)
        images = resized
    out = images.astype(np.float32) / 127.5 - 1.0
    return out[:, None] if out.ndim == 3 else np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _numbered_names(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def load_digits(image_size: int) -> SplitData:
    """Load scikit-learn's bundled 8x8 digits (10 classes, no official splits)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    raw = np.asarray(bunch.images, dtype=np.float64)
    images = np.clip(np.round(raw * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    ds = Dataset(
        resize_images(images, image_size), np.asarray(bunch.target, np.int64), _numbered_names(10)
    )
    validate_dataset(ds, "digits")
    log.info("digits: %d images, %d classes, resized to %d", len(ds), ds.num_classes, image_size)
    return SplitData(ds)


def _medmnist_split(
    file: Path, split: str, images: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Check one MedMNIST split; return uint8 images and int64 (N,) labels."""
    ik, lk = f"{split}_images", f"{split}_labels"
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"{file}: key '{lk}' has shape {labels.shape}: multi-label MedMNIST sets "
            "(e.g. ChestMNIST) are not supported; use a single-label set"
        )
    if labels.ndim not in (1, 2):
        raise DataError(f"{file}: key '{lk}' must be N x 1 or (N,), got shape {labels.shape}")
    labels = labels.reshape(-1)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise DataError(
            f"{file}: key '{ik}' must be N x H x W or N x H x W x 3, got shape {images.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{file}: key '{ik}' has {len(images)} images but '{lk}' has {len(labels)} labels"
        )
    if len(labels) == 0:
        raise DataError(f"{file}: key '{ik}' holds no images")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise DataError(f"{file}: key '{lk}' must hold integers, got dtype {labels.dtype}")
    if np.issubdtype(labels.dtype, np.floating) and not (
        np.isfinite(labels).all() and (labels == np.round(labels)).all()
    ):
        raise DataError(f"{file}: key '{lk}' holds values that are not integers")
    if (labels < 0).any():
        raise DataError(f"{file}: key '{lk}' holds negative label {labels.min()}")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number) or np.issubdtype(
            images.dtype, np.complexfloating
        ):
            raise DataError(f"{file}: key '{ik}' must hold numbers, got dtype {images.dtype}")
        if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
            raise DataError(f"{file}: key '{ik}' contains NaN or inf values")
        if images.size and (images.min() < 0 or images.max() > 255):
            raise DataError(f"{file}: key '{ik}' values must lie in 0..255")
        images = np.round(images).astype(np.uint8)
    return images, labels.astype(np.int64)


def load_medmnist(path: str | os.PathLike, image_size: int, resize: str = "squash") -> SplitData:
    """Load an official (single-label) MedMNIST ``.npz`` keeping its train/val/test splits.

    Any image size is read (MedMNIST+ files hold 64, 128 or 224 px); images of another
    size than ``image_size`` are resized with a warning.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(
            f"{file}: MedMNIST file not found; put the .npz there or point the "
            f"`prepare_data.path` param at it. MedMNIST files are published at {MEDMNIST_URL} "
            "and by the `medmnist` package (e.g. `pathmnist.npz`)"
        )
    try:
        with np.load(file, allow_pickle=False) as npz:
            present = sorted(npz.files)
            missing = [k for k in MEDMNIST_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{file}: missing key(s) {missing}; the file has {present}")
            arrays = {k: np.asarray(npz[k]) for k in MEDMNIST_KEYS}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{file}: not a readable .npz file ({exc})") from exc

    parts = {
        s: _medmnist_split(file, s, arrays[f"{s}_images"], arrays[f"{s}_labels"])
        for s in ("train", "val", "test")
    }
    grey = {s: imgs.ndim == 3 or imgs.shape[-1] == 1 for s, (imgs, _) in parts.items()}
    if len(set(grey.values())) > 1:
        raise DataError(f"{file}: splits mix grey and RGB images ({grey})")
    names = _numbered_names(int(max(labels.max() for _, labels in parts.values())) + 1)
    sizes = sorted({imgs.shape[1:3] for imgs, _ in parts.values()})
    for shape in sizes:
        _size_note(file, shape, image_size, resize)
    out = {}
    for split, (imgs, labels) in parts.items():
        ds = Dataset(resize_images(imgs, image_size, resize), labels, names)
        validate_dataset(ds, f"{file} ({split})")
        out[split] = ds
    log.info(
        "%s: %d/%d/%d train/val/test images, %d classes, %d channel(s), resized to %d",
        file,
        len(out["train"]),
        len(out["val"]),
        len(out["test"]),
        len(names),
        out["train"].channels,
        image_size,
    )
    return SplitData(out["train"], out["val"], out["test"])


def _read_image(file: Path, label: str) -> tuple[np.ndarray, str]:
    """Read one image file as uint8 (H x W or H x W x 3); return it and 'grey'/'RGB'."""
    try:
        with Image.open(file) as im:
            im.verify()
        with Image.open(file) as im:
            im.load()
            mode = im.mode
            if mode in GREY_MODES:
                if mode.startswith("I"):
                    arr = np.asarray(im).astype(np.float64)
                    arr = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
                else:
                    arr = np.asarray(im.convert("L"), dtype=np.uint8)
                return arr, "grey"
            if mode in COLOUR_MODES:
                return np.asarray(im.convert("RGB"), dtype=np.uint8), "RGB"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{label}: unreadable or truncated image ({exc})") from exc
    raise DataError(f"{label}: unsupported image mode {mode!r} (use greyscale or RGB)")


def load_folder(path: str | os.PathLike, image_size: int, resize: str = "squash") -> SplitData:
    """Load PNG/JPEG images from one subfolder per class (sorted subfolder names = class names).

    Images may differ in size and aspect ratio: each is brought to ``image_size`` by
    ``resize`` (squash, crop or pad) as it is read, so only the resized images are kept.
    """
    if resize not in RESIZE_MODES:
        fit_image(np.zeros((1, 1), np.uint8), 1, resize)  # raises the ConfigError
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"{root}: image folder not found; set `prepare_data.path` to a folder with one "
            "subfolder of PNG/JPEG images per class"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class subfolders (expected one subfolder of images per class)")
    images: list[np.ndarray] = []
    labels: list[int] = []
    shapes: dict[tuple[int, ...], int] = {}
    first: tuple[str, tuple[int, ...], str] | None = None
    for c, name in enumerate(classes):
        files = sorted(
            f for f in (root / name).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DataError(f"{root / name}: class '{name}' has no .png/.jpg/.jpeg images")
        for f in files:
            label = str(f.relative_to(root))
            arr, kind = _read_image(f, str(f))
            if first is None:
                first = (label, arr.shape[:2], kind)
            elif kind != first[2]:
                raise DataError(
                    f"{root}: images mix grey and RGB: {first[0]} is {first[2]}, {label} is {kind}"
                )
            shapes[arr.shape[:2]] = shapes.get(arr.shape[:2], 0) + 1
            images.append(fit_image(arr, image_size, resize))
            labels.append(c)
    if len(shapes) == 1:
        _size_note(root, next(iter(shapes)), image_size, resize)
    else:
        common = sorted(shapes.items(), key=lambda kv: -kv[1])[:3]
        log.warning("%s: images of %d sizes (most common, width x height: %s): each resized to "
                    "%dx%d by prepare_data.resize = %s", root, len(shapes),
                    ", ".join(f"{w}x{h} ({n})" for (h, w), n in common), image_size, image_size,
                    resize)
    ds = Dataset(resize_images(np.stack(images), image_size), np.asarray(labels, np.int64), classes)
    validate_dataset(ds, str(root))
    log.info("%s: %d images, %d classes, resized to %d", root, len(ds), len(classes), image_size)
    return SplitData(ds)


def load_source(source: str, path: str | os.PathLike | None, image_size: int,
                resize: str = "squash") -> SplitData:
    """Load the source named by ``prepare_data.source`` ('digits', 'medmnist' or 'folder')."""
    if source not in SOURCES:
        raise ConfigError(
            f"prepare_data.source: unknown source {source!r}; choose one of {list(SOURCES)}"
        )
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise ConfigError(
            f"prepare_data.image_size: must be a positive integer, got {image_size!r}"
        )
    if source == "digits":
        return load_digits(image_size)
    if path is None or str(path).strip() == "":
        raise ConfigError(
            f"prepare_data.path: source {source!r} needs a path (the .npz file or image folder)"
        )
    return (
        load_medmnist(path, image_size, resize) if source == "medmnist"
        else load_folder(path, image_size, resize)
    )


def name_classes(data: SplitData, names: list[str] | None) -> SplitData:
    """Give every split the class names ``names`` (``prepare_data.class_names``); None keeps them."""
    if names is None:
        return data
    k = data.train.num_classes
    if len(names) != k:
        raise ConfigError(
            f"params key 'prepare_data.class_names' has {len(names)} name(s) but the data has "
            f"{k} classes ({', '.join(data.train.class_names)}): give one name per class, in "
            "this order, or null")
    for ds in (data.train, data.val, data.test):
        if ds is not None:
            ds.class_names = [str(n) for n in names]
    return data
