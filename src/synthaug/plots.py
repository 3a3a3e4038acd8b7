"""Pictures of what the pipeline did: FID curves, image grids and t-SNE maps, written as PNG.

Pure functions of arrays and an output path; every PNG is written atomically.
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from PIL import Image  # noqa: E402

from .core.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

PAD_VALUE = 255  # grid lines between tiles: white, like the figure background


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] as (N, H, W, C) uint8 (C is 1 or 3)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1|3, H, W), got shape {images.shape}")
    scaled = np.nan_to_num((images + 1.0) * 127.5, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def image_grid(images: np.ndarray, ncol: int, pad: int = 1, upscale: int = 4) -> Image.Image:
    """Tile images row by row into one picture, ``pad`` pixels of white around every tile.

    Size: width = ncol * W * upscale + (ncol + 1) * pad, height likewise with
    rows = max(1, ceil(N / ncol)); tiles are upscaled by pixel repetition (nearest),
    missing tiles of the last row stay white. Mode 'L' for grey, 'RGB' for colour.
    """
    if ncol < 1 or upscale < 1 or pad < 0:
        raise ValueError(f"need ncol >= 1, upscale >= 1, pad >= 0 (got {ncol}, {upscale}, {pad})")
    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    tiles = tiles.repeat(upscale, axis=1).repeat(upscale, axis=2)
    th, tw = h * upscale, w * upscale
    rows = max(1, math.ceil(n / ncol))
    canvas = np.full((rows * th + (rows + 1) * pad, ncol * tw + (ncol + 1) * pad, c),
                     PAD_VALUE, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, ncol)
        y, x = pad + r * (th + pad), pad + q * (tw + pad)
        canvas[y:y + th, x:x + tw] = tile
    return Image.fromarray(canvas[..., 0], "L") if c == 1 else Image.fromarray(canvas, "RGB")


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write a matplotlib figure as PNG atomically and close it."""
    try:
        with atomic_path(path, suffix=".tmp.png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", facecolor="white",
                        metadata={"Software": None})
    finally:
        plt.close(fig)
    log.info("wrote %s", path)


def class_colours(n: int) -> list:
    """``n`` distinguishable colours (tab10, then tab20 light variants, then evenly spaced hues)."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:  # the ten tab10 colours first, then their light variants
        return [plt.get_cmap("tab20")(2 * i % 20 + 2 * i // 20) for i in range(n)]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def fid_curve_png(epochs: Sequence[float], fid: Sequence[float], fid_ema: Sequence[float],
                  chosen_epoch: float, path: str | os.PathLike, title: str) -> None:
    """Raw and EMA-smoothed FID per checkpoint epoch, the chosen checkpoint marked."""
    e = np.asarray(epochs, dtype=float)
    raw, ema = np.asarray(fid, dtype=float), np.asarray(fid_ema, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(e, raw, "o-", color="tab:blue", alpha=0.45, ms=3, lw=1, label="FID (raw)")
    ax.plot(e, ema, "-", color="tab:orange", lw=2, label="FID (EMA-smoothed)")
    finite = np.concatenate([raw[np.isfinite(raw) & (raw > 0)], ema[np.isfinite(ema) & (ema > 0)]])
    if finite.size and finite.max() / finite.min() > 10:
        ax.set_yscale("log")
        plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    bad = ~np.isfinite(raw)
    if bad.any():
        ax.plot(e[bad], np.zeros(bad.sum()), "x", color="red", ms=8, clip_on=False,
                transform=ax.get_xaxis_transform(), label="non-finite FID (skipped)")
    hit = np.flatnonzero(e == chosen_epoch)
    ax.axvline(chosen_epoch, color="tab:green", ls="--", lw=1.2)
    if hit.size:
        y = ema[hit[0]] if np.isfinite(ema[hit[0]]) else raw[hit[0]]
        ax.plot([chosen_epoch], [y], "*", color="tab:green", ms=16, mec="black", zorder=5,
                label="chosen checkpoint")
        right = chosen_epoch > e.min() + 0.6 * (e.max() - e.min()) if e.size > 1 else False
        ax.annotate(f"chosen: epoch {chosen_epoch:g}\nFID {raw[hit[0]]:.2f} (EMA {ema[hit[0]]:.2f})",
                    xy=(chosen_epoch, y), xytext=(-12 if right else 12, 40),
                    textcoords="offset points", ha="right" if right else "left",
                    arrowprops={"arrowstyle": "->", "color": "tab:green"},
                    bbox={"boxstyle": "round", "fc": "white", "ec": "tab:green"})
    ax.set(title=title, xlabel="epoch (checkpoint)", ylabel="FID in extractor feature space")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, frameon=False)
    save_figure(fig, path)


def _label(name: str, width: int = 18) -> str:
    return textwrap.fill(str(name), width)


def columns_png(columns: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike, n: int,
                title: str) -> None:
    """One row per class (the keys of the first column), one panel per column header: up to ``n``
    images of that class in each panel."""
    groups = list(columns.values())
    if not groups:
        raise ValueError("no columns to show")
    names = list(groups[0])
    sample = next((np.asarray(a) for g in groups for a in g.values() if len(a)), None)
    if sample is None:
        raise ValueError("no images to show")
    side = sample.shape[-1]
    up = max(1, 64 // side)
    rows, cols = len(names), len(groups)
    # geometry in inches: panels sized to the image strips, so no blank bands between rows
    panel_w = max(3.0, 0.75 * n)
    row_h = panel_w * (side * up + 2 * up) / (n * (side * up + up) + up)
    gap, top, bottom = 0.1, 0.85, 0.05
    fig_h = top + rows * row_h + (rows - 1) * gap + bottom
    fig_w = cols * panel_w + 0.25 * (cols - 1)
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(left=0, right=1, top=1 - top / fig_h, bottom=bottom / fig_h,
                        hspace=gap / row_h, wspace=0.25 / panel_w)
    empty = np.zeros((0, *sample.shape[1:]), dtype=np.float32)
    for r, name in enumerate(names):
        for col, (header, group) in enumerate(columns.items()):
            imgs = np.asarray(group.get(name, empty))[:n]
            grid = np.asarray(image_grid(imgs if len(imgs) else empty, ncol=n, pad=up, upscale=up))
            ax = axes[r, col]
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if r == 0:
                ax.set_title(_label(header, 8 * n), fontsize=12, fontweight="bold")
        axes[r, 0].set_ylabel(_label(name), rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle(title, fontsize=13, y=1 - 0.08 / fig_h, va="top")
    save_figure(fig, path)


def real_vs_generated_png(real_by_class: Mapping[str, np.ndarray],
                          fake_by_class: Mapping[str, np.ndarray], path: str | os.PathLike,
                          n: int = 8, title: str = "Real training images vs generated") -> None:
    """Per class: ``n`` real images | ``n`` generated images."""
    columns_png({"real": real_by_class, "generated": fake_by_class}, path, n, title)


def kept_vs_rejected_png(kept_by_class: Mapping[str, np.ndarray],
                         rejected_by_class: Mapping[str, np.ndarray], path: str | os.PathLike,
                         n: int = 6, title: str = "Selection: kept vs rejected candidates",
                         headers: tuple[str, str] = ("kept (lowest score first)",
                                                     "rejected (highest score first)")) -> None:
    """Per class: the first ``n`` kept and the first ``n`` rejected candidates (pre-sorted)."""
    columns_png({headers[0]: kept_by_class, headers[1]: rejected_by_class}, path, n, title)


def tsne_embed(features: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE (PCA init, perplexity min(30, (n-1)/3), one thread) of an (N, D) feature matrix."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.nan_to_num(np.asarray(features, dtype=np.float64))
    n = len(x)
    if n < 3:
        return np.c_[np.arange(n, dtype=float), np.zeros(n)]
    if x.shape[1] < 2:
        x = np.c_[x, np.zeros((n, 2 - x.shape[1]))]
    perplexity = max(1.0, min(30.0, (n - 1) / 3))
    with threadpool_limits(1):  # one thread: byte-identical output, and far faster on busy CPUs
        return TSNE(n_components=2, perplexity=perplexity, init="pca",
                    random_state=seed).fit_transform(x)


def tsne_png(real_feats: np.ndarray, real_labels: np.ndarray, pool_feats: np.ndarray,
             pool_labels: np.ndarray, masks: Mapping[str, np.ndarray],
             path: str | os.PathLike, seed: int, class_names: Sequence[str],
             title: str = "t-SNE of extractor features", max_points: int = 5000) -> None:
    """Before/after selection on one shared t-SNE: colour = class, o = real, x = synthetic.

    The first panel shows all candidates; then one panel per entry of ``masks`` (filter name
    -> bool mask over the pool), three panels a row. Above ``max_points`` points in all, real and synthetic points are
    subsampled alike (seeded).
    """
    masks = {k: np.asarray(v, dtype=bool) for k, v in masks.items()}
    real_feats, pool_feats = np.asarray(real_feats), np.asarray(pool_feats)
    real_labels, pool_labels = np.asarray(real_labels), np.asarray(pool_labels)
    total = len(real_labels) + len(pool_labels)
    if total > max_points:
        rng = np.random.default_rng(seed)
        keep_r = np.sort(rng.permutation(len(real_labels))[:len(real_labels) * max_points // total])
        keep_p = np.sort(rng.permutation(len(pool_labels))[:len(pool_labels) * max_points // total])
        real_feats, real_labels = real_feats[keep_r], real_labels[keep_r]
        pool_feats, pool_labels = pool_feats[keep_p], pool_labels[keep_p]
        masks = {k: v[keep_p] for k, v in masks.items()}
        title += f" (random {max_points / total:.0%} of the points)"
        log.info("t-SNE: %d of %d points (max_points)", len(keep_r) + len(keep_p), total)
    emb = tsne_embed(np.concatenate([real_feats, pool_feats]), seed)
    real_xy, pool_xy = emb[:len(real_labels)], emb[len(real_labels):]
    colours = class_colours(len(class_names))
    panels = [(f"before selection: real + all candidates ({len(pool_labels)})",
               np.ones(len(pool_labels), bool))]
    panels += [(f"{name}: real + kept ({int(mask.sum())})", mask) for name, mask in masks.items()]
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 6.4 * nrow), sharex=True, sharey=True,
                             squeeze=False)
    for i, (ax, (name, mask)) in enumerate(zip(axes.flat, panels, strict=False)):
        for c, colour in enumerate(colours):
            r = real_labels == c
            ax.scatter(real_xy[r, 0], real_xy[r, 1], s=22, marker="o", color=colour,
                       edgecolors="black", linewidths=0.3, alpha=0.9, zorder=3)
            s = (pool_labels == c) & mask
            ax.scatter(pool_xy[s, 0], pool_xy[s, 1], s=26, marker="x", color=colour,
                       linewidths=1.1, alpha=0.75, zorder=2)
        ax.set(title=name, xlabel="t-SNE 1", ylabel="t-SNE 2" if i % ncol == 0 else None)
        ax.grid(True, alpha=0.2)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="s", ms=9, color=col, label=_label(nm, 22))
               for nm, col in zip(class_names, colours, strict=True)]
    handles += [Line2D([], [], ls="", marker="o", mfc="lightgrey", mec="black", ms=7,
                       label=f"real ({len(real_labels)})"),
                Line2D([], [], ls="", marker="x", color="dimgrey", ms=8, mew=1.5, label="synthetic")]
    fig.legend(handles=handles, title="class / source", loc="center left",
               bbox_to_anchor=(0.995, 0.5), frameon=False,
               ncol=1 if len(handles) <= 24 else 2, fontsize=10)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    save_figure(fig, path)
