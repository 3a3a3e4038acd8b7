"""Speed and memory figures of the pipeline, printed as ratios against the goals.

    python benchmarks/bench.py            # micro-benchmarks (about a minute)
    python benchmarks/bench.py --repro    # also the whole default `dvc repro` in a temp copy

Figures, not tests: timings depend on the machine and its load.
Goals (issue "selective synthetic augmentation pipeline"): default `dvc repro` <= 10 min on
2 cores (15 min with every method); MC filter with the trunk computed once >= 3x the
images/s of K full passes; scoring all checkpoints <= 10% of generator training time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from synthaug.augment import one_hot
from synthaug.core.params import Params, load_params
from synthaug.data.sources import load_digits
from synthaug.data.splits import limit_training
from synthaug.fid import feature_statistics, features_of, frechet_distance
from synthaug.filters import class_centroids, greedy_covariance, mc_scores, mc_scores_naive
from synthaug.models.classifier import ClassifierConfig, ResNetClassifier
from synthaug.models.generators import build_generator
from synthaug.pipeline.train_gan import generator_run
from synthaug.sampling import sample_images
from synthaug.training.generators import train_generator

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def extractor_like(params: Params) -> ResNetClassifier:
    """An untrained extractor of the configured architecture (10 grey classes, eval mode)."""
    net = params.train_extractor.net
    cfg = ClassifierConfig(1, 10, tuple(net.blocks), tuple(net.widths), net.dropout)
    return ResNetClassifier(cfg).eval()


def bench_filter(params: Params, n: int = 2000) -> None:
    """Images/s of the MC-dropout filter: trunk once + K heads versus K full passes."""
    size = params.base.image_size
    model = extractor_like(params)
    images = torch.rand(n, 1, size, size) * 2 - 1
    classes = torch.randint(0, 10, (n,))
    centroids = class_centroids(model, images[:500], classes[:500], 10)
    k = params.filter_synthetic.passes
    fast = best_of(lambda: mc_scores(model, images, classes, centroids, passes=k,
                                     generator=torch.Generator().manual_seed(0)))
    naive = best_of(lambda: mc_scores_naive(model, images, classes, centroids, passes=k,
                                            generator=torch.Generator().manual_seed(0)))
    print(f"filter_synthetic K={k}: trunk once {n / fast:,.0f} img/s, K full passes "
          f"{n / naive:,.0f} img/s -> {naive / fast:.2f}x (goal >= 3x, ceiling {k}x)")


def bench_covariance(params: Params, sizes: tuple[int, ...] = (400, 2000, 4000)) -> None:
    """Seconds of the covariance filter for one class of m candidates (keep m/4), against a
    Python loop that recomputes every candidate's covariance at every step (extrapolated)."""
    import numpy as np

    d = params.filter_synthetic.pca_dim
    rng = np.random.default_rng(0)
    target = np.cov(rng.normal(size=(50, d)), rowvar=False)
    for m in sizes:
        z, k = rng.normal(size=(m, d)), m // 4
        fast = best_of(lambda z=z, k=k: greedy_covariance(z, target, k), repeats=1)

        def loop_steps(z=z, steps=3) -> None:
            chosen = [0]
            for _ in range(steps):
                f = [np.linalg.norm(np.cov(z[[*chosen, j]], rowvar=False) - target)
                     for j in range(len(z))]
                chosen.append(int(np.argmin(f)))
        naive = best_of(loop_steps, repeats=1) / 3 * k
        print(f"covariance filter, {m} candidates of one class, keep {k}, pca_dim {d}: "
              f"{fast:.2f} s (greedy + swaps, vectorised); a loop over candidates ~{naive:.0f} s "
              "for the greedy alone")


def bench_scoring(params: Params) -> None:
    """Time to score one checkpoint versus the generator training between two checkpoints."""
    digits = load_digits(params.base.image_size).train
    cfg = params.prepare_data
    train = digits.subset(limit_training(digits.labels, cfg.train_fraction, cfg.train_cap, seed=0))
    x, y = torch.from_numpy(train.images), one_hot(torch.from_numpy(train.labels), train.num_classes)
    per_kind = {}
    for kind in params.train_gan.kinds:
        run = generator_run(params, kind, train)
        run = dataclasses.replace(run, epochs=2 * run.checkpoint_every)
        with tempfile.TemporaryDirectory() as tmp:
            hist = train_generator(run, x, y, tmp)
        train_per_ckpt = sum(r["seconds"] for r in hist) / 2
        gen = build_generator(kind, **run.model_kwargs).eval()
        if kind == "ae":
            gen.set_codes(x, y.argmax(1))
        ext = extractor_like(params)
        real = feature_statistics(features_of(ext, x))
        labels = y[torch.randint(0, len(y), (params.select_checkpoint.n_images,))]

        def score(ext=ext, gen=gen, labels=labels, real=real) -> None:
            fake = features_of(ext, sample_images(gen, labels, 0))
            frechet_distance(*real, *feature_statistics(fake))

        score()  # warm-up
        per_ckpt = best_of(score)
        per_kind[kind] = per_ckpt / train_per_ckpt
        print(f"select_checkpoint {kind}: {per_ckpt * 1000:.0f} ms per checkpoint vs "
              f"{train_per_ckpt:.2f} s of training per checkpoint -> {per_kind[kind]:.1%} "
              f"(goal <= 10%)")


def bench_repro() -> None:
    """Wall time and peak memory of the default `dvc repro` in a fresh temporary copy."""
    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp) / "proj"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(proj)], check=True)
        shutil.copy2(ROOT / "params.yaml", proj / "params.yaml")
        env = {**os.environ, "CI": "1", "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        for f in ("dvc.lock",):
            (proj / f).unlink(missing_ok=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=proj, env=env, check=True)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"default dvc repro: {wall / 60:.1f} min on {os.cpu_count()} cores "
          f"(goal <= 15 min with every method), peak memory of one stage {peak:,.0f} MiB")


def main() -> None:
    """Parse flags and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repro", action="store_true", help="also time the default dvc repro")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    torch.manual_seed(0)
    bench_filter(params)
    bench_covariance(params)
    bench_scoring(params)
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if args.repro:
        bench_repro()


if __name__ == "__main__":
    main()
