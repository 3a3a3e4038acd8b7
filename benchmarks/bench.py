"""Speed and memory figures of the pipeline, printed as ratios against the goals.

    python benchmarks/bench.py            # micro-benchmarks (about a minute)
    python benchmarks/bench.py --repro    # also the whole default `dvc repro` in a temp copy
    python benchmarks/bench.py --sizes    # also seconds per epoch at 28/64/128 px and the peak
                                          # memory of every stage at 128 px (about 15 min)

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

import numpy as np
import torch

from synthaug.augment import one_hot
from synthaug.core.params import Params, load_params
from synthaug.data.sources import load_digits
from synthaug.data.splits import limit_training
from synthaug.fid import feature_statistics, features_of, frechet_distance
from synthaug.filters import class_centroids, mc_scores, mc_scores_naive
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


SIZES_BENCH = (28, 64, 128)


def _digits_at(size: int, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` digits at ``size`` px and their integer labels."""
    ds = load_digits(size).train
    return torch.from_numpy(ds.images[:n]), torch.from_numpy(ds.labels[:n])


def bench_sizes(params: Params) -> None:
    """Seconds per cGAN epoch and per classifier epoch at 28, 64 and 128 px (256 images, 1 core
    if OMP_NUM_THREADS=1), with the configured networks (train_gan.cgan, train_classifier.net)."""
    from synthaug.core.runtime import resolve_precision
    from synthaug.models.classifier import build_classifier
    from synthaug.training.classifier import fit_classifier

    precision = resolve_precision(params.base.precision, "cpu")
    for size in SIZES_BENCH:
        x, labels = _digits_at(size)
        y = one_hot(labels, 10)
        train = load_digits(size).train.subset(range(256))
        run = dataclasses.replace(generator_run(params, "cgan", train), epochs=2,
                                  checkpoint_every=1, precision="fp32")
        with tempfile.TemporaryDirectory() as tmp:
            gan = min(r["seconds"] for r in train_generator(run, x, y, tmp))
        sched = dataclasses.replace(params.train_classifier.schedule, epochs=3, patience=None)
        stamps: list[float] = []
        torch.manual_seed(0)
        model = build_classifier(1, 10, params.train_classifier.net, size)
        t0 = time.perf_counter()
        fit_classifier(model, x, y, x[:50], labels[:50], sched,
                       generator=torch.Generator().manual_seed(0), precision=precision,
                       on_epoch=lambda row, stamps=stamps: stamps.append(time.perf_counter()))
        clf = min(b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True))
        print(f"{size:>3} px, 256 images: cGAN {gan:6.2f} s/epoch (fp32), classifier "
              f"{clf:5.2f} s/epoch ({precision}, widths {params.train_classifier.net.widths}, "
              f"stem halvings {model.cfg.stem_down})")


PEAK_WRAPPER = """
import atexit, runpy, sys
def peak(path=sys.argv[1]):
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    with open(path, "w") as out:
        out.write(str(kib))
atexit.register(peak)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _stage_peak_mib(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one stage script run as ``python SCRIPT ARGS``.

    The peak is the process's own high-water mark (VmHWM of /proc/self/status, read at
    exit): ru_maxrss would also count the memory of this (larger) process, which a child
    inherits across fork and exec.
    """
    with tempfile.NamedTemporaryFile(suffix=".kib") as peak:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, peak.name, *cmd], cwd=cwd,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed:\n{proc.stderr}")
        return int(Path(peak.name).read_text()) / 1024, seconds


def _rgb_digits_folder(root: Path) -> None:
    """The digits as tinted 8x8 RGB PNGs in one subfolder per class (an RGB data set)."""
    from PIL import Image

    ds = load_digits(8).train
    tint = np.array([1.0, 0.6, 0.8])
    for i, (img, label) in enumerate(zip(ds.images, ds.labels, strict=True)):
        grey = (img[0] + 1.0) * 127.5
        rgb = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb, "RGB").save(root / str(label) / f"{i:04d}.png")


def bench_stage_memory(size: int = 128, candidates: int = 4000) -> None:
    """Peak memory of every stage at ``size`` px with a pool of about ``candidates`` RGB images.

    The digits as RGB images at 128 px, 30 training images per class, generate.ratio chosen
    for 4 * 100 = 400 candidates per class; one epoch of every training stage (memory, not
    quality). Goal: generate and filter_synthetic under 2 GB on the CPU.
    """
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    per_class = candidates // 40  # selected images per class; the pool holds 4x as many
    params["base"].update(image_size=size, device="cpu")
    params["prepare_data"].update(source="folder", path="raw", train_cap=30)
    params["train_extractor"]["schedule"].update(epochs=1)
    params["train_gan"].update(kinds=["cgan"], epochs=1, checkpoint_every=1)
    params["select_checkpoint"].update(n_images=64)
    params["generate"].update(ratio=per_class / 30, pools={"cgan": {"generator": "cgan",
                                                                    "labels": "onehot"}})
    methods = params["train_classifier"]["methods"]
    params["train_classifier"].update(seeds=[0], methods={m: methods[m] for m in
                                                          ("baseline", "gan_selective")})
    params["train_classifier"]["schedule"].update(epochs=1)
    stages = [("prepare_data",), ("train_extractor",), ("train_gan", "cgan"),
              ("select_checkpoint", "cgan"), ("generate", "cgan"), ("filter_synthetic", "cgan"),
              ("train_classifier", "baseline"), ("train_classifier", "gan_selective"),
              ("evaluate",)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNTHAUG_NO_PROGRESS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        _rgb_digits_folder(Path(tmp) / "raw")
        (Path(tmp) / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        for name, *args in stages:
            peak, secs = _stage_peak_mib([str(ROOT / "stages" / f"{name}.py"), *args], Path(tmp),
                                         env)
            goal = " (goal < 2048 MiB)" if name in ("generate", "filter_synthetic") else ""
            print(f"{size} px {'@'.join([name, *args]):<34} peak {peak:7,.0f} MiB{goal}, "
                  f"{secs:6.1f} s")
        with np.load(Path(tmp) / "data/pools/cgan.npz") as pool:
            print(f"{size} px pool: {len(pool['classes'])} candidates, "
                  f"{pool['images'].nbytes / 2**20:,.0f} MiB of images")


def main() -> None:
    """Parse flags and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repro", action="store_true", help="also time the default dvc repro")
    parser.add_argument("--sizes", action="store_true",
                        help="also epochs at 28/64/128 px and stage memory at 128 px")
    parser.add_argument("--stage-memory", action="store_true",
                        help="also the stage memory at 128 px (the second half of --sizes)")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    torch.manual_seed(0)
    bench_filter(params)
    bench_scoring(params)
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if args.repro:
        bench_repro()
    if args.sizes:
        bench_sizes(params)
        bench_stage_memory()
    elif args.stage_memory:
        bench_stage_memory()


if __name__ == "__main__":
    main()
